/*
 * billing.c: the backend-independent half of billing (billing.h): money in
 * integer millicents and cents, the billing time zone, months and dates in
 * it, and the billing report rendered as a table, CSV or JSON from the
 * lines a catalog backend computed. invoice.c writes the invoices and the
 * accounting export from the same lines.
 *
 * No floating point anywhere: prices are parsed digit by digit, amounts
 * are int64 products checked for overflow, and rounding to cents is one
 * integer division with the remainder looked at (half away from zero).
 *
 * The report is a pure function of its input: nothing reads the clock, so
 * a closed month's frozen lines render to the same bytes every time (the
 * closing date is shown as a day in the billing time zone, which is fixed
 * by the configuration).
 *
 * Reading order: money, time zone, months and dates, the string buffer,
 * then the report (totals, table, CSV, JSON).
 */
#include "catalog/billing.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog/billing_int.h"
#include "pipeline/pm.h"

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

/* ---- the string buffer (billing_int.h) ---- */

static int buf_reserve(pm__buf_t *b, size_t n)
{
    size_t need = b->len + n + 1, cap;
    char *p;

    if (b->oom)
        return 0;
    if (need <= b->cap)
        return 1;
    for (cap = b->cap ? b->cap : 256; cap < need; cap *= 2)
        ;
    p = pm_realloc(b->s, cap);
    if (p == NULL) {
        b->oom = 1;
        return 0;
    }
    b->s = p;
    b->cap = cap;
    return 1;
}

void pm__buf_printf(pm__buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if (!buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void pm__buf_add(pm__buf_t *b, const void *data, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    if (n > 0)
        memcpy(b->s + b->len, data, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void pm__buf_puts(pm__buf_t *b, const char *s)
{
    pm__buf_add(b, s, s == NULL ? 0 : strlen(s));
}

void pm__buf_csv(pm__buf_t *b, const char *s)
{
    const char *p;

    if (s == NULL || strpbrk(s, ",\"\r\n") == NULL) {
        pm__buf_puts(b, s);
        return;
    }
    if (!buf_reserve(b, 2 * strlen(s) + 2))
        return;
    b->s[b->len++] = '"';
    for (p = s; *p != '\0'; p++) {
        if (*p == '"')
            b->s[b->len++] = '"';
        b->s[b->len++] = *p;
    }
    b->s[b->len++] = '"';
    b->s[b->len] = '\0';
}

void pm__buf_csv_row(pm__buf_t *b, const char *const *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            pm__buf_puts(b, ",");
        pm__buf_csv(b, f[i]);
    }
    pm__buf_puts(b, "\r\n");
}

int pm__buf_take(pm__buf_t *b, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!b->oom)
        buf_reserve(b, 0); /* an empty report is still a string */
    if (b->oom) {
        pm__buf_cleanup(b);
        return PM_ENOMEM;
    }
    *out = b->s;
    *len = b->len;
    b->s[b->len] = '\0';
    memset(b, 0, sizeof(*b));
    return PM_OK;
}

void pm__buf_cleanup(pm__buf_t *b)
{
    pm_free(b->s);
    memset(b, 0, sizeof(*b));
}

/* ---- reports ---- */

int pm_bill_format_parse(const char *s)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "table") == 0)
        return PM_BILL_TABLE;
    if (strcmp(s, "csv") == 0)
        return PM_BILL_CSV;
    if (strcmp(s, "json") == 0)
        return PM_BILL_JSON;
    return -1;
}

/* Sums over a group of lines: counts, and cents of the priced ones. */
typedef struct {
    int64_t lines, unpriced, pages, blank, billable, cents;
} totals_t;

/* The totals of one run of consecutive lines with the same month, account
 * and work order (one per work order and month in pm_billing_lines'
 * order). */
typedef struct {
    const pm_billing_line_t *first;
    size_t end; /* one past its last line */
    totals_t t;
} wo_total_t;

typedef struct {
    const char *account, *name; /* borrowed from the first line */
    totals_t t;
} acct_total_t;

typedef struct {
    wo_total_t *wo;
    size_t nwo;
    acct_total_t *acct;
    size_t nacct;
    totals_t all;
} summary_t;

static const char *str_or(const char *s, const char *dflt)
{
    return s != NULL ? s : dflt;
}

static int same_str(const char *a, const char *b)
{
    return strcmp(str_or(a, ""), str_or(b, "")) == 0;
}

static int totals_add(totals_t *t, const pm_billing_line_t *l)
{
    t->lines++;
    if (!l->priced)
        t->unpriced++;
    if (__builtin_add_overflow(t->pages, l->pages, &t->pages) ||
        __builtin_add_overflow(t->blank, l->blank_pages, &t->blank) ||
        __builtin_add_overflow(t->billable, l->billable_pages, &t->billable) ||
        (l->priced &&
         __builtin_add_overflow(t->cents, l->amount_cents, &t->cents)))
        return PM_ETOOBIG;
    return PM_OK;
}

static void summary_cleanup(summary_t *s)
{
    pm_free(s->wo);
    pm_free(s->acct);
    memset(s, 0, sizeof(*s));
}

/* The account total of `code`, added at the end when new. */
static acct_total_t *summary_account(summary_t *s, const pm_billing_line_t *l)
{
    /* Lines come by account, so the last account seen is nearly always
     * the one: look from the end. */
    for (size_t i = s->nacct; i-- > 0;)
        if (same_str(s->acct[i].account, l->account))
            return &s->acct[i];
    s->acct[s->nacct].account = str_or(l->account, "");
    s->acct[s->nacct].name = l->account_name;
    return &s->acct[s->nacct++];
}

/* Adds line i of `r` to its work order run, its account and the whole. */
static int summary_add(summary_t *s, const pm_billing_report_t *r, size_t i)
{
    const pm_billing_line_t *l = &r->lines[i];
    wo_total_t *w = s->nwo > 0 ? &s->wo[s->nwo - 1] : NULL;
    int err;

    if (w == NULL || strcmp(w->first->month, l->month) != 0 ||
        !same_str(w->first->account, l->account) ||
        !same_str(w->first->workorder, l->workorder)) {
        w = &s->wo[s->nwo++];
        w->first = l;
    }
    w->end = i + 1;
    err = totals_add(&w->t, l);
    if (err == 0)
        err = totals_add(&summary_account(s, l)->t, l);
    if (err == 0)
        err = totals_add(&s->all, l);
    return err;
}

/* Computes every total of `r` into *s (summary_cleanup frees it). */
static int summary_build(const pm_billing_report_t *r, summary_t *s)
{
    size_t i, n = r->nlines > 0 ? r->nlines : 1;
    int err;

    memset(s, 0, sizeof(*s));
    s->wo = pm_calloc(n, sizeof(*s->wo));
    s->acct = pm_calloc(n, sizeof(*s->acct));
    if (s->wo == NULL || s->acct == NULL) {
        summary_cleanup(s);
        return PM_ENOMEM;
    }
    for (i = 0; i < r->nlines; i++) {
        err = summary_add(s, r, i);
        if (err) {
            summary_cleanup(s);
            return err;
        }
    }
    return PM_OK;
}

/* "closed 2026-12-01 by alice" (", forced") or "open", for people. */
static void period_state(const pm_billing_period_t *p, char *buf, size_t size)
{
    char day[PM_DATE_SIZE];

    if (!p->closed) {
        snprintf(buf, size, "open");
        return;
    }
    pm_date_format(p->closed_at, day);
    snprintf(buf, size, "closed %s by %s%s", day,
             str_or(p->closed_by, "unknown"), p->forced ? " (forced)" : "");
}

/* ---- the table ---- */

#define MAXCOL 10

/* One row of a text table: cells point at borrowed text or at num. */
typedef struct {
    const char *cell[MAXCOL];
    char num[MAXCOL][32];
    const char *note; /* printed on its own line under the row */
} row_t;

typedef struct {
    size_t ncol;
    const char *head[MAXCOL];
    int right[MAXCOL]; /* right-aligned (numbers) */
    size_t note_col;   /* notes start under this column */
    row_t *rows;
    size_t nrows;
} table_t;

/* Display width: UTF-8 code points, so names with accents still align. */
static size_t text_width(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void row_num(row_t *row, size_t col, int64_t v)
{
    snprintf(row->num[col], sizeof(row->num[col]), "%lld", (long long)v);
    row->cell[col] = row->num[col];
}

static void row_cents(row_t *row, size_t col, int64_t cents)
{
    pm_money_format_cents(cents, row->num[col], sizeof(row->num[col]));
    row->cell[col] = row->num[col];
}

static void pad(pm__buf_t *b, size_t n)
{
    for (; n > 0; n--)
        pm__buf_puts(b, " ");
}

/* One table row (or the header when row is NULL), two spaces between
 * columns, no trailing blanks. */
static void table_row(pm__buf_t *b, const table_t *t, const size_t *w,
                      const row_t *row)
{
    size_t c, indent = 0, gap = 0;

    for (c = 0; c < t->ncol; c++) {
        const char *s = str_or(row ? row->cell[c] : t->head[c], "");
        size_t sw = text_width(s);
        int last = c + 1 == t->ncol;

        if (t->right[c]) {
            pad(b, gap + w[c] - sw);
            pm__buf_puts(b, s);
            gap = 2;
        } else {
            pad(b, gap);
            pm__buf_puts(b, s);
            gap = w[c] - sw + 2;
        }
        if (c < t->note_col)
            indent += w[c] + 2;
        if (last)
            pm__buf_puts(b, "\n");
    }
    if (row != NULL && row->note != NULL) {
        pad(b, indent);
        pm__buf_printf(b, "note: %s\n", row->note);
    }
}

static void table_print(pm__buf_t *b, const table_t *t)
{
    size_t w[MAXCOL] = {0}, c, i;

    for (c = 0; c < t->ncol; c++) {
        w[c] = text_width(t->head[c]);
        for (i = 0; i < t->nrows; i++) {
            size_t sw = text_width(str_or(t->rows[i].cell[c], ""));
            if (sw > w[c])
                w[c] = sw;
        }
    }
    table_row(b, t, w, NULL);
    for (i = 0; i < t->nrows; i++)
        table_row(b, t, w, &t->rows[i]);
}

/* The counts and amount of the last five columns from column `c` on. */
static void row_totals(row_t *row, size_t c, const totals_t *t)
{
    row_num(row, c, t->pages);
    row_num(row, c + 1, t->blank);
    row_num(row, c + 2, t->billable);
    row->cell[c + 3] = "";
    row_cents(row, c + 4, t->cents);
}

static void line_row(row_t *row, const pm_billing_line_t *l, int months)
{
    size_t c = 0;

    if (months)
        row->cell[c++] = l->month;
    row->cell[c++] = str_or(l->account, "");
    row->cell[c++] = str_or(l->workorder, "");
    snprintf(row->num[c], sizeof(row->num[c]), "%lld%s", (long long)l->job,
             l->kind == PM_LINE_ADJUSTMENT ? " adj" : "");
    row->cell[c] = row->num[c];
    c++;
    row->cell[c++] = str_or(l->fee_code, "-");
    row_num(row, c++, l->pages);
    row_num(row, c++, l->blank_pages);
    row_num(row, c++, l->billable_pages);
    if (l->priced) {
        pm_money_format_mc(l->unit_price_mc, row->num[c], sizeof(row->num[c]));
        row->cell[c] = row->num[c];
        row_cents(row, c + 1, l->amount_cents);
    } else {
        row->cell[c] = "-";
        row->cell[c + 1] = "-";
    }
    if (l->kind == PM_LINE_ADJUSTMENT)
        row->note = str_or(l->note, "(no note)");
}

static void wo_row(row_t *row, const wo_total_t *w, int months)
{
    size_t c = 0;

    if (months)
        row->cell[c++] = w->first->month;
    row->cell[c++] = str_or(w->first->account, "");
    row->cell[c++] = str_or(w->first->workorder, "");
    row->cell[c++] = "total";
    row->cell[c++] = "";
    row_totals(row, c, &w->t);
}

/* The lines, each work order's total after its lines. */
static int table_lines(pm__buf_t *b, const pm_billing_report_t *r,
                       const summary_t *s)
{
    static const char *const head[] = {
        "MONTH", "ACCOUNT", "WORK ORDER", "JOB",        "FEE",
        "PAGES", "BLANK",   "BILLABLE",   "UNIT PRICE", "AMOUNT"};
    int months = strcmp(r->from, r->to) != 0;
    table_t t = {0};
    size_t i, k, c;

    t.ncol = months ? 10 : 9;
    t.note_col = months ? 3 : 2; /* JOB */
    for (c = 0; c < t.ncol; c++) {
        t.head[c] = head[c + !months];
        t.right[c] = c + !months >= 5;
    }
    t.rows = pm_calloc(r->nlines + s->nwo, sizeof(*t.rows));
    if (t.rows == NULL)
        return PM_ENOMEM;
    for (i = 0, k = 0; k < s->nwo; k++) {
        for (; i < s->wo[k].end; i++)
            line_row(&t.rows[t.nrows++], &r->lines[i], months);
        wo_row(&t.rows[t.nrows++], &s->wo[k], months);
    }
    table_print(b, &t);
    pm_free(t.rows);
    return PM_OK;
}

/* Per account, then the whole report. */
static int table_accounts(pm__buf_t *b, const summary_t *s)
{
    static const char *const head[] = {
        "ACCOUNT", "NAME", "LINES", "PAGES", "BLANK", "BILLABLE", "", "AMOUNT"};
    table_t t = {0};
    size_t i, c;

    t.ncol = 8;
    for (c = 0; c < t.ncol; c++) {
        t.head[c] = head[c];
        t.right[c] = c >= 2;
    }
    t.rows = pm_calloc(s->nacct + 1, sizeof(*t.rows));
    if (t.rows == NULL)
        return PM_ENOMEM;
    for (i = 0; i < s->nacct; i++) {
        row_t *row = &t.rows[t.nrows++];
        row->cell[0] = s->acct[i].account;
        row->cell[1] = str_or(s->acct[i].name, "");
        row_num(row, 2, s->acct[i].t.lines);
        row_totals(row, 3, &s->acct[i].t);
    }
    t.rows[t.nrows].cell[0] = "TOTAL";
    t.rows[t.nrows].cell[1] = "";
    row_num(&t.rows[t.nrows], 2, s->all.lines);
    row_totals(&t.rows[t.nrows++], 3, &s->all);
    table_print(b, &t);
    pm_free(t.rows);
    return PM_OK;
}

/* Title, each month's state (or a summary of many), filters. */
static void table_title(pm__buf_t *b, const pm_billing_report_t *r)
{
    char state[160];
    size_t i, closed = 0;

    if (strcmp(r->from, r->to) == 0) {
        if (r->nperiods > 0)
            period_state(&r->periods[0], state, sizeof(state));
        pm__buf_printf(b, "Billing report %s (%s)\n", r->from,
                       r->nperiods > 0 ? state : "state unknown");
    } else {
        for (i = 0; i < r->nperiods; i++)
            closed += r->periods[i].closed != 0;
        pm__buf_printf(b,
                       "Billing report %s to %s (%zu months, %zu closed, "
                       "%zu open)\n",
                       r->from, r->to, r->nperiods, closed,
                       r->nperiods - closed);
        for (i = 0; r->nperiods <= 6 && i < r->nperiods; i++) {
            period_state(&r->periods[i], state, sizeof(state));
            pm__buf_printf(b, "  %s %s\n", r->periods[i].month, state);
        }
    }
    if (r->account != NULL)
        pm__buf_printf(b, "Account: %s\n", r->account);
    if (r->workorder != NULL)
        pm__buf_printf(b, "Work order: %s\n", r->workorder);
    pm__buf_puts(b, "\n");
}

static int render_table(pm__buf_t *b, const pm_billing_report_t *r,
                        const summary_t *s)
{
    int err = 0;

    table_title(b, r);
    if (r->nlines == 0)
        pm__buf_puts(b, "No lines.\n");
    else
        err = table_lines(b, r, s);
    if (err == 0) {
        pm__buf_puts(b, "\n");
        err = table_accounts(b, s);
    }
    if (err == 0 && s->all.unpriced > 0)
        pm__buf_printf(b,
                       "\nUnpriced lines: %lld (no fee code or no price "
                       "effective; not in the amounts)\n",
                       (long long)s->all.unpriced);
    return err;
}

/* ---- CSV ---- */

/* A total row: month, type, account, work order, then the counts. */
static void csv_total(pm__buf_t *b, const char *month, const char *type,
                      const char *account, const char *wo, const totals_t *t)
{
    char num[4][32], note[64] = "";
    const char *f[12];

    snprintf(num[0], sizeof(num[0]), "%lld", (long long)t->pages);
    snprintf(num[1], sizeof(num[1]), "%lld", (long long)t->blank);
    snprintf(num[2], sizeof(num[2]), "%lld", (long long)t->billable);
    pm_money_format_cents(t->cents, num[3], sizeof(num[3]));
    if (t->unpriced > 0)
        snprintf(note, sizeof(note), "%lld unpriced lines",
                 (long long)t->unpriced);
    f[0] = month;
    f[1] = type;
    f[2] = account;
    f[3] = wo;
    f[4] = "";
    f[5] = "";
    f[6] = num[0];
    f[7] = num[1];
    f[8] = num[2];
    f[9] = "";
    f[10] = num[3];
    f[11] = note;
    pm__buf_csv_row(b, f, 12);
}

static void csv_line(pm__buf_t *b, const pm_billing_line_t *l)
{
    char num[6][32];
    const char *f[12];

    snprintf(num[0], sizeof(num[0]), "%lld", (long long)l->job);
    snprintf(num[1], sizeof(num[1]), "%lld", (long long)l->pages);
    snprintf(num[2], sizeof(num[2]), "%lld", (long long)l->blank_pages);
    snprintf(num[3], sizeof(num[3]), "%lld", (long long)l->billable_pages);
    pm_money_format_mc(l->unit_price_mc, num[4], sizeof(num[4]));
    pm_money_format_cents(l->amount_cents, num[5], sizeof(num[5]));
    f[0] = l->month;
    f[1] = l->kind == PM_LINE_ADJUSTMENT ? "adjustment" : "line";
    f[2] = l->account;
    f[3] = l->workorder;
    f[4] = num[0];
    f[5] = l->fee_code;
    f[6] = num[1];
    f[7] = num[2];
    f[8] = num[3];
    f[9] = l->priced ? num[4] : "-";
    f[10] = l->priced ? num[5] : "-";
    f[11] = l->note;
    pm__buf_csv_row(b, f, 12);
}

static void render_csv(pm__buf_t *b, const pm_billing_report_t *r,
                       const summary_t *s)
{
    /* Totals over the whole report carry its month when it has one. */
    const char *month = strcmp(r->from, r->to) == 0 ? r->from : "";
    size_t i = 0, k;

    pm__buf_puts(b, "month,type,account,work_order,job,fee_code,pages,"
                    "blank_pages,billable_pages,unit_price,amount,note\r\n");
    for (k = 0; k < s->nwo; k++) {
        for (; i < s->wo[k].end; i++)
            csv_line(b, &r->lines[i]);
        csv_total(b, s->wo[k].first->month, "work_order_total",
                  s->wo[k].first->account, s->wo[k].first->workorder,
                  &s->wo[k].t);
    }
    for (k = 0; k < s->nacct; k++)
        csv_total(b, month, "account_total", s->acct[k].account, "",
                  &s->acct[k].t);
    csv_total(b, month, "total", "", "", &s->all);
}

/* ---- JSON ---- */

/* A JSON string, or null for NULL; NULL (an error) for bad UTF-8 or no
 * memory, which json_object_set_new then reports. */
static json_t *jstr(const char *s)
{
    return s == NULL ? json_null() : json_string(s);
}

static json_t *jint(int64_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *jcents(int64_t cents)
{
    char buf[32];

    pm_money_format_cents(cents, buf, sizeof(buf));
    return json_string(buf);
}

/* Sets key k of o to v, which it consumes in every case; 0, or -1 when v or
 * o is NULL. Keys come out in the order they were set. */
static int jset(json_t *o, const char *k, json_t *v)
{
    if (o == NULL) {
        json_decref(v);
        return -1;
    }
    return json_object_set_new(o, k, v) != 0 ? -1 : 0; /* v consumed */
}

static json_t *json_period(const pm_billing_period_t *p)
{
    json_t *o = json_object();
    char at[32] = "";
    time_t t = (time_t)p->closed_at;
    struct tm tm;

    if (p->closed && gmtime_r(&t, &tm) != NULL)
        strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (jset(o, "month", json_string(p->month)) ||
        jset(o, "state", json_string(p->closed ? "closed" : "open")) ||
        jset(o, "closed_at", p->closed ? json_string(at) : json_null()) ||
        jset(o, "closed_by", p->closed ? jstr(p->closed_by) : json_null())) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A priced figure, or null for an unpriced line. */
static json_t *jpriced(const pm_billing_line_t *l, json_t *v)
{
    if (l->priced)
        return v;
    json_decref(v);
    return json_null();
}

static json_t *json_line(const pm_billing_line_t *l)
{
    json_t *o = json_object();

    if (jset(o, "month", json_string(l->month)) ||
        jset(o, "kind",
             json_string(l->kind == PM_LINE_ADJUSTMENT ? "adjustment"
                                                       : "job")) ||
        jset(o, "account", jstr(l->account)) ||
        jset(o, "account_name", jstr(l->account_name)) ||
        jset(o, "work_order", jstr(l->workorder)) ||
        jset(o, "job", jint(l->job)) ||
        jset(o, "fee_code", jstr(l->fee_code)) ||
        jset(o, "pages", jint(l->pages)) ||
        jset(o, "blank_pages", jint(l->blank_pages)) ||
        jset(o, "billable_pages", jint(l->billable_pages)) ||
        jset(o, "unit_price_millicents", jpriced(l, jint(l->unit_price_mc))) ||
        jset(o, "min_charge_millicents", jpriced(l, jint(l->min_charge_mc))) ||
        jset(o, "amount_millicents", jpriced(l, jint(l->amount_mc))) ||
        jset(o, "amount_cents", jpriced(l, jint(l->amount_cents))) ||
        jset(o, "amount", jpriced(l, jcents(l->amount_cents))) ||
        jset(o, "note", jstr(l->note))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Adds the counts and amount of `t` to `o` (consumed on failure). */
static json_t *json_totals(json_t *o, const totals_t *t)
{
    if (jset(o, "lines", jint(t->lines)) ||
        jset(o, "unpriced_lines", jint(t->unpriced)) ||
        jset(o, "pages", jint(t->pages)) ||
        jset(o, "blank_pages", jint(t->blank)) ||
        jset(o, "billable_pages", jint(t->billable)) ||
        jset(o, "amount_cents", jint(t->cents)) ||
        jset(o, "amount", jcents(t->cents))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *json_wo_total(const wo_total_t *w)
{
    json_t *o = json_object();

    if (jset(o, "month", json_string(w->first->month)) ||
        jset(o, "account", jstr(w->first->account)) ||
        jset(o, "work_order", jstr(w->first->workorder))) {
        json_decref(o);
        return NULL;
    }
    return json_totals(o, &w->t);
}

static json_t *json_acct_total(const acct_total_t *a)
{
    json_t *o = json_object();

    if (jset(o, "account", json_string(a->account)) ||
        jset(o, "account_name", jstr(a->name))) {
        json_decref(o);
        return NULL;
    }
    return json_totals(o, &a->t);
}

/* Appends v (consumed in every case) to array a; -1 when v or a is NULL. */
static int jpush(json_t *a, json_t *v)
{
    if (a == NULL) {
        json_decref(v);
        return -1;
    }
    return json_array_append_new(a, v) != 0 ? -1 : 0;
}

static json_t *json_report(const pm_billing_report_t *r, const summary_t *s)
{
    json_t *o = json_object(), *periods = json_array(), *lines = json_array();
    json_t *wos = json_array(), *accts = json_array(), *tot = json_object();
    size_t i;
    int bad = 0;

    for (i = 0; i < r->nperiods; i++)
        bad |= jpush(periods, json_period(&r->periods[i]));
    for (i = 0; i < r->nlines; i++)
        bad |= jpush(lines, json_line(&r->lines[i]));
    for (i = 0; i < s->nwo; i++)
        bad |= jpush(wos, json_wo_total(&s->wo[i]));
    for (i = 0; i < s->nacct; i++)
        bad |= jpush(accts, json_acct_total(&s->acct[i]));
    bad |= jset(tot, "work_orders", wos);
    bad |= jset(tot, "accounts", accts);
    bad |= jset(tot, "overall", json_totals(json_object(), &s->all));
    /* Every jset runs, so every part is either in `o` or freed. */
    bad |= jset(o, "from", json_string(r->from));
    bad |= jset(o, "to", json_string(r->to));
    bad |= jset(o, "account", jstr(r->account));
    bad |= jset(o, "work_order", jstr(r->workorder));
    bad |= jset(o, "periods", periods);
    bad |= jset(o, "lines", lines);
    bad |= jset(o, "totals", tot);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* 1 when every string the JSON holds is valid UTF-8 (Jansson refuses the
 * rest). */
static int report_utf8(const pm_billing_report_t *r)
{
    size_t i;

    for (i = 0; i < r->nperiods; i++)
        if (!pm_utf8_valid(str_or(r->periods[i].closed_by, "")))
            return 0;
    for (i = 0; i < r->nlines; i++) {
        const pm_billing_line_t *l = &r->lines[i];
        if (!pm_utf8_valid(str_or(l->account, "")) ||
            !pm_utf8_valid(str_or(l->account_name, "")) ||
            !pm_utf8_valid(str_or(l->workorder, "")) ||
            !pm_utf8_valid(str_or(l->fee_code, "")) ||
            !pm_utf8_valid(str_or(l->note, "")))
            return 0;
    }
    return pm_utf8_valid(str_or(r->account, "")) &&
           pm_utf8_valid(str_or(r->workorder, ""));
}

static int render_json(pm__buf_t *b, const pm_billing_report_t *r,
                       const summary_t *s)
{
    json_t *o;
    char *text;

    if (!report_utf8(r))
        return PM_EINVAL;
    o = json_report(r, s);
    if (o == NULL)
        return PM_ENOMEM;
    text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text == NULL)
        return PM_ENOMEM;
    pm__buf_puts(b, text);
    pm__buf_puts(b, "\n");
    free(text); /* Jansson's allocator */
    return PM_OK;
}

/* ---- pm_billing_render ---- */

static int report_valid(const pm_billing_report_t *r)
{
    size_t i;

    if (r == NULL || pm_month_valid(r->from) != 0 ||
        pm_month_valid(r->to) != 0 || strcmp(r->from, r->to) > 0 ||
        (r->nlines > 0 && r->lines == NULL) ||
        (r->nperiods > 0 && r->periods == NULL))
        return 0;
    for (i = 0; i < r->nlines; i++)
        if (memchr(r->lines[i].month, '\0', sizeof(r->lines[i].month)) == NULL)
            return 0;
    for (i = 0; i < r->nperiods; i++)
        if (memchr(r->periods[i].month, '\0', sizeof(r->periods[i].month)) ==
            NULL)
            return 0;
    return 1;
}

int pm_billing_render(const pm_billing_report_t *r, pm_bill_format_t fmt,
                      char **out, size_t *len)
{
    pm__buf_t b = {0};
    summary_t s;
    int err;

    *out = NULL;
    *len = 0;
    if (!report_valid(r) ||
        (fmt != PM_BILL_TABLE && fmt != PM_BILL_CSV && fmt != PM_BILL_JSON))
        return PM_EINVAL;
    err = summary_build(r, &s);
    if (err)
        return err;
    if (fmt == PM_BILL_TABLE)
        err = render_table(&b, r, &s);
    else if (fmt == PM_BILL_CSV)
        render_csv(&b, r, &s);
    else
        err = render_json(&b, r, &s);
    summary_cleanup(&s);
    if (err) {
        pm__buf_cleanup(&b);
        return err;
    }
    return pm__buf_take(&b, out, len);
}
