/*
 * tiff_master.c: the bag's multi-page TIFF master (docs/archival.md),
 * written by the assembly beside the PDF from the same spooled page
 * artifacts, in the PDF's page order, one page in memory at a time.
 *
 *   bitonal pages   the page's G4 strip, byte for byte (CCITT T.6,
 *                   MinIsWhite): the PDF's /CCITTFaxDecode stream;
 *   gray, colour    with `tiff_master = g4+jpeg` the page's JPEG file as
 *                   the one strip of a JPEG-compressed page (the PDF's
 *                   /DCTDecode stream, so the same pixels); a JPEG 2000
 *                   page, and every page with `g4+deflate`, decoded and
 *                   deflated (lossless: the pixels the PDF's image
 *                   decodes to);
 *   mrc pages       the full page before the mask and background split
 *                   (`<base>.page.jpg`, encode.c), not the two layers.
 *
 * Every page has Orientation 1 (the pages are upright already), its
 * resolution in dots per inch, PageNumber and SubfileType page.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <leptonica/allheaders.h>
#include <tiffio.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"

#define MAX_PAGE_FILE (512u << 20)

/* What the SOF of a JPEG says. */
typedef struct jpeg_sof {
    int width, height, ncomp;
    int h, v; /* sampling factors of the first (luma) component */
    int hmax, vmax;
} jpeg_sof_t;

/* Finds the frame header of the JPEG in buf[len]; 0 or -1. */
static int jpeg_sof(const unsigned char *b, size_t len, jpeg_sof_t *s)
{
    size_t i = 2;

    memset(s, 0, sizeof(*s));
    if (len < 4 || b[0] != 0xff || b[1] != 0xd8)
        return -1;
    while (i + 4 <= len) {
        unsigned m = b[i + 1], seg = (unsigned)b[i + 2] << 8 | b[i + 3];

        if (b[i] != 0xff)
            return -1;
        if (m == 0xff) {
            i++;
            continue;
        }
        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
            if (i + 2 + seg > len || seg < 8)
                return -1;
            s->height = b[i + 5] << 8 | b[i + 6];
            s->width = b[i + 7] << 8 | b[i + 8];
            s->ncomp = b[i + 9];
            if (seg < 8u + 3u * (unsigned)s->ncomp || s->ncomp < 1)
                return -1;
            for (int c = 0; c < s->ncomp; c++) {
                int hv = b[i + 11 + 3 * c];

                if (c == 0) {
                    s->h = hv >> 4;
                    s->v = hv & 15;
                }
                s->hmax = (hv >> 4) > s->hmax ? hv >> 4 : s->hmax;
                s->vmax = (hv & 15) > s->vmax ? hv & 15 : s->vmax;
            }
            return s->width > 0 && s->height > 0 ? 0 : -1;
        }
        i += 2 + seg;
    }
    return -1;
}

/* Tags every page carries. */
static void page_tags(TIFF *tif, const pm_page_result_t *pg, uint32_t w,
                      uint32_t h, int index, int count)
{
    TIFFSetField(tif, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, w);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, h);
    TIFFSetField(tif, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
    TIFFSetField(tif, TIFFTAG_XRESOLUTION, (float)pg->xres);
    TIFFSetField(tif, TIFFTAG_YRESOLUTION, (float)pg->yres);
    TIFFSetField(tif, TIFFTAG_PAGENUMBER, (uint16_t)index, (uint16_t)count);
    TIFFSetField(tif, TIFFTAG_SOFTWARE, "pagemill");
}

/* The master image of an mrc page: "<base>.tif" -> "<base>.page.jpg". */
static char *mrc_master_path(const char *mask)
{
    size_t n = strlen(mask);

    if (n < 4 || strcmp(mask + n - 4, ".tif") != 0)
        return NULL;
    return pm_asprintf("%.*s.page.jpg", (int)(n - 4), mask);
}

static int g4_page(pm_engine_t *eng, TIFF *tif, const pm_page_result_t *pg,
                   int index, int count)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int w = 0, h = 0, err;

    err = pm_encode_read_g4(eng, pg->image, &data, &len, &w, &h);
    if (err)
        return err;
    page_tags(tif, pg, (uint32_t)w, (uint32_t)h, index, count);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 1);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX4);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
    TIFFSetField(tif, TIFFTAG_FILLORDER, FILLORDER_MSB2LSB);
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, (uint32_t)h);
    if (TIFFWriteRawStrip(tif, 0, data, (tmsize_t)len) != (tmsize_t)len)
        err = PM_EENCODE;
    pm_free(data);
    return err;
}

/* The JPEG in buf[len] as the one strip of a JPEG-compressed page. */
static int jpeg_page(TIFF *tif, const pm_page_result_t *pg,
                     const unsigned char *buf, size_t len, int index, int count)
{
    jpeg_sof_t s;

    if (jpeg_sof(buf, len, &s) != 0 || (s.ncomp != 1 && s.ncomp != 3) ||
        s.h < 1 || s.v < 1)
        return PM_EINVAL;
    page_tags(tif, pg, (uint32_t)s.width, (uint32_t)s.height, index, count);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, s.ncomp);
    TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
    TIFFSetField(tif, TIFFTAG_JPEGTABLESMODE, 0); /* tables in the strip */
    if (s.ncomp == 3) {
        TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
        TIFFSetField(tif, TIFFTAG_YCBCRSUBSAMPLING, (uint16_t)s.h,
                     (uint16_t)s.v);
    } else {
        TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    }
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, (uint32_t)s.height);
    if (TIFFWriteRawStrip(tif, 0, (void *)buf, (tmsize_t)len) != (tmsize_t)len)
        return PM_EENCODE;
    return 0;
}

/* The 8 or 32 bpp `pix`, row by row, deflated. */
static int deflate_page(TIFF *tif, const pm_page_result_t *pg, PIX *pix,
                        int index, int count)
{
    uint32_t w = (uint32_t)pixGetWidth(pix), h = (uint32_t)pixGetHeight(pix);
    int ncomp = pixGetDepth(pix) == 32 ? 3 : 1, err = 0;
    unsigned char *row = pm_malloc((size_t)w * (size_t)ncomp);

    if (row == NULL)
        return PM_ENOMEM;
    page_tags(tif, pg, w, h, index, count);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, ncomp);
    TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
    TIFFSetField(tif, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC,
                 ncomp == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(tif, 0));
    for (uint32_t y = 0; err == 0 && y < h; y++) {
        const l_uint32 *line = pixGetData(pix) + (size_t)y * pixGetWpl(pix);

        for (uint32_t x = 0; x < w; x++) {
            if (ncomp == 1) {
                row[x] = (unsigned char)GET_DATA_BYTE(line, x);
            } else {
                l_int32 r, g, b;

                extractRGBValues(line[x], &r, &g, &b);
                row[3 * x] = (unsigned char)r;
                row[3 * x + 1] = (unsigned char)g;
                row[3 * x + 2] = (unsigned char)b;
            }
        }
        if (TIFFWriteScanline(tif, row, y, 0) != 1)
            err = PM_EENCODE;
    }
    pm_free(row);
    return err;
}

/* A gray or colour page from the image file at `path` (JPEG or JPEG
 * 2000): kept as JPEG when `keep` and it is one, else decoded and
 * deflated. */
static int image_page(pm_engine_t *eng, TIFF *tif, const pm_page_result_t *pg,
                      const char *path, int keep, int index, int count)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    PIX *pix = NULL;
    int err = pm_read_file(path, MAX_PAGE_FILE, &buf, &len);

    if (err)
        return pm__engine_fail(eng, err, "TIFF master: cannot read %s: %s",
                               path, pm_strerror(err));
    if (keep && len > 2 && buf[0] == 0xff && buf[1] == 0xd8) {
        err = jpeg_page(tif, pg, buf, len, index, count);
    } else {
        pm__lib_clear();
        pix = pixReadMem(buf, len);
        if (pix != NULL && pixGetDepth(pix) != 8 && pixGetDepth(pix) != 32)
            pixDestroy(&pix);
        err = pix ? deflate_page(tif, pg, pix, index, count) : PM_EINVAL;
        pixDestroy(&pix);
    }
    pm_free(buf);
    if (err == PM_EINVAL)
        return pm__engine_fail(eng, err,
                               "TIFF master: %s: not a readable page "
                               "image",
                               path);
    return err;
}

static int add_page(pm_engine_t *eng, TIFF *tif, const pm_doc_task_t *d,
                    const pm_page_result_t *pg, int index, int count)
{
    int keep = d->tiff_master == PM_TIFF_G4_JPEG, err;
    char *master;

    if (pg->codec == PM_IMG_G4)
        err = g4_page(eng, tif, pg, index, count);
    else if (pg->codec != PM_IMG_MRC)
        err = image_page(eng, tif, pg, pg->image, keep, index, count);
    else if ((master = mrc_master_path(pg->image)) == NULL)
        err = pm__engine_fail(eng, PM_EINVAL,
                              "TIFF master: %s: not an mrc mask", pg->image);
    else {
        err = image_page(eng, tif, pg, master, keep, index, count);
        pm_free(master);
    }
    if (err == 0 && !TIFFWriteDirectory(tif))
        err = PM_EENCODE;
    if (err == PM_EENCODE)
        pm__engine_fail(eng, err, "TIFF master %s: page %d: %s", d->tif,
                        pg->page,
                        pm__lib_last()[0] ? pm__lib_last() : "write failed");
    return err;
}

double pm_engine_take_tiff_ms(pm_engine_t *eng)
{
    double ms = eng->tiff_ms;

    eng->tiff_ms = 0;
    return ms;
}

static int write_master(pm_engine_t *eng, const pm_doc_task_t *d,
                        const pm_page_source_t *src, int count)
{
    pm_page_result_t pg;
    char *tmp = NULL;
    TIFF *tif;
    int err, index = 0, more = 1;

    memset(&pg, 0, sizeof(pg));
    err = pm__source_rewind(eng, src);
    if (err != 0)
        return err;
    err = pm_tmp_create(d->tif, &tmp, NULL); /* new: no link followed */
    if (err != 0)
        return pm__engine_fail(eng, err, "%s: cannot create a temp file: %s",
                               d->tif, pm_strerror(err));
    pm__lib_clear();
    tif = TIFFOpen(tmp, "w");
    if (tif == NULL)
        err = pm__engine_fail(eng, PM_EIO, "%s: cannot create: %s", tmp,
                              pm__lib_last()[0] ? pm__lib_last() : "libtiff");
    while (tif != NULL && err == 0 && more) {
        more = pm__source_next(eng, src, &pg);
        if (more < 0)
            err = more;
        else if (more > 0 && pg.ok && index >= count)
            err = pm__engine_fail(eng, PM_EINVAL,
                                  "TIFF master %s: more than %d pages", d->tif,
                                  count);
        else if (more > 0 && pg.ok)
            err = add_page(eng, tif, d, &pg, index++, count);
    }
    pm_page_result_cleanup(&pg);
    if (tif != NULL)
        TIFFClose(tif);
    if (err == 0) {
        err = pm_commit_file(tmp, d->tif);
        if (err)
            pm__engine_fail(eng, err, "%s: %s", d->tif, pm_strerror(err));
    } else {
        unlink(tmp);
    }
    pm_free(tmp);
    return err;
}

int pm__tiff_master_write(pm_engine_t *eng, const pm_doc_task_t *d,
                          const pm_page_source_t *src, int count)
{
    double t0 = pm_now_ms();
    int err = write_master(eng, d, src, count);

    eng->tiff_ms += pm__since(t0);
    return err;
}
