/*
 * test_engine.c: the engine's warm Tesseract instances (workers/engine.c,
 * ocr.c). A page that has to wait for Tesseract to load says so in its
 * result (ms.engine), apart from its stages; an engine warmed for several
 * language sets and OSD keeps them all, so pages of profiles with other
 * languages, one after the other as a service worker gets them from
 * several jobs, load nothing again; more sets than the engine keeps
 * replace the one used longest ago; a set that cannot load does not stop
 * the others.
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

/* Warmed for two language sets and OSD: pages alternating between the
 * sets load nothing. */
static void warm_sets_are_kept(void **state)
{
    static const char *const order[] = {"eng", "deu+eng", "eng", "deu+eng"};
    pm_engine_t *eng = t_engine_new();
    pm_page_result_t r;
    int loads;

    (void)state;
    t_require_data();
    assert_int_equal(pm_engine_warm(eng, "eng,deu+eng,osd"), 0);
    loads = pm_engine_loads(eng);
    assert_int_equal(loads, 3);
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        read_page(eng, order[i], &r);
        if (r.ms.engine != 0)
            fail_msg("page %zu (%s) waited %.0f ms for Tesseract", i + 1,
                     order[i], r.ms.engine);
        pm_page_result_cleanup(&r);
    }
    assert_int_equal(pm_engine_loads(eng), loads);
    pm_engine_close(eng);
}

/* One set more than the engine keeps: the one used longest ago goes, the
 * others stay. */
static void oldest_set_makes_room(void **state)
{
    pm_engine_t *eng = t_engine_new();
    char list[256] = "";
    int loads;

    (void)state;
    t_require_data();
    /* The same data under distinct set names: eng, eng+eng, ... */
    for (int i = 0; i < PM_ENGINE_OCR_SETS; i++) {
        size_t n = strlen(list);

        snprintf(list + n, sizeof(list) - n, "%seng", i ? "," : "");
        for (int k = 0; k < i; k++) {
            n = strlen(list);
            snprintf(list + n, sizeof(list) - n, "+eng");
        }
    }
    assert_int_equal(pm_engine_warm(eng, list), 0);
    loads = pm_engine_loads(eng);
    assert_int_equal(loads, PM_ENGINE_OCR_SETS);
    /* "eng" was used first: a new set replaces it, and "eng" loads again. */
    assert_int_equal(pm_engine_warm(eng, "deu"), 0);
    assert_int_equal(pm_engine_loads(eng), loads + 1);
    assert_int_equal(pm_engine_warm(eng, "eng+eng"), 0);
    assert_int_equal(pm_engine_loads(eng), loads + 1);
    assert_int_equal(pm_engine_warm(eng, "eng"), 0);
    assert_int_equal(pm_engine_loads(eng), loads + 2);
    pm_engine_close(eng);
}

/* A set that cannot load fails the warm-up naming it; the rest of the
 * list still loads. */
static void warm_goes_on_past_a_missing_set(void **state)
{
    pm_engine_t *eng = t_engine_new();

    (void)state;
    t_require_data();
    assert_int_equal(pm_engine_warm(eng, "eng,zzz,osd"), PM_EOCR);
    assert_non_null(strstr(pm_engine_errmsg(eng), "'zzz'"));
    assert_int_equal(pm_engine_loads(eng), 2);
    assert_int_equal(pm_engine_warm(eng, "eng,osd"), 0);
    assert_int_equal(pm_engine_loads(eng), 2);
    pm_engine_close(eng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_page_reports_the_load),
        cmocka_unit_test(warm_sets_are_kept),
        cmocka_unit_test(oldest_set_makes_room),
        cmocka_unit_test(warm_goes_on_past_a_missing_set),
    };

    return cmocka_run_group_tests(tests, t_tmpdir_setup, t_tmpdir_teardown);
}
