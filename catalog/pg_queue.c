/*
 * pg_queue.c: the queue in the PostgreSQL backend: page tasks, the fair
 * claim, leases and fencing, completion with its billable row, failures,
 * requeues. The same contract and rules (catalog/rules.h) as
 * sqlite_queue.c; what differs is that many claimers may run at once.
 *
 * A claim reads the fair order's candidates (as SQLite does), then locks
 * the lowest claimable page of the fairest job with FOR UPDATE SKIP
 * LOCKED: a page another session is claiming is skipped, never waited
 * for, and when a job has nothing left unlocked the next fairest is
 * tried. Completing, failing and renewing lock the task's row before the
 * fence reads it, so a result and a reclaim never both win. The fencing
 * token is page_tasks.attempts, as in SQLite.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/pg_int.h"
#include "catalog/rules.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_JOB_START,
    ST_CLAIM_PICK,
    ST_CLAIM_LOCK,
    ST_CLAIM_EVENT,
    ST_CLAIM_TAKE,
    ST_TASK_GET,
    ST_TASK_LIST,
    ST_TASK_FENCE,
    ST_TASK_RENEW,
    ST_TASK_DONE,
    ST_TASK_SET_STATE,
    ST_TASK_FAIL_EVENT,
    ST_BILLABLE_ADD,
    ST_EXPIRED,
    ST_ORPHANED,
    ST_COUNT
};

#define TASK_COLS                                                          \
    "t.id, t.job, t.page, t.src, t.frame, t.sha256, t.state, t.attempts, " \
    "t.lease_owner, coalesce(t.lease_until, 0), t.error, t.width, "        \
    "t.height, t.xres, t.yres, t.rotation, t.orient_confidence, t.skew, "  \
    "t.skew_confidence, t.blank, t.ink_ratio, t.words, t.confidence, "     \
    "t.kind, t.codec, t.bytes, t.ms_decode, t.ms_orient, t.ms_deskew, "    \
    "t.ms_blank, t.ms_ocr, t.ms_encode, t.ms_total, t.image, t.text_pdf, " \
    "t.text, coalesce(t.finished_at, 0), coalesce(t.orient_osd, 0), "      \
    "coalesce(t.dpi_fallback, 0), t.review, t.orient_method, "             \
    "t.orient_evidence FROM page_tasks t"

/* Why an abandoned lease is given up, evaluated on the task's row. */
#define LEASE_ORPHANED                                                    \
    "'lease of ' || coalesce(lease_owner, '?') || ' abandoned: its ' || " \
    "'coordinator stopped (attempt ' || attempts || ')'"

/* A running task a coordinator's own worker held: a coordinator that
 * starts holds the coordinator lock, so its predecessor is gone. */
#define ORPHANED "lease_owner LIKE '" PM_COORDINATOR_OWNER "%'"

/* Why an expired lease is given up, evaluated on the task's row. */
#define LEASE_EXPIRED                                                       \
    "'lease of ' || coalesce(lease_owner, '?') || ' expired (attempt ' || " \
    "attempts || ')'"

static const pm__pgsql_t stmts[ST_COUNT] = {
    [ST_JOB_START] = {"job_start",
                      "UPDATE jobs SET state = 'running', updated_at = "
                      "$2::bigint WHERE id = $1::bigint AND state = 'queued'"},
    /* The fair claim's candidates ($1 = now), as in sqlite_queue.c. */
    [ST_CLAIM_PICK] = {"claim_pick",
                       "WITH cand AS (SELECT j.id AS job, "
                       "(SELECT min(t.page) FROM page_tasks t WHERE "
                       "t.state = 'queued' AND t.job = j.id) AS q, "
                       "(SELECT min(t.page) FROM page_tasks t WHERE "
                       "t.state = 'running' AND t.job = j.id AND "
                       "t.lease_until < $1::bigint) AS l, "
                       "(SELECT count(*) FROM page_tasks t WHERE "
                       "t.state = 'running' AND t.job = j.id AND "
                       "t.lease_until >= $1::bigint) AS r "
                       "FROM jobs j WHERE j.state IN ('queued', 'running')) "
                       "SELECT job, coalesce(q, 0), coalesce(l, 0), r "
                       "FROM cand WHERE q IS NOT NULL OR l IS NOT NULL"},
    /* The claimable page of job $1 that no other session is claiming
     * and pm_rules_page_first puts first (the largest work estimate, then
     * the lowest page), locked until the transaction ends. */
    [ST_CLAIM_LOCK] = {"claim_lock",
                       "SELECT id, state FROM page_tasks WHERE job = "
                       "$1::bigint AND (state = 'queued' OR (state = "
                       "'running' AND lease_until < $2::bigint)) ORDER BY "
                       "work DESC, page LIMIT 1 FOR UPDATE SKIP LOCKED"},
    [ST_CLAIM_EVENT] = {"claim_event",
                        "INSERT INTO events (at, actor, kind, job, page, "
                        "detail) SELECT $2::bigint, $3, 'page.reclaimed', "
                        "job, page, 'lease of ' || coalesce(lease_owner, "
                        "'?') || ' lapsed at attempt ' || attempts "
                        "FROM page_tasks WHERE id = $1::bigint"},
    [ST_CLAIM_TAKE] = {"claim_take",
                       "UPDATE page_tasks SET state = 'running', "
                       "attempts = attempts + 1, lease_owner = $2, "
                       "lease_until = $3::bigint WHERE id = $1::bigint"},
    [ST_TASK_GET] = {"task_get",
                     "SELECT " TASK_COLS " WHERE t.id = $1::bigint"},
    [ST_TASK_LIST] = {"task_list", "SELECT " TASK_COLS
                                   " WHERE t.job = $1::bigint ORDER BY t.page"},
    /* Locks the task's row for the rest of the transaction. */
    [ST_TASK_FENCE] = {"task_fence",
                       "SELECT t.job, t.page, t.state, t.attempts, "
                       "t.attempts_base, j.state FROM page_tasks t "
                       "JOIN jobs j ON j.id = t.job WHERE t.id = $1::bigint "
                       "FOR UPDATE OF t"},
    [ST_TASK_RENEW] = {"task_renew",
                       "UPDATE page_tasks SET lease_until = $2::bigint "
                       "WHERE id = $1::bigint"},
    [ST_TASK_DONE] =
        {"task_done",
         "UPDATE page_tasks SET state = 'done', width = $2::bigint, "
         "height = $3::bigint, xres = $4::bigint, yres = $5::bigint, "
         "rotation = $6::bigint, orient_confidence = $7::float8, "
         "skew = $8::float8, skew_confidence = $9::float8, "
         "blank = $10::bigint, ink_ratio = $11::float8, "
         "words = $12::bigint, confidence = $13::float8, kind = $14, "
         "codec = $15, bytes = $16::bigint, ms_decode = $17::float8, "
         "ms_orient = $18::float8, ms_deskew = $19::float8, "
         "ms_blank = $20::float8, ms_ocr = $21::float8, "
         "ms_encode = $22::float8, ms_total = $23::float8, image = $24, "
         "text_pdf = $25, text = $26, error = NULL, lease_until = NULL, "
         "finished_at = $27::bigint, orient_osd = $28::bigint, "
         "dpi_fallback = $29::bigint, review = $30, orient_method = $31, "
         "orient_evidence = $32 WHERE id = $1::bigint"},
    [ST_TASK_SET_STATE] = {"task_set_state",
                           "UPDATE page_tasks SET state = $2, error = $3, "
                           "lease_owner = NULL, lease_until = NULL "
                           "WHERE id = $1::bigint"},
    [ST_TASK_FAIL_EVENT] = {"task_fail_event",
                            "INSERT INTO events (at, actor, kind, job, page, "
                            "detail) SELECT $2::bigint, coalesce(lease_owner, "
                            "'catalog'), $3, job, page, 'attempt ' || "
                            "attempts || ': ' || $4 FROM page_tasks "
                            "WHERE id = $1::bigint"},
    /* Plain INSERT: a second row for a page is a bug, and fails loudly. */
    [ST_BILLABLE_ADD] = {"billable_add",
                         "INSERT INTO billable_pages (job, page, blank, "
                         "created_at) SELECT job, page, $2::bigint, "
                         "$3::bigint FROM page_tasks WHERE id = $1::bigint"},
    /* Lease expiry ($1 = now, $2 = max attempts) in one statement: its
     * parts share one snapshot, so the events name exactly the tasks
     * requeued, read before they change; tasks being claimed right now
     * are skipped (their claim is the newer word). */
    [ST_EXPIRED] = {"expired",
                    "WITH x AS (SELECT id FROM page_tasks WHERE state = "
                    "'running' AND lease_until < $1::bigint FOR UPDATE SKIP "
                    "LOCKED), ev AS (INSERT INTO events (at, actor, kind, "
                    "job, page, detail) SELECT $1::bigint, 'catalog', CASE "
                    "WHEN attempts - attempts_base >= $2::bigint THEN "
                    "'page.failed' ELSE 'page.requeued' END, job, page, "
                    " " LEASE_EXPIRED " FROM page_tasks WHERE id IN (SELECT "
                    "id FROM x) ORDER BY id) UPDATE page_tasks SET state = "
                    "CASE WHEN attempts - attempts_base >= $2::bigint THEN "
                    "'failed' ELSE 'queued' END, error = " LEASE_EXPIRED
                    ", lease_owner = NULL, lease_until = NULL WHERE id IN "
                    "(SELECT id FROM x)"},
    /* Every coordinator lease abandoned ($1 = now, $2 = the new
     * coordinator); agents' leases stay: the attempt is refunded, the token
     * keeps growing. */
    [ST_ORPHANED] = {"orphaned",
                     "WITH x AS (SELECT id FROM page_tasks WHERE state = "
                     "'running' AND " ORPHANED
                     " FOR UPDATE), ev AS (INSERT INTO events (at, "
                     "actor, kind, job, page, detail) SELECT $1::bigint, $2, "
                     "'page.requeued', job, page, " LEASE_ORPHANED
                     " FROM page_tasks WHERE id IN (SELECT id FROM x) ORDER "
                     "BY id) UPDATE page_tasks SET state = 'queued', "
                     "attempts_base = attempts_base + 1, error = "
                     "" LEASE_ORPHANED ", lease_owner = NULL, lease_until = "
                     "NULL WHERE id IN (SELECT id FROM x)"},
};

const pm__pgsql_table_t pm__pg_queue = {stmts, ST_COUNT};

/* ---- page tasks ---- */

static void task_cleanup_v(void *item)
{
    pm_task_cleanup(item);
}

static double col_double(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtod(PQgetvalue(r, row, col), NULL);
}

static void read_metrics(const PGresult *r, int row, pm_page_metrics_t *m)
{
    m->width = (int)pm__pg_int64(r, row, 11);
    m->height = (int)pm__pg_int64(r, row, 12);
    m->xres = (int)pm__pg_int64(r, row, 13);
    m->yres = (int)pm__pg_int64(r, row, 14);
    m->rotation = (int)pm__pg_int64(r, row, 15);
    m->orient_confidence = col_double(r, row, 16);
    m->skew = col_double(r, row, 17);
    m->skew_confidence = col_double(r, row, 18);
    m->blank = (int)pm__pg_int64(r, row, 19);
    m->ink_ratio = col_double(r, row, 20);
    m->words = (int)pm__pg_int64(r, row, 21);
    m->confidence = col_double(r, row, 22);
    m->bytes = pm__pg_int64(r, row, 25);
    m->ms_decode = col_double(r, row, 26);
    m->ms_orient = col_double(r, row, 27);
    m->ms_deskew = col_double(r, row, 28);
    m->ms_blank = col_double(r, row, 29);
    m->ms_ocr = col_double(r, row, 30);
    m->ms_encode = col_double(r, row, 31);
    m->ms_total = col_double(r, row, 32);
    m->orient_osd = (int)pm__pg_int64(r, row, 37);
    m->dpi_fallback = (int)pm__pg_int64(r, row, 38);
}

/* Reads a row of TASK_COLS; t->m's strings point at t's own copies. */
static int read_task(const PGresult *r, int row, void *item)
{
    pm_task_t *t = item;
    struct {
        int col;
        char **dst;
    } strs[] = {
        {3, &t->src},     {5, &t->sha256},         {8, &t->lease_owner},
        {10, &t->error},  {23, &t->kind},          {24, &t->codec},
        {33, &t->image},  {34, &t->text_pdf},      {35, &t->text},
        {39, &t->review}, {40, &t->orient_method}, {41, &t->orient_evidence}};
    size_t i;
    int state;

    memset(t, 0, sizeof(*t));
    state = pm_task_state_parse(PQgetvalue(r, row, 6));
    if (state < 0)
        return PM_ECATALOG;
    t->id = pm__pg_int64(r, row, 0);
    t->job = pm__pg_int64(r, row, 1);
    t->page = (int)pm__pg_int64(r, row, 2);
    t->frame = (int)pm__pg_int64(r, row, 4);
    t->state = (pm_task_state_t)state;
    t->attempts = (int)pm__pg_int64(r, row, 7);
    t->lease_until = pm__pg_int64(r, row, 9);
    t->finished_at = pm__pg_int64(r, row, 36);
    read_metrics(r, row, &t->m);
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (pm__pg_str(r, row, strs[i].col, strs[i].dst) != 0) {
            pm_task_cleanup(t);
            return PM_ENOMEM;
        }
    }
    t->m.kind = t->kind;
    t->m.codec = t->codec;
    t->m.image = t->image;
    t->m.text_pdf = t->text_pdf;
    t->m.text = t->text;
    t->m.review = t->review;
    t->m.orient_method = t->orient_method;
    t->m.orient_evidence = t->orient_evidence;
    return 0;
}

static int task_get(pm__pg_t *pg, int64_t id, pm_task_t *out)
{
    pm__pg_params_t p = {.n = 0};
    int err;

    pm__pg_int(&p, id);
    err = pm__pg_get_one(pg, PM__PG_QUEUE, ST_TASK_GET, &p, read_task, out);
    if (err == PM_ENOENT)
        pm__pg_msg(pg, err, "no page task %lld", (long long)id);
    return err;
}

/* The fair claim's candidates, into a new array *v of *n. */
static int claim_candidates(pm__pg_t *pg, int64_t now, pm_claim_cand_t **v,
                            size_t *n)
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int rows, i, err;

    *v = NULL;
    *n = 0;
    pm__pg_int(&p, now);
    err = pm__pg_run(pg, PM__PG_QUEUE, ST_CLAIM_PICK, &p, &r);
    if (err != 0)
        return err;
    rows = PQntuples(r);
    if (rows > 0 && (*v = pm_calloc((size_t)rows, sizeof(**v))) == NULL) {
        PQclear(r);
        return pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    }
    for (i = 0; i < rows; i++) {
        (*v)[i].job = pm__pg_int64(r, i, 0);
        (*v)[i].queued_page = (int)pm__pg_int64(r, i, 1);
        (*v)[i].lapsed_page = (int)pm__pg_int64(r, i, 2);
        (*v)[i].running = pm__pg_int64(r, i, 3);
    }
    PQclear(r);
    *n = (size_t)rows;
    return 0;
}

/* Locks job `job`'s first claimable page (pm_rules_page_first) no one
 * else is claiming: 1
 * with *id and whether its lease lapsed, 0 when there is none. */
static int claim_lock(pm__pg_t *pg, int64_t job, int64_t now, int64_t *id,
                      int *lapsed)
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err, found;

    pm__pg_int(&p, job);
    pm__pg_int(&p, now);
    err = pm__pg_run(pg, PM__PG_QUEUE, ST_CLAIM_LOCK, &p, &r);
    if (err != 0)
        return err;
    found = PQntuples(r) > 0;
    if (found) {
        *id = pm__pg_int64(r, 0, 0);
        *lapsed = strcmp(PQgetvalue(r, 0, 1), "running") == 0;
    }
    PQclear(r);
    return found;
}

/* Picks and locks the next claimable task in fair order: the fairest
 * job first, the next fairest when all of its claimable pages are being
 * claimed by others. PM_ENOENT when there is nothing to claim. */
static int claim_pick(pm__pg_t *pg, int64_t now, int64_t *job, int64_t *id,
                      int *lapsed)
{
    pm_claim_cand_t *v;
    size_t n;
    long best;
    int err;

    err = claim_candidates(pg, now, &v, &n);
    while (err == 0 && (best = pm_rules_claim_pick(v, n)) >= 0) {
        err = claim_lock(pg, v[best].job, now, id, lapsed);
        if (err == 1) {
            *job = v[best].job;
            pm_free(v);
            return 0;
        }
        v[best].queued_page = v[best].lapsed_page = 0; /* all taken */
    }
    pm_free(v);
    if (err == 0)
        err = pm__pg_msg(pg, PM_ENOENT, "no page task to claim");
    return err;
}

/* Gives task `id` to `owner`; a lapsed lease taken over is an event. */
static int claim_take(pm__pg_t *pg, const char *owner, int64_t id, int lapsed,
                      int64_t until, int64_t now)
{
    pm__pg_params_t p = {.n = 0};
    int err;

    if (lapsed) {
        pm__pg_int(&p, id);
        pm__pg_int(&p, now);
        pm__pg_text(&p, owner);
        err = pm__pg_exec(pg, PM__PG_QUEUE, ST_CLAIM_EVENT, &p, NULL);
        if (err != 0)
            return err;
    }
    p.n = 0;
    pm__pg_int(&p, id);
    pm__pg_text(&p, owner);
    pm__pg_int(&p, until);
    return pm__pg_exec(pg, PM__PG_QUEUE, ST_CLAIM_TAKE, &p, NULL);
}

/* Moves a queued job to running on its first claim. */
static int job_start(pm__pg_t *pg, int64_t job, const char *owner, int64_t now)
{
    pm__pg_params_t p = {.n = 0};
    int changes = 0, err;

    pm__pg_int(&p, job);
    pm__pg_int(&p, now);
    err = pm__pg_exec(pg, PM__PG_QUEUE, ST_JOB_START, &p, &changes);
    if (err == 0 && changes > 0)
        err = pm__pg_event_insert(pg, now, owner, "job.started", job, 0, NULL);
    return err;
}

int pm__pg_task_claim(pm_catalog_t *cat, const char *owner, int lease_s,
                      int64_t now, pm_task_t *out)
{
    pm__pg_t *pg = pm__pg(cat);
    int64_t job = 0, id = 0;
    int lapsed = 0, err;

    memset(out, 0, sizeof(*out));
    if (owner == NULL || lease_s <= 0)
        return pm__pg_msg(pg, PM_EINVAL, "a claim needs an owner and a lease");
    err = pm__pg_tx_begin(pg);
    if (err != 0)
        return err;
    err = claim_pick(pg, now, &job, &id, &lapsed);
    if (err == 0)
        err = claim_take(pg, owner, id, lapsed, now + lease_s, now);
    if (err == 0)
        err = job_start(pg, job, owner, now);
    if (err == 0)
        err = task_get(pg, id, out);
    err = pm__pg_tx_end(pg, err);
    if (err != 0)
        pm_task_cleanup(out);
    return err;
}

/* What the fence read about a task. */
typedef struct {
    int64_t job;
    int page, attempts, base;
} fence_t;

/* Inside a transaction: locks task `id`; 0 when it is running under
 * `attempt` in a running job, -ESTALE when it is not ours any more,
 * PM_ENOENT if there is no such task. */
static int task_fence(pm__pg_t *pg, int64_t id, int attempt, fence_t *f)
{
    pm__pg_params_t p = {.n = 0};
    char state[16], job_state[16];
    PGresult *r;
    int err;

    pm__pg_int(&p, id);
    err = pm__pg_run(pg, PM__PG_QUEUE, ST_TASK_FENCE, &p, &r);
    if (err != 0)
        return err;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return pm__pg_msg(pg, PM_ENOENT, "no page task %lld", (long long)id);
    }
    f->job = pm__pg_int64(r, 0, 0);
    f->page = (int)pm__pg_int64(r, 0, 1);
    snprintf(state, sizeof(state), "%s", PQgetvalue(r, 0, 2));
    f->attempts = (int)pm__pg_int64(r, 0, 3);
    f->base = (int)pm__pg_int64(r, 0, 4);
    snprintf(job_state, sizeof(job_state), "%s", PQgetvalue(r, 0, 5));
    PQclear(r);
    switch (pm_rules_fence(pm_task_state_parse(state), f->attempts, attempt,
                           pm_job_state_parse(job_state))) {
    case PM_FENCE_OK:
        return 0;
    case PM_FENCE_STALE:
        return pm__pg_msg(pg, -ESTALE,
                          "job %lld page %d: attempt %d is stale (the page is "
                          "%s at attempt %d)",
                          (long long)f->job, f->page, attempt, state,
                          f->attempts);
    case PM_FENCE_JOB_STOPPED:
        break;
    }
    return pm__pg_msg(pg, -ESTALE, "job %lld page %d: the job is %s",
                      (long long)f->job, f->page, job_state);
}

int pm__pg_task_renew(pm_catalog_t *cat, int64_t id, int attempt, int lease_s,
                      int64_t now)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    fence_t f;
    int err;

    if (lease_s <= 0)
        return pm__pg_msg(pg, PM_EINVAL, "a lease must be positive");
    err = pm__pg_tx_begin(pg);
    if (err != 0)
        return err;
    err = task_fence(pg, id, attempt, &f);
    if (err == 0) {
        pm__pg_int(&p, id);
        pm__pg_int(&p, now + lease_s);
        err = pm__pg_exec(pg, PM__PG_QUEUE, ST_TASK_RENEW, &p, NULL);
    }
    return pm__pg_tx_end(pg, err);
}

static int task_done(pm__pg_t *pg, int64_t id, const pm_page_metrics_t *m,
                     int64_t now)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_int(&p, id);
    pm__pg_int(&p, m->width);
    pm__pg_int(&p, m->height);
    pm__pg_int(&p, m->xres);
    pm__pg_int(&p, m->yres);
    pm__pg_int(&p, m->rotation);
    pm__pg_double(&p, m->orient_confidence);
    pm__pg_double(&p, m->skew);
    pm__pg_double(&p, m->skew_confidence);
    pm__pg_int(&p, m->blank != 0);
    pm__pg_double(&p, m->ink_ratio);
    pm__pg_int(&p, m->words);
    pm__pg_double(&p, m->confidence);
    pm__pg_text(&p, m->kind);
    pm__pg_text(&p, m->codec);
    pm__pg_int(&p, m->bytes);
    pm__pg_double(&p, m->ms_decode);
    pm__pg_double(&p, m->ms_orient);
    pm__pg_double(&p, m->ms_deskew);
    pm__pg_double(&p, m->ms_blank);
    pm__pg_double(&p, m->ms_ocr);
    pm__pg_double(&p, m->ms_encode);
    pm__pg_double(&p, m->ms_total);
    pm__pg_text(&p, m->image);
    pm__pg_text(&p, m->text_pdf);
    pm__pg_text(&p, m->text);
    pm__pg_int(&p, now);
    pm__pg_int(&p, m->orient_osd != 0);
    pm__pg_int(&p, m->dpi_fallback != 0);
    pm__pg_text(&p, m->review);
    pm__pg_text(&p, m->orient_method);
    pm__pg_text(&p, m->orient_evidence);
    return pm__pg_exec(pg, PM__PG_QUEUE, ST_TASK_DONE, &p, NULL);
}

static int billable_add(pm__pg_t *pg, int64_t id, int blank, int64_t now)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_int(&p, id);
    pm__pg_int(&p, blank);
    pm__pg_int(&p, now);
    return pm__pg_exec(pg, PM__PG_QUEUE, ST_BILLABLE_ADD, &p, NULL);
}

int pm__pg_task_complete(pm_catalog_t *cat, int64_t id, int attempt,
                         const pm_page_metrics_t *m, int64_t now)
{
    pm__pg_t *pg = pm__pg(cat);
    fence_t f = {0};
    int err;

    if (m == NULL)
        return pm__pg_msg(pg, PM_EINVAL, "a completed page needs metrics");
    err = pm__pg_tx_begin(pg);
    if (err != 0)
        return err;
    err = task_fence(pg, id, attempt, &f);
    if (err == 0)
        err = task_done(pg, id, m, now);
    if (err == 0)
        err = billable_add(pg, id, m->blank != 0, now);
    if (err == -EEXIST)
        pm__pg_msg(pg, err, "job %lld page %d is billed already",
                   (long long)f.job, f.page);
    return pm__pg_tx_end(pg, err);
}

/* Records a failed attempt: an event, then queued or failed. */
static int task_give_up(pm__pg_t *pg, int64_t id, int final, const char *why,
                        int64_t now)
{
    pm__pg_params_t p = {.n = 0};
    int err;

    pm__pg_int(&p, id);
    pm__pg_int(&p, now);
    pm__pg_text(&p, final ? "page.failed" : "page.requeued");
    pm__pg_text(&p, why);
    err = pm__pg_exec(pg, PM__PG_QUEUE, ST_TASK_FAIL_EVENT, &p, NULL);
    if (err != 0)
        return err;
    p.n = 0;
    pm__pg_int(&p, id);
    pm__pg_text(&p, final ? "failed" : "queued");
    pm__pg_text(&p, why);
    return pm__pg_exec(pg, PM__PG_QUEUE, ST_TASK_SET_STATE, &p, NULL);
}

int pm__pg_task_fail(pm_catalog_t *cat, int64_t id, int attempt,
                     const char *why, int max_attempts, int64_t now)
{
    pm__pg_t *pg = pm__pg(cat);
    fence_t f;
    int err;

    if (max_attempts < 1)
        return pm__pg_msg(pg, PM_EINVAL, "max_attempts must be at least 1");
    if (why == NULL)
        why = "unknown error";
    err = pm__pg_tx_begin(pg);
    if (err != 0)
        return err;
    err = task_fence(pg, id, attempt, &f);
    if (err == 0)
        err = task_give_up(
            pg, id, pm_rules_attempts_spent(f.attempts, f.base, max_attempts),
            why, now);
    return pm__pg_tx_end(pg, err);
}

int pm__pg_task_requeue_expired(pm_catalog_t *cat, int64_t now,
                                int max_attempts, int *n)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    int err;

    *n = 0;
    if (max_attempts < 1)
        return pm__pg_msg(pg, PM_EINVAL, "max_attempts must be at least 1");
    pm__pg_int(&p, now);
    pm__pg_int(&p, max_attempts);
    err = pm__pg_exec(pg, PM__PG_QUEUE, ST_EXPIRED, &p, n);
    if (err != 0)
        *n = 0;
    return err;
}

int pm__pg_task_requeue_all_running(pm_catalog_t *cat, const char *actor,
                                    int64_t now, int *n)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    int err;

    *n = 0;
    if (actor == NULL)
        return pm__pg_msg(pg, PM_EINVAL, "requeue needs an actor");
    pm__pg_int(&p, now);
    pm__pg_text(&p, actor);
    err = pm__pg_exec(pg, PM__PG_QUEUE, ST_ORPHANED, &p, n);
    if (err != 0)
        *n = 0;
    return err;
}

int pm__pg_task_list(pm_catalog_t *cat, int64_t job, pm_task_t **out, size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    *out = NULL;
    *n = 0;
    pm__pg_int(&p, job);
    err = pm__pg_run(pg, PM__PG_QUEUE, ST_TASK_LIST, &p, &r);
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(pm_task_t), read_task, task_cleanup_v,
                          (void **)out, n);
}
