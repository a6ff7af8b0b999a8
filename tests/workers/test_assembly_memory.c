/*
 * test_assembly_memory.c: assembling a document does not hold its pages'
 * bytes in memory (pdfa.c and qpdf_stream.cc: each page's streams are
 * read from their files while qpdf writes), and a page
 * artifact that is gone fails the assembly with a message naming it.
 *
 * The pages are real scans as the page path leaves them: a gray JPEG
 * book page (lucasta.047.jpg, 235 KiB, stored deflated) and a bitonal G4
 * page (phototest.tif), every page of a document pointing to the same two
 * artifacts, as the memory of assembly is about the document's size.
 * Each assembly runs in a child process whose peak resident memory
 * (VmHWM) is compared with its resident memory before it started.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <leptonica/allheaders.h>
#include <qpdf/qpdf-c.h>

#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"
#include "workers/engine.h"
#include "workers/qpdf_stream.h"

#define SMALL_DOC 200
#define LARGE_DOC 2000 /* 224 MiB of PDF; PM_TEST_LARGE_DOC=N: N pages */
/*
 * No page's bytes stay in memory: what grows with the page count is
 * qpdf's objects (a page's dictionaries and stream dictionaries, about
 * 12 KiB, held until the document is written). Measured: peak growth
 * 8.1 MiB for 200 pages (22 MiB of PDF), 29 MiB for 2,000 (224 MiB of
 * PDF); with the pages' bytes held, it grew by the document's size.
 */
#define MAX_GROWTH_KB          (64 * 1024)
#define MAX_GROWTH_PER_PAGE_KB 20

#if defined(__SANITIZE_ADDRESS__)
#define PM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PM_ASAN 1
#endif
#endif

static struct {
    char *dir;
    char *jpeg, *g4;
    l_int32 jw, jh, gw, gh; /* their sizes in pixels */
    pm_engine_t *eng;
} fx;

static int setup(void **state)
{
    PIX *pix;

    (void)state;
    if (access(PM_SHARED_DATA "/MANIFEST.tsv", R_OK) != 0) {
        fprintf(stderr, "shared test data not found at %s\n", PM_SHARED_DATA);
        return -1; /* the group fails */
    }
    fx.dir = pm_strdup(t_tmpdir());
    fx.jpeg = pm_asprintf("%s/gray.jpg", fx.dir);
    fx.g4 = pm_asprintf("%s/bitonal.tif", fx.dir);
    t_copy_file(t_data("leptonica/prog/lucasta.047.jpg"), fx.jpeg);
    pix = pixRead(t_data("tesseract-test/testing/phototest.tif"));
    assert_non_null(pix);
    assert_int_equal(pixWriteTiff(fx.g4, pix, IFF_TIFF_G4, "w"), 0);
    pixDestroy(&pix);
    assert_int_equal(
        pixReadHeader(fx.jpeg, NULL, &fx.jw, &fx.jh, NULL, NULL, NULL), 0);
    assert_int_equal(
        pixReadHeader(fx.g4, NULL, &fx.gw, &fx.gh, NULL, NULL, NULL), 0);
    assert_int_equal(pm_engine_open(NULL, &fx.eng), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pm_engine_close(fx.eng);
    pm_free(fx.jpeg);
    pm_free(fx.g4);
    pm_free(fx.dir);
    t_tmpdir_cleanup();
    return 0;
}

/* Page i: the JPEG on even pages, the G4 strip on odd ones. */
static void page_result(int i, const char *jpeg, pm_page_result_t *p)
{
    memset(p, 0, sizeof(*p));
    p->page = i + 1;
    p->ok = 1;
    p->xres = p->yres = 300;
    if (i % 2 == 0) {
        p->kind = PM_KIND_GRAY;
        p->codec = PM_IMG_JPEG;
        p->image = (char *)jpeg;
        p->width = fx.jw;
        p->height = fx.jh;
        p->bytes = t_file_size(jpeg);
    } else {
        p->kind = PM_KIND_BITONAL;
        p->codec = PM_IMG_G4;
        p->image = fx.g4;
        p->width = fx.gw;
        p->height = fx.gh;
        p->bytes = t_file_size(fx.g4);
    }
}

static int assemble(int npages, const char *name, pm_doc_result_t *r)
{
    pm_page_result_t *pages = pm_calloc((size_t)npages, sizeof(*pages));
    pm_doc_task_t d = {0};
    int err;

    assert_non_null(pages);
    for (int i = 0; i < npages; i++)
        page_result(i, fx.jpeg, &pages[i]);
    d.title = (char *)name;
    d.pdf = pm_asprintf("%s/%s.pdf", fx.dir, name);
    d.txt = pm_asprintf("%s/%s.txt", fx.dir, name);
    d.icc_profile = (char *)PM_DEFAULT_ICC;
    err = pm_assemble_doc(fx.eng, &d, pages, (size_t)npages, r);
    pm_free(d.pdf);
    pm_free(d.txt);
    pm_free(pages);
    return err;
}

/* A field of /proc/self/status in KiB. */
static long status_kb(const char *field)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");

    if (f == NULL)
        return -1;
    while (kb < 0 && fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, field, strlen(field)) == 0)
            kb = strtol(line + strlen(field), NULL, 10);
    fclose(f);
    return kb;
}

/* Assembles `npages` in a child; returns its peak growth in KiB and the
 * PDF's size in *bytes. */
static long growth_kb(int npages, long long *bytes)
{
    int fds[2], status = 0;
    long res[2] = {-1, -1};
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pm_doc_result_t r;
        long before = status_kb("VmRSS:"), out[2] = {-1, -1};
        char name[32];

        snprintf(name, sizeof(name), "doc%d", npages);
        if (assemble(npages, name, &r) == 0) {
            out[0] = status_kb("VmHWM:") - before;
            out[1] = (long)r.pdf_bytes;
        } else {
            fprintf(stderr, "assembly: %s\n", r.error);
        }
        if (write(fds[1], out, sizeof(out)) != (ssize_t)sizeof(out))
            _exit(2);
        _exit(0);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], res, sizeof(res)), (ssize_t)sizeof(res));
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(res[0] >= 0);
    *bytes = res[1];
    return res[0];
}

static void peak_memory_is_not_the_documents_size(void **state)
{
    long long small_bytes = 0, large_bytes = 0;
    long small, large;
    int nlarge = LARGE_DOC;
    char *path;

    (void)state;
    if (getenv("PM_TEST_LARGE_DOC") != NULL) /* a benchmark's page count */
        nlarge = atoi(getenv("PM_TEST_LARGE_DOC"));
    assert_true(nlarge >= 10 * SMALL_DOC);
    small = growth_kb(SMALL_DOC, &small_bytes);
    large = growth_kb(nlarge, &large_bytes);
    printf("# %d pages: PDF %lld KiB, peak growth %ld KiB\n", SMALL_DOC,
           small_bytes / 1024, small);
    printf("# %d pages: PDF %lld KiB, peak growth %ld KiB\n", nlarge,
           large_bytes / 1024, large);
    assert_true(large_bytes > 9 * small_bytes);
    path = pm_asprintf("%s/doc%d.pdf", fx.dir, nlarge);
    assert_int_equal(t_pdf_pages(path), nlarge);
    assert_int_equal(t_run(NULL, "qpdf --check '%s' >/dev/null", path), 0);
    unlink(path);
    pm_free(path);
#ifndef PM_ASAN
    assert_true(nlarge > LARGE_DOC || large < MAX_GROWTH_KB);
    assert_true(large - small < MAX_GROWTH_PER_PAGE_KB * (nlarge - SMALL_DOC));
#else
    /* The sanitizer's allocator keeps freed memory in quarantine: the
     * figures above are printed, the bound holds only without it. */
    (void)large;
#endif
}

/* Entries of `dir` whose names contain `part`. */
static int no_file_named(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, part) != NULL) {
            printf("# left behind: %s\n", e->d_name);
            n++;
        }
    closedir(d);
    return n;
}

/* A page's artifact removed after the page was converted, before the
 * assembly: the job fails naming that file, and leaves no PDF. */
static void missing_artifact_fails_naming_it(void **state)
{
    pm_page_result_t pages[3];
    pm_doc_task_t d = {0};
    pm_doc_result_t r;
    char *gone = pm_asprintf("%s/gone.jpg", fx.dir);

    (void)state;
    t_copy_file(fx.jpeg, gone);
    for (int i = 0; i < 3; i++)
        page_result(i, i == 2 ? gone : fx.jpeg, &pages[i]);
    assert_int_equal(unlink(gone), 0);
    d.title = (char *)"gone";
    d.pdf = pm_asprintf("%s/gone.pdf", fx.dir);
    d.txt = pm_asprintf("%s/gone.txt", fx.dir);
    d.icc_profile = (char *)PM_DEFAULT_ICC;
    assert_int_not_equal(pm_assemble_doc(fx.eng, &d, pages, 3, &r), 0);
    assert_false(r.ok);
    printf("# %s\n", r.error);
    assert_non_null(strstr(r.error, gone));
    assert_false(t_exists(d.pdf));
    assert_int_equal(no_file_named(fx.dir, "gone"), 0); /* no temp files */
    pm_doc_result_cleanup(&r);
    pm_free(d.pdf);
    pm_free(d.txt);
    pm_free(gone);
}

/* A skeleton PDF whose one page draws nothing but has a stream sourced
 * from `len` bytes of `src` at offset 0. */
static char *skeleton(const char *src, long long len)
{
    char *path = pm_asprintf("%s/skel.pdf", fx.dir);
    qpdf_data q = qpdf_init();
    qpdf_oh s, arr, page;

    qpdf_silence_errors(q);
    assert_int_equal(qpdf_empty_pdf(q) & QPDF_ERRORS, 0);
    s = qpdf_oh_new_stream(q);
    qpdf_oh_replace_stream_data(q, s, (const unsigned char *)"", 0,
                                qpdf_oh_new_null(q), qpdf_oh_new_null(q));
    arr = qpdf_oh_new_array(q);
    qpdf_oh_append_item(q, arr, qpdf_oh_new_string(q, src));
    qpdf_oh_append_item(q, arr, qpdf_oh_new_integer(q, 0));
    qpdf_oh_append_item(q, arr, qpdf_oh_new_integer(q, len));
    qpdf_oh_replace_key(q, qpdf_oh_get_dict(q, s), PM_QPDF_SOURCE_KEY, arr);
    page = qpdf_oh_parse(q, "<< /Type /Page /MediaBox [0 0 72 72] >>");
    qpdf_oh_replace_key(q, page, "/Contents", s);
    page = qpdf_make_indirect_object(q, page);
    assert_int_equal(qpdf_add_page(q, q, page, QPDF_FALSE) & QPDF_ERRORS, 0);
    assert_int_equal(qpdf_init_write(q, path) & QPDF_ERRORS, 0);
    qpdf_set_compress_streams(q, QPDF_FALSE); /* as the assembly's are */
    assert_int_equal(qpdf_write(q) & QPDF_ERRORS, 0);
    qpdf_cleanup(&q);
    return path;
}

/* The writer's source files: read when written, faults named. */
static void stream_sources_are_read_when_written(void **state)
{
    char *src = pm_asprintf("%s/content", fx.dir), *skel, *out, *got = NULL;
    const char *ops = "0 0 m 72 72 l S\n";
    char err[512];

    (void)state;
    out = pm_asprintf("%s/out.pdf", fx.dir);
    assert_int_equal(pm_write_file_atomic(src, ops, strlen(ops)), 0);
    skel = skeleton(src, (long long)strlen(ops));
    assert_int_equal(pm_qpdf_stream_write(skel, out, 2, err, sizeof(err)), 0);
    assert_int_equal(t_run(NULL, "qpdf --check '%s' >/dev/null", out), 0);
    assert_int_equal(
        t_run(&got, "qpdf --qdf --object-streams=disable '%s' -", out), 0);
    assert_non_null(strstr(got, ops));
    assert_null(strstr(got, PM_QPDF_SOURCE_KEY));
    free(got);

    /* Shorter than the skeleton says. */
    pm_free(skel);
    skel = skeleton(src, 1000);
    assert_int_equal(pm_qpdf_stream_write(skel, out, 2, err, sizeof(err)), -1);
    printf("# %s\n", err);
    assert_non_null(strstr(err, src));
    assert_non_null(strstr(err, "short read"));

    /* Gone. */
    assert_int_equal(unlink(src), 0);
    assert_int_equal(pm_qpdf_stream_write(skel, out, 2, err, sizeof(err)), -1);
    printf("# %s\n", err);
    assert_non_null(strstr(err, src));
    assert_non_null(strstr(err, "No such file"));
    unlink(out);
    unlink(skel);
    pm_free(skel);
    pm_free(out);
    pm_free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_sources_are_read_when_written),
        cmocka_unit_test(missing_artifact_fails_naming_it),
        cmocka_unit_test(peak_memory_is_not_the_documents_size),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
