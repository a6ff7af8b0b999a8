/*
 * hotfolder.h: batch detection and the filesystem side of intake.
 *
 * Operators drop batches into a hot folder: one sub-folder per batch, or
 * one image file (typically a multi-page TIFF), named by work order
 * ("WO-2026-0142" or "WO-2026-0142_box17"). pm_hotfolder_scan() says which
 * batches are complete now, by marker file or by settle time, and what is
 * in them (a symlink at the top is a batch to reject: the link is moved,
 * never followed); pm_hotfolder_take() moves one into the spool by
 * rename(2), and pm_hotfolder_reject() moves one to
 * <hot folder>/_rejected/<name>/ with an ERROR.txt. Nothing here deletes
 * anything, ever.
 *
 * No libuv and no catalog: the coordinator calls these from its scan timer
 * and thread pool, and records what happened in the catalog. Calls on one
 * handle are serialised by a lock inside it, so scan and take may run on
 * different pool threads.
 */
#ifndef PM_HOTFOLDER_H
#define PM_HOTFOLDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"

/* The folder inside a hot folder that rejected batches go to. */
#define PM_REJECTED_DIR "_rejected"
/* The batch metadata file read from a folder batch when present. */
#define PM_BATCH_INI "batch.ini"

typedef struct pm_hotfolder pm_hotfolder_t;

/* Which file a page is: what the scan listed, so that intake and the take
 * can tell it from anything swapped in later. */
typedef struct pm_file_id {
    dev_t dev;
    ino_t ino;
} pm_file_id_t;

/*
 * One complete batch, as pm_hotfolder_scan() found it. Every string and
 * array belongs to the batch and is freed by pm_batch_free().
 */
typedef struct pm_batch {
    struct pm_batch *next; /* the next batch scan returned, or NULL */
    char *name;            /* its name in the hot folder, as found: a folder
                              name or a file name with its extension; may
                              be invalid UTF-8 only when `error` is set */
    char *path;            /* where it is now: in the hot folder, or (after
                              pm_hotfolder_take) the spooled folder */
    int is_file;           /* a single-file batch */
    char *work_order;      /* from batch.ini, else the name; NULL if none */
    char *account;         /* batch.ini, else the hot folder's; or NULL */
    char *profile;         /* batch.ini, else the hot folder's */
    char *operator_name;   /* batch.ini "operator", or NULL */
    char *notes;           /* batch.ini, or NULL */
    long expected_pages;   /* batch.ini, or -1: check after counting frames */
    char **files;          /* image paths in page order (natural sort) */
    pm_file_id_t *ids;     /* files[i] as listed (lstat: a regular file) */
    size_t nfiles;
    char *error;      /* NULL, or why it must be rejected: one line per
                         problem, valid UTF-8 (odd bytes shown as \xNN) */
    char *what_to_do; /* with `error`: what the operator should do */
} pm_batch_t;

/*
 * Opens a hot folder described by `hfc` (borrowed: copied). When `config`
 * is not NULL, a profile named in a batch.ini must be one of its profiles;
 * with NULL any name is accepted and the coordinator checks. The folder
 * must exist (it is not created: a mistyped share path should fail loudly).
 * On success stores a new handle in *out, which the caller owns and
 * releases with pm_hotfolder_close(); on failure *out is NULL and the
 * result is PM_ENOMEM or -errno (PM_ENOENT, -ENOTDIR...).
 */
int pm_hotfolder_open(const pm_config_t *config, const pm_hotfolder_cfg_t *hfc,
                      pm_hotfolder_t **out);

/* Closes a hot folder handle. Accepts NULL. Batches it returned stay
 * valid. */
void pm_hotfolder_close(pm_hotfolder_t *hf);

/* Returns the handle's copy of its configuration (borrowed). */
const pm_hotfolder_cfg_t *pm_hotfolder_cfg(const pm_hotfolder_t *hf);

/*
 * Scans the hot folder at time `now` (seconds on any clock that does not
 * go backwards, e.g. uv_now() / 1000; only differences are used) and
 * stores in *ready a list (linked by `next`, in natural order of name)
 * of the batches complete now, and their number in *n. The caller owns
 * the list and frees each batch with pm_batch_free() or all with
 * pm_batch_free_list(). A batch with `error` set must be rejected. Each
 * batch is returned once: the handle remembers it until it is taken,
 * rejected or forgotten, or disappears from the hot folder.
 *
 * Marker mode: a folder batch is complete when its marker file exists.
 * Settle mode (marker none), and always for a single-file batch: complete
 * when its files' names, sizes and mtimes are the same at two scans at
 * least settle_seconds apart (a change restarts the clock). A settle-mode
 * folder holding nothing that would be taken is never complete.
 *
 * Returns 0, or PM_ENOMEM or -errno when the hot folder itself cannot be
 * read (logged here); then *ready is NULL, *n is 0 and nothing is marked
 * returned.
 */
int pm_hotfolder_scan(pm_hotfolder_t *hf, int64_t now, pm_batch_t **ready,
                      size_t *n);

/*
 * Moves batch `b` (borrowed; updated in place) into a new folder
 * `spool_dir`/<name>.<UTC time>[-N] by rename(2) and fsyncs both parent
 * folders. A folder batch becomes that folder; a single-file batch is
 * put inside it. b->path and b->files are updated to the new place. Every
 * page is checked with pm_batch_check_pages() before the move and again
 * after it. On success stores the spooled folder in *spooled (a new
 * string the caller owns). On failure *spooled is NULL, nothing has
 * moved, and the result is PM_ENOMEM or -errno (logged with both paths):
 * -EXDEV when the spool is on another filesystem, for intake never
 * copies; -ELOOP or PM_ECHANGED when a page is not the file listed. Two
 * exceptions, when the rename worked (b and *spooled are then set): a
 * page found swapped after it returns -ELOOP or PM_ECHANGED (reject the
 * batch from the spool), and a failed fsync returns its -errno.
 * `spool_dir` is created if needed.
 */
int pm_hotfolder_take(pm_hotfolder_t *hf, pm_batch_t *b, const char *spool_dir,
                      char **spooled);

/*
 * Moves batch `b` (borrowed) from wherever it is now (the hot folder, or
 * the spool after a take) to <hot folder>/_rejected/<name>/ (adding -2,
 * -3... when that is taken; a single-file batch, or a symlink, goes inside
 * that folder, <name> without its extension: a link is moved as a link)
 * with an ERROR.txt holding the batch name, the UTC time, `why` and
 * `what_to_do` (both borrowed; NULL uses b->error and b->what_to_do). An
 * ERROR.txt the batch already had is kept and the new one is named
 * ERROR-2.txt, ERROR-3.txt... ERROR.txt is written (durably) before the
 * move: when it cannot be written (a full disk) nothing moves. Returns 0
 * or -errno; when the move worked but a folder fsync failed, the batch is
 * in _rejected and that error is returned.
 */
int pm_hotfolder_reject(pm_hotfolder_t *hf, const pm_batch_t *b,
                        const char *why, const char *what_to_do);

/*
 * Opens page `i` of batch `b` (borrowed) for reading, once, the way every
 * page of a hot folder must be opened: without following a symlink
 * (O_NOFOLLOW) or blocking on a FIFO (O_NONBLOCK), then checks on the
 * descriptor that it is a regular file and the one the scan listed (same
 * device and inode). On success stores the descriptor in *fd (the caller
 * closes it) and its size in *size when `size` is not NULL. On failure
 * *fd is -1 and the result is -ELOOP (a symlink is there now),
 * PM_ECHANGED (another file, or not a regular file) or -errno.
 */
int pm_batch_open_page(const pm_batch_t *b, size_t i, int *fd, int64_t *size);

/*
 * Checks that every page of `b` (borrowed) at its current path is still
 * the file the scan listed, with pm_batch_open_page(): after a take, that
 * what was moved into the spool is what was hashed. Returns 0, or the
 * first failure with its page index in *bad.
 */
int pm_batch_check_pages(const pm_batch_t *b, size_t *bad);

/* Lets later scans judge batch `b` (borrowed) afresh, e.g. after a take
 * that failed and will be retried. */
void pm_hotfolder_forget(pm_hotfolder_t *hf, const pm_batch_t *b);

/* Frees one batch (not the ones after it). Accepts NULL. */
void pm_batch_free(pm_batch_t *b);

/* Frees a list of batches linked by `next`. Accepts NULL. */
void pm_batch_free_list(pm_batch_t *head);

#endif /* PM_HOTFOLDER_H */
