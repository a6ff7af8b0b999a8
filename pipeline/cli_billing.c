/*
 * cli_billing.c: `pagemill fee`, `workorder set-fee` and `billing`, the
 * billing clerk's commands. Like the other catalog commands (cli.c) each
 * one checks its input, makes its catalog calls and prints; the rules
 * (what a closed month refuses, how a line is priced) live in catalog/,
 * and money, months and the report formats in catalog/billing.c.
 *
 * Bad input (a malformed month or price, an unknown account, work order,
 * fee code or job, a refused close) exits 2 with one line on stderr and
 * nothing written.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog/billing.h"
#include "catalog/billing_int.h"
#include "catalog/render/render.h"
#include "pipeline/base/pm.h"
#include "pipeline/cli_int.h"

static int bad_input(const cli_t *c, const char *fmt, const char *what)
{
    fprintf(stderr, "%s: ", c->prefix);
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
    return PM_EXIT_USAGE;
}

/* Fee codes go into reports, CSV and file names: keep them plain. */
/* 1 when `s` may be a fee code (pm_ident_check), else tells why. */
static int fee_code_ok(const cli_t *c, const char *s)
{
    char why[200];

    if (pm_ident_check(PM_IDENT_FEE, s, why, sizeof(why)) == 0)
        return 1;
    bad_input(c, "%s", why);
    return 0;
}

static int parse_price(const cli_t *c, const char *opt, const char *s,
                       int64_t *mc)
{
    int err = pm_money_parse(s, mc);

    if (err == PM_ETOOBIG) {
        fprintf(stderr, "%s: --%s: '%s' is too large\n", c->prefix, opt, s);
        return -1;
    }
    if (err != 0) {
        fprintf(stderr,
                "%s: --%s: '%s' is not a price (digits, and up to %d "
                "decimals after a point: 0.08125)\n",
                c->prefix, opt, s, PM_PRICE_DECIMALS);
        return -1;
    }
    return 0;
}

/* ---- fee ---- */

static json_t *fee_json(const void *p)
{
    const pm_fee_t *f = p;
    char unit[32], min[32], from[PM_DATE_SIZE];

    pm_money_format_mc(f->unit_price_mc, unit, sizeof(unit));
    pm_money_format_mc(f->min_charge_mc, min, sizeof(min));
    pm_date_format(f->effective_from, from);
    return json_pack("{s:o, s:o, s:s, s:I, s:s, s:I, s:s, s:o}", "code",
                     pm_json_str(f->code), "description",
                     pm_json_str(f->description), "unit_price", unit,
                     "unit_price_millicents", (json_int_t)f->unit_price_mc,
                     "min_charge", min, "min_charge_millicents",
                     (json_int_t)f->min_charge_mc, "effective_from", from,
                     "created", pm_json_time(f->created_at));
}

int cli_fee_add(cli_t *c)
{
    pm_fee_t f = {0};
    char day[PM_DATE_SIZE];
    int64_t now = (int64_t)time(NULL), id;
    int err;

    if (!fee_code_ok(c, c->arg))
        return PM_EXIT_USAGE;
    if (parse_price(c, "price", c->opt['p'], &f.unit_price_mc) != 0 ||
        (c->opt['m'] &&
         parse_price(c, "min-charge", c->opt['m'], &f.min_charge_mc) != 0))
        return PM_EXIT_USAGE;
    if (c->opt['e'] == NULL) {
        pm_date_format(now, day);
        err = pm_date_parse(day, &f.effective_from);
    } else {
        err = pm_date_parse(c->opt['e'], &f.effective_from);
    }
    if (err != 0)
        return bad_input(c, "--effective: '%s' is not a date (YYYY-MM-DD)",
                         c->opt['e'] ? c->opt['e'] : "today");
    f.code = c->arg;
    f.description = c->opt['d'];
    err = pm_fee_add(c->cat, &f, c->actor, now, &id);
    if (err != 0)
        return cli_fail(c, err);
    f.created_at = now;
    if (c->json)
        return cli_emit_json(c, fee_json(&f));
    {
        char unit[32], min[32];

        pm_money_format_mc(f.unit_price_mc, unit, sizeof(unit));
        pm_money_format_mc(f.min_charge_mc, min, sizeof(min));
        pm_date_format(f.effective_from, day);
        printf("fee %s: %s per page, minimum %s per job, from %s\n", f.code,
               unit, min, day);
    }
    return PM_EXIT_OK;
}

int cli_fee_list(cli_t *c)
{
    static const char *const heads[] = {"CODE",    "FROM",        "PRICE",
                                        "MINIMUM", "DESCRIPTION", "ADDED"};
    pm_fee_t *v = NULL;
    size_t n = 0;
    table_t t;
    int err, rc;

    if (c->opt['f'] != NULL && !fee_code_ok(c, c->opt['f']))
        return PM_EXIT_USAGE;
    err = pm_fee_list(c->cat, c->opt['f'], &v, &n);
    if (err != 0)
        return cli_fail(c, err);
    if (c->json) {
        rc = cli_emit_json(c, cli_jlist(v, n, sizeof(*v), fee_json));
        pm_fee_list_free(v, n);
        return rc;
    }
    cli_table_init(&t, heads, 6, "llrrll");
    for (size_t i = 0; i < n; i++) {
        char from[PM_DATE_SIZE], unit[32], min[32], added[32];
        const char *row[6] = {v[i].code,
                              from,
                              unit,
                              min,
                              v[i].description,
                              cli_fmt_time(added, v[i].created_at)};

        pm_date_format(v[i].effective_from, from);
        pm_money_format_mc(v[i].unit_price_mc, unit, sizeof(unit));
        pm_money_format_mc(v[i].min_charge_mc, min, sizeof(min));
        cli_table_row(&t, row);
    }
    pm_fee_list_free(v, n);
    return cli_table_emit(c, &t, "no fee codes");
}

int cli_workorder_set_fee(cli_t *c)
{
    int err = pm_workorder_set_fee(c->cat, c->arg, c->opt['f'], c->actor);

    if (err != 0)
        return cli_fail(c, err);
    if (c->json)
        return cli_emit_json(c, json_pack("{s:s, s:s}", "number", c->arg,
                                          "fee_code", c->opt['f']));
    printf("work order %s bills under fee code %s\n", c->arg, c->opt['f']);
    return PM_EXIT_OK;
}

/* ---- billing ---- */

/* --month, or --from and --to: months checked, from <= to. */
static int month_range(const cli_t *c, const char **from, const char **to)
{
    const char *m = c->opt['M'], *f = c->opt['F'], *t = c->opt['T'];

    if (m != NULL && (f != NULL || t != NULL))
        return cli_usage_error(c, "%s", "give --month, or --from and --to");
    if (m == NULL && (f == NULL || t == NULL))
        return cli_usage_error(c, "%s",
                               "--month (or --from and --to) is required");
    *from = m ? m : f;
    *to = m ? m : t;
    if (pm_month_valid(*from) != 0)
        return bad_input(c, "'%s' is not a month (YYYY-MM)", *from);
    if (pm_month_valid(*to) != 0)
        return bad_input(c, "'%s' is not a month (YYYY-MM)", *to);
    if (strcmp(*from, *to) > 0)
        return bad_input(c, "--from %s is after --to", *from);
    return PM_EXIT_OK;
}

/* An unknown account or work order is an error, not an empty report. */
static int check_filters(cli_t *c)
{
    pm_account_t a;
    pm_workorder_t w;
    int err;

    if (c->opt['a'] != NULL) {
        err = pm_account_get(c->cat, c->opt['a'], &a);
        if (err == PM_ENOENT)
            return bad_input(c, "no account %s", c->opt['a']);
        if (err != 0)
            return cli_fail(c, err);
        pm_account_cleanup(&a);
    }
    if (c->opt['w'] != NULL) {
        err = pm_workorder_get(c->cat, c->opt['w'], &w);
        if (err != 0)
            return cli_fail(c, err);
        pm_workorder_cleanup(&w);
    }
    return PM_EXIT_OK;
}

int cli_billing_report(cli_t *c)
{
    pm_billing_period_t *periods = NULL;
    pm_billing_line_t *lines = NULL;
    size_t nperiods = 0, nlines = 0, len = 0;
    const char *from = NULL, *to = NULL;
    char *text = NULL;
    int fmt, rc, err;

    fmt = c->json       ? PM_BILL_JSON
          : c->opt['o'] ? pm_bill_format_parse(c->opt['o'])
                        : PM_BILL_TABLE;
    if (fmt < 0)
        return bad_input(c, "--format: '%s' is not table, csv or json",
                         c->opt['o']);
    rc = month_range(c, &from, &to);
    if (rc == PM_EXIT_OK)
        rc = check_filters(c);
    if (rc != PM_EXIT_OK)
        return rc;
    err = pm_billing_read(c->cat, from, to, c->opt['a'], c->opt['w'], &periods,
                          &nperiods, &lines, &nlines);
    if (err != 0) {
        rc = cli_fail(c, err);
    } else {
        pm_billing_report_t r = {from,    to,       c->opt['a'], c->opt['w'],
                                 periods, nperiods, lines,       nlines};

        err = pm_billing_render(&r, (pm_bill_format_t)fmt, &text, &len);
        if (err != 0)
            rc = cli_oom(c);
        else if (fwrite(text, 1, len, stdout) != len)
            rc = PM_EXIT_FAILURE; /* run_cmd reports the write error */
    }
    pm_free(text);
    pm_billing_line_list_free(lines, nlines);
    pm_billing_period_list_free(periods, nperiods);
    return rc;
}

int cli_billing_invoice(cli_t *c)
{
    pm_billing_period_t *period = NULL;
    pm_billing_line_t *lines = NULL;
    pm_account_t *accounts = NULL;
    size_t nperiods = 0, nlines = 0, naccounts = 0;
    const pm_invoice_cfg_t *ic = &c->cfg->invoice;
    pm_issuer_t issuer = {.name = ic->issuer != NULL ? ic->issuer
                                                     : c->cfg->billing_issuer,
                          .address = (const char *const *)ic->address,
                          .naddress = ic->naddress,
                          .tax_id = ic->tax_id,
                          .currency = ic->currency,
                          .currency_symbol = ic->currency_symbol,
                          .payment_terms = ic->payment_terms,
                          .a4 = ic->a4};
    const char *month = c->opt['M'], *dir = c->opt['O'];
    struct stat st;
    int written = 0, rc, err;

    if (pm_month_valid(month) != 0)
        return bad_input(c, "'%s' is not a month (YYYY-MM)", month);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return bad_input(c, "--out: %s is not an existing folder", dir);
    rc = check_filters(c);
    if (rc != PM_EXIT_OK)
        return rc;
    err = pm_billing_read(c->cat, month, month, c->opt['a'], NULL, &period,
                          &nperiods, &lines, &nlines);
    if (err == 0)
        err = pm_account_list(c->cat, &accounts, &naccounts);
    if (err != 0) {
        rc = cli_fail(c, err);
    } else {
        err = pm_invoice_write(dir, month, period, lines, nlines, accounts,
                               naccounts, &issuer, &written);
        if (err != 0) {
            fprintf(stderr, "%s: cannot write the invoices in %s: %s\n",
                    c->prefix, dir, pm_strerror(err));
            rc = PM_EXIT_FAILURE;
        } else if (c->json) {
            rc = cli_emit_json(c, json_pack("{s:s, s:s, s:b, s:i}", "month",
                                            month, "out", dir, "closed",
                                            period->closed, "files", written));
        } else {
            printf("%s%s: %d file%s written to %s\n", month,
                   period->closed ? "" : " (open: invoices are DRAFT)", written,
                   written == 1 ? "" : "s", dir);
        }
    }
    pm_account_list_free(accounts, naccounts);
    pm_billing_line_list_free(lines, nlines);
    pm_billing_period_list_free(period, nperiods);
    pm__invoice_release_caches(); /* the process ends after a command */
    return rc;
}

/* "12 (running), 15 (held)" for a refused close. */
static void print_blockers(cli_t *c, const int64_t *ids, size_t n)
{
    fprintf(stderr, "%s: unfinished jobs:", c->prefix);
    for (size_t i = 0; i < n; i++) {
        pm_job_t j;

        if (pm_job_get(c->cat, ids[i], &j) == 0) {
            fprintf(stderr, "%s %lld (%s, work order %s)", i ? "," : "",
                    (long long)ids[i], pm_job_state_name(j.state),
                    j.workorder ? j.workorder : "?");
            pm_job_cleanup(&j);
        } else {
            fprintf(stderr, "%s %lld", i ? "," : "", (long long)ids[i]);
        }
    }
    fprintf(stderr,
            "\n%s: finish or cancel them, or close with --force "
            "(they then bill in the month they finish)\n",
            c->prefix);
}

int cli_billing_close(cli_t *c)
{
    pm_billing_period_t p;
    int64_t *ids = NULL;
    size_t n = 0;
    char total[32];
    int err, rc;

    if (pm_month_valid(c->arg) != 0)
        return bad_input(c, "'%s' is not a month (YYYY-MM)", c->arg);
    err = pm_billing_close(c->cat, c->arg, c->opt['x'] != NULL, c->actor,
                           (int64_t)time(NULL), &ids, &n);
    if (err != 0) {
        rc = cli_fail(c, err);
        if (n > 0)
            print_blockers(c, ids, n);
        pm_free(ids);
        return rc;
    }
    err = pm_billing_period_get(c->cat, c->arg, &p);
    if (err != 0)
        return cli_fail(c, err);
    pm_money_format_cents(p.total_cents, total, sizeof(total));
    if (c->json)
        rc = cli_emit_json(
            c, json_pack("{s:s, s:o, s:s, s:b, s:I, s:s}", "month", p.month,
                         "closed_at", pm_json_time(p.closed_at), "closed_by",
                         p.closed_by, "forced", p.forced, "lines",
                         (json_int_t)p.lines, "total", total));
    else {
        printf("%s closed: %lld line%s, total %s\n", p.month,
               (long long)p.lines, p.lines == 1 ? "" : "s", total);
        rc = PM_EXIT_OK;
    }
    pm_billing_period_cleanup(&p);
    return rc;
}

int cli_billing_adjust(cli_t *c)
{
    const char *s = c->opt['P'];
    char month[PM_MONTH_SIZE], *end = NULL;
    long long pages = 0;
    int err;

    errno = 0;
    if ((s[0] >= '0' && s[0] <= '9') ||
        ((s[0] == '-' || s[0] == '+') && s[1] >= '0' && s[1] <= '9'))
        pages = strtoll(s, &end, 10);
    if (end == NULL || *end != '\0' || errno != 0 || pages == 0 ||
        pages > INT_MAX || pages < -INT_MAX)
        return bad_input(c,
                         "--pages: '%s' is not a non-zero page count (3, "
                         "-2)",
                         s);
    err = pm_billing_adjust(c->cat, c->id, pages, c->opt['r'], c->actor,
                            (int64_t)time(NULL), month);
    if (err != 0)
        return cli_fail(c, err);
    if (c->json)
        return cli_emit_json(c, json_pack("{s:I, s:I, s:s}", "job",
                                          (json_int_t)c->id, "pages",
                                          (json_int_t)pages, "month", month));
    printf("job %lld: %+lld billable pages, in %s\n", (long long)c->id, pages,
           month);
    return PM_EXIT_OK;
}
