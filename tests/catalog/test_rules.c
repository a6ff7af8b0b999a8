/*
 * test_rules.c: the catalog's backend-independent rules (catalog/rules.c)
 * on their own, with no database: the fair claim's choice and page, the
 * attempt fence and budget, a job's billing month (closed months skipped,
 * in the billing time zone, a lookup's error passed on, a hundred closed
 * years refused), which jobs block a close, and the order of a close's
 * refusals. test_catalog.c runs the same rules through the SQLite backend.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"
#include "catalog/rules.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

/* 2026-11-01T00:00:00Z and 2026-12-01T00:00:00Z. */
#define NOV_UTC 1793491200
#define DEC_UTC 1796083200

/* ---- the queue ---- */

static void claim_page_is_the_lower_of_queued_and_lapsed(void **state)
{
    pm_claim_cand_t c = {.job = 1};

    (void)state;
    assert_int_equal(pm_rules_claim_page(&c), 0);
    c.queued_page = 7;
    assert_int_equal(pm_rules_claim_page(&c), 7);
    c.lapsed_page = 3;
    assert_int_equal(pm_rules_claim_page(&c), 3);
    c.lapsed_page = 9;
    assert_int_equal(pm_rules_claim_page(&c), 7);
    c.queued_page = 0;
    assert_int_equal(pm_rules_claim_page(&c), 9);
}

/* The largest work estimate first, the lower page among equals: between
 * a job's queued and lapsed page, and in the order itself. */
static void claim_page_is_the_largest_estimate_then_the_lower_page(void **state)
{
    pm_claim_cand_t c = {.job = 1, .queued_page = 7, .queued_work = 100};

    (void)state;
    assert_true(pm_rules_page_first(2, 500, 1, 400));
    assert_false(pm_rules_page_first(1, 400, 2, 500));
    assert_true(pm_rules_page_first(1, 400, 2, 400));
    assert_false(pm_rules_page_first(2, 400, 1, 400));
    assert_true(pm_rules_page_first(9, 1, 1, 0)); /* 0: unknown, last */
    c.lapsed_page = 3;
    c.lapsed_work = 50;
    assert_int_equal(pm_rules_claim_page(&c), 7);
    c.lapsed_work = 150;
    assert_int_equal(pm_rules_claim_page(&c), 3);
    c.lapsed_page = 9;
    c.lapsed_work = 100;
    assert_int_equal(pm_rules_claim_page(&c), 7);
}

/* The estimate orders a job's pages, never the jobs: a job with a huge
 * page is not fairer than one with fewer pages running. */
static void claim_pick_ignores_the_estimate(void **state)
{
    const pm_claim_cand_t v[] = {
        {.job = 1, .queued_page = 4, .queued_work = 1000000, .running = 1},
        {.job = 2, .queued_page = 1, .queued_work = 10, .running = 0},
        {.job = 3, .queued_page = 2, .queued_work = 5000000, .running = 0},
    };

    (void)state;
    assert_int_equal(pm_rules_claim_pick(v, 3), 1);
}

/* Fewest running first, then the oldest job; a job with nothing to claim
 * never; the same choice whatever order the backend reads them in. */
static void claim_pick_is_fair_in_any_order(void **state)
{
    const pm_claim_cand_t base[] = {
        {.job = 1, .queued_page = 40, .running = 2}, /* the big old job */
        {.job = 5, .queued_page = 2, .running = 1},
        {.job = 3, .lapsed_page = 8, .running = 1},
        {.job = 2, .running = 0}, /* nothing to claim */
    };
    pm_claim_cand_t v[4];
    const size_t n = 4;

    (void)state;
    /* Every rotation and its reverse. */
    for (size_t r = 0; r < n; r++) {
        for (int rev = 0; rev < 2; rev++) {
            for (size_t i = 0; i < n; i++)
                v[i] = base[rev ? (n - 1 - (i + r) % n) : (i + r) % n];
            long k = pm_rules_claim_pick(v, n);

            assert_true(k >= 0);
            assert_int_equal(v[k].job, 3);
            assert_int_equal(pm_rules_claim_page(&v[k]), 8);
        }
    }
    assert_int_equal(pm_rules_claim_pick(v, 0), -1);
    assert_int_equal(pm_rules_claim_pick(&base[3], 1), -1);
    /* A job with nothing running beats an older busy one. */
    assert_true(pm_rules_claim_fairer(&base[1], &base[0]));
    assert_false(pm_rules_claim_fairer(&base[0], &base[1]));
    assert_false(pm_rules_claim_fairer(&base[3], NULL));
    assert_true(pm_rules_claim_fairer(&base[0], &base[3]));
}

static void fence_admits_only_the_current_attempt_of_a_running_job(void **state)
{
    (void)state;
    assert_int_equal(pm_rules_fence(PM_TASK_RUNNING, 3, 3, PM_JOB_RUNNING),
                     PM_FENCE_OK);
    /* Re-claimed since: a later attempt number. */
    assert_int_equal(pm_rules_fence(PM_TASK_RUNNING, 4, 3, PM_JOB_RUNNING),
                     PM_FENCE_STALE);
    /* Requeued, finished or failed since. */
    assert_int_equal(pm_rules_fence(PM_TASK_QUEUED, 3, 3, PM_JOB_RUNNING),
                     PM_FENCE_STALE);
    assert_int_equal(pm_rules_fence(PM_TASK_DONE, 3, 3, PM_JOB_RUNNING),
                     PM_FENCE_STALE);
    assert_int_equal(pm_rules_fence(PM_TASK_FAILED, 3, 3, PM_JOB_RUNNING),
                     PM_FENCE_STALE);
    assert_int_equal(pm_rules_fence(-1, 3, 3, PM_JOB_RUNNING), PM_FENCE_STALE);
    /* The job was cancelled, failed, or is anything but running. */
    for (int j = PM_JOB_RECEIVED; j <= PM_JOB_CANCELLED; j++)
        if (j != PM_JOB_RUNNING)
            assert_int_equal(pm_rules_fence(PM_TASK_RUNNING, 3, 3, j),
                             PM_FENCE_JOB_STOPPED);
    assert_int_equal(pm_rules_fence(PM_TASK_RUNNING, 3, 3, -1),
                     PM_FENCE_JOB_STOPPED);
}

static void attempts_count_from_the_budget_base(void **state)
{
    (void)state;
    assert_false(pm_rules_attempts_spent(1, 0, 3));
    assert_false(pm_rules_attempts_spent(2, 0, 3));
    assert_true(pm_rules_attempts_spent(3, 0, 3));
    /* After a retry at attempt 3 (base 3): three more. */
    assert_false(pm_rules_attempts_spent(5, 3, 3));
    assert_true(pm_rules_attempts_spent(6, 3, 3));
    assert_true(pm_rules_attempts_spent(1, 0, 1));
}

static void state_names_round_trip(void **state)
{
    (void)state;
    for (int s = PM_JOB_RECEIVED; s <= PM_JOB_CANCELLED; s++)
        assert_int_equal(pm_job_state_parse(pm_job_state_name(s)), s);
    for (int s = PM_TASK_QUEUED; s <= PM_TASK_FAILED; s++)
        assert_int_equal(pm_task_state_parse(pm_task_state_name(s)), s);
    assert_int_equal(pm_job_state_parse("nope"), -1);
    assert_int_equal(pm_task_state_parse(NULL), -1);
    assert_string_equal(pm_job_state_name((pm_job_state_t)99), "unknown");
}

/* ---- the ledger ---- */

/* Months listed in `closed` (NULL-terminated) are closed; a month equal
 * to `fail` is an error. */
typedef struct {
    const char *const *closed;
    const char *fail;
    int asked;
} months_t;

static int closed_in(void *arg, const char *month, int *closed)
{
    months_t *m = arg;

    m->asked++;
    *closed = 0;
    if (m->fail != NULL && strcmp(month, m->fail) == 0)
        return PM_EIO;
    for (const char *const *c = m->closed; c != NULL && *c; c++)
        if (strcmp(*c, month) == 0)
            *closed = 1;
    return 0;
}

/* Every month is closed; *arg counts the questions. */
static int all_closed(void *arg, const char *month, int *closed)
{
    (void)month;
    ++*(int *)arg;
    *closed = 1;
    return 0;
}

static void billing_month_skips_closed_months(void **state)
{
    static const char *const nov_dec[] = {"2026-11", "2026-12", NULL};
    months_t none = {0}, closed = {.closed = nov_dec};
    char out[PM_MONTH_SIZE];
    int asked = 0;

    (void)state;
    assert_int_equal(pm_billing_set_timezone("UTC"), 0);
    assert_int_equal(pm_rules_billing_month(NOV_UTC, closed_in, &none, out), 0);
    assert_string_equal(out, "2026-11");
    assert_int_equal(pm_rules_billing_month(DEC_UTC - 1, closed_in, &none, out),
                     0);
    assert_string_equal(out, "2026-11");
    /* Finished in a closed month: the first open one after, across the
     * year. */
    assert_int_equal(
        pm_rules_billing_month(NOV_UTC + 86400, closed_in, &closed, out), 0);
    assert_string_equal(out, "2027-01");
    assert_int_equal(
        pm_rules_first_open_month("2026-10", closed_in, &closed, out), 0);
    assert_string_equal(out, "2026-10");

    /* The lookup's error is passed on; a century of closed months is the
     * catalog's fault. */
    closed.fail = "2026-12";
    assert_int_equal(
        pm_rules_first_open_month("2026-11", closed_in, &closed, out), PM_EIO);
    assert_int_equal(
        pm_rules_first_open_month("2026-01", all_closed, &asked, out),
        PM_ECATALOG);
    assert_int_equal(asked, PM_RULES_MONTHS_AHEAD);
}

/* The month is the billing time zone's: 03:00Z on 1 December is still
 * November in New York. */
static void billing_month_is_in_the_billing_time_zone(void **state)
{
    months_t none = {0};
    char out[PM_MONTH_SIZE];

    (void)state;
    assert_int_equal(pm_billing_set_timezone("America/New_York"), 0);
    assert_int_equal(
        pm_rules_billing_month(DEC_UTC + 3 * 3600, closed_in, &none, out), 0);
    assert_string_equal(out, "2026-11");
    assert_int_equal(pm_billing_set_timezone("UTC"), 0);
    assert_int_equal(
        pm_rules_billing_month(DEC_UTC + 3 * 3600, closed_in, &none, out), 0);
    assert_string_equal(out, "2026-12");
}

static void unfinished_jobs_created_before_the_end_block_a_close(void **state)
{
    (void)state;
    for (int s = PM_JOB_RECEIVED; s <= PM_JOB_CANCELLED; s++) {
        int unfinished =
            s != PM_JOB_DONE && s != PM_JOB_FAILED && s != PM_JOB_CANCELLED;

        assert_int_equal(pm_rules_job_blocks_close(s, DEC_UTC - 1, DEC_UTC),
                         unfinished);
        /* Created once the month had ended: it cannot finish in it. */
        assert_false(pm_rules_job_blocks_close(s, DEC_UTC, DEC_UTC));
    }
    assert_false(pm_rules_job_blocks_close(-1, NOV_UTC, DEC_UTC));
}

static void close_refusals_come_in_order(void **state)
{
    pm_billing_line_t lines[3] = {{.priced = 1}, {.priced = 0}, {.priced = 0}};
    pm_close_facts_t f = {.month = "2026-11", .current = "2026-11"};
    size_t line = 99;

    (void)state;
    assert_int_equal(pm_rules_close_check(&f, &line), PM_CLOSE_OK);
    f.current = "2026-10";
    assert_int_equal(pm_rules_close_check(&f, &line), PM_CLOSE_FUTURE);
    f.current = "2026-12";
    f.closed = 1;
    f.unfinished = 2;
    assert_int_equal(pm_rules_close_check(&f, &line), PM_CLOSE_CLOSED);
    f.closed = 0;
    assert_int_equal(pm_rules_close_check(&f, &line), PM_CLOSE_UNFINISHED);
    f.force = 1;
    assert_int_equal(pm_rules_close_check(&f, &line), PM_CLOSE_OK);
    f.lines = lines;
    f.nlines = 3;
    assert_int_equal(pm_rules_close_check(&f, &line), PM_CLOSE_UNPRICED);
    assert_int_equal(line, 1);
    f.nlines = 1;
    assert_int_equal(pm_rules_close_check(&f, NULL), PM_CLOSE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(claim_page_is_the_lower_of_queued_and_lapsed),
        cmocka_unit_test(claim_pick_is_fair_in_any_order),
        cmocka_unit_test(
            claim_page_is_the_largest_estimate_then_the_lower_page),
        cmocka_unit_test(claim_pick_ignores_the_estimate),
        cmocka_unit_test(
            fence_admits_only_the_current_attempt_of_a_running_job),
        cmocka_unit_test(attempts_count_from_the_budget_base),
        cmocka_unit_test(state_names_round_trip),
        cmocka_unit_test(billing_month_skips_closed_months),
        cmocka_unit_test(billing_month_is_in_the_billing_time_zone),
        cmocka_unit_test(unfinished_jobs_created_before_the_end_block_a_close),
        cmocka_unit_test(close_refusals_come_in_order),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
