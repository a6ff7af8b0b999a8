/*
 * cli_status.c: `pagemill status`: job and page counts, the recent rate,
 * the workers, the nodes (each coordinator and agent: slots, busy, pages
 * in the last hour, heartbeat, load), failed jobs, pages flagged for
 * review and --check's report; and what it shows beyond the queue:
 * batches waiting in a hot folder for their marker (found by looking at
 * the configured hot folders, so only with --config), and the batches
 * intake rejected most recently (the catalog's batch.rejected events).
 * All are read with the service up or down. The command table is cli.c's.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog/catalog.h"
#include "catalog/monitor.h"
#include "config/volume.h"
#include "pipeline/base/pm.h"
#include "pipeline/cli_int.h"
#include "pipeline/waiting.h"

static json_t *waiting_json(const void *p)
{
    const pm_waiting_t *w = p;

    return json_pack("{s:o, s:o, s:o}", "hotfolder", pm_json_str(w->hotfolder),
                     "batch", pm_json_str(w->name), "since",
                     pm_json_time(w->since));
}

static json_t *rejected_json(const void *p)
{
    const pm_event_t *e = p;

    return json_pack("{s:o, s:s, s:o}", "at", pm_json_time(e->at), "reason",
                     pm_rejection_reason(e->detail), "detail",
                     pm_json_str(e->detail));
}

int cli_status_json_extra(json_t *doc, const cli_status_extra_t *x)
{
    return json_object_set_new(doc, "service_running",
                               json_boolean(x->running)) ||
           json_object_set_new(doc, "waiting_batches",
                               cli_jlist(x->waiting, x->nwaiting,
                                         sizeof(*x->waiting), waiting_json)) ||
           json_object_set_new(doc, "rejected_batches",
                               cli_jlist(x->rejected, x->nrejected,
                                         sizeof(*x->rejected), rejected_json));
}

void cli_status_print_extra(const cli_status_extra_t *x, int64_t now)
{
    char when[32];

    printf("\nwaiting for their marker:\n");
    if (x->nwaiting == 0)
        printf("none\n");
    for (size_t i = 0; i < x->nwaiting; i++) {
        const pm_waiting_t *w = &x->waiting[i];
        long long mins = now > w->since ? (now - w->since) / 60 : 0;

        printf("  %s/%s: for %lld min (since %s)\n", w->hotfolder, w->name,
               mins, cli_fmt_time(when, w->since));
    }
    printf("\nrejected batches (newest first):\n");
    if (x->nrejected == 0)
        printf("none\n");
    for (size_t i = 0; i < x->nrejected; i++) {
        const pm_event_t *e = &x->rejected[i];
        const char *d = e->detail ? e->detail : "?";

        printf("  %s  %.*s\n", cli_fmt_time(when, e->at), (int)strcspn(d, "\n"),
               d);
    }
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
    pm_node_info_t *nodes; /* stale and gone ones too, marked */
    size_t nnodes;
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

    return json_pack("{s:o, s:i, s:i, s:s, s:o, s:o, s:I, s:I}", "owner",
                     pm_json_str(w->owner), "slot", w->slot, "pid", w->pid,
                     "state", pm_worker_state_name(w->state), "job",
                     w->job ? json_integer(w->job) : json_null(), "page",
                     w->page ? json_integer(w->page) : json_null(),
                     "started_at", (json_int_t)w->started_at, "updated_at",
                     (json_int_t)w->updated_at);
}

/* The nodes table: one row per coordinator or agent. */
static int print_nodes(const cli_t *c, const status_view_t *v)
{
    static const char *const heads[] = {"NODE",    "ROLE",  "PID",
                                        "STATE",   "SLOTS", "BUSY",
                                        "PAGES/H", "LOAD",  "HEARTBEAT"};
    char pid[24], slots[24], busy[24], pages[24], load[24], beat[40];
    table_t t;

    cli_table_init(&t, heads, 9, "llrlrrrrl");
    for (size_t i = 0; i < v->nnodes; i++) {
        const pm_node_info_t *n = &v->nodes[i];
        const char *row[] = {n->node,
                             n->role,
                             n->pid > 0 ? cli_fmt_int(pid, n->pid) : NULL,
                             pm_node_state_name(n->state),
                             cli_fmt_int(slots, n->slots),
                             cli_fmt_int(busy, n->busy),
                             cli_fmt_int(pages, n->pages_hour),
                             n->load1 >= 0 ? load : NULL,
                             n->heartbeat > 0 ? beat : NULL};

        snprintf(load, sizeof(load), "%.2f", n->load1);
        snprintf(
            beat, sizeof(beat), "%lld s ago",
            (long long)(v->now > n->heartbeat ? v->now - n->heartbeat : 0));
        cli_table_row(&t, row);
    }
    printf("\nnodes:\n");
    return cli_table_emit(c, &t, "none");
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
                     pm_json_str(j->workorder), "error", cli_jline(j->error));
}

static json_t *orphan_json(const void *p)
{
    return pm_json_str(*(char *const *)p);
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

    json_t *nodes = json_array();

    for (size_t i = 0; nodes != NULL && i < v->nnodes; i++)
        if (json_array_append_new(nodes, pm_json_node(&v->nodes[i], v->now))) {
            json_decref(nodes);
            nodes = NULL;
        }
    if (doc != NULL && json_object_set_new(doc, "nodes", nodes) != 0) {
        json_decref(doc);
        return NULL;
    }
    if (doc == NULL)
        json_decref(nodes);

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
                      pm_json_str(v->report), "orphans",
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
    char *path, *stored, **grown;
    int64_t job;
    int err = 0;

    if (d == NULL)
        return 0; /* no spool yet: nothing taken */
    while (err == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "job-", 4) == 0)
            continue;
        path = pm_asprintf("%s/%s", c->cfg->spool, e->d_name);
        stored = pm_volume_stored(c->cfg, path);
        err = stored ? pm_job_by_source(c->cat, stored, &job) : PM_ENOMEM;
        pm_free(stored);
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
        cli_table_cleanup(&t);
        return cli_oom(c);
    }
    status_fields(v);
    if (print_nodes(c, v) != PM_EXIT_OK) {
        cli_table_cleanup(&t);
        return PM_EXIT_FAILURE;
    }
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

int cli_status(cli_t *c)
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
        err = pm_node_list(c->cat, v.now, &v.nodes, &v.nnodes);
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
    pm_node_list_free(v.nodes, v.nnodes);
    pm_free(v.report);
    return rc;
}
