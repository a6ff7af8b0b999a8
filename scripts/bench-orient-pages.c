/*
 * bench-orient-pages.c: writes the pages of the orientation benchmark
 * (scripts/bench-orient.sh, docs/orientation.md). For each line
 * "KIND<TAB>PATH" of a list (PATH under the shared data folder) it decodes
 * the first frame and writes it turned 0, 90, 180 and 270 degrees
 * clockwise, each also skewed by a small angle, as lossless PNG into an
 * output folder: KIND__NAME__rQQQ__sA.png, where QQQ is the clockwise turn
 * applied and A the extra skew in degrees. Resolution is kept (axes
 * swapped for quarter turns).
 *
 *   bench-orient-pages LIST DATA_DIR OUT_DIR [SKEW_DEGREES]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leptonica/allheaders.h>

/* Writes `pix` turned `quads` quarters clockwise, then skewed `skew`
 * degrees, as OUT/KIND__NAME__rQQQ__sA.png; 0 or -1. */
static int write_variant(PIX *pix, int quads, double skew, const char *out,
                         const char *kind, const char *name)
{
    PIX *t = pixRotateOrth(pix, quads), *s;
    char path[4096];
    int err;

    if (t == NULL)
        return -1;
    if (quads % 2 == 1)
        pixSetResolution(t, pixGetYRes(pix), pixGetXRes(pix));
    if (skew != 0) {
        s = pixRotate(t, (float)(skew * M_PI / 180.0), L_ROTATE_AREA_MAP,
                      L_BRING_IN_WHITE, 0, 0);
        pixDestroy(&t);
        if (s == NULL)
            return -1;
        t = s;
    }
    snprintf(path, sizeof(path), "%s/%s__%s__r%03d__s%+.0f.png", out, kind,
             name, quads * 90, skew);
    err = pixWrite(path, t, IFF_PNG);
    pixDestroy(&t);
    if (err)
        fprintf(stderr, "bench-orient-pages: cannot write %s\n", path);
    return err ? -1 : 0;
}

/* The page as the pipeline would see it: 1, 8 or 32 bpp, no colormap. */
static PIX *read_page(const char *path)
{
    PIX *raw = pixRead(path), *pix;

    if (raw == NULL)
        return NULL;
    pix = pixRemoveColormap(raw, REMOVE_CMAP_BASED_ON_SRC);
    pixDestroy(&raw);
    if (pix != NULL && pixGetDepth(pix) != 1 && pixGetDepth(pix) != 8 &&
        pixGetDepth(pix) != 32) {
        PIX *c = pixConvertTo32(pix);
        pixDestroy(&pix);
        pix = c;
    }
    return pix;
}

int main(int argc, char **argv)
{
    char line[4096], kind[64], rel[3000], path[4096];
    double skew = argc > 4 ? atof(argv[4]) : 2.0;
    FILE *list;
    int n = 0, bad = 0;

    if (argc < 4) {
        fprintf(stderr, "usage: %s LIST DATA_DIR OUT_DIR [SKEW_DEGREES]\n",
                argv[0]);
        return 2;
    }
    list = fopen(argv[1], "r");
    if (list == NULL) {
        perror(argv[1]);
        return 1;
    }
    setMsgSeverity(L_SEVERITY_WARNING);
    while (fgets(line, sizeof(line), list) != NULL) {
        const char *name;
        PIX *pix;

        if (line[0] == '#' || sscanf(line, "%63s %2999s", kind, rel) != 2)
            continue;
        snprintf(path, sizeof(path), "%s/%s", argv[2], rel);
        pix = read_page(path);
        if (pix == NULL) {
            fprintf(stderr, "bench-orient-pages: cannot read %s\n", path);
            bad++;
            continue;
        }
        name = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
        for (int q = 0; q < 4; q++)
            /* Skewed one way on even turns, the other way on odd ones. */
            if (write_variant(pix, q, 0, argv[3], kind, name) != 0 ||
                write_variant(pix, q, q % 2 ? -skew : skew, argv[3], kind,
                              name) != 0)
                bad++;
        pixDestroy(&pix);
        n++;
    }
    fclose(list);
    printf("bench-orient-pages: %d pages, %d variants each, %d errors\n", n, 8,
           bad);
    return bad ? 1 : 0;
}
