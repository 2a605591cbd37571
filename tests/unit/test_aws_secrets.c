/* Unit tests for pkg/aws/secretsmanager and pkg/aws/sts: JSON 1.1 and
 * Query requests, responses from the API references, paging and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "aws/request.h"
#include "aws/secretsmanager.h"
#include "aws/sts.h"
#include "util/error.h"

#include "test_aws_httpd.h"

typedef struct fixture {
    httpd srv;
    aws_client *c;
    aws_credentials_provider *p;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    httpd_start(&f->srv);
    httpd_client(&f->c, &f->p, &f->srv, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    aws_client_free(f->c);
    aws_credentials_provider_free(f->p);
    httpd_stop(&f->srv);
    free(f);
    return 0;
}

/* The JSON body of request i, parsed. */
static json_t *req_json(const fixture *f, int i)
{
    json_error_t e;
    json_t *j = json_loads(httpd_req_body(&f->srv, i), 0, &e);
    assert_non_null(j);
    return j;
}

static void test_sm_get_secret_value_by_stage(void **state)
{
    fixture *f = *state;
    sm_secret_value v;
    char target[128], ct[128];
    json_t *in;

    httpd_script(&f->srv, 200, NULL,
                 "{\"ARN\":\"arn:aws:secretsmanager:us-east-1:1:secret:shop-AbCdEf\","
                 "\"CreatedDate\":1.523477145713E9,\"Name\":\"shop\","
                 "\"SecretString\":\"{\\\"password\\\":\\\"old\\\"}\","
                 "\"VersionId\":\"EXAMPLE1-90ab-cdef-fedc-ba987SECRET1\","
                 "\"VersionStages\":[\"AWSPREVIOUS\"]}");
    assert_int_equal(sm_get_secret_value(&v, f->c, "shop", NULL, "AWSPREVIOUS"), 0);
    assert_string_equal(v.version_id, "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1");
    assert_string_equal(v.secret_string, "{\"password\":\"old\"}");
    assert_int_equal(v.nstages, 1);
    assert_string_equal(v.stages[0], "AWSPREVIOUS");
    httpd_req_header(&f->srv, 0, "X-Amz-Target", target, sizeof(target));
    assert_string_equal(target, "secretsmanager.GetSecretValue");
    httpd_req_header(&f->srv, 0, "Content-Type", ct, sizeof(ct));
    assert_string_equal(ct, "application/x-amz-json-1.1");
    in = req_json(f, 0);
    assert_string_equal(json_string_value(json_object_get(in, "SecretId")), "shop");
    assert_string_equal(json_string_value(json_object_get(in, "VersionStage")), "AWSPREVIOUS");
    assert_null(json_object_get(in, "VersionId"));
    json_decref(in);
    sm_secret_value_dispose(&v);
}

static void test_sm_get_defaults_to_explicit_awscurrent(void **state)
{
    fixture *f = *state;
    sm_secret_value v;
    json_t *in;
    httpd_script(&f->srv, 200, NULL, "{\"VersionId\":\"v\",\"SecretString\":\"s\"}");
    assert_int_equal(sm_get_secret_value(&v, f->c, "shop", NULL, NULL), 0);
    in = req_json(f, 0);
    assert_string_equal(json_string_value(json_object_get(in, "VersionStage")), "AWSCURRENT");
    json_decref(in);
    sm_secret_value_dispose(&v);
}

static void test_sm_get_by_version_id(void **state)
{
    fixture *f = *state;
    sm_secret_value v;
    json_t *in;
    httpd_script(&f->srv, 200, NULL, "{\"VersionId\":\"v1\",\"SecretBinary\":\"AAEC\"}");
    assert_int_equal(sm_get_secret_value(&v, f->c, "shop", "v1", NULL), 0);
    assert_null(v.secret_string);
    assert_string_equal(v.secret_binary_b64, "AAEC");
    in = req_json(f, 0);
    assert_string_equal(json_string_value(json_object_get(in, "VersionId")), "v1");
    assert_null(json_object_get(in, "VersionStage"));
    json_decref(in);
    sm_secret_value_dispose(&v);
}

static void test_sm_missing_secret_is_not_found(void **state)
{
    fixture *f = *state;
    sm_secret_value v;
    httpd_script(&f->srv, 400, NULL,
                 "{\"__type\":\"ResourceNotFoundException\",\"message\":\"Secrets Manager can't "
                 "find the specified secret.\"}");
    assert_int_equal(sm_get_secret_value(&v, f->c, "nope", NULL, NULL), LB_ENOTFOUND);
    assert_string_equal(lb_error_last(), "secretsmanager GetSecretValue nope: "
                                         "ResourceNotFoundException: Secrets Manager can't find "
                                         "the specified secret.");
}

static void test_sm_put_secret_value_sends_token_and_value(void **state)
{
    fixture *f = *state;
    char *vid = NULL;
    json_t *in;
    const char *token;
    httpd_script(&f->srv, 200, NULL,
                 "{\"ARN\":\"a\",\"Name\":\"shop\",\"VersionId\":\"new-v\","
                 "\"VersionStages\":[\"AWSCURRENT\"]}");
    assert_int_equal(sm_put_secret_value(&vid, f->c, "shop", "s3cr3t", NULL, 0), 0);
    assert_string_equal(vid, "new-v");
    in = req_json(f, 0);
    assert_string_equal(json_string_value(json_object_get(in, "SecretString")), "s3cr3t");
    token = json_string_value(json_object_get(in, "ClientRequestToken"));
    assert_non_null(token);
    assert_int_equal(strlen(token), 36);
    assert_int_equal(token[14], '4');
    json_decref(in);
    free(vid);
}

static void test_sm_put_is_resent_with_its_token_stage_move_is_not(void **state)
{
    fixture *f = *state;
    aws_client *c = NULL;
    aws_credentials_provider *p = NULL;
    char *vid = NULL;
    json_t *a, *b;
    const char *err = "{\"__type\":\"InternalServiceError\",\"message\":\"boom\"}";
    httpd_client(&c, &p, &f->srv, 3);
    /* PutSecretValue: the same ClientRequestToken makes a second copy the same version */
    httpd_script(&f->srv, 500, NULL, err);
    httpd_script(&f->srv, 200, NULL, "{\"ARN\":\"a\",\"Name\":\"shop\",\"VersionId\":\"new-v\"}");
    assert_int_equal(sm_put_secret_value(&vid, c, "shop", "s3cr3t", NULL, 0), 0);
    a = req_json(f, 0);
    b = req_json(f, 1);
    assert_string_equal(json_string_value(json_object_get(a, "ClientRequestToken")),
                        json_string_value(json_object_get(b, "ClientRequestToken")));
    json_decref(a);
    json_decref(b);
    free(vid);
    /* UpdateSecretVersionStage after a 500: not sent again */
    httpd_script(&f->srv, 500, NULL, err);
    httpd_script(&f->srv, 200, NULL, "{}");
    assert_int_equal(sm_update_secret_version_stage(c, "shop", "AWSCURRENT", "v1", "v2"),
                     LB_EAMBIGUOUS);
    assert_int_equal(f->srv.served, 3);
    aws_client_free(c);
    aws_credentials_provider_free(p);
}

static void test_sm_list_versions_pages_with_next_token(void **state)
{
    fixture *f = *state;
    sm_version_list l;
    json_t *in;
    httpd_script(&f->srv, 200, NULL,
                 "{\"ARN\":\"a\",\"Name\":\"shop\",\"NextToken\":\"tok-2\",\"Versions\":["
                 "{\"VersionId\":\"v1\",\"VersionStages\":[\"AWSPREVIOUS\"],"
                 "\"CreatedDate\":1523477145.7},"
                 "{\"VersionId\":\"v0\",\"VersionStages\":[]}]}");
    httpd_script(&f->srv, 200, NULL,
                 "{\"Versions\":[{\"VersionId\":\"v2\","
                 "\"VersionStages\":[\"AWSCURRENT\",\"custom\"]}]}");
    assert_int_equal(sm_list_secret_version_ids(&l, f->c, "shop"), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].version_id, "v1");
    assert_string_equal(l.items[0].created_date, "1523477145.700");
    assert_int_equal(l.items[1].nstages, 0);
    assert_int_equal(l.items[2].nstages, 2);
    assert_string_equal(l.items[2].stages[1], "custom");
    in = req_json(f, 0);
    assert_true(json_is_true(json_object_get(in, "IncludeDeprecated")));
    json_decref(in);
    in = req_json(f, 1);
    assert_string_equal(json_string_value(json_object_get(in, "NextToken")), "tok-2");
    json_decref(in);
    sm_version_list_dispose(&l);
}

static void test_sm_update_version_stage_request(void **state)
{
    fixture *f = *state;
    json_t *in;
    char target[128];
    httpd_script(&f->srv, 200, NULL, "{\"ARN\":\"a\",\"Name\":\"shop\"}");
    assert_int_equal(sm_update_secret_version_stage(f->c, "shop", "AWSCURRENT", "v1", "v2"), 0);
    in = req_json(f, 0);
    assert_string_equal(json_string_value(json_object_get(in, "VersionStage")), "AWSCURRENT");
    assert_string_equal(json_string_value(json_object_get(in, "MoveToVersionId")), "v1");
    assert_string_equal(json_string_value(json_object_get(in, "RemoveFromVersionId")), "v2");
    httpd_req_header(&f->srv, 0, "X-Amz-Target", target, sizeof(target));
    assert_string_equal(target, "secretsmanager.UpdateSecretVersionStage");
    json_decref(in);
}

static void test_sts_get_caller_identity(void **state)
{
    fixture *f = *state;
    sts_identity id;
    httpd_script(&f->srv, 200, NULL,
                 "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                 "<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/Alice</Arn>"
                 "<UserId>AKIAI44QH8DHBEXAMPLE</UserId><Account>123456789012</Account>"
                 "</GetCallerIdentityResult><ResponseMetadata><RequestId>01234567-89ab-cdef-"
                 "0123-456789abcdef</RequestId></ResponseMetadata></GetCallerIdentityResponse>");
    assert_int_equal(sts_get_caller_identity(&id, f->c), 0);
    assert_string_equal(id.account, "123456789012");
    assert_string_equal(id.arn, "arn:aws:iam::123456789012:user/Alice");
    assert_string_equal(httpd_req_body(&f->srv, 0), "Action=GetCallerIdentity&Version=2011-06-15");
    sts_identity_dispose(&id);
}

static const char *assume_response =
    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    "<AssumeRoleWithWebIdentityResult>"
    "<SubjectFromWebIdentityToken>system:serviceaccount:lifeboat:operator"
    "</SubjectFromWebIdentityToken>"
    "<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/lifeboat/s</Arn>"
    "<AssumedRoleId>AROACLKWSDQRAOEXAMPLE:s</AssumedRoleId></AssumedRoleUser>"
    "<Credentials><SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>"
    "<SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>"
    "<Expiration>2026-02-18T15:30:00Z</Expiration>"
    "<AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId></Credentials>"
    "<Audience>sts.amazonaws.com</Audience></AssumeRoleWithWebIdentityResult>"
    "<ResponseMetadata><RequestId>ad4156e9</RequestId></ResponseMetadata>"
    "</AssumeRoleWithWebIdentityResponse>";

static void test_sts_assume_role_with_web_identity_is_unsigned(void **state)
{
    fixture *f = *state;
    aws_credentials cred;
    char auth[256];
    httpd_script(&f->srv, 200, NULL, assume_response);
    assert_int_equal(sts_assume_role_with_web_identity(&cred, f->c,
                                                       "arn:aws:iam::123456789012:role/lifeboat",
                                                       "s", "eyJhbGciOi.token"),
                     0);
    assert_string_equal(cred.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
    assert_string_equal(cred.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
    assert_string_equal(cred.session_token, "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE");
    assert_int_equal(cred.expiration, 1771428600LL); /* 2026-02-18T15:30:00Z */
    httpd_req_header(&f->srv, 0, "Authorization", auth, sizeof(auth));
    assert_string_equal(auth, "");
    assert_string_equal(httpd_req_body(&f->srv, 0),
                        "Action=AssumeRoleWithWebIdentity&RoleArn=arn%3Aaws%3Aiam%3A%3A"
                        "123456789012%3Arole%2Flifeboat&RoleSessionName=s&Version=2011-06-15&"
                        "WebIdentityToken=eyJhbGciOi.token");
    aws_credentials_dispose(&cred);
}

static void test_sts_assume_role_rejects_incomplete_credentials(void **state)
{
    aws_credentials cred;
    const char *body = "<R><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A"
                       "</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult></R>";
    (void)state;
    assert_int_equal(sts_parse_assume_role_response(&cred, body, strlen(body)), LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "SecretAccessKey"));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sm_get_secret_value_by_stage),
        T(test_sm_get_defaults_to_explicit_awscurrent),
        T(test_sm_get_by_version_id),
        T(test_sm_missing_secret_is_not_found),
        T(test_sm_put_secret_value_sends_token_and_value),
        T(test_sm_put_is_resent_with_its_token_stage_move_is_not),
        T(test_sm_list_versions_pages_with_next_token),
        T(test_sm_update_version_stage_request),
        T(test_sts_get_caller_identity),
        T(test_sts_assume_role_with_web_identity_is_unsigned),
        cmocka_unit_test(test_sts_assume_role_rejects_incomplete_credentials),
    };
    return cmocka_run_group_tests_name("aws_secrets", tests, NULL, NULL);
}
