/*
 * blank.c: the blank-page stage. A page is blank when, after trimming a
 * border (scanner edges, punch holes), dropping specks (dust, noise) and
 * dark bands along the edges that the trim did not reach (lid shadows,
 * the bed around a small sheet), the fraction of ink pixels is under the
 * profile's threshold. Blank pages are flagged, kept and reported;
 * billing decides what they cost.
 */
#include <leptonica/allheaders.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"

#define BORDER_FRACTION 0.05 /* per side */
#define SPECK_INCH      50   /* specks are smaller than 1/50 inch */
#define CENTRE_FRACTION 0.15 /* edge junk stays this close to the edge */

/* True when component `c` at (bx, by) has ink inside the central part of
 * a w x h page (CENTRE_FRACTION in from each side). */
static int reaches_centre(PIX *c, l_int32 bx, l_int32 by, l_int32 w, l_int32 h)
{
    l_int32 cx = (l_int32)(w * CENTRE_FRACTION);
    l_int32 cy = (l_int32)(h * CENTRE_FRACTION);
    l_int32 x0 = L_MAX(bx, cx), y0 = L_MAX(by, cy);
    l_int32 x1 = L_MIN(bx + pixGetWidth(c), w - cx);
    l_int32 y1 = L_MIN(by + pixGetHeight(c), h - cy);
    l_int32 count = 0;
    BOX *box;

    if (x0 >= x1 || y0 >= y1)
        return 0;
    box = boxCreate(x0 - bx, y0 - by, x1 - x0, y1 - y0);
    if (box == NULL || pixCountPixelsInRect(c, box, &count, NULL) != 0)
        count = 1; /* when in doubt, it is ink */
    boxDestroy(&box);
    return count > 0;
}

/*
 * Clears the components that touch the edge of `pix` but never reach its
 * central part: a scanner's dark border wider than the trim, skewed or
 * not, or a frame all round. Content touching the edge that reaches in
 * (a photograph, a rule across the page) stays.
 */
static int remove_edge_junk(PIX *pix)
{
    l_int32 w = pixGetWidth(pix), h = pixGetHeight(pix), x, y, n;
    PIX *edge, *c;
    PIXA *pixa = NULL;
    BOXA *boxa;

    edge = pixExtractBorderConnComps(pix, 8);
    if (edge == NULL)
        return -1;
    boxa = pixConnComp(edge, &pixa, 8);
    pixDestroy(&edge);
    if (boxa == NULL)
        return -1;
    n = pixaGetCount(pixa);
    for (l_int32 i = 0; i < n; i++) {
        c = pixaGetPix(pixa, i, L_CLONE);
        if (c == NULL || pixaGetBoxGeometry(pixa, i, &x, &y, NULL, NULL)) {
            pixDestroy(&c);
            continue;
        }
        if (!reaches_centre(c, x, y, w, h))
            pixRasterop(pix, x, y, pixGetWidth(c), pixGetHeight(c),
                        PIX_DST & PIX_NOT(PIX_SRC), c, 0, 0);
        pixDestroy(&c);
    }
    pixaDestroy(&pixa);
    boxaDestroy(&boxa);
    return 0;
}

int pm_blank_check(pm_engine_t *eng, const pm_profile_t *p, PIX *binary,
                   int res, int *blank, double *ink_ratio)
{
    l_int32 w = pixGetWidth(binary), h = pixGetHeight(binary);
    l_int32 bx = (l_int32)(w * BORDER_FRACTION);
    l_int32 by = (l_int32)(h * BORDER_FRACTION);
    l_int32 count = 0, speck;
    BOX *box;
    PIX *clip, *small, *clean;
    double area;

    *blank = 0;
    *ink_ratio = 0;
    box = boxCreate(bx, by, w - 2 * bx, h - 2 * by);
    clip = box != NULL ? pixClipRectangle(binary, box, NULL) : NULL;
    boxDestroy(&box);
    if (clip == NULL)
        return pm__engine_fail(eng, PM_ENOMEM, "blank check: clip failed");
    /* Halve high-resolution pages first (OR-reduction keeps every dot). */
    if (res >= 250) {
        small = pixReduceRankBinary2(clip, 1, NULL);
        pixDestroy(&clip);
        res /= 2;
    } else {
        small = clip;
    }
    if (small == NULL)
        return pm__engine_fail(eng, PM_ENOMEM, "blank check: reduce failed");
    speck = res / SPECK_INCH;
    if (speck < 1)
        speck = 1;
    clean = pixSelectBySize(small, speck, speck, 8, L_SELECT_IF_EITHER,
                            L_SELECT_IF_GT, NULL);
    area = (double)pixGetWidth(small) * pixGetHeight(small);
    pixDestroy(&small);
    if (clean == NULL || remove_edge_junk(clean) != 0) {
        pixDestroy(&clean);
        return pm__engine_fail(eng, PM_ENOMEM, "blank check: failed");
    }
    pixCountPixels(clean, &count, NULL);
    pixDestroy(&clean);
    *ink_ratio = area > 0 ? count / area : 0;
    *blank = *ink_ratio < p->blank_ink_ratio;
    return 0;
}
