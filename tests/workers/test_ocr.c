/*
 * test_ocr.c: the OCR stage (pm_ocr_page, ocr.c) measured on real pages
 * with ground truth, through the whole page path (pm_process_page): load,
 * orient, deskew, blank check, OCR, encode. Each page is read straight and
 * as skewed copies (+5 and -9 degrees, G4 TIFFs written here), which must
 * read about as well once deskewed. The three pages of each case run
 * through one engine, whose Tesseract instance must be the same throughout.
 *
 * CER bounds are the measured value (Tesseract 5.3.0, eng.traineddata of
 * Debian 12) plus about 25%, so a real regression fails and a different
 * Tesseract build does not. Note that the ground truth writes straight
 * quotes and dashes where Tesseract writes typographic ones (3 bytes each
 * in UTF-8), which t_cer counts as errors: the bounds include that.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leptonica/allheaders.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"
#include "workers/engine.h"
#include "workers/engine_int.h"

/* A skewed copy, once deskewed, must read no worse than this much more
 * than the straight page. */
#define MAX_SKEW_CER_LOSS 0.02

static TessBaseAPI *first_ocr; /* the warm instance, once made */

/* Runs `src` through the whole page path with artifacts in dir/stem.*;
 * returns the page's text (caller frees) and fills `r`. */
static char *process(const char *src, const char *dir, const char *stem,
                     pm_page_result_t *r)
{
    pm_profile_t p;
    pm_page_task_t t = {0};
    char *text;

    t_profile(&p);
    t.page = 1;
    t.src = (char *)src;
    t.frame = 0;
    t.out_base = pm_asprintf("%s/%s", dir, stem);
    assert_non_null(t.out_base);
    if (pm_process_page(t_engine, &p, &t, r) != 0)
        fail_msg("%s: %s", src, r->error ? r->error : "?");
    pm_free(t.out_base);
    assert_true(r->ok);
    assert_non_null(r->text);
    text = t_slurp(r->text);
    assert_non_null(text);

    /* Metrics a report relies on. */
    assert_true(r->words > 0);
    assert_true(r->confidence > 0 && r->confidence <= 100);
    assert_false(r->blank);
    /* One warm Tesseract instance serves every page. */
    assert_non_null(t_engine->ocr);
    if (first_ocr == NULL)
        first_ocr = t_engine->ocr;
    assert_ptr_equal(t_engine->ocr, first_ocr);
    return text;
}

/* Writes `pix` turned clockwise by `deg` as a G4 TIFF at `dpi`. */
static char *write_skewed(PIX *pix, double deg, int dpi, const char *dir,
                          const char *stem)
{
    char *path = pm_asprintf("%s/%s.tif", dir, stem);
    PIX *r = pixRotate(pix, (l_float32)(deg * M_PI / 180.0), L_ROTATE_SAMPLING,
                       L_BRING_IN_WHITE, pixGetWidth(pix), pixGetHeight(pix));

    assert_non_null(path);
    assert_non_null(r);
    pixSetResolution(r, dpi, dpi);
    assert_int_equal(pixWriteTiff(path, r, IFF_TIFF_G4, "w"), 0);
    pixDestroy(&r);
    return path;
}

typedef struct page_case {
    const char *name;
    const char *image; /* under shared data */
    const char *truth;
    double max_cer; /* straight page */
} page_case_t;

/*
 * Straight page, then copies turned by +5 and -9 degrees: every copy must
 * be deskewed by about the turn and read within MAX_SKEW_CER_LOSS of the
 * straight page.
 */
static void check_page(const page_case_t *c, const char *dir)
{
    static const double turns[] = {5, -9};
    pm_page_result_t r;
    pm_profile_t p;
    PIX *orig = NULL;
    char *truth, *text, *skewed, stem[64];
    double cer, skew_cer, lean;
    int fallback, dpi;

    t_profile(&p);
    truth = t_slurp(t_data(c->truth));
    assert_non_null(truth);

    text = process(t_data(c->image), dir, c->name, &r);
    cer = t_cer(truth, text);
    printf("# %s straight: CER %.4f (bound %.3f), %d words, confidence "
           "%.1f, skew %.3f\n",
           c->name, cer, c->max_cer, r.words, r.confidence, r.skew);
    assert_true(cer <= c->max_cer);
    assert_int_equal(r.codec, PM_IMG_G4);
    lean = r.skew; /* the scan's own skew, corrected too */
    pm_free(text);
    pm_page_result_cleanup(&r);

    assert_int_equal(
        pm_load_page(t_engine, t_data(c->image), 0, &p, &orig, &fallback), 0);
    dpi = pixGetYRes(orig);
    for (size_t i = 0; i < sizeof(turns) / sizeof(*turns); i++) {
        snprintf(stem, sizeof(stem), "%s-skew%+d", c->name, (int)turns[i]);
        skewed = write_skewed(orig, turns[i], dpi, dir, stem);
        text = process(skewed, dir, stem, &r);
        skew_cer = t_cer(truth, text);
        printf("# %s turned %+.0f: CER %.4f (straight %.4f), deskewed by "
               "%.3f\n",
               c->name, turns[i], skew_cer, cer, r.skew);
        assert_true(fabs(r.skew - (lean - turns[i])) < 0.3);
        assert_true(skew_cer <= cer + MAX_SKEW_CER_LOSS);
        pm_free(text);
        pm_free(skewed);
        pm_page_result_cleanup(&r);
    }
    pixDestroy(&orig);
    pm_free(truth);
}

/* UNLV magazine page, 2560 x 3300 bitonal at 300 dpi. The ground truth
 * covers only the zones of 8087_054.3B.uzn, so the whole-page CER also
 * counts every word outside them (see the zoned test for accuracy).
 * Measured: 0.0921 (skewed copies 0.0926 and 0.0916). */
static void magazine_page(void **state)
{
    const page_case_t c = {"8087_054.3B",
                           "tesseract-test/testing/8087_054.3B.tif",
                           "tesseract-test/testing/8087_054.3B.txt", 0.115};

    t_require_data();
    check_page(&c, *state);
}

/* Multilingual sample, 1024 x 800 bitonal at 300 dpi, with an English
 * model only. The scan itself leans by 0.8 degree. Measured: 0.0354 (skewed
 * copies 0.0377 and 0.0354). */
static void eurotext_page(void **state)
{
    const page_case_t c = {"eurotext", "tesseract-test/testing/eurotext.tif",
                           "tesseract-test/testing/eurotext.txt", 0.047};

    t_require_data();
    check_page(&c, *state);
}

/* Tesseract's smoke-test page, 640 x 480 bitonal at 200 dpi (its copies
 * keep 200 dpi). Measured: 0.0000 (skewed copies 0.0035 and 0.0000); the
 * bound is absolute. */
static void phototest_page(void **state)
{
    const page_case_t c = {"phototest", "tesseract-test/testing/phototest.tif",
                           "tesseract-test/testing/phototest.gold.txt", 0.01};

    t_require_data();
    check_page(&c, *state);
}

/* Reads "left top width height type" lines of a .uzn zone file. */
static int read_zones(const char *path, BOXA **out)
{
    char *s = t_slurp(path), *line, *save = NULL;
    BOXA *boxa = boxaCreate(16);

    assert_non_null(s);
    for (line = strtok_r(s, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        int x, y, w, h;
        if (sscanf(line, "%d %d %d %d", &x, &y, &w, &h) == 4)
            boxaAddBox(boxa, boxCreate(x, y, w, h), L_INSERT);
    }
    pm_free(s);
    *out = boxa;
    return boxaGetCount(boxa);
}

/* OCR of the magazine page zone by zone, in the ground truth's zone
 * order, measures recognition accuracy where the ground truth exists.
 * Measured: 0.0331. */
static void magazine_zones_match_ground_truth(void **state)
{
    pm_profile_t p;
    PIX *page = NULL;
    BOXA *zones = NULL;
    char *truth, *all;
    size_t len = 0;
    int fallback, n;
    double cer;

    (void)state;
    t_require_data();
    t_profile(&p);
    n = read_zones(t_data("tesseract-test/testing/8087_054.3B.uzn"), &zones);
    assert_int_equal(n, 11);
    assert_int_equal(pm_load_page(t_engine,
                                  t_data("tesseract-test/testing/"
                                         "8087_054.3B.tif"),
                                  0, &p, &page, &fallback),
                     0);
    all = pm_strdup("");
    for (int i = 0; i < n; i++) {
        BOX *box = boxaGetBox(zones, i, L_CLONE);
        PIX *zone = pixClipRectangle(page, box, NULL);
        pm_ocr_out_t ocr;
        char *grown;

        assert_non_null(zone);
        assert_int_equal(
            pm_ocr_page(t_engine, &p, zone, NULL, 300, 300, NULL, 0, &ocr), 0);
        grown = pm_realloc(all, len + strlen(ocr.text) + 2);
        assert_non_null(grown);
        all = grown;
        memcpy(all + len, ocr.text, strlen(ocr.text));
        len += strlen(ocr.text);
        all[len++] = '\n';
        all[len] = '\0';
        pm_free(ocr.text);
        pixDestroy(&zone);
        boxDestroy(&box);
    }
    truth = t_slurp(t_data("tesseract-test/testing/8087_054.3B.txt"));
    assert_non_null(truth);
    cer = t_cer(truth, all);
    printf("# 8087_054.3B by zones: CER %.4f\n", cer);
    assert_true(cer <= 0.042);
    assert_ptr_equal(t_engine->ocr, first_ocr);
    pm_free(truth);
    pm_free(all);
    boxaDestroy(&zones);
    pixDestroy(&page);
}

/* OCR of phototest (pixels given) against its ground truth; returns the
 * text (caller frees) and stores the CER. */
static char *read_phototest(PIX *pix, double *cer)
{
    pm_profile_t p;
    pm_ocr_out_t ocr;
    char *gold = t_slurp(t_data("tesseract-test/testing/phototest.gold.txt"));

    assert_non_null(gold);
    t_profile(&p);
    assert_int_equal(pm_ocr_page(t_engine, &p, pix, NULL, pixGetXRes(pix),
                                 pixGetYRes(pix), NULL, 0, &ocr),
                     0);
    *cer = t_cer(gold, ocr.text);
    pm_free(gold);
    return ocr.text;
}

/* White-on-black text is still read (ocr.c re-reads lines inverted below
 * a lower confidence than Tesseract's default): phototest with its upper
 * half inverted must still give the lines of that half. Measured CER
 * 0.144 (the line cut by the inversion loses a word); Tesseract's default
 * threshold gives 0.134, no inverted reading at all 0.475. */
static void inverted_text_is_read(void **state)
{
    PIX *pix;
    char *text;
    double cer;

    (void)state;
    t_require_data();
    pix = pixRead(t_data("tesseract-test/testing/phototest.tif"));
    assert_non_null(pix);
    assert_int_equal(pixGetDepth(pix), 1);
    pixRasterop(pix, 0, 0, pixGetWidth(pix), pixGetHeight(pix) / 2,
                PIX_NOT(PIX_DST), NULL, 0, 0);
    text = read_phototest(pix, &cer);
    printf("# phototest, upper half inverted: CER %.4f\n", cer);
    assert_non_null(strstr(text, "This is a lot of 12 point text"));
    assert_non_null(strstr(text, "ocr code and see if it works"));
    assert_true(cer < 0.2);
    pm_free(text);
    pixDestroy(&pix);
}

/* A page with no text gives no words, confidence 0 and no error. */
static void empty_page_has_no_words(void **state)
{
    pm_profile_t p;
    pm_ocr_out_t ocr;
    PIX *white = pixCreate(1200, 1600, 1);

    (void)state;
    t_profile(&p);
    assert_non_null(white);
    pixSetResolution(white, 300, 300);
    assert_int_equal(
        pm_ocr_page(t_engine, &p, white, NULL, 300, 300, NULL, 0, &ocr), 0);
    assert_int_equal(ocr.words, 0);
    assert_true(ocr.confidence == 0);
    assert_non_null(ocr.text);
    pm_free(ocr.text);
    pixDestroy(&white);
}

/* Languages that are not installed fail with a message naming them, and
 * the engine recovers for the next page. Runs last: it replaces the warm
 * instance. */
static void missing_language_fails_cleanly(void **state)
{
    pm_profile_t p;
    pm_ocr_out_t ocr;
    PIX *page;
    const char *lines[] = {"Tesseract reads this line", NULL};

    (void)state;
    t_profile(&p);
    page = t_text_page(1200, 800, 300, lines);
    snprintf(p.languages, sizeof(p.languages), "xxx");
    assert_int_equal(
        pm_ocr_page(t_engine, &p, page, NULL, 300, 300, NULL, 0, &ocr),
        PM_EOCR);
    assert_null(ocr.text);
    assert_non_null(strstr(pm_engine_errmsg(t_engine), "'xxx'"));

    snprintf(p.languages, sizeof(p.languages), "eng");
    assert_int_equal(
        pm_ocr_page(t_engine, &p, page, NULL, 300, 300, NULL, 0, &ocr), 0);
    printf("# after recovery: %d words: %s", ocr.words, ocr.text);
    assert_true(ocr.words >= 3);
    pm_free(ocr.text);
    pixDestroy(&page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(phototest_page, t_tmpdir_setup,
                                        t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(eurotext_page, t_tmpdir_setup,
                                        t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(magazine_page, t_tmpdir_setup,
                                        t_tmpdir_teardown),
        cmocka_unit_test(magazine_zones_match_ground_truth),
        cmocka_unit_test(inverted_text_is_read),
        cmocka_unit_test(empty_page_has_no_words),
        cmocka_unit_test(missing_language_fails_cleanly),
    };

    return cmocka_run_group_tests(tests, t_engine_open, t_engine_close);
}
