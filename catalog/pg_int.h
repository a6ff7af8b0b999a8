/*
 * pg_int.h: what the files of the PostgreSQL backend share, never used
 * outside catalog/. Split by subsystem like the SQLite backend
 * (sqlite_int.h):
 *
 *   pg_core.c     the handle: open and close, errors, the statement
 *                 registry, helpers for parameters, rows and transactions
 *   pg_schema.c   the numbered migrations in PostgreSQL's dialect
 *   pg_records.c  events, accounts, work orders
 *   pg_jobs.c     jobs: create, find, list, operator actions, finish
 *   pg_queue.c    page tasks: the fair claim (one statement, SKIP LOCKED,
 *                 several pages), leases, fencing
 *   pg_status.c   status counts, billable counts and the workers table
 *   pg_identity.c installation id, job uids, job count
 *   pg_fees.c     the billing time zone, fee codes, a work order's fee
 *   pg_ledger.c   months, lines, close, adjustments, the cancel credit
 *                 (the steps are ledger_rules.c's, shared with SQLite)
 *   pg_tokens.c   access tokens, the read-only handle
 *   pg_review.c   review flags and replaced pages
 *   pg_monitor.c  the web interface's reads
 *   pg_check.c    the integrity checks: the catalog's own invariants
 *
 * Each file keeps the SQL it runs beside the code that runs it, in a
 * table of named statements prepared once at open (PQprepare, under the
 * statement's name) and run with text parameters. The connection is
 * blocking, but for the operations of catalog_async.c, which drive it
 * from the caller's libuv loop (a uv_poll_t on its socket, a timeout).
 * A handle is used by one thread at a time.
 */
#ifndef PM_CATALOG_PG_INT_H
#define PM_CATALOG_PG_INT_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "catalog/catalog_int.h"

/* The channel a job's new claimable pages are announced on (pg_jobs.c)
 * and node agents listen to (pg_wake.c). */
#define PM__PG_WAKE_CHANNEL "pagemill_tasks"

/* pg_wake.c: the optional operations of catalog_int.h. */
int pm__pg_queue_listen(pm_catalog_t *cat, int *fd);
int pm__pg_queue_woken(pm_catalog_t *cat, int *n);
int pm__pg_catalog_connected(pm_catalog_t *cat);
void pm__pg_answer_within(pm_catalog_t *cat, unsigned ms);
void pm__pg_interrupt(pm_catalog_t *cat);

/* ---- statements, by module ---- */

/* One statement: its name (the prepared statement's, unique across
 * modules) and its SQL, with $1.. parameters cast where their type could
 * be guessed wrong. */
typedef struct pm__pgsql {
    const char *name;
    const char *sql;
} pm__pgsql_t;

typedef struct pm__pgsql_table {
    const pm__pgsql_t *v;
    int n;
} pm__pgsql_table_t;

/* The modules that run prepared statements, in registry order. */
enum pm__pg_module {
    PM__PG_CORE = 0,
    PM__PG_RECORDS,
    PM__PG_JOBS,
    PM__PG_QUEUE,
    PM__PG_STATUS,
    PM__PG_IDENTITY,
    PM__PG_FEES,
    PM__PG_LEDGER,
    PM__PG_TOKENS,
    PM__PG_REVIEW,
    PM__PG_MONITOR,
    PM__PG_CHECK,
    PM__PG_NMODULES
};

extern const pm__pgsql_table_t pm__pg_core, pm__pg_records, pm__pg_jobs,
    pm__pg_queue, pm__pg_status, pm__pg_identity;
extern const pm__pgsql_table_t pm__pg_fees, pm__pg_ledger, pm__pg_tokens;
extern const pm__pgsql_table_t pm__pg_review, pm__pg_monitor, pm__pg_check;

typedef struct pm__pg {
    const pm__catalog_ops_t *ops; /* &pm__pg_ops; first (catalog.c) */
    PGconn *conn;
    int locked;         /* holds the coordinator lock (pg_core.c) */
    int broken;         /* an operation timed out: close the handle */
    unsigned answer_ms; /* bound on a synchronous answer; 0: none */
    char errmsg[512];   /* fixed, so saving an error never allocates */
} pm__pg_t;

/* The PostgreSQL handle behind a catalog handle. */
static inline pm__pg_t *pm__pg(pm_catalog_t *cat)
{
    return (pm__pg_t *)(void *)cat;
}

/* ---- errors ---- */

/* Keeps a printf-formatted message on the handle; returns `err`. */
int pm__pg_msg(pm__pg_t *pg, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keeps a failed result's error (or the connection's, when r is NULL) as
 * the message and maps its SQLSTATE: a unique violation is -EEXIST, a
 * foreign key PM_ENOENT, a full disk -ENOSPC, else PM_ECATALOG. */
int pm__pg_fail(pm__pg_t *pg, const PGresult *r);

/* ---- parameters: text, or NULL for SQL NULL ---- */

#define PM__PG_MAXPARAMS 40

typedef struct pm__pg_params {
    const char *v[PM__PG_MAXPARAMS];
    char num[PM__PG_MAXPARAMS][32];
    int n;
} pm__pg_params_t;

/* Appends a borrowed string (NULL: SQL NULL) or an integer. */
void pm__pg_text(pm__pg_params_t *p, const char *s);
void pm__pg_int(pm__pg_params_t *p, int64_t v);
/* Appends a double, exactly (17 significant digits). */
void pm__pg_double(pm__pg_params_t *p, double v);
/* Appends a page's metrics, width to text, in the order of the page
 * tasks' columns; then its orientation and review fields (orient_osd,
 * dpi_fallback, review, orient_method, orient_evidence). */
void pm__pg_metrics(pm__pg_params_t *p, const pm_page_metrics_t *m);
void pm__pg_metrics_review(pm__pg_params_t *p, const pm_page_metrics_t *m);
/* Appends a LIMIT: 0 means none (NULL). */
void pm__pg_limit(pm__pg_params_t *p, size_t limit);

/* ---- running statements ---- */

/* Runs statement `i` of `module` with `p` (NULL: none). On success *out
 * is its result (the caller PQclear()s it); else the error, *out NULL. */
int pm__pg_run(pm__pg_t *pg, int module, int i, const pm__pg_params_t *p,
               PGresult **out);
/* Like pm__pg_run for a statement that returns no rows; *changes (may be
 * NULL) is how many rows it changed. */
int pm__pg_exec(pm__pg_t *pg, int module, int i, const pm__pg_params_t *p,
                int *changes);
/* Runs SQL text with the n text parameters v, as pm__pg_run. */
int pm__pg_run_text(pm__pg_t *pg, const char *sql, int n, const char *const *v,
                    PGresult **out);
/* Runs SQL text with no parameters (setup and migrations only). */
int pm__pg_exec_text(pm__pg_t *pg, const char *sql);

/*
 * The connection parameters of `url` for PQconnectdbParams /
 * PQconnectStartParams (expand_dbname = 1): TCP keepalives (idle 10 s,
 * then a probe every 5 s, 3 lost: gone) and tcp_user_timeout (30 s of
 * data unacknowledged), then the URL, whose own settings of these win.
 * So a call waiting on a server whose machine vanished (power, network)
 * fails within about 30 s instead of waiting for ever for an answer to a
 * request the kernel had acknowledged; and connect_timeout (10 s), so a
 * blocking open of a server that accepts and never answers gives up.
 * keys[] and values[] end with NULL.
 */
#define PM__PG_CONN_KEYS 8
void pm__pg_conn_params(const char *url, const char *keys[PM__PG_CONN_KEYS],
                        const char *values[PM__PG_CONN_KEYS]);

/* BEGIN; and COMMIT when err is 0, else (or when the commit fails)
 * ROLLBACK, returning the first error with its message kept. */
int pm__pg_tx_begin(pm__pg_t *pg);
/* A consistent read (REPEATABLE READ, READ ONLY). */
int pm__pg_tx_begin_read(pm__pg_t *pg);
int pm__pg_tx_end(pm__pg_t *pg, int err);
/* The same on the catalog handle, for the rules' primitive tables
 * (ledger_rules.h, paths.h). */
int pm__pg_cat_tx_begin(pm_catalog_t *cat);
int pm__pg_cat_tx_begin_read(pm_catalog_t *cat);
int pm__pg_cat_tx_end(pm_catalog_t *cat, int err);

/* ---- rows ---- */

/* An integer column (0 for NULL). */
int64_t pm__pg_int64(const PGresult *r, int row, int col);
/* Copies a text column into a new string (NULL for SQL NULL). */
int pm__pg_str(const PGresult *r, int row, int col, char **out);

/* Rows into structs: each reader fills `item` whole or frees it. */
typedef int (*pm__pg_read_fn)(const PGresult *r, int row, void *item);
typedef void (*pm__pg_cleanup_fn)(void *item);

/* Reads every row of `r` into a new array of `size`-byte items; clears
 * `r`. On failure nothing is kept. */
int pm__pg_collect(pm__pg_t *pg, PGresult *r, size_t size, pm__pg_read_fn read,
                   pm__pg_cleanup_fn cleanup, void **out, size_t *n);
/* Runs statement `i` of `module` and reads its one row into `item`:
 * PM_ENOENT (message left to the caller) when there is none. */
int pm__pg_get_one(pm__pg_t *pg, int module, int i, const pm__pg_params_t *p,
                   pm__pg_read_fn read, void *item);
/* Cleans up `n` items and frees the array (catalog.c's list frees are
 * backend-independent; this is for a failed collect). */
void pm__pg_free_items(void *v, size_t n, size_t size,
                       pm__pg_cleanup_fn cleanup);

/* ---- opening in steps (pg_core.c; catalog_async.c drives them) ---- */

/* The statement registry: module m's table. */
const pm__pgsql_table_t *pm__pg_module(int m);
/* The session's setup (UTC, application_name "pagemill:<pid>"), blocking.
 * `sql` gets the application_name's SET for a caller that sends it
 * itself (at least 64 bytes). */
int pm__pg_session_setup(pm__pg_t *pg);
void pm__pg_app_name_sql(char *sql, size_t size);
/* Notices (a migration's "already exists, skipping") are not errors. */
void pm__pg_ignore_notice(void *arg, const char *message);
/* The name of the statement that tries the coordinator lock and reads
 * its holder in one round trip (pm__pg_lock_answer reads its row). */
extern const char pm__pg_lock_try_holder[];
/* The statement that counts the coordinator locks the session holds (one
 * row, one column: 1 while it holds it). */
extern const char pm__pg_lock_held[];
/* Reads that statement's one row: 0 (and the handle locked) when the lock
 * was taken, else -EBUSY with *holder and the message of
 * pm_catalog_lock_coordinator. */
int pm__pg_lock_answer(pm__pg_t *pg, const PGresult *r, long *holder);

/* ---- the hot path's halves (catalog_async_hot.c drives them) ----
 *
 * In pipeline mode on a non-blocking connection: each *_send queues its
 * statements and a Sync (one transaction), never waiting; each *_read
 * takes one result of it (and clears it). The synchronous functions
 * (pm__pg_task_claim_n and so on) run the same statements and readers. */

/* One claim statement of up to `max` pages (pg_queue.c). */
int pm__pg_claim_send(pm__pg_t *pg, const char *owner, int lease_s, int64_t now,
                      size_t max);
/* Its rows appended to *out (*n so far); *cut as in the claim. */
int pm__pg_claim_read(pm__pg_t *pg, PGresult *r, pm_task_t **out, size_t *n,
                      int *cut);
/* The renewal of v[0..n) (n > 0; every ok cleared), and its rows. */
int pm__pg_renew_n_send(pm__pg_t *pg, pm_lease_t *v, size_t n, int lease_s,
                        int64_t now);
void pm__pg_renew_n_read(PGresult *r, pm_lease_t *v, size_t n);
/* Completion c, and its statement's result into c->err. */
int pm__pg_complete_send(pm__pg_t *pg, const pm_completion_t *c, int64_t now);
void pm__pg_complete_read(pm__pg_t *pg, PGresult *r, pm_completion_t *c);
/* A failed attempt in two round trips of one transaction: BEGIN and the
 * fence; its row read (0 and *final, or -ESTALE, PM_ENOENT); then the
 * event, the state and COMMIT, or ROLLBACK. */
int pm__pg_fail_fence_send(pm__pg_t *pg, int64_t id);
int pm__pg_fail_fence_read(pm__pg_t *pg, PGresult *r, int64_t id, int attempt,
                           int max_attempts, int *final);
int pm__pg_fail_give_up_send(pm__pg_t *pg, int64_t id, int final,
                             const char *why, int64_t now);
int pm__pg_rollback_send(pm__pg_t *pg);
/* The requeue of expired leases (its command's count is how many). */
int pm__pg_expired_send(pm__pg_t *pg, int64_t now, int max_attempts);
/* The coordinator's workers rows (pg_status.c). */
int pm__pg_worker_report_send(pm__pg_t *pg, const char *owner,
                              const pm_worker_info_t *v, size_t n, int64_t now);

/* ---- across subsystems ---- */

/* pg_schema.c: every migration not yet applied, each in its own
 * transaction under an advisory lock, recorded in schema_migrations. */
int pm__pg_migrate(pm__pg_t *pg);

/* pg_records.c: appends an event in the caller's transaction (job and
 * page may be 0). */
int pm__pg_event_insert(pm__pg_t *pg, int64_t at, const char *actor,
                        const char *kind, int64_t job, int page,
                        const char *detail);

/* pg_ledger.c: the billing lock, in the caller's transaction: exclusive
 * for a month's close, shared for whatever bills into a month (a job's
 * finish, a cancel's credit, an adjustment, a price), so that a close's
 * lines hold all of it or none. */
int pm__pg_ledger_lock(pm__pg_t *pg, int exclusive);
/* pg_ledger.c and pg_fees.c: the primitives ledger_rules.c runs on. */
struct pm__ledger_io;
extern const struct pm__ledger_io pm__pg_ledger_io;
int pm__pg_last_closed_month(pm_catalog_t *cat, char last[8]);
int pm__pg_fee_insert(pm_catalog_t *cat, const pm_fee_t *f, int64_t now,
                      int64_t *id);
int pm__pg_fee_exists(pm_catalog_t *cat, const char *code);
int pm__pg_workorder_fee_update(pm_catalog_t *cat, const char *number,
                                const char *code);
int pm__pg_setting_get(pm_catalog_t *cat, const char *key, char *buf,
                       size_t size);
int pm__pg_setting_add(pm_catalog_t *cat, const char *key, const char *value);
int64_t pm__pg_wall_clock(void);

/* ---- the operations this backend has (pg_ops.c's table) ---- */

void pm__pg_close(pm_catalog_t *cat);
const char *pm__pg_errmsg(const pm_catalog_t *cat);
int pm__pg_set_msg(pm_catalog_t *cat, int err, const char *msg);
int pm__pg_catalog_schema_version(pm_catalog_t *cat, int *version);
int pm__pg_catalog_lock_coordinator(pm_catalog_t *cat, long *holder);
int pm__pg_event_add(pm_catalog_t *cat, const char *actor, const char *kind,
                     int64_t job, int page, const char *detail);
int pm__pg_event_list(pm_catalog_t *cat, int64_t job, size_t limit,
                      pm_event_t **out, size_t *n);
int pm__pg_account_add(pm_catalog_t *cat, const pm_account_t *a,
                       const char *actor, int64_t *id);
int pm__pg_account_get(pm_catalog_t *cat, const char *code, pm_account_t *out);
int pm__pg_account_list(pm_catalog_t *cat, pm_account_t **out, size_t *n);
int pm__pg_workorder_add(pm_catalog_t *cat, const pm_workorder_t *w,
                         const char *actor, int64_t *id);
int pm__pg_workorder_get(pm_catalog_t *cat, const char *number,
                         pm_workorder_t *out);
int pm__pg_workorder_list(pm_catalog_t *cat, const char *account,
                          pm_workorder_t **out, size_t *n);
int pm__pg_workorder_close(pm_catalog_t *cat, const char *number,
                           const char *actor);
int pm__pg_job_create(pm_catalog_t *cat, const pm_job_t *j,
                      const pm_page_input_t *pages, size_t npages,
                      const char *actor, int64_t *id);
int pm__pg_job_find_duplicate(pm_catalog_t *cat, const pm_page_input_t *pages,
                              size_t npages, int64_t *job);
int pm__pg_job_by_source(pm_catalog_t *cat, const char *source_path,
                         int64_t *job);
int pm__pg_job_get(pm_catalog_t *cat, int64_t id, pm_job_t *out);
int pm__pg_job_list(pm_catalog_t *cat, int state, const char *workorder,
                    size_t limit, pm_job_t **out, size_t *n);
int pm__pg_job_release(pm_catalog_t *cat, int64_t id, const char *actor);
int pm__pg_job_retry(pm_catalog_t *cat, int64_t id, const char *actor);
int pm__pg_job_cancel(pm_catalog_t *cat, int64_t id, const char *actor,
                      const char *reason);
int pm__pg_job_collect_finished(pm_catalog_t *cat, int64_t now, int64_t **ids,
                                size_t *n);
int pm__pg_job_finish(pm_catalog_t *cat, int64_t id, const char *output_path,
                      int64_t now);
int pm__pg_job_finish_doc(pm_catalog_t *cat, int64_t id,
                          const char *output_path, const char *pdf_sha256,
                          int pdf_pages, int64_t now);
int pm__pg_job_fail(pm_catalog_t *cat, int64_t id, const char *why,
                    int64_t now);
int pm__pg_task_claim(pm_catalog_t *cat, const char *owner, int lease_s,
                      int64_t now, pm_task_t *out);
int pm__pg_task_renew(pm_catalog_t *cat, int64_t id, int attempt, int lease_s,
                      int64_t now);
int pm__pg_task_claim_n(pm_catalog_t *cat, const char *owner, int lease_s,
                        int64_t now, size_t max, pm_task_t **out, size_t *n);
int pm__pg_task_renew_n(pm_catalog_t *cat, pm_lease_t *v, size_t n, int lease_s,
                        int64_t now);
int pm__pg_task_complete_n(pm_catalog_t *cat, pm_completion_t *v, size_t n,
                           int64_t now);
int pm__pg_task_complete(pm_catalog_t *cat, int64_t id, int attempt,
                         const pm_page_metrics_t *m, int64_t now);
int pm__pg_task_fail(pm_catalog_t *cat, int64_t id, int attempt,
                     const char *why, int max_attempts, int64_t now);
int pm__pg_task_requeue_expired(pm_catalog_t *cat, int64_t now,
                                int max_attempts, int *n);
int pm__pg_task_requeue_all_running(pm_catalog_t *cat, const char *actor,
                                    int64_t now, int *n);
int pm__pg_task_list(pm_catalog_t *cat, int64_t job, pm_task_t **out,
                     size_t *n);
int pm__pg_catalog_status(pm_catalog_t *cat, int64_t now, pm_status_t *out);
int pm__pg_billable_count(pm_catalog_t *cat, int64_t job, int bill_blank,
                          int64_t *count);
int pm__pg_worker_report(pm_catalog_t *cat, const char *owner,
                         const pm_worker_info_t *v, size_t n, int64_t now);
int pm__pg_worker_list(pm_catalog_t *cat, pm_worker_info_t **out, size_t *n);
int pm__pg_node_list(pm_catalog_t *cat, int64_t now, pm_node_info_t **out,
                     size_t *n);
int pm__pg_catalog_installation_id(pm_catalog_t *cat,
                                   char id[PM_CATALOG_ID_SIZE]);
int pm__pg_catalog_job_count(pm_catalog_t *cat, int64_t *n);
int pm__pg_job_uid(pm_catalog_t *cat, int64_t job,
                   char uid[PM_CATALOG_ID_SIZE]);
int pm__pg_catalog_billing_timezone(pm_catalog_t *cat, const char *configured,
                                    char *out, size_t size);
int pm__pg_fee_add(pm_catalog_t *cat, const pm_fee_t *f, const char *actor,
                   int64_t now, int64_t *id);
int pm__pg_fee_list(pm_catalog_t *cat, const char *code, pm_fee_t **out,
                    size_t *n);
int pm__pg_workorder_set_fee(pm_catalog_t *cat, const char *number,
                             const char *fee_code, const char *actor);
int pm__pg_billing_period_get(pm_catalog_t *cat, const char *month,
                              pm_billing_period_t *out);
int pm__pg_billing_lines(pm_catalog_t *cat, const char *from, const char *to,
                         const char *account, const char *workorder,
                         pm_billing_line_t **out, size_t *n);
int pm__pg_billing_read(pm_catalog_t *cat, const char *from, const char *to,
                        const char *account, const char *workorder,
                        pm_billing_period_t **periods, size_t *nperiods,
                        pm_billing_line_t **out, size_t *n);
int pm__pg_billing_close(pm_catalog_t *cat, const char *month, int force,
                         const char *actor, int64_t now, int64_t **blockers,
                         size_t *nblockers);
int pm__pg_billing_adjust(pm_catalog_t *cat, int64_t job, int64_t billable,
                          const char *reason, const char *actor, int64_t now,
                          char month[8]);
int pm__pg_catalog_query_only(pm_catalog_t *cat);
int pm__pg_token_add(pm_catalog_t *cat, const char *name, pm_role_t role,
                     const char *sha256, const char *actor, int64_t now);
int pm__pg_token_list(pm_catalog_t *cat, pm_token_t **out, size_t *n);
int pm__pg_catalog_check(pm_catalog_t *cat, int *ok, char **report);
int pm__pg_catalog_quick_check(pm_catalog_t *cat, int *ok, char **report);
int pm__pg_review_jobs(pm_catalog_t *cat, pm_review_job_t **out, size_t *n);
int pm__pg_review_count(pm_catalog_t *cat, int64_t *pages, int64_t *jobs);
int pm__pg_replace_check(pm_catalog_t *cat, int64_t job, int page);
int pm__pg_replace_request(pm_catalog_t *cat, int64_t job, int page,
                           const char *src, const char *sha256,
                           const char *actor, int64_t now, int64_t *id);
int pm__pg_replace_next(pm_catalog_t *cat, pm_replacement_t *out);
int pm__pg_replace_list(pm_catalog_t *cat, int64_t job, pm_replacement_t **out,
                        size_t *n);
int pm__pg_replace_finish(pm_catalog_t *cat, const pm_replacement_t *r,
                          const pm_page_metrics_t *m, const char *pdf_sha256,
                          int pdf_pages, const char *kept_as, int64_t now);
int pm__pg_replace_fail(pm_catalog_t *cat, const pm_replacement_t *r,
                        const char *why, int64_t now);
int pm__pg_monitor_read(pm_catalog_t *cat, pm_monitor_t *out);
int pm__pg_monitor_counts(pm_catalog_t *cat, pm_monitor_t *out);
int pm__pg_monitor_throughput(pm_catalog_t *cat, int64_t now, int n,
                              int64_t *counts);
int pm__pg_monitor_jobs(pm_catalog_t *cat, int state, size_t limit,
                        size_t offset, pm_job_t **out, size_t *n,
                        int64_t *total);
int pm__pg_monitor_rejections(pm_catalog_t *cat, size_t limit, pm_event_t **out,
                              size_t *n);
int pm__pg_monitor_breakdown(pm_catalog_t *cat, pm_monitor_by_t by,
                             int64_t since, pm_monitor_count_t **out,
                             size_t *n);
int pm__pg_catalog_rewrite_paths(pm_catalog_t *cat, pm_path_map_fn map,
                                 void *arg, int dry_run,
                                 pm_path_count_t *counts);

#endif /* PM_CATALOG_PG_INT_H */
