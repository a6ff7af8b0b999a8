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

/* Pins `fd` as the content of `path` for load.c: until unpinned (fd -1),
 * every open of `path` by the decoders reads a duplicate of `fd`. */
void pm__load_pin(const char *path, int fd);

/* Opens a page safely (no symlink, no FIFO, regular files only; the pinned
 * descriptor for the pinned path): a descriptor, or -1 with errno set. */
int pm__page_open(const char *path);

/* Reads `path` once through pm__page_open() into an anonymous memory file
 * while hashing it, and checks its SHA-256 against `sha256` (64 hex
 * digits). 0 and *memfd (the caller closes it), or an error with the
 * detail on `eng`: PM_ECHANGED when the digest differs. */
int pm__page_verify(pm_engine_t *eng, const char *path, const char *sha256,
                    int *memfd);

/* Milliseconds since `t0` (pm_now_ms). */
double pm__since(double t0);

#endif /* PM_WORKERS_ENGINE_INT_H */
