/*
 * test_pm.c: the base module (pipeline/base/pm.h): natural order of page file
 * names, path stems, durable writes that leave nothing behind when they
 * fail, mkdir -p, and the allocation failure hook every other OOM test
 * relies on.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/testlib.h"
#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

/* ---- natural order ---- */

static void natural_cmp_orders_numbers_by_value(void **state)
{
    /* Each strictly before the next. */
    static const char *const sorted[] = {"",
                                         "1",
                                         "2",
                                         "10",
                                         "p",
                                         "p1.tif",
                                         "p2.tif",
                                         "p9.tif",
                                         "p10.tif",
                                         "p11.tif",
                                         "p100.tif",
                                         "page",
                                         "page2",
                                         "page2a",
                                         "page2b",
                                         "page10",
                                         "scan-1-2",
                                         "scan-1-10",
                                         "scan-2-1",
                                         "scan-10",
                                         "z",
                                         "z18446744073709551616",
                                         "z99999999999999999999999"};
    size_t n = sizeof(sorted) / sizeof(sorted[0]);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pm_natural_cmp(sorted[i], sorted[i]), 0);
        for (size_t j = i + 1; j < n; j++) {
            if (pm_natural_cmp(sorted[i], sorted[j]) >= 0 ||
                pm_natural_cmp(sorted[j], sorted[i]) <= 0)
                fail_msg("expected '%s' < '%s'", sorted[i], sorted[j]);
        }
    }
    /* Plain characters compare as unsigned bytes, as strcmp does. */
    assert_true(pm_natural_cmp("a", "b") < 0);
    assert_true(pm_natural_cmp("B", "a") < 0);
    assert_true(pm_natural_cmp("\xc3\xa9", "z") > 0);
    assert_true(pm_natural_cmp("p9", "p9x") < 0);
}

static void natural_cmp_ignores_leading_zeros_in_value(void **state)
{
    (void)state;
    assert_true(pm_natural_cmp("p007", "p8") < 0);
    assert_true(pm_natural_cmp("p010", "p9") > 0);
    assert_true(pm_natural_cmp("p0", "p1") < 0);
    assert_true(pm_natural_cmp("p00", "p1") < 0);
}

/* Sorting a folder must give one order whatever the file system's: two
 * different names never compare equal. */
static void natural_cmp_is_a_total_order(void **state)
{
    static const char *const names[] = {"p2",  "p02", "p002", "a01b",
                                        "a1b", "x0",  "x00",  "x"};
    size_t n = sizeof(names) / sizeof(names[0]);

    (void)state;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            assert_int_equal(sign(pm_natural_cmp(names[i], names[j])),
                             -sign(pm_natural_cmp(names[j], names[i])));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (i != j && pm_natural_cmp(names[i], names[j]) == 0)
                fail_msg("'%s' and '%s' compare equal", names[i], names[j]);
}

/* ---- path stems ---- */

static void path_stem_strips_folder_and_last_extension(void **state)
{
    static const char *const cases[][2] = {
        {"a/b/scan.01.tif", "scan.01"},
        {"scan.tif", "scan"},
        {"scan", "scan"},
        {"/abs/p1.TIFF", "p1"},
        {"dir.d/file", "file"},
        {".hidden", ".hidden"},
        {"dir/.hidden", ".hidden"},
        {"a/b/", "b"},
        {"WO-2026-0001/", "WO-2026-0001"},
        {"trailing.", "trailing"},
        {"", ""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *stem = pm_path_stem(cases[i][0]);

        assert_non_null(stem);
        if (strcmp(stem, cases[i][1]) != 0)
            fail_msg("pm_path_stem(\"%s\") = \"%s\", expected \"%s\"",
                     cases[i][0], stem, cases[i][1]);
        pm_free(stem);
    }
}

static void path_stem_out_of_memory(void **state)
{
    (void)state;
    pm_alloc_fail_at(1);
    assert_null(pm_path_stem("a/b/scan.tif"));
    pm_alloc_fail_at(1);
    assert_null(pm_path_stem("a/b/"));
    pm_alloc_fail_at(0);
}

/* ---- allocation failure injection ---- */

static void alloc_fail_at_fails_exactly_the_nth(void **state)
{
    char *a, *b, *c;

    (void)state;
    pm_alloc_fail_at(1);
    assert_null(pm_strdup("x"));
    a = pm_strdup("x"); /* one-shot: the next one works */
    assert_non_null(a);
    pm_free(a);

    pm_alloc_fail_at(2);
    a = pm_strdup("first");
    b = pm_asprintf("%s-%d", "second", 2);
    c = pm_asprintf("%s-%d", "third", 3);
    pm_alloc_fail_at(0);
    assert_string_equal(a, "first");
    assert_null(b);
    assert_string_equal(c, "third-3");
    pm_free(a);
    pm_free(c);

    pm_alloc_fail_at(1);
    assert_null(pm_asprintf("%d", 42));
    pm_alloc_fail_at(1);
    assert_null(pm_malloc(16));
    pm_alloc_fail_at(1);
    assert_null(pm_calloc(4, 4));
    pm_alloc_fail_at(0);

    /* Off means off. */
    for (int i = 0; i < 100; i++) {
        a = pm_strdup("y");
        assert_non_null(a);
        pm_free(a);
    }
}

static void realloc_failure_keeps_the_block(void **state)
{
    char *p = pm_strdup("keep me"), *q;

    (void)state;
    assert_non_null(p);
    pm_alloc_fail_at(1);
    q = pm_realloc(p, 1000);
    pm_alloc_fail_at(0);
    assert_null(q);
    assert_string_equal(p, "keep me"); /* still ours, still intact */
    pm_free(p);
}

static void strdup_and_asprintf(void **state)
{
    char *s;

    (void)state;
    assert_null(pm_strdup(NULL));
    s = pm_strdup("");
    assert_string_equal(s, "");
    pm_free(s);
    s = pm_asprintf("%s/%05d.%s", "out", 42, "tif");
    assert_string_equal(s, "out/00042.tif");
    pm_free(s);
    s = pm_asprintf("%s", "");
    assert_string_equal(s, "");
    pm_free(s);
    pm_free(NULL);
}

/* ---- files ---- */

static void expect_content(const char *path, const char *want)
{
    char *got = t_slurp(path);

    assert_non_null(got);
    assert_string_equal(got, want);
    pm_free(got);
}

static void write_file_atomic_writes_and_replaces(void **state)
{
    const char *dir;
    char path[512];
    struct stat st;

    (void)state;
    dir = t_tmpdir();
    snprintf(path, sizeof(path), "%s/out.txt", dir);
    assert_int_equal(pm_write_file_atomic(path, "hello\n", 6), 0);
    expect_content(path, "hello\n");
    assert_int_equal(pm_write_file_atomic(path, "bye", 3), 0);
    expect_content(path, "bye");
    assert_int_equal(pm_write_file_atomic(path, "", 0), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(t_count_entries(dir), 1); /* no temp files */
    t_tmpdir_cleanup();
}

static void write_file_atomic_failures_leave_nothing(void **state)
{
    const char *dir;
    char path[512], sub[512];

    (void)state;
    dir = t_tmpdir();
    /* Into a folder that does not exist. */
    snprintf(path, sizeof(path), "%s/missing/out.txt", dir);
    assert_int_equal(pm_write_file_atomic(path, "x", 1), -ENOENT);
    assert_int_equal(t_count_entries(dir), 0);

    /* Over a non-empty folder: the temp file is written, the rename
     * fails, and the temp file must go. */
    snprintf(sub, sizeof(sub), "%s/folder", dir);
    assert_int_equal(mkdir(sub, 0777), 0);
    snprintf(path, sizeof(path), "%s/folder/keep", dir);
    assert_int_equal(pm_write_file_atomic(path, "k", 1), 0);
    assert_true(pm_write_file_atomic(sub, "x", 1) < 0);
    assert_int_equal(t_count_entries(dir), 1);
    assert_int_equal(t_count_entries(sub), 1);
    expect_content(path, "k");

    /* Out of memory before anything is written. */
    snprintf(path, sizeof(path), "%s/oom.txt", dir);
    pm_alloc_fail_at(1);
    assert_int_equal(pm_write_file_atomic(path, "x", 1), PM_ENOMEM);
    pm_alloc_fail_at(0);
    assert_int_equal(t_count_entries(dir), 1);
    t_tmpdir_cleanup();
}

/* "On failure `path` is untouched": for every allocation that can fail. */
static void write_file_atomic_out_of_memory_leaves_old_file(void **state)
{
    const char *dir;
    char path[512];
    int err = PM_ENOMEM;
    long n;

    (void)state;
    dir = t_tmpdir();
    snprintf(path, sizeof(path), "%s/out.txt", dir);
    assert_int_equal(pm_write_file_atomic(path, "old", 3), 0);
    for (n = 1; n < 20; n++) {
        pm_alloc_fail_at(n);
        err = pm_write_file_atomic(path, "new", 3);
        pm_alloc_fail_at(0);
        if (err == 0)
            break;
        assert_int_equal(err, PM_ENOMEM);
        expect_content(path, "old");
        assert_int_equal(t_count_entries(dir), 1);
    }
    assert_int_equal(err, 0);
    expect_content(path, "new");
    t_tmpdir_cleanup();
}

static void mkdir_p_creates_parents(void **state)
{
    const char *dir;
    char path[512], file[512];
    struct stat st;

    (void)state;
    dir = t_tmpdir();
    snprintf(path, sizeof(path), "%s/a/b/c/d", dir);
    assert_int_equal(pm_mkdir_p(path), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    /* Again: already there is fine; so is a trailing slash. */
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/a/b/e/", dir);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/a//b//f", dir);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/a/b/f", dir);
    assert_int_equal(stat(path, &st), 0);

    /* Through a regular file: a clean error. */
    snprintf(file, sizeof(file), "%s/plain", dir);
    assert_int_equal(pm_write_file_atomic(file, "x", 1), 0);
    snprintf(path, sizeof(path), "%s/plain/sub", dir);
    assert_int_equal(pm_mkdir_p(path), -ENOTDIR);

    pm_alloc_fail_at(1);
    snprintf(path, sizeof(path), "%s/x/y", dir);
    assert_int_equal(pm_mkdir_p(path), PM_ENOMEM);
    pm_alloc_fail_at(0);
    assert_int_not_equal(stat(path, &st), 0);
    t_tmpdir_cleanup();
}

/* A path that exists but is a file is not a folder made. */
static void mkdir_p_on_a_file_fails(void **state)
{
    const char *dir;
    char file[512];
    int rc;

    (void)state;
    dir = t_tmpdir();
    snprintf(file, sizeof(file), "%s/plain", dir);
    assert_int_equal(pm_write_file_atomic(file, "x", 1), 0);
    rc = pm_mkdir_p(file);
    t_tmpdir_cleanup();
    assert_int_equal(rc, -ENOTDIR);
}

static void mkdir_p_empty_path(void **state)
{
    (void)state;
    assert_int_equal(pm_mkdir_p(""), -ENOENT);
}

static void read_file_and_rmtree(void **state)
{
    const char *dir;
    char path[512], sub[512];
    unsigned char *buf = (unsigned char *)1;
    size_t len = 1;

    (void)state;
    dir = t_tmpdir();
    snprintf(path, sizeof(path), "%s/f.txt", dir);
    assert_int_equal(pm_write_file_atomic(path, "abc", 3), 0);
    assert_int_equal(pm_read_file(path, 3, &buf, &len), 0);
    assert_int_equal(len, 3);
    assert_string_equal((char *)buf, "abc"); /* NUL-terminated */
    pm_free(buf);
    assert_int_equal(pm_read_file(path, 2, &buf, &len), PM_ETOOBIG);
    assert_null(buf);
    assert_int_equal(len, 0);
    snprintf(path, sizeof(path), "%s/none", dir);
    assert_int_equal(pm_read_file(path, 10, &buf, &len), -ENOENT);
    assert_null(buf);

    snprintf(sub, sizeof(sub), "%s/t/u/v", dir);
    assert_int_equal(pm_mkdir_p(sub), 0);
    snprintf(path, sizeof(path), "%s/t/u/v/w", dir);
    assert_int_equal(pm_write_file_atomic(path, "w", 1), 0);
    snprintf(sub, sizeof(sub), "%s/t", dir);
    assert_int_equal(pm_rmtree(sub), 0);
    assert_int_equal(t_count_entries(dir), 1); /* f.txt */
    assert_int_equal(pm_rmtree(sub), 0);       /* gone already: fine */
    t_tmpdir_cleanup();
}

/* ---- never through a symlink ---- */

/* A file outside the folder being written, which must never change. */
static void make_victim(const char *dir, char victim[512])
{
    snprintf(victim, 512, "%s/outside/victim.txt", dir);
    assert_int_equal(pm_mkdir_p(victim), 0);
    assert_int_equal(rmdir(victim), 0);
    assert_int_equal(pm_write_file_atomic(victim, "precious", 8), 0);
}

/* Symlinks planted at the old predictable temp names and at the final
 * name: every write goes to a file of its own, the final name becomes
 * that file (the link is replaced), and the outside file is untouched. */
static void write_file_atomic_never_writes_through_a_link(void **state)
{
    static const char *const tails[] = {".tmp", ".tmp.%ld", NULL};
    char victim[512], out[512], path[600], fmt[64];
    const char *dir;
    struct stat st;

    (void)state;
    dir = t_tmpdir();
    make_victim(dir, victim);
    snprintf(out, sizeof(out), "%s/out", dir);
    assert_int_equal(mkdir(out, 0777), 0);
    for (int i = 0; tails[i] != NULL; i++) {
        snprintf(fmt, sizeof(fmt), "%%s/report.json%s", tails[i]);
        snprintf(path, sizeof(path), fmt, out, (long)getpid());
        assert_int_equal(symlink(victim, path), 0);
    }
    snprintf(path, sizeof(path), "%s/report.json", out);
    assert_int_equal(symlink(victim, path), 0);

    assert_int_equal(pm_write_file_atomic(path, "{}", 2), 0);
    expect_content(victim, "precious");
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    expect_content(path, "{}");
    assert_int_equal(t_count_entries(out), 3); /* the two links, the file */
    t_tmpdir_cleanup();
}

/* pm_tmp_create: a new file each time, hidden, never an existing name;
 * pm_commit_file refuses a temp name that became a link. */
static void tmp_create_is_exclusive_and_unpredictable(void **state)
{
    char victim[512], path[512], *a = NULL, *b = NULL;
    const char *dir;
    struct stat st;
    int fd = -1;

    (void)state;
    dir = t_tmpdir();
    make_victim(dir, victim);
    snprintf(path, sizeof(path), "%s/doc.pdf", dir);
    assert_int_equal(pm_tmp_create(path, &a, &fd), 0);
    assert_true(fd >= 0);
    assert_int_equal(close(fd), 0);
    assert_int_equal(pm_tmp_create(path, &b, NULL), 0);
    assert_string_not_equal(a, b);
    assert_true(strncmp(a, dir, strlen(dir)) == 0);
    assert_true(strncmp(a + strlen(dir), "/.doc.pdf.", 10) == 0);
    assert_int_equal(lstat(a, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 0);

    /* The temp file swapped for a link before the commit: not followed,
     * the link removed, nothing published. */
    assert_int_equal(unlink(b), 0);
    assert_int_equal(symlink(victim, b), 0);
    assert_int_equal(pm_commit_file(b, path), -ELOOP);
    assert_false(t_exists(b));
    assert_false(t_exists(path));
    expect_content(victim, "precious");

    assert_int_equal(pm_commit_file(a, path), 0);
    assert_false(t_exists(a));
    pm_free(a);
    pm_free(b);
    pm_alloc_fail_at(1);
    assert_int_equal(pm_tmp_create(path, &a, &fd), PM_ENOMEM);
    pm_alloc_fail_at(0);
    assert_null(a);
    assert_int_equal(fd, -1);
    t_tmpdir_cleanup();
}

/* pm_tmp_sweep removes the temp files of `base` and of `base`.<ext>,
 * only those: not another base's that shares its first characters, not
 * the files themselves, not a link's target. */
static void tmp_sweep_removes_only_its_base_temp_files(void **state)
{
    char base[400], path[512], other[512], victim[512], link[600];
    char *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL;
    const char *dir;

    (void)state;
    dir = t_tmpdir();
    make_victim(dir, victim);
    snprintf(base, sizeof(base), "%s/p00001", dir);
    snprintf(path, sizeof(path), "%s.tif", base);
    assert_int_equal(pm_write_file_atomic(path, "page", 4), 0);
    assert_int_equal(pm_tmp_create(path, &t1, NULL), 0);
    snprintf(path, sizeof(path), "%s.alto.xml", base);
    assert_int_equal(pm_tmp_create(path, &t2, NULL), 0);
    assert_int_equal(pm_tmp_create(base, &t3, NULL), 0);
    snprintf(other, sizeof(other), "%s-r2.tif", base); /* a rescan's */
    assert_int_equal(pm_tmp_create(other, &t4, NULL), 0);
    snprintf(link, sizeof(link), "%s/.p00001.txt.000000000000.tmp", dir);
    assert_int_equal(symlink(victim, link), 0);

    assert_int_equal(pm_tmp_sweep(base), 4);
    assert_false(t_exists(t1));
    assert_false(t_exists(t2));
    assert_false(t_exists(t3));
    assert_false(t_exists(link));
    assert_true(t_exists(t4));
    expect_content(victim, "precious");
    snprintf(path, sizeof(path), "%s.tif", base);
    expect_content(path, "page");
    assert_int_equal(pm_tmp_sweep(base), 0);
    snprintf(path, sizeof(path), "%s/gone/p00001", dir);
    assert_int_equal(pm_tmp_sweep(path), 0);
    pm_free(t1);
    pm_free(t2);
    pm_free(t3);
    pm_free(t4);
    t_tmpdir_cleanup();
}

/* Files 0640 and folders 0750 (under a permissive umask): not
 * world-readable. */
static void files_and_folders_are_not_world_readable(void **state)
{
    char path[512];
    const char *dir;
    struct stat st;
    mode_t old = umask(022);

    (void)state;
    dir = t_tmpdir();
    snprintf(path, sizeof(path), "%s/a/b", dir);
    assert_int_equal(pm_mkdir_p(path), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0750);
    snprintf(path, sizeof(path), "%s/a/b/f", dir);
    assert_int_equal(pm_write_file_atomic(path, "x", 1), 0);
    assert_int_equal(stat(path, &st), 0);
    umask(old);
    assert_int_equal(st.st_mode & 0777, 0640);
    t_tmpdir_cleanup();
}

/* rmtree removes links as links: what they point to stays. */
static void rmtree_never_follows_links(void **state)
{
    char victim[512], tree[512], path[600], link[600];
    const char *dir;

    (void)state;
    dir = t_tmpdir();
    make_victim(dir, victim);
    snprintf(tree, sizeof(tree), "%s/work", dir);
    assert_int_equal(pm_mkdir_p(tree), 0);
    snprintf(path, sizeof(path), "%s/outside", dir);
    snprintf(link, sizeof(link), "%s/dirlink", tree);
    assert_int_equal(symlink(path, link), 0);
    snprintf(link, sizeof(link), "%s/filelink", tree);
    assert_int_equal(symlink(victim, link), 0);
    assert_int_equal(pm_rmtree(tree), 0);
    assert_false(t_exists(tree));
    expect_content(victim, "precious");

    /* The root itself a link: the link goes, the folder it names stays. */
    assert_int_equal(symlink(path, tree), 0);
    assert_int_equal(pm_rmtree(tree), 0);
    assert_false(t_exists(tree));
    expect_content(victim, "precious");
    t_tmpdir_cleanup();
}

/* ---- names in logs ---- */

static void escape_name_shows_odd_bytes(void **state)
{
    char buf[PM_ESCAPED_MAX], small[7];

    (void)state;
    assert_string_equal(pm_escape_name("WO-1", buf, sizeof(buf)), "WO-1");
    assert_string_equal(pm_escape_name("a\033[2Jb\n", buf, sizeof(buf)),
                        "a\\x1b[2Jb\\x0a");
    assert_string_equal(pm_escape_name("caf\xc3\xa9", buf, sizeof(buf)),
                        "caf\xc3\xa9"); /* valid UTF-8 stays */
    assert_string_equal(pm_escape_name("caf\xe9\x7f", buf, sizeof(buf)),
                        "caf\\xe9\\x7f");
    /* Cut to fit, never inside a character or an escape. */
    assert_string_equal(pm_escape_name("abcde\xc3\xa9", small, sizeof(small)),
                        "abcde");
    assert_string_equal(pm_escape_name("abcd\x01", small, sizeof(small)),
                        "abcd");
}

static void strerror_names_every_code(void **state)
{
    static const int codes[] = {
        PM_OK,       PM_ENOMEM,  PM_EINVAL,  PM_EIO,     PM_ENOENT, PM_ECORRUPT,
        PM_ECATALOG, PM_EWORKER, PM_ETOOBIG, PM_EUNSUPP, PM_EOCR,   PM_EENCODE,
        PM_EPDF,     PM_ECONFIG, PM_EPROTO,  PM_ECHANGED};

    (void)state;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *s = pm_strerror(codes[i]);

        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_string_not_equal(s, "unknown error");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, pm_strerror(codes[j]));
    }
    assert_string_equal(pm_strerror(-ENOSPC), strerror(ENOSPC));
    assert_string_equal(pm_strerror(-99999), "unknown error");
    assert_string_equal(pm_strerror(5), "unknown error");
}

static void log_levels_parse(void **state)
{
    (void)state;
    assert_int_equal(pm_log_level_parse("debug"), PM_LOG_DEBUG);
    assert_int_equal(pm_log_level_parse("INFO"), PM_LOG_INFO);
    assert_int_equal(pm_log_level_parse("warn"), PM_LOG_WARN);
    assert_int_equal(pm_log_level_parse("warning"), PM_LOG_WARN);
    assert_int_equal(pm_log_level_parse("Error"), PM_LOG_ERROR);
    assert_int_equal(pm_log_level_parse("verbose"), -1);
    assert_int_equal(pm_log_level_parse(""), -1);
    assert_int_equal(pm_log_level_parse(NULL), -1);
}

/* The one string buffer: appends grow it, a failed allocation sticks and
 * take hands back the text or PM_ENOMEM, never half a text. */
static void buf_appends_and_sticks_on_oom(void **state)
{
    pm_buf_t b = {0};
    char *text;
    size_t len;

    (void)state;
    assert_int_equal(pm_buf_take(&b, &text, &len), 0);
    assert_string_equal(text, ""); /* empty is still a string */
    assert_int_equal(len, 0);
    pm_free(text);
    for (int i = 0; i < 200; i++)
        pm_buf_printf(&b, "%03d,", i);
    pm_buf_add(&b, "a\0b", 3);
    pm_buf_puts(&b, NULL);
    assert_int_equal(pm_buf_take(&b, &text, &len), 0);
    assert_int_equal(len, 200 * 4 + 3);
    assert_memory_equal(text, "000,001,", 8);
    assert_memory_equal(text + 800, "a\0b", 4);
    assert_null(b.s);
    pm_free(text);

    pm_buf_puts(&b, "kept");
    pm_alloc_fail_at(1);
    pm_buf_printf(&b, "%0*d", 1000, 7); /* needs to grow: fails */
    pm_alloc_fail_at(0);
    pm_buf_puts(&b, "more"); /* ignored: oom sticks */
    assert_true(b.oom);
    assert_int_equal(pm_buf_take(&b, &text, NULL), PM_ENOMEM);
    assert_null(text);
    assert_null(b.s);
}

/* Under journald ($JOURNAL_STREAM names stderr), every level's line
 * starts with its sd-daemon(3) priority and has no time; with stderr
 * elsewhere, lines keep their time. */
static void log_lines_under_journald(void **state)
{
    char path[600], env[64], *text;
    int saved = dup(STDERR_FILENO), fd;
    struct stat st;

    (void)state;
    snprintf(path, sizeof(path), "%s/journal", t_tmpdir());
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0 && saved >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    fflush(stderr);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    setenv("JOURNAL_STREAM", env, 1);
    pm_log_init_from_env();
    pm_log_threshold = PM_LOG_DEBUG;
    pm_log(PM_LOG_DEBUG, "t", "d");
    pm_log(PM_LOG_INFO, "t", "i");
    pm_log(PM_LOG_WARN, "t", "w\nnext");
    pm_log(PM_LOG_ERROR, "t", "e");
    snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + 1);
    setenv("JOURNAL_STREAM", env, 1); /* another stream: not ours */
    pm_log_init_from_env();
    pm_log(PM_LOG_INFO, "t", "plain");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    unsetenv("JOURNAL_STREAM");
    pm_log_init_from_env();
    pm_log_threshold = PM_LOG_INFO;
    text = t_slurp(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "<7>t d\n<6>t i\n<4>t w next\n<3>t e\n"));
    assert_int_equal(text[0], '<');
    assert_non_null(strstr(text, "Z INFO  t plain\n"));
    pm_free(text);
    t_tmpdir_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_appends_and_sticks_on_oom),
        cmocka_unit_test(natural_cmp_orders_numbers_by_value),
        cmocka_unit_test(log_lines_under_journald),
        cmocka_unit_test(natural_cmp_ignores_leading_zeros_in_value),
        cmocka_unit_test(natural_cmp_is_a_total_order),
        cmocka_unit_test(path_stem_strips_folder_and_last_extension),
        cmocka_unit_test(path_stem_out_of_memory),
        cmocka_unit_test(alloc_fail_at_fails_exactly_the_nth),
        cmocka_unit_test(realloc_failure_keeps_the_block),
        cmocka_unit_test(strdup_and_asprintf),
        cmocka_unit_test(write_file_atomic_writes_and_replaces),
        cmocka_unit_test(write_file_atomic_failures_leave_nothing),
        cmocka_unit_test(write_file_atomic_out_of_memory_leaves_old_file),
        cmocka_unit_test(mkdir_p_creates_parents),
        cmocka_unit_test(mkdir_p_on_a_file_fails),
        cmocka_unit_test(mkdir_p_empty_path),
        cmocka_unit_test(read_file_and_rmtree),
        cmocka_unit_test(write_file_atomic_never_writes_through_a_link),
        cmocka_unit_test(tmp_create_is_exclusive_and_unpredictable),
        cmocka_unit_test(tmp_sweep_removes_only_its_base_temp_files),
        cmocka_unit_test(files_and_folders_are_not_world_readable),
        cmocka_unit_test(rmtree_never_follows_links),
        cmocka_unit_test(escape_name_shows_odd_bytes),
        cmocka_unit_test(strerror_names_every_code),
        cmocka_unit_test(log_levels_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
