/*
 * monitor.c: the catalog reads of the web interface and `status`, and the
 * access tokens (monitor.h), on the SQLite backend. Statements are
 * prepared per call (they run once per request, not per page) with every
 * value bound, never spliced into the SQL.
 */
#include "catalog/monitor.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "catalog/sqlite_int.h"
#include "pipeline/pm.h"

const double pm_stage_bucket_ms[PM_STAGE_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};

const char *const pm_stage_names[PM_STAGES] = {
    "decode", "orient", "deskew", "blank", "ocr", "encode", "total"};

static const char *const role_names[] = {NULL, "supervisor", "billing",
                                         "admin"};

const char *pm_role_name(pm_role_t r)
{
    return r >= PM_ROLE_SUPERVISOR && r <= PM_ROLE_ADMIN ? role_names[r] : "?";
}

int pm_role_parse(const char *s)
{
    for (int r = PM_ROLE_SUPERVISOR; s != NULL && r <= PM_ROLE_ADMIN; r++)
        if (strcmp(s, role_names[r]) == 0)
            return r;
    return -1;
}

/* ---- statements ---- */

static int prepare(pm_catalog_t *cat, const char *sql, sqlite3_stmt **st)
{
    *st = NULL;
    if (sqlite3_prepare_v2(pm__catalog_db(cat), sql, -1, st, NULL) != SQLITE_OK)
        return pm__catalog_db_fail(cat);
    return 0;
}

/* Steps `st` to its end, calling row(st, arg) on each row; finalizes. */
static int each_row(pm_catalog_t *cat, sqlite3_stmt *st,
                    int (*row)(sqlite3_stmt *st, void *arg), void *arg)
{
    int rc, err = 0;

    while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        err = row(st, arg);
    if (err == 0 && rc != SQLITE_DONE)
        err = pm__catalog_db_fail(cat);
    sqlite3_finalize(st);
    return err;
}

static int exec(pm_catalog_t *cat, const char *sql)
{
    if (sqlite3_exec(pm__catalog_db(cat), sql, NULL, NULL, NULL) != SQLITE_OK)
        return pm__catalog_db_fail(cat);
    return 0;
}

static int tx_end(pm_catalog_t *cat, int err)
{
    sqlite3 *db = pm__catalog_db(cat);

    if (sqlite3_get_autocommit(db))
        return err;
    if (err == 0)
        return exec(cat, "COMMIT");
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

static char *col_dup(sqlite3_stmt *st, int i, int *oom)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    char *s;

    if (v == NULL)
        return NULL;
    s = pm_strdup((const char *)v);
    if (s == NULL)
        *oom = 1;
    return s;
}

int pm_catalog_query_only(pm_catalog_t *cat)
{
    return exec(cat, "PRAGMA query_only = 1");
}

/* ---- tokens ---- */

int pm_token_name_valid(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;

    if (n == 0 || n > PM_TOKEN_NAME_MAX)
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789.-_@") == n;
}

int pm_token_add(pm_catalog_t *cat, const char *name, pm_role_t role,
                 const char *sha256, const char *actor, int64_t now)
{
    sqlite3_stmt *st;
    char detail[128];
    int err, rc;

    if (!pm_token_name_valid(name) || pm_role_parse(pm_role_name(role)) < 0 ||
        sha256 == NULL || strlen(sha256) != 64 ||
        strspn(sha256, "0123456789abcdef") != 64)
        return pm__catalog_set_msg(cat, PM_EINVAL,
                                   "a token needs a name of letters, digits, "
                                   "'.', '-', '_' or '@', a role and a hash");
    err = exec(cat, "BEGIN IMMEDIATE");
    if (err == 0)
        err = prepare(cat,
                      "INSERT INTO api_tokens (name, role, sha256, created_at)"
                      " VALUES (?1, ?2, ?3, ?4)",
                      &st);
    if (err == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, pm_role_name(role), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, sha256, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, now);
        rc = sqlite3_step(st);
        if (rc == SQLITE_CONSTRAINT_UNIQUE ||
            rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
            char msg[128];
            snprintf(msg, sizeof(msg), "a token named %s exists", name);
            err = pm__catalog_set_msg(cat, -EEXIST, msg);
        } else if (rc != SQLITE_DONE) {
            err = pm__catalog_db_fail(cat);
        }
        sqlite3_finalize(st);
    }
    snprintf(detail, sizeof(detail), "token %s, role %s", name,
             pm_role_name(role));
    if (err == 0)
        err = pm_event_add(cat, actor, "token.added", 0, 0, detail);
    return tx_end(cat, err);
}

static int token_row(sqlite3_stmt *st, void *arg)
{
    struct {
        pm_token_t *v;
        size_t n, cap;
    } *l = arg;
    pm_token_t *t;
    const unsigned char *h;
    int oom = 0;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        pm_token_t *grown = pm_realloc(l->v, cap * sizeof(*grown));
        if (grown == NULL)
            return PM_ENOMEM;
        l->v = grown;
        l->cap = cap;
    }
    t = &l->v[l->n];
    memset(t, 0, sizeof(*t));
    t->name = col_dup(st, 0, &oom);
    t->role =
        (pm_role_t)pm_role_parse((const char *)sqlite3_column_text(st, 1));
    h = sqlite3_column_text(st, 2);
    snprintf(t->sha256, sizeof(t->sha256), "%s", h ? (const char *)h : "");
    t->created_at = sqlite3_column_int64(st, 3);
    l->n++;
    return oom ? PM_ENOMEM : 0;
}

int pm_token_list(pm_catalog_t *cat, pm_token_t **out, size_t *n)
{
    struct {
        pm_token_t *v;
        size_t n, cap;
    } l = {NULL, 0, 0};
    sqlite3_stmt *st;
    int err;

    *out = NULL;
    *n = 0;
    err = prepare(cat,
                  "SELECT name, role, sha256, created_at FROM api_tokens"
                  " ORDER BY name",
                  &st);
    if (err == 0)
        err = each_row(cat, st, token_row, &l);
    if (err != 0) {
        pm_token_list_free(l.v, l.n);
        return err;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

void pm_token_list_free(pm_token_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pm_free(v[i].name);
    pm_free(v);
}

/* ---- counts ---- */

static int count_row(sqlite3_stmt *st, void *arg)
{
    int64_t *v = arg;
    int i = sqlite3_column_int(st, 0);

    v[i] = sqlite3_column_int64(st, 1);
    return 0;
}

/* State names to indexes are in SQL, as the rows store names. */
static int read_counts(pm_catalog_t *cat, pm_monitor_t *m)
{
    sqlite3_stmt *st;
    int err;

    err = prepare(cat,
                  "SELECT CASE state WHEN 'queued' THEN 0 WHEN 'running' THEN 1"
                  " WHEN 'done' THEN 2 ELSE 3 END, count(*) FROM page_tasks"
                  " GROUP BY state",
                  &st);
    if (err == 0)
        err = each_row(cat, st, count_row, m->pages);
    if (err == 0)
        err = prepare(
            cat,
            "SELECT CASE state WHEN 'received' THEN 0 WHEN 'queued' THEN 1"
            " WHEN 'running' THEN 2 WHEN 'assembling' THEN 3 WHEN 'done' THEN 4"
            " WHEN 'held' THEN 5 WHEN 'failed' THEN 6 ELSE 7 END, count(*)"
            " FROM jobs GROUP BY state",
            &st);
    if (err == 0)
        err = each_row(cat, st, count_row, m->jobs);
    return err;
}

static int totals_row(sqlite3_stmt *st, void *arg)
{
    pm_monitor_t *m = arg;

    m->billable_pages = sqlite3_column_int64(st, 0);
    m->blank_pages = sqlite3_column_int64(st, 1);
    m->queue_oldest_at = sqlite3_column_int64(st, 2);
    m->low_confidence = sqlite3_column_int64(st, 3);
    return 0;
}

static int read_totals(pm_catalog_t *cat, pm_monitor_t *m)
{
    sqlite3_stmt *st;
    int err = prepare(
        cat,
        "SELECT (SELECT count(*) FROM billable_pages b JOIN jobs j"
        "   ON j.id = b.job WHERE j.state = 'done'"
        "   AND (b.blank = 0 OR j.bill_blank = 1)),"
        " (SELECT count(*) FROM page_tasks WHERE state = 'done'"
        "   AND blank = 1),"
        " coalesce((SELECT min(j.created_at) FROM jobs j WHERE j.state IN"
        "   ('queued', 'running') AND EXISTS (SELECT 1 FROM page_tasks t"
        "   WHERE t.state = 'queued' AND t.job = j.id)), 0),"
        " (SELECT count(*) FROM page_tasks WHERE state = 'done'"
        "   AND blank = 0 AND confidence < 50)",
        &st);

    return err != 0 ? err : each_row(cat, st, totals_row, m);
}

static int stage_row(sqlite3_stmt *st, void *arg)
{
    pm_monitor_t *m = arg;

    for (int s = 0; s < PM_STAGES; s++) {
        pm_stage_hist_t *h = &m->stages[s];
        double ms;

        if (sqlite3_column_type(st, s) == SQLITE_NULL)
            continue;
        ms = sqlite3_column_double(st, s);
        h->count++;
        h->sum_ms += ms;
        for (int b = PM_STAGE_BUCKETS - 1;
             b >= 0 && ms <= pm_stage_bucket_ms[b]; b--)
            h->le[b]++;
    }
    return 0;
}

/* Reads every done page's stage times: one pass, bucketed here. */
static int read_stages(pm_catalog_t *cat, pm_monitor_t *m)
{
    sqlite3_stmt *st;
    int err = prepare(cat,
                      "SELECT ms_decode, ms_orient, ms_deskew, ms_blank,"
                      " ms_ocr, ms_encode, ms_total FROM page_tasks"
                      " WHERE state = 'done'",
                      &st);

    return err != 0 ? err : each_row(cat, st, stage_row, m);
}

int pm_monitor_read(pm_catalog_t *cat, pm_monitor_t *out)
{
    int err;

    memset(out, 0, sizeof(*out));
    err = exec(cat, "BEGIN");
    if (err == 0)
        err = read_counts(cat, out);
    if (err == 0)
        err = read_totals(cat, out);
    if (err == 0)
        err = read_stages(cat, out);
    return tx_end(cat, err);
}

typedef struct minutes {
    int64_t *counts;
    int n;
} minutes_t;

static int minute_row(sqlite3_stmt *st, void *arg)
{
    minutes_t *m = arg;
    int64_t i = sqlite3_column_int64(st, 0);

    if (i >= 0 && i < m->n)
        m->counts[i] = sqlite3_column_int64(st, 1);
    return 0;
}

int pm_monitor_throughput(pm_catalog_t *cat, int64_t now, int n,
                          int64_t *counts)
{
    minutes_t m = {counts, n};
    int64_t from = now - (int64_t)n * 60;
    sqlite3_stmt *st;
    int err;

    assert(n > 0);
    memset(counts, 0, (size_t)n * sizeof(*counts));
    err = prepare(cat,
                  "SELECT (finished_at - ?1) / 60, count(*) FROM page_tasks"
                  " WHERE finished_at >= ?1 AND finished_at < ?2"
                  " GROUP BY 1",
                  &st);
    if (err != 0)
        return err;
    if (sqlite3_bind_int64(st, 1, from) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, now) != SQLITE_OK) {
        err = pm__catalog_db_fail(cat);
        sqlite3_finalize(st);
        return err;
    }
    return each_row(cat, st, minute_row, &m);
}

/* ---- lists ---- */

typedef struct ids {
    int64_t *v;
    size_t n, cap;
} ids_t;

static int id_row(sqlite3_stmt *st, void *arg)
{
    ids_t *l = arg;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        int64_t *grown = pm_realloc(l->v, cap * sizeof(*grown));
        if (grown == NULL)
            return PM_ENOMEM;
        l->v = grown;
        l->cap = cap;
    }
    l->v[l->n++] = sqlite3_column_int64(st, 0);
    return 0;
}

static int total_row(sqlite3_stmt *st, void *arg)
{
    *(int64_t *)arg = sqlite3_column_int64(st, 0);
    return 0;
}

static int bind_state(sqlite3_stmt *st, int state)
{
    if (state < 0)
        return sqlite3_bind_null(st, 1);
    return sqlite3_bind_text(st, 1, pm_job_state_name((pm_job_state_t)state),
                             -1, SQLITE_STATIC);
}

static int job_ids(pm_catalog_t *cat, int state, size_t limit, size_t offset,
                   ids_t *ids, int64_t *total)
{
    sqlite3_stmt *st;
    int err;

    err = prepare(
        cat, "SELECT count(*) FROM jobs WHERE ?1 IS NULL OR state = ?1", &st);
    if (err == 0 && bind_state(st, state) != SQLITE_OK)
        err = pm__catalog_db_fail(cat);
    if (err == 0)
        err = each_row(cat, st, total_row, total);
    else
        sqlite3_finalize(st);
    if (err == 0)
        err = prepare(cat,
                      "SELECT id FROM jobs WHERE ?1 IS NULL OR state = ?1"
                      " ORDER BY id DESC LIMIT ?2 OFFSET ?3",
                      &st);
    if (err != 0)
        return err;
    if (bind_state(st, state) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, (sqlite3_int64)limit) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)offset) != SQLITE_OK) {
        err = pm__catalog_db_fail(cat);
        sqlite3_finalize(st);
        return err;
    }
    return each_row(cat, st, id_row, ids);
}

int pm_monitor_jobs(pm_catalog_t *cat, int state, size_t limit, size_t offset,
                    pm_job_t **out, size_t *n, int64_t *total)
{
    ids_t ids = {NULL, 0, 0};
    pm_job_t *v = NULL;
    size_t k = 0;
    int err;

    *out = NULL;
    *n = 0;
    *total = 0;
    err = exec(cat, "BEGIN");
    if (err == 0)
        err = job_ids(cat, state, limit, offset, &ids, total);
    if (err == 0 && ids.n > 0 && (v = pm_calloc(ids.n, sizeof(*v))) == NULL)
        err = PM_ENOMEM;
    for (; err == 0 && k < ids.n; k++)
        err = pm_job_get(cat, ids.v[k], &v[k]);
    err = tx_end(cat, err);
    pm_free(ids.v);
    if (err != 0) {
        pm_job_list_free(v, k);
        return err;
    }
    *out = v;
    *n = ids.n;
    return 0;
}

typedef struct events {
    pm_event_t *v;
    size_t n, cap;
} events_t;

static int event_row(sqlite3_stmt *st, void *arg)
{
    events_t *l = arg;
    pm_event_t *e;
    int oom = 0;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        pm_event_t *grown = pm_realloc(l->v, cap * sizeof(*grown));
        if (grown == NULL)
            return PM_ENOMEM;
        l->v = grown;
        l->cap = cap;
    }
    e = &l->v[l->n++];
    memset(e, 0, sizeof(*e));
    e->id = sqlite3_column_int64(st, 0);
    e->at = sqlite3_column_int64(st, 1);
    e->actor = col_dup(st, 2, &oom);
    e->kind = col_dup(st, 3, &oom);
    e->detail = col_dup(st, 4, &oom);
    return oom ? PM_ENOMEM : 0;
}

int pm_monitor_rejections(pm_catalog_t *cat, size_t limit, pm_event_t **out,
                          size_t *n)
{
    events_t l = {NULL, 0, 0};
    sqlite3_stmt *st;
    int err;

    *out = NULL;
    *n = 0;
    err = prepare(cat,
                  "SELECT id, at, actor, kind, detail FROM events"
                  " WHERE kind = 'batch.rejected' ORDER BY id DESC LIMIT ?1",
                  &st);
    if (err != 0)
        return err;
    if (sqlite3_bind_int64(st, 1, limit ? (sqlite3_int64)limit : -1) !=
        SQLITE_OK) {
        err = pm__catalog_db_fail(cat);
        sqlite3_finalize(st);
        return err;
    }
    err = each_row(cat, st, event_row, &l);
    if (err != 0) {
        pm_event_list_free(l.v, l.n);
        return err;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

const char *pm_rejection_reason(const char *detail)
{
    static const struct {
        const char *text, *reason;
    } known[] = {
        {"is not in the catalog", "unknown_work_order"},
        {"takes no new batches", "closed_work_order"},
        {"is not work order", "account_mismatch"},
        {"is not in the configuration", "unknown_profile"},
        {"expected_pages", "page_count"},
        {"zero-byte file", "unreadable_page"},
        {"not a supported image", "unreadable_page"},
        {"not a readable", "unreadable_page"},
        {"page counting", "unreadable_page"},
        {"the catalog could not record", "catalog"},
    };

    for (size_t i = 0; detail != NULL && i < sizeof(known) / sizeof(*known);
         i++)
        if (strstr(detail, known[i].text) != NULL)
            return known[i].reason;
    return "other";
}
