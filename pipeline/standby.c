/*
 * standby.c: a second `pagemill serve` on a PostgreSQL catalog waits
 * (serve_int.h). The catalog's one coordinator holds the coordinator lock
 * (a session advisory lock, pm_catalog_lock_coordinator); a coordinator
 * that finds it held becomes a standby: it runs nothing (no intake, no
 * claims, no assembly, no web interface), tries the lock again every
 * PM__STANDBY_POLL_MS on a timer of the loop (pg_try_advisory_lock never
 * blocks), and the moment it gets it (the active coordinator stopped,
 * or died and PostgreSQL ended its session), does the whole coordinator
 * start: identity, recovery, workers, intake, scheduler, assembly.
 *
 * While it waits it writes one row in the workers table under the owner
 * "standby:<host>:<pid>", so `pagemill status` lists it. A lost
 * connection is opened again at the next poll. An SQLite catalog keeps
 * refusing a second coordinator: one machine, one coordinator.
 *
 * The same path brings back a coordinator that lost its session (serve.c
 * re-executed it with --rejoin): it opens the catalog from a timer,
 * PM__REJOIN_FIRST_MS after each failure doubling up to PM__REJOIN_MAX_MS,
 * each try and what failed in the log, then takes the lock if it is free
 * (recovery requeues the pages it left running) or waits as a standby.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/base/pm.h"
#include "pipeline/serve_int.h"

/* Seconds between rewrites of the standby's row (status drops a row
 * older than 30 s). */
#define STANDBY_REPORT_S 10

static void report(pm__serve_t *s, int64_t now)
{
    pm_worker_info_t w = {.slot = 0,
                          .pid = (int)getpid(),
                          .state = PM_WORKER_IDLE,
                          .started_at = s->standby_started};

    if (pm_worker_report(s->cat, s->standby_owner, &w, 1, now) != 0)
        pm_log(PM_LOG_WARN, "serve", "standby: cannot write its row: %s",
               pm_catalog_errmsg(s->cat));
    s->standby_reported = now;
}

static void log_holder(const pm__serve_t *s, char *shown, size_t size)
{
    char who[64] = "of unknown pid";

    if (s->standby_holder > 0)
        snprintf(who, sizeof(who), "pagemill:%ld", s->standby_holder);
    pm_log(PM_LOG_INFO, "serve",
           "standby: the catalog %s is held by coordinator %s; waiting to "
           "take over when it stops (trying every %d ms)",
           pm_catalog_shown(s->catalog_path, shown, size), who,
           PM__STANDBY_POLL_MS);
}

static void take_over(pm__serve_t *s)
{
    uint64_t waited = uv_now(s->loop) - s->standby_since;

    uv_timer_stop(&s->standby_timer);
    if (pm_worker_report(s->cat, s->standby_owner, NULL, 0, pm__serve_now()) !=
        0)
        pm_log(PM_LOG_WARN, "serve", "standby: cannot clear its row: %s",
               pm_catalog_errmsg(s->cat));
    s->standby = 0;
    pm_log(PM_LOG_INFO, "serve",
           "standby: the coordinator lock is free (its holder is gone) after "
           "%.1f s on standby; taking over as %s",
           (double)waited / 1000.0, s->owner);
    pm__serve_activate(s);
}

/* The lock's try answered (or not). */
static void on_locked(void *data, int err, long holder)
{
    pm__serve_t *s = data;
    char shown[1024];
    int64_t now = pm__serve_now();

    s->standby_op = NULL;
    if (s->draining || s->stopped)
        return;
    if (err == 0) {
        take_over(s);
        return;
    }
    if (err == -ETIMEDOUT || !pm_catalog_connected(s->cat)) {
        pm_log(PM_LOG_WARN, "serve",
               "standby: the lock's try on the catalog %s failed: %s; "
               "connecting again",
               pm_catalog_shown(s->catalog_path, shown, sizeof(shown)),
               pm_catalog_errmsg(s->cat));
        pm_catalog_close(s->cat); /* never waits on the server */
        s->cat = NULL;
        return;
    }
    if (err != -EBUSY) {
        pm_log(PM_LOG_WARN, "serve", "standby: the coordinator lock: %s",
               pm_catalog_errmsg(s->cat));
        return;
    }
    if (holder != s->standby_holder) {
        s->standby_holder = holder;
        log_holder(s, shown, sizeof(shown));
    }
    if (now - s->standby_reported >= STANDBY_REPORT_S)
        report(s, now); /* the server answered a moment ago */
}

static void try_lock(pm__serve_t *s)
{
    int err = pm_catalog_lock_coordinator_async(
        s->cat, s->loop, PM__STANDBY_ANSWER_MS, on_locked, s, &s->standby_op);

    if (err != 0)
        pm_log(PM_LOG_WARN, "serve", "standby: the coordinator lock: %s",
               pm_strerror(err));
}

/* A new connection made (or not): the lock is tried on it at once. */
static void on_opened(void *data, int err, pm_catalog_t *cat, const char *why)
{
    pm__serve_t *s = data;
    char shown[1024];

    s->standby_op = NULL;
    if (err != 0) {
        if (!s->standby_lost)
            pm_log(PM_LOG_WARN, "serve",
                   "standby: catalog %s unreachable: %s; trying again",
                   pm_catalog_shown(s->catalog_path, shown, sizeof(shown)),
                   why);
        s->standby_lost = 1;
        return;
    }
    s->cat = cat;
    /* its synchronous calls (the standby's row) bounded too */
    pm_catalog_answer_within(cat, PM__ANSWER_MS);
    pm_log(PM_LOG_INFO, "serve", "standby: catalog reconnected");
    s->standby_lost = 0;
    if (!s->draining && !s->stopped)
        try_lock(s);
}

/* Every PM__STANDBY_POLL_MS: a lost connection opened again (the old
 * session's tries held nothing), else the lock tried; neither waits on
 * the server, and one runs at a time. */
static void on_poll(uv_timer_t *t)
{
    pm__serve_t *s = t->data;
    int err;

    if (s->draining || s->stopped || s->standby_op != NULL)
        return;
    if (s->cat != NULL && pm_catalog_connected(s->cat)) {
        try_lock(s);
        return;
    }
    pm_catalog_close(s->cat);
    s->cat = NULL;
    err =
        pm_catalog_open_async(s->loop, s->catalog_path, PM__STANDBY_CONNECT_MS,
                              on_opened, s, &s->standby_op);
    if (err != 0)
        pm_log(PM_LOG_WARN, "serve", "standby: reconnecting: %s",
               pm_strerror(err));
}

int pm__standby_start(pm__serve_t *s, long holder)
{
    const char *host = s->owner + strlen(PM_COORDINATOR_OWNER);
    char shown[1024];

    assert(strncmp(s->owner, PM_COORDINATOR_OWNER,
                   strlen(PM_COORDINATOR_OWNER)) == 0);
    snprintf(s->standby_owner, sizeof(s->standby_owner), "standby:%s", host);
    s->standby = 1;
    s->standby_holder = holder;
    s->standby_since = uv_now(s->loop);
    s->standby_started = pm__serve_now();
    log_holder(s, shown, sizeof(shown));
    report(s, s->standby_started);
    uv_timer_init(s->loop, &s->standby_timer);
    s->standby_timer.data = s;
    uv_timer_start(&s->standby_timer, on_poll, PM__STANDBY_POLL_MS,
                   PM__STANDBY_POLL_MS);
    return 0;
}

static void on_rejoin(uv_timer_t *t);

/* A try failed (logged by the catalog, or here): the next one later. */
static void rejoin_later(pm__serve_t *s, const char *why)
{
    char shown[1024];

    pm_log(PM_LOG_WARN, "serve",
           "rejoin: attempt %d to reach the catalog %s failed (%s); trying "
           "again in %u ms",
           s->rejoin_tries,
           pm_catalog_shown(s->catalog_path, shown, sizeof(shown)), why,
           s->rejoin_backoff_ms);
    uv_timer_start(&s->rejoin_timer, on_rejoin, s->rejoin_backoff_ms, 0);
    s->rejoin_backoff_ms = s->rejoin_backoff_ms * 2 > PM__REJOIN_MAX_MS
                               ? PM__REJOIN_MAX_MS
                               : s->rejoin_backoff_ms * 2;
}

static void on_rejoin_locked(void *data, int err, long holder)
{
    pm__serve_t *s = data;
    char why[600];

    s->standby_op = NULL;
    if (s->draining || s->stopped)
        return;
    if (err == 0 || err == -EBUSY) {
        pm__serve_rejoined(s, err, holder);
        return;
    }
    snprintf(why, sizeof(why), "the coordinator lock: %s",
             pm_catalog_errmsg(s->cat));
    pm_catalog_close(s->cat);
    s->cat = NULL;
    rejoin_later(s, why);
}

static void on_rejoin_opened(void *data, int err, pm_catalog_t *cat,
                             const char *why)
{
    pm__serve_t *s = data;
    char shown[1024];

    s->standby_op = NULL;
    if (err != 0) {
        rejoin_later(s, pm_strerror(err));
        return;
    }
    (void)why; /* logged by the catalog */
    s->cat = cat;
    /* its synchronous calls (the standby's row) bounded too */
    pm_catalog_answer_within(cat, PM__ANSWER_MS);
    pm_log(PM_LOG_INFO, "serve",
           "rejoin: reconnected to the catalog %s after %d attempt(s)",
           pm_catalog_shown(s->catalog_path, shown, sizeof(shown)),
           s->rejoin_tries);
    err = pm_catalog_lock_coordinator_async(
        s->cat, s->loop, PM__STANDBY_ANSWER_MS, on_rejoin_locked, s,
        &s->standby_op);
    if (err != 0) {
        pm_catalog_close(s->cat);
        s->cat = NULL;
        rejoin_later(s, pm_strerror(err));
    }
}

static void on_rejoin(uv_timer_t *t)
{
    pm__serve_t *s = t->data;
    int err;

    if (s->draining || s->stopped)
        return;
    s->rejoin_tries++;
    err =
        pm_catalog_open_async(s->loop, s->catalog_path, PM__STANDBY_CONNECT_MS,
                              on_rejoin_opened, s, &s->standby_op);
    if (err != 0)
        rejoin_later(s, pm_strerror(err));
}

void pm__standby_rejoin(pm__serve_t *s)
{
    char shown[1024];

    pm_log(PM_LOG_INFO, "serve",
           "rejoin: this coordinator lost its catalog session; reconnecting "
           "to %s, then coordinating if the lock is free, else waiting as a "
           "standby",
           pm_catalog_shown(s->catalog_path, shown, sizeof(shown)));
    pm__notify_status(s, "reconnecting to the catalog");
    s->rejoin_backoff_ms = PM__REJOIN_FIRST_MS;
    uv_timer_init(s->loop, &s->rejoin_timer);
    s->rejoin_timer.data = s;
    uv_timer_start(&s->rejoin_timer, on_rejoin, 0, 0);
}

/* ---- the active coordinator's own lock ---- */

static void on_lock_checked(void *data, int err, long holder)
{
    pm__serve_t *s = data;

    (void)holder;
    s->standby_op = NULL;
    s->lock_checked_ms = uv_now(s->loop);
    if (err == 0 || s->stopped || s->lost)
        return;
    pm_log(PM_LOG_ERROR, "serve", "checking the coordinator lock: %s",
           pm_catalog_errmsg(s->cat));
    pm__serve_lost(s);
}

void pm__standby_check_lock(pm__serve_t *s)
{
    int err;

    /* during a drain too: its job ends and replacements are recorded
     * while it lasts, and must not be beside a standby's work */
    if (s->standby || s->stopped || s->lost || s->standby_op != NULL ||
        !pm_catalog_is_url(s->catalog_path) ||
        uv_now(s->loop) - s->lock_checked_ms < PM__LOCK_CHECK_MS)
        return;
    err = pm_catalog_lock_check_async(s->cat, s->loop, PM__ANSWER_MS,
                                      on_lock_checked, s, &s->standby_op);
    if (err != 0)
        pm_log(PM_LOG_WARN, "serve", "checking the coordinator lock: %s",
               pm_strerror(err));
}

void pm__standby_stop(pm__serve_t *s)
{
    uv_handle_t *h = (uv_handle_t *)&s->standby_timer;

    pm_catalog_async_cancel(s->standby_op); /* a query under way: broken */
    s->standby_op = NULL;
    if (h->loop != NULL && !uv_is_closing(h))
        uv_close(h, NULL);
    h = (uv_handle_t *)&s->rejoin_timer;
    if (h->loop != NULL && !uv_is_closing(h))
        uv_close(h, NULL);
    if (!s->standby)
        return;
    s->standby = 0;
    if (s->cat != NULL && pm_catalog_connected(s->cat) &&
        pm_worker_report(s->cat, s->standby_owner, NULL, 0, pm__serve_now()) !=
            0)
        pm_log(PM_LOG_WARN, "serve", "standby: cannot clear its row: %s",
               pm_catalog_errmsg(s->cat));
}
