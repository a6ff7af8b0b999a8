/*
 * test_pdf.c: PDF input in the decode stage (pm_load_count_frames,
 * pm_load_page on PDFs; workers/pdf*.c), on the real PDFs of
 * ../shared/data: every PDF of the manifest (the qpdf fuzz reproducers
 * included) is counted and each page decoded in this process, and must
 * give a sane page or an error naming the file; a CCITT scan is taken at
 * its own 300 dpi; a decompression bomb is refused before decoding; a
 * PDF with text is refused unless pdf_text = redo; encrypted and damaged
 * files are refused naming the fault. And the content lexer on its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <leptonica/allheaders.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "workers/engine.h"
#include "workers/pdf_int.h"

#define RES               "ocrmypdf/tests/resources/"
#define MAX_PAGES_CHECKED 8

static pm_engine_t *eng(void **state)
{
    return *state;
}

/* Loads page `page` of `path`; returns the error, *out the pix. */
static int load(void **state, const pm_profile_t *p, const char *path, int page,
                PIX **out)
{
    int fallback = 0;

    *out = NULL;
    return pm_load_page(eng(state), path, page, p, out, &fallback);
}

/* ---- the lexer ---- */

static void scan_str(const char *s, pm_pdf_scan_t *out)
{
    pm__pdf_scan((const unsigned char *)s, strlen(s), out);
}

static void lexer_finds_one_image_over_the_page(void **state)
{
    pm_pdf_scan_t s;

    (void)state;
    scan_str("q\n612.0000 0 0 792.0000 0.0000 0.0000 cm\n/Im0 Do\nQ\n", &s);
    assert_int_equal(s.ndo, 1);
    assert_int_equal(s.paint_ops, 0);
    assert_int_equal(s.text_ops, 0);
    assert_string_equal(s.drawn[0], "Im0");
    assert_true(s.do_ctm[0] == 612 && s.do_ctm[3] == 792);
    /* nested transformations multiply */
    scan_str("0.5 0 0 0.5 0 0 cm q 2 0 0 2 10 20 cm /X Do Q", &s);
    assert_true(s.do_ctm[0] == 1 && s.do_ctm[3] == 1);
    assert_true(s.do_ctm[4] == 5 && s.do_ctm[5] == 10);
}

static void lexer_tells_text_and_invisible_text(void **state)
{
    pm_pdf_scan_t s;

    (void)state;
    scan_str("BT /F1 12 Tf 72 700 Td (Hello \\) (world)) Tj ET", &s);
    assert_int_equal(s.text_ops, 1);
    assert_int_equal(s.visible_text, 1);
    scan_str("q /Im0 Do Q BT 3 Tr [(a) -20 (b)] TJ ET", &s);
    assert_int_equal(s.text_ops, 1);
    assert_int_equal(s.visible_text, 0);
    assert_int_equal(s.ndo, 1);
    /* operators inside strings, comments and inline images are not */
    scan_str("% (x) Tj\n(BT (a) Tj) pop <54 6a> pop "
             "BI /W 4 /H 1 /BPC 8 /CS /G ID \x01Tj EI\x02 EI Q",
             &s);
    assert_int_equal(s.text_ops, 0);
    assert_int_equal(s.paint_ops, 1); /* the inline image */
}

static void lexer_survives_garbage(void **state)
{
    static const char alphabet[] = "()<>[]/%\\ \n0123.-qQcmDoTjBIDE";
    unsigned char buf[4096];
    pm_pdf_scan_t s;
    unsigned seed = 7;

    (void)state;
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof(buf); i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] =
                (unsigned char)alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        pm__pdf_scan(buf, (size_t)(round * 20), &s);
    }
    scan_str("(unterminated \\", &s);
    scan_str("BI ID", &s);
    assert_int_equal(s.text_ops, 0);
}

/* ---- real files ---- */

static void ccitt_scan_is_taken_at_its_resolution(void **state)
{
    pm_profile_t p;
    PIX *pix;
    int n = 0;

    t_require_data();
    t_profile(&p);
    assert_int_equal(
        pm_load_count_frames(eng(state), t_data(RES "ccitt.pdf"), &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(load(state, &p, t_data(RES "ccitt.pdf"), 0, &pix), 0);
    assert_int_equal(pixGetWidth(pix), 2550);
    assert_int_equal(pixGetHeight(pix), 3300);
    assert_int_equal(pixGetDepth(pix), 1);
    assert_int_equal(pixGetXRes(pix), 300);
    assert_int_equal(pixGetYRes(pix), 300);
    /* a scan is mostly paper: black must be the ink, not the page */
    {
        l_int32 black = 0;
        pixCountPixels(pix, &black, NULL);
        assert_true(black > 0 && black < 2550 * 3300 / 4);
    }
    pixDestroy(&pix);
}

static void bomb_is_refused_before_decoding(void **state)
{
    pm_profile_t p;
    PIX *pix;
    const char *path;

    t_require_data();
    t_profile(&p);
    path = t_data(RES "hugemono.pdf");
    assert_int_equal(load(state, &p, path, 0, &pix), PM_ETOOBIG);
    assert_null(pix);
    assert_non_null(strstr(pm_engine_errmsg(eng(state)), "hugemono.pdf"));
    assert_non_null(strstr(pm_engine_errmsg(eng(state)), "35000x35000"));
    /* rendering obeys the same limit */
    p.max_pixels = 1000000;
    path = t_data(RES "vector.pdf");
    assert_int_equal(load(state, &p, path, 0, &pix), PM_ETOOBIG);
}

static void text_layer_refused_unless_redo(void **state)
{
    pm_profile_t p;
    PIX *pix;
    const char *msg;

    t_require_data();
    t_profile(&p);
    assert_int_equal(load(state, &p, t_data(RES "tagged.pdf"), 0, &pix),
                     PM_EUNSUPP);
    msg = pm_engine_errmsg(eng(state));
    assert_non_null(strstr(msg, "tagged.pdf"));
    assert_non_null(strstr(msg, "already has a text layer"));
    assert_non_null(strstr(msg, "pdf_text = redo"));
    p.pdf_text_redo = 1;
    p.pdf_dpi = 150;
    assert_int_equal(load(state, &p, t_data(RES "tagged.pdf"), 0, &pix), 0);
    assert_int_equal(pixGetXRes(pix), 150);
    /* an A4 page (595 pt) at 150 dpi */
    assert_in_range(pixGetWidth(pix), 1238, 1242);
    pixDestroy(&pix);
}

static void encrypted_and_damaged_refused(void **state)
{
    char tmp[300], path[600];
    pm_profile_t p;
    PIX *pix;
    int n = 0;

    t_require_data();
    t_profile(&p);
    snprintf(tmp, sizeof(tmp), "%s", t_tmpdir());
    snprintf(path, sizeof(path), "%s/enc.pdf", tmp);
    assert_int_equal(t_run(NULL, "qpdf --encrypt '' owner 256 -- '%s' '%s'",
                           t_data(RES "ccitt.pdf"), path),
                     0);
    assert_int_equal(pm_load_count_frames(eng(state), path, &n), PM_EUNSUPP);
    assert_non_null(strstr(pm_engine_errmsg(eng(state)), "encrypted"));
    assert_non_null(strstr(pm_engine_errmsg(eng(state)), "enc.pdf"));
    assert_int_equal(load(state, &p, path, 0, &pix), PM_EUNSUPP);
    assert_int_equal(t_run(NULL, "qpdf --encrypt user owner 256 -- '%s' '%s'",
                           t_data(RES "ccitt.pdf"), path),
                     0);
    assert_int_equal(pm_load_count_frames(eng(state), path, &n), PM_EUNSUPP);
    assert_non_null(strstr(pm_engine_errmsg(eng(state)), "encrypted"));
    /* header only */
    assert_int_equal(
        pm_load_count_frames(eng(state), t_data(RES "invalid.pdf"), &n),
        PM_ECORRUPT);
    assert_non_null(strstr(pm_engine_errmsg(eng(state)), "damaged PDF"));
    /* cut off in the middle of the image */
    snprintf(path, sizeof(path), "%s/cut.pdf", tmp);
    t_copy_truncated(t_data(RES "ccitt.pdf"), path,
                     (size_t)t_file_size(t_data(RES "ccitt.pdf")) / 2);
    assert_int_equal(load(state, &p, path, 0, &pix), PM_ECORRUPT);
    assert_null(pix);
    assert_non_null(strstr(pm_engine_errmsg(eng(state)), "cut.pdf"));
}

/* Every PDF of the manifest: counted, and each page decoded (up to
 * MAX_PAGES_CHECKED) to a sane image or refused naming the file. */
static void every_corpus_pdf_decodes_or_is_refused(void **state)
{
    char *list = NULL, *line, *save = NULL;
    pm_profile_t p;
    int files = 0, pages_ok = 0, refused = 0;

    t_require_data();
    t_profile(&p);
    p.pdf_text_redo = 1; /* reach the pages of text PDFs too */
    p.pdf_dpi = 100;
    assert_int_equal(t_run(&list,
                           "awk -F'\\t' 'NR > 1 && $9 == \"pdf\" "
                           "{ print $6 }' '%s'",
                           t_data("MANIFEST.tsv")),
                     0);
    for (line = strtok_r(list, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char path[4096];
        int n = 0, err;

        snprintf(path, sizeof(path), "%s", t_data(line));
        files++;
        err = pm_load_count_frames(eng(state), path, &n);
        if (err != 0) {
            if (strstr(pm_engine_errmsg(eng(state)), path) == NULL)
                fail_msg("%s: error does not name the file: %s", line,
                         pm_engine_errmsg(eng(state)));
            refused++;
            continue;
        }
        for (int k = 0; k < n && k < MAX_PAGES_CHECKED; k++) {
            PIX *pix = NULL;

            err = load(state, &p, path, k, &pix);
            if (err != 0) {
                if (strstr(pm_engine_errmsg(eng(state)), path) == NULL)
                    fail_msg("%s page %d: error does not name the file: %s",
                             line, k + 1, pm_engine_errmsg(eng(state)));
                refused++;
                continue;
            }
            assert_true(pixGetWidth(pix) >= 16 && pixGetHeight(pix) >= 16);
            assert_true(pixGetXRes(pix) >= 50 && pixGetYRes(pix) >= 50);
            pixDestroy(&pix);
            pages_ok++;
        }
    }
    pm_free(list);
    print_message("%d PDFs: %d pages decoded, %d refused\n", files, pages_ok,
                  refused);
    assert_true(files >= 70);
    assert_true(pages_ok >= 50);
}

static int setup(void **state)
{
    pm_engine_t *e = NULL;

    if (pm_engine_open(NULL, &e) != 0)
        return -1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    pm_engine_close(*state);
    t_tmpdir_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lexer_finds_one_image_over_the_page),
        cmocka_unit_test(lexer_tells_text_and_invisible_text),
        cmocka_unit_test(lexer_survives_garbage),
        cmocka_unit_test(ccitt_scan_is_taken_at_its_resolution),
        cmocka_unit_test(bomb_is_refused_before_decoding),
        cmocka_unit_test(text_layer_refused_unless_redo),
        cmocka_unit_test(encrypted_and_damaged_refused),
        cmocka_unit_test(every_corpus_pdf_decodes_or_is_refused),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
