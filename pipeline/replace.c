/*
 * replace.c: replacing a page of a done job, for `pagemill serve`
 * (serve_int.h). `pagemill job replace-page` records the request in the
 * catalog (catalog/review.c) with the rescan already copied into the
 * spool; the coordinator takes the oldest pending one on its tick:
 *
 *   page:     the rescan goes to a worker like any page (checked against
 *             its SHA-256 first), artifacts beside the job's others as
 *             p<page>-r<request>; flagged for review as any page is;
 *   publish:  the job is assembled again with the new page in place of
 *             the old (scheduler.c), checked, and swapped in for its
 *             published folder (the old one kept aside);
 *   record:   the old page's original moves to spool/job-<id>/replaced/
 *             (unless other pages of the job are frames of the same
 *             file), then one transaction gives the page its new file,
 *             digest and metrics and the job its new PDF's SHA-256 and
 *             page count, with an event. Billing is not touched.
 *
 * One replacement at a time. Nothing is recorded until the new document
 * is in place, so a stop at any point leaves the request pending and the
 * next start does it again from the page. A page that fails (the file is
 * at fault) or an assembly that fails records the request failed and
 * leaves the published job as it was.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pipeline/base/pm.h"
#include "pipeline/serve_int.h"

struct pm__replace {
    pm_replacement_t r;
    long long task;        /* pool task of its page, 0 once back */
    int attempts;          /* of its page (lost workers) */
    pm_page_result_t page; /* the page's result, once back */
    int publishing;        /* assembly and publishing under way */
    char aside[4096];      /* where the old published folder goes */
    char stamp[32];        /* UTC time of the start, for names */
};

/* `s` as printable text for a log line, in buf[PM_ESCAPED_MAX]. */
#define ESC(str, buf) pm_escape_name((str), (buf), sizeof(buf))

static void replace_free(pm__serve_t *s)
{
    pm__replace_t *x = s->replace;

    if (x == NULL)
        return;
    pm_replacement_cleanup(&x->r);
    pm_page_result_cleanup(&x->page);
    pm_free(x);
    s->replace = NULL;
}

/* Records the replacement failed (the published job is unchanged). */
static void replace_failed(pm__serve_t *s, const char *why)
{
    pm__replace_t *x = s->replace;
    char esc[PM_ESCAPED_MAX];

    pm_log(PM_LOG_ERROR, "replace", "job=%lld page=%d: replacement failed: %s",
           (long long)x->r.job, x->r.page, ESC(why, esc));
    if (pm_replace_fail(s->cat, &x->r, why, pm__serve_now()) != 0)
        pm_log(PM_LOG_ERROR, "replace", "job=%lld: catalog: %s",
               (long long)x->r.job, pm_catalog_errmsg(s->cat));
    replace_free(s);
}

/* The page task line of the replacement's page, or NULL with why. */
static char *page_line(pm__serve_t *s, pm__replace_t *x, char *why, size_t size)
{
    const pm_profile_t *p = NULL;
    pm_page_task_t pt = {0};
    pm_job_t j = {0};
    char *dir = NULL, *line = NULL;
    int err;

    snprintf(why, size, "out of memory");
    if (pm_job_get(s->cat, x->r.job, &j) != 0) {
        snprintf(why, size, "cannot read the job: %s",
                 pm_catalog_errmsg(s->cat));
        return NULL;
    }
    p = pm_config_profile(s->cfg, j.profile ? j.profile : "default");
    dir = pm_asprintf("%s/job-%lld/pages", s->spool, (long long)x->r.job);
    pt.page = x->r.page;
    pt.src = x->r.src;
    pt.frame = 0;
    pt.sha256 = x->r.sha256;
    pt.out_base =
        dir ? pm_asprintf("%s/p%05d-r%lld", dir, x->r.page, (long long)x->r.id)
            : NULL;
    if (p == NULL)
        snprintf(why, size, "the job's profile is not in the configuration");
    else if (pt.out_base != NULL && (err = pm_mkdir_p(dir)) != 0)
        snprintf(why, size, "cannot create the page folder %s: %s", dir,
                 pm_strerror(err));
    else if (pt.out_base != NULL)
        line = pm_proto_page_task(x->task, &pt, p);
    pm_free(pt.out_base);
    pm_free(dir);
    pm_job_cleanup(&j);
    return line;
}

/* Hands the replacement's page to the pool (urgent: an operator waits). */
static int submit_page(pm__serve_t *s, char *why, size_t size)
{
    pm__replace_t *x = s->replace;
    char *line;

    x->task = ++s->next_task;
    line = page_line(s, x, why, size);
    if (line == NULL)
        return PM_EINVAL;
    if (pm_pool_submit(s->pool, x->task, line, 1) != 0) {
        snprintf(why, size, "cannot hand the page to a worker");
        return PM_ENOMEM;
    }
    x->attempts++;
    pm_log(PM_LOG_INFO, "replace",
           "job=%lld page=%d: replacing it with %s (requested by %s)",
           (long long)x->r.job, x->r.page, x->r.src, x->r.actor);
    return 0;
}

/* 1 with why when the job is no longer done (cancelled since the
 * request): the request fails rather than wait for ever. */
static int job_not_done(pm__serve_t *s, char *why, size_t size)
{
    pm_job_t j = {0};
    int err = pm_job_get(s->cat, s->replace->r.job, &j), bad;

    bad = err == 0 && j.state != PM_JOB_DONE;
    if (bad)
        snprintf(why, size, "job %lld is %s, no longer done", (long long)j.id,
                 pm_job_state_name(j.state));
    pm_job_cleanup(&j);
    return bad;
}

void pm__replace_run(pm__serve_t *s)
{
    pm__replace_t *x;
    char why[1024];
    time_t now = time(NULL);
    struct tm tm;
    int err;

    if (s->replace != NULL || s->draining || s->pool == NULL ||
        pm__space_paused(s) || pm_pool_idle(s->pool) == 0)
        return;
    x = pm_calloc(1, sizeof(*x));
    if (x == NULL)
        return;
    err = pm_replace_next(s->cat, &x->r);
    if (err != 0) {
        if (err != PM_ENOENT)
            pm_log(PM_LOG_ERROR, "replace", "catalog: %s",
                   pm_catalog_errmsg(s->cat));
        pm_free(x);
        return;
    }
    gmtime_r(&now, &tm);
    strftime(x->stamp, sizeof(x->stamp), "%Y%m%dT%H%M%SZ", &tm);
    s->replace = x;
    if (job_not_done(s, why, sizeof(why)) || submit_page(s, why, sizeof(why)))
        replace_failed(s, why);
}

/* The page is back and good: flag it, then assemble and publish. */
static void page_back(pm__serve_t *s, const pm_page_result_t *r)
{
    pm__replace_t *x = s->replace;
    pm_job_t j = {0};
    char why[1024], *out = NULL;
    int err = pm_page_result_copy(&x->page, r);

    x->page.page = x->r.page;
    if (err == 0)
        err = pm__sched_review(s, x->r.job, &x->page);
    if (err == 0 && (err = pm_job_get(s->cat, x->r.job, &j)) == 0)
        out = j.output_path ? pm_strdup(j.output_path) : NULL;
    if (err != 0 || out == NULL) {
        pm_job_cleanup(&j);
        replace_failed(s, err ? pm_catalog_errmsg(s->cat)
                              : "the job has no published folder");
        return;
    }
    /* Beside the published folder: same file system, one rename. */
    snprintf(x->aside, sizeof(x->aside), "%s", out);
    if (strrchr(x->aside, '/') != NULL)
        *strrchr(x->aside, '/') = '\0';
    snprintf(x->aside + strlen(x->aside), sizeof(x->aside) - strlen(x->aside),
             "/.replaced");
    err = pm_mkdir_p(x->aside);
    snprintf(x->aside + strlen(x->aside), sizeof(x->aside) - strlen(x->aside),
             "/job-%lld-%s-p%d", (long long)x->r.job, x->stamp, x->r.page);
    if (err == 0)
        err = pm__sched_reassemble(s, x->r.job, &x->page, x->aside, why,
                                   sizeof(why));
    else
        snprintf(why, sizeof(why), "cannot create %s: %s", x->aside,
                 pm_strerror(err));
    pm_free(out);
    pm_job_cleanup(&j);
    if (err != 0)
        replace_failed(s, why);
    else
        x->publishing = 1;
}

int pm__replace_on_done(pm__serve_t *s, long long task, const pm_proto_msg_t *m,
                        const char *why)
{
    pm__replace_t *x = s->replace;
    char buf[1024];

    if (x == NULL || x->task == 0 || x->task != task)
        return 0;
    x->task = 0;
    if (s->draining) {
        replace_free(s); /* still pending: done at the next start */
    } else if (m == NULL && x->attempts < s->max_attempts) {
        pm_log(PM_LOG_WARN, "replace",
               "job=%lld page=%d: page lost (%s); "
               "retrying",
               (long long)x->r.job, x->r.page, why);
        if (submit_page(s, buf, sizeof(buf)) != 0)
            replace_failed(s, buf);
    } else if (m == NULL || m->type != PM_MSG_PAGE_RESULT || !m->result.ok) {
        snprintf(buf, sizeof(buf), "the rescan %s: %s", x->r.src,
                 m == NULL                       ? why
                 : m->type != PM_MSG_PAGE_RESULT ? "unexpected reply"
                 : m->result.error               ? m->result.error
                                                 : "failed");
        replace_failed(s, buf);
    } else {
        page_back(s, &m->result);
    }
    return 1;
}

/* Moves the old page's original to spool/job-<id>/replaced/, unless
 * another page of the job is a frame of the same file. The new path (new
 * string) or NULL when it stays. */
static char *keep_original(pm__serve_t *s, const pm__replace_t *x)
{
    const char *base = strrchr(x->r.old_src, '/');
    pm_task_t *v = NULL;
    size_t n = 0;
    char *dir, *dst = NULL;
    int shared = 0;

    if (pm_task_list(s->cat, x->r.job, &v, &n) != 0)
        shared = 1;
    for (size_t i = 0; i < n; i++)
        shared |= v[i].page != x->r.page && v[i].src &&
                  strcmp(v[i].src, x->r.old_src) == 0;
    pm_task_list_free(v, n);
    if (shared || strcmp(x->r.old_src, x->r.src) == 0)
        return NULL;
    dir = pm_asprintf("%s/job-%lld/replaced", s->spool, (long long)x->r.job);
    if (dir != NULL && pm_mkdir_p(dir) == 0)
        dst = pm_asprintf("%s/p%05d-%s-%s", dir, x->r.page, x->stamp,
                          base ? base + 1 : x->r.old_src);
    if (dst != NULL && rename(x->r.old_src, dst) != 0) {
        pm_log(PM_LOG_WARN, "replace",
               "job=%lld page=%d: the old original %s stays where it is: "
               "cannot move it to %s: %s",
               (long long)x->r.job, x->r.page, x->r.old_src, dst,
               strerror(errno));
        pm_free(dst);
        dst = NULL;
    }
    pm_free(dir);
    return dst;
}

/* The new document is in place: record it. */
static void record_done(pm__serve_t *s, const char *sha, int pdf_pages)
{
    pm__replace_t *x = s->replace;
    pm_page_metrics_t m;
    char *evidence = pm_orient_evidence_text(&x->page);
    char *kept = keep_original(s, x);
    int err;

    pm__sched_metrics(&x->page, &m);
    m.orient_evidence = evidence;
    err = pm_replace_finish(s->cat, &x->r, &m, sha, pdf_pages, kept,
                            pm__serve_now());
    if (err != 0) {
        pm_log(PM_LOG_ERROR, "replace",
               "job=%lld page=%d: published, but the catalog: %s%s",
               (long long)x->r.job, x->r.page, pm_catalog_errmsg(s->cat),
               err == PM_EINVAL || err == PM_ESTALE
                   ? ""
                   : " (the request stays pending and is done again)");
        if (kept != NULL && rename(kept, x->r.old_src) != 0)
            pm_log(PM_LOG_ERROR, "replace", "cannot move %s back to %s: %s",
                   kept, x->r.old_src, strerror(errno));
        if (err == PM_EINVAL) /* the job is no longer done */
            pm_replace_fail(s->cat, &x->r, pm_catalog_errmsg(s->cat),
                            pm__serve_now());
    } else {
        pm_log(PM_LOG_INFO, "replace",
               "job=%lld page=%d replaced: %d words%s%s; published (PDF "
               "SHA-256 %s, %d pages); the old outputs are at %s",
               (long long)x->r.job, x->r.page, x->page.words,
               x->page.review ? ", flagged for review: " : "",
               x->page.review ? x->page.review : "", sha, pdf_pages, x->aside);
    }
    pm_free(kept);
    pm_free(evidence);
}

void pm__replace_published(pm__serve_t *s, int err, const char *why,
                           const char *sha, int pdf_pages)
{
    if (s->replace == NULL)
        return;
    if (err == 0)
        record_done(s, sha, pdf_pages);
    else if (pm__space_err(err))
        pm_log(PM_LOG_INFO, "replace", "job=%lld page=%d: waits for space (%s)",
               (long long)s->replace->r.job, s->replace->r.page, why);
    else {
        replace_failed(s, why);
        return;
    }
    replace_free(s);
}

size_t pm__replace_busy(const pm__serve_t *s)
{
    return s->replace != NULL && s->replace->task != 0;
}

void pm__replace_abandon(pm__serve_t *s)
{
    replace_free(s); /* a publish still running finds it gone */
}
