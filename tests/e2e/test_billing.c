/*
 * test_billing.c: billing end to end. The real `pagemill` binary, `serve`
 * started with fork/exec and killed by its PID, real workers, Tesseract
 * and SQLite, in a temp root with its own configuration, hot folders,
 * spool, output and catalog (the fixture of tests/lib/servelib.h, shared
 * with test_serve.c). Jobs are awaited through `pagemill job list --json`
 * until a deadline, never on a fixed sleep; the catalog file is read
 * only through the CLI or a read-only SQLite handle.
 *
 * Covered: every page is billed exactly once while workers and the
 * coordinator are SIGKILLed at random moments (seeded; PM_TEST_SEED
 * replays a run), with the same report figures as a fault-free run; a
 * profile with bill_blank bills blank pages, the default does not; a
 * closed month's report is the same bytes run after run (and the same as
 * before the close but for the month's state), a cancelled job is
 * credited in the next month, a second close is refused and the invoice
 * PDF agrees with the export; and bad input exits 2 with one line on
 * stderr, nothing on stdout and the catalog unchanged.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define DEADLINE_S   120.0 /* for anything the service should do */
#define PAGE_TIMEOUT 60
/* A page loses at most one attempt per fault (a worker kill costs the
 * page it was on, a coordinator kill each running page one), so with at
 * most MAX_FAULTS faults no page can run out of MAX_ATTEMPTS. */
#define MAX_FAULTS   12
#define MAX_ATTEMPTS 20

/* Two roots: the fault-free reference run and the run under faults. */
typedef struct state {
    char base[256];
    sv_fx_t fx[2];
} state_t;

/* ---- billing months ---- */

/* The current billing month (UTC, the configuration's zone), the next
 * one, and the current month's first and last day. */
typedef struct months {
    char cur[PM_MONTH_SIZE], next[PM_MONTH_SIZE];
    char first[PM_DATE_SIZE], last[PM_DATE_SIZE];
} months_t;

static void months_now(months_t *m)
{
    int64_t start, end;

    pm_month_of((int64_t)time(NULL), m->cur);
    pm_month_next(m->cur, m->next);
    assert_int_equal(pm_month_bounds(m->cur, &start, &end), 0);
    pm_date_format(start, m->first);
    pm_date_format(end - 1, m->last);
}

/* ---- synthetic pages ---- */

/* A 300 dpi letter page, G4 TIFF: blank, or six lines of text that name
 * the page (so no two pages share a checksum). */
static void make_page(const char *dst, int page, int blank)
{
    char text[6][96];
    const char *lines[7];

    for (int i = 0; i < 6; i++) {
        snprintf(text[i], sizeof(text[i]),
                 "Page %d line %d: the quick brown fox jumps over the dog",
                 page, i + 1);
        lines[i] = blank ? NULL : text[i];
    }
    lines[6] = NULL;
    sv_page(dst, lines);
}

/* Writes pages p01.tif.. of set `name` into the fixture's page store
 * (blank where blank[i]), once; drop_batch copies them. */
static void make_pages(const sv_fx_t *f, const char *name, int n,
                       const int *blank)
{
    char dir[600], path[700];

    snprintf(dir, sizeof(dir), "%s/pages/%s", f->root, name);
    assert_int_equal(pm_mkdir_p(dir), 0);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/p%02d.tif", dir, i + 1);
        make_page(path, i + 1, blank[i]);
    }
}

/* Copies page set `set` (n pages, made by make_pages under `src`'s page
 * store) as batch `name` into hot folder `hot`, batch.ini last. */
static void drop_batch(const sv_fx_t *src, const char *set, int n,
                       const char *hot, const char *name)
{
    char dir[600], from[700], to[700];

    snprintf(dir, sizeof(dir), "%s/%s", hot, name);
    assert_int_equal(pm_mkdir_p(dir), 0);
    for (int i = 0; i < n; i++) {
        snprintf(from, sizeof(from), "%s/pages/%s/p%02d.tif", src->root, set,
                 i + 1);
        snprintf(to, sizeof(to), "%s/p%02d.tif", dir, i + 1);
        t_copy_file(from, to);
    }
    snprintf(to, sizeof(to), "%s/batch.ini", dir);
    snprintf(from, sizeof(from), "expected_pages = %d\n", n);
    sv_write_text(to, from);
}

/* ---- the CLI ---- */

/* `billing report --month M --format json` of the fixture. */
static json_t *report_json(const sv_fx_t *f, const char *month)
{
    char args[128];

    snprintf(args, sizeof(args), "billing report --month %s --format json",
             month);
    return sv_cli_doc(f, args);
}

/* The report's line for job `id` (borrowed from `rep`); fails if absent. */
static json_t *report_line(json_t *rep, long long id)
{
    json_t *l;
    size_t i;

    json_array_foreach(json_object_get(rep, "lines"), i, l)
    {
        if (sv_jint(l, "job") == id && strcmp(sv_jstr(l, "kind"), "job") == 0)
            return l;
    }
    fail_msg("no report line for job %lld", id);
    return NULL;
}

static json_t *report_overall(json_t *rep)
{
    return json_object_get(json_object_get(rep, "totals"), "overall");
}

/* ---- the catalog file, read only ---- */

/* The first column of the first row of `sql` as an integer, or -1 when
 * there is no row; on a read-only handle of the fixture's catalog. */
static long long sql_int(const sv_fx_t *f, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;

    if (sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        fail_msg("open %s: %s", f->db, sqlite3_errmsg(db));
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* What bad input must never change: row counts of every table a billing
 * command writes, the work orders' fee codes and the events' last id. */
static char *catalog_snapshot(const sv_fx_t *f)
{
    static const char *const sql[] = {
        "SELECT count(*) FROM events",
        "SELECT coalesce(max(id), 0) FROM events",
        "SELECT count(*) FROM fee_codes",
        "SELECT count(*) FROM work_orders",
        "SELECT count(*) FROM work_orders WHERE fee_code IS NOT NULL",
        "SELECT count(*) FROM accounts",
        "SELECT count(*) FROM jobs WHERE state = 'cancelled'",
        "SELECT count(*) FROM billing_periods",
        "SELECT count(*) FROM billing_lines",
        "SELECT count(*) FROM billing_adjustments",
    };
    char *s = pm_strdup(""), *more;

    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        more = pm_asprintf("%s%lld ", s, sql_int(f, sql[i]));
        assert_non_null(more);
        pm_free(s);
        s = more;
    }
    return s;
}

/* ---- fixture ---- */

/* A root under `base`/`name`: configuration, hot folders, account ACME
 * and fee codes STD (0.05) and RUSH (0.08125) from the month's first day,
 * work order WO-A under STD. */
static int fx_init(sv_fx_t *f, const char *base, const char *name)
{
    months_t m;
    char root[256], blanks[300], pages[300], extra[1024], args[256];

    snprintf(root, sizeof(root), "%s/%s", base, name);
    snprintf(blanks, sizeof(blanks), "%s/hot/blanks", root);
    snprintf(pages, sizeof(pages), "%s/pages", root);
    snprintf(extra, sizeof(extra),
             "max_attempts = %d\n\n"
             "[billing]\nissuer = Test Records Center\n\n"
             "[profile billblank]\nbill_blank = yes\n\n"
             "[hotfolder blanks]\npath = %s\nprofile = billblank\n"
             "marker = batch.ini\n",
             MAX_ATTEMPTS, blanks);
    if (sv_fx_init(f, root) != 0 || pm_mkdir_p(blanks) != 0 ||
        pm_mkdir_p(pages) != 0 || sv_write_config(f, PAGE_TIMEOUT, extra) != 0)
        return -1;
    months_now(&m);
    sv_cli_ok(f, "account add ACME --name 'Acme Records' --number 4711");
    snprintf(args, sizeof(args), "fee add STD --price 0.05 --effective %s",
             m.first);
    sv_cli_ok(f, args);
    snprintf(args, sizeof(args), "fee add RUSH --price 0.08125 --effective %s",
             m.first);
    sv_cli_ok(f, args);
    sv_cli_ok(f, "workorder add WO-A --account ACME --fee-code STD");
    return 0;
}

static int setup(void **state)
{
    state_t *s = pm_calloc(1, sizeof(*s));

    if (s == NULL)
        return -1;
    snprintf(s->base, sizeof(s->base), "%s", t_tmpdir());
    *state = s;
    return fx_init(&s->fx[0], s->base, "a");
}

/* Ends both roots' services (sv_fx_fini: each must exit 0 on SIGTERM,
 * with no sanitizer report in its log). */
static int teardown(void **state)
{
    state_t *s = *state;
    int rc = 0;

    for (int i = 0; i < 2; i++)
        rc |= sv_fx_fini(&s->fx[i], PAGE_TIMEOUT + 10);
    pm_free(s);
    t_tmpdir_cleanup();
    return rc;
}

/* ---- 1. exactly once under random kills ---- */

/* splitmix64: a small PRNG whose sequence depends only on the seed. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t test_seed(void)
{
    const char *env = getenv("PM_TEST_SEED");
    uint64_t seed = env != NULL && env[0] != '\0'
                        ? strtoull(env, NULL, 0)
                        : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);

    printf("[ SEED     ] exactly_once_under_random_kills: seed %llu "
           "(PM_TEST_SEED=%llu replays it)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);
    return seed;
}

static const int kill_blank[10] = {0, 0, 1, 0, 0, 0, 1, 0, 0, 0};

/* The figures a run is judged by. */
typedef struct figures {
    long long job, pages, blank, billable, amount_cents;
    char amount[32];
} figures_t;

/* Reads job `id`'s line and the overall totals of this month's report. */
static void read_figures(const sv_fx_t *f, long long id, figures_t *fig)
{
    months_t m;
    json_t *rep, *l, *all;

    months_now(&m);
    rep = report_json(f, m.cur);
    l = report_line(rep, id);
    all = report_overall(rep);
    fig->job = id;
    fig->pages = sv_jint(l, "pages");
    fig->blank = sv_jint(l, "blank_pages");
    fig->billable = sv_jint(l, "billable_pages");
    fig->amount_cents = sv_jint(l, "amount_cents");
    snprintf(fig->amount, sizeof(fig->amount), "%s", sv_jstr(l, "amount"));
    assert_int_equal(sv_jint(all, "lines"), 1);
    assert_int_equal(sv_jint(all, "billable_pages"), fig->billable);
    assert_int_equal(sv_jint(all, "amount_cents"), fig->amount_cents);
    json_decref(rep);
}

/* One fault: SIGKILL a random worker, or (one time in three) the
 * coordinator, which is then restarted. Returns 1 if a process was
 * killed. */
static int one_fault(sv_fx_t *f, uint64_t *rng, int n)
{
    pid_t w[8];
    int nw;

    if (rng_next(rng) % 3 == 0) {
        printf("[ FAULT    ] %d: SIGKILL coordinator %d\n", n, (int)f->pid);
        assert_int_equal(sv_stop(f, SIGKILL, 10), SIGKILL);
        sv_start(f);
        return 1;
    }
    nw = sv_worker_pids(f, w, 8);
    if (nw == 0)
        return 0;
    pid_t victim = w[rng_next(rng) % (uint64_t)nw];
    if (kill(victim, SIGKILL) != 0)
        return 0;
    printf("[ FAULT    ] %d: SIGKILL worker %d\n", n, (int)victim);
    return 1;
}

/* Waits until every live worker holds one of job `id`'s pages (or the
 * job has no page left to run); returns 1 if pages are running. A fault
 * injected then costs an attempt whatever it kills: a fault aimed at a
 * moment alone could land after the last page on a fast machine. */
static long long pages_in_state(const sv_fx_t *f, long long id, const char *st)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM page_tasks WHERE job = %lld AND "
             "state = '%s'",
             id, st);
    return sql_int(f, sql);
}

static int wait_pages_running(const sv_fx_t *f, long long id)
{
    pid_t w[8];
    double until = sv_now_s() + DEADLINE_S;

    while (sv_now_s() < until) {
        int nw = sv_worker_pids(f, w, 8);
        long long running = pages_in_state(f, id, "running");
        long long queued = pages_in_state(f, id, "queued");

        if (running > 0 && (running >= nw || queued == 0))
            return 1;
        if (running <= 0 && queued <= 0)
            return 0;
        sv_nap_ms(20);
    }
    return 0;
}

/* Faults until MAX_FAULTS or the job is done: the first as soon as pages
 * are running, the rest 0.2-3 s apart, each while pages are running;
 * returns how many landed. */
static int random_faults(sv_fx_t *f, const char *batch, long long id,
                         uint64_t seed)
{
    uint64_t rng = seed;
    char seen[64];
    int faults = 0;

    while (faults < MAX_FAULTS) {
        if (faults > 0)
            sv_nap_ms(200 + (long)(rng_next(&rng) % 2801));
        sv_job_state(f, batch, seen);
        if (strcmp(seen, "done") == 0 || strcmp(seen, "failed") == 0)
            break;
        if (!wait_pages_running(f, id))
            break;
        faults += one_fault(f, &rng, faults + 1);
    }
    fflush(stdout);
    return faults;
}

static void exactly_once_under_random_kills(void **state)
{
    state_t *s = *state;
    sv_fx_t *ref = &s->fx[0], *f = &s->fx[1];
    const int pages = 10;
    figures_t want = {0}, got = {0};
    long long id, attempts;
    char sql[256];
    uint64_t seed = test_seed();
    int faults;
    double t0;

    t_require_data();
    make_pages(ref, "set", pages, kill_blank);

    /* The reference: no faults. */
    t0 = sv_now_s();
    sv_start(ref);
    drop_batch(ref, "set", pages, ref->scans, "WO-A_box1");
    id = sv_wait_job(ref, "WO-A_box1", "done", DEADLINE_S);
    printf("[ INFO     ] fault-free run: %.1f s\n", sv_now_s() - t0);
    read_figures(ref, id, &want);
    assert_int_equal(want.pages, pages);
    assert_int_equal(want.blank, 2);
    assert_int_equal(want.billable, pages - 2);
    assert_int_equal(sv_stop(ref, SIGTERM, PAGE_TIMEOUT + 10), 0);

    /* The same pages in a fresh root, under faults. */
    assert_int_equal(fx_init(f, s->base, "b"), 0);
    t0 = sv_now_s();
    sv_start(f);
    drop_batch(ref, "set", pages, f->scans, "WO-A_box1");
    id = sv_wait_job(f, "WO-A_box1", NULL, DEADLINE_S);
    faults = random_faults(f, "WO-A_box1", id, seed);
    printf("[ INFO     ] %d fault(s) injected\n", faults);
    if (f->pid == 0)
        sv_start(f);
    assert_int_equal(sv_wait_job(f, "WO-A_box1", "done", DEADLINE_S), id);
    printf("[ INFO     ] run under faults: %.1f s\n", sv_now_s() - t0);
    fflush(stdout);

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM billable_pages WHERE job = %lld", id);
    assert_int_equal(sql_int(f, sql), pages);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM billable_pages WHERE job = %lld AND "
             "blank = 0",
             id);
    assert_int_equal(sql_int(f, sql), pages - 2);
    /* The faults cost attempts: at least one landed mid-page. */
    snprintf(sql, sizeof(sql),
             "SELECT max(attempts) FROM page_tasks WHERE job = %lld", id);
    attempts = sql_int(f, sql);
    printf("[ INFO     ] most attempts a page took: %lld\n", attempts);
    assert_true(faults > 0);
    assert_true(attempts > 1);
    assert_true(attempts <= faults + 1); /* one attempt per fault at most */
    /* No (job, page) billed twice: no row at all. */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM billable_pages "
                                "GROUP BY job, page HAVING count(*) > 1"),
                     -1);
    read_figures(f, id, &got);
    assert_int_equal(got.pages, want.pages);
    assert_int_equal(got.blank, want.blank);
    assert_int_equal(got.billable, want.billable);
    assert_int_equal(got.amount_cents, want.amount_cents);
    assert_string_equal(got.amount, want.amount);
    assert_string_equal(got.amount, "0.40"); /* 8 pages at 0.05 */
}

/* ---- 2. blank pages billed per profile ---- */

static const int four_blank[4] = {0, 1, 0, 1};

static void blank_pages_billed_per_profile(void **state)
{
    state_t *s = *state;
    sv_fx_t *f = &s->fx[0];
    months_t m;
    long long plain, billed;
    char args[64], blanks[300];
    json_t *rep, *l;

    t_require_data();
    months_now(&m);
    snprintf(blanks, sizeof(blanks), "%s/hot/blanks", f->root);
    make_pages(f, "four", 4, four_blank);
    sv_start(f);
    drop_batch(f, "four", 4, f->scans, "WO-A_plain");
    plain = sv_wait_job(f, "WO-A_plain", "done", DEADLINE_S);
    /* The same files again, through the bill_blank hot folder: held as a
     * possible duplicate until released, as any repeat is. */
    drop_batch(f, "four", 4, blanks, "WO-A_billblank");
    billed = sv_wait_job(f, "WO-A_billblank", "held", DEADLINE_S);
    snprintf(args, sizeof(args), "job release %lld", billed);
    sv_cli_ok(f, args);
    assert_int_equal(sv_wait_job(f, "WO-A_billblank", "done", DEADLINE_S),
                     billed);

    rep = report_json(f, m.cur);
    l = report_line(rep, plain);
    assert_int_equal(sv_jint(l, "pages"), 4);
    assert_int_equal(sv_jint(l, "blank_pages"), 2);
    assert_int_equal(sv_jint(l, "billable_pages"), 2);
    assert_string_equal(sv_jstr(l, "amount"), "0.10");
    l = report_line(rep, billed);
    assert_int_equal(sv_jint(l, "pages"), 4);
    assert_int_equal(sv_jint(l, "blank_pages"), 2);
    assert_int_equal(sv_jint(l, "billable_pages"), 4);
    assert_string_equal(sv_jstr(l, "amount"), "0.20");
    assert_int_equal(sv_jint(report_overall(rep), "billable_pages"), 6);
    assert_string_equal(sv_jstr(report_overall(rep), "amount"), "0.30");
    json_decref(rep);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* ---- 3. a closed month's report, a cancel and the invoice ---- */

/* The three renderings of one month's report. */
typedef struct reports {
    char *fmt[3]; /* table, csv, json */
} reports_t;

static const char *const formats[3] = {"table", "csv", "json"};

static void reports_read(const sv_fx_t *f, const char *month, reports_t *r)
{
    char args[128];

    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof(args), "billing report --month %s --format %s",
                 month, formats[i]);
        r->fmt[i] = sv_cli_text(f, args);
    }
}

static void reports_free(reports_t *r)
{
    for (int i = 0; i < 3; i++)
        free(r->fmt[i]);
}

static void assert_same_reports(const reports_t *a, const reports_t *b,
                                const char *what)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(a->fmt[i], b->fmt[i]) != 0)
            fail_msg("%s: the %s reports differ:\n%s\n---- against ----\n%s",
                     what, formats[i], a->fmt[i], b->fmt[i]);
}

/* Before and after the close: the CSV is the same bytes; the table is
 * the same after its title line, which says the month's state; the JSON
 * is the same but for the period's state. */
static void assert_close_changes_only_state(const reports_t *pre,
                                            const reports_t *post,
                                            const months_t *m)
{
    char title[128];
    const char *a = strchr(pre->fmt[0], '\n'), *b = strchr(post->fmt[0], '\n');
    json_t *x, *y, *p;
    char day[PM_DATE_SIZE];

    assert_string_equal(pre->fmt[1], post->fmt[1]);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    snprintf(title, sizeof(title), "Billing report %s (open)\n", m->cur);
    assert_int_equal(strncmp(pre->fmt[0], title, strlen(title)), 0);
    pm_date_format((int64_t)time(NULL), day);
    snprintf(title, sizeof(title), "Billing report %s (closed %s by clerk)\n",
             m->cur, day);
    assert_int_equal(strncmp(post->fmt[0], title, strlen(title)), 0);
    x = json_loads(pre->fmt[2], 0, NULL);
    y = json_loads(post->fmt[2], 0, NULL);
    assert_non_null(x);
    assert_non_null(y);
    assert_true(
        json_equal(json_object_get(x, "lines"), json_object_get(y, "lines")));
    assert_true(
        json_equal(json_object_get(x, "totals"), json_object_get(y, "totals")));
    p = json_array_get(json_object_get(y, "periods"), 0);
    assert_string_equal(sv_jstr(p, "state"), "closed");
    assert_string_equal(sv_jstr(p, "closed_by"), "clerk");
    json_decref(x);
    json_decref(y);
}

/* The cancel's credit in next month: one adjustment line, the exact
 * negative of what the closed month billed. */
static void assert_credit(const sv_fx_t *f, const months_t *m, long long id,
                          const figures_t *billed)
{
    json_t *rep = report_json(f, m->next), *lines, *l;
    char minus[40];

    lines = json_object_get(rep, "lines");
    assert_int_equal(json_array_size(lines), 1);
    l = json_array_get(lines, 0);
    assert_string_equal(sv_jstr(l, "kind"), "adjustment");
    assert_string_equal(sv_jstr(l, "month"), m->next);
    assert_int_equal(sv_jint(l, "job"), id);
    assert_int_equal(sv_jint(l, "billable_pages"), -billed->billable);
    assert_int_equal(sv_jint(l, "amount_cents"), -billed->amount_cents);
    snprintf(minus, sizeof(minus), "-%s", billed->amount);
    assert_string_equal(sv_jstr(l, "amount"), minus);
    assert_non_null(strstr(sv_jstr(l, "note"), "cancelled"));
    assert_int_equal(sv_jint(report_overall(rep), "amount_cents"),
                     -billed->amount_cents);
    json_decref(rep);
}

/* The amount of the export's total row (column 11 of the row whose
 * line_type, column 7, is "total"), into buf. */
static void export_total(const char *csv, char *buf, size_t size)
{
    const char *row = csv;

    buf[0] = '\0';
    for (; row != NULL && *row != '\0'; row = strchr(row, '\n')) {
        char line[1024], *field[12], *save = NULL, *t;
        int n = 0;
        size_t len;

        row += *row == '\n';
        len = strcspn(row, "\r\n");
        if (len >= sizeof(line))
            continue;
        memcpy(line, row, len);
        line[len] = '\0';
        /* strtok_r would merge empty fields: split by hand. */
        for (t = line, save = line; n < 12; t++) {
            if (*t == ',' || *t == '\0') {
                int end = *t == '\0';
                *t = '\0';
                field[n++] = save;
                save = t + 1;
                if (end)
                    break;
            }
        }
        if (n == 12 && strcmp(field[6], "total") == 0) {
            snprintf(buf, size, "%s", field[10]);
            return;
        }
    }
}

static void assert_invoice(const sv_fx_t *f, const months_t *m,
                           const figures_t *billed)
{
    char dir[400], args[512], path[600], total[32], want[128];
    char *csv, *text = NULL;

    snprintf(dir, sizeof(dir), "%s/invoices", f->root);
    assert_int_equal(pm_mkdir_p(dir), 0);
    snprintf(args, sizeof(args), "billing invoice --month %s --out '%s'",
             m->cur, dir);
    sv_cli_ok(f, args);
    snprintf(path, sizeof(path), "%s/export-%s.csv", dir, m->cur);
    csv = t_slurp(path);
    assert_non_null(csv);
    export_total(csv, total, sizeof(total));
    assert_string_equal(total, billed->amount);
    snprintf(path, sizeof(path), "%s/invoice-%s-ACME.pdf", dir, m->cur);
    assert_int_equal(t_run(&text, "pdftotext -layout '%s' -", path), 0);
    assert_non_null(strstr(text, "Acme Records"));
    assert_non_null(strstr(text, "Test Records Center"));
    snprintf(want, sizeof(want), "Period: %s to %s", m->first, m->last);
    if (strstr(text, want) == NULL)
        fail_msg("no '%s' in the invoice:\n%s", want, text);
    /* The total line: "Total" and the amount, in large type. */
    const char *at = strstr(text, "Total");
    if (at == NULL || strstr(at, total) == NULL)
        fail_msg("no total %s in the invoice:\n%s", total, text);
    assert_null(strstr(text, "DRAFT"));
    free(text);
    free(csv);
}

static void
closed_month_report_is_byte_identical_and_cancel_adjusts(void **state)
{
    state_t *s = *state;
    sv_fx_t *f = &s->fx[0];
    static const int blank[4] = {0, 0, 1, 0};
    reports_t pre, post, again, after;
    figures_t billed = {0};
    char args[128], *err = NULL;
    months_t m;
    long long id;

    t_require_data();
    months_now(&m);
    sv_cli_ok(f, "workorder add WO-R --account ACME --fee-code RUSH");
    make_pages(f, "rush", 4, blank);
    sv_start(f);
    drop_batch(f, "rush", 4, f->scans, "WO-R_box1");
    id = sv_wait_job(f, "WO-R_box1", "done", DEADLINE_S);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    read_figures(f, id, &billed);
    /* 3 pages at 0.08125 = 0.24375, rounded once to 0.24. */
    assert_int_equal(billed.billable, 3);
    assert_string_equal(billed.amount, "0.24");

    reports_read(f, m.cur, &pre);
    snprintf(args, sizeof(args), "billing close %s --actor clerk", m.cur);
    sv_cli_ok(f, args);
    reports_read(f, m.cur, &post);
    reports_read(f, m.cur, &again);
    assert_same_reports(&post, &again, "two runs after the close");
    assert_close_changes_only_state(&pre, &post, &m);

    snprintf(args, sizeof(args), "job cancel %lld --reason test", id);
    sv_cli_ok(f, args);
    assert_credit(f, &m, id, &billed);
    reports_read(f, m.cur, &after);
    assert_same_reports(&post, &after, "the closed month after the cancel");

    snprintf(args, sizeof(args), "billing close %s --actor clerk", m.cur);
    assert_int_equal(sv_cli(f, NULL, &err, args), 2);
    assert_non_null(strstr(err, "closed already"));
    free(err);
    reports_free(&pre);
    reports_free(&post);
    reports_free(&again);
    reports_free(&after);
    assert_invoice(f, &m, &billed);
}

/* ---- 4. bad input ---- */

typedef struct bad_case {
    const char *args;  /* pagemill ARGS (%s: the current month) */
    const char *names; /* what the stderr line must name */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"billing report --month 2026-13", "'2026-13' is not a month"},
    {"billing report --month 2026-1", "'2026-1' is not a month"},
    {"billing report --month nov", "'nov' is not a month"},
    {"billing report --from 2026-01 --to 2026-13", "'2026-13'"},
    {"billing close 2026-13", "'2026-13' is not a month"},
    {"billing close nov", "'nov' is not a month"},
    {"billing invoice --month 2026-1 --out /tmp", "'2026-1' is not a month"},
    {"billing report --month %s --format xml", "'xml'"},
    {"fee add NEW --price 1,00", "'1,00' is not a price"},
    {"fee add NEW --price -1", "'-1' is not a price"},
    {"fee add NEW --price 0.123456", "'0.123456' is not a price"},
    {"fee add NEW --price 0.05 --effective 2026-13-01", "'2026-13-01'"},
    {"billing report --month %s --account NOPE", "no account NOPE"},
    {"billing report --month %s --work-order WO-NOPE", "no work order WO-NOPE"},
    {"billing invoice --month %s --out /tmp --account NOPE", "no account NOPE"},
    {"workorder set-fee WO-NOPE --fee-code STD", "no work order WO-NOPE"},
    {"workorder set-fee WO-A --fee-code NOPE", "no fee code NOPE"},
    {"workorder add WO-NEW --account NOPE --fee-code STD", "no account NOPE"},
    {"billing adjust 1 --pages 0 --reason r", "'0' is not a non-zero page"},
    {"billing adjust 1 --pages x --reason r", "'x' is not a non-zero page"},
    {"billing adjust 1 --pages 1.5 --reason r", "'1.5'"},
    {"billing adjust 999 --pages 2 --reason r", "no job 999"},
    {"workorder add WO-NEW --account ACME --fee-code NOPE", "no fee code NOPE"},
};

/* Copies `tmpl` into buf with its "%s", if any, replaced by `month`. */
static void expand(char *buf, size_t size, const char *tmpl, const char *month)
{
    const char *at = strstr(tmpl, "%s");

    if (at == NULL)
        snprintf(buf, size, "%s", tmpl);
    else
        snprintf(buf, size, "%.*s%s%s", (int)(at - tmpl), tmpl, month, at + 2);
}

/* Runs one bad case; returns NULL if it behaved, else what went wrong
 * (new string). */
static char *bad_case_run(const sv_fx_t *f, const bad_case_t *c,
                          const char *month)
{
    char args[256], *out = NULL, *err = NULL, *before, *after, *why = NULL;
    const char *nl;
    int rc;

    expand(args, sizeof(args), c->args, month);
    before = catalog_snapshot(f);
    rc = sv_cli(f, &out, &err, args);
    after = catalog_snapshot(f);
    nl = strchr(err, '\n');
    if (rc != 2)
        why = pm_asprintf("exit %d, wanted 2", rc);
    else if (out[0] != '\0')
        why = pm_asprintf("stdout not empty: %s", out);
    else if (nl == NULL || nl[1] != '\0' || nl == err)
        why = pm_asprintf("stderr is not one line: %s", err);
    else if (strstr(err, c->names) == NULL)
        why = pm_asprintf("stderr does not name '%s': %s", c->names, err);
    else if (strcmp(before, after) != 0)
        why = pm_asprintf("catalog changed: %s-> %s", before, after);
    if (why != NULL) {
        char *full = pm_asprintf("pagemill %s: %s", args, why);
        pm_free(why);
        why = full;
    }
    pm_free(before);
    pm_free(after);
    free(out);
    free(err);
    return why;
}

static void bad_input_exits_2_and_writes_nothing(void **state)
{
    state_t *s = *state;
    sv_fx_t *f = &s->fx[0];
    char *faults = pm_strdup(""), *why, *more, *rep_before, *rep_after;
    char args[128], msg[4096];
    months_t m;
    int same;

    months_now(&m);
    snprintf(args, sizeof(args), "billing report --month %s --format json",
             m.cur);
    rep_before = sv_cli_text(f, args);
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        why = bad_case_run(f, &bad_cases[i], m.cur);
        if (why == NULL)
            continue;
        more = pm_asprintf("%s\n  %s", faults, why);
        pm_free(why);
        pm_free(faults);
        faults = more;
    }
    rep_after = sv_cli_text(f, args);
    same = strcmp(rep_before, rep_after) == 0;
    free(rep_before);
    free(rep_after);
    snprintf(msg, sizeof(msg), "%s", faults);
    pm_free(faults);
    assert_true(same);
    if (msg[0] != '\0')
        fail_msg("bad input not refused cleanly:%s", msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(exactly_once_under_random_kills, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(blank_pages_billed_per_profile, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            closed_month_report_is_byte_identical_and_cancel_adjusts, setup,
            teardown),
        cmocka_unit_test_setup_teardown(bad_input_exits_2_and_writes_nothing,
                                        setup, teardown),
    };

    /* PM_TEST_FILTER=bad* runs only the tests whose names match. */
    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
