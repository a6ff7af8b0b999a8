/*
 * report.h: the per-document report, <name>.pages.json, shared by
 * `pagemill convert` and `pagemill serve`: document totals (pages,
 * converted, failed, blank, billable pages = converted non-blank pages of
 * a written document) and every page's result.
 */
#ifndef PM_PIPELINE_REPORT_H
#define PM_PIPELINE_REPORT_H

#include <stddef.h>

#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"

struct json_t;

/* What one report says; every pointer is borrowed for the call. */
typedef struct pm_report {
    const char *document;  /* the document's name */
    const char *profile;   /* profile name */
    int written;           /* the PDF and text were written */
    const char *pdf, *txt; /* their paths, shown only when written */
    const pm_page_result_t *pages;
    size_t npages;
    const pm_doc_result_t *result; /* the assembly's result, or NULL */
    const char *error;             /* why the document failed, or NULL */
} pm_report_t;

/*
 * Whether a person should look at page `r` under profile `p`, and why: a
 * page read by OCR (done, not blank, OCR on) with no words at all, or
 * whose mean word confidence is below p->review_below_confidence, or whose
 * script (OSD's, at PM_SCRIPT_SURE_CONF or more) none of p->languages
 * reads; a script named less surely is mentioned after a low confidence
 * ("...; perhaps script Japanese not among ..."). Returns
 * 1 with the reason in why[size] ("mean OCR confidence 27 is below 60"),
 * else 0 with why "".
 */
int pm_review_reason(const pm_profile_t *p, const pm_page_result_t *r,
                     char *why, size_t size);

/* Returns a new JSON object (caller owns, json_decref) or NULL when out
 * of memory. Page artifact paths are left out: they are work files. */
struct json_t *pm_report_json(const pm_report_t *r);

/* The report without its pages: every member of pm_report_json(r), the
 * totals counted from r->pages, but "page_results" an empty array (what
 * pm_report_emit fills in as it writes). New object or NULL. */
struct json_t *pm_report_head_json(const pm_report_t *r);

/* Where pm_report_emit writes: 0 or a negative code. */
typedef int (*pm_report_out_t)(void *ctx, const char *buf, size_t len);

/* Writes report `doc` (borrowed; from pm_report_head_json, members may be
 * added after page_results) with pages[0..npages-1] in its page_results,
 * to `out` a piece at a time: the same bytes pm_report_write writes for
 * the whole object, with no more than one page's JSON in memory. 0 or a
 * negative code (out's, or PM_ENOMEM). */
int pm_report_emit(struct json_t *doc, const pm_page_result_t *pages,
                   size_t npages, pm_report_out_t out, void *ctx);

/* pm_report_emit() to `path`, durably (temp name, fsync, rename); `doc`
 * is taken (released even on failure). sha256 (NULL: not wanted) gets
 * the file's SHA-256, hashed as it was written. 0 or a negative code. */
int pm_report_write_pages(const char *path, struct json_t *doc,
                          const pm_page_result_t *pages, size_t npages,
                          char sha256[PM_SHA256_HEX]);

/* Writes `doc` (taken: released even on failure) to `path` durably,
 * indented, keys in order. 0 or a negative PM_* code. */
int pm_report_write(const char *path, struct json_t *doc);

#endif /* PM_PIPELINE_REPORT_H */
