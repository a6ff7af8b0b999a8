/*
 * bag_events.h: a job's preservation history for its bag,
 * metadata/events.json (docs/archival.md).
 */
#ifndef PM_PIPELINE_BAG_EVENTS_H
#define PM_PIPELINE_BAG_EVENTS_H

#include <stdint.h>

#include "catalog/catalog.h"
#include "config/config.h"

struct json_t;

/* The versions of the software that converts pages: pagemill,
 * tesseract, leptonica, libtiff, qpdf, libvips. NULL when out of memory. */
struct json_t *pm_bag_software(void);

/* Job `job`'s history (caller owns): its inputs with their intake
 * SHA-256, PREMIS-style events (ingestion, digests, fixity check, each
 * processing stage with its software, the assembly at `now`), the
 * software versions and the catalog's event trail of the job. An input's
 * file is its path on this machine: a path recorded on a volume
 * ("NAME:rel") resolved with the volumes of `cfg`, so the bag stands
 * alone; one on a volume `cfg` lacks stays as recorded, with
 * "unresolved_volume" naming it. NULL when the job cannot be read or out
 * of memory. */
struct json_t *pm_bag_events(pm_catalog_t *cat, const pm_config_t *cfg,
                             int64_t job, int64_t now);

#endif /* PM_PIPELINE_BAG_EVENTS_H */
