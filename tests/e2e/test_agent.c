/*
 * test_agent.c: `pagemill agent` on a private PostgreSQL server
 * (tests/lib/pgtest.c). The test makes the account, work order and jobs
 * of real page files (examples/) through the catalog API, runs real agent
 * processes with real workers, and reads the outcome from the catalog:
 *
 *   - two agents share a job: every page done once (attempt 1), one
 *     billable row per page, artifacts readable; each agent is in the
 *     workers table under its node name; the agent that never polls got
 *     its pages through LISTEN/NOTIFY alone;
 *   - a dropped connection: the agent says so, reconnects, works on;
 *   - an agent SIGKILLed mid-page: its page is taken by another once the
 *     lease lapses, done, billed once;
 *   - a stale completion (the lease lapsed and the page was re-claimed)
 *     is refused and writes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "lib/pgtest.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "workers/engine.h"

/* Generous: OCR on a loaded 2-core machine under ASan. */
#define DEADLINE_S 900

static pgt_t server;
static char url[256];
static char dir[256];
static char ini[320];

/* Every agent started, killed at the end should a failed test leave it. */
static pid_t started[16];
static int nstarted;

/* `pid` was waited for: never signalled again. */
static void reaped(pid_t pid)
{
    for (int i = 0; i < nstarted; i++)
        if (started[i] == pid)
            started[i] = 0;
}

typedef struct agent {
    char node[32];
    char log[320];
    pid_t pid;
} agent_t;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static pm_catalog_t *open_catalog(void)
{
    pm_catalog_t *cat = NULL;

    assert_int_equal(pm_catalog_open(url, &cat), 0);
    return cat;
}

/* Starts `pagemill agent` as node `node` with extra options `opt1` and
 * `opt2` (may be NULL), its output into dir/<node>.log. */
static void agent_start_with(agent_t *a, const char *cfg, const char *node,
                             const char *opt1, const char *opt2)
{
    pid_t pid;

    snprintf(a->node, sizeof(a->node), "%s", node);
    snprintf(a->log, sizeof(a->log), "%s/%s.log", dir, node);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(PM_BINARY, PM_BINARY, "agent", "--config", cfg, "--node", node,
              "--workers", "1", opt1, opt2, (char *)NULL);
        _exit(127);
    }
    a->pid = pid;
    assert_true(nstarted < 16);
    started[nstarted++] = pid;
}

static void agent_start(agent_t *a, const char *node, const char *opt1,
                        const char *opt2)
{
    agent_start_with(a, ini, node, opt1, opt2);
}

static void show_log(const agent_t *a)
{
    char *text = t_slurp(a->log);

    fprintf(stderr, "---- %s ----\n%s\n", a->log, text ? text : "(none)");
    free(text);
}

/* SIGTERM, and it must exit 0 (its pages finished) within the deadline. */
static void agent_stop(agent_t *a)
{
    double until = now_s() + DEADLINE_S;
    int status = 0;
    pid_t r = 0;

    if (a->pid <= 0)
        return;
    assert_int_equal(kill(a->pid, SIGTERM), 0);
    while (now_s() < until && (r = waitpid(a->pid, &status, WNOHANG)) == 0)
        nap_ms(50);
    if (r == a->pid)
        reaped(a->pid);
    if (r != a->pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        getenv("PM_SHOW_LOG") != NULL)
        show_log(a);
    a->pid = 0;
    assert_int_equal(r > 0, 1);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* How often `text` occurs in the agent's log. */
static int log_count(const agent_t *a, const char *text)
{
    char *log = t_slurp(a->log);
    int n = 0;

    for (const char *p = log; p != NULL && (p = strstr(p, text)) != NULL;
         p += strlen(text))
        n++;
    free(log);
    return n;
}

static void wait_log(const agent_t *a, const char *text)
{
    double until = now_s() + DEADLINE_S;

    while (log_count(a, text) == 0 && now_s() < until)
        nap_ms(100);
    if (log_count(a, text) == 0)
        show_log(a);
    assert_true(log_count(a, text) > 0);
}

/* A job of work order WO-1 of the example pages named in `files`. */
static int64_t add_job(pm_catalog_t *cat, const char *const *files, size_t n)
{
    pm_page_input_t pages[8] = {0};
    char paths[8][512], sums[8][PM_SHA256_HEX];
    pm_job_t j = {.workorder = (char *)"WO-1",
                  .account = (char *)"ACME",
                  .batch = (char *)"box-1"};
    int64_t id = 0;

    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        int fd;

        snprintf(paths[i], sizeof(paths[i]), "%s/examples/WO-2026-0001/%s",
                 PM_SOURCE_DIR, files[i]);
        fd = open(paths[i], O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(pm_sha256_fd(fd, sums[i], NULL, NULL), 0);
        close(fd);
        pages[i].src = paths[i];
        pages[i].frame = 0;
        pages[i].sha256 = sums[i];
    }
    assert_int_equal(pm_job_create(cat, &j, pages, n, "cli:test", &id), 0);
    return id;
}

/* Waits until every page of `job` is done; fails showing the logs. */
static void wait_done(pm_catalog_t *cat, int64_t job, const agent_t *a,
                      const agent_t *b)
{
    double until = now_s() + DEADLINE_S;
    size_t n = 0, done = 0;
    pm_task_t *v = NULL;

    while (now_s() < until) {
        assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
        done = 0;
        for (size_t i = 0; i < n; i++)
            done += v[i].state == PM_TASK_DONE;
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++)
            assert_int_not_equal(v[i].state, PM_TASK_FAILED);
        pm_task_list_free(v, n);
        if (done == n)
            return;
        nap_ms(200);
    }
    show_log(a);
    if (b != NULL)
        show_log(b);
    fail_msg("job %lld: %zu of %zu pages done", (long long)job, done, n);
}

/* One number from SQL run on the test database. */
static long long sql_int(const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r;
    long long v = -1;

    assert_int_equal(PQstatus(c), CONNECTION_OK);
    r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = atoll(PQgetvalue(r, 0, 0));
    else
        fprintf(stderr, "%s: %s\n", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return v;
}

static long long billable_rows(int64_t job)
{
    char sql[128];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM billable_pages WHERE job = %lld",
             (long long)job);
    return sql_int(sql);
}

/* Waits until node `node`'s agent has a ready worker in the workers
 * table. */
static void wait_ready(pm_catalog_t *cat, const agent_t *a)
{
    char owner[64];
    double until = now_s() + DEADLINE_S;

    snprintf(owner, sizeof(owner), "agent:%s:%ld", a->node, (long)a->pid);
    while (now_s() < until) {
        pm_worker_info_t *v = NULL;
        size_t n = 0;
        int ready = 0;

        assert_int_equal(pm_worker_list(cat, &v, &n), 0);
        for (size_t i = 0; i < n; i++)
            ready |=
                strcmp(v[i].owner, owner) == 0 && v[i].state == PM_WORKER_IDLE;
        pm_worker_list_free(v, n);
        if (ready)
            return;
        nap_ms(100);
    }
    show_log(a);
    fail_msg("agent %s never reported a ready worker", a->node);
}

static void two_agents_do_every_page_once(void **state)
{
    static const char *const files[] = {"p001.tif", "p002.tif", "p004.png",
                                        "p005.tif"};
    pm_catalog_t *cat = open_catalog();
    agent_t a = {0}, b = {0};
    pm_task_t *v = NULL;
    size_t n = 0;
    int64_t job;
    char line[256];

    (void)state;
    agent_start(&a, "alpha", "--poll", "1");
    /* Beta never polls: its pages come through the notification. */
    agent_start(&b, "beta", "--poll", "3600");
    wait_ready(cat, &a);
    wait_ready(cat, &b);
    job = add_job(cat, files, 4);
    wait_done(cat, job, &a, &b);

    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        char *text = t_slurp(v[i].text);

        assert_int_equal(v[i].attempts, 1);
        assert_true(t_exists(v[i].image));
        assert_non_null(text);
        free(text);
        snprintf(line, sizeof(line), "job=%lld page=%d done", (long long)job,
                 v[i].page);
        assert_int_equal(log_count(&a, line) + log_count(&b, line), 1);
    }
    pm_task_list_free(v, n);
    assert_int_equal(billable_rows(job), 4);
    assert_true(log_count(&a, " done (attempt") > 0);
    assert_true(log_count(&b, " done (attempt") > 0);

    /* The connection is cut under alpha: it says so and reconnects. */
    snprintf(line, sizeof(line),
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
             "WHERE application_name = 'pagemill:%ld'",
             (long)a.pid);
    assert_int_equal(sql_int(line), 1);
    wait_log(&a, "catalog connection lost");
    wait_log(&a, "catalog reconnected");
    agent_stop(&b);
    job = add_job(cat, files, 1);
    wait_done(cat, job, &a, NULL);
    assert_int_equal(billable_rows(job), 1);
    agent_stop(&a);
    pm_catalog_close(cat);
}

static void killed_agent_page_is_retaken_and_billed_once(void **state)
{
    static const char *const files[] = {"p002.tif", "p001.tif"};
    pm_catalog_t *cat = open_catalog();
    agent_t a = {0}, b = {0};
    pm_task_t *v = NULL;
    size_t n = 0;
    int64_t job, taken = 0;
    double until = now_s() + DEADLINE_S;
    char owner[64];

    (void)state;
    agent_start(&a, "gamma", "--lease", "3");
    wait_ready(cat, &a);
    job = add_job(cat, files, 2);
    snprintf(owner, sizeof(owner), "agent:gamma:%ld", (long)a.pid);
    while (taken == 0 && now_s() < until) {
        assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
        for (size_t i = 0; i < n; i++)
            if (v[i].state == PM_TASK_RUNNING && v[i].lease_owner &&
                strcmp(v[i].lease_owner, owner) == 0)
                taken = v[i].id;
        pm_task_list_free(v, n);
        nap_ms(20);
    }
    assert_true(taken > 0);
    assert_int_equal(kill(a.pid, SIGKILL), 0); /* mid-page */
    assert_int_equal(waitpid(a.pid, NULL, 0), a.pid);
    reaped(a.pid);
    a.pid = 0;

    agent_start(&b, "delta", "--lease", "3");
    wait_done(cat, job, &b, NULL);
    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (v[i].id == taken)
            assert_int_equal(v[i].attempts, 2); /* gamma's, then delta's */
    pm_task_list_free(v, n);
    assert_int_equal(billable_rows(job), 2);
    agent_stop(&b);
    pm_catalog_close(cat);
}

static void stale_completion_is_fenced(void **state)
{
    static const char *const files[] = {"p004.png"};
    pm_catalog_t *c1 = open_catalog(), *c2 = open_catalog();
    pm_page_metrics_t m = {.kind = "bitonal", .codec = "g4"};
    pm_task_t t1, t2;
    int64_t job, now = (int64_t)time(NULL) + 100000;

    (void)state;
    job = add_job(c1, files, 1);
    assert_int_equal(pm_task_claim(c1, "agent:one:1", 5, now, &t1), 0);
    assert_int_equal(t1.job, job);
    /* One's lease lapses; two takes the page. */
    assert_int_equal(pm_task_claim(c2, "agent:two:2", 5, now + 10, &t2), 0);
    assert_int_equal(t2.id, t1.id);
    assert_int_equal(t2.attempts, t1.attempts + 1);
    assert_int_equal(pm_task_complete(c1, t1.id, t1.attempts, &m, now + 11),
                     PM_ESTALE);
    assert_int_equal(billable_rows(job), 0);
    assert_int_equal(pm_task_renew(c1, t1.id, t1.attempts, 5, now + 11),
                     PM_ESTALE);
    assert_int_equal(pm_task_complete(c2, t2.id, t2.attempts, &m, now + 12), 0);
    assert_int_equal(pm_task_complete(c1, t1.id, t1.attempts, &m, now + 13),
                     PM_ESTALE);
    assert_int_equal(billable_rows(job), 1);
    pm_task_cleanup(&t1);
    pm_task_cleanup(&t2);
    pm_catalog_close(c1);
    pm_catalog_close(c2);
}

/* `serve` with local_workers = 0 (on SQLite) converts no page: an agent on
 * the same catalog does them all, and serve assembles and publishes. */
static void pure_coordinator_leaves_pages_to_agents(void **state)
{
    static const char *const text[] = {"Pure coordinator", NULL};
    sv_fx_t *f = sv_fx_new(120, "local_workers = 0\n", NULL);
    char path[600];
    agent_t a = {0};
    long long id;

    (void)state;
    sv_start(f);
    sv_wait_log(f, "for assembly only", DEADLINE_S);
    snprintf(path, sizeof(path), "%s/WO-1_pure", f->scans);
    assert_int_equal(pm_mkdir_p(path), 0);
    for (int i = 1; i <= 2; i++) {
        snprintf(path, sizeof(path), "%s/WO-1_pure/p%d.tif", f->scans, i);
        sv_page(path, text);
    }
    snprintf(path, sizeof(path), "%s/WO-1_pure/batch.ini", f->scans);
    sv_write_text(path, "account = ACME\n");
    agent_start_with(&a, f->ini, "epsilon", NULL, NULL);
    id = sv_wait_job(f, "WO-1_pure", "done", DEADLINE_S);
    assert_int_equal(log_count(&a, " done (attempt"), 2);
    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-%lld/data/job-%lld.pdf",
             f->out, id, id);
    assert_int_equal(t_pdf_pages(path), 2);
    agent_stop(&a);
    {
        char *log = t_slurp(f->log);

        assert_non_null(log);
        assert_null(strstr(log, " done (attempt")); /* no page here */
        free(log);
    }
    assert_int_equal(sv_fx_delete(f, 120), 0);
}

static int group_setup(void **state)
{
    pm_catalog_t *cat = NULL;
    pm_account_t acct = {.code = (char *)"ACME", .name = (char *)"Acme"};
    pm_workorder_t wo = {.number = (char *)"WO-1", .account = (char *)"ACME"};
    char text[1024];
    int64_t id;
    FILE *f;

    (void)state;
    if (pgt_start(&server) != 0 ||
        pgt_fresh_db(&server, "agents", url, sizeof(url)) != 0)
        return -1;
    snprintf(dir, sizeof(dir), "%s", t_tmpdir());
    snprintf(ini, sizeof(ini), "%s/pagemill.ini", dir);
    snprintf(text, sizeof(text),
             "[pagemill]\npage_timeout = 300\nspool = %s/spool\n"
             "output = %s/out\n\n[catalog]\nurl = %s\n",
             dir, dir, url);
    f = fopen(ini, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        return -1;
    if (pm_catalog_open(url, &cat) != 0 ||
        pm_account_add(cat, &acct, "cli:test", &id) != 0 ||
        pm_workorder_add(cat, &wo, "cli:test", &id) != 0) {
        fprintf(stderr, "setup: %s\n", pm_catalog_errmsg(cat));
        pm_catalog_close(cat);
        return -1;
    }
    pm_catalog_close(cat);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < nstarted; i++)
        if (started[i] > 0 && kill(started[i], SIGKILL) == 0)
            waitpid(started[i], NULL, 0);
    pgt_stop(&server);
    t_tmpdir_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stale_completion_is_fenced),
        cmocka_unit_test(two_agents_do_every_page_once),
        cmocka_unit_test(killed_agent_page_is_retaken_and_billed_once),
        cmocka_unit_test(pure_coordinator_leaves_pages_to_agents),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
