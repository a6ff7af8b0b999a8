/*
 * buf.c: the growable string (buf.h).
 */
#include "pipeline/base/buf.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/base/pm.h"

int pm_buf_reserve(pm_buf_t *b, size_t n)
{
    size_t need = b->len + n + 1, cap;
    char *p;

    if (b->oom)
        return 0;
    if (need <= b->cap)
        return 1;
    for (cap = b->cap ? b->cap : 256; cap < need; cap *= 2)
        ;
    p = pm_realloc(b->s, cap);
    if (p == NULL) {
        b->oom = 1;
        return 0;
    }
    b->s = p;
    b->cap = cap;
    return 1;
}

void pm_buf_vprintf(pm_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if (!pm_buf_reserve(b, (size_t)n))
        return;
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    b->len += (size_t)n;
    assert(b->len < b->cap && b->s[b->len] == '\0');
}

void pm_buf_printf(pm_buf_t *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    pm_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void pm_buf_add(pm_buf_t *b, const void *data, size_t n)
{
    if (!pm_buf_reserve(b, n))
        return;
    if (n > 0)
        memcpy(b->s + b->len, data, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void pm_buf_puts(pm_buf_t *b, const char *s)
{
    pm_buf_add(b, s, s == NULL ? 0 : strlen(s));
}

int pm_buf_take(pm_buf_t *b, char **out, size_t *len)
{
    *out = NULL;
    if (len != NULL)
        *len = 0;
    if (!b->oom)
        pm_buf_reserve(b, 0); /* an empty text is still a string */
    if (b->oom) {
        pm_buf_cleanup(b);
        return PM_ENOMEM;
    }
    b->s[b->len] = '\0';
    *out = b->s;
    if (len != NULL)
        *len = b->len;
    memset(b, 0, sizeof(*b));
    return PM_OK;
}

void pm_buf_cleanup(pm_buf_t *b)
{
    pm_free(b->s);
    memset(b, 0, sizeof(*b));
}
