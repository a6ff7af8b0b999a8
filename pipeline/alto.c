/*
 * alto.c: merging the pages' ALTO elements into the job's ALTO v4
 * document (alto.h). Tesseract writes ALTO per page with ids counted
 * from 0 on every page; here each id gets its page's prefix, so the ids
 * of the merged document are unique as the schema's xsd:ID requires.
 */
#include "pipeline/alto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <tesseract/capi.h>

#include "pipeline/bag.h"
#include "pipeline/base/buf.h"
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

/* Where the document goes: a file, a chunk at a time, hashed as written. */
typedef struct out {
    pm_hashed_file_t f;
    const char *path; /* the temp file, for messages */
    int err;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->err == 0)
        o->err = pm_hashed_put(&o->f, s, n);
}

/* Writes `in` with every `pat` in it replaced by `rep` into `b`. */
static void replace_all(pm_buf_t *b, const char *in, const char *pat,
                        const char *rep)
{
    const char *q;

    while ((q = strstr(in, pat)) != NULL) {
        pm_buf_add(b, in, (size_t)(q - in));
        pm_buf_puts(b, rep);
        in = q + strlen(pat);
    }
    pm_buf_puts(b, in);
}

/* Page `page`'s element xml, its ids prefixed and its image number set:
 * one page in memory at a time. */
static int put_page(out_t *o, const char *xml, int page)
{
    char id[32], nr[48];
    pm_buf_t t = {0}, u = {0};
    int err;

    snprintf(id, sizeof(id), " ID=\"p%d_", page);
    snprintf(nr, sizeof(nr), "PHYSICAL_IMG_NR=\"%d\"", page);
    replace_all(&t, xml, " ID=\"", id);
    if (!t.oom)
        replace_all(&u, t.s ? t.s : "", "PHYSICAL_IMG_NR=\"0\"", nr);
    err = t.oom || u.oom ? PM_ENOMEM : 0;
    if (err == 0)
        put(o, u.s ? u.s : "", u.len);
    pm_buf_cleanup(&t);
    pm_buf_cleanup(&u);
    return err ? err : o->err;
}

/* The ALTO file beside text PDF `pdf`: "x.pdf" -> "x.alto.xml". */
static char *alto_path(const char *pdf)
{
    size_t n = strlen(pdf);

    if (n > 4 && strcmp(pdf + n - 4, ".pdf") == 0)
        return pm_asprintf("%.*s.alto.xml", (int)(n - 4), pdf);
    return pm_asprintf("%s.alto.xml", pdf);
}

static int add_page(out_t *o, const pm_page_result_t *r, char *why, size_t size)
{
    char *path = r->text_pdf ? alto_path(r->text_pdf) : NULL;
    unsigned char *xml = NULL;
    size_t len = 0;
    char empty[128];
    int err = r->text_pdf && path == NULL ? PM_ENOMEM : 0;

    if (err == 0 && path != NULL)
        err = pm_read_file(path, 256u << 20, &xml, &len);
    if (err == 0 && xml != NULL) {
        err = put_page(o, (char *)xml, r->page);
    } else if (err == 0 || err == PM_ENOENT) {
        /* No text read: the page is there, empty (a page read before
         * ALTO was written is too). */
        snprintf(empty, sizeof(empty),
                 "\t\t<Page ID=\"p%d\" PHYSICAL_IMG_NR=\"%d\"/>\n", r->page,
                 r->page);
        put(o, empty, strlen(empty));
        err = o->err;
    }
    if (err != 0)
        snprintf(why, size, "%s: %s",
                 o->err ? o->path
                 : path ? path
                        : "ALTO",
                 pm_strerror(err));
    pm_free(xml);
    pm_free(path);
    return err;
}

int pm_alto_write(const pm_page_result_t *pages, size_t n, const char *path,
                  int *written, char sha256[PM_SHA256_HEX], char *why,
                  size_t size)
{
    char *top = NULL, *tmp = NULL;
    out_t o = {.f = {.fd = -1}};
    int fd = -1, err = 0, any = 0;

    *written = 0;
    sha256[0] = '\0';
    for (size_t i = 0; i < n; i++)
        any |= pages[i].text_pdf != NULL;
    if (!any)
        return 0; /* nothing was read: no document */
    top = pm_asprintf(head, TessVersion());
    err = top == NULL ? PM_ENOMEM : pm_tmp_create(path, &tmp, &fd);
    if (err == 0 && (err = pm_hashed_open(&o.f, fd)) != 0) {
        close(fd);
        unlink(tmp);
    }
    if (err != 0) {
        snprintf(why, size, "%s: %s", path, pm_strerror(err));
        pm_free(top);
        pm_free(tmp);
        return err;
    }
    o.path = tmp;
    put(&o, top, strlen(top));
    err = o.err;
    for (size_t i = 0; err == 0 && i < n; i++)
        err = add_page(&o, &pages[i], why, size);
    put(&o, tail, strlen(tail));
    if (pm_hashed_close(&o.f, sha256) != 0 && err == 0) {
        err = o.f.err;
        snprintf(why, size, "%s: %s", tmp, pm_strerror(err));
    }
    if (close(fd) != 0 && err == 0) {
        err = -errno;
        snprintf(why, size, "%s: %s", tmp, pm_strerror(err));
    }
    if (err == 0 && (err = pm_commit_file(tmp, path)) != 0)
        snprintf(why, size, "%s: %s", path, pm_strerror(err));
    else if (err != 0)
        unlink(tmp);
    *written = err == 0;
    if (err != 0)
        sha256[0] = '\0';
    pm_free(top);
    pm_free(tmp);
    return err;
}
