/*
 * buf.h: pagemill's one growable string. A writer appends freely and
 * checks once at the end: after a failed allocation `oom` sticks and
 * every later append does nothing. The text is always NUL-terminated
 * once anything was appended (binary-safe appends keep the NUL after
 * the last byte).
 */
#ifndef PM_BUF_H
#define PM_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct pm_buf {
    char *s; /* NULL until something is appended */
    size_t len, cap;
    int oom;
} pm_buf_t;

/* Makes room for `n` more bytes and the NUL: 1, or 0 (oom set). */
int pm_buf_reserve(pm_buf_t *b, size_t n);

/* Appends printf-formatted text. */
void pm_buf_printf(pm_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pm_buf_vprintf(pm_buf_t *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Appends `n` bytes. */
void pm_buf_add(pm_buf_t *b, const void *data, size_t n);

/* Appends `s` (NULL: nothing). */
void pm_buf_puts(pm_buf_t *b, const char *s);

/* Hands the text to the caller (pm_free) in *out and *len (len may be
 * NULL), or returns PM_ENOMEM (and frees it) when an append failed. An
 * empty buffer gives "". Leaves `b` empty. */
int pm_buf_take(pm_buf_t *b, char **out, size_t *len);

/* Frees the text. Accepts an empty buffer. */
void pm_buf_cleanup(pm_buf_t *b);

#endif /* PM_BUF_H */
