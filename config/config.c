/*
 * config.c: the INI reader (libinih) and validator behind config.h.
 *
 * inih hands us one (section, key, value) at a time; we feed it through a
 * reader that counts lines so each error can name its line. Every problem
 * is collected, not just the first, so `pagemill config check` can report
 * them all in one run. Checks that need the whole file (a hot folder's
 * profile may be defined further down) run after parsing and name the hot
 * folder's section line.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "config/config_int.h"
#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"

#define PROFILE_PREFIX   "profile "
#define HOTFOLDER_PREFIX "hotfolder "

/* Where a profile set the keys that are checked against its other keys
 * once its whole section is read: the line, or 0 when not set so. */
typedef struct profile_lines {
    int mrc;   /* `compression = mrc` */
    int pdfa1; /* `pdfa = 1b` */
} profile_lines_t;

typedef struct parse_state {
    pm_config_t *cfg;
    FILE *f;
    const char *path;
    int line;
    pm_buf_t errors; /* one line per problem */
    int nerrors;
    int oom;
    int read_errno;          /* the file could not be read (EISDIR, EIO...) */
    profile_lines_t *plines; /* per profile, for the cross-key checks */
    size_t nplines;
    int http_line;   /* line of the [http] header */
    int alerts_line; /* line of the [alerts] header */
} parse_state_t;

void pm_profile_defaults(pm_profile_t *p)
{
    memset(p, 0, sizeof(*p));
    strcpy(p->name, "default");
    strcpy(p->languages, "eng");
    p->ocr = 1;
    p->ocr_psm = 3; /* fully automatic, as the tesseract CLI */
    p->orient = 1;
    p->orient_min_confidence = 2.0;
    p->deskew = 1;
    p->deskew_max_angle = 16.0;
    p->deskew_min_confidence = 3.0;
    p->blank_ink_ratio = 0.0005;
    p->color_mode = PM_COLOR_AUTO;
    p->gray_codec = PM_CODEC_JPEG;
    /* IJG quality 55 has the quantisation tables of Ghostscript's default
     * (QFactor 0.9), which OCRmyPDF's PDF/A pages carry: the same image
     * quality per byte spent as that tool, not a notch above it. */
    p->jpeg_quality = 55;
    p->jp2_quality = 45;
    p->fallback_dpi = 300;
    p->max_pixels = 20000LL * 20000LL;
    p->pdf_text_redo = 0;
    p->pdf_dpi = 300;
    p->review_below_confidence = PM_REVIEW_BELOW_CONFIDENCE;
    p->pdfa_part = 2;
    p->bag = 1;
    snprintf(p->organization, sizeof(p->organization), "pagemill");
    p->tiff_master = PM_TIFF_G4_JPEG;
}

pm_config_t *pm_config_new(void)
{
    pm_config_t *cfg = pm_calloc(1, sizeof(*cfg));

    if (cfg == NULL)
        return NULL;
    cfg->workers = 0;
    cfg->local_workers = -1;
    cfg->page_timeout = 300;
    cfg->worker_memory_mb = 4096;
    cfg->max_attempts = PM_DEFAULT_MAX_ATTEMPTS;
    cfg->integrity_check_minutes = PM_DEFAULT_INTEGRITY_CHECK_MINUTES;
    cfg->icc_profile = pm_strdup(PM_DEFAULT_ICC);
    cfg->catalog = pm_strdup(PM_DEFAULT_CATALOG);
    cfg->spool = pm_strdup(PM_DEFAULT_SPOOL);
    cfg->output = pm_strdup(PM_DEFAULT_OUTPUT);
    cfg->billing_timezone = pm_strdup("UTC");
    cfg->http.host = pm_strdup(PM_DEFAULT_HTTP_HOST);
    cfg->http.port = PM_DEFAULT_HTTP_PORT;
    cfg->http.loopback = 1;
    cfg->http.min_free_mb = PM_DEFAULT_HTTP_MIN_FREE_MB;
    cfg->alerts.stall_minutes = PM_DEFAULT_ALERT_STALL_MINUTES;
    cfg->alerts.min_free_mb = PM_DEFAULT_ALERT_MIN_FREE_MB;
    cfg->alerts.worker_restarts = PM_DEFAULT_ALERT_WORKER_RESTARTS;
    cfg->alerts.repeat_minutes = PM_DEFAULT_ALERT_REPEAT_MINUTES;
    cfg->profiles = pm_calloc(1, sizeof(pm_profile_t));
    if (cfg->icc_profile == NULL || cfg->catalog == NULL ||
        cfg->spool == NULL || cfg->output == NULL ||
        cfg->billing_timezone == NULL || cfg->http.host == NULL ||
        cfg->profiles == NULL) {
        pm_config_free(cfg);
        return NULL;
    }
    pm_profile_defaults(&cfg->profiles[0]);
    cfg->nprofiles = 1;
    return cfg;
}

static void hotfolder_cfg_cleanup(pm_hotfolder_cfg_t *h)
{
    pm_free(h->name);
    pm_free(h->path);
    pm_free(h->profile);
    pm_free(h->account);
    pm_free(h->marker);
}

void pm_config_free(pm_config_t *cfg)
{
    if (cfg == NULL)
        return;
    pm_free(cfg->icc_profile);
    pm_free(cfg->catalog);
    pm_free(cfg->spool);
    pm_free(cfg->output);
    pm_free(cfg->tessdata);
    pm_free(cfg->billing_timezone);
    pm_free(cfg->billing_issuer);
    pm_free(cfg->source);
    pm_free(cfg->http.host);
    pm_free(cfg->http.token_file);
    pm_free(cfg->http.cert);
    pm_free(cfg->http.key);
    pm_free(cfg->alerts.command);
    pm__config_invoice_cleanup(&cfg->invoice);
    pm_free(cfg->profiles);
    for (size_t i = 0; i < cfg->nhotfolders; i++)
        hotfolder_cfg_cleanup(&cfg->hotfolders[i]);
    pm_free(cfg->hotfolders);
    pm_free(cfg);
}

const pm_profile_t *pm_config_profile(const pm_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nprofiles; i++)
        if (strcmp(cfg->profiles[i].name, name) == 0)
            return &cfg->profiles[i];
    return NULL;
}

const pm_hotfolder_cfg_t *pm_config_hotfolder(const pm_config_t *cfg,
                                              const char *name)
{
    for (size_t i = 0; i < cfg->nhotfolders; i++)
        if (strcmp(cfg->hotfolders[i].name, name) == 0)
            return &cfg->hotfolders[i];
    return NULL;
}

static const char *color_names[] = {"auto", "bitonal", "gray"};
static const char *codec_names[] = {"jpeg", "jp2"};
static const char *compression_names[] = {"plain", "mrc"};

const char *pm_color_mode_name(pm_color_mode_t m)
{
    return (unsigned)m < 3 ? color_names[m] : "?";
}

const char *pm_gray_codec_name(pm_gray_codec_t c)
{
    return (unsigned)c < 2 ? codec_names[c] : "?";
}

const char *pm_compression_name(pm_compression_t c)
{
    return (unsigned)c < 2 ? compression_names[c] : "?";
}

int pm_compression_parse(const char *s)
{
    for (int i = 0; i < 2; i++)
        if (strcasecmp(s, compression_names[i]) == 0)
            return i;
    return -1;
}

static const char *tiff_master_names[] = {"off", "g4+jpeg", "g4+deflate"};

const char *pm_tiff_master_name(pm_tiff_master_t t)
{
    return (unsigned)t < 3 ? tiff_master_names[t] : "?";
}

int pm_tiff_master_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (strcasecmp(s, tiff_master_names[i]) == 0)
            return i;
    return -1;
}

int pm_color_mode_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (strcasecmp(s, color_names[i]) == 0)
            return i;
    return -1;
}

int pm_gray_codec_parse(const char *s)
{
    for (int i = 0; i < 2; i++)
        if (strcasecmp(s, codec_names[i]) == 0)
            return i;
    return -1;
}

/* ---- error collection ---- */

static void add_error(parse_state_t *st, const char *section, const char *key,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_error_v(parse_state_t *st, const char *section, const char *key,
                        const char *fmt, va_list ap)
{
    pm_buf_printf(&st->errors, "%s:%d: [%s] %s: ", st->path, st->line, section,
                  key);
    pm_buf_vprintf(&st->errors, fmt, ap);
    pm_buf_puts(&st->errors, "\n");
    st->oom |= st->errors.oom;
    st->nerrors++;
}

static void add_error(parse_state_t *st, const char *section, const char *key,
                      const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    add_error_v(st, section, key, fmt, ap);
    va_end(ap);
}

/* ---- value parsers: 0 on success ---- */

static int parse_bool(const char *v, int *out)
{
    static const char *yes[] = {"yes", "true", "on", "1"};
    static const char *no[] = {"no", "false", "off", "0"};

    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int parse_ll(const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    long long x;

    errno = 0;
    x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int parse_int(const char *v, int lo, int hi, int *out)
{
    long long x;

    if (parse_ll(v, lo, hi, &x) != 0)
        return -1;
    *out = (int)x;
    return 0;
}

static int parse_double(const char *v, double lo, double hi, double *out)
{
    char *end;
    double x;

    errno = 0;
    x = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !(x >= lo && x <= hi))
        return -1;
    *out = x;
    return 0;
}

static int valid_languages(const char *v)
{
    size_t n = strlen(v);

    if (n == 0 || n >= PM_LANGS_MAX)
        return 0;
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '+'))
            return 0;
    return v[0] != '+' && v[n - 1] != '+';
}

/* ---- sections ---- */

static int set_string(char **dst, const char *v)
{
    char *s = pm_strdup(v);

    if (s == NULL)
        return PM_ENOMEM;
    pm_free(*dst);
    *dst = s;
    return 0;
}

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
            add_error(st, "pagemill", key, "must name %s", k->what);
        else if (set_string((char **)((char *)st->cfg + k->offset), v) != 0)
            st->oom = 1;
        return 1;
    }
    return 0;
}

static void global_key(parse_state_t *st, const char *key, const char *v)
{
    pm_config_t *cfg = st->cfg;
    const char *sec = "pagemill";

    if (strcmp(key, "workers") == 0) {
        if (parse_int(v, 0, 256, &cfg->workers) != 0)
            add_error(st, sec, key,
                      "expected 0..256 (0: one per core), "
                      "got '%s'",
                      v);
    } else if (strcmp(key, "local_workers") == 0) {
        if (parse_int(v, 0, 256, &cfg->local_workers) != 0)
            add_error(st, sec, key,
                      "expected 0..256 (0: pages only on agents), got '%s'", v);
    } else if (strcmp(key, "page_timeout") == 0) {
        if (parse_int(v, 1, 86400, &cfg->page_timeout) != 0)
            add_error(st, sec, key, "expected seconds 1..86400, got '%s'", v);
    } else if (strcmp(key, "worker_memory_mb") == 0) {
        if (parse_int(v, 0, 1 << 20, &cfg->worker_memory_mb) != 0)
            add_error(st, sec, key, "expected MiB 0..1048576, got '%s'", v);
    } else if (strcmp(key, "max_attempts") == 0) {
        if (parse_int(v, 1, 100, &cfg->max_attempts) != 0)
            add_error(st, sec, key, "expected 1..100, got '%s'", v);
    } else if (strcmp(key, "integrity_check_minutes") == 0) {
        if (parse_int(v, 0, 10080, &cfg->integrity_check_minutes) != 0)
            add_error(st, sec, key,
                      "expected minutes 0..10080 (0: only at start), got '%s'",
                      v);
    } else if (!global_string_key(st, key, v)) {
        add_error(st, sec, key, "unknown key");
    }
}

/* [catalog] url: the catalog's database, a postgresql:// URL or a file
 * (the same as [pagemill] catalog; the later line wins). */
static void catalog_key(parse_state_t *st, const char *key, const char *v)
{
    if (strcmp(key, "url") != 0)
        add_error(st, "catalog", key, "unknown key");
    else if (*v == '\0')
        add_error(st, "catalog", key, "must name the catalog's database");
    else if (set_string(&st->cfg->catalog, v) != 0)
        st->oom = 1;
}

static void billing_key(parse_state_t *st, const char *key, const char *v)
{
    pm_config_t *cfg = st->cfg;

    if (strcmp(key, "timezone") == 0) {
        if (!pm_timezone_valid(v))
            add_error(st, "billing", key,
                      "expected UTC or a zone under /usr/share/zoneinfo "
                      "such as America/Chicago, got '%s'",
                      v);
        else if (set_string(&cfg->billing_timezone, v) != 0)
            st->oom = 1;
    } else if (strcmp(key, "issuer") == 0) {
        if (set_string(&cfg->billing_issuer, v) != 0)
            st->oom = 1;
    } else {
        add_error(st, "billing", key, "unknown key");
    }
}

static void nonempty_string(parse_state_t *st, const char *section,
                            const char *key, char **dst, const char *v,
                            const char *what);

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

    if (colon == NULL || parse_int(colon + 1, 0, 65535, &port) != 0)
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
    if (set_string(&h->host, host) != 0) {
        *oom = 1;
        return 0;
    }
    h->port = port;
    h->loopback =
        v6 ? IN6_IS_ADDR_LOOPBACK(&a6) : (ntohl(a4.s_addr) >> 24) == 127;
    return 0;
}

static void http_key(parse_state_t *st, const char *key, const char *v)
{
    pm_http_cfg_t *h = &st->cfg->http;
    const char *sec = "http";

    if (strcmp(key, "listen") == 0) {
        if (parse_listen(h, v, &st->oom) != 0)
            add_error(st, sec, key,
                      "expected HOST:PORT with an IPv4 address or [IPv6] "
                      "address and a port 0..65535 (0: any free port, "
                      "logged; e.g. 127.0.0.1:8080), "
                      "got '%s'",
                      v);
    } else if (strcmp(key, "token_file") == 0) {
        nonempty_string(st, sec, key, &h->token_file, v,
                        "a file of tokens (leave the key out for none)");
    } else if (strcmp(key, "cert") == 0) {
        nonempty_string(st, sec, key, &h->cert, v, "a PEM certificate file");
    } else if (strcmp(key, "key") == 0) {
        nonempty_string(st, sec, key, &h->key, v, "a PEM private key file");
    } else if (strcmp(key, "min_free_mb") == 0) {
        if (parse_int(v, 0, 1 << 24, &h->min_free_mb) != 0)
            add_error(st, sec, key, "expected MiB 0..16777216, got '%s'", v);
    } else {
        add_error(st, sec, key, "unknown key");
    }
}

static pm_profile_t *profile_for(parse_state_t *st, const char *name)
{
    pm_config_t *cfg = st->cfg;
    pm_profile_t *grown;

    for (size_t i = 0; i < cfg->nprofiles; i++)
        if (strcmp(cfg->profiles[i].name, name) == 0)
            return &cfg->profiles[i];
    grown =
        pm_realloc(cfg->profiles, (cfg->nprofiles + 1) * sizeof(pm_profile_t));
    if (grown == NULL) {
        st->oom = 1;
        return NULL;
    }
    cfg->profiles = grown;
    pm_profile_defaults(&grown[cfg->nprofiles]);
    snprintf(grown[cfg->nprofiles].name, PM_PROFILE_NAME_MAX, "%s", name);
    return &grown[cfg->nprofiles++];
}

/* The lines of profile `p`'s cross-checked keys (grown on first use), or
 * NULL when memory ran out. */
static profile_lines_t *profile_lines(parse_state_t *st, const pm_profile_t *p)
{
    size_t i = (size_t)(p - st->cfg->profiles);

    assert(i < st->cfg->nprofiles);
    if (i >= st->nplines) {
        profile_lines_t *grown =
            pm_realloc(st->plines, (i + 1) * sizeof(*grown));

        if (grown == NULL) {
            st->oom = 1;
            return NULL;
        }
        memset(grown + st->nplines, 0, (i + 1 - st->nplines) * sizeof(*grown));
        st->plines = grown;
        st->nplines = i + 1;
    }
    return &st->plines[i];
}

static void profile_key(parse_state_t *st, const char *section, pm_profile_t *p,
                        const char *key, const char *v)
{
    profile_lines_t *pl;
    int x;

    if (strcmp(key, "languages") == 0) {
        if (!valid_languages(v))
            add_error(st, section, key,
                      "expected Tesseract languages like 'eng' or "
                      "'eng+deu', got '%s'",
                      v);
        else
            snprintf(p->languages, sizeof(p->languages), "%s", v);
    } else if (strcmp(key, "ocr") == 0) {
        if (parse_bool(v, &p->ocr) != 0)
            add_error(st, section, key, "expected yes or no, got '%s'", v);
    } else if (strcmp(key, "ocr_psm") == 0) {
        if (parse_int(v, 1, 13, &p->ocr_psm) != 0 || p->ocr_psm == 2)
            add_error(st, section, key,
                      "expected a Tesseract page segmentation mode 1, 3..13, "
                      "got '%s'",
                      v);
    } else if (strcmp(key, "orient") == 0) {
        if (parse_bool(v, &p->orient) != 0)
            add_error(st, section, key, "expected yes or no, got '%s'", v);
    } else if (strcmp(key, "orient_min_confidence") == 0) {
        if (parse_double(v, 0, 100, &p->orient_min_confidence) != 0)
            add_error(st, section, key, "expected 0..100, got '%s'", v);
    } else if (strcmp(key, "deskew") == 0) {
        if (parse_bool(v, &p->deskew) != 0)
            add_error(st, section, key, "expected yes or no, got '%s'", v);
    } else if (strcmp(key, "deskew_max_angle") == 0) {
        if (parse_double(v, 1, 45, &p->deskew_max_angle) != 0)
            add_error(st, section, key, "expected degrees 1..45, got '%s'", v);
    } else if (strcmp(key, "deskew_min_confidence") == 0) {
        if (parse_double(v, 0, 100, &p->deskew_min_confidence) != 0)
            add_error(st, section, key, "expected 0..100, got '%s'", v);
    } else if (strcmp(key, "blank_ink_ratio") == 0) {
        if (parse_double(v, 0, 0.5, &p->blank_ink_ratio) != 0)
            add_error(st, section, key,
                      "expected a fraction 0..0.5 (0.0005 = 0.05%% ink), "
                      "got '%s'",
                      v);
    } else if (strcmp(key, "color_mode") == 0) {
        if ((x = pm_color_mode_parse(v)) < 0)
            add_error(st, section, key,
                      "expected auto, bitonal or gray, got '%s'", v);
        else
            p->color_mode = (pm_color_mode_t)x;
    } else if (strcmp(key, "gray_codec") == 0) {
        if ((x = pm_gray_codec_parse(v)) < 0)
            add_error(st, section, key, "expected jpeg or jp2, got '%s'", v);
        else
            p->gray_codec = (pm_gray_codec_t)x;
    } else if (strcmp(key, "compression") == 0) {
        if ((x = pm_compression_parse(v)) < 0)
            add_error(st, section, key, "expected plain or mrc, got '%s'", v);
        else
            p->compression = (pm_compression_t)x;
        if ((pl = profile_lines(st, p)) != NULL)
            pl->mrc = x == PM_COMPRESS_MRC ? st->line : 0;
    } else if (strcmp(key, "jpeg_quality") == 0) {
        if (parse_int(v, 1, 100, &p->jpeg_quality) != 0)
            add_error(st, section, key, "expected 1..100, got '%s'", v);
    } else if (strcmp(key, "jp2_quality") == 0) {
        if (parse_int(v, 1, 100, &p->jp2_quality) != 0)
            add_error(st, section, key, "expected 1..100, got '%s'", v);
    } else if (strcmp(key, "fallback_dpi") == 0) {
        if (parse_int(v, 50, 2400, &p->fallback_dpi) != 0)
            add_error(st, section, key, "expected dpi 50..2400, got '%s'", v);
    } else if (strcmp(key, "max_pixels") == 0) {
        if (parse_ll(v, 1, 1000000LL * 1000000LL, &p->max_pixels) != 0)
            add_error(st, section, key, "expected a pixel count, got '%s'", v);
    } else if (strcmp(key, "pdfa") == 0) {
        if (strcasecmp(v, "1b") == 0 || strcasecmp(v, "2b") == 0)
            p->pdfa_part = v[0] - '0';
        else
            add_error(st, section, key, "expected 1b or 2b, got '%s'", v);
        if ((pl = profile_lines(st, p)) != NULL)
            pl->pdfa1 = p->pdfa_part == 1 ? st->line : 0;
    } else if (strcmp(key, "bag") == 0) {
        if (parse_bool(v, &p->bag) != 0)
            add_error(st, section, key, "expected yes or no, got '%s'", v);
    } else if (strcmp(key, "organization") == 0) {
        if (strlen(v) >= sizeof(p->organization))
            add_error(st, section, key, "expected up to %zu bytes",
                      sizeof(p->organization) - 1);
        else
            snprintf(p->organization, sizeof(p->organization), "%s", v);
    } else if (strcmp(key, "keep_days") == 0) {
        if (parse_int(v, 0, 100000, &p->keep_days) != 0)
            add_error(st, section, key, "expected days 0..100000, got '%s'", v);
    } else if (strcmp(key, "tiff_master") == 0) {
        if ((x = pm_tiff_master_parse(v)) < 0)
            add_error(st, section, key,
                      "expected off, g4+jpeg or g4+deflate, got '%s'", v);
        else
            p->tiff_master = (pm_tiff_master_t)x;
    } else if (strcmp(key, "bill_blank") == 0) {
        if (parse_bool(v, &p->bill_blank) != 0)
            add_error(st, section, key, "expected yes or no, got '%s'", v);
    } else if (strcmp(key, "pdf_text") == 0) {
        if (strcmp(v, "refuse") == 0 || strcmp(v, "redo") == 0)
            p->pdf_text_redo = strcmp(v, "redo") == 0;
        else
            add_error(st, section, key, "expected refuse or redo, got '%s'", v);
    } else if (strcmp(key, "pdf_dpi") == 0) {
        if (parse_int(v, 72, 1200, &p->pdf_dpi) != 0)
            add_error(st, section, key, "expected dpi 72..1200, got '%s'", v);
    } else if (strcmp(key, "review_below_confidence") == 0) {
        if (parse_double(v, 0, 100, &p->review_below_confidence) != 0)
            add_error(st, section, key,
                      "expected a mean word confidence 0..100 (0: no "
                      "confidence flag), got '%s'",
                      v);
    } else {
        add_error(st, section, key, "unknown key");
    }
}

/* ---- [hotfolder NAME] ---- */

/* Returns the hot folder named `name`, adding one with the defaults (and
 * the current line as its section line) the first time. */
static pm_hotfolder_cfg_t *hotfolder_for(parse_state_t *st, const char *name)
{
    pm_config_t *cfg = st->cfg;
    pm_hotfolder_cfg_t *grown, *h;

    for (size_t i = 0; i < cfg->nhotfolders; i++)
        if (strcmp(cfg->hotfolders[i].name, name) == 0)
            return &cfg->hotfolders[i];
    grown = pm_realloc(cfg->hotfolders,
                       (cfg->nhotfolders + 1) * sizeof(pm_hotfolder_cfg_t));
    if (grown == NULL) {
        st->oom = 1;
        return NULL;
    }
    cfg->hotfolders = grown;
    h = &grown[cfg->nhotfolders];
    memset(h, 0, sizeof(*h));
    h->name = pm_strdup(name);
    h->profile = pm_strdup("default");
    h->marker = pm_strdup(PM_DEFAULT_MARKER);
    h->settle_seconds = PM_DEFAULT_SETTLE;
    h->line = st->line;
    if (h->name == NULL || h->profile == NULL || h->marker == NULL) {
        hotfolder_cfg_cleanup(h);
        st->oom = 1;
        return NULL;
    }
    cfg->nhotfolders++;
    return h;
}

/* marker = none (settle mode) or a plain file name inside the batch. */
static void hotfolder_marker(parse_state_t *st, const char *section,
                             pm_hotfolder_cfg_t *h, const char *v)
{
    if (strcasecmp(v, "none") == 0) {
        pm_free(h->marker);
        h->marker = NULL;
    } else if (*v == '\0' || strchr(v, '/') != NULL || strcmp(v, ".") == 0 ||
               strcmp(v, "..") == 0) {
        add_error(st, section, "marker",
                  "expected a file name inside the batch folder (like "
                  "batch.ini) or none, got '%s'",
                  v);
    } else if (set_string(&h->marker, v) != 0) {
        st->oom = 1;
    }
}

/* A key whose value must not be empty; NULL-safe on out of memory. */
static void nonempty_string(parse_state_t *st, const char *section,
                            const char *key, char **dst, const char *v,
                            const char *what)
{
    if (*v == '\0')
        add_error(st, section, key, "must name %s", what);
    else if (set_string(dst, v) != 0)
        st->oom = 1;
}

static void hotfolder_key(parse_state_t *st, const char *section,
                          pm_hotfolder_cfg_t *h, const char *key, const char *v)
{
    if (strcmp(key, "path") == 0) {
        nonempty_string(st, section, key, &h->path, v, "the folder to watch");
    } else if (strcmp(key, "profile") == 0) {
        nonempty_string(st, section, key, &h->profile, v, "a profile");
    } else if (strcmp(key, "account") == 0) {
        nonempty_string(st, section, key, &h->account, v,
                        "an account code (leave the key out for none)");
    } else if (strcmp(key, "marker") == 0) {
        hotfolder_marker(st, section, h, v);
    } else if (strcmp(key, "settle_seconds") == 0) {
        if (parse_int(v, 1, 3600, &h->settle_seconds) != 0)
            add_error(st, section, key, "expected seconds 1..3600, got '%s'",
                      v);
    } else if (strcmp(key, "hold_unknown") == 0) {
        if (parse_bool(v, &h->hold_unknown) != 0)
            add_error(st, section, key, "expected yes or no, got '%s'", v);
    } else {
        add_error(st, section, key, "unknown key");
    }
}

static void hotfolder_entry(parse_state_t *st, const char *section,
                            const char *key, const char *value)
{
    const char *name = "";
    pm_hotfolder_cfg_t *h;

    if (strlen(section) > strlen(HOTFOLDER_PREFIX))
        name = section + strlen(HOTFOLDER_PREFIX);
    if (*name == '\0') {
        add_error(st, section, key, "expected [hotfolder NAME]");
        return;
    }
    h = hotfolder_for(st, name);
    if (h != NULL)
        hotfolder_key(st, section, h, key, value);
}

/* ---- whole-file checks ---- */

#define PATH_BUF 4096

/* Copies `path` into `buf` without "." parts and doubled or trailing
 * slashes, so one folder written two ways compares equal. */
static void path_normalize(const char *path, char *buf, size_t size)
{
    const char *p = path;
    size_t n = 0, len;

    if (*p == '/')
        buf[n++] = '/';
    for (;;) {
        while (*p == '/')
            p++;
        len = strcspn(p, "/");
        if (len == 0)
            break;
        if (!(len == 1 && *p == '.')) {
            if (n > 0 && buf[n - 1] != '/' && n + 1 < size)
                buf[n++] = '/';
            if (n + len >= size)
                len = size - n - 1;
            memcpy(buf + n, p, len);
            n += len;
        }
        p += len;
    }
    if (n == 0)
        buf[n++] = '.';
    buf[n] = '\0';
}

/* True when folder `a` is `b` or inside it (both normalized). Relative
 * and absolute paths are not compared: that needs the filesystem. */
static int path_within(const char *a, const char *b)
{
    size_t n = strlen(b);

    if ((a[0] == '/') != (b[0] == '/'))
        return 0;
    if (strcmp(b, "/") == 0 || strcmp(b, ".") == 0)
        return 1;
    return strncmp(a, b, n) == 0 && (a[n] == '/' || a[n] == '\0');
}

/* Reports a problem found after parsing against `h`'s section line. */
static void hotfolder_error(parse_state_t *st, const pm_hotfolder_cfg_t *h,
                            const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void hotfolder_error(parse_state_t *st, const pm_hotfolder_cfg_t *h,
                            const char *key, const char *fmt, ...)
{
    char section[512];
    va_list ap;

    snprintf(section, sizeof(section), HOTFOLDER_PREFIX "%s", h->name);
    st->line = h->line;
    va_start(ap, fmt);
    add_error_v(st, section, key, fmt, ap);
    va_end(ap);
}

/* Hot folder `i` must not be, hold or sit inside an earlier one, nor hold
 * the spool or output folders: a scan would take them as batches. */
static void check_overlaps(parse_state_t *st, size_t i)
{
    const pm_config_t *cfg = st->cfg;
    const pm_hotfolder_cfg_t *h = &cfg->hotfolders[i], *o;
    char a[PATH_BUF], b[PATH_BUF];

    path_normalize(h->path, a, sizeof(a));
    for (size_t j = 0; j < i; j++) {
        o = &cfg->hotfolders[j];
        if (o->path == NULL)
            continue;
        path_normalize(o->path, b, sizeof(b));
        if (strcmp(a, b) == 0)
            hotfolder_error(st, h, "path",
                            "same folder as [hotfolder %s] (line %d)", o->name,
                            o->line);
        else if (path_within(a, b) || path_within(b, a))
            hotfolder_error(st, h, "path",
                            "'%s' and [hotfolder %s] (line %d) are nested; hot "
                            "folders must not be inside one another",
                            h->path, o->name, o->line);
    }
    path_normalize(cfg->spool, b, sizeof(b));
    if (path_within(b, a))
        hotfolder_error(st, h, "path",
                        "holds the spool folder '%s'; put [pagemill] spool "
                        "outside every hot folder",
                        cfg->spool);
    path_normalize(cfg->output, b, sizeof(b));
    if (path_within(b, a))
        hotfolder_error(st, h, "path",
                        "holds the output folder '%s'; put [pagemill] output "
                        "outside every hot folder",
                        cfg->output);
}

/* What needs the whole file: a profile may be defined after the hot
 * folder that names it. */
static void check_hotfolders(parse_state_t *st)
{
    const pm_config_t *cfg = st->cfg;

    for (size_t i = 0; i < cfg->nhotfolders; i++) {
        const pm_hotfolder_cfg_t *h = &cfg->hotfolders[i];

        if (pm_config_profile(cfg, h->profile) == NULL)
            hotfolder_error(st, h, "profile",
                            "no [profile %s] in this file (the built-in "
                            "profile is 'default')",
                            h->profile);
        if (h->path == NULL)
            hotfolder_error(st, h, "path", "required: the folder to watch");
        else
            check_overlaps(st, i);
    }
}

/* `compression = mrc` splits gray and colour pages into a G4 mask and a
 * JPEG background: a profile that makes every page bitonal has no page it
 * applies to, and one that asks for JPEG 2000 asks for another codec.
 * PDF/A-1 (ISO 19005-1) knows no JPEG 2000 (/JPXDecode): `pdfa = 1b`
 * with `gray_codec = jp2` could never be met. */
static void check_profiles(parse_state_t *st)
{
    const pm_config_t *cfg = st->cfg;
    char section[PM_PROFILE_NAME_MAX + 16];

    for (size_t i = 0; i < st->nplines && i < cfg->nprofiles; i++) {
        const pm_profile_t *p = &cfg->profiles[i];
        const profile_lines_t *pl = &st->plines[i];

        snprintf(section, sizeof(section), PROFILE_PREFIX "%s", p->name);
        if (pl->mrc != 0 && p->compression == PM_COMPRESS_MRC) {
            st->line = pl->mrc;
            if (p->color_mode == PM_COLOR_BITONAL)
                add_error(st, section, "compression",
                          "mrc applies to gray and colour pages, but "
                          "color_mode = bitonal makes every page bitonal "
                          "(G4); use compression = plain or another "
                          "color_mode");
            if (p->gray_codec == PM_CODEC_JP2)
                add_error(st, section, "compression",
                          "mrc stores the background as JPEG; set gray_codec "
                          "= jpeg (or leave it out) with compression = mrc");
        }
        if (pl->pdfa1 != 0 && p->pdfa_part == 1 &&
            p->gray_codec == PM_CODEC_JP2) {
            st->line = pl->pdfa1;
            add_error(st, section, "pdfa",
                      "PDF/A-1 does not allow JPEG 2000 images; set "
                      "gray_codec = jpeg (or leave it out) with pdfa = 1b, "
                      "or use pdfa = 2b");
        }
    }
}

static void alerts_key(parse_state_t *st, const char *key, const char *v)
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
        nonempty_string(st, "alerts", key, &a->command, v,
                        "a command run with the alert as JSON on stdin");
        return;
    }
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        int *dst = (int *)(void *)((char *)a + nums[i].off);
        int min = strcmp(key, "repeat_minutes") == 0;

        if (strcmp(key, nums[i].key) != 0)
            continue;
        if (parse_int(v, min, nums[i].max, dst) != 0)
            add_error(st, "alerts", key, "expected %s, got '%s'",
                      nums[i].expected, v);
        return;
    }
    add_error(st, "alerts", key, "unknown key");
}

/* An [alerts] section must say what to run. */
static void check_alerts(parse_state_t *st)
{
    if (st->cfg->alerts.enabled && st->cfg->alerts.command == NULL) {
        st->line = st->alerts_line;
        add_error(st, "alerts", "command",
                  "missing: the command to run for each alert");
    }
}

/* TLS needs both files. */
static void check_http(parse_state_t *st)
{
    const pm_http_cfg_t *h = &st->cfg->http;

    if ((h->cert == NULL) != (h->key == NULL)) {
        st->line = st->http_line;
        add_error(st, "http", h->cert ? "key" : "cert",
                  "TLS needs both cert and key");
    }
}

/* [invoice] and [archive] (config_ops.c). */
static void ops_key(parse_state_t *st, const char *section, const char *key,
                    const char *v)
{
    char why[256];
    int err = section[0] == 'i'
                  ? pm__config_invoice_key(st->cfg, key, v, why, sizeof(why))
                  : pm__config_archive_key(st->cfg, key, v, why, sizeof(why));

    if (err == PM_ENOMEM)
        st->oom = 1;
    else if (err != 0)
        add_error(st, section, key, "%s", why);
}

static int on_entry(void *user, const char *section, const char *key,
                    const char *value)
{
    parse_state_t *st = user;

    if (strcmp(section, "pagemill") == 0) {
        global_key(st, key, value);
    } else if (strncmp(section, PROFILE_PREFIX, strlen(PROFILE_PREFIX)) == 0) {
        const char *name = section + strlen(PROFILE_PREFIX);
        if (*name == '\0' || strlen(name) >= PM_PROFILE_NAME_MAX) {
            add_error(st, section, key, "profile name must be 1..63 chars");
            return 1;
        }
        pm_profile_t *p = profile_for(st, name);
        if (p != NULL)
            profile_key(st, section, p, key, value);
    } else if (strncmp(section, HOTFOLDER_PREFIX, strlen(HOTFOLDER_PREFIX)) ==
                   0 ||
               strcmp(section, "hotfolder") == 0) {
        hotfolder_entry(st, section, key, value);
    } else if (strcmp(section, "billing") == 0) {
        billing_key(st, key, value);
    } else if (strcmp(section, "catalog") == 0) {
        catalog_key(st, key, value);
    } else if (strcmp(section, "http") == 0) {
        st->cfg->http.enabled = 1;
        http_key(st, key, value);
    } else if (strcmp(section, "alerts") == 0) {
        alerts_key(st, key, value);
    } else if (strcmp(section, "invoice") == 0 ||
               strcmp(section, "archive") == 0) {
        ops_key(st, section, key, value);
    } else if (*section == '\0') {
        add_error(st, "", key, "key outside any section");
    } else {
        add_error(st, section, key,
                  "unknown section (expected [pagemill], [catalog], "
                  "[billing], [invoice], [http], [alerts], [archive], "
                  "[profile NAME] or [hotfolder NAME])");
    }
    return 1; /* keep going: report every error */
}

/* The longest section name inih keeps whole (its INI_MAX_SECTION). */
#define INI_SECTION_MAX 50

/*
 * Sees a "[section]" line before inih does. inih cuts long section names
 * silently (a cut profile name would not be found by the name the
 * operator wrote), so those are refused here. A hot folder is registered
 * at its header line, so that one without any keys is still checked and
 * later errors can name the header.
 */
static void section_header(parse_state_t *st, char *r)
{
    char *open = r + strspn(r, " \t") + 1;
    char *close = strchr(open, ']');
    char name[INI_SECTION_MAX];
    size_t n;

    if (close == NULL)
        return; /* inih reports the syntax error */
    n = (size_t)(close - open);
    if (n >= INI_SECTION_MAX) {
        add_error(st, "?", "?", "section name longer than %d characters",
                  INI_SECTION_MAX - 1);
        r[0] = '\0';
        return;
    }
    memcpy(name, open, n);
    name[n] = '\0';
    if (strcmp(name, "http") == 0) { /* on even with no keys */
        st->cfg->http.enabled = 1;
        st->http_line = st->line;
    }
    if (strcmp(name, "alerts") == 0) {
        st->cfg->alerts.enabled = 1;
        st->alerts_line = st->line;
    }
    if (strncmp(name, HOTFOLDER_PREFIX, strlen(HOTFOLDER_PREFIX)) == 0 &&
        name[strlen(HOTFOLDER_PREFIX)] != '\0')
        (void)hotfolder_for(st, name + strlen(HOTFOLDER_PREFIX));
}

static char *counting_reader(char *str, int num, void *stream)
{
    parse_state_t *st = stream;
    char *r = fgets(str, num, st->f);
    size_t n;
    int c;

    if (r == NULL) {
        if (ferror(st->f))
            st->read_errno = errno ? errno : EIO;
        return NULL;
    }
    st->line++;
    n = strlen(r);
    if (n > 0 && r[n - 1] != '\n' && !feof(st->f)) {
        /* Longer than inih's buffer: inih would read the rest as a line
         * of its own. Drop it, keep the count, say so. */
        while ((c = fgetc(st->f)) != EOF && c != '\n')
            ;
        add_error(st, "?", "?", "line longer than %d characters", num - 2);
        r[0] = '\0';
        return r;
    }
    if (r[strspn(r, " \t")] == '[')
        section_header(st, r);
    return r;
}

/* ---- paths: relative to the configuration file's folder ---- */

/* True when `v` starts with a URL scheme ("postgresql://..."): not a
 * path, so never taken relative to anything. */
static int is_url(const char *v)
{
    size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");

    return n > 0 && strncmp(v + n, "://", 3) == 0;
}

/* `*p` made absolute against `dir` when it is relative (NULL, empty and
 * absolute values, and URLs, stay); 0, or PM_ENOMEM. */
static int resolve_one(const char *dir, char **p)
{
    char *abs;

    if (*p == NULL || (*p)[0] == '\0' || (*p)[0] == '/' || is_url(*p))
        return 0;
    abs = pm_asprintf("%s/%s", dir, *p);
    if (abs == NULL)
        return PM_ENOMEM;
    pm_free(*p);
    *p = abs;
    return 0;
}

/* The folder of the file at `path`, absolute (the current folder when
 * `path` names none), or NULL when out of memory or it cannot be found. */
static char *config_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash == NULL ? pm_strdup(".")
                : slash == path
                    ? pm_strdup("/")
                    : pm_asprintf("%.*s", (int)(slash - path), path);
    char *real = dir != NULL ? realpath(dir, NULL) : NULL;
    char *out = real != NULL ? pm_strdup(real) : dir;

    free(real); /* realpath's own allocation */
    if (out != dir)
        pm_free(dir);
    return out;
}

/* Every file and folder the configuration names, defaults included,
 * taken relative to the folder of the file, never the current folder:
 * `serve` under systemd and `status` from a shell read the same paths. */
static void resolve_paths(parse_state_t *st)
{
    pm_config_t *c = st->cfg;
    char *dir = config_dir(st->path);
    char **const keys[] = {&c->catalog,   &c->icc_profile, &c->tessdata,
                           &c->spool,     &c->output,      &c->http.token_file,
                           &c->http.cert, &c->http.key};
    int err = 0;

    if (dir == NULL) {
        st->oom = 1;
        return;
    }
    for (size_t i = 0; err == 0 && i < sizeof(keys) / sizeof(keys[0]); i++)
        err = resolve_one(dir, keys[i]);
    for (size_t i = 0; err == 0 && i < c->nhotfolders; i++)
        err = resolve_one(dir, &c->hotfolders[i].path);
    st->oom |= err != 0;
    pm_free(dir);
}

int pm_config_load_or_defaults(const char *who, const char *path,
                               pm_config_t **out)
{
    char *errors = NULL;
    int err;

    assert(who != NULL && out != NULL);
    if (path == NULL) {
        *out = pm_config_new();
        err = *out != NULL ? 0 : PM_ENOMEM;
    } else {
        err = pm_config_load(path, out, &errors);
    }
    if (err != 0 && errors != NULL)
        fprintf(stderr, "%s", errors);
    else if (err != 0)
        fprintf(stderr, "pagemill %s: %s: %s\n", who,
                path != NULL ? path : "built-in defaults", pm_strerror(err));
    pm_free(errors);
    return err;
}

int pm_config_load(const char *path, pm_config_t **out, char **errors)
{
    parse_state_t st;
    int rc;

    *out = NULL;
    *errors = NULL;
    memset(&st, 0, sizeof(st));
    st.path = path;
    st.f = fopen(path, "r");
    if (st.f == NULL) {
        int err = -errno;
        *errors = pm_asprintf("%s: cannot read: %s\n", path, strerror(-err));
        return err;
    }
    st.cfg = pm_config_new();
    if (st.cfg == NULL) {
        fclose(st.f);
        return PM_ENOMEM;
    }
    rc = ini_parse_stream(counting_reader, &st, on_entry, &st);
    fclose(st.f);
    if (st.read_errno != 0) {
        pm_buf_cleanup(&st.errors);
        pm_config_free(st.cfg);
        *errors =
            pm_asprintf("%s: cannot read: %s\n", path, strerror(st.read_errno));
        return -st.read_errno;
    }
    if (rc > 0) {
        st.line = rc;
        add_error(&st, "?", "?",
                  "syntax error (expected [section] or "
                  "key = value)");
    }
    if (!st.oom)
        resolve_paths(&st);
    if (!st.oom)
        check_hotfolders(&st);
    if (!st.oom)
        check_profiles(&st);
    if (!st.oom)
        check_http(&st);
    if (!st.oom)
        check_alerts(&st);
    pm_free(st.plines);
    if (st.oom) {
        pm_buf_cleanup(&st.errors);
        pm_config_free(st.cfg);
        return PM_ENOMEM;
    }
    if (st.nerrors > 0) {
        if (pm_buf_take(&st.errors, errors, NULL) != 0)
            *errors = NULL;
        pm_config_free(st.cfg);
        return PM_ECONFIG;
    }
    st.cfg->source = pm_strdup(path);
    if (st.cfg->source == NULL) {
        pm_config_free(st.cfg);
        return PM_ENOMEM;
    }
    *out = st.cfg;
    return 0;
}
