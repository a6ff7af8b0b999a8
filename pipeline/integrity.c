/*
 * integrity.c: `pagemill serve` makes sure it runs on the right catalog,
 * and a sound one (serve_int.h):
 *
 *   identity:  the catalog has an installation id; the spool and output
 *              folders carry it in a marker file (.pagemill-catalog,
 *              written atomically). A start refuses (exit 1, nothing
 *              moved) when a folder's marker names another catalog, or
 *              when the catalog is missing, empty or has no jobs while
 *              the spool or output already hold work without this
 *              catalog's marker: a new empty catalog would advise
 *              re-processing, and re-billing, everything. A catalog with
 *              jobs and unmarked folders (a pagemill from before markers)
 *              only gets the markers written.
 *   integrity: SQLite's quick_check at start (a failure refuses the
 *              start) and every integrity_check_minutes on a pool thread
 *              with a connection of its own; a failure while running
 *              stops intake and claiming, drains and exits 1.
 *
 * Every refusal says what to do: restore the catalog from a backup (its
 * path) or point the configuration at the right catalog.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/base/pm.h"
#include "pipeline/serve_int.h"

#define MARKER     ".pagemill-catalog"
#define ID_KEY     "installation_id = "
#define MINUTE_MS  60000u
#define REPORT_MAX 400 /* of quick_check's findings in the log line */
#define RESTORE_FMT                                                       \
    "Restore the catalog from a backup (stop pagemill, copy the backup "  \
    "over %s, with no %s-wal or %s-shm beside it), or point `catalog =` " \
    "in %s at the right catalog file"

/* One of the folders the catalog's work lives in. */
typedef struct root {
    const char *what; /* "spool", "output" */
    const char *path;
    char marker[PM_CATALOG_ID_SIZE]; /* its marker's id, or "" */
    int work;                        /* holds anything but the marker */
} root_t;

/* Logs why the start is refused, with what to do. */
static void refuse(const pm__serve_t *s, const char *why)
{
    const char *db = s->catalog_path;

    /* Two lines, so a long reason never cuts the advice off. */
    pm_log(PM_LOG_ERROR, "serve", "refusing to start: %s. Nothing was moved.",
           why);
    pm_log(PM_LOG_ERROR, "serve", RESTORE_FMT ".", db, db, db, s->config_path);
}

/* Reads the installation id of `dir`'s marker into id ("" when there is
 * none). 0, or -errno / PM_EINVAL for an unreadable or malformed one. */
static int marker_read(const char *dir, char id[PM_CATALOG_ID_SIZE])
{
    char *path = pm_asprintf("%s/%s", dir, MARKER), *p;
    unsigned char *text = NULL;
    size_t len = 0;
    int err = path ? pm_read_file(path, 4096, &text, &len) : PM_ENOMEM;

    id[0] = '\0';
    pm_free(path);
    if (err == PM_ENOENT)
        return 0;
    if (err != 0)
        return err;
    p = strstr((char *)text, ID_KEY);
    err = PM_EINVAL;
    if (p != NULL) {
        p += strlen(ID_KEY);
        if (strspn(p, "0123456789abcdef") == PM_CATALOG_ID_SIZE - 1) {
            memcpy(id, p, PM_CATALOG_ID_SIZE - 1);
            id[PM_CATALOG_ID_SIZE - 1] = '\0';
            err = 0;
        }
    }
    pm_free(text);
    return err;
}

/* Fills r->marker and r->work; a missing folder has neither. */
static int root_scan(root_t *r)
{
    DIR *d;
    struct dirent *e;
    int err = marker_read(r->path, r->marker);

    if (err != 0) {
        pm_log(PM_LOG_ERROR, "serve", "%s/%s: unreadable or malformed: %s",
               r->path, MARKER, pm_strerror(err));
        return err;
    }
    d = opendir(r->path);
    if (d == NULL)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            strcmp(e->d_name, MARKER) != 0)
            r->work = 1;
    closedir(d);
    return 0;
}

static int roots_scan(const pm__serve_t *s, root_t r[2])
{
    int err;

    memset(r, 0, 2 * sizeof(*r));
    r[0].what = "spool";
    r[0].path = s->spool;
    r[1].what = "output folder";
    r[1].path = s->output;
    err = root_scan(&r[0]);
    return err != 0 ? err : root_scan(&r[1]);
}

int pm__ident_precheck(pm__serve_t *s)
{
    const char *db = s->catalog_path;
    struct stat st;
    root_t r[2];
    char *why;
    int err;

    /* A file with data, or a server's database (whose emptiness only
     * opening shows): checked once it is open, by installation id. */
    if (pm_catalog_is_url(db) || (stat(db, &st) == 0 && st.st_size > 0))
        return 0;
    if ((err = roots_scan(s, r)) != 0)
        return err;
    for (int i = 0; i < 2; i++) {
        if (r[i].marker[0] == '\0' && !r[i].work)
            continue;
        why = pm_asprintf(
            "the catalog %s is %s, but the %s %s %s%s; a new, empty catalog "
            "would process and bill that work again",
            db, stat(db, &st) == 0 ? "empty (0 bytes)" : "missing", r[i].what,
            r[i].path,
            r[i].marker[0] ? "belongs to the catalog with installation id "
                           : "already holds work",
            r[i].marker);
        refuse(s, why ? why : "the catalog is missing");
        pm_free(why);
        return PM_ECONFIG;
    }
    return 0;
}

/* Writes the marker of this catalog into r->path (created if needed). */
static int marker_write(const pm__serve_t *s, const root_t *r)
{
    char *path = pm_asprintf("%s/%s", r->path, MARKER);
    char *text = pm_asprintf(
        "# This folder holds the work of the pagemill catalog named here.\n"
        "# pagemill serve refuses to start with another catalog.\n" ID_KEY
        "%s\ncatalog = %s\n",
        s->catalog_id, s->catalog_path);
    int err = path && text ? pm_mkdir_p(r->path) : PM_ENOMEM;

    if (err == 0)
        err = pm_write_file_atomic(path, text, strlen(text));
    if (err != 0)
        pm_log(PM_LOG_ERROR, "serve", "cannot write %s: %s",
               path ? path : MARKER, pm_strerror(err));
    else
        pm_log(PM_LOG_INFO, "serve", "%s: marked as the %s of catalog %s",
               r->path, r->what, s->catalog_id);
    pm_free(path);
    pm_free(text);
    return err;
}

/* The refusal for root `r` on this catalog, or NULL when it is fine. */
static char *root_mismatch(const pm__serve_t *s, const root_t *r, int64_t jobs)
{
    if (r->marker[0] != '\0' && strcmp(r->marker, s->catalog_id) != 0)
        return pm_asprintf("the %s %s belongs to the catalog with "
                           "installation id %s (%s/%s), not to %s (%s)",
                           r->what, r->path, r->marker, r->path, MARKER,
                           s->catalog_path, s->catalog_id);
    if (r->marker[0] == '\0' && r->work && jobs == 0)
        return pm_asprintf("the catalog %s has no jobs, but the %s %s already "
                           "holds work and no marker of this catalog; a new, "
                           "empty catalog would process and bill that work "
                           "again",
                           s->catalog_path, r->what, r->path);
    return NULL;
}

/* Markers: checked against the catalog, written where missing. */
static int ident_roots(pm__serve_t *s)
{
    int64_t jobs = 0;
    root_t r[2];
    char *why;
    int err = pm_catalog_job_count(s->cat, &jobs);

    if (err == 0)
        err = roots_scan(s, r);
    for (int i = 0; err == 0 && i < 2; i++) {
        if ((why = root_mismatch(s, &r[i], jobs)) != NULL) {
            refuse(s, why);
            pm_free(why);
            return PM_ECONFIG;
        }
    }
    for (int i = 0; err == 0 && i < 2; i++)
        if (r[i].marker[0] == '\0')
            err = marker_write(s, &r[i]);
    return err;
}

/* quick_check of `cat`: 0, PM_ECORRUPT (logged with what to do) or a
 * catalog error. */
static int quick_check(const pm__serve_t *s, pm_catalog_t *cat,
                       const char *when)
{
    char *report = NULL;
    int ok = 0, err = pm_catalog_quick_check(cat, &ok, &report);
    const char *db = s->catalog_path;

    if (err != 0) {
        pm_log(PM_LOG_ERROR, "serve", "integrity check of %s: %s", db,
               pm_catalog_errmsg(cat));
    } else if (!ok) {
        for (char *p = report; p != NULL && *p; p++)
            if (*p == '\n')
                *p = ';';
        if (report != NULL && strlen(report) > REPORT_MAX) /* the advice fits */
            strcpy(report + REPORT_MAX - 4, " ...");
        pm_log(PM_LOG_ERROR, "serve",
               "the catalog %s failed its integrity check %s (%s). " RESTORE_FMT
               "; `pagemill status --check` shows the full report.",
               db, when, report ? report : "?", db, db, db, s->config_path);
        err = PM_ECORRUPT;
    }
    pm_free(report);
    return err;
}

int pm__ident_check(pm__serve_t *s)
{
    int err = quick_check(s, s->cat, "at start");

    if (err == 0 && pm_catalog_installation_id(s->cat, s->catalog_id) != 0) {
        pm_log(PM_LOG_ERROR, "serve", "catalog %s: %s", s->catalog_path,
               pm_catalog_errmsg(s->cat));
        err = PM_ECATALOG;
    }
    return err != 0 ? err : ident_roots(s);
}

/* ---- the periodic check ---- */

static void check_work(uv_work_t *req)
{
    pm__serve_t *s = req->data;
    pm_catalog_t *cat = NULL;
    int err = pm_catalog_open(s->catalog_path, &cat);

    /* A file too damaged to open fails the check too. */
    s->check_err = err == PM_ENOMEM ? PM_ENOMEM /* tried again next time */
                   : err != 0       ? PM_ECORRUPT
                                    : quick_check(s, cat, "while running");
    if (err != 0)
        pm_log(PM_LOG_ERROR, "serve",
               "the catalog %s cannot be opened for its integrity check: %s",
               s->catalog_path, pm_strerror(err));
    pm_catalog_close(cat);
}

static void check_done(uv_work_t *req, int status)
{
    pm__serve_t *s = req->data;

    s->checking = 0;
    if (status == 0 && s->check_err == 0) {
        pm_log(PM_LOG_DEBUG, "serve", "catalog integrity check: ok");
    } else if (status == 0 && s->check_err == PM_ECORRUPT) {
        pm_log(PM_LOG_ERROR, "serve",
               "stopping: no new batches or pages; the tasks under way finish, "
               "then the service exits 1");
        pm__serve_fail(s);
    }
    pm__serve_maybe_stop(s);
}

static void on_check_timer(uv_timer_t *t)
{
    pm__serve_t *s = t->data;

    if (s->draining || s->checking)
        return;
    s->check_req.data = s;
    s->checking =
        uv_queue_work(s->loop, &s->check_req, check_work, check_done) == 0;
}

void pm__integrity_start(pm__serve_t *s)
{
    uint64_t period = (uint64_t)s->cfg->integrity_check_minutes * MINUTE_MS;
    const char *test_ms = getenv("PAGEMILL_TEST_INTEGRITY_MS");

    if (test_ms != NULL && atoll(test_ms) > 0)
        period = (uint64_t)atoll(test_ms);
    uv_timer_init(s->loop, &s->check_timer);
    s->check_timer.data = s;
    if (period > 0)
        uv_timer_start(&s->check_timer, on_check_timer, period, period);
}
