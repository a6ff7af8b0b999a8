/*
 * pdf_scan.c: a lexer for PDF content streams (pdf_int.h), just enough to
 * tell a scanner's page (one image drawn over the page) from anything
 * else, and to find text. It reads untrusted bytes: every index is
 * checked against the length, nesting is bounded, and what it does not
 * understand it skips.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/base/pm.h"
#include "workers/pdf_int.h"

#define MAX_OPERANDS 8
#define MAX_GSTATE   64

typedef struct lexer {
    const unsigned char *b;
    size_t n, i;
    double num[MAX_OPERANDS]; /* the last numeric operands */
    int nnum;
    char name[PM_PDF_NAME_MAX]; /* the last name operand */
    double ctm[MAX_GSTATE][6];
    int depth;
    int render_mode[MAX_GSTATE];
} lexer_t;

static int is_space(unsigned char c)
{
    return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' ||
           c == ' ';
}

static int is_delim(unsigned char c)
{
    return c == '(' || c == ')' || c == '<' || c == '>' || c == '[' ||
           c == ']' || c == '{' || c == '}' || c == '/' || c == '%';
}

static int is_regular(unsigned char c)
{
    return !is_space(c) && !is_delim(c);
}

/* Skips a literal string; lx->i is just after its '('. */
static void skip_literal(lexer_t *lx)
{
    int depth = 1;

    while (lx->i < lx->n && depth > 0) {
        unsigned char c = lx->b[lx->i++];

        if (c == '\\')
            lx->i++; /* the escaped byte, whatever it is */
        else if (c == '(')
            depth++;
        else if (c == ')')
            depth--;
    }
    if (lx->i > lx->n)
        lx->i = lx->n;
}

/* Skips an inline image's data: after "ID" and one blank, up to "EI"
 * between blanks (or the end). */
static void skip_inline_image(lexer_t *lx)
{
    size_t i = lx->i + 1;

    for (; i + 2 <= lx->n; i++) {
        if (lx->b[i] == 'E' && lx->b[i + 1] == 'I' && is_space(lx->b[i - 1]) &&
            (i + 2 == lx->n || is_space(lx->b[i + 2]))) {
            lx->i = i + 2;
            return;
        }
    }
    lx->i = lx->n;
}

static void push_num(lexer_t *lx, double v)
{
    if (lx->nnum == MAX_OPERANDS) {
        memmove(lx->num, lx->num + 1, sizeof(double) * (MAX_OPERANDS - 1));
        lx->nnum--;
    }
    lx->num[lx->nnum++] = v;
}

/* m x ctm, PDF order: the new matrix applies m first. */
static void concat(double ctm[6], const double m[6])
{
    double r[6];

    r[0] = m[0] * ctm[0] + m[1] * ctm[2];
    r[1] = m[0] * ctm[1] + m[1] * ctm[3];
    r[2] = m[2] * ctm[0] + m[3] * ctm[2];
    r[3] = m[2] * ctm[1] + m[3] * ctm[3];
    r[4] = m[4] * ctm[0] + m[5] * ctm[2] + ctm[4];
    r[5] = m[4] * ctm[1] + m[5] * ctm[3] + ctm[5];
    memcpy(ctm, r, sizeof(r));
}

static void add_drawn(pm_pdf_scan_t *out, const char *name)
{
    for (int k = 0; k < out->ndrawn; k++)
        if (strcmp(out->drawn[k], name) == 0)
            return;
    if (out->ndrawn < PM_PDF_MAX_DRAWN) {
        strcpy(out->drawn[out->ndrawn], name);
        out->ndrawn++;
    }
}

static int op_is(const char *op, size_t len, const char *what)
{
    return strlen(what) == len && memcmp(op, what, len) == 0;
}

/* The painting operators that put marks on the page (not Do). */
static int is_paint(const char *op, size_t len)
{
    static const char *const ops[] = {"f", "F",  "f*", "B", "B*",
                                      "b", "b*", "S",  "s", "sh"};

    for (size_t k = 0; k < sizeof(ops) / sizeof(*ops); k++)
        if (op_is(op, len, ops[k]))
            return 1;
    return 0;
}

static void operator(lexer_t *lx, const char *op, size_t len,
                     pm_pdf_scan_t *out)
{
    if (op_is(op, len, "q") && lx->depth + 1 < MAX_GSTATE) {
        memcpy(lx->ctm[lx->depth + 1], lx->ctm[lx->depth], sizeof(lx->ctm[0]));
        lx->render_mode[lx->depth + 1] = lx->render_mode[lx->depth];
        lx->depth++;
    } else if (op_is(op, len, "Q") && lx->depth > 0) {
        lx->depth--;
    } else if (op_is(op, len, "cm") && lx->nnum >= 6) {
        concat(lx->ctm[lx->depth], lx->num + lx->nnum - 6);
    } else if (op_is(op, len, "Tr") && lx->nnum >= 1) {
        lx->render_mode[lx->depth] = (int)lx->num[lx->nnum - 1];
    } else if (op_is(op, len, "Tj") || op_is(op, len, "TJ") ||
               op_is(op, len, "'") || op_is(op, len, "\"")) {
        out->text_ops++;
        if (lx->render_mode[lx->depth] != 3)
            out->visible_text++;
    } else if (op_is(op, len, "Do") && lx->name[0] != '\0') {
        if (out->ndo++ == 0)
            memcpy(out->do_ctm, lx->ctm[lx->depth], sizeof(out->do_ctm));
        add_drawn(out, lx->name);
    } else if (op_is(op, len, "BI")) {
        out->paint_ops++; /* an inline image */
    } else if (op_is(op, len, "ID")) {
        skip_inline_image(lx);
    } else if (is_paint(op, len)) {
        out->paint_ops++;
    }
    lx->nnum = 0;
    lx->name[0] = '\0';
}

/* A token of regular characters: a number or an operator. */
static void regular_token(lexer_t *lx, pm_pdf_scan_t *out)
{
    size_t start = lx->i, len;
    char tok[64];
    char *end;
    double v;

    while (lx->i < lx->n && is_regular(lx->b[lx->i]))
        lx->i++;
    len = lx->i - start;
    if (len >= sizeof(tok)) {
        lx->nnum = 0; /* no operator or number is this long */
        return;
    }
    memcpy(tok, lx->b + start, len);
    tok[len] = '\0';
    if ((tok[0] >= '0' && tok[0] <= '9') || tok[0] == '-' || tok[0] == '+' ||
        tok[0] == '.') {
        v = strtod(tok, &end);
        push_num(lx, end != tok ? v : 0);
        return;
    }
    if (op_is(tok, len, "true") || op_is(tok, len, "false") ||
        op_is(tok, len, "null"))
        return;
    operator(lx, tok, len, out);
}

static void name_token(lexer_t *lx)
{
    size_t k = 0;

    lx->i++; /* '/' */
    while (lx->i < lx->n && is_regular(lx->b[lx->i])) {
        if (k + 1 < sizeof(lx->name))
            lx->name[k++] = (char)lx->b[lx->i];
        lx->i++;
    }
    lx->name[k] = '\0';
}

void pm__pdf_scan(const unsigned char *buf, size_t len, pm_pdf_scan_t *out)
{
    static const double identity[6] = {1, 0, 0, 1, 0, 0};
    lexer_t *lx = pm_calloc(1, sizeof(*lx));

    memset(out, 0, sizeof(*out));
    if (lx == NULL) {
        out->paint_ops = 1; /* unknown: treated as a page to render */
        return;
    }
    lx->b = buf;
    lx->n = buf != NULL ? len : 0;
    memcpy(lx->ctm[0], identity, sizeof(identity));
    while (lx->i < lx->n) {
        unsigned char c = lx->b[lx->i];

        if (is_space(c)) {
            lx->i++;
        } else if (c == '%') {
            while (lx->i < lx->n && lx->b[lx->i] != '\n' &&
                   lx->b[lx->i] != '\r')
                lx->i++;
        } else if (c == '(') {
            lx->i++;
            skip_literal(lx);
        } else if (c == '<' && lx->i + 1 < lx->n && lx->b[lx->i + 1] == '<') {
            lx->i += 2;
        } else if (c == '<') {
            while (lx->i < lx->n && lx->b[lx->i] != '>')
                lx->i++;
            lx->i += lx->i < lx->n;
        } else if (c == '/') {
            name_token(lx);
        } else if (is_delim(c)) {
            lx->i++; /* [ ] { } > ) alone */
        } else {
            regular_token(lx, out);
        }
        assert(lx->i <= lx->n);
    }
    pm_free(lx);
}
