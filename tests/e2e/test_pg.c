/*
 * test_pg.c: `pagemill serve` on a PostgreSQL catalog, end to end. A
 * private PostgreSQL (tests/lib/pgtest.c: initdb in a temp folder,
 * 127.0.0.1 on a free port, stopped by its pid), the real binary with
 * real workers and Tesseract, the config's catalog a postgresql:// URL.
 *
 * Covered: a batch becomes a done job, published as a bag that verifies,
 * one billable row per non-blank page; kill -9 of the coordinator
 * mid-batch and a restart finish the job with every page done and
 * billed exactly once; billing reads the month from PostgreSQL; a page
 * of a done job replaced by a rescan, billing untouched.
 * PostgreSQL not installed is a failure, never a skip.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "lib/pgtest.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define TESTING      "tesseract-test/testing/"
#define DEADLINE_S   90.0 /* for anything the service should do */
#define PAGE_TIMEOUT 60

static pgt_t pg;

static int group_setup(void **state)
{
    (void)state;
    return pgt_start(&pg);
}

static int group_teardown(void **state)
{
    (void)state;
    pgt_stop(&pg);
    return 0;
}

/* A fixture whose catalog is a fresh database on the private server. */
static int setup(void **state)
{
    static int n;
    char name[32];
    sv_fx_t *f = pm_calloc(1, sizeof(*f));

    if (f == NULL || sv_fx_init(f, t_tmpdir()) != 0)
        return -1;
    snprintf(name, sizeof(name), "e2e%d", ++n);
    if (pgt_fresh_db(&pg, name, f->db, sizeof(f->db)) != 0 ||
        sv_write_config(f, PAGE_TIMEOUT, "") != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    sv_fx_t *f = *state;
    int rc = sv_fx_fini(f, PAGE_TIMEOUT + 10);

    pm_free(f);
    t_tmpdir_cleanup();
    return rc;
}

static void records(const sv_fx_t *f)
{
    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(f, "fee add STD --price 0.08125 --effective 2000-01-01");
    sv_cli_ok(f, "workorder add WO-1 --account ACME --fee-code STD");
}

/* A batch of `n` pages alternating phototest and eurotext, with a blank
 * page where blank_at (1-based; 0: none) says, marker last. */
static void drop_batch(const sv_fx_t *f, const char *name, int n, int blank_at)
{
    char dir[512], path[600];
    static const char *const none[] = {NULL};

    snprintf(dir, sizeof(dir), "%s/%s", f->scans, name);
    assert_int_equal(pm_mkdir_p(dir), 0);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/p%02d.tif", dir, i + 1);
        if (i + 1 == blank_at)
            sv_page(path, none);
        else
            t_copy_file(t_data(i % 2 ? TESTING "eurotext.tif"
                                     : TESTING "phototest.tif"),
                        path);
    }
    snprintf(path, sizeof(path), "%s/batch.ini", dir);
    sv_write_text(path, "account = ACME\n");
}

static void assert_bag(const sv_fx_t *f, long long id, int pages)
{
    char path[600], args[700];

    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-%lld/data/job-%lld.pdf",
             f->out, id, id);
    assert_int_equal(t_pdf_pages(path), pages);
    snprintf(args, sizeof(args), "verify %s/ACME/WO-1/job-%lld", f->out, id);
    sv_cli_ok(f, args);
}

/* Three pages, one blank: published, verified, two billable rows, and
 * the month's billing read from PostgreSQL. */
static void batch_on_postgresql_is_published_and_billed(void **state)
{
    sv_fx_t *f = *state;
    long long id;
    char *csv, args[64];
    time_t now = time(NULL);
    struct tm tm;

    t_require_data();
    records(f);
    sv_start(f);
    drop_batch(f, "WO-1_pg", 3, 3);
    id = sv_wait_job(f, "WO-1_pg", "done", DEADLINE_S);
    assert_bag(f, id, 3);
    assert_int_equal(sv_billable(f, id), 2);
    gmtime_r(&now, &tm);
    strftime(args, sizeof(args), "billing report --month %Y-%m --format csv",
             &tm);
    csv = sv_cli_text(f, args);
    assert_non_null(strstr(csv, "WO-1"));
    pm_free(csv);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* kill -9 of the coordinator mid-batch, then a restart: every page done
 * and billed once. */
static void coordinator_killed_on_postgresql_resumes(void **state)
{
    sv_fx_t *f = *state;
    const int pages = 6;
    long long id;
    double until;
    json_t *j, *t;
    size_t i;
    char args[64];

    t_require_data();
    records(f);
    sv_start(f);
    drop_batch(f, "WO-1_crash", pages, 0);
    id = sv_wait_job(f, "WO-1_crash", "running", DEADLINE_S);
    snprintf(args, sizeof(args), "job show %lld", id);
    for (until = sv_now_s() + DEADLINE_S; sv_now_s() < until; sv_nap_ms(50)) {
        j = sv_cli_json(f, args);
        long long done = sv_jint(j, "done");
        json_decref(j);
        if (done >= 1)
            break;
    }
    assert_int_equal(sv_stop(f, SIGKILL, 10), SIGKILL);
    sv_start(f);
    assert_int_equal(sv_wait_job(f, "WO-1_crash", "done", DEADLINE_S), id);
    assert_int_equal(sv_billable(f, id), pages);
    j = sv_cli_json(f, args);
    json_array_foreach(json_object_get(j, "page_tasks"), i, t)
    {
        assert_string_equal(sv_jstr(t, "state"), "done");
    }
    json_decref(j);
    assert_bag(f, id, pages);
}

/* The published PDF's SHA-256 (new string). */
static char *published_sha(const sv_fx_t *f, long long id)
{
    char *out = NULL;

    assert_int_equal(t_run(&out,
                           "sha256sum '%s/ACME/WO-1/job-%lld/data/job-%lld.pdf'"
                           " | cut -c1-64",
                           f->out, id, id),
                     0);
    return out;
}

/* A page of a done job replaced by a rescan through the coordinator on
 * PostgreSQL (its reads and records on catwork's session): the new
 * document is published as a bag that verifies; billing is untouched. */
static void page_replaced_on_postgresql(void **state)
{
    sv_fx_t *f = *state;
    long long id;
    char *before, *after, args[700];

    t_require_data();
    records(f);
    sv_start(f);
    drop_batch(f, "WO-1_rep", 2, 0);
    id = sv_wait_job(f, "WO-1_rep", "done", DEADLINE_S);
    before = published_sha(f, id);
    snprintf(args, sizeof(args), "job replace-page %lld 2 %s", id,
             t_data(TESTING "phototest.tif"));
    sv_cli_ok(f, args);
    sv_wait_replaced(f, id, DEADLINE_S);
    after = published_sha(f, id);
    printf("job %lld: PDF %.12s... replaced by %.12s...\n", id, before, after);
    assert_string_not_equal(before, after);
    assert_bag(f, id, 2);
    assert_int_equal(sv_billable(f, id), 2);
    pm_free(before);
    pm_free(after);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* The jobs recorded for batch `name`. */
static int jobs_of(const sv_fx_t *f, const char *name)
{
    json_t *list = sv_cli_json(f, "job list"), *it;
    size_t i;
    int n = 0;

    json_array_foreach(list, i, it)
    {
        n += strcmp(sv_jstr(it, "batch"), name) == 0;
    }
    json_decref(list);
    return n;
}

/* Intake's session cut (the test hook PAGEMILL_TEST_CUT_RECORD) `when`
 * ("before" the job's statements, or "after" their commit, the answer
 * lost): the batch is recorded exactly once and converted, never
 * rejected; `said` is what the log must say about it. */
static void cut_record(sv_fx_t *f, const char *when, const char *said)
{
    char flag[600], name[64];
    long long id;

    t_require_data();
    snprintf(name, sizeof(name), "WO-1_cut%s", when);
    snprintf(flag, sizeof(flag), "%s/cut-record", f->root);
    sv_write_text(flag, when);
    assert_int_equal(setenv("PAGEMILL_TEST_CUT_RECORD", flag, 1), 0);
    records(f);
    sv_start(f);
    unsetenv("PAGEMILL_TEST_CUT_RECORD");
    drop_batch(f, name, 2, 0);
    id = sv_wait_job(f, name, "done", DEADLINE_S);
    assert_true(access(flag, F_OK) != 0); /* the hook fired */
    assert_true(sv_log_count(f->log, "PAGEMILL_TEST_CUT_RECORD") > 0);
    assert_true(sv_log_count(f->log, said) > 0);
    assert_int_equal(jobs_of(f, name), 1);
    assert_int_equal(sv_log_count(f->log, "rejected"), 0);
    assert_int_equal(sv_billable(f, id), 2);
    assert_bag(f, id, 2);
    printf("cut %s the record: job %lld recorded once, done, 2 billable\n",
           when, id);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* The job was committed and the answer lost: found by its source on a
 * new session and carried on (before intake's own session, a lost
 * answer rejected the batch: "the catalog could not record the job"). */
static void record_answer_lost_is_found(void **state)
{
    cut_record(*state, "after", "found on a new session");
}

/* The session was cut before the job's statements: not recorded, the
 * batch goes back to its hot folder and is taken again. */
static void record_cut_before_goes_back(void **state)
{
    cut_record(*state, "before", "back in the hot folder");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            batch_on_postgresql_is_published_and_billed, setup, teardown),
        cmocka_unit_test_setup_teardown(page_replaced_on_postgresql, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(record_answer_lost_is_found, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(record_cut_before_goes_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            coordinator_killed_on_postgresql_resumes, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
