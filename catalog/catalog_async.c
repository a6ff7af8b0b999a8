/*
 * catalog_async.c: the catalog operations that never block the caller's
 * libuv loop (catalog.h, "without blocking the loop").
 *
 * On PostgreSQL an operation is a small state machine over the
 * connection's socket: a uv_poll_t on PQsocket() (a new one when libpq
 * moves to another socket, trying the next address) drives PQconnectPoll
 * while connecting, then the writing and reading of a pipeline (libpq's
 * pipeline mode: the queries sent at once, a Sync after each group, the
 * results read as the socket says they came); a uv_timer_t bounds the
 * whole operation. Opening is three steps: the connection; the session's
 * setup and the schema version (one pipeline); every module's statements
 * prepared (one pipeline). A catalog whose schema is not this build's
 * (a new database) is migrated with the blocking path, right after the
 * server answered. The connection is non-blocking while an operation
 * runs and blocking again when it succeeded; one that timed out is marked
 * broken (pm_catalog_connected says 0) and left to be closed.
 *
 * On SQLite the operation runs synchronously and its callback is called
 * from a zero timer, so the caller sees the same order of events.
 */
#include <assert.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "catalog/catalog.h"
#include "catalog/catalog_int.h"
#include "catalog/pg_int.h"
#include "pipeline/base/pm.h"

enum op_kind { OP_OPEN, OP_LOCK, OP_LOCK_CHECK };

enum op_step {
    STEP_DELIVER, /* done already (SQLite, or failed at once): report it */
    STEP_CONNECT, /* PQconnectPoll */
    STEP_SETUP,   /* SETs, then the schema version */
    STEP_PREPARE, /* every statement prepared */
    STEP_LOCK,    /* the coordinator lock tried, its holder read */
    STEP_CHECK    /* whether the session still holds the lock */
};

static const char *const step_names[] = {
    [STEP_DELIVER] = "reporting",
    [STEP_CONNECT] = "connecting",
    [STEP_SETUP] = "setting up the session",
    [STEP_PREPARE] = "preparing the statements",
    [STEP_LOCK] = "trying the coordinator lock",
    [STEP_CHECK] = "checking the coordinator lock",
};

struct pm_catalog_async {
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_poll_t *poll; /* on fd; NULL until the first watch */
    int fd;
    int handles; /* uv handles not yet closed */
    int kind, step, done;
    int starting; /* in the call that starts it: report on the next turn */
    int pg_url;   /* OP_OPEN of a PostgreSQL URL */
    unsigned timeout_ms;
    pm_catalog_t *cat; /* OP_OPEN: the handle made; OP_LOCK: the caller's */
    int syncs;         /* pipeline Syncs still to read */
    int setup_failed;  /* a SET or the version query failed */
    int64_t version;   /* the schema version read */
    long holder;
    int err;
    pm_catalog_open_cb open_cb;
    pm_catalog_lock_cb lock_cb;
    void *data;
    char shown[512]; /* the catalog, for the log */
};

static int is_pg(pm_catalog_t *cat)
{
    return pm__pg(cat)->ops == &pm__pg_ops;
}

/* ---- the operation's lifetime ---- */

static void on_timeout(uv_timer_t *t);

static void release(pm_catalog_async_t *op)
{
    if (op->done && op->handles == 0)
        pm_free(op);
}

static void on_handle_closed(uv_handle_t *h)
{
    pm_catalog_async_t *op = h->data;

    if (h->type == UV_POLL)
        pm_free(h);
    op->handles--;
    release(op);
}

static void close_handles(pm_catalog_async_t *op)
{
    if (op->poll != NULL) {
        uv_close((uv_handle_t *)op->poll, on_handle_closed);
        op->poll = NULL;
    }
    if (!uv_is_closing((uv_handle_t *)&op->timer))
        uv_close((uv_handle_t *)&op->timer, on_handle_closed);
}

/* The half-made handle of a failed or cancelled open. */
static void drop_opened(pm_catalog_async_t *op)
{
    pm__pg_t *pg;

    if (op->kind != OP_OPEN || op->cat == NULL)
        return;
    pg = pm__pg(op->cat);
    if (is_pg(op->cat)) {
        PQfinish(pg->conn); /* non-blocking: never waits on the server */
        pm_free(pg);
    } else {
        pm_catalog_close(op->cat);
    }
    op->cat = NULL;
}

/* Ends the operation with op->err and calls its callback. */
static void finish(pm_catalog_async_t *op)
{
    pm_catalog_t *cat = op->cat;
    char why[512] = "";

    assert(!op->done);
    if (op->starting) { /* never from within the starting call */
        if (op->poll != NULL)
            uv_poll_stop(op->poll);
        op->step = STEP_DELIVER;
        uv_timer_start(&op->timer, on_timeout, 0, 0);
        return;
    }
    op->done = 1;
    close_handles(op);
    if (op->err != 0 && cat != NULL)
        snprintf(why, sizeof(why), "%s", pm_catalog_errmsg(cat));
    if (op->kind == OP_OPEN) {
        if (op->err != 0) {
            if (why[0] == '\0')
                snprintf(why, sizeof(why), "%s", pm_strerror(op->err));
            if (op->pg_url) /* pm_catalog_open logged SQLite's */
                pm_log(PM_LOG_ERROR, "catalog", "open %s: %s", op->shown, why);
            drop_opened(op);
            cat = NULL;
        }
        op->cat = NULL; /* the caller's now */
        op->open_cb(op->data, op->err, cat, why);
    } else {
        if (op->err == -ETIMEDOUT && is_pg(cat))
            pm__pg(cat)->broken = 1;
        op->lock_cb(op->data, op->err, op->holder);
    }
    release(op);
}

/* Fails the operation with the handle's message set to `what`. */
static void fail(pm_catalog_async_t *op, int err, const char *what)
{
    if (op->cat != NULL && is_pg(op->cat))
        pm__pg_msg(pm__pg(op->cat), err, "%s", what);
    op->err = err;
    finish(op);
}

static void fail_conn(pm_catalog_async_t *op)
{
    int err = pm__pg_fail(pm__pg(op->cat), NULL);

    op->err = err;
    finish(op);
}

static void on_timeout(uv_timer_t *t)
{
    pm_catalog_async_t *op = t->data;
    char what[160];

    if (op->step == STEP_DELIVER) {
        finish(op);
        return;
    }
    snprintf(what, sizeof(what), "the server did not answer within %u ms (%s)",
             op->timeout_ms, step_names[op->step]);
    fail(op, -ETIMEDOUT, what);
}

static pm_catalog_async_t *op_new(uv_loop_t *loop, int kind, unsigned ms,
                                  void *data)
{
    pm_catalog_async_t *op = pm_calloc(1, sizeof(*op));

    if (op == NULL)
        return NULL;
    op->loop = loop;
    op->kind = kind;
    op->fd = -1;
    op->timeout_ms = ms;
    op->data = data;
    uv_timer_init(loop, &op->timer);
    op->timer.data = op;
    op->handles = 1;
    return op;
}

/* Reports op->err on the next turn of the loop. */
static void deliver_soon(pm_catalog_async_t *op)
{
    op->step = STEP_DELIVER;
    uv_timer_start(&op->timer, on_timeout, 0, 0);
}

void pm_catalog_async_cancel(pm_catalog_async_t *op)
{
    if (op == NULL || op->done)
        return;
    op->done = 1;
    close_handles(op);
    if (op->kind == OP_OPEN)
        drop_opened(op);
    else if (op->step != STEP_DELIVER && op->cat != NULL)
        pm__pg(op->cat)->broken = 1; /* a query under way */
    release(op);
}

/* ---- the socket ---- */

static void on_io(uv_poll_t *p, int status, int events);

/* Watches the connection's socket for `events` (a new poll when libpq
 * may have moved to another socket). */
static void watch(pm_catalog_async_t *op, int events)
{
    int fd = PQsocket(pm__pg(op->cat)->conn), rc;
    char what[160];

    if (fd < 0) {
        fail_conn(op);
        return;
    }
    /* While connecting, libpq may close its socket and open another
     * (the next address) of the same number: a new poll each time. */
    if (op->poll != NULL && (fd != op->fd || op->step == STEP_CONNECT)) {
        uv_close((uv_handle_t *)op->poll, on_handle_closed);
        op->poll = NULL;
    }
    if (op->poll == NULL) {
        op->poll = pm_malloc(sizeof(*op->poll));
        if (op->poll == NULL) {
            fail(op, PM_ENOMEM, "out of memory");
            return;
        }
        rc = uv_poll_init(op->loop, op->poll, fd);
        if (rc != 0) {
            pm_free(op->poll);
            op->poll = NULL;
            snprintf(what, sizeof(what), "watching socket %d: %s", fd,
                     uv_strerror(rc));
            fail(op, PM_ECATALOG, what);
            return;
        }
        op->poll->data = op;
        op->handles++;
        op->fd = fd;
    }
    uv_poll_start(op->poll, events, on_io);
}

/* ---- pipelines ---- */

static void pipeline_step(pm_catalog_async_t *op, int events);

/* Sends what is buffered and waits for the answers (and for room to send
 * the rest, if any). */
static void kick(pm_catalog_async_t *op)
{
    pipeline_step(op, 0);
}

static void start_prepare(pm_catalog_async_t *op);

static void read_row(pm_catalog_async_t *op, const PGresult *r)
{
    pm__pg_t *pg = pm__pg(op->cat);

    if (op->step == STEP_SETUP && PQntuples(r) == 1)
        op->version = pm__pg_int64(r, 0, 0);
    else if (op->step == STEP_LOCK && op->err == 0)
        op->err = pm__pg_lock_answer(pg, r, &op->holder);
    else if (op->step == STEP_CHECK && op->err == 0 &&
             (PQntuples(r) != 1 || pm__pg_int64(r, 0, 0) < 1))
        op->err = pm__pg_msg(pg, -ENOLCK,
                             "the session no longer holds the coordinator "
                             "lock");
}

/* One result of the pipeline. */
static void take(pm_catalog_async_t *op, PGresult *r)
{
    switch (PQresultStatus(r)) {
    case PGRES_PIPELINE_SYNC:
        op->syncs--;
        break;
    case PGRES_TUPLES_OK:
        read_row(op, r);
        break;
    case PGRES_COMMAND_OK:
    case PGRES_PIPELINE_ABORTED:
        break;
    default:
        if (op->step == STEP_SETUP)
            op->setup_failed = 1; /* the blocking path will say why */
        else if (op->err == 0)
            op->err = pm__pg_fail(pm__pg(op->cat), r);
        break;
    }
}

/* The pipeline's results read: the next step. */
static void pipeline_done(pm_catalog_async_t *op)
{
    pm__pg_t *pg = pm__pg(op->cat);
    int err = op->err;

    if (PQexitPipelineMode(pg->conn) != 1 && err == 0)
        err = pm__pg_fail(pg, NULL);
    if (err == 0 && op->step == STEP_SETUP &&
        (op->setup_failed || op->version != PM__CATALOG_SCHEMA_VERSION)) {
        /* A new database (or a failed SET): the blocking path, which
         * says what failed. The server answered a moment ago. */
        PQsetnonblocking(pg->conn, 0);
        err = pm__pg_session_setup(pg);
        if (err == 0)
            err = pm__pg_migrate(pg);
        PQsetnonblocking(pg->conn, 1);
    }
    op->err = err;
    if (err == 0 && op->step == STEP_SETUP) {
        start_prepare(op);
        return;
    }
    PQsetnonblocking(pg->conn, 0); /* answered: blocking again */
    finish(op);
}

static void pipeline_step(pm_catalog_async_t *op, int events)
{
    PGconn *conn = pm__pg(op->cat)->conn;
    PGresult *r;
    int pending;

    if ((events & UV_READABLE) && PQconsumeInput(conn) == 0) {
        fail_conn(op);
        return;
    }
    pending = PQflush(conn);
    if (pending < 0) {
        fail_conn(op);
        return;
    }
    while (op->syncs > 0 && !PQisBusy(conn)) {
        r = PQgetResult(conn);
        if (r == NULL)
            continue; /* the end of one query's results */
        take(op, r);
        PQclear(r);
    }
    if (op->syncs == 0 && pending == 0) {
        pipeline_done(op);
        return;
    }
    watch(op, UV_READABLE | (pending ? UV_WRITABLE : 0));
}

/* Sends a Sync: what came before is one transaction, answered before the
 * Sync's own result. */
static int sync_point(pm_catalog_async_t *op)
{
    if (PQpipelineSync(pm__pg(op->cat)->conn) != 1)
        return 0;
    op->syncs++;
    return 1;
}

static int send_text(PGconn *conn, const char *sql)
{
    return PQsendQueryParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0);
}

static void start_setup(pm_catalog_async_t *op)
{
    PGconn *conn = pm__pg(op->cat)->conn;
    char app[80];
    int ok;

    op->step = STEP_SETUP;
    PQsetNoticeProcessor(conn, pm__pg_ignore_notice, NULL);
    pm__pg_app_name_sql(app, sizeof(app));
    ok = PQsetnonblocking(conn, 1) == 0 && PQenterPipelineMode(conn) == 1 &&
         send_text(conn, "SET TIME ZONE 'UTC'") && send_text(conn, app) &&
         sync_point(op) &&
         send_text(conn, "SELECT coalesce(max(version), 0) FROM "
                         "schema_migrations") &&
         sync_point(op);
    if (!ok) {
        fail_conn(op);
        return;
    }
    kick(op);
}

static void start_prepare(pm_catalog_async_t *op)
{
    PGconn *conn = pm__pg(op->cat)->conn;
    const pm__pgsql_table_t *t;
    int ok = PQenterPipelineMode(conn) == 1;

    op->step = STEP_PREPARE;
    for (int m = 0; ok && m < PM__PG_NMODULES; m++) {
        t = pm__pg_module(m);
        for (int i = 0; ok && i < t->n; i++)
            ok = PQsendPrepare(conn, t->v[i].name, t->v[i].sql, 0, NULL);
    }
    if (!ok || !sync_point(op)) {
        fail_conn(op);
        return;
    }
    kick(op);
}

/* ---- connecting ---- */

static void connect_step(pm_catalog_async_t *op)
{
    switch (PQconnectPoll(pm__pg(op->cat)->conn)) {
    case PGRES_POLLING_READING:
        watch(op, UV_READABLE);
        break;
    case PGRES_POLLING_WRITING:
        watch(op, UV_WRITABLE);
        break;
    case PGRES_POLLING_OK:
        start_setup(op);
        break;
    default: /* PGRES_POLLING_FAILED */
        fail_conn(op);
        break;
    }
}

/* libuv reports a socket's error (POLLERR: a refused connection, a
 * reset) as UV_EBADF; libpq reads the error itself and says what it
 * was (or moves on to the next address), so it is asked either way. */
static void on_io(uv_poll_t *p, int status, int events)
{
    pm_catalog_async_t *op = p->data;

    if (op->done || p != op->poll || op->step == STEP_DELIVER)
        return;
    if (status < 0)
        events = UV_READABLE | UV_WRITABLE;
    if (op->step == STEP_CONNECT)
        connect_step(op);
    else
        pipeline_step(op, events);
}

/* ---- the operations ---- */

static int start_pg_open(pm_catalog_async_t *op, const char *url)
{
    const char *keys[PM__PG_CONN_KEYS], *values[PM__PG_CONN_KEYS];
    pm__pg_t *pg = pm_calloc(1, sizeof(*pg));

    if (pg == NULL)
        return PM_ENOMEM;
    pm__pg_conn_params(url, keys, values);
    pg->ops = &pm__pg_ops;
    op->cat = (pm_catalog_t *)(void *)pg;
    pg->conn = PQconnectStartParams(keys, values, 1);
    if (pg->conn == NULL) {
        pm_free(pg);
        op->cat = NULL;
        return PM_ENOMEM;
    }
    uv_timer_start(&op->timer, on_timeout, op->timeout_ms, 0);
    if (PQstatus(pg->conn) == CONNECTION_BAD) {
        op->err = pm__pg_fail(pg, NULL); /* a bad URL, say */
        deliver_soon(op);
        return 0;
    }
    op->step = STEP_CONNECT;
    watch(op, UV_WRITABLE); /* as PQconnectPoll's first call expects */
    return 0;
}

int pm_catalog_open_async(struct uv_loop_s *loop, const char *url_or_path,
                          unsigned timeout_ms, pm_catalog_open_cb cb,
                          void *data, pm_catalog_async_t **out)
{
    pm_catalog_async_t *op = op_new(loop, OP_OPEN, timeout_ms, data);
    int err;

    if (out != NULL)
        *out = NULL;
    if (op == NULL)
        return PM_ENOMEM;
    op->open_cb = cb;
    pm_catalog_shown(url_or_path, op->shown, sizeof(op->shown));
    op->starting = 1;
    op->pg_url = pm_catalog_is_url(url_or_path);
    if (op->pg_url) {
        err = start_pg_open(op, url_or_path);
    } else {
        err = 0;
        op->err = pm_catalog_open(url_or_path, &op->cat); /* logs why not */
        deliver_soon(op);
    }
    op->starting = 0;
    if (err != 0) {
        op->done = 1;
        close_handles(op);
        return err;
    }
    if (out != NULL)
        *out = op;
    return 0;
}

/* The lock's try (OP_LOCK) or check (OP_LOCK_CHECK) on `cat`. */
static int start_lock(int kind, pm_catalog_t *cat, struct uv_loop_s *loop,
                      unsigned timeout_ms, pm_catalog_lock_cb cb, void *data,
                      pm_catalog_async_t **out)
{
    pm_catalog_async_t *op = op_new(loop, kind, timeout_ms, data);
    PGconn *conn;
    int ok;

    if (out != NULL)
        *out = NULL;
    if (op == NULL)
        return PM_ENOMEM;
    op->lock_cb = cb;
    op->cat = cat;
    if (out != NULL)
        *out = op;
    if (!is_pg(cat) || (kind == OP_LOCK && pm__pg(cat)->locked)) {
        /* SQLite's lock is the process's own: held until it ends */
        op->err =
            kind == OP_LOCK ? pm_catalog_lock_coordinator(cat, &op->holder) : 0;
        deliver_soon(op);
        return 0;
    }
    conn = pm__pg(cat)->conn;
    op->step = kind == OP_LOCK ? STEP_LOCK : STEP_CHECK;
    op->starting = 1;
    uv_timer_start(&op->timer, on_timeout, timeout_ms, 0);
    ok = PQsetnonblocking(conn, 1) == 0 && PQenterPipelineMode(conn) == 1 &&
         PQsendQueryPrepared(
             conn, kind == OP_LOCK ? pm__pg_lock_try_holder : pm__pg_lock_held,
             0, NULL, NULL, NULL, 0) &&
         sync_point(op);
    if (!ok) {
        op->err = pm__pg_fail(pm__pg(cat), NULL);
        pm__pg(cat)->broken = 1; /* left half in a pipeline */
        deliver_soon(op);
    } else {
        kick(op);
    }
    op->starting = 0;
    return 0;
}

int pm_catalog_lock_coordinator_async(pm_catalog_t *cat, struct uv_loop_s *loop,
                                      unsigned timeout_ms,
                                      pm_catalog_lock_cb cb, void *data,
                                      pm_catalog_async_t **out)
{
    return start_lock(OP_LOCK, cat, loop, timeout_ms, cb, data, out);
}

int pm_catalog_lock_check_async(pm_catalog_t *cat, struct uv_loop_s *loop,
                                unsigned timeout_ms, pm_catalog_lock_cb cb,
                                void *data, pm_catalog_async_t **out)
{
    return start_lock(OP_LOCK_CHECK, cat, loop, timeout_ms, cb, data, out);
}
