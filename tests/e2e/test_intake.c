/*
 * test_intake.c: what `pagemill serve` refuses at intake, end to end. The
 * real binary in a temp root (tests/lib/servelib.h), batches dropped the
 * way operators drop them, and the outcome read from _rejected/, the
 * catalog (`job list --json`) and the service's log, polled until a
 * deadline.
 *
 * Covered: files intake already knows no worker can read (zero bytes,
 * text, a truncated header) are rejected with ERROR.txt naming the file
 * and never spooled, so two empty batches are not held as duplicates of
 * each other; a symlink at the top of a hot folder is rejected visibly,
 * as a link; batch names with control characters or invalid UTF-8 reach
 * the log escaped; what the service creates is not world-readable; a
 * service running as root says so at start; and a hot folder with watch
 * = poll has no change events (only the scan timer, as on a network
 * share), and a page still being written there is taken only once it
 * has settled.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define TESTING    "tesseract-test/testing/"
#define DEADLINE_S 60.0

static char quick[320]; /* a settle-mode hot folder, settle_seconds = 1 */
static char hold[320];  /* hold_unknown = yes */

static int setup(void **state)
{
    sv_fx_t *f = pm_calloc(1, sizeof(*f));
    char extra[1024];

    if (f == NULL)
        return -1;
    umask(022); /* permissive: the service must still not share its files */
    if (sv_fx_init(f, t_tmpdir()) != 0)
        goto fail;
    snprintf(quick, sizeof(quick), "%s/hot/quick", f->root);
    snprintf(hold, sizeof(hold), "%s/hot/hold", f->root);
    snprintf(extra, sizeof(extra),
             "\n[hotfolder quick]\npath = %s\nmarker = none\n"
             "settle_seconds = 1\n\n[hotfolder hold]\npath = %s\n"
             "hold_unknown = yes\n",
             quick, hold);
    if (pm_mkdir_p(quick) != 0 || pm_mkdir_p(hold) != 0 ||
        sv_write_config(f, 30, extra) != 0)
        goto fail;
    *state = f;
    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(f, "workorder add WO-1 --account ACME");
    return 0;

fail:
    pm_free(f);
    return -1;
}

static int teardown(void **state)
{
    sv_fx_t *f = *state;
    int rc = sv_fx_fini(f, 40);

    pm_free(f);
    t_tmpdir_cleanup();
    return rc;
}

/* A folder batch `name` in hot folder `hot`: p1.tif with `len` bytes of
 * `data` (shared-data file `rel` when data is NULL, `len` 0: all of it),
 * then the batch.ini marker. */
static void drop(const char *hot, const char *name, const char *data,
                 size_t len, const char *rel)
{
    char path[700];

    snprintf(path, sizeof(path), "%s/%s", hot, name);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/%s/p1.tif", hot, name);
    if (data != NULL)
        assert_int_equal(pm_write_file_atomic(path, data, len), 0);
    else if (len > 0)
        t_copy_truncated(t_data(rel), path, len);
    else
        t_copy_file(t_data(rel), path);
    snprintf(path, sizeof(path), "%s/%s/batch.ini", hot, name);
    sv_write_text(path, "");
}

/* Waits for hot/_rejected/<name>/ERROR.txt; returns its text (caller
 * frees). */
static char *wait_error_txt(const char *hot, const char *name)
{
    double until = sv_now_s() + DEADLINE_S;
    char path[700];
    char *text;

    snprintf(path, sizeof(path), "%s/_rejected/%s/ERROR.txt", hot, name);
    while ((text = t_slurp(path)) == NULL && sv_now_s() < until)
        sv_nap_ms(100);
    if (text == NULL)
        fail_msg("no %s within %.0f s", path, DEADLINE_S);
    return text;
}

static void expect_in(const char *text, const char *want)
{
    if (strstr(text, want) == NULL)
        fail_msg("'%s' not in:\n%s", want, text);
}

/* Waits until the log holds `want`; returns the log (caller frees). */
static char *wait_log(const sv_fx_t *f, const char *want)
{
    double until = sv_now_s() + DEADLINE_S;
    char *log = NULL;

    do {
        free(log);
        log = t_slurp(f->log);
        if (log != NULL && strstr(log, want) != NULL)
            return log;
        sv_nap_ms(100);
    } while (sv_now_s() < until);
    fail_msg("'%s' not in the log within %.0f s:\n%s", want, DEADLINE_S,
             log ? log : "");
    return NULL;
}

/* Entries of `dir` other than hidden ones (the catalog's marker). */
static int batches_in(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- tests ---- */

/* Zero bytes, text, a truncated header: rejected at intake naming the
 * file and the fault, with no job and nothing left in the spool. Two
 * empty batches are both rejected: never held as duplicates (the same
 * SHA-256 of nothing) of each other. */
static void unreadable_files_are_rejected_at_intake(void **state)
{
    static const char text[] = "hello, this is a text file\n";
    sv_fx_t *f = *state;
    char spool[400], *e;
    json_t *jobs;

    t_require_data();
    sv_start(f);
    drop(f->scans, "WO-1_empty", "", 0, NULL);
    drop(f->scans, "WO-1_empty2", "", 0, NULL);
    drop(f->scans, "WO-1_text", text, strlen(text), NULL);
    drop(f->scans, "WO-1_trunc", NULL, 6, TESTING "phototest.tif");

    e = wait_error_txt(f->scans, "WO-1_empty");
    expect_in(e, "'p1.tif': zero-byte file");
    free(e);
    e = wait_error_txt(f->scans, "WO-1_empty2");
    expect_in(e, "'p1.tif': zero-byte file");
    free(e);
    e = wait_error_txt(f->scans, "WO-1_text");
    expect_in(e, "'p1.tif': not a supported image: it starts with 68 65 6c 6c "
                 "6f 2c 20 74 (\"hello, t\")");
    free(e);
    e = wait_error_txt(f->scans, "WO-1_trunc");
    expect_in(e, "'p1.tif': not a readable TIFF");
    free(e);

    jobs = sv_cli_json(f, "job list");
    assert_int_equal(json_array_size(jobs), 0);
    json_decref(jobs);
    snprintf(spool, sizeof(spool), "%s/spool", f->root);
    assert_int_equal(batches_in(spool), 0);
    assert_int_equal(sv_stop(f, SIGTERM, 40), 0);
}

/* A symlink dropped into a hot folder is rejected where people look, the
 * link itself moved; the file it points to stays and is never taken. */
static void link_in_a_hot_folder_is_rejected_visibly(void **state)
{
    sv_fx_t *f = *state;
    char outside[400], link[500], moved[700], *e, *log;
    struct stat st;

    t_require_data();
    snprintf(outside, sizeof(outside), "%s/outside.tif", f->root);
    t_copy_file(t_data(TESTING "phototest.tif"), outside);
    snprintf(link, sizeof(link), "%s/WO-1_link.tif", quick);
    assert_int_equal(symlink(outside, link), 0);
    sv_start(f);
    /* The log line comes last: ERROR.txt is written before the move. */
    log = wait_log(f, "batch WO-1_link.tif from quick rejected");
    free(log);
    e = wait_error_txt(quick, "WO-1_link");
    expect_in(e, "'WO-1_link.tif' is a symbolic link");
    free(e);
    snprintf(moved, sizeof(moved), "%s/_rejected/WO-1_link/WO-1_link.tif",
             quick);
    assert_int_equal(lstat(moved, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_true(t_exists(outside));
    assert_int_equal(sv_stop(f, SIGTERM, 40), 0);
    assert_null(sv_find_job(f, "WO-1_link.tif"));
}

/* Control characters and invalid UTF-8 in batch names reach the log as
 * \xNN, never raw (a terminal would obey the escape sequence). Files
 * and folders the service makes are 0640 and 0750 under umask 022; as
 * root it warns at start. */
static void names_are_escaped_and_files_not_shared(void **state)
{
    sv_fx_t *f = *state;
    char path[700], *log;
    struct stat st;

    sv_start(f);
    drop(f->scans, "WO-1_\033[2Jred", "", 0, NULL);
    drop(f->scans, "WO-1_\xff\xfe", "", 0, NULL);
    log = wait_log(f, "batch WO-1_\\xff\\xfe from scans rejected");
    free(log);
    log = wait_log(f, "batch WO-1_\\x1b[2Jred from scans rejected");
    assert_null(strchr(log, '\033'));
    assert_null(strchr(log, '\xff'));
    if (geteuid() == 0)
        expect_in(log, "running as root");
    free(log);

    snprintf(path, sizeof(path), "%s/_rejected", f->scans);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0750);
    snprintf(path, sizeof(path), "%s/_rejected/WO-1_\033[2Jred/ERROR.txt",
             f->scans);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_int_equal(sv_stop(f, SIGTERM, 40), 0);
}

/* A file that makes the frame counter crash (the test hook
 * PAGEMILL_TEST_COUNT_ABORT_MATCH aborts the counting child, as a decoder
 * fault on a hostile file would): the batch is rejected naming the file
 * and the signal, no job is made, and the service, which runs no decoder
 * itself, goes on to process the next batch. */
static void counter_crash_rejects_the_batch_only(void **state)
{
    sv_fx_t *f = *state;
    char *e;
    json_t *j;

    t_require_data();
    assert_int_equal(setenv("PAGEMILL_TEST_COUNT_ABORT_MATCH", "crashme", 1),
                     0);
    sv_start(f);
    unsetenv("PAGEMILL_TEST_COUNT_ABORT_MATCH");
    drop(f->scans, "WO-1_crashme", NULL, 0, TESTING "phototest.tif");
    e = wait_error_txt(f->scans, "WO-1_crashme");
    expect_in(e, "page counting crashed on 'p1.tif' (signal 6");
    free(e);
    assert_null(sv_find_job(f, "WO-1_crashme"));

    drop(f->scans, "WO-1_next", NULL, 0, TESTING "phototest.tif");
    sv_wait_job(f, "WO-1_next", "done", 3 * DEADLINE_S);
    j = sv_find_job(f, "WO-1_next");
    assert_int_equal(sv_jint(j, "pages"), 1);
    json_decref(j);
    assert_int_equal(sv_stop(f, SIGTERM, 40), 0);
}

/* Overwrites `dst` in place (same file, new content) with `src`. */
static void overwrite_in_place(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "r+b");
    char buf[65536];
    size_t n;

    assert_non_null(in);
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    assert_int_equal(ftruncate(fileno(out), ftell(out)), 0);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* A page changed in the spool after intake hashed it (here while its job
 * is held; another valid image, so only the check can tell) is not
 * processed: the page fails naming the file and both digests. */
static void page_changed_after_intake_fails(void **state)
{
    sv_fx_t *f = *state;
    char args[64], path[700], *text;
    long long id;
    json_t *j;

    t_require_data();
    sv_start(f);
    drop(hold, "WO-9_changed", NULL, 0, TESTING "phototest.tif");
    id = sv_wait_job(f, "WO-9_changed", "held", DEADLINE_S);
    snprintf(args, sizeof(args), "job show %lld", id);
    j = sv_cli_json(f, args);
    snprintf(path, sizeof(path), "%s/p1.tif", sv_jstr(j, "source_path"));
    json_decref(j);
    overwrite_in_place(t_data(TESTING "eurotext.tif"), path);

    sv_cli_ok(f, "workorder add WO-9 --account ACME");
    snprintf(args, sizeof(args), "job release %lld", id);
    sv_cli_ok(f, args);
    assert_int_equal(sv_wait_job(f, "WO-9_changed", "failed", 2 * DEADLINE_S),
                     id);
    snprintf(args, sizeof(args), "job show %lld --json", id);
    text = sv_cli_text(f, args);
    expect_in(text, "p1.tif changed since intake (SHA-256 ");
    expect_in(text, ", expected ");
    free(text);
    assert_int_equal(sv_stop(f, SIGTERM, 40), 0);
}

/* A page whose header is sound but whose image data is corrupt passes
 * intake and fails in the worker: the file itself is at fault, so it is
 * not tried again (once, not max_attempts times), and the job fails
 * saying why. */
static void corrupt_page_is_not_retried(void **state)
{
    sv_fx_t *f = *state;
    unsigned char *png = NULL;
    size_t len = 0;
    char *log;

    t_require_data();
    assert_int_equal(pm_read_file(t_data("debian-jbigkit-testdata/converted/"
                                         "ccitt1.png"),
                                  1u << 24, &png, &len),
                     0);
    assert_true(len > 10200);
    memset(png + 10000, 0xff, 200); /* inside the compressed pixels */
    sv_start(f);
    drop(f->scans, "WO-1_corrupt", (const char *)png, len, NULL);
    pm_free(png);
    sv_wait_job(f, "WO-1_corrupt", "failed", 2 * DEADLINE_S);
    log = t_slurp(f->log);
    assert_non_null(log);
    expect_in(log, "failed (not retried: the file is at fault)");
    expect_in(log, "corrupt or truncated PNG data");
    if (strstr(log, "attempt 2 of") != NULL)
        fail_msg("a corrupt page was tried again:\n%s", log);
    free(log);
    assert_int_equal(sv_stop(f, SIGTERM, 40), 0);
}

/* ---- a polled hot folder ---- */

static char polled[320]; /* watch = poll, settle mode, settle_seconds = 3 */

static int setup_polled(void **state)
{
    sv_fx_t *f = pm_calloc(1, sizeof(*f));
    char extra[1024];

    if (f == NULL)
        return -1;
    if (sv_fx_init(f, t_tmpdir()) != 0)
        goto fail;
    snprintf(polled, sizeof(polled), "%s/hot/polled", f->root);
    snprintf(extra, sizeof(extra),
             "\n[hotfolder polled]\npath = %s\nmarker = none\n"
             "settle_seconds = 3\nwatch = poll\nscan_seconds = 1\n",
             polled);
    if (pm_mkdir_p(polled) != 0 || sv_write_config(f, 30, extra) != 0)
        goto fail;
    *state = f;
    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(f, "workorder add WO-1 --account ACME");
    return 0;

fail:
    pm_free(f);
    return -1;
}

/* The inotify watches the process `pid` holds, over all its descriptors
 * (/proc/PID/fdinfo, read line by line: procfs files have no size). */
static int inotify_watches(pid_t pid)
{
    char dir[64], path[400], line[512];
    struct dirent *e;
    int n = 0;
    DIR *d;

    snprintf(dir, sizeof(dir), "/proc/%ld/fdinfo", (long)pid);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        FILE *f;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue; /* closed meanwhile */
        while (fgets(line, sizeof(line), f) != NULL)
            n += strncmp(line, "inotify wd:", 11) == 0;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* True while batch `name` is still in the polled hot folder as written:
 * neither taken into the spool nor rejected (two stat calls, so the
 * writer keeps its pace). */
static int untaken(const char *name, const char *page)
{
    char rejected[700];

    snprintf(rejected, sizeof(rejected), "%s/_rejected/%s", polled, name);
    return !t_exists(rejected) && t_exists(page);
}

/* A poll-only folder (the service holds an inotify watch for the events
 * folder `scans` only) takes a batch whose page grows across several
 * scans only once it stops growing, whole. */
static void polled_folder_takes_a_growing_page_once_settled(void **state)
{
    static const char *const lines[] = {"Polled share", NULL};
    sv_fx_t *f = *state;
    char src[400], dir[400], page[500];
    unsigned char *data = NULL;
    size_t len = 0, off = 0, chunk;
    double until;
    long long id;
    int fd;

    snprintf(src, sizeof(src), "%s/page.tif", f->root);
    sv_page(src, lines);
    assert_int_equal(pm_read_file(src, 1u << 26, &data, &len), 0);
    assert_true(len > 1000);
    sv_start(f);
    until = sv_now_s() + DEADLINE_S;
    while (inotify_watches(f->pid) == 0 && sv_now_s() < until)
        sv_nap_ms(50); /* the service is watching */
    assert_true(inotify_watches(f->pid) > 0);

    /* Written over about four seconds, in ten pieces: every scan (each
     * second) sees it changed within the last three, never settled. */
    snprintf(dir, sizeof(dir), "%s/WO-1_grow", polled);
    assert_int_equal(pm_mkdir_p(dir), 0);
    snprintf(page, sizeof(page), "%s/p1.tif", dir);
    fd = open(page, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    chunk = len / 10 + 1;
    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk;

        assert_int_equal(write(fd, data + off, n), (ssize_t)n);
        off += n;
        assert_true(untaken("WO-1_grow", page));
        if (off < len)
            sv_nap_ms(400); /* the pace of a slow copy */
    }
    assert_int_equal(close(fd), 0);
    pm_free(data);
    id = sv_wait_job(f, "WO-1_grow", "done", DEADLINE_S);
    assert_true(id > 0);
    assert_int_equal(inotify_watches(f->pid), 1); /* scans' only */
    sv_wait_log(f, "hot folder polled: watch = poll: no change events", 1);
    assert_false(t_exists(page));
    assert_int_equal(batches_in(polled), 0); /* nothing rejected either */
    snprintf(page, sizeof(page), "%s/ACME/WO-1/job-%lld/data/job-%lld.pdf",
             f->out, id, id);
    assert_int_equal(t_pdf_pages(page), 1); /* the whole page, read */
    assert_int_equal(sv_stop(f, SIGTERM, 40), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(unreadable_files_are_rejected_at_intake,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            link_in_a_hot_folder_is_rejected_visibly, setup, teardown),
        cmocka_unit_test_setup_teardown(names_are_escaped_and_files_not_shared,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(counter_crash_rejects_the_batch_only,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_page_is_not_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(page_changed_after_intake_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            polled_folder_takes_a_growing_page_once_settled, setup_polled,
            teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
