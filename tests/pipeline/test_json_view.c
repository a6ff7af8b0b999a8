/*
 * test_json_view.c: the JSON values status, job show and the HTTP API
 * share (pipeline/json_view.h): a string that is not UTF-8 shown as the
 * log shows it, times in one format, and the node object.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/testlib.h"
#include "pipeline/json_view.h"

static void strings_follow_the_log_policy(void **state)
{
    json_t *v;

    (void)state;
    v = pm_json_str(NULL);
    assert_true(json_is_null(v));
    json_decref(v);
    v = pm_json_str("Zoë's batch");
    assert_string_equal(json_string_value(v), "Zoë's batch");
    json_decref(v);
    v = pm_json_str("scan\xff\x1b[2J.tif"); /* not UTF-8, an escape */
    assert_string_equal(json_string_value(v), "scan\\xff\\x1b[2J.tif");
    json_decref(v);
}

static void times_are_utc_iso(void **state)
{
    json_t *v;

    (void)state;
    v = pm_json_time(0);
    assert_true(json_is_null(v));
    json_decref(v);
    v = pm_json_time(1795435200); /* 2026-11-23 12:00:00 UTC */
    assert_string_equal(json_string_value(v), "2026-11-23T12:00:00Z");
    json_decref(v);
}

static void node_has_its_age_and_load(void **state)
{
    char owner[] = "agent:scan-2:41", node[] = "scan-2";
    pm_node_info_t n = {.owner = owner,
                        .node = node,
                        .role = "agent",
                        .pid = 41,
                        .state = PM_NODE_UP,
                        .slots = 4,
                        .busy = 3,
                        .pages_hour = 1200,
                        .heartbeat = 1795435200,
                        .load1 = -1};
    json_t *o;

    (void)state;
    o = pm_json_node(&n, 1795435207);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "node")),
                        "scan-2");
    assert_string_equal(json_string_value(json_object_get(o, "state")), "up");
    assert_int_equal(json_integer_value(json_object_get(o, "busy")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "pages_last_hour")),
                     1200);
    assert_string_equal(json_string_value(json_object_get(o, "heartbeat")),
                        "2026-11-23T12:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(o, "heartbeat_age_s")),
                     7);
    assert_true(json_is_null(json_object_get(o, "load1")));
    json_decref(o);

    n.heartbeat = 0; /* gone */
    n.state = PM_NODE_GONE;
    n.load1 = 0.5;
    o = pm_json_node(&n, 1795435207);
    assert_true(json_is_null(json_object_get(o, "heartbeat")));
    assert_true(json_is_null(json_object_get(o, "heartbeat_age_s")));
    assert_true(json_real_value(json_object_get(o, "load1")) == 0.5);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strings_follow_the_log_policy),
        cmocka_unit_test(times_are_utc_iso),
        cmocka_unit_test(node_has_its_age_and_load),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
