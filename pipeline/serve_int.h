/*
 * serve_int.h: the coordinator's state, shared by the three files of
 * `pagemill serve` and by nothing else:
 *
 *   serve.c      start (config, catalog, recovery), signals, reload, stop
 *   integrity.c  the catalog's identity (root markers) and quick_check
 *   intake.c     hot folders -> jobs: watch, scan, count, hash, take
 *   scheduler.c  catalog -> workers -> catalog: claim, results, assembly,
 *                publish
 *   standby.c    a second coordinator on PostgreSQL waits for the lock
 *   space.c      a full volume: pause, look again with backoff, resume
 *   archive_care.c  [archive]: the janitor and the fixity check on a
 *                schedule, as child processes
 *   http*.c      the web interface ([http]; http_int.h), on threads of its
 *                own that reach the loop only through a uv_async_t
 *
 * Everything here runs on the one libuv loop thread, except the work
 * functions intake.c and scheduler.c hand to libuv's thread pool, which
 * touch only the files and the item they were given (never the catalog:
 * its handle belongs to the loop thread).
 */
#ifndef PM_PIPELINE_SERVE_INT_H
#define PM_PIPELINE_SERVE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "pipeline/hotfolder.h"
#include "pipeline/pool.h"
#include "workers/engine.h"

/* Seconds a page's lease outlives its page timeout: the worker is killed
 * at the timeout, so a live coordinator never lets a lease lapse. */
#define PM__LEASE_SLACK 60

/* Period of the scheduler's tick (released jobs, lapsed leases, the
 * workers table). */
#define PM__TICK_MS 500

/* How often a standby coordinator tries the coordinator lock. */
#define PM__STANDBY_POLL_MS 1000

/* How often the active coordinator checks that its session still holds
 * the lock (pm__standby_check_lock). */
#define PM__LOCK_CHECK_MS 2000

/* How long a standby or a rejoining coordinator waits for the server to
 * connect (and set up its session) or to answer the lock's try before it
 * gives the connection up and tries again: never on the loop itself. */
#define PM__STANDBY_CONNECT_MS PM_CATALOG_ASYNC_MS
#define PM__STANDBY_ANSWER_MS  5000

/* The longest the coordinator's loop waits for the server to answer one
 * of its synchronous catalog calls (intake, assembly, the web
 * interface's actions...): a server that hangs past it costs the session
 * (pm_catalog_answer_within), and the coordinator rejoins as when the
 * session is lost, instead of stopping its loop until the server
 * answers. */
#define PM__ANSWER_MS PM_CATALOG_ASYNC_MS

/* A coordinator that lost its catalog session reconnects after this
 * wait, doubled at each failure up to the last. */
#define PM__REJOIN_FIRST_MS 500
#define PM__REJOIN_MAX_MS   30000

/* The tick writes the pool's workers to the catalog when they changed,
 * and at least this often otherwise (status calls rows older than 30 s
 * stale). */
#define PM__WORKERS_REFRESH_MS 2000

/* A full volume: first wait, longest wait, and the free space below which
 * a volume counts as full. */
#define PM__SPACE_FIRST_MS 5000
#define PM__SPACE_MAX_MS   300000
#define PM__SPACE_MIN_FREE (1u << 20)

/* Seconds between lease renewals of pages parked on a full volume. */
#define PM__PARK_RENEW_S 10

/* The pause on a full volume (space.c). */
typedef struct pm__space {
    int full;            /* paused: no claims, assembly or publishing */
    char *volume, *path; /* its mount point, and what could not be written */
    unsigned backoff_ms; /* the current wait */
    uint64_t retry_at;   /* uv_now of the next look */
    uint64_t resumed_at; /* uv_now of the last resume */
} pm__space_t;

/* Catalog write latency the coordinator sees, for /metrics: claims and
 * page completions (a page done with its billable row). */
#define PM__TXN_BUCKETS 10
extern const double pm__txn_bucket_ms[PM__TXN_BUCKETS];
typedef enum { PM__TXN_CLAIM, PM__TXN_COMPLETE, PM__TXN_KINDS } pm__txn_kind_t;
typedef struct pm__txn_hist {
    int64_t le[PM__TXN_BUCKETS]; /* cumulative: transactions at or below */
    int64_t count;
    double sum_ms;
} pm__txn_hist_t;

/* Adds one transaction of `ms` to `h`. */
void pm__txn_record(pm__txn_hist_t *h, double ms);

typedef struct pm__serve pm__serve_t;
typedef struct pm__intake pm__intake_t;
typedef struct pm__inflight pm__inflight_t;
typedef struct pm__replace pm__replace_t;
typedef struct pm__catwork pm__catwork_t;
typedef struct pm__end pm__end_t;

/* One hot folder being watched. */
typedef struct pm__watch {
    pm__serve_t *s;
    pm_hotfolder_t *hf;
    uv_fs_event_t ev;
    int ev_started;
} pm__watch_t;

struct pm__serve {
    uv_loop_t *loop;
    const char *config_path;  /* borrowed from argv */
    pm_config_t *cfg;         /* current: profiles, hot folders, ICC */
    pm_config_t *pending_cfg; /* a reload waiting for intake to be idle */
    /* Process-wide settings, fixed at start (a reload logs changes). */
    char *spool, *output;
    int page_timeout;
    int max_attempts; /* tries per page (and per assembly) */
    int agents_only;  /* [pagemill] local_workers = 0: no page is claimed
                         here (node agents do them); the one worker
                         assembles */
    char owner[320];  /* "coordinator:<hostname>:<pid>" */
    char exe[4096];
    char *catalog_path;                  /* the catalog file, fixed at start */
    char catalog_id[PM_CATALOG_ID_SIZE]; /* its installation id */
    pm_catalog_t *cat;
    pm_pool_t *pool;

    /* intake.c */
    pm__watch_t **watches; /* each freed when its fs event handle closes */
    size_t nwatches;
    uv_timer_t scan_timer; /* periodic scan: shares deliver no inotify */
    uv_timer_t kick_timer; /* a scan soon after a filesystem event */
    pm__intake_t *iq_head, *iq_tail; /* waiting intake steps */
    pm__intake_t *intake_running;    /* on a pool thread now */
    pm_catalog_t *intake_cat;        /* intake's own session, used only by the
                                        step on the pool thread (intake.c) */

    /* scheduler.c */
    uv_timer_t tick;
    pm__inflight_t *inflight;        /* tasks handed to the pool */
    long long next_task;             /* pool task ids */
    struct pm__assembly *assemblies; /* jobs being assembled/published */
    pm_worker_info_t *wk_last;       /* the workers last written */
    size_t wk_nlast;
    uint64_t wk_written_ms; /* uv_now of that write */
    int wk_failing;         /* the last write failed (logged once) */
    pm__inflight_t *parked; /* pages that met a full volume, still leased */
    pm__txn_hist_t txn[PM__TXN_KINDS]; /* catalog write latency */
    int64_t parked_renewed; /* wall clock of their last lease renewal */

    /* sched_pages.c: the page half's catalog calls, on a lane (catalog.h:
     * the queue's hot path without blocking the loop) */
    pm_catalog_t *hot;       /* PostgreSQL: the hot path's own session; NULL on
                                SQLite (the lane is on cat) */
    pm_catalog_lane_t *lane; /* NULL before the start, after close */
    pm__inflight_t *done_wait; /* results for the next completion */
    pm__inflight_t *done_run;  /* the completion under way */
    pm__inflight_t *failing;   /* failures under way */
    pm_completion_t *done_v;   /* done_run's completions */
    uint64_t done_t0;          /* uv_hrtime when it was given */
    uint64_t wait_since;       /* uv_now when done_wait began */
    int wait_told;             /* that wait was logged */
    int claiming, ticking, reporting, renewing; /* an operation each */
    int claim_again; /* claim once more after the claim under way */
    uint64_t claim_t0;
    pm_task_t *claimed; /* the claim's answer */
    size_t nclaimed;
    pm_lease_t *renew_v; /* the parked pages' renewal */
    size_t renew_n;
    int renew_all;             /* hand them out after it */
    int expired_n;             /* the tick's requeue's answer */
    pm_worker_info_t *wk_sent; /* the workers report under way */
    size_t wk_nsent;

    /* replace.c */
    pm__replace_t *replace; /* the page replacement under way, or NULL */

    /* catwork.c: catalog work off the loop. work_lock guards the pointer
     * work_cat, which the pool thread sets, for pm__catwork_interrupt. */
    uv_mutex_t work_lock;
    pm_catalog_t *work_cat; /* its own session, used only on the pool */
    pm__catwork_t *work_head, *work_tail; /* waiting */
    pm__catwork_t *work_running;          /* on a pool thread now */
    int work_closed;
    struct pm__collect *collect_next; /* the last collection given */
    struct pm__load *loading;         /* assemblies being read */
    pm__end_t *ending; /* jobs whose end is being recorded (sched_end.c) */

    /* space.c */
    pm__space_t space;

    /* integrity.c */
    uv_timer_t check_timer; /* the periodic quick_check */
    uv_work_t check_req;
    int checking;  /* a check is on a pool thread */
    int check_err; /* what it found: 0 or PM_ECORRUPT */

    /* http.c: the web interface, or NULL */
    struct pm__http *http;

    /* alerts.c: [alerts], or NULL */
    struct pm__alerts *alerts;

    /* archive_care.c: [archive]'s schedule, or NULL */
    struct pm__archive *archive;
    int64_t fixity_failures; /* invalid bags its fixity checks found */

    /* serve.c */
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t drain_timer;
    uv_timer_t watchdog_timer; /* notify.c: systemd's watchdog, if asked */
    int draining;  /* no scanning or claiming; finishing what runs */
    int stopped;   /* handles closed, the loop is winding down */
    int failed;    /* the catalog failed a check: exit 1 after the drain */
    int lost;      /* the catalog session went: rejoin once stopped */
    int rejoin;    /* started by that re-execution (--rejoin), not yet
                      connected: wait for the catalog with backoff
                      instead of refusing */
    int signalled; /* SIGTERM or SIGINT came: never rejoin */
    int cat_hung;  /* a drain gave up on the catalog: no more calls */

    /* standby.c: waiting for the coordinator lock (PostgreSQL) */
    int standby;              /* waiting: nothing else runs */
    int standby_lost;         /* the connection is down (logged once) */
    long standby_holder;      /* the active coordinator's pid, 0 unknown */
    uint64_t standby_since;   /* uv_now when the wait began */
    int64_t standby_started;  /* wall clock of the same */
    int64_t standby_reported; /* wall clock of the last row written */
    uv_timer_t standby_timer;
    /* the connection or the lock's try under way (catalog.h: without
     * blocking the loop), NULL when none */
    pm_catalog_async_t *standby_op;
    uint64_t lock_checked_ms;   /* uv_now of the active one's last check */
    char standby_owner[320];    /* "standby:<hostname>:<pid>" */
    uv_timer_t rejoin_timer;    /* --rejoin: the next try to connect */
    unsigned rejoin_backoff_ms; /* its wait, doubling */
    int rejoin_tries;
};

/* ---- intake.c ---- */

/* Opens the configured hot folders and starts watching and scanning them.
 * 0, or an error logged with the folder. */
int pm__intake_start(pm__serve_t *s);

/* Stops watching (fs events and timers); a step on a pool thread still
 * completes. Accepts a serve that never started intake. */
void pm__intake_stop(pm__serve_t *s);

/* Closes intake's handles and frees its state; only when no step is
 * running (the loop must run afterwards to finish the closes). */
void pm__intake_close(pm__serve_t *s);

/* True while an intake step is queued or running. */
int pm__intake_busy(const pm__serve_t *s);

/* Queues a scan of every hot folder unless one is queued or running (the
 * timer asks again). */
void pm__intake_request_scan(pm__serve_t *s);

/* ---- intake_watch.c ---- */

/* Swaps in s->pending_cfg when intake is idle: reopens the hot folders
 * (keeping the old ones if a new one cannot be opened). */
void pm__intake_apply_reload(pm__serve_t *s);

/* Opens every hot folder of `cfg` into a new array *out (all or
 * nothing); 0 or an error, logged with the folder. */
int pm__watch_open(pm__serve_t *s, const pm_config_t *cfg, pm__watch_t ***out);

/* Starts the change events of the folders with watch = events and the
 * scan timer. */
void pm__watch_start(pm__serve_t *s);

/* Closes the `n` watches of `v` (each freed once its handle closes) and
 * frees `v`. */
void pm__watch_close(pm__watch_t **v, size_t n);

/* Has the workers load what the profiles now configured read (serve.c),
 * after a reload applied them, so no page of a new profile waits for its
 * languages to load. */
void pm__serve_rewarm(pm__serve_t *s);

/* ---- alerts.c ---- */

/* Starts checking the [alerts] conditions when the config has them. 0 or
 * PM_ENOMEM. */
int pm__alerts_start(pm__serve_t *s);

/* Stops checking; commands still running go on alone. Accepts a serve
 * without alerts. */
void pm__alerts_stop(pm__serve_t *s);

/* Raises alert `kind` about `subject` (job > 0 names a job): an
 * "alert.<kind>" event and the command, unless the same kind and subject
 * ran within repeat_minutes. Does nothing without [alerts]. */
void pm__alert(pm__serve_t *s, const char *kind, const char *subject,
               int64_t job, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A page finished (done or failed): the queue is moving. */
void pm__alerts_progress(pm__serve_t *s);

/* ---- archive_care.c ---- */

/* Starts [archive]'s timers (the janitor and the fixity check as child
 * processes) when the config turns either on. 0, or an error logged. */
int pm__archive_start(pm__serve_t *s);

/* Stops the timers; a child still running goes on alone. Accepts a serve
 * without [archive]. */
void pm__archive_stop(pm__serve_t *s);

/* ---- scheduler.c ---- */

/* At start: requeues the pages a previous coordinator left running. */
int pm__sched_recover(pm__serve_t *s);

/* Opens the hot path's lane (on PostgreSQL its own session) and starts
 * the tick; runs a first collect and claim round. 0 or an error
 * (logged). */
int pm__sched_start(pm__serve_t *s);

/* Stops the tick. */
void pm__sched_stop(pm__serve_t *s);

/* Claims pages while workers are idle and submits them (not when
 * draining). */
void pm__sched_run(pm__serve_t *s);

/* The pool's result callback (arg is the serve). */
void pm__sched_on_done(void *arg, long long task, const pm_proto_msg_t *m,
                       const char *why);

/* Number of tasks in the pool plus publish steps under way. */
size_t pm__sched_busy(const pm__serve_t *s);

/* Writes the pool's workers to the catalog (pm_worker_report) when they
 * changed since the last write, or PM__WORKERS_REFRESH_MS after it. */
void pm__sched_report_workers(pm__serve_t *s);

/* Removes this coordinator's worker rows (a clean exit) and frees the
 * last snapshot. */
void pm__sched_clear_workers(pm__serve_t *s);

/* Forgets every task still in flight (their leases stay in the catalog
 * and are requeued by the next start). */
void pm__sched_abandon(pm__serve_t *s);

/* The catalog metrics of page result `r` (borrowing its strings; the
 * orientation evidence is left NULL). */
void pm__sched_metrics(const pm_page_result_t *r, pm_page_metrics_t *m);

/*
 * Assembles done job `job` again with page `page` (copied) in place of
 * its page page->page, and publishes it by swapping the new folder in for
 * job-<id>/ (pm_publish_swap; the old one goes to `aside`, copied), then
 * calls pm__replace_published. The job is read off the loop (catwork.c).
 * 0, or an error with why[size] (nothing started); once started, a
 * failure also goes to pm__replace_published (-EAGAIN: the catalog could
 * not be read or the service stops; the request stays pending).
 */
int pm__sched_reassemble(pm__serve_t *s, int64_t job,
                         const pm_page_result_t *page, const char *aside,
                         char *why, size_t size);

/* ---- replace.c: replacing a page of a done job ---- */

/* Starts the oldest pending replacement when none is under way and a
 * worker is idle: its page goes to a worker first. */
void pm__replace_run(pm__serve_t *s);

/* The pool's result for task `task` when it is the replacement's page:
 * 1 (handled), else 0. */
int pm__replace_on_done(pm__serve_t *s, long long task, const pm_proto_msg_t *m,
                        const char *why);

/* What came of the re-publication: err 0 with the new PDF's SHA-256 and
 * pages, -ENOSPC or -EAGAIN (left pending, tried again later) or another
 * error with why. */
void pm__replace_published(pm__serve_t *s, int err, const char *why,
                           const char *sha, int pdf_pages);

/* 1 while the replacement's page is on a worker. */
size_t pm__replace_busy(const pm__serve_t *s);

/* Forgets the replacement under way (still pending in the catalog). */
void pm__replace_abandon(pm__serve_t *s);

/* ---- integrity.c ---- */

/* Before the catalog is opened: refuses (logged, with what to do) a
 * missing or empty catalog file when the spool or output already hold
 * work or a catalog marker. */
int pm__ident_precheck(pm__serve_t *s);

/* After it is opened: quick_check, the installation id into
 * s->catalog_id, the spool and output markers checked against it and
 * written where missing. 0, or an error logged with what to do. */
int pm__ident_check(pm__serve_t *s);

/* Starts the periodic quick_check (integrity_check_minutes; 0: none).
 * The test hook PAGEMILL_TEST_INTEGRITY_MS sets the period in ms. */
void pm__integrity_start(pm__serve_t *s);

/* ---- space.c ---- */

/* True for -ENOSPC and -EDQUOT. */
int pm__space_err(int err);

/* True when an error message says a volume (or the catalog) is full. */
int pm__space_text(const char *msg);

/* True when the volume holding `path` (or its nearest existing parent)
 * has less than PM__SPACE_MIN_FREE bytes, or no inode, free. */
int pm__space_low(const char *path);

/* `path` could not be written for want of space: pauses (logged once,
 * naming the volume's mount point and the path). */
void pm__space_lost(pm__serve_t *s, const char *path);

/* True while paused. When the wait is over, looks at the volume: still
 * full, waits twice as long (up to PM__SPACE_MAX_MS); else resumes
 * (logged) and returns 0. */
int pm__space_paused(pm__serve_t *s);

/* Frees the pause's strings. */
void pm__space_cleanup(pm__serve_t *s);

/* ---- http.c ---- */

/* Starts the web interface when the configuration has [http]: its own
 * read-only catalog connection, the token file, and the server threads.
 * Refuses (logged) a non-loopback address without any token. */
int pm__http_start(pm__serve_t *s);

/* Stops the server (joining its threads) and closes its async handle;
 * requests waiting on an action get 503. Accepts a serve without one. */
void pm__http_stop(pm__serve_t *s);

/* On each tick: copies what /readyz and /metrics show of the loop. */
void pm__http_tick(pm__serve_t *s);

/* ---- serve.c ---- */

/* The catalog failed a check while running: drain, then exit 1. */
void pm__serve_fail(pm__serve_t *s);
/* The catalog's connection is gone, and the coordinator lock with it:
 * stops at once, no drain (nothing can be recorded any more; the workers
 * are killed), then re-executes itself with --rejoin (same pid), which
 * reconnects with backoff and takes the lock or waits as a standby. */
void pm__serve_lost(pm__serve_t *s);

/* A drain whose catalog has not answered for `ms`: the results not yet
 * recorded are given up (their pages are done again once their leases
 * lapse) and the workers stopped now; no more catalog calls. */
void pm__serve_give_up(pm__serve_t *s, uint64_t ms);

/* --rejoin: the catalog is open again (s->cat) and the coordinator lock
 * was tried: taken (lock_err 0), so it starts, or held by `holder`
 * (-EBUSY), so it waits as a standby. */
void pm__serve_rejoined(pm__serve_t *s, int lock_err, long holder);

/* The coordinator's start once it holds the coordinator lock: identity,
 * billing zone, folders, recovery, workers, intake, scheduler. On failure
 * everything is closed, the exit status is 1, and the error returned. */
int pm__serve_activate(pm__serve_t *s);

/* ---- standby.c ---- */

/* The lock is held by coordinator `holder` (pid, 0 unknown) on a
 * PostgreSQL catalog: waits, trying it on a timer, and calls
 * pm__serve_activate once it is ours. 0 (or a negative code). */
int pm__standby_start(pm__serve_t *s, long holder);

/* Stops waiting (the timer closed, the standby's row cleared), or the
 * lock's check under way. */
void pm__standby_stop(pm__serve_t *s);

/* The active coordinator on PostgreSQL (from its tick): at most every
 * PM__LOCK_CHECK_MS, asks without blocking (bounded by PM__ANSWER_MS)
 * whether its session still holds the coordinator lock. The loop's own
 * work no longer uses that session, so this is how a session the server
 * ended, or one that stopped answering, is found before a standby takes
 * the lock: pm__serve_lost follows. */
void pm__standby_check_lock(pm__serve_t *s);

/* --rejoin: opens the catalog and tries the lock from a timer, without
 * blocking the loop (each bounded by PM__STANDBY_CONNECT_MS or
 * PM__STANDBY_ANSWER_MS), backing off from PM__REJOIN_FIRST_MS to
 * PM__REJOIN_MAX_MS and logging each failed try, then calls
 * pm__serve_rejoined. */
void pm__standby_rejoin(pm__serve_t *s);

/* ---- notify.c: sd_notify(3) under systemd ---- */

/* READY=1, and WATCHDOG=1 every WatchdogSec/2 on the loop when systemd
 * asks for it ($WATCHDOG_USEC). */
void pm__notify_ready(pm__serve_t *s);
/* STOPPING=1: the drain has begun. */
void pm__notify_stopping(pm__serve_t *s);
/* WATCHDOG=1 every WatchdogSec/2 when asked, as from pm__notify_ready,
 * without READY=1 (a coordinator rejoining after a lost session). */
void pm__notify_watchdog(pm__serve_t *s);
/* STATUS=`status` (borrowed). */
void pm__notify_status(pm__serve_t *s, const char *status);

/* When draining and nothing is left running, closes everything so the
 * loop can end. Called after every completion. */
void pm__serve_maybe_stop(pm__serve_t *s);

/* Wall clock, seconds since the epoch (catalog times). */
int64_t pm__serve_now(void);

/* ---- catwork.c: catalog work off the loop ---- */

/* Runs on a pool thread with the work's own session: 0 or an error (the
 * handle's message is passed on). */
typedef int (*pm__catwork_fn)(pm_catalog_t *cat, void *arg);
/* Runs on the loop afterwards: err and the catalog's message (-ECANCELED:
 * never run, the serve is closing). Frees what arg owns. */
typedef void (*pm__catwork_done_fn)(pm__serve_t *s, void *arg, int err,
                                    const char *msg);

/* Gives an item: fn on a pool thread, after the items given before it,
 * then done on the loop (never from within this call). 0, or an error
 * (done is not called). */
int pm__catwork_give(pm__serve_t *s, pm__catwork_fn fn,
                     pm__catwork_done_fn done, void *arg);
/* 1 while the item given with `arg` waits (has not started): what arg
 * holds may still change. */
int pm__catwork_waiting(const pm__serve_t *s, const void *arg);
/* 1 while an item runs on a pool thread or waits (the serve's stop
 * waits for them). */
int pm__catwork_busy(const pm__serve_t *s);
/* 1 while an item runs on a pool thread (it may read s->cfg). */
int pm__catwork_running(const pm__serve_t *s);
/* Drops the waiting items (done told -ECANCELED) and refuses new ones;
 * the session is closed at the serve's end (serve_cleanup). */
void pm__catwork_close(pm__serve_t *s);
/* Drops the waiting items (done told -ECANCELED) and makes the one under
 * way fail at once (pm_catalog_interrupt): for a stop that must not wait
 * on a server that does not answer. An item's work is a transaction or
 * only reads: nothing of it stays. */
void pm__catwork_interrupt(pm__serve_t *s);
/* Records event `kind` (detail copied) as an item; a failure is logged
 * under `what`. */
void pm__catwork_event(pm__serve_t *s, const char *what, const char *actor,
                       const char *kind, int64_t job, const char *detail);
/* An off-loop session in *slot (catwork's, intake's): the one there while
 * connected, else a new one (each answer bounded by PM__ANSWER_MS), or
 * NULL with msg[size]. `lock`, when not NULL, guards the writes to *slot
 * (read by another thread). */
pm_catalog_t *pm__session_open(pm__serve_t *s, pm_catalog_t **slot,
                               uv_mutex_t *lock, char *msg, size_t size);

#endif /* PM_PIPELINE_SERVE_INT_H */
