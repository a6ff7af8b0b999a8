/*
 * deskew.c: the deskew stage. Leptonica's sweep-and-search finds the skew
 * on the binary analysis copy; the original (1, 8 or 32 bpp) is rotated by
 * that angle so gray and colour stay gray and colour. The search range is
 * the profile's (default +/-16 degrees; Leptonica's own default stops near
 * 7). Leptonica distrusts (confidence 0) any angle within one sweep step of
 * the ends of its sweep, so the sweep runs one step past the profile's
 * range and answers beyond that range are refused. The page is embedded
 * in a larger canvas first, so no corner of the scan is cut off, and then
 * cropped back to the scan's own size, centred, widened only as far as
 * ink reaches beyond it: the page keeps the size it was scanned at and
 * the encoder is not paid for white margins (on a 300 dpi Letter page
 * turned 5 degrees the canvas was 13% larger). The bounding box of the
 * ink is kept for OCR, which then does not lay out the white that the
 * rotation brought in (1-6% of recognition time on a 300 dpi page turned
 * 5-12 degrees).
 */
#include <assert.h>
#include <math.h>

#include <leptonica/allheaders.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"

#define SWEEP_DELTA_DEG  1.0f
#define SEARCH_MIN_DELTA 0.01f
#define MIN_APPLY_DEG    0.1
#define MIN_SWEEP_SIDE   500 /* pixels left on the short side after reduction */
#define MIN_SIDE         64  /* smaller than this: nothing to measure */

/*
 * Reduction factors for the sweep and the search. Big pages are reduced
 * (a 300 dpi Letter page 4x, then searched at 2x: same accuracy, less
 * work), small ones are not. Decided by pixel size, not resolution: an
 * untagged 150 dpi scan carries the 300 dpi fallback, and reducing it as
 * a 300 dpi page leaves text lines too thin to find.
 */
static void reductions(PIX *pix, l_int32 *sweep, l_int32 *search)
{
    l_int32 side = L_MIN(pixGetWidth(pix), pixGetHeight(pix));

    *sweep = side >= 4 * MIN_SWEEP_SIDE   ? 4
             : side >= 2 * MIN_SWEEP_SIDE ? 2
                                          : 1;
    *search = *sweep > 1 ? *sweep / 2 : 1;
}

static PIX *rotate(PIX *pix, double deg)
{
    l_int32 type =
        pixGetDepth(pix) == 1 ? L_ROTATE_SAMPLING : L_ROTATE_AREA_MAP;
    l_float32 rad = (l_float32)(deg * M_PI / 180.0);

    return pixRotate(pix, rad, type, L_BRING_IN_WHITE, pixGetWidth(pix),
                     pixGetHeight(pix));
}

/* Replaces *pix by its part inside `box`; -1 when out of memory. */
static int clip(PIX **pix, BOX *box)
{
    PIX *c = pixClipRectangle(*pix, box, NULL);

    if (c == NULL)
        return -1;
    pixDestroy(pix);
    *pix = c;
    return 0;
}

/*
 * Crops the rotated canvas of img back to w0 x h0 (the scan's size) about
 * its centre, the centre of the rotation, widened to hold img->content
 * (the ink) where that reaches further. Translates img->content to the
 * cropped page.
 */
static int crop_to_scan(pm_engine_t *eng, pm_page_image_t *img, l_int32 w0,
                        l_int32 h0)
{
    l_int32 w = pixGetWidth(img->pix), h = pixGetHeight(img->pix);
    l_int32 x, y, bw, bh;
    BOX *scan, *keep;
    int rc;

    assert(w >= w0 && h >= h0);
    scan = boxCreate((w - w0) / 2, (h - h0) / 2, w0, h0);
    keep = scan != NULL && img->content != NULL
               ? boxBoundingRegion(scan, img->content)
               : boxCopy(scan);
    rc = keep == NULL ? -1 : boxGetGeometry(keep, &x, &y, &bw, &bh);
    if (rc == 0 && (bw < w || bh < h))
        rc = clip(&img->pix, keep) || clip(&img->binary, keep);
    if (rc == 0 && img->content != NULL) {
        BOX *moved = boxTransform(img->content, -x, -y, 1.0f, 1.0f);

        rc = moved == NULL ? -1 : 0;
        boxDestroy(&img->content);
        img->content = moved;
    }
    boxDestroy(&scan);
    boxDestroy(&keep);
    if (rc != 0)
        return pm__engine_fail(eng, PM_ENOMEM, "deskew: crop failed: %s",
                               pm__lib_last());
    return 0;
}

int pm_deskew_page(pm_engine_t *eng, const pm_profile_t *p,
                   pm_page_image_t *img, double *angle, double *confidence)
{
    l_float32 a = 0, conf = 0;
    l_int32 redsweep, redsearch, w0, h0;
    PIX *rp, *rb;
    int err;

    *angle = 0;
    *confidence = 0;
    if (!p->deskew)
        return 0;
    if (pixGetWidth(img->binary) < MIN_SIDE ||
        pixGetHeight(img->binary) < MIN_SIDE)
        return 0; /* too small to measure */
    reductions(img->binary, &redsweep, &redsearch);
    pm__lib_clear();
    if (pixFindSkewSweepAndSearch(img->binary, &a, &conf, redsweep, redsearch,
                                  (l_float32)p->deskew_max_angle +
                                      SWEEP_DELTA_DEG,
                                  SWEEP_DELTA_DEG, SEARCH_MIN_DELTA) != 0)
        return 0; /* no text lines to measure: leave as is */
    if (fabs(a) > p->deskew_max_angle)
        return 0; /* outside the profile's range: not ours to correct */
    *confidence = conf;
    if (conf < p->deskew_min_confidence || fabs(a) < MIN_APPLY_DEG)
        return 0;
    w0 = pixGetWidth(img->pix);
    h0 = pixGetHeight(img->pix);
    rp = rotate(img->pix, a);
    rb = rp != NULL ? rotate(img->binary, a) : NULL;
    if (rb == NULL) {
        pixDestroy(&rp);
        return pm__engine_fail(eng, PM_ENOMEM, "deskew: rotate failed: %s",
                               pm__lib_last());
    }
    pixDestroy(&img->pix);
    pixDestroy(&img->binary);
    img->pix = rp;
    img->binary = rb;
    /* OCR reads only this box of the page (NULL: no ink). */
    boxDestroy(&img->content);
    pixClipBoxToForeground(rb, NULL, NULL, &img->content);
    err = crop_to_scan(eng, img, w0, h0);
    if (err)
        return err;
    pixSetResolution(img->pix, img->xres, img->yres);
    pixSetResolution(img->binary, img->xres, img->yres);
    *angle = a;
    return 0;
}
