/*
 * scheduler_int.h: what scheduler.c (assembly, the pool's results),
 * sched_pages.c (page dispatch on the catalog's lane) and sched_publish.c
 * (publishing, on the thread pool) share.
 */
#ifndef PM_PIPELINE_SCHEDULER_INT_H
#define PM_PIPELINE_SCHEDULER_INT_H

#include <jansson.h>

#include "pipeline/pagework.h"
#include "pipeline/publish.h"
#include "pipeline/serve_int.h"

/* ---- a job's assembly (scheduler.c, sched_publish.c) ---- */

typedef struct pm__assembly assembly_t;

/* One job being assembled and published. */
struct pm__assembly {
    uv_work_t req; /* the publish step */
    pm__serve_t *s;
    int64_t job;
    char *workorder, *account, *profile;
    char *tmp, *final; /* .job-<id>.tmp and job-<id> */
    char *spool;       /* the pages for the worker, beside tmp (never in it:
                        * all of tmp is published): .job-<id>.pages.jsonl */
    pm_page_result_t *pages;
    size_t npages;
    pm_doc_result_t result;
    int attempts;
    int publishing; /* the publish (or recovery) step is on a pool thread */
    int err;        /* what it returned; PM_EEXIST: job-<id>/ is not ours */
    char uid[PM_CATALOG_ID_SIZE]; /* the job's */
    char sha[PM_SHA256_HEX];      /* its PDF's, once checked */
    int pdf_pages;
    char why[1024];         /* what went wrong, for the job's error */
    char *aside;            /* a replaced page's re-publication (replace.c):
                             * where the old folder goes; NULL for a new job */
    json_t *events;         /* the bag's metadata/events.json; NULL: no bag */
    char organization[128]; /* the bag's Source-Organization */
    pm_publish_ms_t times;  /* the publish step's archival outputs */
    assembly_t *next;
};

/* Its pool thread steps (sched_publish.c), a->err their result, a->why
 * what went wrong: publish the assembled a->tmp as a->final (or swap it
 * in, for a re-publication), or check the a->final already there. */
void pm__assembly_publish_work(uv_work_t *req);
void pm__assembly_verify_work(uv_work_t *req);
/* File `ext` of job folder `dir` (pm_job_output). */
char *pm__assembly_file(const assembly_t *a, const char *dir, const char *ext);
/* The job's error when its job-<id>/ folder is there and not its own. */
char *pm__assembly_not_ours(const assembly_t *a);

/* A task handed to the pool: a page, or an assembly when `a` is set. A
 * page whose worker finished stays one until the catalog answered about
 * its result (s->done_wait, s->done_run or s->failing). */
struct pm__inflight {
    long long id; /* pool task id */
    int64_t task; /* catalog page task */
    int attempt;  /* its fencing token */
    int64_t job;
    int page;
    char *src; /* the page's file, frame and digest, to hand it out again */
    int frame;
    char *sha256;
    char *profile; /* the job's profile (the claim's) */
    struct pm__assembly *a;
    pm__serve_t *s;
    /* a successful result waiting for the catalog */
    pm__page_done_t done;
    int have_done;
    int words, blank;
    double ms_total, ms_engine, ms_alto;
    char *review; /* the result's review reason, or NULL */
    pm__inflight_t *next;
};

/* scheduler.c */
pm__inflight_t *pm__sched_inflight_add(pm__serve_t *s);
/* Unlinks and returns the entry for pool task `id`, or NULL. */
pm__inflight_t *pm__sched_inflight_take(pm__serve_t *s, long long id);
void pm__sched_inflight_free(pm__inflight_t *e);
/* Settles finished jobs and starts assembling the ones ready for it, off
 * the loop (catwork.c); the `watch` jobs (nwatch of them) that it finds
 * failed are logged and alerted. Merged into a collection given before
 * that has not started. */
void pm__sched_collect(pm__serve_t *s, const int64_t *watch, size_t nwatch);
/* Whether job `job` has an assembly in flight here (its page spool in
 * use); `arg` is the pm__serve_t (pm_publish_sweep_spools' test). */
int pm__sched_assembling(void *arg, int64_t job);

/* The failed-job alert for `j`. */
void pm__sched_alert_job_failed(pm__serve_t *s, const pm_job_t *j);

/* sched_end.c: a job's end, recorded off the loop (catwork.c). The job
 * published as a->final (its document checked: a->sha, a->pdf_pages) is
 * recorded done; */
void pm__sched_end_done(pm__serve_t *s, const assembly_t *a);
/* job `job` is recorded failed with `why` (logged now). A record that
 * fails leaves the job assembling, for the next collection. */
void pm__sched_end_failed(pm__serve_t *s, int64_t job, const char *why);
/* Whether job `job`'s end is being recorded. */
int pm__sched_ending(const pm__serve_t *s, int64_t job);

/* sched_pages.c */

/* How long the coordinator waits for the catalog's answer to one
 * operation of its hot path: past it the session counts as lost. */
#define PM__HOT_MS PM_CATALOG_ASYNC_MS

/* A drain gives up on the catalog when an operation has waited this long
 * (ms): the results it has not recorded are done again once their leases
 * lapse. */
#define PM__DRAIN_CATALOG_MS 2000

/* Records what came of page `e` (taken from the in-flight list, its
 * worker done): its result goes to the catalog on the lane; `e` is kept
 * until the answer (or parked). */
void pm__sched_page_done(pm__serve_t *s, pm__inflight_t *e,
                         const pm_proto_msg_t *m, const char *why);
/* pm__sched_run without the page replacement's synchronous calls: for
 * a caller the catalog has not just answered (a worker's result). */
void pm__sched_claim(pm__serve_t *s);
/* Pages whose results wait for the catalog, and a claim under way (a
 * drain waits for its answer, so that what it took is said). */
size_t pm__sched_recording(const pm__serve_t *s);
/* Drops the lane (no callback comes any more) and the hot path's
 * session, logging the results that were not recorded. */
void pm__sched_pages_close(pm__serve_t *s);

#endif
