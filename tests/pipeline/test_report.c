/*
 * test_report.c: pipeline/report.c, the per-document report: which pages
 * are flagged for review and why (pm_review_reason), and how the report
 * shows it (a review reason or null on every page, review_pages in the
 * totals).
 */
#include <string.h>

#include <jansson.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/report.h"

static pm_page_result_t read_page(int words, double confidence)
{
    pm_page_result_t r;

    memset(&r, 0, sizeof(r));
    r.ok = 1;
    r.words = words;
    r.confidence = confidence;
    r.ink_ratio = 0.12;
    return r;
}

static void low_confidence_is_flagged_with_the_figures(void **state)
{
    pm_profile_t p;
    pm_page_result_t r = read_page(109, 47.3);
    char why[128];

    (void)state;
    pm_profile_defaults(&p);
    assert_int_equal(p.review_below_confidence, 60);
    assert_int_equal(pm_review_reason(&p, &r, why, sizeof(why)), 1);
    assert_string_equal(why, "mean OCR confidence 47 is below 60");
    r.confidence = 60; /* at the threshold: fine */
    assert_int_equal(pm_review_reason(&p, &r, why, sizeof(why)), 0);
    assert_string_equal(why, "");
    r.confidence = 12;
    p.review_below_confidence = 0; /* off */
    assert_int_equal(pm_review_reason(&p, &r, why, sizeof(why)), 0);
}

static void ink_without_words_is_flagged(void **state)
{
    pm_profile_t p;
    pm_page_result_t r = read_page(0, 0);
    char why[128];

    (void)state;
    pm_profile_defaults(&p);
    p.review_below_confidence = 0; /* whatever the threshold says */
    assert_int_equal(pm_review_reason(&p, &r, why, sizeof(why)), 1);
    assert_string_equal(why, "no words read on a page with ink (12.00%)");
}

static void blank_failed_and_unread_pages_are_not(void **state)
{
    pm_profile_t p;
    pm_page_result_t r = read_page(0, 0);
    char why[128];

    (void)state;
    pm_profile_defaults(&p);
    r.blank = 1;
    assert_int_equal(pm_review_reason(&p, &r, why, sizeof(why)), 0);
    r.blank = 0;
    r.ok = 0;
    assert_int_equal(pm_review_reason(&p, &r, why, sizeof(why)), 0);
    r.ok = 1;
    p.ocr = 0; /* image-only profile: no words expected */
    assert_int_equal(pm_review_reason(&p, &r, why, sizeof(why)), 0);
}

static void report_shows_reasons_and_count(void **state)
{
    pm_page_result_t pages[2] = {read_page(300, 91), read_page(109, 47)};
    pm_report_t rep = {.document = "job-1",
                       .profile = "default",
                       .written = 1,
                       .pdf = "job-1.pdf",
                       .txt = "job-1.txt",
                       .pages = pages,
                       .npages = 2};
    json_t *doc, *v;

    (void)state;
    pages[1].review = (char *)"mean OCR confidence 47 is below 60";
    doc = pm_report_json(&rep);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "review_pages")),
                     1);
    v = json_object_get(json_array_get(json_object_get(doc, "page_results"), 0),
                        "review");
    assert_true(json_is_null(v));
    v = json_object_get(json_array_get(json_object_get(doc, "page_results"), 1),
                        "review");
    assert_string_equal(json_string_value(v), pages[1].review);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(low_confidence_is_flagged_with_the_figures),
        cmocka_unit_test(ink_without_words_is_flagged),
        cmocka_unit_test(blank_failed_and_unread_pages_are_not),
        cmocka_unit_test(report_shows_reasons_and_count),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
