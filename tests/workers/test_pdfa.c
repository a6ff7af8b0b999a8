/*
 * test_pdfa.c: document assembly (pm_assemble_doc, pdfa.c) checked from
 * the outside with the tools an archivist would use: qpdf, pdfimages,
 * pdffonts, pdftotext and pdftoppm (poppler-utils).
 *
 * One document is built once for the whole group from six pages, each
 * through the whole page path: a bitonal 200 dpi page (phototest.tif), a
 * gray JPEG book page with no resolution tag (lucasta.047.jpg, fallback
 * 300 dpi), a bitonal 300 dpi page skewed by +4 degrees here
 * (eurotext.tif), the first page of a fax TIFF with non-square 204 x 196
 * dpi pixels, a blank sheet (no OCR, so no text layer) and a colour
 * catalogue page encoded as JPEG 2000 (cat.007.jpg, profile gray_codec =
 * jp2). Each test then checks one promise of the PDF: clean syntax,
 * images embedded byte for byte with the right filter and resolution,
 * PDF/A-2b metadata and OutputIntent, embedded shared fonts, a text layer
 * that reads like the OCR, sits exactly where Tesseract put it and lies
 * on the printed words, pages that render as the scans did, and failures
 * that leave nothing behind.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <leptonica/allheaders.h>
#include <tesseract/capi.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"
#include "workers/engine.h"

#define NPAGES 6
#define BLANK  4              /* index of the blank page */
#define COLOUR 5              /* index of the JPEG 2000 colour page */
#define TITLE  "Test & <doc>" /* exercises XML escaping in the XMP */

/* Text extracted from the PDF against the page's OCR text. Measured:
 * 0.0000 on every page (the layer is Tesseract's own words). */
#define MAX_LAYER_CER 0.01

static struct {
    int built;
    char *dir;
    char *pdf, *txt;
    pm_engine_t *eng;
    pm_page_result_t pages[NPAGES];
    pm_doc_result_t doc;
} fx;

/* ---- building the document ---- */

static char *skewed_copy(const char *rel, double deg)
{
    char *path = pm_asprintf("%s/skewed.tif", fx.dir);
    PIX *pix = pixRead(t_data(rel)), *r;

    assert_non_null(path);
    assert_non_null(pix);
    r = pixRotate(pix, (l_float32)(deg * M_PI / 180.0), L_ROTATE_SAMPLING,
                  L_BRING_IN_WHITE, pixGetWidth(pix), pixGetHeight(pix));
    assert_non_null(r);
    pixSetResolution(r, 300, 300);
    assert_int_equal(pixWriteTiff(path, r, IFF_TIFF_G4, "w"), 0);
    pixDestroy(&r);
    pixDestroy(&pix);
    return path;
}

/* A white Letter page at 300 dpi, as a scanner gives for an empty
 * sheet. */
static char *blank_sheet(void)
{
    char *path = pm_asprintf("%s/blank.tif", fx.dir);
    PIX *pix = pixCreate(2550, 3300, 1);

    assert_non_null(path);
    assert_non_null(pix);
    pixSetResolution(pix, 300, 300);
    assert_int_equal(pixWriteTiff(path, pix, IFF_TIFF_G4, "w"), 0);
    pixDestroy(&pix);
    return path;
}

static int build_document(void **state)
{
    char *srcs[NPAGES];
    pm_profile_t p, jp2;
    pm_doc_task_t d = {0};

    (void)state;
    if (access(PM_SHARED_DATA "/MANIFEST.tsv", R_OK) != 0) {
        fprintf(stderr, "shared test data not found at %s\n", PM_SHARED_DATA);
        return -1; /* the group fails */
    }
    fx.dir = pm_strdup(t_tmpdir());
    assert_int_equal(pm_engine_open(NULL, &fx.eng), 0);
    t_profile(&p);
    jp2 = p;
    jp2.gray_codec = PM_CODEC_JP2;
    srcs[0] = pm_strdup(t_data("tesseract-test/testing/phototest.tif"));
    srcs[1] = pm_strdup(t_data("leptonica/prog/lucasta.047.jpg"));
    srcs[2] = skewed_copy("tesseract-test/testing/eurotext.tif", 4);
    srcs[3] = pm_strdup(t_data("derived/ccitt-fax-8pages-g4-204x196dpi.tif"));
    srcs[BLANK] = blank_sheet();
    srcs[COLOUR] = pm_strdup(t_data("leptonica/prog/cat.007.jpg"));
    for (int i = 0; i < NPAGES; i++) {
        pm_page_task_t t = {0};

        t.page = i + 1;
        t.src = srcs[i];
        t.frame = 0;
        t.out_base = pm_asprintf("%s/p%d", fx.dir, i + 1);
        if (pm_process_page(fx.eng, i == COLOUR ? &jp2 : &p, &t,
                            &fx.pages[i]) != 0)
            fail_msg("page %d: %s", i + 1, fx.pages[i].error);
        pm_free(t.out_base);
        pm_free(srcs[i]);
    }
    fx.pdf = pm_asprintf("%s/doc.pdf", fx.dir);
    fx.txt = pm_asprintf("%s/doc.txt", fx.dir);
    d.title = (char *)TITLE;
    d.pdf = fx.pdf;
    d.txt = fx.txt;
    d.icc_profile = (char *)PM_DEFAULT_ICC;
    if (pm_assemble_doc(fx.eng, &d, fx.pages, NPAGES, &fx.doc) != 0)
        fail_msg("assembly: %s", fx.doc.error);
    fx.built = 1;
    return 0;
}

static int remove_document(void **state)
{
    (void)state;
    for (int i = 0; i < NPAGES; i++)
        pm_page_result_cleanup(&fx.pages[i]);
    pm_doc_result_cleanup(&fx.doc);
    pm_engine_close(fx.eng);
    pm_free(fx.pdf);
    pm_free(fx.txt);
    if (fx.dir != NULL)
        t_tmpdir_cleanup();
    pm_free(fx.dir);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

static void require_document(void)
{
    t_require_data();
    assert_true(fx.built);
}

/* ---- helpers ---- */

/* Runs a command that must succeed; returns its stdout (caller frees). */
#define RUN_OK(out, ...) assert_int_equal(t_run((out), __VA_ARGS__), 0)

/* Reads an indirect object number after `key` ("/Root 1 0 R"). */
static int ref_after(const char *text, const char *key)
{
    const char *s = strstr(text, key);
    int n = 0;

    assert_non_null(s);
    assert_int_equal(sscanf(s + strlen(key), " %d 0 R", &n), 1);
    return n;
}

/* Text of object `obj` (caller frees). Not inlined: GCC's
 * -Wdangling-pointer cannot see that t_run stores a heap pointer. */
static __attribute__((noinline)) char *show_object(int obj, const char *mode)
{
    char *out = NULL;

    RUN_OK(&out, "qpdf --show-object=%d %s '%s'", obj, mode, fx.pdf);
    return out;
}

/* Bytes of a stream as stored in the PDF (no filter applied). */
static unsigned char *raw_stream(int obj, size_t *len)
{
    char *path = pm_asprintf("%s/raw.%d", fx.dir, obj);
    unsigned char *buf = NULL;

    RUN_OK(NULL, "qpdf --show-object=%d --raw-stream-data '%s' > '%s'", obj,
           fx.pdf, path);
    assert_int_equal(pm_read_file(path, 1u << 30, &buf, len), 0);
    pm_free(path);
    return buf;
}

/* ---- tests ---- */

static void assembly_reports_what_it_wrote(void **state)
{
    char *all, *expect;
    size_t n = 0;
    DIR *d;
    struct dirent *e;

    (void)state;
    require_document();
    assert_true(fx.doc.ok);
    assert_int_equal(fx.doc.pages, NPAGES);
    assert_true(fx.doc.pdf_bytes > 0);
    /* The page kinds the rest of the tests rely on. */
    assert_int_equal(fx.pages[0].codec, PM_IMG_G4);
    assert_int_equal(fx.pages[1].codec, PM_IMG_JPEG);
    assert_int_equal(fx.pages[1].kind, PM_KIND_GRAY);
    assert_int_equal(fx.pages[2].codec, PM_IMG_G4);
    assert_int_equal(fx.pages[3].codec, PM_IMG_G4);
    assert_int_equal(fx.pages[3].xres, 204);
    assert_int_equal(fx.pages[3].yres, 196);
    assert_true(fx.pages[BLANK].blank);
    assert_null(fx.pages[BLANK].text_pdf);
    assert_int_equal(fx.pages[COLOUR].kind, PM_KIND_COLOR);
    assert_int_equal(fx.pages[COLOUR].codec, PM_IMG_JP2);
    assert_true(fabs(fx.pages[2].skew + 4.8) < 0.3); /* +4 and its own 0.8 */

    /* The text file is the page texts separated by form feeds. */
    expect = pm_strdup("");
    for (int i = 0; i < NPAGES; i++) {
        char *t = t_slurp(fx.pages[i].text), *grown;

        assert_non_null(t);
        grown = pm_asprintf("%s%s%s", expect, i ? "\f" : "", t);
        pm_free(expect);
        pm_free(t);
        expect = grown;
    }
    all = t_slurp(fx.txt);
    assert_non_null(all);
    assert_string_equal(all, expect);
    pm_free(all);
    pm_free(expect);

    /* No temp file is left beside the outputs. */
    d = opendir(fx.dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".tmp") != NULL)
            fail_msg("temp file left behind: %s", e->d_name);
        n++;
    }
    closedir(d);
    assert_true(n > 2);
}

static void qpdf_finds_no_errors(void **state)
{
    char *out = NULL;

    (void)state;
    require_document();
    RUN_OK(&out, "qpdf --check '%s' 2>&1", fx.pdf);
    assert_non_null(strstr(out, "No syntax or stream encoding errors"));
    assert_null(strstr(out, "WARNING"));
    assert_non_null(strstr(out, "PDF Version: 1.7"));
    free(out);
    RUN_OK(&out, "qpdf --show-npages '%s'", fx.pdf);
    assert_int_equal(atoi(out), NPAGES);
    free(out);
}

/* The stream of object `obj`, stored as `raw` (taken), must be
 * [/FlateDecode /DCTDecode] and smaller than the JPEG of `want` bytes;
 * returns its inflated bytes. */
static unsigned char *inflated(int obj, unsigned char *raw, size_t *len,
                               size_t want)
{
    char *dict = show_object(obj, "");
    unsigned char *out = pm_malloc(want + 1);
    uLongf n = (uLongf)want + 1;

    assert_non_null(strstr(dict, "/Filter [ /FlateDecode /DCTDecode ]"));
    free(dict);
    assert_true(*len < want);
    assert_non_null(out);
    assert_int_equal(uncompress(out, &n, raw, (uLong)*len), Z_OK);
    pm_free(raw);
    *len = n;
    return out;
}

/* pdfimages -list: one image per page, with the page's codec, size and
 * resolution (which checks the MediaBox), and the stream bytes are the
 * page artifact's own. */
static void images_are_embedded_as_encoded(void **state)
{
    static const char *const enc[NPAGES] = {"ccitt", "jpeg",  "ccitt",
                                            "ccitt", "ccitt", "jpx"};
    char *out = NULL, *line, *save = NULL;
    int row = 0;

    (void)state;
    require_document();
    RUN_OK(&out, "pdfimages -list '%s'", fx.pdf);
    for (line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        int page, num, w, h, comp, bpc, obj, gen, xppi, yppi;
        char type[16], color[16], e[16], interp[16];
        const pm_page_result_t *pg;
        unsigned char *raw, *want;
        size_t rawlen = 0, wantlen = 0;

        if (sscanf(line, "%d %d %15s %d %d %15s %d %d %15s %15s %d %d %d %d",
                   &page, &num, type, &w, &h, color, &comp, &bpc, e, interp,
                   &obj, &gen, &xppi, &yppi) != 14)
            continue;
        assert_true(row < NPAGES);
        pg = &fx.pages[row];
        printf("# page %d: %s %dx%d %s bpc %d, %dx%d ppi, object %d\n", page, e,
               w, h, color, bpc, xppi, yppi, obj);
        assert_int_equal(page, row + 1);
        assert_string_equal(e, enc[row]);
        assert_string_equal(color, pg->kind == PM_KIND_COLOR ? "rgb" : "gray");
        assert_int_equal(bpc, pg->codec == PM_IMG_G4 ? 1 : 8);
        assert_int_equal(comp, pg->kind == PM_KIND_COLOR ? 3 : 1);
        assert_int_equal(w, pg->width);
        assert_int_equal(h, pg->height);
        assert_true(abs(xppi - pg->xres) <= 1);
        assert_true(abs(yppi - pg->yres) <= 1);

        raw = raw_stream(obj, &rawlen);
        if (pg->codec == PM_IMG_G4) {
            int gw, gh;
            assert_int_equal(
                pm_encode_read_g4(fx.eng, pg->image, &want, &wantlen, &gw, &gh),
                0);
        } else {
            assert_int_equal(pm_read_file(pg->image, 1u << 30, &want, &wantlen),
                             0);
        }
        if (pg->codec == PM_IMG_JPEG && rawlen != wantlen) {
            /* Stored deflated: inflated, it is the JPEG again. */
            raw = inflated(obj, raw, &rawlen, wantlen);
        }
        assert_int_equal(rawlen, pg->bytes);
        assert_int_equal(rawlen, wantlen);
        assert_memory_equal(raw, want, rawlen);
        pm_free(raw);
        pm_free(want);
        row++;
    }
    assert_int_equal(row, NPAGES);
    free(out);
}

/*
 * Page 2 is a JPEG scan that stays as scanned (not turned, not deskewed):
 * the PDF holds that very file, byte for byte once inflated, and in fewer
 * bytes than the file (240,757 for lucasta.047.jpg; re-encoded at quality
 * 85 it was 255,845).
 */
static void kept_scan_is_embedded_byte_for_byte(void **state)
{
    const pm_page_result_t *pg = &fx.pages[1];
    char *out = NULL, *line, *save = NULL;
    unsigned char *scan = NULL, *raw;
    size_t scanlen = 0, rawlen = 0;
    int obj = 0;

    (void)state;
    require_document();
    assert_int_equal(pg->rotation, 0);
    assert_true(pg->skew == 0);
    assert_int_equal(pm_read_file(t_data("leptonica/prog/lucasta.047.jpg"),
                                  1u << 30, &scan, &scanlen),
                     0);
    assert_int_equal(pg->bytes, (long long)scanlen);
    RUN_OK(&out, "pdfimages -list '%s'", fx.pdf);
    for (line = strtok_r(out, "\n", &save); line != NULL && obj == 0;
         line = strtok_r(NULL, "\n", &save)) {
        int page, o;

        if (sscanf(line, "%d %*d %*s %*d %*d %*s %*d %*d %*s %*s %d", &page,
                   &o) == 2 &&
            page == 2)
            obj = o;
    }
    free(out);
    assert_true(obj > 0);
    raw = raw_stream(obj, &rawlen);
    printf("# page 2: scan %zu bytes, stored %zu\n", scanlen, rawlen);
    if (rawlen != scanlen)
        raw = inflated(obj, raw, &rawlen, scanlen);
    assert_int_equal(rawlen, scanlen);
    assert_memory_equal(raw, scan, scanlen);
    pm_free(raw);
    pm_free(scan);
}

/* Trailer /ID: two 16-byte strings. */
static int has_file_id(const char *trailer)
{
    char id0[64] = "", id1[64] = "";
    const char *ids = strstr(trailer, "/ID [ <");

    return ids != NULL &&
           sscanf(ids, "/ID [ <%63[0-9a-f]> <%63[0-9a-f]> ]", id0, id1) == 2 &&
           strlen(id0) == 32 && strlen(id1) == 32;
}

/* xmp:CreateDate and the Info /CreationDate name the same second. */
static int same_creation_date(const char *xmp, const char *info)
{
    int a[6], b[6];
    const char *x = strstr(xmp, "<xmp:CreateDate>");
    const char *c = strstr(info, "/CreationDate (D:");

    if (x == NULL || c == NULL ||
        sscanf(x, "<xmp:CreateDate>%4d-%2d-%2dT%2d:%2d:%2d", &a[0], &a[1],
               &a[2], &a[3], &a[4], &a[5]) != 6 ||
        sscanf(c, "/CreationDate (D:%4d%2d%2d%2d%2d%2d", &b[0], &b[1], &b[2],
               &b[3], &b[4], &b[5]) != 6)
        return 0;
    return memcmp(a, b, sizeof(a)) == 0;
}

static void metadata_declares_pdfa_2b(void **state)
{
    char *trailer = NULL, *root, *meta, *xmp, *info, *icc_dict;
    unsigned char *icc_pdf, *icc_file;
    size_t len = 0, icc_pdf_len = 0, icc_file_len = 0;
    char *path;

    (void)state;
    require_document();
    RUN_OK(&trailer, "qpdf --show-object=trailer '%s'", fx.pdf);
    /* Trailer /ID: two 16-byte strings. */
    assert_true(has_file_id(trailer));
    root = show_object(ref_after(trailer, "/Root"), "");
    info = show_object(ref_after(trailer, "/Info"), "");

    assert_non_null(strstr(root, "/Type /Catalog"));
    assert_non_null(strstr(root, "/OutputIntents [ <<"));
    assert_non_null(strstr(root, "/S /GTS_PDFA1"));
    assert_non_null(strstr(root, "/Type /OutputIntent"));

    /* The OutputIntent carries the sRGB profile, unchanged. */
    icc_dict = show_object(ref_after(root, "/DestOutputProfile"), "");
    assert_non_null(strstr(icc_dict, "/N 3"));
    path = pm_asprintf("%s/icc", fx.dir);
    RUN_OK(NULL, "qpdf --show-object=%d --filtered-stream-data '%s' > '%s'",
           ref_after(root, "/DestOutputProfile"), fx.pdf, path);
    assert_int_equal(pm_read_file(path, 1u << 24, &icc_pdf, &icc_pdf_len), 0);
    assert_int_equal(
        pm_read_file(PM_DEFAULT_ICC, 1u << 24, &icc_file, &icc_file_len), 0);
    assert_int_equal(icc_pdf_len, icc_file_len);
    assert_memory_equal(icc_pdf, icc_file, icc_file_len);
    assert_memory_equal(icc_file + 36, "acsp", 4); /* an ICC profile */

    /* XMP: PDF/A-2b, page count, escaped title; stored unfiltered so any
     * reader (and the PDF/A validator) can read it. */
    meta = show_object(ref_after(root, "/Metadata"), "");
    assert_non_null(strstr(meta, "/Type /Metadata"));
    assert_non_null(strstr(meta, "/Subtype /XML"));
    assert_null(strstr(meta, "/Filter"));
    xmp = (char *)raw_stream(ref_after(root, "/Metadata"), &len);
    assert_non_null(strstr(xmp, "<pdfaid:part>2</pdfaid:part>"));
    assert_non_null(strstr(xmp, "<pdfaid:conformance>B</pdfaid:conformance>"));
    assert_non_null(strstr(xmp, "<xmpTPg:NPages>6</xmpTPg:NPages>"));
    assert_non_null(strstr(xmp, "Test &amp; &lt;doc&gt;</rdf:li>"));
    assert_non_null(strstr(xmp, "<?xpacket end=\"w\"?>"));
    /* The Info dictionary agrees with the XMP. */
    assert_non_null(strstr(info, "/Title (Test & <doc>)"));
    assert_non_null(strstr(info, "/Producer (pagemill "));
    assert_non_null(strstr(xmp, "<pdf:Producer>pagemill "));
    assert_non_null(strstr(xmp, "<xmp:CreatorTool>pagemill "));
    assert_true(same_creation_date(xmp, info));

    free(trailer);
    free(root);
    free(info);
    free(icc_dict);
    free(meta);
    pm_free(xmp);
    pm_free(icc_pdf);
    pm_free(icc_file);
    pm_free(path);
}

/* ISO 19005 (parts 1 and 2), 6.1.7: `stream` is followed and `endstream`
 * preceded by an end-of-line marker. Checked on the file's bytes: every
 * `endstream` keyword comes right after CR or LF. */
static void every_stream_ends_with_an_eol(void **state)
{
    unsigned char *buf = NULL;
    size_t len = 0, n = 0;
    const char kw[] = "endstream";

    (void)state;
    require_document();
    assert_int_equal(pm_read_file(fx.pdf, 1u << 28, &buf, &len), 0);
    for (size_t i = 1; i + sizeof(kw) - 1 <= len; i++) {
        if (memcmp(buf + i, kw, sizeof(kw) - 1) != 0)
            continue;
        if (buf[i - 1] != '\n' && buf[i - 1] != '\r')
            fail_msg("endstream at offset %zu follows byte 0x%02x, not an "
                     "end-of-line",
                     i, buf[i - 1]);
        n++;
    }
    assert_true(n > NPAGES); /* every page's image and content at least */
    pm_free(buf);
}

/* What PDF/A-2b forbids and a reader could find: encryption, LZW, and
 * transparency groups (pages are opaque images under invisible text). */
static void nothing_pdfa_forbids(void **state)
{
    char *out = NULL;

    (void)state;
    require_document();
    RUN_OK(&out, "qpdf --qdf --object-streams=disable '%s' - | strings",
           fx.pdf);
    assert_null(strstr(out, "/Encrypt"));
    assert_null(strstr(out, "/LZWDecode"));
    assert_null(strstr(out, "/Transparency"));
    assert_null(strstr(out, "/JavaScript"));
    free(out);
    RUN_OK(&out, "qpdf --show-encryption '%s'", fx.pdf);
    assert_non_null(strstr(out, "File is not encrypted"));
    free(out);
}

/* Assembles the document's pages other than the JPEG 2000 one as
 * PDF/A-1b into `name` under the fixture folder; returns its path. */
static char *pdfa1b_document(const char *name)
{
    pm_page_result_t pages[NPAGES - 1];
    pm_doc_task_t d = {0};
    pm_doc_result_t r;
    char *pdf = pm_asprintf("%s/%s.pdf", fx.dir, name);
    char *txt = pm_asprintf("%s/%s.txt", fx.dir, name);

    for (int i = 0, n = 0; i < NPAGES; i++)
        if (i != COLOUR)
            pages[n++] = fx.pages[i]; /* shallow: not cleaned up */
    d.title = (char *)TITLE;
    d.pdf = pdf;
    d.txt = txt;
    d.icc_profile = (char *)PM_DEFAULT_ICC;
    d.pdfa_part = 1;
    if (pm_assemble_doc(fx.eng, &d, pages, NPAGES - 1, &r) != 0)
        fail_msg("assembly: %s", r.error);
    pm_doc_result_cleanup(&r);
    pm_free(txt);
    return pdf;
}

/* pdfa = 1b: PDF 1.4, pdfaid part 1, and a validator other than pagemill
 * (Apache PDFBox Preflight) finds it valid PDF/A-1b. */
static void pdfa_1b_passes_pdfbox_preflight(void **state)
{
    char *pdf, *out = NULL;

    (void)state;
    require_document();
    pdf = pdfa1b_document("one-b");
    RUN_OK(&out, "qpdf --check '%s' 2>&1", pdf);
    assert_non_null(strstr(out, "PDF Version: 1.4"));
    assert_non_null(strstr(out, "No syntax or stream encoding errors"));
    free(out);
    RUN_OK(&out, "qpdf --qdf '%s' - | strings | grep pdfaid", pdf);
    assert_non_null(strstr(out, "<pdfaid:part>1</pdfaid:part>"));
    free(out);
    assert_true(t_pdfa1b_valid(pdf));
    pm_free(pdf);
}

/* The PDF/A-2b document is not PDF/A-1b (the validator sees its part and
 * its JPEG 2000 page), so the check above can fail. */
static void pdfa_2b_is_not_taken_for_1b(void **state)
{
    (void)state;
    require_document();
    assert_false(t_pdfa1b_valid(fx.pdf));
}

/* A JPEG 2000 page cannot go into PDF/A-1: assembly fails naming it and
 * writes nothing. */
static void jp2_page_is_refused_in_pdfa_1b(void **state)
{
    pm_doc_task_t d = {0};
    pm_doc_result_t r;
    char *pdf = pm_asprintf("%s/jp2-1b.pdf", fx.dir);
    char *txt = pm_asprintf("%s/jp2-1b.txt", fx.dir);

    (void)state;
    require_document();
    d.title = (char *)"jp2";
    d.pdf = pdf;
    d.txt = txt;
    d.icc_profile = (char *)PM_DEFAULT_ICC;
    d.pdfa_part = 1;
    assert_int_not_equal(pm_assemble_doc(fx.eng, &d, fx.pages, NPAGES, &r), 0);
    assert_false(r.ok);
    printf("# %s\n", r.error);
    assert_non_null(strstr(r.error, "JPEG 2000"));
    assert_non_null(strstr(r.error, "PDF/A-1"));
    assert_int_not_equal(access(pdf, F_OK), 0);
    pm_doc_result_cleanup(&r);
    pm_free(pdf);
    pm_free(txt);
}

/* pdffonts: every font embedded, and the pages share one font. */
static void fonts_are_embedded_and_shared(void **state)
{
    char *out = NULL, *line, *save = NULL;
    int emb_col = -1, nfonts = 0;

    (void)state;
    require_document();
    RUN_OK(&out, "pdffonts '%s'", fx.pdf);
    for (line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '-') {
            /* Column 4 ("emb") starts after the third run of dashes. */
            int col = 0, pos = 0;
            for (; line[pos] && col < 3; pos++)
                if (line[pos] == ' ' && line[pos + 1] == '-')
                    col++;
            emb_col = pos;
            continue;
        }
        if (emb_col < 0)
            continue;
        printf("# font: %s\n", line);
        assert_true((int)strlen(line) > emb_col + 3);
        assert_memory_equal(line + emb_col, "yes", 3);
        nfonts++;
    }
    assert_true(emb_col > 0);
    assert_int_equal(nfonts, 1);
    free(out);
}

/*
 * pdftotext reads back what the OCR found, page by page. -raw keeps the
 * content stream's order, which is Tesseract's reading order: without it
 * pdftotext's own layout analysis splits the fax letter (page 4) into
 * columns of single words, CER 0.33 (0.38 on Tesseract's own one-page
 * PDF of the same page), while the layer itself is exactly the OCR text.
 */
static void text_layer_reads_like_the_ocr(void **state)
{
    static const char *const words[NPAGES] = {
        "The quick brown dog jumped",
        "BIOGRAPHICAL",
        "The (quick) [brown] {fox} jumps!",
        "THE SLEREXE COMPANY LIMITED",
        "",
        "prisons de Paris"};

    (void)state;
    require_document();
    for (int i = 0; i < NPAGES; i++) {
        char *out = NULL, *ocr = t_slurp(fx.pages[i].text);
        double cer;

        assert_non_null(ocr);
        RUN_OK(&out, "pdftotext -raw -enc UTF-8 -f %d -l %d '%s' -", i + 1,
               i + 1, fx.pdf);
        cer = t_cer(ocr, out);
        printf("# page %d: text layer CER %.4f against the OCR text\n", i + 1,
               cer);
        assert_true(cer <= MAX_LAYER_CER);
        assert_non_null(strstr(out, words[i]));
        free(out);
        pm_free(ocr);
    }
}

/* ---- word boxes ---- */

typedef struct word {
    char text[64];
    double x0, y0, x1, y1; /* image pixels, origin top left */
} word_t;

/* Words of page `page` of `pdf` from pdftotext -bbox, scaled to image
 * pixels at xres x yres; each must lie on the page. */
static word_t *pdf_words(const char *pdf, int page, double xres, double yres,
                         int *n, double *pw, double *ph)
{
    char *out = NULL, *s;
    word_t *v = NULL;
    int cnt = 0;

    RUN_OK(&out, "pdftotext -bbox -enc UTF-8 -f %d -l %d '%s' -", page, page,
           pdf);
    s = strstr(out, "<page ");
    assert_non_null(s);
    assert_int_equal(sscanf(s, "<page width=\"%lf\" height=\"%lf\"", pw, ph),
                     2);
    while ((s = strstr(s, "<word ")) != NULL) {
        word_t w;
        int off = 0;
        char *end;

        assert_int_equal(sscanf(s,
                                "<word xMin=\"%lf\" yMin=\"%lf\" "
                                "xMax=\"%lf\" yMax=\"%lf\">%n",
                                &w.x0, &w.y0, &w.x1, &w.y1, &off),
                         4);
        s += off;
        end = strstr(s, "</word>");
        assert_non_null(end);
        snprintf(w.text, sizeof(w.text), "%.*s", (int)(end - s), s);
        /* Every word lies on the page. */
        assert_true(w.x0 >= -0.5 && w.y0 >= -0.5);
        assert_true(w.x1 <= *pw + 0.5 && w.y1 <= *ph + 0.5);
        w.x0 *= xres / 72.0;
        w.x1 *= xres / 72.0;
        w.y0 *= yres / 72.0;
        w.y1 *= yres / 72.0;
        v = pm_realloc(v, (size_t)(cnt + 1) * sizeof(*v));
        assert_non_null(v);
        v[cnt++] = w;
        s = end;
    }
    free(out);
    *n = cnt;
    return v;
}

/* Words Tesseract finds on the page as it was OCR'd, with boxes: the
 * source file when the page was neither turned nor deskewed (a lossy
 * JPEG 2000 artifact shifts a few word edges), else the image artifact. */
static word_t *image_words(const pm_page_result_t *pg, int *n)
{
    TessBaseAPI *api = TessBaseAPICreate();
    TessResultIterator *it;
    PIX *pix =
        pixRead(pg->rotation == 0 && pg->skew == 0 ? pg->src : pg->image);
    word_t *v = NULL;
    int cnt = 0;

    assert_non_null(pix);
    TessBaseAPISetVariable(api, "debug_file", "/dev/null");
    assert_int_equal(TessBaseAPIInit3(api, NULL, "eng"), 0);
    TessBaseAPISetPageSegMode(api, PSM_AUTO); /* as the profile */
    TessBaseAPISetImage2(api, pix);
    TessBaseAPISetSourceResolution(api, pg->yres);
    assert_int_equal(TessBaseAPIRecognize(api, NULL), 0);
    it = TessBaseAPIGetIterator(api);
    assert_non_null(it);
    do {
        char *t = TessResultIteratorGetUTF8Text(it, RIL_WORD);
        int l, tp, r, b, alnum = 1;

        if (t == NULL)
            continue;
        for (const char *c = t; *c; c++)
            alnum &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z');
        if (alnum && strlen(t) >= 4 && strlen(t) < 64 &&
            TessResultIteratorConfidence(it, RIL_WORD) >= 85 &&
            TessPageIteratorBoundingBox(TessResultIteratorGetPageIterator(it),
                                        RIL_WORD, &l, &tp, &r, &b)) {
            v = pm_realloc(v, (size_t)(cnt + 1) * sizeof(*v));
            assert_non_null(v);
            snprintf(v[cnt].text, sizeof(v[cnt].text), "%s", t);
            v[cnt].x0 = l;
            v[cnt].y0 = tp;
            v[cnt].x1 = r;
            v[cnt].y1 = b;
            cnt++;
        }
        TessDeleteText(t);
    } while (TessResultIteratorNext(it, RIL_WORD));
    TessResultIteratorDelete(it);
    TessBaseAPIEnd(api);
    TessBaseAPIDelete(api);
    pixDestroy(&pix);
    *n = cnt;
    return v;
}

/* Height shared by the vertical extents of two boxes. */
static double overlap_y(const word_t *a, const word_t *b)
{
    double lo = a->y0 > b->y0 ? a->y0 : b->y0;
    double hi = a->y1 < b->y1 ? a->y1 : b->y1;

    return hi > lo ? hi - lo : 0;
}

static int count_text(const word_t *v, int n, const char *text)
{
    int k = 0;

    for (int i = 0; i < n; i++)
        k += strcmp(v[i].text, text) == 0;
    return k;
}

/*
 * The text layer is Tesseract's, placed exactly: every word of each page
 * has the box it has in Tesseract's own one-page PDF (which is sized from
 * the vertical resolution only), mapped onto the image's pixels.
 */
static void text_layer_is_placed_exactly(void **state)
{
    (void)state;
    require_document();
    for (int p = 0; p < NPAGES; p++) {
        const pm_page_result_t *pg = &fx.pages[p];
        double pw, ph, lw, lh, worst = 0;
        int n, nl;
        word_t *doc =
            pdf_words(fx.pdf, p + 1, pg->xres, pg->yres, &n, &pw, &ph);
        word_t *layer;

        /* The page is the image, at the image's resolution. */
        assert_true(fabs(pw - pg->width * 72.0 / pg->xres) < 0.01);
        assert_true(fabs(ph - pg->height * 72.0 / pg->yres) < 0.01);
        if (pg->text_pdf == NULL) {
            assert_int_equal(n, 0); /* blank: no text layer at all */
            pm_free(doc);
            continue;
        }
        layer = pdf_words(pg->text_pdf, 1, pg->yres, pg->yres, &nl, &lw, &lh);
        assert_int_equal(n, nl);
        /* pdftotext may order the words differently once the page is
         * scaled (non-square pixels): pair each with its nearest twin. */
        for (int i = 0; i < n; i++) {
            double best = 1e9;
            for (int j = 0; j < nl; j++) {
                double d = 0;
                if (strcmp(doc[i].text, layer[j].text) != 0)
                    continue;
                d = fmax(d, fabs(doc[i].x0 - layer[j].x0));
                d = fmax(d, fabs(doc[i].x1 - layer[j].x1));
                d = fmax(d, fabs(doc[i].y0 - layer[j].y0));
                d = fmax(d, fabs(doc[i].y1 - layer[j].y1));
                best = fmin(best, d);
            }
            worst = fmax(worst, best);
        }
        printf("# page %d: %d words, worst offset from Tesseract's layer "
               "%.3f px\n",
               p + 1, n, worst);
        assert_true(worst < 0.05);
        pm_free(doc);
        pm_free(layer);
    }
}

/*
 * The invisible words lie on the printed ones: each word Tesseract reads
 * (confidently, once, with the profile's page segmentation) on the page as
 * it was OCR'd has a PDF text box with the same text that starts where it
 * starts (measured: within 1 px) and covers at least half of its height.
 * Tesseract's renderer stretches each word *with its trailing space* over
 * the word's box and pdftotext leaves the space out, so a PDF box of n
 * letters covers n/(n+1) of the printed word (all of it for the last word
 * of a line); vertically pdftotext uses the font's ascent and descent, not
 * the ink.
 */
static void word_boxes_lie_on_the_ink(void **state)
{
    (void)state;
    require_document();
    for (int p = 0; p < NPAGES; p++) {
        const pm_page_result_t *pg = &fx.pages[p];
        double pw, ph, worst_left = 0, worst_cover = 1;
        int npdf, nimg = 0, matched = 0;
        word_t *pdf, *img;

        if (p == BLANK)
            continue;
        pdf = pdf_words(fx.pdf, p + 1, pg->xres, pg->yres, &npdf, &pw, &ph);
        img = image_words(pg, &nimg);
        for (int i = 0; i < nimg; i++) {
            const word_t *a = &img[i];
            double w = a->x1 - a->x0, n = (double)strlen(a->text);

            if (count_text(img, nimg, a->text) != 1 ||
                count_text(pdf, npdf, a->text) != 1)
                continue;
            for (int j = 0; j < npdf; j++) {
                const word_t *b = &pdf[j];
                double left = fabs(b->x0 - a->x0);
                double cover = overlap_y(a, b) / (a->y1 - a->y0);

                if (strcmp(b->text, a->text) != 0)
                    continue;
                worst_left = fmax(worst_left, left);
                worst_cover = fmin(worst_cover, cover);
                if (left > 3 ||
                    (fabs(b->x1 - (a->x0 + w * n / (n + 1))) > 0.05 * w + 3 &&
                     fabs(b->x1 - a->x1) > 0.05 * w + 3) ||
                    cover < 0.5)
                    fail_msg("page %d '%s': printed %.0f,%.0f..%.0f,%.0f, "
                             "PDF %.0f,%.0f..%.0f,%.0f",
                             p + 1, a->text, a->x0, a->y0, a->x1, a->y1, b->x0,
                             b->y0, b->x1, b->y1);
                matched++;
            }
        }
        printf("# page %d: %d PDF words, %d matched; worst start %.1f px, "
               "worst height covered %.2f\n",
               p + 1, npdf, matched, worst_left, worst_cover);
        assert_true(matched >= 5);
        pm_free(pdf);
        pm_free(img);
    }
}

/* ---- rendering ---- */

/*
 * Rendered at the scan's own 200 dpi, page 1 (neither turned nor
 * deskewed) must be the scan itself: black text on white, upright, in
 * place.
 */
static void page_renders_as_the_scan(void **state)
{
    char *path;
    PIX *orig, *rendered, *dark, *near, *x;
    l_int32 ink = 0, ndark = 0, hit = 0, close = 0;

    (void)state;
    require_document();
    RUN_OK(NULL, "pdftoppm -r 200 -gray -f 1 -l 1 -singlefile '%s' '%s/r200'",
           fx.pdf, fx.dir);
    path = pm_asprintf("%s/r200.pgm", fx.dir);
    rendered = pixRead(path);
    orig = pixRead(t_data("tesseract-test/testing/phototest.tif"));
    assert_non_null(rendered);
    assert_non_null(orig);
    assert_int_equal(pixGetWidth(rendered), pixGetWidth(orig));
    assert_int_equal(pixGetHeight(rendered), pixGetHeight(orig));
    /* poppler smooths the image edges, so compare ink, not pixels:
     * measured recall 0.85 (0.20 for the page turned over), precision
     * 1.00. */
    dark = pixThresholdToBinary(rendered, 128);
    near = pixDilateBrick(NULL, orig, 3, 3);
    assert_non_null(dark);
    assert_non_null(near);
    pixCountPixels(orig, &ink, NULL);
    pixCountPixels(dark, &ndark, NULL);
    x = pixAnd(NULL, dark, orig);
    pixCountPixels(x, &hit, NULL);
    pixDestroy(&x);
    x = pixAnd(NULL, dark, near);
    pixCountPixels(x, &close, NULL);
    printf("# page 1 at 200 dpi: ink recall %.3f, precision %.3f\n",
           (double)hit / ink, (double)close / ndark);
    assert_true(ink > 1000);
    assert_true(hit > ink * 0.75);
    assert_true(close > ndark * 0.95);
    pixDestroy(&dark);
    pixDestroy(&near);
    pixDestroy(&x);
    pixDestroy(&rendered);
    pixDestroy(&orig);
    pm_free(path);
}

/* Mean gray level of a page's image artifact. */
static double artifact_mean(const pm_page_result_t *pg)
{
    PIX *pix = pixRead(pg->image), *gray;
    l_float32 mean = 0;

    assert_non_null(pix);
    gray = pixConvertTo8(pix, 0);
    assert_non_null(gray);
    pixGetAverageMasked(gray, NULL, 0, 0, 1, L_MEAN_ABSVAL, &mean);
    pixDestroy(&gray);
    pixDestroy(&pix);
    return mean;
}

/*
 * Every page at 40 dpi is as light as its own image (so neither inverted
 * nor lost) and has ink, except the blank sheet. Page 1 is also written
 * as view-1.png for a human look (PM_KEEP_TMP=1 keeps it).
 */
static void pages_render_like_their_images(void **state)
{
    (void)state;
    require_document();
    RUN_OK(NULL, "pdftoppm -r 40 -gray '%s' '%s/r40'", fx.pdf, fx.dir);
    RUN_OK(NULL, "pdftoppm -r 40 -png -f 1 -l 1 '%s' '%s/view'", fx.pdf,
           fx.dir);
    for (int p = 0; p < NPAGES; p++) {
        char *path = pm_asprintf("%s/r40-%d.pgm", fx.dir, p + 1);
        PIX *pix = pixRead(path);
        l_float32 mean = 0, c;
        l_int32 dark = 0, area;
        double want = artifact_mean(&fx.pages[p]);
        NUMA *hist;

        assert_non_null(pix);
        area = pixGetWidth(pix) * pixGetHeight(pix);
        pixGetAverageMasked(pix, NULL, 0, 0, 1, L_MEAN_ABSVAL, &mean);
        hist = pixGetGrayHistogram(pix, 1);
        for (int v = 0; v < 128; v++) {
            numaGetFValue(hist, v, &c);
            dark += (l_int32)c;
        }
        printf("# page %d at 40 dpi: mean %.1f (image %.1f), %.2f%% dark\n",
               p + 1, mean, want, 100.0 * dark / area);
        assert_true(fabs(mean - want) < 12);
        assert_true(mean > 128);
        if (p == BLANK)
            assert_int_equal(dark, 0);
        else
            assert_true(dark > area / 500);
        numaDestroy(&hist);
        pixDestroy(&pix);
        pm_free(path);
    }
}

/* A document in which no page converted is refused, with no file. */
/* Page `i` of the TIFF master `tif` equals the page artifact `pg` decoded
 * (the image the PDF embeds). */
static void master_page_is(const char *tif, int i, const pm_page_result_t *pg)
{
    PIX *a = pixReadTiff(tif, i), *b = pixRead(pg->image);
    l_int32 same = 0, xres = 0, yres = 0;

    assert_non_null(a);
    assert_non_null(b);
    if (pixGetDepth(a) != pixGetDepth(b) || pixEqual(a, b, &same) != 0 || !same)
        fail_msg("master page %d: %dx%dx%d, not %s's %dx%dx%d", i + 1,
                 pixGetWidth(a), pixGetHeight(a), pixGetDepth(a), pg->image,
                 pixGetWidth(b), pixGetHeight(b), pixGetDepth(b));
    pixGetResolution(a, &xres, &yres);
    assert_int_equal(xres, pg->xres);
    assert_int_equal(yres, pg->yres);
    pixDestroy(&a);
    pixDestroy(&b);
}

/* The TIFF master of a G4 page, a colour JPEG page (YCbCr in the TIFF)
 * and a JPEG 2000 colour page (deflated): three pages in order, each the
 * pixels of its page artifact, upright, with the page's resolution. */
static void tiff_master_holds_the_page_images(void **state)
{
    pm_page_result_t pages[3];
    pm_page_task_t t = {0};
    pm_doc_task_t d = {0};
    pm_doc_result_t r;
    pm_profile_t p;
    char *out = NULL;

    (void)state;
    require_document();
    t_profile(&p);
    t.page = 2;
    t.src = (char *)t_data("leptonica/prog/cat.007.jpg");
    t.out_base = pm_asprintf("%s/master-colour", fx.dir);
    pages[0] = fx.pages[0];
    if (pm_process_page(fx.eng, &p, &t, &pages[1]) != 0)
        fail_msg("colour page: %s", pages[1].error);
    assert_int_equal(pages[1].codec, PM_IMG_JPEG);
    assert_int_equal(pages[1].kind, PM_KIND_COLOR);
    pages[2] = fx.pages[COLOUR];
    d.title = (char *)TITLE;
    d.pdf = pm_asprintf("%s/master.pdf", fx.dir);
    d.txt = pm_asprintf("%s/master.txt", fx.dir);
    d.tif = pm_asprintf("%s/master.tif", fx.dir);
    d.icc_profile = (char *)PM_DEFAULT_ICC;
    d.tiff_master = PM_TIFF_G4_JPEG;
    if (pm_assemble_doc(fx.eng, &d, pages, 3, &r) != 0)
        fail_msg("assembly: %s", r.error);
    RUN_OK(&out, "tiffinfo '%s' 2>&1", d.tif);
    assert_non_null(strstr(out, "Compression Scheme: CCITT Group 4"));
    assert_non_null(strstr(out, "Compression Scheme: JPEG"));
    assert_non_null(strstr(out, "Photometric Interpretation: YCbCr"));
    assert_non_null(strstr(out, "Compression Scheme: AdobeDeflate"));
    assert_non_null(strstr(out, "Page Number: 2-3"));
    free(out);
    for (int i = 0; i < 3; i++)
        master_page_is(d.tif, i, &pages[i]);
    pm_doc_result_cleanup(&r);
    pm_page_result_cleanup(&pages[1]);
    pm_free(t.out_base);
    pm_free(d.pdf);
    pm_free(d.txt);
    pm_free(d.tif);
}

static void no_converted_page_is_an_error(void **state)
{
    pm_page_result_t none[1];
    pm_doc_task_t d = {0};
    pm_doc_result_t r;
    char *pdf, *txt;

    (void)state;
    require_document();
    memset(none, 0, sizeof(none));
    pdf = pm_asprintf("%s/none.pdf", fx.dir);
    txt = pm_asprintf("%s/none.txt", fx.dir);
    d.title = (char *)"none";
    d.pdf = pdf;
    d.txt = txt;
    d.icc_profile = (char *)PM_DEFAULT_ICC;
    assert_int_not_equal(pm_assemble_doc(fx.eng, &d, none, 1, &r), 0);
    assert_false(r.ok);
    assert_non_null(r.error);
    assert_int_not_equal(access(pdf, F_OK), 0);
    pm_doc_result_cleanup(&r);
    pm_free(pdf);
    pm_free(txt);
}

/* Assembly failures name their cause and leave neither the PDF nor a
 * temp file behind: a missing ICC profile, and a damaged text layer. */
static void assembly_failures_leave_nothing(void **state)
{
    pm_page_result_t pages[2];
    pm_doc_task_t d = {0};
    pm_doc_result_t r;
    char *pdf, *txt, *bad_layer;
    unsigned char *buf = NULL;
    size_t len = 0;
    DIR *dir;
    struct dirent *e;

    (void)state;
    require_document();
    pdf = pm_asprintf("%s/bad.pdf", fx.dir);
    txt = pm_asprintf("%s/bad.txt", fx.dir);
    d.title = (char *)"bad";
    d.pdf = pdf;
    d.txt = txt;

    d.icc_profile = (char *)"/nonexistent/sRGB.icc";
    assert_int_not_equal(pm_assemble_doc(fx.eng, &d, fx.pages, 1, &r), 0);
    assert_false(r.ok);
    printf("# %s\n", r.error);
    assert_non_null(strstr(r.error, "/nonexistent/sRGB.icc"));
    pm_doc_result_cleanup(&r);

    /* Page 2's text layer cut in half, after a good page 1. */
    bad_layer = pm_asprintf("%s/bad-layer.pdf", fx.dir);
    assert_int_equal(pm_read_file(fx.pages[1].text_pdf, 1u << 26, &buf, &len),
                     0);
    assert_int_equal(pm_write_file_atomic(bad_layer, buf, len / 2), 0);
    pm_free(buf);
    memcpy(pages, fx.pages, sizeof(pages)); /* shallow: not cleaned up */
    pages[1].text_pdf = bad_layer;
    d.icc_profile = (char *)PM_DEFAULT_ICC;
    assert_int_not_equal(pm_assemble_doc(fx.eng, &d, pages, 2, &r), 0);
    assert_false(r.ok);
    printf("# %s\n", r.error);
    assert_non_null(strstr(r.error, "bad-layer.pdf"));
    pm_doc_result_cleanup(&r);

    assert_int_not_equal(access(pdf, F_OK), 0);
    dir = opendir(fx.dir);
    assert_non_null(dir);
    while ((e = readdir(dir)) != NULL)
        if (strncmp(e->d_name, "bad.", 4) == 0)
            fail_msg("left behind: %s", e->d_name);
    closedir(dir);
    pm_free(bad_layer);
    pm_free(pdf);
    pm_free(txt);
}

/* A long title (a catalog record's, say: 1200 bytes of "A&A&...", which
 * XML escaping makes 3600) reaches the XMP whole, so it still agrees with
 * the Info dictionary, as PDF/A requires. */
static void long_title_is_not_truncated(void **state)
{
    char title[1201], *pdf, *txt, *xmp, *trailer = NULL, *root;
    pm_doc_task_t d = {0};
    pm_doc_result_t r;
    size_t len = 0, amps = 0;
    const char *t;

    (void)state;
    require_document();
    for (size_t i = 0; i < sizeof(title) - 1; i++)
        title[i] = i % 2 ? '&' : 'A';
    title[sizeof(title) - 1] = '\0';
    pdf = pm_asprintf("%s/long.pdf", fx.dir);
    txt = pm_asprintf("%s/long.txt", fx.dir);
    d.title = title;
    d.pdf = pdf;
    d.txt = txt;
    d.icc_profile = (char *)PM_DEFAULT_ICC;
    assert_int_equal(pm_assemble_doc(fx.eng, &d, fx.pages, 1, &r), 0);
    pm_doc_result_cleanup(&r);

    RUN_OK(&trailer, "qpdf --show-object=trailer '%s'", pdf);
    RUN_OK(&root, "qpdf --show-object=%d '%s'", ref_after(trailer, "/Root"),
           pdf);
    RUN_OK(&xmp, "qpdf --show-object=%d --raw-stream-data '%s'",
           ref_after(root, "/Metadata"), pdf);
    t = strstr(xmp, "<rdf:li xml:lang=\"x-default\">");
    assert_non_null(t);
    for (t = strchr(t, '>') + 1; strncmp(t, "A&amp;", 6) == 0; t += 6)
        amps++;
    len = amps * 2;
    printf("# title of %zu bytes: %zu reached the XMP\n", strlen(title),
           len + (*t == 'A'));
    assert_int_equal(amps, 600);
    free(xmp);
    free(root);
    free(trailer);
    pm_free(pdf);
    pm_free(txt);
}

/*
 * The same pages assembled twice give the same bytes but for the dates
 * and the trailer /ID that digests them (docs/archival.md), in the form
 * the reproducibility checks take out: `/ID [<hex><hex>]`.
 */
static void same_pages_same_bytes(void **state)
{
    char *pdf[2], *txt = pm_asprintf("%s/again.txt", fx.dir), *out = NULL;
    pm_doc_task_t d = {0};
    pm_doc_result_t r;

    (void)state;
    require_document();
    for (int i = 0; i < 2; i++) {
        pdf[i] = pm_asprintf("%s/again%d.pdf", fx.dir, i);
        d.title = (char *)"Again";
        d.pdf = pdf[i];
        d.txt = txt;
        d.icc_profile = (char *)PM_DEFAULT_ICC;
        assert_int_equal(pm_assemble_doc(fx.eng, &d, fx.pages, NPAGES, &r), 0);
        pm_doc_result_cleanup(&r);
    }
    RUN_OK(
        &out,
        "python3 - '%s' '%s' <<'EOF'\n"
        "import re, sys\n"
        "def pdf(p):\n"
        "    s = open(p, 'rb').read()\n"
        "    s = re.sub(rb\"D:\\d{14}\\+00'00'\", b'D:date', s)\n"
        "    s = re.sub(rb'\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d"
        "\\+00:00', b'date', s)\n"
        "    n = len(re.findall(rb'/ID \\[<[0-9a-f]{32}><[0-9a-f]{32}>\\]', "
        "s))\n"
        "    assert n == 1, n\n"
        "    return re.sub(rb'/ID \\[<[0-9a-f]+><[0-9a-f]+>\\]', b'/ID', s)\n"
        "print('same' if pdf(sys.argv[1]) == pdf(sys.argv[2]) else 'differ')\n"
        "EOF",
        pdf[0], pdf[1]);
    assert_string_equal(out, "same\n");
    free(out);
    for (int i = 0; i < 2; i++) {
        unlink(pdf[i]);
        pm_free(pdf[i]);
    }
    unlink(txt);
    pm_free(txt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(assembly_reports_what_it_wrote),
        cmocka_unit_test(qpdf_finds_no_errors),
        cmocka_unit_test(images_are_embedded_as_encoded),
        cmocka_unit_test(kept_scan_is_embedded_byte_for_byte),
        cmocka_unit_test(metadata_declares_pdfa_2b),
        cmocka_unit_test(every_stream_ends_with_an_eol),
        cmocka_unit_test(nothing_pdfa_forbids),
        cmocka_unit_test(pdfa_1b_passes_pdfbox_preflight),
        cmocka_unit_test(pdfa_2b_is_not_taken_for_1b),
        cmocka_unit_test(jp2_page_is_refused_in_pdfa_1b),
        cmocka_unit_test(fonts_are_embedded_and_shared),
        cmocka_unit_test(text_layer_reads_like_the_ocr),
        cmocka_unit_test(text_layer_is_placed_exactly),
        cmocka_unit_test(word_boxes_lie_on_the_ink),
        cmocka_unit_test(page_renders_as_the_scan),
        cmocka_unit_test(pages_render_like_their_images),
        cmocka_unit_test(tiff_master_holds_the_page_images),
        cmocka_unit_test(no_converted_page_is_an_error),
        cmocka_unit_test(assembly_failures_leave_nothing),
        cmocka_unit_test(long_title_is_not_truncated),
        cmocka_unit_test(same_pages_same_bytes),
    };

    return cmocka_run_group_tests(tests, build_document, remove_document);
}
