/*
 * config.c: the INI reader (libinih) and validator behind config.h.
 *
 * inih hands us one (section, key, value) at a time; we feed it through a
 * reader that counts lines so each error can name its line. Every problem
 * is collected, not just the first, so `pagemill config check` can report
 * them all in one run.
 */
#include "config/config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "pipeline/pm.h"

#define PROFILE_PREFIX "profile "

typedef struct parse_state {
    pm_config_t *cfg;
    FILE *f;
    const char *path;
    int line;
    char *errors;
    size_t errlen;
    int nerrors;
    int oom;
    int read_errno; /* the file could not be read (EISDIR, EIO...) */
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
    p->jpeg_quality = 85;
    p->jp2_quality = 45;
    p->fallback_dpi = 300;
    p->max_pixels = 20000LL * 20000LL;
}

pm_config_t *pm_config_new(void)
{
    pm_config_t *cfg = pm_calloc(1, sizeof(*cfg));

    if (cfg == NULL)
        return NULL;
    cfg->workers = 0;
    cfg->page_timeout = 300;
    cfg->worker_memory_mb = 4096;
    cfg->icc_profile = pm_strdup(PM_DEFAULT_ICC);
    cfg->catalog = pm_strdup(PM_DEFAULT_CATALOG);
    cfg->profiles = pm_calloc(1, sizeof(pm_profile_t));
    if (cfg->icc_profile == NULL || cfg->catalog == NULL ||
        cfg->profiles == NULL) {
        pm_config_free(cfg);
        return NULL;
    }
    pm_profile_defaults(&cfg->profiles[0]);
    cfg->nprofiles = 1;
    return cfg;
}

void pm_config_free(pm_config_t *cfg)
{
    if (cfg == NULL)
        return;
    pm_free(cfg->icc_profile);
    pm_free(cfg->catalog);
    pm_free(cfg->tessdata);
    pm_free(cfg->source);
    pm_free(cfg->profiles);
    pm_free(cfg);
}

const pm_profile_t *pm_config_profile(const pm_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nprofiles; i++)
        if (strcmp(cfg->profiles[i].name, name) == 0)
            return &cfg->profiles[i];
    return NULL;
}

static const char *color_names[] = {"auto", "bitonal", "gray"};
static const char *codec_names[] = {"jpeg", "jp2"};

const char *pm_color_mode_name(pm_color_mode_t m)
{
    return (unsigned)m < 3 ? color_names[m] : "?";
}

const char *pm_gray_codec_name(pm_gray_codec_t c)
{
    return (unsigned)c < 2 ? codec_names[c] : "?";
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

static void add_error(parse_state_t *st, const char *section, const char *key,
                      const char *fmt, ...)
{
    char msg[512];
    char line[1024];
    va_list ap;
    int n;
    char *grown;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    n = snprintf(line, sizeof(line), "%s:%d: [%s] %s: %s\n", st->path, st->line,
                 section, key, msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line))
        n = (int)sizeof(line) - 1;
    grown = pm_realloc(st->errors, st->errlen + (size_t)n + 1);
    if (grown == NULL) {
        st->oom = 1;
        return;
    }
    memcpy(grown + st->errlen, line, (size_t)n + 1);
    st->errors = grown;
    st->errlen += (size_t)n;
    st->nerrors++;
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
    } else if (strcmp(key, "page_timeout") == 0) {
        if (parse_int(v, 1, 86400, &cfg->page_timeout) != 0)
            add_error(st, sec, key, "expected seconds 1..86400, got '%s'", v);
    } else if (strcmp(key, "worker_memory_mb") == 0) {
        if (parse_int(v, 0, 1 << 20, &cfg->worker_memory_mb) != 0)
            add_error(st, sec, key, "expected MiB 0..1048576, got '%s'", v);
    } else if (strcmp(key, "catalog") == 0) {
        if (*v == '\0')
            add_error(st, sec, key, "must name the catalog database file");
        else if (set_string(&cfg->catalog, v) != 0)
            st->oom = 1;
    } else if (strcmp(key, "icc_profile") == 0) {
        if (*v == '\0')
            add_error(st, sec, key, "must name an ICC file");
        else if (set_string(&cfg->icc_profile, v) != 0)
            st->oom = 1;
    } else if (strcmp(key, "tessdata") == 0) {
        if (set_string(&cfg->tessdata, v) != 0)
            st->oom = 1;
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

static void profile_key(parse_state_t *st, const char *section, pm_profile_t *p,
                        const char *key, const char *v)
{
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
    } else {
        add_error(st, section, key, "unknown key");
    }
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
    } else if (*section == '\0') {
        add_error(st, "", key, "key outside any section");
    } else {
        add_error(st, section, key,
                  "unknown section (expected [pagemill] or "
                  "[profile NAME])");
    }
    return 1; /* keep going: report every error */
}

/* The longest section name inih keeps whole (its INI_MAX_SECTION). */
#define INI_SECTION_MAX 50

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
    /* inih cuts section names silently; a cut profile name would not be
     * found by the name the operator wrote. */
    if (r[strspn(r, " \t")] == '[') {
        char *close = strchr(r, ']');
        if (close != NULL &&
            close - (r + strspn(r, " \t") + 1) >= INI_SECTION_MAX) {
            add_error(st, "?", "?", "section name longer than %d characters",
                      INI_SECTION_MAX - 1);
            r[0] = '\0';
        }
    }
    return r;
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
        pm_free(st.errors);
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
    if (st.oom) {
        pm_free(st.errors);
        pm_config_free(st.cfg);
        return PM_ENOMEM;
    }
    if (st.nerrors > 0) {
        *errors = st.errors;
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
