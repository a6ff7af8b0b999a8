/*
 * volume.h: paths on shared storage as the catalog records them.
 *
 * Each machine names the shared storage it mounts in [volume NAME]
 * sections (config.h, pm_volume_cfg_t). A path under a volume is stored
 * as "NAME:relative/path", so a coordinator and agents that mount one
 * share at different places read the same catalog row as their own local
 * path. A path under no volume is stored absolute, as catalogs written
 * before volumes hold them: both forms resolve.
 */
#ifndef PM_CONFIG_VOLUME_H
#define PM_CONFIG_VOLUME_H

#include <stddef.h>

#include "config/config.h"

/*
 * `path` as the catalog records it: "NAME:rel" for the volume of `cfg`
 * (NULL: none) whose path holds it, the longest when volumes nest; else
 * `path` unchanged (not absolute, under no volume, or with a ".." part,
 * which only the filesystem can place). *out is a new string the caller
 * frees with pm_free. Returns 0 or PM_ENOMEM (*out NULL).
 */
int pm_volume_store(const pm_config_t *cfg, const char *path, char **out);

/*
 * The local path of a recorded path: "NAME:rel" under the path `cfg`
 * gives volume NAME, anything else unchanged. *out is a new string the
 * caller frees with pm_free. Returns 0; PM_ENOMEM; PM_ECONFIG when NAME
 * is no volume of `cfg` or `rel` leaves the volume ("/..." or a ".."
 * part), with *out NULL and the fault, naming the volume and the
 * configuration file, in why[size].
 */
int pm_volume_resolve(const pm_config_t *cfg, const char *stored, char **out,
                      char *why, size_t size);

/*
 * The forms of the two above that callers on the service's paths use: a
 * new string (caller frees with pm_free), or NULL when out of memory or,
 * for pm_volume_local, when `stored` does not resolve here, which is
 * logged as an error of `module`. NULL in, NULL out.
 */
char *pm_volume_stored(const pm_config_t *cfg, const char *path);
char *pm_volume_local(const pm_config_t *cfg, const char *stored,
                      const char *module);

/*
 * `stored` as this machine shows it to a person or writes it into a
 * document: its local path (pm_volume_resolve) with *local 1, or, when
 * it does not resolve here (its volume is not configured on this
 * machine, or it leaves the volume), `stored` as recorded with *local 0.
 * Nothing is logged. A new string (pm_free); NULL when out of memory or
 * `stored` is NULL (then *local is 1).
 */
char *pm_volume_shown(const pm_config_t *cfg, const char *stored, int *local);

/* The volume name of a "NAME:rel" path into name[size] ("" for any
 * other path); returns name. */
const char *pm_volume_name_of(const char *stored, char *name, size_t size);

/*
 * Copies the [volume NAME] sections of `from` into `to` (which has
 * none), for a thread that resolves paths with a configuration of its
 * own. Returns 0 or PM_ENOMEM (then `to` keeps none).
 */
int pm_volume_copy(pm_config_t *to, const pm_config_t *from);

/* True when `stored` is in the "NAME:rel" form. */
int pm_volume_is_stored(const char *stored);

/*
 * Checks that every volume's path is a folder on this machine. Returns
 * 0, PM_ENOMEM, or PM_ECONFIG with *errors a new string (caller frees
 * with pm_free) of one line per fault: "FILE:LINE: [volume NAME] path:
 * PATH: No such file or directory". Used by `config check`, `selftest`,
 * `serve` and `agent` before anything is recorded.
 */
int pm_volume_check(const pm_config_t *cfg, char **errors);

#endif /* PM_CONFIG_VOLUME_H */
