/*
 * test_leftovers.c: work cut off by kill -9 leaves nothing behind once it
 * is done again. The real binary and workers in a temp root
 * (tests/lib/servelib.h); the workers are stopped the moment a temp file
 * of theirs appears (inotify) and killed when it is still there, so the
 * kill lands while the file is being written, which the soak
 * (scripts/soak.sh) hits only by chance.
 *
 * Covered: a page whose workers were killed while they wrote its
 * artifacts (`.p00001.alto.xml.<random>.tmp` in the spool's page folder;
 * such files are also put there before the page runs, as the kill race
 * is not always won) is done on a later attempt, and its job is done and
 * published with no temp file left in the spool. The page spools
 * (`.job-N.pages.jsonl`) of assemblies a stop cut short are removed at
 * the next start, and no other file.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define DEADLINE_S   180.0 /* for anything the service should do */
#define PAGE_TIMEOUT 60
#define KILLS        1 /* kills that must land on a temp file */

/* Whether `name` is a temp file's (pm_tmp_create: ".<name>.<hex>.tmp"). */
static int is_tmp(const char *name)
{
    size_t n = strlen(name);

    return name[0] == '.' && n > 4 && strcmp(name + n - 4, ".tmp") == 0;
}

/* The temp files under `dir` (one level), as one line each into
 * buf[size]; how many. */
static int list_tmps(const char *dir, char *buf, size_t size)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    buf[0] = '\0';
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (!is_tmp(e->d_name))
            continue;
        n++;
        snprintf(buf + strlen(buf), size - strlen(buf), "%s/%s\n", dir,
                 e->d_name);
    }
    closedir(d);
    return n;
}

/* The service's workers, known before a temp file appears: listing them
 * reads all of /proc, too slow to do while the file is being written. */
typedef struct workers {
    pid_t v[16];
    int n;
} workers_t;

/* Lists the workers again unless both (sv_write_config: 2) are known
 * and alive. */
static void workers_fresh(const sv_fx_t *f, workers_t *w)
{
    int alive = w->n == 2;

    for (int i = 0; alive && i < w->n; i++)
        alive = kill(w->v[i], 0) == 0;
    if (!alive)
        w->n = sv_worker_pids(f, w->v, 16);
}

/* Sends `sig` to every worker in `w`. */
static void signal_workers(const workers_t *w, int sig)
{
    for (int i = 0; i < w->n; i++)
        kill(w->v[i], sig);
}

/* Waits for folder `dir` to exist, then watches it: the inotify fd. */
static int watch_when_made(const char *dir)
{
    double end = sv_now_s() + DEADLINE_S;
    struct stat st;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

    assert_true(fd >= 0);
    while (stat(dir, &st) != 0) {
        if (sv_now_s() > end)
            fail_msg("%s never appeared", dir);
        sv_nap_ms(5);
    }
    if (inotify_add_watch(fd, dir, IN_CREATE) < 0)
        fail_msg("inotify on %s: %s", dir, strerror(errno));
    return fd;
}

/* Waits for a temp file to be created in the watched folder `dir`; stops
 * the workers at once and, when the file is still there (its writer
 * stopped before its rename), kills them: 1. A file already renamed lets
 * them go on (SIGCONT) and the wait goes on; 0 when the job's pages are
 * all done meanwhile. */
static int kill_on_tmp(const sv_fx_t *f, int fd, const char *dir,
                       const char *batch)
{
    char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    double end = sv_now_s() + DEADLINE_S;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    workers_t w = {.n = 0};
    char seen[64];

    while (sv_now_s() < end) {
        ssize_t len;

        workers_fresh(f, &w);
        if (poll(&p, 1, 200) <= 0) {
            sv_job_state(f, batch, seen);
            if (strcmp(seen, "running") != 0 && strcmp(seen, "queued") != 0)
                return 0;
            continue;
        }
        len = read(fd, ev, sizeof(ev));
        for (char *at = ev; len > 0 && at < ev + len;) {
            const struct inotify_event *e = (const struct inotify_event *)at;
            char path[800];
            struct stat st;

            at += sizeof(*e) + e->len;
            if (e->len == 0 || !is_tmp(e->name))
                continue;
            signal_workers(&w, SIGSTOP);
            snprintf(path, sizeof(path), "%s/%s", dir, e->name);
            if (stat(path, &st) == 0) {
                signal_workers(&w, SIGKILL); /* ends a stopped process too */
                return 1;
            }
            signal_workers(&w, SIGCONT);
        }
    }
    fail_msg("no temp file appeared in %s in %.0f s", dir, DEADLINE_S);
    return 0;
}

/* Workers killed while they write a page's artifacts: the page is done
 * later, the job published, and the spool holds no temp file. The kills
 * land on a temp file only when they win a race with its rename, so
 * page 1 also has, before it runs, the temp files such a kill leaves. */
static void killed_artifact_writes_leave_no_temp_files(void **state)
{
    sv_fx_t *f = *state;
    char dir[600], path[700], seen[64], left[4096];
    int landed = 0, tries = 0, fd;
    long long id;

    sv_start(f);
    sv_wait_log(f, "serve started", DEADLINE_S);
    /* The first job of a new catalog is job 1. */
    snprintf(dir, sizeof(dir), "%s/spool/job-1/pages", f->root);
    assert_int_equal(pm_mkdir_p(dir), 0);
    snprintf(path, sizeof(path), "%s/.p00001.alto.xml.0123456789ab.tmp", dir);
    sv_write_text(path, "<alto");
    snprintf(path, sizeof(path), "%s/.p00001.tif.ba9876543210.tmp", dir);
    sv_write_text(path, "II*");
    fd = watch_when_made(dir);
    sv_drop_text_batch(f, "WO-1_kills", 4);
    id = sv_wait_job(f, "WO-1_kills", NULL, DEADLINE_S);
    assert_int_equal(id, 1);
    while (landed < KILLS && tries++ < 40) {
        sv_job_state(f, "WO-1_kills", seen);
        if (strcmp(seen, "running") != 0 && strcmp(seen, "queued") != 0)
            break; /* done meanwhile: the kills came too late */
        landed += kill_on_tmp(f, fd, dir, "WO-1_kills");
    }
    close(fd);
    print_message("%d of %d kills landed on a temp file being written\n",
                  landed, KILLS);
    sv_wait_job(f, "WO-1_kills", "done", DEADLINE_S);
    if (list_tmps(dir, left, sizeof(left)) != 0)
        fail_msg("job %lld is done, but temp files of killed workers are "
                 "left in the spool:\n%s",
                 id, left);
}

/* What a name in the work order folder must hold after the start. */
typedef struct spool_case {
    const char *name;
    int swept; /* a stale page spool: removed at start */
} spool_case_t;

static const spool_case_t spool_cases[] = {
    {".job-7.pages.jsonl", 1},        /* a new job's assembly */
    {"job-8.replace.pages.jsonl", 1}, /* a replaced page's */
    {".job-1.pages.jsonl", 1},        /* the job still to assemble */
    {".job-7.pages.jsonl.bak", 0},    /* none of these is a spool */
    {"job-7.pages.jsonl", 0},
    {".job-07.pages.jsonl", 0},
    {".job-x.pages.jsonl", 0},
    {".job-9.replace.pages.jsonl", 0},
    {"job-9.replace.pages.jsonl~", 0},
    {".job-.pages.jsonl", 0},
    {"notes.txt", 0},
};

/* Page spools of assemblies a stop cut short (the spool of a job that
 * failed, was held or cancelled, or whose replacement was abandoned, and
 * of a job still to assemble) are removed when the service starts, and
 * nothing else is: other names, a link and a folder with a spool's name,
 * a spool's name outside a work order folder. The job then assembles. */
static void stale_page_spools_are_swept_at_start(void **state)
{
    sv_fx_t *f = *state;
    char wo[600], path[800], pdf[800], *text;
    size_t n = sizeof(spool_cases) / sizeof(spool_cases[0]);
    struct stat st;
    long long id;
    int attempts;

    /* A first start marks the output folder as this catalog's. */
    sv_start(f);
    sv_wait_log(f, "serve started", DEADLINE_S);
    assert_int_equal(sv_stop(f, SIGTERM, DEADLINE_S), 0);
    snprintf(wo, sizeof(wo), "%s/ACME/WO-1", f->out);
    assert_int_equal(pm_mkdir_p(wo), 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", wo, spool_cases[i].name);
        sv_write_text(path, "{\"page\":1}\n");
    }
    snprintf(path, sizeof(path), "%s/.job-5.pages.jsonl", wo);
    assert_int_equal(symlink("notes.txt", path), 0);
    snprintf(path, sizeof(path), "%s/.job-6.pages.jsonl", wo);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/ACME/.job-4.pages.jsonl", f->out);
    sv_write_text(path, "{}\n");
    /* The first job of a new catalog is job 1, dropped before the start. */
    sv_drop_text_batch(f, "WO-1_spools", 2);
    sv_start(f);
    id = sv_wait_job(f, "WO-1_spools", "done", DEADLINE_S);
    assert_int_equal(id, 1);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", wo, spool_cases[i].name);
        if (spool_cases[i].swept && lstat(path, &st) == 0)
            fail_msg("the stale page spool %s is still there", path);
        if (spool_cases[i].swept)
            continue;
        text = t_slurp(path);
        assert_string_equal(text, "{\"page\":1}\n");
        pm_free(text);
    }
    snprintf(path, sizeof(path), "%s/.job-5.pages.jsonl", wo);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    snprintf(path, sizeof(path), "%s/.job-6.pages.jsonl", wo);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    snprintf(path, sizeof(path), "%s/ACME/.job-4.pages.jsonl", f->out);
    assert_int_equal(lstat(path, &st), 0);
    snprintf(pdf, sizeof(pdf), "%s/job-1/data/job-1.pdf", wo);
    assert_int_equal(lstat(pdf, &st), 0);
    assert_true(st.st_size > 0);
    sv_assert_all_done(f, id, 2, &attempts);
}

static int setup(void **state)
{
    /* Attempts enough for the kills: each one counts. */
    *state = sv_fx_new(PAGE_TIMEOUT, "max_attempts = 60\n", NULL);
    return 0;
}

static int teardown(void **state)
{
    sv_fx_t *f = *state;
    int rc = sv_fx_fini(f, PAGE_TIMEOUT + 10);

    pm_free(f);
    t_tmpdir_cleanup();
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            killed_artifact_writes_leave_no_temp_files, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_page_spools_are_swept_at_start,
                                        setup, teardown),
    };

    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));

    return cmocka_run_group_tests(tests, NULL, NULL);
}
