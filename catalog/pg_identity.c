/*
 * pg_identity.c: the catalog's identity on the PostgreSQL backend, as
 * identity.c on SQLite: the installation id (settings, migration 4), the
 * jobs' uids and the job count. The integrity checks (pm_catalog_check,
 * pm_catalog_quick_check) are pg_check.c's.
 */
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/pg_int.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum { ST_INSTALLATION_ID, ST_JOB_COUNT, ST_JOB_UID, ST_COUNT };

static const pm__pgsql_t stmts[ST_COUNT] = {
    [ST_INSTALLATION_ID] = {"installation_id",
                            "SELECT value FROM settings WHERE key = "
                            "'installation_id'"},
    [ST_JOB_COUNT] = {"job_count", "SELECT count(*) FROM jobs"},
    [ST_JOB_UID] = {"job_uid", "SELECT uid FROM jobs WHERE id = $1::bigint"},
};

const pm__pgsql_table_t pm__pg_identity = {stmts, ST_COUNT};

/* Runs statement `i` (with `arg` as $1 unless 0): 1 and *out on a row, 0
 * and *out NULL on none, or an error. */
static int one_row(pm__pg_t *pg, int i, int64_t arg, PGresult **out)
{
    pm__pg_params_t p = {.n = 0};
    int err;

    if (arg != 0)
        pm__pg_int(&p, arg);
    err = pm__pg_run(pg, PM__PG_IDENTITY, i, &p, out);
    if (err != 0)
        return err;
    if (PQntuples(*out) > 0)
        return 1;
    PQclear(*out);
    *out = NULL;
    return 0;
}

/* Copies column 0 of `r`, which must be 32 hex digits, into id; clears
 * `r`. */
static int take_id(pm__pg_t *pg, PGresult *r, char id[PM_CATALOG_ID_SIZE],
                   const char *what)
{
    const char *v = PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0);
    size_t n = strlen(v);
    int err = 0;

    if (n != PM_CATALOG_ID_SIZE - 1 || strspn(v, "0123456789abcdef") != n)
        err = pm__pg_msg(pg, PM_ECATALOG, "%s", what);
    else
        memcpy(id, v, PM_CATALOG_ID_SIZE);
    PQclear(r);
    return err;
}

int pm__pg_catalog_installation_id(pm_catalog_t *cat,
                                   char id[PM_CATALOG_ID_SIZE])
{
    pm__pg_t *pg = pm__pg(cat);
    PGresult *r;
    int err = one_row(pg, ST_INSTALLATION_ID, 0, &r);

    id[0] = '\0';
    if (err == 0)
        return pm__pg_msg(pg, PM_ECATALOG,
                          "the catalog has no installation id");
    if (err < 0)
        return err;
    return take_id(pg, r, id, "the catalog's installation id is malformed");
}

int pm__pg_catalog_job_count(pm_catalog_t *cat, int64_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    PGresult *r;
    int err = one_row(pg, ST_JOB_COUNT, 0, &r);

    *n = 0;
    if (err <= 0)
        return err;
    *n = pm__pg_int64(r, 0, 0);
    PQclear(r);
    return 0;
}

int pm__pg_job_uid(pm_catalog_t *cat, int64_t job, char uid[PM_CATALOG_ID_SIZE])
{
    pm__pg_t *pg = pm__pg(cat);
    PGresult *r;
    int err = one_row(pg, ST_JOB_UID, job, &r);

    uid[0] = '\0';
    if (err == 0 || job == 0)
        return err < 0 ? err : pm__pg_msg(pg, PM_ENOENT, "no such job");
    if (err < 0)
        return err;
    return take_id(pg, r, uid, "the job's uid is missing or malformed");
}
