/*
 * publish.h: the file side of publishing a job of `pagemill serve`
 * (scheduler.c), safe to run on libuv's thread pool (no catalog): what
 * an assembled PDF is (SHA-256, page count), the identity a published
 * folder's report carries, and the one rename that publishes without
 * ever replacing a folder that is already there.
 */
#ifndef PM_PIPELINE_PUBLISH_H
#define PM_PIPELINE_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "pipeline/bag.h"
#include "pipeline/base/proto.h"

struct json_t;

/* Whose document a job folder holds, as its job-<id>.pages.json says. */
typedef struct pm_doc_ident {
    char job_uid[PM_CATALOG_ID_SIZE];    /* the job's uid */
    char catalog_id[PM_CATALOG_ID_SIZE]; /* its catalog's installation id */
    char pdf_sha256[PM_SHA256_HEX];
    int pdf_pages;
} pm_doc_ident_t;

/*
 * Reads PDF `path`: its SHA-256 into sha256 and its page count (qpdf)
 * into *pages. On failure returns a negative code with the reason (the
 * file and the fault) in why[size].
 */
int pm_pdf_inspect(const char *path, char sha256[PM_SHA256_HEX], int *pages,
                   char *why, size_t size);

/* Adds `id` to a report object as job_uid, catalog_id, pdf_sha256 and
 * pdf_pages. 0 or PM_ENOMEM. */
int pm_doc_ident_add(struct json_t *report, const pm_doc_ident_t *id);

/* Reads those four fields back from report file `path`: 0, PM_ENOENT
 * when the file is missing, PM_EINVAL when it is not a report carrying
 * them (a folder published before identities existed), or -errno. */
int pm_doc_ident_read(const char *path, pm_doc_ident_t *out);

/*
 * Renames folder `tmp` to `final`, never replacing anything: -EEXIST
 * (nothing changed) when `final` exists, even as an empty folder.
 * renameat2(RENAME_NOREPLACE), or where the file system lacks it an
 * exclusive mkdir of `final` and a rename onto that empty folder.
 */
int pm_publish_rename(const char *tmp, const char *final);

/*
 * Puts folder `tmp` (new outputs, written and checked) in place of the
 * published folder `final`, and the old one at `aside` (which must not
 * exist; its parent must). renameat2(RENAME_EXCHANGE) swaps the two in one
 * step, so `final` is always a whole folder, old or new; then the old one
 * moves from `tmp` to `aside`. Where the file system lacks the exchange:
 * `final` to `aside`, then `tmp` to `final` (a crash between the two
 * leaves no `final`, and the old outputs at `aside`: replace.c puts them
 * back before it swaps again). 0 or -errno; on
 * failure `final` is the old folder and `tmp` the new one, as before the
 * call (when the old one cannot move to `aside` after the exchange, they
 * are exchanged back); if even that fails, 0 with the new folder
 * published and the old one left in `tmp` (logged): never removed.
 */
int pm_publish_swap(const char *tmp, const char *final, const char *aside);

/* The job whose assembly page spool file `name` is (scheduler.c
 * write_spool: ".job-<id>.pages.jsonl", or "job-<id>.replace.pages.jsonl"
 * of a replaced page's re-assembly), or 0 when the name is not exactly
 * that. */
int64_t pm_publish_spool_job(const char *name);

/*
 * Removes the page spools an assembly cut short by a stop left in the
 * work order folders output/<account>/<work order>/: regular files whose
 * name is exactly a spool's (pm_publish_spool_job), except those of jobs
 * for which busy(arg, job) is non-zero (assemblies in flight; NULL: none).
 * Each removal is logged. Nothing else is touched: no other name, no
 * link, no folder, no folder starting with '.' (.replaced/). The number
 * removed, or -errno when `output` cannot be read.
 */
int pm_publish_sweep_spools(const char *output, int (*busy)(void *, int64_t),
                            void *arg);

/*
 * A job folder's outputs are in its data/ folder (the bag's payload, also
 * without a bag): file `ext` ("pdf", "txt", "pages.json") of job `job` in
 * folder `dir` is dir/data/job-<job>.<ext>. A new string, or NULL.
 */
char *pm_job_output(const char *dir, int64_t job, const char *ext);

/* Creates dir/data; 0 or -errno with the folder and fault in why[size]. */
int pm_job_output_dir(const char *dir, char *why, size_t size);

/* Milliseconds publishing spent on the archival outputs. */
typedef struct pm_publish_ms {
    double alto;   /* merging and writing the job's ALTO */
    double bag;    /* the payload's digests (the text and the TIFF master
                    * read once each) and events.json, before the report */
    double finish; /* after the report: bagit.txt, bag-info.txt and the
                    * two manifests */
} pm_publish_ms_t;

/* What pm_publish_outputs writes into a job's temp folder. */
typedef struct pm_job_outputs {
    const char *dir;        /* the temp folder, the PDF and text in data/ */
    const char *pdf_sha256; /* the PDF's, as checked */
    struct json_t *report;  /* the job's report (taken), NULL: no memory;
                             * its page_results are written from pages
                             * (pm_report_emit) */
    struct json_t *events;  /* metadata/events.json (borrowed); NULL: the
                             * folder is not made a bag */
    pm_bag_info_t info;     /* bag-info.txt; billable_pages is read from
                             * the report */
    const pm_page_result_t *pages; /* for the ALTO document and the
                                    * report's page_results */
    size_t npages;
    pm_publish_ms_t *times; /* set to the times taken, or NULL */
} pm_job_outputs_t;

/*
 * Writes the pages' ALTO merged into data/job-<id>.alto.xml (when a page
 * was read), the report to data/job-<id>.pages.json (last of the payload,
 * with the ALTO's and the bag's times so far in its archival_ms) and, with
 * events, makes the folder a bag: the PDF's digest is the one given, the
 * text and TIFF master are hashed by one read, the report and events.json
 * as they are written, then checks that the bag holds exactly the files
 * it lists (a killed writer's temp file is never published: PM_EINVAL).
 * 0 or a negative code with the file and the fault in why[size].
 */
int pm_publish_outputs(const pm_job_outputs_t *o, char *why, size_t size);

#endif /* PM_PIPELINE_PUBLISH_H */
