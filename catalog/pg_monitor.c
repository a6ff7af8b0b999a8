/*
 * pg_monitor.c: the catalog reads of the web interface and `status` on
 * the PostgreSQL backend, the same contract as monitor.c on SQLite
 * (monitor.h); the access tokens are the ledger's neighbours, not here.
 * The histograms' buckets and the rejection reasons are
 * monitor_common.c's, shared with SQLite.
 *
 * SQLite reads every done page's stage times and buckets them in C; over
 * a network that would ship the whole table, so here the server groups
 * the times by their first bucket (width_bucket against the bounds, which
 * are passed in, never written twice) and C adds the groups up with the
 * same rule.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/monitor.h"
#include "catalog/monitor_int.h"
#include "catalog/pg_int.h"
#include "catalog/rules.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
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

/* Pages done since $1 by a column of their job: at most $2 names, the
 * busiest first, then by name as SQLite orders text (bytes). */
#define BY(col)                                                           \
    "SELECT name, count(*) FROM (SELECT coalesce(" col ", '') AS name "   \
    "FROM page_tasks t JOIN jobs j ON j.id = t.job WHERE t.state = "      \
    "'done' AND t.finished_at >= $1::bigint) d GROUP BY name ORDER BY 2 " \
    "DESC, name COLLATE \"C\" LIMIT $2::bigint"

static const pm__pgsql_t stmts[ST_COUNT] = {
    [ST_PAGE_COUNTS] = {"monitor_pages",
                        "SELECT state, count(*) FROM page_tasks GROUP BY "
                        "state"},
    [ST_JOB_COUNTS] = {"monitor_jobs",
                       "SELECT state, count(*) FROM jobs GROUP BY state"},
    [ST_TOTALS] = {"monitor_totals",
                   "SELECT (SELECT count(*) FROM billable_pages b JOIN jobs j "
                   "ON j.id = b.job WHERE j.state = 'done' AND (b.blank = 0 "
                   "OR j.bill_blank = 1)), (SELECT count(*) FROM page_tasks "
                   "WHERE state = 'done' AND blank = 1), coalesce((SELECT "
                   "min(j.created_at) FROM jobs j WHERE j.state IN "
                   "('queued', 'running') AND EXISTS (SELECT 1 FROM "
                   "page_tasks t WHERE t.state = 'queued' AND t.job = "
                   "j.id)), 0), (SELECT count(*) FROM page_tasks WHERE "
                   "state = 'done' AND blank = 0 AND confidence < 50)"},
    /* Each done page's stage times, grouped by (stage, how many bucket
     * bounds are at or above the time): $1 is the bounds negated, in
     * ascending order, so width_bucket counts exactly those. NULL and
     * NaN are no time (SQLite stores NaN as NULL). */
    [ST_STAGES] = {"monitor_stages",
                   "SELECT x.s, width_bucket(-x.v, $1::float8[]), count(*), "
                   "sum(x.v) FROM page_tasks t CROSS JOIN LATERAL (VALUES "
                   "(0, t.ms_decode), (1, t.ms_orient), (2, t.ms_deskew), "
                   "(3, t.ms_blank), (4, t.ms_ocr), (5, t.ms_encode), (6, "
                   "t.ms_total)) AS x(s, v) WHERE t.state = 'done' AND x.v "
                   "IS NOT NULL AND x.v <> 'NaN'::float8 GROUP BY 1, 2"},
    [ST_THROUGHPUT] = {"monitor_throughput",
                       "SELECT (finished_at - $1::bigint) / 60, count(*) "
                       "FROM page_tasks WHERE finished_at >= $1::bigint AND "
                       "finished_at < $2::bigint GROUP BY 1"},
    [ST_JOB_TOTAL] = {"monitor_job_total",
                      "SELECT count(*) FROM jobs WHERE $1::text IS NULL OR "
                      "state = $1::text"},
    [ST_JOB_IDS] = {"monitor_job_ids",
                    "SELECT id FROM jobs WHERE $1::text IS NULL OR state = "
                    "$1::text ORDER BY id DESC LIMIT $2::bigint OFFSET "
                    "$3::bigint"},
    [ST_REJECTIONS] = {"monitor_rejections",
                       "SELECT id, at, actor, kind, detail FROM events WHERE "
                       "kind = 'batch.rejected' ORDER BY id DESC LIMIT "
                       "$1::bigint"},
    [ST_BY_HOTFOLDER] = {"monitor_by_hotfolder", BY("j.hotfolder")},
    [ST_BY_ACCOUNT] = {"monitor_by_account",
                       BY("j.account, (SELECT a.code FROM work_orders w JOIN "
                          "accounts a ON a.id = w.account_id WHERE w.number = "
                          "j.workorder)")},
    [ST_BY_OPERATOR] = {"monitor_by_operator", BY("j.operator_name")},
};

const pm__pgsql_table_t pm__pg_monitor = {stmts, ST_COUNT};

/* ---- counts ---- */

static int read_counts(pm__pg_t *pg, pm_monitor_t *m)
{
    PGresult *r;
    int err = pm__pg_run(pg, PM__PG_MONITOR, ST_PAGE_COUNTS, NULL, &r), s;

    if (err != 0)
        return err;
    for (int i = 0; i < PQntuples(r); i++)
        if ((s = pm_task_state_parse(PQgetvalue(r, i, 0))) >= 0 && s < 4)
            m->pages[s] = pm__pg_int64(r, i, 1);
    PQclear(r);
    err = pm__pg_run(pg, PM__PG_MONITOR, ST_JOB_COUNTS, NULL, &r);
    if (err != 0)
        return err;
    for (int i = 0; i < PQntuples(r); i++)
        if ((s = pm_job_state_parse(PQgetvalue(r, i, 0))) >= 0 && s < 8)
            m->jobs[s] = pm__pg_int64(r, i, 1);
    PQclear(r);
    return 0;
}

static int read_totals(pm__pg_t *pg, pm_monitor_t *m)
{
    PGresult *r;
    int err = pm__pg_run(pg, PM__PG_MONITOR, ST_TOTALS, NULL, &r);

    if (err != 0)
        return err;
    m->billable_pages = pm__pg_int64(r, 0, 0);
    m->blank_pages = pm__pg_int64(r, 0, 1);
    m->queue_oldest_at = pm__pg_int64(r, 0, 2);
    m->low_confidence = pm__pg_int64(r, 0, 3);
    PQclear(r);
    return 0;
}

/* The bucket bounds negated, ascending, as a float8[] literal. */
static void negated_bounds(char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (int b = PM_STAGE_BUCKETS - 1; b >= 0 && len < size; b--)
        len += (size_t)snprintf(buf + len, size - len, "%s%.17g",
                                b == PM_STAGE_BUCKETS - 1 ? "{" : ",",
                                -pm_stage_bucket_ms[b]);
    if (len < size)
        snprintf(buf + len, size - len, "}");
}

static int read_stages(pm__pg_t *pg, pm_monitor_t *m)
{
    pm__pg_params_t p = {.n = 0};
    char bounds[PM_STAGE_BUCKETS * 26 + 4];
    PGresult *r;
    int err;

    negated_bounds(bounds, sizeof(bounds));
    pm__pg_text(&p, bounds);
    err = pm__pg_run(pg, PM__PG_MONITOR, ST_STAGES, &p, &r);
    if (err != 0)
        return err;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t s = pm__pg_int64(r, i, 0), at_or_above = pm__pg_int64(r, i, 1);
        double sum = 0;

        if (s < 0 || s >= PM_STAGES || at_or_above < 0 ||
            at_or_above > PM_STAGE_BUCKETS)
            continue; /* cannot happen: the SQL's own numbers */
        sscanf(PQgetvalue(r, i, 3), "%lf", &sum);
        pm__stage_hist_add(&m->stages[s], PM_STAGE_BUCKETS - (int)at_or_above,
                           pm__pg_int64(r, i, 2), sum);
    }
    PQclear(r);
    return 0;
}

/* Counts and totals, and (stages) the stage histograms; one snapshot for
 * all the numbers. */
static int monitor_read(pm_catalog_t *cat, pm_monitor_t *out, int stages)
{
    pm__pg_t *pg = pm__pg(cat);
    int err;

    memset(out, 0, sizeof(*out));
    err = pm__pg_tx_begin_read(pg);
    if (err == 0)
        err = read_counts(pg, out);
    if (err == 0)
        err = read_totals(pg, out);
    if (err == 0 && stages)
        err = read_stages(pg, out);
    err = pm__pg_tx_end(pg, err);
    if (err != 0)
        memset(out, 0, sizeof(*out));
    return err;
}

int pm__pg_monitor_read(pm_catalog_t *cat, pm_monitor_t *out)
{
    return monitor_read(cat, out, 1);
}

int pm__pg_monitor_counts(pm_catalog_t *cat, pm_monitor_t *out)
{
    return monitor_read(cat, out, 0);
}

int pm__pg_monitor_throughput(pm_catalog_t *cat, int64_t now, int n,
                              int64_t *counts)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    assert(n > 0);
    memset(counts, 0, (size_t)n * sizeof(*counts));
    pm__pg_int(&p, now - (int64_t)n * 60);
    pm__pg_int(&p, now);
    err = pm__pg_run(pg, PM__PG_MONITOR, ST_THROUGHPUT, &p, &r);
    if (err != 0)
        return err;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t minute = pm__pg_int64(r, i, 0);

        if (minute >= 0 && minute < n)
            counts[minute] = pm__pg_int64(r, i, 1);
    }
    PQclear(r);
    return 0;
}

/* ---- lists ---- */

/* A size as a BIGINT parameter (clamped). */
static void size_param(pm__pg_params_t *p, size_t v)
{
    pm__pg_int(p, v > (size_t)INT64_MAX ? INT64_MAX : (int64_t)v);
}

static int read_id(const PGresult *r, int row, void *item)
{
    *(int64_t *)item = pm__pg_int64(r, row, 0);
    return 0;
}

static int job_ids(pm__pg_t *pg, int state, size_t limit, size_t offset,
                   int64_t **ids, size_t *n, int64_t *total)
{
    const char *name =
        state < 0 ? NULL : pm_job_state_name((pm_job_state_t)state);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    pm__pg_text(&p, name);
    err = pm__pg_run(pg, PM__PG_MONITOR, ST_JOB_TOTAL, &p, &r);
    if (err != 0)
        return err;
    *total = pm__pg_int64(r, 0, 0);
    PQclear(r);
    size_param(&p, limit);
    size_param(&p, offset);
    err = pm__pg_run(pg, PM__PG_MONITOR, ST_JOB_IDS, &p, &r);
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(int64_t), read_id, NULL, (void **)ids,
                          n);
}

int pm__pg_monitor_jobs(pm_catalog_t *cat, int state, size_t limit,
                        size_t offset, pm_job_t **out, size_t *n,
                        int64_t *total)
{
    pm__pg_t *pg = pm__pg(cat);
    int64_t *ids = NULL;
    size_t count = 0, k = 0;
    pm_job_t *v = NULL;
    int err;

    *out = NULL;
    *n = 0;
    *total = 0;
    err = pm__pg_tx_begin_read(pg); /* the total and the page agree */
    if (err == 0)
        err = job_ids(pg, state, limit, offset, &ids, &count, total);
    if (err == 0 && count > 0 && (v = pm_calloc(count, sizeof(*v))) == NULL)
        err = pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    for (; err == 0 && k < count; k++)
        err = pm__pg_job_get(cat, ids[k], &v[k]);
    err = pm__pg_tx_end(pg, err);
    pm_free(ids);
    if (err != 0) {
        pm_job_list_free(v, k);
        *total = 0;
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

static int read_rejection(const PGresult *r, int row, void *item)
{
    pm_event_t *e = item;

    memset(e, 0, sizeof(*e));
    e->id = pm__pg_int64(r, row, 0);
    e->at = pm__pg_int64(r, row, 1);
    if (pm__pg_str(r, row, 2, &e->actor) || pm__pg_str(r, row, 3, &e->kind) ||
        pm__pg_str(r, row, 4, &e->detail)) {
        pm_event_cleanup(e);
        return PM_ENOMEM;
    }
    return 0;
}

int pm__pg_monitor_rejections(pm_catalog_t *cat, size_t limit, pm_event_t **out,
                              size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    *out = NULL;
    *n = 0;
    pm__pg_limit(&p, limit);
    err = pm__pg_run(pg, PM__PG_MONITOR, ST_REJECTIONS, &p, &r);
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(pm_event_t), read_rejection,
                          event_cleanup_v, (void **)out, n);
}

/* ---- breakdowns ---- */

static int read_count(const PGresult *r, int row, void *item)
{
    pm_monitor_count_t *c = item;

    c->pages = pm__pg_int64(r, row, 1);
    return pm__pg_str(r, row, 0, &c->name);
}

int pm__pg_monitor_breakdown(pm_catalog_t *cat, pm_monitor_by_t by,
                             int64_t since, pm_monitor_count_t **out, size_t *n)
{
    static const int which[PM_BY_COUNT] = {ST_BY_HOTFOLDER, ST_BY_ACCOUNT,
                                           ST_BY_OPERATOR};
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    assert(by >= 0 && by < PM_BY_COUNT);
    *out = NULL;
    *n = 0;
    pm__pg_int(&p, since);
    pm__pg_int(&p, PM_MONITOR_BREAKDOWN_MAX);
    err = pm__pg_run(pg, PM__PG_MONITOR, which[by], &p, &r);
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(pm_monitor_count_t), read_count,
                          pm__monitor_count_cleanup, (void **)out, n);
}
