/*
 * billing_int.h: internals shared by the catalog (billing.c, the SQLite
 * backend), the renderers (catalog/render/) and their tests: a growable
 * string and RFC 4180 CSV fields.
 */
#ifndef PM_BILLING_INT_H
#define PM_BILLING_INT_H

#include <stddef.h>

/* A growable NUL-terminated string; `oom` sticks after a failed append, so
 * a writer appends freely and checks once at the end. */
typedef struct pm__buf {
    char *s;
    size_t len, cap;
    int oom;
} pm__buf_t;

/* Appends printf-formatted text. */
void pm__buf_printf(pm__buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends `n` bytes (binary-safe; the text stays NUL-terminated). */
void pm__buf_add(pm__buf_t *b, const void *data, size_t n);

/* Appends `s` (NULL: nothing). */
void pm__buf_puts(pm__buf_t *b, const char *s);

/* Appends `s` as one CSV field: quoted (inner quotes doubled) when it holds
 * a comma, a quote, CR or LF, as RFC 4180 asks; NULL is an empty field.
 * A field that starts with =, +, -, @, a tab or CR and is not a number
 * (an account named "=1+2") is written as text a spreadsheet will not
 * run as a formula: a ' before it, quoted (OWASP, CSV injection). */
void pm__buf_csv(pm__buf_t *b, const char *s);

/* Appends one CSV record of `n` fields, ended by CRLF. */
void pm__buf_csv_row(pm__buf_t *b, const char *const *f, size_t n);

/* Hands the text to the caller (pm_free) in *out and *len, or returns
 * PM_ENOMEM (and frees it) when an append failed. Leaves `b` empty. */
int pm__buf_take(pm__buf_t *b, char **out, size_t *len);

/* Frees the text. Accepts an empty buffer. */
void pm__buf_cleanup(pm__buf_t *b);

#endif /* PM_BILLING_INT_H */
