/*
 * report.c: the per-document report (report.h), one JSON file beside each
 * PDF: what became of every page, and the totals billing reads.
 */
#include "pipeline/report.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pipeline/bag.h"
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

/* Page `p` as the report shows it: without its artifact paths, with a
 * review reason or null. */
static json_t *page_json(const pm_page_result_t *p)
{
    json_t *pj = pm_proto_page_result_json(p);

    if (pj == NULL)
        return NULL;
    json_object_del(pj, "image");
    json_object_del(pj, "text_pdf");
    json_object_del(pj, "text");
    if (json_object_set_new(pj, "review",
                            p->review ? json_string(p->review) : json_null()) !=
        0) {
        json_decref(pj);
        return NULL;
    }
    return pj;
}

json_t *pm_report_head_json(const pm_report_t *r)
{
    size_t ok = 0, blank = 0, review = 0;
    const char *status;
    int billable;

    for (size_t i = 0; i < r->npages; i++) {
        const pm_page_result_t *p = &r->pages[i];

        review += p->ok && p->review != NULL;
        ok += p->ok != 0;
        blank += p->ok && p->blank != 0;
    }
    if (!r->written)
        status = "failed";
    else
        status = ok == r->npages ? "ok" : "partial";
    billable = r->written ? (int)(ok - blank) : 0;
    /* review_pages: pages a person should look at (pm_review_reason);
     * archival_ms: the archival outputs' times (publishing adds the
     * ALTO's and the bag's), the TIFF master's counted in assembly_ms. */
    return json_pack(
        "{s:s, s:s, s:s?, s:s?, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:I, "
        "s:f, s:{s:f}, s:s?, s:o}",
        "document", r->document, "status", status, "pdf",
        r->written ? r->pdf : NULL, "txt", r->written ? r->txt : NULL,
        "profile", r->profile, "pages", (int)r->npages, "converted", (int)ok,
        "failed", (int)(r->npages - ok), "blank", (int)blank, "billable_pages",
        billable, "review_pages", (int)review, "pdf_bytes",
        (json_int_t)(r->result ? r->result->pdf_bytes : 0), "assembly_ms",
        r->result ? r->result->ms : 0.0, "archival_ms", "tiff_master",
        r->result ? r->result->tiff_ms : 0.0, "error", r->error, "page_results",
        json_array());
}

json_t *pm_report_json(const pm_report_t *r)
{
    json_t *doc = pm_report_head_json(r);
    json_t *pages = json_object_get(doc, "page_results");

    for (size_t i = 0; pages != NULL && i < r->npages; i++) {
        if (json_array_append_new(pages, page_json(&r->pages[i])) != 0) {
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

/* One page of the array at depth 2: its own text indented 4 more. */
static int emit_page(const pm_page_result_t *p, int first, pm_report_out_t out,
                     void *ctx)
{
    json_t *pj = page_json(p);
    char *text =
        pj ? json_dumps(pj, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    const char *s = text, *nl;
    int err;

    json_decref(pj);
    if (text == NULL)
        return PM_ENOMEM;
    err = out(ctx, first ? "\n    " : ",\n    ", first ? 5 : 6);
    while (err == 0 && (nl = strchr(s, '\n')) != NULL) {
        err = out(ctx, s, (size_t)(nl - s));
        if (err == 0)
            err = out(ctx, "\n    ", 5);
        s = nl + 1;
    }
    if (err == 0)
        err = out(ctx, s, strlen(s));
    free(text);
    return err;
}

/* Where the report's empty page array is in its text: the key at the
 * first level, at the start of its line (a string's newline is escaped,
 * so no value can hold this). */
#define PAGES_AT "\n  \"page_results\": []"

int pm_report_emit(json_t *doc, const pm_page_result_t *pages, size_t npages,
                   pm_report_out_t out, void *ctx)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    char *at = text ? strstr(text, PAGES_AT) : NULL;
    size_t head;
    int err = 0;

    if (text == NULL)
        return PM_ENOMEM;
    if (at == NULL || npages == 0) { /* nothing to put in */
        err = out(ctx, text, strlen(text));
        free(text);
        return err;
    }
    head = (size_t)(at - text) + strlen(PAGES_AT) - 1; /* up to the '[' */
    err = out(ctx, text, head);
    for (size_t i = 0; err == 0 && i < npages; i++)
        err = emit_page(&pages[i], i == 0, out, ctx);
    if (err == 0)
        err = out(ctx, "\n  ", 3);
    if (err == 0)
        err = out(ctx, text + head, strlen(text + head));
    free(text);
    return err;
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

int pm_report_write_pages(const char *path, json_t *doc,
                          const pm_page_result_t *pages, size_t npages,
                          char sha256[PM_SHA256_HEX])
{
    char *tmp = NULL, hex[PM_SHA256_HEX];
    pm_hashed_file_t h;
    int fd = -1, err = doc == NULL ? PM_ENOMEM : pm_tmp_create(path, &tmp, &fd);

    if (err == 0 && (err = pm_hashed_open(&h, fd)) == 0) {
        err = pm_report_emit(doc, pages, npages, pm_hashed_put, &h);
        if (pm_hashed_close(&h, hex) != 0 && err == 0)
            err = h.err;
    }
    if (fd >= 0 && close(fd) != 0 && err == 0)
        err = -errno;
    if (err == 0)
        err = pm_commit_file(tmp, path);
    else if (tmp != NULL)
        unlink(tmp);
    if (sha256 != NULL)
        snprintf(sha256, PM_SHA256_HEX, "%s", err == 0 ? hex : "");
    json_decref(doc);
    pm_free(tmp);
    return err;
}
