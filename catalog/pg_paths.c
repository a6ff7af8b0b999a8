/*
 * pg_paths.c: the PostgreSQL primitives of the path columns' rewrite
 * (paths.c, pm__paths_io_t). The statements name a column of
 * pm_path_columns, so they are sent as text with their parameters, not
 * prepared at open: the rewrite is a rare administrative step. A batch's
 * changes go in one UPDATE over two arrays.
 */
#include <stdio.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "catalog/pg_int.h"
#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"

static int paths_read(pm_catalog_t *cat, const pm_path_column_t *c,
                      int64_t after, pm__path_row_t *rows, size_t *n)
{
    pm__pg_t *pg = pm__pg(cat);
    char sql[256], from[32], limit[32];
    const char *v[2] = {from, limit};
    PGresult *r;
    int err;

    *n = 0;
    snprintf(sql, sizeof(sql),
             "SELECT id, %s FROM %s WHERE id > $1::bigint AND %s IS NOT NULL "
             "ORDER BY id LIMIT $2::bigint",
             c->column, c->table, c->column);
    snprintf(from, sizeof(from), "%lld", (long long)after);
    snprintf(limit, sizeof(limit), "%d", PM__PATH_BATCH);
    err = pm__pg_run_text(pg, sql, 2, v, &r);
    for (int i = 0; err == 0 && i < PQntuples(r) && *n < PM__PATH_BATCH; i++) {
        rows[*n].id = pm__pg_int64(r, i, 0);
        err = pm__pg_str(r, i, 1, &rows[*n].path);
        if (err == 0 && rows[*n].path != NULL)
            (*n)++;
    }
    PQclear(r);
    if (err == PM_ENOMEM)
        err = pm__pg_msg(pg, err, "out of memory");
    return err;
}

/* Appends `s` to an array literal as one quoted element. */
static void array_item(pm_buf_t *b, const char *s)
{
    pm_buf_puts(b, b->len > 1 ? ",\"" : "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            pm_buf_add(b, "\\", 1);
        pm_buf_add(b, s, 1);
    }
    pm_buf_add(b, "\"", 1);
}

static int paths_write(pm_catalog_t *cat, const pm_path_column_t *c,
                       const pm__path_row_t *rows, size_t n)
{
    pm__pg_t *pg = pm__pg(cat);
    pm_buf_t ids = {0}, paths = {0};
    char sql[256];
    const char *v[2];
    PGresult *r = NULL;
    int err = PM_ENOMEM;

    pm_buf_printf(&ids, "{");
    pm_buf_printf(&paths, "{");
    for (size_t i = 0; i < n; i++) {
        if (rows[i].to == NULL)
            continue;
        pm_buf_printf(&ids, "%s%lld", ids.len > 1 ? "," : "",
                      (long long)rows[i].id);
        array_item(&paths, rows[i].to);
    }
    pm_buf_printf(&ids, "}");
    pm_buf_printf(&paths, "}");
    snprintf(sql, sizeof(sql),
             "UPDATE %s SET %s = u.path FROM unnest($1::bigint[], "
             "$2::text[]) AS u(id, path) WHERE %s.id = u.id",
             c->table, c->column, c->table);
    if (!ids.oom && !paths.oom) {
        v[0] = ids.s;
        v[1] = paths.s;
        err = pm__pg_run_text(pg, sql, 2, v, &r);
        PQclear(r);
    } else {
        err = pm__pg_msg(pg, PM_ENOMEM, "out of memory");
    }
    pm_buf_cleanup(&ids);
    pm_buf_cleanup(&paths);
    return err;
}

static const pm__paths_io_t pg_paths_io = {
    .tx_begin = pm__pg_cat_tx_begin,
    .tx_begin_read = pm__pg_cat_tx_begin_read,
    .tx_end = pm__pg_cat_tx_end,
    .read = paths_read,
    .write = paths_write,
    .set_msg = pm__pg_set_msg,
};

int pm__pg_catalog_rewrite_paths(pm_catalog_t *cat, pm_path_map_fn map,
                                 void *arg, int dry_run,
                                 pm_path_count_t *counts)
{
    return pm__paths_rewrite(cat, &pg_paths_io, map, arg, dry_run, counts);
}
