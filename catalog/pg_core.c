/*
 * pg_core.c: the handle of the PostgreSQL backend (catalog.h, pg_int.h):
 * open and close, the handle's error text, the statement registry (every
 * module's table, prepared once at open), and the helpers every module
 * uses for parameters, rows and transactions.
 *
 * The URL is libpq's (postgresql://user@host:port/db?...). Times are
 * stored as BIGINT seconds since the epoch, like SQLite's, so the two
 * backends' rows read alike; the session's time zone is UTC all the same.
 */
#include <assert.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/catalog_int.h"
#include "catalog/pg_int.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_SCHEMA_VERSION,
    ST_LOCK_TRY,
    ST_LOCK_HOLDER,
    ST_LOCK_TRY_HOLDER,
    ST_LOCK_HELD,
    ST_COUNT
};

/* The coordinator lock: a session advisory lock on this key (below
 * 2^32, so pg_locks shows it as objid with classid 0). */
#define COORDINATOR_KEY "1885564783" /* "pmco" */

/* The holder's session names its process (application_name). */
#define LOCK_HOLDER_SQL                                 \
    "SELECT a.application_name FROM pg_locks l JOIN "   \
    "pg_stat_activity a ON a.pid = l.pid WHERE "        \
    "l.locktype = 'advisory' AND l.granted AND "        \
    "l.classid = 0 AND l.objid = " COORDINATOR_KEY      \
    " AND l.objsubid = 1 AND l.database = (SELECT oid " \
    "FROM pg_database WHERE datname = current_database())"

const char pm__pg_lock_try_holder[] = "lock_try_holder";
const char pm__pg_lock_held[] = "lock_held";

static const pm__pgsql_t stmts[ST_COUNT] = {
    [ST_SCHEMA_VERSION] = {"schema_version", "SELECT coalesce(max(version), 0) "
                                             "FROM schema_migrations"},
    [ST_LOCK_TRY] = {"lock_try",
                     "SELECT pg_try_advisory_lock(" COORDINATOR_KEY ")"},
    [ST_LOCK_HOLDER] = {"lock_holder", LOCK_HOLDER_SQL},
    /* Both in one round trip (catalog_async.c); the holder is read only
     * when the lock was not taken. */
    [ST_LOCK_TRY_HOLDER] = {pm__pg_lock_try_holder,
                            "SELECT pg_try_advisory_lock(" COORDINATOR_KEY
                            "), (" LOCK_HOLDER_SQL " LIMIT 1)"},
    /* Whether this session still holds it (catalog_async.c). */
    [ST_LOCK_HELD] =
        {pm__pg_lock_held,
         "SELECT count(*) FROM pg_locks WHERE locktype = "
         "'advisory' AND granted AND classid = 0 AND objid = " COORDINATOR_KEY
         " AND objsubid = 1 AND pid = "
         "pg_backend_pid()"},
};

const pm__pgsql_table_t pm__pg_core = {stmts, ST_COUNT};

/* Every module's statements, by enum pm__pg_module. */
static const pm__pgsql_table_t *const registry[PM__PG_NMODULES] = {
    [PM__PG_CORE] = &pm__pg_core,       [PM__PG_RECORDS] = &pm__pg_records,
    [PM__PG_JOBS] = &pm__pg_jobs,       [PM__PG_QUEUE] = &pm__pg_queue,
    [PM__PG_STATUS] = &pm__pg_status,   [PM__PG_IDENTITY] = &pm__pg_identity,
    [PM__PG_FEES] = &pm__pg_fees,       [PM__PG_LEDGER] = &pm__pg_ledger,
    [PM__PG_TOKENS] = &pm__pg_tokens,   [PM__PG_REVIEW] = &pm__pg_review,
    [PM__PG_MONITOR] = &pm__pg_monitor, [PM__PG_CHECK] = &pm__pg_check,
};

/* ---- errors: the detail lives on the handle ---- */

int pm__pg_msg(pm__pg_t *pg, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(pg->errmsg, sizeof(pg->errmsg), fmt, ap);
    va_end(ap);
    return err;
}

/* libpq's messages end in a newline; the handle's do not. */
static int keep_msg(pm__pg_t *pg, int err, const char *msg)
{
    size_t len;

    pm__pg_msg(pg, err, "%s", msg != NULL && *msg ? msg : "unknown error");
    len = strlen(pg->errmsg);
    while (len > 0 &&
           (pg->errmsg[len - 1] == '\n' || pg->errmsg[len - 1] == ' '))
        pg->errmsg[--len] = '\0';
    return err;
}

int pm__pg_fail(pm__pg_t *pg, const PGresult *r)
{
    const char *state =
        r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int err = PM_ECATALOG;

    if (r == NULL)
        return keep_msg(pg, PM_ECATALOG, PQerrorMessage(pg->conn));
    if (state != NULL && strcmp(state, "23505") == 0)
        err = -EEXIST; /* unique_violation */
    else if (state != NULL && strcmp(state, "23503") == 0)
        err = PM_ENOENT; /* foreign_key_violation */
    else if (state != NULL &&
             (strcmp(state, "53100") == 0 || strcmp(state, "53200") == 0))
        err = strcmp(state, "53100") == 0 ? -ENOSPC : PM_ENOMEM;
    return keep_msg(pg, err, PQresultErrorMessage(r));
}

/* ---- parameters ---- */

void pm__pg_text(pm__pg_params_t *p, const char *s)
{
    assert(p->n < PM__PG_MAXPARAMS);
    p->v[p->n++] = s;
}

void pm__pg_int(pm__pg_params_t *p, int64_t v)
{
    assert(p->n < PM__PG_MAXPARAMS);
    snprintf(p->num[p->n], sizeof(p->num[p->n]), "%lld", (long long)v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

void pm__pg_double(pm__pg_params_t *p, double v)
{
    assert(p->n < PM__PG_MAXPARAMS);
    snprintf(p->num[p->n], sizeof(p->num[p->n]), "%.17g", v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

void pm__pg_metrics(pm__pg_params_t *p, const pm_page_metrics_t *m)
{
    pm__pg_int(p, m->width);
    pm__pg_int(p, m->height);
    pm__pg_int(p, m->xres);
    pm__pg_int(p, m->yres);
    pm__pg_int(p, m->rotation);
    pm__pg_double(p, m->orient_confidence);
    pm__pg_double(p, m->skew);
    pm__pg_double(p, m->skew_confidence);
    pm__pg_int(p, m->blank != 0);
    pm__pg_double(p, m->ink_ratio);
    pm__pg_int(p, m->words);
    pm__pg_double(p, m->confidence);
    pm__pg_text(p, m->kind);
    pm__pg_text(p, m->codec);
    pm__pg_int(p, m->bytes);
    pm__pg_double(p, m->ms_decode);
    pm__pg_double(p, m->ms_orient);
    pm__pg_double(p, m->ms_deskew);
    pm__pg_double(p, m->ms_blank);
    pm__pg_double(p, m->ms_ocr);
    pm__pg_double(p, m->ms_encode);
    pm__pg_double(p, m->ms_total);
    pm__pg_text(p, m->image);
    pm__pg_text(p, m->text_pdf);
    pm__pg_text(p, m->text);
}

void pm__pg_metrics_review(pm__pg_params_t *p, const pm_page_metrics_t *m)
{
    pm__pg_int(p, m->orient_osd != 0);
    pm__pg_int(p, m->dpi_fallback); /* 0, 1 or 2: pm_dpi_source_t */
    pm__pg_text(p, m->review);
    pm__pg_text(p, m->orient_method);
    pm__pg_text(p, m->orient_evidence);
}

void pm__pg_limit(pm__pg_params_t *p, size_t limit)
{
    if (limit == 0 || limit > (size_t)INT64_MAX)
        pm__pg_text(p, NULL); /* LIMIT NULL: no limit */
    else
        pm__pg_int(p, (int64_t)limit);
}

/* ---- running statements ---- */

void pm__pg_answer_within(pm_catalog_t *cat, unsigned ms)
{
    pm__pg(cat)->answer_ms = ms;
}

/* The socket shut down under the call: its wait ends, libpq reads the
 * end of the stream, and the connection is bad from then on. */
void pm__pg_interrupt(pm_catalog_t *cat)
{
    int fd = PQsocket(pm__pg(cat)->conn);

    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the whole answer to what was just sent, at most
 * pg->answer_ms: 0 when PQgetResult will not block (the answer came, or
 * the connection failed and libpq says so), else -ETIMEDOUT. */
static int wait_answer(pm__pg_t *pg)
{
    int64_t until = now_ms() + (int64_t)pg->answer_ms;
    int fd = PQsocket(pg->conn);

    int unsent = PQflush(pg->conn); /* 1: some of it is still to go */

    while (unsent == 1 || PQisBusy(pg->conn)) {
        struct pollfd p = {.fd = fd,
                           .events = POLLIN | (unsent == 1 ? POLLOUT : 0)};
        int64_t left = until - now_ms();
        int n;

        if (left <= 0)
            return -ETIMEDOUT;
        n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || unsent < 0 || !PQconsumeInput(pg->conn))
            return 0; /* PQgetResult reports the failure */
        if (unsent == 1)
            unsent = PQflush(pg->conn);
    }
    return 0;
}

/* The answer to what was just sent (`sent`: whether sending worked), as
 * PQexec gives it: the last result, or the first that failed. Bounded
 * by pg->answer_ms; a server that did not answer in time leaves the
 * connection broken. On success *out is the result (PQclear it). */
static int answer(pm__pg_t *pg, int sent, PGresult **out)
{
    PGresult *r, *kept = NULL;
    ExecStatusType s;
    int err;

    *out = NULL;
    if (!sent)
        return pm__pg_fail(pg, NULL);
    if (pg->answer_ms > 0 && wait_answer(pg) != 0) {
        pg->broken = 1; /* a statement under way: the session is lost */
        return pm__pg_msg(pg, PM_ECATALOG,
                          "the server did not answer within %u ms",
                          pg->answer_ms);
    }
    while ((r = PQgetResult(pg->conn)) != NULL) {
        if (kept != NULL && PQresultStatus(kept) == PGRES_FATAL_ERROR) {
            PQclear(r);
            continue;
        }
        PQclear(kept);
        kept = r;
    }
    s = kept != NULL ? PQresultStatus(kept) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        err = pm__pg_fail(pg, kept);
        PQclear(kept); /* NULL-safe */
        return err;
    }
    *out = kept;
    return 0;
}

/* A handle whose statement went unanswered is not used again. */
static int refuse_broken(pm__pg_t *pg)
{
    return pm__pg_msg(pg, PM_ECATALOG,
                      "the catalog's session is unusable: the server did "
                      "not answer an earlier statement in time");
}

int pm__pg_run(pm__pg_t *pg, int module, int i, const pm__pg_params_t *p,
               PGresult **out)
{
    assert(module >= 0 && module < PM__PG_NMODULES);
    assert(i >= 0 && i < registry[module]->n);
    *out = NULL;
    if (pg->broken)
        return refuse_broken(pg);
    return answer(pg,
                  PQsendQueryPrepared(pg->conn, registry[module]->v[i].name,
                                      p != NULL ? p->n : 0,
                                      p != NULL ? p->v : NULL, NULL, NULL, 0),
                  out);
}

int pm__pg_run_text(pm__pg_t *pg, const char *sql, int n, const char *const *v,
                    PGresult **out)
{
    *out = NULL;
    if (pg->broken)
        return refuse_broken(pg);
    return answer(
        pg, PQsendQueryParams(pg->conn, sql, n, NULL, v, NULL, NULL, 0), out);
}

int pm__pg_exec(pm__pg_t *pg, int module, int i, const pm__pg_params_t *p,
                int *changes)
{
    PGresult *r;
    int err = pm__pg_run(pg, module, i, p, &r);

    if (changes != NULL)
        *changes = err == 0 ? atoi(PQcmdTuples(r)) : 0;
    PQclear(r);
    return err;
}

int pm__pg_exec_text(pm__pg_t *pg, const char *sql)
{
    PGresult *r;
    int err;

    if (pg->broken)
        return refuse_broken(pg);
    err = answer(pg, PQsendQuery(pg->conn, sql), &r);
    PQclear(r);
    return err;
}

/* ---- transactions ---- */

int pm__pg_tx_begin(pm__pg_t *pg)
{
    return pm__pg_exec_text(pg, "BEGIN");
}

int pm__pg_tx_begin_read(pm__pg_t *pg)
{
    return pm__pg_exec_text(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ "
                                "READ ONLY");
}

int pm__pg_tx_end(pm__pg_t *pg, int err)
{
    PGresult *r;
    char first[sizeof(pg->errmsg)];

    if (err == 0)
        err = pm__pg_exec_text(pg, "COMMIT");
    if (err != 0 && !pg->broken &&
        PQtransactionStatus(pg->conn) != PQTRANS_IDLE) {
        memcpy(first, pg->errmsg, sizeof(first)); /* the first message */
        if (answer(pg, PQsendQuery(pg->conn, "ROLLBACK"), &r) == 0)
            PQclear(r);
        memcpy(pg->errmsg, first, sizeof(first));
    }
    return err;
}

int pm__pg_cat_tx_begin(pm_catalog_t *cat)
{
    return pm__pg_tx_begin(pm__pg(cat));
}

int pm__pg_cat_tx_begin_read(pm_catalog_t *cat)
{
    return pm__pg_tx_begin_read(pm__pg(cat));
}

int pm__pg_cat_tx_end(pm_catalog_t *cat, int err)
{
    return pm__pg_tx_end(pm__pg(cat), err);
}

/* ---- rows ---- */

int64_t pm__pg_int64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int pm__pg_str(const PGresult *r, int row, int col, char **out)
{
    *out = NULL;
    if (PQgetisnull(r, row, col))
        return 0;
    *out = pm_strdup(PQgetvalue(r, row, col));
    return *out != NULL ? 0 : PM_ENOMEM;
}

void pm__pg_free_items(void *v, size_t n, size_t size,
                       pm__pg_cleanup_fn cleanup)
{
    for (size_t i = 0; v != NULL && cleanup != NULL && i < n; i++)
        cleanup((char *)v + i * size);
    pm_free(v);
}

int pm__pg_collect(pm__pg_t *pg, PGresult *r, size_t size, pm__pg_read_fn read,
                   pm__pg_cleanup_fn cleanup, void **out, size_t *n)
{
    size_t rows = (size_t)PQntuples(r), i;
    char *v = NULL;
    int err = 0;

    *out = NULL;
    *n = 0;
    if (rows > 0) {
        v = pm_calloc(rows, size);
        if (v == NULL)
            err = pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    }
    for (i = 0; err == 0 && i < rows; i++) {
        err = read(r, (int)i, v + i * size);
        if (err != 0)
            err = pm__pg_msg(pg, err, "%s",
                             err == PM_ENOMEM ? "out of memory"
                                              : "unexpected value");
    }
    PQclear(r);
    if (err != 0) {
        pm__pg_free_items(v, i > 0 ? i - 1 : 0, size, cleanup);
        return err;
    }
    *out = v;
    *n = rows;
    return 0;
}

int pm__pg_get_one(pm__pg_t *pg, int module, int i, const pm__pg_params_t *p,
                   pm__pg_read_fn read, void *item)
{
    PGresult *r;
    int err = pm__pg_run(pg, module, i, p, &r);

    if (err != 0)
        return err;
    if (PQntuples(r) == 0)
        err = PM_ENOENT;
    else if ((err = read(r, 0, item)) != 0)
        err =
            pm__pg_msg(pg, err, "%s",
                       err == PM_ENOMEM ? "out of memory" : "unexpected value");
    PQclear(r);
    return err;
}

/* ---- lifetime ---- */

const pm__pgsql_table_t *pm__pg_module(int m)
{
    assert(m >= 0 && m < PM__PG_NMODULES);
    return registry[m];
}

void pm__pg_ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int prepare_all(pm__pg_t *pg)
{
    const pm__pgsql_t *q;
    PGresult *r;
    int err;

    for (int m = 0; m < PM__PG_NMODULES; m++) {
        for (int i = 0; i < registry[m]->n; i++) {
            q = &registry[m]->v[i];
            r = PQprepare(pg->conn, q->name, q->sql, 0, NULL);
            if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
                err = pm__pg_fail(pg, r);
                PQclear(r);
                return pm__pg_msg(pg, err, "preparing %.64s: %.400s", q->name,
                                  PQerrorMessage(pg->conn));
            }
            PQclear(r);
        }
    }
    return 0;
}

/* UTC, and the session named after this process ("pagemill:<pid>"), so
 * the coordinator lock can say who holds it. */
void pm__pg_app_name_sql(char *sql, size_t size)
{
    snprintf(sql, size, "SET application_name = 'pagemill:%ld'",
             (long)getpid());
}

int pm__pg_session_setup(pm__pg_t *pg)
{
    char sql[80];
    int err = pm__pg_exec_text(pg, "SET TIME ZONE 'UTC'");

    pm__pg_app_name_sql(sql, sizeof(sql));
    return err != 0 ? err : pm__pg_exec_text(pg, sql);
}

void pm__pg_conn_params(const char *url, const char *keys[PM__PG_CONN_KEYS],
                        const char *values[PM__PG_CONN_KEYS])
{
    static const char *const k[PM__PG_CONN_KEYS] = {"keepalives",
                                                    "keepalives_idle",
                                                    "keepalives_interval",
                                                    "keepalives_count",
                                                    "tcp_user_timeout",
                                                    "connect_timeout",
                                                    "dbname",
                                                    NULL};
    static const char *const v[PM__PG_CONN_KEYS - 1] = {"1", "10",    "5",
                                                        "3", "30000", "10"};

    for (int i = 0; i < PM__PG_CONN_KEYS; i++) {
        keys[i] = k[i];
        values[i] = i < PM__PG_CONN_KEYS - 2 ? v[i] : NULL;
    }
    values[PM__PG_CONN_KEYS - 2] = url; /* dbname, expanded: last wins */
}

int pm__pg_open(const char *url, pm_catalog_t **out)
{
    const char *keys[PM__PG_CONN_KEYS], *values[PM__PG_CONN_KEYS];
    char shown[512];
    pm__pg_t *pg;
    int err;

    *out = NULL;
    pm_catalog_shown(url, shown, sizeof(shown));
    pg = pm_calloc(1, sizeof(*pg));
    if (pg == NULL) {
        pm_log(PM_LOG_ERROR, "catalog", "open %s: out of memory", shown);
        return PM_ENOMEM;
    }
    pg->ops = &pm__pg_ops;
    pm__pg_conn_params(url, keys, values);
    pg->conn = PQconnectdbParams(keys, values, 1);
    if (pg->conn == NULL)
        err = pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    else if (PQstatus(pg->conn) != CONNECTION_OK)
        err = pm__pg_fail(pg, NULL);
    else {
        PQsetNoticeProcessor(pg->conn, pm__pg_ignore_notice, NULL);
        err = pm__pg_session_setup(pg);
    }
    if (err == 0)
        err = pm__pg_migrate(pg);
    if (err == 0)
        err = prepare_all(pg);
    if (err != 0) {
        pm_log(PM_LOG_ERROR, "catalog", "open %s: %s", shown, pg->errmsg);
        PQfinish(pg->conn); /* NULL-safe */
        pm_free(pg);
        return err;
    }
    *out = (pm_catalog_t *)(void *)pg;
    return 0;
}

void pm__pg_close(pm_catalog_t *cat)
{
    pm__pg_t *pg = pm__pg(cat);

    PQfinish(pg->conn);
    pm_free(pg);
}

const char *pm__pg_errmsg(const pm_catalog_t *cat)
{
    return ((const pm__pg_t *)(const void *)cat)->errmsg;
}

int pm__pg_set_msg(pm_catalog_t *cat, int err, const char *msg)
{
    return pm__pg_msg(pm__pg(cat), err, "%s", msg);
}

int pm__pg_catalog_schema_version(pm_catalog_t *cat, int *version)
{
    pm__pg_t *pg = pm__pg(cat);
    PGresult *r;
    int err = pm__pg_run(pg, PM__PG_CORE, ST_SCHEMA_VERSION, NULL, &r);

    *version = 0;
    if (err != 0)
        return err;
    *version = PQntuples(r) == 1 ? (int)pm__pg_int64(r, 0, 0) : 0;
    PQclear(r);
    return 0;
}

/* ---- the coordinator lock: one coordinator per database ---- */

/* The pid the holding session's application_name names, or 0. */
static long lock_holder(pm__pg_t *pg)
{
    PGresult *r;
    long pid = 0;

    if (pm__pg_run(pg, PM__PG_CORE, ST_LOCK_HOLDER, NULL, &r) != 0)
        return 0;
    if (PQntuples(r) > 0 &&
        sscanf(PQgetvalue(r, 0, 0), "pagemill:%ld", &pid) != 1)
        pid = 0;
    PQclear(r);
    return pid > 0 ? pid : 0;
}

/* -EBUSY, saying who holds the lock (0: unknown). */
static int lock_busy(pm__pg_t *pg, long holder)
{
    if (holder > 0)
        return pm__pg_msg(pg, -EBUSY,
                          "the catalog %s is in use by another coordinator "
                          "(pid %ld; advisory lock %s)",
                          PQdb(pg->conn), holder, COORDINATOR_KEY);
    return pm__pg_msg(pg, -EBUSY,
                      "the catalog %s is in use by another coordinator (pid "
                      "unknown; advisory lock %s)",
                      PQdb(pg->conn), COORDINATOR_KEY);
}

int pm__pg_catalog_lock_coordinator(pm_catalog_t *cat, long *holder)
{
    pm__pg_t *pg = pm__pg(cat);
    PGresult *r;
    int err, got;

    *holder = 0;
    if (pg->locked)
        return 0;
    err = pm__pg_run(pg, PM__PG_CORE, ST_LOCK_TRY, NULL, &r);
    if (err != 0)
        return err;
    got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (got) {
        pg->locked = 1; /* until the session ends */
        return 0;
    }
    *holder = lock_holder(pg);
    return lock_busy(pg, *holder);
}

int pm__pg_lock_answer(pm__pg_t *pg, const PGresult *r, long *holder)
{
    long pid = 0;

    *holder = 0;
    if (PQntuples(r) != 1 || PQnfields(r) != 2)
        return pm__pg_msg(pg, PM_ECATALOG,
                          "the coordinator lock: unexpected "
                          "answer");
    if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
        pg->locked = 1; /* until the session ends */
        return 0;
    }
    if (!PQgetisnull(r, 0, 1) &&
        sscanf(PQgetvalue(r, 0, 1), "pagemill:%ld", &pid) == 1 && pid > 0)
        *holder = pid;
    return lock_busy(pg, *holder);
}
