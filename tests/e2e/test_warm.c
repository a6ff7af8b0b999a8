/*
 * test_warm.c: `pagemill serve` workers load Tesseract before their first
 * page and keep it across jobs (pipeline/serve.c, workers/engine.c). The
 * service has two profiles with different languages; batches of both are
 * dropped together, so the fair claim hands each worker pages of both
 * jobs in turn. No page may wait for Tesseract to load: the scheduler's
 * log line of a page that did says "(engine start N ms)", from the time
 * the worker reports apart from the page's stages. The same holds for a
 * profile a reload (SIGHUP) adds.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <leptonica/allheaders.h>

#include "lib/servelib.h"
#include "pipeline/base/pm.h"

#define DEADLINE_S   300.0 /* a loaded 2-core machine, four small pages */
#define PAGE_TIMEOUT 120

/* A small page (3 x 3 in at 300 dpi, G4) with two lines of text. */
static void small_page(const char *dst, const char *a, const char *b)
{
    PIX *pix = t_text_page(900, 900, 300, (const char *const[]){a, b, NULL});

    assert_non_null(pix);
    assert_int_equal(pixWrite(dst, pix, IFF_TIFF_G4), 0);
    pixDestroy(&pix);
}

/* Batch `name` of two pages in the scans folder, batch.ini `ini` last. */
static void drop(const sv_fx_t *f, const char *name, const char *ini)
{
    char path[700];

    snprintf(path, sizeof(path), "%s/.%s", f->scans, name);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/.%s/p1.tif", f->scans, name);
    small_page(path, "THE QUICK BROWN FOX", name);
    snprintf(path, sizeof(path), "%s/.%s/p2.tif", f->scans, name);
    small_page(path, "JUMPS OVER THE LAZY DOG", name);
    snprintf(path, sizeof(path), "%s/.%s/batch.ini", f->scans, name);
    sv_write_text(path, ini);
}

static void appear(const sv_fx_t *f, const char *name)
{
    char from[700], to[700];

    snprintf(from, sizeof(from), "%s/.%s", f->scans, name);
    snprintf(to, sizeof(to), "%s/%s", f->scans, name);
    assert_int_equal(rename(from, to), 0);
}

/* Lines of the service's log with `text`, and how many. */
static int count_lines(const char *log, const char *text, const char *also)
{
    int n = 0;

    for (const char *l = log; l != NULL && *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        const char *hit = strstr(l, text);

        if (hit != NULL && hit < l + len) {
            const char *h2 = also ? strstr(l, also) : l;

            n += h2 != NULL && h2 < l + len;
        }
        l = end ? end + 1 : NULL;
    }
    return n;
}

static void no_page_waits_for_tesseract(void **state)
{
    sv_fx_t f;
    char *log;

    (void)state;
    assert_int_equal(sv_fx_init(&f, t_tmpdir()), 0);
    assert_int_equal(sv_write_config(&f, PAGE_TIMEOUT,
                                     "\n[profile german]\n"
                                     "languages = deu+eng\n\n"),
                     0);
    sv_cli_ok(&f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(&f, "workorder add WO-1 --account ACME");
    drop(&f, "WO-1_en", "");
    drop(&f, "WO-1_de", "profile = german\n");
    sv_start(&f);
    sv_wait_log(&f, " serve started as ", DEADLINE_S);
    appear(&f, "WO-1_en");
    appear(&f, "WO-1_de");
    sv_wait_job(&f, "WO-1_en", "done", DEADLINE_S);
    sv_wait_job(&f, "WO-1_de", "done", DEADLINE_S);
    log = t_slurp(f.log);
    assert_non_null(log);
    assert_int_equal(count_lines(log, " sched ", " done (attempt "), 4);
    if (count_lines(log, " sched ", "(engine start ") != 0) {
        fprintf(stderr, "%s", log);
        fail_msg("a page waited for Tesseract to load (log above)");
    }
    pm_free(log);
    assert_int_equal(sv_fx_fini(&f, PAGE_TIMEOUT + 10), 0);
}

/* A profile added by a reload (SIGHUP): the workers load its languages
 * when the reload is applied, not when its first page comes. */
static void a_reloaded_profile_is_loaded_at_reload(void **state)
{
    sv_fx_t f;
    char *log;

    (void)state;
    assert_int_equal(sv_fx_init(&f, t_tmpdir()), 0);
    assert_int_equal(sv_write_config(&f, PAGE_TIMEOUT, ""), 0);
    sv_cli_ok(&f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(&f, "workorder add WO-1 --account ACME");
    drop(&f, "WO-1_de", "profile = german\n");
    sv_start(&f);
    sv_wait_log(&f, " serve started as ", DEADLINE_S);
    assert_int_equal(sv_write_config(&f, PAGE_TIMEOUT,
                                     "\n[profile german]\n"
                                     "languages = deu+eng\n\n"),
                     0);
    assert_int_equal(kill(f.pid, SIGHUP), 0);
    sv_wait_log(&f, " configuration reloaded from ", DEADLINE_S);
    appear(&f, "WO-1_de");
    sv_wait_job(&f, "WO-1_de", "done", DEADLINE_S);
    log = t_slurp(f.log);
    assert_non_null(log);
    assert_int_equal(count_lines(log, " sched ", " done (attempt "), 2);
    if (count_lines(log, " sched ", "(engine start ") != 0) {
        fprintf(stderr, "%s", log);
        fail_msg("a page of the reloaded profile waited for Tesseract to "
                 "load (log above)");
    }
    pm_free(log);
    assert_int_equal(sv_fx_fini(&f, PAGE_TIMEOUT + 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_page_waits_for_tesseract),
        cmocka_unit_test(a_reloaded_profile_is_loaded_at_reload),
    };

    return cmocka_run_group_tests(tests, t_tmpdir_setup, t_tmpdir_teardown);
}
