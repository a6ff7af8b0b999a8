/*
 * pg_queue.c: the queue in the PostgreSQL backend: page tasks, the fair
 * claim, leases and fencing, completion with its billable row, failures,
 * requeues. The same contract and rules (catalog/rules.h) as
 * sqlite_queue.c; what differs is that many claimers may run at once.
 *
 * A claim is one statement for up to n pages (ST_CLAIM_N): the fair
 * order of rules.h (pm_rules_claim_fairer, pm_rules_page_first) written
 * over pages, each candidate locked with FOR UPDATE SKIP LOCKED, so a
 * page another session is claiming is skipped, never waited for.
 * test_claim_n checks it takes what rules.c's order takes on SQLite.
 * Completing is one statement too, its fence checked against
 * pm_rules_fence; failing and renewing lock the task's row before the
 * fence reads it, so a result and a reclaim never both win. The fencing
 * token is page_tasks.attempts, as in SQLite.
 */
#include <assert.h>
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
    ST_CLAIM_N,
    ST_CLAIMABLE,
    ST_TASK_LIST,
    ST_TASK_FENCE,
    ST_TASK_RENEW,
    ST_TASK_RENEW_N,
    ST_TASK_COMPLETE,
    ST_TASK_SET_STATE,
    ST_TASK_FAIL_EVENT,
    ST_EXPIRED,
    ST_ORPHANED,
    ST_COUNT
};

#define TASK_FIELDS                                                        \
    "t.id, t.job, t.page, t.src, t.frame, t.sha256, t.state, t.attempts, " \
    "t.lease_owner, coalesce(t.lease_until, 0), t.error, t.width, "        \
    "t.height, t.xres, t.yres, t.rotation, t.orient_confidence, t.skew, "  \
    "t.skew_confidence, t.blank, t.ink_ratio, t.words, t.confidence, "     \
    "t.kind, t.codec, t.bytes, t.ms_decode, t.ms_orient, t.ms_deskew, "    \
    "t.ms_blank, t.ms_ocr, t.ms_encode, t.ms_total, t.image, t.text_pdf, " \
    "t.text, coalesce(t.finished_at, 0), coalesce(t.orient_osd, 0), "      \
    "coalesce(t.dpi_fallback, 0), t.review, t.orient_method, "             \
    "t.orient_evidence"
#define TASK_COLS TASK_FIELDS " FROM page_tasks t"

/* A page that may be claimed at $1 (now): queued, or running under a
 * lapsed lease. */
#define CLAIMABLE                                                      \
    "(t.state = 'queued' OR (t.state = 'running' AND t.lease_until < " \
    "$1::bigint))"

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
    /*
     * The claim, in one statement ($1 = now, $2 = owner, $3 = the lease's
     * end, $4 = how many, $5 = candidates wanted). The fair order of
     * pm_rules_claim_fairer over pages, not just jobs: the k-th page
     * (pm_rules_page_first's order) of a job with r pages running is
     * claimed at level r + k, and claims in a row take the lowest level,
     * then the oldest job; so the first $4 candidates by (level, job,
     * rank) are what $4 claims in a row would take. Only the jobs with a
     * claimable page count (act, their running pages counted once), and
     * only their candidates up to level l, the lowest level at which the
     * jobs offer $5 candidates if each has enough pages (lim: over the
     * jobs by r, the i-th bounds l at (N + the sum of their r) / i); so
     * a job offers at most l - r of its first pages, each a seek in
     * page_tasks_work (queued, then lapsed, merged), and a claim reads
     * about $5 pages however many jobs are active. Every candidate below
     * l is among them, so what is taken is a prefix of the fair order;
     * cut says a job had more (pm__pg_task_claim_n claims the rest with
     * another statement). The pages another session holds are skipped
     * (SKIP LOCKED) and the next ones taken. The locked rows are
     * re-checked (still claimable) and read from there on, never from
     * the statement's snapshot. Then a lapsed lease taken over is an
     * event, the pages are taken (the attempt, the fencing token, grows),
     * queued jobs start (their rows locked in id order, so two claims
     * never deadlock on them) with an event, and the tasks come back in
     * claim order, with cut and the job's profile (what the page needs
     * of the job's row, so the claimer reads none).
     */
    [ST_CLAIM_N] =
        {"claim_n",
         "WITH act AS MATERIALIZED (SELECT j.id AS job, (SELECT count(*) "
         "FROM page_tasks t WHERE t.state = 'running' AND t.job = j.id AND "
         "t.lease_until >= $1::bigint) AS r FROM jobs j WHERE j.state IN "
         "('queued', 'running') AND (EXISTS (SELECT 1 FROM page_tasks t "
         "WHERE t.state = 'queued' AND t.job = j.id) OR EXISTS (SELECT 1 "
         "FROM page_tasks t WHERE t.state = 'running' AND t.job = j.id AND "
         "t.lease_until < $1::bigint))), "
         "ord AS (SELECT r, row_number() OVER w AS i, sum(r) OVER w AS s "
         "FROM act WINDOW w AS (ORDER BY r, job)), "
         "lim AS (SELECT min(greatest(r + 1, ceil(($5::bigint + s) / "
         "i)))::bigint AS l FROM ord), "
         "dep AS (SELECT a.job, a.r, least($5::bigint, greatest(0, m.l - "
         "a.r)) AS d FROM act a, lim m), "
         "cand AS (SELECT c.id, a.job, a.r + c.rn AS lvl, c.rn, a.d FROM dep "
         "a CROSS JOIN LATERAL (SELECT u.id, row_number() OVER (ORDER BY "
         "u.work DESC, u.page) AS rn FROM ((SELECT t.id, t.work, t.page FROM "
         "page_tasks t WHERE t.state = 'queued' AND t.job = a.job ORDER BY "
         "t.work DESC, t.page LIMIT a.d) UNION ALL (SELECT t.id, t.work, "
         "t.page FROM page_tasks t WHERE t.state = 'running' AND t.job = "
         "a.job AND t.lease_until < $1::bigint ORDER BY t.work DESC, t.page "
         "LIMIT a.d)) u ORDER BY u.work DESC, u.page LIMIT a.d) c WHERE a.d "
         "> 0), "
         "cut AS (SELECT EXISTS (SELECT 1 FROM dep WHERE d = 0) OR EXISTS "
         "(SELECT 1 FROM cand WHERE rn = d AND d < $5::bigint) AS v), "
         "pick AS (SELECT t.id, t.job, t.page, t.state, t.lease_owner, "
         "t.attempts, c.lvl, c.rn FROM page_tasks t JOIN cand c ON c.id = "
         "t.id WHERE " CLAIMABLE " ORDER BY c.lvl, c.job, c.rn LIMIT "
         "$4::bigint FOR UPDATE OF t SKIP LOCKED), "
         "ev AS (INSERT INTO events (at, actor, kind, job, page, detail) "
         "SELECT $1::bigint, $2, 'page.reclaimed', job, page, 'lease of ' "
         "|| coalesce(lease_owner, '?') || ' lapsed at attempt ' || "
         "attempts FROM pick WHERE state = 'running' ORDER BY lvl, job, rn), "
         "take AS (UPDATE page_tasks t SET state = 'running', attempts = "
         "t.attempts + 1, lease_owner = $2, lease_until = $3::bigint FROM "
         "pick p WHERE t.id = p.id RETURNING t.*), "
         "js AS (UPDATE jobs j SET state = 'running', updated_at = "
         "$1::bigint FROM (SELECT id FROM jobs WHERE id IN (SELECT job FROM "
         "pick) AND state = 'queued' ORDER BY id FOR UPDATE) q WHERE j.id = "
         "q.id RETURNING j.id), "
         "jev AS (INSERT INTO events (at, actor, kind, job, detail) SELECT "
         "$1::bigint, $2, 'job.started', id, NULL FROM js ORDER BY id) "
         "SELECT " TASK_FIELDS ", (SELECT v FROM cut), (SELECT "
         "coalesce(j.profile, 'default') FROM jobs j WHERE j.id = t.job) "
         "FROM take t JOIN pick p ON p.id = t.id ORDER BY p.lvl, p.job, "
         "p.rn"},
    /* Whether anything is claimable at $1 (after a claim that found all
     * of it held by other sessions). */
    [ST_CLAIMABLE] = {"claimable",
                      "SELECT EXISTS (SELECT 1 FROM page_tasks t JOIN jobs j "
                      "ON j.id = t.job WHERE j.state IN ('queued', "
                      "'running') AND " CLAIMABLE ")"},
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
    /* Every lease of $1 (task ids) held by the attempts of $2 renewed
     * until $3, fenced like task_fence (pm_rules_fence: the task running
     * at that attempt in a running job); the rows renewed come back. */
    [ST_TASK_RENEW_N] = {"task_renew_n",
                         "UPDATE page_tasks t SET lease_until = $3::bigint "
                         "FROM unnest($1::bigint[], $2::bigint[]) AS "
                         "r(id, attempt), jobs j WHERE t.id = r.id AND "
                         "t.attempts = r.attempt AND t.state = 'running' "
                         "AND j.id = t.job AND j.state = 'running' "
                         "RETURNING t.id"},
    /*
     * A page's completion in one statement ($1 = task, $33 = attempt):
     * the fence locks the task's row and reads it (the newest version,
     * not the snapshot's), the page is marked done with its metrics only
     * when pm_rules_fence would allow it (running at that attempt in a
     * running job), and its billable row follows in the same statement:
     * both or neither. The fence's row and whether the page was billed
     * come back. A second billable row for a page fails the statement
     * (primary key): nothing is written.
     */
    [ST_TASK_COMPLETE] =
        {"task_complete",
         "WITH f AS (SELECT t.id, t.job, t.page, t.state, t.attempts, "
         "j.state AS job_state FROM page_tasks t JOIN jobs j ON j.id = t.job "
         "WHERE t.id = $1::bigint FOR UPDATE OF t), "
         "d AS (UPDATE page_tasks SET state = 'done', width = $2::bigint, "
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
         "orient_evidence = $32 WHERE id IN (SELECT id FROM f WHERE state = "
         "'running' AND attempts = $33::bigint AND job_state = 'running') "
         "RETURNING job, page), "
         "b AS (INSERT INTO billable_pages (job, page, blank, created_at) "
         "SELECT job, page, $10::bigint, $27::bigint FROM d RETURNING 1) "
         "SELECT job, page, state, attempts, job_state, (SELECT count(*) "
         "FROM b) FROM f"},
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

/* Candidates per job a claim of `max` pages looks at: enough to skip the
 * pages other sessions are claiming at the same moment. */
static int64_t claim_per_job(size_t max)
{
    return (int64_t)max * 2 + 8;
}

/* Times a claim that found every claimable page held by other sessions
 * tries again before it says there is nothing (they commit in a moment). */
#define CLAIM_TRIES 5

/* 1 when some page is claimable at `now`, 0 when none, or an error. */
static int claimable(pm__pg_t *pg, int64_t now)
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    pm__pg_int(&p, now);
    err = pm__pg_run(pg, PM__PG_QUEUE, ST_CLAIMABLE, &p, &r);
    if (err != 0)
        return err;
    err = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return err;
}

/* The column of claim_n's rows saying whether the claim looked only at
 * the lowest levels (after TASK_FIELDS). */
#define CLAIM_CUT_COL 42
/* The column of claim_n's rows holding the job's profile. */
#define CLAIM_PROFILE_COL 43

/* Reads a row of claim_n: the task and its job's profile. */
static int read_claimed(const PGresult *r, int row, void *item)
{
    pm_task_t *t = item;
    int err = read_task(r, row, item);

    if (err == 0 && pm__pg_str(r, row, CLAIM_PROFILE_COL, &t->profile) != 0) {
        pm_task_cleanup(t);
        err = PM_ENOMEM;
    }
    return err;
}

/* Appends the k tasks of v to *out (*n of them so far); frees v. */
static int claim_append(pm__pg_t *pg, pm_task_t *v, size_t k, pm_task_t **out,
                        size_t *n)
{
    pm_task_t *all;

    if (*n == 0 || k == 0) {
        if (*n == 0) {
            *out = v;
            *n = k;
        }
        return 0;
    }
    all = pm_realloc(*out, (*n + k) * sizeof(*all));
    if (all == NULL) {
        pm_task_list_free(v, k);
        return pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    }
    memcpy(all + *n, v, k * sizeof(*v));
    pm_free(v); /* the strings moved */
    *out = all;
    *n += k;
    return 0;
}

/* The parameters of a claim statement (ST_CLAIM_N) of up to `max`. */
static void claim_params(pm__pg_params_t *p, const char *owner, int lease_s,
                         int64_t now, size_t max)
{
    pm__pg_int(p, now);
    pm__pg_text(p, owner);
    pm__pg_int(p, now + lease_s);
    pm__pg_int(p, (int64_t)max);
    pm__pg_int(p, claim_per_job(max));
}

/* Sends prepared statement `st` with `p` (pipeline mode). */
static int send_stmt(pm__pg_t *pg, int st, const pm__pg_params_t *p)
{
    if (PQsendQueryPrepared(pg->conn, stmts[st].name, p->n, p->v, NULL, NULL,
                            0) != 1)
        return pm__pg_msg(pg, PM_ECATALOG, "sending %s: %s", stmts[st].name,
                          PQerrorMessage(pg->conn));
    return 0;
}

/* Sends a Sync (pipeline mode). */
static int send_sync(pm__pg_t *pg)
{
    if (PQpipelineSync(pg->conn) != 1)
        return pm__pg_msg(pg, PM_ECATALOG, "sending a sync: %s",
                          PQerrorMessage(pg->conn));
    return 0;
}

int pm__pg_claim_send(pm__pg_t *pg, const char *owner, int lease_s, int64_t now,
                      size_t max)
{
    pm__pg_params_t p = {.n = 0};

    if (owner == NULL || lease_s <= 0 || max == 0 || max > INT32_MAX)
        return pm__pg_msg(pg, PM_EINVAL,
                          "a claim needs an owner, a lease and a count");
    claim_params(&p, owner, lease_s, now, max);
    return send_stmt(pg, ST_CLAIM_N, &p) != 0 ? PM_ECATALOG : send_sync(pg);
}

int pm__pg_claim_read(pm__pg_t *pg, PGresult *r, pm_task_t **out, size_t *n,
                      int *cut)
{
    pm_task_t *v = NULL;
    size_t k = 0;
    int err;

    assert(PQntuples(r) == 0 || PQnfields(r) == CLAIM_PROFILE_COL + 1);
    *cut =
        PQntuples(r) > 0 && strcmp(PQgetvalue(r, 0, CLAIM_CUT_COL), "t") == 0;
    err = pm__pg_collect(pg, r, sizeof(pm_task_t), read_claimed, task_cleanup_v,
                         (void **)&v, &k);
    if (err != 0)
        return err;
    return claim_append(pg, v, k, out, n);
}

/* One claim statement of up to `max` pages: its tasks appended to *out
 * (*n of them so far); *cut is 1 when it looked only at the candidates of
 * the lowest levels and some job had more. */
static int claim_once(pm__pg_t *pg, const char *owner, int lease_s, int64_t now,
                      size_t max, pm_task_t **out, size_t *n, int *cut)
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    claim_params(&p, owner, lease_s, now, max);
    err = pm__pg_run(pg, PM__PG_QUEUE, ST_CLAIM_N, &p, &r);
    if (err != 0)
        return err;
    return pm__pg_claim_read(pg, r, out, n, cut);
}

/* Statements one claim runs at most: rounds for the rest of a claim
 * whose statement looked only at the lowest levels, and tries of one
 * that found every candidate held by other sessions. */
#define CLAIM_ROUNDS 8

/*
 * A claim of `max` pages: claim_n takes the first pages of the fair
 * order among the candidates of the lowest levels; when that was fewer
 * than `max` and some job had more candidates, the next statement takes
 * the rest (one claim after another takes what one claim would). A
 * claim that found nothing because other sessions hold every candidate
 * tries again: they commit in a moment.
 */
int pm__pg_task_claim_n(pm_catalog_t *cat, const char *owner, int lease_s,
                        int64_t now, size_t max, pm_task_t **out, size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    int err = 0, cut = 0, round, tries = 0;

    *out = NULL;
    *n = 0;
    if (owner == NULL || lease_s <= 0 || max == 0 || max > INT32_MAX)
        return pm__pg_msg(pg, PM_EINVAL,
                          "a claim needs an owner, a lease and a count");
    for (round = 0; round < CLAIM_ROUNDS && *n < max; round++) {
        size_t before = *n;

        err = claim_once(pg, owner, lease_s, now, max - *n, out, n, &cut);
        if (err != 0 || (*n > before && !cut) || (*n == before && *n > 0))
            break;
        if (*n > before)
            continue;
        err = claimable(pg, now); /* none taken, none before */
        if (err <= 0 || ++tries >= CLAIM_TRIES)
            break;
    }
    if (*n > 0)
        return 0; /* taken, leased and committed: the caller's */
    if (err < 0)
        return err;
    return pm__pg_msg(pg, PM_ENOENT,
                      err == 0 ? "no page task to claim"
                               : "every claimable page task is being "
                                 "claimed by another session");
}

int pm__pg_task_claim(pm_catalog_t *cat, const char *owner, int lease_s,
                      int64_t now, pm_task_t *out)
{
    pm_task_t *v = NULL;
    size_t n = 0;
    int err;

    memset(out, 0, sizeof(*out));
    err = pm__pg_task_claim_n(cat, owner, lease_s, now, 1, &v, &n);
    if (err != 0)
        return err;
    assert(n == 1);
    *out = v[0]; /* the strings move with it */
    pm_free(v);
    return 0;
}

/* What the fence read about a task. */
typedef struct {
    int64_t job;
    int page, attempts, base;
    char state[16], job_state[16];
} fence_t;

/* pm_rules_fence on what the fence read: 0 when the task is running
 * under `attempt` in a running job, else -ESTALE with the reason. */
static int fence_verdict(pm__pg_t *pg, const fence_t *f, int attempt)
{
    switch (pm_rules_fence(pm_task_state_parse(f->state), f->attempts, attempt,
                           pm_job_state_parse(f->job_state))) {
    case PM_FENCE_OK:
        return 0;
    case PM_FENCE_STALE:
        return pm__pg_msg(pg, -ESTALE,
                          "job %lld page %d: attempt %d is stale (the page is "
                          "%s at attempt %d)",
                          (long long)f->job, f->page, attempt, f->state,
                          f->attempts);
    case PM_FENCE_JOB_STOPPED:
        break;
    }
    return pm__pg_msg(pg, -ESTALE, "job %lld page %d: the job is %s",
                      (long long)f->job, f->page, f->job_state);
}

/* Inside a transaction: locks task `id`; 0 when it is running under
 * `attempt` in a running job, -ESTALE when it is not ours any more,
 * PM_ENOENT if there is no such task. */
static int fence_read(pm__pg_t *pg, PGresult *r, int64_t id, int attempt,
                      fence_t *f)
{
    if (PQntuples(r) == 0) {
        PQclear(r);
        return pm__pg_msg(pg, PM_ENOENT, "no page task %lld", (long long)id);
    }
    f->job = pm__pg_int64(r, 0, 0);
    f->page = (int)pm__pg_int64(r, 0, 1);
    snprintf(f->state, sizeof(f->state), "%s", PQgetvalue(r, 0, 2));
    f->attempts = (int)pm__pg_int64(r, 0, 3);
    f->base = (int)pm__pg_int64(r, 0, 4);
    snprintf(f->job_state, sizeof(f->job_state), "%s", PQgetvalue(r, 0, 5));
    PQclear(r);
    return fence_verdict(pg, f, attempt);
}

static int task_fence(pm__pg_t *pg, int64_t id, int attempt, fence_t *f)
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    pm__pg_int(&p, id);
    err = pm__pg_run(pg, PM__PG_QUEUE, ST_TASK_FENCE, &p, &r);
    if (err != 0)
        return err;
    return fence_read(pg, r, id, attempt, f);
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

/* The arrays of leases v[0..n) ("{1,2}"), task ids and attempts, into
 * *ids and *attempts (the caller frees both). */
static int renew_n_arrays(pm__pg_t *pg, const pm_lease_t *v, size_t n,
                          char **ids, char **attempts)
{
    size_t i, size = n * 24 + 3;
    int k;

    *ids = pm_malloc(size);
    *attempts = pm_malloc(size);
    if (*ids == NULL || *attempts == NULL)
        return pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    for (i = 0, k = 0; i < n; i++) /* "{1,2}": fits in size */
        k += snprintf(*ids + k, size - (size_t)k, "%s%lld", i ? "," : "{",
                      (long long)v[i].task);
    for (i = 0, k = 0; i < n; i++)
        k += snprintf(*attempts + k, size - (size_t)k, "%s%d", i ? "," : "{",
                      v[i].attempt);
    strcat(*ids, "}");
    strcat(*attempts, "}");
    return 0;
}

/* Runs (out non-NULL) or sends (pipeline mode) the renewal of v[0..n),
 * n > 0. */
static int renew_n_stmt(pm__pg_t *pg, const pm_lease_t *v, size_t n,
                        int lease_s, int64_t now, PGresult **out)
{
    pm__pg_params_t p = {.n = 0};
    char *ids = NULL, *attempts = NULL;
    int err = renew_n_arrays(pg, v, n, &ids, &attempts);

    if (err == 0) {
        pm__pg_text(&p, ids);
        pm__pg_text(&p, attempts);
        pm__pg_int(&p, now + lease_s);
        if (out != NULL)
            err = pm__pg_run(pg, PM__PG_QUEUE, ST_TASK_RENEW_N, &p, out);
        else if ((err = send_stmt(pg, ST_TASK_RENEW_N, &p)) == 0)
            err = send_sync(pg);
    }
    pm_free(ids);
    pm_free(attempts);
    return err;
}

int pm__pg_renew_n_send(pm__pg_t *pg, pm_lease_t *v, size_t n, int lease_s,
                        int64_t now)
{
    assert(n > 0 && lease_s > 0);
    for (size_t i = 0; i < n; i++)
        v[i].ok = 0;
    return renew_n_stmt(pg, v, n, lease_s, now, NULL);
}

void pm__pg_renew_n_read(PGresult *r, pm_lease_t *v, size_t n)
{
    for (int k = 0; k < PQntuples(r); k++)
        for (size_t i = 0; i < n; i++)
            if (v[i].task == pm__pg_int64(r, k, 0))
                v[i].ok = 1;
    PQclear(r);
}

int pm__pg_task_renew_n(pm_catalog_t *cat, pm_lease_t *v, size_t n, int lease_s,
                        int64_t now)
{
    pm__pg_t *pg = pm__pg(cat);
    PGresult *r = NULL;
    size_t i;
    int err;

    if (lease_s <= 0 || (v == NULL && n > 0))
        return pm__pg_msg(pg, PM_EINVAL, "a lease must be positive");
    for (i = 0; i < n; i++)
        v[i].ok = 0;
    if (n == 0)
        return 0;
    err = renew_n_stmt(pg, v, n, lease_s, now, &r);
    if (err == 0)
        pm__pg_renew_n_read(r, v, n);
    return err;
}

/* The parameters of the completion of task `id` at `attempt`. */
static void complete_params(pm__pg_params_t *p, int64_t id, int attempt,
                            const pm_page_metrics_t *m, int64_t now)
{
    pm__pg_int(p, id);
    pm__pg_metrics(p, m);
    pm__pg_int(p, now);
    pm__pg_metrics_review(p, m);
    pm__pg_int(p, attempt);
}

/* What a completion's statement (ST_TASK_COMPLETE) of task `id` at
 * `attempt` decided, from its rows `r` (cleared here), checked against
 * pm_rules_fence. */
static int complete_verdict(pm__pg_t *pg, PGresult *r, int64_t id, int attempt)
{
    fence_t f = {0};
    int64_t billed;
    int err;

    if (PQntuples(r) == 0) {
        PQclear(r);
        return pm__pg_msg(pg, PM_ENOENT, "no page task %lld", (long long)id);
    }
    f.job = pm__pg_int64(r, 0, 0);
    f.page = (int)pm__pg_int64(r, 0, 1);
    snprintf(f.state, sizeof(f.state), "%s", PQgetvalue(r, 0, 2));
    f.attempts = (int)pm__pg_int64(r, 0, 3);
    snprintf(f.job_state, sizeof(f.job_state), "%s", PQgetvalue(r, 0, 4));
    billed = pm__pg_int64(r, 0, 5);
    PQclear(r);
    err = fence_verdict(pg, &f, attempt);
    if ((err == 0) != (billed == 1))
        return pm__pg_msg(pg, PM_ECATALOG,
                          "job %lld page %d: the completion and the fence "
                          "disagree (attempt %d, %lld billable row(s))",
                          (long long)f.job, f.page, attempt, (long long)billed);
    return err;
}

/* The error of a completion's statement that failed. */
static int complete_failed(pm__pg_t *pg, int err, int64_t id)
{
    if (err == -EEXIST)
        return pm__pg_msg(pg, err, "page task %lld is billed already",
                          (long long)id);
    return err;
}

/* One statement, one round trip, its own transaction (ST_TASK_COMPLETE);
 * what it decided is checked against pm_rules_fence. */
int pm__pg_task_complete(pm_catalog_t *cat, int64_t id, int attempt,
                         const pm_page_metrics_t *m, int64_t now)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    if (m == NULL)
        return pm__pg_msg(pg, PM_EINVAL, "a completed page needs metrics");
    complete_params(&p, id, attempt, m, now);
    err = pm__pg_run(pg, PM__PG_QUEUE, ST_TASK_COMPLETE, &p, &r);
    if (err != 0)
        return complete_failed(pg, err, id);
    return complete_verdict(pg, r, id, attempt);
}

/* Completions sent at once in pipeline mode: at most this many. */
#define COMPLETE_PIPELINE 64

int pm__pg_complete_send(pm__pg_t *pg, const pm_completion_t *c, int64_t now)
{
    pm__pg_params_t p = {.n = 0};

    complete_params(&p, c->task, c->attempt, c->m, now);
    if (PQsendQueryPrepared(pg->conn, stmts[ST_TASK_COMPLETE].name, p.n, p.v,
                            NULL, NULL, 0) != 1 ||
        PQpipelineSync(pg->conn) != 1)
        return pm__pg_msg(pg, PM_ECATALOG, "sending a completion: %s",
                          PQerrorMessage(pg->conn));
    return 0;
}

void pm__pg_complete_read(pm__pg_t *pg, PGresult *r, pm_completion_t *c)
{
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        c->err = complete_verdict(pg, r, c->task, c->attempt);
    } else {
        c->err = complete_failed(pg, pm__pg_fail(pg, r), c->task);
        PQclear(r);
    }
}

/* Reads the answer to completion c: its statement's result, the end of
 * its results, then its Sync. 0 with c->err set, or the connection's
 * error. */
static int complete_read(pm__pg_t *pg, pm_completion_t *c)
{
    PGresult *r = PQgetResult(pg->conn), *end;
    ExecStatusType s;

    if (r == NULL)
        return pm__pg_msg(pg, PM_ECATALOG, "no answer to a completion: %s",
                          PQerrorMessage(pg->conn));
    while ((end = PQgetResult(pg->conn)) != NULL)
        PQclear(end);
    pm__pg_complete_read(pg, r, c);
    r = PQgetResult(pg->conn); /* the Sync */
    s = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    PQclear(r);
    if (s != PGRES_PIPELINE_SYNC)
        return pm__pg_msg(pg, PM_ECATALOG,
                          "a completion's transaction did not end: %s",
                          PQerrorMessage(pg->conn));
    return 0;
}

/* Up to COMPLETE_PIPELINE completions in one round trip. */
static int complete_pipeline(pm__pg_t *pg, pm_completion_t *v, size_t n,
                             int64_t now)
{
    size_t i, sent = 0;
    int err = 0, e;

    assert(n <= COMPLETE_PIPELINE);
    if (PQenterPipelineMode(pg->conn) != 1)
        return pm__pg_msg(pg, PM_ECATALOG, "cannot enter pipeline mode: %s",
                          PQerrorMessage(pg->conn));
    for (i = 0; i < n && err == 0; i++)
        if ((err = pm__pg_complete_send(pg, &v[i], now)) == 0)
            sent++;
    for (i = 0; i < sent; i++)
        if ((e = complete_read(pg, &v[i])) != 0) {
            err = err != 0 ? err : e;
            break;
        }
    if (PQexitPipelineMode(pg->conn) != 1 && err == 0)
        err = pm__pg_msg(pg, PM_ECATALOG, "cannot leave pipeline mode: %s",
                         PQerrorMessage(pg->conn));
    return err;
}

/*
 * Completions that arrive together: each its own statement and its own
 * transaction (a Sync after each), as pm__pg_task_complete, but sent in
 * libpq's pipeline mode, one round trip for up to COMPLETE_PIPELINE of
 * them.
 */
int pm__pg_task_complete_n(pm_catalog_t *cat, pm_completion_t *v, size_t n,
                           int64_t now)
{
    pm__pg_t *pg = pm__pg(cat);
    size_t i, k;
    int err = 0;

    if (v == NULL && n > 0)
        return pm__pg_msg(pg, PM_EINVAL, "no completions");
    for (i = 0; i < n; i++) {
        if (v[i].m == NULL)
            return pm__pg_msg(pg, PM_EINVAL, "a completed page needs metrics");
        v[i].err = PM_ECATALOG; /* until answered */
    }
    for (i = 0; i < n && err == 0; i += k) {
        k = n - i < COMPLETE_PIPELINE ? n - i : COMPLETE_PIPELINE;
        err = complete_pipeline(pg, v + i, k, now);
    }
    return err;
}

/* The parameters of a failed attempt's two statements: its event, then
 * its state (queued again, or failed for good). */
static void give_up_params(pm__pg_params_t *event, pm__pg_params_t *state,
                           int64_t id, int final, const char *why, int64_t now)
{
    event->n = state->n = 0;
    pm__pg_int(event, id);
    pm__pg_int(event, now);
    pm__pg_text(event, final ? "page.failed" : "page.requeued");
    pm__pg_text(event, why);
    pm__pg_int(state, id);
    pm__pg_text(state, final ? "failed" : "queued");
    pm__pg_text(state, why);
}

/* Records a failed attempt: an event, then queued or failed. */
static int task_give_up(pm__pg_t *pg, int64_t id, int final, const char *why,
                        int64_t now)
{
    pm__pg_params_t event, state;
    int err;

    give_up_params(&event, &state, id, final, why, now);
    err = pm__pg_exec(pg, PM__PG_QUEUE, ST_TASK_FAIL_EVENT, &event, NULL);
    return err != 0
               ? err
               : pm__pg_exec(pg, PM__PG_QUEUE, ST_TASK_SET_STATE, &state, NULL);
}

int pm__pg_fail_fence_send(pm__pg_t *pg, int64_t id)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_int(&p, id);
    if (PQsendQueryParams(pg->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) != 1)
        return pm__pg_msg(pg, PM_ECATALOG, "sending BEGIN: %s",
                          PQerrorMessage(pg->conn));
    return send_stmt(pg, ST_TASK_FENCE, &p) != 0 ? PM_ECATALOG : send_sync(pg);
}

int pm__pg_fail_fence_read(pm__pg_t *pg, PGresult *r, int64_t id, int attempt,
                           int max_attempts, int *final)
{
    fence_t f;
    int err = fence_read(pg, r, id, attempt, &f);

    if (err == 0)
        *final = pm_rules_attempts_spent(f.attempts, f.base, max_attempts);
    return err;
}

int pm__pg_fail_give_up_send(pm__pg_t *pg, int64_t id, int final,
                             const char *why, int64_t now)
{
    pm__pg_params_t event, state;
    int err;

    give_up_params(&event, &state, id, final, why, now);
    err = send_stmt(pg, ST_TASK_FAIL_EVENT, &event);
    if (err == 0)
        err = send_stmt(pg, ST_TASK_SET_STATE, &state);
    if (err == 0 && PQsendQueryParams(pg->conn, "COMMIT", 0, NULL, NULL, NULL,
                                      NULL, 0) != 1)
        err = pm__pg_msg(pg, PM_ECATALOG, "sending COMMIT: %s",
                         PQerrorMessage(pg->conn));
    return err != 0 ? err : send_sync(pg);
}

int pm__pg_rollback_send(pm__pg_t *pg)
{
    if (PQsendQueryParams(pg->conn, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0) !=
        1)
        return pm__pg_msg(pg, PM_ECATALOG, "sending ROLLBACK: %s",
                          PQerrorMessage(pg->conn));
    return send_sync(pg);
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

int pm__pg_expired_send(pm__pg_t *pg, int64_t now, int max_attempts)
{
    pm__pg_params_t p = {.n = 0};

    if (max_attempts < 1)
        return pm__pg_msg(pg, PM_EINVAL, "max_attempts must be at least 1");
    pm__pg_int(&p, now);
    pm__pg_int(&p, max_attempts);
    return send_stmt(pg, ST_EXPIRED, &p) != 0 ? PM_ECATALOG : send_sync(pg);
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
