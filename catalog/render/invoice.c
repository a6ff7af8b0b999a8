/*
 * invoice.c: pm_invoice_write (render.h). A month's lines become one PDF
 * invoice per account, drawn with cairo on US letter or A4 pages
 * ([invoice] page_size) in DejaVu Sans (cairo's toy text API, so pdftotext
 * reads the text back), and one CSV for the accounting system.
 * docs/billing.md describes both, and the [invoice] settings.
 *
 * An invoice has a row per work order and fee code (jobs, billable pages,
 * amount) and a row per adjustment (with its note); its total is the sum
 * of the rows, which are sums of the lines' rounded cents, so the PDF, the
 * export and the report always agree. Rows that do not fit go on to the
 * next page under the table header again.
 *
 * The same lines and period give the same bytes: nothing reads the clock.
 * The PDF's creation and modification dates are the month's closing time,
 * or, while it is open, the first second of the month (and the invoice
 * says DRAFT). Each file is written whole in memory, then through a temp
 * name, fsync and rename (pm_write_file_atomic).
 */
#include <cairo-pdf.h>
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "catalog/billing.h"
#include "catalog/billing_int.h"
#include "catalog/render/render.h"
#include "pipeline/base/pm.h"

/* US letter and A4 in points, and the printable box inside the margins
 * of month_ctx_t m's pages. */
#define LETTER_W  612.0
#define LETTER_H  792.0
#define A4_W      595.276
#define A4_H      841.89
#define MARGIN    54.0
#define RIGHT(m)  ((m)->page_w - MARGIN)
#define BOTTOM(m) ((m)->page_h - MARGIN - 24.0) /* the footer goes below */
#define ROW_H     16.0
#define FONT      "DejaVu Sans"
#define BODY_PT   10.0

/* Table columns: left edges of text columns, right edges of numbers. */
#define COL_WO       MARGIN
#define COL_FEE      250.0
#define COL_JOBS_R   380.0
#define COL_PAGE_R   470.0
#define COL_AMT_R(m) RIGHT(m)

/* One invoice row: a work order under one fee code, or one adjustment. */
typedef struct {
    const char *workorder, *fee_code;
    const char *note; /* adjustments: why */
    int adjustment, priced;
    int64_t jobs, billable, cents;
    /* A job billed at its fee's minimum charge has a row of its own, with
     * the figure explained under it. */
    char min_note[160];
} inv_row_t;

/* One account's invoice. Strings are borrowed from the lines and
 * accounts. */
typedef struct {
    const char *code, *name, *number, *contact;
    inv_row_t *rows;
    size_t nrows;
    int64_t jobs, billable, cents, unpriced;
} invoice_t;

/* What every invoice of the month shares. */
typedef struct {
    const char *month, *issuer;
    const pm_issuer_t *who; /* the rest of [invoice]; may be NULL */
    double page_w, page_h;
    const pm_billing_period_t *period; /* may be NULL: open */
    char first_day[PM_DATE_SIZE], last_day[PM_DATE_SIZE];
    char date_iso[32]; /* the PDF's creation and modification date */
} month_ctx_t;

static const char *str_or(const char *s, const char *dflt)
{
    return s != NULL ? s : dflt;
}

static int same_str(const char *a, const char *b)
{
    return strcmp(str_or(a, ""), str_or(b, "")) == 0;
}

/* ---- from lines to invoices ---- */

/* A code that is safe in a file name: not empty, no '/', no leading '.'
 * (codes are validated where accounts are added; this is the last line). */
static int code_safe(const char *code)
{
    return code != NULL && code[0] != '\0' && code[0] != '.' &&
           strchr(code, '/') == NULL;
}

static const pm_account_t *account_find(const pm_account_t *v, size_t n,
                                        const char *code)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (v[i].code != NULL && strcmp(v[i].code, code) == 0)
            return &v[i];
    return NULL;
}

/* The row line `l` adds to: its work order's row for its fee code (and
 * whether it is priced), or a new row. */
static inv_row_t *invoice_row(invoice_t *inv, const pm_billing_line_t *l)
{
    inv_row_t *row;
    size_t i;

    for (i = 0; l->kind == PM_LINE_JOB && !l->min_applied && i < inv->nrows;
         i++) {
        row = &inv->rows[i];
        if (!row->adjustment && row->min_note[0] == '\0' &&
            same_str(row->workorder, l->workorder) &&
            same_str(row->fee_code, l->fee_code) &&
            row->priced == (l->priced != 0))
            return row;
    }
    row = &inv->rows[inv->nrows++];
    row->workorder = str_or(l->workorder, "");
    row->fee_code = l->fee_code;
    row->note = l->note;
    row->adjustment = l->kind == PM_LINE_ADJUSTMENT;
    row->priced = l->priced != 0;
    if (l->min_applied) {
        char why[128];

        pm_money_min_note(l, why, sizeof(why));
        snprintf(row->min_note, sizeof(row->min_note),
                 "Minimum charge, job %lld: %s", (long long)l->job, why);
    }
    return row;
}

static int invoice_add(invoice_t *inv, const pm_billing_line_t *l)
{
    inv_row_t *row = invoice_row(inv, l);
    int64_t jobs = l->kind == PM_LINE_JOB;
    int64_t cents = l->priced ? l->amount_cents : 0;

    inv->unpriced += !l->priced;
    if (__builtin_add_overflow(row->jobs, jobs, &row->jobs) ||
        __builtin_add_overflow(row->billable, l->billable_pages,
                               &row->billable) ||
        __builtin_add_overflow(row->cents, cents, &row->cents) ||
        __builtin_add_overflow(inv->jobs, jobs, &inv->jobs) ||
        __builtin_add_overflow(inv->billable, l->billable_pages,
                               &inv->billable) ||
        __builtin_add_overflow(inv->cents, cents, &inv->cents))
        return PM_ETOOBIG;
    return PM_OK;
}

/* Builds the invoice of account `code` from its lines. */
static int invoice_build(invoice_t *inv, const char *code,
                         const pm_billing_line_t *lines, size_t nlines,
                         const pm_account_t *accounts, size_t naccounts)
{
    const pm_account_t *a = account_find(accounts, naccounts, code);
    size_t i;
    int err = 0;

    memset(inv, 0, sizeof(*inv));
    inv->rows = pm_calloc(nlines, sizeof(*inv->rows));
    if (inv->rows == NULL)
        return PM_ENOMEM;
    inv->code = code;
    inv->name = a != NULL ? a->name : NULL;
    inv->number = a != NULL ? a->account_number : NULL;
    inv->contact = a != NULL ? a->contact : NULL;
    for (i = 0; err == 0 && i < nlines; i++) {
        if (!same_str(lines[i].account, code))
            continue;
        if (inv->name == NULL)
            inv->name = lines[i].account_name;
        err = invoice_add(inv, &lines[i]);
    }
    return err;
}

static void invoice_cleanup(invoice_t *inv)
{
    pm_free(inv->rows);
    memset(inv, 0, sizeof(*inv));
}

/* ---- drawing ---- */

static void font(cairo_t *cr, int bold, double size)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD
                                : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_w(cairo_t *cr, const char *s)
{
    cairo_text_extents_t e;

    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

static void text_at(cairo_t *cr, double x, double y, const char *s)
{
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
}

static void text_right(cairo_t *cr, double xr, double y, const char *s)
{
    text_at(cr, xr - text_w(cr, s), y, s);
}

/* Copies the longest prefix of s (whole UTF-8 characters) that fits in
 * `maxw` with "..." into buf; s itself when it fits. */
static const char *fit(cairo_t *cr, const char *s, double maxw, char *buf,
                       size_t size)
{
    size_t n;

    if (text_w(cr, s) <= maxw)
        return s;
    n = strlen(s);
    if (n + 4 > size)
        n = size - 4;
    for (;;) {
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* never cut inside a character */
        memcpy(buf, s, n);
        memcpy(buf + n, "...", 4);
        if (n == 0 || text_w(cr, buf) <= maxw)
            return buf;
        n--;
    }
}

/* Draws s at (x, y), shortened to `maxw`. */
static void text_fit(cairo_t *cr, double x, double y, const char *s,
                     double maxw)
{
    char buf[512];

    text_at(cr, x, y, fit(cr, s, maxw, buf, sizeof(buf)));
}

static void rule(cairo_t *cr, const month_ctx_t *m, double y)
{
    cairo_set_line_width(cr, 0.6);
    cairo_move_to(cr, MARGIN, y);
    cairo_line_to(cr, RIGHT(m), y);
    cairo_stroke(cr);
}

/* An amount in cents as the invoice shows it: after the currency symbol
 * when [invoice] has one ("€13.62", "-€0.81"). */
static const char *money(const month_ctx_t *m, int64_t cents, char *buf,
                         size_t size)
{
    const char *sym = m->who != NULL ? m->who->currency_symbol : NULL;
    char num[32];

    pm_money_format_cents(cents, num, sizeof(num));
    if (sym == NULL || sym[0] == '\0')
        snprintf(buf, size, "%s", num);
    else if (num[0] == '-')
        snprintf(buf, size, "-%s%s", sym, num + 1);
    else
        snprintf(buf, size, "%s%s", sym, num);
    return buf;
}

/* The amount column's head: "Amount", or "Amount (EUR)". */
static const char *amount_head(const month_ctx_t *m, char *buf, size_t size)
{
    const char *code = m->who != NULL ? m->who->currency : NULL;

    if (code == NULL || code[0] == '\0')
        snprintf(buf, size, "Amount");
    else
        snprintf(buf, size, "Amount (%s)", code);
    return buf;
}

/* The issuer's address lines and tax id under its name, from y on. */
static void draw_issuer(cairo_t *cr, const month_ctx_t *m, double y)
{
    char buf[160];
    size_t i;

    if (m->who == NULL)
        return;
    font(cr, 0, BODY_PT - 1);
    for (i = 0; i < m->who->naddress && i < 4; i++, y += 12)
        text_fit(cr, MARGIN, y, m->who->address[i], 280);
    if (m->who->tax_id != NULL) {
        snprintf(buf, sizeof(buf), "Tax ID: %s", m->who->tax_id);
        text_fit(cr, MARGIN, y, buf, 280);
    }
    font(cr, 0, BODY_PT);
}

/* Issuer, title, number, period, state, and who is billed. Returns the y
 * below it. */
static double draw_head(cairo_t *cr, const month_ctx_t *m, const invoice_t *inv)
{
    const pm_billing_period_t *p = m->period;
    char buf[256], day[PM_DATE_SIZE];
    double y = MARGIN + 18;

    font(cr, 1, 16);
    text_fit(cr, MARGIN, y, m->issuer, 300);
    draw_issuer(cr, m, y + 16);
    font(cr, 1, 24);
    text_right(cr, RIGHT(m), y + 4, "Invoice");
    font(cr, 0, BODY_PT);
    snprintf(buf, sizeof(buf), "Invoice number: %s-%s", m->month, inv->code);
    text_right(cr, RIGHT(m), y + 24, buf);
    snprintf(buf, sizeof(buf), "Period: %s to %s", m->first_day, m->last_day);
    text_right(cr, RIGHT(m), y + 38, buf);
    if (p != NULL && p->closed) {
        pm_date_format(p->closed_at, day);
        snprintf(buf, sizeof(buf), "Issued: %s (month closed)", day);
        text_right(cr, RIGHT(m), y + 52, buf);
    } else {
        font(cr, 1, 14);
        text_right(cr, RIGHT(m), y + 56, "DRAFT (month open)");
    }

    y += 84;
    font(cr, 1, BODY_PT);
    text_at(cr, MARGIN, y, "Bill to");
    font(cr, 0, BODY_PT);
    text_fit(cr, MARGIN, y + 14, str_or(inv->name, inv->code), 400);
    snprintf(buf, sizeof(buf), "Account: %s", inv->code);
    text_fit(cr, MARGIN, y + 28, buf, 400);
    snprintf(buf, sizeof(buf), "Account number: %s", str_or(inv->number, "-"));
    text_fit(cr, MARGIN, y + 42, buf, 400);
    snprintf(buf, sizeof(buf), "Contact: %s", str_or(inv->contact, "-"));
    text_fit(cr, MARGIN, y + 56, buf, 400);
    return y + 84;
}

/* The table header at y; returns the y of the first row. */
static double draw_table_head(cairo_t *cr, const month_ctx_t *m, double y)
{
    char buf[32];

    font(cr, 1, BODY_PT);
    text_at(cr, COL_WO, y, "Work order");
    text_at(cr, COL_FEE, y, "Fee code");
    text_right(cr, COL_JOBS_R, y, "Jobs");
    text_right(cr, COL_PAGE_R, y, "Billable pages");
    text_right(cr, COL_AMT_R(m), y, amount_head(m, buf, sizeof(buf)));
    rule(cr, m, y + 5);
    font(cr, 0, BODY_PT);
    return y + ROW_H + 4;
}

/* Height a row takes: adjustments and minimum charges have their note on
 * a second line. */
static double row_height(const inv_row_t *row)
{
    return row->adjustment || row->min_note[0] != '\0' ? 2 * ROW_H : ROW_H;
}

static void draw_row(cairo_t *cr, const month_ctx_t *m, double y,
                     const inv_row_t *row)
{
    char buf[256], num[32];

    if (row->adjustment)
        snprintf(buf, sizeof(buf), "%s (adjustment)", row->workorder);
    else
        snprintf(buf, sizeof(buf), "%s", row->workorder);
    text_fit(cr, COL_WO, y, buf, COL_FEE - COL_WO - 8);
    text_fit(cr, COL_FEE, y, str_or(row->fee_code, "-"), 70);
    if (!row->adjustment) {
        snprintf(num, sizeof(num), "%lld", (long long)row->jobs);
        text_right(cr, COL_JOBS_R, y, num);
    }
    snprintf(num, sizeof(num), "%lld", (long long)row->billable);
    text_right(cr, COL_PAGE_R, y, num);
    if (row->priced)
        money(m, row->cents, num, sizeof(num));
    else
        snprintf(num, sizeof(num), "no price");
    text_right(cr, COL_AMT_R(m), y, num);
    if (row->adjustment || row->min_note[0] != '\0') {
        font(cr, 0, BODY_PT - 1);
        if (row->adjustment)
            snprintf(buf, sizeof(buf), "Note: %s", str_or(row->note, "-"));
        else
            snprintf(buf, sizeof(buf), "%s", row->min_note);
        text_fit(cr, COL_WO + 12, y + ROW_H - 2, buf, RIGHT(m) - COL_WO - 12);
        font(cr, 0, BODY_PT);
    }
}

static void draw_footer(cairo_t *cr, const month_ctx_t *m, const invoice_t *inv,
                        int page)
{
    char buf[128];

    font(cr, 0, BODY_PT - 2);
    snprintf(buf, sizeof(buf), "Invoice %s-%s, page %d", m->month, inv->code,
             page);
    text_right(cr, RIGHT(m), m->page_h - MARGIN + 10, buf);
    font(cr, 0, BODY_PT);
}

/* The total in large type, and what it leaves out. */
static void draw_total(cairo_t *cr, const month_ctx_t *m, double y,
                       const invoice_t *inv)
{
    const char *terms = m->who != NULL ? m->who->payment_terms : NULL;
    char num[48], buf[256];

    rule(cr, m, y - ROW_H + 6);
    money(m, inv->cents, num, sizeof(num));
    font(cr, 1, 18);
    text_at(cr, COL_FEE, y + 12, "Total");
    text_right(cr, COL_AMT_R(m), y + 12, num);
    font(cr, 0, BODY_PT);
    if (inv->unpriced > 0) {
        snprintf(buf, sizeof(buf),
                 "%lld unpriced line(s) not included: the month cannot close "
                 "until they have a price.",
                 (long long)inv->unpriced);
        text_fit(cr, MARGIN, y + 34, buf, RIGHT(m) - MARGIN);
        y += 14;
    }
    if (terms != NULL) {
        snprintf(buf, sizeof(buf), "Payment terms: %s", terms);
        text_fit(cr, MARGIN, y + 34, buf, RIGHT(m) - MARGIN);
    }
}

/* Draws every page of one invoice. */
static void draw_invoice(cairo_t *cr, const month_ctx_t *m,
                         const invoice_t *inv)
{
    double y;
    size_t i;
    int page = 1;

    cairo_set_source_rgb(cr, 0, 0, 0);
    y = draw_table_head(cr, m, draw_head(cr, m, inv));
    for (i = 0; i < inv->nrows; i++) {
        if (y + row_height(&inv->rows[i]) > BOTTOM(m)) {
            draw_footer(cr, m, inv, page++);
            cairo_show_page(cr);
            font(cr, 1, 12);
            text_at(cr, MARGIN, MARGIN + 12, "Invoice (continued)");
            y = draw_table_head(cr, m, MARGIN + 40);
        }
        draw_row(cr, m, y, &inv->rows[i]);
        y += row_height(&inv->rows[i]);
    }
    /* The total needs room of its own (and its payment terms). */
    if (y + (m->who != NULL && m->who->payment_terms ? 54 : 40) > BOTTOM(m)) {
        draw_footer(cr, m, inv, page++);
        cairo_show_page(cr);
        y = MARGIN + 40;
    }
    draw_total(cr, m, y + ROW_H, inv);
    draw_footer(cr, m, inv, page);
    cairo_show_page(cr);
}

/* ---- files ---- */

/* cairo's output stream: appends to the pm_buf_t in `closure`. */
static cairo_status_t buf_write(void *closure, const unsigned char *data,
                                unsigned int length)
{
    pm_buf_t *b = closure;

    pm_buf_add(b, data, length);
    return b->oom ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

/* Renders one invoice into a PDF in memory, then writes it durably. */
static int write_pdf(const char *dir, const month_ctx_t *m,
                     const invoice_t *inv)
{
    pm_buf_t b = {0};
    cairo_surface_t *s;
    cairo_t *cr;
    char *path = NULL, *title = NULL;
    int err = 0;

    s = cairo_pdf_surface_create_for_stream(buf_write, &b, m->page_w,
                                            m->page_h);
    title = pm_asprintf("Invoice %s %s", m->month, inv->code);
    if (title == NULL) {
        err = PM_ENOMEM;
        goto out;
    }
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, title);
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATOR, "pagemill");
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATE_DATE,
                                   m->date_iso);
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_MOD_DATE, m->date_iso);
    cr = cairo_create(s);
    draw_invoice(cr, m, inv);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        err = PM_EPDF;
    cairo_destroy(cr);
    cairo_surface_finish(s);
    if (err == 0 && cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
        err = b.oom ? PM_ENOMEM : PM_EPDF;
    if (err)
        goto out;
    path = pm_asprintf("%s/invoice-%s-%s.pdf", dir, m->month, inv->code);
    err = path == NULL ? PM_ENOMEM : pm_write_file_atomic(path, b.s, b.len);
out:
    cairo_surface_destroy(s);
    pm_free(title);
    pm_free(path);
    pm_buf_cleanup(&b);
    return err;
}

/* ---- the accounting export ---- */

/* One export row: the invoice's columns, then a row's or the total's. */
static void export_row(pm_buf_t *b, const month_ctx_t *m, const invoice_t *inv,
                       const char *wo, const char *type, const char *fee,
                       int64_t jobs, int64_t billable, int priced,
                       int64_t cents, const char *note)
{
    char number[PM_MONTH_SIZE + 256], j[32], p[32], amt[32];
    const char *f[12];

    snprintf(number, sizeof(number), "%s-%s", m->month, inv->code);
    snprintf(j, sizeof(j), "%lld", (long long)jobs);
    snprintf(p, sizeof(p), "%lld", (long long)billable);
    pm_money_format_cents(cents, amt, sizeof(amt));
    f[0] = m->month;
    f[1] = number;
    f[2] = inv->number;
    f[3] = inv->code;
    f[4] = inv->name;
    f[5] = wo;
    f[6] = type;
    f[7] = fee;
    f[8] = j;
    f[9] = p;
    f[10] = priced ? amt : "";
    f[11] = note;
    pm__buf_csv_row(b, f, 12);
}

static void export_invoice(pm_buf_t *b, const month_ctx_t *m,
                           const invoice_t *inv)
{
    const inv_row_t *r;
    char note[64] = "";
    size_t i;

    for (i = 0; i < inv->nrows; i++) {
        r = &inv->rows[i];
        export_row(b, m, inv, r->workorder,
                   r->adjustment ? "adjustment" : "line", r->fee_code, r->jobs,
                   r->billable, r->priced, r->cents,
                   r->adjustment ? str_or(r->note, "")
                   : !r->priced  ? "unpriced"
                                 : r->min_note);
    }
    if (inv->unpriced > 0)
        snprintf(note, sizeof(note), "%lld unpriced lines not included",
                 (long long)inv->unpriced);
    export_row(b, m, inv, "", "total", "", inv->jobs, inv->billable, 1,
               inv->cents, note);
}

/* ---- pm_invoice_write ---- */

/* The month's days and the PDF date: closing time, or the month's first
 * second while open. */
static int month_ctx_init(month_ctx_t *m, const char *month,
                          const pm_billing_period_t *period,
                          const pm_issuer_t *issuer)
{
    int64_t start, end;
    time_t t;
    struct tm tm;

    memset(m, 0, sizeof(*m));
    if (pm_month_bounds(month, &start, &end) != 0)
        return PM_EINVAL;
    m->month = month;
    m->period = period;
    m->issuer =
        issuer != NULL && issuer->name != NULL ? issuer->name : "pagemill";
    m->who = issuer;
    m->page_w = issuer != NULL && issuer->a4 ? A4_W : LETTER_W;
    m->page_h = issuer != NULL && issuer->a4 ? A4_H : LETTER_H;
    pm_date_format(start, m->first_day);
    pm_date_format(end - 1, m->last_day);
    t = (time_t)(period != NULL && period->closed ? period->closed_at : start);
    if (gmtime_r(&t, &tm) == NULL)
        return PM_EINVAL;
    strftime(m->date_iso, sizeof(m->date_iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return PM_OK;
}

/* The accounts with lines, in the order of their first line. */
static int account_codes(const pm_billing_line_t *lines, size_t nlines,
                         const char ***codes, size_t *n)
{
    size_t i, k;

    *n = 0;
    *codes = pm_calloc(nlines > 0 ? nlines : 1, sizeof(**codes));
    if (*codes == NULL)
        return PM_ENOMEM;
    for (i = 0; i < nlines; i++) {
        for (k = 0; k < *n && strcmp((*codes)[k], lines[i].account) != 0; k++)
            ;
        if (k == *n)
            (*codes)[(*n)++] = lines[i].account;
    }
    return PM_OK;
}

/* Every line is of `month` and of an account whose code makes a safe file
 * name: checked before any file is written. */
static int lines_valid(const char *month, const pm_billing_line_t *lines,
                       size_t nlines)
{
    size_t i;

    for (i = 0; i < nlines; i++)
        if (strncmp(lines[i].month, month, sizeof(lines[i].month)) != 0 ||
            !code_safe(lines[i].account))
            return 0;
    return 1;
}

int pm_invoice_write(const char *dir, const char *month,
                     const pm_billing_period_t *period,
                     const pm_billing_line_t *lines, size_t nlines,
                     const pm_account_t *accounts, size_t naccounts,
                     const pm_issuer_t *issuer, int *written)
{
    month_ctx_t m;
    invoice_t inv;
    pm_buf_t csv = {0};
    const char **codes = NULL;
    char *path = NULL;
    size_t ncodes = 0, i;
    int err;

    *written = 0;
    if (dir == NULL || (nlines > 0 && lines == NULL) ||
        (naccounts > 0 && accounts == NULL) ||
        month_ctx_init(&m, month, period, issuer) != 0 ||
        (period != NULL && period->closed &&
         strncmp(period->month, month, sizeof(period->month)) != 0) ||
        !lines_valid(month, lines, nlines))
        return PM_EINVAL;
    err = account_codes(lines, nlines, &codes, &ncodes);
    if (err)
        return err;
    pm_buf_puts(&csv, "period,invoice_number,account_number,account_code,"
                      "account_name,work_order,line_type,fee_code,jobs,"
                      "billable_pages,amount,note\r\n");
    for (i = 0; err == 0 && i < ncodes; i++) {
        err = invoice_build(&inv, codes[i], lines, nlines, accounts, naccounts);
        if (err == 0)
            err = write_pdf(dir, &m, &inv);
        if (err == 0) {
            (*written)++;
            export_invoice(&csv, &m, &inv);
        }
        invoice_cleanup(&inv);
    }
    if (err == 0 && csv.oom)
        err = PM_ENOMEM;
    if (err == 0) {
        path = pm_asprintf("%s/export-%s.csv", dir, month);
        err = path == NULL ? PM_ENOMEM
                           : pm_write_file_atomic(path, csv.s, csv.len);
    }
    if (err == 0)
        (*written)++;
    else
        pm_log(PM_LOG_ERROR, "billing", "invoices %s in %s: %s", month, dir,
               pm_strerror(err));
    pm_free(path);
    pm_free(codes);
    pm_buf_cleanup(&csv);
    return err;
}

void pm__invoice_release_caches(void)
{
    cairo_debug_reset_static_data();
    FcFini();
}
