/*
 * test_deskew.c: the deskew stage (pm_deskew_page, deskew.c) on real pages
 * turned by known angles. A bitonal 300 dpi magazine page and a gray book
 * page (no resolution tag, so the fallback dpi applies) are rotated with
 * Leptonica by angles out to the profile's 16 degree search range, beyond
 * Leptonica's own default of about 7, and so is a 150 dpi page that has
 * no tag (it gets the 300 dpi fallback); the stage must find each angle
 * within 0.2 degree, keep the depth, keep the scan's size and never cut
 * off ink.
 *
 * Sign convention: both Leptonica's pixRotate and pm_deskew_page's *angle
 * use "clockwise is positive", and *angle is the correction applied, so a
 * page turned by +a degrees must report a correction of -a.
 *
 * The pages themselves are not perfectly straight (8087_054.3B leans by
 * about 0.12 degree at full resolution), so the residual correction + a is
 * that lean plus the search error; it must stay within 0.2 and be the same
 * for every angle (spread under 0.1).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leptonica/allheaders.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "workers/engine.h"

#define MAGAZINE  "tesseract-test/testing/8087_054.3B.tif"
#define BOOK_PAGE "leptonica/prog/lucasta.047.jpg"

#define MAX_ERROR_DEG  0.2
#define MAX_SPREAD_DEG 0.1

static const double angles[] = {-15, -12, -7.5, -3, -0.8, 1.5, 4, 9, 15};
#define NANGLES (sizeof(angles) / sizeof(*angles))

static PIX *load(const char *rel, const pm_profile_t *p, int *fallback)
{
    PIX *pix = NULL;

    assert_int_equal(pm_load_page(t_engine, t_data(rel), 0, p, &pix, fallback),
                     0);
    return pix;
}

/* Turns `pix` clockwise by `deg`, bringing in white and growing the canvas
 * so nothing is lost, as a skewed scan would look. */
static PIX *turn(PIX *pix, double deg)
{
    l_int32 type =
        pixGetDepth(pix) == 1 ? L_ROTATE_SAMPLING : L_ROTATE_AREA_MAP;
    PIX *r = pixRotate(pix, (l_float32)(deg * M_PI / 180.0), type,
                       L_BRING_IN_WHITE, pixGetWidth(pix), pixGetHeight(pix));

    assert_non_null(r);
    pixCopyResolution(r, pix);
    return r;
}

/* The content box OCR reads: inside the canvas, smaller than it (the
 * rotation brought in white corners), and holding all of the ink. */
static void check_content(const pm_page_image_t *img)
{
    l_int32 x, y, w, h, inside = 0, ink_in_box = 0, ink = 0;
    BOX *canvas;
    PIX *clip;

    assert_non_null(img->content);
    assert_int_equal(boxGetGeometry(img->content, &x, &y, &w, &h), 0);
    canvas =
        boxCreate(0, 0, pixGetWidth(img->binary), pixGetHeight(img->binary));
    assert_int_equal(boxContains(canvas, img->content, &inside), 0);
    assert_true(inside);
    assert_true((double)w * h <
                0.95 * pixGetWidth(img->binary) * pixGetHeight(img->binary));
    clip = pixClipRectangle(img->binary, img->content, NULL);
    assert_non_null(clip);
    assert_int_equal(pixCountPixels(clip, &ink_in_box, NULL), 0);
    assert_int_equal(pixCountPixels(img->binary, &ink, NULL), 0);
    assert_int_equal(ink_in_box, ink);
    pixDestroy(&clip);
    boxDestroy(&canvas);
}

/* Runs the page through normalise + deskew after turning it by each angle
 * and checks the correction, the depth and the size. */
static void check_angles(const char *name, PIX *orig, pm_kind_t kind,
                         const pm_profile_t *p)
{
    double worst = 0, lo = 99, hi = -99;

    for (size_t i = 0; i < NANGLES; i++) {
        pm_page_image_t img;
        PIX *skewed = turn(orig, angles[i]);
        l_int32 sw = pixGetWidth(skewed), sh = pixGetHeight(skewed);
        double angle = 99, conf = -1, err;

        assert_int_equal(pm_normalize(t_engine, skewed, p, &img), 0);
        assert_int_equal(img.kind, kind);
        assert_int_equal(pm_deskew_page(t_engine, p, &img, &angle, &conf), 0);
        err = fabs(angle + angles[i]);
        if (err > worst)
            worst = err;
        if (angle + angles[i] < lo)
            lo = angle + angles[i];
        if (angle + angles[i] > hi)
            hi = angle + angles[i];
        printf("# %s turned %+6.2f: correction %+7.3f (error %.3f), "
               "confidence %.2f, %dx%d -> %dx%d\n",
               name, angles[i], angle, err, conf, sw, sh, pixGetWidth(img.pix),
               pixGetHeight(img.pix));
        assert_true(err <= MAX_ERROR_DEG);
        assert_true(conf >= p->deskew_min_confidence);
        /* Depth and kind stay; the analysis copy stays 1 bpp. */
        assert_int_equal(pixGetDepth(img.pix), kind == PM_KIND_GRAY ? 8 : 1);
        assert_int_equal(pixGetDepth(img.binary), 1);
        /* Back to the scan's size: its ink all fits, so the white the
         * rotation brought in is cropped away, not encoded. */
        assert_int_equal(pixGetWidth(img.pix), sw);
        assert_int_equal(pixGetHeight(img.pix), sh);
        assert_int_equal(pixGetWidth(img.binary), pixGetWidth(img.pix));
        assert_int_equal(pixGetHeight(img.binary), pixGetHeight(img.pix));
        assert_int_equal(pixGetXRes(img.pix), img.xres);
        assert_int_equal(pixGetYRes(img.pix), img.yres);
        check_content(&img);
        pm_page_image_cleanup(&img);
    }
    printf("# %s: worst error %.3f degree, residuals %+.3f..%+.3f\n", name,
           worst, lo, hi);
    assert_true(hi - lo <= MAX_SPREAD_DEG);
}

static void bitonal_page_skews_are_found(void **state)
{
    pm_profile_t p;
    PIX *orig;
    int fallback = -1;

    (void)state;
    t_require_data();
    t_profile(&p);
    assert_true(p.deskew_max_angle >= 15);
    orig = load(MAGAZINE, &p, &fallback);
    assert_int_equal(fallback, 0);
    assert_int_equal(pixGetDepth(orig), 1);
    assert_int_equal(pixGetYRes(orig), 300);
    check_angles("8087_054.3B", orig, PM_KIND_BITONAL, &p);
    pixDestroy(&orig);
}

static void gray_page_skews_are_found(void **state)
{
    pm_profile_t p;
    PIX *orig;
    int fallback = -1;

    (void)state;
    t_require_data();
    t_profile(&p);
    orig = load(BOOK_PAGE, &p, &fallback);
    assert_int_equal(fallback, 1); /* the JPEG says 1x1 dpi */
    assert_int_equal(pixGetDepth(orig), 8);
    check_angles("lucasta.047", orig, PM_KIND_GRAY, &p);
    pixDestroy(&orig);
}

/*
 * A 150 dpi book page whose file has no resolution tag: its resolution is
 * estimated from its letters (its small type measures 118 dpi: 100), and
 * the search finds every angle.
 * (Loaded at the 300 dpi fallback and reduced 4x, its text lines were too
 * thin to find and 5 of the 9 angles went uncorrected.)
 */
static void untagged_low_resolution_page_skews_are_found(void **state)
{
    char *path = pm_asprintf("%s/untagged.png", (const char *)*state);
    pm_profile_t p;
    PIX *pix, *orig;
    int fallback = -1;

    t_require_data();
    t_profile(&p);
    pix = pixRead(t_data("leptonica/prog/lucasta.150.jpg"));
    assert_non_null(pix);
    assert_int_equal(pixGetYRes(pix), 150);
    pixSetXRes(pix, 0); /* pixSetResolution ignores 0 */
    pixSetYRes(pix, 0);
    assert_int_equal(pixWrite(path, pix, IFF_PNG), 0);
    pixDestroy(&pix);
    assert_int_equal(pm_load_page(t_engine, path, 0, &p, &orig, &fallback), 0);
    assert_int_equal(fallback, PM_DPI_ESTIMATED);
    assert_true(pixGetYRes(orig) == 100 || pixGetYRes(orig) == 150);
    check_angles("lucasta.150 untagged", orig, PM_KIND_GRAY, &p);
    pixDestroy(&orig);
    pm_free(path);
}

/*
 * Ink that the correction turns beyond the scan's frame is kept: a page
 * turned within its own frame (corners cut, as a scanner crops) with black
 * squares in its corners comes back on a page just large enough for them.
 */
static void ink_beyond_the_scan_is_kept(void **state)
{
    const l_int32 side = 80;
    pm_profile_t p;
    pm_page_image_t img;
    PIX *orig, *skewed;
    l_int32 w, h, before = 0, after = 0;
    int fallback;
    double angle = 99, conf = -1;

    (void)state;
    t_require_data();
    t_profile(&p);
    orig = load(BOOK_PAGE, &p, &fallback);
    skewed = pixRotate(orig, (l_float32)(5 * M_PI / 180.0), L_ROTATE_AREA_MAP,
                       L_BRING_IN_WHITE, 0, 0);
    assert_non_null(skewed);
    pixCopyResolution(skewed, orig);
    w = pixGetWidth(skewed);
    h = pixGetHeight(skewed);
    assert_int_equal(w, pixGetWidth(orig));
    pixRasterop(skewed, 0, 0, side, side, PIX_CLR, NULL, 0, 0);
    pixRasterop(skewed, w - side, 0, side, side, PIX_CLR, NULL, 0, 0);
    pixRasterop(skewed, 0, h - side, side, side, PIX_CLR, NULL, 0, 0);
    pixRasterop(skewed, w - side, h - side, side, side, PIX_CLR, NULL, 0, 0);
    assert_int_equal(pm_normalize(t_engine, skewed, &p, &img), 0);
    assert_int_equal(pixCountPixels(img.binary, &before, NULL), 0);
    assert_int_equal(pm_deskew_page(t_engine, &p, &img, &angle, &conf), 0);
    assert_int_equal(pixCountPixels(img.binary, &after, NULL), 0);
    printf("# lucasta.047 turned +5 in its frame, black corners: correction "
           "%+.3f, %dx%d -> %dx%d, ink %d -> %d pixels\n",
           angle, w, h, pixGetWidth(img.pix), pixGetHeight(img.pix), before,
           after);
    assert_true(fabs(angle + 5) <= MAX_ERROR_DEG + 0.3);
    assert_true(pixGetWidth(img.pix) > w);
    assert_true(pixGetHeight(img.pix) > h);
    assert_true(pixGetWidth(img.pix) < w * 1.2);
    assert_true(after >= before * 0.98);
    assert_non_null(img.content); /* here the ink spans the whole page */
    pm_page_image_cleanup(&img);
    pixDestroy(&orig);
}

/* A straight page stays as it is: nothing to correct. */
static void straight_page_is_left_alone(void **state)
{
    pm_profile_t p;
    pm_page_image_t img;
    PIX *pix;
    int fallback;
    double angle = 99, conf = -1;

    (void)state;
    t_require_data();
    t_profile(&p);
    assert_int_equal(
        pm_normalize(t_engine, load(MAGAZINE, &p, &fallback), &p, &img), 0);
    pix = img.pix;
    assert_int_equal(pm_deskew_page(t_engine, &p, &img, &angle, &conf), 0);
    printf("# straight 8087_054.3B: correction %.3f, confidence %.2f\n", angle,
           conf);
    assert_true(angle == 0);
    assert_ptr_equal(img.pix, pix);
    assert_null(img.content); /* OCR reads the whole page */
    pm_page_image_cleanup(&img);
}

/* deskew=no leaves even a badly skewed page alone. */
static void deskew_off_does_nothing(void **state)
{
    pm_profile_t p;
    pm_page_image_t img;
    PIX *orig, *pix;
    int fallback;
    double angle = 99, conf = -1;

    (void)state;
    t_require_data();
    t_profile(&p);
    p.deskew = 0;
    orig = load("tesseract-test/testing/eurotext.tif", &p, &fallback);
    assert_int_equal(pm_normalize(t_engine, turn(orig, 6), &p, &img), 0);
    pix = img.pix;
    assert_int_equal(pm_deskew_page(t_engine, &p, &img, &angle, &conf), 0);
    assert_true(angle == 0);
    assert_true(conf == 0);
    assert_ptr_equal(img.pix, pix);
    pm_page_image_cleanup(&img);
    pixDestroy(&orig);
}

/* The whole +/- deskew_max_angle range is searched, up to its ends, and
 * nothing beyond it is corrected. eurotext itself leans by about +0.8
 * degree, so turned by +4 it needs -4.8 (inside a range of 5, near its
 * end), and turned by +8 it needs -8.8 (outside). */
static void search_covers_exactly_max_angle(void **state)
{
    static const struct {
        double turn, expect;
    } cases[] = {{4, -4.8}, {-4, 3.2}, {8, 0}};
    pm_profile_t p;
    PIX *orig;
    int fallback;

    (void)state;
    t_require_data();
    t_profile(&p);
    p.deskew_max_angle = 5;
    orig = load("tesseract-test/testing/eurotext.tif", &p, &fallback);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        pm_page_image_t img;
        double angle = 99, conf = -1;

        assert_int_equal(
            pm_normalize(t_engine, turn(orig, cases[i].turn), &p, &img), 0);
        assert_int_equal(pm_deskew_page(t_engine, &p, &img, &angle, &conf), 0);
        printf("# eurotext turned %+.1f, max 5: correction %+.3f, "
               "confidence %.2f\n",
               cases[i].turn, angle, conf);
        assert_true(fabs(angle) <= p.deskew_max_angle);
        assert_true(fabs(angle - cases[i].expect) <= MAX_ERROR_DEG);
        pm_page_image_cleanup(&img);
    }
    pixDestroy(&orig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bitonal_page_skews_are_found),
        cmocka_unit_test(gray_page_skews_are_found),
        cmocka_unit_test_setup_teardown(
            untagged_low_resolution_page_skews_are_found, t_tmpdir_setup,
            t_tmpdir_teardown),
        cmocka_unit_test(ink_beyond_the_scan_is_kept),
        cmocka_unit_test(straight_page_is_left_alone),
        cmocka_unit_test(deskew_off_does_nothing),
        cmocka_unit_test(search_covers_exactly_max_angle),
    };

    return cmocka_run_group_tests(tests, t_engine_open, t_engine_close);
}
