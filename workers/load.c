/*
 * load.c: the decode stage (pm_load_page, pm_load_count_frames) and
 * normalisation (pm_normalize). Decoding is Leptonica's (libtiff, libpng,
 * libjpeg, OpenJPEG underneath); this file adds what a records centre
 * needs around it: headers checked against the pixel limit before any
 * pixel buffer exists, TIFF pages turned upright as their Orientation tag
 * says, page shapes no scanner makes refused, a resolution believed only
 * when the page size it gives is a scan's, and errors that name the file,
 * the frame and the fault.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <leptonica/allheaders.h>
#include <tiffio.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"

#define MIN_SANE_DPI 50
#define MAX_SANE_DPI 2400

/* Page sizes a resolution is believed for, in inches: at most 17 x 24 in
 * either way round (tabloid plus a margin) and at least 2 in on the
 * shorter side. Others are not credible (a 3,182-pixel-wide scan tagged
 * 96 dpi would be a 33-inch page): the profile's fallback is used. */
#define BELIEVED_MAX_SHORT_IN 17.0
#define BELIEVED_MAX_LONG_IN  24.0
#define BELIEVED_MIN_SHORT_IN 2.0

/* Pages refused at decode: a longer side over MAX_ASPECT times the
 * shorter (a 3102x62976 JPEG took 27 s and 1 GB to fail OCR), fewer than
 * MIN_SIDE_PX pixels a side, longer than MAX_PAGE_IN at the resolution
 * used. */
#define MAX_ASPECT  12
#define MIN_SIDE_PX 16
/* A BMP is read into memory whole: at most this (after the pixel limit). */
#define BMP_MAX_BYTES ((size_t)1 << 31)
#define MAX_PAGE_IN   60.0

void pm_page_image_cleanup(pm_page_image_t *img)
{
    pixDestroy(&img->binary);
    pixDestroy(&img->pix);
    boxDestroy(&img->content);
    memset(img, 0, sizeof(*img));
}

/* The container formats we decode, told apart by their signatures. */
typedef enum {
    FMT_UNKNOWN = 0,
    FMT_TIFF,
    FMT_PNG,
    FMT_JPEG,
    FMT_JP2,
    FMT_BMP,
    FMT_PNM,
    FMT_PDF,
} fmt_t;

/* Classifies the first bytes of a file. Our own check rather than
 * Leptonica's findFileFormat(), which opens TIFFs with libtiff to find the
 * compression and so calls a truncated TIFF "unknown format". */
static fmt_t fmt_from_magic(const unsigned char *b, size_t n)
{
    static const unsigned char png[8] = {0x89, 'P',  'N',  'G',
                                         '\r', '\n', 0x1a, '\n'};
    static const unsigned char jp2[12] = {0,   0,   0,    12,   'j',  'P',
                                          ' ', ' ', '\r', '\n', 0x87, '\n'};
    static const unsigned char j2k[4] = {0xff, 0x4f, 0xff, 0x51};

    if (n >= 4 && ((b[0] == 'I' && b[1] == 'I' && b[3] == 0 &&
                    (b[2] == 42 || b[2] == 43)) ||
                   (b[0] == 'M' && b[1] == 'M' && b[2] == 0 &&
                    (b[3] == 42 || b[3] == 43))))
        return FMT_TIFF; /* classic or BigTIFF */
    if (n >= 8 && memcmp(b, png, 8) == 0)
        return FMT_PNG;
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return FMT_JPEG;
    if ((n >= 12 && memcmp(b, jp2, 12) == 0) || (n >= 4 && !memcmp(b, j2k, 4)))
        return FMT_JP2;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M')
        return FMT_BMP;
    if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7')
        return FMT_PNM;
    if (pm__pdf_magic(b, n))
        return FMT_PDF;
    return FMT_UNKNOWN;
}

static const char *fmt_name(fmt_t f)
{
    static const char *const names[] = {"unknown",   "TIFF", "PNG", "JPEG",
                                        "JPEG 2000", "BMP",  "PNM", "PDF"};

    return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f] : "?";
}

/* The page pinned by pm__load_pin(): while set, opening `pin_path` gives
 * a duplicate of `pin_fd` (rewound) instead of the file system's file.
 * One page at a time: the engine is single-threaded. */
static const char *pin_path;
static int pin_fd = -1;

void pm__load_pin(const char *path, int fd)
{
    pin_path = fd >= 0 ? path : NULL;
    pin_fd = fd >= 0 ? fd : -1;
}

/* Opens a page the one way pages are opened: never through a symlink,
 * never blocking on a FIFO, regular files only (else errno EINVAL); the
 * pinned descriptor for the pinned path. A descriptor, or -1 with errno
 * set. */
int pm__page_open(const char *path)
{
    int fd;
    struct stat st;

    if (pin_path != NULL && strcmp(path, pin_path) == 0) {
        fd = fcntl(pin_fd, F_DUPFD_CLOEXEC, 0);
        if (fd >= 0 && lseek(fd, 0, SEEK_SET) != 0) {
            close(fd);
            fd = -1;
        }
    } else {
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    }
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        errno = EINVAL;
        fd = -1;
    }
    return fd;
}

#define page_open pm__page_open

/* page_open() as a stream; NULL with errno set. */
static FILE *page_fopen(const char *path)
{
    int fd = page_open(path);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;

    if (f == NULL && fd >= 0)
        close(fd);
    return f;
}

/* Detects the format from the file's signature. */
static int sniff(pm_engine_t *eng, const char *path, fmt_t *format)
{
    unsigned char head[16];
    size_t n;
    FILE *f;
    int err;

    *format = FMT_UNKNOWN;
    f = page_fopen(path);
    if (f == NULL) {
        err = -errno;
        return pm__engine_fail(eng, err, "%s: cannot open: %s", path,
                               err == -ELOOP    ? "a symbolic link (never "
                                                  "followed)"
                               : err == -EINVAL ? "not a regular file"
                                                : strerror(-err));
    }
    n = fread(head, 1, sizeof(head), f);
    err = ferror(f) ? -(errno ? errno : EIO) : 0;
    fclose(f);
    if (err)
        return pm__engine_fail(eng, err, "%s: cannot read: %s", path,
                               strerror(-err));
    *format = fmt_from_magic(head, n);
    if (*format == FMT_UNKNOWN)
        return pm__engine_fail(eng, PM_EUNSUPP,
                               "%s: not a supported image (TIFF, PNG, JPEG, "
                               "JPEG 2000, BMP, PNM, PDF)",
                               path);
    return 0;
}

/* The last libtiff error on one of our handles. libtiff's global handlers
 * belong to whoever set them last (libvips sets its own in vips_init), so
 * each handle we open carries its own. */
typedef struct tiff_msg {
    char text[400];
} tiff_msg_t;

static int tiff_on_error(TIFF *tif, void *user, const char *module,
                         const char *fmt, va_list ap)
{
    tiff_msg_t *m = user;
    char buf[320];

    (void)tif;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    snprintf(m->text, sizeof(m->text), "%s: %s", module ? module : "libtiff",
             buf);
    return 1; /* handled: not passed on to the global handler */
}

static int tiff_on_warning(TIFF *tif, void *user, const char *module,
                           const char *fmt, va_list ap)
{
    char buf[320];

    (void)tif;
    (void)user;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    pm_log(PM_LOG_DEBUG, "libtiff", "warning: %s: %s",
           module ? module : "libtiff", buf);
    return 1;
}

/* Opens `path` for reading (no memory mapping) with our handlers. */
static TIFF *tiff_open(const char *path, tiff_msg_t *msg)
{
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    TIFF *tif = NULL;
    int fd = page_open(path);

    msg->text[0] = '\0';
    if (opts == NULL || fd < 0) {
        snprintf(msg->text, sizeof(msg->text), "%s",
                 fd < 0 ? strerror(errno) : "out of memory");
        if (fd >= 0)
            close(fd);
        TIFFOpenOptionsFree(opts);
        return NULL;
    }
    TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_on_error, msg);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_on_warning, msg);
    tif = TIFFFdOpenExt(fd, path, "rm", opts); /* copies the options */
    TIFFOpenOptionsFree(opts);
    if (tif == NULL)
        close(fd); /* else TIFFClose closes it */
    if (tif == NULL && msg->text[0] == '\0')
        snprintf(msg->text, sizeof(msg->text), "cannot open");
    return tif;
}

static int tiff_count(pm_engine_t *eng, const char *path, int *n)
{
    tiff_msg_t msg;
    TIFF *tif;
    tdir_t count;

    tif = tiff_open(path, &msg);
    if (tif == NULL)
        return pm__engine_fail(eng, PM_ECORRUPT, "%s: not a readable TIFF: %s",
                               path, msg.text);
    count = TIFFNumberOfDirectories(tif);
    TIFFClose(tif);
    if (count < 1)
        return pm__engine_fail(eng, PM_ECORRUPT,
                               "%s: TIFF has no readable pages%s%s", path,
                               msg.text[0] ? ": " : "", msg.text);
    *n = (int)count;
    return 0;
}

static int count_frames(pm_engine_t *eng, const char *path, fmt_t *format,
                        int *nframes)
{
    int err;

    *nframes = 0;
    err = sniff(eng, path, format);
    if (err)
        return err;
    if (*format == FMT_TIFF)
        return tiff_count(eng, path, nframes);
    if (*format == FMT_PDF)
        return pm__pdf_count(eng, path, nframes);
    *nframes = 1;
    return 0;
}

/* Fails for a frame the file does not have, naming how many it has. */
static int no_such_frame(pm_engine_t *eng, const char *path, fmt_t format,
                         int frame)
{
    int nframes = 1, err;

    if (format == FMT_TIFF && (err = tiff_count(eng, path, &nframes)) != 0)
        return err;
    if (format == FMT_PDF && (err = pm__pdf_count(eng, path, &nframes)) != 0)
        return err;
    return pm__engine_fail(eng, PM_EINVAL,
                           "%s frame %d: no such frame, file has %d", path,
                           frame + 1, nframes);
}

int pm_load_count_frames(pm_engine_t *eng, const char *path, int *nframes)
{
    fmt_t format;

    return count_frames(eng, path, &format, nframes);
}

static int read_dims(pm_engine_t *eng, const char *path, fmt_t format,
                     int frame, long long *w, long long *h, int *tiled,
                     int *orient);

/* The pixels of every directory of a TIFF, as stored, summed; 0 when
 * one cannot be read (an estimate: the count stands on its own). */
static int64_t tiff_pixels(const char *path)
{
    tiff_msg_t msg;
    TIFF *tif = tiff_open(path, &msg);
    int64_t sum = 0;
    uint32_t w = 0, h = 0;

    if (tif == NULL)
        return 0;
    do {
        if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) ||
            !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h)) {
            sum = 0;
            break;
        }
        sum += (int64_t)w * h;
    } while (TIFFReadDirectory(tif));
    TIFFClose(tif);
    return sum;
}

/* The pixels of all of a file's frames from their headers, or 0 when
 * unknown: a PDF's pages are drawn at a resolution decided later. */
static int64_t file_pixels(pm_engine_t *eng, const char *path, fmt_t format)
{
    long long w = 0, h = 0;
    int tiled, orient;

    if (format == FMT_TIFF)
        return tiff_pixels(path);
    if (format == FMT_PDF)
        return 0;
    if (read_dims(eng, path, format, 0, &w, &h, &tiled, &orient) != 0 ||
        w <= 0 || h <= 0)
        return 0;
    return (int64_t)w * h;
}

int pm_load_count_frames_fd(pm_engine_t *eng, int fd, const char *name,
                            int *nframes, int64_t *pixels)
{
    fmt_t format;
    int err;

    *pixels = 0;
    pm__load_pin(name, fd);
    err = count_frames(eng, name, &format, nframes);
    if (err == 0)
        *pixels = file_pixels(eng, name, format);
    pm__load_pin(NULL, -1);
    return err;
}

/* Reads width and height from a BMP's info header. Leptonica's
 * pixReadHeader() decodes a whole BMP to learn its size, which is what
 * the pixel limit must come before. */
static int bmp_dims(pm_engine_t *eng, const char *path, long long *w,
                    long long *h)
{
    unsigned char b[26];
    FILE *f = page_fopen(path);
    size_t n = f != NULL ? fread(b, 1, sizeof(b), f) : 0;
    uint32_t hdr;

    if (f != NULL)
        fclose(f);
    if (n < sizeof(b))
        return pm__engine_fail(eng, PM_ECORRUPT, "%s: BMP header is truncated",
                               path);
    hdr = (uint32_t)b[14] | (uint32_t)b[15] << 8 | (uint32_t)b[16] << 16 |
          (uint32_t)b[17] << 24;
    if (hdr == 12) { /* OS/2 BITMAPCOREHEADER: 16-bit sizes */
        *w = b[18] | b[19] << 8;
        *h = b[20] | b[21] << 8;
    } else {
        /* BITMAPINFOHEADER and later: signed 32-bit, height < 0 means
         * top-down rows. */
        *w = (int32_t)((uint32_t)b[18] | (uint32_t)b[19] << 8 |
                       (uint32_t)b[20] << 16 | (uint32_t)b[21] << 24);
        *h = (int32_t)((uint32_t)b[22] | (uint32_t)b[23] << 8 |
                       (uint32_t)b[24] << 16 | (uint32_t)b[25] << 24);
        if (*h < 0)
            *h = -*h;
    }
    return 0;
}

/* Reads width and height of frame `frame` without decoding pixels (as
 * stored), whether a TIFF frame is tiled (Leptonica reads strips only) and
 * its Orientation tag (1, as stored, when absent or out of range). */
/* Width and height from a PNG, JPEG, JPEG 2000 or PNM header, read
 * through page_fopen() (Leptonica's pixReadHeader() would open the path
 * itself, following links). 0, or 1 with the reason in pm__lib_last(). */
static int read_header(const char *path, fmt_t format, l_int32 *w, l_int32 *h)
{
    l_int32 bps, spp, x, y;
    FILE *f = page_fopen(path);
    l_ok rc = 1;

    if (f == NULL)
        return 1;
    if (format == FMT_PNG)
        rc = freadHeaderPng(f, w, h, &bps, &spp, &x);
    else if (format == FMT_JPEG)
        rc = freadHeaderJpeg(f, w, h, &spp, &x, &y);
    else if (format == FMT_JP2)
        rc = freadHeaderJp2k(f, w, h, &bps, &spp, &x);
    else if (format == FMT_PNM)
        rc = freadHeaderPnm(f, w, h, &x, &y, &bps, &spp);
    fclose(f);
    return rc != 0;
}

static int read_dims(pm_engine_t *eng, const char *path, fmt_t format,
                     int frame, long long *w, long long *h, int *tiled,
                     int *orient)
{
    l_int32 lw = 0, lh = 0;

    *tiled = 0;
    *orient = ORIENTATION_TOPLEFT;
    pm__lib_clear();
    if (format == FMT_TIFF) {
        tiff_msg_t msg;
        TIFF *tif = tiff_open(path, &msg);
        uint32_t tw = 0, th = 0;
        uint16_t o = ORIENTATION_TOPLEFT;
        int ok;

        if (tif == NULL)
            return pm__engine_fail(eng, PM_ECORRUPT,
                                   "%s frame %d: not a readable TIFF: %s", path,
                                   frame + 1, msg.text);
        ok = TIFFSetDirectory(tif, (tdir_t)frame) &&
             TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &tw) &&
             TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &th);
        *tiled = ok && TIFFIsTiled(tif);
        if (ok && TIFFGetField(tif, TIFFTAG_ORIENTATION, &o) &&
            o >= ORIENTATION_TOPLEFT && o <= ORIENTATION_LEFTBOT)
            *orient = o;
        TIFFClose(tif);
        if (!ok)
            return pm__engine_fail(eng, PM_ECORRUPT,
                                   "%s frame %d: unreadable TIFF directory: "
                                   "%s",
                                   path, frame + 1, msg.text);
        *w = tw;
        *h = th;
        return 0;
    }
    if (format == FMT_BMP)
        return bmp_dims(eng, path, w, h);
    if (read_header(path, format, &lw, &lh) != 0)
        return pm__engine_fail(eng, PM_ECORRUPT,
                               "%s: unreadable image header: %s", path,
                               pm__lib_last());
    *w = lw;
    *h = lh;
    return 0;
}

/* Resolution tags of the current TIFF directory in pixels per inch. */
static void tiff_resolution(TIFF *tif, PIX *pix)
{
    float xres = 0, yres = 0;
    uint16_t unit = RESUNIT_INCH;

    TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &unit);
    if (!TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xres) || !(xres > 0) ||
        xres > 1e6f)
        xres = 0;
    if (!TIFFGetField(tif, TIFFTAG_YRESOLUTION, &yres) || !(yres > 0) ||
        yres > 1e6f)
        yres = 0;
    if (unit == RESUNIT_CENTIMETER) {
        xres *= 2.54f;
        yres *= 2.54f;
    } else if (unit == RESUNIT_NONE) {
        xres = yres = 0; /* an aspect ratio, not a resolution */
    }
    pixSetResolution(pix, (l_int32)(xres + 0.5f), (l_int32)(yres + 0.5f));
}

/*
 * Turns a raster decoded as stored into the page a viewer shows for TIFF
 * Orientation `orient` (1-8; 0th row and column as TIFF 6.0 names them).
 * Returns a new pix (NULL when out of memory); `pix` is left alone.
 */
static PIX *orient_upright(PIX *pix, int orient)
{
    PIX *cw, *out;

    switch (orient) {
    case ORIENTATION_TOPRIGHT: /* mirrored */
        return pixFlipLR(NULL, pix);
    case ORIENTATION_BOTRIGHT: /* upside down */
        return pixRotate180(NULL, pix);
    case ORIENTATION_BOTLEFT: /* flipped top to bottom */
        return pixFlipTB(NULL, pix);
    case ORIENTATION_RIGHTTOP: /* stored turned 90 anticlockwise */
        return pixRotate90(pix, 1);
    case ORIENTATION_LEFTBOT: /* stored turned 90 clockwise */
        return pixRotate90(pix, -1);
    case ORIENTATION_LEFTTOP:  /* transposed */
    case ORIENTATION_RIGHTBOT: /* transposed about the other diagonal */
        cw = pixRotate90(pix, 1);
        if (cw == NULL)
            return NULL;
        out = orient == ORIENTATION_LEFTTOP ? pixFlipLR(NULL, cw)
                                            : pixFlipTB(NULL, cw);
        pixDestroy(&cw);
        return out;
    default:
        return pixCopy(NULL, pix);
    }
}

/*
 * Decodes a TIFF frame through libtiff's RGBA interface, which reads what
 * Leptonica refuses (tiles, LogLuv, old-style JPEG), stopping at the first
 * damaged strip or tile. Alpha, which libtiff premultiplies, is composited
 * over white. The raster is read as stored (libtiff's own orientation
 * handling flips but never transposes) and `orient` (1-8) is applied
 * after. Returns a 32 bpp pix or NULL with the reason in `why`.
 */
static PIX *tiff_read_rgba(const char *path, int frame, int orient, char *why,
                           size_t whylen)
{
    char emsg[1024] = "";
    uint32_t w = 0, h = 0;
    l_uint32 *data;
    PIX *pix = NULL, *upright;
    tiff_msg_t msg;
    TIFF *tif;

    tif = tiff_open(path, &msg);
    if (tif == NULL || !TIFFSetDirectory(tif, (tdir_t)frame) ||
        !TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) ||
        !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h)) {
        snprintf(why, whylen, "%s", msg.text);
        goto out;
    }
    /* In memory only (the file is open for reading): rows as stored. */
    TIFFSetField(tif, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT);
    if (!TIFFRGBAImageOK(tif, emsg)) {
        snprintf(why, whylen, "%s", emsg);
        goto out;
    }
    pix = pixCreate((l_int32)w, (l_int32)h, 32);
    if (pix == NULL) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    /* A 32 bpp pix is w words per row, no padding: the raster libtiff
     * wants. */
    data = pixGetData(pix);
    if (!TIFFReadRGBAImageOriented(tif, w, h, data, ORIENTATION_TOPLEFT, 1)) {
        snprintf(why, whylen, "%s",
                 msg.text[0] ? msg.text : "damaged image data");
        pixDestroy(&pix);
        goto out;
    }
    for (size_t i = 0, n = (size_t)w * h; i < n; i++) {
        uint32_t v = data[i], a = TIFFGetA(v);
        uint32_t r = TIFFGetR(v) + 255 - a, g = TIFFGetG(v) + 255 - a,
                 b = TIFFGetB(v) + 255 - a;

        data[i] = (r > 255 ? 255 : r) << 24 | (g > 255 ? 255 : g) << 16 |
                  (b > 255 ? 255 : b) << 8;
    }
    pixSetSpp(pix, 3);
    tiff_resolution(tif, pix);
    if (orient != ORIENTATION_TOPLEFT) {
        upright = orient_upright(pix, orient);
        if (upright != NULL && orient >= ORIENTATION_LEFTTOP)
            pixSetResolution(upright, pixGetYRes(pix), pixGetXRes(pix));
        pixDestroy(&pix);
        pix = upright;
        if (pix == NULL)
            snprintf(why, whylen, "out of memory");
    }
out:
    if (tif != NULL)
        TIFFClose(tif);
    return pix;
}

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

/*
 * Decodes a BMP. Leptonica refuses BI_BITFIELDS, which is how most
 * programs write 32-bit BMPs; with the usual masks (red 0x00FF0000,
 * green 0x0000FF00, blue 0x000000FF) the pixels are laid out exactly as
 * BI_RGB, so a copy in memory says BI_RGB (and, after a 40-byte header,
 * drops the masks, which Leptonica would take for a colour map).
 * Other masks are refused by name. NULL with the reason on `eng`.
 */
static PIX *bmp_read(pm_engine_t *eng, const char *path)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    uint32_t hdr, bpp, comp, *masks = NULL;
    PIX *pix = NULL;
    int fd = page_open(path);
    int err = fd < 0 ? -errno : pm_read_fd(fd, BMP_MAX_BYTES, &buf, &len);

    if (fd >= 0)
        close(fd);
    if (err != 0) {
        pm__engine_fail(eng, err, "%s: cannot read: %s", path,
                        pm_strerror(err));
        return NULL;
    }
    hdr = len >= 54 ? le32(buf + 14) : 0;
    bpp = len >= 54 ? (uint32_t)(buf[28] | buf[29] << 8) : 0;
    comp = len >= 54 ? le32(buf + 30) : 0;
    if (hdr >= 40 && comp == 3 && bpp == 32 && len >= 66) {
        uint32_t m[3] = {le32(buf + 54), le32(buf + 58), le32(buf + 62)};

        masks = m;
        if (m[0] != 0x00FF0000u || m[1] != 0x0000FF00u || m[2] != 0x000000FFu) {
            pm__engine_fail(eng, PM_EUNSUPP,
                            "%s: 32-bit BMP with bit fields red %08x green "
                            "%08x blue %08x is not supported",
                            path, m[0], m[1], m[2]);
            pm_free(buf);
            return NULL;
        }
        memset(buf + 30, 0, 4); /* BI_RGB */
        if (hdr == 40 && le32(buf + 10) >= 66 && le32(buf + 10) <= len) {
            /* the masks follow a 40-byte header, where a colour map
             * would be: the pixels move up over them */
            size_t off = le32(buf + 10);

            memmove(buf + 54, buf + off, len - off);
            len = 54 + (len - off);
            buf[10] = 54;
            memset(buf + 11, 0, 3);
        }
    }
    pm__lib_clear();
    pix = pixReadMemBmp(buf, len);
    if (pix == NULL)
        pm__engine_fail(eng, PM_ECORRUPT,
                        "%s frame 1: cannot decode: corrupt, truncated or "
                        "unsupported BMP data (%s)",
                        path,
                        pm__lib_last()[0] ? pm__lib_last()
                        : masks != NULL   ? "bit fields"
                                          : "no detail");
    pm_free(buf);
    return pix;
}

/* pixRead() or pixReadTiff() of `path`, opened by page_fopen(). */
static PIX *read_stream(const char *path, int tiff, int frame)
{
    FILE *f = page_fopen(path);
    PIX *pix;

    if (f == NULL)
        return NULL;
    pix = tiff ? pixReadStreamTiff(f, frame) : pixReadStream(f, 0);
    fclose(f);
    return pix;
}

/* Decodes frame `frame` upright for TIFF Orientation `orient`; NULL with
 * the reason on `eng`. */
static PIX *decode(pm_engine_t *eng, const char *path, fmt_t format, int frame,
                   int tiled, int orient)
{
    char lept[512], why[512] = "";
    PIX *pix;

    pm__lib_clear();
    if (format == FMT_BMP)
        return bmp_read(eng, path);
    if (format != FMT_TIFF) {
        pix = read_stream(path, 0, 0);
        if (pix == NULL)
            pm__engine_fail(eng, PM_ECORRUPT,
                            "%s frame %d: cannot decode: corrupt or "
                            "truncated %s data (%s)",
                            path, frame + 1, fmt_name(format),
                            pm__lib_last()[0] ? pm__lib_last() : "no detail");
        return pix;
    }
    /* Leptonica reads strips only, and turns some pages with an
     * Orientation tag the wrong way (RGB with 8, in 1.82): those go to
     * libtiff's RGBA interface, and the turning is ours. */
    if (tiled || orient != ORIENTATION_TOPLEFT) {
        snprintf(lept, sizeof(lept), "%s", tiled ? "tiled TIFF" : "not read");
    } else {
        pix = read_stream(path, 1, frame);
        if (pix != NULL)
            return pix;
        snprintf(lept, sizeof(lept), "%s",
                 pm__lib_last()[0] ? pm__lib_last()
                                   : "corrupt or truncated data");
    }
    /* What Leptonica can't read, libtiff's RGBA interface may. */
    pix = tiff_read_rgba(path, frame, orient, why, sizeof(why));
    if (pix == NULL)
        pm__engine_fail(eng, PM_ECORRUPT,
                        "%s frame %d: cannot decode: %s; libtiff: %s", path,
                        frame + 1, lept, why[0] ? why : "cannot read");
    return pix;
}

/* Where each format keeps its resolution, for warnings. */
static const char *res_tag_name(fmt_t f)
{
    switch (f) {
    case FMT_TIFF:
        return "XResolution/YResolution tags";
    case FMT_PNG:
        return "pHYs chunk";
    case FMT_JPEG:
        return "JFIF density";
    case FMT_BMP:
        return "pixels-per-metre fields";
    case FMT_PDF:
        return "pixels over the page size";
    default:
        return "resolution";
    }
}

/* Size in inches of w x h pixels at xres x yres dpi, as "W x H in" in
 * `buf`; returns whether a scan can have that size (see BELIEVED_*). */
static int page_size_ok(PIX *pix, l_int32 xres, l_int32 yres, char *buf,
                        size_t len)
{
    double win = (double)pixGetWidth(pix) / xres;
    double hin = (double)pixGetHeight(pix) / yres;
    double shorter = win < hin ? win : hin, longer = win < hin ? hin : win;

    snprintf(buf, len, "%.1f x %.1f in", win, hin);
    return shorter >= BELIEVED_MIN_SHORT_IN &&
           shorter <= BELIEVED_MAX_SHORT_IN && longer <= BELIEVED_MAX_LONG_IN;
}

/* The resolution for a page whose file gives none that can be believed:
 * estimated from its text (dpi.c) when that gives a plausible page, else
 * the profile's fallback. Logs the choice and why; returns its source. */
static int untagged_resolution(const char *path, int frame,
                               const pm_profile_t *p, PIX *pix, const char *why)
{
    l_int32 fb = p->fallback_dpi;
    char used[64], also[128] = "";
    const char *how = "too little text to estimate it";
    double raw = 0;
    int est = 0, got = pm__dpi_estimate(pix, fb, &raw, &est);

    if (got == 1 && page_size_ok(pix, est, est, used, sizeof(used))) {
        pm_log(PM_LOG_WARN, "load",
               "%s frame %d: %s; using %d dpi, estimated from the height of "
               "its letters (%.0f dpi), a %s page",
               path, frame + 1, why, est, raw, used);
        pixSetResolution(pix, est, est);
        return PM_DPI_ESTIMATED;
    }
    if (got == 0 && raw > 0)
        how = "the height of its letters agrees with the default";
    else if (got == 1)
        how = "the resolution its letters give makes no plausible page";
    if (!page_size_ok(pix, fb, fb, used, sizeof(used)))
        snprintf(also, sizeof(also), " (which makes a %s page, %s)", used,
                 "not a plausible scan either");
    pm_log(PM_LOG_WARN, "load",
           "%s frame %d: %s; %s (%.0f dpi); using %d dpi%s", path, frame + 1,
           why, how, raw, fb, also);
    pixSetResolution(pix, fb, fb);
    return PM_DPI_DEFAULT;
}

/*
 * Sets the resolution the page is laid out at: the file's when it is
 * within MIN_SANE_DPI..MAX_SANE_DPI and gives a plausible page size, else
 * one estimated from the page's text, else the profile's fallback, with a
 * warning naming the file, the tag and the size it implied. Returns where
 * the resolution came from (pm_dpi_source_t).
 */
static int fix_resolution(const char *path, int frame, fmt_t format,
                          const pm_profile_t *p, PIX *pix)
{
    l_int32 xres = pixGetXRes(pix), yres = pixGetYRes(pix);
    char tagged[64], why[320];

    /* Only one axis tagged: assume square pixels. */
    if (xres <= 0 && yres > 0)
        xres = yres;
    if (yres <= 0 && xres > 0)
        yres = xres;
    if (xres >= MIN_SANE_DPI && xres <= MAX_SANE_DPI && yres >= MIN_SANE_DPI &&
        yres <= MAX_SANE_DPI) {
        if (page_size_ok(pix, xres, yres, tagged, sizeof(tagged))) {
            pixSetResolution(pix, xres, yres);
            return PM_DPI_TAG;
        }
        snprintf(
            why, sizeof(why),
            "resolution %dx%d dpi (%s) makes a %s page: not a plausible scan "
            "(at most %.0f x %.0f in, at least %.0f in on the shorter side)",
            xres, yres, res_tag_name(format), tagged, BELIEVED_MAX_SHORT_IN,
            BELIEVED_MAX_LONG_IN, BELIEVED_MIN_SHORT_IN);
    } else {
        snprintf(why, sizeof(why), "resolution %dx%d dpi missing or absurd",
                 xres, yres);
    }
    return untagged_resolution(path, frame, p, pix, why);
}

int pm__load_check_dims(pm_engine_t *eng, const char *path, const char *what,
                        long long w, long long h, long long max_pixels)
{
    long long shorter = w < h ? w : h, longer = w < h ? h : w;

    if (w <= 0 || h <= 0)
        return pm__engine_fail(eng, PM_ECORRUPT,
                               "%s %s: image has no pixels (%lldx%lld)", path,
                               what, w, h);
    if (w > max_pixels / h) /* w * h > max_pixels, without overflow */
        return pm__engine_fail(eng, PM_ETOOBIG,
                               "%s %s: %lldx%lld pixels exceeds the "
                               "limit of %lld pixels; not decoded",
                               path, what, w, h, max_pixels);
    /* Pages no scanner makes. */
    if (shorter < MIN_SIDE_PX)
        return pm__engine_fail(eng, PM_EUNSUPP,
                               "%s %s: %lldx%lld pixels is too small "
                               "for a page (at least %d pixels a side)",
                               path, what, w, h, MIN_SIDE_PX);
    if (longer > MAX_ASPECT * shorter)
        return pm__engine_fail(eng, PM_ETOOBIG,
                               "%s %s: %lldx%lld pixels is 1:%.1f, "
                               "not a page (limit 1:%d); not decoded",
                               path, what, w, h, (double)longer / shorter,
                               MAX_ASPECT);
    return 0;
}

/* Refuses a page longer than MAX_PAGE_IN at the resolution used. */
static int check_page_size(pm_engine_t *eng, const char *path, int frame,
                           PIX *pix)
{
    double win = (double)pixGetWidth(pix) / pixGetXRes(pix);
    double hin = (double)pixGetHeight(pix) / pixGetYRes(pix);

    if (win <= MAX_PAGE_IN && hin <= MAX_PAGE_IN)
        return 0;
    return pm__engine_fail(eng, PM_ETOOBIG,
                           "%s frame %d: %dx%d pixels at %dx%d dpi is a "
                           "%.1f x %.1f in page, over the limit of %.0f in",
                           path, frame + 1, pixGetWidth(pix), pixGetHeight(pix),
                           pixGetXRes(pix), pixGetYRes(pix), win, hin,
                           MAX_PAGE_IN);
}

/* A PDF page (pdf.c), with the resolution and page size rules of every
 * page. */
static int pdf_page(pm_engine_t *eng, const char *path, int page,
                    const pm_profile_t *p, PIX **out, int *dpi_fallback)
{
    PIX *pix = NULL;
    int err = pm__pdf_load(eng, path, page, p, &pix);

    if (err)
        return err;
    *dpi_fallback = fix_resolution(path, page, FMT_PDF, p, pix);
    err = check_page_size(eng, path, page, pix);
    if (err) {
        pm__pdf_forget(eng);
        pixDestroy(&pix);
        return err;
    }
    *out = pix;
    return 0;
}

int pm_load_page(pm_engine_t *eng, const char *path, int frame,
                 const pm_profile_t *p, PIX **out, int *dpi_fallback)
{
    fmt_t format;
    long long w = 0, h = 0;
    int nframes, tiled, orient, fallback, err;
    char what[32];
    PIX *pix;

    *out = NULL;
    *dpi_fallback = 0;
    pm__pdf_forget(eng);
    err = sniff(eng, path, &format);
    if (err)
        return err;
    if (format == FMT_PDF)
        return pdf_page(eng, path, frame, p, out, dpi_fallback);
    /* Frames are not counted up front: in an N-page TIFF that walks all N
     * directories for every page. Only a frame that cannot be reached is
     * worth the count, for the message. */
    if (frame < 0 || (format != FMT_TIFF && frame > 0))
        return no_such_frame(eng, path, format, frame);
    err = read_dims(eng, path, format, frame, &w, &h, &tiled, &orient);
    if (err != 0 && format == FMT_TIFF && frame > 0) {
        char why[sizeof(eng->errmsg)];
        memcpy(why, eng->errmsg, sizeof(why));
        if (tiff_count(eng, path, &nframes) == 0 && frame >= nframes)
            return no_such_frame(eng, path, format, frame);
        memcpy(eng->errmsg, why, sizeof(why));
    }
    if (err)
        return err;
    snprintf(what, sizeof(what), "frame %d", frame + 1);
    err = pm__load_check_dims(eng, path, what, w, h, p->max_pixels);
    if (err)
        return err;
    pix = decode(eng, path, format, frame, tiled, orient);
    if (pix == NULL)
        return PM_ECORRUPT;
    if (orient >= ORIENTATION_LEFTTOP) { /* rows become columns */
        long long t = w;
        w = h;
        h = t;
    }
    if ((long long)pixGetWidth(pix) != w || (long long)pixGetHeight(pix) != h) {
        err = pm__engine_fail(eng, PM_ECORRUPT,
                              "%s frame %d: decoded size %dx%d differs from "
                              "the header's %lldx%lld (orientation %d)",
                              path, frame + 1, pixGetWidth(pix),
                              pixGetHeight(pix), w, h, orient);
        pixDestroy(&pix);
        return err;
    }
    fallback = fix_resolution(path, frame, format, p, pix);
    err = check_page_size(eng, path, frame, pix);
    if (err) {
        pixDestroy(&pix);
        return err;
    }
    *dpi_fallback = fallback;
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
    PIX *b = pixOtsuThreshOnBackgroundNorm(pix8, NULL, 10, 15, 100, 50, 255, 2,
                                           2, 0.1f, &thresh);

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
