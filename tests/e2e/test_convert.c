/*
 * test_convert.c: `pagemill convert` end to end: the real binary, real
 * worker processes, real pages, in a temp folder. A folder with one
 * corrupt page among three good ones must still give a three-page PDF,
 * exit 3 and a report naming the bad file; good inputs give exit 0; a bad
 * command line gives exit 2. Inputs are never modified and no temp file
 * or work folder is left behind. A page whose resolution tag is not
 * credible is laid out at the fallback resolution; one without a tag at
 * the resolution its letters give. A profile whose
 * languages are not all installed is refused by `config check`, `convert`
 * and `serve` before any page runs; a German page read with deu reads as
 * German. The workers start, and load their engines, while the inputs
 * are still being scanned.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <leptonica/allheaders.h>

#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define TESTING "tesseract-test/testing/"

static char config_opt[600];

/* "--config FILE" lifting the memory limit under ASan, else "".
 * AddressSanitizer reserves terabytes of address space, which the default
 * per-worker RLIMIT_AS (worker_memory_mb = 4096) refuses: every worker
 * would die at start. Sanitizer builds run convert without the limit. */
static const char *config_arg(const char *tmp)
{
    static const char ini[] = "[pagemill]\nworker_memory_mb = 0\n";
    char path[560];

    config_opt[0] = '\0';
    if (!T_UNDER_ASAN)
        return config_opt;
    snprintf(path, sizeof(path), "%s/asan.ini", tmp);
    assert_int_equal(pm_write_file_atomic(path, ini, strlen(ini)), 0);
    snprintf(config_opt, sizeof(config_opt), "--config '%s'", path);
    return config_opt;
}

/* SHA-256 of every file in `dir`, as one string (caller frees). */
static char *checksums(const char *dir)
{
    char *out = NULL;

    assert_int_equal(t_run(&out, "cd '%s' && sha256sum * | sort", dir), 0);
    assert_true(strlen(out) > 64);
    return out;
}

/* Fails if `dir` holds a temp file or a work folder. */
static void assert_no_leftovers(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".tmp") != NULL ||
            strncmp(e->d_name, ".pagemill-work", 14) == 0)
            fail_msg("left behind in %s: %s", dir, e->d_name);
    }
    closedir(d);
}

static json_t *load_report(const char *path)
{
    json_error_t jerr;
    json_t *rep = json_load_file(path, 0, &jerr);

    if (rep == NULL)
        fail_msg("%s: %s (line %d)", path, jerr.text, jerr.line);
    return rep;
}

static const char *str_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    assert_true(json_is_string(v));
    return json_string_value(v);
}

static long long int_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* Number of form feeds in a text file: pages - 1. */
static int form_feeds(const char *path)
{
    char *s = t_slurp(path);
    int n = 0;

    assert_non_null(s);
    for (const char *c = s; *c; c++)
        n += *c == '\f';
    pm_free(s);
    return n;
}

/*
 * in/p1.tif, p2.tif (corrupt), p3.png, p4.tif. `keep` bytes of `bad` make
 * p2.tif: a TIFF whose directory is cut off fails when pages are counted
 * (coordinator side); one whose pixel data is cut off fails in a worker.
 */
static void one_corrupt_page(const char *tmp, const char *bad, size_t keep)
{
    char in[512], out[512], path[600], *before, *after, *stdout_text = NULL;
    json_t *rep, *pages;
    int rc;

    snprintf(in, sizeof(in), "%s/in", tmp);
    snprintf(out, sizeof(out), "%s/out", tmp);
    assert_int_equal(pm_mkdir_p(in), 0);
    snprintf(path, sizeof(path), "%s/p1.tif", in);
    t_copy_file(t_data(TESTING "phototest.tif"), path);
    snprintf(path, sizeof(path), "%s/p2.tif", in);
    t_copy_truncated(t_data(bad), path, keep);
    snprintf(path, sizeof(path), "%s/p3.png", in);
    t_copy_file(t_data(TESTING "phototest-rotated-R.png"), path);
    snprintf(path, sizeof(path), "%s/p4.tif", in);
    t_copy_file(t_data(TESTING "eurotext.tif"), path);
    before = checksums(in);

    rc = t_run(&stdout_text, "'%s' convert %s --jobs 2 --out '%s' '%s' 2>&1",
               PM_BINARY, config_arg(tmp), out, in);
    printf("%s", stdout_text);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(stdout_text, "page 2 failed"));
    free(stdout_text);

    /* Three pages made it, in order, and the text has three pages. */
    snprintf(path, sizeof(path), "%s/in.pdf", out);
    assert_int_equal(t_pdf_pages(path), 3);
    snprintf(path, sizeof(path), "%s/in.txt", out);
    assert_int_equal(form_feeds(path), 2);

    snprintf(path, sizeof(path), "%s/in.pages.json", out);
    rep = load_report(path);
    assert_string_equal(str_field(rep, "status"), "partial");
    assert_int_equal(int_field(rep, "pages"), 4);
    assert_int_equal(int_field(rep, "converted"), 3);
    assert_int_equal(int_field(rep, "failed"), 1);
    assert_true(json_is_string(json_object_get(rep, "pdf")));
    pages = json_object_get(rep, "page_results");
    assert_true(json_is_array(pages));
    assert_int_equal(json_array_size(pages), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *pg = json_array_get(pages, i);
        const char *src = str_field(pg, "src");
        char name[16];

        snprintf(name, sizeof(name), "/p%zu.", i + 1);
        assert_int_equal(int_field(pg, "page"), (long long)i + 1);
        assert_non_null(strstr(src, name));
        if (i == 1) {
            const char *err = str_field(pg, "error");
            printf("# failed page: %s\n", err);
            assert_true(json_is_false(json_object_get(pg, "ok")));
            assert_non_null(strstr(err, "p2.tif"));
        } else {
            assert_true(json_is_true(json_object_get(pg, "ok")));
            assert_null(json_object_get(pg, "error"));
            assert_true(int_field(pg, "words") > 0);
        }
    }
    /* The rotated page was turned upright. */
    assert_int_equal(int_field(json_array_get(pages, 2), "rotation"), 270);
    json_decref(rep);

    after = checksums(in);
    assert_string_equal(before, after);
    assert_no_leftovers(out);
    assert_no_leftovers(in);
    free(before);
    free(after);
}

/* eurotext.tif keeps its directory at the end: half of it has none. */
static void corrupt_page_found_when_counting(void **state)
{
    t_require_data();
    one_corrupt_page(*state, TESTING "eurotext.tif", 51200);
}

/* phototest.tif has its directory first: cut, its strips are missing. */
static void corrupt_page_found_when_decoding(void **state)
{
    t_require_data();
    one_corrupt_page(*state, TESTING "phototest.tif", 20000);
}

/* Two good documents (a folder and a single file) in one run. */
static void good_inputs_exit_zero(void **state)
{
    const char *tmp = *state;
    char in[512], out[512], one[512], path[600], *text = NULL;
    static const char *const docs[] = {"in", "eurotext"};
    static const int npages[] = {2, 1};
    int rc;

    t_require_data();
    snprintf(in, sizeof(in), "%s/in", tmp);
    snprintf(out, sizeof(out), "%s/out", tmp);
    snprintf(one, sizeof(one), "%s/eurotext.tif", tmp);
    assert_int_equal(pm_mkdir_p(in), 0);
    snprintf(path, sizeof(path), "%s/a.tif", in);
    t_copy_file(t_data(TESTING "phototest.tif"), path);
    snprintf(path, sizeof(path), "%s/b.png", in);
    t_copy_file(t_data(TESTING "phototest-rotated-L.png"), path);
    t_copy_file(t_data(TESTING "eurotext.tif"), one);

    rc = t_run(&text, "'%s' convert %s -j 2 -o '%s' '%s' '%s' 2>&1", PM_BINARY,
               config_arg(tmp), out, in, one);
    printf("%s", text);
    free(text);
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < 2; i++) {
        json_t *rep;

        snprintf(path, sizeof(path), "%s/%s.pdf", out, docs[i]);
        assert_int_equal(t_pdf_pages(path), npages[i]);
        snprintf(path, sizeof(path), "%s/%s.pages.json", out, docs[i]);
        rep = load_report(path);
        assert_string_equal(str_field(rep, "status"), "ok");
        assert_int_equal(int_field(rep, "pages"), npages[i]);
        assert_int_equal(int_field(rep, "converted"), npages[i]);
        assert_int_equal(int_field(rep, "failed"), 0);
        assert_true(int_field(rep, "pdf_bytes") > 0);
        json_decref(rep);
    }
    assert_no_leftovers(out);
}

/* A 3182 x 4096 scan tagged 96 dpi would be a 33 x 43 in page: the tag is
 * not believed, and the PDF page is laid out at fallback_dpi (300). */
static void incredible_resolution_page_size(void **state)
{
    static const char *const lines[] = {"A scan whose resolution tag",
                                        "says 96 dpi.", NULL};
    const char *tmp = *state;
    char in[512], out[512], ini[512], *text = NULL, *log;
    double x0, y0, x1, y1;
    PIX *pix;
    int rc;

    snprintf(in, sizeof(in), "%s/wide.tif", tmp);
    snprintf(out, sizeof(out), "%s/out", tmp);
    snprintf(ini, sizeof(ini), "%s/fallback.ini", tmp);
    pix = t_text_page(3182, 4096, 300, lines);
    assert_non_null(pix);
    pixSetResolution(pix, 96, 96);
    assert_int_equal(pixWrite(in, pix, IFF_TIFF_G4), 0);
    pixDestroy(&pix);
    text = pm_asprintf("[pagemill]\nworker_memory_mb = %d\n"
                       "[profile default]\nfallback_dpi = 300\n",
                       T_UNDER_ASAN ? 0 : 4096);
    assert_int_equal(pm_write_file_atomic(ini, text, strlen(text)), 0);
    pm_free(text);
    rc = t_run(&text, "'%s' convert --config '%s' -o '%s' '%s' 2>&1", PM_BINARY,
               ini, out, in);
    printf("%s", text);
    assert_int_equal(rc, 0);
    log = text;
    assert_int_equal(
        t_run(&text, "pdfinfo -box '%s/wide.pdf' | grep '^MediaBox'", out), 0);
    assert_int_equal(
        sscanf(text, "MediaBox: %lf %lf %lf %lf", &x0, &y0, &x1, &y1), 4);
    printf("# %s", text);
    free(text);
    /* 3182 / 300 * 72 = 763.68 pt, 4096 / 300 * 72 = 983.04 pt. */
    assert_true(x1 - x0 > 763.67 && x1 - x0 < 763.69);
    assert_true(y1 - y0 > 983.03 && y1 - y0 < 983.05);
    /* The warning names the file, the tag and the size it implied. */
    assert_non_null(strstr(log, in));
    assert_non_null(strstr(log, "96x96 dpi"));
    assert_non_null(strstr(log, "33.1 x 42.7 in"));
    free(log);
    assert_no_leftovers(out);
}

/* MediaBox width and height of the first page of `pdf`, in points. */
static void media_box(const char *pdf, double *w, double *h)
{
    double x0, y0, x1, y1;
    char *text = NULL;

    assert_int_equal(t_run(&text, "pdfinfo -box '%s' | grep '^MediaBox'", pdf),
                     0);
    assert_int_equal(
        sscanf(text, "MediaBox: %lf %lf %lf %lf", &x0, &y0, &x1, &y1), 4);
    free(text);
    *w = x1 - x0;
    *h = y1 - y0;
}

/* A title page scanned at 100 dpi without a resolution tag is laid out
 * at 100 dpi (estimated from its letters), not at fallback_dpi (300, a
 * page a third of its size); a tagged page keeps its tag. pages.json says
 * where each resolution came from. */
static void untagged_page_resolution_is_estimated(void **state)
{
    const char *tmp = *state;
    const char *src[] = {"leptonica/prog/harmoniam100-11.png",
                         TESTING "eurotext.tif"};
    const char *name[] = {"harmoniam100-11", "eurotext"};
    const char *source[] = {"estimated", "tag"};
    const int dpi[] = {100, 300};
    const double size_pt[][2] = {{755 * 0.72, 1039 * 0.72},
                                 {1024 * 0.24, 800 * 0.24}};
    char out[512], path[1024], *text = NULL;

    t_require_data();
    snprintf(out, sizeof(out), "%s/out", tmp);
    for (int i = 0; i < 2; i++) {
        char in[600];
        json_t *rep, *page;
        double w, h;

        snprintf(in, sizeof(in), "%s/%s%s", tmp, name[i], strrchr(src[i], '.'));
        t_copy_file(t_data(src[i]), in);
        assert_int_equal(t_run(&text, "'%s' convert %s -o '%s' '%s' 2>&1",
                               PM_BINARY, config_arg(tmp), out, in),
                         0);
        printf("%s", text);
        free(text);
        snprintf(path, sizeof(path), "%s/%s.pages.json", out, name[i]);
        rep = load_report(path);
        page = json_array_get(json_object_get(rep, "page_results"), 0);
        assert_non_null(page);
        assert_int_equal(int_field(page, "xres"), dpi[i]);
        assert_int_equal(int_field(page, "yres"), dpi[i]);
        assert_string_equal(str_field(page, "dpi_source"), source[i]);
        json_decref(rep);
        snprintf(path, sizeof(path), "%s/%s.pdf", out, name[i]);
        media_box(path, &w, &h);
        printf("# %s: %.2f x %.2f pt\n", name[i], w, h);
        /* within 2%: deskewing may grow the page to keep its ink */
        assert_true(w > size_pt[i][0] * 0.98 && w < size_pt[i][0] * 1.02);
        assert_true(h > size_pt[i][1] * 0.98 && h < size_pt[i][1] * 1.02);
    }
    assert_no_leftovers(out);
}

#define LAUBE                                                    \
    "ocrd-gt-structure-text/data/laube_europa0202_1837/GT-PAGE/" \
    "laube_europa0202_1837_0006.jpg"

/* Writes <tmp>/langs.ini: profiles german (deu), georgian (eng+kat, kat
 * not installed) and bogus (xyz); returns its path (static). */
static const char *langs_ini(const char *tmp)
{
    static char path[560];
    char *text;

    snprintf(path, sizeof(path), "%s/langs.ini", tmp);
    text = pm_asprintf("[pagemill]\nworker_memory_mb = %d\n"
                       "catalog = %s/pm.db\nspool = %s/spool\n"
                       "output = %s/published\n"
                       "[profile german]\nlanguages = deu\n"
                       "[profile georgian]\nlanguages = eng+kat\n"
                       "[profile bogus]\nlanguages = xyz\n",
                       T_UNDER_ASAN ? 0 : 4096, tmp, tmp, tmp);
    assert_int_equal(pm_write_file_atomic(path, text, strlen(text)), 0);
    pm_free(text);
    return path;
}

/* Fails unless `err` names the profile, the language and the package. */
static void assert_names_language(const char *err, const char *profile,
                                  const char *lang)
{
    char want[200];

    snprintf(want, sizeof(want),
             "[profile %s] languages: '%s' is not installed", profile, lang);
    if (strstr(err, want) == NULL)
        fail_msg("expected '%s' in: %s", want, err);
    snprintf(want, sizeof(want), "Debian package tesseract-ocr-%s)", lang);
    if (strstr(err, want) == NULL)
        fail_msg("expected '%s' in: %s", want, err);
}

/* eng+kat without kat would read English alone, silently; kat or xyz
 * alone would fail every page at OCR. All three commands refuse first. */
static void missing_language_is_refused_before_any_page(void **state)
{
    const char *tmp = *state, *ini = langs_ini(tmp);
    char in[512], cmd[1600], *err = NULL;
    int rc;

    assert_false(t_exists("/usr/share/tesseract-ocr/5/tessdata/"
                          "kat.traineddata")); /* else choose another */
    snprintf(in, sizeof(in), "%s/page.png", tmp);
    t_copy_file(t_data(TESTING "phototest-rotated-L.png"), in);
    rc = t_run(&err, "'%s' config check '%s' 2>&1", PM_BINARY, ini);
    printf("%s", err);
    assert_int_equal(rc, 2);
    assert_names_language(err, "georgian", "kat");
    assert_names_language(err, "bogus", "xyz");
    assert_null(strstr(err, "OK"));
    free(err);

    snprintf(cmd, sizeof(cmd),
             "'%s' convert --config '%s' -p georgian -o '%s/out' '%s' 2>&1",
             PM_BINARY, ini, tmp, in);
    rc = t_run(&err, "%s", cmd);
    printf("%s", err);
    assert_int_equal(rc, 2);
    assert_names_language(err, "georgian", "kat");
    assert_null(strstr(err, "bogus")); /* only the profile used */
    free(err);
    snprintf(cmd, sizeof(cmd), "%s/out", tmp);
    assert_false(t_exists(cmd));

    /* serve checks every profile, before the catalog is even opened. */
    rc = t_run(&err, "cd '%s' && timeout 120 '%s' serve --config '%s' 2>&1",
               tmp, PM_BINARY, ini);
    printf("%s", err);
    assert_int_equal(rc, 2);
    assert_names_language(err, "georgian", "kat");
    assert_names_language(err, "bogus", "xyz");
    free(err);
    snprintf(cmd, sizeof(cmd), "%s/pm.db", tmp);
    assert_false(t_exists(cmd));
}

/* A German page (1837 title page, OCR-D ground truth) read with deu:
 * words that English models misread ("Mtannheim", "Berlag") come out
 * right. The profile is the only one convert checks: the others in the
 * file name languages that are not installed. */
static void german_page_reads_as_german(void **state)
{
    static const char *const words[] = {"Novelle", "Mannheim", "Verlag",
                                        "zweiter", "Europa"};
    const char *tmp = *state, *ini = langs_ini(tmp);
    char out[512], path[600], *text = NULL;
    int rc;

    assert_true(t_exists(t_data(LAUBE)));
    snprintf(out, sizeof(out), "%s/out", tmp);
    rc = t_run(&text, "'%s' convert --config '%s' -p german -o '%s' '%s' 2>&1",
               PM_BINARY, ini, out, t_data(LAUBE));
    printf("%s", text);
    free(text);
    assert_int_equal(rc, 0);
    snprintf(path, sizeof(path), "%s/laube_europa0202_1837_0006.txt", out);
    text = t_slurp(path);
    assert_non_null(text);
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(text, words[i]) == NULL)
            fail_msg("'%s' not read from the German page: %s", words[i], text);
    pm_free(text);
    assert_no_leftovers(out);
}

/* `pdfa = 1b` in the profile, through convert and its workers: the five
 * real scans of examples/ (G4, JPEG, PNG) become a PDF 1.4 document that
 * Apache PDFBox Preflight finds valid PDF/A-1b. */
static void pdfa_1b_profile_passes_pdfbox_preflight(void **state)
{
    static const char ini[] = "[pagemill]\nworker_memory_mb = 0\n"
                              "[profile default]\npdfa = 1b\n";
    const char *tmp = *state;
    char cfg[560], out[560], pdf[640], *text = NULL;
    int rc;

    snprintf(cfg, sizeof(cfg), "%s/pdfa1b.ini", tmp);
    assert_int_equal(pm_write_file_atomic(cfg, ini, strlen(ini)), 0);
    snprintf(out, sizeof(out), "%s/out", tmp);
    rc = t_run(&text, "'%s' convert --config '%s' -o '%s' '%s' 2>&1", PM_BINARY,
               cfg, out, PM_SOURCE_DIR "/examples/WO-2026-0001");
    printf("%s", text);
    free(text);
    assert_int_equal(rc, 0);
    snprintf(pdf, sizeof(pdf), "%s/WO-2026-0001.pdf", out);
    assert_int_equal(t_pdf_pages(pdf), 5);
    assert_true(t_pdfa1b_valid(pdf));
    assert_no_leftovers(out);
}

/* Position of `needle` in `hay`, or fails the test naming what is missing. */
static size_t log_pos(const char *hay, const char *needle)
{
    const char *at = strstr(hay, needle);

    if (at == NULL)
        fail_msg("no \"%s\" in the log", needle);
    return (size_t)(at - hay);
}

/* The workers are started before the inputs are scanned, and each loads
 * its engines before its first page (not inside it): read from the order
 * of the debug log's events, not from timing. */
static void workers_start_before_the_scan(void **state)
{
    const char *tmp = *state;
    char in[512], out[512], path[600], *log = NULL;
    int rc, ran = 0;

    t_require_data();
    snprintf(in, sizeof(in), "%s/in", tmp);
    snprintf(out, sizeof(out), "%s/out", tmp);
    assert_int_equal(pm_mkdir_p(in), 0);
    snprintf(path, sizeof(path), "%s/a.tif", in);
    t_copy_file(t_data(TESTING "phototest.tif"), path);
    snprintf(path, sizeof(path), "%s/b.tif", in);
    t_copy_file(t_data(TESTING "phototest.tif"), path);

    rc =
        t_run(&log, "PAGEMILL_LOG=debug '%s' convert %s -j 2 -o '%s' '%s' 2>&1",
              PM_BINARY, config_arg(tmp), out, in);
    printf("%s", log);
    assert_int_equal(rc, 0);
    assert_true(log_pos(log, "pool worker 1 started") <
                log_pos(log, "convert inputs scanned: 1 document(s), 2 page"));
    assert_true(log_pos(log, "pool worker 2 started") <
                log_pos(log, "convert inputs scanned"));
    for (int w = 1; w <= 2; w++) {
        char task[32], warm[64];

        snprintf(task, sizeof(task), "[w%d] task=", w);
        snprintf(warm, sizeof(warm), "[w%d] engines loaded ahead (eng)", w);
        if (strstr(log, task) == NULL)
            continue; /* the other worker took both pages */
        ran++;
        assert_true(log_pos(log, warm) < log_pos(log, task));
    }
    assert_true(ran > 0);
    free(log);
    assert_no_leftovers(out);
}

/* Runs convert of folder `in` into `out` with `opts` under script(1), on
 * a pseudo-terminal: what the terminal showed (caller frees). */
static char *convert_on_a_tty(const char *tmp, const char *opts, const char *in,
                              const char *out)
{
    char *text = NULL;
    int rc = t_run(&text,
                   "script -qec \"'%s' convert %s %s -j 2 -o '%s' '%s'\" "
                   "/dev/null </dev/null",
                   PM_BINARY, config_arg(tmp), opts, out, in);

    printf("%s", text);
    assert_int_equal(rc, 0);
    return text;
}

/* On a terminal, convert shows its progress on stderr (pages done of
 * all, the rate, the time left); not with --quiet, nor when stderr is not
 * a terminal. */
static void progress_on_a_terminal_only(void **state)
{
    const char *tmp = *state;
    char in[512], out[512], path[600], *text = NULL;
    int rc;

    t_require_data();
    if (access("/usr/bin/script", X_OK) != 0)
        fail_msg("/usr/bin/script is missing (Debian bsdutils)");
    snprintf(in, sizeof(in), "%s/in", tmp);
    assert_int_equal(pm_mkdir_p(in), 0);
    snprintf(path, sizeof(path), "%s/a.tif", in);
    t_copy_file(t_data(TESTING "phototest.tif"), path);
    snprintf(path, sizeof(path), "%s/b.tif", in);
    t_copy_file(t_data(TESTING "eurotext.tif"), path);

    snprintf(out, sizeof(out), "%s/tty", tmp);
    text = convert_on_a_tty(tmp, "", in, out);
    assert_non_null(strstr(text, "pagemill convert: 0 of 2 pages"));
    assert_non_null(strstr(text, "pagemill convert: 2 of 2 pages, "));
    assert_non_null(strstr(text, " pages/s, "));
    assert_non_null(strstr(text, " left"));
    assert_non_null(strstr(text, "in: 2 page(s), 2 converted"));
    free(text);

    snprintf(out, sizeof(out), "%s/quiet", tmp);
    text = convert_on_a_tty(tmp, "-q", in, out);
    assert_null(strstr(text, "pages/s"));
    assert_non_null(strstr(text, "in: 2 page(s), 2 converted"));
    free(text);

    snprintf(out, sizeof(out), "%s/pipe", tmp);
    rc = t_run(&text, "'%s' convert %s -j 2 -o '%s' '%s' 2>&1 </dev/null",
               PM_BINARY, config_arg(tmp), out, in);
    printf("%s", text);
    assert_int_equal(rc, 0);
    assert_null(strstr(text, "pages/s"));
    assert_non_null(strstr(text, "in: 2 page(s), 2 converted"));
    free(text);

    /* -v: the debug log, the workers' included. */
    snprintf(out, sizeof(out), "%s/verbose", tmp);
    rc = t_run(&text, "'%s' convert %s -v -j 2 -o '%s' '%s' 2>&1 </dev/null",
               PM_BINARY, config_arg(tmp), out, in);
    printf("%s", text);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(text, "DEBUG convert timeline:"));
    assert_non_null(strstr(text, "] task="));
    free(text);
}

static void bad_command_lines_exit_two(void **state)
{
    const char *tmp = *state;
    static const char *const args[] = {
        "",                 /* no input */
        "--jobs 0 x.tif",   /* out of range */
        "--jobs abc x.tif", /* not a number */
        "--jobs 257 x.tif", /* out of range */
        "--no-such-option x.tif",
        "--profile nosuch x.tif",
    };
    char out[512];
    struct stat st;

    for (size_t i = 0; i < sizeof(args) / sizeof(*args); i++) {
        int rc = t_run(NULL,
                       "cd '%s' && '%s' convert --out '%s/out' %s "
                       ">/dev/null 2>&1",
                       tmp, PM_BINARY, tmp, args[i]);
        printf("# convert %s: exit %d\n", args[i], rc);
        assert_int_equal(rc, 2);
    }
    /* Nothing was written for a command that was refused. */
    snprintf(out, sizeof(out), "%s/out", tmp);
    assert_int_equal(stat(out, &st), -1);
    assert_no_leftovers(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(corrupt_page_found_when_counting,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(corrupt_page_found_when_decoding,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(good_inputs_exit_zero, t_tmpdir_setup,
                                        t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(incredible_resolution_page_size,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(untagged_page_resolution_is_estimated,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(
            missing_language_is_refused_before_any_page, t_tmpdir_setup,
            t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(pdfa_1b_profile_passes_pdfbox_preflight,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(german_page_reads_as_german,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(workers_start_before_the_scan,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(progress_on_a_terminal_only,
                                        t_tmpdir_setup, t_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(bad_command_lines_exit_two,
                                        t_tmpdir_setup, t_tmpdir_teardown),
    };

    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
