/*
 * verify.c: checking a BagIt bag (pm_bag_verify) and `pagemill verify`.
 *
 * A bag is valid when bagit.txt declares a version, every file
 * manifest-sha256.txt lists is in data/ with that SHA-256, data/ holds no
 * file the manifest does not list, bag-info.txt's Payload-Oxum is the
 * payload's bytes and files, and every file tagmanifest-sha256.txt lists
 * (when there is one) has its SHA-256. Each fault is reported once,
 * naming the file.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/bag.h"
#include "pipeline/base/pm.h"
#include "workers/engine.h"

typedef struct check {
    const char *dir;
    void (*problem)(void *, const char *);
    void *arg;
    int faults;
    int fixity; /* 0: every file's presence checked, not its SHA-256 */
    pm_bag_entry_t *manifest;
    size_t nmanifest;
    long long bytes, files; /* what data/ holds */
} check_t;

static void fault(check_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fault(check_t *c, const char *fmt, ...)
{
    char text[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    c->faults++;
    c->problem(c->arg, text);
}

/* bagit.txt: "BagIt-Version: M.N" and the tag file encoding. */
static void check_declaration(check_t *c)
{
    char *path = pm_asprintf("%s/bagit.txt", c->dir);
    unsigned char *buf = NULL;
    size_t len = 0;
    int err = path ? pm_read_file(path, 1u << 16, &buf, &len) : PM_ENOMEM;

    if (err != 0)
        fault(c, "%s: %s", path ? path : "bagit.txt", pm_strerror(err));
    else if (strncmp((char *)buf, "BagIt-Version: ", 15) != 0 ||
             strstr((char *)buf, "Tag-File-Character-Encoding: ") == NULL)
        fault(c,
              "%s: not a bag declaration (BagIt-Version and "
              "Tag-File-Character-Encoding)",
              path);
    pm_free(buf);
    pm_free(path);
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const pm_bag_entry_t *)a)->path,
                  ((const pm_bag_entry_t *)b)->path);
}

/* Whether `rel` stays inside the bag: relative, no "..". */
static int inside(const char *rel)
{
    const char *p = rel;

    if (rel[0] == '/')
        return 0;
    while (p != NULL) {
        if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
            return 0;
        p = strchr(p, '/');
        p = p ? p + 1 : NULL;
    }
    return 1;
}

/* Checks that manifest entry e's file is there with its SHA-256. */
static void check_entry(check_t *c, const pm_bag_entry_t *e)
{
    char *path = pm_asprintf("%s/%s", c->dir, e->path);
    char hex[PM_SHA256_HEX];
    int fd, err;

    if (path == NULL) {
        fault(c, "%s: out of memory", e->path);
        return;
    }
    if (!inside(e->path)) {
        fault(c, "%s: the manifest names a file outside the bag", path);
        pm_free(path);
        return;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    err = fd < 0 ? -errno : c->fixity ? pm_sha256_fd(fd, hex, NULL, NULL) : 0;
    if (fd >= 0)
        close(fd);
    if (err == PM_ENOENT)
        fault(c, "%s: missing (listed in the manifest)", path);
    else if (err != 0)
        fault(c, "%s: %s", path, pm_strerror(err));
    else if (c->fixity && strcmp(hex, e->sha256) != 0)
        fault(c, "%s: SHA-256 %s, the manifest says %s", path, hex, e->sha256);
    pm_free(path);
}

/* Reads and checks manifest `name`; keeps it in c when `keep`. */
static void check_manifest(check_t *c, const char *name, int optional, int keep)
{
    char *path = pm_asprintf("%s/%s", c->dir, name);
    char why[1024];
    pm_bag_entry_t *v = NULL;
    size_t n = 0;
    int err =
        path ? pm_bag_manifest_read(path, &v, &n, why, sizeof(why)) : PM_ENOMEM;

    if (err == PM_ENOENT && optional) {
        pm_free(path);
        return;
    }
    if (err != 0)
        fault(c, "%s", path ? why : "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (keep && strncmp(v[i].path, "data/", 5) != 0)
            fault(c, "%s/%s: the payload manifest lists a file outside data/",
                  c->dir, v[i].path);
        check_entry(c, &v[i]);
    }
    if (keep && err == 0) {
        qsort(v, n, sizeof(*v), entry_cmp);
        c->manifest = v;
        c->nmanifest = n;
    } else {
        pm_bag_entries_free(v, n);
    }
    pm_free(path);
}

/* A file found in data/: counted, and a fault when the manifest lacks it. */
static void payload_file(check_t *c, const char *rel, const struct stat *st)
{
    pm_bag_entry_t key = {.path = (char *)rel};

    c->bytes += (long long)st->st_size;
    c->files++;
    if (c->manifest == NULL || bsearch(&key, c->manifest, c->nmanifest,
                                       sizeof(*c->manifest), entry_cmp) == NULL)
        fault(c, "%s/%s: stray payload file (not in the manifest)", c->dir,
              rel);
}

/* Walks folder `rel` of the bag ("data", "data/sub"). */
static void walk(check_t *c, const char *rel)
{
    char *path = pm_asprintf("%s/%s", c->dir, rel);
    DIR *d = path ? opendir(path) : NULL;
    struct dirent *de;

    if (d == NULL) {
        fault(c, "%s: %s", path ? path : rel,
              path ? strerror(errno) : "out of memory");
        pm_free(path);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        char *sub;
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        sub = pm_asprintf("%s/%s", rel, de->d_name);
        if (sub == NULL)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            fault(c, "%s/%s: %s", c->dir, sub, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            walk(c, sub);
        else if (S_ISREG(st.st_mode))
            payload_file(c, sub, &st);
        else
            fault(c, "%s/%s: not a regular file", c->dir, sub);
        pm_free(sub);
    }
    closedir(d);
    pm_free(path);
}

/* Payload-Oxum of bag-info.txt against what data/ holds. */
static void check_oxum(check_t *c)
{
    char *path = pm_asprintf("%s/bag-info.txt", c->dir);
    unsigned char *buf = NULL;
    size_t len = 0;
    int err = path ? pm_read_file(path, 1u << 20, &buf, &len) : PM_ENOMEM;
    const char *o = err == 0 ? strstr((char *)buf, "Payload-Oxum:") : NULL;
    long long bytes, files;

    if (err == PM_ENOENT) {
        /* bag-info.txt is optional, and with it the Oxum. */
    } else if (err != 0) {
        fault(c, "%s: %s", path ? path : "bag-info.txt", pm_strerror(err));
    } else if (o != NULL && sscanf(o + 13, " %lld.%lld", &bytes, &files) != 2) {
        fault(c, "%s: Payload-Oxum is not BYTES.FILES", path);
    } else if (o != NULL && (bytes != c->bytes || files != c->files)) {
        fault(c,
              "%s: Payload-Oxum %lld.%lld, but data/ holds %lld bytes "
              "in %lld files",
              path, bytes, files, c->bytes, c->files);
    }
    pm_free(buf);
    pm_free(path);
}

/* Both checks: with every SHA-256 (`fixity`) or without. */
static int check_bag(const char *dir, int fixity,
                     void (*problem)(void *, const char *), void *arg)
{
    check_t c = {.dir = dir, .problem = problem, .arg = arg, .fixity = fixity};

    check_declaration(&c);
    check_manifest(&c, "manifest-sha256.txt", 0, 1);
    walk(&c, "data"); /* missing files were named by check_entry */
    check_oxum(&c);
    check_manifest(&c, "tagmanifest-sha256.txt", 1, 0);
    pm_bag_entries_free(c.manifest, c.nmanifest);
    return c.faults;
}

int pm_bag_verify(const char *dir, void (*problem)(void *, const char *),
                  void *arg)
{
    return check_bag(dir, 1, problem, arg);
}

/* The first fault, for pm_bag_check. */
typedef struct first_fault {
    char *why;
    size_t size;
    int n;
} first_fault_t;

static void keep_first(void *arg, const char *problem)
{
    first_fault_t *f = arg;

    if (f->n++ == 0)
        snprintf(f->why, f->size, "%s", problem);
}

int pm_bag_check(const char *dir, int fixity, char *why, size_t size)
{
    first_fault_t f = {.why = why, .size = size};

    assert(size > 0);
    why[0] = '\0';
    return check_bag(dir, fixity, keep_first, &f);
}
