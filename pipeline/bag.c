/*
 * bag.c: writing a BagIt bag (bag.h) and the manifest reader verify.c
 * shares. Files the writer writes are hashed from the bytes written;
 * files already in place are either added with the digest their checker
 * computed (the PDF, by publish.c) or hashed by one read.
 */
#include "pipeline/bag.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/base/pm.h"
#include "workers/engine.h"

static void hex_of(const unsigned char *md, unsigned len, char *hex)
{
    static const char digits[] = "0123456789abcdef";

    for (unsigned i = 0; i < len; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[2 * len] = '\0';
}

/* SHA-256 of buf[len] as hex; 0 or PM_EIO. */
static int sha256_buf(const void *buf, size_t len, char hex[PM_SHA256_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;

    if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != 32)
        return PM_EIO;
    hex_of(md, mdlen, hex);
    return 0;
}

int pm_hashed_open(pm_hashed_file_t *h, int fd)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    h->fd = fd;
    h->md = md;
    h->err = 0;
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        h->md = NULL;
        return h->err = PM_ENOMEM;
    }
    return 0;
}

int pm_hashed_put(void *ctx, const char *buf, size_t len)
{
    pm_hashed_file_t *h = ctx;

    assert(h->md != NULL || h->err != 0);
    if (h->err == 0)
        h->err = pm_write_all(h->fd, buf, len);
    if (h->err == 0 && EVP_DigestUpdate(h->md, buf, len) != 1)
        h->err = PM_EIO;
    return h->err;
}

int pm_hashed_close(pm_hashed_file_t *h, char hex[PM_SHA256_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;

    hex[0] = '\0';
    if (h->err == 0 && (EVP_DigestFinal_ex(h->md, md, &len) != 1 || len != 32))
        h->err = PM_EIO;
    if (h->err == 0)
        hex_of(md, len, hex);
    EVP_MD_CTX_free(h->md);
    h->md = NULL;
    return h->err;
}

int pm_bag_open(pm_bag_t *b, const char *dir)
{
    char *data;
    int err;

    memset(b, 0, sizeof(*b));
    b->dir = pm_strdup(dir);
    data = pm_asprintf("%s/data", dir);
    err = b->dir && data ? 0 : PM_ENOMEM;
    if (err == 0 && mkdir(data, pm_dir_mode) != 0 && errno != EEXIST)
        err = -errno;
    pm_free(data);
    return err;
}

void pm_bag_entries_free(pm_bag_entry_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pm_free(v[i].path);
    pm_free(v);
}

void pm_bag_cleanup(pm_bag_t *b)
{
    pm_bag_entries_free(b->payload, b->npayload);
    pm_bag_entries_free(b->tags, b->ntags);
    pm_free(b->dir);
    memset(b, 0, sizeof(*b));
}

static int is_payload(const char *rel)
{
    return strncmp(rel, "data/", 5) == 0;
}

/* Appends (rel, sha256, size) to the payload or tag list. */
static int record(pm_bag_t *b, const char *rel, const char *sha256,
                  int64_t size)
{
    int payload = is_payload(rel);
    pm_bag_entry_t **v = payload ? &b->payload : &b->tags;
    size_t *n = payload ? &b->npayload : &b->ntags;
    size_t *cap = payload ? &b->cap_payload : &b->cap_tags;
    pm_bag_entry_t *e;

    assert(strlen(sha256) == PM_SHA256_HEX - 1);
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        pm_bag_entry_t *nv = pm_realloc(*v, c * sizeof(**v));

        if (nv == NULL)
            return PM_ENOMEM;
        *v = nv;
        *cap = c;
    }
    e = &(*v)[*n];
    e->path = pm_strdup(rel);
    if (e->path == NULL)
        return PM_ENOMEM;
    memcpy(e->sha256, sha256, PM_SHA256_HEX);
    e->size = size;
    (*n)++;
    return 0;
}

int pm_bag_add_known(pm_bag_t *b, const char *rel, const char *sha256)
{
    char *path = pm_asprintf("%s/%s", b->dir, rel);
    struct stat st;
    int err = path == NULL ? PM_ENOMEM : 0;

    if (err == 0 && lstat(path, &st) != 0)
        err = -errno;
    else if (err == 0 && !S_ISREG(st.st_mode))
        err = PM_EINVAL;
    pm_free(path);
    return err ? err : record(b, rel, sha256, (int64_t)st.st_size);
}

int pm_bag_add_file(pm_bag_t *b, const char *rel)
{
    char *path = pm_asprintf("%s/%s", b->dir, rel);
    char hex[PM_SHA256_HEX];
    struct stat st;
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    int err = path == NULL ? PM_ENOMEM : fd < 0 ? -errno : 0;

    if (err == 0 && fstat(fd, &st) != 0)
        err = -errno;
    if (err == 0)
        err = pm_sha256_fd(fd, hex, NULL, NULL);
    if (fd >= 0)
        close(fd);
    pm_free(path);
    return err ? err : record(b, rel, hex, (int64_t)st.st_size);
}

int pm_bag_write(pm_bag_t *b, const char *rel, const void *buf, size_t len)
{
    char *path = pm_asprintf("%s/%s", b->dir, rel), *slash;
    char hex[PM_SHA256_HEX];
    int err = path == NULL ? PM_ENOMEM : sha256_buf(buf, len, hex);

    if (err == 0 && (slash = strrchr(path, '/')) != NULL) {
        *slash = '\0';
        err = pm_mkdir_p(path);
        *slash = '/';
    }
    if (err == 0)
        err = pm_write_file_atomic(path, buf, len);
    pm_free(path);
    return err ? err : record(b, rel, hex, (int64_t)len);
}

/* Growing text for a tag file. */
typedef struct text {
    char *s;
    size_t len, cap;
    int err;
} text_t;

static void add(text_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add(text_t *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->err)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t c = (t->len + (size_t)n + 1) * 2;
        char *ns = pm_realloc(t->s, c);

        if (ns == NULL) {
            t->err = PM_ENOMEM;
            return;
        }
        t->s = ns;
        t->cap = c;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* A manifest path with CR, LF and % percent-encoded (RFC 8493 2.1.3). */
static void add_path(text_t *t, const char *p)
{
    for (; *p; p++) {
        if (*p == '\r' || *p == '\n' || *p == '%')
            add(t, "%%%02X", (unsigned char)*p);
        else
            add(t, "%c", *p);
    }
}

static void add_manifest(text_t *t, const pm_bag_entry_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        add(t, "%s  ", v[i].sha256);
        add_path(t, v[i].path);
        add(t, "\n");
    }
}

/* A tag value on one line: line breaks become spaces. */
static void add_tag(text_t *t, const char *label, const char *value)
{
    add(t, "%s: ", label);
    for (const char *p = value ? value : ""; *p; p++)
        add(t, "%c", *p == '\n' || *p == '\r' ? ' ' : *p);
    add(t, "\n");
}

static void bag_info(text_t *t, const pm_bag_t *b, const pm_bag_info_t *in)
{
    int64_t bytes = 0;
    char date[32];
    time_t now = time(NULL);
    struct tm tm;

    for (size_t i = 0; i < b->npayload; i++)
        bytes += b->payload[i].size;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    add_tag(t, "Source-Organization", in->organization);
    add_tag(t, "Bagging-Date", date);
    add(t, "Payload-Oxum: %lld.%zu\n", (long long)bytes, b->npayload);
    add(t, "External-Identifier: job-%lld\n", (long long)in->job);
    add_tag(t, "Pagemill-Account", in->account);
    add_tag(t, "Pagemill-Work-Order", in->work_order);
    add(t, "Pagemill-Job: %lld\n", (long long)in->job);
    add(t, "Pagemill-Page-Count: %d\n", in->pages);
    add(t, "Pagemill-Billable-Page-Count: %d\n", in->billable_pages);
    add(t, "Bag-Software-Agent: pagemill %s\n", in->version);
}

/* Writes tag file `rel` from t (released). */
static int write_text(pm_bag_t *b, const char *rel, text_t *t, char *why,
                      size_t size)
{
    int err = t->err ? t->err : pm_bag_write(b, rel, t->s ? t->s : "", t->len);

    if (err != 0)
        snprintf(why, size, "cannot write %s/%s: %s", b->dir, rel,
                 pm_strerror(err));
    pm_free(t->s);
    memset(t, 0, sizeof(*t));
    return err;
}

int pm_bag_finish(pm_bag_t *b, const pm_bag_info_t *info, char *why,
                  size_t size)
{
    text_t t = {0};
    char *path;
    int err;

    add(&t, "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n");
    err = write_text(b, "bagit.txt", &t, why, size);
    if (err == 0) {
        bag_info(&t, b, info);
        err = write_text(b, "bag-info.txt", &t, why, size);
    }
    if (err == 0) {
        add_manifest(&t, b->payload, b->npayload);
        err = write_text(b, "manifest-sha256.txt", &t, why, size);
    }
    if (err != 0)
        return err;
    /* Every tag file so far, the tag manifest itself not among them. */
    add_manifest(&t, b->tags, b->ntags);
    if (t.err != 0)
        return write_text(b, "tagmanifest-sha256.txt", &t, why, size);
    path = pm_asprintf("%s/tagmanifest-sha256.txt", b->dir);
    err = path ? pm_write_file_atomic(path, t.s ? t.s : "", t.len) : PM_ENOMEM;
    if (err != 0)
        snprintf(why, size, "cannot write %s: %s",
                 path ? path : "tagmanifest-sha256.txt", pm_strerror(err));
    pm_free(path);
    pm_free(t.s);
    return err;
}

/* ---- reading a manifest ---- */

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes %XX in place; 0, or -1 on a bad escape. */
static int decode_path(char *p)
{
    char *w = p;

    for (; *p; p++) {
        if (*p == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);

            if (hi < 0 || lo < 0)
                return -1;
            *w++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return 0;
}

/* One line "HEX<space(s)>PATH" into e; 0 or -1. */
static int parse_line(char *line, pm_bag_entry_t *e)
{
    char *p = line;
    size_t n = 0;

    while (hexval((unsigned char)p[n]) >= 0)
        n++;
    if (n != PM_SHA256_HEX - 1 || (p[n] != ' ' && p[n] != '\t'))
        return -1;
    for (size_t i = 0; i < n; i++)
        e->sha256[i] = (char)(p[i] >= 'A' && p[i] <= 'F' ? p[i] + 32 : p[i]);
    e->sha256[n] = '\0';
    p += n;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '*') /* sha256sum's binary mark */
        p++;
    if (*p == '\0' || decode_path(p) != 0)
        return -1;
    e->path = pm_strdup(p);
    e->size = -1;
    return e->path ? 0 : -1;
}

int pm_bag_manifest_read(const char *path, pm_bag_entry_t **out, size_t *n,
                         char *why, size_t size)
{
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0, lineno = 0;
    pm_bag_entry_t *v = NULL;
    char *line, *save = NULL;
    int err = pm_read_file(path, 64u << 20, &buf, &len);

    *out = NULL;
    *n = 0;
    if (err != 0) {
        snprintf(why, size, "%s: %s", path, pm_strerror(err));
        return err;
    }
    for (line = strtok_r((char *)buf, "\n", &save); line && err == 0;
         line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);

        lineno++;
        if (l > 0 && line[l - 1] == '\r')
            line[--l] = '\0';
        if (l == 0)
            continue;
        if (*n == cap) {
            pm_bag_entry_t *nv =
                pm_realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));

            if (nv == NULL) {
                err = PM_ENOMEM;
                break;
            }
            v = nv;
            cap = cap ? cap * 2 : 16;
        }
        memset(&v[*n], 0, sizeof(v[*n]));
        if (parse_line(line, &v[*n]) != 0) {
            snprintf(why, size, "%s: line %zu is not \"SHA-256 path\"", path,
                     lineno);
            err = PM_EINVAL;
        } else {
            (*n)++;
        }
    }
    pm_free(buf);
    if (err != 0) {
        pm_bag_entries_free(v, *n);
        *n = 0;
        return err;
    }
    *out = v;
    return 0;
}
