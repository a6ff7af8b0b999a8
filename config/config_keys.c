/*
 * config_keys.c: the keys of the process-wide sections: [pagemill],
 * [catalog], [billing], [http], [alerts], and the hand-over of [invoice]
 * and [archive] to config_ops.c, with the checks of [http] and [alerts]
 * that need the whole section.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/config_int.h"
#include "pipeline/base/pm.h"

/* ---- sections ---- */

/* The [pagemill] keys that name a file or folder. */
typedef struct string_key {
    const char *key;
    size_t offset;    /* of the char * in pm_config_t */
    const char *what; /* what an empty value fails to name; NULL: may */
} string_key_t;

static const string_key_t global_strings[] = {
    {"catalog", offsetof(pm_config_t, catalog), "the catalog database file"},
    {"icc_profile", offsetof(pm_config_t, icc_profile), "an ICC file"},
    {"tessdata", offsetof(pm_config_t, tessdata), NULL},
    {"spool", offsetof(pm_config_t, spool), "the spool folder"},
    {"output", offsetof(pm_config_t, output), "the output folder"},
};

/* Handles the string keys of [pagemill]; returns 0 if `key` is not one. */
static int global_string_key(parse_state_t *st, const char *key, const char *v)
{
    for (size_t i = 0; i < sizeof(global_strings) / sizeof(*global_strings);
         i++) {
        const string_key_t *k = &global_strings[i];

        if (strcmp(key, k->key) != 0)
            continue;
        if (*v == '\0' && k->what != NULL)
            pm__config_error(st, "pagemill", key, "must name %s", k->what);
        else if (pm__config_set_string((char **)((char *)st->cfg + k->offset),
                                       v) != 0)
            st->oom = 1;
        return 1;
    }
    return 0;
}

void pm__config_global_key(parse_state_t *st, const char *key, const char *v)
{
    pm_config_t *cfg = st->cfg;
    const char *sec = "pagemill";

    if (strcmp(key, "workers") == 0) {
        if (pm__config_int(v, 0, 256, &cfg->workers) != 0)
            pm__config_error(st, sec, key,
                             "expected 0..256 (0: one per core), "
                             "got '%s'",
                             v);
    } else if (strcmp(key, "local_workers") == 0) {
        if (pm__config_int(v, 0, 256, &cfg->local_workers) != 0)
            pm__config_error(
                st, sec, key,
                "expected 0..256 (0: pages only on agents), got '%s'", v);
    } else if (strcmp(key, "page_timeout") == 0) {
        if (pm__config_int(v, 1, 86400, &cfg->page_timeout) != 0)
            pm__config_error(st, sec, key,
                             "expected seconds 1..86400, got '%s'", v);
    } else if (strcmp(key, "worker_memory_mb") == 0) {
        if (pm__config_int(v, 0, 1 << 20, &cfg->worker_memory_mb) != 0)
            pm__config_error(st, sec, key, "expected MiB 0..1048576, got '%s'",
                             v);
    } else if (strcmp(key, "max_attempts") == 0) {
        if (pm__config_int(v, 1, 100, &cfg->max_attempts) != 0)
            pm__config_error(st, sec, key, "expected 1..100, got '%s'", v);
    } else if (strcmp(key, "integrity_check_minutes") == 0) {
        if (pm__config_int(v, 0, 10080, &cfg->integrity_check_minutes) != 0)
            pm__config_error(
                st, sec, key,
                "expected minutes 0..10080 (0: only at start), got '%s'", v);
    } else if (!global_string_key(st, key, v)) {
        pm__config_error(st, sec, key, "unknown key");
    }
}

/* [catalog] url: the catalog's database, a postgresql:// URL or a file
 * (the same as [pagemill] catalog; the later line wins). */
void pm__config_catalog_key(parse_state_t *st, const char *key, const char *v)
{
    if (strcmp(key, "url") != 0)
        pm__config_error(st, "catalog", key, "unknown key");
    else if (*v == '\0')
        pm__config_error(st, "catalog", key,
                         "must name the catalog's database");
    else if (pm__config_set_string(&st->cfg->catalog, v) != 0)
        st->oom = 1;
}

void pm__config_billing_key(parse_state_t *st, const char *key, const char *v)
{
    pm_config_t *cfg = st->cfg;

    if (strcmp(key, "timezone") == 0) {
        if (!pm_timezone_valid(v))
            pm__config_error(st, "billing", key,
                             "expected UTC or a zone under /usr/share/zoneinfo "
                             "such as America/Chicago, got '%s'",
                             v);
        else if (pm__config_set_string(&cfg->billing_timezone, v) != 0)
            st->oom = 1;
    } else if (strcmp(key, "issuer") == 0) {
        if (pm__config_set_string(&cfg->billing_issuer, v) != 0)
            st->oom = 1;
    } else {
        pm__config_error(st, "billing", key, "unknown key");
    }
}

/* ---- [http] ---- */

/* Parses "HOST:PORT" (IPv4 literal, or [IPv6] literal; port 0: any free
 * one, which the service logs) into the
 * configuration; 0, or -1 when it is not one. */
static int parse_listen(pm_http_cfg_t *h, const char *v, int *oom)
{
    const char *colon = strrchr(v, ':');
    char host[INET6_ADDRSTRLEN + 2];
    struct in6_addr a6;
    struct in_addr a4;
    size_t n;
    int port, v6;

    if (colon == NULL || pm__config_int(colon + 1, 0, 65535, &port) != 0)
        return -1;
    n = (size_t)(colon - v);
    v6 = n >= 2 && v[0] == '[' && v[n - 1] == ']';
    if (v6) {
        v++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(host))
        return -1;
    memcpy(host, v, n);
    host[n] = '\0';
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, v6 ? (void *)&a6 : &a4) != 1)
        return -1;
    if (pm__config_set_string(&h->host, host) != 0) {
        *oom = 1;
        return 0;
    }
    h->port = port;
    h->loopback =
        v6 ? IN6_IS_ADDR_LOOPBACK(&a6) : (ntohl(a4.s_addr) >> 24) == 127;
    return 0;
}

void pm__config_http_key(parse_state_t *st, const char *key, const char *v)
{
    pm_http_cfg_t *h = &st->cfg->http;
    const char *sec = "http";

    if (strcmp(key, "listen") == 0) {
        if (parse_listen(h, v, &st->oom) != 0)
            pm__config_error(
                st, sec, key,
                "expected HOST:PORT with an IPv4 address or [IPv6] "
                "address and a port 0..65535 (0: any free port, "
                "logged; e.g. 127.0.0.1:8080), "
                "got '%s'",
                v);
    } else if (strcmp(key, "token_file") == 0) {
        pm__config_nonempty(st, sec, key, &h->token_file, v,
                            "a file of tokens (leave the key out for none)");
    } else if (strcmp(key, "cert") == 0) {
        pm__config_nonempty(st, sec, key, &h->cert, v,
                            "a PEM certificate file");
    } else if (strcmp(key, "key") == 0) {
        pm__config_nonempty(st, sec, key, &h->key, v, "a PEM private key file");
    } else if (strcmp(key, "min_free_mb") == 0) {
        if (pm__config_int(v, 0, 1 << 24, &h->min_free_mb) != 0)
            pm__config_error(st, sec, key, "expected MiB 0..16777216, got '%s'",
                             v);
    } else {
        pm__config_error(st, sec, key, "unknown key");
    }
}

void pm__config_alerts_key(parse_state_t *st, const char *key, const char *v)
{
    static const struct {
        const char *key, *expected;
        int max;
        size_t off;
    } nums[] = {
        {"stall_minutes", "minutes 0..10080", 10080,
         offsetof(pm_alerts_cfg_t, stall_minutes)},
        {"min_free_mb", "MiB 0..16777216", 1 << 24,
         offsetof(pm_alerts_cfg_t, min_free_mb)},
        {"worker_restarts", "a count 0..1000", 1000,
         offsetof(pm_alerts_cfg_t, worker_restarts)},
        {"repeat_minutes", "minutes 1..10080", 10080,
         offsetof(pm_alerts_cfg_t, repeat_minutes)},
    };
    pm_alerts_cfg_t *a = &st->cfg->alerts;

    if (strcmp(key, "command") == 0) {
        pm__config_nonempty(st, "alerts", key, &a->command, v,
                            "a command run with the alert as JSON on stdin");
        return;
    }
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        int *dst = (int *)(void *)((char *)a + nums[i].off);
        int min = strcmp(key, "repeat_minutes") == 0;

        if (strcmp(key, nums[i].key) != 0)
            continue;
        if (pm__config_int(v, min, nums[i].max, dst) != 0)
            pm__config_error(st, "alerts", key, "expected %s, got '%s'",
                             nums[i].expected, v);
        return;
    }
    pm__config_error(st, "alerts", key, "unknown key");
}

/* An [alerts] section must say what to run. */
void pm__config_check_alerts(parse_state_t *st)
{
    if (st->cfg->alerts.enabled && st->cfg->alerts.command == NULL) {
        st->line = st->alerts_line;
        pm__config_error(st, "alerts", "command",
                         "missing: the command to run for each alert");
    }
}

/* TLS needs both files. */
void pm__config_check_http(parse_state_t *st)
{
    const pm_http_cfg_t *h = &st->cfg->http;

    if ((h->cert == NULL) != (h->key == NULL)) {
        st->line = st->http_line;
        pm__config_error(st, "http", h->cert ? "key" : "cert",
                         "TLS needs both cert and key");
    }
}

/* [invoice] and [archive] (config_ops.c). */
void pm__config_ops_key(parse_state_t *st, const char *section, const char *key,
                        const char *v)
{
    char why[256];
    int err = section[0] == 'i'
                  ? pm__config_invoice_key(st->cfg, key, v, why, sizeof(why))
                  : pm__config_archive_key(st->cfg, key, v, why, sizeof(why));

    if (err == PM_ENOMEM)
        st->oom = 1;
    else if (err != 0)
        pm__config_error(st, section, key, "%s", why);
}
