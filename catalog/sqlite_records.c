/*
 * sqlite_records.c: the SQLite backend's records of who and for
 * whom: the append-only event trail, accounts and work orders.
 */
#include <errno.h>
#include <string.h>

#include <sqlite3.h>

#include "catalog/catalog.h"
#include "catalog/job_rules.h"
#include "catalog/sqlite_int.h"
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

#define WO_COLS                                                       \
    "w.id, w.number, a.code, w.fee_code, w.status, w.notes, "         \
    "w.created_at, coalesce(w.closed_at, 0) FROM work_orders w JOIN " \
    "accounts a ON a.id = w.account_id"

static const pm__sql_t stmts[ST_COUNT] = {
    [ST_EVENT_ADD] = {"event_add",
                      "INSERT INTO events (at, actor, kind, job, page, "
                      "detail) VALUES (?1, ?2, ?3, nullif(?4, 0), "
                      "nullif(?5, 0), ?6)"},
    /* The latest ?1 events (-1: all), shown oldest first. */
    [ST_EVENT_LIST_ALL] = {"event_list_all",
                           "SELECT " EVENT_COLS " FROM (SELECT * FROM events "
                           "ORDER BY id DESC LIMIT ?1) ORDER BY id"},
    [ST_EVENT_LIST_JOB] = {"event_list_job",
                           "SELECT " EVENT_COLS " FROM (SELECT * FROM events "
                           "WHERE job = ?2 ORDER BY id DESC LIMIT ?1) "
                           "ORDER BY id"},
    [ST_ACCOUNT_ADD] = {"account_add",
                        "INSERT INTO accounts (code, name, contact, "
                        "account_number, created_at) "
                        "VALUES (?1, ?2, ?3, ?4, ?5)"},
    [ST_ACCOUNT_GET] = {"account_get",
                        "SELECT id, code, name, contact, account_number, "
                        "created_at FROM accounts WHERE code = ?1"},
    [ST_ACCOUNT_LIST] = {"account_list",
                         "SELECT id, code, name, contact, account_number, "
                         "created_at FROM accounts ORDER BY code"},
    /* Inserts nothing when the account is unknown. */
    [ST_WO_ADD] = {"workorder_add",
                   "INSERT INTO work_orders (number, account_id, fee_code, "
                   "notes, created_at) SELECT ?1, id, ?3, ?4, ?5 "
                   "FROM accounts WHERE code = ?2"},
    [ST_WO_GET] = {"workorder_get", "SELECT " WO_COLS " WHERE w.number = ?1"},
    [ST_WO_LIST] = {"workorder_list",
                    "SELECT " WO_COLS " WHERE ?1 IS NULL OR a.code = ?1 "
                    "ORDER BY w.number"},
    [ST_WO_CLOSE] = {"workorder_close",
                     "UPDATE work_orders SET status = 'closed', "
                     "closed_at = ?2 WHERE number = ?1 AND status = 'open'"},
    [ST_WO_STATUS] = {"workorder_status",
                      "SELECT status FROM work_orders WHERE number = ?1"},
    [ST_FEE_COUNT] = {"fee_count",
                      "SELECT count(*) FROM fee_codes WHERE code = ?1"},
};

const pm__sql_table_t pm__sql_records = {stmts, ST_COUNT};

_Static_assert(ST_COUNT <= PM__SQL_MAX, "raise PM__SQL_MAX");

#define STMT(cat, i) pm__stmt((cat), PM__SQL_RECORDS, (i))

/* ---- events ---- */

void pm_event_cleanup(pm_event_t *e)
{
    if (e == NULL)
        return;
    pm_free(e->actor);
    pm_free(e->kind);
    pm_free(e->detail);
    memset(e, 0, sizeof(*e));
}

static void event_cleanup_v(void *item)
{
    pm_event_cleanup(item);
}

static int read_event(sqlite3_stmt *st, void *item)
{
    pm_event_t *e = item;

    memset(e, 0, sizeof(*e));
    e->id = sqlite3_column_int64(st, 0);
    e->at = sqlite3_column_int64(st, 1);
    e->job = sqlite3_column_int64(st, 4);
    e->page = sqlite3_column_int(st, 5);
    if (pm__sql_col_str(st, 2, &e->actor) || pm__sql_col_str(st, 3, &e->kind) ||
        pm__sql_col_str(st, 6, &e->detail)) {
        pm_event_cleanup(e);
        return PM_ENOMEM;
    }
    return 0;
}

/* Inserts an event inside the caller's transaction. */
int pm__event_insert(pm_catalog_t *cat, int64_t at, const char *actor,
                     const char *kind, int64_t job, int page,
                     const char *detail)
{
    sqlite3_stmt *st = STMT(cat, ST_EVENT_ADD);

    if (sqlite3_bind_int64(st, 1, at) || pm__sql_bind_text(st, 2, actor) ||
        pm__sql_bind_text(st, 3, kind) || sqlite3_bind_int64(st, 4, job) ||
        sqlite3_bind_int(st, 5, page) || pm__sql_bind_text(st, 6, detail))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

int pm__sqlite_event_add(pm_catalog_t *cat, const char *actor, const char *kind,
                         int64_t job, int page, const char *detail)
{
    int err = pm__check_event(cat, actor, kind, job, page);

    if (err != 0)
        return err;
    err =
        pm__event_insert(cat, pm__wall_clock(), actor, kind, job, page, detail);
    if (err == PM_ENOENT)
        pm__catalog_msg(cat, err, "no job %lld", (long long)job);
    return err;
}

int pm__sqlite_event_list(pm_catalog_t *cat, int64_t job, size_t limit,
                          pm_event_t **out, size_t *n)
{
    sqlite3_stmt *st;

    *out = NULL;
    *n = 0;
    if (pm__check_job_id(cat, job) != 0)
        return PM_EINVAL;
    st = STMT(cat, job == 0 ? ST_EVENT_LIST_ALL : ST_EVENT_LIST_JOB);
    if (pm__sql_bind_limit(st, 1, limit) ||
        (job != 0 && sqlite3_bind_int64(st, 2, job)))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_collect(cat, st, sizeof(pm_event_t), read_event,
                           event_cleanup_v, (void **)out, n);
}

void pm_event_list_free(pm_event_t *v, size_t n)
{
    pm__sql_free_items(v, n, sizeof(*v), event_cleanup_v);
}

/* ---- accounts ---- */

void pm_account_cleanup(pm_account_t *a)
{
    if (a == NULL)
        return;
    pm_free(a->code);
    pm_free(a->name);
    pm_free(a->contact);
    pm_free(a->account_number);
    memset(a, 0, sizeof(*a));
}

static void account_cleanup_v(void *item)
{
    pm_account_cleanup(item);
}

static int read_account(sqlite3_stmt *st, void *item)
{
    pm_account_t *a = item;

    memset(a, 0, sizeof(*a));
    a->id = sqlite3_column_int64(st, 0);
    a->created_at = sqlite3_column_int64(st, 5);
    if (pm__sql_col_str(st, 1, &a->code) || pm__sql_col_str(st, 2, &a->name) ||
        pm__sql_col_str(st, 3, &a->contact) ||
        pm__sql_col_str(st, 4, &a->account_number)) {
        pm_account_cleanup(a);
        return PM_ENOMEM;
    }
    return 0;
}

int pm__sqlite_account_add(pm_catalog_t *cat, const pm_account_t *a,
                           const char *actor, int64_t *id)
{
    sqlite3_stmt *st = STMT(cat, ST_ACCOUNT_ADD);
    int64_t now = pm__wall_clock(), new_id = 0;
    int err;

    *id = 0;
    err = pm__check_account(cat, a, actor);
    if (err == 0)
        err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    if (pm__sql_bind_text(st, 1, a->code) ||
        pm__sql_bind_text(st, 2, a->name) ||
        pm__sql_bind_text(st, 3, a->contact) ||
        pm__sql_bind_text(st, 4, a->account_number) ||
        sqlite3_bind_int64(st, 5, now))
        err = pm__sql_bind_fail(cat, st);
    else
        err = pm__sql_run(cat, st);
    if (err == -EEXIST)
        pm__catalog_msg(cat, err, "account %s already exists", a->code);
    new_id = sqlite3_last_insert_rowid(cat->db);
    if (err == 0)
        err = pm__event_insert(cat, now, actor, "account.added", 0, 0, a->code);
    err = pm__sql_tx_end(cat, err);
    if (err == 0)
        *id = new_id;
    return err;
}

int pm__sqlite_account_get(pm_catalog_t *cat, const char *code,
                           pm_account_t *out)
{
    sqlite3_stmt *st = STMT(cat, ST_ACCOUNT_GET);
    int err;

    memset(out, 0, sizeof(*out));
    if (pm__sql_bind_text(st, 1, code))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_get_one(cat, st, read_account, out);
    if (err == PM_ENOENT)
        pm__catalog_msg(cat, err, "no account %s", code ? code : "(null)");
    return err;
}

int pm__sqlite_account_list(pm_catalog_t *cat, pm_account_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return pm__sql_collect(cat, STMT(cat, ST_ACCOUNT_LIST),
                           sizeof(pm_account_t), read_account,
                           account_cleanup_v, (void **)out, n);
}

void pm_account_list_free(pm_account_t *v, size_t n)
{
    pm__sql_free_items(v, n, sizeof(*v), account_cleanup_v);
}

/* ---- work orders ---- */

void pm_workorder_cleanup(pm_workorder_t *w)
{
    if (w == NULL)
        return;
    pm_free(w->number);
    pm_free(w->account);
    pm_free(w->fee_code);
    pm_free(w->status);
    pm_free(w->notes);
    memset(w, 0, sizeof(*w));
}

static void workorder_cleanup_v(void *item)
{
    pm_workorder_cleanup(item);
}

static int read_workorder(sqlite3_stmt *st, void *item)
{
    pm_workorder_t *w = item;

    memset(w, 0, sizeof(*w));
    w->id = sqlite3_column_int64(st, 0);
    w->created_at = sqlite3_column_int64(st, 6);
    w->closed_at = sqlite3_column_int64(st, 7);
    if (pm__sql_col_str(st, 1, &w->number) ||
        pm__sql_col_str(st, 2, &w->account) ||
        pm__sql_col_str(st, 3, &w->fee_code) ||
        pm__sql_col_str(st, 4, &w->status) ||
        pm__sql_col_str(st, 5, &w->notes)) {
        pm_workorder_cleanup(w);
        return PM_ENOMEM;
    }
    return 0;
}

/* PM_ENOENT (with the message) unless fee code `code` has a price. */
int pm__fee_exists(pm_catalog_t *cat, const char *code)
{
    sqlite3_stmt *st = STMT(cat, ST_FEE_COUNT);
    int64_t count = 0;
    int err;

    if (pm__sql_bind_text(st, 1, code))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_query_int64(cat, st, &count);
    if (err == 0 && count == 0)
        err = pm__catalog_msg(cat, PM_ENOENT, "no fee code %s", code);
    return err;
}

int pm__sqlite_workorder_add(pm_catalog_t *cat, const pm_workorder_t *w,
                             const char *actor, int64_t *id)
{
    sqlite3_stmt *st = STMT(cat, ST_WO_ADD);
    int64_t now = pm__wall_clock(), new_id = 0;
    int changes = 0, err;

    *id = 0;
    err = pm__check_workorder(cat, w, actor);
    if (err == 0)
        err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    if (w->fee_code != NULL)
        err = pm__fee_exists(cat, w->fee_code);
    if (err != 0)
        ;
    else if (pm__sql_bind_text(st, 1, w->number) ||
             pm__sql_bind_text(st, 2, w->account) ||
             pm__sql_bind_text(st, 3, w->fee_code) ||
             pm__sql_bind_text(st, 4, w->notes) ||
             sqlite3_bind_int64(st, 5, now))
        err = pm__sql_bind_fail(cat, st);
    else
        err = pm__sql_run_changes(cat, st, &changes);
    if (err == -EEXIST)
        pm__catalog_msg(cat, err, "work order %s already exists", w->number);
    if (err == 0 && changes == 0)
        err = pm__catalog_msg(cat, PM_ENOENT, "no account %s", w->account);
    new_id = sqlite3_last_insert_rowid(cat->db);
    if (err == 0)
        err = pm__event_insert(cat, now, actor, "workorder.added", 0, 0,
                               w->number);
    err = pm__sql_tx_end(cat, err);
    if (err == 0)
        *id = new_id;
    return err;
}

int pm__sqlite_workorder_get(pm_catalog_t *cat, const char *number,
                             pm_workorder_t *out)
{
    sqlite3_stmt *st = STMT(cat, ST_WO_GET);
    int err;

    memset(out, 0, sizeof(*out));
    if (pm__sql_bind_text(st, 1, number))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_get_one(cat, st, read_workorder, out);
    if (err == PM_ENOENT)
        pm__catalog_msg(cat, err, "no work order %s",
                        number ? number : "(null)");
    return err;
}

int pm__sqlite_workorder_list(pm_catalog_t *cat, const char *account,
                              pm_workorder_t **out, size_t *n)
{
    sqlite3_stmt *st = STMT(cat, ST_WO_LIST);

    *out = NULL;
    *n = 0;
    if (pm__sql_bind_text(st, 1, account))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_collect(cat, st, sizeof(pm_workorder_t), read_workorder,
                           workorder_cleanup_v, (void **)out, n);
}

void pm_workorder_list_free(pm_workorder_t *v, size_t n)
{
    pm__sql_free_items(v, n, sizeof(*v), workorder_cleanup_v);
}

/* Why a work order could not be closed: missing, or closed already. */
static int workorder_not_open(pm_catalog_t *cat, const char *number)
{
    sqlite3_stmt *st = STMT(cat, ST_WO_STATUS);
    int err;

    if (pm__sql_bind_text(st, 1, number))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_first_row(cat, st);
    if (err < 0)
        return err;
    if (err == 0)
        return pm__catalog_msg(cat, PM_ENOENT, "no work order %s", number);
    pm__sql_stmt_done(st);
    return pm__catalog_msg(cat, PM_EINVAL, "work order %s is already closed",
                           number);
}

int pm__sqlite_workorder_close(pm_catalog_t *cat, const char *number,
                               const char *actor)
{
    sqlite3_stmt *st = STMT(cat, ST_WO_CLOSE);
    int64_t now = pm__wall_clock();
    int changes = 0, err;

    err = pm__check_workorder_close(cat, number, actor);
    if (err == 0)
        err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    if (pm__sql_bind_text(st, 1, number) || sqlite3_bind_int64(st, 2, now))
        err = pm__sql_bind_fail(cat, st);
    else
        err = pm__sql_run_changes(cat, st, &changes);
    if (err == 0 && changes == 0)
        err = workorder_not_open(cat, number);
    if (err == 0)
        err =
            pm__event_insert(cat, now, actor, "workorder.closed", 0, 0, number);
    return pm__sql_tx_end(cat, err);
}
