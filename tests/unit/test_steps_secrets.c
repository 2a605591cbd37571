/* Unit tests for restore/steps_secrets.c (secretVersion) against a scripted
 * Secrets Manager (test_aws_httpd.h): which version validate picks and
 * records, the one UpdateSecretVersionStage make-current sends (and does not
 * send when the version is already current), adoption after an ambiguous
 * failure, the undo, and refusing a stage someone else moved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "api/restore.h"
#include "aws/request.h"
#include "controller/restore/step.h"
#include "util/error.h"

#include "test_aws_httpd.h"

#define GOOD "11111111-1111-1111-1111-111111111111"
#define BAD  "22222222-2222-2222-2222-222222222222"
#define OLD  "33333333-3333-3333-3333-333333333333"

/* ListSecretVersionIds answers: AWSCURRENT on BAD (after the bad rotation),
 * on GOOD (after the restore), on OLD (someone else moved it). */
#define LIST_BAD_CURRENT                                                                           \
    "{\"Versions\":[{\"VersionId\":\"" GOOD "\",\"VersionStages\":[\"AWSPREVIOUS\"]},"             \
    "{\"VersionId\":\"" BAD "\",\"VersionStages\":[\"AWSCURRENT\"]},"                              \
    "{\"VersionId\":\"" OLD "\",\"VersionStages\":[]}],\"Name\":\"auth/jwt\"}"
#define LIST_GOOD_CURRENT                                                                          \
    "{\"Versions\":[{\"VersionId\":\"" GOOD "\",\"VersionStages\":[\"AWSCURRENT\"]},"              \
    "{\"VersionId\":\"" BAD "\",\"VersionStages\":[\"AWSPREVIOUS\"]},"                             \
    "{\"VersionId\":\"" OLD "\",\"VersionStages\":[]}],\"Name\":\"auth/jwt\"}"
#define LIST_OLD_CURRENT                                                                           \
    "{\"Versions\":[{\"VersionId\":\"" GOOD "\",\"VersionStages\":[]},"                            \
    "{\"VersionId\":\"" BAD "\",\"VersionStages\":[\"AWSPREVIOUS\"]},"                             \
    "{\"VersionId\":\"" OLD "\",\"VersionStages\":[\"AWSCURRENT\"]}],\"Name\":\"auth/jwt\"}"
#define UPDATE_OK                                                                                  \
    "{\"ARN\":\"arn:aws:secretsmanager:us-east-1:1:secret:auth/jwt\",\"Name\":\"auth/jwt\"}"

typedef struct fixture {
    httpd srv;
    aws_client *aws;
    aws_credentials_provider *creds;
    json_t *rr, *status;
    api_restore_spec *spec;
    plan_step step;
    step_ctx ctx;
    step_result res;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    httpd_start(&f->srv);
    httpd_client(&f->aws, &f->creds, &f->srv, 1);
    *state = f;
    return 0;
}

static void result_reset(fixture *f)
{
    json_decref(f->res.output);
    memset(&f->res, 0, sizeof(f->res));
}

static int teardown(void **state)
{
    fixture *f = *state;
    result_reset(f);
    api_restore_free(f->spec);
    json_decref(f->rr);
    json_decref(f->status);
    aws_client_free(f->aws);
    aws_credentials_provider_free(f->creds);
    httpd_stop(&f->srv);
    free(f);
    return 0;
}

/* One item "auth-secret" with secretVersion `source`; status from JSON. */
static void load(fixture *f, const char *source, const char *status_json)
{
    char text[2048];
    json_error_t jerr;
    json_t *spec;

    snprintf(text, sizeof(text),
             "{\"items\": [{\"name\": \"auth-secret\", \"secretVersion\": %s}]}", source);
    spec = json_loads(text, 0, &jerr);
    assert_non_null(spec);
    if (api_restore_parse(&f->spec, NULL, spec, lb_time_now()) != 0)
        fail_msg("parse: %s", lb_error_last());
    json_decref(spec);
    f->rr = json_pack("{s:{s:s,s:s,s:s}}", "metadata", "name", "auth-restore", "namespace", "shop",
                      "uid", "0f1e2d3c-aaaa-bbbb-cccc-000000000001");
    f->status = json_loads(status_json ? status_json : "{}", 0, &jerr);
    assert_non_null(f->status);
    memset(&f->ctx, 0, sizeof(f->ctx));
    f->ctx.aws = f->aws;
    f->ctx.rr = f->rr;
    f->ctx.status = f->status;
    f->ctx.spec = f->spec;
    f->ctx.item = &f->spec->items[0];
    f->ctx.step = &f->step;
    f->ctx.now = lb_time_now();
}

#define RECORDED                                                                                   \
    "{\"outputs\":[{\"item\":\"auth-secret\",\"versionId\":\"" GOOD                                \
    "\",\"previousVersionId\":\"" BAD "\"}]}"

static int run(fixture *f, step_fn fn, const char *action)
{
    static char name[64];
    snprintf(name, sizeof(name), "auth-secret/%s", action);
    f->step.name = name;
    f->step.item = (char *)"auth-secret";
    f->step.action = (char *)action;
    result_reset(f);
    return fn(&f->res, &f->ctx);
}

static const char *target(fixture *f, int i)
{
    static char t[128];
    httpd_req_header(&f->srv, i, "X-Amz-Target", t, sizeof(t));
    return t;
}

static void test_validate_records_previous_and_current(void **state)
{
    fixture *f = *state;
    load(f, "{\"secretId\": \"auth/jwt\"}", NULL);
    httpd_script(&f->srv, 200, NULL, LIST_BAD_CURRENT);
    assert_int_equal(run(f, secret_step_validate, "validate"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_string_equal(json_string_value(json_object_get(f->res.output, "versionId")), GOOD);
    assert_string_equal(json_string_value(json_object_get(f->res.output, "previousVersionId")),
                        BAD);
    assert_non_null(strstr(f->res.message, GOOD));
    assert_int_equal(f->srv.nrequests, 1);
    assert_string_equal(target(f, 0), "secretsmanager.ListSecretVersionIds");
}

static void test_validate_missing_version_fails_naming_the_field(void **state)
{
    fixture *f = *state;
    load(f, "{\"secretId\": \"auth/jwt\", \"versionId\": \"44444444-4444-4444-4444-444444444444\"}",
         NULL);
    httpd_script(&f->srv, 200, NULL, LIST_BAD_CURRENT);
    assert_int_equal(run(f, secret_step_validate, "validate"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "VersionNotFound");
    assert_non_null(strstr(f->res.message, "secretVersion.versionId"));
    assert_null(f->res.output);
}

static void test_validate_rerun_adopts_recorded_ids(void **state)
{
    fixture *f = *state;
    /* after the cutover AWSPREVIOUS is the bad version: it must not be re-resolved */
    load(f, "{\"secretId\": \"auth/jwt\"}", RECORDED);
    httpd_script(&f->srv, 200, NULL, LIST_GOOD_CURRENT);
    assert_int_equal(run(f, secret_step_validate, "validate"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_null(f->res.output);
    assert_non_null(strstr(f->res.message, GOOD));
}

static void test_make_current_moves_stage_once(void **state)
{
    fixture *f = *state;
    json_t *body;
    json_error_t e;
    load(f, "{\"secretId\": \"auth/jwt\"}", RECORDED);
    httpd_script(&f->srv, 200, NULL, LIST_BAD_CURRENT);
    httpd_script(&f->srv, 200, NULL, UPDATE_OK);
    assert_int_equal(run(f, secret_step_make_current, "make-current"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_int_equal(f->srv.nrequests, 2);
    assert_string_equal(target(f, 1), "secretsmanager.UpdateSecretVersionStage");
    body = json_loads(httpd_req_body(&f->srv, 1), 0, &e);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "VersionStage")), "AWSCURRENT");
    assert_string_equal(json_string_value(json_object_get(body, "MoveToVersionId")), GOOD);
    assert_string_equal(json_string_value(json_object_get(body, "RemoveFromVersionId")), BAD);
    assert_string_equal(json_string_value(json_object_get(body, "SecretId")), "auth/jwt");
    json_decref(body);
}

static void test_make_current_already_current_sends_nothing(void **state)
{
    fixture *f = *state;
    load(f, "{\"secretId\": \"auth/jwt\"}", RECORDED);
    httpd_script(&f->srv, 200, NULL, LIST_GOOD_CURRENT);
    assert_int_equal(run(f, secret_step_make_current, "make-current"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_int_equal(f->srv.nrequests, 1);
}

static void test_make_current_ambiguous_adopts_the_landed_move(void **state)
{
    fixture *f = *state;
    load(f, "{\"secretId\": \"auth/jwt\"}", RECORDED);
    httpd_script(&f->srv, 200, NULL, LIST_BAD_CURRENT);
    httpd_script(&f->srv, 500, NULL, "{\"__type\":\"InternalServiceError\",\"message\":\"x\"}");
    httpd_script(&f->srv, 200, NULL, LIST_GOOD_CURRENT);
    assert_int_equal(run(f, secret_step_make_current, "make-current"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_int_equal(f->srv.nrequests, 3);
    assert_string_equal(target(f, 2), "secretsmanager.ListSecretVersionIds");
}

static void test_make_current_ambiguous_not_landed_is_transient(void **state)
{
    fixture *f = *state;
    int rc;
    load(f, "{\"secretId\": \"auth/jwt\"}", RECORDED);
    httpd_script(&f->srv, 200, NULL, LIST_BAD_CURRENT);
    httpd_script(&f->srv, 500, NULL, "{\"__type\":\"InternalServiceError\",\"message\":\"x\"}");
    httpd_script(&f->srv, 200, NULL, LIST_BAD_CURRENT);
    rc = run(f, secret_step_make_current, "make-current");
    assert_true(rc < 0);
    assert_int_equal(f->srv.nrequests, 3);
}

static void test_make_current_refuses_a_stage_moved_by_someone_else(void **state)
{
    fixture *f = *state;
    load(f, "{\"secretId\": \"auth/jwt\"}", RECORDED);
    httpd_script(&f->srv, 200, NULL, LIST_OLD_CURRENT);
    assert_int_equal(run(f, secret_step_make_current, "make-current"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "SecretChanged");
    assert_int_equal(f->srv.nrequests, 1);
}

static void test_undo_moves_stage_back(void **state)
{
    fixture *f = *state;
    json_t *body;
    json_error_t e;
    load(f, "{\"secretId\": \"auth/jwt\"}", RECORDED);
    f->ctx.rollback = 1;
    httpd_script(&f->srv, 200, NULL, LIST_GOOD_CURRENT);
    httpd_script(&f->srv, 200, NULL, UPDATE_OK);
    assert_int_equal(run(f, secret_step_make_current_undo, "make-current"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_int_equal(f->srv.nrequests, 2);
    body = json_loads(httpd_req_body(&f->srv, 1), 0, &e);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "MoveToVersionId")), BAD);
    assert_string_equal(json_string_value(json_object_get(body, "RemoveFromVersionId")), GOOD);
    json_decref(body);
}

static void test_make_current_without_validate_fails(void **state)
{
    fixture *f = *state;
    load(f, "{\"secretId\": \"auth/jwt\"}", NULL);
    assert_int_equal(run(f, secret_step_make_current, "make-current"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "NotValidated");
    assert_int_equal(f->srv.nrequests, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validate_records_previous_and_current, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_validate_missing_version_fails_naming_the_field, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_validate_rerun_adopts_recorded_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_make_current_moves_stage_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_make_current_already_current_sends_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_make_current_ambiguous_adopts_the_landed_move, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_make_current_ambiguous_not_landed_is_transient, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_make_current_refuses_a_stage_moved_by_someone_else,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_undo_moves_stage_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_make_current_without_validate_fails, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
