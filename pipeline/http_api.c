/*
 * http_api.c: the routes of the web interface (docs/api.md has every
 * field): /healthz, /readyz, /metrics (http_metrics.c), /api/v1/status,
 * /api/v1/jobs, /api/v1/jobs/N, POST /api/v1/jobs/N/retry|cancel|release
 * and /api/v1/billing/report. Every input is checked before it is used:
 * path ids, query arguments and JSON bodies that are not what a route
 * takes get 400 and a message; values reach SQL only as bound values.
 * JSON is written with jansson, nowhere by hand.
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
#include "pipeline/base/pm.h"
#include "pipeline/http_int.h"
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

/* Longest cancel reason. */
#define REASON_MAX 500

typedef void (*route_fn)(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);

/* ---- JSON values ---- */

static json_t *jstr(const char *s)
{
    if (s == NULL)
        return json_null();
    if (!pm_utf8_valid(s))
        return json_string("(not UTF-8)");
    return json_string(s);
}

/* "2026-11-23T12:00:00Z", or null for 0. */
static json_t *jtime(int64_t t)
{
    char buf[32];
    time_t tt = (time_t)t;
    struct tm tm;

    if (t == 0 || gmtime_r(&tt, &tm) == NULL)
        return json_null();
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

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

static json_t *job_json(const pm_job_t *j)
{
    return json_pack(
        "{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:i, s:i, s:i, s:I, "
        "s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
        "id", (json_int_t)j->id, "state", pm_job_state_name(j->state),
        "work_order", jstr(j->workorder), "account", jstr(j->account),
        "hot_folder", jstr(j->hotfolder), "profile", jstr(j->profile), "batch",
        jstr(j->batch), "operator", jstr(j->operator_name), "pages", j->pages,
        "pages_done", j->pages_done, "pages_failed", j->pages_failed,
        "pages_blank", j->pages_blank, "billable_pages",
        (json_int_t)job_billable(j), "billing_month",
        j->billing_month[0] ? json_string(j->billing_month) : json_null(),
        "hold_reason", jstr(j->hold_reason), "error", jstr(j->error),
        "duplicate_of", jid(j->duplicate_of), "output_path",
        jstr(j->output_path), "created_at", jtime(j->created_at), "updated_at",
        jtime(j->updated_at), "finished_at", jtime(j->finished_at));
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

static json_t *page_json(const pm_task_t *t)
{
    int done = t->state == PM_TASK_DONE;
    const pm_page_metrics_t *m = &t->m;
    json_t *o = json_pack("{s:i, s:s, s:o, s:i, s:i, s:o}", "page", t->page,
                          "state", pm_task_state_name(t->state), "source",
                          jstr(base_name(t->src)), "frame", t->frame,
                          "attempts", t->attempts, "error", jstr(t->error));

    if (o == NULL || !done)
        return o;
    if (json_object_update_new(
            o, json_pack("{s:i, s:f, s:b, s:f, s:i, s:b, s:o, s:o, s:I, "
                         "s:o, s:o}",
                         "rotation", m->rotation, "skew", m->skew, "blank",
                         m->blank, "confidence", m->confidence, "words",
                         m->words, "low_confidence",
                         !m->blank && m->confidence < LOW_CONFIDENCE, "kind",
                         jstr(t->kind), "codec", jstr(t->codec), "bytes",
                         (json_int_t)m->bytes, "ms", stage_times(m),
                         "finished_at", jtime(t->finished_at))) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- arguments ---- */

/* A decimal in lo..hi: 0, or -1. */
static int parse_num(const char *s, long long lo, long long hi, long long *out)
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
    if (parse_num(v, lo, hi, out) == 0)
        return 0;
    pm__http_error(r, MHD_HTTP_BAD_REQUEST, "%s: expected a number %lld..%lld",
                   name, lo, hi);
    return -1;
}

/* ---- /healthz, /readyz ---- */

static void healthz(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    (void)q;
    (void)id;
    pm__http_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

static json_t *check(int ok, const char *detail)
{
    return json_pack("{s:b, s:s}", "ok", ok, "detail", detail);
}

static void readyz(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
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

static json_t *jobs_list(pm_catalog_t *cat, int state, int *err)
{
    pm_job_t *v = NULL;
    size_t n = 0;
    int64_t total = 0;
    json_t *a;

    *err = pm_monitor_jobs(cat, state, STATUS_LIST_MAX, 0, &v, &n, &total);
    a = *err == 0 ? json_array() : NULL;
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, job_json(&v[i]));
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
                                           jtime(v[i].at), "reason",
                                           pm_rejection_reason(v[i].detail),
                                           "detail", jstr(v[i].detail)));
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
                         jtime(v[i].started_at)));
    }
    pm_worker_list_free(v, n);
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
            a,
            json_pack("{s:o, s:o, s:o, s:I}", "hot_folder",
                      jstr(v[i].hotfolder), "batch", jstr(v[i].name), "since",
                      jtime(v[i].since), "waiting_s",
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
                         jstr(v[i].workorder), "account", jstr(v[i].account),
                         "state", pm_job_state_name(v[i].state), "pages",
                         v[i].pages, "reasons", jstr(v[i].reasons)));
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
    int err;

    pm__http_snap(q->h, &snap);
    err = pm_catalog_status(cat, now, &st);
    if (err == 0)
        err = pm_monitor_counts(cat, &m);
    if (err == 0)
        failed = jobs_list(cat, PM_JOB_FAILED, &err);
    if (err == 0)
        held = jobs_list(cat, PM_JOB_HELD, &err);
    if (err == 0)
        rej = rejections(cat, &err);
    if (err == 0)
        wk = workers(cat, now, &err);
    if (err == 0)
        rv = review_jobs(cat, &err);
    pm__http_rd_unlock(q->h);
    if (err != 0) {
        json_decref(rv);
        json_decref(failed);
        json_decref(held);
        json_decref(rej);
        json_decref(wk);
        pm__http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "the catalog cannot be read");
        return;
    }
    pm__http_json(
        r, MHD_HTTP_OK,
        json_pack(
            "{s:o, s:{s:b, s:b, s:I}, s:{s:I, s:I, s:o}, s:o, s:{s:I, s:I, "
            "s:I}, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}",
            "now", jtime(now), "service", "draining", snap.draining,
            "paused_for_space", snap.paused, "worker_restarts",
            (json_int_t)snap.worker_restarts, "queue", "pages_queued",
            (json_int_t)st.queued_pages, "pages_running",
            (json_int_t)st.running_pages, "oldest_queued_age_s",
            m.queue_oldest_at ? json_integer(now - m.queue_oldest_at)
                              : json_null(),
            "jobs", jobs_by_state(&m), "pages_finished", "last_5min",
            (json_int_t)st.pages_last_5min, "last_60min",
            (json_int_t)st.pages_last_60min, "per_hour_now",
            (json_int_t)(st.pages_last_5min * 12), "billable_pages",
            (json_int_t)m.billable_pages, "low_confidence_pages",
            (json_int_t)m.low_confidence, "workers", wk, "failed_jobs", failed,
            "held_jobs", held, "rejected_batches", rej, "waiting_batches",
            waiting(q->h, now), "review_jobs", rv));
}

/* /api/v1/status: the answer built at most PM__HTTP_CACHE_MS ago (counted
 * from when its read began), else a new one, built here by the first
 * request to find it old while the others wait for it. */
static void status(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
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

static void jobs(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
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
        json_array_append_new(a, job_json(&v[i]));
    pm_job_list_free(v, n);
    pm__http_json(r, MHD_HTTP_OK,
                  json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)total,
                            "limit", (json_int_t)limit, "offset",
                            (json_int_t)offset, "jobs", a));
}

static json_t *job_detail(pm_catalog_t *cat, int64_t id, int *err)
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
            json_array_append_new(pages, page_json(&t[i]));
        doc = json_pack("{s:o, s:o}", "job", job_json(&j), "pages", pages);
    }
    pm_task_list_free(t, n);
    pm_job_cleanup(&j);
    return doc;
}

static void job(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    int err;
    json_t *doc = job_detail(pm__http_rd_lock(q->h), id, &err);

    pm__http_rd_unlock(q->h);
    if (err == PM_ENOENT)
        pm__http_error(r, MHD_HTTP_NOT_FOUND, "no job %lld", (long long)id);
    else if (err != 0)
        pm__http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "the catalog cannot be read");
    else
        pm__http_json(r, MHD_HTTP_OK, doc);
}

/* ---- JSON bodies ---- */

/* The request's body as a JSON object (`shape` says more of it in the
 * message, e.g. " with number and account") whose keys are all among
 * keys[0..nkeys) (`takes` says which in the message): 0 and *out, a new
 * reference, or -1 with a 400 set. */
static int body_object(pm__http_req_t *q, pm__http_resp_t *r, const char *shape,
                       const char *const *keys, size_t nkeys, const char *takes,
                       json_t **out)
{
    json_error_t jerr;
    json_t *doc, *v;
    const char *key;

    *out = NULL;
    doc = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL || !json_is_object(doc)) {
        pm__http_error(r, MHD_HTTP_BAD_REQUEST,
                       "the body must be a JSON object%s%s%s", shape,
                       doc ? "" : ": ", doc ? "" : jerr.text);
        json_decref(doc);
        return -1;
    }
    json_object_foreach(doc, key, v)
    {
        size_t k = 0;

        while (k < nkeys && strcmp(key, keys[k]) != 0)
            k++;
        if (k == nkeys) {
            pm__http_error(r, MHD_HTTP_BAD_REQUEST, "unknown key '%.64s' (%s)",
                           key, takes);
            json_decref(doc);
            return -1;
        }
    }
    *out = doc;
    return 0;
}

/* Copies string member `key` of `doc` into dst[size] after checking it:
 * a string, valid UTF-8, fitting, and (kind > 0) a valid identifier.
 * Absent: dst stays "" and 0 unless `required`. -1 with a 400 set. */
static int body_string(pm__http_resp_t *r, json_t *doc, const char *key,
                       int kind, int required, char *dst, size_t size)
{
    json_t *v = json_object_get(doc, key);
    char why[160];

    if (v == NULL && !required)
        return 0;
    if (v == NULL || !json_is_string(v) || json_string_length(v) >= size ||
        !pm_utf8_valid(json_string_value(v))) {
        pm__http_error(r, MHD_HTTP_BAD_REQUEST,
                       "%s: expected a string of at most %zu bytes%s", key,
                       size - 1, required ? " (required)" : "");
        return -1;
    }
    if (kind > 0 && pm_ident_check((pm_ident_kind_t)kind, json_string_value(v),
                                   why, sizeof(why)) != 0) {
        pm__http_error(r, MHD_HTTP_BAD_REQUEST, "%s: %s", key, why);
        return -1;
    }
    snprintf(dst, size, "%s", json_string_value(v));
    return 0;
}

/* ---- actions ---- */

/* The action's JSON body: empty, or an object with only the keys a route
 * takes ("reason" for cancel). 0, or -1 with a 400 set. */
static int action_body(pm__http_req_t *q, pm__http_resp_t *r, int reason_ok,
                       pm__http_act_t *a)
{
    static const char *const keys[] = {"reason"};
    json_t *doc;
    int bad;

    if (q->body_len == 0)
        return 0;
    if (body_object(q, r, "", keys, reason_ok ? 1 : 0,
                    reason_ok ? "this action takes reason"
                              : "this action takes none",
                    &doc) != 0)
        return -1;
    bad = body_string(r, doc, "reason", 0, 0, a->reason, REASON_MAX + 1);
    json_decref(doc);
    return bad;
}

static void act(pm__http_req_t *q, pm__http_resp_t *r, int64_t id,
                pm__http_act_kind_t kind)
{
    pm__http_act_t a;
    int err;

    memset(&a, 0, sizeof(a));
    a.kind = kind;
    a.job = id;
    snprintf(a.actor, sizeof(a.actor), "%s", q->actor);
    if (action_body(q, r, kind == PM__ACT_CANCEL, &a) != 0)
        return;
    err = pm__http_act(q->h, &a);
    if (err == PM_ENOENT)
        pm__http_error(r, MHD_HTTP_NOT_FOUND, "no job %lld", (long long)id);
    else if (err == PM_EINVAL)
        pm__http_error(r, MHD_HTTP_CONFLICT, "%s", a.msg);
    else if (err == -ECANCELED)
        pm__http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", a.msg);
    else if (err != 0)
        pm__http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", a.msg);
    else
        job(q, r, id);
}

static void retry(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    act(q, r, id, PM__ACT_RETRY);
}

static void cancel(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    act(q, r, id, PM__ACT_CANCEL);
}

static void release(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    act(q, r, id, PM__ACT_RELEASE);
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

static void breakdown(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
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
                    jtime(since));
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

/* ---- POST /api/v1/workorders ---- */

/* The body of a work order to add: number, account, optional fee_code
 * and notes, nothing else. 0, or -1 with a 400 set. */
static int wo_body(pm__http_req_t *q, pm__http_resp_t *r, pm__http_act_t *a)
{
    static const char *const keys[] = {"number", "account", "fee_code",
                                       "notes"};
    json_t *doc;
    int bad;

    if (body_object(q, r, " with number and account", keys, 4,
                    "a work order takes number, account, fee_code and notes",
                    &doc) != 0)
        return -1;
    bad = body_string(r, doc, "number", PM_IDENT_WORKORDER, 1, a->number,
                      sizeof(a->number)) ||
          body_string(r, doc, "account", PM_IDENT_ACCOUNT, 1, a->account,
                      sizeof(a->account)) ||
          body_string(r, doc, "fee_code", PM_IDENT_FEE, 0, a->fee_code,
                      sizeof(a->fee_code)) ||
          body_string(r, doc, "notes", 0, 0, a->reason, REASON_MAX + 1);
    json_decref(doc);
    return bad ? -1 : 0;
}

static void workorder_add(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    pm__http_act_t a;
    pm_workorder_t w = {0};
    pm_catalog_t *cat;
    int err;

    (void)id;
    memset(&a, 0, sizeof(a));
    a.kind = PM__ACT_WORKORDER_ADD;
    snprintf(a.actor, sizeof(a.actor), "%s", q->actor);
    if (wo_body(q, r, &a) != 0)
        return;
    err = pm__http_act(q->h, &a);
    if (err == PM_ENOENT)
        pm__http_error(r, MHD_HTTP_NOT_FOUND, "%s", a.msg);
    else if (err == -EEXIST)
        pm__http_error(r, MHD_HTTP_CONFLICT, "%s", a.msg);
    else if (err == PM_EINVAL)
        pm__http_error(r, MHD_HTTP_BAD_REQUEST, "%s", a.msg);
    else if (err == -ECANCELED)
        pm__http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", a.msg);
    else if (err != 0)
        pm__http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", a.msg);
    if (err != 0)
        return;
    cat = pm__http_rd_lock(q->h);
    err = pm_workorder_get(cat, a.number, &w);
    pm__http_rd_unlock(q->h);
    if (err != 0) {
        pm__http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "the catalog cannot be read");
        return;
    }
    pm__http_json(r, MHD_HTTP_CREATED,
                  json_pack("{s:I, s:s, s:s, s:o, s:s, s:o, s:o}", "id",
                            (json_int_t)w.id, "number", w.number, "account",
                            w.account, "fee_code", jstr(w.fee_code), "status",
                            w.status, "notes", jstr(w.notes), "created_at",
                            jtime(w.created_at)));
    pm_workorder_cleanup(&w);
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

static void billing_report(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
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

static void throughput(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
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
                            "until", jtime(now), "pages", a));
}

/* ---- routing ---- */

typedef struct route {
    const char *method;
    const char *path;   /* whole path, or the part before the job id */
    const char *suffix; /* after the id ("" for none); NULL: no id */
    pm_role_t need;     /* 0: anyone, no token */
    route_fn fn;        /* an API route, or NULL: */
    void (*page)(pm__http_req_t *q, pm__http_resp_t *r); /* a page's */
} route_t;

#define JOBS_PREFIX "/api/v1/jobs/"

static const route_t routes[] = {
    {"GET", "/", NULL, 0, NULL, pm__http_dashboard},
    {"GET", "/static/chart.min.js", NULL, 0, NULL, pm__http_chartjs},
    {"GET", "/jobs/", "", 0, NULL, pm__http_job_page},
    {"GET", "/healthz", NULL, 0, healthz, NULL},
    {"GET", "/readyz", NULL, 0, readyz, NULL},
    {"GET", "/metrics", NULL, PM_ROLE_SUPERVISOR, NULL, pm__http_metrics},
    {"GET", "/api/v1/status", NULL, PM_ROLE_SUPERVISOR, status, NULL},
    {"GET", "/api/v1/jobs", NULL, PM_ROLE_SUPERVISOR, jobs, NULL},
    {"GET", "/api/v1/throughput", NULL, PM_ROLE_SUPERVISOR, throughput, NULL},
    {"GET", JOBS_PREFIX, "", PM_ROLE_SUPERVISOR, job, NULL},
    {"POST", JOBS_PREFIX, "/retry", PM_ROLE_ADMIN, retry, NULL},
    {"POST", JOBS_PREFIX, "/cancel", PM_ROLE_ADMIN, cancel, NULL},
    {"POST", JOBS_PREFIX, "/release", PM_ROLE_ADMIN, release, NULL},
    {"GET", "/api/v1/breakdown", NULL, PM_ROLE_SUPERVISOR, breakdown, NULL},
    {"POST", "/api/v1/workorders", NULL, PM_ROLE_ADMIN, workorder_add, NULL},
    {"GET", "/api/v1/billing/report", NULL, PM_ROLE_BILLING, billing_report,
     NULL},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Does route `rt` have this path? For id routes, *id_text is the id's
 * text (not yet checked). */
static int path_matches(const route_t *rt, const char *path, char *id_text,
                        size_t size)
{
    size_t n, seg;

    if (rt->suffix == NULL)
        return strcmp(path, rt->path) == 0;
    n = strlen(rt->path);
    if (strncmp(path, rt->path, n) != 0)
        return 0;
    seg = strcspn(path + n, "/");
    if (seg == 0 || strcmp(path + n + seg, rt->suffix) != 0)
        return 0;
    snprintf(id_text, size, "%.*s", (int)(seg < size ? seg : size - 1),
             path + n);
    return 1;
}

/* The route for the request, or NULL; *wrong_method when the path is
 * known but not with this method. */
static const route_t *find_route(const pm__http_req_t *q, char *id_text,
                                 size_t size, int *wrong_method)
{
    const char *method = strcmp(q->method, "HEAD") == 0 ? "GET" : q->method;

    *wrong_method = 0;
    for (size_t i = 0; i < NROUTES; i++) {
        if (!path_matches(&routes[i], q->path, id_text, size))
            continue;
        if (strcmp(routes[i].method, method) == 0)
            return &routes[i];
        *wrong_method = 1;
    }
    return NULL;
}

/* 0 when the request may use a route needing `need`; else the response
 * is set (401 without a valid token, 403 with too small a role). */
static int authorize(const pm__http_req_t *q, pm__http_resp_t *r,
                     pm_role_t need)
{
    if (need == 0)
        return 0;
    if (q->anonymous && need != PM_ROLE_ADMIN)
        return 0; /* loopback and no token anywhere: reads are open */
    if (q->role == 0) {
        pm__http_error(r, MHD_HTTP_UNAUTHORIZED,
                       q->anonymous ? "actions need an admin token"
                                    : "a valid token is required");
        return -1;
    }
    if (q->role < need) {
        pm__http_error(r, MHD_HTTP_FORBIDDEN, "forbidden");
        return -1;
    }
    return 0;
}

void pm__http_route(pm__http_req_t *q, pm__http_resp_t *r)
{
    char id_text[32] = "";
    int wrong_method;
    const route_t *rt = find_route(q, id_text, sizeof(id_text), &wrong_method);
    long long id = 0;

    /* Only the probes answer without a token: an unknown path says no
     * more than a known one does. */
    if (authorize(q, r, rt ? rt->need : PM_ROLE_SUPERVISOR) != 0)
        return;
    if (rt == NULL) {
        if (wrong_method)
            pm__http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED,
                           "method %s not allowed here", q->method);
        else
            pm__http_error(r, MHD_HTTP_NOT_FOUND, "no such resource");
        return;
    }
    if (rt->suffix != NULL && parse_num(id_text, 1, INT64_MAX / 2, &id) != 0) {
        pm__http_error(r, MHD_HTTP_BAD_REQUEST,
                       "a job id is a positive whole number");
        return;
    }
    if (rt->page != NULL)
        rt->page(q, r);
    else
        rt->fn(q, r, (int64_t)id);
}
