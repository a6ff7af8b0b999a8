/*
 * test_volume.c: [volume NAME] sections and the paths the catalog records
 * (config/volume.h): a path under a volume is stored "NAME:rel" by the
 * longest volume holding it, resolves back under the local path of that
 * name, and a path under none (or written before volumes) stays as is.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/volume.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

/* Loads `text` written as <tmpdir>/pagemill.ini; fails on errors. */
static pm_config_t *load(const char *text, char *path, size_t size)
{
    pm_config_t *cfg = NULL;
    char *errors = NULL;
    int rc;

    snprintf(path, size, "%s/pagemill.ini", t_tmpdir());
    assert_int_equal(pm_write_file_atomic(path, text, strlen(text)), 0);
    rc = pm_config_load(path, &cfg, &errors);
    if (rc != 0)
        fail_msg("load: %d\n%s", rc, errors ? errors : "");
    return cfg;
}

/* Loads `text` expecting errors; returns them (caller frees). */
static char *load_fails(const char *text)
{
    char path[512];
    pm_config_t *cfg = NULL;
    char *errors = NULL;

    snprintf(path, sizeof(path), "%s/bad.ini", t_tmpdir());
    assert_int_equal(pm_write_file_atomic(path, text, strlen(text)), 0);
    assert_int_equal(pm_config_load(path, &cfg, &errors), PM_ECONFIG);
    assert_null(cfg);
    assert_non_null(errors);
    return errors;
}

static const char volumes_ini[] = "[volume a]\n"
                                  "path = /mnt/a/\n"
                                  "[volume ab]\n"
                                  "path = /mnt/ab\n"
                                  "[volume deep]\n"
                                  "path = /mnt/a//deep/./\n"
                                  "[volume root]\n"
                                  "path = /\n";

static void expect_store(const pm_config_t *cfg, const char *path,
                         const char *want)
{
    char *got = NULL;

    assert_int_equal(pm_volume_store(cfg, path, &got), 0);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("store '%s': got '%s', want '%s'", path, got, want);
    pm_free(got);
}

static void expect_resolve(const pm_config_t *cfg, const char *stored,
                           const char *want)
{
    char why[512] = "", *got = NULL;
    int rc = pm_volume_resolve(cfg, stored, &got, why, sizeof(why));

    if (rc != 0)
        fail_msg("resolve '%s': %d: %s", stored, rc, why);
    if (strcmp(got, want) != 0)
        fail_msg("resolve '%s': got '%s', want '%s'", stored, got, want);
    pm_free(got);
}

/* The paths are normalized when read: no trailing or doubled slash. */
static void sections_are_read(void **state)
{
    char path[512];
    pm_config_t *cfg;

    (void)state;
    cfg = load(volumes_ini, path, sizeof(path));
    assert_int_equal(cfg->nvolumes, 4);
    assert_string_equal(cfg->volumes[0].name, "a");
    assert_string_equal(cfg->volumes[0].path, "/mnt/a");
    assert_string_equal(cfg->volumes[1].path, "/mnt/ab");
    assert_string_equal(cfg->volumes[2].path, "/mnt/a/deep");
    assert_string_equal(cfg->volumes[3].path, "/");
    pm_config_free(cfg);
}

/* /mnt/ab/x is not under /mnt/a; the longest volume wins; a path with
 * ".." or a relative one stays as it is. */
static void store_picks_the_longest_prefix(void **state)
{
    static const char one_volume[] = "[volume a]\npath = /mnt/a\n";
    char path[512];
    pm_config_t *cfg;

    (void)state;
    cfg = load(volumes_ini, path, sizeof(path));
    expect_store(cfg, "/mnt/a/job-1/p00001.png", "a:job-1/p00001.png");
    expect_store(cfg, "/mnt/ab/x.tif", "ab:x.tif");
    expect_store(cfg, "/mnt/abc/x.tif", "root:mnt/abc/x.tif");
    expect_store(cfg, "/mnt/a/deep/x.tif", "deep:x.tif");
    expect_store(cfg, "/mnt/a/deeper/x.tif", "a:deeper/x.tif");
    expect_store(cfg, "/mnt/a//b/./c/", "a:b/c");
    expect_store(cfg, "/mnt/a", "a:");
    expect_store(cfg, "/mnt/a/", "a:");
    expect_store(cfg, "/mnt/a/../ab/x", "/mnt/a/../ab/x");
    expect_store(cfg, "relative/x", "relative/x");
    pm_config_free(cfg);

    cfg = load(one_volume, path, sizeof(path));
    expect_store(cfg, "/mnt/ab/x.tif", "/mnt/ab/x.tif");
    expect_store(cfg, "/srv/spool/x.tif", "/srv/spool/x.tif");
    expect_store(NULL, "/mnt/a/x", "/mnt/a/x");
    pm_config_free(cfg);
}

/* Each stored form comes back as the local path; absolute paths (a
 * catalog from before volumes) as they are. */
static void resolve_round_trips(void **state)
{
    static const char other_ini[] = "[volume a]\npath = /net/share-a\n";
    char path[512];
    pm_config_t *cfg, *other;

    (void)state;
    cfg = load(volumes_ini, path, sizeof(path));
    other = load(other_ini, path, sizeof(path));
    expect_resolve(cfg, "a:job-1/p00001.png", "/mnt/a/job-1/p00001.png");
    expect_resolve(other, "a:job-1/p00001.png",
                   "/net/share-a/job-1/p00001.png");
    expect_resolve(cfg, "a:", "/mnt/a");
    expect_resolve(other, "a:", "/net/share-a");
    expect_resolve(cfg, "root:mnt/abc/x", "/mnt/abc/x");
    expect_resolve(cfg, "/srv/old/x.tif", "/srv/old/x.tif");
    expect_resolve(other, "/mnt/a/x", "/mnt/a/x");
    pm_config_free(other);
    pm_config_free(cfg);
}

/* An unknown volume names itself and the configuration file; a stored
 * path cannot climb out of its volume. */
static void resolve_refuses_unknown_and_escapes(void **state)
{
    char path[512], why[512], *got = (char *)"x";
    pm_config_t *cfg;

    (void)state;
    cfg = load(volumes_ini, path, sizeof(path));
    assert_int_equal(
        pm_volume_resolve(cfg, "store:job-1/x", &got, why, sizeof(why)),
        PM_ECONFIG);
    assert_null(got);
    assert_non_null(strstr(why, "'store'"));
    assert_non_null(strstr(why, path));
    got = (char *)"x";
    assert_int_equal(
        pm_volume_resolve(cfg, "a:../ab/x", &got, why, sizeof(why)),
        PM_ECONFIG);
    assert_null(got);
    assert_non_null(strstr(why, "leaves volume 'a'"));
    assert_int_equal(
        pm_volume_resolve(cfg, "a:x/../../y", &got, why, sizeof(why)),
        PM_ECONFIG);
    assert_int_equal(pm_volume_resolve(cfg, "a:/etc", &got, why, sizeof(why)),
                     PM_ECONFIG);
    assert_true(pm_volume_is_stored("a:x"));
    assert_false(pm_volume_is_stored("/a:x"));
    assert_false(pm_volume_is_stored(":x"));
    assert_false(pm_volume_is_stored("dir/a:x"));
    pm_config_free(cfg);
}

/* Bad sections are reported with their line. */
static void bad_sections_are_reported(void **state)
{
    char *errors;

    (void)state;
    errors = load_fails("[volume a]\n"
                        "[volume b]\n"
                        "path = /x\n"
                        "size = 3\n"
                        "[volume c]\n"
                        "path = /x/\n"
                        "[volume d:e]\n"
                        "path = /y\n"
                        "[volume f]\n"
                        "path = /x/../z\n");
    assert_non_null(strstr(errors, ":1: [volume a] path: required"));
    assert_non_null(strstr(errors, ":4: [volume b] size: unknown key"));
    assert_non_null(strstr(errors, ":5: [volume c] path: same folder as "
                                   "[volume b]"));
    assert_non_null(strstr(errors, ":8: [volume d:e] path: expected [volume"));
    assert_non_null(strstr(errors, ":9: [volume f] path: '/x/../z' has a"));
    pm_free(errors);
}

/* `config check` and `selftest` refuse a volume that is not a folder. */
static void check_wants_folders(void **state)
{
    char dir[512], file[600], path[512], text[2048], *errors = NULL;
    pm_config_t *cfg;

    (void)state;
    snprintf(dir, sizeof(dir), "%s", t_tmpdir());
    snprintf(file, sizeof(file), "%s/plain-file", dir);
    assert_int_equal(pm_write_file_atomic(file, "x", 1), 0);
    snprintf(text, sizeof(text),
             "[volume here]\npath = %s\n"
             "[volume gone]\npath = %s/gone\n"
             "[volume file]\npath = %s\n",
             dir, dir, file);
    cfg = load(text, path, sizeof(path));
    assert_int_equal(pm_volume_check(cfg, &errors), PM_ECONFIG);
    assert_non_null(errors);
    assert_null(strstr(errors, "[volume here]"));
    assert_non_null(strstr(errors, ":3: [volume gone] path: "));
    assert_non_null(strstr(errors, "No such file or directory"));
    assert_non_null(strstr(errors, ":5: [volume file] path: "));
    assert_non_null(strstr(errors, "not a folder"));
    pm_free(errors);
    pm_config_free(cfg);
}

/* What a person or a document is shown: the path here, or the recorded
 * form (marked not local) where the volume is not configured. */
static void shown_resolves_or_keeps_the_recorded_form(void **state)
{
    char path[512], name[PM_VOLUME_NAME_MAX];
    pm_config_t *cfg, *copy;
    char *got;
    int local = -1;

    (void)state;
    cfg = load(volumes_ini, path, sizeof(path));
    got = pm_volume_shown(cfg, "deep:x/p.tif", &local);
    assert_string_equal(got, "/mnt/a/deep/x/p.tif");
    assert_int_equal(local, 1);
    pm_free(got);
    got = pm_volume_shown(cfg, "/srv/old/p.tif", &local);
    assert_string_equal(got, "/srv/old/p.tif");
    assert_int_equal(local, 1);
    pm_free(got);
    got = pm_volume_shown(cfg, "store:x/p.tif", &local);
    assert_string_equal(got, "store:x/p.tif");
    assert_int_equal(local, 0);
    pm_free(got);
    got = pm_volume_shown(NULL, "a:x", &local);
    assert_string_equal(got, "a:x");
    assert_int_equal(local, 0);
    pm_free(got);
    assert_null(pm_volume_shown(cfg, NULL, &local));
    assert_int_equal(local, 1);
    assert_string_equal(pm_volume_name_of("store:x", name, sizeof(name)),
                        "store");
    assert_string_equal(pm_volume_name_of("/a:x", name, sizeof(name)), "");
    assert_string_equal(pm_volume_name_of(NULL, name, sizeof(name)), "");

    /* a copy of the volumes resolves alike */
    copy = pm_config_new();
    assert_non_null(copy);
    assert_int_equal(pm_volume_copy(copy, cfg), 0);
    assert_int_equal(copy->nvolumes, cfg->nvolumes);
    pm_config_free(cfg);
    got = pm_volume_shown(copy, "ab:x.tif", &local);
    assert_string_equal(got, "/mnt/ab/x.tif");
    assert_int_equal(local, 1);
    pm_free(got);
    pm_config_free(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sections_are_read),
        cmocka_unit_test(store_picks_the_longest_prefix),
        cmocka_unit_test(resolve_round_trips),
        cmocka_unit_test(resolve_refuses_unknown_and_escapes),
        cmocka_unit_test(bad_sections_are_reported),
        cmocka_unit_test(check_wants_folders),
        cmocka_unit_test(shown_resolves_or_keeps_the_recorded_form),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    t_tmpdir_cleanup();
    return rc;
}
