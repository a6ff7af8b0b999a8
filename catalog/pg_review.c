/*
 * pg_review.c: review flags and replaced pages on the PostgreSQL backend,
 * the same contract as review.c on SQLite (catalog.h). Migration 5 is
 * pg_schema.c's; when a page may be replaced and what the events say are
 * review_common.c's, shared with SQLite.
 *
 * A request and a finish lock the job's row first (as every state change
 * of a job does), so a request racing another request, or a finish
 * racing a cancel, waits for it and then sees what it did; the unique
 * index on pending replacements stays the last word.
 */
#include <assert.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/pg_int.h"
#include "catalog/review_int.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_REVIEW_JOBS,
    ST_REVIEW_COUNT,
    ST_REPLACE_JOB_ROW,
    ST_REPLACE_JOB_LOCK,
    ST_REPLACE_PENDING,
    ST_REPLACE_ADD,
    ST_REPLACE_NEXT,
    ST_REPLACE_LIST,
    ST_REPLACE_PAGE,
    ST_REPLACE_JOB,
    ST_REPLACE_SETTLE,
    ST_COUNT
};

#define REPLACE_COLS                                                        \
    "SELECT id, job, page, src, sha256, old_src, old_frame, old_sha256, "   \
    "state, actor, requested_at, coalesce(finished_at, 0), error, kept_as " \
    "FROM page_replacements"

static const pm__pgsql_t stmts[ST_COUNT] = {
    /* Flagged done pages of jobs not cancelled, with the job's account
     * (its own, else its work order's); the reasons in page order. */
    [ST_REVIEW_JOBS] =
        {"review_jobs",
         "SELECT j.id, j.workorder, coalesce(j.account, (SELECT a.code "
         "FROM work_orders w JOIN accounts a ON a.id = w.account_id WHERE "
         "w.number = j.workorder)), j.state, count(*), string_agg('page ' "
         "|| t.page || ': ' || t.review, '; ' ORDER BY t.page) FROM "
         "page_tasks t JOIN jobs j ON j.id = t.job WHERE t.review IS NOT "
         "NULL AND t.state = 'done' AND j.state <> 'cancelled' GROUP BY "
         "j.id ORDER BY j.id"},
    [ST_REVIEW_COUNT] = {"review_count",
                         "SELECT count(*), count(DISTINCT t.job) FROM "
                         "page_tasks t JOIN jobs j ON j.id = t.job WHERE "
                         "t.review IS NOT NULL AND t.state = 'done' AND "
                         "j.state <> 'cancelled'"},
    [ST_REPLACE_JOB_ROW] = {"replace_job_row",
                            "SELECT state, pages FROM jobs WHERE id = "
                            "$1::bigint"},
    [ST_REPLACE_JOB_LOCK] = {"replace_job_lock",
                             "SELECT state, pages FROM jobs WHERE id = "
                             "$1::bigint FOR UPDATE"},
    [ST_REPLACE_PENDING] = {"replace_pending",
                            "SELECT page FROM page_replacements WHERE job = "
                            "$1::bigint AND state = 'pending'"},
    [ST_REPLACE_ADD] = {"replace_add",
                        "INSERT INTO page_replacements (job, page, src, "
                        "sha256, old_src, old_frame, old_sha256, actor, "
                        "requested_at) SELECT job, page, $3, $4, src, frame, "
                        "sha256, $5, $6::bigint FROM page_tasks WHERE job = "
                        "$1::bigint AND page = $2::bigint RETURNING id"},
    [ST_REPLACE_NEXT] = {"replace_next", REPLACE_COLS
                         " WHERE state = 'pending' ORDER BY id LIMIT 1"},
    [ST_REPLACE_LIST] = {"replace_list",
                         REPLACE_COLS " WHERE job = $1::bigint ORDER BY id"},
    /* The page's row becomes the rescan's: its file, digest and metrics. */
    [ST_REPLACE_PAGE] =
        {"replace_page",
         "UPDATE page_tasks SET src = $3, frame = 0, sha256 = $4, width = "
         "$5::bigint, height = $6::bigint, xres = $7::bigint, yres = "
         "$8::bigint, rotation = $9::bigint, orient_confidence = "
         "$10::float8, skew = $11::float8, skew_confidence = $12::float8, "
         "blank = $13::bigint, ink_ratio = $14::float8, words = $15::bigint, "
         "confidence = $16::float8, kind = $17, codec = $18, bytes = "
         "$19::bigint, ms_decode = $20::float8, ms_orient = $21::float8, "
         "ms_deskew = $22::float8, ms_blank = $23::float8, ms_ocr = "
         "$24::float8, ms_encode = $25::float8, ms_total = $26::float8, "
         "image = $27, text_pdf = $28, text = $29, orient_osd = $30::bigint, "
         "dpi_fallback = $31::bigint, review = $32, orient_method = $33, "
         "orient_evidence = $34 WHERE job = $1::bigint AND page = "
         "$2::bigint AND state = 'done'"},
    /* The job's published PDF is now the new one; the job stays done,
     * with its finished_at and billing month. */
    [ST_REPLACE_JOB] = {"replace_job",
                        "UPDATE jobs SET pdf_sha256 = $2, pdf_pages = "
                        "$3::bigint, updated_at = $4::bigint WHERE id = "
                        "$1::bigint AND state = 'done'"},
    [ST_REPLACE_SETTLE] = {"replace_settle",
                           "UPDATE page_replacements SET state = $2, error = "
                           "$3, kept_as = $4, finished_at = $5::bigint WHERE "
                           "id = $1::bigint AND state = 'pending'"},
};

const pm__pgsql_table_t pm__pg_review = {stmts, ST_COUNT};

/* Runs statement `i` with `id` as $1. */
static int run_id(pm__pg_t *pg, int i, int64_t id, PGresult **out)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_int(&p, id);
    return pm__pg_run(pg, PM__PG_REVIEW, i, &p, out);
}

/* ---- review flags ---- */

static int read_review_job(const PGresult *r, int row, void *item)
{
    pm_review_job_t *v = item;

    memset(v, 0, sizeof(*v));
    v->job = pm__pg_int64(r, row, 0);
    v->state = (pm_job_state_t)pm_job_state_parse(PQgetvalue(r, row, 3));
    v->pages = (int)pm__pg_int64(r, row, 4);
    if (pm__pg_str(r, row, 1, &v->workorder) ||
        pm__pg_str(r, row, 2, &v->account) ||
        pm__pg_str(r, row, 5, &v->reasons)) {
        pm__review_job_cleanup(v);
        return PM_ENOMEM;
    }
    return 0;
}

int pm__pg_review_jobs(pm_catalog_t *cat, pm_review_job_t **out, size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    PGresult *r;
    int err;

    *out = NULL;
    *n = 0;
    err = pm__pg_run(pg, PM__PG_REVIEW, ST_REVIEW_JOBS, NULL, &r);
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(pm_review_job_t), read_review_job,
                          pm__review_job_cleanup, (void **)out, n);
}

int pm__pg_review_count(pm_catalog_t *cat, int64_t *pages, int64_t *jobs)
{
    pm__pg_t *pg = pm__pg(cat);
    PGresult *r;
    int err;

    *pages = *jobs = 0;
    err = pm__pg_run(pg, PM__PG_REVIEW, ST_REVIEW_COUNT, NULL, &r);
    if (err != 0)
        return err;
    *pages = pm__pg_int64(r, 0, 0);
    *jobs = pm__pg_int64(r, 0, 1);
    PQclear(r);
    return 0;
}

/* ---- replaced pages ---- */

static int read_replacement(const PGresult *r, int row, void *item)
{
    pm_replacement_t *v = item;

    memset(v, 0, sizeof(*v));
    v->id = pm__pg_int64(r, row, 0);
    v->job = pm__pg_int64(r, row, 1);
    v->page = (int)pm__pg_int64(r, row, 2);
    v->old_frame = (int)pm__pg_int64(r, row, 6);
    v->state = pm__replace_state_parse(PQgetvalue(r, row, 8));
    v->requested_at = pm__pg_int64(r, row, 10);
    v->finished_at = pm__pg_int64(r, row, 11);
    if (pm__pg_str(r, row, 3, &v->src) || pm__pg_str(r, row, 4, &v->sha256) ||
        pm__pg_str(r, row, 5, &v->old_src) ||
        pm__pg_str(r, row, 7, &v->old_sha256) ||
        pm__pg_str(r, row, 9, &v->actor) || pm__pg_str(r, row, 12, &v->error) ||
        pm__pg_str(r, row, 13, &v->kept_as)) {
        pm_replacement_cleanup(v);
        return PM_ENOMEM;
    }
    return 0;
}

/* The page of job `job`'s pending replacement, or 0. */
static int pending_page(pm__pg_t *pg, int64_t job, int *page)
{
    PGresult *r;
    int err = run_id(pg, ST_REPLACE_PENDING, job, &r);

    *page = 0;
    if (err != 0)
        return err;
    if (PQntuples(r) > 0)
        *page = (int)pm__pg_int64(r, 0, 0);
    PQclear(r);
    return 0;
}

/* pm_replace_check's rules on the job's row, read by statement `i`
 * (locked or not). */
static int check_with(pm__pg_t *pg, int i, int64_t job, int page)
{
    char msg[200];
    PGresult *r;
    int pending = 0, err = run_id(pg, i, job, &r);

    if (err != 0)
        return err;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return pm__pg_msg(pg, PM_ENOENT, "no job %lld", (long long)job);
    }
    /* After the job's row: a request that held its lock has committed. */
    err = pending_page(pg, job, &pending);
    if (err == 0)
        err = pm__replace_refused(job, page, PQgetvalue(r, 0, 0),
                                  (int)pm__pg_int64(r, 0, 1), pending, msg,
                                  sizeof(msg));
    PQclear(r);
    if (err == PM_EINVAL)
        pm__pg_msg(pg, err, "%s", msg);
    return err;
}

int pm__pg_replace_check(pm_catalog_t *cat, int64_t job, int page)
{
    return check_with(pm__pg(cat), ST_REPLACE_JOB_ROW, job, page);
}

static int replace_insert(pm__pg_t *pg, int64_t job, int page, const char *src,
                          const char *sha256, const char *actor, int64_t now,
                          int64_t *id)
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    pm__pg_int(&p, job);
    pm__pg_int(&p, page);
    pm__pg_text(&p, src);
    pm__pg_text(&p, sha256);
    pm__pg_text(&p, actor);
    pm__pg_int(&p, now);
    err = pm__pg_run(pg, PM__PG_REVIEW, ST_REPLACE_ADD, &p, &r);
    if (err != 0)
        return err;
    if (PQntuples(r) == 1)
        *id = pm__pg_int64(r, 0, 0);
    else
        err = pm__pg_msg(pg, PM_ENOENT, "job %lld has no page %d",
                         (long long)job, page);
    PQclear(r);
    return err;
}

int pm__pg_replace_request(pm_catalog_t *cat, int64_t job, int page,
                           const char *src, const char *sha256,
                           const char *actor, int64_t now, int64_t *id)
{
    pm__pg_t *pg = pm__pg(cat);
    char msg[64], *detail;
    int err;

    assert(src != NULL && sha256 != NULL && actor != NULL);
    *id = 0;
    if (pm__replace_sha_check(sha256, msg, sizeof(msg)) != 0)
        return pm__pg_msg(pg, PM_EINVAL, "%s", msg);
    err = pm__pg_tx_begin(pg);
    if (err != 0)
        return err;
    err = check_with(pg, ST_REPLACE_JOB_LOCK, job, page);
    if (err == 0)
        err = replace_insert(pg, job, page, src, sha256, actor, now, id);
    detail = pm__replace_requested_detail(page, src, sha256);
    if (err == 0)
        err = detail ? pm__pg_event_insert(pg, now, actor,
                                           "page.replace_requested", job, page,
                                           detail)
                     : pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    pm_free(detail);
    err = pm__pg_tx_end(pg, err);
    if (err != 0)
        *id = 0;
    return err;
}

int pm__pg_replace_next(pm_catalog_t *cat, pm_replacement_t *out)
{
    pm__pg_t *pg = pm__pg(cat);
    int err;

    memset(out, 0, sizeof(*out));
    err = pm__pg_get_one(pg, PM__PG_REVIEW, ST_REPLACE_NEXT, NULL,
                         read_replacement, out);
    if (err == PM_ENOENT)
        return pm__pg_msg(pg, err, "no replacement is pending");
    return err;
}

int pm__pg_replace_list(pm_catalog_t *cat, int64_t job, pm_replacement_t **out,
                        size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    PGresult *r;
    int err;

    *out = NULL;
    *n = 0;
    err = run_id(pg, ST_REPLACE_LIST, job, &r);
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(pm_replacement_t), read_replacement,
                          pm__replacement_cleanup_v, (void **)out, n);
}

/* The rescan's file and metrics, as ST_REPLACE_PAGE's parameters. */
static void page_params(pm__pg_params_t *p, const pm_replacement_t *r,
                        const pm_page_metrics_t *m)
{
    pm__pg_int(p, r->job);
    pm__pg_int(p, r->page);
    pm__pg_text(p, r->src);
    pm__pg_text(p, r->sha256);
    pm__pg_metrics(p, m);
    pm__pg_metrics_review(p, m);
}

/* Runs statement `i` with `p`: `what` (err) unless it changed one row. */
static int exec_one(pm__pg_t *pg, int i, const pm__pg_params_t *p, int err,
                    const char *what)
{
    int changes = 0, e = pm__pg_exec(pg, PM__PG_REVIEW, i, p, &changes);

    if (e == 0 && changes != 1)
        e = pm__pg_msg(pg, err, "%s", what);
    return e;
}

static int page_update(pm__pg_t *pg, const pm_replacement_t *r,
                       const pm_page_metrics_t *m)
{
    pm__pg_params_t p = {.n = 0};
    char what[96];

    page_params(&p, r, m);
    snprintf(what, sizeof(what), "job %lld page %d is no longer done",
             (long long)r->job, r->page);
    return exec_one(pg, ST_REPLACE_PAGE, &p, PM_EINVAL, what);
}

static int job_update(pm__pg_t *pg, int64_t job, const char *sha, int pages,
                      int64_t now)
{
    pm__pg_params_t p = {.n = 0};
    char what[64];

    pm__pg_int(&p, job);
    pm__pg_text(&p, sha);
    pm__pg_int(&p, pages);
    pm__pg_int(&p, now);
    snprintf(what, sizeof(what), "job %lld is no longer done", (long long)job);
    return exec_one(pg, ST_REPLACE_JOB, &p, PM_EINVAL, what);
}

static int replace_settle(pm__pg_t *pg, int64_t id, const char *state,
                          const char *error, const char *kept_as, int64_t now)
{
    pm__pg_params_t p = {.n = 0};
    char what[64];

    pm__pg_int(&p, id);
    pm__pg_text(&p, state);
    pm__pg_text(&p, error);
    pm__pg_text(&p, kept_as);
    pm__pg_int(&p, now);
    snprintf(what, sizeof(what), "replacement %lld is no longer pending",
             (long long)id);
    return exec_one(pg, ST_REPLACE_SETTLE, &p, PM_ESTALE, what);
}

/* Locks job `job`'s row before its page and replacement rows, in the
 * order a cancel takes them. */
static int lock_job(pm__pg_t *pg, int64_t job)
{
    PGresult *r;
    int err = run_id(pg, ST_REPLACE_JOB_LOCK, job, &r);

    if (err == 0 && PQntuples(r) == 0)
        err = pm__pg_msg(pg, PM_ENOENT, "no job %lld", (long long)job);
    PQclear(r);
    return err;
}

int pm__pg_replace_finish(pm_catalog_t *cat, const pm_replacement_t *r,
                          const pm_page_metrics_t *m, const char *pdf_sha256,
                          int pdf_pages, const char *kept_as, int64_t now)
{
    pm__pg_t *pg = pm__pg(cat);
    char *detail;
    int err = pm__pg_tx_begin(pg);

    if (err != 0)
        return err;
    err = lock_job(pg, r->job);
    if (err == 0)
        err = replace_settle(pg, r->id, "done", NULL, kept_as, now);
    if (err == 0)
        err = page_update(pg, r, m);
    if (err == 0)
        err = job_update(pg, r->job, pdf_sha256, pdf_pages, now);
    detail = pm__replaced_detail(r, m, pdf_sha256, pdf_pages, kept_as);
    if (err == 0)
        err = detail
                  ? pm__pg_event_insert(pg, now, "coordinator", "page.replaced",
                                        r->job, r->page, detail)
                  : pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    pm_free(detail);
    return pm__pg_tx_end(pg, err);
}

int pm__pg_replace_fail(pm_catalog_t *cat, const pm_replacement_t *r,
                        const char *why, int64_t now)
{
    pm__pg_t *pg = pm__pg(cat);
    char *detail;
    int err = pm__pg_tx_begin(pg);

    if (err != 0)
        return err;
    err = replace_settle(pg, r->id, "failed", why, NULL, now);
    detail = pm__replace_failed_detail(r, why);
    if (err == 0)
        err = detail ? pm__pg_event_insert(pg, now, "coordinator",
                                           "page.replace_failed", r->job,
                                           r->page, detail)
                     : pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    pm_free(detail);
    return pm__pg_tx_end(pg, err);
}
