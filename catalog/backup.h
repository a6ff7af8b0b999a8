/*
 * backup.h: consistent copies of a live catalog (SQLite's online backup
 * API), for `pagemill backup` and the copy taken before a migration.
 */
#ifndef PM_CATALOG_BACKUP_H
#define PM_CATALOG_BACKUP_H

#include <stddef.h>

/*
 * Copies the catalog file `src` into the new file `dest`, safe while a
 * service writes to it: one read snapshot (WAL readers block no writer),
 * written to a temp file beside `dest`, checked (integrity_check and
 * foreign_key_check), fsynced, then linked into place, so `dest` only
 * ever names a whole, checked copy. An existing `dest` is never
 * overwritten (PM_EEXIST). `src` is never created or migrated.
 * On success *pages is the copy's size in database pages. On failure a
 * message naming the path and the fault is in msg[size] and the result
 * is PM_EEXIST, PM_ENOENT, PM_ENOMEM, PM_ECATALOG or -errno; PM_EUNSUPP
 * for a postgresql:// catalog, whose copy is pg_dump's (the message says
 * so).
 */
int pm_catalog_backup_file(const char *src, const char *dest, long *pages,
                           char *msg, size_t size);

#endif /* PM_CATALOG_BACKUP_H */
