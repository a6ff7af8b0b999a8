/*
 * pg_records.c: the PostgreSQL backend's records of who and for whom:
 * the append-only event trail, accounts and work orders. The same
 * contract as sqlite_records.c (catalog.h); ids come back by RETURNING.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog.h"
#include "catalog/job_rules.h"
#include "catalog/pg_int.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_EVENT_ADD,
    ST_EVENT_LIST_ALL,
    ST_EVENT_LIST_JOB,
    ST_ACCOUNT_ADD,
    ST_ACCOUNT_GET,
    ST_ACCOUNT_LIST,
    ST_WO_ADD,
    ST_WO_GET,
    ST_WO_LIST,
    ST_WO_CLOSE,
    ST_WO_STATUS,
    ST_FEE_COUNT,
    ST_COUNT
};

#define EVENT_COLS \
    "id, at, actor, kind, coalesce(job, 0), coalesce(page, 0), detail"

#define ACCOUNT_COLS \
    "id, code, name, contact, account_number, created_at FROM accounts"

#define WO_COLS                                                       \
    "w.id, w.number, a.code, w.fee_code, w.status, w.notes, "         \
    "w.created_at, coalesce(w.closed_at, 0) FROM work_orders w JOIN " \
    "accounts a ON a.id = w.account_id"

static const pm__pgsql_t stmts[ST_COUNT] = {
    [ST_EVENT_ADD] = {"event_add",
                      "INSERT INTO events (at, actor, kind, job, page, "
                      "detail) VALUES ($1::bigint, $2, $3, "
                      "nullif($4::bigint, 0), nullif($5::bigint, 0), $6)"},
    /* The latest $1 events (NULL: all), shown oldest first. */
    [ST_EVENT_LIST_ALL] = {"event_list_all",
                           "SELECT " EVENT_COLS " FROM (SELECT * FROM events "
                           "ORDER BY id DESC LIMIT $1::bigint) e ORDER BY id"},
    [ST_EVENT_LIST_JOB] = {"event_list_job",
                           "SELECT " EVENT_COLS " FROM (SELECT * FROM events "
                           "WHERE job = $2::bigint ORDER BY id DESC "
                           "LIMIT $1::bigint) e ORDER BY id"},
    [ST_ACCOUNT_ADD] = {"account_add",
                        "INSERT INTO accounts (code, name, contact, "
                        "account_number, created_at) "
                        "VALUES ($1, $2, $3, $4, $5::bigint) RETURNING id"},
    [ST_ACCOUNT_GET] = {"account_get",
                        "SELECT " ACCOUNT_COLS " WHERE code = $1"},
    /* COLLATE "C": byte order, as SQLite sorts. */
    [ST_ACCOUNT_LIST] = {"account_list",
                         "SELECT " ACCOUNT_COLS " ORDER BY code COLLATE \"C\""},
    /* Inserts nothing when the account is unknown. */
    [ST_WO_ADD] = {"workorder_add",
                   "INSERT INTO work_orders (number, account_id, fee_code, "
                   "notes, created_at) SELECT $1, id, $3, $4, $5::bigint "
                   "FROM accounts WHERE code = $2 RETURNING id"},
    [ST_WO_GET] = {"workorder_get", "SELECT " WO_COLS " WHERE w.number = $1"},
    [ST_WO_LIST] = {"workorder_list",
                    "SELECT " WO_COLS " WHERE $1::text IS NULL OR a.code = $1 "
                    "ORDER BY w.number COLLATE \"C\""},
    [ST_WO_CLOSE] = {"workorder_close",
                     "UPDATE work_orders SET status = 'closed', "
                     "closed_at = $2::bigint WHERE number = $1 AND "
                     "status = 'open'"},
    [ST_WO_STATUS] = {"workorder_status",
                      "SELECT status FROM work_orders WHERE number = $1"},
    [ST_FEE_COUNT] = {"fee_count",
                      "SELECT count(*) FROM fee_codes WHERE code = $1"},
};

const pm__pgsql_table_t pm__pg_records = {stmts, ST_COUNT};

/* ---- shared ---- */

static int64_t wall_clock(void)
{
    return (int64_t)time(NULL);
}

/* Runs an INSERT ... RETURNING id; *id is the new row's. */
static int insert_returning(pm__pg_t *pg, int i, const pm__pg_params_t *p,
                            int64_t *id)
{
    PGresult *r;
    int err = pm__pg_run(pg, PM__PG_RECORDS, i, p, &r);

    *id = 0;
    if (err != 0)
        return err;
    if (PQntuples(r) == 1)
        *id = pm__pg_int64(r, 0, 0);
    PQclear(r);
    return 0;
}

/* ---- events ---- */

static void event_cleanup_v(void *item)
{
    pm_event_cleanup(item);
}

static int read_event(const PGresult *r, int row, void *item)
{
    pm_event_t *e = item;

    memset(e, 0, sizeof(*e));
    e->id = pm__pg_int64(r, row, 0);
    e->at = pm__pg_int64(r, row, 1);
    e->job = pm__pg_int64(r, row, 4);
    e->page = (int)pm__pg_int64(r, row, 5);
    if (pm__pg_str(r, row, 2, &e->actor) || pm__pg_str(r, row, 3, &e->kind) ||
        pm__pg_str(r, row, 6, &e->detail)) {
        pm_event_cleanup(e);
        return PM_ENOMEM;
    }
    return 0;
}

int pm__pg_event_insert(pm__pg_t *pg, int64_t at, const char *actor,
                        const char *kind, int64_t job, int page,
                        const char *detail)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_int(&p, at);
    pm__pg_text(&p, actor);
    pm__pg_text(&p, kind);
    pm__pg_int(&p, job);
    pm__pg_int(&p, page);
    pm__pg_text(&p, detail);
    return pm__pg_exec(pg, PM__PG_RECORDS, ST_EVENT_ADD, &p, NULL);
}

int pm__pg_event_add(pm_catalog_t *cat, const char *actor, const char *kind,
                     int64_t job, int page, const char *detail)
{
    pm__pg_t *pg = pm__pg(cat);
    int err;

    err = pm__check_event(cat, actor, kind, job, page);
    if (err != 0)
        return err;
    err = pm__pg_event_insert(pg, wall_clock(), actor, kind, job, page, detail);
    if (err == PM_ENOENT)
        pm__pg_msg(pg, err, "no job %lld", (long long)job);
    return err;
}

int pm__pg_event_list(pm_catalog_t *cat, int64_t job, size_t limit,
                      pm_event_t **out, size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    *out = NULL;
    *n = 0;
    if (pm__check_job_id(cat, job) != 0)
        return PM_EINVAL;
    pm__pg_limit(&p, limit);
    if (job != 0)
        pm__pg_int(&p, job);
    err = pm__pg_run(pg, PM__PG_RECORDS,
                     job == 0 ? ST_EVENT_LIST_ALL : ST_EVENT_LIST_JOB, &p, &r);
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(pm_event_t), read_event,
                          event_cleanup_v, (void **)out, n);
}

/* ---- accounts ---- */

static void account_cleanup_v(void *item)
{
    pm_account_cleanup(item);
}

static int read_account(const PGresult *r, int row, void *item)
{
    pm_account_t *a = item;

    memset(a, 0, sizeof(*a));
    a->id = pm__pg_int64(r, row, 0);
    a->created_at = pm__pg_int64(r, row, 5);
    if (pm__pg_str(r, row, 1, &a->code) || pm__pg_str(r, row, 2, &a->name) ||
        pm__pg_str(r, row, 3, &a->contact) ||
        pm__pg_str(r, row, 4, &a->account_number)) {
        pm_account_cleanup(a);
        return PM_ENOMEM;
    }
    return 0;
}

int pm__pg_account_add(pm_catalog_t *cat, const pm_account_t *a,
                       const char *actor, int64_t *id)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    int64_t now = wall_clock(), new_id = 0;
    int err;

    *id = 0;
    err = pm__check_account(cat, a, actor);
    if (err != 0)
        return err;
    pm__pg_text(&p, a->code);
    pm__pg_text(&p, a->name);
    pm__pg_text(&p, a->contact);
    pm__pg_text(&p, a->account_number);
    pm__pg_int(&p, now);
    err = pm__pg_tx_begin(pg);
    if (err != 0)
        return err;
    err = insert_returning(pg, ST_ACCOUNT_ADD, &p, &new_id);
    if (err == -EEXIST)
        pm__pg_msg(pg, err, "account %s already exists", a->code);
    if (err == 0)
        err =
            pm__pg_event_insert(pg, now, actor, "account.added", 0, 0, a->code);
    err = pm__pg_tx_end(pg, err);
    if (err == 0)
        *id = new_id;
    return err;
}

int pm__pg_account_get(pm_catalog_t *cat, const char *code, pm_account_t *out)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    int err;

    memset(out, 0, sizeof(*out));
    pm__pg_text(&p, code);
    err = pm__pg_get_one(pg, PM__PG_RECORDS, ST_ACCOUNT_GET, &p, read_account,
                         out);
    if (err == PM_ENOENT)
        pm__pg_msg(pg, err, "no account %s", code ? code : "(null)");
    return err;
}

int pm__pg_account_list(pm_catalog_t *cat, pm_account_t **out, size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    PGresult *r;
    int err;

    *out = NULL;
    *n = 0;
    err = pm__pg_run(pg, PM__PG_RECORDS, ST_ACCOUNT_LIST, NULL, &r);
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(pm_account_t), read_account,
                          account_cleanup_v, (void **)out, n);
}

/* ---- work orders ---- */

static void workorder_cleanup_v(void *item)
{
    pm_workorder_cleanup(item);
}

static int read_workorder(const PGresult *r, int row, void *item)
{
    pm_workorder_t *w = item;

    memset(w, 0, sizeof(*w));
    w->id = pm__pg_int64(r, row, 0);
    w->created_at = pm__pg_int64(r, row, 6);
    w->closed_at = pm__pg_int64(r, row, 7);
    if (pm__pg_str(r, row, 1, &w->number) ||
        pm__pg_str(r, row, 2, &w->account) ||
        pm__pg_str(r, row, 3, &w->fee_code) ||
        pm__pg_str(r, row, 4, &w->status) || pm__pg_str(r, row, 5, &w->notes)) {
        pm_workorder_cleanup(w);
        return PM_ENOMEM;
    }
    return 0;
}

/* PM_ENOENT (with the message) unless fee code `code` has a price. */
static int fee_exists(pm__pg_t *pg, const char *code)
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    pm__pg_text(&p, code);
    err = pm__pg_run(pg, PM__PG_RECORDS, ST_FEE_COUNT, &p, &r);
    if (err != 0)
        return err;
    if (pm__pg_int64(r, 0, 0) == 0)
        err = pm__pg_msg(pg, PM_ENOENT, "no fee code %s", code);
    PQclear(r);
    return err;
}

int pm__pg_workorder_add(pm_catalog_t *cat, const pm_workorder_t *w,
                         const char *actor, int64_t *id)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    int64_t now = wall_clock(), new_id = 0;
    int err;

    *id = 0;
    err = pm__check_workorder(cat, w, actor);
    if (err != 0)
        return err;
    pm__pg_text(&p, w->number);
    pm__pg_text(&p, w->account);
    pm__pg_text(&p, w->fee_code);
    pm__pg_text(&p, w->notes);
    pm__pg_int(&p, now);
    err = pm__pg_tx_begin(pg);
    if (err != 0)
        return err;
    if (w->fee_code != NULL)
        err = fee_exists(pg, w->fee_code);
    if (err == 0)
        err = insert_returning(pg, ST_WO_ADD, &p, &new_id);
    if (err == -EEXIST)
        pm__pg_msg(pg, err, "work order %s already exists", w->number);
    if (err == 0 && new_id == 0)
        err = pm__pg_msg(pg, PM_ENOENT, "no account %s", w->account);
    if (err == 0)
        err = pm__pg_event_insert(pg, now, actor, "workorder.added", 0, 0,
                                  w->number);
    err = pm__pg_tx_end(pg, err);
    if (err == 0)
        *id = new_id;
    return err;
}

int pm__pg_workorder_get(pm_catalog_t *cat, const char *number,
                         pm_workorder_t *out)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    int err;

    memset(out, 0, sizeof(*out));
    pm__pg_text(&p, number);
    err =
        pm__pg_get_one(pg, PM__PG_RECORDS, ST_WO_GET, &p, read_workorder, out);
    if (err == PM_ENOENT)
        pm__pg_msg(pg, err, "no work order %s", number ? number : "(null)");
    return err;
}

int pm__pg_workorder_list(pm_catalog_t *cat, const char *account,
                          pm_workorder_t **out, size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    *out = NULL;
    *n = 0;
    pm__pg_text(&p, account);
    err = pm__pg_run(pg, PM__PG_RECORDS, ST_WO_LIST, &p, &r);
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(pm_workorder_t), read_workorder,
                          workorder_cleanup_v, (void **)out, n);
}

/* Why a work order could not be closed: missing, or closed already. */
static int workorder_not_open(pm__pg_t *pg, const char *number)
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    pm__pg_text(&p, number);
    err = pm__pg_run(pg, PM__PG_RECORDS, ST_WO_STATUS, &p, &r);
    if (err != 0)
        return err;
    if (PQntuples(r) == 0)
        err = pm__pg_msg(pg, PM_ENOENT, "no work order %s", number);
    else
        err = pm__pg_msg(pg, PM_EINVAL, "work order %s is already closed",
                         number);
    PQclear(r);
    return err;
}

int pm__pg_workorder_close(pm_catalog_t *cat, const char *number,
                           const char *actor)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    int64_t now = wall_clock();
    int changes = 0, err;

    err = pm__check_workorder_close(cat, number, actor);
    if (err != 0)
        return err;
    pm__pg_text(&p, number);
    pm__pg_int(&p, now);
    err = pm__pg_tx_begin(pg);
    if (err != 0)
        return err;
    err = pm__pg_exec(pg, PM__PG_RECORDS, ST_WO_CLOSE, &p, &changes);
    if (err == 0 && changes == 0)
        err = workorder_not_open(pg, number);
    if (err == 0)
        err = pm__pg_event_insert(pg, now, actor, "workorder.closed", 0, 0,
                                  number);
    return pm__pg_tx_end(pg, err);
}
