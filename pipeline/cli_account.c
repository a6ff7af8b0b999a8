/*
 * cli_account.c: `pagemill account` (add, list) and `pagemill workorder`
 * (add, list, show, close): the customers and their work orders in the
 * catalog, as plain-text tables or --json. The command table is cli.c's;
 * a work order's fee is cli_billing.c's.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "pipeline/base/pm.h"
#include "pipeline/cli_int.h"

/* ---- accounts ---- */

static json_t *account_json(const void *p)
{
    const pm_account_t *a = p;

    return json_pack(
        "{s:o, s:o, s:o, s:o, s:o}", "code", pm_json_str(a->code), "name",
        pm_json_str(a->name), "contact", pm_json_str(a->contact), "number",
        pm_json_str(a->account_number), "created", pm_json_time(a->created_at));
}

int cli_account_add(cli_t *c)
{
    pm_account_t a = {0};
    int64_t id;
    int err, rc;

    a.code = c->arg;
    a.name = c->opt['n'];
    a.contact = c->opt['C'];
    a.account_number = c->opt['N'];
    err = pm_account_add(c->cat, &a, c->actor, &id);
    if (err)
        return cli_fail(c, err);
    if (!c->json) {
        printf("account %s added (id %lld)\n", c->arg, (long long)id);
        return PM_EXIT_OK;
    }
    err = pm_account_get(c->cat, c->arg, &a);
    if (err)
        return cli_fail(c, err);
    rc = cli_emit_json(c, account_json(&a));
    pm_account_cleanup(&a);
    return rc;
}

static int account_print(const cli_t *c, const pm_account_t *v, size_t n)
{
    static const char *const heads[] = {"CODE", "NAME", "CONTACT", "NUMBER",
                                        "CREATED"};
    table_t t;
    char created[32];

    cli_table_init(&t, heads, 5, "lllll");
    for (size_t i = 0; i < n; i++) {
        const char *row[] = {v[i].code, v[i].name, v[i].contact,
                             v[i].account_number,
                             cli_fmt_time(created, v[i].created_at)};
        cli_table_row(&t, row);
    }
    return cli_table_emit(c, &t, "no accounts");
}

int cli_account_list(cli_t *c)
{
    pm_account_t *v;
    size_t n;
    int err, rc;

    err = pm_account_list(c->cat, &v, &n);
    if (err)
        return cli_fail(c, err);
    rc = c->json ? cli_emit_json(c, cli_jlist(v, n, sizeof(*v), account_json))
                 : account_print(c, v, n);
    pm_account_list_free(v, n);
    return rc;
}

/* ---- work orders ---- */

static json_t *workorder_json(const void *p)
{
    const pm_workorder_t *w = p;

    return json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "number", pm_json_str(w->number),
        "account", pm_json_str(w->account), "status", pm_json_str(w->status),
        "fee_code", pm_json_str(w->fee_code), "created",
        pm_json_time(w->created_at), "closed", pm_json_time(w->closed_at),
        "notes", pm_json_str(w->notes));
}

/* --json after a change: the work order as it now is. */
static int workorder_emit(cli_t *c, const char *number)
{
    pm_workorder_t w;
    int err, rc;

    err = pm_workorder_get(c->cat, number, &w);
    if (err)
        return cli_fail(c, err);
    rc = cli_emit_json(c, workorder_json(&w));
    pm_workorder_cleanup(&w);
    return rc;
}

int cli_workorder_add(cli_t *c)
{
    pm_workorder_t w = {0};
    int64_t id;
    int err;

    w.number = c->arg;
    w.account = c->opt['a'];
    w.fee_code = c->opt['f'];
    w.notes = c->opt['t'];
    err = pm_workorder_add(c->cat, &w, c->actor, &id);
    if (err)
        return cli_fail(c, err);
    if (c->json)
        return workorder_emit(c, c->arg);
    printf("work order %s added for account %s (id %lld)\n", c->arg,
           c->opt['a'], (long long)id);
    return PM_EXIT_OK;
}

static int workorder_print(const cli_t *c, const pm_workorder_t *v, size_t n)
{
    static const char *const heads[] = {"NUMBER",   "ACCOUNT", "STATUS",
                                        "FEE CODE", "CREATED", "CLOSED",
                                        "NOTES"};
    table_t t;
    char created[32], closed[32];

    cli_table_init(&t, heads, 7, "lllllll");
    for (size_t i = 0; i < n; i++) {
        const char *row[] = {v[i].number,
                             v[i].account,
                             v[i].status,
                             v[i].fee_code,
                             cli_fmt_time(created, v[i].created_at),
                             cli_fmt_time(closed, v[i].closed_at),
                             v[i].notes};
        cli_table_row(&t, row);
    }
    return cli_table_emit(c, &t, "no work orders");
}

int cli_workorder_list(cli_t *c)
{
    pm_workorder_t *v;
    pm_account_t a;
    size_t n;
    int err, rc;

    if (c->opt['a'] != NULL) { /* an unknown account is a typo, not "none" */
        err = pm_account_get(c->cat, c->opt['a'], &a);
        pm_account_cleanup(&a);
        if (err)
            return cli_fail(c, err);
    }
    err = pm_workorder_list(c->cat, c->opt['a'], &v, &n);
    if (err)
        return cli_fail(c, err);
    rc = c->json ? cli_emit_json(c, cli_jlist(v, n, sizeof(*v), workorder_json))
                 : workorder_print(c, v, n);
    pm_workorder_list_free(v, n);
    return rc;
}

/* The jobs of a work order: the short form. */
static json_t *job_brief_json(const void *p)
{
    const pm_job_t *j = p;

    return json_pack("{s:I, s:s, s:i, s:i, s:i, s:o}", "id", (json_int_t)j->id,
                     "state", pm_job_state_name(j->state), "pages", j->pages,
                     "done", j->pages_done, "failed", j->pages_failed,
                     "created", pm_json_time(j->created_at));
}

static int workorder_show_text(const cli_t *c, const pm_workorder_t *w,
                               const pm_job_t *v, size_t n)
{
    static const char *const heads[] = {"ID",   "STATE",  "PAGES",
                                        "DONE", "FAILED", "CREATED"};
    char id[24], pages[24], done[24], failed[24], t1[32], t2[32];
    table_t t;

    cli_table_init(&t, heads, 6, "rlrrrl");
    for (size_t i = 0; i < n; i++) {
        const char *row[] = {cli_fmt_int(id, v[i].id),
                             pm_job_state_name(v[i].state),
                             cli_fmt_int(pages, v[i].pages),
                             cli_fmt_int(done, v[i].pages_done),
                             cli_fmt_int(failed, v[i].pages_failed),
                             cli_fmt_time(t1, v[i].created_at)};
        cli_table_row(&t, row);
    }
    if (t.oom) {
        cli_table_cleanup(&t);
        return cli_oom(c);
    }
    cli_kv("work order", w->number);
    cli_kv("account", w->account);
    cli_kv("status", w->status);
    cli_kv_opt("fee code", w->fee_code);
    cli_kv_opt("notes", w->notes);
    cli_kv("created", cli_fmt_time(t1, w->created_at));
    cli_kv_opt("closed", cli_fmt_time(t2, w->closed_at));
    printf("\njobs:\n");
    return cli_table_emit(c, &t, "none");
}

static int workorder_show_json(const cli_t *c, const pm_workorder_t *w,
                               const pm_job_t *v, size_t n)
{
    json_t *doc = workorder_json(w);

    if (json_object_set_new(doc, "jobs",
                            cli_jlist(v, n, sizeof(*v), job_brief_json)) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return cli_emit_json(c, doc);
}

int cli_workorder_show(cli_t *c)
{
    pm_workorder_t w;
    pm_job_t *v = NULL;
    size_t n = 0;
    int err, rc;

    err = pm_workorder_get(c->cat, c->arg, &w);
    if (err == 0)
        err = pm_job_list(c->cat, -1, c->arg, 0, &v, &n);
    if (err)
        rc = cli_fail(c, err);
    else if (c->json)
        rc = workorder_show_json(c, &w, v, n);
    else
        rc = workorder_show_text(c, &w, v, n);
    pm_job_list_free(v, n);
    pm_workorder_cleanup(&w);
    return rc;
}

int cli_workorder_close(cli_t *c)
{
    int err = pm_workorder_close(c->cat, c->arg, c->actor);

    if (err)
        return cli_fail(c, err);
    if (c->json)
        return workorder_emit(c, c->arg);
    printf("work order %s closed\n", c->arg);
    return PM_EXIT_OK;
}
