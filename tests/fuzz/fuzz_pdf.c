/*
 * fuzz_pdf.c: libFuzzer driver for PDF input (workers/pdf*.c): the
 * content-stream lexer on the raw bytes, then, as a worker does, the page
 * count and the decoding of the first and last pages through
 * pm_load_page (one image taken as it is, or rendered by poppler), with a
 * text layer read again rather than refused, at a low rendering
 * resolution and under a small pixel limit so a bomb is refused before it
 * allocates.
 */
#include <assert.h>
#include <stdint.h>

#include <leptonica/allheaders.h>

#include "config/config.h"
#include "fuzz/fuzz_util.h"
#include "pipeline/base/pm.h"
#include "workers/engine.h"
#include "workers/pdf_int.h"

static pm_engine_t *eng;
static pm_profile_t prof;

static void decode(const char *path, int page)
{
    struct Pix *pix = NULL;
    int fallback = 0;

    if (pm_load_page(eng, path, page, &prof, &pix, &fallback) != 0) {
        assert(pix == NULL);
        return;
    }
    assert(pix != NULL);
    pixDestroy(&pix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pm_pdf_scan_t scan;
    const char *path;
    int n = 0;

    if (eng == NULL) {
        pm_log_threshold = PM_LOG_ERROR + 1;
        pm_profile_defaults(&prof);
        prof.max_pixels = 1500000;
        prof.pdf_text_redo = 1;
        prof.pdf_dpi = 72;
        if (pm_engine_open(NULL, &eng) != 0)
            return 0;
    }
    pm__pdf_scan(data, size, &scan);
    assert(scan.ndrawn <= PM_PDF_MAX_DRAWN);
    path = fz_write("doc.pdf", data, size);
    if (pm_load_count_frames(eng, path, &n) != 0)
        return 0;
    assert(n >= 1);
    decode(path, 0);
    if (n > 1)
        decode(path, n - 1);
    return 0;
}
