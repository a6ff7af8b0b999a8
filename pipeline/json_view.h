/*
 * json_view.h: the JSON values `pagemill status --json`, `job show` and the
 * HTTP API show of the catalog's state, built one way for all of them: one
 * UTF-8 policy for strings, one time format, one node object.
 *
 * Billing's JSON (catalog/render) is an export and refuses a string that
 * is not UTF-8 instead; these views are for people and monitors, which
 * must see every row.
 */
#ifndef PM_PIPELINE_JSON_VIEW_H
#define PM_PIPELINE_JSON_VIEW_H

#include <stdint.h>

#include <jansson.h>

#include "catalog/catalog.h"

/* `s` as a JSON string; null for NULL. A string that is not valid UTF-8
 * is shown as pm_escape_name shows it in the log (bytes over 0x7f and
 * control bytes as \xNN). NULL only without memory. */
json_t *pm_json_str(const char *s);

/* Unix time `t` as "2026-11-23T12:00:00Z"; null for 0. */
json_t *pm_json_time(int64_t t);

/* Node `n` (pm_node_list) at time `now`: node, role, owner, pid, state,
 * slots, busy, pages_last_hour, heartbeat (pm_json_time), heartbeat_age_s
 * and load1 (null when unknown). NULL without memory. */
json_t *pm_json_node(const pm_node_info_t *n, int64_t now);

#endif /* PM_PIPELINE_JSON_VIEW_H */
