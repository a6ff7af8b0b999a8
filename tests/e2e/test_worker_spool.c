/*
 * test_worker_spool.c: `pagemill worker` (the real binary) assembling from
 * a page spool (proto.h): the ASSEMBLE message names the spool and its
 * page count; a spool with fewer or more pages than that, a line cut
 * short, or no spool at all fails the assembly with a message naming the
 * file, never a shorter document; a good spool gives the PDF, and the
 * worker leaves the spool where it was (the coordinator removes it).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <leptonica/allheaders.h>

#include "lib/testlib.h"
#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"

static struct {
    const char *dir;
    pid_t pid;
    FILE *to, *from;
    char *line;
    size_t cap;
} w;

/* The next line from the worker, parsed. */
static void read_msg(pm_proto_msg_t *m)
{
    char why[256];
    ssize_t n = getline(&w.line, &w.cap, w.from);

    assert_true(n > 0);
    if (pm_proto_parse(w.line, (size_t)n, m, why, sizeof(why)) != 0)
        fail_msg("worker wrote '%s': %s", w.line, why);
}

static int setup(void **state)
{
    int in[2], out[2];
    pm_proto_msg_t m;

    (void)state;
    w.dir = t_tmpdir();
    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    w.pid = fork();
    if (w.pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        close(in[1]);
        close(out[0]);
        execl(PM_BINARY, PM_BINARY, "worker", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    w.to = fdopen(in[1], "w");
    w.from = fdopen(out[0], "r");
    read_msg(&m);
    assert_int_equal(m.type, PM_MSG_READY);
    pm_proto_msg_cleanup(&m);
    return 0;
}

static int teardown(void **state)
{
    int status;

    (void)state;
    fputs("{\"op\":\"quit\"}\n", w.to);
    fclose(w.to);
    fclose(w.from);
    waitpid(w.pid, &status, 0);
    free(w.line);
    t_tmpdir_cleanup();
    return 0;
}

/* Sends an ASSEMBLE of `spool` said to hold `npages`; the result. */
static void assemble(const char *spool, size_t npages, pm_proto_msg_t *m)
{
    pm_doc_task_t d = {0};
    pm_profile_t p;
    char *line;

    pm_profile_defaults(&p);
    d.title = (char *)"spool test";
    d.pdf = pm_asprintf("%s/doc.pdf", w.dir);
    d.txt = pm_asprintf("%s/doc.txt", w.dir);
    d.icc_profile = (char *)PM_DEFAULT_ICC;
    line = pm_proto_assemble_task(5, &d, spool, npages, &p);
    assert_non_null(line);
    assert_true(fputs(line, w.to) >= 0 && fflush(w.to) == 0);
    read_msg(m);
    assert_int_equal(m->type, PM_MSG_DOC_RESULT);
    pm_free(line);
    pm_free(d.pdf);
    pm_free(d.txt);
}

/* A converted G4 page and n failed ones as a spool file. */
static char *write_spool(const char *name, int nfailed)
{
    char *path = pm_asprintf("%s/%s", w.dir, name), why[1024];
    char *g4 = pm_asprintf("%s/p1.tif", w.dir);
    pm_page_result_t pages[4];
    PIX *pix = pixCreate(400, 300, 1);

    assert_true(nfailed < 4);
    pixRasterop(pix, 50, 50, 300, 70, PIX_SET, NULL, 0, 0);
    assert_int_equal(pixWriteTiff(g4, pix, IFF_TIFF_G4, "w"), 0);
    pixDestroy(&pix);
    memset(pages, 0, sizeof(pages));
    pages[0].page = 1;
    pages[0].ok = 1;
    pages[0].width = 400;
    pages[0].height = 300;
    pages[0].xres = pages[0].yres = 300;
    pages[0].codec = PM_IMG_G4;
    pages[0].image = g4;
    for (int i = 1; i <= nfailed; i++) {
        pages[i].page = i + 1;
        pages[i].error = (char *)"p.tif frame 1: unreadable";
    }
    assert_int_equal(
        pm_page_spool_write(path, pages, (size_t)nfailed + 1, why, sizeof(why)),
        0);
    pm_free(g4);
    return path;
}

static void expect_failure(const char *spool, size_t npages, const char *says)
{
    pm_proto_msg_t m;

    assemble(spool, npages, &m);
    assert_false(m.doc_result.ok);
    assert_non_null(m.doc_result.error);
    if (strstr(m.doc_result.error, spool) == NULL ||
        strstr(m.doc_result.error, says) == NULL)
        fail_msg("error '%s' does not name %s and '%s'", m.doc_result.error,
                 spool, says);
    pm_proto_msg_cleanup(&m);
}

static void spool_gives_the_document(void **state)
{
    char *spool = write_spool(".job-1.pages.jsonl", 2), *pdf;
    pm_proto_msg_t m;

    (void)state;
    assemble(spool, 3, &m);
    if (!m.doc_result.ok)
        fail_msg("assembly failed: %s", m.doc_result.error);
    assert_int_equal(m.doc_result.pages, 1);
    pm_proto_msg_cleanup(&m);
    pdf = pm_asprintf("%s/doc.pdf", w.dir);
    assert_int_equal(t_pdf_pages(pdf), 1);
    assert_true(t_exists(spool)); /* the coordinator's to remove */
    pm_free(pdf);
    pm_free(spool);
}

static void spool_of_other_length_fails(void **state)
{
    char *spool = write_spool(".job-2.pages.jsonl", 2);
    FILE *f;

    (void)state;
    expect_failure(spool, 4, "3 pages, the task has 4");
    expect_failure(spool, 2, "more than the 2 pages");
    /* A last line cut short. */
    f = fopen(spool, "a");
    assert_non_null(f);
    fputs("{\"page\":4,\"ok\":fa", f);
    fclose(f);
    expect_failure(spool, 4, "line 4: cut short");
    unlink(spool);
    expect_failure(spool, 3, "cannot open the page spool");
    pm_free(spool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spool_gives_the_document),
        cmocka_unit_test(spool_of_other_length_fails),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, setup, teardown);
}
