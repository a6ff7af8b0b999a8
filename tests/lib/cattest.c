/*
 * cattest.c: the catalog tests' shared fixture (cattest.h).
 */
#include "lib/cattest.h"

#include <stdio.h>
#include <string.h>

#include "pipeline/base/pm.h"

pgt_t ct_pg;
int ct_use_pg;

static int saved_threshold;

int ct_pg_group_setup(void **state)
{
    (void)state;
    if (pgt_start(&ct_pg) != 0)
        return -1; /* PostgreSQL missing or broken: every test fails */
    ct_use_pg = 1;
    return 0;
}

int ct_pg_group_teardown(void **state)
{
    (void)state;
    ct_use_pg = 0;
    pgt_stop(&ct_pg);
    return 0;
}

void ct_pg_fresh(char *url, size_t size)
{
    static int seq;
    char name[32];

    snprintf(name, sizeof(name), "t%d", ++seq);
    assert_int_equal(pgt_fresh_db(&ct_pg, name, url, size), 0);
}

void ct_quiet(void)
{
    saved_threshold = pm_log_threshold;
    pm_log_threshold = PM_LOG_ERROR + 1;
}

void ct_loud(void)
{
    pm_log_threshold = saved_threshold;
}

pm_page_metrics_t ct_metrics(int blank)
{
    pm_page_metrics_t m = {
        .width = 2550,
        .height = 3300,
        .xres = 300,
        .yres = 300,
        .skew = 0.25,
        .blank = blank,
        .words = blank ? 0 : 312,
        .confidence = 91.5,
        .kind = "bitonal",
        .codec = "g4",
        .bytes = 48213,
        .ms_total = 1234.5,
        .orient_osd = 1,
        .image = "pages/0001.tif",
    };
    return m;
}

pm_task_t ct_claim(pm_catalog_t *cat, const char *owner, int64_t now)
{
    pm_task_t t;

    assert_int_equal(pm_task_claim(cat, owner, CT_LEASE, now, &t), 0);
    assert_int_equal(t.state, PM_TASK_RUNNING);
    assert_string_equal(t.lease_owner, owner);
    return t;
}

int64_t ct_claim_complete(pm_catalog_t *cat, int64_t now, int blank)
{
    pm_page_metrics_t m = ct_metrics(blank);
    pm_task_t t = ct_claim(cat, "w1", now);
    int64_t job = t.job;

    assert_int_equal(pm_task_complete(cat, t.id, t.attempts, &m, now), 0);
    pm_task_cleanup(&t);
    return job;
}

void ct_add_account(pm_catalog_t *cat, const char *code)
{
    pm_account_t a = {.code = (char *)code, .name = (char *)"City Archive"};
    int64_t id;

    assert_int_equal(pm_account_add(cat, &a, "cli:test", &id), 0);
    assert_true(id > 0);
}

void ct_claim_fail(pm_catalog_t *cat, int64_t now, const char *why)
{
    pm_task_t t = ct_claim(cat, "w1", now);

    assert_int_equal(pm_task_fail(cat, t.id, t.attempts, why, 1, now), 0);
    pm_task_cleanup(&t);
}

pm_job_state_t ct_job_state(pm_catalog_t *cat, int64_t id)
{
    pm_job_t j;
    pm_job_state_t s;

    assert_int_equal(pm_job_get(cat, id, &j), 0);
    s = j.state;
    pm_job_cleanup(&j);
    return s;
}

size_t ct_collect(pm_catalog_t *cat, int64_t now)
{
    int64_t *ids = NULL;
    size_t n = 0;

    assert_int_equal(pm_job_collect_finished(cat, now, &ids, &n), 0);
    pm_free(ids);
    return n;
}

void ct_finish(pm_catalog_t *cat, int64_t job, int64_t now)
{
    ct_collect(cat, now);
    assert_int_equal(ct_job_state(cat, job), PM_JOB_ASSEMBLING);
    assert_int_equal(pm_job_finish(cat, job, "/out/CITY/WO/1", now), 0);
    assert_int_equal(ct_job_state(cat, job), PM_JOB_DONE);
}

int ct_count_events(pm_catalog_t *cat, int64_t job, const char *kind)
{
    pm_event_t *ev;
    size_t n, i;
    int count = 0;

    assert_int_equal(pm_event_list(cat, job, 0, &ev, &n), 0);
    for (i = 0; i < n; i++)
        count += strcmp(ev[i].kind, kind) == 0;
    pm_event_list_free(ev, n);
    return count;
}

int64_t ct_new_job(pm_catalog_t *cat, int npages, unsigned seed)
{
    pm_page_input_t pages[8];
    char sha[8][65];
    pm_job_t j = {.workorder = (char *)"WO-1",
                  .account = (char *)"CITY",
                  .profile = (char *)"default",
                  .batch = (char *)"WO-1"};
    int64_t id = 0;

    assert_true(npages <= 8);
    for (int i = 0; i < npages; i++) {
        snprintf(sha[i], sizeof(sha[i]), "%08x%056x", seed, (unsigned)i);
        pages[i] = (pm_page_input_t){"/spool/p.tif", i, sha[i], 0};
    }
    assert_int_equal(
        pm_job_create(cat, &j, pages, (size_t)npages, "intake", &id), 0);
    return id;
}
