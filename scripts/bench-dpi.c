/*
 * bench-dpi.c: the resolution workers/dpi.c estimates for each page given,
 * beside the page's own tag (docs/resolution.md):
 *
 *   cc -O2 -I. -o /tmp/bench-dpi scripts/bench-dpi.c workers/dpi.c \
 *       $(pkg-config --cflags --libs lept tesseract) -lm
 *   /tmp/bench-dpi FILE...
 *
 * One line per file: size, tag, the raw estimate and the resolution used
 * under fallback_dpi 300 (0: too little text; 300 also when the letters
 * agree with it).
 */
#include <stdio.h>
#include <stdlib.h>

#include <leptonica/allheaders.h>

#include "workers/engine_int.h"

/* dpi.c's allocations, without the rest of pagemill. */
void *pm_calloc(size_t n, size_t size)
{
    return calloc(n, size);
}

void pm_free(void *p)
{
    free(p);
}

int main(int argc, char **argv)
{
    setLeptDebugOK(0);
    for (int i = 1; i < argc; i++) {
        PIX *pix = pixRead(argv[i]);
        double raw = 0;
        int dpi = 0;

        if (pix == NULL) {
            printf("%s\tunreadable\n", argv[i]);
            continue;
        }
        if (pm__dpi_estimate(pix, 300, &raw, &dpi) < 0)
            dpi = -1;
        printf("%s\t%dx%d\ttag %d\traw %.0f\tused %d\n", argv[i],
               pixGetWidth(pix), pixGetHeight(pix), pixGetXRes(pix), raw, dpi);
        pixDestroy(&pix);
    }
    return 0;
}
