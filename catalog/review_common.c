/*
 * review_common.c: review flags and replaced pages, the part that is the
 * same on every backend (review_int.h): the replacement states, freeing
 * the rows, when a page may be replaced, and the events' details. The
 * SQL is each backend's (review.c, pg_review.c).
 */
#include <stdio.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/review_int.h"
#include "pipeline/base/pm.h"

/* ---- rows ---- */

void pm__review_job_cleanup(void *item)
{
    pm_review_job_t *r = item;

    pm_free(r->workorder);
    pm_free(r->account);
    pm_free(r->reasons);
    memset(r, 0, sizeof(*r));
}

void pm_review_job_list_free(pm_review_job_t *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        pm__review_job_cleanup(&v[i]);
    pm_free(v);
}

static const char *const replace_states[] = {"pending", "done", "failed"};

const char *pm_replace_state_name(pm_replace_state_t s)
{
    return (unsigned)s < 3 ? replace_states[s] : "?";
}

pm_replace_state_t pm__replace_state_parse(const char *name)
{
    for (int i = 0; name != NULL && i < 3; i++)
        if (strcmp(name, replace_states[i]) == 0)
            return (pm_replace_state_t)i;
    return PM_REPLACE_PENDING;
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

void pm__replacement_cleanup_v(void *item)
{
    pm_replacement_cleanup(item);
}

void pm_replacement_list_free(pm_replacement_t *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        pm_replacement_cleanup(&v[i]);
    pm_free(v);
}

/* ---- the rules ---- */

int pm__replace_refused(int64_t job, int page, const char *state, int pages,
                        int pending, char *msg, size_t size)
{
    if (state == NULL || strcmp(state, "done") != 0) {
        snprintf(msg, size,
                 "job %lld is %s; only a done job's page can be replaced",
                 (long long)job, state ? state : "?");
        return PM_EINVAL;
    }
    if (page < 1 || page > pages) {
        snprintf(msg, size, "job %lld has pages 1 to %d; there is no page %d",
                 (long long)job, pages, page);
        return PM_EINVAL;
    }
    if (pending != 0) {
        snprintf(msg, size,
                 "job %lld: the replacement of page %d is still pending; "
                 "wait until it is done",
                 (long long)job, pending);
        return PM_EINVAL;
    }
    return 0;
}

int pm__replace_sha_check(const char *sha256, char *msg, size_t size)
{
    if (sha256 != NULL && strlen(sha256) == 64)
        return 0;
    snprintf(msg, size, "a rescan needs its SHA-256");
    return PM_EINVAL;
}

/* ---- the events ---- */

char *pm__replace_requested_detail(int page, const char *src,
                                   const char *sha256)
{
    return pm_asprintf("page %d to be replaced by %s (SHA-256 %s)", page, src,
                       sha256);
}

char *pm__replaced_detail(const pm_replacement_t *r, const pm_page_metrics_t *m,
                          const char *pdf_sha256, int pdf_pages,
                          const char *kept_as)
{
    return pm_asprintf(
        "page %d replaced (requested by %s): now %s (SHA-256 %s)%s%s; "
        "%s; PDF SHA-256 %s, %d pages; billing unchanged",
        r->page, r->actor, r->src, r->sha256,
        kept_as ? "; the old original kept as " : "", kept_as ? kept_as : "",
        m->review ? m->review : "not flagged for review", pdf_sha256,
        pdf_pages);
}

char *pm__replace_failed_detail(const pm_replacement_t *r, const char *why)
{
    return pm_asprintf("replacing page %d (requested by %s) failed: %s; "
                       "the published document is unchanged",
                       r->page, r->actor, why);
}
