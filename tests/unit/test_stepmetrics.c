/* Unit tests for pkg/controller/restore/stepmetrics: labels and once-only observation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "controller/restore/stepmetrics.h"
#include "util/buf.h"
#include "util/metrics.h"

static const char *const RR =
    "{\"spec\":{\"items\":[{\"name\":\"loans-db\",\"rdsClusterPointInTime\":{}},"
    "{\"name\":\"cache\",\"redisRDB\":{}}]},"
    "\"status\":{\"steps\":["
    "{\"name\":\"loans-db/validate\",\"phase\":\"Succeeded\","
    "\"startedAt\":\"2026-12-03T10:00:00Z\",\"finishedAt\":\"2026-12-03T10:00:02Z\"},"
    "{\"name\":\"loans-db/promote\",\"phase\":\"Succeeded\","
    "\"startedAt\":\"2026-12-03T10:00:02Z\",\"finishedAt\":\"2026-12-03T10:00:12.5Z\"},"
    "{\"name\":\"rollout/Deployment/order-service\",\"phase\":\"Failed\","
    "\"startedAt\":\"2026-12-03T10:00:12Z\",\"finishedAt\":\"2026-12-03T10:00:13Z\"},"
    "{\"name\":\"rollback/loans-db/promote\",\"phase\":\"Succeeded\","
    "\"startedAt\":\"2026-12-03T10:00:13Z\",\"finishedAt\":\"2026-12-03T10:00:14Z\"},"
    "{\"name\":\"loans-db/cleanup\",\"phase\":\"Running\","
    "\"startedAt\":\"2026-12-03T10:00:14Z\"}]}}";

static void test_step_metrics_labels(void **state)
{
    json_t *obj = json_loads(RR, 0, NULL);
    char kind[64], action[128];
    (void)state;
    assert_non_null(obj);
    step_metrics_labels(kind, sizeof(kind), action, sizeof(action), obj, "loans-db/promote");
    assert_string_equal(kind, "rdsClusterPointInTime");
    assert_string_equal(action, "promote");
    step_metrics_labels(kind, sizeof(kind), action, sizeof(action), obj,
                        "rollout/Deployment/order-service");
    assert_string_equal(kind, "request");
    assert_string_equal(action, "rollout");
    step_metrics_labels(kind, sizeof(kind), action, sizeof(action), obj,
                        "rollback/loans-db/promote");
    assert_string_equal(kind, "rdsClusterPointInTime");
    assert_string_equal(action, "rollback-promote");
    step_metrics_labels(kind, sizeof(kind), action, sizeof(action), obj, "approval");
    assert_string_equal(kind, "request");
    assert_string_equal(action, "approval");
    step_metrics_labels(kind, sizeof(kind), action, sizeof(action), obj, "cache/download");
    assert_string_equal(kind, "redisRDB");
    /* an item name that is not in the spec is not given a kind */
    step_metrics_labels(kind, sizeof(kind), action, sizeof(action), obj, "ghost/restore");
    assert_string_equal(kind, "request");
    assert_string_equal(action, "ghost");
    json_decref(obj);
}

static void test_step_metrics_observe_once(void **state)
{
    json_t *after = json_loads(RR, 0, NULL), *before;
    metrics_registry *reg;
    metrics_metric *m;
    lb_buf b;
    (void)state;
    assert_int_equal(metrics_registry_new(&reg, 0), 0);
    assert_int_equal(step_metrics_init(&m, reg), 0);
    /* before: validate already finished, promote still running */
    before = json_deep_copy(after);
    json_array_remove(json_object_get(json_object_get(before, "status"), "steps"), 4);
    json_array_remove(json_object_get(json_object_get(before, "status"), "steps"), 3);
    json_array_remove(json_object_get(json_object_get(before, "status"), "steps"), 2);
    json_object_del(json_array_get(json_object_get(json_object_get(before, "status"), "steps"), 1),
                    "finishedAt");
    /* promote, rollout and the rollback step finished in this write; validate did
     * before it and cleanup has not */
    assert_int_equal(step_metrics_observe(m, before, after), 3);
    assert_int_equal(step_metrics_observe(m, after, after), 0);
    assert_int_equal(step_metrics_observe(NULL, before, after), 0);
    buf_init(&b, 1u << 20);
    assert_int_equal(metrics_render(&b, reg), 0);
    assert_non_null(strstr(buf_cstr(&b), "lifeboat_restore_step_duration_seconds_sum{kind=\""
                                         "rdsClusterPointInTime\",action=\"promote\",phase=\""
                                         "Succeeded\"} 10.5\n"));
    assert_non_null(strstr(buf_cstr(&b), "lifeboat_restore_step_duration_seconds_count{kind=\""
                                         "request\",action=\"rollout\",phase=\"Failed\"} 1\n"));
    assert_non_null(strstr(buf_cstr(&b), "action=\"rollback-promote\""));
    assert_null(strstr(buf_cstr(&b), "action=\"validate\""));
    assert_null(strstr(buf_cstr(&b), "action=\"cleanup\""));
    buf_dispose(&b);
    json_decref(before);
    json_decref(after);
    metrics_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_metrics_labels),
        cmocka_unit_test(test_step_metrics_observe_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
