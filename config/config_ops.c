/*
 * config_ops.c: the [invoice] and [archive] sections (config_int.h).
 * Values are checked here, so a bad one stops `pagemill config check`
 * and the service's start with the key named, not an invoice or a night's
 * archive care later.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_int.h"
#include "pipeline/base/pm.h"

/* Longest text of a key drawn on the invoice (bytes). */
#define LINE_MAX_BYTES  120
#define TERMS_MAX_BYTES 200
#define SYMBOL_MAX      8

static int set_text(char **dst, const char *v)
{
    char *s = pm_strdup(v);

    if (s == NULL)
        return PM_ENOMEM;
    pm_free(*dst);
    *dst = s;
    return 0;
}

/* Text drawn on the invoice: not empty, UTF-8, no control characters,
 * at most `max` bytes. */
static int text_ok(const char *v, size_t max, char *why, size_t size)
{
    size_t n = strlen(v), i;

    for (i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            break;
    if (n == 0)
        snprintf(why, size, "must not be empty (leave the key out)");
    else if (n > max)
        snprintf(why, size, "longer than %zu bytes", max);
    else if (!pm_utf8_valid(v))
        snprintf(why, size, "is not valid UTF-8");
    else if (i < n)
        snprintf(why, size, "has a control character");
    else
        return 0;
    return -1;
}

/* An ISO 4217 code: three capital letters. */
static int currency_ok(const char *v)
{
    return strlen(v) == 3 && v[0] >= 'A' && v[0] <= 'Z' && v[1] >= 'A' &&
           v[1] <= 'Z' && v[2] >= 'A' && v[2] <= 'Z';
}

/* A currency symbol: 1..8 bytes of UTF-8, no space, digit or sign that
 * would read as part of the amount. */
static int symbol_ok(const char *v)
{
    size_t n = strlen(v);

    if (n == 0 || n > SYMBOL_MAX || !pm_utf8_valid(v))
        return 0;
    for (; *v != '\0'; v++)
        if ((unsigned char)*v <= ' ' || (*v >= '0' && *v <= '9') || *v == '-' ||
            *v == '+' || *v == '.' || *v == ',')
            return 0;
    return 1;
}

int pm__config_invoice_key(pm_config_t *cfg, const char *key, const char *v,
                           char *why, size_t size)
{
    pm_invoice_cfg_t *inv = &cfg->invoice;

    assert(size > 0);
    why[0] = '\0';
    if (strcmp(key, "issuer") == 0 || strcmp(key, "tax_id") == 0 ||
        strcmp(key, "payment_terms") == 0) {
        int terms = key[0] == 'p';

        if (text_ok(v, terms ? TERMS_MAX_BYTES : LINE_MAX_BYTES, why, size))
            return -1;
        return set_text(key[0] == 'i'   ? &inv->issuer
                        : key[0] == 't' ? &inv->tax_id
                                        : &inv->payment_terms,
                        v);
    }
    if (strcmp(key, "address") == 0) {
        if (inv->naddress == PM_INVOICE_ADDRESS_MAX) {
            snprintf(why, size, "more than %d lines (one `address =` a line)",
                     PM_INVOICE_ADDRESS_MAX);
            return -1;
        }
        if (text_ok(v, LINE_MAX_BYTES, why, size))
            return -1;
        inv->address[inv->naddress] = pm_strdup(v);
        if (inv->address[inv->naddress] == NULL)
            return PM_ENOMEM;
        inv->naddress++;
        return 0;
    }
    if (strcmp(key, "currency") == 0) {
        if (!currency_ok(v)) {
            snprintf(why, size,
                     "expected an ISO 4217 code of three capital letters "
                     "such as EUR or USD, got '%s'",
                     v);
            return -1;
        }
        memcpy(inv->currency, v, 4);
        return 0;
    }
    if (strcmp(key, "currency_symbol") == 0) {
        if (!symbol_ok(v)) {
            snprintf(why, size,
                     "expected 1 to %d characters such as $ or € (no "
                     "space, digit, sign, point or comma), got '%s'",
                     SYMBOL_MAX, v);
            return -1;
        }
        return set_text(&inv->currency_symbol, v);
    }
    if (strcmp(key, "page_size") == 0) {
        if (strcasecmp(v, "A4") == 0 || strcasecmp(v, "letter") == 0) {
            inv->a4 = strcasecmp(v, "A4") == 0;
            return 0;
        }
        snprintf(why, size, "expected A4 or letter, got '%s'", v);
        return -1;
    }
    snprintf(why, size, "unknown key");
    return -1;
}

int pm__config_archive_key(pm_config_t *cfg, const char *key, const char *v,
                           char *why, size_t size)
{
    double *dst = strcmp(key, "janitor_every_hours") == 0
                      ? &cfg->archive.janitor_every_hours
                  : strcmp(key, "verify_every_hours") == 0
                      ? &cfg->archive.verify_every_hours
                      : NULL;
    char *end;
    double x;

    assert(size > 0);
    why[0] = '\0';
    if (dst == NULL) {
        snprintf(why, size, "unknown key");
        return -1;
    }
    errno = 0;
    x = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !(x >= 0 && x <= 8760)) {
        snprintf(why, size, "expected hours 0..8760 (0: off), got '%s'", v);
        return -1;
    }
    /* Less than a second would be a busy loop, not a schedule. */
    if (x > 0 && x * 3600 < 1) {
        snprintf(why, size, "at least 1 second (0.0003 hours), got '%s'", v);
        return -1;
    }
    *dst = x;
    return 0;
}

void pm__config_invoice_cleanup(pm_invoice_cfg_t *inv)
{
    for (size_t i = 0; i < inv->naddress; i++)
        pm_free(inv->address[i]);
    pm_free(inv->issuer);
    pm_free(inv->tax_id);
    pm_free(inv->currency_symbol);
    pm_free(inv->payment_terms);
    memset(inv, 0, sizeof(*inv));
}
