/*
 * orient.c: the orientation stage (docs/orientation.md). A page turned the
 * wrong way is the worst thing an archive can publish, so a page is turned
 * only on clear evidence, and the evidence is reported.
 *
 * 1. Fast check: Leptonica's text-orientation statistics (ascenders against
 *    descenders, on a 150 dpi copy, ~10 ms). Most scanned pages are clearly
 *    upright and stop here.
 * 2. Tesseract OSD (osd.traineddata, the legacy classifier, its own warm
 *    instance) on the binary analysis copy. Its verdict alone decides only
 *    when it is very confident: on sparse pages (tables, forms, charts) it
 *    is wrong with confidences up to 8 and more.
 * 3. Reading: a sample of the page (the densest square of character-sized
 *    components, scaled so that characters are about 32 pixels) is
 *    recognised with the worker's OCR instance (the profile's languages)
 *    at all four turns, in sparse-text mode, which does not turn vertical
 *    text lines by itself. The turn with clearly the most well-read words
 *    (>= 3 letters or digits at Tesseract's word confidence >= 85) wins;
 *    a weak reading must not be contradicted by OSD, a weaker one must
 *    agree with it. Mean confidence is no guide: Tesseract reads
 *    quarter-turned pages with high confidence. Too few well-read words
 *    at every turn: the page stays as scanned.
 *
 * The cost of reading (0.5-2 s) falls only on pages the first two steps
 * leave unsure.
 */
#include <stdlib.h>
#include <string.h>

#include <leptonica/allheaders.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"

/* Leptonica's default up/down confidence (8) and a ratio of 2 between the
 * up/down and the landscape signals (Leptonica's default is 2.5): dense
 * book and magazine pages measure up 10-12 against left 4-5, and a page
 * turned a quarter shows the reverse (up near 0, left large), a page
 * upside down a negative up. */
#define UPRIGHT_MIN_CONF  8.0f
#define UPRIGHT_MIN_RATIO 2.0f

/* OSD's verdict alone is applied at or above this confidence (or the
 * profile's orient_min_confidence, if higher), OCRmyPDF's threshold. On the
 * orientation benchmark (docs/orientation.md) OSD's wrong proposals stayed
 * below 3.6, but on a sparse table page it proposed a half turn at 8.1. */
#define OSD_SURE_CONF 14.0

/* A well-read word: at least this many letters or digits at this word
 * confidence. Upside-down text yields a few such words (about a tenth of
 * the upright count on dense pages), quarter-turned text almost none. */
#define WORD_MIN_CHARS 3
#define WORD_MIN_CONF  85.0f

/* The turn with the most well-read words wins when it has at least
 * READ_RATIO times as many as every other turn (as scanned included) and
 * READ_SURE_WORDS or more, or READ_WEAK_WORDS or more unless OSD proposed
 * another turn at OSD_NOISE_CONF or above. When OSD proposed the same turn
 * at orient_min_confidence or above, READ_MIN_WORDS and READ_AGREE_RATIO
 * times every other turn suffice. A page where no turn has READ_MIN_WORDS
 * has too little text to tell. */
#define READ_RATIO       3
#define READ_AGREE_RATIO 2
#define READ_SURE_WORDS  8
#define READ_WEAK_WORDS  4
#define READ_MIN_WORDS   2

/* OSD's proposals below this confidence neither support nor contradict a
 * reading: right and wrong ones alike start near 0. */
#define OSD_NOISE_CONF 1.0

/* The sample: the smallest square of 4 to 12 tiles a side, a tile being
 * SAMPLE_TILE median character sizes, holding SAMPLE_COMPS character-sized
 * components (about 30 words); fewer than SAMPLE_MIN_COMPS is too little
 * text to read. It is read with characters about SAMPLE_CHAR_PX high. */
#define SAMPLE_COMPS     150
#define SAMPLE_MIN_COMPS 12
#define SAMPLE_TILE      3
#define SAMPLE_MIN_TILES 4
#define SAMPLE_MAX_TILES 12
#define SAMPLE_CHAR_PX   32

/* Initialises the OSD instance once per engine; 0 or PM_EOCR. */
int pm__osd_ready(pm_engine_t *eng)
{
    double t0;

    if (eng->osd != NULL)
        return 0;
    if (eng->osd_failed)
        return PM_EOCR;
    t0 = pm_now_ms();
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
    eng->load_ms += pm__since(t0);
    eng->loads++;
    pm_log(PM_LOG_DEBUG, "orient", "OSD loaded in %.0f ms", pm__since(t0));
    return 0;
}

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

/* Runs OSD on the analysis copy: 1 with *quads and *conf set, 0 when it
 * could not run or found too little text. The script it names, if sure
 * enough, goes to out->script. */
static int osd_verdict(pm_engine_t *eng, const pm_page_image_t *img, int *quads,
                       pm_orient_out_t *out)
{
    pm_osd_t osd;

    if (!pm__osd_detect(eng, img->binary, img->yres, &osd))
        return 0;
    *quads = quads_for(osd.orient_deg);
    out->osd_confidence = osd.orient_conf;
    memcpy(out->script, osd.script, sizeof(out->script));
    out->script_confidence = osd.script_conf;
    return 1;
}

/* ---- the reading sample ---- */

/* Character-sized components of a page, sized by their longer side in
 * pixels (the resolution tag is often wrong): from 5 pixels up to 1/12 of
 * the page's shorter side, not longer than 8 times their width. */
#define CHAR_MIN_PX    5
#define CHAR_MAX_FRAC  12
#define CHAR_MAX_SHAPE 8

/* Counts of character-sized components per square tile. */
typedef struct tile_grid {
    int *count; /* tw * th, row-major */
    int tw, th;
    int tile; /* tile side in pixels */
} tile_grid_t;

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x > y) - (x < y);
}

static int is_char(l_int32 w, l_int32 h, int max_px)
{
    int longer = w > h ? w : h, shorter = w > h ? h : w;

    return longer >= CHAR_MIN_PX && longer <= max_px &&
           longer <= CHAR_MAX_SHAPE * shorter;
}

/* The median size of the character-sized boxes, or 0 when there are fewer
 * than SAMPLE_MIN_COMPS. */
static int median_char(BOXA *boxes, int max_px)
{
    int n = boxaGetCount(boxes), m = 0, med;
    int *size = pm_malloc(((size_t)n + 1) * sizeof(int));

    if (size == NULL)
        return 0;
    for (int i = 0; i < n; i++) {
        l_int32 x, y, w, h;

        boxaGetBoxGeometry(boxes, i, &x, &y, &w, &h);
        if (is_char(w, h, max_px))
            size[m++] = w > h ? w : h;
    }
    qsort(size, (size_t)m, sizeof(int), cmp_int);
    med = m >= SAMPLE_MIN_COMPS ? size[m / 2] : 0;
    pm_free(size);
    return med;
}

/* Fills `g` with the character-sized boxes per tile of `tile` pixels, on a
 * page of w x h. 0 or PM_ENOMEM. */
static int count_chars(BOXA *boxes, int w, int h, int max_px, int tile,
                       tile_grid_t *g)
{
    int n = boxaGetCount(boxes);

    g->tile = tile;
    g->tw = (w + tile - 1) / tile;
    g->th = (h + tile - 1) / tile;
    g->count = pm_calloc((size_t)g->tw * (size_t)g->th, sizeof(int));
    if (g->count == NULL)
        return PM_ENOMEM;
    for (int i = 0; i < n; i++) {
        l_int32 x, y, bw, bh;

        boxaGetBoxGeometry(boxes, i, &x, &y, &bw, &bh);
        if (is_char(bw, bh, max_px))
            g->count[(y + bh / 2) / tile * g->tw + (x + bw / 2) / tile]++;
    }
    return 0;
}

/* The k x k tile window with the most components: its count, and its
 * top-left tile in *bx, *by. */
static int densest_window(const tile_grid_t *g, int k, int *bx, int *by)
{
    int best = -1;

    for (int ty = 0; ty + k <= g->th; ty++)
        for (int tx = 0; tx + k <= g->tw; tx++) {
            int sum = 0;

            for (int j = 0; j < k; j++)
                for (int i = 0; i < k; i++)
                    sum += g->count[(ty + j) * g->tw + tx + i];
            if (sum > best) {
                best = sum;
                *bx = tx;
                *by = ty;
            }
        }
    return best;
}

/* The smallest square window of SAMPLE_MIN_TILES..SAMPLE_MAX_TILES tiles
 * holding SAMPLE_COMPS components, or the densest of the largest; NULL
 * when it holds fewer than SAMPLE_MIN_COMPS. */
static BOX *sample_box(const tile_grid_t *g)
{
    int k = SAMPLE_MIN_TILES, bx = 0, by = 0, n, kmax;

    kmax = g->tw < g->th ? g->tw : g->th;
    if (kmax > SAMPLE_MAX_TILES)
        kmax = SAMPLE_MAX_TILES;
    if (k > kmax)
        k = kmax;
    n = densest_window(g, k, &bx, &by);
    while (n < SAMPLE_COMPS && k < kmax) {
        k = k + 2 < kmax ? k + 2 : kmax;
        n = densest_window(g, k, &bx, &by);
    }
    if (n < SAMPLE_MIN_COMPS)
        return NULL;
    return boxCreate(bx * g->tile, by * g->tile, k * g->tile, k * g->tile);
}

/* `crop` (1 bpp) as 8 bpp gray with characters of about SAMPLE_CHAR_PX:
 * halved when they are twice that or more, doubled when half or less. */
static PIX *sample_gray(PIX *crop, int *size)
{
    PIX *g, *big;

    if (*size >= 2 * SAMPLE_CHAR_PX) {
        *size /= 2;
        return pixScaleToGray2(crop);
    }
    g = pixConvert1To8(NULL, crop, 255, 0);
    if (g == NULL || *size * 2 > SAMPLE_CHAR_PX)
        return g;
    *size *= 2;
    big = pixScaleGray2xLI(g);
    pixDestroy(&g);
    return big;
}

/*
 * The sample to read: the densest square of character-sized components of
 * img->binary, as 8 bpp gray scaled so that characters are about
 * SAMPLE_CHAR_PX high, and the resolution that makes them 10 point type
 * (*sres). *out is NULL when the page has too little text. 0 or
 * PM_ENOMEM.
 */
static int read_sample(const pm_page_image_t *img, PIX **out, int *sres)
{
    tile_grid_t g = {NULL, 0, 0, 0};
    int w = pixGetWidth(img->binary), h = pixGetHeight(img->binary);
    int max_px = (w < h ? w : h) / CHAR_MAX_FRAC, size, err;
    BOXA *boxes = pixConnCompBB(img->binary, 8);
    PIX *crop;
    BOX *box;

    *out = NULL;
    if (boxes == NULL)
        return PM_ENOMEM;
    size = median_char(boxes, max_px);
    err =
        size > 0 ? count_chars(boxes, w, h, max_px, SAMPLE_TILE * size, &g) : 0;
    boxaDestroy(&boxes);
    if (err || size == 0)
        return err;
    box = sample_box(&g);
    pm_free(g.count);
    if (box == NULL)
        return 0;
    crop = pixClipRectangle(img->binary, box, NULL);
    boxDestroy(&box);
    if (crop == NULL)
        return PM_ENOMEM;
    *out = sample_gray(crop, &size);
    pixDestroy(&crop);
    /* A 10 point capital is about a tenth of an inch. */
    *sres = size * 10 < 70 ? 70 : size * 10 > 600 ? 600 : size * 10;
    return *out == NULL ? PM_ENOMEM : 0;
}

/* ---- reading ---- */

/* Letters and digits in a UTF-8 word: ASCII letters and digits and every
 * non-ASCII character (other scripts' letters, accented Latin). */
static int alnum_in(const char *w)
{
    int n = 0;

    for (const unsigned char *c = (const unsigned char *)w; *c; c++)
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
            (*c >= '0' && *c <= '9') || *c >= 0xC0)
            n++;
    return n;
}

/* Well-read words of the last recognition on `api`. */
static int well_read_words(TessBaseAPI *api)
{
    TessResultIterator *it = TessBaseAPIGetIterator(api);
    TessPageIterator *pi;
    int n = 0;

    if (it == NULL)
        return 0;
    pi = TessResultIteratorGetPageIterator(it);
    do {
        char *w = TessResultIteratorGetUTF8Text(it, RIL_WORD);

        if (w == NULL)
            continue;
        if (alnum_in(w) >= WORD_MIN_CHARS &&
            TessResultIteratorConfidence(it, RIL_WORD) >= WORD_MIN_CONF)
            n++;
        TessDeleteText(w);
    } while (TessPageIteratorNext(pi, RIL_WORD));
    TessResultIteratorDelete(it);
    return n;
}

/* Reads `sample` (at `res` dpi) turned 0..3 quarters clockwise with the OCR
 * instance in sparse-text mode; words[q] is the well-read count. 0, or an
 * error with the detail on the engine. */
static int read_turns(pm_engine_t *eng, const pm_profile_t *p, PIX *sample,
                      int res, int words[4])
{
    int err = pm__ocr_ready(eng, p->languages);

    if (err)
        return err;
    TessBaseAPISetPageSegMode(eng->ocr, PSM_SPARSE_TEXT);
    for (int q = 0; q < 4; q++) {
        PIX *turned = pixRotateOrth(sample, q);

        if (turned == NULL)
            return pm__engine_fail(eng, PM_ENOMEM,
                                   "orientation: out of memory");
        TessBaseAPISetImage2(eng->ocr, turned);
        TessBaseAPISetSourceResolution(eng->ocr, res);
        err = TessBaseAPIRecognize(eng->ocr, NULL);
        words[q] = err == 0 ? well_read_words(eng->ocr) : 0;
        TessBaseAPIClear(eng->ocr);
        pixDestroy(&turned);
        if (err)
            return pm__engine_fail(eng, PM_EOCR,
                                   "orientation: recognition failed");
    }
    return 0;
}

/* The turn the reading supports (0: as scanned), or -1 when no turn has
 * enough well-read words to tell. `o` holds the words per turn and OSD's
 * proposal; `min_conf` is orient_min_confidence. */
static int read_decision(const pm_orient_out_t *o, double min_conf)
{
    const int *words = o->read;
    int best = 0, osd = o->osd_rotation >= 0 ? o->osd_rotation / 90 : -1;
    int agree, ratio;

    for (int q = 1; q < 4; q++)
        if (words[q] > words[best])
            best = q;
    if (words[best] < READ_MIN_WORDS)
        return -1;
    agree = osd == best && o->osd_confidence >= min_conf;
    ratio = agree ? READ_AGREE_RATIO : READ_RATIO;
    for (int q = 0; q < 4; q++)
        if (q != best && words[best] < ratio * words[q])
            return 0;
    if (agree || words[best] >= READ_SURE_WORDS)
        return best;
    if (words[best] >= READ_WEAK_WORDS &&
        (osd < 0 || osd == best || o->osd_confidence < OSD_NOISE_CONF))
        return best;
    return 0;
}

/* ---- turning ---- */

static int rotate_orth(PIX **pix, int quads)
{
    PIX *r = pixRotateOrth(*pix, quads);

    if (r == NULL)
        return -1;
    pixDestroy(pix);
    *pix = r;
    return 0;
}

static int turn_page(pm_engine_t *eng, pm_page_image_t *img, int quads)
{
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
    return 0;
}

/* Reads a sample at the four turns: the turn to apply (0 to stay), and the
 * method and evidence in *out. */
static int decide_by_reading(pm_engine_t *eng, const pm_profile_t *p,
                             const pm_page_image_t *img, pm_orient_out_t *out,
                             int *quads)
{
    PIX *sample = NULL;
    int sres = 0, err, q;

    *quads = 0;
    err = read_sample(img, &sample, &sres);
    if (err)
        return pm__engine_fail(eng, err, "orientation: out of memory");
    if (sample == NULL) {
        out->method = PM_ORIENT_LITTLE_TEXT;
        return 0;
    }
    err = read_turns(eng, p, sample, sres, out->read);
    pixDestroy(&sample);
    if (err)
        return err;
    q = read_decision(out, p->orient_min_confidence);
    out->method = q < 0 ? PM_ORIENT_LITTLE_TEXT : PM_ORIENT_READ;
    *quads = q < 0 ? 0 : q;
    return 0;
}

int pm_orient_page(pm_engine_t *eng, const pm_profile_t *p,
                   pm_page_image_t *img, pm_orient_out_t *out)
{
    double sure = OSD_SURE_CONF > p->orient_min_confidence
                      ? OSD_SURE_CONF
                      : p->orient_min_confidence;
    int quads = 0, err;

    memset(out, 0, sizeof(*out));
    out->osd_rotation = -1;
    for (int q = 0; q < 4; q++)
        out->read[q] = -1;
    out->method = PM_ORIENT_OFF;
    if (!p->orient)
        return 0;
    out->method = PM_ORIENT_UPRIGHT;
    if (clearly_upright(img->binary, img->yres))
        return 0;
    out->osd = 1;
    if (osd_verdict(eng, img, &quads, out))
        out->osd_rotation = quads * 90;
    if (out->osd_rotation >= 0 && out->osd_confidence >= sure) {
        out->method = PM_ORIENT_OSD;
    } else {
        err = decide_by_reading(eng, p, img, out, &quads);
        if (err)
            return err;
    }
    if (quads == 0)
        return 0;
    err = turn_page(eng, img, quads);
    if (err)
        return err;
    out->rotation = quads * 90;
    return 0;
}
