/*
 * test_cli.c: the catalog commands (`pagemill account`, `workorder`,
 * `job`, `status`) end to end: the real binary on a temp catalog file.
 * Jobs are made through the catalog API on the same file, the way the
 * coordinator would make them, and driven to failed or running with the
 * queue calls a worker's coordinator uses. Checks the human tables, the
 * --json documents (parsed with Jansson), the exit statuses, and that a
 * refusal is one line on stderr with nothing on stdout.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "catalog/catalog.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

typedef struct fx {
    char dir[256];
    char db[320];   /* passed as --catalog unless empty */
    char errf[320]; /* the last command's stderr */
    char *err;
    pm_catalog_t *cat; /* the test's own handle, when it needs one */
} fx_t;

static int setup(void **state)
{
    fx_t *f = pm_calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s", t_tmpdir());
    snprintf(f->db, sizeof(f->db), "%s/catalog.db", f->dir);
    snprintf(f->errf, sizeof(f->errf), "%s/stderr", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;

    pm_catalog_close(f->cat);
    pm_free(f->err);
    pm_free(f);
    t_tmpdir_cleanup();
    return 0;
}

/* Runs `pagemill ARGS [--catalog DB]` as user "tester": returns the exit
 * status, stdout in *out (caller frees) and stderr in f->err. */
static int vrun(fx_t *f, char **out, const char *fmt, va_list ap)
{
    char args[2048], cat[400] = "";
    int rc;

    vsnprintf(args, sizeof(args), fmt, ap);
    if (f->db[0] != '\0')
        snprintf(cat, sizeof(cat), " --catalog '%s'", f->db);
    rc = t_run(out, "USER=tester '%s' %s%s 2>'%s'", PM_BINARY, args, cat,
               f->errf);
    pm_free(f->err);
    f->err = t_slurp(f->errf);
    assert_non_null(f->err);
    return rc;
}

static int run(fx_t *f, char **out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int run(fx_t *f, char **out, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vrun(f, out, fmt, ap);
    va_end(ap);
    return rc;
}

/* Runs a command that must exit 0; returns its stdout (caller frees). */
static char *ok(fx_t *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *ok(fx_t *f, const char *fmt, ...)
{
    char *out = NULL;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vrun(f, &out, fmt, ap);
    va_end(ap);
    if (rc != 0)
        fail_msg("exit %d; stderr: %s", rc, f->err);
    return out;
}

/* Runs a command with --json that must exit 0; returns the document. */
static json_t *jrun(fx_t *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static json_t *jrun(fx_t *f, const char *fmt, ...)
{
    char args[2048], *out;
    json_error_t jerr;
    json_t *doc;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    out = ok(f, "%s --json", args);
    doc = json_loads(out, 0, &jerr);
    if (doc == NULL)
        fail_msg("not JSON (%s): %s", jerr.text, out);
    free(out);
    return doc;
}

/* Runs `status ARGS`, which must exit `rc` (4: no service running, 3: a
 * job failed); returns its stdout (caller frees). */
static char *status_out(fx_t *f, int rc, const char *args)
{
    char *out = NULL;
    int got = run(f, &out, "status %s", args);

    if (got != rc)
        fail_msg("status %s: exit %d, wanted %d; stderr: %s", args, got, rc,
                 f->err);
    return out;
}

/* status_out of `status ARGS --json`, parsed. */
static json_t *status_doc(fx_t *f, int rc, const char *args)
{
    char full[256], *out;
    json_t *doc;

    snprintf(full, sizeof(full), "%s --json", args);
    out = status_out(f, rc, full);
    doc = json_loads(out, 0, NULL);
    if (doc == NULL)
        fail_msg("not JSON: %s", out);
    free(out);
    return doc;
}

/* Runs a command that must be refused with exit 2, exactly `msg` as the
 * one line on stderr and nothing on stdout. */
static void refused(fx_t *f, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refused(fx_t *f, const char *msg, const char *fmt, ...)
{
    char *out = NULL;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vrun(f, &out, fmt, ap);
    va_end(ap);
    assert_int_equal(rc, 2);
    assert_string_equal(out, "");
    assert_true(strlen(f->err) > 0);
    assert_string_equal(f->err + strlen(f->err) - 1, "\n");
    f->err[strlen(f->err) - 1] = '\0';
    assert_string_equal(f->err, msg);
    free(out);
}

/* Runs a command that must exit `code` with nothing on stdout and `what`
 * somewhere in stderr. */
static void fails(fx_t *f, int code, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fails(fx_t *f, int code, const char *what, const char *fmt, ...)
{
    char *out = NULL;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vrun(f, &out, fmt, ap);
    va_end(ap);
    if (rc != code || strstr(f->err, what) == NULL)
        fail_msg("exit %d (want %d), stderr '%s' (want '%s')", rc, code, f->err,
                 what);
    assert_string_equal(out, "");
    free(out);
}

static void assert_contains(const char *text, const char *what)
{
    if (strstr(text, what) == NULL)
        fail_msg("'%s' not in:\n%s", what, text);
}

static const char *jget_str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        fail_msg("%s is not a string", key);
    return json_string_value(v);
}

static long long jget_int(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        fail_msg("%s is not an integer", key);
    return json_integer_value(v);
}

/* ---- jobs made through the catalog API ---- */

static int sha_counter;

/* A job of `npages` pages on work order WO-1, held when `hold` is set. */
static int64_t make_job(pm_catalog_t *cat, int npages, const char *hold)
{
    char wo[] = "WO-1", acct[] = "CITY", batch[] = "WO-1_box17",
         src_dir[] = "/spool/WO-1_box17";
    char srcs[4][64], shas[4][65], reason[64];
    pm_page_input_t pages[4] = {0};
    pm_job_t j = {0};
    int64_t id = 0;

    assert_true(npages <= 4);
    for (int i = 0; i < npages; i++) {
        snprintf(srcs[i], sizeof(srcs[i]), "%s/scan_%04d.tif", src_dir, i + 1);
        snprintf(shas[i], sizeof(shas[i]), "%064d", ++sha_counter);
        pages[i].src = srcs[i];
        pages[i].frame = 0;
        pages[i].sha256 = shas[i];
    }
    j.workorder = wo;
    j.account = acct;
    j.batch = batch;
    j.source_path = src_dir;
    if (hold != NULL) {
        snprintf(reason, sizeof(reason), "%s", hold);
        j.hold_reason = reason;
    }
    assert_int_equal(pm_job_create(cat, &j, pages, (size_t)npages, "test", &id),
                     0);
    return id;
}

/* Claims the next page, which must belong to `job`. */
static void claim(pm_catalog_t *cat, int64_t job, int64_t now, pm_task_t *t)
{
    assert_int_equal(pm_task_claim(cat, "worker-1", 60, now, t), 0);
    assert_int_equal(t->job, job);
}

/* A one-page job whose page failed for good, collected: state failed. */
static int64_t make_failed_job(pm_catalog_t *cat, int64_t now)
{
    int64_t id = make_job(cat, 1, NULL), *ids = NULL;
    size_t n = 0;
    pm_task_t t;

    claim(cat, id, now, &t);
    assert_int_equal(
        pm_task_fail(cat, t.id, t.attempts, "cannot decode", 1, now), 0);
    pm_task_cleanup(&t);
    assert_int_equal(pm_job_collect_finished(cat, now, &ids, &n), 0);
    pm_free(ids);
    return id;
}

/* A three-page job: page 1 done (42 words), page 2 running, page 3
 * queued. */
static int64_t make_running_job(pm_catalog_t *cat, int64_t now)
{
    char kind[] = "bitonal", codec[] = "g4";
    int64_t id = make_job(cat, 3, NULL);
    pm_page_metrics_t m = {0};
    pm_task_t t;

    claim(cat, id, now, &t);
    m.width = 2480;
    m.height = 3508;
    m.words = 42;
    m.confidence = 91.5;
    m.kind = kind;
    m.codec = codec;
    assert_int_equal(pm_task_complete(cat, t.id, t.attempts, &m, now), 0);
    pm_task_cleanup(&t);
    claim(cat, id, now, &t);
    assert_int_equal(t.page, 2);
    pm_task_cleanup(&t);
    return id;
}

typedef struct scenario {
    int64_t failed, running, queued, held;
} scenario_t;

/* Account CITY, work order WO-1, and four jobs in four states, made in
 * the order that keeps each claim on the intended job. */
static void make_scenario(fx_t *f, scenario_t *s)
{
    int64_t now = (int64_t)time(NULL);

    free(ok(f, "account add CITY --name 'City Archive'"));
    free(ok(f, "workorder add WO-1 --account CITY"));
    assert_int_equal(pm_catalog_open(f->db, &f->cat), 0);
    s->failed = make_failed_job(f->cat, now);
    s->running = make_running_job(f->cat, now);
    s->queued = make_job(f->cat, 2, NULL);
    s->held = make_job(f->cat, 1, "unknown work order");
}

static int job_state(fx_t *f, int64_t id)
{
    pm_job_t j;
    int state;

    assert_int_equal(pm_job_get(f->cat, id, &j), 0);
    state = (int)j.state;
    pm_job_cleanup(&j);
    return state;
}

/* ---- accounts ---- */

/* Column of the first `what` in `text`, counted from its line's start. */
static long column_of(const char *text, const char *what)
{
    const char *at = strstr(text, what), *line = at;

    if (at == NULL)
        fail_msg("'%s' not in:\n%s", what, text);
    while (line > text && line[-1] != '\n')
        line--;
    return (long)(at - line);
}

/* The first `cell` in `text` starts in the column of header `head`. */
static void assert_aligned(const char *text, const char *head, const char *cell)
{
    assert_int_equal(column_of(text, head), column_of(text, cell));
}

static void accounts_are_added_listed_and_unique(void **state)
{
    fx_t *f = *state;
    json_t *doc, *a;
    char *out;

    out = ok(f, "account add CITY --name 'City Archive' --contact 'J. Doe' "
                "--number 4711");
    assert_contains(out, "account CITY added");
    free(out);
    assert_true(t_exists(f->db));
    doc = jrun(f, "account add UNI --name University");
    assert_string_equal(jget_str(doc, "code"), "UNI");
    assert_true(json_is_null(json_object_get(doc, "contact")));
    assert_non_null(strchr(jget_str(doc, "created"), 'Z'));
    json_decref(doc);
    refused(f, "pagemill account add: account CITY already exists",
            "account add CITY --name Other");
    fails(f, 2, "--name is required", "account add NEW");

    out = ok(f, "account list");
    assert_contains(out, "CODE");
    assert_contains(out, "4711");
    assert_aligned(out, "NAME", "City Archive");
    assert_aligned(out, "NAME", "University");
    assert_aligned(out, "NUMBER", "4711");
    free(out);
    doc = jrun(f, "account list");
    assert_true(json_is_array(doc));
    assert_int_equal(json_array_size(doc), 2);
    a = json_array_get(doc, 0);
    assert_string_equal(jget_str(a, "code"), "CITY");
    assert_string_equal(jget_str(a, "name"), "City Archive");
    assert_string_equal(jget_str(a, "contact"), "J. Doe");
    assert_string_equal(jget_str(a, "number"), "4711");
    json_decref(doc);
}

/* An escape sequence in a name reaches JSON intact, never the terminal. */
static void control_characters_never_reach_the_terminal(void **state)
{
    fx_t *f = *state;
    json_t *doc;
    char *out;

    free(ok(f, "account add ESC --name \"$(printf 'Evil\\033[2Jname')\""));
    out = ok(f, "account list");
    assert_null(strchr(out, '\033'));
    assert_contains(out, "Evil [2Jname");
    free(out);
    doc = jrun(f, "account list");
    assert_string_equal(jget_str(json_array_get(doc, 0), "name"),
                        "Evil\033[2Jname");
    json_decref(doc);
}

/* Codes and numbers become folder names and CSV cells: a '/', "..", a
 * newline, a quote or a leading '=' is refused (exit 2) and nothing is
 * written. */
static void identifiers_are_validated(void **state)
{
    static const char *const bad[] = {"A/B", "..",  "A..B", "=SUM(A1)",
                                      "_X",  "A B", "A\"B", "A,B"};
    fx_t *f = *state;
    json_t *doc;

    free(ok(f, "account add CITY --name City"));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fails(f, 2, "account code", "account add '%s' --name X", bad[i]);
        fails(f, 2, "work order number", "workorder add '%s' --account CITY",
              bad[i]);
        fails(f, 2, "fee code", "fee add '%s' --price 1", bad[i]);
    }
    fails(f, 2, "account code", "account add \"$(printf 'A\\nB')\" --name X");
    /* '_' starts a batch name's suffix, so a work order has none. */
    fails(f, 2, "work order number", "workorder add WO_1 --account CITY");
    free(ok(f, "account add CITY_2.east --name East"));
    free(ok(f, "workorder add WO-2026.0001 --account CITY"));
    doc = jrun(f, "account list");
    assert_int_equal(json_array_size(doc), 2);
    json_decref(doc);
    doc = jrun(f, "workorder list");
    assert_int_equal(json_array_size(doc), 1);
    json_decref(doc);
}

/* ---- work orders ---- */

static void workorders_are_added_listed_shown_and_closed(void **state)
{
    fx_t *f = *state;
    json_t *doc, *w;
    char *out;

    free(ok(f, "account add CITY --name 'City Archive'"));
    free(ok(f, "account add UNI --name University"));
    refused(f, "pagemill workorder add: no account NOPE",
            "workorder add WO-1 --account NOPE");
    refused(f, "pagemill workorder add: no fee code STD",
            "workorder add WO-1 --account CITY --fee-code STD");
    free(ok(f, "fee add STD --price 0.08 --effective 2026-01-01"));
    free(ok(f, "workorder add WO-1 --account CITY --fee-code STD "
               "--notes 'box 17'"));
    refused(f, "pagemill workorder add: work order WO-1 already exists",
            "workorder add WO-1 --account CITY");
    free(ok(f, "workorder add WO-2 --account CITY"));

    doc = jrun(f, "workorder list");
    assert_int_equal(json_array_size(doc), 2);
    w = json_array_get(doc, 0);
    assert_string_equal(jget_str(w, "number"), "WO-1");
    assert_string_equal(jget_str(w, "account"), "CITY");
    assert_string_equal(jget_str(w, "fee_code"), "STD");
    assert_string_equal(jget_str(w, "status"), "open");
    assert_string_equal(jget_str(w, "notes"), "box 17");
    json_decref(doc);
    out = ok(f, "workorder list --account UNI");
    assert_string_equal(out, "no work orders\n");
    free(out);
    refused(f, "pagemill workorder list: no account NOPE",
            "workorder list --account NOPE");
    out = ok(f, "workorder list --account CITY");
    assert_aligned(out, "NOTES", "box 17");
    free(out);
}

static void workorder_show_lists_its_jobs(void **state)
{
    fx_t *f = *state;
    json_t *doc, *j;
    int64_t id;
    char *out;

    free(ok(f, "account add CITY --name 'City Archive'"));
    free(ok(f, "workorder add WO-1 --account CITY --notes 'box 17'"));
    out = ok(f, "workorder show WO-1");
    assert_contains(out, "work order:   WO-1\n");
    assert_contains(out, "notes:        box 17\n");
    assert_contains(out, "jobs:\nnone\n");
    free(out);
    assert_int_equal(pm_catalog_open(f->db, &f->cat), 0);
    id = make_job(f->cat, 2, NULL);
    doc = jrun(f, "workorder show WO-1");
    assert_int_equal(json_array_size(json_object_get(doc, "jobs")), 1);
    j = json_array_get(json_object_get(doc, "jobs"), 0);
    assert_int_equal(jget_int(j, "id"), id);
    assert_string_equal(jget_str(j, "state"), "queued");
    assert_int_equal(jget_int(j, "pages"), 2);
    assert_int_equal(jget_int(j, "done"), 0);
    json_decref(doc);
    out = ok(f, "workorder show WO-1");
    assert_aligned(out, "STATE", "queued");
    free(out);
    refused(f, "pagemill workorder show: no work order WO-9",
            "workorder show WO-9");
}

static void workorder_close_is_once(void **state)
{
    fx_t *f = *state;
    json_t *doc;
    char *out;

    free(ok(f, "account add CITY --name 'City Archive'"));
    free(ok(f, "workorder add WO-1 --account CITY"));
    out = ok(f, "workorder close WO-1");
    assert_string_equal(out, "work order WO-1 closed\n");
    free(out);
    doc = jrun(f, "workorder show WO-1");
    assert_string_equal(jget_str(doc, "status"), "closed");
    assert_true(json_is_string(json_object_get(doc, "closed")));
    json_decref(doc);
    refused(f, "pagemill workorder close: work order WO-1 is already closed",
            "workorder close WO-1");
    refused(f, "pagemill workorder close: no work order WO-9",
            "workorder close WO-9");
}

/* ---- jobs ---- */

static void job_list_is_empty_at_first(void **state)
{
    fx_t *f = *state;
    json_t *doc;
    char *out;

    free(ok(f, "account add CITY --name 'City Archive'"));
    out = ok(f, "job list");
    assert_string_equal(out, "no jobs\n");
    free(out);
    doc = jrun(f, "job list");
    assert_true(json_is_array(doc));
    assert_int_equal(json_array_size(doc), 0);
    json_decref(doc);
}

static void job_list_filters(void **state)
{
    fx_t *f = *state;
    scenario_t s;
    json_t *doc;
    char *out;

    make_scenario(f, &s);
    doc = jrun(f, "job list");
    assert_int_equal(json_array_size(doc), 4); /* newest first */
    assert_int_equal(jget_int(json_array_get(doc, 0), "id"), s.held);
    assert_int_equal(jget_int(json_array_get(doc, 3), "id"), s.failed);
    assert_string_equal(jget_str(json_array_get(doc, 2), "state"), "running");
    assert_int_equal(jget_int(json_array_get(doc, 2), "done"), 1);
    json_decref(doc);
    doc = jrun(f, "job list --state held");
    assert_int_equal(json_array_size(doc), 1);
    assert_int_equal(jget_int(json_array_get(doc, 0), "id"), s.held);
    json_decref(doc);
    doc = jrun(f, "job list --work-order WO-1 --limit 2");
    assert_int_equal(json_array_size(doc), 2);
    json_decref(doc);
    out = ok(f, "job list --state failed");
    assert_aligned(out, "STATE", "failed");
    assert_aligned(out, "WORK ORDER", "WO-1");
    free(out);
}

static void job_show_has_pages_and_events(void **state)
{
    fx_t *f = *state;
    json_t *doc, *pages, *p;
    scenario_t s;
    char *out;

    make_scenario(f, &s);
    out = ok(f, "job show %lld", (long long)s.running);
    assert_contains(out, "state:        running\n");
    assert_contains(out, "pages:        3 (1 done, 0 failed, 0 blank)\n");
    assert_contains(out, "per page:\n");
    assert_contains(out, "events:\n");
    assert_aligned(strstr(out, "per page:"), "SRC", "scan_0001.tif");
    assert_aligned(strstr(out, "per page:"), "STATE", "done");
    assert_contains(out, "job.created");
    assert_contains(out, "91.5");
    free(out);

    doc = jrun(f, "job show %lld", (long long)s.running);
    assert_string_equal(jget_str(doc, "state"), "running");
    pages = json_object_get(doc, "page_tasks");
    assert_int_equal(json_array_size(pages), 3);
    p = json_array_get(pages, 0);
    assert_string_equal(jget_str(p, "state"), "done");
    assert_int_equal(jget_int(p, "words"), 42);
    assert_true(json_is_false(json_object_get(p, "blank")));
    assert_true(json_real_value(json_object_get(p, "confidence")) == 91.5);
    p = json_array_get(pages, 1);
    assert_string_equal(jget_str(p, "state"), "running");
    assert_true(json_is_null(json_object_get(p, "words")));
    assert_string_equal(
        jget_str(json_array_get(json_object_get(doc, "events"), 0), "kind"),
        "job.created");
    json_decref(doc);
    refused(f, "pagemill job show: no job 999", "job show 999");
}

static void job_actions_follow_the_rules(void **state)
{
    fx_t *f = *state;
    char msg[160], *out;
    scenario_t s;
    json_t *doc;

    make_scenario(f, &s);
    snprintf(msg, sizeof(msg),
             "pagemill job release: job %lld is queued: only a held job "
             "can be released",
             (long long)s.queued);
    refused(f, msg, "job release %lld", (long long)s.queued);
    snprintf(msg, sizeof(msg),
             "pagemill job retry: job %lld is queued: only a failed job "
             "can be retried",
             (long long)s.queued);
    refused(f, msg, "job retry %lld", (long long)s.queued);

    out = ok(f, "job release %lld", (long long)s.held);
    snprintf(msg, sizeof(msg), "job %lld released: now queued\n",
             (long long)s.held);
    assert_string_equal(out, msg);
    free(out);
    assert_int_equal(job_state(f, s.held), PM_JOB_QUEUED);

    doc = jrun(f, "job show %lld", (long long)s.failed);
    assert_string_equal(jget_str(doc, "state"), "failed");
    assert_non_null(strstr(jget_str(doc, "error"), "cannot decode"));
    json_decref(doc);
    doc = jrun(f, "job retry %lld", (long long)s.failed);
    assert_string_equal(jget_str(doc, "state"), "queued");
    json_decref(doc);
    assert_int_equal(job_state(f, s.failed), PM_JOB_QUEUED);
    refused(f, "pagemill job retry: no job 999", "job retry 999");
}

/* The last event of job `id`, from `job show --json` (caller decrefs
 * *doc). */
static const json_t *last_event(fx_t *f, int64_t id, json_t **doc)
{
    const json_t *events;

    *doc = jrun(f, "job show %lld", (long long)id);
    events = json_object_get(*doc, "events");
    assert_true(json_array_size(events) > 0);
    return json_array_get(events, json_array_size(events) - 1);
}

static void job_cancel_records_reason_and_actor(void **state)
{
    fx_t *f = *state;
    const json_t *e;
    scenario_t s;
    json_t *doc;
    char msg[160];

    make_scenario(f, &s);
    doc = jrun(f,
               "job cancel %lld --reason 'customer withdrew' "
               "--actor operator:jane",
               (long long)s.queued);
    assert_string_equal(jget_str(doc, "state"), "cancelled");
    json_decref(doc);
    assert_int_equal(job_state(f, s.queued), PM_JOB_CANCELLED);
    e = last_event(f, s.queued, &doc);
    assert_string_equal(jget_str(e, "kind"), "job.cancelled");
    assert_string_equal(jget_str(e, "actor"), "operator:jane");
    assert_string_equal(jget_str(e, "detail"), "customer withdrew");
    json_decref(doc);
    snprintf(msg, sizeof(msg),
             "pagemill job cancel: job %lld is cancelled: a job is "
             "cancelled only once",
             (long long)s.queued);
    refused(f, msg, "job cancel %lld", (long long)s.queued);
}

/* Without --actor the actor is cli:$USER. A reason of two lines shows its
 * first in the table, marked as cut, and all of it in JSON. */
static void job_cancel_default_actor_and_long_reason(void **state)
{
    fx_t *f = *state;
    const json_t *e;
    scenario_t s;
    char msg[160], *out;
    json_t *doc;

    make_scenario(f, &s);
    out = ok(f, "job cancel %lld --reason \"$(printf 'dup\\nof job 1')\"",
             (long long)s.held);
    snprintf(msg, sizeof(msg), "job %lld cancelled\n", (long long)s.held);
    assert_string_equal(out, msg);
    free(out);
    out = ok(f, "job show %lld", (long long)s.held);
    assert_contains(out, "job.cancelled     -  dup ...\n");
    free(out);
    e = last_event(f, s.held, &doc);
    assert_string_equal(jget_str(e, "actor"), "cli:tester");
    assert_string_equal(jget_str(e, "detail"), "dup\nof job 1");
    json_decref(doc);
}

/* ---- status ---- */

static void assert_status_matches(const json_t *doc, const pm_status_t *s)
{
    const json_t *jobs = json_object_get(doc, "jobs");

    assert_int_equal(jget_int(doc, "queued_pages"), s->queued_pages);
    assert_int_equal(jget_int(doc, "running_pages"), s->running_pages);
    assert_int_equal(jget_int(jobs, "queued"), s->jobs_queued);
    assert_int_equal(jget_int(jobs, "running"), s->jobs_running);
    assert_int_equal(jget_int(jobs, "assembling"), s->jobs_assembling);
    assert_int_equal(jget_int(jobs, "held"), s->jobs_held);
    assert_int_equal(jget_int(jobs, "failed"), s->jobs_failed);
    assert_int_equal(jget_int(jobs, "done"), s->jobs_done);
    assert_int_equal(jget_int(doc, "pages_last_5min"), s->pages_last_5min);
    assert_int_equal(jget_int(doc, "pages_last_60min"), s->pages_last_60min);
    /* No coordinator has written its workers. */
    assert_true(json_is_array(json_object_get(doc, "workers")));
    assert_int_equal(json_array_size(json_object_get(doc, "workers")), 0);
}

static void status_matches_the_catalog(void **state)
{
    fx_t *f = *state;
    const json_t *failed;
    pm_status_t s;
    scenario_t sc;
    json_t *doc;

    make_scenario(f, &sc);
    assert_int_equal(pm_catalog_status(f->cat, (int64_t)time(NULL), &s), 0);
    /* The scenario as the catalog holds it, then as status shows it. */
    assert_int_equal(s.queued_pages, 3); /* running job's 1 + queued's 2 */
    assert_int_equal(s.running_pages, 1);
    assert_int_equal(s.jobs_held, 1);
    assert_int_equal(s.jobs_failed, 1);
    assert_int_equal(s.pages_last_5min, 1);
    doc = status_doc(f, 4, "");
    assert_status_matches(doc, &s);
    assert_true(json_real_value(json_object_get(doc, "pages_per_min_5")) ==
                0.2);
    assert_null(json_object_get(doc, "integrity"));
    failed = json_object_get(doc, "failed_jobs");
    assert_int_equal(json_array_size(failed), 1);
    assert_int_equal(jget_int(json_array_get(failed, 0), "id"), sc.failed);
    assert_string_equal(jget_str(json_array_get(failed, 0), "workorder"),
                        "WO-1");
    assert_non_null(
        strstr(jget_str(json_array_get(failed, 0), "error"), "cannot decode"));
    json_decref(doc);
}

static void status_prints_and_checks(void **state)
{
    fx_t *f = *state;
    scenario_t sc;
    json_t *doc, *check;
    char *out;

    make_scenario(f, &sc);
    out = status_out(f, 4, "");
    assert_contains(out, "queue depth:  3 pages queued\n");
    assert_contains(out, "running:      1 page\n");
    assert_contains(out, "held 1, failed 1");
    assert_contains(out, "pages/min:    0.2 over the last 5 min, 0.0 over");
    assert_contains(out, "workers:      none (service not running)\n");
    assert_contains(out, "failed jobs:\n");
    assert_aligned(out, "WORK ORDER", "WO-1");
    assert_null(strstr(out, "integrity"));
    free(out);
    out = status_out(f, 4, "--check");
    assert_contains(out, "integrity:    ok\n");
    free(out);
    doc = status_doc(f, 4, "--check");
    check = json_object_get(doc, "integrity");
    assert_true(json_is_true(json_object_get(check, "ok")));
    json_decref(doc);
}

/* Workers a coordinator wrote: counted, the busy ones named, in both
 * forms; rows older than 30 s (a coordinator killed) are none. */
static void status_shows_the_workers(void **state)
{
    fx_t *f = *state;
    const int64_t now = (int64_t)time(NULL);
    pm_worker_info_t w[3] = {
        {.slot = 1, .pid = 101, .state = PM_WORKER_BUSY, .job = 4, .page = 7},
        {.slot = 2, .pid = 102, .state = PM_WORKER_IDLE},
        {.slot = 3, .pid = 103, .state = PM_WORKER_BUSY, .job = 5}};
    json_t *doc, *arr;
    char *out, *age;
    int64_t ago;

    assert_int_equal(pm_catalog_open(f->db, &f->cat), 0);
    assert_int_equal(pm_worker_report(f->cat, "coordinator:h:1", w, 2, now - 1),
                     0);
    out = status_out(f, 0, "");
    /* 1 s ago, or more by as long as `status` took on a loaded machine. */
    assert_contains(out, "workers:      2 (1 busy: job 4 page 7, 1 idle), "
                         "updated ");
    age = strstr(out, "), updated ");
    assert_non_null(age);
    ago = strtoll(age + strlen("), updated "), NULL, 10);
    if (ago < 1 || ago > (int64_t)time(NULL) - now + 1)
        fail_msg("status says updated %lld s ago; the row is %lld s old",
                 (long long)ago, (long long)((int64_t)time(NULL) - now + 1));
    free(out);
    doc = status_doc(f, 0, "");
    arr = json_object_get(doc, "workers");
    assert_int_equal(json_array_size(arr), 2);
    assert_int_equal(jget_int(json_array_get(arr, 0), "pid"), 101);
    assert_string_equal(jget_str(json_array_get(arr, 0), "state"), "busy");
    assert_int_equal(jget_int(json_array_get(arr, 0), "job"), 4);
    assert_int_equal(jget_int(json_array_get(arr, 0), "page"), 7);
    assert_string_equal(jget_str(json_array_get(arr, 1), "state"), "idle");
    assert_true(json_is_null(json_object_get(json_array_get(arr, 1), "job")));
    json_decref(doc);
    /* An assembly is busy without a page. */
    assert_int_equal(pm_worker_report(f->cat, "coordinator:h:1", w, 3, now), 0);
    out = status_out(f, 0, "");
    assert_contains(out, "3 (2 busy: job 4 page 7, job 5 assembly, 1 idle)");
    free(out);
    /* Stale: the coordinator stopped writing 31 s ago. */
    assert_int_equal(
        pm_worker_report(f->cat, "coordinator:h:1", w, 3, now - 31), 0);
    out = status_out(f, 4, "");
    assert_contains(out, "workers:      none (service not running)\n");
    free(out);
    doc = status_doc(f, 4, "");
    assert_int_equal(json_array_size(json_object_get(doc, "workers")), 0);
    json_decref(doc);
}

/* A dangling reference (written with foreign keys off, as a bad restore
 * or a hand edit would) fails the check: exit 1, the report printed. */
static void status_check_fails_on_a_broken_catalog(void **state)
{
    fx_t *f = *state;
    sqlite3 *db = NULL;
    json_t *doc;
    char *out = NULL;

    free(ok(f, "account add CITY --name 'City Archive'"));
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA foreign_keys = OFF; "
                                  "INSERT INTO events (at, actor, kind, job) "
                                  "VALUES (1, 'x', 'y', 999)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    free(status_out(f, 4, "")); /* without --check: nothing looked at */
    assert_int_equal(run(f, &out, "status --check"), 1);
    assert_contains(out, "integrity:    FAILED\n");
    assert_contains(out, "foreign key: events row");
    assert_contains(f->err, "failed its integrity check");
    free(out);
    assert_int_equal(run(f, &out, "status --check --json"), 1);
    doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    assert_true(json_is_false(
        json_object_get(json_object_get(doc, "integrity"), "ok")));
    json_decref(doc);
    free(out);
}

/* Scripts read status's exit: 4 no service (rows stale or none), 3 a job
 * failed while it runs, else 0. Rejected batches and batches waiting for
 * their marker (with --config) are listed, service up or down. */
static void status_exit_codes_and_batches(void **state)
{
    fx_t *f = *state;
    const int64_t now = (int64_t)time(NULL);
    pm_worker_info_t w = {.slot = 1, .pid = 101, .state = PM_WORKER_IDLE};
    char ini[600], hot[500], path[600];
    json_t *doc, *arr;
    char *out, args[700];

    free(ok(f, "account add CITY --name 'City Archive'"));
    assert_int_equal(pm_catalog_open(f->db, &f->cat), 0);
    free(status_out(f, 4, ""));
    assert_int_equal(pm_worker_report(f->cat, "coordinator:h:1", &w, 1, now),
                     0);
    free(status_out(f, 0, ""));
    make_failed_job(f->cat, now);
    free(status_out(f, 3, ""));
    assert_int_equal(
        pm_worker_report(f->cat, "coordinator:h:1", &w, 1, now - 31), 0);
    free(status_out(f, 4, "")); /* not running comes first */

    assert_int_equal(pm_event_add(f->cat, "coordinator", "batch.rejected", 0, 0,
                                  "hot folder scans, batch WO-404: work "
                                  "order WO-404 is not in the catalog"),
                     0);
    snprintf(hot, sizeof(hot), "%s/hot", f->dir);
    snprintf(path, sizeof(path), "%s/WO-9_box1", hot);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/WO-8", hot);
    assert_int_equal(pm_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/WO-8/batch.ini", hot);
    assert_int_equal(pm_write_file_atomic(path, "", 0), 0);
    snprintf(ini, sizeof(ini), "%s/p.ini", f->dir);
    snprintf(path, sizeof(path), "[hotfolder scans]\npath = %s\n", hot);
    assert_int_equal(pm_write_file_atomic(ini, path, strlen(path)), 0);
    snprintf(args, sizeof(args), "--config '%s'", ini);
    out = status_out(f, 4, args);
    assert_contains(out, "waiting for their marker:\n  scans/WO-9_box1: for ");
    assert_null(strstr(out, "WO-8"));
    assert_contains(out, "WO-404 is not in the catalog");
    free(out);
    doc = status_doc(f, 4, args);
    assert_false(json_is_true(json_object_get(doc, "service_running")));
    arr = json_object_get(doc, "waiting_batches");
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(jget_str(json_array_get(arr, 0), "batch"), "WO-9_box1");
    arr = json_object_get(doc, "rejected_batches");
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(jget_str(json_array_get(arr, 0), "reason"),
                        "unknown_work_order");
    json_decref(doc);
}

/* ---- bad command lines, catalogs and configurations ---- */

static void bad_usage_exits_two(void **state)
{
    fx_t *f = *state;
    char *out;

    fails(f, 2, "unknown command 'frobnicate'", "frobnicate");
    fails(f, 2, "missing subcommand", "job");
    fails(f, 2, "unknown subcommand 'frob'", "job frob");
    fails(f, 2, "missing ID", "job show");
    fails(f, 2, "'abc' is not a job ID", "job show abc");
    fails(f, 2, "'12x' is not a job ID", "job show 12x");
    fails(f, 2, "'0' is not a job ID", "job retry 0");
    fails(f, 2, "unknown option '-5'", "job cancel -5");
    fails(f, 2, "unexpected argument '8'", "job show 7 8");
    fails(f, 2, "unknown state 'bogus'", "job list --state bogus");
    fails(f, 2, "--limit wants a number", "job list --limit -1");
    fails(f, 2, "unknown option '--bogus'", "account list --bogus");
    fails(f, 2, "unknown option '--name'", "account list --name x");
    fails(f, 2, "unexpected argument 'extra'", "account list extra");
    f->db[0] = '\0'; /* the option with no value must come last */
    fails(f, 2, "--name needs a value", "account add X --name");
    snprintf(f->db, sizeof(f->db), "%s/catalog.db", f->dir);
    fails(f, 2, "--name must not be empty", "account add X --name ''");
    fails(f, 2, "--account is required", "workorder add WO-1");
    assert_false(t_exists(f->db)); /* nothing was written */

    out = ok(f, "job --help");
    assert_contains(out, "pagemill job retry ID\n");
    free(out);
    out = ok(f, "job show --help");
    assert_contains(out, "usage: pagemill job show ID [options]\n");
    assert_contains(out, "--catalog PATH");
    free(out);
    out = ok(f, "status --help");
    assert_contains(out, "--check");
    free(out);
    out = ok(f, "--help");
    assert_contains(out, "workorder");
    free(out);
    assert_false(t_exists(f->db));
}

static void unopenable_catalog_exits_one(void **state)
{
    fx_t *f = *state;
    char junk[4096];

    /* Only `account add` creates a catalog; a mistyped path is an error. */
    fails(f, 1, "cannot open catalog", "status");
    fails(f, 1, "cannot open catalog", "job list");
    assert_false(t_exists(f->db));
    memset(junk, 'x', sizeof(junk));
    assert_int_equal(pm_write_file_atomic(f->db, junk, sizeof(junk)), 0);
    fails(f, 1, "cannot open catalog", "status");
    fails(f, 1, "cannot open catalog", "account add A --name B");
    snprintf(f->db, sizeof(f->db), "/nonexistent-pagemill-dir/catalog.db");
    fails(f, 1, "cannot open catalog", "account add A --name B");
}

static void config_names_the_catalog(void **state)
{
    fx_t *f = *state;
    char ini[400], text[400], db[320], *out;

    free(ok(f, "account add CITY --name 'City Archive'"));
    snprintf(ini, sizeof(ini), "%s/pagemill.ini", f->dir);
    snprintf(text, sizeof(text), "[pagemill]\ncatalog = %s\n", f->db);
    assert_int_equal(pm_write_file_atomic(ini, text, strlen(text)), 0);
    memcpy(db, f->db, sizeof(db));
    f->db[0] = '\0';
    out = ok(f, "account list --config '%s'", ini);
    assert_contains(out, "City Archive");
    free(out);
    fails(f, 2, "missing.ini", "account list --config '%s/missing.ini'",
          f->dir);
    /* --catalog wins over the configuration. */
    fails(f, 1, "other.db",
          "account list --config '%s' --catalog '%s/other.db'", ini, f->dir);
    /* The first configured use fixed the billing zone (UTC: none given);
     * a configuration naming another is refused, without one it is used. */
    snprintf(text, sizeof(text),
             "[pagemill]\ncatalog = %s\n[billing]\ntimezone = "
             "America/Chicago\n",
             db);
    assert_int_equal(pm_write_file_atomic(ini, text, strlen(text)), 0);
    fails(f, 2, "this catalog bills in time zone UTC",
          "account list --config '%s'", ini);
    memcpy(f->db, db, sizeof(db));
    free(ok(f, "account list"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(accounts_are_added_listed_and_unique),
        T(control_characters_never_reach_the_terminal),
        T(identifiers_are_validated),
        T(workorders_are_added_listed_shown_and_closed),
        T(workorder_show_lists_its_jobs),
        T(workorder_close_is_once),
        T(job_list_is_empty_at_first),
        T(job_list_filters),
        T(job_show_has_pages_and_events),
        T(job_actions_follow_the_rules),
        T(job_cancel_records_reason_and_actor),
        T(job_cancel_default_actor_and_long_reason),
        T(status_matches_the_catalog),
        T(status_prints_and_checks),
        T(status_shows_the_workers),
        T(status_check_fails_on_a_broken_catalog),
        T(status_exit_codes_and_batches),
        T(bad_usage_exits_two),
        T(unopenable_catalog_exits_one),
        T(config_names_the_catalog),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
