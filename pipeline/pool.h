/*
 * pool.h: a pool of `pagemill worker` processes on a libuv loop. The pool
 * spawns the workers (OMP_THREAD_LIMIT=1 in their environment, one task at
 * a time each, `--parent <our pid>` so they die with us), writes task lines to
 * their stdin, reads result lines from their stdout, tags their stderr lines
 * into our log, kills a worker whose task runs past the timeout and replaces
 * any worker that dies (trying again, with a growing delay, while a replacement
 * cannot be spawned).
 *
 * The pool does not retry: it reports a lost task to the caller, who
 * decides (convert retries a page a bounded number of times; the service
 * will do the same through the catalog).
 */
#ifndef PM_PIPELINE_POOL_H
#define PM_PIPELINE_POOL_H

#include <uv.h>

#include "pipeline/base/proto.h"

typedef struct pm_pool pm_pool_t;

typedef struct pm_pool_opts {
    const char *exe;      /* the pagemill binary to run as `exe worker` */
    const char *tessdata; /* passed on as --tessdata, or NULL */
    int workers;          /* number of processes, >= 1 */
    int task_timeout;     /* seconds a task may run, 0: no limit */
    int memory_mb;        /* per-worker address-space limit, 0: none */
    const char *warm;     /* what each worker loads before it says ready
                             (pm_engine_warm: language sets separated by
                             ',', "osd" for OSD), or NULL: loaded on
                             first use */
} pm_pool_opts_t;

/*
 * Fills `o` for a pool run by `exe` (borrowed: kept in `o`) from `cfg`
 * (borrowed, as is its tessdata string): `workers` processes when above 0,
 * else the configuration's number, else one per core; the page timeout
 * and the per-worker memory limit.
 */
void pm_pool_opts_from_config(pm_pool_opts_t *o, const pm_config_t *cfg,
                              const char *exe, int workers);

/*
 * Called once per submitted task: with the worker's result message (msg,
 * borrowed for the call), or with msg NULL and `why` saying how the task
 * was lost (worker crashed, killed on timeout, protocol error).
 */
typedef void (*pm_pool_done_cb)(void *arg, long long task,
                                const pm_proto_msg_t *msg, const char *why);

/*
 * Starts the workers on `loop`. On success *out is a new pool the caller
 * owns; release it with pm_pool_close() and let the loop run until it
 * returns. `o` is copied.
 */
int pm_pool_open(uv_loop_t *loop, const pm_pool_opts_t *o, pm_pool_done_cb cb,
                 void *arg, pm_pool_t **out);

/*
 * Queues a task line (from the pm_proto_* encoders); the pool takes
 * ownership of `line`, even on failure. `urgent` puts it at the front of
 * the queue (assembly, so finished documents publish first).
 */
int pm_pool_submit(pm_pool_t *pool, long long task, char *line, int urgent);

/* Number of tasks queued or running. */
size_t pm_pool_pending(const pm_pool_t *pool);

/* Number of ready workers with no task, less the tasks already queued: how
 * many tasks a caller that feeds the pool on demand (the service, which
 * claims from the catalog) should submit now. */
size_t pm_pool_idle(const pm_pool_t *pool);

/* One worker as pm_pool_workers() shows it. */
typedef struct pm_pool_worker {
    int id;         /* 1, 2, ... in spawn order; a replacement gets a new id */
    int pid;        /* 0 if the spawn failed */
    int ready;      /* sent its ready line (else starting) */
    long long task; /* the task it runs (pm_pool_submit's id), or -1 */
    long long started_at; /* wall clock at spawn, seconds since the epoch */
} pm_pool_worker_t;

/*
 * Read only: fills v[0..max) with the pool's live workers (not those that
 * exited or are being killed) and returns how many there are, which may
 * exceed max. Accepts NULL (no workers).
 */
size_t pm_pool_workers(const pm_pool_t *pool, pm_pool_worker_t *v, size_t max);

/* Restart times the pool keeps (the newest), for pm_pool_restarts(). */
#define PM_POOL_RESTART_TIMES 1024

/*
 * Workers replaced since the pool opened: each worker that died or was
 * killed while the pool was not closing, and is spawned again, counts
 * once, when it exits (whatever the replacement's fate). With `recent`
 * not NULL, *recent is how many of the newest PM_POOL_RESTART_TIMES
 * restarts happened at or after `since` (wall clock, seconds since the
 * epoch). Read only; accepts NULL (none).
 */
long long pm_pool_restarts(const pm_pool_t *pool, long long since, int *recent);

/* How long a closing pool waits for a worker to quit before it kills it
 * (SIGKILL, which also ends a stopped process). */
#define PM_POOL_QUIT_GRACE_MS 5000

/*
 * Asks every worker to quit (a quit line, then stdin closed), kills those
 * still there after PM_POOL_QUIT_GRACE_MS, closes all handles and frees
 * the pool once they are closed (the loop must keep running). Tasks still
 * queued are dropped without callbacks. Accepts NULL; a second call does
 * nothing.
 */
void pm_pool_close(pm_pool_t *pool);

/* Makes `list` (or NULL) what workers load ahead (pm_pool_opts_t.warm):
 * the workers started from now on at their start, every running one now
 * (an idle one at once, a busy one after its task, before the next).
 * 0 or PM_ENOMEM. */
int pm_pool_warm(pm_pool_t *pool, const char *list);

#endif /* PM_PIPELINE_POOL_H */
