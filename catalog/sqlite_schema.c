/*
 * sqlite_schema.c: the schema of the SQLite backend: per-connection
 * settings (read back where SQLite could silently ignore them) and the
 * numbered migrations, each applied in its own transaction and recorded
 * in schema_migrations.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "catalog/catalog.h"
#include "catalog/catalog_int.h"
#include "catalog/sqlite_int.h"
#include "pipeline/base/pm.h"

#define BUSY_TIMEOUT_MS 5000

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
 * Migration 6: access tokens of the web interface (catalog/monitor.c).
 * Only a token's SHA-256 is kept; the token itself is shown once, when
 * it is made.
 */
static const char *const migration_6[] = {
    "CREATE TABLE api_tokens ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL CHECK (role IN ('supervisor', 'billing', 'admin')),"
    " sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),"
    " created_at INTEGER NOT NULL"
    ") STRICT",
    NULL,
};

/*
 * Migration 7: a page's work estimate, its pixels as intake read them
 * from the file's header (0: unknown, as for pages queued before). The
 * claim takes the largest page of the fairest job first (rules.h), so a
 * job's short pages come last and no long page runs alone at the end.
 */
static const char *const migration_7[] = {
    "ALTER TABLE page_tasks ADD COLUMN work INTEGER NOT NULL DEFAULT 0"
    " CHECK (work >= 0)",
    "CREATE INDEX page_tasks_work ON page_tasks (state, job, work DESC, page)",
    NULL,
};

/*
 * Migration 8: nodes. Each coordinator and node agent writes its
 * machine's 1-minute load average with its workers rows (NULL: unknown),
 * for the nodes `pagemill status`, the dashboard and /metrics show. A
 * page's worker is its lease_owner, kept when it is done.
 */
static const char *const migration_8[] = {
    "ALTER TABLE workers ADD COLUMN load1 REAL",
    NULL,
};

/* Migration n is migrations[n - 1]. Append; never edit a shipped one.
 * Migration 5 (review flags, replaced pages) is in review.c. */
static const char *const *const migrations[] = {
    migration_1,     migration_2, migration_3, migration_4,
    pm__migration_5, migration_6, migration_7, migration_8,
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) ==
                   PM__CATALOG_SCHEMA_VERSION,
               "PM__CATALOG_SCHEMA_VERSION must name the last migration");

/* Per-connection settings: the durability and integrity the catalog
 * relies on, each read back where SQLite could silently ignore it. */
int pm__sqlite_configure(pm_catalog_t *cat)
{
    char val[32];
    int err;

    sqlite3_extended_result_codes(cat->db, 1);
    sqlite3_db_config(cat->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(cat->db, SQLITE_DBCONFIG_DQS_DML, 0, (int *)NULL);
    sqlite3_db_config(cat->db, SQLITE_DBCONFIG_DQS_DDL, 0, (int *)NULL);
    if (sqlite3_busy_timeout(cat->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return pm__sql_fail(cat);
    err = pm__sql_exec_text(cat, "PRAGMA journal_mode = WAL", val, sizeof(val));
    if (err != 0)
        return err;
    /* An in-memory database reports "memory"; a file must be in WAL. */
    if (strcmp(val, "wal") != 0 && strcmp(val, "memory") != 0)
        return pm__catalog_msg(cat, PM_ECATALOG,
                               "journal_mode is %s, not wal (a network file "
                               "system?)",
                               val);
    err = pm__sql_exec(cat,
                       "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
    if (err == 0)
        err = pm__sql_exec_text(cat, "PRAGMA foreign_keys", val, sizeof(val));
    if (err == 0 && strcmp(val, "1") != 0)
        err = pm__catalog_msg(cat, PM_ECATALOG,
                              "foreign keys could not be enabled");
    return err;
}

static int read_version(pm_catalog_t *cat, int64_t *version)
{
    char val[32];
    int err;

    err = pm__sql_exec_text(
        cat, "SELECT coalesce(max(version), 0) FROM schema_migrations", val,
        sizeof(val));
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
        return pm__sql_fail(cat);
    if (sqlite3_bind_int(st, 1, version) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, pm__wall_clock()) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        err = pm__sql_fail(cat);
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

    err = pm__sql_exec(cat, "BEGIN IMMEDIATE");
    if (err != 0)
        return err;
    err = read_version(cat, &current);
    for (sql = migrations[version - 1]; err == 0 && current < version && *sql;
         sql++)
        err = pm__sql_exec(cat, *sql);
    if (err == 0 && current < version)
        err = record_migration(cat, version);
    if (err == 0)
        err = pm__sql_exec(cat, "COMMIT");
    if (err != 0) {
        if (!sqlite3_get_autocommit(cat->db))
            sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
        return err;
    }
    if (current < version)
        pm_log(PM_LOG_INFO, "catalog", "applied schema migration %d", version);
    return 0;
}

/* Before the first migration of a catalog that has a schema (and so
 * data), a copy of it as it was: <catalog>.pre-v<N>.bak beside it, N the
 * version it is brought to. A copy already there (another process took
 * it at the same time, or an earlier try) is kept. An in-memory or
 * temporary database has no file to copy. */
static int backup_before_migrating(pm_catalog_t *cat, int64_t version)
{
    const char *path = sqlite3_db_filename(cat->db, "main");
    char msg[sizeof(cat->errmsg)], *dest;
    long pages = 0;
    int err;

    if (version == 0 || version >= NMIGRATIONS || path == NULL ||
        path[0] == '\0')
        return 0;
    dest = pm_asprintf("%s.pre-v%d.bak", path, NMIGRATIONS);
    if (dest == NULL)
        return pm__catalog_nomem(cat);
    err = pm__sqlite_backup(cat->db, path, dest, &pages, msg, sizeof(msg));
    if (err == 0)
        pm_log(PM_LOG_INFO, "catalog",
               "schema version %lld to %d: backed up %s to %s first (%ld "
               "pages)",
               (long long)version, NMIGRATIONS, path, dest, pages);
    else if (err == PM_EEXIST)
        pm_log(PM_LOG_INFO, "catalog",
               "schema version %lld to %d: keeping the backup %s already "
               "there",
               (long long)version, NMIGRATIONS, dest);
    else
        pm__catalog_msg(cat, err, "not migrating %s: %s", path, msg);
    pm_free(dest);
    return err == PM_EEXIST ? 0 : err;
}

int pm__sqlite_migrate(pm_catalog_t *cat)
{
    const char *path = sqlite3_db_filename(cat->db, "main");
    int64_t version = 0;
    int v, err;

    err = pm__sql_exec(cat, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                            " version INTEGER PRIMARY KEY,"
                            " applied_at INTEGER NOT NULL) STRICT");
    if (err == 0)
        err = read_version(cat, &version);
    if (err != 0)
        return err;
    if (version > NMIGRATIONS)
        return pm__catalog_msg(
            cat, PM_ECATALOG,
            "schema version %lld is newer than this pagemill %s knows (%d): "
            "run the newer pagemill that upgraded it, or, to go back to this "
            "one, restore the copy taken before the upgrade "
            "(%s.pre-v%lld.bak; docs/operations.md, Rollback)",
            (long long)version, PM_VERSION, NMIGRATIONS,
            path && path[0] ? path : "the catalog", (long long)version);
    err = backup_before_migrating(cat, version);
    for (v = (int)version + 1; err == 0 && v <= NMIGRATIONS; v++)
        err = apply_migration(cat, v);
    return err;
}

int pm__catalog_create_at_version(const char *path, int version)
{
    pm_catalog_t cat;
    struct stat st;
    int err;

    assert(version >= 1 && version <= NMIGRATIONS);
    if (stat(path, &st) == 0)
        return PM_EEXIST;
    memset(&cat, 0, sizeof(cat));
    cat.lock_fd = -1;
    if (sqlite3_open_v2(path, &cat.db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK) {
        sqlite3_close(cat.db);
        return PM_ECATALOG;
    }
    err = pm__sqlite_configure(&cat);
    if (err == 0)
        err = pm__sql_exec(&cat, "CREATE TABLE schema_migrations ("
                                 " version INTEGER PRIMARY KEY,"
                                 " applied_at INTEGER NOT NULL) STRICT");
    for (int v = 1; err == 0 && v <= version; v++)
        err = apply_migration(&cat, v);
    if (err != 0)
        pm_log(PM_LOG_ERROR, "catalog", "%s: %s", path, cat.errmsg);
    sqlite3_close(cat.db);
    return err;
}
