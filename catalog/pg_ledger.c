/*
 * pg_ledger.c: the ledger on the PostgreSQL backend, as sqlite_ledger.c
 * on SQLite: months open and closed, a month's lines (computed while
 * open, frozen at close), closing, adjustments and the credit for a
 * cancelled job of a closed month. The steps of each operation are
 * ledger_rules.c's, shared with SQLite; this is their SQL, and the
 * primitives' table both this file and pg_fees.c fill.
 *
 * Exactly once: SQLite runs one write transaction at a time, PostgreSQL
 * does not. A close takes the billing lock exclusively (a transaction
 * advisory lock) before it reads anything; whatever bills into a month
 * (a job finishing, an adjustment, a cancel's credit, a new price) takes
 * it shared first. So a close's lines hold everything committed before
 * it, and whatever waits behind it sees the month closed and goes to the
 * next open one; two closes of one month queue, and the second finds it
 * closed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"
#include "catalog/ledger_rules.h"
#include "catalog/pg_int.h"
#include "catalog/rules.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_LOCK,
    ST_LOCK_SHARED,
    ST_PERIOD_GET,
    ST_PERIOD_ADD,
    ST_BILL_OPEN,
    ST_BILL_FROZEN,
    ST_BILL_BLOCKERS,
    ST_LINE_ADD,
    ST_JOB_BILLING,
    ST_JOB_BILLED,
    ST_JOB_FROZEN_PRICE,
    ST_JOB_PRICE,
    ST_ADJ_ADD,
    ST_COUNT
};

/* The billing lock's key: "pmbl". */
#define BILLING_KEY "1886216812"

static const pm__pgsql_t stmts[ST_COUNT] = {
    [ST_LOCK] = {"ledger_lock",
                 "SELECT pg_advisory_xact_lock(" BILLING_KEY ")"},
    [ST_LOCK_SHARED] = {"ledger_lock_shared",
                        "SELECT pg_advisory_xact_lock_shared(" BILLING_KEY ")"},
    [ST_PERIOD_GET] = {"ledger_period_get",
                       "SELECT month, closed_at, closed_by, forced, lines, "
                       "total_cents FROM billing_periods WHERE month = $1"},
    [ST_PERIOD_ADD] = {"ledger_period_add",
                       "INSERT INTO billing_periods (month, closed_at, "
                       "closed_by, forced, lines, total_cents) VALUES ($1, "
                       "$2::bigint, $3, $4::bigint, $5::bigint, $6::bigint)"},
    /*
     * An open month's lines ($1 month, $2 account or NULL, $3 work order
     * or NULL), computed: the done jobs billed in it, priced at the fee
     * effective when each finished, then its adjustments. The columns are
     * sqlite_ledger.c's: kind, account, name, work order, job, fee code,
     * priced, pages, blank pages, bill_blank (jobs), unit price, minimum,
     * billable (adjustments), amount (adjustments), finished, note,
     * adjustment id. Text sorts COLLATE "C": byte order, as SQLite's.
     */
    [ST_BILL_OPEN] = {"ledger_bill_open",
                      "SELECT * FROM (SELECT 0 AS kind, a.code AS acct, "
                      "a.name, w.number AS wo, j.id AS job, w.fee_code, "
                      "(f.id IS NOT NULL)::int, (SELECT "
                      "count(*) FROM billable_pages b WHERE b.job = j.id), "
                      "(SELECT count(*) FROM billable_pages b WHERE b.job = "
                      "j.id AND b.blank = 1), j.bill_blank, "
                      "coalesce(f.unit_price_millicents, 0), "
                      "coalesce(f.min_charge_millicents, 0), NULL::bigint, "
                      "NULL::bigint, j.finished_at, NULL::text, 0::bigint AS "
                      "adj "
                      "FROM jobs j JOIN work_orders w ON w.number = "
                      "j.workorder JOIN accounts a ON a.id = w.account_id "
                      "LEFT JOIN fee_codes f ON f.id = (SELECT g.id FROM "
                      "fee_codes g WHERE g.code = w.fee_code AND "
                      "g.effective_from <= j.finished_at ORDER BY "
                      "g.effective_from DESC LIMIT 1) WHERE j.billing_month "
                      "= $1 AND j.state = 'done' AND ($2::text IS NULL OR "
                      "a.code = $2::text) AND ($3::text IS NULL OR w.number "
                      "= $3::text) "
                      "UNION ALL "
                      "SELECT 1, a.code, a.name, w.number, d.job, "
                      "d.fee_code, 1, d.pages, d.blank_pages, NULL, "
                      "d.unit_price_mc, 0, d.billable_pages, d.amount_mc, "
                      "j.finished_at, d.reason, d.id FROM "
                      "billing_adjustments d JOIN jobs j ON j.id = d.job "
                      "JOIN work_orders w ON w.number = j.workorder JOIN "
                      "accounts a ON a.id = w.account_id WHERE d.month = $1 "
                      "AND ($2::text IS NULL OR a.code = $2::text) AND "
                      "($3::text IS NULL OR w.number = $3::text)) u "
                      "ORDER BY acct COLLATE \"C\", wo COLLATE \"C\", "
                      "kind, job, adj"},
    /* A closed month's lines, as frozen (the same columns up to 16, with
     * billable and both amounts stored). */
    [ST_BILL_FROZEN] = {"ledger_bill_frozen",
                        "SELECT (kind = 'adjustment')::int, account, "
                        "account_name, workorder, job, fee_code, 1, pages, "
                        "blank_pages, NULL, unit_price_mc, min_charge_mc, "
                        "billable_pages, amount_mc, finished_at, note, "
                        "amount_cents FROM billing_lines WHERE month = $1 "
                        "AND ($2::text IS NULL OR account = $2::text) AND "
                        "($3::text IS NULL OR workorder = $3::text) "
                        "ORDER BY seq"},
    [ST_BILL_BLOCKERS] = {"ledger_bill_blockers",
                          "SELECT id, state, created_at FROM jobs WHERE "
                          "state IN ('received', 'queued', 'running', "
                          "'assembling', 'held') AND created_at < $1::bigint "
                          "ORDER BY id"},
    [ST_LINE_ADD] = {"ledger_line_add",
                     "INSERT INTO billing_lines (month, seq, kind, account, "
                     "account_name, workorder, job, fee_code, pages, "
                     "blank_pages, billable_pages, unit_price_mc, "
                     "min_charge_mc, amount_mc, amount_cents, finished_at, "
                     "note) VALUES ($1, $2::bigint, $3, $4, $5, $6, "
                     "$7::bigint, $8, $9::bigint, $10::bigint, $11::bigint, "
                     "$12::bigint, $13::bigint, $14::bigint, $15::bigint, "
                     "$16::bigint, $17)"},
    /* Locks the job's row, as a cancel does first: an adjustment and a
     * cancel of one job run one after the other, so a cancel's credit
     * sees every adjustment before it and none comes after. */
    [ST_JOB_BILLING] = {"ledger_job_billing",
                        "SELECT state, coalesce(billing_month, ''), "
                        "coalesce(finished_at, 0) FROM jobs WHERE id = "
                        "$1::bigint FOR UPDATE"},
    /* What a job was billed in closed months, plus its adjustments not
     * frozen yet: pages, blank, billable, amount, lines. */
    [ST_JOB_BILLED] = {"ledger_job_billed",
                       "SELECT coalesce(sum(pages), 0)::bigint, "
                       "coalesce(sum(blank_pages), 0)::bigint, "
                       "coalesce(sum(billable_pages), 0)::bigint, "
                       "coalesce(sum(amount_mc), 0)::bigint, count(*) FROM "
                       "(SELECT pages, blank_pages, billable_pages, "
                       "amount_mc FROM billing_lines WHERE job = $1::bigint "
                       "UNION ALL SELECT pages, blank_pages, billable_pages, "
                       "amount_mc FROM billing_adjustments d WHERE d.job = "
                       "$1::bigint AND NOT EXISTS (SELECT 1 FROM "
                       "billing_periods p WHERE p.month = d.month)) x"},
    [ST_JOB_FROZEN_PRICE] = {"ledger_job_frozen_price",
                             "SELECT fee_code, unit_price_mc FROM "
                             "billing_lines WHERE job = $1::bigint AND kind "
                             "= 'job' ORDER BY month DESC LIMIT 1"},
    [ST_JOB_PRICE] = {"ledger_job_price",
                      "SELECT f.code, f.unit_price_millicents FROM jobs j "
                      "JOIN work_orders w ON w.number = j.workorder JOIN "
                      "fee_codes f ON f.code = w.fee_code AND "
                      "f.effective_from <= j.finished_at WHERE j.id = "
                      "$1::bigint ORDER BY f.effective_from DESC LIMIT 1"},
    [ST_ADJ_ADD] = {"ledger_adjustment_add",
                    "INSERT INTO billing_adjustments (month, of_month, job, "
                    "fee_code, pages, blank_pages, billable_pages, "
                    "unit_price_mc, amount_mc, reason, actor, created_at) "
                    "VALUES ($1, $2, $3::bigint, $4, $5::bigint, $6::bigint, "
                    "$7::bigint, $8::bigint, $9::bigint, $10, $11, "
                    "$12::bigint)"},
};

const pm__pgsql_table_t pm__pg_ledger = {stmts, ST_COUNT};

/* ---- primitives ---- */

int pm__pg_ledger_lock(pm__pg_t *pg, int exclusive)
{
    return pm__pg_exec(pg, PM__PG_LEDGER, exclusive ? ST_LOCK : ST_LOCK_SHARED,
                       NULL, NULL);
}

static int lock(pm_catalog_t *cat, int exclusive)
{
    return pm__pg_ledger_lock(pm__pg(cat), exclusive);
}

/* Whether `month` is closed, as the rules' pm_month_closed_fn (arg: the
 * catalog handle). */
static int month_closed(void *arg, const char *month, int *closed)
{
    pm__pg_t *pg = pm__pg(arg);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    *closed = 0;
    pm__pg_text(&p, month);
    err = pm__pg_run(pg, PM__PG_LEDGER, ST_PERIOD_GET, &p, &r);
    if (err != 0)
        return err;
    *closed = PQntuples(r) > 0;
    PQclear(r);
    return 0;
}

static int read_period(const PGresult *r, int row, void *item)
{
    pm_billing_period_t *p = item;

    p->closed = 1;
    p->closed_at = pm__pg_int64(r, row, 1);
    p->forced = (int)pm__pg_int64(r, row, 3);
    p->lines = pm__pg_int64(r, row, 4);
    p->total_cents = pm__pg_int64(r, row, 5);
    return pm__pg_str(r, row, 2, &p->closed_by);
}

int pm__pg_billing_period_get(pm_catalog_t *cat, const char *month,
                              pm_billing_period_t *out)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    int err;

    memset(out, 0, sizeof(*out));
    if (month == NULL || pm_month_valid(month) != 0)
        return pm__pg_msg(pg, PM_EINVAL, "'%s' is not a month (YYYY-MM)",
                          month ? month : "(null)");
    snprintf(out->month, sizeof(out->month), "%s", month);
    pm__pg_text(&p, month);
    err =
        pm__pg_get_one(pg, PM__PG_LEDGER, ST_PERIOD_GET, &p, read_period, out);
    return err == PM_ENOENT ? 0 : err; /* no row: open */
}

static void line_cleanup_v(void *item)
{
    pm_billing_line_cleanup(item);
}

/* The columns ST_BILL_OPEN and ST_BILL_FROZEN share. */
static int read_line_common(const PGresult *r, int row, pm_billing_line_t *l)
{
    memset(l, 0, sizeof(*l));
    l->kind = pm__pg_int64(r, row, 0) ? PM_LINE_ADJUSTMENT : PM_LINE_JOB;
    l->job = pm__pg_int64(r, row, 4);
    l->priced = (int)pm__pg_int64(r, row, 6);
    l->pages = pm__pg_int64(r, row, 7);
    l->blank_pages = pm__pg_int64(r, row, 8);
    l->unit_price_mc = pm__pg_int64(r, row, 10);
    l->min_charge_mc = pm__pg_int64(r, row, 11);
    l->finished_at = pm__pg_int64(r, row, 14);
    if (pm__pg_str(r, row, 1, &l->account) ||
        pm__pg_str(r, row, 2, &l->account_name) ||
        pm__pg_str(r, row, 3, &l->workorder) ||
        pm__pg_str(r, row, 5, &l->fee_code) ||
        pm__pg_str(r, row, 15, &l->note)) {
        pm_billing_line_cleanup(l);
        return PM_ENOMEM;
    }
    return 0;
}

/* A computed line: a job's billable pages and amount follow from its
 * billable_pages rows, its profile's blank rule and its price. */
static int read_line_open(const PGresult *r, int row, void *item)
{
    pm_billing_line_t *l = item;
    int err = read_line_common(r, row, l);

    if (err != 0)
        return err;
    if (l->kind == PM_LINE_ADJUSTMENT) {
        l->billable_pages = pm__pg_int64(r, row, 12);
        l->amount_mc = pm__pg_int64(r, row, 13);
    } else {
        l->billable_pages =
            pm__pg_int64(r, row, 9) ? l->pages : l->pages - l->blank_pages;
        if (l->priced)
            err = pm_money_line(l->billable_pages, l->unit_price_mc,
                                l->min_charge_mc, &l->amount_mc);
    }
    l->amount_cents = pm_money_round_cents(l->amount_mc);
    if (err != 0)
        pm_billing_line_cleanup(l);
    return err;
}

static int read_line_frozen(const PGresult *r, int row, void *item)
{
    pm_billing_line_t *l = item;
    int err = read_line_common(r, row, l);

    if (err == 0) {
        l->billable_pages = pm__pg_int64(r, row, 12);
        l->amount_mc = pm__pg_int64(r, row, 13);
        l->amount_cents = pm__pg_int64(r, row, 16);
    }
    return err;
}

static int month_lines(pm_catalog_t *cat, const char *month, int closed,
                       const char *account, const char *workorder,
                       pm_billing_line_t **out, size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    pm__pg_text(&p, month);
    pm__pg_text(&p, account);
    pm__pg_text(&p, workorder);
    err = pm__pg_run(pg, PM__PG_LEDGER, closed ? ST_BILL_FROZEN : ST_BILL_OPEN,
                     &p, &r);
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(pm_billing_line_t),
                          closed ? read_line_frozen : read_line_open,
                          line_cleanup_v, (void **)out, n);
}

/* Jobs that block the close of the month ending at `end`: the rules
 * decide (pm_rules_job_blocks_close); the SQL only narrows. */
static int close_blockers(pm_catalog_t *cat, int64_t end, int64_t **ids,
                          size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int rows, i, err;

    *ids = NULL;
    *n = 0;
    pm__pg_int(&p, end);
    err = pm__pg_run(pg, PM__PG_LEDGER, ST_BILL_BLOCKERS, &p, &r);
    if (err != 0)
        return err;
    rows = PQntuples(r);
    if (rows > 0 && (*ids = pm_calloc((size_t)rows, sizeof(**ids))) == NULL)
        err = pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    for (i = 0; err == 0 && i < rows; i++)
        if (pm_rules_job_blocks_close(pm_job_state_parse(PQgetvalue(r, i, 1)),
                                      pm__pg_int64(r, i, 2), end))
            (*ids)[(*n)++] = pm__pg_int64(r, i, 0);
    PQclear(r);
    return err;
}

static int period_insert(pm_catalog_t *cat, const char *month, int64_t now,
                         const char *actor, int forced, int64_t lines,
                         int64_t total_cents)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_text(&p, month);
    pm__pg_int(&p, now);
    pm__pg_text(&p, actor);
    pm__pg_int(&p, forced);
    pm__pg_int(&p, lines);
    pm__pg_int(&p, total_cents);
    return pm__pg_exec(pm__pg(cat), PM__PG_LEDGER, ST_PERIOD_ADD, &p, NULL);
}

static int line_insert(pm_catalog_t *cat, const pm_billing_line_t *l,
                       int64_t seq)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_text(&p, l->month);
    pm__pg_int(&p, seq);
    pm__pg_text(&p, l->kind == PM_LINE_JOB ? "job" : "adjustment");
    pm__pg_text(&p, l->account);
    pm__pg_text(&p, l->account_name);
    pm__pg_text(&p, l->workorder);
    pm__pg_int(&p, l->job);
    pm__pg_text(&p, l->fee_code);
    pm__pg_int(&p, l->pages);
    pm__pg_int(&p, l->blank_pages);
    pm__pg_int(&p, l->billable_pages);
    pm__pg_int(&p, l->unit_price_mc);
    pm__pg_int(&p, l->min_charge_mc);
    pm__pg_int(&p, l->amount_mc);
    pm__pg_int(&p, l->amount_cents);
    pm__pg_int(&p, l->finished_at);
    pm__pg_text(&p, l->note);
    return pm__pg_exec(pm__pg(cat), PM__PG_LEDGER, ST_LINE_ADD, &p, NULL);
}

/* Runs a statement of one job id. */
static int run_job(pm__pg_t *pg, int i, int64_t job, PGresult **r)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_int(&p, job);
    return pm__pg_run(pg, PM__PG_LEDGER, i, &p, r);
}

static int job_billing(pm_catalog_t *cat, int64_t job, int *state,
                       char month[PM_MONTH_SIZE])
{
    PGresult *r;
    int err = run_job(pm__pg(cat), ST_JOB_BILLING, job, &r);

    if (err != 0)
        return err;
    if (PQntuples(r) == 0)
        err = PM_ENOENT;
    else {
        *state = pm_job_state_parse(PQgetvalue(r, 0, 0));
        snprintf(month, PM_MONTH_SIZE, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return err;
}

static int job_billed(pm_catalog_t *cat, int64_t job, pm__billed_t *b)
{
    PGresult *r;
    int err = run_job(pm__pg(cat), ST_JOB_BILLED, job, &r);

    if (err != 0)
        return err;
    b->pages += pm__pg_int64(r, 0, 0);
    b->blank += pm__pg_int64(r, 0, 1);
    b->billable += pm__pg_int64(r, 0, 2);
    b->amount_mc += pm__pg_int64(r, 0, 3);
    b->lines += pm__pg_int64(r, 0, 4);
    PQclear(r);
    return 0;
}

static int job_price(pm_catalog_t *cat, int64_t job, char **fee, int64_t *unit)
{
    const int which[] = {ST_JOB_FROZEN_PRICE, ST_JOB_PRICE};
    pm__pg_t *pg = pm__pg(cat);
    PGresult *r;
    int err;

    *fee = NULL;
    *unit = 0;
    for (size_t i = 0; i < 2; i++) {
        err = run_job(pg, which[i], job, &r);
        if (err != 0)
            return err;
        if (PQntuples(r) > 0) {
            *unit = pm__pg_int64(r, 0, 1);
            err = pm__pg_str(r, 0, 0, fee)
                      ? pm__pg_msg(pg, PM_ENOMEM, "out of memory")
                      : 0;
            PQclear(r);
            return err;
        }
        PQclear(r);
    }
    return PM_ENOENT;
}

static int adjustment_insert(pm_catalog_t *cat, const pm__adjustment_t *a)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_text(&p, a->month);
    pm__pg_text(&p, a->of_month);
    pm__pg_int(&p, a->job);
    pm__pg_text(&p, a->fee);
    pm__pg_int(&p, a->b.pages);
    pm__pg_int(&p, a->b.blank);
    pm__pg_int(&p, a->b.billable);
    pm__pg_int(&p, a->unit_mc);
    pm__pg_int(&p, a->b.amount_mc);
    pm__pg_text(&p, a->note);
    pm__pg_text(&p, a->actor);
    pm__pg_int(&p, a->now);
    return pm__pg_exec(pm__pg(cat), PM__PG_LEDGER, ST_ADJ_ADD, &p, NULL);
}

static int event_insert(pm_catalog_t *cat, int64_t at, const char *actor,
                        const char *kind, int64_t job, int page,
                        const char *detail)
{
    return pm__pg_event_insert(pm__pg(cat), at, actor, kind, job, page, detail);
}

/* ---- the operations ---- */

int pm__pg_billing_read(pm_catalog_t *cat, const char *from, const char *to,
                        const char *account, const char *workorder,
                        pm_billing_period_t **periods, size_t *nperiods,
                        pm_billing_line_t **out, size_t *n)
{
    return pm__ledger_read(&pm__pg_ledger_io, cat, from, to, account, workorder,
                           periods, nperiods, out, n);
}

int pm__pg_billing_lines(pm_catalog_t *cat, const char *from, const char *to,
                         const char *account, const char *workorder,
                         pm_billing_line_t **out, size_t *n)
{
    return pm__ledger_read(&pm__pg_ledger_io, cat, from, to, account, workorder,
                           NULL, NULL, out, n);
}

int pm__pg_billing_close(pm_catalog_t *cat, const char *month, int force,
                         const char *actor, int64_t now, int64_t **blockers,
                         size_t *nblockers)
{
    return pm__ledger_close(&pm__pg_ledger_io, cat, month, force, actor, now,
                            blockers, nblockers);
}

int pm__pg_billing_adjust(pm_catalog_t *cat, int64_t job, int64_t billable,
                          const char *reason, const char *actor, int64_t now,
                          char month[8])
{
    return pm__ledger_adjust(&pm__pg_ledger_io, cat, job, billable, reason,
                             actor, now, month);
}

/* The primitives of this backend for ledger_rules.c (with pg_fees.c's). */
const pm__ledger_io_t pm__pg_ledger_io = {
    .tx_begin = pm__pg_cat_tx_begin,
    .tx_begin_read = pm__pg_cat_tx_begin_read,
    .tx_end = pm__pg_cat_tx_end,
    .lock = lock,
    .month_closed = month_closed,
    .month_lines = month_lines,
    .close_blockers = close_blockers,
    .period_insert = period_insert,
    .line_insert = line_insert,
    .job_billing = job_billing,
    .job_billed = job_billed,
    .job_price = job_price,
    .adjustment_insert = adjustment_insert,
    .event_insert = event_insert,
    .last_closed_month = pm__pg_last_closed_month,
    .fee_insert = pm__pg_fee_insert,
    .fee_exists = pm__pg_fee_exists,
    .workorder_fee_update = pm__pg_workorder_fee_update,
    .setting_get = pm__pg_setting_get,
    .setting_add = pm__pg_setting_add,
    .wall_clock = pm__pg_wall_clock,
};
