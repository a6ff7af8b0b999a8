/*
 * test_page.c: pm_process_page checks the SHA-256 a page task carries
 * before decoding (workers/verify.c). A digest that differs fails the page
 * naming the file and both digests; the right one decodes the page from
 * the memory copy that was hashed, for every container format (each has
 * its own way in: TIFF through libtiff, BMP read whole, the others'
 * headers and pixels through Leptonica streams); a task without a digest
 * (convert) is processed as before. The page's ALTO is written only for a
 * task with a digest (the service, which publishes it), not for convert.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"
#include "workers/engine.h"

static const char *const files[] = {
    "tesseract-test/testing/phototest.tif",
    "leptonica/prog/speckle.png",
    "leptonica/prog/cat.007.jpg",
    "leptonica/prog/test1.bmp",
    "libtiff-testimages/test/images/rgb-3c-8b.ppm",
};

static const char zeros[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* pm_process_page of `src` with digest `sha` (NULL: none), with OCR or
 * without. */
static void process_ocr(const char *src, const char *sha, int ocr,
                        pm_page_result_t *r)
{
    pm_profile_t p;
    pm_page_task_t t = {0};

    t_profile(&p);
    p.ocr = ocr;
    t.page = 1;
    t.src = (char *)src;
    t.sha256 = (char *)sha;
    t.out_base = pm_asprintf("%s/p1", t_tmpdir());
    assert_non_null(t.out_base);
    pm_process_page(t_engine, &p, &t, r);
    pm_free(t.out_base);
}

/* Without OCR: the check and the decode are what is tested. */
static void process(const char *src, const char *sha, pm_page_result_t *r)
{
    process_ocr(src, sha, 0, r);
}

static void digest_is_checked_before_decoding(void **state)
{
    (void)state;
    t_require_data();
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        const char *src = t_data(files[i]);
        char want[300], actual[65];
        const char *at;
        pm_page_result_t r;

        process(src, zeros, &r);
        assert_false(r.ok);
        snprintf(want, sizeof(want), "%s changed since intake (SHA-256 ", src);
        at = strstr(r.error, want);
        if (at == NULL || strstr(r.error, ", expected 0000") == NULL)
            fail_msg("%s: %s", src, r.error);
        snprintf(actual, sizeof(actual), "%.64s", at + strlen(want));
        assert_int_equal(strspn(actual, "0123456789abcdef"), 64);
        pm_page_result_cleanup(&r);

        process(src, actual, &r); /* the right digest: decoded */
        if (!r.ok)
            fail_msg("%s: %s", src, r.error ? r.error : "?");
        assert_true(r.width > 0 && r.height > 0);
        pm_page_result_cleanup(&r);

        process(src, NULL, &r); /* no digest: no check */
        assert_true(r.ok);
        pm_page_result_cleanup(&r);
    }
}

/* The SHA-256 of `src` into sha[65], as the failed check reports it. */
static void digest_of(const char *src, char sha[65])
{
    char want[300];
    const char *at;
    pm_page_result_t r;

    process(src, zeros, &r);
    snprintf(want, sizeof(want), "(SHA-256 ");
    at = r.error != NULL ? strstr(r.error, want) : NULL;
    assert_non_null(at);
    snprintf(sha, 65, "%.64s", at + strlen(want));
    assert_int_equal(strspn(sha, "0123456789abcdef"), 64);
    pm_page_result_cleanup(&r);
}

/* The ALTO file beside the page's text PDF ("x.pdf" -> "x.alto.xml"). */
static char *alto_of(const pm_page_result_t *r)
{
    size_t n;

    assert_non_null(r->text_pdf);
    n = strlen(r->text_pdf);
    assert_true(n > 4);
    return pm_asprintf("%.*s.alto.xml", (int)(n - 4), r->text_pdf);
}

/* convert publishes no ALTO: a task without a digest gets the text PDF
 * and the text, not the ALTO the service's tasks get. */
static void alto_only_for_the_service(void **state)
{
    const char *src = t_data("tesseract-test/testing/phototest.tif");
    char sha[65], *alto;
    pm_page_result_t r;

    (void)state;
    t_require_data();
    digest_of(src, sha);
    process_ocr(src, NULL, 1, &r); /* convert */
    assert_true(r.ok);
    assert_true(r.words > 0);
    assert_true(t_exists(r.text_pdf));
    assert_true(t_exists(r.text));
    alto = alto_of(&r);
    if (t_exists(alto))
        fail_msg("%s written for a convert task", alto);
    pm_free(alto);
    pm_page_result_cleanup(&r);

    process_ocr(src, sha, 1, &r); /* the service */
    assert_true(r.ok);
    alto = alto_of(&r);
    if (!t_exists(alto) || t_file_size(alto) < 1000)
        fail_msg("%s missing or short for a service task", alto);
    unlink(alto);
    pm_free(alto);
    pm_page_result_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digest_is_checked_before_decoding),
        cmocka_unit_test(alto_only_for_the_service),
    };
    int rc = cmocka_run_group_tests(tests, t_engine_open, t_engine_close);

    t_tmpdir_cleanup();
    return rc;
}
