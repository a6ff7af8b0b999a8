/*
 * test_convert_memory.c: the whole conversion of a document takes memory
 * that does not grow with its page count. `pagemill convert` (the real
 * binary, its real workers) converts a folder of SMALL_DOC tiny pages,
 * then one of LARGE_DOC; the peak resident memory of convert itself and
 * that of the largest process of the run (the worker that assembled the
 * document: the page results reach it in a spool file read a page at a
 * time, proto.h) must be at LARGE_DOC pages within a small constant of
 * that at SMALL_DOC. The pages are tiny (a 400 x 300 bitonal block, OCR
 * off) so the run measures what a page's result costs, not its pixels.
 *
 * Each run is a child of a middle process that waits for it: its rusage
 * gives convert's peak (wait4) and the largest of convert and its workers
 * (RUSAGE_CHILDREN, as convert waits for its workers).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <leptonica/allheaders.h>

#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define SMALL_DOC 200
#define LARGE_DOC 2000 /* PM_TEST_LARGE_DOC=N: N pages */
/* Flat: at LARGE_DOC pages within 5% and this of SMALL_DOC's peak. With
 * every page's result held in memory (the ASSEMBLE message of them all,
 * the report built whole) the growth was 8 to 13 KiB a page: 14 to 23
 * MiB more at 2,000 pages than at 200. */
#define FLAT_SLACK_KB      (3 * 1024)
#define FLAT_SLACK_PERCENT 5

typedef struct peak {
    long convert_kb; /* `pagemill convert` itself */
    long largest_kb; /* the largest process of the run */
} peak_t;

static const char *tmp;

static int setup(void **state)
{
    (void)state;
    tmp = t_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    t_tmpdir_cleanup();
    return 0;
}

/* A folder of n links to one tiny bitonal page. */
static char *make_pages(const char *page, int n)
{
    char *dir = pm_asprintf("%s/in%d", tmp, n);

    assert_non_null(dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    for (int i = 0; i < n; i++) {
        char *p = pm_asprintf("%s/p%05d.tif", dir, i + 1);

        assert_non_null(p);
        if (link(page, p) != 0)
            fail_msg("%s: cannot link to %s: %s", p, page, strerror(errno));
        pm_free(p);
    }
    return dir;
}

/* In the middle process: runs convert, writes its peak and the largest
 * to fd, exits. */
static void run_middle(int fd, const char *ini, const char *out, const char *in)
{
    struct rusage ru, all;
    long v[2];
    int status = 0;
    pid_t pid = fork();

    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(null, STDOUT_FILENO);
        execl(PM_BINARY, PM_BINARY, "convert", "--quiet", "-j", "2", "--config",
              ini, "--profile", "tiny", "-o", out, in, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        _exit(1);
    getrusage(RUSAGE_CHILDREN, &all);
    v[0] = ru.ru_maxrss;
    v[1] = all.ru_maxrss;
    _exit(write(fd, v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : 1);
}

/* Converts the n pages of `in` as one document; its peaks. */
static peak_t convert_peak(const char *ini, const char *in, int n)
{
    char *out = pm_asprintf("%s/out%d", tmp, n), *pdf;
    peak_t pk = {0, 0};
    long v[2] = {0, 0};
    int fds[2], status = 0;
    pid_t pid;

    assert_non_null(out);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        run_middle(fds[1], ini, out, in);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], v, sizeof(v)), (ssize_t)sizeof(v));
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pdf = pm_asprintf("%s/in%d.pdf", out, n);
    assert_int_equal(t_pdf_pages(pdf), n);
    pk.convert_kb = v[0];
    pk.largest_kb = v[1];
    pm_free(pdf);
    pm_free(out);
    return pk;
}

/* 1 when large_kb is within the bound of small_kb, else 0 (printed). */
static int flat(const char *what, long small_kb, long large_kb, int large)
{
    long limit = small_kb + small_kb * FLAT_SLACK_PERCENT / 100 + FLAT_SLACK_KB;

    fprintf(stderr, "%s: peak %ld KiB at %d pages, %ld KiB at %d\n", what,
            small_kb, SMALL_DOC, large_kb, large);
    /* The sanitizer's allocator keeps freed memory in quarantine: the
     * figures are printed, the bound holds only without it. */
    if (T_UNDER_ASAN || large_kb <= limit)
        return 1;
    fprintf(stderr,
            "%s: grows with the page count (limit %ld KiB at %d pages)\n", what,
            limit, large);
    return 0;
}

static void conversion_memory_is_flat(void **state)
{
    const char *env = getenv("PM_TEST_LARGE_DOC");
    int large = env != NULL && atoi(env) > SMALL_DOC ? atoi(env) : LARGE_DOC;
    char *page = pm_asprintf("%s/tiny.tif", tmp);
    char *ini = pm_asprintf("%s/tiny.ini", tmp);
    char *text = pm_asprintf("[pagemill]\nworker_memory_mb = 0\n"
                             "[profile tiny]\nlanguages = eng\nocr = no\n"
                             "orient = no\n");
    char *small_in, *large_in;
    PIX *pix = pixCreate(400, 300, 1);
    peak_t small, big;
    int ok;

    (void)state;
    assert_non_null(pix);
    pixRasterop(pix, 50, 50, 300, 70, PIX_SET, NULL, 0, 0);
    pixSetResolution(pix, 300, 300);
    assert_int_equal(pixWriteTiff(page, pix, IFF_TIFF_G4, "w"), 0);
    pixDestroy(&pix);
    assert_int_equal(pm_write_file_atomic(ini, text, strlen(text)), 0);
    small_in = make_pages(page, SMALL_DOC);
    large_in = make_pages(page, large);
    small = convert_peak(ini, small_in, SMALL_DOC);
    big = convert_peak(ini, large_in, large);
    ok = flat("pagemill convert", small.convert_kb, big.convert_kb, large);
    ok &= flat("largest process (the assembling worker)", small.largest_kb,
               big.largest_kb, large);
    assert_true(ok);
    pm_free(small_in);
    pm_free(large_in);
    pm_free(text);
    pm_free(ini);
    pm_free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conversion_memory_is_flat),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
