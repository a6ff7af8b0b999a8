/*
 * pagework.c: one claimed page between the catalog and a worker
 * (pagework.h), for the coordinator's scheduler and the node agent.
 */
#include "pipeline/pagework.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "config/volume.h"
#include "pipeline/base/pm.h"
#include "pipeline/report.h"

/* A catalog or filesystem error that means "no room" (space.c's rule). */
static int no_room(int err)
{
    return err == -ENOSPC || err == -EDQUOT;
}

char *pm__page_line(pm_catalog_t *cat, const pm_config_t *cfg,
                    const char *spool, const pm_task_t *t, long long id,
                    char *why, size_t size, int *full)
{
    const pm_profile_t *p = NULL;
    pm_page_task_t pt = {0};
    pm_job_t job = {0};
    char *dir, *line = NULL, *local = NULL, vwhy[1024];
    int err, src;

    *full = 0;
    snprintf(why, size, "out of memory");
    /* A claim brings the job's profile; else the job's row says it. */
    if (t->profile == NULL && cat == NULL) {
        snprintf(why, size, "the claim did not bring the job's profile");
        return NULL;
    }
    if (t->profile == NULL && (err = pm_job_get(cat, t->job, &job)) != 0) {
        *full = no_room(err);
        snprintf(why, size, "cannot read the job from the catalog: %s",
                 pm_catalog_errmsg(cat));
        return NULL;
    }
    p = pm_config_profile(cfg, t->profile    ? t->profile
                               : job.profile ? job.profile
                                             : "default");
    dir = pm_asprintf("%s/job-%lld/pages", spool, (long long)t->job);
    src = pm_volume_resolve(cfg, t->src, &local, vwhy, sizeof(vwhy));
    pt.page = t->page;
    pt.src = local;
    pt.frame = t->frame;
    pt.sha256 = t->sha256; /* the worker checks the page is this file */
    pt.out_base = dir ? pm_asprintf("%s/p%05d", dir, t->page) : NULL;
    if (src == PM_ECONFIG) {
        snprintf(why, size, "%s", vwhy);
    } else if (p == NULL) {
        snprintf(why, size, "the job's profile is not in the configuration");
    } else if (pt.out_base != NULL && (err = pm_mkdir_p(dir)) != 0) {
        *full = no_room(err);
        snprintf(why, size, "cannot create the page folder %s: %s", dir,
                 pm_strerror(err));
    } else if (pt.out_base != NULL && local != NULL) {
        line = pm_proto_page_task(id, &pt, p);
    }
    pm_free(local);
    pm_free(pt.out_base);
    pm_free(dir);
    pm_job_cleanup(&job);
    return line;
}

int pm__page_review(pm_catalog_t *cat, const pm_config_t *cfg, int64_t job,
                    pm_page_result_t *r)
{
    pm_job_t j = {0};
    int err;

    if (pm_job_get(cat, job, &j) != 0) {
        pm_free(r->review);
        r->review = NULL;
        return 0;
    }
    err = pm__page_review_as(cfg, j.profile ? j.profile : "default", r);
    pm_job_cleanup(&j);
    return err;
}

int pm__page_review_as(const pm_config_t *cfg, const char *profile,
                       pm_page_result_t *r)
{
    const pm_profile_t *p = pm_config_profile(cfg, profile);
    char why[256];

    pm_free(r->review);
    r->review = NULL;
    if (p == NULL || !pm_review_reason(p, r, why, sizeof(why)))
        return 0;
    r->review = pm_strdup(why);
    return r->review != NULL ? 0 : PM_ENOMEM;
}

void pm__page_metrics(const pm_page_result_t *r, pm_page_metrics_t *m)
{
    memset(m, 0, sizeof(*m));
    m->width = r->width;
    m->height = r->height;
    m->xres = r->xres;
    m->yres = r->yres;
    m->rotation = r->rotation;
    m->orient_confidence = r->orient_confidence;
    m->skew = r->skew;
    m->skew_confidence = r->skew_confidence;
    m->blank = r->blank;
    m->ink_ratio = r->ink_ratio;
    m->words = r->words;
    m->confidence = r->confidence;
    m->kind = pm_kind_name(r->kind);
    m->codec = pm_img_codec_name(r->codec);
    m->bytes = r->bytes;
    m->ms_decode = r->ms.decode;
    m->ms_orient = r->ms.orient;
    m->ms_deskew = r->ms.deskew;
    m->ms_blank = r->ms.blank;
    m->ms_ocr = r->ms.ocr;
    m->orient_osd = r->orient_osd;
    m->dpi_fallback = r->dpi_fallback;
    m->ms_encode = r->ms.encode;
    m->ms_total = r->ms.total;
    m->image = r->image;
    m->text_pdf = r->text_pdf;
    m->text = r->text;
    m->review = r->review;
    m->orient_method = r->orient_method != PM_ORIENT_UNKNOWN
                           ? pm_orient_method_name(r->orient_method)
                           : NULL;
}

int pm__page_done_init(const pm_config_t *cfg, const pm_page_result_t *r,
                       pm__page_done_t *d)
{
    pm__page_metrics(r, &d->m);
    d->m.orient_evidence = d->evidence = pm_orient_evidence_text(r);
    /* The artifacts' paths as the catalog records them (volume.h). */
    d->m.image = d->image = pm_volume_stored(cfg, r->image);
    d->m.text_pdf = d->text_pdf = pm_volume_stored(cfg, r->text_pdf);
    d->m.text = d->text = pm_volume_stored(cfg, r->text);
    if ((r->image && !d->image) || (r->text_pdf && !d->text_pdf) ||
        (r->text && !d->text)) {
        pm__page_done_cleanup(d);
        return PM_ENOMEM;
    }
    return 0;
}

void pm__page_done_cleanup(pm__page_done_t *d)
{
    pm_free(d->image);
    pm_free(d->text_pdf);
    pm_free(d->text);
    pm_free(d->evidence);
    memset(d, 0, sizeof(*d));
}

int pm__page_complete(pm_catalog_t *cat, const pm_config_t *cfg, int64_t task,
                      int attempt, int64_t job, pm_page_result_t *r,
                      int64_t now, double *ms)
{
    pm__page_done_t d;
    uint64_t t0;
    int err;

    pm__page_review(cat, cfg, job, r);
    err = pm__page_done_init(cfg, r, &d);
    t0 = uv_hrtime();
    if (err == 0)
        err = pm_task_complete(cat, task, attempt, &d.m, now);
    if (ms != NULL)
        *ms = (double)(uv_hrtime() - t0) / 1e6;
    pm__page_done_cleanup(&d);
    return err;
}

void pm__page_log_done(const char *module, int64_t job, int page, int attempt,
                       const pm_page_result_t *r)
{
    char engine[96] = "";

    if (r->ms.engine > 0)
        snprintf(engine, sizeof(engine), " (engine start %.0f ms)",
                 r->ms.engine);
    if (r->ms.alto > 0) /* the page's ALTO, in its OCR time */
        snprintf(engine + strlen(engine), sizeof(engine) - strlen(engine),
                 " (ALTO %.1f ms)", r->ms.alto);
    pm_log(r->review ? PM_LOG_WARN : PM_LOG_INFO, module,
           "job=%lld page=%d done (attempt %d): %d words, %s%.0f ms%s%s%s",
           (long long)job, page, attempt, r->words, r->blank ? "blank, " : "",
           r->ms.total, engine, r->review ? "; flagged for review: " : "",
           r->review ? r->review : "");
}

double pm__host_load1(void)
{
    double l[1];

    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

const char *pm__page_failure(const pm_proto_msg_t *m, const char *why,
                             int *permanent)
{
    int result = m != NULL && m->type == PM_MSG_PAGE_RESULT;

    assert(!result || !m->result.ok);
    *permanent = result && m->result.permanent;
    return m == NULL         ? why
           : !result         ? "unexpected reply"
           : m->result.error ? m->result.error
                             : "failed";
}

int pm__worker_rows_equal(const pm_worker_info_t *a, const pm_worker_info_t *b,
                          size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].slot != b[i].slot || a[i].pid != b[i].pid ||
            a[i].state != b[i].state || a[i].job != b[i].job ||
            a[i].page != b[i].page)
            return 0;
    return 1;
}
