/*
 * billing.c: the backend-independent half of billing (billing.h): money in
 * integer millicents and cents, the billing time zone, months and dates in
 * it, and the string buffer the catalog and the renderers share. Reports
 * and invoices are rendered outside the catalog (catalog/render/).
 *
 * No floating point anywhere: prices are parsed digit by digit, amounts
 * are int64 products checked for overflow, and rounding to cents is one
 * integer division with the remainder looked at (half away from zero).
 *
 * Reading order: money, time zone, months and dates, the string buffer.
 */
#include "catalog/billing.h"

#include <assert.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/billing_int.h"
#include "pipeline/base/pm.h"

/* ---- money ---- */

/* Millicents per currency unit: 10^PM_PRICE_DECIMALS. */
#define MC_PER_UNIT ((int64_t)100000)

int pm_money_parse(const char *s, int64_t *mc)
{
    int64_t units = 0, frac = 0;
    int nint = 0, nfrac = 0, big = 0;

    *mc = 0;
    if (s == NULL)
        return PM_EINVAL;
    for (; *s >= '0' && *s <= '9'; s++, nint++) {
        if (units <= PM_PRICE_MAX_MC / MC_PER_UNIT)
            units = units * 10 + (*s - '0');
        else
            big = 1; /* keep scanning: malformed beats too big */
    }
    if (nint == 0)
        return PM_EINVAL;
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, nfrac++)
            if (nfrac < PM_PRICE_DECIMALS)
                frac = frac * 10 + (*s - '0');
        if (nfrac == 0 || nfrac > PM_PRICE_DECIMALS)
            return PM_EINVAL;
    }
    if (*s != '\0')
        return PM_EINVAL;
    for (; nfrac < PM_PRICE_DECIMALS; nfrac++)
        frac *= 10;
    if (big || units > PM_PRICE_MAX_MC / MC_PER_UNIT ||
        units * MC_PER_UNIT + frac > PM_PRICE_MAX_MC)
        return PM_ETOOBIG;
    *mc = units * MC_PER_UNIT + frac;
    return PM_OK;
}

/* Writes v / div with `decimals` digits after the point (div = 10^decimals);
 * unsigned magnitude, so INT64_MIN formats too. */
static void format_fixed(int64_t v, uint64_t div, int decimals, char *buf,
                         size_t size)
{
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    snprintf(buf, size, "%s%llu.%0*llu", v < 0 ? "-" : "",
             (unsigned long long)(mag / div), decimals,
             (unsigned long long)(mag % div));
}

void pm_money_format_mc(int64_t mc, char *buf, size_t size)
{
    format_fixed(mc, (uint64_t)MC_PER_UNIT, PM_PRICE_DECIMALS, buf, size);
}

void pm_money_format_cents(int64_t cents, char *buf, size_t size)
{
    format_fixed(cents, 100, 2, buf, size);
}

int64_t pm_money_round_cents(int64_t mc)
{
    int64_t q = mc / 1000, r = mc % 1000; /* C truncates toward zero */

    if (r >= 500)
        q++;
    else if (r <= -500)
        q--;
    return q;
}

int pm_money_line(int64_t billable, int64_t unit_mc, int64_t min_mc,
                  int64_t *amount_mc)
{
    int64_t a;

    *amount_mc = 0;
    if (__builtin_mul_overflow(billable, unit_mc, &a))
        return PM_ETOOBIG;
    if (billable >= 0 && a < min_mc)
        a = min_mc;
    *amount_mc = a;
    return PM_OK;
}

void pm_money_min_note(const pm_billing_line_t *l, char *buf, size_t size)
{
    char unit[32], product[32], min[32];
    int64_t mc;

    assert(size > 0);
    buf[0] = '\0';
    if (!l->min_applied ||
        __builtin_mul_overflow(l->billable_pages, l->unit_price_mc, &mc))
        return;
    pm_money_format_mc(l->unit_price_mc, unit, sizeof(unit));
    pm_money_format_cents(pm_money_round_cents(mc), product, sizeof(product));
    pm_money_format_cents(pm_money_round_cents(l->min_charge_mc), min,
                          sizeof(min));
    snprintf(buf, size, "%lld page%s x %s = %s; minimum %s applies",
             (long long)l->billable_pages, l->billable_pages == 1 ? "" : "s",
             unit, product, min);
}

/* ---- the billing time zone ---- */

/* The name in use; "UTC" until set. Longest zoneinfo name is ~30 bytes. */
static char tz_name[128] = "UTC";

/* While the zone is UTC, months and dates use gmtime_r and timegm, so an
 * unset zone is UTC whatever TZ the process inherited. */
static int tz_utc = 1;

int pm_billing_set_timezone(const char *tz)
{
    if (tz == NULL || tz[0] == '\0' || strcmp(tz, "UTC") == 0) {
        /* A POSIX rule, so UTC needs no zoneinfo file. */
        if (setenv("TZ", "UTC0", 1) != 0)
            return -errno;
        tzset();
        snprintf(tz_name, sizeof(tz_name), "UTC");
        tz_utc = 1;
        return PM_OK;
    }
    if (!pm_timezone_valid(tz) || strlen(tz) >= sizeof(tz_name))
        return PM_EINVAL;
    if (setenv("TZ", tz, 1) != 0)
        return -errno;
    tzset();
    snprintf(tz_name, sizeof(tz_name), "%s", tz);
    tz_utc = 0;
    return PM_OK;
}

int pm_billing_use_catalog_timezone(pm_catalog_t *cat, const char *configured,
                                    char *tz, size_t size)
{
    int err = pm_catalog_billing_timezone(cat, configured, tz, size);

    if (err == 0 && pm_billing_set_timezone(tz) != PM_OK)
        err = PM_ECONFIG;
    return err;
}

const char *pm_billing_timezone(void)
{
    return tz_name;
}

/* ---- months and dates ---- */

/* Reads `n` decimal digits at s into *v; 0 unless all are digits. */
static int digits(const char *s, int n, int *v)
{
    int i;

    *v = 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        *v = *v * 10 + (s[i] - '0');
    }
    return 1;
}

/* Parses a strict "YYYY-MM" prefix (year 2000..9999, month 1..12). */
static int month_parse(const char *s, int *year, int *mon)
{
    *year = *mon = 0;
    return s != NULL && digits(s, 4, year) && s[4] == '-' &&
           digits(s + 5, 2, mon) && *year >= 2000 && *mon >= 1 && *mon <= 12;
}

int pm_month_valid(const char *s)
{
    int y, m;

    if (!month_parse(s, &y, &m) || s[7] != '\0')
        return PM_EINVAL;
    return PM_OK;
}

/* The first second of day `day` of month `mon` (1-based) of `year` in the
 * billing time zone; tm_isdst -1 lets mktime find the offset. The
 * normalized fields come back in *tm. */
static int64_t local_midnight(int year, int mon, int day, struct tm *tm)
{
    memset(tm, 0, sizeof(*tm));
    tm->tm_year = year - 1900;
    tm->tm_mon = mon - 1;
    tm->tm_mday = day;
    tm->tm_isdst = -1;
    return (int64_t)(tz_utc ? timegm(tm) : mktime(tm));
}

/* Breaks `t` down in the billing time zone; 0 unless the year has four
 * digits. */
static int local_tm(int64_t t, struct tm *tm)
{
    time_t tt = (time_t)t;

    if ((tz_utc ? gmtime_r(&tt, tm) : localtime_r(&tt, tm)) == NULL)
        return 0;
    return tm->tm_year + 1900 >= 0 && tm->tm_year + 1900 <= 9999;
}

/* Writes "YYYY-MM" (day 0) or "YYYY-MM-DD" with its NUL; 0 <= y <= 9999. */
static void ymd_string(char *out, int y, int m, int d)
{
    const int v[3] = {y, m, d}, width[3] = {4, 2, 2};
    int i, k, n = d == 0 ? 2 : 3, x;

    for (i = 0; i < n; i++) {
        for (x = v[i], k = width[i] - 1; k >= 0; k--, x /= 10)
            out[k] = (char)('0' + x % 10);
        out += width[i];
        *out++ = i + 1 < n ? '-' : '\0';
    }
}

void pm_month_of(int64_t t, char out[PM_MONTH_SIZE])
{
    struct tm tm;

    out[0] = '\0';
    if (local_tm(t, &tm))
        ymd_string(out, tm.tm_year + 1900, tm.tm_mon + 1, 0);
}

void pm_month_next(const char *m, char out[PM_MONTH_SIZE])
{
    int y, mo;

    /* Read m whole before writing out: they may be the same buffer. */
    if (pm_month_valid(m) != PM_OK) {
        out[0] = '\0';
        return;
    }
    month_parse(m, &y, &mo);
    out[0] = '\0';
    if (++mo > 12) {
        mo = 1;
        y++;
    }
    if (y <= 9999)
        ymd_string(out, y, mo, 0);
}

int pm_month_bounds(const char *m, int64_t *start, int64_t *end)
{
    struct tm tm;
    int y, mo;

    *start = *end = 0;
    if (pm_month_valid(m) != PM_OK)
        return PM_EINVAL;
    month_parse(m, &y, &mo);
    *start = local_midnight(y, mo, 1, &tm);
    *end = mo == 12 ? local_midnight(y + 1, 1, 1, &tm)
                    : local_midnight(y, mo + 1, 1, &tm);
    return PM_OK;
}

int pm_date_parse(const char *s, int64_t *t)
{
    struct tm tm;
    int y, m, d;
    int64_t v;

    *t = 0;
    if (!month_parse(s, &y, &m) || s[7] != '-' || !digits(s + 8, 2, &d) ||
        s[10] != '\0' || d < 1)
        return PM_EINVAL;
    v = local_midnight(y, m, d, &tm);
    /* mktime moves 2026-02-30 to 2026-03-02: an impossible date does not
     * come back as itself. */
    if (tm.tm_year != y - 1900 || tm.tm_mon != m - 1 || tm.tm_mday != d)
        return PM_EINVAL;
    *t = v;
    return PM_OK;
}

void pm_date_format(int64_t t, char out[PM_DATE_SIZE])
{
    struct tm tm;

    out[0] = '\0';
    if (local_tm(t, &tm))
        ymd_string(out, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* ---- CSV fields (billing_int.h) ---- */

/* A number as the reports write one ("-2", "-12.50"), or the lone "-" of
 * an unpriced line: not text a spreadsheet could take for a formula. */
static int csv_plain_number(const char *s)
{
    size_t n = strspn(s + 1, "0123456789.");

    return strcmp(s, "-") == 0 || (n > 0 && s[1 + n] == '\0');
}

/* A field a spreadsheet would run as a formula (OWASP, CSV injection):
 * one that starts with =, +, -, @, a tab or CR and is not a number. */
static int csv_formula(const char *s)
{
    return s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL &&
           !csv_plain_number(s);
}

void pm__buf_csv(pm_buf_t *b, const char *s)
{
    const char *p;
    int formula = s != NULL && csv_formula(s);

    if (s == NULL || (!formula && strpbrk(s, ",\"\r\n") == NULL)) {
        pm_buf_puts(b, s);
        return;
    }
    if (!pm_buf_reserve(b, 2 * strlen(s) + 3))
        return;
    b->s[b->len++] = '"';
    if (formula) /* shown as text: the quote is not part of the value */
        b->s[b->len++] = '\'';
    for (p = s; *p != '\0'; p++) {
        if (*p == '"')
            b->s[b->len++] = '"';
        b->s[b->len++] = *p;
    }
    b->s[b->len++] = '"';
    b->s[b->len] = '\0';
}

void pm__buf_csv_row(pm_buf_t *b, const char *const *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            pm_buf_puts(b, ",");
        pm__buf_csv(b, f[i]);
    }
    pm_buf_puts(b, "\r\n");
}
