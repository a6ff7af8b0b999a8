/*
 * pdf_copy.c: pm__pdfw_copy() (pdf_writer.h). Walks an object of a PDF
 * open in qpdf (the text layer's font: its descriptor, font file,
 * CIDToGIDMap, ToUnicode ...) and writes it and every object it reaches
 * into the document, renumbered in the order they are met. Streams are
 * copied as stored, with their filters; an unfiltered one is deflated.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pipeline/base/pm.h"
#include "workers/pdf_writer.h"

#define COPY_MAX_OBJECTS 256 /* a font is a handful */
#define COPY_MAX_DEPTH   32  /* direct objects nested */

typedef struct copy {
    pm_pdfw_t *w;
    qpdf_data q;
    const char *path;
    int n; /* objects met: map[0..n-1] */
    struct {
        int id, gen, num;
    } map[COPY_MAX_OBJECTS];
} copy_t;

static int bad(copy_t *c, const char *what)
{
    if (c->w->err == 0)
        c->w->err = pm__engine_fail(c->w->eng, PM_EPDF,
                                    "%s: cannot copy font: %s", c->path, what);
    return c->w->err;
}

/* The document's number for the indirect `oh`, numbered when first met. */
static int number(copy_t *c, qpdf_oh oh)
{
    int id = qpdf_oh_get_object_id(c->q, oh);
    int gen = qpdf_oh_get_generation(c->q, oh);
    int num;

    for (int i = 0; i < c->n; i++)
        if (c->map[i].id == id && c->map[i].gen == gen)
            return c->map[i].num;
    if (c->n == COPY_MAX_OBJECTS)
        return bad(c, "too many objects");
    num = pm__pdfw_new(c->w);
    if (num < 0)
        return num;
    c->map[c->n].id = id;
    c->map[c->n].gen = gen;
    c->map[c->n].num = num;
    c->n++;
    return num;
}

static int value(copy_t *c, qpdf_oh oh, int depth);
static int body(copy_t *c, qpdf_oh oh, int depth);

/* The keys of `dict`, in a NULL-terminated array the caller frees with
 * free_keys() (qpdf's key iterator is one per document: no nesting). */
static char **dict_keys(copy_t *c, qpdf_oh dict)
{
    size_t n = 0, cap = 8;
    char **keys = pm_calloc(cap + 1, sizeof(*keys));

    qpdf_oh_begin_dict_key_iter(c->q, dict);
    while (keys != NULL && qpdf_oh_dict_more_keys(c->q)) {
        const char *k = qpdf_oh_dict_next_key(c->q);

        if (n == cap) {
            char **more = pm_realloc(keys, (2 * cap + 1) * sizeof(*keys));

            if (more == NULL)
                break;
            keys = more;
            cap *= 2;
        }
        keys[n] = pm_strdup(k);
        keys[++n] = NULL;
        if (keys[n - 1] == NULL)
            break;
    }
    return keys;
}

static void free_keys(char **keys)
{
    for (size_t i = 0; keys != NULL && keys[i] != NULL; i++)
        pm_free(keys[i]);
    pm_free(keys);
}

/* The entries of `dict` but /Length (a stream's is the writer's). */
static int entries(copy_t *c, qpdf_oh dict, int depth)
{
    char **keys = dict_keys(c, dict);

    if (keys == NULL)
        return bad(c, "out of memory");
    for (size_t i = 0; keys[i] != NULL && c->w->err == 0; i++) {
        if (strcmp(keys[i], "/Length") == 0)
            continue;
        pm__pdfw_printf(c->w, "%s ", keys[i]);
        value(c, qpdf_oh_get_key(c->q, dict, keys[i]), depth + 1);
        pm__pdfw_write(c->w, " ", 1);
    }
    free_keys(keys);
    return c->w->err;
}

/* Writes the object `oh` itself (not a stream), indirect or not. */
static int body(copy_t *c, qpdf_oh oh, int depth)
{
    int n;

    if (depth > COPY_MAX_DEPTH)
        return bad(c, "objects nested too deep");
    switch (qpdf_oh_get_type_code(c->q, oh)) {
    case ot_array:
        n = qpdf_oh_get_array_n_items(c->q, oh);
        pm__pdfw_write(c->w, "[", 1);
        for (int i = 0; i < n && c->w->err == 0; i++) {
            pm__pdfw_write(c->w, " ", 1);
            value(c, qpdf_oh_get_array_item(c->q, oh, i), depth + 1);
        }
        return pm__pdfw_write(c->w, " ]", 2);
    case ot_dictionary:
        pm__pdfw_write(c->w, "<< ", 3);
        entries(c, oh, depth);
        return pm__pdfw_write(c->w, ">>", 2);
    case ot_stream:
        return bad(c, "direct stream");
    case ot_null:
    case ot_boolean:
    case ot_integer:
    case ot_real:
    case ot_string:
    case ot_name:
        return pm__pdfw_printf(c->w, "%s", qpdf_oh_unparse(c->q, oh));
    default:
        return bad(c, "unexpected object");
    }
}

/* Writes `oh`: a reference when indirect, else the object itself. */
static int value(copy_t *c, qpdf_oh oh, int depth)
{
    if (qpdf_oh_is_indirect(c->q, oh)) {
        int n = number(c, oh);

        return n < 0 ? n : pm__pdfw_printf(c->w, "%d 0 R", n);
    }
    return body(c, oh, depth);
}

/* A stream object: its dictionary as it is (a /FlateDecode added when it
 * has no filter), then its bytes as stored. */
static int stream(copy_t *c, qpdf_oh oh, int num)
{
    qpdf_oh dict = qpdf_oh_get_dict(c->q, oh);
    int plain = !qpdf_oh_has_key(c->q, dict, "/Filter");
    unsigned char *raw = NULL, *z = NULL;
    size_t len = 0;
    uLongf zlen = 0;

    if (qpdf_oh_get_stream_data(c->q, oh, qpdf_dl_none, NULL, &raw, &len) &
        QPDF_ERRORS)
        return bad(c, "unreadable stream");
    if (plain) {
        zlen = compressBound((uLong)len);
        z = pm_malloc(zlen);
        if (z == NULL ||
            compress2(z, &zlen, raw, (uLong)len, Z_BEST_COMPRESSION) != Z_OK) {
            free(raw);
            pm_free(z);
            return bad(c, "out of memory");
        }
    }
    pm__pdfw_begin_obj(c->w, num);
    pm__pdfw_write(c->w, "<< ", 3);
    entries(c, dict, 0);
    if (plain)
        pm__pdfw_write(c->w, "/Filter /FlateDecode ", 21);
    pm__pdfw_printf(c->w, "/Length %zu >>\nstream\n",
                    plain ? (size_t)zlen : len);
    pm__pdfw_write(c->w, plain ? z : raw, plain ? (size_t)zlen : len);
    pm__pdfw_write(c->w, "\nendstream", 10);
    free(raw); /* qpdf's malloc */
    pm_free(z);
    return pm__pdfw_end(c->w);
}

int pm__pdfw_copy(pm_pdfw_t *w, qpdf_data src, qpdf_oh obj, const char *path,
                  int *num)
{
    copy_t *c = pm_calloc(1, sizeof(*c));
    int err;

    if (c == NULL)
        return pm__engine_fail(w->eng, PM_ENOMEM, "%s: out of memory", path);
    assert(qpdf_oh_is_indirect(src, obj));
    c->w = w;
    c->q = src;
    c->path = path;
    err = number(c, obj);
    /* Writing an object numbers what it references: on to the end. */
    for (int i = 0; err >= 0 && w->err == 0 && i < c->n; i++) {
        qpdf_oh oh = qpdf_get_object_by_id(src, c->map[i].id, c->map[i].gen);

        if (qpdf_oh_is_stream(src, oh)) {
            stream(c, oh, c->map[i].num);
            continue;
        }
        pm__pdfw_begin_obj(w, c->map[i].num);
        body(c, oh, 0);
        pm__pdfw_end(w);
    }
    if (err >= 0 && w->err == 0 && qpdf_has_error(src))
        bad(c, qpdf_get_error_full_text(src, qpdf_get_error(src)));
    *num = c->n > 0 ? c->map[0].num : 0;
    pm_free(c);
    return err < 0 ? err : w->err;
}
