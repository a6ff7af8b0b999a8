/*
 * pdfa.c: the assembly stage (pm_assemble_doc). Page artifacts in, one
 * PDF/A-2b (or, by profile, PDF/A-1b) and one text file out.
 *
 * Each page is its encoded image (the G4 strip, JPEG or JPEG 2000 file,
 * embedded byte for byte with the matching filter; a JPEG that deflates
 * by at least 1% is stored deflated, [/FlateDecode /DCTDecode], which
 * gives back the same bytes) under the invisible
 * text layer that Tesseract's renderer wrote for it. qpdf's library builds
 * the document: the first page's GlyphLessFont is copied in once and shared
 * by every page, and the catalog gets XMP metadata (pdfaid part 2 or 1, B), an
 * sRGB OutputIntent with its ICC profile, and an Info dictionary that
 * agrees with the XMP. qpdf writes the trailer /ID from the content.
 * The XMP's DocumentID and InstanceID are derived from the content too
 * (the title and every page's content stream, text layer and image size
 * included), so the same pages give the same document: only the dates,
 * and the /ID that digests them, differ (docs/archival.md).
 *
 * Memory stays bounded whatever the page count: no page's bytes are held
 * in memory past its own add_page(). qpdf's C API builds a skeleton
 * document whose image and content streams are empty and say where their
 * bytes are (PM_QPDF_SOURCE_KEY: the page's JPEG or JPEG 2000 artifact
 * itself, or the assembly's spool file beside the PDF for what is made
 * here: content streams, G4 strips, deflated JPEGs); qpdf_stream.cc then
 * writes the document, reading each stream from its file as it goes.
 * Each text-layer PDF is open only while its page is added.
 *
 * The document is written to a temp name, fsynced and renamed.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <qpdf/qpdf-c.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"
#include "workers/qpdf_stream.h"

#ifndef PM_VERSION
#define PM_VERSION "dev"
#endif

#define MAX_ARTIFACT (512u << 20) /* no page image is this large */
/* The operators that draw an MRC page's masks: one line each. */
#define MRC_DRAW_SIZE (PM_MRC_MASKS * 160)

#define SPOOL_CHUNK (64u << 10)

/* The file beside the PDF that holds the streams made here, and its
 * length (the offset of the next one). */
typedef struct spool {
    char *path;
    int fd;
    long long end;
} spool_t;

typedef struct assembly {
    pm_engine_t *eng;
    qpdf_data out;
    qpdf_data font_src; /* text PDF whose font the pages share; kept open
                         * until the skeleton is written */
    unsigned char *font_src_buf;
    int fonts_id, fonts_gen; /* /Font dictionary in `out`, 0 until found */
    spool_t spool;
    int pages;
    int part;        /* PDF/A part: 1 (PDF 1.4, no JPEG 2000) or 2 */
    EVP_MD_CTX *ids; /* digest the XMP's ids are derived from */
} assembly_t;

/* Returns qpdf's pending error text (borrowed until the next qpdf call). */
static const char *qpdf_err(qpdf_data q)
{
    if (q != NULL && qpdf_has_error(q))
        return qpdf_get_error_full_text(q, qpdf_get_error(q));
    return "unknown qpdf error";
}

/* ---- page text layer ---- */

typedef struct text_layer {
    unsigned char *content; /* malloc'd by qpdf */
    size_t len;
    double width, height; /* MediaBox of the text page, points */
} text_layer_t;

/* Copies each (indirect) font of `fonts` into a new /Font dictionary of the
 * output document, which every page then shares. */
static int adopt_fonts(assembly_t *a, qpdf_data td, qpdf_oh fonts,
                       const char *path)
{
    qpdf_oh dict = qpdf_oh_new_dictionary(a->out);

    qpdf_oh_begin_dict_key_iter(td, fonts);
    while (qpdf_oh_dict_more_keys(td)) {
        const char *key = qpdf_oh_dict_next_key(td);
        qpdf_oh font = qpdf_oh_get_key(td, fonts, key);
        if (!qpdf_oh_is_indirect(td, font))
            continue;
        qpdf_oh_replace_key(a->out, dict, key,
                            qpdf_oh_copy_foreign_object(a->out, td, font));
    }
    if (qpdf_has_error(a->out) || qpdf_has_error(td))
        return pm__engine_fail(a->eng, PM_EPDF, "%s: cannot copy font: %s",
                               path,
                               qpdf_err(qpdf_has_error(td) ? td : a->out));
    /* Indirect, shared by every page, and found again by its number
     * after each page's handles are released. */
    dict = qpdf_make_indirect_object(a->out, dict);
    a->fonts_id = qpdf_oh_get_object_id(a->out, dict);
    a->fonts_gen = qpdf_oh_get_generation(a->out, dict);
    return 0;
}

/* Reads the text-only page; on the first one also adopts its fonts. */
static int read_text_layer(assembly_t *a, const char *path, text_layer_t *tl)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    qpdf_data td;
    qpdf_oh page, box, fonts;
    int err;

    memset(tl, 0, sizeof(*tl));
    err = pm_read_file(path, MAX_ARTIFACT, &buf, &len);
    if (err)
        return pm__engine_fail(a->eng, err, "%s: cannot read: %s", path,
                               pm_strerror(err));
    td = qpdf_init();
    qpdf_silence_errors(td);
    qpdf_set_suppress_warnings(td, QPDF_TRUE);
    if (qpdf_read_memory(td, path, (const char *)buf, len, NULL) & QPDF_ERRORS)
        goto bad;
    page = qpdf_get_page_n(td, 0);
    box = qpdf_oh_get_key(td, page, "/MediaBox");
    if (!qpdf_oh_is_array(td, box) || qpdf_oh_get_array_n_items(td, box) != 4)
        goto bad;
    tl->width =
        qpdf_oh_get_numeric_value(td, qpdf_oh_get_array_item(td, box, 2));
    tl->height =
        qpdf_oh_get_numeric_value(td, qpdf_oh_get_array_item(td, box, 3));
    if (qpdf_oh_get_page_content_data(td, page, &tl->content, &tl->len) &
        QPDF_ERRORS)
        goto bad;
    if (a->fonts_id == 0) {
        fonts = qpdf_oh_get_key(td, qpdf_oh_get_key(td, page, "/Resources"),
                                "/Font");
        if (qpdf_oh_is_dictionary(td, fonts)) {
            err = adopt_fonts(a, td, fonts, path);
            if (err) {
                free(tl->content);
                tl->content = NULL;
                qpdf_cleanup(&td);
                pm_free(buf);
                return err;
            }
            /* Stream data is copied at write time: keep the source. */
            a->font_src = td;
            a->font_src_buf = buf;
            return 0;
        }
    }
    qpdf_cleanup(&td);
    pm_free(buf);
    return 0;

bad:
    err = pm__engine_fail(a->eng, PM_EPDF, "%s: unreadable text layer: %s",
                          path, qpdf_err(td));
    free(tl->content);
    tl->content = NULL;
    qpdf_cleanup(&td);
    pm_free(buf);
    return err;
}

/* ---- page image ---- */

static qpdf_oh new_stream(qpdf_data q, const unsigned char *data, size_t len,
                          const char *filter, const char *parms)
{
    qpdf_oh s = qpdf_oh_new_stream(q);

    qpdf_oh_replace_stream_data(
        q, s, data, len,
        filter ? qpdf_oh_parse(q, filter) : qpdf_oh_new_null(q),
        parms ? qpdf_oh_parse(q, parms) : qpdf_oh_new_null(q));
    return s;
}

/* ---- spool: the streams made here, beside the PDF ---- */

static int spool_open(assembly_t *a, const char *pdf)
{
    int err = pm_tmp_create(pdf, &a->spool.path, &a->spool.fd);

    if (err)
        return pm__engine_fail(a->eng, err, "%s: cannot create a temp file: %s",
                               pdf, pm_strerror(err));
    return 0;
}

static void spool_close(assembly_t *a)
{
    if (a->spool.fd >= 0)
        close(a->spool.fd);
    a->spool.fd = -1;
    if (a->spool.path != NULL)
        unlink(a->spool.path);
    pm_free(a->spool.path);
    a->spool.path = NULL;
}

static int spool_write(assembly_t *a, const void *data, size_t len)
{
    int err = pm_write_all(a->spool.fd, data, len);

    if (err)
        return pm__engine_fail(a->eng, err, "%s: cannot write: %s",
                               a->spool.path, pm_strerror(err));
    a->spool.end += (long long)len;
    return 0;
}

/* Drops what was written to the spool after offset `end`. */
static int spool_rewind(assembly_t *a, long long end)
{
    if (ftruncate(a->spool.fd, (off_t)end) != 0 ||
        lseek(a->spool.fd, (off_t)end, SEEK_SET) < 0)
        return pm__engine_fail(a->eng, -errno, "%s: cannot truncate: %s",
                               a->spool.path, strerror(errno));
    a->spool.end = end;
    return 0;
}

/* A stream of `q`, empty in the skeleton, whose bytes (encoded with
 * `filter`) are the `len` bytes of the file `path` at `off`. */
static qpdf_oh sourced_stream(qpdf_data q, const char *path, long long off,
                              long long len, const char *filter,
                              const char *parms)
{
    static const unsigned char none[1];
    qpdf_oh s = qpdf_oh_new_stream(q), src = qpdf_oh_new_array(q);

    qpdf_oh_replace_stream_data(
        q, s, none, 0, filter ? qpdf_oh_parse(q, filter) : qpdf_oh_new_null(q),
        parms ? qpdf_oh_parse(q, parms) : qpdf_oh_new_null(q));
    qpdf_oh_append_item(q, src, qpdf_oh_new_string(q, path));
    qpdf_oh_append_item(q, src, qpdf_oh_new_integer(q, off));
    qpdf_oh_append_item(q, src, qpdf_oh_new_integer(q, len));
    qpdf_oh_replace_key(q, qpdf_oh_get_dict(q, s), PM_QPDF_SOURCE_KEY, src);
    return s;
}

/* A stream of the `len` bytes at `data`, by way of the spool. */
static int spool_stream(assembly_t *a, const void *data, size_t len,
                        const char *filter, const char *parms, qpdf_oh *out)
{
    long long off = a->spool.end;
    int err = spool_write(a, data, len);

    if (err == 0)
        *out = sourced_stream(a->out, a->spool.path, off, (long long)len,
                              filter, parms);
    return err;
}

/* Deflates the chunk `z` holds (all of the file with Z_FINISH) onto the
 * spool; 0, 1 once the output passed `limit` bytes, or an error. */
static int deflate_chunk(assembly_t *a, z_stream *z, int flush,
                         unsigned char *out, long long start, long long limit)
{
    int err = 0;

    do {
        z->next_out = out;
        z->avail_out = SPOOL_CHUNK;
        deflate(z, flush); /* no error possible with these arguments */
        err = spool_write(a, out, SPOOL_CHUNK - z->avail_out);
        if (err == 0 && a->spool.end - start > limit)
            return 1;
    } while (err == 0 && z->avail_out == 0);
    return err;
}

/*
 * The entropy-coded data of a JPEG repeats itself wherever the page is
 * plain paper: deflated, a scanned text page's JPEG is 2-20% smaller, with
 * nothing lost (OCRmyPDF's optimiser does the same). Deflates the `len`
 * bytes of the file `path` open as `fd` onto the spool, a chunk at a time:
 * 1 with its place in *off and *zlen when that saves at least 1%, 0 when
 * not (the spool as it was; also when out of memory: the JPEG is then
 * embedded as it is), or an error naming the file.
 */
static int spool_deflate(assembly_t *a, const char *path, int fd, long long len,
                         long long *off, long long *zlen)
{
    unsigned char *in = pm_malloc(SPOOL_CHUNK), *out = pm_malloc(SPOOL_CHUNK);
    long long start = a->spool.end, limit = len - len / 100;
    int err = 0, flush = Z_NO_FLUSH;
    z_stream z;

    memset(&z, 0, sizeof(z));
    if (in == NULL || out == NULL ||
        deflateInit(&z, Z_BEST_COMPRESSION) != Z_OK) {
        pm_free(in);
        pm_free(out);
        return 0;
    }
    while (err == 0 && flush != Z_FINISH) {
        ssize_t n = read(fd, in, SPOOL_CHUNK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = pm__engine_fail(a->eng, -errno, "%s: cannot read: %s", path,
                                  strerror(errno));
            break;
        }
        z.next_in = in;
        z.avail_in = (uInt)n;
        flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
        err = deflate_chunk(a, &z, flush, out, start, limit);
    }
    deflateEnd(&z);
    pm_free(in);
    pm_free(out);
    if (err == 0) {
        *off = start;
        *zlen = a->spool.end - start;
        return 1;
    }
    return err < 0 ? err : spool_rewind(a, start);
}

/* Embeds the JPEG or JPEG 2000 file at `path` as an image stream (a JPEG
 * deflated when that saves bytes), read from its file when the document
 * is written; 0 or an error naming the file. */
static int file_stream(assembly_t *a, const char *path, pm_img_codec_t codec,
                       qpdf_oh *out)
{
    struct stat st;
    long long off = 0, zlen = 0;
    int fd, z = 0;

    if (codec == PM_IMG_JP2 && a->part == 1)
        return pm__engine_fail(a->eng, PM_EINVAL,
                               "%s: a JPEG 2000 page cannot go into a PDF/A-1 "
                               "document (use gray_codec = jpeg or pdfa = 2b)",
                               path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        int err = -errno;

        if (fd >= 0)
            close(fd);
        return pm__engine_fail(a->eng, err, "%s: cannot read: %s", path,
                               pm_strerror(err));
    }
    if (st.st_size > (off_t)MAX_ARTIFACT) {
        close(fd);
        return pm__engine_fail(a->eng, PM_EINVAL,
                               "%s: cannot read: larger than %u bytes", path,
                               MAX_ARTIFACT);
    }
    if (codec == PM_IMG_JPEG)
        z = spool_deflate(a, path, fd, (long long)st.st_size, &off, &zlen);
    close(fd);
    if (z < 0)
        return z;
    if (z > 0)
        *out = sourced_stream(a->out, a->spool.path, off, zlen,
                              "[/FlateDecode /DCTDecode]", NULL);
    else
        *out = sourced_stream(
            a->out, path, 0, (long long)st.st_size,
            codec == PM_IMG_JPEG ? "/DCTDecode" : "/JPXDecode", NULL);
    return 0;
}

/* Makes `img` an image XObject of w x h pixels in `cs` (NULL: none, an
 * image mask) with `bpc` bits per component (0: none, JPEG 2000). */
static void image_dict(qpdf_data q, qpdf_oh img, int w, int h, const char *cs,
                       int bpc)
{
    qpdf_oh dict = qpdf_oh_get_dict(q, img);

    qpdf_oh_replace_key(q, dict, "/Type", qpdf_oh_new_name(q, "/XObject"));
    qpdf_oh_replace_key(q, dict, "/Subtype", qpdf_oh_new_name(q, "/Image"));
    qpdf_oh_replace_key(q, dict, "/Width", qpdf_oh_new_integer(q, w));
    qpdf_oh_replace_key(q, dict, "/Height", qpdf_oh_new_integer(q, h));
    if (cs != NULL)
        qpdf_oh_replace_key(q, dict, "/ColorSpace", qpdf_oh_new_name(q, cs));
    else
        qpdf_oh_replace_key(q, dict, "/ImageMask", qpdf_oh_new_bool(q, 1));
    if (bpc > 0)
        qpdf_oh_replace_key(q, dict, "/BitsPerComponent",
                            qpdf_oh_new_integer(q, bpc));
}

/* A G4 stream of w x h pixels, black (the ink) as 0: painted when drawn
 * as an image mask. */
static int g4_stream(assembly_t *a, const unsigned char *data, size_t len,
                     int w, int h, qpdf_oh *out)
{
    char parms[128];

    snprintf(parms, sizeof(parms),
             "<< /K -1 /Columns %d /Rows %d /BlackIs1 false >>", w, h);
    return spool_stream(a, data, len, "/CCITTFaxDecode", parms, out);
}

/* Creates the image XObject for one page, embedding its stream as is (a
 * JPEG deflated when that saves bytes). */
static int image_xobject(assembly_t *a, const pm_page_result_t *pg,
                         qpdf_oh *out)
{
    qpdf_data q = a->out;
    unsigned char *data = NULL;
    size_t len = 0;
    int w = pg->width, h = pg->height, err;
    qpdf_oh img;

    if (pg->codec == PM_IMG_G4) {
        err = pm_encode_read_g4(a->eng, pg->image, &data, &len, &w, &h);
        if (err)
            return err;
        err = g4_stream(a, data, len, w, h, &img);
        pm_free(data);
        if (err)
            return err;
    } else {
        err = file_stream(a, pg->image, pg->codec, &img);
        if (err)
            return err;
    }
    image_dict(q, img, w, h,
               pg->codec == PM_IMG_G4 || pg->kind != PM_KIND_COLOR
                   ? "/DeviceGray"
                   : "/DeviceRGB",
               pg->codec == PM_IMG_JP2  ? 0
               : pg->codec == PM_IMG_G4 ? 1
                                        : 8);
    if (qpdf_has_error(q))
        return pm__engine_fail(a->eng, PM_EPDF, "%s: cannot embed: %s",
                               pg->image, qpdf_err(q));
    *out = img;
    return 0;
}

/*
 * The images of an MRC page (workers/mrc.c): the background JPEG as *bg
 * and its text masks as image masks mask[0..*n-1]; `draw` gets the
 * operators that paint each mask in its colour over the page box pw x ph
 * ("q 0.1 0.1 0.1 rg ... cm /Im1 Do Q", or "0.1 g" for a gray page).
 */
static int mrc_xobjects(assembly_t *a, const pm_page_result_t *pg, qpdf_oh *bg,
                        qpdf_oh mask[PM_MRC_MASKS], int *n, double pw,
                        double ph, char *draw, size_t draw_size)
{
    qpdf_data q = a->out;
    pm_mrc_page_t m;
    size_t used = 0;
    int err = pm__mrc_read(a->eng, pg->image, &m);

    *n = 0;
    draw[0] = '\0';
    if (err)
        return err;
    err = file_stream(a, m.background, PM_IMG_JPEG, bg);
    if (err == 0)
        image_dict(q, *bg, m.bg_width, m.bg_height,
                   m.ncomp == 3 ? "/DeviceRGB" : "/DeviceGray", 8);
    for (int i = 0; err == 0 && i < m.nmasks; i++) {
        const pm_mrc_mask_t *k = &m.masks[i];
        char paint[64];

        err = g4_stream(a, k->data, k->len, k->width, k->height, &mask[i]);
        if (err)
            break;
        image_dict(q, mask[i], k->width, k->height, NULL, 1);
        if (m.ncomp == 3)
            snprintf(paint, sizeof(paint), "%.4f %.4f %.4f rg",
                     k->fill[0] / 255.0, k->fill[1] / 255.0,
                     k->fill[2] / 255.0);
        else
            snprintf(paint, sizeof(paint), "%.4f g", k->fill[0] / 255.0);
        used += (size_t)snprintf(draw + used, draw_size - used,
                                 "q %s %.4f 0 0 %.4f 0 0 cm /Im%d Do Q\n",
                                 paint, pw, ph, i + 1);
        assert(used < draw_size);
        *n = i + 1;
    }
    if (err == 0 && qpdf_has_error(q))
        err = pm__engine_fail(a->eng, PM_EPDF, "%s: cannot embed: %s",
                              pg->image, qpdf_err(q));
    pm__mrc_page_cleanup(&m);
    return err;
}

/* ---- pages ---- */

/* Content: the image filling the page (for an MRC page, then `masks`:
 * the text masks drawn over it in their colours), then the text layer
 * scaled onto the same box (Tesseract sizes its page from the vertical
 * resolution only). */
static char *page_content(double pw, double ph, const char *masks,
                          const text_layer_t *tl, size_t *len)
{
    char head[MRC_DRAW_SIZE + 128];
    int n = snprintf(head, sizeof(head), "q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q\n",
                     pw, ph);

    n += snprintf(head + n, sizeof(head) - (size_t)n, "%s", masks);
    size_t extra = 0;
    char *buf;

    if (tl->content != NULL && tl->width > 0 && tl->height > 0)
        extra = tl->len + 128;
    buf = pm_malloc((size_t)n + extra + 1);
    if (buf == NULL)
        return NULL;
    memcpy(buf, head, (size_t)n);
    *len = (size_t)n;
    if (extra > 0) {
        *len += (size_t)snprintf(buf + *len, 128, "q %.6f 0 0 %.6f 0 0 cm\n",
                                 pw / tl->width, ph / tl->height);
        memcpy(buf + *len, tl->content, tl->len);
        *len += tl->len;
        memcpy(buf + *len, "\nQ\n", 3);
        *len += 3;
    }
    buf[*len] = '\0';
    return buf;
}

/* Adds a page's content stream and image facts to the ids' digest. */
static void id_digest(assembly_t *a, const char *content, size_t len,
                      const pm_page_result_t *pg)
{
    char facts[128];
    int n = snprintf(facts, sizeof(facts), "page %d %dx%d %dx%d %d %lld\n",
                     a->pages + 1, pg->width, pg->height, pg->xres, pg->yres,
                     (int)pg->codec, pg->bytes);

    EVP_DigestUpdate(a->ids, content, len);
    EVP_DigestUpdate(a->ids, facts, (size_t)n);
}

static int add_page(assembly_t *a, const pm_page_result_t *pg)
{
    qpdf_data q = a->out;
    text_layer_t tl;
    qpdf_oh img = 0, mask[PM_MRC_MASKS], page, res, xobj, box, cs = 0;
    double pw = pg->width * 72.0 / pg->xres, ph = pg->height * 72.0 / pg->yres;
    char *content, draw[MRC_DRAW_SIZE];
    size_t clen = 0;
    int err, nmask = 0;

    memset(&tl, 0, sizeof(tl));
    if (pg->text_pdf != NULL) {
        err = read_text_layer(a, pg->text_pdf, &tl);
        if (err)
            return err;
    }
    if (pg->codec == PM_IMG_MRC)
        err =
            mrc_xobjects(a, pg, &img, mask, &nmask, pw, ph, draw, sizeof(draw));
    else
        err = image_xobject(a, pg, &img);
    if (err) {
        free(tl.content);
        return err;
    }
    content = page_content(pw, ph, nmask > 0 ? draw : "", &tl, &clen);
    free(tl.content);
    if (content == NULL)
        return PM_ENOMEM;

    page = qpdf_oh_new_dictionary(q);
    qpdf_oh_replace_key(q, page, "/Type", qpdf_oh_new_name(q, "/Page"));
    box = qpdf_oh_new_array(q);
    qpdf_oh_append_item(q, box, qpdf_oh_new_integer(q, 0));
    qpdf_oh_append_item(q, box, qpdf_oh_new_integer(q, 0));
    qpdf_oh_append_item(q, box, qpdf_oh_new_real_from_double(q, pw, 4));
    qpdf_oh_append_item(q, box, qpdf_oh_new_real_from_double(q, ph, 4));
    qpdf_oh_replace_key(q, page, "/MediaBox", box);
    res = qpdf_oh_new_dictionary(q);
    xobj = qpdf_oh_new_dictionary(q);
    qpdf_oh_replace_key(q, xobj, "/Im0", img);
    for (int i = 0; i < nmask; i++) {
        char name[16];

        snprintf(name, sizeof(name), "/Im%d", i + 1);
        qpdf_oh_replace_key(q, xobj, name, mask[i]);
    }
    qpdf_oh_replace_key(q, res, "/XObject", xobj);
    if (a->fonts_id != 0 && tl.width > 0)
        qpdf_oh_replace_key(
            q, res, "/Font",
            qpdf_get_object_by_id(q, a->fonts_id, a->fonts_gen));
    qpdf_oh_replace_key(q, page, "/Resources", res);
    err = spool_stream(a, content, clen, NULL, NULL, &cs);
    if (err == 0) {
        qpdf_oh_replace_key(q, page, "/Contents", cs);
        id_digest(a, content, clen, pg);
    }
    pm_free(content);
    if (err)
        return err;
    page = qpdf_make_indirect_object(q, page);
    if (qpdf_has_error(q) ||
        (qpdf_add_page(q, q, page, QPDF_FALSE) & QPDF_ERRORS))
        return pm__engine_fail(a->eng, PM_EPDF, "page %d: %s", pg->page,
                               qpdf_err(q));
    qpdf_oh_release_all(q); /* handles are per page; the objects stay */
    a->pages++;
    return 0;
}

/* ---- document metadata ---- */

/* Returns `s` escaped for XML text and attributes, in a new string the
 * caller owns (pm_free), or NULL when out of memory. Never truncates: the
 * XMP title must agree with the Info dictionary's. */
static char *xml_escape(const char *s)
{
    char *dst = pm_malloc(strlen(s) * 6 + 1); /* "&quot;" is the longest */
    size_t n = 0;

    if (dst == NULL)
        return NULL;
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        default:
            break;
        }
        if (rep != NULL) {
            memcpy(dst + n, rep, strlen(rep));
            n += strlen(rep);
        } else if ((unsigned char)*s >= 0x20 || *s == '\t') {
            dst[n++] = *s;
        }
    }
    dst[n] = '\0';
    return dst;
}

/* A UUID of the 16 bytes at `md` (version 8, RFC 9562: custom, here
 * SHA-256 of the content). */
static void make_uuid(const unsigned char *md, char out[37])
{
    unsigned char b[16];

    memcpy(b, md, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x80); /* version 8 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
             "%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}

static char *xmp_packet(assembly_t *a, const char *title, const char *iso_date,
                        int pages)
{
    char uuid[37], inst[37], *esc, *xmp;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;

    esc = xml_escape(title);
    if (esc == NULL)
        return NULL;
    EVP_DigestUpdate(a->ids, title, strlen(title));
    if (EVP_DigestFinal_ex(a->ids, md, &mdlen) != 1 || mdlen < 32) {
        pm_free(esc);
        return NULL;
    }
    make_uuid(md, uuid);
    make_uuid(md + 16, inst);
    xmp = pm_asprintf(
        "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
        " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
        "  <rdf:Description rdf:about=\"\"\n"
        "    xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\"\n"
        "    xmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n"
        "    xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n"
        "    xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\"\n"
        "    xmlns:xmpMM=\"http://ns.adobe.com/xap/1.0/mm/\"\n"
        "    xmlns:xmpTPg=\"http://ns.adobe.com/xap/1.0/t/pg/\">\n"
        "   <pdfaid:part>%d</pdfaid:part>\n"
        "   <pdfaid:conformance>B</pdfaid:conformance>\n"
        "   <dc:format>application/pdf</dc:format>\n"
        "   <dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">%s</rdf:li>"
        "</rdf:Alt></dc:title>\n"
        "   <xmp:CreatorTool>pagemill %s</xmp:CreatorTool>\n"
        "   <xmp:CreateDate>%s</xmp:CreateDate>\n"
        "   <xmp:ModifyDate>%s</xmp:ModifyDate>\n"
        "   <xmp:MetadataDate>%s</xmp:MetadataDate>\n"
        "   <pdf:Producer>pagemill %s</pdf:Producer>\n"
        "   <xmpMM:DocumentID>uuid:%s</xmpMM:DocumentID>\n"
        "   <xmpMM:InstanceID>uuid:%s</xmpMM:InstanceID>\n"
        "   <xmpTPg:NPages>%d</xmpTPg:NPages>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        "<?xpacket end=\"w\"?>\n",
        a->part, esc, PM_VERSION, iso_date, iso_date, iso_date, PM_VERSION,
        uuid, inst, pages);
    pm_free(esc);
    return xmp;
}

static int add_metadata(assembly_t *a, const char *title, const char *icc_path)
{
    qpdf_data q = a->out;
    time_t now = time(NULL);
    struct tm tm;
    char iso[40], pdfdate[40], creator[64];
    unsigned char *icc = NULL;
    size_t icc_len = 0;
    char *xmp;
    qpdf_oh root, meta, iccs, intent, intents, info;
    int err;

    gmtime_r(&now, &tm);
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    strftime(pdfdate, sizeof(pdfdate), "D:%Y%m%d%H%M%S+00'00'", &tm);
    snprintf(creator, sizeof(creator), "pagemill %s", PM_VERSION);

    err = pm_read_file(icc_path, 1u << 24, &icc, &icc_len);
    if (err)
        return pm__engine_fail(a->eng, err,
                               "ICC profile %s: %s (install icc-profiles-free "
                               "or set icc_profile)",
                               icc_path, pm_strerror(err));
    xmp = xmp_packet(a, title, iso, a->pages);
    if (xmp == NULL) {
        pm_free(icc);
        return PM_ENOMEM;
    }
    root = qpdf_get_root(q);

    meta = new_stream(q, (unsigned char *)xmp, strlen(xmp), NULL, NULL);
    qpdf_oh_replace_key(q, qpdf_oh_get_dict(q, meta), "/Type",
                        qpdf_oh_new_name(q, "/Metadata"));
    qpdf_oh_replace_key(q, qpdf_oh_get_dict(q, meta), "/Subtype",
                        qpdf_oh_new_name(q, "/XML"));
    qpdf_oh_replace_key(q, root, "/Metadata", meta);

    iccs = new_stream(q, icc, icc_len, NULL, NULL);
    qpdf_oh_replace_key(q, qpdf_oh_get_dict(q, iccs), "/N",
                        qpdf_oh_new_integer(q, 3));
    intent = qpdf_oh_new_dictionary(q);
    qpdf_oh_replace_key(q, intent, "/Type",
                        qpdf_oh_new_name(q, "/OutputIntent"));
    qpdf_oh_replace_key(q, intent, "/S", qpdf_oh_new_name(q, "/GTS_PDFA1"));
    qpdf_oh_replace_key(q, intent, "/OutputConditionIdentifier",
                        qpdf_oh_new_string(q, "sRGB IEC61966-2.1"));
    qpdf_oh_replace_key(q, intent, "/Info",
                        qpdf_oh_new_string(q, "sRGB IEC61966-2.1"));
    qpdf_oh_replace_key(q, intent, "/DestOutputProfile", iccs);
    intents = qpdf_oh_new_array(q);
    qpdf_oh_append_item(q, intents, intent);
    qpdf_oh_replace_key(q, root, "/OutputIntents", intents);

    info = qpdf_oh_new_dictionary(q);
    qpdf_oh_replace_key(q, info, "/Title",
                        qpdf_oh_new_unicode_string(q, title));
    qpdf_oh_replace_key(q, info, "/Creator", qpdf_oh_new_string(q, creator));
    qpdf_oh_replace_key(q, info, "/Producer", qpdf_oh_new_string(q, creator));
    qpdf_oh_replace_key(q, info, "/CreationDate",
                        qpdf_oh_new_string(q, pdfdate));
    qpdf_oh_replace_key(q, info, "/ModDate", qpdf_oh_new_string(q, pdfdate));
    qpdf_oh_replace_key(q, qpdf_get_trailer(q), "/Info",
                        qpdf_make_indirect_object(q, info));
    pm_free(xmp);
    pm_free(icc);
    if (qpdf_has_error(q))
        return pm__engine_fail(a->eng, PM_EPDF, "metadata: %s", qpdf_err(q));
    return 0;
}

/* Writes the skeleton (every sourced stream empty, nothing decoded or
 * compressed) to the new temp file *skel beside `path`. */
static int write_skeleton(assembly_t *a, const char *path, char **skel)
{
    int err = pm_tmp_create(path, skel, NULL); /* new: no link followed */

    if (err != 0)
        return pm__engine_fail(a->eng, err, "%s: cannot create a temp file: %s",
                               path, pm_strerror(err));
    if (qpdf_init_write(a->out, *skel) & QPDF_ERRORS)
        return pm__engine_fail(a->eng, PM_EPDF, "%s: %s", *skel,
                               qpdf_err(a->out));
    qpdf_set_compress_streams(a->out, QPDF_FALSE);
    qpdf_set_decode_level(a->out, qpdf_dl_none);
    qpdf_set_object_stream_mode(a->out, qpdf_o_disable);
    if (qpdf_write(a->out) & QPDF_ERRORS)
        return pm__engine_fail(a->eng, PM_EPDF, "%s: %s", *skel,
                               qpdf_err(a->out));
    return 0;
}

/* The skeleton, then the document from it with each stream read from its
 * file (qpdf_stream.cc: the writer's settings, PDF/A's included). */
static int write_pdf(assembly_t *a, const char *path)
{
    char *skel = NULL, *tmp = NULL, msg[1024];
    int err = write_skeleton(a, path, &skel);

    /* The skeleton has all it needs: the text layer's font too. */
    qpdf_cleanup(&a->out);
    if (a->font_src != NULL)
        qpdf_cleanup(&a->font_src);
    pm_free(a->font_src_buf);
    a->font_src_buf = NULL;
    if (err == 0) {
        err = pm_tmp_create(path, &tmp, NULL);
        if (err)
            pm__engine_fail(a->eng, err, "%s: cannot create a temp file: %s",
                            path, pm_strerror(err));
    }
    if (err == 0 &&
        pm_qpdf_stream_write(skel, tmp, a->part, msg, sizeof(msg)) != 0)
        err = pm__engine_fail(a->eng, PM_EPDF, "%s: %s", path, msg);
    if (err == 0) {
        err = pm_commit_file(tmp, path);
        if (err)
            pm__engine_fail(a->eng, err, "%s: %s", path, pm_strerror(err));
    } else if (tmp != NULL) {
        unlink(tmp);
    }
    if (skel != NULL)
        unlink(skel);
    pm_free(skel);
    pm_free(tmp);
    return err;
}

/* ---- text sidecar ---- */

/* Appends the text file `path` to the open `fd`, a chunk at a time. */
static int append_text(pm_engine_t *eng, int fd, const char *path,
                       const char *tmp)
{
    unsigned char buf[SPOOL_CHUNK / 4];
    int in = open(path, O_RDONLY | O_CLOEXEC), err = 0;
    ssize_t n;

    if (in < 0)
        return pm__engine_fail(eng, -errno, "%s: %s", path, strerror(errno));
    while (err == 0 && (n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = pm__engine_fail(eng, -errno, "%s: %s", path, strerror(errno));
            break;
        }
        err = pm_write_all(fd, buf, (size_t)n);
        if (err)
            pm__engine_fail(eng, err, "%s: %s", tmp, pm_strerror(err));
    }
    close(in);
    return err;
}

/* The pages' texts, separated by form feeds as the tesseract CLI does,
 * copied a chunk at a time to a temp file then renamed to `path`. */
static int write_text(pm_engine_t *eng, const char *path,
                      const pm_page_result_t *pages, size_t npages)
{
    char *tmp = NULL;
    int fd = -1, err = pm_tmp_create(path, &tmp, &fd), first = 1;

    if (err)
        return pm__engine_fail(eng, err, "%s: cannot create a temp file: %s",
                               path, pm_strerror(err));
    for (size_t i = 0; i < npages && err == 0; i++) {
        if (!pages[i].ok || pages[i].text == NULL)
            continue;
        if (!first) {
            err = pm_write_all(fd, "\f", 1);
            if (err)
                pm__engine_fail(eng, err, "%s: %s", tmp, pm_strerror(err));
        }
        if (err == 0)
            err = append_text(eng, fd, pages[i].text, tmp);
        first = 0;
    }
    if (close(fd) != 0 && err == 0)
        err = pm__engine_fail(eng, -errno, "%s: %s", tmp, strerror(errno));
    if (err == 0) {
        err = pm_commit_file(tmp, path);
        if (err)
            pm__engine_fail(eng, err, "%s: %s", path, pm_strerror(err));
    } else {
        unlink(tmp);
    }
    pm_free(tmp);
    return err;
}

int pm_assemble_doc(pm_engine_t *eng, const pm_doc_task_t *d,
                    const pm_page_result_t *pages, size_t npages,
                    pm_doc_result_t *r)
{
    assembly_t a;
    double t0 = pm_now_ms();
    struct stat st;
    int err = 0;

    memset(r, 0, sizeof(*r));
    memset(&a, 0, sizeof(a));
    eng->errmsg[0] = '\0';
    a.eng = eng;
    a.part = d->pdfa_part == 1 ? 1 : 2;
    a.ids = EVP_MD_CTX_new();
    if (a.ids == NULL || EVP_DigestInit_ex(a.ids, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(a.ids);
        memset(r, 0, sizeof(*r));
        r->error = pm_strdup("out of memory");
        return PM_ENOMEM;
    }
    a.spool.fd = -1;
    a.out = qpdf_init();
    qpdf_silence_errors(a.out);
    if (qpdf_empty_pdf(a.out) & QPDF_ERRORS) {
        err = pm__engine_fail(eng, PM_EPDF, "qpdf: %s", qpdf_err(a.out));
        goto out;
    }
    err = spool_open(&a, d->pdf);
    for (size_t i = 0; i < npages && err == 0; i++)
        if (pages[i].ok)
            err = add_page(&a, &pages[i]);
    if (err == 0 && a.pages == 0)
        err = pm__engine_fail(eng, PM_EINVAL, "%s: no page converted", d->pdf);
    if (err == 0)
        err = add_metadata(&a, d->title, d->icc_profile);
    if (err == 0)
        err = write_pdf(&a, d->pdf);
    if (err == 0)
        err = write_text(eng, d->txt, pages, npages);
    if (err == 0 && d->tif != NULL && d->tiff_master != PM_TIFF_OFF)
        err = pm__tiff_master_write(eng, d, pages, npages);
out:
    if (a.out != NULL) /* before the font source it may reference */
        qpdf_cleanup(&a.out);
    if (a.font_src != NULL)
        qpdf_cleanup(&a.font_src);
    pm_free(a.font_src_buf);
    spool_close(&a);
    EVP_MD_CTX_free(a.ids);
    r->ok = err == 0;
    r->pages = a.pages;
    r->ms = pm__since(t0);
    if (err == 0 && stat(d->pdf, &st) == 0)
        r->pdf_bytes = (long long)st.st_size;
    if (err)
        r->error = pm_strdup(pm_engine_errmsg(eng)[0] ? pm_engine_errmsg(eng)
                                                      : pm_strerror(err));
    return err;
}
