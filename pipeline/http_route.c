/*
 * http_route.c: the table of the web interface's routes (docs/api.md),
 * who may use each (no token for the probes and the dashboard's pages;
 * a supervisor's, billing's or admin's token for the API), and the
 * dispatch of a request to its handler (http_api.c reads, http_actions.c
 * changes, http_dash.c pages, http_metrics.c /metrics).
 */
#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/base/pm.h"
#include "pipeline/http_int.h"

typedef void (*route_fn)(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);

/* ---- routing ---- */

typedef struct route {
    const char *method;
    const char *path;   /* whole path, or the part before the job id */
    const char *suffix; /* after the id ("" for none); NULL: no id */
    pm_role_t need;     /* 0: anyone, no token */
    route_fn fn;        /* an API route, or NULL: */
    void (*page)(pm__http_req_t *q, pm__http_resp_t *r); /* a page's */
} route_t;

#define JOBS_PREFIX "/api/v1/jobs/"

static const route_t routes[] = {
    {"GET", "/", NULL, 0, NULL, pm__http_dashboard},
    {"GET", "/static/chart.min.js", NULL, 0, NULL, pm__http_chartjs},
    {"GET", "/jobs/", "", 0, NULL, pm__http_job_page},
    {"GET", "/healthz", NULL, 0, pm__http_healthz, NULL},
    {"GET", "/readyz", NULL, 0, pm__http_readyz, NULL},
    {"GET", "/metrics", NULL, PM_ROLE_SUPERVISOR, NULL, pm__http_metrics},
    {"GET", "/api/v1/status", NULL, PM_ROLE_SUPERVISOR, pm__http_status, NULL},
    {"GET", "/api/v1/jobs", NULL, PM_ROLE_SUPERVISOR, pm__http_jobs, NULL},
    {"GET", "/api/v1/throughput", NULL, PM_ROLE_SUPERVISOR, pm__http_throughput,
     NULL},
    {"GET", JOBS_PREFIX, "", PM_ROLE_SUPERVISOR, pm__http_job, NULL},
    {"POST", JOBS_PREFIX, "/retry", PM_ROLE_ADMIN, pm__http_retry, NULL},
    {"POST", JOBS_PREFIX, "/cancel", PM_ROLE_ADMIN, pm__http_cancel, NULL},
    {"POST", JOBS_PREFIX, "/release", PM_ROLE_ADMIN, pm__http_release, NULL},
    {"GET", "/api/v1/breakdown", NULL, PM_ROLE_SUPERVISOR, pm__http_breakdown,
     NULL},
    {"POST", "/api/v1/workorders", NULL, PM_ROLE_ADMIN, pm__http_workorder_add,
     NULL},
    {"GET", "/api/v1/billing/report", NULL, PM_ROLE_BILLING,
     pm__http_billing_report, NULL},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Does route `rt` have this path? For id routes, *id_text is the id's
 * text (not yet checked). */
static int path_matches(const route_t *rt, const char *path, char *id_text,
                        size_t size)
{
    size_t n, seg;

    if (rt->suffix == NULL)
        return strcmp(path, rt->path) == 0;
    n = strlen(rt->path);
    if (strncmp(path, rt->path, n) != 0)
        return 0;
    seg = strcspn(path + n, "/");
    if (seg == 0 || strcmp(path + n + seg, rt->suffix) != 0)
        return 0;
    snprintf(id_text, size, "%.*s", (int)(seg < size ? seg : size - 1),
             path + n);
    return 1;
}

/* The route for the request, or NULL; *wrong_method when the path is
 * known but not with this method. */
static const route_t *find_route(const pm__http_req_t *q, char *id_text,
                                 size_t size, int *wrong_method)
{
    const char *method = strcmp(q->method, "HEAD") == 0 ? "GET" : q->method;

    *wrong_method = 0;
    for (size_t i = 0; i < NROUTES; i++) {
        if (!path_matches(&routes[i], q->path, id_text, size))
            continue;
        if (strcmp(routes[i].method, method) == 0)
            return &routes[i];
        *wrong_method = 1;
    }
    return NULL;
}

/* 0 when the request may use a route needing `need`; else the response
 * is set (401 without a valid token, 403 with too small a role). */
static int authorize(const pm__http_req_t *q, pm__http_resp_t *r,
                     pm_role_t need)
{
    if (need == 0)
        return 0;
    if (q->anonymous && need != PM_ROLE_ADMIN)
        return 0; /* loopback and no token anywhere: reads are open */
    if (q->role == 0) {
        pm__http_error(r, MHD_HTTP_UNAUTHORIZED,
                       q->anonymous ? "actions need an admin token"
                                    : "a valid token is required");
        return -1;
    }
    if (q->role < need) {
        pm__http_error(r, MHD_HTTP_FORBIDDEN, "forbidden");
        return -1;
    }
    return 0;
}

void pm__http_route(pm__http_req_t *q, pm__http_resp_t *r)
{
    char id_text[32] = "";
    int wrong_method;
    const route_t *rt = find_route(q, id_text, sizeof(id_text), &wrong_method);
    long long id = 0;

    /* Only the probes answer without a token: an unknown path says no
     * more than a known one does. */
    if (authorize(q, r, rt ? rt->need : PM_ROLE_SUPERVISOR) != 0)
        return;
    if (rt == NULL) {
        if (wrong_method)
            pm__http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED,
                           "method %s not allowed here", q->method);
        else
            pm__http_error(r, MHD_HTTP_NOT_FOUND, "no such resource");
        return;
    }
    if (rt->suffix != NULL &&
        pm__http_parse_num(id_text, 1, INT64_MAX / 2, &id) != 0) {
        pm__http_error(r, MHD_HTTP_BAD_REQUEST,
                       "a job id is a positive whole number");
        return;
    }
    if (rt->page != NULL)
        rt->page(q, r);
    else
        rt->fn(q, r, (int64_t)id);
}
