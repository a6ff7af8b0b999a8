/*
 * paths.c: rewriting the catalog's path columns (paths.h) on either
 * backend: the columns, and the loop over them in one transaction, on
 * the backend's primitives (catalog_int.h, pm__paths_io_t: sqlite_paths.c
 * and pg_paths.c).
 */
#include "catalog/paths.h"

#include <assert.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "pipeline/base/pm.h"

const pm_path_column_t pm_path_columns[PM_PATH_COLUMNS] = {
    {"jobs", "source_path"},
    {"jobs", "output_path"},
    {"page_tasks", "src"},
    {"page_tasks", "image"},
    {"page_tasks", "text_pdf"},
    {"page_tasks", "text"},
    {"page_replacements", "src"},
    {"page_replacements", "old_src"},
    {"page_replacements", "kept_as"},
};

static void rows_clear(pm__path_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pm_free(rows[i].path);
        pm_free(rows[i].to);
        rows[i].path = rows[i].to = NULL;
    }
}

/* Asks `map` about each row of a batch; counts those it changes. */
static int map_batch(pm_path_map_fn map, void *arg, int col,
                     pm__path_row_t *rows, size_t n, pm_path_count_t *count)
{
    for (size_t i = 0; i < n; i++) {
        int err = map(arg, col, rows[i].path, &rows[i].to);

        if (err != 0)
            return err;
        if (rows[i].to != NULL && strcmp(rows[i].to, rows[i].path) == 0) {
            pm_free(rows[i].to); /* unchanged: nothing to write */
            rows[i].to = NULL;
        }
        count->rows++;
        count->rewritten += rows[i].to != NULL;
    }
    return 0;
}

/* One column, batch by batch. */
static int rewrite_column(pm_catalog_t *cat, const pm__paths_io_t *io,
                          pm_path_map_fn map, void *arg, int dry_run, int col,
                          pm_path_count_t *count)
{
    const pm_path_column_t *c = &pm_path_columns[col];
    pm__path_row_t rows[PM__PATH_BATCH];
    int64_t after = 0, before;
    size_t n;
    int err;

    memset(rows, 0, sizeof(rows));
    do {
        n = 0;
        before = count->rewritten;
        err = io->read(cat, c, after, rows, &n);
        if (err == 0)
            err = map_batch(map, arg, col, rows, n, count);
        if (err == 0 && !dry_run && count->rewritten > before)
            err = io->write(cat, c, rows, n);
        if (n > 0)
            after = rows[n - 1].id;
        rows_clear(rows, n);
    } while (err == 0 && n == PM__PATH_BATCH);
    return err;
}

int pm__paths_rewrite(pm_catalog_t *cat, const pm__paths_io_t *io,
                      pm_path_map_fn map, void *arg, int dry_run,
                      pm_path_count_t *counts)
{
    int err;

    assert(map != NULL && counts != NULL);
    memset(counts, 0, PM_PATH_COLUMNS * sizeof(*counts));
    err = dry_run ? io->tx_begin_read(cat) : io->tx_begin(cat);
    if (err != 0)
        return err;
    for (int i = 0; err == 0 && i < PM_PATH_COLUMNS; i++)
        err = rewrite_column(cat, io, map, arg, dry_run, i, &counts[i]);
    if (err == 0 && dry_run)
        err = 1; /* roll back: a dry run writes nothing */
    err = io->tx_end(cat, err);
    if (err == 1)
        err = 0;
    if (err == PM_ENOMEM)
        io->set_msg(cat, err, "out of memory");
    return err;
}
