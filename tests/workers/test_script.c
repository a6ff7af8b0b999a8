/*
 * test_script.c: pages in a script the profile's languages do not read are
 * held for review (workers/script.c, pm_review_reason). Real Hebrew,
 * Devanagari and Japanese pages of ../shared/data, read with `eng`, carry
 * OSD's script and are flagged naming it, whether orientation asked OSD
 * (the Japanese fax page) or the fast check settled it and the script was
 * asked after OCR because the reading was poor (Hebrew, Devanagari);
 * English pages read plainly are not flagged and pay no OSD; which
 * languages read which scripts.
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
#include "pipeline/report.h"
#include "workers/engine.h"

/* pm_process_page of shared page `rel` with OCR under `langs`; the review
 * reason pm_review_reason gives it into why[size]. */
static void process(const char *rel, const char *langs, pm_page_result_t *r,
                    char *why, size_t size)
{
    pm_profile_t p;
    pm_page_task_t t = {0};

    t_profile(&p);
    snprintf(p.languages, sizeof(p.languages), "%s", langs);
    t.page = 1;
    t.src = (char *)t_data(rel);
    t.out_base = pm_asprintf("%s/p1", t_tmpdir());
    assert_non_null(t.out_base);
    if (pm_process_page(t_engine, &p, &t, r) != 0)
        fail_msg("%s: %s", rel, r->error);
    pm_free(t.out_base);
    pm_review_reason(&p, r, why, size);
    printf("# %s (%s): script %s (%.1f), OCR %.0f, %s: review \"%s\"\n", rel,
           langs, r->script ? r->script : "-", r->script_confidence,
           r->confidence, pm_orient_method_name(r->orient_method), why);
}

static void languages_and_scripts(void **state)
{
    (void)state;
    assert_true(pm_script_read_by("Latin", "eng"));
    assert_true(pm_script_read_by("Latin", "eng+deu"));
    assert_true(pm_script_read_by("Fraktur", "deu"));
    assert_true(pm_script_read_by("Common", "heb"));
    assert_false(pm_script_read_by("Cyrillic", "eng"));
    assert_true(pm_script_read_by("Cyrillic", "eng+rus"));
    assert_true(pm_script_read_by("Cyrillic", "ukr"));
    assert_false(pm_script_read_by("Latin", "rus"));
    assert_false(pm_script_read_by("Greek", "eng+deu"));
    assert_true(pm_script_read_by("Greek", "ell"));
    assert_true(pm_script_read_by("Han", "chi_sim"));
    assert_true(pm_script_read_by("Japanese", "eng+jpn"));
    assert_false(pm_script_read_by("Japanese", "chi_sim"));
    assert_false(pm_script_read_by("Hebrew", "eng"));
    assert_true(pm_script_read_by("Hebrew", "heb"));
    assert_true(pm_script_read_by("Devanagari", "script/Devanagari"));
    assert_false(pm_script_read_by("Devanagari", ""));
}

static void other_scripts_are_held_for_review(void **state)
{
    static const struct {
        const char *rel, *script;
    } pages[] = {
        {"tesseract-test/testing/hebrew-nikud-genesis-1-2.png", "Hebrew"},
        {"tesseract-test/testing/devatest.png", "Devanagari"},
        {"debian-jbigkit-testdata/converted/ccitt7.png", "Japanese"},
    };

    (void)state;
    t_require_data();
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        pm_page_result_t r;
        char why[256], want[128];

        process(pages[i].rel, "eng", &r, why, sizeof(why));
        if (r.script == NULL || strcmp(r.script, pages[i].script) != 0)
            fail_msg("%s: script %s, expected %s", pages[i].rel,
                     r.script ? r.script : "none", pages[i].script);
        snprintf(want, sizeof(want),
                 "script %s not among the profile's languages eng",
                 pages[i].script);
        /* named surely: the reason; less surely (Japanese, 1.3): after
         * the low confidence, "...; perhaps script ..." */
        if (r.script_confidence >= PM_SCRIPT_SURE_CONF)
            assert_string_equal(why, want);
        else if (strncmp(why, "mean OCR confidence", 19) != 0 ||
                 strstr(why, want) == NULL)
            fail_msg("%s: review \"%s\"", pages[i].rel, why);
        pm_page_result_cleanup(&r);
    }
    t_tmpdir_cleanup();
}

/* English pages the fast check found upright and `eng` read plainly are
 * not flagged, and pay no OSD for their script (page.c): it stays
 * unnamed. */
static void english_pages_are_not_flagged(void **state)
{
    static const char *const pages[] = {
        "tesseract-test/testing/phototest.tif",
        "ocrmypdf/tests/resources/linn.png",
    };

    (void)state;
    t_require_data();
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        pm_page_result_t r;
        char why[256];
        int runs = pm_engine_osd_runs(t_engine);

        process(pages[i], "eng", &r, why, sizeof(why));
        assert_int_equal(r.orient_method, PM_ORIENT_UPRIGHT);
        assert_true(r.confidence >= 80);
        if (pm_engine_osd_runs(t_engine) != runs)
            fail_msg("%s: OSD ran %d time(s) on a page read plainly", pages[i],
                     pm_engine_osd_runs(t_engine) - runs);
        assert_null(r.script);
        assert_string_equal(why, "");
        pm_page_result_cleanup(&r);
    }
    t_tmpdir_cleanup();
}

/* The script, and where the resolution came from, go with the result
 * across the worker protocol. */
static void script_crosses_the_protocol(void **state)
{
    pm_page_result_t r = {0};
    pm_proto_msg_t m;
    char err[128], *line;

    (void)state;
    r.page = 1;
    r.src = (char *)"x.png";
    r.ok = 1;
    r.script = (char *)"Cyrillic";
    r.script_confidence = 7.5;
    r.dpi_fallback = PM_DPI_ESTIMATED;
    line = pm_proto_page_result(7, &r);
    assert_non_null(line);
    assert_non_null(strstr(line, "\"script\":\"Cyrillic\""));
    assert_non_null(strstr(line, "\"dpi_source\":\"estimated\""));
    assert_int_equal(pm_proto_parse(line, strlen(line), &m, err, sizeof(err)),
                     0);
    pm_free(line);
    assert_int_equal(m.type, PM_MSG_PAGE_RESULT);
    assert_string_equal(m.result.script, "Cyrillic");
    assert_true(m.result.script_confidence == 7.5);
    assert_int_equal(m.result.dpi_fallback, PM_DPI_ESTIMATED);
    pm_proto_msg_cleanup(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(languages_and_scripts),
        cmocka_unit_test(script_crosses_the_protocol),
        cmocka_unit_test(other_scripts_are_held_for_review),
        cmocka_unit_test(english_pages_are_not_flagged),
    };

    return cmocka_run_group_tests(tests, t_engine_open, t_engine_close);
}
