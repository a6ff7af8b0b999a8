/*
 * serve.c: `pagemill serve --config FILE`, the coordinator. One libuv
 * loop joins the hot folders (intake.c), the catalog that is the queue,
 * and a pool of warm workers (scheduler.c). This file starts it, stops
 * it and reloads its configuration:
 *
 *   start:   load the configuration (errors name file:line:key, exit 2);
 *            open the catalog, refusing (exit 1, nothing moved) one that
 *            fails quick_check, or is missing, empty or another catalog
 *            than the spool's and output's markers name (integrity.c),
 *            or that another coordinator holds (pm_catalog_lock_coordinator);
 *            requeue every page a previous coordinator
 *            left running (one coordinator per SQLite catalog, so all
 *            those leases are dead); start the workers, the hot folders
 *            and the scheduler's tick, whose first round re-runs assembly
 *            for jobs left assembling.
 *   SIGTERM, SIGINT: drain. No more scanning or claiming; tasks already
 *            on workers finish, for at most page_timeout seconds (then
 *            their workers are killed and their leases requeued at the
 *            next start); then everything closes, this coordinator's
 *            rows in the catalog's workers table are removed, and the
 *            exit status is 0. A second signal stops at once, the same
 *            way.
 *   SIGHUP:  reload profiles and hot folders; a bad file keeps the old
 *            configuration, with an error in the log.
 *   catalog check failed while running (integrity_check_minutes): drain
 *            as on SIGTERM, then exit 1.
 *   catalog session lost (PostgreSQL; its coordinator lock went with
 *            it): stop at once, workers killed, then re-execute this
 *            binary with --rejoin, same pid: it reconnects with backoff
 *            and takes the lock, or waits as a standby (standby.c).
 */
#include "pipeline/serve.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog/billing.h"
#include "config/volume.h"
#include "pipeline/base/pm.h"
#include "pipeline/serve_int.h"

static const char usage_text[] =
    "usage: pagemill serve --config FILE\n"
    "\n"
    "Runs the coordinator: watches the configured hot folders, records each\n"
    "batch as a job in the catalog, converts its pages on warm worker\n"
    "processes, assembles PDF/A and text, and publishes them to\n"
    "<output>/<account>/<work order>/job-<id>/.\n"
    "\n"
    "  -c, --config FILE  configuration file (INI; required)\n"
    "\n"
    "On a PostgreSQL catalog ([catalog] url) that another coordinator holds,\n"
    "waits as a standby, runs nothing, and takes over within about a second\n"
    "of that one stopping or dying. On an SQLite catalog it is refused.\n"
    "A coordinator that loses its PostgreSQL session stops its work at once\n"
    "and starts again by itself (same pid), reconnecting with backoff, then\n"
    "coordinating or waiting as a standby.\n"
    "\n"
    "Signals: SIGTERM or SIGINT finish the pages under way (at most\n"
    "page_timeout seconds) and exit 0; SIGHUP reloads profiles and hot\n"
    "folders. Exit status: 0 stopped by a signal; 2 usage or configuration\n"
    "error; 1 could not start (the log says why: a catalog that is missing,\n"
    "empty, damaged, not the one the spool and output belong to, or in use\n"
    "by another `pagemill serve` is refused), or the catalog failed its\n"
    "periodic integrity check.\n";

int64_t pm__serve_now(void)
{
    return (int64_t)time(NULL);
}

/* ---- stopping ---- */

static void close_handle(uv_handle_t *h)
{
    if (h->loop != NULL && !uv_is_closing(h))
        uv_close(h, NULL);
}

static void close_signals(pm__serve_t *s)
{
    close_handle((uv_handle_t *)&s->sig_term);
    close_handle((uv_handle_t *)&s->sig_int);
    close_handle((uv_handle_t *)&s->sig_hup);
}

/* Closes every handle so uv_run can return. */
static void close_all(pm__serve_t *s)
{
    s->stopped = 1;
    /* First: what waits for catwork (a web action's request thread,
     * which the web interface's stop joins) is told it will not run. */
    pm__catwork_close(s);
    pm__http_stop(s);
    pm__alerts_stop(s);
    pm__archive_stop(s);
    close_handle((uv_handle_t *)&s->drain_timer);
    close_handle((uv_handle_t *)&s->watchdog_timer);
    close_handle((uv_handle_t *)&s->check_timer);
    if (s->lost) { /* kept until the re-execution (rejoin) */
        uv_unref((uv_handle_t *)&s->sig_term);
        uv_unref((uv_handle_t *)&s->sig_int);
        uv_unref((uv_handle_t *)&s->sig_hup);
    } else {
        close_signals(s);
    }
    pm__standby_stop(s);
    pm__sched_stop(s);
    pm__intake_stop(s);
    pm__intake_close(s);
    pm_pool_close(s->pool);
    s->pool = NULL;
    pm__sched_abandon(s); /* pages parked on a full volume */
    pm__sched_clear_workers(s);
    pm_log(PM_LOG_INFO, "serve", "stopped");
}

void pm__serve_maybe_stop(pm__serve_t *s)
{
    if (!s->draining || s->stopped || s->intake_running != NULL ||
        s->checking || pm__catwork_busy(s) || pm__sched_busy(s) > 0)
        return;
    close_all(s);
}

static void kill_process(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (h->type == UV_PROCESS && !uv_is_closing(h))
        uv_process_kill((uv_process_t *)h, SIGKILL);
}

/* The drain ran out of time: stop the workers where they are. */
static void stop_now(pm__serve_t *s)
{
    size_t busy = pm__sched_busy(s);

    if (busy > 0)
        pm_log(PM_LOG_WARN, "serve",
               "%zu task(s) still running; stopping their workers (their "
               "pages are requeued at the next start)",
               busy);
    pm_pool_close(s->pool);
    s->pool = NULL;
    uv_walk(s->loop, kill_process, NULL);
    pm__sched_abandon(s);
    pm__catwork_interrupt(s);
    pm__serve_maybe_stop(s);
}

void pm__serve_lost(pm__serve_t *s)
{
    char shown[512];

    if (s->stopped)
        return;
    pm_log(PM_LOG_ERROR, "serve",
           "lost its connection to the catalog %s (%s): the coordinator lock "
           "went with it and another coordinator may hold it now; stopping "
           "its work at once (workers killed, their pages requeued by the "
           "next coordinator), then reconnecting",
           pm_catalog_shown(s->catalog_path, shown, sizeof(shown)),
           pm_catalog_errmsg(s->hot != NULL && !pm_catalog_connected(s->hot)
                                 ? s->hot
                                 : s->cat));
    s->failed = 1;
    s->lost = 1;
    /* No STOPPING=1: the process stays the unit's main process. */
    pm__notify_status(s, "lost the catalog; reconnecting");
    if (!s->draining) {
        s->draining = 1;
        pm__intake_stop(s);
    }
    stop_now(s);
}

void pm__serve_give_up(pm__serve_t *s, uint64_t ms)
{
    if (s->stopped)
        return;
    pm_log(PM_LOG_WARN, "serve",
           "draining: the catalog has not answered for %llu ms: stopping now "
           "(the page results it has not recorded are done again once "
           "their leases lapse)",
           (unsigned long long)ms);
    s->cat_hung = 1;
    stop_now(s);
}

static void on_drain_timeout(uv_timer_t *t)
{
    stop_now(t->data);
}

static void begin_drain(pm__serve_t *s, int signum)
{
    if (s->stopped)
        return;
    if (s->draining) {
        pm_log(PM_LOG_WARN, "serve", "%s again: stopping now",
               strsignal(signum));
        stop_now(s);
        return;
    }
    s->draining = 1;
    pm__notify_stopping(s);
    pm_log(PM_LOG_INFO, "serve",
           "%s: draining: %zu task(s) under way, no new work; stopping within "
           "%d s",
           signum ? strsignal(signum) : "catalog check failed",
           pm__sched_busy(s), s->page_timeout);
    pm__intake_stop(s); /* the tick goes on, reporting the workers */
    uv_timer_start(&s->drain_timer, on_drain_timeout,
                   (uint64_t)s->page_timeout * 1000, 0);
    pm__serve_maybe_stop(s);
}

void pm__serve_fail(pm__serve_t *s)
{
    s->failed = 1;
    if (!s->draining)
        begin_drain(s, 0);
}

/* ---- configuration ---- */

/* Loads `path` and checks that every profile's languages are installed,
 * at start and at each reload, before any page runs; on failure tells
 * every problem (on stderr at start, else on one log line). */
static int load_config(const char *path, pm_config_t **cfg, int to_stderr)
{
    char *errors = NULL;
    int err = pm_config_load(path, cfg, &errors);

    if (err == 0 && ((err = pm_config_check_languages(*cfg, NULL, &errors)) ||
                     (err = pm_volume_check(*cfg, &errors)))) {
        pm_config_free(*cfg);
        *cfg = NULL;
    }
    if (err == 0)
        return 0;
    if (to_stderr) {
        fprintf(stderr, "%s", errors ? errors : "");
        if (errors == NULL)
            fprintf(stderr, "pagemill serve: %s: %s\n", path, pm_strerror(err));
    } else {
        for (char *p = errors; p != NULL && *p; p++)
            if (*p == '\n' && p[1] != '\0')
                *p = ';';
        pm_log(PM_LOG_ERROR, "serve",
               "reload of %s failed; keeping the old configuration: %s", path,
               errors ? errors : pm_strerror(err));
    }
    pm_free(errors);
    return err;
}

static int str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* Settings that only a restart applies. */
static void note_fixed(const pm__serve_t *s, const pm_config_t *n)
{
    const pm_config_t *o = s->cfg;

    if (str_differs(o->catalog, n->catalog) ||
        str_differs(o->spool, n->spool) || str_differs(o->output, n->output) ||
        o->workers != n->workers || o->local_workers != n->local_workers ||
        o->page_timeout != n->page_timeout ||
        o->worker_memory_mb != n->worker_memory_mb ||
        o->max_attempts != n->max_attempts ||
        o->integrity_check_minutes != n->integrity_check_minutes ||
        str_differs(o->tessdata, n->tessdata) ||
        str_differs(o->billing_timezone, n->billing_timezone))
        pm_log(PM_LOG_WARN, "serve",
               "reload: catalog, spool, output, workers, page_timeout, "
               "worker_memory_mb, max_attempts, integrity_check_minutes, "
               "tessdata and the billing timezone take effect at the next "
               "start");
}

static void reload(pm__serve_t *s)
{
    pm_config_t *cfg = NULL;

    pm_log(PM_LOG_INFO, "serve", "SIGHUP: reloading %s", s->config_path);
    if (load_config(s->config_path, &cfg, 0) != 0)
        return;
    note_fixed(s, cfg);
    pm_config_free(s->pending_cfg);
    s->pending_cfg = cfg;
    pm__intake_apply_reload(s); /* now, or when intake is idle */
}

static void on_signal(uv_signal_t *h, int signum)
{
    pm__serve_t *s = h->data;

    if (signum != SIGHUP)
        s->signalled = 1; /* stopping: no rejoin either */
    if (signum == SIGHUP && (s->standby || s->rejoin))
        pm_log(PM_LOG_INFO, "serve",
               "SIGHUP on standby (or reconnecting): nothing to reload; the "
               "configuration read at start is used when this coordinator "
               "takes over");
    else if (signum == SIGHUP)
        reload(s);
    else
        begin_drain(s, signum);
}

/* ---- starting ---- */

/* --rejoin is internal: the re-execution after a lost session (below). */
static int parse_args(int argc, char **argv, const char **config, int *rejoin)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"rejoin", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0}};
    int ch;

    *config = NULL;
    *rejoin = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (ch == 'c') {
            *config = optarg;
        } else if (ch == 'r') {
            *rejoin = 1;
        } else if (ch == 'h') {
            fputs(usage_text, stdout);
            return 1;
        } else {
            fputs(usage_text, stderr);
            return -1;
        }
    }
    if (*config == NULL || optind != argc) {
        fprintf(stderr, "pagemill serve: %s\n\n%s",
                *config == NULL ? "--config FILE is required"
                                : "unexpected argument",
                usage_text);
        return -1;
    }
    return 0;
}

static void set_owner(pm__serve_t *s)
{
    char host[256] = "localhost";

    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(s->owner, sizeof(s->owner), "coordinator:%s:%ld", host,
             (long)getpid());
}

/* Catalog, folders, recovery: what must work before the loop starts. */

/* Billing months (set when a job is done) are counted in the catalog's
 * zone, which must be the configured one (recorded at first use). */
static int billing_zone(pm__serve_t *s)
{
    char tz[256];
    int err = pm_billing_use_catalog_timezone(s->cat, s->cfg->billing_timezone,
                                              tz, sizeof(tz));

    if (err == PM_ECONFIG)
        pm_log(PM_LOG_ERROR, "serve",
               "the catalog's billing time zone %s is not on this machine", tz);
    else if (err != 0)
        pm_log(PM_LOG_ERROR, "serve", "billing time zone: %s",
               pm_catalog_errmsg(s->cat));
    return err;
}

/* One coordinator per catalog: a second one would take the first's
 * running pages for abandoned (pm__sched_recover) and run them twice. On
 * PostgreSQL the second one waits as a standby (standby.c); on SQLite
 * (one machine) it is refused. */
static int coordinator_lock(pm__serve_t *s)
{
    long holder;
    int err = pm_catalog_lock_coordinator(s->cat, &holder);

    if (err == -EBUSY && pm_catalog_is_url(s->catalog_path))
        return pm__standby_start(s, holder);
    if (err == -EBUSY)
        pm_log(PM_LOG_ERROR, "serve",
               "refusing to start: %s. Stop that one first, or give this "
               "one another catalog (a standby coordinator needs a "
               "PostgreSQL catalog)",
               pm_catalog_errmsg(s->cat));
    else if (err != 0)
        pm_log(PM_LOG_ERROR, "serve", "refusing to start: %s",
               pm_catalog_errmsg(s->cat));
    return err;
}

static int open_state(pm__serve_t *s)
{
    const char *missing;
    char shown[1024];
    int err;

    s->spool = pm_strdup(s->cfg->spool);
    s->output = pm_strdup(s->cfg->output);
    s->page_timeout = s->cfg->page_timeout;
    s->max_attempts = s->cfg->max_attempts;
    if (s->spool == NULL || s->output == NULL)
        return PM_ENOMEM;
    set_owner(s);
    missing = pm_catalog_backend_missing(s->cfg->catalog);
    if (missing != NULL) {
        pm_log(PM_LOG_ERROR, "serve",
               "refusing to start: the catalog %s needs the PostgreSQL "
               "backend, which does not yet implement %s (docs/scaling.md); "
               "use an SQLite catalog file",
               s->cfg->catalog, missing);
        return PM_EUNSUPP;
    }
    s->catalog_path = pm_strdup(s->cfg->catalog);
    if (s->catalog_path == NULL)
        return PM_ENOMEM;
    err = pm__ident_precheck(s);
    if (err != 0)
        return err;
    s->rejoin = s->rejoin && pm_catalog_is_url(s->catalog_path);
    if (s->rejoin) { /* after a lost session: wait for the server */
        pm__standby_rejoin(s);
        return 0;
    }
    err = pm_catalog_open(s->catalog_path, &s->cat);
    if (err != 0 && pm_catalog_is_url(s->catalog_path)) {
        pm_log(PM_LOG_ERROR, "serve",
               "cannot open the catalog %s: %s. Check that the PostgreSQL "
               "server is running and reachable and the URL is right; a "
               "damaged database is restored with pg_restore from a pg_dump "
               "backup (docs/scaling.md)",
               pm_catalog_shown(s->catalog_path, shown, sizeof(shown)),
               pm_strerror(err));
        return err;
    }
    if (err != 0) {
        pm_log(PM_LOG_ERROR, "serve",
               "cannot open the catalog %s: %s. If it is damaged, restore it "
               "from a backup (stop pagemill, copy the backup over %s, with no "
               "%s-wal or %s-shm beside it)",
               s->catalog_path, pm_strerror(err), s->catalog_path,
               s->catalog_path, s->catalog_path);
        return err;
    }
    return coordinator_lock(s);
}

void pm__serve_rejoined(pm__serve_t *s, int lock_err, long holder)
{
    /* The workers' rows the lost session could not clear (same owner:
     * same pid), lest `status` show a second coordinator. */
    if (pm_worker_report(s->cat, s->owner, NULL, 0, pm__serve_now()) != 0)
        pm_log(PM_LOG_WARN, "serve", "rejoin: clearing the workers table: %s",
               pm_catalog_errmsg(s->cat));
    s->rejoin = 0; /* connected: a standby, or the coordinator */
    if (lock_err == -EBUSY) {
        pm__standby_start(s, holder);
        return;
    }
    assert(lock_err == 0);
    pm_log(PM_LOG_INFO, "serve",
           "rejoin: the coordinator lock is free; taking over as %s", s->owner);
    pm__serve_activate(s); /* a failure ends the loop, exit 1 */
}

/* Once the coordinator lock is ours: identity, zone, folders, recovery. */
static int take_charge(pm__serve_t *s)
{
    int err;

    pm_catalog_answer_within(s->cat, PM__ANSWER_MS);
    err = pm__ident_check(s);

    if (err == 0)
        err = billing_zone(s);
    if (err != 0)
        return err;
    if ((err = pm_mkdir_p(s->spool)) != 0 ||
        (err = pm_mkdir_p(s->output)) != 0) {
        pm_log(PM_LOG_ERROR, "serve", "cannot create %s or %s: %s", s->spool,
               s->output, pm_strerror(err));
        return err;
    }
    return pm__sched_recover(s);
}

static void start_signal(pm__serve_t *s, uv_signal_t *h, int signum)
{
    uv_signal_init(s->loop, h);
    h->data = s;
    uv_signal_start(h, on_signal, signum);
}

/* Appends `item` to the ','-separated list *list unless it is there;
 * 0 or PM_ENOMEM. */
static int list_add(char **list, const char *item)
{
    size_t n = strlen(item);
    char *grown;

    for (const char *p = *list; p != NULL && *p != '\0';) {
        size_t k = strcspn(p, ",");

        if (k == n && strncmp(p, item, n) == 0)
            return 0;
        p += k + (p[k] == ',');
    }
    grown = *list == NULL ? pm_strdup(item) : pm_asprintf("%s,%s", *list, item);
    if (grown == NULL)
        return PM_ENOMEM;
    pm_free(*list);
    *list = grown;
    return 0;
}

/* What every worker loads before its first page (pm_engine_warm): the
 * language sets of the profiles that read (OCR, or orientation, which
 * reads a sample when unsure), and OSD when a profile orients. A service
 * worker lives across jobs, so its first page of any job, whatever its
 * profile, finds Tesseract loaded. NULL when nothing reads (or out of
 * memory: then loaded on first use). */
static char *warm_list(const pm_config_t *cfg)
{
    char *list = NULL;
    int osd = 0, err = 0;

    for (size_t i = 0; i < cfg->nprofiles && err == 0; i++) {
        const pm_profile_t *p = &cfg->profiles[i];

        if (p->ocr || p->orient)
            err = list_add(&list, p->languages);
        osd |= p->orient;
    }
    if (err == 0 && osd)
        err = list_add(&list, "osd");
    if (err != 0) {
        pm_free(list);
        return NULL;
    }
    return list;
}

void pm__serve_rewarm(pm__serve_t *s)
{
    char *warm;

    if (s->pool == NULL)
        return;
    warm = warm_list(s->cfg);
    if (pm_pool_warm(s->pool, warm) != 0)
        pm_log(PM_LOG_WARN, "serve",
               "reload: workers load the new profiles' languages on first "
               "use (out of memory)");
    pm_free(warm);
}

/* Workers, hot folders, tick. */
static int start_loop(pm__serve_t *s)
{
    size_t exe_len = sizeof(s->exe);
    pm_pool_opts_t po;
    char *warm = NULL, shown[1024];
    int err;

    err = uv_exepath(s->exe, &exe_len);
    if (err == 0) {
        s->agents_only = s->cfg->local_workers == 0;
        pm_pool_opts_from_config(&po, s->cfg, s->exe,
                                 s->agents_only ? 1 : s->cfg->local_workers);
        if (!s->agents_only) /* assembly needs no Tesseract */
            po.warm = warm = warm_list(s->cfg);
        err = pm_pool_open(s->loop, &po, pm__sched_on_done, s, &s->pool);
        pm_free(warm); /* the pool keeps its own copy */
        if (err != 0)
            pm_log(PM_LOG_ERROR, "serve", "cannot start workers: %s",
                   pm_strerror(err));
    }
    if (err == 0)
        err = pm__intake_start(s);
    if (err == 0)
        err = pm__http_start(s);
    if (err == 0)
        err = pm__alerts_start(s);
    if (err == 0)
        err = pm__archive_start(s);
    if (err != 0)
        return err;
    err = pm__sched_start(s);
    if (err != 0)
        return err;
    pm__integrity_start(s);
    pm_log(PM_LOG_INFO, "serve",
           "started as %s: %d worker(s)%s, %zu hot folder(s), catalog %s, "
           "spool %s, output %s",
           s->owner, po.workers,
           s->agents_only ? " for assembly only (local_workers = 0: pages "
                            "go to node agents)"
                          : "",
           s->nwatches, pm_catalog_shown(s->cfg->catalog, shown, sizeof(shown)),
           s->spool, s->output);
    pm__notify_ready(s);
    return 0;
}

int pm__serve_activate(pm__serve_t *s)
{
    int err = take_charge(s);

    if (err == 0)
        err = start_loop(s);
    if (err != 0) {
        s->failed = 1;
        s->draining = 1;
        close_all(s);
    }
    return err;
}

static void serve_cleanup(pm__serve_t *s)
{
    assert(s->work_running == NULL); /* the loop ran until it returned */
    pm_catalog_close(s->work_cat);
    s->work_cat = NULL;
    pm_catalog_close(s->cat);
    pm_config_free(s->cfg);
    pm_config_free(s->pending_cfg);
    pm_free(s->spool);
    pm_free(s->output);
    pm_free(s->catalog_path);
    pm__space_cleanup(s);
}

/* ---- rejoining after a lost session ---- */

/* SIGTERM or SIGINT between the loop's end and the exec: no rejoin. A
 * SIGHUP is moot: the new image reads the configuration again. */
static volatile sig_atomic_t late_stop;

static void on_late_signal(int signum)
{
    if (signum != SIGHUP)
        late_stop = 1;
}

static void stop_signals_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

/* The killed workers (and any other child): reaped, so none is left a
 * zombie of the new image, which knows nothing of them. */
static void reap_children(void)
{
    double until = pm_now_ms() + 10000;
    struct timespec nap = {0, 10 * 1000 * 1000};
    pid_t r;

    while ((r = waitpid(-1, NULL, WNOHANG)) >= 0 || errno == EINTR) {
        if (r == 0 && pm_now_ms() > until) {
            pm_log(PM_LOG_WARN, "serve",
                   "rejoin: a child process has not exited after 10 s");
            return;
        }
        if (r == 0)
            nanosleep(&nap, NULL);
    }
}

/*
 * Re-executes this binary as `serve --config FILE --rejoin`, same pid:
 * fresh state, nothing of the lost coordinator kept but its open files
 * without close-on-exec (stdio; libuv, libpq, SQLite and libmicrohttpd
 * open theirs close-on-exec). Stop signals stay blocked across the exec,
 * so one that comes meanwhile waits for the new image's handlers. Returns
 * only when it did not (a signal came, or the exec failed: logged).
 */
static void rejoin_exec(pm__serve_t *s)
{
    char name[] = "pagemill", cmd[] = "serve", opt[] = "--config",
         again[] = "--rejoin";
    char *argv[] = {name, cmd, opt, (char *)s->config_path, again, NULL};
    struct sigaction sa;
    sigset_t set;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_late_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    stop_signals_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    reap_children();
    if (s->signalled || late_stop) {
        pm_log(PM_LOG_INFO, "serve", "stopped by a signal: not reconnecting");
        return;
    }
    pm_log(PM_LOG_INFO, "serve",
           "rejoin: starting again (pid %ld) to reconnect to the catalog",
           (long)getpid());
    fflush(NULL);
    execv("/proc/self/exe", argv);
    pm_log(PM_LOG_ERROR, "serve",
           "rejoin: cannot execute /proc/self/exe: %s; exiting (a supervisor "
           "starts it again)",
           strerror(errno));
}

static int run(pm__serve_t *s)
{
    uv_loop_t loop;
    sigset_t set;
    int err;

    if (uv_loop_init(&loop) != 0)
        return PM_EXIT_FAILURE;
    s->loop = &loop;
    /* Signals first: one that comes while the catalog opens is handled
     * as soon as the loop runs (and one that came while a lost
     * coordinator re-executed itself, blocked until now). */
    start_signal(s, &s->sig_term, SIGTERM);
    start_signal(s, &s->sig_int, SIGINT);
    start_signal(s, &s->sig_hup, SIGHUP);
    stop_signals_set(&set);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    uv_timer_init(s->loop, &s->drain_timer);
    s->drain_timer.data = s;
    if (s->rejoin) /* systemd's watchdog: the unit was ready before */
        pm__notify_watchdog(s);
    err = open_state(s);
    if (err != 0) {
        s->draining = 1;
        close_all(s);
    } else if (!s->standby && !s->rejoin) {
        err = pm__serve_activate(s);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (s->lost) {
        rejoin_exec(s);
        close_signals(s);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&loop);
    return err != 0 || s->failed ? PM_EXIT_FAILURE : PM_EXIT_OK;
}

int pm_serve_main(int argc, char **argv)
{
    pm__serve_t s;
    const char *config;
    int rc, rejoin;

    rc = parse_args(argc, argv, &config, &rejoin);
    if (rc != 0)
        return rc > 0 ? PM_EXIT_OK : PM_EXIT_USAGE;
    memset(&s, 0, sizeof(s));
    s.rejoin = rejoin;
    if (load_config(config, &s.cfg, 1) != 0)
        return PM_EXIT_USAGE;
    if (uv_mutex_init(&s.work_lock) != 0)
        return PM_EXIT_FAILURE;
    s.config_path = config;
    /* A worker that dies while we write to it must not take us along. */
    signal(SIGPIPE, SIG_IGN);
    rc = run(&s);
    serve_cleanup(&s);
    uv_mutex_destroy(&s.work_lock);
    return rc;
}
