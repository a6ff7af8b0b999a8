/*
 * test_page.c: pm_process_page checks the SHA-256 a page task carries
 * before decoding (workers/verify.c). A digest that differs fails the page
 * naming the file and both digests; the right one decodes the page from
 * the memory copy that was hashed, for every container format (each has
 * its own way in: TIFF through libtiff, BMP read whole, the others'
 * headers and pixels through Leptonica streams); a task without a digest
 * (convert) is processed as before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

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

/* pm_process_page of `src` with digest `sha` (NULL: none). */
static void process(const char *src, const char *sha, pm_page_result_t *r)
{
    pm_profile_t p;
    pm_page_task_t t = {0};

    t_profile(&p);
    p.ocr = 0; /* the check and the decode are what is tested */
    t.page = 1;
    t.src = (char *)src;
    t.sha256 = (char *)sha;
    t.out_base = pm_asprintf("%s/p1", t_tmpdir());
    assert_non_null(t.out_base);
    pm_process_page(t_engine, &p, &t, r);
    pm_free(t.out_base);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digest_is_checked_before_decoding),
    };
    int rc = cmocka_run_group_tests(tests, t_engine_open, t_engine_close);

    t_tmpdir_cleanup();
    return rc;
}
