/*
 * test_alto.c: the job's ALTO document merged from the pages' ALTO
 * elements (pipeline/alto.h) on real files: ids made unique per page, the
 * page numbers set, a page without text an empty Page, a job with no page
 * read no document, the result well-formed (xmllint), its SHA-256 the
 * file's (hashed while written), and a job of 2,000 pages merged with one
 * page in memory at a time.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/testlib.h"
#include "pipeline/alto.h"
#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"
#include "workers/engine.h"

/* The digest pm_alto_write gave is the written file's. */
static void assert_digest_of(const char *path, const char *sha)
{
    char hex[PM_SHA256_HEX];
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(pm_sha256_fd(fd, hex, NULL, NULL), 0);
    close(fd);
    assert_int_equal(strlen(sha), 64);
    assert_string_equal(sha, hex);
}

/* What Tesseract's GetAltoText(api, 0) writes for a page of one word. */
static const char fragment[] =
    "\t\t<Page WIDTH=\"100\" HEIGHT=\"50\" PHYSICAL_IMG_NR=\"0\" "
    "ID=\"page_0\">\n"
    "\t\t\t<PrintSpace HPOS=\"0\" VPOS=\"0\" WIDTH=\"100\" HEIGHT=\"50\">\n"
    "\t\t\t\t<TextBlock ID=\"block_0\" HPOS=\"1\" VPOS=\"1\" WIDTH=\"9\" "
    "HEIGHT=\"9\">\n"
    "\t\t\t\t\t<TextLine ID=\"line_0\" HPOS=\"1\" VPOS=\"1\" WIDTH=\"9\" "
    "HEIGHT=\"9\">\n"
    "\t\t\t\t\t\t<String ID=\"string_0\" HPOS=\"1\" VPOS=\"1\" WIDTH=\"9\" "
    "HEIGHT=\"9\" WC=\"0.96\" CONTENT=\"Tom &amp; Jerry\"/>\n"
    "\t\t\t\t\t</TextLine>\n\t\t\t\t</TextBlock>\n"
    "\t\t\t</PrintSpace>\n\t\t</Page>\n";

static void pages_are_merged(void **state)
{
    const char *dir = *state;
    char pdf1[600], pdf3[600], alto[600], why[256] = "", *xml = NULL;
    char sha[PM_SHA256_HEX];
    pm_page_result_t pages[3];
    int written = 0;

    memset(pages, 0, sizeof(pages));
    snprintf(pdf1, sizeof(pdf1), "%s/p00001.pdf", dir);
    snprintf(pdf3, sizeof(pdf3), "%s/p00003-r7.pdf", dir);
    snprintf(alto, sizeof(alto), "%s/p00001.alto.xml", dir);
    assert_int_equal(pm_write_file_atomic(alto, fragment, strlen(fragment)), 0);
    snprintf(alto, sizeof(alto), "%s/p00003-r7.alto.xml", dir);
    assert_int_equal(pm_write_file_atomic(alto, fragment, strlen(fragment)), 0);
    for (int i = 0; i < 3; i++)
        pages[i].page = i + 1;
    pages[0].text_pdf = pdf1;
    pages[2].text_pdf = pdf3; /* page 2: blank, no text */
    snprintf(alto, sizeof(alto), "%s/job.alto.xml", dir);
    assert_int_equal(
        pm_alto_write(pages, 3, alto, &written, sha, why, sizeof(why)), 0);
    assert_true(written);
    assert_digest_of(alto, sha);
    xml = t_slurp(alto);
    assert_non_null(xml);
    assert_non_null(strstr(xml, "ns-v4#"));
    assert_non_null(strstr(xml, "PHYSICAL_IMG_NR=\"1\" ID=\"p1_page_0\""));
    assert_non_null(strstr(xml, "<Page ID=\"p2\" PHYSICAL_IMG_NR=\"2\"/>"));
    assert_non_null(strstr(xml, "PHYSICAL_IMG_NR=\"3\" ID=\"p3_page_0\""));
    assert_non_null(strstr(xml, "<String ID=\"p1_string_0\""));
    assert_non_null(strstr(xml, "<String ID=\"p3_string_0\""));
    assert_null(strstr(xml, "ID=\"string_0\""));
    assert_true(strstr(xml, "</alto>\n") != NULL);
    assert_int_equal(t_run(NULL, "xmllint --noout '%s'", alto), 0);
    assert_int_equal(t_run(NULL, "test -z \"$(ls -a '%s' | grep tmp)\"", dir),
                     0); /* no temp file left */
    pm_free(xml);
}

static void nothing_read_is_no_document(void **state)
{
    const char *dir = *state;
    pm_page_result_t pages[2];
    char why[256] = "", path[600], sha[PM_SHA256_HEX] = "x";
    int written = 1;

    memset(pages, 0, sizeof(pages));
    pages[0].page = 1;
    pages[1].page = 2;
    snprintf(path, sizeof(path), "%s/none.alto.xml", dir);
    assert_int_equal(
        pm_alto_write(pages, 2, path, &written, sha, why, sizeof(why)), 0);
    assert_false(written);
    assert_string_equal(sha, "");
    assert_false(t_exists(path));
}

static long max_rss_kib(void)
{
    struct rusage ru;

    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss;
}

/* 2,000 pages of 64 KiB of ALTO each (125 MiB of document): the peak
 * grows by little more than a page, not by the document. */
static void big_job_is_merged_a_page_at_a_time(void **state)
{
    enum { PAGES = 2000, WORDS = 64 * 1024 / 160 };
    const char *dir = *state;
    pm_page_result_t *pages = calloc(PAGES, sizeof(*pages));
    char pdf[600], path[600], why[256] = "", sha[PM_SHA256_HEX];
    pm_buf_t b = {0};
    long before, grew;
    int written = 0;
    struct stat st;

    assert_non_null(pages);
    pm_buf_puts(&b, "\t\t<Page WIDTH=\"100\" HEIGHT=\"50\" "
                    "PHYSICAL_IMG_NR=\"0\" ID=\"page_0\">\n");
    for (int i = 0; i < WORDS; i++)
        pm_buf_printf(&b,
                      "\t\t\t<String ID=\"string_%d\" HPOS=\"1\" VPOS=\"1\" "
                      "WIDTH=\"9\" HEIGHT=\"9\" WC=\"0.96\" "
                      "CONTENT=\"w%d\"/>\n",
                      i, i);
    pm_buf_puts(&b, "\t\t</Page>\n");
    assert_false(b.oom);
    snprintf(pdf, sizeof(pdf), "%s/p.pdf", dir);
    snprintf(path, sizeof(path), "%s/p.alto.xml", dir);
    assert_int_equal(pm_write_file_atomic(path, b.s, b.len), 0);
    for (int i = 0; i < PAGES; i++) {
        pages[i].page = i + 1;
        pages[i].text_pdf = pdf; /* the same page's ALTO every time */
    }
    snprintf(path, sizeof(path), "%s/big.alto.xml", dir);
    before = max_rss_kib();
    assert_int_equal(
        pm_alto_write(pages, PAGES, path, &written, sha, why, sizeof(why)), 0);
    assert_true(written);
    assert_digest_of(path, sha);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > (off_t)PAGES * (off_t)b.len);
    grew = max_rss_kib() - before;
    print_message("ALTO of %d pages: %lld MiB written, peak grew %ld KiB\n",
                  PAGES, (long long)(st.st_size >> 20), grew);
    pm_buf_cleanup(&b);
    free(pages);
    /* The sanitizer's allocator keeps freed memory in quarantine: the
     * figure is printed, the bound holds only without it. */
    if (!T_UNDER_ASAN)
        assert_true(grew < 8 * 1024); /* < 8 MiB */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pages_are_merged, t_tmpdir_setup,
                                        t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(nothing_read_is_no_document,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(big_job_is_merged_a_page_at_a_time,
                                        t_tmpdir_setup, t_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
