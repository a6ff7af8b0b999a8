/*
 * test_review.c: review flags and replaced pages (catalog/review.c,
 * catalog/pg_review.c, catalog/review_common.c) on a real catalog of each
 * backend: SQLite in memory, then PostgreSQL in a private server started
 * by lib/pgtest.c (a fresh database per test; PostgreSQL missing fails).
 * Review flags stored with a done page and listed by job; replacement
 * requests refused in every wrong case, recorded once, finished (the page
 * and the job's PDF updated, billing untouched) or failed (nothing
 * changed).
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog.h"
#include "catalog/catalog_int.h"
#include "lib/cattest.h"
#include "lib/pgtest.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define LEASE 60
#define T0    1000000
#define JAN15 1768435200 /* 2026-01-15T00:00:00Z */
#define FEB2  1769990400 /* 2026-02-02T00:00:00Z */

/* "Now" for the queue and the finish of done_job. */
static int64_t now_s = T0;

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_N "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define SHA_P "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The URL of the PostgreSQL database open_mem() made last. */
static char pg_url[256];

/* A new catalog of the backend under test, with account CITY and its
 * work order WO-1. */
static pm_catalog_t *open_mem(void)
{
    pm_catalog_t *cat = NULL;
    pm_account_t a = {.code = (char *)"CITY", .name = (char *)"City"};
    pm_workorder_t w = {.number = (char *)"WO-1", .account = (char *)"CITY"};
    char url[256];
    int64_t id;

    if (ct_use_pg) {
        ct_pg_fresh(url, sizeof(url));
        snprintf(pg_url, sizeof(pg_url), "%s", url);
    }
    assert_int_equal(pm_catalog_open(ct_use_pg ? url : ":memory:", &cat), 0);
    assert_int_equal(pm_account_add(cat, &a, "cli:test", &id), 0);
    assert_int_equal(pm_workorder_add(cat, &w, "cli:test", &id), 0);
    return cat;
}

/* A job of `n` pages /spool/b/p<i>.tif with digests from `seed`. */
static int64_t new_job(pm_catalog_t *cat, int n, char seed)
{
    pm_page_input_t pages[4] = {0};
    char src[4][32], sha[4][65];
    pm_job_t j = {.workorder = (char *)"WO-1",
                  .profile = (char *)"default",
                  .batch = (char *)"WO-1",
                  .source_path = (char *)"/spool/b"};
    int64_t id = 0;

    assert_true(n <= 4);
    for (int i = 0; i < n; i++) {
        snprintf(src[i], sizeof(src[i]), "/spool/b/p%d.tif", i + 1);
        memset(sha[i], seed, 63);
        sha[i][63] = (char)('0' + i);
        sha[i][64] = '\0';
        pages[i].src = src[i];
        pages[i].frame = 0;
        pages[i].sha256 = sha[i];
    }
    assert_int_equal(pm_job_create(cat, &j, pages, (size_t)n, "intake", &id),
                     0);
    return id;
}

/* Claims and completes every page of the only active job; page `flag`
 * is flagged for review. */
static void complete_all(pm_catalog_t *cat, int n, int flag)
{
    for (int i = 0; i < n; i++) {
        pm_page_metrics_t m = {.width = 100,
                               .height = 100,
                               .words = 9,
                               .confidence = 90,
                               .kind = "bitonal",
                               .codec = "g4",
                               .orient_method = "osd",
                               .orient_evidence =
                                   "{\"orient_read\":[1,2,3,4]}"};
        pm_task_t t;

        assert_int_equal(pm_task_claim(cat, "w1", LEASE, now_s, &t), 0);
        if (t.page == flag) {
            m.review = "mean OCR confidence 30 is below 60";
            m.confidence = 30;
        }
        assert_int_equal(pm_task_complete(cat, t.id, t.attempts, &m, now_s), 0);
        pm_task_cleanup(&t);
    }
}

/* A done job of `n` pages, page `flag` flagged. */
static int64_t done_job(pm_catalog_t *cat, int n, int flag, char seed)
{
    int64_t id = new_job(cat, n, seed), *ids = NULL;
    size_t k = 0;

    complete_all(cat, n, flag);
    assert_int_equal(pm_job_collect_finished(cat, now_s, &ids, &k), 0);
    pm_free(ids);
    assert_int_equal(
        pm_job_finish_doc(cat, id, "/out/CITY/WO-1/job-1", SHA_P, n, now_s), 0);
    return id;
}

static int events_of(pm_catalog_t *cat, int64_t job, const char *kind)
{
    pm_event_t *v;
    size_t n;
    int count = 0;

    assert_int_equal(pm_event_list(cat, job, 0, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        count += strcmp(v[i].kind, kind) == 0;
    pm_event_list_free(v, n);
    return count;
}

static void flag_is_stored_and_listed(void **state)
{
    pm_catalog_t *cat = open_mem();
    int64_t id = done_job(cat, 3, 2, 'a'), pages, jobs;
    pm_review_job_t *v;
    pm_task_t *t;
    size_t n;

    (void)state;
    assert_int_equal(pm_task_list(cat, id, &t, &n), 0);
    assert_null(t[0].review);
    assert_string_equal(t[1].review, "mean OCR confidence 30 is below 60");
    assert_string_equal(t[1].m.review, t[1].review);
    assert_string_equal(t[1].orient_method, "osd");
    assert_string_equal(t[1].orient_evidence, "{\"orient_read\":[1,2,3,4]}");
    pm_task_list_free(t, n);
    assert_int_equal(pm_review_jobs(cat, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].job, id);
    assert_string_equal(v[0].workorder, "WO-1");
    assert_string_equal(v[0].account, "CITY"); /* the work order's */
    assert_int_equal(v[0].pages, 1);
    assert_int_equal(v[0].state, PM_JOB_DONE);
    assert_string_equal(v[0].reasons,
                        "page 2: mean OCR confidence 30 is below 60");
    pm_review_job_list_free(v, n);
    assert_int_equal(pm_review_count(cat, &pages, &jobs), 0);
    assert_int_equal(pages, 1);
    assert_int_equal(jobs, 1);
    /* A cancelled job is nobody's work any more. */
    assert_int_equal(pm_job_cancel(cat, id, "cli:test", "wrong batch"), 0);
    assert_int_equal(pm_review_count(cat, &pages, &jobs), 0);
    assert_int_equal(pages, 0);
    assert_int_equal(pm_review_jobs(cat, &v, &n), 0);
    assert_int_equal(n, 0);
    pm_review_job_list_free(v, n);
    pm_catalog_close(cat);
}

static void request_is_refused_when_wrong(void **state)
{
    pm_catalog_t *cat = open_mem();
    int64_t queued = new_job(cat, 2, 'b'), id = 0;

    (void)state;
    assert_int_equal(pm_replace_request(cat, queued, 1, "/spool/r.tif", SHA_N,
                                        "cli:jane", T0, &id),
                     PM_EINVAL);
    assert_non_null(strstr(pm_catalog_errmsg(cat), "is queued"));
    assert_int_equal(pm_replace_check(cat, 99, 1), PM_ENOENT);
    pm_catalog_close(cat);
    cat = open_mem();
    queued = done_job(cat, 2, 0, 'c');
    assert_int_equal(pm_replace_check(cat, queued, 0), PM_EINVAL);
    assert_int_equal(pm_replace_check(cat, queued, 3), PM_EINVAL);
    assert_non_null(strstr(pm_catalog_errmsg(cat), "no page 3"));
    assert_int_equal(pm_replace_request(cat, queued, 2, "/spool/r.tif", SHA_N,
                                        "cli:jane", T0, &id),
                     0);
    assert_true(id > 0);
    assert_int_equal(pm_replace_request(cat, queued, 1, "/spool/s.tif", SHA_N,
                                        "cli:jane", T0, &id),
                     PM_EINVAL);
    assert_non_null(strstr(pm_catalog_errmsg(cat), "still pending"));
    assert_int_equal(events_of(cat, queued, "page.replace_requested"), 1);
    pm_catalog_close(cat);
}

static void finish_updates_page_and_pdf_not_billing(void **state)
{
    pm_catalog_t *cat = open_mem();
    int64_t id = done_job(cat, 2, 2, 'd'), req = 0, before = 0, after = 0;
    pm_page_metrics_t m = {.width = 200,
                           .height = 300,
                           .words = 77,
                           .confidence = 93,
                           .kind = "gray",
                           .codec = "jpeg"};
    pm_replacement_t r, none;
    pm_job_t j0, j1;
    pm_task_t *t;
    size_t n;

    (void)state;
    assert_int_equal(pm_job_get(cat, id, &j0), 0);
    assert_int_equal(pm_billable_count(cat, id, 0, &before), 0);
    assert_int_equal(pm_replace_request(cat, id, 2, "/spool/job-1/r.tif", SHA_N,
                                        "cli:jane", T0 + 5, &req),
                     0);
    assert_int_equal(pm_replace_next(cat, &r), 0);
    assert_int_equal(r.id, req);
    assert_string_equal(r.old_src, "/spool/b/p2.tif");
    assert_string_equal(r.actor, "cli:jane");
    assert_int_equal(pm_replace_finish(cat, &r, &m, SHA_A, 2,
                                       "/spool/job-1/replaced/p2.tif", T0 + 9),
                     0);
    assert_int_equal(pm_task_list(cat, id, &t, &n), 0);
    assert_string_equal(t[1].src, "/spool/job-1/r.tif");
    assert_string_equal(t[1].sha256, SHA_N);
    assert_int_equal(t[1].m.words, 77);
    assert_null(t[1].review); /* the rescan reads well */
    assert_string_equal(t[0].src, "/spool/b/p1.tif");
    pm_task_list_free(t, n);
    assert_int_equal(pm_job_get(cat, id, &j1), 0);
    assert_int_equal(j1.state, PM_JOB_DONE);
    assert_int_equal(j1.finished_at, j0.finished_at);
    assert_string_equal(j1.billing_month, j0.billing_month);
    assert_int_equal(pm_billable_count(cat, id, 0, &after), 0);
    assert_int_equal(after, before);
    assert_int_equal(events_of(cat, id, "page.replaced"), 1);
    /* Done once: no longer pending. */
    assert_int_equal(pm_replace_next(cat, &none), PM_ENOENT);
    assert_int_equal(pm_replace_finish(cat, &r, &m, SHA_A, 2, NULL, T0),
                     PM_ESTALE);
    pm_replacement_cleanup(&r);
    pm_job_cleanup(&j0);
    pm_job_cleanup(&j1);
    pm_catalog_close(cat);
}

/* Sum of the month's billed pages and cents, as a report shows them. */
static void month_bill(pm_catalog_t *cat, int64_t *pages, int64_t *cents)
{
    pm_billing_line_t *v;
    size_t n;

    *pages = *cents = 0;
    assert_int_equal(
        pm_billing_lines(cat, "2026-01", "2026-01", NULL, NULL, &v, &n), 0);
    for (size_t i = 0; i < n; i++) {
        *pages += v[i].billable_pages;
        *cents += v[i].amount_cents;
    }
    pm_billing_line_list_free(v, n);
}

/* Replaces page `page` of job `id` with a rescan that reads as blank;
 * the month's billed pages and cents stay p0 and c0. */
static void replace_blank(pm_catalog_t *cat, int64_t id, int page, int64_t t)
{
    pm_page_metrics_t m = {.words = 0, .confidence = 0, .blank = 1};
    int64_t req, p0, c0, p1, c1;
    pm_replacement_t r;

    month_bill(cat, &p0, &c0);
    assert_int_equal(p0, 3);
    assert_int_equal(pm_replace_request(cat, id, page, "/spool/job-1/r.tif",
                                        SHA_N, "cli:jane", t, &req),
                     0);
    assert_int_equal(pm_replace_next(cat, &r), 0);
    assert_int_equal(pm_replace_finish(cat, &r, &m, SHA_A, 3, NULL, t), 0);
    pm_replacement_cleanup(&r);
    month_bill(cat, &p1, &c1);
    assert_int_equal(p1, p0);
    assert_int_equal(c1, c0);
}

/* The page stays billed as it was, even when the rescan reads as blank,
 * in the open month and once it is closed. */
static void billing_stays_as_it_was(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_fee_t fee = {.code = (char *)"STD", .unit_price_mc = 8125};
    int64_t id, fid, *blockers = NULL;
    size_t nb = 0;

    (void)state;
    fee.effective_from = JAN15 - 86400 * 14;
    assert_int_equal(pm_fee_add(cat, &fee, "cli:test", JAN15, &fid), 0);
    assert_int_equal(pm_workorder_set_fee(cat, "WO-1", "STD", "cli:test"), 0);
    now_s = JAN15;
    id = done_job(cat, 3, 2, 'f');
    now_s = T0;
    replace_blank(cat, id, 2, JAN15 + 60); /* January still open */
    if (pm_billing_close(cat, "2026-01", 0, "cli:test", FEB2, &blockers, &nb) !=
        0)
        fail_msg("close: %s", pm_catalog_errmsg(cat));
    pm_free(blockers);
    replace_blank(cat, id, 3, FEB2 + 60); /* January closed */
    pm_catalog_close(cat);
}

static void failure_changes_nothing(void **state)
{
    pm_catalog_t *cat = open_mem();
    int64_t id = done_job(cat, 2, 2, 'e'), req = 0;
    pm_replacement_t r, *v;
    pm_task_t *t;
    size_t n;

    (void)state;
    assert_int_equal(pm_replace_request(cat, id, 2, "/spool/job-1/r.tif", SHA_N,
                                        "cli:jane", T0, &req),
                     0);
    assert_int_equal(pm_replace_next(cat, &r), 0);
    assert_int_equal(pm_replace_fail(cat, &r, "not a readable TIFF", T0), 0);
    pm_replacement_cleanup(&r);
    assert_int_equal(pm_replace_list(cat, id, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].state, PM_REPLACE_FAILED);
    assert_string_equal(v[0].error, "not a readable TIFF");
    pm_replacement_list_free(v, n);
    assert_int_equal(pm_task_list(cat, id, &t, &n), 0);
    assert_string_equal(t[1].src, "/spool/b/p2.tif");
    assert_non_null(t[1].review); /* still flagged */
    pm_task_list_free(t, n);
    assert_int_equal(events_of(cat, id, "page.replace_failed"), 1);
    /* A new request may follow a failed one. */
    assert_int_equal(pm_replace_check(cat, id, 2), 0);
    pm_catalog_close(cat);
}

/* ---- PostgreSQL: a request waits for the job's row ---- */

/* A connection of the test's own to open_mem()'s last database. */
static PGconn *raw_connect(void)
{
    PGconn *conn = PQconnectdb(pg_url);

    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    return conn;
}

static void raw_must(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType s = PQresultStatus(r);

    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* Sessions of the database waiting for a lock. */
static int lock_waiters(PGconn *conn)
{
    PGresult *r = PQexec(conn, "SELECT count(*) FROM pg_stat_activity WHERE "
                               "wait_event_type = 'Lock' AND datname = "
                               "current_database()");
    int n;

    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

typedef struct request {
    pm_catalog_t *cat;
    int64_t job, id;
    int err;
    char msg[256];
} request_t;

static void *request_run(void *arg)
{
    request_t *q = arg;

    q->err = pm_replace_request(q->cat, q->job, 2, "/spool/r2.tif", SHA_N,
                                "cli:al", T0, &q->id);
    snprintf(q->msg, sizeof(q->msg), "%s", pm_catalog_errmsg(q->cat));
    return NULL;
}

/* Another session holds the job's row while it records a replacement of
 * page 1: a request for page 2 waits for it (it locks the job's row
 * before it looks), then sees the pending replacement and is refused
 * with the reason, not with a unique-index violation. */
static void request_waits_for_the_jobs_row(void **state)
{
    pm_catalog_t *cat = open_mem();
    int64_t id = done_job(cat, 2, 0, 'c');
    PGconn *holder = raw_connect(), *watch = raw_connect();
    request_t q = {.cat = cat, .job = id};
    struct timespec tick = {0, 20 * 1000 * 1000};
    char sql[512];
    pthread_t th;
    int polls = 0;

    (void)state;
    raw_must(holder, "BEGIN");
    snprintf(sql, sizeof(sql), "SELECT 1 FROM jobs WHERE id = %lld FOR UPDATE",
             (long long)id);
    raw_must(holder, sql);
    snprintf(sql, sizeof(sql),
             "INSERT INTO page_replacements (job, page, src, sha256, old_src, "
             "old_frame, old_sha256, actor, requested_at) SELECT job, page, "
             "'/spool/r1.tif', '%s', src, frame, sha256, 'cli:jo', %d FROM "
             "page_tasks WHERE job = %lld AND page = 1",
             SHA_N, T0, (long long)id);
    raw_must(holder, sql);
    assert_int_equal(pthread_create(&th, NULL, request_run, &q), 0);
    /* Poll (generously) until the request waits on the row. */
    while (lock_waiters(watch) == 0 && ++polls < 3000)
        nanosleep(&tick, NULL);
    raw_must(holder, "COMMIT");
    assert_int_equal(pthread_join(th, NULL), 0);
    if (polls >= 3000)
        fail_msg("the request never waited for the job's row (it returned "
                 "%d: %s)",
                 q.err, q.msg);
    assert_int_equal(q.err, PM_EINVAL);
    assert_non_null(strstr(q.msg, "replacement of page 1 is still pending"));
    assert_int_equal(q.id, 0);
    PQfinish(holder);
    PQfinish(watch);
    pm_catalog_close(cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flag_is_stored_and_listed),
        cmocka_unit_test(request_is_refused_when_wrong),
        cmocka_unit_test(finish_updates_page_and_pdf_not_billing),
        cmocka_unit_test(billing_stays_as_it_was),
        cmocka_unit_test(failure_changes_nothing),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(flag_is_stored_and_listed),
        cmocka_unit_test(request_is_refused_when_wrong),
        cmocka_unit_test(finish_updates_page_and_pdf_not_billing),
        cmocka_unit_test(billing_stays_as_it_was),
        cmocka_unit_test(failure_changes_nothing),
        cmocka_unit_test(request_waits_for_the_jobs_row),
    };
    int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);

    failed += cmocka_run_group_tests_name(
        "postgresql", pg_tests, ct_pg_group_setup, ct_pg_group_teardown);
    return failed;
}
