/*
 * scheduler.c: catalog -> workers -> catalog, for `pagemill serve`
 * (serve_int.h). The catalog is the queue; this file only feeds the pool
 * on demand and writes back what came of each task.
 *
 *   claim:    while a worker is idle, pm_task_claim (the catalog's fair
 *             order) with a lease of page_timeout + 60 s, and submit the
 *             page; artifacts go to spool/job-<id>/pages/p<page>.
 *   results:  ok -> pm_task_complete (page done + billable row in one
 *             transaction, fenced by the attempt); failed or lost ->
 *             pm_task_fail, which requeues until [pagemill] max_attempts.
 *   assembly: jobs whose pages are all done are assembled on a worker
 *             (urgent) into output/<account>/<work order>/.job-<id>.tmp/;
 *             the PDF is checked (pages, SHA-256), the report names the
 *             job's uid and catalog, and one rename that never replaces
 *             publishes job-<id>/; only then is the job finished. A
 *             job-<id>/ already there is accepted only when its report
 *             names this job and its PDF matches (published before a
 *             crash); anything else fails the job and is left alone.
 *
 * workers:  on each tick, the pool's workers (state, job and page) go to
 *           the catalog's workers table for `pagemill status`, when they
 *           changed or every PM__WORKERS_REFRESH_MS; cleared at a clean
 *           exit.
 *
 * full volume: a page whose artifacts, or an assembly or publish whose
 *           outputs, could not be written for want of space, or a catalog
 *           that is full, costs no attempt and fails no job (space.c): the
 *           page is parked (still leased, its lease renewed, the same
 *           attempt) and handed out again once there is room; the
 *           assembly is dropped and redone; claiming waits meanwhile.
 *
 * A page task in flight is remembered by its pool task id with the
 * catalog task id and attempt (the fencing token), so a late result of an
 * attempt that was re-claimed meanwhile is dropped by the catalog.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "pipeline/bag_events.h"
#include "pipeline/base/pm.h"
#include "pipeline/pagework.h"
#include "pipeline/publish.h"
#include "pipeline/report.h"
#include "pipeline/serve_int.h"

typedef struct pm__assembly assembly_t;

/* A task handed to the pool: a page, or an assembly when `a` is set. */
struct pm__inflight {
    long long id; /* pool task id */
    int64_t task; /* catalog page task */
    int attempt;  /* its fencing token */
    int64_t job;
    int page;
    char *src; /* the page's file, frame and digest, to hand it out again */
    int frame;
    char *sha256;
    assembly_t *a;
    pm__inflight_t *next;
};

/* One job being assembled and published. */
struct pm__assembly {
    uv_work_t req; /* the publish step */
    pm__serve_t *s;
    int64_t job;
    char *workorder, *account, *profile;
    char *tmp, *final; /* .job-<id>.tmp and job-<id> */
    pm_page_result_t *pages;
    size_t npages;
    pm_doc_result_t result;
    int attempts;
    int publishing; /* the publish (or recovery) step is on a pool thread */
    int err;        /* what it returned; PM_EEXIST: job-<id>/ is not ours */
    char uid[PM_CATALOG_ID_SIZE]; /* the job's */
    char sha[PM_SHA256_HEX_SIZE]; /* its PDF's, once checked */
    int pdf_pages;
    char why[1024];         /* what went wrong, for the job's error */
    char *aside;            /* a replaced page's re-publication (replace.c):
                             * where the old folder goes; NULL for a new job */
    json_t *events;         /* the bag's metadata/events.json; NULL: no bag */
    char organization[128]; /* the bag's Source-Organization */
    assembly_t *next;
};

static void collect(pm__serve_t *s);

/* `s` as printable text for a log line, in buf[PM_ESCAPED_MAX]. */
#define ESC(str, buf) pm_escape_name((str), (buf), sizeof(buf))

/* ---- bookkeeping ---- */

static pm__inflight_t *inflight_add(pm__serve_t *s)
{
    pm__inflight_t *e = pm_calloc(1, sizeof(*e));

    if (e != NULL) {
        e->id = ++s->next_task;
        e->next = s->inflight;
        s->inflight = e;
    }
    return e;
}

/* Unlinks and returns the entry for pool task `id`, or NULL. */
static pm__inflight_t *inflight_take(pm__serve_t *s, long long id)
{
    for (pm__inflight_t **p = &s->inflight; *p != NULL; p = &(*p)->next) {
        if ((*p)->id == id) {
            pm__inflight_t *e = *p;
            *p = e->next;
            return e;
        }
    }
    return NULL;
}

static void inflight_free(pm__inflight_t *e)
{
    if (e != NULL) {
        pm_free(e->src);
        pm_free(e->sha256);
    }
    pm_free(e);
}

static assembly_t *assembly_find(const pm__serve_t *s, int64_t job)
{
    for (assembly_t *a = s->assemblies; a != NULL; a = a->next)
        if (a->job == job)
            return a;
    return NULL;
}

static void assembly_free(pm__serve_t *s, assembly_t *a)
{
    for (assembly_t **p = &s->assemblies; *p != NULL; p = &(*p)->next) {
        if (*p == a) {
            *p = a->next;
            break;
        }
    }
    pm_page_result_list_free(a->pages, a->npages);
    pm_doc_result_cleanup(&a->result);
    pm_free(a->workorder);
    pm_free(a->account);
    pm_free(a->profile);
    pm_free(a->tmp);
    pm_free(a->final);
    pm_free(a->aside);
    json_decref(a->events);
    pm_free(a);
}

size_t pm__sched_busy(const pm__serve_t *s)
{
    size_t n = 0;

    for (const pm__inflight_t *e = s->inflight; e != NULL; e = e->next)
        n++;
    for (const assembly_t *a = s->assemblies; a != NULL; a = a->next)
        n += (size_t)a->publishing;
    return n + pm__replace_busy(s);
}

/* ---- pages ---- */

void pm__sched_metrics(const pm_page_result_t *r, pm_page_metrics_t *m)
{
    pm__page_metrics(r, m);
}

int pm__sched_review(pm__serve_t *s, int64_t job, pm_page_result_t *r)
{
    return pm__page_review(s->cat, s->cfg, job, r);
}

const double pm__txn_bucket_ms[PM__TXN_BUCKETS] = {0.5, 1,  2,   5,   10,
                                                   25,  50, 100, 250, 1000};

void pm__txn_record(pm__txn_hist_t *h, double ms)
{
    for (int b = PM__TXN_BUCKETS - 1; b >= 0 && ms <= pm__txn_bucket_ms[b]; b--)
        h->le[b]++;
    h->count++;
    h->sum_ms += ms;
}

/* Records a failed attempt of a page; the catalog requeues or fails it
 * (at once when `permanent`: the file itself is at fault, and another
 * attempt would fail the same way). Returns what the catalog said
 * (-ENOSPC: it is full, nothing recorded). */
static int fail_page(pm__serve_t *s, int64_t task, int attempt, int64_t job,
                     int page, const char *why, int permanent)
{
    int err = pm_task_fail(s->cat, task, attempt, why,
                           permanent ? 1 : s->max_attempts, pm__serve_now());
    char esc[PM_ESCAPED_MAX];

    if (permanent)
        pm_log(PM_LOG_WARN, "sched",
               "job=%lld page=%d failed (not retried: the file is at "
               "fault): %s",
               (long long)job, page, ESC(why, esc));
    else
        pm_log(PM_LOG_WARN, "sched",
               "job=%lld page=%d attempt %d of %d failed: %s", (long long)job,
               page, attempt, s->max_attempts, ESC(why, esc));
    if (pm__space_err(err))
        pm__space_lost(s, s->catalog_path);
    else if (err == PM_ESTALE)
        pm_log(PM_LOG_WARN, "sched", "job=%lld page=%d: dropped: %s",
               (long long)job, page, pm_catalog_errmsg(s->cat));
    else if (err != 0)
        pm_log(PM_LOG_ERROR, "sched", "job=%lld page=%d: catalog: %s",
               (long long)job, page, pm_catalog_errmsg(s->cat));
    return err;
}

/* Keeps page `e` (its lease and attempt) until there is room again. */
static void park(pm__serve_t *s, pm__inflight_t *e, const char *path)
{
    pm_log(PM_LOG_INFO, "sched",
           "job=%lld page=%d attempt %d: waiting for space (not counted)",
           (long long)e->job, e->page, e->attempt);
    e->a = NULL;
    e->next = s->parked;
    s->parked = e;
    pm__space_lost(s, path);
}

/* The page task line for claimed task `t`, or NULL with why[size] set;
 * *full is set when the page folder could not be made for want of
 * space. */
static char *page_line(pm__serve_t *s, const pm_task_t *t, long long id,
                       char *why, size_t size, int *full)
{
    return pm__page_line(s->cat, s->cfg, s->spool, t, id, why, size, full);
}

/* Hands claimed task `t` to the pool (or fails the attempt, or parks it
 * when the spool is full). */
static void submit_page(pm__serve_t *s, const pm_task_t *t)
{
    pm__inflight_t *e = inflight_add(s);
    char why[1024] = "out of memory";
    int full = 0;
    char *line = e ? page_line(s, t, e->id, why, sizeof(why), &full) : NULL;

    if (e != NULL) {
        e->task = t->id;
        e->attempt = t->attempts;
        e->job = t->job;
        e->page = t->page;
        e->frame = t->frame;
        e->src = pm_strdup(t->src);
        e->sha256 = t->sha256 ? pm_strdup(t->sha256) : NULL;
    }
    if (line == NULL && full && e != NULL && e->src != NULL &&
        (t->sha256 == NULL || e->sha256 != NULL)) {
        park(s, inflight_take(s, e->id), s->spool);
        return;
    }
    if (line == NULL || e->src == NULL ||
        pm_pool_submit(s->pool, e->id, line, 0) != 0) {
        if (e != NULL)
            inflight_free(inflight_take(s, e->id));
        fail_page(s, t->id, t->attempts, t->job, t->page, why, 0);
        return;
    }
    pm_log(PM_LOG_DEBUG, "sched", "job=%lld page=%d attempt %d: submitted",
           (long long)t->job, t->page, t->attempts);
}

/* Renews the leases of the parked pages (a renewal refused means the
 * page is no longer ours: forgotten). With `all`, also hands out again
 * as many as there are idle workers. */
static void unpark(pm__serve_t *s, int all)
{
    pm__inflight_t **p = &s->parked, *e;
    int64_t now = pm__serve_now();
    pm_task_t t;
    int err;

    if (!all && now - s->parked_renewed < PM__PARK_RENEW_S)
        return;
    s->parked_renewed = now;
    while ((e = *p) != NULL) {
        err = pm_task_renew(s->cat, e->task, e->attempt,
                            s->page_timeout + PM__LEASE_SLACK, now);
        if (pm__space_err(err))
            return; /* the catalog is full: try again later */
        if (err == 0 && !all) {
            p = &e->next; /* renewed, and it stays parked */
            continue;
        }
        if (err == 0 && pm_pool_idle(s->pool) == 0)
            return;
        *p = e->next;
        if (err != 0) {
            pm_log(PM_LOG_WARN, "sched", "job=%lld page=%d: dropped: %s",
                   (long long)e->job, e->page, pm_catalog_errmsg(s->cat));
        } else {
            memset(&t, 0, sizeof(t));
            t.id = e->task;
            t.job = e->job;
            t.page = e->page;
            t.src = e->src;
            t.frame = e->frame;
            t.sha256 = e->sha256;
            t.attempts = e->attempt;
            submit_page(s, &t);
        }
        inflight_free(e);
    }
}

void pm__sched_run(pm__serve_t *s)
{
    pm_task_t t;
    int err;

    if (s->draining || s->pool == NULL || pm__space_paused(s))
        return;
    unpark(s, 1);
    pm__replace_run(s);
    while (!s->agents_only && s->parked == NULL && !s->space.full &&
           pm_pool_idle(s->pool) > 0) {
        uint64_t t0 = uv_hrtime();

        err = pm_task_claim(s->cat, s->owner, s->page_timeout + PM__LEASE_SLACK,
                            pm__serve_now(), &t);
        pm__txn_record(&s->txn[PM__TXN_CLAIM],
                       (double)(uv_hrtime() - t0) / 1e6);
        if (err == PM_ENOENT)
            break;
        if (pm__space_err(err)) {
            pm__space_lost(s, s->catalog_path);
            break;
        }
        if (err != 0) {
            pm_log(PM_LOG_ERROR, "sched", "claim: %s",
                   pm_catalog_errmsg(s->cat));
            break;
        }
        submit_page(s, &t);
        pm_task_cleanup(&t);
    }
}

/* Records the outcome of page `e`; 1 when it was parked (the entry is
 * kept), else 0. */
static int page_done(pm__serve_t *s, pm__inflight_t *e, const pm_proto_msg_t *m,
                     const char *why)
{
    pm_page_result_t rr;
    double ms = 0;
    int err;

    if (m != NULL && m->type == PM_MSG_PAGE_RESULT && !m->result.ok &&
        (pm__space_text(m->result.error) || pm__space_low(s->spool))) {
        /* Its artifacts did not fit: the spool's fault, not the page's. */
        char esc[PM_ESCAPED_MAX];

        pm_log(PM_LOG_DEBUG, "sched", "job=%lld page=%d: %s", (long long)e->job,
               e->page, ESC(m->result.error ? m->result.error : "?", esc));
        park(s, e, s->spool);
        return 1;
    }
    if (m == NULL || m->type != PM_MSG_PAGE_RESULT || !m->result.ok) {
        err = fail_page(s, e->task, e->attempt, e->job, e->page,
                        m == NULL                       ? why
                        : m->type != PM_MSG_PAGE_RESULT ? "unexpected reply"
                        : m->result.error               ? m->result.error
                                                        : "failed",
                        m != NULL && m->type == PM_MSG_PAGE_RESULT &&
                            m->result.permanent);
        if (pm__space_err(err)) {
            park(s, e, s->catalog_path);
            return 1;
        }
        return 0;
    }
    rr = m->result; /* borrowed, but for its review reason */
    rr.review = NULL;
    err = pm__page_complete(s->cat, s->cfg, e->task, e->attempt, e->job, &rr,
                            pm__serve_now(), &ms);
    pm__txn_record(&s->txn[PM__TXN_COMPLETE], ms);
    if (pm__space_err(err)) {
        pm_free(rr.review);
        park(s, e, s->catalog_path); /* done again once it has room */
        return 1;
    } else if (err == PM_ESTALE)
        pm_log(PM_LOG_WARN, "sched", "job=%lld page=%d: result dropped: %s",
               (long long)e->job, e->page, pm_catalog_errmsg(s->cat));
    else if (err != 0)
        pm_log(PM_LOG_ERROR, "sched", "job=%lld page=%d: catalog: %s",
               (long long)e->job, e->page, pm_catalog_errmsg(s->cat));
    else
        pm__alerts_progress(s);
    if (err == 0)
        pm__page_log_done("sched", e->job, e->page, e->attempt, &rr);
    pm_free(rr.review);
    return 0;
}

/* The failed-job alert for `j`. */
static void alert_job_failed(pm__serve_t *s, const pm_job_t *j)
{
    char subject[32];

    snprintf(subject, sizeof(subject), "job %lld", (long long)j->id);
    pm__alert(s, "job_failed", subject, j->id,
              "work order %s, account %s, batch %s: %s",
              j->workorder ? j->workorder : "?", j->account ? j->account : "?",
              j->batch ? j->batch : "?", j->error ? j->error : "?");
}

/* Logs a job that the last collect failed. */
static void note_job_failed(pm__serve_t *s, int64_t id)
{
    pm_job_t j = {0};
    char esc[PM_ESCAPED_MAX];

    if (pm_job_get(s->cat, id, &j) == 0 && j.state == PM_JOB_FAILED) {
        pm_log(PM_LOG_ERROR, "sched", "job=%lld failed: %s", (long long)id,
               ESC(j.error ? j.error : "?", esc));
        alert_job_failed(s, &j);
    }
    pm_job_cleanup(&j);
}

/* ---- assembly ---- */

/* A path component made safe: no '/', no leading '.', never empty. */
static char *safe_component(const char *v)
{
    char *c = pm_strdup(v != NULL && *v ? v : "_");

    for (char *p = c; p != NULL && *p; p++)
        if (*p == '/' || (p == c && *p == '.'))
            *p = '_';
    return c;
}

/* The job's account: its own, else its work order's (a held job for a
 * work order created later), else "_unassigned". */
static char *job_account(pm__serve_t *s, const pm_job_t *j)
{
    pm_workorder_t wo = {0};
    char *acct;

    if (j->account != NULL)
        return pm_strdup(j->account);
    acct = pm_workorder_get(s->cat, j->workorder, &wo) == 0
               ? pm_strdup(wo.account)
               : pm_strdup("_unassigned");
    pm_workorder_cleanup(&wo);
    return acct;
}

/* Output paths of job `j`: output/<account>/<work order>/... */
static int plan_paths(pm__serve_t *s, const pm_job_t *j, assembly_t *a)
{
    char *acct = safe_component(a->account), *wo = safe_component(j->workorder);

    if (acct != NULL && wo != NULL) {
        a->tmp = pm_asprintf("%s/%s/%s/.job-%lld.tmp", s->output, acct, wo,
                             (long long)j->id);
        a->final = pm_asprintf("%s/%s/%s/job-%lld", s->output, acct, wo,
                               (long long)j->id);
    }
    pm_free(acct);
    pm_free(wo);
    return a->tmp != NULL && a->final != NULL ? 0 : PM_ENOMEM;
}

/* Page result `r` (zeroed) from catalog task `t`; 0 or PM_ENOMEM. */
static int result_from_task(pm_page_result_t *r, const pm_task_t *t)
{
    r->page = t->page;
    r->frame = t->frame;
    r->ok = t->state == PM_TASK_DONE;
    r->width = t->m.width;
    r->height = t->m.height;
    r->xres = t->m.xres;
    r->yres = t->m.yres;
    r->rotation = t->m.rotation;
    r->orient_osd = t->m.orient_osd;
    r->dpi_fallback = t->m.dpi_fallback;
    r->orient_confidence = t->m.orient_confidence;
    r->skew = t->m.skew;
    r->skew_confidence = t->m.skew_confidence;
    r->blank = t->m.blank;
    r->ink_ratio = t->m.ink_ratio;
    r->words = t->m.words;
    r->confidence = t->m.confidence;
    r->bytes = t->m.bytes;
    r->ms.decode = t->m.ms_decode;
    r->ms.orient = t->m.ms_orient;
    r->ms.deskew = t->m.ms_deskew;
    r->ms.blank = t->m.ms_blank;
    r->ms.ocr = t->m.ms_ocr;
    r->ms.encode = t->m.ms_encode;
    r->ms.total = t->m.ms_total;
    r->kind = t->kind && strcmp(t->kind, "color") == 0  ? PM_KIND_COLOR
              : t->kind && strcmp(t->kind, "gray") == 0 ? PM_KIND_GRAY
                                                        : PM_KIND_BITONAL;
    r->codec = pm_img_codec_parse(t->codec) >= 0
                   ? (pm_img_codec_t)pm_img_codec_parse(t->codec)
                   : PM_IMG_G4;
    r->src = pm_strdup(t->src);
    r->error = t->error ? pm_strdup(t->error) : NULL;
    r->image = t->image ? pm_strdup(t->image) : NULL;
    r->text_pdf = t->text_pdf ? pm_strdup(t->text_pdf) : NULL;
    r->text = t->text ? pm_strdup(t->text) : NULL;
    r->review = t->review ? pm_strdup(t->review) : NULL;
    pm_orient_evidence_parse(r, t->orient_method, t->orient_evidence);
    if (r->src == NULL || (t->error && !r->error) || (t->image && !r->image) ||
        (t->text_pdf && !r->text_pdf) || (t->text && !r->text) ||
        (t->review && !r->review))
        return PM_ENOMEM;
    return 0;
}

/* The pages of a job (all done) as page results, for the assemble task
 * and the report. */
static int load_pages(pm__serve_t *s, assembly_t *a)
{
    pm_task_t *v = NULL;
    size_t n = 0;
    int err = pm_task_list(s->cat, a->job, &v, &n);

    if (err == 0 && (a->pages = pm_calloc(n + 1, sizeof(*a->pages))) == NULL)
        err = PM_ENOMEM;
    for (size_t i = 0; err == 0 && i < n; i++) {
        a->npages++;
        err = result_from_task(&a->pages[i], &v[i]);
    }
    pm_task_list_free(v, n);
    return err;
}

/* The task line carries its pool task id: rewritten for each submit. */
static int submit_assembly(pm__serve_t *s, assembly_t *a)
{
    pm__inflight_t *e = inflight_add(s);
    const pm_profile_t *p = pm_config_profile(s->cfg, a->profile);
    pm_doc_task_t d = {0};
    char *line;

    if (e == NULL || p == NULL)
        return PM_ENOMEM;
    e->a = a;
    e->job = a->job;
    d.title = pm_asprintf("%s job %lld", a->workorder, (long long)a->job);
    d.pdf = pm_job_output(a->tmp, a->job, "pdf");
    d.txt = pm_job_output(a->tmp, a->job, "txt");
    d.icc_profile = s->cfg->icc_profile;
    d.tif = p->tiff_master != PM_TIFF_OFF ? pm_job_output(a->tmp, a->job, "tif")
                                          : NULL;
    line = d.title && d.pdf && d.txt
               ? pm_proto_assemble_task(e->id, &d, a->pages, a->npages, p)
               : NULL;
    pm_free(d.title);
    pm_free(d.pdf);
    pm_free(d.txt);
    pm_free(d.tif);
    if (pm_pool_submit(s->pool, e->id, line, 1) != 0) {
        inflight_free(inflight_take(s, e->id));
        return PM_ENOMEM;
    }
    return 0;
}

static void fail_job(pm__serve_t *s, int64_t id, const char *why)
{
    char esc[PM_ESCAPED_MAX];
    pm_job_t j = {0};
    int err;

    pm_log(PM_LOG_ERROR, "sched", "job=%lld failed: %s", (long long)id,
           ESC(why, esc));
    if ((err = pm_job_fail(s->cat, id, why, pm__serve_now())) != 0)
        pm_log(PM_LOG_ERROR, "sched", "job=%lld: catalog: %s", (long long)id,
               pm_catalog_errmsg(s->cat));
    else if (pm_job_get(s->cat, id, &j) == 0)
        alert_job_failed(s, &j);
    pm_job_cleanup(&j);
    if (pm__space_err(err))
        pm__space_lost(s, s->catalog_path);
}

/* An assembly or publish that failed: the job fails, or for a replaced
 * page's re-publication the replacement does (the job stays done). */
static void assembly_fail(pm__serve_t *s, const assembly_t *a, int err,
                          const char *why)
{
    if (a->aside != NULL)
        pm__replace_published(s, err, why, NULL, 0);
    else
        fail_job(s, a->job, why);
}

static void finish_job(pm__serve_t *s, const assembly_t *a)
{
    int64_t billable = 0;
    char esc[PM_ESCAPED_MAX];
    int err = pm_job_finish_doc(s->cat, a->job, a->final, a->sha, a->pdf_pages,
                                pm__serve_now());

    if (err != 0) {
        /* Still assembling: a later round finds the folder, checks it and
         * records the job done. */
        pm_log(PM_LOG_ERROR, "sched", "job=%lld: published to %s, but: %s",
               (long long)a->job, ESC(a->final, esc),
               pm_catalog_errmsg(s->cat));
        if (pm__space_err(err))
            pm__space_lost(s, s->catalog_path);
        return;
    }
    pm_billable_count(s->cat, a->job, 0, &billable);
    pm_log(PM_LOG_INFO, "sched",
           "job=%lld done: %zu pages, %lld billable, published to %s "
           "(PDF SHA-256 %s)",
           (long long)a->job, a->npages, (long long)billable,
           ESC(a->final, esc), a->sha);
}

/* Assembly of a job could not be written for want of space at `path`:
 * nothing is counted and the job stays assembling, to be assembled again
 * once there is room. */
static void postpone(pm__serve_t *s, assembly_t *a, const char *path,
                     const char *why)
{
    char esc[PM_ESCAPED_MAX];

    pm_log(PM_LOG_INFO, "sched", "job=%lld: assembly waits for space (%s)",
           (long long)a->job, ESC(why, esc));
    pm_rmtree(a->tmp);
    if (a->aside != NULL)
        pm__replace_published(s, -ENOSPC, why, NULL, 0);
    pm__space_lost(s, path);
    assembly_free(s, a);
}

/* Whether the job's folder is a bag (its profile's `bag`), and its
 * history for metadata/events.json, read from the catalog here on the
 * loop's thread: the publish step only writes it. */
static int plan_bag(pm__serve_t *s, assembly_t *a)
{
    const pm_profile_t *p = pm_config_profile(s->cfg, a->profile);

    if (p != NULL && !p->bag)
        return 0;
    snprintf(a->organization, sizeof(a->organization), "%s",
             p != NULL ? p->organization : "pagemill");
    a->events = pm_bag_events(s->cat, a->job, pm__serve_now());
    return a->events != NULL ? 0 : PM_ECATALOG;
}

/* Reads job `id` into a new assembly (not yet listed). */
static assembly_t *assembly_new(pm__serve_t *s, int64_t id, const char **why)
{
    assembly_t *a = pm_calloc(1, sizeof(*a));
    pm_job_t j = {0};
    int err = a == NULL ? PM_ENOMEM : pm_job_get(s->cat, id, &j);

    *why = "out of memory";
    if (a != NULL) {
        a->s = s;
        a->job = id;
        a->req.data = a;
    }
    if (err == 0) {
        a->workorder = pm_strdup(j.workorder);
        a->profile = pm_strdup(j.profile ? j.profile : "default");
        a->account = job_account(s, &j);
        err = a->workorder && a->profile && a->account ? 0 : PM_ENOMEM;
    }
    if (err == 0)
        err = pm_job_uid(s->cat, id, a->uid);
    if (err == 0)
        err = plan_paths(s, &j, a);
    if (err == 0)
        err = load_pages(s, a);
    if (err == 0)
        err = plan_bag(s, a);
    if (err == PM_ECATALOG || err == PM_ENOENT)
        *why = pm_catalog_errmsg(s->cat);
    pm_job_cleanup(&j);
    if (err != 0 && a != NULL) {
        assembly_free(s, a); /* not listed yet: only freed */
        return NULL;
    }
    return a;
}

static void verify_work(uv_work_t *req);
static void publish_done(uv_work_t *req, int status);

/* A new, empty .job-<id>.tmp: what a crash left is removed, then the
 * folder is made with an exclusive mkdir, so a folder or link that
 * appears in between is never used. 0 or -errno with why[size]. */
static int make_tmp(assembly_t *a, char *why, size_t size)
{
    char *parent = pm_strdup(a->tmp), *slash;
    int err = parent == NULL ? PM_ENOMEM : 0;

    if (err == 0 && (slash = strrchr(parent, '/')) != NULL) {
        *slash = '\0';
        err = pm_mkdir_p(parent);
        if (err != 0)
            snprintf(why, size, "cannot create the output folder %s: %s",
                     parent, pm_strerror(err));
    }
    pm_free(parent);
    if (err != 0)
        return err;
    err = pm_rmtree(a->tmp); /* a crash left it half written */
    if (err != 0 && err != PM_ENOENT) {
        snprintf(why, size, "cannot remove the old temp folder %s: %s", a->tmp,
                 pm_strerror(err));
        return err;
    }
    if (mkdir(a->tmp, pm_dir_mode) != 0) {
        err = -errno;
        snprintf(why, size, "cannot create the temp folder %s: %s%s", a->tmp,
                 pm_strerror(err),
                 err == PM_EEXIST ? " (it appeared again after it was "
                                    "removed: something else writes there)"
                                  : "");
        return err;
    }
    return pm_job_output_dir(a->tmp, why, size);
}

static void start_assembly(pm__serve_t *s, int64_t id)
{
    const char *why;
    assembly_t *a = assembly_new(s, id, &why);
    char why_buf[1024];
    struct stat st;
    int err;

    if (a == NULL) {
        fail_job(s, id, why);
        return;
    }
    a->next = s->assemblies;
    s->assemblies = a;
    if (lstat(a->final, &st) == 0) {
        /* This job's, published before a crash and not yet recorded, or
         * another document: checked on a pool thread, never replaced. */
        a->publishing =
            uv_queue_work(s->loop, &a->req, verify_work, publish_done) == 0;
        if (!a->publishing) {
            fail_job(s, id, "cannot queue the check of its output folder");
            assembly_free(s, a);
        }
        return;
    }
    err = make_tmp(a, why_buf, sizeof(why_buf));
    if (pm__space_err(err)) {
        postpone(s, a, a->tmp, why_buf);
        return;
    }
    if (err != 0) {
        fail_job(s, id, why_buf);
        assembly_free(s, a);
        return;
    }
    if (submit_assembly(s, a) != 0) {
        fail_job(s, id, "the job's profile is not in the configuration");
        pm_rmtree(a->tmp);
        assembly_free(s, a);
        return;
    }
    pm_log(PM_LOG_INFO, "sched", "job=%lld assembling %zu pages into %s",
           (long long)id, a->npages, ESC(a->tmp, why_buf));
}

int pm__sched_reassemble(pm__serve_t *s, int64_t job,
                         const pm_page_result_t *page, const char *aside,
                         char *why, size_t size)
{
    const char *what;
    assembly_t *a;
    int err;

    if (assembly_find(s, job) != NULL) {
        snprintf(why, size, "the job is being assembled already");
        return PM_EINVAL;
    }
    a = assembly_new(s, job, &what);
    if (a == NULL) {
        snprintf(why, size, "%s", what);
        return PM_ECATALOG;
    }
    pm_free(a->tmp); /* never the one a new job's assembly uses */
    a->tmp = pm_asprintf("%s.replace.tmp", a->final);
    a->aside = pm_strdup(aside);
    err =
        a->tmp && a->aside && page->page >= 1 && (size_t)page->page <= a->npages
            ? 0
            : PM_ENOMEM;
    if (err == 0) {
        pm_page_result_cleanup(&a->pages[page->page - 1]);
        err = pm_page_result_copy(&a->pages[page->page - 1], page);
    }
    if (err == 0)
        err = make_tmp(a, why, size);
    else
        snprintf(why, size, "out of memory");
    if (err == 0 && submit_assembly(s, a) != 0) {
        snprintf(why, size, "the job's profile is not in the configuration");
        pm_rmtree(a->tmp);
        err = PM_EINVAL;
    }
    if (err != 0) {
        assembly_free(s, a); /* not listed: only freed */
        return err;
    }
    a->next = s->assemblies;
    s->assemblies = a;
    pm_log(PM_LOG_INFO, "sched",
           "job=%lld assembling again with page %d "
           "replaced",
           (long long)job, page->page);
    return 0;
}

/* ---- publishing: report, fsync, one rename ---- */

static json_t *job_report(const assembly_t *a)
{
    char *name = pm_asprintf("job-%lld", (long long)a->job);
    char *pdf = pm_job_output(a->final, a->job, "pdf");
    char *txt = pm_job_output(a->final, a->job, "txt");
    pm_report_t r = {.document = name,
                     .profile = a->profile,
                     .written = 1,
                     .pdf = pdf,
                     .txt = txt,
                     .pages = a->pages,
                     .npages = a->npages,
                     .result = &a->result};
    json_t *doc = name && pdf && txt ? pm_report_json(&r) : NULL;

    if (doc != NULL) {
        json_object_set_new(doc, "job", json_integer(a->job));
        json_object_set_new(doc, "work_order", json_string(a->workorder));
        json_object_set_new(doc, "account", json_string(a->account));
    }
    pm_free(name);
    pm_free(pdf);
    pm_free(txt);
    return doc;
}

/* The report of job folder `dir`, or its PDF. */
static char *job_file(const assembly_t *a, const char *dir, const char *ext)
{
    return pm_job_output(dir, a->job, ext);
}

/* Checks the assembled PDF: pages as the job has, and its SHA-256. */
static int check_pdf(assembly_t *a, const char *pdf)
{
    int err =
        pm_pdf_inspect(pdf, a->sha, &a->pdf_pages, a->why, sizeof(a->why));

    if (err == 0 && a->pdf_pages != (int)a->npages) {
        snprintf(a->why, sizeof(a->why), "%s has %d pages, the job %zu", pdf,
                 a->pdf_pages, a->npages);
        err = PM_EPDF;
    }
    return err;
}

/* The report, with whose document this is, and the bag around the
 * outputs when the profile wants one. */
static int write_outputs(pm__serve_t *s, assembly_t *a)
{
    pm_job_outputs_t o = {.dir = a->tmp,
                          .pdf_sha256 = a->sha,
                          .events = a->events,
                          .info = {.organization = a->organization,
                                   .account = a->account,
                                   .work_order = a->workorder,
                                   .job = a->job,
                                   .pages = (int)a->npages},
                          .pages = a->pages,
                          .npages = a->npages};
    pm_doc_ident_t id;
    json_t *doc = job_report(a);

    memset(&id, 0, sizeof(id));
    memcpy(id.job_uid, a->uid, sizeof(id.job_uid));
    memcpy(id.catalog_id, s->catalog_id, sizeof(id.catalog_id));
    memcpy(id.pdf_sha256, a->sha, sizeof(id.pdf_sha256));
    id.pdf_pages = a->pdf_pages;
    if (doc != NULL && pm_doc_ident_add(doc, &id) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    o.report = doc;
    return pm_publish_outputs(&o, a->why, sizeof(a->why));
}

/* Check, report, fsync, one rename that never replaces, fsync. */
static void publish_work(uv_work_t *req)
{
    assembly_t *a = req->data;
    char *pdf = job_file(a, a->tmp, "pdf");
    int err = pdf ? check_pdf(a, pdf) : PM_ENOMEM;

    if (err == 0)
        err = write_outputs(a->s, a);
    if (err == 0)
        err = pm_fsync_dir(a->tmp);
    if (err == 0 && a->aside != NULL) {
        err = pm_publish_swap(a->tmp, a->final, a->aside);
        if (err != 0)
            snprintf(a->why, sizeof(a->why),
                     "cannot swap it in for %s (old outputs to %s): %s",
                     a->final, a->aside, pm_strerror(err));
    } else if (err == 0) {
        err = pm_publish_rename(a->tmp, a->final);
        if (err == PM_EEXIST)
            snprintf(a->why, sizeof(a->why),
                     "it appeared while the job was assembled");
    }
    if (err == 0)
        err = pm_fsync_parent(a->final);
    pm_free(pdf);
    a->err = err;
}

/* Whether the existing job-<id>/ is this job's, whole: its report names
 * the job's uid, and its PDF has the SHA-256 and pages the report (and
 * the job) say. Sets a->sha and a->pdf_pages when it is. */
static int verify_folder(assembly_t *a, const char *report, const char *pdf)
{
    pm_doc_ident_t id;
    int err = pm_doc_ident_read(report, &id);

    if (err != 0) {
        snprintf(a->why, sizeof(a->why),
                 "it has no report naming its job (%s: %s)", report,
                 err == PM_EINVAL ? "no job_uid, catalog_id and PDF checksum"
                                  : pm_strerror(err));
        return PM_EEXIST;
    }
    if (strcmp(id.job_uid, a->uid) != 0) {
        snprintf(a->why, sizeof(a->why),
                 "it holds job uid %s of catalog %s; this job is uid %s of "
                 "catalog %s",
                 id.job_uid, id.catalog_id, a->uid, a->s->catalog_id);
        return PM_EEXIST;
    }
    if (pm_pdf_inspect(pdf, a->sha, &a->pdf_pages, a->why, sizeof(a->why)))
        return PM_EEXIST;
    if (strcmp(a->sha, id.pdf_sha256) != 0 || a->pdf_pages != id.pdf_pages ||
        a->pdf_pages != (int)a->npages) {
        snprintf(a->why, sizeof(a->why),
                 "its PDF (SHA-256 %s, %d pages) is not the one its report "
                 "names (%s, %d pages) for this job's %zu pages",
                 a->sha, a->pdf_pages, id.pdf_sha256, id.pdf_pages, a->npages);
        return PM_EEXIST;
    }
    return 0;
}

/* File `ext` of the published folder: in data/, or beside data/ in a
 * folder published before bags (docs/archival.md). */
static char *found_file(const assembly_t *a, const char *ext)
{
    char *path = job_file(a, a->final, ext), *old;

    if (path == NULL || access(path, F_OK) == 0)
        return path;
    old = pm_asprintf("%s/job-%lld.%s", a->final, (long long)a->job, ext);
    if (old != NULL && access(old, F_OK) == 0) {
        pm_free(path);
        return old;
    }
    pm_free(old);
    return path;
}

static void verify_work(uv_work_t *req)
{
    assembly_t *a = req->data;
    char *pdf = found_file(a, "pdf");
    char *report = found_file(a, "pages.json");

    a->err = pdf && report ? verify_folder(a, report, pdf) : PM_ENOMEM;
    pm_free(pdf);
    pm_free(report);
}

/* The job's error when its job-<id>/ folder is there and not its own. */
static char *not_ours(const assembly_t *a)
{
    return pm_asprintf("output folder %s already exists and is not this "
                       "job's output (%s); it was left as it is. Move it "
                       "away (it may come from a catalog that was replaced "
                       "or restored), then run `pagemill job retry %lld`",
                       a->final, a->why, (long long)a->job);
}

/* The end of a replaced page's re-publication (replace.c records it). */
static void republished(pm__serve_t *s, assembly_t *a, int err)
{
    char *why = NULL;

    if (err != 0) {
        why = pm_asprintf("cannot publish to %s: %s", a->final,
                          a->why[0] ? a->why : pm_strerror(err));
        pm_rmtree(a->tmp);
    }
    pm__replace_published(s, err, why ? why : "cannot publish", a->sha,
                          a->pdf_pages);
    pm_free(why);
    assembly_free(s, a);
    pm__serve_maybe_stop(s);
}

static void publish_done(uv_work_t *req, int status)
{
    assembly_t *a = req->data;
    pm__serve_t *s = a->s;
    char *why;

    a->publishing = 0;
    if (a->aside != NULL) {
        republished(s, a, status ? status : a->err);
        return;
    }
    if (status == 0 && a->err == 0) {
        finish_job(s, a);
    } else if (a->err != PM_EEXIST &&
               (pm__space_err(a->err) || pm__space_text(a->why) ||
                pm__space_low(a->tmp))) {
        postpone(s, a, a->tmp, a->why[0] ? a->why : pm_strerror(a->err));
        pm__serve_maybe_stop(s);
        return;
    } else {
        why = a->err == PM_EEXIST
                  ? not_ours(a)
                  : pm_asprintf("cannot publish to %s: %s", a->final,
                                a->why[0]
                                    ? a->why
                                    : pm_strerror(status ? status : a->err));
        fail_job(s, a->job, why ? why : "cannot publish");
        pm_free(why);
        pm_rmtree(a->tmp);
    }
    assembly_free(s, a);
    pm__serve_maybe_stop(s);
}

static void assembly_done(pm__serve_t *s, assembly_t *a,
                          const pm_proto_msg_t *m, const char *why)
{
    char *text;

    if (m != NULL && m->type == PM_MSG_DOC_RESULT && m->doc_result.ok) {
        a->result = m->doc_result;
        a->result.error = NULL;
        a->publishing =
            uv_queue_work(s->loop, &a->req, publish_work, publish_done) == 0;
        if (a->publishing)
            return;
        why = "cannot queue the publish step";
    } else if (m == NULL && ++a->attempts < s->max_attempts && !s->draining) {
        pm_log(PM_LOG_WARN, "sched", "job=%lld assembly lost (%s); retrying",
               (long long)a->job, why);
        if (submit_assembly(s, a) == 0)
            return;
    } else if (m != NULL && m->type == PM_MSG_DOC_RESULT &&
               (pm__space_text(m->doc_result.error) || pm__space_low(a->tmp))) {
        postpone(s, a, a->tmp,
                 m->doc_result.error ? m->doc_result.error : "failed");
        return;
    } else if (m != NULL) {
        why = m->type == PM_MSG_DOC_RESULT && m->doc_result.error
                  ? m->doc_result.error
                  : "unexpected reply";
    }
    text = pm_asprintf("assembly failed: %s", why ? why : "?");
    assembly_fail(s, a, PM_EPDF, text ? text : "assembly failed");
    pm_free(text);
    pm_rmtree(a->tmp);
    assembly_free(s, a);
}

/* ---- the loop side ---- */

/* Settles finished jobs and starts assembling the ones ready for it. */
static void collect(pm__serve_t *s)
{
    int64_t *ids = NULL;
    size_t n = 0;
    int err;

    if (s->space.full)
        return;
    err = pm_job_collect_finished(s->cat, pm__serve_now(), &ids, &n);
    if (pm__space_err(err)) {
        pm__space_lost(s, s->catalog_path);
        return;
    }
    if (err != 0) {
        pm_log(PM_LOG_ERROR, "sched", "collect: %s", pm_catalog_errmsg(s->cat));
        return;
    }
    for (size_t i = 0; i < n && !s->draining && !s->space.full; i++)
        if (assembly_find(s, ids[i]) == NULL)
            start_assembly(s, ids[i]);
    pm_free(ids);
}

void pm__sched_on_done(void *arg, long long task, const pm_proto_msg_t *m,
                       const char *why)
{
    pm__serve_t *s = arg;
    pm__inflight_t *e;

    if (pm__replace_on_done(s, task, m, why)) {
        pm__sched_run(s);
        pm__serve_maybe_stop(s);
        return;
    }
    e = inflight_take(s, task);
    if (e == NULL)
        return;
    if (e->a != NULL) {
        assembly_done(s, e->a, m, why);
    } else if (page_done(s, e, m, why) == 0) {
        collect(s);
        note_job_failed(s, e->job);
    } else {
        e = NULL; /* parked */
    }
    inflight_free(e);
    pm__sched_run(s);
    pm__serve_maybe_stop(s);
}

/* ---- workers in the catalog, for `pagemill status` ---- */

static const pm__inflight_t *inflight_find(const pm__serve_t *s, long long id)
{
    for (const pm__inflight_t *e = s->inflight; e != NULL; e = e->next)
        if (e->id == id)
            return e;
    return NULL;
}

/* The catalog row of pool worker `w`. */
static void worker_row(const pm__serve_t *s, const pm_pool_worker_t *w,
                       pm_worker_info_t *r)
{
    const pm__inflight_t *e = w->task >= 0 ? inflight_find(s, w->task) : NULL;

    memset(r, 0, sizeof(*r));
    r->slot = w->id;
    r->pid = w->pid;
    r->state = !w->ready      ? PM_WORKER_STARTING
               : w->task >= 0 ? PM_WORKER_BUSY
                              : PM_WORKER_IDLE;
    r->job = e != NULL ? e->job : 0;
    r->page = e != NULL && e->a == NULL ? e->page : 0;
    r->started_at = w->started_at;
}

static int worker_rows_equal(const pm_worker_info_t *a,
                             const pm_worker_info_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].slot != b[i].slot || a[i].pid != b[i].pid ||
            a[i].state != b[i].state || a[i].job != b[i].job ||
            a[i].page != b[i].page)
            return 0;
    return 1;
}

void pm__sched_report_workers(pm__serve_t *s)
{
    size_t n = pm_pool_workers(s->pool, NULL, 0);
    pm_pool_worker_t *pw = pm_calloc(n + 1, sizeof(*pw));
    pm_worker_info_t *rows = pm_calloc(n + 1, sizeof(*rows));
    uint64_t now_ms = uv_now(s->loop);
    int err;

    if (pw == NULL || rows == NULL)
        goto out; /* the next tick tries again */
    n = pm_pool_workers(s->pool, pw, n);
    for (size_t i = 0; i < n; i++)
        worker_row(s, &pw[i], &rows[i]);
    if (!s->wk_failing && s->wk_last != NULL && n == s->wk_nlast &&
        worker_rows_equal(rows, s->wk_last, n) &&
        now_ms - s->wk_written_ms < PM__WORKERS_REFRESH_MS)
        goto out;
    if ((err = pm_worker_report(s->cat, s->owner, rows, n, pm__serve_now())) !=
        0) {
        if (pm__space_err(err))
            pm__space_lost(s, s->catalog_path); /* logged there */
        else if (!s->wk_failing)
            pm_log(PM_LOG_ERROR, "sched", "workers table: %s",
                   pm_catalog_errmsg(s->cat));
        s->wk_failing = 1;
        goto out;
    }
    s->wk_failing = 0;
    pm_free(s->wk_last);
    s->wk_last = rows;
    s->wk_nlast = n;
    s->wk_written_ms = now_ms;
    rows = NULL;
out:
    pm_free(pw);
    pm_free(rows);
}

void pm__sched_clear_workers(pm__serve_t *s)
{
    if (s->cat != NULL && s->owner[0] != '\0' &&
        pm_worker_report(s->cat, s->owner, NULL, 0, pm__serve_now()) != 0)
        pm_log(PM_LOG_ERROR, "serve", "clearing the workers table: %s",
               pm_catalog_errmsg(s->cat));
    pm_free(s->wk_last);
    s->wk_last = NULL;
    s->wk_nlast = 0;
}

static void on_tick(uv_timer_t *t)
{
    pm__serve_t *s = t->data;
    int n = 0, err;

    pm__http_tick(s);
    /* A lost session took the coordinator lock along (PostgreSQL): a
     * standby may be the coordinator now. */
    if (!pm_catalog_connected(s->cat)) {
        pm__serve_lost(s);
        return;
    }
    /* Draining: nothing new starts, but `pagemill status` still sees the
     * workers finishing their pages. */
    if (s->draining) {
        pm__sched_report_workers(s);
        return;
    }
    /* A full volume: only keep the parked pages' leases and look for
     * space now and then. */
    if (pm__space_paused(s)) {
        unpark(s, 0);
        pm__sched_report_workers(s);
        return;
    }
    unpark(s, 0); /* their leases first: they must not lapse below */
    err = pm_task_requeue_expired(s->cat, pm__serve_now(), s->max_attempts, &n);
    if (pm__space_err(err))
        pm__space_lost(s, s->catalog_path);
    else if (err != 0)
        pm_log(PM_LOG_ERROR, "sched", "lease expiry: %s",
               pm_catalog_errmsg(s->cat));
    else if (n > 0)
        pm_log(PM_LOG_WARN, "sched", "%d page(s) whose lease lapsed requeued",
               n);
    collect(s);
    pm__sched_run(s);
    pm__sched_report_workers(s);
}

int pm__sched_recover(pm__serve_t *s)
{
    int n = 0;

    if (pm_task_requeue_all_running(s->cat, s->owner, pm__serve_now(), &n) !=
        0) {
        pm_log(PM_LOG_ERROR, "serve", "requeue at start: %s",
               pm_catalog_errmsg(s->cat));
        return PM_ECATALOG;
    }
    if (n > 0)
        pm_log(PM_LOG_WARN, "serve",
               "%d page(s) left running by a previous coordinator requeued", n);
    return 0;
}

void pm__sched_start(pm__serve_t *s)
{
    uv_timer_init(s->loop, &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, on_tick, 0, PM__TICK_MS);
}

void pm__sched_stop(pm__serve_t *s)
{
    if (s->tick.loop != NULL) {
        uv_timer_stop(&s->tick);
        if (!uv_is_closing((uv_handle_t *)&s->tick))
            uv_close((uv_handle_t *)&s->tick, NULL);
    }
}

void pm__sched_abandon(pm__serve_t *s)
{
    pm__inflight_t *e;

    pm__replace_abandon(s);
    while ((e = s->inflight) != NULL) {
        s->inflight = e->next;
        if (e->a != NULL && !e->a->publishing)
            assembly_free(s, e->a);
        else
            pm_log(PM_LOG_WARN, "serve",
                   "job=%lld page=%d abandoned; requeued at next start",
                   (long long)e->job, e->page);
        inflight_free(e);
    }
    while ((e = s->parked) != NULL) {
        s->parked = e->next;
        pm_log(PM_LOG_WARN, "serve",
               "job=%lld page=%d waited for space; requeued at next start",
               (long long)e->job, e->page);
        inflight_free(e);
    }
}
