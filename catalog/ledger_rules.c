/*
 * ledger_rules.c: the ledger's sequencing for every backend
 * (ledger_rules.h). The SQL is the backends' (sqlite_ledger.c,
 * sqlite_fees.c, pg_ledger.c, pg_fees.c); the steps, the rules asked and
 * the words said are here.
 */
#include "catalog/ledger_rules.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "pipeline/base/pm.h"

/* The handle's backend: the first member of every handle's struct. */
static inline const pm__catalog_ops_t *ops_of(const pm_catalog_t *cat)
{
    return *(const pm__catalog_ops_t *const *)(const void *)cat;
}

int pm__ledger_msg(pm_catalog_t *cat, int err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ops_of(cat)->set_msg(cat, err, msg);
}

static int nomem(pm_catalog_t *cat)
{
    return pm__ledger_msg(cat, PM_ENOMEM, "out of memory");
}

static int bad_month(pm_catalog_t *cat, const char *month)
{
    return pm__ledger_msg(cat, PM_EINVAL, "'%s' is not a month (YYYY-MM)",
                          month ? month : "(null)");
}

/* ---- months ---- */

int pm__ledger_first_open_month(const pm__ledger_io_t *io, pm_catalog_t *cat,
                                const char *from, char out[PM_MONTH_SIZE])
{
    int err = pm_rules_first_open_month(from, io->month_closed, cat, out);

    if (err == PM_ECATALOG)
        return pm__ledger_msg(cat, err, "no open month after %s", from);
    return err;
}

int pm__ledger_billing_month(const pm__ledger_io_t *io, pm_catalog_t *cat,
                             int64_t finished, char out[PM_MONTH_SIZE])
{
    char from[PM_MONTH_SIZE];
    int err = pm_rules_billing_month(finished, io->month_closed, cat, out);

    if (err == PM_ECATALOG) {
        pm_month_of(finished, from);
        return pm__ledger_msg(cat, err, "no open month after %s", from);
    }
    return err;
}

/*
 * Whether a line's amount is its fee's minimum charge rather than billable
 * pages x unit price: a priced job whose product is below the minimum
 * (pm_money_line's rule; an adjustment never has a minimum of its own).
 */
static void mark_minimum(pm_billing_line_t *l)
{
    int64_t product;

    l->min_applied = l->kind == PM_LINE_JOB && l->priced &&
                     l->billable_pages >= 0 &&
                     !__builtin_mul_overflow(l->billable_pages,
                                             l->unit_price_mc, &product) &&
                     product < l->min_charge_mc;
}

/* One month's lines: frozen when it is closed, else computed. */
static int month_lines(const pm__ledger_io_t *io, pm_catalog_t *cat,
                       const char *month, const char *account,
                       const char *workorder, pm_billing_line_t **out,
                       size_t *n)
{
    int closed = 0, err;

    *out = NULL;
    *n = 0;
    err = io->month_closed(cat, month, &closed);
    if (err == 0)
        err = io->month_lines(cat, month, closed, account, workorder, out, n);
    for (size_t i = 0; err == 0 && i < *n; i++) {
        memcpy((*out)[i].month, month, PM_MONTH_SIZE);
        mark_minimum(&(*out)[i]);
    }
    return err;
}

/* ---- reading a span of months ---- */

/* Most months one report may span: 100 years. */
#define MAX_REPORT_MONTHS 1200

/* Appends month m's period to *v (grown by one). */
static int period_append(pm_catalog_t *cat, const char *m,
                         pm_billing_period_t **v, size_t *n)
{
    pm_billing_period_t *p = pm_realloc(*v, (*n + 1) * sizeof(**v));
    int err;

    if (p == NULL)
        return nomem(cat);
    *v = p;
    err = pm_billing_period_get(cat, m, &p[*n]);
    if (err == 0)
        (*n)++;
    return err;
}

/* Moves the `nparts` lines of `part` onto the end of *v (of *len). */
static int lines_append(pm_catalog_t *cat, pm_billing_line_t **v, size_t *len,
                        pm_billing_line_t *part, size_t nparts)
{
    pm_billing_line_t *p;

    if (nparts == 0)
        return 0;
    p = pm_realloc(*v, (*len + nparts) * sizeof(**v));
    if (p == NULL) {
        pm_billing_line_list_free(part, nparts);
        return nomem(cat);
    }
    *v = p;
    memcpy(*v + *len, part, nparts * sizeof(**v));
    *len += nparts;
    pm_free(part); /* its strings moved into v */
    return 0;
}

/* Every month from..to, in one read transaction by the caller. */
static int read_months(const pm__ledger_io_t *io, pm_catalog_t *cat,
                       const char *from, const char *to, const char *account,
                       const char *workorder, pm_billing_period_t **pv,
                       size_t *np, int want_periods, pm_billing_line_t **v,
                       size_t *len)
{
    pm_billing_line_t *part = NULL;
    size_t nparts = 0;
    char m[PM_MONTH_SIZE];
    int err = 0, i;

    snprintf(m, sizeof(m), "%s", from);
    for (i = 0; err == 0 && i < MAX_REPORT_MONTHS && strcmp(m, to) <= 0; i++) {
        if (want_periods)
            err = period_append(cat, m, pv, np);
        if (err == 0)
            err = month_lines(io, cat, m, account, workorder, &part, &nparts);
        if (err == 0)
            err = lines_append(cat, v, len, part, nparts);
        part = NULL;
        pm_month_next(m, m);
    }
    if (err == 0 && strcmp(m, to) <= 0)
        err = pm__ledger_msg(cat, PM_EINVAL, "a report spans at most %d months",
                             MAX_REPORT_MONTHS);
    return err;
}

int pm__ledger_read(const pm__ledger_io_t *io, pm_catalog_t *cat,
                    const char *from, const char *to, const char *account,
                    const char *workorder, pm_billing_period_t **periods,
                    size_t *nperiods, pm_billing_line_t **out, size_t *n)
{
    pm_billing_line_t *v = NULL;
    pm_billing_period_t *pv = NULL;
    size_t len = 0, np = 0;
    int err;

    *out = NULL;
    *n = 0;
    if (periods != NULL) {
        *periods = NULL;
        *nperiods = 0;
    }
    if (from == NULL || to == NULL || pm_month_valid(from) != 0 ||
        pm_month_valid(to) != 0 || strcmp(from, to) > 0)
        return pm__ledger_msg(cat, PM_EINVAL, "bad month range %s..%s",
                              from ? from : "?", to ? to : "?");
    /* One read transaction: every month, and whether it is closed, as of
     * one moment, even while a close commits. */
    err = io->tx_begin_read(cat);
    if (err == 0)
        err = read_months(io, cat, from, to, account, workorder, &pv, &np,
                          periods != NULL, &v, &len);
    err = io->tx_end(cat, err);
    if (err != 0) {
        pm_billing_line_list_free(v, len);
        pm_billing_period_list_free(pv, np);
        return err;
    }
    *out = v;
    *n = len;
    if (periods != NULL) {
        *periods = pv;
        *nperiods = np;
    }
    return 0;
}

/* ---- closing a month ---- */

/* The refusal of a close the rules said no to, as the handle's message. */
static int close_refused(pm_catalog_t *cat, pm_close_verdict_t why,
                         const pm_close_facts_t *f, size_t line)
{
    /* The line is the rules' answer only for an unpriced one. */
    const pm_billing_line_t *l = f->lines != NULL ? &f->lines[line] : NULL;

    switch (why) {
    case PM_CLOSE_FUTURE:
        return pm__ledger_msg(cat, PM_EINVAL, "%s has not begun (it is %s now)",
                              f->month, f->current);
    case PM_CLOSE_CLOSED:
        return pm__ledger_msg(cat, -EEXIST, "%s is closed already", f->month);
    case PM_CLOSE_UNFINISHED:
        return pm__ledger_msg(
            cat, PM_EINVAL,
            "%s has %zu unfinished job%s (received, queued, running, "
            "assembling or held) created before it ended",
            f->month, f->unfinished, f->unfinished == 1 ? "" : "s");
    case PM_CLOSE_UNPRICED:
        assert(l != NULL);
        return pm__ledger_msg(cat, PM_EINVAL,
                              "%s: job %lld of work order %s has no price (fee "
                              "code %s); set one with 'pagemill workorder "
                              "set-fee' or 'pagemill fee add'",
                              f->month, (long long)l->job, l->workorder,
                              l->fee_code ? l->fee_code : "(none)");
    case PM_CLOSE_OK:
        break;
    }
    assert(0);
    return PM_EINVAL;
}

/* Inside the close's transaction: whether the month may close, reading
 * the facts the rules ask for; on success its lines are in f->lines. */
static int close_decide(const pm__ledger_io_t *io, pm_catalog_t *cat,
                        pm_close_facts_t *f, int64_t end, int64_t **ids,
                        pm_billing_line_t **v, size_t *n)
{
    pm_close_verdict_t why;
    size_t line = 0;
    int err = 0;

    if (io->lock != NULL)
        err = io->lock(cat, 1);
    if (err == 0)
        err = io->month_closed(cat, f->month, &f->closed);
    if (err == 0 && !f->closed)
        err = io->close_blockers(cat, end, ids, &f->unfinished);
    if (err == 0 && (why = pm_rules_close_check(f, NULL)) != PM_CLOSE_OK)
        return close_refused(cat, why, f, 0);
    if (err == 0)
        err = month_lines(io, cat, f->month, NULL, NULL, v, n);
    if (err != 0)
        return err;
    f->lines = *v;
    f->nlines = *n;
    why = pm_rules_close_check(f, &line);
    return why == PM_CLOSE_OK ? 0 : close_refused(cat, why, f, line);
}

/* Freezes the month: its period row, its lines and the event. */
static int close_freeze(const pm__ledger_io_t *io, pm_catalog_t *cat,
                        const pm_close_facts_t *f, const char *actor,
                        int64_t now)
{
    char total[32], *detail = NULL;
    int64_t sum = 0;
    size_t i;
    int err;

    for (i = 0; i < f->nlines; i++)
        sum += f->lines[i].amount_cents;
    err = io->period_insert(cat, f->month, now, actor, f->force != 0,
                            (int64_t)f->nlines, sum);
    if (err == -EEXIST) /* a close that was not serialized with ours */
        return close_refused(cat, PM_CLOSE_CLOSED, f, 0);
    for (i = 0; err == 0 && i < f->nlines; i++)
        err = io->line_insert(cat, &f->lines[i], (int64_t)i + 1);
    if (err != 0)
        return err;
    pm_money_format_cents(sum, total, sizeof(total));
    detail = f->unfinished > 0
                 ? pm_asprintf("%s: %zu lines, total %s; forced "
                               "over %zu unfinished jobs",
                               f->month, f->nlines, total, f->unfinished)
                 : pm_asprintf("%s: %zu lines, total %s", f->month, f->nlines,
                               total);
    err = detail ? io->event_insert(cat, now, actor, "billing.closed", 0, 0,
                                    detail)
                 : nomem(cat);
    pm_free(detail);
    return err;
}

int pm__ledger_close(const pm__ledger_io_t *io, pm_catalog_t *cat,
                     const char *month, int force, const char *actor,
                     int64_t now, int64_t **blockers, size_t *nblockers)
{
    pm_billing_line_t *v = NULL;
    char current[PM_MONTH_SIZE];
    pm_close_facts_t f = {.month = month, .current = current, .force = force};
    int64_t start, end, *ids = NULL;
    size_t n = 0;
    int err;

    if (blockers != NULL)
        *blockers = NULL;
    if (nblockers != NULL)
        *nblockers = 0;
    if (month == NULL || pm_month_bounds(month, &start, &end) != 0)
        return bad_month(cat, month);
    if (actor == NULL)
        return pm__ledger_msg(cat, PM_EINVAL, "closing a month needs an actor");
    pm_month_of(now, current);
    if (pm_rules_close_check(&f, NULL) == PM_CLOSE_FUTURE)
        return close_refused(cat, PM_CLOSE_FUTURE, &f, 0);
    err = io->tx_begin(cat);
    if (err != 0)
        return err;
    err = close_decide(io, cat, &f, end, &ids, &v, &n);
    if (err == 0)
        err = close_freeze(io, cat, &f, actor, now);
    pm_billing_line_list_free(v, n);
    err = io->tx_end(cat, err);
    if (err == PM_EINVAL && f.unfinished > 0 && !force && blockers != NULL) {
        *blockers = ids;
        *nblockers = f.unfinished;
        ids = NULL;
    }
    pm_free(ids);
    return err;
}

/* ---- adjustments and credits ---- */

/* Inserts an adjustment and its event. */
static int adjustment_insert(const pm__ledger_io_t *io, pm_catalog_t *cat,
                             const pm__adjustment_t *a)
{
    char amount[32], *detail;
    int err = io->adjustment_insert(cat, a);

    if (err != 0)
        return err;
    pm_money_format_cents(pm_money_round_cents(a->b.amount_mc), amount,
                          sizeof(amount));
    detail = pm_asprintf("%s: %+lld billable pages, %s, in %s: %s", a->of_month,
                         (long long)a->b.billable, amount, a->month, a->note);
    if (detail == NULL)
        return nomem(cat);
    err = io->event_insert(cat, a->now, a->actor, "billing.adjustment", a->job,
                           0, detail);
    pm_free(detail);
    return err;
}

/* The job's fee code and price, with the refusal when it has none. */
static int job_price(const pm__ledger_io_t *io, pm_catalog_t *cat, int64_t job,
                     char **fee, int64_t *unit)
{
    int err = io->job_price(cat, job, fee, unit);

    if (err == PM_ENOENT)
        return pm__ledger_msg(cat, PM_EINVAL,
                              "job %lld has no price: its work order "
                              "has no fee code effective when it "
                              "finished",
                              (long long)job);
    return err;
}

/* The job's billing state, inside a transaction. */
static int job_billing(const pm__ledger_io_t *io, pm_catalog_t *cat,
                       int64_t job, int *state, char month[PM_MONTH_SIZE])
{
    int err = io->job_billing(cat, job, state, month);

    if (err == PM_ENOENT)
        return pm__ledger_msg(cat, PM_ENOENT, "no job %lld", (long long)job);
    return err;
}

/* Inside the adjustment's transaction. */
static int adjust_in_tx(const pm__ledger_io_t *io, pm_catalog_t *cat,
                        pm__adjustment_t *a, const char *reason,
                        char to[PM_MONTH_SIZE])
{
    char of[PM_MONTH_SIZE], *fee = NULL, *note = NULL;
    int state, err = 0;

    if (io->lock != NULL)
        err = io->lock(cat, 0);
    if (err == 0)
        err = job_billing(io, cat, a->job, &state, of);
    if (err == 0 && state != PM_JOB_DONE)
        err = pm__ledger_msg(cat, PM_EINVAL,
                             "job %lld is %s: only a done job's "
                             "bill can be adjusted",
                             (long long)a->job, pm_job_state_name(state));
    if (err == 0)
        err = job_price(io, cat, a->job, &fee, &a->unit_mc);
    if (err == 0)
        err = pm__ledger_first_open_month(io, cat, of, to);
    if (err == 0 &&
        pm_money_line(a->b.billable, a->unit_mc, 0, &a->b.amount_mc) != 0)
        err = pm__ledger_msg(cat, PM_EINVAL, "adjustment amount out of range");
    if (err == 0) {
        note = pm_asprintf("%s for job %lld billed in %s: %s",
                           a->b.billable < 0 ? "credit" : "debit",
                           (long long)a->job, of, reason);
        a->month = to;
        a->of_month = of;
        a->fee = fee;
        a->note = note;
        err = note ? adjustment_insert(io, cat, a) : nomem(cat);
    }
    pm_free(note);
    pm_free(fee);
    return err;
}

int pm__ledger_adjust(const pm__ledger_io_t *io, pm_catalog_t *cat, int64_t job,
                      int64_t billable, const char *reason, const char *actor,
                      int64_t now, char month[8])
{
    pm__adjustment_t a = {
        .job = job, .b = {.billable = billable}, .actor = actor, .now = now};
    char to[PM_MONTH_SIZE];
    int err;

    month[0] = '\0';
    if (reason == NULL || reason[0] == '\0' || actor == NULL)
        return pm__ledger_msg(cat, PM_EINVAL, "an adjustment needs a reason");
    if (billable == 0 || billable > INT32_MAX || billable < -INT32_MAX)
        return pm__ledger_msg(cat, PM_EINVAL,
                              "an adjustment is a non-zero number of pages");
    err = io->tx_begin(cat);
    if (err != 0)
        return err;
    err = adjust_in_tx(io, cat, &a, reason, to);
    err = io->tx_end(cat, err);
    if (err == 0)
        memcpy(month, to, PM_MONTH_SIZE);
    return err;
}

int pm__ledger_cancel_credit(const pm__ledger_io_t *io, pm_catalog_t *cat,
                             int64_t job, const char *reason, const char *actor,
                             int64_t now)
{
    char of[PM_MONTH_SIZE], to[PM_MONTH_SIZE], *fee = NULL, *note = NULL;
    pm__billed_t b = {0};
    pm__adjustment_t a = {.job = job, .actor = actor, .now = now};
    int state, err;

    err = job_billing(io, cat, job, &state, of);
    if (err == 0)
        err = io->job_billed(cat, job, &b);
    if (err != 0 || b.lines == 0 || (b.billable == 0 && b.amount_mc == 0))
        return err;
    err = job_price(io, cat, job, &fee, &a.unit_mc);
    if (err == 0)
        err = pm__ledger_first_open_month(io, cat, of, to);
    if (err == 0) {
        a.b = (pm__billed_t){-b.pages, -b.blank, -b.billable, -b.amount_mc, 0};
        note = pm_asprintf("credit for job %lld billed in %s: cancelled%s%s",
                           (long long)job, of, reason ? ": " : "",
                           reason ? reason : "");
        a.month = to;
        a.of_month = of;
        a.fee = fee;
        a.note = note;
        err = note ? adjustment_insert(io, cat, &a) : nomem(cat);
    }
    pm_free(note);
    pm_free(fee);
    return err;
}

/* ---- the billing time zone ---- */

/* Records zone `tz` unless another process did first (then *stored holds
 * theirs); one write transaction, taken only on the first use. */
static int timezone_record(const pm__ledger_io_t *io, pm_catalog_t *cat,
                           const char *tz, char *stored, size_t size)
{
    int err = io->tx_begin(cat);

    if (err != 0)
        return err;
    /* Serialized like a close: two first uses never both record. */
    if (io->lock != NULL)
        err = io->lock(cat, 1);
    if (err == 0)
        err = io->setting_get(cat, "billing_timezone", stored, size);
    if (err == 0 && stored[0] == '\0') {
        snprintf(stored, size, "%s", tz);
        err = io->setting_add(cat, "billing_timezone", tz);
        if (err == 0)
            err = io->event_insert(cat, io->wall_clock(), "catalog",
                                   "billing.timezone", 0, 0, tz);
    }
    return io->tx_end(cat, err);
}

int pm__ledger_timezone(const pm__ledger_io_t *io, pm_catalog_t *cat,
                        const char *configured, char *out, size_t size)
{
    /* A configuration without a zone means UTC, as pm_config_new says. */
    const char *want = configured == NULL ? NULL
                       : configured[0]    ? configured
                                          : "UTC";
    char stored[256];
    int err;

    if (size > 0)
        out[0] = '\0';
    if (want != NULL && !pm_timezone_valid(want))
        return pm__ledger_msg(
            cat, PM_EINVAL,
            "billing time zone %s is not UTC or a zone under %s; "
            "nothing was recorded",
            want, PM_ZONEINFO);
    /* Read without the write lock: every command asks, few record. */
    err = io->setting_get(cat, "billing_timezone", stored, sizeof(stored));
    if (err == 0 && stored[0] == '\0' && want != NULL)
        err = timezone_record(io, cat, want, stored, sizeof(stored));
    if (err != 0)
        return err;
    if (stored[0] == '\0')
        snprintf(stored, sizeof(stored), "UTC"); /* nothing recorded yet */
    else if (want != NULL && strcmp(want, stored) != 0)
        return pm__ledger_msg(
            cat, PM_EINVAL,
            "this catalog bills in time zone %s, the "
            "configuration says %s; set [billing] timezone = %s",
            stored, want, stored);
    snprintf(out, size, "%s", stored);
    return 0;
}

/* ---- the fee schedule ---- */

/* Whether `f` may be a price, with the refusal as the message. */
static int fee_check(pm_catalog_t *cat, const pm_fee_t *f, const char *actor)
{
    char why[200];

    if (f->code == NULL || f->code[0] == '\0' || actor == NULL)
        return pm__ledger_msg(cat, PM_EINVAL, "a fee needs a code");
    if (pm_ident_check(PM_IDENT_FEE, f->code, why, sizeof(why)) != 0)
        return pm__ledger_msg(cat, PM_EINVAL, "%s", why);
    if (f->unit_price_mc < 0 || f->unit_price_mc > PM_PRICE_MAX_MC ||
        f->min_charge_mc < 0 || f->min_charge_mc > PM_PRICE_MAX_MC)
        return pm__ledger_msg(cat, PM_EINVAL, "fee %s: price out of range",
                              f->code);
    return 0;
}

/* Inside fee_add's transaction. */
static int fee_add_in_tx(const pm__ledger_io_t *io, pm_catalog_t *cat,
                         const pm_fee_t *f, const char *actor, int64_t now,
                         int64_t *id)
{
    char last[PM_MONTH_SIZE], month[PM_MONTH_SIZE], day[PM_DATE_SIZE];
    char unit[32], min[32], *detail;
    int err = 0;

    pm_date_format(f->effective_from, day);
    pm_month_of(f->effective_from, month);
    /* Not into a month a close is freezing now. */
    if (io->lock != NULL)
        err = io->lock(cat, 0);
    if (err == 0)
        err = io->last_closed_month(cat, last);
    if (err == 0 && last[0] != '\0' && strcmp(month, last) <= 0)
        return pm__ledger_msg(
            cat, PM_EINVAL,
            "fee %s: a price from %s would fall in or before %s, "
            "which is closed; date it in an open month",
            f->code, day, last);
    if (err == 0)
        err = io->fee_insert(cat, f, now, id);
    if (err == -EEXIST)
        return pm__ledger_msg(cat, err, "fee %s already has a price from %s",
                              f->code, day);
    if (err != 0)
        return err;
    pm_money_format_mc(f->unit_price_mc, unit, sizeof(unit));
    pm_money_format_mc(f->min_charge_mc, min, sizeof(min));
    detail = pm_asprintf("%s: %s per page, minimum %s per job, from %s",
                         f->code, unit, min, day);
    err = detail ? io->event_insert(cat, now, actor, "fee.added", 0, 0, detail)
                 : nomem(cat);
    pm_free(detail);
    return err;
}

int pm__ledger_fee_add(const pm__ledger_io_t *io, pm_catalog_t *cat,
                       const pm_fee_t *f, const char *actor, int64_t now,
                       int64_t *id)
{
    int64_t new_id = 0;
    int err;

    *id = 0;
    err = fee_check(cat, f, actor);
    if (err == 0)
        err = io->tx_begin(cat);
    if (err != 0)
        return err;
    err = fee_add_in_tx(io, cat, f, actor, now, &new_id);
    err = io->tx_end(cat, err);
    if (err == 0)
        *id = new_id;
    return err;
}

int pm__ledger_set_fee(const pm__ledger_io_t *io, pm_catalog_t *cat,
                       const char *number, const char *fee_code,
                       const char *actor)
{
    int64_t now = io->wall_clock();
    pm_workorder_t w = {0};
    char *detail = NULL;
    int err;

    if (number == NULL || fee_code == NULL || actor == NULL)
        return pm__ledger_msg(cat, PM_EINVAL,
                              "set-fee needs a work order and code");
    err = io->tx_begin(cat);
    if (err != 0)
        return err;
    err = io->fee_exists(cat, fee_code);
    if (err == 0)
        err = pm_workorder_get(cat, number, &w);
    if (err == 0)
        err = io->workorder_fee_update(cat, number, fee_code);
    if (err == 0) {
        detail = pm_asprintf("%s: fee code %s -> %s", number,
                             w.fee_code ? w.fee_code : "(none)", fee_code);
        err = detail ? io->event_insert(cat, now, actor, "workorder.fee_set", 0,
                                        0, detail)
                     : nomem(cat);
    }
    pm_free(detail);
    pm_workorder_cleanup(&w);
    return io->tx_end(cat, err);
}
