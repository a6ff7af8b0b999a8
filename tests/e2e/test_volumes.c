/*
 * test_volumes.c: a catalog from before [volume NAME] sections, end to
 * end with the real binary, on an SQLite file and on a fresh database of
 * a private PostgreSQL server (lib/pgtest.c; PostgreSQL missing fails).
 * The catalog is written through the catalog API with absolute paths,
 * as a coordinator without volumes wrote them: one job under the share
 * folder (its spool, page results and published folder) but for one page
 * elsewhere, and a replaced page. `pagemill volumes rewrite` turns every
 * path under the share into "store:..." in one transaction (a dry run
 * and a refusal change nothing; a second run changes nothing; a running
 * coordinator's lock refuses it); `job show` shows the recorded paths as
 * this machine reaches them, under the folder its configuration gives
 * the volume, and marks them where it names none. And a real `pagemill
 * serve` whose spool and output lie on a volume: the catalog records
 * "store:..." paths, while the web interface's job view and the bag's
 * metadata/events.json show them as the coordinator reaches them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "lib/httplib.h"
#include "lib/pgtest.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define T0 1000000

#define SHA_N "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
#define SHA_P "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"

static pgt_t pg;
static int use_pg;

typedef struct fx {
    char dir[256];
    char cat[512];   /* passed as --catalog */
    char ini[320];   /* [volume store] at <dir>/share */
    char other[320]; /* [volume store] at <dir>/mnt: another machine's */
    char none[320];  /* no volume */
    char errf[320];
    char *err; /* the last command's stderr */
    int64_t job;
} fx_t;

static void write_ini(const char *path, const char *text)
{
    assert_int_equal(pm_write_file_atomic(path, text, strlen(text)), 0);
}

static void mkdirs(const char *dir, const char *rel)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    assert_int_equal(pm_mkdir_p(path), 0);
}

static int setup(void **state)
{
    static int seq;
    fx_t *f = pm_calloc(1, sizeof(*f));
    char text[512], name[32], link[300];

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s", t_tmpdir());
    if (use_pg) {
        snprintf(name, sizeof(name), "v%d", ++seq);
        if (pgt_fresh_db(&pg, name, f->cat, sizeof(f->cat)) != 0)
            return -1;
    } else {
        snprintf(f->cat, sizeof(f->cat), "%s/catalog.db", f->dir);
    }
    mkdirs(f->dir, "share/spool/job-1/pages");
    snprintf(link, sizeof(link), "%s/mnt", f->dir);
    snprintf(text, sizeof(text), "%s/share", f->dir);
    if (symlink(text, link) != 0)
        return -1;
    snprintf(f->ini, sizeof(f->ini), "%s/pagemill.ini", f->dir);
    snprintf(text, sizeof(text), "[volume store]\npath = %s/share\n", f->dir);
    write_ini(f->ini, text);
    snprintf(f->other, sizeof(f->other), "%s/other.ini", f->dir);
    snprintf(text, sizeof(text), "[volume store]\npath = %s/mnt\n", f->dir);
    write_ini(f->other, text);
    snprintf(f->none, sizeof(f->none), "%s/none.ini", f->dir);
    write_ini(f->none, "[pagemill]\nworkers = 1\n");
    snprintf(f->errf, sizeof(f->errf), "%s/stderr", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;

    pm_free(f->err);
    pm_free(f);
    t_tmpdir_cleanup();
    return 0;
}

/* `pagemill ARGS --catalog CAT`: the exit status, stdout in *out (caller
 * frees), stderr in f->err. */
static int run(fx_t *f, char **out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int run(fx_t *f, char **out, const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    rc = t_run(out, "USER=tester '%s' %s --catalog '%s' 2>'%s'", PM_BINARY,
               args, f->cat, f->errf);
    pm_free(f->err);
    f->err = t_slurp(f->errf);
    assert_non_null(f->err);
    return rc;
}

/* A command that must exit 0: its stdout (caller frees). */
static char *ok(fx_t *f, const char *args)
{
    char *out = NULL;
    int rc = run(f, &out, "%s", args);

    if (rc != 0)
        fail_msg("pagemill %s: exit %d; stderr: %s", args, rc, f->err);
    return out;
}

static json_t *jok(fx_t *f, const char *args)
{
    char full[1024], *out;
    json_t *doc;

    snprintf(full, sizeof(full), "%s --json", args);
    out = ok(f, full);
    doc = json_loads(out, 0, NULL);
    if (doc == NULL)
        fail_msg("not JSON: %s", out);
    free(out);
    return doc;
}

static void assert_contains(const char *text, const char *what)
{
    if (text == NULL || strstr(text, what) == NULL)
        fail_msg("'%s' not in:\n%s", what, text ? text : "(null)");
}

/* ---- the catalog a coordinator without volumes wrote ---- */

static pm_catalog_t *open_cat(const fx_t *f)
{
    pm_catalog_t *cat = NULL;

    assert_int_equal(pm_catalog_open(f->cat, &cat), 0);
    return cat;
}

/* Page `page`'s results in <dir>/share/spool/job-1/pages. */
static pm_page_metrics_t results(const fx_t *f, int page, char buf[3][320])
{
    pm_page_metrics_t m = {.width = 2550, .height = 3300, .words = 10};

    snprintf(buf[0], 320, "%s/share/spool/job-1/pages/%05d.tif", f->dir, page);
    snprintf(buf[1], 320, "%s/share/spool/job-1/pages/%05d.pdf", f->dir, page);
    snprintf(buf[2], 320, "%s/share/spool/job-1/pages/%05d.txt", f->dir, page);
    m.image = buf[0];
    m.text_pdf = buf[1];
    m.text = buf[2];
    return m;
}

/* One done job of three pages, its third elsewhere, published into
 * <dir>/share/out; its second page replaced by a rescan. */
static void make_old_catalog(fx_t *f)
{
    pm_catalog_t *cat = open_cat(f);
    char src[3][320], sha[3][65], dir[300], buf[3][320], out[320], rescan[320],
        kept[320];
    pm_page_input_t pages[3];
    pm_job_t j = {.workorder = (char *)"WO-1",
                  .account = (char *)"CITY",
                  .profile = (char *)"default",
                  .batch = (char *)"WO-1",
                  .source_path = dir};
    pm_page_metrics_t m;
    pm_replacement_t r;
    int64_t *ids = NULL, req = 0;
    size_t n = 0;

    snprintf(dir, sizeof(dir), "%s/share/spool/job-1", f->dir);
    for (int i = 0; i < 3; i++) {
        snprintf(src[i], sizeof(src[i]), "%s/p%d.tif",
                 i < 2 ? dir : "/elsewhere", i + 1);
        snprintf(sha[i], sizeof(sha[i]), "%064d", i + 1);
        pages[i] = (pm_page_input_t){src[i], 0, sha[i], 0};
    }
    assert_int_equal(pm_job_create(cat, &j, pages, 3, "intake", &f->job), 0);
    for (int i = 0; i < 3; i++) {
        pm_task_t t;

        assert_int_equal(pm_task_claim(cat, "w1", 60, T0, &t), 0);
        m = results(f, t.page, buf);
        assert_int_equal(pm_task_complete(cat, t.id, t.attempts, &m, T0), 0);
        pm_task_cleanup(&t);
    }
    assert_int_equal(pm_job_collect_finished(cat, T0 + 1, &ids, &n), 0);
    pm_free(ids);
    snprintf(out, sizeof(out), "%s/share/out/CITY/WO-1/job-1", f->dir);
    assert_int_equal(pm_job_finish_doc(cat, f->job, out, SHA_P, 3, T0 + 1), 0);
    snprintf(rescan, sizeof(rescan), "%s/rescan.tif", dir);
    assert_int_equal(pm_replace_request(cat, f->job, 2, rescan, SHA_N,
                                        "cli:jane", T0 + 2, &req),
                     0);
    assert_int_equal(pm_replace_next(cat, &r), 0);
    m = results(f, 2, buf);
    snprintf(kept, sizeof(kept), "%s/replaced/p2.tif", dir);
    assert_int_equal(pm_replace_finish(cat, &r, &m, SHA_P, 3, kept, T0 + 3), 0);
    pm_replacement_cleanup(&r);
    pm_catalog_close(cat);
}

/* The job's source_path, and page 1's src, as recorded. */
static void recorded(const fx_t *f, char *source, char *src1, size_t size)
{
    pm_catalog_t *cat = open_cat(f);
    pm_task_t *t = NULL;
    pm_job_t j;
    size_t n = 0;

    assert_int_equal(pm_job_get(cat, f->job, &j), 0);
    snprintf(source, size, "%s", j.source_path);
    pm_job_cleanup(&j);
    assert_int_equal(pm_task_list(cat, f->job, &t, &n), 0);
    assert_int_equal(n, 3);
    snprintf(src1, size, "%s", t[0].src);
    pm_task_list_free(t, n);
    pm_catalog_close(cat);
}

/* Every path column as the rewrite leaves it. */
static void expect_rewritten(const fx_t *f)
{
    pm_catalog_t *cat = open_cat(f);
    pm_replacement_t *v = NULL;
    pm_task_t *t = NULL;
    pm_job_t j;
    size_t n = 0;

    assert_int_equal(pm_job_get(cat, f->job, &j), 0);
    assert_string_equal(j.source_path, "store:spool/job-1");
    assert_string_equal(j.output_path, "store:out/CITY/WO-1/job-1");
    pm_job_cleanup(&j);
    assert_int_equal(pm_task_list(cat, f->job, &t, &n), 0);
    assert_string_equal(t[0].src, "store:spool/job-1/p1.tif");
    assert_string_equal(t[1].src, "store:spool/job-1/rescan.tif");
    assert_string_equal(t[2].src, "/elsewhere/p3.tif");
    assert_string_equal(t[0].image, "store:spool/job-1/pages/00001.tif");
    assert_string_equal(t[1].text_pdf, "store:spool/job-1/pages/00002.pdf");
    assert_string_equal(t[2].text, "store:spool/job-1/pages/00003.txt");
    pm_task_list_free(t, n);
    assert_int_equal(pm_replace_list(cat, f->job, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].src, "store:spool/job-1/rescan.tif");
    assert_string_equal(v[0].old_src, "store:spool/job-1/p2.tif");
    assert_string_equal(v[0].kept_as, "store:spool/job-1/replaced/p2.tif");
    pm_replacement_list_free(v, n);
    pm_catalog_close(cat);
}

static const json_t *column(const json_t *doc, const char *table,
                            const char *name)
{
    const json_t *v;
    size_t i;

    json_array_foreach(json_object_get(doc, "columns"), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "table")), table) ==
                0 &&
            strcmp(json_string_value(json_object_get(v, "column")), name) == 0)
            return v;
    }
    fail_msg("no column %s.%s", table, name);
    return NULL;
}

static long long num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        fail_msg("%s is not an integer", key);
    return json_integer_value(v);
}

/* ---- volumes rewrite ---- */

/* A dry run counts and changes nothing; the run rewrites every column
 * and names the page under no volume; a second run changes nothing. */
static void rewrite_old_paths_into_volume_form(void **state)
{
    fx_t *f = *state;
    char args[512], source[512], src1[512], want[512], *out;
    json_t *doc;

    make_old_catalog(f);
    snprintf(args, sizeof(args), "volumes rewrite --config '%s' --dry-run",
             f->ini);
    out = ok(f, args);
    assert_contains(out, "TO REWRITE");
    assert_contains(out, "UNDER NO VOLUME");
    assert_contains(out, "/elsewhere/p3.tif");
    assert_contains(out, "dry run: 16 paths would be rewritten; nothing "
                         "changed");
    free(out);
    recorded(f, source, src1, sizeof(source));
    snprintf(want, sizeof(want), "%s/share/spool/job-1", f->dir);
    assert_string_equal(source, want);

    snprintf(args, sizeof(args), "volumes rewrite --config '%s'", f->ini);
    out = ok(f, args);
    assert_contains(out, "REWRITTEN");
    assert_contains(out, "1 path under no volume, left as it is:\n"
                         "  /elsewhere/p3.tif\n");
    assert_contains(out, "16 paths rewritten, in one transaction");
    free(out);
    expect_rewritten(f);

    snprintf(args, sizeof(args), "volumes rewrite --config '%s'", f->ini);
    doc = jok(f, args);
    assert_int_equal(num(doc, "rewritten"), 0);
    assert_int_equal(num(doc, "under_no_volume"), 1);
    assert_int_equal(num(column(doc, "page_tasks", "src"), "paths"), 3);
    assert_int_equal(num(column(doc, "page_tasks", "src"), "volume_form"), 2);
    assert_int_equal(num(column(doc, "page_tasks", "src"), "under_no_volume"),
                     1);
    assert_int_equal(num(column(doc, "jobs", "output_path"), "volume_form"), 1);
    assert_int_equal(
        num(column(doc, "page_replacements", "kept_as"), "volume_form"), 1);
    json_decref(doc);
    expect_rewritten(f);
}

/* The coordinator lock (as a second `serve` is refused): while a
 * coordinator holds it the rewrite is refused and changes nothing; a dry
 * run works; once it is gone the rewrite runs. */
static void rewrite_refused_while_a_coordinator_runs(void **state)
{
    fx_t *f = *state;
    pm_catalog_t *coordinator = NULL;
    char args[512], source[512], src1[512], *out = NULL;
    long holder = 0;

    make_old_catalog(f);
    coordinator = open_cat(f);
    assert_int_equal(pm_catalog_lock_coordinator(coordinator, &holder), 0);
    snprintf(args, sizeof(args), "volumes rewrite --config '%s'", f->ini);
    assert_int_equal(run(f, &out, "%s", args), 1);
    assert_string_equal(out, "");
    free(out);
    assert_contains(f->err, "refusing to rewrite");
    assert_contains(f->err, "in use by another coordinator");
    assert_contains(f->err, "Stop the service first");
    recorded(f, source, src1, sizeof(source));
    assert_true(source[0] == '/' && src1[0] == '/');
    snprintf(args, sizeof(args), "volumes rewrite --config '%s' --dry-run",
             f->ini);
    free(ok(f, args));
    pm_catalog_close(coordinator);
    snprintf(args, sizeof(args), "volumes rewrite --config '%s'", f->ini);
    free(ok(f, args));
    expect_rewritten(f);
}

/* Without a volume there is nothing to rewrite into: a usage error. */
static void rewrite_needs_a_volume(void **state)
{
    fx_t *f = *state;
    char *out = NULL;

    make_old_catalog(f);
    assert_int_equal(run(f, &out, "volumes rewrite --config '%s'", f->none), 2);
    assert_string_equal(out, "");
    free(out);
    assert_contains(f->err, "has no [volume NAME] section");
    assert_int_equal(run(f, &out, "volumes rewrite"), 2);
    free(out);
    assert_contains(f->err, "the built-in configuration has no [volume NAME]");
}

/* ---- job show ---- */

/* After the rewrite, `job show` with this machine's configuration shows
 * the paths under its folder for the volume; with another machine's,
 * under that one's; with none, as recorded and marked. */
static void job_show_resolves_volume_paths(void **state)
{
    fx_t *f = *state;
    char args[512], want[512], *out;
    json_t *doc, *pages;

    make_old_catalog(f);
    snprintf(args, sizeof(args), "volumes rewrite --config '%s'", f->ini);
    free(ok(f, args));

    snprintf(args, sizeof(args), "job show %lld --config '%s'",
             (long long)f->job, f->ini);
    out = ok(f, args);
    snprintf(want, sizeof(want), "source:       %s/share/spool/job-1\n",
             f->dir);
    assert_contains(out, want);
    snprintf(want, sizeof(want), "output:       %s/share/out/CITY/WO-1/job-1\n",
             f->dir);
    assert_contains(out, want);
    assert_contains(out, " p1.tif "); /* relative to the job's folder */
    assert_contains(out, "/elsewhere/p3.tif"); /* under no volume */
    assert_true(strstr(out, "store:") == NULL);
    free(out);

    snprintf(args, sizeof(args), "job show %lld --config '%s'",
             (long long)f->job, f->other);
    doc = jok(f, args);
    snprintf(want, sizeof(want), "%s/mnt/spool/job-1", f->dir);
    assert_string_equal(json_string_value(json_object_get(doc, "source_path")),
                        want);
    assert_string_equal(
        json_string_value(json_object_get(doc, "source_stored")),
        "store:spool/job-1");
    snprintf(want, sizeof(want), "%s/mnt/out/CITY/WO-1/job-1", f->dir);
    assert_string_equal(json_string_value(json_object_get(doc, "output_path")),
                        want);
    pages = json_object_get(doc, "page_tasks");
    snprintf(want, sizeof(want), "%s/mnt/spool/job-1/p1.tif", f->dir);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(pages, 0), "src")),
        want);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(pages, 0), "src_stored")),
                        "store:spool/job-1/p1.tif");
    json_decref(doc);

    snprintf(args, sizeof(args), "job show %lld", (long long)f->job);
    out = ok(f, args);
    assert_contains(out, "source:       store:spool/job-1 (as recorded: volume "
                         "store is not configured on this machine)\n");
    assert_contains(out, "output:       store:out/CITY/WO-1/job-1 (as "
                         "recorded: volume store is not configured");
    assert_contains(out, " p1.tif "); /* in the job's folder, marked above */
    free(out);
    snprintf(args, sizeof(args), "job show %lld", (long long)f->job);
    doc = jok(f, args);
    assert_string_equal(json_string_value(json_object_get(doc, "source_path")),
                        "store:spool/job-1");
    json_decref(doc);
}

/* ---- the service ---- */

#define DEADLINE_S   180.0
#define PAGE_TIMEOUT 60

/* `path` begins with `prefix` and holds no recorded volume form. */
static void assert_local(const char *path, const char *prefix)
{
    if (path == NULL || strncmp(path, prefix, strlen(prefix)) != 0 ||
        strstr(path, "store:") != NULL)
        fail_msg("'%s' is not a path under %s", path ? path : "(null)", prefix);
}

static void serve_shows_volume_paths_resolved(void **state)
{
    sv_fx_t *sv = ht_service_new(PAGE_TIMEOUT, "listen = 127.0.0.1:0\n"
                                               "[volume store]\npath = .");
    char want[600], path[700], *text;
    json_t *doc, *job, *bag, *o;
    long long id;
    size_t i;
    int port;

    (void)state;
    sv_start(sv);
    port = ht_port_from_log(sv->log, DEADLINE_S);
    sv_drop_text_batch(sv, "WO-1_box1", 2);
    id = sv_wait_job(sv, "WO-1_box1", "done", DEADLINE_S);

    /* the catalog records the volume form (job show --json, as recorded) */
    snprintf(path, sizeof(path), "job show %lld", id);
    doc = sv_cli_json(sv, path);
    assert_true(
        strncmp(json_string_value(json_object_get(doc, "source_stored")),
                "store:spool/", 12) == 0);
    snprintf(want, sizeof(want), "%s/spool/", sv->root);
    assert_local(json_string_value(json_object_get(doc, "source_path")), want);
    json_decref(doc);

    /* the web interface: the path here, and the recorded one */
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld", id);
    doc = ht_get_json(port, path, NULL, 200);
    job = json_object_get(doc, "job");
    snprintf(want, sizeof(want), "%s/out/", sv->root);
    assert_local(json_string_value(json_object_get(job, "output_path")), want);
    assert_true(
        strncmp(json_string_value(json_object_get(job, "output_path_stored")),
                "store:out/", 10) == 0);
    json_array_foreach(json_object_get(doc, "pages"), i, o)
    {
        assert_null(
            strchr(json_string_value(json_object_get(o, "source")), ':'));
    }

    /* the bag's events.json: the inputs where the coordinator read them */
    snprintf(path, sizeof(path), "%s/metadata/events.json",
             json_string_value(json_object_get(job, "output_path")));
    text = t_slurp(path);
    assert_non_null(text);
    bag = json_loads(text, 0, NULL);
    assert_non_null(bag);
    snprintf(want, sizeof(want), "%s/spool/", sv->root);
    assert_int_equal(json_array_size(json_object_get(bag, "objects")), 2);
    json_array_foreach(json_object_get(bag, "objects"), i, o)
    {
        assert_local(json_string_value(json_object_get(o, "file")), want);
        assert_null(json_object_get(o, "unresolved_volume"));
    }
    json_decref(bag);
    pm_free(text);
    json_decref(doc);
    assert_int_equal(sv_fx_delete(sv, PAGE_TIMEOUT), 0);
}

static int pg_setup(void **state)
{
    (void)state;
    if (pgt_start(&pg) != 0)
        return -1; /* PostgreSQL missing or broken: the group fails */
    use_pg = 1;
    return 0;
}

static int pg_teardown(void **state)
{
    (void)state;
    use_pg = 0;
    pgt_stop(&pg);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(rewrite_old_paths_into_volume_form),
        T(rewrite_refused_while_a_coordinator_runs),
        T(rewrite_needs_a_volume),
        T(job_show_resolves_volume_paths),
#undef T
    };
    const struct CMUnitTest serve[] = {
        cmocka_unit_test(serve_shows_volume_paths_resolved),
    };
    int failed;

    failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("postgresql", tests, pg_setup, pg_teardown);
    failed += cmocka_run_group_tests_name("serve", serve, NULL, NULL);
    return failed;
}
