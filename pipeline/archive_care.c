/*
 * archive_care.c: [archive], the care `pagemill serve` takes of the
 * archive on its own (docs/archival.md). Every janitor_every_hours it runs
 * `pagemill janitor --config FILE` (keep_days retention), and every
 * verify_every_hours `pagemill verify --all --config FILE` (the fixity
 * check of every published bag); 0 turns either off. Each is a child
 * process of this binary, started from the loop's timer (uv_spawn: the
 * loop never waits for it), at most one of each kind at a time, and each
 * records its results in the catalog as the command does.
 *
 * The fixity check's output is read as it comes: every bag it finds
 * invalid raises a `fixity` alert (alerts.c) naming the bag and its
 * faults (each fault names the file) and counts in /metrics
 * (pagemill_fixity_failures_total).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"
#include "pipeline/serve_int.h"

#define HOUR_MS 3600000.0

typedef struct pm__archive pm__archive_t;

/* One kind of care: its timer and the child under way. */
typedef struct care {
    pm__archive_t *ar;
    const char *name; /* "janitor" or "verify" */
    uv_timer_t timer;
    uv_process_t proc;
    uv_pipe_t out;   /* verify: the child's stdout */
    int running;     /* the child's handles are open */
    int open;        /* of proc and out */
    pm_buf_t line;   /* stdout not yet ended by a newline */
    pm_buf_t faults; /* the faults of the bag being read */
} care_t;

struct pm__archive {
    pm__serve_t *s;
    char *config; /* the configuration's absolute path */
    care_t care[2];
    int handles; /* open handles, the timers' included */
    int stopping;
};

static void archive_release(pm__archive_t *ar)
{
    if (!ar->stopping || ar->handles > 0)
        return;
    for (int i = 0; i < 2; i++) {
        pm_buf_cleanup(&ar->care[i].line);
        pm_buf_cleanup(&ar->care[i].faults);
    }
    free(ar->config); /* realpath's */
    pm_free(ar);
}

static void on_closed(uv_handle_t *h)
{
    care_t *c = h->data;
    pm__archive_t *ar = c->ar;

    ar->handles--;
    if (h != (uv_handle_t *)&c->timer && --c->open == 0)
        c->running = 0;
    archive_release(ar);
}

static void close_once(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_closed);
}

/* The job id of a bag folder ".../job-<id>", or 0. */
static int64_t job_of(const char *dir)
{
    const char *base = strrchr(dir, '/');
    char *end;
    long long id;

    base = base != NULL ? base + 1 : dir;
    if (strncmp(base, "job-", 4) != 0)
        return 0;
    id = strtoll(base + 4, &end, 10);
    return *end == '\0' && id > 0 ? (int64_t)id : 0;
}

/* One line of `pagemill verify --all`: a fault (kept), "DIR: valid bag",
 * or "DIR: N fault(s)", which raises the alert with the faults kept. */
static void verify_line(care_t *c, const char *line)
{
    pm__serve_t *s = c->ar->s;
    const char *colon = strrchr(line, ':');
    char *end, *dir;
    long n;

    if (colon != NULL && strcmp(colon, ": valid bag") == 0) {
        pm_buf_cleanup(&c->faults);
        return;
    }
    n = colon != NULL && colon[1] == ' ' ? strtol(colon + 2, &end, 10) : 0;
    if (n <= 0 || (strcmp(end, " fault") != 0 && strcmp(end, " faults") != 0)) {
        pm_buf_printf(&c->faults, "%s%s", c->faults.len ? "; " : "", line);
        return;
    }
    dir = pm_asprintf("%.*s", (int)(colon - line), line);
    s->fixity_failures++;
    pm_log(PM_LOG_WARN, "archive", "fixity check: %s: %s", dir ? dir : line,
           c->faults.s ? c->faults.s : "invalid");
    if (dir != NULL)
        pm__alert(s, "fixity", dir, job_of(dir),
                  "bag %s failed its fixity check: %s", dir,
                  c->faults.s ? c->faults.s : "invalid");
    pm_free(dir);
    pm_buf_cleanup(&c->faults);
}

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
    (void)h;
    buf->base = pm_malloc(want);
    buf->len = buf->base != NULL ? want : 0;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    care_t *c = st->data;
    char *nl;

    if (n > 0)
        pm_buf_add(&c->line, buf->base, (size_t)n);
    pm_free(buf->base);
    while (c->line.s != NULL && (nl = memchr(c->line.s, '\n', c->line.len))) {
        size_t rest = c->line.len - (size_t)(nl - c->line.s) - 1;

        *nl = '\0';
        verify_line(c, c->line.s);
        memmove(c->line.s, nl + 1, rest);
        c->line.len = rest;
        c->line.s[rest] = '\0';
    }
    if (n < 0) { /* EOF or an error: what is left has no newline */
        if (c->line.len > 0)
            verify_line(c, c->line.s);
        pm_buf_cleanup(&c->line);
        close_once((uv_handle_t *)&c->out);
    }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    care_t *c = p->data;

    if (status == 0 && sig == 0)
        pm_log(PM_LOG_INFO, "archive", "%s finished", c->name);
    else
        pm_log(PM_LOG_WARN, "archive",
               "%s exited with status %lld%s%s (see its lines above)", c->name,
               (long long)status, sig ? ", signal " : "",
               sig ? strsignal(sig) : "");
    close_once((uv_handle_t *)&c->proc);
}

/* Starts the child of care `c`. */
static void care_run(care_t *c)
{
    pm__archive_t *ar = c->ar;
    int verify = strcmp(c->name, "verify") == 0;
    char all[] = "--all", cfg[] = "--config";
    char *args[] = {ar->s->exe, (char *)c->name, cfg, ar->config, NULL, NULL};
    uv_stdio_container_t io[3];
    uv_process_options_t po = {0};
    int err;

    if (verify) {
        args[2] = all;
        args[3] = cfg;
        args[4] = ar->config;
    }
    memset(io, 0, sizeof(io));
    io[0].flags = UV_IGNORE;
    io[1].flags = verify ? UV_CREATE_PIPE | UV_WRITABLE_PIPE : UV_INHERIT_FD;
    io[1].data.fd = 2; /* the janitor's summary goes to the log */
    io[2].flags = UV_INHERIT_FD;
    io[2].data.fd = 2;
    po.file = args[0];
    po.args = args;
    po.stdio = io;
    po.stdio_count = 3;
    po.exit_cb = on_exit_cb;
    c->running = 1;
    c->open = 1;
    ar->handles++;
    if (verify) {
        uv_pipe_init(ar->s->loop, &c->out, 0);
        c->out.data = c;
        io[1].data.stream = (uv_stream_t *)&c->out;
        c->open++;
        ar->handles++;
    }
    c->proc.data = c;
    err = uv_spawn(ar->s->loop, &c->proc, &po);
    if (err != 0) {
        pm_log(PM_LOG_ERROR, "archive", "cannot run %s %s: %s", ar->s->exe,
               c->name, uv_strerror(err));
        close_once((uv_handle_t *)&c->proc);
        if (verify)
            close_once((uv_handle_t *)&c->out);
        return;
    }
    pm_log(PM_LOG_INFO, "archive", "%s started (pid %d)", c->name, c->proc.pid);
    if (verify && uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read) != 0)
        close_once((uv_handle_t *)&c->out);
}

static void on_timer(uv_timer_t *t)
{
    care_t *c = t->data;

    if (c->running) {
        pm_log(PM_LOG_WARN, "archive",
               "%s: the last run is still going; skipping this one", c->name);
        return;
    }
    if (c->ar->s->draining || c->ar->stopping)
        return;
    care_run(c);
}

int pm__archive_start(pm__serve_t *s)
{
    const double hours[2] = {s->cfg->archive.janitor_every_hours,
                             s->cfg->archive.verify_every_hours};
    static const char *const names[2] = {"janitor", "verify"};
    pm__archive_t *ar;

    if (hours[0] <= 0 && hours[1] <= 0)
        return 0;
    ar = pm_calloc(1, sizeof(*ar));
    if (ar == NULL)
        return PM_ENOMEM;
    ar->s = s;
    ar->config = realpath(s->config_path, NULL);
    if (ar->config == NULL) {
        int err = -errno;

        pm_log(PM_LOG_ERROR, "archive", "%s: %s", s->config_path,
               strerror(-err));
        pm_free(ar);
        return err;
    }
    s->archive = ar;
    for (int i = 0; i < 2; i++) {
        care_t *c = &ar->care[i];
        uint64_t ms = (uint64_t)(hours[i] * HOUR_MS);

        c->ar = ar;
        c->name = names[i];
        uv_timer_init(s->loop, &c->timer);
        c->timer.data = c;
        ar->handles++;
        if (ms > 0) {
            uv_timer_start(&c->timer, on_timer, ms, ms);
            pm_log(PM_LOG_INFO, "archive", "%s every %.4g hours", c->name,
                   hours[i]);
        }
    }
    return 0;
}

void pm__archive_stop(pm__serve_t *s)
{
    pm__archive_t *ar = s->archive;

    if (ar == NULL)
        return;
    s->archive = NULL;
    ar->stopping = 1;
    for (int i = 0; i < 2; i++) {
        care_t *c = &ar->care[i];

        close_once((uv_handle_t *)&c->timer);
        if (c->running) { /* a child goes on alone; its handles close */
            close_once((uv_handle_t *)&c->proc);
            if (strcmp(c->name, "verify") == 0)
                close_once((uv_handle_t *)&c->out);
        }
    }
    archive_release(ar);
}
