/*
 * ocr.c: the OCR stage. One Tesseract instance per language set, kept by
 * the engine (up to PM_ENGINE_OCR_SETS sets), initialised on first use or
 * when the worker warms up, and reused for every page after: pages of
 * profiles with other languages, interleaved as the service hands out
 * pages of several jobs, do not load Tesseract again each time. Words with
 * their confidences give the page metrics; Tesseract's own PDF renderer,
 * in text-only mode, writes the invisible text layer that assembly lays
 * over the page image.
 *
 * Lines are re-read inverted only when their mean confidence is below
 * INVERT_THRESHOLD rather than Tesseract's 0.7 (measured on the benchmark
 * batch, docs/benchmarks.md). A deskewed page is read only inside its
 * content box, not the white corners of its enlarged canvas.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <leptonica/allheaders.h>

#include "pipeline/base/pm.h"
#include "workers/alto_page.h"
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

/* The slot kept for `langs`, else a free one, else the one used longest
 * ago (its instance closed). */
static pm__ocr_set_t *ocr_slot(pm_engine_t *eng, const char *langs, int *hit)
{
    pm__ocr_set_t *pick = NULL;

    for (int i = 0; i < PM_ENGINE_OCR_SETS; i++) {
        pm__ocr_set_t *s = &eng->sets[i];

        if (s->api != NULL && strcmp(s->langs, langs) == 0) {
            *hit = 1;
            return s;
        }
        if (pick == NULL ||
            (pick->api != NULL && (s->api == NULL || s->used < pick->used)))
            pick = s;
    }
    *hit = 0;
    assert(pick != NULL);
    if (pick->api != NULL) {
        pm_log(PM_LOG_DEBUG, "ocr", "closing the engine for %s to load %s",
               pick->langs, langs);
        TessBaseAPIEnd(pick->api);
        TessBaseAPIDelete(pick->api);
        pick->api = NULL;
    }
    return pick;
}

/* A new instance for `langs` into *out, timed into eng->load_ms; 0, or
 * PM_ENOMEM / PM_EOCR with the detail on the engine. */
static int ocr_load(pm_engine_t *eng, const char *langs, TessBaseAPI **out)
{
    double t0 = pm_now_ms();
    TessBaseAPI *api = TessBaseAPICreate();

    *out = NULL;
    if (api == NULL)
        return pm__engine_fail(eng, PM_ENOMEM, "OCR: out of memory");
    TessBaseAPISetVariable(api, "debug_file", "/dev/null");
    if (TessBaseAPIInit2(api, eng->tessdata, langs, OEM_LSTM_ONLY) != 0) {
        TessBaseAPIDelete(api);
        return pm__engine_fail(eng, PM_EOCR,
                               "OCR: cannot load languages '%s' from tessdata "
                               "%s (is tesseract-ocr-%s installed?)",
                               langs, eng->tessdata ? eng->tessdata : "default",
                               langs);
    }
    if (!TessBaseAPISetVariable(api, "invert_threshold", INVERT_THRESHOLD))
        pm_log(PM_LOG_WARN, "ocr",
               "this Tesseract has no invert_threshold; using its default");
    eng->load_ms += pm__since(t0);
    eng->loads++;
    pm_log(PM_LOG_DEBUG, "ocr", "engine loaded for %s in %.0f ms", langs,
           pm__since(t0));
    *out = api;
    return 0;
}

int pm__ocr_ready(pm_engine_t *eng, const char *langs)
{
    pm__ocr_set_t *s;
    int hit, err;

    if (strlen(langs) >= sizeof(s->langs))
        return pm__engine_fail(eng, PM_EOCR, "OCR: language list too long: %s",
                               langs);
    s = ocr_slot(eng, langs, &hit);
    if (!hit) {
        eng->ocr = NULL;
        if ((err = ocr_load(eng, langs, &s->api)) != 0)
            return err;
        snprintf(s->langs, sizeof(s->langs), "%s", langs);
    }
    s->used = ++eng->use_count;
    eng->ocr = s->api;
    return 0;
}

void pm__ocr_close(pm_engine_t *eng)
{
    for (int i = 0; i < PM_ENGINE_OCR_SETS; i++) {
        if (eng->sets[i].api == NULL)
            continue;
        TessBaseAPIEnd(eng->sets[i].api);
        TessBaseAPIDelete(eng->sets[i].api);
        eng->sets[i].api = NULL;
    }
    eng->ocr = NULL;
}

/* Word count, doubtful words and mean word confidence, from one call
 * (the per-word iterator costs ~0.1 s on a dense page). */
static void count_words(TessBaseAPI *api, pm_ocr_out_t *out)
{
    int *conf = TessBaseAPIAllWordConfidences(api);
    double sum = 0;
    int n = 0;

    if (conf == NULL)
        return;
    for (; conf[n] >= 0; n++) {
        sum += conf[n];
        out->doubtful += conf[n] < PM_OCR_DOUBTFUL_CONF;
    }
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
 * ALTO renderer without its document header, alto_page.cc), which
 * publishing merges into the job's ALTO document (docs/archival.md);
 * width x height: the rectangle recognised. */
static int write_alto(pm_engine_t *eng, const char *pdf_base, int width,
                      int height)
{
    char *xml = pm__alto_page(eng->ocr, width, height);
    char *path = pm_asprintf("%s.alto.xml", pdf_base);
    int err = xml == NULL || path == NULL
                  ? PM_ENOMEM
                  : pm_write_file_atomic(path, xml, strlen(xml));

    if (err != 0)
        err = pm__engine_fail(eng, PM_EOCR, "OCR: cannot write %s: %s",
                              path ? path : "ALTO", pm_strerror(err));
    pm_free(xml);
    pm_free(path);
    return err;
}

int pm_ocr_page(pm_engine_t *eng, const pm_profile_t *p, PIX *pix, BOX *area,
                int xres, int yres, const char *pdf_base, int alto,
                pm_ocr_out_t *out)
{
    char *text;
    int err, w = pixGetWidth(pix), h = pixGetHeight(pix);

    (void)xres;
    memset(out, 0, sizeof(*out));
    err = pm__ocr_ready(eng, p->languages);
    if (err)
        return err;
    TessBaseAPISetPageSegMode(eng->ocr, (TessPageSegMode)p->ocr_psm);
    TessBaseAPISetImage2(eng->ocr, pix);
    TessBaseAPISetSourceResolution(eng->ocr, yres);
    if (area != NULL) {
        l_int32 x, y;

        /* Word boxes still come back in whole-page coordinates. */
        boxGetGeometry(area, &x, &y, &w, &h);
        /* The rectangle as Tesseract clips it (the ALTO's Page size). */
        w = w < pixGetWidth(pix) - x ? w : pixGetWidth(pix) - x;
        h = h < pixGetHeight(pix) - y ? h : pixGetHeight(pix) - y;
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
    if (err == 0 && pdf_base != NULL && alto) {
        double t0 = pm_now_ms();

        err = write_alto(eng, pdf_base, w, h);
        out->alto_ms = pm__since(t0);
    }
    TessBaseAPIClear(eng->ocr);
    if (err) {
        pm_free(out->text);
        out->text = NULL;
    }
    return err;
}
