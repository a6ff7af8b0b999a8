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

#include "catalog/catalog.h"

struct json_t;

/* Hex SHA-256 and its NUL. */
#define PM_SHA256_HEX_SIZE 65

/* Whose document a job folder holds, as its job-<id>.pages.json says. */
typedef struct pm_doc_ident {
    char job_uid[PM_CATALOG_ID_SIZE];    /* the job's uid */
    char catalog_id[PM_CATALOG_ID_SIZE]; /* its catalog's installation id */
    char pdf_sha256[PM_SHA256_HEX_SIZE];
    int pdf_pages;
} pm_doc_ident_t;

/*
 * Reads PDF `path`: its SHA-256 into sha256 and its page count (qpdf)
 * into *pages. On failure returns a negative code with the reason (the
 * file and the fault) in why[size].
 */
int pm_pdf_inspect(const char *path, char sha256[PM_SHA256_HEX_SIZE],
                   int *pages, char *why, size_t size);

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
 * leaves no `final`, and the old outputs at `aside`). 0 or -errno; on
 * failure `final` is the old folder or the new one, never neither unless
 * the fallback's second rename failed (then the old one is put back).
 */
int pm_publish_swap(const char *tmp, const char *final, const char *aside);

#endif /* PM_PIPELINE_PUBLISH_H */
