/* Unit tests for pkg/api/restore (and the shared parts in pkg/api/common):
 * every example validates; each kind of invalid spec is reported with its
 * exact field path and rule; defaults; conditions. Run from the repository
 * root (make unit). */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api/common.h"
#include "api/restore.h"
#include "data/api/yaml2json.h"
#include "util/alloc.h"
#include "util/error.h"

/* 2026-11-21T00:00:00Z: after every restoreTime in examples/. */
static const lb_time NOW = {.sec = 1795219200, .nsec = 0};

static void test_api_restore_every_example_validates(void **state)
{
    glob_t g;
    size_t docs = 0;
    (void)state;
    assert_int_equal(glob("examples/restorerequest-*.yaml", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 15);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        json_t *all = yaml_file_to_json_all(g.gl_pathv[i]), *doc;
        size_t d;
        if (all == NULL || json_array_size(all) == 0)
            fail_msg("%s: cannot read YAML", g.gl_pathv[i]);
        json_array_foreach(all, d, doc)
        {
            api_errors e = {0};
            api_restore_spec *s = NULL;
            assert_string_equal(json_string_value(json_object_get(doc, "kind")), "RestoreRequest");
            if (api_restore_parse(&s, &e, json_object_get(doc, "spec"), NOW) != 0)
                fail_msg("%s (document %zu): %s", g.gl_pathv[i], d + 1, lb_error_last());
            assert_int_equal(e.len, 0);
            assert_true(s->n_items >= 1);
            for (size_t k = 0; k < s->n_items; k++) {
                assert_true(s->items[k].source != API_SOURCE_NONE);
                assert_non_null(s->items[k].source_id);
                assert_non_null(s->items[k].target_id);
            }
            api_restore_free(s);
            docs++;
        }
        json_decref(all);
    }
    assert_true(docs > g.gl_pathc); /* two files hold two requests each */
    globfree(&g);
}

/* A valid base spec; cases patch it with a JSON merge patch (RFC 7386). */
static const char *BASE = "{\"items\":["
                          "{\"name\":\"orders-db\",\"rdsPointInTime\":{"
                          "\"sourceDBInstanceIdentifier\":\"shop-orders-prod\","
                          "\"restoreTime\":\"2026-02-18T14:30:00Z\"}},"
                          "{\"name\":\"media\",\"s3Sync\":{\"sourceBucket\":\"media-replica\","
                          "\"targetBucket\":\"media\"}}]}";

/* target (a reference the function takes over) merged with patch; returns
 * a new reference. */
static json_t *merge_patch(json_t *target, json_t *patch)
{
    const char *k;
    json_t *v;
    if (!json_is_object(patch)) {
        json_decref(target);
        return json_incref(patch);
    }
    if (!json_is_object(target)) {
        json_decref(target);
        target = json_object();
    }
    json_object_foreach(patch, k, v)
    {
        json_t *cur = json_object_get(target, k);
        if (json_is_null(v))
            json_object_del(target, k);
        else
            json_object_set_new(target, k,
                                merge_patch(cur != NULL ? json_incref(cur) : json_object(), v));
    }
    return target;
}

static json_t *spec_from(const char *full, const char *items_patch)
{
    json_error_t jerr;
    json_t *s = json_loads(full ? full : BASE, 0, &jerr);
    if (s == NULL)
        fail_msg("bad test JSON: %s", jerr.text);
    if (items_patch != NULL) {
        /* items_patch: {"0": {...}, "1": {...}} merge-patches items by index */
        json_t *p = json_loads(items_patch, 0, &jerr);
        const char *k;
        json_t *v;
        if (p == NULL)
            fail_msg("bad test patch: %s", jerr.text);
        json_object_foreach(p, k, v)
        {
            if (strcmp(k, "spec") == 0) {
                s = merge_patch(s, v);
                continue;
            }
            json_t *item = json_array_get(json_object_get(s, "items"), (size_t)atoi(k));
            json_t *merged = merge_patch(json_incref(item), v);
            json_decref(merged);
        }
        json_decref(p);
    }
    return s;
}

static void expect_error(const char *full, const char *patch, const char *path, const char *rule)
{
    json_t *spec = spec_from(full, patch);
    api_errors e = {0};
    api_restore_spec *s = (api_restore_spec *)1;
    bool found = false;
    char *want;

    assert_int_equal(api_restore_parse(&s, &e, spec, NOW), LB_EINVALID);
    assert_null(s);
    for (size_t i = 0; i < e.len; i++)
        if (strcmp(e.v[i].path, path) == 0 && strcmp(e.v[i].rule, rule) == 0)
            found = true;
    if (!found) {
        char *all = api_errors_join(&e);
        fail_msg("want %s: %s\n got %s", path, rule, all);
    }
    want = lb_sprintf("%s: %s", path, rule);
    assert_non_null(strstr(lb_error_last(), want));
    assert_non_null(strstr(lb_error_last(), "invalid RestoreRequest spec: "));
    free(want);
    api_errors_dispose(&e);
    json_decref(spec);
}

static void test_api_restore_base_spec_is_valid(void **state)
{
    json_t *spec = spec_from(NULL, NULL);
    api_restore_spec *s = NULL;
    (void)state;
    assert_int_equal(api_restore_parse(&s, NULL, spec, NOW), 0);
    assert_int_equal(s->n_items, 2);
    api_restore_free(s);
    json_decref(spec);
}

static void test_api_restore_exactly_one_source_names_those_found(void **state)
{
    (void)state;
    expect_error(
        NULL,
        "{\"1\":{\"pgDump\":{\"source\":{\"bucket\":\"b-1\",\"key\":\"k\"},"
        "\"target\":{\"connectionSecretRef\":{\"name\":\"db\",\"key\":\"url\"}}}}}",
        "spec.items[1]",
        "exactly one source of rdsPointInTime, rdsSnapshot, rdsInPlace, "
        "rdsClusterPointInTime, pgDump, "
        "redisRDB, s3Objects, s3Sync, secretVersion, fileArchive, job must be set, found 2: "
        "pgDump, s3Sync");
    expect_error(
        NULL, "{\"1\":{\"s3Sync\":null}}", "spec.items[1]",
        "exactly one source of rdsPointInTime, rdsSnapshot, rdsInPlace, "
        "rdsClusterPointInTime, pgDump, "
        "redisRDB, s3Objects, s3Sync, secretVersion, fileArchive, job must be set, found 0");
}

static void test_api_restore_time_must_not_be_in_the_future(void **state)
{
    (void)state;
    expect_error(
        NULL, "{\"0\":{\"rdsPointInTime\":{\"restoreTime\":\"2027-01-01T00:00:00Z\"}}}",
        "spec.items[0].rdsPointInTime.restoreTime",
        "must not be in the future (2027-01-01T00:00:00Z is after now, 2026-11-21T00:00:00Z)");
    expect_error(NULL, "{\"0\":{\"rdsPointInTime\":{\"restoreTime\":\"2026-02-30T00:00:00Z\"}}}",
                 "spec.items[0].rdsPointInTime.restoreTime",
                 "must be an RFC 3339 date-time: RFC 3339 time: day must be 01-28 in 2026-02");
}

static void test_api_restore_cel_rules_report_their_message(void **state)
{
    (void)state;
    expect_error(
        NULL, "{\"0\":{\"rdsPointInTime\":{\"useLatestRestorableTime\":true}}}",
        "spec.items[0].rdsPointInTime",
        "rdsPointInTime: exactly one of restoreTime, useLatestRestorableTime: true must be set");
    expect_error(
        NULL,
        "{\"0\":{\"rdsPointInTime\":null,\"rdsSnapshot\":{\"targetDBInstanceIdentifier\":\"x\"}}}",
        "spec.items[0].rdsSnapshot",
        "rdsSnapshot: exactly one of dbSnapshotIdentifier, latestFrom must be set");
    expect_error(NULL, "{\"0\":{\"cleanup\":{\"deleteOld\":true}}}", "spec.items[0]",
                 "items[].cleanup.deleteOld needs promote: rename");
    /* the Aurora cutover (issue 18 item 4): the restored cluster is a new one */
    expect_error(NULL,
                 "{\"0\":{\"rdsPointInTime\":null,\"promote\":\"rename\","
                 "\"rdsClusterPointInTime\":{\"sourceDBClusterIdentifier\":\"loans\","
                 "\"targetDBClusterIdentifier\":\"loans\",\"useLatestRestorableTime\":true,"
                 "\"writerInstanceClass\":\"db.r6g.large\"}}}",
                 "spec.items[0].rdsClusterPointInTime",
                 "rdsClusterPointInTime: targetDBClusterIdentifier must differ from "
                 "sourceDBClusterIdentifier");
    expect_error(NULL, "{\"1\":{\"s3Sync\":{\"targetBucket\":\"media-replica\"}}}",
                 "spec.items[1].s3Sync", "s3Sync: sourceBucket and targetBucket must differ");
}

static void test_api_restore_unknown_fields_are_named(void **state)
{
    (void)state;
    expect_error(NULL, "{\"0\":{\"rdsPointInTime\":{\"restoreTyme\":\"x\"}}}",
                 "spec.items[0].rdsPointInTime.restoreTyme", "unknown field");
    expect_error(NULL, "{\"spec\":{\"dryrun\":true}}", "spec.dryrun", "unknown field");
}

static void test_api_restore_types_enums_and_bounds(void **state)
{
    (void)state;
    expect_error(NULL, "{\"spec\":{\"dryRun\":\"yes\"}}", "spec.dryRun",
                 "must be of type boolean, got string");
    expect_error(NULL, "{\"0\":{\"promote\":\"swap\"}}", "spec.items[0].promote",
                 "must be one of \"rename\", \"none\", got \"swap\"");
    expect_error(
        NULL,
        "{\"0\":{\"name\":\"a123456789a123456789a123456789a123456789a123456789a123456789abcd\"}}",
        "spec.items[0].name", "must be at most 63 characters, got 64");
    expect_error(NULL, "{\"0\":{\"name\":\"Orders\"}}", "spec.items[0].name",
                 "must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
    expect_error(NULL, "{\"0\":{\"rdsPointInTime\":{\"sourceDBInstanceIdentifier\":null}}}",
                 "spec.items[0].rdsPointInTime.sourceDBInstanceIdentifier", "is required");
}

static void test_api_restore_too_many_items(void **state)
{
    json_t *spec = json_object(), *items = json_array();
    api_errors e = {0};
    api_restore_spec *s;
    (void)state;
    for (int i = 0; i < API_RESTORE_MAX_ITEMS + 1; i++) {
        char name[16];
        snprintf(name, sizeof(name), "s%d", i);
        json_array_append_new(
            items, json_pack("{s:s, s:{s:s}}", "name", name, "secretVersion", "secretId", "x"));
    }
    json_object_set_new(spec, "items", items);
    assert_int_equal(api_restore_parse(&s, &e, spec, NOW), LB_EINVALID);
    assert_int_equal(e.len, 1);
    assert_string_equal(e.v[0].path, "spec.items");
    assert_string_equal(e.v[0].rule, "must have at most 32 items, got 33");
    api_errors_dispose(&e);
    json_decref(spec);
}

static void test_api_restore_rds_and_bucket_rules_in_words(void **state)
{
    (void)state;
    expect_error(NULL,
                 "{\"0\":{\"rdsPointInTime\":{\"sourceDBInstanceIdentifier\":\"shop--orders\"}}}",
                 "spec.items[0].rdsPointInTime.sourceDBInstanceIdentifier",
                 "RDS identifiers must not contain two consecutive hyphens");
    expect_error(NULL, "{\"0\":{\"rdsPointInTime\":{\"targetDBInstanceIdentifier\":\"1orders\"}}}",
                 "spec.items[0].rdsPointInTime.targetDBInstanceIdentifier",
                 "RDS identifiers start with a letter");
    expect_error(NULL, "{\"0\":{\"rdsPointInTime\":{\"targetDBInstanceIdentifier\":\"Orders-A\"}}}",
                 "spec.items[0].rdsPointInTime.targetDBInstanceIdentifier",
                 "RDS identifiers are lower case (RDS lower-cases them, so a mixed-case name "
                 "would never be found again under its spelling)");
    expect_error(NULL, "{\"1\":{\"s3Sync\":{\"sourceBucket\":\"192.168.10.12\"}}}",
                 "spec.items[1].s3Sync.sourceBucket",
                 "bucket names must not be formatted as an IP address");
    expect_error(NULL, "{\"1\":{\"s3Sync\":{\"targetBucket\":\"xn--media\"}}}",
                 "spec.items[1].s3Sync.targetBucket",
                 "bucket names must not start with xn-- or sthree-");
    expect_error(NULL, "{\"1\":{\"s3Sync\":{\"targetBucket\":\"Media\"}}}",
                 "spec.items[1].s3Sync.targetBucket",
                 "bucket names use only a-z, 0-9, '-' and '.'");
}

static void test_api_restore_name_leaves_room_for_the_rollback_secret(void **state)
{
    char name[300];
    api_errors e = {0};
    (void)state;
    memset(name, 'a', sizeof(name));
    name[API_RESTORE_MAX_NAME] = '\0';
    assert_int_equal(API_RESTORE_MAX_NAME, 235);
    assert_int_equal(api_restore_check_name(&e, name), 0); /* lifeboat-rollback-<235> = 253 */
    assert_int_equal(e.len, 0);
    name[API_RESTORE_MAX_NAME] = 'a';
    name[API_RESTORE_MAX_NAME + 1] = '\0';
    assert_int_equal(api_restore_check_name(&e, name), LB_EINVALID);
    assert_true(api_errors_has_path(&e, "metadata.name"));
    assert_non_null(strstr(lb_error_last(), "metadata.name: at most 235 characters"));
    assert_non_null(strstr(lb_error_last(), "lifeboat-rollback-"));
    api_errors_dispose(&e);
    assert_int_equal(api_restore_check_name(NULL, name), LB_EINVALID);
}

static void test_api_restore_names_unique_and_depends_on_existing(void **state)
{
    (void)state;
    expect_error(NULL, "{\"1\":{\"name\":\"orders-db\"}}", "spec.items[1]",
                 "duplicate entry (name=\"orders-db\"), already at spec.items[0]");
    expect_error(NULL, "{\"1\":{\"dependsOn\":[\"orders-db\",\"nope\"]}}",
                 "spec.items[1].dependsOn[1]",
                 "\"nope\" is not the name of an item of this request");
    expect_error(NULL, "{\"1\":{\"dependsOn\":[\"media\"]}}", "spec.items[1]",
                 "items[].dependsOn: an item cannot depend on itself");
}

static void test_api_restore_depends_on_cycle_is_named(void **state)
{
    (void)state;
    expect_error(NULL, "{\"0\":{\"dependsOn\":[\"media\"]},\"1\":{\"dependsOn\":[\"orders-db\"]}}",
                 "spec.items[0].dependsOn", "dependsOn cycle: orders-db -> media -> orders-db");
}

static void test_api_restore_collects_all_errors(void **state)
{
    json_t *spec = spec_from(
        NULL,
        "{\"spec\":{\"dryRun\":1},\"0\":{\"promote\":\"x\"},\"1\":{\"s3Sync\":{\"bogus\":1}}}");
    api_errors e = {0};
    api_restore_spec *s;
    (void)state;
    assert_int_equal(api_restore_parse(&s, &e, spec, NOW), LB_EINVALID);
    assert_int_equal(e.len, 3);
    assert_true(api_errors_has_path(&e, "spec.dryRun"));
    assert_true(api_errors_has_path(&e, "spec.items[0].promote"));
    assert_true(api_errors_has_path(&e, "spec.items[1].s3Sync.bogus"));
    assert_non_null(strstr(lb_error_last(), "; "));
    api_errors_dispose(&e);
    json_decref(spec);
    /* not an object at all */
    assert_int_equal(api_restore_parse(&s, NULL, json_null(), NOW), LB_EINVALID);
    assert_string_equal(lb_error_last(), "invalid RestoreRequest spec: spec: must be an object");
}

static void test_api_restore_applies_crd_defaults(void **state)
{
    json_t *spec = spec_from(
        NULL,
        "{\"spec\":{\"items\":[{\"name\":\"jwt\",\"secretVersion\":{\"secretId\":\"app/jwt\"}},"
        "{\"name\":\"db\",\"rdsSnapshot\":{\"latestFrom\":{\"dbInstanceIdentifier\":\"shop-db\"}},"
        "\"credentialsSecretRef\":{\"name\":\"admin\"},\"database\":\"shop\"},"
        "{\"name\":\"dump\",\"pgDump\":{\"source\":{\"bucket\":\"backups\",\"latestUnder\":\"pg/"
        "\"},"
        "\"target\":{\"connectionSecretRef\":{\"name\":\"u\",\"key\":\"url\"}}}}]}}");
    api_restore_spec *s = NULL;
    const json_t *db;
    (void)state;
    if (api_restore_parse(&s, NULL, spec, NOW) != 0)
        fail_msg("%s", lb_error_last());
    assert_true(s->approval_required);
    assert_true(s->rollback_on_failure);
    assert_false(s->dry_run);
    db = api_restore_item_find(s, "db")->spec;
    assert_string_equal(api_get_str(db, "promote"), "none");
    assert_false(api_get_bool(json_object_get(db, "rdsSnapshot"), "publiclyAccessible", true));
    assert_string_equal(
        api_get_str(json_object_get(json_object_get(db, "rdsSnapshot"), "latestFrom"),
                    "snapshotType"),
        "any");
    assert_string_equal(api_get_str(json_object_get(db, "credentialsSecretRef"), "usernameKey"),
                        "username");
    assert_string_equal(api_get_str(json_object_get(db, "credentialsSecretRef"), "passwordKey"),
                        "password");
    /* target default <source>-lb-<hash>, a valid RDS id */
    const char *target = api_restore_item_find(s, "db")->target_id;
    assert_int_equal(strncmp(target, "shop-db-lb-", 11), 0);
    assert_int_equal(strlen(target), strlen("shop-db-lb-") + 8);
    const json_t *dump = json_object_get(api_restore_item_find(s, "dump")->spec, "pgDump");
    assert_string_equal(api_get_str(dump, "manifest"), "required");
    assert_int_equal(api_get_int(dump, "jobs", 0), 1);
    assert_string_equal(
        api_get_str(json_object_get(api_restore_item_find(s, "jwt")->spec, "secretVersion"),
                    "versionStage"),
        "AWSPREVIOUS");
    /* the caller's JSON is untouched */
    assert_null(json_object_get(spec, "approval"));
    api_restore_free(s);
    json_decref(spec);
}

static void test_api_restore_default_target_stays_a_valid_rds_id(void **state)
{
    json_t *spec =
        spec_from(NULL, "{\"0\":{\"rdsPointInTime\":{\"sourceDBInstanceIdentifier\":"
                        "\"a12345678901234567890123456789012345678901234567890-345678901\"}}}");
    api_restore_spec *s = NULL;
    const char *rule;
    (void)state;
    assert_int_equal(api_restore_parse(&s, NULL, spec, NOW), 0);
    const char *t = s->items[0].target_id;
    assert_true(strlen(t) <= 63);
    assert_true(api_rds_identifier_valid(t, &rule));
    api_restore_free(s);
    json_decref(spec);
}

static void test_api_errors_join_caps_and_counts(void **state)
{
    api_errors e = {0};
    char *msg;
    (void)state;
    for (int i = 0; i < API_MAX_ERRORS + 6; i++) {
        char p[32];
        snprintf(p, sizeof(p), "spec.x[%d]", i);
        api_errors_add(&e, p, "rule %d", i);
    }
    api_errors_add(&e, "spec.x[0]", "rule 0"); /* duplicate of a stored one: ignored */
    assert_int_equal(e.len, API_MAX_ERRORS);
    assert_int_equal(e.dropped, 6);
    msg = api_errors_join(&e);
    assert_int_equal(strncmp(msg, "spec.x[0]: rule 0; spec.x[1]: rule 1; ", 38), 0);
    assert_non_null(strstr(msg, " (and 6 more)"));
    assert_true(strlen(msg) < API_MAX_MESSAGE);
    free(msg);
    api_errors_dispose(&e);
}

static void test_api_condition_keeps_transition_time_when_status_unchanged(void **state)
{
    json_t *status = json_object(), *c;
    lb_time t1 = {.sec = 1795219200}, t2 = {.sec = 1795219260}, t3 = {.sec = 1795219320};
    (void)state;
    assert_int_equal(
        api_condition_set(status, "Valid", "False", "InvalidSpec", "spec.x: bad", 1, t1), 1);
    c = api_condition_find(status, "Valid");
    assert_string_equal(api_get_str(c, "lastTransitionTime"), "2026-11-21T00:00:00Z");
    assert_int_equal(api_get_int(c, "observedGeneration", 0), 1);
    /* same again later: nothing changes */
    assert_int_equal(
        api_condition_set(status, "Valid", "False", "InvalidSpec", "spec.x: bad", 1, t2), 0);
    /* new message and generation, same status: the transition time stays */
    assert_int_equal(
        api_condition_set(status, "Valid", "False", "InvalidSpec", "spec.y: bad", 2, t2), 1);
    assert_string_equal(api_get_str(c, "lastTransitionTime"), "2026-11-21T00:00:00Z");
    assert_string_equal(api_get_str(c, "message"), "spec.y: bad");
    assert_int_equal(api_get_int(c, "observedGeneration", 0), 2);
    /* a status change moves it */
    assert_int_equal(api_condition_set(status, "Valid", "True", "Valid", NULL, 3, t3), 1);
    assert_string_equal(api_get_str(c, "lastTransitionTime"), "2026-11-21T00:02:00Z");
    assert_string_equal(api_get_str(c, "message"), "");
    /* a second type is a second entry */
    assert_int_equal(
        api_condition_set(status, "Approved", "Unknown", "AwaitingApproval", "", 3, t3), 1);
    assert_int_equal(json_array_size(json_object_get(status, "conditions")), 2);
    assert_int_equal(api_condition_set(status, "Valid", "Maybe", "X", "", 3, t3), LB_EINVALID);
    json_decref(status);
}

/* fileArchive: subPath stays inside the volume; job: the template must name an
 * image per container and a Job's restartPolicy; a job runs at its written
 * place (the class of the item before it). */
static void test_api_restore_file_archive_and_job_rules(void **state)
{
    static const char *fa = "{\"items\":[{\"name\":\"files\",\"fileArchive\":{\"source\":{"
                            "\"bucket\":\"backups\",\"key\":\"f/latest.tar.gz.enc\"},"
                            "\"target\":{\"persistentVolumeClaim\":\"files\",\"subPath\":"
                            "\"app\"}}}]}";
    static const char *jb =
        "{\"items\":[{\"name\":\"s\",\"s3Sync\":{\"sourceBucket\":\"media-replica\","
        "\"targetBucket\":\"media\"}},{\"name\":\"j\",\"job\":{\"template\":{\"spec\":{"
        "\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"pg:16\"}]}}}}}},"
        "{\"name\":\"sec\",\"secretVersion\":{\"secretId\":\"shop/x\"}}]}";
    json_t *spec;
    api_restore_spec *s = NULL;
    (void)state;

    expect_error(fa, "{\"0\":{\"fileArchive\":{\"target\":{\"subPath\":\"app/../../etc\"}}}}",
                 "spec.items[0].fileArchive.target.subPath",
                 "must not contain an empty, '.' or '..' component");
    expect_error(fa, "{\"0\":{\"fileArchive\":{\"target\":{\"persistentVolumeClaim\":null}}}}",
                 "spec.items[0].fileArchive.target.persistentVolumeClaim", "is required");
    expect_error(jb,
                 "{\"1\":{\"job\":{\"template\":{\"spec\":{\"template\":{\"spec\":{"
                 "\"containers\":[{\"name\":\"c\",\"image\":\"\"}]}}}}}}}",
                 "spec.items[1].job.template.spec.template.spec.containers[0].image",
                 "is required");
    expect_error(jb,
                 "{\"1\":{\"job\":{\"template\":{\"spec\":{\"template\":{\"spec\":{"
                 "\"restartPolicy\":\"Always\"}}}}}}}",
                 "spec.items[1].job.template.spec.template.spec.restartPolicy",
                 "must be Never or OnFailure");
    expect_error(jb, "{\"1\":{\"job\":{\"template\":{\"spec\":null}}}}",
                 "spec.items[1].job.template.spec.template.spec",
                 "is required (the Job's pod template spec)");

    spec = spec_from(fa, NULL);
    assert_int_equal(api_restore_parse(&s, NULL, spec, NOW), 0);
    assert_string_equal(s->items[0].target_id, "PersistentVolumeClaim files/app");
    assert_string_equal(json_string_value(json_object_get(s->items[0].source_spec, "manifest")),
                        "optional");
    api_restore_free(s);
    json_decref(spec);

    /* order: secretVersion (secrets), then s3Sync, then the job right after it */
    spec = spec_from(jb, NULL);
    assert_int_equal(api_restore_parse(&s, NULL, spec, NOW), 0);
    assert_string_equal(s->items[s->order[0]].name, "sec");
    assert_string_equal(s->items[s->order[1]].name, "s");
    assert_string_equal(s->items[s->order[2]].name, "j");
    assert_string_equal(s->items[1].source_id, "image pg:16");
    assert_true(json_is_true(json_object_get(s->items[1].source_spec, "destructive")));
    api_restore_free(s);
    json_decref(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_restore_every_example_validates),
        cmocka_unit_test(test_api_restore_file_archive_and_job_rules),
        cmocka_unit_test(test_api_restore_base_spec_is_valid),
        cmocka_unit_test(test_api_restore_exactly_one_source_names_those_found),
        cmocka_unit_test(test_api_restore_time_must_not_be_in_the_future),
        cmocka_unit_test(test_api_restore_cel_rules_report_their_message),
        cmocka_unit_test(test_api_restore_unknown_fields_are_named),
        cmocka_unit_test(test_api_restore_types_enums_and_bounds),
        cmocka_unit_test(test_api_restore_too_many_items),
        cmocka_unit_test(test_api_restore_rds_and_bucket_rules_in_words),
        cmocka_unit_test(test_api_restore_name_leaves_room_for_the_rollback_secret),
        cmocka_unit_test(test_api_restore_names_unique_and_depends_on_existing),
        cmocka_unit_test(test_api_restore_depends_on_cycle_is_named),
        cmocka_unit_test(test_api_restore_collects_all_errors),
        cmocka_unit_test(test_api_restore_applies_crd_defaults),
        cmocka_unit_test(test_api_restore_default_target_stays_a_valid_rds_id),
        cmocka_unit_test(test_api_errors_join_caps_and_counts),
        cmocka_unit_test(test_api_condition_keeps_transition_time_when_status_unchanged),
    };
    return cmocka_run_group_tests_name("api_restore", tests, NULL, NULL);
}
