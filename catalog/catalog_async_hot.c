/*
 * catalog_async_hot.c: the queue's hot path without blocking the loop
 * (catalog.h, "a lane"): claims, renewals, completions, failures, the
 * requeue of expired leases and the workers report.
 *
 * A lane keeps its operations in a list and runs the first: on
 * PostgreSQL its statements are sent in libpq's pipeline mode on the
 * non-blocking connection (pg_queue.c and pg_status.c's send halves,
 * each transaction ended by a Sync), a uv_poll_t on PQsocket() flushes
 * them and reads the answers as they come (their read halves), and a
 * uv_timer_t bounds the operation, as catalog_async.c does for the open
 * and the lock. A failure takes two round trips of one transaction (the
 * fence, then the change or ROLLBACK). An operation that times out
 * leaves the handle broken (pm_catalog_connected says 0) for its owner
 * to close, and fails the ones behind it.
 *
 * On SQLite an operation runs synchronously when given; its callback
 * comes from a zero timer, in order.
 */
#include <assert.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "catalog/catalog.h"
#include "catalog/catalog_int.h"
#include "catalog/pg_int.h"
#include "pipeline/base/pm.h"

enum op_kind {
    OP_CLAIM,
    OP_RENEW,
    OP_COMPLETE,
    OP_FAIL,
    OP_EXPIRED,
    OP_WORKERS
};

static const char *const op_names[] = {
    [OP_CLAIM] = "a claim",
    [OP_RENEW] = "a renewal",
    [OP_COMPLETE] = "a completion",
    [OP_FAIL] = "a failure",
    [OP_EXPIRED] = "the requeue of expired leases",
    [OP_WORKERS] = "the workers report",
};

typedef struct lane_op {
    int kind;
    int started, answered;
    int err;
    int syncs;  /* Syncs sent and not yet read */
    int synced; /* Syncs read: the transaction a result belongs to */
    int stage;  /* OP_FAIL: 0 the fence, 1 the change, 2 ROLLBACK */
    int final;  /* OP_FAIL: the attempt was the last */
    pm_catalog_done_cb cb;
    void *data;
    /* the arguments */
    char *owner, *why;
    int lease_s, attempt, max_attempts;
    int64_t now, id;
    size_t max, n;
    pm_lease_t *leases;
    pm_completion_t *done;
    pm_worker_info_t *rows;
    /* the results, handed over at the callback */
    pm_task_t *tasks;
    size_t ntasks;
    int count;
    pm_task_t **out_tasks;
    size_t *out_n;
    int *out_count;
    struct lane_op *next;
} lane_op_t;

struct pm_catalog_lane {
    uv_loop_t *loop;
    pm_catalog_t *cat;
    int pg;
    unsigned timeout_ms;
    uv_timer_t timer; /* the operation's bound */
    uv_timer_t soon;  /* the next turn: start or report */
    uv_poll_t poll;
    int polling; /* poll initialised on the socket */
    int handles; /* not yet closed */
    int advancing, dead;
    uint64_t started_ms; /* uv_now when the operation under way began */
    lane_op_t *head, *tail;
    size_t pending;
};

static void advance(pm_catalog_lane_t *l);

/* ---- operations ---- */

static void op_free(lane_op_t *op)
{
    pm_task_list_free(op->tasks, op->ntasks);
    pm_free(op->owner);
    pm_free(op->why);
    pm_free(op->rows);
    pm_free(op);
}

static void on_soon(uv_timer_t *t)
{
    advance(t->data);
}

static lane_op_t *op_new(pm_catalog_lane_t *l, int kind, pm_catalog_done_cb cb,
                         void *data)
{
    lane_op_t *op = pm_calloc(1, sizeof(*op));

    if (op == NULL)
        return NULL;
    op->kind = kind;
    op->cb = cb;
    op->data = data;
    (void)l;
    return op;
}

/* Queues op; on SQLite `run` has answered it already. */
static int op_give(pm_catalog_lane_t *l, lane_op_t *op)
{
    assert(!l->dead);
    if (l->tail != NULL)
        l->tail->next = op;
    else
        l->head = op;
    l->tail = op;
    l->pending++;
    uv_timer_start(&l->soon, on_soon, 0, 0);
    return 0;
}

/* Hands op's results to the caller and calls back. */
static void deliver(lane_op_t *op)
{
    if (op->out_tasks != NULL) {
        *op->out_tasks = op->tasks;
        *op->out_n = op->ntasks;
        op->tasks = NULL;
        op->ntasks = 0;
    }
    if (op->out_count != NULL)
        *op->out_count = op->count;
    op->cb(op->data, op->err);
}

/* ---- SQLite: the synchronous call, at once ---- */

static void run_sync(pm_catalog_lane_t *l, lane_op_t *op)
{
    pm_catalog_t *cat = l->cat;

    switch (op->kind) {
    case OP_CLAIM:
        op->err = pm_task_claim_n(cat, op->owner, op->lease_s, op->now, op->max,
                                  &op->tasks, &op->ntasks);
        break;
    case OP_RENEW:
        op->err = pm_task_renew_n(cat, op->leases, op->n, op->lease_s, op->now);
        break;
    case OP_COMPLETE:
        op->err = pm_task_complete_n(cat, op->done, op->n, op->now);
        break;
    case OP_FAIL:
        op->err = pm_task_fail(cat, op->id, op->attempt, op->why,
                               op->max_attempts, op->now);
        break;
    case OP_EXPIRED:
        op->err =
            pm_task_requeue_expired(cat, op->now, op->max_attempts, &op->count);
        break;
    case OP_WORKERS:
        op->err = pm_worker_report(cat, op->owner, op->rows, op->n, op->now);
        break;
    }
    op->started = op->answered = 1;
}

/* ---- PostgreSQL: the pipeline ---- */

static pm__pg_t *pg_of(pm_catalog_lane_t *l)
{
    return pm__pg(l->cat);
}

/* Fails every operation of the lane not yet answered with `err`. */
static void fail_all(pm_catalog_lane_t *l, int err)
{
    for (lane_op_t *op = l->head; op != NULL; op = op->next) {
        if (!op->answered) {
            op->started = op->answered = 1;
            op->err = op->err != 0 ? op->err : err;
        }
    }
}

/* The connection failed under op: the handle is unusable. */
static void broke(pm_catalog_lane_t *l, int err)
{
    pm__pg_t *pg = pg_of(l);

    pg->broken = 1;
    uv_timer_stop(&l->timer);
    if (l->polling)
        uv_poll_stop(&l->poll);
    fail_all(l, err);
    uv_timer_start(&l->soon, on_soon, 0, 0);
}

static void on_timeout(uv_timer_t *t)
{
    pm_catalog_lane_t *l = t->data;
    lane_op_t *op = l->head;

    assert(op != NULL && op->started && !op->answered);
    pm__pg_msg(pg_of(l), -ETIMEDOUT,
               "the server did not answer %s within %u ms", op_names[op->kind],
               l->timeout_ms);
    op->err = -ETIMEDOUT;
    op->answered = 1;
    broke(l, PM_ECATALOG);
}

/* One result of op's transaction number op->synced (cleared here, or by
 * the read half it goes to). */
static void take(pm_catalog_lane_t *l, lane_op_t *op, PGresult *r)
{
    pm__pg_t *pg = pg_of(l);
    ExecStatusType s = PQresultStatus(r);
    int cut = 0;

    if (op->kind == OP_COMPLETE && s != PGRES_PIPELINE_ABORTED &&
        (size_t)op->synced < op->n) {
        pm__pg_complete_read(pg, r, &op->done[op->synced]);
        return;
    }
    if (s == PGRES_TUPLES_OK && op->kind == OP_CLAIM) {
        op->err = pm__pg_claim_read(pg, r, &op->tasks, &op->ntasks, &cut);
        return;
    }
    if (s == PGRES_TUPLES_OK && op->kind == OP_RENEW) {
        pm__pg_renew_n_read(r, op->leases, op->n);
        return;
    }
    if (s == PGRES_TUPLES_OK && op->kind == OP_FAIL && op->stage == 0) {
        op->err = pm__pg_fail_fence_read(pg, r, op->id, op->attempt,
                                         op->max_attempts, &op->final);
        return;
    }
    if (s == PGRES_COMMAND_OK && op->kind == OP_EXPIRED)
        op->count = atoi(PQcmdTuples(r));
    else if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK &&
             s != PGRES_PIPELINE_ABORTED && op->err == 0)
        op->err = pm__pg_fail(pg, r);
    PQclear(r);
}

/* A failure's next round trip after its Sync: the change when the fence
 * allowed it, ROLLBACK after anything else. 1 when one was sent. */
static int fail_next(pm_catalog_lane_t *l, lane_op_t *op, int *err)
{
    pm__pg_t *pg = pg_of(l);

    if (op->stage == 0 && op->err == 0) {
        op->stage = 1;
        *err =
            pm__pg_fail_give_up_send(pg, op->id, op->final, op->why, op->now);
    } else if (op->stage < 2 && op->err != 0) {
        op->stage = 2; /* the transaction is ended either way */
        *err = pm__pg_rollback_send(pg);
    } else {
        return 0;
    }
    op->syncs++;
    return 1;
}

static void watch(pm_catalog_lane_t *l, int events);

/* op's answers all read: the connection is blocking again. */
static void answered(pm_catalog_lane_t *l, lane_op_t *op)
{
    pm__pg_t *pg = pg_of(l);

    uv_timer_stop(&l->timer);
    if (l->polling)
        uv_poll_stop(&l->poll);
    if (PQexitPipelineMode(pg->conn) != 1) {
        /* something is still queued: the next answer would be read as
         * another operation's, so the session is not used again */
        if (op->err == 0)
            op->err = pm__pg_fail(pg, NULL);
        pg->broken = 1;
    }
    PQsetnonblocking(pg->conn, 0);
    if (op->kind == OP_CLAIM && op->err == 0 && op->ntasks == 0)
        op->err = pm__pg_msg(pg, PM_ENOENT, "no page task to claim");
    op->answered = 1;
    advance(l);
}

/* Reads what came; a failure's next round trip is sent from here. 0, or
 * the error of a send. */
static int read_results(pm_catalog_lane_t *l, lane_op_t *op)
{
    PGconn *conn = pg_of(l)->conn;
    PGresult *r;
    int err = 0, ends = 0; /* ends: NULLs in a row */

    while (op->syncs > 0 && !PQisBusy(conn)) {
        r = PQgetResult(conn);
        if (r == NULL && PQstatus(conn) == CONNECTION_BAD)
            return pm__pg_fail(pg_of(l), NULL); /* never a Sync now */
        if (r == NULL && ++ends > 1)
            break; /* nothing more yet: wait for the socket */
        if (r == NULL)
            continue; /* the end of one statement's results */
        ends = 0;
        if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
            take(l, op, r);
            continue;
        }
        PQclear(r);
        op->syncs--;
        op->synced++;
        if (op->kind == OP_FAIL && fail_next(l, op, &err) && err != 0)
            break;
    }
    return err;
}

static void pipeline_step(pm_catalog_lane_t *l, int events)
{
    lane_op_t *op = l->head;
    PGconn *conn = pg_of(l)->conn;
    int pending, err;

    if ((events & UV_READABLE) && PQconsumeInput(conn) == 0) {
        broke(l, pm__pg_fail(pg_of(l), NULL));
        return;
    }
    err = read_results(l, op);
    pending = err != 0 ? -1 : PQflush(conn);
    if (pending < 0) {
        broke(l, err != 0 ? err : pm__pg_fail(pg_of(l), NULL));
        return;
    }
    if (op->syncs == 0 && pending == 0) {
        answered(l, op);
        return;
    }
    watch(l, UV_READABLE | (pending ? UV_WRITABLE : 0));
}

/* libuv reports a socket's error as a status: libpq is asked either way
 * and says what it was. */
static void on_io(uv_poll_t *p, int status, int events)
{
    pm_catalog_lane_t *l = p->data;

    if (l->dead || l->head == NULL || !l->head->started || l->head->answered)
        return;
    pipeline_step(l, status < 0 ? UV_READABLE | UV_WRITABLE : events);
}

static void watch(pm_catalog_lane_t *l, int events)
{
    int fd = PQsocket(pg_of(l)->conn), rc;

    if (!l->polling) {
        rc = fd < 0 ? UV_EBADF : uv_poll_init(l->loop, &l->poll, fd);
        if (rc != 0) {
            broke(l, pm__pg_msg(pg_of(l), PM_ECATALOG,
                                "watching the catalog's socket %d: %s", fd,
                                uv_strerror(rc)));
            return;
        }
        l->poll.data = l;
        l->polling = 1;
        l->handles++;
    }
    uv_poll_start(&l->poll, events, on_io);
}

/* Sends op's first round trip. */
static int send_first(pm_catalog_lane_t *l, lane_op_t *op)
{
    pm__pg_t *pg = pg_of(l);
    int err = 0;

    switch (op->kind) {
    case OP_CLAIM:
        return pm__pg_claim_send(pg, op->owner, op->lease_s, op->now, op->max);
    case OP_RENEW:
        return pm__pg_renew_n_send(pg, op->leases, op->n, op->lease_s, op->now);
    case OP_COMPLETE:
        for (size_t i = 0; i < op->n && err == 0; i++) {
            op->done[i].err = PM_ECATALOG; /* until answered */
            err = pm__pg_complete_send(pg, &op->done[i], op->now);
        }
        return err;
    case OP_FAIL:
        return pm__pg_fail_fence_send(pg, op->id);
    case OP_EXPIRED:
        return pm__pg_expired_send(pg, op->now, op->max_attempts);
    default:
        return pm__pg_worker_report_send(pg, op->owner, op->rows, op->n,
                                         op->now);
    }
}

/* Transactions (Syncs) op's first round trip sends. */
static int first_syncs(const lane_op_t *op)
{
    return op->kind == OP_COMPLETE ? (int)op->n : 1;
}

static void start_pg(pm_catalog_lane_t *l, lane_op_t *op)
{
    pm__pg_t *pg = pg_of(l);
    int err;

    op->started = 1;
    if (!pm_catalog_connected(l->cat)) {
        op->err =
            pm__pg_msg(pg, PM_ECATALOG, "the catalog's connection is down");
        op->answered = 1;
        return;
    }
    if ((op->kind == OP_RENEW || op->kind == OP_COMPLETE) && op->n == 0) {
        op->answered = 1; /* nothing to send */
        return;
    }
    if (PQsetnonblocking(pg->conn, 1) != 0 ||
        PQenterPipelineMode(pg->conn) != 1) {
        op->err = pm__pg_fail(pg, NULL);
        op->answered = 1;
        return;
    }
    err = send_first(l, op);
    if (err != 0 && pm_catalog_connected(l->cat) &&
        PQpipelineStatus(pg->conn) == PQ_PIPELINE_ON &&
        op->kind != OP_COMPLETE) {
        /* refused before anything was sent (an argument), unless a
         * statement was queued: then the pipeline cannot be trusted */
        if (PQexitPipelineMode(pg->conn) == 1) {
            PQsetnonblocking(pg->conn, 0);
            op->err = err;
            op->answered = 1;
            return;
        }
    }
    if (err != 0) { /* half sent: the pipeline cannot be trusted */
        op->err = err;
        op->answered = 1;
        broke(l, PM_ECATALOG);
        return;
    }
    op->syncs = first_syncs(op);
    l->started_ms = uv_now(l->loop);
    uv_timer_start(&l->timer, on_timeout, l->timeout_ms, 0);
    pipeline_step(l, 0);
}

/* ---- the lane ---- */

static void on_closed(uv_handle_t *h)
{
    pm_catalog_lane_t *l = h->data;

    if (--l->handles == 0)
        pm_free(l);
}

static void destroy(pm_catalog_lane_t *l)
{
    lane_op_t *op;

    if (l->head != NULL && l->head->started && !l->head->answered)
        pg_of(l)->broken = 1; /* a query under way */
    while ((op = l->head) != NULL) {
        l->head = op->next;
        op_free(op);
    }
    l->tail = NULL;
    l->pending = 0;
    uv_close((uv_handle_t *)&l->timer, on_closed);
    uv_close((uv_handle_t *)&l->soon, on_closed);
    if (l->polling)
        uv_close((uv_handle_t *)&l->poll, on_closed);
}

/* Starts the first operation, and reports those answered, in order. */
static void advance(pm_catalog_lane_t *l)
{
    lane_op_t *op;

    if (l->advancing)
        return;
    l->advancing = 1;
    while (!l->dead && (op = l->head) != NULL) {
        if (!op->started)
            start_pg(l, op); /* SQLite's ran when given */
        if (!op->answered)
            break;
        l->head = op->next;
        if (l->head == NULL)
            l->tail = NULL;
        l->pending--;
        deliver(op);
        op_free(op);
    }
    l->advancing = 0;
    if (l->dead)
        destroy(l);
}

int pm_catalog_lane_new(pm_catalog_t *cat, struct uv_loop_s *loop,
                        unsigned timeout_ms, pm_catalog_lane_t **out)
{
    pm_catalog_lane_t *l = pm_calloc(1, sizeof(*l));

    *out = NULL;
    if (l == NULL)
        return PM_ENOMEM;
    l->loop = loop;
    l->cat = cat;
    l->pg = pm__pg(cat)->ops == &pm__pg_ops;
    l->timeout_ms = timeout_ms;
    uv_timer_init(loop, &l->timer);
    uv_timer_init(loop, &l->soon);
    l->timer.data = l->soon.data = l;
    l->handles = 2;
    *out = l;
    return 0;
}

size_t pm_catalog_lane_pending(const pm_catalog_lane_t *l)
{
    return l != NULL ? l->pending : 0;
}

uint64_t pm_catalog_lane_waiting_ms(const pm_catalog_lane_t *l)
{
    const lane_op_t *op = l != NULL ? l->head : NULL;

    if (op == NULL || !op->started || op->answered || !l->pg)
        return 0;
    return uv_now(l->loop) - l->started_ms;
}

void pm_catalog_lane_free(pm_catalog_lane_t *l)
{
    if (l == NULL || l->dead)
        return;
    l->dead = 1;
    if (!l->advancing)
        destroy(l);
}

/* Gives op: run at once on SQLite. */
static int give(pm_catalog_lane_t *l, lane_op_t *op)
{
    if (!l->pg)
        run_sync(l, op);
    return op_give(l, op);
}

int pm_task_claim_n_async(pm_catalog_lane_t *l, const char *owner, int lease_s,
                          int64_t now, size_t max, pm_task_t **out, size_t *n,
                          pm_catalog_done_cb cb, void *data)
{
    lane_op_t *op = op_new(l, OP_CLAIM, cb, data);

    *out = NULL;
    *n = 0;
    if (op == NULL ||
        (owner != NULL && (op->owner = pm_strdup(owner)) == NULL)) {
        pm_free(op);
        return PM_ENOMEM;
    }
    op->lease_s = lease_s;
    op->now = now;
    op->max = max;
    op->out_tasks = out;
    op->out_n = n;
    return give(l, op);
}

int pm_task_renew_n_async(pm_catalog_lane_t *l, pm_lease_t *v, size_t n,
                          int lease_s, int64_t now, pm_catalog_done_cb cb,
                          void *data)
{
    lane_op_t *op = op_new(l, OP_RENEW, cb, data);

    if (op == NULL)
        return PM_ENOMEM;
    op->leases = v;
    op->n = n;
    op->lease_s = lease_s;
    op->now = now;
    for (size_t i = 0; i < n; i++)
        v[i].ok = 0;
    return give(l, op);
}

int pm_task_complete_n_async(pm_catalog_lane_t *l, pm_completion_t *v, size_t n,
                             int64_t now, pm_catalog_done_cb cb, void *data)
{
    lane_op_t *op = op_new(l, OP_COMPLETE, cb, data);

    if (op == NULL)
        return PM_ENOMEM;
    op->done = v;
    op->n = n;
    op->now = now;
    for (size_t i = 0; i < n; i++)
        v[i].err = PM_ECATALOG; /* until answered */
    return give(l, op);
}

int pm_task_fail_async(pm_catalog_lane_t *l, int64_t id, int attempt,
                       const char *why, int max_attempts, int64_t now,
                       pm_catalog_done_cb cb, void *data)
{
    lane_op_t *op = op_new(l, OP_FAIL, cb, data);

    if (op == NULL ||
        (op->why = pm_strdup(why != NULL ? why : "unknown error")) == NULL) {
        pm_free(op);
        return PM_ENOMEM;
    }
    op->id = id;
    op->attempt = attempt;
    op->max_attempts = max_attempts;
    op->now = now;
    return give(l, op);
}

int pm_task_requeue_expired_async(pm_catalog_lane_t *l, int64_t now,
                                  int max_attempts, int *n,
                                  pm_catalog_done_cb cb, void *data)
{
    lane_op_t *op = op_new(l, OP_EXPIRED, cb, data);

    *n = 0;
    if (op == NULL)
        return PM_ENOMEM;
    op->now = now;
    op->max_attempts = max_attempts;
    op->out_count = n;
    return give(l, op);
}

int pm_worker_report_async(pm_catalog_lane_t *l, const char *owner,
                           const pm_worker_info_t *v, size_t n, int64_t now,
                           pm_catalog_done_cb cb, void *data)
{
    lane_op_t *op = op_new(l, OP_WORKERS, cb, data);

    if (op == NULL)
        return PM_ENOMEM;
    op->owner = owner != NULL ? pm_strdup(owner) : NULL;
    op->rows = pm_calloc(n + 1, sizeof(*v));
    if ((owner != NULL && op->owner == NULL) || op->rows == NULL) {
        op_free(op);
        return PM_ENOMEM;
    }
    if (n > 0)
        memcpy(op->rows, v, n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        op->rows[i].owner = NULL; /* unused by the report */
    op->n = n;
    op->now = now;
    return give(l, op);
}
