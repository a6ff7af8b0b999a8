/*
 * review.c: review flags and replaced pages, on the SQLite backend
 * (catalog.h). Migration 5 (registered in sqlite.c's list) adds a page's
 * review reason and its orientation decision to page_tasks, and the
 * page_replacements table: an operator's request to replace one page of a
 * done job with a rescan, which the coordinator carries out (redo the
 * page, re-publish the job) and records here when the new document is in
 * place. A replacement never touches billable_pages, the job's state,
 * finished_at or billing month: the page stays billed once, as it was.
 *
 * These run rarely (an operator's command, a replacement), so their
 * statements are prepared per call rather than kept in sqlite.c's table.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "catalog/catalog.h"
#include "catalog/sqlite_int.h"
#include "pipeline/pm.h"

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

/* ---- small helpers (statements prepared per call) ---- */

static int prepare(pm_catalog_t *cat, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(pm__catalog_db(cat), sql, -1, st, NULL) != SQLITE_OK)
        return pm__catalog_db_fail(cat);
    return 0;
}

static int bind_str(sqlite3_stmt *st, int i, const char *s)
{
    return s == NULL ? sqlite3_bind_null(st, i)
                     : sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* Steps a statement that returns no rows, then finalizes it. */
static int exec_done(pm_catalog_t *cat, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int err = rc == SQLITE_DONE ? 0 : pm__catalog_db_fail(cat);

    sqlite3_finalize(st);
    return err;
}

static int exec_sql(pm_catalog_t *cat, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(pm__catalog_db(cat), sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    sqlite3_free(msg);
    return pm__catalog_db_fail(cat);
}

static int tx_end(pm_catalog_t *cat, int err)
{
    if (err == 0)
        err = exec_sql(cat, "COMMIT");
    if (err != 0 && !sqlite3_get_autocommit(pm__catalog_db(cat)))
        sqlite3_exec(pm__catalog_db(cat), "ROLLBACK", NULL, NULL, NULL);
    return err;
}

static int fail(pm_catalog_t *cat, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(pm_catalog_t *cat, int err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return pm__catalog_set_msg(cat, err, msg);
}

static char *col_dup(sqlite3_stmt *st, int i, int *oom)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    char *c = v != NULL ? pm_strdup(v) : NULL;

    if (v != NULL && c == NULL)
        *oom = 1;
    return c;
}

static int event(pm_catalog_t *cat, int64_t at, const char *actor,
                 const char *kind, int64_t job, int page, const char *detail)
{
    sqlite3_stmt *st;
    int err = prepare(cat,
                      "INSERT INTO events (at, actor, kind, job, page, "
                      "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                      &st);

    if (err != 0)
        return err;
    sqlite3_bind_int64(st, 1, at);
    bind_str(st, 2, actor);
    bind_str(st, 3, kind);
    sqlite3_bind_int64(st, 4, job);
    sqlite3_bind_int(st, 5, page);
    bind_str(st, 6, detail);
    return exec_done(cat, st);
}

/* ---- review flags ---- */

void pm_review_job_list_free(pm_review_job_t *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        pm_free(v[i].workorder);
        pm_free(v[i].account);
        pm_free(v[i].reasons);
    }
    pm_free(v);
}

/* Flagged pages of jobs not cancelled, with the job's account (its own,
 * else its work order's). */
#define REVIEW_FROM                                                     \
    " FROM page_tasks t JOIN jobs j ON j.id = t.job WHERE t.review IS " \
    "NOT NULL AND t.state = 'done' AND j.state != 'cancelled'"

static int read_review_job(sqlite3_stmt *st, pm_review_job_t *r)
{
    int oom = 0;

    memset(r, 0, sizeof(*r));
    r->job = sqlite3_column_int64(st, 0);
    r->workorder = col_dup(st, 1, &oom);
    r->account = col_dup(st, 2, &oom);
    r->state = (pm_job_state_t)pm_job_state_parse(
        (const char *)sqlite3_column_text(st, 3));
    r->pages = sqlite3_column_int(st, 4);
    r->reasons = col_dup(st, 5, &oom);
    return oom ? PM_ENOMEM : 0;
}

int pm_review_jobs(pm_catalog_t *cat, pm_review_job_t **out, size_t *n)
{
    sqlite3_stmt *st;
    pm_review_job_t *v = NULL, *grown;
    size_t count = 0;
    int err, rc = SQLITE_DONE;

    *out = NULL;
    *n = 0;
    err = prepare(cat,
                  "SELECT j.id, j.workorder, coalesce(j.account, (SELECT "
                  "a.code FROM work_orders w JOIN accounts a ON a.id = "
                  "w.account_id WHERE w.number = j.workorder)), j.state, "
                  "count(*), group_concat('page ' || t.page || ': ' || "
                  "t.review, '; ') FROM (SELECT job, page, state, review "
                  "FROM page_tasks WHERE review IS NOT NULL ORDER BY job, "
                  "page) t JOIN jobs j ON j.id = t.job WHERE t.state = "
                  "'done' AND j.state != 'cancelled' GROUP BY j.id ORDER "
                  "BY j.id",
                  &st);
    while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        grown = pm_realloc(v, (count + 1) * sizeof(*v));
        if (grown == NULL) {
            err = PM_ENOMEM;
            break;
        }
        v = grown;
        err = read_review_job(st, &v[count++]);
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = pm__catalog_db_fail(cat);
    sqlite3_finalize(st);
    if (err != 0) {
        pm_review_job_list_free(v, count);
        return err;
    }
    *out = v;
    *n = count;
    return 0;
}

int pm_review_count(pm_catalog_t *cat, int64_t *pages, int64_t *jobs)
{
    sqlite3_stmt *st;
    int err =
        prepare(cat, "SELECT count(*), count(DISTINCT t.job)" REVIEW_FROM, &st);

    *pages = *jobs = 0;
    if (err != 0)
        return err;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *pages = sqlite3_column_int64(st, 0);
        *jobs = sqlite3_column_int64(st, 1);
    } else {
        err = pm__catalog_db_fail(cat);
    }
    sqlite3_finalize(st);
    return err;
}

/* ---- replaced pages ---- */

static const char *const replace_states[] = {"pending", "done", "failed"};

const char *pm_replace_state_name(pm_replace_state_t s)
{
    return (unsigned)s < 3 ? replace_states[s] : "?";
}

void pm_replacement_cleanup(pm_replacement_t *r)
{
    if (r == NULL)
        return;
    pm_free(r->src);
    pm_free(r->sha256);
    pm_free(r->old_src);
    pm_free(r->old_sha256);
    pm_free(r->actor);
    pm_free(r->error);
    pm_free(r->kept_as);
    memset(r, 0, sizeof(*r));
}

void pm_replacement_list_free(pm_replacement_t *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        pm_replacement_cleanup(&v[i]);
    pm_free(v);
}

#define REPLACE_COLS                                                 \
    "SELECT id, job, page, src, sha256, old_src, old_frame, "        \
    "old_sha256, state, actor, requested_at, coalesce(finished_at, " \
    "0), error, kept_as FROM page_replacements"

static int read_replacement(sqlite3_stmt *st, pm_replacement_t *r)
{
    const char *state = (const char *)sqlite3_column_text(st, 8);
    int oom = 0;

    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    r->job = sqlite3_column_int64(st, 1);
    r->page = sqlite3_column_int(st, 2);
    r->src = col_dup(st, 3, &oom);
    r->sha256 = col_dup(st, 4, &oom);
    r->old_src = col_dup(st, 5, &oom);
    r->old_frame = sqlite3_column_int(st, 6);
    r->old_sha256 = col_dup(st, 7, &oom);
    for (int i = 0; i < 3; i++)
        if (state != NULL && strcmp(state, replace_states[i]) == 0)
            r->state = (pm_replace_state_t)i;
    r->actor = col_dup(st, 9, &oom);
    r->requested_at = sqlite3_column_int64(st, 10);
    r->finished_at = sqlite3_column_int64(st, 11);
    r->error = col_dup(st, 12, &oom);
    r->kept_as = col_dup(st, 13, &oom);
    if (oom) {
        pm_replacement_cleanup(r);
        return PM_ENOMEM;
    }
    return 0;
}

int pm_replace_check(pm_catalog_t *cat, int64_t job, int page)
{
    sqlite3_stmt *st;
    const char *state;
    int pages = 0, pending = 0, err, rc;

    err = prepare(cat,
                  "SELECT state, pages, (SELECT page FROM page_replacements "
                  "r WHERE r.job = j.id AND r.state = 'pending') FROM jobs "
                  "j WHERE id = ?1",
                  &st);
    if (err != 0)
        return err;
    sqlite3_bind_int64(st, 1, job);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        err = rc == SQLITE_DONE
                  ? fail(cat, PM_ENOENT, "no job %lld", (long long)job)
                  : pm__catalog_db_fail(cat);
        sqlite3_finalize(st);
        return err;
    }
    state = (const char *)sqlite3_column_text(st, 0);
    pages = sqlite3_column_int(st, 1);
    pending = sqlite3_column_int(st, 2);
    if (state == NULL || strcmp(state, "done") != 0)
        err = fail(cat, PM_EINVAL,
                   "job %lld is %s; only a done job's page can be "
                   "replaced",
                   (long long)job, state ? state : "?");
    else if (page < 1 || page > pages)
        err = fail(cat, PM_EINVAL,
                   "job %lld has pages 1 to %d; there is no page %d",
                   (long long)job, pages, page);
    else if (pending != 0)
        err = fail(cat, PM_EINVAL,
                   "job %lld: the replacement of page %d is still pending; "
                   "wait until it is done",
                   (long long)job, pending);
    sqlite3_finalize(st);
    return err;
}

static int replace_insert(pm_catalog_t *cat, int64_t job, int page,
                          const char *src, const char *sha256,
                          const char *actor, int64_t now, int64_t *id)
{
    sqlite3_stmt *st;
    int err = prepare(cat,
                      "INSERT INTO page_replacements (job, page, src, "
                      "sha256, old_src, old_frame, old_sha256, actor, "
                      "requested_at) SELECT job, page, ?3, ?4, src, frame, "
                      "sha256, ?5, ?6 FROM page_tasks WHERE job = ?1 AND "
                      "page = ?2",
                      &st);

    if (err != 0)
        return err;
    sqlite3_bind_int64(st, 1, job);
    sqlite3_bind_int(st, 2, page);
    bind_str(st, 3, src);
    bind_str(st, 4, sha256);
    bind_str(st, 5, actor);
    sqlite3_bind_int64(st, 6, now);
    err = exec_done(cat, st);
    if (err == 0 && sqlite3_changes(pm__catalog_db(cat)) != 1)
        err = fail(cat, PM_ENOENT, "job %lld has no page %d", (long long)job,
                   page);
    *id = sqlite3_last_insert_rowid(pm__catalog_db(cat));
    return err;
}

int pm_replace_request(pm_catalog_t *cat, int64_t job, int page,
                       const char *src, const char *sha256, const char *actor,
                       int64_t now, int64_t *id)
{
    char *detail;
    int err;

    assert(src != NULL && sha256 != NULL && actor != NULL);
    *id = 0;
    if (strlen(sha256) != 64)
        return fail(cat, PM_EINVAL, "a rescan needs its SHA-256");
    err = exec_sql(cat, "BEGIN IMMEDIATE");
    if (err != 0)
        return err;
    err = pm_replace_check(cat, job, page);
    if (err == 0)
        err = replace_insert(cat, job, page, src, sha256, actor, now, id);
    detail = pm_asprintf("page %d to be replaced by %s (SHA-256 %s)", page, src,
                         sha256);
    if (err == 0)
        err = detail ? event(cat, now, actor, "page.replace_requested", job,
                             page, detail)
                     : PM_ENOMEM;
    pm_free(detail);
    return tx_end(cat, err);
}

int pm_replace_next(pm_catalog_t *cat, pm_replacement_t *out)
{
    sqlite3_stmt *st;
    int err = prepare(cat,
                      REPLACE_COLS " WHERE state = 'pending' ORDER BY id "
                                   "LIMIT 1",
                      &st);
    int rc;

    memset(out, 0, sizeof(*out));
    if (err != 0)
        return err;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        err = read_replacement(st, out);
    else if (rc == SQLITE_DONE)
        err = fail(cat, PM_ENOENT, "no replacement is pending");
    else
        err = pm__catalog_db_fail(cat);
    sqlite3_finalize(st);
    return err;
}

int pm_replace_list(pm_catalog_t *cat, int64_t job, pm_replacement_t **out,
                    size_t *n)
{
    sqlite3_stmt *st;
    pm_replacement_t *v = NULL, *grown;
    size_t count = 0;
    int err = prepare(cat, REPLACE_COLS " WHERE job = ?1 ORDER BY id", &st);
    int rc = SQLITE_DONE;

    *out = NULL;
    *n = 0;
    if (err != 0)
        return err;
    sqlite3_bind_int64(st, 1, job);
    while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        grown = pm_realloc(v, (count + 1) * sizeof(*v));
        if (grown == NULL) {
            err = PM_ENOMEM;
            break;
        }
        v = grown;
        err = read_replacement(st, &v[count]);
        count += err == 0;
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = pm__catalog_db_fail(cat);
    sqlite3_finalize(st);
    if (err != 0) {
        pm_replacement_list_free(v, count);
        return err;
    }
    *out = v;
    *n = count;
    return 0;
}

/* The page's row becomes the rescan's: its file, digest and metrics. */
static int page_update(pm_catalog_t *cat, const pm_replacement_t *r,
                       const pm_page_metrics_t *m)
{
    sqlite3_stmt *st;
    int err = prepare(
        cat,
        "UPDATE page_tasks SET src = ?3, frame = 0, sha256 = ?4, width = ?5, "
        "height = ?6, xres = ?7, yres = ?8, rotation = ?9, "
        "orient_confidence = ?10, skew = ?11, skew_confidence = ?12, "
        "blank = ?13, ink_ratio = ?14, words = ?15, confidence = ?16, "
        "kind = ?17, codec = ?18, bytes = ?19, ms_decode = ?20, "
        "ms_orient = ?21, ms_deskew = ?22, ms_blank = ?23, ms_ocr = ?24, "
        "ms_encode = ?25, ms_total = ?26, image = ?27, text_pdf = ?28, "
        "text = ?29, orient_osd = ?30, dpi_fallback = ?31, review = ?32, "
        "orient_method = ?33, orient_evidence = ?34 WHERE job = ?1 AND "
        "page = ?2 AND state = 'done'",
        &st);

    if (err != 0)
        return err;
    sqlite3_bind_int64(st, 1, r->job);
    sqlite3_bind_int(st, 2, r->page);
    bind_str(st, 3, r->src);
    bind_str(st, 4, r->sha256);
    sqlite3_bind_int(st, 5, m->width);
    sqlite3_bind_int(st, 6, m->height);
    sqlite3_bind_int(st, 7, m->xres);
    sqlite3_bind_int(st, 8, m->yres);
    sqlite3_bind_int(st, 9, m->rotation);
    sqlite3_bind_double(st, 10, m->orient_confidence);
    sqlite3_bind_double(st, 11, m->skew);
    sqlite3_bind_double(st, 12, m->skew_confidence);
    sqlite3_bind_int(st, 13, m->blank != 0);
    sqlite3_bind_double(st, 14, m->ink_ratio);
    sqlite3_bind_int(st, 15, m->words);
    sqlite3_bind_double(st, 16, m->confidence);
    bind_str(st, 17, m->kind);
    bind_str(st, 18, m->codec);
    sqlite3_bind_int64(st, 19, m->bytes);
    sqlite3_bind_double(st, 20, m->ms_decode);
    sqlite3_bind_double(st, 21, m->ms_orient);
    sqlite3_bind_double(st, 22, m->ms_deskew);
    sqlite3_bind_double(st, 23, m->ms_blank);
    sqlite3_bind_double(st, 24, m->ms_ocr);
    sqlite3_bind_double(st, 25, m->ms_encode);
    sqlite3_bind_double(st, 26, m->ms_total);
    bind_str(st, 27, m->image);
    bind_str(st, 28, m->text_pdf);
    bind_str(st, 29, m->text);
    sqlite3_bind_int(st, 30, m->orient_osd != 0);
    sqlite3_bind_int(st, 31, m->dpi_fallback != 0);
    bind_str(st, 32, m->review);
    bind_str(st, 33, m->orient_method);
    bind_str(st, 34, m->orient_evidence);
    err = exec_done(cat, st);
    if (err == 0 && sqlite3_changes(pm__catalog_db(cat)) != 1)
        err = fail(cat, PM_EINVAL, "job %lld page %d is no longer done",
                   (long long)r->job, r->page);
    return err;
}

/* The job's published PDF is now the new one; the job stays done, with
 * its finished_at and billing month. */
static int job_update(pm_catalog_t *cat, int64_t job, const char *sha,
                      int pages, int64_t now)
{
    sqlite3_stmt *st;
    int err = prepare(cat,
                      "UPDATE jobs SET pdf_sha256 = ?2, pdf_pages = ?3, "
                      "updated_at = ?4 WHERE id = ?1 AND state = 'done'",
                      &st);

    if (err != 0)
        return err;
    sqlite3_bind_int64(st, 1, job);
    bind_str(st, 2, sha);
    sqlite3_bind_int(st, 3, pages);
    sqlite3_bind_int64(st, 4, now);
    err = exec_done(cat, st);
    if (err == 0 && sqlite3_changes(pm__catalog_db(cat)) != 1)
        err =
            fail(cat, PM_EINVAL, "job %lld is no longer done", (long long)job);
    return err;
}

static int replace_settle(pm_catalog_t *cat, int64_t id, const char *state,
                          const char *error, const char *kept_as, int64_t now)
{
    sqlite3_stmt *st;
    int err = prepare(cat,
                      "UPDATE page_replacements SET state = ?2, error = ?3, "
                      "kept_as = ?4, finished_at = ?5 WHERE id = ?1 AND "
                      "state = 'pending'",
                      &st);

    if (err != 0)
        return err;
    sqlite3_bind_int64(st, 1, id);
    bind_str(st, 2, state);
    bind_str(st, 3, error);
    bind_str(st, 4, kept_as);
    sqlite3_bind_int64(st, 5, now);
    err = exec_done(cat, st);
    if (err == 0 && sqlite3_changes(pm__catalog_db(cat)) != 1)
        err = fail(cat, PM_ESTALE, "replacement %lld is no longer pending",
                   (long long)id);
    return err;
}

int pm_replace_finish(pm_catalog_t *cat, const pm_replacement_t *r,
                      const pm_page_metrics_t *m, const char *pdf_sha256,
                      int pdf_pages, const char *kept_as, int64_t now)
{
    char *detail;
    int err = exec_sql(cat, "BEGIN IMMEDIATE");

    if (err != 0)
        return err;
    err = replace_settle(cat, r->id, "done", NULL, kept_as, now);
    if (err == 0)
        err = page_update(cat, r, m);
    if (err == 0)
        err = job_update(cat, r->job, pdf_sha256, pdf_pages, now);
    detail = pm_asprintf(
        "page %d replaced (requested by %s): now %s (SHA-256 %s)%s%s; "
        "%s; PDF SHA-256 %s, %d pages; billing unchanged",
        r->page, r->actor, r->src, r->sha256,
        kept_as ? "; the old original kept as " : "", kept_as ? kept_as : "",
        m->review ? m->review : "not flagged for review", pdf_sha256,
        pdf_pages);
    if (err == 0)
        err = detail ? event(cat, now, "coordinator", "page.replaced", r->job,
                             r->page, detail)
                     : PM_ENOMEM;
    pm_free(detail);
    return tx_end(cat, err);
}

int pm_replace_fail(pm_catalog_t *cat, const pm_replacement_t *r,
                    const char *why, int64_t now)
{
    char *detail;
    int err = exec_sql(cat, "BEGIN IMMEDIATE");

    if (err != 0)
        return err;
    err = replace_settle(cat, r->id, "failed", why, NULL, now);
    detail = pm_asprintf("replacing page %d (requested by %s) failed: %s; "
                         "the published document is unchanged",
                         r->page, r->actor, why);
    if (err == 0)
        err = detail ? event(cat, now, "coordinator", "page.replace_failed",
                             r->job, r->page, detail)
                     : PM_ENOMEM;
    pm_free(detail);
    return tx_end(cat, err);
}
