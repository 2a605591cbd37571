/* Unit tests for pkg/api/verify and pkg/api/backup: the examples validate,
 * and what only the operator can check is reported with path and rule. Run
 * from the repository root (make unit). */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api/backup.h"
#include "api/verify.h"
#include "data/api/yaml2json.h"
#include "util/error.h"

static const lb_time NOW = {.sec = 1795219200, .nsec = 0}; /* 2026-11-21T00:00:00Z */

static size_t check_examples(const char *pattern, const char *kind)
{
    glob_t g;
    size_t n;
    assert_int_equal(glob(pattern, 0, NULL, &g), 0);
    n = g.gl_pathc;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        json_t *all = yaml_file_to_json_all(g.gl_pathv[i]), *doc;
        size_t d;
        if (all == NULL || json_array_size(all) == 0)
            fail_msg("%s: cannot read YAML", g.gl_pathv[i]);
        json_array_foreach(all, d, doc)
        {
            api_errors e = {0};
            int rc;
            assert_string_equal(json_string_value(json_object_get(doc, "kind")), kind);
            if (strcmp(kind, "VerificationRun") == 0) {
                api_verify_spec *s = NULL;
                rc = api_verify_parse(&s, &e, json_object_get(doc, "spec"), NOW);
                if (rc == 0) {
                    assert_true(s->n_checks >= 1);
                    for (size_t k = 0; k < s->n_checks; k++)
                        assert_non_null(s->checks[k].spec);
                }
                api_verify_free(s);
            } else {
                api_backup_spec *s = NULL;
                rc = api_backup_parse(&s, &e, json_object_get(doc, "spec"), NOW);
                if (rc == 0) {
                    assert_true(s->n_targets >= 1);
                    assert_non_null(s->tz);
                }
                api_backup_free(s);
            }
            if (rc != 0)
                fail_msg("%s (document %zu): %s", g.gl_pathv[i], d + 1, lb_error_last());
            api_errors_dispose(&e);
        }
        json_decref(all);
    }
    globfree(&g);
    return n;
}

static void test_api_verify_every_example_validates(void **state)
{
    (void)state;
    assert_true(check_examples("examples/verificationrun-*.yaml", "VerificationRun") >= 3);
}

static void test_api_backup_every_example_validates(void **state)
{
    (void)state;
    assert_true(check_examples("examples/backuppolicy-*.yaml", "BackupPolicy") >= 4);
}

static void expect(bool backup, const char *spec_text, const char *path, const char *rule)
{
    json_error_t jerr;
    json_t *spec = json_loads(spec_text, 0, &jerr);
    api_errors e = {0};
    bool found = false;
    int rc;

    if (spec == NULL)
        fail_msg("bad test JSON: %s", jerr.text);
    if (backup) {
        api_backup_spec *s = NULL;
        rc = api_backup_parse(&s, &e, spec, NOW);
        api_backup_free(s);
    } else {
        api_verify_spec *s = NULL;
        rc = api_verify_parse(&s, &e, spec, NOW);
        api_verify_free(s);
    }
    assert_int_equal(rc, LB_EINVALID);
    for (size_t i = 0; i < e.len; i++)
        if (strcmp(e.v[i].path, path) == 0 && strcmp(e.v[i].rule, rule) == 0)
            found = true;
    if (!found) {
        char *all = api_errors_join(&e);
        fail_msg("want %s: %s\n got %s", path, rule, all);
    }
    api_errors_dispose(&e);
    json_decref(spec);
}

#define HTTP_CHECK "{\"name\":\"h\",\"http\":{\"url\":\"http://a/health\"}}"

static void test_api_verify_reports_rules_with_paths(void **state)
{
    (void)state;
    expect(false,
           "{\"checks\":[{\"name\":\"h\",\"http\":{\"url\":\"http://a/"
           "\"},\"workload\":{\"kind\":\"Deployment\",\"name\":\"a\"}}]}",
           "spec.checks[0]",
           "checks[]: exactly one of sql, http, redis, s3Compare, workload must be set");
    expect(false, "{\"checks\":[" HTTP_CHECK "," HTTP_CHECK "]}", "spec.checks[1]",
           "duplicate entry (name=\"h\"), already at spec.checks[0]");
    expect(false,
           "{\"checks\":[" HTTP_CHECK
           "],\"rpo\":{\"query\":\"SELECT now()\",\"maxAge\":\"99999999999w\"},"
           "\"target\":{\"connectionSecretRef\":{\"name\":\"db\",\"key\":\"url\"}}}",
           "spec.rpo.maxAge", "duration \"99999999999w\": longer than 100 years");
    expect(false,
           "{\"checks\":[" HTTP_CHECK
           "],\"scratchRestore\":{\"rdsPointInTime\":{\"sourceDBInstanceIdentifier\":\"db\","
           "\"restoreTime\":\"2030-01-01T00:00:00Z\"},\"credentialsSecretRef\":{\"name\":\"a\"},"
           "\"database\":\"d\"}}",
           "spec.scratchRestore.rdsPointInTime.restoreTime",
           "must not be in the future (2030-01-01T00:00:00Z is after now, 2026-11-21T00:00:00Z)");
    expect(false,
           "{\"checks\":[{\"name\":\"h\",\"http\":{\"url\":\"http://a/\",\"expectStatus\":700}}]}",
           "spec.checks[0].http.expectStatus", "must be <= 599");
    expect(false, "{}", "spec.checks", "is required");
}

#define TARGET "{\"name\":\"snap\",\"rdsSnapshot\":{\"dbInstanceIdentifier\":\"shop-db\"}}"

static void test_api_backup_reports_rules_with_paths(void **state)
{
    (void)state;
    expect(true, "{\"schedule\":\"61 * * * *\",\"targets\":[" TARGET "]}", "spec.schedule",
           "cron \"61 * * * *\": minute: value 61 out of range 0-59");
    expect(true,
           "{\"schedule\":\"0 1 * * 0\",\"timeZone\":\"Mars/Olympus\",\"targets\":[" TARGET "]}",
           "spec.timeZone", "unknown time zone \"Mars/Olympus\" (no file in /usr/share/zoneinfo)");
    expect(true, "{\"schedule\":\"0 1 * * 0\",\"targets\":[" TARGET "," TARGET "]}",
           "spec.targets[1]", "duplicate entry (name=\"snap\"), already at spec.targets[0]");
    expect(true, "{\"schedule\":\"0 1 * * 0\",\"staleAfter\":\"25x\",\"targets\":[" TARGET "]}",
           "spec.staleAfter", "must match ^([0-9]+(s|m|h|d|w))+$");
    expect(true,
           "{\"schedule\":\"0 1 * * "
           "0\",\"targets\":[{\"name\":\"off\",\"s3Copy\":{\"sourceBucket\":\"a-b\","
           "\"destinationBucket\":\"10.0.0.1\"}}]}",
           "spec.targets[0].s3Copy.destinationBucket",
           "bucket names must not be formatted as an IP address");
    expect(true, "{\"targets\":[" TARGET "]}", "spec.schedule", "is required");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_verify_every_example_validates),
        cmocka_unit_test(test_api_backup_every_example_validates),
        cmocka_unit_test(test_api_verify_reports_rules_with_paths),
        cmocka_unit_test(test_api_backup_reports_rules_with_paths),
    };
    return cmocka_run_group_tests_name("api_verify", tests, NULL, NULL);
}
