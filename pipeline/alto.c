/*
 * alto.c: merging the pages' ALTO elements into the job's ALTO v4
 * document (alto.h). Tesseract writes ALTO per page with ids counted
 * from 0 on every page; here each id gets its page's prefix, so the ids
 * of the merged document are unique as the schema's xsd:ID requires.
 */
#include "pipeline/alto.h"

#include <stdio.h>
#include <string.h>

#include <tesseract/capi.h>

#include "pipeline/base/pm.h"

static const char head[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<alto xmlns=\"http://www.loc.gov/standards/alto/ns-v4#\" "
    "xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
    "xsi:schemaLocation=\"http://www.loc.gov/standards/alto/ns-v4# "
    "http://www.loc.gov/alto/v4/alto-4-2.xsd\">\n"
    "\t<Description>\n"
    "\t\t<MeasurementUnit>pixel</MeasurementUnit>\n"
    "\t\t<OCRProcessing ID=\"OCR_0\">\n"
    "\t\t\t<ocrProcessingStep>\n"
    "\t\t\t\t<processingSoftware>\n"
    "\t\t\t\t\t<softwareName>tesseract</softwareName>\n"
    "\t\t\t\t\t<softwareVersion>%s</softwareVersion>\n"
    "\t\t\t\t</processingSoftware>\n"
    "\t\t\t</ocrProcessingStep>\n"
    "\t\t</OCRProcessing>\n"
    "\t</Description>\n"
    "\t<Layout>\n";
static const char tail[] = "\t</Layout>\n</alto>\n";

typedef struct buf {
    char *s;
    size_t len, cap;
} buf_t;

static int put(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *ns = pm_realloc(b->s, cap);

        if (ns == NULL)
            return PM_ENOMEM;
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

static int puts_(buf_t *b, const char *s)
{
    return put(b, s, strlen(s));
}

/* Appends `in` with every `pat` in it replaced by `rep`. */
static int replace_all(buf_t *b, const char *in, const char *pat,
                       const char *rep)
{
    const char *q;
    int err = 0;

    while (err == 0 && (q = strstr(in, pat)) != NULL) {
        err = put(b, in, (size_t)(q - in));
        if (err == 0)
            err = puts_(b, rep);
        in = q + strlen(pat);
    }
    return err ? err : puts_(b, in);
}

/* Page `page`'s element xml, its ids prefixed and its image number set. */
static int put_page(buf_t *b, const char *xml, int page)
{
    char id[32], nr[48];
    buf_t t = {0};
    int err;

    snprintf(id, sizeof(id), " ID=\"p%d_", page);
    snprintf(nr, sizeof(nr), "PHYSICAL_IMG_NR=\"%d\"", page);
    err = replace_all(&t, xml, " ID=\"", id);
    if (err == 0)
        err = replace_all(b, t.s, "PHYSICAL_IMG_NR=\"0\"", nr);
    pm_free(t.s);
    return err;
}

/* The ALTO file beside text PDF `pdf`: "x.pdf" -> "x.alto.xml". */
static char *alto_path(const char *pdf)
{
    size_t n = strlen(pdf);

    if (n > 4 && strcmp(pdf + n - 4, ".pdf") == 0)
        return pm_asprintf("%.*s.alto.xml", (int)(n - 4), pdf);
    return pm_asprintf("%s.alto.xml", pdf);
}

static int add_page(buf_t *b, const pm_page_result_t *r, char *why, size_t size)
{
    char *path = r->text_pdf ? alto_path(r->text_pdf) : NULL;
    unsigned char *xml = NULL;
    size_t len = 0;
    char empty[128];
    int err = r->text_pdf && path == NULL ? PM_ENOMEM : 0;

    if (err == 0 && path != NULL)
        err = pm_read_file(path, 256u << 20, &xml, &len);
    if (err == 0 && xml != NULL)
        err = put_page(b, (char *)xml, r->page);
    else if (err == 0 || err == PM_ENOENT) {
        /* No text read: the page is there, empty (a page read before
         * ALTO was written is too). */
        snprintf(empty, sizeof(empty),
                 "\t\t<Page ID=\"p%d\" PHYSICAL_IMG_NR=\"%d\"/>\n", r->page,
                 r->page);
        err = puts_(b, empty);
    }
    if (err != 0)
        snprintf(why, size, "%s: %s", path ? path : "ALTO", pm_strerror(err));
    pm_free(xml);
    pm_free(path);
    return err;
}

int pm_alto_merge(const pm_page_result_t *pages, size_t n, char **out,
                  size_t *len, char *why, size_t size)
{
    buf_t b = {0};
    char *top = pm_asprintf(head, TessVersion());
    int err = top == NULL ? PM_ENOMEM : puts_(&b, top), any = 0;

    *out = NULL;
    *len = 0;
    for (size_t i = 0; i < n; i++)
        any |= pages[i].text_pdf != NULL;
    for (size_t i = 0; err == 0 && any && i < n; i++)
        err = add_page(&b, &pages[i], why, size);
    if (err == 0)
        err = puts_(&b, tail);
    pm_free(top);
    if (err != 0 || !any) {
        if (err == PM_ENOMEM)
            snprintf(why, size, "out of memory");
        pm_free(b.s);
        return err;
    }
    *out = b.s;
    *len = b.len;
    return 0;
}
