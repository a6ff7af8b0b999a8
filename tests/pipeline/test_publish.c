/*
 * test_publish.c: the file side of publishing (pipeline/publish.h) on
 * real files in a temp folder: a PDF's SHA-256 and page count, the
 * identity a job folder's report carries, and the rename that never
 * replaces a folder, not even an empty one (which rename(2) would), and
 * the exact names of the page spools the sweep at start removes.
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
    char pdf[512], bad[512], why[512], sha[PM_SHA256_HEX], *want = NULL;
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

/* A bag is published only when it holds exactly what it lists: a temp
 * file a killed writer left in data/ makes the publish fail, naming it. */
static void stray_file_in_the_folder_is_refused(void **state)
{
    const char *dir = *state;
    char path[600], why[1024] = "", sha[PM_SHA256_HEX];
    json_t *events = json_array();
    pm_job_outputs_t o = {.dir = dir,
                          .pdf_sha256 = sha,
                          .events = events,
                          .info = {.organization = "o",
                                   .account = "A",
                                   .work_order = "W",
                                   .job = 1,
                                   .pages = 1}};
    int pages = 0;

    snprintf(path, sizeof(path), "%s/data", dir);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/data/job-1.pdf", dir);
    write_pdf(path, 1);
    assert_int_equal(pm_pdf_inspect(path, sha, &pages, why, sizeof(why)), 0);
    snprintf(path, sizeof(path), "%s/data/job-1.txt", dir);
    assert_int_equal(pm_write_file_atomic(path, "text", 4), 0);
    o.report = json_pack("{s:i}", "job", 1);
    assert_int_equal(pm_publish_outputs(&o, why, sizeof(why)), 0);

    snprintf(path, sizeof(path), "%s/data/.job-1.pdf.0123456789ab.tmp", dir);
    assert_int_equal(pm_write_file_atomic(path, "", 0), 0);
    o.report = json_pack("{s:i}", "job", 1);
    assert_int_equal(pm_publish_outputs(&o, why, sizeof(why)), PM_EINVAL);
    assert_non_null(strstr(why, path));
    assert_non_null(strstr(why, "stray payload file"));
    json_decref(events);
}

/* A folder with one file `name` in it. */
static void folder_with(const char *dir, const char *name)
{
    char path[600];

    assert_int_equal(pm_mkdir_p(dir), 0);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(pm_write_file_atomic(path, name, strlen(name)), 0);
}

/* A swap: the new folder in place, the old one aside; when the old one
 * cannot go aside after the exchange, the two are exchanged back, so a
 * caller that removes tmp (its own new outputs) never removes the old
 * published folder. */
static void swap_puts_the_old_aside_or_back(void **state)
{
    const char *dir = *state;
    char tmp[512], final[512], aside[512], path[600];

    snprintf(tmp, sizeof(tmp), "%s/job-1.replace.tmp", dir);
    snprintf(final, sizeof(final), "%s/job-1", dir);
    snprintf(aside, sizeof(aside), "%s/.replaced/job-1-a", dir);
    folder_with(final, "old");
    folder_with(tmp, "new");
    snprintf(path, sizeof(path), "%s/.replaced", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(pm_publish_swap(tmp, final, aside), 0);
    snprintf(path, sizeof(path), "%s/new", final);
    assert_true(t_exists(path));
    snprintf(path, sizeof(path), "%s/old", aside);
    assert_true(t_exists(path));
    assert_false(t_exists(tmp));

    /* The aside's folder is gone: the old (now "new") one stays published
     * and the newer one is back in tmp. */
    folder_with(tmp, "newer");
    snprintf(aside, sizeof(aside), "%s/no-such-folder/job-1-b", dir);
    assert_int_equal(pm_publish_swap(tmp, final, aside), -ENOENT);
    snprintf(path, sizeof(path), "%s/new", final);
    assert_true(t_exists(path));
    snprintf(path, sizeof(path), "%s/newer", tmp);
    assert_true(t_exists(path));
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

/* Only a page spool's exact name is taken for one: the sweep at start
 * removes what this names, and nothing else. */
static void spool_names_are_exact(void **state)
{
    (void)state;
    assert_int_equal(pm_publish_spool_job(".job-7.pages.jsonl"), 7);
    assert_int_equal(pm_publish_spool_job(".job-1234567.pages.jsonl"), 1234567);
    assert_int_equal(pm_publish_spool_job("job-8.replace.pages.jsonl"), 8);
    assert_int_equal(pm_publish_spool_job("job-7.pages.jsonl"), 0);
    assert_int_equal(pm_publish_spool_job(".job-8.replace.pages.jsonl"), 0);
    assert_int_equal(pm_publish_spool_job(".job-07.pages.jsonl"), 0);
    assert_int_equal(pm_publish_spool_job(".job-0.pages.jsonl"), 0);
    assert_int_equal(pm_publish_spool_job(".job-.pages.jsonl"), 0);
    assert_int_equal(pm_publish_spool_job(".job-7.pages.jsonl.bak"), 0);
    assert_int_equal(pm_publish_spool_job(".job-7.tmp"), 0);
    assert_int_equal(pm_publish_spool_job(".job-7x.pages.jsonl"), 0);
    assert_int_equal(pm_publish_spool_job(".job--7.pages.jsonl"), 0);
    assert_int_equal(
        pm_publish_spool_job(".job-99999999999999999999.pages.jsonl"), 0);
    assert_int_equal(pm_publish_spool_job(""), 0);
    assert_int_equal(pm_publish_spool_job("."), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pdf_is_hashed_and_counted,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(report_carries_the_identity,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(stray_file_in_the_folder_is_refused,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(swap_puts_the_old_aside_or_back,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test(spool_names_are_exact),
        cmocka_unit_test_setup_teardown(rename_never_replaces, t_tmpdir_setup,
                                        t_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
