/*
 * test_lane.c: the queue's hot path without blocking the loop (catalog.h,
 * "a lane"; catalog/catalog_async_hot.c), on a real libuv loop, on both
 * backends:
 *
 *   - claims, completions (with their billable rows), renewals, a
 *     failure, the requeue of expired leases and the workers report,
 *     given at once, answer in the order given, each as its synchronous
 *     call would (a stale attempt is refused, a failed page is claimable
 *     by the claim given after the failure), never from within the call;
 *   - a lane freed with operations pending calls none back, leaks nothing;
 *   - PostgreSQL, the server stopped (SIGSTOP) with operations given: the
 *     one under way fails with -ETIMEDOUT within its bound while a timer
 *     of the loop keeps firing, the one behind it with PM_ECATALOG, and
 *     the handle says it is no longer connected.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "lib/cattest.h"
#include "pipeline/base/pm.h"

#define LANE_MS 30000

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The callbacks, in the order they came: the tag given and the error. */
typedef struct calls {
    int tag[32], err[32], n;
} calls_t;

static calls_t calls;

static void on_done(void *data, int err)
{
    assert_true(calls.n < 32);
    calls.tag[calls.n] = (int)(intptr_t)data;
    calls.err[calls.n] = err;
    calls.n++;
}

#define TAG(i) ((void *)(intptr_t)(i))

static pm_catalog_t *open_catalog(void)
{
    char url[512];
    pm_catalog_t *cat = NULL;

    if (ct_use_pg)
        ct_pg_fresh(url, sizeof(url));
    else
        snprintf(url, sizeof(url), "%s/lane-%d.db", t_tmpdir(), rand());
    assert_int_equal(pm_catalog_open(url, &cat), 0);
    return cat;
}

/* Runs the loop until the lane is idle (its handles are then too). */
static void run(uv_loop_t *loop, pm_catalog_lane_t *l)
{
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(pm_catalog_lane_pending(l), 0);
}

static void loop_close(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static int count_billable(pm_catalog_t *cat, int64_t job)
{
    pm_task_t *v = NULL;
    size_t n = 0;
    int done = 0;

    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        done += v[i].state == PM_TASK_DONE;
    pm_task_list_free(v, n);
    return done;
}

static void hot_path_in_order(void **state)
{
    uv_loop_t loop;
    pm_catalog_t *cat = open_catalog();
    pm_catalog_lane_t *l;
    pm_page_metrics_t m = ct_metrics(0);
    pm_task_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    pm_completion_t c[3];
    pm_lease_t lease[2];
    pm_worker_info_t rows[2] = {
        {.slot = 0, .pid = 11, .state = PM_WORKER_IDLE},
        {.slot = 1, .pid = 12, .state = PM_WORKER_IDLE}};
    pm_worker_info_t *w = NULL;
    int64_t now = 1000000, job;
    int expired = -1;
    size_t nw = 0;

    (void)state;
    memset(&calls, 0, sizeof(calls));
    assert_int_equal(uv_loop_init(&loop), 0);
    ct_add_account(cat, "CITY");
    job = ct_new_job(cat, 4, 1);
    assert_int_equal(pm_catalog_lane_new(cat, &loop, LANE_MS, &l), 0);

    assert_int_equal(pm_task_claim_n_async(l, "w1", CT_LEASE, now, 3, &a, &na,
                                           on_done, TAG(1)),
                     0);
    assert_int_equal(calls.n, 0); /* from the loop, never from the call */
    run(&loop, l);
    assert_int_equal(calls.n, 1);
    assert_int_equal(calls.err[0], 0);
    assert_int_equal(na, 3);
    assert_non_null(a[0].profile);

    /* Given at once: answered in order, each as its synchronous call. */
    c[0] =
        (pm_completion_t){.task = a[0].id, .attempt = a[0].attempts, .m = &m};
    c[1] =
        (pm_completion_t){.task = a[1].id, .attempt = a[1].attempts, .m = &m};
    c[2] = (pm_completion_t){
        .task = a[2].id, .attempt = a[2].attempts + 5, .m = &m}; /* stale */
    lease[0] = (pm_lease_t){.task = a[2].id, .attempt = a[2].attempts};
    lease[1] = (pm_lease_t){.task = a[0].id, .attempt = a[0].attempts};
    assert_int_equal(
        pm_task_complete_n_async(l, c, 3, now + 1, on_done, TAG(2)), 0);
    assert_int_equal(
        pm_task_renew_n_async(l, lease, 2, CT_LEASE, now + 2, on_done, TAG(3)),
        0);
    assert_int_equal(pm_task_fail_async(l, a[2].id, a[2].attempts, "bad scan",
                                        3, now + 3, on_done, TAG(4)),
                     0);
    assert_int_equal(pm_task_fail_async(l, a[2].id, a[2].attempts, "again", 3,
                                        now + 3, on_done, TAG(5)),
                     0);
    assert_int_equal(pm_task_claim_n_async(l, "w2", CT_LEASE, now + 4, 5, &b,
                                           &nb, on_done, TAG(6)),
                     0);
    assert_int_equal(pm_task_requeue_expired_async(l, now + 4 + CT_LEASE + 1, 3,
                                                   &expired, on_done, TAG(7)),
                     0);
    assert_int_equal(pm_worker_report_async(l, "coordinator:test", rows, 2,
                                            now + 5, on_done, TAG(8)),
                     0);
    assert_int_equal(pm_catalog_lane_pending(l), 7);
    assert_int_equal(calls.n, 1);
    run(&loop, l);

    assert_int_equal(calls.n, 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(calls.tag[i], i + 1);
    assert_int_equal(calls.err[1], 0); /* every item answered */
    assert_int_equal(c[0].err, 0);
    assert_int_equal(c[1].err, 0);
    assert_int_equal(c[2].err, -ESTALE);
    assert_int_equal(calls.err[2], 0);
    assert_int_equal(lease[0].ok, 1);
    assert_int_equal(lease[1].ok, 0); /* done: no longer leased */
    assert_int_equal(calls.err[3], 0);
    assert_int_equal(calls.err[4], -ESTALE); /* requeued already */
    assert_int_equal(calls.err[5], 0);
    assert_int_equal(nb, 2); /* the failed page (requeued) and page 4 */
    assert_true(b[0].id == a[2].id || b[1].id == a[2].id);
    assert_int_equal(calls.err[6], 0);
    assert_int_equal(expired, 2);
    assert_int_equal(calls.err[7], 0);

    assert_int_equal(count_billable(cat, job), 2);
    assert_int_equal(ct_count_events(cat, job, "page.requeued"), 3);
    assert_int_equal(pm_worker_list(cat, &w, &nw), 0);
    assert_int_equal(nw, 2);
    pm_worker_list_free(w, nw);

    /* Nothing claimable: PM_ENOENT, as pm_task_claim_n. */
    pm_task_list_free(b, nb);
    assert_int_equal(pm_task_claim_n_async(l, "w3", CT_LEASE, now + 4, 2, &b,
                                           &nb, on_done, TAG(9)),
                     0);
    run(&loop, l);
    assert_int_equal(calls.err[8], 0); /* the two lapsed leases */
    assert_int_equal(nb, 2);
    pm_task_list_free(b, nb);
    assert_int_equal(pm_task_claim_n_async(l, "w3", CT_LEASE, now + 4, 2, &b,
                                           &nb, on_done, TAG(10)),
                     0);
    run(&loop, l);
    assert_int_equal(calls.err[9], PM_ENOENT);
    assert_int_equal(nb, 0);

    pm_task_list_free(a, na);
    pm_catalog_lane_free(l);
    loop_close(&loop);
    pm_catalog_close(cat);
}

static void freed_lane_never_calls_back(void **state)
{
    uv_loop_t loop;
    pm_catalog_t *cat = open_catalog();
    pm_catalog_lane_t *l;
    pm_task_t *a = NULL;
    size_t na = 0;
    int expired = 0;

    (void)state;
    memset(&calls, 0, sizeof(calls));
    assert_int_equal(uv_loop_init(&loop), 0);
    ct_add_account(cat, "CITY");
    ct_new_job(cat, 2, 1);
    assert_int_equal(pm_catalog_lane_new(cat, &loop, LANE_MS, &l), 0);
    assert_int_equal(pm_task_claim_n_async(l, "w1", CT_LEASE, 1000, 2, &a, &na,
                                           on_done, TAG(1)),
                     0);
    assert_int_equal(
        pm_task_requeue_expired_async(l, 1000, 3, &expired, on_done, TAG(2)),
        0);
    pm_catalog_lane_free(l);
    loop_close(&loop);
    assert_int_equal(calls.n, 0);
    assert_null(a);
    pm_catalog_close(cat);
}

static void on_tick(uv_timer_t *t)
{
    (*(int *)t->data)++;
}

/* The server's every process stopped with two operations given. */
static void times_out_when_the_server_hangs(void **state)
{
    uv_loop_t loop;
    uv_timer_t tick;
    pm_catalog_t *cat = open_catalog();
    pm_catalog_lane_t *l;
    pm_page_metrics_t m = ct_metrics(0);
    pm_task_t t, *b = NULL;
    pm_completion_t c;
    size_t nb = 0;
    int ticks = 0;
    double t0, took;

    (void)state;
    memset(&calls, 0, sizeof(calls));
    assert_int_equal(uv_loop_init(&loop), 0);
    ct_add_account(cat, "CITY");
    ct_new_job(cat, 2, 1);
    t = ct_claim(cat, "w1", 1000);
    c = (pm_completion_t){.task = t.id, .attempt = t.attempts, .m = &m};
    assert_int_equal(pm_catalog_lane_new(cat, &loop, 1500, &l), 0);
    uv_timer_init(&loop, &tick);
    tick.data = &ticks;
    uv_timer_start(&tick, on_tick, 100, 100);
    uv_unref((uv_handle_t *)&tick); /* the loop ends with the lane's work */
    assert_int_equal(pgt_signal(&ct_pg, SIGSTOP, 1), 0);
    assert_int_equal(pm_task_complete_n_async(l, &c, 1, 1001, on_done, TAG(1)),
                     0);
    assert_int_equal(pm_task_claim_n_async(l, "w1", CT_LEASE, 1002, 1, &b, &nb,
                                           on_done, TAG(2)),
                     0);
    t0 = now_s();
    run(&loop, l);
    took = now_s() - t0;
    assert_int_equal(pgt_signal(&ct_pg, SIGCONT, 1), 0);
    printf("hung server: the completion gave up after %.2f s, %d ticks "
           "meanwhile\n",
           took, ticks);
    assert_int_equal(calls.n, 2);
    assert_int_equal(calls.err[0], -ETIMEDOUT);
    assert_int_equal(c.err, PM_ECATALOG); /* not answered */
    assert_int_equal(calls.err[1], PM_ECATALOG);
    assert_null(b);
    assert_true(took < 10);
    assert_true(ticks >= 5);
    assert_false(pm_catalog_connected(cat));
    assert_non_null(strstr(pm_catalog_errmsg(cat), "did not answer"));
    pm_catalog_lane_free(l);
    uv_close((uv_handle_t *)&tick, NULL);
    loop_close(&loop);
    pm_catalog_close(cat); /* never waits */
    pm_task_cleanup(&t);
}

int main(void)
{
    const struct CMUnitTest both[] = {
        cmocka_unit_test(hot_path_in_order),
        cmocka_unit_test(freed_lane_never_calls_back),
    };
    const struct CMUnitTest pg_only[] = {
        cmocka_unit_test(hot_path_in_order),
        cmocka_unit_test(freed_lane_never_calls_back),
        cmocka_unit_test(times_out_when_the_server_hangs),
    };
    int rc = cmocka_run_group_tests_name("sqlite", both, NULL, NULL);

    return rc |
           cmocka_run_group_tests_name("postgresql", pg_only, ct_pg_group_setup,
                                       ct_pg_group_teardown);
}
