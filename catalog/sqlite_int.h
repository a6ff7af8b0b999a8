/*
 * sqlite_int.h: what the files of the SQLite backend share, never used
 * outside catalog/. The backend is split by subsystem, as SQLite itself
 * splits btree, pager and wal:
 *
 *   sqlite_core.c     the handle: open and close, errors, the statement
 *                     registry, helpers for statements, rows and
 *                     transactions, the coordinator lock, test probes
 *   sqlite_schema.c   connection settings and the numbered migrations
 *   sqlite_records.c  events, accounts, work orders
 *   sqlite_jobs.c     jobs: create, find, list, operator actions, finish
 *   sqlite_queue.c    page tasks: the fair claim, leases and fencing
 *   sqlite_status.c   status counts and the workers table
 *   sqlite_fees.c     the billing time zone, fee codes and prices
 *   sqlite_ledger.c   months, lines, close, adjustments, credits
 *   identity.c        installation id, job uids, quick_check
 *   review.c          review flags, replaced pages (migration 5)
 *   monitor.c         the web interface's reads, access tokens
 *
 * Each file keeps the SQL it runs beside the code that runs it: a table
 * of named statements (pm__sql_t), registered here by module, prepared
 * once at open (SQLITE_PREPARE_PERSISTENT) and reset after each use. The
 * rules that are not SQL (catalog/rules.h) are shared with every backend.
 *
 * A handle is used by one thread at a time (its prepared statements and
 * error text are shared); open one handle per thread.
 */
#ifndef PM_CATALOG_SQLITE_INT_H
#define PM_CATALOG_SQLITE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"
#include "catalog/catalog_int.h"
#include "catalog/rules.h"

/* ---- statements, by module ---- */

/* One statement: its name (for the test probes in catalog_int.h, unique
 * across modules) and its SQL. */
typedef struct pm__sql {
    const char *name;
    const char *sql;
} pm__sql_t;

/* A module's statements, indexed by that module's own enum. */
typedef struct pm__sql_table {
    const pm__sql_t *v;
    int n;
} pm__sql_table_t;

/* The modules that run prepared statements, in registry order. */
enum pm__sql_module {
    PM__SQL_CORE = 0,
    PM__SQL_RECORDS,
    PM__SQL_JOBS,
    PM__SQL_QUEUE,
    PM__SQL_STATUS,
    PM__SQL_FEES,
    PM__SQL_LEDGER,
    PM__SQL_REVIEW,
    PM__SQL_MONITOR,
    PM__SQL_NMODULES
};

/* Most statements one module may have. */
#define PM__SQL_MAX 32

extern const pm__sql_table_t pm__sql_core, pm__sql_records, pm__sql_jobs,
    pm__sql_queue, pm__sql_status, pm__sql_fees, pm__sql_ledger, pm__sql_review,
    pm__sql_monitor;

struct pm_catalog {
    const pm__catalog_ops_t *ops; /* &pm__sqlite_ops; first (catalog.c) */
    sqlite3 *db;
    sqlite3_stmt *st[PM__SQL_NMODULES][PM__SQL_MAX];
    int lock_fd;      /* the coordinator lock file, held; -1 when not */
    char errmsg[512]; /* fixed, so saving an error never allocates */
};

/* Statement `i` of `module`, prepared at open (borrowed). */
static inline sqlite3_stmt *pm__stmt(pm_catalog_t *cat, int module, int i)
{
    return cat->st[module][i];
}

/* ---- the backend's operations (sqlite_ops.c's table) ---- */

#define PM__SQLITE_OP_DECL(name, params, args) int pm__sqlite_##name params;
PM__CATALOG_OPS(PM__SQLITE_OP_DECL)
void pm__sqlite_close(pm_catalog_t *cat);
void pm__sqlite_interrupt(pm_catalog_t *cat);
const char *pm__sqlite_errmsg(const pm_catalog_t *cat);

/* ---- errors: the detail lives on the handle ---- */

/* The handle's connection (borrowed). */
sqlite3 *pm__catalog_db(pm_catalog_t *cat);

/* Keeps the connection's last error as the handle's message and returns
 * it as a PM code (as every catalog function does). */
int pm__catalog_db_fail(pm_catalog_t *cat);

/* Keeps `msg` as the handle's message; returns `err`. */
int pm__catalog_set_msg(pm_catalog_t *cat, int err, const char *msg);

/* Keeps a printf-formatted message on the handle; returns `err`. */
int pm__catalog_msg(pm_catalog_t *cat, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "out of memory" on the handle; returns PM_ENOMEM. */
int pm__catalog_nomem(pm_catalog_t *cat);

/* Maps the connection's last SQLite error to a PM code, keeping its text:
 * uniqueness is -EEXIST, a missing parent row PM_ENOENT, a full disk
 * -ENOSPC, so the caller can wait for space instead of failing work. */
int pm__sql_fail(pm_catalog_t *cat);

/* ---- statements and rows ---- */

/* Wall clock, seconds since the epoch. */
int64_t pm__wall_clock(void);

/* Resets a statement and drops its bindings (strings are bound
 * SQLITE_STATIC, so none may outlive the call that bound it). */
void pm__sql_stmt_done(sqlite3_stmt *st);
/* For a failed bind: the error, with the statement reset. */
int pm__sql_bind_fail(pm_catalog_t *cat, sqlite3_stmt *st);
/* Binds a borrowed string, or NULL. */
int pm__sql_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Binds a LIMIT: 0 means none. */
int pm__sql_bind_limit(sqlite3_stmt *st, int i, size_t limit);
/* Runs a statement that returns no rows; resets it. */
int pm__sql_run(pm_catalog_t *cat, sqlite3_stmt *st);
/* Like pm__sql_run(), and stores how many rows it changed. */
int pm__sql_run_changes(pm_catalog_t *cat, sqlite3_stmt *st, int *changes);
/* Steps a query: 1 with the statement on its first row (the caller
 * resets it), 0 when there is none, or an error (both reset). */
int pm__sql_first_row(pm_catalog_t *cat, sqlite3_stmt *st);
/* Runs a query whose first column of its first row is an integer. */
int pm__sql_query_int64(pm_catalog_t *cat, sqlite3_stmt *st, int64_t *v);
/* Copies a text column into a new string (NULL for SQL NULL). */
int pm__sql_col_str(sqlite3_stmt *st, int i, char **out);
/* A text column for a message: borrowed, "?" for NULL. */
const char *pm__sql_col_or(sqlite3_stmt *st, int i);
/* Copies a short text column (a state name) into buf, "" for NULL. */
void pm__sql_col_name(sqlite3_stmt *st, int i, char *buf, size_t size);
/* Runs SQL text (setup and migrations only) through sqlite3_exec. */
int pm__sql_exec(pm_catalog_t *cat, const char *sql);
/* Runs a one-off statement (setup only) and copies the text of its first
 * column into buf. */
int pm__sql_exec_text(pm_catalog_t *cat, const char *sql, char *buf,
                      size_t size);

/* BEGIN IMMEDIATE (a writer), or BEGIN (a consistent read). */
int pm__sql_tx_begin(pm_catalog_t *cat);
int pm__sql_tx_begin_read(pm_catalog_t *cat);
/* Commits when err is 0, else (or when the commit fails) rolls back;
 * returns the first error. The rollback never overwrites the message. */
int pm__sql_tx_end(pm_catalog_t *cat, int err);

/* Rows into structs: each reader fills `item` whole or frees it. */
typedef int (*pm__read_fn)(sqlite3_stmt *st, void *item);
typedef void (*pm__cleanup_fn)(void *item);

/* Cleans up `n` items of `size` bytes (none when `cleanup` is NULL: plain
 * values) and frees the array. Accepts NULL. */
void pm__sql_free_items(void *v, size_t n, size_t size, pm__cleanup_fn cleanup);
/* Reads every remaining row of `st` into a new array of `size`-byte
 * items; resets `st`. On failure nothing is kept. */
int pm__sql_collect(pm_catalog_t *cat, sqlite3_stmt *st, size_t size,
                    pm__read_fn read, pm__cleanup_fn cleanup, void **out,
                    size_t *n);
/* Reads the one row of `st` into `item`: PM_ENOENT (message left to the
 * caller) when there is none. */
int pm__sql_get_one(pm_catalog_t *cat, sqlite3_stmt *st, pm__read_fn read,
                    void *item);
/* A reader of one integer column (an id) into an int64_t. */
int pm__sql_read_id(sqlite3_stmt *st, void *item);

/* ---- across subsystems ---- */

/* sqlite_schema.c: per-connection settings, read back; then every
 * migration not yet applied, each in its own transaction. */
int pm__sqlite_configure(pm_catalog_t *cat);
int pm__sqlite_migrate(pm_catalog_t *cat);
/* Copies database `src` (named `from` in messages) into the new file
 * `dest` (sqlite_backup.c; backup.h says how). */
int pm__sqlite_backup(sqlite3 *src, const char *from, const char *dest,
                      long *pages, char *msg, size_t size);

/* sqlite_records.c: appends an event (job and page may be 0). */
int pm__event_insert(pm_catalog_t *cat, int64_t at, const char *actor,
                     const char *kind, int64_t job, int page,
                     const char *detail);
/* sqlite_records.c: 0 when fee code `code` has a price, else PM_ENOENT
 * with a message. */
int pm__fee_exists(pm_catalog_t *cat, const char *code);

/* sqlite_ledger.c: the ledger's primitives (ledger_rules.h). */
struct pm__ledger_io;
extern const struct pm__ledger_io pm__sqlite_ledger_io;
/* sqlite_fees.c: primitives of pm__sqlite_ledger_io. */
int pm__sqlite_last_closed_month(pm_catalog_t *cat, char last[PM_MONTH_SIZE]);
int pm__sqlite_fee_insert(pm_catalog_t *cat, const pm_fee_t *f, int64_t now,
                          int64_t *id);
int pm__sqlite_workorder_fee_update(pm_catalog_t *cat, const char *number,
                                    const char *code);
int pm__sqlite_setting_get(pm_catalog_t *cat, const char *key, char *buf,
                           size_t size);
int pm__sqlite_setting_add(pm_catalog_t *cat, const char *key,
                           const char *value);

/* sqlite_ledger.c: the first open month from `from` on, into month. */
int pm__first_open_month(pm_catalog_t *cat, const char *from,
                         char out[PM_MONTH_SIZE]);
/* sqlite_ledger.c: the month a job finishing at `finished` bills in
 * (pm_rules_billing_month). */
int pm__billing_month(pm_catalog_t *cat, int64_t finished,
                      char out[PM_MONTH_SIZE]);
/* sqlite_ledger.c: a cancelled done job's credit in the first open month
 * when its billing month is closed (in the caller's transaction). */
int pm__cancel_credit(pm_catalog_t *cat, int64_t job, const char *reason,
                      const char *actor, int64_t now);

/* review.c: migration 5's statements, NULL-terminated. */
extern const char *const pm__migration_5[];

#endif /* PM_CATALOG_SQLITE_INT_H */
