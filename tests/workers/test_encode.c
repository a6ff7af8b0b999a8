/*
 * test_encode.c: the encode stage (pm_encode_page, pm_encode_read_g4) on
 * real pages from ../shared/data. Bitonal pages must come back from their
 * G4 TIFF bit for bit, in one strip whose size is what the PDF embeds;
 * gray and colour pages become a JPEG (or JPEG 2000) file that decodes,
 * carries the page's resolution and whose size is the reported byte count.
 */
#define _GNU_SOURCE /* memfd_create */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <leptonica/allheaders.h>
#include <tiffio.h>
#include <vips/vips.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "workers/engine.h"
#include "workers/engine_int.h"

/* Loads and normalises frame `frame` of a shared file. */
static void load_page(pm_engine_t *eng, const pm_profile_t *p, const char *rel,
                      int frame, pm_page_image_t *img)
{
    char path[4096];
    PIX *pix = NULL;
    int fb, err;

    snprintf(path, sizeof(path), "%s", t_data(rel));
    err = pm_load_page(eng, path, frame, p, &pix, &fb);
    if (err != 0)
        fail_msg("%s: %s", rel, pm_engine_errmsg(eng));
    assert_int_equal(pm_normalize(eng, pix, p, img), 0);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---- G4 ---- */

typedef struct g4_case {
    const char *rel;
    int frame;
} g4_case_t;

static const g4_case_t g4_cases[] = {
    {"tesseract-test/testing/8087_054.3B.tif", 0},               /* 300 dpi */
    {"derived/ccitt-fax-8pages-g4-204x196dpi.tif", 5},           /* fax */
    {"leptonica/prog/feyn-word.tif", 0},                         /* 195 wide */
    {"debian-jbigkit-testdata/converted/ccitt8.png", 0},         /* no dpi */
    {"libtiff-testimages/test/images/lzw-single-strip.tiff", 0}, /* big */
};

/* Checks the TIFF's layout and tags with libtiff itself. */
static void check_g4_file(const char *path, const pm_page_image_t *img,
                          long long bytes)
{
    TIFF *tif = TIFFOpen(path, "r");
    uint16_t comp = 0, photo = 0, unit = 0;
    uint32_t w = 0, h = 0, rps = 0;
    uint64_t *counts = NULL;
    float xres = 0, yres = 0;

    assert_non_null(tif);
    assert_int_equal(TIFFNumberOfDirectories(tif), 1);
    assert_true(TIFFGetField(tif, TIFFTAG_COMPRESSION, &comp));
    assert_int_equal(comp, COMPRESSION_CCITTFAX4);
    assert_true(TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo));
    assert_int_equal(photo, PHOTOMETRIC_MINISWHITE);
    assert_true(TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w));
    assert_true(TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h));
    assert_int_equal(w, pixGetWidth(img->pix));
    assert_int_equal(h, pixGetHeight(img->pix));
    /* One strip: the whole page is one G4 stream. */
    assert_int_equal(TIFFNumberOfStrips(tif), 1);
    assert_true(TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps));
    assert_true(rps >= h);
    assert_true(TIFFGetField(tif, TIFFTAG_STRIPBYTECOUNTS, &counts));
    assert_non_null(counts);
    assert_int_equal((long long)counts[0], bytes);
    assert_true(TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xres));
    assert_true(TIFFGetField(tif, TIFFTAG_YRESOLUTION, &yres));
    assert_true(TIFFGetField(tif, TIFFTAG_RESOLUTIONUNIT, &unit));
    assert_int_equal(unit, RESUNIT_INCH);
    assert_int_equal((int)(xres + 0.5f), img->xres);
    assert_int_equal((int)(yres + 0.5f), img->yres);
    TIFFClose(tif);
}

static void g4_round_trips_losslessly(void **state)
{
    const char *dir;
    pm_engine_t *eng;
    pm_profile_t p;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    dir = t_tmpdir();
    for (size_t i = 0; i < sizeof(g4_cases) / sizeof(g4_cases[0]); i++) {
        pm_page_image_t img;
        char base[4096];
        char *path = NULL;
        pm_img_codec_t codec = PM_IMG_JPEG;
        long long bytes = -1;
        unsigned char *g4 = NULL;
        size_t len = 0;
        int w = 0, h = 0, same = 0, err;
        PIX *back;

        load_page(eng, &p, g4_cases[i].rel, g4_cases[i].frame, &img);
        assert_int_equal(img.kind, PM_KIND_BITONAL);
        snprintf(base, sizeof(base), "%s/page%zu", dir, i);
        err = pm_encode_page(eng, &p, &img, base, &path, &codec, &bytes);
        if (err != 0)
            fail_msg("%s: %s", g4_cases[i].rel, pm_engine_errmsg(eng));
        assert_int_equal(codec, PM_IMG_G4);
        assert_non_null(path);
        assert_true(ends_with(path, ".tif"));
        assert_true(strncmp(path, base, strlen(base)) == 0);
        assert_true(bytes > 0);
        /* G4 of a text page is much smaller than its raw bits. */
        assert_true(bytes < (long long)pixGetWidth(img.pix) *
                                pixGetHeight(img.pix) / 8);
        check_g4_file(path, &img, bytes);

        /* Leptonica decodes it to exactly the page we encoded. */
        back = pixRead(path);
        assert_non_null(back);
        assert_int_equal(pixGetDepth(back), 1);
        pixEqual(back, img.pix, &same);
        if (!same)
            fail_msg("%s: G4 round trip changed pixels", g4_cases[i].rel);
        assert_int_equal(pixGetXRes(back), img.xres);
        assert_int_equal(pixGetYRes(back), img.yres);
        pixDestroy(&back);

        /* The raw stream is the one strip, *bytes long. */
        assert_int_equal(pm_encode_read_g4(eng, path, &g4, &len, &w, &h), 0);
        assert_non_null(g4);
        assert_int_equal((long long)len, bytes);
        assert_int_equal(w, pixGetWidth(img.pix));
        assert_int_equal(h, pixGetHeight(img.pix));
        /* ...and is a whole file's worth minus headers. */
        assert_true((long long)len < t_file_size(path));
        pm_free(g4);
        pm_free(path);
        pm_page_image_cleanup(&img);
    }
    /* Only the artifacts: no temp files left behind. */
    assert_int_equal(t_count_entries(dir),
                     (int)(sizeof(g4_cases) / sizeof(g4_cases[0])));
    t_tmpdir_cleanup();
    pm_engine_close(eng);
}

static void read_g4_refuses_other_files(void **state)
{
    pm_engine_t *eng;
    unsigned char *data = (unsigned char *)1;
    size_t len = 1;
    int w = -1, h = -1;
    char path[4096];

    (void)state;
    t_require_data();
    eng = t_engine_new();
    /* LZW, not G4. */
    snprintf(path, sizeof(path), "%s",
             t_data("libtiff-testimages/test/images/lzw-single-strip.tiff"));
    assert_int_equal(pm_encode_read_g4(eng, path, &data, &len, &w, &h),
                     PM_EINVAL);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_non_null(strstr(pm_engine_errmsg(eng), path));
    /* Not a TIFF at all. */
    snprintf(path, sizeof(path), "%s", t_data("leptonica/prog/test8.jpg"));
    assert_true(pm_encode_read_g4(eng, path, &data, &len, &w, &h) < 0);
    assert_null(data);
    assert_non_null(strstr(pm_engine_errmsg(eng), path));
    pm_engine_close(eng);
}

/* ---- JPEG ---- */

/* Reads the JFIF APP0 density of a JPEG file: 0 when there is none. */
static int jfif_density(const char *path, int *unit, int *xd, int *yd)
{
    unsigned char b[20];
    FILE *f = fopen(path, "rb");
    size_t n;

    assert_non_null(f);
    n = fread(b, 1, sizeof(b), f);
    fclose(f);
    if (n < 18 || b[0] != 0xff || b[1] != 0xd8 || b[2] != 0xff ||
        b[3] != 0xe0 || memcmp(b + 6, "JFIF", 5) != 0)
        return 0;
    *unit = b[13];
    *xd = b[14] << 8 | b[15];
    *yd = b[16] << 8 | b[17];
    return 1;
}

typedef struct jpeg_case {
    const char *rel;
    pm_kind_t kind;
    int xres, yres;
} jpeg_case_t;

static const jpeg_case_t jpeg_cases[] = {
    {"leptonica/prog/lucasta.150.jpg", PM_KIND_GRAY, 150, 150},
    {"tesseract-test/testing/hebrew-nikud-genesis-1-2.png", PM_KIND_GRAY, 300,
     300},
    {"tesseract-test/testing/hebrew.png", PM_KIND_COLOR, 96, 96},
    {"tesseract-test/testing/segmodeimg.tif", PM_KIND_COLOR, 301, 300},
};

static void gray_and_color_become_jpeg(void **state)
{
    const char *dir;
    pm_engine_t *eng;
    pm_profile_t p;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    dir = t_tmpdir();
    for (size_t i = 0; i < sizeof(jpeg_cases) / sizeof(jpeg_cases[0]); i++) {
        const jpeg_case_t *c = &jpeg_cases[i];
        pm_page_image_t img;
        char base[4096];
        char *path = NULL;
        pm_img_codec_t codec = PM_IMG_G4;
        long long bytes = -1;
        int unit = -1, xd = 0, yd = 0, err;
        l_float32 diff = 99;
        PIX *back;

        load_page(eng, &p, c->rel, 0, &img);
        assert_int_equal(img.kind, c->kind);
        assert_int_equal(img.xres, c->xres);
        assert_int_equal(img.yres, c->yres);
        snprintf(base, sizeof(base), "%s/page%zu", dir, i);
        err = pm_encode_page(eng, &p, &img, base, &path, &codec, &bytes);
        if (err != 0)
            fail_msg("%s: %s", c->rel, pm_engine_errmsg(eng));
        assert_int_equal(codec, PM_IMG_JPEG);
        assert_true(ends_with(path, ".jpg"));
        /* The file is the stream the PDF embeds. */
        assert_int_equal(t_file_size(path), bytes);
        /* JFIF density in dots per inch = the page's resolution. */
        if (!jfif_density(path, &unit, &xd, &yd))
            fail_msg("%s: no JFIF header", path);
        assert_int_equal(unit, 1);
        assert_int_equal(xd, c->xres);
        assert_int_equal(yd, c->yres);
        /* It decodes to the page, within JPEG's loss. */
        back = pixRead(path);
        assert_non_null(back);
        assert_int_equal(pixGetWidth(back), pixGetWidth(img.pix));
        assert_int_equal(pixGetHeight(back), pixGetHeight(img.pix));
        assert_int_equal(pixGetDepth(back), pixGetDepth(img.pix));
        assert_int_equal(pixGetXRes(back), c->xres);
        assert_int_equal(pixGetYRes(back), c->yres);
        if (c->kind == PM_KIND_GRAY)
            assert_int_equal(pixCompareGray(back, img.pix, L_COMPARE_ABS_DIFF,
                                            0, NULL, &diff, NULL, NULL),
                             0);
        else
            assert_int_equal(pixCompareRGB(back, img.pix, L_COMPARE_ABS_DIFF, 0,
                                           NULL, &diff, NULL, NULL),
                             0);
        if (diff > 5.0f) /* quality 55 on a 150 dpi page: 3.5 */
            fail_msg("%s: mean difference %.2f after JPEG q%d", c->rel, diff,
                     p.jpeg_quality);
        pixDestroy(&back);
        pm_free(path);
        pm_page_image_cleanup(&img);
    }
    assert_int_equal(t_count_entries(dir),
                     (int)(sizeof(jpeg_cases) / sizeof(jpeg_cases[0])));
    t_tmpdir_cleanup();
    pm_engine_close(eng);
}

/* Higher quality, bigger file: the profile's setting reaches the encoder. */
static void jpeg_quality_is_used(void **state)
{
    const char *dir;
    pm_engine_t *eng;
    pm_profile_t p;
    pm_page_image_t img;
    long long small = 0, big = 0;
    char base[4096];
    char *path = NULL;
    pm_img_codec_t codec;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    dir = t_tmpdir();
    load_page(eng, &p, "leptonica/prog/lucasta.150.jpg", 0, &img);
    p.jpeg_quality = 30;
    snprintf(base, sizeof(base), "%s/q30", dir);
    assert_int_equal(pm_encode_page(eng, &p, &img, base, &path, &codec, &small),
                     0);
    pm_free(path);
    p.jpeg_quality = 95;
    snprintf(base, sizeof(base), "%s/q95", dir);
    assert_int_equal(pm_encode_page(eng, &p, &img, base, &path, &codec, &big),
                     0);
    pm_free(path);
    assert_true(big > small * 3 / 2);
    pm_page_image_cleanup(&img);
    t_tmpdir_cleanup();
    pm_engine_close(eng);
}

/* ---- kept scans and sizes ---- */

/* Whether the files at a and b hold the same bytes. */
static int same_bytes(const char *a, const char *b)
{
    unsigned char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int same;

    assert_int_equal(pm_read_file(a, 1u << 28, &x, &nx), 0);
    assert_int_equal(pm_read_file(b, 1u << 28, &y, &ny), 0);
    same = nx == ny && memcmp(x, y, nx) == 0;
    pm_free(x);
    pm_free(y);
    return same;
}

/* Runs the whole page through pm_process_page (no OCR: the decision is
 * the encoder's) into dir/base; fills r. */
static void process(const char *src, const char *dir, const char *base,
                    pm_page_result_t *r)
{
    pm_profile_t p;
    pm_page_task_t t = {0};
    char out[4096];

    t_profile(&p);
    p.ocr = 0;
    snprintf(out, sizeof(out), "%s/out-%s", dir, base);
    t.page = 1;
    t.frame = 0;
    t.src = (char *)src;
    t.out_base = out;
    if (pm_process_page(t_engine, &p, &t, r) != 0)
        fail_msg("%s: %s", src, r->error ? r->error : "failed");
}

/*
 * A gray and a colour JPEG scan that need neither turning nor deskewing
 * are embedded as they came, byte for byte: no second generation of JPEG
 * loss, and smaller (cat.007: 139,783 bytes kept, 205,937 re-encoded at
 * quality 85).
 */
static void scanned_jpeg_is_kept_byte_for_byte(void **state)
{
    static const char *const rels[] = {"leptonica/prog/lucasta.047.jpg",
                                       "leptonica/prog/cat.007.jpg"};
    const char *dir = *state;

    t_require_data();
    for (size_t i = 0; i < sizeof(rels) / sizeof(*rels); i++) {
        char src[4096];
        pm_page_result_t r;

        snprintf(src, sizeof(src), "%s", t_data(rels[i]));
        process(src, dir, i == 0 ? "gray" : "color", &r);
        printf("# %s: %s, turned %d, skew %.2f, %lld bytes\n", rels[i],
               r.kind == PM_KIND_GRAY ? "gray" : "colour", r.rotation, r.skew,
               r.bytes);
        assert_int_equal(r.rotation, 0);
        assert_true(r.skew == 0);
        assert_int_equal(r.codec, PM_IMG_JPEG);
        assert_non_null(r.image);
        assert_true(same_bytes(r.image, src));
        assert_int_equal(r.bytes, t_file_size(src));
        pm_page_result_cleanup(&r);
    }
}

/*
 * A verified page is kept from the copy that was checked, never from the
 * file as it is now: with the page's checked bytes pinned (as the worker
 * pins them after the SHA-256 check) and the file on disk changed since
 * (a comment segment added: still a keepable JPEG of the same page), the
 * kept JPEG is the checked bytes.
 */
static void kept_jpeg_is_the_checked_copy(void **state)
{
    static const unsigned char com[] = {0xff, 0xfe, 0,   9,   'c', 'h',
                                        'a',  'n',  'g', 'e', 'd'};
    const char *dir = *state;
    const char *gray = "leptonica/prog/lucasta.047.jpg";
    char disk[4096], base[4096];
    unsigned char *b = NULL;
    size_t n = 0;
    pm_profile_t p;
    pm_page_image_t img;
    char *path = NULL;
    long long bytes = -1;
    FILE *f;
    int mem;

    t_require_data();
    t_profile(&p);
    snprintf(disk, sizeof(disk), "%s/changed.jpg", dir);
    snprintf(base, sizeof(base), "%s/kept-checked", dir);
    assert_int_equal(pm_read_file(t_data(gray), 1u << 28, &b, &n), 0);
    mem = memfd_create("checked", MFD_CLOEXEC);
    assert_true(mem >= 0);
    assert_int_equal(write(mem, b, n), (ssize_t)n);
    f = fopen(disk, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, 2, f), 2);
    assert_int_equal(fwrite(com, 1, sizeof(com), f), sizeof(com));
    assert_int_equal(fwrite(b + 2, 1, n - 2, f), n - 2);
    assert_int_equal(fclose(f), 0);

    load_page(t_engine, &p, gray, 0, &img);
    pm__load_pin(disk, mem);
    assert_int_equal(
        pm_encode_keep_jpeg(t_engine, &p, &img, disk, base, &path, &bytes), 0);
    pm__load_pin(NULL, -1);
    assert_non_null(path);
    assert_true(same_bytes(path, t_data(gray)));
    assert_int_equal(bytes, (long long)n);
    pm_free(path);
    pm_page_image_cleanup(&img);
    close(mem);
    pm_free(b);
}

/* Writes `src` with an APP1 Exif segment saying "orientation 6" (turned
 * 90 degrees, which PDF readers ignore) right after SOI. */
static void write_exif_rotated(const char *src, const char *dst)
{
    static const unsigned char app1[] = {
        0xff, 0xe1, 0, 34, 'E', 'x', 'i', 'f', 0, 0,       /* marker, length */
        'M',  'M',  0, 42, 0,   0,   0,   8,               /* TIFF, IFD at 8 */
        0,    1,                                           /* one entry */
        0x01, 0x12, 0, 3,  0,   0,   0,   1,   0, 6, 0, 0, /* orientation */
        0,    0,    0, 0};                                 /* no next IFD */
    unsigned char *b = NULL;
    size_t n = 0;
    FILE *f;

    assert_int_equal(pm_read_file(src, 1u << 28, &b, &n), 0);
    f = fopen(dst, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, 2, f), 2);
    assert_int_equal(fwrite(app1, 1, sizeof(app1), f), sizeof(app1));
    assert_int_equal(fwrite(b + 2, 1, n - 2, f), n - 2);
    assert_int_equal(fclose(f), 0);
    pm_free(b);
}

/* Writes a CMYK JPEG (Adobe APP14, no colour transform) of `rel`. */
static void write_cmyk(const char *rel, const char *dst)
{
    VipsImage *rgb = vips_image_new_from_file(t_data(rel), NULL), *cmyk = NULL;

    assert_non_null(rgb);
    /* Any four bands tagged CMYK will do: the header is what matters. */
    assert_int_equal(vips_bandjoin_const1(rgb, &cmyk, 0, NULL), 0);
    vips_image_set_int(cmyk, "interpretation", VIPS_INTERPRETATION_CMYK);
    cmyk->Type = VIPS_INTERPRETATION_CMYK;
    assert_int_equal(vips_jpegsave(cmyk, dst, "Q", 90, NULL), 0);
    g_object_unref(cmyk);
    g_object_unref(rgb);
}

/*
 * Scans that a PDF would not show as the page was read, or that a stage
 * changed, are encoded instead: an EXIF-turned JPEG, a CMYK JPEG, a
 * truncated one, and a JPEG page that deskewing straightened.
 */
static void changed_or_unsafe_jpeg_is_encoded(void **state)
{
    const char *dir = *state;
    const char *gray = "leptonica/prog/lucasta.047.jpg";
    char exif[4096], cmyk[4096], cut[4096], skewed[4096], base[4096];
    pm_profile_t p;
    pm_page_image_t img;
    pm_page_result_t r;
    char *path = (char *)"unset";
    long long bytes = -1;
    PIX *pix, *turned;

    t_require_data();
    t_profile(&p);
    snprintf(exif, sizeof(exif), "%s/exif.jpg", dir);
    snprintf(cmyk, sizeof(cmyk), "%s/cmyk.jpg", dir);
    snprintf(cut, sizeof(cut), "%s/cut.jpg", dir);
    snprintf(skewed, sizeof(skewed), "%s/skewed.jpg", dir);
    snprintf(base, sizeof(base), "%s/kept", dir);
    write_exif_rotated(t_data(gray), exif);
    write_cmyk("leptonica/prog/cat.007.jpg", cmyk);
    t_copy_truncated(t_data(gray), cut, (size_t)t_file_size(t_data(gray)) - 4);

    /* The page as decoded from the original, the file from a variant. */
    load_page(t_engine, &p, gray, 0, &img);
    assert_int_equal(pm_encode_keep_jpeg(t_engine, &p, &img, t_data(gray), base,
                                         &path, &bytes),
                     0);
    assert_non_null(path); /* the original itself is kept */
    pm_free(path);
    assert_int_equal(
        pm_encode_keep_jpeg(t_engine, &p, &img, exif, base, &path, &bytes), 0);
    assert_null(path);
    assert_int_equal(
        pm_encode_keep_jpeg(t_engine, &p, &img, cut, base, &path, &bytes), 0);
    assert_null(path);
    p.gray_codec = PM_CODEC_JP2;
    assert_int_equal(pm_encode_keep_jpeg(t_engine, &p, &img, t_data(gray), base,
                                         &path, &bytes),
                     0);
    assert_null(path); /* the profile asks for JPEG 2000 */
    p.gray_codec = PM_CODEC_JPEG;
    pm_page_image_cleanup(&img);

    load_page(t_engine, &p, "leptonica/prog/cat.007.jpg", 0, &img);
    assert_int_equal(
        pm_encode_keep_jpeg(t_engine, &p, &img, cmyk, base, &path, &bytes), 0);
    assert_null(path);
    pm_page_image_cleanup(&img);

    /* Through the whole page: the EXIF one and a straightened one are
     * encoded, not copied. */
    process(exif, dir, "exif", &r);
    assert_int_equal(r.codec, PM_IMG_JPEG);
    assert_false(same_bytes(r.image, exif));
    pm_page_result_cleanup(&r);
    pix = pixRead(t_data(gray));
    assert_non_null(pix);
    turned = pixRotate(pix, (l_float32)(3 * M_PI / 180.0), L_ROTATE_AREA_MAP,
                       L_BRING_IN_WHITE, 0, 0);
    assert_non_null(turned);
    assert_int_equal(pixWriteJpeg(skewed, turned, 90, 0), 0);
    process(skewed, dir, "skewed", &r);
    printf("# lucasta.047 turned 3 degrees: skew %.2f, %dx%d\n", r.skew,
           r.width, r.height);
    assert_true(fabs(r.skew + 3) < 0.3);
    assert_false(same_bytes(r.image, skewed));
    pm_page_result_cleanup(&r);
    pixDestroy(&turned);
    pixDestroy(&pix);
}

/*
 * Default settings, fixed real colour page (unpaper imgsrc003, 1240x1754
 * from a PNG): 177,490 bytes at quality 85 baseline; 98,885 at the default
 * quality 55, progressive. The bound leaves 10% for encoder versions.
 */
static void color_page_size_at_defaults(void **state)
{
    const char *dir = *state;
    pm_profile_t p;
    pm_page_image_t img;
    char base[4096];
    char *path = NULL;
    pm_img_codec_t codec;
    long long bytes = 0;

    t_require_data();
    t_profile(&p);
    load_page(t_engine, &p, "unpaper/tests/source_images/imgsrc003.png", 0,
              &img);
    assert_int_equal(img.kind, PM_KIND_COLOR);
    snprintf(base, sizeof(base), "%s/imgsrc003", dir);
    assert_int_equal(
        pm_encode_page(t_engine, &p, &img, base, &path, &codec, &bytes), 0);
    printf("# imgsrc003 colour 1240x1754 at defaults (q%d): %lld bytes\n",
           p.jpeg_quality, bytes);
    assert_int_equal(codec, PM_IMG_JPEG);
    assert_true(bytes < 110000);
    pm_free(path);
    pm_page_image_cleanup(&img);
}

/* ---- JPEG 2000 ---- */

static void jp2_codec_writes_decodable_jp2(void **state)
{
    static const char *const rels[] = {
        "leptonica/prog/lucasta.150.jpg",
        "tesseract-test/testing/hebrew.png",
    };
    const char *dir;
    pm_engine_t *eng;
    pm_profile_t p;

    (void)state;
    t_require_data();
    t_profile(&p);
    p.gray_codec = PM_CODEC_JP2;
    eng = t_engine_new();
    dir = t_tmpdir();
    for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
        pm_page_image_t img;
        char base[4096];
        char *path = NULL;
        pm_img_codec_t codec = PM_IMG_G4;
        long long bytes = -1;
        l_float32 diff = 99;
        PIX *back, *pix = NULL;
        int fb, err;

        load_page(eng, &p, rels[i], 0, &img);
        snprintf(base, sizeof(base), "%s/page%zu", dir, i);
        err = pm_encode_page(eng, &p, &img, base, &path, &codec, &bytes);
        if (err != 0)
            fail_msg("%s: %s", rels[i], pm_engine_errmsg(eng));
        assert_int_equal(codec, PM_IMG_JP2);
        assert_true(ends_with(path, ".jp2"));
        assert_int_equal(t_file_size(path), bytes);
        back = pixRead(path);
        assert_non_null(back);
        assert_int_equal(pixGetWidth(back), pixGetWidth(img.pix));
        assert_int_equal(pixGetHeight(back), pixGetHeight(img.pix));
        assert_int_equal(pixGetDepth(back), pixGetDepth(img.pix));
        if (pixGetDepth(back) == 8)
            pixCompareGray(back, img.pix, L_COMPARE_ABS_DIFF, 0, NULL, &diff,
                           NULL, NULL);
        else
            pixCompareRGB(back, img.pix, L_COMPARE_ABS_DIFF, 0, NULL, &diff,
                          NULL, NULL);
        if (diff > 6.0f)
            fail_msg("%s: mean difference %.2f after JPEG 2000 Q%d", rels[i],
                     diff, p.jp2_quality);
        pixDestroy(&back);
        /* Our own loader takes it back too. */
        assert_int_equal(pm_load_page(eng, path, 0, &p, &pix, &fb), 0);
        pixDestroy(&pix);
        pm_free(path);
        pm_page_image_cleanup(&img);
    }
    t_tmpdir_cleanup();
    pm_engine_close(eng);
}

/* ---- failures ---- */

static void unwritable_destination_fails_cleanly(void **state)
{
    const char *dir;
    pm_engine_t *eng;
    pm_profile_t p;
    pm_page_image_t img;
    char base[4200], missing[4096];
    char *path = (char *)1;
    pm_img_codec_t codec;
    long long bytes = -1;

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    dir = t_tmpdir();
    snprintf(missing, sizeof(missing), "%s/no-such-dir", dir);
    snprintf(base, sizeof(base), "%s/page", missing);

    load_page(eng, &p, "leptonica/prog/feyn-word.tif", 0, &img);
    assert_int_equal(pm_encode_page(eng, &p, &img, base, &path, &codec, &bytes),
                     -ENOENT);
    assert_null(path);
    assert_int_equal(bytes, 0);
    assert_non_null(strstr(pm_engine_errmsg(eng), missing));
    pm_page_image_cleanup(&img);

    path = (char *)1;
    load_page(eng, &p, "leptonica/prog/lucasta.150.jpg", 0, &img);
    assert_int_equal(pm_encode_page(eng, &p, &img, base, &path, &codec, &bytes),
                     -ENOENT);
    assert_null(path);
    assert_non_null(strstr(pm_engine_errmsg(eng), missing));
    pm_page_image_cleanup(&img);
    assert_int_equal(t_count_entries(dir), 0);
    t_tmpdir_cleanup();
    pm_engine_close(eng);
}

static void out_of_memory_is_clean(void **state)
{
    static const char *const rels[] = {
        "leptonica/prog/feyn-word.tif",   /* G4 */
        "leptonica/prog/lucasta.150.jpg", /* JPEG */
    };
    const char *dir;
    pm_engine_t *eng;
    pm_profile_t p;
    char base[4096];

    (void)state;
    t_require_data();
    t_profile(&p);
    eng = t_engine_new();
    dir = t_tmpdir();
    snprintf(base, sizeof(base), "%s/page", dir);
    for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
        pm_page_image_t img;
        int err = PM_ENOMEM;
        long n;

        load_page(eng, &p, rels[i], 0, &img);
        for (n = 1; n < 100; n++) {
            char *path = (char *)1;
            pm_img_codec_t codec;
            long long bytes = -1;

            pm_alloc_fail_at(n);
            err = pm_encode_page(eng, &p, &img, base, &path, &codec, &bytes);
            pm_alloc_fail_at(0);
            if (err == 0) {
                assert_non_null(path);
                assert_int_equal(unlink(path), 0);
                pm_free(path);
                break;
            }
            assert_int_equal(err, PM_ENOMEM);
            assert_null(path);
            assert_int_equal(bytes, 0);
            /* Nothing left behind. */
            if (t_count_entries(dir) != 0) {
                t_run(NULL, "ls -la %s >&2", dir);
                fail_msg("%s: allocation %ld failed: files left behind",
                         rels[i], n);
            }
        }
        assert_int_equal(err, 0);
        assert_true(n > 1);
        pm_page_image_cleanup(&img);
    }
    t_tmpdir_cleanup();
    pm_engine_close(eng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(g4_round_trips_losslessly),
        cmocka_unit_test(read_g4_refuses_other_files),
        cmocka_unit_test(gray_and_color_become_jpeg),
        cmocka_unit_test(jpeg_quality_is_used),
        cmocka_unit_test_setup_teardown(scanned_jpeg_is_kept_byte_for_byte,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(kept_jpeg_is_the_checked_copy,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(changed_or_unsafe_jpeg_is_encoded,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(color_page_size_at_defaults,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test(jp2_codec_writes_decodable_jp2),
        cmocka_unit_test(unwritable_destination_fails_cleanly),
        cmocka_unit_test(out_of_memory_is_clean),
    };

    pm_log_threshold = PM_LOG_ERROR; /* fallback-dpi warnings are expected */
    return cmocka_run_group_tests(tests, t_engine_open, t_engine_close);
}
