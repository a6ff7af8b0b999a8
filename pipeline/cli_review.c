/*
 * cli_review.c: the catalog commands about pages a person should look at
 * (cli_int.h): `job list --review` (jobs with pages flagged for review)
 * and `job replace-page JOB PAGE FILE`, which checks a rescan as intake
 * checks pages, copies it into the spool beside the job's work folder and
 * records the request in the catalog; the coordinator redoes the page and
 * re-publishes the job (scheduler.c), at its next start when the service
 * is not running.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/volume.h"
#include "pipeline/base/pm.h"
#include "pipeline/cli_int.h"
#include "pipeline/counter.h"
#include "workers/engine.h"

/* ---- job list --review ---- */

static json_t *review_json(const void *p)
{
    const pm_review_job_t *r = p;

    return json_pack("{s:I, s:o, s:o, s:s, s:i, s:o}", "id", (json_int_t)r->job,
                     "workorder", pm_json_str(r->workorder), "account",
                     pm_json_str(r->account), "state",
                     pm_job_state_name(r->state), "review_pages", r->pages,
                     "reasons", pm_json_str(r->reasons));
}

static int review_print(const cli_t *c, const pm_review_job_t *v, size_t n)
{
    static const char *const heads[] = {"ID",    "WORK ORDER", "ACCOUNT",
                                        "STATE", "FLAGGED",    "WHY"};
    char id[24], pages[24];
    table_t t;

    cli_table_init(&t, heads, 6, "rlllrl");
    for (size_t i = 0; i < n; i++) {
        const char *row[] = {cli_fmt_int(id, v[i].job),
                             v[i].workorder,
                             v[i].account,
                             pm_job_state_name(v[i].state),
                             cli_fmt_int(pages, v[i].pages),
                             v[i].reasons};
        cli_table_row(&t, row);
    }
    return cli_table_emit(c, &t, "no pages flagged for review");
}

int cli_job_list_review(cli_t *c)
{
    pm_review_job_t *v;
    size_t n;
    int err, rc;

    err = pm_review_jobs(c->cat, &v, &n);
    if (err)
        return cli_fail(c, err);
    rc = c->json ? cli_emit_json(c, cli_jlist(v, n, sizeof(*v), review_json))
                 : review_print(c, v, n);
    pm_review_job_list_free(v, n);
    return rc;
}

/* ---- job replace-page ---- */

/* One line "<prefix>: <message>" on stderr; returns `rc`. */
static int refuse(const cli_t *c, int rc, const char *msg)
{
    fprintf(stderr, "%s: %s\n", c->prefix, msg);
    return rc;
}

/* PAGE: a positive number. */
static int parse_page(const cli_t *c, const char *s, int *page)
{
    char *end = NULL;
    long v = 0;

    if (s[0] >= '0' && s[0] <= '9')
        v = strtol(s, &end, 10);
    if (end == NULL || *end != '\0' || v <= 0 || v > INT_MAX) {
        fprintf(stderr, "%s: '%s' is not a page number (1 or more)\n",
                c->prefix, s);
        return PM_EXIT_USAGE;
    }
    *page = (int)v;
    return PM_EXIT_OK;
}

/* Opens the rescan as intake opens a page: never through a symlink, a
 * regular file, not empty. The descriptor in *fd, or an exit status with
 * the refusal printed. */
static int open_rescan(const cli_t *c, const char *file, int *fd)
{
    struct stat st = {0};
    char msg[PATH_MAX + 128];

    *fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (*fd < 0) {
        snprintf(msg, sizeof(msg), "cannot open %s: %s", file,
                 errno == ELOOP ? "it is a symbolic link (give the file "
                                  "itself)"
                                : strerror(errno));
        return refuse(c, PM_EXIT_USAGE, msg);
    }
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        snprintf(msg, sizeof(msg), "%s is %s", file,
                 !S_ISREG(st.st_mode) ? "not a regular file"
                                      : "empty (zero bytes)");
        close(*fd);
        *fd = -1;
        return refuse(c, PM_EXIT_USAGE, msg);
    }
    return PM_EXIT_OK;
}

/* Counts the rescan's pages in a child (`pagemill count-frames`), as
 * intake does: it must be one supported image of one page. */
static int check_one_page(const cli_t *c, int fd, const char *file)
{
    /* A rescan is an image: a PDF with a text layer is refused. */
    pm_counter_opts_t o = {"/proc/self/exe", c->cfg->worker_memory_mb, 60000,
                           1};
    pm_frame_count_t fc = {0, 0, NULL, 0};
    const char *names[1] = {file};
    char msg[PATH_MAX + 512], *why = NULL;
    size_t done = 0;
    int err, rc = PM_EXIT_OK;

    err = pm_count_frames_child(&o, &fd, names, 1, &fc, &done, &why);
    if (err != 0)
        snprintf(msg, sizeof(msg), "cannot count the pages of %s: %s", file,
                 why ? why : pm_strerror(err));
    else if (fc.err != 0)
        snprintf(msg, sizeof(msg), "%s", fc.msg ? fc.msg : "unreadable");
    else if (fc.frames != 1)
        snprintf(msg, sizeof(msg),
                 "%s has %d pages; a rescan replaces one page", file,
                 fc.frames);
    if (err != 0 || fc.err != 0 || fc.frames != 1)
        rc = refuse(
            c, err == PM_EWORKER || err == 0 ? PM_EXIT_USAGE : PM_EXIT_FAILURE,
            msg);
    pm_frame_counts_cleanup(&fc, 1);
    pm_free(why);
    return rc;
}

/* The rescan's place in the spool: <spool>/job-<id>/rescans/
 * p<page>-<UTC time><extension>, the spool being the folder of the job's
 * batch. A new string, or NULL. */
static char *rescan_path(const pm_config_t *cfg, const pm_job_t *j, int page,
                         const char *file)
{
    const char *dot = strrchr(file, '.'), *slash = strrchr(file, '/');
    char *spool = pm_volume_local(cfg, j->source_path, "replace-page");
    char *s, *path = NULL;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;

    if (spool == NULL || (s = strrchr(spool, '/')) == NULL) {
        pm_free(spool);
        return NULL;
    }
    *s = '\0';
    if (dot == NULL || (slash != NULL && dot < slash) || strlen(dot) > 6 ||
        strchr(dot, '/') != NULL)
        dot = "";
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    path = pm_asprintf("%s/job-%lld/rescans/p%05d-%s-%d%s", spool,
                       (long long)j->id, page, stamp, (int)getpid(), dot);
    pm_free(spool);
    return path;
}

/* Copies the open rescan to `dest` (temp file, fsync, rename, fsync
 * folder), hashing what it copies into sha. 0 or an error, with msg. */
static int copy_rescan(int fd, const char *dest, char sha[PM_SHA256_HEX],
                       char *msg, size_t size)
{
    char *dir = pm_strdup(dest), *tmp = NULL, *s;
    int out = -1, err;

    if (dir == NULL || (s = strrchr(dir, '/')) == NULL) {
        pm_free(dir);
        return PM_ENOMEM;
    }
    *s = '\0';
    err = pm_mkdir_p(dir);
    if (err == 0)
        err = pm_tmp_create(dest, &tmp, &out);
    if (err == 0 && lseek(fd, 0, SEEK_SET) != 0)
        err = -errno;
    if (err == 0)
        err = pm_sha256_fd(fd, sha, pm_write_sink, &out);
    if (out >= 0 && close(out) != 0 && err == 0)
        err = -errno;
    if (err == 0)
        err = pm_commit_file(tmp, dest);
    else if (tmp != NULL)
        unlink(tmp);
    if (err != 0)
        snprintf(msg, size, "cannot copy the rescan to %s: %s", dest,
                 pm_strerror(err));
    pm_free(tmp);
    pm_free(dir);
    return err;
}

/* Copies the checked rescan into the spool and records the request. */
static int record_replacement(cli_t *c, int fd, int page, const char *file)
{
    pm_job_t j = {0};
    char sha[PM_SHA256_HEX], msg[PATH_MAX + 256];
    char *dest = NULL, *stored = NULL;
    int64_t id = 0;
    int err, rc = PM_EXIT_OK;

    err = pm_job_get(c->cat, c->id, &j);
    if (err != 0)
        return cli_fail(c, err);
    dest = j.source_path ? rescan_path(c->cfg, &j, page, file) : NULL;
    if (dest == NULL) {
        pm_job_cleanup(&j);
        return refuse(c, PM_EXIT_FAILURE,
                      "the job's batch has no place in the spool");
    }
    if (copy_rescan(fd, dest, sha, msg, sizeof(msg)) != 0) {
        rc = refuse(c, PM_EXIT_FAILURE, msg);
    } else if ((stored = pm_volume_stored(c->cfg, dest)) == NULL) {
        rc = cli_fail(c, PM_ENOMEM);
    } else if ((err = pm_replace_request(c->cat, c->id, page, stored, sha,
                                         c->actor, (int64_t)time(NULL), &id)) !=
               0) {
        unlink(dest);
        rc = cli_fail(c, err);
    } else if (c->json) {
        rc = cli_emit_json(
            c, json_pack("{s:I, s:I, s:i, s:s, s:s, s:s}", "request",
                         (json_int_t)id, "job", (json_int_t)c->id, "page", page,
                         "src", dest, "sha256", sha, "state", "pending"));
    } else {
        printf("job %lld page %d: replacement %lld recorded (%s, SHA-256 "
               "%s); the service redoes the page and re-publishes the job "
               "(at its next start if it is not running)\n",
               (long long)c->id, page, (long long)id, dest, sha);
    }
    pm_free(stored);
    pm_free(dest);
    pm_job_cleanup(&j);
    return rc;
}

int cli_job_replace_page(cli_t *c)
{
    const char *file = c->extra[1];
    int page = 0, fd = -1, rc, err;

    rc = parse_page(c, c->extra[0], &page);
    if (rc != PM_EXIT_OK)
        return rc;
    /* The job and page first: a wrong job is refused before the file is
     * read at all. */
    err = pm_replace_check(c->cat, c->id, page);
    if (err != 0)
        return cli_fail(c, err);
    rc = open_rescan(c, file, &fd);
    if (rc == PM_EXIT_OK)
        rc = check_one_page(c, fd, file);
    if (rc == PM_EXIT_OK)
        rc = record_replacement(c, fd, page, file);
    if (fd >= 0)
        close(fd);
    return rc;
}
