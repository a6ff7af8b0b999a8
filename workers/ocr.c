/*
 * ocr.c: the OCR stage. One Tesseract instance per engine, initialised for
 * the profile's languages on first use and reused for every page after
 * (re-initialised only when a page asks for other languages). Words with
 * their confidences give the page metrics; Tesseract's own PDF renderer,
 * in text-only mode, writes the invisible text layer that assembly lays
 * over the page image.
 *
 * Lines are re-read inverted only when their mean confidence is below
 * INVERT_THRESHOLD rather than Tesseract's 0.7 (measured on the benchmark
 * batch, docs/benchmarks.md). A deskewed page is read only inside its
 * content box, not the white corners of its enlarged canvas.
 */
#include <stdio.h>
#include <string.h>

#include <leptonica/allheaders.h>

#include "pipeline/pm.h"
#include "workers/engine_int.h"

/*
 * Tesseract re-reads every text line whose mean confidence is below
 * `invert_threshold` (default 0.7) a second time, inverted, in case it is
 * white on black. On scans most lines below 0.7 are noise, pictures and
 * rules: on the benchmark batch 0.5 instead of 0.7 saves 4% of recognition
 * (22% on the ccitt7 chart, 29% on the Hebrew page) and reads the same text
 * but for a few noise lines of one fax. White-on-black text scores lower
 * still: at 0.5 a block of it is still read (test_ocr), at 0.3 it is not.
 */
#define INVERT_THRESHOLD "0.5"

int pm__ocr_ready(pm_engine_t *eng, const char *langs)
{
    if (eng->ocr != NULL && strcmp(eng->ocr_langs, langs) == 0)
        return 0;
    if (eng->ocr != NULL) {
        TessBaseAPIEnd(eng->ocr);
        TessBaseAPIDelete(eng->ocr);
        eng->ocr = NULL;
    }
    eng->ocr = TessBaseAPICreate();
    if (eng->ocr == NULL)
        return pm__engine_fail(eng, PM_ENOMEM, "OCR: out of memory");
    TessBaseAPISetVariable(eng->ocr, "debug_file", "/dev/null");
    if (TessBaseAPIInit2(eng->ocr, eng->tessdata, langs, OEM_LSTM_ONLY) != 0) {
        TessBaseAPIDelete(eng->ocr);
        eng->ocr = NULL;
        return pm__engine_fail(eng, PM_EOCR,
                               "OCR: cannot load languages '%s' from tessdata "
                               "%s (is tesseract-ocr-%s installed?)",
                               langs, eng->tessdata ? eng->tessdata : "default",
                               langs);
    }
    if (!TessBaseAPISetVariable(eng->ocr, "invert_threshold", INVERT_THRESHOLD))
        pm_log(PM_LOG_WARN, "ocr",
               "this Tesseract has no invert_threshold; using its default");
    snprintf(eng->ocr_langs, sizeof(eng->ocr_langs), "%s", langs);
    pm_log(PM_LOG_DEBUG, "ocr", "engine ready for %s", langs);
    return 0;
}

/* Word count and mean word confidence, from one call (the per-word
 * iterator costs ~0.1 s on a dense page). */
static void count_words(TessBaseAPI *api, pm_ocr_out_t *out)
{
    int *conf = TessBaseAPIAllWordConfidences(api);
    double sum = 0;
    int n = 0;

    if (conf == NULL)
        return;
    for (; conf[n] >= 0; n++)
        sum += conf[n];
    TessDeleteIntArray(conf);
    out->words = n;
    out->confidence = n > 0 ? sum / n : 0;
}

static int write_text_pdf(pm_engine_t *eng, const char *pdf_base)
{
    TessResultRenderer *r;
    int ok;

    r = TessPDFRendererCreate(pdf_base, TessBaseAPIGetDatapath(eng->ocr), 1);
    if (r == NULL)
        return pm__engine_fail(eng, PM_EOCR, "OCR: cannot create PDF renderer");
    ok = TessResultRendererBeginDocument(r, "") &&
         TessResultRendererAddImage(r, eng->ocr) &&
         TessResultRendererEndDocument(r);
    TessDeleteResultRenderer(r);
    if (!ok)
        return pm__engine_fail(eng, PM_EOCR,
                               "OCR: cannot write text layer %s.pdf (is "
                               "pdf.ttf in tessdata?)",
                               pdf_base);
    return 0;
}

/* pdf_base + ".alto.xml": the page's ALTO <Page> element (Tesseract's
 * ALTO renderer without its document header), which publishing merges
 * into the job's ALTO document (docs/archival.md). */
static int write_alto(pm_engine_t *eng, const char *pdf_base)
{
    char *xml = TessBaseAPIGetAltoText(eng->ocr, 0);
    char *path = pm_asprintf("%s.alto.xml", pdf_base);
    int err = xml == NULL || path == NULL
                  ? PM_ENOMEM
                  : pm_write_file_atomic(path, xml, strlen(xml));

    if (err != 0)
        err = pm__engine_fail(eng, PM_EOCR, "OCR: cannot write %s: %s",
                              path ? path : "ALTO", pm_strerror(err));
    TessDeleteText(xml);
    pm_free(path);
    return err;
}

int pm_ocr_page(pm_engine_t *eng, const pm_profile_t *p, PIX *pix, BOX *area,
                int xres, int yres, const char *pdf_base, pm_ocr_out_t *out)
{
    char *text;
    int err;

    (void)xres;
    memset(out, 0, sizeof(*out));
    err = pm__ocr_ready(eng, p->languages);
    if (err)
        return err;
    TessBaseAPISetPageSegMode(eng->ocr, (TessPageSegMode)p->ocr_psm);
    TessBaseAPISetImage2(eng->ocr, pix);
    TessBaseAPISetSourceResolution(eng->ocr, yres);
    if (area != NULL) {
        l_int32 x, y, w, h;

        /* Word boxes still come back in whole-page coordinates. */
        boxGetGeometry(area, &x, &y, &w, &h);
        TessBaseAPISetRectangle(eng->ocr, x, y, w, h);
    }
    if (TessBaseAPIRecognize(eng->ocr, NULL) != 0) {
        TessBaseAPIClear(eng->ocr);
        return pm__engine_fail(eng, PM_EOCR, "OCR: recognition failed");
    }
    count_words(eng->ocr, out);
    text = TessBaseAPIGetUTF8Text(eng->ocr);
    out->text = pm_strdup(text != NULL ? text : "");
    TessDeleteText(text);
    err = out->text == NULL ? PM_ENOMEM : 0;
    if (err == 0 && pdf_base != NULL)
        err = write_text_pdf(eng, pdf_base);
    if (err == 0 && pdf_base != NULL)
        err = write_alto(eng, pdf_base);
    TessBaseAPIClear(eng->ocr);
    if (err) {
        pm_free(out->text);
        out->text = NULL;
    }
    return err;
}
