/*
 * pg_jobs.c: jobs in the PostgreSQL backend: the same contract as
 * sqlite_jobs.c (catalog.h). Where SQLite's BEGIN IMMEDIATE serializes
 * every writer, here a state change first locks its job's row (SELECT
 * ... FOR UPDATE), so two sessions never both move one job.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "catalog/billing.h"
#include "catalog/billing_int.h"
#include "catalog/catalog.h"
#include "catalog/job_rules.h"
#include "catalog/ledger_rules.h"
#include "catalog/pg_int.h"
#include "catalog/rules.h"
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
    ST_NOTIFY,
    ST_COUNT
};

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

static const pm__pgsql_t stmts[ST_COUNT] = {
    [ST_JOB_ADD] = {"job_add",
                    "INSERT INTO jobs (workorder, account, hotfolder, "
                    "profile, batch, operator_name, notes, source_path, "
                    "hold_reason, state, pages, duplicate_of, created_at, "
                    "updated_at, bill_blank) VALUES ($1, $2, $3, $4, $5, $6, "
                    "$7, $8, $9, $10, $11::bigint, nullif($12::bigint, 0), "
                    "$13::bigint, $13::bigint, $14::bigint) RETURNING id"},
    [ST_TASK_ADD] = {"task_add",
                     "INSERT INTO page_tasks (job, page, src, frame, sha256, "
                     "work) VALUES ($1::bigint, $2::bigint, $3, $4::bigint, "
                     "$5, $6::bigint)"},
    [ST_JOB_FIND_DUP] = {"job_find_dup",
                         "SELECT coalesce(min(t.job), 0) FROM page_tasks t "
                         "JOIN jobs j ON j.id = t.job WHERE t.sha256 = $1 "
                         "AND j.state <> 'cancelled'"},
    [ST_JOB_GET] = {"job_get", "SELECT " JOB_COLS " WHERE j.id = $1::bigint"},
    [ST_JOB_LIST] = {"job_list", "SELECT " JOB_COLS
                                 " WHERE ($1::text IS NULL OR j.state = $1) "
                                 "AND ($2::text IS NULL OR j.workorder = $2) "
                                 "ORDER BY j.id DESC LIMIT $3::bigint"},
    /* Locks the job's row until the transaction ends. */
    [ST_JOB_STATE] = {"job_state", "SELECT state FROM jobs WHERE id = "
                                   "$1::bigint FOR UPDATE"},
    [ST_JOB_SET_STATE] = {"job_set_state",
                          "UPDATE jobs SET state = $2, updated_at = "
                          "$3::bigint WHERE id = $1::bigint"},
    [ST_JOB_REQUEUE] = {"job_requeue",
                        "UPDATE jobs SET state = 'queued', hold_reason = "
                        "NULL, error = NULL, updated_at = $2::bigint WHERE "
                        "id = $1::bigint"},
    [ST_JOB_SET_FAILED] = {"job_set_failed",
                           "UPDATE jobs SET state = 'failed', error = $2, "
                           "updated_at = $3::bigint WHERE id = $1::bigint"},
    [ST_JOB_SET_DONE] = {"job_set_done",
                         "UPDATE jobs SET state = 'done', output_path = $2, "
                         "finished_at = coalesce(finished_at, $3::bigint), "
                         "updated_at = $3::bigint, billing_month = "
                         "coalesce(billing_month, $4), pdf_sha256 = $5, "
                         "pdf_pages = $6::bigint WHERE id = $1::bigint"},
    /* Active jobs with nothing left to run, locked. */
    [ST_JOB_FINISHED] = {"job_finished",
                         "SELECT j.id FROM jobs j WHERE j.state IN "
                         "('queued', 'running') AND NOT EXISTS (SELECT 1 "
                         "FROM page_tasks t WHERE t.state IN ('queued', "
                         "'running') AND t.job = j.id) ORDER BY j.id "
                         "FOR UPDATE"},
    [ST_JOB_ASSEMBLING] = {"job_assembling",
                           "SELECT id FROM jobs WHERE state = 'assembling' "
                           "ORDER BY id"},
    [ST_TASKS_FAILED] = {"tasks_failed",
                         "SELECT page, src, frame, error FROM page_tasks "
                         "WHERE state = 'failed' AND job = $1::bigint "
                         "ORDER BY page"},
    /* Retry: a fresh attempt budget, the same fencing token. */
    [ST_TASKS_RETRY] = {"tasks_retry",
                        "UPDATE page_tasks SET state = 'queued', "
                        "attempts_base = attempts, error = NULL, "
                        "lease_owner = NULL, lease_until = NULL "
                        "WHERE state = 'failed' AND job = $1::bigint"},
    [ST_TASKS_UNLEASE] = {"tasks_unlease",
                          "UPDATE page_tasks SET state = 'queued', "
                          "lease_owner = NULL, lease_until = NULL "
                          "WHERE state = 'running' AND job = $1::bigint"},
    [ST_JOB_BY_SOURCE] = {"job_by_source",
                          "SELECT coalesce(min(id), 0) FROM jobs WHERE "
                          "source_path = $1"},
    /* Wakes the node agents (pg_wake.c) when the transaction commits. */
    [ST_NOTIFY] = {"job_notify",
                   "SELECT pg_notify('" PM__PG_WAKE_CHANNEL "', $1::text)"},
};

const pm__pgsql_table_t pm__pg_jobs = {stmts, ST_COUNT};

/* Tells the listening agents that job `job` has pages to claim. */
static int notify_pages(pm__pg_t *pg, int64_t job)
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r = NULL;
    int err;

    pm__pg_int(&p, job);
    err = pm__pg_run(pg, PM__PG_JOBS, ST_NOTIFY, &p, &r);
    PQclear(r);
    return err;
}

/* ---- shared ---- */

static int64_t wall_clock(void)
{
    return (int64_t)time(NULL);
}

/* Runs a query whose one row's first column is an integer. */
static int query_int64(pm__pg_t *pg, int i, const pm__pg_params_t *p,
                       int64_t *v)
{
    PGresult *r;
    int err = pm__pg_run(pg, PM__PG_JOBS, i, p, &r);

    *v = 0;
    if (err != 0)
        return err;
    if (PQntuples(r) > 0)
        *v = pm__pg_int64(r, 0, 0);
    PQclear(r);
    return 0;
}

/* Runs a per-job statement ($1 = job); *changes (may be NULL) is how
 * many rows it changed. */
static int run_for_job(pm__pg_t *pg, int i, int64_t job, int *changes)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_int(&p, job);
    return pm__pg_exec(pg, PM__PG_JOBS, i, &p, changes);
}

/* ---- jobs ---- */

static void job_cleanup_v(void *item)
{
    pm_job_cleanup(item);
}

/* Reads a row of JOB_COLS. */
static int read_job(const PGresult *r, int row, void *item)
{
    pm_job_t *j = item;
    char **strs[] = {&j->workorder,   &j->account,     &j->hotfolder,
                     &j->profile,     &j->batch,       &j->operator_name,
                     &j->notes,       &j->source_path, &j->output_path,
                     &j->hold_reason, &j->error};
    size_t i;
    int state;

    memset(j, 0, sizeof(*j));
    state = pm_job_state_parse(PQgetvalue(r, row, 12));
    if (state < 0)
        return PM_ECATALOG;
    j->id = pm__pg_int64(r, row, 0);
    j->state = (pm_job_state_t)state;
    j->pages = (int)pm__pg_int64(r, row, 13);
    j->pages_done = (int)pm__pg_int64(r, row, 14);
    j->pages_failed = (int)pm__pg_int64(r, row, 15);
    j->pages_blank = (int)pm__pg_int64(r, row, 16);
    j->duplicate_of = pm__pg_int64(r, row, 17);
    j->created_at = pm__pg_int64(r, row, 18);
    j->updated_at = pm__pg_int64(r, row, 19);
    j->finished_at = pm__pg_int64(r, row, 20);
    j->bill_blank = (int)pm__pg_int64(r, row, 21);
    snprintf(j->billing_month, sizeof(j->billing_month), "%s",
             PQgetvalue(r, row, 22));
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (pm__pg_str(r, row, 1 + (int)i, strs[i]) != 0) {
            pm_job_cleanup(j);
            return PM_ENOMEM;
        }
    }
    return 0;
}

static int insert_job(pm__pg_t *pg, const pm_job_t *j, size_t npages,
                      int64_t now, int64_t *id)
{
    pm__pg_params_t p = {.n = 0};
    int err;

    pm__pg_text(&p, j->workorder);
    pm__pg_text(&p, j->account);
    pm__pg_text(&p, j->hotfolder);
    pm__pg_text(&p, j->profile);
    pm__pg_text(&p, j->batch);
    pm__pg_text(&p, j->operator_name);
    pm__pg_text(&p, j->notes);
    pm__pg_text(&p, j->source_path);
    pm__pg_text(&p, j->hold_reason);
    pm__pg_text(&p, j->hold_reason ? "held" : "queued");
    pm__pg_int(&p, (int64_t)npages);
    pm__pg_int(&p, j->duplicate_of);
    pm__pg_int(&p, now);
    pm__pg_int(&p, j->bill_blank != 0);
    err = query_int64(pg, ST_JOB_ADD, &p, id);
    if (err == PM_ENOENT)
        pm__pg_msg(pg, err, "duplicate_of: no job %lld",
                   (long long)j->duplicate_of);
    return err;
}

/* One statement per page: a job's pages are hundreds, not millions. */
static int insert_tasks(pm__pg_t *pg, int64_t job, const pm_page_input_t *pages,
                        size_t npages)
{
    pm__pg_params_t p;
    char sha[65];
    size_t i;
    int err = 0;

    for (i = 0; err == 0 && i < npages; i++) {
        pm__job_sha256_normalize(pages[i].sha256, sha); /* checked already */
        p.n = 0;
        pm__pg_int(&p, job);
        pm__pg_int(&p, (int64_t)i + 1);
        pm__pg_text(&p, pages[i].src);
        pm__pg_int(&p, pages[i].frame);
        pm__pg_text(&p, sha);
        pm__pg_int(&p, pages[i].work);
        err = pm__pg_exec(pg, PM__PG_JOBS, ST_TASK_ADD, &p, NULL);
    }
    return err;
}

int pm__pg_job_create(pm_catalog_t *cat, const pm_job_t *j,
                      const pm_page_input_t *pages, size_t npages,
                      const char *actor, int64_t *id)
{
    pm__pg_t *pg = pm__pg(cat);
    int64_t now = wall_clock(), job = 0;
    char *detail;
    int err;

    *id = 0;
    if (j->workorder == NULL || actor == NULL)
        return pm__pg_msg(pg, PM_EINVAL, "a job needs a work order and actor");
    err = pm__job_check_pages(cat, pages, npages);
    if (err != 0)
        return err;
    detail = pm__job_created_detail(j, npages);
    if (detail == NULL)
        return pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    err = pm__pg_tx_begin(pg);
    if (err == 0) {
        err = insert_job(pg, j, npages, now, &job);
        if (err == 0)
            err = insert_tasks(pg, job, pages, npages);
        if (err == 0)
            err = pm__pg_event_insert(pg, now, actor, "job.created", job, 0,
                                      detail);
        if (err == 0 && j->hold_reason == NULL && npages > 0)
            err = notify_pages(pg, job);
        err = pm__pg_tx_end(pg, err);
    }
    pm_free(detail);
    if (err == 0)
        *id = job;
    return err;
}

int pm__pg_job_find_duplicate(pm_catalog_t *cat, const pm_page_input_t *pages,
                              size_t npages, int64_t *job)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p;
    char sha[65], prev[65] = "";
    int64_t best = 0, found = 0;
    size_t i;
    int err;

    *job = 0;
    err = pm__job_check_checksums(cat, pages, npages);
    if (err != 0)
        return err;
    err = pm__pg_tx_begin_read(pg);
    for (i = 0; err == 0 && i < npages; i++) {
        pm__job_sha256_normalize(pages[i].sha256, sha);
        if (strcmp(sha, prev) == 0) /* frames of one file */
            continue;
        memcpy(prev, sha, sizeof(prev));
        p.n = 0;
        pm__pg_text(&p, sha);
        err = query_int64(pg, ST_JOB_FIND_DUP, &p, &found);
        if (err == 0 && found != 0 && (best == 0 || found < best))
            best = found;
    }
    err = pm__pg_tx_end(pg, err);
    if (err == 0)
        *job = best;
    return err;
}

int pm__pg_job_by_source(pm_catalog_t *cat, const char *source_path,
                         int64_t *job)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_text(&p, source_path);
    return query_int64(pm__pg(cat), ST_JOB_BY_SOURCE, &p, job);
}

int pm__pg_job_get(pm_catalog_t *cat, int64_t id, pm_job_t *out)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    int err;

    memset(out, 0, sizeof(*out));
    pm__pg_int(&p, id);
    err = pm__pg_get_one(pg, PM__PG_JOBS, ST_JOB_GET, &p, read_job, out);
    if (err == PM_ENOENT)
        pm__pg_msg(pg, err, "no job %lld", (long long)id);
    return err;
}

int pm__pg_job_list(pm_catalog_t *cat, int state, const char *workorder,
                    size_t limit, pm_job_t **out, size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    *out = NULL;
    *n = 0;
    if (state < -1 || state > (int)PM_JOB_CANCELLED)
        return pm__pg_msg(pg, PM_EINVAL, "no job state %d", state);
    pm__pg_text(&p,
                state < 0 ? NULL : pm_job_state_name((pm_job_state_t)state));
    pm__pg_text(&p, workorder);
    pm__pg_limit(&p, limit);
    err = pm__pg_run(pg, PM__PG_JOBS, ST_JOB_LIST, &p, &r);
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(pm_job_t), read_job, job_cleanup_v,
                          (void **)out, n);
}

/* Reads job `id`'s state into name[32], locking its row until the
 * transaction ends; PM_ENOENT, no message, when there is no such job. */
static int state_lock(pm_catalog_t *cat, int64_t id, char name[32])
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    name[0] = '\0';
    pm__pg_int(&p, id);
    err = pm__pg_run(pm__pg(cat), PM__PG_JOBS, ST_JOB_STATE, &p, &r);
    if (err != 0)
        return err;
    if (PQntuples(r) == 0)
        err = PM_ENOENT;
    else
        snprintf(name, 32, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return err;
}

static int job_set_state(pm_catalog_t *cat, int64_t id, pm_job_state_t s,
                         int64_t now)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_int(&p, id);
    pm__pg_text(&p, pm_job_state_name(s));
    pm__pg_int(&p, now);
    return pm__pg_exec(pm__pg(cat), PM__PG_JOBS, ST_JOB_SET_STATE, &p, NULL);
}

static int job_requeue(pm_catalog_t *cat, int64_t id, int64_t now)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_int(&p, id);
    pm__pg_int(&p, now);
    return pm__pg_exec(pm__pg(cat), PM__PG_JOBS, ST_JOB_REQUEUE, &p, NULL);
}

static int job_set_failed(pm_catalog_t *cat, int64_t id, const char *why,
                          int64_t now)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_int(&p, id);
    pm__pg_text(&p, why);
    pm__pg_int(&p, now);
    return pm__pg_exec(pm__pg(cat), PM__PG_JOBS, ST_JOB_SET_FAILED, &p, NULL);
}

/* ---- finishing jobs ---- */

/* Adds each failed page of `job` to f. */
static int failed_pages(pm_catalog_t *cat, int64_t job, pm__failed_pages_t *f)
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    pm__pg_int(&p, job);
    err = pm__pg_run(pm__pg(cat), PM__PG_JOBS, ST_TASKS_FAILED, &p, &r);
    if (err != 0)
        return err;
    for (int i = 0; i < PQntuples(r); i++)
        pm__failed_pages_add(f, pm__pg_int64(r, i, 0), PQgetvalue(r, i, 1),
                             pm__pg_int64(r, i, 2),
                             PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3));
    PQclear(r);
    return 0;
}

static int tasks_retry(pm_catalog_t *cat, int64_t job, int *pages)
{
    return run_for_job(pm__pg(cat), ST_TASKS_RETRY, job, pages);
}

static int tasks_unlease(pm_catalog_t *cat, int64_t job)
{
    return run_for_job(pm__pg(cat), ST_TASKS_UNLEASE, job, NULL);
}

static int set_done(pm_catalog_t *cat, int64_t id, const char *output_path,
                    const char *pdf_sha256, int pdf_pages, const char *month,
                    int64_t now)
{
    pm__pg_params_t p = {.n = 0};

    pm__pg_int(&p, id);
    pm__pg_text(&p, output_path);
    pm__pg_int(&p, now);
    pm__pg_text(&p, month);
    pm__pg_text(&p, pdf_sha256);
    if (pdf_pages >= 0)
        pm__pg_int(&p, pdf_pages);
    else
        pm__pg_text(&p, NULL);
    return pm__pg_exec(pm__pg(cat), PM__PG_JOBS, ST_JOB_SET_DONE, &p, NULL);
}

static int pages_ready(pm_catalog_t *cat, int64_t job)
{
    return notify_pages(pm__pg(cat), job);
}

/* PostgreSQL's primitives for job_rules.c. */
static const pm__job_io_t job_io = {
    .ledger = &pm__pg_ledger_io,
    .state_lock = state_lock,
    .failed_pages = failed_pages,
    .set_state = job_set_state,
    .set_failed = job_set_failed,
    .requeue = job_requeue,
    .tasks_retry = tasks_retry,
    .tasks_unlease = tasks_unlease,
    .set_done = set_done,
    .pages_ready = pages_ready,
};

int pm__pg_job_release(pm_catalog_t *cat, int64_t id, const char *actor)
{
    return pm__job_release(&job_io, cat, id, actor);
}

int pm__pg_job_retry(pm_catalog_t *cat, int64_t id, const char *actor)
{
    return pm__job_retry(&job_io, cat, id, actor);
}

int pm__pg_job_cancel(pm_catalog_t *cat, int64_t id, const char *actor,
                      const char *reason)
{
    return pm__job_cancel(&job_io, cat, id, actor, reason);
}

static int read_id(const PGresult *r, int row, void *item)
{
    *(int64_t *)item = pm__pg_int64(r, row, 0);
    return 0;
}

/* Runs a query of ids into a new array. */
static int collect_ids(pm__pg_t *pg, int i, int64_t **ids, size_t *n)
{
    PGresult *r;
    int err = pm__pg_run(pg, PM__PG_JOBS, i, NULL, &r);

    *ids = NULL;
    *n = 0;
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(int64_t), read_id, NULL, (void **)ids,
                          n);
}

int pm__pg_job_collect_finished(pm_catalog_t *cat, int64_t now, int64_t **ids,
                                size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    int64_t *done = NULL;
    size_t ndone = 0, i;
    int err;

    *ids = NULL;
    *n = 0;
    err = pm__pg_tx_begin(pg);
    if (err != 0)
        return err;
    err = collect_ids(pg, ST_JOB_FINISHED, &done, &ndone);
    for (i = 0; err == 0 && i < ndone; i++)
        err = pm__job_settle(&job_io, cat, done[i], now);
    pm_free(done);
    if (err == 0)
        err = collect_ids(pg, ST_JOB_ASSEMBLING, ids, n);
    err = pm__pg_tx_end(pg, err);
    if (err != 0) {
        pm_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return err;
}

int pm__pg_job_finish(pm_catalog_t *cat, int64_t id, const char *output_path,
                      int64_t now)
{
    return pm__pg_job_finish_doc(cat, id, output_path, NULL, -1, now);
}

int pm__pg_job_finish_doc(pm_catalog_t *cat, int64_t id,
                          const char *output_path, const char *pdf_sha256,
                          int pdf_pages, int64_t now)
{
    return pm__job_finish_doc(&job_io, cat, id, output_path, pdf_sha256,
                              pdf_pages, now);
}

int pm__pg_job_fail(pm_catalog_t *cat, int64_t id, const char *why, int64_t now)
{
    return pm__job_fail(&job_io, cat, id, why, now);
}
