/*
 * sqlite_paths.c: the SQLite primitives of the path columns' rewrite
 * (paths.c, pm__paths_io_t). The statements name a column of
 * pm_path_columns, so they are prepared for each batch, not at open: the
 * rewrite is a rare administrative step.
 */
#include <stdio.h>

#include "catalog/catalog_int.h"
#include "catalog/sqlite_int.h"
#include "pipeline/base/pm.h"

static int prepare(pm_catalog_t *cat, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(cat->db, sql, -1, st, NULL) != SQLITE_OK)
        return pm__sql_fail(cat);
    return 0;
}

static int paths_read(pm_catalog_t *cat, const pm_path_column_t *c,
                      int64_t after, pm__path_row_t *rows, size_t *n)
{
    sqlite3_stmt *st = NULL;
    char sql[256];
    int err, rc = SQLITE_ROW;

    *n = 0;
    snprintf(sql, sizeof(sql),
             "SELECT id, %s FROM %s WHERE id > ?1 AND %s IS NOT NULL "
             "ORDER BY id LIMIT ?2",
             c->column, c->table, c->column);
    err = prepare(cat, sql, &st);
    if (err != 0)
        return err;
    if (sqlite3_bind_int64(st, 1, after) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, PM__PATH_BATCH) != SQLITE_OK)
        err = pm__sql_fail(cat);
    while (err == 0 && *n < PM__PATH_BATCH &&
           (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows[*n].id = sqlite3_column_int64(st, 0);
        err = pm__sql_col_str(st, 1, &rows[*n].path);
        if (err == 0 && rows[*n].path != NULL)
            (*n)++;
    }
    if (err == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = pm__sql_fail(cat);
    else if (err == PM_ENOMEM)
        err = pm__catalog_nomem(cat);
    sqlite3_finalize(st);
    return err;
}

static int paths_write(pm_catalog_t *cat, const pm_path_column_t *c,
                       const pm__path_row_t *rows, size_t n)
{
    sqlite3_stmt *st = NULL;
    char sql[256];
    int err;

    snprintf(sql, sizeof(sql), "UPDATE %s SET %s = ?1 WHERE id = ?2", c->table,
             c->column);
    err = prepare(cat, sql, &st);

    for (size_t i = 0; err == 0 && i < n; i++) {
        if (rows[i].to == NULL)
            continue;
        if (sqlite3_bind_text(st, 1, rows[i].to, -1, SQLITE_STATIC) !=
                SQLITE_OK ||
            sqlite3_bind_int64(st, 2, rows[i].id) != SQLITE_OK)
            err = pm__sql_fail(cat);
        else
            err = pm__sql_run(cat, st);
    }
    sqlite3_finalize(st);
    return err;
}

static const pm__paths_io_t sqlite_paths_io = {
    .tx_begin = pm__sql_tx_begin,
    .tx_begin_read = pm__sql_tx_begin_read,
    .tx_end = pm__sql_tx_end,
    .read = paths_read,
    .write = paths_write,
    .set_msg = pm__catalog_set_msg,
};

int pm__sqlite_catalog_rewrite_paths(pm_catalog_t *cat, pm_path_map_fn map,
                                     void *arg, int dry_run,
                                     pm_path_count_t *counts)
{
    return pm__paths_rewrite(cat, &sqlite_paths_io, map, arg, dry_run, counts);
}
