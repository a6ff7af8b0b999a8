/*
 * http.c: the web interface's server (http_int.h). libmicrohttpd parses
 * HTTP and runs each connection on a thread of its own; this file binds
 * it where [http] listen says, checks each request's token and role,
 * keeps the snapshot of the loop's state that /readyz and /metrics show,
 * and carries actions to the loop (uv_async_t) and their results back.
 *
 * Tokens: `Authorization: Bearer <token>`. The token's SHA-256 is
 * compared in constant time (CRYPTO_memcmp) with every stored hash (the
 * catalog's api_tokens and [http] token_file), never stopping at a
 * match. Binding anything but loopback needs at least one token. On
 * loopback with no token anywhere, reads are open and actions refused.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "config/volume.h"
#include "pipeline/base/pm.h"
#include "pipeline/http_int.h"
#include "pipeline/serve_int.h"

/* Most connections served at once (each has a thread). */
#define MAX_CONNECTIONS 64

/* Longest token accepted in a header. */
#define TOKEN_MAX 256

/* Largest PEM file read for TLS. */
#define PEM_MAX (1 << 20)

/* ---- responses ---- */

void pm__http_json(pm__http_resp_t *r, unsigned status, json_t *doc)
{
    char *text =
        doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

    json_decref(doc);
    pm_free(r->body);
    r->body = NULL;
    if (text == NULL) {
        r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        r->type = "text/plain; charset=utf-8";
        r->body = pm_strdup("out of memory\n");
        r->len = r->body ? strlen(r->body) : 0;
        return;
    }
    r->status = status;
    r->type = "application/json";
    r->len = strlen(text);
    r->body = text;
}

void pm__http_error(pm__http_resp_t *r, unsigned status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pm__http_json(r, status, json_pack("{s:s}", "error", msg));
}

const char *pm__http_arg(const pm__http_req_t *q, const char *name)
{
    return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
}

pm_catalog_t *pm__http_rd_lock(pm__http_t *h)
{
    pthread_mutex_lock(&h->rd_lock);
    h->reads++;
    return h->rd;
}

void pm__http_rd_unlock(pm__http_t *h)
{
    pthread_mutex_unlock(&h->rd_lock);
}

/* ---- the loop's side: snapshot and actions ---- */

void pm__http_snap(pm__http_t *h, pm__http_snap_t *out)
{
    pthread_mutex_lock(&h->snap_lock);
    *out = h->snap;
    pthread_mutex_unlock(&h->snap_lock);
}

void pm__http_tick(pm__serve_t *s)
{
    pm__http_t *h = s->http;
    pm_pool_worker_t v[256];
    size_t n, i;
    pm__http_snap_t snap = {0};

    if (h == NULL)
        return;
    n = pm_pool_workers(s->pool, v, sizeof(v) / sizeof(*v));
    if (n > sizeof(v) / sizeof(*v))
        n = sizeof(v) / sizeof(*v);
    snap.started = 1;
    snap.draining = s->draining;
    snap.paused = s->space.full;
    snap.catalog_failing = s->wk_failing;
    snap.workers = (int)n;
    for (i = 0; i < n; i++) {
        snap.workers_ready += v[i].ready;
        snap.workers_busy += v[i].task >= 0;
    }
    snap.worker_restarts = pm_pool_restarts(s->pool, 0, NULL);
    snap.fixity_failures = s->fixity_failures;
    memcpy(snap.txn, s->txn, sizeof(snap.txn));
    pthread_mutex_lock(&h->snap_lock);
    h->snap = snap;
    pthread_mutex_unlock(&h->snap_lock);
}

/* An action, on catwork's session (catwork.c): `arg` is the
 * pm__http_act_t, which the waiting request thread owns until done. */
static int act_work(pm_catalog_t *cat, void *arg)
{
    pm__http_act_t *a = arg;

    switch (a->kind) {
    case PM__ACT_RETRY:
        return pm_job_retry(cat, a->job, a->actor);
    case PM__ACT_CANCEL:
        return pm_job_cancel(cat, a->job, a->actor,
                             a->reason[0] ? a->reason : NULL);
    case PM__ACT_RELEASE:
        return pm_job_release(cat, a->job, a->actor);
    case PM__ACT_WORKORDER_ADD: {
        pm_workorder_t w = {0};

        w.number = a->number;
        w.account = a->account;
        w.fee_code = a->fee_code[0] ? a->fee_code : NULL;
        w.notes = a->reason[0] ? a->reason : NULL;
        return pm_workorder_add(cat, &w, a->actor, &a->job);
    }
    }
    return PM_EINVAL;
}

/* On the loop: the action's answer goes to its waiting request. */
static void act_done(pm__serve_t *s, void *arg, int err, const char *msg)
{
    pm__http_act_t *a = arg;
    pm__http_t *h = s->http;
    const char *text = err == -ECANCELED ? "the service is stopping" : msg;

    /* The web interface stops only once catwork has nothing in hand
     * (pm__serve_maybe_stop), so the request still waits for this. */
    assert(h != NULL);

    if (a->kind == PM__ACT_WORKORDER_ADD)
        pm_log(err ? PM_LOG_WARN : PM_LOG_INFO, "http",
               "add work order %s for %s by %s: %s", a->number, a->account,
               a->actor, err ? text : "done");
    else
        pm_log(err ? PM_LOG_WARN : PM_LOG_INFO, "http", "%s job %lld by %s: %s",
               a->kind == PM__ACT_RETRY    ? "retry"
               : a->kind == PM__ACT_CANCEL ? "cancel"
                                           : "release",
               (long long)a->job, a->actor, err ? text : "done");
    pthread_mutex_lock(&h->act_lock);
    a->err = err;
    snprintf(a->msg, sizeof(a->msg), "%s", err ? text : "");
    a->done = 1;
    pthread_cond_broadcast(&h->act_cond);
    pthread_mutex_unlock(&h->act_lock);
    if (err == 0 && !s->draining && !s->stopped)
        pm__sched_run(s);
}

/* On the loop: gives every queued action to catwork, in order. */
static void on_async(uv_async_t *async)
{
    pm__http_t *h = async->data;
    pm__serve_t *s = h->s;
    pm__http_act_t *a, *next;

    pthread_mutex_lock(&h->act_lock);
    a = h->act_head;
    h->act_head = h->act_tail = NULL;
    for (pm__http_act_t *t = a; t != NULL; t = t->next)
        t->taken = 1;
    pthread_mutex_unlock(&h->act_lock);
    for (; a != NULL; a = next) {
        int err;

        next = a->next;
        err = pm__catwork_give(s, act_work, act_done, a);
        if (err != 0)
            act_done(s, a, err, "out of memory");
    }
}

int pm__http_act(pm__http_t *h, pm__http_act_t *a)
{
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += PM__HTTP_ACT_WAIT_S;
    a->done = 0;
    a->taken = 0;
    a->next = NULL;
    pthread_mutex_lock(&h->act_lock);
    if (h->closing) {
        pthread_mutex_unlock(&h->act_lock);
        snprintf(a->msg, sizeof(a->msg), "the service is stopping");
        return -ECANCELED;
    }
    if (h->act_tail != NULL)
        h->act_tail->next = a;
    else
        h->act_head = a;
    h->act_tail = a;
    uv_async_send(&h->async);
    /* Once the loop has taken it, the loop finishes it before it can do
     * anything else (stop included): wait for that, whatever the time. */
    while (!a->done && (a->taken || (!h->closing && rc != ETIMEDOUT))) {
        if (a->taken)
            pthread_cond_wait(&h->act_cond, &h->act_lock);
        else
            rc = pthread_cond_timedwait(&h->act_cond, &h->act_lock, &until);
    }
    if (!a->done) {
        /* Stopping or stuck: the action is taken back off the queue (the
         * loop has not seen it, or it would be done). */
        pm__http_act_t **p = &h->act_head, *prev = NULL;
        while (*p != NULL && *p != a) {
            prev = *p;
            p = &(*p)->next;
        }
        if (*p == a) {
            *p = a->next;
            if (h->act_tail == a)
                h->act_tail = prev;
        }
        a->err = -ECANCELED;
        snprintf(a->msg, sizeof(a->msg), "%s",
                 h->closing ? "the service is stopping"
                            : "the service did not answer in time");
    }
    pthread_mutex_unlock(&h->act_lock);
    return a->err;
}

/* ---- tokens ---- */

static int hex_to_bytes(const char *hex, unsigned char out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* Reads the catalog's tokens again when the copy is PM__HTTP_CACHE_MS old
 * (under tok_lock). 0, or the catalog's error (the old copy is kept). */
static int tokens_refresh(pm__http_t *h)
{
    uint64_t now = pm__http_now_ms();
    pm__file_token_t *copy = NULL;
    pm_token_t *v = NULL;
    size_t n = 0;
    int err;

    if (h->tokens_ms != 0 && now - h->tokens_ms < PM__HTTP_CACHE_MS)
        return 0;
    err = pm_token_list(pm__http_rd_lock(h), &v, &n);
    pm__http_rd_unlock(h);
    if (err == 0 && n > 0 && (copy = pm_calloc(n, sizeof(*copy))) == NULL)
        err = PM_ENOMEM;
    for (size_t i = 0; err == 0 && i < n; i++) {
        copy[i].role = v[i].role;
        snprintf(copy[i].name, sizeof(copy[i].name), "%s", v[i].name);
        if (hex_to_bytes(v[i].sha256, copy[i].sha256) != 0)
            copy[i].role = 0; /* never matches a role */
    }
    pm_token_list_free(v, n);
    if (err != 0) {
        pm_free(copy);
        return err;
    }
    pm_free(h->tokens);
    h->tokens = copy;
    h->ntokens = n;
    h->tokens_ms = now;
    return 0;
}

/* Compares `got` with every token of v[0..n) in constant time, never
 * stopping at a match; the last match's role and name. */
static pm_role_t token_match(const pm__file_token_t *v, size_t n,
                             const unsigned char got[32], pm_role_t role,
                             char *name, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        if (CRYPTO_memcmp(got, v[i].sha256, 32) == 0 && v[i].role != 0) {
            role = v[i].role;
            snprintf(name, size, "%s", v[i].name);
        }
    }
    return role;
}

/* The role of the token in the request's Authorization header: 0 for
 * none or an unknown token. *any is set when tokens exist at all. */
static pm_role_t check_token(pm__http_t *h, struct MHD_Connection *conn,
                             char *name, size_t size, int *any, int *err)
{
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    unsigned char got[32];
    unsigned int glen = 0;
    size_t len;
    pm_role_t role = 0;
    int have;

    have = auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0;
    if (have) {
        auth += 7 + strspn(auth + 7, " ");
        len = strlen(auth);
        have = len > 0 && len <= TOKEN_MAX &&
               EVP_Digest(auth, len, got, &glen, EVP_sha256(), NULL) == 1;
    }
    pthread_mutex_lock(&h->tok_lock);
    *err = tokens_refresh(h);
    *any = h->ntokens > 0 || h->nftokens > 0;
    if (have && *err == 0)
        role = token_match(h->tokens, h->ntokens, got, role, name, size);
    if (have)
        role = token_match(h->ftokens, h->nftokens, got, role, name, size);
    pthread_mutex_unlock(&h->tok_lock);
    return role;
}

/* ---- requests ---- */

typedef struct body {
    char *data;
    size_t len;
    int too_big;
} body_t;

static void send_resp(struct MHD_Connection *conn, pm__http_resp_t *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->len, r->body ? r->body : (char *)"", MHD_RESPMEM_MUST_COPY);

    pm_free(r->body);
    r->body = NULL;
    if (resp == NULL)
        return;
    MHD_add_response_header(resp, "Content-Type", r->type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, "WWW-Authenticate",
                                "Bearer realm=\"pagemill\"");
    MHD_queue_response(conn, r->status, resp);
    MHD_destroy_response(resp);
}

static void handle(pm__http_t *h, struct MHD_Connection *conn, const char *url,
                   const char *method, const body_t *b)
{
    pm__http_req_t q = {0};
    pm__http_resp_t r = {0};
    char name[PM_TOKEN_NAME_MAX + 1] = "";
    int any = 0, err = 0;

    q.h = h;
    q.conn = conn;
    q.method = method;
    q.path = url;
    q.body = b->data ? b->data : "";
    q.body_len = b->len;
    if (b->too_big) {
        pm__http_error(&r, MHD_HTTP_CONTENT_TOO_LARGE,
                       "the request body is over %d bytes", PM__HTTP_BODY_MAX);
        send_resp(conn, &r);
        return;
    }
    q.role = check_token(h, conn, name, sizeof(name), &any, &err);
    q.anonymous = !any && err == 0;
    snprintf(q.actor, sizeof(q.actor), "token:%s", name);
    if (err != 0)
        pm__http_error(&r, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "the catalog cannot be read");
    else
        pm__http_route(&q, &r);
    send_resp(conn, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    pm__http_t *h = cls;
    body_t *b = *con_cls;

    (void)version;
    if (b == NULL) {
        b = pm_calloc(1, sizeof(*b));
        if (b == NULL)
            return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (b->too_big || b->len + *upload_size > PM__HTTP_BODY_MAX) {
            b->too_big = 1;
        } else {
            char *grown = pm_realloc(b->data, b->len + *upload_size + 1);
            if (grown == NULL)
                return MHD_NO;
            memcpy(grown + b->len, upload, *upload_size);
            b->len += *upload_size;
            grown[b->len] = '\0';
            b->data = grown;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    handle(h, conn, url, method, b);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    body_t *b = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (b != NULL) {
        pm_free(b->data);
        pm_free(b);
        *con_cls = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    pm_log(PM_LOG_WARN, "http", "%s", msg);
}

/* ---- start and stop ---- */

/* Reads [http] token_file: lines "ROLE NAME SHA256" (hex), '#' comments
 * and blank lines allowed. */
static int read_token_file(pm__http_t *h, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512], role[32], name[PM_TOKEN_NAME_MAX + 2], hex[80];
    int lineno = 0;

    if (f == NULL) {
        pm_log(PM_LOG_ERROR, "http", "cannot read the token file %s: %s", path,
               strerror(errno));
        return -errno;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        pm__file_token_t *grown, *t;
        int r;

        lineno++;
        if (line[strspn(line, " \t")] == '#' ||
            line[strspn(line, " \t\r\n")] == '\0')
            continue;
        if (sscanf(line, "%31s %65s %79s", role, name, hex) != 3 ||
            (r = pm_role_parse(role)) < 0 || !pm_token_name_valid(name) ||
            strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64) {
            pm_log(PM_LOG_ERROR, "http",
                   "%s:%d: expected ROLE NAME SHA256 (role supervisor, "
                   "billing or admin; the token's SHA-256 in lower-case hex)",
                   path, lineno);
            fclose(f);
            return PM_ECONFIG;
        }
        grown = pm_realloc(h->ftokens, (h->nftokens + 1) * sizeof(*grown));
        if (grown == NULL) {
            fclose(f);
            return PM_ENOMEM;
        }
        h->ftokens = grown;
        t = &grown[h->nftokens++];
        t->role = (pm_role_t)r;
        memcpy(t->name, name, strlen(name) + 1); /* valid: <= 64 */
        hex_to_bytes(hex, t->sha256);
    }
    fclose(f);
    return 0;
}

/* The read connection: the catalog again, made read-only. */
static int open_reader(pm__http_t *h)
{
    int err = pm_catalog_open(h->catalog_path, &h->rd);
    if (err != 0)
        return err;
    return pm_catalog_query_only(h->rd);
}

/* Without a token nothing but loopback may be bound. */
static int check_exposure(pm__http_t *h, const pm_http_cfg_t *c)
{
    pm_token_t *v = NULL;
    size_t n = 0;
    int err;

    if (c->loopback)
        return 0;
    err = pm_token_list(h->rd, &v, &n);
    pm_token_list_free(v, n);
    if (err != 0)
        return err;
    if (n + h->nftokens > 0)
        return 0;
    pm_log(PM_LOG_ERROR, "http",
           "[http] listen = %s:%d is not a loopback address, and there is no "
           "access token: add one (pagemill token add --role supervisor "
           "--name NAME) or listen on 127.0.0.1",
           c->host, c->port);
    return PM_ECONFIG;
}

static int read_pem(const char *path, char **out)
{
    unsigned char *data = NULL;
    size_t len = 0;
    int err = pm_read_file(path, PEM_MAX, &data, &len);

    if (err != 0) {
        pm_log(PM_LOG_ERROR, "http", "cannot read %s: %s", path,
               pm_strerror(err));
        return err;
    }
    *out = (char *)data; /* pm_read_file NUL-terminates */
    return 0;
}

static int bind_addr(const pm_http_cfg_t *c, struct sockaddr_storage *ss,
                     int *v6)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    *v6 = strchr(c->host, ':') != NULL;
    if (*v6) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)c->port);
        return inet_pton(AF_INET6, c->host, &a6->sin6_addr) == 1 ? 0
                                                                 : PM_EINVAL;
    }
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)c->port);
    return inet_pton(AF_INET, c->host, &a4->sin_addr) == 1 ? 0 : PM_EINVAL;
}

static int start_daemon(pm__http_t *h, const pm_http_cfg_t *c)
{
    struct sockaddr_storage ss;
    char *cert = NULL, *key = NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};
    const union MHD_DaemonInfo *info;
    int v6, err = bind_addr(c, &ss, &v6);

    if (err == 0 && c->cert != NULL && (err = read_pem(c->cert, &cert)) == 0 &&
        (err = read_pem(c->key, &key)) == 0) {
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
        tls[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    if (err == 0) {
        if (v6)
            flags |= MHD_USE_IPv6;
        h->daemon = MHD_start_daemon(
            flags, (uint16_t)c->port, NULL, NULL, on_request, h,
            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)30, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
            MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
        if (h->daemon == NULL) {
            pm_log(PM_LOG_ERROR, "http", "cannot listen on %s%s%s:%d%s",
                   v6 ? "[" : "", c->host, v6 ? "]" : "", c->port,
                   c->cert ? " with TLS (are the cert and key a pair?)" : "");
            err = PM_EIO;
        }
    }
    /* libmicrohttpd copies the PEM data into its TLS state. */
    pm_free(cert);
    pm_free(key);
    if (err != 0)
        return err;
    info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    pm_log(PM_LOG_INFO, "http", "listening on %s://%s%s%s:%u",
           c->cert ? "https" : "http", v6 ? "[" : "", c->host, v6 ? "]" : "",
           info ? (unsigned)info->port : (unsigned)c->port);
    return 0;
}

/* A configuration holding copies of the hot folders of `cfg` only (its
 * volumes are copied after). */
static pm_config_t *copy_hotfolders(const pm_config_t *cfg)
{
    pm_config_t *c = pm_config_new();
    int oom = c == NULL;

    if (!oom && cfg->nhotfolders > 0)
        oom = (c->hotfolders =
                   pm_calloc(cfg->nhotfolders, sizeof(*c->hotfolders))) == NULL;
    for (size_t i = 0; !oom && i < cfg->nhotfolders; i++) {
        const pm_hotfolder_cfg_t *from = &cfg->hotfolders[i];
        pm_hotfolder_cfg_t *to = &c->hotfolders[c->nhotfolders++];

        *to = *from;
        to->name = pm_strdup(from->name);
        to->path = pm_strdup(from->path);
        to->marker = from->marker ? pm_strdup(from->marker) : NULL;
        to->profile = to->account = NULL;
        oom = to->name == NULL || to->path == NULL ||
              (from->marker != NULL && to->marker == NULL);
    }
    if (oom) {
        pm_config_free(c);
        return NULL;
    }
    return c;
}

static void http_free(pm__http_t *h)
{
    pm_config_free(h->hf_cfg);
    pm_catalog_close(h->rd);
    pm_free(h->status_body);
    pm_free(h->tokens);
    pthread_mutex_destroy(&h->rd_lock);
    pthread_mutex_destroy(&h->status_lock);
    pthread_mutex_destroy(&h->tok_lock);
    pthread_mutex_destroy(&h->snap_lock);
    pthread_mutex_destroy(&h->act_lock);
    pthread_cond_destroy(&h->act_cond);
    pm_free(h->output);
    pm_free(h->catalog_path);
    pm_free(h->ftokens);
    pm_free(h);
}

static void on_async_closed(uv_handle_t *handle)
{
    http_free(handle->data);
}

int pm__http_start(pm__serve_t *s)
{
    const pm_http_cfg_t *c = &s->cfg->http;
    pm__http_t *h;
    int err;

    if (!c->enabled)
        return 0;
    h = pm_calloc(1, sizeof(*h));
    if (h == NULL)
        return PM_ENOMEM;
    pthread_mutex_init(&h->rd_lock, NULL);
    pthread_mutex_init(&h->status_lock, NULL);
    pthread_mutex_init(&h->tok_lock, NULL);
    pthread_mutex_init(&h->snap_lock, NULL);
    pthread_mutex_init(&h->act_lock, NULL);
    pthread_cond_init(&h->act_cond, NULL);
    h->s = s;
    h->output = pm_strdup(s->output);
    h->catalog_path = pm_strdup(s->catalog_path);
    h->min_free_bytes = (int64_t)c->min_free_mb << 20;
    h->hf_cfg = copy_hotfolders(s->cfg);
    err = h->output && h->catalog_path && h->hf_cfg ? 0 : PM_ENOMEM;
    if (err == 0)
        err = pm_volume_copy(h->hf_cfg, s->cfg);
    if (err == 0 && c->token_file != NULL)
        err = read_token_file(h, c->token_file);
    if (err == 0)
        err = open_reader(h);
    if (err == 0)
        err = check_exposure(h, c);
    if (err == 0)
        err = start_daemon(h, c);
    if (err != 0) {
        http_free(h);
        return err;
    }
    uv_async_init(s->loop, &h->async, on_async);
    h->async.data = h;
    s->http = h;
    return 0;
}

void pm__http_stop(pm__serve_t *s)
{
    pm__http_t *h = s->http;

    if (h == NULL)
        return;
    s->http = NULL;
    pthread_mutex_lock(&h->act_lock);
    h->closing = 1;
    pthread_cond_broadcast(&h->act_cond);
    pthread_mutex_unlock(&h->act_lock);
    MHD_stop_daemon(h->daemon); /* joins the connection threads */
    h->daemon = NULL;
    uv_close((uv_handle_t *)&h->async, on_async_closed);
}

/* ---- /readyz ---- */

/* Free bytes for unprivileged users on the volume of `path`, or -1. */
int64_t pm__http_free_bytes(const char *path)
{
    struct statvfs v;

    if (statvfs(path, &v) != 0)
        return -1;
    return (int64_t)v.f_bavail * (int64_t)v.f_frsize;
}

uint64_t pm__http_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 1;
}
