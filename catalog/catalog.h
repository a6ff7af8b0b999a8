/*
 * catalog.h: the catalog, pagemill's system of record and its queue.
 * Accounts, work orders, jobs, page tasks (state, attempts, lease, metrics),
 * billable pages and an append-only event trail, behind one interface.
 * The SQLite backend (sqlite_*.c, sqlite_int.h) is the embedded default; a
 * PostgreSQL backend (pg_*.c, pg_int.h; in progress, see docs/scaling.md)
 * implements the same functions for many machines. catalog.c dispatches
 * each call to the handle's backend.
 *
 * The catalog knows nothing of hot folders, workers or HTTP: it stores and
 * answers. Every function returns 0 or a negative PM_* code; on
 * PM_ECATALOG the detail is in pm_catalog_errmsg(). Strings passed in are
 * borrowed (copied if kept); structs filled by the catalog own their
 * strings and are released with their _cleanup function. Times are UTC,
 * seconds since the epoch.
 */
#ifndef PM_CATALOG_H
#define PM_CATALOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct pm_catalog pm_catalog_t;

/* ---- lifetime ---- */

/*
 * Opens (creating if needed) the catalog at `path` (":memory:" for tests):
 * WAL mode, foreign keys on, a busy timeout, and every numbered migration
 * not yet recorded applied in one transaction each. On success *out is a
 * new handle the caller owns (pm_catalog_close). On failure *out is NULL
 * and the reason has been logged.
 *
 * Given a postgresql:// (or postgres://) URL instead of a path, opens
 * that PostgreSQL database with the same migrations in its dialect.
 */
int pm_catalog_open(const char *url_or_path, pm_catalog_t **out);

/* The first public function the backend `url_or_path` selects does not
 * implement yet (e.g. "pm_job_create"), or NULL when it has them all. A
 * command that needs the whole catalog refuses such a backend up front
 * rather than half-work. Connects to nothing. */
const char *pm_catalog_backend_missing(const char *url_or_path);

/* True when `s` names a PostgreSQL catalog (postgresql:// or
 * postgres://), not an SQLite file: no file to stat, lock or copy. */
int pm_catalog_is_url(const char *s);

/* `url_or_path` for a message or a log line: a URL's password shown as
 * "***", a path as it is. Writes buf[size]; returns buf. */
const char *pm_catalog_shown(const char *url_or_path, char *buf, size_t size);

/* "SQLite" or "PostgreSQL": the backend of an open handle. */
const char *pm_catalog_backend_name(const pm_catalog_t *cat);

/* Closes the catalog. Accepts NULL. */
void pm_catalog_close(pm_catalog_t *cat);

/*
 * Makes this handle the catalog's one coordinator until it is closed: the
 * queue's recovery (pm_task_requeue_all_running) takes every coordinator
 * lease for a dead one, so a second coordinator on the same catalog must
 * not start (on PostgreSQL it waits and tries again: pipeline/standby.c).
 * SQLite: an exclusive flock on "<catalog>.lock" (holding the holder's pid),
 * released by pm_catalog_close or the process's end; a catalog in memory needs
 * none. -EBUSY when another handle holds it, with *holder its pid (0 if
 * unknown) and errmsg naming the catalog, the pid and the lock file; else
 * *holder is 0.
 */
int pm_catalog_lock_coordinator(pm_catalog_t *cat, long *holder);

/* Detail of the last failure on this handle. Borrowed. */
const char *pm_catalog_errmsg(const pm_catalog_t *cat);

/* The schema version (number of the last migration applied). */
int pm_catalog_schema_version(pm_catalog_t *cat, int *version);

/* Runs the database's integrity check; *ok is 1 when clean, and *report
 * (new string, caller frees with pm_free) says what it found. */
int pm_catalog_check(pm_catalog_t *cat, int *ok, char **report);

/* ---- identity and integrity (identity.c) ---- */

/* Characters of an installation id or a job uid, with the NUL: 32
 * lower-case hex digits (128 random bits). */
#define PM_CATALOG_ID_SIZE 33

/* The catalog's installation id, made when the catalog was created (or
 * first opened by a pagemill that knows about it). */
int pm_catalog_installation_id(pm_catalog_t *cat, char id[PM_CATALOG_ID_SIZE]);

/* Number of jobs the catalog has ever recorded. */
int pm_catalog_job_count(pm_catalog_t *cat, int64_t *n);

/* SQLite's quick_check (page and b-tree structure, no index contents):
 * *ok is 1 when clean, *report (new string, pm_free) what it found. A
 * database too damaged to be read at all is *ok 0 with SQLite's error,
 * not an error return. */
int pm_catalog_quick_check(pm_catalog_t *cat, int *ok, char **report);

/* Job `job`'s uid, random, fixed when the job was created. PM_ENOENT if
 * there is no such job. */
int pm_job_uid(pm_catalog_t *cat, int64_t job, char uid[PM_CATALOG_ID_SIZE]);

/* ---- events: who did what, when; append only ---- */

typedef struct pm_event {
    int64_t id;
    int64_t at;
    char *actor; /* "operator:jane", "coordinator", "cli:root" */
    char *kind;  /* "job.created", "page.done", "workorder.closed" ... */
    int64_t job; /* 0 if none */
    int page;    /* 0 if none */
    char *detail;
} pm_event_t;

void pm_event_cleanup(pm_event_t *e);

/* Appends an event. `job`/`page` may be 0; `detail` may be NULL. */
int pm_event_add(pm_catalog_t *cat, const char *actor, const char *kind,
                 int64_t job, int page, const char *detail);

/* Lists the events of a job (all events when job == 0): the newest
 * `limit` (0: all), shown oldest first, like tail. *out is a new array; free
 * with pm_event_list_free. */
int pm_event_list(pm_catalog_t *cat, int64_t job, size_t limit,
                  pm_event_t **out, size_t *n);
void pm_event_list_free(pm_event_t *v, size_t n);

/* ---- identifiers: what codes and numbers may be (ident.c) ---- */

typedef enum {
    PM_IDENT_ACCOUNT = 1,
    PM_IDENT_WORKORDER,
    PM_IDENT_FEE,
} pm_ident_kind_t;

/* Longest work order number, and account or fee code. */
#define PM_IDENT_MAX 64
#define PM_CODE_MAX  32

/*
 * 0 when `s` may be an identifier of `kind`: 1..PM_IDENT_MAX (codes:
 * PM_CODE_MAX) ASCII letters, digits, '.', '-' and (not in work orders, where
 * it starts a batch name's suffix) '_', starting with a letter or digit,
 * without "..". Else PM_EINVAL with the reason in why[size]. The catalog
 * refuses what this refuses; the CLI asks first.
 */
int pm_ident_check(pm_ident_kind_t kind, const char *s, char *why, size_t size);
/* "account code", "work order number" or "fee code". */
const char *pm_ident_name(pm_ident_kind_t kind);

/* ---- accounts ---- */

typedef struct pm_account {
    int64_t id;
    char *code; /* short unique code, e.g. "CITY-ARCHIVE" */
    char *name;
    char *contact;        /* billing contact, may be NULL */
    char *account_number; /* for the accounting export, may be NULL */
    int64_t created_at;
} pm_account_t;

void pm_account_cleanup(pm_account_t *a);

/* Adds an account; PM_EEXIST (-EEXIST) when the code is taken. */
int pm_account_add(pm_catalog_t *cat, const pm_account_t *a, const char *actor,
                   int64_t *id);
/* PM_ENOENT when there is no such account. */
int pm_account_get(pm_catalog_t *cat, const char *code, pm_account_t *out);
int pm_account_list(pm_catalog_t *cat, pm_account_t **out, size_t *n);
void pm_account_list_free(pm_account_t *v, size_t n);

/* ---- work orders ---- */

typedef struct pm_workorder {
    int64_t id;
    char *number;   /* "WO-2026-0142" */
    char *account;  /* account code */
    char *fee_code; /* may be NULL until billing sets fee schedules */
    char *status;   /* "open" or "closed" */
    char *notes;
    int64_t created_at, closed_at;
} pm_workorder_t;

void pm_workorder_cleanup(pm_workorder_t *w);

/* Adds an open work order for an existing account: PM_ENOENT if the
 * account (or the fee code, when given) is unknown, -EEXIST if the number
 * is taken. */
int pm_workorder_add(pm_catalog_t *cat, const pm_workorder_t *w,
                     const char *actor, int64_t *id);
int pm_workorder_get(pm_catalog_t *cat, const char *number,
                     pm_workorder_t *out);
/* Lists work orders, of one account when `account` is not NULL. */
int pm_workorder_list(pm_catalog_t *cat, const char *account,
                      pm_workorder_t **out, size_t *n);
void pm_workorder_list_free(pm_workorder_t *v, size_t n);
/* Closes a work order (no new batches are accepted for it). */
int pm_workorder_close(pm_catalog_t *cat, const char *number,
                       const char *actor);

/* ---- jobs ---- */

typedef enum {
    PM_JOB_RECEIVED = 0, /* recorded, pages not yet queued */
    PM_JOB_QUEUED,       /* pages waiting for workers */
    PM_JOB_RUNNING,      /* at least one page claimed */
    PM_JOB_ASSEMBLING,   /* every page done; building outputs */
    PM_JOB_DONE,         /* outputs published; billable */
    PM_JOB_HELD,         /* needs a person: duplicate, unknown work order */
    PM_JOB_FAILED,       /* pages failed after retries; nothing published */
    PM_JOB_CANCELLED,
} pm_job_state_t;

/* "received", "queued", ...; NULL-safe parse returns -1 if unknown. */
const char *pm_job_state_name(pm_job_state_t s);
int pm_job_state_parse(const char *s);

typedef struct pm_job {
    int64_t id;
    char *workorder; /* work order number */
    char *account;   /* account code */
    char *hotfolder; /* name of the hot folder it came from, or NULL */
    char *profile;
    char *batch; /* batch name as dropped, "WO-2026-0142_box17" */
    char *operator_name;
    char *notes;
    char *source_path; /* where the batch now sits (spool) */
    char *output_path; /* published outputs, once done */
    char *hold_reason; /* why held, or NULL */
    char *error;       /* why failed, or NULL */
    pm_job_state_t state;
    int pages, pages_done, pages_failed, pages_blank;
    int bill_blank;        /* blank pages are billed (from the profile) */
    char billing_month[8]; /* "YYYY-MM" once done, else "" */
    int64_t duplicate_of;  /* earlier job with the same inputs, or 0 */
    int64_t created_at, updated_at, finished_at;
} pm_job_t;

void pm_job_cleanup(pm_job_t *j);

/* One page of a new job, in page order. */
typedef struct pm_page_input {
    const char *src;    /* file path */
    int frame;          /* 0-based frame within the file */
    const char *sha256; /* 64 hex digits of the file's SHA-256 */
    int64_t work;       /* the page's pixels (its work estimate), 0: unknown */
} pm_page_input_t;

/*
 * Records a job and one queued page task per page in ONE transaction, with
 * a "job.created" event; the job starts queued, or held with
 * `j->hold_reason` when that is set. Fields of `j` used: workorder, account,
 * hotfolder, profile, batch, operator_name, notes, source_path,
 * hold_reason, duplicate_of, bill_blank. *id receives the new job's id.
 */
int pm_job_create(pm_catalog_t *cat, const pm_job_t *j,
                  const pm_page_input_t *pages, size_t npages,
                  const char *actor, int64_t *id);

/* The earliest job (not cancelled) that has a page with any of the given
 * checksums, or *job = 0. */
int pm_job_find_duplicate(pm_catalog_t *cat, const pm_page_input_t *pages,
                          size_t npages, int64_t *job);

/* The (first) job whose batch sits at `source_path`, or *job = 0. */
int pm_job_by_source(pm_catalog_t *cat, const char *source_path, int64_t *job);

/* PM_ENOENT when there is no such job. */
int pm_job_get(pm_catalog_t *cat, int64_t id, pm_job_t *out);

/* Jobs, newest first; filter by state (-1: any) and work order (NULL:
 * any), at most `limit` (0: no limit). */
int pm_job_list(pm_catalog_t *cat, int state, const char *workorder,
                size_t limit, pm_job_t **out, size_t *n);
void pm_job_list_free(pm_job_t *v, size_t n);

/*
 * Operator actions, each an event with the actor:
 *  release: held -> queued;
 *  retry:   failed -> queued, its failed pages queued again with their
 *           attempt budget reset (the attempt number, the fencing token,
 *           keeps growing; done pages are kept, never redone or re-billed);
 *  cancel:  any state but cancelled -> cancelled; its billable rows stop
 *           counting. A done job whose billing month is closed gets a
 *           credit adjustment for what it was billed in the first open
 *           month (the closed month itself never changes).
 * A job in the wrong state gives PM_EINVAL with the reason in errmsg.
 */
int pm_job_release(pm_catalog_t *cat, int64_t id, const char *actor);
int pm_job_retry(pm_catalog_t *cat, int64_t id, const char *actor);
int pm_job_cancel(pm_catalog_t *cat, int64_t id, const char *actor,
                  const char *reason);

/* ---- page tasks: the queue ---- */

typedef enum {
    PM_TASK_QUEUED = 0,
    PM_TASK_RUNNING,
    PM_TASK_DONE,
    PM_TASK_FAILED,
} pm_task_state_t;

const char *pm_task_state_name(pm_task_state_t s);

/* What a finished page measured; the catalog stores, never interprets,
 * except `blank` (for billing). */
typedef struct pm_page_metrics {
    int width, height, xres, yres, rotation;
    double orient_confidence, skew, skew_confidence;
    int blank;
    double ink_ratio;
    int words;
    double confidence;
    const char *kind;  /* "bitonal" / "gray" / "color" */
    const char *codec; /* "g4" / "jpeg" / "jp2" */
    int64_t bytes;
    double ms_decode, ms_orient, ms_deskew, ms_blank, ms_ocr, ms_encode,
        ms_total;
    const char *image, *text_pdf, *text; /* artifact paths */
    int orient_osd;     /* Tesseract OSD decided the orientation */
    int dpi_fallback;   /* pm_dpi_source_t: 0 the file's, 1 the default,
                         * 2 estimated from the text */
    const char *review; /* why a person should look at the page, or NULL */
    const char *orient_method;   /* how the orientation was decided, or
                                  * NULL (pm_orient_method_name) */
    const char *orient_evidence; /* its evidence, compact JSON, or NULL */
} pm_page_metrics_t;

typedef struct pm_task {
    int64_t id;
    int64_t job;
    int page; /* 1-based within the job */
    char *src;
    int frame;
    char *sha256;
    pm_task_state_t state;
    int attempts; /* claims so far; the fencing token of the current one */
    char *lease_owner;
    int64_t lease_until;
    char *error;
    /* Filled for done pages (strings owned by the task): */
    pm_page_metrics_t m;
    char *kind, *codec, *image, *text_pdf, *text;
    char *review, *orient_method, *orient_evidence;
    int64_t finished_at;
    /* What a worker's page needs of its job's row, so that whoever
     * claims it reads no job row a page: set by pm_task_claim and
     * pm_task_claim_n only (NULL elsewhere). */
    char *profile; /* the job's profile; "default" when it names none */
} pm_task_t;

void pm_task_cleanup(pm_task_t *t);

/*
 * Claims the next page task for `owner` with a lease until now + lease_s:
 * a queued task, or a running one whose lease lapsed. Fair order: among
 * jobs in state queued or running, the job with the fewest pages running
 * now, then the oldest job, then the lowest page. Increments attempts (the
 * fencing token), moves the job to running. PM_ENOENT when nothing is
 * claimable. Jobs held, failed, cancelled or done are never claimed from.
 */
int pm_task_claim(pm_catalog_t *cat, const char *owner, int lease_s,
                  int64_t now, pm_task_t *out);

/*
 * Claims up to `max` (>= 1) page tasks for `owner` in ONE transaction, each
 * with a lease until now + lease_s: the tasks, in the order, that `max`
 * pm_task_claim calls in a row would take (the fair order is kept: each
 * page taken counts as running for its job's next one), each with its
 * job's profile (pm_task_t.profile). On PostgreSQL a
 * page another session is claiming is skipped, never waited for. *out is
 * a new array of *n (1..max) tasks (pm_task_list_free); PM_ENOENT, *out
 * NULL, when nothing is claimable.
 */
int pm_task_claim_n(pm_catalog_t *cat, const char *owner, int lease_s,
                    int64_t now, size_t max, pm_task_t **out, size_t *n);

/* Extends a lease; -ESTALE when the task is no longer ours (attempt
 * changed or state not running). */
int pm_task_renew(pm_catalog_t *cat, int64_t id, int attempt, int lease_s,
                  int64_t now);

/* A lease to renew: the task and the attempt holding it; `ok` is the
 * answer. */
typedef struct pm_lease {
    int64_t task;
    int attempt;
    int ok; /* 1 renewed; 0 the task is no longer this attempt's */
} pm_lease_t;

/*
 * Renews the leases v[0..n) until now + lease_s in ONE transaction (one
 * statement on PostgreSQL), each fenced like pm_task_renew: v[i].ok is 1
 * where renewed, 0 where pm_task_renew would have said -ESTALE. 0, or an
 * error with nothing renewed.
 */
int pm_task_renew_n(pm_catalog_t *cat, pm_lease_t *v, size_t n, int lease_s,
                    int64_t now);

/*
 * Marks a page done with its metrics AND writes its billable row (primary
 * key job + page, blank flag kept) in ONE transaction, fenced by `attempt`:
 * -ESTALE (nothing written) when the task was re-claimed meanwhile or is not
 * running. A second completion of the same page never adds a second row.
 */
int pm_task_complete(pm_catalog_t *cat, int64_t id, int attempt,
                     const pm_page_metrics_t *m, int64_t now);

/* A completion for pm_task_complete_n: the task, its attempt and its
 * metrics; `err` is the answer. */
typedef struct pm_completion {
    int64_t task;
    int attempt;
    const pm_page_metrics_t *m;
    int err; /* what pm_task_complete would have returned */
} pm_completion_t;

/*
 * Completes v[0..n) as n calls of pm_task_complete would, each in its own
 * transaction, fenced by its attempt: v[i].err says what became of each
 * (0, -ESTALE, PM_ENOENT...). On PostgreSQL they go in one round trip
 * (libpq's pipeline mode). 0 when every v[i].err was set, else an error
 * (the connection failed: what was not answered is PM_ECATALOG).
 */
int pm_task_complete_n(pm_catalog_t *cat, pm_completion_t *v, size_t n,
                       int64_t now);

/*
 * Records a failed attempt: the task goes back to queued while attempts <
 * max_attempts, else to failed with `why`. Fenced like pm_task_complete.
 */
int pm_task_fail(pm_catalog_t *cat, int64_t id, int attempt, const char *why,
                 int max_attempts, int64_t now);

/* Puts running tasks whose lease lapsed back in the queue (or fails them
 * when out of attempts); *n is how many. Used at start and by a timer. */
int pm_task_requeue_expired(pm_catalog_t *cat, int64_t now, int max_attempts,
                            int *n);

/*
 * The lease owner a coordinator's own workers claim under:
 * "coordinator:<host>:<pid>". Node agents claim as "agent:<node>:<pid>".
 */
#define PM_COORDINATOR_OWNER "coordinator:"

/*
 * Puts back in the queue every running task a coordinator's own workers
 * hold (lease owner beginning PM_COORDINATOR_OWNER), whatever its lease
 * says, with an event by `actor` per task; *n is how many. For a
 * coordinator starting over a catalog only one coordinator uses at a
 * time (the coordinator lock): every coordinator lease belonged to one
 * that is gone. Node agents' leases are left alone: a live agent's page
 * completes, a dead agent's lapses (pm_task_requeue_expired). The stop
 * was not the page's fault: the attempt does not count against
 * max_attempts (unlike a lapsed lease or pm_task_fail), but the fencing
 * token still grows at the next claim, so a result of the abandoned
 * attempt is refused.
 */
int pm_task_requeue_all_running(pm_catalog_t *cat, const char *actor,
                                int64_t now, int *n);

/* The tasks of a job in page order (all states). */
int pm_task_list(pm_catalog_t *cat, int64_t job, pm_task_t **out, size_t *n);
void pm_task_list_free(pm_task_t *v, size_t n);

/*
 * Wake-ups for node agents: pm_queue_listen subscribes the handle to the
 * announcements of new claimable pages (a job created or released, failed
 * pages retried) and sets *fd to the socket they arrive on, to watch for
 * reading; pm_queue_woken then reads what arrived and sets *n to how many
 * announcements (0: none yet). Only a hint: claiming stays the truth, and
 * an announcement lost with a connection costs latency only. PM_EUNSUPP
 * where the backend has none (SQLite: poll instead); PM_ECATALOG when the
 * connection is lost.
 */
int pm_queue_listen(pm_catalog_t *cat, int *fd);
int pm_queue_woken(pm_catalog_t *cat, int *n);

/* 1 while the handle's connection to its database is up (always for a
 * file), 0 once it is lost: close the handle and open a new one. */
int pm_catalog_connected(pm_catalog_t *cat);

/* Bounds how long each synchronous call on `cat` waits for the server's
 * answer: a server that has not answered within `ms` (0: no bound, the
 * default) leaves the connection unusable, the call fails with
 * PM_ECATALOG ("did not answer") and pm_catalog_connected says 0. For a
 * caller on a loop that must not stop for long on a hung server (the
 * coordinator). Nothing for a file: SQLite's waits are its busy timeout. */
void pm_catalog_answer_within(pm_catalog_t *cat, unsigned ms);

/* From a thread other than the one in a call on `cat`: makes that call
 * (waiting on the server) fail at once, and the handle unusable
 * (PostgreSQL: pm_catalog_connected says 0; close it). For a stop that
 * must not wait on a server that does not answer. SQLite: the statement
 * running is interrupted (sqlite3_interrupt), the handle stays usable. */
void pm_catalog_interrupt(pm_catalog_t *cat);

/*
 * ---- without blocking the loop (catalog_async.c) ----
 *
 * For a caller on a libuv loop that must never wait on the network (the
 * coordinator: its signals, timers and web interface run on the same
 * loop). On PostgreSQL the connection is made with PQconnectStartParams
 * and PQconnectPoll and its queries are sent with PQsendQueryPrepared,
 * both driven by a uv_poll_t on the connection's socket, each operation
 * bounded by `timeout_ms` (connection and setup, or the answer): a server
 * that never answers costs the timeout (-ETIMEDOUT), never the loop. On
 * SQLite the operation runs at once, synchronously, and its callback is
 * called on the next turn of the loop.
 *
 * The callback is called exactly once, from the loop, never from within
 * the call that started the operation, unless the operation is cancelled
 * first; after it the operation is gone. A handle with an operation under
 * way is used for nothing else until its callback.
 */
struct uv_loop_s;
typedef struct pm_catalog_async pm_catalog_async_t;

/* The default bound of an operation, in milliseconds. */
#define PM_CATALOG_ASYNC_MS 10000

/* Opened: err 0 and cat a new handle the caller owns (as from
 * pm_catalog_open); else cat NULL, and `why` (borrowed, for the call's
 * duration) says what failed, which has been logged too. */
typedef void (*pm_catalog_open_cb)(void *data, int err, pm_catalog_t *cat,
                                   const char *why);

/* Opens `url_or_path` like pm_catalog_open (the session set up, the
 * migrations applied, the statements prepared). *op (may be NULL) is the
 * operation, for pm_catalog_async_cancel. 0, or PM_ENOMEM with no
 * callback to come. */
int pm_catalog_open_async(struct uv_loop_s *loop, const char *url_or_path,
                          unsigned timeout_ms, pm_catalog_open_cb cb,
                          void *data, pm_catalog_async_t **op);

/* Tried: the outcome of pm_catalog_lock_coordinator (0, -EBUSY with the
 * holder's pid or 0, another error with pm_catalog_errmsg). After
 * -ETIMEDOUT the handle's connection is unusable (pm_catalog_connected
 * says 0): close it. */
typedef void (*pm_catalog_lock_cb)(void *data, int err, long holder);

/* pm_catalog_lock_coordinator without waiting for the server. */
int pm_catalog_lock_coordinator_async(pm_catalog_t *cat, struct uv_loop_s *loop,
                                      unsigned timeout_ms,
                                      pm_catalog_lock_cb cb, void *data,
                                      pm_catalog_async_t **op);

/* Whether the coordinator lock that `cat` took is still its session's:
 * one round trip on the session, which pg_locks must list as holding it.
 * The callback gets 0 (holder 0), -ENOLCK when the session answered
 * without it, or the failure (-ETIMEDOUT: not answered within
 * timeout_ms, the handle unusable). SQLite: 0 (the lock is the
 * process's until it ends). For a coordinator that must learn that its
 * session, and so its lock, is gone before a standby acts on it. */
int pm_catalog_lock_check_async(pm_catalog_t *cat, struct uv_loop_s *loop,
                                unsigned timeout_ms, pm_catalog_lock_cb cb,
                                void *data, pm_catalog_async_t **op);

/* Abandons an operation under way (before its callback): the callback is
 * never called; an open's half-made handle is closed; a handle whose
 * query was under way is left unusable (close it). */
void pm_catalog_async_cancel(pm_catalog_async_t *op);

/*
 * The queue's hot path without blocking the loop (catalog_async_hot.c):
 * a lane runs operations on one handle one at a time, in the order they
 * were given (a completion before the claim given after it). On
 * PostgreSQL each is sent in libpq's pipeline mode and its answers read
 * as the socket says they came, each bounded by the lane's timeout_ms:
 * one that times out fails with -ETIMEDOUT and leaves the handle unusable
 * (pm_catalog_connected says 0), and every operation behind it fails
 * with PM_ECATALOG. The statements, fencing and results are those of the
 * synchronous calls named. On SQLite each runs synchronously when given
 * and its callback comes on a later turn of the loop.
 *
 * Each operation's callback is called exactly once, from the loop (never
 * from the call that gave it), unless the lane is freed first; what it
 * points at (v, out, n) must live until then. While a lane has
 * operations its handle is used for nothing else. Each call returns 0,
 * or PM_ENOMEM with no callback to come.
 */
typedef struct pm_catalog_lane pm_catalog_lane_t;
typedef struct pm_worker_info pm_worker_info_t;

/* An operation's outcome: what the synchronous call would have returned
 * (its message in pm_catalog_errmsg until the next call on the handle). */
typedef void (*pm_catalog_done_cb)(void *data, int err);

int pm_catalog_lane_new(pm_catalog_t *cat, struct uv_loop_s *loop,
                        unsigned timeout_ms, pm_catalog_lane_t **out);
/* Operations given and not yet called back. */
size_t pm_catalog_lane_pending(const pm_catalog_lane_t *lane);
/* How long the operation under way has waited for the server (ms; 0 when
 * none is, or on SQLite). */
uint64_t pm_catalog_lane_waiting_ms(const pm_catalog_lane_t *lane);
/* Drops the lane: no callback comes any more; a query under way leaves
 * the handle unusable (close it). The handle is the caller's. */
void pm_catalog_lane_free(pm_catalog_lane_t *lane);

/* pm_task_claim_n, but one statement: what the fair order gives at once
 * (at most `max`; the caller claims again for the rest); PM_ENOENT when
 * none. *out and *n are set before the callback. */
int pm_task_claim_n_async(pm_catalog_lane_t *lane, const char *owner,
                          int lease_s, int64_t now, size_t max, pm_task_t **out,
                          size_t *n, pm_catalog_done_cb cb, void *data);
/* pm_task_renew_n of v[0..n). */
int pm_task_renew_n_async(pm_catalog_lane_t *lane, pm_lease_t *v, size_t n,
                          int lease_s, int64_t now, pm_catalog_done_cb cb,
                          void *data);
/* pm_task_complete_n of v[0..n) (their metrics live until the callback). */
int pm_task_complete_n_async(pm_catalog_lane_t *lane, pm_completion_t *v,
                             size_t n, int64_t now, pm_catalog_done_cb cb,
                             void *data);
/* pm_task_fail (`why` is copied). */
int pm_task_fail_async(pm_catalog_lane_t *lane, int64_t id, int attempt,
                       const char *why, int max_attempts, int64_t now,
                       pm_catalog_done_cb cb, void *data);
/* pm_task_requeue_expired; *n set before the callback. */
int pm_task_requeue_expired_async(pm_catalog_lane_t *lane, int64_t now,
                                  int max_attempts, int *n,
                                  pm_catalog_done_cb cb, void *data);
/* pm_worker_report (owner and rows are copied). */
int pm_worker_report_async(pm_catalog_lane_t *lane, const char *owner,
                           const pm_worker_info_t *v, size_t n, int64_t now,
                           pm_catalog_done_cb cb, void *data);

/*
 * Advances jobs whose pages are all finished: a job with any failed page
 * becomes failed (error names the pages); others become assembling. Fills
 * *ids (new array, pm_free) with the jobs now assembling, including ones
 * left assembling by a crash.
 */
int pm_job_collect_finished(pm_catalog_t *cat, int64_t now, int64_t **ids,
                            size_t *n);

/* assembling -> done with the published output path and finished_at;
 * sets the billing month (the month of `now`, or the first open month
 * after it when that is closed) unless the job has one from an earlier
 * finish. Fenced: PM_EINVAL unless the job is assembling. */
int pm_job_finish(pm_catalog_t *cat, int64_t id, const char *output_path,
                  int64_t now);

/* pm_job_finish, and records the published PDF's SHA-256 (64 hex
 * digits; NULL: unknown) and page count (-1: unknown) with it. */
int pm_job_finish_doc(pm_catalog_t *cat, int64_t id, const char *output_path,
                      const char *pdf_sha256, int pdf_pages, int64_t now);

/* assembling -> failed (assembly could not produce outputs). */
int pm_job_fail(pm_catalog_t *cat, int64_t id, const char *why, int64_t now);

/* ---- status ---- */

typedef struct pm_status {
    int64_t queued_pages, running_pages;
    int64_t jobs_queued, jobs_running, jobs_assembling, jobs_held, jobs_failed,
        jobs_done;
    int64_t pages_last_5min, pages_last_60min; /* pages finished */
} pm_status_t;

int pm_catalog_status(pm_catalog_t *cat, int64_t now, pm_status_t *out);

/* ---- review flags and replaced pages (review.c) ---- */

/* A job with pages flagged for review (not cancelled). */
typedef struct pm_review_job {
    int64_t job;
    char *workorder;
    char *account; /* the job's, else its work order's; may be NULL */
    pm_job_state_t state;
    int pages;     /* flagged pages */
    char *reasons; /* "page 3: ...; page 7: ..." in page order */
} pm_review_job_t;

/* Jobs with flagged pages, by id. *out is a new array the caller owns
 * (pm_review_job_list_free). */
int pm_review_jobs(pm_catalog_t *cat, pm_review_job_t **out, size_t *n);
void pm_review_job_list_free(pm_review_job_t *v, size_t n);

/* Flagged pages, and the jobs they are in (not cancelled). */
int pm_review_count(pm_catalog_t *cat, int64_t *pages, int64_t *jobs);

typedef enum {
    PM_REPLACE_PENDING = 0, /* recorded; the coordinator has not done it */
    PM_REPLACE_DONE,        /* re-published with the rescan */
    PM_REPLACE_FAILED,      /* not done; the published job is unchanged */
} pm_replace_state_t;

/* "pending", "done" or "failed". */
const char *pm_replace_state_name(pm_replace_state_t s);

/* An operator's request to replace one page of a done job with a
 * rescan. Strings are owned (pm_replacement_cleanup). */
typedef struct pm_replacement {
    int64_t id, job;
    int page;
    char *src, *sha256; /* the rescan, as copied into the spool */
    char *old_src;      /* the page's file before, its frame and digest */
    int old_frame;
    char *old_sha256;
    pm_replace_state_t state;
    char *actor; /* who asked */
    int64_t requested_at, finished_at;
    char *error;   /* failed: why */
    char *kept_as; /* done: where the old original was moved, or NULL
                    * (it holds other pages too, so it stayed) */
} pm_replacement_t;

void pm_replacement_cleanup(pm_replacement_t *r);
void pm_replacement_list_free(pm_replacement_t *v, size_t n);

/* 0 when page `page` of job `job` may be replaced now: the job is done,
 * the page exists and no replacement of the job is pending. Else
 * PM_ENOENT (no such job) or PM_EINVAL, with the reason in errmsg. */
int pm_replace_check(pm_catalog_t *cat, int64_t job, int page);

/* Records a pending replacement of the page by file `src` (SHA-256
 * `sha256`, 64 hex digits), with a "page.replace_requested" event by
 * `actor`, after the checks of pm_replace_check, in one transaction. */
int pm_replace_request(pm_catalog_t *cat, int64_t job, int page,
                       const char *src, const char *sha256, const char *actor,
                       int64_t now, int64_t *id);

/* The oldest pending replacement (PM_ENOENT: none). */
int pm_replace_next(pm_catalog_t *cat, pm_replacement_t *out);

/* The replacements of a job, oldest first. */
int pm_replace_list(pm_catalog_t *cat, int64_t job, pm_replacement_t **out,
                    size_t *n);

/*
 * Records replacement `r` done, in one transaction: the page's row takes
 * the rescan's file, digest and metrics `m` (review flag included), the
 * job its new PDF's SHA-256 and page count, and a "page.replaced" event.
 * The job's state, finished_at, billing month and billable rows are not
 * touched. PM_ESTALE when it is no longer pending; PM_EINVAL when the job
 * is no longer done.
 */
int pm_replace_finish(pm_catalog_t *cat, const pm_replacement_t *r,
                      const pm_page_metrics_t *m, const char *pdf_sha256,
                      int pdf_pages, const char *kept_as, int64_t now);

/* Records replacement `r` failed with `why` (a "page.replace_failed"
 * event); the job and its page are left as they were. */
int pm_replace_fail(pm_catalog_t *cat, const pm_replacement_t *r,
                    const char *why, int64_t now);

/* ---- workers: what each coordinator's pool is doing ---- */

typedef enum {
    PM_WORKER_STARTING = 0, /* spawned, engine not ready yet */
    PM_WORKER_IDLE,
    PM_WORKER_BUSY,
} pm_worker_state_t;

/* Returns "starting", "idle" or "busy". */
const char *pm_worker_state_name(pm_worker_state_t s);

/* One worker process of a coordinator, as that coordinator last wrote
 * it. A snapshot for `status`, not a lease: nothing is fenced on it. */
typedef struct pm_worker_info {
    char *owner; /* coordinator; filled by pm_worker_list, else unused */
    int slot;    /* the pool's worker id */
    int pid;
    pm_worker_state_t state;
    int64_t job; /* busy: its job, else 0 */
    int page;    /* busy on a page: its number; 0 for none or assembly */
    int64_t started_at;
    int64_t updated_at; /* filled by pm_worker_list (the report's `now`) */
    double load1;       /* the machine's 1-minute load average; < 0 unknown */
} pm_worker_info_t;

/*
 * Replaces every worker row of coordinator `owner` with v[0..n) (borrowed;
 * their owner and updated_at are ignored), updated_at `now`, in one
 * transaction. n == 0 clears the coordinator's rows (a clean exit).
 */
int pm_worker_report(pm_catalog_t *cat, const char *owner,
                     const pm_worker_info_t *v, size_t n, int64_t now);

/* Every worker row of every coordinator, by owner and slot. *out is a new
 * array the caller owns; free with pm_worker_list_free. */
int pm_worker_list(pm_catalog_t *cat, pm_worker_info_t **out, size_t *n);
void pm_worker_list_free(pm_worker_info_t *v, size_t n);

/* ---- nodes: each coordinator and node agent, from its workers rows ---- */

/* A node whose last report is older than this is stale: a coordinator
 * rewrites its rows every 2 s, an agent every second. */
#define PM_NODE_STALE_S 30

typedef enum {
    PM_NODE_UP = 0, /* reported in the last PM_NODE_STALE_S */
    PM_NODE_STALE,  /* rows left by a process that stopped reporting */
    PM_NODE_GONE,   /* no rows (a clean exit), but pages in the last hour */
} pm_node_state_t;

/* Returns "up", "stale" or "gone". */
const char *pm_node_state_name(pm_node_state_t s);

/* One process that runs workers: its lease owner, split into role
 * ("coordinator", "agent", "standby", or "other" for an owner of another
 * form), node
 * (host) name and pid. */
typedef struct pm_node_info {
    char *owner;      /* "coordinator:<host>:<pid>" or "agent:<node>:<pid>" */
    char *node;       /* the host or node name in owner (owner if none) */
    const char *role; /* static */
    int pid;          /* 0 when owner has none */
    pm_node_state_t state;
    int slots;          /* its workers rows */
    int busy;           /* of them busy */
    int64_t pages_hour; /* pages done under its lease in (now - 3600, now] */
    int64_t heartbeat;  /* its rows' updated_at; 0 when gone */
    double load1;       /* its 1-minute load average; < 0 unknown */
} pm_node_info_t;

/*
 * Every owner of workers rows, stale ones included (state says so), and
 * every owner without rows that completed pages in the last hour (gone),
 * by owner. *out is a new array the caller owns; free with
 * pm_node_list_free.
 */
int pm_node_list(pm_catalog_t *cat, int64_t now, pm_node_info_t **out,
                 size_t *n);
void pm_node_list_free(pm_node_info_t *v, size_t n);

/* ---- billing ----
 *
 * Money is integer: prices and exact amounts in millicents (thousandths of
 * a cent), rounded amounts in cents (catalog/billing.h has the rules).
 * A job is billed in its billing month: the month it finished in the
 * billing time zone, or, when that month was already closed, the first
 * open month after it. A closed month's lines are frozen in the catalog
 * when it closes and never change; anything that changes a closed month's
 * job afterwards becomes an adjustment line in the first open month.
 */

/*
 * The billing time zone this catalog counts months in, into out. The first
 * call with a `configured` zone ("": UTC) records it, with a
 * "billing.timezone" event, and it is fixed from then on, so every process
 * that bills agrees. PM_EINVAL (errmsg names both) when `configured`
 * differs from the recorded zone. With `configured` NULL (no configuration
 * at hand) the recorded zone is returned, or UTC, and nothing is recorded.
 */
int pm_catalog_billing_timezone(pm_catalog_t *cat, const char *configured,
                                char *out, size_t size);

/* One fee code at one effective date: a price change is a new row. */
typedef struct pm_fee {
    int64_t id;
    char *code;
    char *description;      /* may be NULL */
    int64_t unit_price_mc;  /* per billable page */
    int64_t min_charge_mc;  /* per job, 0: none */
    int64_t effective_from; /* first second it applies (start of a day) */
    int64_t created_at;
} pm_fee_t;

void pm_fee_cleanup(pm_fee_t *f);

/*
 * Adds a fee code, or a new price for one from `effective_from` on, with a
 * "fee.added" event. PM_EINVAL (errmsg says why) when effective_from falls
 * in or before a closed month; -EEXIST when the code already has a price
 * from that date. Fields used: code, description, unit_price_mc,
 * min_charge_mc, effective_from.
 */
int pm_fee_add(pm_catalog_t *cat, const pm_fee_t *f, const char *actor,
               int64_t now, int64_t *id);

/* Prices by code, then effective date; of one code when `code` is not
 * NULL (PM_ENOENT when it has none). */
int pm_fee_list(pm_catalog_t *cat, const char *code, pm_fee_t **out, size_t *n);
void pm_fee_list_free(pm_fee_t *v, size_t n);

/* Sets the fee code a work order bills under (an event records the old
 * and new code). PM_ENOENT for an unknown work order or fee code. Months
 * already closed keep what they froze. */
int pm_workorder_set_fee(pm_catalog_t *cat, const char *number,
                         const char *fee_code, const char *actor);

/* A month's state. A month with no row is open. */
typedef struct pm_billing_period {
    char month[8]; /* "YYYY-MM" */
    int closed;
    int forced;                 /* closed with --force over unfinished jobs */
    int64_t closed_at;          /* 0 while open */
    char *closed_by;            /* NULL while open */
    int64_t lines, total_cents; /* frozen at close; 0 while open */
} pm_billing_period_t;

void pm_billing_period_cleanup(pm_billing_period_t *p);

int pm_billing_period_get(pm_catalog_t *cat, const char *month,
                          pm_billing_period_t *out);

typedef enum {
    PM_LINE_JOB = 0,    /* a done job's pages */
    PM_LINE_ADJUSTMENT, /* a credit or debit for a closed month's job */
} pm_line_kind_t;

/* One line of a month's bill. Counts and amounts of a credit are
 * negative. */
typedef struct pm_billing_line {
    char month[8]; /* the month it is billed in */
    pm_line_kind_t kind;
    char *account; /* account code (of the work order) */
    char *account_name;
    char *workorder;
    int64_t job;
    char *fee_code; /* NULL when the work order has none */
    int priced;     /* 0: no price applied (no fee code, or none
                       effective when the job finished) */
    int64_t pages;  /* pages of the job (billable_pages rows) */
    int64_t blank_pages;
    int64_t billable_pages; /* pages, less blanks unless the job bills them */
    int64_t unit_price_mc, min_charge_mc;
    int min_applied;      /* a job's amount is its fee's minimum charge,
                             not billable pages x unit price (set by the
                             ledger's rule, both backends) */
    int64_t amount_mc;    /* exact */
    int64_t amount_cents; /* rounded once */
    int64_t finished_at;  /* the job's */
    char *note;           /* adjustments: why, and which month; or NULL */
} pm_billing_line_t;

void pm_billing_line_cleanup(pm_billing_line_t *l);

/*
 * The lines billed in months from..to (inclusive; "YYYY-MM"), of one
 * account and/or work order when those are not NULL, ordered by month,
 * account, work order, kind (jobs before adjustments), job, then creation.
 * A closed month's lines are the ones frozen at its close; an open month's
 * are computed now from billable_pages, the jobs and the fee schedule
 * (price effective when the job finished). PM_EINVAL for a bad month.
 */
int pm_billing_lines(pm_catalog_t *cat, const char *from, const char *to,
                     const char *account, const char *workorder,
                     pm_billing_line_t **out, size_t *n);
void pm_billing_line_list_free(pm_billing_line_t *v, size_t n);

/* pm_billing_lines, and the state of every month from..to in *periods
 * (new array, pm_billing_period_list_free), read in one transaction so a
 * report's "closed" label and its lines always agree. */
int pm_billing_read(pm_catalog_t *cat, const char *from, const char *to,
                    const char *account, const char *workorder,
                    pm_billing_period_t **periods, size_t *nperiods,
                    pm_billing_line_t **out, size_t *n);
void pm_billing_period_list_free(pm_billing_period_t *v, size_t n);

/*
 * Closes month `month`: computes its lines and freezes them, with a
 * "billing.closed" event, in one transaction. Refused with PM_EINVAL (and
 * errmsg) when the month is in the future, has unpriced lines, or — unless
 * `force` — has unfinished jobs (received, queued, running, assembling or
 * held, created before the month ended): their ids are then in *blockers
 * (new array, pm_free; may be NULL). -EEXIST when already closed.
 */
int pm_billing_close(pm_catalog_t *cat, const char *month, int force,
                     const char *actor, int64_t now, int64_t **blockers,
                     size_t *nblockers);

/*
 * A manual adjustment of `billable` pages (negative: a credit) to job
 * `job` at the unit price it was billed at, for rework found after the
 * fact: an adjustment line in the first open month from the job's billing
 * month on (*month receives it), with a "billing.adjustment" event.
 * PM_EINVAL unless the job is done; PM_ENOENT for an unknown job.
 */
int pm_billing_adjust(pm_catalog_t *cat, int64_t job, int64_t billable,
                      const char *reason, const char *actor, int64_t now,
                      char month[8]);

/* Billable pages of done jobs: non-blank pages, plus blank pages when
 * `bill_blank`. Counts only jobs in state done. */
int pm_billable_count(pm_catalog_t *cat, int64_t job, int bill_blank,
                      int64_t *count);

#endif /* PM_CATALOG_H */
