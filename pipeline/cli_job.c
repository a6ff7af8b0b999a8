/*
 * cli_job.c: `pagemill job` list, show, retry, release and cancel: the
 * operator's view of jobs, their pages and events, and the operator's
 * actions on them (the catalog decides what is allowed and says why
 * not). The command table is cli.c's; the review list and page
 * replacement are cli_review.c's.
 *
 * Paths are shown as this machine reaches them: a path the catalog
 * records on a volume ("NAME:rel", config/volume.h) resolved under the
 * folder --config gives that volume; where that names no such volume, as
 * recorded, marked (text) or beside the recorded form (JSON).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "config/volume.h"
#include "pipeline/base/pm.h"
#include "pipeline/cli_int.h"

/* ---- jobs ---- */

static json_t *job_json(const void *p)
{
    const pm_job_t *j = p;

    return json_pack("{s:I, s:s, s:o, s:o, s:o, s:i, s:i, s:i, s:o}", "id",
                     (json_int_t)j->id, "state", pm_job_state_name(j->state),
                     "workorder", pm_json_str(j->workorder), "account",
                     pm_json_str(j->account), "batch", pm_json_str(j->batch),
                     "pages", j->pages, "done", j->pages_done, "failed",
                     j->pages_failed, "created", pm_json_time(j->created_at));
}

/* A path of the catalog as shown here (job_view_t). */
typedef struct shown {
    char *path; /* local, or as recorded when !local; NULL: none */
    int local;
} shown_t;

/* Every field of a job, for `job show`: the list fields first. The paths
 * as this machine reaches them, and as recorded (`*_stored`). */
static json_t *job_full_json(const pm_job_t *j, const shown_t *source,
                             const shown_t *output)
{
    json_t *doc = job_json(j);
    json_t *more = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o, "
        "s:o, s:o, s:b}",
        "profile", pm_json_str(j->profile), "hotfolder",
        pm_json_str(j->hotfolder), "operator", pm_json_str(j->operator_name),
        "notes", pm_json_str(j->notes), "source_path",
        pm_json_str(source->path), "source_stored", pm_json_str(j->source_path),
        "output_path", pm_json_str(output->path), "output_stored",
        pm_json_str(j->output_path), "hold_reason", pm_json_str(j->hold_reason),
        "error", pm_json_str(j->error), "blank", j->pages_blank, "duplicate_of",
        j->duplicate_of ? json_integer(j->duplicate_of) : json_null(),
        "updated", pm_json_time(j->updated_at), "finished",
        pm_json_time(j->finished_at), "billing_month",
        pm_json_str(j->billing_month[0] ? j->billing_month : NULL),
        "bill_blank", j->bill_blank);

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

/* What `job show` reads: the job, its pages and its events, and their
 * paths as shown here. */
typedef struct job_view {
    pm_job_t job;
    pm_task_t *tasks;
    size_t ntasks;
    pm_event_t *events;
    size_t nevents;
    shown_t source, output;
    shown_t *src; /* one per task */
} job_view_t;

/* Fills v->source, v->output and v->src: 0 or PM_ENOMEM. */
static int view_paths(const pm_config_t *cfg, job_view_t *v)
{
    int oom = 0;

    v->source.path = pm_volume_shown(cfg, v->job.source_path, &v->source.local);
    v->output.path = pm_volume_shown(cfg, v->job.output_path, &v->output.local);
    oom = (v->job.source_path && !v->source.path) ||
          (v->job.output_path && !v->output.path);
    if (v->ntasks > 0 &&
        (v->src = pm_calloc(v->ntasks, sizeof(*v->src))) == NULL)
        return PM_ENOMEM;
    for (size_t i = 0; !oom && i < v->ntasks; i++) {
        v->src[i].path =
            pm_volume_shown(cfg, v->tasks[i].src, &v->src[i].local);
        oom = v->tasks[i].src && !v->src[i].path;
    }
    return oom ? PM_ENOMEM : 0;
}

static void view_cleanup(job_view_t *v)
{
    for (size_t i = 0; v->src != NULL && i < v->ntasks; i++)
        pm_free(v->src[i].path);
    pm_free(v->src);
    pm_free(v->source.path);
    pm_free(v->output.path);
    pm_event_list_free(v->events, v->nevents);
    pm_task_list_free(v->tasks, v->ntasks);
    pm_job_cleanup(&v->job);
}

static json_t *task_json(const pm_task_t *t, const shown_t *src)
{
    int done = t->state == PM_TASK_DONE;

    return json_pack(
        "{s:i, s:o, s:o, s:i, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
        "page", t->page, "src", pm_json_str(src->path), "src_stored",
        pm_json_str(t->src), "frame", t->frame, "state",
        pm_task_state_name(t->state), "attempts", t->attempts, "blank",
        done ? json_boolean(t->m.blank) : json_null(), "words",
        done ? json_integer(t->m.words) : json_null(), "confidence",
        done ? json_real(t->m.confidence) : json_null(), "review",
        pm_json_str(t->review), "orient_method", pm_json_str(t->orient_method),
        "orient_evidence",
        t->orient_evidence ? json_loads(t->orient_evidence, 0, NULL)
                           : json_null(),
        "error", pm_json_str(t->error));
}

static json_t *event_json(const void *p)
{
    const pm_event_t *e = p;

    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "at", pm_json_time(e->at),
                     "actor", pm_json_str(e->actor), "kind",
                     pm_json_str(e->kind), "page",
                     e->page ? json_integer(e->page) : json_null(), "detail",
                     pm_json_str(e->detail));
}

static json_t *tasks_json(const job_view_t *v)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < v->ntasks; i++)
        if (json_array_append_new(arr, task_json(&v->tasks[i], &v->src[i])) !=
            0) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

static int job_show_json(const cli_t *c, const job_view_t *v)
{
    json_t *doc = job_full_json(&v->job, &v->source, &v->output);

    if (json_object_set_new(doc, "page_tasks", tasks_json(v)) != 0 ||
        json_object_set_new(doc, "events",
                            cli_jlist(v->events, v->nevents, sizeof(*v->events),
                                      event_json)) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    return cli_emit_json(c, doc);
}

/* A page's file as shown: relative to the job's folder when inside it
 * (both as this machine reaches them, or both as recorded). */
static const char *task_src(const shown_t *src, const shown_t *dir)
{
    size_t n = dir->path ? strlen(dir->path) : 0;

    if (n > 0 && src->path && src->local == dir->local &&
        strncmp(src->path, dir->path, n) == 0 && src->path[n] == '/')
        return src->path + n + 1;
    return src->path;
}

/* A path as recorded, where its volume does not resolve here: marked. */
static char *unresolved(const char *stored)
{
    char name[PM_VOLUME_NAME_MAX];

    return pm_asprintf("%s (as recorded: volume %s is not configured on "
                       "this machine)",
                       stored, pm_volume_name_of(stored, name, sizeof(name)));
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
        const char *src = task_src(&v->src[i], &v->source);
        int marked = !v->src[i].local && src == v->src[i].path;
        char *mark = marked ? unresolved(src) : NULL;
        snprintf(conf, sizeof(conf), "%.1f", k->m.confidence);
        const char *row[] = {cli_fmt_int(page, k->page),
                             mark ? mark : src,
                             cli_fmt_int(frame, k->frame + 1),
                             pm_task_state_name(k->state),
                             cli_fmt_int(attempts, k->attempts),
                             done ? (k->m.blank ? "yes" : "no") : NULL,
                             done ? cli_fmt_int(words, k->m.words) : NULL,
                             done ? conf : NULL,
                             k->review,
                             k->error};
        if (marked && mark == NULL)
            t->oom = 1;
        cli_table_row(t, row);
        pm_free(mark);
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

/* "label: path" for a path of the job: marked when not resolved here. */
static int path_field(const char *label, const shown_t *p)
{
    char *mark;

    if (p->path == NULL || p->local) {
        cli_kv_opt(label, p->path);
        return 0;
    }
    if ((mark = unresolved(p->path)) == NULL)
        return PM_ENOMEM;
    cli_kv(label, mark);
    pm_free(mark);
    return 0;
}

/* The job's fields, "label: value"; PM_ENOMEM when a path could not be
 * marked. */
static int job_fields(const job_view_t *v)
{
    const pm_job_t *j = &v->job;
    char buf[96], t1[32], t2[32], t3[32];
    int err;

    cli_kv("job", cli_fmt_int(buf, j->id));
    cli_kv("state", pm_job_state_name(j->state));
    cli_kv("work order", j->workorder);
    cli_kv("account", j->account);
    cli_kv("batch", j->batch);
    cli_kv("profile", j->profile);
    cli_kv_opt("hot folder", j->hotfolder);
    cli_kv_opt("operator", j->operator_name);
    cli_kv_opt("notes", j->notes);
    err = path_field("source", &v->source);
    if (err == 0)
        err = path_field("output", &v->output);
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
    return err;
}

static int job_show_text(const cli_t *c, const job_view_t *v)
{
    table_t pages, events;
    int oom;

    task_table(&pages, v);
    event_table(&events, v);
    oom = pages.oom || events.oom;
    if (!oom && job_fields(v) != 0)
        oom = 1;
    if (!oom) {
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
    else if (view_paths(c->cfg, &v) != 0)
        rc = cli_oom(c);
    else
        rc = c->json ? job_show_json(c, &v) : job_show_text(c, &v);
    view_cleanup(&v);
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
