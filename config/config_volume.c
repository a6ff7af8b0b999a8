/*
 * config_volume.c: the [volume NAME] sections (config_int.h) and the
 * conversion between local paths and the "NAME:rel" paths the catalog
 * records (volume.h).
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config_int.h"
#include "config/volume.h"
#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"

/* ---- [volume NAME] ---- */

/* True when `p` has a ".." component. */
static int has_dotdot(const char *p)
{
    for (;;) {
        size_t n = strcspn(p, "/");

        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}

void pm__volume_cfg_cleanup(pm_volume_cfg_t *v)
{
    pm_free(v->name);
    pm_free(v->path);
}

/* Letters, digits, '_', '-' and '.': never ':' or '/'. */
static int valid_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= PM_VOLUME_NAME_MAX)
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_-.") == n;
}

pm_volume_cfg_t *pm__config_volume_for(parse_state_t *st, const char *name)
{
    pm_config_t *cfg = st->cfg;
    pm_volume_cfg_t *grown, *v;

    for (size_t i = 0; i < cfg->nvolumes; i++)
        if (strcmp(cfg->volumes[i].name, name) == 0)
            return &cfg->volumes[i];
    grown = pm_realloc(cfg->volumes, (cfg->nvolumes + 1) * sizeof(*grown));
    if (grown == NULL) {
        st->oom = 1;
        return NULL;
    }
    cfg->volumes = grown;
    v = &grown[cfg->nvolumes];
    memset(v, 0, sizeof(*v));
    v->name = pm_strdup(name);
    v->line = st->line;
    if (v->name == NULL) {
        st->oom = 1;
        return NULL;
    }
    cfg->nvolumes++;
    return v;
}

void pm__config_volume_entry(parse_state_t *st, const char *section,
                             const char *key, const char *value)
{
    const char *name = "";
    pm_volume_cfg_t *v;

    if (strlen(section) > strlen(VOLUME_PREFIX))
        name = section + strlen(VOLUME_PREFIX);
    if (!valid_name(name)) {
        pm__config_error(st, section, key,
                         "expected [volume NAME] with a NAME of 1..%d "
                         "letters, digits, '_', '-' or '.'",
                         PM_VOLUME_NAME_MAX - 1);
        return;
    }
    v = pm__config_volume_for(st, name);
    if (v == NULL)
        return;
    if (strcmp(key, "path") == 0)
        pm__config_nonempty(st, section, key, &v->path, value,
                            "the folder this machine mounts the volume at");
    else
        pm__config_error(st, section, key, "unknown key");
}

static void volume_error(parse_state_t *st, const pm_volume_cfg_t *v,
                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void volume_error(parse_state_t *st, const pm_volume_cfg_t *v,
                         const char *fmt, ...)
{
    char section[PM_VOLUME_NAME_MAX + 16];
    va_list ap;

    snprintf(section, sizeof(section), VOLUME_PREFIX "%s", v->name);
    st->line = v->line;
    va_start(ap, fmt);
    pm__config_verror(st, section, "path", fmt, ap);
    va_end(ap);
}

void pm__config_check_volumes(parse_state_t *st)
{
    pm_config_t *cfg = st->cfg;
    char buf[PATH_BUF];

    for (size_t i = 0; i < cfg->nvolumes; i++) {
        pm_volume_cfg_t *v = &cfg->volumes[i];

        if (!valid_name(v->name)) {
            volume_error(st, v,
                         "the name '%s' is not 1..%d letters, digits, "
                         "'_', '-' or '.'",
                         v->name, PM_VOLUME_NAME_MAX - 1);
            continue;
        }
        if (v->path == NULL) {
            volume_error(st, v,
                         "required: the folder this machine mounts "
                         "the volume at");
            continue;
        }
        pm__config_path_normalize(v->path, buf, sizeof(buf));
        if (pm__config_set_string(&v->path, buf) != 0) {
            st->oom = 1;
            return;
        }
        if (has_dotdot(buf))
            volume_error(st, v,
                         "'%s' has a '..' part; name the folder "
                         "without one",
                         buf);
        for (size_t j = 0; j < i; j++)
            if (cfg->volumes[j].path != NULL &&
                strcmp(cfg->volumes[j].path, v->path) == 0)
                volume_error(st, v, "same folder as [volume %s] (line %d)",
                             cfg->volumes[j].name, cfg->volumes[j].line);
    }
}

/* ---- stored paths ---- */

int pm_volume_is_stored(const char *stored)
{
    size_t n = strcspn(stored, ":/");

    return n > 0 && n < PM_VOLUME_NAME_MAX && stored[n] == ':' &&
           strspn(stored, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
                          "YZ0123456789_-.") == n;
}

int pm_volume_store(const pm_config_t *cfg, const char *path, char **out)
{
    const pm_volume_cfg_t *best = NULL;
    char norm[PATH_BUF];
    const char *rel;

    assert(path != NULL && out != NULL);
    *out = NULL;
    if (cfg == NULL || cfg->nvolumes == 0 || path[0] != '/' ||
        strlen(path) >= sizeof(norm) || has_dotdot(path)) {
        *out = pm_strdup(path);
        return *out != NULL ? 0 : PM_ENOMEM;
    }
    pm__config_path_normalize(path, norm, sizeof(norm));
    for (size_t i = 0; i < cfg->nvolumes; i++) {
        const pm_volume_cfg_t *v = &cfg->volumes[i];

        if (v->path != NULL && pm__config_path_within(norm, v->path) &&
            (best == NULL || strlen(v->path) > strlen(best->path)))
            best = v;
    }
    if (best == NULL) {
        *out = pm_strdup(path);
        return *out != NULL ? 0 : PM_ENOMEM;
    }
    rel = norm + strlen(best->path);
    rel += *rel == '/';
    *out = pm_asprintf("%s:%s", best->name, rel);
    return *out != NULL ? 0 : PM_ENOMEM;
}

int pm_volume_resolve(const pm_config_t *cfg, const char *stored, char **out,
                      char *why, size_t size)
{
    size_t n = strcspn(stored, ":");
    const char *rel = stored + n + 1, *root = NULL;

    assert(stored != NULL && out != NULL);
    *out = NULL;
    if (!pm_volume_is_stored(stored)) {
        *out = pm_strdup(stored);
        return *out != NULL ? 0 : PM_ENOMEM;
    }
    for (size_t i = 0; cfg != NULL && i < cfg->nvolumes; i++)
        if (strlen(cfg->volumes[i].name) == n &&
            strncmp(cfg->volumes[i].name, stored, n) == 0)
            root = cfg->volumes[i].path;
    if (root == NULL) {
        snprintf(why, size,
                 "'%s': volume '%.*s' is not configured on this machine (no "
                 "[volume %.*s] in %s)",
                 stored, (int)n, stored, (int)n, stored,
                 cfg != NULL && cfg->source ? cfg->source
                                            : "the built-in configuration");
        return PM_ECONFIG;
    }
    if (rel[0] == '/' || has_dotdot(rel)) {
        snprintf(why, size, "'%s' leaves volume '%.*s'", stored, (int)n,
                 stored);
        return PM_ECONFIG;
    }
    if (rel[0] == '\0')
        *out = pm_strdup(root);
    else
        *out = pm_asprintf("%s%s%s", root, strcmp(root, "/") ? "/" : "", rel);
    return *out != NULL ? 0 : PM_ENOMEM;
}

char *pm_volume_stored(const pm_config_t *cfg, const char *path)
{
    char *out = NULL;

    if (path != NULL)
        (void)pm_volume_store(cfg, path, &out);
    return out;
}

char *pm_volume_local(const pm_config_t *cfg, const char *stored,
                      const char *module)
{
    char why[1024], *out = NULL;

    if (stored != NULL &&
        pm_volume_resolve(cfg, stored, &out, why, sizeof(why)) == PM_ECONFIG)
        pm_log(PM_LOG_ERROR, module, "%s", why);
    return out;
}

char *pm_volume_shown(const pm_config_t *cfg, const char *stored, int *local)
{
    char why[1024], *out = NULL;
    int err;

    *local = 1;
    if (stored == NULL)
        return NULL;
    err = pm_volume_resolve(cfg, stored, &out, why, sizeof(why));
    if (err != PM_ECONFIG)
        return out;
    *local = 0;
    return pm_strdup(stored);
}

const char *pm_volume_name_of(const char *stored, char *name, size_t size)
{
    assert(size > 0);
    name[0] = '\0';
    if (stored != NULL && pm_volume_is_stored(stored))
        snprintf(name, size, "%.*s", (int)strcspn(stored, ":"), stored);
    return name;
}

int pm_volume_copy(pm_config_t *to, const pm_config_t *from)
{
    assert(to->nvolumes == 0 && to->volumes == NULL);
    if (from->nvolumes == 0)
        return 0;
    to->volumes = pm_calloc(from->nvolumes, sizeof(*to->volumes));
    if (to->volumes == NULL)
        return PM_ENOMEM;
    for (size_t i = 0; i < from->nvolumes; i++) {
        pm_volume_cfg_t *v = &to->volumes[to->nvolumes++];

        *v = from->volumes[i];
        v->name = pm_strdup(from->volumes[i].name);
        v->path = pm_strdup(from->volumes[i].path);
        if (v->name == NULL || v->path == NULL) {
            for (size_t k = 0; k < to->nvolumes; k++)
                pm__volume_cfg_cleanup(&to->volumes[k]);
            pm_free(to->volumes);
            to->volumes = NULL;
            to->nvolumes = 0;
            return PM_ENOMEM;
        }
    }
    return 0;
}

int pm_volume_check(const pm_config_t *cfg, char **errors)
{
    pm_buf_t b = {0};
    struct stat sb;
    int bad = 0;

    *errors = NULL;
    for (size_t i = 0; i < cfg->nvolumes; i++) {
        const pm_volume_cfg_t *v = &cfg->volumes[i];
        const char *fault = NULL;

        if (stat(v->path, &sb) != 0)
            fault = strerror(errno);
        else if (!S_ISDIR(sb.st_mode))
            fault = "not a folder";
        if (fault == NULL)
            continue;
        pm_buf_printf(&b, "%s:%d: [volume %s] path: %s: %s\n",
                      cfg->source ? cfg->source : "-", v->line, v->name,
                      v->path, fault);
        bad = 1;
    }
    if (b.oom) {
        pm_buf_cleanup(&b);
        return PM_ENOMEM;
    }
    if (!bad) {
        pm_buf_cleanup(&b);
        return 0;
    }
    if (pm_buf_take(&b, errors, NULL) != 0)
        return PM_ENOMEM;
    return PM_ECONFIG;
}
