/*
 * test_engine.c: the engine's warm Tesseract instances (workers/engine.c,
 * ocr.c). A page that has to wait for Tesseract to load says so in its
 * result (ms.engine), apart from its stages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/pm.h"
#include "pipeline/proto.h"
#include "workers/engine.h"

#define PAGE "tesseract-test/testing/phototest.tif"

/* pm_process_page of the test page with OCR in `langs`; checks it read
 * the page. */
static void read_page(pm_engine_t *eng, const char *langs, pm_page_result_t *r)
{
    pm_profile_t p;
    pm_page_task_t t = {0};

    t_profile(&p);
    snprintf(p.languages, sizeof(p.languages), "%s", langs);
    t.page = 1;
    t.src = (char *)t_data(PAGE);
    t.out_base = pm_asprintf("%s/p1", t_tmpdir());
    assert_non_null(t.out_base);
    pm_process_page(eng, &p, &t, r);
    pm_free(t.out_base);
    if (!r->ok)
        fail_msg("%s: %s", PAGE, r->error ? r->error : "?");
    assert_true(r->words > 20);
}

/* A cold engine: the first page waits for the load and says how long,
 * outside its OCR stage; the next page waits for nothing. */
static void first_page_reports_the_load(void **state)
{
    pm_engine_t *eng = t_engine_new();
    pm_page_result_t r;

    (void)state;
    t_require_data();
    assert_int_equal(pm_engine_loads(eng), 0);
    read_page(eng, "eng", &r);
    assert_true(pm_engine_loads(eng) >= 1);
    assert_true(r.ms.engine > 0);
    assert_true(r.ms.engine <= pm_engine_load_ms(eng) + 0.001);
    assert_true(r.ms.total >= r.ms.engine + r.ms.ocr);
    pm_page_result_cleanup(&r);
    read_page(eng, "eng", &r);
    assert_true(r.ms.engine == 0);
    pm_page_result_cleanup(&r);
    pm_engine_close(eng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_page_reports_the_load),
    };

    return cmocka_run_group_tests(tests, t_tmpdir_setup, t_tmpdir_teardown);
}
