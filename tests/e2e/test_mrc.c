/*
 * test_mrc.c: `compression = mrc` end to end. Real gray and colour scans
 * go through `pagemill convert` once with the default profile and once
 * with a profile that says `compression = mrc`. The MRC PDF passes
 * `qpdf --check`; its page holds a JPEG background at a third of the
 * resolution and one or more full-resolution CCITT G4 /ImageMasks (one
 * per text colour); its image bytes are at most a third of the default
 * page's; and the page as pdftoppm renders it at 300 dpi reads (tesseract
 * CLI) within 0.01 CER of the default page's rendering, both against the
 * text pagemill wrote for the default page. A 100 dpi page's small type
 * gets a mask at 300 dpi, reads as well and stays within the bytes. Red
 * and black text on one page keep their colours. A bitonal page under
 * the same profile stays one G4 image. Under `pagemill serve` the page's
 * codec goes through the catalog to the assembly, which still draws the
 * background and the masks.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <leptonica/allheaders.h>

#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

/* The images of a one-page PDF, from qpdf --json. */
typedef struct image {
    int width, height;
    int mask;         /* /ImageMask true */
    char filter[128]; /* /Filter as qpdf prints it ("/DCTDecode", ...) */
    long long length; /* stored bytes */
} image_t;

/* Writes the configs (the memory limit is lifted under ASan, whose
 * shadow memory no RLIMIT_AS admits); returns the --config option. */
static const char *config(const char *tmp, const char *name, int mrc)
{
    static char opt[600];
    char path[560], ini[256];

    snprintf(ini, sizeof(ini), "[pagemill]\nworker_memory_mb = %d\n%s",
             T_UNDER_ASAN ? 0 : 4096,
             mrc ? "[profile default]\ncompression = mrc\n" : "");
    snprintf(path, sizeof(path), "%s/%s.ini", tmp, name);
    assert_int_equal(pm_write_file_atomic(path, ini, strlen(ini)), 0);
    snprintf(opt, sizeof(opt), "--config '%s'", path);
    return opt;
}

static void convert(const char *tmp, const char *name, int mrc,
                    const char *files)
{
    char *out = NULL;
    int rc = t_run(&out, "cd '%s' && '%s' convert %s -j 2 -o '%s/%s' %s 2>&1",
                   tmp, PM_BINARY, config(tmp, name, mrc), tmp, name, files);

    printf("%s", out);
    free(out);
    assert_int_equal(rc, 0);
}

/* Reads the image XObjects of `pdf` into img (at most n); returns how
 * many there are. */
static int pdf_images(const char *pdf, image_t *img, int n)
{
    char *out = NULL;
    json_t *root, *objs, *o;
    json_error_t jerr;
    const char *key;
    int found = 0;

    assert_int_equal(t_run(&out,
                           "qpdf --json=2 --json-key=qpdf "
                           "--json-stream-data=none '%s'",
                           pdf),
                     0);
    root = json_loads(out, 0, &jerr);
    free(out);
    assert_non_null(root);
    objs = json_array_get(json_object_get(root, "qpdf"), 1);
    assert_true(json_is_object(objs));
    json_object_foreach(objs, key, o)
    {
        json_t *d = json_object_get(json_object_get(o, "stream"), "dict");
        json_t *f;
        char *fs;

        if (!json_is_object(d) ||
            !json_is_string(json_object_get(d, "/Subtype")) ||
            strcmp(json_string_value(json_object_get(d, "/Subtype")),
                   "/Image") != 0)
            continue;
        if (found < n) {
            image_t *m = &img[found];

            memset(m, 0, sizeof(*m));
            m->width = (int)json_integer_value(json_object_get(d, "/Width"));
            m->height = (int)json_integer_value(json_object_get(d, "/Height"));
            m->mask = json_is_true(json_object_get(d, "/ImageMask"));
            m->length = json_integer_value(json_object_get(d, "/Length"));
            assert_true(m->length > 0); /* a direct /Length */
            f = json_object_get(d, "/Filter");
            fs = json_dumps(f, JSON_ENCODE_ANY | JSON_COMPACT);
            snprintf(m->filter, sizeof(m->filter), "%s", fs ? fs : "");
            free(fs);
        }
        found++;
    }
    json_decref(root);
    return found;
}

/* An MRC page: a background and up to 8 masks (4 text colours, each at
 * two resolutions on a low-resolution page). */
#define MAX_IMAGES 9

static long long image_bytes(const char *pdf)
{
    image_t img[MAX_IMAGES];
    int n = pdf_images(pdf, img, MAX_IMAGES);
    long long sum = 0;

    assert_true(n >= 1 && n <= MAX_IMAGES);
    for (int i = 0; i < n; i++)
        sum += img[i].length;
    return sum;
}

/* Renders page 1 of `pdf` at 300 dpi and reads it: a new string. */
static char *rendered_text(const char *tmp, const char *pdf, const char *base)
{
    char path[600], *text;

    assert_int_equal(t_run(NULL,
                           "pdftoppm -r 300 -singlefile -png '%s' '%s/%s' && "
                           "OMP_THREAD_LIMIT=1 tesseract '%s/%s.png' '%s/%s' "
                           "-l eng >/dev/null 2>&1",
                           pdf, tmp, base, tmp, base, tmp, base),
                     0);
    snprintf(path, sizeof(path), "%s/%s.txt", tmp, base);
    text = t_slurp(path);
    assert_non_null(text);
    return text;
}

/* The one page's codec in a convert report. */
static void assert_codec(const char *report, const char *codec)
{
    json_error_t jerr;
    json_t *r = json_load_file(report, 0, &jerr);
    json_t *pg = json_array_get(json_object_get(r, "page_results"), 0);

    assert_non_null(pg);
    assert_string_equal(json_string_value(json_object_get(pg, "codec")), codec);
    json_decref(r);
}

/* Checks the images of an MRC page: one JPEG background (returned), the
 * rest CCITT G4 image masks. */
static int mrc_background(const image_t *img, int n)
{
    int bg = -1;

    assert_true(n >= 2 && n <= MAX_IMAGES);
    for (int i = 0; i < n; i++) {
        if (img[i].mask) {
            assert_string_equal(img[i].filter, "\"/CCITTFaxDecode\"");
            continue;
        }
        assert_int_equal(bg, -1);
        bg = i;
        assert_non_null(strstr(img[i].filter, "/DCTDecode"));
    }
    assert_true(bg >= 0);
    return bg;
}

/* One gray or colour page: structure, bytes and OCR of the MRC page
 * against the default page. */
static void check_page(const char *tmp, const char *stem, int width, int height)
{
    char plain[600], mrc[600], path[600], *ref, *tp, *tm;
    image_t img[MAX_IMAGES];
    int n, bg;
    long long pb, mb;
    double cp, cm;

    snprintf(plain, sizeof(plain), "%s/plain/%s.pdf", tmp, stem);
    snprintf(mrc, sizeof(mrc), "%s/mrc/%s.pdf", tmp, stem);
    assert_int_equal(t_run(NULL, "qpdf --check '%s' >/dev/null", mrc), 0);
    snprintf(path, sizeof(path), "%s/mrc/%s.pages.json", tmp, stem);
    assert_codec(path, "mrc");

    n = pdf_images(mrc, img, MAX_IMAGES);
    bg = mrc_background(img, n);
    for (int i = 0; i < n; i++)
        if (i != bg) { /* at 200 dpi and more, every mask at the page's */
            assert_int_equal(img[i].width, width);
            assert_int_equal(img[i].height, height);
        }
    assert_true(abs(img[bg].width - width / 3) <= 1);
    assert_true(abs(img[bg].height - height / 3) <= 1);

    pb = image_bytes(plain);
    mb = image_bytes(mrc);
    printf("%s: plain %lld bytes, mrc %lld bytes (%.2f)\n", stem, pb, mb,
           (double)mb / (double)pb);
    assert_true(mb * 3 <= pb);

    snprintf(path, sizeof(path), "%s/plain/%s.txt", tmp, stem);
    ref = t_slurp(path);
    assert_non_null(ref);
    assert_true(strlen(ref) > 200); /* a page with text to read */
    snprintf(path, sizeof(path), "plain-%s", stem);
    tp = rendered_text(tmp, plain, path);
    snprintf(path, sizeof(path), "mrc-%s", stem);
    tm = rendered_text(tmp, mrc, path);
    cp = t_cer(ref, tp);
    cm = t_cer(ref, tm);
    printf("%s: CER of the rendered page: plain %.4f, mrc %.4f\n", stem, cp,
           cm);
    assert_true(cm <= cp + 0.01);
    free(ref);
    free(tp);
    free(tm);
}

static void gray_and_colour_pages_shrink_and_read_the_same(void **state)
{
    const char *tmp = *state;
    char files[1400], gray[600];

    t_require_data();
    /* t_data's buffer is static: one path at a time. */
    snprintf(gray, sizeof(gray), "%s",
             t_data("leptonica/prog/lucasta.047.jpg"));
    snprintf(files, sizeof(files), "'%s' '%s'", gray,
             t_data("leptonica/prog/cat.007.jpg"));
    convert(tmp, "plain", 0, files);
    convert(tmp, "mrc", 1, files);
    check_page(tmp, "lucasta.047", 1065, 1879); /* gray */
    check_page(tmp, "cat.007", 1111, 2010);     /* colour */
}

/* A 100 dpi page (the harmoniam title page, no tag: estimated at 100 dpi)
 * gets its small type's mask at 300 dpi, thresholded from the page
 * scaled up (a 100 dpi mask read 0.17 against the default page's 0.05),
 * its headings and pictures at 100 dpi; its images are at most a third of
 * the default page's (with all of its mask at 300 dpi, 0.49). */
static void low_resolution_page_gets_a_finer_mask(void **state)
{
    const char *tmp = *state;
    char files[700], plain[600], mrc[600], path[600], *ref, *tp, *tm;
    image_t img[MAX_IMAGES];
    int n, bg, fine = 0;
    long long pb, mb;
    double cp, cm;

    t_require_data();
    snprintf(files, sizeof(files), "'%s'",
             t_data("leptonica/prog/harmoniam100-11.png"));
    convert(tmp, "plain", 0, files);
    convert(tmp, "mrc", 1, files);
    snprintf(plain, sizeof(plain), "%s/plain/harmoniam100-11.pdf", tmp);
    snprintf(mrc, sizeof(mrc), "%s/mrc/harmoniam100-11.pdf", tmp);
    assert_int_equal(t_run(NULL, "qpdf --check '%s' >/dev/null", mrc), 0);
    n = pdf_images(mrc, img, MAX_IMAGES);
    bg = mrc_background(img, n);
    for (int i = 0; i < n; i++) {
        /* 755 x 1039 pixels (or a few more, deskewed), once or three
         * times over */
        int up = img[i].width >= 3 * 755 ? 3 : 1;

        if (i == bg)
            continue;
        fine += up == 3;
        assert_true(img[i].width >= up * 755 && img[i].width <= up * 760);
        assert_true(img[i].height >= up * 1039 && img[i].height <= up * 1045);
    }
    assert_true(fine >= 1);
    pb = image_bytes(plain);
    mb = image_bytes(mrc);
    printf("harmoniam100-11: plain %lld bytes, mrc %lld bytes (%.2f)\n", pb, mb,
           (double)mb / (double)pb);
    assert_true(mb * 3 <= pb);
    snprintf(path, sizeof(path), "%s/plain/harmoniam100-11.txt", tmp);
    ref = t_slurp(path);
    assert_non_null(ref);
    assert_true(strlen(ref) > 200);
    tp = rendered_text(tmp, plain, "plain-harmoniam");
    tm = rendered_text(tmp, mrc, "mrc-harmoniam");
    cp = t_cer(ref, tp);
    cm = t_cer(ref, tm);
    printf("harmoniam100-11: CER of the rendered page: plain %.4f, mrc %.4f\n",
           cp, cm);
    assert_true(cm <= cp + 0.01);
    free(ref);
    free(tp);
    free(tm);
}

/* The mean colour of the ink (luminance below 128) of `png` in rows
 * [y0, y1) of its height (fractions); fails when there is none. */
static void ink_colour(const char *png, double y0, double y1, double rgb[3])
{
    PIX *pix = pixRead(png);
    int w, h;
    double sum[3] = {0, 0, 0}, n = 0;

    assert_non_null(pix);
    assert_int_equal(pixGetDepth(pix), 32);
    w = pixGetWidth(pix);
    h = pixGetHeight(pix);
    for (int y = (int)(y0 * h); y < (int)(y1 * h); y++)
        for (int x = 0; x < w; x++) {
            l_uint32 v;
            l_int32 r, g, b;

            pixGetPixel(pix, x, y, &v);
            extractRGBValues(v, &r, &g, &b);
            if (299 * r + 587 * g + 114 * b >= 128 * 1000)
                continue;
            sum[0] += r;
            sum[1] += g;
            sum[2] += b;
            n++;
        }
    pixDestroy(&pix);
    assert_true(n > 1000);
    for (int k = 0; k < 3; k++)
        rgb[k] = sum[k] / n;
}

/* A real gray book page at 300 dpi with its upper half's text printed
 * red (paper kept, each pixel's ink share in red instead of black). */
static void write_two_colour_page(const char *path)
{
    PIX *gray = pixRead(t_data("leptonica/prog/lucasta.047.jpg"));
    PIX *rgb;
    int w, h;

    assert_non_null(gray);
    w = pixGetWidth(gray);
    h = pixGetHeight(gray);
    rgb = pixCreate(w, h, 32);
    assert_non_null(rgb);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            l_uint32 v, out;
            int ink[3] = {0, 0, 0};

            pixGetPixel(gray, x, y, &v);
            if (y < h / 2) {
                ink[0] = 200;
                ink[1] = 25;
                ink[2] = 25;
            }
            /* paper (v) to ink: 255 - (255 - v) * (255 - ink) / 255 */
            composeRGBPixel(255 - (int)(255 - v) * (255 - ink[0]) / 255,
                            255 - (int)(255 - v) * (255 - ink[1]) / 255,
                            255 - (int)(255 - v) * (255 - ink[2]) / 255, &out);
            pixSetPixel(rgb, x, y, out);
        }
    pixSetResolution(rgb, 300, 300);
    assert_int_equal(pixWrite(path, rgb, IFF_PNG), 0);
    pixDestroy(&gray);
    pixDestroy(&rgb);
}

/* Red text over the upper half of a page, black under it: each keeps its
 * colour in the MRC page (one mask per colour), as the default page
 * shows it, within 40 levels per component; the bytes stay within a
 * third of the default page's. One text colour per page painted both
 * halves alike. */
static void two_text_colours_keep_their_colours(void **state)
{
    const char *tmp = *state;
    char src[600], files[700], pdf[600], png[600];
    const char *halves[2] = {"upper (red)", "lower (black)"};
    const double rows[2][2] = {{0.05, 0.42}, {0.58, 0.95}};
    double want[2][3], got[2][3];
    long long pb, mb;

    t_require_data();
    snprintf(src, sizeof(src), "%s/twocolour.png", tmp);
    write_two_colour_page(src);
    snprintf(files, sizeof(files), "'%s'", src);
    convert(tmp, "plain", 0, files);
    convert(tmp, "mrc", 1, files);
    for (int k = 0; k < 2; k++) {
        const char *prof = k ? "mrc" : "plain";

        snprintf(pdf, sizeof(pdf), "%s/%s/twocolour.pdf", tmp, prof);
        assert_int_equal(t_run(NULL, "qpdf --check '%s' >/dev/null", pdf), 0);
        assert_int_equal(t_run(NULL,
                               "pdftoppm -r 150 -singlefile -png '%s' "
                               "'%s/render-%s'",
                               pdf, tmp, prof),
                         0);
        snprintf(png, sizeof(png), "%s/render-%s.png", tmp, prof);
        for (int i = 0; i < 2; i++)
            ink_colour(png, rows[i][0], rows[i][1], k ? got[i] : want[i]);
    }
    for (int i = 0; i < 2; i++) {
        printf("%s text: default page %.0f %.0f %.0f, mrc %.0f %.0f %.0f\n",
               halves[i], want[i][0], want[i][1], want[i][2], got[i][0],
               got[i][1], got[i][2]);
        for (int c = 0; c < 3; c++)
            assert_true(fabs(got[i][c] - want[i][c]) <= 40);
    }
    assert_true(want[0][0] - want[0][1] > 80); /* the page is red above */
    snprintf(pdf, sizeof(pdf), "%s/plain/twocolour.pdf", tmp);
    pb = image_bytes(pdf);
    snprintf(pdf, sizeof(pdf), "%s/mrc/twocolour.pdf", tmp);
    mb = image_bytes(pdf);
    printf("twocolour: plain %lld bytes, mrc %lld bytes (%.2f)\n", pb, mb,
           (double)mb / (double)pb);
    assert_true(mb * 3 <= pb);
}

static void bitonal_page_stays_one_g4_image(void **state)
{
    const char *tmp = *state;
    char files[700], path[600];
    image_t img[2];

    t_require_data();
    snprintf(files, sizeof(files), "'%s'",
             t_data("tesseract-test/testing/phototest.tif"));
    convert(tmp, "mrc", 1, files);
    snprintf(path, sizeof(path), "%s/mrc/phototest.pdf", tmp);
    assert_int_equal(t_run(NULL, "qpdf --check '%s' >/dev/null", path), 0);
    assert_int_equal(pdf_images(path, img, 2), 1);
    assert_false(img[0].mask);
    assert_string_equal(img[0].filter, "\"/CCITTFaxDecode\"");
    assert_int_equal(img[0].width, 640);
    snprintf(path, sizeof(path), "%s/mrc/phototest.pages.json", tmp);
    assert_codec(path, "g4");
}

/* ---- under the service ---- */

static int serve_setup(void **state)
{
    *state = sv_fx_new(600, "\n[profile default]\ncompression = mrc\n", NULL);
    return 0;
}

static int serve_teardown(void **state)
{
    return sv_fx_delete(*state, 600);
}

/* The catalog records the codec "mrc"; the assembly reads it back from
 * there and embeds the masks and the background, not a mask alone. */
static void served_mrc_page_keeps_both_images(void **state)
{
    sv_fx_t *f = *state;
    char path[600];
    image_t img[MAX_IMAGES];
    char *out = NULL;
    long long id;
    int n, bg;

    t_require_data();
    sv_start(f);
    snprintf(path, sizeof(path), "%s/WO-1_mrc", f->scans);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/WO-1_mrc/p1.jpg", f->scans);
    t_copy_file(t_data("leptonica/prog/lucasta.047.jpg"), path);
    snprintf(path, sizeof(path), "%s/WO-1_mrc/batch.ini", f->scans);
    sv_write_text(path, "");
    id = sv_wait_job(f, "WO-1_mrc", "done", 600);
    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-%lld/data/job-%lld.pdf",
             f->out, id, id);
    assert_int_equal(t_run(NULL, "qpdf --check '%s' >/dev/null", path), 0);
    n = pdf_images(path, img, MAX_IMAGES);
    bg = mrc_background(img, n);
    for (int i = 0; i < n; i++)
        if (i != bg)
            assert_int_equal(img[i].width, 1065);
    assert_true(abs(img[bg].width - 1065 / 3) <= 1);

    /* The TIFF master holds the whole page before the split, full size,
     * as JPEG: not the mask, not the background. */
    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-%lld/data/job-%lld.tif",
             f->out, id, id);
    assert_int_equal(t_run(&out, "tiffinfo '%s' 2>&1", path), 0);
    assert_non_null(strstr(out, "Image Width: 1065 "));
    assert_non_null(strstr(out, "Compression Scheme: JPEG"));
    assert_null(strstr(out, "CCITT"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            gray_and_colour_pages_shrink_and_read_the_same, t_tmpdir_setup,
            t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(low_resolution_page_gets_a_finer_mask,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(two_text_colours_keep_their_colours,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(bitonal_page_stays_one_g4_image,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(served_mrc_page_keeps_both_images,
                                        serve_setup, serve_teardown),
    };

    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
