/*
 * waiting.h: batches waiting in a hot folder for their marker, found by
 * listing the configured hot folders (read only). Shown by `pagemill
 * status` and the web interface; intake itself needs no list of them.
 */
#ifndef PM_PIPELINE_WAITING_H
#define PM_PIPELINE_WAITING_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* A folder in a marker-mode hot folder without its marker yet. */
typedef struct pm_waiting {
    char *hotfolder, *name;
    int64_t since; /* the folder's last change */
} pm_waiting_t;

/* Every such folder of the hot folders of `cfg` (settle-mode folders have
 * no marker to wait for). A hot folder that is not there has none. */
int pm_waiting_scan(const pm_config_t *cfg, pm_waiting_t **out, size_t *n);
void pm_waiting_free(pm_waiting_t *v, size_t n);

#endif /* PM_PIPELINE_WAITING_H */
