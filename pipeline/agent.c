/*
 * agent.c: `pagemill agent --config FILE`, the node agent of a worker
 * machine (docs/scaling.md). It runs warm workers (pool.c, one per core
 * by default) and feeds them pages claimed from the shared catalog,
 * exactly as the coordinator's scheduler does (pagework.c), but nothing
 * else: intake, assembly and publishing stay with the coordinator.
 *
 *   claim:     all its free slots in one pm_task_claim_n, with a lease
 *              of --lease seconds (queued pages or ones whose lease
 *              lapsed, in the fair order).
 *   heartbeat: every lease/3 renews the leases of all the pages on its
 *              workers in one pm_task_renew_n (each fenced by its attempt:
 *              a renewal refused means the page was taken back and its
 *              result will be dropped).
 *   results:   the successful ones that arrive in one turn of the loop are
 *              gathered and completed together when the turn ends (a
 *              uv_check_t, so a lone result waits for nothing): one
 *              pm_task_complete_n, one round trip on PostgreSQL, each page
 *              its own fenced transaction with its billable row; then one
 *              claim for all the slots they freed. A failure is
 *              pm_task_fail at once. The claim brings each page's job
 *              profile, so no job row is read a page.
 *   wake-ups:  LISTEN (pm_queue_listen) on the catalog's socket through a
 *              uv_poll_t; a poll every --poll seconds as well, so a lost
 *              notification costs latency only. SQLite has no
 *              notifications: polling alone.
 *   node:      its workers go to the catalog's workers table under
 *              "agent:<node>:<pid>" (node: the host name, or --node), so
 *              `pagemill status` shows each machine's slots and load.
 *   lost connection: the handle is closed and opened again with a
 *              growing delay (PM__AGENT_BACKOFF_*), logged; a result that
 *              arrives meanwhile is dropped (logged), and the page is
 *              claimed again by someone once its lease lapses.
 *   SIGTERM, SIGINT: no more claims; the pages on workers finish (at most
 *              page_timeout), then the rows are cleared and it exits 0. A
 *              second signal stops at once (the leases lapse).
 *
 * --bench-noop is for scripts/bench-multinode.sh only: no workers; every
 * claimed page is completed at once with empty metrics, so the queue
 * alone is measured.
 */
#include "pipeline/agent.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "config/volume.h"
#include "pipeline/base/pm.h"
#include "pipeline/pagework.h"
#include "pipeline/pool.h"

#define PM__AGENT_BACKOFF_FIRST_MS 500
#define PM__AGENT_BACKOFF_MAX_MS   30000
#define PM__AGENT_DEFAULT_LEASE_S  60
#define PM__AGENT_DEFAULT_POLL_S   2
/* The tick: heartbeats, the workers table, the poll when due. */
#define PM__AGENT_TICK_MS 1000
/* The workers rows are written when one changed, else this often: their
 * heartbeat (PM_NODE_STALE_S calls a node stale). */
#define PM__AGENT_WORKERS_REFRESH_MS 5000
/* Pages a no-op agent claims and completes per loop turn. */
#define PM__AGENT_NOOP_BATCH 64

static const char usage_text[] =
    "usage: pagemill agent --config FILE [--catalog URL] [--workers N]\n"
    "                      [--node NAME] [--lease SECONDS] [--poll SECONDS]\n"
    "\n"
    "Runs a node agent on a worker machine: starts warm workers and feeds\n"
    "them pages claimed from the shared catalog (the configuration's\n"
    "[catalog] url), heartbeating their leases and recording each result\n"
    "with its billable row. Intake and assembly stay with `pagemill serve`.\n"
    "\n"
    "  -c, --config FILE     configuration file (INI; required)\n"
    "      --catalog URL     the catalog, instead of the configuration's\n"
    "  -w, --workers N       worker processes (default: [pagemill] workers,\n"
    "                        else one per core)\n"
    "      --node NAME       node name in the workers table (default: the\n"
    "                        host name)\n"
    "      --lease SECONDS   lease of a claimed page, renewed every third of\n"
    "                        it (default 60): how soon a dead agent's pages\n"
    "                        are taken by another\n"
    "      --poll SECONDS    look for work this often even without a\n"
    "                        notification (default 2)\n"
    "      --bench-noop      benchmark only: no workers; complete every\n"
    "                        claimed page at once, with empty results\n"
    "\n"
    "Signals: SIGTERM or SIGINT finish the pages under way and exit 0; a\n"
    "second one stops at once. Exit status: 0 stopped by a signal; 2 usage\n"
    "or configuration error; 1 the workers could not start.\n";

/* A page on a worker, then its result waiting for the turn's end. */
typedef struct agent_page {
    long long id; /* pool task id */
    int64_t task; /* catalog page task */
    int attempt;  /* its fencing token */
    int64_t job;
    int page;
    char *profile;         /* the job's, as the claim brought it */
    pm__page_done_t done;  /* the result's metrics, once it arrived */
    pm_page_result_t said; /* what its log line says (owns `review`) */
    struct agent_page *next;
} agent_page_t;

typedef struct agent {
    uv_loop_t *loop;
    pm_config_t *cfg;
    const char *url;  /* the catalog: --catalog, else the configuration's */
    char shown[1024]; /* the same for logs, its password masked */
    char node[256];
    char owner[320]; /* "agent:<node>:<pid>": leases and workers rows */
    char exe[4096];
    int workers, lease_s, poll_s, noop;
    pm_catalog_t *cat;      /* NULL while the connection is down */
    pm_pool_t *pool;        /* NULL with --bench-noop */
    agent_page_t *pages;    /* on workers */
    agent_page_t *finished; /* results of this turn, in arrival order */
    long long next_id;
    int64_t renewed_at; /* wall clock of the last heartbeat */
    uint64_t polled_ms; /* uv_now of the last poll */
    uv_timer_t tick, retry_timer;
    uv_poll_t wake;
    int wake_on;
    uv_idle_t noop_idle;
    uv_check_t turn_end; /* completes the turn's results, then claims */
    uv_signal_t sig_term, sig_int;
    unsigned backoff_ms;
    int retries;
    int draining, stopped;
    long long done, failed, dropped;
    long long complete_calls;  /* pm_task_complete_n calls for real pages */
    pm_worker_info_t *wk_last; /* the rows last written, NULL: none */
    size_t wk_nlast;
    uint64_t wk_written_ms; /* uv_now of that write */
    long long reports;      /* pm_worker_report calls */
} agent_t;

static void claim(agent_t *a);

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---- the connection ---- */

static void close_catalog(agent_t *a)
{
    if (a->wake_on) {
        uv_poll_stop(&a->wake);
        uv_close((uv_handle_t *)&a->wake, NULL);
        a->wake_on = 0;
    }
    pm_catalog_close(a->cat);
    a->cat = NULL;
    pm_free(a->wk_last); /* written again once connected */
    a->wk_last = NULL;
}

static void on_retry(uv_timer_t *t);

/* After a catalog error: when the connection is gone, drops the handle and
 * tries again later. Returns 1 when it was lost. */
static int check_lost(agent_t *a)
{
    if (a->cat == NULL)
        return 1;
    if (pm_catalog_connected(a->cat))
        return 0;
    if (a->stopped) {
        close_catalog(a);
        return 1;
    }
    pm_log(PM_LOG_ERROR, "agent",
           "catalog connection lost: %s; reconnecting in %u ms",
           pm_catalog_errmsg(a->cat), a->backoff_ms);
    close_catalog(a);
    uv_timer_start(&a->retry_timer, on_retry, a->backoff_ms, 0);
    return 1;
}

static void on_wake(uv_poll_t *h, int status, int events)
{
    agent_t *a = h->data;
    int n = 0;

    (void)events;
    if (a->cat == NULL)
        return;
    if (status < 0 || pm_queue_woken(a->cat, &n) != 0) {
        check_lost(a);
        return;
    }
    if (n > 0) {
        pm_log(PM_LOG_DEBUG, "agent", "woken by %d notification(s)", n);
        claim(a);
    }
}

/* Subscribes to the queue's notifications where the backend has them. */
static void listen_queue(agent_t *a)
{
    int fd = -1, err = pm_queue_listen(a->cat, &fd);

    if (err == PM_EUNSUPP)
        return; /* SQLite: the poll alone */
    if (err != 0 || uv_poll_init(a->loop, &a->wake, fd) != 0) {
        pm_log(PM_LOG_WARN, "agent", "no notifications (polling only): %s",
               err ? pm_catalog_errmsg(a->cat) : "cannot watch the socket");
        return;
    }
    a->wake.data = a;
    a->wake_on = 1;
    uv_poll_start(&a->wake, UV_READABLE, on_wake);
}

/* Opens the catalog; 0, or an error logged (the caller retries). */
static int connect_catalog(agent_t *a)
{
    pm_catalog_t *cat = NULL;
    int err = pm_catalog_open(a->url, &cat);

    if (err != 0) {
        pm_log(PM_LOG_ERROR, "agent", "cannot open the catalog %s: %s",
               a->shown, cat ? pm_catalog_errmsg(cat) : pm_strerror(err));
        pm_catalog_close(cat);
        return err;
    }
    a->cat = cat;
    listen_queue(a);
    return 0;
}

static void on_retry(uv_timer_t *t)
{
    agent_t *a = t->data;

    if (a->stopped)
        return;
    a->retries++;
    if (connect_catalog(a) != 0) {
        a->backoff_ms = a->backoff_ms * 2 > PM__AGENT_BACKOFF_MAX_MS
                            ? PM__AGENT_BACKOFF_MAX_MS
                            : a->backoff_ms * 2;
        pm_log(PM_LOG_WARN, "agent", "reconnecting in %u ms", a->backoff_ms);
        uv_timer_start(&a->retry_timer, on_retry, a->backoff_ms, 0);
        return;
    }
    pm_log(PM_LOG_INFO, "agent", "catalog reconnected after %d attempt(s)",
           a->retries);
    a->retries = 0;
    a->backoff_ms = PM__AGENT_BACKOFF_FIRST_MS;
    claim(a);
}

/* ---- pages ---- */

static agent_page_t *page_take(agent_t *a, long long id)
{
    for (agent_page_t **p = &a->pages; *p != NULL; p = &(*p)->next) {
        if ((*p)->id == id) {
            agent_page_t *e = *p;
            *p = e->next;
            return e;
        }
    }
    return NULL;
}

static void page_free(agent_page_t *e)
{
    if (e == NULL)
        return;
    pm_free(e->profile);
    pm__page_done_cleanup(&e->done);
    pm_free(e->said.review);
    pm_free(e);
}

static void fail_page(agent_t *a, const agent_page_t *e, const char *why,
                      int permanent)
{
    int err;

    pm_log(PM_LOG_WARN, "agent", "job=%lld page=%d attempt %d failed: %s",
           (long long)e->job, e->page, e->attempt, why);
    a->failed++;
    err = pm_task_fail(a->cat, e->task, e->attempt, why,
                       permanent ? 1 : a->cfg->max_attempts, now_s());
    if (err != 0 && !check_lost(a))
        pm_log(PM_LOG_WARN, "agent", "job=%lld page=%d: %s", (long long)e->job,
               e->page, pm_catalog_errmsg(a->cat));
}

/* Hands claimed task `t` to the pool, or fails the attempt. */
static void submit(agent_t *a, const pm_task_t *t)
{
    agent_page_t *e = pm_calloc(1, sizeof(*e));
    char why[1024] = "out of memory";
    int full = 0;
    char *line = NULL;

    if (e != NULL) {
        e->id = ++a->next_id;
        e->task = t->id;
        e->attempt = t->attempts;
        e->job = t->job;
        e->page = t->page;
        assert(t->profile != NULL); /* the claim brings it */
        e->profile = pm_strdup(t->profile);
        if (e->profile != NULL)
            line = pm__page_line(a->cat, a->cfg, a->cfg->spool, t, e->id, why,
                                 sizeof(why), &full);
    }
    if (e == NULL || line == NULL || pm_pool_submit(a->pool, e->id, line, 0)) {
        agent_page_t f = {.task = t->id,
                          .attempt = t->attempts,
                          .job = t->job,
                          .page = t->page};
        fail_page(a, &f, why, 0);
        page_free(e);
        return;
    }
    e->next = a->pages;
    a->pages = e;
    pm_log(PM_LOG_DEBUG, "agent", "job=%lld page=%d attempt %d: submitted",
           (long long)t->job, t->page, t->attempts);
}

/* Completes the n claimed tasks v with empty results (--bench-noop), all
 * in one pm_task_complete_n. */
static void complete_noop(agent_t *a, const pm_task_t *v, size_t n)
{
    pm_completion_t *c = pm_calloc(n, sizeof(*c));
    pm_page_metrics_t m;
    pm_page_result_t r;
    size_t i;

    if (c == NULL)
        return; /* out of memory: the leases lapse, the pages are redone */
    memset(&r, 0, sizeof(r));
    pm__page_metrics(&r, &m);
    for (i = 0; i < n; i++)
        c[i] = (pm_completion_t){
            .task = v[i].id, .attempt = v[i].attempts, .m = &m};
    if (pm_task_complete_n(a->cat, c, n, now_s()) != 0 && !check_lost(a))
        pm_log(PM_LOG_WARN, "agent", "completing %zu page(s): %s", n,
               pm_catalog_errmsg(a->cat));
    for (i = 0; i < n; i++) {
        if (c[i].err == 0)
            a->done++;
        else if (a->cat != NULL && c[i].err != PM_ECATALOG)
            pm_log(PM_LOG_WARN, "agent", "job=%lld page=%d: not completed (%d)",
                   (long long)v[i].job, v[i].page, c[i].err);
    }
    pm_free(c);
}

/* Free slots: idle workers, or a batch for the no-op mode. */
static size_t free_slots(const agent_t *a)
{
    return a->noop ? PM__AGENT_NOOP_BATCH : pm_pool_idle(a->pool);
}

/* Claims for the free slots, all in one pm_task_claim_n; 1 when the
 * no-op mode found pages (the queue may have more: a claim racing other
 * agents' takes fewer than it asked for, not none). */
static int claim_round(agent_t *a)
{
    size_t slots = free_slots(a), n = 0;
    pm_task_t *v = NULL;
    int err;

    if (slots == 0 || a->cat == NULL || a->draining)
        return 0;
    err = pm_task_claim_n(a->cat, a->owner, a->lease_s, now_s(), slots, &v, &n);
    if (err == PM_ENOENT)
        return 0;
    if (err != 0) {
        if (!check_lost(a))
            pm_log(PM_LOG_ERROR, "agent", "claim: %s",
                   pm_catalog_errmsg(a->cat));
        return 0;
    }
    if (a->noop && n > 0)
        complete_noop(a, v, n);
    for (size_t i = 0; !a->noop && i < n; i++)
        submit(a, &v[i]);
    pm_task_list_free(v, n);
    return a->noop && n > 0 && a->cat != NULL && !a->draining;
}

static void on_noop_idle(uv_idle_t *h)
{
    if (!claim_round(h->data))
        uv_idle_stop(h);
}

/* Claims for the free slots. Notifications that arrived during those
 * queries are read here (libpq keeps them, so the socket would not say so)
 * and claimed for while slots are free. */
static void claim(agent_t *a)
{
    int n;

    if (a->stopped || a->draining)
        return;
    if (a->noop) {
        uv_idle_start(&a->noop_idle, on_noop_idle);
        return;
    }
    do {
        claim_round(a);
        n = 0;
        if (a->wake_on && pm_queue_woken(a->cat, &n) != 0)
            check_lost(a);
    } while (n > 0 && a->cat != NULL && pm_pool_idle(a->pool) > 0);
}

/* Renews the lease of every page on a worker, every third of the lease,
 * in one pm_task_renew_n. */
static void heartbeat(agent_t *a)
{
    int64_t now = now_s();
    pm_lease_t *v;
    size_t n = 0, i = 0;
    const agent_page_t *e;

    if (now - a->renewed_at < (a->lease_s + 2) / 3)
        return;
    a->renewed_at = now;
    for (e = a->pages; e != NULL; e = e->next)
        n++;
    if (n == 0 || (v = pm_calloc(n, sizeof(*v))) == NULL)
        return; /* out of memory: the next tick tries again */
    for (e = a->pages; e != NULL; e = e->next, i++) {
        v[i].task = e->task;
        v[i].attempt = e->attempt;
    }
    if (pm_task_renew_n(a->cat, v, n, a->lease_s, now) != 0) {
        if (!check_lost(a))
            pm_log(PM_LOG_WARN, "agent", "renewing %zu lease(s): %s", n,
                   pm_catalog_errmsg(a->cat));
        a->renewed_at = 0; /* again at the next tick */
        pm_free(v);
        return;
    }
    for (e = a->pages, i = 0; e != NULL; e = e->next, i++)
        if (!v[i].ok)
            pm_log(PM_LOG_WARN, "agent",
                   "job=%lld page=%d attempt %d: lease lost (taken back); "
                   "its result will be dropped",
                   (long long)e->job, e->page, e->attempt);
    pm_free(v);
}

/* Why a completion was refused, for the log. */
static const char *refusal(int err)
{
    if (err == -ESTALE)
        return "stale (the page was taken back, or its job stopped)";
    if (err == PM_ENOENT)
        return "no such page task";
    if (err == -EEXIST)
        return "the page is billed already";
    return pm_strerror(err);
}

/* Completes the results gathered this turn in one pm_task_complete_n,
 * each fenced by its attempt and answered on its own. */
static void complete_finished(agent_t *a)
{
    agent_page_t *list = a->finished, *e;
    pm_completion_t *c;
    size_t n = 0, i, ok = 0;
    int err = PM_ENOMEM;

    a->finished = NULL;
    for (e = list; e != NULL; e = e->next)
        n++;
    if (n == 0)
        return;
    c = a->cat != NULL ? pm_calloc(n, sizeof(*c)) : NULL;
    for (e = list, i = 0; c != NULL && e != NULL; e = e->next, i++)
        c[i] = (pm_completion_t){
            .task = e->task, .attempt = e->attempt, .m = &e->done.m};
    if (c != NULL) {
        err = pm_task_complete_n(a->cat, c, n, now_s());
        a->complete_calls++;
    }
    for (e = list, i = 0; e != NULL; e = e->next, i++) {
        if (c != NULL && c[i].err == 0) {
            ok++;
            a->done++;
            pm__page_log_done("agent", e->job, e->page, e->attempt, &e->said);
        } else if (c != NULL && c[i].err != PM_ECATALOG) {
            pm_log(PM_LOG_WARN, "agent",
                   "job=%lld page=%d attempt %d: result refused: %s",
                   (long long)e->job, e->page, e->attempt, refusal(c[i].err));
        } else {
            a->dropped++;
            pm_log(PM_LOG_WARN, "agent",
                   "job=%lld page=%d: result dropped (%s); the page is done "
                   "again once its lease lapses",
                   (long long)e->job, e->page,
                   a->cat == NULL ? "no catalog connection"
                                  : "not recorded in the catalog");
        }
    }
    if (n > 1)
        pm_log(PM_LOG_INFO, "agent",
               "%zu results in one completion call: %zu done, %zu not", n, ok,
               n - ok);
    if (c != NULL && err != 0 && !check_lost(a))
        pm_log(PM_LOG_WARN, "agent", "completing %zu page(s): %s", n,
               pm_catalog_errmsg(a->cat));
    pm_free(c);
    while ((e = list) != NULL) {
        list = e->next;
        page_free(e);
    }
}

/* The end of a loop turn in which results arrived: complete them, then
 * claim for the slots they freed. */
static void on_turn_end(uv_check_t *h)
{
    agent_t *a = h->data;

    uv_check_stop(h);
    complete_finished(a);
    claim(a);
}

/* Keeps successful result `res` of page e for the turn's end: its review
 * flag under the job's profile, its metrics. 0, or an error (the result is
 * then dropped). */
static int keep_result(agent_t *a, agent_page_t *e, const pm_page_result_t *res)
{
    pm_page_result_t r = *res; /* borrowed, but for its review reason */
    agent_page_t **tail = &a->finished;
    int err;

    r.review = NULL;
    err = pm__page_review_as(a->cfg, e->profile, &r);
    if (err == 0)
        err = pm__page_done_init(a->cfg, &r, &e->done); /* borrows review */
    if (err != 0) {
        pm_free(r.review);
        return err;
    }
    e->said.words = r.words;
    e->said.blank = r.blank;
    e->said.ms = r.ms;
    e->said.review = r.review;
    while (*tail != NULL)
        tail = &(*tail)->next;
    e->next = NULL;
    *tail = e;
    return 0;
}

/* The pool's result callback: a failure is recorded at once, a success
 * kept for the turn's end (on_turn_end). */
static void on_done(void *arg, long long task, const pm_proto_msg_t *m,
                    const char *why)
{
    agent_t *a = arg;
    agent_page_t *e = page_take(a, task);
    int permanent;

    if (e == NULL)
        return;
    if (a->cat == NULL) {
        a->dropped++;
        pm_log(PM_LOG_WARN, "agent",
               "job=%lld page=%d: result dropped (no catalog connection); "
               "the page is done again once its lease lapses",
               (long long)e->job, e->page);
    } else if (m == NULL || m->type != PM_MSG_PAGE_RESULT || !m->result.ok) {
        const char *reason = pm__page_failure(m, why, &permanent);

        fail_page(a, e, reason, permanent);
    } else if (keep_result(a, e, &m->result) != 0) {
        a->dropped++;
        pm_log(PM_LOG_WARN, "agent",
               "job=%lld page=%d: result dropped (out of memory); the page "
               "is done again once its lease lapses",
               (long long)e->job, e->page);
    } else {
        e = NULL; /* kept */
    }
    page_free(e);
    if (!a->stopped)
        uv_check_start(&a->turn_end, on_turn_end);
}

/* ---- the node in the workers table ---- */

/* 1 when rows `v` (`n`) need not be written: as last written, and the
 * heartbeat not yet due. */
static int report_skippable(const agent_t *a, const pm_worker_info_t *v,
                            size_t n)
{
    return a->wk_last != NULL && n == a->wk_nlast &&
           pm__worker_rows_equal(v, a->wk_last, n) &&
           uv_now(a->loop) - a->wk_written_ms < PM__AGENT_WORKERS_REFRESH_MS;
}

static void fill_rows(const agent_t *a, const pm_pool_worker_t *pw,
                      pm_worker_info_t *rows, size_t n)
{
    double load1 = pm__host_load1();

    for (size_t i = 0; i < n; i++) {
        const agent_page_t *e = a->pages;

        while (e != NULL && e->id != pw[i].task)
            e = e->next;
        rows[i].slot = pw[i].id;
        rows[i].pid = pw[i].pid;
        rows[i].state = !pw[i].ready      ? PM_WORKER_STARTING
                        : pw[i].task >= 0 ? PM_WORKER_BUSY
                                          : PM_WORKER_IDLE;
        rows[i].job = e ? e->job : 0;
        rows[i].page = e ? e->page : 0;
        rows[i].started_at = pw[i].started_at;
        rows[i].load1 = load1;
    }
}

/* Writes the workers rows when one changed or the heartbeat is due. */
static void report_workers(agent_t *a)
{
    size_t n = a->pool ? pm_pool_workers(a->pool, NULL, 0) : 0;
    pm_pool_worker_t *pw = pm_calloc(n + 1, sizeof(*pw));
    pm_worker_info_t *rows = pm_calloc(n + 1, sizeof(*rows));

    if (pw == NULL || rows == NULL || a->cat == NULL)
        goto out; /* the next tick tries again */
    n = pm_pool_workers(a->pool, pw, n);
    fill_rows(a, pw, rows, n);
    if (report_skippable(a, rows, n))
        goto out;
    a->reports++;
    if (pm_worker_report(a->cat, a->owner, rows, n, now_s()) != 0) {
        if (!check_lost(a))
            pm_log(PM_LOG_WARN, "agent", "workers table: %s",
                   pm_catalog_errmsg(a->cat));
        goto out;
    }
    pm_free(a->wk_last);
    a->wk_last = rows;
    a->wk_nlast = n;
    a->wk_written_ms = uv_now(a->loop);
    rows = NULL;
out:
    pm_free(pw);
    pm_free(rows);
}

/* ---- the loop ---- */

static void close_handle(uv_handle_t *h)
{
    if (h->loop != NULL && !uv_is_closing(h))
        uv_close(h, NULL);
}

static void stop(agent_t *a)
{
    if (a->stopped)
        return;
    a->stopped = 1;
    close_handle((uv_handle_t *)&a->tick);
    close_handle((uv_handle_t *)&a->retry_timer);
    close_handle((uv_handle_t *)&a->noop_idle);
    close_handle((uv_handle_t *)&a->turn_end);
    close_handle((uv_handle_t *)&a->sig_term);
    close_handle((uv_handle_t *)&a->sig_int);
    pm_pool_close(a->pool);
    a->pool = NULL;
    complete_finished(a); /* results of this turn */
    if (a->cat != NULL &&
        pm_worker_report(a->cat, a->owner, NULL, 0, now_s()) != 0)
        pm_log(PM_LOG_WARN, "agent", "clearing the workers table: %s",
               pm_catalog_errmsg(a->cat));
    for (agent_page_t *e; (e = a->pages) != NULL;) {
        a->pages = e->next;
        pm_log(PM_LOG_WARN, "agent",
               "job=%lld page=%d abandoned; done again once its lease lapses",
               (long long)e->job, e->page);
        page_free(e);
    }
    close_catalog(a);
    pm_log(PM_LOG_INFO, "agent",
           "stopped: %lld page(s) done, %lld failed, %lld dropped; %lld "
           "completion call(s), %lld workers report(s)",
           a->done, a->failed, a->dropped, a->complete_calls, a->reports);
}

static void on_tick(uv_timer_t *t)
{
    agent_t *a = t->data;
    uint64_t now_ms = uv_now(a->loop);

    if (a->cat != NULL)
        heartbeat(a);
    if (a->draining) {
        if (a->pages == NULL && a->finished == NULL)
            stop(a);
        return;
    }
    if (a->cat == NULL)
        return; /* reconnecting */
    if (now_ms - a->polled_ms >= (uint64_t)a->poll_s * 1000) {
        a->polled_ms = now_ms;
        claim(a);
    }
    if (a->cat != NULL)
        report_workers(a);
}

static void on_signal(uv_signal_t *h, int signum)
{
    agent_t *a = h->data;

    if (a->draining) {
        pm_log(PM_LOG_WARN, "agent", "signal %d again: stopping now", signum);
        stop(a);
        return;
    }
    pm_log(PM_LOG_INFO, "agent", "signal %d: %s, claiming no more", signum,
           a->pages ? "finishing the pages under way" : "no page under way");
    a->draining = 1;
    if (a->pages == NULL)
        stop(a);
}

/* ---- starting ---- */

static int parse_int_arg(const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);

    if (*v == '\0' || *end != '\0' || n < lo || n > hi)
        return -1;
    *out = (int)n;
    return 0;
}

/* 0, 1 for --help, -1 for a usage error (printed). */
static int parse_args(int argc, char **argv, agent_t *a, const char **config)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"catalog", required_argument, NULL, 'C'},
        {"workers", required_argument, NULL, 'w'},
        {"node", required_argument, NULL, 'n'},
        {"lease", required_argument, NULL, 'l'},
        {"poll", required_argument, NULL, 'p'},
        {"bench-noop", no_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *bad = NULL;
    int ch;

    optind = 1;
    while (bad == NULL &&
           (ch = getopt_long(argc, argv, "c:w:h", opts, NULL)) != -1) {
        if (ch == 'c')
            *config = optarg;
        else if (ch == 'C')
            a->url = optarg;
        else if (ch == 'w' && parse_int_arg(optarg, 1, 256, &a->workers))
            bad = "--workers: expected 1..256";
        else if (ch == 'n' && snprintf(a->node, sizeof(a->node), "%s",
                                       optarg) >= (int)sizeof(a->node))
            bad = "--node: too long";
        else if (ch == 'l' && parse_int_arg(optarg, 2, 86400, &a->lease_s))
            bad = "--lease: expected seconds 2..86400";
        else if (ch == 'p' && parse_int_arg(optarg, 1, 3600, &a->poll_s))
            bad = "--poll: expected seconds 1..3600";
        else if (ch == 'B')
            a->noop = 1;
        else if (ch == 'h') {
            fputs(usage_text, stdout);
            return 1;
        } else if (ch == '?')
            bad = "";
    }
    if (bad == NULL && *config == NULL)
        bad = "--config FILE is required";
    if (bad == NULL && optind != argc)
        bad = "unexpected argument";
    if (bad != NULL) {
        fprintf(stderr, "pagemill agent: %s\n\n%s", bad, usage_text);
        return -1;
    }
    return 0;
}

static int start(agent_t *a)
{
    size_t exe_len = sizeof(a->exe);
    pm_pool_opts_t po;
    int err;

    if (a->node[0] == '\0' && gethostname(a->node, sizeof(a->node)) != 0)
        snprintf(a->node, sizeof(a->node), "localhost");
    a->node[sizeof(a->node) - 1] = '\0';
    snprintf(a->owner, sizeof(a->owner), "agent:%s:%ld", a->node,
             (long)getpid());
    uv_timer_init(a->loop, &a->tick);
    uv_timer_init(a->loop, &a->retry_timer);
    uv_idle_init(a->loop, &a->noop_idle);
    uv_check_init(a->loop, &a->turn_end);
    a->tick.data = a->retry_timer.data = a->noop_idle.data = a;
    a->turn_end.data = a;
    uv_signal_init(a->loop, &a->sig_term);
    uv_signal_init(a->loop, &a->sig_int);
    a->sig_term.data = a->sig_int.data = a;
    uv_signal_start(&a->sig_term, on_signal, SIGTERM);
    uv_signal_start(&a->sig_int, on_signal, SIGINT);
    pm_pool_opts_from_config(&po, a->cfg, a->exe, a->workers);
    if (!a->noop) {
        err = uv_exepath(a->exe, &exe_len);
        if (err == 0)
            err = pm_pool_open(a->loop, &po, on_done, a, &a->pool);
        if (err != 0) {
            pm_log(PM_LOG_ERROR, "agent", "cannot start workers: %s",
                   pm_strerror(err));
            return err;
        }
    }
    a->backoff_ms = PM__AGENT_BACKOFF_FIRST_MS;
    if (connect_catalog(a) != 0)
        uv_timer_start(&a->retry_timer, on_retry, a->backoff_ms, 0);
    uv_timer_start(&a->tick, on_tick, 0, PM__AGENT_TICK_MS);
    pm_log(PM_LOG_INFO, "agent",
           "started as %s: node %s, %d slot(s)%s, lease %d s, catalog %s",
           a->owner, a->node, a->noop ? PM__AGENT_NOOP_BATCH : po.workers,
           a->noop ? " (no-op benchmark mode)" : "", a->lease_s, a->shown);
    return 0;
}

int pm_agent_main(int argc, char **argv)
{
    agent_t a;
    const char *config = NULL;
    char *errors = NULL;
    uv_loop_t loop;
    int rc;

    memset(&a, 0, sizeof(a));
    a.lease_s = PM__AGENT_DEFAULT_LEASE_S;
    a.poll_s = PM__AGENT_DEFAULT_POLL_S;
    rc = parse_args(argc, argv, &a, &config);
    if (rc != 0)
        return rc > 0 ? PM_EXIT_OK : PM_EXIT_USAGE;
    if (pm_config_load(config, &a.cfg, &errors) != 0 ||
        pm_volume_check(a.cfg, &errors) != 0) {
        fprintf(stderr, "%s", errors ? errors : "");
        pm_config_free(a.cfg);
        fprintf(stderr, "pagemill agent: cannot load %s\n", config);
        pm_free(errors);
        return PM_EXIT_USAGE;
    }
    if (a.url == NULL)
        a.url = a.cfg->catalog;
    pm_catalog_shown(a.url, a.shown, sizeof(a.shown));
    signal(SIGPIPE, SIG_IGN); /* a dying worker must not take us along */
    uv_loop_init(&loop);
    a.loop = &loop;
    rc = start(&a) == 0 ? PM_EXIT_OK : PM_EXIT_FAILURE;
    if (rc != PM_EXIT_OK)
        stop(&a);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    pm_config_free(a.cfg);
    return rc;
}
