/*
 * pm.h: the base every part of pagemill links. Error codes, the allocation
 * choke point (with failure injection for tests), the one logging macro,
 * monotonic time, and the small file helpers that make every output durable
 * (write to a temp name, fsync, rename, fsync the directory).
 *
 * Nothing here knows about pages, catalogs or processes.
 */
#ifndef PM_PM_H
#define PM_PM_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Errors are 0 or negative: negated errno values pass through unchanged
 * (as libuv's do), project codes live below -1000. */
enum {
    PM_OK = 0,
    PM_ENOMEM = -ENOMEM,
    PM_EINVAL = -EINVAL,
    PM_EIO = -EIO,
    PM_ENOENT = -ENOENT,
    PM_EEXIST = -EEXIST, /* a unique name is taken */
    PM_ESTALE = -ESTALE, /* a lease was lost: someone else owns the task */
    PM_ECORRUPT = -1001, /* an input document is malformed */
    PM_ECATALOG = -1002, /* the catalog reported an error */
    PM_EWORKER = -1003,  /* a worker process died or broke protocol */
    PM_ETOOBIG = -1004,  /* an input exceeds a configured limit */
    PM_EUNSUPP = -1005,  /* an input format or feature is not supported */
    PM_EOCR = -1006,     /* the OCR engine failed */
    PM_EENCODE = -1007,  /* an image encoder failed */
    PM_EPDF = -1008,     /* PDF assembly failed */
    PM_ECONFIG = -1009,  /* configuration is invalid */
    PM_EPROTO = -1010,   /* a protocol message is malformed */
    PM_ECHANGED = -1011, /* a file is not the one listed (swapped, or not
                            a regular file any more) */
};

/* Process exit statuses that scripts can trust. */
enum {
    PM_EXIT_OK = 0,      /* everything converted */
    PM_EXIT_FAILURE = 1, /* nothing could be done (I/O, setup) */
    PM_EXIT_USAGE = 2,   /* bad command line or configuration */
    PM_EXIT_PARTIAL = 3, /* outputs written, but some pages failed */
};

/* Returns a static, human-readable name for any pagemill or errno code. */
const char *pm_strerror(int err);

/* ---- memory: all heap memory goes through these ---- */

void *pm_malloc(size_t size);
void *pm_calloc(size_t n, size_t size);
void *pm_realloc(void *p, size_t size);
/* Accepts NULL. */
void pm_free(void *p);
/* Returns a new copy of `s` that the caller owns, or NULL (also for NULL). */
char *pm_strdup(const char *s);
/* Returns a new printf-formatted string that the caller owns, or NULL. */
char *pm_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Test hook: make the n-th allocation from now fail (0 turns it off). */
void pm_alloc_fail_at(long n);

/* ---- logging: one line per event on stderr ---- */

typedef enum {
    PM_LOG_DEBUG = 0,
    PM_LOG_INFO = 1,
    PM_LOG_WARN = 2,
    PM_LOG_ERROR = 3,
} pm_log_level_t;

extern int pm_log_threshold;

/* The level is checked before the arguments are evaluated. */
#define pm_log(level, component, ...)                        \
    do {                                                     \
        if ((int)(level) >= pm_log_threshold)                \
            pm_log_write((level), (component), __VA_ARGS__); \
    } while (0)

/* Writes "<UTC time> <LEVEL> <component> <message>\n" to stderr; under
 * journald (stderr is $JOURNAL_STREAM), "<N>component message\n" with
 * the sd-daemon(3) priority N (3 error, 4 warn, 6 info, 7 debug) and no
 * time: the journal records both. */
void pm_log_write(pm_log_level_t level, const char *component, const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));

/* Parses "debug", "info", "warn" or "error"; returns -1 if unknown. */
int pm_log_level_parse(const char *name);

/* Sets the threshold from $PAGEMILL_LOG if it names a level, and the
 * journal format when stderr is the journal's stream. */
void pm_log_init_from_env(void);

/* Nonzero when $JOURNAL_STREAM names the device and inode of stderr. */
int pm_log_stderr_is_journal(void);

/* ---- time ---- */

/* Milliseconds on the monotonic clock. */
double pm_now_ms(void);

/* Writes the current UTC time as "2026-11-23T12:00:00Z" into buf[32]. */
void pm_utc_iso8601(char buf[32]);

/* ---- files ---- */

/* Modes of the files and folders pagemill creates, before the umask:
 * 0640 and 0750 unless the process sets others at start. */
extern mode_t pm_file_mode;
extern mode_t pm_dir_mode;

/* Creates `path` and its parents (mode pm_dir_mode & umask); 0 or
 * -errno. */
int pm_mkdir_p(const char *path);

/* fsyncs the directory `dir` itself (after a rename or create in it); 0
 * or -errno. */
int pm_fsync_dir(const char *dir);

/* fsyncs the directory that contains `path`; 0 or -errno. */
int pm_fsync_parent(const char *path);

/*
 * Creates a new, empty temp file beside `path`, named
 * .<name of path>.<random>.tmp, with O_CREAT|O_EXCL|O_NOFOLLOW (so never
 * through a planted symlink) and mode pm_file_mode. Stores its path in
 * *tmp (a new string the caller owns) and, when `fd` is not NULL, an open
 * descriptor for writing in *fd (the caller closes it; with NULL it is
 * closed here). On failure *tmp is NULL, *fd is -1, and the result is
 * PM_ENOMEM or -errno.
 */
int pm_tmp_create(const char *path, char **tmp, int *fd);

/*
 * Removes the temp files pm_tmp_create made, in the folder of `base`, for
 * a file named as `base`'s last component or that name plus "." and
 * anything (`.<name>[.<ext>].<random>.tmp`): what a writer killed before
 * its rename left. For a writer that is the only one of those files (one
 * worker per page, one assembly per job), before it writes them again.
 * The number removed, or -errno (a missing folder is 0).
 */
int pm_tmp_sweep(const char *base);

/*
 * Durable replace: writes `len` bytes to a new temp file beside `path`
 * (pm_tmp_create), fsyncs it, renames it over `path` and fsyncs the
 * directory. A symlink at `path` is replaced, never written through. 0 or
 * -errno; on failure `path` is untouched and no temp file is left behind.
 */
int pm_write_file_atomic(const char *path, const void *data, size_t len);

/* Writes all of data[len] to fd (a short write or EINTR goes on); 0 or
 * -errno. */
int pm_write_all(int fd, const void *data, size_t len);

/* A byte sink (e.g. pm_sha256_fd's) writing to the descriptor *(int *)arg
 * with pm_write_all(). */
int pm_write_sink(void *arg, const unsigned char *buf, size_t n);

/*
 * Makes `tmp_path` (already written and closed; from pm_tmp_create) durable
 * and renames it to `path`: fsync file (opened without following a
 * symlink), rename, fsync directory. On failure unlinks tmp.
 */
int pm_commit_file(const char *tmp_path, const char *path);

/* Reads a whole file into a new buffer the caller owns (NUL-terminated for
 * convenience). Refuses files larger than `max` bytes with PM_ETOOBIG. */
int pm_read_file(const char *path, size_t max, unsigned char **out,
                 size_t *len);

/* pm_read_file() of the file open as `fd` (borrowed: not closed). */
int pm_read_fd(int fd, size_t max, unsigned char **out, size_t *len);

/* Removes a directory tree (used only on pagemill's own work folders).
 * Symlinks, `path` itself included, are removed as links: never
 * followed. */
int pm_rmtree(const char *path);

/* Returns the basename of `path` without its last extension, in a new
 * string the caller owns. "a/b/scan.01.tif" -> "scan.01". */
char *pm_path_stem(const char *path);

/* True when `name` ends in an image extension the page engine decodes
 * (.tif .tiff .png .jpg .jpeg .jp2 .j2k .jpf .bmp .pnm .pgm .ppm .pbm, any
 * case): the files convert and hot folders take as pages. */
int pm_image_name(const char *name);

/* Natural order compare ("p2" < "p10"), for page file names. */
int pm_natural_cmp(const char *a, const char *b);

/* True when `s` is valid UTF-8 (what the worker protocol can carry). */
int pm_utf8_valid(const char *s);

/* A buffer that holds any file name escaped by pm_escape_name(). */
#define PM_ESCAPED_MAX 1024

/* Room for a SHA-256 as 64 lower-case hex digits and a NUL (every digest
 * pagemill records or compares). */
#define PM_SHA256_HEX 65

/*
 * Writes `s` (borrowed) into `buf` as printable, valid UTF-8 for logs,
 * ERROR.txt and messages: control bytes always, and every byte over 0x7f
 * when `s` is not valid UTF-8, are shown as \xNN; cut to fit `size`.
 * Returns `buf`.
 */
const char *pm_escape_name(const char *s, char *buf, size_t size);

/* Where time zone files are. */
#define PM_ZONEINFO "/usr/share/zoneinfo"

/* Nonzero when `tz` is "UTC" or names a TZif file under PM_ZONEINFO by a
 * relative path of plain components (no ".."): a zone that glibc will not
 * silently turn into UTC. The one check of a zone name: configuration,
 * billing and the catalog all use it. */
int pm_timezone_valid(const char *tz);

/* Returns the number of online CPUs (at least 1). */
int pm_ncpu(void);

#endif /* PM_PM_H */
