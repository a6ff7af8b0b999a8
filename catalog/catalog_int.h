/*
 * catalog_int.h: catalog internals shared between the SQLite backend and
 * its tests, never used by the rest of pagemill: the schema version this
 * build migrates to; probes that let the tests prove the hot statements
 * use indexes (their query plan, and how much work they do) without
 * timing anything; and one that reads the connection's own settings.
 */
#ifndef PM_CATALOG_INT_H
#define PM_CATALOG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"

/* Number of the last migration in sqlite_schema.c (what a fresh open
 * reports). */
#define PM__CATALOG_SCHEMA_VERSION 6

/*
 * Test probe: creates the catalog file `path` as a pagemill of schema
 * `version` (1..PM__CATALOG_SCHEMA_VERSION) made it: only migrations
 * 1..version applied. PM_EEXIST if the file exists.
 */
int pm__catalog_create_at_version(const char *path, int version);

/*
 * Writes the EXPLAIN QUERY PLAN of the prepared statement called `name`
 * (the names in the sqlite_*.c statement tables, e.g. "claim_pick"), one plan
 * row per line, into *plan: a new string the caller frees with pm_free.
 * PM_ENOENT for an unknown name.
 */
int pm__catalog_plan(pm_catalog_t *cat, const char *name, char **plan);

/*
 * Returns the sqlite3_stmt_status() counter `op` (SQLITE_STMTSTATUS_*) of
 * the prepared statement called `name`, resetting it when `reset` is set;
 * -1 for an unknown name.
 */
int pm__catalog_stmt_counter(pm_catalog_t *cat, const char *name, int op,
                             int reset);

/*
 * Reads `PRAGMA <name>` on the catalog's own connection (settings such as
 * synchronous are per connection, invisible from another one) into buf.
 */
int pm__catalog_pragma(pm_catalog_t *cat, const char *name, char *buf,
                       size_t size);

#endif /* PM_CATALOG_INT_H */
