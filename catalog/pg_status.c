/*
 * pg_status.c: what the PostgreSQL backend answers for `status`: job and
 * page counts, the recent rate, billable counts, and the workers table
 * each coordinator replaces with its pool's snapshot. The same contract
 * as sqlite_status.c.
 */
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/job_rules.h"
#include "catalog/pg_int.h"
#include "catalog/rules.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_STATUS_JOBS,
    ST_STATUS_PAGES,
    ST_STATUS_RATE,
    ST_WORKERS_CLEAR,
    ST_WORKER_ADD,
    ST_WORKER_LIST,
    ST_BILLABLE_JOB,
    ST_BILLABLE_ALL,
    ST_COUNT
};

static const pm__pgsql_t stmts[ST_COUNT] = {
    [ST_STATUS_JOBS] = {"status_jobs",
                        "SELECT state, count(*) FROM jobs GROUP BY state"},
    /* Pages of held or cancelled jobs are not waiting for workers. */
    [ST_STATUS_PAGES] = {"status_pages",
                         "SELECT t.state, count(*) FROM jobs j JOIN "
                         "page_tasks t ON t.job = j.id WHERE j.state IN "
                         "('queued', 'running') AND t.state IN ('queued', "
                         "'running') GROUP BY t.state"},
    [ST_STATUS_RATE] = {"status_rate",
                        "SELECT count(*) FILTER (WHERE finished_at > "
                        "$2::bigint), count(*) FROM page_tasks WHERE "
                        "finished_at > $1::bigint AND finished_at <= "
                        "$3::bigint"},
    [ST_WORKERS_CLEAR] = {"workers_clear",
                          "DELETE FROM workers WHERE owner = $1"},
    [ST_WORKER_ADD] = {"worker_add",
                       "INSERT INTO workers (owner, slot, pid, state, job, "
                       "page, started_at, updated_at) VALUES ($1, "
                       "$2::bigint, $3::bigint, $4, nullif($5::bigint, 0), "
                       "nullif($6::bigint, 0), $7::bigint, $8::bigint)"},
    [ST_WORKER_LIST] = {"worker_list",
                        "SELECT owner, slot, pid, state, coalesce(job, 0), "
                        "coalesce(page, 0), started_at, updated_at FROM "
                        "workers ORDER BY owner COLLATE \"C\", slot"},
    [ST_BILLABLE_JOB] = {"billable_job",
                         "SELECT count(*) FROM billable_pages b JOIN jobs j "
                         "ON j.id = b.job WHERE b.job = $1::bigint AND "
                         "j.state = 'done' AND ($2::bigint <> 0 OR "
                         "b.blank = 0)"},
    [ST_BILLABLE_ALL] = {"billable_all",
                         "SELECT count(*) FROM billable_pages b JOIN jobs j "
                         "ON j.id = b.job WHERE j.state = 'done' AND "
                         "($1::bigint <> 0 OR b.blank = 0)"},
};

const pm__pgsql_table_t pm__pg_status = {stmts, ST_COUNT};

/* ---- status ---- */

static int status_jobs(pm__pg_t *pg, pm_status_t *s)
{
    PGresult *r;
    int err = pm__pg_run(pg, PM__PG_STATUS, ST_STATUS_JOBS, NULL, &r);

    if (err != 0)
        return err;
    for (int i = 0; i < PQntuples(r); i++)
        pm__status_count_jobs(s, PQgetvalue(r, i, 0), pm__pg_int64(r, i, 1));
    PQclear(r);
    return 0;
}

static int status_pages(pm__pg_t *pg, pm_status_t *s)
{
    PGresult *r;
    int err = pm__pg_run(pg, PM__PG_STATUS, ST_STATUS_PAGES, NULL, &r);

    if (err != 0)
        return err;
    for (int i = 0; i < PQntuples(r); i++)
        pm__status_count_pages(s, PQgetvalue(r, i, 0), pm__pg_int64(r, i, 1));
    PQclear(r);
    return 0;
}

static int status_rate(pm__pg_t *pg, int64_t now, pm_status_t *s)
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    pm__pg_int(&p, now - 3600);
    pm__pg_int(&p, now - 300);
    pm__pg_int(&p, now);
    err = pm__pg_run(pg, PM__PG_STATUS, ST_STATUS_RATE, &p, &r);
    if (err != 0)
        return err;
    s->pages_last_5min = pm__pg_int64(r, 0, 0);
    s->pages_last_60min = pm__pg_int64(r, 0, 1);
    PQclear(r);
    return 0;
}

int pm__pg_catalog_status(pm_catalog_t *cat, int64_t now, pm_status_t *out)
{
    pm__pg_t *pg = pm__pg(cat);
    int err;

    memset(out, 0, sizeof(*out));
    err = pm__pg_tx_begin_read(pg); /* one snapshot for all the numbers */
    if (err == 0)
        err = status_jobs(pg, out);
    if (err == 0)
        err = status_pages(pg, out);
    if (err == 0)
        err = status_rate(pg, now, out);
    err = pm__pg_tx_end(pg, err);
    if (err != 0)
        memset(out, 0, sizeof(*out));
    return err;
}

int pm__pg_billable_count(pm_catalog_t *cat, int64_t job, int bill_blank,
                          int64_t *count)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    *count = 0;
    if (pm__check_job_id(cat, job) != 0)
        return PM_EINVAL;
    if (job != 0)
        pm__pg_int(&p, job);
    pm__pg_int(&p, bill_blank != 0);
    err = pm__pg_run(pg, PM__PG_STATUS,
                     job == 0 ? ST_BILLABLE_ALL : ST_BILLABLE_JOB, &p, &r);
    if (err != 0)
        return err;
    *count = pm__pg_int64(r, 0, 0);
    PQclear(r);
    return 0;
}

/* ---- workers ---- */

static int worker_insert(pm__pg_t *pg, const char *owner,
                         const pm_worker_info_t *w, int64_t now)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_text(&p, owner);
    pm__pg_int(&p, w->slot);
    pm__pg_int(&p, w->pid);
    pm__pg_text(&p, pm_worker_state_name(w->state));
    pm__pg_int(&p, w->job);
    pm__pg_int(&p, w->page);
    pm__pg_int(&p, w->started_at);
    pm__pg_int(&p, now);
    return pm__pg_exec(pg, PM__PG_STATUS, ST_WORKER_ADD, &p, NULL);
}

int pm__pg_worker_report(pm_catalog_t *cat, const char *owner,
                         const pm_worker_info_t *v, size_t n, int64_t now)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    int err;

    if (owner == NULL || (v == NULL && n > 0))
        return pm__pg_msg(pg, PM_EINVAL, "worker report without owner or rows");
    pm__pg_text(&p, owner);
    err = pm__pg_tx_begin(pg);
    if (err != 0)
        return err;
    err = pm__pg_exec(pg, PM__PG_STATUS, ST_WORKERS_CLEAR, &p, NULL);
    for (size_t i = 0; err == 0 && i < n; i++)
        err = worker_insert(pg, owner, &v[i], now);
    return pm__pg_tx_end(pg, err);
}

static void worker_cleanup_v(void *item)
{
    pm_worker_info_t *w = item;

    pm_free(w->owner);
    memset(w, 0, sizeof(*w));
}

static int read_worker(const PGresult *r, int row, void *item)
{
    pm_worker_info_t *w = item;

    memset(w, 0, sizeof(*w));
    w->slot = (int)pm__pg_int64(r, row, 1);
    w->pid = (int)pm__pg_int64(r, row, 2);
    w->state = pm__worker_state_parse(PQgetvalue(r, row, 3));
    w->job = pm__pg_int64(r, row, 4);
    w->page = (int)pm__pg_int64(r, row, 5);
    w->started_at = pm__pg_int64(r, row, 6);
    w->updated_at = pm__pg_int64(r, row, 7);
    return pm__pg_str(r, row, 0, &w->owner);
}

int pm__pg_worker_list(pm_catalog_t *cat, pm_worker_info_t **out, size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    PGresult *r;
    int err;

    *out = NULL;
    *n = 0;
    err = pm__pg_run(pg, PM__PG_STATUS, ST_WORKER_LIST, NULL, &r);
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(pm_worker_info_t), read_worker,
                          worker_cleanup_v, (void **)out, n);
}
