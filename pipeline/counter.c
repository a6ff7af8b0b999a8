/*
 * counter.c: runs `pagemill count-frames` for intake (counter.h). The
 * child gets the page descriptors intake opened and checked as 3, 4, ...
 * (so it counts exactly the files intake hashed, opening nothing by
 * name), /dev/null as stdin and a pipe as stdout, and writes one line per
 * file as it goes: a line missing when it dies names the file it was on.
 * Called on a thread of libuv's pool; libuv reaps only the children it
 * spawned itself, so the waitpid() here is ours.
 */
#define _GNU_SOURCE /* pipe2 */
#include "pipeline/counter.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/base/pm.h"

#define LINE_MAX_BYTES (64 * 1024) /* longer: the child is broken */

extern char **environ;

void pm_frame_counts_cleanup(pm_frame_count_t *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        pm_free(v[i].msg);
        memset(&v[i], 0, sizeof(v[i]));
    }
}

/* The child's argument vector (strings owned by the vector). */
static char **make_argv(const pm_counter_opts_t *o, const char *const *names,
                        size_t n)
{
    char **v = pm_calloc(n + 7, sizeof(char *));
    size_t k = 0;
    int ok;

    if (v == NULL)
        return NULL;
    ok = (v[k++] = pm_strdup(o->exe)) != NULL &&
         (v[k++] = pm_strdup("count-frames")) != NULL;
    if (ok && o->memory_mb > 0)
        ok = (v[k++] = pm_strdup("--memory-mb")) != NULL &&
             (v[k++] = pm_asprintf("%d", o->memory_mb)) != NULL;
    if (ok && o->refuse_pdf_text)
        ok = (v[k++] = pm_strdup("--refuse-pdf-text")) != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = (v[k++] = pm_asprintf("%zu=%s", 3 + i, names[i])) != NULL;
    if (!ok) {
        for (size_t i = 0; i < k; i++)
            pm_free(v[i]);
        pm_free(v);
        return NULL;
    }
    return v;
}

static void free_argv(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        pm_free(v[i]);
    pm_free(v);
}

/* Starts the child with fds[i] as descriptor 3 + i and `out` as stdout. */
static int spawn(const pm_counter_opts_t *o, const int *fds,
                 const char *const *names, size_t n, int out, pid_t *pid)
{
    int high[PM_COUNT_MAX_FILES], err = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, dfl;
    char **argv = make_argv(o, names, n);
    size_t i;

    if (argv == NULL)
        return PM_ENOMEM;
    /* Above every target number first, so that no dup2 overwrites a
     * source still to be moved. */
    for (i = 0; i < n; i++) {
        high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, (int)(3 + n));
        if (high[i] < 0) {
            err = -errno;
            break;
        }
    }
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGHUP);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    /* A group of its own: a Ctrl-C meant for the service is no fault of
     * the file being counted. */
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    for (size_t k = 0; err == 0 && k < n; k++)
        posix_spawn_file_actions_adddup2(&fa, high[k], (int)(3 + k));
    if (err == 0)
        err = -posix_spawn(pid, o->exe, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    while (i > 0)
        close(high[--i]);
    free_argv(argv);
    return err;
}

/* Parses one result line into *r. 0 or PM_EPROTO. */
static int parse_line(const char *line, pm_frame_count_t *r)
{
    char *end;
    long v;

    if (strncmp(line, "ok ", 3) == 0) {
        long long px = 0;
        char *pend;

        v = strtol(line + 3, &end, 10);
        if (end == line + 3 || (*end != '\0' && *end != ' ') || v < 1 ||
            v > 1000000)
            return PM_EPROTO;
        if (*end == ' ') { /* the pixels; "ok N" alone: unknown */
            px = strtoll(end + 1, &pend, 10);
            if (pend == end + 1 || *pend != '\0' || px < 0)
                return PM_EPROTO;
        }
        r->frames = (int)v;
        r->pixels = px;
        return 0;
    }
    if (strncmp(line, "err ", 4) != 0)
        return PM_EPROTO;
    v = strtol(line + 4, &end, 10);
    if (end == line + 4 || *end != ' ' || v >= 0 || v < -100000)
        return PM_EPROTO;
    r->err = (int)v;
    r->msg = pm_strdup(end + 1);
    return r->msg != NULL ? 0 : PM_ENOMEM;
}

/* Takes the complete lines out of buf (len bytes) into out[*done...]. */
static int take_lines(char *buf, size_t *len, pm_frame_count_t *out, size_t n,
                      size_t *done)
{
    char *nl;
    int err;

    while ((nl = memchr(buf, '\n', *len)) != NULL) {
        size_t used = (size_t)(nl - buf) + 1;

        *nl = '\0';
        if (*done >= n)
            return PM_EPROTO;
        err = parse_line(buf, &out[*done]);
        if (err != 0)
            return err;
        (*done)++;
        memmove(buf, buf + used, *len - used);
        *len -= used;
    }
    return *len >= LINE_MAX_BYTES ? PM_EPROTO : 0;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Reads result lines until end of file, a bad line or the deadline:
 * 0 at end of file, PM_EPROTO, or -ETIMEDOUT. */
static int read_results(int fd, int timeout_ms, pm_frame_count_t *out, size_t n,
                        size_t *done)
{
    char *buf = pm_malloc(LINE_MAX_BYTES + 1);
    double deadline = now_ms() + timeout_ms;
    size_t len = 0;
    int err = buf == NULL ? PM_ENOMEM : 0;

    while (err == 0) {
        struct pollfd p = {fd, POLLIN, 0};
        double left = deadline - now_ms();
        int rc;
        ssize_t got;

        if (left <= 0) {
            err = -ETIMEDOUT;
            break;
        }
        rc = poll(&p, 1, (int)left + 1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            err = rc == 0 ? -ETIMEDOUT : -errno;
            break;
        }
        got = read(fd, buf + len, LINE_MAX_BYTES - len);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0) {
            err = got < 0 ? -errno : 0;
            break;
        }
        len += (size_t)got;
        err = take_lines(buf, &len, out, n, done);
    }
    pm_free(buf);
    return err;
}

/* Why the child stopped, for a file it did not answer for. */
static char *child_why(int status, int read_err, int timeout_ms)
{
    if (read_err == -ETIMEDOUT)
        return pm_asprintf("timed out (killed after %d s)",
                           (timeout_ms + 999) / 1000);
    if (read_err == PM_EPROTO)
        return pm_strdup("failed (the counter broke its protocol)");
    if (WIFSIGNALED(status))
        return pm_asprintf("crashed (signal %d, %s)", WTERMSIG(status),
                           strsignal(WTERMSIG(status)));
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        return pm_asprintf("failed (exit status %d)", WEXITSTATUS(status));
    return pm_strdup("failed (the counter stopped without an answer)");
}

int pm_count_frames_child(const pm_counter_opts_t *o, const int *fds,
                          const char *const *names, size_t n,
                          pm_frame_count_t *out, size_t *done, char **why)
{
    int pipefd[2], status = 0, err, read_err;
    pid_t pid = -1;

    assert(n >= 1 && n <= PM_COUNT_MAX_FILES);
    memset(out, 0, n * sizeof(*out));
    *done = 0;
    *why = NULL;
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        err = -errno;
        *why = pm_asprintf("cannot create a pipe: %s", strerror(-err));
        return err;
    }
    err = spawn(o, fds, names, n, pipefd[1], &pid);
    close(pipefd[1]);
    if (err != 0) {
        close(pipefd[0]);
        *why = pm_asprintf("cannot start %s count-frames: %s", o->exe,
                           pm_strerror(err));
        return err;
    }
    read_err = read_results(pipefd[0], o->timeout_ms, out, n, done);
    if (read_err != 0)
        kill(pid, SIGKILL);
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (read_err == 0 && *done == n && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0)
        return 0;
    if (read_err == 0 && WIFSIGNALED(status) &&
        (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGINT ||
         WTERMSIG(status) == SIGHUP)) {
        *why = pm_asprintf("%s count-frames was stopped by signal %d", o->exe,
                           WTERMSIG(status));
        return -EINTR; /* stopped from outside: not the file's fault */
    }
    if (*done >= n)
        *done = n - 1; /* answered for all, then broke: blame the last */
    *why = child_why(status, read_err, o->timeout_ms);
    return PM_EWORKER;
}
