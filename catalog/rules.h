/*
 * rules.h: the catalog's rules that are not SQL, one implementation for
 * every backend (SQLite now, PostgreSQL later), so both run the same
 * rules and the same tests (tests/catalog/test_rules.c). Pure functions:
 * no database, no clock, no allocation. A backend reads the facts with
 * its own SQL and asks these what to do:
 *
 *   the queue:  which job and page is fair to claim next; what a stale
 *               attempt may not do (the fence); when a failed page has
 *               used up its attempts;
 *   the ledger: which month a job bills in; which jobs block a month's
 *               close, and whether a close may go ahead.
 *
 * The names of job and task states (pm_job_state_name and friends in
 * catalog.h) live here too: they are what every backend stores.
 */
#ifndef PM_CATALOG_RULES_H
#define PM_CATALOG_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"

/* A task state's index (pm_task_state_t), -1 if unknown. */
int pm_task_state_parse(const char *s);

/* ---- the queue ---- */

/* One job that may be claimed from (state queued or running), as the
 * backend found it at `now`. */
typedef struct pm_claim_cand {
    int64_t job;     /* the job's id; older jobs have lower ids */
    int queued_page; /* its largest queued page (below), 0: none */
    int lapsed_page; /* its largest running page whose lease lapsed, 0: none */
    int64_t running; /* its pages running under a live lease */
    int64_t queued_work; /* the work estimate of queued_page */
    int64_t lapsed_work; /* the work estimate of lapsed_page */
} pm_claim_cand_t;

/*
 * 1 when page `a` (work estimate `a_work`) of a job is claimed before its
 * page `b`: the larger estimate first, then the lower page. Within the
 * fair job a claim takes its largest page (pixels, what predicts OCR time
 * best), so a job's short pages come last and the last page running alone
 * while the other workers are idle is a short one. Largest and lowest
 * above mean in this order.
 */
int pm_rules_page_first(int a, int64_t a_work, int b, int64_t b_work);

/* The page a claim of `c` takes: of its queued and lapsed pages the one
 * pm_rules_page_first puts first; 0 when it has neither (nothing to
 * claim from it). */
int pm_rules_claim_page(const pm_claim_cand_t *c);

/*
 * 1 when claiming from `a` is fairer than from `b` (`b` may be NULL: no
 * choice yet), else 0. Fair order: only a job with a page to claim; then
 * the fewest pages running now, so a small job dropped behind a big one
 * gets the next free worker; then the oldest job (lowest id).
 */
int pm_rules_claim_fairer(const pm_claim_cand_t *a, const pm_claim_cand_t *b);

/* The index in v[0..n) of the candidate fair to claim from, or -1 when
 * none has a page to claim. */
long pm_rules_claim_pick(const pm_claim_cand_t *v, size_t n);

/* What a worker's result or lease renewal may do. */
typedef enum {
    PM_FENCE_OK = 0,     /* the attempt is the task's current one */
    PM_FENCE_STALE,      /* the task is not running, or was claimed again */
    PM_FENCE_JOB_STOPPED /* the task's job is no longer running */
} pm_fence_t;

/*
 * The fence: completing, failing or renewing task attempt `attempt` is
 * allowed only while the task is running at that same attempt number
 * (the fencing token, which only grows) in a running job. `task` and
 * `job` are states (-1: unknown, never running).
 */
pm_fence_t pm_rules_fence(int task, int attempts, int attempt, int job);

/* 1 when a page that failed at attempt `attempts` has used up its budget
 * of `max_attempts` since `base` (the attempts before an operator's retry
 * or refunded restarts): it fails for good; 0: it goes back in the queue. */
int pm_rules_attempts_spent(int attempts, int base, int max_attempts);

/* ---- the ledger ---- */

/* Whether month `month` ("YYYY-MM") is closed, as the backend knows it:
 * 0 or 1 in *closed, or a negative code. */
typedef int (*pm_month_closed_fn)(void *arg, const char *month, int *closed);

/* Most months pm_rules_first_open_month looks ahead (a hundred years). */
#define PM_RULES_MONTHS_AHEAD 1200

/*
 * The first month from `from` (a valid month) on that is not closed,
 * into out: 0; the callback's error; or PM_ECATALOG when every month for
 * PM_RULES_MONTHS_AHEAD is closed. Adjustments and credits go there.
 */
int pm_rules_first_open_month(const char *from, pm_month_closed_fn closed,
                              void *arg, char out[PM_MONTH_SIZE]);

/*
 * The month a job finishing at `finished` bills in: the month it finished
 * in the billing time zone, or, when that month is closed, the first open
 * month after it (pm_rules_first_open_month).
 */
int pm_rules_billing_month(int64_t finished, pm_month_closed_fn closed,
                           void *arg, char out[PM_MONTH_SIZE]);

/* 1 when a job in state `state` created at `created` blocks the close of
 * the month ending at `month_end`: it was created before the month ended
 * and could still finish (received, queued, running, assembling, held). */
int pm_rules_job_blocks_close(int state, int64_t created, int64_t month_end);

/* Why a month may not close, first reason first. */
typedef enum {
    PM_CLOSE_OK = 0,
    PM_CLOSE_FUTURE,     /* the month has not begun */
    PM_CLOSE_CLOSED,     /* it is closed already */
    PM_CLOSE_UNFINISHED, /* jobs could still finish in it (no force) */
    PM_CLOSE_UNPRICED,   /* a line has no price */
} pm_close_verdict_t;

/* What a close is decided on. Borrowed. */
typedef struct pm_close_facts {
    const char *month;   /* a valid "YYYY-MM" */
    const char *current; /* the month it is now, in the billing time zone */
    int closed;          /* the month is closed already */
    size_t unfinished;   /* jobs that block it (pm_rules_job_blocks_close) */
    int force;           /* close over unfinished jobs */
    const pm_billing_line_t *lines; /* its lines as they would freeze; may be
                                       NULL when not read yet */
    size_t nlines;
} pm_close_facts_t;

/*
 * Whether month f->month may close, and if not the first reason; for
 * PM_CLOSE_UNPRICED *line is the index of the first unpriced line (else
 * unchanged; may be NULL).
 */
pm_close_verdict_t pm_rules_close_check(const pm_close_facts_t *f,
                                        size_t *line);

#endif /* PM_CATALOG_RULES_H */
