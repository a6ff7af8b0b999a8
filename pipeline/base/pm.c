/*
 * pm.c: implementation of the base module (see pm.h): error names, the
 * allocation wrappers, the logger, clocks and durable file helpers.
 */
#include "pipeline/base/pm.h"

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int pm_log_threshold = PM_LOG_INFO;
mode_t pm_file_mode = 0640;
mode_t pm_dir_mode = 0750;

static long alloc_fail_countdown;

const char *pm_strerror(int err)
{
    switch (err) {
    case PM_OK:
        return "success";
    case PM_ECORRUPT:
        return "input is corrupt";
    case PM_ECATALOG:
        return "catalog error";
    case PM_EWORKER:
        return "worker failed";
    case PM_ETOOBIG:
        return "input exceeds a configured limit";
    case PM_EUNSUPP:
        return "unsupported input";
    case PM_EOCR:
        return "OCR engine failed";
    case PM_EENCODE:
        return "image encoder failed";
    case PM_EPDF:
        return "PDF assembly failed";
    case PM_ECONFIG:
        return "invalid configuration";
    case PM_EPROTO:
        return "malformed protocol message";
    case PM_ECHANGED:
        return "not the file listed (replaced, or not a regular file)";
    default:
        if (err < 0 && err > -1000)
            return strerror(-err);
        return "unknown error";
    }
}

void pm_alloc_fail_at(long n)
{
    alloc_fail_countdown = n;
}

static int alloc_should_fail(void)
{
    if (alloc_fail_countdown <= 0)
        return 0;
    return --alloc_fail_countdown == 0;
}

void *pm_malloc(size_t size)
{
    if (alloc_should_fail())
        return NULL;
    return malloc(size == 0 ? 1 : size);
}

void *pm_calloc(size_t n, size_t size)
{
    if (alloc_should_fail())
        return NULL;
    return calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
}

void *pm_realloc(void *p, size_t size)
{
    if (alloc_should_fail())
        return NULL;
    return realloc(p, size == 0 ? 1 : size);
}

void pm_free(void *p)
{
    free(p);
}

char *pm_strdup(const char *s)
{
    size_t n;
    char *d;

    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    d = pm_malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

char *pm_asprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    s = pm_malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- logging ---- */

static const char *level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
/* sd-daemon(3) priorities by level: debug, info, warning, err. */
static const char *level_prio[] = {"<7>", "<6>", "<4>", "<3>"};

/* Set when stderr is the journal's stream (pm_log_init_from_env). */
static int log_to_journal;

void pm_log_write(pm_log_level_t level, const char *component, const char *fmt,
                  ...)
{
    char line[2048];
    char ts[32];
    size_t n;
    va_list ap;
    int r;

    if (log_to_journal) { /* the journal stamps and ranks each line */
        r = snprintf(line, sizeof(line), "%s%s ", level_prio[level & 3],
                     component);
    } else {
        pm_utc_iso8601(ts);
        r = snprintf(line, sizeof(line), "%s %-5s %s ", ts,
                     level_names[level & 3], component);
    }
    n = r < 0 ? 0 : (size_t)r;
    va_start(ap, fmt);
    if (n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    /* One event, one line: fold embedded newlines. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "%s\n", line);
}

int pm_log_stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    char tail;

    /* "DEV:INO" of the stream systemd connected; it is ours only while
     * stderr is still that stream (not redirected by a parent). */
    if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2)
        return 0;
    if (fstat(STDERR_FILENO, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

int pm_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name != NULL && strcasecmp(name, level_names[i]) == 0)
            return i;
    if (name != NULL && strcasecmp(name, "warning") == 0)
        return PM_LOG_WARN;
    return -1;
}

void pm_log_init_from_env(void)
{
    int lvl = pm_log_level_parse(getenv("PAGEMILL_LOG"));

    if (lvl >= 0)
        pm_log_threshold = lvl;
    log_to_journal = pm_log_stderr_is_journal();
}

/* ---- time ---- */

double pm_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void pm_utc_iso8601(char buf[32])
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- files ---- */

int pm_mkdir_p(const char *path)
{
    char *buf;
    int err = 0;

    if (*path == '\0')
        return -ENOENT; /* as mkdir("") */
    buf = pm_strdup(path);
    if (buf == NULL)
        return PM_ENOMEM;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, pm_dir_mode) != 0) {
            struct stat st;

            if (errno != EEXIST) {
                err = -errno;
                break;
            }
            if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
                err = -ENOTDIR; /* there, but not a folder */
                break;
            }
        }
        *p = c;
        if (c == '\0')
            break;
    }
    pm_free(buf);
    return err;
}

/* Returns a new string naming the folder that holds `path`, or NULL. */
static char *parent_dir(const char *path)
{
    char *dir = pm_strdup(path);
    char *slash;

    if (dir == NULL)
        return NULL;
    slash = strrchr(dir, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return dir;
}

int pm_fsync_dir(const char *dir)
{
    int fd, err = 0;

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        err = -errno;
    if (fd >= 0)
        close(fd);
    return err;
}

int pm_fsync_parent(const char *path)
{
    char *dir = parent_dir(path);
    int err;

    if (dir == NULL)
        return PM_ENOMEM;
    err = pm_fsync_dir(dir);
    pm_free(dir);
    return err;
}

#define TMP_STEM_MAX 200 /* + ".<random>.tmp" stays under NAME_MAX */
#define TMP_TRIES    100

/* A new path <dir of path>/.<name>.<12 random hex digits>.tmp, or NULL. */
static char *tmp_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash != NULL ? slash + 1 : path;
    int dirlen = slash != NULL ? (int)(slash - path) + 1 : 0;
    int namelen = (int)strnlen(name, TMP_STEM_MAX);
    unsigned char r[6];

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        struct timespec ts; /* no entropy yet: still unique per try */

        clock_gettime(CLOCK_MONOTONIC, &ts);
        for (size_t i = 0; i < sizeof(r); i++)
            r[i] = (unsigned char)(ts.tv_nsec >> (i * 5)) ^ (unsigned char)i;
    }
    return pm_asprintf("%.*s.%.*s.%02x%02x%02x%02x%02x%02x.tmp", dirlen, path,
                       namelen, name, r[0], r[1], r[2], r[3], r[4], r[5]);
}

int pm_tmp_create(const char *path, char **tmp, int *fd)
{
    int f = -1, err = PM_EEXIST;

    *tmp = NULL;
    if (fd != NULL)
        *fd = -1;
    for (int i = 0; i < TMP_TRIES && err == PM_EEXIST; i++) {
        char *name = tmp_name(path);

        if (name == NULL)
            return PM_ENOMEM;
        f = open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 pm_file_mode);
        if (f >= 0) {
            *tmp = name;
            err = 0;
        } else {
            err = -errno;
            pm_free(name);
        }
    }
    if (err != 0)
        return err;
    if (fd != NULL)
        *fd = f;
    else
        close(f);
    return 0;
}

/* Whether directory entry `name` is a temp file pm_tmp_create made for a
 * file named `stem` or `stem`.<anything>: ".<stem>.<...>.tmp". */
static int is_tmp_of(const char *name, const char *stem, size_t stemlen)
{
    size_t n = strlen(name);

    return name[0] == '.' && n > stemlen + 6 &&
           strncmp(name + 1, stem, stemlen) == 0 && name[stemlen + 1] == '.' &&
           strcmp(name + n - 4, ".tmp") == 0;
}

int pm_tmp_sweep(const char *base)
{
    const char *slash = strrchr(base, '/');
    const char *stem = slash != NULL ? slash + 1 : base;
    size_t stemlen = strlen(stem);
    char *dir = slash == NULL ? pm_strdup(".")
                : slash == base
                    ? pm_strdup("/")
                    : pm_asprintf("%.*s", (int)(slash - base), base);
    DIR *d = dir != NULL ? opendir(dir) : NULL;
    struct dirent *e;
    int removed = 0, err = 0;

    if (dir == NULL)
        return PM_ENOMEM;
    if (d == NULL)
        err = errno == ENOENT ? 0 : -errno;
    while (d != NULL && stemlen > 0 && (e = readdir(d)) != NULL) {
        if (!is_tmp_of(e->d_name, stem, stemlen))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
        else if (errno != ENOENT && err == 0)
            err = -errno;
    }
    if (d != NULL)
        closedir(d);
    pm_free(dir);
    return err != 0 ? err : removed;
}

/* fsync, rename over `path`, fsync the folder: the end of every durable
 * write. `fd` is `tmp_path` open (closed here). On failure unlinks tmp. */
static int commit_fd(int fd, const char *tmp_path, const char *path)
{
    char *dir = parent_dir(path); /* before the rename: it can fail */
    int err = 0;

    if (dir == NULL)
        err = PM_ENOMEM;
    if (err == 0 && fsync(fd) != 0)
        err = -errno;
    if (close(fd) != 0 && err == 0)
        err = -errno;
    if (err == 0 && rename(tmp_path, path) != 0)
        err = -errno;
    if (err != 0)
        unlink(tmp_path);
    else
        err = pm_fsync_dir(dir); /* only EIO & co. from here on */
    pm_free(dir);
    return err;
}

int pm_commit_file(const char *tmp_path, const char *path)
{
    int fd = open(tmp_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        int err = -errno;

        unlink(tmp_path); /* a link planted there goes, never its target */
        return err;
    }
    return commit_fd(fd, tmp_path, path);
}

int pm_write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;

    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int pm_write_sink(void *arg, const unsigned char *buf, size_t n)
{
    return pm_write_all(*(const int *)arg, buf, n);
}

int pm_write_file_atomic(const char *path, const void *data, size_t len)
{
    char *tmp;
    int fd, err;

    err = pm_tmp_create(path, &tmp, &fd);
    if (err != 0)
        return err;
    err = pm_write_all(fd, data, len);
    if (err == 0) {
        err = commit_fd(fd, tmp, path);
    } else {
        close(fd);
        unlink(tmp);
    }
    pm_free(tmp);
    return err;
}

int pm_read_fd(int fd, size_t max, unsigned char **out, size_t *len)
{
    struct stat st;
    unsigned char *buf;
    size_t size, got = 0;
    ssize_t n;

    *out = NULL;
    *len = 0;
    if (fstat(fd, &st) != 0)
        return -errno;
    if ((size_t)st.st_size > max)
        return PM_ETOOBIG;
    size = (size_t)st.st_size;
    buf = pm_malloc(size + 1);
    if (buf == NULL)
        return PM_ENOMEM;
    while (got < size && (n = read(fd, buf + got, size - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        got += (size_t)n;
    }
    if (got != size) {
        pm_free(buf);
        return PM_EIO; /* a read error, or the file shrank */
    }
    buf[size] = '\0';
    *out = buf;
    *len = size;
    return 0;
}

int pm_read_file(const char *path, size_t max, unsigned char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int err;

    *out = NULL;
    *len = 0;
    if (fd < 0)
        return -errno;
    err = pm_read_fd(fd, max, out, len);
    close(fd);
    return err;
}

/* Empties the folder open as `fd` (taken: closed here), entry by entry
 * relative to it, descending only into real folders opened with
 * O_NOFOLLOW: a symlink is unlinked, never followed. */
static int rmtree_fd(int fd)
{
    DIR *d = fdopendir(fd);
    struct dirent *e;
    int err = 0;

    if (d == NULL) {
        err = -errno;
        close(fd);
        return err;
    }
    while (err == 0 && (e = readdir(d)) != NULL) {
        int sub;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(fd, e->d_name, 0) == 0)
            continue;
        if (errno != EISDIR && errno != EPERM) {
            err = errno == ENOENT ? 0 : -errno;
            continue;
        }
        sub = openat(fd, e->d_name,
                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        err = sub < 0 ? -errno : rmtree_fd(sub);
        if (err == 0 && unlinkat(fd, e->d_name, AT_REMOVEDIR) != 0)
            err = -errno;
    }
    closedir(d); /* closes fd */
    return err;
}

int pm_rmtree(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err;

    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno != ELOOP && errno != ENOTDIR)
            return -errno;
        return unlink(path) == 0 ? 0 : -errno; /* a link or a file */
    }
    err = rmtree_fd(fd);
    if (err == 0 && rmdir(path) != 0)
        err = -errno;
    return err;
}

char *pm_path_stem(const char *path)
{
    const char *base = strrchr(path, '/');
    char *stem, *dot;
    size_t n;

    base = base ? base + 1 : path;
    /* A trailing slash on a folder: use the folder's own name. */
    if (*base == '\0' && base > path) {
        const char *end = base - 1;
        const char *start = end;
        while (start > path && start[-1] != '/')
            start--;
        n = (size_t)(end - start);
        stem = pm_malloc(n + 1);
        if (stem != NULL) {
            memcpy(stem, start, n);
            stem[n] = '\0';
        }
        return stem;
    }
    stem = pm_strdup(base);
    if (stem == NULL)
        return NULL;
    dot = strrchr(stem, '.');
    if (dot != NULL && dot != stem)
        *dot = '\0';
    return stem;
}

/* Natural order alone: "p2" and "p02" compare equal. */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            const char *sa = a, *sb = b;
            while (*sa == '0')
                sa++;
            while (*sb == '0')
                sb++;
            const char *ea = sa, *eb = sb;
            while (isdigit((unsigned char)*ea))
                ea++;
            while (isdigit((unsigned char)*eb))
                eb++;
            if (ea - sa != eb - sb)
                return (ea - sa) < (eb - sb) ? -1 : 1;
            int c = strncmp(sa, sb, (size_t)(ea - sa));
            if (c != 0)
                return c;
            a = ea;
            b = eb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

int pm_natural_cmp(const char *a, const char *b)
{
    int c = natural_cmp(a, b);

    /* Equal values written differently: byte order decides, so distinct
     * names never tie and a folder sorts the same way everywhere. */
    return c != 0 ? c : strcmp(a, b);
}

int pm_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        int n;
        unsigned int c = *p;
        if (c < 0x80)
            n = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3;
        else
            return 0;
        /* Overlong forms and surrogates. */
        if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
            (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
            return 0;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return 0;
    }
    return 1;
}

const char *pm_escape_name(const char *s, char *buf, size_t size)
{
    int valid = pm_utf8_valid(s);
    size_t n = 0, boundary = 0;
    const unsigned char *p;

    assert(size >= 5);
    for (p = (const unsigned char *)s; *p; p++) {
        int hex = *p < 0x20 || *p == 0x7f || (*p >= 0x80 && !valid);

        if ((*p & 0xc0) != 0x80)
            boundary = n; /* a character starts here */
        if (n + (hex ? 4 : 1) >= size)
            break;
        if (hex)
            n += (size_t)snprintf(buf + n, 5, "\\x%02x", *p);
        else
            buf[n++] = (char)*p;
    }
    if (*p != '\0' && valid)
        n = boundary; /* cut: never inside a character */
    buf[n] = '\0';
    return buf;
}

int pm_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : (int)n;
}

/* 1 when `name` is a relative path of plain components (no "", "." or
 * "..") in the characters zone names use, short enough for any buffer. */
static int tz_name_safe(const char *name)
{
    const char *p, *comp = name;

    if (strlen(name) > 120)
        return 0;
    for (p = name;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - comp);
            if (n == 0 || (n == 1 && comp[0] == '.') ||
                (n == 2 && comp[0] == '.' && comp[1] == '.'))
                return 0;
            if (*p == '\0')
                return 1;
            comp = p + 1;
        } else if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
                     *p == '+' || *p == '.')) {
            return 0;
        }
    }
}

int pm_timezone_valid(const char *tz)
{
    char path[PATH_MAX], magic[4];
    struct stat st;
    int fd, ok;

    if (tz == NULL || tz[0] == '\0')
        return 0;
    if (strcmp(tz, "UTC") == 0)
        return 1;
    if (!tz_name_safe(tz))
        return 0;
    snprintf(path, sizeof(path), "%s/%s", PM_ZONEINFO, tz);
    /* zoneinfo's own aliases (US/Eastern) are symlinks: followed. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
         read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic) &&
         memcmp(magic, "TZif", 4) == 0;
    close(fd);
    return ok;
}

int pm_image_name(const char *name)
{
    static const char *const exts[] = {
        ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".jp2", ".j2k",
        ".jpf", ".bmp",  ".pnm", ".pgm", ".ppm",  ".pbm", ".pdf",
    };
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot != NULL && i < sizeof(exts) / sizeof(*exts); i++)
        if (strcasecmp(dot, exts[i]) == 0)
            return 1;
    return 0;
}
