/*
 * test_serve.c: `pagemill serve` end to end. The real binary, started
 * with fork/exec and stopped by its PID, real workers and Tesseract, in a
 * temp root with its own configuration, hot folders, spool, output and
 * catalog. Batches are dropped the way operators drop them; the test
 * watches the catalog through `pagemill job list/show --json` (and
 * pm_billable_count on the same file) until a deadline, never asserting
 * on a fixed sleep.
 *
 * Covered: a batch becomes a done job published under
 * out/<account>/<work order>/job-<id>/ with one billable row per
 * non-blank page; settle mode takes a batch only once it stops changing;
 * unknown work orders and page-count mismatches are rejected with
 * ERROR.txt, or an unknown work order held where the hot folder says so;
 * a duplicate is held until released; a worker killed
 * mid-page costs a retry, not a page; a corrupt page fails its job with
 * nothing published; kill -9 of the coordinator mid-batch and a restart
 * finish the job with every page billed once and no temp folder left;
 * coordinator restarts while a page runs never use up its attempts;
 * SIGTERM drains and exits 0 (status shows the service's workers while
 * it runs, none after); SIGHUP reloads, and a bad file keeps the
 * old configuration; a page that hangs (the worker's
 * PAGEMILL_TEST_HANG_MATCH test hook) is killed at page_timeout, retried
 * up to the attempt limit and fails its job, and the service goes on.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <leptonica/allheaders.h>

#include "catalog/catalog.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define TESTING      "tesseract-test/testing/"
#define DEADLINE_S   60.0 /* for anything the service should do */
#define PAGE_TIMEOUT 30

/* ---- batches ---- */

/* A white 300 dpi letter page, G4 TIFF: a blank page. */
static void blank_page(const char *dst)
{
    static const char *const none[] = {NULL};

    sv_page(dst, none);
}

/* A small page at `dst` (G4 TIFF, 3 x 3 in at 300 dpi, one line of
 * `text`): little to decode, orient and read, so it takes a fraction of a
 * second even on a loaded machine. */
static void small_page(const char *dst, const char *text)
{
    PIX *pix = t_text_page(900, 900, 300, (const char *const[]){text, NULL});

    assert_non_null(pix);
    assert_int_equal(pixWrite(dst, pix, IFF_TIFF_G4), 0);
    pixDestroy(&pix);
}

/* A batch folder in hot folder `hot` with `n` pages p01.tif... alternating
 * phototest and eurotext (blank pages where blank[i] is set), then the
 * batch.ini `ini` (NULL: none) written last, as a scan station does. */
static void drop_batch(const char *hot, const char *name, int n,
                       const int *blank, const char *ini)
{
    char dir[512], path[600];

    snprintf(dir, sizeof(dir), "%s/%s", hot, name);
    assert_int_equal(pm_mkdir_p(dir), 0);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/p%02d.tif", dir, i + 1);
        if (blank != NULL && blank[i])
            blank_page(path);
        else
            t_copy_file(t_data(i % 2 ? TESTING "eurotext.tif"
                                     : TESTING "phototest.tif"),
                        path);
    }
    if (ini != NULL) {
        snprintf(path, sizeof(path), "%s/batch.ini", dir);
        sv_write_text(path, ini);
    }
}

/* A one-page batch of shared-data file `rel`, marker last. */
static void drop_one(const char *hot, const char *name, const char *rel)
{
    char path[600];

    snprintf(path, sizeof(path), "%s/%s", hot, name);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/%s/p1.tif", hot, name);
    t_copy_file(t_data(rel), path);
    snprintf(path, sizeof(path), "%s/%s/batch.ini", hot, name);
    sv_write_text(path, "");
}

/* ---- the catalog ---- */

static json_t *job_show(const sv_fx_t *f, long long id)
{
    char args[64];

    snprintf(args, sizeof(args), "job show %lld", id);
    return sv_cli_json(f, args);
}

/* ---- outputs ---- */

/* No ".tmp" name anywhere under `dir`, nor an assembly's page spool. */
static void assert_no_tmp(const char *dir)
{
    char *out = NULL;

    assert_int_equal(
        t_run(&out, "find '%s' -name '*.tmp' -o -name '*.pages.jsonl'", dir),
        0);
    if (out[0] != '\0')
        fail_msg("left behind: %s", out);
    free(out);
}

/* Every converted page in the report carries its per-stage times, as
 * convert's report does (OCR always takes time on a page with words). */
static void assert_report_has_stage_times(const char *path)
{
    json_error_t jerr;
    json_t *rep = json_load_file(path, 0, &jerr), *p;
    size_t i;

    assert_non_null(rep);
    json_array_foreach(json_object_get(rep, "page_results"), i, p)
    {
        json_t *ms = json_object_get(p, "ms");
        if (!json_is_true(json_object_get(p, "ok")) ||
            json_is_true(json_object_get(p, "blank")))
            continue;
        assert_true(json_number_value(json_object_get(ms, "ocr")) > 0);
        assert_true(json_number_value(json_object_get(ms, "decode")) > 0);
    }
    json_decref(rep);
}

/* The published folder of job `id` holds a PDF of `pages` pages, a text
 * file and the report. */
static void assert_published(const sv_fx_t *f, long long id, int pages)
{
    char path[600];
    struct stat st;

    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-%lld/data/job-%lld.pdf",
             f->out, id, id);
    assert_int_equal(t_pdf_pages(path), pages);
    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-%lld/data/job-%lld.txt",
             f->out, id, id);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 0);
    snprintf(path, sizeof(path),
             "%s/ACME/WO-1/job-%lld/data/job-%lld.pages.json", f->out, id, id);
    assert_true(t_exists(path));
    assert_report_has_stage_times(path);
    assert_no_tmp(f->out);
}

/* Waits until the service's log holds `text`. */
static void wait_log(const sv_fx_t *f, const char *text)
{
    sv_wait_log(f, text, DEADLINE_S);
}

/* ---- processes ---- */

/* A worker a test stopped (SIGSTOP): killed by the teardown whatever
 * happens, so a failed test leaves no stopped process behind. */
static pid_t stopped_worker;

/* Whether process `pid` is gone (no such process, or a zombie). */
static int pid_gone(pid_t pid)
{
    char path[64], buf[512];
    const char *rp;
    FILE *fp;
    char state = '?';

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    fp = fopen(path, "r");
    if (fp == NULL)
        return errno == ENOENT;
    buf[0] = '\0';
    if (fgets(buf, sizeof(buf), fp) == NULL)
        buf[0] = '\0';
    fclose(fp);
    rp = strrchr(buf, ')');
    if (rp != NULL)
        sscanf(rp + 1, " %c", &state);
    return state == 'Z' || state == 'X';
}

/* Waits until every process in v[0..n) is gone; fails naming one that
 * is still there after `secs`. */
static void wait_gone(const pid_t *v, int n, double secs, const char *what)
{
    double until = sv_now_s() + secs;
    int left = -1;

    for (;;) {
        left = -1;
        for (int i = 0; i < n && left < 0; i++)
            if (!pid_gone(v[i]))
                left = i;
        if (left < 0)
            return;
        if (sv_now_s() >= until)
            break;
        sv_nap_ms(50);
    }
    fail_msg("%s: pid %ld still there %.0f s later", what, (long)v[left], secs);
}

/* ---- fixture ---- */

/* Folder `name` under hot/ of the fixture, into buf[320]. */
static const char *hot_path(const sv_fx_t *f, const char *name, char *buf)
{
    snprintf(buf, 320, "%s/hot/%s", f->root, name);
    return buf;
}

/* A root with hot folders scans (marker batch.ini), settle (marker none,
 * 5 s settle time: a loaded machine may stall the writer for seconds) and hold
 * (holds unknown work orders), account ACME and work order WO-1. */
static int setup(void **state)
{
    sv_fx_t *f = pm_calloc(1, sizeof(*f));
    char settle[320], hold[320], extra[1024];

    if (f == NULL)
        return -1;
    if (sv_fx_init(f, t_tmpdir()) != 0 ||
        pm_mkdir_p(hot_path(f, "settle", settle)) != 0 ||
        pm_mkdir_p(hot_path(f, "hold", hold)) != 0)
        goto fail;
    snprintf(extra, sizeof(extra),
             "\n[hotfolder settle]\npath = %s\nmarker = none\n"
             "settle_seconds = 5\n\n"
             "[hotfolder hold]\npath = %s\nhold_unknown = yes\n",
             settle, hold);
    if (sv_write_config(f, PAGE_TIMEOUT, extra) != 0)
        goto fail;
    *state = f;
    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(f, "workorder add WO-1 --account ACME");
    return 0;

fail:
    pm_free(f);
    return -1;
}

/* Stops a service still running with SIGTERM: it must exit 0 (under
 * the sanitizers that also means no error and no leak), and its log must
 * hold no sanitizer report. */
static int teardown(void **state)
{
    sv_fx_t *f = *state;
    int rc = sv_fx_fini(f, PAGE_TIMEOUT + 10);

    if (stopped_worker > 0) {
        kill(stopped_worker, SIGKILL);
        stopped_worker = 0;
    }
    pm_free(f);
    t_tmpdir_cleanup();
    return rc;
}

/* ---- tests ---- */

/* Three pages, one blank: a done job, published, two billable rows. */
static void batch_becomes_published_job(void **state)
{
    sv_fx_t *f = *state;
    static const int blank[] = {0, 0, 1};
    char path[600];
    long long id;
    json_t *j;

    t_require_data();
    sv_start(f);
    drop_batch(f->scans, "WO-1_box1", 3, blank,
               "account = ACME\noperator = J. Smith\nexpected_pages = 3\n");
    id = sv_wait_job(f, "WO-1_box1", "done", DEADLINE_S);
    assert_published(f, id, 3);
    assert_int_equal(sv_billable(f, id), 2);
    j = job_show(f, id);
    assert_int_equal(sv_jint(j, "blank"), 1);
    assert_string_equal(sv_jstr(j, "operator"), "J. Smith");
    json_decref(j);
    snprintf(path, sizeof(path), "%s/WO-1_box1", f->scans);
    assert_false(t_exists(path)); /* taken into the spool */
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* The coordinator's catalog work answers slowly (the test hook
 * PAGEMILL_TEST_CATWORK_MS), so a collection waits in front of a job's
 * end: each job is still assembled, published and recorded once (before,
 * a collection that read a job as assembling while its end waited started
 * its assembly again: "published ..., but" the job was no longer
 * assembling). */
static void slow_catalog_work_ends_each_job_once(void **state)
{
    sv_fx_t *f = *state;
    long long id[3];
    char name[32];

    t_require_data();
    assert_int_equal(setenv("PAGEMILL_TEST_CATWORK_MS", "700", 1), 0);
    sv_start(f);
    unsetenv("PAGEMILL_TEST_CATWORK_MS");
    for (int i = 0; i < 3; i++) { /* small pages, none a duplicate */
        char dir[512], path[600], text[64];

        snprintf(name, sizeof(name), "WO-1_slow%d", i);
        snprintf(dir, sizeof(dir), "%s/%s", f->scans, name);
        assert_int_equal(pm_mkdir_p(dir), 0);
        for (int k = 1; k <= 2; k++) {
            snprintf(path, sizeof(path), "%s/p%d.tif", dir, k);
            snprintf(text, sizeof(text), "Batch %d page %d", i, k);
            small_page(path, text);
        }
        snprintf(path, sizeof(path), "%s/batch.ini", dir);
        sv_write_text(path, "account = ACME\n");
    }
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "WO-1_slow%d", i);
        id[i] = sv_wait_job(f, name, "done", DEADLINE_S);
    }
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    for (int i = 0; i < 3; i++) {
        char line[64];

        assert_published(f, id[i], 2);
        assert_int_equal(sv_billable(f, id[i]), 2);
        snprintf(line, sizeof(line), "job=%lld done:", id[i]);
        assert_int_equal(sv_log_count(f->log, line), 1);
        snprintf(line, sizeof(line), "job=%lld assembling", id[i]);
        assert_int_equal(sv_log_count(f->log, line), 1);
    }
    assert_int_equal(sv_log_count(f->log, ", but"), 0);
}

/* Settle mode: a file still being written is never taken. */
static void settle_mode_waits_until_quiet(void **state)
{
    sv_fx_t *f = *state;
    unsigned char *buf = NULL;
    char dir[512], path[600];
    size_t len = 0, step;
    FILE *fp;

    t_require_data();
    sv_start(f);
    snprintf(dir, sizeof(dir), "%s/hot/settle/WO-1_slow", f->root);
    assert_int_equal(pm_mkdir_p(dir), 0);
    snprintf(path, sizeof(path), "%s/p1.tif", dir);
    assert_int_equal(
        pm_read_file(t_data(TESTING "phototest.tif"), 1u << 26, &buf, &len), 0);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    step = len / 8 + 1;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;

        assert_int_equal(fwrite(buf + off, 1, n, fp), n);
        fflush(fp);
        sv_nap_ms(600); /* under settle_seconds = 5: never quiet long enough */
        assert_true(t_exists(dir));
        assert_null(sv_find_job(f, "WO-1_slow"));
    }
    fclose(fp);
    pm_free(buf);
    assert_true(sv_wait_job(f, "WO-1_slow", "done", DEADLINE_S) > 0);
    assert_false(t_exists(dir));
}

/* Unknown work order and page-count mismatch: _rejected/ with ERROR.txt. */
static void bad_batches_are_rejected(void **state)
{
    sv_fx_t *f = *state;
    char path[600], *text;
    json_t *list;

    t_require_data();
    sv_start(f);
    drop_batch(f->scans, "WO-404", 1, NULL, "operator = K\n");
    drop_batch(f->scans, "WO-1_short", 2, NULL, "expected_pages = 5\n");
    snprintf(path, sizeof(path), "%s/_rejected/WO-404/ERROR.txt", f->scans);
    for (double until = sv_now_s() + DEADLINE_S;
         !t_exists(path) && sv_now_s() < until;)
        sv_nap_ms(100);
    text = t_slurp(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "work order WO-404 is not in the catalog"));
    free(text);
    snprintf(path, sizeof(path), "%s/_rejected/WO-1_short/ERROR.txt", f->scans);
    for (double until = sv_now_s() + DEADLINE_S;
         !t_exists(path) && sv_now_s() < until;)
        sv_nap_ms(100);
    text = t_slurp(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "expected_pages = 5"));
    assert_non_null(strstr(text, "hold 2 page(s)"));
    free(text);
    list = sv_cli_json(f, "job list");
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

/* The same pages again: held as a duplicate until a person releases. */
static void duplicate_is_held_until_released(void **state)
{
    sv_fx_t *f = *state;
    long long first, dup;
    char args[64];
    json_t *j;

    t_require_data();
    sv_start(f);
    drop_batch(f->scans, "WO-1_a", 2, NULL, "");
    first = sv_wait_job(f, "WO-1_a", "done", DEADLINE_S);
    drop_batch(f->scans, "WO-1_again", 2, NULL, "");
    dup = sv_wait_job(f, "WO-1_again", "held", DEADLINE_S);
    j = job_show(f, dup);
    assert_int_equal(sv_jint(j, "duplicate_of"), first);
    assert_non_null(strstr(sv_jstr(j, "hold_reason"), "possible duplicate"));
    json_decref(j);
    assert_int_equal(sv_billable(f, dup), 0);
    snprintf(args, sizeof(args), "job release %lld", dup);
    sv_cli_ok(f, args);
    assert_int_equal(sv_wait_job(f, "WO-1_again", "done", DEADLINE_S), dup);
    assert_published(f, dup, 2);
    assert_int_equal(sv_billable(f, dup), 2);
}

/* hold_unknown: a batch for a work order not yet created is held; once
 * the work order exists and the job is released it is done, published
 * under the work order's account. */
static void unknown_work_order_is_held(void **state)
{
    sv_fx_t *f = *state;
    char hold[320], path[600];
    long long id;
    json_t *j;

    t_require_data();
    sv_start(f);
    drop_one(hot_path(f, "hold", hold), "WO-77", TESTING "phototest.tif");
    id = sv_wait_job(f, "WO-77", "held", DEADLINE_S);
    j = job_show(f, id);
    assert_string_equal(sv_jstr(j, "hold_reason"), "unknown work order WO-77");
    json_decref(j);
    sv_cli_ok(f, "workorder add WO-77 --account ACME");
    snprintf(path, sizeof(path), "job release %lld", id);
    sv_cli_ok(f, path);
    assert_int_equal(sv_wait_job(f, "WO-77", "done", DEADLINE_S), id);
    snprintf(path, sizeof(path), "%s/ACME/WO-77/job-%lld/data/job-%lld.pdf",
             f->out, id, id);
    assert_int_equal(t_pdf_pages(path), 1);
    assert_int_equal(sv_billable(f, id), 1);
}

/* Any page of job `id` tried more than once? */
static int some_page_retried(const sv_fx_t *f, long long id)
{
    json_t *j = job_show(f, id), *t;
    int retried = 0;
    size_t i;

    json_array_foreach(json_object_get(j, "page_tasks"), i, t)
    {
        retried |= sv_jint(t, "attempts") > 1;
    }
    json_decref(j);
    return retried;
}

/* SIGKILL a worker mid-page: the page is retried, billed once. */
static void killed_worker_page_is_retried(void **state)
{
    sv_fx_t *f = *state;
    const int pages = 12;
    pid_t w[8];
    long long id;
    int kills = 0;

    t_require_data();
    sv_start(f);
    drop_batch(f->scans, "WO-1_kill", pages, NULL, "");
    id = sv_wait_job(f, "WO-1_kill", "running", DEADLINE_S);
    /* A worker is idle only between pages, briefly: kill until one of
     * the kills lands mid-page (almost always the first). */
    while (!some_page_retried(f, id) && kills < 10) {
        json_t *j = job_show(f, id);
        int running = strcmp(sv_jstr(j, "state"), "running") == 0;

        json_decref(j);
        if (!running)
            break;
        if (sv_worker_pids(f, w, 8) > 0 && kill(w[0], SIGKILL) == 0)
            kills++;
        sv_nap_ms(700);
    }
    assert_true(some_page_retried(f, id));
    assert_int_equal(sv_wait_job(f, "WO-1_kill", "done", DEADLINE_S), id);
    assert_int_equal(sv_billable(f, id), pages);
    assert_published(f, id, pages);
}

/* A page whose pixels are cut off fails at its first attempt (the file
 * is at fault: another attempt would fail the same way); the job fails
 * naming it, and nothing is published. */
static void corrupt_page_fails_the_job(void **state)
{
    sv_fx_t *f = *state;
    char path[600];
    long long id;
    json_t *j, *t;
    size_t i;

    t_require_data();
    sv_start(f);
    snprintf(path, sizeof(path), "%s/WO-1_bad", f->scans);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/WO-1_bad/p1.tif", f->scans);
    t_copy_file(t_data(TESTING "eurotext.tif"), path);
    snprintf(path, sizeof(path), "%s/WO-1_bad/p2.tif", f->scans);
    t_copy_truncated(t_data(TESTING "phototest.tif"), path, 20000);
    snprintf(path, sizeof(path), "%s/WO-1_bad/batch.ini", f->scans);
    sv_write_text(path, "expected_pages = 2\n");
    id = sv_wait_job(f, "WO-1_bad", "failed", DEADLINE_S);
    j = job_show(f, id);
    assert_non_null(strstr(sv_jstr(j, "error"), "page 2 (p2.tif"));
    assert_true(json_is_null(json_object_get(j, "output_path")));
    json_array_foreach(json_object_get(j, "page_tasks"), i, t)
    {
        if (sv_jint(t, "page") == 2) {
            assert_string_equal(sv_jstr(t, "state"), "failed");
            assert_int_equal(sv_jint(t, "attempts"), 1);
        } else {
            assert_string_equal(sv_jstr(t, "state"), "done");
        }
    }
    json_decref(j);
    assert_int_equal(sv_billable(f, id), 0);
    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-%lld", f->out, id);
    assert_false(t_exists(path));
    assert_no_tmp(f->out);
}

/* The output folder cannot be made (a file holds the account's name):
 * the job fails with an error naming the folder and the system's
 * reason, and nothing is published. */
static void output_folder_error_names_the_path(void **state)
{
    sv_fx_t *f = *state;
    char path[600], want[700];
    long long id;
    json_t *j;

    t_require_data();
    sv_start(f);
    wait_log(f, "started as"); /* the output folder is marked */
    snprintf(path, sizeof(path), "%s/ACME", f->out);
    sv_write_text(path, "not a folder");
    drop_batch(f->scans, "WO-1_nodir", 1, (const int[]){1}, "");
    id = sv_wait_job(f, "WO-1_nodir", "failed", DEADLINE_S);
    j = job_show(f, id);
    snprintf(want, sizeof(want), "cannot create the output folder %s/ACME/WO-1",
             f->out);
    if (strstr(sv_jstr(j, "error"), want) == NULL ||
        strstr(sv_jstr(j, "error"), strerror(ENOTDIR)) == NULL)
        fail_msg("job error '%s' does not name %s and '%s'",
                 sv_jstr(j, "error"), want, strerror(ENOTDIR));
    json_decref(j);
    assert_int_equal(sv_billable(f, id), 0);
}

/* Rewrites the fixture's configuration with its page_timeout line
 * replaced by `lines` ([pagemill] keys). */
static void set_pagemill_keys(const sv_fx_t *f, const char *lines)
{
    char *ini = t_slurp(f->ini), *at, *more;

    assert_non_null(ini);
    at = strstr(ini, "page_timeout = ");
    assert_non_null(at);
    *at = '\0';
    at = strchr(at + 1, '\n');
    assert_non_null(at);
    more = pm_asprintf("%s%s%s", ini, lines, at);
    assert_non_null(more);
    sv_write_text(f->ini, more);
    pm_free(more);
    free(ini);
}

/* A page that hangs: its worker is killed at the 15 s page timeout, the
 * page is tried max_attempts (3, the default) times and fails naming the
 * timeout; the job fails with nothing published, the other page is done,
 * and the service goes on to finish the next batch. The good pages are
 * small (a fraction of a second of work), so even a loaded 2-core machine
 * running the sanitizer build finishes them far inside the timeout. */
static void hanging_page_hits_the_timeout(void **state)
{
    sv_fx_t *f = *state;
    char path[600];
    long long id;
    json_t *j, *t;
    size_t i;

    t_require_data();
    set_pagemill_keys(f, "page_timeout = 15");
    /* The service and its workers inherit the hook from the fork. */
    assert_int_equal(setenv("PAGEMILL_TEST_HANG_MATCH", "hangme", 1), 0);
    sv_start(f);
    unsetenv("PAGEMILL_TEST_HANG_MATCH");
    snprintf(path, sizeof(path), "%s/WO-1_hang", f->scans);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/WO-1_hang/p1.tif", f->scans);
    small_page(path, "A good page beside the hanging one");
    snprintf(path, sizeof(path), "%s/WO-1_hang/p2_hangme.tif", f->scans);
    t_copy_file(t_data(TESTING "phototest.tif"), path);
    snprintf(path, sizeof(path), "%s/WO-1_hang/batch.ini", f->scans);
    sv_write_text(path, "expected_pages = 2\n");
    /* Three timeouts, then the job fails. */
    id = sv_wait_job(f, "WO-1_hang", "failed", 3 * 15 + DEADLINE_S);
    wait_log(f, "page=2 attempt 3 of 3 failed: worker");
    wait_log(f, "ran past the 15 s timeout");
    j = job_show(f, id);
    assert_non_null(strstr(sv_jstr(j, "error"), "page 2 (p2_hangme.tif"));
    assert_non_null(strstr(sv_jstr(j, "error"), "timeout"));
    assert_true(json_is_null(json_object_get(j, "output_path")));
    json_array_foreach(json_object_get(j, "page_tasks"), i, t)
    {
        if (sv_jint(t, "page") == 2) {
            assert_string_equal(sv_jstr(t, "state"), "failed");
            assert_int_equal(sv_jint(t, "attempts"), 3);
            assert_non_null(strstr(sv_jstr(t, "error"), "ran past the 15 s"));
        } else {
            assert_string_equal(sv_jstr(t, "state"), "done");
        }
    }
    json_decref(j);
    assert_int_equal(sv_billable(f, id), 0);
    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-%lld", f->out, id);
    assert_false(t_exists(path));
    assert_no_tmp(f->out);

    /* New pages (a duplicate of the first would be held): quick to OCR
     * within the short timeout. */
    snprintf(path, sizeof(path), "%s/WO-1_after", f->scans);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/WO-1_after/p1.tif", f->scans);
    small_page(path, "A good batch after the timeout");
    snprintf(path, sizeof(path), "%s/WO-1_after/batch.ini", f->scans);
    sv_write_text(path, "");
    id = sv_wait_job(f, "WO-1_after", "done", DEADLINE_S);
    assert_published(f, id, 1);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* kill -9 of the coordinator mid-batch, then a restart: every page done
 * and billed exactly once, the output complete, no temp folder left. */
static void coordinator_killed_mid_batch_resumes(void **state)
{
    sv_fx_t *f = *state;
    const int pages = 10;
    char path[600];
    long long id;
    double until;
    json_t *j, *t;
    size_t i;

    t_require_data();
    sv_start(f);
    drop_batch(f->scans, "WO-1_crash", pages, NULL, "");
    id = sv_wait_job(f, "WO-1_crash", "running", DEADLINE_S);
    for (until = sv_now_s() + DEADLINE_S; sv_now_s() < until; sv_nap_ms(50)) {
        j = job_show(f, id);
        int done = (int)sv_jint(j, "done");
        json_decref(j);
        if (done >= 2)
            break;
    }
    assert_int_equal(sv_stop(f, SIGKILL, 10), SIGKILL);
    j = job_show(f, id);
    assert_true(sv_jint(j, "done") < pages); /* it really was mid-batch */
    json_decref(j);
    /* What a crash during assembly would leave: a half-written folder. */
    snprintf(path, sizeof(path), "%s/ACME/WO-1/.job-%lld.tmp/data", f->out, id);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/ACME/WO-1/.job-%lld.tmp/data/job-%lld.pdf",
             f->out, id, id);
    sv_write_text(path, "%PDF-1.7 half");

    sv_start(f);
    assert_int_equal(sv_wait_job(f, "WO-1_crash", "done", DEADLINE_S), id);
    assert_int_equal(sv_billable(f, id), pages);
    j = job_show(f, id);
    json_array_foreach(json_object_get(j, "page_tasks"), i, t)
    {
        assert_string_equal(sv_jstr(t, "state"), "done");
    }
    json_decref(j);
    assert_published(f, id, pages);
}

/* Waits until page `page` of job `id` is running at attempt `attempt`;
 * fails naming what it last saw. */
static void wait_page_running(const sv_fx_t *f, long long id, int page,
                              int attempt)
{
    double until = sv_now_s() + DEADLINE_S;
    char seen[128] = "nothing";
    json_t *j, *t;
    size_t i;
    int ok = 0;

    for (; !ok && sv_now_s() < until; sv_nap_ms(100)) {
        j = job_show(f, id);
        json_array_foreach(json_object_get(j, "page_tasks"), i, t)
        {
            if (sv_jint(t, "page") != page)
                continue;
            snprintf(seen, sizeof(seen), "%s at attempt %lld",
                     sv_jstr(t, "state"), sv_jint(t, "attempts"));
            ok = strcmp(sv_jstr(t, "state"), "running") == 0 &&
                 sv_jint(t, "attempts") == attempt;
        }
        json_decref(j);
    }
    if (!ok)
        fail_msg("page %d of job %lld never ran attempt %d: last %s", page, id,
                 attempt, seen);
}

/* Three kill -9s of the coordinator while the same page runs, with
 * max_attempts = 2: a coordinator that stops is not the page's fault, so
 * each restart requeues the page instead of failing it (and the abandoned
 * attempts still move the attempt counter on). Its workers, the one
 * hanging on the page included, are gone within 10 s of each kill. With the
 * hook off, the next start finishes the job, both pages billed. */
static void coordinator_restarts_do_not_use_up_attempts(void **state)
{
    sv_fx_t *f = *state;
    char path[600];
    long long id = 0;
    pid_t kids[8];
    json_t *j, *t;
    size_t i;
    int n;

    t_require_data();
    set_pagemill_keys(f, "page_timeout = 60\nmax_attempts = 2\n");
    snprintf(path, sizeof(path), "%s/WO-1_restarts", f->scans);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/WO-1_restarts/p1.tif", f->scans);
    t_copy_file(t_data(TESTING "eurotext.tif"), path);
    snprintf(path, sizeof(path), "%s/WO-1_restarts/p2_hangme.tif", f->scans);
    t_copy_file(t_data(TESTING "phototest.tif"), path);
    snprintf(path, sizeof(path), "%s/WO-1_restarts/batch.ini", f->scans);
    sv_write_text(path, "expected_pages = 2\n");
    for (int round = 1; round <= 3; round++) {
        assert_int_equal(setenv("PAGEMILL_TEST_HANG_MATCH", "hangme", 1), 0);
        sv_start(f);
        unsetenv("PAGEMILL_TEST_HANG_MATCH");
        if (id == 0)
            id = sv_wait_job(f, "WO-1_restarts", NULL, DEADLINE_S);
        wait_page_running(f, id, 2, round);
        n = sv_worker_pids(f, kids, 8);
        assert_true(n >= 1);
        assert_int_equal(sv_stop(f, SIGKILL, 10), SIGKILL);
        /* The workers die with their coordinator, the one busy on the
         * hanging page (stdin never read) too. */
        wait_gone(kids, n, 10, "a worker of the killed coordinator");
    }
    sv_start(f);
    assert_int_equal(sv_wait_job(f, "WO-1_restarts", "done", DEADLINE_S), id);
    j = job_show(f, id);
    json_array_foreach(json_object_get(j, "page_tasks"), i, t)
    {
        assert_string_equal(sv_jstr(t, "state"), "done");
        if (sv_jint(t, "page") == 2)
            assert_int_equal(sv_jint(t, "attempts"), 4);
    }
    json_decref(j);
    assert_int_equal(sv_billable(f, id), 2);
    assert_published(f, id, 2);
}

/* Is `pid` one of v[0..n)? */
static int pid_in(pid_t pid, const pid_t *v, int n)
{
    for (int i = 0; i < n; i++)
        if (v[i] == pid)
            return 1;
    return 0;
}

/* Waits until `status --json` shows the service's 2 workers, one busy on
 * job `id`, with pids that are the service's children. */
static void wait_busy_workers(const sv_fx_t *f, long long id)
{
    double until = sv_now_s() + DEADLINE_S;
    char seen[256] = "nothing";

    for (; sv_now_s() < until; sv_nap_ms(100)) {
        json_t *doc = sv_cli_status(f, NULL), *arr, *w;
        pid_t kids[8];
        int nkids = sv_worker_pids(f, kids, 8), busy = 0, theirs = 0;
        size_t i, rows;

        arr = json_object_get(doc, "workers");
        json_array_foreach(arr, i, w)
        {
            theirs += pid_in((pid_t)sv_jint(w, "pid"), kids, nkids);
            busy += strcmp(sv_jstr(w, "state"), "busy") == 0 &&
                    sv_jint(w, "job") == id && sv_jint(w, "page") > 0;
        }
        rows = json_array_size(arr);
        snprintf(seen, sizeof(seen),
                 "%zu worker row(s), %d of them children, %d busy on job %lld",
                 rows, theirs, busy, id);
        json_decref(doc);
        if (rows == 2 && theirs == 2 && busy >= 1)
            return;
    }
    fail_msg("status never showed 2 workers, one busy: last saw %s", seen);
}

/* The catalog holds no worker rows, and status says so. */
static void assert_no_workers(const sv_fx_t *f)
{
    pm_catalog_t *cat = NULL;
    pm_worker_info_t *v = NULL;
    size_t n = 1;
    json_t *doc;
    char *out = NULL;
    int rc = 0;

    assert_int_equal(pm_catalog_open(f->db, &cat), 0);
    assert_int_equal(pm_worker_list(cat, &v, &n), 0);
    assert_int_equal(n, 0);
    pm_worker_list_free(v, n);
    pm_catalog_close(cat);
    doc = sv_cli_status(f, &rc);
    assert_int_equal(rc, 4); /* not running */
    assert_int_equal(json_array_size(json_object_get(doc, "workers")), 0);
    json_decref(doc);
    assert_int_equal(
        t_run(&out, "'%s' status --catalog '%s' 2>/dev/null", PM_BINARY, f->db),
        4);
    assert_non_null(strstr(out, "none (service not running)"));
    free(out);
}

/* SIGTERM with pages under way: exit 0 within the page timeout; the rest
 * of the job is done after a restart. While it runs, `status` shows the
 * two workers (the service's children); after each clean exit their rows
 * are gone. */
static void sigterm_drains_and_exits_zero(void **state)
{
    sv_fx_t *f = *state;
    const int pages = 8;
    long long id;

    t_require_data();
    sv_start(f);
    drop_batch(f->scans, "WO-1_term", pages, NULL, "");
    id = sv_wait_job(f, "WO-1_term", "running", DEADLINE_S);
    wait_busy_workers(f, id);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    assert_no_workers(f);
    sv_start(f);
    assert_int_equal(sv_wait_job(f, "WO-1_term", "done", DEADLINE_S), id);
    assert_int_equal(sv_billable(f, id), pages);
    assert_published(f, id, pages);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    assert_no_workers(f);
}

/* Waits until `status --json` shows the service's 2 workers idle, and
 * stores their pids in kids[2]. */
static void wait_idle_workers(const sv_fx_t *f, pid_t *kids)
{
    double until = sv_now_s() + DEADLINE_S;
    int idle = 0;

    for (; sv_now_s() < until; sv_nap_ms(100)) {
        json_t *doc = sv_cli_status(f, NULL), *w;
        size_t i;

        idle = 0;
        json_array_foreach(json_object_get(doc, "workers"), i, w)
        {
            if (strcmp(sv_jstr(w, "state"), "idle") == 0 && idle < 2)
                kids[idle++] = (pid_t)sv_jint(w, "pid");
        }
        json_decref(doc);
        if (idle == 2)
            return;
    }
    fail_msg("status never showed 2 idle workers (last: %d)", idle);
}

/* SIGTERM while an idle worker is stopped (SIGSTOP: it cannot read its
 * quit line or see stdin close): the service still exits 0 within the
 * drain's bound (page_timeout), the stopped worker killed after the
 * pool's short grace, and no worker is left. */
static void sigterm_with_a_stopped_idle_worker(void **state)
{
    sv_fx_t *f = *state;
    pid_t kids[2];
    double t0;

    t_require_data();
    sv_start(f);
    wait_idle_workers(f, kids);
    assert_int_equal(kill(kids[0], SIGSTOP), 0);
    stopped_worker = kids[0];
    t0 = sv_now_s();
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT), 0);
    wait_gone(kids, 2, PAGE_TIMEOUT - (sv_now_s() - t0),
              "a worker of the stopped service");
    stopped_worker = 0;
    wait_log(f, "did not quit within");
}

/* SIGHUP: a new hot folder is watched; a bad file (or one naming a
 * language that is not installed) keeps the old configuration and the
 * service keeps working. */
static void sighup_reloads_the_configuration(void **state)
{
    sv_fx_t *f = *state;
    char extra[512], *ini, *more;

    t_require_data();
    sv_start(f);
    wait_log(f, "started as"); /* its SIGHUP handler is in place */
    snprintf(extra, sizeof(extra), "%s/hot/extra", f->root);
    assert_int_equal(pm_mkdir_p(extra), 0);
    ini = t_slurp(f->ini);
    assert_non_null(ini);
    more = pm_asprintf("%s\n[hotfolder extra]\npath = %s\n", ini, extra);
    sv_write_text(f->ini, more);
    pm_free(more);
    assert_int_equal(kill(f->pid, SIGHUP), 0);
    wait_log(f, "4 hot folder(s)");
    drop_one(extra, "WO-1_extra", TESTING "phototest.tif");
    sv_wait_job(f, "WO-1_extra", "done", DEADLINE_S);

    sv_write_text(f->ini, "[pagemill]\nworkers = many\n");
    assert_int_equal(kill(f->pid, SIGHUP), 0);
    wait_log(f, "keeping the old configuration");
    /* A profile whose language is not installed is a bad file too. */
    more = pm_asprintf("%s\n[profile georgian]\nlanguages = kat\n", ini);
    sv_write_text(f->ini, more);
    pm_free(more);
    assert_int_equal(kill(f->pid, SIGHUP), 0);
    wait_log(f, "'kat' is not installed");
    sv_write_text(f->ini, ini);
    free(ini);
    drop_one(extra, "WO-1_after", TESTING "eurotext.tif");
    sv_wait_job(f, "WO-1_after", "done", DEADLINE_S);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* A batch left in the spool without a job (the service stopped between
 * taking it and recording it) is reported at the next start and left
 * where it is; a batch with its job is not reported. */
static void spool_batch_without_job_is_reported(void **state)
{
    sv_fx_t *f = *state;
    char dir[600], path[700], *log, *p;
    struct stat st;
    int reports = 0;

    drop_batch(f->scans, "WO-1_kept", 1, (const int[]){1}, "");
    sv_start(f);
    sv_wait_job(f, "WO-1_kept", "done", DEADLINE_S);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    snprintf(dir, sizeof(dir), "%s/spool/WO-1_lost.20260101T000000Z", f->root);
    assert_int_equal(pm_mkdir_p(dir), 0);
    snprintf(path, sizeof(path), "%s/p01.tif", dir);
    blank_page(path);
    sv_start(f);
    wait_log(f, "WO-1_lost.20260101T000000Z: a batch in the spool with no job");
    log = t_slurp(f->log);
    assert_non_null(log);
    for (p = log; (p = strstr(p, "with no job")) != NULL; p++)
        reports++;
    free(log);
    assert_int_equal(reports, 1); /* not WO-1_kept, not job-1 */
    assert_int_equal(stat(path, &st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(slow_catalog_work_ends_each_job_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(batch_becomes_published_job, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(settle_mode_waits_until_quiet, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_batches_are_rejected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(duplicate_is_held_until_released, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unknown_work_order_is_held, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(killed_worker_page_is_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(corrupt_page_fails_the_job, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(output_folder_error_names_the_path,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(hanging_page_hits_the_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(coordinator_killed_mid_batch_resumes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            coordinator_restarts_do_not_use_up_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(sigterm_drains_and_exits_zero, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sigterm_with_a_stopped_idle_worker,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(sighup_reloads_the_configuration, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(spool_batch_without_job_is_reported,
                                        setup, teardown),
    };

    /* PM_TEST_FILTER=hanging* runs only the tests whose names match. */
    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
