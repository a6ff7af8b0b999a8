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
 * next start does it again from the page; a job folder's finished
 * outputs a stop left in its replacement temp folder (a swap cut between
 * its two renames) are kept as <aside>-leftover, never removed
 * (scheduler.c keep_leftover), and the record <aside>.json says which
 * folder set aside is the previous published version and which an
 * intermediate document (never recorded). A published folder a swap of
 * two renames (no RENAME_EXCHANGE) left missing is put back from its
 * aside before the redo. A page that fails (the file is
 * at fault) or an assembly that fails records the request failed and
 * leaves the published job as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config/volume.h"
#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"
#include "pipeline/pagework.h"
#include "pipeline/publish.h"
#include "pipeline/serve_int.h"
#include "workers/engine.h"

struct pm__replace {
    pm_replacement_t r;    /* its paths as the catalog records them */
    char *src, *old_src;   /* r's src and old_src on this machine */
    long long task;        /* pool task of its page, 0 once back */
    int attempts;          /* of its page (lost workers) */
    pm_page_result_t page; /* the page's result, once back */
    int publishing;        /* assembly and publishing under way */
    char aside[4096];      /* where the old published folder goes */
    char *published;       /* the job's published folder, here */
    char stamp[32];        /* UTC time of the start, for names */
    /* read with the request (off the loop) */
    char *profile;        /* the job's */
    char *output_path;    /* the job's published folder, as recorded */
    pm_job_state_t state; /* the job's */
    int shared;           /* another page of the job is a frame of old_src */
    /* the catalog work under way (catwork.c): x stays until its answer */
    int busy, abandoned;
    int have_r;          /* next_work read the request */
    int transient;       /* its failure was the session's (or memory) */
    int fail_err;        /* finish_work's pm_replace_fail, after PM_EINVAL */
    char why[1024];      /* a failure to record */
    pm_page_metrics_t m; /* the new page's, for the record */
    char *kept, *kept_stored; /* where the old original went, or NULL */
    char sha[PM_SHA256_HEX];  /* the new document's */
    int pdf_pages;
};

/* `s` as printable text for a log line, in buf[PM_ESCAPED_MAX]. */
#define ESC(str, buf) pm_escape_name((str), (buf), sizeof(buf))

static void replace_destroy(pm__replace_t *x)
{
    pm_replacement_cleanup(&x->r);
    pm_free(x->src);
    pm_free(x->old_src);
    pm_free(x->published);
    pm_free(x->profile);
    pm_free(x->output_path);
    pm_free((char *)x->m.orient_evidence);
    pm_free((char *)x->m.image);
    pm_free((char *)x->m.text_pdf);
    pm_free((char *)x->m.text);
    pm_free(x->kept);
    pm_free(x->kept_stored);
    pm_page_result_cleanup(&x->page);
    pm_free(x);
}

/* Ends the replacement under way here; one with catwork is freed by its
 * answer. */
static void replace_free(pm__serve_t *s)
{
    pm__replace_t *x = s->replace;

    if (x == NULL)
        return;
    s->replace = NULL;
    if (x->busy)
        x->abandoned = 1;
    else
        replace_destroy(x);
}

/* Gives x's catalog work to catwork: 0, or the error logged and x ended. */
static int give(pm__serve_t *s, pm__catwork_fn fn, pm__catwork_done_fn done)
{
    pm__replace_t *x = s->replace;
    int err;

    x->busy = 1;
    if ((err = pm__catwork_give(s, fn, done, x)) != 0) {
        x->busy = 0;
        pm_log(PM_LOG_ERROR, "replace",
               "job=%lld page=%d: %s (the request stays pending)",
               (long long)x->r.job, x->r.page,
               err == -ECANCELED ? "the service is stopping" : "out of memory");
        replace_free(s);
        return err;
    }
    return 0;
}

/* A catwork answer for x: 1 when x is still the replacement under way. */
static int answered(pm__serve_t *s, pm__replace_t *x)
{
    x->busy = 0;
    if (x->abandoned) {
        replace_destroy(x);
        return 0;
    }
    return s->replace == x;
}

static int fail_work(pm_catalog_t *cat, void *arg)
{
    pm__replace_t *x = arg;

    return pm_replace_fail(cat, &x->r, x->why, pm__serve_now());
}

static void fail_done(pm__serve_t *s, void *arg, int err, const char *msg)
{
    pm__replace_t *x = arg;

    if (err != 0)
        pm_log(PM_LOG_ERROR, "replace",
               "job=%lld: cannot record the failure: %s (the request stays "
               "pending)",
               (long long)x->r.job, err == -ECANCELED ? "stopped" : msg);
    if (answered(s, x))
        replace_free(s);
}

/* Records the replacement failed (the published job is unchanged). */
static void replace_failed(pm__serve_t *s, const char *why)
{
    pm__replace_t *x = s->replace;
    char esc[PM_ESCAPED_MAX];

    pm_log(PM_LOG_ERROR, "replace", "job=%lld page=%d: replacement failed: %s",
           (long long)x->r.job, x->r.page, ESC(why, esc));
    snprintf(x->why, sizeof(x->why), "%s", why);
    give(s, fail_work, fail_done);
}

/* The page task line of the replacement's page, or NULL with why. */
static char *page_line(pm__serve_t *s, pm__replace_t *x, char *why, size_t size)
{
    const pm_profile_t *p = pm_config_profile(s->cfg, x->profile);
    pm_page_task_t pt = {0};
    char *dir = NULL, *line = NULL;
    int err;

    snprintf(why, size, "out of memory");
    dir = pm_asprintf("%s/job-%lld/pages", s->spool, (long long)x->r.job);
    pt.page = x->r.page;
    pt.src = x->src;
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
           (long long)x->r.job, x->r.page, x->src, x->r.actor);
    return 0;
}

/* The oldest pending request and what of its job the replacement needs,
 * on catwork's session. */
static int next_work(pm_catalog_t *cat, void *arg)
{
    pm__replace_t *x = arg;
    pm_job_t j = {0};
    pm_task_t *v = NULL;
    size_t n = 0;
    int err = pm_replace_next(cat, &x->r);

    if (err == 0) {
        x->have_r = 1;
        err = pm_job_get(cat, x->r.job, &j);
    }
    if (err == 0) {
        x->state = j.state;
        x->profile = pm_strdup(j.profile ? j.profile : "default");
        x->output_path = j.output_path ? pm_strdup(j.output_path) : NULL;
        err = x->profile != NULL && (x->output_path || !j.output_path)
                  ? 0
                  : PM_ENOMEM;
    }
    /* The old original is kept aside only when no other page of the job
     * is a frame of it (and when its pages cannot be read, it stays). */
    if (err == 0 && pm_task_list(cat, x->r.job, &v, &n) != 0)
        x->shared = 1;
    for (size_t i = 0; err == 0 && i < n; i++)
        x->shared |= v[i].page != x->r.page && v[i].src &&
                     strcmp(v[i].src, x->r.old_src) == 0;
    pm_task_list_free(v, n);
    pm_job_cleanup(&j);
    x->transient = err != 0 && (err == PM_ENOMEM || !pm_catalog_connected(cat));
    return err;
}

static void next_done(pm__serve_t *s, void *arg, int err, const char *msg)
{
    pm__replace_t *x = arg;
    char why[1024];
    time_t now = time(NULL);
    struct tm tm;

    if (!answered(s, x))
        return;
    if (err != 0 && x->have_r && !x->transient && err != -ECANCELED) {
        /* the request is there and its job cannot be read: it fails
         * rather than hold the requests behind it */
        snprintf(why, sizeof(why), "cannot read job %lld: %s",
                 (long long)x->r.job, msg);
        replace_failed(s, why);
        return;
    }
    if (err != 0) {
        if (err != PM_ENOENT && err != -ECANCELED)
            pm_log(PM_LOG_ERROR, "replace", "catalog: %s", msg);
        replace_free(s);
        return;
    }
    if (s->draining) {
        replace_free(s); /* still pending: done at the next start */
        return;
    }
    gmtime_r(&now, &tm);
    strftime(x->stamp, sizeof(x->stamp), "%Y%m%dT%H%M%SZ", &tm);
    x->src = pm_volume_local(s->cfg, x->r.src, "replace");
    x->old_src = pm_volume_local(s->cfg, x->r.old_src, "replace");
    if (x->src == NULL || x->old_src == NULL) {
        replace_failed(s, "a path of the request does not resolve here (see "
                          "the log) or out of memory");
    } else if (x->state != PM_JOB_DONE) {
        /* cancelled since the request: it fails rather than wait */
        snprintf(why, sizeof(why), "job %lld is %s, no longer done",
                 (long long)x->r.job, pm_job_state_name(x->state));
        replace_failed(s, why);
    } else if (submit_page(s, why, sizeof(why)) != 0) {
        replace_failed(s, why);
    }
}

void pm__replace_run(pm__serve_t *s)
{
    pm__replace_t *x;

    if (s->replace != NULL || s->draining || s->pool == NULL ||
        pm__space_paused(s) || pm_pool_idle(s->pool) == 0)
        return;
    x = pm_calloc(1, sizeof(*x));
    if (x == NULL)
        return;
    s->replace = x;
    x->busy = 1;
    if (pm__catwork_give(s, next_work, next_done, x) != 0) {
        x->busy = 0;
        replace_free(s); /* stopping: nothing was taken */
    }
}

/* Appends `s` to a glob pattern, glob's own characters escaped. */
static void glob_literal(pm_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (strchr("*?[]\\", *s) != NULL)
            pm_buf_add(b, "\\", 1);
        pm_buf_add(b, s, 1);
    }
}

/* What a job folder of the replacement's job holds, by the source its
 * report names for the replaced page. */
typedef enum folder_kind {
    FOLDER_NONE,     /* no such folder */
    FOLDER_OTHER,    /* not identified (no report, another page source) */
    FOLDER_PREVIOUS, /* the page's old file: the published version the
                      * catalog records until this replacement is done */
    FOLDER_NEW       /* this request's rescan: assembled by this request */
} folder_kind_t;

static folder_kind_t folder_kind(const pm__replace_t *x, const char *dir)
{
    char *path = pm_job_output(dir, x->r.job, "pages.json");
    json_t *doc = path ? json_load_file(path, 0, NULL) : NULL, *pg;
    const char *src;
    struct stat st;
    folder_kind_t k = lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? FOLDER_OTHER
                                                                  : FOLDER_NONE;

    pg = json_array_get(json_object_get(doc, "page_results"),
                        (size_t)x->r.page - 1);
    src = json_string_value(json_object_get(pg, "src"));
    if (k == FOLDER_OTHER && src != NULL &&
        (strcmp(src, x->src) == 0 || strcmp(src, x->r.src) == 0))
        k = FOLDER_NEW;
    else if (k == FOLDER_OTHER && src != NULL &&
             (strcmp(src, x->old_src) == 0 || strcmp(src, x->r.old_src) == 0))
        k = FOLDER_PREVIOUS;
    json_decref(doc);
    pm_free(path);
    return k;
}

/* The newest folder `dir`/job-<id>-<time>-p<page> (an earlier attempt's
 * aside) that holds the previous published version, or NULL. */
static char *earlier_aside(const pm__replace_t *x, const char *dir)
{
    pm_buf_t b = {0};
    char *pattern = NULL, *found = NULL;
    glob_t g;

    glob_literal(&b, dir);
    pm_buf_printf(&b, "/job-%lld-*-p%d", (long long)x->r.job, x->r.page);
    if (pm_buf_take(&b, &pattern, NULL) == 0 &&
        glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = g.gl_pathc; i-- > 0 && found == NULL;) /* newest */
            if (folder_kind(x, g.gl_pathv[i]) == FOLDER_PREVIOUS)
                found = pm_strdup(g.gl_pathv[i]);
        globfree(&g);
    }
    pm_free(pattern);
    return found;
}

/* Where a file system lacks RENAME_EXCHANGE a swap is two renames, the
 * published folder to its aside, then the new one in its place: a stop
 * between them leaves no published folder, the previous version under
 * .replaced/ (folder `dir`) by an earlier attempt's name. It is put back
 * (one rename that never replaces), so the redo swaps as any would.
 * 0, or an error with why[size] when the folder is missing and no
 * earlier attempt's aside holds the previous version. */
static int restore_published(const pm__replace_t *x, const char *dir, char *why,
                             size_t size)
{
    struct stat st;
    char *found;
    int err;

    if (lstat(x->published, &st) == 0 || errno != ENOENT)
        return 0;
    found = earlier_aside(x, dir);
    if (found == NULL) {
        snprintf(why, size,
                 "the published folder %s is missing, and no folder in %s "
                 "holds the job's previous version",
                 x->published, dir);
        return PM_ENOENT;
    }
    err = pm_publish_rename(found, x->published);
    if (err != 0)
        snprintf(why, size,
                 "the published folder %s is missing; cannot put back the "
                 "previous version from %s: %s",
                 x->published, found, pm_strerror(err));
    else
        pm_log(PM_LOG_WARN, "replace",
               "job=%lld page=%d: the published folder %s was missing (a "
               "swap cut between its two renames): the previous version "
               "put back from %s",
               (long long)x->r.job, x->r.page, x->published, found);
    pm_free(found);
    return err;
}

/* The page is back and good: flag it, then assemble and publish. */
static void page_back(pm__serve_t *s, const pm_page_result_t *r)
{
    pm__replace_t *x = s->replace;
    char why[1024], *out = NULL;
    int err = pm_page_result_copy(&x->page, r);

    x->page.page = x->r.page;
    if (err == 0)
        err = pm__page_review_as(s->cfg, x->profile, &x->page);
    if (err == 0 && x->output_path != NULL)
        out = pm_volume_local(s->cfg, x->output_path, "replace");
    if (err != 0 || out == NULL) {
        replace_failed(s, err ? pm_strerror(err)
                              : "the job has no published folder");
        return;
    }
    x->published = out;
    /* Beside the published folder: same file system, one rename. */
    snprintf(x->aside, sizeof(x->aside), "%s", out);
    if (strrchr(x->aside, '/') != NULL)
        *strrchr(x->aside, '/') = '\0';
    snprintf(x->aside + strlen(x->aside), sizeof(x->aside) - strlen(x->aside),
             "/.replaced");
    err = pm_mkdir_p(x->aside);
    if (err != 0)
        snprintf(why, sizeof(why), "cannot create %s: %s", x->aside,
                 pm_strerror(err));
    else
        err = restore_published(x, x->aside, why, sizeof(why));
    snprintf(x->aside + strlen(x->aside), sizeof(x->aside) - strlen(x->aside),
             "/job-%lld-%s-p%d", (long long)x->r.job, x->stamp, x->r.page);
    if (err == 0)
        err = pm__sched_reassemble(s, x->r.job, &x->page, x->aside, why,
                                   sizeof(why));
    if (err == -ECANCELED)
        replace_free(s); /* stopping: still pending */
    else if (err != 0)
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
        snprintf(buf, sizeof(buf), "the rescan %s: %s", x->src,
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

/* 1 when file `path` has SHA-256 `sha` (hex). */
static int has_digest(const char *path, const char *sha)
{
    char hex[PM_SHA256_HEX];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ok;

    if (fd < 0)
        return 0;
    ok = sha != NULL && pm_sha256_fd(fd, hex, NULL, NULL) == 0 &&
         strcmp(hex, sha) == 0;
    close(fd);
    return ok;
}

/* Page `page`'s old original (named `base`, SHA-256 `sha`) that an
 * earlier attempt moved into `dir` and stopped before recording, or NULL.
 * The newest of that name with that digest, so an original an earlier,
 * recorded replacement kept is never taken for it. */
static char *kept_before(const char *dir, int page, const char *base,
                         const char *sha)
{
    pm_buf_t b = {0};
    char *pattern = NULL, *found = NULL;
    glob_t g;

    /* The folder and the name matched as they are. */
    glob_literal(&b, dir);
    pm_buf_printf(&b, "/p%05d-*-", page);
    glob_literal(&b, base);
    if (pm_buf_take(&b, &pattern, NULL) == 0 &&
        glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = g.gl_pathc; i-- > 0 && found == NULL;) /* newest */
            if (has_digest(g.gl_pathv[i], sha))
                found = pm_strdup(g.gl_pathv[i]);
        globfree(&g);
    }
    pm_free(pattern);
    return found;
}

/* Moves the old page's original to spool/job-<id>/replaced/, unless
 * another page of the job is a frame of the same file. The new path (new
 * string) or NULL when it stays; when an earlier attempt moved it already,
 * that path. */
static char *keep_original(pm__serve_t *s, const pm__replace_t *x)
{
    const char *base = strrchr(x->old_src, '/');
    char *dir, *dst = NULL;

    if (x->shared || strcmp(x->r.old_src, x->r.src) == 0)
        return NULL;
    dir = pm_asprintf("%s/job-%lld/replaced", s->spool, (long long)x->r.job);
    if (dir != NULL && pm_mkdir_p(dir) == 0)
        dst = pm_asprintf("%s/p%05d-%s-%s", dir, x->r.page, x->stamp,
                          base ? base + 1 : x->old_src);
    if (dst != NULL && rename(x->old_src, dst) != 0) {
        int err = errno;

        pm_free(dst);
        dst = err == ENOENT
                  ? kept_before(dir, x->r.page, base ? base + 1 : x->old_src,
                                x->r.old_sha256)
                  : NULL;
        if (dst == NULL)
            pm_log(PM_LOG_WARN, "replace",
                   "job=%lld page=%d: the old original %s stays where it "
                   "is: cannot move it to %s: %s",
                   (long long)x->r.job, x->r.page, x->old_src, dir,
                   strerror(err));
    }
    pm_free(dir);
    return dst;
}

/* The folders a replacement set aside: the one its swap moved out of
 * the published place, and <that>-leftover, what an earlier attempt's
 * stop left in the temp folder (scheduler.c keep_leftover). Which holds
 * the previous published version and which an intermediate document a
 * stopped attempt assembled (never recorded) is read from their reports:
 * the replaced page's source. */
typedef struct set_aside {
    char *leftover;
    folder_kind_t aside_kind, leftover_kind;
    const char *previous; /* the folder with the previous version, or NULL */
} set_aside_t;

static void set_aside_read(const pm__replace_t *x, set_aside_t *a)
{
    a->leftover = pm_asprintf("%s-leftover", x->aside);
    a->aside_kind = folder_kind(x, x->aside);
    a->leftover_kind = a->leftover ? folder_kind(x, a->leftover) : FOLDER_NONE;
    a->previous = a->aside_kind == FOLDER_PREVIOUS      ? x->aside
                  : a->leftover_kind == FOLDER_PREVIOUS ? a->leftover
                                                        : NULL;
}

static const char *kind_text(folder_kind_t k)
{
    switch (k) {
    case FOLDER_PREVIOUS:
        return "the previous published version";
    case FOLDER_NEW:
        return "an intermediate document: assembled with this rescan by an "
               "attempt a stop cut short, never recorded in the catalog";
    case FOLDER_OTHER:
        return "not identified (its report does not name the page's old "
               "file or the rescan)";
    case FOLDER_NONE:
        break;
    }
    return "missing";
}

/* Adds {"folder", "holds", "recorded"} for `dir` to array `v` unless it
 * is missing; "recorded" (in the catalog) is null when not identified. */
static int record_folder(json_t *v, const char *dir, folder_kind_t k)
{
    if (k == FOLDER_NONE)
        return 0;
    return json_array_append_new(v, json_pack("{s:s, s:s, s:o}", "folder", dir,
                                              "holds", kind_text(k), "recorded",
                                              k == FOLDER_PREVIOUS ? json_true()
                                              : k == FOLDER_NEW ? json_false()
                                                                : json_null()));
}

/* The replacement's record beside its aside, <aside>.json: what is
 * published now, and which folder set aside holds what. */
static int write_record(const pm__replace_t *x, const set_aside_t *a,
                        const char *sha, int pdf_pages, const char *kept)
{
    json_t *folders = json_array();
    json_t *doc = json_pack(
        "{s:I, s:i, s:I, s:s?, s:{s:s, s:s, s:i}, s:s?, s:o, s:s?}", "job",
        (json_int_t)x->r.job, "page", x->r.page, "request", (json_int_t)x->r.id,
        "requested_by", x->r.actor, "published", "folder", x->published,
        "pdf_sha256", sha, "pdf_pages", pdf_pages, "previous_version",
        a->previous, "set_aside", json_incref(folders), "old_original", kept);
    char *path = pm_asprintf("%s.json", x->aside), *text = NULL;
    int err = doc && path && folders ? 0 : PM_ENOMEM;

    if (err == 0 && (record_folder(folders, x->aside, a->aside_kind) ||
                     (a->leftover &&
                      record_folder(folders, a->leftover, a->leftover_kind))))
        err = PM_ENOMEM;
    if (err == 0 &&
        (text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL)
        err = PM_ENOMEM;
    if (err == 0)
        err = pm_write_file_atomic(path, text, strlen(text));
    if (err != 0)
        pm_log(PM_LOG_WARN, "replace", "job=%lld: cannot write %s: %s",
               (long long)x->r.job, path ? path : x->aside, pm_strerror(err));
    free(text);
    pm_free(path);
    json_decref(folders);
    json_decref(doc);
    return err;
}

/* The log's words for the folders set aside, into buf[size]. */
static void set_aside_text(const pm__replace_t *x, const set_aside_t *a,
                           char *buf, size_t size)
{
    if (a->previous != NULL)
        snprintf(buf, size, "the previous published version is at %s",
                 a->previous);
    else
        snprintf(buf, size,
                 "neither %s nor %s-leftover holds the previous published "
                 "version as its report says (see the log above)",
                 x->aside, x->aside);
    if (a->aside_kind == FOLDER_NEW || a->leftover_kind == FOLDER_NEW)
        snprintf(buf + strlen(buf), size - strlen(buf),
                 "; %s holds an intermediate document an attempt a stop "
                 "cut short assembled with this rescan (never recorded)",
                 a->aside_kind == FOLDER_NEW ? x->aside : a->leftover);
}

/* The old original back where the catalog says it is (not recorded). */
static void put_back(const pm__replace_t *x)
{
    if (x->kept != NULL && rename(x->kept, x->old_src) != 0)
        pm_log(PM_LOG_ERROR, "replace", "cannot move %s back to %s: %s",
               x->kept, x->old_src, strerror(errno));
}

static int finish_work(pm_catalog_t *cat, void *arg)
{
    pm__replace_t *x = arg;
    int err = pm_replace_finish(cat, &x->r, &x->m, x->sha, x->pdf_pages,
                                x->kept_stored, pm__serve_now());

    if (err == PM_EINVAL) { /* the job is no longer done */
        snprintf(x->why, sizeof(x->why), "%s", pm_catalog_errmsg(cat));
        x->fail_err = pm_replace_fail(cat, &x->r, x->why, pm__serve_now());
    }
    return err;
}

static void finish_done(pm__serve_t *s, void *arg, int err, const char *msg)
{
    pm__replace_t *x = arg;

    if (err != 0) {
        pm_log(PM_LOG_ERROR, "replace",
               "job=%lld page=%d: published, but the catalog: %s%s",
               (long long)x->r.job, x->r.page,
               err == -ECANCELED  ? "stopped before it recorded it"
               : err == PM_EINVAL ? x->why
                                  : msg,
               (err == PM_EINVAL && x->fail_err == 0) || err == PM_ESTALE
                   ? ""
                   : " (the request stays pending and is done again)");
        put_back(x);
    } else {
        set_aside_t a;
        char where[3 * 4096 + 512];

        set_aside_read(x, &a);
        set_aside_text(x, &a, where, sizeof(where));
        write_record(x, &a, x->sha, x->pdf_pages, x->kept);
        pm_log(PM_LOG_INFO, "replace",
               "job=%lld page=%d replaced: %d words%s%s; published (PDF "
               "SHA-256 %s, %d pages); %s (record: %s.json)",
               (long long)x->r.job, x->r.page, x->page.words,
               x->page.review ? ", flagged for review: " : "",
               x->page.review ? x->page.review : "", x->sha, x->pdf_pages,
               where, x->aside);
        pm_free(a.leftover);
    }
    if (answered(s, x))
        replace_free(s);
}

/* The new document is in place: record it, off the loop. */
static void record_done(pm__serve_t *s, const char *sha, int pdf_pages)
{
    pm__replace_t *x = s->replace;
    pm_page_metrics_t *m = &x->m;

    snprintf(x->sha, sizeof(x->sha), "%s", sha ? sha : "");
    x->pdf_pages = pdf_pages;
    x->kept = keep_original(s, x);
    pm__sched_metrics(&x->page, m);
    m->orient_evidence = pm_orient_evidence_text(&x->page);
    m->image = pm_volume_stored(s->cfg, x->page.image);
    m->text_pdf = pm_volume_stored(s->cfg, x->page.text_pdf);
    m->text = pm_volume_stored(s->cfg, x->page.text);
    x->kept_stored = pm_volume_stored(s->cfg, x->kept);
    if ((x->kept && !x->kept_stored) || (x->page.image && !m->image) ||
        (x->page.text_pdf && !m->text_pdf) || (x->page.text && !m->text)) {
        pm_log(PM_LOG_ERROR, "replace",
               "job=%lld page=%d: published, but out of memory recording it "
               "(the request stays pending and is done again)",
               (long long)x->r.job, x->r.page);
        put_back(x);
        replace_free(s);
        return;
    }
    x->busy = 1; /* x stays through give's failure, to put it back */
    if (pm__catwork_give(s, finish_work, finish_done, x) != 0) {
        x->busy = 0;
        pm_log(PM_LOG_ERROR, "replace",
               "job=%lld page=%d: published, but the service is stopping "
               "(the request stays pending and is done again)",
               (long long)x->r.job, x->r.page);
        put_back(x);
        replace_free(s);
    }
}

void pm__replace_published(pm__serve_t *s, int err, const char *why,
                           const char *sha, int pdf_pages)
{
    if (s->replace == NULL)
        return;
    s->replace->publishing = 0;
    if (err == 0) {
        record_done(s, sha, pdf_pages); /* ends it once recorded */
        return;
    }
    if (pm__space_err(err) || err == -EAGAIN) {
        pm_log(PM_LOG_INFO, "replace",
               "job=%lld page=%d: stays pending, tried again later (%s)",
               (long long)s->replace->r.job, s->replace->r.page, why);
        replace_free(s);
        return;
    }
    replace_failed(s, why);
}

size_t pm__replace_busy(const pm__serve_t *s)
{
    /* its page on a worker, or its catalog work (a drain waits for it) */
    return s->replace != NULL && (s->replace->task != 0 || s->replace->busy);
}

void pm__replace_abandon(pm__serve_t *s)
{
    replace_free(s); /* a publish still running finds it gone */
}
