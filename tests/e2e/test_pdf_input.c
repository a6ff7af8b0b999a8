/*
 * test_pdf_input.c: PDF inputs end to end, through the real `pagemill`
 * binary and its workers. A two-page image PDF made with img2pdf from
 * real scans (a G4 TIFF and a JPEG) converts: its pages are counted, the
 * CCITT page is read at its 300 dpi and its text matches the ground
 * truth, and the JPEG stream in the output is the input's byte for byte.
 * A PDF with a text layer is refused naming the file, and read again
 * with pdf_text = redo; vector art is rendered and read; encrypted and
 * damaged PDFs are refused naming the fault. A hot-folder batch holding
 * a PDF becomes a job through `serve`, billed for its pages.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <jansson.h>
#include <qpdf/qpdf-c.h>

#include "catalog/catalog.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define TESTING    "tesseract-test/testing/"
#define RES        "ocrmypdf/tests/resources/"
#define G4_SCAN    TESTING "8087_054.3B.tif"
#define G4_GT      TESTING "8087_054.3B.txt"
#define JPEG_SCAN  "leptonica/prog/lucasta.047.jpg"
#define DEADLINE_S 600.0

/* The two-page image PDF (G4 page, JPEG page) at tmp/scan.pdf. */
static const char *image_pdf(const char *tmp, char *buf, size_t len)
{
    char *g4 = pm_strdup(t_data(G4_SCAN));

    snprintf(buf, len, "%s/scan.pdf", tmp);
    assert_int_equal(
        t_run(NULL, "img2pdf '%s' '%s' -o '%s'", g4, t_data(JPEG_SCAN), buf),
        0);
    pm_free(g4);
    return buf;
}

/* A config file in tmp with profile `name` and body `body`; the path in
 * buf. Lifts the memory limit under ASan (see test_convert.c). */
static const char *config(const char *tmp, const char *name, const char *body,
                          char *buf, size_t len)
{
    char *text = pm_asprintf("[pagemill]\nworker_memory_mb = %s\n\n"
                             "[profile %s]\n%s",
                             T_UNDER_ASAN ? "0" : "4096", name, body);

    snprintf(buf, len, "%s/%s.ini", tmp, name);
    assert_int_equal(pm_write_file_atomic(buf, text, strlen(text)), 0);
    pm_free(text);
    return buf;
}

/* Runs convert; returns its exit status, the report in *rep. */
static int convert(const char *ini, const char *profile, const char *out,
                   const char *in, json_t **rep)
{
    char *text = NULL, path[700], *stem, *dot;
    json_error_t jerr;
    int rc;

    rc = t_run(&text,
               "'%s' convert --config '%s' --profile %s --jobs 2 --out '%s' "
               "'%s' 2>&1",
               PM_BINARY, ini, profile, out, in);
    printf("%s", text);
    free(text);
    stem = pm_strdup(strrchr(in, '/') + 1);
    dot = strrchr(stem, '.');
    *dot = '\0';
    snprintf(path, sizeof(path), "%s/%s.pages.json", out, stem);
    pm_free(stem);
    *rep = json_load_file(path, 0, &jerr);
    if (*rep == NULL)
        fail_msg("%s: %s", path, jerr.text);
    return rc;
}

static json_t *page_result(json_t *rep, size_t i)
{
    return json_array_get(json_object_get(rep, "page_results"), i);
}

static long long jint(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

/* `data` inflated (zlib); caller frees. */
static unsigned char *inflated(const unsigned char *data, size_t len,
                               size_t *out_len)
{
    size_t cap = 64 * len + 1024;
    unsigned char *out = pm_malloc(cap);
    z_stream z;

    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit(&z), Z_OK);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = z.total_out;
    inflateEnd(&z);
    return out;
}

/* The data of the one image on page `page` of `pdf`: raw, or with a
 * /FlateDecode in front of the /DCTDecode undone. Caller frees. */
static unsigned char *image_stream(const char *pdf, int page, int decode,
                                   size_t *len)
{
    qpdf_data q = qpdf_init();
    qpdf_oh pg, xobjects, im;
    unsigned char *data = NULL, *copy;
    const char *name;

    qpdf_silence_errors(q);
    assert_false(qpdf_read(q, pdf, NULL) & QPDF_ERRORS);
    pg = qpdf_get_page_n(q, (size_t)page);
    xobjects =
        qpdf_oh_get_key(q, qpdf_oh_get_key(q, pg, "/Resources"), "/XObject");
    qpdf_oh_begin_dict_key_iter(q, xobjects);
    assert_true(qpdf_oh_dict_more_keys(q));
    name = qpdf_oh_dict_next_key(q);
    im = qpdf_oh_get_key(q, xobjects, name);
    assert_false(qpdf_oh_get_stream_data(
                     q, im, decode ? qpdf_dl_generalized : qpdf_dl_none, NULL,
                     &data, len) &
                 QPDF_ERRORS);
    if (decode &&
        qpdf_oh_is_array(
            q, qpdf_oh_get_key(q, qpdf_oh_get_dict(q, im), "/Filter")))
        copy = inflated(data, *len, len); /* [/FlateDecode /DCTDecode] */
    else {
        copy = pm_malloc(*len);
        memcpy(copy, data, *len);
    }
    free(data);
    qpdf_cleanup(&q);
    return copy;
}

static void image_pdf_converts(void **state)
{
    const char *tmp = t_tmpdir();
    char in[600], ini[600], out[600], path[700];
    unsigned char *a, *b;
    size_t alen, blen;
    char *gt, *text, *ff;
    json_t *rep, *p1, *p2;
    double cer;

    (void)state;
    t_require_data();
    image_pdf(tmp, in, sizeof(in));
    config(tmp, "scan", "languages = eng\n", ini, sizeof(ini));
    snprintf(out, sizeof(out), "%s/out", tmp);
    assert_int_equal(convert(ini, "scan", out, in, &rep), 0);
    assert_int_equal(jint(rep, "pages"), 2);
    assert_int_equal(jint(rep, "billable_pages"), 2);
    snprintf(path, sizeof(path), "%s/scan.pdf", out);
    assert_int_equal(t_pdf_pages(path), 2);
    /* the CCITT page, at its own resolution */
    p1 = page_result(rep, 0);
    assert_string_equal(jstr(p1, "kind"), "bitonal");
    assert_int_equal(jint(p1, "xres"), 300);
    assert_int_equal(jint(p1, "width"), 2560);
    /* read like the TIFF it was made from */
    gt = t_slurp(t_data(G4_GT));
    snprintf(path, sizeof(path), "%s/scan.txt", out);
    text = t_slurp(path);
    ff = strchr(text, '\f');
    assert_non_null(ff);
    *ff = '\0';
    cer = t_cer(gt, text);
    printf("# CCITT page from the PDF: CER %.4f against %s\n", cer, G4_GT);
    assert_true(cer < 0.12);
    pm_free(gt);
    pm_free(text);
    /* the JPEG page, kept as it was scanned */
    p2 = page_result(rep, 1);
    assert_string_equal(jstr(p2, "codec"), "jpeg");
    assert_true(jint(p2, "words") > 50);
    a = image_stream(in, 1, 0, &alen);
    snprintf(path, sizeof(path), "%s/scan.pdf", out);
    b = image_stream(path, 1, 1, &blen);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    pm_free(a);
    pm_free(b);
    json_decref(rep);
}

static void text_pdf_refused_then_read_again(void **state)
{
    const char *tmp = t_tmpdir();
    char ini[600], redo[600], out[600], in[600];
    json_t *rep;
    const char *err;

    (void)state;
    t_require_data();
    snprintf(in, sizeof(in), "%s", t_data(RES "tagged.pdf"));
    config(tmp, "plain", "languages = eng\n", ini, sizeof(ini));
    snprintf(out, sizeof(out), "%s/text", tmp);
    assert_int_equal(convert(ini, "plain", out, in, &rep), 3);
    err = jstr(page_result(rep, 0), "error");
    printf("# %s\n", err);
    assert_non_null(strstr(err, "tagged.pdf"));
    assert_non_null(strstr(err, "already has a text layer"));
    assert_non_null(strstr(err, "pdf_text = redo"));
    json_decref(rep);

    config(tmp, "again", "languages = eng\npdf_text = redo\n", redo,
           sizeof(redo));
    assert_int_equal(convert(redo, "again", out, in, &rep), 0);
    assert_true(jint(page_result(rep, 0), "words") > 10);
    json_decref(rep);
}

static void vector_pdf_rendered_and_read(void **state)
{
    const char *tmp = t_tmpdir();
    char ini[600], out[600], in[600];
    json_t *rep;

    (void)state;
    t_require_data();
    snprintf(in, sizeof(in), "%s", t_data(RES "vector.pdf"));
    config(tmp, "vec", "languages = eng\npdf_dpi = 200\n", ini, sizeof(ini));
    snprintf(out, sizeof(out), "%s/vec", tmp);
    assert_int_equal(convert(ini, "vec", out, in, &rep), 0);
    assert_int_equal(jint(page_result(rep, 0), "xres"), 200);
    json_decref(rep);
}

static void encrypted_and_damaged_refused(void **state)
{
    const char *tmp = t_tmpdir();
    char ini[600], out[600], in[600], bad[600];
    json_t *rep;
    const char *err;

    (void)state;
    t_require_data();
    image_pdf(tmp, in, sizeof(in));
    config(tmp, "plain", "languages = eng\n", ini, sizeof(ini));
    snprintf(out, sizeof(out), "%s/bad", tmp);
    snprintf(bad, sizeof(bad), "%s/locked.pdf", tmp);
    assert_int_equal(
        t_run(NULL, "qpdf --encrypt user owner 256 -- '%s' '%s'", in, bad), 0);
    assert_int_equal(convert(ini, "plain", out, bad, &rep), 3);
    err = jstr(page_result(rep, 0), "error");
    printf("# %s\n", err);
    assert_non_null(strstr(err, "locked.pdf"));
    assert_non_null(strstr(err, "encrypted"));
    json_decref(rep);

    /* cut off inside the second page's JPEG */
    snprintf(bad, sizeof(bad), "%s/cut.pdf", tmp);
    t_copy_truncated(in, bad, (size_t)t_file_size(in) - 20000);
    assert_int_equal(convert(ini, "plain", out, bad, &rep), 3);
    err = jstr(page_result(rep, 0), "error");
    printf("# %s\n", err);
    assert_non_null(strstr(err, "cut.pdf"));
    assert_non_null(strstr(err, "damaged"));
    json_decref(rep);
}

/* ---- the service ---- */

/* A batch folder `name` in the hot folder with `src` as scan.pdf, then
 * batch.ini `ini`. */
static void drop_pdf(const sv_fx_t *f, const char *name, const char *src,
                     const char *ini)
{
    char path[700];

    snprintf(path, sizeof(path), "%s/%s", f->scans, name);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/%s/scan.pdf", f->scans, name);
    t_copy_file(src, path);
    snprintf(path, sizeof(path), "%s/%s/batch.ini", f->scans, name);
    sv_write_text(path, ini);
}

/* Waits for hot/_rejected/<name>/ERROR.txt; its text (caller frees). */
static char *wait_error_txt(const sv_fx_t *f, const char *name)
{
    double until = sv_now_s() + DEADLINE_S;
    char path[700];
    char *text;

    snprintf(path, sizeof(path), "%s/_rejected/%s/ERROR.txt", f->scans, name);
    while ((text = t_slurp(path)) == NULL && sv_now_s() < until)
        sv_nap_ms(100);
    if (text == NULL)
        fail_msg("no %s within %.0f s", path, DEADLINE_S);
    return text;
}

/* The service of the running test, stopped by the teardown whatever
 * happens. */
static sv_fx_t *running;

static void hot_folder_pdf_billed_for_its_pages(void **state)
{
    const char *tmp = t_tmpdir();
    sv_fx_t *f = running = pm_calloc(1, sizeof(*f));
    char path[700], in[600], *text;
    pm_catalog_t *cat = NULL;
    int64_t billable = -1;
    long long id;
    json_t *rep;
    json_error_t jerr;

    (void)state;
    t_require_data();
    image_pdf(tmp, in, sizeof(in));
    assert_int_equal(sv_fx_init(f, tmp), 0);
    assert_int_equal(sv_write_config(f, 300, ""), 0);
    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(f, "workorder add WO-1 --account ACME");
    sv_start(f);
    drop_pdf(f, "WO-1_pdf", in, "account = ACME\nexpected_pages = 2\n");
    /* refused at intake, naming the file: a text layer, a lock */
    drop_pdf(f, "WO-1_text", t_data(RES "tagged.pdf"), "");
    snprintf(path, sizeof(path), "%s/locked.pdf", tmp);
    assert_int_equal(
        t_run(NULL, "qpdf --encrypt u o 256 -- '%s' '%s'", in, path), 0);
    drop_pdf(f, "WO-1_locked", path, "");
    id = sv_wait_job(f, "WO-1_pdf", "done", DEADLINE_S);
    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-%lld/data/job-%lld.pdf",
             f->out, id, id);
    assert_int_equal(t_pdf_pages(path), 2);
    snprintf(path, sizeof(path),
             "%s/ACME/WO-1/job-%lld/data/job-%lld.pages.json", f->out, id, id);
    rep = json_load_file(path, 0, &jerr);
    assert_non_null(rep);
    assert_int_equal(jint(rep, "pages"), 2);
    assert_int_equal(jint(page_result(rep, 1), "page"), 2);
    json_decref(rep);
    assert_int_equal(pm_catalog_open(f->db, &cat), 0);
    assert_int_equal(pm_billable_count(cat, id, 0, &billable), 0);
    pm_catalog_close(cat);
    assert_int_equal(billable, 2);
    text = wait_error_txt(f, "WO-1_text");
    printf("# %s", text);
    assert_non_null(strstr(text, "'scan.pdf'"));
    assert_non_null(strstr(text, "already has a text layer"));
    assert_non_null(strstr(text, "pdf_text = redo"));
    pm_free(text);
    text = wait_error_txt(f, "WO-1_locked");
    printf("# %s", text);
    assert_non_null(strstr(text, "'scan.pdf'"));
    assert_non_null(strstr(text, "encrypted PDF"));
    pm_free(text);
    assert_int_equal(sv_stop(f, SIGTERM, 310), 0);
}

static int teardown(void **state)
{
    int rc = 0;

    (void)state;
    if (running != NULL)
        rc = sv_fx_fini(running, 310);
    pm_free(running);
    running = NULL;
    t_tmpdir_cleanup();
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(image_pdf_converts, teardown),
        cmocka_unit_test_teardown(text_pdf_refused_then_read_again, teardown),
        cmocka_unit_test_teardown(vector_pdf_rendered_and_read, teardown),
        cmocka_unit_test_teardown(encrypted_and_damaged_refused, teardown),
        cmocka_unit_test_teardown(hot_folder_pdf_billed_for_its_pages,
                                  teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
