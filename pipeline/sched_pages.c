/*
 * sched_pages.c: the page half of the scheduler (scheduler.c has the
 * assembly half and the pool's results): claims, results, failures,
 * parked pages, the tick and the workers table, with every catalog call
 * on a lane (catalog.h: the queue's hot path without blocking the loop),
 * so a catalog that stops answering never stops the loop: its signals,
 * timers and workers go on.
 *
 *   claim:   one claim of up to as many pages as workers are idle; its
 *            callback submits them (and claims again while some are).
 *   results: a page's result waits in s->done_wait; one completion at a
 *            time (pm_task_complete_n_async: each page its own
 *            transaction, fenced by the attempt) takes all that wait, so
 *            results that come while one runs go together in the next;
 *            the in-flight entry is kept until the callback recorded it.
 *   tick:    the requeue of expired leases, then collect, the claim and
 *            the workers report, chained through the callbacks; a tick
 *            whose chain still waits does nothing.
 *
 * The lane runs one operation at a time in the order given (a completion
 * before the claim after it). On PostgreSQL it has its own session,
 * beside the one holding the coordinator lock (used synchronously by
 * intake, assembly and the rest); an operation not answered within
 * PM__HOT_MS leaves that session unusable and the next tick takes the
 * lost-session path (serve.c: stop, then rejoin). Results not recorded
 * then are logged: their pages are done again once their leases lapse
 * (or at the next start).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/base/pm.h"
#include "pipeline/publish.h"
#include "pipeline/scheduler_int.h"

#define ESC(str, buf) pm_escape_name((str), (buf), sizeof(buf))

static pm_catalog_t *lane_cat(pm__serve_t *s)
{
    return s->hot != NULL ? s->hot : s->cat;
}

static int lease_s(const pm__serve_t *s)
{
    return s->page_timeout + PM__LEASE_SLACK;
}

static void push(pm__inflight_t **list, pm__inflight_t *e)
{
    e->next = *list;
    *list = e;
}

static void unlink_entry(pm__inflight_t **list, pm__inflight_t *e)
{
    for (pm__inflight_t **p = list; *p != NULL; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            e->next = NULL;
            return;
        }
    }
}

static size_t count(const pm__inflight_t *e)
{
    size_t n = 0;

    for (; e != NULL; e = e->next)
        n++;
    return n;
}

/* Forgets a result kept for the catalog. */
static void result_drop(pm__inflight_t *e)
{
    if (e->have_done)
        pm__page_done_cleanup(&e->done);
    e->have_done = 0;
    pm_free(e->review);
    e->review = NULL;
}

static void entry_free(pm__inflight_t *e)
{
    if (e != NULL)
        result_drop(e);
    pm__sched_inflight_free(e);
}

/* A result the catalog did not record: the lease decides what next. */
static void not_recorded(const pm__inflight_t *e, const char *what)
{
    pm_log(PM_LOG_WARN, "sched",
           "job=%lld page=%d attempt %d: its %s was not recorded (the "
           "catalog did not answer): the page is done again once its lease "
           "lapses",
           (long long)e->job, e->page, e->attempt, what);
}

/* ---- parked pages ---- */

/* Keeps page `e` (its lease and attempt) until there is room again. */
static void park(pm__serve_t *s, pm__inflight_t *e, const char *path)
{
    pm_log(PM_LOG_INFO, "sched",
           "job=%lld page=%d attempt %d: waiting for space (not counted)",
           (long long)e->job, e->page, e->attempt);
    result_drop(e);
    e->a = NULL;
    push(&s->parked, e);
    pm__space_lost(s, path);
}

/* ---- failures ---- */

static void on_failed(void *data, int err)
{
    pm__inflight_t *e = data;
    pm__serve_t *s = e->s;
    pm_catalog_t *cat = lane_cat(s);

    unlink_entry(&s->failing, e);
    if (pm__space_err(err)) {
        pm__space_lost(s, s->catalog_path);
        park(s, e, s->catalog_path);
        e = NULL;
    } else if (err == PM_ESTALE) {
        pm_log(PM_LOG_WARN, "sched", "job=%lld page=%d: dropped: %s",
               (long long)e->job, e->page, pm_catalog_errmsg(cat));
    } else if (err == -ETIMEDOUT || !pm_catalog_connected(cat)) {
        not_recorded(e, "failure");
    } else if (err != 0) {
        pm_log(PM_LOG_ERROR, "sched", "job=%lld page=%d: catalog: %s",
               (long long)e->job, e->page, pm_catalog_errmsg(cat));
    }
    if (err == 0) {
        pm__sched_collect(s, &e->job, 1);
    }
    entry_free(e);
    if (err == 0)
        pm__sched_run(s);
    else
        pm__sched_claim(s);
    pm__serve_maybe_stop(s);
}

/* Records a failed attempt of page `e` (taken; kept until the catalog
 * answered): requeued or failed (at once when `permanent`: the file is
 * at fault, another attempt would fail the same way). */
static void fail_page(pm__serve_t *s, pm__inflight_t *e, const char *why,
                      int permanent)
{
    char esc[PM_ESCAPED_MAX];
    int err;

    if (permanent)
        pm_log(PM_LOG_WARN, "sched",
               "job=%lld page=%d failed (not retried: the file is at "
               "fault): %s",
               (long long)e->job, e->page, ESC(why, esc));
    else
        pm_log(PM_LOG_WARN, "sched",
               "job=%lld page=%d attempt %d of %d failed: %s",
               (long long)e->job, e->page, e->attempt, s->max_attempts,
               ESC(why, esc));
    e->s = s;
    if (s->lane == NULL) {
        not_recorded(e, "failure");
        entry_free(e);
        return;
    }
    push(&s->failing, e);
    err = pm_task_fail_async(s->lane, e->task, e->attempt, why,
                             permanent ? 1 : s->max_attempts, pm__serve_now(),
                             on_failed, e);
    if (err != 0) {
        unlink_entry(&s->failing, e);
        not_recorded(e, "failure");
        entry_free(e);
    }
}

/* ---- submitting ---- */

/* Hands claimed task `t` to the pool (or fails the attempt, or parks it
 * when the spool is full). */
static void submit_page(pm__serve_t *s, const pm_task_t *t)
{
    pm__inflight_t *e = pm__sched_inflight_add(s);
    char why[1024] = "out of memory";
    int full = 0;
    char *line;

    if (e == NULL) {
        pm_log(PM_LOG_ERROR, "sched",
               "job=%lld page=%d: out of memory; done again once its lease "
               "lapses",
               (long long)t->job, t->page);
        return;
    }
    e->task = t->id;
    e->attempt = t->attempts;
    e->job = t->job;
    e->page = t->page;
    e->frame = t->frame;
    e->s = s;
    e->src = pm_strdup(t->src);
    e->sha256 = t->sha256 ? pm_strdup(t->sha256) : NULL;
    e->profile = t->profile ? pm_strdup(t->profile) : NULL;
    /* never the locked session: the claim brought the profile */
    line = pm__page_line(NULL, s->cfg, s->spool, t, e->id, why, sizeof(why),
                         &full);
    if (line == NULL && full && e->src != NULL &&
        (t->sha256 == NULL || e->sha256 != NULL)) {
        park(s, pm__sched_inflight_take(s, e->id), s->spool);
        return;
    }
    if (line == NULL || e->src == NULL ||
        pm_pool_submit(s->pool, e->id, line, 0) != 0) {
        fail_page(s, pm__sched_inflight_take(s, e->id), why, 0);
        return;
    }
    pm_log(PM_LOG_DEBUG, "sched", "job=%lld page=%d attempt %d: submitted",
           (long long)t->job, t->page, t->attempts);
}

/* Hands parked page `e` out again (freed). */
static void resubmit(pm__serve_t *s, pm__inflight_t *e)
{
    pm_task_t t;

    memset(&t, 0, sizeof(t));
    t.id = e->task;
    t.job = e->job;
    t.page = e->page;
    t.src = e->src;
    t.frame = e->frame;
    t.sha256 = e->sha256;
    t.attempts = e->attempt;
    t.profile = e->profile;
    submit_page(s, &t);
    entry_free(e);
}

static const pm_lease_t *renewed(const pm__serve_t *s, const pm__inflight_t *e)
{
    for (size_t i = 0; i < s->renew_n; i++)
        if (s->renew_v[i].task == e->task &&
            s->renew_v[i].attempt == e->attempt)
            return &s->renew_v[i];
    return NULL;
}

static void on_renewed(void *data, int err)
{
    pm__serve_t *s = data;
    pm__inflight_t **p = &s->parked, *e;
    const pm_lease_t *l;

    s->renewing = 0;
    if (err != 0 && !pm__space_err(err))
        pm_log(PM_LOG_ERROR, "sched", "renewing the parked pages: %s",
               pm_catalog_errmsg(lane_cat(s)));
    while (err == 0 && (e = *p) != NULL) {
        l = renewed(s, e);
        if (l != NULL && !l->ok) { /* no longer ours: forgotten */
            *p = e->next;
            pm_log(PM_LOG_WARN, "sched",
                   "job=%lld page=%d: dropped: its lease is no longer "
                   "attempt %d's",
                   (long long)e->job, e->page, e->attempt);
            entry_free(e);
        } else if (l != NULL && s->renew_all && !s->draining &&
                   s->pool != NULL && pm_pool_idle(s->pool) > 0) {
            *p = e->next;
            resubmit(s, e);
        } else {
            p = &e->next; /* renewed (or parked since), it stays */
        }
    }
    pm_free(s->renew_v);
    s->renew_v = NULL;
    s->renew_n = 0;
    if (err == 0 && s->renew_all)
        pm__sched_run(s);
}

/* Renews the leases of the parked pages (one refused means the page is
 * no longer ours: forgotten). With `all`, also hands out again as many as
 * there are idle workers. */
static void unpark(pm__serve_t *s, int all)
{
    int64_t now = pm__serve_now();
    size_t n = count(s->parked), i = 0;

    if (s->renewing || s->lane == NULL || n == 0 ||
        (!all && now - s->parked_renewed < PM__PARK_RENEW_S))
        return;
    s->renew_v = pm_calloc(n, sizeof(*s->renew_v));
    if (s->renew_v == NULL)
        return; /* the next tick tries again */
    s->parked_renewed = now;
    for (pm__inflight_t *e = s->parked; e != NULL; e = e->next, i++) {
        s->renew_v[i].task = e->task;
        s->renew_v[i].attempt = e->attempt;
    }
    s->renew_n = n;
    s->renew_all = all;
    s->renewing = 1;
    if (pm_task_renew_n_async(s->lane, s->renew_v, n, lease_s(s), now,
                              on_renewed, s) != 0) {
        s->renewing = 0;
        pm_free(s->renew_v);
        s->renew_v = NULL;
        s->renew_n = 0;
    }
}

/* ---- claiming ---- */

static void on_claimed(void *data, int err)
{
    pm__serve_t *s = data;
    size_t i;
    int again;

    s->claiming = 0;
    again = s->claim_again;
    s->claim_again = 0;
    pm__txn_record(&s->txn[PM__TXN_CLAIM],
                   (double)(uv_hrtime() - s->claim_t0) / 1e6);
    if (pm__space_err(err))
        pm__space_lost(s, s->catalog_path);
    else if (err != 0 && err != PM_ENOENT)
        pm_log(PM_LOG_ERROR, "sched", "claim: %s",
               pm_catalog_errmsg(lane_cat(s)));
    for (i = 0; i < s->nclaimed; i++) {
        if (s->draining || s->pool == NULL)
            pm_log(PM_LOG_WARN, "sched",
                   "job=%lld page=%d claimed while stopping: requeued at the "
                   "next start",
                   (long long)s->claimed[i].job, s->claimed[i].page);
        else
            submit_page(s, &s->claimed[i]);
    }
    pm_task_list_free(s->claimed, s->nclaimed);
    s->claimed = NULL;
    i = s->nclaimed;
    s->nclaimed = 0;
    if ((err == 0 && i > 0) || (again && (err == 0 || err == PM_ENOENT)))
        pm__sched_run(s);    /* while workers are idle, or asked meanwhile */
    pm__serve_maybe_stop(s); /* a drain waited for this answer */
}

void pm__sched_run(pm__serve_t *s)
{
    if (s->draining || s->pool == NULL || s->lane == NULL ||
        pm__space_paused(s))
        return;
    pm__replace_run(s); /* its calls are synchronous: after an answer */
    pm__sched_claim(s);
}

void pm__sched_claim(pm__serve_t *s)
{
    int idle, err;

    if (s->draining || s->pool == NULL || s->lane == NULL ||
        pm__space_paused(s))
        return;
    unpark(s, 1);
    if (s->claiming)
        s->claim_again = 1; /* a job may have come since it was given */
    if (s->agents_only || s->parked != NULL || s->space.full || s->claiming)
        return;
    idle = pm_pool_idle(s->pool);
    if (idle <= 0)
        return;
    s->claiming = 1;
    s->claim_t0 = uv_hrtime();
    err = pm_task_claim_n_async(s->lane, s->owner, lease_s(s), pm__serve_now(),
                                (size_t)idle, &s->claimed, &s->nclaimed,
                                on_claimed, s);
    if (err != 0) {
        s->claiming = 0;
        pm_log(PM_LOG_ERROR, "sched", "claim: %s", pm_strerror(err));
    }
}

/* ---- results ---- */

/* What the completion said of page `e` (freed or parked). */
static void recorded(pm__serve_t *s, pm__inflight_t *e, int err, int op_err)
{
    pm_catalog_t *cat = lane_cat(s);
    pm_page_result_t rr = {0};

    if (pm__space_err(err)) {
        park(s, e, s->catalog_path); /* done again once it has room */
        return;
    }
    if (err == PM_ESTALE)
        pm_log(PM_LOG_WARN, "sched", "job=%lld page=%d: result dropped: %s",
               (long long)e->job, e->page, pm_catalog_errmsg(cat));
    else if (err == PM_ECATALOG && op_err != 0)
        not_recorded(e, "result");
    else if (err != 0)
        pm_log(PM_LOG_ERROR, "sched", "job=%lld page=%d: catalog: %s",
               (long long)e->job, e->page, pm_catalog_errmsg(cat));
    if (err == 0) {
        pm__alerts_progress(s);
        rr.words = e->words;
        rr.blank = e->blank;
        rr.ms.total = e->ms_total;
        rr.ms.engine = e->ms_engine;
        rr.ms.alto = e->ms_alto;
        rr.review = e->review;
        pm__page_log_done("sched", e->job, e->page, e->attempt, &rr);
    }
    entry_free(e);
}

static void record_start(pm__serve_t *s);

static void on_completed(void *data, int err)
{
    pm__serve_t *s = data;
    pm__inflight_t *e;
    int64_t jobs[64];
    size_t i = 0, nj = 0, k;

    pm__txn_record(&s->txn[PM__TXN_COMPLETE],
                   (double)(uv_hrtime() - s->done_t0) / 1e6);
    while ((e = s->done_run) != NULL) {
        s->done_run = e->next;
        for (k = 0; k < nj && jobs[k] != e->job; k++)
            ;
        if (k == nj && nj < sizeof(jobs) / sizeof(*jobs))
            jobs[nj++] = e->job;
        recorded(s, e, s->done_v[i++].err, err);
    }
    pm_free(s->done_v);
    s->done_v = NULL;
    if (err == 0) { /* the catalog answered: settle the jobs */
        pm__sched_collect(s, jobs, nj);
    }
    record_start(s);
    if (err == 0)
        pm__sched_run(s);
    else
        pm__sched_claim(s);
    pm__serve_maybe_stop(s);
}

/* Gives the results waiting, when no completion is under way. */
static void record_start(pm__serve_t *s)
{
    size_t n = count(s->done_wait), i = 0;
    int err = PM_ENOMEM;

    if (s->done_run != NULL || n == 0 || s->lane == NULL)
        return;
    s->done_v = pm_calloc(n, sizeof(*s->done_v));
    if (s->done_v == NULL)
        return; /* the next result or tick tries again */
    s->done_run = s->done_wait;
    s->done_wait = NULL;
    s->wait_told = 0;
    for (pm__inflight_t *e = s->done_run; e != NULL; e = e->next, i++) {
        s->done_v[i].task = e->task;
        s->done_v[i].attempt = e->attempt;
        s->done_v[i].m = &e->done.m;
    }
    s->done_t0 = uv_hrtime();
    err = pm_task_complete_n_async(s->lane, s->done_v, n, pm__serve_now(),
                                   on_completed, s);
    if (err != 0) { /* back in the queue: the next try takes them */
        s->done_wait = s->done_run;
        s->done_run = NULL;
        pm_free(s->done_v);
        s->done_v = NULL;
    }
}

/* Keeps successful result `m` of page `e` for the next completion. */
static void record(pm__serve_t *s, pm__inflight_t *e, const pm_proto_msg_t *m)
{
    pm_page_result_t rr = m->result; /* borrowed, but for its review */
    int err;

    rr.review = NULL;
    err = pm__page_review_as(s->cfg, e->profile ? e->profile : "default", &rr);
    if (err == 0)
        err = pm__page_done_init(s->cfg, &rr, &e->done);
    if (err != 0) {
        pm_free(rr.review);
        fail_page(s, e, "out of memory recording the result", 0);
        return;
    }
    e->have_done = 1;
    e->review = rr.review;
    e->words = rr.words;
    e->blank = rr.blank;
    e->ms_total = rr.ms.total;
    e->ms_engine = rr.ms.engine;
    e->ms_alto = rr.ms.alto;
    e->done.m.review = e->review;
    if (s->lane == NULL) { /* given up on the catalog (draining) */
        not_recorded(e, "result");
        entry_free(e);
        return;
    }
    if (s->done_wait == NULL)
        s->wait_since = uv_now(s->loop);
    push(&s->done_wait, e);
    record_start(s);
}

void pm__sched_page_done(pm__serve_t *s, pm__inflight_t *e,
                         const pm_proto_msg_t *m, const char *why)
{
    char esc[PM_ESCAPED_MAX];
    int permanent;

    e->s = s;
    if (m != NULL && m->type == PM_MSG_PAGE_RESULT && !m->result.ok &&
        (pm__space_text(m->result.error) || pm__space_low(s->spool))) {
        /* Its artifacts did not fit: the spool's fault, not the page's. */
        pm_log(PM_LOG_DEBUG, "sched", "job=%lld page=%d: %s", (long long)e->job,
               e->page, ESC(m->result.error ? m->result.error : "?", esc));
        park(s, e, s->spool);
        return;
    }
    if (m == NULL || m->type != PM_MSG_PAGE_RESULT || !m->result.ok) {
        const char *reason = pm__page_failure(m, why, &permanent);

        fail_page(s, e, reason, permanent);
        return;
    }
    record(s, e, m);
}

size_t pm__sched_recording(const pm__serve_t *s)
{
    return count(s->done_wait) + count(s->done_run) + count(s->failing) +
           (s->claiming != 0);
}

/* Results that have waited a second for the catalog: said once. */
static void tell_wait(pm__serve_t *s)
{
    size_t n = count(s->done_wait) + count(s->done_run);

    if (n == 0 || s->wait_told || uv_now(s->loop) - s->wait_since < 1000)
        return;
    s->wait_told = 1;
    pm_log(PM_LOG_WARN, "sched",
           "%zu page result(s) finished by workers wait for the catalog (no "
           "answer for %llu ms)",
           n, (unsigned long long)(uv_now(s->loop) - s->wait_since));
}

/* ---- workers in the catalog, for `pagemill status` ---- */

/* The catalog row of pool worker `w`. */
static void worker_row(const pm__serve_t *s, const pm_pool_worker_t *w,
                       pm_worker_info_t *r)
{
    const pm__inflight_t *e = NULL;

    for (e = w->task >= 0 ? s->inflight : NULL; e != NULL; e = e->next)
        if (e->id == w->task)
            break;
    memset(r, 0, sizeof(*r));
    r->slot = w->id;
    r->pid = w->pid;
    r->state = !w->ready      ? PM_WORKER_STARTING
               : w->task >= 0 ? PM_WORKER_BUSY
                              : PM_WORKER_IDLE;
    r->job = e != NULL ? e->job : 0;
    r->page = e != NULL && e->a == NULL ? e->page : 0;
    r->started_at = w->started_at;
}

static void on_reported(void *data, int err)
{
    pm__serve_t *s = data;

    s->reporting = 0;
    if (err != 0) {
        if (pm__space_err(err))
            pm__space_lost(s, s->catalog_path); /* logged there */
        else if (!s->wk_failing)
            pm_log(PM_LOG_ERROR, "sched", "workers table: %s",
                   pm_catalog_errmsg(lane_cat(s)));
        s->wk_failing = 1;
        pm_free(s->wk_sent);
    } else {
        s->wk_failing = 0;
        pm_free(s->wk_last);
        s->wk_last = s->wk_sent;
        s->wk_nlast = s->wk_nsent;
        s->wk_written_ms = uv_now(s->loop);
    }
    s->wk_sent = NULL;
    s->wk_nsent = 0;
}

void pm__sched_report_workers(pm__serve_t *s)
{
    size_t n = s->pool != NULL ? pm_pool_workers(s->pool, NULL, 0) : 0;
    pm_pool_worker_t *pw = pm_calloc(n + 1, sizeof(*pw));
    pm_worker_info_t *rows = pm_calloc(n + 1, sizeof(*rows));
    uint64_t now_ms = uv_now(s->loop);
    double load1;

    if (pw == NULL || rows == NULL || s->reporting || s->lane == NULL ||
        s->pool == NULL)
        goto out; /* the next tick tries again */
    n = pm_pool_workers(s->pool, pw, n);
    load1 = pm__host_load1();
    for (size_t i = 0; i < n; i++) {
        worker_row(s, &pw[i], &rows[i]);
        rows[i].load1 = load1;
    }
    if (!s->wk_failing && s->wk_last != NULL && n == s->wk_nlast &&
        pm__worker_rows_equal(rows, s->wk_last, n) &&
        now_ms - s->wk_written_ms < PM__WORKERS_REFRESH_MS)
        goto out;
    s->reporting = 1;
    s->wk_sent = rows;
    s->wk_nsent = n;
    if (pm_worker_report_async(s->lane, s->owner, rows, n, pm__serve_now(),
                               on_reported, s) != 0) {
        s->reporting = 0;
        s->wk_sent = NULL;
        s->wk_nsent = 0;
        goto out;
    }
    rows = NULL;
out:
    pm_free(pw);
    pm_free(rows);
}

void pm__sched_clear_workers(pm__serve_t *s)
{
    /* Not after a drain gave up on the server. Else catwork's session
     * when it has one (idle now: the loop is ending), so a locked session
     * that hangs does not hold the exit. */
    pm_catalog_t *cat = s->cat_hung ? NULL
                        : s->work_cat != NULL && s->work_running == NULL &&
                                pm_catalog_connected(s->work_cat)
                            ? s->work_cat
                            : s->cat;

    if (cat != NULL && s->owner[0] != '\0' && pm_catalog_connected(cat) &&
        pm_worker_report(cat, s->owner, NULL, 0, pm__serve_now()) != 0)
        pm_log(PM_LOG_ERROR, "serve", "clearing the workers table: %s",
               pm_catalog_errmsg(cat));
    pm_free(s->wk_last);
    s->wk_last = NULL;
    s->wk_nlast = 0;
}

/* ---- the tick ---- */

static void on_expired(void *data, int err)
{
    pm__serve_t *s = data;

    s->ticking = 0;
    if (pm__space_err(err))
        pm__space_lost(s, s->catalog_path);
    else if (err != 0)
        pm_log(PM_LOG_ERROR, "sched", "lease expiry: %s",
               pm_catalog_errmsg(lane_cat(s)));
    else if (s->expired_n > 0)
        pm_log(PM_LOG_WARN, "sched", "%d page(s) whose lease lapsed requeued",
               s->expired_n);
    if (s->draining || s->lane == NULL || !pm_catalog_connected(lane_cat(s)))
        return;
    pm__sched_collect(s, NULL, 0);
    record_start(s);
    pm__sched_run(s);
    pm__sched_report_workers(s);
}

static void on_tick(uv_timer_t *t)
{
    pm__serve_t *s = t->data;

    pm__http_tick(s);
    /* A lost session took the coordinator lock along (PostgreSQL): a
     * standby may be the coordinator now. Stop at once and rejoin
     * (serve.c). The hot path's session counts too: an operation that
     * was not answered in time left it unusable. */
    if (!pm_catalog_connected(s->cat) ||
        (s->hot != NULL && !pm_catalog_connected(s->hot))) {
        pm__serve_lost(s);
        return;
    }
    pm__standby_check_lock(s);
    tell_wait(s);
    /* Draining while the catalog does not answer: what it has not
     * recorded cannot be, so the drain stops now (serve.c). */
    if (s->draining &&
        pm_catalog_lane_waiting_ms(s->lane) >= PM__DRAIN_CATALOG_MS) {
        pm__serve_give_up(s, pm_catalog_lane_waiting_ms(s->lane));
        return;
    }
    /* Draining: nothing new starts, but `pagemill status` still sees the
     * workers finishing their pages. */
    if (s->draining) {
        pm__sched_report_workers(s);
        return;
    }
    /* A full volume: only keep the parked pages' leases and look for
     * space now and then. */
    if (pm__space_paused(s)) {
        unpark(s, 0);
        pm__sched_report_workers(s);
        return;
    }
    if (s->ticking || s->lane == NULL)
        return;   /* the last tick's chain still waits for the catalog */
    unpark(s, 0); /* their leases first: they must not lapse below */
    s->ticking = 1;
    if (pm_task_requeue_expired_async(s->lane, pm__serve_now(), s->max_attempts,
                                      &s->expired_n, on_expired, s) != 0)
        s->ticking = 0;
}

int pm__sched_recover(pm__serve_t *s)
{
    int n = pm_publish_sweep_spools(s->output, pm__sched_assembling, s);

    if (n < 0)
        pm_log(PM_LOG_WARN, "serve", "cannot read %s for stale page spools: %s",
               s->output, pm_strerror(n));
    n = 0;

    if (pm_task_requeue_all_running(s->cat, s->owner, pm__serve_now(), &n) !=
        0) {
        pm_log(PM_LOG_ERROR, "serve", "requeue at start: %s",
               pm_catalog_errmsg(s->cat));
        return PM_ECATALOG;
    }
    if (n > 0)
        pm_log(PM_LOG_WARN, "serve",
               "%d page(s) left running by a previous coordinator requeued", n);
    return 0;
}

int pm__sched_start(pm__serve_t *s)
{
    char shown[512];
    int err = 0;

    if (pm_catalog_is_url(s->catalog_path)) {
        err = pm_catalog_open(s->catalog_path, &s->hot);
        if (err != 0) {
            pm_log(PM_LOG_ERROR, "serve",
                   "cannot open a second session on the catalog %s: %s",
                   pm_catalog_shown(s->catalog_path, shown, sizeof(shown)),
                   pm_strerror(err));
            return err;
        }
    }
    err = pm_catalog_lane_new(lane_cat(s), s->loop, PM__HOT_MS, &s->lane);
    if (err != 0) {
        pm_log(PM_LOG_ERROR, "serve", "scheduler: %s", pm_strerror(err));
        return err;
    }
    uv_timer_init(s->loop, &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, on_tick, 0, PM__TICK_MS);
    return 0;
}

void pm__sched_stop(pm__serve_t *s)
{
    if (s->tick.loop != NULL) {
        uv_timer_stop(&s->tick);
        if (!uv_is_closing((uv_handle_t *)&s->tick))
            uv_close((uv_handle_t *)&s->tick, NULL);
    }
}

static void drop_list(pm__inflight_t **list, const char *what)
{
    pm__inflight_t *e;

    while ((e = *list) != NULL) {
        *list = e->next;
        not_recorded(e, what);
        entry_free(e);
    }
}

void pm__sched_pages_close(pm__serve_t *s)
{
    pm_catalog_lane_free(s->lane); /* no callback comes any more */
    s->lane = NULL;
    drop_list(&s->done_run, "result");
    drop_list(&s->done_wait, "result");
    drop_list(&s->failing, "failure");
    pm_free(s->done_v);
    s->done_v = NULL;
    pm_task_list_free(s->claimed, s->nclaimed);
    s->claimed = NULL;
    s->nclaimed = 0;
    pm_free(s->renew_v);
    s->renew_v = NULL;
    s->renew_n = 0;
    pm_free(s->wk_sent);
    s->wk_sent = NULL;
    s->claiming = s->ticking = s->reporting = s->renewing = 0;
    if (s->hot != NULL)
        pm_catalog_close(s->hot); /* never waits on the server */
    s->hot = NULL;
}
