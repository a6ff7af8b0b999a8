/*
 * config_int.h: the keys of [invoice] and [archive] (config_ops.c), which
 * config.c's parser hands on. Never used outside config/.
 */
#ifndef PM_CONFIG_INT_H
#define PM_CONFIG_INT_H

#include <stddef.h>

#include "config/config.h"

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
