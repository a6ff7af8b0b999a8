/*
 * orient.c: the orientation stage. Most scanned pages are upright, and
 * Tesseract's OSD costs 0.3-0.8 s on a 300 dpi page, a third of the OCR
 * time. So a fast check comes first: Leptonica's text-orientation
 * statistics (ascenders against descenders, on a 150 dpi copy, ~10 ms).
 * Only when that check is sure the page is upright is OSD skipped; a page
 * it finds rotated, or cannot judge (little text, non-Latin scripts, forms),
 * goes to OSD, which decides. OSD (osd.traineddata, the legacy classifier)
 * runs on the binary analysis copy with its own warm instance, separate
 * from the OCR instance so each keeps its languages.
 */
#include <string.h>

#include <leptonica/allheaders.h>

#include "pipeline/pm.h"
#include "workers/engine_int.h"

/* Initialises the OSD instance once per engine; 0 or PM_EOCR. */
static int osd_ready(pm_engine_t *eng)
{
    if (eng->osd != NULL)
        return 0;
    if (eng->osd_failed)
        return PM_EOCR;
    eng->osd = TessBaseAPICreate();
    if (eng->osd == NULL)
        return PM_ENOMEM;
    TessBaseAPISetVariable(eng->osd, "debug_file", "/dev/null");
    if (TessBaseAPIInit3(eng->osd, eng->tessdata, "osd") != 0) {
        TessBaseAPIDelete(eng->osd);
        eng->osd = NULL;
        eng->osd_failed = 1;
        pm_log(PM_LOG_ERROR, "orient",
               "cannot load osd.traineddata (tessdata %s); orientation "
               "detection is off",
               eng->tessdata ? eng->tessdata : "default");
        return PM_EOCR;
    }
    TessBaseAPISetPageSegMode(eng->osd, PSM_OSD_ONLY);
    return 0;
}

/* Leptonica's default up/down confidence (8) and a ratio of 2 between the
 * up/down and the landscape signals (Leptonica's default is 2.5): dense
 * book and magazine pages measure up 10-12 against left 4-5, and a page
 * turned a quarter shows the reverse (up near 0, left large), a page
 * upside down a negative up. Both still go to OSD. */
#define UPRIGHT_MIN_CONF  8.0f
#define UPRIGHT_MIN_RATIO 2.0f

/* True when Leptonica is sure the page is upright. */
static int clearly_upright(PIX *binary, int res)
{
    PIX *s =
        res >= 250 ? pixReduceRankBinary2(binary, 2, NULL) : pixClone(binary);
    l_float32 up = 0, left = 0;
    l_int32 orient = L_TEXT_ORIENT_UNKNOWN;
    int ok;

    if (s == NULL)
        return 0;
    ok = pixOrientDetect(s, &up, &left, 0, 0) == 0 &&
         makeOrientDecision(up, left, UPRIGHT_MIN_CONF, UPRIGHT_MIN_RATIO,
                            &orient, 0) == 0;
    pixDestroy(&s);
    return ok && orient == L_TEXT_ORIENT_UP;
}

/* Clockwise quarter turns that make a page upright, from OSD's
 * "orientation in degrees" (the page's own rotation, counter-clockwise). */
static int quads_for(int orient_deg)
{
    return ((360 - orient_deg) % 360) / 90;
}

static int rotate_orth(PIX **pix, int quads)
{
    PIX *r = pixRotateOrth(*pix, quads);

    if (r == NULL)
        return -1;
    pixDestroy(pix);
    *pix = r;
    return 0;
}

int pm_orient_page(pm_engine_t *eng, const pm_profile_t *p,
                   pm_page_image_t *img, int *rotation, double *confidence,
                   int *osd)
{
    int orient_deg = 0, quads;
    float oconf = 0, sconf = 0;
    const char *script = NULL;

    *rotation = 0;
    *confidence = 0;
    *osd = 0;
    if (!p->orient || clearly_upright(img->binary, img->yres))
        return 0;
    *osd = 1;
    if (osd_ready(eng) != 0)
        return 0; /* logged once; pages still convert */
    TessBaseAPISetImage2(eng->osd, img->binary);
    TessBaseAPISetSourceResolution(eng->osd, img->yres);
    if (!TessBaseAPIDetectOrientationScript(eng->osd, &orient_deg, &oconf,
                                            &script, &sconf)) {
        TessBaseAPIClear(eng->osd);
        return 0; /* too little text to tell: leave as scanned */
    }
    TessBaseAPIClear(eng->osd);
    *confidence = oconf;
    quads = quads_for(orient_deg);
    if (quads == 0 || oconf < p->orient_min_confidence)
        return 0;
    if (rotate_orth(&img->pix, quads) != 0 ||
        rotate_orth(&img->binary, quads) != 0)
        return pm__engine_fail(eng, PM_ENOMEM, "orientation: rotate failed");
    if (quads % 2 == 1) {
        int t = img->xres;
        img->xres = img->yres;
        img->yres = t;
        pixSetResolution(img->pix, img->xres, img->yres);
        pixSetResolution(img->binary, img->xres, img->yres);
    }
    *rotation = quads * 90;
    return 0;
}
