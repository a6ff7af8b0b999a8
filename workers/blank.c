/*
 * blank.c: the blank-page stage. A page is blank when, after trimming a
 * border (scanner edges, punch holes) and dropping specks (dust, noise),
 * the fraction of ink pixels is under the profile's threshold. Blank pages
 * are flagged, kept and reported; billing decides what they cost.
 */
#include "workers/engine_int.h"

#include <leptonica/allheaders.h>

#include "pipeline/pm.h"

#define BORDER_FRACTION 0.05 /* per side */
#define SPECK_INCH      50   /* specks are smaller than 1/50 inch */

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
    if (clean == NULL)
        return pm__engine_fail(eng, PM_ENOMEM, "blank check: failed");
    pixCountPixels(clean, &count, NULL);
    pixDestroy(&clean);
    *ink_ratio = area > 0 ? count / area : 0;
    *blank = *ink_ratio < p->blank_ink_ratio;
    return 0;
}
