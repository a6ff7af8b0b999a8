/*
 * httplib.h: a minimal HTTP/1.0 client for the tests of the web
 * interface, on loopback only (127.0.0.1): one request per connection,
 * the whole response read until the server closes it. Failures to
 * connect or read fail the current cmocka test.
 */
#ifndef PM_TESTS_HTTPLIB_H
#define PM_TESTS_HTTPLIB_H

#include <stddef.h>

#include <jansson.h>

#include "lib/servelib.h"

typedef struct ht_resp {
    int status;    /* 200, 401, ... */
    char *headers; /* the header block, NUL-terminated */
    char *body;    /* NUL-terminated */
    size_t len;    /* of the body */
} ht_resp_t;

/* Sends `method path` to 127.0.0.1:port with `token` as a Bearer token
 * (NULL: none) and `body` (NULL: none); fills *r (ht_free). */
void ht_request(int port, const char *method, const char *path,
                const char *token, const char *body, ht_resp_t *r);
void ht_free(ht_resp_t *r);

/* ht_request's status only. */
int ht_status(int port, const char *method, const char *path, const char *token,
              const char *body);

/* GET, expecting `status`; the body parsed as JSON (new reference). */
json_t *ht_get_json(int port, const char *path, const char *token, int status);

/* The port the service logged ("listening on http://127.0.0.1:PORT") in
 * log file `log`, waiting up to `secs`. */
int ht_port_from_log(const char *log, double secs);

/* sv_fx_new with an [http] section holding `http_lines` (e.g.
 * "listen = 127.0.0.1:0"). */
sv_fx_t *ht_service_new(int page_timeout, const char *http_lines);

/* A new token of `role` named `name` (`pagemill token add`) into out,
 * which holds 128 bytes. */
void ht_token(sv_fx_t *sv, const char *role, const char *name, char out[128]);

#endif /* PM_TESTS_HTTPLIB_H */
