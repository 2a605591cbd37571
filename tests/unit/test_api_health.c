/* test_api_health - the health verdict of the three kinds and the kstatus
 * conditions written from it (pkg/api/health.h). The full table is checked
 * against deploy/argocd/health.lua by e2e/deploy/tests/test_health.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/common.h"
#include "api/health.h"

static json_t *object(const char *text)
{
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    assert_non_null(o);
    return o;
}

static api_health health(const char *text, const char **reason)
{
    json_t *o = object(text);
    api_health h = api_health_of(o, json_object_get(o, "status"), reason);
    /* the reason may be borrowed from the status: copy the verdict out first */
    static char kept[64];
    snprintf(kept, sizeof(kept), "%s", *reason);
    *reason = kept;
    json_decref(o);
    return h;
}

static void test_restore_phases(void **state)
{
    (void)state;
    const char *r = NULL;
    assert_int_equal(health("{\"kind\":\"RestoreRequest\",\"metadata\":{\"generation\":1}}", &r),
                     API_HEALTH_PROGRESSING);
    assert_string_equal(r, "Pending");
    assert_int_equal(health("{\"kind\":\"RestoreRequest\",\"status\":{\"phase\":\"AwaitingApproval\"}}", &r),
                     API_HEALTH_SUSPENDED);
    assert_int_equal(health("{\"kind\":\"RestoreRequest\",\"status\":{\"phase\":\"RolledBack\"}}", &r),
                     API_HEALTH_DEGRADED);
    assert_string_equal(r, "RolledBack");
    assert_int_equal(health("{\"kind\":\"RestoreRequest\",\"status\":{\"phase\":\"Planned\"}}", &r),
                     API_HEALTH_HEALTHY);
    /* a newer spec than the status speaks for */
    assert_int_equal(health("{\"kind\":\"RestoreRequest\",\"metadata\":{\"generation\":3},"
                            "\"status\":{\"phase\":\"Succeeded\",\"observedGeneration\":2}}", &r),
                     API_HEALTH_PROGRESSING);
    assert_string_equal(r, "NewGeneration");
    /* an invalid spec wins over the phase */
    assert_int_equal(health("{\"kind\":\"VerificationRun\",\"status\":{\"phase\":\"Pending\","
                            "\"conditions\":[{\"type\":\"Valid\",\"status\":\"False\","
                            "\"reason\":\"InvalidSpec\"}]}}", &r),
                     API_HEALTH_DEGRADED);
    assert_string_equal(r, "InvalidSpec");
}

static void test_backup_conditions_and_suspend(void **state)
{
    (void)state;
    const char *r = NULL;
    assert_int_equal(health("{\"kind\":\"BackupPolicy\",\"spec\":{\"suspend\":true},\"status\":"
                            "{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\","
                            "\"reason\":\"StaleBackup\"}]}}", &r),
                     API_HEALTH_SUSPENDED);
    assert_int_equal(health("{\"kind\":\"BackupPolicy\",\"status\":{\"conditions\":["
                            "{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"BackupsGood\"},"
                            "{\"type\":\"ConfigDrift\",\"status\":\"True\",\"reason\":\"SettingsDiffer\"}]}}",
                            &r),
                     API_HEALTH_DEGRADED);
    assert_string_equal(r, "SettingsDiffer");
    assert_int_equal(health("{\"kind\":\"BackupPolicy\",\"status\":{}}", &r), API_HEALTH_PROGRESSING);
    assert_int_equal(health("{\"kind\":\"Pod\"}", &r), API_HEALTH_PROGRESSING);
    assert_string_equal(r, "UnknownKind");
}

static const char *cond(const json_t *status, const char *type, const char *field)
{
    return api_get_str(api_condition_find(status, type), field);
}

static void test_kstatus_conditions_follow_the_phase(void **state)
{
    (void)state;
    json_t *obj = object("{\"kind\":\"RestoreRequest\",\"metadata\":{\"generation\":1}}");
    json_t *st = object("{\"phase\":\"Running\",\"message\":\"step 2/5\"}");
    lb_time t0 = lb_time_now();

    assert_int_equal(api_health_conditions_set(st, obj, 1, t0), 1);
    assert_string_equal(cond(st, "Reconciling", "status"), "True");
    assert_string_equal(cond(st, "Reconciling", "reason"), "Running");
    assert_string_equal(cond(st, "Reconciling", "message"), "step 2/5");
    assert_string_equal(cond(st, "Stalled", "status"), "False");
    /* nothing changed: nothing to write */
    assert_int_equal(api_health_conditions_set(st, obj, 1, t0), 0);

    json_object_set_new(st, "phase", json_string("Failed"));
    json_object_set_new(st, "message", json_string("step 3 failed"));
    assert_int_equal(api_health_conditions_set(st, obj, 1, t0), 1);
    assert_string_equal(cond(st, "Reconciling", "status"), "False");
    assert_string_equal(cond(st, "Stalled", "status"), "True");
    assert_string_equal(cond(st, "Stalled", "reason"), "Failed");
    assert_string_equal(cond(st, "Stalled", "message"), "step 3 failed");

    json_object_set_new(st, "phase", json_string("AwaitingApproval"));
    assert_int_equal(api_health_conditions_set(st, obj, 1, t0), 1);
    assert_string_equal(cond(st, "Reconciling", "status"), "False");
    assert_string_equal(cond(st, "Stalled", "status"), "False");
    assert_string_equal(cond(st, "Stalled", "reason"), "Suspended");

    /* a status that is not an object is refused, not crashed on */
    json_t *bad = json_array();
    assert_true(api_health_conditions_set(bad, obj, 1, t0) < 0);
    json_decref(bad);
    json_decref(st);
    json_decref(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restore_phases),
        cmocka_unit_test(test_backup_conditions_and_suspend),
        cmocka_unit_test(test_kstatus_conditions_follow_the_phase),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
