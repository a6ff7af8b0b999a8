/*
 * pg_probe.c: the PostgreSQL backend's performance probe, for tests
 * (catalog_int.h): the plan and the costs of one of the catalog's
 * prepared statements as EXPLAIN (ANALYZE, BUFFERS) shows them, run on the
 * catalog's own session (so with its plan cache: the generic plan once
 * the session has made one) in a transaction that is rolled back.
 */
#include <assert.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "catalog/pg_int.h"
#include "pipeline/base/pm.h"

/* A statement's name is lower-case letters, digits and '_'. */
static int plain_name(const char *name)
{
    if (*name == '\0')
        return 0;
    for (; *name != '\0'; name++)
        if (!((*name >= 'a' && *name <= 'z') ||
              (*name >= '0' && *name <= '9') || *name == '_'))
            return 0;
    return 1;
}

/* "EXPLAIN (...) EXECUTE name('p1', 'p2')" into *sql (pm_free). */
static int explain_sql(pm__pg_t *pg, const char *name,
                       const char *const *params, int n, char **sql)
{
    size_t size = strlen(name) + 64, len;
    char *s, *lit;
    int i;

    for (i = 0; i < n; i++)
        size += 2 * strlen(params[i]) + 8;
    s = pm_malloc(size);
    if (s == NULL)
        return pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    len = (size_t)snprintf(
        s, size, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE %s", name);
    for (i = 0; i < n; i++) {
        lit = PQescapeLiteral(pg->conn, params[i], strlen(params[i]));
        if (lit == NULL) {
            pm_free(s);
            return pm__pg_msg(pg, PM_ENOMEM, "out of memory");
        }
        assert(len + strlen(lit) + 3 < size);
        len +=
            (size_t)snprintf(s + len, size - len, "%s%s", i ? ", " : "(", lit);
        PQfreemem(lit);
    }
    snprintf(s + len, size - len, "%s", n > 0 ? ")" : "");
    *sql = s;
    return 0;
}

/* The rows of an EXPLAIN, one a line, into *plan (pm_free). */
static int plan_text(pm__pg_t *pg, const PGresult *r, char **plan)
{
    size_t size = 1, len = 0;
    int i, rows = PQntuples(r);
    char *s;

    for (i = 0; i < rows; i++)
        size += strlen(PQgetvalue(r, i, 0)) + 1;
    s = pm_malloc(size);
    if (s == NULL)
        return pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    s[0] = '\0';
    for (i = 0; i < rows; i++)
        len +=
            (size_t)snprintf(s + len, size - len, "%s\n", PQgetvalue(r, i, 0));
    *plan = s;
    return 0;
}

int pm__pg_explain(pm_catalog_t *cat, const char *name,
                   const char *const *params, int n, char **plan)
{
    pm__pg_t *pg = pm__pg(cat);
    char *sql = NULL;
    PGresult *r;
    int err;

    *plan = NULL;
    assert(pg->ops == &pm__pg_ops);
    if (!plain_name(name) || n < 0 || (n > 0 && params == NULL))
        return pm__pg_msg(pg, PM_EINVAL, "no such statement: %s", name);
    err = explain_sql(pg, name, params, n, &sql);
    if (err == 0)
        err = pm__pg_tx_begin(pg);
    if (err != 0) {
        pm_free(sql);
        return err;
    }
    r = PQexec(pg->conn, sql);
    pm_free(sql);
    if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK)
        err = pm__pg_fail(pg, r);
    else
        err = plan_text(pg, r, plan);
    PQclear(r);
    r = PQexec(pg->conn, "ROLLBACK"); /* nothing the statement did stays */
    PQclear(r);
    return err;
}
