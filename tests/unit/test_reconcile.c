/* test_reconcile.c - the three kinds' desired status (pure) and the
 * generation check that keeps a no-op reconcile cheap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/common.h"
#include "api/restore.h"
#include "controller/backup/reconcile.h"
#include "controller/controller.h"
#include "controller/plan.h"
#include "controller/restore/engine.h"
#include "controller/restore/reconcile.h"
#include "controller/verify/reconcile.h"
#include "util/timeutil.h"

#define RR_SPEC(dry, time)                                                                         \
    "{\"dryRun\":" dry ",\"items\":[{\"name\":\"orders-db\",\"rdsPointInTime\":{"                  \
    "\"sourceDBInstanceIdentifier\":\"orders-prod\",\"restoreTime\":\"" time "\","                 \
    "\"targetDBInstanceIdentifier\":\"orders-prod-restored\"},"                                    \
    "\"credentialsSecretRef\":{\"name\":\"orders-admin\"},\"database\":\"orders\","                \
    "\"verify\":{\"checks\":[{\"name\":\"c\",\"sql\":{\"query\":\"SELECT 1\",\"expect\":{"         \
    "\"min\":1}}}]},\"promote\":\"rename\",\"secretPatches\":[{\"secretName\":\"s\",\"key\":"      \
    "\"URL\",\"replaceHost\":true}]}],\"rollout\":[{\"kind\":\"Deployment\",\"name\":\"api\"}]}"

static lb_time now_fixed(void)
{
    lb_time t;
    assert_int_equal(lb_time_parse_rfc3339(&t, "2026-03-01T00:00:00Z"), 0);
    return t;
}

/* An object {metadata: {name, namespace, generation}, spec} with an optional status. */
static json_t *object(const char *spec, int generation, const char *status)
{
    json_error_t err;
    json_t *s = json_loads(spec, 0, &err);
    json_t *o;
    assert_non_null(s);
    o = json_pack("{s:s, s:s, s:{s:s, s:s, s:i}, s:o}", "apiVersion", "lifeboat.dev/v1alpha1",
                  "kind", "RestoreRequest", "metadata", "name", "r", "namespace", "ns",
                  "generation", generation, "spec", s);
    if (status != NULL)
        json_object_set_new(o, "status", json_loads(status, 0, &err));
    return o;
}

static const char *cond_field(const json_t *status, const char *type, const char *field)
{
    return api_get_str(api_condition_find(status, type), field);
}

static void test_reconcile_dry_run_publishes_planner_plan(void **state)
{
    json_t *obj = object(RR_SPEC("true", "2026-02-18T14:30:00Z"), 3, NULL);
    json_t *status = json_object(), *want;
    api_restore_spec *spec = NULL;
    plan *p = NULL;
    (void)state;

    assert_int_equal(restore_desired_status(status, obj, now_fixed()), 0);
    assert_string_equal(api_get_str(status, "phase"), "Planned");
    assert_string_equal(api_get_str(status, "currentStep"), "");
    assert_int_equal(api_get_int(status, "observedGeneration", -1), 3);
    assert_string_equal(cond_field(status, "Valid", "status"), "True");
    assert_int_equal(api_get_int(api_condition_find(status, "Valid"), "observedGeneration", -1), 3);
    assert_string_equal(cond_field(status, "Progressing", "reason"), "DryRun");
    /* the published plan is exactly the planner's */
    assert_int_equal(api_restore_parse(&spec, NULL, json_object_get(obj, "spec"), now_fixed()), 0);
    assert_int_equal(plan_build(&p, spec), 0);
    want = plan_to_json(p);
    assert_true(json_equal(json_object_get(status, "plan"), want));
    assert_string_equal(api_get_str(json_array_get(want, 0), "name"), "orders-db/validate");
    json_decref(want);
    plan_free(p);
    api_restore_free(spec);
    json_decref(status);
    json_decref(obj);
}

static void test_reconcile_future_restore_time_is_invalid_spec(void **state)
{
    json_t *obj = object(RR_SPEC("true", "2027-01-01T00:00:00Z"), 1, NULL);
    json_t *status = json_object();
    (void)state;

    assert_int_equal(restore_desired_status(status, obj, now_fixed()), 0);
    assert_string_equal(cond_field(status, "Valid", "status"), "False");
    assert_string_equal(cond_field(status, "Valid", "reason"), "InvalidSpec");
    assert_non_null(
        strstr(cond_field(status, "Valid", "message"), "spec.items[0].rdsPointInTime.restoreTime"));
    assert_string_equal(api_get_str(status, "phase"), "Failed");
    assert_null(json_object_get(status, "plan"));
    assert_null(api_condition_find(status, "Progressing"));
    json_decref(status);
    json_decref(obj);
}

static void test_reconcile_not_dry_run_starts_the_run(void **state)
{
    json_t *obj = object(RR_SPEC("false", "2026-02-18T14:30:00Z"), 2, NULL);
    json_t *status = json_object(), *plan_json, *steps;
    (void)state;

    assert_int_equal(restore_desired_status(status, obj, now_fixed()), 0);
    assert_string_equal(api_get_str(status, "phase"), "Running");
    assert_string_equal(cond_field(status, "Progressing", "status"), "True");
    assert_string_equal(cond_field(status, "Approved", "status"), "False");
    assert_string_equal(api_get_str(status, "startedAt"), "2026-03-01T00:00:00Z");
    plan_json = json_object_get(status, "plan");
    steps = json_object_get(status, "steps");
    assert_true(json_array_size(plan_json) > 0);
    assert_int_equal(json_array_size(steps), json_array_size(plan_json));
    for (size_t i = 0; i < json_array_size(steps); i++) {
        assert_string_equal(api_get_str(json_array_get(steps, i), "name"),
                            api_get_str(json_array_get(plan_json, i), "name"));
        assert_string_equal(api_get_str(json_array_get(steps, i), "phase"), "Pending");
    }
    json_decref(status);
    json_decref(obj);
}

static void test_reconcile_desired_is_idempotent(void **state)
{
    json_t *obj = object(RR_SPEC("true", "2026-02-18T14:30:00Z"), 1, NULL);
    json_t *first = json_object(), *second;
    lb_time later = now_fixed();
    (void)state;

    assert_int_equal(restore_desired_status(first, obj, now_fixed()), 0);
    second = json_deep_copy(first);
    later.sec += 60; /* a later reconcile must not move lastTransitionTime */
    assert_int_equal(restore_desired_status(second, obj, later), 0);
    assert_true(json_equal(first, second));
    json_decref(first);
    json_decref(second);
    json_decref(obj);
}

static void test_reconcile_invalid_generation_drops_old_plan(void **state)
{
    json_t *good = object(RR_SPEC("true", "2026-02-18T14:30:00Z"), 1, NULL);
    json_t *bad = object(RR_SPEC("true", "2027-01-01T00:00:00Z"), 2, NULL);
    json_t *status = json_object();
    (void)state;

    assert_int_equal(restore_desired_status(status, good, now_fixed()), 0);
    assert_non_null(json_object_get(status, "plan"));
    assert_int_equal(restore_desired_status(status, bad, now_fixed()), 0);
    assert_null(json_object_get(status, "plan"));
    assert_string_equal(api_get_str(status, "phase"), "Failed");
    assert_int_equal(api_get_int(status, "observedGeneration", -1), 2);
    json_decref(status);
    json_decref(good);
    json_decref(bad);
}

static void test_reconcile_status_current_follows_generation(void **state)
{
    json_t *obj = object(RR_SPEC("true", "2026-02-18T14:30:00Z"), 4, NULL);
    json_t *status = json_object();
    (void)state;

    assert_false(ctrl_status_current(obj));
    assert_int_equal(restore_desired_status(status, obj, now_fixed()), 0);
    json_object_set(obj, "status", status);
    assert_true(ctrl_status_current(obj));
    json_object_set_new(json_object_get(obj, "metadata"), "generation", json_integer(5));
    assert_false(ctrl_status_current(obj));
    json_decref(status);
    json_decref(obj);
}

static void test_reconcile_current_status_is_skipped_without_io(void **state)
{
    json_t *obj = object(RR_SPEC("true", "2026-02-18T14:30:00Z"), 1, NULL);
    json_t *status = json_object();
    ctrl_env env = {0}; /* no client: any request would crash */
    ctrl_result out = {.outcome = CTRL_WRITTEN, .requeue_ms = 0};
    (void)state;

    assert_int_equal(restore_desired_status(status, obj, now_fixed()), 0);
    json_object_set_new(obj, "status", status);
    assert_int_equal(ctrl_reconcile(&out, &ctrl_kind_restore, &env, obj), 0);
    assert_int_equal(out.outcome, CTRL_SKIPPED);
    assert_true(out.requeue_ms < 0);
    json_decref(obj);
}

static void test_reconcile_awaiting_approval_without_annotation_is_skipped(void **state)
{
    json_t *obj = object(RR_SPEC("false", "2026-02-18T14:30:00Z"), 1, NULL);
    json_t *status = json_object();
    ctrl_env env = {0}; /* no client: any request would crash */
    ctrl_result out = {.outcome = CTRL_WRITTEN, .requeue_ms = 0};
    (void)state;

    assert_int_equal(restore_desired_status(status, obj, now_fixed()), 0);
    json_object_set_new(status, "phase", json_string("AwaitingApproval"));
    json_object_set_new(obj, "status", status);
    assert_int_equal(ctrl_reconcile(&out, &ctrl_kind_restore, &env, obj), 0);
    assert_int_equal(out.outcome, CTRL_SKIPPED);
    /* a running restore is not settled: it needs the engine */
    json_object_set_new(status, "phase", json_string("Running"));
    assert_false(engine_settled(obj));
    json_object_set_new(status, "phase", json_string("Succeeded"));
    assert_true(engine_settled(obj));
    json_object_set_new(json_object_get(obj, "metadata"), "generation", json_integer(2));
    assert_false(engine_settled(obj)); /* a later spec gets its SpecChanged note first */
    json_decref(obj);
}

static void test_reconcile_verify_sets_valid_only(void **state)
{
    json_t *good =
        object("{\"checks\":[{\"name\":\"h\",\"http\":{\"url\":\"http://a/h\"}}]}", 1, NULL);
    json_t *bad = object("{\"checks\":[]}", 2, NULL);
    json_t *status = json_object();
    (void)state;

    assert_int_equal(verify_desired_status(status, bad, now_fixed()), 0);
    assert_string_equal(cond_field(status, "Valid", "reason"), "InvalidSpec");
    assert_non_null(strstr(cond_field(status, "Valid", "message"), "spec.checks"));
    assert_string_equal(api_get_str(status, "phase"), "Failed");
    assert_int_equal(verify_desired_status(status, good, now_fixed()), 0);
    assert_string_equal(cond_field(status, "Valid", "status"), "True");
    assert_null(json_object_get(status, "phase")); /* nothing ran: no phase is claimed */
    assert_null(json_object_get(status, "results"));
    assert_int_equal(api_get_int(status, "observedGeneration", -1), 1);
    json_decref(status);
    json_decref(good);
    json_decref(bad);
}

static void test_reconcile_backup_sets_valid_only(void **state)
{
    json_t *good = object("{\"schedule\":\"0 1 * * 0\",\"targets\":[{\"name\":\"snap\","
                          "\"rdsSnapshot\":{\"dbInstanceIdentifier\":\"shop-db\"}}]}",
                          1, NULL);
    json_t *bad = object("{\"schedule\":\"61 * * * *\",\"targets\":[{\"name\":\"snap\","
                         "\"rdsSnapshot\":{\"dbInstanceIdentifier\":\"shop-db\"}}]}",
                         2, NULL);
    json_t *status = json_object();
    (void)state;

    assert_int_equal(backup_desired_status(status, good, now_fixed()), 0);
    assert_string_equal(cond_field(status, "Valid", "status"), "True");
    assert_null(json_object_get(status, "lastScheduleTime"));
    assert_int_equal(backup_desired_status(status, bad, now_fixed()), 0);
    assert_string_equal(cond_field(status, "Valid", "status"), "False");
    assert_non_null(strstr(cond_field(status, "Valid", "message"), "spec.schedule"));
    assert_int_equal(api_get_int(status, "observedGeneration", -1), 2);
    json_decref(status);
    json_decref(good);
    json_decref(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reconcile_dry_run_publishes_planner_plan),
        cmocka_unit_test(test_reconcile_future_restore_time_is_invalid_spec),
        cmocka_unit_test(test_reconcile_not_dry_run_starts_the_run),
        cmocka_unit_test(test_reconcile_desired_is_idempotent),
        cmocka_unit_test(test_reconcile_invalid_generation_drops_old_plan),
        cmocka_unit_test(test_reconcile_status_current_follows_generation),
        cmocka_unit_test(test_reconcile_current_status_is_skipped_without_io),
        cmocka_unit_test(test_reconcile_awaiting_approval_without_annotation_is_skipped),
        cmocka_unit_test(test_reconcile_verify_sets_valid_only),
        cmocka_unit_test(test_reconcile_backup_sets_valid_only),
    };
    return cmocka_run_group_tests_name("reconcile", tests, NULL, NULL);
}
