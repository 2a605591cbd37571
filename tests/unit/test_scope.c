/* test_scope.c - RecoveryScope selection and name checks (api/scope.h,
 * controller/restore/scope.h), table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "api/restore.h"
#include "api/scope.h"
#include "controller/restore/access.h"
#include "controller/restore/scope.h"
#include "util/error.h"

static const char *const SCOPE_A =
    "{\"metadata\":{\"name\":\"team-a\"},\"spec\":{"
    "\"namespaces\":[\"team-a\",\"team-a-*\"],"
    "\"aws\":{\"rdsInstances\":[\"team-a-*\"],\"rdsClusters\":[\"team-a-*\"],"
    "\"rdsSnapshots\":[\"team-a-*\",\"arn:aws:rds:*:111111111111:snapshot:team-a-*\"],"
    "\"instanceClasses\":[\"db.t3.*\"],\"subnetGroups\":[\"team-a-db\"],"
    "\"securityGroups\":[\"sg-0aaaaaaaa\"],\"secretIds\":[\"team-a/*\"],"
    "\"s3\":[{\"bucket\":\"team-a-backups\"},{\"bucket\":\"shared-media\",\"prefix\":\"team-a/\"}]},"
    "\"kubernetes\":{\"images\":[\"registry.example/team-a/*\"],\"serviceAccounts\":[\"migrator\"],"
    "\"httpHosts\":[\"*.team-a.svc\"]}}}";

static const char *const SCOPE_B =
    "{\"metadata\":{\"name\":\"team-b\"},\"spec\":{\"namespaceSelector\":{\"matchLabels\":"
    "{\"team\":\"b\"}},\"aws\":{\"rdsInstances\":[\"team-b-*\"],\"allowPublic\":true}}}";

static json_t *load(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_scope_selects_by_name_pattern_and_labels(void **state)
{
    static const struct {
        const char *ns, *labels;
        int a, b;
    } cases[] = {
        {"team-a", "{}", 1, 0},
        {"team-a-staging", "{}", 1, 0},
        {"team-ab", "{}", 0, 0},
        {"team-b", "{\"team\":\"b\"}", 0, 1},
        {"team-b", "{\"team\":\"c\"}", 0, 0},
        {"team-b", "null", 0, 0},
        {"other", "{\"team\":\"b\",\"x\":\"y\"}", 0, 1},
    };
    json_t *a = load(SCOPE_A), *b = load(SCOPE_B);
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *labels = json_loads(cases[i].labels, JSON_DECODE_ANY, NULL);
        assert_int_equal(api_scope_selects(a, cases[i].ns, labels) != 0, cases[i].a);
        assert_int_equal(api_scope_selects(b, cases[i].ns, labels) != 0, cases[i].b);
        json_decref(labels);
    }
    json_decref(a);
    json_decref(b);
}

static void test_scope_select_denies_none_and_ambiguous(void **state)
{
    json_t *scopes = json_pack("[o,o]", load(SCOPE_A), load(SCOPE_B));
    json_t *both = json_loads("{\"team\":\"b\"}", 0, NULL);
    const json_t *got = NULL;
    (void)state;
    assert_int_equal(api_scope_select(&got, scopes, "team-a", NULL), 0);
    assert_string_equal(api_scope_name(got), "team-a");
    assert_int_equal(api_scope_select(&got, scopes, "nobody", NULL), LB_ENOTFOUND);
    assert_null(got);
    assert_non_null(strstr(lb_error_last(), "no RecoveryScope selects namespace nobody"));
    assert_int_equal(api_scope_select(&got, scopes, "team-a", both), LB_ECONFLICT);
    assert_non_null(strstr(lb_error_last(), "team-a, team-b"));
    json_decref(both);
    json_decref(scopes);
}

static void test_scope_allows_table(void **state)
{
    static const struct {
        api_scope_list list;
        const char *value;
        int allowed;
    } cases[] = {
        {API_SCOPE_RDS_INSTANCES, "team-a-orders", 1},
        {API_SCOPE_RDS_INSTANCES, "team-b-orders", 0},
        {API_SCOPE_RDS_INSTANCES, "team-a", 0},
        {API_SCOPE_RDS_SNAPSHOTS, "team-a-snap-1", 1},
        {API_SCOPE_RDS_SNAPSHOTS, "arn:aws:rds:us-east-1:111111111111:snapshot:team-a-x", 1},
        {API_SCOPE_RDS_SNAPSHOTS, "arn:aws:rds:us-east-1:222222222222:snapshot:team-a-x", 0},
        {API_SCOPE_RDS_CLUSTERS, "team-a-aurora", 1},
        {API_SCOPE_INSTANCE_CLASSES, "db.t3.medium", 1},
        {API_SCOPE_INSTANCE_CLASSES, "db.r6g.16xlarge", 0},
        {API_SCOPE_SUBNET_GROUPS, "team-a-db", 1},
        {API_SCOPE_SECURITY_GROUPS, "sg-0bbbbbbbb", 0},
        {API_SCOPE_SECRET_IDS, "team-a/db", 1},
        {API_SCOPE_SECRET_IDS, "team-b/db", 0},
        {API_SCOPE_IMAGES, "registry.example/team-a/migrate:1", 1},
        {API_SCOPE_IMAGES, "evil.example/team-a/migrate:1", 0},
        {API_SCOPE_SERVICE_ACCOUNTS, "migrator", 1},
        {API_SCOPE_SERVICE_ACCOUNTS, "cluster-admin-sa", 0},
        {API_SCOPE_HTTP_HOSTS, "api.team-a.svc", 1},
        {API_SCOPE_HTTP_HOSTS, "169.254.169.254", 0},
    };
    json_t *a = load(SCOPE_A), *b = load(SCOPE_B);
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(api_scope_allows(a, cases[i].list, cases[i].value) != 0,
                         cases[i].allowed);
    /* an absent list allows nothing */
    assert_false(api_scope_allows(b, API_SCOPE_SECRET_IDS, "anything"));
    json_decref(a);
    json_decref(b);
}

static void test_scope_s3_bucket_and_prefix(void **state)
{
    static const struct {
        const char *bucket, *key;
        int allowed;
    } cases[] = {
        {"team-a-backups", "pg/x.dump", 1}, {"team-a-backups", NULL, 1},
        {"shared-media", "team-a/img.png", 1}, {"shared-media", "team-b/img.png", 0},
        {"shared-media", "", 0},             {"shared-media", NULL, 0},
        {"team-b-backups", "pg/x.dump", 0},
    };
    json_t *a = load(SCOPE_A);
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(api_scope_allows_s3(a, cases[i].bucket, cases[i].key) != 0,
                         cases[i].allowed);
    json_decref(a);
}

/* Every source's names go through the scope: one spec per source, touching team-b. */
static void test_scope_check_spec_names_field_value_and_scope(void **state)
{
    static const struct {
        const char *item, *field, *value;
    } cases[] = {
        {"{\"name\":\"i\",\"rdsInPlace\":{\"dbInstanceIdentifier\":\"team-b-db\",\"latest\":true}}",
         "spec.items[0].rdsInPlace.dbInstanceIdentifier", "team-b-db"},
        {"{\"name\":\"i\",\"rdsPointInTime\":{\"sourceDBInstanceIdentifier\":\"team-b-db\","
         "\"useLatestRestorableTime\":true,\"targetDBInstanceIdentifier\":\"team-a-copy\"}}",
         "spec.items[0].rdsPointInTime.sourceDBInstanceIdentifier", "team-b-db"},
        {"{\"name\":\"i\",\"rdsPointInTime\":{\"sourceDBInstanceIdentifier\":\"team-a-db\","
         "\"useLatestRestorableTime\":true,\"targetDBInstanceIdentifier\":\"team-a-copy\","
         "\"vpcSecurityGroupIds\":[\"sg-0aaaaaaaa\",\"sg-0bbbbbbbb\"]}}",
         "spec.items[0].rdsPointInTime.vpcSecurityGroupIds[1]", "sg-0bbbbbbbb"},
        {"{\"name\":\"i\",\"rdsPointInTime\":{\"sourceDBInstanceIdentifier\":\"team-a-db\","
         "\"useLatestRestorableTime\":true,\"targetDBInstanceIdentifier\":\"team-a-copy\","
         "\"publiclyAccessible\":true}}",
         "spec.items[0].rdsPointInTime.publiclyAccessible", "spec.aws.allowPublic"},
        {"{\"name\":\"i\",\"rdsSnapshot\":{\"dbSnapshotIdentifier\":\"team-b-snap\","
         "\"targetDBInstanceIdentifier\":\"team-a-copy\"}}",
         "spec.items[0].rdsSnapshot.dbSnapshotIdentifier", "team-b-snap"},
        {"{\"name\":\"i\",\"rdsSnapshot\":{\"latestFrom\":{\"dbInstanceIdentifier\":\"team-b-db\"},"
         "\"targetDBInstanceIdentifier\":\"team-a-copy\"}}",
         "spec.items[0].rdsSnapshot.latestFrom.dbInstanceIdentifier", "team-b-db"},
        {"{\"name\":\"i\",\"rdsSnapshot\":{\"dbSnapshotIdentifier\":\"team-a-s\","
         "\"targetDBInstanceIdentifier\":\"team-a-copy\",\"dbInstanceClass\":\"db.r6g.large\"}}",
         "spec.items[0].rdsSnapshot.dbInstanceClass", "db.r6g.large"},
        {"{\"name\":\"i\",\"rdsClusterPointInTime\":{\"sourceDBClusterIdentifier\":\"team-b-c\","
         "\"useLatestRestorableTime\":true,\"writerInstanceClass\":\"db.t3.medium\"}}",
         "spec.items[0].rdsClusterPointInTime.sourceDBClusterIdentifier", "team-b-c"},
        {"{\"name\":\"i\",\"pgDump\":{\"source\":{\"bucket\":\"team-b-backups\",\"key\":\"x.dump\"},"
         "\"target\":{\"connectionSecretRef\":{\"name\":\"db\",\"key\":\"url\"}}}}",
         "spec.items[0].pgDump.source.key", "s3://team-b-backups/x.dump"},
        {"{\"name\":\"i\",\"s3Objects\":{\"bucket\":\"shared-media\",\"prefix\":\"team-b/\","
         "\"mode\":\"undelete\"}}",
         "spec.items[0].s3Objects.prefix", "s3://shared-media/team-b/"},
        {"{\"name\":\"i\",\"s3Sync\":{\"sourceBucket\":\"team-a-backups\",\"targetBucket\":"
         "\"team-b-media\"}}",
         "spec.items[0].s3Sync.targetBucket", "team-b-media"},
        {"{\"name\":\"i\",\"secretVersion\":{\"secretId\":\"team-b/db\"}}",
         "spec.items[0].secretVersion.secretId", "team-b/db"},
        {"{\"name\":\"i\",\"rdsPointInTime\":{\"sourceDBInstanceIdentifier\":\"team-a-db\","
         "\"useLatestRestorableTime\":true,\"targetDBInstanceIdentifier\":\"team-a-copy\"},"
         "\"credentialsSecretRef\":{\"name\":\"c\"},\"database\":\"d\","
         "\"migrations\":{\"image\":\"evil/x\",\"command\":[\"x\"]}}",
         "spec.items[0].migrations.image", "evil/x"},
        {"{\"name\":\"i\",\"job\":{\"template\":{\"spec\":{\"template\":{\"spec\":{"
         "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\",\"image\":"
         "\"registry.example/team-a/ok\"}],\"initContainers\":[{\"name\":\"i\",\"image\":"
         "\"evil/init\"}]}}}}}}",
         "spec.items[0].job.template.spec.template.spec.initContainers[0].image", "evil/init"},
        {"{\"name\":\"i\",\"job\":{\"template\":{\"spec\":{\"template\":{\"spec\":{"
         "\"restartPolicy\":\"Never\",\"serviceAccountName\":\"cluster-admin-sa\","
         "\"containers\":[{\"name\":\"c\",\"image\":\"registry.example/team-a/ok\"}]}}}}}}",
         "spec.items[0].job.template.spec.template.spec.serviceAccountName", "cluster-admin-sa"},
        {"{\"name\":\"i\",\"fileArchive\":{\"source\":{\"bucket\":\"team-b-backups\","
         "\"key\":\"f.tar.gz\"},\"target\":{\"persistentVolumeClaim\":\"files\"}}}",
         "spec.items[0].fileArchive.source.key", "s3://team-b-backups/f.tar.gz"},
    };
    json_t *a = load(SCOPE_A);
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[2048];
        json_t *spec;
        api_restore_spec *rs = NULL;
        api_errors errs = {0};
        char *msg;
        snprintf(buf, sizeof(buf), "{\"approval\":{\"required\":true},\"items\":[%s]}",
                 cases[i].item);
        spec = json_loads(buf, 0, NULL);
        assert_non_null(spec);
        if (api_restore_parse(&rs, NULL, spec, lb_time_now()) != 0)
            fail_msg("case %zu does not parse: %s", i, lb_error_last());
        if (rscope_check_spec(&errs, a, rs) != LB_EINVALID)
            fail_msg("case %zu was allowed", i);
        msg = api_errors_join(&errs);
        if (strstr(msg, cases[i].field) == NULL || strstr(msg, cases[i].value) == NULL ||
            strstr(msg, "RecoveryScope team-a") == NULL)
            fail_msg("case %zu: %s", i, msg);
        free(msg);
        api_errors_dispose(&errs);
        api_restore_free(rs);
        json_decref(spec);
    }
    json_decref(a);
}

static void test_scope_check_spec_allows_own_names_and_checks_http_hosts(void **state)
{
    const char *ok =
        "{\"items\":[{\"name\":\"i\",\"rdsPointInTime\":{\"sourceDBInstanceIdentifier\":"
        "\"team-a-db\",\"useLatestRestorableTime\":true,\"targetDBInstanceIdentifier\":"
        "\"team-a-copy\",\"dbInstanceClass\":\"db.t3.micro\"}}],\"verification\":{\"checks\":"
        "[{\"name\":\"h\",\"http\":{\"url\":\"http://api.team-a.svc:8080/health\"}}]}}";
    const char *bad = "{\"items\":[{\"name\":\"i\",\"secretVersion\":{\"secretId\":\"team-a/x\"}}],"
                      "\"verification\":{\"checks\":[{\"name\":\"h\",\"http\":{\"url\":"
                      "\"http://169.254.169.254/latest/meta-data/\"}}]}}";
    json_t *a = load(SCOPE_A), *s1 = json_loads(ok, 0, NULL), *s2 = json_loads(bad, 0, NULL);
    api_restore_spec *r1 = NULL, *r2 = NULL;
    api_errors errs = {0};
    char *msg;
    (void)state;
    assert_int_equal(api_restore_parse(&r1, NULL, s1, lb_time_now()), 0);
    assert_int_equal(rscope_check_spec(&errs, a, r1), 0);
    assert_int_equal(errs.len, 0);
    assert_int_equal(api_restore_parse(&r2, NULL, s2, lb_time_now()), 0);
    assert_int_equal(rscope_check_spec(&errs, a, r2), LB_EINVALID);
    msg = api_errors_join(&errs);
    assert_non_null(strstr(msg, "spec.verification.checks[0].http.url: 169.254.169.254"));
    free(msg);
    api_errors_dispose(&errs);
    api_restore_free(r1);
    api_restore_free(r2);
    json_decref(s1);
    json_decref(s2);
    json_decref(a);
}

/* What a request makes Lifeboat use on the requester's behalf (restore/access.h). */
static void test_access_collect_lists_every_reference_once(void **state)
{
    static const char *spec_text =
        "{\"items\":[{\"name\":\"db\",\"pgDump\":{\"source\":{\"bucket\":\"b\",\"key\":\"k\"},"
        "\"target\":{\"connectionSecretRef\":{\"name\":\"db-url\",\"key\":\"url\"}}},"
        "\"secretPatches\":[{\"secretName\":\"app-db\",\"key\":\"url\"},"
        "{\"secretName\":\"app-db\",\"key\":\"host\"}],"
        "\"migrations\":{\"image\":\"m\",\"command\":[\"x\"]},"
        "\"scaleDown\":[{\"kind\":\"Deployment\",\"name\":\"web\"}]},"
        "{\"name\":\"j\",\"job\":{\"template\":{\"spec\":{\"template\":{\"spec\":{"
        "\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"env\":[{\"name\":\"P\","
        "\"valueFrom\":{\"secretKeyRef\":{\"name\":\"other\",\"key\":\"p\"}}}]}]}}}}}}],"
        "\"rollout\":[{\"kind\":\"StatefulSet\",\"name\":\"cache\"},"
        "{\"kind\":\"Deployment\",\"name\":\"web\"}],"
        "\"verification\":{\"checks\":[{\"name\":\"h\",\"http\":{\"url\":\"http://x\","
        "\"bodySecretRef\":{\"name\":\"token\",\"key\":\"t\"}}}]}}";
    static const struct {
        const char *field, *verb, *group, *resource, *name;
    } want[] = {
        {"spec.items[0].pgDump.target.connectionSecretRef.name", "get", "", "secrets", "db-url"},
        {"spec.items[0].secretPatches[0].secretName", "get", "", "secrets", "app-db"},
        {"spec.items[0].secretPatches[0].secretName", "patch", "", "secrets", "app-db"},
        {"spec.items[0].migrations", "create", "batch", "jobs", ""},
        {"spec.items[0].scaleDown[0]", "patch", "apps", "deployments", "web"},
        {"spec.rollout[0]", "patch", "apps", "statefulsets", "cache"},
        {"spec.verification.checks[0].http.bodySecretRef.name", "get", "", "secrets", "token"},
    };
    access_need needs[ACCESS_MAX_CHECKS];
    json_t *spec = load(spec_text);
    int n;
    (void)state;

    n = access_collect(needs, ACCESS_MAX_CHECKS, spec);
    /* the job item's create is the same review as migrations'; its pod's
     * secretKeyRef is covered by it (whoever may create a Job may mount any
     * Secret); the second app-db patch and web are listed once */
    assert_int_equal(n, (int)(sizeof(want) / sizeof(want[0])));
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        int found = 0;
        for (int i = 0; i < n; i++)
            found |= strcmp(needs[i].field, want[w].field) == 0 &&
                     strcmp(needs[i].verb, want[w].verb) == 0 &&
                     strcmp(needs[i].group, want[w].group) == 0 &&
                     strcmp(needs[i].resource, want[w].resource) == 0 &&
                     strcmp(needs[i].name, want[w].name) == 0;
        if (!found)
            fail_msg("missing %s %s %s/%s at %s", want[w].verb, want[w].group, want[w].resource,
                     want[w].name, want[w].field);
    }
    assert_int_equal(access_collect(needs, 2, spec), LB_ETOOBIG);
    json_decref(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_selects_by_name_pattern_and_labels),
        cmocka_unit_test(test_scope_select_denies_none_and_ambiguous),
        cmocka_unit_test(test_scope_allows_table),
        cmocka_unit_test(test_scope_s3_bucket_and_prefix),
        cmocka_unit_test(test_scope_check_spec_names_field_value_and_scope),
        cmocka_unit_test(test_scope_check_spec_allows_own_names_and_checks_http_hosts),
        cmocka_unit_test(test_access_collect_lists_every_reference_once),
    };
    return cmocka_run_group_tests_name("scope", tests, NULL, NULL);
}
