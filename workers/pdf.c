/*
 * pdf.c: PDF input (engine_int.h). Documents are read with qpdf's C API
 * from memory (the bytes come through pm__page_open, so a page pinned
 * after its SHA-256 check is read from what was checked). A page that
 * draws one image over the whole page, as scanners and MFPs write them,
 * is taken at the image's own resolution (its pixels over the page size
 * in inches): a JPEG stream as a .jpg input would be (and handed to the
 * encode stage to keep byte for byte), a CCITT stream wrapped as a TIFF,
 * Flate and the like decoded by qpdf. Any other page is rendered with
 * poppler (pdf_render.c) at the profile's pdf_dpi. A PDF with text on any
 * page is refused unless the profile says pdf_text = redo. Encrypted,
 * damaged and oversized files fail with an error naming the file and the
 * fault, before any pixel buffer is made.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <leptonica/allheaders.h>
#include <qpdf/qpdf-c.h>

#include "pipeline/base/pm.h"
#include "workers/pdf_int.h"

/* A PDF is read into memory whole: at most this. */
#define PDF_MAX_BYTES ((size_t)1 << 30)
/* A page's content (decoded) is scanned only up to this. */
#define CONTENT_MAX_BYTES ((size_t)64 << 20)
/* Form XObjects looked into for text: depth and number per page. */
#define FORM_MAX_DEPTH 4
#define FORM_MAX_COUNT 32
/* The image must cover the page to within this fraction of its size. */
#define COVER_TOLERANCE 0.01
/* A JPEG stream larger than this is decoded and re-encoded, not kept. */
#define MAX_KEPT_JPEG ((size_t)256 << 20)

typedef struct pdf {
    qpdf_data q;
    unsigned char *buf;
    size_t len;
    int npages;
} pdf_t;

int pm__pdf_magic(const unsigned char *b, size_t n)
{
    return n >= 5 && memcmp(b, "%PDF-", 5) == 0;
}

void pm__pdf_forget(pm_engine_t *eng)
{
    pm_free(eng->pdf_jpeg);
    eng->pdf_jpeg = NULL;
    eng->pdf_jpeg_len = 0;
}

static void pdf_close(pdf_t *d)
{
    if (d->q != NULL)
        qpdf_cleanup(&d->q);
    pm_free(d->buf);
    memset(d, 0, sizeof(*d));
}

/* qpdf's error text, or `fallback`. */
static const char *qpdf_why(qpdf_data q, const char *fallback)
{
    if (q != NULL && qpdf_has_error(q)) {
        const char *t = qpdf_get_error_message_detail(q, qpdf_get_error(q));
        return t != NULL && *t ? t : fallback;
    }
    return fallback;
}

/* Takes qpdf's pending error, if any (it is ours to handle: qpdf would
 * otherwise complain on stderr at the next call). */
static void clear_error(qpdf_data q)
{
    if (qpdf_has_error(q))
        (void)qpdf_get_error(q);
}

/* Drains qpdf's warnings into the log; returns how many there were and
 * keeps the first in `first`. */
static int drain_warnings(qpdf_data q, const char *path, char *first,
                          size_t flen)
{
    int n = 0;

    while (qpdf_more_warnings(q)) {
        qpdf_error e = qpdf_next_warning(q);
        const char *t = qpdf_get_error_message_detail(q, e);

        if (n++ == 0 && first != NULL)
            snprintf(first, flen, "%s", t != NULL ? t : "");
        pm_log(PM_LOG_DEBUG, "pdf", "%s: qpdf: %s", path, t != NULL ? t : "");
    }
    return n;
}

/* Reads and opens the PDF; refuses encrypted and page-less files. */
static int pdf_open(pm_engine_t *eng, const char *path, pdf_t *d)
{
    char first[256] = "";
    int fd, err, nwarn;

    memset(d, 0, sizeof(*d));
    fd = pm__page_open(path);
    if (fd < 0)
        return pm__engine_fail(eng, -errno, "%s: cannot open: %s", path,
                               strerror(errno));
    err = pm_read_fd(fd, PDF_MAX_BYTES, &d->buf, &d->len);
    close(fd);
    if (err == PM_ETOOBIG)
        return pm__engine_fail(eng, err,
                               "%s: PDF is over the limit of %zu MiB; not read",
                               path, PDF_MAX_BYTES >> 20);
    if (err)
        return pm__engine_fail(eng, err, "%s: cannot read: %s", path,
                               pm_strerror(err));
    d->q = qpdf_init();
    if (d->q == NULL) {
        pdf_close(d);
        return pm__engine_fail(eng, PM_ENOMEM, "%s: out of memory", path);
    }
    qpdf_silence_errors(d->q);
    qpdf_set_suppress_warnings(d->q, QPDF_TRUE);
    if (qpdf_read_memory(d->q, path, (const char *)d->buf, d->len, NULL) &
            QPDF_ERRORS &&
        qpdf_get_error_code(d->q, qpdf_get_error(d->q)) == qpdf_e_password) {
        pdf_close(d);
        return pm__engine_fail(eng, PM_EUNSUPP,
                               "%s: encrypted PDF (password-protected); not "
                               "read (save an unencrypted copy)",
                               path);
    }
    if (qpdf_has_error(d->q)) {
        err = pm__engine_fail(eng, PM_ECORRUPT, "%s: damaged PDF: %s", path,
                              qpdf_why(d->q, "qpdf cannot read it"));
        pdf_close(d);
        return err;
    }
    nwarn = drain_warnings(d->q, path, first, sizeof(first));
    if (nwarn > 0)
        pm_log(PM_LOG_WARN, "pdf",
               "%s: damaged PDF repaired on reading (%d "
               "warning%s, first: %s)",
               path, nwarn, nwarn == 1 ? "" : "s", first);
    if (qpdf_is_encrypted(d->q)) {
        pdf_close(d);
        return pm__engine_fail(eng, PM_EUNSUPP,
                               "%s: encrypted PDF; not read (save an "
                               "unencrypted copy)",
                               path);
    }
    d->npages = qpdf_get_num_pages(d->q);
    /* Resources, boxes and /Rotate may be inherited from the page tree:
     * each page gets its own (in memory). */
    if (d->npages > 0 && !qpdf_has_error(d->q))
        qpdf_push_inherited_attributes_to_page(d->q);
    clear_error(d->q);
    if (qpdf_has_error(d->q) || d->npages < 1) {
        err = pm__engine_fail(eng, PM_ECORRUPT, "%s: damaged PDF: %s", path,
                              d->npages == 0
                                  ? "it has no pages"
                                  : qpdf_why(d->q, "its page tree is broken"));
        pdf_close(d);
        return err;
    }
    return 0;
}

void pm_engine_set_pdf_text(pm_engine_t *eng, int refuse)
{
    eng->pdf_count_refuses_text = refuse;
}

static int text_page(pdf_t *d);

/* The refusal of a PDF with text on page `tp`. */
static int text_refused(pm_engine_t *eng, const char *path, int tp)
{
    return pm__engine_fail(eng, PM_EUNSUPP,
                           "%s: already has a text layer (text on page %d); "
                           "set `pdf_text = redo` in the profile to OCR it "
                           "again",
                           path, tp);
}

int pm__pdf_count(pm_engine_t *eng, const char *path, int *npages)
{
    pdf_t d;
    int err = pdf_open(eng, path, &d), tp;

    *npages = err ? 0 : d.npages;
    if (!err && eng->pdf_count_refuses_text && (tp = text_page(&d)) > 0) {
        err = text_refused(eng, path, tp);
        *npages = 0;
    }
    pdf_close(&d);
    return err;
}

/* ---- objects ---- */

static double num(qpdf_data q, qpdf_oh oh, double dflt)
{
    return qpdf_oh_is_number(q, oh) ? qpdf_oh_get_numeric_value(q, oh) : dflt;
}

static qpdf_oh key(qpdf_data q, qpdf_oh dict, const char *k)
{
    return qpdf_oh_get_key_if_dict(q, dict, k);
}

/* A boolean's value; false when it is none. */
static int flag(qpdf_data q, qpdf_oh oh)
{
    return qpdf_oh_is_bool(q, oh) && qpdf_oh_get_bool_value(q, oh);
}

/* The page's box (CropBox within MediaBox, else MediaBox) in points. */
static int page_box(qpdf_data q, qpdf_oh page, double box[4])
{
    qpdf_oh b = key(q, page, "/CropBox");

    if (!qpdf_oh_is_array(q, b) || qpdf_oh_get_array_n_items(q, b) != 4)
        b = key(q, page, "/MediaBox");
    if (!qpdf_oh_is_array(q, b) || qpdf_oh_get_array_n_items(q, b) != 4)
        return -1;
    for (int k = 0; k < 4; k++)
        box[k] = num(q, qpdf_oh_get_array_item(q, b, k), NAN);
    if (!isfinite(box[0]) || !isfinite(box[1]) || !isfinite(box[2]) ||
        !isfinite(box[3]))
        return -1;
    if (box[0] > box[2]) {
        double t = box[0];
        box[0] = box[2];
        box[2] = t;
    }
    if (box[1] > box[3]) {
        double t = box[1];
        box[1] = box[3];
        box[3] = t;
    }
    return box[2] - box[0] > 0 && box[3] - box[1] > 0 ? 0 : -1;
}

/* /Rotate as 0, 90, 180 or 270. */
static int page_rotate(qpdf_data q, qpdf_oh page)
{
    int r = (int)num(q, key(q, page, "/Rotate"), 0);

    r %= 360;
    if (r < 0)
        r += 360;
    return r - r % 90;
}

/* The XObject named `name` in `resources`, or 0. */
static qpdf_oh xobject(qpdf_data q, qpdf_oh resources, const char *name)
{
    char k[PM_PDF_NAME_MAX + 2];
    qpdf_oh x;

    snprintf(k, sizeof(k), "/%s", name);
    x = key(q, key(q, resources, "/XObject"), k);
    return qpdf_oh_is_stream(q, x) ? x : 0;
}

/* Scans a stream's decoded data (a page's content, or a form's). 0, or
 * -1 when qpdf cannot decode it. */
static int scan_stream(qpdf_data q, qpdf_oh stream, int is_page,
                       pm_pdf_scan_t *s)
{
    unsigned char *data = NULL;
    size_t len = 0;
    QPDF_BOOL filtered = QPDF_TRUE;
    QPDF_ERROR_CODE rc;

    if (is_page)
        rc = qpdf_oh_get_page_content_data(q, stream, &data, &len);
    else
        rc = qpdf_oh_get_stream_data(q, stream, qpdf_dl_generalized, &filtered,
                                     &data, &len);
    if ((rc & QPDF_ERRORS) || !filtered) {
        clear_error(q);
        free(data);
        memset(s, 0, sizeof(*s));
        s->paint_ops = 1; /* what it draws is not known */
        return -1;
    }
    pm__pdf_scan(data, len < CONTENT_MAX_BYTES ? len : CONTENT_MAX_BYTES, s);
    free(data); /* qpdf's malloc */
    return 0;
}

/* Counts text-showing operators in the forms a scan drew (recursively). */
static int forms_text(qpdf_data q, qpdf_oh resources, const pm_pdf_scan_t *s,
                      int depth, int *budget)
{
    int text = 0;

    for (int k = 0; k < s->ndrawn && depth < FORM_MAX_DEPTH; k++) {
        qpdf_oh x = xobject(q, resources, s->drawn[k]);
        qpdf_oh dict = x ? qpdf_oh_get_dict(q, x) : 0;
        pm_pdf_scan_t *inner;
        qpdf_oh res;

        if (!x ||
            !qpdf_oh_is_name_and_equals(q, key(q, dict, "/Subtype"), "/Form"))
            continue;
        if ((*budget)-- <= 0)
            break;
        inner = pm_malloc(sizeof(*inner));
        if (inner == NULL)
            break;
        scan_stream(q, x, 0, inner);
        res = key(q, dict, "/Resources");
        text += inner->text_ops +
                forms_text(q, qpdf_oh_is_dictionary(q, res) ? res : resources,
                           inner, depth + 1, budget);
        pm_free(inner);
    }
    return text;
}

/* The first page (1-based) with text on it, 0 when none has any. */
static int text_page(pdf_t *d)
{
    pm_pdf_scan_t *s = pm_malloc(sizeof(*s));
    int found = 0;

    if (s == NULL)
        return 0;
    for (int i = 0; i < d->npages && !found; i++) {
        qpdf_oh page = qpdf_get_page_n(d->q, (size_t)i);
        int budget = FORM_MAX_COUNT;

        scan_stream(d->q, page, 1, s);
        if (s->text_ops > 0 ||
            forms_text(d->q, key(d->q, page, "/Resources"), s, 0, &budget) > 0)
            found = i + 1;
        clear_error(d->q);
        qpdf_oh_release_all(d->q);
    }
    pm_free(s);
    return found;
}

/* ---- one image over the page ---- */

/* Whether the image's unit square lands on the page box. */
static int covers(const double m[6], const double box[4])
{
    double w = box[2] - box[0], h = box[3] - box[1];

    return fabs(m[1]) < 1e-6 && fabs(m[2]) < 1e-6 &&
           fabs(m[0] - w) <= COVER_TOLERANCE * w &&
           fabs(m[3] - h) <= COVER_TOLERANCE * h &&
           fabs(m[4] - box[0]) <= COVER_TOLERANCE * w &&
           fabs(m[5] - box[1]) <= COVER_TOLERANCE * h;
}

/* Number of colour components of a colour space we take as it is: 1 or
 * 3, else 0. */
static int components(qpdf_data q, qpdf_oh cs)
{
    if (qpdf_oh_is_name_and_equals(q, cs, "/DeviceGray") ||
        qpdf_oh_is_name_and_equals(q, cs, "/CalGray"))
        return 1;
    if (qpdf_oh_is_name_and_equals(q, cs, "/DeviceRGB") ||
        qpdf_oh_is_name_and_equals(q, cs, "/CalRGB"))
        return 3;
    if (qpdf_oh_is_array(q, cs) && qpdf_oh_get_array_n_items(q, cs) >= 2) {
        qpdf_oh fam = qpdf_oh_get_array_item(q, cs, 0);
        qpdf_oh arg = qpdf_oh_get_array_item(q, cs, 1);
        int n;

        if (qpdf_oh_is_name_and_equals(q, fam, "/CalGray"))
            return 1;
        if (qpdf_oh_is_name_and_equals(q, fam, "/CalRGB"))
            return 3;
        if (qpdf_oh_is_name_and_equals(q, fam, "/ICCBased") &&
            qpdf_oh_is_stream(q, arg)) {
            n = (int)num(q, key(q, qpdf_oh_get_dict(q, arg), "/N"), 0);
            return n == 1 || n == 3 ? n : 0;
        }
    }
    return 0;
}

/* The one filter of an image, or NULL when it has none or several. */
static const char *only_filter(qpdf_data q, qpdf_oh dict, qpdf_oh *parms)
{
    qpdf_oh f = key(q, dict, "/Filter"), p = key(q, dict, "/DecodeParms");

    *parms = p;
    if (qpdf_oh_is_array(q, f) && qpdf_oh_get_array_n_items(q, f) == 1) {
        f = qpdf_oh_get_array_item(q, f, 0);
        if (qpdf_oh_is_array(q, p))
            *parms = qpdf_oh_get_array_item(q, p, 0);
    }
    return qpdf_oh_is_name(q, f) ? qpdf_oh_get_name(q, f) : NULL;
}

/* Whether /Decode is absent, the default, or (1 component) inverted. */
static int decode_array(qpdf_data q, qpdf_oh dict, int ncomp, int *invert)
{
    qpdf_oh a = key(q, dict, "/Decode");

    *invert = 0;
    if (!qpdf_oh_is_array(q, a))
        return 0;
    if (qpdf_oh_get_array_n_items(q, a) != 2 * ncomp)
        return -1;
    for (int k = 0; k < 2 * ncomp; k++) {
        double v = num(q, qpdf_oh_get_array_item(q, a, k), -1);
        double want = k % 2 ? 1 : 0;

        if (ncomp == 1 && k == 0 && v == 1)
            *invert = 1;
        else if (ncomp == 1 && k == 1 && *invert && v == 0)
            continue;
        else if (v != want)
            return -1;
    }
    return 0;
}

/* Fills *im from an image XObject's dictionary; kind OTHER when the page
 * is better rendered (masks, colour spaces and filters taken as they are
 * only when simple). */
static void image_facts(qpdf_data q, qpdf_oh x, pm_pdf_image_t *im)
{
    qpdf_oh dict = qpdf_oh_get_dict(q, x), parms;
    const char *filter;
    QPDF_BOOL decodable = QPDF_FALSE;

    memset(im, 0, sizeof(*im));
    if (!qpdf_oh_is_name_and_equals(q, key(q, dict, "/Subtype"), "/Image") ||
        flag(q, key(q, dict, "/ImageMask")) ||
        qpdf_oh_has_key(q, dict, "/SMask") || qpdf_oh_has_key(q, dict, "/Mask"))
        return;
    im->width = (long long)num(q, key(q, dict, "/Width"), 0);
    im->height = (long long)num(q, key(q, dict, "/Height"), 0);
    im->bpc = (int)num(q, key(q, dict, "/BitsPerComponent"), 0);
    im->ncomp = components(q, key(q, dict, "/ColorSpace"));
    filter = only_filter(q, dict, &parms);
    if (im->ncomp == 0 || decode_array(q, dict, im->ncomp, &im->invert) != 0 ||
        !(im->bpc == 8 || (im->bpc == 1 && im->ncomp == 1)))
        return; /* 2, 4 or 16 bits: rendered */
    if (filter != NULL && strcmp(filter, "/DCTDecode") == 0) {
        im->kind = im->invert ? PM_PDF_IMG_OTHER : PM_PDF_IMG_DCT;
    } else if (filter != NULL && strcmp(filter, "/CCITTFaxDecode") == 0) {
        im->ccitt_k = (int)num(q, key(q, parms, "/K"), 0);
        im->ccitt_cols = (int)num(q, key(q, parms, "/Columns"), 1728);
        im->ccitt_black_is_1 = flag(q, key(q, parms, "/BlackIs1"));
        im->ccitt_byte_align = flag(q, key(q, parms, "/EncodedByteAlign"));
        if (im->ncomp == 1 && im->ccitt_cols == im->width &&
            !(im->ccitt_k < 0 && im->ccitt_byte_align))
            im->kind = PM_PDF_IMG_CCITT;
    } else if (qpdf_oh_get_stream_data(q, x, qpdf_dl_generalized, &decodable,
                                       NULL, NULL) == 0 &&
               decodable) {
        im->kind = PM_PDF_IMG_RAW;
    }
    clear_error(q); /* a failure above only means: rendered */
}

/* The stream's data, raw (level none) or decoded; a qpdf warning while
 * reading it (a damaged or cut-off stream) is an error. */
static int stream_data(pm_engine_t *eng, const char *path, int page,
                       qpdf_data q, qpdf_oh x, int decode, unsigned char **data,
                       size_t *len)
{
    QPDF_BOOL filtered = QPDF_TRUE;
    char first[256] = "";
    QPDF_ERROR_CODE rc;

    drain_warnings(q, path, NULL, 0);
    rc = qpdf_oh_get_stream_data(q, x,
                                 decode ? qpdf_dl_generalized : qpdf_dl_none,
                                 &filtered, data, len);
    if (!decode)
        filtered = QPDF_TRUE; /* raw, as asked */
    if ((rc & QPDF_ERRORS) || !filtered ||
        drain_warnings(q, path, first, sizeof(first)) > 0) {
        if (first[0] == '\0' && qpdf_has_error(q))
            snprintf(first, sizeof(first), "%s", qpdf_why(q, "unreadable"));
        clear_error(q);
        free(*data);
        *data = NULL;
        return pm__engine_fail(eng, PM_ECORRUPT,
                               "%s page %d: damaged image stream: %s", path,
                               page + 1,
                               first[0]    ? first
                               : !filtered ? "cannot be decoded"
                                           : qpdf_why(q, "unreadable"));
    }
    return 0;
}

/* Decodes a JPEG stream; keeps its bytes on the engine when `keep`. */
static PIX *dct_pix(pm_engine_t *eng, const pm_pdf_image_t *im,
                    unsigned char *data, size_t len, int keep)
{
    l_int32 w = 0, h = 0, spp = 0, ycck = 0, cmyk = 0;
    PIX *pix;

    pm__lib_clear();
    if (readHeaderMemJpeg(data, len, &w, &h, &spp, &ycck, &cmyk) != 0 || cmyk ||
        w != im->width || h != im->height || (spp != 1 && spp != 3))
        return NULL;
    pix = pixReadMemJpeg(data, len, 0, 1, NULL, 0);
    if (pix != NULL && keep && len <= MAX_KEPT_JPEG) {
        eng->pdf_jpeg = pm_malloc(len);
        if (eng->pdf_jpeg != NULL) {
            memcpy(eng->pdf_jpeg, data, len);
            eng->pdf_jpeg_len = len;
        }
    }
    return pix;
}

/* Turns a native image as /Rotate says (clockwise), swapping the
 * resolutions for a quarter turn. */
static PIX *turn(PIX *pix, int rotate)
{
    PIX *t;
    l_int32 xres = pixGetXRes(pix), yres = pixGetYRes(pix);

    if (rotate == 0)
        return pix;
    t = pixRotateOrth(pix, rotate / 90);
    pixDestroy(&pix);
    if (t != NULL && rotate % 180 != 0)
        pixSetResolution(t, yres, xres);
    return t;
}

/* Decodes the page's one image (kind != OTHER) at its own resolution. */
static int native_page(pm_engine_t *eng, const char *path, int page, pdf_t *d,
                       qpdf_oh x, const pm_pdf_image_t *im, const double box[4],
                       int rotate, long long max_pixels, PIX **out)
{
    unsigned char *data = NULL;
    size_t len = 0;
    char what[32];
    PIX *pix = NULL;
    double win = (box[2] - box[0]) / 72.0, hin = (box[3] - box[1]) / 72.0;
    int err;

    snprintf(what, sizeof(what), "page %d", page + 1);
    err =
        pm__load_check_dims(eng, path, what, im->width, im->height, max_pixels);
    if (!err)
        err = stream_data(eng, path, page, d->q, x, im->kind == PM_PDF_IMG_RAW,
                          &data, &len);
    if (err)
        return err;
    pm__lib_clear();
    if (im->kind == PM_PDF_IMG_DCT)
        pix = dct_pix(eng, im, data, len, rotate == 0);
    else if (im->kind == PM_PDF_IMG_CCITT)
        pix = pm__pdf_ccitt_pix(im, data, len);
    else
        pix = pm__pdf_raw_pix(im, data, len);
    free(data);
    if (pix != NULL &&
        (pixGetWidth(pix) != im->width || pixGetHeight(pix) != im->height))
        pixDestroy(&pix);
    if (pix == NULL) {
        pm__pdf_forget(eng);
        return pm__engine_fail(
            eng, PM_ECORRUPT,
            "%s page %d: cannot decode its %lldx%lld %s image: damaged or "
            "truncated data (%s)",
            path, page + 1, im->width, im->height,
            im->kind == PM_PDF_IMG_DCT     ? "JPEG"
            : im->kind == PM_PDF_IMG_CCITT ? "CCITT"
                                           : "Flate",
            pm__lib_last()[0] ? pm__lib_last() : "no detail");
    }
    pixSetResolution(pix, (l_int32)lround(im->width / win),
                     (l_int32)lround(im->height / hin));
    *out = turn(pix, rotate);
    if (*out == NULL) {
        pm__pdf_forget(eng);
        return pm__engine_fail(eng, PM_ENOMEM, "%s page %d: out of memory",
                               path, page + 1);
    }
    return 0;
}

/* The page's one image covering it, or 0. */
static qpdf_oh single_image(pdf_t *d, qpdf_oh page, const double box[4],
                            int redo, pm_pdf_image_t *im)
{
    pm_pdf_scan_t *s = pm_malloc(sizeof(*s));
    qpdf_oh x = 0;

    memset(im, 0, sizeof(*im));
    if (s == NULL)
        return 0;
    /* Invisible text (a text layer over the scan) does not stop a page
     * that is read again from being taken as its image. */
    if (scan_stream(d->q, page, 1, s) == 0 && s->ndo == 1 &&
        s->paint_ops == 0 && s->visible_text == 0 &&
        (s->text_ops == 0 || redo) && covers(s->do_ctm, box))
        x = xobject(d->q, key(d->q, page, "/Resources"), s->drawn[0]);
    pm_free(s);
    if (x)
        image_facts(d->q, x, im);
    return x && im->kind != PM_PDF_IMG_OTHER ? x : 0;
}

int pm__pdf_load(pm_engine_t *eng, const char *path, int page,
                 const pm_profile_t *p, struct Pix **out)
{
    pm_pdf_image_t im;
    double box[4];
    qpdf_oh pg, x;
    pdf_t d;
    int err, tp;

    *out = NULL;
    pm__pdf_forget(eng);
    err = pdf_open(eng, path, &d);
    if (err)
        return err;
    if (page < 0 || page >= d.npages) {
        err = pm__engine_fail(eng, PM_EINVAL,
                              "%s page %d: no such page, file has %d", path,
                              page + 1, d.npages);
        goto out;
    }
    if (!p->pdf_text_redo && (tp = text_page(&d)) > 0) {
        err = text_refused(eng, path, tp);
        goto out;
    }
    pg = qpdf_get_page_n(d.q, (size_t)page);
    if (qpdf_has_error(d.q) || page_box(d.q, pg, box) != 0) {
        err = pm__engine_fail(eng, PM_ECORRUPT,
                              "%s page %d: damaged PDF: no usable page size "
                              "(MediaBox)",
                              path, page + 1);
        goto out;
    }
    x = single_image(&d, pg, box, p->pdf_text_redo, &im);
    if (x)
        err = native_page(eng, path, page, &d, x, &im, box,
                          page_rotate(d.q, pg), p->max_pixels, out);
    else
        err = pm__pdf_render(eng, path, d.buf, d.len, page, p->pdf_dpi,
                             p->max_pixels, out);
out:
    pdf_close(&d);
    return err;
}
