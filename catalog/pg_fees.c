/*
 * pg_fees.c: what the PostgreSQL backend's ledger is priced with, as
 * sqlite_fees.c on SQLite: the billing time zone (recorded once, then
 * fixed), fee codes and their prices by effective date, and a work
 * order's fee code. The steps are ledger_rules.c's; these are the SQL
 * primitives it runs them on (pm__pg_ledger_io, pg_ledger.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"
#include "catalog/ledger_rules.h"
#include "catalog/pg_int.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_FEE_ADD,
    ST_FEE_LIST,
    ST_FEE_COUNT,
    ST_WO_SET_FEE,
    ST_PERIOD_LAST,
    ST_SETTING_GET,
    ST_SETTING_ADD,
    ST_COUNT
};

static const pm__pgsql_t stmts[ST_COUNT] = {
    [ST_FEE_ADD] = {"fees_add",
                    "INSERT INTO fee_codes (code, description, "
                    "unit_price_millicents, min_charge_millicents, "
                    "effective_from, created_at) VALUES ($1, $2, $3::bigint, "
                    "$4::bigint, $5::bigint, $6::bigint) RETURNING id"},
    /* COLLATE "C": byte order, as SQLite sorts. */
    [ST_FEE_LIST] = {"fees_list",
                     "SELECT id, code, description, unit_price_millicents, "
                     "min_charge_millicents, effective_from, "
                     "coalesce(created_at, 0) FROM fee_codes WHERE $1::text "
                     "IS NULL OR code = $1::text ORDER BY code COLLATE \"C\", "
                     "effective_from"},
    [ST_FEE_COUNT] = {"fees_count",
                      "SELECT count(*) FROM fee_codes WHERE code = $1"},
    [ST_WO_SET_FEE] = {"fees_workorder_set",
                       "UPDATE work_orders SET fee_code = $2 WHERE number = "
                       "$1"},
    [ST_PERIOD_LAST] = {"fees_period_last",
                        "SELECT coalesce(max(month), '') FROM "
                        "billing_periods"},
    [ST_SETTING_GET] = {"fees_setting_get",
                        "SELECT value FROM settings WHERE key = $1"},
    [ST_SETTING_ADD] = {"fees_setting_add",
                        "INSERT INTO settings (key, value) VALUES ($1, $2)"},
};

const pm__pgsql_table_t pm__pg_fees = {stmts, ST_COUNT};

/* ---- primitives (pm__pg_ledger_io) ---- */

int64_t pm__pg_wall_clock(void)
{
    return (int64_t)time(NULL);
}

/* Copies column 0 of row 0 into buf ("" for no row or NULL). */
static int first_text(pm__pg_t *pg, int i, const pm__pg_params_t *p, char *buf,
                      size_t size)
{
    PGresult *r;
    int err = pm__pg_run(pg, PM__PG_FEES, i, p, &r);

    buf[0] = '\0';
    if (err != 0)
        return err;
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        snprintf(buf, size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int pm__pg_last_closed_month(pm_catalog_t *cat, char last[PM_MONTH_SIZE])
{
    return first_text(pm__pg(cat), ST_PERIOD_LAST, NULL, last, PM_MONTH_SIZE);
}

int pm__pg_setting_get(pm_catalog_t *cat, const char *key, char *buf,
                       size_t size)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_text(&p, key);
    return first_text(pm__pg(cat), ST_SETTING_GET, &p, buf, size);
}

int pm__pg_setting_add(pm_catalog_t *cat, const char *key, const char *value)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_text(&p, key);
    pm__pg_text(&p, value);
    return pm__pg_exec(pm__pg(cat), PM__PG_FEES, ST_SETTING_ADD, &p, NULL);
}

int pm__pg_fee_insert(pm_catalog_t *cat, const pm_fee_t *f, int64_t now,
                      int64_t *id)
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    pm__pg_text(&p, f->code);
    pm__pg_text(&p, f->description);
    pm__pg_int(&p, f->unit_price_mc);
    pm__pg_int(&p, f->min_charge_mc);
    pm__pg_int(&p, f->effective_from);
    pm__pg_int(&p, now);
    err = pm__pg_run(pm__pg(cat), PM__PG_FEES, ST_FEE_ADD, &p, &r);
    if (err != 0)
        return err;
    *id = pm__pg_int64(r, 0, 0);
    PQclear(r);
    return 0;
}

int pm__pg_fee_exists(pm_catalog_t *cat, const char *code)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    pm__pg_text(&p, code);
    err = pm__pg_run(pg, PM__PG_FEES, ST_FEE_COUNT, &p, &r);
    if (err != 0)
        return err;
    if (pm__pg_int64(r, 0, 0) == 0)
        err = pm__pg_msg(pg, PM_ENOENT, "no fee code %s", code);
    PQclear(r);
    return err;
}

int pm__pg_workorder_fee_update(pm_catalog_t *cat, const char *number,
                                const char *code)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_text(&p, number);
    pm__pg_text(&p, code);
    return pm__pg_exec(pm__pg(cat), PM__PG_FEES, ST_WO_SET_FEE, &p, NULL);
}

/* ---- the operations ---- */

int pm__pg_catalog_billing_timezone(pm_catalog_t *cat, const char *configured,
                                    char *out, size_t size)
{
    return pm__ledger_timezone(&pm__pg_ledger_io, cat, configured, out, size);
}

int pm__pg_fee_add(pm_catalog_t *cat, const pm_fee_t *f, const char *actor,
                   int64_t now, int64_t *id)
{
    return pm__ledger_fee_add(&pm__pg_ledger_io, cat, f, actor, now, id);
}

static void fee_cleanup_v(void *item)
{
    pm_fee_cleanup(item);
}

static int read_fee(const PGresult *r, int row, void *item)
{
    pm_fee_t *f = item;

    memset(f, 0, sizeof(*f));
    f->id = pm__pg_int64(r, row, 0);
    f->unit_price_mc = pm__pg_int64(r, row, 3);
    f->min_charge_mc = pm__pg_int64(r, row, 4);
    f->effective_from = pm__pg_int64(r, row, 5);
    f->created_at = pm__pg_int64(r, row, 6);
    if (pm__pg_str(r, row, 1, &f->code) ||
        pm__pg_str(r, row, 2, &f->description)) {
        pm_fee_cleanup(f);
        return PM_ENOMEM;
    }
    return 0;
}

int pm__pg_fee_list(pm_catalog_t *cat, const char *code, pm_fee_t **out,
                    size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    *out = NULL;
    *n = 0;
    pm__pg_text(&p, code);
    err = pm__pg_run(pg, PM__PG_FEES, ST_FEE_LIST, &p, &r);
    if (err == 0)
        err = pm__pg_collect(pg, r, sizeof(pm_fee_t), read_fee, fee_cleanup_v,
                             (void **)out, n);
    if (err == 0 && code != NULL && *n == 0)
        return pm__pg_msg(pg, PM_ENOENT, "no fee code %s", code);
    return err;
}

int pm__pg_workorder_set_fee(pm_catalog_t *cat, const char *number,
                             const char *fee_code, const char *actor)
{
    return pm__ledger_set_fee(&pm__pg_ledger_io, cat, number, fee_code, actor);
}
