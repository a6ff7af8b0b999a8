/*
 * pagework.h: one claimed page, from catalog task to worker line and from
 * worker result back to the catalog. Shared by the coordinator's scheduler
 * (scheduler.c) and the node agent (agent.c), which differ in what they do
 * around it (parking on a full volume, alerts; reconnecting) but not in
 * what a page is.
 */
#ifndef PM_PIPELINE_PAGEWORK_H
#define PM_PIPELINE_PAGEWORK_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "pipeline/base/proto.h"

/*
 * The worker's task line (pool task `id`) for claimed page `t`: the job's
 * profile (t->profile, as the claim brought it; else read from the job's
 * row with `cat`, unless it is NULL) from `cfg`, artifacts under
 * spool/job-<job>/pages/p<page> (the folder is made). NULL with why[size] set
 * when it cannot be made; *full is set when that was for want of space (in the
 * catalog or on the spool).
 */
char *pm__page_line(pm_catalog_t *cat, const pm_config_t *cfg,
                    const char *spool, const pm_task_t *t, long long id,
                    char *why, size_t size, int *full);

/* Sets r->review (freeing what it held) when page result `r` of job `job`
 * needs a person's look under the job's profile (pm_review_reason), else
 * NULL. 0 or PM_ENOMEM. */
int pm__page_review(pm_catalog_t *cat, const pm_config_t *cfg, int64_t job,
                    pm_page_result_t *r);

/* The same under profile `profile` (its name, as a claim brings it),
 * reading nothing from the catalog. */
int pm__page_review_as(const pm_config_t *cfg, const char *profile,
                       pm_page_result_t *r);

/* This machine's 1-minute load average for the workers rows; -1 when the
 * system does not say. */
double pm__host_load1(void);

/* 1 when workers rows `a` and `b` (`n` each) say the same: slot, pid,
 * state, job and page. The load average and the times are not compared:
 * they alone do not make a report due. */
int pm__worker_rows_equal(const pm_worker_info_t *a, const pm_worker_info_t *b,
                          size_t n);

/* Why a page's task failed, from its worker's reply `m` (NULL: none
 * came, `why` says why): the result's error, "unexpected reply" or
 * "failed"; *permanent when the worker said no attempt can succeed. Only
 * for a reply that is not a successful page result. */
const char *pm__page_failure(const pm_proto_msg_t *m, const char *why,
                             int *permanent);

/* The catalog metrics of page result `r` (borrowing its strings; the
 * orientation evidence is left NULL). */
void pm__page_metrics(const pm_page_result_t *r, pm_page_metrics_t *m);

/* What the catalog records of a page done: its metrics, whose strings
 * are static names, the result's review, or held here. */
typedef struct pm__page_done {
    pm_page_metrics_t m;
    char *evidence, *image, *text_pdf, *text; /* owned */
} pm__page_done_t;

/* Fills d from successful result `r`: its metrics, the orientation
 * evidence and the artifacts' paths as the catalog records them
 * (pm_volume_stored). m.review borrows r->review. 0 or PM_ENOMEM (d
 * cleaned up). */
int pm__page_done_init(const pm_config_t *cfg, const pm_page_result_t *r,
                       pm__page_done_t *d);
void pm__page_done_cleanup(pm__page_done_t *d);

/*
 * Records successful result `r` of attempt `attempt` of page task `task`
 * (job `job`): review flag, metrics and evidence, then pm_task_complete
 * (the page and its billable row, fenced). `r->review` is set as
 * pm__page_review leaves it (the caller frees it). Returns what
 * pm_task_complete said; *ms (may be NULL) is how long it took.
 */
int pm__page_complete(pm_catalog_t *cat, const pm_config_t *cfg, int64_t task,
                      int attempt, int64_t job, pm_page_result_t *r,
                      int64_t now, double *ms);

/* The log line of a page done (level warn when flagged for review). */
void pm__page_log_done(const char *module, int64_t job, int page, int attempt,
                       const pm_page_result_t *r);

#endif /* PM_PIPELINE_PAGEWORK_H */
