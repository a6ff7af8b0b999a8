/*
 * sqlite_fees.c: what the SQLite backend's ledger is priced with: the
 * billing time zone (recorded once, then fixed), fee codes and their
 * prices by effective date, and a work order's fee code. The ledger
 * itself (months, lines, close, adjustments) is sqlite_ledger.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"
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
static int last_closed_month(pm_catalog_t *cat, char last[PM_MONTH_SIZE])
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

/* The billing_timezone setting into buf ("" when none is recorded). */
static int timezone_setting(pm_catalog_t *cat, char *buf, size_t size)
{
    sqlite3_stmt *st = STMT(cat, ST_SETTING_GET);
    int err;

    buf[0] = '\0';
    if (pm__sql_bind_text(st, 1, "billing_timezone"))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_first_row(cat, st);
    if (err <= 0)
        return err;
    pm__sql_col_name(st, 0, buf, size);
    pm__sql_stmt_done(st);
    return 0;
}

/* Records zone `tz` unless another process did first (then *stored holds
 * theirs); one write transaction, taken only on the first use. */
static int timezone_record(pm_catalog_t *cat, const char *tz, char *stored,
                           size_t size)
{
    sqlite3_stmt *st = STMT(cat, ST_SETTING_ADD);
    int err = pm__sql_tx_begin(cat);

    if (err == 0)
        err = timezone_setting(cat, stored, size);
    if (err == 0 && stored[0] == '\0') {
        snprintf(stored, size, "%s", tz);
        if (pm__sql_bind_text(st, 1, "billing_timezone") ||
            pm__sql_bind_text(st, 2, tz))
            err = pm__sql_bind_fail(cat, st);
        else
            err = pm__sql_run(cat, st);
        if (err == 0)
            err = pm__event_insert(cat, pm__wall_clock(), "catalog",
                                   "billing.timezone", 0, 0, tz);
    }
    return pm__sql_tx_end(cat, err);
}

int pm__sqlite_catalog_billing_timezone(pm_catalog_t *cat,
                                        const char *configured, char *out,
                                        size_t size)
{
    /* A configuration without a zone means UTC, as pm_config_new says. */
    const char *want = configured == NULL ? NULL
                       : configured[0]    ? configured
                                          : "UTC";
    char stored[256];
    int err;

    if (size > 0)
        out[0] = '\0';
    if (want != NULL && !pm_timezone_valid(want))
        return pm__catalog_msg(
            cat, PM_EINVAL,
            "billing time zone %s is not UTC or a zone under %s; "
            "nothing was recorded",
            want, PM_ZONEINFO);
    /* Read without the write lock: every command asks, few record. */
    err = timezone_setting(cat, stored, sizeof(stored));
    if (err == 0 && stored[0] == '\0' && want != NULL)
        err = timezone_record(cat, want, stored, sizeof(stored));
    if (err != 0)
        return err;
    if (stored[0] == '\0')
        snprintf(stored, sizeof(stored), "UTC"); /* nothing recorded yet */
    else if (want != NULL && strcmp(want, stored) != 0)
        return pm__catalog_msg(
            cat, PM_EINVAL,
            "this catalog bills in time zone %s, the "
            "configuration says %s; set [billing] timezone = %s",
            stored, want, stored);
    snprintf(out, size, "%s", stored);
    return 0;
}

int pm__sqlite_fee_add(pm_catalog_t *cat, const pm_fee_t *f, const char *actor,
                       int64_t now, int64_t *id)
{
    sqlite3_stmt *st = STMT(cat, ST_FEE_ADD);
    char last[PM_MONTH_SIZE], month[PM_MONTH_SIZE], day[PM_DATE_SIZE];
    char unit[32], min[32], *detail;
    int64_t new_id = 0;
    int err;

    *id = 0;
    if (f->code == NULL || f->code[0] == '\0' || actor == NULL)
        return pm__catalog_msg(cat, PM_EINVAL, "a fee needs a code");
    if (pm__ident_refused(cat, PM_IDENT_FEE, f->code))
        return PM_EINVAL;
    if (f->unit_price_mc < 0 || f->unit_price_mc > PM_PRICE_MAX_MC ||
        f->min_charge_mc < 0 || f->min_charge_mc > PM_PRICE_MAX_MC)
        return pm__catalog_msg(cat, PM_EINVAL, "fee %s: price out of range",
                               f->code);
    pm_date_format(f->effective_from, day);
    pm_month_of(f->effective_from, month);
    pm_money_format_mc(f->unit_price_mc, unit, sizeof(unit));
    pm_money_format_mc(f->min_charge_mc, min, sizeof(min));
    err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    err = last_closed_month(cat, last);
    if (err == 0 && last[0] != '\0' && strcmp(month, last) <= 0)
        err = pm__catalog_msg(
            cat, PM_EINVAL,
            "fee %s: a price from %s would fall in or before %s, "
            "which is closed; date it in an open month",
            f->code, day, last);
    if (err == 0) {
        if (pm__sql_bind_text(st, 1, f->code) ||
            pm__sql_bind_text(st, 2, f->description) ||
            sqlite3_bind_int64(st, 3, f->unit_price_mc) ||
            sqlite3_bind_int64(st, 4, f->min_charge_mc) ||
            sqlite3_bind_int64(st, 5, f->effective_from) ||
            sqlite3_bind_int64(st, 6, now))
            err = pm__sql_bind_fail(cat, st);
        else
            err = pm__sql_run(cat, st);
        if (err == -EEXIST)
            pm__catalog_msg(cat, err, "fee %s already has a price from %s",
                            f->code, day);
        new_id = sqlite3_last_insert_rowid(cat->db);
    }
    if (err == 0) {
        detail = pm_asprintf("%s: %s per page, minimum %s per job, from %s",
                             f->code, unit, min, day);
        err = detail
                  ? pm__event_insert(cat, now, actor, "fee.added", 0, 0, detail)
                  : pm__catalog_nomem(cat);
        pm_free(detail);
    }
    err = pm__sql_tx_end(cat, err);
    if (err == 0)
        *id = new_id;
    return err;
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

int pm__sqlite_workorder_set_fee(pm_catalog_t *cat, const char *number,
                                 const char *fee_code, const char *actor)
{
    sqlite3_stmt *st = STMT(cat, ST_WO_SET_FEE);
    int64_t now = pm__wall_clock();
    pm_workorder_t w = {0};
    char *detail = NULL;
    int err;

    if (number == NULL || fee_code == NULL || actor == NULL)
        return pm__catalog_msg(cat, PM_EINVAL,
                               "set-fee needs a work order and code");
    err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    err = pm__fee_exists(cat, fee_code);
    if (err == 0)
        err = pm_workorder_get(cat, number, &w);
    if (err == 0) {
        if (pm__sql_bind_text(st, 1, number) ||
            pm__sql_bind_text(st, 2, fee_code))
            err = pm__sql_bind_fail(cat, st);
        else
            err = pm__sql_run(cat, st);
    }
    if (err == 0) {
        detail = pm_asprintf("%s: fee code %s -> %s", number,
                             w.fee_code ? w.fee_code : "(none)", fee_code);
        err = detail ? pm__event_insert(cat, now, actor, "workorder.fee_set", 0,
                                        0, detail)
                     : pm__catalog_nomem(cat);
    }
    pm_free(detail);
    pm_workorder_cleanup(&w);
    return pm__sql_tx_end(cat, err);
}
