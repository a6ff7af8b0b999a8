/*
 * cli_out.c: how the catalog commands (cli.c and its cli_*.c) report and
 * print: a failed catalog call's one line and exit status, times and
 * numbers as text, "label: value" lines, aligned plain-text tables, and
 * JSON values and the one JSON document a --json command prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "pipeline/base/pm.h"
#include "pipeline/cli_int.h"

#define LABEL_WIDTH 14 /* "duplicate of:" and a space */

/* ---- errors ---- */

/* The exit status for a catalog result: bad input is the caller's to fix
 * (2); anything else means the catalog could not do its work (1). */
static int exit_status(int err)
{
    switch (err) {
    case 0:
        return PM_EXIT_OK;
    case PM_ENOENT:
    case PM_EEXIST:
    case PM_EINVAL:
        return PM_EXIT_USAGE;
    default:
        return PM_EXIT_FAILURE;
    }
}

/* Reports a failed catalog call in one line and returns the exit status. */
int cli_fail(const cli_t *c, int err)
{
    fprintf(stderr, "%s: %s\n", c->prefix, pm_catalog_errmsg(c->cat));
    return exit_status(err);
}

int cli_oom(const cli_t *c)
{
    fprintf(stderr, "%s: out of memory\n", c->prefix);
    return PM_EXIT_FAILURE;
}

/* ---- text ---- */

/* "2026-11-23T12:00:00Z" in buf, or NULL for 0 (never happened). */
const char *cli_fmt_time(char buf[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t == 0 || gmtime_r(&tt, &tm) == NULL)
        return NULL;
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

const char *cli_fmt_int(char buf[24], long long v)
{
    snprintf(buf, 24, "%lld", v);
    return buf;
}

/* A new copy of `s` fit for one terminal line: control characters (an
 * escape sequence in a batch name, say) become spaces; with `first_line`
 * only the text before the first line break is kept, and " ..." marks
 * that more followed. NULL if out of memory. */
static char *clean(const char *s, int first_line)
{
    size_t n = first_line ? strcspn(s, "\r\n") : strlen(s);
    int more = s[n] != '\0' && s[n + strspn(s + n, "\r\n")] != '\0';
    char *d = pm_malloc(n + sizeof(" ..."));

    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        d[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    strcpy(d + n, more ? " ..." : "");
    return d;
}

/* Columns `s` takes on a terminal: UTF-8 continuation bytes take none. */
static size_t text_width(const char *s)
{
    size_t w = 0;

    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

/* Prints "label:", padded, then `value` ("-" for NULL) on one line. */
void cli_kv(const char *label, const char *value)
{
    int n = printf("%s:", label);

    printf("%*s", n < LABEL_WIDTH ? LABEL_WIDTH - n : 1, "");
    for (const char *p = value ? value : "-"; *p; p++)
        putchar((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p);
    putchar('\n');
}

/* cli_kv() for a field that is usually unset: prints nothing for NULL. */
void cli_kv_opt(const char *label, const char *value)
{
    if (value != NULL)
        cli_kv(label, value);
}

/* ---- tables ---- */

/* Appends a row, copying its cells (NULL shows as "-"). */
void cli_table_row(table_t *t, const char *const *cells)
{
    char **grown;

    if (t->oom)
        return;
    grown = pm_realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*grown));
    if (grown == NULL) {
        t->oom = 1;
        return;
    }
    t->cells = grown;
    grown += t->nrows++ * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        grown[i] = clean(cells[i] ? cells[i] : "-", 1);
        t->oom |= grown[i] == NULL;
    }
}

void cli_table_init(table_t *t, const char *const *heads, size_t ncols,
                    const char *align)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    t->align = align;
    cli_table_row(t, heads);
}

void cli_table_cleanup(table_t *t)
{
    for (size_t i = 0; t->cells != NULL && i < t->nrows * t->ncols; i++)
        pm_free(t->cells[i]);
    pm_free(t->cells);
    memset(t, 0, sizeof(*t));
}

void cli_table_print(const table_t *t)
{
    size_t width[MAX_COLS] = {0};

    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            size_t w = text_width(t->cells[r * t->ncols + i]);
            width[i] = w > width[i] ? w : width[i];
        }
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r * t->ncols + i];
            int pad = (int)(width[i] - text_width(s)), last = i + 1 == t->ncols;
            if (t->align[i] == 'r')
                printf("%*s%s", pad, "", s);
            else
                printf("%s%*s", s, last ? 0 : pad, "");
            fputs(last ? "\n" : "  ", stdout);
        }
}

/* Prints the table, or `none` when it has no rows, and releases it. */
int cli_table_emit(const cli_t *c, table_t *t, const char *none)
{
    int oom = t->oom;

    if (!oom && t->nrows < 2)
        printf("%s\n", none);
    else if (!oom)
        cli_table_print(t);
    cli_table_cleanup(t);
    return oom ? cli_oom(c) : PM_EXIT_OK;
}

/* ---- JSON ---- */

/* The first line of `s` as a JSON string, or null. */
json_t *cli_jline(const char *s)
{
    char *line = s ? clean(s, 1) : NULL;
    json_t *v = s == NULL ? json_null() : line ? pm_json_str(line) : NULL;

    pm_free(line);
    return v;
}

/* An array of one(item) for each of the n items of `size` bytes at v. */
json_t *cli_jlist(const void *v, size_t n, size_t size,
                  json_t *(*one)(const void *))
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, one((const char *)v + i * size)) != 0) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

/* Prints `doc` (and takes it) as the command's one JSON document. */
int cli_emit_json(const cli_t *c, json_t *doc)
{
    int err;

    if (doc == NULL)
        return cli_oom(c);
    /* 15 digits print 0.2 as 0.2, not 0.20000000000000001. */
    err = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    json_decref(doc);
    putchar('\n');
    return err == 0 ? PM_EXIT_OK : PM_EXIT_FAILURE; /* run_cmd says why */
}
