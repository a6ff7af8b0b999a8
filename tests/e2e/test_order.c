/*
 * test_order.c: `pagemill serve` claims a job's largest page first
 * (catalog/rules.h) and still publishes the pages in scan order. Intake
 * records each page's pixels as its work estimate (page_tasks.work); the
 * scheduler's debug log shows the order in which pages were claimed and
 * submitted; the published PDF and report keep the batch's order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <leptonica/allheaders.h>
#include <sqlite3.h>

#include "lib/servelib.h"
#include "pipeline/base/pm.h"

#define DEADLINE_S   600.0 /* a loaded 2-core machine, three small pages */
#define PAGE_TIMEOUT 240

/* The batch's pages in scan order, of growing sizes. */
static const struct {
    int w, h;
} pages[3] = {{900, 900}, {1500, 1200}, {2100, 1500}};

static void drop(const sv_fx_t *f, const char *name)
{
    char path[700], to[700];

    snprintf(path, sizeof(path), "%s/.%s", f->scans, name);
    assert_int_equal(pm_mkdir_p(path), 0);
    for (int i = 0; i < 3; i++) {
        PIX *pix =
            t_text_page(pages[i].w, pages[i].h, 300,
                        (const char *const[]){"THE QUICK BROWN FOX", NULL});

        assert_non_null(pix);
        snprintf(path, sizeof(path), "%s/.%s/p%d.tif", f->scans, name, i + 1);
        assert_int_equal(pixWrite(path, pix, IFF_TIFF_G4), 0);
        pixDestroy(&pix);
    }
    snprintf(path, sizeof(path), "%s/.%s/batch.ini", f->scans, name);
    sv_write_text(path, "");
    snprintf(path, sizeof(path), "%s/.%s", f->scans, name);
    snprintf(to, sizeof(to), "%s/%s", f->scans, name);
    assert_int_equal(rename(path, to), 0);
}

/* The pages of job 1 in the order the scheduler submitted them. */
static void submitted_order(const char *log, int *order, int n)
{
    const char *p = log;
    int k = 0, page;

    while (k < n && (p = strstr(p, "sched job=1 page=")) != NULL) {
        char rest[32];

        p += strlen("sched job=1 page=");
        if (sscanf(p, "%d attempt 1: %31s", &page, rest) == 2 &&
            strcmp(rest, "submitted") == 0)
            order[k++] = page;
    }
    if (k < n) {
        fprintf(stderr, "%s", log);
        fail_msg("only %d of %d pages were submitted (log above)", k, n);
    }
}

/* page_tasks.work of job 1's pages, in page order. */
static void recorded_work(const sv_fx_t *f, long long *work, int n)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int k = 0;

    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT work FROM page_tasks WHERE "
                                        "job = 1 ORDER BY page",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (k < n && sqlite3_step(st) == SQLITE_ROW)
        work[k++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(k, n);
}

static void largest_page_first_published_in_scan_order(void **state)
{
    sv_fx_t f;
    char path[700], *log;
    json_t *rep, *res;
    int order[3];
    long long work[3];

    (void)state;
    assert_int_equal(setenv("PAGEMILL_LOG", "debug", 1), 0);
    assert_int_equal(sv_fx_init(&f, t_tmpdir()), 0);
    assert_int_equal(sv_write_config(&f, PAGE_TIMEOUT, ""), 0);
    sv_cli_ok(&f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(&f, "workorder add WO-1 --account ACME");
    sv_start(&f);
    sv_wait_log(&f, " serve started as ", DEADLINE_S);
    drop(&f, "WO-1_order");
    assert_int_equal(sv_wait_job(&f, "WO-1_order", "done", DEADLINE_S), 1);
    unsetenv("PAGEMILL_LOG");

    /* The estimate is each page's pixels. */
    recorded_work(&f, work, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(work[i], (long long)pages[i].w * pages[i].h);
    /* Claimed largest first. */
    log = t_slurp(f.log);
    assert_non_null(log);
    submitted_order(log, order, 3);
    if (order[0] != 3 || order[1] != 2 || order[2] != 1)
        fail_msg("pages submitted in the order %d, %d, %d; want 3, 2, 1",
                 order[0], order[1], order[2]);
    pm_free(log);
    /* Published in scan order. */
    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-1/data/job-1.pdf", f.out);
    assert_int_equal(t_pdf_pages(path), 3);
    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-1/data/job-1.pages.json",
             f.out);
    rep = json_load_file(path, 0, NULL);
    assert_non_null(rep);
    res = json_object_get(rep, "page_results");
    assert_int_equal(json_array_size(res), 3);
    for (int i = 0; i < 3; i++) {
        json_t *p = json_array_get(res, (size_t)i);
        const char *src = sv_jstr(p, "src");
        char want[16];

        snprintf(want, sizeof(want), "/p%d.tif", i + 1);
        assert_int_equal(json_integer_value(json_object_get(p, "page")), i + 1);
        assert_int_equal(json_integer_value(json_object_get(p, "width")),
                         pages[i].w);
        if (src == NULL || strstr(src, want) == NULL)
            fail_msg("published page %d is %s, want ...%s", i + 1,
                     src ? src : "(none)", want);
    }
    json_decref(rep);
    assert_int_equal(sv_fx_fini(&f, PAGE_TIMEOUT + 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(largest_page_first_published_in_scan_order),
    };

    return cmocka_run_group_tests(tests, t_tmpdir_setup, t_tmpdir_teardown);
}
