/*
 * httplib.c: the tests' HTTP/1.0 client (httplib.h). Loopback only.
 */
#include "lib/httplib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/testlib.h"
#include "pipeline/base/pm.h"

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail_msg("send: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

static char *read_all(int fd, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = pm_malloc(cap + 1);
    ssize_t r;

    assert_non_null(buf);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = pm_realloc(buf, cap + 1);
            assert_non_null(buf);
        }
        r = recv(fd, buf + n, cap - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            fail_msg("recv: %s", strerror(errno));
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int connect_loopback(int port)
{
    struct sockaddr_in a = {0};
    struct timeval tv = {120, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        fail_msg("connect to 127.0.0.1:%d: %s", port, strerror(errno));
    return fd;
}

void ht_request(int port, const char *method, const char *path,
                const char *token, const char *body, ht_resp_t *r)
{
    char head[2048];
    char *raw, *split;
    size_t len;
    int fd = connect_loopback(port), n;

    n = snprintf(head, sizeof(head),
                 "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s%s%s"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                 method, path, token ? "Authorization: Bearer " : "",
                 token ? token : "", token ? "\r\n" : "",
                 body ? strlen(body) : 0);
    assert_true(n > 0 && (size_t)n < sizeof(head));
    send_all(fd, head, (size_t)n);
    if (body != NULL)
        send_all(fd, body, strlen(body));
    raw = read_all(fd, &len);
    close(fd);
    memset(r, 0, sizeof(*r));
    if (sscanf(raw, "HTTP/1.%*d %d", &r->status) != 1)
        fail_msg("%s %s: not an HTTP response: %.200s", method, path, raw);
    split = strstr(raw, "\r\n\r\n");
    assert_non_null(split);
    *split = '\0';
    r->headers = raw;
    r->body = split + 4;
    r->len = len - (size_t)(r->body - raw);
}

void ht_free(ht_resp_t *r)
{
    pm_free(r->headers); /* the one buffer */
    memset(r, 0, sizeof(*r));
}

int ht_status(int port, const char *method, const char *path, const char *token,
              const char *body)
{
    ht_resp_t r;
    int status;

    ht_request(port, method, path, token, body, &r);
    status = r.status;
    ht_free(&r);
    return status;
}

json_t *ht_get_json(int port, const char *path, const char *token, int status)
{
    json_error_t err;
    ht_resp_t r;
    json_t *doc;

    ht_request(port, "GET", path, token, NULL, &r);
    if (r.status != status)
        fail_msg("GET %s: status %d, wanted %d: %s", path, r.status, status,
                 r.body);
    doc = json_loadb(r.body, r.len, 0, &err);
    if (doc == NULL)
        fail_msg("GET %s: not JSON (%s): %.300s", path, err.text, r.body);
    ht_free(&r);
    return doc;
}

int ht_port_from_log(const char *log, double secs)
{
    static const char key[] = "listening on http://127.0.0.1:";
    struct timespec nap = {0, 50 * 1000000L};
    time_t until = time(NULL) + (time_t)secs;
    unsigned char *text = NULL;
    size_t len;
    const char *p;
    int port;

    for (;;) {
        if (pm_read_file(log, 1 << 24, &text, &len) == 0 &&
            (p = strstr((char *)text, key)) != NULL &&
            sscanf(p + strlen(key), "%d", &port) == 1) {
            pm_free(text);
            return port;
        }
        pm_free(text);
        text = NULL;
        if (time(NULL) > until)
            fail_msg("the service never logged its HTTP port in %s", log);
        nanosleep(&nap, NULL);
    }
}

sv_fx_t *ht_service_new(int page_timeout, const char *http_lines)
{
    char extra[512];

    snprintf(extra, sizeof(extra), "\n[http]\n%s\n", http_lines);
    return sv_fx_new(page_timeout, extra, NULL);
}

void ht_token(sv_fx_t *sv, const char *role, const char *name, char out[128])
{
    char args[128], *text;

    snprintf(args, sizeof(args), "token add --role %s --name %s", role, name);
    text = sv_cli_text(sv, args);
    assert_true(strncmp(text, "pmt_", 4) == 0);
    snprintf(out, 128, "%.*s", (int)strcspn(text, "\n"), text);
    pm_free(text);
}
