/*
 * selftest_doc.c: the checks `pagemill selftest` makes of one document
 * the sample pages were converted into (selftest.c runs the conversion):
 * the expected words are in the text layer (read with poppler, as a
 * reader's viewer would), the file is PDF/A as the tests check it
 * (qpdf's check, the XMP declaration, the OutputIntent), and the outputs
 * make a BagIt bag that verifies (pipeline/bag.c, pipeline/verify.c).
 */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <poppler.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>
#include <qpdf/qpdf-c.h>

#include "pipeline/bag.h"
#include "pipeline/base/pm.h"
#include "pipeline/selftest_int.h"

#ifndef PM_VERSION
#define PM_VERSION "dev"
#endif

/* ---- the text layer ---- */

/* The page (1-based) convert's report gives file `name` (a base name),
 * or 0. */
static int page_of(json_t *report, const char *name)
{
    json_t *pages = json_object_get(report, "page_results"), *pg;
    size_t i;

    json_array_foreach(pages, i, pg)
    {
        const char *src = json_string_value(json_object_get(pg, "src"));
        const char *base = src ? strrchr(src, '/') : NULL;

        base = base ? base + 1 : src;
        if (base != NULL && strcmp(base, name) == 0 &&
            json_is_true(json_object_get(pg, "ok")))
            return (int)json_integer_value(json_object_get(pg, "page"));
    }
    return 0;
}

/* Page `page` (1-based) of `doc` as text (g_free), or NULL. */
static char *page_text(PopplerDocument *doc, int page)
{
    PopplerPage *p = poppler_document_get_page(doc, page - 1);
    char *text;

    if (p == NULL)
        return NULL;
    text = poppler_page_get_text(p);
    g_object_unref(p);
    return text;
}

/* The words of one sample missing from its page; the first one named in
 * why when it is the first fault. */
static int sample_words(PopplerDocument *doc, json_t *report,
                        const st_sample_t *s, int *found, int faults, char *why,
                        size_t size)
{
    int page = page_of(report, s->file), missing = 0;
    char *text = page > 0 ? page_text(doc, page) : NULL;

    if (text == NULL) {
        if (faults == 0)
            snprintf(why, size, "%s: no converted page in the report", s->file);
        return (int)s->nwords;
    }
    for (size_t i = 0; i < s->nwords; i++) {
        if (strcasestr(text, s->words[i]) != NULL) {
            (*found)++;
            continue;
        }
        if (faults + missing == 0)
            snprintf(why, size, "%s (page %d): '%s' is not in the text layer",
                     s->file, page, s->words[i]);
        missing++;
    }
    g_free(text);
    return missing;
}

/* `pdf` open with poppler, or NULL with the fault in why. */
static PopplerDocument *open_pdf(const char *pdf, char *why, size_t size)
{
    GError *error = NULL;
    char *uri = g_filename_to_uri(pdf, NULL, &error);
    PopplerDocument *doc =
        uri ? poppler_document_new_from_file(uri, NULL, &error) : NULL;

    if (doc == NULL)
        snprintf(why, size, "%s: cannot read: %s", pdf,
                 error ? error->message : "not a PDF");
    if (error != NULL)
        g_error_free(error);
    g_free(uri);
    return doc;
}

int pm__selftest_text(const char *pdf, const char *report, const st_sample_t *v,
                      size_t n, int *found, char *why, size_t size)
{
    json_error_t jerr;
    json_t *rep = json_load_file(report, 0, &jerr);
    PopplerDocument *doc;
    int missing = 0;

    *found = 0;
    why[0] = '\0';
    if (rep == NULL) {
        snprintf(why, size, "%s: cannot read: %s", report, jerr.text);
        return PM_EIO;
    }
    doc = open_pdf(pdf, why, size);
    if (doc == NULL) {
        json_decref(rep);
        return PM_EIO;
    }
    for (size_t i = 0; i < n; i++)
        missing += sample_words(doc, rep, &v[i], found, missing, why, size);
    g_object_unref(doc);
    json_decref(rep);
    return missing;
}

/* ---- PDF/A ---- */

/* The text of qpdf's error, or of its first warning. */
static const char *qpdf_fault(qpdf_data q)
{
    if (qpdf_has_error(q))
        return qpdf_get_error_full_text(q, qpdf_get_error(q));
    if (qpdf_more_warnings(q))
        return qpdf_get_error_full_text(q, qpdf_next_warning(q));
    return "unknown fault";
}

/* The XMP metadata stream of the catalog declares PDF/A-2B. */
static int xmp_declares_2b(qpdf_data q, qpdf_oh root)
{
    qpdf_oh meta = qpdf_oh_get_key(q, root, "/Metadata");
    unsigned char *buf = NULL;
    size_t len = 0;
    char *xmp;
    int ok;

    if (!qpdf_oh_is_stream(q, meta) ||
        (qpdf_oh_get_stream_data(q, meta, qpdf_dl_generalized, NULL, &buf,
                                 &len) &
         QPDF_ERRORS) != 0)
        return 0;
    xmp = pm_malloc(len + 1);
    ok = xmp != NULL;
    if (ok) {
        memcpy(xmp, buf, len);
        xmp[len] = '\0';
        ok = strstr(xmp, "<pdfaid:part>2</pdfaid:part>") != NULL &&
             strstr(xmp, "<pdfaid:conformance>B</pdfaid:conformance>") != NULL;
    }
    pm_free(xmp);
    free(buf); /* qpdf's malloc */
    return ok;
}

/* The first OutputIntent is GTS_PDFA1 and embeds its ICC profile. */
static int has_pdfa_intent(qpdf_data q, qpdf_oh root)
{
    qpdf_oh v = qpdf_oh_get_key(q, root, "/OutputIntents"), oi;

    if (!qpdf_oh_is_array(q, v) || qpdf_oh_get_array_n_items(q, v) < 1)
        return 0;
    oi = qpdf_oh_get_array_item(q, v, 0);
    return qpdf_oh_is_name_and_equals(q, qpdf_oh_get_key(q, oi, "/S"),
                                      "/GTS_PDFA1") &&
           qpdf_oh_is_stream(q, qpdf_oh_get_key(q, oi, "/DestOutputProfile"));
}

int pm__selftest_pdfa(const char *pdf, char *why, size_t size)
{
    qpdf_data q = qpdf_init();
    qpdf_oh root;
    int rc = -1;

    why[0] = '\0';
    qpdf_silence_errors(q);
    qpdf_set_suppress_warnings(q, QPDF_TRUE);
    if (qpdf_read(q, pdf, NULL) != QPDF_SUCCESS ||
        qpdf_check_pdf(q) != QPDF_SUCCESS) {
        snprintf(why, size, "%s: qpdf check: %s", pdf, qpdf_fault(q));
        goto out;
    }
    root = qpdf_get_root(q);
    if (!xmp_declares_2b(q, root))
        snprintf(why, size, "%s: the XMP metadata does not declare PDF/A-2B",
                 pdf);
    else if (!has_pdfa_intent(q, root))
        snprintf(why, size,
                 "%s: no GTS_PDFA1 OutputIntent with an embedded profile", pdf);
    else
        rc = 0;
out:
    qpdf_cleanup(&q);
    return rc;
}

/* ---- the bag ---- */

/* Moves dir/name into the bag's payload and records it. */
static int add_payload(pm_bag_t *b, const char *dir, const char *name,
                       char *why, size_t size)
{
    char *from = pm_asprintf("%s/%s", dir, name);
    char *rel = pm_asprintf("data/%s", name);
    char *to = pm_asprintf("%s/%s", b->dir, rel ? rel : "");
    int err = from && rel && to ? 0 : PM_ENOMEM;

    if (err == 0 && rename(from, to) != 0)
        err = -errno;
    if (err == 0)
        err = pm_bag_add_file(b, rel);
    if (err != 0)
        snprintf(why, size, "cannot put %s in the bag %s: %s", from ? from : "",
                 b->dir, pm_strerror(err));
    pm_free(from);
    pm_free(rel);
    pm_free(to);
    return err;
}

int pm__selftest_bag(const char *dir, const char *const *files, size_t n,
                     const char *organization, char *why, size_t size)
{
    pm_bag_info_t info = {.organization = organization,
                          .account = "SELFTEST",
                          .work_order = "WO-SELFTEST",
                          .version = PM_VERSION};
    char *bagdir = pm_asprintf("%s/bag", dir);
    pm_bag_t b = {0};
    int err = bagdir ? 0 : PM_ENOMEM;

    why[0] = '\0';
    if (err == 0 && mkdir(bagdir, 0755) != 0)
        err = -errno;
    if (err == 0)
        err = pm_bag_open(&b, bagdir);
    if (err != 0)
        snprintf(why, size, "cannot make the bag %s: %s", bagdir ? bagdir : "",
                 pm_strerror(err));
    for (size_t i = 0; err == 0 && i < n; i++)
        err = add_payload(&b, dir, files[i], why, size);
    if (err == 0)
        err = pm_bag_finish(&b, &info, why, size);
    if (err == 0 && pm_bag_check(bagdir, 1, why, size) != 0)
        err = -1;
    pm_bag_cleanup(&b);
    pm_free(bagdir);
    return err == 0 ? 0 : -1;
}
