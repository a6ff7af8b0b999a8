/*
 * sched_publish.c: the pool thread side of publishing a job's assembly
 * (scheduler.c has the loop side): the PDF checked (pages, SHA-256), the
 * report naming the job's uid and catalog, the bag, fsync, and one
 * rename that never replaces; or, for a job-<id>/ already there, the
 * check that it is this job's, whole. Runs on libuv's thread pool with
 * the assembly alone: nothing here touches the catalog or the loop.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pipeline/base/pm.h"
#include "pipeline/publish.h"
#include "pipeline/report.h"
#include "pipeline/scheduler_int.h"

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
    json_t *doc = name && pdf && txt ? pm_report_head_json(&r) : NULL;

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
char *pm__assembly_file(const assembly_t *a, const char *dir, const char *ext)
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
                          .npages = a->npages,
                          .times = &a->times};
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
void pm__assembly_publish_work(uv_work_t *req)
{
    assembly_t *a = req->data;
    char *pdf = pm__assembly_file(a, a->tmp, "pdf");
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
    char *path = pm__assembly_file(a, a->final, ext), *old;

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

void pm__assembly_verify_work(uv_work_t *req)
{
    assembly_t *a = req->data;
    char *pdf = found_file(a, "pdf");
    char *report = found_file(a, "pages.json");

    a->err = pdf && report ? verify_folder(a, report, pdf) : PM_ENOMEM;
    pm_free(pdf);
    pm_free(report);
}

/* The job's error when its job-<id>/ folder is there and not its own. */
char *pm__assembly_not_ours(const assembly_t *a)
{
    return pm_asprintf("output folder %s already exists and is not this "
                       "job's output (%s); it was left as it is. Move it "
                       "away (it may come from a catalog that was replaced "
                       "or restored), then run `pagemill job retry %lld`",
                       a->final, a->why, (long long)a->job);
}
