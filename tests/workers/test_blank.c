/*
 * test_blank.c: the blank-page stage (pm_blank_check). Blank pages are
 * flagged and billed differently, so both mistakes cost: a page with one
 * short line of text must never be called blank, and a blank sheet with
 * scanner dust and a dark edge must be. Synthetic pages control exactly
 * what is on the sheet; real pages from ../shared/data keep it honest. The
 * measured ink ratios are printed for the record.
 */
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
#include "workers/engine.h"

/* Runs the check and prints the measurement. */
static double measure(pm_engine_t *eng, const pm_profile_t *p, PIX *binary,
                      int res, const char *what, int *blank)
{
    double ratio = -1;

    *blank = -1;
    assert_int_equal(pm_blank_check(eng, p, binary, res, blank, &ratio), 0);
    assert_true(*blank == 0 || *blank == 1);
    assert_true(ratio >= 0 && ratio <= 1);
    assert_int_equal(*blank, ratio < p->blank_ink_ratio);
    fprintf(stderr, "ink %-58s %4d dpi  %.6f  %s\n", what, res, ratio,
            *blank ? "blank" : "not blank");
    return ratio;
}

/* A deterministic pseudo-random sequence (no libc state). */
static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

/* Sprinkles `n` specks of 1..3 px (dust, toner) over the page. */
static void add_specks(PIX *pix, int n, unsigned seed)
{
    l_int32 w = pixGetWidth(pix), h = pixGetHeight(pix);

    for (int i = 0; i < n; i++) {
        int x = (int)(next_rand(&seed) % (unsigned)w);
        int y = (int)(next_rand(&seed) % (unsigned)h);
        int sw = 1 + (int)(next_rand(&seed) % 3);
        int sh = 1 + (int)(next_rand(&seed) % 3);

        pixRasterop(pix, x, y, sw, sh, PIX_SET, NULL, 0, 0);
    }
}

/* A blank sheet at `dpi` (US letter) with specks and dark scanner edges:
 * the lid's shadow down the left side, `left` wide and slightly skewed,
 * and a strip along the top. */
static PIX *blank_sheet(int dpi, double left_inch)
{
    l_int32 w = dpi * 17 / 2, h = dpi * 11;
    int left = (int)(left_inch * dpi), top = dpi / 8;
    PIX *pix = pixCreate(w, h, 1);

    assert_non_null(pix);
    pixSetResolution(pix, dpi, dpi);
    /* Skewed by 1/4 inch over the page height. */
    for (int y = 0; y < h; y++)
        pixRasterop(pix, 0, y, left + (int)((long)y * dpi / 4 / h), 1, PIX_SET,
                    NULL, 0, 0);
    pixRasterop(pix, 0, 0, w, top, PIX_SET, NULL, 0, 0);
    add_specks(pix, 400, (unsigned)dpi);
    return pix;
}

static void blank_sheet_with_specks_and_dark_edge_is_blank(void **state)
{
    static const int dpis[] = {150, 200, 300, 400, 600};
    pm_engine_t *eng;
    pm_profile_t p;

    (void)state;
    t_profile(&p);
    eng = t_engine_new();
    for (size_t i = 0; i < sizeof(dpis) / sizeof(dpis[0]); i++) {
        /* A thin shadow, then a bar as wide as unpaper's test page has
         * (8% of the width, more than the 5% trimmed). */
        for (int wide = 0; wide <= 1; wide++) {
            PIX *pix = blank_sheet(dpis[i], wide ? 0.7 : 0.2);
            char what[80];
            int blank;

            snprintf(what, sizeof(what), "blank sheet, specks, %s edge",
                     wide ? "wide" : "thin");
            measure(eng, &p, pix, dpis[i], what, &blank);
            assert_true(blank);
            pixDestroy(&pix);
        }
    }
    pm_engine_close(eng);
}

/* The same dust, on its own: more specks than a clean scanner leaves. */
static void heavy_dust_is_blank(void **state)
{
    pm_engine_t *eng;
    pm_profile_t p;
    PIX *pix;
    int blank;

    (void)state;
    t_profile(&p);
    eng = t_engine_new();
    pix = pixCreate(2550, 3300, 1);
    add_specks(pix, 5000, 7);
    measure(eng, &p, pix, 300, "blank sheet, 5000 specks", &blank);
    assert_true(blank);
    pixDestroy(&pix);
    pm_engine_close(eng);
}

/* Leptonica's bitmap font drawn at 200 dpi is about 10 pt type. Scaled
 * to `dpi`, the page keeps that physical size. */
static PIX *text_page(int dpi, const char *const *lines)
{
    PIX *pix = t_text_page(1700, 2200, 200, lines), *scaled;

    assert_non_null(pix);
    if (dpi == 200)
        return pix;
    scaled = pixScaleBinary(pix, (l_float32)dpi / 200, (l_float32)dpi / 200);
    assert_non_null(scaled);
    pixSetResolution(scaled, dpi, dpi);
    pixDestroy(&pix);
    return scaled;
}

static void one_short_line_is_not_blank(void **state)
{
    static const int dpis[] = {150, 200, 300, 400, 600};
    static const char *const line[] = {"Received 12 March 2026", NULL};
    static const char *const word[] = {"Void", NULL};
    pm_engine_t *eng;
    pm_profile_t p;

    (void)state;
    t_profile(&p);
    eng = t_engine_new();
    for (size_t i = 0; i < sizeof(dpis) / sizeof(dpis[0]); i++) {
        int dpi = dpis[i], blank;
        PIX *pix;

        /* As drawn: at 300 dpi and up, 7 pt type and smaller. */
        pix = t_text_page(dpi * 17 / 2, dpi * 11, dpi, line);
        measure(eng, &p, pix, dpi, "one line, font 20 px", &blank);
        assert_false(blank);
        pixDestroy(&pix);

        /* 10 pt type at every resolution. */
        pix = text_page(dpi, line);
        measure(eng, &p, pix, dpi, "one line 'Received 12 March 2026', 10 pt",
                &blank);
        assert_false(blank);
        /* ...also with the dust and edges of a real scan. */
        add_specks(pix, 400, 3);
        pixRasterop(pix, 0, 0, dpi * 3 / 4, pixGetHeight(pix), PIX_SET, NULL, 0,
                    0);
        measure(eng, &p, pix, dpi, "same, with specks and a wide dark edge",
                &blank);
        assert_false(blank);
        pixDestroy(&pix);

        /* One four-letter word, 10 pt. */
        pix = text_page(dpi, word);
        measure(eng, &p, pix, dpi, "one word 'Void', 10 pt", &blank);
        assert_false(blank);
        pixDestroy(&pix);
    }
    pm_engine_close(eng);
}

static void real_text_pages_are_not_blank(void **state)
{
    static const char *const rels[] = {
        "tesseract-test/testing/8087_054.3B.tif",
        "tesseract-test/testing/phototest.tif",
        "tesseract-test/testing/eurotext.tif",
        "leptonica/prog/lucasta.047.jpg",
        "leptonica/prog/feyn.tif",
        "debian-jbigkit-testdata/converted/ccitt1.png",
        "debian-jbigkit-testdata/converted/ccitt2.png",
        "debian-jbigkit-testdata/converted/ccitt5.png",
        "unpaper/tests/source_images/imgsrc001.png",
        "unpaper/tests/source_images/imgsrc005.png",
        "ocrmypdf/tests/resources/baiona_color.jpg",
        "ocrmypdf/tests/resources/linn.png",
    };
    pm_engine_t *eng;
    pm_profile_t p;
    double lowest = 1;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
        pm_page_image_t img;
        PIX *pix = NULL;
        char path[4096];
        int fb, blank;
        double r;

        snprintf(path, sizeof(path), "%s", t_data(rels[i]));
        assert_int_equal(pm_load_page(eng, path, 0, &p, &pix, &fb), 0);
        assert_int_equal(pm_normalize(eng, pix, &p, &img), 0);
        r = measure(eng, &p, img.binary, img.yres, rels[i], &blank);
        assert_false(blank);
        if (r < lowest)
            lowest = r;
        pm_page_image_cleanup(&img);
    }
    /* Real pages sit far above the threshold. */
    assert_true(lowest > 10 * p.blank_ink_ratio);
    pm_engine_close(eng);
}

/* unpaper's test page has a real black border bar down its left edge:
 * with the text wiped off it is a blank sheet and must be called one. */
static void real_border_bar_without_text_is_blank(void **state)
{
    pm_engine_t *eng;
    pm_profile_t p;
    pm_page_image_t img;
    PIX *pix = NULL;
    char path[4096];
    l_int32 w, h;
    int fb, blank;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    snprintf(path, sizeof(path), "%s",
             t_data("unpaper/tests/source_images/imgsrc001.png"));
    assert_int_equal(pm_load_page(eng, path, 0, &p, &pix, &fb), 0);
    assert_int_equal(pm_normalize(eng, pix, &p, &img), 0);
    w = pixGetWidth(img.binary);
    h = pixGetHeight(img.binary);
    /* The bar is the left 8% of the page; the text starts at 25%. */
    pixRasterop(img.binary, w / 5, 0, w - w / 5, h, PIX_CLR, NULL, 0, 0);
    add_specks(img.binary, 300, 11);
    measure(eng, &p, img.binary, img.yres, "imgsrc001.png, text wiped", &blank);
    assert_true(blank);
    pm_page_image_cleanup(&img);
    pm_engine_close(eng);
}

static void threshold_comes_from_the_profile(void **state)
{
    static const char *const lines[] = {"Received 12 March 2026", NULL};
    pm_engine_t *eng;
    pm_profile_t p;
    PIX *pix;
    double ratio = 0;
    int blank = -1;

    (void)state;
    t_profile(&p);
    eng = t_engine_new();
    pix = t_text_page(2550, 3300, 300, lines);
    assert_int_equal(pm_blank_check(eng, &p, pix, 300, &blank, &ratio), 0);
    assert_false(blank);
    p.blank_ink_ratio = ratio * 1.01; /* just above this page's ink */
    assert_int_equal(pm_blank_check(eng, &p, pix, 300, &blank, &ratio), 0);
    assert_true(blank);
    p.blank_ink_ratio = 0; /* never blank, not even an empty page */
    pixClearAll(pix);
    assert_int_equal(pm_blank_check(eng, &p, pix, 300, &blank, &ratio), 0);
    assert_true(ratio == 0);
    assert_false(blank);
    pixDestroy(&pix);
    pm_engine_close(eng);
}

static void tiny_and_empty_pages_do_not_crash(void **state)
{
    static const int sizes[][2] = {{1, 1}, {3, 2}, {19, 19}, {40, 1}};
    pm_engine_t *eng;
    pm_profile_t p;

    (void)state;
    t_profile(&p);
    eng = t_engine_new();
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        PIX *pix = pixCreate(sizes[i][0], sizes[i][1], 1);
        double ratio = -1;
        int blank = -1, err;

        pixSetAll(pix);
        err = pm_blank_check(eng, &p, pix, 300, &blank, &ratio);
        /* Either measured or a clean error; never a crash. */
        if (err == 0)
            assert_true(ratio >= 0 && ratio <= 1);
        else
            assert_true(err < 0);
        pixDestroy(&pix);
    }
    pm_engine_close(eng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blank_sheet_with_specks_and_dark_edge_is_blank),
        cmocka_unit_test(heavy_dust_is_blank),
        cmocka_unit_test(one_short_line_is_not_blank),
        cmocka_unit_test(real_text_pages_are_not_blank),
        cmocka_unit_test(real_border_bar_without_text_is_blank),
        cmocka_unit_test(threshold_comes_from_the_profile),
        cmocka_unit_test(tiny_and_empty_pages_do_not_crash),
    };

    pm_log_threshold = PM_LOG_ERROR; /* fallback-dpi warnings are expected */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
