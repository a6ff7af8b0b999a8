/*
 * test_agent.c: `pagemill agent` on a private PostgreSQL server
 * (tests/lib/pgtest.c). The test makes the account, work order and jobs
 * of real page files (examples/) through the catalog API, runs real agent
 * processes with real workers, and reads the outcome from the catalog:
 *
 *   - two agents share a job: every page done once (attempt 1), one
 *     billable row per page, artifacts readable; each agent is in the
 *     workers table under its node name, and `pagemill status` (text and
 *     --json) shows both nodes with their slot, load and pages of the
 *     last hour; the agent that never polls got its pages through
 *     LISTEN/NOTIFY alone;
 *   - a dropped connection: the agent says so, reconnects, works on;
 *   - an agent SIGKILLed mid-page: its page is taken by another once the
 *     lease lapses, done, billed once;
 *   - a stale completion (the lease lapsed and the page was re-claimed)
 *     is refused and writes nothing;
 *   - results that arrive in one turn of the agent's loop (three workers
 *     finishing while the agent is stopped) are completed in one call,
 *     and the one whose page was taken back meanwhile is refused alone;
 *   - an idle agent writes its workers rows once a heartbeat period,
 *     not every tick;
 *   - named volumes: serve mounts volume `store` at a/, the agent at b/
 *     (another path to the same folder); the agent does the pages, serve
 *     publishes, and every path the catalog holds is `store:...`.
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

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

static pm_catalog_t *open_catalog(void)
{
    pm_catalog_t *cat = NULL;

    assert_int_equal(pm_catalog_open(url, &cat), 0);
    return cat;
}

static void show_log(const sv_agent_t *a)
{
    char *text = t_slurp(a->log);

    fprintf(stderr, "---- %s ----\n%s\n", a->log, text ? text : "(none)");
    free(text);
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
static void wait_done(pm_catalog_t *cat, int64_t job, const sv_agent_t *a,
                      const sv_agent_t *b)
{
    double until = sv_now_s() + DEADLINE_S;
    size_t n = 0, done = 0;
    pm_task_t *v = NULL;

    while (sv_now_s() < until) {
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
        sv_nap_ms(200);
    }
    show_log(a);
    if (b != NULL)
        show_log(b);
    fail_msg("job %lld: %zu of %zu pages done", (long long)job, done, n);
}

/* One number from SQL run on the database at `db`. */
static long long sql_int_at(const char *db, const char *sql)
{
    PGconn *c = PQconnectdb(db);
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

/* One number from SQL run on the test database. */
static long long sql_int(const char *sql)
{
    return sql_int_at(url, sql);
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
static void wait_ready(pm_catalog_t *cat, const sv_agent_t *a)
{
    char owner[64];
    double until = sv_now_s() + DEADLINE_S;

    snprintf(owner, sizeof(owner), "agent:%s:%ld", a->node, (long)a->pid);
    while (sv_now_s() < until) {
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
        sv_nap_ms(100);
    }
    show_log(a);
    fail_msg("agent %s never reported a ready worker", a->node);
}

/* The row of node `node` in `pagemill status`'s nodes table: pid, state,
 * slots, busy and pages of the last hour. */
typedef struct node_row {
    char role[32], state[16];
    long pid;
    int slots, busy;
    long long pages;
} node_row_t;

static node_row_t status_node_row(const char *out, const char *node)
{
    const char *p = strstr(out, "\nnodes:\nNODE ");
    node_row_t r = {0};
    char name[64];

    if (p == NULL)
        fail_msg("no nodes table in `pagemill status`:\n%s", out);
    for (p = strchr(p + 8, '\n'); p != NULL && p[1] != '\n';
         p = strchr(p + 1, '\n'))
        if (sscanf(p + 1, "%63s %31s %ld %15s %d %d %lld", name, r.role, &r.pid,
                   r.state, &r.slots, &r.busy, &r.pages) == 7 &&
            strcmp(name, node) == 0)
            return r;
    fail_msg("no node %s in `pagemill status`:\n%s", node, out);
    return r;
}

/* Node `a`'s entry in `pagemill status --json`'s nodes. */
static json_t *status_node_json(json_t *doc, const sv_agent_t *a)
{
    json_t *nodes = json_object_get(doc, "nodes"), *n;
    size_t i;

    assert_true(json_is_array(nodes));
    json_array_foreach(nodes, i, n)
    {
        if (strcmp(json_string_value(json_object_get(n, "node")), a->node) ==
                0 &&
            json_integer_value(json_object_get(n, "pid")) == a->pid)
            return n;
    }
    fail_msg("no node %s in `pagemill status --json`", a->node);
    return NULL;
}

/* `pagemill status` and `status --json` show agents a and b, each up with
 * its one slot and its load, and between them the `pages` pages they did
 * (all in the last hour), at least one each. */
static void status_shows_both_nodes(const sv_agent_t *a, const sv_agent_t *b,
                                    long long pages)
{
    const sv_agent_t *ab[2] = {a, b};
    char *out = NULL;
    long long sum = 0, jsum = 0;
    json_t *doc;

    assert_int_equal(t_run(&out, "%s status --config %s", PM_BINARY, ini), 0);
    for (int i = 0; i < 2; i++) {
        node_row_t r = status_node_row(out, ab[i]->node);

        assert_string_equal(r.role, "agent");
        assert_int_equal(r.pid, ab[i]->pid);
        assert_string_equal(r.state, "up");
        assert_int_equal(r.slots, 1);
        assert_true(r.pages >= 1);
        sum += r.pages;
    }
    assert_int_equal(sum, pages);
    free(out);

    assert_int_equal(
        t_run(&out, "%s status --config %s --json", PM_BINARY, ini), 0);
    doc = json_loads(out, 0, NULL);
    if (doc == NULL)
        fail_msg("not JSON: %s", out);
    free(out);
    for (int i = 0; i < 2; i++) {
        json_t *n = status_node_json(doc, ab[i]);

        assert_string_equal(json_string_value(json_object_get(n, "role")),
                            "agent");
        assert_string_equal(json_string_value(json_object_get(n, "state")),
                            "up");
        assert_int_equal(json_integer_value(json_object_get(n, "slots")), 1);
        assert_true(json_is_number(json_object_get(n, "load1")));
        /* As the HTTP API shows a node: one builder for both. */
        assert_true(json_is_string(json_object_get(n, "heartbeat")));
        assert_true(json_is_integer(json_object_get(n, "heartbeat_age_s")));
        jsum += json_integer_value(json_object_get(n, "pages_last_hour"));
    }
    assert_int_equal(jsum, pages);
    json_decref(doc);
}

static void two_agents_do_every_page_once(void **state)
{
    static const char *const files[] = {"p001.tif", "p002.tif", "p004.png",
                                        "p005.tif"};
    pm_catalog_t *cat = open_catalog();
    sv_agent_t a = {0}, b = {0};
    pm_task_t *v = NULL;
    size_t n = 0;
    int64_t job;
    char line[256];

    (void)state;
    sv_agent_start(&a, ini, dir, "alpha", "--poll", "1", NULL);
    /* Beta never polls: its pages come through the notification. */
    sv_agent_start(&b, ini, dir, "beta", "--poll", "3600", NULL);
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
        assert_int_equal(sv_log_count(a.log, line) + sv_log_count(b.log, line),
                         1);
    }
    pm_task_list_free(v, n);
    assert_int_equal(billable_rows(job), 4);
    assert_true(sv_log_count(a.log, " done (attempt") > 0);
    assert_true(sv_log_count(b.log, " done (attempt") > 0);
    status_shows_both_nodes(&a, &b, 4);

    /* The connection is cut under alpha: it says so and reconnects. */
    snprintf(line, sizeof(line),
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
             "WHERE application_name = 'pagemill:%ld'",
             (long)a.pid);
    assert_int_equal(sql_int(line), 1);
    sv_wait_text(a.log, "catalog connection lost", DEADLINE_S);
    sv_wait_text(a.log, "catalog reconnected", DEADLINE_S);
    sv_agent_stop(&b, SIGTERM, DEADLINE_S);
    job = add_job(cat, files, 1);
    wait_done(cat, job, &a, NULL);
    assert_int_equal(billable_rows(job), 1);
    sv_agent_stop(&a, SIGTERM, DEADLINE_S);
    pm_catalog_close(cat);
}

static void killed_agent_page_is_retaken_and_billed_once(void **state)
{
    static const char *const files[] = {"p002.tif", "p001.tif"};
    pm_catalog_t *cat = open_catalog();
    sv_agent_t a = {0}, b = {0};
    pm_task_t *v = NULL;
    size_t n = 0;
    int64_t job, taken = 0;
    double until = sv_now_s() + DEADLINE_S;
    char owner[64];

    (void)state;
    sv_agent_start(&a, ini, dir, "gamma", "--lease", "3", NULL);
    wait_ready(cat, &a);
    job = add_job(cat, files, 2);
    snprintf(owner, sizeof(owner), "agent:gamma:%ld", (long)a.pid);
    while (taken == 0 && sv_now_s() < until) {
        int attempt = 0;

        assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
        for (size_t i = 0; i < n; i++)
            if (v[i].state == PM_TASK_RUNNING && v[i].lease_owner &&
                strcmp(v[i].lease_owner, owner) == 0) {
                taken = v[i].id;
                attempt = v[i].attempts;
            }
        pm_task_list_free(v, n);
        /* Frozen while it holds the page, it cannot finish it. */
        if (taken > 0 &&
            !sv_agent_freeze_on(&a, url, job, taken, owner, attempt))
            taken = 0;
        sv_nap_ms(20);
    }
    assert_true(taken > 0);
    sv_agent_stop(&a, SIGKILL, DEADLINE_S); /* mid-page */

    sv_agent_start(&b, ini, dir, "delta", "--lease", "3", NULL);
    wait_done(cat, job, &b, NULL);
    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (v[i].id == taken)
            assert_int_equal(v[i].attempts, 2); /* gamma's, then delta's */
    pm_task_list_free(v, n);
    assert_int_equal(billable_rows(job), 2);
    sv_agent_stop(&b, SIGTERM, DEADLINE_S);
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

/* 1 when process `pid` is blocked reading its standard input: a worker
 * waiting for its next task. */
static int reads_stdin(pid_t pid)
{
    char path[64], buf[256];
    long nr = -1;
    unsigned long fd = 1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/syscall", (long)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fgets(buf, sizeof(buf), f) == NULL ||
        sscanf(buf, "%ld %lx", &nr, &fd) != 2)
        nr = -1;
    fclose(f);
    return nr == SYS_read && fd == 0;
}

/* The workers of agent `a` busy on pages of `job`, their pids into
 * pids[max]; how many. */
static int busy_workers(pm_catalog_t *cat, const sv_agent_t *a, int64_t job,
                        pid_t *pids, int max)
{
    char owner[64];
    pm_worker_info_t *v = NULL;
    size_t n = 0;
    int k = 0;

    snprintf(owner, sizeof(owner), "agent:%s:%ld", a->node, (long)a->pid);
    assert_int_equal(pm_worker_list(cat, &v, &n), 0);
    for (size_t i = 0; i < n && k < max; i++)
        if (strcmp(v[i].owner, owner) == 0 && v[i].state == PM_WORKER_BUSY &&
            v[i].job == job)
            pids[k++] = v[i].pid;
    pm_worker_list_free(v, n);
    return k;
}

/* Pages of `job` running at attempt 1 under `owner` (NULL: pages
 * done). */
static int pages_of(pm_catalog_t *cat, int64_t job, const char *owner)
{
    pm_task_t *v = NULL;
    size_t n = 0;
    int k = 0;

    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        k += owner == NULL
                 ? v[i].state == PM_TASK_DONE
                 : v[i].state == PM_TASK_RUNNING && v[i].attempts == 1 &&
                       v[i].lease_owner != NULL &&
                       strcmp(v[i].lease_owner, owner) == 0;
    pm_task_list_free(v, n);
    return k;
}

/* Agent `a` (SIGSTOPped) with its three workers, busy on job `job`, done:
 * each page's text written and each worker waiting for its next task, so
 * the three results wait in the agent's pipes. */
static void wait_results_pending(const sv_agent_t *a, int64_t job,
                                 const pid_t *pids)
{
    double until = sv_now_s() + DEADLINE_S;
    char path[512];
    int ready = 0;

    while (ready < 6 && sv_now_s() < until) {
        sv_nap_ms(100);
        ready = 0;
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof(path), "%s/spool/job-%lld/pages/p%05d.txt",
                     dir, (long long)job, i + 1);
            ready += t_exists(path) + reads_stdin(pids[i]);
        }
    }
    if (ready < 6) {
        kill(a->pid, SIGCONT);
        show_log(a);
        fail_msg("job %lld: the workers never finished their pages",
                 (long long)job);
    }
}

/*
 * Three workers finish their pages while the agent is stopped, and the
 * leases lapse; another claimer takes one page. Continued, the agent reads
 * the three results in one turn of its loop and completes them in ONE
 * call: two done and billed, the one taken back refused alone (its new
 * holder completes it, billed once).
 */
static void results_of_one_turn_complete_in_one_call(void **state)
{
    static const char *const files[] = {"p001.tif", "p002.tif", "p005.tif"};
    pm_catalog_t *cat = open_catalog();
    pm_page_metrics_t m = {.kind = "bitonal", .codec = "g4"};
    sv_agent_t a = {0};
    pid_t pids[3];
    pm_task_t t;
    int64_t job = 0;
    char owner[64], line[160];
    int err = PM_ENOENT;

    (void)state;
    sv_agent_start(&a, ini, dir, "kappa", "--workers", "3", "--lease", "3",
                   "--poll", "1", NULL);
    snprintf(owner, sizeof(owner), "agent:kappa:%ld", (long)a.pid);
    wait_ready(cat, &a);
    /* Until the agent is stopped with its three pages on its workers (a
     * page may finish before the stop: then again with a new job). */
    for (int tries = 0; job == 0 && tries < 5; tries++) {
        double until = sv_now_s() + DEADLINE_S;

        job = add_job(cat, files, 3);
        while (busy_workers(cat, &a, job, pids, 3) < 3 &&
               pages_of(cat, job, NULL) == 0 && sv_now_s() < until)
            sv_nap_ms(20);
        assert_int_equal(kill(a.pid, SIGSTOP), 0);
        if (busy_workers(cat, &a, job, pids, 3) < 3 ||
            pages_of(cat, job, owner) < 3) {
            assert_int_equal(kill(a.pid, SIGCONT), 0);
            wait_done(cat, job, &a, NULL);
            job = 0;
        }
    }
    assert_true(job > 0);
    wait_results_pending(&a, job, pids);
    /* The leases lapse; another claimer takes one of the pages. */
    for (double until = sv_now_s() + DEADLINE_S;
         err == PM_ENOENT && sv_now_s() < until; sv_nap_ms(100))
        err = pm_task_claim(cat, "agent:other:1", 60, (int64_t)time(NULL), &t);
    assert_int_equal(err, 0);
    assert_int_equal(t.job, job);
    assert_int_equal(t.attempts, 2);
    assert_int_equal(kill(a.pid, SIGCONT), 0);

    for (double until = sv_now_s() + DEADLINE_S;
         pages_of(cat, job, NULL) < 2 && sv_now_s() < until; sv_nap_ms(100))
        ;
    sv_agent_stop(&a, SIGTERM, DEADLINE_S); /* its log complete */
    assert_int_equal(
        sv_log_count(a.log, "3 results in one completion call: 2 done, 1 not"),
        1);
    snprintf(line, sizeof(line), "job=%lld page=%d attempt 1: result refused",
             (long long)job, t.page);
    assert_int_equal(sv_log_count(a.log, line), 1);
    for (int page = 1; page <= 3; page++) {
        snprintf(line, sizeof(line), "job=%lld page=%d done (attempt 1)",
                 (long long)job, page);
        assert_int_equal(sv_log_count(a.log, line), page != t.page);
    }
    assert_int_equal(billable_rows(job), 2);
    assert_int_equal(pm_task_complete(cat, t.id, t.attempts, &m, time(NULL)),
                     0);
    assert_int_equal(billable_rows(job), 3);
    assert_int_equal(sv_log_count(a.log, " 0 failed, 0 dropped; "), 1);
    pm_task_cleanup(&t);
    pm_catalog_close(cat);
}

/* `serve` with local_workers = 0 (on SQLite) converts no page: an agent on
 * the same catalog does them all, and serve assembles and publishes. */
static void pure_coordinator_leaves_pages_to_agents(void **state)
{
    sv_fx_t *f = sv_fx_new(120, "local_workers = 0\n", NULL);
    char path[600];
    sv_agent_t a = {0};
    long long id;

    (void)state;
    sv_start(f);
    sv_wait_log(f, "for assembly only", DEADLINE_S);
    sv_drop_text_batch(f, "WO-1_pure", 2);
    sv_agent_start(&a, f->ini, f->root, "epsilon", NULL);
    id = sv_wait_job(f, "WO-1_pure", "done", DEADLINE_S);
    assert_int_equal(sv_log_count(a.log, " done (attempt"), 2);
    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-%lld/data/job-%lld.pdf",
             f->out, id, id);
    assert_int_equal(t_pdf_pages(path), 2);
    sv_agent_stop(&a, SIGTERM, DEADLINE_S);
    {
        char *log = t_slurp(f->log);

        assert_non_null(log);
        assert_null(strstr(log, " done (attempt")); /* no page here */
        free(log);
    }
    assert_int_equal(sv_fx_delete(f, 120), 0);
}

/* Serve sees the shared storage at a/, the agent at b/ (a symbolic link
 * to a/ stands in for another machine's mount point): the catalog holds
 * every path as `store:...`, which each resolves to its own. */
static void volumes_let_machines_mount_storage_apart(void **state)
{
    static const char *const text[] = {"Shared storage", NULL};
    sv_fx_t *f = pm_calloc(1, sizeof(*f));
    char a_dir[400], b_dir[400], extra[1400], agent_ini[400], path[700];
    char sql[400];
    sv_agent_t ag = {0};
    long long id;
    FILE *cf;

    (void)state;
    assert_non_null(f);
    assert_int_equal(sv_fx_init(f, t_tmpdir()), 0);
    assert_int_equal(pgt_fresh_db(&server, "volumes", f->db, sizeof(f->db)), 0);
    snprintf(a_dir, sizeof(a_dir), "%s/a", f->root);
    snprintf(b_dir, sizeof(b_dir), "%s/b", f->root);
    assert_int_equal(pm_mkdir_p(a_dir), 0);
    assert_int_equal(symlink(a_dir, b_dir), 0);
    snprintf(extra, sizeof(extra),
             "local_workers = 0\nspool = %s/spool\noutput = %s/out\n\n"
             "[volume store]\npath = %s\n",
             a_dir, a_dir, a_dir);
    assert_int_equal(sv_write_config(f, 120, extra), 0);
    snprintf(agent_ini, sizeof(agent_ini), "%s/agent.ini", f->root);
    cf = fopen(agent_ini, "w");
    assert_non_null(cf);
    fprintf(cf,
            "[pagemill]\npage_timeout = 120\nspool = %s/spool\n"
            "output = %s/out\n\n[catalog]\nurl = %s\n\n"
            "[volume store]\npath = %s/\n",
            b_dir, b_dir, f->db, b_dir);
    assert_int_equal(fclose(cf), 0);
    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(f, "workorder add WO-1 --account ACME");

    sv_start(f);
    sv_wait_log(f, "for assembly only", DEADLINE_S);
    sv_agent_start(&ag, agent_ini, f->root, "zeta", NULL);
    snprintf(path, sizeof(path), "%s/WO-1_vol", f->scans);
    assert_int_equal(pm_mkdir_p(path), 0);
    for (int i = 1; i <= 2; i++) {
        snprintf(path, sizeof(path), "%s/WO-1_vol/p%d.tif", f->scans, i);
        sv_page(path, text);
    }
    snprintf(path, sizeof(path), "%s/WO-1_vol/batch.ini", f->scans);
    sv_write_text(path, "account = ACME\n");
    id = sv_wait_job(f, "WO-1_vol", "done", DEADLINE_S);
    assert_int_equal(sv_log_count(ag.log, " done (attempt"), 2);
    snprintf(path, sizeof(path), "%s/out/ACME/WO-1/job-%lld/data/job-%lld.pdf",
             a_dir, id, id);
    assert_int_equal(t_pdf_pages(path), 2);

    /* Every path column, as recorded. */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM jobs WHERE id = %lld AND source_path "
             "LIKE 'store:spool/%%' AND output_path = "
             "'store:out/ACME/WO-1/job-%lld'",
             id, id);
    assert_int_equal(sql_int_at(f->db, sql), 1);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM page_tasks WHERE job = %lld AND src LIKE "
             "'store:spool/%%' AND image LIKE 'store:spool/job-%lld/pages/%%' "
             "AND text LIKE 'store:spool/job-%lld/pages/%%'",
             id, id, id);
    assert_int_equal(sql_int_at(f->db, sql), 2);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM page_tasks WHERE job = %lld AND (src LIKE "
             "'/%%' OR image LIKE '/%%' OR text LIKE '/%%' OR text_pdf LIKE "
             "'/%%')",
             id);
    assert_int_equal(sql_int_at(f->db, sql), 0);
    sv_agent_stop(&ag, SIGTERM, DEADLINE_S);
    assert_int_equal(sv_fx_fini(f, 130), 0);
    pm_free(f);
}

/* A catalog URL's password never reaches the agent's log, not even when
 * the server cannot be reached. */
static void agent_log_hides_the_password(void **state)
{
    sv_agent_t a = {0};

    (void)state;
    sv_agent_start(&a, ini, dir, "iota", "--catalog",
                   "postgresql://pm:s3cret-pw@127.0.0.1:1/none", NULL);
    for (double until = sv_now_s() + DEADLINE_S;
         sv_log_count(a.log, "cannot open the catalog") == 0; sv_nap_ms(50))
        if (sv_now_s() > until)
            fail_msg("agent never said it cannot open the catalog");
    sv_agent_stop(&a, SIGTERM, DEADLINE_S);
    assert_int_equal(sv_log_count(a.log, "s3cret-pw"), 0);
    assert_true(sv_log_count(a.log, "postgresql://pm:***@127.0.0.1:1/none") >
                0);
}

/* The heartbeat of agent `a`'s workers rows: updated_at of its first
 * row, 0 when it has none. */
static int64_t rows_heartbeat(pm_catalog_t *cat, const sv_agent_t *a)
{
    char owner[64];
    pm_worker_info_t *v = NULL;
    size_t n = 0;
    int64_t at = 0;

    snprintf(owner, sizeof(owner), "agent:%s:%ld", a->node, (long)a->pid);
    assert_int_equal(pm_worker_list(cat, &v, &n), 0);
    for (size_t i = 0; i < n && at == 0; i++)
        if (strcmp(v[i].owner, owner) == 0)
            at = v[i].updated_at;
    pm_worker_list_free(v, n);
    return at;
}

/* An idle agent writes its workers rows only when their heartbeat is due
 * (every 5 s), not every tick (1 s): over a 20 s watch its heartbeat
 * moves at least once (the node stays up) and at most 20 / 5 + 2 times.
 * Its load average, changing all the while, does not force a write. */
static void idle_agent_writes_rows_per_heartbeat(void **state)
{
    pm_catalog_t *cat = open_catalog();
    sv_agent_t a = {0};
    int64_t last, at;
    int moves = 0;

    (void)state;
    sv_agent_start(&a, ini, dir, "omega", "--poll", "3600", NULL);
    wait_ready(cat, &a);
    last = rows_heartbeat(cat, &a);
    for (double until = sv_now_s() + 20; sv_now_s() < until; sv_nap_ms(100))
        if ((at = rows_heartbeat(cat, &a)) != last) {
            assert_true(at > last);
            last = at;
            moves++;
        }
    sv_agent_stop(&a, SIGTERM, DEADLINE_S);
    if (moves < 1 || moves > 20 / 5 + 2) {
        show_log(&a);
        fail_msg("the idle agent's heartbeat moved %d times in 20 s", moves);
    }
    assert_int_equal(sv_log_count(a.log, "workers report(s)"), 1);
    pm_catalog_close(cat);
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
    int rc = sv_agents_cleanup();

    (void)state;
    pgt_stop(&server);
    t_tmpdir_cleanup();
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idle_agent_writes_rows_per_heartbeat),
        cmocka_unit_test(stale_completion_is_fenced),
        cmocka_unit_test(results_of_one_turn_complete_in_one_call),
        cmocka_unit_test(two_agents_do_every_page_once),
        cmocka_unit_test(killed_agent_page_is_retaken_and_billed_once),
        cmocka_unit_test(pure_coordinator_leaves_pages_to_agents),
        cmocka_unit_test(volumes_let_machines_mount_storage_apart),
        cmocka_unit_test(agent_log_hides_the_password),
    };

    /* PM_TEST_FILTER=results* runs only the tests whose names match. */
    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
