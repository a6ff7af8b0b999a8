/*
 * fuzz_image.c: libFuzzer driver for page decoding through pagemill's
 * loader (TIFF, PNG, JPEG, JPEG 2000, BMP, PNM): frame counting from the
 * header, then decoding and normalising the first and last frames, as a
 * worker does, under a small pixel limit so a bomb is refused before it
 * allocates.
 */
#include <assert.h>
#include <stdint.h>

#include <leptonica/allheaders.h>

#include "config/config.h"
#include "fuzz/fuzz_util.h"
#include "pipeline/base/pm.h"
#include "workers/engine.h"

static pm_engine_t *eng;
static pm_profile_t prof;

static void decode(const char *path, int frame)
{
    pm_page_image_t img = {0};
    struct Pix *pix = NULL;
    int fallback = 0;

    if (pm_load_page(eng, path, frame, &prof, &pix, &fallback) != 0) {
        assert(pix == NULL);
        return;
    }
    assert(pix != NULL);
    if (pm_normalize(eng, pix, &prof, &img) == 0)
        assert(img.pix != NULL && img.binary != NULL);
    pm_page_image_cleanup(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path;
    int n = 0;

    if (eng == NULL) {
        pm_log_threshold = PM_LOG_ERROR + 1;
        pm_profile_defaults(&prof);
        prof.max_pixels = 1500000;
        if (pm_engine_open(NULL, &eng) != 0)
            return 0;
    }
    path = fz_write("page", data, size);
    if (pm_load_count_frames(eng, path, &n) != 0)
        return 0;
    assert(n >= 1);
    decode(path, 0);
    if (n > 1)
        decode(path, n - 1 < 64 ? n - 1 : 63);
    return 0;
}
