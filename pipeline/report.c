/*
 * report.c: the per-document report (report.h), one JSON file beside each
 * PDF: what became of every page, and the totals billing reads.
 */
#include "pipeline/report.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pipeline/base/pm.h"
#include "workers/engine.h"

int pm_review_reason(const pm_profile_t *p, const pm_page_result_t *r,
                     char *why, size_t size)
{
    int other;

    assert(size > 0);
    why[0] = '\0';
    if (!r->ok || r->blank || !p->ocr)
        return 0;
    other = r->script != NULL && !pm_script_read_by(r->script, p->languages);
    if (other && r->script_confidence >= PM_SCRIPT_SURE_CONF)
        snprintf(why, size, "script %s not among the profile's languages %s",
                 r->script, p->languages);
    else if (r->words == 0)
        snprintf(why, size, "no words read on a page with ink (%.2f%%)",
                 r->ink_ratio * 100);
    else if (r->confidence < p->review_below_confidence)
        snprintf(why, size, "mean OCR confidence %.0f is below %.0f%s%s%s%s",
                 r->confidence, p->review_below_confidence,
                 other ? "; perhaps script " : "", other ? r->script : "",
                 other ? " not among the profile's languages " : "",
                 other ? p->languages : "");
    return why[0] != '\0';
}

/* The page results without their artifact paths; a review reason, or
 * null, on every page. */
static json_t *pages_json(const pm_report_t *r, size_t *ok, size_t *blank,
                          size_t *review)
{
    json_t *pages = json_array();

    *ok = *blank = *review = 0;
    for (size_t i = 0; pages != NULL && i < r->npages; i++) {
        const pm_page_result_t *p = &r->pages[i];
        json_t *pj = pm_proto_page_result_json(p);

        if (pj == NULL) {
            json_decref(pages);
            return NULL;
        }
        json_object_del(pj, "image");
        json_object_del(pj, "text_pdf");
        json_object_del(pj, "text");
        json_object_set_new(pj, "review",
                            p->review ? json_string(p->review) : json_null());
        *review += p->ok && p->review != NULL;
        json_array_append_new(pages, pj);
        if (p->ok) {
            (*ok)++;
            *blank += (size_t)(p->blank != 0);
        }
    }
    return pages;
}

json_t *pm_report_json(const pm_report_t *r)
{
    size_t ok, blank, review;
    json_t *pages = pages_json(r, &ok, &blank, &review);
    const char *status;
    int billable;

    if (pages == NULL)
        return NULL;
    if (!r->written)
        status = "failed";
    else
        status = ok == r->npages ? "ok" : "partial";
    billable = r->written ? (int)(ok - blank) : 0;
    /* review_pages: pages a person should look at (pm_review_reason). */
    return json_pack(
        "{s:s, s:s, s:s?, s:s?, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:I, "
        "s:f, s:s?, s:o}",
        "document", r->document, "status", status, "pdf",
        r->written ? r->pdf : NULL, "txt", r->written ? r->txt : NULL,
        "profile", r->profile, "pages", (int)r->npages, "converted", (int)ok,
        "failed", (int)(r->npages - ok), "blank", (int)blank, "billable_pages",
        billable, "review_pages", (int)review, "pdf_bytes",
        (json_int_t)(r->result ? r->result->pdf_bytes : 0), "assembly_ms",
        r->result ? r->result->ms : 0.0, "error", r->error, "page_results",
        pages);
}

int pm_report_write(const char *path, json_t *doc)
{
    char *text;
    int err;

    if (doc == NULL)
        return PM_ENOMEM;
    text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (text == NULL)
        return PM_ENOMEM;
    err = pm_write_file_atomic(path, text, strlen(text));
    free(text);
    return err;
}
