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

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <qpdf/qpdf-c.h>

#include "pipeline/alto.h"
#include "pipeline/base/pm.h"
#include "workers/engine.h"

#ifndef PM_VERSION
#define PM_VERSION "dev"
#endif

/* SHA-256 of a file as 64 hex digits. 0 or -errno / PM_ENOMEM / PM_EIO. */
static int file_sha256(const char *path, char hex[PM_SHA256_HEX_SIZE])
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

int pm_pdf_inspect(const char *path, char sha256[PM_SHA256_HEX_SIZE],
                   int *pages, char *why, size_t size)
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

int pm_publish_swap(const char *tmp, const char *final, const char *aside)
{
    int err;

    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
        /* tmp now holds the old outputs. */
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, aside, RENAME_NOREPLACE) != 0 &&
            (errno != EINVAL || rename(tmp, aside) != 0))
            return -errno;
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    if (rename(final, aside) != 0)
        return -errno;
    if (rename(tmp, final) != 0) {
        err = -errno;
        rename(aside, final); /* the old outputs back */
        return err;
    }
    return 0;
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

/* The report as written (indented, keys in order), hashed as written. */
static int write_report(pm_bag_t *bag, const pm_job_outputs_t *o,
                        const char *rel, int *billable)
{
    char *text =
        o->report ? json_dumps(o->report, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
                  : NULL;
    int err =
        text == NULL ? PM_ENOMEM : pm_bag_write(bag, rel, text, strlen(text));

    *billable =
        (int)json_integer_value(json_object_get(o->report, "billable_pages"));
    free(text);
    return err;
}

/* data/job-<id>.alto.xml, when a page was read. */
static int write_alto(pm_bag_t *bag, const pm_job_outputs_t *o, char *why,
                      size_t size)
{
    char *xml = NULL, *rel = NULL;
    size_t len = 0;
    int err = pm_alto_merge(o->pages, o->npages, &xml, &len, why, size);

    if (err == 0 && xml != NULL) {
        rel = pm_asprintf("data/job-%lld.alto.xml", (long long)o->info.job);
        err = rel ? pm_bag_write(bag, rel, xml, len) : PM_ENOMEM;
        if (err != 0)
            snprintf(why, size, "cannot write %s/%s: %s", o->dir,
                     rel ? rel : "ALTO", pm_strerror(err));
    }
    pm_free(rel);
    pm_free(xml);
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

/* The PDF (digest known), the text (one read), events.json, the tags. */
static int write_bag(pm_bag_t *bag, const pm_job_outputs_t *o,
                     pm_bag_info_t *info, char *why, size_t size)
{
    char *pdf = pm_asprintf("data/job-%lld.pdf", (long long)info->job);
    char *txt = pm_asprintf("data/job-%lld.txt", (long long)info->job);
    char *events = json_dumps(o->events, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    const char *what = pdf;
    int err = pdf && txt && events ? 0 : PM_ENOMEM;

    if (err == 0)
        err = pm_bag_add_known(bag, pdf, o->pdf_sha256);
    if (err == 0 && (err = pm_bag_add_file(bag, txt)) != 0)
        what = txt;
    if (err == 0 && (err = add_master(bag, info->job)) != 0)
        what = "TIFF master";
    if (err == 0 && (err = pm_bag_write(bag, "metadata/events.json", events,
                                        strlen(events))) != 0)
        what = "metadata/events.json";
    if (err != 0)
        snprintf(why, size, "%s/%s: %s", o->dir, what ? what : "?",
                 pm_strerror(err));
    info->version = PM_VERSION;
    if (err == 0)
        err = pm_bag_finish(bag, info, why, size);
    pm_free(pdf);
    pm_free(txt);
    free(events);
    return err;
}

int pm_publish_outputs(const pm_job_outputs_t *o, char *why, size_t size)
{
    pm_bag_info_t info = o->info;
    char *rel = pm_asprintf("data/job-%lld.pages.json", (long long)info.job);
    pm_bag_t bag;
    int err = pm_bag_open(&bag, o->dir);

    if (err == 0)
        err =
            rel ? write_report(&bag, o, rel, &info.billable_pages) : PM_ENOMEM;
    if (err != 0)
        snprintf(why, size, "cannot write %s/%s: %s", o->dir,
                 rel ? rel : "data", pm_strerror(err));
    if (err == 0)
        err = write_alto(&bag, o, why, size);
    if (err == 0 && o->events != NULL)
        err = write_bag(&bag, o, &info, why, size);
    json_decref(o->report);
    pm_bag_cleanup(&bag);
    pm_free(rel);
    return err;
}
