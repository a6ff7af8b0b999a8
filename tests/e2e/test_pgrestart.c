/*
 * test_pgrestart.c: the PostgreSQL server restarted under a running
 * service (a private server, tests/lib/pgtest.c; the real `pagemill`
 * binary, real workers, real scans). `serve` with a local worker and one
 * node agent convert a batch; the server is stopped (fast shutdown, every
 * session ended) while pages are on both, and started again on the same
 * port and data once the coordinator has tried to reconnect and failed:
 *
 *   - the coordinator says it lost the catalog, stops its work, comes
 *     back by itself (same pid), says it reconnected and coordinates
 *     again (a SIGHUP while it reconnects reloads nothing); the agent
 *     says it lost the connection and reconnected;
 *   - the job is published with every page done and billed once;
 *   - `status --json` shows one coordinator, the original process, and no
 *     standby.
 *
 * PostgreSQL or the test data missing is a failure, never a skip.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/pgtest.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define DEADLINE_S   900.0 /* OCR on a loaded 2-core machine, ASan */
#define PAGE_TIMEOUT 120
#define PAGES        4

static pgt_t pg;
static sv_fx_t *cur; /* the test's fixture, stopped by teardown */

static int group_setup(void **state)
{
    (void)state;
    return pgt_start(&pg);
}

static int group_teardown(void **state)
{
    (void)state;
    pgt_stop(&pg);
    return 0;
}

static int teardown(void **state)
{
    int rc = sv_agents_cleanup();

    (void)state;
    if (cur != NULL && sv_fx_delete(cur, PAGE_TIMEOUT) != 0)
        rc = -1;
    cur = NULL;
    return pgt_resume(&pg) != 0 ? -1 : rc; /* a test that failed halted */
}

/* Waits for batch `batch`'s job to be done, failing as soon as the
 * coordinator exits. */
static long long wait_done(sv_fx_t *f, const char *batch)
{
    double until = sv_now_s() + DEADLINE_S;
    char seen[64] = "";
    long long id = 0;
    int status = 0;

    while (sv_now_s() < until) {
        if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
            f->pid = 0;
            fail_msg("the coordinator exited (wait status %d): see %s", status,
                     f->log);
        }
        id = sv_job_state(f, batch, seen);
        if (id > 0 && strcmp(seen, "done") == 0)
            return id;
        assert_string_not_equal(seen, "failed");
        sv_nap_ms(200);
    }
    fail_msg("batch %s: last seen %s (log: %s)", batch, seen, f->log);
    return 0;
}

/* Every worker row of `status --json` is this coordinator's (owner
 * coordinator:<host>:<pid>) or the agent's: no second coordinator, no
 * standby. */
static void assert_one_coordinator(const sv_fx_t *f)
{
    json_t *doc = sv_cli_status(f, NULL), *w;
    char suffix[32];
    size_t i, mine = 0;

    snprintf(suffix, sizeof(suffix), ":%ld", (long)f->pid);
    json_array_foreach(json_object_get(doc, "workers"), i, w)
    {
        const char *owner = sv_jstr(w, "owner");
        size_t n = strlen(owner), k = strlen(suffix);

        assert_true(strncmp(owner, "standby:", 8) != 0);
        if (strncmp(owner, "coordinator:", 12) != 0)
            continue;
        if (n < k || strcmp(owner + n - k, suffix) != 0)
            fail_msg("a second coordinator in status: %s", owner);
        mine++;
    }
    json_decref(doc);
    assert_true(mine > 0);
}

static void restart_mid_batch_loses_and_bills_nothing_twice(void **state)
{
    sv_agent_t a = {0};
    sv_fx_t *f;
    char holder[64], path[700];
    int attempt = 0, max_attempt;
    long long id;
    pid_t pid;

    (void)state;
    t_require_data();
    f = cur = pm_calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(sv_fx_init(f, t_tmpdir()), 0);
    assert_int_equal(pgt_fresh_db(&pg, "restart", f->db, sizeof(f->db)), 0);
    assert_int_equal(sv_write_config(f, PAGE_TIMEOUT, "workers = 1\n"), 0);
    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(f, "fee add STD --price 0.08125 --effective 2000-01-01");
    sv_cli_ok(f, "workorder add WO-1 --account ACME --fee-code STD");
    sv_start(f);
    sv_wait_log(f, "started as coordinator:", DEADLINE_S);
    pid = f->pid;
    sv_agent_start(&a, f->ini, f->root, "kappa", "--lease", "5", "--poll", "1",
                   NULL);

    /* Pages on the coordinator's worker and on the agent's. */
    sv_drop_scan_batch(f, "WO-1_restart", PAGES);
    id = sv_wait_job(f, "WO-1_restart", "running", DEADLINE_S);
    sv_wait_running(f, id, "coordinator:", &attempt, holder, DEADLINE_S);
    sv_wait_running(f, id, "agent:kappa:", &attempt, holder, DEADLINE_S);

    /* Down until the coordinator has lost it and failed to reconnect. */
    assert_int_equal(pgt_halt(&pg), 0);
    sv_wait_log(f, "lost its connection to the catalog", DEADLINE_S);
    sv_wait_log_alive(f, "rejoin: attempt 1 to reach the catalog", DEADLINE_S);
    /* A reload while it reconnects starts nothing (no hot folder watched
     * without the lock). */
    assert_int_equal(kill(f->pid, SIGHUP), 0);
    sv_wait_log_alive(f, "SIGHUP on standby (or reconnecting)", DEADLINE_S);
    assert_int_equal(pgt_resume(&pg), 0);

    assert_int_equal(wait_done(f, "WO-1_restart"), id);
    assert_int_equal(f->pid, pid);
    sv_assert_all_done(f, id, PAGES, &max_attempt); /* billed once each */
    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-%lld/data/job-%lld.pdf",
             f->out, id, id);
    assert_int_equal(t_pdf_pages(path), PAGES);
    assert_true(sv_log_count(f->log, "rejoin: reconnected to the catalog") > 0);
    assert_int_equal(sv_log_count(f->log, "started as coordinator:"), 2);
    sv_wait_text(a.log, "catalog connection lost", DEADLINE_S);
    sv_wait_text(a.log, "catalog reconnected", DEADLINE_S);
    assert_one_coordinator(f);

    sv_agent_stop(&a, SIGTERM, DEADLINE_S);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            restart_mid_batch_loses_and_bills_nothing_twice, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
