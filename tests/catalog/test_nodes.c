/*
 * test_nodes.c: the nodes view (pm_node_list: catalog/nodes.c and each
 * backend's status file) on a real catalog of each backend: an SQLite
 * file, then a fresh PostgreSQL database in a private server started by
 * lib/pgtest.c (PostgreSQL missing fails). Per owner of workers rows: its
 * role, node name, pid, slots, busy workers, load average, heartbeat and
 * the pages done under its lease in the last hour; stale owners kept and
 * marked, and owners without rows that did pages in the hour shown gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "lib/cattest.h"
#include "lib/pgtest.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define T0 1000000

/* A new catalog of the backend under test. */
static pm_catalog_t *open_cat(void)
{
    char path[512];
    pm_catalog_t *cat = NULL;

    if (ct_use_pg)
        ct_pg_fresh(path, sizeof(path));
    else
        snprintf(path, sizeof(path), "%s/catalog.db", t_tmpdir());
    assert_int_equal(pm_catalog_open(path, &cat), 0);
    return cat;
}

/* `owner` claims the next page and completes it at `now`. */
static void done_by(pm_catalog_t *cat, const char *owner, int64_t now)
{
    pm_page_metrics_t m = ct_metrics(0);
    pm_task_t t = ct_claim(cat, owner, now);

    assert_int_equal(pm_task_complete(cat, t.id, t.attempts, &m, now), 0);
    pm_task_cleanup(&t);
}

static const pm_node_info_t *find(const pm_node_info_t *v, size_t n,
                                  const char *owner)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].owner, owner) == 0)
            return &v[i];
    fail_msg("no node %s", owner);
    return NULL;
}

static void nodes_per_owner_with_pages_in_the_hour(void **state)
{
    pm_catalog_t *cat = open_cat();
    pm_worker_info_t a[3] = {{.slot = 1,
                              .pid = 101,
                              .state = PM_WORKER_BUSY,
                              .job = 1,
                              .page = 6,
                              .started_at = T0 - 50,
                              .load1 = 1.5},
                             {.slot = 2,
                              .pid = 102,
                              .state = PM_WORKER_IDLE,
                              .started_at = T0 - 50,
                              .load1 = 1.5},
                             {.slot = 3,
                              .pid = 103,
                              .state = PM_WORKER_BUSY,
                              .job = 1,
                              .page = 7,
                              .started_at = T0 - 50,
                              .load1 = 1.5}};
    pm_worker_info_t c = {
        .slot = 1, .pid = 201, .state = PM_WORKER_IDLE, .load1 = -1};
    pm_node_info_t *v = NULL;
    const pm_node_info_t *x;
    size_t n = 9;

    (void)state;
    assert_int_equal(pm_node_list(cat, T0, &v, &n), 0);
    assert_int_equal(n, 0);
    pm_node_list_free(v, n);

    ct_new_job(cat, 8, 1);
    done_by(cat, "agent:n1:11", T0 - 4000); /* over an hour ago */
    done_by(cat, "agent:n1:11", T0 - 3000);
    done_by(cat, "agent:n1:11", T0 - 10);
    done_by(cat, "coordinator:h.example:22", T0 - 20);
    done_by(cat, "agent:n2:33", T0 - 100); /* exited since: no rows */
    assert_int_equal(pm_worker_report(cat, "agent:n1:11", a, 3, T0 - 2), 0);
    /* Stopped reporting a minute ago (kill -9). */
    assert_int_equal(
        pm_worker_report(cat, "coordinator:h.example:22", &c, 1, T0 - 60), 0);

    assert_int_equal(pm_node_list(cat, T0, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].owner, "agent:n1:11"); /* by owner */
    assert_string_equal(v[1].owner, "agent:n2:33");
    assert_string_equal(v[2].owner, "coordinator:h.example:22");

    x = find(v, n, "agent:n1:11");
    assert_string_equal(x->role, "agent");
    assert_string_equal(x->node, "n1");
    assert_int_equal(x->pid, 11);
    assert_int_equal(x->state, PM_NODE_UP);
    assert_int_equal(x->slots, 3);
    assert_int_equal(x->busy, 2);
    assert_int_equal(x->pages_hour, 2);
    assert_int_equal(x->heartbeat, T0 - 2);
    assert_true(x->load1 > 1.49 && x->load1 < 1.51);

    x = find(v, n, "coordinator:h.example:22");
    assert_string_equal(x->role, "coordinator");
    assert_string_equal(x->node, "h.example");
    assert_int_equal(x->pid, 22);
    assert_int_equal(x->state, PM_NODE_STALE);
    assert_string_equal(pm_node_state_name(x->state), "stale");
    assert_int_equal(x->slots, 1);
    assert_int_equal(x->busy, 0);
    assert_int_equal(x->pages_hour, 1);
    assert_int_equal(x->heartbeat, T0 - 60);
    assert_true(x->load1 < 0); /* unknown */

    x = find(v, n, "agent:n2:33");
    assert_string_equal(x->role, "agent");
    assert_string_equal(x->node, "n2");
    assert_int_equal(x->state, PM_NODE_GONE);
    assert_string_equal(pm_node_state_name(x->state), "gone");
    assert_int_equal(x->slots, 0);
    assert_int_equal(x->pages_hour, 1);
    assert_int_equal(x->heartbeat, 0);
    pm_node_list_free(v, n);

    /* Two hours on: the pages are out of the hour, the gone agent with
     * them; the stale rows stay, marked. */
    assert_int_equal(pm_node_list(cat, T0 + 7200, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].pages_hour, 0);
    assert_int_equal(v[0].state, PM_NODE_STALE);
    assert_int_equal(v[1].pages_hour, 0);
    pm_node_list_free(v, n);

    /* A clean exit of the coordinator: gone from the view, as it did no
     * page in the hour before T0 + 7200. */
    assert_int_equal(
        pm_worker_report(cat, "coordinator:h.example:22", NULL, 0, T0 + 7200),
        0);
    assert_int_equal(pm_node_list(cat, T0 + 7200, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].owner, "agent:n1:11");
    pm_node_list_free(v, n);
    pm_node_list_free(NULL, 0);
    pm_catalog_close(cat);
    if (!ct_use_pg)
        t_tmpdir_cleanup();
}

/* An owner of another form is still shown: all of it is its node. */
static void node_of_another_owner_form(void **state)
{
    pm_catalog_t *cat = open_cat();
    pm_worker_info_t w = {.slot = 1, .pid = 5, .state = PM_WORKER_IDLE};
    pm_node_info_t *v = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(pm_worker_report(cat, "bench", &w, 1, T0), 0);
    assert_int_equal(pm_worker_report(cat, "agent:x:y", &w, 1, T0), 0);
    assert_int_equal(pm_node_list(cat, T0, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].role, "agent");
    assert_string_equal(v[0].node, "x:y");
    assert_int_equal(v[0].pid, 0);
    assert_string_equal(v[1].role, "other");
    assert_string_equal(v[1].node, "bench");
    assert_int_equal(v[1].pid, 0);
    assert_true(v[1].load1 >= 0 && v[1].load1 < 0.001); /* as written */
    pm_node_list_free(v, n);
    pm_catalog_close(cat);
    if (!ct_use_pg)
        t_tmpdir_cleanup();
}

/* A report replaces its owner's rows in one call: slots gone are
 * deleted, kept slots updated in place (job, page, state, pid, load and
 * heartbeat), new slots added; other owners' rows untouched. A report
 * with a slot twice fails whole and leaves the rows as they were. */
static void worker_report_replaces_rows(void **state)
{
    pm_catalog_t *cat = open_cat();
    pm_worker_info_t a[3] = {
        {.slot = 1, .pid = 11, .state = PM_WORKER_IDLE, .load1 = 0.5},
        {.slot = 2, .pid = 12, .state = PM_WORKER_STARTING, .load1 = 0.5},
        {.slot = 3, .pid = 13, .state = PM_WORKER_IDLE, .load1 = 0.5}};
    pm_worker_info_t b[3] = {
        {.slot = 2, .pid = 22, .state = PM_WORKER_IDLE, .load1 = -1},
        {.slot = 3,
         .pid = 13,
         .state = PM_WORKER_BUSY,
         .job = 7,
         .page = 4,
         .started_at = T0 - 5,
         .load1 = 1.25},
        {.slot = 5, .pid = 15, .state = PM_WORKER_STARTING, .load1 = 1.25}};
    pm_worker_info_t o = {.slot = 1, .pid = 99, .state = PM_WORKER_IDLE};
    pm_worker_info_t *v = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(pm_worker_report(cat, "other", &o, 1, T0 - 9), 0);
    assert_int_equal(pm_worker_report(cat, "agent:n:1", a, 3, T0 - 1), 0);
    assert_int_equal(pm_worker_report(cat, "agent:n:1", b, 3, T0), 0);
    assert_int_equal(pm_worker_list(cat, &v, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(v[i].owner, "agent:n:1");
        assert_int_equal(v[i].slot, b[i].slot);
        assert_int_equal(v[i].pid, b[i].pid);
        assert_int_equal(v[i].state, b[i].state);
        assert_int_equal(v[i].job, b[i].job);
        assert_int_equal(v[i].page, b[i].page);
        assert_int_equal(v[i].started_at, b[i].started_at);
        assert_int_equal(v[i].updated_at, T0);
    }
    assert_true(v[0].load1 < 0); /* none known */
    assert_true(v[1].load1 > 1.24 && v[1].load1 < 1.26);
    assert_string_equal(v[3].owner, "other");
    assert_int_equal(v[3].pid, 99);
    assert_int_equal(v[3].updated_at, T0 - 9);
    pm_worker_list_free(v, n);

    b[2].slot = 2; /* twice */
    assert_true(pm_worker_report(cat, "agent:n:1", b, 3, T0 + 1) != 0);
    assert_int_equal(pm_worker_list(cat, &v, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(v[2].slot, 5);
    assert_int_equal(v[2].updated_at, T0);
    pm_worker_list_free(v, n);

    assert_int_equal(pm_worker_report(cat, "agent:n:1", NULL, 0, T0 + 2), 0);
    assert_int_equal(pm_worker_list(cat, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].owner, "other");
    pm_worker_list_free(v, n);
    pm_catalog_close(cat);
    if (!ct_use_pg)
        t_tmpdir_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nodes_per_owner_with_pages_in_the_hour),
        cmocka_unit_test(node_of_another_owner_form),
        cmocka_unit_test(worker_report_replaces_rows),
    };
    int failed;

    pm_log_init_from_env();
    failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name(
        "postgresql", tests, ct_pg_group_setup, ct_pg_group_teardown);
    return failed;
}
