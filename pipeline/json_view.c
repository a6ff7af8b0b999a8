/*
 * json_view.c: JSON values of the catalog's state for status, job show and
 * the HTTP API (json_view.h).
 */
#include "pipeline/json_view.h"

#include <assert.h>
#include <string.h>
#include <time.h>

#include "pipeline/base/pm.h"

json_t *pm_json_str(const char *s)
{
    size_t size;
    char *buf;
    json_t *v;

    if (s == NULL)
        return json_null();
    if (pm_utf8_valid(s))
        return json_string(s);
    size = 4 * strlen(s) + 1; /* every byte as \xNN at most */
    buf = pm_malloc(size);
    if (buf == NULL)
        return NULL;
    v = json_string(pm_escape_name(s, buf, size));
    pm_free(buf);
    return v;
}

json_t *pm_json_time(int64_t t)
{
    char buf[32];
    time_t tt = (time_t)t;
    struct tm tm;

    if (t == 0 || gmtime_r(&tt, &tm) == NULL)
        return json_null();
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

json_t *pm_json_node(const pm_node_info_t *n, int64_t now)
{
    json_t *o;

    assert(n != NULL && n->role != NULL);
    o = json_pack("{s:o, s:s, s:o, s:i, s:s, s:i, s:i, s:I, s:o}", "node",
                  pm_json_str(n->node), "role", n->role, "owner",
                  pm_json_str(n->owner), "pid", n->pid, "state",
                  pm_node_state_name(n->state), "slots", n->slots, "busy",
                  n->busy, "pages_last_hour", (json_int_t)n->pages_hour,
                  "heartbeat", pm_json_time(n->heartbeat));
    if (o != NULL &&
        (json_object_set_new(
             o, "heartbeat_age_s",
             n->heartbeat > 0
                 ? json_integer(now > n->heartbeat ? now - n->heartbeat : 0)
                 : json_null()) ||
         json_object_set_new(
             o, "load1", n->load1 >= 0 ? json_real(n->load1) : json_null()))) {
        json_decref(o);
        return NULL;
    }
    return o;
}
