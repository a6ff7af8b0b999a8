/*
 * test_pgloop.c: a coordinator waiting on a PostgreSQL server that does
 * not answer keeps its loop (catalog.h, "without blocking the loop"): the
 * real `pagemill serve` against a private server (tests/lib/pgtest.c)
 * stopped with SIGSTOP, so that its sockets accept and never reply.
 *
 *   - a standby whose server hangs: its lock's try times out, it says so
 *     and connects again (that times out too), and a SIGTERM stops it at
 *     once;
 *   - a coordinator whose session was cut while the postmaster hangs
 *     (re-executed with --rejoin): its connection attempt times out, it
 *     says so and backs off, and a SIGTERM stops it at once.
 *
 * Before, both waited in libpq for as long as the server (for ever, with
 * no connect_timeout in the URL): no timer, no signal, no watchdog ran.
 * The time from SIGTERM to the exit is printed. PostgreSQL missing is a
 * failure, never a skip.
 */
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/pgtest.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define DEADLINE_S 120.0 /* a start on a loaded 2-core machine, ASan */
#define STOP_S     10.0  /* a SIGTERM handled at once; ASan's exit, load */

static pgt_t pg;
static int frozen; /* the server's processes are stopped */

static sv_fx_t *cur;   /* the test's fixture */
static sv_fx_t second; /* a standby on it */

static void signal_server(int sig, int all)
{
    assert_int_equal(pgt_signal(&pg, sig, all), 0);
    frozen = sig == SIGSTOP;
}

static int group_setup(void **state)
{
    (void)state;
    return pgt_start(&pg);
}

static int teardown(void **state)
{
    int rc = sv_agents_cleanup();

    (void)state;
    if (frozen)
        signal_server(SIGCONT, 1);
    if (second.pid > 0 && kill(second.pid, SIGKILL) == 0)
        waitpid(second.pid, NULL, 0);
    if (second.root[0] != '\0' &&
        sv_log_count(second.log, "Sanitizer") +
                sv_log_count(second.log, "runtime error") >
            0) {
        fprintf(stderr, "sanitizer report in %s\n", second.log);
        rc = -1;
    }
    memset(&second, 0, sizeof(second));
    if (cur != NULL && sv_fx_delete(cur, 60) != 0)
        rc = -1;
    cur = NULL;
    return rc;
}

static int group_teardown(void **state)
{
    (void)state;
    pgt_stop(&pg);
    return 0;
}

/* A pure coordinator (no page workers) on a fresh database. */
static sv_fx_t *fixture(void)
{
    static int n;
    char name[32];
    sv_fx_t *f = pm_calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(sv_fx_init(f, t_tmpdir()), 0);
    cur = f;
    snprintf(name, sizeof(name), "pgloop%d", ++n);
    assert_int_equal(pgt_fresh_db(&pg, name, f->db, sizeof(f->db)), 0);
    assert_int_equal(sv_write_config(f, 60, "local_workers = 0\n"), 0);
    return f;
}

/* SIGTERM, and the seconds until the exit, which must be status 0. */
static double stop_timed(sv_fx_t *f, const char *what)
{
    double t0 = sv_now_s(), took;

    assert_int_equal(sv_stop(f, SIGTERM, 60), 0);
    took = sv_now_s() - t0;
    printf("%s: exited %.2f s after SIGTERM while the server hangs\n", what,
           took);
    return took;
}

/* A standby polls the lock; the whole server stops answering. */
static void standby_keeps_its_loop_while_the_server_hangs(void **state)
{
    sv_fx_t *f = fixture(), *b = &second;

    (void)state;
    sv_start(f);
    sv_wait_log(f, "started as coordinator:", DEADLINE_S);
    *b = *f;
    b->pid = 0;
    snprintf(b->log, sizeof(b->log), "%s/serve-b.log", f->root);
    sv_start(b);
    sv_wait_log(b, "standby: the catalog", DEADLINE_S);

    signal_server(SIGSTOP, 1);
    sv_wait_log_alive(b, "the lock's try on the catalog", DEADLINE_S);
    assert_true(sv_log_count(b->log, "failed: the server did not answer "
                                     "within 5000 ms") > 0);
    sv_wait_log_alive(b, "unreachable: the server did not answer", DEADLINE_S);
    assert_true(stop_timed(b, "standby") < STOP_S);
    assert_int_equal(sv_log_count(b->log, "started as"), 0);

    signal_server(SIGCONT, 1);
    /* The coordinator's own calls timed out meanwhile (its lane's bound,
     * 10 s): it lost its session and rejoins once the server answers. */
    if (sv_log_count(f->log, "lost its connection to the catalog") > 0)
        sv_wait_log(f, "rejoin: reconnected", DEADLINE_S);
    assert_int_equal(sv_stop(f, SIGTERM, 60), 0);
}

/* Ends the coordinator `pid`'s sessions through a connection opened
 * before the postmaster stopped (their processes stay zombies until it
 * runs again: the coordinator's log says when they are gone). */
static void cut_sessions(PGconn *conn, pid_t pid)
{
    char sql[256];
    PGresult *r;

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
             "FROM pg_stat_activity WHERE application_name = 'pagemill:%ld'",
             (long)pid);
    r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    assert_true(atoi(PQgetvalue(r, 0, 0)) >= 1);
    PQclear(r);
}

/* The coordinator's session is cut while the postmaster hangs: the new
 * image's connection is accepted by the kernel and never answered. */
static void rejoin_keeps_its_loop_while_the_server_hangs(void **state)
{
    sv_fx_t *f = fixture();
    char admin[256];
    PGconn *conn;

    (void)state;
    sv_start(f);
    sv_wait_log(f, "started as coordinator:", DEADLINE_S);
    pgt_url(&pg, "postgres", admin, sizeof(admin));
    conn = PQconnectdb(admin);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);

    signal_server(SIGSTOP, 0); /* the sessions still answer */
    cut_sessions(conn, f->pid);
    PQfinish(conn);
    sv_wait_log_alive(f, "rejoin: this coordinator lost its catalog session",
                      DEADLINE_S);
    sv_wait_log_alive(f, "rejoin: attempt 1 to reach the catalog", DEADLINE_S);
    assert_true(stop_timed(f, "rejoining coordinator") < STOP_S);
    assert_int_equal(sv_log_count(f->log, "rejoin: reconnected"), 0);
    signal_server(SIGCONT, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(standby_keeps_its_loop_while_the_server_hangs,
                                  teardown),
        cmocka_unit_test_teardown(rejoin_keeps_its_loop_while_the_server_hangs,
                                  teardown),
    };

    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
