/*
 * intake_watch.c: how intake learns that a hot folder changed, for
 * `pagemill serve` (serve_int.h). Every hot folder is scanned on one
 * timer; a folder with `watch = events` (the default) is also watched
 * with uv_fs_event, whose events ask for a scan soon. A folder with
 * `watch = poll` has no watch at all: a network share (NFS, SMB) may
 * accept one and never report another machine's writes, so the scan is
 * all there is, every `scan_seconds`. Either way a batch in settle mode
 * is taken only once two scans settle_seconds apart see it unchanged
 * (hotfolder.c), which is what keeps a file still being copied out.
 */
#include <stdint.h>

#include "pipeline/base/pm.h"
#include "pipeline/hotfolder.h"
#include "pipeline/serve_int.h"

#define SCAN_MIN_MS 200
#define KICK_MS     200 /* after a filesystem event, let it settle */

static void on_scan_timer(uv_timer_t *t)
{
    pm__intake_request_scan(t->data);
}

static void on_fs_event(uv_fs_event_t *ev, const char *name, int events,
                        int status)
{
    pm__watch_t *w = ev->data;

    (void)name;
    (void)events;
    if (status == 0 && !w->s->draining)
        uv_timer_start(&w->s->kick_timer, on_scan_timer, KICK_MS, 0);
}

static void on_watch_closed(uv_handle_t *h)
{
    pm__watch_t *w = h->data;

    pm_hotfolder_close(w->hf);
    pm_free(w);
}

void pm__watch_close(pm__watch_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        uv_close((uv_handle_t *)&v[i]->ev, on_watch_closed);
    pm_free(v);
}

/* Opens every hot folder of `cfg` into a new array (all or nothing). */
int pm__watch_open(pm__serve_t *s, const pm_config_t *cfg, pm__watch_t ***out)
{
    pm__watch_t **v = pm_calloc(cfg->nhotfolders + 1, sizeof(*v));
    int err = v == NULL ? PM_ENOMEM : 0;
    size_t i;

    *out = NULL;
    for (i = 0; err == 0 && i < cfg->nhotfolders; i++) {
        const pm_hotfolder_cfg_t *hc = &cfg->hotfolders[i];

        v[i] = pm_calloc(1, sizeof(**v));
        if (v[i] == NULL) {
            err = PM_ENOMEM;
            break;
        }
        v[i]->s = s;
        err = pm_hotfolder_open(cfg, hc, &v[i]->hf);
        if (err != 0) {
            pm_log(PM_LOG_ERROR, "intake", "hot folder %s: cannot open %s: %s",
                   hc->name, hc->path, pm_strerror(err));
            pm_free(v[i]);
            v[i] = NULL;
            break;
        }
        uv_fs_event_init(s->loop, &v[i]->ev);
        v[i]->ev.data = v[i];
    }
    if (err != 0 && v != NULL) {
        pm__watch_close(v, i);
        return err;
    }
    *out = v;
    return 0;
}

/* A hot folder's scan period: its scan_seconds, else 2 s or half its
 * settle time if smaller. */
static uint64_t folder_period(const pm_hotfolder_cfg_t *h)
{
    uint64_t half = (uint64_t)h->settle_seconds * 500;

    if (h->scan_seconds > 0)
        return (uint64_t)h->scan_seconds * 1000;
    return half < PM_DEFAULT_SCAN_MS ? half : PM_DEFAULT_SCAN_MS;
}

/* The timer's period: the shortest of the folders' (one scan covers them
 * all). */
static uint64_t scan_period(const pm_config_t *cfg)
{
    uint64_t ms = PM_DEFAULT_SCAN_MS;

    for (size_t i = 0; i < cfg->nhotfolders; i++) {
        uint64_t p = folder_period(&cfg->hotfolders[i]);

        if (i == 0 || p < ms)
            ms = p;
    }
    return ms < SCAN_MIN_MS ? SCAN_MIN_MS : ms;
}

void pm__watch_start(pm__serve_t *s)
{
    uint64_t period = scan_period(s->cfg);

    for (size_t i = 0; i < s->nwatches; i++) {
        pm__watch_t *w = s->watches[i];
        const pm_hotfolder_cfg_t *h = pm_hotfolder_cfg(w->hf);
        const char *path = h->path;
        int err;

        if (h->poll) {
            w->ev_started = 0;
            pm_log(PM_LOG_INFO, "intake",
                   "hot folder %s: watch = poll: no change events; scanning "
                   "every %llu ms",
                   h->name, (unsigned long long)period);
            continue;
        }
        err = uv_fs_event_start(&w->ev, on_fs_event, path, 0);
        w->ev_started = err == 0;
        if (err != 0)
            pm_log(PM_LOG_WARN, "intake",
                   "hot folder %s: no change events for %s (%s); scanning "
                   "every %llu ms",
                   pm_hotfolder_cfg(w->hf)->name, path, uv_strerror(err),
                   (unsigned long long)period);
    }
    uv_timer_start(&s->scan_timer, on_scan_timer, 0, period);
}

void pm__intake_stop(pm__serve_t *s)
{
    if (s->scan_timer.loop == NULL)
        return; /* never started */
    uv_timer_stop(&s->scan_timer);
    uv_timer_stop(&s->kick_timer);
    for (size_t i = 0; i < s->nwatches; i++)
        if (s->watches[i]->ev_started)
            uv_fs_event_stop(&s->watches[i]->ev);
}

void pm__intake_apply_reload(pm__serve_t *s)
{
    pm_config_t *cfg = s->pending_cfg;
    pm__watch_t **v;

    if (cfg == NULL || s->stopped || pm__intake_busy(s) ||
        pm__catwork_running(s))
        return; /* their threads read s->cfg */
    s->pending_cfg = NULL;
    if (pm__watch_open(s, cfg, &v) != 0) {
        pm_log(PM_LOG_ERROR, "serve",
               "reload of %s: keeping the old configuration", s->config_path);
        pm_config_free(cfg);
        return;
    }
    pm__intake_stop(s);
    pm__watch_close(s->watches, s->nwatches);
    pm_config_free(s->cfg);
    s->cfg = cfg;
    s->watches = v;
    s->nwatches = cfg->nhotfolders;
    if (!s->draining)
        pm__watch_start(s);
    pm__serve_rewarm(s);
    pm_log(PM_LOG_INFO, "serve",
           "configuration reloaded from %s: %zu profile(s), %zu hot "
           "folder(s)",
           s->config_path, cfg->nprofiles, cfg->nhotfolders);
}
