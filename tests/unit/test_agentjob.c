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
        cmocka_unit_test(test_agentjob_object_name_fits),
    };
    return cmocka_run_group_tests_name("agentjob", tests, NULL, NULL);
}
