/*
 * publish.c: the file side of publishing a job (publish.h). Nothing here
 * touches the catalog, so scheduler.c runs it on libuv's thread pool.
 *
 * A job folder is published by one rename that never replaces: an
 * existing output/<account>/<work order>/job-<id>/ (a catalog that lost
 * its jobs numbers them from 1 again) is left exactly as it is and the
 * caller fails the job, naming the folder. Its report names the job's
 * uid and catalog and the PDF's SHA-256 and pages, so a folder found
 * after a crash is accepted only when it is this job's and whole.
 */
#define _GNU_SOURCE /* renameat2 */
#include "pipeline/publish.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <qpdf/qpdf-c.h>

#include "pipeline/alto.h"
#include "pipeline/base/pm.h"
#include "pipeline/report.h"
#include "workers/engine.h"

#ifndef PM_VERSION
#define PM_VERSION "dev"
#endif

/* SHA-256 of a file as 64 hex digits. 0 or -errno / PM_ENOMEM / PM_EIO. */
static int file_sha256(const char *path, char hex[PM_SHA256_HEX])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int err = fd < 0 ? -errno : pm_sha256_fd(fd, hex, NULL, NULL);

    if (fd >= 0)
        close(fd);
    return err;
}

/* Page count of a PDF by qpdf, or -1 with qpdf's error in why. */
static int pdf_pages(const char *path, char *why, size_t size)
{
    qpdf_data q = qpdf_init();
    int n = -1;

    qpdf_silence_errors(q);
    qpdf_set_suppress_warnings(q, QPDF_TRUE);
    if ((qpdf_read(q, path, NULL) & QPDF_ERRORS) == 0)
        n = qpdf_get_num_pages(q);
    if (n < 0)
        snprintf(why, size, "%s: not a readable PDF: %s", path,
                 qpdf_has_error(q)
                     ? qpdf_get_error_full_text(q, qpdf_get_error(q))
                     : "no page tree");
    qpdf_cleanup(&q);
    return n;
}

int pm_pdf_inspect(const char *path, char sha256[PM_SHA256_HEX], int *pages,
                   char *why, size_t size)
{
    int err = file_sha256(path, sha256);

    *pages = -1;
    if (err != 0) {
        snprintf(why, size, "%s: %s", path, pm_strerror(err));
        return err;
    }
    *pages = pdf_pages(path, why, size);
    return *pages < 0 ? PM_EPDF : 0;
}

int pm_doc_ident_add(json_t *report, const pm_doc_ident_t *id)
{
    if (json_object_set_new(report, "job_uid", json_string(id->job_uid)) ||
        json_object_set_new(report, "catalog_id",
                            json_string(id->catalog_id)) ||
        json_object_set_new(report, "pdf_sha256",
                            json_string(id->pdf_sha256)) ||
        json_object_set_new(report, "pdf_pages", json_integer(id->pdf_pages)))
        return PM_ENOMEM;
    return 0;
}

/* Copies string member `key` of `o` into buf[size] when it has exactly
 * size - 1 characters; 0 or PM_EINVAL. */
static int ident_field(json_t *o, const char *key, char *buf, size_t size)
{
    const char *v = json_string_value(json_object_get(o, key));

    if (v == NULL || strlen(v) != size - 1)
        return PM_EINVAL;
    memcpy(buf, v, size);
    return 0;
}

int pm_doc_ident_read(const char *path, pm_doc_ident_t *out)
{
    json_error_t jerr;
    json_t *doc, *pages;
    struct stat st;
    int err;

    memset(out, 0, sizeof(*out));
    if (stat(path, &st) != 0)
        return -errno;
    doc = json_load_file(path, 0, &jerr);
    if (doc == NULL)
        return PM_EINVAL;
    pages = json_object_get(doc, "pdf_pages");
    err = ident_field(doc, "job_uid", out->job_uid, sizeof(out->job_uid));
    if (err == 0)
        err = ident_field(doc, "catalog_id", out->catalog_id,
                          sizeof(out->catalog_id));
    if (err == 0)
        err = ident_field(doc, "pdf_sha256", out->pdf_sha256,
                          sizeof(out->pdf_sha256));
    if (err == 0 && !json_is_integer(pages))
        err = PM_EINVAL;
    if (err == 0)
        out->pdf_pages = (int)json_integer_value(pages);
    json_decref(doc);
    return err;
}

/* Without RENAME_NOREPLACE (some network file systems): an exclusive
 * mkdir claims the name, and rename(2) may replace only an empty folder,
 * which is then ours. */
static int rename_claimed(const char *tmp, const char *final)
{
    if (mkdir(final, 0755) != 0)
        return -errno; /* EEXIST: someone's folder, left alone */
    if (rename(tmp, final) != 0) {
        int err = -errno;

        rmdir(final);
        return err;
    }
    return 0;
}

int pm_publish_rename(const char *tmp, const char *final)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EINVAL || errno == ENOSYS)
        return rename_claimed(tmp, final);
    return -errno;
}

#ifdef PM_TEST_HOOKS
/* Test hooks (test builds only, like workers/worker.c's): with
 * PAGEMILL_TEST_NO_EXCHANGE set the swap takes the two renames of a file
 * system without RENAME_EXCHANGE; PAGEMILL_TEST_SWAP_DIE names a flag
 * file, and the first swap after it appears removes it and kills the
 * process between its two steps, as a stop there would. */
static int test_exchange(const char *tmp, const char *final)
{
    const char *no = getenv("PAGEMILL_TEST_NO_EXCHANGE");

    if (no != NULL && *no != '\0') {
        errno = EINVAL;
        return -1;
    }
    return renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE);
}

static void test_swap_die(const char *final)
{
    const char *flag = getenv("PAGEMILL_TEST_SWAP_DIE");

    if (flag == NULL || *flag == '\0' || unlink(flag) != 0)
        return;
    pm_log(PM_LOG_WARN, "publish",
           "PAGEMILL_TEST_SWAP_DIE: killed in the middle of the swap of %s "
           "(test hook)",
           final);
    raise(SIGKILL);
}
#else
#define test_exchange(tmp, final) \
    renameat2(AT_FDCWD, (tmp), AT_FDCWD, (final), RENAME_EXCHANGE)
#define test_swap_die(final) ((void)0)
#endif

int pm_publish_swap(const char *tmp, const char *final, const char *aside)
{
    int err;

    if (test_exchange(tmp, final) == 0) {
        test_swap_die(final);
        /* tmp now holds the old outputs. */
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, aside, RENAME_NOREPLACE) != 0 &&
            (errno != EINVAL || rename(tmp, aside) != 0)) {
            err = -errno;
            /* The old outputs back in place and the new ones in tmp, as
             * before the call: a caller that removes tmp removes only
             * what it wrote. */
            if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) == 0)
                return err;
            /* Neither way: the new outputs are published (checked), the
             * old ones stay in tmp, never removed. */
            pm_log(PM_LOG_WARN, "publish",
                   "%s: published; the old outputs stay in %s (cannot move "
                   "them to %s: %s)",
                   final, tmp, aside, pm_strerror(err));
            return 0;
        }
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    if (rename(final, aside) != 0)
        return -errno;
    test_swap_die(final);
    if (rename(tmp, final) != 0) {
        err = -errno;
        rename(aside, final); /* the old outputs back */
        return err;
    }
    return 0;
}

/* The job of an assembly's page spool name (scheduler.c write_spool):
 * ".job-<id>.pages.jsonl" of a new job's assembly or
 * "job-<id>.replace.pages.jsonl" of a replaced page's, <id> decimal
 * digits without a leading zero; else 0. */
int64_t pm_publish_spool_job(const char *name)
{
    const char *p = name;
    int64_t id = 0;

    if (*p == '.')
        p++;
    if (strncmp(p, "job-", 4) != 0)
        return 0;
    p += 4;
    if (*p < '1' || *p > '9')
        return 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (id > (INT64_MAX - 9) / 10)
            return 0;
        id = id * 10 + (*p - '0');
    }
    if (name[0] == '.' ? strcmp(p, ".pages.jsonl") == 0
                       : strcmp(p, ".replace.pages.jsonl") == 0)
        return id;
    return 0;
}

/* Removes the stale page spools (regular files, by name) in work order
 * folder `dir`, but those of jobs `busy` says are in flight. */
static int sweep_workorder(int parent, const char *dir, const char *name,
                           int (*busy)(void *, int64_t), void *arg)
{
    int fd =
        openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    struct stat st;
    int removed = 0;

    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return 0; /* not a folder (or gone): nothing of ours */
    }
    while ((e = readdir(d)) != NULL) {
        int64_t job = pm_publish_spool_job(e->d_name);

        if (job == 0 || (busy != NULL && busy(arg, job)) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
            removed++;
            pm_log(PM_LOG_INFO, "publish",
                   "removed %s/%s/%s, the page spool of an assembly of job "
                   "%lld a stop cut short",
                   dir, name, e->d_name, (long long)job);
        } else if (errno != ENOENT) {
            pm_log(PM_LOG_WARN, "publish", "cannot remove %s/%s/%s: %s", dir,
                   name, e->d_name, strerror(errno));
        }
    }
    closedir(d);
    return removed;
}

/* The work order folders of account folder `name` in `dir`. */
static int sweep_account(int parent, const char *dir, const char *name,
                         int (*busy)(void *, int64_t), void *arg)
{
    int fd =
        openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    char *path = pm_asprintf("%s/%s", dir, name);
    struct dirent *e;
    int removed = 0;

    if (d == NULL && fd >= 0)
        close(fd);
    while (d != NULL && path != NULL && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' &&
            (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN))
            removed += sweep_workorder(dirfd(d), path, e->d_name, busy, arg);
    if (d != NULL)
        closedir(d);
    pm_free(path);
    return removed;
}

int pm_publish_sweep_spools(const char *output, int (*busy)(void *, int64_t),
                            void *arg)
{
    DIR *d = opendir(output);
    struct dirent *e;
    int removed = 0;

    if (d == NULL)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' &&
            (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN))
            removed += sweep_account(dirfd(d), output, e->d_name, busy, arg);
    closedir(d);
    return removed;
}

char *pm_job_output(const char *dir, int64_t job, const char *ext)
{
    return pm_asprintf("%s/data/job-%lld.%s", dir, (long long)job, ext);
}

int pm_job_output_dir(const char *dir, char *why, size_t size)
{
    char *data = pm_asprintf("%s/data", dir);
    int err = data == NULL ? PM_ENOMEM : 0;

    if (err == 0 && mkdir(data, pm_dir_mode) != 0)
        err = -errno;
    if (err != 0)
        snprintf(why, size, "cannot create the folder %s: %s",
                 data ? data : dir, pm_strerror(err));
    pm_free(data);
    return err;
}

/* The report (indented, keys in order; its pages written one at a time,
 * pm_report_emit), hashed as it is written. */
static int write_report(pm_bag_t *bag, const pm_job_outputs_t *o,
                        const char *rel, int *billable)
{
    char *path = pm_asprintf("%s/%s", bag->dir, rel), sha[PM_SHA256_HEX];
    int err = path == NULL || o->report == NULL ? PM_ENOMEM : 0;

    *billable =
        (int)json_integer_value(json_object_get(o->report, "billable_pages"));
    if (err == 0)
        err = pm_report_write_pages(path, json_incref(o->report), o->pages,
                                    o->npages, sha);
    if (err == 0)
        err = pm_bag_add_known(bag, rel, sha);
    pm_free(path);
    return err;
}

/* data/job-<id>.alto.xml, when a page was read (hashed as it is written). */
static int write_alto(pm_bag_t *bag, const pm_job_outputs_t *o, char *why,
                      size_t size)
{
    char *rel = pm_asprintf("data/job-%lld.alto.xml", (long long)o->info.job);
    char *path = rel ? pm_asprintf("%s/%s", o->dir, rel) : NULL;
    char sha[PM_SHA256_HEX];
    int written = 0, err = path ? pm_alto_write(o->pages, o->npages, path,
                                                &written, sha, why, size)
                                : PM_ENOMEM;

    if (err == 0 && written && (err = pm_bag_add_known(bag, rel, sha)) != 0)
        snprintf(why, size, "%s: %s", path, pm_strerror(err));
    else if (err == PM_ENOMEM && path == NULL)
        snprintf(why, size, "out of memory");
    pm_free(path);
    pm_free(rel);
    return err;
}

/* data/job-<id>.tif, when the profile wrote one (one read). */
static int add_master(pm_bag_t *bag, int64_t job)
{
    char *rel = pm_asprintf("data/job-%lld.tif", (long long)job);
    char *path = rel ? pm_asprintf("%s/%s", bag->dir, rel) : NULL;
    struct stat st;
    int err = path == NULL ? PM_ENOMEM : 0;

    if (err == 0 && lstat(path, &st) == 0)
        err = pm_bag_add_file(bag, rel);
    else if (err == 0 && errno != ENOENT)
        err = -errno;
    pm_free(path);
    pm_free(rel);
    return err;
}

/* The payload but the report: the PDF (digest known), the text and the
 * TIFF master (one read each); and events.json. */
static int bag_payload(pm_bag_t *bag, const pm_job_outputs_t *o, char *why,
                       size_t size)
{
    char *pdf = pm_asprintf("data/job-%lld.pdf", (long long)o->info.job);
    char *txt = pm_asprintf("data/job-%lld.txt", (long long)o->info.job);
    char *events = json_dumps(o->events, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    const char *what = pdf;
    int err = pdf && txt && events ? 0 : PM_ENOMEM;

    if (err == 0)
        err = pm_bag_add_known(bag, pdf, o->pdf_sha256);
    if (err == 0 && (err = pm_bag_add_file(bag, txt)) != 0)
        what = txt;
    if (err == 0 && (err = add_master(bag, o->info.job)) != 0)
        what = "TIFF master";
    if (err == 0 && (err = pm_bag_write(bag, "metadata/events.json", events,
                                        strlen(events))) != 0)
        what = "metadata/events.json";
    if (err != 0)
        snprintf(why, size, "%s/%s: %s", o->dir, what ? what : "?",
                 pm_strerror(err));
    pm_free(pdf);
    pm_free(txt);
    free(events);
    return err;
}

/* Adds the ALTO's and the bag's milliseconds to the report's archival_ms
 * (which the report has from the assembly, with the TIFF master's). */
static int add_times(json_t *report, const pm_publish_ms_t *t)
{
    json_t *times = json_object_get(report, "archival_ms");

    if (times == NULL) {
        times = json_object();
        if (json_object_set_new(report, "archival_ms", times) != 0)
            return PM_ENOMEM;
    }
    if (json_object_set_new(times, "alto", json_real(t->alto)) ||
        json_object_set_new(times, "bag", json_real(t->bag)))
        return PM_ENOMEM;
    return 0;
}

/* The finished bag holds exactly what it lists: a file that something
 * else left in the folder (a killed writer's temp file) is never
 * published. 0 or PM_EINVAL with the first fault in why[size]. */
static int check_written_bag(const char *dir, char *why, size_t size)
{
    char fault[1024];

    if (pm_bag_check(dir, 0, fault, sizeof(fault)) == 0)
        return 0;
    snprintf(why, size, "the bag does not check: %s", fault);
    return PM_EINVAL;
}

int pm_publish_outputs(const pm_job_outputs_t *o, char *why, size_t size)
{
    pm_bag_info_t info = o->info;
    char *rel = pm_asprintf("data/job-%lld.pages.json", (long long)info.job);
    pm_publish_ms_t t = {0};
    pm_bag_t bag;
    double t0 = pm_now_ms();
    int err = pm_bag_open(&bag, o->dir);

    if (err == 0)
        err = write_alto(&bag, o, why, size);
    else
        snprintf(why, size, "cannot create %s/data: %s", o->dir,
                 pm_strerror(err));
    t.alto = pm_now_ms() - t0;
    t0 = pm_now_ms();
    if (err == 0 && o->events != NULL)
        err = bag_payload(&bag, o, why, size);
    t.bag = pm_now_ms() - t0;
    if (err == 0) {
        /* The report last of the payload: it carries the times so far. */
        err = rel && o->report ? add_times(o->report, &t) : PM_ENOMEM;
        if (err == 0)
            err = write_report(&bag, o, rel, &info.billable_pages);
        if (err != 0)
            snprintf(why, size, "cannot write %s/%s: %s", o->dir,
                     rel ? rel : "data", pm_strerror(err));
    }
    t0 = pm_now_ms();
    info.version = PM_VERSION;
    if (err == 0 && o->events != NULL)
        err = pm_bag_finish(&bag, &info, why, size);
    if (err == 0 && o->events != NULL)
        err = check_written_bag(o->dir, why, size);
    t.finish = pm_now_ms() - t0;
    if (o->times != NULL)
        *o->times = t;
    json_decref(o->report);
    pm_bag_cleanup(&bag);
    pm_free(rel);
    return err;
}
