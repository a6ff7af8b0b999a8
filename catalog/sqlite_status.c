/*
 * sqlite_status.c: what the SQLite backend answers for `status`:
 * job and page counts, the recent rate, billable counts, and the workers
 * table each coordinator replaces with its pool's snapshot.
 */
#include <string.h>

#include <sqlite3.h>

#include "catalog/catalog.h"
#include "catalog/job_rules.h"
#include "catalog/sqlite_int.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_STATUS_JOBS,
    ST_STATUS_PAGES,
    ST_STATUS_RATE,
    ST_WORKERS_CLEAR,
    ST_WORKER_ADD,
    ST_WORKER_LIST,
    ST_NODE_LIST,
    ST_COUNT
};

static const pm__sql_t stmts[ST_COUNT] = {
    [ST_STATUS_JOBS] = {"status_jobs",
                        "SELECT state, count(*) FROM jobs GROUP BY state"},
    /* Pages of held or cancelled jobs are not waiting for workers.
     * CROSS JOIN keeps SQLite starting from the few active jobs. */
    [ST_STATUS_PAGES] = {"status_pages",
                         "SELECT t.state, count(*) FROM jobs j CROSS JOIN "
                         "page_tasks t ON t.job = j.id WHERE j.state IN "
                         "('queued', 'running') AND t.state IN ('queued', "
                         "'running') GROUP BY t.state"},
    [ST_STATUS_RATE] = {"status_rate",
                        "SELECT coalesce(sum(finished_at > ?2), 0), count(*) "
                        "FROM page_tasks WHERE finished_at > ?1 "
                        "AND finished_at <= ?3"},
    [ST_WORKERS_CLEAR] = {"workers_clear",
                          "DELETE FROM workers WHERE owner = ?1"},
    [ST_WORKER_ADD] = {"worker_add",
                       "INSERT INTO workers (owner, slot, pid, state, job, "
                       "page, started_at, updated_at, load1) VALUES (?1, ?2, "
                       "?3, ?4, nullif(?5, 0), nullif(?6, 0), ?7, ?8, "
                       "CASE WHEN ?9 >= 0 THEN ?9 END)"},
    [ST_WORKER_LIST] = {"worker_list",
                        "SELECT owner, slot, pid, state, coalesce(job, 0), "
                        "coalesce(page, 0), started_at, updated_at, load1 "
                        "FROM workers ORDER BY owner, slot"},
    /* Per owner: its rows, and the pages done under its lease in
     * (?1, ?2]; then the owners without rows that did pages then. */
    [ST_NODE_LIST] = {"node_list",
                      "WITH w AS (SELECT owner, count(*) AS slots, "
                      "sum(state = 'busy') AS busy, max(updated_at) AS hb, "
                      "max(load1) AS load1 FROM workers GROUP BY owner), "
                      "d AS (SELECT lease_owner AS owner, count(*) AS done "
                      "FROM page_tasks WHERE finished_at > ?1 AND "
                      "finished_at <= ?2 AND state = 'done' AND "
                      "lease_owner IS NOT NULL GROUP BY lease_owner) "
                      "SELECT owner, slots, busy, hb, load1, done FROM "
                      "(SELECT w.owner, w.slots, w.busy, w.hb, "
                      "coalesce(w.load1, -1) AS load1, coalesce(d.done, 0) "
                      "AS done FROM w LEFT JOIN d ON d.owner = w.owner "
                      "UNION ALL SELECT d.owner, 0, 0, 0, -1, d.done FROM d "
                      "WHERE d.owner NOT IN (SELECT owner FROM w)) "
                      "ORDER BY owner"},
};

const pm__sql_table_t pm__sql_status = {stmts, ST_COUNT};

_Static_assert(ST_COUNT <= PM__SQL_MAX, "raise PM__SQL_MAX");

#define STMT(cat, i) pm__stmt((cat), PM__SQL_STATUS, (i))

/* ---- status ---- */

static int status_jobs(pm_catalog_t *cat, pm_status_t *s)
{
    sqlite3_stmt *st = STMT(cat, ST_STATUS_JOBS);
    int rc, err = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        pm__status_count_jobs(s, (const char *)sqlite3_column_text(st, 0),
                              sqlite3_column_int64(st, 1));
    if (rc != SQLITE_DONE)
        err = pm__sql_fail(cat);
    pm__sql_stmt_done(st);
    return err;
}

static int status_pages(pm_catalog_t *cat, pm_status_t *s)
{
    sqlite3_stmt *st = STMT(cat, ST_STATUS_PAGES);
    int rc, err = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        pm__status_count_pages(s, (const char *)sqlite3_column_text(st, 0),
                               sqlite3_column_int64(st, 1));
    if (rc != SQLITE_DONE)
        err = pm__sql_fail(cat);
    pm__sql_stmt_done(st);
    return err;
}

static int status_rate(pm_catalog_t *cat, int64_t now, pm_status_t *s)
{
    sqlite3_stmt *st = STMT(cat, ST_STATUS_RATE);
    int err;

    if (sqlite3_bind_int64(st, 1, now - 3600) ||
        sqlite3_bind_int64(st, 2, now - 300) || sqlite3_bind_int64(st, 3, now))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_first_row(cat, st);
    if (err <= 0)
        return err;
    s->pages_last_5min = sqlite3_column_int64(st, 0);
    s->pages_last_60min = sqlite3_column_int64(st, 1);
    pm__sql_stmt_done(st);
    return 0;
}

int pm__sqlite_catalog_status(pm_catalog_t *cat, int64_t now, pm_status_t *out)
{
    int err;

    memset(out, 0, sizeof(*out));
    err = pm__sql_tx_begin_read(cat); /* one snapshot for all the numbers */
    if (err == 0)
        err = status_jobs(cat, out);
    if (err == 0)
        err = status_pages(cat, out);
    if (err == 0)
        err = status_rate(cat, now, out);
    err = pm__sql_tx_end(cat, err);
    if (err != 0)
        memset(out, 0, sizeof(*out));
    return err;
}

/* ---- workers ---- */

static int worker_insert(pm_catalog_t *cat, const char *owner,
                         const pm_worker_info_t *w, int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_WORKER_ADD);

    if (pm__sql_bind_text(st, 1, owner) || sqlite3_bind_int(st, 2, w->slot) ||
        sqlite3_bind_int(st, 3, w->pid) ||
        pm__sql_bind_text(st, 4, pm_worker_state_name(w->state)) ||
        sqlite3_bind_int64(st, 5, w->job) || sqlite3_bind_int(st, 6, w->page) ||
        sqlite3_bind_int64(st, 7, w->started_at) ||
        sqlite3_bind_int64(st, 8, now) || sqlite3_bind_double(st, 9, w->load1))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

int pm__sqlite_worker_report(pm_catalog_t *cat, const char *owner,
                             const pm_worker_info_t *v, size_t n, int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_WORKERS_CLEAR);
    int err;

    if (owner == NULL || (v == NULL && n > 0))
        return pm__catalog_msg(cat, PM_EINVAL,
                               "worker report without owner or rows");
    err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    if (pm__sql_bind_text(st, 1, owner))
        err = pm__sql_bind_fail(cat, st);
    else
        err = pm__sql_run(cat, st);
    for (size_t i = 0; err == 0 && i < n; i++)
        err = worker_insert(cat, owner, &v[i], now);
    return pm__sql_tx_end(cat, err);
}

static void worker_cleanup_v(void *item)
{
    pm_worker_info_t *w = item;

    pm_free(w->owner);
    memset(w, 0, sizeof(*w));
}

static int read_worker(sqlite3_stmt *st, void *item)
{
    pm_worker_info_t *w = item;

    memset(w, 0, sizeof(*w));
    w->slot = sqlite3_column_int(st, 1);
    w->pid = sqlite3_column_int(st, 2);
    w->state = pm__worker_state_parse((const char *)sqlite3_column_text(st, 3));
    w->job = sqlite3_column_int64(st, 4);
    w->page = sqlite3_column_int(st, 5);
    w->started_at = sqlite3_column_int64(st, 6);
    w->updated_at = sqlite3_column_int64(st, 7);
    w->load1 = sqlite3_column_type(st, 8) == SQLITE_NULL
                   ? -1
                   : sqlite3_column_double(st, 8);
    return pm__sql_col_str(st, 0, &w->owner);
}

int pm__sqlite_worker_list(pm_catalog_t *cat, pm_worker_info_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return pm__sql_collect(cat, STMT(cat, ST_WORKER_LIST),
                           sizeof(pm_worker_info_t), read_worker,
                           worker_cleanup_v, (void **)out, n);
}

void pm_worker_list_free(pm_worker_info_t *v, size_t n)
{
    pm__sql_free_items(v, n, sizeof(*v), worker_cleanup_v);
}

/* ---- nodes ---- */

static int read_node(sqlite3_stmt *st, void *item)
{
    pm_node_info_t *n = item;

    memset(n, 0, sizeof(*n));
    n->slots = sqlite3_column_int(st, 1);
    n->busy = sqlite3_column_int(st, 2);
    n->heartbeat = sqlite3_column_int64(st, 3);
    n->load1 = sqlite3_column_double(st, 4);
    n->pages_hour = sqlite3_column_int64(st, 5);
    return pm__sql_col_str(st, 0, &n->owner);
}

int pm__sqlite_node_list(pm_catalog_t *cat, int64_t now, pm_node_info_t **out,
                         size_t *n)
{
    sqlite3_stmt *st = STMT(cat, ST_NODE_LIST);
    int err;

    *out = NULL;
    *n = 0;
    if (sqlite3_bind_int64(st, 1, now - 3600) || sqlite3_bind_int64(st, 2, now))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_collect(cat, st, sizeof(pm_node_info_t), read_node,
                          pm__node_cleanup, (void **)out, n);
    if (err == 0 && pm__node_fill(*out, *n, now) != 0) {
        pm_node_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        err = pm__catalog_nomem(cat);
    }
    return err;
}
