/*
 * sqlite_backup.c: copies of a live catalog with SQLite's online backup
 * API (backup.h, and pm__sqlite_backup for the copy taken before a
 * migration). The copy is made from one read transaction: in WAL mode
 * that is a consistent snapshot and never blocks the service's writes.
 * It goes to a temp file beside the destination, is checked there, made
 * durable, and only then linked to its name: the destination either does
 * not exist or holds a whole, checked catalog.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "catalog/backup.h"
#include "catalog/catalog.h"
#include "catalog/sqlite_int.h"
#include "pipeline/base/pm.h"

#define BUSY_TIMEOUT_MS 5000
#define BUSY_RETRY_MS   50
#define BUSY_DEADLINE_S 60 /* a source that stays locked this long fails */

/* A message into msg[size]; returns `err`. */
static int fail(int err, char *msg, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int err, char *msg, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
    return err;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Copies every page of `src` into `dst` in one step (one snapshot),
 * retrying while the source is busy (a checkpoint, WAL recovery). */
static int copy_pages(sqlite3 *src, sqlite3 *dst, const char *from,
                      const char *to, long *pages, char *msg, size_t size)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    time_t deadline = time(NULL) + BUSY_DEADLINE_S;
    int rc;

    if (b == NULL)
        return fail(PM_ECATALOG, msg, size, "%s: cannot start the backup: %s",
                    to, sqlite3_errmsg(dst));
    do {
        rc = sqlite3_backup_step(b, -1);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            nap_ms(BUSY_RETRY_MS);
    } while ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED || rc == SQLITE_OK) &&
             time(NULL) < deadline);
    *pages = sqlite3_backup_pagecount(b);
    sqlite3_backup_finish(b);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc == SQLITE_FULL)
        return fail(-ENOSPC, msg, size, "%s: cannot write the copy: %s", to,
                    sqlite3_errstr(rc));
    return fail(PM_ECATALOG, msg, size, "cannot copy %s to %s: %s", from, to,
                sqlite3_errstr(rc));
}

/* integrity_check and foreign_key_check of the copy. */
static int check_copy(sqlite3 *db, const char *name, char *msg, size_t size)
{
    sqlite3_stmt *st = NULL;
    const char *line;
    int rc, err = 0;

    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(PM_ECATALOG, msg, size, "%s: cannot check the copy: %s",
                    name, sqlite3_errmsg(db));
    while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        line = (const char *)sqlite3_column_text(st, 0);
        if (line == NULL || strcmp(line, "ok") != 0)
            err = fail(PM_ECATALOG, msg, size,
                       "%s: the copy fails its integrity check: %s", name,
                       line ? line : "?");
    }
    sqlite3_finalize(st);
    if (err != 0)
        return err;
    if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(PM_ECATALOG, msg, size, "%s: cannot check the copy: %s",
                    name, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        err = fail(PM_ECATALOG, msg, size,
                   "%s: the copy has a %s row whose parent is missing", name,
                   (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return err;
}

/* Copies, checks and closes; the copy stays in journal mode DELETE, one
 * self-contained file. */
static int write_copy(sqlite3 *src, const char *from, const char *tmp,
                      const char *dest, long *pages, char *msg, size_t size)
{
    sqlite3 *dst = NULL;
    int err;

    if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        err = fail(PM_ECATALOG, msg, size, "%s: cannot open: %s", tmp,
                   dst ? sqlite3_errmsg(dst) : "out of memory");
        sqlite3_close(dst);
        return err;
    }
    sqlite3_busy_timeout(dst, BUSY_TIMEOUT_MS);
    err = copy_pages(src, dst, from, dest, pages, msg, size);
    if (err == 0 && sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL,
                                 NULL, NULL) != SQLITE_OK)
        err = fail(PM_ECATALOG, msg, size, "%s: %s", dest, sqlite3_errmsg(dst));
    if (err == 0)
        err = check_copy(dst, dest, msg, size);
    if (sqlite3_close(dst) != SQLITE_OK && err == 0)
        err = fail(PM_ECATALOG, msg, size, "%s: cannot close the copy", dest);
    return err;
}

/* fsyncs the finished copy, links it to `dest` (never over an existing
 * file) and fsyncs the folder. */
static int publish(const char *tmp, const char *dest, char *msg, size_t size)
{
    int fd = open(tmp, O_RDONLY | O_CLOEXEC), err = 0;

    if (fd < 0 || fsync(fd) != 0)
        err = -errno;
    if (fd >= 0)
        close(fd);
    if (err != 0)
        return fail(err, msg, size, "%s: %s", tmp, strerror(-err));
    if (link(tmp, dest) != 0)
        return errno == EEXIST
                   ? fail(PM_EEXIST, msg, size,
                          "%s exists: a backup never overwrites a file", dest)
                   : fail(-errno, msg, size, "%s: %s", dest, strerror(errno));
    err = pm_fsync_parent(dest);
    return err != 0 ? fail(err, msg, size, "%s: cannot sync its folder: %s",
                           dest, pm_strerror(err))
                    : 0;
}

/* Removes the temp file and any journal SQLite left beside it. */
static void remove_tmp(const char *tmp)
{
    char side[4200];

    unlink(tmp);
    snprintf(side, sizeof(side), "%s-journal", tmp);
    unlink(side);
    snprintf(side, sizeof(side), "%s-wal", tmp);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", tmp);
    unlink(side);
}

int pm__sqlite_backup(sqlite3 *src, const char *from, const char *dest,
                      long *pages, char *msg, size_t size)
{
    struct stat st;
    char *tmp = NULL;
    int err;

    assert(src != NULL && dest != NULL && pages != NULL);
    *pages = 0;
    if (lstat(dest, &st) == 0)
        return fail(PM_EEXIST, msg, size,
                    "%s exists: a backup never overwrites a file", dest);
    if (errno != ENOENT)
        return fail(-errno, msg, size, "%s: %s", dest, strerror(errno));
    err = pm_tmp_create(dest, &tmp, NULL);
    if (err != 0)
        return fail(err, msg, size, "%s: cannot create a file beside it: %s",
                    dest, pm_strerror(err));
    err = write_copy(src, from, tmp, dest, pages, msg, size);
    if (err == 0)
        err = publish(tmp, dest, msg, size);
    remove_tmp(tmp);
    pm_free(tmp);
    return err;
}

/* A PostgreSQL catalog is the server's to copy: says so, naming the
 * database without its credentials (the user and password before '@'). */
static int refuse_url(const char *src, char *msg, size_t size)
{
    const char *rest = strstr(src, "://") + 3, *at = strchr(rest, '@');
    const char *slash = strchr(rest, '/');

    if (at != NULL && (slash == NULL || at < slash))
        rest = at + 1;
    return fail(PM_EUNSUPP, msg, size,
                "the catalog is the PostgreSQL database %.*s%s, which this "
                "command cannot copy (it copies SQLite catalog files); back "
                "it up with PostgreSQL's own tools, e.g. pg_dump "
                "--format=custom --file=DEST with the catalog's URL, and "
                "restore it with pg_restore",
                (int)(strstr(src, "://") + 3 - src), src, rest);
}

int pm_catalog_backup_file(const char *src, const char *dest, long *pages,
                           char *msg, size_t size)
{
    sqlite3 *db = NULL;
    int err;

    if (pm_catalog_is_url(src))
        return refuse_url(src, msg, size);

    /* READWRITE without CREATE: a mistyped path is an error, not an empty
     * catalog; write access lets a WAL reader set up its shared memory. */
    if (sqlite3_open_v2(src, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        err = access(src, F_OK) != 0 ? PM_ENOENT : PM_ECATALOG;
        fail(err, msg, size, "cannot open catalog %s: %s", src,
             err == PM_ENOENT ? strerror(errno)
             : db             ? sqlite3_errmsg(db)
                              : "out of memory");
        sqlite3_close(db);
        return err;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    err = pm__sqlite_backup(db, src, dest, pages, msg, size);
    sqlite3_close(db);
    return err;
}
