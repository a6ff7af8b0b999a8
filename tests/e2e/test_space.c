/*
 * test_space.c: `pagemill serve` on a full volume, end to end. The spool
 * (with its hot folder, so a take stays a rename) or the output folder is
 * an 8 MiB tmpfs mounted for the test (the tests run as root; a mount
 * that fails fails the test), filled with a filler file after the
 * service started; or the catalog is on it. A full volume is nobody's fault:
 * the job waits (not failed, no attempt counted), the log says "no space on"
 * the volume once, and when the filler is removed the service sees the space
 * again and finishes the job, published and billed once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define TESTING    "tesseract-test/testing/"
#define DEADLINE_S 90.0

typedef struct fx {
    sv_fx_t sv;
    char vol[280];    /* the tmpfs mount point */
    char filler[400]; /* vol/filler */
    int mounted;
} fx_t;

/* ---- the volume ---- */

/* Mounts an 8 MiB tmpfs at f->vol; fails the test when it cannot. */
static void mount_volume(fx_t *f)
{
    snprintf(f->vol, sizeof(f->vol), "%s/vol", f->sv.root);
    snprintf(f->filler, sizeof(f->filler), "%s/filler", f->vol);
    assert_int_equal(pm_mkdir_p(f->vol), 0);
    if (mount("tmpfs", f->vol, "tmpfs", 0, "size=8m,mode=0755") != 0)
        fail_msg("cannot mount a tmpfs at %s: %s (the test needs root)", f->vol,
                 strerror(errno));
    f->mounted = 1;
}

/* Writes the filler until the volume is full (ENOSPC). */
static void fill_volume(const fx_t *f)
{
    static char block[64 * 1024];
    int fd = open(f->filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t chunk = sizeof(block);
    ssize_t n;

    assert_true(fd >= 0);
    memset(block, 'x', sizeof(block));
    while (chunk > 0) {
        n = write(fd, block, chunk);
        if (n < 0 && errno == ENOSPC)
            chunk /= 2;
        else if (n <= 0)
            fail_msg("filling %s: %s", f->filler, strerror(errno));
    }
    assert_int_equal(close(fd), 0);
}

/* ---- the service ---- */

enum { ON_VOL_SPOOL, ON_VOL_OUTPUT, ON_VOL_CATALOG };

/* Writes the configuration: one worker; the spool and hot folder, the
 * output folder or the catalog on the volume. */
static void write_config(fx_t *f, int what)
{
    char spool[400], *ini;

    if (what == ON_VOL_CATALOG) {
        snprintf(spool, sizeof(spool), "%s/spool", f->sv.root);
        snprintf(f->sv.db, sizeof(f->sv.db), "%s/catalog.db", f->vol);
    } else if (what == ON_VOL_SPOOL) {
        snprintf(spool, sizeof(spool), "%s/spool", f->vol);
        snprintf(f->sv.scans, sizeof(f->sv.scans), "%s/hot", f->vol);
    } else {
        snprintf(spool, sizeof(spool), "%s/spool", f->sv.root);
        snprintf(f->sv.out, sizeof(f->sv.out), "%s/out", f->vol);
    }
    assert_int_equal(pm_mkdir_p(f->sv.scans), 0);
    ini = pm_asprintf("[pagemill]\nworkers = 1\npage_timeout = 60\n"
                      "worker_memory_mb = %d\ncatalog = %s\n"
                      "spool = %s\noutput = %s\n\n"
                      "[hotfolder scans]\npath = %s\nmarker = batch.ini\n",
                      T_UNDER_ASAN ? 0 : 2048, f->sv.db, spool, f->sv.out,
                      f->sv.scans);
    assert_non_null(ini);
    sv_write_text(f->sv.ini, ini);
    pm_free(ini);
}

static void wait_log(const fx_t *f, const char *text)
{
    sv_wait_log(&f->sv, text, DEADLINE_S);
}

/* The job of `batch`: its state and its page's attempts. */
static long long job_of(const fx_t *f, const char *batch, char *state,
                        long long *attempts)
{
    json_t *j = sv_find_job(&f->sv, batch), *show, *t;
    char args[64];
    long long id = 0;
    size_t i;

    state[0] = '\0';
    *attempts = 0;
    if (j == NULL)
        return 0;
    id = sv_jint(j, "id");
    snprintf(state, 64, "%s", sv_jstr(j, "state"));
    json_decref(j);
    snprintf(args, sizeof(args), "job show %lld", id);
    show = sv_cli_json(&f->sv, args);
    json_array_foreach(json_object_get(show, "page_tasks"), i, t)
    {
        if (sv_jint(t, "attempts") > *attempts)
            *attempts = sv_jint(t, "attempts");
    }
    json_decref(show);
    return id;
}

static long long billable(const fx_t *f, long long id)
{
    pm_catalog_t *cat = NULL;
    int64_t n = -1;

    assert_int_equal(pm_catalog_open(f->sv.db, &cat), 0);
    assert_int_equal(pm_billable_count(cat, id, 0, &n), 0);
    pm_catalog_close(cat);
    return n;
}

/* ---- fixture ---- */

static int setup(void **state)
{
    fx_t *f = pm_calloc(1, sizeof(*f));

    if (f == NULL || sv_fx_init(&f->sv, t_tmpdir()) != 0) {
        pm_free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    int rc = sv_fx_fini(&f->sv, 70);

    if (f->mounted && umount2(f->vol, MNT_DETACH) != 0) {
        fprintf(stderr, "cannot unmount %s: %s\n", f->vol, strerror(errno));
        rc = -1;
    }
    pm_free(f);
    t_tmpdir_cleanup();
    return rc;
}

/* Starts the service with the volume holding `what`, then makes a
 * one-page batch `name` arrive on a full volume: it is staged under a
 * hidden name on the same volume, so it can arrive with a rename once the
 * volume is full. */
static void start_and_arrive_full(fx_t *f, int what, const char *name)
{
    char path[600], stage[400];

    mount_volume(f);
    write_config(f, what);
    sv_cli_ok(&f->sv, "account add ACME --name Acme");
    sv_cli_ok(&f->sv, "workorder add WO-1 --account ACME");
    sv_start(&f->sv);
    wait_log(f, "started as"); /* its markers are written */
    snprintf(stage, sizeof(stage), "%s/.%s", f->sv.scans, name);
    assert_int_equal(pm_mkdir_p(stage), 0);
    snprintf(path, sizeof(path), "%s/p1.tif", stage);
    t_copy_file(t_data(TESTING "phototest.tif"), path);
    snprintf(path, sizeof(path), "%s/batch.ini", stage);
    sv_write_text(path, "expected_pages = 1\n");
    fill_volume(f);
    snprintf(path, sizeof(path), "%s/%s", f->sv.scans, name);
    assert_int_equal(rename(stage, path), 0);
}

/* ---- the test ---- */

/* The service runs, the volume is filled, a one-page batch arrives: the
 * job waits, not failed, its page claimed at most once, while the log
 * says "no space on <volume>" (once); the filler goes, and the job is
 * done, published, billed once, its page on its first attempt. */
static void full_volume_waits(fx_t *f, int what)
{
    char path[600], vol[PATH_MAX], text[PATH_MAX + 64];
    char state[64], *log, *p;
    long long id = 0, attempts = 0;
    int reports = 0;
    double until;

    t_require_data();
    start_and_arrive_full(f, what, "WO-1_full");

    assert_non_null(realpath(f->vol, vol));
    snprintf(text, sizeof(text), "no space on %s (", vol);
    wait_log(f, text);
    /* It waits: a few seconds more, and never a failed job or a second
     * attempt (the old behaviour burnt all three within a second). A
     * parked page waits past the renewal of its lease (every 10 s), which
     * once dropped it from the parked pages: the job then stalled until
     * its lease lapsed. */
    for (until = sv_now_s() + (what == ON_VOL_SPOOL ? 14 : 4);
         sv_now_s() < until; sv_nap_ms(250)) {
        id = job_of(f, "WO-1_full", state, &attempts);
        assert_true(id > 0);
        if (strcmp(state, "failed") == 0 || attempts > 1)
            fail_msg("job %lld is %s after %lld attempt(s) on a full volume",
                     id, state, attempts);
        assert_string_not_equal(state, "done");
    }
    assert_int_equal(unlink(f->filler), 0);
    wait_log(f, "space available again");
    assert_int_equal(sv_wait_job(&f->sv, "WO-1_full", "done", DEADLINE_S), id);
    job_of(f, "WO-1_full", state, &attempts);
    assert_int_equal(attempts, 1);
    assert_int_equal(billable(f, id), 1);
    snprintf(path, sizeof(path), "%s/ACME/WO-1/job-%lld/data/job-%lld.pdf",
             f->sv.out, id, id);
    assert_int_equal(t_pdf_pages(path), 1);
    /* One line per change, not one per look. */
    log = t_slurp(f->sv.log);
    assert_non_null(log);
    for (p = log; (p = strstr(p, "no space on")) != NULL; p++)
        reports++;
    free(log);
    assert_int_equal(reports, 1);
    assert_int_equal(sv_stop(&f->sv, SIGTERM, 70), 0);
}

/* The spool is full: page artifacts cannot be written. */
static void full_spool_waits_for_space(void **state)
{
    full_volume_waits(*state, ON_VOL_SPOOL);
}

/* The output volume is full: assembly cannot write the document. */
static void full_output_waits_for_space(void **state)
{
    full_volume_waits(*state, ON_VOL_OUTPUT);
}

/* The one file named `name` under `dir` (depth first), into out[size];
 * 0, or -1 when there is none. */
static int find_file(const char *dir, const char *name, char *out, size_t size)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct stat st;
    char path[PATH_MAX];
    int rc = -1;

    if (d == NULL)
        return -1;
    while (rc != 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            rc = find_file(path, name, out, size);
        else if (S_ISREG(st.st_mode) && strcmp(de->d_name, name) == 0) {
            snprintf(out, size, "%s", path);
            rc = 0;
        }
    }
    closedir(d);
    return rc;
}

/* Changes the last byte of `path` in place (no new block needed, so it
 * works on a full volume). */
static void flip_last_byte(const char *path)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    off_t end;

    assert_true(fd >= 0);
    end = lseek(fd, -1, SEEK_END);
    assert_true(end > 0);
    assert_int_equal(pread(fd, &c, 1, end), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, end), 1);
    assert_int_equal(close(fd), 0);
}

/* A page waits for space after intake hashed it; its spooled file is
 * changed meanwhile. When it is handed out again it still carries the
 * SHA-256 intake recorded, so the worker refuses the changed file and
 * the job fails saying so: never a document made from other bytes. */
static void parked_page_is_still_checked(void **state)
{
    fx_t *f = *state;
    char page[PATH_MAX], spool[400];

    t_require_data();
    start_and_arrive_full(f, ON_VOL_SPOOL, "WO-1_parked");
    wait_log(f, "waiting for space (not counted)");
    snprintf(spool, sizeof(spool), "%s/spool", f->vol);
    if (find_file(spool, "p1.tif", page, sizeof(page)) != 0)
        fail_msg("the parked page is not under %s", spool);
    flip_last_byte(page);
    assert_int_equal(unlink(f->filler), 0);
    wait_log(f, "changed since intake");
    sv_wait_job(&f->sv, "WO-1_parked", "failed", DEADLINE_S);
    assert_int_equal(sv_stop(&f->sv, SIGTERM, 70), 0);
}

/* Occurrences of `text` in the service's log. */
static int log_count(const fx_t *f, const char *text)
{
    char *log = t_slurp(f->sv.log), *p;
    int n = 0;

    for (p = log; p != NULL && (p = strstr(p, text)) != NULL; p++)
        n++;
    free(log);
    return n;
}

/* The catalog's volume is full while the service is idle: the first
 * write that fails (the workers table, every 2 s) pauses it with one
 * "no space on" line, and the log is not flooded while it stays full;
 * once there is room it resumes, and a batch becomes a done job. */
/* Drops a one-page folder batch `name` (its own page, so it is no
 * duplicate of another) into the scans hot folder, batch.ini last. */
static void drop_batch(fx_t *f, const char *name)
{
    char path[700];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", f->sv.scans, name);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/%s/p1.tif", f->sv.scans, name);
    t_copy_file(t_data(TESTING "phototest.tif"), path);
    fp = fopen(path, "ab"); /* bytes past the TIFF's end: a page of its own */
    assert_non_null(fp);
    fprintf(fp, "%s", name);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/%s/batch.ini", f->sv.scans, name);
    sv_write_text(path, "");
}

static void full_catalog_pauses_quietly(void **state)
{
    fx_t *f = *state;
    char vol[PATH_MAX], text[PATH_MAX + 400], path[600];
    double until;

    t_require_data();
    mount_volume(f);
    write_config(f, ON_VOL_CATALOG);
    sv_cli_ok(&f->sv, "account add ACME --name Acme");
    sv_cli_ok(&f->sv, "workorder add WO-1 --account ACME");
    sv_start(&f->sv);
    wait_log(f, "started as");
    fill_volume(f);
    assert_non_null(realpath(f->vol, vol));
    snprintf(text, sizeof(text), "no space on %s (%s/catalog.db)", vol, f->vol);
    wait_log(f, text);
    /* A batch dropped meanwhile waits in the hot folder: never rejected
     * for a full catalog. Full for a while: looked at again, never logged
     * again. */
    drop_batch(f, "WO-1_during");
    snprintf(path, sizeof(path), "%s/_rejected/WO-1_during", f->sv.scans);
    for (until = sv_now_s() + 6; sv_now_s() < until; sv_nap_ms(250)) {
        if (log_count(f, "disk is full") > 1 || log_count(f, "no space") > 1)
            fail_msg("the log repeats a full catalog");
        if (t_exists(path))
            fail_msg("a batch was rejected for a full catalog");
    }
    assert_int_equal(unlink(f->filler), 0);
    wait_log(f, "space available again");
    sv_wait_job(&f->sv, "WO-1_during", "done", DEADLINE_S);
    drop_batch(f, "WO-1_after");
    sv_wait_job(&f->sv, "WO-1_after", "done", DEADLINE_S);
    assert_int_equal(sv_stop(&f->sv, SIGTERM, 70), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(full_spool_waits_for_space, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(full_output_waits_for_space, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(parked_page_is_still_checked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(full_catalog_pauses_quietly, setup,
                                        teardown),
    };

    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
