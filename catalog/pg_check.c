/*
 * pg_check.c: the integrity checks on the PostgreSQL backend
 * (pm_catalog_quick_check, pm_catalog_check). SQLite's PRAGMAs check the
 * file's pages and b-trees; a PostgreSQL server looks after its own
 * storage, so what is checked here is what the server cannot know: the
 * catalog's own invariants, each one statement whose rows are the
 * findings, already worded. *ok is 1 and the report "ok" when there are
 * none, as on SQLite.
 *
 *   quick (at start and every integrity_check_minutes): the schema is
 *     the one this build migrates to, every done page has its billable
 *     row, no page is running under a job that has ended;
 *   full (`status --check`): those, and no billable row for a page that
 *     is not done, every job has the page rows its page count says, no
 *     constraint left NOT VALID, and every B-tree index verified by
 *     amcheck's bt_index_check when that extension is installed in the
 *     database and the catalog's user may run it (CREATE EXTENSION
 *     amcheck, GRANT EXECUTE; without them the indexes are left to the
 *     server).
 *
 * Each statement is its own snapshot: the writes that keep an invariant
 * are each one transaction, so a check never sees one half-done.
 */
#include <stdio.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/catalog_int.h"
#include "catalog/pg_int.h"
#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"

/* Findings listed per invariant, at most. */
#define FINDINGS_MAX 50

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum {
    ST_SCHEMA,
    ST_DONE_UNBILLED,
    ST_RUNNING_ENDED,
    ST_BILLED_NOT_DONE,
    ST_PAGE_COUNT,
    ST_NOT_VALID,
    ST_HAS_AMCHECK,
    ST_COUNT
};

/* The invariants: rows are findings; $1 is FINDINGS_MAX. */
static const pm__pgsql_t stmts[ST_COUNT] = {
    [ST_SCHEMA] = {"check_schema",
                   "SELECT 'schema version ' || coalesce(max(version), 0) || "
                   "' with ' || count(*) || ' migrations recorded; this "
                   "pagemill expects version ' || $2::bigint FROM "
                   "schema_migrations HAVING coalesce(max(version), 0) <> "
                   "$2::bigint OR count(*) <> $2::bigint LIMIT $1::bigint"},
    [ST_DONE_UNBILLED] = {"check_done_unbilled",
                          "SELECT 'job ' || t.job || ' page ' || t.page || "
                          "' is done but has no billable row' FROM "
                          "page_tasks t WHERE t.state = 'done' AND NOT "
                          "EXISTS (SELECT 1 FROM billable_pages b WHERE "
                          "b.job = t.job AND b.page = t.page) ORDER BY "
                          "t.job, t.page LIMIT $1::bigint"},
    [ST_RUNNING_ENDED] = {"check_running_ended",
                          "SELECT 'job ' || t.job || ' page ' || t.page || "
                          "' is running but the job is ' || j.state FROM "
                          "page_tasks t JOIN jobs j ON j.id = t.job WHERE "
                          "t.state = 'running' AND j.state NOT IN "
                          "('queued', 'running') ORDER BY t.job, t.page "
                          "LIMIT $1::bigint"},
    [ST_BILLED_NOT_DONE] = {"check_billed_not_done",
                            "SELECT 'job ' || t.job || ' page ' || t.page || "
                            "' has a billable row but is ' || t.state FROM "
                            "billable_pages b JOIN page_tasks t ON t.job = "
                            "b.job AND t.page = b.page WHERE t.state <> "
                            "'done' ORDER BY t.job, t.page LIMIT $1::bigint"},
    [ST_PAGE_COUNT] = {"check_page_count",
                       "SELECT 'job ' || j.id || ' has ' || j.pages || ' "
                       "pages but ' || count(t.id) || ' page rows' FROM "
                       "jobs j LEFT JOIN page_tasks t ON t.job = j.id GROUP "
                       "BY j.id HAVING j.pages <> count(t.id) ORDER BY j.id "
                       "LIMIT $1::bigint"},
    [ST_NOT_VALID] = {"check_not_valid",
                      "SELECT 'constraint ' || conname || ' of ' || "
                      "conrelid::regclass || ' is not validated' FROM "
                      "pg_constraint WHERE NOT convalidated AND "
                      "connamespace = current_schema()::regnamespace "
                      "ORDER BY 1 LIMIT $1::bigint"},
    /* amcheck installed, and its check ours to run (it is not granted
     * to PUBLIC); CASE, so the function is named only when it exists. */
    [ST_HAS_AMCHECK] = {"check_has_amcheck",
                        "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_extension "
                        "WHERE extname = 'amcheck') THEN "
                        "has_function_privilege('bt_index_check(regclass)', "
                        "'EXECUTE')::int ELSE 0 END"},
};

const pm__pgsql_table_t pm__pg_check = {stmts, ST_COUNT};

/* amcheck's functions exist only where it is installed, so this is not
 * prepared at open. It raises an error (SQLSTATE class XX) at the first
 * corrupt index. */
static const char amcheck_sql[] =
    "SELECT count(bt_index_check(c.oid)) FROM pg_index i JOIN pg_class c ON "
    "c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE a.amname = "
    "'btree' AND c.relnamespace = current_schema()::regnamespace AND "
    "i.indisvalid";

static const int quick_checks[] = {ST_SCHEMA, ST_DONE_UNBILLED,
                                   ST_RUNNING_ENDED};
static const int full_checks[] = {ST_SCHEMA,        ST_DONE_UNBILLED,
                                  ST_RUNNING_ENDED, ST_BILLED_NOT_DONE,
                                  ST_PAGE_COUNT,    ST_NOT_VALID};

/* Runs invariant `i`, appending its findings to `b`; *clean = 0 if any. */
static int run_check(pm__pg_t *pg, int i, pm_buf_t *b, int *clean)
{
    pm__pg_params_t p = {.n = 0};
    PGresult *r;
    int err;

    pm__pg_int(&p, FINDINGS_MAX);
    if (i == ST_SCHEMA)
        pm__pg_int(&p, PM__CATALOG_SCHEMA_VERSION);
    err = pm__pg_run(pg, PM__PG_CHECK, i, &p, &r);
    if (err != 0)
        return err;
    for (int row = 0; row < PQntuples(r); row++) {
        *clean = 0;
        pm_buf_printf(b, "%s%s", b->len ? "\n" : "", PQgetvalue(r, row, 0));
    }
    PQclear(r);
    return 0;
}

/* Verifies the B-tree indexes with amcheck when it is installed. A
 * corrupt index is a finding, not an error. */
static int run_amcheck(pm__pg_t *pg, pm_buf_t *b, int *clean)
{
    const char *state;
    PGresult *r;
    int err = pm__pg_run(pg, PM__PG_CHECK, ST_HAS_AMCHECK, NULL, &r), have;

    if (err != 0)
        return err;
    have = pm__pg_int64(r, 0, 0) > 0;
    PQclear(r);
    if (!have)
        return 0;
    r = PQexec(pg->conn, amcheck_sql);
    if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK) {
        PQclear(r);
        return 0;
    }
    state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state != NULL && strncmp(state, "XX", 2) == 0) {
        *clean = 0;
        pm_buf_printf(b, "%sindex check: %s", b->len ? "\n" : "",
                      PQresultErrorMessage(r));
        while (b->len > 0 && b->s[b->len - 1] == '\n') /* libpq's ending */
            b->s[--b->len] = '\0';
        err = 0;
    } else {
        err = pm__pg_fail(pg, r);
    }
    PQclear(r);
    return err;
}

/* Runs `n` invariants (and amcheck when `indexes`); the report is "ok"
 * when nothing was found, as SQLite's. */
static int check(pm_catalog_t *cat, const int *which, size_t n, int indexes,
                 int *ok, char **report)
{
    pm__pg_t *pg = pm__pg(cat);
    pm_buf_t b = {0};
    int clean = 1, err = 0;

    *ok = 0;
    *report = NULL;
    for (size_t k = 0; err == 0 && k < n; k++)
        err = run_check(pg, which[k], &b, &clean);
    if (err == 0 && indexes)
        err = run_amcheck(pg, &b, &clean);
    if (err == 0 && clean)
        pm_buf_puts(&b, "ok");
    if (err == 0 && (err = pm_buf_take(&b, report, NULL)) != 0)
        err = pm__pg_msg(pg, err, "out of memory");
    pm_buf_cleanup(&b);
    if (err == 0)
        *ok = clean;
    return err;
}

int pm__pg_catalog_quick_check(pm_catalog_t *cat, int *ok, char **report)
{
    return check(cat, quick_checks, sizeof(quick_checks) / sizeof(int), 0, ok,
                 report);
}

int pm__pg_catalog_check(pm_catalog_t *cat, int *ok, char **report)
{
    return check(cat, full_checks, sizeof(full_checks) / sizeof(int), 1, ok,
                 report);
}
