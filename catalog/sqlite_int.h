/*
 * sqlite_int.h: what the SQLite backend's other files (identity.c) share
 * with sqlite.c, never used outside catalog/: the connection, and the
 * handle's error text.
 */
#ifndef PM_CATALOG_SQLITE_INT_H
#define PM_CATALOG_SQLITE_INT_H

#include <sqlite3.h>

#include "catalog/catalog.h"

/* The handle's connection (borrowed). */
sqlite3 *pm__catalog_db(pm_catalog_t *cat);

/* Keeps the connection's last error as the handle's message and returns
 * it as a PM code (as every catalog function does). */
int pm__catalog_db_fail(pm_catalog_t *cat);

/* Keeps `msg` as the handle's message; returns `err`. */
int pm__catalog_set_msg(pm_catalog_t *cat, int err, const char *msg);

/* Migration 5's statements (review.c), NULL-terminated. */
extern const char *const pm__migration_5[];

#endif /* PM_CATALOG_SQLITE_INT_H */
