/*
 * test_orient.c: the orientation stage (pm_orient_page, orient.c) on real
 * pages. Tesseract's own rotated phototest copies must come back upright
 * (checked by OCR against the ground truth), an upright page must stay as
 * it is, orient=no must not touch the page, and quarter-turned copies of a
 * big magazine page must come back pixel for pixel. Pages of every kind
 * (sparse tables, a chart, dense text, an old title page, a photo), each
 * turned all four ways, must come back upright or, with too little text to
 * tell, stay as scanned; a page with text both ways must stay as scanned.
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

#define PHOTOTEST  "tesseract-test/testing/phototest.tif"
#define PHOTO_GOLD "tesseract-test/testing/phototest.gold.txt"
#define MAGAZINE   "tesseract-test/testing/8087_054.3B.tif"

/* The OCR of an upright phototest page is near perfect; rotated copies
 * turned upright must read as well. */
#define MAX_UPRIGHT_CER 0.05

/* Loads and normalises a shared-data page into `img`. */
static void load(const char *rel, const pm_profile_t *p, pm_page_image_t *img)
{
    PIX *pix = NULL;
    int fallback = 0;

    assert_int_equal(pm_load_page(t_engine, t_data(rel), 0, p, &pix, &fallback),
                     0);
    assert_int_equal(pm_normalize(t_engine, pix, p, img), 0);
}

/* OCR of `img` against phototest's ground truth. */
static double phototest_cer(const pm_profile_t *p, const pm_page_image_t *img)
{
    pm_ocr_out_t ocr;
    char *gold = t_slurp(t_data(PHOTO_GOLD));
    double cer;

    assert_non_null(gold);
    assert_int_equal(pm_ocr_page(t_engine, p, img->pix, NULL, img->xres,
                                 img->yres, NULL, 0, &ocr),
                     0);
    cer = t_cer(gold, ocr.text);
    pm_free(ocr.text);
    pm_free(gold);
    return cer;
}

/* phototest-rotated-L is the page turned a quarter counter-clockwise, so
 * it needs a quarter turn clockwise (90); -R needs 270; -180 needs 180. */
static void rotated_phototest_comes_back_upright(void **state)
{
    static const struct {
        const char *file;
        int rotation;
    } cases[] = {
        {"tesseract-test/testing/phototest-rotated-L.png", 90},
        {"tesseract-test/testing/phototest-rotated-R.png", 270},
        {"tesseract-test/testing/phototest-rotated-180.png", 180},
    };
    pm_profile_t p;

    (void)state;
    t_require_data();
    t_profile(&p);
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        pm_page_image_t img;
        pm_orient_out_t o;
        double cer;

        load(cases[i].file, &p, &img);
        assert_int_equal(pm_orient_page(t_engine, &p, &img, &o), 0);
        assert_int_equal(o.osd, 1); /* a turned page always goes to OSD */
        cer = phototest_cer(&p, &img);
        printf("# %s: rotation %d by %s, OSD confidence %.2f, CER %.4f\n",
               cases[i].file, o.rotation, pm_orient_method_name(o.method),
               o.osd_confidence, cer);
        assert_int_equal(o.rotation, cases[i].rotation);
        /* Upright phototest is landscape, 640 x 480 at 200 dpi. */
        assert_int_equal(pixGetWidth(img.pix), 640);
        assert_int_equal(pixGetHeight(img.pix), 480);
        assert_int_equal(pixGetWidth(img.binary), 640);
        assert_int_equal(pixGetHeight(img.binary), 480);
        assert_true(cer < MAX_UPRIGHT_CER);
        pm_page_image_cleanup(&img);
    }
}

static void upright_page_is_left_alone(void **state)
{
    const char *files[] = {PHOTOTEST, MAGAZINE};
    pm_profile_t p;

    (void)state;
    t_require_data();
    t_profile(&p);
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        pm_page_image_t img;
        pm_orient_out_t o;
        PIX *before;

        load(files[i], &p, &img);
        before = img.pix;
        assert_int_equal(pm_orient_page(t_engine, &p, &img, &o), 0);
        printf("# %s: rotation %d, osd %d\n", files[i], o.rotation, o.osd);
        assert_int_equal(o.rotation, 0);
        assert_ptr_equal(img.pix, before);
        /* Clearly upright text: the fast check settles it, OSD never runs. */
        assert_int_equal(o.method, PM_ORIENT_UPRIGHT);
        assert_int_equal(o.osd, 0);
        assert_true(o.osd_confidence == 0);
        pm_page_image_cleanup(&img);
    }
}

/* A dense French page the fast check cannot judge (Leptonica up-confidence
 * about 3) goes to OSD, which keeps it upright. The fax page is laid out
 * at 300 dpi, as before untagged pages had their resolution estimated (at
 * its 200 dpi the fast check settles it). */
static void unsure_page_goes_to_osd(void **state)
{
    pm_profile_t p;
    pm_page_image_t img;
    pm_orient_out_t o;

    (void)state;
    t_require_data();
    t_profile(&p);
    load("debian-jbigkit-testdata/converted/ccitt4.png", &p, &img);
    img.xres = img.yres = 300;
    assert_int_equal(pm_orient_page(t_engine, &p, &img, &o), 0);
    printf("# ccitt4: rotation %d by %s, OSD confidence %.2f\n", o.rotation,
           pm_orient_method_name(o.method), o.osd_confidence);
    assert_int_equal(o.osd, 1);
    assert_int_equal(o.rotation, 0);
    pm_page_image_cleanup(&img);
}

static void orient_off_does_nothing(void **state)
{
    pm_profile_t p;
    pm_page_image_t img;
    pm_orient_out_t o;
    PIX *pix, *bin;

    (void)state;
    t_require_data();
    t_profile(&p);
    p.orient = 0;
    load("tesseract-test/testing/phototest-rotated-L.png", &p, &img);
    pix = img.pix;
    bin = img.binary;
    assert_int_equal(pm_orient_page(t_engine, &p, &img, &o), 0);
    assert_int_equal(o.rotation, 0);
    assert_int_equal(o.method, PM_ORIENT_OFF);
    assert_int_equal(o.osd, 0);
    assert_true(o.osd_confidence == 0);
    assert_ptr_equal(img.pix, pix);
    assert_ptr_equal(img.binary, bin);
    assert_int_equal(pixGetWidth(img.pix), 480);
    assert_int_equal(pixGetHeight(img.pix), 640);
    pm_page_image_cleanup(&img);
}

/* A 2560 x 3300 magazine page turned by 1, 2 and 3 quarters must come back
 * identical to the original, with the resolution axes swapped back. */
static void big_page_quarter_turns_come_back(void **state)
{
    pm_profile_t p;
    PIX *orig = NULL;
    int fallback = 0;

    (void)state;
    t_require_data();
    t_profile(&p);
    assert_int_equal(
        pm_load_page(t_engine, t_data(MAGAZINE), 0, &p, &orig, &fallback), 0);
    assert_int_equal(pixGetDepth(orig), 1);
    for (int quads = 1; quads <= 3; quads++) {
        pm_page_image_t img;
        PIX *turned = pixRotateOrth(orig, quads);
        pm_orient_out_t o;
        int same = 0;

        assert_non_null(turned);
        assert_int_equal(pm_normalize(t_engine, turned, &p, &img), 0);
        assert_int_equal(pm_orient_page(t_engine, &p, &img, &o), 0);
        assert_int_equal(o.osd, 1);
        printf("# 8087_054.3B turned %d cw: rotation %d by %s, OSD "
               "confidence %.2f\n",
               quads * 90, o.rotation, pm_orient_method_name(o.method),
               o.osd_confidence);
        assert_int_equal(o.rotation, ((4 - quads) % 4) * 90);
        assert_int_equal(pixEqual(img.pix, orig, &same), 0);
        assert_true(same);
        assert_int_equal(pixEqual(img.binary, orig, &same), 0);
        assert_true(same);
        assert_int_equal(img.xres, pixGetXRes(orig));
        assert_int_equal(img.yres, pixGetYRes(orig));
        assert_int_equal(pixGetXRes(img.pix), pixGetXRes(orig));
        pm_page_image_cleanup(&img);
    }
    pixDestroy(&orig);
}

/* Pages of the orientation benchmark (docs/orientation.md). `readable`:
 * must come back upright from every turn; otherwise it must stay as
 * scanned from every turn. */
static const struct {
    const char *file;
    int readable;
} kinds[] = {
    /* Sparse French table (a fax): OSD's confidence is below 0.5 when it
     * lies on its side. */
    {"libtiff-testimages/test/images/testfax4.tiff", 1},
    /* Numeric table: OSD proposes the right turn at 2.5-7.9. */
    {"leptonica/prog/table.15.tif", 1},
    /* A chart: OSD finds almost nothing (confidence < 0.5). */
    {"debian-jbigkit-testdata/converted/ccitt6.png", 1},
    /* Dense French text. */
    {"debian-jbigkit-testdata/converted/ccitt4.png", 1},
    /* A German Fraktur title page, read with eng: a few words, OSD agrees
     * at 3-5. */
    {"ocrd-gt-structure-text/data/laube_europa0202_1837/GT-PAGE/"
     "laube_europa0202_1837_0006.jpg",
     1},
    /* A photograph: nothing to read. */
    {"leptonica/prog/juditharismax.jpg", 0},
};

/* Loads `rel`, turns it `quads` quarters clockwise and decides. */
static void orient_turned(const char *rel, int quads, const pm_profile_t *p,
                          pm_page_image_t *img, pm_orient_out_t *o)
{
    PIX *pix = NULL;
    int fallback = 0;

    assert_int_equal(pm_load_page(t_engine, t_data(rel), 0, p, &pix, &fallback),
                     0);
    if (quads > 0) {
        PIX *t = pixRotateOrth(pix, quads);

        assert_non_null(t);
        pixDestroy(&pix);
        pix = t;
    }
    assert_int_equal(pm_normalize(t_engine, pix, p, img), 0);
    assert_int_equal(pm_orient_page(t_engine, p, img, o), 0);
    printf("# %s turned %d: rotation %d by %s, OSD %d at %.2f, read %d %d "
           "%d %d\n",
           strrchr(rel, '/') + 1, quads * 90, o->rotation,
           pm_orient_method_name(o->method), o->osd_rotation, o->osd_confidence,
           o->read[0], o->read[1], o->read[2], o->read[3]);
}

static void every_kind_comes_back_upright(void **state)
{
    pm_profile_t p;

    (void)state;
    t_require_data();
    t_profile(&p);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++)
        for (int quads = 0; quads < 4; quads++) {
            pm_page_image_t img;
            pm_orient_out_t o;
            int want = kinds[i].readable ? (4 - quads) % 4 * 90 : 0;

            orient_turned(kinds[i].file, quads, &p, &img, &o);
            assert_int_equal(o.rotation, want);
            if (o.method == PM_ORIENT_READ)
                for (int q = 0; q < 4; q++)
                    assert_true(o.read[q] >= 0);
            pm_page_image_cleanup(&img);
        }
}

/* The ITU fax chart 8: a sideways handwritten memo above a large upright
 * headline (white on black). OSD proposes a quarter turn at 2.7, above
 * orient_min_confidence; the page must stay as it was sent. */
static void mixed_page_is_not_turned(void **state)
{
    pm_profile_t p;
    pm_page_image_t img;
    pm_orient_out_t o;

    (void)state;
    t_require_data();
    t_profile(&p);
    orient_turned("debian-jbigkit-testdata/converted/ccitt8.png", 0, &p, &img,
                  &o);
    assert_int_equal(o.rotation, 0);
    pm_page_image_cleanup(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rotated_phototest_comes_back_upright),
        cmocka_unit_test(upright_page_is_left_alone),
        cmocka_unit_test(orient_off_does_nothing),
        cmocka_unit_test(unsure_page_goes_to_osd),
        cmocka_unit_test(big_page_quarter_turns_come_back),
        cmocka_unit_test(every_kind_comes_back_upright),
        cmocka_unit_test(mixed_page_is_not_turned),
    };

    return cmocka_run_group_tests(tests, t_engine_open, t_engine_close);
}
