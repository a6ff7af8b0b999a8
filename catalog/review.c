/*
 * review.c: review flags and replaced pages, on the SQLite backend
 * (catalog.h). Migration 5 (registered in sqlite_schema.c's list) adds a page's
 * review reason and its orientation decision to page_tasks, and the
 * page_replacements table: an operator's request to replace one page of a
 * done job with a rescan, which the coordinator carries out (redo the
 * page, re-publish the job) and records here when the new document is in
 * place. A replacement never touches billable_pages, the job's state,
 * finished_at or billing month: the page stays billed once, as it was.
 *
 * Its statements are a module table like the other files' (sqlite_int.h),
 * prepared once at open, after the migrations have added their tables.
 * When a page may be replaced and what the events say are the same on
 * every backend: review_common.c.
 */
#include <assert.h>
#include <string.h>

#include <sqlite3.h>

#include "catalog/catalog.h"
#include "catalog/review_int.h"
#include "catalog/sqlite_int.h"
#include "pipeline/base/pm.h"

/*
 * Migration 5: review flags and replaced pages. `review` is why a person
 * should look at a done page (NULL: nothing to see); orient_method and
 * orient_evidence record how its orientation was decided (the method's
 * name; OSD's proposal and the words read per turn, as compact JSON). At
 * most one replacement per job is pending at a time.
 */
const char *const pm__migration_5[] = {
    "ALTER TABLE page_tasks ADD COLUMN review TEXT",
    "ALTER TABLE page_tasks ADD COLUMN orient_method TEXT",
    "ALTER TABLE page_tasks ADD COLUMN orient_evidence TEXT",
    "CREATE INDEX page_tasks_review ON page_tasks (job)"
    " WHERE review IS NOT NULL",
    "CREATE TABLE page_replacements ("
    " id INTEGER PRIMARY KEY,"
    " job INTEGER NOT NULL REFERENCES jobs (id),"
    " page INTEGER NOT NULL CHECK (page >= 1),"
    " src TEXT NOT NULL,"
    " sha256 TEXT NOT NULL CHECK (length(sha256) = 64),"
    " old_src TEXT NOT NULL,"
    " old_frame INTEGER NOT NULL,"
    " old_sha256 TEXT NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'pending'"
    "  CHECK (state IN ('pending', 'done', 'failed')),"
    " actor TEXT NOT NULL,"
    " requested_at INTEGER NOT NULL,"
    " finished_at INTEGER,"
    " error TEXT,"
    " kept_as TEXT,"
    " FOREIGN KEY (job, page) REFERENCES page_tasks (job, page)"
    ") STRICT",
    "CREATE UNIQUE INDEX page_replacements_pending ON page_replacements"
    " (job) WHERE state = 'pending'",
    "CREATE INDEX page_replacements_job ON page_replacements (job)",
    NULL,
};

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_REVIEW_JOBS,
    ST_REVIEW_COUNT,
    ST_REPLACE_CHECK,
    ST_REPLACE_ADD,
    ST_REPLACE_NEXT,
    ST_REPLACE_LIST,
    ST_REPLACE_PAGE,
    ST_REPLACE_JOB,
    ST_REPLACE_SETTLE,
    ST_COUNT
};

/* Flagged pages of jobs not cancelled, with the job's account (its own,
 * else its work order's). */
#define REVIEW_FROM                                                     \
    " FROM page_tasks t JOIN jobs j ON j.id = t.job WHERE t.review IS " \
    "NOT NULL AND t.state = 'done' AND j.state != 'cancelled'"

#define REPLACE_COLS                                                 \
    "SELECT id, job, page, src, sha256, old_src, old_frame, "        \
    "old_sha256, state, actor, requested_at, coalesce(finished_at, " \
    "0), error, kept_as FROM page_replacements"

static const pm__sql_t stmts[ST_COUNT] = {
    [ST_REVIEW_JOBS] =
        {"review_jobs",
         "SELECT j.id, j.workorder, coalesce(j.account, (SELECT "
         "a.code FROM work_orders w JOIN accounts a ON a.id = "
         "w.account_id WHERE w.number = j.workorder)), j.state, "
         "count(*), group_concat('page ' || t.page || ': ' || "
         "t.review, '; ') FROM (SELECT job, page, state, review "
         "FROM page_tasks WHERE review IS NOT NULL ORDER BY job, "
         "page) t JOIN jobs j ON j.id = t.job WHERE t.state = "
         "'done' AND j.state != 'cancelled' GROUP BY j.id ORDER "
         "BY j.id"},
    [ST_REVIEW_COUNT] = {"review_count",
                         "SELECT count(*), count(DISTINCT t.job)" REVIEW_FROM},
    [ST_REPLACE_CHECK] = {"replace_check",
                          "SELECT state, pages, (SELECT page FROM "
                          "page_replacements r WHERE r.job = j.id AND "
                          "r.state = 'pending') FROM jobs j WHERE id = ?1"},
    [ST_REPLACE_ADD] = {"replace_add",
                        "INSERT INTO page_replacements (job, page, src, "
                        "sha256, old_src, old_frame, old_sha256, actor, "
                        "requested_at) SELECT job, page, ?3, ?4, src, frame, "
                        "sha256, ?5, ?6 FROM page_tasks WHERE job = ?1 AND "
                        "page = ?2"},
    [ST_REPLACE_NEXT] = {"replace_next", REPLACE_COLS
                         " WHERE state = 'pending' ORDER BY id LIMIT 1"},
    [ST_REPLACE_LIST] = {"replace_list",
                         REPLACE_COLS " WHERE job = ?1 ORDER BY id"},
    /* The page's row becomes the rescan's: its file, digest and metrics. */
    [ST_REPLACE_PAGE] =
        {"replace_page",
         "UPDATE page_tasks SET src = ?3, frame = 0, sha256 = ?4, width = ?5, "
         "height = ?6, xres = ?7, yres = ?8, rotation = ?9, "
         "orient_confidence = ?10, skew = ?11, skew_confidence = ?12, "
         "blank = ?13, ink_ratio = ?14, words = ?15, confidence = ?16, "
         "kind = ?17, codec = ?18, bytes = ?19, ms_decode = ?20, "
         "ms_orient = ?21, ms_deskew = ?22, ms_blank = ?23, ms_ocr = ?24, "
         "ms_encode = ?25, ms_total = ?26, image = ?27, text_pdf = ?28, "
         "text = ?29, orient_osd = ?30, dpi_fallback = ?31, review = ?32, "
         "orient_method = ?33, orient_evidence = ?34 WHERE job = ?1 AND "
         "page = ?2 AND state = 'done'"},
    /* The job's published PDF is now the new one; the job stays done,
     * with its finished_at and billing month. */
    [ST_REPLACE_JOB] = {"replace_job",
                        "UPDATE jobs SET pdf_sha256 = ?2, pdf_pages = ?3, "
                        "updated_at = ?4 WHERE id = ?1 AND state = 'done'"},
    [ST_REPLACE_SETTLE] = {"replace_settle",
                           "UPDATE page_replacements SET state = ?2, "
                           "error = ?3, kept_as = ?4, finished_at = ?5 "
                           "WHERE id = ?1 AND state = 'pending'"},
};

const pm__sql_table_t pm__sql_review = {stmts, ST_COUNT};

_Static_assert(ST_COUNT <= PM__SQL_MAX, "raise PM__SQL_MAX");

#define STMT(cat, i) pm__stmt((cat), PM__SQL_REVIEW, (i))

/* ---- review flags ---- */

static int read_review_job(sqlite3_stmt *st, void *item)
{
    pm_review_job_t *r = item;

    memset(r, 0, sizeof(*r));
    r->job = sqlite3_column_int64(st, 0);
    r->state = (pm_job_state_t)pm_job_state_parse(
        (const char *)sqlite3_column_text(st, 3));
    r->pages = sqlite3_column_int(st, 4);
    if (pm__sql_col_str(st, 1, &r->workorder) ||
        pm__sql_col_str(st, 2, &r->account) ||
        pm__sql_col_str(st, 5, &r->reasons)) {
        pm__review_job_cleanup(r);
        return PM_ENOMEM;
    }
    return 0;
}

int pm__sqlite_review_jobs(pm_catalog_t *cat, pm_review_job_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return pm__sql_collect(cat, STMT(cat, ST_REVIEW_JOBS),
                           sizeof(pm_review_job_t), read_review_job,
                           pm__review_job_cleanup, (void **)out, n);
}

int pm__sqlite_review_count(pm_catalog_t *cat, int64_t *pages, int64_t *jobs)
{
    sqlite3_stmt *st = STMT(cat, ST_REVIEW_COUNT);
    int err;

    *pages = *jobs = 0;
    err = pm__sql_first_row(cat, st);
    if (err <= 0)
        return err;
    *pages = sqlite3_column_int64(st, 0);
    *jobs = sqlite3_column_int64(st, 1);
    pm__sql_stmt_done(st);
    return 0;
}

/* ---- replaced pages ---- */

static int read_replacement(sqlite3_stmt *st, void *item)
{
    pm_replacement_t *r = item;

    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    r->job = sqlite3_column_int64(st, 1);
    r->page = sqlite3_column_int(st, 2);
    r->old_frame = sqlite3_column_int(st, 6);
    r->state =
        pm__replace_state_parse((const char *)sqlite3_column_text(st, 8));
    r->requested_at = sqlite3_column_int64(st, 10);
    r->finished_at = sqlite3_column_int64(st, 11);
    if (pm__sql_col_str(st, 3, &r->src) || pm__sql_col_str(st, 4, &r->sha256) ||
        pm__sql_col_str(st, 5, &r->old_src) ||
        pm__sql_col_str(st, 7, &r->old_sha256) ||
        pm__sql_col_str(st, 9, &r->actor) ||
        pm__sql_col_str(st, 12, &r->error) ||
        pm__sql_col_str(st, 13, &r->kept_as)) {
        pm_replacement_cleanup(r);
        return PM_ENOMEM;
    }
    return 0;
}

/* Why job `job`'s page `page` may not be replaced now, from the job's row
 * (state, pages, the page of its pending replacement or 0). */
static int replace_refused(pm_catalog_t *cat, int64_t job, int page,
                           const char *state, int pages, int pending)
{
    char msg[200];
    int err =
        pm__replace_refused(job, page, state, pages, pending, msg, sizeof(msg));

    return err != 0 ? pm__catalog_set_msg(cat, err, msg) : 0;
}

int pm__sqlite_replace_check(pm_catalog_t *cat, int64_t job, int page)
{
    sqlite3_stmt *st = STMT(cat, ST_REPLACE_CHECK);
    int err;

    if (sqlite3_bind_int64(st, 1, job))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_first_row(cat, st);
    if (err < 0)
        return err;
    if (err == 0)
        return pm__catalog_msg(cat, PM_ENOENT, "no job %lld", (long long)job);
    err = replace_refused(cat, job, page,
                          (const char *)sqlite3_column_text(st, 0),
                          sqlite3_column_int(st, 1), sqlite3_column_int(st, 2));
    pm__sql_stmt_done(st);
    return err;
}

static int replace_insert(pm_catalog_t *cat, int64_t job, int page,
                          const char *src, const char *sha256,
                          const char *actor, int64_t now, int64_t *id)
{
    sqlite3_stmt *st = STMT(cat, ST_REPLACE_ADD);
    int err, changes;

    if (sqlite3_bind_int64(st, 1, job) || sqlite3_bind_int(st, 2, page) ||
        pm__sql_bind_text(st, 3, src) || pm__sql_bind_text(st, 4, sha256) ||
        pm__sql_bind_text(st, 5, actor) || sqlite3_bind_int64(st, 6, now))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_run_changes(cat, st, &changes);
    if (err == 0 && changes != 1)
        err = pm__catalog_msg(cat, PM_ENOENT, "job %lld has no page %d",
                              (long long)job, page);
    *id = sqlite3_last_insert_rowid(pm__catalog_db(cat));
    return err;
}

int pm__sqlite_replace_request(pm_catalog_t *cat, int64_t job, int page,
                               const char *src, const char *sha256,
                               const char *actor, int64_t now, int64_t *id)
{
    char msg[64], *detail;
    int err;

    assert(src != NULL && sha256 != NULL && actor != NULL);
    *id = 0;
    if (pm__replace_sha_check(sha256, msg, sizeof(msg)) != 0)
        return pm__catalog_set_msg(cat, PM_EINVAL, msg);
    err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    err = pm_replace_check(cat, job, page);
    if (err == 0)
        err = replace_insert(cat, job, page, src, sha256, actor, now, id);
    detail = pm__replace_requested_detail(page, src, sha256);
    if (err == 0)
        err = detail
                  ? pm__event_insert(cat, now, actor, "page.replace_requested",
                                     job, page, detail)
                  : pm__catalog_nomem(cat);
    pm_free(detail);
    return pm__sql_tx_end(cat, err);
}

int pm__sqlite_replace_next(pm_catalog_t *cat, pm_replacement_t *out)
{
    int err;

    memset(out, 0, sizeof(*out));
    err =
        pm__sql_get_one(cat, STMT(cat, ST_REPLACE_NEXT), read_replacement, out);
    if (err == PM_ENOENT)
        return pm__catalog_msg(cat, err, "no replacement is pending");
    return err;
}

int pm__sqlite_replace_list(pm_catalog_t *cat, int64_t job,
                            pm_replacement_t **out, size_t *n)
{
    sqlite3_stmt *st = STMT(cat, ST_REPLACE_LIST);

    *out = NULL;
    *n = 0;
    if (sqlite3_bind_int64(st, 1, job))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_collect(cat, st, sizeof(pm_replacement_t), read_replacement,
                           pm__replacement_cleanup_v, (void **)out, n);
}

/* Binds the rescan's file and metrics to ST_REPLACE_PAGE; nonzero when
 * a bind failed. */
static int bind_page(sqlite3_stmt *st, const pm_replacement_t *r,
                     const pm_page_metrics_t *m)
{
    int rc = 0;

    rc |= sqlite3_bind_int64(st, 1, r->job);
    rc |= sqlite3_bind_int(st, 2, r->page);
    rc |= pm__sql_bind_text(st, 3, r->src);
    rc |= pm__sql_bind_text(st, 4, r->sha256);
    rc |= sqlite3_bind_int(st, 5, m->width);
    rc |= sqlite3_bind_int(st, 6, m->height);
    rc |= sqlite3_bind_int(st, 7, m->xres);
    rc |= sqlite3_bind_int(st, 8, m->yres);
    rc |= sqlite3_bind_int(st, 9, m->rotation);
    rc |= sqlite3_bind_double(st, 10, m->orient_confidence);
    rc |= sqlite3_bind_double(st, 11, m->skew);
    rc |= sqlite3_bind_double(st, 12, m->skew_confidence);
    rc |= sqlite3_bind_int(st, 13, m->blank != 0);
    rc |= sqlite3_bind_double(st, 14, m->ink_ratio);
    rc |= sqlite3_bind_int(st, 15, m->words);
    rc |= sqlite3_bind_double(st, 16, m->confidence);
    rc |= pm__sql_bind_text(st, 17, m->kind);
    rc |= pm__sql_bind_text(st, 18, m->codec);
    rc |= sqlite3_bind_int64(st, 19, m->bytes);
    rc |= sqlite3_bind_double(st, 20, m->ms_decode);
    rc |= sqlite3_bind_double(st, 21, m->ms_orient);
    rc |= sqlite3_bind_double(st, 22, m->ms_deskew);
    rc |= sqlite3_bind_double(st, 23, m->ms_blank);
    rc |= sqlite3_bind_double(st, 24, m->ms_ocr);
    rc |= sqlite3_bind_double(st, 25, m->ms_encode);
    rc |= sqlite3_bind_double(st, 26, m->ms_total);
    rc |= pm__sql_bind_text(st, 27, m->image);
    rc |= pm__sql_bind_text(st, 28, m->text_pdf);
    rc |= pm__sql_bind_text(st, 29, m->text);
    rc |= sqlite3_bind_int(st, 30, m->orient_osd != 0);
    rc |= sqlite3_bind_int(st, 31, m->dpi_fallback);
    rc |= pm__sql_bind_text(st, 32, m->review);
    rc |= pm__sql_bind_text(st, 33, m->orient_method);
    rc |= pm__sql_bind_text(st, 34, m->orient_evidence);
    return rc;
}

static int page_update(pm_catalog_t *cat, const pm_replacement_t *r,
                       const pm_page_metrics_t *m)
{
    sqlite3_stmt *st = STMT(cat, ST_REPLACE_PAGE);
    int err, changes;

    if (bind_page(st, r, m))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_run_changes(cat, st, &changes);
    if (err == 0 && changes != 1)
        err = pm__catalog_msg(cat, PM_EINVAL,
                              "job %lld page %d is no longer done",
                              (long long)r->job, r->page);
    return err;
}

static int job_update(pm_catalog_t *cat, int64_t job, const char *sha,
                      int pages, int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_REPLACE_JOB);
    int err, changes;

    if (sqlite3_bind_int64(st, 1, job) || pm__sql_bind_text(st, 2, sha) ||
        sqlite3_bind_int(st, 3, pages) || sqlite3_bind_int64(st, 4, now))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_run_changes(cat, st, &changes);
    if (err == 0 && changes != 1)
        err = pm__catalog_msg(cat, PM_EINVAL, "job %lld is no longer done",
                              (long long)job);
    return err;
}

static int replace_settle(pm_catalog_t *cat, int64_t id, const char *state,
                          const char *error, const char *kept_as, int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_REPLACE_SETTLE);
    int err, changes;

    if (sqlite3_bind_int64(st, 1, id) || pm__sql_bind_text(st, 2, state) ||
        pm__sql_bind_text(st, 3, error) || pm__sql_bind_text(st, 4, kept_as) ||
        sqlite3_bind_int64(st, 5, now))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_run_changes(cat, st, &changes);
    if (err == 0 && changes != 1)
        err = pm__catalog_msg(cat, PM_ESTALE,
                              "replacement %lld is no longer pending",
                              (long long)id);
    return err;
}

int pm__sqlite_replace_finish(pm_catalog_t *cat, const pm_replacement_t *r,
                              const pm_page_metrics_t *m,
                              const char *pdf_sha256, int pdf_pages,
                              const char *kept_as, int64_t now)
{
    char *detail;
    int err = pm__sql_tx_begin(cat);

    if (err != 0)
        return err;
    err = replace_settle(cat, r->id, "done", NULL, kept_as, now);
    if (err == 0)
        err = page_update(cat, r, m);
    if (err == 0)
        err = job_update(cat, r->job, pdf_sha256, pdf_pages, now);
    detail = pm__replaced_detail(r, m, pdf_sha256, pdf_pages, kept_as);
    if (err == 0)
        err = detail
                  ? pm__event_insert(cat, now, "coordinator", "page.replaced",
                                     r->job, r->page, detail)
                  : pm__catalog_nomem(cat);
    pm_free(detail);
    return pm__sql_tx_end(cat, err);
}

int pm__sqlite_replace_fail(pm_catalog_t *cat, const pm_replacement_t *r,
                            const char *why, int64_t now)
{
    char *detail;
    int err = pm__sql_tx_begin(cat);

    if (err != 0)
        return err;
    err = replace_settle(cat, r->id, "failed", why, NULL, now);
    detail = pm__replace_failed_detail(r, why);
    if (err == 0)
        err = detail ? pm__event_insert(cat, now, "coordinator",
                                        "page.replace_failed", r->job, r->page,
                                        detail)
                     : pm__catalog_nomem(cat);
    pm_free(detail);
    return pm__sql_tx_end(cat, err);
}
