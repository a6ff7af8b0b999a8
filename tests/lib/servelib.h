/*
 * servelib.h: helpers shared by the end-to-end tests that run the real
 * `pagemill serve` (tests/e2e/test_serve.c, test_billing.c and
 * test_integrity.c): a fixture root with its configuration, hot folder,
 * spool, output and catalog; starting, signalling and reaping the
 * service and finding its workers; running the `pagemill` CLI on the
 * fixture and waiting for a batch's job through `job list --json`;
 * synthetic pages. Built on testlib.h; failures fail the current cmocka
 * test.
 */
#ifndef PM_TESTS_SERVELIB_H
#define PM_TESTS_SERVELIB_H

#include <stddef.h>
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
/* Waits up to `secs` until the job of `batch` exists and is in `state`
 * (NULL: any); returns its id. Fails naming what it last saw, at once
 * if the job fails when another state is wanted. */
long long sv_wait_job(const sv_fx_t *f, const char *batch, const char *state,
                      double secs);

/* The billable pages of job `id`, read from f's catalog (either backend). */
long long sv_billable(const sv_fx_t *f, long long id);

#endif /* PM_TESTS_SERVELIB_H */
