/*
 * pg_tokens.c: the web interface's access tokens on the PostgreSQL
 * backend (monitor.h, as monitor.c on SQLite), and a read-only handle for
 * a reader beside the coordinator.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/monitor.h"
#include "catalog/pg_int.h"
#include "pipeline/base/pm.h"

/* ---- statements: the SQL this file runs, prepared at open ---- */

enum { ST_TOKEN_ADD, ST_TOKEN_LIST, ST_COUNT };

static const pm__pgsql_t stmts[ST_COUNT] = {
    [ST_TOKEN_ADD] = {"tokens_add",
                      "INSERT INTO api_tokens (name, role, sha256, created_at)"
                      " VALUES ($1, $2, $3, $4::bigint)"},
    /* COLLATE "C": byte order, as SQLite sorts. */
    [ST_TOKEN_LIST] = {"tokens_list",
                       "SELECT name, role, sha256, created_at FROM api_tokens"
                       " ORDER BY name COLLATE \"C\""},
};

const pm__pgsql_table_t pm__pg_tokens = {stmts, ST_COUNT};

/* Every transaction of this session read-only from now on: a write fails
 * (SQLSTATE 25006), as SQLite's query_only refuses it. */
int pm__pg_catalog_query_only(pm_catalog_t *cat)
{
    return pm__pg_exec_text(pm__pg(cat),
                            "SET SESSION CHARACTERISTICS AS TRANSACTION "
                            "READ ONLY");
}

int pm__pg_token_add(pm_catalog_t *cat, const char *name, pm_role_t role,
                     const char *sha256, const char *actor, int64_t now)
{
    pm__pg_t *pg = pm__pg(cat);
    pm__pg_params_t p = {.n = 0};
    char detail[128];
    int err;

    if (!pm_token_name_valid(name) || pm_role_parse(pm_role_name(role)) < 0 ||
        sha256 == NULL || strlen(sha256) != 64 ||
        strspn(sha256, "0123456789abcdef") != 64)
        return pm__pg_msg(pg, PM_EINVAL,
                          "a token needs a name of letters, digits, "
                          "'.', '-', '_' or '@', a role and a hash");
    pm__pg_text(&p, name);
    pm__pg_text(&p, pm_role_name(role));
    pm__pg_text(&p, sha256);
    pm__pg_int(&p, now);
    snprintf(detail, sizeof(detail), "token %s, role %s", name,
             pm_role_name(role));
    err = pm__pg_tx_begin(pg);
    if (err != 0)
        return err;
    err = pm__pg_exec(pg, PM__PG_TOKENS, ST_TOKEN_ADD, &p, NULL);
    if (err == -EEXIST)
        pm__pg_msg(pg, err, "a token named %s exists", name);
    if (err == 0)
        err = pm__pg_event_insert(pg, pm__pg_wall_clock(), actor, "token.added",
                                  0, 0, detail);
    return pm__pg_tx_end(pg, err);
}

static void token_cleanup_v(void *item)
{
    pm_token_t *t = item;

    pm_free(t->name);
    memset(t, 0, sizeof(*t));
}

static int read_token(const PGresult *r, int row, void *item)
{
    pm_token_t *t = item;

    memset(t, 0, sizeof(*t));
    t->role = (pm_role_t)pm_role_parse(PQgetvalue(r, row, 1));
    snprintf(t->sha256, sizeof(t->sha256), "%s", PQgetvalue(r, row, 2));
    t->created_at = pm__pg_int64(r, row, 3);
    return pm__pg_str(r, row, 0, &t->name);
}

int pm__pg_token_list(pm_catalog_t *cat, pm_token_t **out, size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    PGresult *r;
    int err;

    *out = NULL;
    *n = 0;
    err = pm__pg_run(pg, PM__PG_TOKENS, ST_TOKEN_LIST, NULL, &r);
    if (err != 0)
        return err;
    return pm__pg_collect(pg, r, sizeof(pm_token_t), read_token,
                          token_cleanup_v, (void **)out, n);
}
