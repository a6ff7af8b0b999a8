/*
 * dpi.c: the resolution of a page whose file gives none that can be
 * believed (docs/resolution.md), estimated from its text. Printed body
 * text is set at 9-12 pt, so the height of its lower-case letters (the
 * x-height, about 0.07 in) tells the page's scale. The commonest height of
 * letter-shaped components is taken as the x-height, and the estimate is
 * snapped to a resolution scanners use.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include <leptonica/allheaders.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"

/* The x-height of body text in inches (10-11 pt type, an x-height of
 * 0.45-0.5 em), measured on the tagged text pages of the shared data. */
#define XHEIGHT_IN 0.068

/* Letter-shaped components: XH_MIN_PX to the page's shorter side over
 * XH_MAX_FRAC high, as wide as LETTER_MIN_W..LETTER_MAX_W times their
 * height. At least EST_MIN_LETTERS of them near the commonest height, else
 * there is too little text to tell. A commonest height below XH_MIN_TEXT
 * is specks, dots and noise, not letters (body text at 100 dpi is 7 px):
 * too little text too. */
#define XH_MIN_PX       4
#define XH_MIN_TEXT     6
#define XH_MAX_FRAC     25
#define LETTER_MIN_W    0.5
#define LETTER_MAX_W    1.6
#define EST_MIN_LETTERS 40

/* The resolutions an estimate is snapped to. */
static const int snap_dpi[] = {100, 150, 200, 300, 400, 600};
#define NSNAP (sizeof(snap_dpi) / sizeof(snap_dpi[0]))

/* Paper sizes in inches (Letter, A4, A3, Tabloid). A page that
 * is one of them at a resolution of the set, within PAPER_MIN..PAPER_MAX
 * of each side (scans are cropped or take in the platen's margin), is
 * taken at that resolution when the text's estimate is within PAPER_NEAR
 * times of it: title pages and large type measure too high. */
static const double paper_in[][2] = {
    {8.5, 11.0}, {8.27, 11.69}, {11.69, 16.54}, {11.0, 17.0}};
#define PAPER_MIN 0.85
/* Otherwise an estimate within AGREE times of the profile's fallback_dpi
 * (the operator's word for the scanners) agrees with it: x-heights vary
 * by about a fifth with the type. Only a clear disagreement overrides it
 * (cat.007, a book page that measures 235 dpi, stays at 300). */
#define AGREE      1.3
#define PAPER_MAX  1.06
#define PAPER_NEAR 1.6

/* A 1 bpp copy of `pix` (any depth), ink as 1. */
static PIX *binary_copy(PIX *pix)
{
    PIX *g, *b;

    if (pixGetDepth(pix) == 1)
        return pixClone(pix);
    g = pixConvertTo8(pix, 0);
    if (g == NULL)
        return NULL;
    b = pixConvertTo1(g, 128);
    pixDestroy(&g);
    return b;
}

/* Counts letter-shaped components by height into hist[0..maxh]. */
static void letter_heights(BOXA *boxes, int *hist, int maxh)
{
    int n = boxaGetCount(boxes);

    for (int i = 0; i < n; i++) {
        l_int32 w = 0, h = 0;

        boxaGetBoxGeometry(boxes, i, NULL, NULL, &w, &h);
        if (h < XH_MIN_PX || h > maxh)
            continue;
        if (w < LETTER_MIN_W * h || w > LETTER_MAX_W * h)
            continue;
        hist[h]++;
    }
}

/* The commonest height in hist[0..maxh], counting each height with its
 * neighbours within 10% (at least one pixel); *support is that count. */
static int commonest_height(const int *hist, int maxh, int *support)
{
    int best = 0;

    *support = 0;
    for (int h = XH_MIN_PX; h <= maxh; h++) {
        int d = h / 10 > 1 ? h / 10 : 1, sum = 0;

        for (int k = h - d; k <= h + d; k++)
            sum += k >= 0 && k <= maxh ? hist[k] : 0;
        if (sum > *support) {
            *support = sum;
            best = h;
        }
    }
    return best;
}

/* Whether w x h pixels at `dpi` make a page of a paper size. */
static int is_paper(int w, int h, int dpi)
{
    double s = (double)(w < h ? w : h) / dpi, l = (double)(w < h ? h : w) / dpi;

    for (size_t i = 0; i < sizeof(paper_in) / sizeof(paper_in[0]); i++) {
        double rs = s / paper_in[i][0], rl = l / paper_in[i][1];
        if (rs >= PAPER_MIN && rs <= PAPER_MAX && rl >= PAPER_MIN &&
            rl <= PAPER_MAX)
            return 1;
    }
    return 0;
}

/* The resolution of the set nearest to `raw` that makes a w x h page a
 * paper size, if one is within PAPER_NEAR times; else 0. */
static int paper_dpi(int w, int h, double raw)
{
    int best = 0;
    double bestd = log(PAPER_NEAR);

    for (size_t i = 0; i < NSNAP; i++) {
        double d = fabs(log(raw / snap_dpi[i]));
        if (d <= bestd && is_paper(w, h, snap_dpi[i])) {
            bestd = d;
            best = snap_dpi[i];
        }
    }
    return best;
}

int pm__dpi_snap(double dpi)
{
    int best = snap_dpi[0];
    double bestd = INFINITY;

    assert(dpi > 0);
    for (size_t i = 0; i < NSNAP; i++) {
        double d = fabs(log(dpi / snap_dpi[i]));
        if (d < bestd) {
            bestd = d;
            best = snap_dpi[i];
        }
    }
    return best;
}

int pm__dpi_estimate(PIX *pix, int fallback, double *raw, int *dpi)
{
    int w = pixGetWidth(pix), h = pixGetHeight(pix);
    int maxh = (w < h ? w : h) / XH_MAX_FRAC, support = 0, xh;
    int *hist;
    PIX *b;
    BOXA *boxes;

    *raw = 0;
    *dpi = 0;
    if (maxh < XH_MIN_PX)
        return 0;
    b = binary_copy(pix);
    boxes = b ? pixConnCompBB(b, 8) : NULL;
    pixDestroy(&b);
    if (boxes == NULL)
        return PM_ENOMEM;
    hist = pm_calloc((size_t)maxh + 1, sizeof(*hist));
    if (hist == NULL) {
        boxaDestroy(&boxes);
        return PM_ENOMEM;
    }
    letter_heights(boxes, hist, maxh);
    boxaDestroy(&boxes);
    xh = commonest_height(hist, maxh, &support);
    pm_free(hist);
    if (support < EST_MIN_LETTERS || xh < XH_MIN_TEXT)
        return 0;
    *raw = xh / XHEIGHT_IN;
    *dpi = paper_dpi(w, h, *raw);
    if (*dpi != 0)
        return 1;
    if (fallback > 0 && fabs(log(*raw / fallback)) <= log(AGREE)) {
        *dpi = fallback;
        return 0;
    }
    *dpi = pm__dpi_snap(*raw);
    return 1;
}
