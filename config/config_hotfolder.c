/*
 * config_hotfolder.c: the keys of [hotfolder NAME] and the checks that
 * need the whole file (the profile named, folders that overlap).
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/config_int.h"
#include "pipeline/base/pm.h"

void pm__hotfolder_cfg_cleanup(pm_hotfolder_cfg_t *h)
{
    pm_free(h->name);
    pm_free(h->path);
    pm_free(h->profile);
    pm_free(h->account);
    pm_free(h->marker);
}

/* ---- [hotfolder NAME] ---- */

/* Returns the hot folder named `name`, adding one with the defaults (and
 * the current line as its section line) the first time. */
pm_hotfolder_cfg_t *pm__config_hotfolder_for(parse_state_t *st,
                                             const char *name)
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
        pm__hotfolder_cfg_cleanup(h);
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
        pm__config_error(st, section, "marker",
                         "expected a file name inside the batch folder (like "
                         "batch.ini) or none, got '%s'",
                         v);
    } else if (pm__config_set_string(&h->marker, v) != 0) {
        st->oom = 1;
    }
}

static void hotfolder_key(parse_state_t *st, const char *section,
                          pm_hotfolder_cfg_t *h, const char *key, const char *v)
{
    if (strcmp(key, "path") == 0) {
        pm__config_nonempty(st, section, key, &h->path, v,
                            "the folder to watch");
    } else if (strcmp(key, "profile") == 0) {
        pm__config_nonempty(st, section, key, &h->profile, v, "a profile");
    } else if (strcmp(key, "account") == 0) {
        pm__config_nonempty(st, section, key, &h->account, v,
                            "an account code (leave the key out for none)");
    } else if (strcmp(key, "marker") == 0) {
        hotfolder_marker(st, section, h, v);
    } else if (strcmp(key, "settle_seconds") == 0) {
        if (pm__config_int(v, 1, 3600, &h->settle_seconds) != 0)
            pm__config_error(st, section, key,
                             "expected seconds 1..3600, got '%s'", v);
    } else if (strcmp(key, "watch") == 0) {
        if (strcasecmp(v, "events") == 0 || strcasecmp(v, "poll") == 0)
            h->poll = strcasecmp(v, "poll") == 0;
        else
            pm__config_error(st, section, key,
                             "expected events (change events and the scan) "
                             "or poll (the scan only, for network shares), "
                             "got '%s'",
                             v);
    } else if (strcmp(key, "scan_seconds") == 0) {
        if (pm__config_int(v, 1, 3600, &h->scan_seconds) != 0)
            pm__config_error(st, section, key,
                             "expected seconds 1..3600, got '%s'", v);
    } else if (strcmp(key, "hold_unknown") == 0) {
        if (pm__config_bool(v, &h->hold_unknown) != 0)
            pm__config_error(st, section, key, "expected yes or no, got '%s'",
                             v);
    } else {
        pm__config_error(st, section, key, "unknown key");
    }
}

void pm__config_hotfolder_entry(parse_state_t *st, const char *section,
                                const char *key, const char *value)
{
    const char *name = "";
    pm_hotfolder_cfg_t *h;

    if (strlen(section) > strlen(HOTFOLDER_PREFIX))
        name = section + strlen(HOTFOLDER_PREFIX);
    if (*name == '\0') {
        pm__config_error(st, section, key, "expected [hotfolder NAME]");
        return;
    }
    h = pm__config_hotfolder_for(st, name);
    if (h != NULL)
        hotfolder_key(st, section, h, key, value);
}

/* ---- whole-file checks ---- */

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
    pm__config_verror(st, section, key, fmt, ap);
    va_end(ap);
}

/* Hot folder `i` must not be, hold or sit inside an earlier one, nor hold
 * the spool or output folders: a scan would take them as batches. */
static void check_overlaps(parse_state_t *st, size_t i)
{
    const pm_config_t *cfg = st->cfg;
    const pm_hotfolder_cfg_t *h = &cfg->hotfolders[i], *o;
    char a[PATH_BUF], b[PATH_BUF];

    pm__config_path_normalize(h->path, a, sizeof(a));
    for (size_t j = 0; j < i; j++) {
        o = &cfg->hotfolders[j];
        if (o->path == NULL)
            continue;
        pm__config_path_normalize(o->path, b, sizeof(b));
        if (strcmp(a, b) == 0)
            hotfolder_error(st, h, "path",
                            "same folder as [hotfolder %s] (line %d)", o->name,
                            o->line);
        else if (pm__config_path_within(a, b) || pm__config_path_within(b, a))
            hotfolder_error(st, h, "path",
                            "'%s' and [hotfolder %s] (line %d) are nested; hot "
                            "folders must not be inside one another",
                            h->path, o->name, o->line);
    }
    pm__config_path_normalize(cfg->spool, b, sizeof(b));
    if (pm__config_path_within(b, a))
        hotfolder_error(st, h, "path",
                        "holds the spool folder '%s'; put [pagemill] spool "
                        "outside every hot folder",
                        cfg->spool);
    pm__config_path_normalize(cfg->output, b, sizeof(b));
    if (pm__config_path_within(b, a))
        hotfolder_error(st, h, "path",
                        "holds the output folder '%s'; put [pagemill] output "
                        "outside every hot folder",
                        cfg->output);
}

/* What needs the whole file: a profile may be defined after the hot
 * folder that names it. */
void pm__config_check_hotfolders(parse_state_t *st)
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
