/*
 * load.c: the decode stage (pm_load_page, pm_load_count_frames) and
 * normalisation (pm_normalize). Decoding is Leptonica's (libtiff, libpng,
 * libjpeg, OpenJPEG underneath); this file adds what a records centre
 * needs around it: headers checked against the pixel limit before any
 * pixel buffer exists, a fallback resolution, and errors that name the
 * file, the frame and the fault.
 */
#include "workers/engine_int.h"

#include <string.h>

#include <leptonica/allheaders.h>
#include <tiffio.h>

#include "pipeline/pm.h"

#define MIN_SANE_DPI 50
#define MAX_SANE_DPI 2400

void pm_page_image_cleanup(pm_page_image_t *img)
{
    pixDestroy(&img->binary);
    pixDestroy(&img->pix);
    memset(img, 0, sizeof(*img));
}

static int format_is_tiff(l_int32 f)
{
    return f == IFF_TIFF || f == IFF_TIFF_PACKBITS || f == IFF_TIFF_RLE ||
           f == IFF_TIFF_G3 || f == IFF_TIFF_G4 || f == IFF_TIFF_LZW ||
           f == IFF_TIFF_ZIP || f == IFF_TIFF_JPEG;
}

static int format_supported(l_int32 f)
{
    return format_is_tiff(f) || f == IFF_PNG || f == IFF_JFIF_JPEG ||
           f == IFF_JP2 || f == IFF_BMP || f == IFF_PNM;
}

/* Detects the format from the file's signature. */
static int sniff(pm_engine_t *eng, const char *path, l_int32 *format)
{
    FILE *f = fopen(path, "rb");
    int err;

    *format = IFF_UNKNOWN;
    if (f == NULL) {
        err = -errno;
        return pm__engine_fail(eng, err, "%s: cannot open: %s", path,
                               strerror(-err));
    }
    fclose(f);
    pm__lib_clear();
    if (findFileFormat(path, format) != 0 || !format_supported(*format))
        return pm__engine_fail(eng, PM_EUNSUPP,
                               "%s: not a supported image (TIFF, PNG, JPEG, "
                               "JPEG 2000, BMP, PNM) or unreadable header",
                               path);
    return 0;
}

static int tiff_count(pm_engine_t *eng, const char *path, int *n)
{
    TIFF *tif;
    tdir_t count;

    pm__lib_clear();
    tif = TIFFOpen(path, "rm");
    if (tif == NULL)
        return pm__engine_fail(eng, PM_ECORRUPT, "%s: not a readable TIFF: %s",
                               path, pm__lib_last());
    count = TIFFNumberOfDirectories(tif);
    TIFFClose(tif);
    if (count < 1)
        return pm__engine_fail(eng, PM_ECORRUPT, "%s: TIFF has no pages",
                               path);
    *n = (int)count;
    return 0;
}

int pm_load_count_frames(pm_engine_t *eng, const char *path, int *nframes)
{
    l_int32 format;
    int err;

    *nframes = 0;
    err = sniff(eng, path, &format);
    if (err)
        return err;
    if (format_is_tiff(format))
        return tiff_count(eng, path, nframes);
    *nframes = 1;
    return 0;
}

/* Reads width and height of frame `frame` without decoding pixels. */
static int read_dims(pm_engine_t *eng, const char *path, l_int32 format,
                     int frame, long long *w, long long *h)
{
    l_int32 lw = 0, lh = 0, bps, spp, res, cmap, fmt;

    pm__lib_clear();
    if (format_is_tiff(format)) {
        TIFF *tif = TIFFOpen(path, "rm");
        uint32_t tw = 0, th = 0;
        int ok;

        if (tif == NULL)
            return pm__engine_fail(eng, PM_ECORRUPT, "%s: not a readable "
                                   "TIFF: %s", path, pm__lib_last());
        ok = TIFFSetDirectory(tif, (tdir_t)frame) &&
             TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &tw) &&
             TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &th);
        TIFFClose(tif);
        if (!ok)
            return pm__engine_fail(eng, PM_ECORRUPT,
                                   "%s frame %d: unreadable TIFF directory: "
                                   "%s", path, frame + 1, pm__lib_last());
        *w = tw;
        *h = th;
        return 0;
    }
    (void)res;
    (void)fmt;
    if (pixReadHeader(path, &fmt, &lw, &lh, &bps, &spp, &cmap) != 0)
        return pm__engine_fail(eng, PM_ECORRUPT,
                               "%s: unreadable image header: %s", path,
                               pm__lib_last());
    *w = lw;
    *h = lh;
    return 0;
}

static int fix_resolution(const char *path, int frame, const pm_profile_t *p,
                          PIX *pix)
{
    l_int32 xres = pixGetXRes(pix), yres = pixGetYRes(pix);
    int fallback = 0;

    /* Only one axis tagged: assume square pixels. */
    if (xres <= 0 && yres > 0)
        xres = yres;
    if (yres <= 0 && xres > 0)
        yres = xres;
    if (xres < MIN_SANE_DPI || xres > MAX_SANE_DPI || yres < MIN_SANE_DPI ||
        yres > MAX_SANE_DPI) {
        pm_log(PM_LOG_WARN, "load",
               "%s frame %d: resolution %dx%d dpi missing or absurd, "
               "using %d dpi",
               path, frame + 1, xres, yres, p->fallback_dpi);
        xres = yres = p->fallback_dpi;
        fallback = 1;
    }
    pixSetResolution(pix, xres, yres);
    return fallback;
}

int pm_load_page(pm_engine_t *eng, const char *path, int frame,
                 const pm_profile_t *p, PIX **out, int *dpi_fallback)
{
    l_int32 format;
    long long w = 0, h = 0;
    int nframes, err;
    PIX *pix;

    *out = NULL;
    *dpi_fallback = 0;
    err = pm_load_count_frames(eng, path, &nframes);
    if (err)
        return err;
    format = IFF_UNKNOWN;
    findFileFormat(path, &format);
    if (frame < 0 || frame >= nframes)
        return pm__engine_fail(eng, PM_EINVAL,
                               "%s: frame %d requested, file has %d", path,
                               frame + 1, nframes);
    err = read_dims(eng, path, format, frame, &w, &h);
    if (err)
        return err;
    if (w <= 0 || h <= 0)
        return pm__engine_fail(eng, PM_ECORRUPT,
                               "%s frame %d: image has no pixels (%lldx%lld)",
                               path, frame + 1, w, h);
    if (w * h > p->max_pixels)
        return pm__engine_fail(eng, PM_ETOOBIG,
                               "%s frame %d: %lldx%lld pixels exceeds the "
                               "limit of %lld pixels; not decoded",
                               path, frame + 1, w, h, p->max_pixels);
    pm__lib_clear();
    if (format_is_tiff(format))
        pix = pixReadTiff(path, frame);
    else
        pix = pixRead(path);
    if (pix == NULL)
        return pm__engine_fail(eng, PM_ECORRUPT,
                               "%s frame %d: cannot decode: %s", path,
                               frame + 1,
                               pm__lib_last()[0] ? pm__lib_last()
                                                 : "corrupt or truncated data");
    if ((long long)pixGetWidth(pix) != w || (long long)pixGetHeight(pix) != h) {
        pixDestroy(&pix);
        return pm__engine_fail(eng, PM_ECORRUPT,
                               "%s frame %d: decoded size differs from header",
                               path, frame + 1);
    }
    *dpi_fallback = fix_resolution(path, frame, p, pix);
    *out = pix;
    return 0;
}

/* ---- normalisation ---- */

/* True when every pixel of a 32 bpp image has R == G == B. */
static int rgb_is_gray(PIX *pix)
{
    l_int32 w = pixGetWidth(pix), h = pixGetHeight(pix);
    l_int32 wpl = pixGetWpl(pix);
    const l_uint32 *data = pixGetData(pix);

    for (l_int32 y = 0; y < h; y++) {
        const l_uint32 *line = data + (size_t)y * (size_t)wpl;
        for (l_int32 x = 0; x < w; x++) {
            l_uint32 v = line[x];
            l_uint32 r = v >> 24, g = (v >> 16) & 0xff, b = (v >> 8) & 0xff;
            if (r != g || g != b)
                return 0;
        }
    }
    return 1;
}

/* True when an 8 bpp image uses only black and white. */
static int gray_is_bitonal(PIX *pix)
{
    NUMA *hist = pixGetGrayHistogram(pix, 1);
    l_int32 n, used = 0;
    l_float32 v;
    int bitonal = 1;

    if (hist == NULL)
        return 0;
    n = numaGetCount(hist);
    for (l_int32 i = 0; i < n; i++) {
        numaGetFValue(hist, i, &v);
        if (v > 0) {
            used++;
            if (i != 0 && i != 255)
                bitonal = 0;
        }
    }
    numaDestroy(&hist);
    return bitonal && used > 0;
}

/* Replaces *pix by `next` (taking care of NULL = failure). */
static int replace(PIX **pix, PIX *next)
{
    if (next == NULL)
        return -1;
    if (next != *pix)
        pixDestroy(pix);
    *pix = next;
    return 0;
}

/* Brings any decoded image to 1 bpp, 8 bpp gray or 32 bpp RGB (no alpha). */
static int to_canonical_depth(PIX **pix)
{
    l_int32 d;

    if (pixGetColormap(*pix) != NULL &&
        replace(pix, pixRemoveColormap(*pix, REMOVE_CMAP_BASED_ON_SRC)) != 0)
        return -1;
    d = pixGetDepth(*pix);
    if ((d == 2 || d == 4) && replace(pix, pixConvertTo8(*pix, 0)) != 0)
        return -1;
    if (d == 16 && replace(pix, pixConvert16To8(*pix, L_MS_BYTE)) != 0)
        return -1;
    if (d == 24 && replace(pix, pixConvert24To32(*pix)) != 0)
        return -1;
    if (pixGetDepth(*pix) == 32 && pixGetSpp(*pix) == 4 &&
        replace(pix, pixAlphaBlendUniform(*pix, 0xffffff00)) != 0)
        return -1;
    if (pixGetDepth(*pix) == 32)
        pixSetSpp(*pix, 3);
    d = pixGetDepth(*pix);
    return (d == 1 || d == 8 || d == 32) ? 0 : -1;
}

/* Background-normalised Otsu: robust to uneven paper and shading. */
static PIX *binarize(PIX *pix8)
{
    l_int32 thresh;
    PIX *b = pixOtsuThreshOnBackgroundNorm(pix8, NULL, 10, 15, 100, 50, 255,
                                           2, 2, 0.1f, &thresh);

    return b != NULL ? b : pixThresholdToBinary(pix8, 128);
}

int pm_normalize(pm_engine_t *eng, PIX *pix, const pm_profile_t *p,
                 pm_page_image_t *img)
{
    l_int32 xres = pixGetXRes(pix), yres = pixGetYRes(pix);
    PIX *gray = NULL;

    memset(img, 0, sizeof(*img));
    pm__lib_clear();
    if (to_canonical_depth(&pix) != 0)
        goto fail;
    if (pixGetDepth(pix) == 32 &&
        (p->color_mode != PM_COLOR_AUTO || rgb_is_gray(pix)) &&
        replace(&pix, pixConvertRGBToLuminance(pix)) != 0)
        goto fail;
    if (pixGetDepth(pix) == 8 &&
        (p->color_mode == PM_COLOR_BITONAL || gray_is_bitonal(pix))) {
        if (replace(&pix, p->color_mode == PM_COLOR_BITONAL
                              ? binarize(pix)
                              : pixThresholdToBinary(pix, 128)) != 0)
            goto fail;
    }
    switch (pixGetDepth(pix)) {
    case 1:
        img->kind = PM_KIND_BITONAL;
        img->binary = pixClone(pix);
        break;
    case 8:
        img->kind = PM_KIND_GRAY;
        img->binary = binarize(pix);
        break;
    default:
        img->kind = PM_KIND_COLOR;
        gray = pixConvertRGBToLuminance(pix);
        img->binary = gray != NULL ? binarize(gray) : NULL;
        pixDestroy(&gray);
        break;
    }
    if (img->binary == NULL)
        goto fail;
    pixSetResolution(pix, xres, yres);
    pixSetResolution(img->binary, xres, yres);
    img->pix = pix;
    img->xres = xres;
    img->yres = yres;
    return 0;

fail:
    pixDestroy(&pix);
    pm_page_image_cleanup(img);
    return pm__engine_fail(eng, PM_EUNSUPP,
                           "cannot convert image to 1/8/24-bit: %s",
                           pm__lib_last()[0] ? pm__lib_last() : "no memory");
}
