/*
 * billing.h: the backend-independent half of billing. Money, months and
 * dates, one line's amount, and the rendering of reports, invoices and the
 * accounting export from lines the catalog computed (catalog.h, "billing").
 *
 * Money is integer end to end: prices and exact amounts in millicents
 * (thousandths of a cent), invoice amounts in cents. A line's exact amount
 * is rounded to cents once, half away from zero (0.5 cent up for a
 * charge, down for a credit, so a credit exactly cancels its charge);
 * totals are sums of rounded lines. No floating point anywhere here.
 *
 * Months are "YYYY-MM" in the billing time zone (UTC unless the
 * configuration names another): pm_billing_set_timezone() sets it for the
 * process once at start, before any month or date is computed.
 */
#ifndef PM_BILLING_H
#define PM_BILLING_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"

/* ---- money ---- */

/* Most decimals a price may have: 5 = one millicent. */
#define PM_PRICE_DECIMALS 5
/* Largest price or minimum charge accepted: 1,000,000.00000. */
#define PM_PRICE_MAX_MC ((int64_t)100000000000)

/*
 * Parses a price in currency units: digits, optionally "." and 1 to 5
 * more digits ("0.08", "0.08125", "12"). No sign, exponent, spaces or
 * thousands separators. PM_EINVAL if malformed, PM_ETOOBIG above
 * PM_PRICE_MAX_MC.
 */
int pm_money_parse(const char *s, int64_t *mc);

/* Formats millicents with exactly 5 decimals: "0.08125", "-1.50000". */
void pm_money_format_mc(int64_t mc, char *buf, size_t size);

/* Formats cents with exactly 2 decimals: "12.35", "-0.07". */
void pm_money_format_cents(int64_t cents, char *buf, size_t size);

/* Rounds millicents to cents, half away from zero. */
int64_t pm_money_round_cents(int64_t mc);

/*
 * One line's exact amount: billable * unit, raised to min_charge when
 * below it (only for billable >= 0: a credit reverses what was charged,
 * it never gets a minimum of its own). PM_ETOOBIG on overflow.
 */
int pm_money_line(int64_t billable, int64_t unit_mc, int64_t min_mc,
                  int64_t *amount_mc);

/* ---- months, dates, time zone ---- */

#define PM_MONTH_SIZE 8  /* "YYYY-MM" and its NUL */
#define PM_DATE_SIZE  11 /* "YYYY-MM-DD" and its NUL */

/*
 * Sets the billing time zone for the process ("UTC", "America/Chicago").
 * PM_EINVAL (nothing changed) unless it is UTC or names a file under
 * /usr/share/zoneinfo. NULL or "" means UTC.
 */
int pm_billing_set_timezone(const char *tz);

/*
 * Sets the process's billing time zone to the catalog's (see
 * pm_catalog_billing_timezone: recorded at the first use with a
 * `configured` zone, NULL for none at hand) and copies its name into tz.
 * 0; the catalog's error (PM_EINVAL: `configured` names another zone, the
 * detail in pm_catalog_errmsg); or PM_ECONFIG when the recorded zone is
 * not installed on this machine.
 */
int pm_billing_use_catalog_timezone(pm_catalog_t *cat, const char *configured,
                                    char *tz, size_t size);

/* The billing time zone in use ("UTC" unless set). Borrowed. */
const char *pm_billing_timezone(void);

/* Strict "YYYY-MM" (year 2000..9999, month 01..12): 0 or PM_EINVAL. */
int pm_month_valid(const char *s);

/* The month `t` falls in, in the billing time zone. */
void pm_month_of(int64_t t, char out[PM_MONTH_SIZE]);

/* The month after `m` (a valid month); `out` may be `m`. */
void pm_month_next(const char *m, char out[PM_MONTH_SIZE]);

/* The first second of month `m` and of the month after it, in the billing
 * time zone. PM_EINVAL for a malformed month. */
int pm_month_bounds(const char *m, int64_t *start, int64_t *end);

/* Parses a strict "YYYY-MM-DD" into the first second of that day in the
 * billing time zone. PM_EINVAL for a malformed or impossible date. */
int pm_date_parse(const char *s, int64_t *t);

/* The day `t` falls on in the billing time zone, "YYYY-MM-DD". */
void pm_date_format(int64_t t, char out[PM_DATE_SIZE]);

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
    const char *name; /* "County Records Center"; NULL: "pagemill" */
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

#endif /* PM_BILLING_H */
