/*
 * monitor.h: what the web interface (pipeline/http*.c) and `pagemill
 * status` read from the catalog beyond catalog.h: counts for /metrics,
 * pages of the job list, the rejected batches, and the access tokens of
 * the web interface (migration 5). SQLite backend in monitor.c. Same
 * conventions as catalog.h: 0 or a negative PM_* code, detail in
 * pm_catalog_errmsg().
 */
#ifndef PM_CATALOG_MONITOR_H
#define PM_CATALOG_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"

/* Makes this handle read-only (PRAGMA query_only): for a reader beside
 * the coordinator, which alone writes. */
int pm_catalog_query_only(pm_catalog_t *cat);

/* ---- access tokens ---- */

typedef enum {
    PM_ROLE_SUPERVISOR = 1, /* reads status and jobs */
    PM_ROLE_BILLING,        /* also reads billing reports */
    PM_ROLE_ADMIN,          /* also acts on jobs */
} pm_role_t;

/* "supervisor", "billing", "admin"; parse returns -1 if unknown. */
const char *pm_role_name(pm_role_t r);
int pm_role_parse(const char *s);

/* Longest token name. */
#define PM_TOKEN_NAME_MAX 64

typedef struct pm_token {
    char *name;
    pm_role_t role;
    char sha256[65]; /* of the token, lower-case hex */
    int64_t created_at;
} pm_token_t;

/* 0 when `name` may name a token: 1..PM_TOKEN_NAME_MAX letters, digits,
 * '.', '-', '_' or '@'. */
int pm_token_name_valid(const char *name);

/* Records a token by its SHA-256 (64 hex digits) with a "token.added"
 * event by `actor`. -EEXIST when the name is taken; PM_EINVAL for a bad
 * name, role or hash. */
int pm_token_add(pm_catalog_t *cat, const char *name, pm_role_t role,
                 const char *sha256, const char *actor, int64_t now);

/* Every token, by name. Free with pm_token_list_free. */
int pm_token_list(pm_catalog_t *cat, pm_token_t **out, size_t *n);
void pm_token_list_free(pm_token_t *v, size_t n);

/* ---- counts ---- */

/* Upper bounds (ms) of the stage-duration histogram buckets. */
#define PM_STAGE_BUCKETS 12
extern const double pm_stage_bucket_ms[PM_STAGE_BUCKETS];

/* Stages whose times a done page records, in pm_page_metrics_t order:
 * decode, orient, deskew, blank, ocr, encode, total. */
#define PM_STAGES 7
extern const char *const pm_stage_names[PM_STAGES];

typedef struct pm_stage_hist {
    int64_t le[PM_STAGE_BUCKETS]; /* cumulative: pages at or below */
    int64_t count;                /* pages with a time */
    double sum_ms;
} pm_stage_hist_t;

/* What /metrics shows, read in one transaction. */
typedef struct pm_monitor {
    int64_t pages[4]; /* by pm_task_state_t */
    int64_t jobs[8];  /* by pm_job_state_t */
    int64_t blank_pages;
    int64_t billable_pages;  /* of done jobs (blank ones if the job bills
                                them): what billing counts */
    int64_t queue_oldest_at; /* created_at of the oldest job with a queued
                                page, 0 when none */
    int64_t low_confidence;  /* done, non-blank pages read below 50 */
    pm_stage_hist_t stages[PM_STAGES];
} pm_monitor_t;

/* Everything, the stage histograms included: one pass over every done
 * page's stage times (about a second per million pages). */
int pm_monitor_read(pm_catalog_t *cat, pm_monitor_t *out);

/* The counts and totals only (stages left zero): no pass over the done
 * pages' stage times, for what reads often (/api/v1/status). */
int pm_monitor_counts(pm_catalog_t *cat, pm_monitor_t *out);

/* Pages finished in each of the `n` minutes before `now` (oldest first)
 * into counts[0..n). */
int pm_monitor_throughput(pm_catalog_t *cat, int64_t now, int n,
                          int64_t *counts);

/* What pages done are counted by in pm_monitor_breakdown. */
typedef enum {
    PM_BY_HOTFOLDER = 0,
    PM_BY_ACCOUNT,
    PM_BY_OPERATOR,
    PM_BY_COUNT
} pm_monitor_by_t;

typedef struct pm_monitor_count {
    char *name; /* the hot folder, account or operator; "" when none */
    int64_t pages;
} pm_monitor_count_t;

/* Most names pm_monitor_breakdown returns (the busiest). */
#define PM_MONITOR_BREAKDOWN_MAX 50

/* Pages done at or after `since`, by `by`, busiest first (then by name).
 * *out is a new array (pm_monitor_count_list_free). */
int pm_monitor_breakdown(pm_catalog_t *cat, pm_monitor_by_t by, int64_t since,
                         pm_monitor_count_t **out, size_t *n);
void pm_monitor_count_list_free(pm_monitor_count_t *v, size_t n);

/* ---- lists ---- */

/* Jobs newest first, of `state` (-1: any), `limit` from `offset`; *total
 * is how many match. Free with pm_job_list_free. */
int pm_monitor_jobs(pm_catalog_t *cat, int state, size_t limit, size_t offset,
                    pm_job_t **out, size_t *n, int64_t *total);

/* The "batch.rejected" events, newest first, at most `limit` (0: all).
 * Free with pm_event_list_free. */
int pm_monitor_rejections(pm_catalog_t *cat, size_t limit, pm_event_t **out,
                          size_t *n);

/* A rejection's reason as a short label for /metrics (unknown_work_order,
 * closed_work_order, account_mismatch, unknown_profile, page_count,
 * unreadable_page, catalog, other), from the event's detail. */
const char *pm_rejection_reason(const char *detail);

#endif /* PM_CATALOG_MONITOR_H */
