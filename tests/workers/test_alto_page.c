/*
 * test_alto_page.c: a page's ALTO element (pm__alto_page, alto_page.cc)
 * is byte for byte the element Tesseract's GetAltoText writes, on the
 * five real scans of examples/WO-2026-0001, each read whole, and two of
 * them within a rectangle (as the OCR stage reads a page's content area),
 * the rectangle partly outside the page too (clipped as Tesseract clips
 * it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leptonica/allheaders.h>
#include <tesseract/capi.h>

#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "workers/alto_page.h"

#define EXAMPLE PM_SOURCE_DIR "/examples/WO-2026-0001"

static const char *const pages[] = {"p001.tif", "p002.tif", "p003.jpg",
                                    "p004.png", "p005.tif"};

/* Recognises `pix` (in x, y, w, h when w > 0) and compares the two ALTO
 * elements; the Page's size is the rectangle's, clipped to the page.
 * Returns the words (String elements) in them. */
static int compare(TessBaseAPI *api, PIX *pix, const char *name, int x, int y,
                   int w, int h)
{
    char *tess, *ours;
    int words = 0;

    TessBaseAPISetImage2(api, pix);
    TessBaseAPISetSourceResolution(api, 300);
    if (w > 0) {
        w = w < pixGetWidth(pix) - x ? w : pixGetWidth(pix) - x;
        h = h < pixGetHeight(pix) - y ? h : pixGetHeight(pix) - y;
        TessBaseAPISetRectangle(api, x, y, w, h);
    } else {
        w = pixGetWidth(pix);
        h = pixGetHeight(pix);
    }
    assert_int_equal(TessBaseAPIRecognize(api, NULL), 0);
    tess = TessBaseAPIGetAltoText(api, 0);
    ours = pm__alto_page(api, w, h);
    assert_non_null(tess);
    assert_non_null(ours);
    if (strcmp(tess, ours) != 0) {
        size_t i = 0;

        while (tess[i] == ours[i])
            i++;
        fail_msg("%s (%d,%d %dx%d): ALTO differs at byte %zu: Tesseract "
                 "\"%.80s\", ours \"%.80s\"",
                 name, x, y, w, h, i, tess + i, ours + i);
    }
    assert_non_null(strstr(ours, "<Page WIDTH=\""));
    for (const char *p = ours; (p = strstr(p, "<String ")) != NULL; p++)
        words++;
    TessDeleteText(tess);
    pm_free(ours);
    TessBaseAPIClear(api);
    return words;
}

static void same_as_tesseract(void **state)
{
    TessBaseAPI *api = TessBaseAPICreate();
    int strings = 0;

    (void)state;
    assert_non_null(api);
    assert_int_equal(TessBaseAPIInit3(api, NULL, "eng"), 0);
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        char path[512];
        PIX *pix;

        snprintf(path, sizeof(path), "%s/%s", EXAMPLE, pages[i]);
        pix = pixRead(path);
        if (pix == NULL)
            fail_msg("cannot read %s", path);
        strings += compare(api, pix, pages[i], 0, 0, 0, 0);
        if (i >= 2) { /* rectangles on two pages are enough */
            pixDestroy(&pix);
            continue;
        }
        compare(api, pix, pages[i], pixGetWidth(pix) / 8, pixGetHeight(pix) / 8,
                pixGetWidth(pix) / 2, pixGetHeight(pix) / 2);
        compare(api, pix, pages[i], pixGetWidth(pix) / 3, pixGetHeight(pix) / 3,
                pixGetWidth(pix),
                pixGetHeight(pix)); /* beyond the page: clipped */
        pixDestroy(&pix);
    }
    /* The pages had text: not a comparison of empty pages. */
    assert_true(strings > 100);
    TessBaseAPIEnd(api);
    TessBaseAPIDelete(api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_as_tesseract),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
