/*
 * test_standby.c: coordinators and node agents on one PostgreSQL catalog
 * (a private server, tests/lib/pgtest.c), the real `pagemill` binary with
 * real workers and real pages:
 *
 *   - a second `serve` waits as a standby (its log and `status` say so)
 *     and takes over when the active one is killed with -9; the
 *     time from the kill to the takeover is printed;
 *   - a coordinator whose database session is cut stops at once (the
 *     standby has its lock by then);
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

#define TESTING      "tesseract-test/testing/"
#define DEADLINE_S   600.0 /* OCR on a loaded 2-core machine, ASan */
#define PAGE_TIMEOUT 120

static pgt_t pg;

/* What a test started, stopped by teardown should the test fail. */
static sv_fx_t *cur;      /* the test's fixture */
static sv_fx_t second;    /* a second coordinator on it */
static pid_t started[4];  /* agents */
static char logs[4][600]; /* their logs */
static int nstarted;

typedef struct agent {
    char node[32];
    char log[600];
    pid_t pid;
} agent_t;

static int group_setup(void **state)
{
    (void)state;
    return pgt_start(&pg);
}

static int log_count(const char *path, const char *text);

static int sanitizer_said(const char *path)
{
    return log_count(path, "Sanitizer") + log_count(path, "runtime error");
}

/* Kills what the test left running; the fixture's logs must hold no
 * sanitizer report. */
static int teardown(void **state)
{
    int rc = 0;

    (void)state;
    for (int i = 0; i < nstarted; i++) {
        if (started[i] > 0 && kill(started[i], SIGKILL) == 0)
            waitpid(started[i], NULL, 0);
        if (sanitizer_said(logs[i]) > 0) {
            fprintf(stderr, "sanitizer report in %s\n", logs[i]);
            rc = -1;
        }
    }
    nstarted = 0;
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

/* Starts `pagemill agent` on f's configuration as node `node`, one
 * worker, leases of `lease` seconds, its output into <root>/<node>.log. */
static void agent_start(agent_t *a, const sv_fx_t *f, const char *node,
                        const char *lease)
{
    pid_t pid;

    snprintf(a->node, sizeof(a->node), "%s", node);
    snprintf(a->log, sizeof(a->log), "%s/%s.log", f->root, node);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(PM_BINARY, PM_BINARY, "agent", "--config", f->ini, "--node", node,
              "--workers", "1", "--lease", lease, "--poll", "1", (char *)NULL);
        _exit(127);
    }
    a->pid = pid;
    assert_true(nstarted < 4);
    snprintf(logs[nstarted], sizeof(logs[0]), "%s", a->log);
    started[nstarted++] = pid;
}

static void reaped(pid_t pid)
{
    for (int i = 0; i < nstarted; i++)
        if (started[i] == pid)
            started[i] = 0;
}

/* SIGTERM (it must exit 0) or SIGKILL; reaped either way. */
static void agent_stop(agent_t *a, int sig)
{
    double until = sv_now_s() + DEADLINE_S;
    int status = 0;
    pid_t r = 0;

    if (a->pid <= 0)
        return;
    assert_int_equal(kill(a->pid, sig), 0);
    while (sv_now_s() < until && (r = waitpid(a->pid, &status, WNOHANG)) == 0)
        sv_nap_ms(50);
    if (r == a->pid)
        reaped(a->pid);
    a->pid = 0;
    assert_true(r > 0);
    if (sig == SIGTERM) {
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
}

static int log_count(const char *path, const char *text)
{
    char *log = t_slurp(path);
    int n = 0;

    for (const char *p = log; p != NULL && (p = strstr(p, text)) != NULL;
         p += strlen(text))
        n++;
    free(log);
    return n;
}

/* A batch of `n` pages of text naming the batch (no two batches alike:
 * intake holds a possible duplicate). */
static void drop_text_batch(const sv_fx_t *f, const char *name, int n)
{
    char dir[512], path[600], line[64];
    const char *lines[] = {line, "pagemill standby test", NULL};

    snprintf(dir, sizeof(dir), "%s/%s", f->scans, name);
    assert_int_equal(pm_mkdir_p(dir), 0);
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof(line), "Batch %s page %d", name, i + 1);
        snprintf(path, sizeof(path), "%s/p%02d.tif", dir, i + 1);
        sv_page(path, lines);
    }
    snprintf(path, sizeof(path), "%s/batch.ini", dir);
    sv_write_text(path, "account = ACME\n");
}

/* A batch of `n` pages alternating phototest and eurotext (one such
 * batch per catalog). */
static void drop_batch(const sv_fx_t *f, const char *name, int n)
{
    char dir[512], path[600];

    snprintf(dir, sizeof(dir), "%s/%s", f->scans, name);
    assert_int_equal(pm_mkdir_p(dir), 0);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/p%02d.tif", dir, i + 1);
        t_copy_file(
            t_data(i % 2 ? TESTING "eurotext.tif" : TESTING "phototest.tif"),
            path);
    }
    snprintf(path, sizeof(path), "%s/batch.ini", dir);
    sv_write_text(path, "account = ACME\n");
}

/* The id of a page of `job` running under a lease of `owner` (a
 * prefix), waiting for one; its attempt in *attempt, the lease's owner
 * in holder[64]. */
static int64_t wait_running(const sv_fx_t *f, long long job, const char *owner,
                            int *attempt, char *holder)
{
    pm_catalog_t *cat = NULL;
    pm_task_t *v = NULL;
    size_t n = 0;
    int64_t id = 0;

    assert_int_equal(pm_catalog_open(f->db, &cat), 0);
    for (double until = sv_now_s() + DEADLINE_S; id == 0 && sv_now_s() < until;
         sv_nap_ms(20)) {
        assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
        for (size_t i = 0; i < n && id == 0; i++)
            if (v[i].state == PM_TASK_RUNNING && v[i].lease_owner != NULL &&
                strncmp(v[i].lease_owner, owner, strlen(owner)) == 0) {
                id = v[i].id;
                *attempt = v[i].attempts;
                snprintf(holder, 64, "%s", v[i].lease_owner);
            }
        pm_task_list_free(v, n);
    }
    pm_catalog_close(cat);
    assert_true(id > 0);
    return id;
}

/* Every page of job `id` done; *max_attempt the highest attempt. */
static void assert_all_done(const sv_fx_t *f, long long id, int pages,
                            int *max_attempt)
{
    json_t *j, *t;
    size_t i;
    char args[64];

    snprintf(args, sizeof(args), "job show %lld", id);
    j = sv_cli_json(f, args);
    *max_attempt = 0;
    assert_int_equal(json_array_size(json_object_get(j, "page_tasks")), pages);
    json_array_foreach(json_object_get(j, "page_tasks"), i, t)
    {
        assert_string_equal(sv_jstr(t, "state"), "done");
        if (sv_jint(t, "attempts") > *max_attempt)
            *max_attempt = (int)sv_jint(t, "attempts");
    }
    json_decref(j);
    assert_int_equal(sv_billable(f, id), pages);
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
    assert_int_equal(log_count(b->log, "started as"), 0);

    killed = sv_now_s();
    assert_int_equal(sv_stop(f, SIGKILL, 10), SIGKILL);
    sv_wait_log(b, "coordinator lock is free", DEADLINE_S);
    took = sv_now_s() - killed;
    sv_wait_log(b, "started as coordinator:", DEADLINE_S);
    printf("standby took over %.2f s after the kill, started %.2f s after\n",
           took, sv_now_s() - killed);
    assert_true(took < 10.0);

    drop_batch(b, "WO-1_standby", 2);
    id = sv_wait_job(b, "WO-1_standby", "done", DEADLINE_S);
    assert_all_done(b, id, 2, &attempt);
    assert_int_equal(attempt, 1);
    assert_int_equal(sv_stop(b, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* The active coordinator's database session is cut while its process
 * lives: its coordinator lock went with the session and the standby takes
 * over, so the old one stops at once, saying why, with a failure status
 * (a supervisor restarts it, as a standby): never two coordinators. */
static void coordinator_that_loses_the_catalog_stops(void **state)
{
    sv_fx_t *f = fixture("workers = 1\n"), *b = &second;
    char app[64];
    int status;

    (void)state;
    sv_start(f);
    sv_wait_log(f, "started as coordinator:", DEADLINE_S);
    *b = *f;
    b->pid = 0;
    snprintf(b->log, sizeof(b->log), "%s/serve-b.log", f->root);
    sv_start(b);
    sv_wait_log(b, "standby: the catalog", DEADLINE_S);

    snprintf(app, sizeof(app), "pagemill:%ld", (long)f->pid);
    assert_true(pgt_terminate(&pg, app) >= 1);
    sv_wait_log(b, "started as coordinator:", DEADLINE_S);
    status = sv_reap(f, 120);
    if (status == -1)
        fail_msg("the coordinator whose session was cut still runs");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    assert_true(log_count(f->log, "lost its connection to the catalog") > 0);
    assert_int_equal(sv_stop(b, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* The coordinator restarts while an agent converts a page: the agent's
 * lease is left alone, its page done at attempt 1, billed once. */
static void coordinator_restart_spares_the_agents_page(void **state)
{
    sv_fx_t *f = fixture("local_workers = 0\n");
    agent_t a = {0};
    long long id;
    int attempt = 0, max_attempt;
    char holder[64];

    (void)state;
    t_require_data();
    sv_start(f);
    sv_wait_log(f, "for assembly only", DEADLINE_S);
    agent_start(&a, f, "zeta", "60");
    drop_batch(f, "WO-1_restart", 2);
    id = sv_wait_job(f, "WO-1_restart", "running", DEADLINE_S);
    wait_running(f, id, "agent:zeta:", &attempt, holder);
    assert_int_equal(attempt, 1);
    assert_int_equal(sv_stop(f, SIGKILL, 10), SIGKILL);
    sv_start(f);
    assert_int_equal(sv_wait_job(f, "WO-1_restart", "done", DEADLINE_S), id);
    assert_all_done(f, id, 2, &max_attempt);
    assert_int_equal(max_attempt, 1); /* nothing redone */
    assert_int_equal(log_count(a.log, " done (attempt 1"), 2);
    assert_int_equal(log_count(f->log, "previous coordinator requeued"), 0);
    agent_stop(&a, SIGTERM);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* A pure coordinator and two agents: every page of several batches done
 * and billed once, by both; an agent killed mid-page has its page redone
 * by the other after its 3 s lease. */
static void two_agents_and_a_pure_coordinator(void **state)
{
    sv_fx_t *f = fixture("local_workers = 0\n");
    agent_t a = {0}, b = {0};
    char name[32];
    long long ids[3];
    int attempt = 0, max_attempt;
    char holder[64];

    (void)state;
    t_require_data();
    sv_start(f);
    sv_wait_log(f, "for assembly only", DEADLINE_S);
    agent_start(&a, f, "eta", "3");
    agent_start(&b, f, "theta", "3");
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "WO-1_two%d", i);
        drop_text_batch(f, name, 3);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "WO-1_two%d", i);
        ids[i] = sv_wait_job(f, name, "done", DEADLINE_S);
        assert_all_done(f, ids[i], 3, &max_attempt);
        assert_int_equal(max_attempt, 1);
    }
    assert_true(log_count(a.log, " done (attempt") > 0);
    assert_true(log_count(b.log, " done (attempt") > 0);
    assert_int_equal(log_count(a.log, " done (attempt") +
                         log_count(b.log, " done (attempt"),
                     6);

    /* One dies mid-page: the other takes the page after the lease. */
    drop_batch(f, "WO-1_kill", 2);
    ids[2] = sv_wait_job(f, "WO-1_kill", "running", DEADLINE_S);
    wait_running(f, ids[2], "agent:", &attempt, holder);
    agent_stop(strncmp(holder, "agent:eta:", 10) == 0 ? &a : &b, SIGKILL);
    assert_int_equal(sv_wait_job(f, "WO-1_kill", "done", DEADLINE_S), ids[2]);
    assert_all_done(f, ids[2], 2, &max_attempt);
    assert_int_equal(max_attempt, attempt + 1);
    agent_stop(&a, SIGTERM); /* the one still alive */
    agent_stop(&b, SIGTERM);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(standby_takes_over_when_the_coordinator_dies,
                                  teardown),
        cmocka_unit_test_teardown(coordinator_that_loses_the_catalog_stops,
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
