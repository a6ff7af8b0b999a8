/*
 * http_api.c: the routes of the web interface (docs/api.md has every
 * field) that read: /healthz, /readyz, /api/v1/status, /api/v1/jobs,
 * /api/v1/jobs/N, /api/v1/breakdown, /api/v1/throughput and
 * /api/v1/billing/report (the routes that act are in http_actions.c, the
 * table of routes in http_route.c). Every input is checked before it is
 * used: path ids and query arguments that are not what a route takes get
 * 400 and a message; values reach SQL only as bound values.
 * JSON is written with jansson, nowhere by hand. Paths the catalog
 * records on a volume ("NAME:rel") are shown under this machine's folder
 * for the volume (the volumes of the configuration at start), or as
 * recorded where it has no such volume; `output_path_stored` is always
 * the recorded form.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/billing.h"
#include "catalog/render/render.h"
#include "config/volume.h"
#include "pipeline/base/pm.h"
#include "pipeline/http_int.h"
#include "pipeline/json_view.h"
#include "pipeline/waiting.h"

/* Default and largest page of /api/v1/jobs. */
#define JOBS_LIMIT_DEFAULT 50
#define JOBS_LIMIT_MAX     500

/* Items of the lists in /api/v1/status. */
#define STATUS_LIST_MAX 20

/* Worker rows older than this belong to a coordinator that is gone. */
#define WORKERS_STALE_S 30

/* A page read below this confidence is flagged for review. */
#define LOW_CONFIDENCE 50.0

/* Most minutes /api/v1/throughput covers (a day). */
#define THROUGHPUT_MAX 1440

/* ---- JSON values ---- */

static json_t *jid(int64_t id)
{
    return id ? json_integer(id) : json_null();
}

/* Billable pages of a job: done pages, less blank ones unless it bills
 * them; 0 until the job is done. */
static int64_t job_billable(const pm_job_t *j)
{
    if (j->state != PM_JOB_DONE)
        return 0;
    return j->pages_done - (j->bill_blank ? 0 : j->pages_blank);
}

/* A recorded path as this machine reaches it (or as recorded). */
static json_t *jpath(const pm_config_t *cfg, const char *stored)
{
    int local;
    char *shown = pm_volume_shown(cfg, stored, &local);
    json_t *v = stored != NULL && shown == NULL ? NULL : pm_json_str(shown);

    pm_free(shown);
    return v;
}

static json_t *job_json(const pm_config_t *cfg, const pm_job_t *j)
{
    return json_pack(
        "{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:i, s:i, s:i, s:I, "
        "s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
        "id", (json_int_t)j->id, "state", pm_job_state_name(j->state),
        "work_order", pm_json_str(j->workorder), "account",
        pm_json_str(j->account), "hot_folder", pm_json_str(j->hotfolder),
        "profile", pm_json_str(j->profile), "batch", pm_json_str(j->batch),
        "operator", pm_json_str(j->operator_name), "pages", j->pages,
        "pages_done", j->pages_done, "pages_failed", j->pages_failed,
        "pages_blank", j->pages_blank, "billable_pages",
        (json_int_t)job_billable(j), "billing_month",
        j->billing_month[0] ? json_string(j->billing_month) : json_null(),
        "hold_reason", pm_json_str(j->hold_reason), "error",
        pm_json_str(j->error), "duplicate_of", jid(j->duplicate_of),
        "output_path", jpath(cfg, j->output_path), "output_path_stored",
        pm_json_str(j->output_path), "created_at", pm_json_time(j->created_at),
        "updated_at", pm_json_time(j->updated_at), "finished_at",
        pm_json_time(j->finished_at));
}

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;

    return slash ? slash + 1 : path;
}

static json_t *stage_times(const pm_page_metrics_t *m)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "decode",
                     m->ms_decode, "orient", m->ms_orient, "deskew",
                     m->ms_deskew, "blank", m->ms_blank, "ocr", m->ms_ocr,
                     "encode", m->ms_encode, "total", m->ms_total);
}

/* The input file's name: of its path here, or of the recorded one
 * without its volume's name. */
static json_t *source_name(const pm_config_t *cfg, const char *stored)
{
    int local;
    char *shown = pm_volume_shown(cfg, stored, &local);
    const char *name = base_name(shown);
    json_t *v;

    if (stored != NULL && shown == NULL)
        return NULL;
    if (!local && strchr(name, ':') != NULL)
        name = strchr(name, ':') + 1; /* NAME:file at the volume's top */
    v = pm_json_str(name);
    pm_free(shown);
    return v;
}

static json_t *page_json(const pm_config_t *cfg, const pm_task_t *t)
{
    int done = t->state == PM_TASK_DONE;
    const pm_page_metrics_t *m = &t->m;
    json_t *o =
        json_pack("{s:i, s:s, s:o, s:i, s:i, s:o}", "page", t->page, "state",
                  pm_task_state_name(t->state), "source",
                  source_name(cfg, t->src), "frame", t->frame, "attempts",
                  t->attempts, "error", pm_json_str(t->error));

    if (o == NULL || !done)
        return o;
    if (json_object_update_new(
            o, json_pack("{s:i, s:f, s:b, s:f, s:i, s:b, s:o, s:o, s:I, "
                         "s:o, s:o}",
                         "rotation", m->rotation, "skew", m->skew, "blank",
                         m->blank, "confidence", m->confidence, "words",
                         m->words, "low_confidence",
                         !m->blank && m->confidence < LOW_CONFIDENCE, "kind",
                         pm_json_str(t->kind), "codec", pm_json_str(t->codec),
                         "bytes", (json_int_t)m->bytes, "ms", stage_times(m),
                         "finished_at", pm_json_time(t->finished_at))) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- arguments ---- */

/* A decimal in lo..hi: 0, or -1. */
int pm__http_parse_num(const char *s, long long lo, long long hi,
                       long long *out)
{
    char *end;
    long long v;

    if (s == NULL || *s < '0' || *s > '9' || strlen(s) > 18)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* An optional numeric argument: 0 (and *out, or `def` when absent), or
 * -1 with the response set to 400. */
static int num_arg(pm__http_req_t *q, pm__http_resp_t *r, const char *name,
                   long long lo, long long hi, long long def, long long *out)
{
    const char *v = pm__http_arg(q, name);

    *out = def;
    if (v == NULL)
        return 0;
    if (pm__http_parse_num(v, lo, hi, out) == 0)
        return 0;
    pm__http_error(r, MHD_HTTP_BAD_REQUEST, "%s: expected a number %lld..%lld",
                   name, lo, hi);
    return -1;
}

/* ---- /healthz, /readyz ---- */

void pm__http_healthz(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    (void)q;
    (void)id;
    pm__http_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

static json_t *check(int ok, const char *detail)
{
    return json_pack("{s:b, s:s}", "ok", ok, "detail", detail);
}

void pm__http_readyz(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    pm__http_t *h = q->h;
    pm__http_snap_t snap;
    int64_t free_b = pm__http_free_bytes(h->output);
    int cat_ok, wk_ok, out_ok, run_ok;
    char out_detail[160], wk_detail[80];

    (void)id;
    pm__http_snap(h, &snap);
    cat_ok = snap.started && !snap.catalog_failing &&
             (pm_catalog_is_url(h->catalog_path) ||
              access(h->catalog_path, W_OK) == 0);
    wk_ok = snap.workers_ready > 0;
    out_ok = access(h->output, W_OK) == 0 && free_b >= h->min_free_bytes;
    run_ok = !snap.draining && !snap.paused;
    snprintf(wk_detail, sizeof(wk_detail), "%d of %d worker(s) ready",
             snap.workers_ready, snap.workers);
    snprintf(out_detail, sizeof(out_detail), "%lld MiB free, %lld MiB needed%s",
             (long long)(free_b >> 20), (long long)(h->min_free_bytes >> 20),
             access(h->output, W_OK) == 0 ? "" : "; not writable");
    pm__http_json(
        r,
        cat_ok && wk_ok && out_ok && run_ok ? MHD_HTTP_OK
                                            : MHD_HTTP_SERVICE_UNAVAILABLE,
        json_pack("{s:b, s:{s:o, s:o, s:o, s:o}}", "ready",
                  cat_ok && wk_ok && out_ok && run_ok, "checks", "catalog",
                  check(cat_ok, cat_ok ? "writable" : "not writable"),
                  "workers", check(wk_ok, wk_detail), "output_space",
                  check(out_ok, out_detail), "service",
                  check(run_ok, snap.draining ? "stopping"
                                : snap.paused ? "paused: a volume is full"
                                              : "running")));
}

/* ---- /api/v1/status ---- */

static json_t *jobs_list(const pm_config_t *cfg, pm_catalog_t *cat, int state,
                         int *err)
{
    pm_job_t *v = NULL;
    size_t n = 0;
    int64_t total = 0;
    json_t *a;

    *err = pm_monitor_jobs(cat, state, STATUS_LIST_MAX, 0, &v, &n, &total);
    a = *err == 0 ? json_array() : NULL;
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, job_json(cfg, &v[i]));
    pm_job_list_free(v, n);
    return a;
}

static json_t *rejections(pm_catalog_t *cat, int *err)
{
    pm_event_t *v = NULL;
    size_t n = 0;
    json_t *a;

    *err = pm_monitor_rejections(cat, STATUS_LIST_MAX, &v, &n);
    a = *err == 0 ? json_array() : NULL;
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_pack("{s:o, s:s, s:o}", "at",
                                           pm_json_time(v[i].at), "reason",
                                           pm_rejection_reason(v[i].detail),
                                           "detail", pm_json_str(v[i].detail)));
    pm_event_list_free(v, n);
    return a;
}

static json_t *workers(pm_catalog_t *cat, int64_t now, int *err)
{
    pm_worker_info_t *v = NULL;
    size_t n = 0;
    json_t *a;

    *err = pm_worker_list(cat, &v, &n);
    a = *err == 0 ? json_array() : NULL;
    for (size_t i = 0; a != NULL && i < n; i++) {
        if (v[i].updated_at < now - WORKERS_STALE_S)
            continue;
        json_array_append_new(
            a, json_pack("{s:i, s:i, s:s, s:o, s:o, s:o}", "slot", v[i].slot,
                         "pid", v[i].pid, "state",
                         pm_worker_state_name(v[i].state), "job", jid(v[i].job),
                         "page", jid(v[i].page), "started_at",
                         pm_json_time(v[i].started_at)));
    }
    pm_worker_list_free(v, n);
    return a;
}

/* Each coordinator and agent (pm_node_list), stale and gone ones marked. */
static json_t *nodes(pm_catalog_t *cat, int64_t now, int *err)
{
    pm_node_info_t *v = NULL;
    size_t n = 0;
    json_t *a;

    *err = pm_node_list(cat, now, &v, &n);
    a = *err == 0 ? json_array() : NULL;
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, pm_json_node(&v[i], now));
    pm_node_list_free(v, n);
    return a;
}

/* Batches in the hot folders without their marker (a directory listing,
 * outside the catalog). */
static json_t *waiting(pm__http_t *h, int64_t now)
{
    pm_waiting_t *v = NULL;
    size_t n = 0;
    json_t *a = NULL;

    if (pm_waiting_scan(h->hf_cfg, &v, &n) == 0)
        a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(
            a, json_pack(
                   "{s:o, s:o, s:o, s:I}", "hot_folder",
                   pm_json_str(v[i].hotfolder), "batch", pm_json_str(v[i].name),
                   "since", pm_json_time(v[i].since), "waiting_s",
                   (json_int_t)(now > v[i].since ? now - v[i].since : 0)));
    pm_waiting_free(v, n);
    return a ? a : json_array();
}

static json_t *jobs_by_state(const pm_monitor_t *m)
{
    json_t *o = json_object();

    for (int s = PM_JOB_RECEIVED; o != NULL && s <= PM_JOB_CANCELLED; s++)
        json_object_set_new(o, pm_job_state_name((pm_job_state_t)s),
                            json_integer(m->jobs[s]));
    return o;
}

/* Most jobs with flagged pages /api/v1/status lists. */
#define REVIEW_MAX 50

/* Jobs with pages flagged for review, oldest first, at most REVIEW_MAX. */
static json_t *review_jobs(pm_catalog_t *cat, int *err)
{
    pm_review_job_t *v = NULL;
    size_t n = 0;
    json_t *a;

    *err = pm_review_jobs(cat, &v, &n);
    if (*err != 0)
        return NULL;
    a = json_array();
    for (size_t i = 0; a != NULL && i < n && i < REVIEW_MAX; i++)
        json_array_append_new(
            a, json_pack("{s:I, s:o, s:o, s:s, s:i, s:o}", "id",
                         (json_int_t)v[i].job, "work_order",
                         pm_json_str(v[i].workorder), "account",
                         pm_json_str(v[i].account), "state",
                         pm_job_state_name(v[i].state), "pages", v[i].pages,
                         "reasons", pm_json_str(v[i].reasons)));
    pm_review_job_list_free(v, n);
    return a;
}

/* /api/v1/status afresh: one hold of the read connection, counts only
 * (no pass over the stage times). */
static void status_build(pm__http_req_t *q, pm__http_resp_t *r)
{
    int64_t now = (int64_t)time(NULL);
    pm_catalog_t *cat = pm__http_rd_lock(q->h);
    pm__http_snap_t snap;
    pm_status_t st;
    pm_monitor_t m;
    json_t *failed = NULL, *held = NULL, *rej = NULL, *wk = NULL, *rv = NULL;
    json_t *nd = NULL, *doc;
    int err;

    pm__http_snap(q->h, &snap);
    err = pm_catalog_status(cat, now, &st);
    if (err == 0)
        err = pm_monitor_counts(cat, &m);
    if (err == 0)
        failed = jobs_list(q->h->hf_cfg, cat, PM_JOB_FAILED, &err);
    if (err == 0)
        held = jobs_list(q->h->hf_cfg, cat, PM_JOB_HELD, &err);
    if (err == 0)
        rej = rejections(cat, &err);
    if (err == 0)
        wk = workers(cat, now, &err);
    if (err == 0)
        rv = review_jobs(cat, &err);
    if (err == 0)
        nd = nodes(cat, now, &err);
    pm__http_rd_unlock(q->h);
    if (err != 0) {
        json_decref(nd);
        json_decref(rv);
        json_decref(failed);
        json_decref(held);
        json_decref(rej);
        json_decref(wk);
        pm__http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "the catalog cannot be read");
        return;
    }
    doc = json_pack(
        "{s:o, s:{s:b, s:b, s:I}, s:{s:I, s:I, s:o}, s:o, s:{s:I, s:I, "
        "s:I}, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}",
        "now", pm_json_time(now), "service", "draining", snap.draining,
        "paused_for_space", snap.paused, "worker_restarts",
        (json_int_t)snap.worker_restarts, "queue", "pages_queued",
        (json_int_t)st.queued_pages, "pages_running",
        (json_int_t)st.running_pages, "oldest_queued_age_s",
        m.queue_oldest_at ? json_integer(now - m.queue_oldest_at) : json_null(),
        "jobs", jobs_by_state(&m), "pages_finished", "last_5min",
        (json_int_t)st.pages_last_5min, "last_60min",
        (json_int_t)st.pages_last_60min, "per_hour_now",
        (json_int_t)(st.pages_last_5min * 12), "billable_pages",
        (json_int_t)m.billable_pages, "low_confidence_pages",
        (json_int_t)m.low_confidence, "workers", wk, "failed_jobs", failed,
        "held_jobs", held, "rejected_batches", rej, "waiting_batches",
        waiting(q->h, now), "review_jobs", rv);
    if (doc == NULL) {
        json_decref(nd);
    } else if (json_object_set_new(doc, "nodes", nd) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    pm__http_json(r, MHD_HTTP_OK, doc);
}

/* /api/v1/status: the answer built at most PM__HTTP_CACHE_MS ago (counted
 * from when its read began), else a new one, built here by the first
 * request to find it old while the others wait for it. */
void pm__http_status(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    pm__http_t *h = q->h;
    uint64_t began;

    (void)id;
    pthread_mutex_lock(&h->status_lock);
    began = pm__http_now_ms(); /* after any wait for another's build */
    if (h->status_body == NULL || began - h->status_ms >= PM__HTTP_CACHE_MS) {
        pm__http_resp_t fresh = {0};

        status_build(q, &fresh);
        if (fresh.status != MHD_HTTP_OK) {
            pthread_mutex_unlock(&h->status_lock);
            *r = fresh; /* an error is not kept */
            return;
        }
        pm_free(h->status_body);
        h->status_body = fresh.body;
        h->status_len = fresh.len;
        h->status_ms = began;
    }
    r->body = pm_malloc(h->status_len + 1);
    if (r->body != NULL) {
        memcpy(r->body, h->status_body, h->status_len + 1);
        r->len = h->status_len;
    }
    pthread_mutex_unlock(&h->status_lock);
    if (r->body == NULL) {
        pm__http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    r->status = MHD_HTTP_OK;
    r->type = "application/json";
}

/* ---- /api/v1/jobs ---- */

void pm__http_jobs(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    const char *state_arg = pm__http_arg(q, "state");
    long long limit, offset;
    int state = -1, err;
    pm_job_t *v = NULL;
    size_t n = 0;
    int64_t total = 0;
    json_t *a;

    (void)id;
    if (state_arg != NULL && (state = pm_job_state_parse(state_arg)) < 0) {
        pm__http_error(r, MHD_HTTP_BAD_REQUEST,
                       "state: expected received, queued, running, "
                       "assembling, done, held, failed or cancelled");
        return;
    }
    if (num_arg(q, r, "limit", 1, JOBS_LIMIT_MAX, JOBS_LIMIT_DEFAULT, &limit) ||
        num_arg(q, r, "offset", 0, 1000000000LL, 0, &offset))
        return;
    err = pm_monitor_jobs(pm__http_rd_lock(q->h), state, (size_t)limit,
                          (size_t)offset, &v, &n, &total);
    pm__http_rd_unlock(q->h);
    if (err != 0) {
        pm__http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "the catalog cannot be read");
        return;
    }
    a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, job_json(q->h->hf_cfg, &v[i]));
    pm_job_list_free(v, n);
    pm__http_json(r, MHD_HTTP_OK,
                  json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)total,
                            "limit", (json_int_t)limit, "offset",
                            (json_int_t)offset, "jobs", a));
}

static json_t *job_detail(const pm_config_t *cfg, pm_catalog_t *cat, int64_t id,
                          int *err)
{
    pm_job_t j = {0};
    pm_task_t *t = NULL;
    size_t n = 0;
    json_t *doc = NULL, *pages;

    *err = pm_job_get(cat, id, &j);
    if (*err == 0)
        *err = pm_task_list(cat, id, &t, &n);
    if (*err == 0) {
        pages = json_array();
        for (size_t i = 0; pages != NULL && i < n; i++)
            json_array_append_new(pages, page_json(cfg, &t[i]));
        doc = json_pack("{s:o, s:o}", "job", job_json(cfg, &j), "pages", pages);
    }
    pm_task_list_free(t, n);
    pm_job_cleanup(&j);
    return doc;
}

void pm__http_job(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    int err;
    json_t *doc = job_detail(q->h->hf_cfg, pm__http_rd_lock(q->h), id, &err);

    pm__http_rd_unlock(q->h);
    if (err == PM_ENOENT)
        pm__http_error(r, MHD_HTTP_NOT_FOUND, "no job %lld", (long long)id);
    else if (err != 0)
        pm__http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "the catalog cannot be read");
    else
        pm__http_json(r, MHD_HTTP_OK, doc);
}

/* ---- /api/v1/breakdown ---- */

/* Most hours /api/v1/breakdown covers (a week). */
#define BREAKDOWN_HOURS_MAX (7 * 24)

static json_t *counts_json(const pm_monitor_count_t *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:I}", "name", v[i].name,
                                           "pages", (json_int_t)v[i].pages));
    return a;
}

void pm__http_breakdown(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    static const char *const keys[PM_BY_COUNT] = {"hot_folders", "accounts",
                                                  "operators"};
    int64_t now = (int64_t)time(NULL), since;
    pm_catalog_t *cat;
    long long hours;
    json_t *doc;
    int err = 0;

    (void)id;
    if (num_arg(q, r, "hours", 1, BREAKDOWN_HOURS_MAX, 1, &hours))
        return;
    since = now - (int64_t)hours * 3600;
    doc = json_pack("{s:I, s:o}", "hours", (json_int_t)hours, "since",
                    pm_json_time(since));
    cat = pm__http_rd_lock(q->h);
    for (int by = 0; err == 0 && by < PM_BY_COUNT; by++) {
        pm_monitor_count_t *v = NULL;
        size_t n = 0;

        err = pm_monitor_breakdown(cat, (pm_monitor_by_t)by, since, &v, &n);
        if (err == 0 && doc != NULL)
            json_object_set_new(doc, keys[by], counts_json(v, n));
        pm_monitor_count_list_free(v, n);
    }
    pm__http_rd_unlock(q->h);
    if (err != 0) {
        json_decref(doc);
        pm__http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "the catalog cannot be read");
        return;
    }
    pm__http_json(r, MHD_HTTP_OK, doc);
}

/* ---- /api/v1/billing/report ---- */

/* from/to from month=, or from= and to=; 0, or -1 with a 400. */
static int report_months(pm__http_req_t *q, pm__http_resp_t *r,
                         const char **from, const char **to)
{
    const char *month = pm__http_arg(q, "month");

    *from = pm__http_arg(q, "from");
    *to = pm__http_arg(q, "to");
    if (month != NULL && *from == NULL && *to == NULL)
        *from = *to = month;
    if (*from == NULL || *to == NULL || (month != NULL && *from != month)) {
        pm__http_error(r, MHD_HTTP_BAD_REQUEST,
                       "give month=YYYY-MM, or from=YYYY-MM and to=YYYY-MM");
        return -1;
    }
    if (pm_month_valid(*from) != 0 || pm_month_valid(*to) != 0 ||
        strcmp(*from, *to) > 0) {
        pm__http_error(r, MHD_HTTP_BAD_REQUEST,
                       "months are YYYY-MM, from no later than to");
        return -1;
    }
    return 0;
}

static int ident_arg(pm__http_req_t *q, pm__http_resp_t *r, const char *name,
                     pm_ident_kind_t kind, const char **out)
{
    char why[256];

    *out = pm__http_arg(q, name);
    if (*out == NULL || pm_ident_check(kind, *out, why, sizeof(why)) == 0)
        return 0;
    pm__http_error(r, MHD_HTTP_BAD_REQUEST, "%s: %s", name, why);
    return -1;
}

void pm__http_billing_report(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    const char *from, *to, *account, *wo, *fmt_arg = pm__http_arg(q, "format");
    int fmt = fmt_arg ? pm_bill_format_parse(fmt_arg) : PM_BILL_JSON;
    pm_billing_period_t *periods = NULL;
    pm_billing_line_t *lines = NULL;
    size_t np = 0, nl = 0, len = 0;
    char *text = NULL;
    int err;

    (void)id;
    if (fmt != PM_BILL_JSON && fmt != PM_BILL_CSV) {
        pm__http_error(r, MHD_HTTP_BAD_REQUEST, "format: expected json or csv");
        return;
    }
    if (report_months(q, r, &from, &to) ||
        ident_arg(q, r, "account", PM_IDENT_ACCOUNT, &account) ||
        ident_arg(q, r, "work_order", PM_IDENT_WORKORDER, &wo))
        return;
    err = pm_billing_read(pm__http_rd_lock(q->h), from, to, account, wo,
                          &periods, &np, &lines, &nl);
    pm__http_rd_unlock(q->h);
    if (err == 0) {
        pm_billing_report_t rep = {from,    to, account, wo,
                                   periods, np, lines,   nl};
        err = pm_billing_render(&rep, (pm_bill_format_t)fmt, &text, &len);
    }
    pm_billing_line_list_free(lines, nl);
    pm_billing_period_list_free(periods, np);
    if (err != 0) {
        pm__http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "the report could not be made");
        return;
    }
    r->status = MHD_HTTP_OK;
    r->type =
        fmt == PM_BILL_CSV ? "text/csv; charset=utf-8" : "application/json";
    r->body = text;
    r->len = len;
}

void pm__http_throughput(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    int64_t counts[THROUGHPUT_MAX], now = (int64_t)time(NULL);
    long long minutes;
    json_t *a;
    int err;

    (void)id;
    if (num_arg(q, r, "minutes", 1, THROUGHPUT_MAX, 60, &minutes))
        return;
    err = pm_monitor_throughput(pm__http_rd_lock(q->h), now, (int)minutes,
                                counts);
    pm__http_rd_unlock(q->h);
    if (err != 0) {
        pm__http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "the catalog cannot be read");
        return;
    }
    a = json_array();
    for (long long i = 0; a != NULL && i < minutes; i++)
        json_array_append_new(a, json_integer(counts[i]));
    pm__http_json(r, MHD_HTTP_OK,
                  json_pack("{s:I, s:o, s:o}", "minutes", (json_int_t)minutes,
                            "until", pm_json_time(now), "pages", a));
}
