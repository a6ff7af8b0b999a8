/*
 * notify.c: the service's word to systemd (sd_notify(3)) under
 * Type=notify: READY=1 once the workers, hot folders and scheduler run;
 * WATCHDOG=1 every half of WatchdogSec from a timer on the service's own
 * loop, so a loop that hangs stops the pings and systemd restarts the
 * service; STOPPING=1 when it starts to drain. A coordinator that lost
 * its catalog session and re-executed itself (serve.c) keeps its pid, so
 * it stays the unit's main process: it says no STOPPING=1 then (systemd
 * would stop the unit), only a STATUS=, pings the watchdog while it waits
 * for the catalog and the lock, and says READY=1 again once it
 * coordinates. Without $NOTIFY_SOCKET every call does nothing.
 */
#include <stdint.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "pipeline/base/pm.h"
#include "pipeline/serve_int.h"

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

void pm__notify_watchdog(pm__serve_t *s)
{
    uint64_t usec = 0;

    if (s->watchdog_timer.loop != NULL)
        return; /* pinging already */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        uint64_t ms = usec / 2000 > 0 ? usec / 2000 : 1;

        uv_timer_init(s->loop, &s->watchdog_timer);
        s->watchdog_timer.data = s;
        uv_timer_start(&s->watchdog_timer, on_watchdog, 0, ms);
        pm_log(PM_LOG_INFO, "serve", "systemd watchdog: a ping every %llu ms",
               (unsigned long long)ms);
    }
}

void pm__notify_ready(pm__serve_t *s)
{
    int rc;

    pm__notify_watchdog(s);
    rc =
        sd_notifyf(0, "READY=1\nSTATUS=serving %zu hot folder(s)", s->nwatches);
    if (rc < 0)
        pm_log(PM_LOG_WARN, "serve", "cannot tell systemd we are ready: %s",
               strerror(-rc));
}

void pm__notify_stopping(pm__serve_t *s)
{
    (void)s;
    sd_notify(0, "STOPPING=1\nSTATUS=draining");
}

void pm__notify_status(pm__serve_t *s, const char *status)
{
    (void)s;
    sd_notifyf(0, "STATUS=%s", status);
}
