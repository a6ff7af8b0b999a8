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

#include <jansson.h>

#include "catalog/billing.h"
#include "lib/testlib.h"
#include "pipeline/pm.h"

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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
