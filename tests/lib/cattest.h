/*
 * cattest.h: what the catalog tests that run on both backends share
 * (tests/catalog/test_catalog.c, test_ledger.c, test_review.c,
 * test_monitor.c): the PostgreSQL group's private server and its fresh
 * databases (pgtest.h), the group's setup and teardown, the catalog's log
 * silenced while a test provokes errors, a converted page's metrics,
 * claiming, failing and finishing pages and jobs, and reading them back.
 * Failures fail the current cmocka test.
 */
#ifndef PM_TESTS_CATTEST_H
#define PM_TESTS_CATTEST_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "lib/pgtest.h"
#include "lib/testlib.h"

#define CT_LEASE 60 /* seconds: the lease ct_claim takes */

/* The PostgreSQL group's server; ct_use_pg is set while that group runs
 * (ct_pg_group_setup to ct_pg_group_teardown). */
extern pgt_t ct_pg;
extern int ct_use_pg;

/* cmocka group setup: starts the server (a failure fails every test of
 * the group: PostgreSQL missing is never a skip) and sets ct_use_pg. */
int ct_pg_group_setup(void **state);
/* cmocka group teardown: clears ct_use_pg and stops the server. */
int ct_pg_group_teardown(void **state);
/* A fresh empty database on the group's server; its URL into url. */
void ct_pg_fresh(char *url, size_t size);

/* Silences the catalog's error log while a test provokes errors, and
 * restores it. */
void ct_quiet(void);
void ct_loud(void);

/* The metrics of a converted bitonal Letter page (blank or not). */
pm_page_metrics_t ct_metrics(int blank);
/* Claims the next task for `owner` at `now` (lease CT_LEASE); returns it
 * (caller cleans). */
pm_task_t ct_claim(pm_catalog_t *cat, const char *owner, int64_t now);
/* Claims and completes one page as "w1"; returns its job. */
int64_t ct_claim_complete(pm_catalog_t *cat, int64_t now, int blank);

/* A queued job of `npages` (at most 8) pages for WO-1 of CITY, profile
 * "default"; each page's SHA-256 made from `seed` and its index, so jobs
 * of different seeds are no duplicates. Returns its id. */
int64_t ct_new_job(pm_catalog_t *cat, int npages, unsigned seed);
/* Account `code` ("City Archive"). */
void ct_add_account(pm_catalog_t *cat, const char *code);
/* Claims a page as "w1" and fails it for good (max_attempts 1). */
void ct_claim_fail(pm_catalog_t *cat, int64_t now, const char *why);
/* The state of job `id`. */
pm_job_state_t ct_job_state(pm_catalog_t *cat, int64_t id);
/* pm_job_collect_finished: how many jobs it moved to assembling. */
size_t ct_collect(pm_catalog_t *cat, int64_t now);
/* Takes an all-done job through assembly to done. */
void ct_finish(pm_catalog_t *cat, int64_t job, int64_t now);
/* How many events of `kind` job `job` has. */
int ct_count_events(pm_catalog_t *cat, int64_t job, const char *kind);

#endif /* PM_TESTS_CATTEST_H */
