/*
 * test_billing.c: billing's backend-independent half (catalog/billing.c
 * and catalog/invoice.c) against billing.h. Money: parsing (what is
 * accepted and refused), formatting, rounding half away from zero, one
 * line's amount; months and dates, strictly, in UTC and across a DST
 * change in America/New_York; the time zone's validation. Reports built
 * from hand-made lines: totals, CSV quoting, JSON read back, and the same
 * bytes twice. Invoices: PDFs read back with pdftotext, the export CSV's
 * totals, and the same bytes twice for a closed month.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "catalog/billing.h"
#include "catalog/billing_int.h"
#include "catalog/render/render.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

/* 2026-11-01T00:00:00Z and 2026-12-01T00:00:00Z. */
#define NOV_UTC 1793491200
#define DEC_UTC 1796083200

/* ---- money ---- */

static void money_parse_accepts_and_refuses(void **state)
{
    static const struct {
        const char *s;
        int err;
        int64_t mc;
    } cases[] = {
        {"0", 0, 0},
        {"12", 0, 1200000},
        {"0.08", 0, 8000},
        {"0.08125", 0, 8125},
        {"1.5", 0, 150000},
        {"007.00001", 0, 700001},
        {"1000000", 0, PM_PRICE_MAX_MC},
        {"1000000.00000", 0, PM_PRICE_MAX_MC},
        {"1000000.00001", PM_ETOOBIG, 0},
        {"1000001", PM_ETOOBIG, 0},
        {"99999999999999999999999999", PM_ETOOBIG, 0},
        {"1.123456", PM_EINVAL, 0},
        {"-1", PM_EINVAL, 0},
        {"+1", PM_EINVAL, 0},
        {"1e3", PM_EINVAL, 0},
        {" 1", PM_EINVAL, 0},
        {"1 ", PM_EINVAL, 0},
        {"1,000", PM_EINVAL, 0},
        {"1_000", PM_EINVAL, 0},
        {"", PM_EINVAL, 0},
        {".5", PM_EINVAL, 0},
        {"5.", PM_EINVAL, 0},
        {"1.2.3", PM_EINVAL, 0},
        {"0x10", PM_EINVAL, 0},
        {"99999999999999999999999999x", PM_EINVAL, 0},
    };
    size_t i;
    int64_t mc;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mc = -7;
        int err = pm_money_parse(cases[i].s, &mc);
        if (err != cases[i].err || mc != cases[i].mc)
            fail_msg("\"%s\": got %d / %lld, want %d / %lld", cases[i].s, err,
                     (long long)mc, cases[i].err, (long long)cases[i].mc);
    }
    assert_int_equal(pm_money_parse(NULL, &mc), PM_EINVAL);
}

static void money_formats_with_fixed_decimals(void **state)
{
    char buf[32];

    (void)state;
    pm_money_format_mc(8125, buf, sizeof(buf));
    assert_string_equal(buf, "0.08125");
    pm_money_format_mc(-150000, buf, sizeof(buf));
    assert_string_equal(buf, "-1.50000");
    pm_money_format_mc(0, buf, sizeof(buf));
    assert_string_equal(buf, "0.00000");
    pm_money_format_mc(INT64_MIN, buf, sizeof(buf));
    assert_string_equal(buf, "-92233720368547.75808");
    pm_money_format_cents(1235, buf, sizeof(buf));
    assert_string_equal(buf, "12.35");
    pm_money_format_cents(-7, buf, sizeof(buf));
    assert_string_equal(buf, "-0.07");
    pm_money_format_cents(5, buf, sizeof(buf));
    assert_string_equal(buf, "0.05");
}

static void money_rounds_half_away_from_zero(void **state)
{
    static const int64_t cases[][2] = {
        {0, 0},
        {499, 0},
        {500, 1},
        {501, 1},
        {1499, 1},
        {1500, 2},
        {-499, 0},
        {-500, -1},
        {-501, -1},
        {-1500, -2},
        {-1499, -1},
        {12345, 12},
        {12350, 12},
        {12500, 13},
        {-12500, -13},
        {999999500, 1000000},
        {INT64_MAX, INT64_MAX / 1000 + 1},
        {INT64_MIN, INT64_MIN / 1000 - 1},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (pm_money_round_cents(cases[i][0]) != cases[i][1])
            fail_msg("round %lld: got %lld, want %lld", (long long)cases[i][0],
                     (long long)pm_money_round_cents(cases[i][0]),
                     (long long)cases[i][1]);
    /* A credit exactly cancels its charge. */
    assert_int_equal(pm_money_round_cents(2500) + pm_money_round_cents(-2500),
                     0);
}

static void money_line_applies_minimum_but_not_to_credits(void **state)
{
    int64_t a;

    (void)state;
    assert_int_equal(pm_money_line(100, 8125, 0, &a), 0);
    assert_int_equal(a, 812500);
    /* 10 pages at 0.08125 = 0.8125 < the 5.00 minimum. */
    assert_int_equal(pm_money_line(10, 8125, 500000, &a), 0);
    assert_int_equal(a, 500000);
    assert_int_equal(pm_money_line(0, 8125, 500000, &a), 0);
    assert_int_equal(a, 500000);
    assert_int_equal(pm_money_line(1000, 8125, 500000, &a), 0);
    assert_int_equal(a, 8125000);
    /* A credit is never raised to the minimum. */
    assert_int_equal(pm_money_line(-10, 8125, 500000, &a), 0);
    assert_int_equal(a, -81250);
    assert_int_equal(pm_money_round_cents(a), -81);
    a = 1;
    assert_int_equal(pm_money_line(INT64_MAX / 2, 3, 0, &a), PM_ETOOBIG);
    assert_int_equal(a, 0);
    assert_int_equal(pm_money_line(INT64_MIN / 2, 3, 0, &a), PM_ETOOBIG);
}

/* ---- months, dates, time zone ---- */

static int utc_setup(void **state)
{
    (void)state;
    return pm_billing_set_timezone("UTC");
}

static void months_are_strict(void **state)
{
    static const char *const good[] = {"2026-11", "2000-01", "9999-12",
                                       "2026-02"};
    static const char *const bad[] = {
        "2026-13", "2026-2", "2026-00",  "1999-12", "2026-11-", "2026/11",
        "",        "26-11",  " 2026-11", "2026-1a", "20261-1"};
    char out[PM_MONTH_SIZE];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(pm_month_valid(good[i]), 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (pm_month_valid(bad[i]) != PM_EINVAL)
            fail_msg("month \"%s\" accepted", bad[i]);
    assert_int_equal(pm_month_valid(NULL), PM_EINVAL);

    pm_month_next("2026-11", out);
    assert_string_equal(out, "2026-12");
    pm_month_next("2026-12", out);
    assert_string_equal(out, "2027-01");
    pm_month_next("bad", out);
    assert_string_equal(out, "");
    pm_month_of(NOV_UTC, out);
    assert_string_equal(out, "2026-11");
    pm_month_of(NOV_UTC - 1, out);
    assert_string_equal(out, "2026-10");
}

static void dates_are_strict(void **state)
{
    static const char *const bad[] = {
        "2026-02-30", "2026-02-29",  "2026-04-31", "2026-13-01", "2026-11-00",
        "2026-11-1",  "2026-11-011", "1999-12-31", "",           "2026-11-01 "};
    int64_t t;
    char out[PM_DATE_SIZE];
    size_t i;

    (void)state;
    assert_int_equal(pm_date_parse("2026-11-01", &t), 0);
    assert_int_equal(t, NOV_UTC);
    assert_int_equal(pm_date_parse("2028-02-29", &t), 0); /* leap year */
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = 5;
        if (pm_date_parse(bad[i], &t) != PM_EINVAL || t != 0)
            fail_msg("date \"%s\" accepted", bad[i]);
    }
    pm_date_format(NOV_UTC + 86399, out);
    assert_string_equal(out, "2026-11-01");
    pm_date_format(NOV_UTC + 86400, out);
    assert_string_equal(out, "2026-11-02");
}

static void bounds_follow_the_time_zone_across_dst(void **state)
{
    int64_t s, e, us, ue;
    char out[PM_MONTH_SIZE];

    (void)state;
    assert_int_equal(pm_month_bounds("2026-11", &us, &ue), 0);
    assert_int_equal(us, NOV_UTC);
    assert_int_equal(ue, DEC_UTC);
    assert_int_equal(pm_month_bounds("2026-13", &s, &e), PM_EINVAL);
    assert_int_equal(s, 0);
    /* UTC means UTC whatever TZ the process inherited. */
    assert_int_equal(setenv("TZ", "Asia/Tokyo", 1), 0);
    tzset();
    assert_int_equal(pm_month_bounds("2026-11", &s, &e), 0);
    assert_int_equal(s, us);
    pm_month_of(NOV_UTC - 1, out);
    assert_string_equal(out, "2026-10");

    assert_int_equal(pm_billing_set_timezone("America/New_York"), 0);
    assert_string_equal(pm_billing_timezone(), "America/New_York");
    /* November starts on daylight time (UTC-4) and ends on standard time
     * (UTC-5): DST ends on 2026-11-01 at 2:00. */
    assert_int_equal(pm_month_bounds("2026-11", &s, &e), 0);
    assert_int_equal(s - us, 4 * 3600);
    assert_int_equal(e - ue, 5 * 3600);
    assert_int_equal(e - s, 30 * 86400 + 3600);
    pm_month_of(NOV_UTC + 3 * 3600, out); /* 23:00 on Oct 31 in New York */
    assert_string_equal(out, "2026-10");
    pm_month_of(s, out);
    assert_string_equal(out, "2026-11");
    assert_int_equal(pm_date_parse("2026-11-02", &s), 0);
    assert_int_equal(s, NOV_UTC + 86400 + 5 * 3600);
    /* March: the day DST starts is 23 hours long. */
    assert_int_equal(pm_date_parse("2026-03-08", &s), 0);
    assert_int_equal(pm_date_parse("2026-03-09", &e), 0);
    assert_int_equal(e - s, 23 * 3600);

    assert_int_equal(pm_billing_set_timezone(NULL), 0);
    assert_string_equal(pm_billing_timezone(), "UTC");
    assert_int_equal(pm_month_bounds("2026-11", &s, &e), 0);
    assert_int_equal(s, NOV_UTC);
}

static void timezone_refuses_unknown_and_unsafe_names(void **state)
{
    static const char *const bad[] = {
        "Nowhere/Zone",   "../etc/passwd",   "/etc/localtime",
        "America/../UTC", "America",         "America//New_York",
        "./UTC",          "zone.tab",        "America/New_York/",
        "UTC\n",          "America/New York"};
    size_t i;

    (void)state;
    assert_int_equal(pm_billing_set_timezone("Europe/Berlin"), 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (pm_billing_set_timezone(bad[i]) != PM_EINVAL)
            fail_msg("time zone \"%s\" accepted", bad[i]);
        /* Nothing changed. */
        assert_string_equal(pm_billing_timezone(), "Europe/Berlin");
    }
    assert_int_equal(pm_billing_set_timezone(""), 0);
    assert_string_equal(pm_billing_timezone(), "UTC");
    assert_int_equal(pm_billing_set_timezone("UTC"), 0);
}

/* ---- reports ---- */

/* A line as a backend would compute it; strings borrowed (never freed). */
static pm_billing_line_t mkline(const char *month, pm_line_kind_t kind,
                                const char *account, const char *name,
                                const char *wo, int64_t job, const char *fee,
                                int64_t pages, int64_t blank, int64_t billable,
                                int64_t unit_mc, int64_t min_mc,
                                const char *note)
{
    pm_billing_line_t l;

    memset(&l, 0, sizeof(l));
    snprintf(l.month, sizeof(l.month), "%s", month);
    l.kind = kind;
    l.account = (char *)account;
    l.account_name = (char *)name;
    l.workorder = (char *)wo;
    l.job = job;
    l.fee_code = (char *)fee;
    l.priced = fee != NULL;
    l.pages = pages;
    l.blank_pages = blank;
    l.billable_pages = billable;
    if (l.priced) {
        l.unit_price_mc = unit_mc;
        l.min_charge_mc = min_mc;
        assert_int_equal(pm_money_line(billable, unit_mc, min_mc, &l.amount_mc),
                         0);
        l.amount_cents = pm_money_round_cents(l.amount_mc);
        /* As the ledger marks it (ledger_rules.c). */
        l.min_applied =
            kind == PM_LINE_JOB && billable >= 0 && billable * unit_mc < min_mc;
    }
    l.finished_at = NOV_UTC + job * 3600;
    l.note = (char *)note;
    return l;
}

#define CITY_NAME   "City Archive"
#define COUNTY_NAME "Smith, \"Jones\" & Co"
#define CREDIT_NOTE "credit for job 7 of 2026-10, \"rework\""
#define MIN_NOTE \
    "minimum charge: 10 pages x 0.08125 = 0.81; minimum 5.00 applies"

/*
 * November: CITY's WO-1 has two jobs (the second raised to its minimum)
 * and a credit; its WO-2 has no fee code; COUNTY has one job.
 *   WO-1: 116 x 0.08125 = 9.425 -> 9.43; 5.00 minimum; -10 x 0.08125 =
 *         -0.8125 -> -0.81: 13.62 over 116 billable pages
 *   WO-2: unpriced, 5 pages
 *   COUNTY WO-9: 40 x 0.12 = 4.80
 *   overall 18.42 over 161 billable pages, 1 unpriced line
 */
static pm_billing_line_t nov[5];

static void make_november(void)
{
    nov[0] = mkline("2026-11", PM_LINE_JOB, "CITY", CITY_NAME, "WO-1", 11,
                    "STD", 120, 4, 116, 8125, 0, NULL);
    nov[1] = mkline("2026-11", PM_LINE_JOB, "CITY", CITY_NAME, "WO-1", 12,
                    "STD", 10, 0, 10, 8125, 500000, NULL);
    nov[2] = mkline("2026-11", PM_LINE_ADJUSTMENT, "CITY", CITY_NAME, "WO-1", 7,
                    "STD", -10, 0, -10, 8125, 500000, CREDIT_NOTE);
    nov[3] = mkline("2026-11", PM_LINE_JOB, "CITY", CITY_NAME, "WO-2", 13, NULL,
                    5, 0, 5, 0, 0, NULL);
    nov[4] = mkline("2026-11", PM_LINE_JOB, "COUNTY", COUNTY_NAME, "WO-9", 14,
                    "PREM", 50, 10, 40, 12000, 0, NULL);
}

/* November, closed on 2026-12-01 at 09:30 UTC by alice. */
static pm_billing_period_t nov_closed(void)
{
    pm_billing_period_t p;

    memset(&p, 0, sizeof(p));
    snprintf(p.month, sizeof(p.month), "2026-11");
    p.closed = 1;
    p.closed_at = DEC_UTC + 9 * 3600 + 1800;
    p.closed_by = (char *)"alice";
    p.lines = 5;
    p.total_cents = 1842;
    return p;
}

static pm_billing_report_t nov_report(const pm_billing_period_t *p)
{
    pm_billing_report_t r;

    make_november();
    memset(&r, 0, sizeof(r));
    r.from = r.to = "2026-11";
    r.periods = p;
    r.nperiods = 1;
    r.lines = nov;
    r.nlines = 5;
    return r;
}

static char *render(const pm_billing_report_t *r, pm_bill_format_t fmt)
{
    char *out = NULL;
    size_t len = 0;

    assert_int_equal(pm_billing_render(r, fmt, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

static void report_formats_parse(void **state)
{
    (void)state;
    assert_int_equal(pm_bill_format_parse("table"), PM_BILL_TABLE);
    assert_int_equal(pm_bill_format_parse("csv"), PM_BILL_CSV);
    assert_int_equal(pm_bill_format_parse("json"), PM_BILL_JSON);
    assert_int_equal(pm_bill_format_parse("CSV"), -1);
    assert_int_equal(pm_bill_format_parse(NULL), -1);
}

static void report_table_shows_state_lines_and_totals(void **state)
{
    pm_billing_period_t p = nov_closed();
    pm_billing_report_t r = nov_report(&p);
    char *t;

    (void)state;
    r.account = "CITY";
    t = render(&r, PM_BILL_TABLE);
    if (getenv("T_SHOW"))
        printf("%s", t);
    assert_non_null(
        strstr(t, "Billing report 2026-11 (closed 2026-12-01 by alice)\n"));
    assert_non_null(strstr(t, "Account: CITY\n"));
    assert_null(strstr(t, "MONTH")); /* one month: no month column */
    assert_non_null(strstr(t, "7 adj"));
    assert_non_null(strstr(t, "note: " CREDIT_NOTE "\n"));
    /* Job 12's 5.00 is its minimum, not 10 pages at the unit price. */
    assert_non_null(strstr(t, "note: " MIN_NOTE "\n"));
    assert_non_null(strstr(t, "0.08125"));
    assert_non_null(strstr(t, "9.43\n"));
    assert_non_null(strstr(t, "13.62\n")); /* WO-1's total */
    assert_non_null(strstr(t, "18.42\n")); /* overall */
    assert_non_null(strstr(t, "Unpriced lines: 1 "));
    assert_null(strstr(t, " \n")); /* no trailing blanks */
    pm_free(t);
}

static void report_table_summarizes_many_months(void **state)
{
    pm_billing_period_t p[24];
    pm_billing_report_t r;
    char *t, m[PM_MONTH_SIZE] = "2025-01";
    size_t i;

    (void)state;
    make_november();
    memset(p, 0, sizeof(p));
    for (i = 0; i < 24; i++) {
        snprintf(p[i].month, sizeof(p[i].month), "%s", m);
        p[i].closed = i < 23;
        p[i].closed_at = p[i].closed ? NOV_UTC : 0;
        p[i].closed_by = p[i].closed ? (char *)"bob" : NULL;
        pm_month_next(p[i].month, m);
    }
    memset(&r, 0, sizeof(r));
    r.from = "2025-01";
    r.to = "2026-12";
    r.periods = p;
    r.nperiods = 24;
    r.lines = nov;
    r.nlines = 5;
    t = render(&r, PM_BILL_TABLE);
    if (getenv("T_SHOW"))
        printf("%s", t);
    assert_non_null(strstr(t, "Billing report 2025-01 to 2026-12 (24 months, "
                              "23 closed, 1 open)\n"));
    assert_null(strstr(t, "by bob")); /* summarized, not listed */
    assert_non_null(strstr(t, "MONTH"));
    pm_free(t);

    r.to = "2025-02"; /* few months: each one listed */
    r.nperiods = 2;
    t = render(&r, PM_BILL_TABLE);
    assert_non_null(strstr(t, "  2025-02 closed 2026-11-01 by bob\n"));
    pm_free(t);
}

static void report_csv_quotes_and_totals(void **state)
{
    pm_billing_period_t p = nov_closed();
    pm_billing_report_t r = nov_report(&p);
    char *c;

    (void)state;
    c = render(&r, PM_BILL_CSV);
    if (getenv("T_SHOW"))
        printf("%s", c);
    assert_memory_equal(c,
                        "month,type,account,work_order,job,fee_code,pages,"
                        "blank_pages,billable_pages,unit_price,amount,note\r\n"
                        "2026-11,line,CITY,WO-1,11,STD,120,4,116,0.08125,9.43,"
                        "\r\n",
                        strlen("month,type,account,work_order,job,fee_code,"
                               "pages,blank_pages,billable_pages,unit_price,"
                               "amount,note\r\n2026-11,line,CITY,WO-1,11,STD,"
                               "120,4,116,0.08125,9.43,\r\n"));
    assert_non_null(strstr(c, "2026-11,line,CITY,WO-1,12,STD,10,0,10,0.08125,"
                              "5.00," MIN_NOTE "\r\n"));
    assert_non_null(strstr(c, "2026-11,adjustment,CITY,WO-1,7,STD,-10,0,-10,"
                              "0.08125,-0.81,\"credit for job 7 of 2026-10, "
                              "\"\"rework\"\"\"\r\n"));
    assert_non_null(strstr(c, "2026-11,work_order_total,CITY,WO-1,,,120,4,116,"
                              ",13.62,\r\n"));
    assert_non_null(strstr(c, "2026-11,line,CITY,WO-2,13,,5,0,5,-,-,\r\n"));
    assert_non_null(strstr(c, "2026-11,work_order_total,CITY,WO-2,,,5,0,5,,"
                              "0.00,1 unpriced lines\r\n"));
    assert_non_null(strstr(c, "2026-11,account_total,CITY,,,,125,4,121,,13.62,"
                              "1 unpriced lines\r\n"));
    assert_non_null(
        strstr(c, "2026-11,account_total,COUNTY,,,,50,10,40,,4.80,\r\n"));
    assert_non_null(strstr(c,
                           "\r\n2026-11,total,,,,,175,14,161,,18.42,1 unpriced "
                           "lines\r\n"));
    pm_free(c);
}

static json_int_t jget_int(json_t *o, const char *path0, const char *path1)
{
    json_t *v = json_object_get(o, path0);

    if (path1 != NULL)
        v = json_object_get(v, path1);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void report_json_reads_back_with_the_same_totals(void **state)
{
    pm_billing_period_t p = nov_closed();
    pm_billing_report_t r = nov_report(&p);
    json_error_t jerr;
    json_t *o, *lines, *tot, *acct, *per, *l;
    const char *k;
    json_t *v;
    static const char *const order[] = {
        "from", "to", "account", "work_order", "periods", "lines", "totals"};
    size_t i = 0;
    char *j;
    int64_t sum = 0;

    (void)state;
    j = render(&r, PM_BILL_JSON);
    if (getenv("T_SHOW"))
        printf("%s", j);
    o = json_loads(j, 0, &jerr);
    if (o == NULL)
        fail_msg("JSON: %s at line %d", jerr.text, jerr.line);
    json_object_foreach(o, k, v)
    {
        assert_string_equal(k, order[i]);
        i++;
    }
    assert_int_equal(i, 7);
    assert_true(json_is_null(json_object_get(o, "account")));
    per = json_array_get(json_object_get(o, "periods"), 0);
    assert_string_equal(json_string_value(json_object_get(per, "state")),
                        "closed");
    assert_string_equal(json_string_value(json_object_get(per, "closed_at")),
                        "2026-12-01T09:30:00Z");
    lines = json_object_get(o, "lines");
    assert_int_equal(json_array_size(lines), 5);
    for (i = 0; i < json_array_size(lines); i++) {
        l = json_array_get(lines, i);
        if (!json_is_null(json_object_get(l, "amount_cents")))
            sum += jget_int(l, "amount_cents", NULL);
    }
    l = json_array_get(lines, 3); /* unpriced */
    assert_true(json_is_null(json_object_get(l, "unit_price_millicents")));
    assert_true(json_is_null(json_object_get(l, "amount")));
    assert_true(json_is_null(json_object_get(l, "fee_code")));
    assert_true(json_is_null(json_object_get(l, "min_charge_applied")));
    l = json_array_get(lines, 0); /* above its minimum (none) */
    assert_true(json_is_false(json_object_get(l, "min_charge_applied")));
    assert_true(json_is_null(json_object_get(l, "note")));
    l = json_array_get(lines, 1); /* raised to its minimum */
    assert_true(json_is_true(json_object_get(l, "min_charge_applied")));
    assert_string_equal(json_string_value(json_object_get(l, "note")),
                        MIN_NOTE);
    assert_int_equal(jget_int(l, "amount_cents", NULL), 500);
    l = json_array_get(lines, 2);
    assert_true(json_is_false(json_object_get(l, "min_charge_applied")));
    assert_string_equal(json_string_value(json_object_get(l, "kind")),
                        "adjustment");
    assert_string_equal(json_string_value(json_object_get(l, "note")),
                        CREDIT_NOTE);
    assert_int_equal(jget_int(l, "amount_millicents", NULL), -81250);
    assert_string_equal(json_string_value(json_object_get(l, "amount")),
                        "-0.81");

    tot = json_object_get(o, "totals");
    assert_int_equal(sum, 1842);
    assert_int_equal(jget_int(tot, "overall", "amount_cents"), 1842);
    assert_int_equal(jget_int(tot, "overall", "billable_pages"), 161);
    assert_int_equal(jget_int(tot, "overall", "unpriced_lines"), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(tot, "overall"), "amount")),
                        "18.42");
    assert_int_equal(json_array_size(json_object_get(tot, "work_orders")), 3);
    acct = json_array_get(json_object_get(tot, "accounts"), 1);
    assert_string_equal(
        json_string_value(json_object_get(acct, "account_name")), COUNTY_NAME);
    assert_int_equal(jget_int(acct, "amount_cents", NULL), 480);
    json_decref(o);
    pm_free(j);
}

static void report_renders_the_same_bytes_twice(void **state)
{
    pm_billing_period_t p = nov_closed();
    pm_billing_report_t r = nov_report(&p);
    pm_bill_format_t f;
    char *a, *b;

    (void)state;
    for (f = PM_BILL_TABLE; f <= PM_BILL_JSON; f++) {
        a = render(&r, f);
        b = render(&r, f);
        assert_string_equal(a, b);
        pm_free(a);
        pm_free(b);
    }
}

static void report_refuses_bad_input_and_survives_no_memory(void **state)
{
    pm_billing_period_t p = nov_closed();
    pm_billing_report_t r = nov_report(&p);
    char *out = (char *)1;
    size_t len = 9;
    long n;
    int err;
    pm_bill_format_t f;

    (void)state;
    r.from = "2026-12"; /* after `to` */
    assert_int_equal(pm_billing_render(&r, PM_BILL_CSV, &out, &len), PM_EINVAL);
    assert_null(out);
    assert_int_equal(len, 0);
    r.from = "2026-11";
    assert_int_equal(pm_billing_render(&r, (pm_bill_format_t)7, &out, &len),
                     PM_EINVAL);
    nov[0].note = (char *)"\xff\xfe";
    assert_int_equal(pm_billing_render(&r, PM_BILL_JSON, &out, &len),
                     PM_EINVAL);
    nov[0].note = NULL;
    for (f = PM_BILL_TABLE; f <= PM_BILL_CSV; f++) {
        for (n = 1;; n++) {
            pm_alloc_fail_at(n);
            err = pm_billing_render(&r, f, &out, &len);
            pm_alloc_fail_at(0);
            if (err == 0)
                break;
            assert_int_equal(err, PM_ENOMEM);
            assert_null(out);
        }
        pm_free(out);
    }
}

/* ---- invoices and the export ---- */

static pm_account_t accts[2];

static void make_accounts(void)
{
    memset(accts, 0, sizeof(accts));
    accts[0].code = (char *)"CITY";
    accts[0].name = (char *)CITY_NAME;
    accts[0].contact = (char *)"Jane Roe, jane@city.example";
    accts[0].account_number = (char *)"AR-1001";
    accts[1].code = (char *)"COUNTY";
    accts[1].name = (char *)COUNTY_NAME;
}

static const pm_issuer_t issuer = {.name = "County Records Center"};

/* Writes November's invoices into `dir`; returns how many files. */
static int write_november(const char *dir, const pm_billing_period_t *p)
{
    int written = -1;

    make_november();
    make_accounts();
    assert_int_equal(pm_invoice_write(dir, "2026-11", p, nov, 5, accts, 2,
                                      &issuer, &written),
                     0);
    return written;
}

/* The text of a PDF by `pdftotext -layout`; caller frees (free). */
static char *pdf_text(const char *dir, const char *name)
{
    char *out = NULL;

    assert_int_equal(t_run(&out, "pdftotext -layout '%s/%s' -", dir, name), 0);
    return out;
}

/* Field `idx` (0-based) of the CSV record at `rec` (RFC 4180 quoting
 * undone) into a static buffer. */
static const char *csv_field(const char *rec, int idx)
{
    static char f[256];
    size_t n = 0;
    int quoted = 0;

    for (; idx > 0 || quoted; rec++) {
        assert_true(*rec != '\0' && *rec != '\r');
        if (*rec == '"')
            quoted = !quoted;
        else if (*rec == ',' && !quoted)
            idx--;
    }
    for (; *rec != '\0' && (quoted || (*rec != ',' && *rec != '\r')); rec++) {
        if (*rec == '"' && rec[1] == '"' && quoted)
            f[n++] = *rec++;
        else if (*rec == '"')
            quoted = !quoted;
        else
            f[n++] = *rec;
        assert_true(n < sizeof(f));
    }
    f[n] = '\0';
    return f;
}

/* The amount of the export's total row of `account` (a static buffer). */
static const char *export_total(const char *csv, const char *account)
{
    static char amount[32];
    const char *rec;

    for (rec = csv; rec != NULL && *rec != '\0'; rec = strstr(rec, "\r\n")) {
        if (rec != csv)
            rec += 2;
        if (strcmp(csv_field(rec, 3), account) == 0 &&
            strcmp(csv_field(rec, 6), "total") == 0) {
            snprintf(amount, sizeof(amount), "%s", csv_field(rec, 10));
            return amount;
        }
    }
    fail_msg("no total row for %s", account);
    return NULL;
}

/* A temp folder, and the billing time zone back to UTC. */
static int tmp_setup(void **state)
{
    return pm_billing_set_timezone("UTC") || t_tmpdir_setup(state);
}

static void invoice_shows_account_period_and_export_total(void **state)
{
    const char *dir = *state;
    pm_billing_period_t p = nov_closed();
    char path[4096], *csv, *city, *county;

    assert_int_equal(write_november(dir, &p), 3);
    assert_int_equal(t_count_entries(dir), 3); /* no temp files left */
    snprintf(path, sizeof(path), "%s/export-2026-11.csv", dir);
    csv = t_slurp(path);
    assert_non_null(csv);
    if (getenv("T_SHOW"))
        printf("%s", csv);
    assert_true(strncmp(csv,
                        "period,invoice_number,account_number,account_code,"
                        "account_name,work_order,line_type,fee_code,jobs,"
                        "billable_pages,amount,note\r\n",
                        strlen("period,invoice_number,account_number,"
                               "account_code,account_name,work_order,"
                               "line_type,fee_code,jobs,billable_pages,"
                               "amount,note\r\n")) == 0);
    /* Job 12, at its minimum, has a row of its own that says so. */
    assert_non_null(strstr(csv, "2026-11,2026-11-CITY,AR-1001,CITY,"
                                "City Archive,WO-1,line,STD,1,116,9.43,\r\n"));
    assert_non_null(strstr(csv, "2026-11,2026-11-CITY,AR-1001,CITY,"
                                "City Archive,WO-1,line,STD,1,10,5.00,"
                                "\"Minimum charge, job 12: 10 pages x "
                                "0.08125 = 0.81; minimum 5.00 applies\"\r\n"));
    assert_non_null(strstr(csv, "2026-11,2026-11-CITY,AR-1001,CITY,"
                                "City Archive,WO-1,adjustment,STD,0,-10,"
                                "-0.81,\""
                                "credit for job 7 of 2026-10, "
                                "\"\"rework\"\"\"\r\n"));
    assert_non_null(strstr(csv, "2026-11,2026-11-COUNTY,,COUNTY,\"Smith, "
                                "\"\"Jones\"\" & Co\",WO-9,line,PREM,1,40,"
                                "4.80,\r\n"));
    assert_string_equal(export_total(csv, "CITY"), "13.62");
    assert_string_equal(export_total(csv, "COUNTY"), "4.80");

    city = pdf_text(dir, "invoice-2026-11-CITY.pdf");
    if (getenv("T_SHOW"))
        printf("%s", city);
    assert_non_null(strstr(city, "County Records Center"));
    assert_non_null(strstr(city, "Invoice"));
    assert_non_null(strstr(city, "2026-11-CITY"));
    assert_non_null(strstr(city, CITY_NAME));
    assert_non_null(strstr(city, "AR-1001"));
    assert_non_null(strstr(city, "Jane Roe"));
    assert_non_null(strstr(city, "2026-11-01 to 2026-11-30"));
    assert_non_null(strstr(city, "rework"));
    assert_non_null(strstr(city, "Minimum charge, job 12: 10 pages x 0.08125 "
                                 "= 0.81; minimum 5.00 applies"));
    assert_non_null(strstr(city, export_total(csv, "CITY")));
    assert_null(strstr(city, "DRAFT"));
    county = pdf_text(dir, "invoice-2026-11-COUNTY.pdf");
    assert_non_null(strstr(county, COUNTY_NAME));
    assert_non_null(strstr(county, export_total(csv, "COUNTY")));
    free(city);
    free(county);
    pm_free(csv);
    assert_int_equal(t_run(NULL,
                           "pdfinfo '%s/invoice-2026-11-CITY.pdf' | "
                           "grep -q 'Title: *Invoice 2026-11 CITY'",
                           dir),
                     0);
}

/* [invoice]'s settings on the PDF: issuer, address, tax id, currency,
 * payment terms, and A4 pages. */
static void invoice_uses_the_invoice_settings(void **state)
{
    static const char *const address[] = {"12 Archive Lane",
                                          "1010 Wien, Österreich"};
    const pm_issuer_t eu = {.name = "Landesarchiv Süd",
                            .address = address,
                            .naddress = 2,
                            .tax_id = "ATU12345678",
                            .currency = "EUR",
                            .currency_symbol = "€",
                            .payment_terms = "Net 30 days",
                            .a4 = 1};
    const char *dir = *state;
    pm_billing_period_t p = nov_closed();
    char *city = NULL, *info = NULL;
    int written = 0;

    make_november();
    make_accounts();
    assert_int_equal(
        pm_invoice_write(dir, "2026-11", &p, nov, 5, accts, 2, &eu, &written),
        0);
    city = pdf_text(dir, "invoice-2026-11-CITY.pdf");
    if (getenv("T_SHOW"))
        printf("%s", city);
    assert_non_null(strstr(city, "Landesarchiv Süd"));
    assert_non_null(strstr(city, "12 Archive Lane"));
    assert_non_null(strstr(city, "1010 Wien, Österreich"));
    assert_non_null(strstr(city, "Tax ID: ATU12345678"));
    assert_non_null(strstr(city, "Amount (EUR)"));
    assert_non_null(strstr(city, "€13.62")); /* the total */
    assert_non_null(strstr(city, "-€0.81")); /* the credit */
    assert_non_null(strstr(city, "Payment terms: Net 30 days"));
    assert_int_equal(t_run(&info, "pdfinfo '%s/invoice-2026-11-CITY.pdf'", dir),
                     0);
    if (strstr(info, "(A4)") == NULL)
        fail_msg("not A4:\n%s", info);
    free(info);
    free(city);
    /* Without settings: US letter, plain amounts. */
    assert_int_equal(write_november(dir, &p), 3);
    info = NULL;
    assert_int_equal(t_run(&info, "pdfinfo '%s/invoice-2026-11-CITY.pdf'", dir),
                     0);
    if (strstr(info, "(letter)") == NULL)
        fail_msg("not letter:\n%s", info);
    free(info);
}

static void invoice_files_are_the_same_bytes_twice(void **state)
{
    const char *dir = *state;
    static const char *const names[] = {"invoice-2026-11-CITY.pdf",
                                        "invoice-2026-11-COUNTY.pdf",
                                        "export-2026-11.csv"};
    pm_billing_period_t p = nov_closed();
    char path[4096];
    char *first[3];
    size_t i;

    assert_int_equal(write_november(dir, &p), 3);
    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        first[i] = t_slurp(path);
        assert_non_null(first[i]);
    }
    assert_int_equal(write_november(dir, &p), 3);
    for (i = 0; i < 3; i++) {
        unsigned char *again = NULL;
        size_t n1, n2;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        n1 = (size_t)t_file_size(path);
        assert_int_equal(pm_read_file(path, 1u << 24, &again, &n2), 0);
        assert_int_equal(n1, n2);
        assert_memory_equal(first[i], again, n2);
        pm_free(again);
        pm_free(first[i]);
    }
}

static void invoice_is_a_draft_while_open(void **state)
{
    const char *dir = *state;
    pm_billing_period_t p;
    char *city;

    memset(&p, 0, sizeof(p));
    snprintf(p.month, sizeof(p.month), "2026-11");
    assert_int_equal(write_november(dir, &p), 3);
    city = pdf_text(dir, "invoice-2026-11-CITY.pdf");
    assert_non_null(strstr(city, "DRAFT"));
    free(city);
    /* No period at all is open too. */
    assert_int_equal(write_november(dir, NULL), 3);
}

static void invoice_paginates_many_rows(void **state)
{
    const char *dir = *state;
    enum { N = 90 };
    pm_billing_line_t *l = pm_calloc(N, sizeof(*l));
    char wo[N][16], *text;
    char path[4096];
    int written, i;

    assert_non_null(l);
    for (i = 0; i < N; i++) {
        snprintf(wo[i], sizeof(wo[i]), "WO-%03d", i);
        l[i] = mkline("2026-11", i % 10 == 9 ? PM_LINE_ADJUSTMENT : PM_LINE_JOB,
                      "CITY", CITY_NAME, wo[i], 100 + i, "STD", 10, 0, 10,
                      100000, 0, i % 10 == 9 ? "recount" : NULL);
    }
    make_accounts();
    assert_int_equal(
        pm_invoice_write(dir, "2026-11", NULL, l, N, accts, 2, NULL, &written),
        0);
    assert_int_equal(written, 2);
    snprintf(path, sizeof(path), "%s/invoice-2026-11-CITY.pdf", dir);
    assert_true(t_pdf_pages(path) > 1);
    text = pdf_text(dir, "invoice-2026-11-CITY.pdf");
    assert_non_null(strstr(text, "pagemill")); /* the default issuer */
    assert_non_null(strstr(text, "WO-089"));
    assert_non_null(strstr(text, "900.00")); /* 90 x 10 pages x 0.10 */
    free(text);
    pm_free(l);
}

static void invoice_refuses_unsafe_codes_and_other_months(void **state)
{
    const char *dir = *state;
    static const char *const bad[] = {"../x", ".hidden", "a/b", ""};
    pm_billing_period_t p;
    pm_billing_line_t l;
    int written = 7;
    size_t i;

    make_accounts();
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l = mkline("2026-11", PM_LINE_JOB, bad[i], "X", "WO-1", 1, "STD", 1, 0,
                   1, 100, 0, NULL);
        assert_int_equal(pm_invoice_write(dir, "2026-11", NULL, &l, 1, accts, 2,
                                          NULL, &written),
                         PM_EINVAL);
        assert_int_equal(written, 0);
    }
    l = mkline("2026-10", PM_LINE_JOB, "CITY", "X", "WO-1", 1, "STD", 1, 0, 1,
               100, 0, NULL);
    assert_int_equal(
        pm_invoice_write(dir, "2026-11", NULL, &l, 1, accts, 2, NULL, &written),
        PM_EINVAL);
    assert_int_equal(pm_invoice_write(dir, "2026-13", NULL, NULL, 0, accts, 2,
                                      NULL, &written),
                     PM_EINVAL);
    p = nov_closed(); /* closed, but another month */
    assert_int_equal(
        pm_invoice_write(dir, "2026-10", &p, NULL, 0, accts, 2, NULL, &written),
        PM_EINVAL);
    assert_int_equal(t_count_entries(dir), 0);
    /* A month without lines still gets its (empty) export. */
    assert_int_equal(pm_invoice_write(dir, "2026-11", NULL, NULL, 0, NULL, 0,
                                      NULL, &written),
                     0);
    assert_int_equal(written, 1);
}

/* A CSV field a spreadsheet would run as a formula is written as quoted
 * text after a '; numbers (negative ones too) and other text are not. */
static void csv_fields_never_start_a_formula(void **state)
{
    static const char *const cases[][2] = {
        {"=1+2", "\"'=1+2\""},
        {"@SUM(A1)", "\"'@SUM(A1)\""},
        {"+cmd|x", "\"'+cmd|x\""},
        {"-1+2", "\"'-1+2\""},
        {"\tx", "\"'\tx\""},
        {"\rx", "\"'\rx\""},
        {"=\"a\",b", "\"'=\"\"a\"\",b\""},
        {"-2", "-2"},
        {"-0.05", "-0.05"},
        {"+3", "+3"},
        {"-", "-"},
        {"a=b", "a=b"},
        {"x,y", "\"x,y\""},
        {"", ""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pm_buf_t b = {0};
        char *out = NULL;
        size_t len = 0;

        pm__buf_csv(&b, cases[i][0]);
        assert_int_equal(pm_buf_take(&b, &out, &len), 0);
        assert_string_equal(out, cases[i][1]);
        pm_free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(money_parse_accepts_and_refuses),
        cmocka_unit_test(money_formats_with_fixed_decimals),
        cmocka_unit_test(money_rounds_half_away_from_zero),
        cmocka_unit_test(money_line_applies_minimum_but_not_to_credits),
        cmocka_unit_test_setup(months_are_strict, utc_setup),
        cmocka_unit_test_setup(dates_are_strict, utc_setup),
        cmocka_unit_test_setup(bounds_follow_the_time_zone_across_dst,
                               utc_setup),
        cmocka_unit_test_setup(timezone_refuses_unknown_and_unsafe_names,
                               utc_setup),
        cmocka_unit_test(report_formats_parse),
        cmocka_unit_test(csv_fields_never_start_a_formula),
        cmocka_unit_test_setup(report_table_shows_state_lines_and_totals,
                               utc_setup),
        cmocka_unit_test_setup(report_table_summarizes_many_months, utc_setup),
        cmocka_unit_test_setup(report_csv_quotes_and_totals, utc_setup),
        cmocka_unit_test_setup(report_json_reads_back_with_the_same_totals,
                               utc_setup),
        cmocka_unit_test_setup(report_renders_the_same_bytes_twice, utc_setup),
        cmocka_unit_test_setup(report_refuses_bad_input_and_survives_no_memory,
                               utc_setup),
        cmocka_unit_test_setup_teardown(
            invoice_shows_account_period_and_export_total, t_tmpdir_setup,
            t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(invoice_uses_the_invoice_settings,
                                        tmp_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(invoice_files_are_the_same_bytes_twice,
                                        tmp_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(invoice_is_a_draft_while_open,
                                        tmp_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(invoice_paginates_many_rows, tmp_setup,
                                        t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(
            invoice_refuses_unsafe_codes_and_other_months, t_tmpdir_setup,
            t_tmpdir_teardown),
    };

    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    pm__invoice_release_caches();
    return failed;
}
