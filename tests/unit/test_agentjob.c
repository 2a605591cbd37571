/* Unit tests for pkg/controller/agentjob: the Job object shared by pgDump
 * restores and backups (owner, secrets only by reference, AWS settings). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "controller/agentjob.h"

static void test_agentjob_build_owner_secrets_and_aws_env(void **state)
{
    (void)state;
    setenv("AWS_REGION", "eu-west-1", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "never-copied", 1);
    unsetenv("LIFEBOAT_AGENT_IMAGE");
    agentjob_spec s = {.name = "lb-bp-orders-logical-20260101000000",
                       .ns = "shop",
                       .owner_api = "lifeboat.dev/v1alpha1",
                       .owner_kind = "BackupPolicy",
                       .owner_name = "orders",
                       .owner_uid = "uid-1",
                       .annotation = "lifeboat.dev/backup-policy"};
    json_t *ref = json_pack("{s:s, s:s}", "name", "orders-db", "key", "url");
    json_t *env = json_array();
    json_array_append_new(env, agentjob_secret_env("LIFEBOAT_DB_URL", ref));
    json_t *job = agentjob_build(&s, json_pack("[s, s]", "lifeboat-agent", "pg-backup"), env);
    char *text = json_dumps(job, JSON_COMPACT);

    assert_string_equal(json_string_value(json_object_get(job, "kind")), "Job");
    const json_t *owner =
        json_array_get(json_object_get(json_object_get(job, "metadata"), "ownerReferences"), 0);
    assert_string_equal(json_string_value(json_object_get(owner, "kind")), "BackupPolicy");
    assert_string_equal(json_string_value(json_object_get(owner, "uid")), "uid-1");
    assert_true(json_is_true(json_object_get(owner, "controller")));
    assert_non_null(strstr(text, "\"secretKeyRef\":{\"name\":\"orders-db\",\"key\":\"url\"}"));
    assert_non_null(strstr(text, "\"name\":\"AWS_REGION\",\"value\":\"eu-west-1\""));
    assert_null(strstr(text, "never-copied"));
    assert_non_null(strstr(text, "\"automountServiceAccountToken\":false"));
    assert_non_null(strstr(text, "\"backoffLimit\":0"));
    assert_non_null(strstr(text, AGENTJOB_DEFAULT_IMAGE));
    assert_non_null(strstr(text, "\"lifeboat.dev/backup-policy\":\"shop/orders\""));
    free(text);
    json_decref(job);
    json_decref(ref);
}

static void test_agentjob_one_pod_unless_several_completions(void **state)
{
    agentjob_spec s = {.name = "lb-rr1-media-sync",
                       .ns = "shop",
                       .owner_api = "lifeboat.dev/v1alpha1",
                       .owner_kind = "RestoreRequest",
                       .owner_name = "rr1",
                       .owner_uid = "uid-1",
                       .annotation = "lifeboat.dev/restore-request"};
    json_t *one, *indexed, *spec;
    (void)state;

    /* the default (0) and 1 build the same single-pod Job as before */
    one = agentjob_build(&s, json_pack("[s]", "lifeboat-agent"), json_array());
    spec = json_object_get(one, "spec");
    assert_null(json_object_get(spec, "completionMode"));
    assert_null(json_object_get(spec, "completions"));
    assert_null(json_object_get(spec, "parallelism"));
    s.completions = 1;
    indexed = agentjob_build(&s, json_pack("[s]", "lifeboat-agent"), json_array());
    assert_true(json_equal(one, indexed));
    json_decref(indexed);

    s.completions = 5;
    s.parallelism = 2;
    indexed = agentjob_build(&s, json_pack("[s]", "lifeboat-agent"), json_array());
    spec = json_object_get(indexed, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "completionMode")), "Indexed");
    assert_int_equal(json_integer_value(json_object_get(spec, "completions")), 5);
    assert_int_equal(json_integer_value(json_object_get(spec, "parallelism")), 2);
    assert_int_equal(json_integer_value(json_object_get(spec, "backoffLimit")), 0);
    /* apart from those three fields, the same Job */
    json_object_del(spec, "completionMode");
    json_object_del(spec, "completions");
    json_object_del(spec, "parallelism");
    assert_true(json_equal(one, indexed));
    json_decref(indexed);

    s.parallelism = 0; /* all at once */
    indexed = agentjob_build(&s, json_pack("[s]", "lifeboat-agent"), json_array());
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(indexed, "spec"), "parallelism")), 5);
    json_decref(indexed);
    json_decref(one);
}

static void test_agentjob_object_name_fits(void **state)
{
    char out[64];
    (void)state;
    agentjob_object_name(out, sizeof(out), "lb-bp-short-name");
    assert_string_equal(out, "lb-bp-short-name");
    agentjob_object_name(out, sizeof(out),
                         "lb-bp-a-very-long-policy-name-that-goes-on-and-on-with-a-long-target-"
                         "20260101000000");
    assert_true(strlen(out) <= 63);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agentjob_build_owner_secrets_and_aws_env),
        cmocka_unit_test(test_agentjob_one_pod_unless_several_completions),
        cmocka_unit_test(test_agentjob_object_name_fits),
    };
    return cmocka_run_group_tests_name("agentjob", tests, NULL, NULL);
}
