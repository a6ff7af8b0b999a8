/*
 * report.c: the billing report (render.h), rendered as a table, CSV or
 * JSON from the lines a catalog backend computed (pm_billing_read).
 * invoice.c writes the invoices and the accounting export from the same
 * lines.
 *
 * The report is a pure function of its input: nothing reads the clock, so
 * a closed month's frozen lines render to the same bytes every time (the
 * closing date is shown as a day in the billing time zone, which is fixed
 * by the configuration).
 *
 * Reading order: totals, table, CSV, JSON, then pm_billing_render.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "catalog/billing.h"
#include "catalog/billing_int.h"
#include "catalog/render/render.h"
#include "pipeline/base/pm.h"

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
    char note_buf[160];
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

static void pad(pm_buf_t *b, size_t n)
{
    for (; n > 0; n--)
        pm_buf_puts(b, " ");
}

/* One table row (or the header when row is NULL), two spaces between
 * columns, no trailing blanks. */
static void table_row(pm_buf_t *b, const table_t *t, const size_t *w,
                      const row_t *row)
{
    size_t c, indent = 0, gap = 0;

    for (c = 0; c < t->ncol; c++) {
        const char *s = str_or(row ? row->cell[c] : t->head[c], "");
        size_t sw = text_width(s);
        int last = c + 1 == t->ncol;

        if (t->right[c]) {
            pad(b, gap + w[c] - sw);
            pm_buf_puts(b, s);
            gap = 2;
        } else {
            pad(b, gap);
            pm_buf_puts(b, s);
            gap = w[c] - sw + 2;
        }
        if (c < t->note_col)
            indent += w[c] + 2;
        if (last)
            pm_buf_puts(b, "\n");
    }
    if (row != NULL && row->note != NULL) {
        pad(b, indent);
        pm_buf_printf(b, "note: %s\n", row->note);
    }
}

static void table_print(pm_buf_t *b, const table_t *t)
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

/* "minimum charge: 12 pages x 0.10000 = 1.20; minimum 5.00 applies" for a
 * line whose minimum applies, else NULL. */
static const char *min_note(const pm_billing_line_t *l, char *buf, size_t size)
{
    char why[128];

    if (!l->min_applied)
        return NULL;
    pm_money_min_note(l, why, sizeof(why));
    snprintf(buf, size, "minimum charge: %s", why);
    return buf;
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
    else if (l->min_applied)
        row->note = min_note(l, row->note_buf, sizeof(row->note_buf));
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
static int table_lines(pm_buf_t *b, const pm_billing_report_t *r,
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
static int table_accounts(pm_buf_t *b, const summary_t *s)
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
static void table_title(pm_buf_t *b, const pm_billing_report_t *r)
{
    char state[160];
    size_t i, closed = 0;

    if (strcmp(r->from, r->to) == 0) {
        if (r->nperiods > 0)
            period_state(&r->periods[0], state, sizeof(state));
        pm_buf_printf(b, "Billing report %s (%s)\n", r->from,
                      r->nperiods > 0 ? state : "state unknown");
    } else {
        for (i = 0; i < r->nperiods; i++)
            closed += r->periods[i].closed != 0;
        pm_buf_printf(b,
                      "Billing report %s to %s (%zu months, %zu closed, "
                      "%zu open)\n",
                      r->from, r->to, r->nperiods, closed,
                      r->nperiods - closed);
        for (i = 0; r->nperiods <= 6 && i < r->nperiods; i++) {
            period_state(&r->periods[i], state, sizeof(state));
            pm_buf_printf(b, "  %s %s\n", r->periods[i].month, state);
        }
    }
    if (r->account != NULL)
        pm_buf_printf(b, "Account: %s\n", r->account);
    if (r->workorder != NULL)
        pm_buf_printf(b, "Work order: %s\n", r->workorder);
    pm_buf_puts(b, "\n");
}

static int render_table(pm_buf_t *b, const pm_billing_report_t *r,
                        const summary_t *s)
{
    int err = 0;

    table_title(b, r);
    if (r->nlines == 0)
        pm_buf_puts(b, "No lines.\n");
    else
        err = table_lines(b, r, s);
    if (err == 0) {
        pm_buf_puts(b, "\n");
        err = table_accounts(b, s);
    }
    if (err == 0 && s->all.unpriced > 0)
        pm_buf_printf(b,
                      "\nUnpriced lines: %lld (no fee code or no price "
                      "effective; not in the amounts)\n",
                      (long long)s->all.unpriced);
    return err;
}

/* ---- CSV ---- */

/* A total row: month, type, account, work order, then the counts. */
static void csv_total(pm_buf_t *b, const char *month, const char *type,
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

static void csv_line(pm_buf_t *b, const pm_billing_line_t *l)
{
    char num[6][32], min[160];
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
    f[11] = l->min_applied ? min_note(l, min, sizeof(min)) : l->note;
    pm__buf_csv_row(b, f, 12);
}

static void render_csv(pm_buf_t *b, const pm_billing_report_t *r,
                       const summary_t *s)
{
    /* Totals over the whole report carry its month when it has one. */
    const char *month = strcmp(r->from, r->to) == 0 ? r->from : "";
    size_t i = 0, k;

    pm_buf_puts(b, "month,type,account,work_order,job,fee_code,pages,"
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
    char min[160];
    const char *note = l->min_applied ? min_note(l, min, sizeof(min)) : l->note;

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
        jset(o, "min_charge_applied",
             jpriced(l, json_boolean(l->min_applied))) ||
        jset(o, "amount_millicents", jpriced(l, jint(l->amount_mc))) ||
        jset(o, "amount_cents", jpriced(l, jint(l->amount_cents))) ||
        jset(o, "amount", jpriced(l, jcents(l->amount_cents))) ||
        jset(o, "note", jstr(note))) {
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

static int render_json(pm_buf_t *b, const pm_billing_report_t *r,
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
    pm_buf_puts(b, text);
    pm_buf_puts(b, "\n");
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
    pm_buf_t b = {0};
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
        pm_buf_cleanup(&b);
        return err;
    }
    return pm_buf_take(&b, out, len);
}
