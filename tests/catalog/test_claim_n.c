/*
 * test_claim_n.c: claiming several pages at once (pm_task_claim_n) and
 * renewing several leases at once (pm_task_renew_n), on both backends
 * (the PostgreSQL group on a private server, lib/cattest.h): a claim of n
 * pages takes what n claims in a row would (the fair order over jobs and
 * pages, lapsed leases, job starts and their events); claimers on their
 * own connections never get the same page; a stale attempt can neither
 * renew, complete nor bill; a claim brings its job's profile. On
 * PostgreSQL, a page another session is claiming (its row locked) is
 * skipped, not waited for.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "catalog/catalog.h"
#include "catalog/catalog_int.h"
#include "lib/cattest.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define LEASE CT_LEASE
#define T0    1000000 /* a "now" for the queue, seconds */

/* A new empty catalog of the backend under test (SQLite: file `k` of
 * the test's folder); its URL or path in where[size], for other
 * connections to it. */
static pm_catalog_t *open_fresh(int k, char *where, size_t size)
{
    pm_catalog_t *cat = NULL;

    if (ct_use_pg)
        ct_pg_fresh(where, size);
    else
        snprintf(where, size, "%s/catalog%d.db", t_tmpdir(), k);
    assert_int_equal(pm_catalog_open(where, &cat), 0);
    return cat;
}

/* A job of `npages` pages with work estimates `work` (NULL: all 0) and
 * profile `profile` (may be NULL); `seed` makes its checksums its own. */
static int64_t new_job_as(pm_catalog_t *cat, int npages, unsigned seed,
                          const int64_t *work, const char *profile)
{
    pm_page_input_t *pages = calloc((size_t)npages, sizeof(*pages));
    char(*src)[32] = calloc((size_t)npages, sizeof(*src));
    char(*sha)[65] = calloc((size_t)npages, sizeof(*sha));
    pm_job_t j = {.workorder = (char *)"WO-2026-0142",
                  .account = (char *)"CITY",
                  .profile = (char *)profile,
                  .batch = (char *)"WO-2026-0142_box17"};
    int64_t id = 0;

    assert_non_null(pages);
    assert_non_null(src);
    assert_non_null(sha);
    for (int i = 0; i < npages; i++) {
        snprintf(src[i], sizeof(src[i]), "/spool/b/scan_%04d.tif", i + 1);
        snprintf(sha[i], sizeof(sha[i]), "%08x%056x", seed, (unsigned)i);
        pages[i].src = src[i];
        pages[i].sha256 = sha[i];
        pages[i].work = work != NULL ? work[i] : 0;
    }
    assert_int_equal(
        pm_job_create(cat, &j, pages, (size_t)npages, "intake", &id), 0);
    free(pages);
    free(src);
    free(sha);
    return id;
}

static int64_t new_job(pm_catalog_t *cat, int npages, unsigned seed,
                       const int64_t *work)
{
    return new_job_as(cat, npages, seed, work, "default");
}

/* The billable rows of job `job` in the catalog at `where`, read on a
 * connection of the test's own (whatever the job's state). */
static int64_t billable(const char *where, int64_t job)
{
    char sql[128];
    int64_t n = -1;

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM billable_pages WHERE job = %lld",
             (long long)job);
    if (ct_use_pg) {
        PGconn *c = PQconnectdb(where);
        PGresult *r = PQexec(c, sql);

        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
    } else {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;

        if (sqlite3_open_v2(where, &db, SQLITE_OPEN_READONLY, NULL) ==
                SQLITE_OK &&
            sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    assert_true(n >= 0);
    return n;
}

/*
 * The same queue in catalog `k`, three jobs: A (6 pages, varied work
 * estimates, two of them running under live leases), B (3 pages, one
 * running), C (4 pages, its largest running under a lease that lapsed
 * before T0). Returns the catalog and A, B, C.
 */
static pm_catalog_t *queue_fixture(int k, char *where, size_t size,
                                   int64_t job[3])
{
    static const int64_t work_a[6] = {10, 50, 50, 0, 20, 90};
    static const int64_t work_c[4] = {0, 0, 70, 0};
    static const struct {
        int lease, job, page;
    } before[4] = {{LEASE, 0, 6}, {LEASE, 1, 1}, {5, 2, 3}, {LEASE, 0, 2}};
    pm_catalog_t *cat = open_fresh(k, where, size);
    pm_task_t t;

    job[0] = new_job(cat, 6, 1, work_a);
    job[1] = new_job(cat, 3, 2, NULL);
    job[2] = new_job(cat, 4, 3, work_c);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pm_task_claim(cat, "w0", before[i].lease, T0 - 30, &t),
                         0);
        assert_int_equal(t.job, job[before[i].job]);
        assert_int_equal(t.page, before[i].page);
        pm_task_cleanup(&t);
    }
    return cat;
}

/* "job:page@attempt" of each task, in order, into buf. */
static void describe(const pm_task_t *v, size_t n, const int64_t job[3],
                     char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && len < size; i++) {
        char name = '?';

        for (int k = 0; k < 3; k++)
            if (v[i].job == job[k])
                name = (char)('A' + k);
        len += (size_t)snprintf(buf + len, size - len, "%s%c%d@%d",
                                i ? " " : "", name, v[i].page, v[i].attempts);
    }
}

/*
 * Eight pages claimed at once are the eight that eight claims in a row
 * take, in that order: the fair order over jobs (fewest running, then
 * oldest) re-decided after every page, the largest page of the job first,
 * the lapsed lease taken over (at attempt 2, with its event), each job
 * started once. Then a claim larger than the queue takes what is left,
 * and a claim of an empty queue says PM_ENOENT.
 */
static void claim_n_takes_what_claims_in_a_row_take(void **state)
{
    char where[2][256], one[512], many[512];
    int64_t job[2][3];
    pm_catalog_t *cat[2];
    pm_task_t row[8], *v;
    size_t n;

    (void)state;
    for (int k = 0; k < 2; k++)
        cat[k] = queue_fixture(k, where[k], sizeof(where[k]), job[k]);
    for (int i = 0; i < 8; i++)
        row[i] = ct_claim(cat[0], "w1", T0);
    describe(row, 8, job[0], one, sizeof(one));
    assert_int_equal(pm_task_claim_n(cat[1], "w1", LEASE, T0, 8, &v, &n), 0);
    assert_int_equal(n, 8);
    describe(v, n, job[1], many, sizeof(many));
    if (getenv("PM_SHOW_PLAN") != NULL)
        printf("claims in a row: %s\none claim of 8:  %s\n", one, many);
    assert_string_equal(many, one);
    /* What the fair order says here, spelt out: A has 2 running, B 1,
     * C 0 live (its page 3 lapsed: C offers it first, the largest). */
    assert_string_equal(one, "C3@2 B2@1 C1@1 A3@1 B3@1 C2@1 A5@1 C4@1");
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].state, PM_TASK_RUNNING);
        assert_string_equal(v[i].lease_owner, "w1");
        assert_int_equal(v[i].lease_until, T0 + LEASE);
        assert_non_null(v[i].src);
        assert_non_null(v[i].sha256);
    }
    for (int k = 0; k < 3; k++) {
        assert_int_equal(ct_count_events(cat[1], job[1][k], "job.started"), 1);
        assert_int_equal(ct_job_state(cat[1], job[1][k]), PM_JOB_RUNNING);
    }
    assert_int_equal(ct_count_events(cat[1], job[1][2], "page.reclaimed"), 1);
    pm_task_list_free(v, n);

    /* A's pages 1 and 4 are left: a claim of 5 takes them alone. */
    assert_int_equal(pm_task_claim_n(cat[1], "w2", LEASE, T0, 5, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].job, job[1][0]);
    assert_int_equal(v[0].page, 1);
    assert_int_equal(v[1].page, 4);
    pm_task_list_free(v, n);
    v = (pm_task_t *)1;
    assert_int_equal(pm_task_claim_n(cat[1], "w2", LEASE, T0, 5, &v, &n),
                     PM_ENOENT);
    assert_null(v);
    assert_int_equal(n, 0);
    assert_int_equal(pm_task_claim_n(cat[1], "w2", LEASE, T0, 0, &v, &n),
                     PM_EINVAL);
    for (int i = 0; i < 8; i++)
        pm_task_cleanup(&row[i]);
    for (int k = 0; k < 2; k++)
        pm_catalog_close(cat[k]);
    t_tmpdir_cleanup();
}

/*
 * A claim brings what the page needs of its job's row, so the claimer
 * reads none: the job's profile ("default" when it names none), with
 * pm_task_claim_n and pm_task_claim alike; a task list has none.
 */
static void claim_brings_the_jobs_profile(void **state)
{
    static const int64_t work[2] = {9, 1}; /* page 1 first */
    char where[256];
    pm_catalog_t *cat = open_fresh(0, where, sizeof(where));
    int64_t a = new_job_as(cat, 2, 1, work, "archive-300dpi");
    int64_t b = new_job_as(cat, 2, 2, work, NULL);
    pm_task_t *v, one;
    size_t n;

    (void)state;
    assert_int_equal(pm_task_claim_n(cat, "w1", LEASE, T0, 3, &v, &n), 0);
    assert_int_equal(n, 3); /* A1, B1, A2 */
    for (size_t i = 0; i < n; i++) {
        assert_non_null(v[i].profile);
        assert_string_equal(v[i].profile,
                            v[i].job == a ? "archive-300dpi" : "default");
    }
    assert_int_equal(v[1].job, b);
    pm_task_list_free(v, n);
    assert_int_equal(pm_task_claim(cat, "w1", LEASE, T0, &one), 0);
    assert_int_equal(one.job, b);
    assert_string_equal(one.profile, "default");
    pm_task_cleanup(&one);
    assert_int_equal(pm_task_list(cat, a, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_null(v[0].profile);
    pm_task_list_free(v, n);
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/*
 * Ten jobs of one page and one of forty, none running: a claim of 30
 * looks first only at the lowest levels (on PostgreSQL, the big job's
 * first pages and the small jobs' one each, fewer than 30) and takes the
 * rest in a second statement; all of it is what 30 claims in a row take.
 */
static void
claim_n_across_small_jobs_takes_what_claims_in_a_row_take(void **state)
{
    char where[2][256], one[2048], many[2048];
    int64_t job[2][11];
    pm_catalog_t *cat[2];
    pm_task_t row[30], *v;
    size_t n, len = 0;

    (void)state;
    for (int k = 0; k < 2; k++) {
        cat[k] = open_fresh(k, where[k], sizeof(where[k]));
        for (int j = 0; j < 10; j++)
            job[k][j] = new_job(cat[k], 1, (unsigned)j + 1, NULL);
        job[k][10] = new_job(cat[k], 40, 11, NULL);
    }
    for (int i = 0; i < 30; i++) {
        row[i] = ct_claim(cat[0], "w1", T0);
        len += (size_t)snprintf(
            one + len, sizeof(one) - len, "%s%lld:%d", i ? " " : "",
            (long long)(row[i].job - job[0][0]), row[i].page);
    }
    assert_int_equal(pm_task_claim_n(cat[1], "w1", LEASE, T0, 30, &v, &n), 0);
    assert_int_equal(n, 30);
    len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(many + len, sizeof(many) - len, "%s%lld:%d",
                                i ? " " : "", (long long)(v[i].job - job[1][0]),
                                v[i].page);
    if (getenv("PM_SHOW_PLAN") != NULL)
        printf("claims in a row: %s\none claim of 30: %s\n", one, many);
    assert_string_equal(many, one);
    for (int j = 0; j < 11; j++)
        assert_int_equal(ct_count_events(cat[1], job[1][j], "job.started"), 1);
    pm_task_list_free(v, n);
    for (int i = 0; i < 30; i++)
        pm_task_cleanup(&row[i]);
    for (int k = 0; k < 2; k++)
        pm_catalog_close(cat[k]);
    t_tmpdir_cleanup();
}

/*
 * A claimed batch whose leases lapse is taken over by another claimer:
 * the first claimer's renewals are refused (ok = 0) and its completions
 * are stale and bill nothing, while the new holder renews and completes;
 * every page is billed once. A cancelled job's leases are refused too.
 */
static void stale_batch_can_neither_renew_nor_bill(void **state)
{
    pm_page_metrics_t m = ct_metrics(0);
    pm_lease_t lease[4];
    pm_task_t *a, *b;
    size_t na, nb;
    char where[256];
    pm_catalog_t *cat = open_fresh(0, where, sizeof(where));
    int64_t job = new_job(cat, 3, 1, NULL), other;

    (void)state;
    assert_int_equal(pm_task_claim_n(cat, "w1", LEASE, T0, 3, &a, &na), 0);
    assert_int_equal(na, 3);
    other = new_job(cat, 1, 2, NULL);
    /* Renewed while live: all three. */
    for (size_t i = 0; i < na; i++)
        lease[i] = (pm_lease_t){.task = a[i].id, .attempt = a[i].attempts};
    assert_int_equal(pm_task_renew_n(cat, lease, na, LEASE, T0 + 30), 0);
    for (size_t i = 0; i < na; i++)
        assert_int_equal(lease[i].ok, 1);
    /* Lapsed at T0 + 91: w2 takes the three over (the other job's page
     * too), at attempt 2 where they were reclaimed. */
    assert_int_equal(pm_task_claim_n(cat, "w2", LEASE, T0 + 91, 8, &b, &nb), 0);
    assert_int_equal(nb, 4);
    for (size_t i = 0; i < nb; i++)
        assert_int_equal(b[i].attempts, b[i].job == job ? 2 : 1);
    assert_int_equal(ct_count_events(cat, job, "page.reclaimed"), 3);

    /* w1 comes back: nothing it says counts. */
    assert_int_equal(pm_task_renew_n(cat, lease, na, LEASE, T0 + 92), 0);
    for (size_t i = 0; i < na; i++)
        assert_int_equal(lease[i].ok, 0);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(
            pm_task_complete(cat, a[i].id, a[i].attempts, &m, T0 + 92),
            -ESTALE);
        assert_non_null(strstr(pm_catalog_errmsg(cat), "stale"));
    }
    assert_int_equal(billable(where, job), 0);

    /* w2's leases, mixed with one of w1's: only w2's renewed. */
    for (size_t i = 0; i < nb; i++)
        lease[i] = (pm_lease_t){.task = b[i].id, .attempt = b[i].attempts};
    lease[0].attempt = 1; /* w1's attempt of that page */
    assert_int_equal(pm_task_renew_n(cat, lease, nb, LEASE, T0 + 93), 0);
    for (size_t i = 0; i < nb; i++)
        assert_int_equal(lease[i].ok, i > 0);
    for (size_t i = 0; i < nb; i++)
        if (b[i].job == job)
            assert_int_equal(
                pm_task_complete(cat, b[i].id, b[i].attempts, &m, T0 + 94), 0);
    assert_int_equal(billable(where, job), 3);
    /* A second completion of the same attempt: stale, billed once. */
    assert_int_equal(pm_task_complete(cat, b[0].id, b[0].attempts, &m, T0 + 95),
                     -ESTALE);
    assert_int_equal(billable(where, job), 3);

    /* The other job cancelled under its page: its lease is refused, its
     * result too. */
    assert_int_equal(pm_job_cancel(cat, other, "operator:jane", "wrong box"),
                     0);
    for (size_t i = 0; i < nb; i++) {
        if (b[i].job != other)
            continue;
        lease[0] = (pm_lease_t){.task = b[i].id, .attempt = b[i].attempts};
        assert_int_equal(pm_task_renew_n(cat, lease, 1, LEASE, T0 + 96), 0);
        assert_int_equal(lease[0].ok, 0);
        assert_int_equal(
            pm_task_complete(cat, b[i].id, b[i].attempts, &m, T0 + 96),
            -ESTALE);
    }
    assert_int_equal(billable(where, other), 0);
    assert_int_equal(pm_task_renew_n(cat, lease, 0, LEASE, T0), 0);
    assert_int_equal(pm_task_renew_n(cat, lease, 1, 0, T0), PM_EINVAL);
    pm_task_list_free(a, na);
    pm_task_list_free(b, nb);
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/*
 * Five completions at once (pm_task_complete_n; on PostgreSQL one round
 * trip in pipeline mode): each its own transaction, answered one by one.
 * Three pages done and billed; a stale attempt and a task that does not
 * exist refused without touching the others; sent again, all stale,
 * nothing billed twice.
 */
static void complete_n_answers_each_page(void **state)
{
    pm_page_metrics_t m = ct_metrics(0);
    pm_completion_t c[5];
    pm_task_t *v, *list;
    char where[256];
    pm_catalog_t *cat = open_fresh(0, where, sizeof(where));
    int64_t job = new_job(cat, 4, 1, NULL);
    size_t n, nl;

    (void)state;
    assert_int_equal(pm_task_claim_n(cat, "w1", LEASE, T0, 4, &v, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 4; i++)
        c[i] = (pm_completion_t){
            .task = v[i].id, .attempt = v[i].attempts, .m = &m, .err = 1};
    c[1].attempt += 1; /* not this attempt's */
    c[4] = (pm_completion_t){
        .task = v[3].id + 1000, .attempt = 1, .m = &m, .err = 1};
    ct_quiet();
    assert_int_equal(pm_task_complete_n(cat, c, 5, T0 + 1), 0);
    ct_loud();
    assert_int_equal(c[0].err, 0);
    assert_int_equal(c[1].err, -ESTALE);
    assert_int_equal(c[2].err, 0);
    assert_int_equal(c[3].err, 0);
    assert_int_equal(c[4].err, PM_ENOENT);
    assert_int_equal(billable(where, job), 3);
    assert_int_equal(pm_task_list(cat, job, &list, &nl), 0);
    for (size_t i = 0; i < nl; i++)
        assert_int_equal(list[i].state, list[i].id == v[1].id ? PM_TASK_RUNNING
                                                              : PM_TASK_DONE);
    pm_task_list_free(list, nl);

    /* Again: all stale (done, or not this attempt), nothing billed twice. */
    ct_quiet();
    assert_int_equal(pm_task_complete_n(cat, c, 4, T0 + 2), 0);
    ct_loud();
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(c[i].err, -ESTALE);
    assert_int_equal(billable(where, job), 3);
    /* The handle still works after its pipelines. */
    assert_int_equal(pm_task_complete(cat, v[1].id, v[1].attempts, &m, T0 + 3),
                     0);
    assert_int_equal(billable(where, job), 4);
    assert_int_equal(pm_task_complete_n(cat, c, 0, T0), 0);
    pm_task_list_free(v, n);
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/* ---- claimers on their own connections ---- */

#define RACE_JOBS  6
#define RACE_PAGES 40 /* per job */
#define RACE_TOTAL (RACE_JOBS * RACE_PAGES)
#define CLAIMERS   4

typedef struct {
    pm_catalog_t *cat; /* its own connection, opened before the race */
    char owner[16];
    size_t batch;
    pthread_barrier_t *start;
    int64_t ids[RACE_TOTAL]; /* the tasks this claimer completed */
    int n, err;
    char msg[256];
} claimer_t;

/* Claims batches and completes them until the queue is empty, then
 * closes its connection. No cmocka asserts here (not thread-safe): the
 * first error is kept. */
static void *claimer_run(void *arg)
{
    claimer_t *c = arg;
    pm_page_metrics_t m = ct_metrics(0);
    pm_catalog_t *cat = c->cat;
    pm_task_t *v;
    size_t n;
    int err;

    pthread_barrier_wait(c->start); /* every claimer ready: go */
    while (c->err == 0) {
        err = pm_task_claim_n(cat, c->owner, LEASE, T0, c->batch, &v, &n);
        if (err == PM_ENOENT)
            break;
        c->err = err;
        for (size_t i = 0; c->err == 0 && i < n; i++) {
            c->err = pm_task_complete(cat, v[i].id, v[i].attempts, &m, T0);
            if (c->err == 0 && c->n < RACE_TOTAL)
                c->ids[c->n++] = v[i].id;
        }
        if (err == 0)
            pm_task_list_free(v, n);
    }
    if (c->err != 0)
        snprintf(c->msg, sizeof(c->msg), "%s", pm_catalog_errmsg(cat));
    pm_catalog_close(cat);
    return NULL;
}

/*
 * Four claimers, each on its own connection, claim batches of 1, 3, 5
 * and 7 pages from six jobs and complete them: every page goes to exactly
 * one of them, once, at attempt 1, with one billable row. On SQLite, one
 * writer at a time, the last two only (batches of 5 and 7): four writers
 * queueing on the file's lock can outwait its busy timeout on a loaded
 * machine, which says nothing about the claim.
 */
static void claimers_never_share_a_page(void **state)
{
    char where[256];
    pm_catalog_t *cat = open_fresh(0, where, sizeof(where));
    pthread_barrier_t start;
    claimer_t c[CLAIMERS];
    pthread_t th[CLAIMERS];
    int64_t job[RACE_JOBS], total = 0;
    pm_task_t *v;
    size_t n;
    int done = 0, first = ct_use_pg ? 0 : CLAIMERS / 2;

    (void)state;
    for (int k = 0; k < RACE_JOBS; k++)
        job[k] = new_job(cat, RACE_PAGES, (unsigned)k + 1, NULL);
    memset(c, 0, sizeof(c));
    assert_int_equal(
        pthread_barrier_init(&start, NULL, (unsigned)(CLAIMERS - first)), 0);
    for (int i = first; i < CLAIMERS; i++) {
        assert_int_equal(pm_catalog_open(where, &c[i].cat), 0);
        c[i].batch = (size_t)(2 * i + 1);
        c[i].start = &start;
        snprintf(c[i].owner, sizeof(c[i].owner), "w%d", i + 1);
        assert_int_equal(pthread_create(&th[i], NULL, claimer_run, &c[i]), 0);
    }
    for (int i = first; i < CLAIMERS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
    for (int i = first; i < CLAIMERS; i++) {
        if (c[i].err != 0)
            fail_msg("claimer %s: %d: %s", c[i].owner, c[i].err, c[i].msg);
        done += c[i].n;
        if (getenv("PM_SHOW_PLAN") != NULL)
            printf("%s (batches of %zu): %d pages\n", c[i].owner, c[i].batch,
                   c[i].n);
    }
    assert_int_equal(done, RACE_TOTAL);
    for (int i = 0; i < CLAIMERS; i++)
        for (int k = 0; k < c[i].n; k++)
            for (int j = i; j < CLAIMERS; j++)
                for (int l = j == i ? k + 1 : 0; l < c[j].n; l++)
                    if (c[i].ids[k] == c[j].ids[l])
                        fail_msg("task %lld done by %s and %s",
                                 (long long)c[i].ids[k], c[i].owner,
                                 c[j].owner);
    for (int k = 0; k < RACE_JOBS; k++) {
        assert_int_equal(pm_task_list(cat, job[k], &v, &n), 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(v[i].state, PM_TASK_DONE);
            assert_int_equal(v[i].attempts, 1);
        }
        pm_task_list_free(v, n);
        total += billable(where, job[k]);
    }
    assert_int_equal(total, RACE_TOTAL);
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/* ---- PostgreSQL: a page being claimed is skipped ---- */

/*
 * Another session holds page 1's row (as a claim in progress does): a
 * claim of three takes pages 2 to 4 at once instead of waiting (a lock
 * timeout on the catalog's session turns a wait into a failure), and
 * page 1 once the other session lets go.
 */
static void pg_claim_skips_a_page_being_claimed(void **state)
{
    char where[256], sql[160];
    pm_catalog_t *cat;
    PGconn *other;
    PGresult *r;
    pm_task_t *v;
    size_t n;
    int64_t job;

    (void)state;
    ct_pg_fresh(where, sizeof(where));
    assert_int_equal(setenv("PGOPTIONS", "-c lock_timeout=20000", 1), 0);
    assert_int_equal(pm_catalog_open(where, &cat), 0);
    assert_int_equal(unsetenv("PGOPTIONS"), 0);
    job = new_job(cat, 5, 1, NULL);
    other = PQconnectdb(where);
    assert_int_equal(PQstatus(other), CONNECTION_OK);
    snprintf(sql, sizeof(sql),
             "BEGIN; SELECT id FROM page_tasks WHERE job = %lld AND page = 1 "
             "FOR UPDATE",
             (long long)job);
    r = PQexec(other, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);

    assert_int_equal(pm_task_claim_n(cat, "w1", LEASE, T0, 3, &v, &n), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i].page, (int)i + 2);
    pm_task_list_free(v, n);
    /* Page 5 is left besides the held one. */
    assert_int_equal(pm_task_claim_n(cat, "w1", LEASE, T0, 3, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].page, 5);
    pm_task_list_free(v, n);
    /* Only the held page is claimable: not waited for, not claimed. */
    assert_int_equal(pm_task_claim_n(cat, "w1", LEASE, T0, 3, &v, &n),
                     PM_ENOENT);
    assert_non_null(strstr(pm_catalog_errmsg(cat), "another session"));

    r = PQexec(other, "ROLLBACK");
    PQclear(r);
    PQfinish(other);
    assert_int_equal(pm_task_claim_n(cat, "w1", LEASE, T0, 3, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].page, 1);
    pm_task_list_free(v, n);
    pm_catalog_close(cat);
}

/* ---- PostgreSQL: the claim's plan with many active jobs ---- */

#define PROBE_JOBS  100
#define PROBE_PAGES 100 /* per job */

/* Runs `sql` on a connection of the test's own to the catalog at `where`. */
static void raw_sql(const char *where, const char *sql)
{
    PGconn *c = PQconnectdb(where);
    PGresult *r;

    assert_int_equal(PQstatus(c), CONNECTION_OK);
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/*
 * The rows a plan (EXPLAIN ANALYZE's text) read from page_tasks: every
 * node on the table, its rows and those its filters removed, times its
 * loops.
 */
static long page_rows_read(const char *plan)
{
    long total = 0, loops = 0, rows, removed;
    const char *line = plan, *end, *a;
    int on_pages = 0;

    for (; *line != '\0'; line = *end ? end + 1 : end) {
        end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        a = strstr(line, "(actual ");
        if (a != NULL && a < end) { /* a node: is it on page_tasks? */
            const char *on = strstr(line, " on page_tasks ");

            on_pages = on != NULL && on < a;
            a = strstr(a, " rows=");
            loops = 0;
            if (on_pages && a != NULL &&
                sscanf(a, " rows=%ld loops=%ld", &rows, &loops) == 2)
                total += rows * loops;
            continue;
        }
        a = strstr(line, "Rows Removed by ");
        if (on_pages && a != NULL && a < end &&
            sscanf(strchr(a, ':') + 1, "%ld", &removed) == 1)
            total += removed * loops;
    }
    return total;
}

/* Claims 16 pages under EXPLAIN ANALYZE on `cat`'s session (rolled
 * back): the rows it read from page_tasks. */
static long probe_claim(pm_catalog_t *cat, const char *label)
{
    const char *params[] = {"1000000", "probe", "1000060", "16", "40"};
    char *plan = NULL;
    long rows;

    assert_int_equal(pm__pg_explain(cat, "claim_n", params, 5, &plan), 0);
    rows = page_rows_read(plan);
    if (getenv("PM_SHOW_PLAN") != NULL)
        printf("claim_n (%s): %ld page rows read\n%s", label, rows, plan);
    assert_non_null(strstr(plan, "rows=16 "));
    pm_free(plan);
    return rows;
}

/*
 * docs/scaling.md, performance probes: with 100 active jobs of 100
 * pending pages each, a claim of 16 pages reads a few hundred rows of
 * page_tasks (the jobs' first pages), never every pending page; with the
 * planner's statistics and without, with the session's own plan and a
 * generic one.
 */
static void pg_claim_reads_few_pages_with_many_jobs(void **state)
{
    char where[256], sql[512];
    pm_catalog_t *cat, *generic;
    long rows;

    (void)state;
    ct_pg_fresh(where, sizeof(where));
    assert_int_equal(pm_catalog_open(where, &cat), 0);
    snprintf(sql, sizeof(sql),
             "INSERT INTO jobs (workorder, account, profile, batch, state, "
             "pages, created_at, updated_at) SELECT 'WO-1', 'ACME', "
             "'default', 'b' || g, 'queued', %d, g, g FROM "
             "generate_series(1, %d) g",
             PROBE_PAGES, PROBE_JOBS);
    raw_sql(where, sql);
    snprintf(sql, sizeof(sql),
             "INSERT INTO page_tasks (job, page, src, frame, sha256) SELECT "
             "j.id, g, '/spool/p.tif', 0, md5(j.id || ':' || g) || "
             "md5(g || ':' || j.id) FROM jobs j, generate_series(1, %d) g",
             PROBE_PAGES);
    raw_sql(where, sql);
    rows = probe_claim(cat, "no statistics");
    assert_true(rows > 0);
    assert_true(rows < PROBE_JOBS * PROBE_PAGES / 10);
    raw_sql(where, "ANALYZE");
    assert_true(probe_claim(cat, "statistics") < PROBE_JOBS * PROBE_PAGES / 10);
    assert_int_equal(
        setenv("PGOPTIONS", "-c plan_cache_mode=force_generic_plan", 1), 0);
    assert_int_equal(pm_catalog_open(where, &generic), 0);
    assert_int_equal(unsetenv("PGOPTIONS"), 0);
    assert_true(probe_claim(generic, "generic plan") <
                PROBE_JOBS * PROBE_PAGES / 10);
    pm_catalog_close(generic);
    pm_catalog_close(cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(claim_n_takes_what_claims_in_a_row_take),
        cmocka_unit_test(claim_brings_the_jobs_profile),
        cmocka_unit_test(
            claim_n_across_small_jobs_takes_what_claims_in_a_row_take),
        cmocka_unit_test(stale_batch_can_neither_renew_nor_bill),
        cmocka_unit_test(complete_n_answers_each_page),
        cmocka_unit_test(claimers_never_share_a_page),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(claim_n_takes_what_claims_in_a_row_take),
        cmocka_unit_test(claim_brings_the_jobs_profile),
        cmocka_unit_test(
            claim_n_across_small_jobs_takes_what_claims_in_a_row_take),
        cmocka_unit_test(stale_batch_can_neither_renew_nor_bill),
        cmocka_unit_test(complete_n_answers_each_page),
        cmocka_unit_test(claimers_never_share_a_page),
        cmocka_unit_test(pg_claim_skips_a_page_being_claimed),
        cmocka_unit_test(pg_claim_reads_few_pages_with_many_jobs),
    };
    int failed;

    failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name(
        "postgresql", pg_tests, ct_pg_group_setup, ct_pg_group_teardown);
    return failed;
}
