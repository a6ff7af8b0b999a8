/*
 * test_monitor.c: the web interface's reads (catalog/monitor.c,
 * catalog/pg_monitor.c, catalog/monitor_common.c) on a real catalog of
 * each backend: an SQLite file, then a fresh PostgreSQL database in a
 * private server started by lib/pgtest.c (PostgreSQL missing fails).
 * Access tokens (only hashes stored, names unique, bad input refused),
 * the counts /metrics shows against what the catalog's own functions
 * say, the job list's pages, rejection reasons, throughput and
 * breakdowns, and a read-only handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/monitor.h"
#include "lib/cattest.h"
#include "lib/pgtest.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define T0 1000000

static const char sha_a[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char sha_b[] =
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/* A new catalog of the backend under test. */
static pm_catalog_t *open_cat(void)
{
    char path[512];
    pm_catalog_t *cat = NULL;

    if (ct_use_pg) {
        ct_pg_fresh(path, sizeof(path));
    } else {
        snprintf(path, sizeof(path), "%s/catalog.db", t_tmpdir());
    }
    assert_int_equal(pm_catalog_open(path, &cat), 0);
    return cat;
}

/* Claims the next page and completes it with `ms` for every stage. */
static void complete_next(pm_catalog_t *cat, double ms, int blank,
                          double confidence)
{
    pm_task_t t;
    pm_page_metrics_t m = {0};

    assert_int_equal(pm_task_claim(cat, "c", 60, T0, &t), 0);
    m.ms_decode = m.ms_orient = m.ms_deskew = m.ms_blank = m.ms_ocr =
        m.ms_encode = m.ms_total = ms;
    m.blank = blank;
    m.confidence = confidence;
    m.kind = "bitonal";
    m.codec = "g4";
    assert_int_equal(pm_task_complete(cat, t.id, t.attempts, &m, T0), 0);
    pm_task_cleanup(&t);
}

static void tokens_keep_only_hashes(void **state)
{
    pm_catalog_t *cat = open_cat();
    pm_token_t *v = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(
        pm_token_add(cat, "desk", PM_ROLE_SUPERVISOR, sha_a, "cli:t", T0), 0);
    assert_int_equal(
        pm_token_add(cat, "ops", PM_ROLE_ADMIN, sha_b, "cli:t", T0), 0);
    assert_int_equal(
        pm_token_add(cat, "desk", PM_ROLE_ADMIN, sha_b, "cli:t", T0), -EEXIST);
    assert_int_equal(
        pm_token_add(cat, "x y", PM_ROLE_ADMIN, sha_b, "cli:t", T0), PM_EINVAL);
    assert_int_equal(pm_token_add(cat, "z", PM_ROLE_ADMIN, "abc", "cli:t", T0),
                     PM_EINVAL);
    assert_int_equal(pm_token_add(cat, "z", (pm_role_t)9, sha_a, "cli:t", T0),
                     PM_EINVAL);
    assert_int_equal(pm_token_list(cat, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "desk");
    assert_int_equal(v[0].role, PM_ROLE_SUPERVISOR);
    assert_string_equal(v[0].sha256, sha_a);
    assert_string_equal(v[1].name, "ops");
    pm_token_list_free(v, n);
    assert_int_equal(pm_role_parse("billing"), PM_ROLE_BILLING);
    assert_int_equal(pm_role_parse("root"), -1);
    assert_false(pm_token_name_valid(""));
    assert_false(pm_token_name_valid("a/b"));
    assert_true(pm_token_name_valid("jane.doe@records"));
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/* The counts equal the catalog's: pages by state, jobs, billable pages
 * (blank ones not billed), histogram buckets cumulative. */
static void counts_equal_the_catalog(void **state)
{
    pm_catalog_t *cat = open_cat();
    int64_t a = ct_new_job(cat, 3, 1), b = ct_new_job(cat, 2, 2), billable;
    int64_t *ids = NULL;
    size_t nids = 0;
    pm_monitor_t m;
    pm_status_t st;

    (void)state;
    complete_next(cat, 3, 0, 90);     /* a p1: bucket 5 ms */
    complete_next(cat, 40, 1, 0);     /* b p1 (fair order): blank */
    complete_next(cat, 400, 0, 30);   /* a p2: low confidence */
    complete_next(cat, 4000, 0, 80);  /* b p2 */
    complete_next(cat, 40000, 0, 80); /* a p3: above every bucket */
    assert_int_equal(pm_job_collect_finished(cat, T0, &ids, &nids), 0);
    pm_free(ids);
    assert_int_equal(pm_job_finish(cat, a, "/out/a", T0), 0);
    assert_int_equal(pm_job_finish(cat, b, "/out/b", T0), 0);
    ct_new_job(cat, 2, 3); /* queued */

    assert_int_equal(pm_monitor_read(cat, &m), 0);
    assert_int_equal(pm_catalog_status(cat, T0, &st), 0);
    assert_int_equal(m.pages[PM_TASK_DONE], 5);
    assert_int_equal(m.pages[PM_TASK_QUEUED], st.queued_pages);
    assert_int_equal(m.jobs[PM_JOB_DONE], st.jobs_done);
    assert_int_equal(m.jobs[PM_JOB_QUEUED], 1);
    assert_int_equal(m.blank_pages, 1);
    assert_int_equal(m.low_confidence, 1);
    assert_int_equal(pm_billable_count(cat, 0, 0, &billable), 0);
    assert_int_equal(m.billable_pages, billable);
    assert_int_equal(m.billable_pages, 4);
    assert_true(m.queue_oldest_at > 0);
    for (int s = 0; s < PM_STAGES; s++) {
        const pm_stage_hist_t *h = &m.stages[s];
        assert_int_equal(h->count, 5);
        assert_int_equal(h->le[0], 1);                    /* <= 5 ms */
        assert_int_equal(h->le[3], 2);                    /* <= 50 ms */
        assert_int_equal(h->le[PM_STAGE_BUCKETS - 1], 4); /* <= 30 s */
        assert_true(h->sum_ms > 44442 && h->sum_ms < 44444);
    }
    /* The counts-only read: the same counts, no stage histograms. */
    {
        pm_monitor_t c;

        assert_int_equal(pm_monitor_counts(cat, &c), 0);
        assert_memory_equal(c.pages, m.pages, sizeof(m.pages));
        assert_memory_equal(c.jobs, m.jobs, sizeof(m.jobs));
        assert_int_equal(c.blank_pages, m.blank_pages);
        assert_int_equal(c.billable_pages, m.billable_pages);
        assert_int_equal(c.queue_oldest_at, m.queue_oldest_at);
        assert_int_equal(c.low_confidence, m.low_confidence);
        for (int s = 0; s < PM_STAGES; s++)
            assert_int_equal(c.stages[s].count, 0);
    }
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

static void job_pages_and_filters(void **state)
{
    pm_catalog_t *cat = open_cat();
    pm_job_t *v = NULL;
    size_t n = 0;
    int64_t total = 0, ids[7];

    (void)state;
    for (int i = 0; i < 7; i++)
        ids[i] = ct_new_job(cat, 1, (unsigned)i + 10);
    assert_int_equal(pm_job_cancel(cat, ids[2], "t", NULL), 0);
    assert_int_equal(pm_monitor_jobs(cat, -1, 3, 0, &v, &n, &total), 0);
    assert_int_equal(total, 7);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].id, ids[6]); /* newest first */
    pm_job_list_free(v, n);
    assert_int_equal(pm_monitor_jobs(cat, -1, 3, 6, &v, &n, &total), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, ids[0]);
    pm_job_list_free(v, n);
    assert_int_equal(pm_monitor_jobs(cat, -1, 3, 60, &v, &n, &total), 0);
    assert_int_equal(n, 0);
    pm_job_list_free(v, n);
    assert_int_equal(
        pm_monitor_jobs(cat, PM_JOB_CANCELLED, 50, 0, &v, &n, &total), 0);
    assert_int_equal(total, 1);
    assert_int_equal(v[0].id, ids[2]);
    pm_job_list_free(v, n);
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

static void rejections_newest_first_with_reasons(void **state)
{
    pm_catalog_t *cat = open_cat();
    pm_event_t *v = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(pm_event_add(cat, "c", "batch.rejected", 0, 0,
                                  "batch A: work order WO-9 is not in the "
                                  "catalog"),
                     0);
    assert_int_equal(pm_event_add(cat, "c", "job.created", 0, 0, "x"), 0);
    assert_int_equal(pm_event_add(cat, "c", "batch.rejected", 0, 0,
                                  "batch B: batch.ini says expected_pages = "
                                  "3, but the batch has 2"),
                     0);
    assert_int_equal(pm_monitor_rejections(cat, 0, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(pm_rejection_reason(v[0].detail), "page_count");
    assert_string_equal(pm_rejection_reason(v[1].detail), "unknown_work_order");
    pm_event_list_free(v, n);
    assert_int_equal(pm_monitor_rejections(cat, 1, &v, &n), 0);
    assert_int_equal(n, 1);
    pm_event_list_free(v, n);
    assert_string_equal(pm_rejection_reason(NULL), "other");
    assert_string_equal(pm_rejection_reason("'p1.tif': zero-byte file"),
                        "unreadable_page");
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/* Pages finished per minute, oldest minute first. */
static void throughput_by_minute(void **state)
{
    pm_catalog_t *cat = open_cat();
    int64_t counts[3];

    (void)state;
    ct_new_job(cat, 2, 1);
    complete_next(cat, 10, 0, 90);
    complete_next(cat, 10, 0, 90);
    /* Both finished at T0: the last of 3 minutes ending at T0 + 30. */
    assert_int_equal(pm_monitor_throughput(cat, T0 + 30, 3, counts), 0);
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 0);
    assert_int_equal(counts[2], 2);
    /* Outside the window: none. */
    assert_int_equal(pm_monitor_throughput(cat, T0 + 600, 3, counts), 0);
    assert_int_equal(counts[0] + counts[1] + counts[2], 0);
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/* Pages done by hot folder, account and operator, busiest first; none
 * before `since`. */
static void breakdown_by_folder_account_operator(void **state)
{
    pm_catalog_t *cat = open_cat();
    pm_page_input_t pages[2] = {{"/spool/a.tif", 0, sha_a, 0},
                                {"/spool/b.tif", 0, sha_b, 0}};
    pm_job_t a = {.workorder = (char *)"WO-1",
                  .account = (char *)"CITY",
                  .hotfolder = (char *)"scans",
                  .operator_name = (char *)"jo",
                  .profile = (char *)"default",
                  .batch = (char *)"WO-1_a"};
    pm_job_t b = {.workorder = (char *)"WO-2",
                  .account = (char *)"CITY",
                  .operator_name = (char *)"al",
                  .profile = (char *)"default",
                  .batch = (char *)"WO-2_b"};
    pm_monitor_count_t *v = NULL;
    size_t n = 0;
    int64_t id;

    (void)state;
    assert_int_equal(pm_job_create(cat, &a, pages, 2, "intake", &id), 0);
    assert_int_equal(pm_job_create(cat, &b, pages, 1, "intake", &id), 0);
    for (int i = 0; i < 3; i++)
        complete_next(cat, 10, 0, 90);

    assert_int_equal(pm_monitor_breakdown(cat, PM_BY_HOTFOLDER, T0, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "scans");
    assert_int_equal(v[0].pages, 2);
    assert_string_equal(v[1].name, ""); /* no hot folder: the CLI's */
    assert_int_equal(v[1].pages, 1);
    pm_monitor_count_list_free(v, n);

    assert_int_equal(pm_monitor_breakdown(cat, PM_BY_OPERATOR, T0, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "jo");
    assert_string_equal(v[1].name, "al");
    pm_monitor_count_list_free(v, n);

    assert_int_equal(pm_monitor_breakdown(cat, PM_BY_ACCOUNT, T0, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "CITY");
    assert_int_equal(v[0].pages, 3);
    pm_monitor_count_list_free(v, n);

    assert_int_equal(pm_monitor_breakdown(cat, PM_BY_ACCOUNT, T0 + 1, &v, &n),
                     0);
    assert_int_equal(n, 0);
    pm_monitor_count_list_free(v, n);
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/* A time equal to a bucket's bound is in that bucket, a time just above
 * it is not: both backends count alike (PostgreSQL groups the times on
 * the server, SQLite in C). */
static void stage_buckets_hold_their_bounds(void **state)
{
    pm_catalog_t *cat = open_cat();
    pm_monitor_t m;

    (void)state;
    ct_new_job(cat, 4, 7);
    complete_next(cat, 5, 0, 90);        /* on the first bound */
    complete_next(cat, 5.000001, 0, 90); /* just above it */
    complete_next(cat, 30000, 0, 90);    /* on the last bound */
    complete_next(cat, 0, 0, 90);        /* below them all */
    assert_int_equal(pm_monitor_read(cat, &m), 0);
    for (int s = 0; s < PM_STAGES; s++) {
        const pm_stage_hist_t *h = &m.stages[s];

        assert_int_equal(h->count, 4);
        assert_int_equal(h->le[0], 2);
        assert_int_equal(h->le[1], 3);
        assert_int_equal(h->le[PM_STAGE_BUCKETS - 2], 3);
        assert_int_equal(h->le[PM_STAGE_BUCKETS - 1], 4);
        assert_true(h->sum_ms > 30009.99 && h->sum_ms < 30010.01);
    }
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/* A query_only handle reads and refuses to write. */
static void query_only_refuses_writes(void **state)
{
    pm_catalog_t *cat = open_cat();
    pm_monitor_t m;

    (void)state;
    assert_int_equal(pm_catalog_query_only(cat), 0);
    assert_int_equal(pm_monitor_read(cat, &m), 0);
    assert_true(pm_event_add(cat, "t", "token.added", 0, 0, NULL) < 0);
    assert_true(pm_token_add(cat, "x", PM_ROLE_ADMIN, sha_a, "t", T0) < 0);
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokens_keep_only_hashes),
        cmocka_unit_test(counts_equal_the_catalog),
        cmocka_unit_test(job_pages_and_filters),
        cmocka_unit_test(rejections_newest_first_with_reasons),
        cmocka_unit_test(throughput_by_minute),
        cmocka_unit_test(breakdown_by_folder_account_operator),
        cmocka_unit_test(query_only_refuses_writes),
        cmocka_unit_test(stage_buckets_hold_their_bounds),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(tokens_keep_only_hashes),
        cmocka_unit_test(counts_equal_the_catalog),
        cmocka_unit_test(job_pages_and_filters),
        cmocka_unit_test(rejections_newest_first_with_reasons),
        cmocka_unit_test(throughput_by_minute),
        cmocka_unit_test(breakdown_by_folder_account_operator),
        cmocka_unit_test(query_only_refuses_writes),
        cmocka_unit_test(stage_buckets_hold_their_bounds),
    };
    int failed;

    pm_log_init_from_env();
    failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name(
        "postgresql", pg_tests, ct_pg_group_setup, ct_pg_group_teardown);
    return failed;
}
