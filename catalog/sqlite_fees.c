/*
 * sqlite_fees.c: what the SQLite backend's ledger is priced with: the
 * billing time zone (recorded once, then fixed), fee codes and their
 * prices by effective date, and a work order's fee code. The ledger
 * itself (months, lines, close, adjustments) is sqlite_ledger.c; the
 * steps of each operation are ledger_rules.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"
#include "catalog/ledger_rules.h"
#include "catalog/sqlite_int.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_FEE_ADD,
    ST_FEE_LIST,
    ST_WO_SET_FEE,
    ST_PERIOD_LAST,
    ST_SETTING_GET,
    ST_SETTING_ADD,
    ST_COUNT
};

static const pm__sql_t stmts[ST_COUNT] = {
    [ST_FEE_ADD] = {"fee_add", "INSERT INTO fee_codes (code, description, "
                               "unit_price_millicents, min_charge_millicents, "
                               "effective_from, created_at) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
    [ST_FEE_LIST] = {"fee_list",
                     "SELECT id, code, description, unit_price_millicents, "
                     "min_charge_millicents, effective_from, "
                     "coalesce(created_at, 0) FROM fee_codes WHERE ?1 IS "
                     "NULL OR code = ?1 ORDER BY code, effective_from"},
    [ST_WO_SET_FEE] = {"workorder_set_fee",
                       "UPDATE work_orders SET fee_code = ?2 "
                       "WHERE number = ?1"},
    [ST_PERIOD_LAST] = {"period_last", "SELECT coalesce(max(month), '') FROM "
                                       "billing_periods"},
    [ST_SETTING_GET] = {"setting_get",
                        "SELECT value FROM settings WHERE key = ?1"},
    [ST_SETTING_ADD] = {"setting_add",
                        "INSERT INTO settings (key, value) VALUES (?1, ?2)"},
};

const pm__sql_table_t pm__sql_fees = {stmts, ST_COUNT};

_Static_assert(ST_COUNT <= PM__SQL_MAX, "raise PM__SQL_MAX");

#define STMT(cat, i) pm__stmt((cat), PM__SQL_FEES, (i))

void pm_fee_cleanup(pm_fee_t *f)
{
    if (f == NULL)
        return;
    pm_free(f->code);
    pm_free(f->description);
    memset(f, 0, sizeof(*f));
}

static void fee_cleanup_v(void *item)
{
    pm_fee_cleanup(item);
}

static int read_fee(sqlite3_stmt *st, void *item)
{
    pm_fee_t *f = item;

    memset(f, 0, sizeof(*f));
    f->id = sqlite3_column_int64(st, 0);
    f->unit_price_mc = sqlite3_column_int64(st, 3);
    f->min_charge_mc = sqlite3_column_int64(st, 4);
    f->effective_from = sqlite3_column_int64(st, 5);
    f->created_at = sqlite3_column_int64(st, 6);
    if (pm__sql_col_str(st, 1, &f->code) ||
        pm__sql_col_str(st, 2, &f->description)) {
        pm_fee_cleanup(f);
        return PM_ENOMEM;
    }
    return 0;
}

void pm_fee_list_free(pm_fee_t *v, size_t n)
{
    pm__sql_free_items(v, n, sizeof(*v), fee_cleanup_v);
}

/* The latest closed month into last ("" when none). */
int pm__sqlite_last_closed_month(pm_catalog_t *cat, char last[PM_MONTH_SIZE])
{
    sqlite3_stmt *st = STMT(cat, ST_PERIOD_LAST);
    int err = pm__sql_first_row(cat, st);

    last[0] = '\0';
    if (err <= 0)
        return err;
    pm__sql_col_name(st, 0, last, PM_MONTH_SIZE);
    pm__sql_stmt_done(st);
    return 0;
}

/* A setting into buf ("" when none is recorded). */
int pm__sqlite_setting_get(pm_catalog_t *cat, const char *key, char *buf,
                           size_t size)
{
    sqlite3_stmt *st = STMT(cat, ST_SETTING_GET);
    int err;

    buf[0] = '\0';
    if (pm__sql_bind_text(st, 1, key))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_first_row(cat, st);
    if (err <= 0)
        return err;
    pm__sql_col_name(st, 0, buf, size);
    pm__sql_stmt_done(st);
    return 0;
}

int pm__sqlite_setting_add(pm_catalog_t *cat, const char *key,
                           const char *value)
{
    sqlite3_stmt *st = STMT(cat, ST_SETTING_ADD);

    if (pm__sql_bind_text(st, 1, key) || pm__sql_bind_text(st, 2, value))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

int pm__sqlite_catalog_billing_timezone(pm_catalog_t *cat,
                                        const char *configured, char *out,
                                        size_t size)
{
    return pm__ledger_timezone(&pm__sqlite_ledger_io, cat, configured, out,
                               size);
}

int pm__sqlite_fee_insert(pm_catalog_t *cat, const pm_fee_t *f, int64_t now,
                          int64_t *id)
{
    sqlite3_stmt *st = STMT(cat, ST_FEE_ADD);
    int err;

    if (pm__sql_bind_text(st, 1, f->code) ||
        pm__sql_bind_text(st, 2, f->description) ||
        sqlite3_bind_int64(st, 3, f->unit_price_mc) ||
        sqlite3_bind_int64(st, 4, f->min_charge_mc) ||
        sqlite3_bind_int64(st, 5, f->effective_from) ||
        sqlite3_bind_int64(st, 6, now))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_run(cat, st);
    if (err == 0)
        *id = sqlite3_last_insert_rowid(cat->db);
    return err;
}

int pm__sqlite_fee_add(pm_catalog_t *cat, const pm_fee_t *f, const char *actor,
                       int64_t now, int64_t *id)
{
    return pm__ledger_fee_add(&pm__sqlite_ledger_io, cat, f, actor, now, id);
}

int pm__sqlite_fee_list(pm_catalog_t *cat, const char *code, pm_fee_t **out,
                        size_t *n)
{
    sqlite3_stmt *st = STMT(cat, ST_FEE_LIST);
    int err;

    *out = NULL;
    *n = 0;
    if (pm__sql_bind_text(st, 1, code))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_collect(cat, st, sizeof(pm_fee_t), read_fee, fee_cleanup_v,
                          (void **)out, n);
    if (err == 0 && code != NULL && *n == 0) {
        pm_fee_list_free(*out, *n);
        *out = NULL;
        return pm__catalog_msg(cat, PM_ENOENT, "no fee code %s", code);
    }
    return err;
}

int pm__sqlite_workorder_fee_update(pm_catalog_t *cat, const char *number,
                                    const char *code)
{
    sqlite3_stmt *st = STMT(cat, ST_WO_SET_FEE);

    if (pm__sql_bind_text(st, 1, number) || pm__sql_bind_text(st, 2, code))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

int pm__sqlite_workorder_set_fee(pm_catalog_t *cat, const char *number,
                                 const char *fee_code, const char *actor)
{
    return pm__ledger_set_fee(&pm__sqlite_ledger_io, cat, number, fee_code,
                              actor);
}
