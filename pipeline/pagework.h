/*
 * pagework.h: one claimed page, from catalog task to worker line and from
 * worker result back to the catalog. Shared by the coordinator's scheduler
 * (scheduler.c) and the node agent (agent.c), which differ in what they do
 * around it (parking on a full volume, alerts; reconnecting) but not in
 * what a page is.
 */
#ifndef PM_PIPELINE_PAGEWORK_H
#define PM_PIPELINE_PAGEWORK_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "pipeline/base/proto.h"

/*
 * The worker's task line (pool task `id`) for claimed page `t`: the job's
 * profile from `cfg`, artifacts under spool/job-<job>/pages/p<page>
 * (the folder is made). NULL with why[size] set when it cannot be made;
 * *full is set when that was for want of space (in the catalog or on the
 * spool).
 */
char *pm__page_line(pm_catalog_t *cat, const pm_config_t *cfg,
                    const char *spool, const pm_task_t *t, long long id,
                    char *why, size_t size, int *full);

/* Sets r->review (freeing what it held) when page result `r` of job `job`
 * needs a person's look under the job's profile (pm_review_reason), else
 * NULL. 0 or PM_ENOMEM. */
int pm__page_review(pm_catalog_t *cat, const pm_config_t *cfg, int64_t job,
                    pm_page_result_t *r);

/* The catalog metrics of page result `r` (borrowing its strings; the
 * orientation evidence is left NULL). */
void pm__page_metrics(const pm_page_result_t *r, pm_page_metrics_t *m);

/*
 * Records successful result `r` of attempt `attempt` of page task `task`
 * (job `job`): review flag, metrics and evidence, then pm_task_complete
 * (the page and its billable row, fenced). `r->review` is set as
 * pm__page_review leaves it (the caller frees it). Returns what
 * pm_task_complete said; *ms (may be NULL) is how long it took.
 */
int pm__page_complete(pm_catalog_t *cat, const pm_config_t *cfg, int64_t task,
                      int attempt, int64_t job, pm_page_result_t *r,
                      int64_t now, double *ms);

/* The log line of a page done (level warn when flagged for review). */
void pm__page_log_done(const char *module, int64_t job, int page, int attempt,
                       const pm_page_result_t *r);

#endif /* PM_PIPELINE_PAGEWORK_H */
