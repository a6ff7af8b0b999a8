/*
 * count.c: the loop of `pagemill count-frames` (worker.h), the child in
 * which intake counts the frames of untrusted files, so that a decoder
 * fault on a hostile file ends this process and not the coordinator.
 *
 * Test hook, compiled only with PM_TEST_HOOKS (builds that build the
 * tests, see CMakeLists.txt): when PAGEMILL_TEST_COUNT_ABORT_MATCH is set
 * and non-empty, counting a file whose name contains it calls abort(), as
 * a decoder fault would. A release build has no such code.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "pipeline/base/pm.h"
#include "workers/engine.h"
#include "workers/worker.h"

#ifdef PM_TEST_HOOKS
static void test_abort_hook(const char *name)
{
    const char *match = getenv("PAGEMILL_TEST_COUNT_ABORT_MATCH");

    if (match == NULL || *match == '\0' || strstr(name, match) == NULL)
        return;
    pm_log(PM_LOG_WARN, "count",
           "PAGEMILL_TEST_COUNT_ABORT_MATCH matches %s: aborting (test hook)",
           name);
    setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0}); /* no core file */
    abort();
}
#else
#define test_abort_hook(name) ((void)0)
#endif

/* One result line: "ok N PIXELS" (frames, and the pixels of all of
 * them, 0: unknown) or "err CODE MESSAGE" (the message on one line). 0,
 * or -1 when the reader is gone. */
static int put_result(FILE *out, int err, int n, int64_t pixels,
                      const char *msg)
{
    int rc;

    if (err == 0)
        rc = fprintf(out, "ok %d %lld\n", n, (long long)pixels);
    else {
        rc = fprintf(out, "err %d ", err);
        for (const char *p = msg; rc >= 0 && *p; p++)
            rc = fputc(*p == '\n' || *p == '\r' ? ' ' : *p, out);
        if (rc >= 0)
            rc = fputc('\n', out);
    }
    return rc < 0 || fflush(out) != 0 ? -1 : 0;
}

int pm_count_frames_run(char *const *args, int nargs, int refuse_pdf_text,
                        FILE *out)
{
    pm_engine_t *eng = NULL;
    int status = 0;

    if (pm_engine_open(NULL, &eng) != 0)
        return 1;
    pm_engine_set_pdf_text(eng, refuse_pdf_text);
    for (int i = 0; i < nargs && status == 0; i++) {
        char *end = NULL;
        long fd = strtol(args[i], &end, 10);
        const char *name = end != NULL && *end == '=' ? end + 1 : "";
        int64_t pixels = 0;
        int n = 0, err;

        if (end == args[i] || *end != '=' || fd < 0 || fd > 1 << 20) {
            pm_log(PM_LOG_ERROR, "count", "bad argument %s (FD=NAME)", args[i]);
            status = PM_EXIT_USAGE;
            break;
        }
        test_abort_hook(name);
        err = pm_load_count_frames_fd(eng, (int)fd, name, &n, &pixels);
        if (put_result(out, err, n, pixels, err ? pm_engine_errmsg(eng) : "") !=
            0)
            status = 1;
    }
    pm_engine_close(eng);
    return status;
}
