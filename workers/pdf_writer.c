/*
 * pdf_writer.c: the PDF writer of the assembly (pdf_writer.h). Bytes go
 * through one buffer to the file; each object's offset is kept for the
 * cross-reference table, and every byte is digested for the /ID, so the
 * same objects give the same file.
 */
#include "workers/pdf_writer.h"

#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "pipeline/base/pm.h"

#define FD_CHUNK (64u << 10)

static int fail(pm_pdfw_t *w, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keeps the first fault and names it on the engine. */
static int fail(pm_pdfw_t *w, int err, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    assert(err < 0);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (w->err == 0)
        w->err = pm__engine_fail(w->eng, err, "%s", msg);
    return w->err;
}

static int flush(pm_pdfw_t *w)
{
    int err;

    if (w->err || w->used == 0)
        return w->err;
    err = pm_write_all(w->fd, w->buf, w->used);
    if (err)
        return fail(w, err, "%s: cannot write: %s", w->path, pm_strerror(err));
    w->used = 0;
    return 0;
}

int pm__pdfw_write(pm_pdfw_t *w, const void *data, size_t len)
{
    const unsigned char *p = data;

    if (w->err)
        return w->err;
    if (w->md != NULL) /* NULL once the /ID is taken */
        EVP_DigestUpdate(w->md, p, len);
    w->off += (long long)len;
    while (len > 0) {
        size_t n = PM_PDFW_BUF - w->used;

        if (n > len)
            n = len;
        memcpy(w->buf + w->used, p, n);
        w->used += n;
        p += n;
        len -= n;
        if (w->used == PM_PDFW_BUF && flush(w))
            return w->err;
    }
    return 0;
}

int pm__pdfw_printf(pm_pdfw_t *w, const char *fmt, ...)
{
    char small[512], *big = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    assert(n >= 0);
    if ((size_t)n < sizeof(small))
        return pm__pdfw_write(w, small, (size_t)n);
    big = pm_malloc((size_t)n + 1);
    if (big == NULL)
        return fail(w, PM_ENOMEM, "%s: out of memory", w->path);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    pm__pdfw_write(w, big, (size_t)n);
    pm_free(big);
    return w->err;
}

int pm__pdfw_begin(pm_pdfw_t *w, pm_engine_t *eng, int fd, const char *path,
                   const char *version)
{
    memset(w, 0, sizeof(*w));
    w->eng = eng;
    w->fd = fd;
    w->path = path;
    w->buf = pm_malloc(PM_PDFW_BUF);
    w->md = EVP_MD_CTX_new();
    if (w->buf == NULL || w->md == NULL ||
        EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1)
        return fail(w, PM_ENOMEM, "%s: out of memory", path);
    /* A comment of bytes above 127 tells transfer programs it is binary
     * (PDF/A: at least four). */
    return pm__pdfw_printf(w, "%%PDF-%s\n%%\xbf\xf7\xa2\xfe\n", version);
}

int pm__pdfw_new(pm_pdfw_t *w)
{
    if (w->err)
        return w->err;
    if (w->nobj + 1 >= w->cap) {
        int cap = w->cap ? w->cap * 2 : 1024;
        long long *x = pm_realloc(w->xref, (size_t)cap * sizeof(*x));

        if (x == NULL)
            return fail(w, PM_ENOMEM, "%s: out of memory", w->path);
        w->xref = x;
        w->cap = cap;
    }
    w->xref[++w->nobj] = -1;
    return w->nobj;
}

int pm__pdfw_begin_obj(pm_pdfw_t *w, int num)
{
    if (w->err)
        return w->err;
    assert(w->cur == 0); /* objects do not nest */
    assert(num > 0 && num <= w->nobj);
    assert(w->xref[num] < 0); /* each written once */
    assert(w->off > 0);       /* after the header */
    w->xref[num] = w->off;
    w->cur = num;
    return pm__pdfw_printf(w, "%d 0 obj\n", num);
}

int pm__pdfw_end(pm_pdfw_t *w)
{
    if (w->err)
        return w->err;
    assert(w->cur > 0);
    w->cur = 0;
    return pm__pdfw_write(w, "\nendobj\n", 8);
}

/* The stream's dictionary and `stream` keyword. */
static int stream_head(pm_pdfw_t *w, int num, const char *dict, long long len)
{
    pm__pdfw_begin_obj(w, num);
    return pm__pdfw_printf(w, "<< %s%s/Length %lld >>\nstream\n", dict,
                           dict[0] ? " " : "", len);
}

/* The end-of-line before `endstream` that PDF/A requires. */
static int stream_tail(pm_pdfw_t *w)
{
    pm__pdfw_write(w, "\nendstream", 10);
    return pm__pdfw_end(w);
}

int pm__pdfw_stream(pm_pdfw_t *w, int num, const char *dict, const void *data,
                    size_t len)
{
    stream_head(w, num, dict, (long long)len);
    pm__pdfw_write(w, data, len);
    return stream_tail(w);
}

int pm__pdfw_stream_deflate(pm_pdfw_t *w, int num, const char *dict,
                            const void *data, size_t len, int level)
{
    uLongf zlen = compressBound((uLong)len);
    unsigned char *z;
    char *d;
    int err;

    assert(strstr(dict, "/Filter") == NULL);
    if (w->err)
        return w->err;
    z = pm_malloc(zlen);
    d = pm_asprintf("/Filter /FlateDecode%s%s", dict[0] ? " " : "", dict);
    if (z == NULL || d == NULL ||
        compress2(z, &zlen, data, (uLong)len, level) != Z_OK) {
        pm_free(z);
        pm_free(d);
        return fail(w, PM_ENOMEM, "%s: object %d: out of memory", w->path, num);
    }
    err = pm__pdfw_stream(w, num, d, z, zlen);
    pm_free(z);
    pm_free(d);
    return err;
}

int pm__pdfw_stream_fd(pm_pdfw_t *w, int num, const char *dict, int fd,
                       const char *src, long long len)
{
    unsigned char *buf;
    long long left = len;

    if (stream_head(w, num, dict, len))
        return w->err;
    buf = pm_malloc(FD_CHUNK);
    if (buf == NULL)
        return fail(w, PM_ENOMEM, "%s: out of memory", src);
    while (left > 0 && w->err == 0) {
        size_t want = left < (long long)FD_CHUNK ? (size_t)left : FD_CHUNK;
        ssize_t n = read(fd, buf, want);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail(w, -errno, "%s: cannot read: %s", src, strerror(errno));
        else if (n == 0)
            fail(w, PM_EINVAL, "%s: short read: %lld of %lld bytes", src,
                 len - left, len);
        else if (pm__pdfw_write(w, buf, (size_t)n) == 0)
            left -= n;
    }
    pm_free(buf);
    return stream_tail(w);
}

/* Appends the UTF-16BE of the code point `c` to `out` (4 bytes at most). */
static size_t utf16be(unsigned long c, unsigned char *out)
{
    if (c >= 0x10000) {
        unsigned long hi = 0xD800 + ((c - 0x10000) >> 10);
        unsigned long lo = 0xDC00 + ((c - 0x10000) & 0x3ff);

        out[0] = (unsigned char)(hi >> 8);
        out[1] = (unsigned char)hi;
        out[2] = (unsigned char)(lo >> 8);
        out[3] = (unsigned char)lo;
        return 4;
    }
    out[0] = (unsigned char)(c >> 8);
    out[1] = (unsigned char)c;
    return 2;
}

/* The next code point of the UTF-8 at *s (advanced); U+FFFD for what is
 * not UTF-8. */
static unsigned long utf8_next(const unsigned char **s)
{
    const unsigned char *p = *s;
    unsigned long c = *p++;
    int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;

    if (c >= 0x80 && (more == 0 || c >= 0xF8)) {
        *s = p;
        return 0xFFFD;
    }
    c &= more == 3 ? 0x07 : more == 2 ? 0x0F : more == 1 ? 0x1F : 0x7F;
    for (int i = 0; i < more; i++, p++) {
        if ((*p & 0xC0) != 0x80) {
            *s = p;
            return 0xFFFD;
        }
        c = (c << 6) | (*p & 0x3F);
    }
    *s = p;
    return c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF) ? 0xFFFD : c;
}

static int text_utf16(pm_pdfw_t *w, const char *utf8)
{
    const unsigned char *s = (const unsigned char *)utf8;

    pm__pdfw_write(w, "<FEFF", 5);
    while (*s && w->err == 0) {
        unsigned char u[4];
        size_t n = utf16be(utf8_next(&s), u);

        for (size_t i = 0; i < n; i++)
            pm__pdfw_printf(w, "%02X", u[i]);
    }
    return pm__pdfw_write(w, ">", 1);
}

int pm__pdfw_text(pm_pdfw_t *w, const char *utf8)
{
    const unsigned char *s;

    for (s = (const unsigned char *)utf8; *s; s++)
        if (*s >= 0x80 || *s < 0x20)
            return text_utf16(w, utf8);
    pm__pdfw_write(w, "(", 1);
    for (s = (const unsigned char *)utf8; *s && w->err == 0; s++) {
        if (*s == '(' || *s == ')' || *s == '\\')
            pm__pdfw_write(w, "\\", 1);
        pm__pdfw_write(w, s, 1);
    }
    return pm__pdfw_write(w, ")", 1);
}

/* The cross-reference table: one line of 20 bytes per object. */
static int write_xref(pm_pdfw_t *w)
{
    pm__pdfw_printf(w, "xref\n0 %d\n0000000000 65535 f \n", w->nobj + 1);
    for (int i = 1; i <= w->nobj && w->err == 0; i++) {
        if (w->xref[i] < 0) {
            assert(!"every numbered object is written");
            return fail(w, PM_EINVAL, "%s: object %d never written", w->path,
                        i);
        }
        pm__pdfw_printf(w, "%010lld 00000 n \n", w->xref[i]);
    }
    return w->err;
}

int pm__pdfw_finish(pm_pdfw_t *w, int root, int info)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char id[33];
    long long start = w->off;

    assert(w->cur == 0);
    assert(root > 0 && root <= w->nobj && info > 0 && info <= w->nobj);
    if (write_xref(w))
        return w->err;
    /* The /ID digests every byte before it: the same objects, the same
     * file (ISO 32000-1, 14.4: any value unique to the content). Written
     * as qpdf writes it, `/ID [<...><...>]`, which the reproducibility
     * checks (docs/archival.md) take out. */
    if (EVP_DigestFinal_ex(w->md, md, &mdlen) != 1 || mdlen < 16)
        return fail(w, PM_ENOMEM, "%s: cannot digest", w->path);
    EVP_MD_CTX_free(w->md);
    w->md = NULL;
    for (int i = 0; i < 16; i++)
        snprintf(id + 2 * i, 3, "%02x", md[i]);
    pm__pdfw_printf(w,
                    "trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [<%s>"
                    "<%s>] >>\nstartxref\n%lld\n%%%%EOF\n",
                    w->nobj + 1, root, info, id, id, start);
    return flush(w);
}

void pm__pdfw_cleanup(pm_pdfw_t *w)
{
    pm_free(w->buf);
    pm_free(w->xref);
    EVP_MD_CTX_free(w->md);
    w->buf = NULL;
    w->xref = NULL;
    w->md = NULL;
}
