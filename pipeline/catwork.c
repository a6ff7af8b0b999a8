/*
 * catwork.c: the coordinator's catalog work off its loop (serve_int.h,
 * "catwork").
 *
 * Catalog calls with rules between them, which the lane (catalog.h) does
 * not run, are given as items: a function run on libuv's thread pool
 * with the catalog handle, then a callback on the loop with its result.
 * Items run one at a time, in the order given, on a session of their own
 * (s->work_cat: opened at the first item and again after it was lost,
 * each call bounded by PM__ANSWER_MS), so a catalog that answers slowly,
 * or not at all, delays the work and never the loop: its timers, signals
 * and web interface go on.
 *
 * Items given while one runs wait in a queue. The serve's stop waits for
 * the running and the waiting ones (pm__catwork_busy); a stop that gives
 * up, and closing, drop the waiting ones (their callbacks are told
 * -ECANCELED), and the one running is interrupted.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/base/pm.h"
#include "pipeline/serve_int.h"

struct pm__catwork {
    uv_work_t req;
    pm__serve_t *s;
    pm__catwork_fn fn;
    pm__catwork_done_fn done;
    void *arg;
    int err;
    char msg[512]; /* the catalog's message when err != 0 */
    pm__catwork_t *next;
};

pm_catalog_t *pm__session_open(pm__serve_t *s, pm_catalog_t **slot,
                               uv_mutex_t *lock, char *msg, size_t size)
{
    pm_catalog_t *cat = *slot;
    char shown[1024];
    int err;

    if (cat != NULL && pm_catalog_connected(cat))
        return cat;
    if (lock != NULL)
        uv_mutex_lock(lock);
    pm_catalog_close(cat); /* NULL-safe; never waits on the server */
    *slot = NULL;
    if (lock != NULL)
        uv_mutex_unlock(lock);
    cat = NULL;
    err = pm_catalog_open(s->catalog_path, &cat);
    if (err != 0) {
        snprintf(msg, size, "cannot open the catalog %s: %s",
                 pm_catalog_shown(s->catalog_path, shown, sizeof(shown)),
                 cat != NULL ? pm_catalog_errmsg(cat) : pm_strerror(err));
        pm_catalog_close(cat);
        return NULL;
    }
    pm_catalog_answer_within(cat, PM__ANSWER_MS);
    if (lock != NULL)
        uv_mutex_lock(lock);
    *slot = cat;
    if (lock != NULL)
        uv_mutex_unlock(lock);
    return cat;
}

#ifdef PM_TEST_HOOKS
/* Test hook (test builds only): PAGEMILL_TEST_CATWORK_MS makes every item
 * take at least that long, as a catalog that answers slowly would, so
 * that items wait behind each other. */
static void test_slow(void)
{
    const char *ms = getenv("PAGEMILL_TEST_CATWORK_MS");

    if (ms != NULL && atol(ms) > 0)
        usleep((useconds_t)atol(ms) * 1000u);
}
#else
#define test_slow() ((void)0)
#endif

static void on_work(uv_work_t *req)
{
    pm__catwork_t *w = req->data;
    pm__serve_t *s = w->s;
    pm_catalog_t *cat = pm__session_open(s, &s->work_cat, &s->work_lock, w->msg,
                                         sizeof(w->msg));

    if (cat == NULL) {
        w->err = PM_ECATALOG;
        return; /* w->msg says why */
    }
    test_slow();
    w->err = w->fn(cat, w->arg);
    if (w->err != 0)
        snprintf(w->msg, sizeof(w->msg), "%s", pm_catalog_errmsg(cat));
}

static int start_next(pm__serve_t *s, const pm__catwork_t *given);

static void on_after_work(uv_work_t *req, int status)
{
    pm__catwork_t *w = req->data;
    pm__serve_t *s = w->s;

    assert(s->work_running == w);
    s->work_running = NULL;
    if (status == UV_ECANCELED && w->err == 0)
        w->err = -ECANCELED;
    w->done(s, w->arg, w->err, w->msg);
    pm_free(w);
    if (s->stopped)
        return;                 /* the callback's stop closed everything */
    pm__intake_apply_reload(s); /* waits while an item reads s->cfg */
    start_next(s, NULL);
    pm__serve_maybe_stop(s);
}

/* Starts the next waiting item when none runs. An item that cannot be
 * queued is told so through its callback, except `given` (the one just
 * given): its giver is told by the return value instead, so that no
 * callback runs within pm__catwork_give. */
static int start_next(pm__serve_t *s, const pm__catwork_t *given)
{
    pm__catwork_t *w;

    while (s->work_running == NULL && (w = s->work_head) != NULL) {
        s->work_head = w->next;
        if (s->work_head == NULL)
            s->work_tail = NULL;
        w->next = NULL;
        if (uv_queue_work(s->loop, &w->req, on_work, on_after_work) == 0) {
            s->work_running = w;
            return 0;
        }
        if (w == given) {
            pm_free(w);
            return PM_ENOMEM;
        }
        w->done(s, w->arg, PM_ENOMEM, "cannot queue catalog work");
        pm_free(w);
    }
    return 0;
}

int pm__catwork_give(pm__serve_t *s, pm__catwork_fn fn,
                     pm__catwork_done_fn done, void *arg)
{
    pm__catwork_t *w;

    assert(fn != NULL && done != NULL);
    if (s->work_closed)
        return -ECANCELED;
    w = pm_calloc(1, sizeof(*w));
    if (w == NULL)
        return PM_ENOMEM;
    w->req.data = w;
    w->s = s;
    w->fn = fn;
    w->done = done;
    w->arg = arg;
    if (s->work_tail != NULL)
        s->work_tail->next = w;
    else
        s->work_head = w;
    s->work_tail = w;
    return start_next(s, w);
}

int pm__catwork_waiting(const pm__serve_t *s, const void *arg)
{
    for (const pm__catwork_t *w = s->work_head; w != NULL; w = w->next)
        if (w->arg == arg)
            return 1;
    return 0;
}

int pm__catwork_busy(const pm__serve_t *s)
{
    return s->work_running != NULL || s->work_head != NULL;
}

int pm__catwork_running(const pm__serve_t *s)
{
    return s->work_running != NULL;
}

/* Drops the waiting items: their callbacks are told -ECANCELED. */
static void drop_waiting(pm__serve_t *s)
{
    pm__catwork_t *w;

    while ((w = s->work_head) != NULL) {
        s->work_head = w->next;
        if (s->work_head == NULL)
            s->work_tail = NULL;
        w->done(s, w->arg, -ECANCELED, "stopped");
        pm_free(w);
    }
}

void pm__catwork_interrupt(pm__serve_t *s)
{
    drop_waiting(s);
    uv_mutex_lock(&s->work_lock);
    if (s->work_running != NULL)
        pm_catalog_interrupt(s->work_cat); /* NULL-safe */
    uv_mutex_unlock(&s->work_lock);
}

void pm__catwork_close(pm__serve_t *s)
{
    s->work_closed = 1;
    drop_waiting(s);
}

/* ---- an event, recorded off the loop ---- */

typedef struct {
    char *actor, *kind, *detail, *what;
    int64_t job;
} event_item_t;

static void event_free(event_item_t *e)
{
    pm_free(e->actor);
    pm_free(e->kind);
    pm_free(e->detail);
    pm_free(e->what);
    pm_free(e);
}

static int event_work(pm_catalog_t *cat, void *arg)
{
    event_item_t *e = arg;

    return pm_event_add(cat, e->actor, e->kind, e->job, 0, e->detail);
}

static void event_done(pm__serve_t *s, void *arg, int err, const char *msg)
{
    event_item_t *e = arg;

    (void)s;
    if (err != 0)
        pm_log(PM_LOG_ERROR, e->what, "cannot record event %s: %s", e->kind,
               err == -ECANCELED ? "stopped before it was recorded" : msg);
    event_free(e);
}

void pm__catwork_event(pm__serve_t *s, const char *what, const char *actor,
                       const char *kind, int64_t job, const char *detail)
{
    event_item_t *e = pm_calloc(1, sizeof(*e));
    int err = PM_ENOMEM;

    if (e != NULL) {
        e->actor = pm_strdup(actor);
        e->kind = pm_strdup(kind);
        e->detail = pm_strdup(detail);
        e->what = pm_strdup(what);
        e->job = job;
        if (e->actor && e->kind && e->detail && e->what)
            err = pm__catwork_give(s, event_work, event_done, e);
    }
    if (err != 0) {
        pm_log(PM_LOG_ERROR, what, "cannot record event %s: %s", kind,
               err == -ECANCELED ? "the service is stopping"
                                 : pm_strerror(err));
        if (e != NULL)
            event_free(e);
    }
}
