/*
 * test_review.c: review flags and replaced pages, end to end. The real
 * `pagemill serve` and CLI on real scans from ../shared/data: a page that
 * reads badly (the ITU fax chart 8, a sideways handwritten memo, at about
 * 47 mean confidence) is flagged with the reason in the catalog, the
 * published report, `job show`, `status` and `job list --review`, and a
 * good page (chart 1, a typed letter, about 91) is not. `job replace-page`
 * on the finished job swaps in a rescan that reads well: the document's
 * page text changes, the published PDF's pages and the catalog's SHA-256
 * match the new file, the flag is cleared, the old original and the old
 * outputs are kept, and billing is the same before and after. A
 * Devanagari page read with `eng` is flagged naming its script. Refusals:
 * a job not done, an unknown job, a page out of range, a missing file, a
 * symlink, an unsupported file and a multi-page file. With the service
 * down the request waits for its next start; a coordinator killed in the
 * middle of a replacement leaves it pending, and the restart does it once.
 * A coordinator killed in the middle of the swap (test hook): after the
 * exchange, the redo's record names the previous published version and
 * the intermediate document apart; without RENAME_EXCHANGE, between the
 * two renames, the redo puts the published folder back and finishes.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "catalog/catalog.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define DEADLINE_S                                        \
    600.0 /* for anything the service should do: real fax \
           * pages, OCR under ASan on a loaded machine */
#define PAGE_TIMEOUT 60

#define GOOD_PAGE         "debian-jbigkit-testdata/converted/ccitt1.png"
#define BAD_PAGE          "debian-jbigkit-testdata/converted/ccitt8.png"
#define RESCAN_PAGE       "leptonica/prog/bois-2.tif"
#define MULTI_PAGE        "derived/ccitt-fax-8pages-g4-204x196dpi.tif"
#define OTHER_SCRIPT_PAGE "tesseract-test/testing/devatest.png"

/* A batch of shared-data files, p1.. in order, marker last. */
static void drop_files(const sv_fx_t *f, const char *name,
                       const char *const *rel, int n)
{
    char path[700];

    snprintf(path, sizeof(path), "%s/%s", f->scans, name);
    assert_int_equal(pm_mkdir_p(path), 0);
    for (int i = 0; i < n; i++) {
        const char *ext = strrchr(rel[i], '.');

        snprintf(path, sizeof(path), "%s/%s/p%d%s", f->scans, name, i + 1, ext);
        t_copy_file(t_data(rel[i]), path);
    }
    snprintf(path, sizeof(path), "%s/%s/batch.ini", f->scans, name);
    sv_write_text(path, "");
}

static json_t *job_show(const sv_fx_t *f, long long id)
{
    char args[64];

    snprintf(args, sizeof(args), "job show %lld", id);
    return sv_cli_json(f, args);
}

/* The review reason of page `page` (1-based) in `job show --json`, or
 * NULL. */
static const char *task_review(json_t *show, int page)
{
    json_t *t =
        json_array_get(json_object_get(show, "page_tasks"), (size_t)page - 1);

    assert_non_null(t);
    return json_string_value(json_object_get(t, "review"));
}

static char *out_file(const sv_fx_t *f, long long id, const char *ext)
{
    return pm_asprintf("%s/ACME/WO-1/job-%lld/data/job-%lld.%s", f->out, id, id,
                       ext);
}

/* The published report of job `id` (new reference). */
static json_t *report(const sv_fx_t *f, long long id)
{
    char *path = out_file(f, id, "pages.json");
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);

    if (doc == NULL)
        fail_msg("%s: %s", path, jerr.text);
    pm_free(path);
    return doc;
}

static const char *report_review(json_t *rep, int page)
{
    json_t *p =
        json_array_get(json_object_get(rep, "page_results"), (size_t)page - 1);

    assert_non_null(p);
    assert_non_null(json_object_get(p, "review")); /* null or a reason */
    return json_string_value(json_object_get(p, "review"));
}

/* The catalog's PDF SHA-256 and page count of job `id`. */
static void catalog_pdf(const sv_fx_t *f, long long id, char sha[65],
                        int *pages)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT pdf_sha256, pdf_pages FROM "
                                        "jobs WHERE id = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(sha, 65, "%s", (const char *)sqlite3_column_text(st, 0));
    *pages = sqlite3_column_int(st, 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* SHA-256 of `path` by sha256sum, into sha[65]. */
static void file_sha(const char *path, char sha[65])
{
    char *out = NULL;

    assert_int_equal(t_run(&out, "sha256sum '%s'", path), 0);
    assert_true(strlen(out) >= 64);
    snprintf(sha, 65, "%.64s", out);
    free(out);
}

static char *billing_report(const sv_fx_t *f)
{
    char month[8], args[96];
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(month, sizeof(month), "%Y-%m", &tm);
    snprintf(args, sizeof(args), "billing report --month %s --format csv",
             month);
    return sv_cli_text(f, args);
}

/* Waits until job `id` has an event of `kind`. */
static void wait_event(const sv_fx_t *f, long long id, const char *kind)
{
    double end = sv_now_s() + DEADLINE_S;
    json_t *show, *e;
    size_t i;

    for (;;) {
        show = job_show(f, id);
        json_array_foreach(json_object_get(show, "events"), i, e)
        {
            if (strcmp(sv_jstr(e, "kind"), kind) == 0) {
                json_decref(show);
                return;
            }
        }
        json_decref(show);
        if (sv_now_s() > end) {
            fail_msg("job %lld: no %s event within %.0f s", id, kind,
                     DEADLINE_S);
        }
        sv_nap_ms(200);
    }
}

/* `pagemill ARGS` must exit 2 with `text` in its stderr. */
static void refused(const sv_fx_t *f, const char *args, const char *text)
{
    char *err = NULL;
    int rc = sv_cli(f, NULL, &err, args);

    if (rc != 2 || strstr(err, text) == NULL)
        fail_msg("pagemill %s: exit %d, stderr: %s (wanted exit 2 and '%s')",
                 args, rc, err, text);
    free(err);
}

static int setup(void **state)
{
    *state = sv_fx_new(PAGE_TIMEOUT, "", "STD");
    return 0;
}

static int teardown(void **state)
{
    return sv_fx_delete(*state, PAGE_TIMEOUT);
}

/* The orientation decision's method and evidence are in the catalog
 * (job show) and come back from it into the published report. */
static void assert_orientation_kept(json_t *show, json_t *rep)
{
    for (size_t i = 0; i < 2; i++) {
        json_t *t = json_array_get(json_object_get(show, "page_tasks"), i);
        json_t *p = json_array_get(json_object_get(rep, "page_results"), i);
        const char *method =
            json_string_value(json_object_get(t, "orient_method"));

        assert_non_null(method);
        assert_string_equal(sv_jstr(p, "orient_method"), method);
        assert_true(json_is_object(json_object_get(t, "orient_evidence")));
        assert_true(json_is_array(json_object_get(p, "orient_read")));
    }
}

/* The flags where a person sees them: catalog, report, show, lists. */
static void assert_flagged(const sv_fx_t *f, long long id)
{
    json_t *show = job_show(f, id), *rep = report(f, id), *list, *status, *st;
    const char *why = task_review(show, 2);

    assert_null(task_review(show, 1));
    if (why == NULL || strstr(why, "mean OCR confidence") == NULL)
        fail_msg("page 2 is not flagged: %s", why ? why : "(null)");
    assert_string_equal(report_review(rep, 2), why);
    assert_null(report_review(rep, 1));
    assert_int_equal(sv_jint(rep, "review_pages"), 1);
    assert_orientation_kept(show, rep);
    list = sv_cli_json(f, "job list --review");
    assert_int_equal(json_array_size(list), 1);
    assert_int_equal(sv_jint(json_array_get(list, 0), "id"), id);
    assert_string_equal(sv_jstr(json_array_get(list, 0), "workorder"), "WO-1");
    assert_string_equal(sv_jstr(json_array_get(list, 0), "account"), "ACME");
    assert_int_equal(sv_jint(json_array_get(list, 0), "review_pages"), 1);
    assert_non_null(strstr(sv_jstr(json_array_get(list, 0), "reasons"),
                           "page 2: mean OCR confidence"));
    status = sv_cli_json(f, "status");
    st = json_object_get(status, "review");
    assert_int_equal(sv_jint(st, "pages"), 1);
    assert_int_equal(sv_jint(st, "jobs"), 1);
    json_decref(status);
    json_decref(list);
    json_decref(rep);
    json_decref(show);
}

/* Every way replace-page refuses, nothing recorded. */
static void assert_refusals(const sv_fx_t *f, long long id, long long held)
{
    char args[1200], link[600], text[600];

    snprintf(args, sizeof(args), "job replace-page %lld 2", id);
    refused(f, args, "missing FILE");
    snprintf(args, sizeof(args), "job replace-page %lld two %s", id,
             t_data(RESCAN_PAGE));
    refused(f, args, "not a page number");
    snprintf(args, sizeof(args), "job replace-page %lld 2 %s", held,
             t_data(RESCAN_PAGE));
    refused(f, args, "only a done job's page can be replaced");
    snprintf(args, sizeof(args), "job replace-page 999 2 %s",
             t_data(RESCAN_PAGE));
    refused(f, args, "no job 999");
    snprintf(args, sizeof(args), "job replace-page %lld 3 %s", id,
             t_data(RESCAN_PAGE));
    refused(f, args, "there is no page 3");
    snprintf(args, sizeof(args), "job replace-page %lld 2 %s/nothing.tif", id,
             f->root);
    refused(f, args, "No such file");
    snprintf(link, sizeof(link), "%s/link.tif", f->root);
    assert_int_equal(symlink(t_data(RESCAN_PAGE), link), 0);
    snprintf(args, sizeof(args), "job replace-page %lld 2 %s", id, link);
    refused(f, args, "symbolic link");
    snprintf(text, sizeof(text), "%s/notes.tif", f->root);
    sv_write_text(text, "not an image at all\n");
    snprintf(args, sizeof(args), "job replace-page %lld 2 %s", id, text);
    refused(f, args, "notes.tif");
    snprintf(args, sizeof(args), "job replace-page %lld 2 %s", id,
             t_data(MULTI_PAGE));
    refused(f, args, "has 8 pages");
}

/* After the replacement: new text and PDF, flag gone, originals kept. */
static void assert_replaced(const sv_fx_t *f, long long id, const char *txt0)
{
    char *pdf = out_file(f, id, "pdf"), *txt = out_file(f, id, "txt");
    char *text = t_slurp(txt), sha[65], cat_sha[65], *out = NULL;
    json_t *show = job_show(f, id), *rep = report(f, id), *list;
    int pages = 0;

    assert_non_null(strstr(text, "Preludio")); /* the rescan's words */
    assert_null(strstr(txt0, "Preludio"));
    assert_non_null(strstr(text, "SLEREXE")); /* page 1 as it was */
    assert_int_equal(t_pdf_pages(pdf), 2);
    file_sha(pdf, sha);
    catalog_pdf(f, id, cat_sha, &pages);
    assert_string_equal(cat_sha, sha);
    assert_int_equal(pages, 2);
    assert_string_equal(sv_jstr(rep, "pdf_sha256"), sha);
    assert_null(task_review(show, 2));
    assert_null(report_review(rep, 2));
    assert_int_equal(sv_jint(rep, "review_pages"), 0);
    assert_orientation_kept(show, rep);
    assert_string_equal(sv_jstr(show, "state"), "done");
    list = sv_cli_json(f, "job list --review");
    assert_int_equal(json_array_size(list), 0);
    /* The old original in the spool, the old outputs beside the new. */
    assert_int_equal(
        t_run(&out, "ls '%s/spool/job-%lld/replaced'", f->root, id), 0);
    assert_non_null(strstr(out, "p2.png"));
    free(out);
    assert_int_equal(t_run(&out, "ls '%s/ACME/WO-1/.replaced'", f->out), 0);
    assert_true(strlen(out) > 0);
    free(out);
    json_decref(list);
    json_decref(rep);
    json_decref(show);
    pm_free(text);
    pm_free(pdf);
    pm_free(txt);
}

static void low_confidence_page_is_flagged_then_replaced(void **state)
{
    sv_fx_t *f = *state;
    static const char *const pages[] = {GOOD_PAGE, BAD_PAGE};
    static const char *const again[] = {GOOD_PAGE};
    char args[1200], *bill0, *bill1, *txt, *txt0;
    long long id, held;

    t_require_data();
    sv_start(f);
    drop_files(f, "WO-1_a", pages, 2);
    id = sv_wait_job(f, "WO-1_a", "done", DEADLINE_S);
    assert_flagged(f, id);
    /* The same page again: held as a possible duplicate, never done. */
    drop_files(f, "WO-1_b", again, 1);
    held = sv_wait_job(f, "WO-1_b", "held", DEADLINE_S);
    assert_refusals(f, id, held);

    bill0 = billing_report(f);
    assert_non_null(strstr(bill0, "WO-1")); /* the job is billed */
    txt = out_file(f, id, "txt");
    txt0 = t_slurp(txt);
    snprintf(args, sizeof(args), "job replace-page %lld 2 %s", id,
             t_data(RESCAN_PAGE));
    sv_cli_ok(f, args);
    /* One at a time: a second request waits for the first. */
    refused(f, args, "still pending");
    wait_event(f, id, "page.replaced");
    assert_replaced(f, id, txt0);
    bill1 = billing_report(f);
    assert_string_equal(bill1, bill0);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    free(bill0);
    free(bill1);
    pm_free(txt0);
    pm_free(txt);
}

/* A Devanagari page in a batch read with `eng`: flagged naming its
 * script, in the catalog (`job show`), the published report and `job
 * list --review`; the English page beside it is not. */
static void page_in_another_script_is_flagged(void **state)
{
    sv_fx_t *f = *state;
    static const char *const pages[] = {GOOD_PAGE, OTHER_SCRIPT_PAGE};
    static const char want[] =
        "script Devanagari not among the profile's languages eng";
    json_t *show, *rep, *list;
    long long id;

    t_require_data();
    sv_start(f);
    drop_files(f, "WO-1_s", pages, 2);
    id = sv_wait_job(f, "WO-1_s", "done", DEADLINE_S);
    show = job_show(f, id);
    rep = report(f, id);
    assert_null(task_review(show, 1));
    assert_non_null(task_review(show, 2));
    assert_string_equal(task_review(show, 2), want);
    assert_null(report_review(rep, 1));
    assert_string_equal(report_review(rep, 2), want);
    assert_int_equal(sv_jint(rep, "review_pages"), 1);
    list = sv_cli_json(f, "job list --review");
    assert_int_equal(json_array_size(list), 1);
    assert_non_null(strstr(sv_jstr(json_array_get(list, 0), "reasons"),
                           "page 2: script Devanagari"));
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    json_decref(list);
    json_decref(rep);
    json_decref(show);
}

/* With the service down the request waits, and the next start does it. */
static void replacement_waits_for_the_service(void **state)
{
    sv_fx_t *f = *state;
    static const char *const pages[] = {GOOD_PAGE, BAD_PAGE};
    char args[1200], *txt, *txt0;
    long long id;

    t_require_data();
    sv_start(f);
    drop_files(f, "WO-1_a", pages, 2);
    id = sv_wait_job(f, "WO-1_a", "done", DEADLINE_S);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    txt = out_file(f, id, "txt");
    txt0 = t_slurp(txt);
    snprintf(args, sizeof(args), "job replace-page %lld 2 %s", id,
             t_data(RESCAN_PAGE));
    sv_cli_ok(f, args);
    sv_start(f);
    wait_event(f, id, "page.replaced");
    assert_replaced(f, id, txt0);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    pm_free(txt0);
    pm_free(txt);
}

/* How many events of `kind` job `id` has. */
static int count_events(const sv_fx_t *f, long long id, const char *kind)
{
    json_t *show = job_show(f, id), *e;
    size_t i;
    int n = 0;

    json_array_foreach(json_object_get(show, "events"), i, e)
    {
        n += strcmp(sv_jstr(e, "kind"), kind) == 0;
    }
    json_decref(show);
    return n;
}

/* kill -9 of the coordinator while it replaces a page: the request stays
 * pending, the next start does it, once; no temp folder is left. */
static void coordinator_killed_mid_replacement(void **state)
{
    sv_fx_t *f = *state;
    static const char *const pages[] = {GOOD_PAGE, BAD_PAGE};
    char args[1200], *txt, *txt0, *bill0, *bill1, *out = NULL;
    long long id;

    t_require_data();
    sv_start(f);
    drop_files(f, "WO-1_a", pages, 2);
    id = sv_wait_job(f, "WO-1_a", "done", DEADLINE_S);
    bill0 = billing_report(f);
    txt = out_file(f, id, "txt");
    txt0 = t_slurp(txt);
    snprintf(args, sizeof(args), "job replace-page %lld 2 %s", id,
             t_data(RESCAN_PAGE));
    sv_cli_ok(f, args);
    sv_wait_log(f, "replacing it with", DEADLINE_S);
    sv_stop(f, SIGKILL, DEADLINE_S);
    assert_int_equal(count_events(f, id, "page.replaced"), 0);
    sv_start(f);
    wait_event(f, id, "page.replaced");
    assert_replaced(f, id, txt0);
    assert_int_equal(count_events(f, id, "page.replaced"), 1);
    bill1 = billing_report(f);
    assert_string_equal(bill1, bill0);
    assert_int_equal(t_run(&out, "find '%s' -name '*.tmp'", f->out), 0);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    free(bill0);
    free(bill1);
    pm_free(txt0);
    pm_free(txt);
}

/*
 * A stop between the two renames of a swap leaves the published folder
 * in job-N.replace.tmp (the new one in its place): the next replacement
 * keeps that folder beside the old outputs as <aside>-leftover instead of
 * removing it. Simulated with a copy of the published folder, marked.
 */
static void outputs_left_by_a_stopped_swap_are_kept(void **state)
{
    sv_fx_t *f = *state;
    static const char *const pages[] = {GOOD_PAGE, BAD_PAGE};
    char args[1200], *txt, *txt0, *out = NULL;
    long long id;

    t_require_data();
    sv_start(f);
    drop_files(f, "WO-1_a", pages, 2);
    id = sv_wait_job(f, "WO-1_a", "done", DEADLINE_S);
    txt = out_file(f, id, "txt");
    txt0 = t_slurp(txt);
    assert_int_equal(t_run(NULL,
                           "cd '%s/ACME/WO-1' && cp -a job-%lld "
                           "job-%lld.replace.tmp && echo old >"
                           "job-%lld.replace.tmp/data/MARK",
                           f->out, id, id, id),
                     0);
    snprintf(args, sizeof(args), "job replace-page %lld 2 %s", id,
             t_data(RESCAN_PAGE));
    sv_cli_ok(f, args);
    wait_event(f, id, "page.replaced");
    assert_replaced(f, id, txt0);
    sv_wait_log(f, "kept as", 10.0);
    assert_int_equal(t_run(&out,
                           "cat '%s'/ACME/WO-1/.replaced/*-leftover/data/MARK",
                           f->out),
                     0);
    assert_string_equal(out, "old\n");
    free(out);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    pm_free(txt0);
    pm_free(txt);
}

/* The record of job `id`'s one replacement: .replaced/job-<id>-*-p2.json
 * (new reference). */
static json_t *replace_record(const sv_fx_t *f, long long id)
{
    char *out = NULL, *nl;
    json_error_t jerr;
    json_t *doc;

    assert_int_equal(t_run(&out,
                           "ls -d '%s'/ACME/WO-1/.replaced/job-%lld-*-p2.json",
                           f->out, id),
                     0);
    nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_string_equal(nl + 1, ""); /* one record */
    *nl = '\0';
    doc = json_load_file(out, 0, &jerr);
    if (doc == NULL)
        fail_msg("%s: %s", out, jerr.text);
    free(out);
    return doc;
}

/* The text file of the job folder `dir` (new string). */
static char *folder_txt(const char *dir, long long id)
{
    char *path = pm_asprintf("%s/data/job-%lld.txt", dir, id);
    char *text = t_slurp(path);

    pm_free(path);
    return text;
}

/* Drops a two-page job with the swap hook armed (and with no exchange
 * when `no_exchange`), asks for page 2 to be replaced and waits for the
 * coordinator to die in the middle of the swap; its id, and the
 * published text before into *txt0. */
static long long swap_cut(sv_fx_t *f, int no_exchange, char **txt0)
{
    static const char *const pages[] = {GOOD_PAGE, BAD_PAGE};
    char flag[600], args[1200], *txt;
    long long id;
    int status;

    snprintf(flag, sizeof(flag), "%s/swap-die-once", f->root);
    sv_write_text(flag, "");
    /* The service inherits the hooks from the fork. */
    assert_int_equal(setenv("PAGEMILL_TEST_SWAP_DIE", flag, 1), 0);
    if (no_exchange)
        assert_int_equal(setenv("PAGEMILL_TEST_NO_EXCHANGE", "1", 1), 0);
    sv_start(f);
    unsetenv("PAGEMILL_TEST_SWAP_DIE");
    drop_files(f, "WO-1_a", pages, 2);
    id = sv_wait_job(f, "WO-1_a", "done", DEADLINE_S);
    txt = out_file(f, id, "txt");
    *txt0 = t_slurp(txt);
    pm_free(txt);
    snprintf(args, sizeof(args), "job replace-page %lld 2 %s", id,
             t_data(RESCAN_PAGE));
    sv_cli_ok(f, args);
    status = sv_reap(f, DEADLINE_S);
    if (status == -1)
        fail_msg("the swap hook did not stop the coordinator");
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(t_run(NULL, "test -e '%s'", flag), 1); /* hook fired */
    assert_int_equal(count_events(f, id, "page.replaced"), 0);
    return id;
}

/*
 * A stop between the exchange of a replacement's swap and the move aside
 * (the coordinator killed there by the test hook): the published folder
 * holds a document assembled with the rescan that the catalog never
 * recorded, the temp folder the previous published version. The redo
 * keeps the latter as <aside>-leftover and moves the former aside; its
 * record (.replaced/job-N-<time>-p2.json) and its log name the leftover
 * as the previous published version and the aside as the intermediate,
 * never recorded document.
 */
static void
swap_stopped_after_the_exchange_names_the_previous_version(void **state)
{
    sv_fx_t *f = *state;
    json_t *rec, *aside;
    const char *prev, *inter;
    char *txt0, *text;
    long long id;

    t_require_data();
    id = swap_cut(f, 0, &txt0);
    sv_start(f);
    sv_wait_replaced(f, id, DEADLINE_S);
    assert_replaced(f, id, txt0);
    rec = replace_record(f, id);
    prev = sv_jstr(rec, "previous_version");
    assert_non_null(strstr(prev, "-leftover"));
    text = folder_txt(prev, id);
    assert_string_equal(text, txt0); /* what was published before */
    pm_free(text);
    assert_int_equal(json_array_size(json_object_get(rec, "set_aside")), 2);
    aside = json_array_get(json_object_get(rec, "set_aside"), 0);
    inter = sv_jstr(aside, "folder");
    assert_null(strstr(inter, "-leftover"));
    assert_non_null(strstr(sv_jstr(aside, "holds"), "intermediate"));
    assert_true(json_is_false(json_object_get(aside, "recorded")));
    text = folder_txt(inter, id);
    assert_non_null(strstr(text, "Preludio")); /* assembled with the rescan */
    pm_free(text);
    aside = json_array_get(json_object_get(rec, "set_aside"), 1);
    assert_string_equal(sv_jstr(aside, "folder"), prev);
    assert_true(json_is_true(json_object_get(aside, "recorded")));
    sv_wait_log(f, "the previous published version is at", 10.0);
    sv_wait_log(f, "holds an intermediate document", 10.0);
    assert_int_equal(sv_log_count(f->log, "the old outputs are at"), 0);
    json_decref(rec);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    pm_free(txt0);
}

/*
 * A file system without RENAME_EXCHANGE (the test hook refuses it, as NFS
 * does with EINVAL): the swap is two renames, and a stop between them
 * leaves no job-N/ at all, the previous version at the stopped attempt's
 * aside and the new document in job-N.replace.tmp. The redo puts the
 * previous version back and swaps again: job-N/ holds the new document,
 * the previous version is kept under .replaced/ and the record says where.
 */
static void
swap_without_exchange_stopped_between_renames_is_finished(void **state)
{
    sv_fx_t *f = *state;
    char final[700], *txt0, *text;
    const char *prev, *pub;
    struct stat st;
    json_t *rec;
    long long id;

    t_require_data();
    id = swap_cut(f, 1, &txt0);
    snprintf(final, sizeof(final), "%s/ACME/WO-1/job-%lld", f->out, id);
    assert_int_equal(lstat(final, &st), -1); /* the state the stop left */
    sv_start(f);                             /* still without the exchange */
    unsetenv("PAGEMILL_TEST_NO_EXCHANGE");
    sv_wait_replaced(f, id, DEADLINE_S);
    assert_replaced(f, id, txt0);
    sv_wait_log(f, "the previous version put back", 10.0);
    rec = replace_record(f, id);
    prev = sv_jstr(rec, "previous_version");
    assert_null(strstr(prev, "-leftover"));
    text = folder_txt(prev, id);
    assert_string_equal(text, txt0);
    pm_free(text);
    pub = sv_jstr(json_object_get(rec, "published"), "folder");
    snprintf(final, sizeof(final), "/ACME/WO-1/job-%lld", id);
    assert_true(strlen(pub) > strlen(final) &&
                strcmp(pub + strlen(pub) - strlen(final), final) == 0);
    json_decref(rec);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    pm_free(txt0);
}

/*
 * A stop between moving the old original into spool/job-N/replaced/ and
 * recording the replacement: the next attempt finds the original there
 * (by its name and its SHA-256) and records where it is, instead of
 * recording that it stayed. Simulated by moving it there first.
 */
static void original_moved_by_a_stopped_attempt_is_recorded(void **state)
{
    sv_fx_t *f = *state;
    static const char *const pages[] = {GOOD_PAGE, BAD_PAGE};
    char args[1200], kept[1200], *text;
    const char *src, *base;
    long long id;
    json_t *show;

    t_require_data();
    sv_start(f);
    drop_files(f, "WO-1_a", pages, 2);
    id = sv_wait_job(f, "WO-1_a", "done", DEADLINE_S);
    show = job_show(f, id);
    src =
        sv_jstr(json_array_get(json_object_get(show, "page_tasks"), 1), "src");
    base = strrchr(src, '/') + 1;
    snprintf(kept, sizeof(kept),
             "%s/spool/job-%lld/replaced/p00002-20260101T000000Z-%s", f->root,
             id, base);
    assert_int_equal(t_run(NULL,
                           "mkdir -p '%s/spool/job-%lld/replaced' && mv '%s' "
                           "'%s'",
                           f->root, id, src, kept),
                     0);
    json_decref(show);
    snprintf(args, sizeof(args), "job replace-page %lld 2 %s", id,
             t_data(RESCAN_PAGE));
    sv_cli_ok(f, args);
    wait_event(f, id, "page.replaced");
    show = job_show(f, id);
    text = json_dumps(json_object_get(show, "events"), 0);
    assert_non_null(strstr(text, "p00002-20260101T000000Z-"));
    free(text);
    json_decref(show);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            low_confidence_page_is_flagged_then_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(page_in_another_script_is_flagged,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(replacement_waits_for_the_service,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(coordinator_killed_mid_replacement,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(outputs_left_by_a_stopped_swap_are_kept,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            swap_stopped_after_the_exchange_names_the_previous_version, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            swap_without_exchange_stopped_between_renames_is_finished, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            original_moved_by_a_stopped_attempt_is_recorded, setup, teardown),
    };

    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
