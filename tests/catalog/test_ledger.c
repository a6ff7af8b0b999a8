/*
 * test_ledger.c: the ledger (catalog.h, "billing") against its contract,
 * on both backends: the fee schedule and its history, a month's lines
 * recomputed from billable_pages, closing (frozen lines, refusals, the
 * blockers), adjustments and the cancel credit after a close, the billing
 * time zone (fixed at first use; the months it draws), and the races that
 * exactly-once billing must survive: two handles closing one month, and a
 * job finishing while its month closes. And the web interface's access
 * tokens and read-only handle (monitor.h), which the same PostgreSQL
 * files implement. Every test runs on an SQLite file
 * and again on a fresh database of a private PostgreSQL server
 * (lib/pgtest.c); PostgreSQL missing fails the second group.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"
#include "catalog/monitor.h"
#include "lib/cattest.h"
#include "lib/pgtest.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define LEASE 60      /* seconds */
#define T0    1000000 /* a "now", seconds */

/* The billing lock's advisory key (catalog/pg_ledger.c). */
#define BILLING_KEY "1886216812"

/* Most seconds a test waits for another session to reach a lock. */
#define WAIT_S 120

/* ---- the backend under test ---- */

/* The test's catalog: an SQLite file in the test's temp folder, or a
 * fresh PostgreSQL database. */
static char ledger_db[4096];

/* Names a new catalog for the test (state: its temp folder). */
static void new_catalog(void **state)
{
    if (!ct_use_pg) {
        snprintf(ledger_db, sizeof(ledger_db), "%s/catalog.db",
                 (const char *)*state);
        return;
    }
    ct_pg_fresh(ledger_db, sizeof(ledger_db));
}

static pm_catalog_t *open_catalog(void)
{
    pm_catalog_t *cat = NULL;

    assert_int_equal(pm_catalog_open(ledger_db, &cat), 0);
    assert_non_null(cat);
    return cat;
}

/* Runs `sql` on a connection of our own, around the catalog's API (to set
 * a creation time, or to try what the triggers refuse); returns the error
 * text, "" on success: a new string. */
static char *raw_sql(const char *sql)
{
    char *msg;

    if (ct_use_pg) {
        PGconn *conn = PQconnectdb(ledger_db);
        PGresult *r;

        assert_int_equal(PQstatus(conn), CONNECTION_OK);
        r = PQexec(conn, sql);
        msg = strdup(PQresultStatus(r) == PGRES_COMMAND_OK ||
                             PQresultStatus(r) == PGRES_TUPLES_OK
                         ? ""
                         : PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(conn);
    } else {
        sqlite3 *db;

        assert_int_equal(sqlite3_open(ledger_db, &db), SQLITE_OK);
        msg = strdup(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
                         ? ""
                         : sqlite3_errmsg(db));
        sqlite3_close(db);
    }
    assert_non_null(msg);
    return msg;
}

static void raw_ok(const char *sql)
{
    char *msg = raw_sql(sql);

    assert_string_equal(msg, "");
    free(msg);
}

/* The integer in the first column of the first row of `sql`. */
static int64_t raw_int(const char *sql)
{
    int64_t v;

    if (ct_use_pg) {
        PGconn *conn = PQconnectdb(ledger_db);
        PGresult *r;

        assert_int_equal(PQstatus(conn), CONNECTION_OK);
        r = PQexec(conn, sql);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        assert_true(PQntuples(r) > 0);
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(conn);
    } else {
        sqlite3 *db;
        sqlite3_stmt *st;

        assert_int_equal(sqlite3_open(ledger_db, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    return v;
}

/* ---- helpers ---- */

/* A day in the billing time zone (UTC here) plus `hours`. */
static int64_t day(const char *date, int hours)
{
    int64_t t = 0;

    assert_int_equal(pm_date_parse(date, &t), 0);
    return t + (int64_t)hours * 3600;
}

static void add_fee(pm_catalog_t *cat, const char *code, int64_t unit_mc,
                    int64_t min_mc, const char *from)
{
    pm_fee_t f = {.code = (char *)code,
                  .unit_price_mc = unit_mc,
                  .min_charge_mc = min_mc,
                  .effective_from = day(from, 0)};
    int64_t id = 0;

    assert_int_equal(pm_fee_add(cat, &f, "cli:clerk", day(from, 0), &id), 0);
    assert_true(id > 0);
}

static void add_workorder(pm_catalog_t *cat, const char *number,
                          const char *fee)
{
    pm_workorder_t w = {.number = (char *)number,
                        .account = (char *)"CITY",
                        .fee_code = (char *)fee};
    int64_t id;

    assert_int_equal(pm_workorder_add(cat, &w, "cli:test", &id), 0);
}

/* A job of `npages` pages for work order `wo`, the first `blanks` of them
 * blank, queued at `created`; with `finished` it is completed and done
 * then, else left queued. Returns its id. */
static int64_t ledger_job(pm_catalog_t *cat, const char *wo, int npages,
                          int blanks, int bill_blank, int64_t created,
                          int64_t finished)
{
    static unsigned seed = 0x1000;
    pm_page_input_t pages[16];
    char src[16][32], sha[16][65];
    pm_job_t j = {.workorder = (char *)wo,
                  .account = (char *)"CITY",
                  .profile = (char *)"default",
                  .bill_blank = bill_blank};
    int64_t id = 0;
    char sql[128];
    int i;

    assert_true(npages <= 16);
    seed++;
    for (i = 0; i < npages; i++) {
        snprintf(src[i], sizeof(src[i]), "/spool/%u/p%d.tif", seed, i + 1);
        snprintf(sha[i], sizeof(sha[i]), "%08x%056x", seed, (unsigned)i);
        pages[i] = (pm_page_input_t){src[i], 0, sha[i], 0};
    }
    assert_int_equal(
        pm_job_create(cat, &j, pages, (size_t)npages, "intake", &id), 0);
    /* Creation time is the wall clock; the ledger tests need their own. */
    snprintf(sql, sizeof(sql),
             "UPDATE jobs SET created_at = %lld WHERE id = %lld",
             (long long)created, (long long)id);
    raw_ok(sql);
    if (finished == 0)
        return id;
    for (i = 0; i < npages; i++)
        assert_int_equal(ct_claim_complete(cat, finished, i < blanks), id);
    ct_finish(cat, id, finished);
    return id;
}

/* A new catalog of the backend under test, with account CITY and fee
 * codes STD (0.08125 a page, minimum 1.00 a job) and BIG (0.05) from
 * 2026-10-01. */
static pm_catalog_t *ledger_catalog(void **state)
{
    pm_catalog_t *cat;

    new_catalog(state);
    assert_int_equal(pm_billing_set_timezone("UTC"), 0);
    cat = open_catalog();
    ct_add_account(cat, "CITY");
    add_fee(cat, "STD", 8125, 100000, "2026-10-01");
    add_fee(cat, "BIG", 5000, 0, "2026-10-01");
    return cat;
}

static pm_billing_line_t *lines_of(pm_catalog_t *cat, const char *month,
                                   size_t *n)
{
    pm_billing_line_t *v = NULL;

    assert_int_equal(pm_billing_lines(cat, month, month, NULL, NULL, &v, n), 0);
    return v;
}

/*
 * A job whose amount is its fee's minimum charge is marked as such, open
 * and frozen alike; a job above its minimum, one under a fee without a
 * minimum, and the credit of a cancelled job are not.
 */
static void minimum_charge_is_marked(void **state)
{
    pm_catalog_t *cat = ledger_catalog(state);
    int64_t t_nov = day("2026-11-01", 0), small, big, none;
    pm_billing_line_t *v;
    char month[8];
    size_t n, i;

    add_workorder(cat, "WO-A", "STD");
    add_workorder(cat, "WO-B", "BIG");
    /* 3 billable x 0.08125 = 0.24: the 1.00 minimum applies. */
    small = ledger_job(cat, "WO-A", 5, 2, 0, t_nov, day("2026-11-03", 9));
    /* 16 x 0.08125 = 1.30: above it. */
    big = ledger_job(cat, "WO-A", 16, 0, 0, t_nov, day("2026-11-04", 9));
    none = ledger_job(cat, "WO-B", 1, 0, 0, t_nov, day("2026-11-05", 9));
    for (int frozen = 0; frozen < 2; frozen++) {
        v = lines_of(cat, "2026-11", &n);
        assert_int_equal(n, 3);
        for (i = 0; i < n; i++) {
            assert_int_equal(v[i].min_applied, v[i].job == small);
            if (v[i].job == small)
                assert_int_equal(v[i].amount_cents, 100);
            else
                assert_true(v[i].job == big || v[i].job == none);
        }
        pm_billing_line_list_free(v, n);
        if (!frozen)
            assert_int_equal(pm_billing_close(cat, "2026-11", 0, "cli:clerk",
                                              day("2026-12-02", 0), NULL, NULL),
                             0);
    }
    /* Its credit in December has no minimum of its own. */
    assert_int_equal(pm_job_cancel(cat, small, "cli:clerk", "billed in error"),
                     0);
    assert_int_equal(pm_billing_adjust(cat, big, 2, "rescanned", "cli:clerk",
                                       day("2026-12-03", 0), month),
                     0);
    v = lines_of(cat, "2026-12", &n);
    assert_int_equal(n, 2);
    for (i = 0; i < n; i++) {
        assert_int_equal(v[i].kind, PM_LINE_ADJUSTMENT);
        assert_int_equal(v[i].min_applied, 0);
    }
    pm_billing_line_list_free(v, n);
    pm_catalog_close(cat);
}

static void fee_schedule_keeps_history_and_refuses_bad_dates(void **state)
{
    pm_catalog_t *cat = ledger_catalog(state);
    pm_fee_t f = {.code = (char *)"STD",
                  .unit_price_mc = 9000,
                  .effective_from = day("2026-10-01", 0)};
    pm_fee_t *v;
    size_t n;
    int64_t id;

    /* The same code and date twice. */
    ct_quiet();
    assert_int_equal(pm_fee_add(cat, &f, "cli:clerk", T0, &id), -EEXIST);
    ct_loud();
    add_fee(cat, "STD", 9000, 100000, "2026-11-15");
    assert_int_equal(pm_fee_list(cat, "STD", &v, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].unit_price_mc, 8125);
    assert_int_equal(v[1].unit_price_mc, 9000);
    assert_true(v[0].effective_from < v[1].effective_from);
    pm_fee_list_free(v, n);
    assert_int_equal(pm_fee_list(cat, NULL, &v, &n), 0);
    assert_int_equal(n, 3);
    pm_fee_list_free(v, n);
    assert_int_equal(pm_fee_list(cat, "NOPE", &v, &n), PM_ENOENT);
    assert_int_equal(ct_count_events(cat, 0, "fee.added"), 3);
    /* A work order's fee code must exist. */
    {
        pm_workorder_t w = {.number = (char *)"WO-2",
                            .account = (char *)"CITY",
                            .fee_code = (char *)"NOPE"};
        int64_t wid;

        assert_int_equal(pm_workorder_add(cat, &w, "cli:test", &wid),
                         PM_ENOENT);
        assert_non_null(strstr(pm_catalog_errmsg(cat), "no fee code NOPE"));
    }
    add_workorder(cat, "WO-1", NULL);
    assert_int_equal(pm_workorder_set_fee(cat, "WO-1", "NOPE", "cli:clerk"),
                     PM_ENOENT);
    assert_int_equal(pm_workorder_set_fee(cat, "WO-9", "STD", "cli:clerk"),
                     PM_ENOENT);
    assert_int_equal(pm_workorder_set_fee(cat, "WO-1", "STD", "cli:clerk"), 0);
    assert_int_equal(ct_count_events(cat, 0, "workorder.fee_set"), 1);
    pm_catalog_close(cat);
}

/*
 * The report's figures, recomputed here from billable_pages and
 * fee_codes on a connection of our own, with the rules written out: the
 * price effective when the job finished, blanks billed only when the job
 * says so, the minimum per job, rounding half away from zero once.
 */
static void report_recomputes_from_billable_pages(void **state)
{
    pm_catalog_t *cat = ledger_catalog(state);
    int64_t jobs[6], t_nov = day("2026-11-01", 0);
    pm_billing_line_t *v;
    size_t n, i;
    pm_task_t t;

    add_workorder(cat, "WO-A", "STD");
    add_workorder(cat, "WO-B", "BIG");
    jobs[0] = ledger_job(cat, "WO-A", 5, 2, 0, t_nov, day("2026-11-03", 9));
    jobs[1] = ledger_job(cat, "WO-A", 3, 1, 1, t_nov, day("2026-11-20", 23));
    jobs[2] = ledger_job(cat, "WO-B", 1, 0, 0, t_nov, day("2026-11-30", 23));
    jobs[3] = ledger_job(cat, "WO-A", 1, 1, 0, t_nov, day("2026-11-04", 1));
    /* Billed in October and December, not November. */
    jobs[4] = ledger_job(cat, "WO-A", 2, 0, 0, t_nov, day("2026-10-31", 23));
    jobs[5] = ledger_job(cat, "WO-B", 2, 0, 0, t_nov, day("2026-12-01", 0));
    /* A failed job and a cancelled one bill nothing. */
    ledger_job(cat, "WO-A", 1, 0, 0, t_nov, 0);
    ct_claim_fail(cat, day("2026-11-05", 0), "corrupt");
    ct_collect(cat, day("2026-11-05", 0));
    ledger_job(cat, "WO-A", 2, 0, 0, t_nov, 0);
    t = ct_claim(cat, "w1", day("2026-11-06", 0));
    assert_int_equal(pm_job_cancel(cat, t.job, "cli:test", "wrong box"), 0);
    pm_task_cleanup(&t);

    v = lines_of(cat, "2026-11", &n);
    assert_int_equal(n, 4);
    /* Ordered by account, work order, job. */
    assert_int_equal(v[0].job, jobs[0]);
    assert_int_equal(v[1].job, jobs[1]);
    assert_int_equal(v[2].job, jobs[3]);
    assert_int_equal(v[3].job, jobs[2]);
    for (i = 0; i < n; i++) {
        char sql[512];
        int64_t pages, blank, unit, min, billable, amount;
        int bill_blank;

        assert_int_equal(v[i].kind, PM_LINE_JOB);
        assert_string_equal(v[i].month, "2026-11");
        assert_string_equal(v[i].account, "CITY");
        assert_true(v[i].priced);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM billable_pages WHERE job = %lld",
                 (long long)v[i].job);
        pages = raw_int(sql);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM billable_pages WHERE job = %lld AND "
                 "blank = 1",
                 (long long)v[i].job);
        blank = raw_int(sql);
        snprintf(sql, sizeof(sql),
                 "SELECT bill_blank FROM jobs WHERE id = %lld",
                 (long long)v[i].job);
        bill_blank = (int)raw_int(sql);
        snprintf(sql, sizeof(sql),
                 "SELECT f.unit_price_millicents FROM fee_codes f, jobs j "
                 "WHERE j.id = %lld AND f.code = '%s' AND f.effective_from "
                 "<= j.finished_at ORDER BY f.effective_from DESC LIMIT 1",
                 (long long)v[i].job, v[i].fee_code);
        unit = raw_int(sql);
        snprintf(sql, sizeof(sql),
                 "SELECT f.min_charge_millicents FROM fee_codes f, jobs j "
                 "WHERE j.id = %lld AND f.code = '%s' AND f.effective_from "
                 "<= j.finished_at ORDER BY f.effective_from DESC LIMIT 1",
                 (long long)v[i].job, v[i].fee_code);
        min = raw_int(sql);
        billable = bill_blank ? pages : pages - blank;
        amount = billable * unit < min ? min : billable * unit;
        assert_int_equal(v[i].pages, pages);
        assert_int_equal(v[i].blank_pages, blank);
        assert_int_equal(v[i].billable_pages, billable);
        assert_int_equal(v[i].unit_price_mc, unit);
        assert_int_equal(v[i].amount_mc, amount);
        assert_int_equal(v[i].amount_cents, (amount + 500) / 1000);
    }
    /* The figures themselves, for the record: 3 x 0.08125 = 0.24375 is
     * below the 1.00 minimum; 3 x 0.08125 (blanks billed) likewise; the
     * all-blank job bills 0 pages and the minimum; 1 x 0.05. */
    assert_int_equal(v[0].billable_pages, 3);
    assert_int_equal(v[0].amount_cents, 100);
    assert_int_equal(v[1].billable_pages, 3);
    assert_int_equal(v[2].billable_pages, 0);
    assert_int_equal(v[2].amount_cents, 100);
    assert_int_equal(v[3].amount_mc, 5000);
    assert_int_equal(v[3].amount_cents, 5);
    pm_billing_line_list_free(v, n);
    /* Filters. */
    assert_int_equal(
        pm_billing_lines(cat, "2026-10", "2026-12", NULL, "WO-B", &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].month, "2026-11");
    assert_string_equal(v[1].month, "2026-12");
    assert_int_equal(v[1].job, jobs[5]);
    pm_billing_line_list_free(v, n);
    assert_int_equal(
        pm_billing_lines(cat, "2026-11", "2026-13", NULL, NULL, &v, &n),
        PM_EINVAL);
    assert_int_equal(
        pm_billing_lines(cat, "2026-12", "2026-11", NULL, NULL, &v, &n),
        PM_EINVAL);
    pm_catalog_close(cat);
}

static void fee_change_mid_month_prices_by_finish_date(void **state)
{
    pm_catalog_t *cat = ledger_catalog(state);
    pm_billing_line_t *v;
    int64_t before, after;
    size_t n;

    add_fee(cat, "PLAIN", 8000, 0, "2026-10-01");
    add_fee(cat, "PLAIN", 10000, 0, "2026-11-15");
    add_workorder(cat, "WO-P", "PLAIN");
    before = ledger_job(cat, "WO-P", 2, 0, 0, day("2026-11-01", 0),
                        day("2026-11-14", 23));
    after = ledger_job(cat, "WO-P", 2, 0, 0, day("2026-11-01", 0),
                       day("2026-11-15", 0));
    v = lines_of(cat, "2026-11", &n);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].job, before);
    assert_int_equal(v[0].unit_price_mc, 8000);
    assert_int_equal(v[0].amount_mc, 16000);
    assert_int_equal(v[1].job, after);
    assert_int_equal(v[1].unit_price_mc, 10000);
    assert_int_equal(v[1].amount_mc, 20000);
    pm_billing_line_list_free(v, n);
    pm_catalog_close(cat);
}

static void assert_lines_equal(const pm_billing_line_t *a, size_t na,
                               const pm_billing_line_t *b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(a[i].month, b[i].month);
        assert_int_equal(a[i].kind, b[i].kind);
        assert_string_equal(a[i].account, b[i].account);
        assert_string_equal(a[i].workorder, b[i].workorder);
        assert_int_equal(a[i].job, b[i].job);
        assert_string_equal(a[i].fee_code, b[i].fee_code);
        assert_int_equal(a[i].pages, b[i].pages);
        assert_int_equal(a[i].blank_pages, b[i].blank_pages);
        assert_int_equal(a[i].billable_pages, b[i].billable_pages);
        assert_int_equal(a[i].unit_price_mc, b[i].unit_price_mc);
        assert_int_equal(a[i].amount_mc, b[i].amount_mc);
        assert_int_equal(a[i].amount_cents, b[i].amount_cents);
        assert_int_equal(a[i].finished_at, b[i].finished_at);
    }
}

static void close_freezes_the_month_and_cancel_adjusts_later(void **state)
{
    pm_catalog_t *cat = ledger_catalog(state);
    pm_billing_line_t *open_v, *v, *w;
    size_t open_n, n, nw, nids = 0;
    int64_t a, b, late, fee_id, *ids = NULL, dec2 = day("2026-12-02", 10);
    pm_billing_period_t p;
    pm_fee_t f = {.code = (char *)"STD", .unit_price_mc = 1};
    char month[8], *msg = NULL;
    pm_job_t j;

    add_workorder(cat, "WO-A", "STD");
    a = ledger_job(cat, "WO-A", 16, 0, 0, day("2026-11-01", 0),
                   day("2026-11-10", 0));
    b = ledger_job(cat, "WO-A", 4, 1, 0, day("2026-11-01", 0),
                   day("2026-11-11", 0));
    /* Created in November, still queued. */
    late = ledger_job(cat, "WO-A", 1, 0, 0, day("2026-11-30", 20), 0);
    open_v = lines_of(cat, "2026-11", &open_n);
    assert_int_equal(open_n, 2);

    /* Refused: a month not begun, and unfinished jobs (listed). */
    ct_quiet();
    assert_int_equal(
        pm_billing_close(cat, "2027-01", 0, "cli:clerk", dec2, &ids, &nids),
        PM_EINVAL);
    assert_int_equal(
        pm_billing_close(cat, "2026-11", 0, "cli:clerk", dec2, &ids, &nids),
        PM_EINVAL);
    ct_loud();
    assert_int_equal(nids, 1);
    assert_int_equal(ids[0], late);
    pm_free(ids);
    assert_int_equal(pm_billing_period_get(cat, "2026-11", &p), 0);
    assert_false(p.closed);
    pm_billing_period_cleanup(&p);

    /* --force closes over it; the month's lines are what they were. */
    assert_int_equal(
        pm_billing_close(cat, "2026-11", 1, "cli:clerk", dec2, &ids, &nids), 0);
    assert_int_equal(pm_billing_period_get(cat, "2026-11", &p), 0);
    assert_true(p.closed);
    assert_true(p.forced);
    assert_int_equal(p.closed_at, dec2);
    assert_string_equal(p.closed_by, "cli:clerk");
    assert_int_equal(p.lines, 2);
    /* 16 x 0.08125 = 1.30; 3 pages: the 1.00 minimum. */
    assert_int_equal(p.total_cents, 130 + 100);
    pm_billing_period_cleanup(&p);
    assert_int_equal(ct_count_events(cat, 0, "billing.closed"), 1);
    v = lines_of(cat, "2026-11", &n);
    assert_lines_equal(open_v, open_n, v, n);
    ct_quiet();
    assert_int_equal(
        pm_billing_close(cat, "2026-11", 1, "cli:clerk", dec2, NULL, NULL),
        -EEXIST);
    /* No price may be dated into a closed month. */
    f.effective_from = day("2026-11-20", 0);
    assert_int_equal(pm_fee_add(cat, &f, "cli:clerk", dec2, &fee_id),
                     PM_EINVAL);
    ct_loud();
    add_fee(cat, "STD", 9000, 100000, "2026-12-01");

    /* The late job finishes in November's last hour: December's bill. */
    assert_int_equal(ct_claim_complete(cat, day("2026-11-30", 23), 0), late);
    ct_finish(cat, late, day("2026-11-30", 23));
    assert_int_equal(pm_job_get(cat, late, &j), 0);
    assert_string_equal(j.billing_month, "2026-12");
    pm_job_cleanup(&j);

    /* Cancelling a job billed in November credits it in December. */
    assert_int_equal(pm_job_cancel(cat, a, "cli:clerk", "billed in error"), 0);
    assert_int_equal(ct_count_events(cat, a, "billing.adjustment"), 1);
    /* A rework: two more pages of job b, debited. */
    assert_int_equal(pm_billing_adjust(cat, b, 2, "two pages rescanned",
                                       "cli:clerk", dec2, month),
                     0);
    assert_string_equal(month, "2026-12");
    ct_quiet();
    assert_int_equal(
        pm_billing_adjust(cat, late + 100, 2, "x", "cli:clerk", dec2, month),
        PM_ENOENT);
    assert_int_equal(
        pm_billing_adjust(cat, a, 2, "x", "cli:clerk", dec2, month),
        PM_EINVAL); /* cancelled */
    ct_loud();
    w = lines_of(cat, "2026-12", &nw);
    assert_int_equal(nw, 3);
    /* The late job at December's price, then the adjustments by job. */
    assert_int_equal(w[0].kind, PM_LINE_JOB);
    assert_int_equal(w[0].job, late);
    assert_int_equal(w[0].unit_price_mc, 8125); /* finished in November */
    assert_int_equal(w[1].kind, PM_LINE_ADJUSTMENT);
    assert_int_equal(w[1].job, a);
    assert_int_equal(w[1].billable_pages, -16);
    assert_int_equal(w[1].amount_mc, -v[0].amount_mc);
    assert_int_equal(w[1].amount_cents, -v[0].amount_cents);
    assert_non_null(strstr(w[1].note, "billed in error"));
    assert_int_equal(w[2].kind, PM_LINE_ADJUSTMENT);
    assert_int_equal(w[2].job, b);
    assert_int_equal(w[2].billable_pages, 2);
    assert_int_equal(w[2].unit_price_mc, 8125); /* as billed */
    assert_int_equal(w[2].amount_mc, 16250);
    pm_billing_line_list_free(w, nw);

    /* November is as it was, and cannot be edited behind our back. */
    pm_billing_line_list_free(v, n);
    v = lines_of(cat, "2026-11", &n);
    assert_lines_equal(open_v, open_n, v, n);
    msg = raw_sql("UPDATE billing_lines SET amount_cents = 0");
    assert_non_null(strstr(msg, "frozen"));
    free(msg);
    msg = raw_sql("DELETE FROM billing_periods");
    assert_non_null(strstr(msg, "frozen"));
    free(msg);
    msg = raw_sql("DELETE FROM billing_adjustments");
    assert_non_null(strstr(msg, "append-only"));
    free(msg);

    /* December closes with the credit; a second cancel credits nothing. */
    assert_int_equal(pm_billing_close(cat, "2026-12", 0, "cli:clerk",
                                      day("2027-01-02", 0), NULL, NULL),
                     0);
    assert_int_equal(pm_job_cancel(cat, b, "cli:clerk", "late objection"), 0);
    w = lines_of(cat, "2027-01", &nw);
    assert_int_equal(nw, 1);
    /* b: 3 billable pages at the minimum (1.00) plus the 2-page debit. */
    assert_int_equal(w[0].billable_pages, -5);
    assert_int_equal(w[0].amount_mc, -(100000 + 16250));
    pm_billing_line_list_free(w, nw);
    pm_billing_line_list_free(v, n);
    pm_billing_line_list_free(open_v, open_n);
    pm_catalog_close(cat);
}

static void close_refuses_unpriced_lines(void **state)
{
    pm_catalog_t *cat = ledger_catalog(state);
    pm_billing_line_t *v;
    size_t n;
    int64_t job;

    add_workorder(cat, "WO-X", NULL);
    job = ledger_job(cat, "WO-X", 1, 0, 0, day("2026-11-01", 0),
                     day("2026-11-02", 0));
    v = lines_of(cat, "2026-11", &n);
    assert_int_equal(n, 1);
    assert_false(v[0].priced);
    assert_int_equal(v[0].amount_mc, 0);
    pm_billing_line_list_free(v, n);
    ct_quiet();
    assert_int_equal(pm_billing_close(cat, "2026-11", 1, "cli:clerk",
                                      day("2026-12-01", 0), NULL, NULL),
                     PM_EINVAL);
    ct_loud();
    assert_non_null(strstr(pm_catalog_errmsg(cat), "no price"));
    assert_int_equal(pm_workorder_set_fee(cat, "WO-X", "BIG", "cli:clerk"), 0);
    assert_int_equal(pm_billing_close(cat, "2026-11", 0, "cli:clerk",
                                      day("2026-12-01", 0), NULL, NULL),
                     0);
    v = lines_of(cat, "2026-11", &n);
    assert_int_equal(v[0].job, job);
    assert_int_equal(v[0].amount_mc, 5000);
    pm_billing_line_list_free(v, n);
    pm_catalog_close(cat);
}

/* The billing time zone is recorded at the first configured use and
 * fixed: a configuration naming another is refused. */
static void billing_timezone_is_fixed_at_first_use(void **state)
{
    pm_catalog_t *cat;
    char tz[64];

    new_catalog(state);
    cat = open_catalog();
    /* Without a configuration nothing is recorded. */
    assert_int_equal(pm_catalog_billing_timezone(cat, NULL, tz, sizeof(tz)), 0);
    assert_string_equal(tz, "UTC");
    assert_int_equal(ct_count_events(cat, 0, "billing.timezone"), 0);
    assert_int_equal(
        pm_catalog_billing_timezone(cat, "America/Chicago", tz, sizeof(tz)), 0);
    assert_string_equal(tz, "America/Chicago");
    assert_int_equal(ct_count_events(cat, 0, "billing.timezone"), 1);
    assert_int_equal(pm_catalog_billing_timezone(cat, NULL, tz, sizeof(tz)), 0);
    assert_string_equal(tz, "America/Chicago");
    assert_int_equal(
        pm_catalog_billing_timezone(cat, "America/Chicago", tz, sizeof(tz)), 0);
    ct_quiet();
    assert_int_equal(pm_catalog_billing_timezone(cat, "UTC", tz, sizeof(tz)),
                     PM_EINVAL);
    ct_loud();
    assert_non_null(strstr(pm_catalog_errmsg(cat), "America/Chicago"));
    assert_int_equal(ct_count_events(cat, 0, "billing.timezone"), 1);
    pm_catalog_close(cat);
}

/* A zone billing could not use is refused before it is recorded, so it
 * can never lock the catalog to an unusable zone. */
static void billing_timezone_is_checked_before_it_is_recorded(void **state)
{
    pm_catalog_t *cat;
    char tz[64];

    new_catalog(state);
    cat = open_catalog();
    ct_quiet();
    assert_int_equal(
        pm_catalog_billing_timezone(cat, "zone.tab", tz, sizeof(tz)),
        PM_EINVAL);
    ct_loud();
    assert_non_null(strstr(pm_catalog_errmsg(cat), "zone.tab"));
    assert_int_equal(ct_count_events(cat, 0, "billing.timezone"), 0);
    assert_int_equal(
        pm_catalog_billing_timezone(cat, "Europe/Berlin", tz, sizeof(tz)), 0);
    assert_string_equal(tz, "Europe/Berlin");
    pm_catalog_close(cat);
}

/* ---- races: exactly-once billing ---- */

/* One side of a race: its own handle, started together with the other. */
typedef struct {
    pthread_barrier_t *go;
    pm_catalog_t *cat;
    int what; /* 0: close `month`; 1: finish `job` at `at`; 2: adjust it */
    const char *month;
    int64_t job, at;
    int rc;
    char msg[256];
    char adjusted[PM_MONTH_SIZE];
    int done; /* set (atomically) when the call returned */
} racer_t;

static void *racer_run(void *arg)
{
    racer_t *r = arg;

    pthread_barrier_wait(r->go);
    if (r->what == 0)
        r->rc = pm_billing_close(r->cat, r->month, 1, "cli:clerk", r->at, NULL,
                                 NULL);
    else if (r->what == 1)
        r->rc = pm_job_finish(r->cat, r->job, "/out/CITY/WO/1", r->at);
    else
        r->rc = pm_billing_adjust(r->cat, r->job, 2, "rescanned", "cli:clerk",
                                  r->at, r->adjusted);
    snprintf(r->msg, sizeof(r->msg), "%s", pm_catalog_errmsg(r->cat));
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Runs a and b at once, each on a handle of its own. */
static void race(racer_t *a, racer_t *b)
{
    pthread_barrier_t go;
    pthread_t ta, tb;

    assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
    a->go = b->go = &go;
    a->cat = open_catalog();
    b->cat = open_catalog();
    assert_int_equal(pthread_create(&ta, NULL, racer_run, a), 0);
    assert_int_equal(pthread_create(&tb, NULL, racer_run, b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pm_catalog_close(a->cat);
    pm_catalog_close(b->cat);
    pthread_barrier_destroy(&go);
}

/* How many lines of `month` (frozen or computed) are job `job`'s. */
static size_t job_lines(pm_catalog_t *cat, const char *month, int64_t job)
{
    size_t n, i, count = 0;
    pm_billing_line_t *v = lines_of(cat, month, &n);

    for (i = 0; i < n; i++)
        count += v[i].kind == PM_LINE_JOB && v[i].job == job;
    pm_billing_line_list_free(v, n);
    return count;
}

/* Two handles close one month at once, again and again: exactly one
 * closes it, the other is told it is closed; one period, one set of
 * lines, one event. */
static void two_handles_closing_one_month_one_wins(void **state)
{
    pm_catalog_t *cat = ledger_catalog(state);
    char month[PM_MONTH_SIZE] = "2026-10", sql[160];
    pm_billing_period_t p;

    add_workorder(cat, "WO-A", "STD");
    for (int round = 0; round < 6; round++) {
        int64_t start, end;
        racer_t a = {.what = 0, .month = month}, b;

        assert_int_equal(pm_month_bounds(month, &start, &end), 0);
        ledger_job(cat, "WO-A", 2, 0, 0, start, start + 3600);
        a.at = end + 86400;
        b = a;
        race(&a, &b);
        if (!((a.rc == 0 && b.rc == -EEXIST) || (b.rc == 0 && a.rc == -EEXIST)))
            fail_msg("closes of %s: %d (%s) and %d (%s)", month, a.rc, a.msg,
                     b.rc, b.msg);
        assert_non_null(strstr(a.rc ? a.msg : b.msg, "is closed already"));
        assert_int_equal(pm_billing_period_get(cat, month, &p), 0);
        assert_true(p.closed);
        assert_int_equal(p.lines, 1);
        pm_billing_period_cleanup(&p);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM billing_lines WHERE month = '%s'",
                 month);
        assert_int_equal(raw_int(sql), 1);
        pm_month_next(month, month);
    }
    assert_int_equal(ct_count_events(cat, 0, "billing.closed"), 6);
    pm_catalog_close(cat);
}

/* A job finishes in a month while that month closes: it is billed once,
 * in the closed month's frozen lines or in the next month, never in
 * neither and never in both. */
static void finish_racing_a_close_is_billed_once(void **state)
{
    pm_catalog_t *cat = ledger_catalog(state);
    char month[PM_MONTH_SIZE] = "2026-10", next[PM_MONTH_SIZE];
    pm_job_t j;

    add_workorder(cat, "WO-A", "STD");
    for (int round = 0; round < 8; round++) {
        int64_t start, end, job;
        racer_t a = {.what = 1}, b = {.what = 0, .month = month};

        assert_int_equal(pm_month_bounds(month, &start, &end), 0);
        pm_month_next(month, next);
        job = ledger_job(cat, "WO-A", 1, 0, 0, start, 0);
        assert_int_equal(ct_claim_complete(cat, start + 60, 0), job);
        ct_collect(cat, start + 60);
        assert_int_equal(ct_job_state(cat, job), PM_JOB_ASSEMBLING);
        a.job = job;
        a.at = start + 120;
        b.at = end + 86400;
        race(&a, &b);
        if (a.rc != 0 || b.rc != 0)
            fail_msg("finish %d (%s), close %d (%s)", a.rc, a.msg, b.rc, b.msg);
        assert_int_equal(pm_job_get(cat, job, &j), 0);
        assert_int_equal(job_lines(cat, month, job) + job_lines(cat, next, job),
                         1);
        assert_int_equal(job_lines(cat, j.billing_month, job), 1);
        assert_true(strcmp(j.billing_month, month) == 0 ||
                    strcmp(j.billing_month, next) == 0);
        pm_job_cleanup(&j);
        pm_month_next(month, month);
    }
    pm_catalog_close(cat);
}

/* ---- PostgreSQL: the billing lock, one step at a time ---- */

/* A session of our own in an open transaction. */
static PGconn *pg_begin(void)
{
    PGconn *conn = PQconnectdb(ledger_db);
    PGresult *r;

    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    r = PQexec(conn, "BEGIN");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    return conn;
}

static void pg_do(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);

    if (PQresultStatus(r) != PGRES_COMMAND_OK &&
        PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* Polls until a session waits for a lock (the billing lock, or a row's:
 * an event, not a time), or racer `r` returned without waiting (the test
 * then finds what it did); fails after WAIT_S seconds. */
static void wait_for_lock_waiter(const racer_t *r)
{
    struct timespec tick = {0, 20 * 1000 * 1000};
    time_t deadline = time(NULL) + WAIT_S;

    while (raw_int("SELECT count(*) FROM pg_locks WHERE NOT granted") == 0) {
        if (__atomic_load_n(&r->done, __ATOMIC_ACQUIRE))
            return;
        if (time(NULL) > deadline)
            fail_msg("nothing waited for a lock in %d s", WAIT_S);
        nanosleep(&tick, NULL);
    }
}

/* A job that finishes while a close of its month is under way (a session
 * holding the lock a close takes, its period row written, not committed)
 * waits for that close and bills in the next month: the close's frozen
 * lines cannot hold it. */
static void pg_finish_waits_for_a_close_under_way(void **state)
{
    pm_catalog_t *cat = ledger_catalog(state);
    int64_t job, nov = day("2026-11-01", 0);
    racer_t a = {.what = 1};
    pthread_t t;
    pthread_barrier_t go;
    PGconn *closer;
    pm_job_t j;

    add_workorder(cat, "WO-A", "STD");
    job = ledger_job(cat, "WO-A", 1, 0, 0, nov, 0);
    assert_int_equal(ct_claim_complete(cat, nov + 60, 0), job);
    ct_collect(cat, nov + 60);
    closer = pg_begin();
    pg_do(closer, "SELECT pg_advisory_xact_lock(" BILLING_KEY ")");
    pg_do(closer, "INSERT INTO billing_periods (month, closed_at, closed_by, "
                  "forced, lines, total_cents) VALUES ('2026-11', 1, 'x', "
                  "0, 0, 0)");
    assert_int_equal(pthread_barrier_init(&go, NULL, 1), 0);
    a.go = &go;
    a.cat = open_catalog();
    a.job = job;
    a.at = day("2026-11-20", 0);
    assert_int_equal(pthread_create(&t, NULL, racer_run, &a), 0);
    wait_for_lock_waiter(&a);
    pg_do(closer, "COMMIT");
    PQfinish(closer);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&go);
    pm_catalog_close(a.cat);
    assert_int_equal(a.rc, 0);
    assert_int_equal(pm_job_get(cat, job, &j), 0);
    assert_string_equal(j.billing_month, "2026-12");
    pm_job_cleanup(&j);
    pm_catalog_close(cat);
}

/* A close that starts while a job of its month is being billed (a session
 * holding the lock a finish takes, the job done, not committed) waits for
 * it, and its frozen lines hold the job. */
static void pg_close_waits_for_billing_under_way(void **state)
{
    pm_catalog_t *cat = ledger_catalog(state);
    int64_t job, nov = day("2026-11-01", 0);
    racer_t a = {.what = 0, .month = "2026-11"};
    pthread_barrier_t go;
    pthread_t t;
    PGconn *finisher;
    char sql[256];

    add_workorder(cat, "WO-A", "STD");
    job = ledger_job(cat, "WO-A", 1, 0, 0, nov, 0);
    assert_int_equal(ct_claim_complete(cat, nov + 60, 0), job);
    ct_collect(cat, nov + 60);
    finisher = pg_begin();
    pg_do(finisher, "SELECT pg_advisory_xact_lock_shared(" BILLING_KEY ")");
    snprintf(sql, sizeof(sql),
             "UPDATE jobs SET state = 'done', finished_at = %lld, "
             "billing_month = '2026-11' WHERE id = %lld",
             (long long)(nov + 120), (long long)job);
    pg_do(finisher, sql);
    assert_int_equal(pthread_barrier_init(&go, NULL, 1), 0);
    a.go = &go;
    a.cat = open_catalog();
    a.at = day("2026-12-02", 0);
    assert_int_equal(pthread_create(&t, NULL, racer_run, &a), 0);
    wait_for_lock_waiter(&a);
    pg_do(finisher, "COMMIT");
    PQfinish(finisher);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&go);
    pm_catalog_close(a.cat);
    assert_int_equal(a.rc, 0);
    assert_int_equal(job_lines(cat, "2026-11", job), 1);
    pm_catalog_close(cat);
}

/* An adjustment of a job being cancelled (a session holding its row, the
 * job cancelled, not committed) waits for the cancel and is refused: a
 * cancelled job is never debited after its credit. */
static void pg_adjust_waits_for_a_cancel_under_way(void **state)
{
    pm_catalog_t *cat = ledger_catalog(state);
    int64_t job, nov = day("2026-11-01", 0);
    racer_t a = {.what = 2};
    pthread_barrier_t go;
    pthread_t t;
    PGconn *canceller;
    char sql[256];

    add_workorder(cat, "WO-A", "STD");
    job = ledger_job(cat, "WO-A", 1, 0, 0, nov, nov + 60);
    canceller = pg_begin();
    pg_do(canceller, "SELECT pg_advisory_xact_lock_shared(" BILLING_KEY ")");
    snprintf(sql, sizeof(sql),
             "UPDATE jobs SET state = 'cancelled' WHERE id = %lld",
             (long long)job);
    pg_do(canceller, sql);
    assert_int_equal(pthread_barrier_init(&go, NULL, 1), 0);
    a.go = &go;
    a.cat = open_catalog();
    a.job = job;
    a.at = nov + 120;
    assert_int_equal(pthread_create(&t, NULL, racer_run, &a), 0);
    wait_for_lock_waiter(&a);
    pg_do(canceller, "COMMIT");
    PQfinish(canceller);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&go);
    pm_catalog_close(a.cat);
    assert_int_equal(a.rc, PM_EINVAL);
    assert_non_null(strstr(a.msg, "cancelled"));
    assert_int_equal(ct_count_events(cat, job, "billing.adjustment"), 0);
    pm_catalog_close(cat);
}

/* ---- the billing time zone draws the months ---- */

/* In America/Chicago, 03:00 UTC on December 1 is still November: a job
 * finished then bills in November, and one created then blocks
 * November's close. */
static void months_follow_the_billing_time_zone(void **state)
{
    pm_catalog_t *cat = ledger_catalog(state); /* UTC */
    int64_t dec1 = day("2026-12-01", 0), done, queued, *ids = NULL;
    size_t nids = 0;
    char tz[64];
    pm_job_t j;

    add_workorder(cat, "WO-A", "STD");
    assert_int_equal(
        pm_billing_use_catalog_timezone(cat, "America/Chicago", tz, sizeof(tz)),
        0);
    assert_string_equal(pm_billing_timezone(), "America/Chicago");
    done = ledger_job(cat, "WO-A", 1, 0, 0, dec1 - 86400, dec1 + 3 * 3600);
    queued = ledger_job(cat, "WO-A", 1, 0, 0, dec1 + 2 * 3600, 0);
    assert_int_equal(pm_job_get(cat, done, &j), 0);
    assert_string_equal(j.billing_month, "2026-11");
    pm_job_cleanup(&j);
    assert_int_equal(job_lines(cat, "2026-11", done), 1);
    ct_quiet();
    assert_int_equal(pm_billing_close(cat, "2026-11", 0, "cli:clerk",
                                      dec1 + 86400, &ids, &nids),
                     PM_EINVAL);
    ct_loud();
    assert_int_equal(nids, 1);
    assert_int_equal(ids[0], queued);
    pm_free(ids);
    /* Forced: November closes with the job; one finishing at 06:00 UTC on
     * December 1 (midnight in Chicago) is December's. */
    assert_int_equal(pm_billing_close(cat, "2026-11", 1, "cli:clerk",
                                      dec1 + 86400, NULL, NULL),
                     0);
    assert_int_equal(ct_claim_complete(cat, dec1 + 6 * 3600, 0), queued);
    ct_finish(cat, queued, dec1 + 6 * 3600);
    assert_int_equal(pm_job_get(cat, queued, &j), 0);
    assert_string_equal(j.billing_month, "2026-12");
    pm_job_cleanup(&j);
    assert_int_equal(pm_billing_set_timezone("UTC"), 0);
    pm_catalog_close(cat);
}

/* ---- access tokens and read-only handles ---- */

static const char sha_a[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char sha_b[] =
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

static void tokens_keep_only_hashes_and_names(void **state)
{
    pm_catalog_t *cat;
    pm_token_t *v = NULL;
    size_t n = 0;

    new_catalog(state);
    cat = open_catalog();
    assert_int_equal(
        pm_token_add(cat, "ops", PM_ROLE_ADMIN, sha_b, "cli:t", T0), 0);
    assert_int_equal(
        pm_token_add(cat, "desk", PM_ROLE_SUPERVISOR, sha_a, "cli:t", T0), 0);
    ct_quiet();
    assert_int_equal(
        pm_token_add(cat, "desk", PM_ROLE_ADMIN, sha_b, "cli:t", T0), -EEXIST);
    ct_loud();
    assert_non_null(strstr(pm_catalog_errmsg(cat), "desk"));
    assert_int_equal(
        pm_token_add(cat, "x y", PM_ROLE_ADMIN, sha_b, "cli:t", T0), PM_EINVAL);
    assert_int_equal(pm_token_add(cat, "z", PM_ROLE_ADMIN, "abc", "cli:t", T0),
                     PM_EINVAL);
    assert_int_equal(pm_token_add(cat, "z", (pm_role_t)9, sha_a, "cli:t", T0),
                     PM_EINVAL);
    assert_int_equal(pm_token_list(cat, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "desk");
    assert_int_equal(v[0].role, PM_ROLE_SUPERVISOR);
    assert_string_equal(v[0].sha256, sha_a);
    assert_int_equal(v[0].created_at, T0);
    assert_string_equal(v[1].name, "ops");
    assert_int_equal(v[1].role, PM_ROLE_ADMIN);
    pm_token_list_free(v, n);
    assert_int_equal(ct_count_events(cat, 0, "token.added"), 2);
    pm_catalog_close(cat);
}

/* A query-only handle reads, and every write through it fails. */
static void query_only_handle_refuses_writes(void **state)
{
    pm_catalog_t *cat;
    pm_token_t *v = NULL;
    pm_fee_t f = {.code = (char *)"STD", .unit_price_mc = 1};
    size_t n = 0;
    int64_t id;
    char tz[64];

    new_catalog(state);
    cat = open_catalog();
    assert_int_equal(
        pm_token_add(cat, "desk", PM_ROLE_SUPERVISOR, sha_a, "cli:t", T0), 0);
    assert_int_equal(pm_catalog_query_only(cat), 0);
    ct_quiet();
    assert_true(pm_token_add(cat, "x", PM_ROLE_ADMIN, sha_b, "t", T0) < 0);
    assert_true(pm_fee_add(cat, &f, "t", T0, &id) < 0);
    assert_true(pm_catalog_billing_timezone(cat, "UTC", tz, sizeof(tz)) < 0);
    ct_loud();
    assert_int_equal(pm_token_list(cat, &v, &n), 0);
    assert_int_equal(n, 1);
    pm_token_list_free(v, n);
    assert_int_equal(pm_catalog_billing_timezone(cat, NULL, tz, sizeof(tz)), 0);
    assert_string_equal(tz, "UTC");
    pm_catalog_close(cat);
}

/* ---- groups ---- */

/* The billing time zone back to UTC whatever a test left. */
static int teardown(void **state)
{
    pm_billing_set_timezone("UTC");
    return t_tmpdir_teardown(state);
}

#define LEDGER_TEST(f) \
    cmocka_unit_test_setup_teardown(f, t_tmpdir_setup, teardown)

#define BOTH_BACKENDS                                                   \
    LEDGER_TEST(fee_schedule_keeps_history_and_refuses_bad_dates),      \
        LEDGER_TEST(report_recomputes_from_billable_pages),             \
        LEDGER_TEST(minimum_charge_is_marked),                          \
        LEDGER_TEST(fee_change_mid_month_prices_by_finish_date),        \
        LEDGER_TEST(close_freezes_the_month_and_cancel_adjusts_later),  \
        LEDGER_TEST(close_refuses_unpriced_lines),                      \
        LEDGER_TEST(billing_timezone_is_fixed_at_first_use),            \
        LEDGER_TEST(billing_timezone_is_checked_before_it_is_recorded), \
        LEDGER_TEST(months_follow_the_billing_time_zone),               \
        LEDGER_TEST(two_handles_closing_one_month_one_wins),            \
        LEDGER_TEST(finish_racing_a_close_is_billed_once),              \
        LEDGER_TEST(tokens_keep_only_hashes_and_names),                 \
        LEDGER_TEST(query_only_handle_refuses_writes)

int main(void)
{
    const struct CMUnitTest tests[] = {BOTH_BACKENDS};
    const struct CMUnitTest pg_tests[] = {
        BOTH_BACKENDS,
        LEDGER_TEST(pg_finish_waits_for_a_close_under_way),
        LEDGER_TEST(pg_close_waits_for_billing_under_way),
        LEDGER_TEST(pg_adjust_waits_for_a_cancel_under_way),
    };
    int failed;

    failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name(
        "postgresql", pg_tests, ct_pg_group_setup, ct_pg_group_teardown);
    return failed;
}
