/*
 * test_alerts.c: [alerts] on the real service. The alert command is a
 * shell line appending its stdin to a file; a batch for an unknown work
 * order (rejected), a job whose page is corrupt (failed) and a page that
 * hangs in its worker (the queue stalls past stall_minutes) each run it
 * exactly once, with one JSON object naming the alert, and each is an
 * event in the catalog.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "lib/httplib.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define TESTING      "tesseract-test/testing/"
#define DEADLINE_S   240.0
#define PAGE_TIMEOUT 150 /* longer than the stall, so the hang is not cut */

/* Lines of `path` whose "alert" is `kind`; each line must be a JSON
 * object with the documented fields. */
static int alerts_of(const char *path, const char *kind)
{
    char *text = t_slurp(path), *line, *save = NULL;
    int n = 0;

    if (text == NULL)
        return 0;
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);

        if (o == NULL)
            fail_msg("alert line is not JSON (%s): %s", e.text, line);
        assert_non_null(sv_jstr(o, "subject"));
        assert_non_null(sv_jstr(o, "message"));
        assert_non_null(sv_jstr(o, "at"));
        assert_int_equal(strlen(sv_jstr(o, "catalog")), 32);
        n += strcmp(sv_jstr(o, "alert"), kind) == 0;
        json_decref(o);
    }
    free(text);
    return n;
}

static void wait_alert(const sv_fx_t *f, const char *path, const char *kind)
{
    double until = sv_now_s() + DEADLINE_S;

    while (alerts_of(path, kind) == 0) {
        if (sv_now_s() > until)
            fail_msg("no %s alert in %s (service log: %s)", kind, path, f->log);
        sv_nap_ms(200);
    }
}

static void drop(const sv_fx_t *f, const char *batch, const char *page,
                 const char *src, size_t truncate_to)
{
    char path[600];

    snprintf(path, sizeof(path), "%s/%s", f->scans, batch);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/%s/%s", f->scans, batch, page);
    if (truncate_to > 0)
        t_copy_truncated(t_data(src), path, truncate_to);
    else
        t_copy_file(t_data(src), path);
    snprintf(path, sizeof(path), "%s/%s/batch.ini", f->scans, batch);
    sv_write_text(path, "");
}

static void each_alert_runs_its_command_once(void **state)
{
    char extra[1024], log[400], args[64];
    sv_fx_t *f;
    json_t *j, *ev;
    long long bad;
    size_t i;
    int seen = 0;

    (void)state;
    t_require_data();
    f = sv_fx_new(PAGE_TIMEOUT, "", NULL);
    snprintf(log, sizeof(log), "%s/alerts.jsonl", f->root);
    snprintf(extra, sizeof(extra),
             "\n[alerts]\ncommand = cat >> '%s'\nstall_minutes = 1\n"
             "min_free_mb = 0\nworker_restarts = 0\n",
             log);
    assert_int_equal(sv_write_config(f, PAGE_TIMEOUT, extra), 0);
    assert_int_equal(setenv("PAGEMILL_TEST_HANG_MATCH", "hangme", 1), 0);
    assert_int_equal(setenv("PAGEMILL_TEST_ALERT_CHECK_MS", "200", 1), 0);
    sv_start(f);
    unsetenv("PAGEMILL_TEST_HANG_MATCH");
    unsetenv("PAGEMILL_TEST_ALERT_CHECK_MS");

    drop(f, "WO-404_box1", "p1.tif", TESTING "phototest.tif", 0);
    wait_alert(f, log, "batch_rejected");
    drop(f, "WO-1_bad", "p1.tif", TESTING "phototest.tif", 20000);
    bad = sv_wait_job(f, "WO-1_bad", "failed", DEADLINE_S);
    wait_alert(f, log, "job_failed");
    drop(f, "WO-1_hang", "p1_hangme.tif", TESTING "eurotext.tif", 0);
    wait_alert(f, log, "queue_stalled");

    /* Many checks later, still once each: repeat_minutes holds them. */
    sv_nap_ms(3000);
    assert_int_equal(alerts_of(log, "batch_rejected"), 1);
    assert_int_equal(alerts_of(log, "job_failed"), 1);
    assert_int_equal(alerts_of(log, "queue_stalled"), 1);

    /* The failed job's alert is on record with the job. */
    snprintf(args, sizeof(args), "job show %lld --json", bad);
    j = sv_cli_json(f, args);
    json_array_foreach(json_object_get(j, "events"), i, ev)
    {
        seen += strcmp(sv_jstr(ev, "kind"), "alert.job_failed") == 0;
    }
    json_decref(j);
    assert_int_equal(seen, 1);
    assert_int_equal(sv_fx_delete(f, PAGE_TIMEOUT), 0);
}

/* A worker process of the service (not an alert command), or 0. */
static pid_t a_worker(const sv_fx_t *f)
{
    pid_t v[16];
    int n = sv_worker_pids(f, v, 16);

    for (int i = 0; i < n; i++) {
        char path[64], cmd[256] = "";
        size_t len = 0;
        FILE *fp;

        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)v[i]);
        fp = fopen(path, "r");
        if (fp == NULL)
            continue;
        len = fread(cmd, 1, sizeof(cmd) - 1, fp);
        fclose(fp);
        cmd[len] = '\0';
        /* argv[1] follows argv[0]'s NUL: "worker" for a worker. */
        if (strlen(cmd) + 1 < len &&
            strcmp(cmd + strlen(cmd) + 1, "worker") == 0)
            return v[i];
    }
    return 0;
}

/* pagemill_worker_restarts_total in /metrics. */
static long long restarts_metric(int port)
{
    ht_resp_t r;
    const char *p;
    long long n;

    ht_request(port, "GET", "/metrics", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    p = strstr(r.body, "\npagemill_worker_restarts_total ");
    assert_non_null(p);
    n = atoll(p + strlen("\npagemill_worker_restarts_total "));
    ht_free(&r);
    return n;
}

/* "alert.KIND" events in the catalog. */
static int alert_events(const sv_fx_t *f, const char *kind)
{
    pm_catalog_t *cat;
    pm_event_t *v = NULL;
    size_t k = 0;
    int n = 0;

    assert_int_equal(pm_catalog_open(f->db, &cat), 0);
    assert_int_equal(pm_event_list(cat, 0, 0, &v, &k), 0);
    for (size_t i = 0; i < k; i++)
        n += strcmp(v[i].kind, kind) == 0;
    pm_event_list_free(v, k);
    pm_catalog_close(cat);
    return n;
}

/* One worker killed is one restart: 1 in /metrics and /api/v1/status, and
 * with worker_restarts = 1 the alert runs once, and not again when
 * repeat_minutes have passed with the restart still within the ten
 * minutes (it is the same restart). */
static void one_restart_counts_once(void **state)
{
    char extra[1024], log[400];
    double until;
    sv_fx_t *f;
    json_t *st;
    pid_t pid = 0;
    int port;

    (void)state;
    f = sv_fx_new(PAGE_TIMEOUT, "", NULL);
    snprintf(log, sizeof(log), "%s/alerts.jsonl", f->root);
    snprintf(extra, sizeof(extra),
             "\n[alerts]\ncommand = cat >> '%s'\nstall_minutes = 0\n"
             "min_free_mb = 0\nworker_restarts = 1\nrepeat_minutes = 1\n"
             "\n[http]\nlisten = 127.0.0.1:0\n",
             log);
    assert_int_equal(sv_write_config(f, PAGE_TIMEOUT, extra), 0);
    assert_int_equal(setenv("PAGEMILL_TEST_ALERT_CHECK_MS", "200", 1), 0);
    sv_start(f);
    unsetenv("PAGEMILL_TEST_ALERT_CHECK_MS");
    port = ht_port_from_log(f->log, DEADLINE_S);
    for (until = sv_now_s() + DEADLINE_S; (pid = a_worker(f)) == 0;) {
        if (sv_now_s() > until)
            fail_msg("no worker process (service log: %s)", f->log);
        sv_nap_ms(100);
    }
    assert_int_equal(restarts_metric(port), 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    wait_alert(f, log, "worker_restarts");
    for (until = sv_now_s() + DEADLINE_S; restarts_metric(port) != 1;) {
        if (sv_now_s() > until)
            fail_msg("pagemill_worker_restarts_total is not 1");
        sv_nap_ms(100);
    }
    st = ht_get_json(port, "/api/v1/status", NULL, 200);
    assert_int_equal(sv_jint(json_object_get(st, "service"), "worker_restarts"),
                     1);
    json_decref(st);
    /* Past repeat_minutes (1), the restart still within ten minutes. */
    for (until = sv_now_s() + 70; sv_now_s() < until;) {
        if (alerts_of(log, "worker_restarts") != 1)
            fail_msg("one restart raised the worker_restarts alert %d times",
                     alerts_of(log, "worker_restarts"));
        sv_nap_ms(1000);
    }
    assert_int_equal(alert_events(f, "alert.worker_restarts"), 1);
    assert_int_equal(restarts_metric(port), 1);
    assert_int_equal(sv_fx_delete(f, PAGE_TIMEOUT), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_alert_runs_its_command_once),
        cmocka_unit_test(one_restart_counts_once),
    };

    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
