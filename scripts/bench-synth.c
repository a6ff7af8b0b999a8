/*
 * bench-synth: write small synthetic bitonal pages for
 * scripts/bench-service.sh.  Not part of pagemill; compiled by the script:
 *
 *   cc -O2 -o bench-synth scripts/bench-synth.c \
 *       $(pkg-config --cflags --libs lept)
 *   bench-synth OUTDIR FIRST COUNT [WIDTH HEIGHT DPI [gray]]
 *
 * writes OUTDIR/s<number, 6 digits>.tif for number FIRST .. FIRST+COUNT-1:
 * a WIDTH x HEIGHT (default 600 x 400) 1 bpp page at DPI (default 300),
 * CCITT G4, with a few lines of text from Leptonica's built-in bitmap font.
 * With `gray`: OUTDIR/s<number>.jpg instead, the same page as 8-bit gray
 * on paper with a little noise (as a scanner gives), JPEG quality 75.
 * The page number is in the text, so every file differs (the service holds
 * a batch whose file checksum it has seen before as a possible duplicate).
 */
#include <allheaders.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 7 && argc != 8) {
        fprintf(stderr,
                "usage: %s OUTDIR FIRST COUNT [WIDTH HEIGHT DPI [gray]]\n",
                argv[0]);
        return 2;
    }
    long first = strtol(argv[2], NULL, 10), count = strtol(argv[3], NULL, 10);
    int w = argc >= 7 ? atoi(argv[4]) : 600;
    int h = argc >= 7 ? atoi(argv[5]) : 400;
    int dpi = argc >= 7 ? atoi(argv[6]) : 300;
    int gray = argc == 8 && strcmp(argv[7], "gray") == 0;
    if (first < 0 || count < 1 || w < 100 || h < 100 || dpi < 50) {
        fprintf(stderr, "bench-synth: bad arguments\n");
        return 2;
    }
    setMsgSeverity(L_SEVERITY_WARNING);

    L_BMF *bmf = bmfCreate(NULL, 8);
    if (!bmf) {
        fprintf(stderr, "bench-synth: no bitmap font\n");
        return 1;
    }
    static const char *const words[] = {
        "invoice",   "records", "centre",   "archive",  "customer", "account",
        "delivery",  "scanned", "folder",   "register", "payment",  "number",
        "statement", "letter",  "contract", "receipt"};
    const int nwords = (int)(sizeof(words) / sizeof(words[0]));

    for (long k = first; k < first + count; k++) {
        PIX *pix = pixCreate(w, h, 1);
        char line[256], path[4096];
        l_int32 y = 40, width, ovf;

        if (!pix) {
            fprintf(stderr, "bench-synth: out of memory\n");
            return 1;
        }
        pixSetResolution(pix, dpi, dpi);
        snprintf(line, sizeof line, "Record %06ld  page %ld", k, k);
        pixSetTextline(pix, bmf, line, 1, 30, y, &width, &ovf);
        for (int l = 0; l < 6 && y + 50 < h; l++) {
            y += 48;
            snprintf(line, sizeof line, "%s %s %ld %s", words[(k + l) % nwords],
                     words[(k * 3 + l * 5) % nwords], (k * 7919 + l) % 100000,
                     words[(k * 7 + l * 3) % nwords]);
            pixSetTextline(pix, bmf, line, 1, 30, y, &width, &ovf);
        }
        snprintf(path, sizeof path, "%s/s%06ld.%s", argv[1], k,
                 gray ? "jpg" : "tif");
        if (gray) {
            PIX *g = pixConvert1To8(NULL, pix, 235, 20);
            PIX *n = g ? pixAddGaussianNoise(g, 2.5) : NULL;

            pixDestroy(&g);
            pixDestroy(&pix);
            if (!n) {
                fprintf(stderr, "bench-synth: out of memory\n");
                return 1;
            }
            pixSetResolution(n, dpi, dpi);
            pix = n;
        }
        if (gray ? pixWriteJpeg(path, pix, 75, 0) != 0
                 : pixWrite(path, pix, IFF_TIFF_G4) != 0) {
            fprintf(stderr, "bench-synth: cannot write %s\n", path);
            pixDestroy(&pix);
            return 1;
        }
        pixDestroy(&pix);
    }
    bmfDestroy(&bmf);
    return 0;
}
