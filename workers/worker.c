/*
 * worker.c: the task loop of `pagemill worker` (worker.h). Single
 * threaded and blocking by design: one task at a time, the engine kept
 * warm between tasks. A malformed line is answered with an error result
 * when it carries a task id, and logged otherwise; it never ends the loop.
 *
 * Test hook, compiled only with PM_TEST_HOOKS (builds that build the
 * tests, see CMakeLists.txt): when the environment variable
 * PAGEMILL_TEST_HANG_MATCH is set and non-empty, a page task whose src
 * contains that substring is never processed; the worker sleeps until it
 * is killed, as a worker stuck on a pathological page would. The tests use
 * it to exercise the page timeout. And when PAGEMILL_TEST_ASSEMBLY_DIE
 * names a file that exists, an assembly task removes that file, starts
 * its PDF's temp file as the writer does, and kills its own worker with
 * SIGKILL: a worker killed mid-assembly, once. A release build has no such
 * code.
 */
#include "workers/worker.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"
#include "workers/engine.h"

static int send_line(FILE *out, char *line)
{
    int ok;

    if (line == NULL)
        return PM_ENOMEM;
    ok = fputs(line, out) >= 0 && fflush(out) == 0;
    pm_free(line);
    return ok ? 0 : PM_EIO;
}

#ifdef PM_TEST_HOOKS
/* The test hook above: hangs (until killed) when `src` matches. */
static void test_hang_hook(long long task, const char *src)
{
    const char *match = getenv("PAGEMILL_TEST_HANG_MATCH");

    if (match == NULL || *match == '\0' || src == NULL ||
        strstr(src, match) == NULL)
        return;
    pm_log(PM_LOG_WARN, "worker",
           "task=%lld: PAGEMILL_TEST_HANG_MATCH matches %s: hanging (test "
           "hook)",
           task, src);
    for (;;)
        sleep(60);
}

/* The other hook above: dies mid-assembly, once per flag file. */
static void test_assembly_die_hook(const pm_doc_task_t *d)
{
    const char *flag = getenv("PAGEMILL_TEST_ASSEMBLY_DIE");
    char *tmp = NULL;

    if (flag == NULL || *flag == '\0' || unlink(flag) != 0)
        return;
    pm_log(PM_LOG_WARN, "worker",
           "PAGEMILL_TEST_ASSEMBLY_DIE: killed while writing %s (test hook)",
           d->pdf);
    if (pm_tmp_create(d->pdf, &tmp, NULL) == 0)
        pm_free(tmp);
    raise(SIGKILL);
}
#else
#define test_hang_hook(task, src) ((void)0)
#define test_assembly_die_hook(d) ((void)0)
#endif

static int do_page(pm_engine_t *eng, pm_proto_msg_t *m, FILE *out)
{
    pm_page_result_t r;
    int err;

    pm_log(PM_LOG_DEBUG, "worker", "task=%lld page=%d started", m->task,
           m->page.page);
    test_hang_hook(m->task, m->page.src);
    pm_process_page(eng, &m->profile, &m->page, &r);
    if (r.ok)
        pm_log(PM_LOG_DEBUG, "worker", "task=%lld page=%d done in %.0f ms",
               m->task, r.page, r.ms.total);
    else
        pm_log(PM_LOG_WARN, "worker", "task=%lld page=%d failed: %s", m->task,
               r.page, r.error ? r.error : "?");
    err = send_line(out, pm_proto_page_result(m->task, &r));
    pm_page_result_cleanup(&r);
    return err;
}

/* The ASSEMBLE task's spool as a page source: it must hold the npages
 * pages the task names, no more, no fewer (a spool cut short is never
 * taken for a shorter document). */
typedef struct spool_source {
    pm_page_spool_t *sp;
    const char *path;
    size_t npages, read;
} spool_source_t;

static int spool_next(void *ctx, pm_page_result_t *r, char *why, size_t size)
{
    spool_source_t *ss = ctx;
    int n = pm_page_spool_next(ss->sp, r, why, size);

    if (n > 0 && ss->read == ss->npages) {
        pm_page_result_cleanup(r);
        snprintf(why, size, "%s: more than the %zu pages of the task", ss->path,
                 ss->npages);
        return PM_EPROTO;
    }
    if (n == 0 && ss->read < ss->npages) {
        snprintf(why, size, "%s: %zu pages, the task has %zu", ss->path,
                 ss->read, ss->npages);
        return PM_EPROTO;
    }
    ss->read += n > 0;
    return n;
}

static int spool_rewind(void *ctx, char *why, size_t size)
{
    spool_source_t *ss = ctx;

    ss->read = 0;
    return pm_page_spool_rewind(ss->sp, why, size);
}

static int do_assemble(pm_engine_t *eng, pm_proto_msg_t *m, FILE *out)
{
    spool_source_t ss = {NULL, m->spool, m->npages, 0};
    pm_page_source_t src = {spool_next, spool_rewind, &ss};
    pm_doc_result_t r;
    char why[1024];
    int err;

    test_assembly_die_hook(&m->doc);
    pm_engine_take_tiff_ms(eng); /* none left from an earlier task */
    err = pm_page_spool_open(m->spool, &ss.sp, why, sizeof(why));
    if (err == 0) {
        pm_assemble_pages(eng, &m->doc, &src, &r);
    } else {
        memset(&r, 0, sizeof(r));
        r.error = pm_strdup(why);
    }
    pm_page_spool_close(ss.sp);
    r.tiff_ms = pm_engine_take_tiff_ms(eng);
    if (!r.ok)
        pm_log(PM_LOG_ERROR, "worker", "task=%lld assembly failed: %s", m->task,
               r.error ? r.error : "?");
    err = send_line(out, pm_proto_doc_result(m->task, &r));
    pm_doc_result_cleanup(&r);
    return err;
}

/* Loads the engines a page will need before the first page comes. */
static void warm_up(pm_engine_t *eng, const char *langs)
{
    double t0 = pm_now_ms();

    if (pm_engine_warm(eng, langs) != 0)
        pm_log(PM_LOG_WARN, "worker", "cannot load engines ahead: %s",
               pm_engine_errmsg(eng));
    else
        pm_log(PM_LOG_DEBUG, "worker", "engines loaded ahead (%s) in %.0f ms",
               langs, pm_now_ms() - t0);
}

int pm_worker_run(const char *tessdata, const char *warm, FILE *in, FILE *out)
{
    pm_engine_t *eng = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int err, status = 0;

    err = pm_engine_open(tessdata, &eng);
    if (err) {
        pm_log(PM_LOG_ERROR, "worker", "engine: %s", pm_strerror(err));
        return 1;
    }
    if (warm != NULL)
        warm_up(eng, warm);
    if (send_line(out, pm_proto_ready((int)getpid())) != 0) {
        pm_engine_close(eng);
        return 1;
    }
    while ((n = getline(&line, &cap, in)) > 0) {
        pm_proto_msg_t m;
        char why[256];

        if (pm_proto_parse(line, (size_t)n, &m, why, sizeof(why)) != 0) {
            pm_log(PM_LOG_ERROR, "worker", "bad task line: %s", why);
            continue;
        }
        if (m.type == PM_MSG_QUIT) {
            pm_proto_msg_cleanup(&m);
            break;
        }
        if (m.type == PM_MSG_PAGE)
            err = do_page(eng, &m, out);
        else if (m.type == PM_MSG_ASSEMBLE)
            err = do_assemble(eng, &m, out);
        else if (m.type == PM_MSG_WARM)
            warm_up(eng, m.warm); /* a reload's profiles: no answer */
        else
            pm_log(PM_LOG_ERROR, "worker", "unexpected message type %d",
                   (int)m.type);
        pm_proto_msg_cleanup(&m);
        if (err) {
            status = 1; /* the coordinator is gone: stop */
            break;
        }
    }
    free(line);
    pm_engine_close(eng);
    return status;
}
