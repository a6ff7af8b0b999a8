/*
 * config_int.h: what the files of config/ share and nothing outside it
 * uses: the parser's state, its error collection and value parsers
 * (config_ini.c), each section's keys (config_keys.c, config_profile.c,
 * config_hotfolder.c, config_volume.c, config_ops.c) and the checks that
 * need the whole file.
 */
#ifndef PM_CONFIG_INT_H
#define PM_CONFIG_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "config/config.h"
#include "pipeline/base/buf.h"

#define PROFILE_PREFIX   "profile "
#define HOTFOLDER_PREFIX "hotfolder "
#define VOLUME_PREFIX    "volume "

/* Longest path the whole-file checks compare. */
#define PATH_BUF 4096

/* Where a profile set the keys that are checked against its other keys
 * once its whole section is read: the line, or 0 when not set so. */
typedef struct profile_lines {
    int mrc;   /* `compression = mrc` */
    int pdfa1; /* `pdfa = 1b` */
} profile_lines_t;

/* One pm_config_load: the file, the line being read, what is wrong. */
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

/* ---- config_ini.c: errors and values ---- */

/* Adds "FILE:LINE: [section] key: ..." to the problems of `st`. */
void pm__config_error(parse_state_t *st, const char *section, const char *key,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void pm__config_verror(parse_state_t *st, const char *section, const char *key,
                       const char *fmt, va_list ap);

/* Value parsers: 0, or -1 when `v` is not one (or out of lo..hi). */
int pm__config_bool(const char *v, int *out);
int pm__config_ll(const char *v, long long lo, long long hi, long long *out);
int pm__config_int(const char *v, int lo, int hi, int *out);
int pm__config_double(const char *v, double lo, double hi, double *out);

/* Replaces *dst by a copy of `v`; 0 or PM_ENOMEM (*dst kept). */
int pm__config_set_string(char **dst, const char *v);

/* A key whose value must not be empty ("must name WHAT"). */
void pm__config_nonempty(parse_state_t *st, const char *section,
                         const char *key, char **dst, const char *v,
                         const char *what);

/* Copies `path` into `buf` without "." parts and doubled or trailing
 * slashes, so one folder written two ways compares equal. */
void pm__config_path_normalize(const char *path, char *buf, size_t size);

/* True when folder `a` is `b` or inside it (both normalized). Relative
 * and absolute paths are not compared: that needs the filesystem. */
int pm__config_path_within(const char *a, const char *b);

/* ---- config_keys.c ---- */

void pm__config_global_key(parse_state_t *st, const char *key, const char *v);
void pm__config_catalog_key(parse_state_t *st, const char *key, const char *v);
void pm__config_billing_key(parse_state_t *st, const char *key, const char *v);
void pm__config_http_key(parse_state_t *st, const char *key, const char *v);
void pm__config_alerts_key(parse_state_t *st, const char *key, const char *v);
/* [invoice] and [archive]: handed to config_ops.c. */
void pm__config_ops_key(parse_state_t *st, const char *section, const char *key,
                        const char *v);
/* TLS needs both files; an [alerts] section names a command. */
void pm__config_check_http(parse_state_t *st);
void pm__config_check_alerts(parse_state_t *st);

/* ---- config_profile.c ---- */

/* The profile named `name`, added with the defaults the first time; NULL
 * when out of memory (st->oom set). */
pm_profile_t *pm__config_profile_for(parse_state_t *st, const char *name);
void pm__config_profile_key(parse_state_t *st, const char *section,
                            pm_profile_t *p, const char *key, const char *v);
void pm__config_check_profiles(parse_state_t *st);

/* ---- config_hotfolder.c ---- */

pm_hotfolder_cfg_t *pm__config_hotfolder_for(parse_state_t *st,
                                             const char *name);
void pm__config_hotfolder_entry(parse_state_t *st, const char *section,
                                const char *key, const char *value);
void pm__config_check_hotfolders(parse_state_t *st);
void pm__hotfolder_cfg_cleanup(pm_hotfolder_cfg_t *h);

/* ---- config_volume.c ---- */

/* [volume NAME]: registered at its header line, like a hot folder. */
pm_volume_cfg_t *pm__config_volume_for(parse_state_t *st, const char *name);
void pm__config_volume_entry(parse_state_t *st, const char *section,
                             const char *key, const char *value);
/* Every volume has a path; names and paths are not used twice. */
void pm__config_check_volumes(parse_state_t *st);
void pm__volume_cfg_cleanup(pm_volume_cfg_t *v);

/* ---- config_ops.c ---- */

/*
 * One `key = v` of [invoice] or [archive] into `cfg`. Returns 0; -1 with
 * what is wrong in `why` (the caller names the section and key); or
 * PM_ENOMEM.
 */
int pm__config_invoice_key(pm_config_t *cfg, const char *key, const char *v,
                           char *why, size_t size);
int pm__config_archive_key(pm_config_t *cfg, const char *key, const char *v,
                           char *why, size_t size);

/* Frees what [invoice] holds. */
void pm__config_invoice_cleanup(pm_invoice_cfg_t *inv);

#endif /* PM_CONFIG_INT_H */
