/*
 * test_proto.c: the worker protocol (pipeline/base/proto.h). Every message type
 * goes through its encoder and pm_proto_parse() and must come back field
 * for field; malformed lines are PM_EPROTO with a reason; running out of
 * memory anywhere in a parse is a clean PM_ENOMEM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"

/* A profile with no field at its default. */
static void odd_profile(pm_profile_t *p)
{
    pm_profile_defaults(p);
    snprintf(p->name, sizeof(p->name), "archive-colour \"v2\"");
    snprintf(p->languages, sizeof(p->languages), "eng+deu+fra");
    p->ocr = 0;
    p->ocr_psm = 6;
    p->orient = 0;
    p->orient_min_confidence = 7.25;
    p->deskew = 0;
    p->deskew_max_angle = 3.5;
    p->deskew_min_confidence = 0.1;
    p->blank_ink_ratio = 0.000123456789;
    p->color_mode = PM_COLOR_GRAY;
    p->gray_codec = PM_CODEC_JP2;
    p->compression = PM_COMPRESS_MRC;
    p->tiff_master = PM_TIFF_G4_DEFLATE;
    p->jpeg_quality = 61;
    p->jp2_quality = 77;
    p->fallback_dpi = 204;
    p->max_pixels = 123456789012LL;
    p->pdfa_part = 1;
}

static void assert_profile_equal(const pm_profile_t *a, const pm_profile_t *b)
{
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->languages, b->languages);
    assert_int_equal(a->ocr, b->ocr);
    assert_int_equal(a->ocr_psm, b->ocr_psm);
    assert_int_equal(a->orient, b->orient);
    assert_true(a->orient_min_confidence == b->orient_min_confidence);
    assert_int_equal(a->deskew, b->deskew);
    assert_true(a->deskew_max_angle == b->deskew_max_angle);
    assert_true(a->deskew_min_confidence == b->deskew_min_confidence);
    assert_true(a->blank_ink_ratio == b->blank_ink_ratio);
    assert_int_equal(a->color_mode, b->color_mode);
    assert_int_equal(a->gray_codec, b->gray_codec);
    assert_int_equal(a->compression, b->compression);
    assert_int_equal(a->tiff_master, b->tiff_master);
    assert_int_equal(a->jpeg_quality, b->jpeg_quality);
    assert_int_equal(a->jp2_quality, b->jp2_quality);
    assert_int_equal(a->fallback_dpi, b->fallback_dpi);
    assert_true(a->max_pixels == b->max_pixels);
    assert_int_equal(a->pdfa_part, b->pdfa_part);
}

/* A page result with every field set, strings that need escaping. */
static void odd_result(pm_page_result_t *r, int i)
{
    memset(r, 0, sizeof(*r));
    r->page = 3 + i;
    r->src = pm_asprintf("in/WO \"%d\"/scan\\%d.tif", i, i);
    r->frame = 2 + i;
    r->ok = i % 2;
    r->error = r->ok ? NULL : pm_strdup("scan.tif frame 3: bad\nthings");
    r->width = 2550;
    r->height = 3300 + i;
    r->xres = 300;
    r->yres = 196;
    r->dpi_fallback = 1;
    r->rotation = 270;
    r->orient_confidence = 12.5;
    r->orient_osd = 1;
    r->orient_method = PM_ORIENT_READ;
    r->orient_osd_rotation = 180;
    r->orient_read[0] = 12; /* one turn not read */
    r->orient_read[1] = -1;
    r->orient_read[2] = 3;
    r->orient_read[3] = 0;
    r->skew = -1.25;
    r->skew_confidence = 4.0625;
    r->blank = 1;
    r->ink_ratio = 0.000123;
    r->words = 417;
    r->confidence = 91.3;
    r->kind = PM_KIND_COLOR;
    r->codec = i % 2 ? PM_IMG_MRC : PM_IMG_JP2;
    r->bytes = 5000000000LL; /* over 32 bits */
    r->image = pm_asprintf("work/p%d.jp2", i);
    r->text_pdf = pm_asprintf("work/p%d.pdf", i);
    r->text = pm_strdup("Grüße, \"quoted\"\ttab\\ and \xe2\x82\xac\n\f");
    r->ms.decode = 1.5;
    r->ms.orient = 2.25;
    r->ms.deskew = 3.125;
    r->ms.blank = 0.0625;
    r->ms.ocr = 1234.5;
    r->ms.encode = 6.75;
    r->ms.total = 1248.1875;
    r->ms.alto = 17.375;
}

static void assert_str_or_null_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_result_equal(const pm_page_result_t *a,
                                const pm_page_result_t *b)
{
    assert_int_equal(a->page, b->page);
    assert_str_or_null_equal(a->src, b->src);
    assert_int_equal(a->frame, b->frame);
    assert_int_equal(a->ok, b->ok);
    assert_str_or_null_equal(a->error, b->error);
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    assert_int_equal(a->xres, b->xres);
    assert_int_equal(a->yres, b->yres);
    assert_int_equal(a->dpi_fallback, b->dpi_fallback);
    assert_int_equal(a->rotation, b->rotation);
    assert_true(a->orient_confidence == b->orient_confidence);
    assert_int_equal(a->orient_osd, b->orient_osd);
    assert_int_equal(a->orient_method, b->orient_method);
    assert_int_equal(a->orient_osd_rotation, b->orient_osd_rotation);
    assert_memory_equal(a->orient_read, b->orient_read, sizeof(a->orient_read));
    assert_true(a->skew == b->skew);
    assert_true(a->skew_confidence == b->skew_confidence);
    assert_int_equal(a->blank, b->blank);
    assert_true(a->ink_ratio == b->ink_ratio);
    assert_int_equal(a->words, b->words);
    assert_true(a->confidence == b->confidence);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->codec, b->codec);
    assert_true(a->bytes == b->bytes);
    assert_str_or_null_equal(a->image, b->image);
    assert_str_or_null_equal(a->text_pdf, b->text_pdf);
    assert_str_or_null_equal(a->text, b->text);
    assert_true(a->ms.decode == b->ms.decode);
    assert_true(a->ms.orient == b->ms.orient);
    assert_true(a->ms.deskew == b->ms.deskew);
    assert_true(a->ms.blank == b->ms.blank);
    assert_true(a->ms.ocr == b->ms.ocr);
    assert_true(a->ms.encode == b->ms.encode);
    assert_true(a->ms.total == b->ms.total);
    assert_true(a->ms.alto == b->ms.alto);
}

/* Parses a line the encoders made: one JSON object, one newline, at the
 * end. */
static void parse_ok(const char *line, pm_proto_msg_t *m)
{
    char err[256] = "";
    size_t n;
    int rc;

    assert_non_null(line);
    n = strlen(line);
    assert_true(n > 2);
    assert_int_equal(line[n - 1], '\n');
    assert_null(memchr(line, '\n', n - 1)); /* one line */
    rc = pm_proto_parse(line, n, m, err, sizeof(err));
    if (rc != 0)
        fail_msg("parse failed: %s (%s): %s", pm_strerror(rc), err, line);
}

/* ---- round trips ---- */

static void page_task_round_trips(void **state)
{
    pm_page_task_t t = {7, NULL, 4, NULL, NULL};
    pm_profile_t p;
    pm_proto_msg_t m;
    char *line;

    (void)state;
    t.src = pm_strdup("/in/WO-1/p\"1\"\\.tif");
    t.out_base = pm_strdup("/work/job 9/p0007");
    t.sha256 = pm_strdup(
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    odd_profile(&p);
    line = pm_proto_page_task(9007199254740993LL, &t, &p);
    parse_ok(line, &m);
    assert_int_equal(m.type, PM_MSG_PAGE);
    assert_true(m.task == 9007199254740993LL); /* 2^53 + 1: not a double */
    assert_int_equal(m.page.page, 7);
    assert_string_equal(m.page.src, t.src);
    assert_int_equal(m.page.frame, 4);
    assert_string_equal(m.page.out_base, t.out_base);
    assert_non_null(m.page.sha256); /* what the worker checks the file by */
    assert_string_equal(m.page.sha256, t.sha256);
    assert_profile_equal(&m.profile, &p);
    pm_proto_msg_cleanup(&m);
    pm_free(line);

    /* No SHA-256 (convert): none on the line, none parsed. */
    pm_free(t.sha256);
    t.sha256 = NULL;
    line = pm_proto_page_task(8, &t, &p);
    assert_null(strstr(line, "sha256"));
    parse_ok(line, &m);
    assert_null(m.page.sha256);
    pm_proto_msg_cleanup(&m);
    pm_free(line);

    /* The built-in defaults too. */
    pm_profile_defaults(&p);
    line = pm_proto_page_task(1, &t, &p);
    parse_ok(line, &m);
    assert_profile_equal(&m.profile, &p);
    pm_proto_msg_cleanup(&m);
    pm_free(line);
    pm_page_task_cleanup(&t);
}

static void assemble_task_round_trips(void **state)
{
    pm_doc_task_t d = {0};
    pm_profile_t p;
    pm_proto_msg_t m;
    char *line;

    (void)state;
    d.title = pm_strdup("Work order \"WO-2026-0001\" – Grüße");
    d.pdf = pm_strdup("/out/WO-2026-0001.pdf");
    d.txt = pm_strdup("/out/WO-2026-0001.txt");
    d.icc_profile = pm_strdup(PM_DEFAULT_ICC);
    d.tif = pm_strdup("/out/WO-2026-0001.tif");
    odd_profile(&p);
    line = pm_proto_assemble_task(42, &d, "/out/.job-1.pages.jsonl", 3, &p);
    parse_ok(line, &m);
    assert_int_equal(m.type, PM_MSG_ASSEMBLE);
    assert_true(m.task == 42);
    assert_string_equal(m.doc.title, d.title);
    assert_string_equal(m.doc.pdf, d.pdf);
    assert_string_equal(m.doc.txt, d.txt);
    assert_string_equal(m.doc.icc_profile, d.icc_profile);
    assert_string_equal(m.doc.tif, d.tif);
    assert_int_equal(m.doc.tiff_master, p.tiff_master);
    assert_int_equal(m.doc.pdfa_part, 1); /* the profile's, as 1b */
    assert_int_equal(m.npages, 3);
    assert_string_equal(m.spool, "/out/.job-1.pages.jsonl");
    assert_profile_equal(&m.profile, &p);
    pm_proto_msg_cleanup(&m);
    pm_free(line);

    /* No pages at all. */
    line = pm_proto_assemble_task(43, &d, "/s", 0, &p);
    parse_ok(line, &m);
    assert_int_equal(m.type, PM_MSG_ASSEMBLE);
    assert_int_equal(m.npages, 0);
    pm_proto_msg_cleanup(&m);
    pm_free(line);
    pm_doc_task_cleanup(&d);
}

/* The page spool gives back every page as written, in order, and again
 * after a rewind; a line cut short or mistyped is an error naming the
 * file and line, never a shorter document. */
static void page_spool_round_trips(void **state)
{
    const char *dir = *state;
    char *path = pm_asprintf("%s/.job-1.pages.jsonl", dir), why[1024];
    pm_page_result_t pages[3], r;
    pm_page_spool_t *sp = NULL;
    FILE *f;

    for (int i = 0; i < 3; i++)
        odd_result(&pages[i], i);
    /* What an earlier attempt left is replaced. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("left over\n", f);
    fclose(f);
    assert_int_equal(pm_page_spool_write(path, pages, 3, why, sizeof(why)), 0);
    assert_int_equal(pm_page_spool_open(path, &sp, why, sizeof(why)), 0);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 3; i++) {
            assert_int_equal(pm_page_spool_next(sp, &r, why, sizeof(why)), 1);
            assert_result_equal(&r, &pages[i]);
            pm_page_result_cleanup(&r);
        }
        assert_int_equal(pm_page_spool_next(sp, &r, why, sizeof(why)), 0);
        assert_int_equal(pm_page_spool_rewind(sp, why, sizeof(why)), 0);
    }
    pm_page_spool_close(sp);

    /* Cut short in the middle of its last line. */
    f = fopen(path, "a");
    assert_non_null(f);
    fputs("{\"page\":4,", f);
    fclose(f);
    assert_int_equal(pm_page_spool_open(path, &sp, why, sizeof(why)), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pm_page_spool_next(sp, &r, why, sizeof(why)), 1);
        pm_page_result_cleanup(&r);
    }
    assert_int_equal(pm_page_spool_next(sp, &r, why, sizeof(why)), PM_EPROTO);
    assert_non_null(strstr(why, path));
    assert_non_null(strstr(why, "line 4"));
    pm_page_spool_close(sp);

    /* A link is never followed. */
    unlink(path);
    assert_int_equal(symlink("/etc/passwd", path), 0);
    assert_int_not_equal(pm_page_spool_open(path, &sp, why, sizeof(why)), 0);
    assert_null(sp);
    assert_non_null(strstr(why, path));
    unlink(path);
    assert_int_not_equal(pm_page_spool_open(path, &sp, why, sizeof(why)), 0);
    for (int i = 0; i < 3; i++)
        pm_page_result_cleanup(&pages[i]);
    pm_free(path);
}

static void ready_and_quit_round_trip(void **state)
{
    pm_proto_msg_t m;
    char *line;

    (void)state;
    line = pm_proto_ready(31337);
    parse_ok(line, &m);
    assert_int_equal(m.type, PM_MSG_READY);
    assert_int_equal(m.pid, 31337);
    pm_proto_msg_cleanup(&m);
    pm_free(line);

    line = pm_proto_quit();
    parse_ok(line, &m);
    assert_int_equal(m.type, PM_MSG_QUIT);
    pm_proto_msg_cleanup(&m);
    pm_free(line);
}

static void page_result_round_trips(void **state)
{
    pm_page_result_t r;
    pm_proto_msg_t m;
    char *line;

    (void)state;
    for (int i = 0; i < 2; i++) { /* a failed one, then a good one */
        odd_result(&r, i);
        line = pm_proto_page_result(77 + i, &r);
        parse_ok(line, &m);
        assert_int_equal(m.type, PM_MSG_PAGE_RESULT);
        assert_true(m.task == 77 + i);
        assert_result_equal(&m.result, &r);
        pm_proto_msg_cleanup(&m);
        pm_free(line);
        pm_page_result_cleanup(&r);
    }
    /* Mostly empty: optional strings absent, zeros. */
    memset(&r, 0, sizeof(r));
    r.page = 1;
    line = pm_proto_page_result(1, &r);
    parse_ok(line, &m);
    assert_result_equal(&m.result, &r);
    assert_null(m.result.src);
    assert_null(m.result.text);
    pm_proto_msg_cleanup(&m);
    pm_free(line);
}

static void doc_result_round_trips(void **state)
{
    pm_doc_result_t r = {0, NULL, 0, 0, 0, 0};
    pm_proto_msg_t m;
    char *line;

    (void)state;
    r.ok = 1;
    r.pages = 12;
    r.pdf_bytes = 6000000000LL;
    r.ms = 875.125;
    r.tiff_ms = 81.5;
    line = pm_proto_doc_result(5, &r);
    parse_ok(line, &m);
    assert_int_equal(m.type, PM_MSG_DOC_RESULT);
    assert_true(m.task == 5);
    assert_int_equal(m.doc_result.ok, 1);
    assert_null(m.doc_result.error);
    assert_int_equal(m.doc_result.pages, 12);
    assert_true(m.doc_result.pdf_bytes == 6000000000LL);
    assert_true(m.doc_result.ms == 875.125);
    assert_true(m.doc_result.tiff_ms == 81.5);
    pm_proto_msg_cleanup(&m);
    pm_free(line);

    r.ok = 0;
    r.error = pm_strdup("qpdf: cannot write /out/x.pdf: No space left");
    line = pm_proto_doc_result(6, &r);
    parse_ok(line, &m);
    assert_int_equal(m.doc_result.ok, 0);
    assert_string_equal(m.doc_result.error, r.error);
    pm_proto_msg_cleanup(&m);
    pm_free(line);
    pm_doc_result_cleanup(&r);
}

/* The report writer's JSON of a result has the same fields. */
static void page_result_json_for_reports(void **state)
{
    pm_page_result_t r;
    json_t *o;

    (void)state;
    odd_result(&r, 0);
    o = pm_proto_page_result_json(&r);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "page")), 3);
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "color");
    assert_string_equal(json_string_value(json_object_get(o, "codec")), "jp2");
    assert_string_equal(json_string_value(json_object_get(o, "error")),
                        r.error);
    assert_true(json_integer_value(json_object_get(o, "bytes")) ==
                5000000000LL);
    /* How the orientation was decided, and on what evidence. */
    assert_string_equal(json_string_value(json_object_get(o, "orient_method")),
                        "read");
    assert_int_equal(
        json_integer_value(json_object_get(o, "orient_osd_rotation")), 180);
    assert_int_equal(json_array_size(json_object_get(o, "orient_read")), 4);
    assert_true(
        json_is_null(json_array_get(json_object_get(o, "orient_read"), 1)));
    json_decref(o);
    pm_page_result_cleanup(&r);
    /* Not recorded (a page from the catalog): no evidence claimed. */
    memset(&r, 0, sizeof(r));
    o = pm_proto_page_result_json(&r);
    assert_non_null(o);
    assert_null(json_object_get(o, "orient_method"));
    assert_null(json_object_get(o, "orient_read"));
    json_decref(o);
}

static void copy_is_deep(void **state)
{
    pm_page_result_t a, b;

    (void)state;
    odd_result(&a, 0);
    assert_int_equal(pm_page_result_copy(&b, &a), 0);
    assert_result_equal(&a, &b);
    assert_ptr_not_equal(a.text, b.text);
    pm_page_result_cleanup(&a);
    assert_non_null(b.text); /* still valid */
    pm_page_result_cleanup(&b);

    for (long n = 1; n <= 5; n++) {
        odd_result(&a, 0);
        pm_alloc_fail_at(n);
        assert_int_equal(pm_page_result_copy(&b, &a), PM_ENOMEM);
        pm_alloc_fail_at(0);
        assert_null(b.src); /* left clean */
        assert_null(b.text);
        pm_page_result_cleanup(&a);
    }
}

/* ---- malformed lines ---- */

static const char *const malformed[] = {
    "",
    "\n",
    "not json\n",
    "{\"op\":\"ready\",\"pid\":1\n", /* unterminated */
    "[1,2,3]\n",
    "{}\n",
    "{\"op\":7}\n",
    "{\"op\":null}\n",
    "{\"op\":\"dance\"}\n",
    "{\"op\":\"ready\"}\n",
    "{\"op\":\"ready\",\"pid\":\"12\"}\n",
    "{\"op\":\"ready\",\"pid\":1.5}\n",
    "{\"op\":\"page\",\"task\":1}\n",
    "{\"op\":\"page\",\"task\":1,\"page\":{\"page\":1,\"src\":\"a\",\"frame\":"
    "0,"
    "\"out_base\":\"b\"}}\n", /* no profile */
    "{\"op\":\"page\",\"task\":1,\"page\":[],\"profile\":{}}\n",
    "{\"op\":\"page\",\"task\":\"1\",\"page\":{\"page\":1,\"src\":\"a\","
    "\"frame\":0,\"out_base\":\"b\"}}\n",
    "{\"op\":\"assemble\",\"task\":1}\n",
    "{\"op\":\"assemble\",\"task\":1,\"doc\":{},\"pages\":{}}\n",
    "{\"op\":\"result\",\"task\":1,\"ok\":true,\"page\":{}}\n",
    "{\"op\":\"result\",\"task\":1,\"ok\":true,\"page\":\"p\"}\n",
    "{\"op\":\"result\",\"task\":1,\"ok\":\"yes\",\"doc\":{\"pages\":1,"
    "\"pdf_bytes\":1,\"ms\":1}}\n",
    "{\"op\":\"result\",\"task\":1,\"ok\":true}\n",
    "{\"op\":\"result\",\"task\":1,\"ok\":true,\"doc\":{\"pages\":1}}\n",
};

static void malformed_lines_are_eproto(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        pm_proto_msg_t m;
        char err[256];
        int rc;

        memset(err, 0, sizeof(err));
        rc = pm_proto_parse(malformed[i], strlen(malformed[i]), &m, err,
                            sizeof(err));
        if (rc != PM_EPROTO)
            fail_msg("line %zu: %s for '%s'", i, pm_strerror(rc), malformed[i]);
        if (strlen(err) == 0)
            fail_msg("line %zu: no reason given", i);
        /* The message is left clean. */
        assert_null(m.page.src);
        assert_null(m.spool);
        assert_null(m.result.src);
        pm_proto_msg_cleanup(&m);
    }
}

/* A valid page result with one field broken at a time. */
static void each_mistyped_result_field_is_named(void **state)
{
    static const char *const fields[] = {
        "page",  "frame",     "ok",           "width",  "xres",
        "blank", "ink_ratio", "words",        "bytes",  "confidence",
        "ms",    "rotation",  "dpi_fallback", "height", "skew",
        /* "kind" and "codec": see unknown_enum_names_are_eproto */
    };
    pm_page_result_t r;
    char *line;

    (void)state;
    odd_result(&r, 1);
    line = pm_proto_page_result(1, &r);
    assert_non_null(line);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_t *root = json_loads(line, 0, NULL), *page;
        pm_proto_msg_t m;
        char *bad, err[256] = "";

        assert_non_null(root);
        page = json_object_get(root, "page");
        json_object_set_new(page, fields[i], json_string("???"));
        bad = json_dumps(root, JSON_COMPACT);
        json_decref(root);
        if (pm_proto_parse(bad, strlen(bad), &m, err, sizeof(err)) != PM_EPROTO)
            fail_msg("'%s' broken: not PM_EPROTO", fields[i]);
        if (strstr(err, fields[i]) == NULL)
            fail_msg("'%s' broken, error says '%s'", fields[i], err);
        pm_proto_msg_cleanup(&m);
        free(bad);
    }
    pm_free(line);
    pm_page_result_cleanup(&r);
}

static void unknown_enum_names_are_eproto(void **state)
{
    static const char *const lines[] = {
        "{\"op\":\"result\",\"task\":1,\"ok\":true,\"page\":{\"page\":1,"
        "\"frame\":0,\"ok\":true,\"width\":1,\"height\":1,\"xres\":1,"
        "\"yres\":1,\"dpi_fallback\":false,\"rotation\":0,"
        "\"orient_confidence\":0,\"skew\":0,\"skew_confidence\":0,"
        "\"blank\":false,\"ink_ratio\":0,\"words\":0,\"confidence\":0,"
        "\"kind\":\"purple\",\"codec\":\"g4\",\"bytes\":0,\"ms\":{"
        "\"decode\":0,\"orient\":0,\"deskew\":0,\"blank\":0,\"ocr\":0,"
        "\"encode\":0,\"total\":0}}}\n",
    };
    pm_proto_msg_t m;
    char err[256] = "";

    (void)state;
    assert_int_equal(
        pm_proto_parse(lines[0], strlen(lines[0]), &m, err, sizeof(err)),
        PM_EPROTO);
    assert_non_null(strstr(err, "kind"));
    pm_proto_msg_cleanup(&m);
}

/* File names on Linux are bytes; a scan called "r\xe9sum\xe9.tif" (Latin-1)
 * must still reach a worker. */
static void non_utf8_paths_can_be_sent(void **state)
{
    pm_page_task_t t = {1, NULL, 0, NULL, NULL};
    pm_profile_t p;
    pm_proto_msg_t m;
    char *line;

    (void)state;
    pm_profile_defaults(&p);
    t.src = pm_strdup("/in/r\xe9sum\xe9.tif");
    t.out_base = pm_strdup("/work/p1");
    /* The protocol carries UTF-8 only: such a name is refused here, and
     * convert refuses the file at intake with a message (see e2e). */
    line = pm_proto_page_task(1, &t, &p);
    assert_null(line);
    assert_false(pm_utf8_valid(t.src));
    assert_true(pm_utf8_valid("/in/r\xc3\xa9sum\xc3\xa9.tif"));
    (void)m;
    pm_page_task_cleanup(&t);
}

/* ---- out of memory ---- */

static void parse_out_of_memory_is_clean(void **state)
{
    pm_page_result_t r;
    pm_doc_task_t d = {0};
    char *lines[2];
    int saw_enomem = 0;

    (void)state;
    odd_result(&r, 0);
    lines[0] = pm_proto_page_result(9, &r);
    assert_non_null(lines[0]);
    d.title = pm_strdup("t");
    d.pdf = pm_strdup("p");
    d.txt = pm_strdup("x");
    d.icc_profile = pm_strdup("i");
    {
        pm_page_result_t pages[2];
        pm_profile_t p;

        odd_result(&pages[0], 0);
        odd_result(&pages[1], 1);
        pm_profile_defaults(&p);
        lines[1] = pm_proto_assemble_task(3, &d, "/s", 2, &p);
        pm_page_result_cleanup(&pages[0]);
        pm_page_result_cleanup(&pages[1]);
    }
    assert_non_null(lines[1]);
    for (int k = 0; k < 2; k++) {
        long n;
        int rc = PM_ENOMEM;

        for (n = 1; n < 200; n++) {
            pm_proto_msg_t m;
            char err[256] = "";

            pm_alloc_fail_at(n);
            rc = pm_proto_parse(lines[k], strlen(lines[k]), &m, err,
                                sizeof(err));
            pm_alloc_fail_at(0);
            if (rc == 0) {
                if (k == 0)
                    assert_result_equal(&m.result, &r);
                else
                    assert_int_equal(m.npages, 2);
                pm_proto_msg_cleanup(&m);
                break;
            }
            if (rc != PM_ENOMEM)
                fail_msg("allocation %ld failed: %s (%s)", n, pm_strerror(rc),
                         err);
            saw_enomem = 1;
            /* Cleaned up already; cleaning again is harmless. */
            assert_null(m.result.src);
            assert_null(m.spool);
            pm_proto_msg_cleanup(&m);
        }
        assert_int_equal(rc, 0);
        assert_true(n > 1);
    }
    assert_true(saw_enomem);
    pm_free(lines[0]);
    pm_free(lines[1]);
    pm_doc_task_cleanup(&d);
    pm_page_result_cleanup(&r);
}

static void encode_out_of_memory_returns_null(void **state)
{
    pm_page_result_t r;
    long n;
    char *line = NULL;

    (void)state;
    odd_result(&r, 0);
    for (n = 1; n < 50; n++) {
        pm_alloc_fail_at(n);
        line = pm_proto_page_result(1, &r);
        pm_alloc_fail_at(0);
        if (line != NULL)
            break;
    }
    assert_non_null(line);
    assert_true(n > 1);
    pm_free(line);
    pm_page_result_cleanup(&r);
}

static void names_of_kinds_and_codecs(void **state)
{
    (void)state;
    assert_string_equal(pm_kind_name(PM_KIND_BITONAL), "bitonal");
    assert_string_equal(pm_kind_name(PM_KIND_GRAY), "gray");
    assert_string_equal(pm_kind_name(PM_KIND_COLOR), "color");
    assert_string_equal(pm_kind_name((pm_kind_t)9), "?");
    assert_string_equal(pm_img_codec_name(PM_IMG_G4), "g4");
    assert_string_equal(pm_img_codec_name(PM_IMG_JPEG), "jpeg");
    assert_string_equal(pm_img_codec_name(PM_IMG_JP2), "jp2");
    assert_string_equal(pm_img_codec_name(PM_IMG_MRC), "mrc");
    assert_string_equal(pm_img_codec_name((pm_img_codec_t)-1), "?");
    for (int i = PM_IMG_G4; i <= PM_IMG_MRC; i++)
        assert_int_equal(pm_img_codec_parse(pm_img_codec_name(i)), i);
    assert_int_equal(pm_img_codec_parse("jbig2"), -1);
    assert_int_equal(pm_img_codec_parse(NULL), -1);
    assert_string_equal(pm_orient_method_name(PM_ORIENT_UPRIGHT),
                        "upright-check");
    assert_string_equal(pm_orient_method_name(PM_ORIENT_LITTLE_TEXT),
                        "too-little-text");
    assert_string_equal(pm_orient_method_name((pm_orient_method_t)17), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(page_task_round_trips),
        cmocka_unit_test(assemble_task_round_trips),
        cmocka_unit_test_setup_teardown(page_spool_round_trips, t_tmpdir_setup,
                                        t_tmpdir_teardown),
        cmocka_unit_test(ready_and_quit_round_trip),
        cmocka_unit_test(page_result_round_trips),
        cmocka_unit_test(doc_result_round_trips),
        cmocka_unit_test(page_result_json_for_reports),
        cmocka_unit_test(copy_is_deep),
        cmocka_unit_test(malformed_lines_are_eproto),
        cmocka_unit_test(each_mistyped_result_field_is_named),
        cmocka_unit_test(unknown_enum_names_are_eproto),
        cmocka_unit_test(non_utf8_paths_can_be_sent),
        cmocka_unit_test(parse_out_of_memory_is_clean),
        cmocka_unit_test(encode_out_of_memory_returns_null),
        cmocka_unit_test(names_of_kinds_and_codecs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
