/*
 * engine_int.h: what the page engine's files share and nobody else sees:
 * the engine struct (warm Tesseract handles, last error text) and the
 * hook that captures messages from Leptonica and libtiff.
 */
#ifndef PM_WORKERS_ENGINE_INT_H
#define PM_WORKERS_ENGINE_INT_H

#include <tesseract/capi.h>

#include "workers/engine.h"

struct pm_engine {
    char *tessdata;   /* NULL: Tesseract's default */
    TessBaseAPI *ocr; /* initialised for ocr_langs, or NULL */
    char ocr_langs[PM_LANGS_MAX];
    TessBaseAPI *osd; /* initialised with "osd", or NULL */
    int osd_failed;   /* osd.traineddata could not be loaded */
    char errmsg[1024];
};

/* The last message Leptonica or libtiff printed in this process (empty if
 * none since pm__lib_clear). Borrowed. */
const char *pm__lib_last(void);
void pm__lib_clear(void);

/* Makes eng->ocr ready for `langs` (ocr.c); 0, or PM_EOCR / PM_ENOMEM with
 * the detail on the engine. */
int pm__ocr_ready(pm_engine_t *eng, const char *langs);

/* Milliseconds since `t0` (pm_now_ms). */
double pm__since(double t0);

#endif /* PM_WORKERS_ENGINE_INT_H */
