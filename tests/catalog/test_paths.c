/*
 * test_paths.c: rewriting the catalog's path columns
 * (pm_catalog_rewrite_paths, catalog/paths.c and each backend's
 * primitives) on a real catalog of each backend: an SQLite file, then a
 * fresh PostgreSQL database in a private server (lib/pgtest.c;
 * PostgreSQL missing fails). Every path column is rewritten in one
 * transaction, past a batch's end; a dry run and a failure change
 * nothing; a second run changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/paths.h"
#include "lib/cattest.h"
#include "lib/pgtest.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define T0 1000000

/* More pages than one batch of the rewrite reads (PM__PATH_BATCH). */
#define NPAGES 1100

#define SHA_N "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
#define SHA_P "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"

/* The last catalog open_cat made, for a second handle on it. */
static char last_path[512];

static pm_catalog_t *open_cat(void)
{
    pm_catalog_t *cat = NULL;

    if (ct_use_pg)
        ct_pg_fresh(last_path, sizeof(last_path));
    else
        snprintf(last_path, sizeof(last_path), "%s/catalog-%d.db", t_tmpdir(),
                 rand());
    assert_int_equal(pm_catalog_open(last_path, &cat), 0);
    return cat;
}

/* A job of NPAGES pages under /srv/a/spool/job-1, but for its last page,
 * which is under /other. */
static int64_t new_job(pm_catalog_t *cat)
{
    pm_page_input_t *pages = calloc(NPAGES, sizeof(*pages));
    char(*src)[64] = calloc(NPAGES, 64), (*sha)[65] = calloc(NPAGES, 65);
    pm_job_t j = {.workorder = (char *)"WO-1",
                  .account = (char *)"CITY",
                  .profile = (char *)"default",
                  .batch = (char *)"WO-1",
                  .source_path = (char *)"/srv/a/spool/job-1"};
    int64_t id = 0;

    assert_non_null(pages);
    for (int i = 0; i < NPAGES; i++) {
        snprintf(src[i], 64, "%s/p%05d.tif",
                 i + 1 < NPAGES ? "/srv/a/spool/job-1" : "/other", i + 1);
        snprintf(sha[i], 65, "%064x", (unsigned)i + 1);
        pages[i] = (pm_page_input_t){src[i], 0, sha[i], 0};
    }
    assert_int_equal(pm_job_create(cat, &j, pages, NPAGES, "intake", &id), 0);
    free(pages);
    free(src);
    free(sha);
    return id;
}

/* Page `page`'s results under /srv/a (names into buf[3][64]). */
static pm_page_metrics_t results(int page, char buf[3][64])
{
    pm_page_metrics_t m = ct_metrics(0);

    snprintf(buf[0], 64, "/srv/a/spool/job-1/pages/%05d.tif", page);
    snprintf(buf[1], 64, "/srv/a/spool/job-1/pages/%05d.pdf", page);
    snprintf(buf[2], 64, "/srv/a/spool/job-1/pages/%05d.txt", page);
    m.image = buf[0];
    m.text_pdf = buf[1];
    m.text = buf[2];
    return m;
}

/* Completes every page with its results under /srv/a, finishes the job
 * into /srv/a/out, and replaces its second page with a rescan. */
static void make_catalog(pm_catalog_t *cat)
{
    pm_page_metrics_t m;
    pm_replacement_t r;
    char buf[3][64];
    int64_t job = new_job(cat), req = 0;

    for (int i = 0; i < NPAGES; i++) {
        pm_task_t k = ct_claim(cat, "w1", T0 + 1);

        m = results(k.page, buf);
        assert_int_equal(pm_task_complete(cat, k.id, k.attempts, &m, T0 + 1),
                         0);
        pm_task_cleanup(&k);
    }
    assert_int_equal(ct_collect(cat, T0 + 2), 1);
    assert_int_equal(pm_job_finish_doc(cat, job, "/srv/a/out/CITY/WO-1/job-1",
                                       SHA_P, NPAGES, T0 + 2),
                     0);
    assert_int_equal(pm_replace_request(cat, job, 2,
                                        "/srv/a/spool/job-1/rescan.tif", SHA_N,
                                        "cli:jane", T0 + 3, &req),
                     0);
    assert_int_equal(pm_replace_next(cat, &r), 0);
    m = results(2, buf);
    assert_int_equal(pm_replace_finish(cat, &r, &m, SHA_P, NPAGES,
                                       "/srv/a/spool/job-1/replaced/p2.tif",
                                       T0 + 4),
                     0);
    pm_replacement_cleanup(&r);
}

typedef struct mapping {
    int calls;
    int fail_at_col; /* -1: never */
} mapping_t;

/* /srv/a/... becomes a:...; anything else is left. */
static int to_volume(void *arg, int col, const char *path, char **to)
{
    mapping_t *mp = arg;

    mp->calls++;
    *to = NULL;
    if (col == mp->fail_at_col)
        return PM_EINVAL;
    if (strncmp(path, "/srv/a/", 7) == 0)
        *to = pm_asprintf("a:%s", path + 7);
    return 0;
}

static int col_of(const char *table, const char *column)
{
    for (int i = 0; i < PM_PATH_COLUMNS; i++)
        if (strcmp(pm_path_columns[i].table, table) == 0 &&
            strcmp(pm_path_columns[i].column, column) == 0)
            return i;
    fail_msg("no column %s.%s", table, column);
    return -1;
}

/* The job's paths as the catalog reads them back. */
static void expect_paths(pm_catalog_t *cat, const char *root)
{
    pm_replacement_t *v = NULL;
    pm_task_t *t = NULL;
    pm_job_t j;
    size_t n = 0, nr = 0;
    char want[128];

    assert_int_equal(pm_job_get(cat, 1, &j), 0);
    snprintf(want, sizeof(want), "%sspool/job-1", root);
    assert_string_equal(j.source_path, want);
    snprintf(want, sizeof(want), "%sout/CITY/WO-1/job-1", root);
    assert_string_equal(j.output_path, want);
    pm_job_cleanup(&j);
    assert_int_equal(pm_task_list(cat, 1, &t, &n), 0);
    assert_int_equal(n, NPAGES);
    snprintf(want, sizeof(want), "%sspool/job-1/pages/00001.tif", root);
    assert_string_equal(t[0].image, want);
    snprintf(want, sizeof(want), "%sspool/job-1/pages/00002.pdf", root);
    assert_string_equal(t[1].text_pdf, want);
    snprintf(want, sizeof(want), "%sspool/job-1/pages/01100.txt", root);
    assert_string_equal(t[NPAGES - 1].text, want);
    snprintf(want, sizeof(want), "%sspool/job-1/rescan.tif", root);
    assert_string_equal(t[1].src, want);
    snprintf(want, sizeof(want), "%sspool/job-1/p01000.tif", root);
    assert_string_equal(t[999].src, want);
    assert_string_equal(t[NPAGES - 1].src, "/other/p01100.tif");
    pm_task_list_free(t, n);
    assert_int_equal(pm_replace_list(cat, 1, &v, &nr), 0);
    assert_int_equal(nr, 1);
    snprintf(want, sizeof(want), "%sspool/job-1/rescan.tif", root);
    assert_string_equal(v[0].src, want);
    snprintf(want, sizeof(want), "%sspool/job-1/p00002.tif", root);
    assert_string_equal(v[0].old_src, want);
    snprintf(want, sizeof(want), "%sspool/job-1/replaced/p2.tif", root);
    assert_string_equal(v[0].kept_as, want);
    pm_replacement_list_free(v, nr);
}

/* Every column, past a batch's end; the page under /other left. */
static void rewrite_every_path_column(void **state)
{
    pm_catalog_t *cat = open_cat();
    pm_path_count_t c[PM_PATH_COLUMNS];
    mapping_t mp = {0, -1};

    (void)state;
    make_catalog(cat);
    expect_paths(cat, "/srv/a/");
    assert_int_equal(pm_catalog_rewrite_paths(cat, to_volume, &mp, 0, c), 0);
    expect_paths(cat, "a:");
    assert_int_equal(c[col_of("jobs", "source_path")].rows, 1);
    assert_int_equal(c[col_of("jobs", "source_path")].rewritten, 1);
    assert_int_equal(c[col_of("jobs", "output_path")].rewritten, 1);
    assert_int_equal(c[col_of("page_tasks", "src")].rows, NPAGES);
    assert_int_equal(c[col_of("page_tasks", "src")].rewritten, NPAGES - 1);
    assert_int_equal(c[col_of("page_tasks", "image")].rows, NPAGES);
    assert_int_equal(c[col_of("page_tasks", "image")].rewritten, NPAGES);
    assert_int_equal(c[col_of("page_tasks", "text_pdf")].rewritten, NPAGES);
    assert_int_equal(c[col_of("page_tasks", "text")].rewritten, NPAGES);
    assert_int_equal(c[col_of("page_replacements", "src")].rewritten, 1);
    assert_int_equal(c[col_of("page_replacements", "old_src")].rewritten, 1);
    assert_int_equal(c[col_of("page_replacements", "kept_as")].rewritten, 1);
    assert_int_equal(mp.calls, 2 + 4 * NPAGES + 3);

    /* again: nothing left to change */
    assert_int_equal(pm_catalog_rewrite_paths(cat, to_volume, &mp, 0, c), 0);
    for (int i = 0; i < PM_PATH_COLUMNS; i++)
        assert_int_equal(c[i].rewritten, 0);
    assert_int_equal(c[col_of("page_tasks", "src")].rows, NPAGES);
    expect_paths(cat, "a:");
    pm_catalog_close(cat);
}

/* A dry run counts alike and writes nothing; a failure in the last
 * column leaves the first ones as they were. */
static void dry_run_and_failure_change_nothing(void **state)
{
    pm_catalog_t *cat = open_cat();
    pm_path_count_t c[PM_PATH_COLUMNS];
    mapping_t mp = {0, -1};

    (void)state;
    make_catalog(cat);
    assert_int_equal(pm_catalog_rewrite_paths(cat, to_volume, &mp, 1, c), 0);
    assert_int_equal(c[col_of("page_tasks", "src")].rewritten, NPAGES - 1);
    assert_int_equal(c[col_of("page_replacements", "kept_as")].rewritten, 1);
    expect_paths(cat, "/srv/a/");
    mp.fail_at_col = col_of("page_replacements", "kept_as");
    assert_int_equal(pm_catalog_rewrite_paths(cat, to_volume, &mp, 0, c),
                     PM_EINVAL);
    expect_paths(cat, "/srv/a/");
    /* the handle is usable after the rollback */
    mp.fail_at_col = -1;
    assert_int_equal(pm_catalog_rewrite_paths(cat, to_volume, &mp, 0, c), 0);
    expect_paths(cat, "a:");
    pm_catalog_close(cat);
}

/* While a dry run reads, another connection writes (as a running
 * coordinator does): the dry run holds no write lock. */
static int write_beside(void *arg, int col, const char *path, char **to)
{
    pm_catalog_t *other = arg;

    (void)path;
    *to = NULL;
    if (col != 2) /* page_tasks src */
        return 0;
    return pm_event_add(other, "test", "test.beside", 1, 0, "a write") == 0
               ? 0
               : PM_EINVAL;
}

static void dry_run_holds_no_writer_back(void **state)
{
    pm_catalog_t *cat = open_cat(), *other = NULL;
    pm_path_count_t c[PM_PATH_COLUMNS];

    (void)state;
    assert_int_equal(ct_new_job(cat, 1, 7), 1);
    assert_int_equal(pm_catalog_open(last_path, &other), 0);
    assert_int_equal(pm_catalog_rewrite_paths(cat, write_beside, other, 1, c),
                     0);
    assert_int_equal(ct_count_events(cat, 1, "test.beside"), 1);
    pm_catalog_close(other);
    pm_catalog_close(cat);
}

/* Quotes and backslashes reach the column as they are (PostgreSQL's
 * batch goes as an array literal). */
static int odd_names(void *arg, int col, const char *path, char **to)
{
    (void)arg;
    (void)col;
    *to = strcmp(path, "/other/p01100.tif") == 0
              ? pm_strdup("a:odd \"name\" \\ {x,y}.tif")
              : NULL;
    return 0;
}

static void odd_characters_are_kept(void **state)
{
    pm_catalog_t *cat = open_cat();
    pm_path_count_t c[PM_PATH_COLUMNS];
    pm_task_t *t = NULL;
    size_t n = 0;

    (void)state;
    make_catalog(cat);
    assert_int_equal(pm_catalog_rewrite_paths(cat, odd_names, NULL, 0, c), 0);
    assert_int_equal(c[col_of("page_tasks", "src")].rewritten, 1);
    assert_int_equal(pm_task_list(cat, 1, &t, &n), 0);
    assert_string_equal(t[NPAGES - 1].src, "a:odd \"name\" \\ {x,y}.tif");
    assert_string_equal(t[0].src, "/srv/a/spool/job-1/p00001.tif");
    pm_task_list_free(t, n);
    pm_catalog_close(cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rewrite_every_path_column),
        cmocka_unit_test(dry_run_and_failure_change_nothing),
        cmocka_unit_test(odd_characters_are_kept),
        cmocka_unit_test(dry_run_holds_no_writer_back),
    };
    int failed;

    failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name(
        "postgresql", tests, ct_pg_group_setup, ct_pg_group_teardown);
    return failed;
}
