/*
 * job_rules.h: the jobs' glue that is the same on every backend. The
 * steps of a job's state changes (release, retry, cancel, finish, fail),
 * checking a new job's pages, the text a failed job's error names its
 * failed pages with, settling a job whose pages have all finished
 * (failed or on to assembly), the counts `status` adds up, the workers'
 * state names, and the records' argument and identifier checks: the SQL
 * under them is the backends' (sqlite_*.c, pg_*.c), the order of the
 * steps, the decisions and the words said are here. A backend hands
 * these functions a table of its primitives (pm__job_io_t), as
 * ledger_rules.h does for the ledger. Never used outside catalog/.
 */
#ifndef PM_CATALOG_JOB_RULES_H
#define PM_CATALOG_JOB_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "catalog/ledger_rules.h"
#include "pipeline/base/buf.h"

/* How many failed pages a failed job's error names before "and N more". */
#define PM__FAILED_PAGES_NAMED 20

/*
 * Copies a SHA-256 in hex to out[65], lower-cased; -1 (out holds what
 * was hex) if `in` is not one. Accepts NULL.
 */
int pm__job_sha256_normalize(const char *in, char out[65]);

/*
 * 0 when `pages` can make a job (1 to INT_MAX pages, each with a source
 * file and a SHA-256); else PM_EINVAL with the handle's message naming
 * the page.
 */
int pm__job_check_pages(pm_catalog_t *cat, const pm_page_input_t *pages,
                        size_t npages);

/*
 * PM_EINVAL with the handle's message naming the first page whose
 * checksum is not a SHA-256; 0 when all are.
 */
int pm__job_check_checksums(pm_catalog_t *cat, const pm_page_input_t *pages,
                            size_t npages);

/*
 * The detail of a new job's "job.created" event ("12 pages", "12 pages,
 * held: why"): a new string the caller frees with pm_free; NULL when out
 * of memory.
 */
char *pm__job_created_detail(const pm_job_t *j, size_t npages);

/* The failed pages of one job, added one at a time in page order. */
typedef struct pm__failed_pages {
    pm_buf_t b;
    int count;
} pm__failed_pages_t;

/*
 * Adds one failed page (its number, source file, 0-based frame and
 * error, NULL when none was said) to f: "page 3 (scan_0003.tif frame 1):
 * why". The strings are borrowed.
 */
void pm__failed_pages_add(pm__failed_pages_t *f, int64_t page, const char *src,
                          int64_t frame, const char *error);

/*
 * Ends f: stores in *text the pages' text, a new string the caller frees
 * with pm_free, or NULL when no page was added; PM_ENOMEM (and *text
 * NULL) when the text ran out of memory. f is empty again after.
 */
int pm__failed_pages_end(pm__failed_pages_t *f, char **text);

/*
 * A backend's primitives for a job's state changes, each inside the
 * caller's transaction, 0 or a negative code with the handle's message
 * set unless it says otherwise.
 */
typedef struct pm__job_io {
    /* Transactions, the billing lock, events, the clock, billing months
     * and cancel credits: the backend's ledger primitives. */
    const pm__ledger_io_t *ledger;
    /* Reads (and, where rows can be locked, locks until the transaction
     * ends) the state of job `job` into name[32]: PM_ENOENT, with no
     * message, when there is no such job. */
    int (*state_lock)(pm_catalog_t *cat, int64_t job, char name[32]);
    /* Adds each failed page of `job` to f (pm__failed_pages_add), in
     * page order. */
    int (*failed_pages)(pm_catalog_t *cat, int64_t job, pm__failed_pages_t *f);
    int (*set_state)(pm_catalog_t *cat, int64_t job, pm_job_state_t s,
                     int64_t now);
    /* Sets the job failed, with `why` as its error. */
    int (*set_failed)(pm_catalog_t *cat, int64_t job, const char *why,
                      int64_t now);
    /* Queues the job again (no hold reason, no error). */
    int (*requeue)(pm_catalog_t *cat, int64_t job, int64_t now);
    /* Queues its failed pages again with a fresh attempt budget; *pages
     * is how many. */
    int (*tasks_retry)(pm_catalog_t *cat, int64_t job, int *pages);
    /* Takes the lease of its running pages (their results are refused). */
    int (*tasks_unlease)(pm_catalog_t *cat, int64_t job);
    /* Sets the job done, billed in `month` (unless it was already). */
    int (*set_done)(pm_catalog_t *cat, int64_t job, const char *output_path,
                    const char *pdf_sha256, int pdf_pages, const char *month,
                    int64_t now);
    /* Tells whoever claims pages that the job has some; NULL when the
     * backend's claimers poll (SQLite). */
    int (*pages_ready)(pm_catalog_t *cat, int64_t job);
} pm__job_io_t;

/*
 * Settles job `job`, which has nothing left to run: failed, its error
 * naming its failed pages, if a page failed; else on to assembly. Each
 * with its event.
 */
int pm__job_settle(const pm__job_io_t *io, pm_catalog_t *cat, int64_t job,
                   int64_t now);

/* The operations of catalog.h, on a backend's primitives: each one
 * transaction. */
int pm__job_release(const pm__job_io_t *io, pm_catalog_t *cat, int64_t id,
                    const char *actor);
int pm__job_retry(const pm__job_io_t *io, pm_catalog_t *cat, int64_t id,
                  const char *actor);
int pm__job_cancel(const pm__job_io_t *io, pm_catalog_t *cat, int64_t id,
                   const char *actor, const char *reason);
int pm__job_finish_doc(const pm__job_io_t *io, pm_catalog_t *cat, int64_t id,
                       const char *output_path, const char *pdf_sha256,
                       int pdf_pages, int64_t now);
int pm__job_fail(const pm__job_io_t *io, pm_catalog_t *cat, int64_t id,
                 const char *why, int64_t now);

/* Adds to s the `count` jobs in state `state` (a job state's name; an
 * unknown one, or cancelled, counts nowhere). */
void pm__status_count_jobs(pm_status_t *s, const char *state, int64_t count);

/* Adds to s the `count` pages in task state `state` (queued, else
 * running). */
void pm__status_count_pages(pm_status_t *s, const char *state, int64_t count);

/* The worker state named `name`; starting for NULL or an unknown name. */
pm_worker_state_t pm__worker_state_parse(const char *name);

/* Completes the node rows v[0..n) a backend read (owner, slots, busy,
 * heartbeat, load1, pages_hour): each one's role, node name and pid out of
 * its owner, and its state at `now` (catalog/nodes.c). PM_ENOMEM. */
int pm__node_fill(pm_node_info_t *v, size_t n, int64_t now);

/* Frees one node row's strings and zeroes it (for pm__*_collect). */
void pm__node_cleanup(void *item);

/* Nonzero, with the reason as the handle's message (PM_EINVAL), when `s`
 * may not be an identifier of `kind` (pm_ident_check). */
int pm__ident_refused(pm_catalog_t *cat, pm_ident_kind_t kind, const char *s);

/* The argument checks of the records (catalog.h): 0, or PM_EINVAL with
 * the handle's message saying what is missing or wrong. */
int pm__check_job_id(pm_catalog_t *cat, int64_t job);
int pm__check_event(pm_catalog_t *cat, const char *actor, const char *kind,
                    int64_t job, int page);
int pm__check_account(pm_catalog_t *cat, const pm_account_t *a,
                      const char *actor);
int pm__check_workorder(pm_catalog_t *cat, const pm_workorder_t *w,
                        const char *actor);
int pm__check_workorder_close(pm_catalog_t *cat, const char *number,
                              const char *actor);

#endif /* PM_CATALOG_JOB_RULES_H */
