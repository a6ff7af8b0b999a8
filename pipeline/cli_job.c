/*
 * cli_job.c: `pagemill job` list, show, retry, release and cancel: the
 * operator's view of jobs, their pages and events, and the operator's
 * actions on them (the catalog decides what is allowed and says why
 * not). The command table is cli.c's; the review list and page
 * replacement are cli_review.c's.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "pipeline/base/pm.h"
#include "pipeline/cli_int.h"

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

int cli_job_list(cli_t *c)
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
    cli_kv_opt("hot folder", j->hotfolder);
    cli_kv_opt("operator", j->operator_name);
    cli_kv_opt("notes", j->notes);
    cli_kv_opt("source", j->source_path);
    cli_kv_opt("output", j->output_path);
    cli_kv_opt("hold reason", j->hold_reason);
    cli_kv_opt("error", j->error);
    snprintf(buf, sizeof(buf), "%d (%d done, %d failed, %d blank)", j->pages,
             j->pages_done, j->pages_failed, j->pages_blank);
    cli_kv("pages", buf);
    if (j->duplicate_of != 0)
        cli_kv("duplicate of", cli_fmt_int(buf, j->duplicate_of));
    cli_kv("created", cli_fmt_time(t1, j->created_at));
    cli_kv("updated", cli_fmt_time(t2, j->updated_at));
    cli_kv_opt("finished", cli_fmt_time(t3, j->finished_at));
    cli_kv_opt("billed in", j->billing_month[0] ? j->billing_month : NULL);
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
        cli_table_print(&pages);
        printf("\nevents:\n");
        cli_table_print(&events);
    }
    cli_table_cleanup(&pages);
    cli_table_cleanup(&events);
    return oom ? cli_oom(c) : PM_EXIT_OK;
}

int cli_job_show(cli_t *c)
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

int cli_job_retry(cli_t *c)
{
    return job_acted(c, pm_job_retry(c->cat, c->id, c->actor), "retried");
}

int cli_job_release(cli_t *c)
{
    return job_acted(c, pm_job_release(c->cat, c->id, c->actor), "released");
}

int cli_job_cancel(cli_t *c)
{
    return job_acted(c, pm_job_cancel(c->cat, c->id, c->actor, c->opt['r']),
                     "cancelled");
}
