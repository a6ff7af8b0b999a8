/*
 * test_config.c: the INI reader and validator (config/config.h). Files are
 * written to a temp folder; a valid one must load exactly, and a broken
 * one must report every problem in one pass, each as
 * "FILE:LINE: [section] key: what is wrong". The language check names
 * every language a profile needs that tessdata lacks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

static char conf_path[512];

/* Writes `text` to <tmpdir>/<name> and returns its path (static). */
static const char *write_conf(const char *dir, const char *name,
                              const char *text)
{
    snprintf(conf_path, sizeof(conf_path), "%s/%s", dir, name);
    assert_int_equal(pm_write_file_atomic(conf_path, text, strlen(text)), 0);
    return conf_path;
}

/* Counts the lines of an error report. */
static int count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Fails unless `errors` has a line starting "path:line: [section] key: " */
static void expect_error(const char *errors, const char *path, int line,
                         const char *section, const char *key)
{
    char want[1024];

    snprintf(want, sizeof(want), "%s:%d: [%s] %s: ", path, line, section, key);
    for (const char *l = errors; l != NULL && *l;) {
        if (strncmp(l, want, strlen(want)) == 0 &&
            l[strlen(want)] != '\n') /* and says what is wrong */
            return;
        l = strchr(l, '\n');
        if (l != NULL)
            l++;
    }
    fail_msg("no error '%s...' in:\n%s", want, errors);
}

static const char valid_ini[] = "; a comment\n"
                                "[pagemill]\n"
                                "workers = 3\n"
                                "page_timeout = 120\n"
                                "worker_memory_mb = 2048\n"
                                "max_attempts = 5\n"
                                "icc_profile = /opt/icc/sRGB v4.icc\n"
                                "tessdata = /opt/tessdata\n"
                                "\n"
                                "[profile fast]\n"
                                "languages = eng+deu\n"
                                "ocr = no\n"
                                "ocr_psm = 6\n"
                                "orient = off\n"
                                "orient_min_confidence = 5.5\n"
                                "deskew = false\n"
                                "deskew_max_angle = 8\n"
                                "deskew_min_confidence = 1.25\n"
                                "blank_ink_ratio = 0.001\n"
                                "color_mode = bitonal\n"
                                "gray_codec = jp2\n"
                                "jpeg_quality = 70\n"
                                "jp2_quality = 30\n"
                                "fallback_dpi = 200\n"
                                "max_pixels = 100000000\n"
                                "\n"
                                "[profile archive-color]\n"
                                "  languages = fra   ; inline comment\n"
                                "color_mode = gray\n"
                                "ocr = YES\n";

static void valid_file_with_two_profiles_loads(void **state)
{
    const char *dir, *path;
    pm_config_t *cfg = (pm_config_t *)1;
    char *errors = (char *)1;
    const pm_profile_t *fast, *arch, *def;
    pm_profile_t d;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "valid.ini", valid_ini);
    if (pm_config_load(path, &cfg, &errors) != 0)
        fail_msg("valid file refused:\n%s", errors);
    assert_non_null(cfg);
    assert_null(errors);
    assert_string_equal(cfg->source, path);
    assert_int_equal(cfg->workers, 3);
    assert_int_equal(cfg->page_timeout, 120);
    assert_int_equal(cfg->worker_memory_mb, 2048);
    assert_int_equal(cfg->max_attempts, 5);
    assert_string_equal(cfg->icc_profile, "/opt/icc/sRGB v4.icc");
    assert_string_equal(cfg->tessdata, "/opt/tessdata");
    /* The built-in default stays, plus the two from the file. */
    assert_int_equal(cfg->nprofiles, 3);

    fast = pm_config_profile(cfg, "fast");
    assert_non_null(fast);
    assert_string_equal(fast->name, "fast");
    assert_string_equal(fast->languages, "eng+deu");
    assert_int_equal(fast->ocr, 0);
    assert_int_equal(fast->ocr_psm, 6);
    assert_int_equal(fast->orient, 0);
    assert_true(fast->orient_min_confidence == 5.5);
    assert_int_equal(fast->deskew, 0);
    assert_true(fast->deskew_max_angle == 8);
    assert_true(fast->deskew_min_confidence == 1.25);
    assert_true(fast->blank_ink_ratio == 0.001);
    assert_int_equal(fast->color_mode, PM_COLOR_BITONAL);
    assert_int_equal(fast->gray_codec, PM_CODEC_JP2);
    assert_int_equal(fast->jpeg_quality, 70);
    assert_int_equal(fast->jp2_quality, 30);
    assert_int_equal(fast->fallback_dpi, 200);
    assert_true(fast->max_pixels == 100000000);

    /* Keys not given keep the defaults. */
    arch = pm_config_profile(cfg, "archive-color");
    assert_non_null(arch);
    pm_profile_defaults(&d);
    assert_string_equal(arch->languages, "fra");
    assert_int_equal(arch->color_mode, PM_COLOR_GRAY);
    assert_int_equal(arch->ocr, 1);
    assert_int_equal(arch->jpeg_quality, d.jpeg_quality);
    assert_true(arch->blank_ink_ratio == d.blank_ink_ratio);
    assert_true(arch->max_pixels == d.max_pixels);

    def = pm_config_profile(cfg, "default");
    assert_non_null(def);
    assert_int_equal(memcmp(def, &d, sizeof(d)), 0);
    assert_null(pm_config_profile(cfg, "missing"));
    pm_config_free(cfg);
    t_tmpdir_cleanup();
}

/* A [profile default] section overrides the built-in one in place. */
static void default_profile_can_be_overridden(void **state)
{
    const char *dir, *path;
    pm_config_t *cfg = NULL;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "default.ini",
                      "[profile default]\njpeg_quality = 90\n"
                      "[profile default]\nlanguages = deu\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_int_equal(cfg->nprofiles, 1);
    assert_int_equal(cfg->profiles[0].jpeg_quality, 90);
    assert_string_equal(cfg->profiles[0].languages, "deu");
    pm_config_free(cfg);
    t_tmpdir_cleanup();
}

static const char broken_ini[] = "[pagemill]\n"          /* 1 */
                                 "workers = two\n"       /* 2: bad int */
                                 "page_timeout = 0\n"    /* 3: out of range */
                                 "colour = blue\n"       /* 4: unknown key */
                                 "\n"                    /* 5 */
                                 "[profile scan]\n"      /* 6 */
                                 "ocr = maybe\n"         /* 7: bad bool */
                                 "languages = eng deu\n" /* 8: bad languages */
                                 "jpeg_quality = 101\n"  /* 9: out of range */
                                 "jpeg_quality = 80\n"   /* 10: fine */
                                 "blank_ink_ratio = lots\n" /* 11: bad number */
                                 "color_mode = sepia\n"     /* 12: bad enum */
                                 "ocr_psm = 2\n"      /* 13: excluded value */
                                 "languages = +eng\n" /* 14: bad languages */
                                 "fallback_dpi = 72.5\n" /* 15: not an int */
                                 "max_pixels = 0\n"      /* 16: out of range */
                                 "\n"                    /* 17 */
                                 "[profiles scan]\n"     /* 18 */
                                 "ocr = yes\n"        /* 19: unknown section */
                                 "[profile scan]\n"   /* 20 */
                                 "deskew = yes\n"     /* 21: fine */
                                 "gray_codec = png\n" /* 22: bad enum */
                                 "fast = yes\n";      /* 23: unknown key */

static void every_error_is_reported_in_one_pass(void **state)
{
    const char *dir, *path;
    pm_config_t *cfg = (pm_config_t *)1;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "broken.ini", broken_ini);
    assert_int_equal(pm_config_load(path, &cfg, &errors), PM_ECONFIG);
    assert_null(cfg);
    assert_non_null(errors);
    fprintf(stderr, "%s", errors);
    expect_error(errors, path, 2, "pagemill", "workers");
    expect_error(errors, path, 3, "pagemill", "page_timeout");
    expect_error(errors, path, 4, "pagemill", "colour");
    expect_error(errors, path, 7, "profile scan", "ocr");
    expect_error(errors, path, 8, "profile scan", "languages");
    expect_error(errors, path, 9, "profile scan", "jpeg_quality");
    expect_error(errors, path, 11, "profile scan", "blank_ink_ratio");
    expect_error(errors, path, 12, "profile scan", "color_mode");
    expect_error(errors, path, 13, "profile scan", "ocr_psm");
    expect_error(errors, path, 14, "profile scan", "languages");
    expect_error(errors, path, 15, "profile scan", "fallback_dpi");
    expect_error(errors, path, 16, "profile scan", "max_pixels");
    expect_error(errors, path, 19, "profiles scan", "ocr");
    expect_error(errors, path, 22, "profile scan", "gray_codec");
    expect_error(errors, path, 23, "profile scan", "fast");
    /* Nothing else: the fine lines raise nothing. */
    assert_int_equal(count_lines(errors), 15);
    /* The offending value is quoted. */
    assert_non_null(strstr(errors, "'two'"));
    assert_non_null(strstr(errors, "'eng deu'"));
    assert_non_null(strstr(errors, "'maybe'"));
    pm_free(errors);
    t_tmpdir_cleanup();
}

static void keys_outside_sections_and_syntax_errors(void **state)
{
    const char *dir, *path;
    pm_config_t *cfg = (pm_config_t *)1;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "syntax.ini",
                      "workers = 2\n"                  /* 1: outside sections */
                      "[pagemill]\n"                   /* 2 */
                      "this line has no equals sign\n" /* 3: syntax */
                      "[profile ok]\n"                 /* 4 */
                      "ocr = nope\n");                 /* 5: still reported */
    assert_int_equal(pm_config_load(path, &cfg, &errors), PM_ECONFIG);
    assert_null(cfg);
    fprintf(stderr, "%s", errors);
    expect_error(errors, path, 1, "", "workers");
    expect_error(errors, path, 5, "profile ok", "ocr");
    {
        char want[600];

        snprintf(want, sizeof(want), "%s:3: ", path);
        assert_non_null(strstr(errors, want));
    }
    pm_free(errors);

    t_tmpdir_cleanup();
}

static void missing_file_is_enoent(void **state)
{
    const char *dir;
    char path[512];
    pm_config_t *cfg = (pm_config_t *)1;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    snprintf(path, sizeof(path), "%s/nope.ini", dir);
    assert_int_equal(pm_config_load(path, &cfg, &errors), -ENOENT);
    assert_null(cfg);
    assert_non_null(errors); /* says which file */
    assert_non_null(strstr(errors, path));
    pm_free(errors);
    t_tmpdir_cleanup();
}

/* A folder given as the config file is an error, not an empty config. */
static void folder_is_not_a_config(void **state)
{
    const char *dir;
    pm_config_t *cfg = (pm_config_t *)1;
    char *errors = NULL;
    int rc;

    (void)state;
    dir = t_tmpdir();
    rc = pm_config_load(dir, &cfg, &errors);
    if (rc == 0)
        pm_config_free(cfg);
    pm_free(errors);
    t_tmpdir_cleanup();
    assert_int_equal(rc, -EISDIR);
}

/* A profile name longer than inih's section buffer (50) is cut short
 * silently, so --profile with the full name would not find it. */
static void long_profile_names_are_refused(void **state)
{
    const char *dir, *path;
    char text[256];
    pm_config_t *cfg = NULL;
    char *errors = NULL;
    int rc;

    (void)state;
    dir = t_tmpdir();
    snprintf(text, sizeof(text), "[profile %060d]\nocr = yes\n", 7);
    path = write_conf(dir, "longname.ini", text);
    rc = pm_config_load(path, &cfg, &errors);
    if (rc == 0) {
        pm_config_free(cfg);
        t_tmpdir_cleanup();
    }
    assert_int_equal(rc, PM_ECONFIG);
    assert_non_null(strstr(errors, ":1: ")); /* the section's line */
    pm_free(errors);
    t_tmpdir_cleanup();
}

static void empty_file_gives_defaults(void **state)
{
    const char *dir, *path;
    pm_config_t *cfg = NULL, *def;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "empty.ini", "; nothing here\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    def = pm_config_new();
    assert_non_null(def);
    assert_int_equal(cfg->nprofiles, 1);
    assert_int_equal(cfg->workers, def->workers);
    assert_int_equal(cfg->page_timeout, def->page_timeout);
    assert_int_equal(cfg->max_attempts, PM_DEFAULT_MAX_ATTEMPTS);
    assert_int_equal(def->max_attempts, 3);
    assert_string_equal(cfg->icc_profile, PM_DEFAULT_ICC);
    assert_null(cfg->tessdata);
    assert_int_equal(
        memcmp(&cfg->profiles[0], &def->profiles[0], sizeof(pm_profile_t)), 0);
    pm_config_free(def);
    pm_config_free(cfg);
    pm_config_free(NULL);
    t_tmpdir_cleanup();
}

/* [catalog] url names the catalog (a URL stays a URL); local_workers is
 * -1 (as workers) unless set, 0 for a pure coordinator; both checked. */
static void catalog_url_and_local_workers(void **state)
{
    const char *dir, *path;
    pm_config_t *cfg = NULL;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "d.ini", "[pagemill]\nworkers = 3\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_int_equal(cfg->local_workers, -1);
    pm_config_free(cfg);
    path = write_conf(dir, "pg.ini",
                      "[pagemill]\nlocal_workers = 0\n\n[catalog]\n"
                      "url = postgresql://pm@db.example:5433/pagemill\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_int_equal(cfg->local_workers, 0);
    assert_string_equal(cfg->catalog,
                        "postgresql://pm@db.example:5433/pagemill");
    pm_config_free(cfg);
    path = write_conf(dir, "bad.ini",
                      "[pagemill]\nlocal_workers = -1\n[catalog]\nurl =\n"
                      "path = x\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), PM_ECONFIG);
    expect_error(errors, path, 2, "pagemill", "local_workers");
    expect_error(errors, path, 4, "catalog", "url");
    expect_error(errors, path, 5, "catalog", "path");
    pm_free(errors);
    t_tmpdir_cleanup();
}

/* The documented defaults are the ones pm_profile_defaults() sets. */
static void profile_defaults_are_sane(void **state)
{
    pm_profile_t p;

    (void)state;
    pm_profile_defaults(&p);
    assert_string_equal(p.name, "default");
    assert_string_equal(p.languages, "eng");
    assert_true(p.ocr && p.orient && p.deskew);
    assert_true(p.blank_ink_ratio > 0 && p.blank_ink_ratio < 0.01);
    assert_int_equal(p.color_mode, PM_COLOR_AUTO);
    assert_int_equal(p.gray_codec, PM_CODEC_JPEG);
    assert_int_equal(p.compression, PM_COMPRESS_PLAIN);
    assert_true(p.jpeg_quality >= 1 && p.jpeg_quality <= 100);
    assert_true(p.jp2_quality >= 1 && p.jp2_quality <= 100);
    assert_true(p.fallback_dpi >= 50 && p.fallback_dpi <= 2400);
    assert_true(p.max_pixels == 20000LL * 20000LL);
}

static void names_parse_both_ways(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            pm_color_mode_parse(pm_color_mode_name((pm_color_mode_t)i)), i);
    for (int i = 0; i < 2; i++)
        assert_int_equal(
            pm_gray_codec_parse(pm_gray_codec_name((pm_gray_codec_t)i)), i);
    for (int i = 0; i < 2; i++)
        assert_int_equal(
            pm_compression_parse(pm_compression_name((pm_compression_t)i)), i);
    assert_int_equal(pm_compression_parse("jbig2"), -1);
    assert_int_equal(pm_color_mode_parse("Bitonal"), PM_COLOR_BITONAL);
    assert_int_equal(pm_color_mode_parse("colour"), -1);
    assert_int_equal(pm_gray_codec_parse("jpeg2000"), -1);
    assert_string_equal(pm_color_mode_name((pm_color_mode_t)7), "?");
}

/* compression = mrc is a gray and colour page setting: it loads with the
 * default JPEG codec in any key order, and a profile that makes every page
 * bitonal, or asks for JPEG 2000, is refused at the compression line. */
static void mrc_compression_is_validated(void **state)
{
    const char *dir, *path;
    pm_config_t *cfg = NULL;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "mrc.ini",
                      "[profile small]\n"
                      "compression = mrc\n"
                      "color_mode = gray\n"
                      "[profile plain]\n"
                      "compression = Plain\n"
                      "[profile default]\n"
                      "compression = mrc\n"
                      "compression = plain\n"
                      "color_mode = bitonal\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_null(errors);
    assert_int_equal(pm_config_profile(cfg, "small")->compression,
                     PM_COMPRESS_MRC);
    assert_int_equal(pm_config_profile(cfg, "plain")->compression,
                     PM_COMPRESS_PLAIN);
    assert_int_equal(pm_config_profile(cfg, "default")->compression,
                     PM_COMPRESS_PLAIN);
    pm_config_free(cfg);
    cfg = NULL;

    path = write_conf(dir, "bad.ini",
                      "[profile fax]\n"         /* 1 */
                      "compression = mrc\n"     /* 2: with bitonal */
                      "color_mode = bitonal\n"  /* 3 */
                      "[profile j2]\n"          /* 4 */
                      "gray_codec = jp2\n"      /* 5 */
                      "compression = mrc\n"     /* 6: with jp2 */
                      "[profile odd]\n"         /* 7 */
                      "compression = jbig2\n"); /* 8: unknown */
    assert_int_equal(pm_config_load(path, &cfg, &errors), PM_ECONFIG);
    assert_null(cfg);
    expect_error(errors, path, 2, "profile fax", "compression");
    expect_error(errors, path, 6, "profile j2", "compression");
    expect_error(errors, path, 8, "profile odd", "compression");
    assert_non_null(strstr(errors, "color_mode = bitonal"));
    assert_non_null(strstr(errors, "gray_codec = jpeg"));
    assert_non_null(strstr(errors, "expected plain or mrc, got 'jbig2'"));
    assert_int_equal(count_lines(errors), 3);
    pm_free(errors);
    t_tmpdir_cleanup();
}

/* pdfa = 1b | 2b (2b by default); PDF/A-1 knows no JPEG 2000, so 1b with
 * gray_codec = jp2 is refused at the pdfa line, in either key order. */
static void pdfa_level_is_validated(void **state)
{
    const char *dir, *path;
    pm_config_t *cfg = NULL;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "pdfa.ini",
                      "[profile one]\n"
                      "pdfa = 1B\n"
                      "[profile two]\n"
                      "pdfa = 2b\n"
                      "gray_codec = jp2\n"
                      "[profile default]\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_null(errors);
    assert_int_equal(pm_config_profile(cfg, "one")->pdfa_part, 1);
    assert_int_equal(pm_config_profile(cfg, "two")->pdfa_part, 2);
    assert_int_equal(pm_config_profile(cfg, "default")->pdfa_part, 2);
    pm_config_free(cfg);
    cfg = NULL;

    path = write_conf(dir, "bad.ini",
                      "[profile a]\n"      /* 1 */
                      "pdfa = 1b\n"        /* 2: with jp2 */
                      "gray_codec = jp2\n" /* 3 */
                      "[profile b]\n"      /* 4 */
                      "gray_codec = jp2\n" /* 5 */
                      "pdfa = 1b\n"        /* 6: with jp2 */
                      "[profile c]\n"      /* 7 */
                      "pdfa = 3u\n");      /* 8: unknown */
    assert_int_equal(pm_config_load(path, &cfg, &errors), PM_ECONFIG);
    assert_null(cfg);
    expect_error(errors, path, 2, "profile a", "pdfa");
    expect_error(errors, path, 6, "profile b", "pdfa");
    expect_error(errors, path, 8, "profile c", "pdfa");
    assert_non_null(strstr(errors, "PDF/A-1 does not allow JPEG 2000"));
    assert_non_null(strstr(errors, "expected 1b or 2b, got '3u'"));
    assert_int_equal(count_lines(errors), 3);
    pm_free(errors);
    t_tmpdir_cleanup();
}

static void invoice_and_archive_are_validated(void **state)
{
    const char *dir, *path;
    pm_config_t *cfg = NULL;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "inv.ini",
                      "[invoice]\n"
                      "issuer = Landesarchiv Süd\n"
                      "address = 12 Archive Lane\n"
                      "address = 1010 Wien\n"
                      "tax_id = ATU12345678\n"
                      "currency = EUR\n"
                      "currency_symbol = €\n"
                      "page_size = A4\n"
                      "payment_terms = Net 30 days\n"
                      "[archive]\n"
                      "janitor_every_hours = 24\n"
                      "verify_every_hours = 0.5\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_null(errors);
    assert_string_equal(cfg->invoice.issuer, "Landesarchiv Süd");
    assert_int_equal(cfg->invoice.naddress, 2);
    assert_string_equal(cfg->invoice.address[1], "1010 Wien");
    assert_string_equal(cfg->invoice.tax_id, "ATU12345678");
    assert_string_equal(cfg->invoice.currency, "EUR");
    assert_string_equal(cfg->invoice.currency_symbol, "€");
    assert_int_equal(cfg->invoice.a4, 1);
    assert_string_equal(cfg->invoice.payment_terms, "Net 30 days");
    assert_true(cfg->archive.janitor_every_hours == 24);
    assert_true(cfg->archive.verify_every_hours == 0.5);
    pm_config_free(cfg);
    cfg = NULL;

    path = write_conf(dir, "bad.ini",
                      "[invoice]\n"                     /* 1 */
                      "currency = euro\n"               /* 2 */
                      "currency_symbol = 1 $\n"         /* 3 */
                      "page_size = A3\n"                /* 4 */
                      "issuer =\n"                      /* 5 */
                      "address = a\n"                   /* 6 */
                      "address = b\n"                   /* 7 */
                      "address = c\n"                   /* 8 */
                      "address = d\n"                   /* 9 */
                      "address = e\n"                   /* 10: a fifth */
                      "colour = blue\n"                 /* 11 */
                      "[archive]\n"                     /* 12 */
                      "verify_every_hours = -1\n"       /* 13 */
                      "janitor_every_hours = daily\n"   /* 14 */
                      "verify_every_hours = 0.0001\n"); /* 15 */
    assert_int_equal(pm_config_load(path, &cfg, &errors), PM_ECONFIG);
    assert_null(cfg);
    expect_error(errors, path, 2, "invoice", "currency");
    expect_error(errors, path, 3, "invoice", "currency_symbol");
    expect_error(errors, path, 4, "invoice", "page_size");
    expect_error(errors, path, 5, "invoice", "issuer");
    expect_error(errors, path, 10, "invoice", "address");
    expect_error(errors, path, 11, "invoice", "colour");
    expect_error(errors, path, 13, "archive", "verify_every_hours");
    expect_error(errors, path, 14, "archive", "janitor_every_hours");
    expect_error(errors, path, 15, "archive", "verify_every_hours");
    assert_non_null(strstr(errors, "expected A4 or letter, got 'A3'"));
    assert_non_null(strstr(errors, "ISO 4217"));
    assert_int_equal(count_lines(errors), 9);
    pm_free(errors);
    t_tmpdir_cleanup();
}

/* A command's --config FILE or the defaults. */
static void load_or_defaults(void **state)
{
    pm_config_t *cfg = NULL;

    (void)state;
    assert_int_equal(pm_config_load_or_defaults("test", NULL, &cfg), 0);
    assert_non_null(cfg);
    assert_int_equal(cfg->nprofiles, 1);
    pm_config_free(cfg);
    cfg = NULL;
    assert_int_equal(
        pm_config_load_or_defaults("test", "/nonexistent/pagemill.ini", &cfg),
        -ENOENT);
    assert_null(cfg);
}

/* A line longer than inih's buffer (a deep tessdata path) is either
 * taken whole or refused with its own line number; either way the lines
 * after it keep theirs. */
static void long_lines_keep_line_numbers(void **state)
{
    const char *dir, *path;
    char text[1024], longpath[400], want[600];
    pm_config_t *cfg = NULL;
    char *errors = NULL;
    int rc, ok;

    (void)state;
    dir = t_tmpdir();
    memset(longpath, 'd', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    snprintf(text, sizeof(text),
             "[pagemill]\ntessdata = %s\n[profile x]\nocr = maybe\n", longpath);
    path = write_conf(dir, "long.ini", text);
    rc = pm_config_load(path, &cfg, &errors);
    assert_int_equal(rc, PM_ECONFIG);
    snprintf(want, sizeof(want), "%s:3:", path);
    ok = strstr(errors, want) == NULL; /* nothing on the line after */
    snprintf(want, sizeof(want), "%s:2:", path);
    ok = ok && (count_lines(errors) == 1 ||
                (count_lines(errors) == 2 && strstr(errors, want) != NULL));
    if (!ok) {
        fprintf(stderr, "%s", errors);
        pm_free(errors);
        t_tmpdir_cleanup();
        fail_msg("long line split");
    }
    expect_error(errors, path, 4, "profile x", "ocr");
    pm_free(errors);
    t_tmpdir_cleanup();
}

/* ---- hot folders ---- */

static const char hotfolder_ini[] =
    "[pagemill]\n"                  /* 1 */
    "spool = /srv/pagemill/spool\n" /* 2 */
    "output = /srv/pagemill/out\n"  /* 3 */
    "\n"                            /* 4 */
    "[hotfolder scans]\n"           /* 5 */
    "path = /srv/hot/scans\n"       /* 6 */
    "profile = colour\n"            /* 7: defined further down */
    "account = ACME\n"              /* 8 */
    "marker = READY.txt\n"          /* 9 */
    "settle_seconds = 120\n"        /* 10 */
    "hold_unknown = yes\n"          /* 11 */
    "\n"                            /* 12 */
    "[hotfolder plain]\n"           /* 13 */
    "path = /srv/hot/plain\n"       /* 14 */
    "\n"                            /* 15 */
    "[hotfolder quiet]\n"           /* 16 */
    "path = /srv/hot/quiet/\n"      /* 17 */
    "marker = None\n"               /* 18 */
    "settle_seconds = 1\n"          /* 19 */
    "watch = Poll\n"                /* 20 */
    "scan_seconds = 5\n"            /* 21 */
    "\n"                            /* 22 */
    "[profile colour]\n"            /* 23 */
    "color_mode = auto\n";          /* 24 */

static void valid_hot_folders_load(void **state)
{
    const char *dir, *path;
    pm_config_t *cfg = NULL;
    char *errors = NULL;
    const pm_hotfolder_cfg_t *h;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "hot.ini", hotfolder_ini);
    if (pm_config_load(path, &cfg, &errors) != 0)
        fail_msg("valid file refused:\n%s", errors);
    assert_string_equal(cfg->spool, "/srv/pagemill/spool");
    assert_string_equal(cfg->output, "/srv/pagemill/out");
    assert_int_equal(cfg->nhotfolders, 3);

    h = pm_config_hotfolder(cfg, "scans");
    assert_ptr_equal(h, &cfg->hotfolders[0]);
    assert_string_equal(h->name, "scans");
    assert_string_equal(h->path, "/srv/hot/scans");
    assert_string_equal(h->profile, "colour");
    assert_string_equal(h->account, "ACME");
    assert_string_equal(h->marker, "READY.txt");
    assert_int_equal(h->settle_seconds, 120);
    assert_int_equal(h->hold_unknown, 1);
    assert_int_equal(h->line, 5);

    /* Everything but the path left at its default. */
    h = pm_config_hotfolder(cfg, "plain");
    assert_non_null(h);
    assert_string_equal(h->profile, "default");
    assert_null(h->account);
    assert_string_equal(h->marker, PM_DEFAULT_MARKER);
    assert_string_equal(h->marker, "batch.ini");
    assert_int_equal(h->settle_seconds, 30);
    assert_int_equal(h->hold_unknown, 0);
    assert_int_equal(h->poll, 0); /* watch = events */
    assert_int_equal(h->scan_seconds, 0);
    assert_int_equal(h->line, 13);

    /* marker = none (any case) is settle mode. */
    h = pm_config_hotfolder(cfg, "quiet");
    assert_non_null(h);
    assert_null(h->marker);
    assert_int_equal(h->settle_seconds, 1);
    assert_int_equal(h->poll, 1);
    assert_int_equal(h->scan_seconds, 5);
    assert_null(pm_config_hotfolder(cfg, "missing"));
    pm_config_free(cfg);
    t_tmpdir_cleanup();
}

/* No hot folders and the built-in spool and output folders, which are
 * the config folder's, as every relative path in the file is. */
static void hot_folders_are_optional(void **state)
{
    const char *dir, *path;
    pm_config_t *cfg = NULL;
    char *errors = NULL, *real, want[4200];

    (void)state;
    dir = t_tmpdir();
    real = realpath(dir, NULL);
    assert_non_null(real);
    path = write_conf(dir, "none.ini", "[pagemill]\nworkers = 1\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_int_equal(cfg->nhotfolders, 0);
    assert_null(cfg->hotfolders);
    snprintf(want, sizeof(want), "%s/%s", real, PM_DEFAULT_SPOOL);
    assert_string_equal(cfg->spool, want);
    snprintf(want, sizeof(want), "%s/%s", real, PM_DEFAULT_OUTPUT);
    assert_string_equal(cfg->output, want);
    snprintf(want, sizeof(want), "%s/%s", real, PM_DEFAULT_CATALOG);
    assert_string_equal(cfg->catalog, want);
    pm_config_free(cfg);
    free(real);
    t_tmpdir_cleanup();
}

/* Relative paths are the config folder's, whatever the current folder;
 * absolute ones stay as written. */
static void relative_paths_are_the_config_folders(void **state)
{
    const char *dir, *path;
    pm_config_t *cfg = NULL;
    char *errors = NULL, *real, want[4200];

    (void)state;
    dir = t_tmpdir();
    real = realpath(dir, NULL);
    assert_non_null(real);
    path = write_conf(dir, "rel.ini",
                      "[pagemill]\ncatalog = db/c.db\nspool = ../sp\n"
                      "output = /srv/out\nicc_profile = icc/s.icc\n"
                      "tessdata = td\n[http]\ntoken_file = tokens\n"
                      "[hotfolder a]\npath = hot/a\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    snprintf(want, sizeof(want), "%s/db/c.db", real);
    assert_string_equal(cfg->catalog, want);
    snprintf(want, sizeof(want), "%s/../sp", real);
    assert_string_equal(cfg->spool, want);
    assert_string_equal(cfg->output, "/srv/out");
    snprintf(want, sizeof(want), "%s/icc/s.icc", real);
    assert_string_equal(cfg->icc_profile, want);
    snprintf(want, sizeof(want), "%s/td", real);
    assert_string_equal(cfg->tessdata, want);
    snprintf(want, sizeof(want), "%s/tokens", real);
    assert_string_equal(cfg->http.token_file, want);
    snprintf(want, sizeof(want), "%s/hot/a", real);
    assert_string_equal(cfg->hotfolders[0].path, want);
    pm_config_free(cfg);

    /* A catalog URL is not a path: it stays as written. */
    path = write_conf(dir, "url.ini",
                      "[pagemill]\ncatalog = postgresql://pm@127.0.0.1:5432/"
                      "pagemill\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_string_equal(cfg->catalog,
                        "postgresql://pm@127.0.0.1:5432/pagemill");
    pm_config_free(cfg);
    free(real);
    t_tmpdir_cleanup();
}

/* Loads `text`, expects PM_ECONFIG; returns the errors (caller frees)
 * and the file's path in conf_path. */
static char *load_broken(const char *dir, const char *text, int nerrors)
{
    pm_config_t *cfg = (pm_config_t *)1;
    char *errors = NULL;
    const char *path = write_conf(dir, "broken-hot.ini", text);

    assert_int_equal(pm_config_load(path, &cfg, &errors), PM_ECONFIG);
    assert_null(cfg);
    assert_non_null(errors);
    fprintf(stderr, "%s", errors);
    if (count_lines(errors) != nerrors)
        fail_msg("expected %d error lines, got:\n%s", nerrors, errors);
    return errors;
}

static void hot_folder_without_path_is_refused(void **state)
{
    const char *dir;
    char *errors;

    (void)state;
    dir = t_tmpdir();
    errors = load_broken(dir,
                         "[pagemill]\n"          /* 1 */
                         "workers = 1\n"         /* 2 */
                         "[hotfolder nowhere]\n" /* 3 */
                         "profile = default\n"   /* 4 */
                         "account = ACME\n"      /* 5 */
                         "[hotfolder empty]\n"   /* 6: no keys at all */
                         "[profile x]\n"         /* 7 */
                         "ocr = yes\n",          /* 8 */
                         2);
    /* Named by the section line: there is no path line to point at. */
    expect_error(errors, conf_path, 3, "hotfolder nowhere", "path");
    expect_error(errors, conf_path, 6, "hotfolder empty", "path");
    pm_free(errors);
    t_tmpdir_cleanup();
}

static void bad_settle_seconds_are_refused(void **state)
{
    const char *dir;
    char *errors;

    (void)state;
    dir = t_tmpdir();
    errors = load_broken(dir,
                         "[hotfolder a]\n"          /* 1 */
                         "path = hot/a\n"           /* 2 */
                         "settle_seconds = 0\n"     /* 3: below 1 */
                         "[hotfolder b]\n"          /* 4 */
                         "path = hot/b\n"           /* 5 */
                         "settle_seconds = 3601\n"  /* 6: above an hour */
                         "[hotfolder c]\n"          /* 7 */
                         "path = hot/c\n"           /* 8 */
                         "settle_seconds = soon\n"  /* 9: not a number */
                         "[hotfolder d]\n"          /* 10 */
                         "path = hot/d\n"           /* 11 */
                         "settle_seconds = 3600\n", /* 12: fine */
                         3);
    expect_error(errors, conf_path, 3, "hotfolder a", "settle_seconds");
    expect_error(errors, conf_path, 6, "hotfolder b", "settle_seconds");
    expect_error(errors, conf_path, 9, "hotfolder c", "settle_seconds");
    assert_non_null(strstr(errors, "'soon'"));
    pm_free(errors);
    t_tmpdir_cleanup();
}

/* max_attempts is an integer 1..100; 1 and 100 are fine. */
static void bad_max_attempts_is_refused(void **state)
{
    const char *dir;
    char *errors;

    (void)state;
    dir = t_tmpdir();
    errors = load_broken(dir,
                         "[pagemill]\n"           /* 1 */
                         "max_attempts = 0\n"     /* 2: below 1 */
                         "max_attempts = 101\n"   /* 3: above 100 */
                         "max_attempts = three\n" /* 4: not a number */
                         "max_attempts = 2.5\n"   /* 5: not an integer */
                         "max_attempts = 1\n"     /* 6: fine */
                         "max_attempts = 100\n",  /* 7: fine */
                         4);
    expect_error(errors, conf_path, 2, "pagemill", "max_attempts");
    expect_error(errors, conf_path, 3, "pagemill", "max_attempts");
    expect_error(errors, conf_path, 4, "pagemill", "max_attempts");
    expect_error(errors, conf_path, 5, "pagemill", "max_attempts");
    assert_non_null(strstr(errors, "expected 1..100, got '101'"));
    assert_non_null(strstr(errors, "'three'"));
    pm_free(errors);
    t_tmpdir_cleanup();
}

/* [http]: off without the section, on with it even when empty; listen is
 * an address literal and a port; loopback is recognised. */
static void http_section_loads(void **state)
{
    pm_config_t *cfg = NULL;
    const char *dir, *path;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "nohttp.ini", "[pagemill]\nworkers = 1\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_false(cfg->http.enabled);
    pm_config_free(cfg);

    path = write_conf(dir, "empty.ini", "[http]\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_true(cfg->http.enabled);
    assert_string_equal(cfg->http.host, "127.0.0.1");
    assert_int_equal(cfg->http.port, PM_DEFAULT_HTTP_PORT);
    assert_true(cfg->http.loopback);
    assert_int_equal(cfg->http.min_free_mb, PM_DEFAULT_HTTP_MIN_FREE_MB);
    pm_config_free(cfg);

    path = write_conf(dir, "lan.ini",
                      "[http]\nlisten = 192.168.10.5:9443\n"
                      "token_file = /etc/pagemill/tokens\n"
                      "cert = /etc/pagemill/c.pem\nkey = /etc/pagemill/k.pem\n"
                      "min_free_mb = 10\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_string_equal(cfg->http.host, "192.168.10.5");
    assert_int_equal(cfg->http.port, 9443);
    assert_false(cfg->http.loopback);
    assert_string_equal(cfg->http.token_file, "/etc/pagemill/tokens");
    assert_string_equal(cfg->http.cert, "/etc/pagemill/c.pem");
    assert_int_equal(cfg->http.min_free_mb, 10);
    pm_config_free(cfg);

    path = write_conf(dir, "v6.ini", "[http]\nlisten = [::1]:0\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_string_equal(cfg->http.host, "::1");
    assert_int_equal(cfg->http.port, 0);
    assert_true(cfg->http.loopback);
    pm_config_free(cfg);
    t_tmpdir_cleanup();
}

static void bad_http_settings_are_refused(void **state)
{
    const char *dir;
    char *errors;

    (void)state;
    dir = t_tmpdir();
    errors = load_broken(dir,
                         "[http]\n"                   /* 1 */
                         "listen = localhost:8080\n"  /* 2: a name */
                         "listen = 127.0.0.1\n"       /* 3: no port */
                         "listen = 127.0.0.1:65536\n" /* 4: port */
                         "listen = ::1:80\n"          /* 5: no [] */
                         "listen = 10.0.0.300:80\n"   /* 6: address */
                         "min_free_mb = lots\n"       /* 7 */
                         "cert = /etc/c.pem\n"        /* 8 */
                         "colour = blue\n"            /* 9 */
                         "token_file =\n",            /* 10 */
                         9);
    for (int line = 2; line <= 6; line++)
        expect_error(errors, conf_path, line, "http", "listen");
    expect_error(errors, conf_path, 7, "http", "min_free_mb");
    expect_error(errors, conf_path, 9, "http", "colour");
    expect_error(errors, conf_path, 10, "http", "token_file");
    /* cert without key: named at the section line. */
    expect_error(errors, conf_path, 1, "http", "key");
    assert_non_null(strstr(errors, "'localhost:8080'"));
    pm_free(errors);
    t_tmpdir_cleanup();
}

/* [alerts]: off without the section; values and defaults; a section
 * without a command, bad numbers and unknown keys are named. */
static void alerts_section(void **state)
{
    pm_config_t *cfg = NULL;
    const char *dir, *path;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "none.ini", "[pagemill]\nworkers = 1\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_false(cfg->alerts.enabled);
    pm_config_free(cfg);

    path = write_conf(dir, "on.ini",
                      "[alerts]\ncommand = logger -t pm\nstall_minutes = 0\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_true(cfg->alerts.enabled);
    assert_string_equal(cfg->alerts.command, "logger -t pm");
    assert_int_equal(cfg->alerts.stall_minutes, 0);
    assert_int_equal(cfg->alerts.min_free_mb, PM_DEFAULT_ALERT_MIN_FREE_MB);
    assert_int_equal(cfg->alerts.repeat_minutes,
                     PM_DEFAULT_ALERT_REPEAT_MINUTES);
    pm_config_free(cfg);

    errors = load_broken(dir,
                         "[alerts]\n"             /* 1: no command */
                         "stall_minutes = soon\n" /* 2 */
                         "repeat_minutes = 0\n"   /* 3: at least 1 */
                         "worker_restarts = -1\n" /* 4 */
                         "colour = red\n",        /* 5 */
                         5);
    expect_error(errors, conf_path, 1, "alerts", "command");
    expect_error(errors, conf_path, 2, "alerts", "stall_minutes");
    expect_error(errors, conf_path, 3, "alerts", "repeat_minutes");
    expect_error(errors, conf_path, 4, "alerts", "worker_restarts");
    expect_error(errors, conf_path, 5, "alerts", "colour");
    pm_free(errors);
    t_tmpdir_cleanup();
}

/* pdf_text and pdf_dpi: defaults, values, and bad values named. */
static void pdf_options(void **state)
{
    const pm_profile_t *p;
    pm_config_t *cfg = NULL;
    const char *dir, *path;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "pdf.ini",
                      "[profile plain]\nlanguages = eng\n"
                      "[profile again]\npdf_text = redo\npdf_dpi = 150\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    p = pm_config_profile(cfg, "plain");
    assert_non_null(p);
    assert_int_equal(p->pdf_text_redo, 0);
    assert_int_equal(p->pdf_dpi, 300);
    p = pm_config_profile(cfg, "again");
    assert_non_null(p);
    assert_int_equal(p->pdf_text_redo, 1);
    assert_int_equal(p->pdf_dpi, 150);
    pm_config_free(cfg);
    pm_free(errors);
    errors = load_broken(dir,
                         "[profile x]\n"        /* 1 */
                         "pdf_text = yes\n"     /* 2: not refuse/redo */
                         "pdf_dpi = 71\n"       /* 3: below 72 */
                         "pdf_dpi = 1201\n"     /* 4: above 1200 */
                         "pdf_text = refuse\n", /* 5: fine */
                         3);
    expect_error(errors, conf_path, 2, "profile x", "pdf_text");
    expect_error(errors, conf_path, 3, "profile x", "pdf_dpi");
    expect_error(errors, conf_path, 4, "profile x", "pdf_dpi");
    assert_non_null(strstr(errors, "expected refuse or redo, got 'yes'"));
    pm_free(errors);
    t_tmpdir_cleanup();
}

static void billing_section_and_bill_blank(void **state)
{
    pm_config_t *cfg = NULL;
    const char *dir, *path;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "billing.ini",
                      "[billing]\n"
                      "timezone = America/Chicago\n"
                      "issuer = County Records Center\n"
                      "[profile blanks]\n"
                      "bill_blank = yes\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_string_equal(cfg->billing_timezone, "America/Chicago");
    assert_string_equal(cfg->billing_issuer, "County Records Center");
    assert_true(pm_config_profile(cfg, "blanks")->bill_blank);
    assert_false(pm_config_profile(cfg, "default")->bill_blank);
    pm_config_free(cfg);
    errors = load_broken(dir,
                         "[billing]\n"                   /* 1 */
                         "timezone = Nowhere/Zone\n"     /* 2: no such zone */
                         "timezone = ../../etc/passwd\n" /* 3: outside */
                         "currency = USD\n"              /* 4: unknown key */
                         "[profile p]\n"                 /* 5 */
                         "bill_blank = maybe\n",         /* 6: not yes/no */
                         4);
    expect_error(errors, conf_path, 2, "billing", "timezone");
    expect_error(errors, conf_path, 3, "billing", "timezone");
    expect_error(errors, conf_path, 4, "billing", "currency");
    expect_error(errors, conf_path, 6, "profile p", "bill_blank");
    pm_free(errors);
    t_tmpdir_cleanup();
}

/* review_below_confidence: 60 by default, 0..100, 0 turns it off. */
static void review_below_confidence_is_validated(void **state)
{
    pm_config_t *cfg = NULL;
    const char *dir, *path;
    char *errors = NULL;

    (void)state;
    dir = t_tmpdir();
    path = write_conf(dir, "review.ini",
                      "[profile strict]\n"
                      "review_below_confidence = 75.5\n"
                      "[profile never]\n"
                      "review_below_confidence = 0\n");
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_true(pm_config_profile(cfg, "default")->review_below_confidence ==
                60.0);
    assert_true(pm_config_profile(cfg, "strict")->review_below_confidence ==
                75.5);
    assert_true(pm_config_profile(cfg, "never")->review_below_confidence ==
                0.0);
    pm_config_free(cfg);
    errors = load_broken(dir,
                         "[profile p]\n"                    /* 1 */
                         "review_below_confidence = 101\n"  /* 2: > 100 */
                         "review_below_confidence = -1\n"   /* 3: < 0 */
                         "review_below_confidence = low\n", /* 4 */
                         3);
    expect_error(errors, conf_path, 2, "profile p", "review_below_confidence");
    expect_error(errors, conf_path, 3, "profile p", "review_below_confidence");
    expect_error(errors, conf_path, 4, "profile p", "review_below_confidence");
    assert_non_null(strstr(errors, "0..100"));
    pm_free(errors);
    t_tmpdir_cleanup();
}

/* config check and billing judge a zone name the same way: every name
 * billing refuses, the configuration refuses too (zone.tab, a plain file
 * under zoneinfo, once passed config check and then failed billing). */
static void timezone_check_is_billings(void **state)
{
    static const char *const bad[] = {"zone.tab", "tzdata.zi",
                                      "America",  "America//New_York",
                                      "./UTC",    "America/New York"};
    const char *dir;
    char text[200];

    (void)state;
    dir = t_tmpdir();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *errors;

        snprintf(text, sizeof(text), "[billing]\ntimezone = %s\n", bad[i]);
        errors = load_broken(dir, text, 1);
        expect_error(errors, conf_path, 2, "billing", "timezone");
        pm_free(errors);
    }
    t_tmpdir_cleanup();
}

static void unknown_profile_of_a_hot_folder_is_refused(void **state)
{
    const char *dir;
    char *errors;

    (void)state;
    dir = t_tmpdir();
    errors = load_broken(dir,
                         "[profile fast]\n"     /* 1 */
                         "ocr = no\n"           /* 2 */
                         "\n"                   /* 3 */
                         "[hotfolder colour]\n" /* 4 */
                         "path = hot/colour\n"  /* 5 */
                         "profile = colour\n"   /* 6: never defined */
                         "[hotfolder fast]\n"   /* 7 */
                         "path = hot/fast\n"    /* 8 */
                         "profile = fast\n",    /* 9: fine */
                         1);
    expect_error(errors, conf_path, 4, "hotfolder colour", "profile");
    assert_non_null(strstr(errors, "colour"));
    pm_free(errors);
    t_tmpdir_cleanup();
}

/* One folder watched twice (written two ways), a folder inside another,
 * and the spool inside a hot folder: each would take batches twice or
 * take pagemill's own folders as batches. */
static void overlapping_hot_folders_are_refused(void **state)
{
    const char *dir;
    char *errors;

    (void)state;
    dir = t_tmpdir();
    errors = load_broken(dir,
                         "[pagemill]\n"               /* 1 */
                         "spool = /srv/hot/c/spool\n" /* 2 */
                         "[hotfolder a]\n"            /* 3 */
                         "path = /srv/hot/a\n"        /* 4 */
                         "[hotfolder b]\n"            /* 5 */
                         "path = /srv//hot/./a/\n"    /* 6: same as a */
                         "[hotfolder inner]\n"        /* 7 */
                         "path = /srv/hot/a/x\n"      /* 8: inside a */
                         "[hotfolder c]\n"            /* 9 */
                         "path = /srv/hot/c\n"        /* 10: holds spool */
                         "[hotfolder ab]\n"           /* 11 */
                         "path = /srv/hot/ab\n",      /* 12: fine */
                         4);
    expect_error(errors, conf_path, 5, "hotfolder b", "path");
    assert_non_null(strstr(errors, "same folder as [hotfolder a] (line 3)"));
    /* inner is inside both a and b: reported against each. */
    expect_error(errors, conf_path, 7, "hotfolder inner", "path");
    expect_error(errors, conf_path, 9, "hotfolder c", "path");
    assert_non_null(strstr(errors, "spool"));
    assert_null(strstr(errors, "[hotfolder ab]"));
    pm_free(errors);
    t_tmpdir_cleanup();
}

static void bad_hot_folder_keys_are_refused(void **state)
{
    const char *dir;
    char *errors;

    (void)state;
    dir = t_tmpdir();
    errors = load_broken(dir,
                         "[hotfolder a]\n"        /* 1 */
                         "path = hot/a\n"         /* 2 */
                         "marker = done/now\n"    /* 3: not a file name */
                         "hold_unknown = later\n" /* 4: not yes/no */
                         "account =\n"            /* 5: empty */
                         "path =\n"               /* 6: empty */
                         "watch = yes\n"          /* 7: not events/poll */
                         "[hotfolder]\n"          /* 8 */
                         "path = hot/b\n"         /* 9: no name */
                         "[pagemill]\n"           /* 10 */
                         "spool =\n"              /* 11: empty */
                         "[hotfolder c]\n"        /* 12 */
                         "path = hot/c\n"         /* 13 */
                         "scan_seconds = 0\n",    /* 14: 1..3600 */
                         8);
    expect_error(errors, conf_path, 3, "hotfolder a", "marker");
    expect_error(errors, conf_path, 4, "hotfolder a", "hold_unknown");
    expect_error(errors, conf_path, 5, "hotfolder a", "account");
    expect_error(errors, conf_path, 6, "hotfolder a", "path");
    expect_error(errors, conf_path, 7, "hotfolder a", "watch");
    expect_error(errors, conf_path, 9, "hotfolder", "path");
    expect_error(errors, conf_path, 11, "pagemill", "spool");
    expect_error(errors, conf_path, 14, "hotfolder c", "scan_seconds");
    pm_free(errors);
    t_tmpdir_cleanup();
}

static int oom_lost_source;

static void out_of_memory_is_clean(void **state)
{
    const char *dir, *path;
    int saw_enomem = 0;

    (void)state;
    dir = t_tmpdir();
    for (int k = 0; k < 3; k++) {
        static const char *const texts[] = {valid_ini, broken_ini,
                                            hotfolder_ini};
        int rc = PM_ENOMEM;
        long n;

        path = write_conf(dir, "oom.ini", texts[k]);
        for (n = 1; n < 200; n++) {
            pm_config_t *cfg = (pm_config_t *)1;
            char *errors = (char *)1;

            pm_alloc_fail_at(n);
            rc = pm_config_load(path, &cfg, &errors);
            pm_alloc_fail_at(0);
            if (rc == PM_ENOMEM) {
                saw_enomem = 1;
                assert_null(cfg);
                pm_free(errors);
                continue;
            }
            assert_int_equal(rc, k == 1 ? PM_ECONFIG : 0);
            if (k == 2) {
                assert_int_equal(cfg->nhotfolders, 3);
                assert_string_equal(cfg->hotfolders[2].path, "/srv/hot/quiet/");
            } else if (k == 0) {
                assert_non_null(cfg);
                /* Everything was really read. */
                assert_non_null(pm_config_profile(cfg, "archive-color"));
                assert_non_null(cfg->tessdata);
                if (cfg->source == NULL) { /* see the next test */
                    oom_lost_source = 1;
                    pm_config_free(cfg);
                    continue;
                }
            } else {
                assert_int_equal(count_lines(errors), 15);
            }
            pm_config_free(cfg);
            pm_free(errors);
            break;
        }
        assert_true(rc != PM_ENOMEM);
        assert_true(n > 1);
    }
    assert_true(saw_enomem);
    t_tmpdir_cleanup();
}

/* Set by out_of_memory_is_clean. */
static void out_of_memory_never_loses_the_source(void **state)
{
    (void)state;
    assert_false(oom_lost_source);
}

/* ---- languages installed ---- */

/* A tessdata folder under `dir` holding eng and chi_sim only. */
static const char *fake_tessdata(const char *dir)
{
    static char td[600];
    char path[700];

    snprintf(td, sizeof(td), "%s/tessdata", dir);
    assert_int_equal(pm_mkdir_p(td), 0);
    snprintf(path, sizeof(path), "%s/eng.traineddata", td);
    assert_int_equal(pm_write_file_atomic(path, "x", 1), 0);
    snprintf(path, sizeof(path), "%s/chi_sim.traineddata", td);
    assert_int_equal(pm_write_file_atomic(path, "x", 1), 0);
    return td;
}

/* Every language of every profile with OCR on must be in tessdata; each
 * one missing is named with its profile and its Debian package. */
static void missing_languages_are_named(void **state)
{
    const char *dir, *path, *td;
    pm_config_t *cfg = NULL;
    char *errors = NULL, want[1200], ini[1024];

    (void)state;
    dir = t_tmpdir();
    td = fake_tessdata(dir);
    snprintf(ini, sizeof(ini),
             "[pagemill]\ntessdata = %s\n"
             "[profile default]\nlanguages = eng+deu\n"
             "[profile asia]\nlanguages = chi_sim+Chi_Tra\n"
             "[profile plain]\nlanguages = eng\n"
             "[profile images]\nocr = no\nlanguages = xyz\n",
             td);
    path = write_conf(dir, "langs.ini", ini);
    assert_int_equal(pm_config_load(path, &cfg, &errors), 0);
    assert_string_equal(pm_config_tessdata_dir(cfg), td);
    assert_int_equal(pm_config_check_languages(cfg, NULL, &errors), PM_ECONFIG);
    assert_int_equal(count_lines(errors), 2);
    snprintf(want, sizeof(want),
             "%s: [profile default] languages: 'deu' is not installed: no "
             "%s/deu.traineddata (install the Debian package "
             "tesseract-ocr-deu)\n",
             path, td);
    assert_non_null(strstr(errors, want));
    assert_non_null(strstr(errors, "[profile asia] languages: 'Chi_Tra'"));
    assert_non_null(strstr(errors, "package tesseract-ocr-chi-tra)"));
    assert_null(strstr(errors, "xyz")); /* OCR off: never read */
    pm_free(errors);
    /* One profile alone, as convert checks it. */
    assert_int_equal(pm_config_check_languages(
                         cfg, pm_config_profile(cfg, "plain"), &errors),
                     0);
    assert_null(errors);
    assert_int_equal(
        pm_config_check_languages(cfg, pm_config_profile(cfg, "asia"), &errors),
        PM_ECONFIG);
    assert_int_equal(count_lines(errors), 1);
    pm_free(errors);
    pm_config_free(cfg);
    t_tmpdir_cleanup();
}

/* Without [pagemill] tessdata the folder is Tesseract's: $TESSDATA_PREFIX,
 * else Debian's. */
static void tessdata_folder_is_tesseracts(void **state)
{
    const char *dir, *td, *old = getenv("TESSDATA_PREFIX");
    char *saved = old ? pm_strdup(old) : NULL, *errors = NULL;
    pm_config_t *cfg = pm_config_new();

    (void)state;
    assert_non_null(cfg);
    dir = t_tmpdir();
    td = fake_tessdata(dir);
    unsetenv("TESSDATA_PREFIX");
    assert_string_equal(pm_config_tessdata_dir(cfg), PM_DEFAULT_TESSDATA);
    setenv("TESSDATA_PREFIX", td, 1);
    assert_string_equal(pm_config_tessdata_dir(cfg), td);
    /* The built-in default profile reads eng. */
    assert_int_equal(pm_config_check_languages(cfg, NULL, &errors), 0);
    snprintf(cfg->profiles[0].languages, PM_LANGS_MAX, "eng+xyz");
    assert_int_equal(pm_config_check_languages(cfg, NULL, &errors), PM_ECONFIG);
    assert_non_null(strstr(errors, "built-in defaults: [profile default] "
                                   "languages: 'xyz' is not installed"));
    pm_free(errors);
    if (saved != NULL)
        setenv("TESSDATA_PREFIX", saved, 1);
    else
        unsetenv("TESSDATA_PREFIX");
    pm_free(saved);
    pm_config_free(cfg);
    t_tmpdir_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_file_with_two_profiles_loads),
        cmocka_unit_test(default_profile_can_be_overridden),
        cmocka_unit_test(every_error_is_reported_in_one_pass),
        cmocka_unit_test(keys_outside_sections_and_syntax_errors),
        cmocka_unit_test(missing_file_is_enoent),
        cmocka_unit_test(folder_is_not_a_config),
        cmocka_unit_test(long_profile_names_are_refused),
        cmocka_unit_test(empty_file_gives_defaults),
        cmocka_unit_test(catalog_url_and_local_workers),
        cmocka_unit_test(profile_defaults_are_sane),
        cmocka_unit_test(pdf_options),
        cmocka_unit_test(http_section_loads),
        cmocka_unit_test(bad_http_settings_are_refused),
        cmocka_unit_test(alerts_section),
        cmocka_unit_test(names_parse_both_ways),
        cmocka_unit_test(long_lines_keep_line_numbers),
        cmocka_unit_test(valid_hot_folders_load),
        cmocka_unit_test(hot_folders_are_optional),
        cmocka_unit_test(relative_paths_are_the_config_folders),
        cmocka_unit_test(hot_folder_without_path_is_refused),
        cmocka_unit_test(bad_settle_seconds_are_refused),
        cmocka_unit_test(bad_max_attempts_is_refused),
        cmocka_unit_test(billing_section_and_bill_blank),
        cmocka_unit_test(review_below_confidence_is_validated),
        cmocka_unit_test(timezone_check_is_billings),
        cmocka_unit_test(unknown_profile_of_a_hot_folder_is_refused),
        cmocka_unit_test(overlapping_hot_folders_are_refused),
        cmocka_unit_test(bad_hot_folder_keys_are_refused),
        cmocka_unit_test(out_of_memory_is_clean),
        cmocka_unit_test(out_of_memory_never_loses_the_source),
        cmocka_unit_test(missing_languages_are_named),
        cmocka_unit_test(mrc_compression_is_validated),
        cmocka_unit_test(pdfa_level_is_validated),
        cmocka_unit_test(invoice_and_archive_are_validated),
        cmocka_unit_test(load_or_defaults),
        cmocka_unit_test(tessdata_folder_is_tesseracts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
