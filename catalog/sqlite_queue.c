/*
 * sqlite_queue.c: the queue in the SQLite backend: page tasks, the
 * fair claim, leases and fencing, completion with its billable row,
 * failures, requeues. Which job is fair to claim from and what a stale
 * attempt may not do are catalog/rules.h's; this file is their SQL.
 *
 * The queue's fencing token is page_tasks.attempts: it only ever grows.
 * An operator's retry resets the attempt *budget* (attempts_base), not the
 * token, so a worker that went silent before the retry can never complete
 * a page claimed after it.
 */
#include <errno.h>
#include <string.h>

#include <sqlite3.h>

#include "catalog/catalog.h"
#include "catalog/rules.h"
#include "catalog/sqlite_int.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_JOB_START,
    ST_CLAIM_PICK,
    ST_CLAIM_PREV,
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
    ST_EXPIRED_EVENTS,
    ST_EXPIRED_REQUEUE,
    ST_ORPHAN_EVENTS,
    ST_ORPHAN_REQUEUE,
    ST_JOB_PROFILE,
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

/* A page-level event whose actor is the task's current lease owner. */
#define TASK_EVENT                                                        \
    "INSERT INTO events (at, actor, kind, job, page, detail) SELECT ?2, " \
    "coalesce(lease_owner, 'catalog'), "

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

static const pm__sql_t stmts[ST_COUNT] = {
    [ST_JOB_START] = {"job_start",
                      "UPDATE jobs SET state = 'running', updated_at = ?2 "
                      "WHERE id = ?1 AND state = 'queued'"},
    /*
     * The fair claim's candidates (?1 = now): for each job in state queued
     * or running (jobs_state) with a page to claim, three probes of
     * page_tasks_claim: its largest queued page (largest work estimate,
     * then lowest page: pm_rules_page_first), its largest page whose
     * lease lapsed (0: none), and how many of its pages are running under
     * a live lease; then the two pages' estimates. Each probe is one seek
     * in page_tasks_claim or page_tasks_work (migration 7).
     * pm_rules_claim_fairer picks among them. The cost grows with the
     * number of active jobs, not with the tasks.
     */
    [ST_CLAIM_PICK] = {"claim_pick",
                       "WITH cand AS (SELECT j.id AS job, "
                       "(SELECT t.page FROM page_tasks t WHERE "
                       "t.state = 'queued' AND t.job = j.id "
                       "ORDER BY t.work DESC, t.page LIMIT 1) AS q, "
                       "(SELECT t.page FROM page_tasks t WHERE "
                       "t.state = 'running' AND t.job = j.id AND "
                       "t.lease_until < ?1 "
                       "ORDER BY t.work DESC, t.page LIMIT 1) AS l, "
                       "(SELECT count(*) FROM page_tasks t WHERE "
                       "t.state = 'running' AND t.job = j.id AND "
                       "t.lease_until >= ?1) AS r, "
                       "(SELECT max(t.work) FROM page_tasks t WHERE "
                       "t.state = 'queued' AND t.job = j.id) AS qw, "
                       "(SELECT max(t.work) FROM page_tasks t WHERE "
                       "t.state = 'running' AND t.job = j.id AND "
                       "t.lease_until < ?1) AS lw "
                       "FROM jobs j WHERE j.state IN ('queued', 'running')) "
                       "SELECT job, coalesce(q, 0), coalesce(l, 0), r, "
                       "coalesce(qw, 0), coalesce(lw, 0) "
                       "FROM cand WHERE q IS NOT NULL OR l IS NOT NULL"},
    [ST_CLAIM_PREV] = {"claim_prev", "SELECT id, state FROM page_tasks "
                                     "WHERE job = ?1 AND page = ?2"},
    [ST_CLAIM_EVENT] = {"claim_event",
                        "INSERT INTO events (at, actor, kind, job, page, "
                        "detail) SELECT ?2, ?3, 'page.reclaimed', job, page, "
                        "'lease of ' || coalesce(lease_owner, '?') || "
                        "' lapsed at attempt ' || attempts "
                        "FROM page_tasks WHERE id = ?1"},
    [ST_CLAIM_TAKE] = {"claim_take",
                       "UPDATE page_tasks SET state = 'running', "
                       "attempts = attempts + 1, lease_owner = ?2, "
                       "lease_until = ?3 WHERE id = ?1"},
    [ST_TASK_GET] = {"task_get", "SELECT " TASK_COLS " WHERE t.id = ?1"},
    [ST_TASK_LIST] = {"task_list",
                      "SELECT " TASK_COLS " WHERE t.job = ?1 ORDER BY t.page"},
    [ST_TASK_FENCE] = {"task_fence",
                       "SELECT t.job, t.page, t.state, t.attempts, "
                       "t.attempts_base, j.state FROM page_tasks t "
                       "JOIN jobs j ON j.id = t.job WHERE t.id = ?1"},
    [ST_TASK_RENEW] = {"task_renew",
                       "UPDATE page_tasks SET lease_until = ?2 WHERE id = ?1"},
    [ST_TASK_DONE] = {"task_done",
                      "UPDATE page_tasks SET state = 'done', width = ?2, "
                      "height = ?3, xres = ?4, yres = ?5, rotation = ?6, "
                      "orient_confidence = ?7, skew = ?8, "
                      "skew_confidence = ?9, blank = ?10, ink_ratio = ?11, "
                      "words = ?12, confidence = ?13, kind = ?14, "
                      "codec = ?15, bytes = ?16, ms_decode = ?17, "
                      "ms_orient = ?18, ms_deskew = ?19, ms_blank = ?20, "
                      "ms_ocr = ?21, ms_encode = ?22, ms_total = ?23, "
                      "image = ?24, text_pdf = ?25, text = ?26, error = NULL, "
                      "lease_until = NULL, finished_at = ?27, orient_osd = "
                      "?28, dpi_fallback = ?29, review = ?30, "
                      "orient_method = ?31, orient_evidence = ?32 "
                      "WHERE id = ?1"},
    [ST_TASK_SET_STATE] = {"task_set_state",
                           "UPDATE page_tasks SET state = ?2, error = ?3, "
                           "lease_owner = NULL, lease_until = NULL "
                           "WHERE id = ?1"},
    [ST_TASK_FAIL_EVENT] = {"task_fail_event",
                            TASK_EVENT "?3, job, page, 'attempt ' || "
                                       "attempts || ': ' || ?4 "
                                       "FROM page_tasks WHERE id = ?1"},
    /* Plain INSERT: a second row for a page is a bug, and fails loudly. */
    [ST_BILLABLE_ADD] = {"billable_add",
                         "INSERT INTO billable_pages (job, page, blank, "
                         "created_at) SELECT job, page, ?2, ?3 "
                         "FROM page_tasks WHERE id = ?1"},
    /* Lease expiry (?1 = now, ?2 = max attempts): events first, then the
     * tasks, both reading the rows before they change. */
    [ST_EXPIRED_EVENTS] = {"expired_events",
                           "INSERT INTO events (at, actor, kind, job, page, "
                           "detail) SELECT ?1, 'catalog', CASE WHEN "
                           "attempts - attempts_base >= ?2 THEN 'page.failed' "
                           "ELSE 'page.requeued' END, job, page, " LEASE_EXPIRED
                           " FROM page_tasks WHERE state = 'running' "
                           "AND lease_until < ?1"},
    [ST_EXPIRED_REQUEUE] = {"expired_requeue",
                            "UPDATE page_tasks SET state = CASE WHEN "
                            "attempts - attempts_base >= ?2 THEN 'failed' "
                            "ELSE 'queued' END, error = " LEASE_EXPIRED
                            ", lease_owner = NULL, lease_until = NULL "
                            "WHERE state = 'running' AND lease_until < ?1"},
    /* A coordinator starting over a catalog only it uses: every running
     * lease belonged to a coordinator that is gone (?1 = now, ?2 = the new
     * coordinator). Same order as above. The page is not at fault: the
     * attempt is refunded (attempts_base + 1) while the fencing token
     * keeps growing, so no restart ever fails a page. */
    [ST_ORPHAN_EVENTS] =
        {"orphan_events",
         "INSERT INTO events (at, actor, kind, job, page, "
         "detail) SELECT ?1, ?2, 'page.requeued', job, "
         "page, " LEASE_ORPHANED
         " FROM page_tasks WHERE state = 'running' AND " ORPHANED},
    [ST_ORPHAN_REQUEUE] = {"orphan_requeue",
                           "UPDATE page_tasks SET state = 'queued', "
                           "attempts_base = attempts_base + 1, "
                           "error = " LEASE_ORPHANED
                           ", lease_owner = NULL, lease_until = NULL "
                           "WHERE state = 'running' AND " ORPHANED},
    /* What a claimed page needs of its job's row (pm_task_t.profile). */
    [ST_JOB_PROFILE] = {"job_profile",
                        "SELECT coalesce(profile, 'default') FROM jobs "
                        "WHERE id = ?1"},
};

const pm__sql_table_t pm__sql_queue = {stmts, ST_COUNT};

_Static_assert(ST_COUNT <= PM__SQL_MAX, "raise PM__SQL_MAX");

#define STMT(cat, i) pm__stmt((cat), PM__SQL_QUEUE, (i))

/* ---- page tasks ---- */

void pm_task_cleanup(pm_task_t *t)
{
    if (t == NULL)
        return;
    pm_free(t->src);
    pm_free(t->sha256);
    pm_free(t->lease_owner);
    pm_free(t->error);
    pm_free(t->kind);
    pm_free(t->codec);
    pm_free(t->image);
    pm_free(t->text_pdf);
    pm_free(t->text);
    pm_free(t->review);
    pm_free(t->orient_method);
    pm_free(t->orient_evidence);
    pm_free(t->profile);
    memset(t, 0, sizeof(*t));
}

static void task_cleanup_v(void *item)
{
    pm_task_cleanup(item);
}

static void read_metrics(sqlite3_stmt *st, pm_page_metrics_t *m)
{
    m->width = sqlite3_column_int(st, 11);
    m->height = sqlite3_column_int(st, 12);
    m->xres = sqlite3_column_int(st, 13);
    m->yres = sqlite3_column_int(st, 14);
    m->rotation = sqlite3_column_int(st, 15);
    m->orient_confidence = sqlite3_column_double(st, 16);
    m->skew = sqlite3_column_double(st, 17);
    m->skew_confidence = sqlite3_column_double(st, 18);
    m->blank = sqlite3_column_int(st, 19);
    m->ink_ratio = sqlite3_column_double(st, 20);
    m->words = sqlite3_column_int(st, 21);
    m->confidence = sqlite3_column_double(st, 22);
    m->bytes = sqlite3_column_int64(st, 25);
    m->ms_decode = sqlite3_column_double(st, 26);
    m->ms_orient = sqlite3_column_double(st, 27);
    m->ms_deskew = sqlite3_column_double(st, 28);
    m->ms_blank = sqlite3_column_double(st, 29);
    m->ms_ocr = sqlite3_column_double(st, 30);
    m->ms_encode = sqlite3_column_double(st, 31);
    m->ms_total = sqlite3_column_double(st, 32);
    m->orient_osd = sqlite3_column_int(st, 37);
    m->dpi_fallback = sqlite3_column_int(st, 38);
}

/* Reads a row of TASK_COLS; t->m's strings point at t's own copies. */
static int read_task(sqlite3_stmt *st, void *item)
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
    state = pm_task_state_parse((const char *)sqlite3_column_text(st, 6));
    if (state < 0)
        return PM_ECATALOG;
    t->id = sqlite3_column_int64(st, 0);
    t->job = sqlite3_column_int64(st, 1);
    t->page = sqlite3_column_int(st, 2);
    t->frame = sqlite3_column_int(st, 4);
    t->state = (pm_task_state_t)state;
    t->attempts = sqlite3_column_int(st, 7);
    t->lease_until = sqlite3_column_int64(st, 9);
    t->finished_at = sqlite3_column_int64(st, 36);
    read_metrics(st, &t->m);
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (pm__sql_col_str(st, strs[i].col, strs[i].dst) != 0) {
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

static int task_get(pm_catalog_t *cat, int64_t id, pm_task_t *out)
{
    sqlite3_stmt *st = STMT(cat, ST_TASK_GET);
    int err;

    if (sqlite3_bind_int64(st, 1, id))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_get_one(cat, st, read_task, out);
    if (err == PM_ENOENT)
        pm__catalog_msg(cat, err, "no page task %lld", (long long)id);
    return err;
}

/* Picks the next claimable (job, page) in fair order, or PM_ENOENT. */
static int claim_pick(pm_catalog_t *cat, int64_t now, int64_t *job, int *page)
{
    sqlite3_stmt *st = STMT(cat, ST_CLAIM_PICK);
    pm_claim_cand_t c, best = {0};
    int rc, found = 0;

    if (sqlite3_bind_int64(st, 1, now))
        return pm__sql_bind_fail(cat, st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        c.job = sqlite3_column_int64(st, 0);
        c.queued_page = sqlite3_column_int(st, 1);
        c.lapsed_page = sqlite3_column_int(st, 2);
        c.running = sqlite3_column_int64(st, 3);
        c.queued_work = sqlite3_column_int64(st, 4);
        c.lapsed_work = sqlite3_column_int64(st, 5);
        if (pm_rules_claim_fairer(&c, found ? &best : NULL)) {
            best = c;
            found = 1;
        }
    }
    if (rc != SQLITE_DONE) {
        rc = pm__sql_fail(cat);
        pm__sql_stmt_done(st);
        return rc;
    }
    pm__sql_stmt_done(st);
    if (!found)
        return pm__catalog_msg(cat, PM_ENOENT, "no page task to claim");
    *job = best.job;
    *page = pm_rules_claim_page(&best);
    return 0;
}

/* Gives (job, page) to `owner`; a lapsed lease taken over is an event. */
static int claim_take(pm_catalog_t *cat, const char *owner, int64_t job,
                      int page, int64_t until, int64_t now, int64_t *id)
{
    sqlite3_stmt *st = STMT(cat, ST_CLAIM_PREV);
    char state[16];
    int err;

    if (sqlite3_bind_int64(st, 1, job) || sqlite3_bind_int(st, 2, page))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_first_row(cat, st);
    if (err <= 0)
        return err == 0
                   ? pm__catalog_msg(cat, PM_ECATALOG, "claimed task vanished")
                   : err;
    *id = sqlite3_column_int64(st, 0);
    pm__sql_col_name(st, 1, state, sizeof(state));
    pm__sql_stmt_done(st);
    if (strcmp(state, "running") == 0) {
        st = STMT(cat, ST_CLAIM_EVENT);
        if (sqlite3_bind_int64(st, 1, *id) || sqlite3_bind_int64(st, 2, now) ||
            pm__sql_bind_text(st, 3, owner))
            return pm__sql_bind_fail(cat, st);
        err = pm__sql_run(cat, st);
        if (err != 0)
            return err;
    }
    st = STMT(cat, ST_CLAIM_TAKE);
    if (sqlite3_bind_int64(st, 1, *id) || pm__sql_bind_text(st, 2, owner) ||
        sqlite3_bind_int64(st, 3, until))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

/* Moves a queued job to running on its first claim. */
static int job_start(pm_catalog_t *cat, int64_t job, const char *owner,
                     int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_START);
    int changes, err;

    if (sqlite3_bind_int64(st, 1, job) || sqlite3_bind_int64(st, 2, now))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_run_changes(cat, st, &changes);
    if (err == 0 && changes > 0)
        err = pm__event_insert(cat, now, owner, "job.started", job, 0, NULL);
    return err;
}

/* The profile of claimed task t's job into t->profile. */
static int claim_profile(pm_catalog_t *cat, pm_task_t *t)
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_PROFILE);
    int err;

    if (sqlite3_bind_int64(st, 1, t->job))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_first_row(cat, st);
    if (err <= 0)
        return err == 0 ? pm__catalog_msg(cat, PM_ECATALOG,
                                          "the job %lld of a claimed page "
                                          "vanished",
                                          (long long)t->job)
                        : err;
    err = pm__sql_col_str(st, 0, &t->profile);
    pm__sql_stmt_done(st);
    return err != 0 ? pm__catalog_msg(cat, PM_ENOMEM, "out of memory") : 0;
}

/* Inside a transaction: claims the next task in fair order into *out,
 * with its job's profile. */
static int claim_one(pm_catalog_t *cat, const char *owner, int lease_s,
                     int64_t now, pm_task_t *out)
{
    int64_t job = 0, id = 0;
    int page = 0, err;

    err = claim_pick(cat, now, &job, &page);
    if (err == 0)
        err = claim_take(cat, owner, job, page, now + lease_s, now, &id);
    if (err == 0)
        err = job_start(cat, job, owner, now);
    if (err == 0)
        err = task_get(cat, id, out);
    if (err == 0)
        err = claim_profile(cat, out);
    if (err != 0)
        pm_task_cleanup(out); /* what task_get filled, for every caller */
    return err;
}

int pm__sqlite_task_claim(pm_catalog_t *cat, const char *owner, int lease_s,
                          int64_t now, pm_task_t *out)
{
    int err;

    memset(out, 0, sizeof(*out));
    if (owner == NULL || lease_s <= 0)
        return pm__catalog_msg(cat, PM_EINVAL,
                               "a claim needs an owner and a lease");
    err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    err = pm__sql_tx_end(cat, claim_one(cat, owner, lease_s, now, out));
    if (err != 0)
        pm_task_cleanup(out);
    return err;
}

/* SQLite has one writer at a time: the claims one after the other in one
 * transaction are exactly `max` claims in a row. */
int pm__sqlite_task_claim_n(pm_catalog_t *cat, const char *owner, int lease_s,
                            int64_t now, size_t max, pm_task_t **out, size_t *n)
{
    pm_task_t *v;
    size_t k = 0;
    int err;

    *out = NULL;
    *n = 0;
    if (owner == NULL || lease_s <= 0 || max == 0)
        return pm__catalog_msg(cat, PM_EINVAL,
                               "a claim needs an owner, a lease and a count");
    v = pm_calloc(max, sizeof(*v));
    if (v == NULL)
        return pm__catalog_msg(cat, PM_ENOMEM, "out of memory");
    err = pm__sql_tx_begin(cat);
    while (err == 0 && k < max &&
           (err = claim_one(cat, owner, lease_s, now, &v[k])) == 0)
        k++;
    if (err == PM_ENOENT && k > 0)
        err = 0; /* fewer than asked for */
    err = pm__sql_tx_end(cat, err);
    if (err != 0) {
        pm_task_list_free(v, k);
        return err;
    }
    *out = v;
    *n = k;
    return 0;
}

/* What the fence read about a task. */
typedef struct {
    int64_t job;
    int page, attempts, base;
} fence_t;

/* Inside a transaction: 0 when task `id` is running under `attempt` in a
 * running job, -ESTALE when it is not ours any more, PM_ENOENT if there
 * is no such task. */
static int task_fence(pm_catalog_t *cat, int64_t id, int attempt, fence_t *f)
{
    sqlite3_stmt *st = STMT(cat, ST_TASK_FENCE);
    char state[16], job_state[16];
    int err;

    if (sqlite3_bind_int64(st, 1, id))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_first_row(cat, st);
    if (err <= 0)
        return err == 0 ? pm__catalog_msg(cat, PM_ENOENT, "no page task %lld",
                                          (long long)id)
                        : err;
    f->job = sqlite3_column_int64(st, 0);
    f->page = sqlite3_column_int(st, 1);
    pm__sql_col_name(st, 2, state, sizeof(state));
    f->attempts = sqlite3_column_int(st, 3);
    f->base = sqlite3_column_int(st, 4);
    pm__sql_col_name(st, 5, job_state, sizeof(job_state));
    pm__sql_stmt_done(st);
    switch (pm_rules_fence(pm_task_state_parse(state), f->attempts, attempt,
                           pm_job_state_parse(job_state))) {
    case PM_FENCE_OK:
        return 0;
    case PM_FENCE_STALE:
        return pm__catalog_msg(
            cat, -ESTALE,
            "job %lld page %d: attempt %d is stale (the page is "
            "%s at attempt %d)",
            (long long)f->job, f->page, attempt, state, f->attempts);
    case PM_FENCE_JOB_STOPPED:
        break;
    }
    return pm__catalog_msg(cat, -ESTALE, "job %lld page %d: the job is %s",
                           (long long)f->job, f->page, job_state);
}

int pm__sqlite_task_renew(pm_catalog_t *cat, int64_t id, int attempt,
                          int lease_s, int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_TASK_RENEW);
    fence_t f;
    int err;

    if (lease_s <= 0)
        return pm__catalog_msg(cat, PM_EINVAL, "a lease must be positive");
    err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    err = task_fence(cat, id, attempt, &f);
    if (err == 0) {
        if (sqlite3_bind_int64(st, 1, id) ||
            sqlite3_bind_int64(st, 2, now + lease_s))
            err = pm__sql_bind_fail(cat, st);
        else
            err = pm__sql_run(cat, st);
    }
    return pm__sql_tx_end(cat, err);
}

int pm__sqlite_task_renew_n(pm_catalog_t *cat, pm_lease_t *v, size_t n,
                            int lease_s, int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_TASK_RENEW);
    fence_t f;
    int err;

    if (lease_s <= 0 || (v == NULL && n > 0))
        return pm__catalog_msg(cat, PM_EINVAL, "a lease must be positive");
    err = pm__sql_tx_begin(cat);
    for (size_t i = 0; err == 0 && i < n; i++) {
        v[i].ok = 0;
        err = task_fence(cat, v[i].task, v[i].attempt, &f);
        if (err == -ESTALE || err == PM_ENOENT) {
            err = 0; /* not ours any more */
            continue;
        }
        if (err == 0 && (sqlite3_bind_int64(st, 1, v[i].task) ||
                         sqlite3_bind_int64(st, 2, now + lease_s)))
            err = pm__sql_bind_fail(cat, st);
        else if (err == 0)
            err = pm__sql_run(cat, st);
        v[i].ok = err == 0;
    }
    err = pm__sql_tx_end(cat, err);
    for (size_t i = 0; err != 0 && i < n; i++)
        v[i].ok = 0;
    return err;
}

static int bind_metrics(sqlite3_stmt *st, const pm_page_metrics_t *m)
{
    return sqlite3_bind_int(st, 2, m->width) ||
           sqlite3_bind_int(st, 3, m->height) ||
           sqlite3_bind_int(st, 4, m->xres) ||
           sqlite3_bind_int(st, 5, m->yres) ||
           sqlite3_bind_int(st, 6, m->rotation) ||
           sqlite3_bind_double(st, 7, m->orient_confidence) ||
           sqlite3_bind_double(st, 8, m->skew) ||
           sqlite3_bind_double(st, 9, m->skew_confidence) ||
           sqlite3_bind_int(st, 10, m->blank != 0) ||
           sqlite3_bind_double(st, 11, m->ink_ratio) ||
           sqlite3_bind_int(st, 12, m->words) ||
           sqlite3_bind_double(st, 13, m->confidence) ||
           pm__sql_bind_text(st, 14, m->kind) ||
           pm__sql_bind_text(st, 15, m->codec) ||
           sqlite3_bind_int64(st, 16, m->bytes) ||
           sqlite3_bind_double(st, 17, m->ms_decode) ||
           sqlite3_bind_double(st, 18, m->ms_orient) ||
           sqlite3_bind_double(st, 19, m->ms_deskew) ||
           sqlite3_bind_double(st, 20, m->ms_blank) ||
           sqlite3_bind_double(st, 21, m->ms_ocr) ||
           sqlite3_bind_double(st, 22, m->ms_encode) ||
           sqlite3_bind_double(st, 23, m->ms_total) ||
           pm__sql_bind_text(st, 24, m->image) ||
           pm__sql_bind_text(st, 25, m->text_pdf) ||
           pm__sql_bind_text(st, 26, m->text);
}

static int task_done(pm_catalog_t *cat, int64_t id, const pm_page_metrics_t *m,
                     int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_TASK_DONE);

    if (sqlite3_bind_int64(st, 1, id) || bind_metrics(st, m) ||
        sqlite3_bind_int64(st, 27, now) ||
        sqlite3_bind_int(st, 28, m->orient_osd != 0) ||
        sqlite3_bind_int(st, 29, m->dpi_fallback) ||
        pm__sql_bind_text(st, 30, m->review) ||
        pm__sql_bind_text(st, 31, m->orient_method) ||
        pm__sql_bind_text(st, 32, m->orient_evidence))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

static int billable_add(pm_catalog_t *cat, int64_t id, int blank, int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_BILLABLE_ADD);

    if (sqlite3_bind_int64(st, 1, id) || sqlite3_bind_int(st, 2, blank) ||
        sqlite3_bind_int64(st, 3, now))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

int pm__sqlite_task_complete(pm_catalog_t *cat, int64_t id, int attempt,
                             const pm_page_metrics_t *m, int64_t now)
{
    fence_t f;
    int err;

    if (m == NULL)
        return pm__catalog_msg(cat, PM_EINVAL,
                               "a completed page needs metrics");
    err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    err = task_fence(cat, id, attempt, &f);
    if (err == 0)
        err = task_done(cat, id, m, now);
    if (err == 0)
        err = billable_add(cat, id, m->blank != 0, now);
    if (err == -EEXIST)
        pm__catalog_msg(cat, err, "job %lld page %d is billed already",
                        (long long)f.job, f.page);
    return pm__sql_tx_end(cat, err);
}

/* One writer: the completions one after the other, each its own
 * transaction. */
int pm__sqlite_task_complete_n(pm_catalog_t *cat, pm_completion_t *v, size_t n,
                               int64_t now)
{
    if (v == NULL && n > 0)
        return pm__catalog_msg(cat, PM_EINVAL, "no completions");
    for (size_t i = 0; i < n; i++)
        v[i].err =
            pm__sqlite_task_complete(cat, v[i].task, v[i].attempt, v[i].m, now);
    return 0;
}

/* Records a failed attempt: an event, then queued or failed. */
static int task_give_up(pm_catalog_t *cat, int64_t id, int final,
                        const char *why, int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_TASK_FAIL_EVENT);
    int err;

    if (sqlite3_bind_int64(st, 1, id) || sqlite3_bind_int64(st, 2, now) ||
        pm__sql_bind_text(st, 3, final ? "page.failed" : "page.requeued") ||
        pm__sql_bind_text(st, 4, why))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_run(cat, st);
    if (err != 0)
        return err;
    st = STMT(cat, ST_TASK_SET_STATE);
    if (sqlite3_bind_int64(st, 1, id) ||
        pm__sql_bind_text(st, 2, final ? "failed" : "queued") ||
        pm__sql_bind_text(st, 3, why))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

int pm__sqlite_task_fail(pm_catalog_t *cat, int64_t id, int attempt,
                         const char *why, int max_attempts, int64_t now)
{
    fence_t f;
    int err;

    if (max_attempts < 1)
        return pm__catalog_msg(cat, PM_EINVAL,
                               "max_attempts must be at least 1");
    if (why == NULL)
        why = "unknown error";
    err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    err = task_fence(cat, id, attempt, &f);
    if (err == 0)
        err = task_give_up(
            cat, id, pm_rules_attempts_spent(f.attempts, f.base, max_attempts),
            why, now);
    return pm__sql_tx_end(cat, err);
}

int pm__sqlite_task_requeue_expired(pm_catalog_t *cat, int64_t now,
                                    int max_attempts, int *n)
{
    sqlite3_stmt *st;
    int i, err;

    *n = 0;
    if (max_attempts < 1)
        return pm__catalog_msg(cat, PM_EINVAL,
                               "max_attempts must be at least 1");
    err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    for (i = ST_EXPIRED_EVENTS; err == 0 && i <= ST_EXPIRED_REQUEUE; i++) {
        st = STMT(cat, i);
        if (sqlite3_bind_int64(st, 1, now) ||
            sqlite3_bind_int(st, 2, max_attempts))
            err = pm__sql_bind_fail(cat, st);
        else
            err = pm__sql_run_changes(cat, st, n);
    }
    err = pm__sql_tx_end(cat, err);
    if (err != 0)
        *n = 0;
    return err;
}

int pm__sqlite_task_requeue_all_running(pm_catalog_t *cat, const char *actor,
                                        int64_t now, int *n)
{
    sqlite3_stmt *st = STMT(cat, ST_ORPHAN_EVENTS);
    int err;

    *n = 0;
    if (actor == NULL)
        return pm__catalog_msg(cat, PM_EINVAL, "requeue needs an actor");
    err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    if (sqlite3_bind_int64(st, 1, now) || pm__sql_bind_text(st, 2, actor))
        err = pm__sql_bind_fail(cat, st);
    else
        err = pm__sql_run(cat, st);
    if (err == 0)
        err = pm__sql_run_changes(cat, STMT(cat, ST_ORPHAN_REQUEUE), n);
    err = pm__sql_tx_end(cat, err);
    if (err != 0)
        *n = 0;
    return err;
}

int pm__sqlite_task_list(pm_catalog_t *cat, int64_t job, pm_task_t **out,
                         size_t *n)
{
    sqlite3_stmt *st = STMT(cat, ST_TASK_LIST);

    *out = NULL;
    *n = 0;
    if (sqlite3_bind_int64(st, 1, job))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_collect(cat, st, sizeof(pm_task_t), read_task,
                           task_cleanup_v, (void **)out, n);
}

void pm_task_list_free(pm_task_t *v, size_t n)
{
    pm__sql_free_items(v, n, sizeof(*v), task_cleanup_v);
}
