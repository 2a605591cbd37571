/* Unit tests for pkg/controller/plan: the order and flags of restore steps
 * (DESIGN.md section 4). Run from the repository root (make unit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api/restore.h"
#include "api/schema.h"
#include "controller/plan.h"
#include "util/error.h"

static const lb_time NOW = {.sec = 1795219200, .nsec = 0};

static json_t *load_fixture(void)
{
    json_error_t jerr;
    json_t *j = json_load_file("tests/unit/data/api/full-nine-sources.json", 0, &jerr);
    if (j == NULL)
        fail_msg("fixture: %s", jerr.text);
    return j;
}

static plan *plan_of(json_t *spec)
{
    api_restore_spec *s = NULL;
    plan *p = NULL;
    if (api_restore_parse(&s, NULL, spec, NOW) != 0)
        fail_msg("%s", lb_error_last());
    assert_int_equal(plan_build(&p, s), 0);
    api_restore_free(s);
    return p;
}

typedef struct want_step {
    const char *name;
    bool destructive;
} want_step;

static void assert_steps(const plan *p, const want_step *want, size_t n)
{
    for (size_t i = 0; i < n && i < p->n_steps; i++) {
        if (strcmp(p->steps[i].name, want[i].name) != 0)
            fail_msg("step %zu: want %s, got %s", i, want[i].name, p->steps[i].name);
        if (p->steps[i].destructive != want[i].destructive)
            fail_msg("step %s: want destructive=%d", want[i].name, want[i].destructive);
    }
    assert_int_equal(p->n_steps, n);
}

static void test_plan_full_environment_all_nine_sources(void **state)
{
    static const want_step want[] = {
        /* prepare: secrets -> databases (written order) -> redis -> s3 */
        {"jwt/validate", false},
        {"orders-db/validate", false},
        {"orders-db/restore", false},
        {"orders-db/wait-available", false},
        {"orders-db/verify", false},
        {"orders-db/migrations", false},
        {"catalog-db/validate", false},
        {"catalog-db/restore", false},
        {"catalog-db/wait-available", false},
        {"legacy-db/validate", false},
        {"loans-db/validate", false},
        {"loans-db/restore-cluster", false},
        {"loans-db/create-writer", false},
        {"loans-db/wait-available", false},
        {"loans-db/verify", false},
        {"analytics-db/validate", false},
        {"analytics-db/download", false},
        {"analytics-db/checksum", false},
        {"sessions/validate", false},
        {"sessions/download", false},
        {"sessions/checksum", false},
        {"media-sync/validate", false},
        {"media-sync/compare", false},
        {"recording/validate", false},
        {"recording/diff", false},
        {"approval", false},
        /* cutover */
        {"jwt/make-current", true},
        {"jwt/patch-secrets", true},
        {"orders-db/promote", true},
        {"orders-db/patch-secrets", true},
        {"legacy-db/pre-restore-snapshot", false},
        {"legacy-db/wait-snapshot", false},
        {"legacy-db/delete", true},
        {"legacy-db/wait-deleted", false},
        {"legacy-db/restore", true},
        {"legacy-db/wait-available", false},
        {"analytics-db/scale-down", true},
        {"analytics-db/load", true},
        {"analytics-db/scale-up", false},
        {"sessions/install", true},
        {"sessions/restart", true},
        {"sessions/check-keys", false},
        {"media-sync/sync", true},
        {"media-sync/verify", false},
        {"recording/apply", true},
        {"rollout/Deployment/auth-service", true},
        {"rollout/Deployment/api-gateway", true},
        {"verification", false},
        /* cleanup after verification */
        {"orders-db/cleanup", true},
    };
    json_t *spec = load_fixture();
    plan *p;
    (void)state;
    p = plan_of(spec);
    assert_steps(p, want, sizeof(want) / sizeof(want[0]));
    /* no destructive step before the gate */
    int gate = plan_find(p, "approval");
    for (int i = 0; i < gate; i++)
        assert_false(p->steps[i].destructive);
    plan_free(p);
    json_decref(spec);
}

static void test_plan_steps_carry_item_action_and_description(void **state)
{
    json_t *spec = load_fixture();
    plan *p = plan_of(spec);
    const plan_step *s;
    (void)state;
    s = &p->steps[plan_find(p, "orders-db/restore")];
    assert_string_equal(s->item, "orders-db");
    assert_string_equal(s->action, "restore");
    assert_int_equal(s->stage, PLAN_STAGE_PREPARE);
    assert_non_null(strstr(s->description, "shop-orders-prod"));
    assert_non_null(strstr(s->description, "2026-02-18T14:30:00Z"));
    assert_non_null(strstr(s->description, "shop-orders-restored"));
    s = &p->steps[plan_find(p, "orders-db/promote")];
    assert_non_null(strstr(s->description, "shop-orders-prod-old-"));
    s = &p->steps[plan_find(p, "loans-db/create-writer")];
    assert_non_null(strstr(s->description, "loans-aurora-restored-writer"));
    s = &p->steps[plan_find(p, "rollout/Deployment/api-gateway")];
    assert_string_equal(s->item, "");
    assert_string_equal(s->action, "rollout");
    s = &p->steps[plan_find(p, "legacy-db/delete")];
    assert_non_null(strstr(s->description, "shop-legacy-prod"));
    plan_free(p);
    json_decref(spec);
}

static void test_plan_to_json_fits_the_status_schema(void **state)
{
    json_t *spec = load_fixture(), *arr, *status;
    plan *p = plan_of(spec);
    api_errors e = {0};
    (void)state;
    arr = plan_to_json(p);
    assert_int_equal(json_array_size(arr), p->n_steps);
    json_t *first = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(first, "name")), "jwt/validate");
    assert_string_equal(json_string_value(json_object_get(first, "item")), "jwt");
    assert_string_equal(json_string_value(json_object_get(first, "action")), "validate");
    assert_true(json_is_false(json_object_get(first, "destructive")));
    assert_true(json_is_string(json_object_get(first, "description")));
    status = json_pack("{s:o}", "plan", arr);
    assert_int_equal(api_schema_validate(status, API_KIND_RESTORE_REQUEST, "status", "status", &e),
                     0);
    json_decref(status);
    plan_free(p);
    json_decref(spec);
}

static void test_plan_approval_not_required_removes_only_the_gate(void **state)
{
    json_t *spec = load_fixture();
    plan *with = plan_of(spec), *without;
    (void)state;
    json_object_set_new(spec, "approval", json_pack("{s:b}", "required", 0));
    without = plan_of(spec);
    assert_int_equal(plan_find(without, "approval"), -1);
    assert_int_equal(without->n_steps, with->n_steps - 1);
    for (size_t i = 0, j = 0; i < with->n_steps; i++) {
        if (strcmp(with->steps[i].name, "approval") == 0)
            continue;
        assert_string_equal(with->steps[i].name, without->steps[j++].name);
    }
    plan_free(with);
    plan_free(without);
    json_decref(spec);
}

static void test_plan_dry_run_does_not_change_the_plan(void **state)
{
    json_t *spec = load_fixture(), *a, *b;
    plan *p;
    (void)state;
    p = plan_of(spec);
    a = plan_to_json(p);
    plan_free(p);
    json_object_set_new(spec, "dryRun", json_true());
    p = plan_of(spec);
    b = plan_to_json(p);
    plan_free(p);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    json_decref(spec);
}

static const char *TWO_DBS_AND_SECRET =
    "{\"approval\":{\"required\":false},\"items\":["
    "{\"name\":\"db-a\",\"rdsInPlace\":{\"dbInstanceIdentifier\":\"a\",\"latest\":true}},"
    "{\"name\":\"db-b\",\"rdsInPlace\":{\"dbInstanceIdentifier\":\"b\",\"latest\":true}},"
    "{\"name\":\"db-c\",\"rdsInPlace\":{\"dbInstanceIdentifier\":\"c\",\"latest\":true}},"
    "{\"name\":\"key\",\"secretVersion\":{\"secretId\":\"k\"}}]}";

static void item_order(const char *spec_text, const char *deps_json, const char *want)
{
    json_t *spec = json_loads(spec_text, 0, NULL), *deps = json_loads(deps_json, 0, NULL);
    const char *name;
    json_t *v;
    api_restore_spec *s = NULL;
    char got[256] = "";
    size_t i;
    json_t *item;

    json_array_foreach(json_object_get(spec, "items"), i, item)
    {
        json_object_foreach(deps, name, v)
        {
            if (strcmp(name, json_string_value(json_object_get(item, "name"))) == 0)
                json_object_set(item, "dependsOn", v);
        }
    }
    if (api_restore_parse(&s, NULL, spec, NOW) != 0)
        fail_msg("%s", lb_error_last());
    for (i = 0; i < s->n_items; i++) {
        strcat(got, i ? " " : "");
        strcat(got, s->items[s->order[i]].name);
    }
    assert_string_equal(got, want);
    api_restore_free(s);
    json_decref(spec);
    json_decref(deps);
}

static void test_plan_depends_on_reorders_within_a_class(void **state)
{
    (void)state;
    item_order(TWO_DBS_AND_SECRET, "{}", "key db-a db-b db-c");
    item_order(TWO_DBS_AND_SECRET, "{\"db-a\":[\"db-c\"]}", "key db-b db-c db-a");
    item_order(TWO_DBS_AND_SECRET, "{\"db-a\":[\"db-b\"],\"db-b\":[\"db-c\"]}",
               "key db-c db-b db-a");
    /* a dependency on a later class pulls that item ahead of its dependant */
    item_order(TWO_DBS_AND_SECRET, "{\"key\":[\"db-b\"]}", "db-a db-b key db-c");
}

static void test_plan_depends_on_cycle_is_invalid_and_named(void **state)
{
    json_t *spec = json_loads(TWO_DBS_AND_SECRET, 0, NULL);
    api_restore_spec *s = NULL;
    api_errors e = {0};
    (void)state;
    json_object_set_new(json_array_get(json_object_get(spec, "items"), 0), "dependsOn",
                        json_pack("[s]", "db-b"));
    json_object_set_new(json_array_get(json_object_get(spec, "items"), 1), "dependsOn",
                        json_pack("[s]", "db-c"));
    json_object_set_new(json_array_get(json_object_get(spec, "items"), 2), "dependsOn",
                        json_pack("[s]", "db-a"));
    assert_int_equal(api_restore_parse(&s, &e, spec, NOW), LB_EINVALID);
    assert_null(s);
    assert_int_equal(e.len, 1);
    assert_string_equal(e.v[0].path, "spec.items[0].dependsOn");
    assert_string_equal(e.v[0].rule, "dependsOn cycle: db-a -> db-b -> db-c -> db-a");
    assert_non_null(strstr(lb_error_last(), "db-a -> db-b -> db-c -> db-a"));
    api_errors_dispose(&e);
    json_decref(spec);
}

static void test_plan_in_place_without_gate_still_orders_snapshot_first(void **state)
{
    json_t *spec = json_loads(TWO_DBS_AND_SECRET, 0, NULL);
    plan *p;
    (void)state;
    p = plan_of(spec);
    assert_int_equal(plan_find(p, "approval"), -1);
    assert_true(plan_find(p, "db-a/pre-restore-snapshot") < plan_find(p, "db-a/delete"));
    assert_true(plan_find(p, "db-a/wait-snapshot") < plan_find(p, "db-a/delete"));
    assert_true(plan_find(p, "db-a/delete") < plan_find(p, "db-a/restore"));
    assert_true(plan_find(p, "key/make-current") < plan_find(p, "db-a/pre-restore-snapshot"));
    assert_true(plan_find(p, "db-c/validate") < plan_find(p, "key/make-current"));
    plan_free(p);
    json_decref(spec);
}

/* A pgDump item into target secret "db"; copy: target.createDatabase. */
static json_t *pg_dump_spec(bool copy)
{
    return json_pack("{s:[{s:s, s:{s:{s:s, s:s}, s:{s:{s:s, s:s}, s:b}}}]}", "items", "name",
                     "analytics", "pgDump", "source", "bucket", "shop-backups", "key", "a.dump",
                     "target", "connectionSecretRef", "name", "db", "key", "url", "createDatabase",
                     copy);
}

static void test_plan_copy_only_needs_no_approval(void **state)
{
    json_t *spec = pg_dump_spec(true), *item;
    plan *p;
    (void)state;
    /* into a new database: loaded in prepare, nothing live, no gate */
    p = plan_of(spec);
    assert_false(plan_has_destructive(p));
    assert_int_equal(plan_find(p, "approval"), -1);
    assert_true(plan_find(p, "analytics/load") >= 0);
    plan_free(p);
    /* the same copy whose URL is then patched into a live Secret: gated */
    item = json_array_get(json_object_get(spec, "items"), 0);
    json_object_set_new(item, "secretPatches",
                        json_pack("[{s:s, s:s, s:b}]", "secretName", "app", "key", "DATABASE_URL",
                                  "replaceHost", 1));
    p = plan_of(spec);
    assert_true(plan_has_destructive(p));
    assert_true(plan_find(p, "approval") >= 0);
    assert_true(plan_find(p, "approval") < plan_find(p, "analytics/patch-secrets"));
    plan_free(p);
    json_object_del(item, "secretPatches");
    /* a copy plus a rollout (restarts live workloads): gated */
    json_object_set_new(spec, "rollout",
                        json_pack("[{s:s, s:s}]", "kind", "Deployment", "name", "api-gateway"));
    p = plan_of(spec);
    assert_true(plan_find(p, "approval") >= 0);
    plan_free(p);
    json_decref(spec);
}

/* Runbook 003 section 1 as one request: an Aurora item with promote: rename and
 * cleanup plans the cluster renames and the cluster cleanup (issue 18 item 4). */
static void test_plan_aurora_cutover_renames_and_cleans_up_clusters(void **state)
{
    static const want_step want[] = {
        {"loans-db/validate", false},
        {"loans-db/restore-cluster", false},
        {"loans-db/create-writer", false},
        {"loans-db/wait-available", false},
        {"approval", false},
        {"loans-db/promote", true},
        {"loans-db/patch-secrets", true},
        {"loans-db/cleanup", true},
    };
    json_t *spec = json_loads(
        "{\"items\":[{\"name\":\"loans-db\",\"rdsClusterPointInTime\":{"
        "\"sourceDBClusterIdentifier\":\"loanserve-prod-aurora\","
        "\"targetDBClusterIdentifier\":\"loanserve-prod-aurora-restored\","
        "\"restoreToTime\":\"2026-02-18T14:30:00Z\",\"writerInstanceClass\":\"db.r6g.large\"},"
        "\"promote\":\"rename\",\"credentialsSecretRef\":{\"name\":\"db-admin\"},"
        "\"secretPatches\":[{\"secretName\":\"app\",\"key\":\"DATABASE_URL\",\"replaceHost\":true}]"
        ","
        "\"cleanup\":{\"deleteOld\":true,\"finalSnapshot\":true,\"after\":\"1h\"}}]}",
        0, NULL);
    plan *p;
    const plan_step *st;
    (void)state;
    assert_non_null(spec);
    p = plan_of(spec);
    assert_steps(p, want, sizeof(want) / sizeof(want[0]));
    st = &p->steps[plan_find(p, "loans-db/promote")];
    assert_non_null(strstr(st->description, "Rename DB cluster loanserve-prod-aurora to "
                                            "loanserve-prod-aurora-old-<time>, then "
                                            "loanserve-prod-aurora-restored to "
                                            "loanserve-prod-aurora"));
    st = &p->steps[plan_find(p, "loans-db/cleanup")];
    assert_non_null(strstr(st->description, "After 1h, delete the renamed-away DB cluster's "
                                            "instances, then the DB cluster "
                                            "loanserve-prod-aurora-old-<time> with a final "
                                            "snapshot."));
    plan_free(p);
    json_decref(spec);
}

static void test_plan_live_target_keeps_the_gate(void **state)
{
    json_t *spec = pg_dump_spec(false);
    plan *p;
    (void)state;
    p = plan_of(spec);
    assert_true(plan_find(p, "approval") >= 0);
    assert_true(plan_find(p, "approval") < plan_find(p, "analytics/load"));
    assert_true(p->steps[plan_find(p, "analytics/load")].destructive);
    plan_free(p);
    json_decref(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_full_environment_all_nine_sources),
        cmocka_unit_test(test_plan_steps_carry_item_action_and_description),
        cmocka_unit_test(test_plan_to_json_fits_the_status_schema),
        cmocka_unit_test(test_plan_approval_not_required_removes_only_the_gate),
        cmocka_unit_test(test_plan_dry_run_does_not_change_the_plan),
        cmocka_unit_test(test_plan_copy_only_needs_no_approval),
        cmocka_unit_test(test_plan_live_target_keeps_the_gate),
        cmocka_unit_test(test_plan_aurora_cutover_renames_and_cleans_up_clusters),
        cmocka_unit_test(test_plan_depends_on_reorders_within_a_class),
        cmocka_unit_test(test_plan_depends_on_cycle_is_invalid_and_named),
        cmocka_unit_test(test_plan_in_place_without_gate_still_orders_snapshot_first),
    };
    return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
