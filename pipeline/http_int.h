/*
 * http_int.h: the web interface of `pagemill serve` ([http] in the
 * configuration; docs/api.md), shared by its files and by nothing else:
 *
 *   http.c          the server (libmicrohttpd, threads of its own), access
 *                   tokens and roles, the snapshot of the loop's state, and
 *                   actions handed to the loop
 *   http_api.c      the routes: /healthz, /readyz, /api/v1/...
 *   http_metrics.c  /metrics in the Prometheus text format
 *   http_dash.c     the dashboard page `/` and its local Chart.js
 *
 * Threads: libmicrohttpd runs each connection on a thread of its own.
 * Those threads never touch the coordinator's catalog handle or its loop:
 * they read through a read-only connection of their own (query_only, WAL,
 * so readers never block the coordinator's writes), one request at a
 * time under `rd_lock`, and hand actions (retry, cancel, release) to the
 * loop through a uv_async_t, waiting for the loop to answer.
 */
#ifndef PM_PIPELINE_HTTP_INT_H
#define PM_PIPELINE_HTTP_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "catalog/catalog.h"
#include "catalog/monitor.h"
#include "config/config.h"
#include "pipeline/serve_int.h"

typedef struct pm__serve pm__serve_t;

/* Largest request body accepted (a JSON action). */
#define PM__HTTP_BODY_MAX 16384

/* Seconds a request waits for the loop to carry out an action. */
#define PM__HTTP_ACT_WAIT_S 30

/* Milliseconds /api/v1/status's answer and the token list are kept
 * before the catalog is read again: one read per period, however many
 * requests (a page finished shows within it). */
#define PM__HTTP_CACHE_MS 1000

/* What the loop last told the web interface (copied under `snap_lock`). */
typedef struct pm__http_snap {
    int started;         /* the loop has ticked at least once */
    int draining;        /* stopping: no new work */
    int paused;          /* a full volume: no claims */
    int catalog_failing; /* the last write of the workers table failed */
    int workers, workers_ready, workers_busy;
    int64_t worker_restarts; /* workers replaced since the start */
    int64_t fixity_failures; /* invalid bags [archive]'s checks found */
    pm__txn_hist_t txn[PM__TXN_KINDS]; /* catalog write latency */
} pm__http_snap_t;

typedef enum {
    PM__ACT_RETRY = 1,
    PM__ACT_CANCEL,
    PM__ACT_RELEASE,
    PM__ACT_WORKORDER_ADD,
} pm__http_act_kind_t;

/* One action on its way to the loop and back. */
typedef struct pm__http_act {
    pm__http_act_kind_t kind;
    int64_t job; /* the job; for a work order added, its new id */
    char actor[96];
    char reason[512]; /* cancel's reason; a work order's notes */
    char number[PM_IDENT_MAX + 1], account[PM_CODE_MAX + 1],
        fee_code[PM_CODE_MAX + 1]; /* a work order to add */
    int taken; /* the loop has it: it is done before the loop does more */
    int done, err;
    char msg[512];
    struct pm__http_act *next;
} pm__http_act_t;

/* A token from the file ([http] token_file). */
typedef struct pm__file_token {
    pm_role_t role;
    char name[PM_TOKEN_NAME_MAX + 1];
    unsigned char sha256[32];
} pm__file_token_t;

typedef struct pm__http {
    pm__serve_t *s;
    struct MHD_Daemon *daemon;
    char *output; /* for /readyz's free space */
    char *catalog_path;
    int64_t min_free_bytes;

    pthread_mutex_t rd_lock; /* the read connection, one request at a time */
    pm_catalog_t *rd;
    long long reads; /* times rd was taken (under rd_lock), for /metrics */

    /* /api/v1/status's last answer, built by the first request after it
     * is PM__HTTP_CACHE_MS old (the others wait for it under the lock). */
    pthread_mutex_t status_lock;
    char *status_body;
    size_t status_len;
    uint64_t status_ms; /* monotonic, when its read began */

    /* The catalog's tokens (name, role, hash), read again once they are
     * PM__HTTP_CACHE_MS old. */
    pthread_mutex_t tok_lock;
    pm__file_token_t *tokens;
    size_t ntokens;
    uint64_t tokens_ms; /* monotonic, when read; 0: not yet */

    pthread_mutex_t snap_lock;
    pm__http_snap_t snap;

    pthread_mutex_t act_lock; /* the queue, `closing`, results */
    pthread_cond_t act_cond;
    pm__http_act_t *act_head, *act_tail;
    int closing;
    uv_async_t async;

    pm__file_token_t *ftokens;
    size_t nftokens;

    /* The hot folders and volumes at start (a reload does not change this
     * copy), for the batches waiting for their marker and the paths the
     * job views show. */
    pm_config_t *hf_cfg;
} pm__http_t;

/* A request as the routes see it. */
typedef struct pm__http_req {
    pm__http_t *h;
    struct MHD_Connection *conn;
    const char *method, *path;
    const char *body; /* NUL-terminated, may be "" */
    size_t body_len;
    pm_role_t role; /* granted (0: no token) */
    int anonymous;  /* no tokens exist: reads are open on loopback */
    char actor[96]; /* "token:NAME" */
} pm__http_req_t;

/* A response: status, content type and a body the response owns. */
typedef struct pm__http_resp {
    unsigned status;
    const char *type;
    char *body;
    size_t len;
} pm__http_resp_t;

/* ---- http.c ---- */

/* Sets `r` to `doc` (taken) as JSON. */
void pm__http_json(pm__http_resp_t *r, unsigned status, json_t *doc);
/* Sets `r` to {"error": msg} with `status`. */
void pm__http_error(pm__http_resp_t *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A query-string argument, or NULL. */
const char *pm__http_arg(const pm__http_req_t *q, const char *name);
/* Hands an action to the loop and waits for its result: 0 or a PM code
 * with the reason in msg. */
int pm__http_act(pm__http_t *h, pm__http_act_t *a);
/* The read connection, for one request at a time: lock, read, unlock
 * (never held while waiting for the loop). */
pm_catalog_t *pm__http_rd_lock(pm__http_t *h);
void pm__http_rd_unlock(pm__http_t *h);
/* Free bytes for unprivileged users on the volume of `path`, or -1. */
int64_t pm__http_free_bytes(const char *path);
/* A monotonic clock in milliseconds, never 0. */
uint64_t pm__http_now_ms(void);
/* Copies the loop's snapshot. */
void pm__http_snap(pm__http_t *h, pm__http_snap_t *out);

/* ---- http_route.c ---- */

/* Answers one request (the role was checked against its route there). */
void pm__http_route(pm__http_req_t *q, pm__http_resp_t *r);

/* ---- http_api.c: the routes that read (`id`: the path's job id) ---- */

void pm__http_healthz(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);
void pm__http_readyz(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);
void pm__http_status(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);
void pm__http_jobs(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);
void pm__http_job(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);
void pm__http_breakdown(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);
void pm__http_throughput(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);
void pm__http_billing_report(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);
/* A whole number lo..hi in `s`: 0 and *out, or -1. */
int pm__http_parse_num(const char *s, long long lo, long long hi,
                       long long *out);

/* ---- http_actions.c: the routes that change something ---- */

void pm__http_retry(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);
void pm__http_cancel(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);
void pm__http_release(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);
void pm__http_workorder_add(pm__http_req_t *q, pm__http_resp_t *r, int64_t id);

/* ---- http_dash.c ---- */

/* Debian libjs-chart.js's build, served as /static/chart.min.js. */
#define PM__CHARTJS_PATH "/usr/share/javascript/chart.js/chart.min.js"

/* `/`: the page (no data in it: its script reads the API). */
void pm__http_dashboard(pm__http_req_t *q, pm__http_resp_t *r);
/* `/jobs/N`: a job's pages (failed and low-confidence ones marked). */
void pm__http_job_page(pm__http_req_t *q, pm__http_resp_t *r);
/* `/static/chart.min.js`. */
void pm__http_chartjs(pm__http_req_t *q, pm__http_resp_t *r);

/* ---- http_metrics.c ---- */

/* /metrics: the text exposition format, version 0.0.4. */
void pm__http_metrics(pm__http_req_t *q, pm__http_resp_t *r);

#endif /* PM_PIPELINE_HTTP_INT_H */
