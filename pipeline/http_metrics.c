/*
 * http_metrics.c: /metrics in the Prometheus text exposition format
 * (version 0.0.4). Counts come from the catalog, read in one transaction
 * on the web interface's own connection, so they equal what `pagemill
 * job list` and the billing reports say; worker restarts and readiness
 * come from the loop's snapshot. Names and labels are in docs/api.md.
 * Label values are fixed words (states, stages, reasons), never input,
 * but for the nodes' names (host names or an agent's --node), which are
 * escaped as the format says.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"
#include "pipeline/http_int.h"

static void family(pm_buf_t *t, const char *name, const char *type,
                   const char *help)
{
    pm_buf_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family with one unlabelled sample. */
static void single(pm_buf_t *t, const char *name, const char *type,
                   const char *help, long long value)
{
    family(t, name, type, help);
    pm_buf_printf(t, "%s %lld\n", name, value);
}

static void pages(pm_buf_t *t, const pm_monitor_t *m)
{
    family(t, "pagemill_pages_total", "counter",
           "Pages finished, by outcome (done, failed).");
    pm_buf_printf(t, "pagemill_pages_total{outcome=\"done\"} %lld\n",
                  (long long)m->pages[PM_TASK_DONE]);
    pm_buf_printf(t, "pagemill_pages_total{outcome=\"failed\"} %lld\n",
                  (long long)m->pages[PM_TASK_FAILED]);
    single(t, "pagemill_blank_pages_total", "counter",
           "Done pages found blank.", (long long)m->blank_pages);
    single(t, "pagemill_low_confidence_pages", "gauge",
           "Done, non-blank pages read with OCR confidence below 50.",
           (long long)m->low_confidence);
    single(t, "pagemill_billable_pages", "gauge",
           "Billable pages of done jobs (cancelling a job removes its).",
           (long long)m->billable_pages);
}

static void queue(pm_buf_t *t, const pm_monitor_t *m, int64_t now)
{
    family(t, "pagemill_queue_pages", "gauge",
           "Pages waiting for a worker (queued) and on one (running).");
    pm_buf_printf(t, "pagemill_queue_pages{state=\"queued\"} %lld\n",
                  (long long)m->pages[PM_TASK_QUEUED]);
    pm_buf_printf(t, "pagemill_queue_pages{state=\"running\"} %lld\n",
                  (long long)m->pages[PM_TASK_RUNNING]);
    single(t, "pagemill_queue_oldest_age_seconds", "gauge",
           "Age of the oldest job with a queued page; 0 when none.",
           m->queue_oldest_at ? (long long)(now - m->queue_oldest_at) : 0LL);
    family(t, "pagemill_jobs", "gauge", "Jobs by state.");
    for (int s = PM_JOB_RECEIVED; s <= PM_JOB_CANCELLED; s++)
        pm_buf_printf(t, "pagemill_jobs{state=\"%s\"} %lld\n",
                      pm_job_state_name((pm_job_state_t)s),
                      (long long)m->jobs[s]);
}

static void stages(pm_buf_t *t, const pm_monitor_t *m)
{
    family(t, "pagemill_stage_duration_seconds", "histogram",
           "Time each stage took on each done page.");
    for (int s = 0; s < PM_STAGES; s++) {
        const pm_stage_hist_t *h = &m->stages[s];

        for (int b = 0; b < PM_STAGE_BUCKETS; b++)
            pm_buf_printf(t,
                          "pagemill_stage_duration_seconds_bucket{stage=\"%s\","
                          "le=\"%g\"} %lld\n",
                          pm_stage_names[s], pm_stage_bucket_ms[b] / 1000.0,
                          (long long)h->le[b]);
        pm_buf_printf(
            t,
            "pagemill_stage_duration_seconds_bucket{stage=\"%s\",le=\"+Inf\"} "
            "%lld\n",
            pm_stage_names[s], (long long)h->count);
        pm_buf_printf(
            t, "pagemill_stage_duration_seconds_sum{stage=\"%s\"} %.6f\n",
            pm_stage_names[s], h->sum_ms / 1000.0);
        pm_buf_printf(
            t, "pagemill_stage_duration_seconds_count{stage=\"%s\"} %lld\n",
            pm_stage_names[s], (long long)h->count);
    }
}

static const char *const reasons[] = {"unknown_work_order",
                                      "closed_work_order",
                                      "account_mismatch",
                                      "unknown_profile",
                                      "page_count",
                                      "unreadable_page",
                                      "catalog",
                                      "other"};
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

static void rejections(pm_buf_t *t, const pm_event_t *v, size_t n)
{
    int64_t count[NREASONS] = {0};

    for (size_t i = 0; i < n; i++) {
        const char *why = pm_rejection_reason(v[i].detail);
        for (size_t k = 0; k < NREASONS; k++)
            if (strcmp(why, reasons[k]) == 0)
                count[k]++;
    }
    family(t, "pagemill_intake_rejections_total", "counter",
           "Batches rejected at intake, by reason.");
    for (size_t k = 0; k < NREASONS; k++)
        pm_buf_printf(t,
                      "pagemill_intake_rejections_total{reason=\"%s\"} %lld\n",
                      reasons[k], (long long)count[k]);
}

static void service(pm_buf_t *t, const pm__http_snap_t *s)
{
    family(t, "pagemill_workers", "gauge",
           "Worker processes (all, ready, busy).");
    pm_buf_printf(t, "pagemill_workers{state=\"all\"} %d\n", s->workers);
    pm_buf_printf(t, "pagemill_workers{state=\"ready\"} %d\n",
                  s->workers_ready);
    pm_buf_printf(t, "pagemill_workers{state=\"busy\"} %d\n", s->workers_busy);
    single(t, "pagemill_worker_restarts_total", "counter",
           "Workers replaced since the service started.",
           (long long)s->worker_restarts);
    single(t, "pagemill_fixity_failures_total", "counter",
           "Published bags the scheduled fixity check ([archive] "
           "verify_every_hours) found invalid since the service started.",
           (long long)s->fixity_failures);
    single(t, "pagemill_draining", "gauge", "1 while the service stops.",
           s->draining);
    single(t, "pagemill_paused_for_space", "gauge",
           "1 while a full volume pauses the service.", s->paused);
}

static void transactions(pm_buf_t *t, const pm__http_snap_t *s)
{
    static const char *const ops[PM__TXN_KINDS] = {"claim", "complete"};

    family(t, "pagemill_catalog_transaction_seconds", "histogram",
           "Catalog write transactions of the coordinator since it started: "
           "claims and page completions.");
    for (int k = 0; k < PM__TXN_KINDS; k++) {
        const pm__txn_hist_t *h = &s->txn[k];

        for (int b = 0; b < PM__TXN_BUCKETS; b++)
            pm_buf_printf(
                t,
                "pagemill_catalog_transaction_seconds_bucket{op=\"%s\","
                "le=\"%g\"} %lld\n",
                ops[k], pm__txn_bucket_ms[b] / 1000.0, (long long)h->le[b]);
        pm_buf_printf(t,
                      "pagemill_catalog_transaction_seconds_bucket{op=\"%s\","
                      "le=\"+Inf\"} %lld\n",
                      ops[k], (long long)h->count);
        pm_buf_printf(t,
                      "pagemill_catalog_transaction_seconds_sum{op=\"%s\"} "
                      "%.6f\n",
                      ops[k], h->sum_ms / 1000.0);
        pm_buf_printf(t,
                      "pagemill_catalog_transaction_seconds_count{op=\"%s\"} "
                      "%lld\n",
                      ops[k], (long long)h->count);
    }
}

/* One node's series: every process of one role on one node (an agent
 * restarted is a new process on the same node), summed. */
typedef struct node_sum {
    const char *node, *role;
    int up, slots, busy;
    long long pages, age; /* age: of the freshest heartbeat; -1 none */
    double load1;         /* of the freshest heartbeat; < 0 unknown */
} node_sum_t;

static node_sum_t node_sum(const pm_node_info_t *v, size_t n, size_t first,
                           int64_t now)
{
    node_sum_t x = {v[first].node, v[first].role, 0, 0, 0, 0, -1, -1};
    int64_t beat = 0;

    for (size_t i = first; i < n; i++) {
        if (strcmp(v[i].node, x.node) != 0 || strcmp(v[i].role, x.role) != 0)
            continue;
        x.up |= v[i].state == PM_NODE_UP;
        x.slots += v[i].slots;
        x.busy += v[i].busy;
        x.pages += v[i].pages_hour;
        if (v[i].heartbeat > beat) {
            beat = v[i].heartbeat;
            x.age = now > beat ? (long long)(now - beat) : 0;
            x.load1 = v[i].load1;
        }
    }
    return x;
}

/* Whether v[i]'s node and role came before i (summed there already). */
static int node_seen(const pm_node_info_t *v, size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (strcmp(v[k].node, v[i].node) == 0 &&
            strcmp(v[k].role, v[i].role) == 0)
            return 1;
    return 0;
}

/* A sample labelled with a node: {node="...",role="..."}, the name
 * escaped (backslash, double quote, line feed). */
static void node_sample(pm_buf_t *t, const char *name, const node_sum_t *x)
{
    pm_buf_printf(t, "%s{node=\"", name);
    for (const char *p = x->node; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"')
            pm_buf_printf(t, "\\%c", *p);
        else if (*p == '\n')
            pm_buf_puts(t, "\\n");
        else
            pm_buf_add(t, p, 1);
    }
    pm_buf_printf(t, "\",role=\"%s\"} ", x->role);
}

/* Per node (pm_node_list): up, slots, busy workers, pages in the last
 * hour, heartbeat age and load average (the last two when known). */
static void nodes(pm_buf_t *t, const pm_node_info_t *v, size_t n, int64_t now)
{
    static const struct {
        const char *name, *help;
    } fam[] = {
        {"pagemill_node_up", "1 while the node reports (its last heartbeat "
                             "is under 30 s old)."},
        {"pagemill_node_slots", "Worker slots of the node."},
        {"pagemill_node_busy", "The node's workers busy on a page or job."},
        {"pagemill_node_pages_last_hour",
         "Pages the node completed in the last hour."},
        {"pagemill_node_heartbeat_age_seconds",
         "Seconds since the node last wrote its workers."},
        {"pagemill_node_load1", "The node's 1-minute load average."},
    };

    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        family(t, fam[f].name, "gauge", fam[f].help);
        for (size_t i = 0; i < n; i++) {
            node_sum_t x;

            if (node_seen(v, i))
                continue;
            x = node_sum(v, n, i, now);
            if ((f == 4 && x.age < 0) || (f == 5 && x.load1 < 0))
                continue;
            node_sample(t, fam[f].name, &x);
            if (f == 5)
                pm_buf_printf(t, "%.2f\n", x.load1);
            else
                pm_buf_printf(t, "%lld\n",
                              f == 0   ? (long long)x.up
                              : f == 1 ? (long long)x.slots
                              : f == 2 ? (long long)x.busy
                              : f == 3 ? x.pages
                                       : x.age);
        }
    }
}

void pm__http_metrics(pm__http_req_t *q, pm__http_resp_t *r)
{
    pm_catalog_t *cat = pm__http_rd_lock(q->h);
    int64_t now = (int64_t)time(NULL);
    pm_event_t *ev = NULL;
    pm_node_info_t *nv = NULL;
    size_t nev = 0, nn = 0;
    pm__http_snap_t snap;
    pm_monitor_t m;
    pm_buf_t t = {0};
    long long reads;
    int err;

    err = pm_monitor_read(cat, &m);
    if (err == 0)
        err = pm_monitor_rejections(cat, 0, &ev, &nev);
    if (err == 0)
        err = pm_node_list(cat, now, &nv, &nn);
    reads = q->h->reads;
    pm__http_rd_unlock(q->h);
    if (err != 0) {
        pm_event_list_free(ev, nev);
        pm__http_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "the catalog cannot be read");
        return;
    }
    pm__http_snap(q->h, &snap);
    pages(&t, &m);
    queue(&t, &m, now);
    stages(&t, &m);
    rejections(&t, ev, nev);
    service(&t, &snap);
    transactions(&t, &snap);
    nodes(&t, nv, nn, now);
    single(&t, "pagemill_http_catalog_reads_total", "counter",
           "Reads of the catalog by the web interface since the service "
           "started (its own connection; this scrape's included).",
           reads);
    pm_event_list_free(ev, nev);
    pm_node_list_free(nv, nn);
    if (pm_buf_take(&t, &r->body, &r->len) != 0) {
        pm__http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    r->status = MHD_HTTP_OK;
    r->type = "text/plain; version=0.0.4; charset=utf-8";
}
