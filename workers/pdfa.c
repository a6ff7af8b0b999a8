/*
 * pdfa.c: the assembly stage (pm_assemble_doc). Page artifacts in, one
 * PDF/A-2b (or, by profile, PDF/A-1b) and one text file out.
 *
 * Each page is its encoded image (the G4 strip, JPEG or JPEG 2000 file,
 * embedded byte for byte with the matching filter; a JPEG that deflates
 * by at least 1% is stored deflated, [/FlateDecode /DCTDecode], which
 * gives back the same bytes) under the invisible text layer that
 * Tesseract's renderer wrote for it. The first page's GlyphLessFont is
 * copied in once and shared by every page, and the catalog gets XMP
 * metadata (pdfaid part 2 or 1, B), an sRGB OutputIntent with its ICC
 * profile, and an Info dictionary that agrees with the XMP. The trailer
 * /ID digests the file. The XMP's DocumentID and InstanceID are derived
 * from the content too (the title and every page's content stream, text
 * layer and image size included), so the same pages give the same
 * document: only the dates, and the /ID that digests them, differ
 * (docs/archival.md).
 *
 * Memory stays bounded whatever the page count: the document is written
 * by pdf_writer.c as it is made, each page's objects when the page is
 * added, then forgotten; what stays is 8 bytes a object (the
 * cross-reference table) and 4 a page (the /Kids, written last with the
 * catalog). Objects 1 and 2 are the catalog and the page tree. Each
 * text-layer PDF is open in qpdf only while its page is added.
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
#include "workers/pdf_writer.h"

#ifndef PM_VERSION
#define PM_VERSION "dev"
#endif

#define MAX_ARTIFACT (512u << 20) /* no page image is this large */
/* The operators that draw an MRC page's masks: one line each. */
#define MRC_DRAW_SIZE (PM_MRC_MASKS * 160)
#define TEXT_CHUNK    (16u << 10)
#define MAX_FONTS     16 /* in the first text layer's /Font */
#define OBJ_CATALOG   1
#define OBJ_PAGES     2
/* zlib level of the deflated JPEGs (docs/benchmarks.md, "Assembly of
 * large documents"): on 7 gray scans 9 saved 5.81%, 6 5.79% and 1 5.59%
 * of the JPEG bytes, for 104, 100 and 88 ms of CPU: a JPEG's bytes are
 * all but random, and deflate costs about 25 ms a MiB at any level. */
#define JPEG_ZLEVEL 6
#define TEXT_ZLEVEL Z_DEFAULT_COMPRESSION /* content streams, ICC */

typedef struct assembly {
    pm_engine_t *eng;
    pm_pdfw_t w;
    int fonts; /* the shared /Font dictionary's object, 0 until made */
    int *kids; /* the pages' objects, pages of them */
    int kids_cap;
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

/* Copies each (indirect) font of `fonts` and what it references into the
 * document, and a /Font dictionary of them, which every page then
 * shares. */
static int adopt_fonts(assembly_t *a, qpdf_data td, qpdf_oh fonts,
                       const char *path)
{
    char name[MAX_FONTS][128];
    int num[MAX_FONTS], n = 0, dict, err = 0;

    qpdf_oh_begin_dict_key_iter(td, fonts);
    while (n < MAX_FONTS && qpdf_oh_dict_more_keys(td)) {
        const char *key = qpdf_oh_dict_next_key(td);

        if (strlen(key) < sizeof(name[0]))
            snprintf(name[n++], sizeof(name[0]), "%s", key);
    }
    dict = pm__pdfw_new(&a->w);
    if (dict < 0)
        return dict;
    for (int i = 0; i < n && err == 0; i++) {
        qpdf_oh font = qpdf_oh_get_key(td, fonts, name[i]);

        num[i] = 0;
        if (qpdf_oh_is_indirect(td, font))
            err = pm__pdfw_copy(&a->w, td, font, path, &num[i]);
    }
    if (err)
        return err;
    pm__pdfw_begin_obj(&a->w, dict);
    pm__pdfw_write(&a->w, "<<", 2);
    for (int i = 0; i < n; i++)
        if (num[i] > 0)
            pm__pdfw_printf(&a->w, " %s %d 0 R", name[i], num[i]);
    pm__pdfw_write(&a->w, " >>", 3);
    err = pm__pdfw_end(&a->w);
    if (err == 0)
        a->fonts = dict;
    return err;
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
    err = 0;
    if (a->fonts == 0) {
        fonts = qpdf_oh_get_key(td, qpdf_oh_get_key(td, page, "/Resources"),
                                "/Font");
        if (qpdf_oh_is_dictionary(td, fonts))
            err = adopt_fonts(a, td, fonts, path);
        if (err) {
            free(tl->content);
            tl->content = NULL;
        }
    }
    qpdf_cleanup(&td);
    pm_free(buf);
    return err;

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

/* The entries of an image XObject of w x h pixels in `cs` (NULL: none, an
 * image mask) with `bpc` bits per component (0: none, JPEG 2000), after
 * `filter` (its /Filter and /DecodeParms entries). */
static void image_dict(char *buf, size_t size, const char *filter, int w, int h,
                       const char *cs, int bpc)
{
    int n = snprintf(buf, size,
                     "%s /Type /XObject /Subtype /Image /Width %d /Height %d",
                     filter, w, h);

    assert(n > 0 && (size_t)n < size);
    if (cs != NULL)
        n += snprintf(buf + n, size - (size_t)n, " /ColorSpace %s", cs);
    else
        n += snprintf(buf + n, size - (size_t)n, " /ImageMask true");
    if (bpc > 0)
        n += snprintf(buf + n, size - (size_t)n, " /BitsPerComponent %d", bpc);
    assert((size_t)n < size);
}

/*
 * The entropy-coded data of a JPEG repeats itself wherever the page is
 * plain paper: deflated, a scanned text page's JPEG is 2-20% smaller, with
 * nothing lost (OCRmyPDF's optimiser does the same). Deflates the `len`
 * bytes at `jpeg` into `out` (`len` bytes): its length when that saves at
 * least 1%, else 0 (deflate stops as soon as it cannot).
 */
static size_t deflate_jpeg(const unsigned char *jpeg, size_t len,
                           unsigned char *out)
{
    z_stream z;
    size_t zlen = 0;

    memset(&z, 0, sizeof(z));
    if (deflateInit(&z, JPEG_ZLEVEL) != Z_OK)
        return 0; /* out of memory: embedded as it is */
    z.next_in = (unsigned char *)jpeg;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)(len - len / 100);
    if (deflate(&z, Z_FINISH) == Z_STREAM_END)
        zlen = z.total_out;
    deflateEnd(&z);
    return zlen;
}

/* Image object `num`: the JPEG file at `path` (deflated when that saves
 * bytes) with the entries `dict`; 0 or an error naming the file. */
static int jpeg_stream(assembly_t *a, int num, const char *path,
                       const char *dict)
{
    unsigned char *jpeg = NULL, *z;
    size_t len = 0, zlen = 0;
    char entries[640];
    int err = pm_read_file(path, MAX_ARTIFACT, &jpeg, &len);

    if (err)
        return pm__engine_fail(a->eng, err, "%s: cannot read: %s", path,
                               pm_strerror(err));
    z = pm_malloc(len + 1);
    if (z != NULL)
        zlen = deflate_jpeg(jpeg, len, z);
    snprintf(entries, sizeof(entries), "/Filter %s %s",
             zlen > 0 ? "[ /FlateDecode /DCTDecode ]" : "/DCTDecode", dict);
    err = zlen > 0 ? pm__pdfw_stream(&a->w, num, entries, z, zlen)
                   : pm__pdfw_stream(&a->w, num, entries, jpeg, len);
    pm_free(z);
    pm_free(jpeg);
    return err;
}

/* Image object `num`: the JPEG 2000 file at `path`, read as it is
 * written. */
static int jp2_stream(assembly_t *a, int num, const char *path,
                      const char *dict)
{
    struct stat st;
    char entries[640];
    int fd, err;

    if (a->part == 1)
        return pm__engine_fail(a->eng, PM_EINVAL,
                               "%s: a JPEG 2000 page cannot go into a PDF/A-1 "
                               "document (use gray_codec = jpeg or pdfa = 2b)",
                               path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        err = -errno;
        if (fd >= 0)
            close(fd);
        return pm__engine_fail(a->eng, err, "%s: cannot read: %s", path,
                               pm_strerror(err));
    }
    snprintf(entries, sizeof(entries), "/Filter /JPXDecode %s", dict);
    err = pm__pdfw_stream_fd(&a->w, num, entries, fd, path,
                             (long long)st.st_size);
    close(fd);
    return err;
}

/* Image object `num`: a G4 strip of w x h pixels, black (the ink) as 0:
 * painted when drawn as an image mask (`cs` NULL) or as gray. */
static int g4_stream(assembly_t *a, int num, const unsigned char *data,
                     size_t len, int w, int h, const char *cs)
{
    char filter[160], dict[512];

    snprintf(filter, sizeof(filter),
             "/Filter /CCITTFaxDecode /DecodeParms << /K -1 /Columns %d "
             "/Rows %d /BlackIs1 false >>",
             w, h);
    image_dict(dict, sizeof(dict), filter, w, h, cs, 1);
    return pm__pdfw_stream(&a->w, num, dict, data, len);
}

/* Writes the image XObject of one page as object *num, embedding its
 * stream as is (a JPEG deflated when that saves bytes). */
static int image_xobject(assembly_t *a, const pm_page_result_t *pg, int *num)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int w = pg->width, h = pg->height, err;
    char dict[512];

    *num = pm__pdfw_new(&a->w);
    if (*num < 0)
        return *num;
    if (pg->codec == PM_IMG_G4) {
        err = pm_encode_read_g4(a->eng, pg->image, &data, &len, &w, &h);
        if (err == 0)
            err = g4_stream(a, *num, data, len, w, h, "/DeviceGray");
        pm_free(data);
        return err;
    }
    image_dict(dict, sizeof(dict), "", w, h,
               pg->kind != PM_KIND_COLOR ? "/DeviceGray" : "/DeviceRGB",
               pg->codec == PM_IMG_JP2 ? 0 : 8);
    if (pg->codec == PM_IMG_JP2)
        return jp2_stream(a, *num, pg->image, dict + 1);
    return jpeg_stream(a, *num, pg->image, dict + 1);
}

/*
 * The images of an MRC page (workers/mrc.c): the background JPEG as *bg
 * and its text masks as image masks mask[0..*n-1]; `draw` gets the
 * operators that paint each mask in its colour over the page box pw x ph
 * ("q 0.1 0.1 0.1 rg ... cm /Im1 Do Q", or "0.1 g" for a gray page).
 */
static int mrc_xobjects(assembly_t *a, const pm_page_result_t *pg, int *bg,
                        int mask[PM_MRC_MASKS], int *n, double pw, double ph,
                        char *draw, size_t draw_size)
{
    pm_mrc_page_t m;
    size_t used = 0;
    char dict[512];
    int err = pm__mrc_read(a->eng, pg->image, &m);

    *n = 0;
    draw[0] = '\0';
    if (err)
        return err;
    *bg = pm__pdfw_new(&a->w);
    image_dict(dict, sizeof(dict), "", m.bg_width, m.bg_height,
               m.ncomp == 3 ? "/DeviceRGB" : "/DeviceGray", 8);
    err = *bg < 0 ? *bg : jpeg_stream(a, *bg, m.background, dict + 1);
    for (int i = 0; err == 0 && i < m.nmasks; i++) {
        const pm_mrc_mask_t *k = &m.masks[i];
        char paint[64];

        mask[i] = pm__pdfw_new(&a->w);
        err = mask[i] < 0 ? mask[i]
                          : g4_stream(a, mask[i], k->data, k->len, k->width,
                                      k->height, NULL);
        if (err)
            break;
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

/* Writes page object `num` drawing the image `img` (and the MRC masks
 * mask[0..nmask-1]) with the content stream `cs`. */
static int page_dict(assembly_t *a, int num, double pw, double ph, int img,
                     const int *mask, int nmask, int fonts, int cs)
{
    pm_pdfw_t *w = &a->w;

    pm__pdfw_begin_obj(w, num);
    pm__pdfw_printf(w,
                    "<< /Type /Page /Parent %d 0 R /MediaBox [ 0 0 %.4f %.4f ]"
                    " /Resources << /XObject << /Im0 %d 0 R",
                    OBJ_PAGES, pw, ph, img);
    for (int i = 0; i < nmask; i++)
        pm__pdfw_printf(w, " /Im%d %d 0 R", i + 1, mask[i]);
    pm__pdfw_write(w, " >>", 3);
    if (fonts > 0)
        pm__pdfw_printf(w, " /Font %d 0 R", fonts);
    pm__pdfw_printf(w, " >> /Contents %d 0 R >>", cs);
    return pm__pdfw_end(w);
}

/* Remembers page object `num` for the /Kids. */
static int add_kid(assembly_t *a, int num)
{
    if (a->pages == a->kids_cap) {
        int cap = a->kids_cap ? 2 * a->kids_cap : 256;
        int *k = pm_realloc(a->kids, (size_t)cap * sizeof(*k));

        if (k == NULL)
            return pm__engine_fail(a->eng, PM_ENOMEM, "out of memory");
        a->kids = k;
        a->kids_cap = cap;
    }
    a->kids[a->pages++] = num;
    return 0;
}

static int add_page(assembly_t *a, const pm_page_result_t *pg)
{
    text_layer_t tl;
    int img = 0, mask[PM_MRC_MASKS], page, cs, err, nmask = 0;
    double pw = pg->width * 72.0 / pg->xres, ph = pg->height * 72.0 / pg->yres;
    char *content, draw[MRC_DRAW_SIZE];
    size_t clen = 0;

    memset(&tl, 0, sizeof(tl));
    if (pg->text_pdf != NULL) {
        err = read_text_layer(a, pg->text_pdf, &tl);
        if (err)
            return err;
    }
    page = pm__pdfw_new(&a->w);
    if (page < 0)
        err = page;
    else if (pg->codec == PM_IMG_MRC)
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
        return pm__engine_fail(a->eng, PM_ENOMEM, "page %d: out of memory",
                               pg->page);
    cs = pm__pdfw_new(&a->w);
    err = cs < 0 ? cs
                 : pm__pdfw_stream_deflate(&a->w, cs, "", content, clen,
                                           TEXT_ZLEVEL);
    if (err == 0)
        id_digest(a, content, clen, pg);
    pm_free(content);
    if (err == 0)
        err = page_dict(a, page, pw, ph, img, mask, nmask,
                        tl.width > 0 ? a->fonts : 0, cs);
    return err ? err : add_kid(a, page);
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

/* The OutputIntent's ICC profile (object `num`). */
static int icc_stream(assembly_t *a, int num, const char *icc_path)
{
    unsigned char *icc = NULL;
    size_t icc_len = 0;
    int err = pm_read_file(icc_path, 1u << 24, &icc, &icc_len);

    if (err)
        return pm__engine_fail(a->eng, err,
                               "ICC profile %s: %s (install icc-profiles-free "
                               "or set icc_profile)",
                               icc_path, pm_strerror(err));
    err =
        pm__pdfw_stream_deflate(&a->w, num, "/N 3", icc, icc_len, TEXT_ZLEVEL);
    pm_free(icc);
    return err;
}

/* The Info dictionary (object `num`), agreeing with the XMP. */
static int info_dict(assembly_t *a, int num, const char *title,
                     const char *pdfdate)
{
    pm_pdfw_t *w = &a->w;

    pm__pdfw_begin_obj(w, num);
    pm__pdfw_write(w, "<< /Title ", 10);
    pm__pdfw_text(w, title);
    pm__pdfw_printf(w,
                    " /Creator (pagemill %s) /Producer (pagemill %s)"
                    " /CreationDate (%s) /ModDate (%s) >>",
                    PM_VERSION, PM_VERSION, pdfdate, pdfdate);
    return pm__pdfw_end(w);
}

/* The page tree: every page's object, then the catalog. */
static int catalog(assembly_t *a, int meta, int icc)
{
    pm_pdfw_t *w = &a->w;

    pm__pdfw_begin_obj(w, OBJ_PAGES);
    pm__pdfw_write(w, "<< /Type /Pages /Kids [", 23);
    for (int i = 0; i < a->pages && w->err == 0; i++)
        pm__pdfw_printf(w, "%s%d 0 R", i % 8 ? " " : "\n", a->kids[i]);
    pm__pdfw_printf(w, " ] /Count %d >>", a->pages);
    pm__pdfw_end(w);
    pm__pdfw_begin_obj(w, OBJ_CATALOG);
    pm__pdfw_printf(w,
                    "<< /Type /Catalog /Pages %d 0 R /Metadata %d 0 R"
                    " /OutputIntents [ << /Type /OutputIntent /S /GTS_PDFA1"
                    " /OutputConditionIdentifier (sRGB IEC61966-2.1)"
                    " /Info (sRGB IEC61966-2.1) /DestOutputProfile %d 0 R >> ]"
                    " >>",
                    OBJ_PAGES, meta, icc);
    return pm__pdfw_end(w);
}

/* Ends the document: XMP, OutputIntent, Info, page tree, catalog, the
 * cross-reference table and trailer. */
static int finish_pdf(assembly_t *a, const char *title, const char *icc_path)
{
    time_t now = time(NULL);
    struct tm tm;
    char iso[40], pdfdate[40], *xmp;
    int meta, icc, info, err;

    gmtime_r(&now, &tm);
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    strftime(pdfdate, sizeof(pdfdate), "D:%Y%m%d%H%M%S+00'00'", &tm);
    xmp = xmp_packet(a, title, iso, a->pages);
    if (xmp == NULL)
        return pm__engine_fail(a->eng, PM_ENOMEM, "metadata: out of memory");
    meta = pm__pdfw_new(&a->w);
    icc = pm__pdfw_new(&a->w);
    info = pm__pdfw_new(&a->w);
    /* PDF/A-1 (6.7.2): the metadata stream is not filtered. */
    err = a->w.err
              ? a->w.err
              : pm__pdfw_stream(&a->w, meta, "/Type /Metadata /Subtype /XML",
                                xmp, strlen(xmp));
    pm_free(xmp);
    if (err == 0)
        err = icc_stream(a, icc, icc_path);
    if (err == 0)
        err = info_dict(a, info, title, pdfdate);
    if (err == 0)
        err = catalog(a, meta, icc);
    if (err == 0)
        err = pm__pdfw_finish(&a->w, OBJ_CATALOG, info);
    return err;
}

/* Adds the converted pages of `src`, one in memory at a time. */
static int add_pages(assembly_t *a, const pm_page_source_t *src)
{
    pm_page_result_t pg;
    int more = 1, err = 0;

    memset(&pg, 0, sizeof(pg));
    while (err == 0 && more) {
        more = pm__source_next(a->eng, src, &pg);
        if (more < 0)
            err = more;
        else if (more > 0 && pg.ok)
            err = add_page(a, &pg);
    }
    pm_page_result_cleanup(&pg);
    return err;
}

/* Writes the document to a temp file beside d->pdf, then renames it. */
static int write_pdf(assembly_t *a, const pm_doc_task_t *d,
                     const pm_page_source_t *src)
{
    char *tmp = NULL;
    int fd = -1, err = pm_tmp_create(d->pdf, &tmp, &fd);

    if (err)
        return pm__engine_fail(a->eng, err, "%s: cannot create a temp file: %s",
                               d->pdf, pm_strerror(err));
    err =
        pm__pdfw_begin(&a->w, a->eng, fd, d->pdf, a->part == 1 ? "1.4" : "1.7");
    /* Numbered first: the catalog and the page tree, written last. */
    if (err == 0 && (pm__pdfw_new(&a->w) != OBJ_CATALOG ||
                     pm__pdfw_new(&a->w) != OBJ_PAGES))
        err = a->w.err;
    if (err == 0)
        err = add_pages(a, src);
    if (err == 0 && a->pages == 0)
        err =
            pm__engine_fail(a->eng, PM_EINVAL, "%s: no page converted", d->pdf);
    if (err == 0)
        err = finish_pdf(a, d->title, d->icc_profile);
    if (close(fd) != 0 && err == 0)
        err = pm__engine_fail(a->eng, -errno, "%s: %s", tmp, strerror(errno));
    if (err == 0) {
        err = pm_commit_file(tmp, d->pdf);
        if (err)
            pm__engine_fail(a->eng, err, "%s: %s", d->pdf, pm_strerror(err));
    } else {
        unlink(tmp);
    }
    pm_free(tmp);
    return err;
}

/* ---- text sidecar ---- */

/* Appends the text file `path` to the open `fd`, a chunk at a time. */
static int append_text(pm_engine_t *eng, int fd, const char *path,
                       const char *tmp)
{
    unsigned char buf[TEXT_CHUNK];
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

/* The texts of the pages of `src` (rewound first) to the open `fd`,
 * separated by form feeds as the tesseract CLI does. */
static int copy_texts(pm_engine_t *eng, int fd, const pm_page_source_t *src,
                      const char *tmp)
{
    pm_page_result_t pg;
    int err = pm__source_rewind(eng, src), first = 1, more = 1;

    memset(&pg, 0, sizeof(pg));
    while (err == 0 && more) {
        more = pm__source_next(eng, src, &pg);
        if (more < 0)
            err = more;
        if (more <= 0 || !pg.ok || pg.text == NULL)
            continue;
        if (!first) {
            err = pm_write_all(fd, "\f", 1);
            if (err)
                pm__engine_fail(eng, err, "%s: %s", tmp, pm_strerror(err));
        }
        if (err == 0)
            err = append_text(eng, fd, pg.text, tmp);
        first = 0;
    }
    pm_page_result_cleanup(&pg);
    return err;
}

/* The pages' texts, copied a chunk at a time to a temp file then renamed
 * to `path`. */
static int write_text(pm_engine_t *eng, const char *path,
                      const pm_page_source_t *src)
{
    char *tmp = NULL;
    int fd = -1, err = pm_tmp_create(path, &tmp, &fd);

    if (err)
        return pm__engine_fail(eng, err, "%s: cannot create a temp file: %s",
                               path, pm_strerror(err));
    err = copy_texts(eng, fd, src, tmp);
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

/* ---- page sources ---- */

int pm__source_next(pm_engine_t *eng, const pm_page_source_t *src,
                    pm_page_result_t *pg)
{
    char why[1024] = "";
    int n;

    pm_page_result_cleanup(pg);
    n = src->next(src->ctx, pg, why, sizeof(why));
    if (n < 0)
        return pm__engine_fail(eng, n, "%s", why[0] ? why : pm_strerror(n));
    return n;
}

int pm__source_rewind(pm_engine_t *eng, const pm_page_source_t *src)
{
    char why[1024] = "";
    int err = src->rewind(src->ctx, why, sizeof(why));

    if (err != 0)
        return pm__engine_fail(eng, err, "%s", why[0] ? why : pm_strerror(err));
    return 0;
}

/* An array of pages as a page source. */
typedef struct array_source {
    const pm_page_result_t *pages;
    size_t n, next;
} array_source_t;

static int array_next(void *ctx, pm_page_result_t *r, char *why, size_t size)
{
    array_source_t *as = ctx;

    memset(r, 0, sizeof(*r));
    if (as->next == as->n)
        return 0;
    if (pm_page_result_copy(r, &as->pages[as->next]) != 0) {
        snprintf(why, size, "page %zu: out of memory", as->next + 1);
        return PM_ENOMEM;
    }
    as->next++;
    return 1;
}

static int array_rewind(void *ctx, char *why, size_t size)
{
    (void)why;
    (void)size;
    ((array_source_t *)ctx)->next = 0;
    return 0;
}

int pm_assemble_pages(pm_engine_t *eng, const pm_doc_task_t *d,
                      const pm_page_source_t *src, pm_doc_result_t *r)
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
    err = write_pdf(&a, d, src);
    if (err == 0)
        err = write_text(eng, d->txt, src);
    if (err == 0 && d->tif != NULL && d->tiff_master != PM_TIFF_OFF)
        err = pm__tiff_master_write(eng, d, src, a.pages);
    pm__pdfw_cleanup(&a.w);
    pm_free(a.kids);
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

int pm_assemble_doc(pm_engine_t *eng, const pm_doc_task_t *d,
                    const pm_page_result_t *pages, size_t npages,
                    pm_doc_result_t *r)
{
    array_source_t as = {pages, npages, 0};
    pm_page_source_t src = {array_next, array_rewind, &as};

    return pm_assemble_pages(eng, d, &src, r);
}
