/*
 * review_int.h: the backend-independent part of review flags and replaced
 * pages (review_common.c), which both backends (review.c on SQLite,
 * pg_review.c on PostgreSQL) use, so the rules and the events' wording are
 * written once: when a page may be replaced, and what the events say.
 * Never used outside catalog/.
 */
#ifndef PM_CATALOG_REVIEW_INT_H
#define PM_CATALOG_REVIEW_INT_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"

/* Frees the strings of a pm_review_job_t and zeroes it (a void * for the
 * backends' row readers). */
void pm__review_job_cleanup(void *item);

/* pm_replacement_cleanup for a void * item. */
void pm__replacement_cleanup_v(void *item);

/* The replacement state stored as `name` (PM_REPLACE_PENDING if unknown
 * or NULL). */
pm_replace_state_t pm__replace_state_parse(const char *name);

/*
 * Why page `page` of job `job` may not be replaced now, from the job's
 * row: its state's name (NULL: unknown), its page count and the page of
 * its pending replacement (0: none). 0 when it may; else PM_EINVAL with
 * the reason written into msg.
 */
int pm__replace_refused(int64_t job, int page, const char *state, int pages,
                        int pending, char *msg, size_t size);

/* 0 when `sha256` is a rescan's digest (64 characters); else PM_EINVAL
 * with the reason in msg. */
int pm__replace_sha_check(const char *sha256, char *msg, size_t size);

/* The details of the events "page.replace_requested", "page.replaced"
 * and "page.replace_failed": new strings (pm_free), NULL when out of
 * memory. */
char *pm__replace_requested_detail(int page, const char *src,
                                   const char *sha256);
char *pm__replaced_detail(const pm_replacement_t *r, const pm_page_metrics_t *m,
                          const char *pdf_sha256, int pdf_pages,
                          const char *kept_as);
char *pm__replace_failed_detail(const pm_replacement_t *r, const char *why);

#endif /* PM_CATALOG_REVIEW_INT_H */
