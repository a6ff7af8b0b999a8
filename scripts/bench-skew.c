/*
 * bench-skew: write a rotated ("skewed") copy of a page image for
 * scripts/bench-convert.sh.  Not part of pagemill; compiled by the script:
 *
 *   cc -O2 -o bench-skew scripts/bench-skew.c $(pkg-config --cflags --libs
 * lept) bench-skew IN OUTBASE ANGLE_DEGREES   (positive = clockwise)
 *
 * writes OUTBASE.tif or OUTBASE.png and prints the path it wrote.
 *
 * The canvas grows so no corner of the page is cut off, and the uncovered
 * area is white.  1-bit pages are rotated by sampling and stay 1-bit (written
 * as TIFF G4, or as 1-bit PNG when the input has no resolution); gray and
 * colour pages are rotated with area mapping (written as PNG).  The
 * resolution tag is kept exactly as read: a file without one gives a copy
 * without one, so the tools get the same dpi handling for the copy as for
 * the original.
 */
#include <allheaders.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s IN OUTBASE ANGLE_DEGREES [DPI]\n", argv[0]);
        return 2;
    }
    char *end;
    double deg = strtod(argv[3], &end);
    if (*end != '\0') {
        fprintf(stderr, "bench-skew: bad angle '%s'\n", argv[3]);
        return 2;
    }
    setMsgSeverity(L_SEVERITY_WARNING);

    PIX *pixs = pixRead(argv[1]);
    if (!pixs) {
        fprintf(stderr, "bench-skew: cannot read %s\n", argv[1]);
        return 1;
    }
    if (pixGetColormap(pixs)) {
        PIX *t = pixRemoveColormap(pixs, REMOVE_CMAP_BASED_ON_SRC);
        pixDestroy(&pixs);
        pixs = t;
    }
    l_int32 w = pixGetWidth(pixs), h = pixGetHeight(pixs);
    l_int32 d = pixGetDepth(pixs);
    l_int32 xres = pixGetXRes(pixs), yres = pixGetYRes(pixs);
    /* DPI, when given, tags a file that has no resolution of its own, so
     * every tool reads the same resolution from the same file. */
    if (argc == 5 && (xres <= 0 || yres <= 0))
        xres = yres = atoi(argv[4]);

    l_int32 type = (d == 1) ? L_ROTATE_SAMPLING : L_ROTATE_AREA_MAP;
    l_float32 rad = (l_float32)(deg * 3.14159265358979323846 / 180.0);
    PIX *pixd = pixRotate(pixs, rad, type, L_BRING_IN_WHITE, w, h);
    if (!pixd) {
        fprintf(stderr, "bench-skew: rotation failed for %s\n", argv[1]);
        pixDestroy(&pixs);
        return 1;
    }
    pixSetResolution(pixd, xres, yres);

    /* Leptonica's TIFF writer puts 300 dpi into a file whose pix has no
     * resolution, so an untagged 1-bit page goes to PNG (no pHYs) instead. */
    l_int32 format = (pixGetDepth(pixd) == 1 && xres > 0 && yres > 0)
                         ? IFF_TIFF_G4
                         : IFF_PNG;
    char out[4096];
    snprintf(out, sizeof out, "%s.%s", argv[2],
             format == IFF_TIFF_G4 ? "tif" : "png");
    l_int32 rc = pixWrite(out, pixd, format);
    pixDestroy(&pixs);
    pixDestroy(&pixd);
    if (rc != 0) {
        fprintf(stderr, "bench-skew: cannot write %s\n", out);
        return 1;
    }
    printf("%s\n", out);
    return 0;
}
