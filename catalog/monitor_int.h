/*
 * monitor_int.h: the backend-independent part of the web interface's
 * reads (monitor_common.c), which both backends (monitor.c on SQLite,
 * pg_monitor.c on PostgreSQL) use, so the histograms' rule is written
 * once. Never used outside catalog/.
 */
#ifndef PM_CATALOG_MONITOR_INT_H
#define PM_CATALOG_MONITOR_INT_H

#include <stdint.h>

#include "catalog/monitor.h"

/* The first bucket whose bound is at or above `ms` (PM_STAGE_BUCKETS
 * when `ms` is above them all). */
int pm__stage_bucket(double ms);

/* Adds `count` times whose first bucket is `first` (pm__stage_bucket)
 * and whose sum is `sum_ms` to histogram `h`: every bucket from `first`
 * on counts them (the buckets are cumulative). */
void pm__stage_hist_add(pm_stage_hist_t *h, int first, int64_t count,
                        double sum_ms);

/* Frees a pm_monitor_count_t's name (a void * for the row readers). */
void pm__monitor_count_cleanup(void *item);

#endif /* PM_CATALOG_MONITOR_INT_H */
