/*
 * servelib.c: the shared helpers of the `pagemill serve` end-to-end tests
 * (servelib.h).
 */
#include "lib/servelib.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <leptonica/allheaders.h>

#include "catalog/catalog.h"
#include "pipeline/base/pm.h"

/* ---- small helpers ---- */

double sv_now_s(void)
{
    return pm_now_ms() / 1000.0;
}

void sv_nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

void sv_write_text(const char *path, const char *text)
{
    assert_int_equal(pm_write_file_atomic(path, text, strlen(text)), 0);
}

void sv_page(const char *dst, const char *const *lines)
{
    PIX *pix = t_text_page(2550, 3300, 300, lines);

    assert_non_null(pix);
    assert_int_equal(pixWrite(dst, pix, IFF_TIFF_G4), 0);
    pixDestroy(&pix);
}

/* ---- the fixture ---- */

int sv_fx_init(sv_fx_t *f, const char *root)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "%s", root);
    snprintf(f->ini, sizeof(f->ini), "%s/pagemill.ini", f->root);
    snprintf(f->db, sizeof(f->db), "%s/catalog.db", f->root);
    snprintf(f->log, sizeof(f->log), "%s/serve.log", f->root);
    snprintf(f->err, sizeof(f->err), "%s/cli.err", f->root);
    snprintf(f->out, sizeof(f->out), "%s/out", f->root);
    snprintf(f->scans, sizeof(f->scans), "%s/hot/scans", f->root);
    return pm_mkdir_p(f->scans) != 0 ? -1 : 0;
}

int sv_write_config(const sv_fx_t *f, int page_timeout, const char *extra)
{
    char *ini;
    int err;

    ini = pm_asprintf("[pagemill]\nworkers = 2\npage_timeout = %d\n"
                      "worker_memory_mb = %d\ncatalog = %s\n"
                      "spool = %s/spool\noutput = %s\n"
                      "%s\n"
                      "[hotfolder scans]\npath = %s\nmarker = batch.ini\n",
                      page_timeout, T_UNDER_ASAN ? 0 : 2048, f->db, f->root,
                      f->out, extra, f->scans);
    if (ini == NULL)
        return -1;
    err = pm_write_file_atomic(f->ini, ini, strlen(ini));
    pm_free(ini);
    return err != 0 ? -1 : 0;
}

sv_fx_t *sv_fx_new(int page_timeout, const char *extra, const char *fee_code)
{
    sv_fx_t *f = pm_calloc(1, sizeof(*f));
    char args[128];

    assert_non_null(f);
    assert_int_equal(sv_fx_init(f, t_tmpdir()), 0);
    assert_int_equal(sv_write_config(f, page_timeout, extra), 0);
    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    if (fee_code != NULL) {
        snprintf(args, sizeof(args),
                 "fee add %s --price 0.08125 --effective 2000-01-01", fee_code);
        sv_cli_ok(f, args);
        snprintf(args, sizeof(args),
                 "workorder add WO-1 --account ACME --fee-code %s", fee_code);
        sv_cli_ok(f, args);
    } else {
        sv_cli_ok(f, "workorder add WO-1 --account ACME");
    }
    return f;
}

int sv_fx_delete(sv_fx_t *f, int page_timeout)
{
    int rc = sv_fx_fini(f, page_timeout + 10);

    pm_free(f);
    t_tmpdir_cleanup();
    return rc;
}

int sv_fx_fini(sv_fx_t *f, double secs)
{
    int status = 0, rc = 0;
    char *log;

    if (f->root[0] == '\0')
        return 0;
    if (f->pid > 0 && kill(f->pid, SIGTERM) == 0 &&
        (status = sv_reap(f, secs)) != 0) {
        fprintf(stderr, "serve exited with wait status %d\n", status);
        rc = -1;
    }
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
    }
    log = t_slurp(f->log);
    if (log != NULL &&
        (strstr(log, "Sanitizer") || strstr(log, "runtime error")))
        rc = -1;
    if (log != NULL && (rc != 0 || getenv("PM_SHOW_LOG") != NULL))
        fprintf(stderr, "---- %s ----\n%s", f->log, log);
    free(log);
    return rc;
}

/* ---- the service ---- */

void sv_start(sv_fx_t *f)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        execl(PM_BINARY, PM_BINARY, "serve", "--config", f->ini, (char *)NULL);
        _exit(127);
    }
    f->pid = pid;
}

int sv_reap(sv_fx_t *f, double secs)
{
    double until = sv_now_s() + secs;
    int status;

    while (sv_now_s() < until) {
        pid_t r = waitpid(f->pid, &status, WNOHANG);

        if (r == f->pid) {
            f->pid = 0;
            return status;
        }
        sv_nap_ms(20);
    }
    return -1;
}

int sv_stop(sv_fx_t *f, int sig, double secs)
{
    int status;

    assert_true(f->pid > 0);
    assert_int_equal(kill(f->pid, sig), 0);
    status = sv_reap(f, secs);
    if (status == -1)
        fail_msg("the service did not exit within %.0f s of signal %d", secs,
                 sig);
    return status;
}

int sv_worker_pids(const sv_fx_t *f, pid_t *v, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL && n < max) {
        char path[300], buf[512];
        const char *rp;
        FILE *fp;
        int ppid = 0;

        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        fp = fopen(path, "r");
        if (fp == NULL)
            continue;
        buf[0] = '\0';
        if (fgets(buf, sizeof(buf), fp) == NULL)
            buf[0] = '\0';
        fclose(fp);
        rp = strrchr(buf, ')');
        if (rp != NULL && sscanf(rp + 1, " %*c %d", &ppid) == 1 &&
            ppid == f->pid)
            v[n++] = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    return n;
}

/* ---- the CLI ---- */

int sv_cli(const sv_fx_t *f, char **out, char **err, const char *args)
{
    int rc = t_run(out, "'%s' %s --config '%s' 2>'%s'", PM_BINARY, args, f->ini,
                   f->err);

    if (err != NULL) {
        *err = t_slurp(f->err);
        assert_non_null(*err);
    }
    return rc;
}

/* Fails the test naming `args`, its exit status `rc` and its stderr
 * `err`, which it frees first (a failed test does not come back to free
 * it). */
static void fail_cli(const char *args, int rc, char *err)
{
    char msg[2048];

    snprintf(msg, sizeof(msg), "pagemill %s: exit %d: %s", args, rc,
             err ? err : "");
    free(err);
    fail_msg("%s", msg);
}

void sv_cli_ok(const sv_fx_t *f, const char *args)
{
    char *err = NULL;
    int rc = sv_cli(f, NULL, &err, args);

    if (rc != 0)
        fail_cli(args, rc, err);
    free(err);
}

char *sv_cli_text(const sv_fx_t *f, const char *args)
{
    char *out = NULL, *err = NULL;
    int rc = sv_cli(f, &out, &err, args);

    if (rc != 0) {
        free(out);
        fail_cli(args, rc, err);
    }
    free(err);
    return out;
}

json_t *sv_cli_doc(const sv_fx_t *f, const char *args)
{
    char *out = sv_cli_text(f, args);
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);

    if (doc == NULL)
        fail_msg("pagemill %s: not JSON: %s", args, out);
    free(out);
    return doc;
}

json_t *sv_cli_json(const sv_fx_t *f, const char *args)
{
    char full[512];

    snprintf(full, sizeof(full), "%s --json", args);
    return sv_cli_doc(f, full);
}

json_t *sv_cli_status(const sv_fx_t *f, int *rc)
{
    char *out = NULL;
    json_error_t jerr;
    json_t *doc;
    int code = sv_cli(f, &out, NULL, "status --json");

    /* 3: a job has failed; 4: the service is not running. */
    if (code != 0 && code != 3 && code != 4)
        fail_msg("pagemill status: exit %d", code);
    doc = json_loads(out ? out : "", 0, &jerr);
    if (doc == NULL)
        fail_msg("pagemill status: not JSON: %s", out ? out : "");
    free(out);
    if (rc != NULL)
        *rc = code;
    return doc;
}

/* ---- jobs ---- */

const char *sv_jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

long long sv_jint(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

json_t *sv_find_job(const sv_fx_t *f, const char *batch)
{
    json_t *list = sv_cli_json(f, "job list"), *job = NULL, *it;
    size_t i;

    json_array_foreach(list, i, it)
    {
        if (strcmp(sv_jstr(it, "batch"), batch) == 0) {
            job = json_incref(it);
            break;
        }
    }
    json_decref(list);
    return job;
}

long long sv_job_state(const sv_fx_t *f, const char *batch, char *seen)
{
    json_t *j = sv_find_job(f, batch);
    long long id = 0;

    snprintf(seen, 64, "%s", "");
    if (j != NULL) {
        id = sv_jint(j, "id");
        snprintf(seen, 64, "%s", sv_jstr(j, "state"));
        json_decref(j);
    }
    return id;
}

void sv_wait_replaced(const sv_fx_t *f, long long id, double secs)
{
    double end = sv_now_s() + secs;
    json_t *show, *e;
    char args[64];
    size_t i;

    snprintf(args, sizeof(args), "job show %lld", id);
    for (;;) {
        show = sv_cli_json(f, args);
        json_array_foreach(json_object_get(show, "events"), i, e)
        {
            const char *kind = sv_jstr(e, "kind");

            if (strcmp(kind, "page.replace_failed") == 0)
                fail_msg("job %lld: the replacement failed: %s", id,
                         sv_jstr(e, "detail"));
            if (strcmp(kind, "page.replaced") == 0) {
                json_decref(show);
                return;
            }
        }
        json_decref(show);
        if (sv_now_s() > end)
            fail_msg("job %lld: no page.replaced event within %.0f s", id,
                     secs);
        sv_nap_ms(200);
    }
}

long long sv_wait_job(const sv_fx_t *f, const char *batch, const char *state,
                      double secs)
{
    double until = sv_now_s() + secs;
    char seen[64] = "";

    while (sv_now_s() < until) {
        long long id = sv_job_state(f, batch, seen);

        if (id > 0 && (state == NULL || strcmp(seen, state) == 0))
            return id;
        if (id > 0 && strcmp(seen, "failed") == 0)
            break;
        sv_nap_ms(100);
    }
    fail_msg("batch %s: wanted %s, last saw %s (log: %s)", batch,
             state ? state : "a job", seen[0] ? seen : "no job", f->log);
    return 0;
}

void sv_wait_log(const sv_fx_t *f, const char *text, double secs)
{
    sv_wait_text(f->log, text, secs);
}

void sv_wait_log_alive(sv_fx_t *f, const char *text, double secs)
{
    double until = sv_now_s() + secs;
    int status = 0;

    while (sv_log_count(f->log, text) == 0 && sv_now_s() < until) {
        if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
            f->pid = 0;
            fail_msg("the service exited (wait status %d) before its log "
                     "said '%s': see %s",
                     status, text, f->log);
        }
        sv_nap_ms(100);
    }
    sv_wait_text(f->log, text, 0); /* fails showing the log */
}

void sv_wait_text(const char *path, const char *text, double secs)
{
    double until = sv_now_s() + secs;
    char *log = NULL;

    for (;;) { /* looks once at least */
        free(log);
        log = t_slurp(path);
        if (log != NULL && strstr(log, text) != NULL) {
            free(log);
            return;
        }
        if (sv_now_s() >= until)
            break;
        sv_nap_ms(100);
    }
    fail_msg("%s never said '%s':\n%s", path, text, log ? log : "");
}

int sv_log_count(const char *path, const char *text)
{
    char *log = t_slurp(path);
    int n = 0;

    for (const char *p = log; p != NULL && (p = strstr(p, text)) != NULL;
         p += strlen(text))
        n++;
    free(log);
    return n;
}

int64_t sv_wait_running(const sv_fx_t *f, long long job, const char *owner,
                        int *attempt, char *holder, double secs)
{
    pm_catalog_t *cat = NULL;
    pm_task_t *v = NULL;
    size_t n = 0;
    int64_t id = 0;

    assert_int_equal(pm_catalog_open(f->db, &cat), 0);
    for (double until = sv_now_s() + secs; id == 0 && sv_now_s() < until;
         sv_nap_ms(20)) {
        assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
        for (size_t i = 0; i < n && id == 0; i++)
            if (v[i].state == PM_TASK_RUNNING && v[i].lease_owner != NULL &&
                strncmp(v[i].lease_owner, owner, strlen(owner)) == 0) {
                id = v[i].id;
                *attempt = v[i].attempts;
                snprintf(holder, 64, "%s", v[i].lease_owner);
            }
        pm_task_list_free(v, n);
    }
    pm_catalog_close(cat);
    if (id == 0)
        fail_msg("job %lld: no page running under %s within %.0f s", job, owner,
                 secs);
    return id;
}

void sv_assert_all_done(const sv_fx_t *f, long long id, int pages,
                        int *max_attempt)
{
    json_t *j, *t;
    size_t i;
    char args[64];

    snprintf(args, sizeof(args), "job show %lld", id);
    j = sv_cli_json(f, args);
    *max_attempt = 0;
    assert_int_equal(json_array_size(json_object_get(j, "page_tasks")), pages);
    json_array_foreach(json_object_get(j, "page_tasks"), i, t)
    {
        assert_string_equal(sv_jstr(t, "state"), "done");
        if (sv_jint(t, "attempts") > *max_attempt)
            *max_attempt = (int)sv_jint(t, "attempts");
    }
    json_decref(j);
    assert_int_equal(sv_billable(f, id), pages);
}

/* ---- batches ---- */

/* The folder of batch `name` in the hot folder, created, into dir. */
static void batch_dir(const sv_fx_t *f, const char *name, char *dir,
                      size_t size)
{
    snprintf(dir, size, "%s/%s", f->scans, name);
    assert_int_equal(pm_mkdir_p(dir), 0);
}

static void batch_marker(const char *dir)
{
    char path[600];

    snprintf(path, sizeof(path), "%s/batch.ini", dir);
    sv_write_text(path, "account = ACME\n");
}

void sv_drop_text_batch(const sv_fx_t *f, const char *name, int n)
{
    char dir[512], path[600], line[128];
    const char *lines[] = {line, "pagemill test page", NULL};

    batch_dir(f, name, dir, sizeof(dir));
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof(line), "Batch %s page %d", name, i + 1);
        snprintf(path, sizeof(path), "%s/p%02d.tif", dir, i + 1);
        sv_page(path, lines);
    }
    batch_marker(dir);
}

void sv_drop_scan_batch(const sv_fx_t *f, const char *name, int n)
{
    static const char *const scans[] = {"tesseract-test/testing/phototest.tif",
                                        "tesseract-test/testing/eurotext.tif"};
    char dir[512], path[600];

    batch_dir(f, name, dir, sizeof(dir));
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/p%02d.tif", dir, i + 1);
        t_copy_file(t_data(scans[i % 2]), path);
    }
    batch_marker(dir);
}

/* ---- node agents ---- */

#define SV_MAX_AGENTS 16
#define SV_MAX_ARGS   16

/* Every agent started, for sv_agents_cleanup. */
static struct {
    pid_t pid; /* 0 once reaped */
    char log[600];
} agents[SV_MAX_AGENTS];
static int nagents;

void sv_agent_start(sv_agent_t *a, const char *ini, const char *dir,
                    const char *node, ...)
{
    const char *argv[SV_MAX_ARGS + 9] = {PM_BINARY, "agent", "--config",  ini,
                                         "--node",  node,    "--workers", "1"};
    int argc = 8;
    va_list ap;
    pid_t pid;

    va_start(ap, node);
    for (const char *arg; (arg = va_arg(ap, const char *)) != NULL;) {
        assert_true(argc < 8 + SV_MAX_ARGS);
        argv[argc++] = arg;
    }
    va_end(ap);
    argv[argc] = NULL;
    snprintf(a->node, sizeof(a->node), "%s", node);
    snprintf(a->log, sizeof(a->log), "%s/%s.log", dir, node);
    assert_true(nagents < SV_MAX_AGENTS);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(PM_BINARY, (char *const *)argv);
        _exit(127);
    }
    a->pid = pid;
    agents[nagents].pid = pid;
    snprintf(agents[nagents].log, sizeof(agents[0].log), "%s", a->log);
    nagents++;
}

static void agent_reaped(pid_t pid)
{
    for (int i = 0; i < nagents; i++)
        if (agents[i].pid == pid)
            agents[i].pid = 0;
}

static void show_file(const char *path)
{
    char *text = t_slurp(path);

    fprintf(stderr, "---- %s ----\n%s\n", path, text ? text : "(none)");
    free(text);
}

void sv_agent_stop(sv_agent_t *a, int sig, double secs)
{
    double until = sv_now_s() + secs;
    int status = 0;
    pid_t r = 0;

    if (a->pid <= 0)
        return;
    assert_int_equal(kill(a->pid, sig), 0);
    while (sv_now_s() < until && (r = waitpid(a->pid, &status, WNOHANG)) == 0)
        sv_nap_ms(50);
    if (r == a->pid)
        agent_reaped(a->pid);
    a->pid = 0;
    if (r <= 0 ||
        (sig == SIGTERM && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) ||
        getenv("PM_SHOW_LOG") != NULL)
        show_file(a->log);
    if (r <= 0)
        fail_msg("agent %s did not exit within %.0f s of signal %d", a->node,
                 secs, sig);
    if (sig == SIGTERM) {
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
}

int sv_agent_freeze_on(sv_agent_t *a, const char *catalog, long long job,
                       int64_t task, const char *holder, int attempt)
{
    pm_catalog_t *cat = NULL;
    pm_task_t *v = NULL;
    size_t n = 0;
    int held = 0;

    assert_true(a->pid > 0);
    assert_int_equal(kill(a->pid, SIGSTOP), 0);
    assert_int_equal(pm_catalog_open(catalog, &cat), 0);
    assert_int_equal(pm_task_list(cat, job, &v, &n), 0);
    pm_catalog_close(cat);
    for (size_t i = 0; i < n; i++)
        held |= v[i].id == task && v[i].state == PM_TASK_RUNNING &&
                v[i].attempts == attempt && v[i].lease_owner != NULL &&
                strcmp(v[i].lease_owner, holder) == 0;
    pm_task_list_free(v, n);
    if (!held)
        assert_int_equal(kill(a->pid, SIGCONT), 0);
    return held;
}

int sv_agents_cleanup(void)
{
    int rc = 0;

    for (int i = 0; i < nagents; i++) {
        if (agents[i].pid > 0 && kill(agents[i].pid, SIGKILL) == 0)
            waitpid(agents[i].pid, NULL, 0);
        if (sv_log_count(agents[i].log, "Sanitizer") +
                sv_log_count(agents[i].log, "runtime error") >
            0) {
            fprintf(stderr, "sanitizer report in %s\n", agents[i].log);
            rc = -1;
        }
    }
    nagents = 0;
    return rc;
}

long long sv_billable(const sv_fx_t *f, long long id)
{
    pm_catalog_t *cat = NULL;
    int64_t n = -1;

    assert_int_equal(pm_catalog_open(f->db, &cat), 0);
    assert_int_equal(pm_billable_count(cat, id, 0, &n), 0);
    pm_catalog_close(cat);
    return n;
}
