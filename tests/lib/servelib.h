/*
 * servelib.h: helpers shared by the end-to-end tests that run the real
 * `pagemill serve` (tests/e2e/test_serve.c, test_billing.c and
 * test_integrity.c): a fixture root with its configuration, hot folder,
 * spool, output and catalog; starting, signalling and reaping the
 * service and finding its workers; running the `pagemill` CLI on the
 * fixture and waiting for a batch's job through `job list --json`;
 * synthetic pages and batches dropped into the hot folder; node agents
 * (`pagemill agent`) started, stopped and cleaned up after. Built on
 * testlib.h; failures fail the current cmocka test.
 */
#ifndef PM_TESTS_SERVELIB_H
#define PM_TESTS_SERVELIB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "lib/testlib.h"

/* One service root. The paths are set by sv_fx_init, the pid by
 * sv_start and cleared when the service is reaped. */
typedef struct sv_fx {
    char root[256];
    char ini[320];   /* root/pagemill.ini, written by sv_write_config */
    char db[320];    /* root/catalog.db */
    char log[320];   /* root/serve.log: the service's stdout and stderr */
    char err[320];   /* root/cli.err: the last CLI command's stderr */
    char out[320];   /* root/out: where jobs are published */
    char scans[320]; /* root/hot/scans: the hot folder every test uses */
    pid_t pid;       /* the service, or 0 */
} sv_fx_t;

/* Seconds on a monotonic clock. */
double sv_now_s(void);
/* Sleeps `ms` milliseconds. */
void sv_nap_ms(long ms);
/* Writes `text` to `path` atomically; fails the test on error. */
void sv_write_text(const char *path, const char *text);

/* Writes a 300 dpi letter page as a G4 TIFF at `dst` with `lines`
 * (NULL-terminated; none: a blank page) in the bitmap font. */
void sv_page(const char *dst, const char *const *lines);

/* Clears `f`, sets its paths under `root` (borrowed) and creates root
 * and the scans hot folder; 0 on success, -1 on error. */
int sv_fx_init(sv_fx_t *f, const char *root);
/*
 * Writes f->ini: [pagemill] with 2 workers, `page_timeout`, the
 * fixture's catalog, spool (root/spool) and output, then `extra`
 * (borrowed: more [pagemill] keys, then any further sections), then
 * [hotfolder scans] with marker batch.ini. 0 on success, -1 on error.
 */
int sv_write_config(const sv_fx_t *f, int page_timeout, const char *extra);
/*
 * The usual fixture, allocated: sv_fx_init in a new temporary folder
 * (t_tmpdir), sv_write_config(page_timeout, extra), account ACME and
 * work order WO-1 (of fee code `fee_code` when not NULL, which is then
 * created at 0.08125 per page). Fails the current test on error.
 * Freed by sv_fx_delete.
 */
sv_fx_t *sv_fx_new(int page_timeout, const char *extra, const char *fee_code);
/* sv_fx_fini(f, page_timeout + 10), then frees `f` and the temporary
 * folder; sv_fx_fini's result. */
int sv_fx_delete(sv_fx_t *f, int page_timeout);
/*
 * Ends the fixture's service: SIGTERM, which it must exit 0 from within
 * `secs`, else SIGKILL. Prints the log when something went wrong or
 * PM_SHOW_LOG is set. Returns 0, or -1 on a bad exit or a sanitizer
 * report in the log. Does nothing for a fixture never initialised.
 */
int sv_fx_fini(sv_fx_t *f, double secs);

/* Waits up to `secs` until the service's log contains `text`; fails the
 * test, showing the log, when it never does. */
void sv_wait_log(const sv_fx_t *f, const char *text, double secs);
/* As sv_wait_log, but fails at once, with the wait status, when the
 * service exits meanwhile (it must not). */
void sv_wait_log_alive(sv_fx_t *f, const char *text, double secs);
/* The same for the file `path` (another process's log). */
void sv_wait_text(const char *path, const char *text, double secs);
/* How often `text` occurs in the file `path` (0 when it cannot be
 * read). */
int sv_log_count(const char *path, const char *text);

/* Forks and execs `pagemill serve --config f->ini`, its output appended
 * to f->log; sets f->pid. */
void sv_start(sv_fx_t *f);
/* Waits up to `secs` for the service to exit; returns its wait status
 * (and clears f->pid), or -1 if it is still running. */
int sv_reap(sv_fx_t *f, double secs);
/* Sends `sig` and waits up to `secs` for the exit; returns the wait
 * status. Fails the test if the service does not exit. */
int sv_stop(sv_fx_t *f, int sig, double secs);
/* PIDs of the service's worker processes (its children), into v[max];
 * returns how many. */
int sv_worker_pids(const sv_fx_t *f, pid_t *v, int max);

/* Runs `pagemill ARGS --config f->ini` with stderr into f->err: its exit
 * status; its stdout in *out and its stderr in *err (new strings, caller
 * frees) when those are not NULL. */
int sv_cli(const sv_fx_t *f, char **out, char **err, const char *args);
/* Runs `pagemill ARGS`; fails the test, with its stderr, unless it exits
 * 0. */
void sv_cli_ok(const sv_fx_t *f, const char *args);
/* As sv_cli_ok, and returns its stdout (caller frees). */
char *sv_cli_text(const sv_fx_t *f, const char *args);
/* Runs `pagemill ARGS` (which must succeed) and parses its stdout as
 * JSON; returns the document (caller owns the reference). */
json_t *sv_cli_doc(const sv_fx_t *f, const char *args);
/* sv_cli_doc of `pagemill ARGS --json`. */
json_t *sv_cli_json(const sv_fx_t *f, const char *args);

/* `pagemill status --json`, which may exit 0, 3 (a job failed) or 4 (no
 * service running; *rc says which when rc is not NULL): the document. */
json_t *sv_cli_status(const sv_fx_t *f, int *rc);

/* String member `key` of `o`, or "" (borrowed from `o`). */
const char *sv_jstr(json_t *o, const char *key);
/* Integer member `key` of `o`, or 0. */
long long sv_jint(json_t *o, const char *key);

/* The job made from batch `batch`, as `job list` shows it (new
 * reference), or NULL. */
json_t *sv_find_job(const sv_fx_t *f, const char *batch);
/* The state of batch's job ("" when there is none yet) into seen[64];
 * returns its id, or 0. */
long long sv_job_state(const sv_fx_t *f, const char *batch, char *seen);
/* Waits up to `secs` for job `id`'s page replacement to be done (its
 * "page.replaced" event): fails at once, with its reason, when it failed
 * ("page.replace_failed"). */
void sv_wait_replaced(const sv_fx_t *f, long long id, double secs);

/* Waits up to `secs` until the job of `batch` exists and is in `state`
 * (NULL: any); returns its id. Fails naming what it last saw, at once
 * if the job fails when another state is wanted. */
long long sv_wait_job(const sv_fx_t *f, const char *batch, const char *state,
                      double secs);

/* Waits up to `secs` for a page of `job` running under a lease whose
 * owner begins with `owner` (e.g. "agent:"); returns its task id, its
 * attempt in *attempt and the lease's owner in holder[64]. Fails the test
 * when none comes. */
int64_t sv_wait_running(const sv_fx_t *f, long long job, const char *owner,
                        int *attempt, char *holder, double secs);
/* Asserts that job `id` has `pages` page tasks, every one done, and one
 * billable row each; the highest attempt into *max_attempt. */
void sv_assert_all_done(const sv_fx_t *f, long long id, int pages,
                        int *max_attempt);

/* Drops batch `name` into the scans hot folder: `n` pages of text
 * naming the batch and the page (no two batches alike: intake holds a
 * possible duplicate), then the marker (account ACME). */
void sv_drop_text_batch(const sv_fx_t *f, const char *name, int n);
/* The same with real scans, alternating Tesseract's phototest.tif and
 * eurotext.tif from the test data (one such batch per catalog). */
void sv_drop_scan_batch(const sv_fx_t *f, const char *name, int n);

/* A node agent a test started. */
typedef struct sv_agent {
    char node[32];
    char log[600]; /* its stdout and stderr */
    pid_t pid;     /* 0 once reaped */
} sv_agent_t;

/*
 * Starts `pagemill agent --config ini --node node --workers 1` and the
 * further arguments (NULL-terminated), its output appended to
 * dir/<node>.log; fills `a`. Every agent started is remembered for
 * sv_agents_cleanup.
 */
void sv_agent_start(sv_agent_t *a, const char *ini, const char *dir,
                    const char *node, ...) __attribute__((sentinel));
/* Sends `sig` and waits up to `secs` for the exit, reaping it; with
 * SIGTERM the agent must exit 0 (its pages finished). Shows its log on a
 * bad exit or with PM_SHOW_LOG. Does nothing for an agent not running. */
void sv_agent_stop(sv_agent_t *a, int sig, double secs);
/*
 * Stops agent `a` (SIGSTOP) and reads page task `task` of job `job` of
 * `catalog` again:
 * 1 when it is still running under lease owner `holder` at `attempt`, so
 * the agent, frozen, can no longer complete it (kill it with
 * sv_agent_stop(a, SIGKILL, ...) to have it die mid-page); otherwise the
 * page ended between the caller's look and the stop: the agent is
 * continued (SIGCONT) and 0 returned, for the caller to look again.
 */
int sv_agent_freeze_on(sv_agent_t *a, const char *catalog, long long job,
                       int64_t task, const char *holder, int attempt);
/* Kills and reaps every agent still running (a failed test's); -1 when
 * any agent's log holds a sanitizer report, else 0. */
int sv_agents_cleanup(void);

/* The billable pages of job `id`, read from f's catalog (either backend). */
long long sv_billable(const sv_fx_t *f, long long id);

#endif /* PM_TESTS_SERVELIB_H */
