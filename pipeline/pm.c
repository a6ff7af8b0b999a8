/*
 * pm.c: implementation of the base module (see pm.h): error names, the
 * allocation wrappers, the logger, clocks and durable file helpers.
 */
#include "pipeline/pm.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int pm_log_threshold = PM_LOG_INFO;

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

void pm_log_write(pm_log_level_t level, const char *component, const char *fmt,
                  ...)
{
    char line[2048];
    char ts[32];
    size_t n;
    va_list ap;
    int r;

    pm_utc_iso8601(ts);
    r = snprintf(line, sizeof(line), "%s %-5s %s ", ts, level_names[level & 3],
                 component);
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
        if (mkdir(buf, 0777) != 0) {
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

int pm_commit_file(const char *tmp_path, const char *path)
{
    char *dir = parent_dir(path); /* before the rename: it can fail */
    int fd, err = 0;

    if (dir == NULL) {
        unlink(tmp_path);
        return PM_ENOMEM;
    }
    fd = open(tmp_path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0)
        err = -errno;
    if (fd >= 0)
        close(fd);
    if (err == 0 && rename(tmp_path, path) != 0)
        err = -errno;
    if (err != 0)
        unlink(tmp_path);
    else
        err = pm_fsync_dir(dir); /* only EIO & co. from here on */
    pm_free(dir);
    return err;
}

int pm_write_file_atomic(const char *path, const void *data, size_t len)
{
    char *tmp = pm_asprintf("%s.tmp.%ld", path, (long)getpid());
    const unsigned char *p = data;
    int fd, err = 0;

    if (tmp == NULL)
        return PM_ENOMEM;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = -errno;
        goto out;
    }
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            err = -errno;
            break;
        }
        p += w;
        len -= (size_t)w;
    }
    if (close(fd) != 0 && err == 0)
        err = -errno;
    if (err == 0)
        err = pm_commit_file(tmp, path);
    else
        unlink(tmp);
out:
    pm_free(tmp);
    return err;
}

int pm_read_file(const char *path, size_t max, unsigned char **out, size_t *len)
{
    FILE *f;
    struct stat st;
    unsigned char *buf = NULL;
    int err = 0;

    *out = NULL;
    *len = 0;
    f = fopen(path, "rb");
    if (f == NULL)
        return -errno;
    if (fstat(fileno(f), &st) != 0) {
        err = -errno;
        goto out;
    }
    if ((size_t)st.st_size > max) {
        err = PM_ETOOBIG;
        goto out;
    }
    buf = pm_malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        err = PM_ENOMEM;
        goto out;
    }
    if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        err = PM_EIO;
        pm_free(buf);
        goto out;
    }
    buf[st.st_size] = '\0';
    *out = buf;
    *len = (size_t)st.st_size;
out:
    fclose(f);
    return err;
}

int pm_rmtree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int err = 0;

    if (d == NULL)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *child = pm_asprintf("%s/%s", path, e->d_name);
        struct stat st;
        if (child == NULL) {
            err = PM_ENOMEM;
            break;
        }
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
            err = pm_rmtree(child);
        else if (unlink(child) != 0)
            err = -errno;
        pm_free(child);
        if (err)
            break;
    }
    closedir(d);
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
        ".jpf", ".bmp",  ".pnm", ".pgm", ".ppm",  ".pbm",
    };
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot != NULL && i < sizeof(exts) / sizeof(*exts); i++)
        if (strcasecmp(dot, exts[i]) == 0)
            return 1;
    return 0;
}
