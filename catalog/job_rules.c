/*
 * job_rules.c: the jobs' glue for every backend (job_rules.h). The SQL
 * is the backends' (sqlite_jobs.c, sqlite_status.c, sqlite_records.c and
 * their pg_*.c twins); the decisions and the words said are here.
 */
#include "catalog/job_rules.h"

#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "catalog/rules.h"
#include "pipeline/base/pm.h"

/* ---- new jobs ---- */

int pm__job_sha256_normalize(const char *in, char out[65])
{
    int i;

    for (i = 0; in != NULL && i < 64 && isxdigit((unsigned char)in[i]); i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
    return i == 64 && in[64] == '\0' ? 0 : -1;
}

int pm__job_check_checksums(pm_catalog_t *cat, const pm_page_input_t *pages,
                            size_t npages)
{
    char sha[65];
    size_t i;

    for (i = 0; i < npages; i++)
        if (pm__job_sha256_normalize(pages[i].sha256, sha) != 0)
            return pm__ledger_msg(cat, PM_EINVAL,
                                  "page %zu: the checksum is not 64 hex digits",
                                  i + 1);
    return 0;
}

int pm__job_check_pages(pm_catalog_t *cat, const pm_page_input_t *pages,
                        size_t npages)
{
    char sha[65];
    size_t i;

    if (npages == 0 || npages > INT_MAX)
        return pm__ledger_msg(cat, PM_EINVAL, "a job needs 1 to %d pages",
                              INT_MAX);
    for (i = 0; i < npages; i++) {
        if (pages[i].src == NULL || pages[i].frame < 0)
            return pm__ledger_msg(cat, PM_EINVAL, "page %zu has no source file",
                                  i + 1);
        if (pm__job_sha256_normalize(pages[i].sha256, sha) != 0)
            return pm__ledger_msg(cat, PM_EINVAL,
                                  "page %zu: the checksum is not 64 hex digits",
                                  i + 1);
    }
    return 0;
}

char *pm__job_created_detail(const pm_job_t *j, size_t npages)
{
    return j->hold_reason
               ? pm_asprintf("%zu pages, held: %s", npages, j->hold_reason)
               : pm_asprintf("%zu pages", npages);
}

/* ---- failed pages ---- */

/* The last path component, for naming a page's file to a person. */
static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;

    return slash ? slash + 1 : path ? path : "?";
}

void pm__failed_pages_add(pm__failed_pages_t *f, int64_t page, const char *src,
                          int64_t frame, const char *error)
{
    assert(f != NULL);
    if (++f->count > PM__FAILED_PAGES_NAMED)
        return;
    /* frames are 0-based in the catalog, 1-based for people */
    pm_buf_printf(&f->b, "%spage %lld (%s frame %lld): %s",
                  f->b.len ? "; " : "", (long long)page, base_name(src),
                  (long long)frame + 1, error ? error : "failed");
}

int pm__failed_pages_end(pm__failed_pages_t *f, char **text)
{
    int err;

    *text = NULL;
    if (f->count > PM__FAILED_PAGES_NAMED)
        pm_buf_printf(&f->b, "; and %d more failed pages",
                      f->count - PM__FAILED_PAGES_NAMED);
    if (f->count == 0) {
        pm_buf_cleanup(&f->b);
        err = 0;
    } else {
        err = pm_buf_take(&f->b, text, NULL);
    }
    f->count = 0;
    return err;
}

/* ---- settling a job ---- */

/* Writes into *text (new string, NULL when none failed) what failed on
 * each failed page of `job`. */
static int failed_pages_text(const pm__job_io_t *io, pm_catalog_t *cat,
                             int64_t job, char **text)
{
    pm__failed_pages_t f = {.count = 0};
    int err;

    *text = NULL;
    err = io->failed_pages(cat, job, &f);
    if (err != 0) {
        pm_buf_cleanup(&f.b);
        return err;
    }
    err = pm__failed_pages_end(&f, text);
    if (err != 0)
        return pm__ledger_msg(cat, err, "out of memory");
    return 0;
}

int pm__job_settle(const pm__job_io_t *io, pm_catalog_t *cat, int64_t job,
                   int64_t now)
{
    char *failed = NULL;
    int err;

    err = failed_pages_text(io, cat, job, &failed);
    if (err != 0)
        return err;
    if (failed != NULL) {
        err = io->set_failed(cat, job, failed, now);
        if (err == 0)
            err = io->ledger->event_insert(cat, now, "catalog", "job.failed",
                                           job, 0, failed);
    } else {
        err = io->set_state(cat, job, PM_JOB_ASSEMBLING, now);
        if (err == 0)
            err = io->ledger->event_insert(cat, now, "catalog",
                                           "job.assembling", job, 0, NULL);
    }
    pm_free(failed);
    return err;
}

/* ---- the operator's and the assembler's state changes ---- */

#define STATE_BIT(s) (1u << (s))

/* Inside a transaction: PM_ENOENT if job `id` does not exist, PM_EINVAL
 * (with `rule` in the message) if its state is not in `allowed`. */
static int job_expect(const pm__job_io_t *io, pm_catalog_t *cat, int64_t id,
                      unsigned allowed, const char *rule, int *state)
{
    char name[32] = "";
    int err;

    *state = -1;
    err = io->state_lock(cat, id, name);
    if (err == PM_ENOENT)
        return pm__ledger_msg(cat, PM_ENOENT, "no job %lld", (long long)id);
    if (err != 0)
        return err;
    *state = pm_job_state_parse(name);
    if (*state < 0 || !(allowed & STATE_BIT(*state)))
        return pm__ledger_msg(cat, PM_EINVAL, "job %lld is %s: %s",
                              (long long)id, name, rule);
    return 0;
}

/* The billing lock, shared, where the backend has one (ledger_rules.h). */
static int lock_shared(const pm__job_io_t *io, pm_catalog_t *cat)
{
    return io->ledger->lock != NULL ? io->ledger->lock(cat, 0) : 0;
}

static int pages_ready(const pm__job_io_t *io, pm_catalog_t *cat, int64_t id)
{
    return io->pages_ready != NULL ? io->pages_ready(cat, id) : 0;
}

int pm__job_release(const pm__job_io_t *io, pm_catalog_t *cat, int64_t id,
                    const char *actor)
{
    int64_t now = io->ledger->wall_clock();
    int state, err;

    if (actor == NULL)
        return pm__ledger_msg(cat, PM_EINVAL, "release needs an actor");
    err = io->ledger->tx_begin(cat);
    if (err != 0)
        return err;
    err = job_expect(io, cat, id, STATE_BIT(PM_JOB_HELD),
                     "only a held job can be released", &state);
    if (err == 0)
        err = io->requeue(cat, id, now);
    if (err == 0)
        err = io->ledger->event_insert(cat, now, actor, "job.released", id, 0,
                                       NULL);
    if (err == 0)
        err = pages_ready(io, cat, id);
    return io->ledger->tx_end(cat, err);
}

int pm__job_retry(const pm__job_io_t *io, pm_catalog_t *cat, int64_t id,
                  const char *actor)
{
    int64_t now = io->ledger->wall_clock();
    int state, pages = 0, err;
    char detail[64];

    if (actor == NULL)
        return pm__ledger_msg(cat, PM_EINVAL, "retry needs an actor");
    err = io->ledger->tx_begin(cat);
    if (err != 0)
        return err;
    err = job_expect(io, cat, id, STATE_BIT(PM_JOB_FAILED),
                     "only a failed job can be retried", &state);
    if (err == 0)
        err = io->tasks_retry(cat, id, &pages);
    if (err == 0)
        err = io->requeue(cat, id, now);
    snprintf(detail, sizeof(detail), "%d failed pages queued again", pages);
    if (err == 0)
        err = io->ledger->event_insert(cat, now, actor, "job.retried", id, 0,
                                       detail);
    if (err == 0)
        err = pages_ready(io, cat, id);
    return io->ledger->tx_end(cat, err);
}

int pm__job_cancel(const pm__job_io_t *io, pm_catalog_t *cat, int64_t id,
                   const char *actor, const char *reason)
{
    unsigned allowed = ~STATE_BIT(PM_JOB_CANCELLED);
    int64_t now = io->ledger->wall_clock();
    int state, err;

    if (actor == NULL)
        return pm__ledger_msg(cat, PM_EINVAL, "cancel needs an actor");
    err = io->ledger->tx_begin(cat);
    if (err != 0)
        return err;
    /* Before the job's row: a close waits for this cancel, or this
     * cancel for the close (ledger_rules.h). */
    err = lock_shared(io, cat);
    if (err == 0)
        err = job_expect(io, cat, id, allowed, "a job is cancelled only once",
                         &state);
    /* A done job billed in a closed month is credited in an open one;
     * one whose month is open just drops out of its lines. */
    if (err == 0 && state == PM_JOB_DONE)
        err = pm__ledger_cancel_credit(io->ledger, cat, id, reason, actor, now);
    /* Running pages lose their lease: their results will be refused. */
    if (err == 0)
        err = io->tasks_unlease(cat, id);
    if (err == 0)
        err = io->set_state(cat, id, PM_JOB_CANCELLED, now);
    if (err == 0)
        err = io->ledger->event_insert(cat, now, actor, "job.cancelled", id, 0,
                                       reason);
    return io->ledger->tx_end(cat, err);
}

int pm__job_finish_doc(const pm__job_io_t *io, pm_catalog_t *cat, int64_t id,
                       const char *output_path, const char *pdf_sha256,
                       int pdf_pages, int64_t now)
{
    char month[PM_MONTH_SIZE];
    int state, err;

    err = io->ledger->tx_begin(cat);
    if (err != 0)
        return err;
    /* Before the job's row: billed in a month a close has not read yet,
     * or after the close committed (ledger_rules.h). */
    err = lock_shared(io, cat);
    if (err == 0)
        err = job_expect(io, cat, id, STATE_BIT(PM_JOB_ASSEMBLING),
                         "only an assembling job can finish", &state);
    /* Billed in the month it finished, or the first open one after. */
    if (err == 0)
        err = pm__ledger_billing_month(io->ledger, cat, now, month);
    if (err == 0)
        err = io->set_done(cat, id, output_path, pdf_sha256, pdf_pages, month,
                           now);
    if (err == 0)
        err = io->ledger->event_insert(cat, now, "catalog", "job.done", id, 0,
                                       output_path);
    return io->ledger->tx_end(cat, err);
}

int pm__job_fail(const pm__job_io_t *io, pm_catalog_t *cat, int64_t id,
                 const char *why, int64_t now)
{
    int state, err;

    if (why == NULL)
        why = "assembly failed";
    err = io->ledger->tx_begin(cat);
    if (err != 0)
        return err;
    err = job_expect(io, cat, id, STATE_BIT(PM_JOB_ASSEMBLING),
                     "only an assembling job can fail assembly", &state);
    if (err == 0)
        err = io->set_failed(cat, id, why, now);
    if (err == 0)
        err = io->ledger->event_insert(cat, now, "catalog", "job.failed", id, 0,
                                       why);
    return io->ledger->tx_end(cat, err);
}

/* ---- status ---- */

void pm__status_count_jobs(pm_status_t *s, const char *state, int64_t count)
{
    switch (pm_job_state_parse(state)) {
    case PM_JOB_QUEUED:
        s->jobs_queued = count;
        break;
    case PM_JOB_RUNNING:
        s->jobs_running = count;
        break;
    case PM_JOB_ASSEMBLING:
        s->jobs_assembling = count;
        break;
    case PM_JOB_HELD:
        s->jobs_held = count;
        break;
    case PM_JOB_FAILED:
        s->jobs_failed = count;
        break;
    case PM_JOB_DONE:
        s->jobs_done = count;
        break;
    default:
        break;
    }
}

void pm__status_count_pages(pm_status_t *s, const char *state, int64_t count)
{
    if (pm_task_state_parse(state) == PM_TASK_QUEUED)
        s->queued_pages = count;
    else
        s->running_pages = count;
}

/* ---- workers ---- */

static const char *const worker_state_names[] = {"starting", "idle", "busy"};

#define NWORKER_STATES (sizeof(worker_state_names) / sizeof(char *))

const char *pm_worker_state_name(pm_worker_state_t s)
{
    if ((unsigned)s >= NWORKER_STATES)
        return "?";
    return worker_state_names[s];
}

pm_worker_state_t pm__worker_state_parse(const char *name)
{
    for (size_t i = 0; name != NULL && i < NWORKER_STATES; i++)
        if (strcmp(name, worker_state_names[i]) == 0)
            return (pm_worker_state_t)i;
    return PM_WORKER_STARTING;
}

/* ---- identifiers ---- */

int pm__ident_refused(pm_catalog_t *cat, pm_ident_kind_t kind, const char *s)
{
    char why[200];

    if (pm_ident_check(kind, s, why, sizeof(why)) == 0)
        return 0;
    pm__ledger_msg(cat, PM_EINVAL, "%s", why);
    return 1;
}

/* ---- the records' argument checks ---- */

int pm__check_job_id(pm_catalog_t *cat, int64_t job)
{
    if (job < 0)
        return pm__ledger_msg(cat, PM_EINVAL, "bad job id %lld",
                              (long long)job);
    return 0;
}

int pm__check_event(pm_catalog_t *cat, const char *actor, const char *kind,
                    int64_t job, int page)
{
    if (actor == NULL || kind == NULL || job < 0 || page < 0)
        return pm__ledger_msg(cat, PM_EINVAL,
                              "an event needs an actor and a kind");
    return 0;
}

int pm__check_account(pm_catalog_t *cat, const pm_account_t *a,
                      const char *actor)
{
    if (a->code == NULL || a->name == NULL || actor == NULL)
        return pm__ledger_msg(cat, PM_EINVAL,
                              "an account needs a code and a name");
    return pm__ident_refused(cat, PM_IDENT_ACCOUNT, a->code) ? PM_EINVAL : 0;
}

int pm__check_workorder(pm_catalog_t *cat, const pm_workorder_t *w,
                        const char *actor)
{
    if (w->number == NULL || w->account == NULL || actor == NULL)
        return pm__ledger_msg(cat, PM_EINVAL,
                              "a work order needs a number and an account");
    return pm__ident_refused(cat, PM_IDENT_WORKORDER, w->number) ? PM_EINVAL
                                                                 : 0;
}

int pm__check_workorder_close(pm_catalog_t *cat, const char *number,
                              const char *actor)
{
    if (number == NULL || actor == NULL)
        return pm__ledger_msg(cat, PM_EINVAL,
                              "closing needs a number and an actor");
    return 0;
}
