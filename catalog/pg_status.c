/*
 * pg_status.c: what the PostgreSQL backend answers for `status`: job and
 * page counts, the recent rate, billable counts, and the workers table
 * each coordinator replaces with its pool's snapshot. The same contract
 * as sqlite_status.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/job_rules.h"
#include "catalog/pg_int.h"
#include "catalog/rules.h"
#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_STATUS_JOBS,
    ST_STATUS_PAGES,
    ST_STATUS_RATE,
    ST_WORKERS_SET,
    ST_WORKER_LIST,
    ST_NODE_LIST,
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
    /* An owner's rows replaced in one statement ($2..$8: one array a
     * column, a row a slot): the slots gone deleted, the others inserted
     * or updated. The two touch disjoint slots, so the one snapshot both
     * see does not matter (a DELETE of every row and an INSERT would
     * collide on the key: both see the old rows). */
    [ST_WORKERS_SET] =
        {"workers_set",
         "WITH d AS (DELETE FROM workers WHERE owner = $1 AND slot <> ALL "
         "($2::bigint[])) "
         "INSERT INTO workers (owner, slot, pid, state, job, page, "
         "started_at, updated_at, load1) SELECT $1, slot, pid, state, "
         "nullif(job, 0), nullif(page, 0), started_at, $9::bigint, "
         "CASE WHEN load1 >= 0 THEN load1 END FROM unnest($2::bigint[], "
         "$3::bigint[], $4::text[], $5::bigint[], $6::bigint[], "
         "$7::bigint[], $8::float8[]) AS r(slot, pid, state, job, page, "
         "started_at, load1) "
         "ON CONFLICT (owner, slot) DO UPDATE SET pid = excluded.pid, "
         "state = excluded.state, job = excluded.job, page = excluded.page, "
         "started_at = excluded.started_at, updated_at = excluded.updated_at, "
         "load1 = excluded.load1"},
    [ST_WORKER_LIST] = {"worker_list",
                        "SELECT owner, slot, pid, state, coalesce(job, 0), "
                        "coalesce(page, 0), started_at, updated_at, "
                        "coalesce(load1, -1) FROM workers ORDER BY owner "
                        "COLLATE \"C\", slot"},
    /* As in sqlite_status.c. */
    [ST_NODE_LIST] = {"node_list",
                      "WITH w AS (SELECT owner, count(*) AS slots, "
                      "count(*) FILTER (WHERE state = 'busy') AS busy, "
                      "max(updated_at) AS hb, max(load1) AS load1 FROM "
                      "workers GROUP BY owner), "
                      "d AS (SELECT lease_owner AS owner, count(*) AS done "
                      "FROM page_tasks WHERE finished_at > $1::bigint AND "
                      "finished_at <= $2::bigint AND state = 'done' AND "
                      "lease_owner IS NOT NULL GROUP BY lease_owner) "
                      "SELECT owner, slots, busy, hb, load1, done FROM "
                      "(SELECT w.owner, w.slots, w.busy, w.hb, "
                      "coalesce(w.load1, -1) AS load1, coalesce(d.done, 0) "
                      "AS done FROM w LEFT JOIN d ON d.owner = w.owner "
                      "UNION ALL SELECT d.owner, 0, 0, 0, -1, d.done FROM d "
                      "WHERE d.owner NOT IN (SELECT owner FROM w)) x "
                      "ORDER BY owner COLLATE \"C\""},
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

#define WORKER_COLS 7

/* The arrays of a report's columns, "{...}" each (cols[2]: states). */
static int worker_arrays(const pm_worker_info_t *v, size_t n,
                         pm_buf_t cols[WORKER_COLS])
{
    for (size_t i = 0; i < n; i++) {
        const char *sep = i ? "," : "";

        pm_buf_printf(&cols[0], "%s%d", sep, v[i].slot);
        pm_buf_printf(&cols[1], "%s%d", sep, v[i].pid);
        pm_buf_printf(&cols[2], "%s%s", sep, pm_worker_state_name(v[i].state));
        pm_buf_printf(&cols[3], "%s%lld", sep, (long long)v[i].job);
        pm_buf_printf(&cols[4], "%s%d", sep, v[i].page);
        pm_buf_printf(&cols[5], "%s%lld", sep, (long long)v[i].started_at);
        pm_buf_printf(&cols[6], "%s%.17g", sep, v[i].load1);
    }
    for (int c = 0; c < WORKER_COLS; c++) {
        pm_buf_puts(&cols[c], "}");
        if (cols[c].oom)
            return PM_ENOMEM;
    }
    return 0;
}

/* One statement (workers_set), no transaction: an agent reports often. */
/* Runs (send 0) or sends (pipeline mode, with its Sync) the report. */
static int worker_report(pm__pg_t *pg, const char *owner,
                         const pm_worker_info_t *v, size_t n, int64_t now,
                         int send)
{
    pm__pg_params_t p = {.n = 0};
    pm_buf_t cols[WORKER_COLS] = {{0}};
    const char *name = pm__pg_status.v[ST_WORKERS_SET].name;
    int err;

    if (owner == NULL || (v == NULL && n > 0))
        return pm__pg_msg(pg, PM_EINVAL, "worker report without owner or rows");
    /* One row a slot, as SQLite's key refuses: the one statement would
     * fail on it only as "cannot affect row a second time". */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (v[i].slot == v[j].slot)
                return pm__pg_msg(pg, -EEXIST,
                                  "worker report: slot %d given twice",
                                  v[i].slot);
    for (int c = 0; c < WORKER_COLS; c++)
        pm_buf_puts(&cols[c], "{");
    err = worker_arrays(v, n, cols);
    if (err != 0) {
        err = pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    } else {
        pm__pg_text(&p, owner);
        for (int c = 0; c < WORKER_COLS; c++)
            pm__pg_text(&p, cols[c].s);
        pm__pg_int(&p, now);
        if (!send)
            err = pm__pg_exec(pg, PM__PG_STATUS, ST_WORKERS_SET, &p, NULL);
        else if (PQsendQueryPrepared(pg->conn, name, p.n, p.v, NULL, NULL, 0) !=
                     1 ||
                 PQpipelineSync(pg->conn) != 1)
            err = pm__pg_msg(pg, PM_ECATALOG, "sending the worker report: %s",
                             PQerrorMessage(pg->conn));
    }
    for (int c = 0; c < WORKER_COLS; c++)
        pm_buf_cleanup(&cols[c]);
    return err;
}

int pm__pg_worker_report(pm_catalog_t *cat, const char *owner,
                         const pm_worker_info_t *v, size_t n, int64_t now)
{
    return worker_report(pm__pg(cat), owner, v, n, now, 0);
}

int pm__pg_worker_report_send(pm__pg_t *pg, const char *owner,
                              const pm_worker_info_t *v, size_t n, int64_t now)
{
    return worker_report(pg, owner, v, n, now, 1);
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
    w->load1 = strtod(PQgetvalue(r, row, 8), NULL);
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

/* ---- nodes ---- */

static int read_node(const PGresult *r, int row, void *item)
{
    pm_node_info_t *n = item;

    memset(n, 0, sizeof(*n));
    n->slots = (int)pm__pg_int64(r, row, 1);
    n->busy = (int)pm__pg_int64(r, row, 2);
    n->heartbeat = pm__pg_int64(r, row, 3);
    n->load1 = strtod(PQgetvalue(r, row, 4), NULL);
    n->pages_hour = pm__pg_int64(r, row, 5);
    return pm__pg_str(r, row, 0, &n->owner);
}

int pm__pg_node_list(pm_catalog_t *cat, int64_t now, pm_node_info_t **out,
                     size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    *out = NULL;
    *n = 0;
    pm__pg_int(&p, now - 3600);
    pm__pg_int(&p, now);
    err = pm__pg_run(pg, PM__PG_STATUS, ST_NODE_LIST, &p, &r);
    if (err == 0)
        err = pm__pg_collect(pg, r, sizeof(pm_node_info_t), read_node,
                             pm__node_cleanup, (void **)out, n);
    if (err == 0 && pm__node_fill(*out, *n, now) != 0) {
        pm_node_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        err = pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    }
    return err;
}
