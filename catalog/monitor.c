/*
 * monitor.c: the catalog reads of the web interface and `status`, and the
 * access tokens (monitor.h), on the SQLite backend. Its statements are
 * a module table like the other files' (sqlite_int.h), prepared once at
 * open, with every value bound, never spliced into the SQL. What is the
 * same on every backend (the histograms' buckets, the rejection reasons)
 * is monitor_common.c's.
 */
#include "catalog/monitor.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "catalog/monitor_int.h"
#include "catalog/sqlite_int.h"
#include "pipeline/base/pm.h"

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

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_TOKEN_ADD,
    ST_TOKEN_LIST,
    ST_PAGE_COUNTS,
    ST_JOB_COUNTS,
    ST_TOTALS,
    ST_STAGES,
    ST_THROUGHPUT,
    ST_JOB_TOTAL,
    ST_JOB_IDS,
    ST_REJECTIONS,
    ST_BY_HOTFOLDER,
    ST_BY_ACCOUNT,
    ST_BY_OPERATOR,
    ST_COUNT
};

/* Pages done since ?1 by a column of their job: at most ?2 names. */
#define BY(col)                                                            \
    "SELECT coalesce(" col ", ''), count(*) FROM page_tasks t JOIN jobs j" \
    " ON j.id = t.job WHERE t.state = 'done' AND t.finished_at >= ?1"      \
    " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?2"

static const pm__sql_t stmts[ST_COUNT] = {
    [ST_TOKEN_ADD] = {"token_add",
                      "INSERT INTO api_tokens (name, role, sha256, created_at)"
                      " VALUES (?1, ?2, ?3, ?4)"},
    [ST_TOKEN_LIST] = {"token_list",
                       "SELECT name, role, sha256, created_at FROM api_tokens"
                       " ORDER BY name"},
    /* State names to indexes are in SQL, as the rows store names. */
    [ST_PAGE_COUNTS] = {"monitor_pages",
                        "SELECT CASE state WHEN 'queued' THEN 0 WHEN 'running'"
                        " THEN 1 WHEN 'done' THEN 2 ELSE 3 END, count(*) FROM"
                        " page_tasks GROUP BY state"},
    [ST_JOB_COUNTS] = {"monitor_jobs",
                       "SELECT CASE state WHEN 'received' THEN 0 WHEN 'queued'"
                       " THEN 1 WHEN 'running' THEN 2 WHEN 'assembling' THEN 3"
                       " WHEN 'done' THEN 4 WHEN 'held' THEN 5 WHEN 'failed'"
                       " THEN 6 ELSE 7 END, count(*) FROM jobs GROUP BY state"},
    [ST_TOTALS] =
        {"monitor_totals",
         "SELECT (SELECT count(*) FROM billable_pages b JOIN jobs j"
         "   ON j.id = b.job WHERE j.state = 'done'"
         "   AND (b.blank = 0 OR j.bill_blank = 1)),"
         " (SELECT count(*) FROM page_tasks WHERE state = 'done'"
         "   AND blank = 1),"
         " coalesce((SELECT min(j.created_at) FROM jobs j WHERE j.state IN"
         "   ('queued', 'running') AND EXISTS (SELECT 1 FROM page_tasks t"
         "   WHERE t.state = 'queued' AND t.job = j.id)), 0),"
         " (SELECT count(*) FROM page_tasks WHERE state = 'done'"
         "   AND blank = 0 AND confidence < 50)"},
    [ST_STAGES] = {"monitor_stages",
                   "SELECT ms_decode, ms_orient, ms_deskew, ms_blank,"
                   " ms_ocr, ms_encode, ms_total FROM page_tasks"
                   " WHERE state = 'done'"},
    [ST_THROUGHPUT] = {"monitor_throughput",
                       "SELECT (finished_at - ?1) / 60, count(*) FROM"
                       " page_tasks WHERE finished_at >= ?1 AND"
                       " finished_at < ?2 GROUP BY 1"},
    [ST_JOB_TOTAL] = {"monitor_job_total",
                      "SELECT count(*) FROM jobs WHERE ?1 IS NULL OR"
                      " state = ?1"},
    [ST_JOB_IDS] = {"monitor_job_ids",
                    "SELECT id FROM jobs WHERE ?1 IS NULL OR state = ?1"
                    " ORDER BY id DESC LIMIT ?2 OFFSET ?3"},
    [ST_REJECTIONS] = {"monitor_rejections",
                       "SELECT id, at, actor, kind, detail FROM events"
                       " WHERE kind = 'batch.rejected' ORDER BY id DESC"
                       " LIMIT ?1"},
    [ST_BY_HOTFOLDER] = {"monitor_by_hotfolder", BY("j.hotfolder")},
    [ST_BY_ACCOUNT] = {"monitor_by_account",
                       BY("j.account, (SELECT a.code FROM work_orders w JOIN"
                          " accounts a ON a.id = w.account_id WHERE"
                          " w.number = j.workorder)")},
    [ST_BY_OPERATOR] = {"monitor_by_operator", BY("j.operator_name")},
};

const pm__sql_table_t pm__sql_monitor = {stmts, ST_COUNT};

_Static_assert(ST_COUNT <= PM__SQL_MAX, "raise PM__SQL_MAX");

#define STMT(cat, i) pm__stmt((cat), PM__SQL_MONITOR, (i))

/* Steps `st` to its end, adding each row into `arg` with row(st, arg)
 * (which cannot fail); resets `st`. */
static int each_row(pm_catalog_t *cat, sqlite3_stmt *st,
                    void (*row)(sqlite3_stmt *st, void *arg), void *arg)
{
    int rc, err = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        row(st, arg);
    if (rc != SQLITE_DONE)
        err = pm__sql_fail(cat);
    pm__sql_stmt_done(st);
    return err;
}

int pm__sqlite_catalog_query_only(pm_catalog_t *cat)
{
    return pm__sql_exec(cat, "PRAGMA query_only = 1");
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

static int token_insert(pm_catalog_t *cat, const char *name, pm_role_t role,
                        const char *sha256, int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_TOKEN_ADD);
    int err;

    if (pm__sql_bind_text(st, 1, name) ||
        pm__sql_bind_text(st, 2, pm_role_name(role)) ||
        pm__sql_bind_text(st, 3, sha256) || sqlite3_bind_int64(st, 4, now))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_run(cat, st);
    if (err == -EEXIST)
        pm__catalog_msg(cat, err, "a token named %s exists", name);
    return err;
}

int pm__sqlite_token_add(pm_catalog_t *cat, const char *name, pm_role_t role,
                         const char *sha256, const char *actor, int64_t now)
{
    char detail[128];
    int err;

    if (!pm_token_name_valid(name) || pm_role_parse(pm_role_name(role)) < 0 ||
        sha256 == NULL || strlen(sha256) != 64 ||
        strspn(sha256, "0123456789abcdef") != 64)
        return pm__catalog_msg(cat, PM_EINVAL,
                               "a token needs a name of letters, digits, "
                               "'.', '-', '_' or '@', a role and a hash");
    err = pm__sql_tx_begin(cat);
    if (err == 0)
        err = token_insert(cat, name, role, sha256, now);
    snprintf(detail, sizeof(detail), "token %s, role %s", name,
             pm_role_name(role));
    if (err == 0)
        err = pm_event_add(cat, actor, "token.added", 0, 0, detail);
    return pm__sql_tx_end(cat, err);
}

static void token_cleanup_v(void *item)
{
    pm_token_t *t = item;

    pm_free(t->name);
    memset(t, 0, sizeof(*t));
}

static int read_token(sqlite3_stmt *st, void *item)
{
    pm_token_t *t = item;
    const unsigned char *h = sqlite3_column_text(st, 2);

    memset(t, 0, sizeof(*t));
    t->role =
        (pm_role_t)pm_role_parse((const char *)sqlite3_column_text(st, 1));
    snprintf(t->sha256, sizeof(t->sha256), "%s", h ? (const char *)h : "");
    t->created_at = sqlite3_column_int64(st, 3);
    return pm__sql_col_str(st, 0, &t->name);
}

int pm__sqlite_token_list(pm_catalog_t *cat, pm_token_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return pm__sql_collect(cat, STMT(cat, ST_TOKEN_LIST), sizeof(pm_token_t),
                           read_token, token_cleanup_v, (void **)out, n);
}

void pm_token_list_free(pm_token_t *v, size_t n)
{
    pm__sql_free_items(v, n, sizeof(*v), token_cleanup_v);
}

/* ---- counts ---- */

static void count_row(sqlite3_stmt *st, void *arg)
{
    int64_t *v = arg;
    int i = sqlite3_column_int(st, 0);

    v[i] = sqlite3_column_int64(st, 1);
}

static int read_counts(pm_catalog_t *cat, pm_monitor_t *m)
{
    int err = each_row(cat, STMT(cat, ST_PAGE_COUNTS), count_row, m->pages);

    if (err == 0)
        err = each_row(cat, STMT(cat, ST_JOB_COUNTS), count_row, m->jobs);
    return err;
}

static int read_totals(pm_catalog_t *cat, pm_monitor_t *m)
{
    sqlite3_stmt *st = STMT(cat, ST_TOTALS);
    int err = pm__sql_first_row(cat, st);

    if (err <= 0)
        return err;
    m->billable_pages = sqlite3_column_int64(st, 0);
    m->blank_pages = sqlite3_column_int64(st, 1);
    m->queue_oldest_at = sqlite3_column_int64(st, 2);
    m->low_confidence = sqlite3_column_int64(st, 3);
    pm__sql_stmt_done(st);
    return 0;
}

static void stage_row(sqlite3_stmt *st, void *arg)
{
    pm_monitor_t *m = arg;

    for (int s = 0; s < PM_STAGES; s++) {
        double ms;

        if (sqlite3_column_type(st, s) == SQLITE_NULL)
            continue;
        ms = sqlite3_column_double(st, s);
        pm__stage_hist_add(&m->stages[s], pm__stage_bucket(ms), 1, ms);
    }
}

/* Counts and totals, and (stages) every done page's stage times in one
 * pass, bucketed here; one read transaction. */
static int monitor_read(pm_catalog_t *cat, pm_monitor_t *out, int stages)
{
    int err;

    memset(out, 0, sizeof(*out));
    err = pm__sql_tx_begin_read(cat);
    if (err == 0)
        err = read_counts(cat, out);
    if (err == 0)
        err = read_totals(cat, out);
    if (err == 0 && stages)
        err = each_row(cat, STMT(cat, ST_STAGES), stage_row, out);
    return pm__sql_tx_end(cat, err);
}

int pm__sqlite_monitor_read(pm_catalog_t *cat, pm_monitor_t *out)
{
    return monitor_read(cat, out, 1);
}

int pm__sqlite_monitor_counts(pm_catalog_t *cat, pm_monitor_t *out)
{
    return monitor_read(cat, out, 0);
}

typedef struct minutes {
    int64_t *counts;
    int n;
} minutes_t;

static void minute_row(sqlite3_stmt *st, void *arg)
{
    minutes_t *m = arg;
    int64_t i = sqlite3_column_int64(st, 0);

    if (i >= 0 && i < m->n)
        m->counts[i] = sqlite3_column_int64(st, 1);
}

int pm__sqlite_monitor_throughput(pm_catalog_t *cat, int64_t now, int n,
                                  int64_t *counts)
{
    sqlite3_stmt *st = STMT(cat, ST_THROUGHPUT);
    minutes_t m = {counts, n};

    assert(n > 0);
    memset(counts, 0, (size_t)n * sizeof(*counts));
    if (sqlite3_bind_int64(st, 1, now - (int64_t)n * 60) ||
        sqlite3_bind_int64(st, 2, now))
        return pm__sql_bind_fail(cat, st);
    return each_row(cat, st, minute_row, &m);
}

/* ---- lists ---- */

/* Binds a job state filter (-1: any) as ?1. */
static int bind_state(sqlite3_stmt *st, int state)
{
    return pm__sql_bind_text(
        st, 1, state < 0 ? NULL : pm_job_state_name((pm_job_state_t)state));
}

static int job_ids(pm_catalog_t *cat, int state, size_t limit, size_t offset,
                   int64_t **ids, size_t *n, int64_t *total)
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_TOTAL);
    int err;

    if (bind_state(st, state))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_query_int64(cat, st, total);
    if (err != 0)
        return err;
    st = STMT(cat, ST_JOB_IDS);
    if (bind_state(st, state) ||
        sqlite3_bind_int64(st, 2, (sqlite3_int64)limit) ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)offset))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_collect(cat, st, sizeof(int64_t), pm__sql_read_id, NULL,
                           (void **)ids, n);
}

int pm__sqlite_monitor_jobs(pm_catalog_t *cat, int state, size_t limit,
                            size_t offset, pm_job_t **out, size_t *n,
                            int64_t *total)
{
    int64_t *ids = NULL;
    size_t count = 0, k = 0;
    pm_job_t *v = NULL;
    int err;

    *out = NULL;
    *n = 0;
    *total = 0;
    err = pm__sql_tx_begin_read(cat);
    if (err == 0)
        err = job_ids(cat, state, limit, offset, &ids, &count, total);
    if (err == 0 && count > 0 && (v = pm_calloc(count, sizeof(*v))) == NULL)
        err = PM_ENOMEM;
    for (; err == 0 && k < count; k++)
        err = pm_job_get(cat, ids[k], &v[k]);
    err = pm__sql_tx_end(cat, err);
    pm_free(ids);
    if (err != 0) {
        pm_job_list_free(v, k);
        return err;
    }
    *out = v;
    *n = count;
    return 0;
}

static void event_cleanup_v(void *item)
{
    pm_event_cleanup(item);
}

static int read_rejection(sqlite3_stmt *st, void *item)
{
    pm_event_t *e = item;

    memset(e, 0, sizeof(*e));
    e->id = sqlite3_column_int64(st, 0);
    e->at = sqlite3_column_int64(st, 1);
    if (pm__sql_col_str(st, 2, &e->actor) || pm__sql_col_str(st, 3, &e->kind) ||
        pm__sql_col_str(st, 4, &e->detail)) {
        pm_event_cleanup(e);
        return PM_ENOMEM;
    }
    return 0;
}

int pm__sqlite_monitor_rejections(pm_catalog_t *cat, size_t limit,
                                  pm_event_t **out, size_t *n)
{
    sqlite3_stmt *st = STMT(cat, ST_REJECTIONS);

    *out = NULL;
    *n = 0;
    if (pm__sql_bind_limit(st, 1, limit))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_collect(cat, st, sizeof(pm_event_t), read_rejection,
                           event_cleanup_v, (void **)out, n);
}

/* ---- breakdowns ---- */

static int read_count(sqlite3_stmt *st, void *item)
{
    pm_monitor_count_t *c = item;

    c->name = pm_strdup((const char *)sqlite3_column_text(st, 0));
    c->pages = sqlite3_column_int64(st, 1);
    return c->name != NULL ? 0 : PM_ENOMEM;
}

int pm__sqlite_monitor_breakdown(pm_catalog_t *cat, pm_monitor_by_t by,
                                 int64_t since, pm_monitor_count_t **out,
                                 size_t *n)
{
    static const int which[PM_BY_COUNT] = {ST_BY_HOTFOLDER, ST_BY_ACCOUNT,
                                           ST_BY_OPERATOR};
    sqlite3_stmt *st;

    assert(by >= 0 && by < PM_BY_COUNT);
    st = STMT(cat, which[by]);
    if (sqlite3_bind_int64(st, 1, since) ||
        sqlite3_bind_int64(st, 2, PM_MONITOR_BREAKDOWN_MAX))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_collect(cat, st, sizeof(pm_monitor_count_t), read_count,
                           pm__monitor_count_cleanup, (void **)out, n);
}
