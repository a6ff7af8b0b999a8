/*
 * http_actions.c: the routes of the web interface that change something
 * (docs/api.md): POST /api/v1/jobs/N/retry|cancel|release and POST
 * /api/v1/workorders. Their JSON bodies are checked whole before use (an
 * object, no unknown key, strings valid UTF-8 that fit, identifiers
 * valid): anything else gets 400 and a message. The change itself is
 * carried to the loop (pm__http_act), which owns the catalog's writes.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "catalog/catalog.h"
#include "pipeline/base/pm.h"
#include "pipeline/http_int.h"
#include "pipeline/json_view.h"

/* Longest cancel reason, or a work order's notes. */
#define REASON_MAX 500

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
        pm__http_job(q, r, id);
}

void pm__http_retry(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    act(q, r, id, PM__ACT_RETRY);
}

void pm__http_cancel(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    act(q, r, id, PM__ACT_CANCEL);
}

void pm__http_release(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
{
    act(q, r, id, PM__ACT_RELEASE);
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

void pm__http_workorder_add(pm__http_req_t *q, pm__http_resp_t *r, int64_t id)
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
                            w.account, "fee_code", pm_json_str(w.fee_code),
                            "status", w.status, "notes", pm_json_str(w.notes),
                            "created_at", pm_json_time(w.created_at)));
    pm_workorder_cleanup(&w);
}
