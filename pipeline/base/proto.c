/*
 * proto.c: encode and decode the worker protocol's JSON lines (proto.h).
 * Both sides link this file, so a field is named in exactly one place.
 */
#include "pipeline/base/proto.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pipeline/base/pm.h"

static const char *kind_names[] = {"bitonal", "gray", "color"};
static const char *codec_names[] = {"g4", "jpeg", "jp2", "mrc"};

const char *pm_kind_name(pm_kind_t k)
{
    return (unsigned)k < 3 ? kind_names[k] : "?";
}

const char *pm_img_codec_name(pm_img_codec_t c)
{
    return (unsigned)c < 4 ? codec_names[c] : "?";
}

int pm_img_codec_parse(const char *s)
{
    for (int i = 0; s != NULL && i < 4; i++)
        if (strcmp(s, codec_names[i]) == 0)
            return i;
    return -1;
}

static const char *orient_method_names[] = {"?",   "off",  "upright-check",
                                            "osd", "read", "too-little-text"};

const char *pm_orient_method_name(pm_orient_method_t m)
{
    return (unsigned)m < 6 ? orient_method_names[m] : "?";
}

static int name_index(const char *s, const char **names, int n)
{
    for (int i = 0; s != NULL && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static const char *dpi_source_names[] = {"tag", "default", "estimated"};

const char *pm_dpi_source_name(int source)
{
    return (unsigned)source < 3 ? dpi_source_names[source] : "?";
}

void pm_page_task_cleanup(pm_page_task_t *t)
{
    pm_free(t->src);
    pm_free(t->out_base);
    pm_free(t->sha256);
    memset(t, 0, sizeof(*t));
}

void pm_page_result_cleanup(pm_page_result_t *r)
{
    pm_free(r->src);
    pm_free(r->error);
    pm_free(r->image);
    pm_free(r->text_pdf);
    pm_free(r->text);
    pm_free(r->review);
    pm_free(r->script);
    memset(r, 0, sizeof(*r));
}

int pm_page_result_copy(pm_page_result_t *dst, const pm_page_result_t *src)
{
    *dst = *src;
    dst->src = pm_strdup(src->src);
    dst->error = pm_strdup(src->error);
    dst->image = pm_strdup(src->image);
    dst->text_pdf = pm_strdup(src->text_pdf);
    dst->text = pm_strdup(src->text);
    dst->review = pm_strdup(src->review);
    dst->script = pm_strdup(src->script);
    if ((src->src && !dst->src) || (src->error && !dst->error) ||
        (src->image && !dst->image) || (src->text_pdf && !dst->text_pdf) ||
        (src->text && !dst->text) || (src->review && !dst->review) ||
        (src->script && !dst->script)) {
        pm_page_result_cleanup(dst);
        return PM_ENOMEM;
    }
    return 0;
}

void pm_doc_task_cleanup(pm_doc_task_t *t)
{
    pm_free(t->title);
    pm_free(t->pdf);
    pm_free(t->txt);
    pm_free(t->tif);
    pm_free(t->icc_profile);
    memset(t, 0, sizeof(*t));
}

void pm_doc_result_cleanup(pm_doc_result_t *r)
{
    pm_free(r->error);
    memset(r, 0, sizeof(*r));
}

void pm_page_result_list_free(pm_page_result_t *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        pm_page_result_cleanup(&v[i]);
    pm_free(v);
}

void pm_proto_msg_cleanup(pm_proto_msg_t *m)
{
    pm_page_task_cleanup(&m->page);
    pm_doc_task_cleanup(&m->doc);
    pm_free(m->spool);
    pm_page_result_cleanup(&m->result);
    pm_doc_result_cleanup(&m->doc_result);
    pm_free(m->warm);
    memset(m, 0, sizeof(*m));
}

/* ---- encoding ---- */

static char *dump_line(json_t *obj)
{
    char *s, *line;
    size_t n;

    if (obj == NULL)
        return NULL;
    s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (s == NULL)
        return NULL;
    n = strlen(s);
    line = pm_malloc(n + 2);
    if (line != NULL) {
        memcpy(line, s, n);
        line[n] = '\n';
        line[n + 1] = '\0';
    }
    free(s); /* Jansson allocates with the C library */
    return line;
}

static json_t *profile_json(const pm_profile_t *p)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:b, s:i, s:b, s:f, s:b, s:f, s:f, s:f, s:s, s:s, s:i, "
        "s:i, s:i, s:I, s:b, s:i}",
        "name", p->name, "languages", p->languages, "ocr", p->ocr, "ocr_psm",
        p->ocr_psm, "orient", p->orient, "orient_min_confidence",
        p->orient_min_confidence, "deskew", p->deskew, "deskew_max_angle",
        p->deskew_max_angle, "deskew_min_confidence", p->deskew_min_confidence,
        "blank_ink_ratio", p->blank_ink_ratio, "color_mode",
        pm_color_mode_name(p->color_mode), "gray_codec",
        pm_gray_codec_name(p->gray_codec), "jpeg_quality", p->jpeg_quality,
        "jp2_quality", p->jp2_quality, "fallback_dpi", p->fallback_dpi,
        "max_pixels", (json_int_t)p->max_pixels, "pdf_text_redo",
        p->pdf_text_redo, "pdf_dpi", p->pdf_dpi);

    if (o != NULL && p->compression != PM_COMPRESS_PLAIN &&
        json_object_set_new(o, "compression",
                            json_string(pm_compression_name(p->compression)))) {
        json_decref(o);
        return NULL;
    }
    if (o != NULL && p->pdfa_part != 2 &&
        json_object_set_new(o, "pdfa_part", json_integer(p->pdfa_part))) {
        json_decref(o);
        return NULL;
    }
    if (o != NULL && p->tiff_master != PM_TIFF_OFF &&
        json_object_set_new(o, "tiff_master",
                            json_string(pm_tiff_master_name(p->tiff_master)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *stage_json(const pm_stage_ms_t *ms)
{
    json_t *o = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "decode",
                          ms->decode, "orient", ms->orient, "deskew",
                          ms->deskew, "blank", ms->blank, "ocr", ms->ocr,
                          "encode", ms->encode, "total", ms->total);

    /* Only when there was a load: most pages have none. */
    if (o != NULL && ms->engine > 0 &&
        json_object_set_new(o, "engine", json_real(ms->engine)) != 0) {
        json_decref(o);
        return NULL;
    }
    /* Only pages that wrote an ALTO element (service tasks). */
    if (o != NULL && ms->alto > 0 &&
        json_object_set_new(o, "alto", json_real(ms->alto)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Adds key: string, or nothing when s is NULL. */
static int set_opt_string(json_t *obj, const char *key, const char *s)
{
    if (s == NULL)
        return 0;
    return json_object_set_new(obj, key, json_string(s));
}

/* Adds how the orientation was decided and on what evidence, when known:
 * orient_method, orient_osd_rotation (OSD's proposal, when OSD ran) and
 * orient_read (well-read words per clockwise turn, null: not read). */
static int set_orient_evidence(json_t *o, const pm_page_result_t *r)
{
    json_t *read;

    if (r->orient_method == PM_ORIENT_UNKNOWN)
        return 0;
    read = json_array();
    if (read == NULL)
        return -1;
    for (int i = 0; i < 4; i++) {
        json_t *v = r->orient_read[i] < 0 ? json_null()
                                          : json_integer(r->orient_read[i]);

        if (json_array_append_new(read, v) != 0) {
            json_decref(read);
            return -1;
        }
    }
    /* json_object_set_new takes the reference even when it fails. */
    if (json_object_set_new(o, "orient_read", read) != 0 ||
        json_object_set_new(
            o, "orient_method",
            json_string(pm_orient_method_name(r->orient_method))) != 0)
        return -1;
    if (r->orient_osd && r->orient_osd_rotation >= 0)
        return json_object_set_new(o, "orient_osd_rotation",
                                   json_integer(r->orient_osd_rotation));
    return 0;
}

json_t *pm_proto_page_result_json(const pm_page_result_t *r)
{
    json_t *o = json_pack(
        "{s:i, s:s?, s:i, s:b, s:i, s:i, s:i, s:i, s:b, s:i, s:f, s:f, s:f, "
        "s:b, s:f, s:i, s:f, s:s, s:s, s:I, s:o}",
        "page", r->page, "src", r->src, "frame", r->frame, "ok", r->ok, "width",
        r->width, "height", r->height, "xres", r->xres, "yres", r->yres,
        "dpi_fallback", r->dpi_fallback, "rotation", r->rotation,
        "orient_confidence", r->orient_confidence, "skew", r->skew,
        "skew_confidence", r->skew_confidence, "blank", r->blank, "ink_ratio",
        r->ink_ratio, "words", r->words, "confidence", r->confidence, "kind",
        pm_kind_name(r->kind), "codec", pm_img_codec_name(r->codec), "bytes",
        (json_int_t)r->bytes, "ms", stage_json(&r->ms));

    if (o == NULL)
        return NULL;
    if (json_object_set_new(o, "orient_osd", json_boolean(r->orient_osd)) ||
        json_object_set_new(o, "dpi_source",
                            json_string(pm_dpi_source_name(r->dpi_fallback))) !=
            0 ||
        (r->permanent &&
         json_object_set_new(o, "permanent", json_true()) != 0) ||
        set_orient_evidence(o, r) != 0 ||
        set_opt_string(o, "error", r->error) != 0 ||
        set_opt_string(o, "image", r->image) != 0 ||
        set_opt_string(o, "text_pdf", r->text_pdf) != 0 ||
        set_opt_string(o, "text", r->text) != 0 ||
        set_opt_string(o, "review", r->review) != 0 ||
        set_opt_string(o, "script", r->script) != 0 ||
        (r->script != NULL &&
         json_object_set_new(o, "script_confidence",
                             json_real(r->script_confidence)) != 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *pm_orient_evidence_text(const pm_page_result_t *r)
{
    json_t *o = json_object();
    char *text = NULL, *copy = NULL;

    if (o != NULL && r->orient_method != PM_ORIENT_UNKNOWN &&
        set_orient_evidence(o, r) == 0) {
        json_object_del(o, "orient_method");
        text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    json_decref(o);
    if (text != NULL)
        copy = pm_strdup(text);
    free(text);
    return copy;
}

char *pm_proto_page_task(long long task, const pm_page_task_t *t,
                         const pm_profile_t *p)
{
    return dump_line(json_pack("{s:s, s:I, s:{s:i, s:s, s:i, s:s, s:s*}, s:o}",
                               "op", "page", "task", (json_int_t)task, "page",
                               "page", t->page, "src", t->src, "frame",
                               t->frame, "out_base", t->out_base, "sha256",
                               t->sha256, "profile", profile_json(p)));
}

char *pm_proto_assemble_task(long long task, const pm_doc_task_t *d,
                             const char *spool, size_t npages,
                             const pm_profile_t *p)
{
    return dump_line(
        json_pack("{s:s, s:I, s:{s:s, s:s, s:s, s:s, s:s*}, s:s, s:I, s:o}",
                  "op", "assemble", "task", (json_int_t)task, "doc", "title",
                  d->title, "pdf", d->pdf, "txt", d->txt, "icc_profile",
                  d->icc_profile, "tif", d->tif, "spool", spool, "npages",
                  (json_int_t)npages, "profile", profile_json(p)));
}

char *pm_proto_ready(int pid)
{
    return dump_line(json_pack("{s:s, s:i}", "op", "ready", "pid", pid));
}

char *pm_proto_quit(void)
{
    return dump_line(json_pack("{s:s}", "op", "quit"));
}

char *pm_proto_warm(const char *list)
{
    return dump_line(json_pack("{s:s, s:s}", "op", "warm", "warm", list));
}

char *pm_proto_page_result(long long task, const pm_page_result_t *r)
{
    return dump_line(json_pack("{s:s, s:I, s:b, s:s?, s:o}", "op", "result",
                               "task", (json_int_t)task, "ok", r->ok, "error",
                               r->error, "page", pm_proto_page_result_json(r)));
}

char *pm_proto_doc_result(long long task, const pm_doc_result_t *r)
{
    return dump_line(json_pack("{s:s, s:I, s:b, s:s?, s:{s:i, s:I, s:f, s:f}}",
                               "op", "result", "task", (json_int_t)task, "ok",
                               r->ok, "error", r->error, "doc", "pages",
                               r->pages, "pdf_bytes", (json_int_t)r->pdf_bytes,
                               "ms", r->ms, "tiff_ms", r->tiff_ms));
}

/* ---- decoding ---- */

typedef struct reader {
    const char *what; /* first bad field, for the error message */
    int oom;
} reader_t;

static const char *get_str(reader_t *rd, json_t *o, const char *key,
                           int required)
{
    json_t *v = json_object_get(o, key);

    if ((v == NULL || json_is_null(v)) && !required)
        return NULL;
    if (!json_is_string(v)) {
        if (rd->what == NULL)
            rd->what = key;
        return NULL;
    }
    return json_string_value(v);
}

static char *dup_str(reader_t *rd, json_t *o, const char *key, int required)
{
    const char *s = get_str(rd, o, key, required);
    char *d;

    if (s == NULL)
        return NULL;
    d = pm_strdup(s);
    if (d == NULL)
        rd->oom = 1;
    return d;
}

static long long get_int(reader_t *rd, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v)) {
        if (rd->what == NULL)
            rd->what = key;
        return 0;
    }
    return json_integer_value(v);
}

static double get_num(reader_t *rd, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_number(v)) {
        if (rd->what == NULL)
            rd->what = key;
        return 0;
    }
    return json_number_value(v);
}

static int get_bool(reader_t *rd, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_boolean(v)) {
        if (rd->what == NULL)
            rd->what = key;
        return 0;
    }
    return json_is_true(v);
}

/* Reads a name from `names` into *out; an unknown name is a bad field. */
static void get_enum(reader_t *rd, json_t *o, const char *key,
                     const char **names, int n, int *out)
{
    const char *s = get_str(rd, o, key, 1);
    int x = name_index(s, names, n);

    if (x >= 0)
        *out = x;
    else if (s != NULL && rd->what == NULL)
        rd->what = key;
}

/* Reads a profile setting by config.h's names (one table each, in
 * config.c); an unknown name is a bad field. */
static void get_setting(reader_t *rd, json_t *o, const char *key,
                        int (*parse)(const char *), int *out)
{
    const char *s = get_str(rd, o, key, 1);
    int x = s != NULL ? parse(s) : -1;

    if (x >= 0)
        *out = x;
    else if (s != NULL && rd->what == NULL)
        rd->what = key;
}

static void read_profile(reader_t *rd, json_t *o, pm_profile_t *p)
{
    const char *s;
    int x;

    pm_profile_defaults(p);
    if (!json_is_object(o)) {
        rd->what = rd->what ? rd->what : "profile";
        return;
    }
    if ((s = get_str(rd, o, "name", 1)) != NULL)
        snprintf(p->name, sizeof(p->name), "%s", s);
    if ((s = get_str(rd, o, "languages", 1)) != NULL)
        snprintf(p->languages, sizeof(p->languages), "%s", s);
    p->ocr = get_bool(rd, o, "ocr");
    p->ocr_psm = (int)get_int(rd, o, "ocr_psm");
    p->orient = get_bool(rd, o, "orient");
    p->orient_min_confidence = get_num(rd, o, "orient_min_confidence");
    p->deskew = get_bool(rd, o, "deskew");
    p->deskew_max_angle = get_num(rd, o, "deskew_max_angle");
    p->deskew_min_confidence = get_num(rd, o, "deskew_min_confidence");
    p->blank_ink_ratio = get_num(rd, o, "blank_ink_ratio");
    x = (int)p->color_mode;
    get_setting(rd, o, "color_mode", pm_color_mode_parse, &x);
    p->color_mode = (pm_color_mode_t)x;
    x = (int)p->gray_codec;
    get_setting(rd, o, "gray_codec", pm_gray_codec_parse, &x);
    p->gray_codec = (pm_gray_codec_t)x;
    x = PM_COMPRESS_PLAIN; /* optional: lines from before it existed */
    if (get_str(rd, o, "compression", 0) != NULL)
        get_setting(rd, o, "compression", pm_compression_parse, &x);
    p->compression = (pm_compression_t)x;
    if (json_object_get(o, "pdfa_part") != NULL) { /* optional: 2 if absent */
        p->pdfa_part = (int)get_int(rd, o, "pdfa_part");
        if (p->pdfa_part != 1 && p->pdfa_part != 2 && rd->what == NULL)
            rd->what = "pdfa_part";
    }
    x = PM_TIFF_OFF; /* optional: absent is off */
    if (get_str(rd, o, "tiff_master", 0) != NULL)
        get_setting(rd, o, "tiff_master", pm_tiff_master_parse, &x);
    p->tiff_master = (pm_tiff_master_t)x;
    p->jpeg_quality = (int)get_int(rd, o, "jpeg_quality");
    p->jp2_quality = (int)get_int(rd, o, "jp2_quality");
    p->fallback_dpi = (int)get_int(rd, o, "fallback_dpi");
    p->max_pixels = get_int(rd, o, "max_pixels");
    p->pdf_text_redo = get_bool(rd, o, "pdf_text_redo");
    p->pdf_dpi = (int)get_int(rd, o, "pdf_dpi");
}

static void read_stage_ms(reader_t *rd, json_t *o, pm_stage_ms_t *ms)
{
    if (!json_is_object(o)) {
        rd->what = rd->what ? rd->what : "ms";
        return;
    }
    ms->decode = get_num(rd, o, "decode");
    ms->orient = get_num(rd, o, "orient");
    ms->deskew = get_num(rd, o, "deskew");
    ms->blank = get_num(rd, o, "blank");
    ms->ocr = get_num(rd, o, "ocr");
    ms->encode = get_num(rd, o, "encode");
    ms->total = get_num(rd, o, "total");
    if (json_object_get(o, "engine") != NULL) /* optional */
        ms->engine = get_num(rd, o, "engine");
    if (json_object_get(o, "alto") != NULL) /* optional */
        ms->alto = get_num(rd, o, "alto");
}

/* The optional orientation evidence (set_orient_evidence). */
static void read_orient_evidence(reader_t *rd, json_t *o, pm_page_result_t *r)
{
    json_t *read = json_object_get(o, "orient_read");
    json_t *osd = json_object_get(o, "orient_osd_rotation");
    int x = 0;

    if (get_str(rd, o, "orient_method", 0) == NULL)
        return; /* not recorded: all zero, as sent */
    r->orient_osd_rotation = -1;
    for (int i = 0; i < 4; i++)
        r->orient_read[i] = -1;
    get_enum(rd, o, "orient_method", orient_method_names, 6, &x);
    r->orient_method = (pm_orient_method_t)x;
    if (json_is_integer(osd))
        r->orient_osd_rotation = (int)json_integer_value(osd);
    for (int i = 0; i < 4 && json_is_array(read); i++) {
        json_t *v = json_array_get(read, (size_t)i);

        if (json_is_integer(v))
            r->orient_read[i] = (int)json_integer_value(v);
    }
}

static void read_page_result(reader_t *rd, json_t *o, pm_page_result_t *r)
{
    int x;

    if (!json_is_object(o)) {
        rd->what = rd->what ? rd->what : "page";
        return;
    }
    r->page = (int)get_int(rd, o, "page");
    r->src = dup_str(rd, o, "src", 0);
    r->frame = (int)get_int(rd, o, "frame");
    r->ok = get_bool(rd, o, "ok");
    r->error = dup_str(rd, o, "error", 0);
    r->permanent = json_is_true(json_object_get(o, "permanent"));
    r->width = (int)get_int(rd, o, "width");
    r->height = (int)get_int(rd, o, "height");
    r->xres = (int)get_int(rd, o, "xres");
    r->yres = (int)get_int(rd, o, "yres");
    r->dpi_fallback = get_bool(rd, o, "dpi_fallback");
    x = name_index(json_string_value(json_object_get(o, "dpi_source")),
                   dpi_source_names, 3);
    if (x >= 0) /* absent from older workers: the flag alone */
        r->dpi_fallback = x;
    r->rotation = (int)get_int(rd, o, "rotation");
    r->orient_confidence = get_num(rd, o, "orient_confidence");
    r->orient_osd = json_is_true(json_object_get(o, "orient_osd"));
    read_orient_evidence(rd, o, r);
    r->skew = get_num(rd, o, "skew");
    r->skew_confidence = get_num(rd, o, "skew_confidence");
    r->blank = get_bool(rd, o, "blank");
    r->ink_ratio = get_num(rd, o, "ink_ratio");
    r->words = (int)get_int(rd, o, "words");
    r->confidence = get_num(rd, o, "confidence");
    x = 0;
    get_enum(rd, o, "kind", kind_names, 3, &x);
    r->kind = (pm_kind_t)x;
    x = 0;
    get_enum(rd, o, "codec", codec_names, 4, &x);
    r->codec = (pm_img_codec_t)x;
    r->bytes = get_int(rd, o, "bytes");
    r->image = dup_str(rd, o, "image", 0);
    r->text_pdf = dup_str(rd, o, "text_pdf", 0);
    r->text = dup_str(rd, o, "text", 0);
    r->review = dup_str(rd, o, "review", 0);
    r->script = dup_str(rd, o, "script", 0);
    if (r->script != NULL)
        r->script_confidence = get_num(rd, o, "script_confidence");
    read_stage_ms(rd, json_object_get(o, "ms"), &r->ms);
}

static void read_assemble(reader_t *rd, json_t *root, pm_proto_msg_t *m)
{
    json_t *doc = json_object_get(root, "doc");
    long long n;

    if (!json_is_object(doc)) {
        rd->what = "doc";
        return;
    }
    m->doc.title = dup_str(rd, doc, "title", 1);
    m->doc.pdf = dup_str(rd, doc, "pdf", 1);
    m->doc.txt = dup_str(rd, doc, "txt", 1);
    m->doc.icc_profile = dup_str(rd, doc, "icc_profile", 1);
    m->doc.tif = dup_str(rd, doc, "tif", 0);
    m->spool = dup_str(rd, root, "spool", 1);
    n = get_int(rd, root, "npages");
    if (n < 0)
        rd->what = rd->what ? rd->what : "npages";
    else
        m->npages = (size_t)n;
}

static void read_doc_result(reader_t *rd, json_t *root, pm_proto_msg_t *m)
{
    json_t *doc = json_object_get(root, "doc");

    m->doc_result.ok = get_bool(rd, root, "ok");
    m->doc_result.error = dup_str(rd, root, "error", 0);
    if (!json_is_object(doc)) {
        rd->what = rd->what ? rd->what : "doc";
        return;
    }
    m->doc_result.pages = (int)get_int(rd, doc, "pages");
    m->doc_result.pdf_bytes = get_int(rd, doc, "pdf_bytes");
    m->doc_result.ms = get_num(rd, doc, "ms");
    if (json_object_get(doc, "tiff_ms") != NULL) /* optional */
        m->doc_result.tiff_ms = get_num(rd, doc, "tiff_ms");
}

static void read_message(reader_t *rd, json_t *root, const char *op,
                         pm_proto_msg_t *m)
{
    if (strcmp(op, "ready") == 0) {
        m->type = PM_MSG_READY;
        m->pid = (int)get_int(rd, root, "pid");
        return;
    }
    if (strcmp(op, "quit") == 0) {
        m->type = PM_MSG_QUIT;
        return;
    }
    if (strcmp(op, "warm") == 0) {
        m->type = PM_MSG_WARM;
        m->warm = dup_str(rd, root, "warm", 1);
        return;
    }
    m->task = get_int(rd, root, "task");
    if (strcmp(op, "page") == 0) {
        json_t *pg = json_object_get(root, "page");
        m->type = PM_MSG_PAGE;
        read_profile(rd, json_object_get(root, "profile"), &m->profile);
        if (!json_is_object(pg)) {
            rd->what = "page";
            return;
        }
        m->page.page = (int)get_int(rd, pg, "page");
        m->page.src = dup_str(rd, pg, "src", 1);
        m->page.frame = (int)get_int(rd, pg, "frame");
        m->page.out_base = dup_str(rd, pg, "out_base", 1);
        m->page.sha256 = dup_str(rd, pg, "sha256", 0);
    } else if (strcmp(op, "assemble") == 0) {
        m->type = PM_MSG_ASSEMBLE;
        read_profile(rd, json_object_get(root, "profile"), &m->profile);
        read_assemble(rd, root, m);
        m->doc.tiff_master = m->profile.tiff_master;
        m->doc.pdfa_part = m->profile.pdfa_part;
    } else if (strcmp(op, "result") == 0) {
        if (json_object_get(root, "page") != NULL) {
            m->type = PM_MSG_PAGE_RESULT;
            read_page_result(rd, json_object_get(root, "page"), &m->result);
        } else {
            m->type = PM_MSG_DOC_RESULT;
            read_doc_result(rd, root, m);
        }
    } else {
        rd->what = "op";
    }
}

/* One line as JSON, or NULL with why in errbuf. */
static json_t *load_line(const char *line, size_t len, char *errbuf,
                         size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(line, len, 0, &jerr);

    if (root == NULL)
        snprintf(errbuf, errlen, "not JSON: %s (column %d)", jerr.text,
                 jerr.column);
    return root;
}

int pm_proto_parse(const char *line, size_t len, pm_proto_msg_t *m,
                   char *errbuf, size_t errlen)
{
    json_t *root;
    const char *op;
    reader_t rd = {NULL, 0};

    memset(m, 0, sizeof(*m));
    root = load_line(line, len, errbuf, errlen);
    if (root == NULL)
        return PM_EPROTO;
    op = get_str(&rd, root, "op", 1);
    if (op != NULL)
        read_message(&rd, root, op, m);
    json_decref(root);
    if (rd.oom) {
        pm_proto_msg_cleanup(m);
        return PM_ENOMEM;
    }
    if (rd.what != NULL) {
        snprintf(errbuf, errlen, "missing or mistyped field '%s'", rd.what);
        pm_proto_msg_cleanup(m);
        return PM_EPROTO;
    }
    return 0;
}

int pm_proto_parse_page_result(const char *line, size_t len,
                               pm_page_result_t *r, char *errbuf, size_t errlen)
{
    json_t *root;
    reader_t rd = {NULL, 0};

    memset(r, 0, sizeof(*r));
    root = load_line(line, len, errbuf, errlen);
    if (root == NULL)
        return PM_EPROTO;
    read_page_result(&rd, root, r);
    json_decref(root);
    if (rd.oom || rd.what != NULL) {
        if (!rd.oom)
            snprintf(errbuf, errlen, "missing or mistyped field '%s'", rd.what);
        pm_page_result_cleanup(r);
        return rd.oom ? PM_ENOMEM : PM_EPROTO;
    }
    return 0;
}

void pm_orient_evidence_parse(pm_page_result_t *r, const char *method,
                              const char *evidence)
{
    json_t *o = evidence ? json_loads(evidence, 0, NULL) : json_object();
    reader_t rd;

    memset(&rd, 0, sizeof(rd));
    if (o != NULL && method != NULL &&
        json_object_set_new(o, "orient_method", json_string(method)) == 0)
        read_orient_evidence(&rd, o, r);
    if (rd.what != NULL)
        r->orient_method = PM_ORIENT_UNKNOWN;
    json_decref(o);
}
