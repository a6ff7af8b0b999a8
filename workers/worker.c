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
 * it to exercise the page timeout. A release build has no such code.
 */
#include "workers/worker.h"

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
#else
#define test_hang_hook(task, src) ((void)0)
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

static int do_assemble(pm_engine_t *eng, pm_proto_msg_t *m, FILE *out)
{
    pm_doc_result_t r;
    int err;

    pm_assemble_doc(eng, &m->doc, m->pages, m->npages, &r);
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
