/*
 * encode.c: the encode stage. Bitonal pages become a single-strip CCITT G4
 * TIFF (libtiff), whose one strip is exactly the stream the PDF embeds.
 * Gray and colour pages become JPEG or JPEG 2000 through libvips; those
 * files are embedded in the PDF byte for byte. No page is ever encoded
 * lossily twice: a JPEG scan that no stage changed is kept as it came
 * (pm_encode_keep_jpeg), and the JPEGs written here are progressive with
 * optimised Huffman tables (6-10% smaller than baseline at the same
 * quality, the same pixels).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <leptonica/allheaders.h>
#include <tiffio.h>
#include <vips/vips.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"

int pm__write_g4(pm_engine_t *eng, PIX *pix, int xres, int yres,
                 const char *desc, const char *tmp, long long *bytes)
{
    uint32_t w = (uint32_t)pixGetWidth(pix), h = (uint32_t)pixGetHeight(pix);
    PIX *be = pixEndianByteSwapNew(pix); /* MSB-first bytes, as TIFF wants */
    const l_uint32 *data;
    l_int32 wpl;
    uint64_t *counts = NULL;
    TIFF *tif;
    int ok = 1;

    if (be == NULL)
        return pm__engine_fail(eng, PM_ENOMEM, "encode: out of memory");
    pm__lib_clear();
    errno = 0;
    tif = TIFFOpen(tmp, "w");
    if (tif == NULL) {
        /* Leptonica resets libtiff's message handlers, so the reason is
         * usually errno's. */
        int err = errno ? -errno : PM_EENCODE;

        pixDestroy(&be);
        return pm__engine_fail(eng, err, "encode: cannot create %s: %s", tmp,
                               pm__lib_last()[0] ? pm__lib_last()
                                                 : pm_strerror(err));
    }
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
    TIFFSetField(tif, TIFFTAG_XRESOLUTION, (float)xres);
    TIFFSetField(tif, TIFFTAG_YRESOLUTION, (float)yres);
    TIFFSetField(tif, TIFFTAG_SOFTWARE, "pagemill");
    if (desc != NULL)
        TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, desc);
    data = pixGetData(be);
    wpl = pixGetWpl(be);
    for (uint32_t y = 0; ok && y < h; y++)
        ok =
            TIFFWriteScanline(tif, (void *)(data + (size_t)y * wpl), y, 0) == 1;
    ok = ok && TIFFWriteDirectory(tif);
    /* Read the directory back for the size of the one strip. */
    if (ok && TIFFSetDirectory(tif, 0) &&
        TIFFGetField(tif, TIFFTAG_STRIPBYTECOUNTS, &counts) && counts)
        *bytes = (long long)counts[0];
    TIFFClose(tif);
    pixDestroy(&be);
    if (!ok || *bytes <= 0)
        return pm__engine_fail(
            eng, PM_EENCODE, "encode: G4 write to %s failed: %s", tmp,
            pm__lib_last()[0] ? pm__lib_last() : "no strip written");
    return 0;
}

/*
 * Returns a copy of the JPEG in buf with a JFIF APP0 segment giving its
 * density in dots per inch, or NULL when out of memory. libvips writes
 * the resolution only into EXIF, which "strip" removes; JFIF is where
 * readers (Leptonica, viewers) look for it.
 */
static unsigned char *jpeg_with_jfif(const unsigned char *buf, size_t len,
                                     int xres, int yres, size_t *outlen)
{
    unsigned char app0[18] = {0xff, 0xe0, 0, 16, 'J', 'F', 'I',
                              'F',  0,    1, 1,  1, /* units: dots per inch */
                              0,    0,    0, 0,  0,   0};
    size_t skip = 2; /* SOI */
    unsigned char *out;

    app0[12] = (unsigned char)(xres >> 8);
    app0[13] = (unsigned char)xres;
    app0[14] = (unsigned char)(yres >> 8);
    app0[15] = (unsigned char)yres;
    /* Replace a JFIF segment the encoder may have written itself. */
    if (len >= 20 && buf[2] == 0xff && buf[3] == 0xe0 &&
        memcmp(buf + 6, "JFIF", 5) == 0)
        skip = 4 + ((size_t)buf[4] << 8 | buf[5]);
    if (len < skip)
        skip = len;
    out = pm_malloc(len - skip + 2 + sizeof(app0));
    if (out == NULL)
        return NULL;
    out[0] = 0xff;
    out[1] = 0xd8;
    memcpy(out + 2, app0, sizeof(app0));
    memcpy(out + 2 + sizeof(app0), buf + skip, len - skip);
    *outlen = len - skip + 2 + sizeof(app0);
    return out;
}

int pm__write_vips(pm_engine_t *eng, const pm_profile_t *p, PIX *pix, int xres,
                   int yres, const char *tmp, pm_img_codec_t codec,
                   long long *bytes)
{
    l_uint8 *raster = NULL;
    size_t nbytes = 0;
    int bands = pixGetDepth(pix) == 8 ? 1 : 3;
    VipsImage *mem, *img = NULL;
    void *buf = NULL;
    size_t len = 0;
    int rc;

    if (pixGetRasterData(pix, &raster, &nbytes) != 0)
        return pm__engine_fail(eng, PM_ENOMEM, "encode: out of memory");
    mem =
        vips_image_new_from_memory(raster, nbytes, pixGetWidth(pix),
                                   pixGetHeight(pix), bands, VIPS_FORMAT_UCHAR);
    rc = mem == NULL;
    /* libvips keeps resolution in pixels per millimetre. */
    if (!rc)
        rc = vips_copy(mem, &img, "xres", xres / 25.4, "yres", yres / 25.4,
                       "interpretation",
                       bands == 1 ? VIPS_INTERPRETATION_B_W
                                  : VIPS_INTERPRETATION_sRGB,
                       NULL);
    if (!rc && codec == PM_IMG_JPEG)
        rc = vips_jpegsave_buffer(img, &buf, &len, "Q", p->jpeg_quality,
                                  "optimize_coding", TRUE, "interlace", TRUE,
                                  "strip", TRUE, NULL);
    else if (!rc)
        rc = vips_jp2ksave_buffer(img, &buf, &len, "Q", p->jp2_quality, NULL);
    if (img != NULL)
        g_object_unref(img);
    if (mem != NULL)
        g_object_unref(mem);
    lept_free(raster);
    if (rc) {
        pm__engine_fail(eng, PM_EENCODE, "encode: libvips: %s",
                        vips_error_buffer());
        vips_error_clear();
        return PM_EENCODE;
    }
    if (codec == PM_IMG_JPEG) {
        unsigned char *jfif = jpeg_with_jfif(buf, len, xres, yres, &len);

        g_free(buf);
        if (jfif == NULL)
            return PM_ENOMEM;
        rc = pm_write_file_atomic(tmp, jfif, len);
        pm_free(jfif);
    } else {
        rc = pm_write_file_atomic(tmp, buf, len);
        g_free(buf);
    }
    if (rc)
        return pm__engine_fail(eng, rc, "encode: cannot write %s: %s", tmp,
                               pm_strerror(rc));
    *bytes = (long long)len;
    return 0;
}

/* The TIFF master's image of an mrc page (tiff_master.c): the whole page
 * before the split, as JPEG `path_base`.page.jpg, when the profile writes
 * a master. */
static int mrc_master(pm_engine_t *eng, const pm_profile_t *p,
                      const pm_page_image_t *img, const char *path_base)
{
    char *out;
    long long bytes = 0;
    int err;

    if (p->tiff_master == PM_TIFF_OFF)
        return 0;
    out = pm_asprintf("%s.page.jpg", path_base);
    if (out == NULL)
        return PM_ENOMEM;
    err = pm__write_vips(eng, p, img->pix, img->xres, img->yres, out,
                         PM_IMG_JPEG, &bytes);
    if (err)
        unlink(out);
    pm_free(out);
    return err;
}

int pm_encode_page(pm_engine_t *eng, const pm_profile_t *p,
                   const pm_page_image_t *img, const char *path_base,
                   char **path, pm_img_codec_t *codec, long long *bytes)
{
    char *out, *tmp = NULL;
    int err;

    *path = NULL;
    *bytes = 0;
    if (img->kind != PM_KIND_BITONAL && p->compression == PM_COMPRESS_MRC) {
        *codec = PM_IMG_MRC;
        err = mrc_master(eng, p, img, path_base);
        return err ? err : pm__encode_mrc(eng, p, img, path_base, path, bytes);
    }
    if (img->kind == PM_KIND_BITONAL)
        *codec = PM_IMG_G4;
    else
        *codec = p->gray_codec == PM_CODEC_JP2 ? PM_IMG_JP2 : PM_IMG_JPEG;
    out = pm_asprintf("%s.%s", path_base,
                      *codec == PM_IMG_G4     ? "tif"
                      : *codec == PM_IMG_JPEG ? "jpg"
                                              : "jp2");
    if (out == NULL)
        return PM_ENOMEM;
    if (*codec == PM_IMG_G4) {
        err = pm_tmp_create(out, &tmp, NULL); /* new: no link followed */
        if (err != 0)
            pm__engine_fail(eng, err,
                            "encode: cannot create a temp file "
                            "for %s: %s",
                            out, pm_strerror(err));
        else
            err = pm__write_g4(eng, img->pix, img->xres, img->yres, NULL, tmp,
                               bytes);
        if (err == 0)
            err = pm_commit_file(tmp, out);
        else if (tmp != NULL)
            unlink(tmp);
    } else {
        err = pm__write_vips(eng, p, img->pix, img->xres, img->yres, out,
                             *codec, bytes);
    }
    pm_free(tmp);
    if (err) {
        /* A failed commit may have renamed the file into place already
         * (the directory fsync comes after): no artifact on failure. */
        unlink(out);
        pm_free(out);
        *bytes = 0;
        return err;
    }
    *path = out;
    return 0;
}

/* ---- keeping a scanned JPEG ---- */

#define MAX_KEPT_JPEG (512u << 20)

/* What the header of a JPEG file says, as far as embedding it goes. */
typedef struct jpeg_facts {
    int width, height, ncomp;
    int sof;     /* 0xc0 baseline, 0xc1 extended, 0xc2 progressive */
    int adobe;   /* APP14 "Adobe" seen (its transform rules the colours) */
    int rgb_ids; /* three components named 'R', 'G', 'B' */
    int rotated; /* EXIF orientation other than 1 */
} jpeg_facts_t;

static unsigned get16(const unsigned char *b, int le)
{
    return le ? (unsigned)b[0] | (unsigned)b[1] << 8
              : (unsigned)b[0] << 8 | (unsigned)b[1];
}

static uint32_t get32(const unsigned char *b, int le)
{
    return le ? (uint32_t)get16(b, 1) | (uint32_t)get16(b + 2, 1) << 16
              : (uint32_t)get16(b, 0) << 16 | (uint32_t)get16(b + 2, 0);
}

/* Whether an APP1 Exif payload has an orientation tag other than 1
 * (PDF readers ignore EXIF, so such a page would show turned). */
static int exif_rotated(const unsigned char *b, size_t n)
{
    const unsigned char *t = b + 6; /* "Exif\0\0", then a TIFF header */
    size_t tn = n - 6, ifd, count;
    int le;

    if (n < 6 + 8 || memcmp(b, "Exif\0\0", 6) != 0)
        return 0;
    le = t[0] == 'I';
    ifd = get32(t + 4, le);
    if (ifd > tn - 2)
        return 1; /* unreadable: assume the worst */
    count = get16(t + ifd, le);
    for (size_t i = 0; i < count; i++) {
        size_t off = ifd + 2 + 12 * i;
        const unsigned char *e;

        if (off + 12 > tn)
            return 1;
        e = t + off;
        if (get16(e, le) == 0x0112)
            return get16(e + 8, le) != 1;
    }
    return 0;
}

/* Reads the markers before the first scan; 0 when they are well formed. */
static int jpeg_read_facts(const unsigned char *b, size_t n, jpeg_facts_t *f)
{
    size_t pos = 2;

    memset(f, 0, sizeof(*f));
    if (n < 4 || b[0] != 0xff || b[1] != 0xd8)
        return -1;
    while (pos + 4 <= n) {
        unsigned m, len;
        const unsigned char *seg;

        if (b[pos] != 0xff)
            return -1;
        m = b[pos + 1];
        if (m == 0xff) { /* fill byte */
            pos++;
            continue;
        }
        len = get16(b + pos + 2, 0);
        if (len < 2 || pos + 2 + len > n)
            return -1;
        seg = b + pos + 4;
        if (m == 0xda) /* start of scan: the header is complete */
            return f->sof ? 0 : -1;
        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
            if (f->sof || len < 8)
                return -1;
            f->sof = (int)m;
            if (seg[0] != 8)
                f->sof = -1; /* 12-bit samples: no PDF reader takes those */
            f->height = (int)get16(seg + 1, 0);
            f->width = (int)get16(seg + 3, 0);
            f->ncomp = seg[5];
            if (len < 8 + 3u * (unsigned)f->ncomp)
                return -1;
            f->rgb_ids = f->ncomp == 3 && seg[6] == 'R' && seg[9] == 'G' &&
                         seg[12] == 'B';
        } else if (m == 0xee && len >= 7 && memcmp(seg, "Adobe", 5) == 0) {
            f->adobe = 1;
        } else if (m == 0xe1 && exif_rotated(seg, len - 2)) {
            f->rotated = 1;
        }
        pos += 2 + len;
    }
    return -1;
}

/* Whether `b` ends with an EOI marker (trailing padding allowed). */
static int jpeg_complete(const unsigned char *b, size_t n)
{
    size_t end = n;

    while (end > 2 && end + 64 > n &&
           !(b[end - 2] == 0xff && b[end - 1] == 0xd9))
        end--;
    return end > 2 && b[end - 2] == 0xff && b[end - 1] == 0xd9;
}

/*
 * Whether a JPEG file with these facts shows, embedded in a PDF with
 * DCTDecode as `img` (gray or colour), exactly the pixels the page was
 * decoded to: baseline or progressive 8-bit Huffman JPEG, one gray or
 * three YCbCr components matching the page's kind, its size, and no EXIF
 * turn. Adobe RGB (transform 0) is fine, as PDF readers honour APP14;
 * three components named R, G, B without it are not (libjpeg reads them
 * as RGB, PDF readers as YCbCr). CMYK never is.
 */
static int jpeg_keepable(const jpeg_facts_t *f, const pm_page_image_t *img)
{
    int comps = img->kind == PM_KIND_GRAY ? 1 : 3;

    if (f->sof != 0xc0 && f->sof != 0xc1 && f->sof != 0xc2)
        return 0;
    if (img->kind == PM_KIND_BITONAL || f->ncomp != comps || f->rotated)
        return 0;
    if (f->width != pixGetWidth(img->pix) ||
        f->height != pixGetHeight(img->pix))
        return 0;
    if (f->ncomp == 3 && !f->adobe && f->rgb_ids)
        return 0;
    return 1;
}

/* Whether the file at `path` starts like a JPEG (SOI and a marker): a
 * cheap look before reading a big TIFF whole for nothing. */
/* Reads the page file `src` the one way pages are read (pm__page_open:
 * never through a link, the checked copy of a verified page) when it is a
 * JPEG: 0 with *buf (caller frees) or *buf NULL when it is not one or too
 * large to keep, else an error with the detail on `eng`. */
static int read_jpeg_page(pm_engine_t *eng, const char *src,
                          unsigned char **buf, size_t *len)
{
    unsigned char head[3] = {0, 0, 0};
    int fd = pm__page_open(src), err = -errno;

    *buf = NULL;
    *len = 0;
    if (fd < 0)
        return pm__engine_fail(eng, err, "encode: cannot open %s: %s", src,
                               pm_strerror(err));
    if (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
        head[0] != 0xff || head[1] != 0xd8 || head[2] != 0xff) {
        close(fd);
        return 0; /* not a JPEG: encoded */
    }
    err = pm_read_fd(fd, MAX_KEPT_JPEG, buf, len);
    close(fd);
    if (err == PM_ETOOBIG)
        return 0; /* re-encoded instead */
    return err ? pm__engine_fail(eng, err, "encode: cannot read %s: %s", src,
                                 pm_strerror(err))
               : 0;
}

int pm_encode_keep_jpeg_mem(pm_engine_t *eng, const pm_profile_t *p,
                            const pm_page_image_t *img,
                            const unsigned char *buf, size_t len,
                            const char *path_base, char **path,
                            long long *bytes)
{
    jpeg_facts_t f;
    char *out;
    int err;

    *path = NULL;
    *bytes = 0;
    if (p->gray_codec != PM_CODEC_JPEG || img->kind == PM_KIND_BITONAL ||
        p->compression != PM_COMPRESS_PLAIN || buf == NULL || len < 3 ||
        jpeg_read_facts(buf, len, &f) != 0 || !jpeg_keepable(&f, img) ||
        !jpeg_complete(buf, len))
        return 0;
    out = pm_asprintf("%s.jpg", path_base);
    err = out == NULL ? PM_ENOMEM : pm_write_file_atomic(out, buf, len);
    if (err) {
        if (out != NULL) {
            unlink(out);
            pm__engine_fail(eng, err, "encode: cannot write %s: %s", out,
                            pm_strerror(err));
        }
        pm_free(out);
        return err;
    }
    *path = out;
    *bytes = (long long)len;
    return 0;
}

int pm_encode_keep_jpeg(pm_engine_t *eng, const pm_profile_t *p,
                        const pm_page_image_t *img, const char *src,
                        const char *path_base, char **path, long long *bytes)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int err;

    *path = NULL;
    *bytes = 0;
    if (p->gray_codec != PM_CODEC_JPEG || img->kind == PM_KIND_BITONAL ||
        p->compression != PM_COMPRESS_PLAIN)
        return 0;
    err = read_jpeg_page(eng, src, &buf, &len);
    if (!err)
        err = pm_encode_keep_jpeg_mem(eng, p, img, buf, len, path_base, path,
                                      bytes);
    pm_free(buf);
    return err;
}

int pm_encode_read_g4(pm_engine_t *eng, const char *path, unsigned char **data,
                      size_t *len, int *width, int *height)
{
    TIFF *tif;
    uint16_t comp = 0;
    uint32_t w = 0, h = 0;
    uint64_t *counts = NULL;
    unsigned char *buf = NULL;
    int err = 0;

    *data = NULL;
    *len = 0;
    *width = 0;
    *height = 0;
    pm__lib_clear();
    errno = 0;
    tif = TIFFOpen(path, "rm");
    if (tif == NULL)
        return pm__engine_fail(eng, PM_EIO, "%s: cannot open: %s", path,
                               pm__lib_last()[0] ? pm__lib_last()
                               : errno           ? strerror(errno)
                                                 : "not a TIFF");
    TIFFGetField(tif, TIFFTAG_COMPRESSION, &comp);
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
    if (comp != COMPRESSION_CCITTFAX4 || TIFFNumberOfStrips(tif) != 1 ||
        !TIFFGetField(tif, TIFFTAG_STRIPBYTECOUNTS, &counts) || !counts) {
        err = pm__engine_fail(eng, PM_EINVAL,
                              "%s: not a single-strip G4 page artifact", path);
        goto out;
    }
    buf = pm_malloc((size_t)counts[0]);
    if (buf == NULL) {
        err = PM_ENOMEM;
        goto out;
    }
    if (TIFFReadRawStrip(tif, 0, buf, (tmsize_t)counts[0]) !=
        (tmsize_t)counts[0]) {
        pm_free(buf);
        err = pm__engine_fail(eng, PM_EIO, "%s: short read of G4 strip", path);
        goto out;
    }
    *data = buf;
    *len = (size_t)counts[0];
    *width = (int)w;
    *height = (int)h;
out:
    TIFFClose(tif);
    return err;
}
