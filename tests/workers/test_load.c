/*
 * test_load.c: the decode stage (pm_load_count_frames, pm_load_page) and
 * pm_normalize, on the real third-party images of ../shared/data. The
 * sweep reads MANIFEST.tsv at run time and sends every image, fuzz corpora
 * included, through count + decode + normalise: each frame must either
 * come out as a sane 1/8/32 bpp page or fail with an error that names the
 * file (and the frame of a multi-frame file). Then the files that must
 * decode, the pixel limit, the fallback resolution, which resolutions are
 * believed, page shapes refused, truncated copies and the
 * bitonal/gray/colour classification.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <leptonica/allheaders.h>
#include <tiffio.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "workers/engine.h"

#define MAX_FRAMES_CHECKED 64 /* per file, in the sweep */

/* ---- helpers ---- */

/* Fails the test unless the engine's message names `path` (and, when
 * frame >= 0, "frame N" with N 1-based). */
static void assert_msg_names(pm_engine_t *eng, const char *path, int frame)
{
    const char *msg = pm_engine_errmsg(eng);
    char want[32];

    if (strstr(msg, path) == NULL)
        fail_msg("error message does not name the file %s: '%s'", path, msg);
    if (frame >= 0) {
        snprintf(want, sizeof(want), "frame %d", frame + 1);
        if (strstr(msg, want) == NULL)
            fail_msg("error message does not name %s of %s: '%s'", want, path,
                     msg);
    }
}

/* Loads frame `frame` of shared file `rel` and normalises it; asserts
 * success. */
static void load_norm(pm_engine_t *eng, const pm_profile_t *p, const char *rel,
                      int frame, pm_page_image_t *img, int *fallback)
{
    char path[4096];
    PIX *pix = NULL;
    int err;

    snprintf(path, sizeof(path), "%s", t_data(rel));
    err = pm_load_page(eng, path, frame, p, &pix, fallback);
    if (err != 0)
        fail_msg("%s frame %d: %s (%s)", rel, frame + 1, pm_strerror(err),
                 pm_engine_errmsg(eng));
    assert_non_null(pix);
    err = pm_normalize(eng, pix, p, img);
    if (err != 0)
        fail_msg("%s: normalize: %s", rel, pm_engine_errmsg(eng));
}

/* ---- the manifest ---- */

#define MANIFEST_COLS 16

/* Splits the next line of *cur into at most MANIFEST_COLS tab-separated
 * columns, in place; returns the number of columns or -1 at the end. */
static int manifest_row(char **cur, char *col[MANIFEST_COLS])
{
    static char empty[1];
    char *line = *cur, *nl;
    int n = 0;

    if (line == NULL || *line == '\0')
        return -1;
    nl = strchr(line, '\n');
    if (nl != NULL) {
        *nl = '\0';
        *cur = nl + 1;
    } else {
        *cur = line + strlen(line);
    }
    for (char *p = line; n < MANIFEST_COLS;) {
        col[n++] = p;
        p = strchr(p, '\t');
        if (p == NULL)
            break;
        *p++ = '\0';
    }
    for (int i = n; i < MANIFEST_COLS; i++)
        col[i] = empty;
    return n;
}

/* True for the formats a scanner or archive hands us as TIFF/PNG/JPEG. */
static int is_tiff_png_jpeg(const char *rel)
{
    const char *dot = strrchr(rel, '.');
    static const char *const ext[] = {".tif", ".tiff", ".png", ".jpg", ".jpeg"};

    if (strstr(rel, "go-fuzz-corpus/") != NULL)
        return 1;
    for (size_t i = 0; dot != NULL && i < sizeof(ext) / sizeof(ext[0]); i++)
        if (strcmp(dot, ext[i]) == 0)
            return 1;
    return 0;
}

typedef struct sweep_stats {
    int files, frames, frames_ok, frames_failed, count_failed;
    int ok_class, ok_class_decoded; /* MANIFEST OK and TIFF/PNG/JPEG */
    int last_err;                   /* of the last frame that failed */
} sweep_stats_t;

/* True when a load failed because the image is not page-shaped (under
 * 16 pixels a side, or thinner than 1:12), which is refused on purpose. */
static int refused_shape(int err, const char *msg)
{
    return (err == PM_EUNSUPP && strstr(msg, "too small for a page")) ||
           (err == PM_ETOOBIG && strstr(msg, "not a page"));
}

/* Whether `dpi` is one an estimate is snapped to. */
static int snapped(int dpi)
{
    return dpi == 100 || dpi == 150 || dpi == 200 || dpi == 300 || dpi == 400 ||
           dpi == 600;
}

/* Checks one decoded frame: sane size and resolution, normalises. */
static void check_decoded(pm_engine_t *eng, const pm_profile_t *p,
                          const char *path, int frame, PIX *pix, int fallback,
                          int verbose)
{
    pm_page_image_t img;
    l_int32 w = pixGetWidth(pix), h = pixGetHeight(pix);
    int err;

    if (w <= 0 || h <= 0 || (long long)w * h > p->max_pixels)
        fail_msg("%s frame %d: absurd size %dx%d", path, frame + 1, w, h);
    if (pixGetXRes(pix) < 50 || pixGetXRes(pix) > 2400 ||
        pixGetYRes(pix) < 50 || pixGetYRes(pix) > 2400)
        fail_msg("%s frame %d: resolution %dx%d left outside 50..2400", path,
                 frame + 1, pixGetXRes(pix), pixGetYRes(pix));
    if (fallback == PM_DPI_DEFAULT && (pixGetXRes(pix) != p->fallback_dpi ||
                                       pixGetYRes(pix) != p->fallback_dpi))
        fail_msg("%s: dpi_fallback set but resolution is %dx%d", path,
                 pixGetXRes(pix), pixGetYRes(pix));
    if (fallback == PM_DPI_ESTIMATED &&
        (pixGetXRes(pix) != pixGetYRes(pix) || !snapped(pixGetXRes(pix))))
        fail_msg("%s: resolution estimated as %dx%d, not one of the set", path,
                 pixGetXRes(pix), pixGetYRes(pix));
    err = pm_normalize(eng, pix, p, &img);
    if (err != 0)
        fail_msg("%s frame %d: decoded %dx%d but normalize failed: %s", path,
                 frame + 1, w, h, pm_engine_errmsg(eng));
    if (pixGetDepth(img.pix) != 1 && pixGetDepth(img.pix) != 8 &&
        pixGetDepth(img.pix) != 32)
        fail_msg("%s: normalised depth %d", path, pixGetDepth(img.pix));
    assert_null(pixGetColormap(img.pix));
    assert_int_equal(pixGetDepth(img.binary), 1);
    assert_int_equal(pixGetWidth(img.pix), w);
    assert_int_equal(pixGetHeight(img.pix), h);
    assert_int_equal(pixGetWidth(img.binary), w);
    assert_int_equal(pixGetHeight(img.binary), h);
    assert_int_equal(img.kind, pixGetDepth(img.pix) == 1   ? PM_KIND_BITONAL
                               : pixGetDepth(img.pix) == 8 ? PM_KIND_GRAY
                                                           : PM_KIND_COLOR);
    if (pixGetDepth(img.pix) == 32)
        assert_int_equal(pixGetSpp(img.pix), 3);
    if (verbose)
        fprintf(stderr, "  frame %d: %dx%d %s at %dx%d dpi%s\n", frame + 1, w,
                h, pm_kind_name(img.kind), img.xres, img.yres,
                fallback ? " (fallback)" : "");
    pm_page_image_cleanup(&img);
}

/* Count + decode + normalise every frame of one file; returns the number
 * of frames that decoded, -1 if the file could not even be opened. */
static int sweep_file(pm_engine_t *eng, const pm_profile_t *p, const char *path,
                      sweep_stats_t *st, int verbose)
{
    int n = 0, decoded = 0, err;

    err = pm_load_count_frames(eng, path, &n);
    if (err != 0) {
        assert_true(err < 0);
        assert_int_equal(n, 0);
        assert_msg_names(eng, path, -1);
        st->count_failed++;
        if (verbose)
            fprintf(stderr, "  count %s: %s\n", pm_strerror(err),
                    pm_engine_errmsg(eng));
        return -1;
    }
    assert_true(n >= 1);
    for (int f = 0; f < n && f < MAX_FRAMES_CHECKED; f++) {
        PIX *pix = NULL;
        int fallback = -1;

        st->frames++;
        err = pm_load_page(eng, path, f, p, &pix, &fallback);
        if (err != 0) {
            assert_true(err < 0);
            assert_null(pix);
            assert_int_equal(fallback, 0);
            assert_msg_names(eng, path, n > 1 ? f : -1);
            st->frames_failed++;
            st->last_err = err;
            if (verbose)
                fprintf(stderr, "  frame %s: %s\n", pm_strerror(err),
                        pm_engine_errmsg(eng));
            continue;
        }
        assert_non_null(pix);
        assert_true(fallback >= PM_DPI_TAG && fallback <= PM_DPI_ESTIMATED);
        check_decoded(eng, p, path, f, pix, fallback, verbose);
        st->frames_ok++;
        decoded++;
    }
    return decoded;
}

static void sweep_every_manifest_image(void **state)
{
    pm_engine_t *eng;
    pm_profile_t p;
    char *manifest, *cur, *col[MANIFEST_COLS];
    sweep_stats_t st;
    int verbose = getenv("PM_TEST_VERBOSE") != NULL, header = 1;
    double t0 = pm_now_ms();

    (void)state;
    t_require_data();
    memset(&st, 0, sizeof(st));
    t_profile(&p);
    eng = t_engine_new();
    manifest = t_slurp(t_data("MANIFEST.tsv"));
    assert_non_null(manifest);
    cur = manifest;
    while (manifest_row(&cur, col) >= 0) {
        char path[4096];
        int decoded;

        if (header) { /* column names */
            assert_string_equal(col[5], "local_path (under data/)");
            assert_string_equal(col[8], "kind");
            assert_string_equal(col[13], "decodes");
            header = 0;
            continue;
        }
        if (strcmp(col[8], "image") != 0)
            continue;
        snprintf(path, sizeof(path), "%s", t_data(col[5]));
        if (verbose)
            fprintf(stderr, "%s [%s]\n", col[5], col[13]);
        st.files++;
        st.last_err = 0;
        decoded = sweep_file(eng, &p, path, &st, verbose);
        if (decoded == 0 && refused_shape(st.last_err, pm_engine_errmsg(eng)))
            continue; /* a 1x1 test image is no page, whatever ImageMagick
                         makes of it */
        if (strcmp(col[13], "OK") == 0 && is_tiff_png_jpeg(col[5])) {
            st.ok_class++;
            if (decoded > 0)
                st.ok_class_decoded++;
            else
                fprintf(stderr,
                        "note: MANIFEST says OK but not decoded: %s: "
                        "%s\n",
                        col[5], pm_engine_errmsg(eng));
        }
    }
    fprintf(stderr,
            "sweep: %d image files, %d unopenable; %d frames: %d decoded, %d "
            "failed cleanly; MANIFEST-OK TIFF/PNG/JPEG: %d/%d decoded; "
            "%.1f s\n",
            st.files, st.count_failed, st.frames, st.frames_ok,
            st.frames_failed, st.ok_class_decoded, st.ok_class,
            (pm_now_ms() - t0) / 1000);
    /* The manifest lists 579 images; the fuzz corpora alone are 366. */
    assert_true(st.files >= 500);
    assert_true(st.frames_ok >= 200);
    /* What ImageMagick decodes, we decode (allowing a couple of oddities
     * such as float samples). */
    assert_true(st.ok_class >= 150);
    assert_true(st.ok_class_decoded * 100 >= st.ok_class * 97);
    pm_free(manifest);
    pm_engine_close(eng);
}

/* ---- files that must decode ---- */

typedef struct known {
    const char *rel;
    int w, h;
    pm_kind_t kind;
    int xres, yres; /* NONE: the file has none (fallback); ANY: not checked */
} known_t;

#define NONE -1
#define ANY  0

static const known_t known_files[] = {
    {"tesseract-test/testing/8087_054.3B.tif", 2560, 3300, PM_KIND_BITONAL, 300,
     300},
    {"libtiff-testimages/test/images/lzw-single-strip.tiff", 7795, 3122,
     PM_KIND_BITONAL, 400, 400},
    {"libtiff-testimages/test/images/testfax4.tiff", 2453, 3369,
     PM_KIND_BITONAL, 300, 300},
    /* libtiff's test images carry no resolution tags (MANIFEST's "72" is
     * ImageMagick's default). */
    {"libtiff-testimages/test/images/palette-1c-1b.tiff", 157, 151,
     PM_KIND_BITONAL, NONE, NONE},
    {"libtiff-testimages/test/images/palette-1c-4b.tiff", 157, 151,
     PM_KIND_COLOR, NONE, NONE},
    {"libtiff-testimages/test/images/palette-1c-8b.tiff", 157, 151,
     PM_KIND_COLOR, NONE, NONE},
    {"libtiff-testimages/test/images/minisblack-1c-16b.tiff", 157, 151,
     PM_KIND_GRAY, NONE, NONE},
    {"libtiff-testimages/test/images/minisblack-1c-8b.tiff", 157, 151,
     PM_KIND_GRAY, NONE, NONE},
    {"libtiff-testimages/test/images/rgb-3c-16b.tiff", 157, 151, PM_KIND_COLOR,
     NONE, NONE},
    {"libtiff-testimages/test/images/rgb-3c-8b.tiff", 157, 151, PM_KIND_COLOR,
     NONE, NONE},
    {"libtiff-testimages/test/images/miniswhite-1c-1b.tiff", 157, 151,
     PM_KIND_BITONAL, NONE, NONE},
    /* JPEG-compressed tiles: Leptonica reads strips only. */
    {"libtiff-testimages/test/images/quad-tile.jpg.tiff", 512, 384,
     PM_KIND_COLOR, NONE, NONE},
    /* Tagged, but too small to be a page at their tags (under 2 in on
     * the shorter side): the fallback is used. */
    {"libtiff-testimages/test/images/32bpp-None.tiff", 162, 20, PM_KIND_COLOR,
     NONE, NONE},
    {"leptonica/prog/minisblack.tif", 100, 150, PM_KIND_BITONAL, NONE, NONE},
    {"leptonica/prog/miniswhite.tif", 100, 150, PM_KIND_BITONAL, NONE, NONE},
    {"leptonica/prog/rgb16.tif", 129, 90, PM_KIND_COLOR, NONE, NONE},
    {"leptonica/prog/jpeg-coded.tif", 640, 400, PM_KIND_GRAY, 72, 72},
    {"leptonica/prog/test1.bmp", 550, 426, PM_KIND_BITONAL, 74, 74},
    {"leptonica/prog/test-rgba.bmp", 113, 45, PM_KIND_COLOR, NONE, NONE},
    {"ocrmypdf/tests/resources/baiona.png", 640, 682, PM_KIND_COLOR, NONE,
     NONE},
    {"ocrmypdf/tests/resources/baiona_alpha.png", 640, 682, PM_KIND_COLOR, NONE,
     NONE},
    {"ocrmypdf/tests/resources/baiona_gray.png", 640, 682, PM_KIND_GRAY, NONE,
     NONE},
    {"ocrmypdf/tests/resources/baiona_colormapped.png", 640, 682, PM_KIND_COLOR,
     NONE, NONE},
    {"tesseract-test/testing/devatest.png", 1024, 486, PM_KIND_GRAY, NONE,
     NONE},
    {"tesseract-test/testing/hebrew.png", 564, 243, PM_KIND_COLOR, 96, 96},
    {"ocrmypdf/tests/resources/baiona_color.jpg", 640, 682, PM_KIND_COLOR, NONE,
     NONE},
    /* 200 dpi in EXIF only; Leptonica reads JFIF density alone. */
    {"ocrmypdf/tests/resources/baiona_cmyk.jpg", 640, 682, PM_KIND_COLOR, NONE,
     NONE},
    {"leptonica/prog/test8.jpg", 550, 426, PM_KIND_GRAY, NONE, NONE},
    {"leptonica/prog/lucasta.150.jpg", 532, 939, PM_KIND_GRAY, 150, 150},
    {"tesseract-test/testing/hebtypo.jpg", 847, 1629, PM_KIND_GRAY, NONE, NONE},
    {"tesseract-test/testing/segmodeimg.tif", 1750, 1241, PM_KIND_COLOR, 301,
     300},
    {"libtiff-testimages/test/images/minisblack-1c-8b.pgm", 157, 151,
     PM_KIND_GRAY, NONE, NONE},
    {"libtiff-testimages/test/images/rgb-3c-8b.ppm", 157, 151, PM_KIND_COLOR,
     NONE, NONE},
};

static void well_known_files_decode(void **state)
{
    pm_engine_t *eng;
    pm_profile_t p;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    for (size_t i = 0; i < sizeof(known_files) / sizeof(known_files[0]); i++) {
        const known_t *k = &known_files[i];
        pm_page_image_t img;
        int n = 0, fallback = -1;

        assert_int_equal(pm_load_count_frames(eng, t_data(k->rel), &n), 0);
        assert_int_equal(n, 1);
        load_norm(eng, &p, k->rel, 0, &img, &fallback);
        if (pixGetWidth(img.pix) != k->w || pixGetHeight(img.pix) != k->h ||
            img.kind != k->kind)
            fail_msg("%s: %dx%d %s, expected %dx%d %s", k->rel,
                     pixGetWidth(img.pix), pixGetHeight(img.pix),
                     pm_kind_name(img.kind), k->w, k->h, pm_kind_name(k->kind));
        if ((k->xres == NONE) != (fallback != PM_DPI_TAG) && k->xres != ANY)
            fail_msg("%s: dpi_fallback %d, resolution %dx%d", k->rel, fallback,
                     img.xres, img.yres);
        if (k->xres == NONE && fallback == PM_DPI_ESTIMATED) {
            assert_true(snapped(img.xres));
            assert_int_equal(img.yres, img.xres);
        } else if (k->xres == NONE) {
            assert_int_equal(img.xres, p.fallback_dpi);
            assert_int_equal(img.yres, p.fallback_dpi);
        } else if (k->xres != ANY) {
            assert_int_equal(fallback, 0);
            assert_int_equal(img.xres, k->xres);
            assert_int_equal(img.yres, k->yres);
            assert_int_equal(pixGetXRes(img.pix), k->xres);
            assert_int_equal(pixGetYRes(img.pix), k->yres);
        }
        pm_page_image_cleanup(&img);
    }
    pm_engine_close(eng);
}

/* Leptonica's minisblack.tif and miniswhite.tif hold the same picture with
 * opposite photometric interpretation: both must decode to the same ink. */
static void minisblack_and_miniswhite_agree(void **state)
{
    pm_engine_t *eng;
    pm_profile_t p;
    pm_page_image_t a, b;
    int fb, same = 0;
    l_int32 ink = 0;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    load_norm(eng, &p, "leptonica/prog/minisblack.tif", 0, &a, &fb);
    load_norm(eng, &p, "leptonica/prog/miniswhite.tif", 0, &b, &fb);
    assert_int_equal(pixGetDepth(a.pix), 1);
    assert_int_equal(pixGetDepth(b.pix), 1);
    pixEqual(a.pix, b.pix, &same);
    assert_true(same);
    /* ...and that ink is the minority (1 = black in Leptonica). */
    pixCountPixels(a.pix, &ink, NULL);
    assert_true(ink > 0 && ink < 100 * 150 / 2);
    pm_page_image_cleanup(&a);
    pm_page_image_cleanup(&b);
    pm_engine_close(eng);
}

static void fax_g4_has_eight_frames_at_204x196(void **state)
{
    const char *rel = "derived/ccitt-fax-8pages-g4-204x196dpi.tif";
    pm_engine_t *eng;
    pm_profile_t p;
    int n = 0;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    assert_int_equal(pm_load_count_frames(eng, t_data(rel), &n), 0);
    assert_int_equal(n, 8);
    for (int f = 0; f < n; f++) {
        pm_page_image_t img;
        int fb = -1;

        load_norm(eng, &p, rel, f, &img, &fb);
        assert_int_equal(fb, 0);
        assert_int_equal(img.kind, PM_KIND_BITONAL);
        assert_int_equal(pixGetWidth(img.pix), 1728);
        assert_int_equal(pixGetHeight(img.pix), 2376);
        assert_int_equal(img.xres, 204);
        assert_int_equal(img.yres, 196);
        pm_page_image_cleanup(&img);
    }
    /* One past the end is an error naming the file and the frame. */
    {
        PIX *pix = (PIX *)1;
        int fb = -1;
        char path[4096];

        snprintf(path, sizeof(path), "%s", t_data(rel));
        assert_int_equal(pm_load_page(eng, path, 8, &p, &pix, &fb), PM_EINVAL);
        assert_null(pix);
        assert_msg_names(eng, path, 8);
        assert_int_equal(pm_load_page(eng, path, -1, &p, &pix, &fb), PM_EINVAL);
        assert_msg_names(eng, path, -1);
    }
    pm_engine_close(eng);
}

/* No .jp2 ships in the shared data: write one from a shared page with
 * Leptonica (OpenJPEG) and read it back. */
static void jpeg2000_decodes(void **state)
{
    const char *dir;
    char src_path[4096], jp2[4096];
    pm_engine_t *eng;
    pm_profile_t p;
    PIX *src, *pix = NULL;
    pm_page_image_t img;
    int n = 0, fb = -1;
    l_float32 diff = 0;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    dir = t_tmpdir();
    snprintf(src_path, sizeof(src_path), "%s",
             t_data("leptonica/prog/test8.jpg"));
    snprintf(jp2, sizeof(jp2), "%s/test8.jp2", dir);
    src = pixRead(src_path);
    assert_non_null(src);
    pixSetResolution(src, 150, 150);
    assert_int_equal(pixWriteJp2k(jp2, src, 50, 0, 0, 0), 0);
    assert_int_equal(pm_load_count_frames(eng, jp2, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pm_load_page(eng, jp2, 0, &p, &pix, &fb), 0);
    assert_int_equal(pixGetWidth(pix), pixGetWidth(src));
    assert_int_equal(pixGetHeight(pix), pixGetHeight(src));
    assert_int_equal(pm_normalize(eng, pix, &p, &img), 0);
    assert_int_equal(img.kind, PM_KIND_GRAY);
    assert_int_equal(pixCompareGray(src, img.pix, L_COMPARE_ABS_DIFF, 0, NULL,
                                    &diff, NULL, NULL),
                     0);
    assert_true(diff < 4.0f); /* SNR 50: close to the original */
    pm_page_image_cleanup(&img);
    pixDestroy(&src);

    /* A colour one too. */
    src = pixRead(t_data("ocrmypdf/tests/resources/baiona_color.jpg"));
    assert_non_null(src);
    snprintf(jp2, sizeof(jp2), "%s/baiona.jp2", dir);
    assert_int_equal(pixWriteJp2k(jp2, src, 0, 0, 0, 0), 0);
    assert_int_equal(pm_load_page(eng, jp2, 0, &p, &pix, &fb), 0);
    assert_int_equal(pm_normalize(eng, pix, &p, &img), 0);
    assert_int_equal(img.kind, PM_KIND_COLOR);
    assert_int_equal(pixGetWidth(img.pix), 640);
    assert_int_equal(pixGetHeight(img.pix), 682);
    pm_page_image_cleanup(&img);
    pixDestroy(&src);
    t_tmpdir_cleanup();
    pm_engine_close(eng);
}

static void not_an_image_fails_cleanly(void **state)
{
    pm_engine_t *eng;
    pm_profile_t p;
    char path[4096];
    PIX *pix = (PIX *)1;
    int n = -1, fb = -1;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    snprintf(path, sizeof(path), "%s", t_data("MANIFEST.tsv"));
    assert_int_equal(pm_load_count_frames(eng, path, &n), PM_EUNSUPP);
    assert_int_equal(n, 0);
    assert_msg_names(eng, path, -1);
    assert_int_equal(pm_load_page(eng, path, 0, &p, &pix, &fb), PM_EUNSUPP);
    assert_null(pix);
    assert_int_equal(fb, 0);
    assert_msg_names(eng, path, -1);
    snprintf(path, sizeof(path), "%s", t_data("no/such/file.tif"));
    assert_int_equal(pm_load_page(eng, path, 0, &p, &pix, &fb), -ENOENT);
    assert_msg_names(eng, path, -1);
    pm_engine_close(eng);
}

/* ---- the pixel limit ---- */

typedef struct limit_case {
    const char *rel;
    long long pixels;
    int frame;
    int header_first; /* the header comes before the pixel data */
} limit_case_t;

static const limit_case_t limit_cases[] = {
    {"tesseract-test/testing/8087_054.3B.tif", 2560LL * 3300, 0, 0},
    {"libtiff-testimages/test/images/lzw-single-strip.tiff", 7795LL * 3122, 0,
     1},
    {"ocrmypdf/tests/resources/baiona.png", 640LL * 682, 0, 1},
    {"leptonica/prog/test8.jpg", 550LL * 426, 0, 1},
    {"leptonica/prog/test1.bmp", 550LL * 426, 0, 1},
    {"libtiff-testimages/test/images/rgb-3c-8b.ppm", 157LL * 151, 0, 1},
    {"derived/ccitt-fax-8pages-g4-204x196dpi.tif", 1728LL * 2376, 3, 0},
};

static void pixel_limit_refuses_before_decoding(void **state)
{
    const char *dir;
    pm_engine_t *eng;
    pm_profile_t p;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    dir = t_tmpdir();
    for (size_t i = 0; i < sizeof(limit_cases) / sizeof(limit_cases[0]); i++) {
        const limit_case_t *c = &limit_cases[i];
        char path[4096], cut[4096];
        const char *base = strrchr(c->rel, '/') + 1;
        PIX *pix = (PIX *)1;
        int fb = -1, err;

        snprintf(path, sizeof(path), "%s", t_data(c->rel));
        /* One pixel under: refused, naming the file (and frame). */
        p.max_pixels = c->pixels - 1;
        err = pm_load_page(eng, path, c->frame, &p, &pix, &fb);
        if (err != PM_ETOOBIG)
            fail_msg("%s: expected PM_ETOOBIG, got %s (%s)", c->rel,
                     pm_strerror(err), pm_engine_errmsg(eng));
        assert_null(pix);
        assert_int_equal(fb, 0);
        assert_msg_names(eng, path, c->frame);
        /* Exactly at the limit: decodes. */
        p.max_pixels = c->pixels;
        err = pm_load_page(eng, path, c->frame, &p, &pix, &fb);
        if (err != 0)
            fail_msg("%s at its own size: %s", c->rel, pm_engine_errmsg(eng));
        pixDestroy(&pix);
        if (!c->header_first)
            continue;
        /* The refusal comes from the header alone: a copy whose pixel data
         * is cut off is still refused as too big, not as corrupt. */
        snprintf(cut, sizeof(cut), "%s/half-%s", dir, base);
        t_copy_truncated(path, cut, (size_t)t_file_size(path) / 2);
        p.max_pixels = c->pixels - 1;
        err = pm_load_page(eng, cut, 0, &p, &pix, &fb);
        if (err != PM_ETOOBIG)
            fail_msg("%s cut in half: expected PM_ETOOBIG, got %s (%s)", c->rel,
                     pm_strerror(err), pm_engine_errmsg(eng));
        assert_msg_names(eng, cut, -1);
    }
    t_tmpdir_cleanup();
    pm_engine_close(eng);
}

/* Writes `len` bytes of `data` to a new file `path`. */
static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void put32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

/* A 32-bit BMP of w x h pixels at `path`: info header of `ihdr` bytes,
 * compression `comp` (0 BI_RGB, 3 BI_BITFIELDS with the usual masks). */
static void write_bmp32(const char *path, int ihdr, int comp, int w, int h)
{
    int masks = comp == 3 && ihdr == 40 ? 12 : 0, off = 14 + ihdr + masks;
    size_t len = (size_t)off + (size_t)w * h * 4;
    unsigned char *b = calloc(1, len);

    assert_non_null(b);
    b[0] = 'B';
    b[1] = 'M';
    put32(b + 2, (uint32_t)len);
    put32(b + 10, (uint32_t)off);
    put32(b + 14, (uint32_t)ihdr);
    put32(b + 18, (uint32_t)w);
    put32(b + 22, (uint32_t)h);
    b[26] = 1;  /* planes */
    b[28] = 32; /* bits per pixel */
    put32(b + 30, (uint32_t)comp);
    put32(b + 38, 11811); /* 300 dpi */
    put32(b + 42, 11811);
    if (comp == 3) { /* in the header (V4, V5) or just after it */
        put32(b + 54, 0x00FF0000u);
        put32(b + 58, 0x0000FF00u);
        put32(b + 62, 0x000000FFu);
    }
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            unsigned char *px = b + off + ((size_t)y * w + x) * 4;

            px[0] = (unsigned char)(x * 3); /* blue */
            px[1] = (unsigned char)(y * 2); /* green */
            px[2] = (unsigned char)(x ^ y); /* red */
            px[3] = 0xFF;
        }
    }
    write_bytes(path, b, len);
    free(b);
}

/* Most programs write 32-bit BMPs with bit fields (BI_BITFIELDS): with
 * the usual masks they decode to the same pixels as BI_RGB; other masks
 * are refused by name, not called corrupt. */
static void bmp_with_bit_fields_decodes(void **state)
{
    static const int headers[] = {40, 108, 124};
    char ref[4096], path[4096];
    pm_engine_t *eng;
    pm_profile_t p;
    PIX *want = NULL, *got = NULL;
    l_int32 same = 0;
    int fb;

    (void)state;
    t_profile(&p);
    eng = t_engine_new();
    snprintf(ref, sizeof(ref), "%s/rgb.bmp", t_tmpdir());
    write_bmp32(ref, 40, 0, 700, 900);
    assert_int_equal(pm_load_page(eng, ref, 0, &p, &want, &fb), 0);
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        snprintf(path, sizeof(path), "%s/bf%d.bmp", t_tmpdir(), headers[i]);
        write_bmp32(path, headers[i], 3, 700, 900);
        if (pm_load_page(eng, path, 0, &p, &got, &fb) != 0)
            fail_msg("%d-byte header: %s", headers[i], pm_engine_errmsg(eng));
        pixEqual(want, got, &same);
        assert_true(same);
        pixDestroy(&got);
    }
    /* Unusual masks: refused, and said so. */
    {
        unsigned char m[4] = {0, 0, 0xFF, 0};
        FILE *f = fopen(path, "r+b");

        assert_non_null(f);
        assert_int_equal(fseek(f, 62, SEEK_SET), 0);
        assert_int_equal(fwrite(m, 1, 4, f), 4);
        fclose(f);
    }
    assert_int_not_equal(pm_load_page(eng, path, 0, &p, &got, &fb), 0);
    assert_non_null(strstr(pm_engine_errmsg(eng), "bit fields"));
    assert_non_null(strstr(pm_engine_errmsg(eng), "not supported"));
    assert_null(got);
    pixDestroy(&want);
    pm_engine_close(eng);
    t_tmpdir_cleanup();
}

/* A header claiming 100000 x 100000 pixels (a decompression bomb) is
 * refused at the default limit without allocating anything. */
static void bomb_headers_are_refused(void **state)
{
    const char *dir;
    char path[4096];
    pm_engine_t *eng;
    pm_profile_t p;
    PIX *pix = (PIX *)1;
    int fb, err;
    /* A 1 bpp BMP: file header, BITMAPINFOHEADER, 2-entry palette. */
    unsigned char bmp[62] = {'B', 'M', 62, 0, 0, 0, 0, 0, 0, 0, 62, 0, 0, 0, 40,
                             0, 0, 0,
                             /* width, height = 100000 */
                             0xa0, 0x86, 0x01, 0, 0xa0, 0x86, 0x01, 0,
                             /* planes 1, bpp 1 */
                             1, 0, 1, 0};

    (void)state;
    t_profile(&p);
    eng = t_engine_new();
    dir = t_tmpdir();
    snprintf(path, sizeof(path), "%s/bomb.bmp", dir);
    write_bytes(path, bmp, sizeof(bmp));
    assert_int_equal(pm_load_page(eng, path, 0, &p, &pix, &fb), PM_ETOOBIG);
    assert_null(pix);
    assert_msg_names(eng, path, -1);

    /* The same as a PNG: signature + IHDR of 100000 x 100000 gray. */
    {
        static const unsigned char png[] = {
            0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H',
            'D', 'R', 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 0, 0, 0, 0, 0, 0,
            0, 0,
            /* IEND */
            0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
        snprintf(path, sizeof(path), "%s/bomb.png", dir);
        write_bytes(path, png, sizeof(png));
        err = pm_load_page(eng, path, 0, &p, &pix, &fb);
        if (err != PM_ETOOBIG)
            fail_msg("PNG bomb: %s (%s)", pm_strerror(err),
                     pm_engine_errmsg(eng));
        assert_msg_names(eng, path, -1);
    }
    /* A TIFF of 4294967295 x 4294967295: the product overflows 64 bits
     * when it is computed naively. */
    {
        static const unsigned char tif[] = {
            'I',  'I',  42,   0,    8, 0, 0, 0, /* header, IFD at 8 */
            8,    0,                            /* 8 entries */
            0,    1,    4,    0,    1, 0, 0, 0,
            0xff, 0xff, 0xff, 0xff, /* width */
            1,    1,    4,    0,    1, 0, 0, 0,
            0xff, 0xff, 0xff, 0xff, /* length */
            2,    1,    3,    0,    1, 0, 0, 0,
            1,    0,    0,    0, /* bits 1 */
            3,    1,    3,    0,    1, 0, 0, 0,
            4,    0,    0,    0, /* G4 */
            6,    1,    3,    0,    1, 0, 0, 0,
            0,    0,    0,    0, /* white is zero */
            0x11, 1,    4,    0,    1, 0, 0, 0,
            110,  0,    0,    0, /* strip offset */
            0x16, 1,    4,    0,    1, 0, 0, 0,
            0xff, 0xff, 0xff, 0xff, /* rows */
            0x17, 1,    4,    0,    1, 0, 0, 0,
            4,    0,    0,    0, /* strip bytes */
            0,    0,    0,    0, /* no next IFD */
            0,    0,    0,    0};
        snprintf(path, sizeof(path), "%s/bomb.tif", dir);
        write_bytes(path, tif, sizeof(tif));
        p.max_pixels = 20000LL * 20000LL;
        err = pm_load_page(eng, path, 0, &p, &pix, &fb);
        if (err != PM_ETOOBIG)
            fail_msg("TIFF bomb: %s (%s)", pm_strerror(err),
                     pm_engine_errmsg(eng));
        assert_msg_names(eng, path, -1);
    }
    t_tmpdir_cleanup();
    pm_engine_close(eng);
}

/* ---- resolution ---- */

/*
 * Writes a blank w x h page tagged xres x yres dpi as `ext` ("tif": G4,
 * "png": 1 bpp PNG with pHYs) in a fresh temp folder, then loads it with
 * warnings captured. Returns pm_load_page's result; when `log` is not
 * NULL stores the warnings there (caller frees). The folder is removed.
 */
static int load_generated(pm_engine_t *eng, const pm_profile_t *p,
                          const char *ext, int w, int h, int xres, int yres,
                          PIX **out, int *fb, char **log)
{
    char path[4096], logpath[4200];
    int threshold = pm_log_threshold, saved, fd, err;
    PIX *src = pixCreate(w, h, 1);

    assert_non_null(src);
    pixSetResolution(src, xres, yres);
    snprintf(path, sizeof(path), "%s/page-%dx%d-%ddpi.%s", t_tmpdir(), w, h,
             xres, ext);
    assert_int_equal(
        pixWrite(path, src, strcmp(ext, "png") == 0 ? IFF_PNG : IFF_TIFF_G4),
        0);
    pixDestroy(&src);
    snprintf(logpath, sizeof(logpath), "%s.log", path);
    fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    saved = dup(2);
    assert_true(saved >= 0 && dup2(fd, 2) == 2);
    pm_log_threshold = PM_LOG_WARN;
    err = pm_load_page(eng, path, 0, p, out, fb);
    fflush(stderr);
    pm_log_threshold = threshold;
    dup2(saved, 2);
    close(saved);
    close(fd);
    if (log != NULL) {
        *log = t_slurp(logpath);
        assert_non_null(*log);
        if ((*log)[0] != '\0' && strstr(*log, path) == NULL)
            fail_msg("warning does not name %s: %s", path, *log);
    }
    t_tmpdir_cleanup();
    return err;
}

/* Fails unless `log` contains every string of the NULL-terminated list. */
static void assert_log_has(const char *log, ...)
{
    va_list ap;
    const char *want;

    va_start(ap, log);
    while ((want = va_arg(ap, const char *)) != NULL)
        if (strstr(log, want) == NULL)
            fail_msg("expected '%s' in the warning: %s", want, log);
    va_end(ap);
}

/* A tag that gives a page no scanner makes is not believed: a 3182 px
 * wide scan tagged 96 dpi would be 33 inches wide. */
static void implausible_resolution_gets_fallback(void **state)
{
    pm_engine_t *eng;
    pm_profile_t p;
    PIX *pix = NULL;
    char *log = NULL;
    int fb = -1;

    (void)state;
    t_profile(&p);
    p.fallback_dpi = 300;
    eng = t_engine_new();
    assert_int_equal(
        load_generated(eng, &p, "tif", 3182, 4096, 96, 96, &pix, &fb, &log), 0);
    assert_int_equal(fb, 1);
    assert_int_equal(pixGetXRes(pix), 300);
    assert_int_equal(pixGetYRes(pix), 300);
    assert_log_has(log, "page-3182x4096-96dpi.tif", "XResolution/YResolution",
                   "96x96 dpi", "33.1 x 42.7 in", "using 300 dpi", NULL);
    assert_null(strstr(log, "either"));
    pixDestroy(&pix);
    pm_free(log);
    /* The same in a PNG's pHYs. */
    assert_int_equal(
        load_generated(eng, &p, "png", 3182, 4096, 96, 96, &pix, &fb, &log), 0);
    assert_int_equal(fb, 1);
    assert_int_equal(pixGetXRes(pix), 300);
    assert_log_has(log, "page-3182x4096-96dpi.png", "pHYs", "33.1 x 42.7 in",
                   NULL);
    pixDestroy(&pix);
    pm_free(log);
    /* Too small: 600 x 800 px at 1200 dpi is half an inch wide. */
    assert_int_equal(
        load_generated(eng, &p, "tif", 600, 800, 1200, 1200, &pix, &fb, &log),
        0);
    assert_int_equal(fb, 1);
    assert_int_equal(pixGetXRes(pix), 300);
    assert_log_has(log, "1200x1200 dpi", "0.5 x 0.7 in", NULL);
    pixDestroy(&pix);
    pm_free(log);
    /* Just over 17 x 24 in. */
    assert_int_equal(
        load_generated(eng, &p, "tif", 3401, 4800, 200, 200, &pix, &fb, NULL),
        0);
    assert_int_equal(fb, 1);
    assert_int_equal(pixGetXRes(pix), 300);
    pixDestroy(&pix);
    /* A fallback that is absurd too is used, and the warning says so. */
    p.fallback_dpi = 100;
    assert_int_equal(
        load_generated(eng, &p, "tif", 3182, 4096, 96, 96, &pix, &fb, &log), 0);
    assert_int_equal(fb, 1);
    assert_int_equal(pixGetXRes(pix), 100);
    assert_log_has(log, "using 100 dpi", "31.8 x 41.0 in",
                   "not a plausible scan either", NULL);
    pixDestroy(&pix);
    pm_free(log);
    pm_engine_close(eng);
}

/* Sizes a scan can have are believed, either way round, up to 17 x 24 in
 * and down to 2 in across. */
static void plausible_resolution_is_believed(void **state)
{
    static const struct {
        int w, h, xres, yres;
    } pages[] = {
        {2550, 3300, 300, 300}, /* letter */
        {3300, 2550, 300, 300}, /* letter, landscape */
        {1728, 2200, 204, 196}, /* fax fine mode */
        {3400, 4800, 200, 200}, /* 17 x 24 in */
        {4800, 3400, 200, 200}, /* 24 x 17 in */
        {400, 600, 200, 200},   /* 2 x 3 in */
        {5100, 6600, 600, 600}, /* letter at 600 dpi */
    };
    pm_engine_t *eng;
    pm_profile_t p;

    (void)state;
    t_profile(&p);
    eng = t_engine_new();
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        PIX *pix = NULL;
        char *log = NULL;
        int fb = -1;

        assert_int_equal(load_generated(eng, &p, i % 2 ? "png" : "tif",
                                        pages[i].w, pages[i].h, pages[i].xres,
                                        pages[i].yres, &pix, &fb, &log),
                         0);
        if (fb != 0 || pixGetXRes(pix) != pages[i].xres ||
            pixGetYRes(pix) != pages[i].yres)
            fail_msg("%dx%d at %dx%d dpi not believed: %dx%d, %s", pages[i].w,
                     pages[i].h, pages[i].xres, pages[i].yres, pixGetXRes(pix),
                     pixGetYRes(pix), log);
        assert_string_equal(log, "");
        pixDestroy(&pix);
        pm_free(log);
    }
    pm_engine_close(eng);
}

/* Pages no scanner makes are refused with the reason, before OCR spends
 * time and memory on them. */
static void absurd_shapes_are_refused(void **state)
{
    /* A PNG header of 3102 x 62976 gray and no pixel data: refused on the
     * header alone (not as corrupt data). */
    static const unsigned char strip[] = {
        0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0,   0, 0,    13,
        'I',  'H', 'D', 'R', 0,    0,    0x0c, 0x1e, 0,   0, 0xf6, 0x00,
        8,    0,   0,   0,   0,    0,    0,    0,    0,   0, 0,    0,
        0,    'I', 'E', 'N', 'D',  0xae, 0x42, 0x60, 0x82};
    char path[4096];
    pm_engine_t *eng;
    pm_profile_t p;
    PIX *pix = (PIX *)1;
    int fb = -1, err;

    (void)state;
    t_profile(&p);
    eng = t_engine_new();
    snprintf(path, sizeof(path), "%s/strip.png", t_tmpdir());
    write_bytes(path, strip, sizeof(strip));
    err = pm_load_page(eng, path, 0, &p, &pix, &fb);
    if (err != PM_ETOOBIG)
        fail_msg("3102x62976: %s (%s)", pm_strerror(err),
                 pm_engine_errmsg(eng));
    assert_null(pix);
    assert_int_equal(fb, 0);
    assert_msg_names(eng, path, 0);
    assert_non_null(strstr(pm_engine_errmsg(eng), "3102x62976"));
    assert_non_null(strstr(pm_engine_errmsg(eng), "1:12"));
    t_tmpdir_cleanup();
    /* 1:13 is refused, 1:12 is a page. */
    assert_int_equal(
        load_generated(eng, &p, "png", 100, 1300, 0, 0, &pix, &fb, NULL),
        PM_ETOOBIG);
    assert_null(pix);
    assert_non_null(strstr(pm_engine_errmsg(eng), "100x1300"));
    assert_int_equal(
        load_generated(eng, &p, "png", 1200, 100, 0, 0, &pix, &fb, NULL), 0);
    pixDestroy(&pix);
    /* Over 60 in at the resolution used (here the fallback, 300 dpi). */
    assert_int_equal(
        load_generated(eng, &p, "tif", 1700, 18300, 300, 300, &pix, &fb, NULL),
        PM_ETOOBIG);
    assert_null(pix);
    assert_int_equal(fb, 0);
    assert_non_null(strstr(pm_engine_errmsg(eng), "1700x18300"));
    assert_non_null(strstr(pm_engine_errmsg(eng), "61.0 in"));
    assert_non_null(strstr(pm_engine_errmsg(eng), "limit of 60 in"));
    assert_int_equal(
        load_generated(eng, &p, "tif", 1700, 18000, 300, 300, &pix, &fb, NULL),
        0);
    pixDestroy(&pix);
    /* Tiny images: a clear refusal, not a failure in a later stage. */
    assert_int_equal(
        load_generated(eng, &p, "png", 1, 1, 300, 300, &pix, &fb, NULL),
        PM_EUNSUPP);
    assert_null(pix);
    assert_non_null(strstr(pm_engine_errmsg(eng), "1x1 pixels is too small"));
    assert_non_null(strstr(pm_engine_errmsg(eng), "at least 16 pixels"));
    assert_int_equal(
        load_generated(eng, &p, "tif", 100, 15, 300, 300, &pix, &fb, NULL),
        PM_EUNSUPP);
    assert_int_equal(
        load_generated(eng, &p, "tif", 16, 16, 300, 300, &pix, &fb, NULL), 0);
    pixDestroy(&pix);
    pm_engine_close(eng);
}

static void missing_resolution_gets_fallback(void **state)
{
    pm_engine_t *eng;
    pm_profile_t p;
    pm_page_image_t img;
    int fb = -1;

    (void)state;
    t_require_data();
    t_profile(&p);
    p.fallback_dpi = 250; /* not the default nor an estimate: seen if used */
    eng = t_engine_new();
    /* ITU chart converted to PNG without pHYs: its text says 200 dpi
     * (test_dpi.c has more). */
    load_norm(eng, &p, "debian-jbigkit-testdata/converted/ccitt1.png", 0, &img,
              &fb);
    assert_int_equal(fb, PM_DPI_ESTIMATED);
    assert_int_equal(img.xres, 200);
    assert_int_equal(img.yres, 200);
    assert_int_equal(pixGetXRes(img.pix), 200);
    assert_int_equal(pixGetYRes(img.binary), 200);
    pm_page_image_cleanup(&img);
    /* A JPEG without density. */
    load_norm(eng, &p, "leptonica/prog/test8.jpg", 0, &img, &fb);
    assert_true(fb == PM_DPI_DEFAULT || fb == PM_DPI_ESTIMATED);
    assert_true(fb == PM_DPI_ESTIMATED || img.xres == 250);
    pm_page_image_cleanup(&img);
    /* An absurd one: 5 x 7 dpi. */
    {
        PIX *pix = NULL, *src = pixCreate(1700, 2200, 1);
        char path[4096];

        assert_non_null(src);
        pixSetResolution(src, 5, 7);
        snprintf(path, sizeof(path), "%s/5x7dpi.tif", t_tmpdir());
        assert_int_equal(pixWrite(path, src, IFF_TIFF_G4), 0);
        pixDestroy(&src);
        assert_int_equal(pm_load_page(eng, path, 0, &p, &pix, &fb), 0);
        assert_int_equal(fb, PM_DPI_DEFAULT); /* no text to measure */
        assert_int_equal(pixGetXRes(pix), 250);
        assert_int_equal(pixGetYRes(pix), 250);
        pixDestroy(&pix);
        t_tmpdir_cleanup();
    }
    /* A sane one is kept. */
    load_norm(eng, &p, "tesseract-test/testing/8087_054.3B.tif", 0, &img, &fb);
    assert_int_equal(fb, 0);
    assert_int_equal(img.xres, 300);
    pm_page_image_cleanup(&img);
    pm_engine_close(eng);
}

/* Absurdly high resolution written into a copy of a real page. */
static void absurd_high_resolution_gets_fallback(void **state)
{
    const char *dir;
    char path[4096];
    pm_engine_t *eng;
    pm_profile_t p;
    PIX *src, *pix = NULL;
    int fb = -1;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    dir = t_tmpdir();
    src = pixRead(t_data("leptonica/prog/feyn-word.tif"));
    assert_non_null(src);
    pixSetResolution(src, 30000, 30000);
    snprintf(path, sizeof(path), "%s/hires.tif", dir);
    assert_int_equal(pixWrite(path, src, IFF_TIFF_G4), 0);
    assert_int_equal(pm_load_page(eng, path, 0, &p, &pix, &fb), 0);
    assert_int_equal(fb, 1);
    assert_int_equal(pixGetXRes(pix), p.fallback_dpi);
    assert_int_equal(pixGetYRes(pix), p.fallback_dpi);
    pixDestroy(&pix);
    pixDestroy(&src);
    /* 2400 is still sane (2 x 3 in); so is 50 (10 x 14 in). */
    assert_int_equal(
        load_generated(eng, &p, "tif", 4800, 7200, 2400, 2400, &pix, &fb, NULL),
        0);
    assert_int_equal(fb, 0);
    assert_int_equal(pixGetXRes(pix), 2400);
    pixDestroy(&pix);
    assert_int_equal(
        load_generated(eng, &p, "tif", 500, 700, 50, 50, &pix, &fb, NULL), 0);
    assert_int_equal(fb, 0);
    assert_int_equal(pixGetXRes(pix), 50);
    pixDestroy(&pix);
    t_tmpdir_cleanup();
    pm_engine_close(eng);
}

/* ---- truncated files ---- */

static const char *const truncated_sources[] = {
    "tesseract-test/testing/8087_054.3B.tif",
    "libtiff-testimages/test/images/lzw-single-strip.tiff",
    "libtiff-testimages/test/images/quad-tile.jpg.tiff",
    "libtiff-testimages/test/images/rgb-3c-16b.tiff",
    "leptonica/prog/lucasta.1.300.tif",
    "derived/ccitt-fax-8pages-g4-204x196dpi.tif",
    "ocrmypdf/tests/resources/baiona.png",
    "debian-jbigkit-testdata/converted/ccitt4.png",
    "unpaper/tests/source_images/imgsrc002.png",
    "leptonica/prog/test8.jpg",
    "ocrmypdf/tests/resources/baiona_color.jpg",
    "tesseract-test/testing/hebtypo.jpg",
    "leptonica/prog/test1.bmp",
    "libtiff-testimages/test/images/rgb-3c-8b.ppm",
};

static void truncated_files_fail_cleanly(void **state)
{
    const char *dir;
    pm_engine_t *eng;
    pm_profile_t p;
    int failed = 0, partial = 0;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    dir = t_tmpdir();
    for (size_t i = 0;
         i < sizeof(truncated_sources) / sizeof(truncated_sources[0]); i++) {
        const char *rel = truncated_sources[i];
        char src[4096], cut[4096];
        sweep_stats_t st;

        memset(&st, 0, sizeof(st));
        snprintf(src, sizeof(src), "%s", t_data(rel));
        snprintf(cut, sizeof(cut), "%s/half-%s", dir, strrchr(rel, '/') + 1);
        t_copy_truncated(src, cut, (size_t)t_file_size(src) / 2);
        /* Every frame of the half file: decoded (partially) or a clean
         * error naming the copy. */
        sweep_file(eng, &p, cut, &st, 0);
        failed += st.frames_failed + st.count_failed;
        partial += st.frames_ok;
        fprintf(stderr, "half of %s: %s\n", rel,
                st.frames_ok ? "decoded (partially)" : pm_engine_errmsg(eng));
    }
    fprintf(stderr, "truncated: %d frames failed cleanly, %d decoded\n", failed,
            partial);
    assert_true(failed > 0);
    t_tmpdir_cleanup();
    pm_engine_close(eng);
}

/* ---- normalisation ---- */

/* The ITU fax charts (1 bpp PNGs, although MANIFEST calls them 8-bit gray)
 * stay bitonal with the ink black; so does an 8 bpp gray copy that holds
 * only black and white. */
static void fax_pngs_are_bitonal(void **state)
{
    const char *dir;
    pm_engine_t *eng;
    pm_profile_t p;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    dir = t_tmpdir();
    for (int i = 1; i <= 8; i++) {
        char rel[128], gray_path[4096];
        pm_page_image_t img, img8;
        PIX *gray, *pix = NULL;
        int fb, same = 0;
        l_int32 ink = 0;

        snprintf(rel, sizeof(rel),
                 "debian-jbigkit-testdata/converted/ccitt%d.png", i);
        load_norm(eng, &p, rel, 0, &img, &fb);
        assert_int_equal(img.kind, PM_KIND_BITONAL);
        assert_int_equal(pixGetDepth(img.pix), 1);
        assert_ptr_equal(img.pix, img.binary); /* a clone, no copy */
        pixCountPixels(img.pix, &ink, NULL);
        /* Black ink on white paper, not the other way round. */
        if (ink < 1728 * 2376 / 1000 || ink > 1728 * 2376 / 2)
            fail_msg("%s: %d ink pixels", rel, ink);

        gray = pixConvert1To8(NULL, img.pix, 255, 0);
        assert_non_null(gray);
        snprintf(gray_path, sizeof(gray_path), "%s/ccitt%d-gray.png", dir, i);
        assert_int_equal(pixWrite(gray_path, gray, IFF_PNG), 0);
        pixDestroy(&gray);
        assert_int_equal(pm_load_page(eng, gray_path, 0, &p, &pix, &fb), 0);
        assert_int_equal(pixGetDepth(pix), 8);
        assert_int_equal(pm_normalize(eng, pix, &p, &img8), 0);
        assert_int_equal(img8.kind, PM_KIND_BITONAL);
        pixEqual(img.pix, img8.pix, &same); /* lossless */
        assert_true(same);
        pm_page_image_cleanup(&img8);
        pm_page_image_cleanup(&img);
    }
    t_tmpdir_cleanup();
    pm_engine_close(eng);
}

static void gray_jpeg_is_gray(void **state)
{
    pm_engine_t *eng;
    pm_profile_t p;
    pm_page_image_t img;
    int fb;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    load_norm(eng, &p, "leptonica/prog/lucasta.047.jpg", 0, &img, &fb);
    assert_int_equal(img.kind, PM_KIND_GRAY);
    assert_int_equal(pixGetDepth(img.pix), 8);
    assert_int_equal(pixGetDepth(img.binary), 1);
    assert_ptr_not_equal(img.pix, img.binary);
    pm_page_image_cleanup(&img);
    pm_engine_close(eng);
}

static void color_stays_color(void **state)
{
    pm_engine_t *eng;
    pm_profile_t p;
    pm_page_image_t img;
    int fb;
    l_int32 ink = 0;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    load_norm(eng, &p, "ocrmypdf/tests/resources/baiona_color.jpg", 0, &img,
              &fb);
    assert_int_equal(img.kind, PM_KIND_COLOR);
    assert_int_equal(pixGetDepth(img.pix), 32);
    assert_int_equal(pixGetSpp(img.pix), 3);
    /* The analysis copy holds the text, not a black or white sheet. */
    pixCountPixels(img.binary, &ink, NULL);
    assert_true(ink > 640 * 682 / 200 && ink < 640 * 682 / 3);
    pm_page_image_cleanup(&img);
    /* color_mode=gray makes it gray. */
    p.color_mode = PM_COLOR_GRAY;
    load_norm(eng, &p, "ocrmypdf/tests/resources/baiona_color.jpg", 0, &img,
              &fb);
    assert_int_equal(img.kind, PM_KIND_GRAY);
    assert_int_equal(pixGetDepth(img.pix), 8);
    pm_page_image_cleanup(&img);
    pm_engine_close(eng);
}

static void rgb_with_equal_channels_is_gray(void **state)
{
    pm_engine_t *eng;
    pm_profile_t p;
    pm_page_image_t img;
    PIX *gray, *rgb;
    int same = 0;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    gray = pixRead(t_data("leptonica/prog/test8.jpg"));
    assert_non_null(gray);
    assert_int_equal(pixGetDepth(gray), 8);
    rgb = pixConvert8To32(gray);
    assert_non_null(rgb);
    pixSetResolution(rgb, 300, 300);
    assert_int_equal(pm_normalize(eng, rgb, &p, &img), 0);
    assert_int_equal(img.kind, PM_KIND_GRAY);
    assert_int_equal(pixGetDepth(img.pix), 8);
    pixEqual(gray, img.pix, &same); /* no loss */
    assert_true(same);
    assert_int_equal(img.xres, 300);
    pm_page_image_cleanup(&img);
    /* One coloured pixel makes it colour. */
    rgb = pixConvert8To32(gray);
    pixSetPixel(rgb, 10, 10, 0xff000000);
    assert_int_equal(pm_normalize(eng, rgb, &p, &img), 0);
    assert_int_equal(img.kind, PM_KIND_COLOR);
    pm_page_image_cleanup(&img);
    pixDestroy(&gray);
    pm_engine_close(eng);
}

static void bitonal_mode_binarizes_gray(void **state)
{
    pm_engine_t *eng;
    pm_profile_t p;
    pm_page_image_t img;
    int fb;
    l_int32 ink = 0, w, h;

    (void)state;
    t_require_data();
    t_profile(&p);
    p.color_mode = PM_COLOR_BITONAL;
    eng = t_engine_new();
    load_norm(eng, &p, "leptonica/prog/lucasta.047.jpg", 0, &img, &fb);
    assert_int_equal(img.kind, PM_KIND_BITONAL);
    assert_int_equal(pixGetDepth(img.pix), 1);
    w = pixGetWidth(img.pix);
    h = pixGetHeight(img.pix);
    pixCountPixels(img.pix, &ink, NULL);
    /* A text page: some ink, mostly paper. */
    assert_true(ink > w * h / 200 && ink < w * h / 4);
    pm_page_image_cleanup(&img);
    /* Colour too. */
    load_norm(eng, &p, "ocrmypdf/tests/resources/baiona_color.jpg", 0, &img,
              &fb);
    assert_int_equal(img.kind, PM_KIND_BITONAL);
    pm_page_image_cleanup(&img);
    pm_engine_close(eng);
}

static void alpha_and_colormaps_are_removed(void **state)
{
    static const char *const rels[] = {
        "leptonica/prog/test32-alpha.png",
        "leptonica/prog/test-cmap-alpha.png",
        "leptonica/prog/trans-2bpp-cmap.png",
        "leptonica/prog/test-gray-alpha.png",
        "libtiff-testimages/test/images/minisblack-2c-8b-alpha.tiff",
        "leptonica/prog/test-rgba.bmp",
    };
    pm_engine_t *eng;
    pm_profile_t p;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
        pm_page_image_t img;
        int fb;

        load_norm(eng, &p, rels[i], 0, &img, &fb);
        assert_null(pixGetColormap(img.pix));
        if (pixGetDepth(img.pix) == 32)
            assert_int_equal(pixGetSpp(img.pix), 3);
        else
            assert_int_equal(pixGetSpp(img.pix), 1);
        pm_page_image_cleanup(&img);
    }
    pm_engine_close(eng);
}

/* ---- the TIFF Orientation tag ---- */

#define OR_W 437 /* stored width and height: not square, not bytes, 2 in+ */
#define OR_H 423

/* The stored sample of (row, col), channel ch: distinct enough that any
 * wrong flip or rotation shows. */
static unsigned or_sample(int row, int col, int ch)
{
    return (unsigned)(row * 11 + col * 5 + ch * 70) % 256;
}

/* The stored bit of (row, col) for the bitonal variant (1 = black). */
static int or_bit(int row, int col)
{
    return (row * 3 + col * 7 + row * col) % 5 < 2;
}

/* Where display pixel (x, y) of an `orient`ed image comes from in the
 * stored raster, as TIFF 6.0 defines the eight values: row = r0 + rx * x +
 * ry * y, col = c0 + cx * x + cy * y. */
static void or_source(int orient, int x, int y, int *row, int *col)
{
    enum { H1 = OR_H - 1, W1 = OR_W - 1 };
    static const int t[8][6] = {
        {0, 0, 1, 0, 1, 0},     /* 1: as stored */
        {0, 0, 1, W1, -1, 0},   /* 2: mirrored */
        {H1, 0, -1, W1, -1, 0}, /* 3: turned 180 */
        {H1, 0, -1, 0, 1, 0},   /* 4: upside down */
        {0, 1, 0, 0, 0, 1},     /* 5: transposed */
        {H1, -1, 0, 0, 0, 1},   /* 6: turned 90 clockwise */
        {H1, -1, 0, W1, 0, -1}, /* 7: transversed */
        {0, 1, 0, W1, 0, -1},   /* 8: turned 90 anticlockwise */
    };
    const int *m = t[orient - 1];

    *row = m[0] + m[1] * x + m[2] * y;
    *col = m[3] + m[4] * x + m[5] * y;
}

typedef enum { OR_GRAY, OR_RGB, OR_BITONAL, OR_RGB_TILED } or_kind_t;

/* Writes an OR_W x OR_H TIFF of `kind` tagged with `orient`. */
static void or_write(const char *path, or_kind_t kind, int orient)
{
    int spp = kind == OR_RGB || kind == OR_RGB_TILED ? 3 : 1;
    int bps = kind == OR_BITONAL ? 1 : 8;
    unsigned char buf[OR_W * 3 + 16 * 16 * 3]; /* a scanline or a tile */
    TIFF *tif = TIFFOpen(path, "w");

    assert_non_null(tif);
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, OR_W);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, OR_H);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, bps);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, spp);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC,
                 spp == 3          ? PHOTOMETRIC_RGB
                 : kind == OR_GRAY ? PHOTOMETRIC_MINISBLACK
                                   : PHOTOMETRIC_MINISWHITE);
    TIFFSetField(tif, TIFFTAG_COMPRESSION,
                 kind == OR_RGB_TILED ? COMPRESSION_LZW : COMPRESSION_NONE);
    TIFFSetField(tif, TIFFTAG_ORIENTATION, orient);
    TIFFSetField(tif, TIFFTAG_XRESOLUTION, 204.0); /* fine fax */
    TIFFSetField(tif, TIFFTAG_YRESOLUTION, 196.0);
    TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
    if (kind == OR_RGB_TILED) {
        TIFFSetField(tif, TIFFTAG_TILEWIDTH, 16);
        TIFFSetField(tif, TIFFTAG_TILELENGTH, 16);
        for (int ty = 0; ty < OR_H; ty += 16)
            for (int tx = 0; tx < OR_W; tx += 16) {
                memset(buf, 0, sizeof(buf));
                for (int r = 0; r < 16 && ty + r < OR_H; r++)
                    for (int c = 0; c < 16 && tx + c < OR_W; c++)
                        for (int ch = 0; ch < 3; ch++)
                            buf[(r * 16 + c) * 3 + ch] =
                                (unsigned char)or_sample(ty + r, tx + c, ch);
                assert_true(TIFFWriteTile(tif, buf, (uint32_t)tx, (uint32_t)ty,
                                          0, 0) > 0);
            }
    } else {
        TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, 4);
        for (int r = 0; r < OR_H; r++) {
            memset(buf, 0, sizeof(buf));
            for (int c = 0; c < OR_W; c++) {
                if (kind == OR_BITONAL && or_bit(r, c))
                    buf[c / 8] |= (unsigned char)(0x80 >> (c % 8));
                else if (kind != OR_BITONAL)
                    for (int ch = 0; ch < spp; ch++)
                        buf[c * spp + ch] = (unsigned char)or_sample(r, c, ch);
            }
            assert_int_equal(TIFFWriteScanline(tif, buf, (uint32_t)r, 0), 1);
        }
    }
    TIFFClose(tif);
}

/* The gray level of a 1, 8 or gray 32 bpp pixel (1 bpp: 1 is black), or
 * -1 when a 32 bpp pixel is not gray. */
static int or_level(PIX *pix, int x, int y)
{
    l_uint32 v;

    pixGetPixel(pix, x, y, &v);
    if (pixGetDepth(pix) == 1)
        return v ? 0 : 255;
    if (pixGetDepth(pix) == 8)
        return (int)v;
    if (v >> 24 != (v >> 16 & 0xff) || v >> 24 != (v >> 8 & 0xff))
        return -1;
    return (int)(v >> 24);
}

/* Fails unless `pix` is the `kind` image upright for `orient`. Gray and
 * bitonal pages may come out at any depth that keeps their levels. */
static void or_check(PIX *pix, or_kind_t kind, int orient)
{
    int swap = orient >= 5, row, col, want, got;
    l_int32 w = pixGetWidth(pix), h = pixGetHeight(pix);
    l_uint32 v;

    if (w != (swap ? OR_H : OR_W) || h != (swap ? OR_W : OR_H))
        fail_msg("kind %d orientation %d: %dx%d, expected %dx%d", kind, orient,
                 w, h, swap ? OR_H : OR_W, swap ? OR_W : OR_H);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            or_source(orient, x, y, &row, &col);
            if (kind == OR_GRAY || kind == OR_BITONAL) {
                want = kind == OR_GRAY    ? (int)or_sample(row, col, 0)
                       : or_bit(row, col) ? 0
                                          : 255;
                got = or_level(pix, x, y);
                if (got != want)
                    fail_msg("kind %d orientation %d: (%d,%d) is %d, want %d",
                             kind, orient, x, y, got, want);
                continue;
            }
            pixGetPixel(pix, x, y, &v);
            if (pixGetDepth(pix) != 32 || v >> 24 != or_sample(row, col, 0) ||
                (v >> 16 & 0xff) != or_sample(row, col, 1) ||
                (v >> 8 & 0xff) != or_sample(row, col, 2))
                fail_msg("kind %d orientation %d: (%d,%d) is %08x", kind,
                         orient, x, y, v);
        }
}

/* Every Orientation value (1-8) comes out upright, as a viewer shows it,
 * for strips and tiles, bitonal, gray and colour, with the resolution of
 * each axis kept on its axis. */
static void tiff_orientation_is_honoured(void **state)
{
    pm_engine_t *eng = t_engine_new();
    const char *dir = t_tmpdir();
    char path[4096];
    pm_profile_t p;
    PIX *pix;
    int fb, err;

    (void)state;
    t_profile(&p);
    for (int kind = OR_GRAY; kind <= OR_RGB_TILED; kind++)
        for (int orient = 1; orient <= 8; orient++) {
            snprintf(path, sizeof(path), "%s/k%d-o%d.tif", dir, kind, orient);
            or_write(path, (or_kind_t)kind, orient);
            pix = NULL;
            err = pm_load_page(eng, path, 0, &p, &pix, &fb);
            if (err != 0)
                fail_msg("kind %d orientation %d: %s (%s)", kind, orient,
                         pm_strerror(err), pm_engine_errmsg(eng));
            or_check(pix, (or_kind_t)kind, orient);
            /* Turned a quarter, the axes' resolutions swap. */
            assert_int_equal(fb, 0);
            assert_int_equal(pixGetXRes(pix), orient >= 5 ? 196 : 204);
            assert_int_equal(pixGetYRes(pix), orient >= 5 ? 204 : 196);
            pixDestroy(&pix);
        }
    t_tmpdir_cleanup();
    pm_engine_close(eng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_every_manifest_image),
        cmocka_unit_test(well_known_files_decode),
        cmocka_unit_test(minisblack_and_miniswhite_agree),
        cmocka_unit_test(fax_g4_has_eight_frames_at_204x196),
        cmocka_unit_test(jpeg2000_decodes),
        cmocka_unit_test(not_an_image_fails_cleanly),
        cmocka_unit_test(pixel_limit_refuses_before_decoding),
        cmocka_unit_test(bomb_headers_are_refused),
        cmocka_unit_test(missing_resolution_gets_fallback),
        cmocka_unit_test(absurd_high_resolution_gets_fallback),
        cmocka_unit_test(implausible_resolution_gets_fallback),
        cmocka_unit_test(plausible_resolution_is_believed),
        cmocka_unit_test(absurd_shapes_are_refused),
        cmocka_unit_test(truncated_files_fail_cleanly),
        cmocka_unit_test(fax_pngs_are_bitonal),
        cmocka_unit_test(gray_jpeg_is_gray),
        cmocka_unit_test(color_stays_color),
        cmocka_unit_test(rgb_with_equal_channels_is_gray),
        cmocka_unit_test(bitonal_mode_binarizes_gray),
        cmocka_unit_test(alpha_and_colormaps_are_removed),
        cmocka_unit_test(bmp_with_bit_fields_decodes),
        cmocka_unit_test(tiff_orientation_is_honoured),
    };

    pm_log_threshold = PM_LOG_ERROR; /* fallback-dpi warnings are expected */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
