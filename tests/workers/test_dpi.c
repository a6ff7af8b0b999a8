/*
 * test_dpi.c: the resolution of a page whose file gives none that can be
 * believed (workers/dpi.c, docs/resolution.md), on real pages of
 * ../shared/data. A 100 dpi title page without a tag is laid out at 100
 * dpi, not at fallback_dpi; real pages stripped of their tags come out at
 * the resolution they were scanned at, or at fallback_dpi when their
 * letters agree with it; a tagged credible page keeps its
 * tag even where its text would say otherwise; a page without text gets
 * fallback_dpi, reported as the default.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <leptonica/allheaders.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"
#include "workers/engine.h"

#define HARMONIAM "leptonica/prog/harmoniam100-11.png"

/* fallback_dpi is set to one no estimate gives, to tell them apart. */
#define ODD_FALLBACK 250

/* Loads `path` under a profile with fallback_dpi `fallback`; returns its
 * resolution (square) with its source in *source. */
static int load_dpi(const char *path, int fallback, int *source)
{
    pm_profile_t p;
    PIX *pix = NULL;
    int dpi, err;

    t_profile(&p);
    p.fallback_dpi = fallback;
    *source = -1;
    err = pm_load_page(t_engine, path, 0, &p, &pix, source);
    if (err != 0)
        fail_msg("%s: %s", path, pm_engine_errmsg(t_engine));
    dpi = pixGetXRes(pix);
    assert_int_equal(pixGetYRes(pix), dpi);
    pixDestroy(&pix);
    return dpi;
}

/* Writes `pix` to `path` as a PNG without a pHYs chunk (Leptonica writes
 * 300 dpi for a resolution of 0). */
static void write_untagged_png(PIX *pix, const char *path)
{
    l_uint8 *data = NULL;
    size_t size = 0;
    char *phys;

    assert_int_equal(pixWriteMem(&data, &size, pix, IFF_PNG), 0);
    phys = memmem(data, size, "pHYs", 4);
    if (phys != NULL) { /* length (4), type (4), 9 bytes, CRC (4) */
        size_t at = (size_t)(phys - (char *)data) - 4;
        memmove(data + at, data + at + 21, size - at - 21);
        size -= 21;
    }
    assert_int_equal(pm_write_file_atomic(path, data, size), 0);
    lept_free(data);
}

/* A copy of shared page `rel` in the temp folder without a resolution. */
static const char *untagged_copy(const char *rel)
{
    static char path[4096];
    PIX *pix = pixRead(t_data(rel));
    const char *base = strrchr(rel, '/') + 1;

    assert_non_null(pix);
    snprintf(path, sizeof(path), "%s/untagged-%s.png", t_tmpdir(), base);
    write_untagged_png(pix, path);
    pixDestroy(&pix);
    return path;
}

/* The page: a title page scanned at 100 dpi, no pHYs. */
static void untagged_100dpi_page_is_estimated(void **state)
{
    int source, dpi;

    (void)state;
    t_require_data();
    dpi = load_dpi(t_data(HARMONIAM), ODD_FALLBACK, &source);
    assert_int_equal(source, PM_DPI_ESTIMATED);
    assert_int_equal(dpi, 100);
}

/* Real pages of known resolution, their tags removed, under the default
 * fallback_dpi (300): a page size and the letters give the resolution;
 * letters that agree with the fallback keep it. */
static void stripped_pages_get_their_resolution(void **state)
{
    static const struct {
        const char *rel;
        int dpi, source;
    } pages[] = {
        {"leptonica/prog/feyn.tif", 300, PM_DPI_ESTIMATED}, /* Letter */
        {"tesseract-test/testing/eurotext.tif", 300, PM_DPI_DEFAULT},
        {"leptonica/prog/words.15.tif", 150, PM_DPI_ESTIMATED},
        {"leptonica/prog/table.15.tif", 150, PM_DPI_ESTIMATED},
        {"libtiff-testimages/test/images/testfax4.tiff", 300, PM_DPI_ESTIMATED},
        /* ITU fax charts: 1728 x 2376 at about 200 dpi, no tag at all */
        {"debian-jbigkit-testdata/converted/ccitt1.png", 200, PM_DPI_ESTIMATED},
        {"debian-jbigkit-testdata/converted/ccitt4.png", 200, PM_DPI_ESTIMATED},
        /* untagged book pages whose letters say 250 and 235 dpi */
        {"leptonica/prog/lucasta.047.jpg", 300, PM_DPI_DEFAULT},
        {"leptonica/prog/cat.007.jpg", 300, PM_DPI_DEFAULT},
    };

    (void)state;
    t_require_data();
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        int source, dpi = load_dpi(untagged_copy(pages[i].rel), 300, &source);

        if (source != pages[i].source || dpi != pages[i].dpi)
            fail_msg("%s untagged: %d dpi (%s), expected %d (%s)", pages[i].rel,
                     dpi, pm_dpi_source_name(source), pages[i].dpi,
                     pm_dpi_source_name(pages[i].source));
    }
    t_tmpdir_cleanup();
}

/* Tags that make a plausible page are believed, whatever the text says:
 * phototest.tif (200 dpi) measures as 300. */
static void credible_tags_are_kept(void **state)
{
    static const struct {
        const char *rel;
        int dpi;
    } pages[] = {
        {"tesseract-test/testing/phototest.tif", 200},
        {"leptonica/prog/feyn.tif", 300},
        {"leptonica/prog/words.15.tif", 150},
    };

    (void)state;
    t_require_data();
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        int source, dpi = load_dpi(t_data(pages[i].rel), ODD_FALLBACK, &source);

        if (source != PM_DPI_TAG || dpi != pages[i].dpi)
            fail_msg("%s: %d dpi (%s), expected its tag %d", pages[i].rel, dpi,
                     pm_dpi_source_name(source), pages[i].dpi);
    }
}

/* No text to measure: the profile's fallback, reported as the default. */
static void page_without_text_gets_the_default(void **state)
{
    char path[4096];
    PIX *pix = pixCreate(1700, 2200, 1);
    int source, dpi;

    (void)state;
    assert_non_null(pix);
    snprintf(path, sizeof(path), "%s/blank.png", t_tmpdir());
    write_untagged_png(pix, path);
    pixDestroy(&pix);
    dpi = load_dpi(path, ODD_FALLBACK, &source);
    assert_int_equal(source, PM_DPI_DEFAULT);
    assert_int_equal(dpi, ODD_FALLBACK);
    t_tmpdir_cleanup();
}

/* The whole page: the result carries the resolution and its source, and
 * the source's name is what pages.json says. */
static void page_result_reports_the_source(void **state)
{
    pm_profile_t p;
    pm_page_task_t t = {0};
    pm_page_result_t r;

    (void)state;
    t_require_data();
    t_profile(&p);
    p.ocr = 0;
    t.page = 1;
    t.src = (char *)t_data(HARMONIAM);
    t.out_base = pm_asprintf("%s/p1", t_tmpdir());
    assert_non_null(t.out_base);
    assert_int_equal(pm_process_page(t_engine, &p, &t, &r), 0);
    assert_int_equal(r.xres, 100);
    assert_int_equal(r.yres, 100);
    assert_int_equal(r.dpi_fallback, PM_DPI_ESTIMATED);
    assert_string_equal(pm_dpi_source_name(r.dpi_fallback), "estimated");
    assert_string_equal(pm_dpi_source_name(PM_DPI_TAG), "tag");
    assert_string_equal(pm_dpi_source_name(PM_DPI_DEFAULT), "default");
    pm_page_result_cleanup(&r);
    pm_free(t.out_base);
    t_tmpdir_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(untagged_100dpi_page_is_estimated),
        cmocka_unit_test(stripped_pages_get_their_resolution),
        cmocka_unit_test(credible_tags_are_kept),
        cmocka_unit_test(page_without_text_gets_the_default),
        cmocka_unit_test(page_result_reports_the_source),
    };

    return cmocka_run_group_tests(tests, t_engine_open, t_engine_close);
}
