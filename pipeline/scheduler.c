/*
 * scheduler.c: catalog -> workers -> catalog, for `pagemill serve`
 * (serve_int.h). The catalog is the queue; this file only feeds the pool
 * on demand and writes back what came of each task.
 *
 *   claim:    while workers are idle, one claim of that many pages (the
 *             catalog's fair order) with a lease of page_timeout + 60 s,
 *             and submit them; artifacts go to spool/job-<id>/pages/.
 *   results:  ok -> a completion (page done + billable row in one
 *             transaction, fenced by the attempt); failed or lost -> a
 *             failure, which requeues until [pagemill] max_attempts.
 *             Claims, results, the tick and the workers table are
 *             sched_pages.c's, on the catalog's lane (never blocking the
 *             loop); this file has the pool's results and assembly.
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
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "config/volume.h"
#include "pipeline/bag_events.h"
#include "pipeline/base/pm.h"
#include "pipeline/pagework.h"
#include "pipeline/publish.h"
#include "pipeline/report.h"
#include "pipeline/scheduler_int.h"

/* `s` as printable text for a log line, in buf[PM_ESCAPED_MAX]. */
#define ESC(str, buf) pm_escape_name((str), (buf), sizeof(buf))

/* ---- bookkeeping ---- */

pm__inflight_t *pm__sched_inflight_add(pm__serve_t *s)
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
pm__inflight_t *pm__sched_inflight_take(pm__serve_t *s, long long id)
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

void pm__sched_inflight_free(pm__inflight_t *e)
{
    if (e != NULL) {
        pm_free(e->src);
        pm_free(e->sha256);
        pm_free(e->profile);
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

/* ---- loading an assembly, off the loop (catwork.c) ---- */

/* A job whose assembly is being read from the catalog. */
typedef struct pm__load {
    pm__serve_t *s;
    int64_t job;
    assembly_t *a; /* read; NULL: failed (why) */
    int transient; /* the session failed, not the job: try again later */
    char why[1024];
    /* a replaced page's re-publication (replace.c): the new page and
     * where the old folder goes; aside NULL for a job's assembly */
    pm_page_result_t page;
    char *aside;
    struct pm__load *next; /* s->loading */
} pm__load_t;

static pm__load_t *loading_find(const pm__serve_t *s, int64_t job)
{
    for (pm__load_t *l = s->loading; l != NULL; l = l->next)
        if (l->job == job)
            return l;
    return NULL;
}

int pm__sched_assembling(void *arg, int64_t job)
{
    return assembly_find(arg, job) != NULL || loading_find(arg, job) != NULL ||
           pm__sched_ending(arg, job);
}

static void assembly_free(pm__serve_t *s, assembly_t *a)
{
    for (assembly_t **p = &s->assemblies; *p != NULL; p = &(*p)->next) {
        if (*p == a) {
            *p = a->next;
            break;
        }
    }
    if (a->spool != NULL)
        unlink(a->spool);
    pm_free(a->spool);
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
    return n + pm__sched_recording(s) + pm__replace_busy(s);
}

/* ---- pages ---- */

void pm__sched_metrics(const pm_page_result_t *r, pm_page_metrics_t *m)
{
    pm__page_metrics(r, m);
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

void pm__sched_alert_job_failed(pm__serve_t *s, const pm_job_t *j)
{
    char subject[32];

    snprintf(subject, sizeof(subject), "job %lld", (long long)j->id);
    pm__alert(s, "job_failed", subject, j->id,
              "work order %s, account %s, batch %s: %s",
              j->workorder ? j->workorder : "?", j->account ? j->account : "?",
              j->batch ? j->batch : "?", j->error ? j->error : "?");
}

/* Logs a job that a collection failed, and alerts. */
static void note_job_failed(pm__serve_t *s, const pm_job_t *j)
{
    char esc[PM_ESCAPED_MAX];

    pm_log(PM_LOG_ERROR, "sched", "job=%lld failed: %s", (long long)j->id,
           ESC(j->error ? j->error : "?", esc));
    pm__sched_alert_job_failed(s, j);
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
static char *job_account(pm_catalog_t *cat, const pm_job_t *j)
{
    pm_workorder_t wo = {0};
    char *acct;

    if (j->account != NULL)
        return pm_strdup(j->account);
    acct = pm_workorder_get(cat, j->workorder, &wo) == 0
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

/* Page result `r` (zeroed) from catalog task `t`, its paths this
 * machine's (config/volume.h); 0, PM_ENOMEM, or PM_ECONFIG when a path's
 * volume is not configured here (logged). */
static int result_from_task(const pm_config_t *cfg, pm_page_result_t *r,
                            const pm_task_t *t)
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
    r->src = pm_volume_local(cfg, t->src, "assemble");
    r->error = t->error ? pm_strdup(t->error) : NULL;
    r->image = pm_volume_local(cfg, t->image, "assemble");
    r->text_pdf = pm_volume_local(cfg, t->text_pdf, "assemble");
    r->text = pm_volume_local(cfg, t->text, "assemble");
    r->review = t->review ? pm_strdup(t->review) : NULL;
    pm_orient_evidence_parse(r, t->orient_method, t->orient_evidence);
    if ((t->error && !r->error) || (t->review && !r->review))
        return PM_ENOMEM;
    if (r->src == NULL || (t->image && !r->image) ||
        (t->text_pdf && !r->text_pdf) || (t->text && !r->text))
        return pm_volume_is_stored(t->src) ? PM_ECONFIG : PM_ENOMEM;
    return 0;
}

/* The pages of a job (all done) as page results, for the assemble task
 * and the report. */
static int load_pages(pm__serve_t *s, pm_catalog_t *cat, assembly_t *a)
{
    pm_task_t *v = NULL;
    size_t n = 0;
    int err = pm_task_list(cat, a->job, &v, &n);

    if (err == 0 && (a->pages = pm_calloc(n + 1, sizeof(*a->pages))) == NULL)
        err = PM_ENOMEM;
    for (size_t i = 0; err == 0 && i < n; i++) {
        a->npages++;
        err = result_from_task(s->cfg, &a->pages[i], &v[i]);
    }
    pm_task_list_free(v, n);
    return err;
}

/* Writes the job's pages to its spool, a->tmp's name with ".pages.jsonl"
 * for ".tmp", made new for each attempt. 0 or an error with a->why. */
static int write_spool(assembly_t *a)
{
    size_t n = strlen(a->tmp);

    assert(n > 4 && strcmp(a->tmp + n - 4, ".tmp") == 0);
    if (a->spool == NULL)
        a->spool = pm_asprintf("%.*s.pages.jsonl", (int)(n - 4), a->tmp);
    if (a->spool == NULL) {
        snprintf(a->why, sizeof(a->why), "out of memory");
        return PM_ENOMEM;
    }
    return pm_page_spool_write(a->spool, a->pages, a->npages, a->why,
                               sizeof(a->why));
}

/* The task line carries its pool task id: rewritten for each submit. 0,
 * PM_ECONFIG when the job's profile is not configured, or the error of
 * writing the spool (a->why says it). */
static int submit_assembly(pm__serve_t *s, assembly_t *a)
{
    const pm_profile_t *p = pm_config_profile(s->cfg, a->profile);
    pm__inflight_t *e;
    pm_doc_task_t d = {0};
    char *line;
    int err;

    if (p == NULL)
        return PM_ECONFIG;
    err = write_spool(a);
    if (err != 0)
        return err;
    e = pm__sched_inflight_add(s);
    if (e == NULL)
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
               ? pm_proto_assemble_task(e->id, &d, a->spool, a->npages, p)
               : NULL;
    pm_free(d.title);
    pm_free(d.pdf);
    pm_free(d.txt);
    pm_free(d.tif);
    if (pm_pool_submit(s->pool, e->id, line, 1) != 0) {
        pm__sched_inflight_free(pm__sched_inflight_take(s, e->id));
        return PM_ENOMEM;
    }
    return 0;
}

/* An assembly or publish that failed: the job fails, or for a replaced
 * page's re-publication the replacement does (the job stays done). */
static void assembly_fail(pm__serve_t *s, const assembly_t *a, int err,
                          const char *why)
{
    if (a->aside != NULL)
        pm__replace_published(s, err, why, NULL, 0);
    else
        pm__sched_end_failed(s, a->job, why);
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
 * history for metadata/events.json, read from the catalog here: the
 * publish step only writes it. */
static int plan_bag(pm__serve_t *s, pm_catalog_t *cat, assembly_t *a)
{
    const pm_profile_t *p = pm_config_profile(s->cfg, a->profile);

    if (p != NULL && !p->bag)
        return 0;
    snprintf(a->organization, sizeof(a->organization), "%s",
             p != NULL ? p->organization : "pagemill");
    a->events = pm_bag_events(cat, s->cfg, a->job, pm__serve_now());
    return a->events != NULL ? 0 : PM_ECATALOG;
}

/* Reads job `id` into a new assembly (not yet listed) from `cat` (the
 * loop's handle, or catwork's on a pool thread: s->cfg does not change
 * while catwork runs). NULL with why[size] on failure. */
static assembly_t *assembly_new(pm__serve_t *s, pm_catalog_t *cat, int64_t id,
                                char *why, size_t size)
{
    assembly_t *a = pm_calloc(1, sizeof(*a));
    pm_job_t j = {0};
    int err = a == NULL ? PM_ENOMEM : pm_job_get(cat, id, &j);

    snprintf(why, size, "out of memory");
    if (a != NULL) {
        a->s = s;
        a->job = id;
        a->req.data = a;
    }
    if (err == 0) {
        a->workorder = pm_strdup(j.workorder);
        a->profile = pm_strdup(j.profile ? j.profile : "default");
        a->account = job_account(cat, &j);
        err = a->workorder && a->profile && a->account ? 0 : PM_ENOMEM;
    }
    if (err == 0)
        err = pm_job_uid(cat, id, a->uid);
    if (err == 0)
        err = plan_paths(s, &j, a);
    if (err == 0)
        err = load_pages(s, cat, a);
    if (err == 0)
        err = plan_bag(s, cat, a);
    if (err == PM_ECATALOG || err == PM_ENOENT)
        snprintf(why, size, "%s", pm_catalog_errmsg(cat));
    pm_job_cleanup(&j);
    if (err != 0 && a != NULL) {
        assembly_free(s, a); /* not listed yet: only freed */
        return NULL;
    }
    return a;
}

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

/* Starts assembling the loaded `a` (taken): listed, then its folder
 * checked or its pages given to a worker. */
static void start_loaded(pm__serve_t *s, assembly_t *a)
{
    int64_t id = a->job;
    char why_buf[1024];
    struct stat st;
    int err;

    a->next = s->assemblies;
    s->assemblies = a;
    if (lstat(a->final, &st) == 0) {
        /* This job's, published before a crash and not yet recorded, or
         * another document: checked on a pool thread, never replaced. */
        a->publishing =
            uv_queue_work(s->loop, &a->req, pm__assembly_verify_work,
                          publish_done) == 0;
        if (!a->publishing) {
            pm__sched_end_failed(s, id,
                                 "cannot queue the check of its output folder");
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
        pm__sched_end_failed(s, id, why_buf);
        assembly_free(s, a);
        return;
    }
    err = submit_assembly(s, a);
    if (pm__space_err(err)) { /* its page spool did not fit */
        postpone(s, a, a->tmp, a->why);
        return;
    }
    if (err != 0) {
        pm__sched_end_failed(
            s, id,
            err == PM_ECONFIG ? "the job's profile is not in the configuration"
                              : a->why);
        pm_rmtree(a->tmp);
        assembly_free(s, a);
        return;
    }
    pm_log(PM_LOG_INFO, "sched", "job=%lld assembling %zu pages into %s",
           (long long)id, a->npages, ESC(a->tmp, why_buf));
}

static int load_work(pm_catalog_t *cat, void *arg)
{
    pm__load_t *l = arg;

    l->a = assembly_new(l->s, cat, l->job, l->why, sizeof(l->why));
    l->transient = l->a == NULL && !pm_catalog_connected(cat);
    return 0; /* l->a and l->why say how it went */
}

static void reassemble_loaded(pm__serve_t *s, pm__load_t *l, int err,
                              const char *msg);

static void load_free(pm__load_t *l)
{
    pm_page_result_cleanup(&l->page);
    pm_free(l->aside);
    pm_free(l);
}

static void load_done(pm__serve_t *s, void *arg, int err, const char *msg)
{
    pm__load_t *l = arg;

    for (pm__load_t **p = &s->loading; *p != NULL; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            break;
        }
    }
    if (l->aside != NULL) {
        reassemble_loaded(s, l, err, msg);
        load_free(l);
        return;
    }
    if (err == 0 && l->a != NULL && !s->draining && !s->space.full) {
        start_loaded(s, l->a);
        l->a = NULL;
    } else if (err != 0 || l->transient) {
        /* Closing, or the catalog failed: the job stays assembling and
         * the next collection (or coordinator) tries again. */
        if (err != -ECANCELED)
            pm_log(PM_LOG_ERROR, "sched",
                   "job=%lld: cannot read it for its assembly: %s",
                   (long long)l->job, err != 0 ? msg : l->why);
    } else if (l->a == NULL) {
        pm__sched_end_failed(s, l->job, l->why);
    }
    if (l->a != NULL)
        assembly_free(s, l->a); /* not listed: only freed */
    load_free(l);
}

/* Reads job `l->job` for its assembly off the loop: 0, or an error (l
 * is the caller's still). */
static int load(pm__serve_t *s, pm__load_t *l)
{
    int err;

    l->s = s;
    if ((err = pm__catwork_give(s, load_work, load_done, l)) != 0)
        return err;
    l->next = s->loading;
    s->loading = l;
    return 0;
}

/* Reads job `id` for its assembly off the loop, then starts it. */
static void start_assembly(pm__serve_t *s, int64_t id)
{
    pm__load_t *l = pm_calloc(1, sizeof(*l));

    if (l == NULL)
        return; /* the next collection tries again */
    l->job = id;
    if (load(s, l) != 0)
        load_free(l);
}

/* What a stop left in a replacement's temp folder: when it holds a job
 * folder's outputs (its report, written last) it is the published folder
 * a swap had exchanged, or a finished one not yet swapped in; either is
 * kept beside the old outputs as <aside>-leftover, never removed. A half
 * written folder is left to make_tmp. 0 or -errno with why[size]. */
static int keep_leftover(const assembly_t *a, char *why, size_t size)
{
    char *report = pm__assembly_file(a, a->tmp, "pages.json");
    char *kept = pm_asprintf("%s-leftover", a->aside);
    struct stat st;
    int err = report && kept ? 0 : PM_ENOMEM;

    if (err == 0 && lstat(report, &st) == 0 && S_ISREG(st.st_mode)) {
        if (rename(a->tmp, kept) != 0) {
            err = -errno;
            snprintf(why, size, "cannot keep %s as %s: %s", a->tmp, kept,
                     pm_strerror(err));
        } else {
            pm_log(PM_LOG_WARN, "sched",
                   "job=%lld: a stop left finished outputs in %s: kept as %s",
                   (long long)a->job, a->tmp, kept);
        }
    }
    pm_free(report);
    pm_free(kept);
    return err;
}

int pm__sched_reassemble(pm__serve_t *s, int64_t job,
                         const pm_page_result_t *page, const char *aside,
                         char *why, size_t size)
{
    pm__load_t *l;
    int err;

    if (pm__sched_assembling(s, job)) {
        snprintf(why, size, "the job is being assembled already");
        return PM_EINVAL;
    }
    l = pm_calloc(1, sizeof(*l));
    err = l != NULL ? pm_page_result_copy(&l->page, page) : PM_ENOMEM;
    if (err == 0 && (l->aside = pm_strdup(aside)) == NULL)
        err = PM_ENOMEM;
    if (err == 0) {
        l->job = job;
        err = load(s, l);
    }
    if (err != 0) {
        snprintf(why, size, "%s",
                 err == -ECANCELED ? "the service is stopping"
                                   : "out of memory");
        if (l != NULL)
            load_free(l);
    }
    return err;
}

/* The job of a replaced page read (load_done): its assembly starts with
 * the new page in place; what fails goes to pm__replace_published. */
static void reassemble_loaded(pm__serve_t *s, pm__load_t *l, int err,
                              const char *msg)
{
    const pm_page_result_t *page = &l->page;
    assembly_t *a = l->a;
    char why[1200];

    l->a = NULL;
    if (err != 0 || l->transient || s->draining) {
        /* Stopping, or the catalog failed: the request stays pending. */
        snprintf(why, sizeof(why), "cannot read the job: %s",
                 err == -ECANCELED || s->draining ? "the service is stopping"
                 : err != 0                       ? msg
                                                  : l->why);
        if (a != NULL)
            assembly_free(s, a);
        pm__replace_published(s, -EAGAIN, why, NULL, 0);
        return;
    }
    if (a == NULL) {
        pm__replace_published(s, PM_ECATALOG, l->why, NULL, 0);
        return;
    }
    pm_free(a->tmp); /* never the one a new job's assembly uses */
    a->tmp = pm_asprintf("%s.replace.tmp", a->final);
    a->aside = pm_strdup(l->aside);
    err =
        a->tmp && a->aside && page->page >= 1 && (size_t)page->page <= a->npages
            ? 0
            : PM_ENOMEM;
    snprintf(why, sizeof(why), "out of memory");
    if (err == 0) {
        pm_page_result_cleanup(&a->pages[page->page - 1]);
        err = pm_page_result_copy(&a->pages[page->page - 1], page);
    }
    if (err == 0 && (err = keep_leftover(a, why, sizeof(why))) == 0)
        err = make_tmp(a, why, sizeof(why));
    if (err == 0 && (err = submit_assembly(s, a)) != 0) {
        snprintf(why, sizeof(why), "%s",
                 err == PM_ECONFIG
                     ? "the job's profile is not in the configuration"
                     : a->why);
        pm_rmtree(a->tmp);
        err = PM_EINVAL;
    }
    if (err != 0) {
        assembly_free(s, a); /* not listed: only freed */
        pm__replace_published(s, err, why, NULL, 0);
        return;
    }
    a->next = s->assemblies;
    s->assemblies = a;
    pm_log(PM_LOG_INFO, "sched",
           "job=%lld assembling again with page %d replaced", (long long)l->job,
           page->page);
}

/* ---- publishing (its pool thread side: sched_publish.c) ---- */

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
        pm__sched_end_done(s, a);
    } else if (a->err != PM_EEXIST &&
               (pm__space_err(a->err) || pm__space_text(a->why) ||
                pm__space_low(a->tmp))) {
        postpone(s, a, a->tmp, a->why[0] ? a->why : pm_strerror(a->err));
        pm__serve_maybe_stop(s);
        return;
    } else {
        why = a->err == PM_EEXIST
                  ? pm__assembly_not_ours(a)
                  : pm_asprintf("cannot publish to %s: %s", a->final,
                                a->why[0]
                                    ? a->why
                                    : pm_strerror(status ? status : a->err));
        pm__sched_end_failed(s, a->job, why ? why : "cannot publish");
        pm_free(why);
        pm_rmtree(a->tmp);
    }
    assembly_free(s, a);
    pm__serve_maybe_stop(s);
}

static void assembly_done(pm__serve_t *s, assembly_t *a,
                          const pm_proto_msg_t *m, const char *why)
{
    char *text, why_buf[1024]; /* why, when a retry cannot start */

    if (m != NULL && m->type == PM_MSG_DOC_RESULT && m->doc_result.ok) {
        a->result = m->doc_result;
        a->result.error = NULL;
        a->publishing =
            uv_queue_work(s->loop, &a->req, pm__assembly_publish_work,
                          publish_done) == 0;
        if (a->publishing)
            return;
        why = "cannot queue the publish step";
    } else if (m == NULL && ++a->attempts < s->max_attempts && !s->draining) {
        int err;

        pm_log(PM_LOG_WARN, "sched", "job=%lld assembly lost (%s); retrying",
               (long long)a->job, why);
        /* What the lost worker had written is not this attempt's. */
        err = make_tmp(a, why_buf, sizeof(why_buf));
        if (err == 0) {
            err = submit_assembly(s, a);
            if (err == 0)
                return;
            snprintf(why_buf, sizeof(why_buf), "%s",
                     err == PM_ECONFIG
                         ? "the job's profile is not in the configuration"
                         : a->why);
        }
        if (pm__space_err(err)) {
            postpone(s, a, a->tmp, why_buf);
            return;
        }
        why = why_buf;
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

/* ---- collecting finished jobs, off the loop (catwork.c) ---- */

/* Jobs whose pages may have ended them, told when a collection failed
 * them; more than this wait for the next collection's check. */
#define COLLECT_WATCH 64

/* One collection: settle the jobs whose pages are all done (or failed),
 * list the jobs to assemble, and read the watched jobs that failed. */
typedef struct pm__collect {
    int64_t now;
    int64_t watch[COLLECT_WATCH];
    size_t nwatch;
    int64_t *ids; /* to assemble */
    size_t n;
    pm_job_t failed[COLLECT_WATCH];
    size_t nfailed;
} pm__collect_t;

static int collect_work(pm_catalog_t *cat, void *arg)
{
    pm__collect_t *c = arg;
    int err;

    err = pm_job_collect_finished(cat, c->now, &c->ids, &c->n);
    for (size_t i = 0; err == 0 && i < c->nwatch; i++) {
        pm_job_t *j = &c->failed[c->nfailed];

        if (pm_job_get(cat, c->watch[i], j) == 0 && j->state == PM_JOB_FAILED)
            c->nfailed++;
        else
            pm_job_cleanup(j);
    }
    return err;
}

static void collect_free(pm__collect_t *c)
{
    for (size_t i = 0; i < c->nfailed; i++)
        pm_job_cleanup(&c->failed[i]);
    pm_free(c->ids);
    pm_free(c);
}

static void collect_done(pm__serve_t *s, void *arg, int err, const char *msg)
{
    pm__collect_t *c = arg;

    if (s->collect_next == c)
        s->collect_next = NULL;
    for (size_t i = 0; i < c->nfailed; i++)
        note_job_failed(s, &c->failed[i]);
    if (err == -ECANCELED) {
        /* closing: the next coordinator collects */
    } else if (pm__space_err(err) || (err != 0 && pm__space_text(msg))) {
        pm__space_lost(s, s->catalog_path);
    } else if (err != 0) {
        pm_log(PM_LOG_ERROR, "sched", "collect: %s", msg);
    } else {
        for (size_t i = 0; i < c->n && !s->draining && !s->space.full; i++)
            if (!pm__sched_assembling(s, c->ids[i]))
                start_assembly(s, c->ids[i]);
    }
    collect_free(c);
}

void pm__sched_collect(pm__serve_t *s, const int64_t *watch, size_t nwatch)
{
    pm__collect_t *c = s->collect_next;

    if (s->space.full)
        return;
    if (c == NULL || !pm__catwork_waiting(s, c)) { /* behind the one
                                                       under way */
        c = pm_calloc(1, sizeof(*c));
        if (c == NULL)
            return;
        if (pm__catwork_give(s, collect_work, collect_done, c) != 0) {
            pm_free(c);
            return;
        }
        s->collect_next = c;
    }
    c->now = pm__serve_now();
    for (size_t i = 0; i < nwatch && c->nwatch < COLLECT_WATCH; i++) {
        size_t k = 0;

        while (k < c->nwatch && c->watch[k] != watch[i])
            k++;
        if (k == c->nwatch)
            c->watch[c->nwatch++] = watch[i];
    }
}

/* ---- the loop side ---- */

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
    e = pm__sched_inflight_take(s, task);
    if (e == NULL)
        return;
    if (e->a != NULL) {
        assembly_done(s, e->a, m, why);
        pm__sched_inflight_free(e);
    } else {
        pm__sched_page_done(s, e, m, why); /* kept until recorded */
    }
    pm__sched_claim(s);
    pm__serve_maybe_stop(s);
}

void pm__sched_abandon(pm__serve_t *s)
{
    pm__inflight_t *e;

    pm__sched_pages_close(s); /* before the entries its callbacks name */
    pm__replace_abandon(s);
    while ((e = s->inflight) != NULL) {
        s->inflight = e->next;
        if (e->a != NULL && !e->a->publishing)
            assembly_free(s, e->a);
        else
            pm_log(PM_LOG_WARN, "serve",
                   "job=%lld page=%d abandoned; requeued at next start",
                   (long long)e->job, e->page);
        pm__sched_inflight_free(e);
    }
    while ((e = s->parked) != NULL) {
        s->parked = e->next;
        pm_log(PM_LOG_WARN, "serve",
               "job=%lld page=%d waited for space; requeued at next start",
               (long long)e->job, e->page);
        pm__sched_inflight_free(e);
    }
}
