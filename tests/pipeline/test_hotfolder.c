/*
 * test_hotfolder.c: batch detection and intake moves (pipeline/hotfolder.h)
 * in a temp folder, with real scanned pages from the Tesseract test set as
 * batch content. Settle logic is driven with explicit `now` values; one
 * test writes a file slowly with real mtimes to show that a file still
 * growing is not taken.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <leptonica/allheaders.h>

#include "config/config.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "pipeline/hotfolder.h"
#include "workers/engine.h"

#define PAGE_A "tesseract-test/testing/phototest.tif"
#define PAGE_B "tesseract-test/testing/eurotext.tif"
#define PAGE_C "tesseract-test/testing/deslant.tif"

/* One test's world: <tmp>/hot watched, <tmp>/spool for intake. */
typedef struct world {
    char root[256];
    char hot[300];
    char spool[300];
    pm_config_t *cfg;
    pm_hotfolder_t *hf;
} world_t;

static char pbuf[1024];

/* Formats a path into a static buffer (valid until the next call). */
static const char *at(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static const char *at(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(pbuf, sizeof(pbuf), fmt, ap);
    va_end(ap);
    return pbuf;
}

static int exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static ino_t inode_of(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return st.st_ino;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* Copies a shared-data page to `dst`. */
static void put_page(const char *dst, const char *rel)
{
    unsigned char *data;
    size_t len;
    FILE *f;

    assert_int_equal(pm_read_file(t_data(rel), 1u << 26, &data, &len), 0);
    f = fopen(dst, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    pm_free(data);
}

/* True when the two files hold the same bytes. */
static int same_bytes(const char *a, const char *b)
{
    unsigned char *x, *y;
    size_t nx, ny;
    int same;

    assert_int_equal(pm_read_file(a, 1u << 26, &x, &nx), 0);
    assert_int_equal(pm_read_file(b, 1u << 26, &y, &ny), 0);
    same = nx == ny && memcmp(x, y, nx) == 0;
    pm_free(x);
    pm_free(y);
    return same;
}

/* A folder batch hot/<name> with the given pages (names) copied in. */
static void make_batch(world_t *w, const char *name, const char *const *pages)
{
    static const char *const srcs[] = {PAGE_A, PAGE_B, PAGE_C};
    char dir[600];

    snprintf(dir, sizeof(dir), "%s/%s", w->hot, name);
    assert_int_equal(pm_mkdir_p(dir), 0);
    for (int i = 0; pages != NULL && pages[i] != NULL; i++)
        put_page(at("%s/%s", dir, pages[i]), srcs[i % 3]);
}

/* Sets up the world; `keys` are extra [hotfolder scans] lines. The
 * configuration file also defines [profile colour]. */
static void world_open(world_t *w, const char *keys)
{
    char conf[400], text[2048];
    char *errors = NULL;

    t_require_data();
    memset(w, 0, sizeof(*w));
    snprintf(w->root, sizeof(w->root), "%s", t_tmpdir());
    snprintf(w->hot, sizeof(w->hot), "%s/hot", w->root);
    snprintf(w->spool, sizeof(w->spool), "%s/spool", w->root);
    assert_int_equal(pm_mkdir_p(w->hot), 0);
    snprintf(conf, sizeof(conf), "%s/pagemill.ini", w->root);
    snprintf(text, sizeof(text),
             "[pagemill]\nspool = %s\n[hotfolder scans]\npath = %s\n"
             "account = ACME\n%s\n[profile colour]\ncolor_mode = auto\n",
             w->spool, w->hot, keys);
    write_text(conf, text);
    if (pm_config_load(conf, &w->cfg, &errors) != 0)
        fail_msg("config refused:\n%s", errors);
    assert_int_equal(pm_hotfolder_open(w->cfg, &w->cfg->hotfolders[0], &w->hf),
                     0);
}

static void world_close(world_t *w)
{
    pm_hotfolder_close(w->hf);
    pm_config_free(w->cfg);
    t_tmpdir_cleanup();
}

/* Scans at `now`; asserts `want` batches came back. */
static pm_batch_t *scan(world_t *w, int64_t now, size_t want)
{
    pm_batch_t *list = (pm_batch_t *)1;
    size_t n = 99;

    assert_int_equal(pm_hotfolder_scan(w->hf, now, &list, &n), 0);
    if (n != want)
        fail_msg("scan at %lld: %zu batches, wanted %zu", (long long)now, n,
                 want);
    if (want == 0)
        assert_null(list);
    return list;
}

/* ---- completeness ---- */

static void marker_mode_waits_for_the_marker(void **state)
{
    static const char *const pages[] = {"p0001.tif", "p0002.tif", NULL};
    world_t w;
    pm_batch_t *b;

    (void)state;
    world_open(&w, "");
    make_batch(&w, "WO-2026-0142", pages);
    scan(&w, 0, 0); /* no marker yet */
    scan(&w, 100000, 0);

    write_text(at("%s/WO-2026-0142/batch.ini", w.hot), "");
    b = scan(&w, 100001, 1);
    assert_null(b->error);
    assert_null(b->next);
    assert_string_equal(b->name, "WO-2026-0142");
    assert_string_equal(b->path, at("%s/WO-2026-0142", w.hot));
    assert_int_equal(b->is_file, 0);
    assert_string_equal(b->work_order, "WO-2026-0142");
    assert_string_equal(b->account, "ACME"); /* the hot folder's */
    assert_string_equal(b->profile, "default");
    assert_null(b->operator_name);
    assert_null(b->notes);
    assert_int_equal(b->expected_pages, -1);
    assert_int_equal(b->nfiles, 2);
    assert_string_equal(b->files[0], at("%s/WO-2026-0142/p0001.tif", w.hot));
    assert_string_equal(b->files[1], at("%s/WO-2026-0142/p0002.tif", w.hot));
    pm_batch_free_list(b);
    world_close(&w);
}

/* A marker with another name; batch.ini is still read for metadata. */
static void marker_can_have_another_name(void **state)
{
    static const char *const pages[] = {"a.tif", NULL};
    world_t w;
    pm_batch_t *b;

    (void)state;
    world_open(&w, "marker = READY");
    make_batch(&w, "WO-7_x", pages);
    write_text(at("%s/WO-7_x/batch.ini", w.hot), "operator = Ann\n");
    scan(&w, 0, 0); /* batch.ini alone does not complete it */
    write_text(at("%s/WO-7_x/READY", w.hot), "");
    b = scan(&w, 1, 1);
    assert_null(b->error);
    assert_string_equal(b->operator_name, "Ann");
    assert_int_equal(b->nfiles, 1);
    pm_batch_free_list(b);
    world_close(&w);
}

static void settle_mode_needs_two_quiet_scans(void **state)
{
    static const char *const pages[] = {"1.tif", "2.tif", NULL};
    world_t w;
    pm_batch_t *b;

    (void)state;
    world_open(&w, "marker = none\nsettle_seconds = 30");
    make_batch(&w, "WO-2026-0300", pages);
    scan(&w, 1000, 0); /* first sight: the clock starts */
    scan(&w, 1010, 0);
    scan(&w, 1029, 0); /* 29 s quiet: not yet */
    b = scan(&w, 1030, 1);
    assert_null(b->error);
    assert_int_equal(b->nfiles, 2);
    pm_batch_free_list(b);
    world_close(&w);
}

/* Appends bytes to `path` and moves its mtime on by `secs` seconds. */
static void grow(const char *path, int secs)
{
    struct stat st;
    struct timespec ts[2];
    FILE *f = fopen(path, "ab");

    assert_non_null(f);
    fputs("more bytes", f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(stat(path, &st), 0);
    ts[0] = st.st_atim;
    ts[1] = st.st_mtim;
    ts[1].tv_sec += secs;
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Any change (a file growing, a file added) starts the clock again. */
static void settle_clock_restarts_on_change(void **state)
{
    static const char *const pages[] = {"1.tif", NULL};
    world_t w;
    pm_batch_t *b;

    (void)state;
    world_open(&w, "marker = none\nsettle_seconds = 30");
    make_batch(&w, "WO-2026-0301", pages);
    scan(&w, 0, 0);
    grow(at("%s/WO-2026-0301/1.tif", w.hot), 1);
    scan(&w, 40, 0); /* changed since the last scan: clock at 40 */
    grow(at("%s/WO-2026-0301/1.tif", w.hot), 1);
    scan(&w, 80, 0);
    put_page(at("%s/WO-2026-0301/2.tif", w.hot), PAGE_B);
    scan(&w, 120, 0); /* a new page */
    scan(&w, 149, 0);
    b = scan(&w, 150, 1);
    assert_int_equal(b->nfiles, 2);
    pm_batch_free_list(b);
    world_close(&w);
}

/* A settle-mode folder with nothing to take in it is not a batch yet:
 * operators create the folder, then copy into it. */
static void settle_mode_empty_folder_waits(void **state)
{
    world_t w;

    (void)state;
    world_open(&w, "marker = none\nsettle_seconds = 30");
    make_batch(&w, "WO-2026-0302", NULL);
    write_text(at("%s/WO-2026-0302/.DS_Store", w.hot), "finder");
    scan(&w, 0, 0);
    scan(&w, 1000, 0);
    world_close(&w);
}

static int64_t mono_seconds(void)
{
    return (int64_t)(pm_now_ms() / 1000.0);
}

/* The one real-time test: a multi-page TIFF arriving slowly (a copy over
 * a network share) is not taken while it grows, and is taken whole. */
static void growing_file_is_not_taken(void **state)
{
    world_t w;
    unsigned char *data;
    size_t len, done = 0, chunk;
    const char *path;
    pm_batch_t *b = NULL;
    FILE *f;
    struct stat st;

    (void)state;
    world_open(&w, "settle_seconds = 3");
    assert_int_equal(pm_read_file(t_data(PAGE_B), 1u << 26, &data, &len), 0);
    chunk = len / 6 + 1;
    path = at("%s/WO-2026-0400.tif", w.hot);
    f = fopen(path, "wb");
    assert_non_null(f);
    /* Six chunks 0.5 s apart (~3 s), scanning every 0.25 s: two scans
     * see the same size, but never 3 s apart (a margin for a loaded
     * machine oversleeping). */
    while (done < len) {
        size_t n = len - done < chunk ? len - done : chunk;

        assert_int_equal(fwrite(data + done, 1, n, f), n);
        assert_int_equal(fflush(f), 0);
        done += n;
        for (int i = 0; i < 2; i++) {
            usleep(250 * 1000);
            scan(&w, mono_seconds(), 0);
        }
    }
    assert_int_equal(fclose(f), 0);
    for (int i = 0; i < 40 && b == NULL; i++) { /* now it settles */
        size_t n;

        usleep(250 * 1000);
        assert_int_equal(pm_hotfolder_scan(w.hf, mono_seconds(), &b, &n), 0);
    }
    assert_non_null(b);
    assert_null(b->error);
    assert_int_equal(stat(b->files[0], &st), 0);
    assert_int_equal((size_t)st.st_size, len);
    pm_free(data);
    pm_batch_free_list(b);
    world_close(&w);
}

/* ---- what is never taken ---- */

static void hidden_and_temp_files_are_never_taken(void **state)
{
    static const char *const top[] = {
        "~$WO-2026-0001.tif",      "WO-2026-0002.tif.part",
        "WO-2026-0003.tmp",        "WO-2026-0004.tif~",
        "WO-2026-0005.crdownload", ".WO-2026-0006.tif",
        "WO-2026-0007.TMP",        "notes.txt",
    };
    static const char *const inside[] = {
        "p1.tif",  ".p0.tif", "p2.tif.part",       "~$p3.tif",
        "p4.tif~", "p5.TMP",  "p6.tif.crdownload",
    };
    static const char *const pages[] = {"p1.tif", NULL};
    world_t w;
    pm_batch_t *b;

    (void)state;
    world_open(&w, "");
    for (size_t i = 0; i < sizeof(top) / sizeof(*top); i++)
        put_page(at("%s/%s", w.hot, top[i]), PAGE_A);
    make_batch(&w, ".WO-2026-0008", pages); /* hidden folder */
    write_text(at("%s/.WO-2026-0008/batch.ini", w.hot), "");
    make_batch(&w, "_rejected/WO-2026-0009", pages);
    write_text(at("%s/_rejected/WO-2026-0009/batch.ini", w.hot), "");
    make_batch(&w, "WO-2026-0010", NULL);
    for (size_t i = 0; i < sizeof(inside) / sizeof(*inside); i++)
        put_page(at("%s/WO-2026-0010/%s", w.hot, inside[i]), PAGE_A);
    write_text(at("%s/WO-2026-0010/batch.ini", w.hot), "");

    b = scan(&w, 0, 1);
    assert_string_equal(b->name, "WO-2026-0010");
    assert_null(b->error);
    assert_int_equal(b->nfiles, 1);
    assert_string_equal(b->files[0], at("%s/WO-2026-0010/p1.tif", w.hot));
    pm_batch_free_list(b);
    scan(&w, 1000, 0); /* long after any settle time: still nothing */
    scan(&w, 2000000, 0);
    world_close(&w);
}

/* ---- single-file batches ---- */

/* Writes a 3-page TIFF of real pages to `path`. */
static void make_multipage(const char *path)
{
    static const char *const srcs[] = {PAGE_A, PAGE_B, PAGE_C};
    l_int32 count = 0;
    FILE *f;

    for (int i = 0; i < 3; i++) {
        PIX *pix = pixRead(t_data(srcs[i]));

        assert_non_null(pix);
        assert_int_equal(pixWriteTiff(path, pix, IFF_TIFF_ZIP, i ? "a" : "w"),
                         0);
        pixDestroy(&pix);
    }
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(tiffGetCount(f, &count), 0);
    fclose(f);
    assert_int_equal(count, 3);
}

static void single_multipage_file_is_one_batch(void **state)
{
    world_t w;
    pm_batch_t *b;
    const char *path;

    (void)state;
    world_open(&w, ""); /* marker mode: a file is still judged by settle */
    path = at("%s/WO-2026-0142_box17.tif", w.hot);
    make_multipage(path);
    scan(&w, 0, 0);
    scan(&w, 29, 0);
    b = scan(&w, 30, 1);
    assert_null(b->error);
    assert_int_equal(b->is_file, 1);
    assert_string_equal(b->name, "WO-2026-0142_box17.tif");
    assert_string_equal(b->path, at("%s/WO-2026-0142_box17.tif", w.hot));
    assert_string_equal(b->work_order, "WO-2026-0142");
    assert_string_equal(b->account, "ACME");
    assert_int_equal(b->expected_pages, -1);
    assert_int_equal(b->nfiles, 1);
    assert_string_equal(b->files[0], b->path);
    pm_batch_free_list(b);
    world_close(&w);
}

/* ---- batch.ini ---- */

static void batch_ini_overrides_the_defaults(void **state)
{
    static const char *const pages[] = {"1.tif", "2.tif", "3.tif", NULL};
    world_t w;
    pm_batch_t *b;

    (void)state;
    world_open(&w, "");
    /* The name is no work order, but batch.ini gives one. */
    make_batch(&w, "Box 17 from the basement", pages);
    write_text(at("%s/Box 17 from the basement/batch.ini", w.hot),
               "; written by the scan station\n"
               "[batch]\n"
               "work_order = WO-2026-0999\n"
               "account = CITY-ARCHIVE\n"
               "operator = Jo Smith\n"
               "expected_pages = 3\n"
               "profile = colour\n"
               "notes = fragile, \xc3\xa9t\xc3\xa9 1987\n");
    b = scan(&w, 0, 1);
    if (b->error != NULL)
        fail_msg("unexpected error: %s", b->error);
    assert_string_equal(b->work_order, "WO-2026-0999");
    assert_string_equal(b->account, "CITY-ARCHIVE");
    assert_string_equal(b->operator_name, "Jo Smith");
    assert_int_equal(b->expected_pages, 3);
    assert_string_equal(b->profile, "colour");
    assert_string_equal(b->notes, "fragile, \xc3\xa9t\xc3\xa9 1987");
    assert_null(b->what_to_do);
    pm_batch_free_list(b);
    world_close(&w);
}

/* Fails unless `error` has a line starting with `want`. */
static void expect_line(const char *error, const char *want)
{
    for (const char *l = error; l != NULL && *l;) {
        if (strncmp(l, want, strlen(want)) == 0)
            return;
        l = strchr(l, '\n');
        if (l != NULL)
            l++;
    }
    fail_msg("no line '%s...' in:\n%s", want, error);
}

static void batch_ini_errors_name_their_lines(void **state)
{
    static const char *const pages[] = {"1.tif", NULL};
    world_t w;
    pm_batch_t *b;

    (void)state;
    world_open(&w, "");
    make_batch(&w, "WO-2026-0500", pages);
    write_text(at("%s/WO-2026-0500/batch.ini", w.hot),
               "; comment\n"               /* 1 */
               "expected_pages = many\n"   /* 2 */
               "colour = red\n"            /* 3 */
               "[other]\n"                 /* 4 */
               "x = 1\n"                   /* 5 */
               "[batch]\n"                 /* 6 */
               "profile = nosuch\n"        /* 7 */
               "work_order = WO 2026\n"    /* 8 */
               "operator = Jo \xff\n"      /* 9: not UTF-8 */
               "expected_pages = 0\n"      /* 10 */
               "this line has no equals\n" /* 11 */
               "account =\n");             /* 12 */
    b = scan(&w, 0, 1);
    assert_non_null(b->error);
    fprintf(stderr, "%s\n", b->error);
    expect_line(b->error, "batch.ini:2: expected_pages: ");
    expect_line(b->error, "batch.ini:3: colour: unknown key");
    expect_line(b->error, "batch.ini:5: [other] x: ");
    expect_line(b->error, "batch.ini:7: profile: ");
    expect_line(b->error, "batch.ini:8: work_order: ");
    expect_line(b->error, "batch.ini:9: not valid UTF-8");
    expect_line(b->error, "batch.ini:10: expected_pages: ");
    expect_line(b->error, "batch.ini:11: syntax error");
    expect_line(b->error, "batch.ini:12: account: ");
    assert_true(pm_utf8_valid(b->error));
    assert_non_null(b->what_to_do);
    assert_non_null(strstr(b->what_to_do, "batch.ini"));
    /* The name still gives the work order. */
    assert_string_equal(b->work_order, "WO-2026-0500");
    assert_int_equal(b->expected_pages, -1);
    pm_batch_free_list(b);
    world_close(&w);
}

/* A marker that cannot be read (here a folder named batch.ini: the tests
 * run as root, so permissions would not stop a read). */
static void unreadable_marker_is_an_error(void **state)
{
    static const char *const pages[] = {"1.tif", NULL};
    world_t w;
    pm_batch_t *b;

    (void)state;
    world_open(&w, "");
    make_batch(&w, "WO-2026-0501", pages);
    assert_int_equal(pm_mkdir_p(at("%s/WO-2026-0501/batch.ini", w.hot)), 0);
    b = scan(&w, 0, 1);
    assert_non_null(b->error);
    expect_line(b->error, "batch.ini: cannot read");
    pm_batch_free_list(b);
    world_close(&w);
}

/* ---- names and pages ---- */

static void pages_are_in_natural_order(void **state)
{
    static const char *const pages[] = {
        "p10.tif", "p9.TIF",    "p100.tiff", "p1.tif",
        "p2.png",  "notes.txt", "p11.jpg",   NULL,
    };
    static const char *const want[] = {"p1.tif",  "p2.png",  "p9.TIF",
                                       "p10.tif", "p11.jpg", "p100.tiff"};
    world_t w;
    pm_batch_t *b;

    (void)state;
    world_open(&w, "");
    make_batch(&w, "WO-2026-0600", pages);
    write_text(at("%s/WO-2026-0600/batch.ini", w.hot), "");
    b = scan(&w, 0, 1);
    assert_null(b->error);
    assert_int_equal(b->nfiles, 6); /* notes.txt and batch.ini are not */
    for (int i = 0; i < 6; i++)
        assert_string_equal(b->files[i],
                            at("%s/WO-2026-0600/%s", w.hot, want[i]));
    pm_batch_free_list(b);
    world_close(&w);
}

static void folder_without_images_is_an_error(void **state)
{
    static const char *const pages[] = {"scan-notes.txt", NULL};
    world_t w;
    pm_batch_t *b;

    (void)state;
    world_open(&w, "");
    make_batch(&w, "WO-2026-0700", pages);
    write_text(at("%s/WO-2026-0700/batch.ini", w.hot), "");
    b = scan(&w, 0, 1);
    assert_non_null(b->error);
    assert_non_null(strstr(b->error, "no page images"));
    assert_non_null(b->what_to_do);
    assert_int_equal(b->nfiles, 0);
    pm_batch_free_list(b);
    world_close(&w);
}

/* A section name longer than the parser keeps is cut in the middle of
 * a character; the error naming it must still be valid UTF-8 (it goes
 * into JSON). Found by fuzz_batch. */
static void long_section_name_error_is_utf8(void **state)
{
    static const char *const pages[] = {"1.tif", NULL};
    world_t w;
    pm_batch_t *b;

    (void)state;
    world_open(&w, "");
    make_batch(&w, "WO-2026-0501", pages);
    write_text(at("%s/WO-2026-0501/batch.ini", w.hot),
               "[section_name_of_exactly_forty_eight_bytes_xxxxxx\xcf\xa4h]\n"
               "x = 1\n");
    b = scan(&w, 0, 1);
    assert_non_null(b->error);
    expect_line(b->error, "batch.ini:2: [section_name_of_exactly");
    assert_true(pm_utf8_valid(b->error));
    pm_batch_free_list(b);
    world_close(&w);
}

static void non_utf8_file_name_is_an_error(void **state)
{
    static const char *const pages[] = {"p1.tif", "p\xff\xfe.tif", NULL};
    world_t w;
    pm_batch_t *b;

    (void)state;
    world_open(&w, "");
    make_batch(&w, "WO-2026-0800", pages);
    write_text(at("%s/WO-2026-0800/batch.ini", w.hot), "");
    b = scan(&w, 0, 1);
    assert_non_null(b->error);
    fprintf(stderr, "%s\n", b->error);
    assert_non_null(strstr(b->error, "not valid UTF-8: 'p\\xff\\xfe.tif'"));
    assert_true(pm_utf8_valid(b->error)); /* it goes into JSON */
    assert_int_equal(b->nfiles, 1);
    pm_batch_free_list(b);
    world_close(&w);
}

/* Names: a work order, an optional _label; anything else is an error. */
static void batch_names_give_the_work_order(void **state)
{
    static const char *const pages[] = {"1.tif", NULL};
    world_t w;
    pm_batch_t *b, *x;

    (void)state;
    world_open(&w, "marker = none\nsettle_seconds = 1");
    make_batch(&w, "WO-2026-0142_box17_part_2", pages);
    make_batch(&w, "WO-2026-0143_", pages);
    make_batch(&w, "WO 2026 0144", pages);
    make_batch(&w, "WO-2026-0145.final", pages);
    put_page(at("%s/_WO-2026-0146.tif", w.hot), PAGE_A);
    scan(&w, 0, 0);
    b = scan(&w, 1, 5);
    x = b; /* sorted by name: "WO 2026...", "WO-2026-0142...", ... */
    assert_string_equal(x->name, "WO 2026 0144");
    assert_non_null(strstr(x->error, "name does not start with a work order"));
    x = x->next;
    assert_null(x->error);
    assert_string_equal(x->work_order, "WO-2026-0142");
    x = x->next;
    assert_null(x->error);
    assert_string_equal(x->work_order, "WO-2026-0143");
    x = x->next;
    assert_string_equal(x->name, "WO-2026-0145.final");
    assert_non_null(x->error);
    assert_null(x->work_order);
    x = x->next;
    assert_string_equal(x->name, "_WO-2026-0146.tif");
    assert_non_null(x->error);
    assert_null(x->next);
    pm_batch_free_list(b);
    world_close(&w);
}

/* ---- returned once ---- */

static void a_batch_is_not_returned_twice(void **state)
{
    static const char *const pages[] = {"1.tif", NULL};
    world_t w;
    pm_batch_t *folder, *file;
    char *spooled = NULL;

    (void)state;
    world_open(&w, "");
    make_batch(&w, "WO-2026-0900", pages);
    write_text(at("%s/WO-2026-0900/batch.ini", w.hot), "");
    put_page(at("%s/WO-2026-0901.tif", w.hot), PAGE_B);
    folder = scan(&w, 0, 1); /* the folder has its marker; the file waits */
    assert_string_equal(folder->name, "WO-2026-0900");
    scan(&w, 1, 0);
    file = scan(&w, 30, 1); /* only the file, now settled */
    assert_string_equal(file->name, "WO-2026-0901.tif");
    scan(&w, 1000, 0);
    scan(&w, 100000, 0);

    /* Forgotten (say a take failed and will be retried): judged afresh. */
    pm_hotfolder_forget(w.hf, folder);
    pm_batch_free_list(scan(&w, 100001, 1));
    assert_int_equal(pm_hotfolder_take(w.hf, file, w.spool, &spooled), 0);
    scan(&w, 100002, 0);
    pm_free(spooled);
    pm_batch_free_list(folder);
    pm_batch_free_list(file);
    world_close(&w);
}

/* ---- take ---- */

static void take_moves_by_rename(void **state)
{
    static const char *const pages[] = {"p1.tif", "p2.tif", "p3.tif", NULL};
    world_t w;
    pm_batch_t *b;
    char *spooled = (char *)1;
    char orig[3][700];
    ino_t ino;

    (void)state;
    world_open(&w, "");
    make_batch(&w, "WO-2026-1000_box1", pages);
    write_text(at("%s/WO-2026-1000_box1/batch.ini", w.hot), "notes = x\n");
    /* Copies of the pages outside the hot folder, to compare with. */
    for (int i = 0; i < 3; i++) {
        snprintf(orig[i], sizeof(orig[i]), "%s/orig%d.tif", w.root, i);
        put_page(orig[i], i == 0 ? PAGE_A : i == 1 ? PAGE_B : PAGE_C);
    }
    ino = inode_of(at("%s/WO-2026-1000_box1", w.hot));
    b = scan(&w, 0, 1);
    assert_int_equal(pm_hotfolder_take(w.hf, b, w.spool, &spooled), 0);
    assert_non_null(spooled);
    fprintf(stderr, "spooled: %s\n", spooled);
    assert_false(exists(at("%s/WO-2026-1000_box1", w.hot)));
    assert_int_equal(strncmp(spooled, w.spool, strlen(w.spool)), 0);
    assert_non_null(strstr(spooled, "/WO-2026-1000_box1."));
    assert_int_equal(inode_of(spooled), ino); /* renamed, not copied */
    assert_string_equal(b->path, spooled);
    assert_int_equal(b->nfiles, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(b->files[i], at("%s/p%d.tif", spooled, i + 1));
        assert_true(same_bytes(b->files[i], orig[i]));
    }
    assert_true(exists(at("%s/batch.ini", spooled)));
    scan(&w, 1, 0); /* gone from the hot folder, nothing to return */
    pm_free(spooled);
    pm_batch_free_list(b);
    world_close(&w);
}

static void take_single_file_into_a_folder(void **state)
{
    world_t w;
    pm_batch_t *b;
    char *spooled = NULL;
    ino_t ino;

    (void)state;
    world_open(&w, "");
    make_multipage(at("%s/WO-2026-1001.tif", w.hot));
    ino = inode_of(at("%s/WO-2026-1001.tif", w.hot));
    scan(&w, 0, 0);
    b = scan(&w, 30, 1);
    assert_int_equal(pm_hotfolder_take(w.hf, b, w.spool, &spooled), 0);
    assert_false(exists(at("%s/WO-2026-1001.tif", w.hot)));
    assert_string_equal(b->files[0], at("%s/WO-2026-1001.tif", spooled));
    assert_int_equal(inode_of(b->files[0]), ino);
    assert_string_equal(b->path, spooled);
    pm_free(spooled);
    pm_batch_free_list(b);
    world_close(&w);
}

/* Two batches with one name taken the same second get distinct folders. */
static void take_never_overwrites(void **state)
{
    static const char *const pages[] = {"1.tif", NULL};
    world_t w;
    pm_batch_t *b1, *b2;
    char *s1 = NULL, *s2 = NULL;

    (void)state;
    world_open(&w, "");
    for (int i = 0; i < 2; i++) {
        make_batch(&w, "WO-2026-1002", pages);
        write_text(at("%s/WO-2026-1002/batch.ini", w.hot), "");
        if (i == 0) {
            b1 = scan(&w, 0, 1);
            assert_int_equal(pm_hotfolder_take(w.hf, b1, w.spool, &s1), 0);
        } else {
            b2 = scan(&w, 0, 1);
            assert_int_equal(pm_hotfolder_take(w.hf, b2, w.spool, &s2), 0);
        }
    }
    assert_string_not_equal(s1, s2);
    assert_true(exists(at("%s/1.tif", s1)));
    assert_true(exists(at("%s/1.tif", s2)));
    pm_free(s1);
    pm_free(s2);
    pm_batch_free_list(b1);
    pm_batch_free_list(b2);
    world_close(&w);
}

/* A spool on another filesystem: -EXDEV, and nothing moved or copied. */
static void take_across_filesystems_is_exdev(void **state)
{
    static const char *const pages[] = {"1.tif", NULL};
    world_t w;
    pm_batch_t *b;
    char other[64], *spooled = (char *)1;
    struct stat a, s;
    int rc;

    (void)state;
    world_open(&w, "");
    snprintf(other, sizeof(other), "/dev/shm/pmtest-spool.XXXXXX");
    if (mkdtemp(other) == NULL || stat(other, &s) != 0 ||
        stat(w.hot, &a) != 0 || a.st_dev == s.st_dev) {
        world_close(&w);
        skip(); /* no second filesystem here */
    }
    make_batch(&w, "WO-2026-1100", pages);
    write_text(at("%s/WO-2026-1100/batch.ini", w.hot), "");
    b = scan(&w, 0, 1);
    rc = pm_hotfolder_take(w.hf, b, other, &spooled);
    assert_int_equal(rc, -EXDEV);
    assert_null(spooled);
    assert_true(exists(at("%s/WO-2026-1100/1.tif", w.hot)));
    assert_string_equal(b->path, at("%s/WO-2026-1100", w.hot));
    assert_int_equal(rmdir(other), 0); /* empty: no reserved folder left */
    pm_batch_free_list(b);
    world_close(&w);
}

/* ---- reject ---- */

static void reject_writes_error_txt_and_keeps_files(void **state)
{
    static const char *const pages[] = {"scan-notes.txt", NULL};
    world_t w;
    pm_batch_t *b;
    char *text;
    char orig[700];

    (void)state;
    world_open(&w, "");
    make_batch(&w, "WO-2026-1200", pages);
    write_text(at("%s/WO-2026-1200/batch.ini", w.hot), "operator = Jo\n");
    snprintf(orig, sizeof(orig), "%s/orig.txt", w.root);
    put_page(orig, PAGE_A);
    b = scan(&w, 0, 1);
    assert_non_null(b->error); /* no images */
    assert_int_equal(pm_hotfolder_reject(w.hf, b, NULL, NULL), 0);

    assert_false(exists(at("%s/WO-2026-1200", w.hot)));
    assert_true(same_bytes(
        at("%s/_rejected/WO-2026-1200/scan-notes.txt", w.hot), orig));
    assert_true(exists(at("%s/_rejected/WO-2026-1200/batch.ini", w.hot)));
    text = t_slurp(at("%s/_rejected/WO-2026-1200/ERROR.txt", w.hot));
    assert_non_null(text);
    fprintf(stderr, "%s", text);
    assert_non_null(strstr(text, "Batch:      WO-2026-1200\n"));
    assert_non_null(strstr(text, "no page images"));
    assert_non_null(strstr(text, b->what_to_do));
    assert_non_null(strstr(text, "Rejected:   20")); /* a UTC time */
    assert_non_null(strstr(text, "Z\n"));
    pm_free(text);
    scan(&w, 1, 0); /* _rejected is never a batch */
    pm_batch_free_list(b);
    world_close(&w);
}

/* The coordinator's own reason (a page count that does not match) for a
 * single-file batch: the file goes inside _rejected/<name>/. */
static void reject_single_file_with_a_reason(void **state)
{
    world_t w;
    pm_batch_t *b;
    char *text;
    ino_t ino;

    (void)state;
    world_open(&w, "");
    put_page(at("%s/WO-2026-1201_b.tif", w.hot), PAGE_B);
    ino = inode_of(at("%s/WO-2026-1201_b.tif", w.hot));
    scan(&w, 0, 0);
    b = scan(&w, 30, 1);
    assert_null(b->error);
    assert_int_equal(pm_hotfolder_reject(w.hf, b, "expected 12 pages, found 1",
                                         "Rescan the missing pages."),
                     0);
    assert_int_equal(
        inode_of(at("%s/_rejected/WO-2026-1201_b/WO-2026-1201_b.tif", w.hot)),
        ino);
    text = t_slurp(at("%s/_rejected/WO-2026-1201_b/ERROR.txt", w.hot));
    assert_non_null(text);
    assert_non_null(strstr(text, "expected 12 pages, found 1"));
    assert_non_null(strstr(text, "Rescan the missing pages."));
    assert_non_null(strstr(text, "Work order: WO-2026-1201\n"));
    pm_free(text);
    pm_batch_free_list(b);
    world_close(&w);
}

static void duplicate_reject_names_get_suffixes(void **state)
{
    static const char *const pages[] = {"1.tif", NULL};
    static const char *const dirs[] = {"WO-2026-1300", "WO-2026-1300-2",
                                       "WO-2026-1300-3"};
    world_t w;
    char *text;

    (void)state;
    world_open(&w, "");
    for (int i = 0; i < 3; i++) {
        pm_batch_t *b;

        make_batch(&w, "WO-2026-1300", pages);
        write_text(at("%s/WO-2026-1300/batch.ini", w.hot), "");
        if (i == 2) /* the operator left the last ERROR.txt in */
            write_text(at("%s/WO-2026-1300/ERROR.txt", w.hot), "old report");
        b = scan(&w, 0, 1);
        assert_int_equal(pm_hotfolder_reject(w.hf, b, "why", "what"), 0);
        pm_batch_free_list(b);
    }
    for (int i = 0; i < 3; i++) {
        assert_true(exists(at("%s/_rejected/%s/1.tif", w.hot, dirs[i])));
        assert_true(exists(at("%s/_rejected/%s/ERROR.txt", w.hot, dirs[i])));
    }
    /* Nothing is overwritten: the old report stays beside the new one. */
    text = t_slurp(at("%s/_rejected/WO-2026-1300-3/ERROR.txt", w.hot));
    assert_string_equal(text, "old report");
    pm_free(text);
    assert_true(exists(at("%s/_rejected/WO-2026-1300-3/ERROR-2.txt", w.hot)));
    world_close(&w);
}

/* After a take the coordinator counts frames; a mismatch sends the batch
 * from the spool back to the hot folder's _rejected/. */
static void reject_after_take(void **state)
{
    static const char *const pages[] = {"1.tif", NULL};
    world_t w;
    pm_batch_t *b;
    char *spooled = NULL;

    (void)state;
    world_open(&w, "");
    make_batch(&w, "WO-2026-1400", pages);
    write_text(at("%s/WO-2026-1400/batch.ini", w.hot), "expected_pages = 2\n");
    b = scan(&w, 0, 1);
    assert_int_equal(b->expected_pages, 2);
    assert_int_equal(pm_hotfolder_take(w.hf, b, w.spool, &spooled), 0);
    assert_int_equal(pm_hotfolder_reject(w.hf, b,
                                         "batch.ini says 2 pages, "
                                         "the files hold 1",
                                         NULL),
                     0);
    assert_false(exists(spooled));
    assert_true(exists(at("%s/_rejected/WO-2026-1400/1.tif", w.hot)));
    assert_true(exists(at("%s/_rejected/WO-2026-1400/ERROR.txt", w.hot)));
    pm_free(spooled);
    pm_batch_free_list(b);
    world_close(&w);
}

/* A name near NAME_MAX still moves: the suffixes a move adds must not
 * push the new name past the limit. */
static void long_names_still_move(void **state)
{
    static const char *const pages[] = {"1.tif", NULL};
    world_t w;
    pm_batch_t *b;
    char name[256], *spooled = NULL;

    (void)state;
    world_open(&w, "");
    memset(name, 'x', sizeof(name) - 1);
    memcpy(name, "WO-2026-1600_", 13);
    name[250] = '\0';
    for (int i = 0; i < 2; i++) {
        make_batch(&w, name, pages);
        write_text(at("%s/%s/batch.ini", w.hot, name), "");
        b = scan(&w, 0, 1);
        assert_null(b->error);
        if (i == 0)
            assert_int_equal(pm_hotfolder_take(w.hf, b, w.spool, &spooled), 0);
        else
            assert_int_equal(pm_hotfolder_reject(w.hf, b, "why", "what"), 0);
        assert_false(exists(at("%s/%s", w.hot, name)));
        pm_batch_free_list(b);
    }
    assert_true(exists(at("%s/1.tif", spooled)));
    name[200] = '\0';
    assert_true(exists(at("%s/_rejected/%s/ERROR.txt", w.hot, name)));
    pm_free(spooled);
    world_close(&w);
}

/* ---- the handle ---- */

/* ---- never a file from outside the hot folder ---- */

/* An image outside the hot folder that a link may point at: it must never
 * be taken, moved or changed. */
static const char *make_secret(world_t *w, char path[700])
{
    snprintf(path, 700, "%s/secret.tif", w->root);
    put_page(path, PAGE_C);
    return path;
}

/* Replaces `path` by a symlink to `target`, as an attacker racing intake
 * would between the scan and the take. */
static void swap_for_link(const char *path, const char *target)
{
    char tmp[800];

    snprintf(tmp, sizeof(tmp), "%s.swap~", path);
    assert_int_equal(symlink(target, tmp), 0);
    assert_int_equal(rename(tmp, path), 0);
}

/* The race, made deterministic: a page is swapped for a symlink to a file
 * outside the hot folder after the scan listed it. The take refuses it
 * and moves nothing; the rejection moves the link itself, and the outside
 * file is neither taken nor touched. */
static void take_refuses_a_page_swapped_for_a_link(void **state)
{
    static const char *const pages[] = {"p1.tif", "p2.tif", NULL};
    char secret[700], link[800], *spooled = (char *)1;
    world_t w;
    pm_batch_t *b;
    struct stat st;
    ssize_t n;

    (void)state;
    world_open(&w, "");
    make_secret(&w, secret);
    make_batch(&w, "WO-2026-1700", pages);
    write_text(at("%s/WO-2026-1700/batch.ini", w.hot), "");
    b = scan(&w, 0, 1);
    assert_null(b->error);
    swap_for_link(at("%s/WO-2026-1700/p2.tif", w.hot), secret);

    assert_true(pm_hotfolder_take(w.hf, b, w.spool, &spooled) < 0);
    assert_null(spooled);
    assert_true(exists(at("%s/WO-2026-1700/p1.tif", w.hot)));
    assert_true(!exists(w.spool) || t_count_entries(w.spool) == 0);

    assert_int_equal(pm_hotfolder_reject(w.hf, b, "a page was swapped", NULL),
                     0);
    snprintf(link, sizeof(link), "%s/_rejected/WO-2026-1700/p2.tif", w.hot);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode)); /* the link moved, as a link */
    n = readlink(link, pbuf, sizeof(pbuf) - 1);
    assert_true(n > 0);
    pbuf[n] = '\0';
    assert_string_equal(pbuf, secret);
    assert_true(same_bytes(secret, t_data(PAGE_C)));
    pm_batch_free_list(b);
    world_close(&w);
}

/* How intake opens a page: once, no symlink followed, no FIFO waited on,
 * and only the file the scan listed. */
static void open_page_takes_only_the_file_listed(void **state)
{
    static const char *const pages[] = {"p1.tif", "p2.tif", "p3.tif", NULL};
    char secret[700];
    world_t w;
    pm_batch_t *b;
    int64_t size = -1;
    size_t bad = 99;
    int fd = 99;

    (void)state;
    world_open(&w, "");
    make_secret(&w, secret);
    make_batch(&w, "WO-2026-1701", pages);
    write_text(at("%s/WO-2026-1701/batch.ini", w.hot), "");
    b = scan(&w, 0, 1);
    assert_int_equal(pm_batch_check_pages(b, &bad), 0);
    assert_int_equal(pm_batch_open_page(b, 0, &fd, &size), 0);
    assert_true(fd >= 0);
    assert_int_equal(size, t_file_size(b->files[0]));
    close(fd);

    swap_for_link(b->files[0], secret);
    assert_int_equal(pm_batch_open_page(b, 0, &fd, NULL), -ELOOP);
    assert_int_equal(fd, -1);
    /* Another regular file in its place (here a hard link to one outside
     * the batch: same bytes do not matter, identity does). */
    assert_int_equal(unlink(b->files[1]), 0);
    assert_int_equal(link(secret, b->files[1]), 0);
    assert_int_equal(pm_batch_open_page(b, 1, &fd, NULL), PM_ECHANGED);
    /* A FIFO: refused at once, never waited on. */
    assert_int_equal(unlink(b->files[2]), 0);
    assert_int_equal(mkfifo(b->files[2], 0600), 0);
    assert_int_equal(pm_batch_open_page(b, 2, &fd, NULL), PM_ECHANGED);
    assert_int_equal(pm_batch_check_pages(b, &bad), -ELOOP);
    assert_int_equal(bad, 0);
    pm_batch_free_list(b);
    world_close(&w);
}

/* The page engine (intake's frame count, the worker's decode) never
 * reads a page through a symlink or waits on a FIFO. */
static void engine_never_reads_through_a_link(void **state)
{
    char secret[700], path[700];
    pm_engine_t *eng = t_engine_new();
    pm_profile_t p;
    PIX *pix = NULL;
    world_t w;
    int n = 0, fallback;

    (void)state;
    world_open(&w, "");
    t_profile(&p);
    make_secret(&w, secret);
    snprintf(path, sizeof(path), "%s/link.tif", w.hot);
    assert_int_equal(symlink(secret, path), 0);
    assert_int_equal(pm_load_count_frames(eng, secret, &n), 0);
    assert_true(pm_load_count_frames(eng, path, &n) < 0);
    assert_non_null(strstr(pm_engine_errmsg(eng), "symbolic link"));
    assert_true(pm_load_page(eng, path, 0, &p, &pix, &fallback) < 0);
    assert_null(pix);
    snprintf(path, sizeof(path), "%s/fifo.tif", w.hot);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_true(pm_load_count_frames(eng, path, &n) < 0);
    pm_engine_close(eng);
    world_close(&w);
}

/* A symlink at the top of a hot folder is rejected where people see it:
 * the link itself moves to _rejected/ with ERROR.txt; what it points to
 * (a file or a whole folder) stays where it is, untouched. */
static void link_at_the_top_is_rejected_as_a_link(void **state)
{
    static const char *const pages[] = {"p1.tif", NULL};
    char secret[700], folder[700], moved[800];
    world_t w;
    pm_batch_t *b;
    struct stat st;
    char *text;

    (void)state;
    world_open(&w, "");
    make_secret(&w, secret);
    snprintf(folder, sizeof(folder), "%s/elsewhere", w.root);
    assert_int_equal(pm_mkdir_p(folder), 0);
    put_page(at("%s/p1.tif", folder), PAGE_A);
    write_text(at("%s/batch.ini", folder), "");
    (void)pages;
    assert_int_equal(symlink(secret, at("%s/WO-2026-1800.tif", w.hot)), 0);
    assert_int_equal(symlink(folder, at("%s/WO-2026-1801", w.hot)), 0);
    scan(&w, 0, 0); /* settling, as any single entry does */
    b = scan(&w, 30, 2);
    for (pm_batch_t *x = b; x != NULL; x = x->next) {
        assert_non_null(x->error);
        assert_non_null(strstr(x->error, "symbolic link"));
        assert_int_equal(x->nfiles, 0);
        assert_int_equal(pm_hotfolder_reject(w.hf, x, NULL, NULL), 0);
    }
    snprintf(moved, sizeof(moved), "%s/_rejected/WO-2026-1800/WO-2026-1800.tif",
             w.hot);
    assert_int_equal(lstat(moved, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    snprintf(moved, sizeof(moved), "%s/_rejected/WO-2026-1801/WO-2026-1801",
             w.hot);
    assert_int_equal(lstat(moved, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    text = t_slurp(at("%s/_rejected/WO-2026-1801/ERROR.txt", w.hot));
    assert_non_null(text);
    assert_non_null(strstr(text, "symbolic link"));
    pm_free(text);
    assert_true(same_bytes(secret, t_data(PAGE_C)));
    assert_int_equal(t_count_entries(folder), 2);
    assert_false(exists(at("%s/WO-2026-1800.tif", w.hot)));
    scan(&w, 60, 0);
    pm_batch_free_list(b);
    world_close(&w);
}

/* Two work orders in one batch.ini: refused, never "the last one wins". */
static void duplicate_batch_ini_keys_are_refused(void **state)
{
    static const char *const pages[] = {"p1.tif", NULL};
    world_t w;
    pm_batch_t *b;

    (void)state;
    world_open(&w, "");
    make_batch(&w, "WO-2026-1900", pages);
    write_text(at("%s/WO-2026-1900/batch.ini", w.hot),
               "work_order = WO-2026-1901\noperator = Jo\n"
               "work_order = WO-2026-1902\n");
    b = scan(&w, 0, 1);
    assert_non_null(b->error);
    expect_line(b->error, "batch.ini:3: work_order: given twice (also on line "
                          "1); each key may be given once");
    pm_batch_free_list(b);
    world_close(&w);
}

/* A reject whose ERROR.txt cannot be written (a full disk, made here with
 * a file size limit) moves nothing: never a batch in _rejected/ without
 * its reason. Once writing works, the reject goes through. */
static void reject_writes_the_reason_before_moving(void **state)
{
    static const char *const pages[] = {"p1.tif", NULL};
    struct rlimit old, tiny;
    world_t w;
    pm_batch_t *b;
    int rc;

    (void)state;
    world_open(&w, "");
    make_batch(&w, "WO-2026-2000", pages);
    write_text(at("%s/WO-2026-2000/batch.ini", w.hot), "");
    b = scan(&w, 0, 1);
    make_batch(&w, "_rejected", NULL); /* exists, as after any reject */
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    tiny = old;
    tiny.rlim_cur = 16;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &tiny), 0);
    rc = pm_hotfolder_reject(w.hf, b, "a reason", NULL);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rc, -EFBIG);
    assert_true(exists(at("%s/WO-2026-2000/p1.tif", w.hot)));
    assert_int_equal(t_count_entries(at("%s/WO-2026-2000", w.hot)), 2);
    assert_int_equal(t_count_entries(at("%s/_rejected", w.hot)), 0);

    assert_int_equal(pm_hotfolder_reject(w.hf, b, "a reason", NULL), 0);
    assert_true(exists(at("%s/_rejected/WO-2026-2000/ERROR.txt", w.hot)));
    assert_true(exists(at("%s/_rejected/WO-2026-2000/p1.tif", w.hot)));
    pm_batch_free_list(b);
    world_close(&w);
}

static void open_needs_an_existing_folder(void **state)
{
    pm_hotfolder_cfg_t c;
    pm_hotfolder_t *hf = (pm_hotfolder_t *)1;
    const char *dir;

    (void)state;
    dir = t_tmpdir();
    memset(&c, 0, sizeof(c));
    c.name = (char *)"x";
    c.path = (char *)at("%s/missing", dir);
    c.profile = (char *)"default";
    c.settle_seconds = 30;
    assert_int_equal(pm_hotfolder_open(NULL, &c, &hf), -ENOENT);
    assert_null(hf);
    write_text(at("%s/file", dir), "");
    c.path = (char *)at("%s/file", dir);
    assert_int_equal(pm_hotfolder_open(NULL, &c, &hf), -ENOTDIR);
    assert_null(hf);
    c.path = (char *)at("%s//", dir); /* kept without the slashes */
    assert_int_equal(pm_hotfolder_open(NULL, &c, &hf), 0);
    assert_string_equal(pm_hotfolder_cfg(hf)->path, dir);
    pm_hotfolder_close(hf);
    pm_hotfolder_close(NULL);
    pm_batch_free(NULL);
    pm_batch_free_list(NULL);
    t_tmpdir_cleanup();
}

/* A batch to run out of memory on: pages and every batch.ini key. */
static void oom_batch(world_t *w)
{
    static const char *const pages[] = {"p1.tif", "p2.tif", NULL};

    world_open(w, "marker = none");
    make_batch(w, "WO-2026-1500", pages);
    write_text(at("%s/WO-2026-1500/batch.ini", w->hot),
               "operator = Jo\nnotes = n\naccount = A\nexpected_pages = 2\n"
               "profile = colour\nwork_order = WO-1\n");
}

/* Scans at time 0 then 30 with the k-th allocation failing in the
 * second; returns its result. */
static int scan_failing_at(world_t *w, long k, pm_batch_t **b, size_t *n)
{
    int rc;

    pm_alloc_fail_at(k);
    rc = pm_hotfolder_scan(w->hf, 30, b, n);
    pm_alloc_fail_at(0);
    return rc;
}

static void scan_fails_cleanly_when_memory_runs_out(void **state)
{
    world_t w;
    pm_batch_t *b = NULL;
    size_t n = 0;
    long k;
    int rc = PM_ENOMEM;

    (void)state;
    oom_batch(&w);
    scan(&w, 0, 0); /* the settle clock starts */
    for (k = 1; k < 500 && rc != 0; k++) {
        rc = scan_failing_at(&w, k, &b, &n);
        if (rc != 0) {
            assert_int_equal(rc, PM_ENOMEM);
            assert_null(b);
            assert_int_equal(n, 0);
        }
    }
    assert_int_equal(rc, 0);
    assert_true(k > 2);
    /* No failure lost the snapshot or marked the batch returned. */
    assert_int_equal(n, 1);
    assert_null(b->error);
    assert_string_equal(b->notes, "n");
    pm_batch_free_list(b);
    world_close(&w);
}

static void take_fails_cleanly_when_memory_runs_out(void **state)
{
    world_t w;
    pm_batch_t *b;
    char *spooled = NULL;
    long k;
    int rc = PM_ENOMEM;

    (void)state;
    oom_batch(&w);
    scan(&w, 0, 0);
    b = scan(&w, 30, 1);
    for (k = 1; k < 500 && rc != 0; k++) {
        spooled = (char *)1;
        pm_alloc_fail_at(k);
        rc = pm_hotfolder_take(w.hf, b, w.spool, &spooled);
        pm_alloc_fail_at(0);
        if (rc != 0) {
            assert_int_equal(rc, PM_ENOMEM);
            assert_null(spooled);
            assert_true(exists(at("%s/WO-2026-1500/p1.tif", w.hot)));
            assert_string_equal(b->path, at("%s/WO-2026-1500", w.hot));
        }
    }
    assert_int_equal(rc, 0);
    assert_true(k > 2);
    assert_string_equal(b->files[1], at("%s/p2.tif", spooled));
    assert_true(exists(b->files[1]));
    if (exists(w.spool))
        assert_int_equal(t_count_entries(w.spool), 1); /* no leftovers */
    pm_free(spooled);
    pm_batch_free_list(b);
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(marker_mode_waits_for_the_marker),
        cmocka_unit_test(marker_can_have_another_name),
        cmocka_unit_test(settle_mode_needs_two_quiet_scans),
        cmocka_unit_test(settle_clock_restarts_on_change),
        cmocka_unit_test(settle_mode_empty_folder_waits),
        cmocka_unit_test(growing_file_is_not_taken),
        cmocka_unit_test(hidden_and_temp_files_are_never_taken),
        cmocka_unit_test(single_multipage_file_is_one_batch),
        cmocka_unit_test(batch_ini_overrides_the_defaults),
        cmocka_unit_test(batch_ini_errors_name_their_lines),
        cmocka_unit_test(unreadable_marker_is_an_error),
        cmocka_unit_test(pages_are_in_natural_order),
        cmocka_unit_test(folder_without_images_is_an_error),
        cmocka_unit_test(long_section_name_error_is_utf8),
        cmocka_unit_test(non_utf8_file_name_is_an_error),
        cmocka_unit_test(batch_names_give_the_work_order),
        cmocka_unit_test(a_batch_is_not_returned_twice),
        cmocka_unit_test(take_moves_by_rename),
        cmocka_unit_test(take_single_file_into_a_folder),
        cmocka_unit_test(take_never_overwrites),
        cmocka_unit_test(take_across_filesystems_is_exdev),
        cmocka_unit_test(reject_writes_error_txt_and_keeps_files),
        cmocka_unit_test(reject_single_file_with_a_reason),
        cmocka_unit_test(duplicate_reject_names_get_suffixes),
        cmocka_unit_test(reject_after_take),
        cmocka_unit_test(long_names_still_move),
        cmocka_unit_test(take_refuses_a_page_swapped_for_a_link),
        cmocka_unit_test(open_page_takes_only_the_file_listed),
        cmocka_unit_test(engine_never_reads_through_a_link),
        cmocka_unit_test(link_at_the_top_is_rejected_as_a_link),
        cmocka_unit_test(duplicate_batch_ini_keys_are_refused),
        cmocka_unit_test(reject_writes_the_reason_before_moving),
        cmocka_unit_test(open_needs_an_existing_folder),
        cmocka_unit_test(scan_fails_cleanly_when_memory_runs_out),
        cmocka_unit_test(take_fails_cleanly_when_memory_runs_out),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
