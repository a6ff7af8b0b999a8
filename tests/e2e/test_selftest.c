/*
 * test_selftest.c: `pagemill selftest` end to end with the real binary,
 * installed by `cmake --install` into a DESTDIR and in the build tree.
 * Installed, it finds the sample pages installed with it, converts them,
 * finds their words in the text layer, checks PDF/A and the bag, and
 * passes, leaving the configured catalog (checksummed) and folders as
 * they were. It fails naming the check when a profile's language is not
 * installed, or a configured folder is not writable by the given user.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define TESSDATA "/usr/share/tesseract-ocr/5/tessdata"

/* ---- helpers ---- */

/* Writes `text` to root/rel. */
static void write_text(const char *root, const char *rel, const char *text)
{
    char *path = pm_asprintf("%s/%s", root, rel);

    assert_non_null(path);
    assert_int_equal(pm_write_file_atomic(path, text, strlen(text)), 0);
    pm_free(path);
}

/* The configured folders under root (catalog/, spool/, out/, hot/scans/)
 * and root/pagemill.ini naming them, with `more` keys of [pagemill] and
 * `profiles` (INI sections). */
static void write_config(const char *root, const char *more,
                         const char *profiles)
{
    const char *const dirs[] = {"catalog", "spool", "out", "hot/scans", "tmp"};
    char *ini;

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char *d = pm_asprintf("%s/%s", root, dirs[i]);
        assert_int_equal(pm_mkdir_p(d), 0);
        pm_free(d);
    }
    /* a page may take minutes under ASan on a loaded machine */
    ini = pm_asprintf("[pagemill]\nworkers = 2\npage_timeout = 3600\n"
                      "catalog = catalog/pagemill.db\n"
                      "spool = spool\noutput = out\n%s\n[hotfolder scans]\n"
                      "path = hot/scans\n\n%s",
                      more, profiles);
    write_text(root, "pagemill.ini", ini);
    pm_free(ini);
}

/* `BIN selftest --config root/pagemill.ini ARGS`, its temporary folder
 * in root/tmp; the exit status, its stdout and stderr in *out. */
static int selftest(const char *bin, const char *root, const char *args,
                    char **out)
{
    return t_run(out,
                 "TMPDIR='%s/tmp' '%s' selftest --config '%s/pagemill.ini' "
                 "%s 2>&1",
                 root, bin, root, args);
}

/* The line of the table for CHECK and SUBJECT (columns are two spaces
 * apart or more): from its RESULT on, up to the line's end, in buf. */
static const char *row_of(const char *out, const char *check,
                          const char *subject, char *buf, size_t size)
{
    for (const char *l = out; l != NULL && *l; l = strchr(l, '\n')) {
        const char *p = l + (*l == '\n');
        size_t n = strlen(check);

        l = p;
        if (strncmp(p, check, n) != 0 || strncmp(p + n, "  ", 2) != 0)
            continue;
        p += n + strspn(p + n, " ");
        n = strlen(subject);
        if (strncmp(p, subject, n) != 0 || strncmp(p + n, "  ", 2) != 0)
            continue;
        p += n + strspn(p + n, " ");
        snprintf(buf, size, "%.*s", (int)strcspn(p, "\n"), p);
        return buf;
    }
    fail_msg("no row '%s' '%s' in:\n%s", check, subject, out);
    return NULL;
}

/* The row for CHECK and SUBJECT says `result` and `detail` after it. */
static void assert_row(const char *out, const char *check, const char *subject,
                       const char *result, const char *detail)
{
    char buf[2048];
    const char *r = row_of(out, check, subject, buf, sizeof(buf));

    if (strncmp(r, result, strlen(result)) != 0 || strstr(r, detail) == NULL)
        fail_msg("row '%s' '%s' is not '%s ...%s...' in:\n%s", check, subject,
                 result, detail, out);
}

/* The SHA-256 and the folder listings that must not change. */
static char *fingerprint(const char *root)
{
    char *out = NULL;

    assert_int_equal(t_run(&out,
                           "cd '%s' && sha256sum catalog/pagemill.db && "
                           "ls -lAR --time-style=full-iso catalog spool out "
                           "hot tmp",
                           root),
                     0);
    return out;
}

static const char *me(void)
{
    struct passwd *pw = getpwuid(geteuid());

    assert_non_null(pw);
    return pw->pw_name;
}

/* ---- tests ---- */

/* Installed into a DESTDIR, selftest takes the sample pages installed
 * beside it and passes every check; the catalog, the folders and the
 * temporary root are as they were. */
static void passes_installed_and_touches_nothing(void **state)
{
    const char *root = *state;
    char *bin = pm_asprintf("%s/dest%s/pagemill", root, PM_INSTALL_BINDIR);
    char *samples =
        pm_asprintf("%s/dest%s/pagemill/samples", root, PM_INSTALL_DATADIR);
    char *before, *after, *out = NULL, args[128];

    assert_int_equal(t_run(NULL,
                           "DESTDIR='%s/dest' '%s' --install '%s' "
                           ">/dev/null",
                           root, PM_CMAKE, PM_BUILD_DIR),
                     0);
    write_config(root, "", "[profile default]\nlanguages = eng\n");
    assert_int_equal(t_run(NULL,
                           "'%s' account add ACME --name Acme --config "
                           "'%s/pagemill.ini' >/dev/null",
                           PM_BINARY, root),
                     0);
    before = fingerprint(root);
    snprintf(args, sizeof(args), "--user '%s'", me());
    if (selftest(bin, root, args, &out) != 0)
        fail_msg("selftest failed:\n%s", out);
    assert_row(out, "samples", samples, "pass", "5 pages");
    assert_row(out, "languages", "default", "pass", "eng+osd");
    assert_row(out, "icc profile", "/usr/share/color/icc/sRGB.icc", "pass",
               "RGB ICC profile");
    assert_row(out, "folder", "output", "pass", "writable");
    assert_row(out, "folder", "hot folder scans", "pass", "MiB free");
    assert_row(out, "convert", "default", "pass", "5 pages");
    assert_row(out, "text layer", "default", "pass", "16 of 16");
    assert_row(out, "pdf/a", "default", "pass", "PDF/A-2B");
    assert_row(out, "bag", "default", "pass", "verified");
    assert_non_null(strstr(out, "selftest passed"));
    after = fingerprint(root);
    assert_string_equal(before, after);
    free(before);
    free(after);
    free(out);
    pm_free(bin);
    pm_free(samples);
}

/* In the build tree: a profile whose language is not in the tessdata
 * folder fails its languages check, naming the language, and is not
 * converted; the other (no OCR, to be quick) converts and passes; exit
 * 1. */
static void missing_language_fails_naming_it(void **state)
{
    const char *root = *state;
    char *out = NULL, args[128];

    write_config(root, "tessdata = td\n",
                 "[profile default]\nocr = no\norient = no\ndeskew = no\n\n"
                 "[profile latin]\nlanguages = eng+deu\n");
    assert_int_equal(t_run(NULL,
                           "mkdir '%s/td' && ln -s " TESSDATA
                           "/eng.traineddata " TESSDATA "/osd.traineddata "
                           "'%s/td/'",
                           root, root),
                     0);
    snprintf(args, sizeof(args), "--user '%s'", me());
    assert_int_equal(selftest(PM_BINARY, root, args, &out), 1);
    assert_row(out, "samples", PM_BUILD_DIR "/samples", "pass", "5 pages");
    assert_row(out, "languages", "latin", "FAIL", "'deu' is not installed");
    assert_row(out, "languages", "default", "skip", "ocr = no");
    assert_row(out, "convert", "latin", "skip", "languages");
    assert_row(out, "convert", "default", "pass", "5 pages");
    assert_row(out, "pdf/a", "default", "pass", "PDF/A-2B");
    assert_non_null(strstr(out, "selftest FAILED: 1 of"));
    free(out);
}

/* A configured folder the service's user cannot write fails its check,
 * naming the folder and the user; the others pass; exit 1. */
static void unwritable_folder_fails_naming_it(void **state)
{
    const char *root = *state;
    char *out = NULL;

    write_config(root, "",
                 "[profile default]\nocr = no\norient = no\ndeskew = no\n");
    /* nobody may reach and write every folder but the output */
    assert_int_equal(t_run(NULL,
                           "cd '%s' && chmod 0755 . && chmod 0777 catalog "
                           "spool hot hot/scans && chmod 0555 out",
                           root),
                     0);
    assert_int_equal(selftest(PM_BINARY, root, "--user nobody", &out), 1);
    assert_row(out, "folder", "output", "FAIL", "not writable by nobody");
    assert_row(out, "folder", "spool", "pass", "writable by nobody");
    assert_row(out, "folder", "catalog", "pass", "writable by nobody");
    assert_row(out, "folder", "hot folder scans", "pass", "by nobody");
    assert_row(out, "convert", "default", "pass", "5 pages");
    assert_row(out, "pdf/a", "default", "pass", "PDF/A-2B");
    assert_non_null(strstr(out, "selftest FAILED: 1 of"));
    free(out);
    assert_int_equal(t_run(NULL, "chmod 0755 '%s/out'", root), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(passes_installed_and_touches_nothing,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(missing_language_fails_naming_it,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(unwritable_folder_fails_naming_it,
                                        t_tmpdir_setup, t_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
