/*
 * rules.c: the catalog's rules that are not SQL (rules.h), the same for
 * every backend: state names, the fair claim, the attempt fence and
 * budget, a job's billing month, and what blocks a month's close. Pure
 * functions, tested on their own in tests/catalog/test_rules.c and
 * through the SQLite backend in test_catalog.c.
 */
#include "catalog/rules.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/base/pm.h"

/* ---- names ---- */

static const char *const job_states[] = {
    "received", "queued", "running", "assembling",
    "done",     "held",   "failed",  "cancelled",
};

static const char *const task_states[] = {"queued", "running", "done",
                                          "failed"};

#define NJOB_STATES  ((int)(sizeof(job_states) / sizeof(job_states[0])))
#define NTASK_STATES ((int)(sizeof(task_states) / sizeof(task_states[0])))

const char *pm_job_state_name(pm_job_state_t s)
{
    if ((int)s < 0 || (int)s >= NJOB_STATES)
        return "unknown";
    return job_states[s];
}

int pm_job_state_parse(const char *s)
{
    int i;

    for (i = 0; s != NULL && i < NJOB_STATES; i++)
        if (strcmp(s, job_states[i]) == 0)
            return i;
    return -1;
}

const char *pm_task_state_name(pm_task_state_t s)
{
    if ((int)s < 0 || (int)s >= NTASK_STATES)
        return "unknown";
    return task_states[s];
}

int pm_task_state_parse(const char *s)
{
    int i;

    for (i = 0; s != NULL && i < NTASK_STATES; i++)
        if (strcmp(s, task_states[i]) == 0)
            return i;
    return -1;
}

/* ---- the queue ---- */

int pm_rules_page_first(int a, int64_t a_work, int b, int64_t b_work)
{
    if (a_work != b_work)
        return a_work > b_work;
    return a < b;
}

int pm_rules_claim_page(const pm_claim_cand_t *c)
{
    if (c->queued_page <= 0)
        return c->lapsed_page > 0 ? c->lapsed_page : 0;
    if (c->lapsed_page <= 0)
        return c->queued_page;
    return pm_rules_page_first(c->queued_page, c->queued_work, c->lapsed_page,
                               c->lapsed_work)
               ? c->queued_page
               : c->lapsed_page;
}

int pm_rules_claim_fairer(const pm_claim_cand_t *a, const pm_claim_cand_t *b)
{
    if (pm_rules_claim_page(a) == 0)
        return 0;
    if (b == NULL || pm_rules_claim_page(b) == 0)
        return 1;
    if (a->running != b->running)
        return a->running < b->running;
    return a->job < b->job;
}

long pm_rules_claim_pick(const pm_claim_cand_t *v, size_t n)
{
    long best = -1;

    for (size_t i = 0; i < n; i++)
        if (pm_rules_claim_fairer(&v[i], best < 0 ? NULL : &v[best]))
            best = (long)i;
    return best;
}

pm_fence_t pm_rules_fence(int task, int attempts, int attempt, int job)
{
    if (task != PM_TASK_RUNNING || attempts != attempt)
        return PM_FENCE_STALE;
    if (job != PM_JOB_RUNNING)
        return PM_FENCE_JOB_STOPPED;
    return PM_FENCE_OK;
}

int pm_rules_attempts_spent(int attempts, int base, int max_attempts)
{
    assert(max_attempts >= 1);
    return attempts - base >= max_attempts;
}

/* ---- the ledger ---- */

int pm_rules_first_open_month(const char *from, pm_month_closed_fn closed,
                              void *arg, char out[PM_MONTH_SIZE])
{
    char m[PM_MONTH_SIZE];
    int is_closed = 1, err = 0;

    /* `from` may be "" (a time the billing zone cannot place); it is
     * looked up as it is, as it always was. */
    snprintf(m, sizeof(m), "%s", from);
    for (int i = 0; err == 0 && i < PM_RULES_MONTHS_AHEAD; i++) {
        err = closed(arg, m, &is_closed);
        if (err == 0 && !is_closed) {
            memcpy(out, m, PM_MONTH_SIZE);
            return 0;
        }
        pm_month_next(m, m);
    }
    return err != 0 ? err : PM_ECATALOG;
}

int pm_rules_billing_month(int64_t finished, pm_month_closed_fn closed,
                           void *arg, char out[PM_MONTH_SIZE])
{
    char month[PM_MONTH_SIZE];

    pm_month_of(finished, month);
    return pm_rules_first_open_month(month, closed, arg, out);
}

int pm_rules_job_blocks_close(int state, int64_t created, int64_t month_end)
{
    switch (state) {
    case PM_JOB_RECEIVED:
    case PM_JOB_QUEUED:
    case PM_JOB_RUNNING:
    case PM_JOB_ASSEMBLING:
    case PM_JOB_HELD:
        return created < month_end;
    default: /* done, failed, cancelled: settled */
        return 0;
    }
}

pm_close_verdict_t pm_rules_close_check(const pm_close_facts_t *f, size_t *line)
{
    if (strcmp(f->month, f->current) > 0)
        return PM_CLOSE_FUTURE;
    if (f->closed)
        return PM_CLOSE_CLOSED;
    if (f->unfinished > 0 && !f->force)
        return PM_CLOSE_UNFINISHED;
    for (size_t i = 0; f->lines != NULL && i < f->nlines; i++) {
        if (!f->lines[i].priced) {
            if (line != NULL)
                *line = i;
            return PM_CLOSE_UNPRICED;
        }
    }
    return PM_CLOSE_OK;
}
