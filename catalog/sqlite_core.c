/*
 * sqlite_core.c: the handle of the SQLite backend (catalog.h,
 * sqlite_int.h): open and close, the handle's error text, the statement
 * registry (every module's table, prepared once at open), the helpers
 * every module uses for statements, rows and transactions, the integrity
 * check, the coordinator lock and the test probes (catalog_int.h).
 *
 * One database file in WAL mode, foreign keys on, a busy timeout, and
 * synchronous=FULL: a committed page is a billed page, so a power cut
 * after a commit must not lose it. Operations that touch more than one
 * row run in one BEGIN IMMEDIATE transaction that is rolled back on any
 * error, so readers (the dashboard, the CLI) never see half of one.
 *
 * Reading order: the registry, errors, statements, transactions, rows,
 * lifetime, the lock, the integrity check, then the test probes.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "catalog/billing_int.h"
#include "catalog/catalog.h"
#include "catalog/catalog_int.h"
#include "catalog/sqlite_int.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_BEGIN,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SCHEMA_VERSION,
    ST_INTEGRITY,
    ST_FK_CHECK,
    ST_COUNT
};

static const pm__sql_t stmts[ST_COUNT] = {
    [ST_BEGIN] = {"begin", "BEGIN IMMEDIATE"},
    [ST_BEGIN_READ] = {"begin_read", "BEGIN"},
    [ST_COMMIT] = {"commit", "COMMIT"},
    [ST_ROLLBACK] = {"rollback", "ROLLBACK"},
    [ST_SCHEMA_VERSION] = {"schema_version", "SELECT coalesce(max(version), 0) "
                                             "FROM schema_migrations"},
    [ST_INTEGRITY] = {"integrity", "PRAGMA integrity_check"},
    [ST_FK_CHECK] = {"fk_check", "PRAGMA foreign_key_check"},
};

const pm__sql_table_t pm__sql_core = {stmts, ST_COUNT};

_Static_assert(ST_COUNT <= PM__SQL_MAX, "raise PM__SQL_MAX");

#define STMT(cat, i) pm__stmt((cat), PM__SQL_CORE, (i))

/* Every module's statements, by enum pm__sql_module. */
static const pm__sql_table_t *const registry[PM__SQL_NMODULES] = {
    [PM__SQL_CORE] = &pm__sql_core,       [PM__SQL_RECORDS] = &pm__sql_records,
    [PM__SQL_JOBS] = &pm__sql_jobs,       [PM__SQL_QUEUE] = &pm__sql_queue,
    [PM__SQL_STATUS] = &pm__sql_status,   [PM__SQL_FEES] = &pm__sql_fees,
    [PM__SQL_LEDGER] = &pm__sql_ledger,   [PM__SQL_REVIEW] = &pm__sql_review,
    [PM__SQL_MONITOR] = &pm__sql_monitor,
};

/* ---- errors: the detail lives on the handle ---- */

/* Saves a message on the handle and returns `err`. */
int pm__catalog_msg(pm_catalog_t *cat, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cat->errmsg, sizeof(cat->errmsg), fmt, ap);
    va_end(ap);
    return err;
}

int pm__catalog_nomem(pm_catalog_t *cat)
{
    return pm__catalog_msg(cat, PM_ENOMEM, "out of memory");
}

/* Maps the connection's last SQLite error to a PM code, keeping its text:
 * uniqueness is -EEXIST, a missing parent row PM_ENOENT, a full disk
 * (SQLITE_FULL, or an I/O error that was ENOSPC or EDQUOT) -ENOSPC, so
 * the caller can wait for space instead of failing work. */
int pm__sql_fail(pm_catalog_t *cat)
{
    int err, sys = sqlite3_system_errno(cat->db);

    if (sqlite3_errcode(cat->db) == SQLITE_FULL ||
        (sqlite3_errcode(cat->db) == SQLITE_IOERR &&
         (sys == ENOSPC || sys == EDQUOT)))
        return pm__catalog_msg(cat, -ENOSPC, "%s", sqlite3_errmsg(cat->db));
    switch (sqlite3_extended_errcode(cat->db)) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        err = -EEXIST;
        break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        err = PM_ENOENT;
        break;
    case SQLITE_NOMEM:
    case SQLITE_IOERR_NOMEM:
        err = PM_ENOMEM;
        break;
    default:
        err = PM_ECATALOG;
        break;
    }
    return pm__catalog_msg(cat, err, "%s", sqlite3_errmsg(cat->db));
}

/* ---- statements ---- */

int64_t pm__wall_clock(void)
{
    return (int64_t)time(NULL);
}

/* Resets a statement and drops its bindings (strings are bound
 * SQLITE_STATIC, so none may outlive the call that bound it). */
void pm__sql_stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* For a failed bind: the error, with the statement reset. */
int pm__sql_bind_fail(pm_catalog_t *cat, sqlite3_stmt *st)
{
    int err = pm__sql_fail(cat);

    pm__sql_stmt_done(st);
    return err;
}

/* Binds a borrowed string, or NULL. */
int pm__sql_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s == NULL)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Binds a LIMIT: 0 means none. */
int pm__sql_bind_limit(sqlite3_stmt *st, int i, size_t limit)
{
    if (limit == 0 || limit > (size_t)INT64_MAX)
        return sqlite3_bind_int64(st, i, -1);
    return sqlite3_bind_int64(st, i, (sqlite3_int64)limit);
}

/* Runs a statement that returns no rows; resets it. */
int pm__sql_run(pm_catalog_t *cat, sqlite3_stmt *st)
{
    int err = 0;

    if (sqlite3_step(st) != SQLITE_DONE)
        err = pm__sql_fail(cat);
    pm__sql_stmt_done(st);
    return err;
}

/* Like pm__sql_run(), and stores how many rows it changed. */
int pm__sql_run_changes(pm_catalog_t *cat, sqlite3_stmt *st, int *changes)
{
    int err = pm__sql_run(cat, st);

    *changes = err ? 0 : sqlite3_changes(cat->db);
    return err;
}

/* Steps a query: 1 with the statement on its first row (the caller
 * resets it), 0 when there is none, or an error (both reset). */
int pm__sql_first_row(pm_catalog_t *cat, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st), err = 0;

    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE)
        err = pm__sql_fail(cat);
    pm__sql_stmt_done(st);
    return err;
}

/* Runs a query whose first column of its first row is an integer. */
int pm__sql_query_int64(pm_catalog_t *cat, sqlite3_stmt *st, int64_t *v)
{
    int err = pm__sql_first_row(cat, st);

    *v = 0;
    if (err <= 0)
        return err == 0 ? PM_ENOENT : err;
    *v = sqlite3_column_int64(st, 0);
    pm__sql_stmt_done(st);
    return 0;
}

/* Copies a text column into a new string (NULL for SQL NULL). */
int pm__sql_col_str(sqlite3_stmt *st, int i, char **out)
{
    const unsigned char *s;

    *out = NULL;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return 0;
    s = sqlite3_column_text(st, i);
    if (s != NULL)
        *out = pm_strdup((const char *)s);
    return *out != NULL ? 0 : PM_ENOMEM;
}

/* A text column for a message: borrowed, "?" for NULL. */
const char *pm__sql_col_or(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);

    return s != NULL ? (const char *)s : "?";
}

/* Copies a short text column (a state name) into buf, "" for NULL. */
void pm__sql_col_name(sqlite3_stmt *st, int i, char *buf, size_t size)
{
    const unsigned char *s = sqlite3_column_text(st, i);

    snprintf(buf, size, "%s", s != NULL ? (const char *)s : "");
}

/* Runs SQL text (setup and migrations only) through sqlite3_exec. */
int pm__sql_exec(pm_catalog_t *cat, const char *sql)
{
    if (sqlite3_exec(cat->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return pm__sql_fail(cat);
    return 0;
}

/* Runs a one-off statement (setup only) and copies the text of its first
 * column into buf. */
int pm__sql_exec_text(pm_catalog_t *cat, const char *sql, char *buf,
                      size_t size)
{
    sqlite3_stmt *st = NULL;
    int err = 0;

    buf[0] = '\0';
    if (sqlite3_prepare_v2(cat->db, sql, -1, &st, NULL) != SQLITE_OK)
        return pm__sql_fail(cat);
    if (sqlite3_step(st) == SQLITE_ROW)
        pm__sql_col_name(st, 0, buf, size);
    else
        err = pm__sql_fail(cat);
    sqlite3_finalize(st);
    return err;
}

/* ---- transactions ---- */

int pm__sql_tx_begin(pm_catalog_t *cat)
{
    return pm__sql_run(cat, STMT(cat, ST_BEGIN));
}

int pm__sql_tx_begin_read(pm_catalog_t *cat)
{
    return pm__sql_run(cat, STMT(cat, ST_BEGIN_READ));
}

/* Commits when err is 0, else (or when the commit fails) rolls back;
 * returns the first error. The rollback never overwrites the message. */
int pm__sql_tx_end(pm_catalog_t *cat, int err)
{
    sqlite3_stmt *rb = STMT(cat, ST_ROLLBACK);

    if (err == 0)
        err = pm__sql_run(cat, STMT(cat, ST_COMMIT));
    if (err != 0 && !sqlite3_get_autocommit(cat->db)) {
        sqlite3_step(rb);
        sqlite3_reset(rb);
    }
    return err;
}

/* ---- rows into structs: each reader fills `item` whole or frees it ---- */

/* Cleans up `n` items of `size` bytes (none when `cleanup` is NULL: plain
 * values) and frees the array. Accepts NULL. */
void pm__sql_free_items(void *v, size_t n, size_t size, pm__cleanup_fn cleanup)
{
    for (size_t i = 0; v != NULL && cleanup != NULL && i < n; i++)
        cleanup((char *)v + i * size);
    pm_free(v);
}

/* Reads every remaining row of `st` into a new array of `size`-byte
 * items; resets `st`. On failure nothing is kept. */
int pm__sql_collect(pm_catalog_t *cat, sqlite3_stmt *st, size_t size,
                    pm__read_fn read, pm__cleanup_fn cleanup, void **out,
                    size_t *n)
{
    char *v = NULL, *p;
    size_t len = 0, cap = 0;
    int rc, err = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            p = pm_realloc(v, cap * size);
            if (p == NULL) {
                err = pm__catalog_nomem(cat);
                break;
            }
            v = p;
        }
        err = read(st, v + len * size);
        if (err != 0) {
            err = err == PM_ENOMEM
                      ? pm__catalog_nomem(cat)
                      : pm__catalog_msg(cat, err, "unexpected value");
            break;
        }
        len++;
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = pm__sql_fail(cat);
    pm__sql_stmt_done(st);
    if (err != 0) {
        pm__sql_free_items(v, len, size, cleanup);
        return err;
    }
    *out = v;
    *n = len;
    return 0;
}

/* Reads the one row of `st` into `item`: PM_ENOENT (message left to the
 * caller) when there is none. */
int pm__sql_get_one(pm_catalog_t *cat, sqlite3_stmt *st, pm__read_fn read,
                    void *item)
{
    int err = pm__sql_first_row(cat, st);

    if (err <= 0)
        return err == 0 ? PM_ENOENT : err;
    err = read(st, item);
    pm__sql_stmt_done(st);
    if (err != 0)
        return err == PM_ENOMEM ? pm__catalog_nomem(cat)
                                : pm__catalog_msg(cat, err, "unexpected value");
    return 0;
}

int pm__sql_read_id(sqlite3_stmt *st, void *item)
{
    *(int64_t *)item = sqlite3_column_int64(st, 0);
    return 0;
}

/* ---- lifetime ---- */

static int prepare_all(pm_catalog_t *cat)
{
    const pm__sql_t *q;

    for (int m = 0; m < PM__SQL_NMODULES; m++) {
        assert(registry[m]->n <= PM__SQL_MAX);
        for (int i = 0; i < registry[m]->n; i++) {
            q = &registry[m]->v[i];
            if (sqlite3_prepare_v3(cat->db, q->sql, -1,
                                   SQLITE_PREPARE_PERSISTENT, &cat->st[m][i],
                                   NULL) != SQLITE_OK)
                return pm__catalog_msg(cat, pm__sql_fail(cat),
                                       "preparing %s: %s", q->name,
                                       sqlite3_errmsg(cat->db));
        }
    }
    return 0;
}

static void finalize_all(pm_catalog_t *cat)
{
    for (int m = 0; m < PM__SQL_NMODULES; m++) {
        for (int i = 0; i < PM__SQL_MAX; i++) {
            sqlite3_finalize(cat->st[m][i]); /* NULL-safe */
            cat->st[m][i] = NULL;
        }
    }
}

int pm__sqlite_open(const char *path, pm_catalog_t **out)
{
    pm_catalog_t *cat;
    int err;

    *out = NULL;
    if (path == NULL)
        return PM_EINVAL;
    cat = pm_calloc(1, sizeof(*cat));
    if (cat == NULL) {
        pm_log(PM_LOG_ERROR, "catalog", "open %s: out of memory", path);
        return PM_ENOMEM;
    }
    cat->ops = &pm__sqlite_ops;
    cat->lock_fd = -1;
    if (sqlite3_open_v2(path, &cat->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK) {
        err = cat->db != NULL ? pm__sql_fail(cat) : pm__catalog_nomem(cat);
        goto fail_close_db;
    }
    err = pm__sqlite_configure(cat);
    if (err == 0)
        err = pm__sqlite_migrate(cat);
    if (err == 0)
        err = prepare_all(cat);
    if (err != 0)
        goto fail_close_db;

    *out = cat;
    return PM_OK;

fail_close_db:
    pm_log(PM_LOG_ERROR, "catalog", "open %s: %s", path, cat->errmsg);
    finalize_all(cat);
    sqlite3_close(cat->db); /* NULL-safe */
    pm_free(cat);
    return err;
}

void pm__sqlite_interrupt(pm_catalog_t *cat)
{
    sqlite3_interrupt(cat->db); /* safe from another thread */
}

void pm__sqlite_close(pm_catalog_t *cat)
{
    if (cat == NULL)
        return;
    finalize_all(cat);
    if (sqlite3_close(cat->db) != SQLITE_OK)
        pm_log(PM_LOG_ERROR, "catalog", "close: %s", sqlite3_errmsg(cat->db));
    if (cat->lock_fd >= 0)
        close(cat->lock_fd); /* releases the coordinator lock */
    pm_free(cat);
}

/* ---- the coordinator lock: one coordinator per catalog file ---- */

/* The pid a lock file names (its first line), or 0 when it names none. */
static long lock_holder(int fd)
{
    char buf[32];
    ssize_t got = pread(fd, buf, sizeof(buf) - 1, 0);
    long pid;

    if (got <= 0)
        return 0;
    buf[got] = '\0';
    pid = strtol(buf, NULL, 10);
    return pid > 0 ? pid : 0;
}

/* Writes our pid as the lock file's first line: written before the old
 * text is cut, so a reader sees this pid or the previous one whole. */
static int lock_write_pid(int fd)
{
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

    if (pwrite(fd, buf, (size_t)len, 0) != len)
        return -1;
    return ftruncate(fd, len);
}

int pm__sqlite_catalog_lock_coordinator(pm_catalog_t *cat, long *holder)
{
    const char *db = sqlite3_db_filename(cat->db, "main");
    char path[PATH_MAX];
    int fd, err;

    *holder = 0;
    if (cat->lock_fd >= 0 || db == NULL || *db == '\0')
        return 0; /* held already, or in memory: no other process sees it */
    if (snprintf(path, sizeof(path), "%s.lock", db) >= (int)sizeof(path))
        return pm__catalog_msg(cat, -ENAMETOOLONG, "%s.lock: name too long",
                               db);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return pm__catalog_msg(cat, -errno,
                               "cannot open the coordinator lock %s: %s", path,
                               strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        err = errno;
        if (err == EWOULDBLOCK) {
            *holder = lock_holder(fd);
            close(fd);
            if (*holder > 0)
                return pm__catalog_msg(cat, -EBUSY,
                                       "the catalog %s is in use by another "
                                       "coordinator (pid %ld; lock file %s)",
                                       db, *holder, path);
            return pm__catalog_msg(
                cat, -EBUSY,
                "the catalog %s is in use by another coordinator "
                "(pid unknown; lock file %s)",
                db, path);
        }
        close(fd);
        return pm__catalog_msg(cat, -err, "cannot lock %s: %s", path,
                               strerror(err));
    }
    if (lock_write_pid(fd) != 0) {
        err = errno;
        close(fd);
        return pm__catalog_msg(cat, -err, "cannot write %s: %s", path,
                               strerror(err));
    }
    cat->lock_fd = fd;
    return 0;
}

sqlite3 *pm__catalog_db(pm_catalog_t *cat)
{
    return cat->db;
}

int pm__catalog_db_fail(pm_catalog_t *cat)
{
    return pm__sql_fail(cat);
}

int pm__catalog_set_msg(pm_catalog_t *cat, int err, const char *msg)
{
    return pm__catalog_msg(cat, err, "%s", msg);
}

const char *pm__sqlite_errmsg(const pm_catalog_t *cat)
{
    if (cat == NULL)
        return "no catalog";
    return cat->errmsg;
}

int pm__sqlite_catalog_schema_version(pm_catalog_t *cat, int *version)
{
    int64_t v;
    int err = pm__sql_query_int64(cat, STMT(cat, ST_SCHEMA_VERSION), &v);

    *version = err == 0 ? (int)v : 0;
    return err;
}

/* Appends PRAGMA foreign_key_check's findings; *clean = 0 if any. */
static int check_foreign_keys(pm_catalog_t *cat, pm_buf_t *b, int *clean)
{
    sqlite3_stmt *st = STMT(cat, ST_FK_CHECK);
    int rc, err = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *clean = 0;
        pm_buf_printf(
            b, "%sforeign key: %s row %lld refers to a missing %s row",
            b->len ? "\n" : "", pm__sql_col_or(st, 0),
            (long long)sqlite3_column_int64(st, 1), pm__sql_col_or(st, 2));
    }
    if (rc != SQLITE_DONE)
        err = pm__sql_fail(cat);
    pm__sql_stmt_done(st);
    return err;
}

int pm__sqlite_catalog_check(pm_catalog_t *cat, int *ok, char **report)
{
    sqlite3_stmt *st = STMT(cat, ST_INTEGRITY);
    pm_buf_t b = {0};
    const char *line;
    int rc, clean = 1, err = 0;

    *ok = 0;
    *report = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        line = (const char *)sqlite3_column_text(st, 0);
        if (line == NULL || strcmp(line, "ok") != 0)
            clean = 0;
        pm_buf_printf(&b, "%s%s", b.len ? "\n" : "", line ? line : "?");
    }
    if (rc != SQLITE_DONE)
        err = pm__sql_fail(cat);
    pm__sql_stmt_done(st);
    if (err == 0)
        err = check_foreign_keys(cat, &b, &clean);
    if (err == 0 && b.oom)
        err = pm__catalog_nomem(cat);
    if (err != 0) {
        pm_free(b.s);
        return err;
    }
    *ok = clean;
    *report = b.s;
    return 0;
}

/* ---- test probes (catalog_int.h) ---- */

static sqlite3_stmt *stmt_named(pm_catalog_t *cat, const char *name)
{
    for (int m = 0; name != NULL && m < PM__SQL_NMODULES; m++)
        for (int i = 0; i < registry[m]->n; i++)
            if (strcmp(registry[m]->v[i].name, name) == 0)
                return cat->st[m][i];
    return NULL;
}

int pm__catalog_plan(pm_catalog_t *cat, const char *name, char **plan)
{
    sqlite3_stmt *named = stmt_named(cat, name), *st = NULL;
    pm_buf_t b = {0};
    char *sql;
    int rc, err = 0;

    *plan = NULL;
    if (named == NULL)
        return pm__catalog_msg(cat, PM_ENOENT, "no statement %s", name);
    sql = pm_asprintf("EXPLAIN QUERY PLAN %s", sqlite3_sql(named));
    if (sql == NULL)
        return pm__catalog_nomem(cat);
    if (sqlite3_prepare_v2(cat->db, sql, -1, &st, NULL) != SQLITE_OK) {
        err = pm__sql_fail(cat);
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        pm_buf_printf(&b, "%s\n", pm__sql_col_or(st, 3));
    if (rc != SQLITE_DONE)
        err = pm__sql_fail(cat);
    else if (b.oom)
        err = pm__catalog_nomem(cat);
out:
    sqlite3_finalize(st);
    pm_free(sql);
    if (err != 0)
        pm_free(b.s);
    else
        *plan = b.s;
    return err;
}

int pm__catalog_stmt_counter(pm_catalog_t *cat, const char *name, int op,
                             int reset)
{
    sqlite3_stmt *st = stmt_named(cat, name);

    return st ? sqlite3_stmt_status(st, op, reset) : -1;
}

int pm__catalog_pragma(pm_catalog_t *cat, const char *name, char *buf,
                       size_t size)
{
    char *sql = pm_asprintf("PRAGMA %s", name);
    int err;

    if (sql == NULL)
        return pm__catalog_nomem(cat);
    err = pm__sql_exec_text(cat, sql, buf, size);
    pm_free(sql);
    return err;
}
