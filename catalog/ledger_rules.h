/*
 * ledger_rules.h: the ledger's sequencing, once for every backend. Reading
 * a span of months, closing a month, adjusting a done job's bill, the
 * credit for cancelling one, the fee schedule and the billing time zone
 * are the same steps on SQLite and PostgreSQL; only the SQL under them
 * differs. A backend hands these functions a table of its primitives
 * (pm__ledger_io_t: transactions, rows in, rows out) and they do the
 * rest: argument checks, the order of reads and writes, what the rules
 * (rules.h) are asked, the refusals' messages and the events' details.
 * Never used outside catalog/.
 */
#ifndef PM_CATALOG_LEDGER_RULES_H
#define PM_CATALOG_LEDGER_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"
#include "catalog/rules.h"

/* What a job has been billed outside its own open month: its frozen
 * lines plus its adjustments not frozen yet. */
typedef struct pm__billed {
    int64_t pages, blank, billable, amount_mc, lines;
} pm__billed_t;

/* One adjustment row to insert (borrowed). */
typedef struct pm__adjustment {
    const char *month;    /* billed in (open) */
    const char *of_month; /* the month it corrects */
    int64_t job;
    const char *fee;
    pm__billed_t b;
    int64_t unit_mc;
    const char *note, *actor;
    int64_t now;
} pm__adjustment_t;

/*
 * A backend's primitives. Each returns 0 or a negative code with the
 * handle's message set, unless it says otherwise. `cat` is the handle.
 */
typedef struct pm__ledger_io {
    int (*tx_begin)(pm_catalog_t *cat);
    /* A consistent read of several statements. */
    int (*tx_begin_read)(pm_catalog_t *cat);
    int (*tx_end)(pm_catalog_t *cat, int err);
    /* Inside a write transaction: orders a month's close (exclusive)
     * against what bills into months (shared), so a job, adjustment or
     * credit lands in a month either before its close read the lines or
     * after its close committed. NULL when the backend's transactions
     * already run one at a time (SQLite). */
    int (*lock)(pm_catalog_t *cat, int exclusive);
    /* Whether a month is closed (arg is the handle). */
    pm_month_closed_fn month_closed;
    /* One month's lines: frozen when `closed`, else computed; the month
     * field is left to the caller. */
    int (*month_lines)(pm_catalog_t *cat, const char *month, int closed,
                       const char *account, const char *workorder,
                       pm_billing_line_t **out, size_t *n);
    /* Jobs that block closing the month ending at `end`
     * (pm_rules_job_blocks_close): a new array, pm_free. */
    int (*close_blockers)(pm_catalog_t *cat, int64_t end, int64_t **ids,
                          size_t *n);
    int (*period_insert)(pm_catalog_t *cat, const char *month, int64_t now,
                         const char *actor, int forced, int64_t lines,
                         int64_t total_cents);
    int (*line_insert)(pm_catalog_t *cat, const pm_billing_line_t *l,
                       int64_t seq);
    /* A job's state and billing month ("" when none): PM_ENOENT, no
     * message, when there is no such job. */
    int (*job_billing)(pm_catalog_t *cat, int64_t job, int *state,
                       char month[PM_MONTH_SIZE]);
    /* Adds to *b what the job was billed (pm__billed_t). */
    int (*job_billed)(pm_catalog_t *cat, int64_t job, pm__billed_t *b);
    /* The fee code (new string) and unit price the job is billed at: as
     * frozen when a closed month holds it, else the price effective when
     * it finished. PM_ENOENT, no message, when it has none. */
    int (*job_price)(pm_catalog_t *cat, int64_t job, char **fee, int64_t *unit);
    int (*adjustment_insert)(pm_catalog_t *cat, const pm__adjustment_t *a);
    int (*event_insert)(pm_catalog_t *cat, int64_t at, const char *actor,
                        const char *kind, int64_t job, int page,
                        const char *detail);
    /* The latest closed month ("" when none). */
    int (*last_closed_month)(pm_catalog_t *cat, char last[PM_MONTH_SIZE]);
    /* Inserts a price; -EEXIST (message left to the caller) when the code
     * has one from that date. */
    int (*fee_insert)(pm_catalog_t *cat, const pm_fee_t *f, int64_t now,
                      int64_t *id);
    /* PM_ENOENT with the message unless fee code `code` has a price. */
    int (*fee_exists)(pm_catalog_t *cat, const char *code);
    int (*workorder_fee_update)(pm_catalog_t *cat, const char *number,
                                const char *code);
    /* A setting ("" when none) and recording one. */
    int (*setting_get)(pm_catalog_t *cat, const char *key, char *buf,
                       size_t size);
    int (*setting_add)(pm_catalog_t *cat, const char *key, const char *value);
    int64_t (*wall_clock)(void);
} pm__ledger_io_t;

/* Keeps a printf-formatted message on any backend's handle; returns err. */
int pm__ledger_msg(pm_catalog_t *cat, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The first month from `from` on that is not closed (rules.h), with a
 * message when there is none. */
int pm__ledger_first_open_month(const pm__ledger_io_t *io, pm_catalog_t *cat,
                                const char *from, char out[PM_MONTH_SIZE]);

/* The month a job finishing at `finished` bills in (rules.h). */
int pm__ledger_billing_month(const pm__ledger_io_t *io, pm_catalog_t *cat,
                             int64_t finished, char out[PM_MONTH_SIZE]);

/* The operations of catalog.h, on a backend's primitives. */
int pm__ledger_read(const pm__ledger_io_t *io, pm_catalog_t *cat,
                    const char *from, const char *to, const char *account,
                    const char *workorder, pm_billing_period_t **periods,
                    size_t *nperiods, pm_billing_line_t **out, size_t *n);
int pm__ledger_close(const pm__ledger_io_t *io, pm_catalog_t *cat,
                     const char *month, int force, const char *actor,
                     int64_t now, int64_t **blockers, size_t *nblockers);
int pm__ledger_adjust(const pm__ledger_io_t *io, pm_catalog_t *cat, int64_t job,
                      int64_t billable, const char *reason, const char *actor,
                      int64_t now, char month[8]);
int pm__ledger_timezone(const pm__ledger_io_t *io, pm_catalog_t *cat,
                        const char *configured, char *out, size_t size);
int pm__ledger_fee_add(const pm__ledger_io_t *io, pm_catalog_t *cat,
                       const pm_fee_t *f, const char *actor, int64_t now,
                       int64_t *id);
int pm__ledger_set_fee(const pm__ledger_io_t *io, pm_catalog_t *cat,
                       const char *number, const char *fee_code,
                       const char *actor);

/*
 * Inside the cancel of a done job (the caller's transaction, with the
 * shared lock taken): when it was billed in a closed month (or has
 * adjustments), credits what it was billed, in the first open month from
 * its billing month on. A job whose month is still open simply drops out
 * of that month's lines.
 */
int pm__ledger_cancel_credit(const pm__ledger_io_t *io, pm_catalog_t *cat,
                             int64_t job, const char *reason, const char *actor,
                             int64_t now);

#endif /* PM_CATALOG_LEDGER_RULES_H */
