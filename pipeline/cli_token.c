/*
 * cli_token.c: `pagemill token add|list`, the access tokens of the web
 * interface (docs/api.md). A token is 32 random bytes (OpenSSL's
 * RAND_bytes) written as "pmt_" and 64 hex digits; it is printed once,
 * and only its SHA-256 is stored in the catalog.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "catalog/monitor.h"
#include "pipeline/base/pm.h"
#include "pipeline/cli_int.h"

#define TOKEN_PREFIX "pmt_"

static void hex(const unsigned char *v, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", v[i]);
}

/* A new token into token[] and the hex of its SHA-256 into sha[65]. */
static int make_token(char token[sizeof(TOKEN_PREFIX) + 64], char sha[65])
{
    unsigned char raw[32], digest[32];
    unsigned int dlen = 0;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return PM_EIO;
    memcpy(token, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
    hex(raw, sizeof(raw), token + sizeof(TOKEN_PREFIX) - 1);
    if (EVP_Digest(token, strlen(token), digest, &dlen, EVP_sha256(), NULL) !=
        1)
        return PM_EIO;
    hex(digest, sizeof(digest), sha);
    return 0;
}

int cli_token_add(cli_t *c)
{
    char token[sizeof(TOKEN_PREFIX) + 64], sha[65];
    int role = pm_role_parse(c->opt['G']);
    int err;

    if (role < 0)
        return cli_usage_error(c,
                               "--role: '%s' is not supervisor, billing "
                               "or admin",
                               c->opt['G']);
    if (!pm_token_name_valid(c->opt['n']))
        return cli_usage_error(c,
                               "--name: '%s' is not 1..64 letters, digits, "
                               "'.', '-', '_' or '@'",
                               c->opt['n']);
    if (make_token(token, sha) != 0) {
        fprintf(stderr, "%s: no random bytes for a token\n", c->prefix);
        return PM_EXIT_FAILURE;
    }
    err = pm_token_add(c->cat, c->opt['n'], (pm_role_t)role, sha, c->actor,
                       (int64_t)time(NULL));
    if (err != 0)
        return cli_fail(c, err);
    if (c->json)
        return cli_emit_json(
            c, json_pack("{s:s, s:s, s:s}", "name", c->opt['n'], "role",
                         pm_role_name((pm_role_t)role), "token", token));
    printf("%s\n", token);
    fprintf(stderr,
            "%s: token %s (%s) added; it is shown only now: send it as "
            "'Authorization: Bearer <token>'\n",
            c->prefix, c->opt['n'], pm_role_name((pm_role_t)role));
    return PM_EXIT_OK;
}

static json_t *token_json(const void *p)
{
    const pm_token_t *t = p;

    return json_pack("{s:o, s:s, s:o}", "name", pm_json_str(t->name), "role",
                     pm_role_name(t->role), "created_at",
                     pm_json_time(t->created_at));
}

int cli_token_list(cli_t *c)
{
    static const char *const heads[] = {"NAME", "ROLE", "CREATED"};
    pm_token_t *v = NULL;
    size_t n = 0;
    char when[32];
    table_t t;
    int err = pm_token_list(c->cat, &v, &n), rc;

    if (err != 0)
        return cli_fail(c, err);
    if (c->json) {
        rc = cli_emit_json(c, cli_jlist(v, n, sizeof(*v), token_json));
    } else {
        cli_table_init(&t, heads, 3, "lll");
        for (size_t i = 0; i < n; i++) {
            const char *row[] = {v[i].name, pm_role_name(v[i].role),
                                 cli_fmt_time(when, v[i].created_at)};
            cli_table_row(&t, row);
        }
        rc = cli_table_emit(c, &t, "no tokens");
    }
    pm_token_list_free(v, n);
    return rc;
}
