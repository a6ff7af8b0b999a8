/*
 * pdf_image.c: image XObject streams into pixes (pdf_int.h). A CCITT
 * stream is wrapped, as it is, in a one-strip TIFF in memory for
 * Leptonica (libtiff decodes it); samples qpdf decoded (Flate, LZW, ...)
 * are laid into a pix row by row, after checking there are enough.
 */
#include <stdint.h>
#include <string.h>

#include <leptonica/allheaders.h>

#include "pipeline/base/pm.h"
#include "workers/pdf_int.h"

#define TIFF_ENTRIES 11 /* in tag order, as TIFF requires */

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

/* One IFD entry of type SHORT (3) or LONG (4), count 1. */
static unsigned char *entry(unsigned char *p, unsigned tag, unsigned type,
                            uint32_t value)
{
    put16(p, tag);
    put16(p + 2, type);
    put32(p + 4, 1);
    put32(p + 8, 0);
    if (type == 3)
        put16(p + 8, value);
    else
        put32(p + 8, value);
    return p + 12;
}

struct Pix *pm__pdf_ccitt_pix(const pm_pdf_image_t *im,
                              const unsigned char *data, size_t len)
{
    size_t head = 8 + 2 + 12 * TIFF_ENTRIES + 4;
    unsigned char *t, *p;
    int g4 = im->ccitt_k < 0;
    unsigned photometric = im->ccitt_black_is_1 ? 1 : 0; /* 0: WhiteIsZero */
    PIX *pix;

    if (len == 0 || len > UINT32_MAX - head || im->width > UINT32_MAX ||
        im->height > UINT32_MAX)
        return NULL;
    if (im->invert)
        photometric ^= 1;
    t = pm_malloc(head + len);
    if (t == NULL)
        return NULL;
    memcpy(t, "II*\0", 4);
    put32(t + 4, 8);
    put16(t + 8, TIFF_ENTRIES);
    p = t + 10;
    p = entry(p, 256, 4, (uint32_t)im->width);  /* ImageWidth */
    p = entry(p, 257, 4, (uint32_t)im->height); /* ImageLength */
    p = entry(p, 258, 3, 1);                    /* BitsPerSample */
    p = entry(p, 259, 3, g4 ? 4 : 3);           /* Compression */
    p = entry(p, 262, 3, photometric);          /* Photometric */
    p = entry(p, 266, 3, 1);                    /* FillOrder: MSB first */
    p = entry(p, 273, 4, (uint32_t)head);       /* StripOffsets */
    p = entry(p, 277, 3, 1);                    /* SamplesPerPixel */
    p = entry(p, 278, 4, (uint32_t)im->height); /* RowsPerStrip */
    p = entry(p, 279, 4, (uint32_t)len);        /* StripByteCounts */
    /* T4Options: 2-D coding when K > 0, fill bits when byte-aligned;
     * T6Options: none */
    p = g4 ? entry(p, 293, 4, 0)
           : entry(p, 292, 4,
                   (im->ccitt_k > 0 ? 1u : 0u) |
                       (im->ccitt_byte_align ? 4u : 0u));
    put32(p, 0); /* no next directory */
    memcpy(t + head, data, len);
    pix = pixReadMemTiff(t, head + len, 0);
    pm_free(t);
    return pix;
}

/* Row `y` of 1-bit samples into a 1 bpp pix (1 = black there, while a
 * DeviceGray sample of 1 is white). */
static void row1(PIX *pix, int y, const unsigned char *src, int invert)
{
    l_uint32 *line = pixGetData(pix) + (size_t)y * pixGetWpl(pix);
    l_int32 w = pixGetWidth(pix);

    for (l_int32 x = 0; x < w; x++) {
        int bit = (src[x >> 3] >> (7 - (x & 7))) & 1;

        if (bit ^ invert ^ 1)
            SET_DATA_BIT(line, x);
    }
}

struct Pix *pm__pdf_raw_pix(const pm_pdf_image_t *im, const unsigned char *data,
                            size_t len)
{
    size_t stride, need;
    l_int32 w, h;
    PIX *pix;

    if ((im->bpc != 1 && im->bpc != 8) || (im->ncomp != 1 && im->ncomp != 3) ||
        (im->bpc == 1 && im->ncomp != 1) || im->width <= 0 || im->height <= 0 ||
        im->width > INT32_MAX / 32 || im->height > INT32_MAX / 32)
        return NULL;
    w = (l_int32)im->width;
    h = (l_int32)im->height;
    stride = ((size_t)w * (size_t)im->ncomp * (size_t)im->bpc + 7) / 8;
    need = stride * (size_t)h;
    if (len < need)
        return NULL; /* short: damaged or cut off */
    pix = pixCreate(w, h, im->bpc == 1 ? 1 : im->ncomp == 1 ? 8 : 32);
    if (pix == NULL)
        return NULL;
    for (l_int32 y = 0; y < h; y++) {
        const unsigned char *src = data + (size_t)y * stride;
        l_uint32 *line = pixGetData(pix) + (size_t)y * pixGetWpl(pix);

        if (im->bpc == 1) {
            row1(pix, y, src, im->invert);
        } else if (im->ncomp == 1) {
            for (l_int32 x = 0; x < w; x++)
                SET_DATA_BYTE(line, x, im->invert ? 255 - src[x] : src[x]);
        } else {
            for (l_int32 x = 0; x < w; x++)
                line[x] = (l_uint32)src[3 * x] << 24 |
                          (l_uint32)src[3 * x + 1] << 16 |
                          (l_uint32)src[3 * x + 2] << 8;
        }
    }
    if (pixGetDepth(pix) == 32)
        pixSetSpp(pix, 3);
    return pix;
}
