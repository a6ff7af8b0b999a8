/*
 * mrc.c: mixed raster content for gray and colour pages of a profile with
 * `compression = mrc`, the way capture servers shrink them. A page
 * becomes two images:
 *
 *   mask        the text, full resolution, 1 bpp (Sauvola's local
 *               threshold, specks dropped), a single-strip CCITT G4 TIFF
 *               `<base>.tif`; the PDF draws it as an /ImageMask in one
 *               colour, the page's text colour;
 *   background  the page at a third of its resolution with the pixels
 *               under the (widened) mask filled in from their
 *               surroundings, so that it is smooth and compresses, as
 *               JPEG `<base>.bg.jpg` at 15 below the profile's
 *               jpeg_quality.
 *
 * The mask's TIFF says in its ImageDescription what the assembly needs
 * besides the two streams: the fill colour and the background's size,
 * "pagemill mrc: fill R G B; background WxH; components N". Both files
 * are plain images a reader opens as they are (the archival package takes
 * them without re-encoding). No transparency: an image mask is a stencil,
 * allowed in every PDF/A part.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <leptonica/allheaders.h>
#include <tiffio.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"

#define MRC_SCALE 3 /* background resolution: page resolution / 3 */
/* A page below MRC_MASK_MIN_DPI gets its mask at the whole multiple of its
 * resolution nearest above MRC_MASK_DPI (at most MRC_MASK_MAX_UP),
 * thresholded from the gray page scaled up and thinned by a pixel across
 * (strokes thresholded from a scaled-up page come out a little bold): at
 * 100 dpi a 1-bit mask loses the gray edges small text is read from
 * (docs/resolution.md). */
#define MRC_MASK_MIN_DPI 200
#define MRC_MASK_DPI     300
#define MRC_MASK_MAX_UP  3
#define MRC_DESC         "pagemill mrc: fill %d %d %d; background %dx%d; components %d"

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
static PIX *text_mask(PIX *gray, int res)
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

/* The text colour: the darker third of the page's pixels under the mask
 * (edges of strokes are lighter than their core). White when no mask. */
static void fill_colour(PIX *pix, PIX *mask, int fill[3])
{
    l_int32 n = 0;
    l_float32 r = 255, g = 255, b = 255;

    fill[0] = fill[1] = fill[2] = 0;
    if (pixCountPixels(mask, &n, NULL) != 0 || n == 0)
        return;
    if (pixGetDepth(pix) == 32) {
        if (pixGetRankValueMaskedRGB(pix, mask, 0, 0, n > 20000 ? 2 : 1, 0.33f,
                                     &r, &g, &b) != 0)
            r = g = b = 0;
    } else if (pixGetRankValueMasked(pix, mask, 0, 0, n > 20000 ? 2 : 1, 0.33f,
                                     &r, NULL) != 0) {
        r = 0;
    }
    fill[0] = (int)lroundf(r);
    fill[1] = (int)lroundf(g);
    fill[2] = (int)lroundf(b);
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

/* The text mask to write: the page's own `mask` (a new reference), or,
 * below MRC_MASK_MIN_DPI, one thresholded from `gray` scaled up by *up. */
static PIX *written_mask(PIX *gray, PIX *mask, int res, int *up)
{
    PIX *big, *m;

    *up = 1;
    if (res <= 0 || res >= MRC_MASK_MIN_DPI)
        return pixClone(mask);
    *up = (MRC_MASK_DPI + res - 1) / res;
    if (*up > MRC_MASK_MAX_UP)
        *up = MRC_MASK_MAX_UP;
    big = pixScaleGrayLI(gray, (float)*up, (float)*up);
    m = big ? text_mask(big, res * *up) : NULL;
    if (m != NULL) { /* a pixel thinner across: see MRC_MASK_MIN_DPI */
        PIX *thin = pixErodeBrick(NULL, m, 2, 1);
        pixDestroy(&m);
        m = thin;
    }
    pixDestroy(&big);
    if (m != NULL)
        return m;
    *up = 1;
    return pixClone(mask);
}

static int write_mask(pm_engine_t *eng, PIX *mask, int up,
                      const pm_page_image_t *img, const char *desc,
                      const char *out, long long *bytes)
{
    char *tmp = NULL;
    int err = pm_tmp_create(out, &tmp, NULL); /* new: no link followed */

    if (err != 0)
        return pm__engine_fail(eng, err,
                               "encode: cannot create a temp file for %s: %s",
                               out, pm_strerror(err));
    err = pm__write_g4(eng, mask, img->xres * up, img->yres * up, desc, tmp,
                       bytes);
    if (err == 0)
        err = pm_commit_file(tmp, out);
    else
        unlink(tmp);
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
    pm_profile_t bgp = *p;
    char *out = pm_asprintf("%s.tif", path_base), *bgpath = NULL;
    char desc[160];
    long long mbytes = 0, bbytes = 0;
    int fill[3], err = PM_ENOMEM, nc = pixGetDepth(img->pix) == 32 ? 3 : 1;
    int bx = img->xres / MRC_SCALE, by = img->yres / MRC_SCALE;

    assert(img->kind != PM_KIND_BITONAL);
    *path = NULL;
    *bytes = 0;
    bgpath = out ? background_path(out) : NULL;
    gray = page_gray(img->pix);
    mask = gray ? text_mask(gray, img->yres) : NULL;
    if (bgpath == NULL || mask == NULL)
        goto out;
    fill_colour(img->pix, mask, fill);
    bg = background(img->pix, mask, img->yres, &err);
    if (err)
        goto out;
    snprintf(desc, sizeof(desc), MRC_DESC, fill[0], fill[1], fill[2],
             pixGetWidth(bg), pixGetHeight(bg), nc);
    /* The background is smooth and a third of the resolution: 15 below
     * the profile's quality costs no visible detail. */
    bgp.gray_codec = PM_CODEC_JPEG;
    bgp.jpeg_quality = p->jpeg_quality > 20 ? p->jpeg_quality - 15 : 5;
    err = pm__write_vips(eng, &bgp, bg, bx > 0 ? bx : 1, by > 0 ? by : 1,
                         bgpath, PM_IMG_JPEG, &bbytes);
    if (err == 0) {
        int up = 1;
        PIX *wm = written_mask(gray, mask, img->yres, &up);

        err = wm ? write_mask(eng, wm, up, img, desc, out, &mbytes) : PM_ENOMEM;
        pixDestroy(&wm);
    }
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

/* The description of the mask TIFF at `path` into `m`. */
static int read_desc(pm_engine_t *eng, const char *path, pm_mrc_page_t *m)
{
    TIFF *tif;
    const char *desc = NULL;
    int ok;

    pm__lib_clear();
    tif = TIFFOpen(path, "rm");
    if (tif == NULL)
        return pm__engine_fail(eng, PM_EIO, "%s: cannot open: %s", path,
                               pm__lib_last()[0] ? pm__lib_last()
                                                 : "not a TIFF");
    ok = TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &desc) && desc &&
         sscanf(desc, MRC_DESC, &m->fill[0], &m->fill[1], &m->fill[2],
                &m->bg_width, &m->bg_height, &m->ncomp) == 6;
    TIFFClose(tif);
    if (!ok || (m->ncomp != 1 && m->ncomp != 3) || m->bg_width <= 0 ||
        m->bg_height <= 0)
        return pm__engine_fail(eng, PM_EINVAL,
                               "%s: not an MRC mask (no or bad \"pagemill "
                               "mrc\" description)",
                               path);
    for (int k = 0; k < 3; k++)
        if (m->fill[k] < 0 || m->fill[k] > 255)
            return pm__engine_fail(eng, PM_EINVAL,
                                   "%s: MRC fill colour out of range", path);
    return 0;
}

int pm__mrc_read(pm_engine_t *eng, const char *path, pm_mrc_page_t *m)
{
    int err;

    memset(m, 0, sizeof(*m));
    err = read_desc(eng, path, m);
    if (err == 0)
        err = pm_encode_read_g4(eng, path, &m->mask, &m->mask_len, &m->width,
                                &m->height);
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
    pm_free(m->mask);
    pm_free(m->background);
    memset(m, 0, sizeof(*m));
}
