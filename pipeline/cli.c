/*
 * cli.c: `pagemill account`, `workorder`, `job` and `status`, the
 * operator's and the supervisor's view of the catalog, plus the command
 * table and option parsing for every catalog command (the billing ones
 * are in cli_billing.c). Each subcommand parses its options, opens the
 * catalog, makes one catalog call or a few, and prints either aligned
 * plain-text tables (times in UTC ISO-8601) or, with --json, one JSON
 * document on stdout.
 *
 * Nothing here decides anything the catalog does not: the rules (a job
 * can be retried only when failed, ...) and their wording live in
 * catalog/, and a refusal is shown as "pagemill job retry: <errmsg>".
 * Exit status: 0 ok; 2 bad command line or bad input (unknown account,
 * work order or job, a job in the wrong state), with nothing on stdout;
 * 1 the catalog cannot be opened or fails.
 *
 * Reading order: output helpers (text, tables, JSON), the commands, the
 * command table, then option parsing and pm_cli_main.
 */
#include "pipeline/cli.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"
#include "catalog/monitor.h"
#include "config/config.h"
#include "pipeline/base/pm.h"
#include "pipeline/cli_int.h"

#define LABEL_WIDTH 14 /* "duplicate of:" and a space */

/* ---- errors ---- */

/* The exit status for a catalog result: bad input is the caller's to fix
 * (2); anything else means the catalog could not do its work (1). */
static int exit_status(int err)
{
    switch (err) {
    case 0:
        return PM_EXIT_OK;
    case PM_ENOENT:
    case PM_EEXIST:
    case PM_EINVAL:
        return PM_EXIT_USAGE;
    default:
        return PM_EXIT_FAILURE;
    }
}

/* Reports a failed catalog call in one line and returns the exit status. */
int cli_fail(const cli_t *c, int err)
{
    fprintf(stderr, "%s: %s\n", c->prefix, pm_catalog_errmsg(c->cat));
    return exit_status(err);
}

int cli_oom(const cli_t *c)
{
    fprintf(stderr, "%s: out of memory\n", c->prefix);
    return PM_EXIT_FAILURE;
}

/* ---- text ---- */

/* "2026-11-23T12:00:00Z" in buf, or NULL for 0 (never happened). */
const char *cli_fmt_time(char buf[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t == 0 || gmtime_r(&tt, &tm) == NULL)
        return NULL;
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

const char *cli_fmt_int(char buf[24], long long v)
{
    snprintf(buf, 24, "%lld", v);
    return buf;
}

/* A new copy of `s` fit for one terminal line: control characters (an
 * escape sequence in a batch name, say) become spaces; with `first_line`
 * only the text before the first line break is kept, and " ..." marks
 * that more followed. NULL if out of memory. */
static char *clean(const char *s, int first_line)
{
    size_t n = first_line ? strcspn(s, "\r\n") : strlen(s);
    int more = s[n] != '\0' && s[n + strspn(s + n, "\r\n")] != '\0';
    char *d = pm_malloc(n + sizeof(" ..."));

    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        d[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    strcpy(d + n, more ? " ..." : "");
    return d;
}

/* Columns `s` takes on a terminal: UTF-8 continuation bytes take none. */
static size_t text_width(const char *s)
{
    size_t w = 0;

    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

/* Prints "label:", padded, then `value` ("-" for NULL) on one line. */
void cli_kv(const char *label, const char *value)
{
    int n = printf("%s:", label);

    printf("%*s", n < LABEL_WIDTH ? LABEL_WIDTH - n : 1, "");
    for (const char *p = value ? value : "-"; *p; p++)
        putchar((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p);
    putchar('\n');
}

/* cli_kv() for a field that is usually unset: prints nothing for NULL. */
static void kv_opt(const char *label, const char *value)
{
    if (value != NULL)
        cli_kv(label, value);
}

/* ---- tables ---- */

/* Appends a row, copying its cells (NULL shows as "-"). */
void cli_table_row(table_t *t, const char *const *cells)
{
    char **grown;

    if (t->oom)
        return;
    grown = pm_realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*grown));
    if (grown == NULL) {
        t->oom = 1;
        return;
    }
    t->cells = grown;
    grown += t->nrows++ * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        grown[i] = clean(cells[i] ? cells[i] : "-", 1);
        t->oom |= grown[i] == NULL;
    }
}

void cli_table_init(table_t *t, const char *const *heads, size_t ncols,
                    const char *align)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    t->align = align;
    cli_table_row(t, heads);
}

static void table_cleanup(table_t *t)
{
    for (size_t i = 0; t->cells != NULL && i < t->nrows * t->ncols; i++)
        pm_free(t->cells[i]);
    pm_free(t->cells);
    memset(t, 0, sizeof(*t));
}

static void table_print(const table_t *t)
{
    size_t width[MAX_COLS] = {0};

    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            size_t w = text_width(t->cells[r * t->ncols + i]);
            width[i] = w > width[i] ? w : width[i];
        }
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r * t->ncols + i];
            int pad = (int)(width[i] - text_width(s)), last = i + 1 == t->ncols;
            if (t->align[i] == 'r')
                printf("%*s%s", pad, "", s);
            else
                printf("%s%*s", s, last ? 0 : pad, "");
            fputs(last ? "\n" : "  ", stdout);
        }
}

/* Prints the table, or `none` when it has no rows, and releases it. */
int cli_table_emit(const cli_t *c, table_t *t, const char *none)
{
    int oom = t->oom;

    if (!oom && t->nrows < 2)
        printf("%s\n", none);
    else if (!oom)
        table_print(t);
    table_cleanup(t);
    return oom ? cli_oom(c) : PM_EXIT_OK;
}

/* ---- JSON ---- */

/* A JSON string for `s` (null for NULL). Bytes that are not UTF-8, which
 * JSON cannot carry, become '?'. NULL only when out of memory. */
json_t *cli_jstr(const char *s)
{
    json_t *v;
    char *copy;

    if (s == NULL)
        return json_null();
    if (pm_utf8_valid(s))
        return json_string(s);
    copy = pm_strdup(s);
    for (char *p = copy; p != NULL && *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = copy ? json_string(copy) : NULL;
    pm_free(copy);
    return v;
}

/* The first line of `s` as a JSON string, or null. */
static json_t *jline(const char *s)
{
    char *line = s ? clean(s, 1) : NULL;
    json_t *v = s == NULL ? json_null() : line ? cli_jstr(line) : NULL;

    pm_free(line);
    return v;
}

json_t *cli_jtime(int64_t t)
{
    char buf[32];

    return cli_jstr(cli_fmt_time(buf, t));
}

/* An array of one(item) for each of the n items of `size` bytes at v. */
json_t *cli_jlist(const void *v, size_t n, size_t size,
                  json_t *(*one)(const void *))
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, one((const char *)v + i * size)) != 0) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

/* Prints `doc` (and takes it) as the command's one JSON document. */
int cli_emit_json(const cli_t *c, json_t *doc)
{
    int err;

    if (doc == NULL)
        return cli_oom(c);
    /* 15 digits print 0.2 as 0.2, not 0.20000000000000001. */
    err = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    json_decref(doc);
    putchar('\n');
    return err == 0 ? PM_EXIT_OK : PM_EXIT_FAILURE; /* run_cmd says why */
}

/* ---- accounts ---- */

static json_t *account_json(const void *p)
{
    const pm_account_t *a = p;

    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "code", cli_jstr(a->code),
                     "name", cli_jstr(a->name), "contact", cli_jstr(a->contact),
                     "number", cli_jstr(a->account_number), "created",
                     cli_jtime(a->created_at));
}

static int account_add(cli_t *c)
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

static int account_list(cli_t *c)
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
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "number", cli_jstr(w->number),
        "account", cli_jstr(w->account), "status", cli_jstr(w->status),
        "fee_code", cli_jstr(w->fee_code), "created", cli_jtime(w->created_at),
        "closed", cli_jtime(w->closed_at), "notes", cli_jstr(w->notes));
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

static int workorder_add(cli_t *c)
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

static int workorder_list(cli_t *c)
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
                     "created", cli_jtime(j->created_at));
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
        table_cleanup(&t);
        return cli_oom(c);
    }
    cli_kv("work order", w->number);
    cli_kv("account", w->account);
    cli_kv("status", w->status);
    kv_opt("fee code", w->fee_code);
    kv_opt("notes", w->notes);
    cli_kv("created", cli_fmt_time(t1, w->created_at));
    kv_opt("closed", cli_fmt_time(t2, w->closed_at));
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

static int workorder_show(cli_t *c)
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

static int workorder_close(cli_t *c)
{
    int err = pm_workorder_close(c->cat, c->arg, c->actor);

    if (err)
        return cli_fail(c, err);
    if (c->json)
        return workorder_emit(c, c->arg);
    printf("work order %s closed\n", c->arg);
    return PM_EXIT_OK;
}

/* ---- jobs ---- */

static json_t *job_json(const void *p)
{
    const pm_job_t *j = p;

    return json_pack("{s:I, s:s, s:o, s:o, s:o, s:i, s:i, s:i, s:o}", "id",
                     (json_int_t)j->id, "state", pm_job_state_name(j->state),
                     "workorder", cli_jstr(j->workorder), "account",
                     cli_jstr(j->account), "batch", cli_jstr(j->batch), "pages",
                     j->pages, "done", j->pages_done, "failed", j->pages_failed,
                     "created", cli_jtime(j->created_at));
}

/* Every field of a job, for `job show`: the list fields first. */
static json_t *job_full_json(const pm_job_t *j)
{
    json_t *doc = job_json(j);
    json_t *more = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o, "
        "s:b}",
        "profile", cli_jstr(j->profile), "hotfolder", cli_jstr(j->hotfolder),
        "operator", cli_jstr(j->operator_name), "notes", cli_jstr(j->notes),
        "source_path", cli_jstr(j->source_path), "output_path",
        cli_jstr(j->output_path), "hold_reason", cli_jstr(j->hold_reason),
        "error", cli_jstr(j->error), "blank", j->pages_blank, "duplicate_of",
        j->duplicate_of ? json_integer(j->duplicate_of) : json_null(),
        "updated", cli_jtime(j->updated_at), "finished",
        cli_jtime(j->finished_at), "billing_month",
        cli_jstr(j->billing_month[0] ? j->billing_month : NULL), "bill_blank",
        j->bill_blank);

    if (json_object_update(doc, more) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    json_decref(more);
    return doc;
}

static int job_print(const cli_t *c, const pm_job_t *v, size_t n)
{
    static const char *const heads[] = {"ID",      "STATE",  "WORK ORDER",
                                        "ACCOUNT", "BATCH",  "PAGES",
                                        "DONE",    "FAILED", "CREATED"};
    char id[24], pages[24], done[24], failed[24], created[32];
    table_t t;

    cli_table_init(&t, heads, 9, "rllllrrrl");
    for (size_t i = 0; i < n; i++) {
        const char *row[] = {cli_fmt_int(id, v[i].id),
                             pm_job_state_name(v[i].state),
                             v[i].workorder,
                             v[i].account,
                             v[i].batch,
                             cli_fmt_int(pages, v[i].pages),
                             cli_fmt_int(done, v[i].pages_done),
                             cli_fmt_int(failed, v[i].pages_failed),
                             cli_fmt_time(created, v[i].created_at)};
        cli_table_row(&t, row);
    }
    return cli_table_emit(c, &t, "no jobs");
}

static int job_list(cli_t *c)
{
    pm_job_t *v;
    size_t n;
    int err, rc;

    if (c->opt['R'] != NULL)
        return cli_job_list_review(c);
    err = pm_job_list(c->cat, c->state, c->opt['w'], c->limit, &v, &n);
    if (err)
        return cli_fail(c, err);
    rc = c->json ? cli_emit_json(c, cli_jlist(v, n, sizeof(*v), job_json))
                 : job_print(c, v, n);
    pm_job_list_free(v, n);
    return rc;
}

/* What `job show` reads: the job, its pages and its events. */
typedef struct job_view {
    pm_job_t job;
    pm_task_t *tasks;
    size_t ntasks;
    pm_event_t *events;
    size_t nevents;
} job_view_t;

static json_t *task_json(const void *p)
{
    const pm_task_t *t = p;
    int done = t->state == PM_TASK_DONE;

    return json_pack(
        "{s:i, s:o, s:i, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "page",
        t->page, "src", cli_jstr(t->src), "frame", t->frame, "state",
        pm_task_state_name(t->state), "attempts", t->attempts, "blank",
        done ? json_boolean(t->m.blank) : json_null(), "words",
        done ? json_integer(t->m.words) : json_null(), "confidence",
        done ? json_real(t->m.confidence) : json_null(), "review",
        cli_jstr(t->review), "orient_method", cli_jstr(t->orient_method),
        "orient_evidence",
        t->orient_evidence ? json_loads(t->orient_evidence, 0, NULL)
                           : json_null(),
        "error", cli_jstr(t->error));
}

static json_t *event_json(const void *p)
{
    const pm_event_t *e = p;

    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "at", cli_jtime(e->at),
                     "actor", cli_jstr(e->actor), "kind", cli_jstr(e->kind),
                     "page", e->page ? json_integer(e->page) : json_null(),
                     "detail", cli_jstr(e->detail));
}

static int job_show_json(const cli_t *c, const job_view_t *v)
{
    json_t *doc = job_full_json(&v->job);

    if (json_object_set_new(doc, "page_tasks",
                            cli_jlist(v->tasks, v->ntasks, sizeof(*v->tasks),
                                      task_json)) != 0 ||
        json_object_set_new(doc, "events",
                            cli_jlist(v->events, v->nevents, sizeof(*v->events),
                                      event_json)) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return cli_emit_json(c, doc);
}

/* A page's file as shown: relative to the job's folder when inside it. */
static const char *task_src(const pm_task_t *t, const char *dir)
{
    size_t n = dir ? strlen(dir) : 0;

    if (n > 0 && t->src && strncmp(t->src, dir, n) == 0 && t->src[n] == '/')
        return t->src + n + 1;
    return t->src;
}

/* Frames count from 1 here, as in the catalog's error texts. */
static void task_table(table_t *t, const job_view_t *v)
{
    static const char *const heads[] = {
        "PAGE",  "SRC",   "FRAME",      "STATE",  "ATTEMPTS",
        "BLANK", "WORDS", "CONFIDENCE", "REVIEW", "ERROR"};
    char page[24], frame[24], attempts[24], words[24], conf[32];

    cli_table_init(t, heads, 10, "rlrlrlrrll");
    for (size_t i = 0; i < v->ntasks; i++) {
        const pm_task_t *k = &v->tasks[i];
        int done = k->state == PM_TASK_DONE;
        snprintf(conf, sizeof(conf), "%.1f", k->m.confidence);
        const char *row[] = {cli_fmt_int(page, k->page),
                             task_src(k, v->job.source_path),
                             cli_fmt_int(frame, k->frame + 1),
                             pm_task_state_name(k->state),
                             cli_fmt_int(attempts, k->attempts),
                             done ? (k->m.blank ? "yes" : "no") : NULL,
                             done ? cli_fmt_int(words, k->m.words) : NULL,
                             done ? conf : NULL,
                             k->review,
                             k->error};
        cli_table_row(t, row);
    }
}

static void event_table(table_t *t, const job_view_t *v)
{
    static const char *const heads[] = {"AT", "ACTOR", "KIND", "PAGE",
                                        "DETAIL"};
    char at[32], page[24];

    cli_table_init(t, heads, 5, "lllrl");
    for (size_t i = 0; i < v->nevents; i++) {
        const pm_event_t *e = &v->events[i];
        const char *row[] = {cli_fmt_time(at, e->at), e->actor, e->kind,
                             e->page ? cli_fmt_int(page, e->page) : NULL,
                             e->detail};
        cli_table_row(t, row);
    }
}

static void job_fields(const pm_job_t *j)
{
    char buf[96], t1[32], t2[32], t3[32];

    cli_kv("job", cli_fmt_int(buf, j->id));
    cli_kv("state", pm_job_state_name(j->state));
    cli_kv("work order", j->workorder);
    cli_kv("account", j->account);
    cli_kv("batch", j->batch);
    cli_kv("profile", j->profile);
    kv_opt("hot folder", j->hotfolder);
    kv_opt("operator", j->operator_name);
    kv_opt("notes", j->notes);
    kv_opt("source", j->source_path);
    kv_opt("output", j->output_path);
    kv_opt("hold reason", j->hold_reason);
    kv_opt("error", j->error);
    snprintf(buf, sizeof(buf), "%d (%d done, %d failed, %d blank)", j->pages,
             j->pages_done, j->pages_failed, j->pages_blank);
    cli_kv("pages", buf);
    if (j->duplicate_of != 0)
        cli_kv("duplicate of", cli_fmt_int(buf, j->duplicate_of));
    cli_kv("created", cli_fmt_time(t1, j->created_at));
    cli_kv("updated", cli_fmt_time(t2, j->updated_at));
    kv_opt("finished", cli_fmt_time(t3, j->finished_at));
    kv_opt("billed in", j->billing_month[0] ? j->billing_month : NULL);
    cli_kv("bill blanks", j->bill_blank ? "yes" : "no");
}

static int job_show_text(const cli_t *c, const job_view_t *v)
{
    table_t pages, events;
    int oom;

    task_table(&pages, v);
    event_table(&events, v);
    oom = pages.oom || events.oom;
    if (!oom) {
        job_fields(&v->job);
        printf("\nper page:\n");
        table_print(&pages);
        printf("\nevents:\n");
        table_print(&events);
    }
    table_cleanup(&pages);
    table_cleanup(&events);
    return oom ? cli_oom(c) : PM_EXIT_OK;
}

static int job_show(cli_t *c)
{
    job_view_t v;
    int err, rc;

    memset(&v, 0, sizeof(v));
    err = pm_job_get(c->cat, c->id, &v.job);
    if (err == 0)
        err = pm_task_list(c->cat, c->id, &v.tasks, &v.ntasks);
    if (err == 0)
        err = pm_event_list(c->cat, c->id, 0, &v.events, &v.nevents);
    if (err)
        rc = cli_fail(c, err);
    else
        rc = c->json ? job_show_json(c, &v) : job_show_text(c, &v);
    pm_event_list_free(v.events, v.nevents);
    pm_task_list_free(v.tasks, v.ntasks);
    pm_job_cleanup(&v.job);
    return rc;
}

/* After an operator action: what became of the job. */
static int job_acted(cli_t *c, int err, const char *verb)
{
    pm_job_t j;
    int rc;

    if (err)
        return cli_fail(c, err);
    err = pm_job_get(c->cat, c->id, &j);
    if (err)
        return cli_fail(c, err);
    rc = PM_EXIT_OK;
    if (c->json)
        rc = cli_emit_json(c, job_json(&j));
    else if (strcmp(verb, pm_job_state_name(j.state)) == 0)
        printf("job %lld %s\n", (long long)c->id, verb);
    else
        printf("job %lld %s: now %s\n", (long long)c->id, verb,
               pm_job_state_name(j.state));
    pm_job_cleanup(&j);
    return rc;
}

static int job_retry(cli_t *c)
{
    return job_acted(c, pm_job_retry(c->cat, c->id, c->actor), "retried");
}

static int job_release(cli_t *c)
{
    return job_acted(c, pm_job_release(c->cat, c->id, c->actor), "released");
}

static int job_cancel(cli_t *c)
{
    return job_acted(c, pm_job_cancel(c->cat, c->id, c->actor, c->opt['r']),
                     "cancelled");
}

/* ---- status ---- */

/* What `status` reads. */
typedef struct status_view {
    pm_status_t s;
    pm_job_t *failed;
    size_t nfailed;
    int checked, ok; /* --check given; its result */
    char *report;
    char **orphans; /* spool batches no job names (--check) */
    size_t norphans;
    pm_worker_info_t *workers; /* fresh rows only (see fresh_workers) */
    size_t nworkers;
    int64_t review_pages, review_jobs; /* flagged for review */
    int64_t now;
    cli_status_extra_t x; /* waiting and rejected batches */
} status_view_t;

/* Rejected batches `status` lists. */
#define STATUS_REJECTED_MAX 10

/* Worker rows older than this are a coordinator that is gone (kill -9):
 * it rewrites them every 2 s while it runs. */
#define WORKERS_STALE_S 30

/* Drops (and frees) the stale rows of v->workers. */
static void fresh_workers(status_view_t *v)
{
    size_t k = 0;

    for (size_t i = 0; i < v->nworkers; i++) {
        if (v->workers[i].updated_at >= v->now - WORKERS_STALE_S)
            v->workers[k++] = v->workers[i];
        else
            pm_free(v->workers[i].owner);
    }
    v->nworkers = k;
}

static json_t *worker_json(const void *p)
{
    const pm_worker_info_t *w = p;

    return json_pack(
        "{s:o, s:i, s:i, s:s, s:o, s:o, s:I, s:I}", "owner", cli_jstr(w->owner),
        "slot", w->slot, "pid", w->pid, "state", pm_worker_state_name(w->state),
        "job", w->job ? json_integer(w->job) : json_null(), "page",
        w->page ? json_integer(w->page) : json_null(), "started_at",
        (json_int_t)w->started_at, "updated_at", (json_int_t)w->updated_at);
}

/* "2 (1 busy: job 4 page 7, 1 idle), updated 1 s ago", or none. */
static void print_workers(const status_view_t *v)
{
    size_t count[3] = {0, 0, 0};
    int64_t updated = 0;
    const char *sep = "";

    printf("workers:      ");
    if (v->nworkers == 0) {
        printf("none (service not running)\n");
        return;
    }
    for (size_t i = 0; i < v->nworkers; i++) {
        count[v->workers[i].state % 3]++;
        if (v->workers[i].updated_at > updated)
            updated = v->workers[i].updated_at;
    }
    printf("%zu (", v->nworkers);
    if (count[PM_WORKER_BUSY] > 0) {
        printf("%zu busy:", count[PM_WORKER_BUSY]);
        for (size_t i = 0; i < v->nworkers; i++) {
            const pm_worker_info_t *w = &v->workers[i];

            if (w->state != PM_WORKER_BUSY)
                continue;
            if (w->page > 0)
                printf("%s job %lld page %d", sep, (long long)w->job, w->page);
            else
                printf("%s job %lld assembly", sep, (long long)w->job);
            sep = ",";
        }
        sep = ", ";
    }
    if (count[PM_WORKER_IDLE] > 0) {
        printf("%s%zu idle", sep, count[PM_WORKER_IDLE]);
        sep = ", ";
    }
    if (count[PM_WORKER_STARTING] > 0)
        printf("%s%zu starting", sep, count[PM_WORKER_STARTING]);
    printf("), updated %lld s ago\n",
           (long long)(v->now > updated ? v->now - updated : 0));
}

/* Pages per minute over `minutes`, in tenths, rounded half up. */
static long long rate_tenths(int64_t pages, int minutes)
{
    return (long long)((pages * 10 + minutes / 2) / minutes);
}

static json_t *failed_job_json(const void *p)
{
    const pm_job_t *j = p;

    return json_pack("{s:I, s:o, s:o}", "id", (json_int_t)j->id, "workorder",
                     cli_jstr(j->workorder), "error", jline(j->error));
}

static json_t *orphan_json(const void *p)
{
    return cli_jstr(*(char *const *)p);
}

static json_t *status_json(const status_view_t *v)
{
    const pm_status_t *s = &v->s;
    json_t *doc = json_pack(
        "{s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:f, s:f, "
        "s:o, s:o}",
        "queued_pages", (json_int_t)s->queued_pages, "running_pages",
        (json_int_t)s->running_pages, "jobs", "queued",
        (json_int_t)s->jobs_queued, "running", (json_int_t)s->jobs_running,
        "assembling", (json_int_t)s->jobs_assembling, "held",
        (json_int_t)s->jobs_held, "failed", (json_int_t)s->jobs_failed, "done",
        (json_int_t)s->jobs_done, "pages_last_5min",
        (json_int_t)s->pages_last_5min, "pages_last_60min",
        (json_int_t)s->pages_last_60min, "pages_per_min_5",
        (double)rate_tenths(s->pages_last_5min, 5) / 10, "pages_per_min_60",
        (double)rate_tenths(s->pages_last_60min, 60) / 10, "failed_jobs",
        cli_jlist(v->failed, v->nfailed, sizeof(*v->failed), failed_job_json),
        "workers",
        cli_jlist(v->workers, v->nworkers, sizeof(*v->workers), worker_json));

    if (doc != NULL &&
        (json_object_set_new(doc, "review",
                             json_pack("{s:I, s:I}", "pages",
                                       (json_int_t)v->review_pages, "jobs",
                                       (json_int_t)v->review_jobs)) != 0 ||
         cli_status_json_extra(doc, &v->x) != 0)) {
        json_decref(doc);
        return NULL;
    }
    if (v->checked &&
        json_object_set_new(
            doc, "integrity",
            json_pack("{s:b, s:o, s:o}", "ok", v->ok, "report",
                      cli_jstr(v->report), "orphans",
                      cli_jlist(v->orphans, v->norphans, sizeof(*v->orphans),
                                orphan_json))) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

/* Prints each line of `text` indented by two spaces. Accepts NULL. */
static void print_indented(const char *text)
{
    while (text != NULL && *text != '\0') {
        size_t n = strcspn(text, "\n");
        printf("  %.*s\n", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

static void status_fields(const status_view_t *v)
{
    const pm_status_t *s = &v->s;
    long long r5 = rate_tenths(s->pages_last_5min, 5);
    long long r60 = rate_tenths(s->pages_last_60min, 60);

    printf("queue depth:  %lld page%s queued\n", (long long)s->queued_pages,
           s->queued_pages == 1 ? "" : "s");
    printf("running:      %lld page%s\n", (long long)s->running_pages,
           s->running_pages == 1 ? "" : "s");
    printf("jobs:         queued %lld, running %lld, assembling %lld, "
           "held %lld, failed %lld, done %lld\n",
           (long long)s->jobs_queued, (long long)s->jobs_running,
           (long long)s->jobs_assembling, (long long)s->jobs_held,
           (long long)s->jobs_failed, (long long)s->jobs_done);
    printf("pages/min:    %lld.%lld over the last 5 min, %lld.%lld over the "
           "last 60 min\n",
           r5 / 10, r5 % 10, r60 / 10, r60 % 10);
    print_workers(v);
    printf("review:       %lld page%s flagged in %lld job%s%s\n",
           (long long)v->review_pages, v->review_pages == 1 ? "" : "s",
           (long long)v->review_jobs, v->review_jobs == 1 ? "" : "s",
           v->review_pages > 0 ? " (pagemill job list --review)" : "");
    if (v->checked)
        cli_kv("integrity", v->ok ? "ok" : "FAILED");
    if (!v->ok && v->report != NULL && strcmp(v->report, "ok") != 0)
        print_indented(v->report);
    for (size_t i = 0; i < v->norphans; i++)
        printf("  orphaned batch in the spool (no job names it; move it back "
               "into its hot folder): %s\n",
               v->orphans[i]);
}

/* Batch folders in the spool that no job names: the service stopped
 * between taking a batch and recording its job. Hidden entries (the
 * catalog marker) and jobs' work folders are not batches. The spool is
 * the configuration's, so only with --config. */
static int spool_orphans(cli_t *c, status_view_t *v)
{
    DIR *d = c->opt['c'] != NULL ? opendir(c->cfg->spool) : NULL;
    struct dirent *e;
    int64_t job;
    char *path, **grown;
    int err = 0;

    if (d == NULL)
        return 0; /* no spool yet: nothing taken */
    while (err == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "job-", 4) == 0)
            continue;
        path = pm_asprintf("%s/%s", c->cfg->spool, e->d_name);
        err = path ? pm_job_by_source(c->cat, path, &job) : PM_ENOMEM;
        grown = err == 0 && job == 0
                    ? pm_realloc(v->orphans,
                                 (v->norphans + 1) * sizeof(*v->orphans))
                    : NULL;
        if (grown != NULL) {
            v->orphans = grown;
            v->orphans[v->norphans++] = path;
            path = NULL;
        } else if (err == 0 && job == 0) {
            err = PM_ENOMEM;
        }
        pm_free(path);
    }
    closedir(d);
    if (v->norphans > 0)
        v->ok = 0;
    return err;
}

static int status_text(const cli_t *c, const status_view_t *v)
{
    static const char *const heads[] = {"ID", "WORK ORDER", "ERROR"};
    char id[24];
    table_t t;

    cli_table_init(&t, heads, 3, "rll");
    for (size_t i = 0; i < v->nfailed; i++) {
        const char *row[] = {cli_fmt_int(id, v->failed[i].id),
                             v->failed[i].workorder, v->failed[i].error};
        cli_table_row(&t, row);
    }
    if (t.oom) {
        table_cleanup(&t);
        return cli_oom(c);
    }
    status_fields(v);
    printf("\nfailed jobs:\n");
    if (cli_table_emit(c, &t, "none") != PM_EXIT_OK)
        return PM_EXIT_FAILURE;
    cli_status_print_extra(&v->x, v->now);
    return PM_EXIT_OK;
}

/* 0, or the documented code for a service that is not running or a job
 * that has failed (scripts and monitoring read it). */
static int status_code(const status_view_t *v)
{
    if (!v->x.running)
        return CLI_STATUS_NOT_RUNNING;
    return v->nfailed > 0 ? CLI_STATUS_JOB_FAILED : PM_EXIT_OK;
}

static int status_cmd(cli_t *c)
{
    status_view_t v;
    int err, rc;

    memset(&v, 0, sizeof(v));
    v.checked = c->opt['k'] != NULL;
    v.ok = 1;
    v.now = (int64_t)time(NULL);
    err = pm_catalog_status(c->cat, v.now, &v.s);
    if (err == 0)
        err =
            pm_job_list(c->cat, PM_JOB_FAILED, NULL, 0, &v.failed, &v.nfailed);
    if (err == 0)
        err = pm_worker_list(c->cat, &v.workers, &v.nworkers);
    if (err == 0)
        fresh_workers(&v);
    if (err == 0)
        err = pm_review_count(c->cat, &v.review_pages, &v.review_jobs);
    v.x.running = v.nworkers > 0;
    if (err == 0)
        err = pm_monitor_rejections(c->cat, STATUS_REJECTED_MAX, &v.x.rejected,
                                    &v.x.nrejected);
    if (err == 0)
        err = pm_waiting_scan(c->cfg, &v.x.waiting, &v.x.nwaiting);
    if (err == 0 && v.checked)
        err = pm_catalog_check(c->cat, &v.ok, &v.report);
    if (err == 0 && v.checked)
        err = spool_orphans(c, &v);
    if (err)
        rc = cli_fail(c, err);
    else
        rc = c->json ? cli_emit_json(c, status_json(&v)) : status_text(c, &v);
    if (rc == PM_EXIT_OK && !v.ok) {
        fprintf(stderr, "%s: %s\n", c->prefix,
                v.norphans > 0 ? "batches in the spool have no job"
                               : "the catalog failed its integrity check");
        rc = PM_EXIT_FAILURE;
    }
    if (rc == PM_EXIT_OK)
        rc = status_code(&v);
    pm_waiting_free(v.x.waiting, v.x.nwaiting);
    pm_event_list_free(v.x.rejected, v.x.nrejected);
    for (size_t i = 0; i < v.norphans; i++)
        pm_free(v.orphans[i]);
    pm_free(v.orphans);
    pm_job_list_free(v.failed, v.nfailed);
    pm_worker_list_free(v.workers, v.nworkers);
    pm_free(v.report);
    return rc;
}

/* ---- the commands ---- */

struct cmd {
    const char *group, *name; /* name is NULL for `status` */
    const char *synopsis;     /* after "pagemill group name" */
    const char *help;         /* what it does, and its own options */
    const char *opts;         /* codes of its own options */
    const char *required;     /* those of them it needs */
    const char *arg;          /* its positional argument, or NULL */
    int (*run)(cli_t *c);
    int creates; /* may create the catalog file */
};

static const cmd_t cmds[] = {
    {"account", "add", "CODE --name NAME [--contact C] [--number N]",
     "Adds a customer account; CODE is its short unique code. Creates the\n"
     "catalog file if there is none yet.\n"
     "\n"
     "  --name NAME     the customer's name (required)\n"
     "  --contact C     billing contact\n"
     "  --number N      account number for the accounting export\n",
     "nCN", "n", "CODE", account_add, 1},
    {"account", "list", "", "Lists the accounts by code.\n", "", "", NULL,
     account_list, 0},
    {"workorder", "add", "NUMBER --account CODE [--fee-code F] [--notes T]",
     "Opens a work order for an existing account.\n"
     "\n"
     "  --account CODE  the account it is for (required)\n"
     "  --fee-code F    the fee code it bills under\n"
     "  --notes T       free text\n",
     "aft", "a", "NUMBER", workorder_add, 0},
    {"workorder", "list", "[--account CODE]",
     "Lists work orders by number.\n"
     "\n"
     "  --account CODE  only those of this account\n",
     "a", "", NULL, workorder_list, 0},
    {"workorder", "show", "NUMBER",
     "Shows a work order and its jobs (id, state, pages, done, failed,\n"
     "created).\n",
     "", "", "NUMBER", workorder_show, 0},
    {"workorder", "close", "NUMBER",
     "Closes a work order: no new batches are accepted for it.\n", "", "",
     "NUMBER", workorder_close, 0},
    {"job", "list", "[--state S] [--work-order W] [--limit N] [--review]",
     "Lists jobs, newest first.\n"
     "\n"
     "  --state S       only jobs in state S: received, queued, running,\n"
     "                  assembling, done, held, failed or cancelled\n"
     "  --work-order W  only jobs of work order W (which need not exist:\n"
     "                  a job is held when its work order is unknown)\n"
     "  --limit N       at most N jobs (default 0: all)\n"
     "  --review        instead, the jobs with pages flagged for review\n"
     "                  (low OCR confidence, no words on a page with\n"
     "                  ink): work order, account, how many and why\n",
     "swlR", "", NULL, job_list, 0},
    {"job", "show", "ID",
     "Shows a job, a table of its pages (FRAME counts from 1, as in error\n"
     "texts; the JSON frame counts from 0, as stored) and its events.\n",
     "", "", "ID", job_show, 0},
    {"job", "retry", "ID",
     "Queues a failed job's failed pages again with a fresh attempt budget;\n"
     "pages already done are kept.\n",
     "", "", "ID", job_retry, 0},
    {"job", "release", "ID", "Queues a held job.\n", "", "", "ID", job_release,
     0},
    {"job", "replace-page", "JOB PAGE FILE",
     "Replaces page PAGE of done job JOB with FILE, a rescan: one page of\n"
     "a supported image, a regular file (not a symlink). It is checked\n"
     "and hashed, copied into the spool, and the request recorded; the\n"
     "service redoes the page and re-publishes the job's documents (at\n"
     "its next start when it is not running). The old page's original is\n"
     "kept in the spool (job-<id>/replaced/). The page stays billed once:\n"
     "billing does not change.\n",
     "", "", "JOB PAGE FILE", cli_job_replace_page, 0},
    {"job", "cancel", "ID [--reason TEXT]",
     "Cancels a job; its pages stop being billable. A done job already\n"
     "billed in a closed month is credited in the first open month (the\n"
     "closed month never changes).\n"
     "\n"
     "  --reason TEXT   recorded in the job's events and any credit\n",
     "r", "", "ID", job_cancel, 0},
    {"workorder", "set-fee", "NUMBER --fee-code F",
     "Sets the fee code a work order bills under. Months already closed\n"
     "keep the prices they froze.\n",
     "f", "f", "NUMBER", cli_workorder_set_fee, 0},
    {"fee", "add",
     "CODE --price P [--min-charge M] [--effective DATE] "
     "[--description T]",
     "Adds a fee code, or a new price for one from DATE on (the old price\n"
     "stays for jobs that finished before DATE). Prices are in currency\n"
     "units with up to 5 decimals (0.08125).\n"
     "\n"
     "  --price P       price per billable page (required)\n"
     "  --min-charge M  minimum charge per job (default 0)\n"
     "  --effective D   YYYY-MM-DD, first day the price applies, in the\n"
     "                  billing time zone (default: today); must fall after\n"
     "                  the last closed month\n"
     "  --description T free text\n",
     "pmed", "p", "CODE", cli_fee_add, 0},
    {"fee", "list", "[--fee-code F]",
     "Lists fee codes and their price history.\n"
     "\n"
     "  --fee-code F    only this code\n",
     "f", "", NULL, cli_fee_list, 0},
    {"billing", "report",
     "(--month M | --from M --to M) [--account A] [--work-order W] "
     "[--format table|csv|json]",
     "Prints the bill of a month (or of months M..M): one line per job\n"
     "and adjustment, with totals per work order, per account and overall.\n"
     "A closed month shows what was frozen when it closed, byte for byte;\n"
     "an open month is computed now from the billable pages and the fee\n"
     "schedule.\n"
     "\n"
     "  --month M       YYYY-MM\n"
     "  --from M, --to M  a range of months instead\n"
     "  --account A     only this account\n"
     "  --work-order W  only this work order\n"
     "  --format F      table (default), csv or json (--json: json)\n",
     "MFTawo", "", NULL, cli_billing_report, 0},
    {"billing", "invoice", "--month M --out DIR [--account A]",
     "Writes one PDF invoice per account billed in month M and the\n"
     "accounting export CSV into DIR (DRAFT while the month is open).\n"
     "\n"
     "  --month M       YYYY-MM (required)\n"
     "  --out DIR       an existing folder (required)\n"
     "  --account A     only this account's invoice\n",
     "MOa", "MO", NULL, cli_billing_invoice, 0},
    {"billing", "close", "MONTH [--force]",
     "Closes MONTH (YYYY-MM): freezes its lines, so its reports and\n"
     "invoices never change. Refused while jobs created before the month\n"
     "ended are unfinished (they are listed), unless --force: those jobs\n"
     "then bill in the first open month they finish in.\n"
     "\n"
     "  --force         close over unfinished jobs\n",
     "x", "", "MONTH", cli_billing_close, 0},
    {"billing", "adjust", "ID --pages N --reason TEXT",
     "Adjusts the bill of done job ID by N billable pages (negative: a\n"
     "credit) at the price it was billed at, in the first open month from\n"
     "its billing month on: for rework found after the fact.\n"
     "\n"
     "  --pages N       non-zero page count, e.g. 3 or -2 (required)\n"
     "  --reason TEXT   why (required; on the line and in the event)\n",
     "Pr", "Pr", "ID", cli_billing_adjust, 0},
    {"token", "add", "--role supervisor|billing|admin --name NAME",
     "Adds an access token of the web interface ([http], docs/api.md) and\n"
     "prints it, once: only its SHA-256 is kept. supervisor reads status\n"
     "and jobs; billing also reads billing reports; admin also retries,\n"
     "releases and cancels jobs.\n"
     "\n"
     "  --role R        supervisor, billing or admin (required)\n"
     "  --name NAME     who or what uses it, unique (required); actions\n"
     "                  taken with it are recorded as token:NAME\n",
     "Gn", "Gn", NULL, cli_token_add, 0},
    {"token", "list", "",
     "Lists the tokens (names and roles, never the tokens).\n", "", "", NULL,
     cli_token_list, 0},
    {"status", NULL, "[--check]",
     "Shows the queue (pages queued and running), jobs by state, pages\n"
     "finished per minute over the last 5 and 60 minutes, the service's\n"
     "workers, the failed jobs, the batches rejected most recently and,\n"
     "with --config, the batches waiting in a hot folder for their marker.\n"
     "Works with the service down.\n"
     "\n"
     "  --check         also run the database integrity check and, with\n"
     "                  --config, look for batches in the spool that no\n"
     "                  job names; exit 1 if it finds a problem\n"
     "\n"
     "Exit status: 0 the service is running and no job has failed; 3 a job\n"
     "has failed (retry or cancel it); 4 the service is not running (no\n"
     "coordinator has written its workers in the last 30 s); 1 the catalog\n"
     "cannot be read, or --check found a problem; 2 usage.\n",
     "k", "", NULL, status_cmd, 0},
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static const char common_help[] =
    "\n"
    "common options:\n"
    "  --config FILE   take the catalog path ([pagemill] catalog), billing\n"
    "                  time zone and invoice issuer ([billing]) from FILE\n"
    "  --catalog PATH  the catalog database (overrides --config; default\n"
    "                  " PM_DEFAULT_CATALOG ")\n"
    "  --json          print one JSON document instead of tables\n"
    "  --actor NAME    who to record in events (default cli:$USER)\n"
    "  --help          show this help\n"
    "\n"
    "Exit status: 0 ok; 2 bad command line or bad input (unknown account,\n"
    "work order, job or fee code, a malformed month or price, a job or\n"
    "month in the wrong state); 1 the catalog cannot be opened or fails.\n";

static void cmd_usage(const cmd_t *cmd, FILE *f)
{
    fprintf(f, "usage: pagemill %s%s%s %s%s[options]\n\n%s%s", cmd->group,
            cmd->name ? " " : "", cmd->name ? cmd->name : "", cmd->synopsis,
            cmd->synopsis[0] ? " " : "", cmd->help, common_help);
}

static void group_usage(const char *group, FILE *f)
{
    fprintf(f, "usage:\n");
    for (size_t i = 0; i < NCMDS; i++)
        if (strcmp(cmds[i].group, group) == 0)
            fprintf(f, "  pagemill %s %s %s\n", group, cmds[i].name,
                    cmds[i].synopsis);
    fprintf(f, "\nRun 'pagemill %s <subcommand> --help' for details.\n", group);
}

/* The command `group name` (name NULL for `status`), or NULL. */
static const cmd_t *find_cmd(const char *group, const char *name)
{
    for (size_t i = 0; i < NCMDS; i++) {
        if (strcmp(cmds[i].group, group) != 0)
            continue;
        if (cmds[i].name == NULL ? name == NULL
                                 : name && strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    }
    return NULL;
}

static int has_group(const char *group)
{
    for (size_t i = 0; i < NCMDS; i++)
        if (strcmp(cmds[i].group, group) == 0)
            return 1;
    return 0;
}

/* ---- options ---- */

enum { NCOMMON = 5 }; /* the first entries of all_opts apply everywhere */

static const struct option all_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"catalog", required_argument, NULL, 'D'},
    {"json", no_argument, NULL, 'J'},
    {"actor", required_argument, NULL, 'A'},
    {"help", no_argument, NULL, 'h'},
    {"name", required_argument, NULL, 'n'},
    {"contact", required_argument, NULL, 'C'},
    {"number", required_argument, NULL, 'N'},
    {"account", required_argument, NULL, 'a'},
    {"fee-code", required_argument, NULL, 'f'},
    {"notes", required_argument, NULL, 't'},
    {"state", required_argument, NULL, 's'},
    {"work-order", required_argument, NULL, 'w'},
    {"limit", required_argument, NULL, 'l'},
    {"reason", required_argument, NULL, 'r'},
    {"check", no_argument, NULL, 'k'},
    {"price", required_argument, NULL, 'p'},
    {"min-charge", required_argument, NULL, 'm'},
    {"effective", required_argument, NULL, 'e'},
    {"description", required_argument, NULL, 'd'},
    {"month", required_argument, NULL, 'M'},
    {"from", required_argument, NULL, 'F'},
    {"to", required_argument, NULL, 'T'},
    {"format", required_argument, NULL, 'o'},
    {"out", required_argument, NULL, 'O'},
    {"force", no_argument, NULL, 'x'},
    {"pages", required_argument, NULL, 'P'},
    {"review", no_argument, NULL, 'R'},
    {"role", required_argument, NULL, 'G'},
    {NULL, 0, NULL, 0},
};

#define NOPTS (sizeof(all_opts) / sizeof(all_opts[0]))

static const char *opt_name(int code)
{
    for (size_t i = 0; all_opts[i].name != NULL; i++)
        if (all_opts[i].val == code)
            return all_opts[i].name;
    return "?";
}

/* Prints a usage error with a pointer to --help; returns PM_EXIT_USAGE. */
int cli_usage_error(const cli_t *c, const char *fmt, const char *what)
{
    fprintf(stderr, "%s: ", c->prefix);
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nRun '%s --help' for usage.\n", c->prefix);
    return PM_EXIT_USAGE;
}

/* Options and the positional argument; CLI_DONE after --help. */
static int parse_args(cli_t *c, int argc, char **argv)
{
    static char yes[] = "yes";
    struct option opts[NOPTS];
    size_t n = 0;
    int ch;

    for (size_t i = 0; i + 1 < NOPTS; i++)
        if (i < NCOMMON || strchr(c->cmd->opts, all_opts[i].val) != NULL)
            opts[n++] = all_opts[i];
    memset(&opts[n], 0, sizeof(opts[n]));
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (ch == 'h') {
            cmd_usage(c->cmd, stdout);
            return CLI_DONE;
        }
        if (ch == ':')
            return cli_usage_error(c, "%s needs a value", argv[optind - 1]);
        if (ch == '?')
            return cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
        c->opt[ch] = optarg ? optarg : yes;
    }
    c->json = c->opt['J'] != NULL;
    if (optind < argc)
        c->arg = argv[optind++];
    for (size_t i = 0; c->cmd->arg != NULL && strchr(c->cmd->arg, ' ') &&
                       i < 2 && optind < argc;
         i++)
        c->extra[i] = argv[optind++];
    if (c->cmd->arg != NULL && c->arg == NULL)
        return cli_usage_error(c, "missing %s", c->cmd->arg);
    if (c->cmd->arg != NULL && strchr(c->cmd->arg, ' ') && c->extra[1] == NULL)
        return cli_usage_error(c, "missing %s",
                               c->extra[0] ? strrchr(c->cmd->arg, ' ') + 1
                                           : strchr(c->cmd->arg, ' ') + 1);
    if (c->cmd->arg == NULL && c->arg != NULL)
        return cli_usage_error(c, "unexpected argument '%s'", c->arg);
    if (optind < argc)
        return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
    return PM_EXIT_OK;
}

/* A job ID: a positive decimal number. */
static int parse_id(cli_t *c)
{
    char *end = NULL;
    long long id = 0;

    if (c->arg[0] >= '0' && c->arg[0] <= '9')
        id = strtoll(c->arg, &end, 10);
    if (end == NULL || *end != '\0' || id <= 0 || id == LLONG_MAX) {
        fprintf(stderr, "%s: '%s' is not a job ID (a positive number)\n",
                c->prefix, c->arg);
        return PM_EXIT_USAGE;
    }
    c->id = id;
    return PM_EXIT_OK;
}

/* --state and --limit of `job list`. */
static int parse_filters(cli_t *c)
{
    const char *s = c->opt['s'], *l = c->opt['l'];
    unsigned long long v = 0;
    char *end = NULL;

    c->state = s ? pm_job_state_parse(s) : -1;
    if (s != NULL && c->state < 0) {
        fprintf(stderr,
                "%s: unknown state '%s' (received, queued, running, "
                "assembling, done, held, failed, cancelled)\n",
                c->prefix, s);
        return PM_EXIT_USAGE;
    }
    if (l != NULL && l[0] >= '0' && l[0] <= '9')
        v = strtoull(l, &end, 10);
    if (l != NULL && (end == NULL || *end != '\0' || v > SIZE_MAX)) {
        fprintf(stderr, "%s: --limit wants a number (0: all), got '%s'\n",
                c->prefix, l);
        return PM_EXIT_USAGE;
    }
    c->limit = (size_t)v;
    return PM_EXIT_OK;
}

/* Everything that can be checked before the catalog is opened: required
 * options given, no empty values, a well-formed ID and filters. */
static int check_args(cli_t *c)
{
    for (const char *r = c->cmd->required; *r; r++)
        if (c->opt[(unsigned char)*r] == NULL)
            return cli_usage_error(c, "--%s is required", opt_name(*r));
    for (size_t i = 0; i < sizeof(c->opt) / sizeof(c->opt[0]); i++)
        if (c->opt[i] != NULL && c->opt[i][0] == '\0')
            return cli_usage_error(c, "--%s must not be empty",
                                   opt_name((int)i));
    if (c->arg != NULL && c->arg[0] == '\0')
        return cli_usage_error(c, "%s must not be empty", c->cmd->arg);
    for (size_t i = 0; i < 2; i++)
        if (c->extra[i] != NULL && c->extra[i][0] == '\0')
            return cli_usage_error(c, "%s must not be empty",
                                   i == 0 ? "PAGE" : "FILE");
    if (c->cmd->arg != NULL && (strcmp(c->cmd->arg, "ID") == 0 ||
                                strncmp(c->cmd->arg, "JOB ", 4) == 0))
        return parse_id(c);
    return parse_filters(c);
}

/* The actor and the catalog path: --catalog, else the config's key. */
static int resolve(cli_t *c)
{
    const char *user = getenv("USER");
    pm_config_t *cfg = NULL;
    char *errors = NULL;
    int err = 0;

    c->actor = c->opt['A']       ? pm_strdup(c->opt['A'])
               : user && user[0] ? pm_asprintf("cli:%s", user)
                                 : pm_strdup("cli");
    if (c->opt['c'] != NULL)
        err = pm_config_load(c->opt['c'], &cfg, &errors);
    else
        cfg = pm_config_new();
    if (err) {
        if (errors != NULL)
            fprintf(stderr, "%s", errors);
        else
            fprintf(stderr, "%s: %s: %s\n", c->prefix, c->opt['c'],
                    pm_strerror(err));
        pm_free(errors);
        return PM_EXIT_USAGE;
    }
    if (cfg == NULL)
        return cli_oom(c);
    c->cfg = cfg;
    c->path = pm_strdup(c->opt['D'] ? c->opt['D'] : cfg->catalog);
    return c->actor && c->path ? PM_EXIT_OK : cli_oom(c);
}

/* Opens the catalog. Only `account add` may create the file: a mistyped
 * path must not show an empty catalog as if it were the real one. */
static int open_catalog(cli_t *c)
{
    struct stat st;
    int err;

    if (!c->cmd->creates && !pm_catalog_is_url(c->path) &&
        stat(c->path, &st) != 0) {
        fprintf(stderr, "%s: cannot open catalog %s: %s\n", c->prefix, c->path,
                strerror(errno));
        return PM_EXIT_FAILURE;
    }
    err = pm_catalog_open(c->path, &c->cat);
    if (err) {
        fprintf(stderr, "%s: cannot open catalog %s: %s\n", c->prefix, c->path,
                pm_strerror(err));
        return PM_EXIT_FAILURE;
    }
    return PM_EXIT_OK;
}

/* Months (billing, fee dates) are counted in the catalog's billing time
 * zone; a --config that names another is refused before anything runs. */
static int billing_zone(cli_t *c)
{
    char tz[256];
    int err = pm_billing_use_catalog_timezone(
        c->cat, c->opt['c'] ? c->cfg->billing_timezone : NULL, tz, sizeof(tz));

    if (err == PM_ECONFIG) {
        fprintf(stderr,
                "%s: the catalog's billing time zone %s is not on "
                "this machine (/usr/share/zoneinfo)\n",
                c->prefix, tz);
        return PM_EXIT_FAILURE;
    }
    return err != 0 ? cli_fail(c, err) : PM_EXIT_OK;
}

static int run_cmd(const cmd_t *cmd, int argc, char **argv)
{
    cli_t c;
    int rc;

    memset(&c, 0, sizeof(c));
    c.cmd = cmd;
    snprintf(c.prefix, sizeof(c.prefix), "pagemill %s%s%s", cmd->group,
             cmd->name ? " " : "", cmd->name ? cmd->name : "");
    rc = parse_args(&c, argc, argv);
    if (rc == PM_EXIT_OK)
        rc = check_args(&c);
    if (rc == PM_EXIT_OK)
        rc = resolve(&c);
    if (rc == PM_EXIT_OK)
        rc = open_catalog(&c);
    if (rc == PM_EXIT_OK)
        rc = billing_zone(&c);
    if (rc == PM_EXIT_OK)
        rc = cmd->run(&c);
    if (fflush(stdout) != 0 || ferror(stdout)) { /* a full disk, say */
        fprintf(stderr, "%s: cannot write the output: %s\n", c.prefix,
                strerror(errno));
        rc = PM_EXIT_FAILURE;
    }
    pm_catalog_close(c.cat);
    pm_config_free(c.cfg);
    pm_free(c.actor);
    pm_free(c.path);
    return rc == CLI_DONE ? PM_EXIT_OK : rc;
}

int pm_cli_handles(const char *name)
{
    return name != NULL && has_group(name);
}

int pm_cli_main(int argc, char **argv)
{
    const cmd_t *cmd = find_cmd(argv[0], NULL);
    int help;

    if (cmd != NULL) /* status: no subcommands */
        return run_cmd(cmd, argc, argv);
    if (!has_group(argv[0])) {
        fprintf(stderr, "pagemill: unknown command '%s'\n", argv[0]);
        return PM_EXIT_USAGE;
    }
    if (argc < 2 || argv[1][0] == '-') {
        help = argc >= 2 &&
               (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        if (!help)
            fprintf(stderr, "pagemill %s: missing subcommand\n\n", argv[0]);
        group_usage(argv[0], help ? stdout : stderr);
        return help ? PM_EXIT_OK : PM_EXIT_USAGE;
    }
    cmd = find_cmd(argv[0], argv[1]);
    if (cmd == NULL) {
        fprintf(stderr, "pagemill %s: unknown subcommand '%s'\n\n", argv[0],
                argv[1]);
        group_usage(argv[0], stderr);
        return PM_EXIT_USAGE;
    }
    return run_cmd(cmd, argc - 1, argv + 1);
}
