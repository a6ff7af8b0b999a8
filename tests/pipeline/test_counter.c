/*
 * test_counter.c: intake's frame counter in a child process
 * (pipeline/counter.h) with the real `pagemill count-frames`: it counts
 * the descriptors it is given (not whatever their names now are), names
 * files it cannot read, and a child that crashes (the test hook
 * PAGEMILL_TEST_COUNT_ABORT_MATCH), hangs, talks nonsense or cannot start
 * is reported with the file it was on, never taken for a count.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "pipeline/counter.h"

#define LIBTIFF "libtiff-testimages/test/images/"
#define TESTING "tesseract-test/testing/"
#define RES     "ocrmypdf/tests/resources/"

static int open_ro(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    return fd;
}

/* A shell script `body` as an executable in the temp dir. */
static char *script(const char *name, const char *body)
{
    char *path = pm_asprintf("%s/%s", t_tmpdir(), name);
    char *text = pm_asprintf("#!/bin/sh\n%s\n", body);

    assert_non_null(path);
    assert_non_null(text);
    assert_int_equal(pm_write_file_atomic(path, text, strlen(text)), 0);
    assert_int_equal(chmod(path, 0700), 0);
    pm_free(text);
    return path;
}

static void counts_the_descriptors_given(void **state)
{
    pm_counter_opts_t o = {PM_BINARY, 1024, 60000, 0};
    char text[300];
    const char *names[3];
    pm_frame_count_t r[3];
    int fds[3];
    char *why = NULL;
    size_t done = 0;

    (void)state;
    t_require_data();
    snprintf(text, sizeof(text), "%s/notes.txt", t_tmpdir());
    assert_int_equal(pm_write_file_atomic(text, "hello, world\n", 13), 0);
    fds[0] = open_ro(t_data(LIBTIFF "test_two_ifds.tif"));
    fds[1] = open_ro(t_data(TESTING "phototest.tif"));
    fds[2] = open_ro(text);
    /* Names for messages only: nothing by these names exists. */
    names[0] = "/nowhere/a.tif";
    names[1] = "/nowhere/b.tif";
    names[2] = "/nowhere/c.tif";
    assert_int_equal(pm_count_frames_child(&o, fds, names, 3, r, &done, &why),
                     0);
    assert_int_equal(done, 3);
    assert_null(why);
    assert_int_equal(r[0].err, 0);
    assert_int_equal(r[0].frames, 2);
    assert_int_equal(r[1].err, 0);
    assert_int_equal(r[1].frames, 1);
    assert_int_equal(r[2].err, PM_EUNSUPP);
    assert_non_null(strstr(r[2].msg, "/nowhere/c.tif: not a supported image"));
    pm_frame_counts_cleanup(r, done);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
}

/* PDF pages are counted; a PDF with text is refused only when asked, an
 * encrypted one always. */
static void counts_pdf_pages(void **state)
{
    pm_counter_opts_t o = {PM_BINARY, 1024, 60000, 0};
    const char *names[3] = {"/b/scan.pdf", "/b/text.pdf", "/b/locked.pdf"};
    char locked[400];
    pm_frame_count_t r[3];
    int fds[3];
    char *why = NULL;
    size_t done = 0;

    (void)state;
    t_require_data();
    snprintf(locked, sizeof(locked), "%s/locked.pdf", t_tmpdir());
    assert_int_equal(t_run(NULL, "qpdf --encrypt u o 256 -- '%s' '%s'",
                           t_data(RES "ccitt.pdf"), locked),
                     0);
    for (int refuse = 0; refuse <= 1; refuse++) {
        o.refuse_pdf_text = refuse;
        fds[0] = open_ro(t_data(RES "cardinal.pdf"));
        fds[1] = open_ro(t_data(RES "tagged.pdf"));
        fds[2] = open_ro(locked);
        assert_int_equal(
            pm_count_frames_child(&o, fds, names, 3, r, &done, &why), 0);
        assert_int_equal(done, 3);
        assert_int_equal(r[0].err, 0);
        assert_int_equal(r[0].frames, 4);
        if (refuse) {
            assert_int_equal(r[1].err, PM_EUNSUPP);
            assert_non_null(strstr(r[1].msg, "/b/text.pdf: already has a "
                                             "text layer"));
        } else {
            assert_int_equal(r[1].err, 0);
            assert_int_equal(r[1].frames, 2);
        }
        assert_int_equal(r[2].err, PM_EUNSUPP);
        assert_non_null(strstr(r[2].msg, "/b/locked.pdf: encrypted PDF"));
        pm_frame_counts_cleanup(r, done);
        for (int i = 0; i < 3; i++)
            close(fds[i]);
    }
    t_tmpdir_cleanup();
}

static void a_crash_names_the_file(void **state)
{
    pm_counter_opts_t o = {PM_BINARY, 0, 60000, 0};
    const char *names[3] = {"/b/first.tif", "/b/second.tif", "/b/third.tif"};
    pm_frame_count_t r[3];
    int fds[3];
    char *why = NULL;
    size_t done = 0;

    (void)state;
    t_require_data();
    for (int i = 0; i < 3; i++)
        fds[i] = open_ro(t_data(TESTING "phototest.tif"));
    assert_int_equal(setenv("PAGEMILL_TEST_COUNT_ABORT_MATCH", "second", 1), 0);
    assert_int_equal(pm_count_frames_child(&o, fds, names, 3, r, &done, &why),
                     PM_EWORKER);
    unsetenv("PAGEMILL_TEST_COUNT_ABORT_MATCH");
    assert_int_equal(done, 1); /* the first answered, then the crash */
    assert_int_equal(r[0].frames, 1);
    assert_non_null(why);
    if (strstr(why, "crashed (signal 6") == NULL)
        fail_msg("why: %s", why);
    pm_free(why);
    pm_frame_counts_cleanup(r, done);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
}

static void a_hang_is_killed_and_nonsense_refused(void **state)
{
    pm_counter_opts_t o = {NULL, 0, 1000, 0};
    const char *names[2] = {"/b/one.tif", "/b/two.tif"};
    pm_frame_count_t r[2];
    int fds[2] = {open_ro("/dev/null"), open_ro("/dev/null")};
    char *exe, *why = NULL;
    size_t done = 0;

    (void)state;
    exe = script("hangs", "echo 'ok 3'; exec sleep 120");
    o.exe = exe;
    assert_int_equal(pm_count_frames_child(&o, fds, names, 2, r, &done, &why),
                     PM_EWORKER);
    assert_int_equal(done, 1);
    assert_int_equal(r[0].frames, 3);
    if (strstr(why, "timed out (killed after 1 s)") == NULL)
        fail_msg("why: %s", why);
    pm_free(why);
    pm_frame_counts_cleanup(r, done);
    pm_free(exe);

    exe = script("talks", "echo 'seven pages, trust me'");
    o.exe = exe;
    o.timeout_ms = 60000;
    assert_int_equal(pm_count_frames_child(&o, fds, names, 2, r, &done, &why),
                     PM_EWORKER);
    assert_int_equal(done, 0);
    if (strstr(why, "broke its protocol") == NULL)
        fail_msg("why: %s", why);
    pm_free(why);
    pm_free(exe);

    exe = script("quits", "echo 'ok 1'; exit 3");
    o.exe = exe;
    assert_int_equal(pm_count_frames_child(&o, fds, names, 2, r, &done, &why),
                     PM_EWORKER);
    assert_int_equal(done, 1);
    if (strstr(why, "exit status 3") == NULL)
        fail_msg("why: %s", why);
    pm_free(why);
    pm_frame_counts_cleanup(r, done);
    pm_free(exe);

    o.exe = "/nonexistent/pagemill";
    assert_true(pm_count_frames_child(&o, fds, names, 2, r, &done, &why) < 0);
    assert_non_null(strstr(why, "cannot start /nonexistent/pagemill"));
    pm_free(why);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_the_descriptors_given),
        cmocka_unit_test(counts_pdf_pages),
        cmocka_unit_test(a_crash_names_the_file),
        cmocka_unit_test(a_hang_is_killed_and_nonsense_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    t_tmpdir_cleanup();
    return rc;
}
