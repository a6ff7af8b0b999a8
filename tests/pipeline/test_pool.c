/*
 * test_pool.c: the worker pool (pipeline/pool.h) with real `pagemill
 * worker` processes on a real libuv loop: a worker binary that cannot be
 * started (at open, and when a dead worker must be replaced), a worker
 * that crashes in the middle of a task, and a task that runs past the
 * timeout, and a stopped worker when the pool closes. Pages hang through the
 * test hook PAGEMILL_TEST_HANG_MATCH (compiled into test builds). Every test
 * ends with the pool closed and uv_loop_close() succeeding: no handle left
 * open, and under ASan no handle touched after it was freed.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"
#include "pipeline/pool.h"

#define HANG     "hang-here" /* a src containing this hangs its worker */
#define DEADLINE 120         /* seconds for anything to happen */
#define MAX_DONE 8

/* One test's loop and pool, and what the pool reported. */
typedef struct fixture {
    char dir[256]; /* the test's temp folder */
    uv_loop_t loop;
    uv_timer_t tick; /* wakes the loop so deadlines are checked */
    pm_pool_t *pool;
    int ndone;
    long long task[MAX_DONE];
    int has_msg[MAX_DONE], ok[MAX_DONE];
    char why[MAX_DONE][512];
} fixture_t;

static void on_done(void *arg, long long task, const pm_proto_msg_t *m,
                    const char *why)
{
    fixture_t *f = arg;
    int i = f->ndone++;

    assert_true(i < MAX_DONE);
    f->task[i] = task;
    f->has_msg[i] = m != NULL;
    f->ok[i] = m != NULL && m->type == PM_MSG_PAGE_RESULT && m->result.ok;
    snprintf(f->why[i], sizeof(f->why[i]), "%s",
             m == NULL         ? (why ? why : "")
             : m->result.error ? m->result.error
                               : "");
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void fixture_init(fixture_t *f)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s", t_tmpdir());
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_timer_init(&f->loop, &f->tick), 0);
    assert_int_equal(uv_timer_start(&f->tick, on_tick, 50, 50), 0);
}

static void kill_process(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (h->type == UV_PROCESS && !uv_is_closing(h))
        uv_process_kill((uv_process_t *)h, SIGKILL);
}

/* Closes the pool and the loop (fails unless every handle closes), and
 * removes the temp folder. */
static void fixture_close(fixture_t *f)
{
    time_t end = time(NULL) + DEADLINE;

    pm_pool_close(f->pool);
    f->pool = NULL;
    uv_close((uv_handle_t *)&f->tick, NULL);
    while (uv_run(&f->loop, UV_RUN_NOWAIT) != 0) {
        if (time(NULL) > end) {
            uv_walk(&f->loop, kill_process, NULL);
            end = time(NULL) + DEADLINE;
        }
        usleep(10 * 1000); /* nothing to wait on but the children */
    }
    assert_int_equal(uv_loop_close(&f->loop), 0);
    t_tmpdir_cleanup();
}

/* Runs the loop until `cond` holds; fails after DEADLINE seconds. */
static void run_until(fixture_t *f, int (*cond)(fixture_t *), const char *what)
{
    time_t end = time(NULL) + DEADLINE;

    while (!cond(f)) {
        if (time(NULL) > end)
            fail_msg("no %s within %d s", what, DEADLINE);
        uv_run(&f->loop, UV_RUN_ONCE);
    }
}

static int one_idle(fixture_t *f)
{
    return pm_pool_idle(f->pool) == 1;
}

static int one_done(fixture_t *f)
{
    return f->ndone >= 1;
}

static int two_done(fixture_t *f)
{
    return f->ndone >= 2;
}

/* The single worker of the pool; fails if there is not exactly one. */
static pm_pool_worker_t only_worker(fixture_t *f)
{
    pm_pool_worker_t v[2];

    assert_int_equal(pm_pool_workers(f->pool, v, 2), 1);
    return v[0];
}

static int worker_busy(fixture_t *f)
{
    pm_pool_worker_t v[2];

    return pm_pool_workers(f->pool, v, 2) == 1 && v[0].task >= 0;
}

/* Queues page task `task` for `src` (never written: the page fails, or
 * hangs when `src` contains HANG). */
static void submit(fixture_t *f, long long task, const char *src)
{
    pm_page_task_t t = {.page = 1, .frame = 0};
    char out[512];
    pm_profile_t p;

    t_profile(&p);
    snprintf(out, sizeof(out), "%s/p%05lld", f->dir, task);
    t.src = (char *)src;
    t.out_base = out;
    assert_int_equal(
        pm_pool_submit(f->pool, task, pm_proto_page_task(task, &t, &p), 0), 0);
}

static pm_pool_opts_t opts(const char *exe, int timeout)
{
    pm_pool_opts_t o = {.exe = exe, .workers = 1, .task_timeout = timeout};

    return o;
}

/* ---- spawn failures ---- */

/* A worker binary that is not there, or not executable: open fails with
 * the spawn's error and leaves nothing behind. */
static void open_fails_when_workers_cannot_start(void **state)
{
    char missing[512], noexec[512];
    pm_pool_opts_t o;
    fixture_t f;
    FILE *fp;

    (void)state;
    fixture_init(&f);
    snprintf(missing, sizeof(missing), "%s/no-such-pagemill", f.dir);
    o = opts(missing, 0);
    o.workers = 2;
    f.pool = (pm_pool_t *)&f; /* must be reset */
    assert_int_equal(pm_pool_open(&f.loop, &o, on_done, &f, &f.pool), -ENOENT);
    assert_null(f.pool);
    fixture_close(&f);

    fixture_init(&f);
    snprintf(noexec, sizeof(noexec), "%s/not-executable", f.dir);
    fp = fopen(noexec, "w");
    assert_non_null(fp);
    fputs("#!/bin/sh\n", fp);
    fclose(fp);
    o = opts(noexec, 0);
    assert_int_equal(pm_pool_open(&f.loop, &o, on_done, &f, &f.pool), -EACCES);
    assert_null(f.pool);
    fixture_close(&f);
    assert_int_equal(f.ndone, 0);
}

/* The binary goes away while the pool runs; its worker dies mid-task:
 * the task is lost and the replacement cannot start (no handle of the
 * failed spawn used after it is freed). Once the binary is back, the
 * pool's retry brings a worker back, which takes the next task. */
static void worker_that_cannot_be_replaced(void **state)
{
    char link[512];
    pm_pool_opts_t o;
    pm_pool_worker_t w;
    fixture_t f;

    (void)state;
    fixture_init(&f);
    snprintf(link, sizeof(link), "%s/pagemill", f.dir);
    assert_int_equal(symlink(PM_BINARY, link), 0);
    o = opts(link, 0);
    assert_int_equal(pm_pool_open(&f.loop, &o, on_done, &f, &f.pool), 0);
    run_until(&f, one_idle, "ready worker");
    assert_int_equal(unlink(link), 0);

    submit(&f, 7, "/nowhere/" HANG ".tif");
    run_until(&f, worker_busy, "task on the worker");
    w = only_worker(&f);
    assert_int_equal(kill(w.pid, SIGKILL), 0);
    run_until(&f, one_done, "lost task");
    assert_int_equal(f.task[0], 7);
    assert_false(f.has_msg[0]);
    assert_non_null(strstr(f.why[0], "killed by signal 9"));
    assert_int_equal(pm_pool_workers(f.pool, NULL, 0), 0);
    assert_int_equal(pm_pool_idle(f.pool), 0);

    assert_int_equal(symlink(PM_BINARY, link), 0);
    run_until(&f, one_idle, "worker spawned again");
    assert_true(only_worker(&f).id > w.id);
    /* One worker replaced, however many spawns that took. */
    assert_int_equal(pm_pool_restarts(f.pool, 0, NULL), 1);
    submit(&f, 8, link); /* not an image: a quick failed page */
    run_until(&f, two_done, "result from the new worker");
    assert_int_equal(f.task[1], 8);
    assert_true(f.has_msg[1]);
    assert_false(f.ok[1]);
    fixture_close(&f);
}

/* ---- lost tasks ---- */

/* A worker that dies in the middle of a task: the task is reported lost,
 * once, and a new worker takes the next task. */
static void crash_mid_task_is_lost_and_the_worker_replaced(void **state)
{
    long long before;
    int recent = -1;
    char src[512];
    pm_pool_worker_t w;
    pm_pool_opts_t o;
    fixture_t f;

    (void)state;
    fixture_init(&f);
    o = opts(PM_BINARY, 0);
    assert_int_equal(pm_pool_open(&f.loop, &o, on_done, &f, &f.pool), 0);
    run_until(&f, one_idle, "ready worker");
    submit(&f, 1, "/nowhere/" HANG ".tif");
    run_until(&f, worker_busy, "task on the worker");
    w = only_worker(&f);
    assert_int_equal(w.task, 1);
    assert_int_equal(pm_pool_restarts(f.pool, 0, NULL), 0);
    before = (long long)time(NULL);
    assert_int_equal(kill(w.pid, SIGKILL), 0);
    run_until(&f, one_done, "lost task");
    /* Counted once, with its time. */
    assert_int_equal(pm_pool_restarts(f.pool, before, &recent), 1);
    assert_int_equal(recent, 1);
    assert_int_equal(
        pm_pool_restarts(f.pool, (long long)time(NULL) + 60, &recent), 1);
    assert_int_equal(recent, 0);
    assert_int_equal(f.task[0], 1);
    assert_false(f.has_msg[0]);
    assert_non_null(strstr(f.why[0], "killed by signal 9"));

    run_until(&f, one_idle, "replacement worker");
    assert_true(only_worker(&f).id > w.id);
    assert_true(only_worker(&f).pid != w.pid);
    snprintf(src, sizeof(src), "%s/missing.tif", f.dir);
    submit(&f, 2, src);
    run_until(&f, two_done, "result from the replacement");
    assert_int_equal(f.task[1], 2);
    assert_true(f.has_msg[1]);
    assert_false(f.ok[1]);
    assert_non_null(strstr(f.why[1], src));
    assert_int_equal(f.ndone, 2);
    fixture_close(&f);
}

/* A task past the timeout: its worker is killed (the process is gone),
 * the task is lost with the reason, and a new worker is ready. */
static void task_past_the_timeout_is_lost(void **state)
{
    pm_pool_worker_t w;
    pm_pool_opts_t o;
    fixture_t f;

    (void)state;
    fixture_init(&f);
    o = opts(PM_BINARY, 1);
    assert_int_equal(pm_pool_open(&f.loop, &o, on_done, &f, &f.pool), 0);
    run_until(&f, one_idle, "ready worker");
    submit(&f, 3, "/nowhere/" HANG ".tif");
    run_until(&f, worker_busy, "task on the worker");
    w = only_worker(&f);
    run_until(&f, one_done, "timed-out task");
    assert_int_equal(f.task[0], 3);
    assert_false(f.has_msg[0]);
    assert_non_null(strstr(f.why[0], "past the 1 s timeout"));
    run_until(&f, one_idle, "replacement worker");
    assert_true(only_worker(&f).id > w.id);
    assert_int_equal(kill(w.pid, 0), -1); /* killed and reaped */
    assert_int_equal(errno, ESRCH);
    assert_int_equal(f.ndone, 1);
    fixture_close(&f);
}

/* ---- closing ---- */

/* A stopped (SIGSTOP) idle worker reads neither its quit line nor the
 * end of stdin: closing the pool kills it after the grace, and every
 * handle is closed within a few seconds of that, not whenever the
 * worker is continued. */
static void close_kills_a_stopped_worker(void **state)
{
    pm_pool_opts_t o = opts(PM_BINARY, 0);
    pm_pool_worker_t w;
    double t0, secs;
    fixture_t f;

    (void)state;
    fixture_init(&f);
    assert_int_equal(pm_pool_open(&f.loop, &o, on_done, &f, &f.pool), 0);
    run_until(&f, one_idle, "ready worker");
    w = only_worker(&f);
    assert_int_equal(kill(w.pid, SIGSTOP), 0);
    t0 = pm_now_ms();
    pm_pool_close(f.pool);
    f.pool = NULL;
    uv_close((uv_handle_t *)&f.tick, NULL);
    while (uv_run(&f.loop, UV_RUN_NOWAIT) != 0 &&
           pm_now_ms() - t0 < PM_POOL_QUIT_GRACE_MS + 20000)
        usleep(10 * 1000);
    secs = (pm_now_ms() - t0) / 1000;
    if (kill(w.pid, 0) == 0) {
        kill(w.pid, SIGKILL); /* do not leave it stopped */
        fail_msg("the stopped worker was still there %.0f s after the close",
                 secs);
    }
    assert_int_equal(errno, ESRCH); /* killed and reaped */
    assert_true(secs >= PM_POOL_QUIT_GRACE_MS / 1000.0 - 0.5);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    t_tmpdir_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open_fails_when_workers_cannot_start),
        cmocka_unit_test(worker_that_cannot_be_replaced),
        cmocka_unit_test(crash_mid_task_is_lost_and_the_worker_replaced),
        cmocka_unit_test(task_past_the_timeout_is_lost),
        cmocka_unit_test(close_kills_a_stopped_worker),
    };

    /* Inherited by the workers (the pool passes its environment on). */
    setenv("PAGEMILL_TEST_HANG_MATCH", HANG, 1);
    pm_log_threshold = PM_LOG_ERROR; /* lost tasks are expected */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
