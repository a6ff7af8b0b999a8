/*
 * test_report.c: pipeline/report.c, the per-document report: which pages
 * are flagged for review and why (pm_review_reason), and how the report
 * shows it (a review reason or null on every page, review_pages in the
 * totals), and the report file's SHA-256 hashed as it is written.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "pipeline/report.h"
#include "workers/engine.h"

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

/* Collects what pm_report_emit writes. */
typedef struct sink {
    char *buf;
    size_t len;
    int pieces;
} sink_t;

static int to_sink(void *ctx, const char *buf, size_t len)
{
    sink_t *k = ctx;
    char *grown = pm_realloc(k->buf, k->len + len + 1);

    assert_non_null(grown);
    memcpy(grown + k->len, buf, len);
    k->buf = grown;
    k->len += len;
    k->buf[k->len] = '\0';
    k->pieces++;
    return 0;
}

/* The report written a page at a time has the bytes of the whole report
 * dumped at once (pm_report_write's), for no pages, one and several, with
 * members added after the pages (as serve adds the job's), and strings
 * that hold what the page array's key looks like. */
static void streamed_report_is_the_same_bytes(void **state)
{
    pm_page_result_t pages[3] = {read_page(300, 91), read_page(109, 47),
                                 read_page(0, 0)};
    pm_doc_result_t res = {.ok = 1, .pages = 3, .pdf_bytes = 1234, .ms = 5.5};
    pm_report_t rep = {.document = "job-1 \n  \"page_results\": []",
                       .profile = "default",
                       .written = 1,
                       .pdf = "job-1.pdf",
                       .txt = "job-1.txt",
                       .pages = pages,
                       .result = &res};

    (void)state;
    pages[1].review = (char *)"mean OCR confidence 47 is below 60";
    pages[2].ok = 0;
    pages[2].error = (char *)"p3.tif frame 1: \"page_results\": [] broken";
    pages[0].src = (char *)"/in/p1.tif";
    pages[0].image = (char *)"/work/p1.tif"; /* left out of both */
    for (size_t n = 0; n <= 3; n++) {
        json_t *whole, *head;
        char *want;
        sink_t k = {NULL, 0, 0};

        rep.npages = n;
        whole = pm_report_json(&rep);
        head = pm_report_head_json(&rep);
        assert_non_null(whole);
        assert_non_null(head);
        json_object_set_new(whole, "job", json_integer(7));
        json_object_set_new(head, "job", json_integer(7));
        want = json_dumps(whole, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        assert_non_null(want);
        assert_int_equal(pm_report_emit(head, pages, n, to_sink, &k), 0);
        assert_string_equal(k.buf, want);
        if (n > 0)
            assert_true(k.pieces > (int)n); /* not one piece */
        free(want);
        pm_free(k.buf);
        json_decref(whole);
        json_decref(head);
    }
}

/* The digest pm_report_write_pages gives is the written file's; a
 * report that cannot be written gives none. */
static void written_report_digest_is_the_files(void **state)
{
    const char *dir = *state;
    pm_page_result_t pages[2] = {read_page(300, 91), read_page(12, 88)};
    pm_doc_result_t res = {.ok = 1, .pages = 2, .pdf_bytes = 99, .ms = 1.5};
    pm_report_t rep = {.document = "job-3",
                       .profile = "default",
                       .written = 1,
                       .pdf = "job-3.pdf",
                       .txt = "job-3.txt",
                       .pages = pages,
                       .npages = 2,
                       .result = &res};
    char path[600], sha[PM_SHA256_HEX] = "x", hex[PM_SHA256_HEX];
    int fd;

    snprintf(path, sizeof(path), "%s/job-3.pages.json", dir);
    assert_int_equal(
        pm_report_write_pages(path, pm_report_head_json(&rep), pages, 2, sha),
        0);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pm_sha256_fd(fd, hex, NULL, NULL), 0);
    close(fd);
    assert_int_equal(strlen(sha), 64);
    assert_string_equal(sha, hex);

    snprintf(path, sizeof(path), "%s/no-such-folder/job-3.pages.json", dir);
    assert_int_not_equal(
        pm_report_write_pages(path, pm_report_head_json(&rep), pages, 2, sha),
        0);
    assert_string_equal(sha, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(low_confidence_is_flagged_with_the_figures),
        cmocka_unit_test(ink_without_words_is_flagged),
        cmocka_unit_test(blank_failed_and_unread_pages_are_not),
        cmocka_unit_test(report_shows_reasons_and_count),
        cmocka_unit_test(streamed_report_is_the_same_bytes),
        cmocka_unit_test_setup_teardown(written_report_digest_is_the_files,
                                        t_tmpdir_setup, t_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
