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
 * Items given while one runs wait in a queue. Closing drops the waiting
 * ones (their callbacks are told -ECANCELED); the one running is waited
 * for by the serve's stop (pm__catwork_busy).
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

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

/* The session of the items, opened when needed (on the pool thread). */
static pm_catalog_t *work_catalog(pm__catwork_t *w)
{
    pm__serve_t *s = w->s;
    pm_catalog_t *cat = s->work_cat;
    int err;

    if (cat != NULL && pm_catalog_connected(cat))
        return cat;
    uv_mutex_lock(&s->work_lock);
    pm_catalog_close(cat); /* NULL-safe; never waits on the server */
    s->work_cat = NULL;
    uv_mutex_unlock(&s->work_lock);
    cat = NULL;
    err = pm_catalog_open(s->catalog_path, &cat);
    if (err != 0) {
        w->err = err;
        snprintf(w->msg, sizeof(w->msg), "cannot open the catalog: %s",
                 cat != NULL ? pm_catalog_errmsg(cat) : pm_strerror(err));
        pm_catalog_close(cat);
        return NULL;
    }
    pm_catalog_answer_within(cat, PM__ANSWER_MS);
    uv_mutex_lock(&s->work_lock);
    s->work_cat = cat;
    uv_mutex_unlock(&s->work_lock);
    return cat;
}

static void on_work(uv_work_t *req)
{
    pm__catwork_t *w = req->data;
    pm_catalog_t *cat = work_catalog(w);

    if (cat == NULL)
        return; /* w->err and w->msg say why */
    w->err = w->fn(cat, w->arg);
    if (w->err != 0)
        snprintf(w->msg, sizeof(w->msg), "%s", pm_catalog_errmsg(cat));
}

static void start_next(pm__serve_t *s);

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
    pm__intake_apply_reload(s); /* waits while an item reads s->cfg */
    start_next(s);
    pm__serve_maybe_stop(s);
}

static void start_next(pm__serve_t *s)
{
    pm__catwork_t *w;

    while (s->work_running == NULL && (w = s->work_head) != NULL) {
        s->work_head = w->next;
        if (s->work_head == NULL)
            s->work_tail = NULL;
        w->next = NULL;
        if (uv_queue_work(s->loop, &w->req, on_work, on_after_work) == 0) {
            s->work_running = w;
            return;
        }
        w->done(s, w->arg, PM_ENOMEM, "cannot queue catalog work");
        pm_free(w);
    }
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
    start_next(s);
    return 0;
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
    return s->work_running != NULL;
}

void pm__catwork_interrupt(pm__serve_t *s)
{
    uv_mutex_lock(&s->work_lock);
    if (s->work_running != NULL)
        pm_catalog_interrupt(s->work_cat); /* NULL-safe */
    uv_mutex_unlock(&s->work_lock);
}

void pm__catwork_close(pm__serve_t *s)
{
    pm__catwork_t *w;

    s->work_closed = 1;
    while ((w = s->work_head) != NULL) {
        s->work_head = w->next;
        w->done(s, w->arg, -ECANCELED, "closed");
        pm_free(w);
    }
    s->work_tail = NULL;
    if (s->work_running == NULL) { /* else closed by the serve's end */
        pm_catalog_close(s->work_cat);
        s->work_cat = NULL;
    }
}
