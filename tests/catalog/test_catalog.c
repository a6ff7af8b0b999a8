/*
 * test_catalog.c: the SQLite catalog (catalog/sqlite_*.c) against its
 * contract in catalog.h. Migrations and reopening, the append-only event
 * trail, accounts and work orders, jobs and their pages, the queue (fair
 * claim order, leases and fencing, retries), finishing jobs, status and
 * billable counts; the one-coordinator lock; the claim's query plan and its
 * cost with 100k tasks (counted in SQLite VM steps, never timed); and
 * allocation failure.
 *
 * SQLite's own allocations are routed through pm_malloc (main() does it
 * before SQLite starts), so pm_alloc_fail_at() reaches every allocation an
 * operation makes, SQLite's included: the out-of-memory loops prove that
 * a failed open leaks nothing and a failed transaction leaves no trace.
 *
 * The tests of what the PostgreSQL backend (catalog/pg_*.c) implements so
 * far run a second time against it, in a private server started by
 * lib/pgtest.c (open_mem() then opens a fresh database), with tests of
 * its own: its schema has every table and column SQLite's has, its
 * append-only triggers, and what it refuses until it is complete.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"
#include "catalog/catalog_int.h"
#include "lib/cattest.h"
#include "lib/pgtest.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define LEASE 60      /* seconds */
#define T0    1000000 /* a "now" for the queue, seconds */

/* ---- SQLite's memory through pm_malloc ---- */

/* Each block carries its size in a 16-byte header (SQLite asks for it). */
#define HDR 16

static void *mem_malloc(int n)
{
    char *p = pm_malloc(HDR + (size_t)n);

    if (p == NULL)
        return NULL;
    *(size_t *)p = (size_t)n;
    return p + HDR;
}

static void mem_free(void *p)
{
    if (p != NULL)
        pm_free((char *)p - HDR);
}

static void *mem_realloc(void *p, int n)
{
    char *q = pm_realloc((char *)p - HDR, HDR + (size_t)n);

    if (q == NULL)
        return NULL;
    *(size_t *)q = (size_t)n;
    return q + HDR;
}

static int mem_size(void *p)
{
    return p != NULL ? (int)*(size_t *)((char *)p - HDR) : 0;
}

static int mem_roundup(int n)
{
    return (n + 7) & ~7;
}

static int mem_init(void *arg)
{
    (void)arg;
    return SQLITE_OK;
}

static void mem_shutdown(void *arg)
{
    (void)arg;
}

static const sqlite3_mem_methods pm_sqlite_mem = {
    mem_malloc,  mem_free, mem_realloc,  mem_size,
    mem_roundup, mem_init, mem_shutdown, NULL,
};

/* ---- helpers ---- */

/* A new empty catalog of the backend under test. */
static pm_catalog_t *open_mem(void)
{
    pm_catalog_t *cat = NULL;
    char url[256];

    if (ct_use_pg)
        ct_pg_fresh(url, sizeof(url));
    assert_int_equal(pm_catalog_open(ct_use_pg ? url : ":memory:", &cat), 0);
    assert_non_null(cat);
    return cat;
}

/* A catalog file in a fresh temp folder; the path is static. */
static const char *temp_catalog(void)
{
    static char path[4096];

    snprintf(path, sizeof(path), "%s/catalog.db", t_tmpdir());
    return path;
}

/* What several handles open as one catalog: a file in a fresh temp
 * folder, or a fresh PostgreSQL database. Static. */
static const char *shared_catalog(void)
{
    static char url[256];

    if (!ct_use_pg)
        return temp_catalog();
    ct_pg_fresh(url, sizeof(url));
    return url;
}

/*
 * Creates a job of `npages` pages (scan_0001.tif ... frame 0) whose
 * checksums are derived from `seed` (same seed, same checksums), held
 * when `hold` is set, with the work estimates `work` (NULL: all 0).
 * Returns its id.
 */
static int64_t new_job_work(pm_catalog_t *cat, int npages, unsigned seed,
                            const char *hold, const int64_t *work)
{
    pm_page_input_t *pages = calloc((size_t)npages, sizeof(*pages));
    char(*src)[32] = calloc((size_t)npages, sizeof(*src));
    char(*sha)[65] = calloc((size_t)npages, sizeof(*sha));
    pm_job_t j = {.workorder = (char *)"WO-2026-0142",
                  .account = (char *)"CITY",
                  .profile = (char *)"default",
                  .batch = (char *)"WO-2026-0142_box17",
                  .hold_reason = (char *)hold};
    int64_t id = 0;
    int i;

    assert_non_null(pages);
    assert_non_null(src);
    assert_non_null(sha);
    for (i = 0; i < npages; i++) {
        snprintf(src[i], sizeof(src[i]), "/spool/b/scan_%04d.tif", i + 1);
        snprintf(sha[i], sizeof(sha[i]), "%08x%056x", seed, (unsigned)i);
        pages[i].src = src[i];
        pages[i].sha256 = sha[i];
        pages[i].work = work != NULL ? work[i] : 0;
    }
    assert_int_equal(
        pm_job_create(cat, &j, pages, (size_t)npages, "intake", &id), 0);
    free(pages);
    free(src);
    free(sha);
    assert_true(id > 0);
    return id;
}

static int64_t new_job(pm_catalog_t *cat, int npages, unsigned seed,
                       const char *hold)
{
    return new_job_work(cat, npages, seed, hold, NULL);
}

static int64_t billable(pm_catalog_t *cat, int64_t job, int bill_blank)
{
    int64_t n = -1;

    assert_int_equal(pm_billable_count(cat, job, bill_blank, &n), 0);
    return n;
}

/* Runs one SQL statement on a raw connection; returns SQLite's code. */
static int raw_exec(sqlite3 *db, const char *sql, char **msg)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    if (msg != NULL)
        *msg = strdup(sqlite3_errmsg(db));
    return rc;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* ---- lifetime and migrations ---- */

static void fresh_open_applies_every_migration(void **state)
{
    pm_catalog_t *cat = open_mem();
    char *report = NULL;
    int version = -1, ok = 0;

    (void)state;
    assert_int_equal(pm_catalog_schema_version(cat, &version), 0);
    assert_int_equal(version, PM__CATALOG_SCHEMA_VERSION);
    assert_int_equal(pm_catalog_check(cat, &ok, &report), 0);
    assert_int_equal(ok, 1);
    assert_string_equal(report, "ok");
    pm_free(report);
    pm_catalog_close(cat);
    pm_catalog_close(NULL);
}

/* The durability and integrity settings, on the catalog's own
 * connection (they are per connection). */
static void connection_has_the_promised_settings(void **state)
{
    const char *path = temp_catalog();
    pm_catalog_t *cat;
    char val[32];

    (void)state;
    assert_int_equal(pm_catalog_open(path, &cat), 0);
    assert_int_equal(pm__catalog_pragma(cat, "journal_mode", val, 32), 0);
    assert_string_equal(val, "wal");
    assert_int_equal(pm__catalog_pragma(cat, "synchronous", val, 32), 0);
    assert_string_equal(val, "2"); /* FULL */
    assert_int_equal(pm__catalog_pragma(cat, "foreign_keys", val, 32), 0);
    assert_string_equal(val, "1");
    assert_int_equal(pm__catalog_pragma(cat, "busy_timeout", val, 32), 0);
    assert_string_equal(val, "5000");
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

static void reopen_keeps_data_and_applies_nothing(void **state)
{
    const char *path = temp_catalog();
    pm_catalog_t *cat;
    pm_account_t a;
    sqlite3 *db;
    int version;

    (void)state;
    assert_int_equal(pm_catalog_open(path, &cat), 0);
    ct_add_account(cat, "CITY");
    pm_catalog_close(cat);

    /* Mark the recorded migrations: a re-applied one would show. */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        raw_exec(db, "UPDATE schema_migrations SET applied_at=7", NULL),
        SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(pm_catalog_open(path, &cat), 0);
    assert_int_equal(pm_catalog_schema_version(cat, &version), 0);
    assert_int_equal(version, PM__CATALOG_SCHEMA_VERSION);
    assert_int_equal(pm_account_get(cat, "CITY", &a), 0);
    assert_string_equal(a.name, "City Archive");
    pm_account_cleanup(&a);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations"),
                     PM__CATALOG_SCHEMA_VERSION);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations "
                                 "WHERE applied_at <> 7"),
                     0);
    /* The settings the catalog promises, seen from outside. */
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_journal_mode "
                                 "WHERE journal_mode = 'wal'"),
                     1);
    sqlite3_close(db);
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/* One coordinator per catalog file: a second handle (as a second
 * process would) is refused, naming the holder's pid and the lock file,
 * until the first closes; a catalog in memory needs no lock. */
static void coordinator_lock_is_exclusive(void **state)
{
    const char *path = temp_catalog();
    pm_catalog_t *a, *b;
    long holder = -1;
    char pid[64];

    (void)state;
    assert_int_equal(pm_catalog_open(path, &a), 0);
    assert_int_equal(pm_catalog_open(path, &b), 0);
    assert_int_equal(pm_catalog_lock_coordinator(a, &holder), 0);
    assert_int_equal(holder, 0);
    assert_int_equal(pm_catalog_lock_coordinator(a, &holder), 0);

    assert_int_equal(pm_catalog_lock_coordinator(b, &holder), -EBUSY);
    assert_int_equal(holder, (long)getpid());
    snprintf(pid, sizeof(pid), "(pid %ld;", (long)getpid());
    assert_non_null(strstr(pm_catalog_errmsg(b), pid));
    assert_non_null(strstr(pm_catalog_errmsg(b), path));
    assert_non_null(strstr(pm_catalog_errmsg(b), "catalog.db.lock"));
    /* Refused, the handle still works. */
    ct_add_account(b, "CITY");

    pm_catalog_close(a);
    assert_int_equal(pm_catalog_lock_coordinator(b, &holder), 0);
    assert_int_equal(holder, 0);
    pm_catalog_close(b);

    a = open_mem();
    b = open_mem();
    assert_int_equal(pm_catalog_lock_coordinator(a, &holder), 0);
    assert_int_equal(pm_catalog_lock_coordinator(b, &holder), 0);
    pm_catalog_close(a);
    pm_catalog_close(b);
    t_tmpdir_cleanup();
}

static void newer_schema_is_refused(void **state)
{
    const char *path = temp_catalog();
    pm_catalog_t *cat = (pm_catalog_t *)&cat; /* not NULL */
    sqlite3 *db;

    (void)state;
    assert_int_equal(pm_catalog_open(path, &cat), 0);
    pm_catalog_close(cat);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        raw_exec(db, "INSERT INTO schema_migrations VALUES (999, 1)", NULL),
        SQLITE_OK);
    sqlite3_close(db);
    ct_quiet();
    assert_int_equal(pm_catalog_open(path, &cat), PM_ECATALOG);
    ct_loud();
    assert_null(cat);
    t_tmpdir_cleanup();
}

/* ---- events ---- */

static void events_are_append_only(void **state)
{
    const char *path = temp_catalog();
    pm_catalog_t *cat;
    pm_event_t *ev;
    sqlite3 *db;
    char *msg;
    size_t n;

    (void)state;
    assert_int_equal(pm_catalog_open(path, &cat), 0);
    assert_int_equal(
        pm_event_add(cat, "operator:jane", "note", 0, 0, "first words"), 0);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_not_equal(
        raw_exec(db, "UPDATE events SET detail = 'rewritten'", &msg),
        SQLITE_OK);
    assert_non_null(strstr(msg, "append-only"));
    free(msg);
    assert_int_not_equal(raw_exec(db, "DELETE FROM events", &msg), SQLITE_OK);
    assert_non_null(strstr(msg, "append-only"));
    free(msg);
    sqlite3_close(db);

    assert_int_equal(pm_event_list(cat, 0, 0, &ev, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].actor, "operator:jane");
    assert_string_equal(ev[0].detail, "first words");
    assert_int_equal(ev[0].job, 0);
    pm_event_list_free(ev, n);
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

static void event_list_filters_and_limits(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_event_t *ev;
    int64_t job;
    size_t n;

    (void)state;
    job = new_job(cat, 2, 1, NULL); /* writes job.created */
    assert_int_equal(pm_event_add(cat, "a", "one", 0, 0, NULL), 0);
    assert_int_equal(pm_event_add(cat, "a", "two", job, 2, "x"), 0);
    assert_int_equal(pm_event_add(cat, "a", "three", 0, 0, NULL), 0);
    assert_int_equal(pm_event_add(cat, "a", "bad", job + 100, 0, NULL),
                     PM_ENOENT);

    assert_int_equal(pm_event_list(cat, job, 0, &ev, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].kind, "job.created");
    assert_string_equal(ev[0].actor, "intake");
    assert_string_equal(ev[1].kind, "two");
    assert_int_equal(ev[1].page, 2);
    pm_event_list_free(ev, n);

    /* A limit keeps the latest, still oldest first. */
    assert_int_equal(pm_event_list(cat, 0, 2, &ev, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].kind, "two");
    assert_string_equal(ev[1].kind, "three");
    assert_true(ev[0].id < ev[1].id);
    pm_event_list_free(ev, n);
    pm_catalog_close(cat);
}

/* ---- accounts and work orders ---- */

static void accounts_add_get_list(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_account_t a = {.code = (char *)"CITY",
                      .name = (char *)"City Archive",
                      .contact = (char *)"billing@city.example",
                      .account_number = (char *)"4711"},
                 got, *v;
    int64_t id, id2;
    size_t n;

    (void)state;
    assert_int_equal(pm_account_add(cat, &a, "cli:root", &id), 0);
    assert_int_equal(pm_account_add(cat, &a, "cli:root", &id2), -EEXIST);
    assert_int_equal(id2, 0);
    assert_non_null(strstr(pm_catalog_errmsg(cat), "CITY"));
    ct_add_account(cat, "ARCHDIOCESE");

    assert_int_equal(pm_account_get(cat, "CITY", &got), 0);
    assert_int_equal(got.id, id);
    assert_string_equal(got.contact, "billing@city.example");
    assert_string_equal(got.account_number, "4711");
    assert_true(got.created_at > 0);
    pm_account_cleanup(&got);
    assert_int_equal(pm_account_get(cat, "NOPE", &got), PM_ENOENT);
    assert_null(got.code);

    assert_int_equal(pm_account_list(cat, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].code, "ARCHDIOCESE");
    assert_null(v[0].contact);
    assert_string_equal(v[1].code, "CITY");
    pm_account_list_free(v, n);
    assert_int_equal(ct_count_events(cat, 0, "account.added"), 2);
    pm_catalog_close(cat);
}

static void workorders_add_get_list_close(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_workorder_t w = {.number = (char *)"WO-2026-0142",
                        .account = (char *)"CITY",
                        .notes = (char *)"17 boxes"},
                   got, *v;
    int64_t id;
    size_t n;

    (void)state;
    assert_int_equal(pm_workorder_add(cat, &w, "cli:root", &id), PM_ENOENT);
    assert_non_null(strstr(pm_catalog_errmsg(cat), "CITY"));
    ct_add_account(cat, "CITY");
    ct_add_account(cat, "OTHER");
    assert_int_equal(pm_workorder_add(cat, &w, "cli:root", &id), 0);
    assert_true(id > 0);
    assert_int_equal(pm_workorder_add(cat, &w, "cli:root", &id), -EEXIST);
    w.number = (char *)"WO-2026-0001";
    w.account = (char *)"OTHER";
    assert_int_equal(pm_workorder_add(cat, &w, "cli:root", &id), 0);

    assert_int_equal(pm_workorder_get(cat, "WO-2026-0142", &got), 0);
    assert_string_equal(got.account, "CITY");
    assert_string_equal(got.status, "open");
    assert_string_equal(got.notes, "17 boxes");
    assert_null(got.fee_code);
    assert_int_equal(got.closed_at, 0);
    pm_workorder_cleanup(&got);
    assert_int_equal(pm_workorder_get(cat, "WO-X", &got), PM_ENOENT);

    assert_int_equal(pm_workorder_list(cat, NULL, &v, &n), 0);
    assert_int_equal(n, 2);
    pm_workorder_list_free(v, n);
    assert_int_equal(pm_workorder_list(cat, "CITY", &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].number, "WO-2026-0142");
    pm_workorder_list_free(v, n);

    assert_int_equal(pm_workorder_close(cat, "WO-2026-0142", "cli:root"), 0);
    assert_int_equal(pm_workorder_get(cat, "WO-2026-0142", &got), 0);
    assert_string_equal(got.status, "closed");
    assert_true(got.closed_at > 0);
    pm_workorder_cleanup(&got);
    assert_int_equal(pm_workorder_close(cat, "WO-2026-0142", "cli:root"),
                     PM_EINVAL);
    assert_non_null(strstr(pm_catalog_errmsg(cat), "already closed"));
    assert_int_equal(pm_workorder_close(cat, "WO-X", "cli:root"), PM_ENOENT);
    assert_int_equal(ct_count_events(cat, 0, "workorder.closed"), 1);
    pm_catalog_close(cat);
}

/* ---- jobs ---- */

static void job_create_records_pages_and_event(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_task_t *t;
    pm_job_t j;
    int64_t id;
    size_t n, i;

    (void)state;
    id = new_job(cat, 5, 0xabc, NULL);
    assert_int_equal(pm_job_get(cat, id, &j), 0);
    assert_int_equal(j.state, PM_JOB_QUEUED);
    assert_int_equal(j.pages, 5);
    assert_int_equal(j.pages_done, 0);
    assert_string_equal(j.workorder, "WO-2026-0142");
    assert_string_equal(j.batch, "WO-2026-0142_box17");
    assert_null(j.hold_reason);
    assert_null(j.hotfolder);
    assert_int_equal(j.created_at, j.updated_at);
    pm_job_cleanup(&j);

    assert_int_equal(pm_task_list(cat, id, &t, &n), 0);
    assert_int_equal(n, 5);
    for (i = 0; i < n; i++) {
        assert_int_equal(t[i].page, (int)i + 1);
        assert_int_equal(t[i].state, PM_TASK_QUEUED);
        assert_int_equal(t[i].attempts, 0);
        assert_int_equal(t[i].frame, 0);
        assert_int_equal(strlen(t[i].sha256), 64);
    }
    assert_string_equal(t[2].src, "/spool/b/scan_0003.tif");
    pm_task_list_free(t, n);
    assert_int_equal(ct_count_events(cat, id, "job.created"), 1);
    assert_int_equal(pm_job_get(cat, id + 1, &j), PM_ENOENT);
    pm_catalog_close(cat);
}

static void job_create_refuses_bad_input(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_page_input_t p = {.src = "a.tif", .sha256 = "12"};
    pm_job_t j = {.workorder = (char *)"WO-1", .duplicate_of = 42};
    pm_job_t *v;
    int64_t id = -1;
    size_t n;

    (void)state;
    assert_int_equal(pm_job_create(cat, &j, &p, 1, "intake", &id), PM_EINVAL);
    assert_int_equal(id, 0);
    assert_int_equal(pm_job_create(cat, &j, &p, 0, "intake", &id), PM_EINVAL);
    /* A foreign key failing mid-transaction leaves nothing behind. */
    p.sha256 =
        "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789";
    assert_int_equal(pm_job_create(cat, &j, &p, 1, "intake", &id), PM_ENOENT);
    assert_int_equal(pm_job_list(cat, -1, NULL, 0, &v, &n), 0);
    assert_int_equal(n, 0);
    pm_job_list_free(v, n);
    assert_int_equal(ct_count_events(cat, 0, "job.created"), 0);
    pm_catalog_close(cat);
}

static void job_list_filters(void **state)
{
    pm_catalog_t *cat = open_mem();
    int64_t a, b, c;
    pm_job_t *v;
    size_t n;

    (void)state;
    a = new_job(cat, 1, 1, NULL);
    b = new_job(cat, 1, 2, "possible duplicate of job 1");
    c = new_job(cat, 1, 3, NULL);
    assert_int_equal(pm_job_list(cat, -1, NULL, 0, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].id, c); /* newest first */
    assert_int_equal(v[2].id, a);
    pm_job_list_free(v, n);
    assert_int_equal(pm_job_list(cat, PM_JOB_HELD, NULL, 0, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, b);
    assert_string_equal(v[0].hold_reason, "possible duplicate of job 1");
    pm_job_list_free(v, n);
    assert_int_equal(pm_job_list(cat, -1, "WO-2026-0142", 2, &v, &n), 0);
    assert_int_equal(n, 2);
    pm_job_list_free(v, n);
    assert_int_equal(pm_job_list(cat, -1, "WO-OTHER", 0, &v, &n), 0);
    assert_int_equal(n, 0);
    pm_job_list_free(v, n);
    assert_int_equal(pm_job_list(cat, 99, NULL, 0, &v, &n), PM_EINVAL);
    pm_catalog_close(cat);
}

static void duplicates_found_by_checksum(void **state)
{
    pm_catalog_t *cat = open_mem();
    char upper[65];
    pm_page_input_t p[2] = {
        {.src = "x.tif",
         .sha256 = "0000000000000000000000000000000000000000000000000000000000"
                   "000001"},
        {.src = "y.tif", .sha256 = upper},
    };
    pm_job_t held = {.workorder = (char *)"WO-1",
                     .hold_reason = (char *)"possible duplicate"},
             j;
    int64_t a, b, c, dup = -1;

    (void)state;
    a = new_job(cat, 3, 0xabc, NULL);
    b = new_job(cat, 3, 0xabc, "dup"); /* the same inputs again */
    held.duplicate_of = a;
    /* Page 2 of job a, in upper case: checksums compare as hex. */
    snprintf(upper, sizeof(upper), "%08X%056x", 0xabcu, 1u);
    assert_non_null(strstr(upper, "ABC"));
    assert_int_equal(pm_job_find_duplicate(cat, p, 1, &dup), 0);
    assert_int_equal(dup, 0);
    assert_int_equal(pm_job_find_duplicate(cat, p, 2, &dup), 0);
    assert_int_equal(dup, a);
    assert_int_equal(pm_job_create(cat, &held, p, 2, "intake", &c), 0);
    assert_int_equal(pm_job_get(cat, c, &j), 0);
    assert_int_equal(j.duplicate_of, a);
    assert_int_equal(j.state, PM_JOB_HELD);
    assert_string_equal(j.hold_reason, "possible duplicate");
    pm_job_cleanup(&j);
    assert_int_equal(pm_job_cancel(cat, a, "operator:jane", "scanned twice"),
                     0);
    assert_int_equal(pm_job_find_duplicate(cat, p, 2, &dup), 0);
    assert_int_equal(dup, b);
    p[0].sha256 = "not hex";
    assert_int_equal(pm_job_find_duplicate(cat, p, 2, &dup), PM_EINVAL);
    pm_catalog_close(cat);
}

static void held_job_is_never_claimed(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_status_t s;
    pm_task_t t;
    int64_t id;

    (void)state;
    id = new_job(cat, 2, 1, "unknown work order");
    assert_int_equal(ct_job_state(cat, id), PM_JOB_HELD);
    assert_int_equal(pm_task_claim(cat, "w1", LEASE, T0, &t), PM_ENOENT);
    assert_int_equal(pm_task_claim(cat, "w1", LEASE, T0 + 999999, &t),
                     PM_ENOENT);
    assert_int_equal(pm_catalog_status(cat, T0, &s), 0);
    assert_int_equal(s.jobs_held, 1);
    assert_int_equal(s.queued_pages, 0); /* not waiting for workers */

    assert_int_equal(pm_job_release(cat, id, "operator:jane"), 0);
    assert_int_equal(pm_job_release(cat, id, "operator:jane"), PM_EINVAL);
    assert_non_null(strstr(pm_catalog_errmsg(cat), "held"));
    assert_int_equal(pm_job_release(cat, id + 1, "operator:jane"), PM_ENOENT);
    t = ct_claim(cat, "w1", T0);
    assert_int_equal(t.job, id);
    assert_int_equal(ct_job_state(cat, id), PM_JOB_RUNNING);
    pm_task_cleanup(&t);
    assert_int_equal(ct_count_events(cat, id, "job.released"), 1);
    assert_int_equal(ct_count_events(cat, id, "job.started"), 1);
    pm_catalog_close(cat);
}

/* ---- the queue ---- */

static void oldest_job_goes_first_among_equals(void **state)
{
    pm_catalog_t *cat = open_mem();
    int64_t old, young;

    (void)state;
    old = new_job(cat, 2, 1, NULL);
    young = new_job(cat, 2, 2, NULL);
    /* Nothing is running between claims: the oldest job wins each time
     * until it has nothing left, pages in order. */
    assert_int_equal(ct_claim_complete(cat, T0, 0), old);
    assert_int_equal(ct_claim_complete(cat, T0, 0), old);
    assert_int_equal(ct_claim_complete(cat, T0, 0), young);
    pm_catalog_close(cat);
}

/*
 * A 50-page job arrives first, a 3-page job second; two workers each
 * claim, then alternately complete and claim again. The small job must not
 * wait behind the big one: its pages interleave and it finishes within its
 * first six claims.
 */
static void claims_interleave_jobs_fairly(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_page_metrics_t m = ct_metrics(0);
    const char *owners[2] = {"w1", "w2"};
    pm_task_t held[2];
    int64_t big, small;
    int claims = 0, small_claims = 0, small_done_at = 0, last_page[3] = {0};
    int k, w;

    (void)state;
    big = new_job(cat, 50, 1, NULL);
    small = new_job(cat, 3, 2, NULL);
    for (w = 0; w < 2; w++) {
        held[w] = ct_claim(cat, owners[w], T0);
        claims++;
    }
    assert_int_equal(held[0].job, big); /* oldest first among equals */
    assert_int_equal(held[0].page, 1);
    assert_int_equal(held[1].job, small); /* big has one running now */
    small_claims = 1;
    for (k = 0; k < 20; k++) {
        w = k % 2;
        assert_int_equal(
            pm_task_complete(cat, held[w].id, held[w].attempts, &m, T0), 0);
        pm_task_cleanup(&held[w]);
        held[w] = ct_claim(cat, owners[w], T0);
        claims++;
        /* pages of each job go in order */
        assert_true(held[w].page > last_page[held[w].job == big ? 1 : 2]);
        last_page[held[w].job == big ? 1 : 2] = held[w].page;
        if (held[w].job == small && ++small_claims == 3)
            small_done_at = claims;
    }
    assert_true(small_done_at > 0);
    assert_true(small_done_at <= 6);
    pm_task_cleanup(&held[0]);
    pm_task_cleanup(&held[1]);
    pm_catalog_close(cat);
}

/*
 * Within the fair job order (fewest running, then oldest) a claim takes
 * the job's largest page by work estimate, the lower page among equals,
 * so each job's short pages come last. Two workers, each completing and
 * claiming again in turn.
 */
static void claims_take_the_largest_page_of_the_fair_job(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_page_metrics_t m = ct_metrics(0);
    const int64_t work_a[4] = {100, 400, 200, 400};
    const int64_t work_b[3] = {0, 900, 50};
    const char *owners[2] = {"w1", "w2"};
    pm_task_t held[2];
    int64_t a, b;
    /* (job: 0 = a, 1 = b; page) in claim order */
    const int want[7][2] = {{0, 2}, {1, 2}, {0, 4}, {1, 3},
                            {0, 3}, {1, 1}, {0, 1}};
    pm_task_t t;

    (void)state;
    a = new_job_work(cat, 4, 1, NULL, work_a);
    b = new_job_work(cat, 3, 2, NULL, work_b);
    for (int k = 0; k < 7; k++) {
        int w = k % 2;

        if (k >= 2) {
            assert_int_equal(
                pm_task_complete(cat, held[w].id, held[w].attempts, &m, T0), 0);
            pm_task_cleanup(&held[w]);
        }
        held[w] = ct_claim(cat, owners[w], T0);
        if (held[w].job != (want[k][0] ? b : a) || held[w].page != want[k][1])
            fail_msg("claim %d: job %lld page %d, want job %lld page %d", k + 1,
                     (long long)held[w].job, held[w].page,
                     (long long)(want[k][0] ? b : a), want[k][1]);
    }
    assert_int_equal(pm_task_claim(cat, "w3", LEASE, T0, &t), PM_ENOENT);
    pm_task_cleanup(&held[0]);
    pm_task_cleanup(&held[1]);
    pm_catalog_close(cat);
}

static void lapsed_lease_is_reclaimed_and_old_owner_fenced(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_page_metrics_t m = ct_metrics(0);
    pm_task_t a, b, *v;
    int64_t job;
    size_t n;

    (void)state;
    job = new_job(cat, 1, 1, NULL);
    a = ct_claim(cat, "w1", T0);
    assert_int_equal(a.attempts, 1);
    assert_int_equal(a.lease_until, T0 + LEASE);
    /* Still leased: nobody else may take it. */
    assert_int_equal(pm_task_claim(cat, "w2", LEASE, T0 + LEASE, &b),
                     PM_ENOENT);

    b = ct_claim(cat, "w2", T0 + LEASE + 1);
    assert_int_equal(b.id, a.id);
    assert_int_equal(b.attempts, 2);
    assert_int_equal(ct_count_events(cat, job, "page.reclaimed"), 1);

    /* The first owner comes back: everything it says is refused. */
    assert_int_equal(
        pm_task_complete(cat, a.id, a.attempts, &m, T0 + LEASE + 2), -ESTALE);
    assert_non_null(strstr(pm_catalog_errmsg(cat), "stale"));
    assert_int_equal(pm_task_renew(cat, a.id, a.attempts, LEASE, T0 + 62),
                     -ESTALE);
    assert_int_equal(pm_task_fail(cat, a.id, a.attempts, "x", 3, T0 + 62),
                     -ESTALE);
    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    assert_int_equal(v[0].state, PM_TASK_RUNNING);
    assert_string_equal(v[0].lease_owner, "w2");
    pm_task_list_free(v, n);

    assert_int_equal(
        pm_task_complete(cat, b.id, b.attempts, &m, T0 + LEASE + 3), 0);
    ct_finish(cat, job, T0 + 100);
    assert_int_equal(billable(cat, job, 1), 1);
    pm_task_cleanup(&a);
    pm_task_cleanup(&b);
    assert_int_equal(pm_task_complete(cat, 999, 1, &m, T0), PM_ENOENT);
    pm_catalog_close(cat);
}

static void second_completion_is_stale(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_page_metrics_t m = ct_metrics(0);
    pm_task_t t, *v;
    int64_t job;
    size_t n;

    (void)state;
    m.dpi_fallback = 2; /* estimated from the letters: kept as such */
    job = new_job(cat, 1, 1, NULL);
    t = ct_claim(cat, "w1", T0);
    assert_int_equal(pm_task_complete(cat, t.id, t.attempts, &m, T0 + 5), 0);
    assert_int_equal(pm_task_complete(cat, t.id, t.attempts, &m, T0 + 6),
                     -ESTALE);
    pm_task_cleanup(&t);

    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    assert_int_equal(v[0].state, PM_TASK_DONE);
    assert_int_equal(v[0].finished_at, T0 + 5);
    assert_int_equal(v[0].m.width, 2550);
    assert_int_equal(v[0].m.words, 312);
    assert_true(v[0].m.skew == 0.25);
    assert_string_equal(v[0].m.codec, "g4");
    assert_string_equal(v[0].m.image, "pages/0001.tif");
    assert_null(v[0].m.text);
    assert_int_equal(v[0].m.bytes, 48213);
    assert_int_equal(v[0].m.orient_osd, 1);
    assert_int_equal(v[0].m.dpi_fallback, 2);
    pm_task_list_free(v, n);
    ct_finish(cat, job, T0 + 10);
    assert_int_equal(billable(cat, job, 1), 1);
    pm_catalog_close(cat);
}

static void renew_extends_the_lease(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_task_t t, other;

    (void)state;
    new_job(cat, 1, 1, NULL);
    t = ct_claim(cat, "w1", T0);
    assert_int_equal(pm_task_renew(cat, t.id, t.attempts, LEASE, T0 + 50), 0);
    assert_int_equal(pm_task_claim(cat, "w2", LEASE, T0 + 100, &other),
                     PM_ENOENT);
    assert_int_equal(pm_task_renew(cat, t.id, t.attempts + 1, LEASE, T0 + 50),
                     -ESTALE);
    assert_int_equal(pm_task_renew(cat, 4242, 1, LEASE, T0), PM_ENOENT);
    other = ct_claim(cat, "w2", T0 + 111);
    assert_int_equal(other.attempts, 2);
    pm_task_cleanup(&other);
    pm_task_cleanup(&t);
    pm_catalog_close(cat);
}

static void fail_requeues_until_max_attempts(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_task_t t, *v;
    int64_t job;
    size_t n;
    int i;

    (void)state;
    job = new_job(cat, 1, 1, NULL);
    for (i = 1; i <= 3; i++) {
        t = ct_claim(cat, "w1", T0 + i);
        assert_int_equal(t.attempts, i);
        assert_int_equal(
            pm_task_fail(cat, t.id, t.attempts, "tesseract crashed", 3, T0 + i),
            0);
        pm_task_cleanup(&t);
        assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
        assert_int_equal(v[0].state, i < 3 ? PM_TASK_QUEUED : PM_TASK_FAILED);
        assert_string_equal(v[0].error, "tesseract crashed");
        assert_null(v[0].lease_owner);
        pm_task_list_free(v, n);
    }
    assert_int_equal(pm_task_claim(cat, "w1", LEASE, T0 + 9, &t), PM_ENOENT);
    assert_int_equal(ct_count_events(cat, job, "page.requeued"), 2);
    assert_int_equal(ct_count_events(cat, job, "page.failed"), 1);
    assert_int_equal(pm_task_fail(cat, 1, 3, "x", 0, T0), PM_EINVAL);
    pm_catalog_close(cat);
}

static void expired_leases_are_requeued_then_failed(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_task_t t, *v;
    int64_t job;
    size_t n;
    int count = -1;

    (void)state;
    job = new_job(cat, 2, 1, NULL);
    t = ct_claim(cat, "w1", T0);
    pm_task_cleanup(&t);
    assert_int_equal(pm_task_requeue_expired(cat, T0 + LEASE, 2, &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(pm_task_requeue_expired(cat, T0 + LEASE + 1, 2, &count),
                     0);
    assert_int_equal(count, 1);
    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    assert_int_equal(v[0].state, PM_TASK_QUEUED);
    assert_non_null(strstr(v[0].error, "lease of w1 expired"));
    pm_task_list_free(v, n);

    t = ct_claim(cat, "w2", T0 + 100); /* page 1 again, attempt 2 */
    assert_int_equal(t.page, 1);
    assert_int_equal(t.attempts, 2);
    pm_task_cleanup(&t);
    assert_int_equal(pm_task_requeue_expired(cat, T0 + 1000, 2, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    assert_int_equal(v[0].state, PM_TASK_FAILED);
    assert_int_equal(v[1].state, PM_TASK_QUEUED);
    pm_task_list_free(v, n);
    assert_int_equal(ct_count_events(cat, job, "page.requeued"), 1);
    assert_int_equal(ct_count_events(cat, job, "page.failed"), 1);
    pm_catalog_close(cat);
}

/* A new coordinator requeues every running lease at start, live or not,
 * with its own name on the events; the page was not at fault, so the
 * attempt does not count (max_attempts plays no part). */
static void requeue_all_running_ignores_the_lease(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_page_metrics_t m = ct_metrics(0);
    pm_task_t t, *v;
    int64_t job;
    size_t n;
    int count = -1;

    (void)state;
    job = new_job(cat, 3, 1, NULL);
    t = ct_claim(cat, "coordinator:a:1", T0);
    pm_task_cleanup(&t);
    t = ct_claim(cat, "coordinator:a:1", T0);
    assert_int_equal(pm_task_complete(cat, t.id, t.attempts, &m, T0), 0);
    pm_task_cleanup(&t);
    t = ct_claim(cat, "coordinator:a:1", T0); /* page 3, attempt 1 */
    pm_task_cleanup(&t);
    /* Leases are live until T0 + LEASE; requeue anyway. */
    assert_int_equal(
        pm_task_requeue_all_running(cat, "coordinator:b:2", T0 + 1, &count), 0);
    assert_int_equal(count, 2);
    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    assert_int_equal(v[0].state, PM_TASK_QUEUED);
    assert_int_equal(v[1].state, PM_TASK_DONE);
    assert_int_equal(v[2].state, PM_TASK_QUEUED);
    assert_non_null(strstr(v[0].error, "lease of coordinator:a:1 abandoned"));
    pm_task_list_free(v, n);
    assert_int_equal(ct_count_events(cat, job, "page.requeued"), 2);
    assert_int_equal(ct_count_events(cat, job, "page.failed"), 0);
    assert_int_equal(pm_task_requeue_all_running(cat, NULL, T0, &count),
                     PM_EINVAL);
    pm_catalog_close(cat);
}

/* A coordinator's restart requeues only coordinators' leases: a node
 * agent's page keeps running under its lease (renewed and completed at
 * its attempt); an agent's lapsed lease is left to the
 * lease expiry, which counts the attempt. */
static void requeue_all_running_spares_agents_leases(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_page_metrics_t m = ct_metrics(0);
    pm_task_t a, c, gone, *v;
    int64_t job;
    size_t n;
    int count = -1;

    (void)state;
    job = new_job(cat, 3, 1, NULL);
    a = ct_claim(cat, "agent:n1:10", T0);
    c = ct_claim(cat, "coordinator:a:1", T0);
    gone = ct_claim(cat, "agent:n2:20", T0 - 2 * LEASE); /* lapsed */
    assert_int_equal(
        pm_task_requeue_all_running(cat, "coordinator:b:2", T0 + 1, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    for (size_t i = 0; i < n; i++) {
        if (v[i].id == c.id)
            assert_int_equal(v[i].state, PM_TASK_QUEUED);
        else
            assert_int_equal(v[i].state, PM_TASK_RUNNING);
    }
    pm_task_list_free(v, n);
    assert_int_equal(ct_count_events(cat, job, "page.requeued"), 1);
    /* The live agent goes on: renewed, completed, billed once. */
    assert_int_equal(pm_task_renew(cat, a.id, a.attempts, LEASE, T0 + 2), 0);
    assert_int_equal(pm_task_complete(cat, a.id, a.attempts, &m, T0 + 3), 0);
    /* The dead agent's page comes back with the lease expiry. */
    assert_int_equal(pm_task_requeue_expired(cat, T0 + 4, 3, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    for (size_t i = 0; i < n; i++) {
        if (v[i].id == gone.id)
            assert_int_equal(v[i].state, PM_TASK_QUEUED);
        if (v[i].id == a.id)
            assert_int_equal(v[i].state, PM_TASK_DONE);
    }
    pm_task_list_free(v, n);
    pm_task_cleanup(&a);
    pm_task_cleanup(&c);
    pm_task_cleanup(&gone);
    pm_catalog_close(cat);
}

/* Coordinator restarts, however many, never use up a page's attempts:
 * with max_attempts 2, a page survives five restarts mid-page, each
 * abandoned attempt is fenced off, and the page completes. Its own
 * failures still count afterwards. */
static void coordinator_restarts_do_not_use_up_attempts(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_page_metrics_t m = ct_metrics(0);
    pm_task_t t, *v;
    char owner[32];
    int64_t job, now = T0;
    size_t n;
    int i, count, prev = 0;

    (void)state;
    job = new_job(cat, 2, 1, NULL);
    for (i = 1; i <= 5; i++) {
        snprintf(owner, sizeof(owner), "coordinator:%d", i);
        t = ct_claim(cat, owner, now++);
        assert_int_equal(t.page, 1);
        assert_true(t.attempts > prev); /* the token keeps growing */
        prev = t.attempts;
        pm_task_cleanup(&t);
        snprintf(owner, sizeof(owner), "coordinator:%d", i + 1);
        assert_int_equal(pm_task_requeue_all_running(cat, owner, now++, &count),
                         0);
        assert_int_equal(count, 1);
        assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
        assert_int_equal(v[0].state, PM_TASK_QUEUED);
        pm_task_list_free(v, n);
        /* An abandoned attempt's late result is refused. */
        assert_int_equal(pm_task_complete(cat, 1, prev, &m, now), -ESTALE);
    }
    assert_int_equal(ct_count_events(cat, job, "page.failed"), 0);

    /* The page's own failure counts: one requeue, then failed. */
    t = ct_claim(cat, "coordinator:6", now++);
    assert_int_equal(t.attempts, 6);
    assert_int_equal(
        pm_task_fail(cat, t.id, t.attempts, "worker crashed", 2, now++), 0);
    pm_task_cleanup(&t);
    t = ct_claim(cat, "coordinator:6", now++);
    assert_int_equal(t.page, 1);
    assert_int_equal(
        pm_task_fail(cat, t.id, t.attempts, "worker crashed", 2, now++), 0);
    pm_task_cleanup(&t);
    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    assert_int_equal(v[0].state, PM_TASK_FAILED);
    pm_task_list_free(v, n);

    /* Page 2: restarts, then it completes. */
    for (i = 0; i < 5; i++) {
        t = ct_claim(cat, "coordinator:6", now++);
        assert_int_equal(t.page, 2);
        pm_task_cleanup(&t);
        assert_int_equal(
            pm_task_requeue_all_running(cat, "coordinator:7", now++, &count),
            0);
    }
    t = ct_claim(cat, "coordinator:7", now++);
    assert_int_equal(t.page, 2);
    assert_int_equal(pm_task_complete(cat, t.id, t.attempts, &m, now++), 0);
    pm_task_cleanup(&t);
    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    assert_int_equal(v[1].state, PM_TASK_DONE);
    pm_task_list_free(v, n);
    pm_catalog_close(cat);
}

/* ---- finishing jobs ---- */

static void collect_finished_advances_jobs(void **state)
{
    pm_catalog_t *cat = open_mem();
    int64_t good, bad, *ids;
    pm_job_t j;
    size_t n;
    int i;

    (void)state;
    good = new_job(cat, 2, 1, NULL);
    bad = new_job(cat, 3, 2, NULL);
    for (i = 0; i < 2; i++)
        assert_int_equal(ct_claim_complete(cat, T0, 0), good);
    /* Nothing is finished while bad has pages left. */
    assert_int_equal(pm_job_collect_finished(cat, T0, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], good);
    pm_free(ids);
    assert_int_equal(ct_job_state(cat, bad), PM_JOB_QUEUED);

    assert_int_equal(ct_claim_complete(cat, T0, 0), bad);
    ct_claim_fail(cat, T0, "cannot decode: bad TIFF directory");
    assert_int_equal(ct_collect(cat, T0), 1); /* good stays assembling */
    assert_int_equal(ct_job_state(cat, bad), PM_JOB_RUNNING);
    ct_claim_fail(cat, T0, "page timeout");
    assert_int_equal(ct_collect(cat, T0), 1);

    assert_int_equal(pm_job_get(cat, bad, &j), 0);
    assert_int_equal(j.state, PM_JOB_FAILED);
    assert_int_equal(j.pages_done, 1);
    assert_int_equal(j.pages_failed, 2);
    assert_string_equal(j.error,
                        "page 2 (scan_0002.tif frame 1): cannot decode: bad "
                        "TIFF directory; page 3 (scan_0003.tif frame 1): page "
                        "timeout");
    pm_job_cleanup(&j);
    assert_int_equal(ct_count_events(cat, bad, "job.failed"), 1);

    /* finish/fail are fenced on assembling. */
    assert_int_equal(pm_job_finish(cat, bad, "/out", T0), PM_EINVAL);
    assert_int_equal(pm_job_fail(cat, bad, "x", T0), PM_EINVAL);
    assert_int_equal(pm_job_finish(cat, good, "/out/good", T0 + 5), 0);
    assert_int_equal(pm_job_get(cat, good, &j), 0);
    assert_int_equal(j.state, PM_JOB_DONE);
    assert_int_equal(j.finished_at, T0 + 5);
    assert_string_equal(j.output_path, "/out/good");
    pm_job_cleanup(&j);
    assert_int_equal(ct_collect(cat, T0), 0);
    assert_int_equal(pm_job_finish(cat, 999, "/out", T0), PM_ENOENT);
    pm_catalog_close(cat);
}

static void assembly_failure_fails_the_job(void **state)
{
    pm_catalog_t *cat = open_mem();
    int64_t job;
    pm_job_t j;

    (void)state;
    new_job(cat, 1, 1, NULL);
    job = ct_claim_complete(cat, T0, 0);
    assert_int_equal(ct_collect(cat, T0), 1);
    assert_int_equal(pm_job_fail(cat, job, "qpdf: disk full", T0), 0);
    assert_int_equal(pm_job_get(cat, job, &j), 0);
    assert_int_equal(j.state, PM_JOB_FAILED);
    assert_string_equal(j.error, "qpdf: disk full");
    pm_job_cleanup(&j);
    /* A retry with no failed pages goes straight back to assembly. */
    assert_int_equal(pm_job_retry(cat, job, "operator:jane"), 0);
    assert_int_equal(ct_collect(cat, T0), 1);
    ct_finish(cat, job, T0);
    assert_int_equal(billable(cat, job, 0), 1);
    pm_catalog_close(cat);
}

static void retry_requeues_only_failed_pages(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_page_metrics_t m = ct_metrics(0);
    pm_task_t t, *v;
    int64_t job;
    size_t n;

    (void)state;
    job = new_job(cat, 4, 1, NULL);
    ct_claim_complete(cat, T0, 0);      /* page 1 */
    ct_claim_fail(cat, T0, "bad page"); /* page 2 */
    ct_claim_complete(cat, T0, 0);      /* page 3 */
    ct_claim_fail(cat, T0, "bad page"); /* page 4 */
    ct_collect(cat, T0);
    assert_int_equal(ct_job_state(cat, job), PM_JOB_FAILED);
    assert_int_equal(pm_job_retry(cat, job, "operator:jane"), 0);
    assert_int_equal(pm_job_retry(cat, job, "operator:jane"), PM_EINVAL);
    assert_non_null(strstr(pm_catalog_errmsg(cat), "failed"));

    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    assert_int_equal(v[0].state, PM_TASK_DONE);
    assert_int_equal(v[1].state, PM_TASK_QUEUED);
    assert_null(v[1].error);
    assert_int_equal(v[2].state, PM_TASK_DONE);
    assert_int_equal(v[3].state, PM_TASK_QUEUED);
    pm_task_list_free(v, n);

    t = ct_claim(cat, "w1", T0 + 10);
    assert_int_equal(t.page, 2);
    /* A fresh attempt budget, but the fencing token keeps growing, so
     * the worker that failed attempt 1 can never complete attempt 2. */
    assert_int_equal(t.attempts, 2);
    assert_int_equal(pm_task_complete(cat, t.id, 1, &m, T0 + 10), -ESTALE);
    assert_int_equal(pm_task_fail(cat, t.id, t.attempts, "again", 1, T0), 0);
    pm_task_cleanup(&t);
    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    assert_int_equal(v[1].state, PM_TASK_FAILED); /* budget 1, used 1 */
    pm_task_list_free(v, n);

    ct_claim_complete(cat, T0, 0); /* page 4 */
    ct_collect(cat, T0);
    assert_int_equal(pm_job_retry(cat, job, "operator:jane"), 0);
    ct_claim_complete(cat, T0, 0); /* page 2 */
    ct_finish(cat, job, T0 + 20);
    assert_int_equal(billable(cat, job, 1), 4);
    assert_int_equal(ct_count_events(cat, job, "job.retried"), 2);
    pm_catalog_close(cat);
}

static void cancel_stops_everything(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_page_metrics_t m = ct_metrics(0);
    int64_t job, done_job;
    pm_task_t t;

    (void)state;
    job = new_job(cat, 3, 1, NULL);
    ct_claim_complete(cat, T0, 0);
    t = ct_claim(cat, "w1", T0);
    assert_int_equal(pm_job_cancel(cat, job, "operator:jane", "wrong box"), 0);
    assert_int_equal(ct_job_state(cat, job), PM_JOB_CANCELLED);
    /* The worker's late result is refused; nothing more is claimed. */
    assert_int_equal(pm_task_complete(cat, t.id, t.attempts, &m, T0), -ESTALE);
    pm_task_cleanup(&t);
    assert_int_equal(pm_task_claim(cat, "w1", LEASE, T0, &t), PM_ENOENT);
    assert_int_equal(ct_collect(cat, T0), 0);
    assert_int_equal(pm_job_cancel(cat, job, "operator:jane", NULL), PM_EINVAL);
    assert_int_equal(billable(cat, job, 1), 0);
    assert_int_equal(ct_count_events(cat, job, "job.cancelled"), 1);

    /* A done job can be cancelled too: its pages stop counting. */
    done_job = new_job(cat, 1, 2, NULL);
    ct_claim_complete(cat, T0, 0);
    ct_finish(cat, done_job, T0);
    assert_int_equal(billable(cat, 0, 1), 1);
    assert_int_equal(pm_job_cancel(cat, done_job, "operator:jane", NULL), 0);
    assert_int_equal(pm_job_cancel(cat, 999, "operator:jane", NULL), PM_ENOENT);
    assert_int_equal(billable(cat, 0, 1), 0);
    pm_catalog_close(cat);
}

/* ---- status and billing ---- */

static void billable_counts_done_jobs_and_honours_blank(void **state)
{
    pm_catalog_t *cat = open_mem();
    int64_t job, other;
    pm_job_t j;

    (void)state;
    job = new_job(cat, 4, 1, NULL);
    ct_claim_complete(cat, T0, 0);
    ct_claim_complete(cat, T0, 1); /* page 2 is blank */
    ct_claim_complete(cat, T0, 0);
    ct_claim_complete(cat, T0, 0);
    other = new_job(cat, 2, 2, NULL);
    ct_claim_complete(cat, T0, 0);
    ct_collect(cat, T0);
    assert_int_equal(billable(cat, job, 1), 0); /* assembling: not yet */
    assert_int_equal(pm_job_finish(cat, job, "/out/1", T0), 0);
    assert_int_equal(billable(cat, job, 0), 3);
    assert_int_equal(billable(cat, job, 1), 4);
    assert_int_equal(billable(cat, 0, 0), 3); /* `other` is not done */
    assert_int_equal(billable(cat, other, 1), 0);
    assert_int_equal(pm_job_get(cat, job, &j), 0);
    assert_int_equal(j.pages_blank, 1);
    assert_int_equal(j.pages_done, 4);
    pm_job_cleanup(&j);
    pm_catalog_close(cat);
}

static void status_reports_the_numbers(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_status_t s;
    pm_task_t t;
    int64_t done;

    (void)state;
    done = new_job(cat, 3, 1, NULL);
    ct_claim_complete(cat, T0 - 1000, 0); /* in the last hour */
    ct_claim_complete(cat, T0 - 100, 0);  /* in the last 5 minutes */
    ct_claim_complete(cat, T0 - 10, 0);
    ct_finish(cat, done, T0);
    new_job(cat, 4, 2, NULL);        /* page 1 running, 3 queued */
    new_job(cat, 2, 3, NULL);        /* page 1 failed, 1 queued */
    new_job(cat, 5, 4, "duplicate"); /* held: its pages are not waiting */
    t = ct_claim(cat, "w1", T0);
    pm_task_cleanup(&t);
    ct_claim_fail(cat, T0, "x"); /* the fairest claim is the third job's */

    assert_int_equal(pm_catalog_status(cat, T0, &s), 0);
    assert_int_equal(s.running_pages, 1);
    assert_int_equal(s.queued_pages, 3 + 1);
    assert_int_equal(s.jobs_done, 1);
    assert_int_equal(s.jobs_running, 2);
    assert_int_equal(s.jobs_queued, 0);
    assert_int_equal(s.jobs_held, 1);
    assert_int_equal(s.jobs_failed, 0);
    assert_int_equal(s.jobs_assembling, 0);
    assert_int_equal(s.pages_last_5min, 2);
    assert_int_equal(s.pages_last_60min, 3);
    assert_int_equal(pm_catalog_status(cat, T0 + 7200, &s), 0);
    assert_int_equal(s.pages_last_60min, 0);
    pm_catalog_close(cat);
}

/* ---- two connections racing for the queue ---- */

#define RACE_PAGES 120

typedef struct {
    const char *path, *owner;
    pthread_barrier_t *start;
    int pages[RACE_PAGES]; /* pages this claimer completed */
    int n, err;
} claimer_t;

/* One claimer on its own connection: claim and complete until the queue
 * is empty. No cmocka asserts here (not thread-safe); errors are kept. */
static void *claimer_run(void *arg)
{
    claimer_t *c = arg;
    const struct timespec work = {.tv_nsec = 200000}; /* 0.2 ms */
    pm_page_metrics_t m = ct_metrics(0);
    pm_catalog_t *cat = NULL;
    pm_task_t t;
    int err;

    c->err = pm_catalog_open(c->path, &cat);
    pthread_barrier_wait(c->start); /* both connections open: go */
    while (c->err == 0) {
        err = pm_task_claim(cat, c->owner, LEASE, T0, &t);
        if (err == PM_ENOENT)
            break;
        c->err = err;
        if (err == 0) {
            nanosleep(&work, NULL);
            c->err = pm_task_complete(cat, t.id, t.attempts, &m, T0);
            if (c->err == 0 && c->n < RACE_PAGES)
                c->pages[c->n++] = t.page;
            pm_task_cleanup(&t);
        }
    }
    pm_catalog_close(cat);
    return NULL;
}

/*
 * Two threads, each with its own connection to one file, drain a job:
 * BEGIN IMMEDIATE and the busy timeout must make every page go to exactly
 * one of them, with exactly one billable row each.
 */
static void concurrent_claimers_never_share_a_page(void **state)
{
    const char *path = shared_catalog();
    pthread_barrier_t start;
    claimer_t c[2] = {{.path = path, .owner = "w1", .start = &start},
                      {.path = path, .owner = "w2", .start = &start}};
    pthread_t th[2];
    int seen[RACE_PAGES + 1] = {0};
    pm_catalog_t *cat;
    int64_t job;
    int i, k;

    (void)state;
    assert_int_equal(pm_catalog_open(path, &cat), 0);
    job = new_job(cat, RACE_PAGES, 1, NULL);
    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    for (i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, claimer_run, &c[i]), 0);
    for (i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
    for (i = 0; i < 2; i++) {
        assert_int_equal(c[i].err, 0);
        for (k = 0; k < c[i].n; k++)
            seen[c[i].pages[k]]++;
    }
    if (getenv("PM_SHOW_PLAN") != NULL)
        printf("race: w1 did %d pages, w2 did %d\n", c[0].n, c[1].n);
    assert_int_equal(c[0].n + c[1].n, RACE_PAGES);
    for (k = 1; k <= RACE_PAGES; k++)
        assert_int_equal(seen[k], 1);
    ct_finish(cat, job, T0);
    assert_int_equal(billable(cat, job, 1), RACE_PAGES);
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/* ---- the claim stays cheap ---- */

/* Fails if `plan` scans a big table whole (an index SEARCH is fine). */
static void assert_no_full_scan(const char *name, const char *plan)
{
    static const char *const big[] = {"SCAN t\n", "SCAN page_tasks",
                                      "SCAN events", "SCAN b\n",
                                      "SCAN billable_pages"};
    size_t i;

    for (i = 0; i < sizeof(big) / sizeof(big[0]); i++)
        if (strstr(plan, big[i]) != NULL)
            fail_msg("%s scans a whole table:\n%s", name, plan);
}

static void claim_query_uses_the_index(void **state)
{
    static const char *const hot[] = {
        "claim_pick",   "claim_prev",     "claim_take",     "task_fence",
        "task_get",     "task_list",      "job_get",        "job_finished",
        "tasks_failed", "expired_events", "job_find_dup",   "status_pages",
        "billable_job", "billable_all",   "event_list_job",
    };
    pm_catalog_t *cat = open_mem();
    char *plan;
    size_t i;

    (void)state;
    assert_int_equal(pm__catalog_plan(cat, "claim_pick", &plan), 0);
    if (getenv("PM_SHOW_PLAN") != NULL)
        printf("claim_pick plan:\n%s", plan);
    assert_non_null(strstr(plan, "INDEX jobs_state (state=?)"));
    assert_non_null(strstr(plan, "INDEX page_tasks_claim (state=? AND job=?)"));
    pm_free(plan);
    for (i = 0; i < sizeof(hot) / sizeof(hot[0]); i++) {
        assert_int_equal(pm__catalog_plan(cat, hot[i], &plan), 0);
        if (getenv("PM_SHOW_PLAN") != NULL)
            printf("%s plan:\n%s", hot[i], plan);
        assert_no_full_scan(hot[i], plan);
        pm_free(plan);
    }
    assert_int_equal(pm__catalog_plan(cat, "nope", &plan), PM_ENOENT);
    pm_catalog_close(cat);
}

/*
 * 100k tasks: a big job almost done, plus other jobs. A claim must cost
 * about the same as with ten tasks: counted in SQLite VM steps (the same
 * on any machine), with no full-scan steps at all.
 */
static void claim_stays_cheap_with_100k_tasks(void **state)
{
    const char *path = temp_catalog();
    pm_catalog_t *cat;
    pm_task_t t;
    sqlite3 *db;
    int64_t big;
    int steps, i;

    (void)state;
    assert_int_equal(pm_catalog_open(path, &cat), 0);
    big = new_job(cat, 100000, 1, NULL);
    for (i = 0; i < 20; i++)
        new_job(cat, 10, 100 + (unsigned)i, NULL);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(raw_exec(db,
                              "UPDATE page_tasks SET state = 'done', "
                              "finished_at = 1 WHERE job = 1 AND page <= 99990",
                              NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    pm__catalog_stmt_counter(cat, "claim_pick", SQLITE_STMTSTATUS_VM_STEP, 1);
    pm__catalog_stmt_counter(cat, "claim_pick", SQLITE_STMTSTATUS_FULLSCAN_STEP,
                             1);
    t = ct_claim(cat, "w1", T0);
    assert_int_equal(t.job, big);
    assert_int_equal(t.page, 99991);
    pm_task_cleanup(&t);
    steps = pm__catalog_stmt_counter(cat, "claim_pick",
                                     SQLITE_STMTSTATUS_VM_STEP, 1);
    if (getenv("PM_SHOW_PLAN") != NULL)
        printf("claim_pick: %d VM steps over 100200 tasks, 21 jobs\n", steps);
    assert_true(steps > 0);
    assert_true(steps < 5000);
    assert_int_equal(pm__catalog_stmt_counter(
                         cat, "claim_pick", SQLITE_STMTSTATUS_FULLSCAN_STEP, 0),
                     0);
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/* ---- allocation failure ---- */

/*
 * Every allocation pm_catalog_open makes (SQLite's included) fails in
 * turn: each failure must be a clean negative code with *out NULL and all
 * memory given back. Goes on until 20 opens in a row succeed (an
 * allocation SQLite may lose without failing does not end the loop early).
 */
static void open_fails_cleanly_when_memory_runs_out(void **state)
{
    sqlite3_int64 base = sqlite3_memory_used();
    pm_catalog_t *cat;
    int n, rc, streak = 0, failures = 0, version;

    (void)state;
    ct_quiet();
    /* Every allocation point of the first 500 (opening, configuring, the
     * first migrations), then every 7th: each open costs all of them, so
     * stepping by one through the thousands of the later migrations and
     * statements would make this test quadratic for little more cover. */
    for (n = 1; streak < 20 && n < 200000; n += n < 500 ? 1 : 7) {
        cat = (pm_catalog_t *)&cat;
        pm_alloc_fail_at(n);
        rc = pm_catalog_open(":memory:", &cat);
        pm_alloc_fail_at(0);
        if (rc == 0) {
            streak++;
            assert_non_null(cat);
            assert_int_equal(pm_catalog_schema_version(cat, &version), 0);
            assert_int_equal(version, PM__CATALOG_SCHEMA_VERSION);
            pm_catalog_close(cat);
        } else {
            streak = 0;
            failures++;
            assert_true(rc < 0);
            assert_null(cat);
        }
        assert_int_equal(sqlite3_memory_used(), base);
    }
    ct_loud();
    if (getenv("PM_SHOW_PLAN") != NULL)
        printf("open: %d allocation points failed cleanly\n", failures);
    assert_true(failures > 50); /* SQLite's allocations were reached */
    assert_int_equal(streak, 20);
}

/*
 * The billing transaction under allocation failure: a failed
 * pm_task_complete leaves the page running and no billable row (else the
 * final, successful completion would hit the primary key).
 */
static void complete_is_all_or_nothing_when_memory_runs_out(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_page_metrics_t m = ct_metrics(0);
    pm_task_t t, *v;
    int64_t job;
    size_t nt;
    int n, rc = -1;

    (void)state;
    job = new_job(cat, 1, 1, NULL);
    t = ct_claim(cat, "w1", T0);
    for (n = 1; rc != 0 && n < 100000; n++) {
        pm_alloc_fail_at(n);
        rc = pm_task_complete(cat, t.id, t.attempts, &m, T0);
        pm_alloc_fail_at(0);
        if (rc == 0)
            break;
        assert_true(rc == PM_ENOMEM || rc == PM_ECATALOG);
        assert_int_equal(pm_task_list(cat, job, &v, &nt), 0);
        assert_int_equal(v[0].state, PM_TASK_RUNNING);
        pm_task_list_free(v, nt);
    }
    assert_int_equal(rc, 0);
    pm_task_cleanup(&t);
    ct_finish(cat, job, T0);
    assert_int_equal(billable(cat, job, 1), 1);
    pm_catalog_close(cat);
}

/* The same for job creation: all pages and the event, or nothing. */
static void job_create_is_all_or_nothing_when_memory_runs_out(void **state)
{
    pm_catalog_t *cat = open_mem();
    char sha_a[65], sha_b[65];
    pm_page_input_t p[3] = {
        {.src = "a.tif", .sha256 = sha_a},
        {.src = "a.tif", .frame = 1, .sha256 = sha_a},
        {.src = "b.tif", .sha256 = sha_b},
    };
    pm_job_t j = {.workorder = (char *)"WO-1"};
    pm_job_t *v;
    pm_task_t *t;
    int64_t id = 0;
    size_t nj, nt;
    int n, rc = -1;

    (void)state;
    memset(sha_a, 'a', 64);
    memset(sha_b, 'b', 64);
    sha_a[64] = sha_b[64] = '\0';
    for (n = 1; rc != 0 && n < 100000; n++) {
        pm_alloc_fail_at(n);
        rc = pm_job_create(cat, &j, p, 3, "intake", &id);
        pm_alloc_fail_at(0);
        if (rc == 0)
            break;
        assert_true(rc < 0);
        assert_int_equal(id, 0);
        assert_int_equal(pm_job_list(cat, -1, NULL, 0, &v, &nj), 0);
        assert_int_equal(nj, 0);
        pm_job_list_free(v, nj);
        assert_int_equal(ct_count_events(cat, 0, "job.created"), 0);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(pm_task_list(cat, id, &t, &nt), 0);
    assert_int_equal(nt, 3);
    pm_task_list_free(t, nt);
    assert_int_equal(ct_count_events(cat, id, "job.created"), 1);
    pm_catalog_close(cat);
}

/* ---- workers ---- */

/* A report replaces the coordinator's rows whole, leaves other
 * coordinators' alone, and an empty one clears them. */
static void worker_report_replaces_the_owners_rows(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_worker_info_t w[2] = {
        {.slot = 1,
         .pid = 11,
         .state = PM_WORKER_BUSY,
         .job = 4,
         .page = 7,
         .started_at = 100},
        {.slot = 2, .pid = 12, .state = PM_WORKER_IDLE, .started_at = 101}};
    pm_worker_info_t other = {
        .slot = 1, .pid = 99, .state = PM_WORKER_STARTING};
    pm_worker_info_t *v = NULL;
    size_t n = 9;

    (void)state;
    assert_int_equal(pm_worker_list(cat, &v, &n), 0);
    assert_int_equal(n, 0);
    pm_worker_list_free(v, n);
    assert_int_equal(pm_worker_report(cat, "coordinator:a:1", w, 2, 500), 0);
    assert_int_equal(pm_worker_report(cat, "coordinator:b:2", &other, 1, 400),
                     0);
    assert_int_equal(pm_worker_list(cat, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].owner, "coordinator:a:1");
    assert_int_equal(v[0].slot, 1);
    assert_int_equal(v[0].pid, 11);
    assert_int_equal(v[0].state, PM_WORKER_BUSY);
    assert_int_equal(v[0].job, 4);
    assert_int_equal(v[0].page, 7);
    assert_int_equal(v[0].started_at, 100);
    assert_int_equal(v[0].updated_at, 500);
    assert_int_equal(v[1].state, PM_WORKER_IDLE);
    assert_int_equal(v[1].job, 0);
    assert_int_equal(v[1].page, 0);
    assert_string_equal(v[2].owner, "coordinator:b:2");
    assert_int_equal(v[2].state, PM_WORKER_STARTING);
    assert_int_equal(v[2].updated_at, 400);
    pm_worker_list_free(v, n);

    /* A new report of a: one worker now (the other was replaced). */
    w[1].slot = 3;
    w[1].pid = 13;
    assert_int_equal(pm_worker_report(cat, "coordinator:a:1", &w[1], 1, 502),
                     0);
    assert_int_equal(pm_worker_list(cat, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].slot, 3);
    assert_int_equal(v[0].updated_at, 502);
    assert_string_equal(v[1].owner, "coordinator:b:2");
    pm_worker_list_free(v, n);

    /* A clean exit clears a's rows only. */
    assert_int_equal(pm_worker_report(cat, "coordinator:a:1", NULL, 0, 503), 0);
    assert_int_equal(pm_worker_list(cat, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].owner, "coordinator:b:2");
    pm_worker_list_free(v, n);
    assert_int_equal(pm_worker_report(cat, NULL, NULL, 0, 503), PM_EINVAL);
    assert_string_equal(pm_worker_state_name(PM_WORKER_BUSY), "busy");
    assert_string_equal(pm_worker_state_name(PM_WORKER_IDLE), "idle");
    assert_string_equal(pm_worker_state_name(PM_WORKER_STARTING), "starting");
    pm_worker_list_free(NULL, 0);
    pm_catalog_close(cat);
}

/* A report is one transaction: a duplicate slot fails it whole, and the
 * rows written before stay as they were. */
static void worker_report_is_all_or_nothing(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_worker_info_t w[2] = {{.slot = 1, .pid = 11, .state = PM_WORKER_IDLE},
                             {.slot = 1, .pid = 12, .state = PM_WORKER_IDLE}};
    pm_worker_info_t *v = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(pm_worker_report(cat, "c", w, 1, 10), 0);
    w[0].pid = 21;
    assert_int_equal(pm_worker_report(cat, "c", w, 2, 11), -EEXIST);
    assert_int_equal(pm_worker_list(cat, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].pid, 11);
    assert_int_equal(v[0].updated_at, 10);
    pm_worker_list_free(v, n);
    pm_catalog_close(cat);
}

/* A catalog at schema 1 gets every later migration on open: the workers
 * table (2), billing (3), identity (4) and review flags (5), its done jobs
 * billed in their UTC month. */
static void schema_1_catalog_is_migrated_to_the_latest(void **state)
{
    const char *path = temp_catalog();
    pm_catalog_t *cat;
    pm_worker_info_t w = {.slot = 1, .pid = 1, .state = PM_WORKER_IDLE};
    pm_job_t j;
    sqlite3 *db;
    int64_t job;
    int version = 0;

    (void)state;
    assert_int_equal(pm_catalog_open(path, &cat), 0);
    job = new_job(cat, 1, 1, NULL);
    ct_claim_complete(cat, T0, 0);
    ct_finish(cat, job, T0);
    pm_catalog_close(cat);
    /* Back to what a schema-1 build left. */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(raw_exec(db,
                              "DROP INDEX page_tasks_work; "
                              "ALTER TABLE page_tasks DROP COLUMN work; "
                              "DROP TABLE api_tokens; "
                              "DROP TABLE page_replacements; DROP INDEX "
                              "page_tasks_review; ALTER TABLE page_tasks "
                              "DROP COLUMN review; ALTER TABLE page_tasks "
                              "DROP COLUMN orient_method; ALTER TABLE "
                              "page_tasks DROP COLUMN orient_evidence; "
                              "DROP TRIGGER jobs_uid_new; DROP TRIGGER "
                              "jobs_uid_kept; DROP INDEX jobs_uid; "
                              "ALTER TABLE jobs DROP COLUMN uid; "
                              "ALTER TABLE jobs DROP COLUMN pdf_sha256; "
                              "ALTER TABLE jobs DROP COLUMN pdf_pages; "
                              "DROP TABLE workers; DROP TABLE billing_lines; "
                              "DROP TABLE billing_periods; DROP TABLE "
                              "billing_adjustments; DROP INDEX jobs_billing; "
                              "DROP INDEX jobs_source; DROP TABLE settings; "
                              "ALTER TABLE jobs DROP COLUMN billing_month; "
                              "ALTER TABLE jobs DROP COLUMN bill_blank; "
                              "ALTER TABLE fee_codes DROP COLUMN created_at; "
                              "ALTER TABLE page_tasks DROP COLUMN orient_osd; "
                              "ALTER TABLE page_tasks DROP COLUMN "
                              "dpi_fallback; "
                              "DELETE FROM schema_migrations WHERE version "
                              ">= 2",
                              NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(pm_catalog_open(path, &cat), 0);
    assert_int_equal(pm_catalog_schema_version(cat, &version), 0);
    assert_int_equal(version, PM__CATALOG_SCHEMA_VERSION);
    assert_int_equal(pm_worker_report(cat, "c", &w, 1, 1), 0);
    assert_int_equal(pm_job_get(cat, job, &j), 0);
    assert_string_equal(j.billing_month, "1970-01"); /* T0, UTC */
    pm_job_cleanup(&j);
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/* Identity: one installation id per catalog, kept across opens; a uid
 * per job, distinct and fixed; a finish records the PDF's checksum. */
static void catalog_and_jobs_have_identities(void **state)
{
    const char *path = temp_catalog();
    char id[PM_CATALOG_ID_SIZE], again[PM_CATALOG_ID_SIZE];
    char other[PM_CATALOG_ID_SIZE], u1[PM_CATALOG_ID_SIZE];
    char u2[PM_CATALOG_ID_SIZE], sha64[65];
    pm_catalog_t *cat, *mem = open_mem();
    int64_t a, b, n = -1;
    sqlite3 *db;

    (void)state;
    assert_int_equal(pm_catalog_open(path, &cat), 0);
    assert_int_equal(pm_catalog_installation_id(cat, id), 0);
    assert_int_equal(strlen(id), 32);
    assert_int_equal(pm_catalog_job_count(cat, &n), 0);
    assert_int_equal(n, 0);
    a = new_job(cat, 1, 1, NULL);
    b = new_job(cat, 1, 2, NULL);
    assert_int_equal(pm_catalog_job_count(cat, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(pm_job_uid(cat, a, u1), 0);
    assert_int_equal(pm_job_uid(cat, b, u2), 0);
    assert_string_not_equal(u1, u2);
    assert_int_equal(pm_job_uid(cat, 999, u2), PM_ENOENT);
    ct_claim_complete(cat, T0, 0);
    ct_collect(cat, T0);
    memset(sha64, 'a', 64);
    sha64[64] = '\0';
    assert_int_equal(pm_job_finish_doc(cat, a, "/out/1", sha64, 1, T0), 0);
    pm_catalog_close(cat);

    assert_int_equal(pm_catalog_open(path, &cat), 0);
    assert_int_equal(pm_catalog_installation_id(cat, again), 0);
    assert_string_equal(id, again);
    assert_int_equal(pm_job_uid(cat, a, u2), 0);
    assert_string_equal(u1, u2);
    pm_catalog_close(cat);
    assert_int_equal(pm_catalog_installation_id(mem, other), 0);
    assert_string_not_equal(id, other);
    pm_catalog_close(mem);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(raw_int(db, "SELECT pdf_pages FROM jobs WHERE id = 1"), 1);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM jobs WHERE pdf_sha256 "
                                 "= printf('%.64c', 'a')"),
                     1);
    /* A uid is never changed, not even from the shell. */
    assert_int_not_equal(raw_exec(db,
                                  "UPDATE jobs SET uid = "
                                  "'00000000000000000000000000000000'",
                                  NULL),
                         SQLITE_OK);
    sqlite3_close(db);
    t_tmpdir_cleanup();
}

/* quick_check: clean on a new catalog. */
static void quick_check_passes_a_sound_catalog(void **state)
{
    pm_catalog_t *cat = open_mem();
    char *report = NULL;
    int ok = 0;

    (void)state;
    new_job(cat, 3, 1, NULL);
    assert_int_equal(pm_catalog_quick_check(cat, &ok, &report), 0);
    assert_int_equal(ok, 1);
    assert_string_equal(report, "ok");
    pm_free(report);
    pm_catalog_close(cat);
}

static void billing_queries_use_indexes(void **state)
{
    static const char *const names[] = {"bill_open", "bill_frozen",
                                        "job_billed", "job_adj_open"};
    pm_catalog_t *cat = open_mem();
    char *plan;

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_int_equal(pm__catalog_plan(cat, names[i], &plan), 0);
        assert_no_full_scan(names[i], plan);
        if (strstr(plan, "SCAN j\n") || strstr(plan, "SCAN jobs") ||
            strstr(plan, "SCAN d\n") || strstr(plan, "SCAN billing_lines"))
            fail_msg("%s scans a whole table:\n%s", names[i], plan);
        pm_free(plan);
    }
    pm_catalog_close(cat);
}

/* ---- the PostgreSQL backend ---- */

/* Runs `sql` on a connection of our own; returns the error text ("" on
 * success), a new string. */
static char *pg_raw(const char *url, const char *sql)
{
    PGconn *conn = PQconnectdb(url);
    PGresult *r;
    char *msg;

    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    r = PQexec(conn, sql);
    msg = strdup(PQresultStatus(r) == PGRES_COMMAND_OK ||
                         PQresultStatus(r) == PGRES_TUPLES_OK
                     ? ""
                     : PQresultErrorMessage(r));
    assert_non_null(msg);
    PQclear(r);
    PQfinish(conn);
    return msg;
}

static void pg_open_applies_every_migration_once(void **state)
{
    pm_catalog_t *cat, *again;
    char url[256];
    int version = -1;

    (void)state;
    ct_pg_fresh(url, sizeof(url));
    assert_int_equal(pm_catalog_open(url, &cat), 0);
    assert_string_equal(pm_catalog_backend_name(cat), "PostgreSQL");
    assert_int_equal(pm_catalog_schema_version(cat, &version), 0);
    assert_int_equal(version, PM__CATALOG_SCHEMA_VERSION);
    ct_add_account(cat, "CITY");

    /* A second handle, while the first is open, applies nothing. */
    assert_int_equal(pm_catalog_open(url, &again), 0);
    assert_int_equal(pm_catalog_schema_version(again, &version), 0);
    assert_int_equal(version, PM__CATALOG_SCHEMA_VERSION);
    assert_int_equal(ct_count_events(again, 0, "account.added"), 1);
    pm_catalog_close(again);
    pm_catalog_close(cat);
    pm_catalog_close(NULL);
}

/* The same migrations in both dialects: every table and column of the
 * SQLite schema exists in PostgreSQL, and nothing more. */
static void pg_schema_has_sqlite_tables_and_columns(void **state)
{
    const char *path = temp_catalog();
    char url[256], *lite = NULL, *pgs = NULL, *err;
    pm_catalog_t *cat;
    sqlite3 *db;
    sqlite3_stmt *st;
    PGconn *conn;
    PGresult *r;
    size_t len = 0;

    (void)state;
    assert_int_equal(pm__sqlite_open(path, &cat), 0);
    pm_catalog_close(cat);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT group_concat(t || '.' || c, ' ') FROM "
                           "(SELECT m.name t, p.name c FROM sqlite_master m, "
                           "pragma_table_info(m.name) p WHERE m.type = "
                           "'table' AND m.name NOT LIKE 'sqlite%' ORDER BY "
                           "1, 2)",
                           -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    lite = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    t_tmpdir_cleanup();

    ct_pg_fresh(url, sizeof(url));
    assert_int_equal(pm_catalog_open(url, &cat), 0);
    pm_catalog_close(cat);
    conn = PQconnectdb(url);
    r = PQexec(conn, "SELECT string_agg(t || '.' || c, ' ' ORDER BY t, c) "
                     "FROM (SELECT table_name::text COLLATE \"C\" t, "
                     "column_name::text COLLATE \"C\" c FROM "
                     "information_schema.columns WHERE table_schema = "
                     "'public') x");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    pgs = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(conn);
    assert_non_null(lite);
    assert_non_null(pgs);
    len = strlen(lite);
    assert_true(len > 1000); /* every table, not an empty answer */
    assert_string_equal(pgs, lite);
    free(lite);
    free(pgs);

    /* And the append-only triggers came along (they fire per row). */
    err = pg_raw(url, "INSERT INTO events (at, actor, kind) VALUES (1, "
                      "'operator:jane', 'note')");
    assert_string_equal(err, "");
    free(err);
    err = pg_raw(url, "UPDATE events SET detail = 'rewritten'");
    assert_non_null(strstr(err, "append-only"));
    free(err);
    err = pg_raw(url, "DELETE FROM events");
    assert_non_null(strstr(err, "append-only"));
    free(err);
}

/* pm_event_list's filter and limit, without jobs (not implemented yet
 * in PostgreSQL): an unknown job is refused by the foreign key. */
static void pg_events_list_and_limit(void **state)
{
    pm_catalog_t *cat = open_mem();
    pm_event_t *ev;
    size_t n;

    (void)state;
    assert_int_equal(pm_event_add(cat, "a", "one", 0, 0, NULL), 0);
    assert_int_equal(pm_event_add(cat, "a", "two", 0, 0, "x"), 0);
    assert_int_equal(pm_event_add(cat, "a", "three", 0, 0, NULL), 0);
    assert_int_equal(pm_event_add(cat, "a", "bad", 100, 0, NULL), PM_ENOENT);
    assert_non_null(strstr(pm_catalog_errmsg(cat), "no job 100"));
    assert_int_equal(pm_event_add(cat, NULL, "x", 0, 0, NULL), PM_EINVAL);

    assert_int_equal(pm_event_list(cat, 0, 2, &ev, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].kind, "two");
    assert_string_equal(ev[0].detail, "x");
    assert_string_equal(ev[1].kind, "three");
    assert_null(ev[1].detail);
    assert_true(ev[0].id < ev[1].id && ev[1].at > 0);
    pm_event_list_free(ev, n);
    assert_int_equal(pm_event_list(cat, 0, 0, &ev, &n), 0);
    assert_int_equal(n, 3);
    pm_event_list_free(ev, n);
    assert_int_equal(pm_event_list(cat, 7, 0, &ev, &n), 0);
    assert_int_equal(n, 0);
    assert_null(ev);
    pm_catalog_close(cat);
}

/* Installation id and job uids, as on SQLite: fixed, random, distinct,
 * kept across opens; a uid cannot be changed, not even by hand. */
static void pg_catalog_and_jobs_have_identities(void **state)
{
    char id[PM_CATALOG_ID_SIZE], again[PM_CATALOG_ID_SIZE];
    char other[PM_CATALOG_ID_SIZE], u1[PM_CATALOG_ID_SIZE];
    char u2[PM_CATALOG_ID_SIZE], url[256], *err;
    pm_catalog_t *cat, *mem = open_mem();
    int64_t a, b, n = -1;

    (void)state;
    ct_pg_fresh(url, sizeof(url));
    assert_int_equal(pm_catalog_open(url, &cat), 0);
    assert_int_equal(pm_catalog_installation_id(cat, id), 0);
    assert_int_equal(strlen(id), 32);
    assert_int_equal(pm_catalog_job_count(cat, &n), 0);
    assert_int_equal(n, 0);
    a = new_job(cat, 1, 1, NULL);
    b = new_job(cat, 1, 2, NULL);
    assert_int_equal(pm_catalog_job_count(cat, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(pm_job_uid(cat, a, u1), 0);
    assert_int_equal(strspn(u1, "0123456789abcdef"), 32);
    assert_int_equal(pm_job_uid(cat, b, u2), 0);
    assert_string_not_equal(u1, u2);
    assert_int_equal(pm_job_uid(cat, 999, u2), PM_ENOENT);
    pm_catalog_close(cat);

    assert_int_equal(pm_catalog_open(url, &cat), 0);
    assert_int_equal(pm_catalog_installation_id(cat, again), 0);
    assert_string_equal(id, again);
    assert_int_equal(pm_job_uid(cat, a, u2), 0);
    assert_string_equal(u1, u2);
    pm_catalog_close(cat);
    assert_int_equal(pm_catalog_installation_id(mem, other), 0);
    assert_string_not_equal(id, other);
    pm_catalog_close(mem);

    err = pg_raw(url, "UPDATE jobs SET uid = "
                      "'00000000000000000000000000000000'");
    assert_non_null(strstr(err, "a job keeps its uid"));
    free(err);
}

/* One coordinator per database: a session advisory lock, whose holder
 * is named; released when its handle closes. */
static void pg_coordinator_lock_is_exclusive(void **state)
{
    struct timespec tick = {0, 20 * 1000 * 1000};
    pm_catalog_t *a, *b;
    char url[256];
    long holder = -1;
    int err = -EBUSY;

    (void)state;
    ct_pg_fresh(url, sizeof(url));
    assert_int_equal(pm_catalog_open(url, &a), 0);
    assert_int_equal(pm_catalog_open(url, &b), 0);
    assert_int_equal(pm_catalog_lock_coordinator(a, &holder), 0);
    assert_int_equal(holder, 0);
    assert_int_equal(pm_catalog_lock_coordinator(a, &holder), 0); /* held */
    assert_int_equal(pm_catalog_lock_coordinator(b, &holder), -EBUSY);
    assert_int_equal(holder, (long)getpid());
    assert_non_null(strstr(pm_catalog_errmsg(b), "another coordinator"));
    pm_catalog_close(a);
    /* The server lets go when a's session has ended, which it learns a
     * little after the close returns: poll, generously. */
    for (int i = 0; i < 3000 && err != 0; i++) {
        err = pm_catalog_lock_coordinator(b, &holder);
        if (err == -EBUSY)
            nanosleep(&tick, NULL);
    }
    assert_int_equal(err, 0);
    assert_int_equal(holder, 0);
    pm_catalog_close(b);
}

/* Both backends implement every operation of the catalog: nothing
 * refuses a PostgreSQL catalog for a missing one (a new operation added
 * to one backend only fails here). */
static void pg_has_every_operation(void **state)
{
    (void)state;
    assert_null(pm_catalog_backend_missing("postgresql://db.example/pm"));
    assert_null(pm_catalog_backend_missing("postgres://x/y"));
    assert_null(pm_catalog_backend_missing("pagemill.db"));
    assert_null(pm_catalog_backend_missing(":memory:"));
}

/* Runs `sql` (with one %lld for `id`) on a connection of our own and
 * asserts it worked. */
static void pg_must(const char *url, const char *sql, int64_t id)
{
    char buf[256], *err;

    snprintf(buf, sizeof(buf), sql, (long long)id);
    err = pg_raw(url, buf);
    if (*err != '\0')
        fail_msg("%s: %s", buf, err);
    free(err);
}

/* Runs one of the checks; returns its report (pm_free), *ok its verdict. */
static char *pg_check_report(pm_catalog_t *cat, int quick, int *ok)
{
    char *report = NULL;

    *ok = -1;
    assert_int_equal(quick ? pm_catalog_quick_check(cat, ok, &report)
                           : pm_catalog_check(cat, ok, &report),
                     0);
    assert_non_null(report);
    return report;
}

/* Asserts the check's report holds `want` (a finding, "%lld" its job)
 * and its verdict is "not ok". */
static void pg_check_finds(pm_catalog_t *cat, int quick, const char *want,
                           int64_t job)
{
    char line[160], *report;
    int ok;

    snprintf(line, sizeof(line), want, (long long)job);
    report = pg_check_report(cat, quick, &ok);
    assert_int_equal(ok, 0);
    if (strstr(report, line) == NULL)
        fail_msg("%s check: no \"%s\" in:\n%s", quick ? "quick" : "full", line,
                 report);
    pm_free(report);
}

/* PostgreSQL's checks are the catalog's invariants (pg_check.c): clean on
 * a sound catalog, with amcheck verifying the indexes when installed;
 * each broken invariant is reported by job and page, the cheap ones by
 * the quick check too, and never as an error. */
static void pg_checks_find_broken_invariants(void **state)
{
    pm_catalog_t *cat;
    int64_t a, b;
    char url[256], *report;
    pm_task_t t;
    int ok;

    (void)state;
    ct_pg_fresh(url, sizeof(url));
    assert_int_equal(pm_catalog_open(url, &cat), 0);
    a = new_job(cat, 2, 1, NULL);
    ct_claim_complete(cat, T0, 0);
    ct_claim_complete(cat, T0, 0);
    b = new_job(cat, 1, 2, NULL);
    t = ct_claim(cat, "w1", T0);
    pm_task_cleanup(&t);
    pg_must(url, "CREATE EXTENSION amcheck", 0);
    for (int quick = 0; quick < 2; quick++) {
        report = pg_check_report(cat, quick, &ok);
        assert_int_equal(ok, 1);
        assert_string_equal(report, "ok");
        pm_free(report);
    }

    pg_must(url, "DELETE FROM billable_pages WHERE job = %lld AND page = 2", a);
    pg_must(url, "UPDATE jobs SET state = 'failed' WHERE id = %lld", b);
    for (int quick = 0; quick < 2; quick++) {
        pg_check_finds(cat, quick,
                       "job %lld page 2 is done but has no "
                       "billable row",
                       a);
        pg_check_finds(cat, quick,
                       "job %lld page 1 is running but the job "
                       "is failed",
                       b);
    }
    /* Only the full check counts a job's pages. */
    pg_must(url, "UPDATE jobs SET pages = 5 WHERE id = %lld", a);
    pg_check_finds(cat, 0, "job %lld has 5 pages but 2 page rows", a);
    report = pg_check_report(cat, 1, &ok);
    assert_null(strstr(report, "page rows"));
    pm_free(report);
    pg_must(url,
            "INSERT INTO schema_migrations (version, applied_at) "
            "VALUES (%lld, 0)",
            PM__CATALOG_SCHEMA_VERSION + 1);
    pg_check_finds(cat, 1, "schema version %lld with",
                   PM__CATALOG_SCHEMA_VERSION + 1);
    pm_catalog_close(cat);
}

/* A server that is not there: the open fails, logs, and leaks nothing. */
static void pg_open_fails_cleanly_without_a_server(void **state)
{
    pm_catalog_t *cat = NULL;
    char url[128];

    (void)state;
    ct_quiet();
    snprintf(url, sizeof(url),
             "postgresql://postgres:secret@127.0.0.1:%d/none"
             "?connect_timeout=5",
             ct_pg.port == 1 ? 2 : 1); /* nothing listens there */
    assert_int_equal(pm_catalog_open(url, &cat), PM_ECATALOG);
    assert_null(cat);
    ct_loud();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fresh_open_applies_every_migration),
        cmocka_unit_test(connection_has_the_promised_settings),
        cmocka_unit_test(reopen_keeps_data_and_applies_nothing),
        cmocka_unit_test(newer_schema_is_refused),
        cmocka_unit_test(events_are_append_only),
        cmocka_unit_test(event_list_filters_and_limits),
        cmocka_unit_test(accounts_add_get_list),
        cmocka_unit_test(workorders_add_get_list_close),
        cmocka_unit_test(job_create_records_pages_and_event),
        cmocka_unit_test(job_create_refuses_bad_input),
        cmocka_unit_test(job_list_filters),
        cmocka_unit_test(duplicates_found_by_checksum),
        cmocka_unit_test(held_job_is_never_claimed),
        cmocka_unit_test(oldest_job_goes_first_among_equals),
        cmocka_unit_test(claims_interleave_jobs_fairly),
        cmocka_unit_test(claims_take_the_largest_page_of_the_fair_job),
        cmocka_unit_test(lapsed_lease_is_reclaimed_and_old_owner_fenced),
        cmocka_unit_test(second_completion_is_stale),
        cmocka_unit_test(renew_extends_the_lease),
        cmocka_unit_test(fail_requeues_until_max_attempts),
        cmocka_unit_test(expired_leases_are_requeued_then_failed),
        cmocka_unit_test(requeue_all_running_ignores_the_lease),
        cmocka_unit_test(requeue_all_running_spares_agents_leases),
        cmocka_unit_test(coordinator_restarts_do_not_use_up_attempts),
        cmocka_unit_test(collect_finished_advances_jobs),
        cmocka_unit_test(assembly_failure_fails_the_job),
        cmocka_unit_test(retry_requeues_only_failed_pages),
        cmocka_unit_test(cancel_stops_everything),
        cmocka_unit_test(billable_counts_done_jobs_and_honours_blank),
        cmocka_unit_test(status_reports_the_numbers),
        cmocka_unit_test(concurrent_claimers_never_share_a_page),
        cmocka_unit_test(claim_query_uses_the_index),
        cmocka_unit_test(claim_stays_cheap_with_100k_tasks),
        cmocka_unit_test(open_fails_cleanly_when_memory_runs_out),
        cmocka_unit_test(coordinator_lock_is_exclusive),
        cmocka_unit_test(complete_is_all_or_nothing_when_memory_runs_out),
        cmocka_unit_test(job_create_is_all_or_nothing_when_memory_runs_out),
        cmocka_unit_test(worker_report_replaces_the_owners_rows),
        cmocka_unit_test(worker_report_is_all_or_nothing),
        cmocka_unit_test(schema_1_catalog_is_migrated_to_the_latest),
        cmocka_unit_test(catalog_and_jobs_have_identities),
        cmocka_unit_test(quick_check_passes_a_sound_catalog),
        cmocka_unit_test(billing_queries_use_indexes),
    };
    /* The backend-independent tests of what PostgreSQL implements, and
     * its own. */
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(pg_open_applies_every_migration_once),
        cmocka_unit_test(pg_schema_has_sqlite_tables_and_columns),
        cmocka_unit_test(pg_events_list_and_limit),
        cmocka_unit_test(accounts_add_get_list),
        cmocka_unit_test(workorders_add_get_list_close),
        cmocka_unit_test(event_list_filters_and_limits),
        cmocka_unit_test(job_create_refuses_bad_input),
        cmocka_unit_test(job_list_filters),
        cmocka_unit_test(duplicates_found_by_checksum),
        cmocka_unit_test(job_create_records_pages_and_event),
        cmocka_unit_test(held_job_is_never_claimed),
        cmocka_unit_test(oldest_job_goes_first_among_equals),
        cmocka_unit_test(claims_interleave_jobs_fairly),
        cmocka_unit_test(claims_take_the_largest_page_of_the_fair_job),
        cmocka_unit_test(lapsed_lease_is_reclaimed_and_old_owner_fenced),
        cmocka_unit_test(second_completion_is_stale),
        cmocka_unit_test(renew_extends_the_lease),
        cmocka_unit_test(fail_requeues_until_max_attempts),
        cmocka_unit_test(expired_leases_are_requeued_then_failed),
        cmocka_unit_test(requeue_all_running_ignores_the_lease),
        cmocka_unit_test(requeue_all_running_spares_agents_leases),
        cmocka_unit_test(coordinator_restarts_do_not_use_up_attempts),
        cmocka_unit_test(collect_finished_advances_jobs),
        cmocka_unit_test(assembly_failure_fails_the_job),
        cmocka_unit_test(retry_requeues_only_failed_pages),
        cmocka_unit_test(cancel_stops_everything),
        cmocka_unit_test(billable_counts_done_jobs_and_honours_blank),
        cmocka_unit_test(status_reports_the_numbers),
        cmocka_unit_test(worker_report_replaces_the_owners_rows),
        cmocka_unit_test(worker_report_is_all_or_nothing),
        cmocka_unit_test(concurrent_claimers_never_share_a_page),
        cmocka_unit_test(pg_catalog_and_jobs_have_identities),
        cmocka_unit_test(pg_coordinator_lock_is_exclusive),
        cmocka_unit_test(pg_has_every_operation),
        cmocka_unit_test(pg_open_fails_cleanly_without_a_server),
        cmocka_unit_test(fresh_open_applies_every_migration),
        cmocka_unit_test(quick_check_passes_a_sound_catalog),
        cmocka_unit_test(pg_checks_find_broken_invariants),
    };
    pm_catalog_t *cat = NULL;
    int failed;

    /* Before SQLite starts: its memory through pm_malloc, then one open
     * so that SQLite's lasting global allocations are made up front. */
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &pm_sqlite_mem) != SQLITE_OK ||
        pm_catalog_open(":memory:", &cat) != 0) {
        fprintf(stderr, "test_catalog: cannot set up SQLite\n");
        return 1;
    }
    pm_catalog_close(cat);
    failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name(
        "postgresql", pg_tests, ct_pg_group_setup, ct_pg_group_teardown);
    return failed;
}
