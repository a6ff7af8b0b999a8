/*
 * test_dashboard.c: the dashboard `/` in a real browser. Headless
 * Chromium (Debian chromium) loads it from the real service on 127.0.0.1
 * with a supervisor token, lets its script run, and the test reads the
 * DOM Chromium dumps: the chart drawn (its canvas sized by Chart.js) and
 * refreshed, workers, the service's node (slots, pages in the hour), jobs
 * by state and job rows filled, and the chart's
 * total growing from 0 to the pages a real batch finished; the job page
 * lists the job's pages. A screenshot
 * is saved as dashboard.png in the test's working folder.
 *
 * Chromium is kept on loopback: every address but loopback goes to a
 * proxy at 127.0.0.1:9 that is not there, and its background services
 * are off.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/httplib.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define TESTING      "tesseract-test/testing/"
#define DEADLINE_S   180.0
#define PAGE_TIMEOUT 60
#define CHROMIUM     "/usr/bin/chromium"

typedef struct fx {
    sv_fx_t *sv;
    char token[128];
    int port;
} fx_t;

static int setup(void **state)
{
    fx_t *f = pm_calloc(1, sizeof(*f));

    assert_non_null(f);
    /* Every page read below 100% confidence is flagged for review. */
    f->sv = ht_service_new(PAGE_TIMEOUT,
                           "listen = 127.0.0.1:0\n\n[profile default]\n"
                           "review_below_confidence = 100");
    ht_token(f->sv, "supervisor", "wall", f->token);
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

/* Runs headless Chromium on the dashboard: the DOM after `budget_ms` of
 * the page's (virtual) time, or with `shot` a screenshot there. */
static char *chromium_at(fx_t *f, const char *path, int budget_ms,
                         const char *shot)
{
    char *out = NULL;
    int rc;

    if (access(CHROMIUM, X_OK) != 0)
        fail_msg("%s is missing: install the Debian package chromium "
                 "(scripts/install-deps.sh)",
                 CHROMIUM);
    rc = t_run(&out,
               "'%s' --headless=new --no-sandbox --disable-gpu "
               "--no-first-run --disable-background-networking "
               "--disable-component-update --disable-default-apps "
               "--disable-sync --no-pings --disable-domain-reliability "
               "--proxy-server=127.0.0.1:9 --user-data-dir='%s/chromium' "
               "--window-size=1280,1000 --virtual-time-budget=%d %s%s%s "
               "'http://127.0.0.1:%d%s#token=%s' 2>>'%s/chromium.log'",
               CHROMIUM, f->sv->root, budget_ms,
               shot ? "--screenshot='" : "--dump-dom", shot ? shot : "",
               shot ? "'" : "", f->port, path, f->token, f->sv->root);
    if (rc != 0)
        fail_msg("chromium exited %d (see %s/chromium.log)", rc, f->sv->root);
    return out;
}

static char *chromium(fx_t *f, int budget_ms, const char *shot)
{
    return chromium_at(f, "/", budget_ms, shot);
}

/* The value of attribute `attr` of the element with id `id` in `dom`
 * into buf ("" if none). */
static const char *attr_of(const char *dom, const char *id, const char *attr,
                           char *buf, size_t size)
{
    char key[64];
    const char *el, *end, *a;

    buf[0] = '\0';
    snprintf(key, sizeof(key), "id=\"%s\"", id);
    el = strstr(dom, key);
    if (el == NULL)
        return buf;
    while (el > dom && *el != '<')
        el--;
    end = strchr(el, '>');
    snprintf(key, sizeof(key), " %s=\"", attr);
    a = strstr(el, key);
    if (a == NULL || end == NULL || a > end)
        return buf;
    a += strlen(key);
    snprintf(buf, size, "%.*s", (int)strcspn(a, "\""), a);
    return buf;
}

/* Table rows in the tbody with id `id`. */
static int rows_in(const char *dom, const char *id)
{
    char key[64];
    const char *p, *end;
    int n = 0;

    snprintf(key, sizeof(key), "<tbody id=\"%s\">", id);
    p = strstr(dom, key);
    if (p == NULL)
        return -1;
    end = strstr(p, "</tbody>");
    for (p = strstr(p, "<tr"); p != NULL && p < end; p = strstr(p + 3, "<tr"))
        n++;
    return n;
}

/* Loads the dashboard until `total` pages show in the chart and both
 * workers in their table (the service writes them every 2 s); returns
 * the last DOM. */
static char *wait_dashboard(fx_t *f, const char *total)
{
    double until = sv_now_s() + DEADLINE_S;
    char buf[64], seen[256] = "nothing";

    while (sv_now_s() < until) {
        char *dom = chromium(f, 5000, NULL);
        char updates[16];

        attr_of(dom, "chart", "data-total", buf, sizeof(buf));
        snprintf(
            seen, sizeof(seen),
            "state %s, chart total %s (updates %s), %d worker row(s)",
            strstr(dom, "data-state=\"ok\"") ? "ok" : "not ok", buf,
            attr_of(dom, "chart", "data-updates", updates, sizeof(updates)),
            rows_in(dom, "workers"));
        if (strstr(dom, "<body data-state=\"ok\"") != NULL &&
            strcmp(buf, total) == 0 && rows_in(dom, "workers") == 2)
            return dom;
        free(dom);
    }
    fail_msg("the dashboard never showed %s pages and 2 workers: last saw %s",
             total, seen);
    return NULL;
}

static void drop_batch(fx_t *f, const char *name, int n)
{
    char dir[512], path[600];

    snprintf(dir, sizeof(dir), "%s/%s", f->sv->scans, name);
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

static void dashboard_shows_a_batch_in_a_browser(void **state)
{
    fx_t *f = *state;
    char *dom, buf[64], shot[4200], cwd[4096];

    t_require_data();
    sv_start(f->sv);
    f->port = ht_port_from_log(f->sv->log, DEADLINE_S);

    dom = wait_dashboard(f, "0");
    /* Chart.js sized and drew the canvas; the refresh loop ran. */
    assert_true(atoi(attr_of(dom, "chart", "width", buf, sizeof(buf))) > 0);
    assert_true(atoi(attr_of(dom, "chart", "data-updates", buf, sizeof(buf))) >=
                1);
    assert_int_equal(rows_in(dom, "states"), 8);
    assert_int_equal(rows_in(dom, "jobs"), 0);
    free(dom);

    drop_batch(f, "WO-1_box1", 3);
    sv_wait_job(f->sv, "WO-1_box1", "done", DEADLINE_S);
    dom = wait_dashboard(f, "3");
    assert_int_equal(rows_in(dom, "jobs"), 1);
    assert_non_null(strstr(dom, "<td>WO-1</td><td>ACME</td><td>3</td><td>3"
                                "</td><td>done</td>"));
    assert_non_null(strstr(dom, "<b id=\"hour\">3</b>"));
    assert_non_null(strstr(dom, "<td>done</td><td>1</td>"));
    /* The service's own node: up, its two workers, the batch's pages
     * (after the busy count). */
    assert_int_equal(rows_in(dom, "nodes"), 1);
    {
        static const char head[] = "<td>coordinator</td><td>up</td><td>2"
                                   "</td><td>";
        const char *n = strstr(dom, head);

        assert_non_null(n);
        n = strstr(n + strlen(head), "</td>");
        assert_non_null(n);
        assert_int_equal(strncmp(n, "</td><td>3</td>", 15), 0);
    }
    /* The job's flagged pages are in the review list. */
    assert_int_equal(rows_in(dom, "review"), 1);
    /* Pages by hot folder and account, over the hour, shift and day. */
    assert_non_null(strstr(dom, "<td>hot folder</td><td>scans</td><td>3</td>"
                                "<td>3</td><td>3</td>"));
    assert_non_null(strstr(dom, "<td>account</td><td>ACME</td><td>3</td>"
                                "<td>3</td><td>3</td>"));
    free(dom);

    /* The job page: its pages, the blank one flagged as such. */
    dom = chromium_at(f, "/jobs/1", 5000, NULL);
    assert_non_null(strstr(dom, "<body data-state=\"ok\""));
    assert_int_equal(rows_in(dom, "pages"), 3);
    assert_non_null(strstr(dom, "<td>1</td><td>done</td><td>p01.tif</td>"));
    free(dom);

    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(shot, sizeof(shot), "%s/dashboard.png", cwd);
    unlink(shot);
    free(chromium(f, 5000, shot));
    assert_true(t_exists(shot));
    assert_int_equal(sv_stop(f->sv, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(dashboard_shows_a_batch_in_a_browser,
                                        setup, teardown),
    };

    pm_log_init_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
