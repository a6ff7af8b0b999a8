/*
 * billing_int.h: internals shared by the catalog (billing.c, the SQLite
 * backend), the renderers (catalog/render/) and their tests: RFC 4180
 * CSV fields on the base's string buffer.
 */
#ifndef PM_BILLING_INT_H
#define PM_BILLING_INT_H

#include <stddef.h>

#include "pipeline/base/buf.h"

/* Appends `s` as one CSV field: quoted (inner quotes doubled) when it holds
 * a comma, a quote, CR or LF, as RFC 4180 asks; NULL is an empty field.
 * A field that starts with =, +, -, @, a tab or CR and is not a number
 * (an account named "=1+2") is written as text a spreadsheet will not
 * run as a formula: a ' before it, quoted (OWASP, CSV injection). */
void pm__buf_csv(pm_buf_t *b, const char *s);

/* Appends one CSV record of `n` fields, ended by CRLF. */
void pm__buf_csv_row(pm_buf_t *b, const char *const *f, size_t n);

#endif /* PM_BILLING_INT_H */
