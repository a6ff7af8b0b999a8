/*
 * test_async.c: the catalog's operations without blocking the loop
 * (catalog.h; catalog/catalog_async.c), on a real libuv loop, on both
 * backends (SQLite: done at once, reported on the next turn):
 *
 *   - an open's callback comes from the loop, never from the call; the
 *     handle works (a job made and listed);
 *   - the coordinator lock tried on two handles: the first takes it, the
 *     second is told -EBUSY and (PostgreSQL) the holder's pid;
 *   - two hosts, the first refusing: opened through the second (libpq
 *     moves to a new socket); nothing listening: libpq's reason;
 *   - a server that accepts and never answers (a listening socket that
 *     never replies): the open fails with -ETIMEDOUT within its bound
 *     while a timer of the loop keeps firing;
 *   - a query under way when the server stops answering (SIGSTOP): the
 *     lock's try times out and the handle says it is no longer
 *     connected; closing it does not wait;
 *   - a cancelled open never calls back and leaks nothing;
 *   - a synchronous call with a bound (pm_catalog_answer_within) on a
 *     server that stops answering: fails within the bound saying so, the
 *     handle no longer connected and the next call refused at once
 *     (without one the call would wait until the server answers);
 *   - both opens set TCP keepalives and tcp_user_timeout on the socket
 *     (a server whose machine vanished is noticed), the URL's own
 *     settings winning.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "catalog/pg_int.h"
#include "lib/cattest.h"
#include "pipeline/base/pm.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct outcome {
    int calls, err;
    long holder;
    pm_catalog_t *cat;
    char why[512];
} outcome_t;

static void on_open(void *data, int err, pm_catalog_t *cat, const char *why)
{
    outcome_t *o = data;

    o->calls++;
    o->err = err;
    o->cat = cat;
    snprintf(o->why, sizeof(o->why), "%s", why != NULL ? why : "");
}

static void on_lock(void *data, int err, long holder)
{
    outcome_t *o = data;

    o->calls++;
    o->err = err;
    o->holder = holder;
}

/* Runs the loop until `o` was called back (the loop must end by then:
 * every handle of an operation closed). */
static void run_until(uv_loop_t *loop, const outcome_t *o)
{
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(o->calls, 1);
}

static void loop_close(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

/* The catalog of the group: a temporary file or a fresh database. */
static void catalog_url(char *url, size_t size)
{
    if (ct_use_pg)
        ct_pg_fresh(url, size);
    else
        snprintf(url, size, "%s/async.db", t_tmpdir());
}

static pm_catalog_t *open_async(uv_loop_t *loop, const char *url)
{
    outcome_t o = {0};

    assert_int_equal(pm_catalog_open_async(loop, url, 30000, on_open, &o, NULL),
                     0);
    assert_int_equal(o.calls, 0); /* from the loop, never from the call */
    run_until(loop, &o);
    if (o.err != 0)
        fail_msg("open %s: %s", url, o.why);
    assert_non_null(o.cat);
    return o.cat;
}

static void opens_and_locks(void **state)
{
    uv_loop_t loop;
    char url[512];
    pm_catalog_t *a, *b;
    outcome_t o = {0}, p = {0};
    pm_job_t *jobs = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    catalog_url(url, sizeof(url));
    a = open_async(&loop, url);
    ct_add_account(a, "CITY");
    ct_new_job(a, 2, 1);
    assert_int_equal(pm_job_list(a, -1, NULL, 0, &jobs, &n), 0);
    assert_int_equal(n, 1);
    pm_job_list_free(jobs, n);

    assert_int_equal(
        pm_catalog_lock_coordinator_async(a, &loop, 30000, on_lock, &o, NULL),
        0);
    assert_int_equal(o.calls, 0);
    run_until(&loop, &o);
    assert_int_equal(o.err, 0);
    /* the lock's check: held, and the handle blocking again after it */
    memset(&o, 0, sizeof(o));
    assert_int_equal(
        pm_catalog_lock_check_async(a, &loop, 30000, on_lock, &o, NULL), 0);
    assert_int_equal(o.calls, 0);
    run_until(&loop, &o);
    assert_int_equal(o.err, 0);
    assert_int_equal(pm_job_list(a, -1, NULL, 0, &jobs, &n), 0);
    pm_job_list_free(jobs, n);

    /* SQLite's second handle in this process would share the lock's
     * file: the refusal is shown on PostgreSQL, whose lock is a
     * session's. */
    if (ct_use_pg) {
        b = open_async(&loop, url);
        assert_int_equal(pm_catalog_lock_coordinator_async(b, &loop, 30000,
                                                           on_lock, &p, NULL),
                         0);
        run_until(&loop, &p);
        assert_int_equal(p.err, -EBUSY);
        assert_int_equal(p.holder, (long)getpid());
        assert_non_null(strstr(pm_catalog_errmsg(b), "in use by another"));
        assert_true(pm_catalog_connected(b));
        /* a session that does not hold the lock is told so */
        memset(&p, 0, sizeof(p));
        assert_int_equal(
            pm_catalog_lock_check_async(b, &loop, 30000, on_lock, &p, NULL), 0);
        run_until(&loop, &p);
        assert_int_equal(p.err, -ENOLCK);
        assert_non_null(strstr(pm_catalog_errmsg(b), "no longer holds"));
        /* blocking again: the synchronous API works on it */
        assert_int_equal(pm_job_list(b, -1, NULL, 0, &jobs, &n), 0);
        pm_job_list_free(jobs, n);
        pm_catalog_close(b);
    }
    pm_catalog_close(a);
    loop_close(&loop);
}

/* A port on 127.0.0.1 where nothing listens (refused). */
static int closed_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Two hosts, the first refusing: libpq moves to a new socket (often of
 * the same number) while it connects. */
static void opens_through_a_second_address(void **state)
{
    uv_loop_t loop;
    char url[512], *at, two[600];
    pm_catalog_t *cat;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    catalog_url(url, sizeof(url));
    at = strstr(url, "127.0.0.1");
    assert_non_null(at);
    snprintf(two, sizeof(two), "%.*s127.0.0.1:%d,%s", (int)(at - url), url,
             closed_port(), at);
    cat = open_async(&loop, two); /* the schema made: the async setup */
    pm_catalog_close(cat);
    cat = open_async(&loop, two);
    assert_true(pm_catalog_connected(cat));
    pm_catalog_close(cat);
    loop_close(&loop);
}

/* Nothing listening: libpq's own reason, at once. */
static void refused_says_why(void **state)
{
    uv_loop_t loop;
    outcome_t o = {0};
    char url[128];

    (void)state;
    snprintf(url, sizeof(url), "postgresql://nobody@127.0.0.1:%d/none",
             closed_port());
    assert_int_equal(uv_loop_init(&loop), 0);
    ct_quiet();
    assert_int_equal(
        pm_catalog_open_async(&loop, url, 30000, on_open, &o, NULL), 0);
    run_until(&loop, &o);
    ct_loud();
    assert_int_equal(o.err, PM_ECATALOG);
    assert_null(o.cat);
    assert_non_null(strstr(o.why, "refused"));
    loop_close(&loop);
}

/* A file that cannot be opened: the callback says so, from the loop. */
static void sqlite_open_failure_called_back(void **state)
{
    uv_loop_t loop;
    outcome_t o = {0};
    char path[512];

    (void)state;
    snprintf(path, sizeof(path), "%s/missing/dir/c.db", t_tmpdir());
    assert_int_equal(uv_loop_init(&loop), 0);
    ct_quiet();
    assert_int_equal(
        pm_catalog_open_async(&loop, path, 30000, on_open, &o, NULL), 0);
    assert_int_equal(o.calls, 0);
    run_until(&loop, &o);
    ct_loud();
    assert_true(o.err < 0);
    assert_null(o.cat);
    assert_true(o.why[0] != '\0');
    loop_close(&loop);
}

static void on_tick(uv_timer_t *t)
{
    (*(int *)t->data)++;
}

/* A TCP socket on 127.0.0.1 that listens and never accepts: connections
 * complete in the kernel and are never answered. Its port into *port. */
static int silent_listener(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void open_times_out_on_a_silent_server(void **state)
{
    uv_loop_t loop;
    uv_timer_t tick;
    outcome_t o = {0};
    char url[128];
    int port, fd = silent_listener(&port), ticks = 0;
    double t0;

    (void)state;
    snprintf(url, sizeof(url), "postgresql://nobody@127.0.0.1:%d/none", port);
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &tick);
    tick.data = &ticks;
    uv_timer_start(&tick, on_tick, 100, 100);
    uv_unref((uv_handle_t *)&tick); /* the loop ends with the open */
    t0 = now_s();
    ct_quiet();
    assert_int_equal(pm_catalog_open_async(&loop, url, 1500, on_open, &o, NULL),
                     0);
    run_until(&loop, &o);
    ct_loud();
    printf("silent server: open failed after %.2f s, %d ticks meanwhile\n",
           now_s() - t0, ticks);
    assert_int_equal(o.err, -ETIMEDOUT);
    assert_null(o.cat);
    assert_non_null(strstr(o.why, "did not answer within 1500 ms"));
    assert_true(ticks >= 5); /* the loop ran while it waited */
    uv_close((uv_handle_t *)&tick, NULL);
    loop_close(&loop);
    close(fd);
}

static void cancelled_open_never_calls_back(void **state)
{
    uv_loop_t loop;
    pm_catalog_async_t *op = NULL;
    outcome_t o = {0};
    char url[512];

    (void)state;
    catalog_url(url, sizeof(url));
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(pm_catalog_open_async(&loop, url, 30000, on_open, &o, &op),
                     0);
    assert_non_null(op);
    pm_catalog_async_cancel(op);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(o.calls, 0);
    loop_close(&loop);
}

/* The server's every process stopped while a lock's try is under way. */
static void lock_times_out_when_the_server_hangs(void **state)
{
    uv_loop_t loop;
    outcome_t o = {0};
    char url[512];
    pm_catalog_t *cat;
    double t0;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    catalog_url(url, sizeof(url));
    cat = open_async(&loop, url);
    assert_int_equal(pgt_signal(&ct_pg, SIGSTOP, 1), 0);
    assert_int_equal(
        pm_catalog_lock_coordinator_async(cat, &loop, 1500, on_lock, &o, NULL),
        0);
    t0 = now_s();
    run_until(&loop, &o);
    assert_int_equal(pgt_signal(&ct_pg, SIGCONT, 1), 0);
    printf("hung server: the lock's try gave up after %.2f s\n", now_s() - t0);
    assert_int_equal(o.err, -ETIMEDOUT);
    assert_false(pm_catalog_connected(cat));
    assert_non_null(strstr(pm_catalog_errmsg(cat), "did not answer"));
    pm_catalog_close(cat);
    loop_close(&loop);
}

/* A synchronous call, bounded, while the server's every process is
 * stopped: the coordinator's loop makes such calls. */
static void bounded_call_gives_up_on_a_hung_server(void **state)
{
    char url[512];
    pm_catalog_t *cat;
    pm_account_t a = {0};
    double t0, took;

    (void)state;
    catalog_url(url, sizeof(url));
    assert_int_equal(pm_catalog_open(url, &cat), 0);
    ct_add_account(cat, "CITY");
    pm_catalog_answer_within(cat, 1500);
    assert_int_equal(pm_account_get(cat, "CITY", &a), 0); /* answered */
    pm_account_cleanup(&a);
    assert_int_equal(pgt_signal(&ct_pg, SIGSTOP, 1), 0);
    t0 = now_s();
    int err = pm_account_get(cat, "CITY", &a);
    took = now_s() - t0;
    assert_int_equal(pgt_signal(&ct_pg, SIGCONT, 1), 0);
    printf("hung server: the bounded call gave up after %.2f s\n", took);
    assert_int_equal(err, PM_ECATALOG);
    assert_true(took >= 1.4 && took < 10);
    assert_non_null(strstr(pm_catalog_errmsg(cat), "did not answer within"));
    assert_false(pm_catalog_connected(cat));
    t0 = now_s();
    assert_int_equal(pm_account_get(cat, "CITY", &a), PM_ECATALOG);
    assert_true(now_s() - t0 < 1); /* not sent: the session is unusable */
    assert_non_null(strstr(pm_catalog_errmsg(cat), "unusable"));
    pm_catalog_close(cat);
}

/* An integer option of the catalog's socket. */
static int sockopt(pm_catalog_t *cat, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof(v);

    assert_int_equal(
        getsockopt(PQsocket(pm__pg(cat)->conn), level, name, &v, &len), 0);
    return v;
}

static void check_keepalives(pm_catalog_t *cat, int idle)
{
    assert_int_equal(sockopt(cat, SOL_SOCKET, SO_KEEPALIVE), 1);
    assert_int_equal(sockopt(cat, IPPROTO_TCP, TCP_KEEPIDLE), idle);
    assert_int_equal(sockopt(cat, IPPROTO_TCP, TCP_KEEPINTVL), 5);
    assert_int_equal(sockopt(cat, IPPROTO_TCP, TCP_KEEPCNT), 3);
    assert_int_equal(sockopt(cat, IPPROTO_TCP, TCP_USER_TIMEOUT), 30000);
}

static void sessions_notice_a_vanished_server(void **state)
{
    uv_loop_t loop;
    char url[512], own[600];
    pm_catalog_t *cat;

    (void)state;
    catalog_url(url, sizeof(url));
    assert_int_equal(pm_catalog_open(url, &cat), 0);
    check_keepalives(cat, 10);
    pm_catalog_close(cat);

    assert_int_equal(uv_loop_init(&loop), 0);
    cat = open_async(&loop, url);
    check_keepalives(cat, 10);
    pm_catalog_close(cat);

    snprintf(own, sizeof(own), "%s%skeepalives_idle=7", url,
             strchr(url, '?') != NULL ? "&" : "?");
    cat = open_async(&loop, own);
    check_keepalives(cat, 7); /* the URL's own setting wins */
    pm_catalog_close(cat);
    loop_close(&loop);
}

int main(void)
{
    const struct CMUnitTest both[] = {
        cmocka_unit_test(opens_and_locks),
        cmocka_unit_test(cancelled_open_never_calls_back),
        cmocka_unit_test(sqlite_open_failure_called_back),
    };
    const struct CMUnitTest pg_only[] = {
        cmocka_unit_test(opens_and_locks),
        cmocka_unit_test(cancelled_open_never_calls_back),
        cmocka_unit_test(opens_through_a_second_address),
        cmocka_unit_test(refused_says_why),
        cmocka_unit_test(open_times_out_on_a_silent_server),
        cmocka_unit_test(lock_times_out_when_the_server_hangs),
        cmocka_unit_test(bounded_call_gives_up_on_a_hung_server),
        cmocka_unit_test(sessions_notice_a_vanished_server),
    };
    int rc = cmocka_run_group_tests_name("sqlite", both, NULL, NULL);

    return rc |
           cmocka_run_group_tests_name("postgresql", pg_only, ct_pg_group_setup,
                                       ct_pg_group_teardown);
}
