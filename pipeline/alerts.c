/*
 * alerts.c: [alerts] without Prometheus (docs/alerts.md). A job that
 * failed, a batch rejected at intake, pages outstanding with none
 * finished for stall_minutes, a spool or output volume below
 * min_free_mb, and worker_restarts restarts within ten minutes each run
 * the configured command (/bin/sh -c) with the alert as one JSON object
 * on its stdin. The same alert (kind and subject) runs at most once per
 * repeat_minutes; each one that runs is an "alert.<kind>" event in the
 * catalog. The command runs beside the loop (uv_spawn, a pipe for its
 * stdin); one that outlives COMMAND_TIMEOUT_MS is killed. The loop never
 * waits for it.
 */
#include <assert.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>

#include "pipeline/base/pm.h"
#include "pipeline/serve_int.h"

#define CHECK_MS           5000  /* how often conditions are looked at */
#define COMMAND_TIMEOUT_MS 60000 /* a command running longer is killed */
#define RESTART_WINDOW_S   (10 * 60)
#define MAX_RUNNING        4   /* commands at once; more are dropped */
#define MAX_RECENT         256 /* alerts remembered for repeat_minutes */

typedef struct recent {
    char key[160]; /* kind '\0'-free "kind:subject" */
    int64_t at;
} recent_t;

typedef struct run run_t;

typedef struct pm__alerts {
    pm__serve_t *s;
    uv_timer_t timer;
    int timer_open;
    int stopping;
    run_t *running; /* commands under way */
    int nrunning;
    recent_t recent[MAX_RECENT];
    size_t nrecent;
    uint64_t progress_ms;    /* uv_now of the last page finished (or start) */
    int stall_asking;        /* the stall check's question is with catwork */
    long long restarts_seen; /* the pool's restart count at the last check */
    int handles;             /* open handles, the timer's included */
} pm__alerts_t;

/* One command: its process, the pipe to its stdin and a kill timer. */
struct run {
    pm__alerts_t *a;
    run_t *next;
    uv_process_t proc;
    uv_pipe_t in;
    uv_timer_t timeout;
    uv_write_t wr;
    char *json;
    char kind[32];
    int open; /* handles of this run still open */
};

static void alerts_release(pm__alerts_t *a)
{
    assert(a->handles > 0);
    if (--a->handles == 0 && a->stopping)
        pm_free(a);
}

/* ---- running the command ---- */

static void run_unlink(run_t *r)
{
    pm__alerts_t *a = r->a;

    for (run_t **p = &a->running; *p != NULL; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            a->nrunning--;
            return;
        }
}

static void on_run_closed(uv_handle_t *h)
{
    run_t *r = h->data;

    if (--r->open > 0)
        return;
    pm_free(r->json);
    alerts_release(r->a);
    pm_free(r);
}

static void run_close(run_t *r)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&r->proc, (uv_handle_t *)&r->in,
                         (uv_handle_t *)&r->timeout};

    run_unlink(r);
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
        if (!uv_is_closing(hs[i]))
            uv_close(hs[i], on_run_closed);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    run_t *r = p->data;

    if (status != 0 || sig != 0)
        pm_log(PM_LOG_WARN, "alerts",
               "alert %s: the command exited with status %lld%s%s", r->kind,
               (long long)status, sig ? ", signal " : "",
               sig ? strsignal(sig) : "");
    run_close(r);
}

static void on_timeout(uv_timer_t *t)
{
    run_t *r = t->data;

    pm_log(PM_LOG_WARN, "alerts",
           "alert %s: the command ran for %d s; killing it", r->kind,
           COMMAND_TIMEOUT_MS / 1000);
    uv_process_kill(&r->proc, SIGKILL);
}

static void on_written(uv_write_t *w, int status)
{
    run_t *r = w->data;

    if (status != 0)
        pm_log(PM_LOG_WARN, "alerts",
               "alert %s: cannot write to the command: %s", r->kind,
               uv_strerror(status));
    if (!uv_is_closing((uv_handle_t *)&r->in))
        uv_close((uv_handle_t *)&r->in, on_run_closed);
}

/* Starts the command with `json` (taken) on its stdin. */
static void run_command(pm__alerts_t *a, const char *kind, char *json)
{
    const char *cmd = a->s->cfg->alerts.command;
    char sh[] = "/bin/sh", c[] = "-c";
    char *args[] = {sh, c, (char *)cmd, NULL};
    uv_stdio_container_t io[3];
    uv_process_options_t po = {0};
    run_t *r = pm_calloc(1, sizeof(*r));
    uv_buf_t buf;
    int err;

    if (r == NULL) {
        pm_free(json);
        return;
    }
    r->a = a;
    r->json = json;
    snprintf(r->kind, sizeof(r->kind), "%s", kind);
    uv_pipe_init(a->s->loop, &r->in, 0);
    uv_timer_init(a->s->loop, &r->timeout);
    r->in.data = r->timeout.data = r->proc.data = r->wr.data = r;
    r->open = 3;
    a->handles++;
    io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    io[0].data.stream = (uv_stream_t *)&r->in;
    io[1].flags = io[2].flags = UV_INHERIT_FD;
    io[1].data.fd = 2; /* its output goes to the service's log */
    io[2].data.fd = 2;
    po.file = args[0];
    po.args = args;
    po.stdio = io;
    po.stdio_count = 3;
    po.exit_cb = on_exit_cb;
    err = uv_spawn(a->s->loop, &r->proc, &po);
    r->next = a->running;
    a->running = r;
    a->nrunning++;
    if (err != 0) {
        pm_log(PM_LOG_ERROR, "alerts", "alert %s: cannot run '%s': %s", kind,
               cmd, uv_strerror(err));
        run_close(r); /* uv_spawn set up the handle even so */
        return;
    }
    uv_timer_start(&r->timeout, on_timeout, COMMAND_TIMEOUT_MS, 0);
    buf = uv_buf_init(r->json, (unsigned)strlen(r->json));
    if (uv_write(&r->wr, (uv_stream_t *)&r->in, &buf, 1, on_written) != 0)
        uv_close((uv_handle_t *)&r->in, on_run_closed);
}

/* ---- raising an alert ---- */

/* True when the same alert ran within repeat_minutes (else remembers it
 * now). */
static int repeated(pm__alerts_t *a, const char *kind, const char *subject,
                    int64_t now)
{
    int64_t window = (int64_t)a->s->cfg->alerts.repeat_minutes * 60;
    char key[sizeof(a->recent[0].key)];
    size_t oldest = 0;

    snprintf(key, sizeof(key), "%s:%s", kind, subject);
    for (size_t i = 0; i < a->nrecent; i++) {
        if (strcmp(a->recent[i].key, key) == 0) {
            if (now - a->recent[i].at < window)
                return 1;
            a->recent[i].at = now;
            return 0;
        }
        if (a->recent[i].at < a->recent[oldest].at)
            oldest = i;
    }
    if (a->nrecent < MAX_RECENT)
        oldest = a->nrecent++;
    snprintf(a->recent[oldest].key, sizeof(a->recent[oldest].key), "%s", key);
    a->recent[oldest].at = now;
    return 0;
}

static char *alert_json(pm__serve_t *s, const char *kind, const char *subject,
                        int64_t job, const char *message)
{
    char at[32], host[256] = "";
    json_t *o;
    char *text;

    pm_utc_iso8601(at);
    if (gethostname(host, sizeof(host) - 1) != 0)
        host[0] = '\0';
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "alert", kind, "subject",
                  subject, "message", message, "at", at, "host", host,
                  "catalog", s->catalog_id);
    if (o != NULL && job > 0)
        json_object_set_new(o, "job", json_integer(job));
    text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text == NULL)
        return NULL;
    char *line = pm_asprintf("%s\n", text);
    free(text);
    return line;
}

void pm__alert(pm__serve_t *s, const char *kind, const char *subject,
               int64_t job, const char *fmt, ...)
{
    pm__alerts_t *a = s->alerts;
    int64_t now = pm__serve_now();
    char raw[4096], message[PM_ESCAPED_MAX], event[32], *detail, *json;
    va_list ap;

    if (a == NULL || a->stopping || repeated(a, kind, subject, now))
        return;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    pm_escape_name(raw, message, sizeof(message)); /* one line, UTF-8 */
    snprintf(event, sizeof(event), "alert.%s", kind);
    detail = pm_asprintf("%s: %s", subject, message);
    if (detail != NULL) /* off the loop; a failure is logged */
        pm__catwork_event(s, "alerts", s->owner, event, job, detail);
    else
        pm_log(PM_LOG_ERROR, "alerts", "cannot record alert %s: %s", kind,
               pm_strerror(PM_ENOMEM));
    pm_free(detail);
    if (a->nrunning >= MAX_RUNNING) {
        pm_log(PM_LOG_ERROR, "alerts",
               "alert %s (%s) not sent: %d alert commands still running", kind,
               subject, a->nrunning);
        return;
    }
    json = alert_json(s, kind, subject, job, message);
    if (json == NULL)
        return;
    pm_log(PM_LOG_WARN, "alerts", "alert %s: %s: %s", kind, subject, message);
    run_command(a, kind, json);
}

void pm__alerts_progress(pm__serve_t *s)
{
    if (s->alerts != NULL)
        s->alerts->progress_ms = uv_now(s->loop);
}

/* ---- the periodic conditions ---- */

typedef struct {
    pm_status_t st;
} stall_t;

static int stall_work(pm_catalog_t *cat, void *arg)
{
    stall_t *q = arg;

    return pm_catalog_status(cat, pm__serve_now(), &q->st);
}

/* The catalog's answer: stalled when pages wait and none finished since
 * the question (the alerts may have stopped since: s->alerts NULL). */
static void stall_done(pm__serve_t *s, void *arg, int err, const char *msg)
{
    stall_t *q = arg;
    pm__alerts_t *a = s->alerts;
    uint64_t limit;

    (void)msg;
    if (a != NULL)
        a->stall_asking = 0;
    if (a == NULL || a->stopping || err != 0)
        goto out;
    limit = (uint64_t)s->cfg->alerts.stall_minutes * 60000u;
    if (limit == 0 || uv_now(s->loop) - a->progress_ms < limit)
        goto out; /* a page finished meanwhile */
    if (q->st.queued_pages + q->st.running_pages == 0) {
        a->progress_ms = uv_now(s->loop); /* idle is not stalled */
        goto out;
    }
    pm__alert(s, "queue_stalled", "queue", 0,
              "%lld page(s) queued and %lld running, none finished for %d "
              "minute(s)",
              (long long)q->st.queued_pages, (long long)q->st.running_pages,
              s->cfg->alerts.stall_minutes);
out:
    pm_free(q);
}

/* No page finished for stall_minutes: whether pages wait is asked of the
 * catalog off the loop (catwork.c). */
static void check_stall(pm__alerts_t *a)
{
    pm__serve_t *s = a->s;
    uint64_t limit = (uint64_t)s->cfg->alerts.stall_minutes * 60000u;
    stall_t *q;

    if (limit == 0 || uv_now(s->loop) - a->progress_ms < limit ||
        a->stall_asking || (q = pm_calloc(1, sizeof(*q))) == NULL)
        return;
    if (pm__catwork_give(s, stall_work, stall_done, q) != 0)
        pm_free(q);
    else
        a->stall_asking = 1;
}

static void check_space(pm__alerts_t *a, const char *what, const char *path)
{
    int floor = a->s->cfg->alerts.min_free_mb;
    struct statvfs v;
    unsigned long long free_mb;

    if (floor == 0 || path == NULL || statvfs(path, &v) != 0)
        return;
    free_mb = (unsigned long long)v.f_bavail * v.f_frsize >> 20;
    if (free_mb < (unsigned long long)floor)
        pm__alert(a->s, "low_space", what, 0,
                  "%s: %llu MiB free, below min_free_mb = %d", path, free_mb,
                  floor);
}

/* An alert when a restart (one the last check did not see) brings those
 * within RESTART_WINDOW_S to the limit: the pool counts them, once each. */
static void check_restarts(pm__alerts_t *a)
{
    pm__serve_t *s = a->s;
    int limit = s->cfg->alerts.worker_restarts, recent = 0;
    long long total;

    if (limit == 0 || s->pool == NULL)
        return;
    total = pm_pool_restarts(s->pool, pm__serve_now() - RESTART_WINDOW_S + 1,
                             &recent);
    if (total == a->restarts_seen)
        return;
    a->restarts_seen = total;
    if (recent >= limit)
        pm__alert(s, "worker_restarts", "workers", 0,
                  "%d worker restart(s) in the last %d minutes", recent,
                  RESTART_WINDOW_S / 60);
}

static void on_check(uv_timer_t *t)
{
    pm__alerts_t *a = t->data;

    if (a->s->draining)
        return;
    check_stall(a);
    check_space(a, "spool", a->s->spool);
    check_space(a, "output", a->s->output);
    check_restarts(a);
}

/* ---- lifetime ---- */

int pm__alerts_start(pm__serve_t *s)
{
    const char *test_ms = getenv("PAGEMILL_TEST_ALERT_CHECK_MS");
    uint64_t period = CHECK_MS;
    pm__alerts_t *a;

    if (!s->cfg->alerts.enabled)
        return 0;
    a = pm_calloc(1, sizeof(*a));
    if (a == NULL)
        return PM_ENOMEM;
    if (test_ms != NULL && atoll(test_ms) > 0)
        period = (uint64_t)atoll(test_ms);
    a->s = s;
    a->progress_ms = uv_now(s->loop);
    uv_timer_init(s->loop, &a->timer);
    a->timer.data = a;
    a->handles = 1;
    uv_timer_start(&a->timer, on_check, period, period);
    s->alerts = a;
    pm_log(PM_LOG_INFO, "alerts", "alerts run: %s", s->cfg->alerts.command);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    alerts_release(h->data);
}

void pm__alerts_stop(pm__serve_t *s)
{
    pm__alerts_t *a = s->alerts;

    if (a == NULL)
        return;
    s->alerts = NULL;
    a->stopping = 1;
    while (a->running != NULL) /* the commands go on without us */
        run_close(a->running);
    uv_close((uv_handle_t *)&a->timer, on_timer_closed);
}
