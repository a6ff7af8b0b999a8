/*
 * sqlite_jobs.c: jobs in the SQLite backend: creating one with its
 * page tasks in one transaction, finding and listing them, the operator's
 * release, retry and cancel, and finishing: collecting jobs whose pages
 * are all finished, done (with the billing month) or failed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "catalog/billing.h"
#include "catalog/billing_int.h"
#include "catalog/catalog.h"
#include "catalog/job_rules.h"
#include "catalog/sqlite_int.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_JOB_ADD,
    ST_TASK_ADD,
    ST_JOB_FIND_DUP,
    ST_JOB_GET,
    ST_JOB_LIST,
    ST_JOB_STATE,
    ST_JOB_SET_STATE,
    ST_JOB_REQUEUE,
    ST_JOB_SET_FAILED,
    ST_JOB_SET_DONE,
    ST_JOB_FINISHED,
    ST_JOB_ASSEMBLING,
    ST_TASKS_FAILED,
    ST_TASKS_RETRY,
    ST_TASKS_UNLEASE,
    ST_JOB_BY_SOURCE,
    ST_COUNT
};

/* The page counts use the claim index: (state, job) equality. */
#define JOB_COLS                                                       \
    "j.id, j.workorder, j.account, j.hotfolder, j.profile, j.batch, "  \
    "j.operator_name, j.notes, j.source_path, j.output_path, "         \
    "j.hold_reason, j.error, j.state, j.pages, "                       \
    "(SELECT count(*) FROM page_tasks t WHERE t.state = 'done' AND "   \
    "t.job = j.id), "                                                  \
    "(SELECT count(*) FROM page_tasks t WHERE t.state = 'failed' AND " \
    "t.job = j.id), "                                                  \
    "(SELECT count(*) FROM page_tasks t WHERE t.state = 'done' AND "   \
    "t.job = j.id AND t.blank = 1), "                                  \
    "coalesce(j.duplicate_of, 0), j.created_at, j.updated_at, "        \
    "coalesce(j.finished_at, 0), j.bill_blank, "                       \
    "coalesce(j.billing_month, '') FROM jobs j"

static const pm__sql_t stmts[ST_COUNT] = {
    [ST_JOB_ADD] = {"job_add",
                    "INSERT INTO jobs (workorder, account, hotfolder, "
                    "profile, batch, operator_name, notes, source_path, "
                    "hold_reason, state, pages, duplicate_of, created_at, "
                    "updated_at, bill_blank) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                    "?7, ?8, ?9, ?10, ?11, nullif(?12, 0), ?13, ?13, ?14)"},
    [ST_TASK_ADD] = {"task_add",
                     "INSERT INTO page_tasks (job, page, src, frame, sha256, "
                     "work) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
    [ST_JOB_FIND_DUP] = {"job_find_dup",
                         "SELECT coalesce(min(t.job), 0) FROM page_tasks t "
                         "JOIN jobs j ON j.id = t.job WHERE t.sha256 = ?1 "
                         "AND j.state <> 'cancelled'"},
    [ST_JOB_GET] = {"job_get", "SELECT " JOB_COLS " WHERE j.id = ?1"},
    [ST_JOB_LIST] = {"job_list", "SELECT " JOB_COLS
                                 " WHERE (?1 IS NULL OR j.state = ?1) AND "
                                 "(?2 IS NULL OR j.workorder = ?2) "
                                 "ORDER BY j.id DESC LIMIT ?3"},
    [ST_JOB_STATE] = {"job_state", "SELECT state FROM jobs WHERE id = ?1"},
    [ST_JOB_SET_STATE] = {"job_set_state",
                          "UPDATE jobs SET state = ?2, updated_at = ?3 "
                          "WHERE id = ?1"},
    [ST_JOB_REQUEUE] = {"job_requeue",
                        "UPDATE jobs SET state = 'queued', hold_reason = "
                        "NULL, error = NULL, updated_at = ?2 WHERE id = ?1"},
    [ST_JOB_SET_FAILED] = {"job_set_failed",
                           "UPDATE jobs SET state = 'failed', error = ?2, "
                           "updated_at = ?3 WHERE id = ?1"},
    [ST_JOB_SET_DONE] = {"job_set_done",
                         "UPDATE jobs SET state = 'done', output_path = ?2, "
                         "finished_at = coalesce(finished_at, ?3), "
                         "updated_at = ?3, billing_month = "
                         "coalesce(billing_month, ?4), pdf_sha256 = ?5, "
                         "pdf_pages = ?6 WHERE id = ?1"},
    /* Active jobs with nothing left to run. */
    [ST_JOB_FINISHED] = {"job_finished",
                         "SELECT j.id FROM jobs j WHERE j.state IN "
                         "('queued', 'running') AND NOT EXISTS (SELECT 1 "
                         "FROM page_tasks t WHERE t.state IN ('queued', "
                         "'running') AND t.job = j.id) ORDER BY j.id"},
    [ST_JOB_ASSEMBLING] = {"job_assembling",
                           "SELECT id FROM jobs WHERE state = 'assembling' "
                           "ORDER BY id"},
    [ST_TASKS_FAILED] = {"tasks_failed",
                         "SELECT page, src, frame, error FROM page_tasks "
                         "WHERE state = 'failed' AND job = ?1 ORDER BY page"},
    /* Retry: a fresh attempt budget, the same fencing token. */
    [ST_TASKS_RETRY] = {"tasks_retry",
                        "UPDATE page_tasks SET state = 'queued', "
                        "attempts_base = attempts, error = NULL, "
                        "lease_owner = NULL, lease_until = NULL "
                        "WHERE state = 'failed' AND job = ?1"},
    [ST_TASKS_UNLEASE] = {"tasks_unlease",
                          "UPDATE page_tasks SET state = 'queued', "
                          "lease_owner = NULL, lease_until = NULL "
                          "WHERE state = 'running' AND job = ?1"},
    [ST_JOB_BY_SOURCE] = {"job_by_source",
                          "SELECT coalesce(min(id), 0) FROM jobs WHERE "
                          "source_path = ?1"},
};

const pm__sql_table_t pm__sql_jobs = {stmts, ST_COUNT};

_Static_assert(ST_COUNT <= PM__SQL_MAX, "raise PM__SQL_MAX");

#define STMT(cat, i) pm__stmt((cat), PM__SQL_JOBS, (i))

/* ---- jobs ---- */

void pm_job_cleanup(pm_job_t *j)
{
    if (j == NULL)
        return;
    pm_free(j->workorder);
    pm_free(j->account);
    pm_free(j->hotfolder);
    pm_free(j->profile);
    pm_free(j->batch);
    pm_free(j->operator_name);
    pm_free(j->notes);
    pm_free(j->source_path);
    pm_free(j->output_path);
    pm_free(j->hold_reason);
    pm_free(j->error);
    memset(j, 0, sizeof(*j));
}

static void job_cleanup_v(void *item)
{
    pm_job_cleanup(item);
}

/* Reads a row of JOB_COLS. */
static int read_job(sqlite3_stmt *st, void *item)
{
    pm_job_t *j = item;
    char **strs[] = {&j->workorder,   &j->account,     &j->hotfolder,
                     &j->profile,     &j->batch,       &j->operator_name,
                     &j->notes,       &j->source_path, &j->output_path,
                     &j->hold_reason, &j->error};
    size_t i;
    int state;

    memset(j, 0, sizeof(*j));
    state = pm_job_state_parse((const char *)sqlite3_column_text(st, 12));
    if (state < 0)
        return PM_ECATALOG;
    j->id = sqlite3_column_int64(st, 0);
    j->state = (pm_job_state_t)state;
    j->pages = sqlite3_column_int(st, 13);
    j->pages_done = sqlite3_column_int(st, 14);
    j->pages_failed = sqlite3_column_int(st, 15);
    j->pages_blank = sqlite3_column_int(st, 16);
    j->duplicate_of = sqlite3_column_int64(st, 17);
    j->created_at = sqlite3_column_int64(st, 18);
    j->updated_at = sqlite3_column_int64(st, 19);
    j->finished_at = sqlite3_column_int64(st, 20);
    j->bill_blank = sqlite3_column_int(st, 21);
    pm__sql_col_name(st, 22, j->billing_month, sizeof(j->billing_month));
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (pm__sql_col_str(st, 1 + (int)i, strs[i]) != 0) {
            pm_job_cleanup(j);
            return PM_ENOMEM;
        }
    }
    return 0;
}

static int insert_job(pm_catalog_t *cat, const pm_job_t *j, size_t npages,
                      int64_t now, int64_t *id)
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_ADD);
    int err;

    if (pm__sql_bind_text(st, 1, j->workorder) ||
        pm__sql_bind_text(st, 2, j->account) ||
        pm__sql_bind_text(st, 3, j->hotfolder) ||
        pm__sql_bind_text(st, 4, j->profile) ||
        pm__sql_bind_text(st, 5, j->batch) ||
        pm__sql_bind_text(st, 6, j->operator_name) ||
        pm__sql_bind_text(st, 7, j->notes) ||
        pm__sql_bind_text(st, 8, j->source_path) ||
        pm__sql_bind_text(st, 9, j->hold_reason) ||
        pm__sql_bind_text(st, 10, j->hold_reason ? "held" : "queued") ||
        sqlite3_bind_int64(st, 11, (sqlite3_int64)npages) ||
        sqlite3_bind_int64(st, 12, j->duplicate_of) ||
        sqlite3_bind_int64(st, 13, now) ||
        sqlite3_bind_int(st, 14, j->bill_blank != 0))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_run(cat, st);
    if (err == PM_ENOENT)
        pm__catalog_msg(cat, err, "duplicate_of: no job %lld",
                        (long long)j->duplicate_of);
    *id = sqlite3_last_insert_rowid(cat->db);
    return err;
}

static int insert_tasks(pm_catalog_t *cat, int64_t job,
                        const pm_page_input_t *pages, size_t npages)
{
    sqlite3_stmt *st = STMT(cat, ST_TASK_ADD);
    char sha[65];
    size_t i;
    int err = 0;

    for (i = 0; err == 0 && i < npages; i++) {
        pm__job_sha256_normalize(pages[i].sha256, sha); /* checked already */
        if (sqlite3_bind_int64(st, 1, job) ||
            sqlite3_bind_int(st, 2, (int)i + 1) ||
            pm__sql_bind_text(st, 3, pages[i].src) ||
            sqlite3_bind_int(st, 4, pages[i].frame) ||
            pm__sql_bind_text(st, 5, sha) ||
            sqlite3_bind_int64(st, 6, pages[i].work))
            err = pm__sql_bind_fail(cat, st);
        else
            err = pm__sql_run(cat, st);
    }
    return err;
}

int pm__sqlite_job_create(pm_catalog_t *cat, const pm_job_t *j,
                          const pm_page_input_t *pages, size_t npages,
                          const char *actor, int64_t *id)
{
    int64_t now = pm__wall_clock(), job = 0;
    char *detail;
    int err;

    *id = 0;
    if (j->workorder == NULL || actor == NULL)
        return pm__catalog_msg(cat, PM_EINVAL,
                               "a job needs a work order and actor");
    err = pm__job_check_pages(cat, pages, npages);
    if (err != 0)
        return err;
    detail = pm__job_created_detail(j, npages);
    if (detail == NULL)
        return pm__catalog_nomem(cat);
    err = pm__sql_tx_begin(cat);
    if (err == 0) {
        err = insert_job(cat, j, npages, now, &job);
        if (err == 0)
            err = insert_tasks(cat, job, pages, npages);
        if (err == 0)
            err = pm__event_insert(cat, now, actor, "job.created", job, 0,
                                   detail);
        err = pm__sql_tx_end(cat, err);
    }
    pm_free(detail);
    if (err == 0)
        *id = job;
    return err;
}

int pm__sqlite_job_find_duplicate(pm_catalog_t *cat,
                                  const pm_page_input_t *pages, size_t npages,
                                  int64_t *job)
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_FIND_DUP);
    char sha[65], prev[65] = "";
    int64_t best = 0, found = 0;
    size_t i;
    int err;

    *job = 0;
    err = pm__job_check_checksums(cat, pages, npages);
    if (err != 0)
        return err;
    err = pm__sql_tx_begin_read(cat);
    for (i = 0; err == 0 && i < npages; i++) {
        pm__job_sha256_normalize(pages[i].sha256, sha);
        if (strcmp(sha, prev) == 0) /* frames of one file */
            continue;
        memcpy(prev, sha, sizeof(prev));
        if (pm__sql_bind_text(st, 1, sha))
            err = pm__sql_bind_fail(cat, st);
        else
            err = pm__sql_query_int64(cat, st, &found);
        if (err == 0 && found != 0 && (best == 0 || found < best))
            best = found;
    }
    err = pm__sql_tx_end(cat, err);
    if (err == 0)
        *job = best;
    return err;
}

int pm__sqlite_job_by_source(pm_catalog_t *cat, const char *source_path,
                             int64_t *job)
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_BY_SOURCE);

    *job = 0;
    if (pm__sql_bind_text(st, 1, source_path))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_query_int64(cat, st, job);
}

int pm__sqlite_job_get(pm_catalog_t *cat, int64_t id, pm_job_t *out)
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_GET);
    int err;

    memset(out, 0, sizeof(*out));
    if (sqlite3_bind_int64(st, 1, id))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_get_one(cat, st, read_job, out);
    if (err == PM_ENOENT)
        pm__catalog_msg(cat, err, "no job %lld", (long long)id);
    return err;
}

int pm__sqlite_job_list(pm_catalog_t *cat, int state, const char *workorder,
                        size_t limit, pm_job_t **out, size_t *n)
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_LIST);

    *out = NULL;
    *n = 0;
    if (state < -1 || state > (int)PM_JOB_CANCELLED)
        return pm__catalog_msg(cat, PM_EINVAL, "no job state %d", state);
    if (pm__sql_bind_text(
            st, 1,
            state < 0 ? NULL : pm_job_state_name((pm_job_state_t)state)) ||
        pm__sql_bind_text(st, 2, workorder) || pm__sql_bind_limit(st, 3, limit))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_collect(cat, st, sizeof(pm_job_t), read_job, job_cleanup_v,
                           (void **)out, n);
}

void pm_job_list_free(pm_job_t *v, size_t n)
{
    pm__sql_free_items(v, n, sizeof(*v), job_cleanup_v);
}

/* Reads job `id`'s state into name[32]; PM_ENOENT, no message, when
 * there is no such job. */
static int state_lock(pm_catalog_t *cat, int64_t id, char name[32])
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_STATE);
    int err;

    name[0] = '\0';
    if (sqlite3_bind_int64(st, 1, id))
        return pm__sql_bind_fail(cat, st);
    err = pm__sql_first_row(cat, st);
    if (err <= 0)
        return err == 0 ? PM_ENOENT : err;
    pm__sql_col_name(st, 0, name, 32);
    pm__sql_stmt_done(st);
    return 0;
}

static int job_set_state(pm_catalog_t *cat, int64_t id, pm_job_state_t s,
                         int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_SET_STATE);

    if (sqlite3_bind_int64(st, 1, id) ||
        pm__sql_bind_text(st, 2, pm_job_state_name(s)) ||
        sqlite3_bind_int64(st, 3, now))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

static int job_requeue(pm_catalog_t *cat, int64_t id, int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_REQUEUE);

    if (sqlite3_bind_int64(st, 1, id) || sqlite3_bind_int64(st, 2, now))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

static int job_set_failed(pm_catalog_t *cat, int64_t id, const char *why,
                          int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_SET_FAILED);

    if (sqlite3_bind_int64(st, 1, id) || pm__sql_bind_text(st, 2, why) ||
        sqlite3_bind_int64(st, 3, now))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

/* Runs a per-job statement (?1 = job) and stores the rows changed. */
static int run_for_job(pm_catalog_t *cat, int which, int64_t job, int *changes)
{
    sqlite3_stmt *st = STMT(cat, which);

    if (sqlite3_bind_int64(st, 1, job))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run_changes(cat, st, changes);
}

static int tasks_retry(pm_catalog_t *cat, int64_t job, int *pages)
{
    return run_for_job(cat, ST_TASKS_RETRY, job, pages);
}

static int tasks_unlease(pm_catalog_t *cat, int64_t job)
{
    int changes;

    return run_for_job(cat, ST_TASKS_UNLEASE, job, &changes);
}

static int set_done(pm_catalog_t *cat, int64_t id, const char *output_path,
                    const char *pdf_sha256, int pdf_pages, const char *month,
                    int64_t now)
{
    sqlite3_stmt *st = STMT(cat, ST_JOB_SET_DONE);

    if (sqlite3_bind_int64(st, 1, id) ||
        pm__sql_bind_text(st, 2, output_path) ||
        sqlite3_bind_int64(st, 3, now) || pm__sql_bind_text(st, 4, month) ||
        pm__sql_bind_text(st, 5, pdf_sha256) ||
        (pdf_pages >= 0 ? sqlite3_bind_int(st, 6, pdf_pages)
                        : sqlite3_bind_null(st, 6)))
        return pm__sql_bind_fail(cat, st);
    return pm__sql_run(cat, st);
}

/* ---- finishing jobs ---- */

/* Adds each failed page of `job` to f. */
static int failed_pages(pm_catalog_t *cat, int64_t job, pm__failed_pages_t *f)
{
    sqlite3_stmt *st = STMT(cat, ST_TASKS_FAILED);
    int rc, err = 0;

    if (sqlite3_bind_int64(st, 1, job))
        return pm__sql_bind_fail(cat, st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        pm__failed_pages_add(f, sqlite3_column_int(st, 0),
                             (const char *)sqlite3_column_text(st, 1),
                             sqlite3_column_int(st, 2),
                             (const char *)sqlite3_column_text(st, 3));
    if (rc != SQLITE_DONE)
        err = pm__sql_fail(cat);
    pm__sql_stmt_done(st);
    return err;
}

/* SQLite's primitives for job_rules.c: its claimers poll, so no wake. */
static const pm__job_io_t job_io = {
    .ledger = &pm__sqlite_ledger_io,
    .state_lock = state_lock,
    .failed_pages = failed_pages,
    .set_state = job_set_state,
    .set_failed = job_set_failed,
    .requeue = job_requeue,
    .tasks_retry = tasks_retry,
    .tasks_unlease = tasks_unlease,
    .set_done = set_done,
    .pages_ready = NULL,
};

int pm__sqlite_job_release(pm_catalog_t *cat, int64_t id, const char *actor)
{
    return pm__job_release(&job_io, cat, id, actor);
}

int pm__sqlite_job_retry(pm_catalog_t *cat, int64_t id, const char *actor)
{
    return pm__job_retry(&job_io, cat, id, actor);
}

int pm__sqlite_job_cancel(pm_catalog_t *cat, int64_t id, const char *actor,
                          const char *reason)
{
    return pm__job_cancel(&job_io, cat, id, actor, reason);
}

int pm__sqlite_job_collect_finished(pm_catalog_t *cat, int64_t now,
                                    int64_t **ids, size_t *n)
{
    int64_t *done = NULL;
    size_t ndone = 0, i;
    int err;

    *ids = NULL;
    *n = 0;
    err = pm__sql_tx_begin(cat);
    if (err != 0)
        return err;
    err = pm__sql_collect(cat, STMT(cat, ST_JOB_FINISHED), sizeof(int64_t),
                          pm__sql_read_id, NULL, (void **)&done, &ndone);
    for (i = 0; err == 0 && i < ndone; i++)
        err = pm__job_settle(&job_io, cat, done[i], now);
    pm_free(done);
    if (err == 0)
        err =
            pm__sql_collect(cat, STMT(cat, ST_JOB_ASSEMBLING), sizeof(int64_t),
                            pm__sql_read_id, NULL, (void **)ids, n);
    err = pm__sql_tx_end(cat, err);
    if (err != 0) {
        pm_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return err;
}

int pm__sqlite_job_finish(pm_catalog_t *cat, int64_t id,
                          const char *output_path, int64_t now)
{
    return pm_job_finish_doc(cat, id, output_path, NULL, -1, now);
}

int pm__sqlite_job_finish_doc(pm_catalog_t *cat, int64_t id,
                              const char *output_path, const char *pdf_sha256,
                              int pdf_pages, int64_t now)
{
    return pm__job_finish_doc(&job_io, cat, id, output_path, pdf_sha256,
                              pdf_pages, now);
}

int pm__sqlite_job_fail(pm_catalog_t *cat, int64_t id, const char *why,
                        int64_t now)
{
    return pm__job_fail(&job_io, cat, id, why, now);
}
