/*
 * identity.c: the catalog's identity and health, on the SQLite backend
 * (catalog.h): the installation id (settings, migration 4), the jobs'
 * uids, and SQLite's quick_check. These run rarely (at start, at publish
 * time, every integrity_check_minutes), so their statements are prepared
 * per call rather than kept in a statement table (sqlite_int.h).
 */
#include <string.h>

#include <sqlite3.h>

#include "catalog/billing_int.h"
#include "catalog/catalog.h"
#include "catalog/sqlite_int.h"
#include "pipeline/base/pm.h"

/* Prepares `sql` with `arg` bound to ?1 (when not 0) and steps it once:
 * 1 and *out set on a row, 0 and *out NULL on none. */
static int one_row(pm_catalog_t *cat, const char *sql, int64_t arg,
                   sqlite3_stmt **out)
{
    sqlite3 *db = pm__catalog_db(cat);
    sqlite3_stmt *st = NULL;
    int rc;

    *out = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return pm__catalog_db_fail(cat);
    if (arg != 0 && sqlite3_bind_int64(st, 1, arg) != SQLITE_OK) {
        rc = pm__catalog_db_fail(cat);
        sqlite3_finalize(st);
        return rc;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = st;
        return 1;
    }
    rc = rc == SQLITE_DONE ? 0 : pm__catalog_db_fail(cat);
    sqlite3_finalize(st);
    return rc;
}

/* Copies column 0 of `st`, which must be 32 hex digits, into id. */
static int take_id(pm_catalog_t *cat, sqlite3_stmt *st,
                   char id[PM_CATALOG_ID_SIZE], const char *what)
{
    const unsigned char *v = sqlite3_column_text(st, 0);
    size_t n = v != NULL ? strlen((const char *)v) : 0;

    if (n != PM_CATALOG_ID_SIZE - 1 ||
        strspn((const char *)v, "0123456789abcdef") != n)
        return pm__catalog_set_msg(cat, PM_ECATALOG, what);
    memcpy(id, v, PM_CATALOG_ID_SIZE);
    return 0;
}

int pm__sqlite_catalog_installation_id(pm_catalog_t *cat,
                                       char id[PM_CATALOG_ID_SIZE])
{
    sqlite3_stmt *st;
    int err = one_row(cat,
                      "SELECT value FROM settings WHERE key = "
                      "'installation_id'",
                      0, &st);

    id[0] = '\0';
    if (err == 0)
        return pm__catalog_set_msg(cat, PM_ECATALOG,
                                   "the catalog has no installation id");
    if (err < 0)
        return err;
    err = take_id(cat, st, id, "the catalog's installation id is malformed");
    sqlite3_finalize(st);
    return err;
}

int pm__sqlite_catalog_job_count(pm_catalog_t *cat, int64_t *n)
{
    sqlite3_stmt *st;
    int err = one_row(cat, "SELECT count(*) FROM jobs", 0, &st);

    *n = 0;
    if (err <= 0)
        return err;
    *n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int pm__sqlite_job_uid(pm_catalog_t *cat, int64_t job,
                       char uid[PM_CATALOG_ID_SIZE])
{
    sqlite3_stmt *st;
    int err = one_row(cat, "SELECT uid FROM jobs WHERE id = ?1", job, &st);

    uid[0] = '\0';
    if (err == 0)
        return pm__catalog_set_msg(cat, PM_ENOENT, "no such job");
    if (err < 0)
        return err;
    err = take_id(cat, st, uid, "the job's uid is missing or malformed");
    sqlite3_finalize(st);
    return err;
}

int pm__sqlite_catalog_quick_check(pm_catalog_t *cat, int *ok, char **report)
{
    sqlite3 *db = pm__catalog_db(cat);
    sqlite3_stmt *st = NULL;
    pm_buf_t b = {0};
    const char *line;
    int rc, clean = 1;

    *ok = 0;
    *report = NULL;
    rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        line = (const char *)sqlite3_column_text(st, 0);
        if (line == NULL || strcmp(line, "ok") != 0)
            clean = 0;
        pm_buf_printf(&b, "%s%s", b.len ? "\n" : "", line ? line : "?");
        rc = SQLITE_OK;
    }
    /* SQLITE_DONE after rows; a damaged file fails the prepare or a step
     * (SQLITE_CORRUPT, SQLITE_NOTADB): that is the check's finding. */
    if (rc != SQLITE_DONE) {
        int code = sqlite3_errcode(db);

        if (code != SQLITE_CORRUPT && code != SQLITE_NOTADB) {
            rc = pm__catalog_db_fail(cat);
            sqlite3_finalize(st);
            pm_buf_cleanup(&b);
            return rc;
        }
        clean = 0;
        pm_buf_printf(&b, "%s%s", b.len ? "\n" : "", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    if (b.oom) {
        pm_buf_cleanup(&b);
        return pm__catalog_set_msg(cat, PM_ENOMEM, "out of memory");
    }
    *ok = clean;
    *report = b.s;
    return 0;
}
