/*
 * billing.h: the backend-independent half of billing. Money, months and
 * dates, and one line's amount. Reports, invoices and the accounting
 * export are rendered from the lines the catalog computes (catalog.h,
 * "billing") by catalog/render/render.h, a library of its own.
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

/*
 * Explains a line whose minimum charge applies (min_applied): "12 pages x
 * 0.10000 = 1.20; minimum 5.00 applies", into buf. Empty for any other
 * line. The figure a clerk reads on reports and invoices.
 */
void pm_money_min_note(const pm_billing_line_t *l, char *buf, size_t size);

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

#endif /* PM_BILLING_H */
