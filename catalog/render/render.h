/*
 * render.h: billing reports, invoices and the accounting export, rendered
 * from the lines and periods the catalog computed (catalog.h, "billing";
 * pm_billing_read). A library of its own (pm_render, which links cairo),
 * so the catalog, and every backend of it, stores and answers and never
 * draws: the CLI and any other reader link this beside the catalog.
 */
#ifndef PM_CATALOG_RENDER_H
#define PM_CATALOG_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"

/* ---- reports ---- */

typedef enum {
    PM_BILL_TABLE = 0,
    PM_BILL_CSV,
    PM_BILL_JSON,
} pm_bill_format_t;

/* "table", "csv", "json"; -1 if unknown. */
int pm_bill_format_parse(const char *s);

/* What a report covers and holds. Everything is borrowed. */
typedef struct pm_billing_report {
    const char *from, *to;              /* months, from <= to */
    const char *account;                /* the --account filter, or NULL */
    const char *workorder;              /* the --work-order filter, or NULL */
    const pm_billing_period_t *periods; /* one per month from..to */
    size_t nperiods;
    const pm_billing_line_t *lines; /* as pm_billing_lines() orders them */
    size_t nlines;
} pm_billing_report_t;

/*
 * Renders a report: one line per job or adjustment (account, work order,
 * job, fee code, pages, blank pages, billable pages, unit price, amount),
 * then totals per work order, per account and overall, as a table, CSV
 * (header row; a `type` column says line, adjustment or which total) or
 * JSON. The output depends only on `r`: the same lines give the same
 * bytes. *out is a new NUL-terminated string (pm_free), *len its length.
 */
int pm_billing_render(const pm_billing_report_t *r, pm_bill_format_t fmt,
                      char **out, size_t *len);

/* ---- invoices and the accounting export ---- */

/* Who issues the invoices (from the configuration); borrowed. */
typedef struct pm_issuer {
    const char *name;           /* "County Records Center"; NULL: "pagemill" */
    const char *const *address; /* lines under the name */
    size_t naddress;
    const char *tax_id;          /* "Tax ID: ..." or NULL */
    const char *currency;        /* ISO 4217 code, NULL or "": none shown */
    const char *currency_symbol; /* before amounts, or NULL */
    const char *payment_terms;   /* under the total, or NULL */
    int a4;                      /* A4 pages; else US letter */
} pm_issuer_t;

/*
 * Writes the invoices of one month into directory `dir` (which must
 * exist): for each account with lines, `invoice-<MONTH>-<ACCOUNT>.pdf`
 * (a person's invoice: issuer, account name, code, number and contact,
 * period, one line per work order with billable pages and amount,
 * adjustments, total; marked DRAFT while the month is open), and
 * `export-<MONTH>.csv` for the accounting system (the column layout is in
 * docs/billing.md). `accounts` are the accounts (for name, contact,
 * number); `period` says whether and when the month was closed. Every file
 * goes through a temp name, fsync and rename. *written receives the number
 * of files written. The same lines and period give the same bytes.
 */
int pm_invoice_write(const char *dir, const char *month,
                     const pm_billing_period_t *period,
                     const pm_billing_line_t *lines, size_t nlines,
                     const pm_account_t *accounts, size_t naccounts,
                     const pm_issuer_t *issuer, int *written);

/*
 * Releases cairo's process-wide font caches (which pm_invoice_write fills
 * and keeps, as cairo does). For the end of a process that drew invoices,
 * so LeakSanitizer sees nothing; only when no cairo object is alive and no
 * other thread draws with cairo.
 */
void pm__invoice_release_caches(void);

#endif /* PM_CATALOG_RENDER_H */
