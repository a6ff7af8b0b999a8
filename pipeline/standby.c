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

/* A lost connection: a new handle (the old session's lock attempts
 * held nothing). 0 when there is one to try the lock on. */
static int reconnect(pm__serve_t *s)
{
    char shown[1024];
    int err;

    if (s->cat != NULL && pm_catalog_connected(s->cat))
        return 0;
    pm_catalog_close(s->cat);
    s->cat = NULL;
    err = pm_catalog_open(s->catalog_path, &s->cat);
    if (err == 0) {
        pm_log(PM_LOG_INFO, "serve", "standby: catalog reconnected");
        s->standby_lost = 0;
        return 0;
    }
    if (!s->standby_lost)
        pm_log(PM_LOG_WARN, "serve",
               "standby: catalog %s unreachable: %s; trying again",
               pm_catalog_shown(s->catalog_path, shown, sizeof(shown)),
               pm_strerror(err));
    s->standby_lost = 1;
    s->cat = NULL;
    return err;
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

static void on_poll(uv_timer_t *t)
{
    pm__serve_t *s = t->data;
    char shown[1024];
    long holder = 0;
    int64_t now = pm__serve_now();
    int err;

    if (s->draining || s->stopped || reconnect(s) != 0)
        return;
    err = pm_catalog_lock_coordinator(s->cat, &holder);
    if (err == 0) {
        take_over(s);
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
        report(s, now);
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

void pm__standby_stop(pm__serve_t *s)
{
    uv_handle_t *h = (uv_handle_t *)&s->standby_timer;

    if (h->loop != NULL && !uv_is_closing(h))
        uv_close(h, NULL);
    if (!s->standby)
        return;
    s->standby = 0;
    if (s->cat != NULL && pm_worker_report(s->cat, s->standby_owner, NULL, 0,
                                           pm__serve_now()) != 0)
        pm_log(PM_LOG_WARN, "serve", "standby: cannot clear its row: %s",
               pm_catalog_errmsg(s->cat));
}
