/*
 * test_bag.c: the BagIt writer and verifier (pipeline/bag.h) on real
 * files in a temp folder: a bag written from buffers, files in place and
 * a digest the caller has is valid; names with a line break or a percent
 * sign survive the manifest's encoding; a flipped byte, a missing file,
 * a stray file, a wrong digest given to the writer, a damaged tag file
 * and a malformed manifest line are each found, naming the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/testlib.h"
#include "pipeline/bag.h"
#include "pipeline/base/pm.h"

/* The faults a verify reported, joined by newlines. */
typedef struct seen {
    char text[8192];
    int n;
} seen_t;

static void on_fault(void *arg, const char *problem)
{
    seen_t *s = arg;
    size_t len = strlen(s->text);

    snprintf(s->text + len, sizeof(s->text) - len, "%s\n", problem);
    s->n++;
}

static int verify(const char *dir, seen_t *s)
{
    memset(s, 0, sizeof(*s));
    return pm_bag_verify(dir, on_fault, s);
}

static const char pdf_text[] = "%PDF-1.7 not really\n";
/* sha256sum of pdf_text */
static char pdf_sha[PM_SHA256_HEX];

static void sha_of(const char *path, char out[PM_SHA256_HEX])
{
    char *sum = NULL;

    assert_int_equal(t_run(&sum, "sha256sum '%s' | cut -c1-64", path), 0);
    assert_true(strlen(sum) >= 64);
    memcpy(out, sum, 64);
    out[64] = '\0';
    free(sum);
}

/* A bag in dir/bag: data/job-1.pdf (digest given), data/sub/notes%
 * and\nmore.txt (hashed from its file), data/job-1.pages.json and
 * metadata/events.json (written). */
static const char *make_bag(const char *root)
{
    static char dir[512];
    char path[700];
    pm_bag_t b;
    pm_bag_info_t info = {.organization = "City Records Centre",
                          .account = "ACME",
                          .work_order = "WO-1",
                          .job = 1,
                          .pages = 2,
                          .billable_pages = 1,
                          .version = "test"};
    char why[512] = "";

    snprintf(dir, sizeof(dir), "%s/bag", root);
    assert_int_equal(pm_mkdir_p(dir), 0);
    assert_int_equal(pm_bag_open(&b, dir), 0);
    snprintf(path, sizeof(path), "%s/data/job-1.pdf", dir);
    assert_int_equal(pm_write_file_atomic(path, pdf_text, strlen(pdf_text)), 0);
    sha_of(path, pdf_sha);
    assert_int_equal(pm_bag_add_known(&b, "data/job-1.pdf", pdf_sha), 0);
    snprintf(path, sizeof(path), "%s/data/sub", dir);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/data/sub/notes%% and\nmore.txt", dir);
    assert_int_equal(pm_write_file_atomic(path, "words\n", 6), 0);
    assert_int_equal(pm_bag_add_file(&b, "data/sub/notes% and\nmore.txt"), 0);
    assert_int_equal(pm_bag_write(&b, "data/job-1.pages.json", "{}\n", 3), 0);
    assert_int_equal(pm_bag_write(&b, "metadata/events.json", "[]\n", 3), 0);
    assert_int_equal(pm_bag_finish(&b, &info, why, sizeof(why)), 0);
    pm_bag_cleanup(&b);
    return dir;
}

static void written_bag_is_valid(void **state)
{
    const char *dir = make_bag(*state);
    char path[700], *info;
    pm_bag_entry_t *v = NULL;
    size_t n = 0;
    char why[512];
    seen_t s;
    long long bytes = (long long)strlen(pdf_text) + 6 + 3;

    assert_int_equal(verify(dir, &s), 0);
    snprintf(path, sizeof(path), "%s/bag-info.txt", dir);
    info = t_slurp(path);
    assert_non_null(info);
    snprintf(path, sizeof(path), "Payload-Oxum: %lld.3\n", bytes);
    assert_non_null(strstr(info, path));
    assert_non_null(strstr(info, "Source-Organization: City Records Centre\n"));
    assert_non_null(strstr(info, "Pagemill-Billable-Page-Count: 1\n"));
    free(info);

    snprintf(path, sizeof(path), "%s/manifest-sha256.txt", dir);
    assert_int_equal(pm_bag_manifest_read(path, &v, &n, why, sizeof(why)), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].path, "data/job-1.pdf");
    assert_string_equal(v[0].sha256, pdf_sha);
    assert_string_equal(v[1].path, "data/sub/notes% and\nmore.txt");
    pm_bag_entries_free(v, n);
    info = t_slurp(path);
    assert_non_null(strstr(info, "data/sub/notes%25 and%0Amore.txt\n"));
    free(info);

    snprintf(path, sizeof(path), "%s/tagmanifest-sha256.txt", dir);
    assert_int_equal(pm_bag_manifest_read(path, &v, &n, why, sizeof(why)), 0);
    assert_int_equal(n, 4); /* events.json, bagit, bag-info, manifest */
    pm_bag_entries_free(v, n);
}

static void flipped_byte_is_named(void **state)
{
    const char *dir = make_bag(*state);
    char path[700];
    seen_t s;

    snprintf(path, sizeof(path), "%s/data/job-1.pdf", dir);
    assert_int_equal(pm_write_file_atomic(path, "%PDF-1.7 not really\r", 20),
                     0);
    assert_int_equal(verify(dir, &s), 1);
    assert_non_null(strstr(s.text, path));
    assert_non_null(strstr(s.text, pdf_sha));
}

static void missing_and_stray_are_named(void **state)
{
    const char *dir = make_bag(*state);
    char gone[700], stray[700];
    seen_t s;

    snprintf(gone, sizeof(gone), "%s/data/job-1.pages.json", dir);
    assert_int_equal(unlink(gone), 0);
    snprintf(stray, sizeof(stray), "%s/data/sub/extra.txt", dir);
    assert_int_equal(pm_write_file_atomic(stray, "!", 1), 0);
    /* missing, stray, and the Oxum's count is the same but not the bytes */
    assert_int_equal(verify(dir, &s), 3);
    assert_non_null(strstr(s.text, gone));
    assert_non_null(strstr(s.text, "missing"));
    assert_non_null(strstr(s.text, stray));
    assert_non_null(strstr(s.text, "stray payload file"));
    assert_non_null(strstr(s.text, "Payload-Oxum"));
}

static void wrong_known_digest_is_found(void **state)
{
    char dir[512], path[700], why[512];
    pm_bag_t b;
    pm_bag_info_t info = {.organization = "o",
                          .account = "A",
                          .work_order = "W",
                          .job = 2,
                          .version = "t"};
    seen_t s;

    snprintf(dir, sizeof(dir), "%s/liar", (const char *)*state);
    assert_int_equal(pm_mkdir_p(dir), 0);
    assert_int_equal(pm_bag_open(&b, dir), 0);
    snprintf(path, sizeof(path), "%s/data/x.pdf", dir);
    assert_int_equal(pm_write_file_atomic(path, "x", 1), 0);
    assert_int_equal(
        pm_bag_add_known(&b, "data/x.pdf",
                         "0000000000000000000000000000000000000000000000000000"
                         "000000000000"),
        0);
    assert_int_equal(pm_bag_finish(&b, &info, why, sizeof(why)), 0);
    pm_bag_cleanup(&b);
    assert_int_equal(verify(dir, &s), 1);
    assert_non_null(strstr(s.text, path));
}

static void damaged_tags_are_named(void **state)
{
    const char *dir = make_bag(*state);
    char path[700];
    seen_t s;

    snprintf(path, sizeof(path), "%s/metadata/events.json", dir);
    assert_int_equal(pm_write_file_atomic(path, "{}\n", 3), 0);
    assert_int_equal(verify(dir, &s), 1);
    assert_non_null(strstr(s.text, path));

    snprintf(path, sizeof(path), "%s/bagit.txt", dir);
    assert_int_equal(unlink(path), 0);
    assert_true(verify(dir, &s) >= 2);
    assert_non_null(strstr(s.text, path));
}

static void malformed_manifest_is_refused(void **state)
{
    const char *dir = make_bag(*state);
    char path[700], why[512];
    pm_bag_entry_t *v = NULL;
    size_t n = 0;
    seen_t s;

    snprintf(path, sizeof(path), "%s/manifest-sha256.txt", dir);
    assert_int_equal(pm_write_file_atomic(path, "abc data/job-1.pdf\n", 19), 0);
    assert_int_equal(pm_bag_manifest_read(path, &v, &n, why, sizeof(why)),
                     PM_EINVAL);
    assert_non_null(strstr(why, path));
    assert_non_null(strstr(why, "line 1"));
    assert_null(v);
    /* the manifest fault, and every payload file is then stray */
    assert_true(verify(dir, &s) >= 4);
    assert_non_null(strstr(s.text, path));
}

static void not_a_bag(void **state)
{
    char dir[512];
    seen_t s;

    snprintf(dir, sizeof(dir), "%s/empty", (const char *)*state);
    assert_int_equal(pm_mkdir_p(dir), 0);
    assert_true(verify(dir, &s) >= 3); /* bagit.txt, manifest, data/ */
    assert_non_null(strstr(s.text, "bagit.txt"));
    assert_non_null(strstr(s.text, "manifest-sha256.txt"));
}

/* A file hashed as it is written: the digest of what went out (SHA-256
 * of "abc" in two writes); a write that fails gives an error and no
 * digest, and the writes after it do nothing. */
static void hashed_file_digests_what_was_written(void **state)
{
    const char *dir = *state;
    char path[600], hex[PM_SHA256_HEX] = "x", *text;
    pm_hashed_file_t h;
    int fd;

    snprintf(path, sizeof(path), "%s/abc", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(pm_hashed_open(&h, fd), 0);
    assert_int_equal(pm_hashed_put(&h, "a", 1), 0);
    assert_int_equal(pm_hashed_put(&h, "bc", 2), 0);
    assert_int_equal(pm_hashed_close(&h, hex), 0);
    close(fd);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
    text = t_slurp(path);
    assert_string_equal(text, "abc");
    pm_free(text);

    fd = open(path, O_RDONLY); /* writes fail: EBADF */
    assert_true(fd >= 0);
    assert_int_equal(pm_hashed_open(&h, fd), 0);
    assert_int_equal(pm_hashed_put(&h, "a", 1), -EBADF);
    assert_int_equal(pm_hashed_put(&h, "b", 1), -EBADF);
    assert_int_equal(pm_hashed_close(&h, hex), -EBADF);
    close(fd);
    assert_string_equal(hex, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(written_bag_is_valid, t_tmpdir_setup,
                                        t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(flipped_byte_is_named, t_tmpdir_setup,
                                        t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(missing_and_stray_are_named,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(wrong_known_digest_is_found,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(damaged_tags_are_named, t_tmpdir_setup,
                                        t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(malformed_manifest_is_refused,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(not_a_bag, t_tmpdir_setup,
                                        t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(hashed_file_digests_what_was_written,
                                        t_tmpdir_setup, t_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
