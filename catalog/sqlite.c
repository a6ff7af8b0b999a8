/*
 * sqlite.c: the SQLite backend of the catalog (catalog.h), the embedded
 * default. One database file in WAL mode, foreign keys on, a busy timeout,
 * and synchronous=FULL: a committed page is a billed page, so a power cut
 * after a commit must not lose it.
 *
 * The schema is built by the numbered migrations below, each applied in
 * its own transaction and recorded in schema_migrations. Every statement
 * the catalog runs afterwards is in the statement table below, prepared
 * once at open (SQLITE_PREPARE_PERSISTENT) and reset after each use.
 * Operations that touch more than one row run in one BEGIN IMMEDIATE
 * transaction that is rolled back on any error, so readers (the
 * dashboard, the CLI) never see half of one.
 *
 * The queue's fencing token is page_tasks.attempts: it only ever grows.
 * An operator's retry resets the attempt *budget* (attempts_base), not the
 * token, so a worker that went silent before the retry can never complete
 * a page claimed after it.
 *
 * A handle is used by one thread at a time (its prepared statements and
 * error text are shared); open one handle per thread.
 *
 * Reading order: schema, statement table, helpers (errors, statements,
 * transactions, rows), then the functions in catalog.h order.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "catalog/billing.h"
#include "catalog/billing_int.h"
#include "catalog/catalog.h"
#include "catalog/catalog_int.h"
#include "catalog/sqlite_int.h"
#include "pipeline/pm.h"

#define BUSY_TIMEOUT_MS 5000

/* How many failed pages a failed job's error names before "and N more". */
#define MAX_FAILED_PAGES_NAMED 20

/* ---- schema: numbered migrations ---- */

/*
 * Migration 1: the first schema. Tables are STRICT, so a value of the
 * wrong type is refused rather than converted: a money column can never
 * hold a REAL. Times are INTEGER seconds since the epoch, UTC. Job and
 * task states are stored by name, so the rows read the same in the
 * sqlite3 shell and in PostgreSQL.
 *
 * Each string is one statement, kept under the 4095 characters C11
 * promises for a literal.
 */
static const char *const migration_1[] = {
    "CREATE TABLE accounts ("
    " id INTEGER PRIMARY KEY,"
    " code TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL,"
    " contact TEXT,"
    " account_number TEXT,"
    " created_at INTEGER NOT NULL"
    ") STRICT",

    /* Money in integer thousandths of a cent; one row per code and
     * effective date (a price change is a new row, never an edit). */
    "CREATE TABLE fee_codes ("
    " id INTEGER PRIMARY KEY,"
    " code TEXT NOT NULL,"
    " description TEXT,"
    " unit_price_millicents INTEGER NOT NULL"
    "  CHECK (unit_price_millicents >= 0),"
    " min_charge_millicents INTEGER NOT NULL DEFAULT 0"
    "  CHECK (min_charge_millicents >= 0),"
    " effective_from INTEGER NOT NULL,"
    " UNIQUE (code, effective_from)"
    ") STRICT",

    "CREATE TABLE work_orders ("
    " id INTEGER PRIMARY KEY,"
    " number TEXT NOT NULL UNIQUE,"
    " account_id INTEGER NOT NULL REFERENCES accounts (id),"
    " fee_code TEXT,"
    " status TEXT NOT NULL DEFAULT 'open'"
    "  CHECK (status IN ('open', 'closed')),"
    " notes TEXT,"
    " created_at INTEGER NOT NULL,"
    " closed_at INTEGER"
    ") STRICT",
    "CREATE INDEX work_orders_account ON work_orders (account_id)",

    /* workorder/account are the names as the batch gave them: a job may
     * be held for a work order that does not exist yet, so no foreign
     * key. `pages` is fixed at creation; the other counts are derived. */
    "CREATE TABLE jobs ("
    " id INTEGER PRIMARY KEY,"
    " workorder TEXT NOT NULL,"
    " account TEXT,"
    " hotfolder TEXT,"
    " profile TEXT,"
    " batch TEXT,"
    " operator_name TEXT,"
    " notes TEXT,"
    " source_path TEXT,"
    " output_path TEXT,"
    " hold_reason TEXT,"
    " error TEXT,"
    " state TEXT NOT NULL CHECK (state IN ('received', 'queued',"
    "  'running', 'assembling', 'done', 'held', 'failed', 'cancelled')),"
    " pages INTEGER NOT NULL CHECK (pages >= 0),"
    " duplicate_of INTEGER REFERENCES jobs (id),"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " finished_at INTEGER"
    ") STRICT",
    "CREATE INDEX jobs_state ON jobs (state)",
    "CREATE INDEX jobs_workorder ON jobs (workorder)",

    /* attempts: claims so far, the fencing token (never decreases).
     * attempts_base: the claims that do not count (those before an
     * operator's last retry, those abandoned by a stopped coordinator); the
     * attempt budget is attempts - attempts_base. Metrics are NULL until
     * the page is done; finished_at is set for done pages only. */
    "CREATE TABLE page_tasks ("
    " id INTEGER PRIMARY KEY,"
    " job INTEGER NOT NULL REFERENCES jobs (id),"
    " page INTEGER NOT NULL CHECK (page >= 1),"
    " src TEXT NOT NULL,"
    " frame INTEGER NOT NULL CHECK (frame >= 0),"
    " sha256 TEXT NOT NULL CHECK (length(sha256) = 64),"
    " state TEXT NOT NULL DEFAULT 'queued'"
    "  CHECK (state IN ('queued', 'running', 'done', 'failed')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " attempts_base INTEGER NOT NULL DEFAULT 0,"
    " lease_owner TEXT,"
    " lease_until INTEGER,"
    " width INTEGER, height INTEGER, xres INTEGER, yres INTEGER,"
    " rotation INTEGER, orient_confidence REAL, skew REAL,"
    " skew_confidence REAL, blank INTEGER, ink_ratio REAL, words INTEGER,"
    " confidence REAL, kind TEXT, codec TEXT, bytes INTEGER,"
    " ms_decode REAL, ms_orient REAL, ms_deskew REAL, ms_blank REAL,"
    " ms_ocr REAL, ms_encode REAL, ms_total REAL,"
    " image TEXT, text_pdf TEXT, text TEXT,"
    " error TEXT,"
    " finished_at INTEGER,"
    " UNIQUE (job, page)"
    ") STRICT",
    /* The claim index: every claim probe is (state, job) equality, and
     * the lowest page comes first. Also serves lease expiry (running
     * rows are few: about one per worker) and the per-job counts. */
    "CREATE INDEX page_tasks_claim ON page_tasks (state, job, page)",
    "CREATE INDEX page_tasks_sha256 ON page_tasks (sha256)",
    "CREATE INDEX page_tasks_finished ON page_tasks (finished_at)"
    " WHERE finished_at IS NOT NULL",

    /* One row per billed page, ever: the primary key is the guarantee.
     * The primary key is also the by-job index. */
    "CREATE TABLE billable_pages ("
    " job INTEGER NOT NULL REFERENCES jobs (id),"
    " page INTEGER NOT NULL,"
    " blank INTEGER NOT NULL CHECK (blank IN (0, 1)),"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (job, page),"
    " FOREIGN KEY (job, page) REFERENCES page_tasks (job, page)"
    ") STRICT, WITHOUT ROWID",

    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY,"
    " at INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " job INTEGER REFERENCES jobs (id),"
    " page INTEGER,"
    " detail TEXT"
    ") STRICT",
    "CREATE INDEX events_job ON events (job)",
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
    " BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
    " BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    NULL,
};

/*
 * Migration 2: the workers of each coordinator, for `pagemill status`.
 * Replaced whole by the coordinator on every report; the job is not a
 * foreign key, so a status snapshot can never fail on a job's fate.
 */
static const char *const migration_2[] = {
    "CREATE TABLE workers ("
    " owner TEXT NOT NULL,"
    " slot INTEGER NOT NULL,"
    " pid INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('starting', 'idle', 'busy')),"
    " job INTEGER,"
    " page INTEGER,"
    " started_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " PRIMARY KEY (owner, slot)"
    ") STRICT, WITHOUT ROWID",
    NULL,
};

/*
 * Migration 3: billing. A job keeps whether its profile bills blank pages
 * (fixed at intake, so a later edit of the profile cannot reprice it) and
 * its billing month (set when it is done, never moved by a later finish).
 * A closed month is a billing_periods row plus its frozen billing_lines;
 * adjustments correct a closed month's job in a later open month. All
 * three are append-only, enforced by triggers: a closed month's figures
 * cannot be edited, not even from the sqlite3 shell without dropping a
 * trigger. Jobs done before billing existed bill in their UTC month.
 */
static const char *const migration_3[] = {
    "ALTER TABLE jobs ADD COLUMN bill_blank INTEGER NOT NULL DEFAULT 0"
    " CHECK (bill_blank IN (0, 1))",
    "ALTER TABLE jobs ADD COLUMN billing_month TEXT",
    "ALTER TABLE fee_codes ADD COLUMN created_at INTEGER",
    /* Page provenance the job report shows (NULL before migration 3). */
    "ALTER TABLE page_tasks ADD COLUMN orient_osd INTEGER",
    "ALTER TABLE page_tasks ADD COLUMN dpi_fallback INTEGER",
    "UPDATE jobs SET billing_month = strftime('%Y-%m', finished_at,"
    " 'unixepoch') WHERE state = 'done' AND finished_at IS NOT NULL",
    "CREATE INDEX jobs_billing ON jobs (billing_month, state)"
    " WHERE billing_month IS NOT NULL",
    /* For the spool check at start: which batch folder is whose. */
    "CREATE INDEX jobs_source ON jobs (source_path)",

    /* Catalog-wide settings; billing_timezone is fixed at first use, so
     * every process counts months alike. */
    "CREATE TABLE settings ("
    " key TEXT PRIMARY KEY,"
    " value TEXT NOT NULL"
    ") STRICT, WITHOUT ROWID",

    "CREATE TABLE billing_periods ("
    " month TEXT PRIMARY KEY CHECK (month GLOB"
    "  '[0-9][0-9][0-9][0-9]-[01][0-9]'),"
    " closed_at INTEGER NOT NULL,"
    " closed_by TEXT NOT NULL,"
    " forced INTEGER NOT NULL CHECK (forced IN (0, 1)),"
    " lines INTEGER NOT NULL,"
    " total_cents INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID",

    /* A closed month's lines as they were at its close, in report order
     * (seq). Amounts are signed: adjustments may be credits. */
    "CREATE TABLE billing_lines ("
    " month TEXT NOT NULL REFERENCES billing_periods (month),"
    " seq INTEGER NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind IN ('job', 'adjustment')),"
    " account TEXT NOT NULL,"
    " account_name TEXT,"
    " workorder TEXT NOT NULL,"
    " job INTEGER NOT NULL REFERENCES jobs (id),"
    " fee_code TEXT NOT NULL,"
    " pages INTEGER NOT NULL,"
    " blank_pages INTEGER NOT NULL,"
    " billable_pages INTEGER NOT NULL,"
    " unit_price_mc INTEGER NOT NULL,"
    " min_charge_mc INTEGER NOT NULL,"
    " amount_mc INTEGER NOT NULL,"
    " amount_cents INTEGER NOT NULL,"
    " finished_at INTEGER NOT NULL,"
    " note TEXT,"
    " PRIMARY KEY (month, seq)"
    ") STRICT, WITHOUT ROWID",
    "CREATE INDEX billing_lines_job ON billing_lines (job)",

    /* month: where it is billed (open when made); of_month: the closed
     * month it corrects. */
    "CREATE TABLE billing_adjustments ("
    " id INTEGER PRIMARY KEY,"
    " month TEXT NOT NULL,"
    " of_month TEXT NOT NULL,"
    " job INTEGER NOT NULL REFERENCES jobs (id),"
    " fee_code TEXT NOT NULL,"
    " pages INTEGER NOT NULL,"
    " blank_pages INTEGER NOT NULL,"
    " billable_pages INTEGER NOT NULL,"
    " unit_price_mc INTEGER NOT NULL,"
    " amount_mc INTEGER NOT NULL,"
    " reason TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " created_at INTEGER NOT NULL"
    ") STRICT",
    "CREATE INDEX billing_adjustments_month ON billing_adjustments (month)",
    "CREATE INDEX billing_adjustments_job ON billing_adjustments (job)",

    "CREATE TRIGGER billing_periods_frozen BEFORE UPDATE ON billing_periods"
    " BEGIN SELECT RAISE(ABORT, 'a closed month is frozen'); END",
    "CREATE TRIGGER billing_periods_kept BEFORE DELETE ON billing_periods"
    " BEGIN SELECT RAISE(ABORT, 'a closed month is frozen'); END",
    "CREATE TRIGGER billing_lines_frozen BEFORE UPDATE ON billing_lines"
    " BEGIN SELECT RAISE(ABORT, 'a closed month is frozen'); END",
    "CREATE TRIGGER billing_lines_kept BEFORE DELETE ON billing_lines"
    " BEGIN SELECT RAISE(ABORT, 'a closed month is frozen'); END",
    "CREATE TRIGGER billing_adjustments_frozen BEFORE UPDATE ON"
    " billing_adjustments"
    " BEGIN SELECT RAISE(ABORT, 'adjustments are append-only'); END",
    "CREATE TRIGGER billing_adjustments_kept BEFORE DELETE ON"
    " billing_adjustments"
    " BEGIN SELECT RAISE(ABORT, 'adjustments are append-only'); END",
    NULL,
};

/*
 * Migration 4: identity. The catalog gets an installation id (written as
 * a marker into the spool and output folders, so a catalog that was
 * replaced is noticed) and every job a random uid (written into its
 * published report, so a folder left by another catalog's job of the same
 * number is never taken for this one's). A done job keeps its PDF's
 * SHA-256 and page count. Jobs from before get a uid now.
 */
static const char *const migration_4[] = {
    "ALTER TABLE jobs ADD COLUMN uid TEXT"
    " CHECK (uid IS NULL OR length(uid) = 32)",
    "ALTER TABLE jobs ADD COLUMN pdf_sha256 TEXT"
    " CHECK (pdf_sha256 IS NULL OR length(pdf_sha256) = 64)",
    "ALTER TABLE jobs ADD COLUMN pdf_pages INTEGER"
    " CHECK (pdf_pages IS NULL OR pdf_pages >= 0)",
    "UPDATE jobs SET uid = lower(hex(randomblob(16)))",
    "CREATE UNIQUE INDEX jobs_uid ON jobs (uid)",
    "CREATE TRIGGER jobs_uid_new AFTER INSERT ON jobs WHEN NEW.uid IS NULL"
    " BEGIN UPDATE jobs SET uid = lower(hex(randomblob(16)))"
    " WHERE id = NEW.id; END",
    "CREATE TRIGGER jobs_uid_kept BEFORE UPDATE OF uid ON jobs"
    " WHEN OLD.uid IS NOT NULL"
    " BEGIN SELECT RAISE(ABORT, 'a job keeps its uid'); END",
    "INSERT INTO settings (key, value) VALUES ('installation_id',"
    " lower(hex(randomblob(16))))",
    NULL,
};

/*
 * Migration 5: access tokens of the web interface (catalog/monitor.c).
 * Only a token's SHA-256 is kept; the token itself is shown once, when
 * it is made.
 */
static const char *const migration_5[] = {
    "CREATE TABLE api_tokens ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL CHECK (role IN ('supervisor', 'billing', 'admin')),"
    " sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),"
    " created_at INTEGER NOT NULL"
    ") STRICT",
    NULL,
};

/* Migration n is migrations[n - 1]. Append; never edit a shipped one. */
static const char *const *const migrations[] = {
    migration_1, migration_2, migration_3, migration_4, migration_5,
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) ==
                   PM__CATALOG_SCHEMA_VERSION,
               "PM__CATALOG_SCHEMA_VERSION must name the last migration");

/* ---- statements: all the SQL the catalog runs after open ---- */

enum {
    ST_BEGIN,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SCHEMA_VERSION,
    ST_INTEGRITY,
    ST_FK_CHECK,
    ST_EVENT_ADD,
    ST_EVENT_LIST_ALL,
    ST_EVENT_LIST_JOB,
    ST_ACCOUNT_ADD,
    ST_ACCOUNT_GET,
    ST_ACCOUNT_LIST,
    ST_WO_ADD,
    ST_WO_GET,
    ST_WO_LIST,
    ST_WO_CLOSE,
    ST_WO_STATUS,
    ST_JOB_ADD,
    ST_TASK_ADD,
    ST_JOB_FIND_DUP,
    ST_JOB_GET,
    ST_JOB_LIST,
    ST_JOB_STATE,
    ST_JOB_SET_STATE,
    ST_JOB_START,
    ST_JOB_REQUEUE,
    ST_JOB_SET_FAILED,
    ST_JOB_SET_DONE,
    ST_JOB_FINISHED,
    ST_JOB_ASSEMBLING,
    ST_TASKS_FAILED,
    ST_TASKS_RETRY,
    ST_TASKS_UNLEASE,
    ST_CLAIM_PICK,
    ST_CLAIM_PREV,
    ST_CLAIM_EVENT,
    ST_CLAIM_TAKE,
    ST_TASK_GET,
    ST_TASK_LIST,
    ST_TASK_FENCE,
    ST_TASK_RENEW,
    ST_TASK_DONE,
    ST_TASK_SET_STATE,
    ST_TASK_FAIL_EVENT,
    ST_BILLABLE_ADD,
    ST_EXPIRED_EVENTS,
    ST_EXPIRED_REQUEUE,
    ST_ORPHAN_EVENTS,
    ST_ORPHAN_REQUEUE,
    ST_STATUS_JOBS,
    ST_STATUS_PAGES,
    ST_STATUS_RATE,
    ST_BILLABLE_JOB,
    ST_BILLABLE_ALL,
    ST_WORKERS_CLEAR,
    ST_WORKER_ADD,
    ST_WORKER_LIST,
    ST_FEE_ADD,
    ST_FEE_LIST,
    ST_FEE_COUNT,
    ST_WO_SET_FEE,
    ST_PERIOD_GET,
    ST_PERIOD_LAST,
    ST_PERIOD_ADD,
    ST_BILL_OPEN,
    ST_BILL_FROZEN,
    ST_BILL_BLOCKERS,
    ST_LINE_ADD,
    ST_JOB_BILLING,
    ST_JOB_BILLED,
    ST_JOB_ADJ_OPEN,
    ST_JOB_FROZEN_PRICE,
    ST_JOB_PRICE,
    ST_ADJ_ADD,
    ST_JOB_BY_SOURCE,
    ST_SETTING_GET,
    ST_SETTING_ADD,
    ST_COUNT
};

#define EVENT_COLS \
    "id, at, actor, kind, coalesce(job, 0), coalesce(page, 0), detail"

#define WO_COLS                                                       \
    "w.id, w.number, a.code, w.fee_code, w.status, w.notes, "         \
    "w.created_at, coalesce(w.closed_at, 0) FROM work_orders w JOIN " \
    "accounts a ON a.id = w.account_id"

/* The page counts use the claim index: (state, job) equality. */
#define JOB_COLS                                                       \
    "j.id, j.workorder, j.account, j.hotfolder, j.profile, j.batch, "  \
    "j.operator_name, j.notes, j.source_path, j.output_path, "         \
    "j.hold_reason, j.error, j.state, j.pages, "                       \
    "(SELECT count(*) FROM page_tasks t WHERE t.state = 'done' AND "   \
    "t.job = j.id), "                                                  \
    "(SELECT count(*) FROM page_tasks t WHERE t.state = 'failed' AND " \
    "t.job = j.id), "                                                  \
    "(SELECT count(*) FROM page_tasks t WHERE t.state = 'done' AND "   \
    "t.job = j.id AND t.blank = 1), "                                  \
    "coalesce(j.duplicate_of, 0), j.created_at, j.updated_at, "        \
    "coalesce(j.finished_at, 0), j.bill_blank, "                       \
    "coalesce(j.billing_month, '') FROM jobs j"

#define TASK_COLS                                                          \
    "t.id, t.job, t.page, t.src, t.frame, t.sha256, t.state, t.attempts, " \
    "t.lease_owner, coalesce(t.lease_until, 0), t.error, t.width, "        \
    "t.height, t.xres, t.yres, t.rotation, t.orient_confidence, t.skew, "  \
    "t.skew_confidence, t.blank, t.ink_ratio, t.words, t.confidence, "     \
    "t.kind, t.codec, t.bytes, t.ms_decode, t.ms_orient, t.ms_deskew, "    \
    "t.ms_blank, t.ms_ocr, t.ms_encode, t.ms_total, t.image, t.text_pdf, " \
    "t.text, coalesce(t.finished_at, 0), coalesce(t.orient_osd, 0), "      \
    "coalesce(t.dpi_fallback, 0) FROM page_tasks t"

/* A page-level event whose actor is the task's current lease owner. */
#define TASK_EVENT                                                        \
    "INSERT INTO events (at, actor, kind, job, page, detail) SELECT ?2, " \
    "coalesce(lease_owner, 'catalog'), "

/* Why an abandoned lease is given up, evaluated on the task's row. */
#define LEASE_ORPHANED                                                    \
    "'lease of ' || coalesce(lease_owner, '?') || ' abandoned: its ' || " \
    "'coordinator stopped (attempt ' || attempts || ')'"

/* Why an expired lease is given up, evaluated on the task's row. */
#define LEASE_EXPIRED                                                       \
    "'lease of ' || coalesce(lease_owner, '?') || ' expired (attempt ' || " \
    "attempts || ')'"

static const struct {
    const char *name; /* for the test probes in catalog_int.h */
    const char *sql;
} stmts[ST_COUNT] = {
    [ST_BEGIN] = {"begin", "BEGIN IMMEDIATE"},
    [ST_BEGIN_READ] = {"begin_read", "BEGIN"},
    [ST_COMMIT] = {"commit", "COMMIT"},
    [ST_ROLLBACK] = {"rollback", "ROLLBACK"},
    [ST_SCHEMA_VERSION] = {"schema_version", "SELECT coalesce(max(version), 0) "
                                             "FROM schema_migrations"},
    [ST_INTEGRITY] = {"integrity", "PRAGMA integrity_check"},
    [ST_FK_CHECK] = {"fk_check", "PRAGMA foreign_key_check"},

    [ST_EVENT_ADD] = {"event_add",
                      "INSERT INTO events (at, actor, kind, job, page, "
                      "detail) VALUES (?1, ?2, ?3, nullif(?4, 0), "
                      "nullif(?5, 0), ?6)"},
    /* The latest ?1 events (-1: all), shown oldest first. */
    [ST_EVENT_LIST_ALL] = {"event_list_all",
                           "SELECT " EVENT_COLS " FROM (SELECT * FROM events "
                           "ORDER BY id DESC LIMIT ?1) ORDER BY id"},
    [ST_EVENT_LIST_JOB] = {"event_list_job",
                           "SELECT " EVENT_COLS " FROM (SELECT * FROM events "
                           "WHERE job = ?2 ORDER BY id DESC LIMIT ?1) "
                           "ORDER BY id"},

    [ST_ACCOUNT_ADD] = {"account_add",
                        "INSERT INTO accounts (code, name, contact, "
                        "account_number, created_at) "
                        "VALUES (?1, ?2, ?3, ?4, ?5)"},
    [ST_ACCOUNT_GET] = {"account_get",
                        "SELECT id, code, name, contact, account_number, "
                        "created_at FROM accounts WHERE code = ?1"},
    [ST_ACCOUNT_LIST] = {"account_list",
                         "SELECT id, code, name, contact, account_number, "
                         "created_at FROM accounts ORDER BY code"},

    /* Inserts nothing when the account is unknown. */
    [ST_WO_ADD] = {"workorder_add",
                   "INSERT INTO work_orders (number, account_id, fee_code, "
                   "notes, created_at) SELECT ?1, id, ?3, ?4, ?5 "
                   "FROM accounts WHERE code = ?2"},
    [ST_WO_GET] = {"workorder_get", "SELECT " WO_COLS " WHERE w.number = ?1"},
    [ST_WO_LIST] = {"workorder_list",
                    "SELECT " WO_COLS " WHERE ?1 IS NULL OR a.code = ?1 "
                    "ORDER BY w.number"},
    [ST_WO_CLOSE] = {"workorder_close",
                     "UPDATE work_orders SET status = 'closed', "
                     "closed_at = ?2 WHERE number = ?1 AND status = 'open'"},
    [ST_WO_STATUS] = {"workorder_status",
                      "SELECT status FROM work_orders WHERE number = ?1"},

    [ST_JOB_ADD] = {"job_add",
                    "INSERT INTO jobs (workorder, account, hotfolder, "
                    "profile, batch, operator_name, notes, source_path, "
                    "hold_reason, state, pages, duplicate_of, created_at, "
                    "updated_at, bill_blank) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                    "?7, ?8, ?9, ?10, ?11, nullif(?12, 0), ?13, ?13, ?14)"},
    [ST_TASK_ADD] = {"task_add",
                     "INSERT INTO page_tasks (job, page, src, frame, sha256) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)"},
    [ST_JOB_FIND_DUP] = {"job_find_dup",
                         "SELECT coalesce(min(t.job), 0) FROM page_tasks t "
                         "JOIN jobs j ON j.id = t.job WHERE t.sha256 = ?1 "
                         "AND j.state <> 'cancelled'"},
    [ST_JOB_GET] = {"job_get", "SELECT " JOB_COLS " WHERE j.id = ?1"},
    [ST_JOB_LIST] = {"job_list", "SELECT " JOB_COLS
                                 " WHERE (?1 IS NULL OR j.state = ?1) AND "
                                 "(?2 IS NULL OR j.workorder = ?2) "
                                 "ORDER BY j.id DESC LIMIT ?3"},
    [ST_JOB_STATE] = {"job_state", "SELECT state FROM jobs WHERE id = ?1"},
    [ST_JOB_SET_STATE] = {"job_set_state",
                          "UPDATE jobs SET state = ?2, updated_at = ?3 "
                          "WHERE id = ?1"},
    [ST_JOB_START] = {"job_start",
                      "UPDATE jobs SET state = 'running', updated_at = ?2 "
                      "WHERE id = ?1 AND state = 'queued'"},
    [ST_JOB_REQUEUE] = {"job_requeue",
                        "UPDATE jobs SET state = 'queued', hold_reason = "
                        "NULL, error = NULL, updated_at = ?2 WHERE id = ?1"},
    [ST_JOB_SET_FAILED] = {"job_set_failed",
                           "UPDATE jobs SET state = 'failed', error = ?2, "
                           "updated_at = ?3 WHERE id = ?1"},
    [ST_JOB_SET_DONE] = {"job_set_done",
                         "UPDATE jobs SET state = 'done', output_path = ?2, "
                         "finished_at = coalesce(finished_at, ?3), "
                         "updated_at = ?3, billing_month = "
                         "coalesce(billing_month, ?4), pdf_sha256 = ?5, "
                         "pdf_pages = ?6 WHERE id = ?1"},
    /* Active jobs with nothing left to run. */
    [ST_JOB_FINISHED] = {"job_finished",
                         "SELECT j.id FROM jobs j WHERE j.state IN "
                         "('queued', 'running') AND NOT EXISTS (SELECT 1 "
                         "FROM page_tasks t WHERE t.state IN ('queued', "
                         "'running') AND t.job = j.id) ORDER BY j.id"},
    [ST_JOB_ASSEMBLING] = {"job_assembling",
                           "SELECT id FROM jobs WHERE state = 'assembling' "
                           "ORDER BY id"},
    [ST_TASKS_FAILED] = {"tasks_failed",
                         "SELECT page, src, frame, error FROM page_tasks "
                         "WHERE state = 'failed' AND job = ?1 ORDER BY page"},
    /* Retry: a fresh attempt budget, the same fencing token. */
    [ST_TASKS_RETRY] = {"tasks_retry",
                        "UPDATE page_tasks SET state = 'queued', "
                        "attempts_base = attempts, error = NULL, "
                        "lease_owner = NULL, lease_until = NULL "
                        "WHERE state = 'failed' AND job = ?1"},
    [ST_TASKS_UNLEASE] = {"tasks_unlease",
                          "UPDATE page_tasks SET state = 'queued', "
                          "lease_owner = NULL, lease_until = NULL "
                          "WHERE state = 'running' AND job = ?1"},

    /*
     * The fair claim (?1 = now). For each job in state queued or running
     * (jobs_state), three probes of page_tasks_claim: its lowest queued
     * page, its lowest page whose lease lapsed, and how many of its pages
     * are running under a live lease. The job with the fewest running
     * pages wins, then the oldest (lowest id), then the lowest page. The
     * cost grows with the number of active jobs, not with the tasks.
     */
    [ST_CLAIM_PICK] = {"claim_pick",
                       "WITH cand AS (SELECT j.id AS job, "
                       "(SELECT min(t.page) FROM page_tasks t WHERE "
                       "t.state = 'queued' AND t.job = j.id) AS q, "
                       "(SELECT min(t.page) FROM page_tasks t WHERE "
                       "t.state = 'running' AND t.job = j.id AND "
                       "t.lease_until < ?1) AS l, "
                       "(SELECT count(*) FROM page_tasks t WHERE "
                       "t.state = 'running' AND t.job = j.id AND "
                       "t.lease_until >= ?1) AS r "
                       "FROM jobs j WHERE j.state IN ('queued', 'running')) "
                       "SELECT job, min(coalesce(q, l), coalesce(l, q)) "
                       "FROM cand WHERE q IS NOT NULL OR l IS NOT NULL "
                       "ORDER BY r, job LIMIT 1"},
    [ST_CLAIM_PREV] = {"claim_prev", "SELECT id, state FROM page_tasks "
                                     "WHERE job = ?1 AND page = ?2"},
    [ST_CLAIM_EVENT] = {"claim_event",
                        "INSERT INTO events (at, actor, kind, job, page, "
                        "detail) SELECT ?2, ?3, 'page.reclaimed', job, page, "
                        "'lease of ' || coalesce(lease_owner, '?') || "
                        "' lapsed at attempt ' || attempts "
                        "FROM page_tasks WHERE id = ?1"},
    [ST_CLAIM_TAKE] = {"claim_take",
                       "UPDATE page_tasks SET state = 'running', "
                       "attempts = attempts + 1, lease_owner = ?2, "
                       "lease_until = ?3 WHERE id = ?1"},
    [ST_TASK_GET] = {"task_get", "SELECT " TASK_COLS " WHERE t.id = ?1"},
    [ST_TASK_LIST] = {"task_list",
                      "SELECT " TASK_COLS " WHERE t.job = ?1 ORDER BY t.page"},
    [ST_TASK_FENCE] = {"task_fence",
                       "SELECT t.job, t.page, t.state, t.attempts, "
                       "t.attempts_base, j.state FROM page_tasks t "
                       "JOIN jobs j ON j.id = t.job WHERE t.id = ?1"},
    [ST_TASK_RENEW] = {"task_renew",
                       "UPDATE page_tasks SET lease_until = ?2 WHERE id = ?1"},
    [ST_TASK_DONE] = {"task_done",
                      "UPDATE page_tasks SET state = 'done', width = ?2, "
                      "height = ?3, xres = ?4, yres = ?5, rotation = ?6, "
                      "orient_confidence = ?7, skew = ?8, "
                      "skew_confidence = ?9, blank = ?10, ink_ratio = ?11, "
                      "words = ?12, confidence = ?13, kind = ?14, "
                      "codec = ?15, bytes = ?16, ms_decode = ?17, "
                      "ms_orient = ?18, ms_deskew = ?19, ms_blank = ?20, "
                      "ms_ocr = ?21, ms_encode = ?22, ms_total = ?23, "
                      "image = ?24, text_pdf = ?25, text = ?26, error = NULL, "
                      "lease_until = NULL, finished_at = ?27, orient_osd = "
                      "?28, dpi_fallback = ?29 WHERE id = ?1"},
    [ST_TASK_SET_STATE] = {"task_set_state",
                           "UPDATE page_tasks SET state = ?2, error = ?3, "
                           "lease_owner = NULL, lease_until = NULL "
                           "WHERE id = ?1"},
    [ST_TASK_FAIL_EVENT] = {"task_fail_event",
                            TASK_EVENT "?3, job, page, 'attempt ' || "
                                       "attempts || ': ' || ?4 "
                                       "FROM page_tasks WHERE id = ?1"},
    /* Plain INSERT: a second row for a page is a bug, and fails loudly. */
    [ST_BILLABLE_ADD] = {"billable_add",
                         "INSERT INTO billable_pages (job, page, blank, "
                         "created_at) SELECT job, page, ?2, ?3 "
                         "FROM page_tasks WHERE id = ?1"},
    /* Lease expiry (?1 = now, ?2 = max attempts): events first, then the
     * tasks, both reading the rows before they change. */
    [ST_EXPIRED_EVENTS] = {"expired_events",
                           "INSERT INTO events (at, actor, kind, job, page, "
                           "detail) SELECT ?1, 'catalog', CASE WHEN "
                           "attempts - attempts_base >= ?2 THEN 'page.failed' "
                           "ELSE 'page.requeued' END, job, page, " LEASE_EXPIRED
                           " FROM page_tasks WHERE state = 'running' "
                           "AND lease_until < ?1"},
    [ST_EXPIRED_REQUEUE] = {"expired_requeue",
                            "UPDATE page_tasks SET state = CASE WHEN "
                            "attempts - attempts_base >= ?2 THEN 'failed' "
                            "ELSE 'queued' END, error = " LEASE_EXPIRED
                            ", lease_owner = NULL, lease_until = NULL "
                            "WHERE state = 'running' AND lease_until < ?1"},
    /* A coordinator starting over a catalog only it uses: every running
     * lease belonged to a coordinator that is gone (?1 = now, ?2 = the new
     * coordinator). Same order as above. The page is not at fault: the
     * attempt is refunded (attempts_base + 1) while the fencing token
     * keeps growing, so no restart ever fails a page. */
    [ST_ORPHAN_EVENTS] = {"orphan_events",
                          "INSERT INTO events (at, actor, kind, job, page, "
                          "detail) SELECT ?1, ?2, 'page.requeued', job, "
                          "page, " LEASE_ORPHANED
                          " FROM page_tasks WHERE state = 'running'"},
    [ST_ORPHAN_REQUEUE] = {"orphan_requeue",
                           "UPDATE page_tasks SET state = 'queued', "
                           "attempts_base = attempts_base + 1, "
                           "error = " LEASE_ORPHANED
                           ", lease_owner = NULL, lease_until = NULL "
                           "WHERE state = 'running'"},

    [ST_STATUS_JOBS] = {"status_jobs",
                        "SELECT state, count(*) FROM jobs GROUP BY state"},
    /* Pages of held or cancelled jobs are not waiting for workers.
     * CROSS JOIN keeps SQLite starting from the few active jobs. */
    [ST_STATUS_PAGES] = {"status_pages",
                         "SELECT t.state, count(*) FROM jobs j CROSS JOIN "
                         "page_tasks t ON t.job = j.id WHERE j.state IN "
                         "('queued', 'running') AND t.state IN ('queued', "
                         "'running') GROUP BY t.state"},
    [ST_STATUS_RATE] = {"status_rate",
                        "SELECT coalesce(sum(finished_at > ?2), 0), count(*) "
                        "FROM page_tasks WHERE finished_at > ?1 "
                        "AND finished_at <= ?3"},
    [ST_BILLABLE_JOB] = {"billable_job",
                         "SELECT count(*) FROM billable_pages b JOIN jobs j "
                         "ON j.id = b.job WHERE b.job = ?1 AND "
                         "j.state = 'done' AND (?2 OR b.blank = 0)"},
    [ST_BILLABLE_ALL] = {"billable_all",
                         "SELECT count(*) FROM billable_pages b JOIN jobs j "
                         "ON j.id = b.job WHERE j.state = 'done' AND "
                         "(?1 OR b.blank = 0)"},

    [ST_WORKERS_CLEAR] = {"workers_clear",
                          "DELETE FROM workers WHERE owner = ?1"},
    [ST_WORKER_ADD] = {"worker_add",
                       "INSERT INTO workers (owner, slot, pid, state, job, "
                       "page, started_at, updated_at) VALUES (?1, ?2, ?3, ?4, "
                       "nullif(?5, 0), nullif(?6, 0), ?7, ?8)"},
    [ST_WORKER_LIST] = {"worker_list",
                        "SELECT owner, slot, pid, state, coalesce(job, 0), "
                        "coalesce(page, 0), started_at, updated_at FROM "
                        "workers ORDER BY owner, slot"},

    [ST_FEE_ADD] = {"fee_add", "INSERT INTO fee_codes (code, description, "
                               "unit_price_millicents, min_charge_millicents, "
                               "effective_from, created_at) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
    [ST_FEE_LIST] = {"fee_list",
                     "SELECT id, code, description, unit_price_millicents, "
                     "min_charge_millicents, effective_from, "
                     "coalesce(created_at, 0) FROM fee_codes WHERE ?1 IS "
                     "NULL OR code = ?1 ORDER BY code, effective_from"},
    [ST_FEE_COUNT] = {"fee_count",
                      "SELECT count(*) FROM fee_codes WHERE code = ?1"},
    [ST_WO_SET_FEE] = {"workorder_set_fee",
                       "UPDATE work_orders SET fee_code = ?2 "
                       "WHERE number = ?1"},
    [ST_PERIOD_GET] = {"period_get",
                       "SELECT month, closed_at, closed_by, forced, lines, "
                       "total_cents FROM billing_periods WHERE month = ?1"},
    [ST_PERIOD_LAST] = {"period_last", "SELECT coalesce(max(month), '') FROM "
                                       "billing_periods"},
    [ST_PERIOD_ADD] = {"period_add",
                       "INSERT INTO billing_periods (month, closed_at, "
                       "closed_by, forced, lines, total_cents) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
    /*
     * An open month's lines (?1 month, ?2 account or NULL, ?3 work order
     * or NULL), computed: the done jobs billed in it, priced at the fee
     * effective when each finished, then its adjustments. Columns: kind,
     * account, name, work order, job, fee code, priced, pages, blank
     * pages, bill_blank (jobs), unit price, minimum, billable (adjustments),
     * amount (adjustments), finished, note, adjustment id. The page
     * counts are ranges of billable_pages' primary key.
     */
    [ST_BILL_OPEN] = {"bill_open",
                      "SELECT 0, a.code, a.name, w.number, j.id, "
                      "w.fee_code, f.id IS NOT NULL, (SELECT count(*) FROM "
                      "billable_pages b WHERE b.job = j.id), (SELECT "
                      "count(*) FROM billable_pages b WHERE b.job = j.id "
                      "AND b.blank = 1), j.bill_blank, "
                      "coalesce(f.unit_price_millicents, 0), "
                      "coalesce(f.min_charge_millicents, 0), NULL, NULL, "
                      "j.finished_at, NULL, 0 FROM jobs j JOIN work_orders w "
                      "ON w.number = j.workorder JOIN accounts a ON a.id = "
                      "w.account_id LEFT JOIN fee_codes f ON f.id = (SELECT "
                      "g.id FROM fee_codes g WHERE g.code = w.fee_code AND "
                      "g.effective_from <= j.finished_at ORDER BY "
                      "g.effective_from DESC LIMIT 1) WHERE j.billing_month "
                      "= ?1 AND j.state = 'done' AND (?2 IS NULL OR a.code "
                      "= ?2) AND (?3 IS NULL OR w.number = ?3) "
                      "UNION ALL "
                      "SELECT 1, a.code, a.name, w.number, d.job, "
                      "d.fee_code, 1, d.pages, d.blank_pages, NULL, "
                      "d.unit_price_mc, 0, d.billable_pages, d.amount_mc, "
                      "j.finished_at, d.reason, d.id FROM "
                      "billing_adjustments d JOIN jobs j ON j.id = d.job "
                      "JOIN work_orders w ON w.number = j.workorder JOIN "
                      "accounts a ON a.id = w.account_id WHERE d.month = ?1 "
                      "AND (?2 IS NULL OR a.code = ?2) AND (?3 IS NULL OR "
                      "w.number = ?3) ORDER BY 2, 4, 1, 5, 17"},
    /* A closed month's lines, as frozen (same columns up to 16, with
     * billable and both amounts stored). */
    [ST_BILL_FROZEN] = {"bill_frozen",
                        "SELECT kind = 'adjustment', account, account_name, "
                        "workorder, job, fee_code, 1, pages, blank_pages, "
                        "NULL, unit_price_mc, min_charge_mc, billable_pages, "
                        "amount_mc, finished_at, note, amount_cents FROM "
                        "billing_lines WHERE month = ?1 AND (?2 IS NULL OR "
                        "account = ?2) AND (?3 IS NULL OR workorder = ?3) "
                        "ORDER BY seq"},
    [ST_BILL_BLOCKERS] = {"bill_blockers",
                          "SELECT id FROM jobs WHERE state IN ('received', "
                          "'queued', 'running', 'assembling', 'held') AND "
                          "created_at < ?1 ORDER BY id"},
    [ST_LINE_ADD] = {"line_add",
                     "INSERT INTO billing_lines (month, seq, kind, account, "
                     "account_name, workorder, job, fee_code, pages, "
                     "blank_pages, billable_pages, unit_price_mc, "
                     "min_charge_mc, amount_mc, amount_cents, finished_at, "
                     "note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                     "?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"},
    [ST_JOB_BILLING] = {"job_billing",
                        "SELECT state, coalesce(billing_month, ''), "
                        "coalesce(finished_at, 0) FROM jobs WHERE id = ?1"},
    /* What a job was billed in closed months, and in adjustments not
     * frozen yet: pages, blank, billable, amount, lines. */
    [ST_JOB_BILLED] = {"job_billed",
                       "SELECT coalesce(sum(pages), 0), "
                       "coalesce(sum(blank_pages), 0), "
                       "coalesce(sum(billable_pages), 0), "
                       "coalesce(sum(amount_mc), 0), count(*) FROM "
                       "billing_lines WHERE job = ?1"},
    [ST_JOB_ADJ_OPEN] = {"job_adj_open",
                         "SELECT coalesce(sum(pages), 0), "
                         "coalesce(sum(blank_pages), 0), "
                         "coalesce(sum(billable_pages), 0), "
                         "coalesce(sum(amount_mc), 0), count(*) FROM "
                         "billing_adjustments d WHERE d.job = ?1 AND NOT "
                         "EXISTS (SELECT 1 FROM billing_periods p WHERE "
                         "p.month = d.month)"},
    [ST_JOB_FROZEN_PRICE] = {"job_frozen_price",
                             "SELECT fee_code, unit_price_mc FROM "
                             "billing_lines WHERE job = ?1 AND kind = 'job' "
                             "ORDER BY month DESC LIMIT 1"},
    [ST_JOB_PRICE] = {"job_price",
                      "SELECT f.code, f.unit_price_millicents FROM jobs j "
                      "JOIN work_orders w ON w.number = j.workorder JOIN "
                      "fee_codes f ON f.code = w.fee_code AND "
                      "f.effective_from <= j.finished_at WHERE j.id = ?1 "
                      "ORDER BY f.effective_from DESC LIMIT 1"},
    [ST_SETTING_GET] = {"setting_get",
                        "SELECT value FROM settings WHERE key = ?1"},
    [ST_SETTING_ADD] = {"setting_add",
                        "INSERT INTO settings (key, value) VALUES (?1, ?2)"},
    [ST_JOB_BY_SOURCE] = {"job_by_source",
                          "SELECT coalesce(min(id), 0) FROM jobs WHERE "
                          "source_path = ?1"},
    [ST_ADJ_ADD] = {"adjustment_add",
                    "INSERT INTO billing_adjustments (month, of_month, job, "
                    "fee_code, pages, blank_pages, billable_pages, "
                    "unit_price_mc, amount_mc, reason, actor, created_at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                    "?12)"},
};

struct pm_catalog {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    char errmsg[512]; /* fixed, so saving an error never allocates */
};

/* ---- names ---- */

static const char *const job_states[] = {
    "received", "queued", "running", "assembling",
    "done",     "held",   "failed",  "cancelled",
};

static const char *const task_states[] = {"queued", "running", "done",
                                          "failed"};

#define NJOB_STATES  ((int)(sizeof(job_states) / sizeof(job_states[0])))
#define NTASK_STATES ((int)(sizeof(task_states) / sizeof(task_states[0])))

const char *pm_job_state_name(pm_job_state_t s)
{
    if ((int)s < 0 || (int)s >= NJOB_STATES)
        return "unknown";
    return job_states[s];
}

int pm_job_state_parse(const char *s)
{
    int i;

    for (i = 0; s != NULL && i < NJOB_STATES; i++)
        if (strcmp(s, job_states[i]) == 0)
            return i;
    return -1;
}

const char *pm_task_state_name(pm_task_state_t s)
{
    if ((int)s < 0 || (int)s >= NTASK_STATES)
        return "unknown";
    return task_states[s];
}

static int task_state_parse(const char *s)
{
    int i;

    for (i = 0; s != NULL && i < NTASK_STATES; i++)
        if (strcmp(s, task_states[i]) == 0)
            return i;
    return -1;
}

/* ---- errors: the detail lives on the handle ---- */

static int set_msg(pm_catalog_t *cat, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Saves a message on the handle and returns `err`. */
static int set_msg(pm_catalog_t *cat, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cat->errmsg, sizeof(cat->errmsg), fmt, ap);
    va_end(ap);
    return err;
}

static int nomem(pm_catalog_t *cat)
{
    return set_msg(cat, PM_ENOMEM, "out of memory");
}

/* Maps the connection's last SQLite error to a PM code, keeping its text:
 * uniqueness is -EEXIST, a missing parent row PM_ENOENT, a full disk
 * (SQLITE_FULL, or an I/O error that was ENOSPC or EDQUOT) -ENOSPC, so
 * the caller can wait for space instead of failing work. */
static int db_fail(pm_catalog_t *cat)
{
    int err, sys = sqlite3_system_errno(cat->db);

    if (sqlite3_errcode(cat->db) == SQLITE_FULL ||
        (sqlite3_errcode(cat->db) == SQLITE_IOERR &&
         (sys == ENOSPC || sys == EDQUOT)))
        return set_msg(cat, -ENOSPC, "%s", sqlite3_errmsg(cat->db));
    switch (sqlite3_extended_errcode(cat->db)) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        err = -EEXIST;
        break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        err = PM_ENOENT;
        break;
    case SQLITE_NOMEM:
    case SQLITE_IOERR_NOMEM:
        err = PM_ENOMEM;
        break;
    default:
        err = PM_ECATALOG;
        break;
    }
    return set_msg(cat, err, "%s", sqlite3_errmsg(cat->db));
}

/* ---- statements ---- */

static int64_t wall_clock(void)
{
    return (int64_t)time(NULL);
}

/* Resets a statement and drops its bindings (strings are bound
 * SQLITE_STATIC, so none may outlive the call that bound it). */
static void stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* For a failed bind: the error, with the statement reset. */
static int bind_fail(pm_catalog_t *cat, sqlite3_stmt *st)
{
    int err = db_fail(cat);

    stmt_done(st);
    return err;
}

/* Binds a borrowed string, or NULL. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s == NULL)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Binds a LIMIT: 0 means none. */
static int bind_limit(sqlite3_stmt *st, int i, size_t limit)
{
    if (limit == 0 || limit > (size_t)INT64_MAX)
        return sqlite3_bind_int64(st, i, -1);
    return sqlite3_bind_int64(st, i, (sqlite3_int64)limit);
}

/* Runs a statement that returns no rows; resets it. */
static int run(pm_catalog_t *cat, sqlite3_stmt *st)
{
    int err = 0;

    if (sqlite3_step(st) != SQLITE_DONE)
        err = db_fail(cat);
    stmt_done(st);
    return err;
}

/* Like run(), and stores how many rows it changed. */
static int run_changes(pm_catalog_t *cat, sqlite3_stmt *st, int *changes)
{
    int err = run(cat, st);

    *changes = err ? 0 : sqlite3_changes(cat->db);
    return err;
}

/* Steps a query: 1 with the statement on its first row (the caller
 * resets it), 0 when there is none, or an error (both reset). */
static int first_row(pm_catalog_t *cat, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st), err = 0;

    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE)
        err = db_fail(cat);
    stmt_done(st);
    return err;
}

/* Runs a query whose first column of its first row is an integer. */
static int query_int64(pm_catalog_t *cat, sqlite3_stmt *st, int64_t *v)
{
    int err = first_row(cat, st);

    *v = 0;
    if (err <= 0)
        return err == 0 ? PM_ENOENT : err;
    *v = sqlite3_column_int64(st, 0);
    stmt_done(st);
    return 0;
}

/* Copies a text column into a new string (NULL for SQL NULL). */
static int col_str(sqlite3_stmt *st, int i, char **out)
{
    const unsigned char *s;

    *out = NULL;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return 0;
    s = sqlite3_column_text(st, i);
    if (s != NULL)
        *out = pm_strdup((const char *)s);
    return *out != NULL ? 0 : PM_ENOMEM;
}

/* A text column for a message: borrowed, "?" for NULL. */
static const char *col_or(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);

    return s != NULL ? (const char *)s : "?";
}

/* Copies a short text column (a state name) into buf, "" for NULL. */
static void col_name(sqlite3_stmt *st, int i, char *buf, size_t size)
{
    const unsigned char *s = sqlite3_column_text(st, i);

    snprintf(buf, size, "%s", s != NULL ? (const char *)s : "");
}

/* ---- transactions ---- */

static int tx_begin(pm_catalog_t *cat)
{
    return run(cat, cat->st[ST_BEGIN]);
}

static int tx_begin_read(pm_catalog_t *cat)
{
    return run(cat, cat->st[ST_BEGIN_READ]);
}

/* Commits when err is 0, else (or when the commit fails) rolls back;
 * returns the first error. The rollback never overwrites the message. */
static int tx_end(pm_catalog_t *cat, int err)
{
    sqlite3_stmt *rb = cat->st[ST_ROLLBACK];

    if (err == 0)
        err = run(cat, cat->st[ST_COMMIT]);
    if (err != 0 && !sqlite3_get_autocommit(cat->db)) {
        sqlite3_step(rb);
        sqlite3_reset(rb);
    }
    return err;
}

/* ---- rows into structs: each reader fills `item` whole or frees it ---- */

typedef int (*read_fn)(sqlite3_stmt *st, void *item);
typedef void (*cleanup_fn)(void *item);

/* Cleans up `n` items of `size` bytes (none when `cleanup` is NULL: plain
 * values) and frees the array. Accepts NULL. */
static void free_items(void *v, size_t n, size_t size, cleanup_fn cleanup)
{
    for (size_t i = 0; v != NULL && cleanup != NULL && i < n; i++)
        cleanup((char *)v + i * size);
    pm_free(v);
}

/* Reads every remaining row of `st` into a new array of `size`-byte
 * items; resets `st`. On failure nothing is kept. */
static int collect(pm_catalog_t *cat, sqlite3_stmt *st, size_t size,
                   read_fn read, cleanup_fn cleanup, void **out, size_t *n)
{
    char *v = NULL, *p;
    size_t len = 0, cap = 0;
    int rc, err = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            p = pm_realloc(v, cap * size);
            if (p == NULL) {
                err = nomem(cat);
                break;
            }
            v = p;
        }
        err = read(st, v + len * size);
        if (err != 0) {
            err = err == PM_ENOMEM ? nomem(cat)
                                   : set_msg(cat, err, "unexpected value");
            break;
        }
        len++;
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = db_fail(cat);
    stmt_done(st);
    if (err != 0) {
        free_items(v, len, size, cleanup);
        return err;
    }
    *out = v;
    *n = len;
    return 0;
}

/* Reads the one row of `st` into `item`: PM_ENOENT (message left to the
 * caller) when there is none. */
static int get_one(pm_catalog_t *cat, sqlite3_stmt *st, read_fn read,
                   void *item)
{
    int err = first_row(cat, st);

    if (err <= 0)
        return err == 0 ? PM_ENOENT : err;
    err = read(st, item);
    stmt_done(st);
    if (err != 0)
        return err == PM_ENOMEM ? nomem(cat)
                                : set_msg(cat, err, "unexpected value");
    return 0;
}

static int read_id(sqlite3_stmt *st, void *item)
{
    *(int64_t *)item = sqlite3_column_int64(st, 0);
    return 0;
}

/* ---- lifetime ---- */

/* Runs SQL text (setup and migrations only) through sqlite3_exec. */
static int exec(pm_catalog_t *cat, const char *sql)
{
    if (sqlite3_exec(cat->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(cat);
    return 0;
}

/* Runs a one-off statement (setup only) and copies the text of its first
 * column into buf. */
static int exec_text(pm_catalog_t *cat, const char *sql, char *buf, size_t size)
{
    sqlite3_stmt *st = NULL;
    int err = 0;

    buf[0] = '\0';
    if (sqlite3_prepare_v2(cat->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(cat);
    if (sqlite3_step(st) == SQLITE_ROW)
        col_name(st, 0, buf, size);
    else
        err = db_fail(cat);
    sqlite3_finalize(st);
    return err;
}

/* Per-connection settings: the durability and integrity the catalog
 * relies on, each read back where SQLite could silently ignore it. */
static int configure(pm_catalog_t *cat)
{
    char val[32];
    int err;

    sqlite3_extended_result_codes(cat->db, 1);
    sqlite3_db_config(cat->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(cat->db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
    sqlite3_db_config(cat->db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
    if (sqlite3_busy_timeout(cat->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return db_fail(cat);
    err = exec_text(cat, "PRAGMA journal_mode = WAL", val, sizeof(val));
    if (err != 0)
        return err;
    /* An in-memory database reports "memory"; a file must be in WAL. */
    if (strcmp(val, "wal") != 0 && strcmp(val, "memory") != 0)
        return set_msg(cat, PM_ECATALOG,
                       "journal_mode is %s, not wal (a network file "
                       "system?)",
                       val);
    err = exec(cat, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
    if (err == 0)
        err = exec_text(cat, "PRAGMA foreign_keys", val, sizeof(val));
    if (err == 0 && strcmp(val, "1") != 0)
        err = set_msg(cat, PM_ECATALOG, "foreign keys could not be enabled");
    return err;
}

static int read_version(pm_catalog_t *cat, int64_t *version)
{
    char val[32];
    int err;

    err = exec_text(cat,
                    "SELECT coalesce(max(version), 0) FROM schema_migrations",
                    val, sizeof(val));
    *version = err == 0 ? strtoll(val, NULL, 10) : 0;
    return err;
}

static int record_migration(pm_catalog_t *cat, int version)
{
    sqlite3_stmt *st = NULL;
    int err = 0;

    if (sqlite3_prepare_v2(cat->db,
                           "INSERT INTO schema_migrations (version, "
                           "applied_at) VALUES (?1, ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(cat);
    if (sqlite3_bind_int(st, 1, version) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, wall_clock()) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        err = db_fail(cat);
    sqlite3_finalize(st);
    return err;
}

/* Applies migration `version` in its own transaction, unless another
 * process applied it since we looked. */
static int apply_migration(pm_catalog_t *cat, int version)
{
    const char *const *sql;
    int64_t current = 0;
    int err;

    err = exec(cat, "BEGIN IMMEDIATE");
    if (err != 0)
        return err;
    err = read_version(cat, &current);
    for (sql = migrations[version - 1]; err == 0 && current < version && *sql;
         sql++)
        err = exec(cat, *sql);
    if (err == 0 && current < version)
        err = record_migration(cat, version);
    if (err == 0)
        err = exec(cat, "COMMIT");
    if (err != 0) {
        if (!sqlite3_get_autocommit(cat->db))
            sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
        return err;
    }
    if (current < version)
        pm_log(PM_LOG_INFO, "catalog", "applied schema migration %d", version);
    return 0;
}

static int migrate(pm_catalog_t *cat)
{
    int64_t version = 0;
    int v, err;

    err = exec(cat, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version INTEGER PRIMARY KEY,"
                    " applied_at INTEGER NOT NULL) STRICT");
    if (err == 0)
        err = read_version(cat, &version);
    if (err != 0)
        return err;
    if (version > NMIGRATIONS)
        return set_msg(cat, PM_ECATALOG,
                       "schema version %lld is newer than this pagemill "
                       "knows (%d)",
                       (long long)version, NMIGRATIONS);
    for (v = (int)version + 1; err == 0 && v <= NMIGRATIONS; v++)
        err = apply_migration(cat, v);
    return err;
}

static int prepare_all(pm_catalog_t *cat)
{
    int i;

    for (i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(cat->db, stmts[i].sql, -1,
                               SQLITE_PREPARE_PERSISTENT, &cat->st[i],
                               NULL) != SQLITE_OK)
            return set_msg(cat, db_fail(cat), "preparing %s: %s", stmts[i].name,
                           sqlite3_errmsg(cat->db));
    }
    return 0;
}

static void finalize_all(pm_catalog_t *cat)
{
    int i;

    for (i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(cat->st[i]); /* NULL-safe */
        cat->st[i] = NULL;
    }
}

int pm_catalog_open(const char *path, pm_catalog_t **out)
{
    pm_catalog_t *cat;
    int err;

    *out = NULL;
    if (path == NULL)
        return PM_EINVAL;
    cat = pm_calloc(1, sizeof(*cat));
    if (cat == NULL) {
        pm_log(PM_LOG_ERROR, "catalog", "open %s: out of memory", path);
        return PM_ENOMEM;
    }
    if (sqlite3_open_v2(path, &cat->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK) {
        err = cat->db != NULL ? db_fail(cat) : nomem(cat);
        goto fail_close_db;
    }
    err = configure(cat);
    if (err == 0)
        err = migrate(cat);
    if (err == 0)
        err = prepare_all(cat);
    if (err != 0)
        goto fail_close_db;

    *out = cat;
    return PM_OK;

fail_close_db:
    pm_log(PM_LOG_ERROR, "catalog", "open %s: %s", path, cat->errmsg);
    finalize_all(cat);
    sqlite3_close(cat->db); /* NULL-safe */
    pm_free(cat);
    return err;
}

void pm_catalog_close(pm_catalog_t *cat)
{
    if (cat == NULL)
        return;
    finalize_all(cat);
    if (sqlite3_close(cat->db) != SQLITE_OK)
        pm_log(PM_LOG_ERROR, "catalog", "close: %s", sqlite3_errmsg(cat->db));
    pm_free(cat);
}

sqlite3 *pm__catalog_db(pm_catalog_t *cat)
{
    return cat->db;
}

int pm__catalog_db_fail(pm_catalog_t *cat)
{
    return db_fail(cat);
}

int pm__catalog_set_msg(pm_catalog_t *cat, int err, const char *msg)
{
    return set_msg(cat, err, "%s", msg);
}

const char *pm_catalog_errmsg(const pm_catalog_t *cat)
{
    if (cat == NULL)
        return "no catalog";
    return cat->errmsg;
}

int pm_catalog_schema_version(pm_catalog_t *cat, int *version)
{
    int64_t v;
    int err = query_int64(cat, cat->st[ST_SCHEMA_VERSION], &v);

    *version = err == 0 ? (int)v : 0;
    return err;
}

/* Appends PRAGMA foreign_key_check's findings; *clean = 0 if any. */
static int check_foreign_keys(pm_catalog_t *cat, pm__buf_t *b, int *clean)
{
    sqlite3_stmt *st = cat->st[ST_FK_CHECK];
    int rc, err = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *clean = 0;
        pm__buf_printf(b,
                       "%sforeign key: %s row %lld refers to a missing %s row",
                       b->len ? "\n" : "", col_or(st, 0),
                       (long long)sqlite3_column_int64(st, 1), col_or(st, 2));
    }
    if (rc != SQLITE_DONE)
        err = db_fail(cat);
    stmt_done(st);
    return err;
}

int pm_catalog_check(pm_catalog_t *cat, int *ok, char **report)
{
    sqlite3_stmt *st = cat->st[ST_INTEGRITY];
    pm__buf_t b = {0};
    const char *line;
    int rc, clean = 1, err = 0;

    *ok = 0;
    *report = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        line = (const char *)sqlite3_column_text(st, 0);
        if (line == NULL || strcmp(line, "ok") != 0)
            clean = 0;
        pm__buf_printf(&b, "%s%s", b.len ? "\n" : "", line ? line : "?");
    }
    if (rc != SQLITE_DONE)
        err = db_fail(cat);
    stmt_done(st);
    if (err == 0)
        err = check_foreign_keys(cat, &b, &clean);
    if (err == 0 && b.oom)
        err = nomem(cat);
    if (err != 0) {
        pm_free(b.s);
        return err;
    }
    *ok = clean;
    *report = b.s;
    return 0;
}

/* ---- events ---- */

void pm_event_cleanup(pm_event_t *e)
{
    if (e == NULL)
        return;
    pm_free(e->actor);
    pm_free(e->kind);
    pm_free(e->detail);
    memset(e, 0, sizeof(*e));
}

static void event_cleanup_v(void *item)
{
    pm_event_cleanup(item);
}

static int read_event(sqlite3_stmt *st, void *item)
{
    pm_event_t *e = item;

    memset(e, 0, sizeof(*e));
    e->id = sqlite3_column_int64(st, 0);
    e->at = sqlite3_column_int64(st, 1);
    e->job = sqlite3_column_int64(st, 4);
    e->page = sqlite3_column_int(st, 5);
    if (col_str(st, 2, &e->actor) || col_str(st, 3, &e->kind) ||
        col_str(st, 6, &e->detail)) {
        pm_event_cleanup(e);
        return PM_ENOMEM;
    }
    return 0;
}

/* Inserts an event inside the caller's transaction. */
static int event_insert(pm_catalog_t *cat, int64_t at, const char *actor,
                        const char *kind, int64_t job, int page,
                        const char *detail)
{
    sqlite3_stmt *st = cat->st[ST_EVENT_ADD];

    if (sqlite3_bind_int64(st, 1, at) || bind_text(st, 2, actor) ||
        bind_text(st, 3, kind) || sqlite3_bind_int64(st, 4, job) ||
        sqlite3_bind_int(st, 5, page) || bind_text(st, 6, detail))
        return bind_fail(cat, st);
    return run(cat, st);
}

int pm_event_add(pm_catalog_t *cat, const char *actor, const char *kind,
                 int64_t job, int page, const char *detail)
{
    int err;

    if (actor == NULL || kind == NULL || job < 0 || page < 0)
        return set_msg(cat, PM_EINVAL, "an event needs an actor and a kind");
    err = event_insert(cat, wall_clock(), actor, kind, job, page, detail);
    if (err == PM_ENOENT)
        set_msg(cat, err, "no job %lld", (long long)job);
    return err;
}

int pm_event_list(pm_catalog_t *cat, int64_t job, size_t limit,
                  pm_event_t **out, size_t *n)
{
    sqlite3_stmt *st;

    *out = NULL;
    *n = 0;
    if (job < 0)
        return set_msg(cat, PM_EINVAL, "bad job id %lld", (long long)job);
    st = cat->st[job == 0 ? ST_EVENT_LIST_ALL : ST_EVENT_LIST_JOB];
    if (bind_limit(st, 1, limit) ||
        (job != 0 && sqlite3_bind_int64(st, 2, job)))
        return bind_fail(cat, st);
    return collect(cat, st, sizeof(pm_event_t), read_event, event_cleanup_v,
                   (void **)out, n);
}

void pm_event_list_free(pm_event_t *v, size_t n)
{
    free_items(v, n, sizeof(*v), event_cleanup_v);
}

/* ---- accounts ---- */

void pm_account_cleanup(pm_account_t *a)
{
    if (a == NULL)
        return;
    pm_free(a->code);
    pm_free(a->name);
    pm_free(a->contact);
    pm_free(a->account_number);
    memset(a, 0, sizeof(*a));
}

static void account_cleanup_v(void *item)
{
    pm_account_cleanup(item);
}

static int read_account(sqlite3_stmt *st, void *item)
{
    pm_account_t *a = item;

    memset(a, 0, sizeof(*a));
    a->id = sqlite3_column_int64(st, 0);
    a->created_at = sqlite3_column_int64(st, 5);
    if (col_str(st, 1, &a->code) || col_str(st, 2, &a->name) ||
        col_str(st, 3, &a->contact) || col_str(st, 4, &a->account_number)) {
        pm_account_cleanup(a);
        return PM_ENOMEM;
    }
    return 0;
}

/* Nonzero, with the reason as the catalog's message, when `s` may not be
 * an identifier of `kind` (pm_ident_check). */
static int ident_refused(pm_catalog_t *cat, pm_ident_kind_t kind, const char *s)
{
    char why[200];

    if (pm_ident_check(kind, s, why, sizeof(why)) == 0)
        return 0;
    set_msg(cat, PM_EINVAL, "%s", why);
    return 1;
}

int pm_account_add(pm_catalog_t *cat, const pm_account_t *a, const char *actor,
                   int64_t *id)
{
    sqlite3_stmt *st = cat->st[ST_ACCOUNT_ADD];
    int64_t now = wall_clock(), new_id = 0;
    int err;

    *id = 0;
    if (a->code == NULL || a->name == NULL || actor == NULL)
        return set_msg(cat, PM_EINVAL, "an account needs a code and a name");
    if (ident_refused(cat, PM_IDENT_ACCOUNT, a->code))
        return PM_EINVAL;
    err = tx_begin(cat);
    if (err != 0)
        return err;
    if (bind_text(st, 1, a->code) || bind_text(st, 2, a->name) ||
        bind_text(st, 3, a->contact) || bind_text(st, 4, a->account_number) ||
        sqlite3_bind_int64(st, 5, now))
        err = bind_fail(cat, st);
    else
        err = run(cat, st);
    if (err == -EEXIST)
        set_msg(cat, err, "account %s already exists", a->code);
    new_id = sqlite3_last_insert_rowid(cat->db);
    if (err == 0)
        err = event_insert(cat, now, actor, "account.added", 0, 0, a->code);
    err = tx_end(cat, err);
    if (err == 0)
        *id = new_id;
    return err;
}

int pm_account_get(pm_catalog_t *cat, const char *code, pm_account_t *out)
{
    sqlite3_stmt *st = cat->st[ST_ACCOUNT_GET];
    int err;

    memset(out, 0, sizeof(*out));
    if (bind_text(st, 1, code))
        return bind_fail(cat, st);
    err = get_one(cat, st, read_account, out);
    if (err == PM_ENOENT)
        set_msg(cat, err, "no account %s", code ? code : "(null)");
    return err;
}

int pm_account_list(pm_catalog_t *cat, pm_account_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return collect(cat, cat->st[ST_ACCOUNT_LIST], sizeof(pm_account_t),
                   read_account, account_cleanup_v, (void **)out, n);
}

void pm_account_list_free(pm_account_t *v, size_t n)
{
    free_items(v, n, sizeof(*v), account_cleanup_v);
}

/* ---- work orders ---- */

void pm_workorder_cleanup(pm_workorder_t *w)
{
    if (w == NULL)
        return;
    pm_free(w->number);
    pm_free(w->account);
    pm_free(w->fee_code);
    pm_free(w->status);
    pm_free(w->notes);
    memset(w, 0, sizeof(*w));
}

static void workorder_cleanup_v(void *item)
{
    pm_workorder_cleanup(item);
}

static int read_workorder(sqlite3_stmt *st, void *item)
{
    pm_workorder_t *w = item;

    memset(w, 0, sizeof(*w));
    w->id = sqlite3_column_int64(st, 0);
    w->created_at = sqlite3_column_int64(st, 6);
    w->closed_at = sqlite3_column_int64(st, 7);
    if (col_str(st, 1, &w->number) || col_str(st, 2, &w->account) ||
        col_str(st, 3, &w->fee_code) || col_str(st, 4, &w->status) ||
        col_str(st, 5, &w->notes)) {
        pm_workorder_cleanup(w);
        return PM_ENOMEM;
    }
    return 0;
}

/* PM_ENOENT (with the message) unless fee code `code` has a price. */
static int fee_exists(pm_catalog_t *cat, const char *code)
{
    sqlite3_stmt *st = cat->st[ST_FEE_COUNT];
    int64_t count = 0;
    int err;

    if (bind_text(st, 1, code))
        return bind_fail(cat, st);
    err = query_int64(cat, st, &count);
    if (err == 0 && count == 0)
        err = set_msg(cat, PM_ENOENT, "no fee code %s", code);
    return err;
}

int pm_workorder_add(pm_catalog_t *cat, const pm_workorder_t *w,
                     const char *actor, int64_t *id)
{
    sqlite3_stmt *st = cat->st[ST_WO_ADD];
    int64_t now = wall_clock(), new_id = 0;
    int changes = 0, err;

    *id = 0;
    if (w->number == NULL || w->account == NULL || actor == NULL)
        return set_msg(cat, PM_EINVAL,
                       "a work order needs a number and an account");
    if (ident_refused(cat, PM_IDENT_WORKORDER, w->number))
        return PM_EINVAL;
    err = tx_begin(cat);
    if (err != 0)
        return err;
    if (w->fee_code != NULL)
        err = fee_exists(cat, w->fee_code);
    if (err != 0)
        ;
    else if (bind_text(st, 1, w->number) || bind_text(st, 2, w->account) ||
             bind_text(st, 3, w->fee_code) || bind_text(st, 4, w->notes) ||
             sqlite3_bind_int64(st, 5, now))
        err = bind_fail(cat, st);
    else
        err = run_changes(cat, st, &changes);
    if (err == -EEXIST)
        set_msg(cat, err, "work order %s already exists", w->number);
    if (err == 0 && changes == 0)
        err = set_msg(cat, PM_ENOENT, "no account %s", w->account);
    new_id = sqlite3_last_insert_rowid(cat->db);
    if (err == 0)
        err = event_insert(cat, now, actor, "workorder.added", 0, 0, w->number);
    err = tx_end(cat, err);
    if (err == 0)
        *id = new_id;
    return err;
}

int pm_workorder_get(pm_catalog_t *cat, const char *number, pm_workorder_t *out)
{
    sqlite3_stmt *st = cat->st[ST_WO_GET];
    int err;

    memset(out, 0, sizeof(*out));
    if (bind_text(st, 1, number))
        return bind_fail(cat, st);
    err = get_one(cat, st, read_workorder, out);
    if (err == PM_ENOENT)
        set_msg(cat, err, "no work order %s", number ? number : "(null)");
    return err;
}

int pm_workorder_list(pm_catalog_t *cat, const char *account,
                      pm_workorder_t **out, size_t *n)
{
    sqlite3_stmt *st = cat->st[ST_WO_LIST];

    *out = NULL;
    *n = 0;
    if (bind_text(st, 1, account))
        return bind_fail(cat, st);
    return collect(cat, st, sizeof(pm_workorder_t), read_workorder,
                   workorder_cleanup_v, (void **)out, n);
}

void pm_workorder_list_free(pm_workorder_t *v, size_t n)
{
    free_items(v, n, sizeof(*v), workorder_cleanup_v);
}

/* Why a work order could not be closed: missing, or closed already. */
static int workorder_not_open(pm_catalog_t *cat, const char *number)
{
    sqlite3_stmt *st = cat->st[ST_WO_STATUS];
    int err;

    if (bind_text(st, 1, number))
        return bind_fail(cat, st);
    err = first_row(cat, st);
    if (err < 0)
        return err;
    if (err == 0)
        return set_msg(cat, PM_ENOENT, "no work order %s", number);
    stmt_done(st);
    return set_msg(cat, PM_EINVAL, "work order %s is already closed", number);
}

int pm_workorder_close(pm_catalog_t *cat, const char *number, const char *actor)
{
    sqlite3_stmt *st = cat->st[ST_WO_CLOSE];
    int64_t now = wall_clock();
    int changes = 0, err;

    if (number == NULL || actor == NULL)
        return set_msg(cat, PM_EINVAL, "closing needs a number and an actor");
    err = tx_begin(cat);
    if (err != 0)
        return err;
    if (bind_text(st, 1, number) || sqlite3_bind_int64(st, 2, now))
        err = bind_fail(cat, st);
    else
        err = run_changes(cat, st, &changes);
    if (err == 0 && changes == 0)
        err = workorder_not_open(cat, number);
    if (err == 0)
        err = event_insert(cat, now, actor, "workorder.closed", 0, 0, number);
    return tx_end(cat, err);
}

/* ---- jobs ---- */

void pm_job_cleanup(pm_job_t *j)
{
    if (j == NULL)
        return;
    pm_free(j->workorder);
    pm_free(j->account);
    pm_free(j->hotfolder);
    pm_free(j->profile);
    pm_free(j->batch);
    pm_free(j->operator_name);
    pm_free(j->notes);
    pm_free(j->source_path);
    pm_free(j->output_path);
    pm_free(j->hold_reason);
    pm_free(j->error);
    memset(j, 0, sizeof(*j));
}

static void job_cleanup_v(void *item)
{
    pm_job_cleanup(item);
}

/* Reads a row of JOB_COLS. */
static int read_job(sqlite3_stmt *st, void *item)
{
    pm_job_t *j = item;
    char **strs[] = {&j->workorder,   &j->account,     &j->hotfolder,
                     &j->profile,     &j->batch,       &j->operator_name,
                     &j->notes,       &j->source_path, &j->output_path,
                     &j->hold_reason, &j->error};
    size_t i;
    int state;

    memset(j, 0, sizeof(*j));
    state = pm_job_state_parse((const char *)sqlite3_column_text(st, 12));
    if (state < 0)
        return PM_ECATALOG;
    j->id = sqlite3_column_int64(st, 0);
    j->state = (pm_job_state_t)state;
    j->pages = sqlite3_column_int(st, 13);
    j->pages_done = sqlite3_column_int(st, 14);
    j->pages_failed = sqlite3_column_int(st, 15);
    j->pages_blank = sqlite3_column_int(st, 16);
    j->duplicate_of = sqlite3_column_int64(st, 17);
    j->created_at = sqlite3_column_int64(st, 18);
    j->updated_at = sqlite3_column_int64(st, 19);
    j->finished_at = sqlite3_column_int64(st, 20);
    j->bill_blank = sqlite3_column_int(st, 21);
    col_name(st, 22, j->billing_month, sizeof(j->billing_month));
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (col_str(st, 1 + (int)i, strs[i]) != 0) {
            pm_job_cleanup(j);
            return PM_ENOMEM;
        }
    }
    return 0;
}

/* Copies a SHA-256 in hex to out[65], lower-cased; -1 if it is not one. */
static int normalize_sha256(const char *in, char out[65])
{
    int i;

    for (i = 0; in != NULL && i < 64 && isxdigit((unsigned char)in[i]); i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
    return i == 64 && in[64] == '\0' ? 0 : -1;
}

static int check_pages(pm_catalog_t *cat, const pm_page_input_t *pages,
                       size_t npages)
{
    char sha[65];
    size_t i;

    if (npages == 0 || npages > INT_MAX)
        return set_msg(cat, PM_EINVAL, "a job needs 1 to %d pages", INT_MAX);
    for (i = 0; i < npages; i++) {
        if (pages[i].src == NULL || pages[i].frame < 0)
            return set_msg(cat, PM_EINVAL, "page %zu has no source file",
                           i + 1);
        if (normalize_sha256(pages[i].sha256, sha) != 0)
            return set_msg(cat, PM_EINVAL,
                           "page %zu: the checksum is not 64 hex digits",
                           i + 1);
    }
    return 0;
}

static int insert_job(pm_catalog_t *cat, const pm_job_t *j, size_t npages,
                      int64_t now, int64_t *id)
{
    sqlite3_stmt *st = cat->st[ST_JOB_ADD];
    int err;

    if (bind_text(st, 1, j->workorder) || bind_text(st, 2, j->account) ||
        bind_text(st, 3, j->hotfolder) || bind_text(st, 4, j->profile) ||
        bind_text(st, 5, j->batch) || bind_text(st, 6, j->operator_name) ||
        bind_text(st, 7, j->notes) || bind_text(st, 8, j->source_path) ||
        bind_text(st, 9, j->hold_reason) ||
        bind_text(st, 10, j->hold_reason ? "held" : "queued") ||
        sqlite3_bind_int64(st, 11, (sqlite3_int64)npages) ||
        sqlite3_bind_int64(st, 12, j->duplicate_of) ||
        sqlite3_bind_int64(st, 13, now) ||
        sqlite3_bind_int(st, 14, j->bill_blank != 0))
        return bind_fail(cat, st);
    err = run(cat, st);
    if (err == PM_ENOENT)
        set_msg(cat, err, "duplicate_of: no job %lld",
                (long long)j->duplicate_of);
    *id = sqlite3_last_insert_rowid(cat->db);
    return err;
}

static int insert_tasks(pm_catalog_t *cat, int64_t job,
                        const pm_page_input_t *pages, size_t npages)
{
    sqlite3_stmt *st = cat->st[ST_TASK_ADD];
    char sha[65];
    size_t i;
    int err = 0;

    for (i = 0; err == 0 && i < npages; i++) {
        normalize_sha256(pages[i].sha256, sha); /* checked already */
        if (sqlite3_bind_int64(st, 1, job) ||
            sqlite3_bind_int(st, 2, (int)i + 1) ||
            bind_text(st, 3, pages[i].src) ||
            sqlite3_bind_int(st, 4, pages[i].frame) || bind_text(st, 5, sha))
            err = bind_fail(cat, st);
        else
            err = run(cat, st);
    }
    return err;
}

int pm_job_create(pm_catalog_t *cat, const pm_job_t *j,
                  const pm_page_input_t *pages, size_t npages,
                  const char *actor, int64_t *id)
{
    int64_t now = wall_clock(), job = 0;
    char *detail;
    int err;

    *id = 0;
    if (j->workorder == NULL || actor == NULL)
        return set_msg(cat, PM_EINVAL, "a job needs a work order and actor");
    err = check_pages(cat, pages, npages);
    if (err != 0)
        return err;
    detail = j->hold_reason
                 ? pm_asprintf("%zu pages, held: %s", npages, j->hold_reason)
                 : pm_asprintf("%zu pages", npages);
    if (detail == NULL)
        return nomem(cat);
    err = tx_begin(cat);
    if (err == 0) {
        err = insert_job(cat, j, npages, now, &job);
        if (err == 0)
            err = insert_tasks(cat, job, pages, npages);
        if (err == 0)
            err = event_insert(cat, now, actor, "job.created", job, 0, detail);
        err = tx_end(cat, err);
    }
    pm_free(detail);
    if (err == 0)
        *id = job;
    return err;
}

int pm_job_find_duplicate(pm_catalog_t *cat, const pm_page_input_t *pages,
                          size_t npages, int64_t *job)
{
    sqlite3_stmt *st = cat->st[ST_JOB_FIND_DUP];
    char sha[65], prev[65] = "";
    int64_t best = 0, found = 0;
    size_t i;
    int err;

    *job = 0;
    for (i = 0; i < npages; i++)
        if (normalize_sha256(pages[i].sha256, sha) != 0)
            return set_msg(cat, PM_EINVAL,
                           "page %zu: the checksum is not 64 hex digits",
                           i + 1);
    err = tx_begin_read(cat);
    for (i = 0; err == 0 && i < npages; i++) {
        normalize_sha256(pages[i].sha256, sha);
        if (strcmp(sha, prev) == 0) /* frames of one file */
            continue;
        memcpy(prev, sha, sizeof(prev));
        if (bind_text(st, 1, sha))
            err = bind_fail(cat, st);
        else
            err = query_int64(cat, st, &found);
        if (err == 0 && found != 0 && (best == 0 || found < best))
            best = found;
    }
    err = tx_end(cat, err);
    if (err == 0)
        *job = best;
    return err;
}

int pm_job_by_source(pm_catalog_t *cat, const char *source_path, int64_t *job)
{
    sqlite3_stmt *st = cat->st[ST_JOB_BY_SOURCE];

    *job = 0;
    if (bind_text(st, 1, source_path))
        return bind_fail(cat, st);
    return query_int64(cat, st, job);
}

int pm_job_get(pm_catalog_t *cat, int64_t id, pm_job_t *out)
{
    sqlite3_stmt *st = cat->st[ST_JOB_GET];
    int err;

    memset(out, 0, sizeof(*out));
    if (sqlite3_bind_int64(st, 1, id))
        return bind_fail(cat, st);
    err = get_one(cat, st, read_job, out);
    if (err == PM_ENOENT)
        set_msg(cat, err, "no job %lld", (long long)id);
    return err;
}

int pm_job_list(pm_catalog_t *cat, int state, const char *workorder,
                size_t limit, pm_job_t **out, size_t *n)
{
    sqlite3_stmt *st = cat->st[ST_JOB_LIST];

    *out = NULL;
    *n = 0;
    if (state < -1 || state >= NJOB_STATES)
        return set_msg(cat, PM_EINVAL, "no job state %d", state);
    if (bind_text(st, 1, state < 0 ? NULL : job_states[state]) ||
        bind_text(st, 2, workorder) || bind_limit(st, 3, limit))
        return bind_fail(cat, st);
    return collect(cat, st, sizeof(pm_job_t), read_job, job_cleanup_v,
                   (void **)out, n);
}

void pm_job_list_free(pm_job_t *v, size_t n)
{
    free_items(v, n, sizeof(*v), job_cleanup_v);
}

#define STATE_BIT(s) (1u << (s))

/* Inside a transaction: PM_ENOENT if job `id` does not exist, PM_EINVAL
 * (with `rule` in the message) if its state is not in `allowed`. */
static int job_expect(pm_catalog_t *cat, int64_t id, unsigned allowed,
                      const char *rule, int *state)
{
    sqlite3_stmt *st = cat->st[ST_JOB_STATE];
    char name[32];
    int err;

    *state = -1;
    if (sqlite3_bind_int64(st, 1, id))
        return bind_fail(cat, st);
    err = first_row(cat, st);
    if (err <= 0)
        return err == 0 ? set_msg(cat, PM_ENOENT, "no job %lld", (long long)id)
                        : err;
    col_name(st, 0, name, sizeof(name));
    stmt_done(st);
    *state = pm_job_state_parse(name);
    if (*state < 0 || !(allowed & STATE_BIT(*state)))
        return set_msg(cat, PM_EINVAL, "job %lld is %s: %s", (long long)id,
                       name, rule);
    return 0;
}

static int job_set_state(pm_catalog_t *cat, int64_t id, pm_job_state_t s,
                         int64_t now)
{
    sqlite3_stmt *st = cat->st[ST_JOB_SET_STATE];

    if (sqlite3_bind_int64(st, 1, id) ||
        bind_text(st, 2, pm_job_state_name(s)) ||
        sqlite3_bind_int64(st, 3, now))
        return bind_fail(cat, st);
    return run(cat, st);
}

static int job_requeue(pm_catalog_t *cat, int64_t id, int64_t now)
{
    sqlite3_stmt *st = cat->st[ST_JOB_REQUEUE];

    if (sqlite3_bind_int64(st, 1, id) || sqlite3_bind_int64(st, 2, now))
        return bind_fail(cat, st);
    return run(cat, st);
}

static int job_set_failed(pm_catalog_t *cat, int64_t id, const char *why,
                          int64_t now)
{
    sqlite3_stmt *st = cat->st[ST_JOB_SET_FAILED];

    if (sqlite3_bind_int64(st, 1, id) || bind_text(st, 2, why) ||
        sqlite3_bind_int64(st, 3, now))
        return bind_fail(cat, st);
    return run(cat, st);
}

/* Runs a per-job statement (?1 = job) and stores the rows changed. */
static int run_for_job(pm_catalog_t *cat, int which, int64_t job, int *changes)
{
    sqlite3_stmt *st = cat->st[which];

    if (sqlite3_bind_int64(st, 1, job))
        return bind_fail(cat, st);
    return run_changes(cat, st, changes);
}

int pm_job_release(pm_catalog_t *cat, int64_t id, const char *actor)
{
    int64_t now = wall_clock();
    int state, err;

    if (actor == NULL)
        return set_msg(cat, PM_EINVAL, "release needs an actor");
    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = job_expect(cat, id, STATE_BIT(PM_JOB_HELD),
                     "only a held job can be released", &state);
    if (err == 0)
        err = job_requeue(cat, id, now);
    if (err == 0)
        err = event_insert(cat, now, actor, "job.released", id, 0, NULL);
    return tx_end(cat, err);
}

int pm_job_retry(pm_catalog_t *cat, int64_t id, const char *actor)
{
    int64_t now = wall_clock();
    int state, pages = 0, err;
    char detail[64];

    if (actor == NULL)
        return set_msg(cat, PM_EINVAL, "retry needs an actor");
    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = job_expect(cat, id, STATE_BIT(PM_JOB_FAILED),
                     "only a failed job can be retried", &state);
    if (err == 0)
        err = run_for_job(cat, ST_TASKS_RETRY, id, &pages);
    if (err == 0)
        err = job_requeue(cat, id, now);
    snprintf(detail, sizeof(detail), "%d failed pages queued again", pages);
    if (err == 0)
        err = event_insert(cat, now, actor, "job.retried", id, 0, detail);
    return tx_end(cat, err);
}

static int cancel_credit(pm_catalog_t *cat, int64_t job, const char *reason,
                         const char *actor, int64_t now);

int pm_job_cancel(pm_catalog_t *cat, int64_t id, const char *actor,
                  const char *reason)
{
    unsigned allowed = ~STATE_BIT(PM_JOB_CANCELLED);
    int64_t now = wall_clock();
    int state, changes, err;

    if (actor == NULL)
        return set_msg(cat, PM_EINVAL, "cancel needs an actor");
    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = job_expect(cat, id, allowed, "a job is cancelled only once", &state);
    /* A done job billed in a closed month is credited in an open one. */
    if (err == 0 && state == PM_JOB_DONE)
        err = cancel_credit(cat, id, reason, actor, now);
    /* Running pages lose their lease: their results will be refused. */
    if (err == 0)
        err = run_for_job(cat, ST_TASKS_UNLEASE, id, &changes);
    if (err == 0)
        err = job_set_state(cat, id, PM_JOB_CANCELLED, now);
    if (err == 0)
        err = event_insert(cat, now, actor, "job.cancelled", id, 0, reason);
    return tx_end(cat, err);
}

/* ---- page tasks ---- */

void pm_task_cleanup(pm_task_t *t)
{
    if (t == NULL)
        return;
    pm_free(t->src);
    pm_free(t->sha256);
    pm_free(t->lease_owner);
    pm_free(t->error);
    pm_free(t->kind);
    pm_free(t->codec);
    pm_free(t->image);
    pm_free(t->text_pdf);
    pm_free(t->text);
    memset(t, 0, sizeof(*t));
}

static void task_cleanup_v(void *item)
{
    pm_task_cleanup(item);
}

static void read_metrics(sqlite3_stmt *st, pm_page_metrics_t *m)
{
    m->width = sqlite3_column_int(st, 11);
    m->height = sqlite3_column_int(st, 12);
    m->xres = sqlite3_column_int(st, 13);
    m->yres = sqlite3_column_int(st, 14);
    m->rotation = sqlite3_column_int(st, 15);
    m->orient_confidence = sqlite3_column_double(st, 16);
    m->skew = sqlite3_column_double(st, 17);
    m->skew_confidence = sqlite3_column_double(st, 18);
    m->blank = sqlite3_column_int(st, 19);
    m->ink_ratio = sqlite3_column_double(st, 20);
    m->words = sqlite3_column_int(st, 21);
    m->confidence = sqlite3_column_double(st, 22);
    m->bytes = sqlite3_column_int64(st, 25);
    m->ms_decode = sqlite3_column_double(st, 26);
    m->ms_orient = sqlite3_column_double(st, 27);
    m->ms_deskew = sqlite3_column_double(st, 28);
    m->ms_blank = sqlite3_column_double(st, 29);
    m->ms_ocr = sqlite3_column_double(st, 30);
    m->ms_encode = sqlite3_column_double(st, 31);
    m->ms_total = sqlite3_column_double(st, 32);
    m->orient_osd = sqlite3_column_int(st, 37);
    m->dpi_fallback = sqlite3_column_int(st, 38);
}

/* Reads a row of TASK_COLS; t->m's strings point at t's own copies. */
static int read_task(sqlite3_stmt *st, void *item)
{
    pm_task_t *t = item;
    struct {
        int col;
        char **dst;
    } strs[] = {{3, &t->src},    {5, &t->sha256},    {8, &t->lease_owner},
                {10, &t->error}, {23, &t->kind},     {24, &t->codec},
                {33, &t->image}, {34, &t->text_pdf}, {35, &t->text}};
    size_t i;
    int state;

    memset(t, 0, sizeof(*t));
    state = task_state_parse((const char *)sqlite3_column_text(st, 6));
    if (state < 0)
        return PM_ECATALOG;
    t->id = sqlite3_column_int64(st, 0);
    t->job = sqlite3_column_int64(st, 1);
    t->page = sqlite3_column_int(st, 2);
    t->frame = sqlite3_column_int(st, 4);
    t->state = (pm_task_state_t)state;
    t->attempts = sqlite3_column_int(st, 7);
    t->lease_until = sqlite3_column_int64(st, 9);
    t->finished_at = sqlite3_column_int64(st, 36);
    read_metrics(st, &t->m);
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (col_str(st, strs[i].col, strs[i].dst) != 0) {
            pm_task_cleanup(t);
            return PM_ENOMEM;
        }
    }
    t->m.kind = t->kind;
    t->m.codec = t->codec;
    t->m.image = t->image;
    t->m.text_pdf = t->text_pdf;
    t->m.text = t->text;
    return 0;
}

static int task_get(pm_catalog_t *cat, int64_t id, pm_task_t *out)
{
    sqlite3_stmt *st = cat->st[ST_TASK_GET];
    int err;

    if (sqlite3_bind_int64(st, 1, id))
        return bind_fail(cat, st);
    err = get_one(cat, st, read_task, out);
    if (err == PM_ENOENT)
        set_msg(cat, err, "no page task %lld", (long long)id);
    return err;
}

/* Picks the next claimable (job, page) in fair order, or PM_ENOENT. */
static int claim_pick(pm_catalog_t *cat, int64_t now, int64_t *job, int *page)
{
    sqlite3_stmt *st = cat->st[ST_CLAIM_PICK];
    int err;

    if (sqlite3_bind_int64(st, 1, now))
        return bind_fail(cat, st);
    err = first_row(cat, st);
    if (err <= 0)
        return err == 0 ? set_msg(cat, PM_ENOENT, "no page task to claim")
                        : err;
    *job = sqlite3_column_int64(st, 0);
    *page = sqlite3_column_int(st, 1);
    stmt_done(st);
    return 0;
}

/* Gives (job, page) to `owner`; a lapsed lease taken over is an event. */
static int claim_take(pm_catalog_t *cat, const char *owner, int64_t job,
                      int page, int64_t until, int64_t now, int64_t *id)
{
    sqlite3_stmt *st = cat->st[ST_CLAIM_PREV];
    char state[16];
    int err;

    if (sqlite3_bind_int64(st, 1, job) || sqlite3_bind_int(st, 2, page))
        return bind_fail(cat, st);
    err = first_row(cat, st);
    if (err <= 0)
        return err == 0 ? set_msg(cat, PM_ECATALOG, "claimed task vanished")
                        : err;
    *id = sqlite3_column_int64(st, 0);
    col_name(st, 1, state, sizeof(state));
    stmt_done(st);
    if (strcmp(state, "running") == 0) {
        st = cat->st[ST_CLAIM_EVENT];
        if (sqlite3_bind_int64(st, 1, *id) || sqlite3_bind_int64(st, 2, now) ||
            bind_text(st, 3, owner))
            return bind_fail(cat, st);
        err = run(cat, st);
        if (err != 0)
            return err;
    }
    st = cat->st[ST_CLAIM_TAKE];
    if (sqlite3_bind_int64(st, 1, *id) || bind_text(st, 2, owner) ||
        sqlite3_bind_int64(st, 3, until))
        return bind_fail(cat, st);
    return run(cat, st);
}

/* Moves a queued job to running on its first claim. */
static int job_start(pm_catalog_t *cat, int64_t job, const char *owner,
                     int64_t now)
{
    sqlite3_stmt *st = cat->st[ST_JOB_START];
    int changes, err;

    if (sqlite3_bind_int64(st, 1, job) || sqlite3_bind_int64(st, 2, now))
        return bind_fail(cat, st);
    err = run_changes(cat, st, &changes);
    if (err == 0 && changes > 0)
        err = event_insert(cat, now, owner, "job.started", job, 0, NULL);
    return err;
}

int pm_task_claim(pm_catalog_t *cat, const char *owner, int lease_s,
                  int64_t now, pm_task_t *out)
{
    int64_t job = 0, id = 0;
    int page = 0, err;

    memset(out, 0, sizeof(*out));
    if (owner == NULL || lease_s <= 0)
        return set_msg(cat, PM_EINVAL, "a claim needs an owner and a lease");
    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = claim_pick(cat, now, &job, &page);
    if (err == 0)
        err = claim_take(cat, owner, job, page, now + lease_s, now, &id);
    if (err == 0)
        err = job_start(cat, job, owner, now);
    if (err == 0)
        err = task_get(cat, id, out);
    err = tx_end(cat, err);
    if (err != 0)
        pm_task_cleanup(out);
    return err;
}

/* What the fence read about a task. */
typedef struct {
    int64_t job;
    int page, attempts, base;
} fence_t;

/* Inside a transaction: 0 when task `id` is running under `attempt` in a
 * running job, -ESTALE when it is not ours any more, PM_ENOENT if there
 * is no such task. */
static int task_fence(pm_catalog_t *cat, int64_t id, int attempt, fence_t *f)
{
    sqlite3_stmt *st = cat->st[ST_TASK_FENCE];
    char state[16], job_state[16];
    int err;

    if (sqlite3_bind_int64(st, 1, id))
        return bind_fail(cat, st);
    err = first_row(cat, st);
    if (err <= 0)
        return err == 0
                   ? set_msg(cat, PM_ENOENT, "no page task %lld", (long long)id)
                   : err;
    f->job = sqlite3_column_int64(st, 0);
    f->page = sqlite3_column_int(st, 1);
    col_name(st, 2, state, sizeof(state));
    f->attempts = sqlite3_column_int(st, 3);
    f->base = sqlite3_column_int(st, 4);
    col_name(st, 5, job_state, sizeof(job_state));
    stmt_done(st);
    if (strcmp(state, "running") != 0 || f->attempts != attempt)
        return set_msg(cat, -ESTALE,
                       "job %lld page %d: attempt %d is stale (the page is "
                       "%s at attempt %d)",
                       (long long)f->job, f->page, attempt, state, f->attempts);
    if (strcmp(job_state, "running") != 0)
        return set_msg(cat, -ESTALE, "job %lld page %d: the job is %s",
                       (long long)f->job, f->page, job_state);
    return 0;
}

int pm_task_renew(pm_catalog_t *cat, int64_t id, int attempt, int lease_s,
                  int64_t now)
{
    sqlite3_stmt *st = cat->st[ST_TASK_RENEW];
    fence_t f;
    int err;

    if (lease_s <= 0)
        return set_msg(cat, PM_EINVAL, "a lease must be positive");
    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = task_fence(cat, id, attempt, &f);
    if (err == 0) {
        if (sqlite3_bind_int64(st, 1, id) ||
            sqlite3_bind_int64(st, 2, now + lease_s))
            err = bind_fail(cat, st);
        else
            err = run(cat, st);
    }
    return tx_end(cat, err);
}

static int bind_metrics(sqlite3_stmt *st, const pm_page_metrics_t *m)
{
    return sqlite3_bind_int(st, 2, m->width) ||
           sqlite3_bind_int(st, 3, m->height) ||
           sqlite3_bind_int(st, 4, m->xres) ||
           sqlite3_bind_int(st, 5, m->yres) ||
           sqlite3_bind_int(st, 6, m->rotation) ||
           sqlite3_bind_double(st, 7, m->orient_confidence) ||
           sqlite3_bind_double(st, 8, m->skew) ||
           sqlite3_bind_double(st, 9, m->skew_confidence) ||
           sqlite3_bind_int(st, 10, m->blank != 0) ||
           sqlite3_bind_double(st, 11, m->ink_ratio) ||
           sqlite3_bind_int(st, 12, m->words) ||
           sqlite3_bind_double(st, 13, m->confidence) ||
           bind_text(st, 14, m->kind) || bind_text(st, 15, m->codec) ||
           sqlite3_bind_int64(st, 16, m->bytes) ||
           sqlite3_bind_double(st, 17, m->ms_decode) ||
           sqlite3_bind_double(st, 18, m->ms_orient) ||
           sqlite3_bind_double(st, 19, m->ms_deskew) ||
           sqlite3_bind_double(st, 20, m->ms_blank) ||
           sqlite3_bind_double(st, 21, m->ms_ocr) ||
           sqlite3_bind_double(st, 22, m->ms_encode) ||
           sqlite3_bind_double(st, 23, m->ms_total) ||
           bind_text(st, 24, m->image) || bind_text(st, 25, m->text_pdf) ||
           bind_text(st, 26, m->text);
}

static int task_done(pm_catalog_t *cat, int64_t id, const pm_page_metrics_t *m,
                     int64_t now)
{
    sqlite3_stmt *st = cat->st[ST_TASK_DONE];

    if (sqlite3_bind_int64(st, 1, id) || bind_metrics(st, m) ||
        sqlite3_bind_int64(st, 27, now) ||
        sqlite3_bind_int(st, 28, m->orient_osd != 0) ||
        sqlite3_bind_int(st, 29, m->dpi_fallback != 0))
        return bind_fail(cat, st);
    return run(cat, st);
}

static int billable_add(pm_catalog_t *cat, int64_t id, int blank, int64_t now)
{
    sqlite3_stmt *st = cat->st[ST_BILLABLE_ADD];

    if (sqlite3_bind_int64(st, 1, id) || sqlite3_bind_int(st, 2, blank) ||
        sqlite3_bind_int64(st, 3, now))
        return bind_fail(cat, st);
    return run(cat, st);
}

int pm_task_complete(pm_catalog_t *cat, int64_t id, int attempt,
                     const pm_page_metrics_t *m, int64_t now)
{
    fence_t f;
    int err;

    if (m == NULL)
        return set_msg(cat, PM_EINVAL, "a completed page needs metrics");
    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = task_fence(cat, id, attempt, &f);
    if (err == 0)
        err = task_done(cat, id, m, now);
    if (err == 0)
        err = billable_add(cat, id, m->blank != 0, now);
    if (err == -EEXIST)
        set_msg(cat, err, "job %lld page %d is billed already",
                (long long)f.job, f.page);
    return tx_end(cat, err);
}

/* Records a failed attempt: an event, then queued or failed. */
static int task_give_up(pm_catalog_t *cat, int64_t id, int final,
                        const char *why, int64_t now)
{
    sqlite3_stmt *st = cat->st[ST_TASK_FAIL_EVENT];
    int err;

    if (sqlite3_bind_int64(st, 1, id) || sqlite3_bind_int64(st, 2, now) ||
        bind_text(st, 3, final ? "page.failed" : "page.requeued") ||
        bind_text(st, 4, why))
        return bind_fail(cat, st);
    err = run(cat, st);
    if (err != 0)
        return err;
    st = cat->st[ST_TASK_SET_STATE];
    if (sqlite3_bind_int64(st, 1, id) ||
        bind_text(st, 2, final ? "failed" : "queued") || bind_text(st, 3, why))
        return bind_fail(cat, st);
    return run(cat, st);
}

int pm_task_fail(pm_catalog_t *cat, int64_t id, int attempt, const char *why,
                 int max_attempts, int64_t now)
{
    fence_t f;
    int err;

    if (max_attempts < 1)
        return set_msg(cat, PM_EINVAL, "max_attempts must be at least 1");
    if (why == NULL)
        why = "unknown error";
    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = task_fence(cat, id, attempt, &f);
    if (err == 0)
        err = task_give_up(cat, id, f.attempts - f.base >= max_attempts, why,
                           now);
    return tx_end(cat, err);
}

int pm_task_requeue_expired(pm_catalog_t *cat, int64_t now, int max_attempts,
                            int *n)
{
    sqlite3_stmt *st;
    int i, err;

    *n = 0;
    if (max_attempts < 1)
        return set_msg(cat, PM_EINVAL, "max_attempts must be at least 1");
    err = tx_begin(cat);
    if (err != 0)
        return err;
    for (i = ST_EXPIRED_EVENTS; err == 0 && i <= ST_EXPIRED_REQUEUE; i++) {
        st = cat->st[i];
        if (sqlite3_bind_int64(st, 1, now) ||
            sqlite3_bind_int(st, 2, max_attempts))
            err = bind_fail(cat, st);
        else
            err = run_changes(cat, st, n);
    }
    err = tx_end(cat, err);
    if (err != 0)
        *n = 0;
    return err;
}

int pm_task_requeue_all_running(pm_catalog_t *cat, const char *actor,
                                int64_t now, int *n)
{
    sqlite3_stmt *st = cat->st[ST_ORPHAN_EVENTS];
    int err;

    *n = 0;
    if (actor == NULL)
        return set_msg(cat, PM_EINVAL, "requeue needs an actor");
    err = tx_begin(cat);
    if (err != 0)
        return err;
    if (sqlite3_bind_int64(st, 1, now) || bind_text(st, 2, actor))
        err = bind_fail(cat, st);
    else
        err = run(cat, st);
    if (err == 0)
        err = run_changes(cat, cat->st[ST_ORPHAN_REQUEUE], n);
    err = tx_end(cat, err);
    if (err != 0)
        *n = 0;
    return err;
}

int pm_task_list(pm_catalog_t *cat, int64_t job, pm_task_t **out, size_t *n)
{
    sqlite3_stmt *st = cat->st[ST_TASK_LIST];

    *out = NULL;
    *n = 0;
    if (sqlite3_bind_int64(st, 1, job))
        return bind_fail(cat, st);
    return collect(cat, st, sizeof(pm_task_t), read_task, task_cleanup_v,
                   (void **)out, n);
}

void pm_task_list_free(pm_task_t *v, size_t n)
{
    free_items(v, n, sizeof(*v), task_cleanup_v);
}

/* ---- finishing jobs ---- */

/* The last path component, for naming a page's file to a person. */
static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;

    return slash ? slash + 1 : path ? path : "?";
}

/* Writes into *text (new string, NULL when none failed) what failed on
 * each failed page of `job`: "page 3 (scan_0003.tif frame 1): why". */
static int failed_pages_text(pm_catalog_t *cat, int64_t job, char **text)
{
    sqlite3_stmt *st = cat->st[ST_TASKS_FAILED];
    pm__buf_t b = {0};
    const char *err_text;
    int rc, count = 0, err = 0;

    *text = NULL;
    if (sqlite3_bind_int64(st, 1, job))
        return bind_fail(cat, st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (++count > MAX_FAILED_PAGES_NAMED)
            continue;
        err_text = (const char *)sqlite3_column_text(st, 3);
        /* frames are 0-based in the catalog, 1-based for people */
        pm__buf_printf(&b, "%spage %d (%s frame %d): %s", b.len ? "; " : "",
                       sqlite3_column_int(st, 0),
                       base_name((const char *)sqlite3_column_text(st, 1)),
                       sqlite3_column_int(st, 2) + 1,
                       err_text ? err_text : "failed");
    }
    if (rc != SQLITE_DONE)
        err = db_fail(cat);
    stmt_done(st);
    if (err == 0 && count > MAX_FAILED_PAGES_NAMED)
        pm__buf_printf(&b, "; and %d more failed pages",
                       count - MAX_FAILED_PAGES_NAMED);
    if (err == 0 && b.oom)
        err = nomem(cat);
    if (err != 0) {
        pm_free(b.s);
        return err;
    }
    *text = b.s;
    return 0;
}

/* A job with nothing left to run: failed if a page failed, else on to
 * assembly. */
static int job_settle(pm_catalog_t *cat, int64_t job, int64_t now)
{
    char *failed = NULL;
    int err;

    err = failed_pages_text(cat, job, &failed);
    if (err != 0)
        return err;
    if (failed != NULL) {
        err = job_set_failed(cat, job, failed, now);
        if (err == 0)
            err =
                event_insert(cat, now, "catalog", "job.failed", job, 0, failed);
    } else {
        err = job_set_state(cat, job, PM_JOB_ASSEMBLING, now);
        if (err == 0)
            err = event_insert(cat, now, "catalog", "job.assembling", job, 0,
                               NULL);
    }
    pm_free(failed);
    return err;
}

int pm_job_collect_finished(pm_catalog_t *cat, int64_t now, int64_t **ids,
                            size_t *n)
{
    int64_t *done = NULL;
    size_t ndone = 0, i;
    int err;

    *ids = NULL;
    *n = 0;
    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = collect(cat, cat->st[ST_JOB_FINISHED], sizeof(int64_t), read_id, NULL,
                  (void **)&done, &ndone);
    for (i = 0; err == 0 && i < ndone; i++)
        err = job_settle(cat, done[i], now);
    pm_free(done);
    if (err == 0)
        err = collect(cat, cat->st[ST_JOB_ASSEMBLING], sizeof(int64_t), read_id,
                      NULL, (void **)ids, n);
    err = tx_end(cat, err);
    if (err != 0) {
        pm_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return err;
}

static int first_open_month(pm_catalog_t *cat, const char *from,
                            char out[PM_MONTH_SIZE]);

int pm_job_finish(pm_catalog_t *cat, int64_t id, const char *output_path,
                  int64_t now)
{
    return pm_job_finish_doc(cat, id, output_path, NULL, -1, now);
}

int pm_job_finish_doc(pm_catalog_t *cat, int64_t id, const char *output_path,
                      const char *pdf_sha256, int pdf_pages, int64_t now)
{
    sqlite3_stmt *st = cat->st[ST_JOB_SET_DONE];
    char month[PM_MONTH_SIZE];
    int state, err;

    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = job_expect(cat, id, STATE_BIT(PM_JOB_ASSEMBLING),
                     "only an assembling job can finish", &state);
    /* Billed in the month it finished, or the first open one after. */
    pm_month_of(now, month);
    if (err == 0)
        err = first_open_month(cat, month, month);
    if (err == 0) {
        if (sqlite3_bind_int64(st, 1, id) || bind_text(st, 2, output_path) ||
            sqlite3_bind_int64(st, 3, now) || bind_text(st, 4, month) ||
            bind_text(st, 5, pdf_sha256) ||
            (pdf_pages >= 0 ? sqlite3_bind_int(st, 6, pdf_pages)
                            : sqlite3_bind_null(st, 6)))
            err = bind_fail(cat, st);
        else
            err = run(cat, st);
    }
    if (err == 0)
        err = event_insert(cat, now, "catalog", "job.done", id, 0, output_path);
    return tx_end(cat, err);
}

int pm_job_fail(pm_catalog_t *cat, int64_t id, const char *why, int64_t now)
{
    int state, err;

    if (why == NULL)
        why = "assembly failed";
    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = job_expect(cat, id, STATE_BIT(PM_JOB_ASSEMBLING),
                     "only an assembling job can fail assembly", &state);
    if (err == 0)
        err = job_set_failed(cat, id, why, now);
    if (err == 0)
        err = event_insert(cat, now, "catalog", "job.failed", id, 0, why);
    return tx_end(cat, err);
}

/* ---- status ---- */

static int status_jobs(pm_catalog_t *cat, pm_status_t *s)
{
    sqlite3_stmt *st = cat->st[ST_STATUS_JOBS];
    int rc, err = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t count = sqlite3_column_int64(st, 1);

        switch (pm_job_state_parse((const char *)sqlite3_column_text(st, 0))) {
        case PM_JOB_QUEUED:
            s->jobs_queued = count;
            break;
        case PM_JOB_RUNNING:
            s->jobs_running = count;
            break;
        case PM_JOB_ASSEMBLING:
            s->jobs_assembling = count;
            break;
        case PM_JOB_HELD:
            s->jobs_held = count;
            break;
        case PM_JOB_FAILED:
            s->jobs_failed = count;
            break;
        case PM_JOB_DONE:
            s->jobs_done = count;
            break;
        default:
            break;
        }
    }
    if (rc != SQLITE_DONE)
        err = db_fail(cat);
    stmt_done(st);
    return err;
}

static int status_pages(pm_catalog_t *cat, pm_status_t *s)
{
    sqlite3_stmt *st = cat->st[ST_STATUS_PAGES];
    int rc, err = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (task_state_parse((const char *)sqlite3_column_text(st, 0)) ==
            PM_TASK_QUEUED)
            s->queued_pages = sqlite3_column_int64(st, 1);
        else
            s->running_pages = sqlite3_column_int64(st, 1);
    }
    if (rc != SQLITE_DONE)
        err = db_fail(cat);
    stmt_done(st);
    return err;
}

static int status_rate(pm_catalog_t *cat, int64_t now, pm_status_t *s)
{
    sqlite3_stmt *st = cat->st[ST_STATUS_RATE];
    int err;

    if (sqlite3_bind_int64(st, 1, now - 3600) ||
        sqlite3_bind_int64(st, 2, now - 300) || sqlite3_bind_int64(st, 3, now))
        return bind_fail(cat, st);
    err = first_row(cat, st);
    if (err <= 0)
        return err;
    s->pages_last_5min = sqlite3_column_int64(st, 0);
    s->pages_last_60min = sqlite3_column_int64(st, 1);
    stmt_done(st);
    return 0;
}

int pm_catalog_status(pm_catalog_t *cat, int64_t now, pm_status_t *out)
{
    int err;

    memset(out, 0, sizeof(*out));
    err = tx_begin_read(cat); /* one snapshot for all the numbers */
    if (err == 0)
        err = status_jobs(cat, out);
    if (err == 0)
        err = status_pages(cat, out);
    if (err == 0)
        err = status_rate(cat, now, out);
    err = tx_end(cat, err);
    if (err != 0)
        memset(out, 0, sizeof(*out));
    return err;
}

/* ---- workers ---- */

static const char *const worker_state_names[] = {"starting", "idle", "busy"};

const char *pm_worker_state_name(pm_worker_state_t s)
{
    if ((unsigned)s >= sizeof(worker_state_names) / sizeof(char *))
        return "?";
    return worker_state_names[s];
}

static pm_worker_state_t worker_state_parse(const char *name)
{
    for (size_t i = 0; name != NULL && i < 3; i++)
        if (strcmp(name, worker_state_names[i]) == 0)
            return (pm_worker_state_t)i;
    return PM_WORKER_STARTING;
}

static int worker_insert(pm_catalog_t *cat, const char *owner,
                         const pm_worker_info_t *w, int64_t now)
{
    sqlite3_stmt *st = cat->st[ST_WORKER_ADD];

    if (bind_text(st, 1, owner) || sqlite3_bind_int(st, 2, w->slot) ||
        sqlite3_bind_int(st, 3, w->pid) ||
        bind_text(st, 4, pm_worker_state_name(w->state)) ||
        sqlite3_bind_int64(st, 5, w->job) || sqlite3_bind_int(st, 6, w->page) ||
        sqlite3_bind_int64(st, 7, w->started_at) ||
        sqlite3_bind_int64(st, 8, now))
        return bind_fail(cat, st);
    return run(cat, st);
}

int pm_worker_report(pm_catalog_t *cat, const char *owner,
                     const pm_worker_info_t *v, size_t n, int64_t now)
{
    sqlite3_stmt *st = cat->st[ST_WORKERS_CLEAR];
    int err;

    if (owner == NULL || (v == NULL && n > 0))
        return set_msg(cat, PM_EINVAL, "worker report without owner or rows");
    err = tx_begin(cat);
    if (err != 0)
        return err;
    if (bind_text(st, 1, owner))
        err = bind_fail(cat, st);
    else
        err = run(cat, st);
    for (size_t i = 0; err == 0 && i < n; i++)
        err = worker_insert(cat, owner, &v[i], now);
    return tx_end(cat, err);
}

static void worker_cleanup_v(void *item)
{
    pm_worker_info_t *w = item;

    pm_free(w->owner);
    memset(w, 0, sizeof(*w));
}

static int read_worker(sqlite3_stmt *st, void *item)
{
    pm_worker_info_t *w = item;

    memset(w, 0, sizeof(*w));
    w->slot = sqlite3_column_int(st, 1);
    w->pid = sqlite3_column_int(st, 2);
    w->state = worker_state_parse((const char *)sqlite3_column_text(st, 3));
    w->job = sqlite3_column_int64(st, 4);
    w->page = sqlite3_column_int(st, 5);
    w->started_at = sqlite3_column_int64(st, 6);
    w->updated_at = sqlite3_column_int64(st, 7);
    return col_str(st, 0, &w->owner);
}

int pm_worker_list(pm_catalog_t *cat, pm_worker_info_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return collect(cat, cat->st[ST_WORKER_LIST], sizeof(pm_worker_info_t),
                   read_worker, worker_cleanup_v, (void **)out, n);
}

void pm_worker_list_free(pm_worker_info_t *v, size_t n)
{
    free_items(v, n, sizeof(*v), worker_cleanup_v);
}

/* ---- billing ---- */

void pm_fee_cleanup(pm_fee_t *f)
{
    if (f == NULL)
        return;
    pm_free(f->code);
    pm_free(f->description);
    memset(f, 0, sizeof(*f));
}

static void fee_cleanup_v(void *item)
{
    pm_fee_cleanup(item);
}

static int read_fee(sqlite3_stmt *st, void *item)
{
    pm_fee_t *f = item;

    memset(f, 0, sizeof(*f));
    f->id = sqlite3_column_int64(st, 0);
    f->unit_price_mc = sqlite3_column_int64(st, 3);
    f->min_charge_mc = sqlite3_column_int64(st, 4);
    f->effective_from = sqlite3_column_int64(st, 5);
    f->created_at = sqlite3_column_int64(st, 6);
    if (col_str(st, 1, &f->code) || col_str(st, 2, &f->description)) {
        pm_fee_cleanup(f);
        return PM_ENOMEM;
    }
    return 0;
}

void pm_fee_list_free(pm_fee_t *v, size_t n)
{
    free_items(v, n, sizeof(*v), fee_cleanup_v);
}

/* The latest closed month into last ("" when none). */
static int last_closed_month(pm_catalog_t *cat, char last[PM_MONTH_SIZE])
{
    sqlite3_stmt *st = cat->st[ST_PERIOD_LAST];
    int err = first_row(cat, st);

    last[0] = '\0';
    if (err <= 0)
        return err;
    col_name(st, 0, last, PM_MONTH_SIZE);
    stmt_done(st);
    return 0;
}

/* Whether `month` is closed (any "YYYY-MM", also before the years
 * pm_month_valid accepts from people: a job's clock may say 1970). */
static int period_closed(pm_catalog_t *cat, const char *month, int *closed)
{
    sqlite3_stmt *st = cat->st[ST_PERIOD_GET];
    int err;

    *closed = 0;
    if (bind_text(st, 1, month))
        return bind_fail(cat, st);
    err = first_row(cat, st);
    if (err < 0)
        return err;
    *closed = err;
    if (err)
        stmt_done(st);
    return 0;
}

/* The first month from `from` on that is not closed. Closed months are
 * rows, so a run of them ends; the bound only guards a corrupt table. */
static int first_open_month(pm_catalog_t *cat, const char *from,
                            char out[PM_MONTH_SIZE])
{
    char m[PM_MONTH_SIZE];
    int closed = 1, err = 0, i;

    snprintf(m, sizeof(m), "%s", from);
    for (i = 0; err == 0 && i < 1200; i++) {
        err = period_closed(cat, m, &closed);
        if (err == 0 && !closed) {
            memcpy(out, m, PM_MONTH_SIZE);
            return 0;
        }
        pm_month_next(m, m);
    }
    return err ? err
               : set_msg(cat, PM_ECATALOG, "no open month after %s", from);
}

/* The billing_timezone setting into buf ("" when none is recorded). */
static int timezone_setting(pm_catalog_t *cat, char *buf, size_t size)
{
    sqlite3_stmt *st = cat->st[ST_SETTING_GET];
    int err;

    buf[0] = '\0';
    if (bind_text(st, 1, "billing_timezone"))
        return bind_fail(cat, st);
    err = first_row(cat, st);
    if (err <= 0)
        return err;
    col_name(st, 0, buf, size);
    stmt_done(st);
    return 0;
}

/* Records zone `tz` unless another process did first (then *stored holds
 * theirs); one write transaction, taken only on the first use. */
static int timezone_record(pm_catalog_t *cat, const char *tz, char *stored,
                           size_t size)
{
    sqlite3_stmt *st = cat->st[ST_SETTING_ADD];
    int err = tx_begin(cat);

    if (err == 0)
        err = timezone_setting(cat, stored, size);
    if (err == 0 && stored[0] == '\0') {
        snprintf(stored, size, "%s", tz);
        if (bind_text(st, 1, "billing_timezone") || bind_text(st, 2, tz))
            err = bind_fail(cat, st);
        else
            err = run(cat, st);
        if (err == 0)
            err = event_insert(cat, wall_clock(), "catalog", "billing.timezone",
                               0, 0, tz);
    }
    return tx_end(cat, err);
}

int pm_catalog_billing_timezone(pm_catalog_t *cat, const char *configured,
                                char *out, size_t size)
{
    /* A configuration without a zone means UTC, as pm_config_new says. */
    const char *want = configured == NULL ? NULL
                       : configured[0]    ? configured
                                          : "UTC";
    char stored[256];
    int err;

    if (size > 0)
        out[0] = '\0';
    if (want != NULL && !pm_timezone_valid(want))
        return set_msg(cat, PM_EINVAL,
                       "billing time zone %s is not UTC or a zone under %s; "
                       "nothing was recorded",
                       want, PM_ZONEINFO);
    /* Read without the write lock: every command asks, few record. */
    err = timezone_setting(cat, stored, sizeof(stored));
    if (err == 0 && stored[0] == '\0' && want != NULL)
        err = timezone_record(cat, want, stored, sizeof(stored));
    if (err != 0)
        return err;
    if (stored[0] == '\0')
        snprintf(stored, sizeof(stored), "UTC"); /* nothing recorded yet */
    else if (want != NULL && strcmp(want, stored) != 0)
        return set_msg(cat, PM_EINVAL,
                       "this catalog bills in time zone %s, the "
                       "configuration says %s; set [billing] timezone = %s",
                       stored, want, stored);
    snprintf(out, size, "%s", stored);
    return 0;
}

int pm_fee_add(pm_catalog_t *cat, const pm_fee_t *f, const char *actor,
               int64_t now, int64_t *id)
{
    sqlite3_stmt *st = cat->st[ST_FEE_ADD];
    char last[PM_MONTH_SIZE], month[PM_MONTH_SIZE], day[PM_DATE_SIZE];
    char unit[32], min[32], *detail;
    int64_t new_id = 0;
    int err;

    *id = 0;
    if (f->code == NULL || f->code[0] == '\0' || actor == NULL)
        return set_msg(cat, PM_EINVAL, "a fee needs a code");
    if (ident_refused(cat, PM_IDENT_FEE, f->code))
        return PM_EINVAL;
    if (f->unit_price_mc < 0 || f->unit_price_mc > PM_PRICE_MAX_MC ||
        f->min_charge_mc < 0 || f->min_charge_mc > PM_PRICE_MAX_MC)
        return set_msg(cat, PM_EINVAL, "fee %s: price out of range", f->code);
    pm_date_format(f->effective_from, day);
    pm_month_of(f->effective_from, month);
    pm_money_format_mc(f->unit_price_mc, unit, sizeof(unit));
    pm_money_format_mc(f->min_charge_mc, min, sizeof(min));
    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = last_closed_month(cat, last);
    if (err == 0 && last[0] != '\0' && strcmp(month, last) <= 0)
        err = set_msg(cat, PM_EINVAL,
                      "fee %s: a price from %s would fall in or before %s, "
                      "which is closed; date it in an open month",
                      f->code, day, last);
    if (err == 0) {
        if (bind_text(st, 1, f->code) || bind_text(st, 2, f->description) ||
            sqlite3_bind_int64(st, 3, f->unit_price_mc) ||
            sqlite3_bind_int64(st, 4, f->min_charge_mc) ||
            sqlite3_bind_int64(st, 5, f->effective_from) ||
            sqlite3_bind_int64(st, 6, now))
            err = bind_fail(cat, st);
        else
            err = run(cat, st);
        if (err == -EEXIST)
            set_msg(cat, err, "fee %s already has a price from %s", f->code,
                    day);
        new_id = sqlite3_last_insert_rowid(cat->db);
    }
    if (err == 0) {
        detail = pm_asprintf("%s: %s per page, minimum %s per job, from %s",
                             f->code, unit, min, day);
        err = detail ? event_insert(cat, now, actor, "fee.added", 0, 0, detail)
                     : nomem(cat);
        pm_free(detail);
    }
    err = tx_end(cat, err);
    if (err == 0)
        *id = new_id;
    return err;
}

int pm_fee_list(pm_catalog_t *cat, const char *code, pm_fee_t **out, size_t *n)
{
    sqlite3_stmt *st = cat->st[ST_FEE_LIST];
    int err;

    *out = NULL;
    *n = 0;
    if (bind_text(st, 1, code))
        return bind_fail(cat, st);
    err = collect(cat, st, sizeof(pm_fee_t), read_fee, fee_cleanup_v,
                  (void **)out, n);
    if (err == 0 && code != NULL && *n == 0) {
        pm_fee_list_free(*out, *n);
        *out = NULL;
        return set_msg(cat, PM_ENOENT, "no fee code %s", code);
    }
    return err;
}

int pm_workorder_set_fee(pm_catalog_t *cat, const char *number,
                         const char *fee_code, const char *actor)
{
    sqlite3_stmt *st = cat->st[ST_WO_SET_FEE];
    int64_t now = wall_clock();
    pm_workorder_t w = {0};
    char *detail = NULL;
    int err;

    if (number == NULL || fee_code == NULL || actor == NULL)
        return set_msg(cat, PM_EINVAL, "set-fee needs a work order and code");
    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = fee_exists(cat, fee_code);
    if (err == 0)
        err = pm_workorder_get(cat, number, &w);
    if (err == 0) {
        if (bind_text(st, 1, number) || bind_text(st, 2, fee_code))
            err = bind_fail(cat, st);
        else
            err = run(cat, st);
    }
    if (err == 0) {
        detail = pm_asprintf("%s: fee code %s -> %s", number,
                             w.fee_code ? w.fee_code : "(none)", fee_code);
        err = detail ? event_insert(cat, now, actor, "workorder.fee_set", 0, 0,
                                    detail)
                     : nomem(cat);
    }
    pm_free(detail);
    pm_workorder_cleanup(&w);
    return tx_end(cat, err);
}

void pm_billing_period_cleanup(pm_billing_period_t *p)
{
    if (p == NULL)
        return;
    pm_free(p->closed_by);
    memset(p, 0, sizeof(*p));
}

int pm_billing_period_get(pm_catalog_t *cat, const char *month,
                          pm_billing_period_t *out)
{
    sqlite3_stmt *st = cat->st[ST_PERIOD_GET];
    int err;

    memset(out, 0, sizeof(*out));
    if (month == NULL || pm_month_valid(month) != 0)
        return set_msg(cat, PM_EINVAL, "'%s' is not a month (YYYY-MM)",
                       month ? month : "(null)");
    snprintf(out->month, sizeof(out->month), "%s", month);
    if (bind_text(st, 1, month))
        return bind_fail(cat, st);
    err = first_row(cat, st);
    if (err <= 0)
        return err; /* no row: open */
    out->closed = 1;
    out->closed_at = sqlite3_column_int64(st, 1);
    out->forced = sqlite3_column_int(st, 3);
    out->lines = sqlite3_column_int64(st, 4);
    out->total_cents = sqlite3_column_int64(st, 5);
    err = col_str(st, 2, &out->closed_by);
    stmt_done(st);
    return err ? nomem(cat) : 0;
}

void pm_billing_line_cleanup(pm_billing_line_t *l)
{
    if (l == NULL)
        return;
    pm_free(l->account);
    pm_free(l->account_name);
    pm_free(l->workorder);
    pm_free(l->fee_code);
    pm_free(l->note);
    memset(l, 0, sizeof(*l));
}

static void line_cleanup_v(void *item)
{
    pm_billing_line_cleanup(item);
}

void pm_billing_line_list_free(pm_billing_line_t *v, size_t n)
{
    free_items(v, n, sizeof(*v), line_cleanup_v);
}

/* The columns ST_BILL_OPEN and ST_BILL_FROZEN share. */
static int read_line_common(sqlite3_stmt *st, pm_billing_line_t *l)
{
    memset(l, 0, sizeof(*l));
    l->kind = sqlite3_column_int(st, 0) ? PM_LINE_ADJUSTMENT : PM_LINE_JOB;
    l->job = sqlite3_column_int64(st, 4);
    l->priced = sqlite3_column_int(st, 6);
    l->pages = sqlite3_column_int64(st, 7);
    l->blank_pages = sqlite3_column_int64(st, 8);
    l->unit_price_mc = sqlite3_column_int64(st, 10);
    l->min_charge_mc = sqlite3_column_int64(st, 11);
    l->finished_at = sqlite3_column_int64(st, 14);
    if (col_str(st, 1, &l->account) || col_str(st, 2, &l->account_name) ||
        col_str(st, 3, &l->workorder) || col_str(st, 5, &l->fee_code) ||
        col_str(st, 15, &l->note)) {
        pm_billing_line_cleanup(l);
        return PM_ENOMEM;
    }
    return 0;
}

/* A computed line: a job's billable pages and amount follow from its
 * billable_pages rows, its profile's blank rule and its price. */
static int read_line_open(sqlite3_stmt *st, void *item)
{
    pm_billing_line_t *l = item;
    int err = read_line_common(st, l);

    if (err != 0)
        return err;
    if (l->kind == PM_LINE_ADJUSTMENT) {
        l->billable_pages = sqlite3_column_int64(st, 12);
        l->amount_mc = sqlite3_column_int64(st, 13);
    } else {
        l->billable_pages =
            sqlite3_column_int(st, 9) ? l->pages : l->pages - l->blank_pages;
        if (l->priced)
            err = pm_money_line(l->billable_pages, l->unit_price_mc,
                                l->min_charge_mc, &l->amount_mc);
    }
    l->amount_cents = pm_money_round_cents(l->amount_mc);
    if (err != 0)
        pm_billing_line_cleanup(l);
    return err;
}

static int read_line_frozen(sqlite3_stmt *st, void *item)
{
    pm_billing_line_t *l = item;
    int err = read_line_common(st, l);

    if (err == 0) {
        l->billable_pages = sqlite3_column_int64(st, 12);
        l->amount_mc = sqlite3_column_int64(st, 13);
        l->amount_cents = sqlite3_column_int64(st, 16);
    }
    return err;
}

/* One month's lines: frozen when it is closed, else computed. */
static int month_lines(pm_catalog_t *cat, const char *month,
                       const char *account, const char *workorder,
                       pm_billing_line_t **out, size_t *n)
{
    sqlite3_stmt *st;
    int closed, err;

    *out = NULL;
    *n = 0;
    err = period_closed(cat, month, &closed);
    if (err != 0)
        return err;
    st = cat->st[closed ? ST_BILL_FROZEN : ST_BILL_OPEN];
    if (bind_text(st, 1, month) || bind_text(st, 2, account) ||
        bind_text(st, 3, workorder))
        return bind_fail(cat, st);
    err = collect(cat, st, sizeof(pm_billing_line_t),
                  closed ? read_line_frozen : read_line_open, line_cleanup_v,
                  (void **)out, n);
    for (size_t i = 0; err == 0 && i < *n; i++)
        memcpy((*out)[i].month, month, PM_MONTH_SIZE);
    return err;
}

/* Most months one report may span: 100 years. */
#define MAX_REPORT_MONTHS 1200

static void period_cleanup_v(void *item)
{
    pm_billing_period_cleanup(item);
}

void pm_billing_period_list_free(pm_billing_period_t *v, size_t n)
{
    free_items(v, n, sizeof(*v), period_cleanup_v);
}

/* Appends month m's period to *v (grown by one). */
static int period_append(pm_catalog_t *cat, const char *m,
                         pm_billing_period_t **v, size_t *n)
{
    pm_billing_period_t *p = pm_realloc(*v, (*n + 1) * sizeof(**v));
    int err;

    if (p == NULL)
        return nomem(cat);
    *v = p;
    err = pm_billing_period_get(cat, m, &p[*n]);
    if (err == 0)
        (*n)++;
    return err;
}

int pm_billing_read(pm_catalog_t *cat, const char *from, const char *to,
                    const char *account, const char *workorder,
                    pm_billing_period_t **periods, size_t *nperiods,
                    pm_billing_line_t **out, size_t *n)
{
    pm_billing_line_t *v = NULL, *part = NULL, *p;
    pm_billing_period_t *pv = NULL;
    size_t len = 0, nparts = 0, np = 0;
    char m[PM_MONTH_SIZE];
    int err, i;

    *out = NULL;
    *n = 0;
    if (periods != NULL) {
        *periods = NULL;
        *nperiods = 0;
    }
    if (from == NULL || to == NULL || pm_month_valid(from) != 0 ||
        pm_month_valid(to) != 0 || strcmp(from, to) > 0)
        return set_msg(cat, PM_EINVAL, "bad month range %s..%s",
                       from ? from : "?", to ? to : "?");
    /* One read transaction: every month, and whether it is closed, as of
     * one moment, even while a close commits. */
    err = tx_begin_read(cat);
    snprintf(m, sizeof(m), "%s", from);
    for (i = 0; err == 0 && i < MAX_REPORT_MONTHS && strcmp(m, to) <= 0; i++) {
        if (periods != NULL)
            err = period_append(cat, m, &pv, &np);
        if (err == 0)
            err = month_lines(cat, m, account, workorder, &part, &nparts);
        if (err == 0 && nparts > 0) {
            p = pm_realloc(v, (len + nparts) * sizeof(*v));
            if (p == NULL) {
                pm_billing_line_list_free(part, nparts);
                err = nomem(cat);
                break;
            }
            v = p;
            memcpy(v + len, part, nparts * sizeof(*v));
            len += nparts;
        }
        pm_free(part); /* its strings moved into v */
        part = NULL;
        pm_month_next(m, m);
    }
    if (err == 0 && strcmp(m, to) <= 0)
        err = set_msg(cat, PM_EINVAL, "a report spans at most %d months",
                      MAX_REPORT_MONTHS);
    err = tx_end(cat, err);
    if (err != 0) {
        pm_billing_line_list_free(v, len);
        pm_billing_period_list_free(pv, np);
        return err;
    }
    *out = v;
    *n = len;
    if (periods != NULL) {
        *periods = pv;
        *nperiods = np;
    }
    return 0;
}

int pm_billing_lines(pm_catalog_t *cat, const char *from, const char *to,
                     const char *account, const char *workorder,
                     pm_billing_line_t **out, size_t *n)
{
    return pm_billing_read(cat, from, to, account, workorder, NULL, NULL, out,
                           n);
}

static int line_insert(pm_catalog_t *cat, const pm_billing_line_t *l,
                       int64_t seq)
{
    sqlite3_stmt *st = cat->st[ST_LINE_ADD];

    if (bind_text(st, 1, l->month) || sqlite3_bind_int64(st, 2, seq) ||
        bind_text(st, 3, l->kind == PM_LINE_JOB ? "job" : "adjustment") ||
        bind_text(st, 4, l->account) || bind_text(st, 5, l->account_name) ||
        bind_text(st, 6, l->workorder) || sqlite3_bind_int64(st, 7, l->job) ||
        bind_text(st, 8, l->fee_code) || sqlite3_bind_int64(st, 9, l->pages) ||
        sqlite3_bind_int64(st, 10, l->blank_pages) ||
        sqlite3_bind_int64(st, 11, l->billable_pages) ||
        sqlite3_bind_int64(st, 12, l->unit_price_mc) ||
        sqlite3_bind_int64(st, 13, l->min_charge_mc) ||
        sqlite3_bind_int64(st, 14, l->amount_mc) ||
        sqlite3_bind_int64(st, 15, l->amount_cents) ||
        sqlite3_bind_int64(st, 16, l->finished_at) ||
        bind_text(st, 17, l->note))
        return bind_fail(cat, st);
    return run(cat, st);
}

/* Refuses a close over jobs that may still finish in the month; *ids
 * lists them. With `force`, they are only named in the event. */
static int close_blockers(pm_catalog_t *cat, const char *month, int64_t end,
                          int64_t **ids, size_t *n)
{
    sqlite3_stmt *st = cat->st[ST_BILL_BLOCKERS];
    int err;

    if (sqlite3_bind_int64(st, 1, end))
        return bind_fail(cat, st);
    err = collect(cat, st, sizeof(int64_t), read_id, NULL, (void **)ids, n);
    if (err == 0 && *n > 0)
        set_msg(cat, PM_EINVAL,
                "%s has %zu unfinished job%s (received, queued, running, "
                "assembling or held) created before it ended",
                month, *n, *n == 1 ? "" : "s");
    return err;
}

int pm_billing_close(pm_catalog_t *cat, const char *month, int force,
                     const char *actor, int64_t now, int64_t **blockers,
                     size_t *nblockers)
{
    pm_billing_line_t *v = NULL;
    char current[PM_MONTH_SIZE], total[32], *detail = NULL;
    int64_t start, end, sum = 0, *ids = NULL;
    size_t n = 0, nids = 0, i;
    int closed, err;

    if (blockers != NULL)
        *blockers = NULL;
    if (nblockers != NULL)
        *nblockers = 0;
    if (month == NULL || pm_month_bounds(month, &start, &end) != 0)
        return set_msg(cat, PM_EINVAL, "'%s' is not a month (YYYY-MM)",
                       month ? month : "(null)");
    if (actor == NULL)
        return set_msg(cat, PM_EINVAL, "closing a month needs an actor");
    pm_month_of(now, current);
    if (strcmp(month, current) > 0)
        return set_msg(cat, PM_EINVAL, "%s has not begun (it is %s now)", month,
                       current);
    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = period_closed(cat, month, &closed);
    if (err == 0 && closed)
        err = set_msg(cat, -EEXIST, "%s is closed already", month);
    if (err == 0)
        err = close_blockers(cat, month, end, &ids, &nids);
    if (err == 0 && nids > 0 && !force)
        err = PM_EINVAL; /* close_blockers said why */
    if (err == 0)
        err = month_lines(cat, month, NULL, NULL, &v, &n);
    for (i = 0; err == 0 && i < n; i++) {
        if (!v[i].priced)
            err = set_msg(cat, PM_EINVAL,
                          "%s: job %lld of work order %s has no price (fee "
                          "code %s); set one with 'pagemill workorder "
                          "set-fee' or 'pagemill fee add'",
                          month, (long long)v[i].job, v[i].workorder,
                          v[i].fee_code ? v[i].fee_code : "(none)");
        sum += v[i].amount_cents;
    }
    if (err == 0) {
        sqlite3_stmt *st = cat->st[ST_PERIOD_ADD];

        if (bind_text(st, 1, month) || sqlite3_bind_int64(st, 2, now) ||
            bind_text(st, 3, actor) || sqlite3_bind_int(st, 4, force != 0) ||
            sqlite3_bind_int64(st, 5, (sqlite3_int64)n) ||
            sqlite3_bind_int64(st, 6, sum))
            err = bind_fail(cat, st);
        else
            err = run(cat, st);
    }
    for (i = 0; err == 0 && i < n; i++)
        err = line_insert(cat, &v[i], (int64_t)i + 1);
    if (err == 0) {
        pm_money_format_cents(sum, total, sizeof(total));
        detail = nids > 0
                     ? pm_asprintf("%s: %zu lines, total %s; forced "
                                   "over %zu unfinished jobs",
                                   month, n, total, nids)
                     : pm_asprintf("%s: %zu lines, total %s", month, n, total);
        err = detail ? event_insert(cat, now, actor, "billing.closed", 0, 0,
                                    detail)
                     : nomem(cat);
    }
    pm_free(detail);
    pm_billing_line_list_free(v, n);
    err = tx_end(cat, err);
    if (err == PM_EINVAL && nids > 0 && !force && blockers != NULL) {
        *blockers = ids;
        *nblockers = nids;
        ids = NULL;
    }
    pm_free(ids);
    return err;
}

/* What a job has been billed so far outside its own open month: its
 * frozen lines plus its adjustments not frozen yet. */
typedef struct {
    int64_t pages, blank, billable, amount_mc, lines;
} billed_t;

static int job_billed_part(pm_catalog_t *cat, int which, int64_t job,
                           billed_t *b)
{
    sqlite3_stmt *st = cat->st[which];
    int err;

    if (sqlite3_bind_int64(st, 1, job))
        return bind_fail(cat, st);
    err = first_row(cat, st);
    if (err <= 0)
        return err;
    b->pages += sqlite3_column_int64(st, 0);
    b->blank += sqlite3_column_int64(st, 1);
    b->billable += sqlite3_column_int64(st, 2);
    b->amount_mc += sqlite3_column_int64(st, 3);
    b->lines += sqlite3_column_int64(st, 4);
    stmt_done(st);
    return 0;
}

/* The fee code and unit price job `job` is billed at: as frozen when a
 * closed month holds it, else the price effective when it finished. */
static int job_price(pm_catalog_t *cat, int64_t job, char **fee, int64_t *unit)
{
    int which[] = {ST_JOB_FROZEN_PRICE, ST_JOB_PRICE};
    int err = 0;

    *fee = NULL;
    *unit = 0;
    for (size_t i = 0; i < 2; i++) {
        sqlite3_stmt *st = cat->st[which[i]];

        if (sqlite3_bind_int64(st, 1, job))
            return bind_fail(cat, st);
        err = first_row(cat, st);
        if (err < 0)
            return err;
        if (err == 1) {
            *unit = sqlite3_column_int64(st, 1);
            err = col_str(st, 0, fee) ? nomem(cat) : 0;
            stmt_done(st);
            return err;
        }
    }
    return set_msg(cat, PM_EINVAL,
                   "job %lld has no price: its work order "
                   "has no fee code effective when it "
                   "finished",
                   (long long)job);
}

/* The job's billing state, inside a transaction. */
static int job_billing(pm_catalog_t *cat, int64_t job, int *state,
                       char month[PM_MONTH_SIZE])
{
    sqlite3_stmt *st = cat->st[ST_JOB_BILLING];
    char name[32];
    int err;

    if (sqlite3_bind_int64(st, 1, job))
        return bind_fail(cat, st);
    err = first_row(cat, st);
    if (err <= 0)
        return err == 0 ? set_msg(cat, PM_ENOENT, "no job %lld", (long long)job)
                        : err;
    col_name(st, 0, name, sizeof(name));
    col_name(st, 1, month, PM_MONTH_SIZE);
    stmt_done(st);
    *state = pm_job_state_parse(name);
    return 0;
}

/* Inserts an adjustment and its event. */
static int adjustment_insert(pm_catalog_t *cat, const char *month,
                             const char *of_month, int64_t job, const char *fee,
                             const billed_t *b, int64_t unit, const char *note,
                             const char *actor, int64_t now)
{
    sqlite3_stmt *st = cat->st[ST_ADJ_ADD];
    char amount[32], *detail;
    int err;

    if (bind_text(st, 1, month) || bind_text(st, 2, of_month) ||
        sqlite3_bind_int64(st, 3, job) || bind_text(st, 4, fee) ||
        sqlite3_bind_int64(st, 5, b->pages) ||
        sqlite3_bind_int64(st, 6, b->blank) ||
        sqlite3_bind_int64(st, 7, b->billable) ||
        sqlite3_bind_int64(st, 8, unit) ||
        sqlite3_bind_int64(st, 9, b->amount_mc) || bind_text(st, 10, note) ||
        bind_text(st, 11, actor) || sqlite3_bind_int64(st, 12, now))
        return bind_fail(cat, st);
    err = run(cat, st);
    if (err != 0)
        return err;
    pm_money_format_cents(pm_money_round_cents(b->amount_mc), amount,
                          sizeof(amount));
    detail = pm_asprintf("%s: %+lld billable pages, %s, in %s: %s", of_month,
                         (long long)b->billable, amount, month, note);
    if (detail == NULL)
        return nomem(cat);
    err = event_insert(cat, now, actor, "billing.adjustment", job, 0, detail);
    pm_free(detail);
    return err;
}

int pm_billing_adjust(pm_catalog_t *cat, int64_t job, int64_t billable,
                      const char *reason, const char *actor, int64_t now,
                      char month[8])
{
    char of[PM_MONTH_SIZE], to[PM_MONTH_SIZE], *fee = NULL, *note = NULL;
    billed_t b = {0};
    int64_t unit = 0;
    int state, err;

    month[0] = '\0';
    if (reason == NULL || reason[0] == '\0' || actor == NULL)
        return set_msg(cat, PM_EINVAL, "an adjustment needs a reason");
    if (billable == 0 || billable > INT32_MAX || billable < -INT32_MAX)
        return set_msg(cat, PM_EINVAL,
                       "an adjustment is a non-zero number of pages");
    err = tx_begin(cat);
    if (err != 0)
        return err;
    err = job_billing(cat, job, &state, of);
    if (err == 0 && state != PM_JOB_DONE)
        err = set_msg(cat, PM_EINVAL,
                      "job %lld is %s: only a done job's "
                      "bill can be adjusted",
                      (long long)job, pm_job_state_name(state));
    if (err == 0)
        err = job_price(cat, job, &fee, &unit);
    if (err == 0)
        err = first_open_month(cat, of, to);
    if (err == 0) {
        b.billable = billable;
        if (pm_money_line(billable, unit, 0, &b.amount_mc) != 0)
            err = set_msg(cat, PM_EINVAL, "adjustment amount out of range");
    }
    if (err == 0) {
        note = pm_asprintf("%s for job %lld billed in %s: %s",
                           billable < 0 ? "credit" : "debit", (long long)job,
                           of, reason);
        err = note ? adjustment_insert(cat, to, of, job, fee, &b, unit, note,
                                       actor, now)
                   : nomem(cat);
    }
    pm_free(note);
    pm_free(fee);
    err = tx_end(cat, err);
    if (err == 0)
        memcpy(month, to, PM_MONTH_SIZE);
    return err;
}

/*
 * Inside pm_job_cancel, for a job that was done: when it was billed in a
 * closed month (or has adjustments), credits what it was billed, in the
 * first open month from its billing month on. A job whose month is still
 * open simply drops out of that month's lines.
 */
static int cancel_credit(pm_catalog_t *cat, int64_t job, const char *reason,
                         const char *actor, int64_t now)
{
    char of[PM_MONTH_SIZE], to[PM_MONTH_SIZE], *fee = NULL, *note = NULL;
    billed_t b = {0}, credit;
    int64_t unit = 0;
    int state, err;

    err = job_billing(cat, job, &state, of);
    if (err == 0)
        err = job_billed_part(cat, ST_JOB_BILLED, job, &b);
    if (err == 0)
        err = job_billed_part(cat, ST_JOB_ADJ_OPEN, job, &b);
    if (err != 0 || b.lines == 0 || (b.billable == 0 && b.amount_mc == 0))
        return err;
    err = job_price(cat, job, &fee, &unit);
    if (err == 0)
        err = first_open_month(cat, of, to);
    if (err == 0) {
        credit = (billed_t){-b.pages, -b.blank, -b.billable, -b.amount_mc, 0};
        note = pm_asprintf("credit for job %lld billed in %s: cancelled%s%s",
                           (long long)job, of, reason ? ": " : "",
                           reason ? reason : "");
        err = note ? adjustment_insert(cat, to, of, job, fee, &credit, unit,
                                       note, actor, now)
                   : nomem(cat);
    }
    pm_free(note);
    pm_free(fee);
    return err;
}

int pm_billable_count(pm_catalog_t *cat, int64_t job, int bill_blank,
                      int64_t *count)
{
    sqlite3_stmt *st = cat->st[job == 0 ? ST_BILLABLE_ALL : ST_BILLABLE_JOB];
    int i = 1;

    *count = 0;
    if (job < 0)
        return set_msg(cat, PM_EINVAL, "bad job id %lld", (long long)job);
    if ((job != 0 && sqlite3_bind_int64(st, i++, job)) ||
        sqlite3_bind_int(st, i, bill_blank != 0))
        return bind_fail(cat, st);
    return query_int64(cat, st, count);
}

/* ---- test probes (catalog_int.h) ---- */

static sqlite3_stmt *stmt_named(pm_catalog_t *cat, const char *name)
{
    int i;

    for (i = 0; name != NULL && i < ST_COUNT; i++)
        if (strcmp(stmts[i].name, name) == 0)
            return cat->st[i];
    return NULL;
}

int pm__catalog_plan(pm_catalog_t *cat, const char *name, char **plan)
{
    sqlite3_stmt *named = stmt_named(cat, name), *st = NULL;
    pm__buf_t b = {0};
    char *sql;
    int rc, err = 0;

    *plan = NULL;
    if (named == NULL)
        return set_msg(cat, PM_ENOENT, "no statement %s", name);
    sql = pm_asprintf("EXPLAIN QUERY PLAN %s", sqlite3_sql(named));
    if (sql == NULL)
        return nomem(cat);
    if (sqlite3_prepare_v2(cat->db, sql, -1, &st, NULL) != SQLITE_OK) {
        err = db_fail(cat);
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        pm__buf_printf(&b, "%s\n", col_or(st, 3));
    if (rc != SQLITE_DONE)
        err = db_fail(cat);
    else if (b.oom)
        err = nomem(cat);
out:
    sqlite3_finalize(st);
    pm_free(sql);
    if (err != 0)
        pm_free(b.s);
    else
        *plan = b.s;
    return err;
}

int pm__catalog_stmt_counter(pm_catalog_t *cat, const char *name, int op,
                             int reset)
{
    sqlite3_stmt *st = stmt_named(cat, name);

    return st ? sqlite3_stmt_status(st, op, reset) : -1;
}

int pm__catalog_pragma(pm_catalog_t *cat, const char *name, char *buf,
                       size_t size)
{
    char *sql = pm_asprintf("PRAGMA %s", name);
    int err;

    if (sql == NULL)
        return nomem(cat);
    err = exec_text(cat, sql, buf, size);
    pm_free(sql);
    return err;
}
