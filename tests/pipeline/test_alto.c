/*
 * test_alto.c: the job's ALTO document merged from the pages' ALTO
 * elements (pipeline/alto.h) on real files: ids made unique per page, the
 * page numbers set, a page without text an empty Page, a job with no page
 * read no document, and the result well-formed (xmllint).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/testlib.h"
#include "pipeline/alto.h"
#include "pipeline/base/pm.h"

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
    pm_page_result_t pages[3];
    size_t len = 0;

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
    assert_int_equal(pm_alto_merge(pages, 3, &xml, &len, why, sizeof(why)), 0);
    assert_non_null(xml);
    assert_int_equal(len, strlen(xml));
    assert_non_null(strstr(xml, "ns-v4#"));
    assert_non_null(strstr(xml, "PHYSICAL_IMG_NR=\"1\" ID=\"p1_page_0\""));
    assert_non_null(strstr(xml, "<Page ID=\"p2\" PHYSICAL_IMG_NR=\"2\"/>"));
    assert_non_null(strstr(xml, "PHYSICAL_IMG_NR=\"3\" ID=\"p3_page_0\""));
    assert_non_null(strstr(xml, "<String ID=\"p1_string_0\""));
    assert_non_null(strstr(xml, "<String ID=\"p3_string_0\""));
    assert_null(strstr(xml, "ID=\"string_0\""));
    snprintf(alto, sizeof(alto), "%s/job.alto.xml", dir);
    assert_int_equal(pm_write_file_atomic(alto, xml, len), 0);
    assert_int_equal(t_run(NULL, "xmllint --noout '%s'", alto), 0);
    pm_free(xml);
}

static void nothing_read_is_no_document(void **state)
{
    pm_page_result_t pages[2];
    char why[256] = "", *xml = (char *)"x";
    size_t len = 1;

    (void)state;
    memset(pages, 0, sizeof(pages));
    pages[0].page = 1;
    pages[1].page = 2;
    assert_int_equal(pm_alto_merge(pages, 2, &xml, &len, why, sizeof(why)), 0);
    assert_null(xml);
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pages_are_merged, t_tmpdir_setup,
                                        t_tmpdir_teardown),
        cmocka_unit_test(nothing_read_is_no_document),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
