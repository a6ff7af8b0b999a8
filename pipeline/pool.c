/*
 * pool.c: worker processes on the libuv loop (pool.h).
 *
 * Each worker has five handles: the process, its stdin/stdout/stderr
 * pipes and a timer for the task timeout. A worker struct is freed only
 * when all five are closed. State per worker is small: is it ready, what
 * task is it on. The queue is a doubly ended list of task lines.
 *
 * A dead worker is replaced at once; when the replacement cannot even be
 * spawned (the binary gone for a moment, out of processes), the pool's
 * respawn timer tries again, backing off from 1 s to 30 s, so the pool
 * comes back to strength instead of shrinking for good. The pool struct
 * is freed once it is closing, every worker is gone and its timers are
 * closed.
 *
 * Closing the pool sends every worker a quit line and closes its stdin;
 * a worker still there PM_POOL_QUIT_GRACE_MS later (stopped, or stuck on
 * a task) is killed with SIGKILL, which also ends a stopped process, so
 * the loop never waits on a worker that cannot read.
 */
#include "pipeline/pool.h"

#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/base/pm.h"

#define WORKER_HANDLES 5
#define MAX_LINE       (64u << 20) /* a result line is never this long */

extern char **environ;

static char omp_limit[] = "OMP_THREAD_LIMIT=1";

typedef struct qitem {
    long long task;
    char *line;
    struct qitem *next;
} qitem_t;

typedef struct worker {
    pm_pool_t *pool;
    int id;
    uv_process_t proc;
    uv_pipe_t in, out, err;
    uv_timer_t timer;
    int open_handles;
    int ready; /* sent its ready line */
    int exited;
    long long task;       /* running task, or -1 */
    long long started_at; /* wall clock at spawn */
    char why[256];        /* set when we kill it */
    char *obuf, *ebuf;
    size_t olen, elen;
    struct worker *next;
} worker_t;

struct pm_pool {
    uv_loop_t *loop;
    pm_pool_opts_t opts;
    char *exe, *tessdata, *warm;
    char **env;
    pm_pool_done_cb cb;
    void *arg;
    worker_t *workers;
    int next_id;
    qitem_t *head, *tail;
    size_t queued, running;
    int start_failures; /* workers that died before saying ready */
    int closing;
    uv_timer_t respawn;  /* retries spawns that failed */
    int respawn_closed;  /* its close callback ran */
    uv_timer_t reaper;   /* kills workers that did not quit */
    int reaper_closed;   /* its close callback ran */
    int missing;         /* workers to spawn again */
    unsigned respawn_ms; /* the next retry's delay */
    long long restarts;  /* workers replaced since the pool opened */
    long long restart_at[PM_POOL_RESTART_TIMES]; /* ring: their times */
};

typedef struct write_req {
    uv_write_t req;
    char *data;
} write_req_t;

#define MAX_START_FAILURES 3
#define RESPAWN_FIRST_MS   1000
#define RESPAWN_MAX_MS     30000

static int spawn_worker(pm_pool_t *pool);
static void dispatch(pm_pool_t *pool);
static void on_respawn(uv_timer_t *t);

/* Workers cannot start at all: every queued task is lost. */
static void drain_queue(pm_pool_t *pool, const char *why)
{
    qitem_t *q;

    while ((q = pool->head) != NULL) {
        pool->head = q->next;
        pool->queued--;
        pool->cb(pool->arg, q->task, NULL, why);
        pm_free(q->line);
        pm_free(q);
    }
    pool->tail = NULL;
}

/* ---- environment: ours plus OMP_THREAD_LIMIT=1 ---- */

static char **make_env(void)
{
    size_t n = 0, j = 0;
    char **env;

    while (environ[n] != NULL)
        n++;
    env = pm_calloc(n + 2, sizeof(char *));
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "OMP_THREAD_LIMIT=", 17) != 0)
            env[j++] = environ[i];
    env[j++] = omp_limit;
    env[j] = NULL;
    return env;
}

/* ---- worker lifetime ---- */

static void unlink_worker(pm_pool_t *pool, worker_t *w)
{
    for (worker_t **p = &pool->workers; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            return;
        }
    }
}

static void on_reaper_closed(uv_handle_t *h);

/* Frees a closing pool once its workers and its timers are all closed. */
static void pool_free_if_done(pm_pool_t *pool)
{
    if (!pool->closing || pool->workers != NULL)
        return;
    /* No worker left to reap: the timer must not hold the loop. */
    if (!uv_is_closing((uv_handle_t *)&pool->reaper))
        uv_close((uv_handle_t *)&pool->reaper, on_reaper_closed);
    if (!pool->respawn_closed || !pool->reaper_closed)
        return;
    pm_free(pool->env);
    pm_free(pool->exe);
    pm_free(pool->tessdata);
    pm_free(pool->warm);
    pm_free(pool);
}

static void on_respawn_closed(uv_handle_t *h)
{
    pm_pool_t *pool = h->data;

    pool->respawn_closed = 1;
    pool_free_if_done(pool);
}

static void on_reaper_closed(uv_handle_t *h)
{
    pm_pool_t *pool = h->data;

    pool->reaper_closed = 1;
    pool_free_if_done(pool);
}

static void on_handle_closed(uv_handle_t *h)
{
    worker_t *w = h->data;
    pm_pool_t *pool = w->pool;

    if (--w->open_handles > 0)
        return;
    unlink_worker(pool, w);
    pm_free(w->obuf);
    pm_free(w->ebuf);
    pm_free(w);
    pool_free_if_done(pool);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
}

static void close_worker(worker_t *w)
{
    close_handle((uv_handle_t *)&w->in);
    close_handle((uv_handle_t *)&w->out);
    close_handle((uv_handle_t *)&w->err);
    close_handle((uv_handle_t *)&w->timer);
    if (w->exited)
        close_handle((uv_handle_t *)&w->proc);
}

/* The worker's current task is lost: tell the caller once. */
static void lose_task(worker_t *w, const char *why)
{
    pm_pool_t *pool = w->pool;
    long long task = w->task;

    if (task < 0)
        return;
    w->task = -1;
    pool->running--;
    uv_timer_stop(&w->timer);
    pool->cb(pool->arg, task, NULL, why);
}

static void kill_worker(worker_t *w, const char *why)
{
    if (w->why[0] == '\0')
        snprintf(w->why, sizeof(w->why), "%s", why);
    if (!w->exited)
        uv_process_kill(&w->proc, SIGKILL);
}

static int has_live_worker(const pm_pool_t *pool);

/* A worker is being replaced: counted once, with its time. */
static void count_restart(pm_pool_t *pool)
{
    pool->restart_at[pool->restarts % PM_POOL_RESTART_TIMES] =
        (long long)time(NULL);
    pool->restarts++;
}

static void on_worker_exit(uv_process_t *proc, int64_t status, int sig)
{
    worker_t *w = proc->data;
    pm_pool_t *pool = w->pool;
    char why[320];

    w->exited = 1;
    if (w->why[0] != '\0')
        snprintf(why, sizeof(why), "%s", w->why);
    else if (sig != 0)
        snprintf(why, sizeof(why), "worker %d (pid %d) killed by signal %d",
                 w->id, proc->pid, sig);
    else
        snprintf(why, sizeof(why), "worker %d (pid %d) exited with status %d",
                 w->id, proc->pid, (int)status);
    if (w->task >= 0 || !pool->closing)
        pm_log(w->task >= 0 ? PM_LOG_ERROR : PM_LOG_WARN, "pool", "%s%s", why,
               w->task >= 0 ? " during a task" : "");
    lose_task(w, why);
    close_worker(w);
    close_handle((uv_handle_t *)&w->proc);
    if (pool->closing)
        return;
    if (!w->ready && ++pool->start_failures >= MAX_START_FAILURES) {
        pm_log(PM_LOG_ERROR, "pool",
               "workers die before they are ready; not restarting (last: "
               "%s)",
               why);
        pool->opts.workers = 0;
    }
    if (pool->opts.workers > 0)
        count_restart(pool);
    if (pool->opts.workers > 0 && spawn_worker(pool) != 0) {
        pm_log(PM_LOG_ERROR, "pool",
               "cannot replace worker %d; trying again in %u s", w->id,
               pool->respawn_ms / 1000);
        pool->missing++;
        uv_timer_start(&pool->respawn, on_respawn, pool->respawn_ms, 0);
    }
    if (pool->opts.workers == 0 || !has_live_worker(pool))
        drain_queue(pool, why);
}

/* Spawns the workers that could not be replaced; on a failure, tries
 * again later, waiting twice as long (up to RESPAWN_MAX_MS). */
static void on_respawn(uv_timer_t *t)
{
    pm_pool_t *pool = t->data;

    while (pool->missing > 0 && !pool->closing && pool->opts.workers > 0) {
        if (spawn_worker(pool) != 0) {
            pool->respawn_ms = pool->respawn_ms * 2 > RESPAWN_MAX_MS
                                   ? RESPAWN_MAX_MS
                                   : pool->respawn_ms * 2;
            pm_log(PM_LOG_ERROR, "pool",
                   "%d worker(s) missing; trying again in %u s", pool->missing,
                   pool->respawn_ms / 1000);
            uv_timer_start(&pool->respawn, on_respawn, pool->respawn_ms, 0);
            return;
        }
        pool->missing--;
    }
    pool->respawn_ms = RESPAWN_FIRST_MS;
}

static int has_live_worker(const pm_pool_t *pool)
{
    for (const worker_t *w = pool->workers; w != NULL; w = w->next)
        if (!w->exited)
            return 1;
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    worker_t *w = t->data;
    char why[256];

    snprintf(why, sizeof(why),
             "worker %d (pid %d) killed: task ran past the %d s timeout", w->id,
             w->proc.pid, w->pool->opts.task_timeout);
    pm_log(PM_LOG_ERROR, "pool", "%s", why);
    kill_worker(w, why);
}

/* ---- reading lines ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = pm_malloc(suggested);
    buf->len = buf->base != NULL ? suggested : 0;
}

/* Appends data to *acc and calls fn for each complete line. */
static int split_lines(worker_t *w, char **acc, size_t *len, const char *data,
                       size_t n, void (*fn)(worker_t *, char *, size_t))
{
    char *grown = pm_realloc(*acc, *len + n + 1);
    size_t start = 0;

    if (grown == NULL)
        return PM_ENOMEM;
    *acc = grown;
    memcpy(*acc + *len, data, n);
    *len += n;
    for (size_t i = 0; i < *len; i++) {
        if ((*acc)[i] != '\n')
            continue;
        (*acc)[i] = '\0';
        fn(w, *acc + start, i - start);
        start = i + 1;
    }
    memmove(*acc, *acc + start, *len - start);
    *len -= start;
    return *len > MAX_LINE ? PM_EPROTO : 0;
}

static void on_result_line(worker_t *w, char *line, size_t n)
{
    pm_pool_t *pool = w->pool;
    pm_proto_msg_t m;
    char why[256];
    long long task;

    if (pm_proto_parse(line, n, &m, why, sizeof(why)) != 0) {
        pm_log(PM_LOG_ERROR, "pool", "worker %d: bad line: %s", w->id, why);
        kill_worker(w, "worker broke protocol");
        return;
    }
    if (m.type == PM_MSG_READY) {
        w->ready = 1;
        pool->start_failures = 0;
    } else if (m.task == w->task && w->task >= 0) {
        task = w->task;
        w->task = -1;
        pool->running--;
        uv_timer_stop(&w->timer);
        pool->cb(pool->arg, task, &m, NULL);
    } else {
        pm_log(PM_LOG_ERROR, "pool",
               "worker %d: result for task %lld, "
               "expected %lld",
               w->id, m.task, w->task);
        kill_worker(w, "worker answered the wrong task");
    }
    pm_proto_msg_cleanup(&m);
    dispatch(pool);
}

/* A worker's log line is already "<time> <LEVEL> <component> <message>":
 * re-emit it at its level, tagged with the worker. Anything else (a
 * library printing on its own) is logged as is. */
static void on_log_line(worker_t *w, char *line, size_t n)
{
    char ts[32], level[8], comp[32];
    int lvl, off = 0;

    if (n == 0)
        return;
    if (sscanf(line, "%31s %7s %31s %n", ts, level, comp, &off) == 3 &&
        off > 0 && (lvl = pm_log_level_parse(level)) >= 0) {
        pm_log(lvl, comp, "[w%d] %s", w->id, line + off);
        return;
    }
    pm_log(PM_LOG_INFO, "worker", "[w%d] %s", w->id, line);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    worker_t *w = s->data;
    int err = 0;

    if (nread > 0) {
        if (s == (uv_stream_t *)&w->out)
            err = split_lines(w, &w->obuf, &w->olen, buf->base, (size_t)nread,
                              on_result_line);
        else
            err = split_lines(w, &w->ebuf, &w->elen, buf->base, (size_t)nread,
                              on_log_line);
    } else if (nread < 0) {
        uv_read_stop(s);
    }
    pm_free(buf->base);
    if (err)
        kill_worker(w, "worker output unreadable");
}

/* ---- spawning ---- */

static int spawn_worker(pm_pool_t *pool)
{
    worker_t *w = pm_calloc(1, sizeof(*w));
    static char worker_cmd[] = "worker", tess_opt[] = "--tessdata",
                mem_opt[] = "--memory-mb", parent_opt[] = "--parent",
                warm_opt[] = "--warm";
    char mem[32], parent[32];
    char *args[14];
    int n = 0, err;
    uv_process_options_t po;
    uv_stdio_container_t stdio[3];

    if (w == NULL)
        return PM_ENOMEM;
    w->pool = pool;
    w->id = ++pool->next_id;
    w->task = -1;
    w->started_at = (long long)time(NULL);
    uv_pipe_init(pool->loop, &w->in, 0);
    uv_pipe_init(pool->loop, &w->out, 0);
    uv_pipe_init(pool->loop, &w->err, 0);
    uv_timer_init(pool->loop, &w->timer);
    w->in.data = w->out.data = w->err.data = w->timer.data = w->proc.data = w;
    w->open_handles = WORKER_HANDLES;
    w->next = pool->workers;
    pool->workers = w;

    args[n++] = pool->exe;
    args[n++] = worker_cmd;
    if (pool->tessdata != NULL) {
        args[n++] = tess_opt;
        args[n++] = pool->tessdata;
    }
    if (pool->opts.memory_mb > 0) {
        snprintf(mem, sizeof(mem), "%d", pool->opts.memory_mb);
        args[n++] = mem_opt;
        args[n++] = mem;
    }
    if (pool->warm != NULL) {
        args[n++] = warm_opt;
        args[n++] = pool->warm;
    }
    /* The worker dies with us (PR_SET_PDEATHSIG), checked against this
     * pid in case we are gone before it asks. */
    snprintf(parent, sizeof(parent), "%ld", (long)getpid());
    args[n++] = parent_opt;
    args[n++] = parent;
    args[n] = NULL;
    assert(n < (int)(sizeof(args) / sizeof(args[0])));

    memset(&po, 0, sizeof(po));
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&w->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&w->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&w->err;
    po.file = pool->exe;
    po.args = args;
    po.env = pool->env;
    po.stdio = stdio;
    po.stdio_count = 3;
    po.exit_cb = on_worker_exit;
    err = uv_spawn(pool->loop, &w->proc, &po);
    if (err) {
        pm_log(PM_LOG_ERROR, "pool", "cannot start %s worker: %s", pool->exe,
               uv_strerror(err));
        /* uv_spawn initialises the process handle even when it fails, so
         * all five handles are closed here and the last close callback
         * frees the worker. */
        w->exited = 1;
        close_worker(w);
        return err;
    }
    uv_read_start((uv_stream_t *)&w->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&w->err, on_alloc, on_read);
    pm_log(PM_LOG_DEBUG, "pool", "worker %d started, pid %d", w->id,
           w->proc.pid);
    return 0;
}

void pm_pool_opts_from_config(pm_pool_opts_t *o, const pm_config_t *cfg,
                              const char *exe, int workers)
{
    memset(o, 0, sizeof(*o));
    o->exe = exe;
    o->tessdata = cfg->tessdata;
    o->workers = workers > 0        ? workers
                 : cfg->workers > 0 ? cfg->workers
                                    : pm_ncpu();
    o->task_timeout = cfg->page_timeout;
    o->memory_mb = cfg->worker_memory_mb;
}

int pm_pool_open(uv_loop_t *loop, const pm_pool_opts_t *o, pm_pool_done_cb cb,
                 void *arg, pm_pool_t **out)
{
    pm_pool_t *pool;
    int err = 0;

    *out = NULL;
    pool = pm_calloc(1, sizeof(*pool));
    if (pool == NULL)
        return PM_ENOMEM;
    pool->loop = loop;
    pool->opts = *o;
    pool->cb = cb;
    pool->arg = arg;
    pool->exe = pm_strdup(o->exe);
    pool->tessdata = pm_strdup(o->tessdata);
    pool->warm = pm_strdup(o->warm);
    pool->opts.warm = pool->warm;
    pool->env = make_env();
    if (pool->exe == NULL || pool->env == NULL ||
        (o->tessdata != NULL && pool->tessdata == NULL) ||
        (o->warm != NULL && pool->warm == NULL)) {
        pm_free(pool->exe);
        pm_free(pool->tessdata);
        pm_free(pool->warm);
        pm_free(pool->env);
        pm_free(pool);
        return PM_ENOMEM;
    }
    uv_timer_init(loop, &pool->respawn);
    pool->respawn.data = pool;
    uv_timer_init(loop, &pool->reaper);
    pool->reaper.data = pool;
    pool->respawn_ms = RESPAWN_FIRST_MS;
    for (int i = 0; i < o->workers && err == 0; i++)
        err = spawn_worker(pool);
    if (err) {
        pm_pool_close(pool);
        return err;
    }
    *out = pool;
    return 0;
}

/* ---- tasks ---- */

static void on_written(uv_write_t *req, int status)
{
    write_req_t *wr = (write_req_t *)req;
    worker_t *w = req->data;

    if (status != 0 && w != NULL && !w->exited)
        kill_worker(w, "cannot write to worker");
    pm_free(wr->data);
    pm_free(wr);
}

static int send_line(worker_t *w, char *line)
{
    write_req_t *wr = pm_malloc(sizeof(*wr));
    uv_buf_t buf;
    int err;

    if (wr == NULL) {
        pm_free(line);
        return PM_ENOMEM;
    }
    wr->data = line;
    wr->req.data = w;
    buf = uv_buf_init(line, (unsigned int)strlen(line));
    err = uv_write(&wr->req, (uv_stream_t *)&w->in, &buf, 1, on_written);
    if (err) {
        pm_free(line);
        pm_free(wr);
    }
    return err;
}

static void dispatch(pm_pool_t *pool)
{
    for (worker_t *w = pool->workers; w != NULL && pool->head != NULL;
         w = w->next) {
        qitem_t *q;

        if (!w->ready || w->exited || w->task >= 0 || w->why[0] != '\0')
            continue;
        q = pool->head;
        pool->head = q->next;
        if (pool->head == NULL)
            pool->tail = NULL;
        pool->queued--;
        w->task = q->task;
        pool->running++;
        if (pool->opts.task_timeout > 0)
            uv_timer_start(&w->timer, on_timeout,
                           (uint64_t)pool->opts.task_timeout * 1000, 0);
        if (send_line(w, q->line) != 0)
            kill_worker(w, "cannot write to worker");
        pm_free(q);
    }
}

int pm_pool_submit(pm_pool_t *pool, long long task, char *line, int urgent)
{
    qitem_t *q;

    if (line == NULL)
        return PM_ENOMEM;
    q = pm_malloc(sizeof(*q));
    if (q == NULL) {
        pm_free(line);
        return PM_ENOMEM;
    }
    q->task = task;
    q->line = line;
    q->next = NULL;
    if (pool->head == NULL) {
        pool->head = pool->tail = q;
    } else if (urgent) {
        q->next = pool->head;
        pool->head = q;
    } else {
        pool->tail->next = q;
        pool->tail = q;
    }
    pool->queued++;
    dispatch(pool);
    return 0;
}

size_t pm_pool_pending(const pm_pool_t *pool)
{
    return pool->queued + pool->running;
}

size_t pm_pool_idle(const pm_pool_t *pool)
{
    size_t idle = 0;

    for (const worker_t *w = pool->workers; w != NULL; w = w->next)
        if (w->ready && !w->exited && w->task < 0 && w->why[0] == '\0')
            idle++;
    return idle > pool->queued ? idle - pool->queued : 0;
}

size_t pm_pool_workers(const pm_pool_t *pool, pm_pool_worker_t *v, size_t max)
{
    size_t n = 0;

    for (const worker_t *w = pool ? pool->workers : NULL; w != NULL;
         w = w->next) {
        if (w->exited || w->why[0] != '\0')
            continue;
        if (n < max) {
            v[n].id = w->id;
            v[n].pid = w->proc.pid;
            v[n].ready = w->ready;
            v[n].task = w->task;
            v[n].started_at = w->started_at;
        }
        n++;
    }
    return n;
}

long long pm_pool_restarts(const pm_pool_t *pool, long long since, int *recent)
{
    long long n = pool ? pool->restarts : 0;

    if (recent == NULL)
        return n;
    *recent = 0;
    for (long long i = n - 1; i >= 0 && i >= n - PM_POOL_RESTART_TIMES; i--)
        *recent += pool->restart_at[i % PM_POOL_RESTART_TIMES] >= since;
    return n;
}

/* The grace after the quit ran out: kill every worker still there. */
static void on_reap(uv_timer_t *t)
{
    pm_pool_t *pool = t->data;

    for (worker_t *w = pool->workers; w != NULL; w = w->next) {
        if (w->exited)
            continue;
        pm_log(PM_LOG_WARN, "pool",
               "worker %d (pid %d) did not quit within %d ms; killing it",
               w->id, w->proc.pid, PM_POOL_QUIT_GRACE_MS);
        kill_worker(w, "did not quit");
    }
}

static void on_quit_sent(uv_shutdown_t *req, int status)
{
    worker_t *w = req->data;

    (void)status; /* sent or not, stdin is closed now */
    close_handle((uv_handle_t *)&w->in);
    pm_free(req);
}

/* Sends the quit line, then closes stdin once it is written (EOF ends
 * the worker's read loop too); at worst closes stdin at once. */
static void ask_to_quit(worker_t *w)
{
    uv_shutdown_t *req = NULL;

    if (uv_is_closing((uv_handle_t *)&w->in))
        return;
    if (!w->exited && send_line(w, pm_proto_quit()) == 0)
        req = pm_malloc(sizeof(*req));
    if (req != NULL) {
        req->data = w;
        if (uv_shutdown(req, (uv_stream_t *)&w->in, on_quit_sent) == 0)
            return;
        pm_free(req);
    }
    close_handle((uv_handle_t *)&w->in);
}

int pm_pool_warm(pm_pool_t *pool, const char *list)
{
    char *copy = list != NULL ? pm_strdup(list) : NULL;

    if (list != NULL && copy == NULL)
        return PM_ENOMEM;
    pm_free(pool->warm);
    pool->warm = copy;
    pool->opts.warm = copy;
    for (worker_t *w = pool->workers; copy != NULL && w != NULL; w = w->next) {
        char *line;

        if (w->exited || w->why[0] != '\0')
            continue;
        line = pm_proto_warm(copy);
        if (line == NULL)
            return PM_ENOMEM;
        if (send_line(w, line) != 0)
            kill_worker(w, "cannot write to worker");
    }
    return 0;
}

void pm_pool_close(pm_pool_t *pool)
{
    qitem_t *q;

    if (pool == NULL || pool->closing)
        return;
    pool->closing = 1;
    while ((q = pool->head) != NULL) {
        pool->head = q->next;
        pm_free(q->line);
        pm_free(q);
    }
    pool->tail = NULL;
    pool->queued = 0;
    /* Its callback frees the pool when no worker is left. */
    uv_close((uv_handle_t *)&pool->respawn, on_respawn_closed);
    for (worker_t *w = pool->workers; w != NULL; w = w->next) {
        ask_to_quit(w);
        uv_timer_stop(&w->timer);
        w->task = -1;
    }
    uv_timer_start(&pool->reaper, on_reap, PM_POOL_QUIT_GRACE_MS, 0);
    pool_free_if_done(pool);
}
