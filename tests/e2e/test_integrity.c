/*
 * test_integrity.c: `pagemill serve` never publishes the wrong document
 * and never runs on the wrong or a damaged catalog. The real binary and
 * workers in a temp root (tests/lib/servelib.h); the catalog, the spool
 * and the output are damaged the way operators and disks damage them.
 *
 * Covered: a job whose job-<id>/ folder already holds another document
 * fails, naming the folder, and that folder is left byte for byte (then
 * moved away, a retry publishes); a folder published before a crash is
 * recorded only when its report names the job and its PDF matches; a
 * deleted, an emptied (0 bytes) and a replaced catalog, and a folder
 * marked by another catalog, refuse the start with nothing moved; a
 * catalog with jobs and folders without markers (an upgrade) gets its
 * markers; a catalog with a damaged b-tree page refuses the start, and
 * one damaged while the service runs stops it (exit 1); `status --check`
 * reports a batch orphaned in the spool; a second service on a catalog
 * another one runs on is refused.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define DEADLINE_S   90.0 /* for anything the service should do */
#define PAGE_TIMEOUT 60
#define MARKER       ".pagemill-catalog"

/* ---- batches and files ---- */

/* A batch of `n` pages in the scans hot folder, marker last; each page
 * names its batch and number, so no batch is another's duplicate. */
static void drop_batch(const sv_fx_t *f, const char *name, int n)
{
    char dir[512], path[600], line[64];
    const char *const text[] = {name, line, NULL};

    snprintf(dir, sizeof(dir), "%s/%s", f->scans, name);
    assert_int_equal(pm_mkdir_p(dir), 0);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/p%02d.tif", dir, i + 1);
        snprintf(line, sizeof(line), "page %d", i + 1);
        sv_page(path, text);
    }
    snprintf(path, sizeof(path), "%s/batch.ini", dir);
    sv_write_text(path, "account = ACME\n");
}

/* out/ACME/WO-1/job-<id>[/job-<id>.<ext>] into buf[600]. */
static const char *job_path(const sv_fx_t *f, long long id, const char *ext,
                            char *buf)
{
    if (ext == NULL)
        snprintf(buf, 600, "%s/ACME/WO-1/job-%lld", f->out, id);
    else
        snprintf(buf, 600, "%s/ACME/WO-1/job-%lld/data/job-%lld.%s", f->out, id,
                 id, ext);
    return buf;
}

/* Every file under the root's spool, output and hot folder, with its
 * size: what "nothing moved" compares. Caller frees. */
static char *tree(const sv_fx_t *f)
{
    char *out = NULL;

    assert_int_equal(t_run(&out,
                           "cd '%s' && find spool out hot -printf '%%p %%s\\n' "
                           "2>/dev/null | sort",
                           f->root),
                     0);
    return out;
}

/* Waits until the service's log holds `text`. */
static void wait_log(const sv_fx_t *f, const char *text)
{
    sv_wait_log(f, text, DEADLINE_S);
}

/* The log holds `text`. */
static void assert_log(const sv_fx_t *f, const char *text)
{
    char *log = t_slurp(f->log);

    assert_non_null(log);
    if (strstr(log, text) == NULL)
        fail_msg("the log does not say '%s':\n%s", text, log);
    free(log);
}

/* The error of job `id`, as `job show` gives it (caller frees). */
static char *job_error(const sv_fx_t *f, long long id)
{
    char args[64], *err;
    json_t *j;

    snprintf(args, sizeof(args), "job show %lld", id);
    j = sv_cli_json(f, args);
    err = strdup(sv_jstr(j, "error"));
    json_decref(j);
    return err;
}

/* Runs SQL on the catalog file directly, as from the sqlite3 shell. */
static void raw_sql(const sv_fx_t *f, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* Starts the service and waits until it has exited on its own; returns
 * its exit status. */
static int start_refused(sv_fx_t *f)
{
    int st;

    sv_start(f);
    st = sv_reap(f, DEADLINE_S);
    if (st == -1)
        fail_msg("the service started; it should have refused (log %s)",
                 f->log);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* One batch processed to a done job, and the service stopped cleanly
 * (the catalog checkpointed: no WAL left). */
static long long one_done_job(sv_fx_t *f, const char *batch, int pages)
{
    long long id;

    sv_start(f);
    drop_batch(f, batch, pages);
    id = sv_wait_job(f, batch, "done", DEADLINE_S);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    return id;
}

/* ---- fixture ---- */

/* A second service on the fixture's catalog, with its own log; cleared
 * by teardown. */
static sv_fx_t second;

static int setup(void **state)
{
    *state = sv_fx_new(PAGE_TIMEOUT, "", NULL);
    return 0;
}

static int teardown(void **state)
{
    sv_fx_t *f = *state;
    int rc = sv_fx_fini(f, PAGE_TIMEOUT + 10);

    if (second.root[0] != '\0' && sv_fx_fini(&second, PAGE_TIMEOUT + 10) != 0)
        rc = -1;
    memset(&second, 0, sizeof(second));
    unsetenv("PAGEMILL_TEST_INTEGRITY_MS");
    pm_free(f);
    t_tmpdir_cleanup();
    return rc;
}

/* ---- publishing ---- */

/* Job 2's folder already holds job 1's document (as after a catalog that
 * numbered its jobs from 1 again): job 2 fails naming the folder, which
 * is left byte for byte; once it is moved away, a retry publishes. */
static void existing_job_folder_is_never_taken(void **state)
{
    sv_fx_t *f = *state;
    char one[600], two[600], pdf[600], *err = NULL, *why;
    unsigned char *before = NULL, *after = NULL;
    size_t nbefore = 0, nafter = 0;
    long long id;

    assert_int_equal(one_done_job(f, "WO-1_first", 3), 1);
    assert_int_equal(t_run(NULL, "cp -a '%s' '%s'", job_path(f, 1, NULL, one),
                           job_path(f, 2, NULL, two)),
                     0);
    assert_int_equal(t_run(NULL,
                           "cd '%s/data' && for x in pdf txt pages.json; do "
                           "mv job-1.$x job-2.$x; done",
                           two),
                     0);
    job_path(f, 2, "pdf", pdf);
    assert_int_equal(pm_read_file(pdf, 1u << 28, &before, &nbefore), 0);

    sv_start(f);
    drop_batch(f, "WO-1_second", 2);
    id = sv_wait_job(f, "WO-1_second", "failed", DEADLINE_S);
    assert_int_equal(id, 2);
    why = job_error(f, id);
    assert_non_null(strstr(why, two));
    assert_non_null(strstr(why, "already exists"));
    assert_non_null(strstr(why, "pagemill job retry 2"));
    free(why);
    /* The folder's document is as it was, byte for byte. */
    assert_int_equal(pm_read_file(pdf, 1u << 28, &after, &nafter), 0);
    assert_int_equal(nafter, nbefore);
    assert_memory_equal(after, before, nbefore);
    assert_int_equal(t_pdf_pages(pdf), 3);
    pm_free(before);
    pm_free(after);

    /* Moved away, then retried: published, its own two pages. */
    assert_int_equal(t_run(NULL, "mv '%s' '%s.old'", two, two), 0);
    assert_int_equal(sv_cli(f, NULL, &err, "job retry 2"), 0);
    free(err);
    sv_wait_job(f, "WO-1_second", "done", DEADLINE_S);
    assert_int_equal(t_pdf_pages(pdf), 2);
}

/* A folder published before a crash (job still assembling) is recorded
 * when its report names the job and its PDF matches; a replaced PDF
 * fails the job and is left alone. */
static void folder_from_before_a_crash_is_checked(void **state)
{
    sv_fx_t *f = *state;
    static const char *back = "UPDATE jobs SET state = 'assembling', "
                              "finished_at = NULL, billing_month = NULL";
    char pdf[600], other[600], *log;
    long long id = one_done_job(f, "WO-1_crash", 2);
    size_t seen;

    raw_sql(f, back);
    log = t_slurp(f->log);
    assert_non_null(log);
    seen = strlen(log);
    free(log);
    sv_start(f);
    assert_int_equal(sv_wait_job(f, "WO-1_crash", "done", DEADLINE_S), id);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    log = t_slurp(f->log);
    assert_non_null(log);
    assert_null(strstr(log + seen, "assembling")); /* recorded, not redone */
    free(log);

    /* The PDF replaced by another one of the same page count. */
    raw_sql(f, back);
    drop_batch(f, "WO-1_other", 2);
    sv_start(f);
    sv_wait_job(f, "WO-1_other", "done", DEADLINE_S);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    raw_sql(f, back);
    t_copy_file(job_path(f, 2, "pdf", other), job_path(f, id, "pdf", pdf));
    sv_start(f);
    sv_wait_job(f, "WO-1_crash", "failed", DEADLINE_S);
    log = job_error(f, id);
    assert_non_null(strstr(log, "is not the one its report"));
    free(log);
    assert_true(t_exists(pdf));
}

/* ---- catalog identity ---- */

/* Deleted, or emptied to 0 bytes: the start is refused, saying how to
 * restore, and nothing is moved or created. */
static void lost_catalog_is_refused(void **state)
{
    sv_fx_t *f = *state;
    char *before, *after, path[400];

    one_done_job(f, "WO-1_kept", 1);
    snprintf(path, sizeof(path), "%s.bak", f->db);
    assert_int_equal(rename(f->db, path), 0);
    before = tree(f);
    assert_int_equal(start_refused(f), 1);
    assert_log(f, "refusing to start: the catalog");
    assert_log(f, "is missing");
    assert_log(f, "Restore the catalog from a backup");
    assert_false(t_exists(f->db));
    after = tree(f);
    assert_string_equal(before, after);
    free(after);

    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(rename(path, f->db), 0);
    assert_int_equal(start_refused(f), 1);
    assert_log(f, "is empty (0 bytes)");
    assert_int_equal(t_file_size(f->db), 0);
    after = tree(f);
    assert_string_equal(before, after);
    free(after);
    free(before);
}

/* A PostgreSQL catalog that cannot be reached: the start is refused,
 * saying what to check and how such a database is restored, with the
 * URL's password never in the log, and nothing moved. */
static void unreachable_postgresql_catalog_is_refused(void **state)
{
    sv_fx_t *f = *state;
    char *log;

    snprintf(f->db, sizeof(f->db),
             "postgresql://pm:s3cret@127.0.0.1:1/pagemill");
    assert_int_equal(sv_write_config(f, PAGE_TIMEOUT, ""), 0);
    assert_int_equal(start_refused(f), 1);
    assert_log(f, "cannot open the catalog "
                  "postgresql://pm:***@127.0.0.1:1/pagemill");
    assert_log(f, "Check that the PostgreSQL server is running");
    log = t_slurp(f->log);
    assert_non_null(log);
    assert_null(strstr(log, "s3cret"));
    pm_free(log);
}

/* A folder marked by another catalog refuses the start; so does a new
 * catalog (no jobs) with folders that hold work and carry no marker. */
static void folder_of_another_catalog_is_refused(void **state)
{
    sv_fx_t *f = *state;
    char path[600], *before, *after;

    one_done_job(f, "WO-1_kept", 1);
    snprintf(path, sizeof(path), "%s/spool/%s", f->root, MARKER);
    sv_write_text(path, "installation_id = 0123456789abcdef0123456789abcdef\n");
    before = tree(f);
    assert_int_equal(start_refused(f), 1);
    assert_log(f, "belongs to the catalog with installation id "
                  "0123456789abcdef0123456789abcdef");
    after = tree(f);
    assert_string_equal(before, after);
    free(after);
    free(before);

    /* Markers gone, and a new catalog with no jobs. */
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/%s", f->out, MARKER);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(unlink(f->db), 0);
    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    assert_int_equal(start_refused(f), 1);
    assert_log(f, "has no jobs, but the spool");
}

/* A catalog with jobs whose folders have no markers (a pagemill from
 * before them): the markers are written and the service runs. */
static void catalog_with_jobs_marks_its_folders(void **state)
{
    sv_fx_t *f = *state;
    char spool[600], out[600], *a, *b;

    one_done_job(f, "WO-1_kept", 1);
    snprintf(spool, sizeof(spool), "%s/spool/%s", f->root, MARKER);
    snprintf(out, sizeof(out), "%s/%s", f->out, MARKER);
    a = t_slurp(spool);
    assert_non_null(a);
    assert_non_null(strstr(a, "installation_id = "));
    assert_int_equal(unlink(spool), 0);
    assert_int_equal(unlink(out), 0);
    one_done_job(f, "WO-1_next", 1);
    b = t_slurp(spool);
    assert_non_null(b);
    assert_string_equal(a, b); /* the same catalog */
    assert_true(t_exists(out));
    free(a);
    free(b);
}

/* ---- catalog integrity ---- */

/* Overwrites page `page` (1-based) of the catalog with a pattern. */
static void smash_page(const sv_fx_t *f, long long page, long long size)
{
    unsigned char *junk = pm_malloc((size_t)size);
    int fd = open(f->db, O_WRONLY);

    assert_non_null(junk);
    assert_true(fd >= 0);
    memset(junk, 0xa5, (size_t)size);
    assert_int_equal(pwrite(fd, junk, (size_t)size, (page - 1) * size), size);
    assert_int_equal(fsync(fd), 0);
    close(fd);
    pm_free(junk);
}

/* The root page of page_tasks (a table with rows, inside the file) and
 * the page size; the catalog must have no WAL left to mask a write. */
static long long page_tasks_root(const sv_fx_t *f, long long *size,
                                 long long *npages)
{
    char wal[400];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long root;

    snprintf(wal, sizeof(wal), "%s-wal", f->db);
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT rootpage, (SELECT page_size "
                                        "FROM pragma_page_size), (SELECT "
                                        "page_count FROM pragma_page_count) "
                                        "FROM sqlite_schema WHERE name = "
                                        "'page_tasks'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    root = sqlite3_column_int64(st, 0);
    *size = sqlite3_column_int64(st, 1);
    *npages = sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    assert_int_equal(
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_true(!t_exists(wal) || t_file_size(wal) == 0);
    return root;
}

/* A damaged b-tree page in the middle of the catalog: the start is
 * refused, saying what to do, and nothing is moved. */
static void damaged_catalog_is_refused(void **state)
{
    sv_fx_t *f = *state;
    long long size, npages, root;
    char *before, *after;

    one_done_job(f, "WO-1_kept", 2);
    root = page_tasks_root(f, &size, &npages);
    assert_true(root > 1 && root < npages); /* inside the file */
    smash_page(f, root, size);
    before = tree(f);
    assert_int_equal(start_refused(f), 1);
    assert_log(f, "failed its integrity check at start");
    assert_log(f, "Restore the catalog from a backup");
    after = tree(f);
    assert_string_equal(before, after);
    free(after);
    free(before);
}

/* Damaged while the service runs: the periodic check stops it, exit 1
 * (the period shortened by the PAGEMILL_TEST_INTEGRITY_MS test hook). */
static void catalog_damaged_while_running_stops_the_service(void **state)
{
    sv_fx_t *f = *state;
    long long size, npages, root;
    int st;

    one_done_job(f, "WO-1_kept", 1);
    root = page_tasks_root(f, &size, &npages);
    setenv("PAGEMILL_TEST_INTEGRITY_MS", "300", 1);
    assert_int_equal(unlink(f->log), 0); /* "started as" is this start's */
    sv_start(f);
    wait_log(f, "started as");
    smash_page(f, root, size);
    wait_log(f, "failed its integrity check while running");
    st = sv_reap(f, DEADLINE_S);
    assert_true(st != -1);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
}

/* ---- status --check ---- */

/* ---- one coordinator per catalog ---- */

/* A second `pagemill serve` on a catalog a running one holds exits 1 at
 * once, naming the catalog and the first one's pid, and changes nothing
 * the first one does; once the first has stopped, it starts. */
static void second_service_on_a_catalog_is_refused(void **state)
{
    sv_fx_t *f = *state;
    char text[600];
    long long id;
    int st;

    sv_start(f);
    wait_log(f, "started as");
    second = *f;
    snprintf(second.log, sizeof(second.log), "%s/serve2.log", f->root);
    second.pid = 0;
    sv_start(&second);
    st = sv_reap(&second, DEADLINE_S);
    if (st == -1)
        fail_msg("a second service started on %s (log %s)", f->db, second.log);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_log(&second, "refusing to start");
    snprintf(text, sizeof(text), "in use by another coordinator (pid %ld;",
             (long)f->pid);
    assert_log(&second, text);
    assert_log(&second, "catalog.db is in use");
    assert_log(&second, "a standby coordinator needs a PostgreSQL catalog");

    /* The first one still runs its queue. */
    drop_batch(f, "WO-1_first", 2);
    id = sv_wait_job(f, "WO-1_first", "done", DEADLINE_S);
    assert_true(id > 0);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);

    sv_start(&second);
    sv_wait_log(&second, "started as", DEADLINE_S);
    assert_int_equal(sv_stop(&second, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* A batch in the spool that no job names is reported, exit 1. */
static void status_check_reports_an_orphaned_batch(void **state)
{
    sv_fx_t *f = *state;
    char dir[600], *out = NULL, *err = NULL;

    snprintf(dir, sizeof(dir), "%s/spool/WO-1_lost.20260101T000000Z", f->root);
    assert_int_equal(pm_mkdir_p(dir), 0);
    assert_int_equal(sv_cli(f, &out, &err, "status --check"), 1);
    assert_non_null(strstr(out, "WO-1_lost.20260101T000000Z"));
    assert_null(strstr(out, "integrity:    ok"));
    free(out);
    free(err);
    assert_int_equal(sv_cli(f, &out, &err, "status --check --json"), 1);
    assert_non_null(strstr(out, "WO-1_lost.20260101T000000Z"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(existing_job_folder_is_never_taken,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(folder_from_before_a_crash_is_checked,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(lost_catalog_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(folder_of_another_catalog_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            unreachable_postgresql_catalog_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(catalog_with_jobs_marks_its_folders,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_catalog_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            catalog_damaged_while_running_stops_the_service, setup, teardown),
        cmocka_unit_test_setup_teardown(status_check_reports_an_orphaned_batch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(second_service_on_a_catalog_is_refused,
                                        setup, teardown),
    };

    /* PM_TEST_FILTER=lost* runs only the tests whose names match. */
    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
