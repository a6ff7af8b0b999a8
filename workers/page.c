/*
 * page.c: one page through every stage (pm_process_page), timing each.
 * Artifacts go next to t->out_base: the encoded image, the text-only PDF
 * and the text. A failure anywhere leaves r->ok = 0 and an error that names
 * the file, the frame and the fault; the engine stays usable.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <leptonica/allheaders.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"

/* Fills r->error as "<src> frame N: <stage>: <detail>" unless the detail
 * already names the file (decode errors do), and marks a failure of the
 * file itself permanent. */
static int page_fail(pm_engine_t *eng, pm_page_result_t *r, int err)
{
    const char *msg = pm_engine_errmsg(eng);

    r->ok = 0;
    r->permanent = err == PM_ECORRUPT || err == PM_EUNSUPP ||
                   err == PM_ETOOBIG || err == PM_ECHANGED;
    pm_free(r->error);
    if (strncmp(msg, r->src, strlen(r->src)) == 0)
        r->error = pm_strdup(msg);
    else
        r->error = pm_asprintf("%s frame %d: %s", r->src, r->frame + 1,
                               msg[0] ? msg : pm_strerror(err));
    return err;
}

static int write_text(pm_engine_t *eng, const char *base, const char *text,
                      char **path)
{
    int err;

    *path = pm_asprintf("%s.txt", base);
    if (*path == NULL)
        return PM_ENOMEM;
    err = pm_write_file_atomic(*path, text, strlen(text));
    if (err)
        return pm__engine_fail(eng, err, "cannot write %s: %s", *path,
                               pm_strerror(err));
    return 0;
}

/* The orientation stage, its decision and evidence into the result. */
static int orient(pm_engine_t *eng, const pm_profile_t *p, pm_page_image_t *img,
                  pm_page_result_t *r)
{
    pm_orient_out_t o;
    int err = pm_orient_page(eng, p, img, &o);

    r->rotation = o.rotation;
    r->orient_confidence = o.osd_confidence;
    r->orient_osd = o.osd;
    r->orient_method = o.method;
    r->orient_osd_rotation = o.osd_rotation;
    memcpy(r->orient_read, o.read, sizeof(r->orient_read));
    if (o.script[0] != '\0') {
        r->script = pm_strdup(o.script);
        r->script_confidence = o.script_confidence;
        if (r->script == NULL && !err)
            err = PM_ENOMEM;
    }
    return err;
}

/* Milliseconds since `t0` less Tesseract's loading since the engine's
 * load_ms was `loaded`, which goes to r->ms.engine instead. */
static double stage_ms(const pm_engine_t *eng, double t0, double loaded,
                       pm_page_result_t *r)
{
    double load = eng->load_ms - loaded;

    r->ms.engine += load;
    return pm__since(t0) - load;
}

/* OSD is asked for the script of a page the fast check settled only when
 * the reading gives reason to doubt it: fewer than SCRIPT_ASK_WORDS words,
 * a mean word confidence below SCRIPT_ASK_CONF, or more than one word in
 * SCRIPT_ASK_DOUBTFUL below PM_OCR_DOUBTFUL_CONF. Measured with `eng` on
 * the benchmark batch and the shared data's other scripts (docs/
 * resolution.md): Latin pages 60-976 words at 80-96 with at most 12%
 * doubtful; the Hebrew and Devanagari pages 28 and 41 with 84% and 61%. */
#define SCRIPT_ASK_WORDS    20
#define SCRIPT_ASK_CONF     70.0
#define SCRIPT_ASK_DOUBTFUL 4

static int reading_in_doubt(const pm_ocr_out_t *ocr)
{
    return ocr->words < SCRIPT_ASK_WORDS || ocr->confidence < SCRIPT_ASK_CONF ||
           ocr->doubtful * SCRIPT_ASK_DOUBTFUL > ocr->words;
}

/* The script of a page OCR read, when orientation did not ask OSD (the
 * fast check settled it) and the reading is in doubt: the coordinator
 * holds pages in a script the profile's languages do not read for review
 * (pm_review_reason). A page the profile's languages plainly read is in
 * a script they read; its script stays unnamed (NULL) and OSD's 0.3-1.3 s
 * is saved. */
static int page_script(pm_engine_t *eng, const pm_page_image_t *img,
                       const pm_ocr_out_t *ocr, pm_page_result_t *r)
{
    pm_osd_t osd;

    if (r->orient_osd) /* OSD ran: its script, if sure, is in r */
        return 0;
    if (!reading_in_doubt(ocr)) {
        pm_log(PM_LOG_DEBUG, "script",
               "%s: %d words at %.0f, %d doubtful: no OSD for the script",
               r->src, ocr->words, ocr->confidence, ocr->doubtful);
        return 0;
    }
    if (!pm__osd_detect(eng, img->binary, img->yres, &osd) ||
        osd.script[0] == '\0')
        return 0;
    r->script = pm_strdup(osd.script);
    r->script_confidence = osd.script_conf;
    return r->script != NULL ? 0 : PM_ENOMEM;
}

static int run_stages(pm_engine_t *eng, const pm_profile_t *p,
                      const pm_page_task_t *t, pm_page_result_t *r,
                      pm_page_image_t *img)
{
    pm_ocr_out_t ocr = {0, 0, 0, NULL, 0};
    PIX *pix = NULL;
    double t0, loaded;
    int err;

    t0 = pm_now_ms();
    err = pm_load_page(eng, t->src, t->frame, p, &pix, &r->dpi_fallback);
    if (!err)
        err = pm_normalize(eng, pix, p, img);
    r->ms.decode = pm__since(t0);
    if (err)
        return err;

    t0 = pm_now_ms();
    loaded = eng->load_ms;
    err = orient(eng, p, img, r);
    r->ms.orient = stage_ms(eng, t0, loaded, r);
    if (err)
        return err;

    t0 = pm_now_ms();
    err = pm_deskew_page(eng, p, img, &r->skew, &r->skew_confidence);
    r->ms.deskew = pm__since(t0);
    if (err)
        return err;

    t0 = pm_now_ms();
    err = pm_blank_check(eng, p, img->binary, img->yres, &r->blank,
                         &r->ink_ratio);
    r->ms.blank = pm__since(t0);
    if (err)
        return err;

    /* A blank page has no words to find; it still gets a text layer. */
    t0 = pm_now_ms();
    loaded = eng->load_ms;
    /* The ALTO only for the service's tasks (they carry a digest), whose
     * bag publishes it; convert publishes none. */
    if (p->ocr && !r->blank) {
        err = pm_ocr_page(eng, p, img->pix, img->content, img->xres, img->yres,
                          t->out_base, t->sha256 != NULL, &ocr);
        if (!err)
            err = page_script(eng, img, &ocr, r);
        if (!err) {
            r->words = ocr.words;
            r->confidence = ocr.confidence;
            r->ms.alto = ocr.alto_ms;
            r->text_pdf = pm_asprintf("%s.pdf", t->out_base);
            err = r->text_pdf == NULL ? PM_ENOMEM : 0;
        }
    }
    if (!err)
        err = write_text(eng, t->out_base, ocr.text ? ocr.text : "", &r->text);
    pm_free(ocr.text);
    r->ms.ocr = stage_ms(eng, t0, loaded, r);
    if (err)
        return err;

    /* A JPEG scan that stays as scanned is embedded as it came: no
     * generation loss, and smaller than encoding it again. */
    t0 = pm_now_ms();
    if (r->rotation == 0 && r->skew == 0 && eng->pdf_jpeg != NULL)
        err = pm_encode_keep_jpeg_mem(eng, p, img, eng->pdf_jpeg,
                                      eng->pdf_jpeg_len, t->out_base, &r->image,
                                      &r->bytes);
    else if (r->rotation == 0 && r->skew == 0 && t->frame == 0)
        err = pm_encode_keep_jpeg(eng, p, img, t->src, t->out_base, &r->image,
                                  &r->bytes);
    if (!err && r->image != NULL)
        r->codec = PM_IMG_JPEG;
    else if (!err)
        err = pm_encode_page(eng, p, img, t->out_base, &r->image, &r->codec,
                             &r->bytes);
    r->ms.encode = pm__since(t0);
    return err;
}

/* run_stages() on the content intake hashed, when the task carries its
 * SHA-256: the page is read once, checked, and decoded from memory. */
static int verified_stages(pm_engine_t *eng, const pm_profile_t *p,
                           const pm_page_task_t *t, pm_page_result_t *r,
                           pm_page_image_t *img)
{
    double t0, ms;
    int mem, err;

    if (t->sha256 == NULL || t->sha256[0] == '\0')
        return run_stages(eng, p, t, r, img); /* convert: no record */
    t0 = pm_now_ms();
    err = pm__page_verify(eng, t->src, t->sha256, &mem);
    ms = pm__since(t0);
    pm_log(PM_LOG_DEBUG, "worker", "page %d: read and SHA-256 in %.1f ms",
           t->page, ms);
    if (err)
        return err;
    pm__load_pin(t->src, mem);
    err = run_stages(eng, p, t, r, img);
    pm__load_pin(NULL, -1);
    close(mem);
    r->ms.decode += ms; /* reading the page is part of decoding it */
    return err;
}

/* A worker killed while it wrote this page's artifacts (an attempt
 * before this one) left their temp files: nothing else removes them. */
static void sweep_artifacts(const char *base)
{
    int n = pm_tmp_sweep(base);

    if (n > 0)
        pm_log(PM_LOG_INFO, "worker",
               "%s: removed %d temp file(s) an earlier attempt left", base, n);
    else if (n < 0)
        pm_log(PM_LOG_WARN, "worker",
               "%s: cannot remove the temp files an earlier attempt left: %s",
               base, pm_strerror(n));
}

int pm_process_page(pm_engine_t *eng, const pm_profile_t *p,
                    const pm_page_task_t *t, pm_page_result_t *r)
{
    pm_page_image_t img;
    double t0 = pm_now_ms();
    int err;

    memset(r, 0, sizeof(*r));
    memset(&img, 0, sizeof(img));
    eng->errmsg[0] = '\0';
    r->page = t->page;
    r->frame = t->frame;
    r->src = pm_strdup(t->src);
    if (r->src == NULL)
        return PM_ENOMEM;
    sweep_artifacts(t->out_base);
    err = verified_stages(eng, p, t, r, &img);
    if (img.pix != NULL) {
        r->kind = img.kind;
        r->width = pixGetWidth(img.pix);
        r->height = pixGetHeight(img.pix);
        r->xres = img.xres;
        r->yres = img.yres;
    }
    pm_page_image_cleanup(&img);
    pm__pdf_forget(eng);
    r->ms.total = pm__since(t0);
    if (err)
        return page_fail(eng, r, err);
    r->ok = 1;
    return 0;
}
