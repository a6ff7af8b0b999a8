/*
 * test_standby.c: coordinators and node agents on one PostgreSQL catalog
 * (a private server, tests/lib/pgtest.c), the real `pagemill` binary with
 * real workers and real pages:
 *
 *   - a second `serve` waits as a standby (its log and `status` say so)
 *     and takes over when the active one is killed with -9; the
 *     time from the kill to the takeover is printed;
 *   - a coordinator whose database session is cut stops its work at once
 *     (the standby has its lock by then) and comes back, same pid, as the
 *     standby;
 *   - a coordinator's restart leaves a node agent's running page alone:
 *     the agent completes it at its first attempt, billed once;
 *   - a pure coordinator (local_workers = 0) and two agents convert
 *     several batches, each agent doing some; one agent killed with -9
 *     mid-page: the other redoes its page once the lease lapses, every
 *     page billed once.
 *
 * PostgreSQL or the test data missing is a failure, never a skip.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "lib/pgtest.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define DEADLINE_S   600.0 /* OCR on a loaded 2-core machine, ASan */
#define PAGE_TIMEOUT 120

static pgt_t pg;

/* What a test started, stopped by teardown should the test fail (and
 * the agents, by sv_agents_cleanup). */
static sv_fx_t *cur;   /* the test's fixture */
static sv_fx_t second; /* a second coordinator on it */

static int group_setup(void **state)
{
    (void)state;
    return pgt_start(&pg);
}

static int sanitizer_said(const char *path)
{
    return sv_log_count(path, "Sanitizer") +
           sv_log_count(path, "runtime error");
}

/* Kills what the test left running; the fixture's logs must hold no
 * sanitizer report. */
static int teardown(void **state)
{
    int rc = sv_agents_cleanup();

    (void)state;
    if (second.pid > 0 && kill(second.pid, SIGKILL) == 0)
        waitpid(second.pid, NULL, 0);
    if (second.root[0] != '\0' && sanitizer_said(second.log) > 0) {
        fprintf(stderr, "sanitizer report in %s\n", second.log);
        rc = -1;
    }
    memset(&second, 0, sizeof(second));
    if (cur != NULL && sv_fx_delete(cur, PAGE_TIMEOUT) != 0)
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

/* A fixture whose catalog is a fresh database, with `extra` in the
 * [pagemill] section, the account, fee and work order made. */
static sv_fx_t *fixture(const char *extra)
{
    static int n;
    char name[32];
    sv_fx_t *f = pm_calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(sv_fx_init(f, t_tmpdir()), 0);
    cur = f;
    snprintf(name, sizeof(name), "standby%d", ++n);
    assert_int_equal(pgt_fresh_db(&pg, name, f->db, sizeof(f->db)), 0);
    assert_int_equal(sv_write_config(f, PAGE_TIMEOUT, extra), 0);
    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(f, "fee add STD --price 0.08125 --effective 2000-01-01");
    sv_cli_ok(f, "workorder add WO-1 --account ACME --fee-code STD");
    return f;
}

/* A second coordinator waits, says so, and takes over within seconds of
 * the first one's kill -9; then it converts a batch. */
static void standby_takes_over_when_the_coordinator_dies(void **state)
{
    sv_fx_t *f = fixture("workers = 1\n"), *b = &second;
    char *status;
    double killed, took;
    long long id;
    int attempt;

    (void)state;
    t_require_data();
    sv_start(f);
    sv_wait_log(f, "started as coordinator:", DEADLINE_S);
    *b = *f;
    b->pid = 0;
    snprintf(b->log, sizeof(b->log), "%s/serve-b.log", f->root);
    sv_start(b);
    sv_wait_log(b, "standby: the catalog", DEADLINE_S);
    status = sv_cli_text(f, "status --json");
    assert_non_null(strstr(status, "\"standby:"));
    pm_free(status);
    assert_int_equal(sv_log_count(b->log, "started as"), 0);

    killed = sv_now_s();
    assert_int_equal(sv_stop(f, SIGKILL, 10), SIGKILL);
    sv_wait_log(b, "coordinator lock is free", DEADLINE_S);
    took = sv_now_s() - killed;
    sv_wait_log(b, "started as coordinator:", DEADLINE_S);
    printf("standby took over %.2f s after the kill, started %.2f s after\n",
           took, sv_now_s() - killed);
    assert_true(took < 10.0);

    sv_drop_scan_batch(b, "WO-1_standby", 2);
    id = sv_wait_job(b, "WO-1_standby", "done", DEADLINE_S);
    sv_assert_all_done(b, id, 2, &attempt);
    assert_int_equal(attempt, 1);
    assert_int_equal(sv_stop(b, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* How many rows of `status --json`'s workers have an owner beginning
 * with `prefix` and ending with ":<pid>". */
static int owners_ending(const sv_fx_t *f, const char *prefix, pid_t pid)
{
    json_t *doc = sv_cli_status(f, NULL), *w;
    char suffix[32];
    size_t i, k;
    int n = 0;

    k = (size_t)snprintf(suffix, sizeof(suffix), ":%ld", (long)pid);
    json_array_foreach(json_object_get(doc, "workers"), i, w)
    {
        const char *owner = sv_jstr(w, "owner");
        size_t len = strlen(owner);

        n += strncmp(owner, prefix, strlen(prefix)) == 0 && len > k &&
             strcmp(owner + len - k, suffix) == 0;
    }
    json_decref(doc);
    return n;
}

/* The active coordinator's database session is cut while its process
 * lives: its coordinator lock went with the session. The old one stops its
 * work at once, saying why, and comes back by itself (same pid): as the
 * standby when the waiting one took the lock first, else as the
 * coordinator again. Never two coordinators at work. */
static void coordinator_that_loses_the_catalog_comes_back(void **state)
{
    sv_fx_t *f = fixture("workers = 1\n"), *b = &second, *won, *lost;
    char app[64], want[96];
    pid_t pid;

    (void)state;
    sv_start(f);
    sv_wait_log(f, "started as coordinator:", DEADLINE_S);
    pid = f->pid;
    *b = *f;
    b->pid = 0;
    snprintf(b->log, sizeof(b->log), "%s/serve-b.log", f->root);
    sv_start(b);
    sv_wait_log(b, "standby: the catalog", DEADLINE_S);

    snprintf(app, sizeof(app), "pagemill:%ld", (long)f->pid);
    assert_true(pgt_terminate(&pg, app) >= 1);
    sv_wait_log(f, "lost its connection to the catalog", DEADLINE_S);
    sv_wait_log_alive(f, "rejoin: reconnected to the catalog", DEADLINE_S);

    /* The lock goes to the standby (its poll) or back to f (its
     * reconnection came first): either way one coordinator, the other
     * waiting, and f the same process. */
    for (double until = sv_now_s() + DEADLINE_S;
         sv_log_count(b->log, "started as coordinator:") == 0 &&
         sv_log_count(f->log, "started as coordinator:") < 2;
         sv_nap_ms(50))
        if (sv_now_s() > until)
            fail_msg("neither took the lock within %.0f s", DEADLINE_S);
    won = sv_log_count(b->log, "started as coordinator:") > 0 ? b : f;
    lost = won == b ? f : b;
    snprintf(want, sizeof(want), "is held by coordinator pagemill:%ld",
             (long)won->pid);
    sv_wait_log_alive(lost, want, DEADLINE_S);
    assert_int_equal(sv_reap(f, 0.5), -1); /* still running */
    assert_int_equal(f->pid, pid);
    assert_int_equal(sv_log_count(b->log, "started as coordinator:") +
                         sv_log_count(f->log, "started as coordinator:"),
                     2);

    /* status: one coordinates, the other waits (its standby row). */
    assert_int_equal(owners_ending(f, "standby:", lost->pid), 1);
    assert_int_equal(owners_ending(f, "standby:", won->pid), 0);
    assert_int_equal(owners_ending(f, "coordinator:", lost->pid), 0);
    assert_true(owners_ending(f, "coordinator:", won->pid) > 0);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    assert_int_equal(sv_stop(b, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* The coordinator restarts while an agent converts a page: the agent's
 * lease is left alone, its page done at attempt 1, billed once. */
static void coordinator_restart_spares_the_agents_page(void **state)
{
    sv_fx_t *f = fixture("local_workers = 0\n");
    sv_agent_t a = {0};
    long long id;
    int attempt = 0, max_attempt;
    char holder[64];

    (void)state;
    t_require_data();
    sv_start(f);
    sv_wait_log(f, "for assembly only", DEADLINE_S);
    sv_agent_start(&a, f->ini, f->root, "zeta", "--lease", "60", "--poll", "1",
                   NULL);
    sv_drop_scan_batch(f, "WO-1_restart", 2);
    id = sv_wait_job(f, "WO-1_restart", "running", DEADLINE_S);
    sv_wait_running(f, id, "agent:zeta:", &attempt, holder, DEADLINE_S);
    assert_int_equal(attempt, 1);
    assert_int_equal(sv_stop(f, SIGKILL, 10), SIGKILL);
    sv_start(f);
    assert_int_equal(sv_wait_job(f, "WO-1_restart", "done", DEADLINE_S), id);
    sv_assert_all_done(f, id, 2, &max_attempt);
    assert_int_equal(max_attempt, 1); /* nothing redone */
    assert_int_equal(sv_log_count(a.log, " done (attempt 1"), 2);
    assert_int_equal(sv_log_count(f->log, "previous coordinator requeued"), 0);
    sv_agent_stop(&a, SIGTERM, DEADLINE_S);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* A pure coordinator and two agents: every page of several batches done
 * and billed once, by both; an agent killed mid-page has its page redone
 * by the other after its 3 s lease. */
static void two_agents_and_a_pure_coordinator(void **state)
{
    sv_fx_t *f = fixture("local_workers = 0\n");
    sv_agent_t a = {0}, b = {0}, *victim = NULL;
    char name[32];
    long long ids[3];
    int attempt = 0, max_attempt;
    char holder[64];

    (void)state;
    t_require_data();
    sv_start(f);
    sv_wait_log(f, "for assembly only", DEADLINE_S);
    sv_agent_start(&a, f->ini, f->root, "eta", "--lease", "3", "--poll", "1",
                   NULL);
    sv_agent_start(&b, f->ini, f->root, "theta", "--lease", "3", "--poll", "1",
                   NULL);
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "WO-1_two%d", i);
        sv_drop_text_batch(f, name, 3);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "WO-1_two%d", i);
        ids[i] = sv_wait_job(f, name, "done", DEADLINE_S);
        sv_assert_all_done(f, ids[i], 3, &max_attempt);
        assert_int_equal(max_attempt, 1);
    }
    assert_true(sv_log_count(a.log, " done (attempt") > 0);
    assert_true(sv_log_count(b.log, " done (attempt") > 0);
    assert_int_equal(sv_log_count(a.log, " done (attempt") +
                         sv_log_count(b.log, " done (attempt"),
                     6);

    /* One dies mid-page: the other takes the page after the lease. */
    sv_drop_scan_batch(f, "WO-1_kill", 2);
    ids[2] = sv_wait_job(f, "WO-1_kill", "running", DEADLINE_S);
    do { /* until caught holding its page: frozen, it cannot finish it */
        int64_t task =
            sv_wait_running(f, ids[2], "agent:", &attempt, holder, DEADLINE_S);

        victim = strncmp(holder, "agent:eta:", 10) == 0 ? &a : &b;
        if (!sv_agent_freeze_on(victim, f->db, ids[2], task, holder, attempt))
            victim = NULL;
    } while (victim == NULL);
    sv_agent_stop(victim, SIGKILL, DEADLINE_S);
    assert_int_equal(sv_wait_job(f, "WO-1_kill", "done", DEADLINE_S), ids[2]);
    sv_assert_all_done(f, ids[2], 2, &max_attempt);
    assert_int_equal(max_attempt, attempt + 1);
    sv_agent_stop(&a, SIGTERM, DEADLINE_S); /* the one still alive */
    sv_agent_stop(&b, SIGTERM, DEADLINE_S);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(standby_takes_over_when_the_coordinator_dies,
                                  teardown),
        cmocka_unit_test_teardown(coordinator_that_loses_the_catalog_comes_back,
                                  teardown),
        cmocka_unit_test_teardown(coordinator_restart_spares_the_agents_page,
                                  teardown),
        cmocka_unit_test_teardown(two_agents_and_a_pure_coordinator, teardown),
    };

    /* PM_TEST_FILTER=coordinator_restart* runs only the tests matching. */
    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
