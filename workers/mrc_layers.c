/*
 * mrc_layers.c: the text layers of an MRC page (mrc.c).
 *
 * Colour: the text mask's components are joined into words (a dilation
 * of about 1/40 inch across), each word's colour is the mean of its
 * darker pixels (those at or below the word's mean luminance: stroke
 * edges are lighter than their core), and the words' colours are
 * clustered greedily, largest word first, to at most PM_MRC_MAX_COLOURS
 * colours at least MRC_COLOUR_GAP apart (red, blue or pale gray from
 * black, not the shades of black that thin and bold strokes measure: a
 * word drawn paler than its neighbours read worse); each word then goes
 * to its nearest colour. Each colour is one layer, drawn as an image mask in
 * that colour, so red headings stay red over black text.
 *
 * Resolution: below MRC_FINE_BELOW dpi the small type of a colour (its
 * components at most MRC_SMALL_IN tall and twice that wide: text up to
 * about 18 pt) gets a mask at the multiple of the page's resolution
 * nearest above MRC_FINE_DPI, thresholded from the gray page scaled up
 * (a 1-bit mask at 100 dpi loses the gray edges small text is read from);
 * headings, rules and pictures keep the page's resolution, which reads as
 * well and costs a third of the rows (docs/benchmarks.md, MRC).
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/base/pm.h"
#include "workers/mrc_int.h"

#define MRC_FINE_BELOW 200
#define MRC_FINE_DPI   300
#define MRC_FINE_MAX   3
#define MRC_SMALL_IN   0.25
#define MRC_COLOUR_GAP 100.0 /* RGB distance (0..255 per component) */

typedef struct word {
    double sum, n;        /* luminance of its mask pixels */
    double rgb[3], ndark; /* its core: see word_colours */
    int cluster;
} word_t;

typedef struct cluster {
    double rgb[3], w;
} cluster_t;

/* ---- the finer mask ---- */

/* The mask `up` times finer than the page's, thresholded from `gray`
 * scaled up (bilinear) and thinned by a pixel across (strokes
 * thresholded from a scaled-up page come out a little bold). NULL when
 * out of memory. */
static PIX *fine_mask(PIX *gray, int res, int up)
{
    PIX *big = pixScaleGrayLI(gray, (float)up, (float)up);
    PIX *m = big ? pm__mrc_text_mask(big, res * up) : NULL;
    PIX *thin = m ? pixErodeBrick(NULL, m, 2, 1) : NULL;

    pixDestroy(&big);
    pixDestroy(&m);
    return thin;
}

/* ---- word colours ---- */

/* Luminance and colour of the pixel x of `line` in `pix`. */
static int pixel_value(PIX *pix, const l_uint32 *line, int x, int rgb[3])
{
    if (pixGetDepth(pix) == 32) {
        extractRGBValues(line[x], &rgb[0], &rgb[1], &rgb[2]);
        return (299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2]) / 1000;
    }
    rgb[0] = rgb[1] = rgb[2] = GET_DATA_BYTE(line, x);
    return rgb[0];
}

/* Two passes over the mask's pixels: each word's mean luminance, then
 * the mean colour of its pixels at or below it (the edges of strokes are
 * paler than the ink). */
static void word_colours(PIX *pix, PIX *mask, PIX *labels, word_t *wd)
{
    int w = pixGetWidth(mask), h = pixGetHeight(mask), rgb[3];

    for (int pass = 0; pass < 2; pass++)
        for (int y = 0; y < h; y++) {
            const l_uint32 *ml = pixGetData(mask) + (size_t)y * pixGetWpl(mask);
            const l_uint32 *ll =
                pixGetData(labels) + (size_t)y * pixGetWpl(labels);
            const l_uint32 *pl = pixGetData(pix) + (size_t)y * pixGetWpl(pix);

            for (int x = 0; x < w; x++) {
                word_t *d;
                int v;

                if (!GET_DATA_BIT(ml, x) || ll[x] == 0)
                    continue;
                d = &wd[ll[x]];
                v = pixel_value(pix, pl, x, rgb);
                if (pass == 0) {
                    d->sum += v;
                    d->n += 1;
                } else if (v <= d->sum / d->n) {
                    for (int k = 0; k < 3; k++)
                        d->rgb[k] += rgb[k];
                    d->ndark += 1;
                }
            }
        }
}

static double dist2(const double a[3], const double b[3])
{
    double d = 0;

    for (int k = 0; k < 3; k++)
        d += (a[k] - b[k]) * (a[k] - b[k]);
    return d;
}

static int nearest(const cluster_t *c, int nc, const double rgb[3])
{
    int best = 0;

    for (int i = 1; i < nc; i++)
        if (dist2(c[i].rgb, rgb) < dist2(c[best].rgb, rgb))
            best = i;
    return best;
}

static const word_t *sort_words;

static int by_size(const void *a, const void *b)
{
    double na = sort_words[*(const int *)a].n,
           nb = sort_words[*(const int *)b].n;

    return na < nb ? 1 : na > nb ? -1 : 0;
}

static void cluster_add(cluster_t *c, const double rgb[3], double w)
{
    for (int k = 0; k < 3; k++)
        c->rgb[k] = (c->rgb[k] * c->w + rgb[k] * w) / (c->w + w);
    c->w += w;
}

/* Every word to its nearest colour; the colours become their words'
 * weighted means. */
static void assign_words(word_t *wd, int nw, cluster_t *c, int nc)
{
    cluster_t fin[PM_MRC_MAX_COLOURS];

    memset(fin, 0, sizeof(fin));
    for (int i = 1; i <= nw; i++) {
        word_t *d = &wd[i];

        d->cluster = d->ndark > 0 ? nearest(c, nc, d->rgb) : 0;
        if (d->ndark > 0)
            cluster_add(&fin[d->cluster], d->rgb, d->n);
    }
    for (int j = 0; j < nc; j++)
        if (fin[j].w > 0)
            c[j] = fin[j];
}

/* Merges colours that came out closer than MRC_COLOUR_GAP (the greedy
 * pass started them from single words); returns how many are left. */
static int merge_close(cluster_t *c, int nc)
{
    for (int i = 0; i < nc; i++)
        for (int j = i + 1; j < nc; j++) {
            if (dist2(c[i].rgb, c[j].rgb) > MRC_COLOUR_GAP * MRC_COLOUR_GAP)
                continue;
            cluster_add(&c[i], c[j].rgb, c[j].w);
            c[j--] = c[--nc];
        }
    return nc;
}

/*
 * Clusters the words 1..nw (their colours) into c (at most
 * PM_MRC_MAX_COLOURS): greedily, largest word first, a new colour for a
 * word further than MRC_COLOUR_GAP from every one so far; then every word
 * goes to its nearest colour and the colours are recomputed, until none
 * comes out closer than MRC_COLOUR_GAP to another (merged). Returns the
 * number of colours, sets each word's cluster.
 */
static int cluster_words(word_t *wd, int nw, cluster_t *c)
{
    int *order = pm_malloc((size_t)nw * sizeof(int)), nc = 0;

    if (order == NULL)
        return -1;
    for (int i = 0; i < nw; i++) {
        word_t *d = &wd[i + 1];

        order[i] = i + 1;
        for (int k = 0; k < 3 && d->ndark > 0; k++)
            d->rgb[k] /= d->ndark;
    }
    sort_words = wd;
    qsort(order, (size_t)nw, sizeof(int), by_size);
    for (int i = 0; i < nw; i++) {
        word_t *d = &wd[order[i]];
        int j;

        if (d->ndark <= 0)
            continue;
        j = nc > 0 ? nearest(c, nc, d->rgb) : -1;
        if (j < 0 ||
            (nc < PM_MRC_MAX_COLOURS &&
             dist2(c[j].rgb, d->rgb) > MRC_COLOUR_GAP * MRC_COLOUR_GAP)) {
            j = nc++;
            memset(&c[j], 0, sizeof(c[j]));
        }
        cluster_add(&c[j], d->rgb, d->n);
    }
    pm_free(order);
    for (int pass = 0; nc > 0 && pass < PM_MRC_MAX_COLOURS; pass++) {
        int before = nc;

        assign_words(wd, nw, c, nc);
        nc = merge_close(c, nc);
        if (nc == before)
            break;
    }
    if (nc > 0)
        assign_words(wd, nw, c, nc);
    return nc;
}

/* ---- the layers ---- */

static int max_label(PIX *labels)
{
    l_uint32 m = 0;
    int w = pixGetWidth(labels), h = pixGetHeight(labels);

    for (int y = 0; y < h; y++) {
        const l_uint32 *ll = pixGetData(labels) + (size_t)y * pixGetWpl(labels);

        for (int x = 0; x < w; x++)
            if (ll[x] > m)
                m = ll[x];
    }
    return (int)m;
}

/* Sets the mask pixels of the page's resolution into the layers: every
 * pixel when up is 1, else those not in `small`. */
static void fill_coarse(PIX *mask, PIX *small, PIX *labels, const word_t *wd,
                        PIX **layer)
{
    int w = pixGetWidth(mask), h = pixGetHeight(mask);

    for (int y = 0; y < h; y++) {
        const l_uint32 *ml = pixGetData(mask) + (size_t)y * pixGetWpl(mask);
        const l_uint32 *ll = pixGetData(labels) + (size_t)y * pixGetWpl(labels);
        const l_uint32 *sl =
            small ? pixGetData(small) + (size_t)y * pixGetWpl(small) : NULL;

        for (int x = 0; x < w; x++) {
            int c;

            if (!GET_DATA_BIT(ml, x) || (sl != NULL && GET_DATA_BIT(sl, x)))
                continue;
            c = ll[x] ? wd[ll[x]].cluster : 0;
            SET_DATA_BIT(pixGetData(layer[c]) + (size_t)y * pixGetWpl(layer[c]),
                         x);
        }
    }
}

/* Sets the pixels of the finer mask `fine` (`up` times the page's) that
 * lie over `region` (small type, widened) into the fine layers. */
static void fill_fine(PIX *fine, int up, PIX *region, PIX *labels,
                      const word_t *wd, PIX **layer)
{
    int w = pixGetWidth(fine), h = pixGetHeight(fine);
    int rw = pixGetWidth(region), rh = pixGetHeight(region);

    for (int y = 0; y < h && y / up < rh; y++) {
        const l_uint32 *fl = pixGetData(fine) + (size_t)y * pixGetWpl(fine);
        const l_uint32 *rl =
            pixGetData(region) + (size_t)(y / up) * pixGetWpl(region);
        const l_uint32 *ll =
            pixGetData(labels) + (size_t)(y / up) * pixGetWpl(labels);

        for (int x = 0; x < w && x / up < rw; x++) {
            int c;

            if (fl[x / 32] == 0) {
                x |= 31;
                continue;
            }
            if (!GET_DATA_BIT(fl, x) || !GET_DATA_BIT(rl, x / up))
                continue;
            c = ll[x / up] ? wd[ll[x / up]].cluster : 0;
            SET_DATA_BIT(pixGetData(layer[c]) + (size_t)y * pixGetWpl(layer[c]),
                         x);
        }
    }
}

/* The fill of each colour: the darker third (rank 0.33) of the page's
 * pixels under its words, per component. Used for a page of one text
 * colour, which then comes out as it did with one colour per page; where
 * there are several, each is the mean of its words' colours. (OCR of the
 * rendered page moves by up to 0.02 of CER with a few levels of fill
 * either way on the pages of scripts/bench-mrc.sh; neither rule is
 * better on all of them.) */
static int colour_fills(PIX *pix, PIX *mask, PIX *labels, const word_t *wd,
                        int nc, int fill[][3])
{
    PIX *all[PM_MRC_MAX_COLOURS] = {0};
    int err = 0;

    for (int c = 0; c < nc && !err; c++)
        if ((all[c] = pixCreateTemplate(mask)) == NULL)
            err = PM_ENOMEM;
    if (!err)
        fill_coarse(mask, NULL, labels, wd, all);
    for (int c = 0; c < nc && !err; c++) {
        l_int32 n = 0;
        l_float32 v[3] = {0, 0, 0};

        if (pixCountPixels(all[c], &n, NULL) == 0 && n > 0) {
            int step = n > 20000 ? 2 : 1;

            if (pixGetDepth(pix) == 32)
                pixGetRankValueMaskedRGB(pix, all[c], 0, 0, step, 0.33f, &v[0],
                                         &v[1], &v[2]);
            else if (pixGetRankValueMasked(pix, all[c], 0, 0, step, 0.33f,
                                           &v[0], NULL) == 0)
                v[1] = v[2] = v[0];
        }
        for (int k = 0; k < 3; k++)
            fill[c][k] = (int)lroundf(v[k]);
    }
    for (int c = 0; c < nc; c++)
        pixDestroy(&all[c]);
    return err;
}

/* Fills the layers from the words' clusters; returns 0 or PM_ENOMEM. */
static int make_layers(PIX *pix, PIX *gray, PIX *mask, int res, PIX *labels,
                       const word_t *wd, const cluster_t *cl, int nc,
                       pm_mrc_layer_t *out, int *n)
{
    int w = pixGetWidth(mask), h = pixGetHeight(mask), up = 1;
    int small_px = (int)lround(MRC_SMALL_IN * res);
    PIX *coarse[PM_MRC_MAX_COLOURS] = {0}, *fine[PM_MRC_MAX_COLOURS] = {0};
    PIX *small = NULL, *region = NULL, *fm = NULL;
    int fill[PM_MRC_MAX_COLOURS][3];
    int err = nc == 1 ? colour_fills(pix, mask, labels, wd, nc, fill) : 0;

    for (int c = 0; c < nc && nc > 1; c++)
        for (int k = 0; k < 3; k++)
            fill[c][k] = (int)lround(cl[c].rgb[k]);

    if (res > 0 && res < MRC_FINE_BELOW) {
        up = (MRC_FINE_DPI + res - 1) / res;
        up = up > MRC_FINE_MAX ? MRC_FINE_MAX : up;
        small = pixSelectBySize(mask, 2 * small_px, small_px, 8,
                                L_SELECT_IF_BOTH, L_SELECT_IF_LTE, NULL);
        region = small ? pixDilateBrick(NULL, small, 3, 3) : NULL;
        fm = region ? fine_mask(gray, res, up) : NULL;
        if (fm == NULL)
            up = 1; /* out of memory for the finer mask: one resolution */
    }
    for (int c = 0; c < nc && !err; c++) {
        coarse[c] = pixCreate(w, h, 1);
        if (up > 1)
            fine[c] = pixCreate(pixGetWidth(fm), pixGetHeight(fm), 1);
        if (coarse[c] == NULL || (up > 1 && fine[c] == NULL))
            err = PM_ENOMEM;
    }
    if (!err) {
        fill_coarse(mask, up > 1 ? small : NULL, labels, wd, coarse);
        if (up > 1)
            fill_fine(fm, up, region, labels, wd, fine);
    }
    *n = 0;
    for (int c = 0; c < nc; c++) {
        PIX *both[2] = {coarse[c], fine[c]};

        for (int k = 0; k < 2; k++) {
            l_int32 empty = 1;

            if (!err && both[k] != NULL && pixZero(both[k], &empty) == 0 &&
                !empty) {
                pm_mrc_layer_t *l = &out[(*n)++];

                l->mask = both[k];
                l->up = k ? up : 1;
                for (int j = 0; j < 3; j++)
                    l->fill[j] = fill[c][j];
                continue;
            }
            pixDestroy(&both[k]);
        }
    }
    pixDestroy(&small);
    pixDestroy(&region);
    pixDestroy(&fm);
    return err;
}

int pm__mrc_layers(PIX *pix, PIX *gray, PIX *mask, int res,
                   pm_mrc_layer_t out[PM_MRC_MAX_LAYERS], int *n)
{
    int across = res / 40 > 1 ? res / 40 : 1;
    PIX *wide = pixDilateBrick(NULL, mask, 2 * across + 1, 3);
    PIX *labels = wide ? pixConnCompTransform(wide, 8, 32) : NULL;
    cluster_t cl[PM_MRC_MAX_COLOURS];
    word_t *wd = NULL;
    int nw = labels ? max_label(labels) : 0, nc = 0, err = PM_ENOMEM;

    *n = 0;
    memset(out, 0, sizeof(*out) * PM_MRC_MAX_LAYERS);
    if (labels != NULL)
        wd = pm_calloc((size_t)nw + 1, sizeof(word_t));
    if (wd != NULL) {
        word_colours(pix, mask, labels, wd);
        nc = cluster_words(wd, nw, cl);
        err = nc < 0 ? PM_ENOMEM : 0;
    }
    if (!err && nc > 0)
        err = make_layers(pix, gray, mask, res, labels, wd, cl, nc, out, n);
    if (!err && *n == 0) { /* no text: one empty layer */
        out[0].mask = pixCopy(NULL, mask);
        out[0].up = 1;
        *n = out[0].mask != NULL;
        err = *n ? 0 : PM_ENOMEM;
    }
    pm_free(wd);
    pixDestroy(&wide);
    pixDestroy(&labels);
    if (err)
        pm__mrc_layers_free(out, *n);
    assert(err || (*n >= 1 && *n <= PM_MRC_MAX_LAYERS));
    return err;
}

void pm__mrc_layers_free(pm_mrc_layer_t *l, int n)
{
    for (int i = 0; i < n; i++)
        pixDestroy(&l[i].mask);
}
