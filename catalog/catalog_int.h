/*
 * catalog_int.h: catalog internals shared between the SQLite backend and
 * its tests, never used by the rest of pagemill: the schema version this
 * build migrates to; probes that let the tests prove the hot statements
 * use indexes (their query plan, and how much work they do) without
 * timing anything; and one that reads the connection's own settings.
 * And the backends' table of operations, which catalog.c dispatches the
 * public functions of catalog.h and monitor.h through.
 */
#ifndef PM_CATALOG_INT_H
#define PM_CATALOG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "catalog/monitor.h"
#include "catalog/paths.h"

/* Number of the last migration in sqlite_schema.c (what a fresh open
 * reports). */
#define PM__CATALOG_SCHEMA_VERSION 8

/* The probes below are SQLite's: they take SQLite handles only. */

/*
 * Test probe: creates the catalog file `path` as a pagemill of schema
 * `version` (1..PM__CATALOG_SCHEMA_VERSION) made it: only migrations
 * 1..version applied. PM_EEXIST if the file exists.
 */
int pm__catalog_create_at_version(const char *path, int version);

/*
 * Writes the EXPLAIN QUERY PLAN of the prepared statement called `name`
 * (the names in the sqlite_*.c statement tables, e.g. "claim_pick"), one plan
 * row per line, into *plan: a new string the caller frees with pm_free.
 * PM_ENOENT for an unknown name.
 */
int pm__catalog_plan(pm_catalog_t *cat, const char *name, char **plan);

/*
 * Returns the sqlite3_stmt_status() counter `op` (SQLITE_STMTSTATUS_*) of
 * the prepared statement called `name`, resetting it when `reset` is set;
 * -1 for an unknown name.
 */
int pm__catalog_stmt_counter(pm_catalog_t *cat, const char *name, int op,
                             int reset);

/*
 * PostgreSQL: EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) of the catalog's
 * prepared statement `name` (the names in the pg_*.c statement tables,
 * e.g. "claim_n") with the n text parameters `params`, run on the
 * catalog's own session in a transaction rolled back; the plan, one row
 * per line, into *plan (the caller frees it with pm_free).
 */
int pm__pg_explain(pm_catalog_t *cat, const char *name,
                   const char *const *params, int n, char **plan);

/*
 * Reads `PRAGMA <name>` on the catalog's own connection (settings such as
 * synchronous are per connection, invisible from another one) into buf.
 */
int pm__catalog_pragma(pm_catalog_t *cat, const char *name, char *buf,
                       size_t size);

/* ---- backends: SQLite (sqlite_*.c) and PostgreSQL (pg_*.c) ---- */

/*
 * Every public function that takes a handle, except pm_catalog_close and
 * pm_catalog_errmsg: X(name without "pm_", (parameters), (arguments)).
 * catalog.c defines pm_<name> as a call of the handle's backend's
 * operation; a backend that leaves one NULL does not implement it yet, and
 * the call returns PM_EUNSUPP with a message that says so.
 */
/* clang-format off */
#define PM__CATALOG_OPS(X)                                                    \
    X(catalog_lock_coordinator,                                               \
      (pm_catalog_t *cat, long *holder),                                      \
      (cat, holder))                                                          \
    X(catalog_schema_version,                                                 \
      (pm_catalog_t *cat, int *version),                                      \
      (cat, version))                                                         \
    X(catalog_check,                                                          \
      (pm_catalog_t *cat, int *ok, char **report),                            \
      (cat, ok, report))                                                      \
    X(catalog_installation_id,                                                \
      (pm_catalog_t *cat, char id[PM_CATALOG_ID_SIZE]),                       \
      (cat, id))                                                              \
    X(catalog_job_count, (pm_catalog_t *cat, int64_t *n), (cat, n))           \
    X(catalog_quick_check,                                                    \
      (pm_catalog_t *cat, int *ok, char **report),                            \
      (cat, ok, report))                                                      \
    X(job_uid,                                                                \
      (pm_catalog_t *cat, int64_t job, char uid[PM_CATALOG_ID_SIZE]),         \
      (cat, job, uid))                                                        \
    X(event_add,                                                              \
      (pm_catalog_t *cat, const char *actor, const char *kind, int64_t job,   \
       int page, const char *detail),                                         \
      (cat, actor, kind, job, page, detail))                                  \
    X(event_list,                                                             \
      (pm_catalog_t *cat, int64_t job, size_t limit, pm_event_t **out,        \
       size_t *n),                                                            \
      (cat, job, limit, out, n))                                              \
    X(account_add,                                                            \
      (pm_catalog_t *cat, const pm_account_t *a, const char *actor,           \
       int64_t *id),                                                          \
      (cat, a, actor, id))                                                    \
    X(account_get,                                                            \
      (pm_catalog_t *cat, const char *code, pm_account_t *out),               \
      (cat, code, out))                                                       \
    X(account_list,                                                           \
      (pm_catalog_t *cat, pm_account_t **out, size_t *n),                     \
      (cat, out, n))                                                          \
    X(workorder_add,                                                          \
      (pm_catalog_t *cat, const pm_workorder_t *w, const char *actor,         \
       int64_t *id),                                                          \
      (cat, w, actor, id))                                                    \
    X(workorder_get,                                                          \
      (pm_catalog_t *cat, const char *number, pm_workorder_t *out),           \
      (cat, number, out))                                                     \
    X(workorder_list,                                                         \
      (pm_catalog_t *cat, const char *account, pm_workorder_t **out,          \
       size_t *n),                                                            \
      (cat, account, out, n))                                                 \
    X(workorder_close,                                                        \
      (pm_catalog_t *cat, const char *number, const char *actor),             \
      (cat, number, actor))                                                   \
    X(job_create,                                                             \
      (pm_catalog_t *cat, const pm_job_t *j, const pm_page_input_t *pages,    \
       size_t npages, const char *actor, int64_t *id),                        \
      (cat, j, pages, npages, actor, id))                                     \
    X(job_find_duplicate,                                                     \
      (pm_catalog_t *cat, const pm_page_input_t *pages, size_t npages,        \
       int64_t *job),                                                         \
      (cat, pages, npages, job))                                              \
    X(job_by_source,                                                          \
      (pm_catalog_t *cat, const char *source_path, int64_t *job),             \
      (cat, source_path, job))                                                \
    X(job_get,                                                                \
      (pm_catalog_t *cat, int64_t id, pm_job_t *out),                         \
      (cat, id, out))                                                         \
    X(job_list,                                                               \
      (pm_catalog_t *cat, int state, const char *workorder, size_t limit,     \
       pm_job_t **out, size_t *n),                                            \
      (cat, state, workorder, limit, out, n))                                 \
    X(job_release,                                                            \
      (pm_catalog_t *cat, int64_t id, const char *actor),                     \
      (cat, id, actor))                                                       \
    X(job_retry,                                                              \
      (pm_catalog_t *cat, int64_t id, const char *actor),                     \
      (cat, id, actor))                                                       \
    X(job_cancel,                                                             \
      (pm_catalog_t *cat, int64_t id, const char *actor, const char *reason), \
      (cat, id, actor, reason))                                               \
    X(task_claim,                                                             \
      (pm_catalog_t *cat, const char *owner, int lease_s, int64_t now,        \
       pm_task_t *out),                                                       \
      (cat, owner, lease_s, now, out))                                        \
    X(task_claim_n,                                                           \
      (pm_catalog_t *cat, const char *owner, int lease_s, int64_t now,        \
       size_t max, pm_task_t **out, size_t *n),                               \
      (cat, owner, lease_s, now, max, out, n))                                \
    X(task_renew,                                                             \
      (pm_catalog_t *cat, int64_t id, int attempt, int lease_s, int64_t now), \
      (cat, id, attempt, lease_s, now))                                       \
    X(task_renew_n,                                                           \
      (pm_catalog_t *cat, pm_lease_t *v, size_t n, int lease_s, int64_t now), \
      (cat, v, n, lease_s, now))                                              \
    X(task_complete,                                                          \
      (pm_catalog_t *cat, int64_t id, int attempt,                            \
       const pm_page_metrics_t *m, int64_t now),                              \
      (cat, id, attempt, m, now))                                             \
    X(task_complete_n,                                                        \
      (pm_catalog_t *cat, pm_completion_t *v, size_t n, int64_t now),         \
      (cat, v, n, now))                                                       \
    X(task_fail,                                                              \
      (pm_catalog_t *cat, int64_t id, int attempt, const char *why,           \
       int max_attempts, int64_t now),                                        \
      (cat, id, attempt, why, max_attempts, now))                             \
    X(task_requeue_expired,                                                   \
      (pm_catalog_t *cat, int64_t now, int max_attempts, int *n),             \
      (cat, now, max_attempts, n))                                            \
    X(task_requeue_all_running,                                               \
      (pm_catalog_t *cat, const char *actor, int64_t now, int *n),            \
      (cat, actor, now, n))                                                   \
    X(task_list,                                                              \
      (pm_catalog_t *cat, int64_t job, pm_task_t **out, size_t *n),           \
      (cat, job, out, n))                                                     \
    X(job_collect_finished,                                                   \
      (pm_catalog_t *cat, int64_t now, int64_t **ids, size_t *n),             \
      (cat, now, ids, n))                                                     \
    X(job_finish,                                                             \
      (pm_catalog_t *cat, int64_t id, const char *output_path, int64_t now),  \
      (cat, id, output_path, now))                                            \
    X(job_finish_doc,                                                         \
      (pm_catalog_t *cat, int64_t id, const char *output_path,                \
       const char *pdf_sha256, int pdf_pages, int64_t now),                   \
      (cat, id, output_path, pdf_sha256, pdf_pages, now))                     \
    X(job_fail,                                                               \
      (pm_catalog_t *cat, int64_t id, const char *why, int64_t now),          \
      (cat, id, why, now))                                                    \
    X(catalog_status,                                                         \
      (pm_catalog_t *cat, int64_t now, pm_status_t *out),                     \
      (cat, now, out))                                                        \
    X(review_jobs,                                                            \
      (pm_catalog_t *cat, pm_review_job_t **out, size_t *n),                  \
      (cat, out, n))                                                          \
    X(review_count,                                                           \
      (pm_catalog_t *cat, int64_t *pages, int64_t *jobs),                     \
      (cat, pages, jobs))                                                     \
    X(replace_check,                                                          \
      (pm_catalog_t *cat, int64_t job, int page),                             \
      (cat, job, page))                                                       \
    X(replace_request,                                                        \
      (pm_catalog_t *cat, int64_t job, int page, const char *src,             \
       const char *sha256, const char *actor, int64_t now, int64_t *id),      \
      (cat, job, page, src, sha256, actor, now, id))                          \
    X(replace_next, (pm_catalog_t *cat, pm_replacement_t *out), (cat, out))   \
    X(replace_list,                                                           \
      (pm_catalog_t *cat, int64_t job, pm_replacement_t **out, size_t *n),    \
      (cat, job, out, n))                                                     \
    X(replace_finish,                                                         \
      (pm_catalog_t *cat, const pm_replacement_t *r,                          \
       const pm_page_metrics_t *m, const char *pdf_sha256, int pdf_pages,     \
       const char *kept_as, int64_t now),                                     \
      (cat, r, m, pdf_sha256, pdf_pages, kept_as, now))                       \
    X(replace_fail,                                                           \
      (pm_catalog_t *cat, const pm_replacement_t *r, const char *why,         \
       int64_t now),                                                          \
      (cat, r, why, now))                                                     \
    X(worker_report,                                                          \
      (pm_catalog_t *cat, const char *owner, const pm_worker_info_t *v,       \
       size_t n, int64_t now),                                                \
      (cat, owner, v, n, now))                                                \
    X(worker_list,                                                            \
      (pm_catalog_t *cat, pm_worker_info_t **out, size_t *n),                 \
      (cat, out, n))                                                          \
    X(node_list,                                                              \
      (pm_catalog_t *cat, int64_t now, pm_node_info_t **out, size_t *n),      \
      (cat, now, out, n))                                                     \
    X(catalog_billing_timezone,                                               \
      (pm_catalog_t *cat, const char *configured, char *out, size_t size),    \
      (cat, configured, out, size))                                           \
    X(fee_add,                                                                \
      (pm_catalog_t *cat, const pm_fee_t *f, const char *actor, int64_t now,  \
       int64_t *id),                                                          \
      (cat, f, actor, now, id))                                               \
    X(fee_list,                                                               \
      (pm_catalog_t *cat, const char *code, pm_fee_t **out, size_t *n),       \
      (cat, code, out, n))                                                    \
    X(workorder_set_fee,                                                      \
      (pm_catalog_t *cat, const char *number, const char *fee_code,           \
       const char *actor),                                                    \
      (cat, number, fee_code, actor))                                         \
    X(billing_period_get,                                                     \
      (pm_catalog_t *cat, const char *month, pm_billing_period_t *out),       \
      (cat, month, out))                                                      \
    X(billing_lines,                                                          \
      (pm_catalog_t *cat, const char *from, const char *to,                   \
       const char *account, const char *workorder, pm_billing_line_t **out,   \
       size_t *n),                                                            \
      (cat, from, to, account, workorder, out, n))                            \
    X(billing_read,                                                           \
      (pm_catalog_t *cat, const char *from, const char *to,                   \
       const char *account, const char *workorder,                            \
       pm_billing_period_t **periods, size_t *nperiods,                       \
       pm_billing_line_t **out, size_t *n),                                   \
      (cat, from, to, account, workorder, periods, nperiods, out, n))         \
    X(billing_close,                                                          \
      (pm_catalog_t *cat, const char *month, int force, const char *actor,    \
       int64_t now, int64_t **blockers, size_t *nblockers),                   \
      (cat, month, force, actor, now, blockers, nblockers))                   \
    X(billing_adjust,                                                         \
      (pm_catalog_t *cat, int64_t job, int64_t billable, const char *reason,  \
       const char *actor, int64_t now, char month[8]),                        \
      (cat, job, billable, reason, actor, now, month))                        \
    X(billable_count,                                                         \
      (pm_catalog_t *cat, int64_t job, int bill_blank, int64_t *count),       \
      (cat, job, bill_blank, count))                                          \
    X(catalog_query_only, (pm_catalog_t *cat), (cat))                         \
    X(token_add,                                                              \
      (pm_catalog_t *cat, const char *name, pm_role_t role,                   \
       const char *sha256, const char *actor, int64_t now),                   \
      (cat, name, role, sha256, actor, now))                                  \
    X(token_list,                                                             \
      (pm_catalog_t *cat, pm_token_t **out, size_t *n),                       \
      (cat, out, n))                                                          \
    X(monitor_read, (pm_catalog_t *cat, pm_monitor_t *out), (cat, out))       \
    X(monitor_counts, (pm_catalog_t *cat, pm_monitor_t *out), (cat, out))     \
    X(monitor_throughput,                                                     \
      (pm_catalog_t *cat, int64_t now, int n, int64_t *counts),               \
      (cat, now, n, counts))                                                  \
    X(monitor_jobs,                                                           \
      (pm_catalog_t *cat, int state, size_t limit, size_t offset,             \
       pm_job_t **out, size_t *n, int64_t *total),                            \
      (cat, state, limit, offset, out, n, total))                             \
    X(monitor_rejections,                                                     \
      (pm_catalog_t *cat, size_t limit, pm_event_t **out, size_t *n),         \
      (cat, limit, out, n))                                                   \
    X(monitor_breakdown,                                                      \
      (pm_catalog_t *cat, pm_monitor_by_t by, int64_t since,                  \
       pm_monitor_count_t **out, size_t *n),                                  \
      (cat, by, since, out, n))                                               \
    X(catalog_rewrite_paths,                                                  \
      (pm_catalog_t *cat, pm_path_map_fn map, void *arg, int dry_run,         \
       pm_path_count_t *counts),                                              \
      (cat, map, arg, dry_run, counts))
/* clang-format on */

#define PM__CATALOG_OP_FIELD(name, params, args) int(*name) params;

/* One backend. Every handle starts with a pointer to its backend's table
 * (the first member of its struct pm_catalog or struct pm__pg). */
typedef struct pm__catalog_ops {
    const char *name; /* "SQLite", "PostgreSQL" */
    void (*close)(pm_catalog_t *cat);
    const char *(*errmsg)(const pm_catalog_t *cat);
    /* Keeps `msg` as the handle's message; returns `err`. */
    int (*set_msg)(pm_catalog_t *cat, int err, const char *msg);
    /* Optional (NULL: the backend has none; catalog.c says so): the
     * queue's wake-ups (pm_queue_listen, pm_queue_woken), whether the
     * connection is still up (NULL: always) and the bound on an answer. */
    int (*queue_listen)(pm_catalog_t *cat, int *fd);
    int (*queue_woken)(pm_catalog_t *cat, int *n);
    int (*catalog_connected)(pm_catalog_t *cat);
    void (*answer_within)(pm_catalog_t *cat, unsigned ms); /* NULL: none */
    void (*interrupt)(pm_catalog_t *cat);
    PM__CATALOG_OPS(PM__CATALOG_OP_FIELD)
} pm__catalog_ops_t;

extern const pm__catalog_ops_t pm__sqlite_ops, pm__pg_ops;

/* ---- rewriting the path columns (paths.h; paths.c drives it) ---- */

/* One row of a path column: its id and its path (owned). */
typedef struct pm__path_row {
    int64_t id;
    char *path;
    char *to; /* what it becomes, owned; NULL: left */
} pm__path_row_t;

/* Rows read and written per batch. */
#define PM__PATH_BATCH 500

/* What each backend gives paths.c. */
typedef struct pm__paths_io {
    int (*tx_begin)(pm_catalog_t *cat);
    /* A consistent read, for a dry run: it never holds writers back. */
    int (*tx_begin_read)(pm_catalog_t *cat);
    int (*tx_end)(pm_catalog_t *cat, int err);
    /* Up to PM__PATH_BATCH rows of column `c` with a path (not NULL) and
     * an id above `after`, by id, into rows[0..*n). */
    int (*read)(pm_catalog_t *cat, const pm_path_column_t *c, int64_t after,
                pm__path_row_t *rows, size_t *n);
    /* Stores `to` of every row of rows[0..n) that has one. */
    int (*write)(pm_catalog_t *cat, const pm_path_column_t *c,
                 const pm__path_row_t *rows, size_t n);
    /* Keeps `msg` as the handle's message; returns `err`. */
    int (*set_msg)(pm_catalog_t *cat, int err, const char *msg);
} pm__paths_io_t;

/* pm_catalog_rewrite_paths on a backend's primitives. */
int pm__paths_rewrite(pm_catalog_t *cat, const pm__paths_io_t *io,
                      pm_path_map_fn map, void *arg, int dry_run,
                      pm_path_count_t *counts);

/* The backend's opens: a path (SQLite) or a postgresql:// URL. */
int pm__sqlite_open(const char *path, pm_catalog_t **out);
int pm__pg_open(const char *url, pm_catalog_t **out);

#endif /* PM_CATALOG_INT_H */
