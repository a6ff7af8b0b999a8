/*
 * mrc.c: mixed raster content for gray and colour pages of a profile with
 * `compression = mrc`, the way capture servers shrink them. A page
 * becomes a background and one or more text masks:
 *
 *   masks       the text, 1 bpp (Sauvola's local threshold, specks
 *               dropped), one layer per text colour and, below 200 dpi,
 *               the small type at a finer resolution than the rest
 *               (mrc_layers.c); each a single-strip CCITT G4 directory
 *               of the TIFF `<base>.tif`, which the PDF draws as an
 *               /ImageMask in that layer's colour;
 *   background  the page at a third of its resolution with the pixels
 *               under the (widened) mask filled in from their
 *               surroundings, so that it is smooth and compresses, as
 *               JPEG `<base>.bg.jpg` at 15 below the profile's
 *               jpeg_quality.
 *
 * Each mask directory says in its ImageDescription what the assembly
 * needs besides the streams: its fill colour and the background's size,
 * "pagemill mrc: fill R G B; background WxH; components N" (a file of
 * one directory is a page of one text colour). Both files are plain
 * images a reader opens as they are. No transparency: an image mask is a
 * stencil, allowed in every PDF/A part.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <leptonica/allheaders.h>
#include <tiffio.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"
#include "workers/mrc_int.h"

#define MRC_SCALE 3 /* background resolution: page resolution / 3 */
_Static_assert(PM_MRC_MAX_LAYERS <= PM_MRC_MASKS, "masks per page");
#define MRC_DESC "pagemill mrc: fill %d %d %d; background %dx%d; components %d"

/* ---- the mask ---- */

/* 8 bpp luminance of the page (a new reference either way). */
static PIX *page_gray(PIX *pix)
{
    return pixGetDepth(pix) == 32 ? pixConvertRGBToLuminance(pix)
                                  : pixClone(pix);
}

/*
 * The text: Sauvola's local threshold over a window of about 1/6 inch
 * (thin and light strokes keep their weight, where a global threshold
 * after background normalisation thins them and OCR of the rendered page
 * suffers), then single-pixel specks dropped: they cost G4 bytes and stay
 * visible in the background. Falls back on
 * background-normalised Otsu.
 */
PIX *pm__mrc_text_mask(PIX *gray, int res)
{
    int w = pixGetWidth(gray), h = pixGetHeight(gray);
    int half = res / 12 > 4 ? res / 12 : 4;
    PIX *b = NULL, *kept;

    /* Tiles of about 2000 pixels bound the accumulators' memory. */
    if (w > 2 * half + 2 && h > 2 * half + 2)
        pixSauvolaBinarizeTiled(gray, half, 0.34f, (w + 1999) / 2000,
                                (h + 1999) / 2000, NULL, &b);
    if (b == NULL)
        b = pixOtsuThreshOnBackgroundNorm(gray, NULL, 10, 15, 100, 50, 255, 2,
                                          2, 0.1f, NULL);
    if (b == NULL)
        b = pixThresholdToBinary(gray, 128);
    if (b == NULL)
        return NULL;
    kept =
        pixSelectBySize(b, 2, 2, 8, L_SELECT_IF_EITHER, L_SELECT_IF_GTE, NULL);
    if (kept == NULL)
        return b;
    pixDestroy(&b);
    return kept;
}

/* ---- the background ---- */

/* One level of the fill pyramid: per pixel a weight 0..1 and, per
 * component, the weighted value. */
typedef struct level {
    int w, h, nc;
    float *wt, *val; /* val: nc values per pixel, not premultiplied */
} level_t;

static void level_free(level_t *l)
{
    pm_free(l->wt);
    pm_free(l->val);
    l->wt = l->val = NULL;
}

static int level_alloc(level_t *l, int w, int h, int nc)
{
    l->w = w;
    l->h = h;
    l->nc = nc;
    l->wt = pm_calloc((size_t)w * h, sizeof(float));
    l->val = pm_calloc((size_t)w * h * nc, sizeof(float));
    if (l->wt == NULL || l->val == NULL) {
        level_free(l);
        return PM_ENOMEM;
    }
    return 0;
}

/* The next coarser level: weighted means of 2x2 blocks. */
static int level_down(const level_t *f, level_t *c)
{
    int err = level_alloc(c, (f->w + 1) / 2, (f->h + 1) / 2, f->nc);

    if (err)
        return err;
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            size_t ci = (size_t)y * c->w + x;
            float sw = 0, sv[3] = {0, 0, 0};

            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++) {
                    int fx = 2 * x + dx, fy = 2 * y + dy;
                    size_t fi = (size_t)fy * f->w + fx;

                    if (fx >= f->w || fy >= f->h || f->wt[fi] <= 0)
                        continue;
                    sw += f->wt[fi];
                    for (int k = 0; k < f->nc; k++)
                        sv[k] += f->wt[fi] * f->val[fi * f->nc + k];
                }
            c->wt[ci] = sw > 1 ? 1 : sw;
            for (int k = 0; k < f->nc && sw > 0; k++)
                c->val[ci * c->nc + k] = sv[k] / sw;
        }
    return 0;
}

/* Fills what `f` lacks (weight below 1) from the filled coarser level `c`,
 * sampled bilinearly. */
static void level_up(level_t *f, const level_t *c)
{
    for (int y = 0; y < f->h; y++) {
        float cy = (y + 0.5f) / 2 - 0.5f;
        int y0 = cy < 0 ? 0 : (int)cy, y1 = y0 + 1 < c->h ? y0 + 1 : y0;
        float ty = cy < 0 ? 0 : cy - y0;

        for (int x = 0; x < f->w; x++) {
            size_t fi = (size_t)y * f->w + x;
            float cx = (x + 0.5f) / 2 - 0.5f, a = f->wt[fi];
            int x0 = cx < 0 ? 0 : (int)cx, x1 = x0 + 1 < c->w ? x0 + 1 : x0;
            float tx = cx < 0 ? 0 : cx - x0;

            if (a >= 1)
                continue;
            for (int k = 0; k < f->nc; k++) {
                const float *v = c->val;
                int nc = c->nc;
                float top = v[((size_t)y0 * c->w + x0) * nc + k] * (1 - tx) +
                            v[((size_t)y0 * c->w + x1) * nc + k] * tx;
                float bot = v[((size_t)y1 * c->w + x0) * nc + k] * (1 - tx) +
                            v[((size_t)y1 * c->w + x1) * nc + k] * tx;
                float fill = top * (1 - ty) + bot * ty;

                f->val[fi * nc + k] = a * f->val[fi * nc + k] + (1 - a) * fill;
            }
            f->wt[fi] = 1;
        }
    }
}

/* Loads `bg` (8 or 32 bpp) into a level; pixels where `hole` (8 bpp, same
 * size) is not 0 get weight 0. */
static int level_load(level_t *l, PIX *bg, PIX *hole)
{
    int w = pixGetWidth(bg), h = pixGetHeight(bg);
    int nc = pixGetDepth(bg) == 32 ? 3 : 1;
    int err = level_alloc(l, w, h, nc);

    if (err)
        return err;
    for (int y = 0; y < h; y++) {
        const l_uint32 *bl = pixGetData(bg) + (size_t)y * pixGetWpl(bg);
        const l_uint32 *hl = pixGetData(hole) + (size_t)y * pixGetWpl(hole);

        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;

            l->wt[i] = GET_DATA_BYTE(hl, x) == 0 ? 1.0f : 0.0f;
            if (nc == 1) {
                l->val[i] = GET_DATA_BYTE(bl, x);
            } else {
                l_int32 r, g, b;

                extractRGBValues(bl[x], &r, &g, &b);
                l->val[3 * i] = (float)r;
                l->val[3 * i + 1] = (float)g;
                l->val[3 * i + 2] = (float)b;
            }
        }
    }
    return 0;
}

/* Writes the filled values back into the holes of `bg`. */
static void level_store(const level_t *l, PIX *bg, PIX *hole)
{
    for (int y = 0; y < l->h; y++) {
        l_uint32 *bl = pixGetData(bg) + (size_t)y * pixGetWpl(bg);
        const l_uint32 *hl = pixGetData(hole) + (size_t)y * pixGetWpl(hole);

        for (int x = 0; x < l->w; x++) {
            size_t i = (size_t)y * l->w + x;

            if (GET_DATA_BYTE(hl, x) == 0)
                continue;
            if (l->nc == 1) {
                SET_DATA_BYTE(bl, x, (l_int32)lroundf(l->val[i]));
            } else {
                composeRGBPixel((l_int32)lroundf(l->val[3 * i]),
                                (l_int32)lroundf(l->val[3 * i + 1]),
                                (l_int32)lroundf(l->val[3 * i + 2]), bl + x);
            }
        }
    }
}

/*
 * Fills the holes of `bg` (pixels where `hole` is set) from their
 * surroundings by push-pull: weighted means up a pyramid of halvings
 * until every pixel has a value, then back down, each level taking what
 * it lacks from the one above. A page that is all hole stays as it is.
 */
static int fill_holes(PIX *bg, PIX *hole)
{
    level_t lv[32];
    int n = 1, err;

    memset(lv, 0, sizeof(lv));
    err = level_load(&lv[0], bg, hole);
    while (!err && n < 32 && (lv[n - 1].w > 1 || lv[n - 1].h > 1)) {
        err = level_down(&lv[n - 1], &lv[n]);
        if (!err)
            n++;
    }
    if (!err && lv[n - 1].wt[0] > 0) {
        for (int i = n - 1; i > 0; i--)
            level_up(&lv[i - 1], &lv[i]);
        level_store(&lv[0], bg, hole);
    }
    for (int i = 0; i < n; i++)
        level_free(&lv[i]);
    return err;
}

/* The background: the page at 1/MRC_SCALE, with what lies under the mask
 * widened by about 1/60 inch (past the blur of the strokes' edges, which
 * would otherwise leave a halo) filled from around it. */
static PIX *background(PIX *pix, PIX *mask, int res, int *err)
{
    const float s = 1.0f / MRC_SCALE;
    int grow = 2 * (res / 66) + 1 > 3 ? 2 * (res / 66) + 1 : 3;
    PIX *bg = pixScaleAreaMap(pix, s, s);
    PIX *wide = pixDilateBrick(NULL, mask, grow, grow);
    PIX *wide8 = wide ? pixConvert1To8(NULL, wide, 0, 255) : NULL;
    PIX *hole = wide8 ? pixScaleAreaMap(wide8, s, s) : NULL;

    *err = PM_ENOMEM;
    if (bg != NULL && hole != NULL && pixGetWidth(hole) == pixGetWidth(bg) &&
        pixGetHeight(hole) == pixGetHeight(bg))
        *err = fill_holes(bg, hole);
    pixDestroy(&wide);
    pixDestroy(&wide8);
    pixDestroy(&hole);
    if (*err)
        pixDestroy(&bg);
    return bg;
}

/* ---- writing ---- */

/* Writes one layer as the next directory of `tif`; 0 or -1. */
static int write_layer(TIFF *tif, const pm_mrc_layer_t *l,
                       const pm_page_image_t *img, int bw, int bh, int nc)
{
    PIX *be = pixEndianByteSwapNew(l->mask); /* MSB-first, as TIFF wants */
    uint32_t w = (uint32_t)pixGetWidth(l->mask);
    uint32_t h = (uint32_t)pixGetHeight(l->mask);
    char desc[160];
    int ok = be != NULL;

    snprintf(desc, sizeof(desc), MRC_DESC, l->fill[0], l->fill[1], l->fill[2],
             bw, bh, nc);
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, w);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, h);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 1);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX4);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
    TIFFSetField(tif, TIFFTAG_FILLORDER, FILLORDER_MSB2LSB);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, h); /* one strip = one stream */
    TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
    TIFFSetField(tif, TIFFTAG_XRESOLUTION, (float)(img->xres * l->up));
    TIFFSetField(tif, TIFFTAG_YRESOLUTION, (float)(img->yres * l->up));
    TIFFSetField(tif, TIFFTAG_SOFTWARE, "pagemill");
    TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, desc);
    for (uint32_t y = 0; ok && y < h; y++)
        ok = TIFFWriteScanline(tif, pixGetData(be) + (size_t)y * pixGetWpl(be),
                               y, 0) == 1;
    pixDestroy(&be);
    return ok && TIFFWriteDirectory(tif) ? 0 : -1;
}

/* The strips' bytes of every directory of the TIFF at `path`. */
static long long strip_bytes(const char *path)
{
    TIFF *tif = TIFFOpen(path, "rm");
    long long sum = 0;

    if (tif == NULL)
        return 0;
    do {
        uint64_t *counts = NULL;

        if (TIFFGetField(tif, TIFFTAG_STRIPBYTECOUNTS, &counts) && counts)
            sum += (long long)counts[0];
    } while (TIFFReadDirectory(tif));
    TIFFClose(tif);
    return sum;
}

/* Writes the layers as the G4 directories of the TIFF `out`, through a
 * new temp file; *bytes is their strips' size. */
static int write_masks(pm_engine_t *eng, const pm_mrc_layer_t *l, int n,
                       const pm_page_image_t *img, int bw, int bh, int nc,
                       const char *out, long long *bytes)
{
    char *tmp = NULL;
    TIFF *tif;
    int err = pm_tmp_create(out, &tmp, NULL), ok = 1; /* new: no link */

    if (err != 0)
        return pm__engine_fail(eng, err,
                               "encode: cannot create a temp file for %s: %s",
                               out, pm_strerror(err));
    pm__lib_clear();
    errno = 0;
    tif = TIFFOpen(tmp, "w");
    for (int i = 0; tif != NULL && ok && i < n; i++)
        ok = write_layer(tif, &l[i], img, bw, bh, nc) == 0;
    if (tif != NULL)
        TIFFClose(tif);
    *bytes = tif != NULL && ok ? strip_bytes(tmp) : 0;
    if (*bytes <= 0) {
        err = pm__engine_fail(eng, PM_EENCODE,
                              "encode: G4 write to %s failed: %s", tmp,
                              pm__lib_last()[0] ? pm__lib_last()
                              : errno           ? strerror(errno)
                                                : "no strip written");
        unlink(tmp);
    } else {
        err = pm_commit_file(tmp, out);
    }
    pm_free(tmp);
    return err;
}

/* The background's path beside the mask `<base>.tif`: `<base>.bg.jpg`. */
static char *background_path(const char *mask_path)
{
    size_t n = strlen(mask_path);

    if (n < 4 || strcmp(mask_path + n - 4, ".tif") != 0)
        return NULL;
    return pm_asprintf("%.*s.bg.jpg", (int)(n - 4), mask_path);
}

int pm__encode_mrc(pm_engine_t *eng, const pm_profile_t *p,
                   const pm_page_image_t *img, const char *path_base,
                   char **path, long long *bytes)
{
    PIX *gray = NULL, *mask = NULL, *bg = NULL;
    pm_mrc_layer_t layers[PM_MRC_MAX_LAYERS];
    pm_profile_t bgp = *p;
    char *out = pm_asprintf("%s.tif", path_base), *bgpath = NULL;
    long long mbytes = 0, bbytes = 0;
    int err = PM_ENOMEM, nc = pixGetDepth(img->pix) == 32 ? 3 : 1, nl = 0;
    int bx = img->xres / MRC_SCALE, by = img->yres / MRC_SCALE;

    assert(img->kind != PM_KIND_BITONAL);
    *path = NULL;
    *bytes = 0;
    bgpath = out ? background_path(out) : NULL;
    gray = page_gray(img->pix);
    mask = gray ? pm__mrc_text_mask(gray, img->yres) : NULL;
    if (bgpath == NULL || mask == NULL)
        goto out;
    bg = background(img->pix, mask, img->yres, &err);
    if (err)
        goto out;
    /* The background is smooth and a third of the resolution: 15 below
     * the profile's quality costs no visible detail. */
    bgp.gray_codec = PM_CODEC_JPEG;
    bgp.jpeg_quality = p->jpeg_quality > 20 ? p->jpeg_quality - 15 : 5;
    err = pm__write_vips(eng, &bgp, bg, bx > 0 ? bx : 1, by > 0 ? by : 1,
                         bgpath, PM_IMG_JPEG, &bbytes);
    if (err == 0)
        err = pm__mrc_layers(img->pix, gray, mask, img->yres, layers, &nl);
    if (err == 0)
        err = write_masks(eng, layers, nl, img, pixGetWidth(bg),
                          pixGetHeight(bg), nc, out, &mbytes);
    pm__mrc_layers_free(layers, nl);
out:
    if (err == PM_ENOMEM)
        pm__engine_fail(eng, err, "encode: mrc: out of memory");
    pixDestroy(&gray);
    pixDestroy(&mask);
    pixDestroy(&bg);
    if (err) {
        if (bgpath != NULL)
            unlink(bgpath);
        if (out != NULL)
            unlink(out);
        pm_free(out);
        pm_free(bgpath);
        return err;
    }
    pm_free(bgpath);
    *path = out;
    *bytes = mbytes + bbytes;
    return 0;
}

/* ---- reading, for the assembly ---- */

/* The current directory of `tif` (the mask TIFF at `path`) into `k`, its
 * description into m's background fields (the same in every one). */
static int read_layer(pm_engine_t *eng, TIFF *tif, const char *path,
                      pm_mrc_page_t *m, pm_mrc_mask_t *k)
{
    const char *desc = NULL;
    uint16_t comp = 0;
    uint32_t w = 0, h = 0;
    uint64_t *counts = NULL;
    int ok;

    ok = TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &desc) && desc &&
         sscanf(desc, MRC_DESC, &k->fill[0], &k->fill[1], &k->fill[2],
                &m->bg_width, &m->bg_height, &m->ncomp) == 6;
    if (!ok || (m->ncomp != 1 && m->ncomp != 3) || m->bg_width <= 0 ||
        m->bg_height <= 0)
        return pm__engine_fail(eng, PM_EINVAL,
                               "%s: not an MRC mask (no or bad \"pagemill "
                               "mrc\" description)",
                               path);
    for (int c = 0; c < 3; c++)
        if (k->fill[c] < 0 || k->fill[c] > 255)
            return pm__engine_fail(eng, PM_EINVAL,
                                   "%s: MRC fill colour out of range", path);
    TIFFGetField(tif, TIFFTAG_COMPRESSION, &comp);
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
    if (comp != COMPRESSION_CCITTFAX4 || TIFFNumberOfStrips(tif) != 1 ||
        !TIFFGetField(tif, TIFFTAG_STRIPBYTECOUNTS, &counts) || !counts ||
        counts[0] == 0 || counts[0] > (512u << 20) || w == 0 || h == 0)
        return pm__engine_fail(eng, PM_EINVAL,
                               "%s: an MRC mask is not a single-strip G4 "
                               "image",
                               path);
    k->data = pm_malloc((size_t)counts[0]);
    if (k->data == NULL)
        return PM_ENOMEM;
    k->len = (size_t)counts[0];
    k->width = (int)w;
    k->height = (int)h;
    if (TIFFReadRawStrip(tif, 0, k->data, (tmsize_t)k->len) != (tmsize_t)k->len)
        return pm__engine_fail(eng, PM_EIO, "%s: short read of G4 strip", path);
    return 0;
}

/* Every directory of the mask TIFF at `path` into m->masks. */
static int read_layers(pm_engine_t *eng, const char *path, pm_mrc_page_t *m)
{
    TIFF *tif;
    int err = 0;

    pm__lib_clear();
    errno = 0;
    tif = TIFFOpen(path, "rm");
    if (tif == NULL)
        return pm__engine_fail(eng, PM_EIO, "%s: cannot open: %s", path,
                               pm__lib_last()[0] ? pm__lib_last()
                               : errno           ? strerror(errno)
                                                 : "not a TIFF");
    do {
        if (m->nmasks == PM_MRC_MASKS)
            err = pm__engine_fail(eng, PM_EINVAL, "%s: more than %d MRC masks",
                                  path, PM_MRC_MASKS);
        else
            err = read_layer(eng, tif, path, m, &m->masks[m->nmasks++]);
    } while (err == 0 && TIFFReadDirectory(tif));
    TIFFClose(tif);
    return err;
}

int pm__mrc_read(pm_engine_t *eng, const char *path, pm_mrc_page_t *m)
{
    int err;

    memset(m, 0, sizeof(*m));
    err = read_layers(eng, path, m);
    if (err == 0) {
        m->background = background_path(path);
        if (m->background == NULL)
            err = pm__engine_fail(eng, PM_EINVAL,
                                  "%s: an MRC mask is named <base>.tif", path);
    }
    if (err)
        pm__mrc_page_cleanup(m);
    return err;
}

void pm__mrc_page_cleanup(pm_mrc_page_t *m)
{
    for (int i = 0; i < m->nmasks; i++)
        pm_free(m->masks[i].data);
    pm_free(m->background);
    memset(m, 0, sizeof(*m));
}
