/*
 * paths.h: the catalog's columns that hold file paths, and rewriting
 * them in place (`pagemill volumes rewrite`: a catalog written before
 * [volume NAME] sections existed holds absolute paths, which the tool
 * turns into the "NAME:relative" form config/volume.h describes). The
 * catalog knows nothing of volumes: the caller says what each path
 * becomes.
 */
#ifndef PM_CATALOG_PATHS_H
#define PM_CATALOG_PATHS_H

#include <stdint.h>

typedef struct pm_catalog pm_catalog_t;

/* Every column that holds a path, in the order they are rewritten:
 * jobs source_path, output_path; page_tasks src, image, text_pdf, text;
 * page_replacements src, old_src, kept_as. (The events' details are
 * history, append-only, and are never rewritten.) */
#define PM_PATH_COLUMNS 9

typedef struct pm_path_column {
    const char *table, *column;
} pm_path_column_t;

extern const pm_path_column_t pm_path_columns[PM_PATH_COLUMNS];

/*
 * What path `path` of column `col` (an index of pm_path_columns) becomes:
 * 0 with *to NULL to leave it, or a new string (pm_malloc'd; the rewrite
 * frees it) to store instead; a negative PM_* code stops the rewrite,
 * which then changes nothing.
 */
typedef int (*pm_path_map_fn)(void *arg, int col, const char *path, char **to);

/* Per column: the rows with a path, and those rewritten (or, in a dry
 * run, that would be). */
typedef struct pm_path_count {
    int64_t rows, rewritten;
} pm_path_count_t;

/*
 * Calls `map` on every path of every column of pm_path_columns (NULL
 * values skipped) and stores what it returns, all in one transaction:
 * every column rewritten, or, on any failure, none. `dry_run` calls `map`
 * alike in a read-only transaction (it holds no writer back) and changes
 * nothing. counts[0..PM_PATH_COLUMNS) are the
 * columns'. Reads the rows in batches by id, so a catalog of millions of
 * pages needs little memory. Takes no lock against a running
 * coordinator: the caller takes pm_catalog_lock_coordinator first.
 */
int pm_catalog_rewrite_paths(pm_catalog_t *cat, pm_path_map_fn map, void *arg,
                             int dry_run, pm_path_count_t *counts);

#endif /* PM_CATALOG_PATHS_H */
