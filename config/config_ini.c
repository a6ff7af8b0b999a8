/*
 * config_ini.c: the INI reader (libinih) behind pm_config_load.
 *
 * inih hands us one (section, key, value) at a time; we feed it through a
 * reader that counts lines so each error can name its line. Every problem
 * is collected, not just the first, so `pagemill config check` can report
 * them all in one run. Checks that need the whole file (a hot folder's
 * profile may be defined further down) run after parsing and name the hot
 * folder's section line. Paths are then taken relative to the file's
 * folder.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "config/config.h"
#include "config/config_int.h"
#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"

/* ---- error collection ---- */

void pm__config_verror(parse_state_t *st, const char *section, const char *key,
                       const char *fmt, va_list ap)
{
    pm_buf_printf(&st->errors, "%s:%d: [%s] %s: ", st->path, st->line, section,
                  key);
    pm_buf_vprintf(&st->errors, fmt, ap);
    pm_buf_puts(&st->errors, "\n");
    st->oom |= st->errors.oom;
    st->nerrors++;
}

void pm__config_error(parse_state_t *st, const char *section, const char *key,
                      const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    pm__config_verror(st, section, key, fmt, ap);
    va_end(ap);
}

/* ---- value parsers: 0 on success ---- */

int pm__config_bool(const char *v, int *out)
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

int pm__config_ll(const char *v, long long lo, long long hi, long long *out)
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

int pm__config_int(const char *v, int lo, int hi, int *out)
{
    long long x;

    if (pm__config_ll(v, lo, hi, &x) != 0)
        return -1;
    *out = (int)x;
    return 0;
}

int pm__config_double(const char *v, double lo, double hi, double *out)
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

int pm__config_set_string(char **dst, const char *v)
{
    char *s = pm_strdup(v);

    if (s == NULL)
        return PM_ENOMEM;
    pm_free(*dst);
    *dst = s;
    return 0;
}

/* A key whose value must not be empty; NULL-safe on out of memory. */
void pm__config_nonempty(parse_state_t *st, const char *section,
                         const char *key, char **dst, const char *v,
                         const char *what)
{
    if (*v == '\0')
        pm__config_error(st, section, key, "must name %s", what);
    else if (pm__config_set_string(dst, v) != 0)
        st->oom = 1;
}

/* Copies `path` into `buf` without "." parts and doubled or trailing
 * slashes, so one folder written two ways compares equal. */
void pm__config_path_normalize(const char *path, char *buf, size_t size)
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
int pm__config_path_within(const char *a, const char *b)
{
    size_t n = strlen(b);

    if ((a[0] == '/') != (b[0] == '/'))
        return 0;
    if (strcmp(b, "/") == 0 || strcmp(b, ".") == 0)
        return 1;
    return strncmp(a, b, n) == 0 && (a[n] == '/' || a[n] == '\0');
}

static int on_entry(void *user, const char *section, const char *key,
                    const char *value)
{
    parse_state_t *st = user;

    if (strcmp(section, "pagemill") == 0) {
        pm__config_global_key(st, key, value);
    } else if (strncmp(section, PROFILE_PREFIX, strlen(PROFILE_PREFIX)) == 0) {
        const char *name = section + strlen(PROFILE_PREFIX);
        if (*name == '\0' || strlen(name) >= PM_PROFILE_NAME_MAX) {
            pm__config_error(st, section, key,
                             "profile name must be 1..63 chars");
            return 1;
        }
        pm_profile_t *p = pm__config_profile_for(st, name);
        if (p != NULL)
            pm__config_profile_key(st, section, p, key, value);
    } else if (strncmp(section, HOTFOLDER_PREFIX, strlen(HOTFOLDER_PREFIX)) ==
                   0 ||
               strcmp(section, "hotfolder") == 0) {
        pm__config_hotfolder_entry(st, section, key, value);
    } else if (strncmp(section, VOLUME_PREFIX, strlen(VOLUME_PREFIX)) == 0 ||
               strcmp(section, "volume") == 0) {
        pm__config_volume_entry(st, section, key, value);
    } else if (strcmp(section, "billing") == 0) {
        pm__config_billing_key(st, key, value);
    } else if (strcmp(section, "catalog") == 0) {
        pm__config_catalog_key(st, key, value);
    } else if (strcmp(section, "http") == 0) {
        st->cfg->http.enabled = 1;
        pm__config_http_key(st, key, value);
    } else if (strcmp(section, "alerts") == 0) {
        pm__config_alerts_key(st, key, value);
    } else if (strcmp(section, "invoice") == 0 ||
               strcmp(section, "archive") == 0) {
        pm__config_ops_key(st, section, key, value);
    } else if (*section == '\0') {
        pm__config_error(st, "", key, "key outside any section");
    } else {
        pm__config_error(st, section, key,
                         "unknown section (expected [pagemill], [catalog], "
                         "[billing], [invoice], [http], [alerts], [archive], "
                         "[profile NAME], [hotfolder NAME] or [volume NAME])");
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
        pm__config_error(st, "?", "?", "section name longer than %d characters",
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
        (void)pm__config_hotfolder_for(st, name + strlen(HOTFOLDER_PREFIX));
    if (strncmp(name, VOLUME_PREFIX, strlen(VOLUME_PREFIX)) == 0 &&
        name[strlen(VOLUME_PREFIX)] != '\0')
        (void)pm__config_volume_for(st, name + strlen(VOLUME_PREFIX));
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
        pm__config_error(st, "?", "?", "line longer than %d characters",
                         num - 2);
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
    for (size_t i = 0; err == 0 && i < c->nvolumes; i++)
        err = resolve_one(dir, &c->volumes[i].path);
    st->oom |= err != 0;
    pm_free(dir);
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
        pm__config_error(&st, "?", "?",
                         "syntax error (expected [section] or "
                         "key = value)");
    }
    if (!st.oom)
        resolve_paths(&st);
    if (!st.oom)
        pm__config_check_hotfolders(&st);
    if (!st.oom)
        pm__config_check_volumes(&st);
    if (!st.oom)
        pm__config_check_profiles(&st);
    if (!st.oom)
        pm__config_check_http(&st);
    if (!st.oom)
        pm__config_check_alerts(&st);
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
