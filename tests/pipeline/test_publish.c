/*
 * test_publish.c: the file side of publishing (pipeline/publish.h) on
 * real files in a temp folder: a PDF's SHA-256 and page count, the
 * identity a job folder's report carries, and the rename that never
 * replaces a folder, not even an empty one (which rename(2) would).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "pipeline/publish.h"
#include "pipeline/report.h"

/* Writes a PDF of `pages` empty pages to `path`, its cross-reference
 * table exact. */
static void write_pdf(const char *path, int pages)
{
    char *buf = malloc(16384), kids[2048] = "";
    long off[64];
    size_t n = 0;
    int obj = 0;

    assert_non_null(buf);
    assert_true(pages >= 1 && pages < 60);
    for (int i = 0; i < pages; i++)
        snprintf(kids + strlen(kids), sizeof(kids) - strlen(kids), "%d 0 R ",
                 3 + i);
    n += (size_t)sprintf(buf + n, "%%PDF-1.7\n");
    off[++obj] = (long)n;
    n += (size_t)sprintf(buf + n,
                         "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n");
    off[++obj] = (long)n;
    n += (size_t)sprintf(buf + n,
                         "2 0 obj << /Type /Pages /Kids [%s] /Count %d >> "
                         "endobj\n",
                         kids, pages);
    for (int i = 0; i < pages; i++) {
        off[++obj] = (long)n;
        n += (size_t)sprintf(buf + n,
                             "%d 0 obj << /Type /Page /Parent 2 0 R "
                             "/MediaBox [0 0 612 792] >> endobj\n",
                             obj);
    }
    long xref = (long)n;
    n += (size_t)sprintf(buf + n, "xref\n0 %d\n0000000000 65535 f \n", obj + 1);
    for (int i = 1; i <= obj; i++)
        n += (size_t)sprintf(buf + n, "%010ld 00000 n \n", off[i]);
    n += (size_t)sprintf(buf + n,
                         "trailer << /Size %d /Root 1 0 R >>\nstartxref\n%ld\n"
                         "%%%%EOF\n",
                         obj + 1, xref);
    assert_int_equal(pm_write_file_atomic(path, buf, n), 0);
    free(buf);
}

static void pdf_is_hashed_and_counted(void **state)
{
    const char *dir = *state;
    char pdf[512], bad[512], why[512], sha[PM_SHA256_HEX_SIZE], *want = NULL;
    int pages = 0;

    snprintf(pdf, sizeof(pdf), "%s/doc.pdf", dir);
    write_pdf(pdf, 3);
    assert_int_equal(pm_pdf_inspect(pdf, sha, &pages, why, sizeof(why)), 0);
    assert_int_equal(pages, 3);
    assert_int_equal(t_run(&want, "sha256sum '%s' | cut -c1-64", pdf), 0);
    want[64] = '\0';
    assert_string_equal(sha, want);
    free(want);

    snprintf(bad, sizeof(bad), "%s/not.pdf", dir);
    assert_int_equal(pm_write_file_atomic(bad, "not a pdf", 9), 0);
    assert_int_equal(pm_pdf_inspect(bad, sha, &pages, why, sizeof(why)),
                     PM_EPDF);
    assert_non_null(strstr(why, bad));
    snprintf(bad, sizeof(bad), "%s/missing.pdf", dir);
    assert_int_equal(pm_pdf_inspect(bad, sha, &pages, why, sizeof(why)),
                     -ENOENT);
    assert_non_null(strstr(why, bad));
}

static void report_carries_the_identity(void **state)
{
    const char *dir = *state;
    pm_doc_ident_t id, back;
    char path[512];
    json_t *doc;

    memset(&id, 0, sizeof(id));
    memset(id.job_uid, 'a', sizeof(id.job_uid) - 1);
    memset(id.catalog_id, 'b', sizeof(id.catalog_id) - 1);
    memset(id.pdf_sha256, 'c', sizeof(id.pdf_sha256) - 1);
    id.pdf_pages = 7;
    snprintf(path, sizeof(path), "%s/job-1.pages.json", dir);
    doc = json_pack("{s:i}", "job", 1);
    assert_int_equal(pm_doc_ident_add(doc, &id), 0);
    assert_int_equal(pm_report_write(path, doc), 0);
    assert_int_equal(pm_doc_ident_read(path, &back), 0);
    assert_memory_equal(&id, &back, sizeof(id));

    /* A report from before identities, and none at all. */
    assert_int_equal(pm_report_write(path, json_pack("{s:i}", "job", 1)), 0);
    assert_int_equal(pm_doc_ident_read(path, &back), PM_EINVAL);
    snprintf(path, sizeof(path), "%s/none.pages.json", dir);
    assert_int_equal(pm_doc_ident_read(path, &back), -ENOENT);
}

/* A folder with one file `name` in it. */
static void folder_with(const char *dir, const char *name)
{
    char path[600];

    assert_int_equal(pm_mkdir_p(dir), 0);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(pm_write_file_atomic(path, name, strlen(name)), 0);
}

static void rename_never_replaces(void **state)
{
    const char *dir = *state;
    char tmp[512], final[512], path[600];

    snprintf(tmp, sizeof(tmp), "%s/.job-1.tmp", dir);
    snprintf(final, sizeof(final), "%s/job-1", dir);
    folder_with(tmp, "new");
    assert_int_equal(pm_publish_rename(tmp, final), 0);
    assert_false(t_exists(tmp));

    /* final holds another document: nothing changes. */
    folder_with(tmp, "newer");
    assert_int_equal(pm_publish_rename(tmp, final), -EEXIST);
    snprintf(path, sizeof(path), "%s/new", final);
    assert_true(t_exists(path));
    snprintf(path, sizeof(path), "%s/newer", tmp);
    assert_true(t_exists(path));

    /* Not even an empty folder is replaced. */
    assert_int_equal(pm_rmtree(final), 0);
    assert_int_equal(mkdir(final, 0755), 0);
    assert_int_equal(pm_publish_rename(tmp, final), -EEXIST);
    assert_int_equal(t_count_entries(final), 0);
    assert_true(t_exists(path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pdf_is_hashed_and_counted,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(report_carries_the_identity,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(rename_never_replaces, t_tmpdir_setup,
                                        t_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
