/*
 * sqlite_ledger.c: the ledger in the SQLite backend (priced by
 * sqlite_fees.c): months open and closed, a month's lines
 * (computed while open, frozen at close), closing, adjustments and the
 * credit for a cancelled job of a closed month. Which month a job bills
 * in and what blocks a close are catalog/rules.h's, and the steps of
 * each operation are ledger_rules.c's; this is their SQL.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"
#include "catalog/job_rules.h"
#include "catalog/ledger_rules.h"
#include "catalog/rules.h"
#include "catalog/sqlite_int.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_BILLABLE_JOB,
    ST_BILLABLE_ALL,
    ST_PERIOD_GET,
    ST_PERIOD_ADD,
    ST_BILL_OPEN,
    ST_BILL_FROZEN,
    ST_BILL_BLOCKERS,
    ST_LINE_ADD,
    ST_JOB_BILLING,
    ST_JOB_BILLED,
    ST_JOB_ADJ_OPEN,
    ST_JOB_FROZEN_PRICE,
    ST_JOB_PRICE,
    ST_ADJ_ADD,
    ST_COUNT
};

static const pm__sql_t stmts[ST_COUNT] = {
    [ST_BILLABLE_JOB] = {"billable_job",
                         "SELECT count(*) FROM billable_pages b JOIN jobs j "
                         "ON j.id = b.job WHERE b.job = ?1 AND "
                         "j.state = 'done' AND (?2 OR b.blank = 0)"},
    [ST_BILLABLE_ALL] = {"billable_all",
                         "SELECT count(*) FROM billable_pages b JOIN jobs j "
                         "ON j.id = b.job WHERE j.state = 'done' AND "
                         "(?1 OR b.blank = 0)"},
    [ST_PERIOD_GET] = {"period_get",
                       "SELECT month, closed_at, closed_by, forced, lines, "
                       "total_cents FROM billing_periods WHERE month = ?1"},
    [ST_PERIOD_ADD] = {"period_add",
                       "INSERT INTO billing_periods (month, closed_at, "
                       "closed_by, forced, lines, total_cents) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
    /*
     * An open month's lines (?1 month, ?2 account or NULL, ?3 work order
     * or NULL), computed: the done jobs billed in it, priced at the fee
     * effective when each finished, then its adjustments. Columns: kind,
     * account, name, work order, job, fee code, priced, pages, blank
     * pages, bill_blank (jobs), unit price, minimum, billable (adjustments),
     * amount (adjustments), finished, note, adjustment id. The page
     * counts are ranges of billable_pages' primary key.
     */
    [ST_BILL_OPEN] = {"bill_open",
                      "SELECT 0, a.code, a.name, w.number, j.id, "
                      "w.fee_code, f.id IS NOT NULL, (SELECT count(*) FROM "
                      "billable_pages b WHERE b.job = j.id), (SELECT "
                      "count(*) FROM billable_pages b WHERE b.job = j.id "
                      "AND b.blank = 1), j.bill_blank, "
                      "coalesce(f.unit_price_millicents, 0), "
                      "coalesce(f.min_charge_millicents, 0), NULL, NULL, "
                      "j.finished_at, NULL, 0 FROM jobs j JOIN work_orders w "
                      "ON w.number = j.workorder JOIN accounts a ON a.id = "
                      "w.account_id LEFT JOIN fee_codes f ON f.id = (SELECT "
                      "g.id FROM fee_codes g WHERE g.code = w.fee_code AND "
                      "g.effective_from <= j.finished_at ORDER BY "
                      "g.effective_from DESC LIMIT 1) WHERE j.billing_month "
                      "= ?1 AND j.state = 'done' AND (?2 IS NULL OR a.code "
                      "= ?2) AND (?3 IS NULL OR w.number = ?3) "
                      "UNION ALL "
                      "SELECT 1, a.code, a.name, w.number, d.job, "
                      "d.fee_code, 1, d.pages, d.blank_pages, NULL, "
                      "d.unit_price_mc, 0, d.billable_pages, d.amount_mc, "
                      "j.finished_at, d.reason, d.id FROM "
                      "billing_adjustments d JOIN jobs j ON j.id = d.job "
                      "JOIN work_orders w ON w.number = j.workorder JOIN "
                      "accounts a ON a.id = w.account_id WHERE d.month = ?1 "
                      "AND (?2 IS NULL OR a.code = ?2) AND (?3 IS NULL OR "
                      "w.number = ?3) ORDER BY 2, 4, 1, 5, 17"},
    /* A closed month's lines, as frozen (same columns up to 16, with
     * billable and both amounts stored). */
    [ST_BILL_FROZEN] = {"bill_frozen",
                        "SELECT kind = 'adjustment', account, account_name, "
                        "workorder, job, fee_code, 1, pages, blank_pages, "
                        "NULL, unit_price_mc, min_charge_mc, billable_pages, "
                        "amount_mc, finished_at, note, amount_cents FROM "
                        "billing_lines WHERE month = ?1 AND (?2 IS NULL OR "
                        "account = ?2) AND (?3 IS NULL OR workorder = ?3) "
                        "ORDER BY seq"},
    [ST_BILL_BLOCKERS] = {"bill_blockers",
                          "SELECT id, state, created_at FROM jobs WHERE "
                          "state IN ('received', 'queued', 'running', "
                          "'assembling', 'held') AND created_at < ?1 "
                          "ORDER BY id"},
    [ST_LINE_ADD] = {"line_add",
                     "INSERT INTO billing_lines (month, seq, kind, account, "
                     "account_name, workorder, job, fee_code, pages, "
                     "blank_pages, billable_pages, unit_price_mc, "
                     "min_charge_mc, amount_mc, amount_cents, finished_at, "
                     "note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                     "?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"},
    [ST_JOB_BILLING] = {"job_billing",
                        "SELECT state, coalesce(billing_month, ''), "
                        "coalesce(finished_at, 0) FROM jobs WHERE id = ?1"},
    /* What a job was billed in closed months, and in adjustments not
     * frozen yet: pages, blank, billable, amount, lines. */
    [ST_JOB_BILLED] = {"job_billed",
                       "SELECT coalesce(sum(pages), 0), "
                       "coalesce(sum(blank_pages), 0), "
                       "coalesce(sum(billable_pages), 0), "
                       "coalesce(sum(amount_mc), 0), count(*) FROM "
                       "billing_lines WHERE job = ?1"},
    [ST_JOB_ADJ_OPEN] = {"job_adj_open",
                         "SELECT coalesce(sum(pages), 0), "
                         "coalesce(sum(blank_pages), 0), "
                         "coalesce(sum(billable_pages), 0), "
                         "coalesce(sum(amount_mc), 0), count(*) FROM "
                         "billing_adjustments d WHERE d.job = ?1 AND NOT "
                         "EXISTS (SELECT 1 FROM billing_periods p WHERE "
                         "p.month = d.month)"},
    [ST_JOB_FROZEN_PRICE] = {"job_frozen_price",
                             "SELECT fee_code, unit_price_mc FROM "
                             "billing_lines WHERE job = ?1 AND kind = 'job' "
                             "ORDER BY month DESC LIMIT 1"},
    [ST_JOB_PRICE] = {"job_price",
                      "SELECT f.code, f.unit_price_millicents FROM jobs j "
                      "JOIN work_orders w ON w.number = j.workorder JOIN "
                      "fee_codes f ON f.code = w.fee_code AND "
                      "f.effective_from <= j.finished_at WHERE j.id = ?1 "
                      "ORDER BY f.effective_from DESC LIMIT 1"},
    [ST_ADJ_ADD] = {"adjustment_add",
                    "INSERT INTO billing_adjustments (month, of_month, job, "
                    "fee_code, pages, blank_pages, billable_pages, "
                    "unit_price_mc, amount_mc, reason, actor, created_at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                    "?12)"},
};

const pm__sql_table_t pm__sql_ledger = {stmts, ST_COUNT};

_Static_assert(ST_COUNT <= PM__SQL_MAX, "raise PM__SQL_MAX");

#define STMT(cat, i) pm__stmt((cat), PM__SQL_LEDGER, (i))

/* ---- billing ---- */

/* Whether `month` is closed (any "YYYY-MM", also before the years
 * pm_month_valid accepts from people: a job's clock may say 1970), as the
 * rules' pm_month_closed_fn. */
static int month_closed(void *arg, const char *month, int *closed)
{
    pm_catalog_t *cat = arg;
    sqlite3_stmt *st = STMT(cat, ST_PERIOD_GET);
    int err;

    *closed = 0;
    if (pm__sql_bind_text(st, 1, month))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_first_row(cat, st);
    if (err < 0)
        return err;
    *closed = err;
    if (err)
        pm__sql_stmt_done(st);
    return 0;
}

int pm__first_open_month(pm_catalog_t *cat, const char *from,
                         char out[PM_MONTH_SIZE])
{
    return pm__ledger_first_open_month(&pm__sqlite_ledger_io, cat, from, out);
}

int pm__billing_month(pm_catalog_t *cat, int64_t finished,
                      char out[PM_MONTH_SIZE])
{
    return pm__ledger_billing_month(&pm__sqlite_ledger_io, cat, finished, out);
}

void pm_billing_period_cleanup(pm_billing_period_t *p)
{
    if (p == NULL)
        return;
    pm_free(p->closed_by);
    memset(p, 0, sizeof(*p));
}

int pm__sqlite_billing_period_get(pm_catalog_t *cat, const char *month,
                                  pm_billing_period_t *out)
{
    sqlite3_stmt *st = STMT(cat, ST_PERIOD_GET);
    int err;

    memset(out, 0, sizeof(*out));
    if (month == NULL || pm_month_valid(month) != 0)
        return pm__catalog_msg(cat, PM_EINVAL, "'%s' is not a month (YYYY-MM)",
                               month ? month : "(null)");
    snprintf(out->month, sizeof(out->month), "%s", month);
    if (pm__sql_bind_text(st, 1, month))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_first_row(cat, st);
    if (err <= 0)
        return err; /* no row: open */
    out->closed = 1;
    out->closed_at = sqlite3_column_int64(st, 1);
    out->forced = sqlite3_column_int(st, 3);
    out->lines = sqlite3_column_int64(st, 4);
    out->total_cents = sqlite3_column_int64(st, 5);
    err = pm__sql_col_str(st, 2, &out->closed_by);
    pm__sql_stmt_done(st);
    return err ? pm__catalog_nomem(cat) : 0;
}

void pm_billing_line_cleanup(pm_billing_line_t *l)
{
    if (l == NULL)
        return;
    pm_free(l->account);
    pm_free(l->account_name);
    pm_free(l->workorder);
    pm_free(l->fee_code);
    pm_free(l->note);
    memset(l, 0, sizeof(*l));
}

static void line_cleanup_v(void *item)
{
    pm_billing_line_cleanup(item);
}

void pm_billing_line_list_free(pm_billing_line_t *v, size_t n)
{
    pm__sql_free_items(v, n, sizeof(*v), line_cleanup_v);
}

/* The columns ST_BILL_OPEN and ST_BILL_FROZEN share. */
static int read_line_common(sqlite3_stmt *st, pm_billing_line_t *l)
{
    memset(l, 0, sizeof(*l));
    l->kind = sqlite3_column_int(st, 0) ? PM_LINE_ADJUSTMENT : PM_LINE_JOB;
    l->job = sqlite3_column_int64(st, 4);
    l->priced = sqlite3_column_int(st, 6);
    l->pages = sqlite3_column_int64(st, 7);
    l->blank_pages = sqlite3_column_int64(st, 8);
    l->unit_price_mc = sqlite3_column_int64(st, 10);
    l->min_charge_mc = sqlite3_column_int64(st, 11);
    l->finished_at = sqlite3_column_int64(st, 14);
    if (pm__sql_col_str(st, 1, &l->account) ||
        pm__sql_col_str(st, 2, &l->account_name) ||
        pm__sql_col_str(st, 3, &l->workorder) ||
        pm__sql_col_str(st, 5, &l->fee_code) ||
        pm__sql_col_str(st, 15, &l->note)) {
        pm_billing_line_cleanup(l);
        return PM_ENOMEM;
    }
    return 0;
}

/* A computed line: a job's billable pages and amount follow from its
 * billable_pages rows, its profile's blank rule and its price. */
static int read_line_open(sqlite3_stmt *st, void *item)
{
    pm_billing_line_t *l = item;
    int err = read_line_common(st, l);

    if (err != 0)
        return err;
    if (l->kind == PM_LINE_ADJUSTMENT) {
        l->billable_pages = sqlite3_column_int64(st, 12);
        l->amount_mc = sqlite3_column_int64(st, 13);
    } else {
        l->billable_pages =
            sqlite3_column_int(st, 9) ? l->pages : l->pages - l->blank_pages;
        if (l->priced)
            err = pm_money_line(l->billable_pages, l->unit_price_mc,
                                l->min_charge_mc, &l->amount_mc);
    }
    l->amount_cents = pm_money_round_cents(l->amount_mc);
    if (err != 0)
        pm_billing_line_cleanup(l);
    return err;
}

static int read_line_frozen(sqlite3_stmt *st, void *item)
{
    pm_billing_line_t *l = item;
    int err = read_line_common(st, l);

    if (err == 0) {
        l->billable_pages = sqlite3_column_int64(st, 12);
        l->amount_mc = sqlite3_column_int64(st, 13);
        l->amount_cents = sqlite3_column_int64(st, 16);
    }
    return err;
}

/* One month's lines: frozen when it is closed, else computed. */
static int month_lines(pm_catalog_t *cat, const char *month, int closed,
                       const char *account, const char *workorder,
                       pm_billing_line_t **out, size_t *n)
{
    sqlite3_stmt *st = STMT(cat, closed ? ST_BILL_FROZEN : ST_BILL_OPEN);

    if (pm__sql_bind_text(st, 1, month) || pm__sql_bind_text(st, 2, account) ||
        pm__sql_bind_text(st, 3, workorder))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_collect(cat, st, sizeof(pm_billing_line_t),
                           closed ? read_line_frozen : read_line_open,
                           line_cleanup_v, (void **)out, n);
}

static void period_cleanup_v(void *item)
{
    pm_billing_period_cleanup(item);
}

void pm_billing_period_list_free(pm_billing_period_t *v, size_t n)
{
    pm__sql_free_items(v, n, sizeof(*v), period_cleanup_v);
}

int pm__sqlite_billing_read(pm_catalog_t *cat, const char *from, const char *to,
                            const char *account, const char *workorder,
                            pm_billing_period_t **periods, size_t *nperiods,
                            pm_billing_line_t **out, size_t *n)
{
    return pm__ledger_read(&pm__sqlite_ledger_io, cat, from, to, account,
                           workorder, periods, nperiods, out, n);
}

int pm__sqlite_billing_lines(pm_catalog_t *cat, const char *from,
                             const char *to, const char *account,
                             const char *workorder, pm_billing_line_t **out,
                             size_t *n)
{
    return pm_billing_read(cat, from, to, account, workorder, NULL, NULL, out,
                           n);
}

static int line_insert(pm_catalog_t *cat, const pm_billing_line_t *l,
                       int64_t seq)
{
    sqlite3_stmt *st = STMT(cat, ST_LINE_ADD);

    if (pm__sql_bind_text(st, 1, l->month) || sqlite3_bind_int64(st, 2, seq) ||
        pm__sql_bind_text(st, 3,
                          l->kind == PM_LINE_JOB ? "job" : "adjustment") ||
        pm__sql_bind_text(st, 4, l->account) ||
        pm__sql_bind_text(st, 5, l->account_name) ||
        pm__sql_bind_text(st, 6, l->workorder) ||
        sqlite3_bind_int64(st, 7, l->job) ||
        pm__sql_bind_text(st, 8, l->fee_code) ||
        sqlite3_bind_int64(st, 9, l->pages) ||
        sqlite3_bind_int64(st, 10, l->blank_pages) ||
        sqlite3_bind_int64(st, 11, l->billable_pages) ||
        sqlite3_bind_int64(st, 12, l->unit_price_mc) ||
        sqlite3_bind_int64(st, 13, l->min_charge_mc) ||
        sqlite3_bind_int64(st, 14, l->amount_mc) ||
        sqlite3_bind_int64(st, 15, l->amount_cents) ||
        sqlite3_bind_int64(st, 16, l->finished_at) ||
        pm__sql_bind_text(st, 17, l->note))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

static int period_insert(pm_catalog_t *cat, const char *month, int64_t now,
                         const char *actor, int forced, int64_t lines,
                         int64_t total_cents)
{
    sqlite3_stmt *st = STMT(cat, ST_PERIOD_ADD);

    if (pm__sql_bind_text(st, 1, month) || sqlite3_bind_int64(st, 2, now) ||
        pm__sql_bind_text(st, 3, actor) || sqlite3_bind_int(st, 4, forced) ||
        sqlite3_bind_int64(st, 5, lines) ||
        sqlite3_bind_int64(st, 6, total_cents))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

/* Appends `id` to the growing array *ids of *n. */
static int ids_push(pm_catalog_t *cat, int64_t **ids, size_t *n, size_t *cap,
                    int64_t id)
{
    int64_t *p;

    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        p = pm_realloc(*ids, *cap * sizeof(**ids));
        if (p == NULL)
            return pm__catalog_nomem(cat);
        *ids = p;
    }
    (*ids)[(*n)++] = id;
    return 0;
}

/* The jobs that block closing the month ending at `end`
 * (pm_rules_job_blocks_close; the SQL only narrows by index), into *ids
 * (new array, pm_free) and *n. */
static int close_blockers(pm_catalog_t *cat, int64_t end, int64_t **ids,
                          size_t *n)
{
    sqlite3_stmt *st = STMT(cat, ST_BILL_BLOCKERS);
    size_t cap = 0;
    char state[16];
    int rc, err = 0;

    *ids = NULL;
    *n = 0;
    if (sqlite3_bind_int64(st, 1, end))
        return pm__sql_bind_fail(cat, st);
    while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        pm__sql_col_name(st, 1, state, sizeof(state));
        if (pm_rules_job_blocks_close(pm_job_state_parse(state),
                                      sqlite3_column_int64(st, 2), end))
            err = ids_push(cat, ids, n, &cap, sqlite3_column_int64(st, 0));
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = pm__sql_fail(cat);
    pm__sql_stmt_done(st);
    if (err != 0) {
        pm_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return err;
}

int pm__sqlite_billing_close(pm_catalog_t *cat, const char *month, int force,
                             const char *actor, int64_t now, int64_t **blockers,
                             size_t *nblockers)
{
    return pm__ledger_close(&pm__sqlite_ledger_io, cat, month, force, actor,
                            now, blockers, nblockers);
}

static int job_billed_part(pm_catalog_t *cat, int which, int64_t job,
                           pm__billed_t *b)
{
    sqlite3_stmt *st = STMT(cat, which);
    int err;

    if (sqlite3_bind_int64(st, 1, job))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_first_row(cat, st);
    if (err <= 0)
        return err;
    b->pages += sqlite3_column_int64(st, 0);
    b->blank += sqlite3_column_int64(st, 1);
    b->billable += sqlite3_column_int64(st, 2);
    b->amount_mc += sqlite3_column_int64(st, 3);
    b->lines += sqlite3_column_int64(st, 4);
    pm__sql_stmt_done(st);
    return 0;
}

/* Its frozen lines plus its adjustments not frozen yet. */
static int job_billed(pm_catalog_t *cat, int64_t job, pm__billed_t *b)
{
    int err = job_billed_part(cat, ST_JOB_BILLED, job, b);

    return err ? err : job_billed_part(cat, ST_JOB_ADJ_OPEN, job, b);
}

/* The fee code and unit price job `job` is billed at: as frozen when a
 * closed month holds it, else the price effective when it finished. */
static int job_price(pm_catalog_t *cat, int64_t job, char **fee, int64_t *unit)
{
    int which[] = {ST_JOB_FROZEN_PRICE, ST_JOB_PRICE};
    int err = 0;

    *fee = NULL;
    *unit = 0;
    for (size_t i = 0; i < 2; i++) {
        sqlite3_stmt *st = STMT(cat, which[i]);

        if (sqlite3_bind_int64(st, 1, job))
            return pm__sql_bind_fail(cat, st);
        err = pm__sql_first_row(cat, st);
        if (err < 0)
            return err;
        if (err == 1) {
            *unit = sqlite3_column_int64(st, 1);
            err = pm__sql_col_str(st, 0, fee) ? pm__catalog_nomem(cat) : 0;
            pm__sql_stmt_done(st);
            return err;
        }
    }
    return PM_ENOENT;
}

/* The job's billing state, inside a transaction. */
static int job_billing(pm_catalog_t *cat, int64_t job, int *state,
                       char month[PM_MONTH_SIZE])
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_BILLING);
    char name[32];
    int err;

    if (sqlite3_bind_int64(st, 1, job))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_first_row(cat, st);
    if (err <= 0)
        return err == 0 ? PM_ENOENT : err;
    pm__sql_col_name(st, 0, name, sizeof(name));
    pm__sql_col_name(st, 1, month, PM_MONTH_SIZE);
    pm__sql_stmt_done(st);
    *state = pm_job_state_parse(name);
    return 0;
}

static int adjustment_insert(pm_catalog_t *cat, const pm__adjustment_t *a)
{
    sqlite3_stmt *st = STMT(cat, ST_ADJ_ADD);

    if (pm__sql_bind_text(st, 1, a->month) ||
        pm__sql_bind_text(st, 2, a->of_month) ||
        sqlite3_bind_int64(st, 3, a->job) || pm__sql_bind_text(st, 4, a->fee) ||
        sqlite3_bind_int64(st, 5, a->b.pages) ||
        sqlite3_bind_int64(st, 6, a->b.blank) ||
        sqlite3_bind_int64(st, 7, a->b.billable) ||
        sqlite3_bind_int64(st, 8, a->unit_mc) ||
        sqlite3_bind_int64(st, 9, a->b.amount_mc) ||
        pm__sql_bind_text(st, 10, a->note) ||
        pm__sql_bind_text(st, 11, a->actor) ||
        sqlite3_bind_int64(st, 12, a->now))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

int pm__sqlite_billing_adjust(pm_catalog_t *cat, int64_t job, int64_t billable,
                              const char *reason, const char *actor,
                              int64_t now, char month[8])
{
    return pm__ledger_adjust(&pm__sqlite_ledger_io, cat, job, billable, reason,
                             actor, now, month);
}

int pm__cancel_credit(pm_catalog_t *cat, int64_t job, const char *reason,
                      const char *actor, int64_t now)
{
    return pm__ledger_cancel_credit(&pm__sqlite_ledger_io, cat, job, reason,
                                    actor, now);
}

int pm__sqlite_billable_count(pm_catalog_t *cat, int64_t job, int bill_blank,
                              int64_t *count)
{
    sqlite3_stmt *st = STMT(cat, job == 0 ? ST_BILLABLE_ALL : ST_BILLABLE_JOB);
    int i = 1;

    *count = 0;
    if (pm__check_job_id(cat, job) != 0)
        return PM_EINVAL;
    if ((job != 0 && sqlite3_bind_int64(st, i++, job)) ||
        sqlite3_bind_int(st, i, bill_blank != 0))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_query_int64(cat, st, count);
}

/* SQLite's primitives for the ledger's sequencing (ledger_rules.h): its
 * write transactions run one at a time, so no lock. */
const pm__ledger_io_t pm__sqlite_ledger_io = {
    .tx_begin = pm__sql_tx_begin,
    .tx_begin_read = pm__sql_tx_begin_read,
    .tx_end = pm__sql_tx_end,
    .lock = NULL,
    .month_closed = month_closed,
    .month_lines = month_lines,
    .close_blockers = close_blockers,
    .period_insert = period_insert,
    .line_insert = line_insert,
    .job_billing = job_billing,
    .job_billed = job_billed,
    .job_price = job_price,
    .adjustment_insert = adjustment_insert,
    .event_insert = pm__event_insert,
    .last_closed_month = pm__sqlite_last_closed_month,
    .fee_insert = pm__sqlite_fee_insert,
    .fee_exists = pm__fee_exists,
    .workorder_fee_update = pm__sqlite_workorder_fee_update,
    .setting_get = pm__sqlite_setting_get,
    .setting_add = pm__sqlite_setting_add,
    .wall_clock = pm__wall_clock,
};
