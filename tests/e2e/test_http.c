/*
 * test_http.c: the web interface of `pagemill serve` ([http]) end to end,
 * over real HTTP on 127.0.0.1 against the real service converting real
 * scans. The port is the one the service logs (listen = 127.0.0.1:0).
 *
 * Covered: /metrics parses with the Prometheus client's own parser and
 * its counts equal the catalog's (pages, billable pages, jobs by state,
 * rejections, stage histograms); /api/v1/status, /api/v1/jobs and
 * /api/v1/jobs/N show the batch; every endpoint answers 401 without a
 * token or with a wrong one, 403 to a role below its own, and serves the
 * right role, with nothing of the catalog in a refusal's body; bad input
 * (ids, query arguments, JSON bodies, a body too large) gets 400 (413)
 * with a message and the service goes on; an action is an event naming
 * its token; a non-loopback address without a token refuses to start;
 * /readyz fails while the output volume has less free space than
 * min_free_mb.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "lib/httplib.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define TESTING      "tesseract-test/testing/"
#define DEADLINE_S   120.0
#define PAGE_TIMEOUT 60

typedef struct fx {
    sv_fx_t *sv;
    char sup[128], bill[128], admin[128]; /* tokens */
    int port;
} fx_t;

/* ---- fixture ---- */

static fx_t *make_fx(const char *http_lines)
{
    fx_t *f = pm_calloc(1, sizeof(*f));

    assert_non_null(f);
    f->sv = ht_service_new(PAGE_TIMEOUT, http_lines);
    return f;
}

static void start(fx_t *f)
{
    sv_start(f->sv);
    f->port = ht_port_from_log(f->sv->log, DEADLINE_S);
}

static int setup(void **state)
{
    fx_t *f = make_fx("listen = 127.0.0.1:0");

    ht_token(f->sv, "supervisor", "desk", f->sup);
    ht_token(f->sv, "billing", "clerk", f->bill);
    ht_token(f->sv, "admin", "ops", f->admin);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    int rc = sv_fx_delete(f->sv, PAGE_TIMEOUT);

    pm_free(f);
    return rc;
}

/* A batch of `n` real scans (page blank[i] blank), marker last. */
static void drop_batch(fx_t *f, const char *name, int n, const int *blank)
{
    char dir[512], path[600];
    static const char *const none[] = {NULL};

    snprintf(dir, sizeof(dir), "%s/%s", f->sv->scans, name);
    assert_int_equal(pm_mkdir_p(dir), 0);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/p%02d.tif", dir, i + 1);
        if (blank != NULL && blank[i])
            sv_page(path, none);
        else
            t_copy_file(t_data(i % 2 ? TESTING "eurotext.tif"
                                     : TESTING "phototest.tif"),
                        path);
    }
    snprintf(path, sizeof(path), "%s/batch.ini", dir);
    sv_write_text(path, "account = ACME\n");
}

/* A batch for a work order the catalog lacks: rejected. */
static void drop_unknown(fx_t *f, const char *name)
{
    char path[600];

    snprintf(path, sizeof(path), "%s/%s", f->sv->scans, name);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/%s/p1.tif", f->sv->scans, name);
    t_copy_file(t_data(TESTING "phototest.tif"), path);
    snprintf(path, sizeof(path), "%s/%s/batch.ini", f->sv->scans, name);
    sv_write_text(path, "");
}

/* Waits until the catalog has `n` rejection events. */
static void wait_rejections(fx_t *f, size_t n)
{
    double until = sv_now_s() + DEADLINE_S;
    pm_catalog_t *cat;
    size_t k = 0;

    for (;;) {
        pm_event_t *v = NULL;
        assert_int_equal(pm_catalog_open(f->sv->db, &cat), 0);
        assert_int_equal(pm_event_list(cat, 0, 0, &v, &k), 0);
        size_t rej = 0;
        for (size_t i = 0; i < k; i++)
            rej += strcmp(v[i].kind, "batch.rejected") == 0;
        pm_event_list_free(v, k);
        pm_catalog_close(cat);
        if (rej >= n)
            return;
        if (sv_now_s() > until)
            fail_msg("%zu rejection(s), wanted %zu", rej, n);
        sv_nap_ms(100);
    }
}

/* ---- metrics ---- */

/* /metrics through the Prometheus client's parser: samples as JSON. */
static json_t *metrics(fx_t *f)
{
    char in[400], cmd[1200];
    ht_resp_t r;
    json_error_t err;
    json_t *doc;
    FILE *p;

    ht_request(f->port, "GET", "/metrics", f->sup, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "text/plain; version=0.0.4"));
    snprintf(in, sizeof(in), "%s/metrics.txt", f->sv->root);
    sv_write_text(in, r.body);
    ht_free(&r);
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 %s/tests/e2e/metrics_to_json.py < %s",
             PM_SOURCE_DIR, in);
    p = popen(cmd, "r");
    assert_non_null(p);
    doc = json_loadf(p, 0, &err);
    if (pclose(p) != 0 || doc == NULL)
        fail_msg("the Prometheus parser refused /metrics (%s)", cmd);
    return doc;
}

static double sample(json_t *m, const char *key)
{
    json_t *v = json_object_get(m, key);

    if (!json_is_number(v))
        fail_msg("no sample %s in /metrics", key);
    return json_number_value(v);
}

/* Counts straight from the catalog file. */
static long long catalog_count(fx_t *f, const char *state_name)
{
    pm_catalog_t *cat;
    pm_task_t *t = NULL;
    pm_job_t *jobs = NULL;
    size_t nj = 0, nt = 0;
    long long n = 0;

    assert_int_equal(pm_catalog_open(f->sv->db, &cat), 0);
    assert_int_equal(pm_job_list(cat, -1, NULL, 0, &jobs, &nj), 0);
    for (size_t i = 0; i < nj; i++) {
        assert_int_equal(pm_task_list(cat, jobs[i].id, &t, &nt), 0);
        for (size_t k = 0; k < nt; k++)
            n += strcmp(pm_task_state_name(t[k].state), state_name) == 0;
        pm_task_list_free(t, nt);
    }
    pm_job_list_free(jobs, nj);
    pm_catalog_close(cat);
    return n;
}

static long long catalog_billable(fx_t *f)
{
    pm_catalog_t *cat;
    int64_t n = -1;

    assert_int_equal(pm_catalog_open(f->sv->db, &cat), 0);
    assert_int_equal(pm_billable_count(cat, 0, 0, &n), 0);
    pm_catalog_close(cat);
    return n;
}

/* /api/v1/status built after wall-clock second `after` (its "now" is
 * later): what it says includes everything the catalog held by then. */
static json_t *status_after(fx_t *f, time_t after)
{
    double until = sv_now_s() + DEADLINE_S;
    char iso[32];
    struct tm tm;

    gmtime_r(&after, &tm);
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
    for (;;) {
        json_t *st = ht_get_json(f->port, "/api/v1/status", f->sup, 200);

        if (strcmp(sv_jstr(st, "now"), iso) > 0)
            return st;
        json_decref(st);
        if (sv_now_s() > until)
            fail_msg("/api/v1/status never built after %s", iso);
        sv_nap_ms(100);
    }
}

/* The web interface's catalog reads so far, from /metrics. */
static long long catalog_reads(fx_t *f)
{
    json_t *m = metrics(f);
    long long n = (long long)sample(m, "pagemill_http_catalog_reads_total");

    json_decref(m);
    return n;
}

/* The per-node series of /metrics `m`: the service's own node (this
 * host, as a coordinator) up, with its two slots, `pages` pages in the
 * last hour, a fresh heartbeat and a load average. */
static void node_series_are_the_services(json_t *m, long long pages)
{
    char host[256] = "localhost", key[400];

    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
#define NODE_KEY(name)                                                    \
    (snprintf(key, sizeof(key),                                           \
              "pagemill_node_" name "{node=%s}{role=coordinator}", host), \
     key)
    assert_int_equal((long long)sample(m, NODE_KEY("up")), 1);
    assert_int_equal((long long)sample(m, NODE_KEY("slots")), 2);
    assert_int_equal((long long)sample(m, NODE_KEY("pages_last_hour")), pages);
    assert_true(sample(m, NODE_KEY("busy")) >= 0);
    assert_true(sample(m, NODE_KEY("heartbeat_age_seconds")) <= 30);
    assert_true(sample(m, NODE_KEY("load1")) >= 0);
#undef NODE_KEY
}

/* ---- tests ---- */

/* A real batch converted while the API and /metrics are read: the
 * numbers are the catalog's. */
static void metrics_and_api_equal_the_catalog(void **state)
{
    fx_t *f = *state;
    static const int blank[] = {0, 0, 1};
    json_t *m, *st, *doc, *pages;
    long long id;
    char path[600];

    t_require_data();
    snprintf(path, sizeof(path), "%s/WO-1_waiting", f->sv->scans);
    assert_int_equal(pm_mkdir_p(path), 0); /* no batch.ini yet */
    start(f);
    drop_unknown(f, "WO-404");
    drop_batch(f, "WO-1_box1", 3, blank);
    /* Read while it converts: never an error. */
    for (int i = 0; i < 5; i++) {
        json_decref(ht_get_json(f->port, "/api/v1/status", f->sup, 200));
        json_decref(metrics(f));
    }
    id = sv_wait_job(f->sv, "WO-1_box1", "done", DEADLINE_S);
    wait_rejections(f, 1);

    m = metrics(f);
    assert_int_equal((long long)sample(m, "pagemill_pages_total{outcome=done}"),
                     catalog_count(f, "done"));
    assert_int_equal((long long)sample(m, "pagemill_pages_total{outcome=done}"),
                     3);
    assert_int_equal(
        (long long)sample(m, "pagemill_pages_total{outcome=failed}"),
        catalog_count(f, "failed"));
    assert_int_equal((long long)sample(m, "pagemill_billable_pages"),
                     catalog_billable(f));
    assert_int_equal((long long)sample(m, "pagemill_billable_pages"), 2);
    assert_int_equal((long long)sample(m, "pagemill_blank_pages_total"), 1);
    assert_int_equal((long long)sample(m, "pagemill_jobs{state=done}"), 1);
    assert_int_equal((long long)sample(m, "pagemill_jobs{state=failed}"), 0);
    assert_int_equal((long long)sample(m, "pagemill_queue_pages{state=queued}"),
                     0);
    assert_int_equal(
        (long long)sample(
            m, "pagemill_intake_rejections_total{reason=unknown_work_order}"),
        1);
    assert_int_equal((long long)sample(
                         m, "pagemill_stage_duration_seconds_count{stage=ocr}"),
                     3);
    assert_int_equal(
        (long long)sample(
            m, "pagemill_stage_duration_seconds_bucket{le=+Inf}{stage=total}"),
        3);
    assert_true(sample(m, "pagemill_stage_duration_seconds_sum{stage=total}") >
                0);
    /* Pages done by hot folder and account: all three, from "scans". */
    {
        json_t *b =
            ht_get_json(f->port, "/api/v1/breakdown?hours=1", f->sup, 200);
        json_t *hf = json_array_get(json_object_get(b, "hot_folders"), 0);
        json_t *ac = json_array_get(json_object_get(b, "accounts"), 0);

        assert_int_equal(sv_jint(b, "hours"), 1);
        assert_string_equal(sv_jstr(hf, "name"), "scans");
        assert_int_equal(sv_jint(hf, "pages"), 3);
        assert_string_equal(sv_jstr(ac, "name"), "ACME");
        assert_int_equal(sv_jint(ac, "pages"), 3);
        json_decref(b);
    }
    /* The coordinator's catalog writes: one completion per page done (the
     * loop's snapshot follows within a tick), at least as many claims. */
    for (double until = sv_now_s() + DEADLINE_S;;) {
        json_t *t = metrics(f);
        long long done = (long long)sample(
            t, "pagemill_catalog_transaction_seconds_count{op=complete}");
        long long claims = (long long)sample(
            t, "pagemill_catalog_transaction_seconds_count{op=claim}");

        json_decref(t);
        if (done == 3 && claims >= 3)
            break;
        if (sv_now_s() > until)
            fail_msg("catalog transactions: %lld completions, %lld claims",
                     done, claims);
        sv_nap_ms(200);
    }
    assert_int_equal((long long)sample(m, "pagemill_workers{state=all}"), 2);
    node_series_are_the_services(m, 3);
    json_decref(m);

    st = status_after(f, time(NULL));
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(st, "jobs"), "done")),
                     1);
    assert_int_equal(json_array_size(json_object_get(st, "rejected_batches")),
                     1);
    assert_string_equal(
        sv_jstr(json_array_get(json_object_get(st, "rejected_batches"), 0),
                "reason"),
        "unknown_work_order");
    assert_int_equal(sv_jint(st, "billable_pages"), 2);
    {
        json_t *nodes = json_object_get(st, "nodes");
        json_t *n = json_array_get(nodes, 0);

        assert_int_equal(json_array_size(nodes), 1);
        assert_string_equal(sv_jstr(n, "role"), "coordinator");
        assert_string_equal(sv_jstr(n, "state"), "up");
        assert_int_equal(sv_jint(n, "slots"), 2);
        assert_int_equal(sv_jint(n, "pages_last_hour"), 3);
        assert_true(json_is_string(json_object_get(n, "heartbeat")));
    }
    assert_int_equal(json_array_size(json_object_get(st, "waiting_batches")),
                     1);
    assert_string_equal(
        sv_jstr(json_array_get(json_object_get(st, "waiting_batches"), 0),
                "batch"),
        "WO-1_waiting");
    json_decref(st);

    doc = ht_get_json(f->port, "/api/v1/jobs?state=done&limit=10", f->sup, 200);
    assert_int_equal(sv_jint(doc, "total"), 1);
    assert_int_equal(
        sv_jint(json_array_get(json_object_get(doc, "jobs"), 0), "id"), id);
    json_decref(doc);
    doc = ht_get_json(f->port, "/api/v1/jobs?state=failed", f->sup, 200);
    assert_int_equal(sv_jint(doc, "total"), 0);
    json_decref(doc);

    snprintf(path, sizeof(path), "/api/v1/jobs/%lld", id);
    doc = ht_get_json(f->port, path, f->sup, 200);
    assert_string_equal(sv_jstr(json_object_get(doc, "job"), "state"), "done");
    assert_int_equal(sv_jint(json_object_get(doc, "job"), "billable_pages"), 2);
    pages = json_object_get(doc, "pages");
    assert_int_equal(json_array_size(pages), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *p = json_array_get(pages, i);
        assert_string_equal(sv_jstr(p, "state"), "done");
        assert_true(json_is_number(json_object_get(p, "confidence")));
        assert_true(json_is_number(json_object_get(p, "skew")));
        assert_true(json_is_integer(json_object_get(p, "rotation")));
        assert_true(json_number_value(json_object_get(json_object_get(p, "ms"),
                                                      "total")) > 0);
        assert_int_equal(json_is_true(json_object_get(p, "blank")), i == 2);
    }
    json_decref(doc);
    assert_int_equal(sv_stop(f->sv, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

typedef struct endpoint {
    const char *method, *path, *body;
    int need; /* 0 anyone, 1 supervisor, 2 billing, 3 admin */
    int ok;   /* the status the right role gets */
} endpoint_t;

/* Every endpoint: no token, an unknown token, each role. */
static void every_endpoint_checks_its_role(void **state)
{
    fx_t *f = *state;
    const char *tokens[4];
    static const endpoint_t eps[] = {
        {"GET", "/healthz", NULL, 0, 200},
        {"GET", "/readyz", NULL, 0, 200},
        {"GET", "/metrics", NULL, 1, 200},
        {"GET", "/api/v1/status", NULL, 1, 200},
        {"GET", "/api/v1/jobs", NULL, 1, 200},
        {"GET", "/api/v1/jobs/1", NULL, 1, 200},
        {"GET", "/api/v1/throughput?minutes=5", NULL, 1, 200},
        {"GET", "/api/v1/breakdown?hours=8", NULL, 1, 200},
        {"GET", "/", NULL, 0, 200},
        {"GET", "/jobs/1", NULL, 0, 200},
        {"GET", "/static/chart.min.js", NULL, 0, 200},
        {"GET", "/api/v1/billing/report?month=2026-01", NULL, 2, 200},
        {"POST", "/api/v1/jobs/1/release", NULL, 3, 409},
        {"POST", "/api/v1/jobs/1/retry", NULL, 3, 409},
        {"POST", "/api/v1/jobs/1/cancel", "{\"reason\": \"test\"}", 3, 200},
        {"POST", "/api/v1/workorders",
         "{\"number\": \"WO-9\", \"account\": \"ACME\"}", 3, 201},
        {"GET", "/api/v1/nothing", NULL, 1, 404},
    };

    tokens[0] = NULL;
    tokens[1] = f->sup;
    tokens[2] = f->bill;
    tokens[3] = f->admin;
    t_require_data();
    start(f);
    drop_batch(f, "WO-1_roles", 1, NULL);
    sv_wait_job(f->sv, "WO-1_roles", "done", DEADLINE_S);
    for (size_t e = 0; e < sizeof(eps) / sizeof(*eps); e++) {
        const endpoint_t *ep = &eps[e];
        ht_resp_t r;

        /* No token, and a token nobody issued. */
        for (int k = 0; k < 2; k++) {
            ht_request(f->port, ep->method, ep->path,
                       k ? "pmt_0123456789abcdef" : NULL, ep->body, &r);
            if (ep->need == 0) {
                assert_int_equal(r.status, ep->ok);
            } else {
                if (r.status != 401)
                    fail_msg("%s %s without a valid token: %d", ep->method,
                             ep->path, r.status);
                assert_non_null(strstr(r.headers, "WWW-Authenticate"));
                assert_null(strstr(r.body, "WO-1"));
                assert_null(strstr(r.body, "ACME"));
            }
            ht_free(&r);
        }
        for (int role = 1; role <= 3; role++) {
            ht_request(f->port, ep->method, ep->path, tokens[role], ep->body,
                       &r);
            if (role < ep->need) {
                if (r.status != 403)
                    fail_msg("%s %s as role %d: %d, wanted 403", ep->method,
                             ep->path, role, r.status);
                assert_null(strstr(r.body, "WO-1"));
            } else if (ep->need != 3 || role == 3) {
                /* An action is tried once, by its own role. */
                if (r.status != ep->ok)
                    fail_msg("%s %s as role %d: %d, wanted %d: %s", ep->method,
                             ep->path, role, r.status, ep->ok, r.body);
            }
            ht_free(&r);
        }
    }
    assert_int_equal(sv_stop(f->sv, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* An action is carried out by the coordinator and recorded as an event
 * naming the token; one in the wrong state is 409 and changes nothing. */
static void actions_are_events_naming_the_token(void **state)
{
    fx_t *f = *state;
    json_t *doc, *events;
    long long id;
    char path[128], args[64];
    int found = 0;

    t_require_data();
    start(f);
    drop_batch(f, "WO-1_act", 1, NULL);
    id = sv_wait_job(f->sv, "WO-1_act", "done", DEADLINE_S);
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/retry", id);
    assert_int_equal(ht_status(f->port, "POST", path, f->admin, NULL), 409);
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/cancel", id);
    assert_int_equal(ht_status(f->port, "POST", path, f->admin,
                               "{\"reason\": \"rescanned\"}"),
                     200);
    snprintf(args, sizeof(args), "job show %lld", id);
    doc = sv_cli_json(f->sv, args);
    assert_string_equal(sv_jstr(doc, "state"), "cancelled");
    events = json_object_get(doc, "events");
    for (size_t i = 0; i < json_array_size(events); i++) {
        json_t *e = json_array_get(events, i);
        if (strcmp(sv_jstr(e, "kind"), "job.cancelled") == 0) {
            assert_string_equal(sv_jstr(e, "actor"), "token:ops");
            found = 1;
        }
    }
    json_decref(doc);
    if (!found)
        fail_msg("no job.cancelled event by token:ops");
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/cancel", id);
    assert_int_equal(ht_status(f->port, "POST", path, f->admin, NULL), 409);
    assert_int_equal(sv_stop(f->sv, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* POST /api/v1/workorders: the admin adds a work order (201, the work
 * order back), which the CLI then sees; bad or conflicting ones are
 * refused with the status that says why, and a supervisor may not. */
static void admin_adds_a_work_order(void **state)
{
    fx_t *f = *state;
    ht_resp_t r;
    json_t *doc;
    static const char body[] = "{\"number\": \"WO-2026-0777\", \"account\": "
                               "\"ACME\", \"notes\": \"box 3 of 9\"}";
    static const struct {
        const char *body;
        int status;
    } bad[] = {
        {"{\"number\": \"WO-2026-0777\", \"account\": \"ACME\"}", 409},
        {"{\"number\": \"WO-2026-0778\", \"account\": \"NOBODY\"}", 404},
        {"{\"number\": \"WO 2026\", \"account\": \"ACME\"}", 400},
        {"{\"number\": \"WO-2026-0779\"}", 400},
        {"{\"number\": \"WO-2026-0779\", \"account\": \"ACME\", "
         "\"colour\": \"red\"}",
         400},
        {"[1, 2]", 400},
        {"{\"number\": 7, \"account\": \"ACME\"}", 400},
    };

    start(f);
    assert_int_equal(
        ht_status(f->port, "POST", "/api/v1/workorders", f->sup, body), 403);
    ht_request(f->port, "POST", "/api/v1/workorders", f->admin, body, &r);
    if (r.status != 201)
        fail_msg("POST /api/v1/workorders: %d: %s", r.status, r.body);
    doc = json_loads(r.body, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(sv_jstr(doc, "number"), "WO-2026-0777");
    assert_string_equal(sv_jstr(doc, "status"), "open");
    assert_string_equal(sv_jstr(doc, "notes"), "box 3 of 9");
    json_decref(doc);
    ht_free(&r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ht_request(f->port, "POST", "/api/v1/workorders", f->admin, bad[i].body,
                   &r);
        if (r.status != bad[i].status)
            fail_msg("%s: %d, wanted %d: %s", bad[i].body, r.status,
                     bad[i].status, r.body);
        ht_free(&r);
    }
    doc = sv_cli_json(f->sv, "workorder show WO-2026-0777");
    assert_string_equal(sv_jstr(doc, "account"), "ACME");
    json_decref(doc);
    assert_int_equal(sv_stop(f->sv, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* A bounded load test on loopback: wrk, 8 connections for 5 s on
 * /api/v1/status with a supervisor token. Every answer is 200 (wrk
 * counts anything else as "Non-2xx"), no socket errors, and the service
 * still answers and stops cleanly afterwards. */
static void status_under_load(void **state)
{
    fx_t *f = *state;
    char *out = NULL;
    int rc;

    if (access("/usr/bin/wrk", X_OK) != 0)
        fail_msg("/usr/bin/wrk is missing: install the Debian package wrk "
                 "(scripts/install-deps.sh)");
    start(f);
    rc = t_run(&out,
               "/usr/bin/wrk -t 1 -c 8 -d 5s --latency -H "
               "'Authorization: Bearer %s' http://127.0.0.1:%d/api/v1/status",
               f->sup, f->port);
    fprintf(stderr, "%s", out ? out : "");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "requests in"));
    assert_null(strstr(out, "Non-2xx"));
    assert_null(strstr(out, "Socket errors"));
    free(out);
    assert_int_equal(ht_status(f->port, "GET", "/api/v1/status", f->sup, NULL),
                     200);
    assert_int_equal(sv_stop(f->sv, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* /api/v1/status is built at most once per second, however many ask:
 * the catalog reads of N requests are bounded by the seconds they took,
 * not by N (the token list is read as seldom). Yet it is fresh: a job
 * done before a request shows in every answer asked for a second later
 * (an answer is at most a second old when it is sent). */
static void status_is_cached_and_fresh(void **state)
{
    fx_t *f = *state;
    long long before, reads, bound;
    double t0, elapsed, done_by;
    const int n = 300;
    json_t *st;

    t_require_data();
    start(f);
    before = catalog_reads(f);
    t0 = sv_now_s();
    for (int i = 0; i < n; i++)
        assert_int_equal(
            ht_status(f->port, "GET", "/api/v1/status", f->sup, NULL), 200);
    elapsed = sv_now_s() - t0;
    reads = catalog_reads(f) - before;
    /* Status and tokens: one read each per second begun, and the
     * scrape's own. */
    bound = 2 * ((long long)elapsed + 2) + 2;
    fprintf(stderr, "%d requests in %.2f s: %lld catalog reads (bound %lld)\n",
            n, elapsed, reads, bound);
    if (reads > bound)
        fail_msg("%d status requests in %.2f s made %lld catalog reads "
                 "(at most %lld)",
                 n, elapsed, reads, bound);

    drop_batch(f, "WO-1_fresh", 1, NULL);
    sv_wait_job(f->sv, "WO-1_fresh", "done", DEADLINE_S);
    done_by = sv_now_s(); /* the catalog said done before this */
    for (;;) {
        double asked = sv_now_s();
        long long done;

        st = ht_get_json(f->port, "/api/v1/status", f->sup, 200);
        done = sv_jint(json_object_get(st, "jobs"), "done");
        json_decref(st);
        if (done == 1)
            break;
        if (asked > done_by + 1.05)
            fail_msg("asked %.2f s after the job was done, /api/v1/status "
                     "still says no job is done",
                     asked - done_by);
        sv_nap_ms(50);
    }
    assert_int_equal(sv_stop(f->sv, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* Bad input: 400 with a message, never a crash; the service goes on. */
static void bad_input_gets_400(void **state)
{
    fx_t *f = *state;
    static const struct {
        const char *method, *path, *body;
        int status;
    } bad[] = {
        {"GET", "/api/v1/jobs?state=bogus", NULL, 400},
        {"GET", "/api/v1/jobs?limit=0", NULL, 400},
        {"GET", "/api/v1/jobs?limit=501", NULL, 400},
        {"GET", "/api/v1/jobs?limit=ten", NULL, 400},
        {"GET", "/api/v1/jobs?offset=-1", NULL, 400},
        {"GET", "/api/v1/throughput?minutes=1441", NULL, 400},
        {"GET", "/api/v1/breakdown?hours=0", NULL, 400},
        {"GET", "/api/v1/breakdown?hours=169", NULL, 400},
        {"GET", "/api/v1/jobs?limit=99999999999999999999999", NULL, 400},
        {"GET", "/api/v1/jobs/abc", NULL, 400},
        {"GET", "/api/v1/jobs/0", NULL, 400},
        {"GET", "/api/v1/jobs/-3", NULL, 400},
        {"GET", "/api/v1/jobs/1%27%20OR%201=1", NULL, 400},
        {"GET", "/api/v1/jobs/99999999999999999999", NULL, 400},
        {"GET", "/api/v1/jobs/12345", NULL, 404},
        {"POST", "/api/v1/jobs/1/cancel", "{not json", 400},
        {"POST", "/api/v1/jobs/1/cancel", "[1, 2]", 400},
        {"POST", "/api/v1/jobs/1/cancel", "{\"reason\": 7}", 400},
        {"POST", "/api/v1/jobs/1/cancel", "{\"why\": \"x\"}", 400},
        {"POST", "/api/v1/jobs/1/retry", "{\"reason\": \"x\"}", 400},
        {"POST", "/api/v1/jobs/abc/retry", NULL, 400},
        {"GET", "/api/v1/billing/report", NULL, 400},
        {"GET", "/api/v1/billing/report?month=2026-13", NULL, 400},
        {"GET", "/api/v1/billing/report?from=2026-05&to=2026-01", NULL, 400},
        {"GET", "/api/v1/billing/report?month=2026-01&account=a%27b", NULL,
         400},
        {"GET", "/api/v1/billing/report?month=2026-01&format=pdf", NULL, 400},
        {"DELETE", "/api/v1/jobs/1", NULL, 405},
    };
    char *big = pm_malloc(40000);
    ht_resp_t r;

    assert_non_null(big);
    start(f);
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        ht_request(f->port, bad[i].method, bad[i].path, f->admin, bad[i].body,
                   &r);
        if (r.status != bad[i].status)
            fail_msg("%s %s: %d, wanted %d: %s", bad[i].method, bad[i].path,
                     r.status, bad[i].status, r.body);
        if (r.status == 400)
            assert_non_null(strstr(r.body, "\"error\""));
        ht_free(&r);
    }
    memset(big, 'x', 39999);
    big[39999] = '\0';
    assert_int_equal(
        ht_status(f->port, "POST", "/api/v1/jobs/1/cancel", f->admin, big),
        413);
    pm_free(big);
    assert_int_equal(ht_status(f->port, "GET", "/healthz", NULL, NULL), 200);
    assert_int_equal(sv_stop(f->sv, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* No token anywhere: loopback reads are open, actions are refused. */
static void loopback_without_tokens_is_read_only(void **state)
{
    fx_t *f = make_fx("listen = 127.0.0.1:0");

    (void)state;
    start(f);
    assert_int_equal(ht_status(f->port, "GET", "/api/v1/status", NULL, NULL),
                     200);
    assert_int_equal(ht_status(f->port, "GET", "/metrics", NULL, NULL), 200);
    assert_int_equal(
        ht_status(f->port, "POST", "/api/v1/jobs/1/retry", NULL, NULL), 401);
    assert_int_equal(sv_fx_delete(f->sv, PAGE_TIMEOUT), 0);
    pm_free(f);
}

/* Any other address than loopback needs a token: exit 1, said why. */
static void open_address_without_token_refuses_to_start(void **state)
{
    fx_t *f = make_fx("listen = 0.0.0.0:0");
    int status;

    (void)state;
    sv_start(f->sv);
    status = sv_reap(f->sv, DEADLINE_S);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    sv_wait_log(f->sv,
                "is not a loopback address, and there is no access "
                "token",
                1);
    assert_int_equal(sv_fx_delete(f->sv, PAGE_TIMEOUT), 0);
    pm_free(f);
}

/* /readyz: not ready while the output volume has less free space than
 * min_free_mb; /healthz still answers. */
static void readyz_wants_free_space(void **state)
{
    fx_t *f = make_fx("listen = 127.0.0.1:0\nmin_free_mb = 16777216");
    json_t *doc;

    (void)state;
    start(f);
    assert_int_equal(ht_status(f->port, "GET", "/healthz", NULL, NULL), 200);
    doc = ht_get_json(f->port, "/readyz", NULL, 503);
    assert_false(json_is_true(json_object_get(doc, "ready")));
    assert_false(json_is_true(json_object_get(
        json_object_get(json_object_get(doc, "checks"), "output_space"),
        "ok")));
    json_decref(doc);
    assert_int_equal(sv_fx_delete(f->sv, PAGE_TIMEOUT), 0);
    pm_free(f);
}

/* [http] token_file: a token provisioned by its hash works with the role
 * the file gives it. */
static void token_file_tokens_work(void **state)
{
    static const char token[] = "pmt_file-token-for-tests";
    char path[400], line[200], http[600], *sha = NULL;
    fx_t *f;

    (void)state;
    /* The hash as an administrator would make it. */
    assert_int_equal(
        t_run(&sha, "printf %%s '%s' | sha256sum | cut -c1-64", token), 0);
    sha[strcspn(sha, "\n")] = '\0';
    snprintf(path, sizeof(path), "%s/tokens", t_tmpdir());
    snprintf(line, sizeof(line), "# provisioned\nsupervisor wall %s\n", sha);
    free(sha);
    sv_write_text(path, line);
    snprintf(http, sizeof(http), "listen = 127.0.0.1:0\ntoken_file = %s", path);
    f = make_fx(http);
    start(f);
    assert_int_equal(ht_status(f->port, "GET", "/api/v1/status", NULL, NULL),
                     401);
    assert_int_equal(ht_status(f->port, "GET", "/api/v1/status", token, NULL),
                     200);
    assert_int_equal(
        ht_status(f->port, "POST", "/api/v1/jobs/1/retry", token, NULL), 403);
    assert_int_equal(sv_fx_delete(f->sv, PAGE_TIMEOUT), 0);
    pm_free(f);
}

/* cert and key: HTTPS through libmicrohttpd's own TLS; plain HTTP gets
 * no answer. curl (loopback) checks the certificate. */
static void tls_when_cert_and_key_are_set(void **state)
{
    char dir[300], http[900], *out = NULL;
    fx_t *f;
    int port, rc;

    (void)state;
    snprintf(dir, sizeof(dir), "%s", t_tmpdir());
    if (t_run(NULL,
              "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
              "-nodes -keyout '%s/k.pem' -out '%s/c.pem' -days 2 "
              "-subj /CN=127.0.0.1 2>/dev/null",
              dir, dir) != 0)
        fail_msg("openssl could not make a certificate (Debian openssl)");
    snprintf(http, sizeof(http),
             "listen = 127.0.0.1:0\ncert = %s/c.pem\nkey = %s/k.pem", dir, dir);
    f = make_fx(http);
    sv_start(f->sv);
    sv_wait_log(f->sv, "listening on https://127.0.0.1:", DEADLINE_S);
    {
        char *log = t_slurp(f->sv->log);
        const char *p = strstr(log, "https://127.0.0.1:");
        assert_non_null(p);
        port = atoi(p + strlen("https://127.0.0.1:"));
        free(log);
    }
    rc = t_run(&out,
               "curl -sS --max-time 60 --cacert '%s/c.pem' "
               "https://127.0.0.1:%d/healthz",
               dir, port);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"ok\""));
    free(out);
    out = NULL;
    rc = t_run(&out, "curl -s --max-time 60 http://127.0.0.1:%d/healthz", port);
    assert_int_not_equal(rc, 0); /* not HTTP */
    free(out);
    assert_int_equal(sv_fx_delete(f->sv, PAGE_TIMEOUT), 0);
    pm_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(metrics_and_api_equal_the_catalog,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(every_endpoint_checks_its_role, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(actions_are_events_naming_the_token,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(admin_adds_a_work_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(status_under_load, setup, teardown),
        cmocka_unit_test_setup_teardown(status_is_cached_and_fresh, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_input_gets_400, setup, teardown),
        cmocka_unit_test(loopback_without_tokens_is_read_only),
        cmocka_unit_test(open_address_without_token_refuses_to_start),
        cmocka_unit_test(readyz_wants_free_space),
        cmocka_unit_test(token_file_tokens_work),
        cmocka_unit_test(tls_when_cert_and_key_are_set),
    };

    pm_log_init_from_env();
    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
