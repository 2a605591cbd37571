/* Unit tests for pkg/aws/request: canonical query, endpoints, SigV4 through
 * libcurl (checked against an independent HMAC-SHA256 signer over the
 * canonical requests of the public SigV4 test suite), retries and caps.
 *
 * Why a local capture: libcurl does the signing, so the test sends each
 * request to a scripted local server, reads the Authorization header curl
 * produced, and compares it with a signature the test computes itself with
 * OpenSSL HMAC over the canonical request it expects. A mismatch in either
 * the request the client built or in what curl signed fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "aws/credentials.h"
#include "aws/error.h"
#include "aws/request.h"
#include "util/alloc.h"
#include "util/error.h"

#include "test_aws_httpd.h"

#define SUITE_AKID   "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE   "20150830T123600Z"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- independent signer (the oracle) ---- */

static void hex(char *out, const unsigned char *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha256_hex(char out[65], const char *s)
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    hex(out, md, 32);
}

static void hmac(unsigned char out[32], const void *key, size_t klen, const char *msg)
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

/* Signature of a canonical request per the SigV4 specification. */
static void sigv4(char out[65], const char *creq, const char *secret, const char *date,
                  const char *region, const char *service)
{
    char day[9], scope[128], sts[512], h[65], k[128];
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];

    memcpy(day, date, 8);
    day[8] = '\0';
    snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", day, region, service);
    sha256_hex(h, creq);
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", date, scope, h);
    snprintf(k, sizeof(k), "AWS4%s", secret);
    hmac(k1, k, strlen(k), day);
    hmac(k2, k1, 32, region);
    hmac(k3, k2, 32, service);
    hmac(k4, k3, 32, "aws4_request");
    hmac(sig, k4, 32, sts);
    hex(out, sig, 32);
}

static void test_aws_oracle_matches_published_get_vanilla(void **state)
{
    char sig[65];
    (void)state;
    /* aws-sig-v4-test-suite/get-vanilla: creq and published signature. */
    sigv4(sig,
          "GET\n/"
          "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
          "date\n" EMPTY_SHA256,
          SUITE_SECRET, SUITE_DATE, "us-east-1", "service");
    assert_string_equal(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

/* ---- canonical query and encoding ---- */

static void test_aws_query_sorts_and_encodes(void **state)
{
    aws_query *q = aws_query_new();
    char *s = NULL;
    (void)state;
    aws_query_add(q, "prefix", "a b/c");
    aws_query_add(q, "list-type", "2");
    aws_query_add(q, "versions", NULL);
    aws_query_add(q, "continuation-token", "x+y=z~");
    assert_int_equal(aws_query_build(&s, q), 0);
    assert_string_equal(s, "continuation-token=x%2By%3Dz~&list-type=2&prefix=a%20b%2Fc&versions=");
    free(s);
    aws_query_free(q);
}

static void test_aws_query_sorts_equal_keys_by_value(void **state)
{
    aws_query *q = aws_query_new();
    char *s = NULL;
    (void)state;
    aws_query_add(q, "Filters.member.1.Values.member.1", "b");
    aws_query_add(q, "Action", "DescribeDBSnapshots");
    aws_query_add(q, "Param", "z");
    aws_query_add(q, "Param", "a");
    assert_int_equal(aws_query_build(&s, q), 0);
    assert_string_equal(s, "Action=DescribeDBSnapshots&Filters.member.1.Values.member.1=b&"
                           "Param=a&Param=z");
    free(s);
    aws_query_free(q);
}

static void test_aws_query_empty(void **state)
{
    char *s = NULL;
    (void)state;
    assert_int_equal(aws_query_build(&s, NULL), 0);
    assert_string_equal(s, "");
    free(s);
}

static void test_aws_uri_encode_utf8_upper_hex_and_slash(void **state)
{
    char *a = aws_uri_encode("dir/ሴ key*.txt", true);
    char *b = aws_uri_encode("dir/x", false);
    (void)state;
    assert_string_equal(a, "dir/%E1%88%B4%20key%2A.txt");
    assert_string_equal(b, "dir%2Fx");
    free(a);
    free(b);
}

/* ---- endpoints ---- */

static char *url_for(const aws_client_options *o, const char *svc, const char *bucket,
                     const char *path)
{
    char *u = NULL;
    int rc = aws_endpoint_url(&u, o, svc, bucket, path);
    assert_int_equal(rc, 0);
    return u;
}

static void test_aws_endpoint_aws_defaults(void **state)
{
    aws_client_options o = {.region = "eu-west-1"};
    char *u;
    (void)state;
    u = url_for(&o, "rds", NULL, NULL);
    assert_string_equal(u, "https://rds.eu-west-1.amazonaws.com/");
    free(u);
    u = url_for(&o, "secretsmanager", NULL, "/");
    assert_string_equal(u, "https://secretsmanager.eu-west-1.amazonaws.com/");
    free(u);
    u = url_for(&o, "sts", NULL, "/");
    assert_string_equal(u, "https://sts.eu-west-1.amazonaws.com/");
    free(u);
    o.region = "cn-north-1";
    u = url_for(&o, "rds", NULL, "/");
    assert_string_equal(u, "https://rds.cn-north-1.amazonaws.com.cn/");
    free(u);
}

static void test_aws_endpoint_s3_virtual_hosted_on_aws(void **state)
{
    aws_client_options o = {.region = "us-east-2"};
    char *u;
    (void)state;
    u = url_for(&o, "s3", "shop-backups", "/pg/a%20b.dump");
    assert_string_equal(u, "https://shop-backups.s3.us-east-2.amazonaws.com/pg/a%20b.dump");
    free(u);
    /* Dotted names break the TLS wildcard: path style. */
    u = url_for(&o, "s3", "shop.backups", "/k");
    assert_string_equal(u, "https://s3.us-east-2.amazonaws.com/shop.backups/k");
    free(u);
    o.s3_force_path_style = true;
    u = url_for(&o, "s3", "shop-backups", "/k");
    assert_string_equal(u, "https://s3.us-east-2.amazonaws.com/shop-backups/k");
    free(u);
}

static void test_aws_endpoint_overrides_and_path_style(void **state)
{
    aws_client_options o = {.region = "us-east-1",
                            .endpoint_url = "http://127.0.0.1:4566/",
                            .endpoint_url_rds = "http://rds.local:9000"};
    char *u;
    (void)state;
    u = url_for(&o, "s3", "media", "/img/1.png");
    assert_string_equal(u, "http://127.0.0.1:4566/media/img/1.png");
    free(u);
    u = url_for(&o, "rds", NULL, "/");
    assert_string_equal(u, "http://rds.local:9000/");
    free(u);
    u = url_for(&o, "secretsmanager", NULL, "/");
    assert_string_equal(u, "http://127.0.0.1:4566/");
    free(u);
    o.endpoint_url_s3 = "https://minio.example:9443";
    u = url_for(&o, "s3", "media", "/");
    assert_string_equal(u, "https://minio.example:9443/media/");
    free(u);
}

static void test_aws_endpoint_rejects_bad_input(void **state)
{
    aws_client_options o = {.region = "us-east-1", .endpoint_url_sts = "ftp://x"};
    char *u = NULL;
    (void)state;
    assert_int_equal(aws_endpoint_url(&u, &o, "sts", NULL, "/"), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "sts"));
    o.endpoint_url_sts = NULL;
    assert_int_equal(aws_endpoint_url(&u, &o, "ec2", NULL, "/"), LB_EINVALID);
    o.region = "US_EAST";
    assert_int_equal(aws_endpoint_url(&u, &o, "rds", NULL, "/"), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "region"));
}

static void test_aws_options_from_env(void **state)
{
    aws_client_options o;
    (void)state;
    setenv("AWS_REGION", "ap-south-1", 1);
    setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://sm:1", 1);
    setenv("AWS_S3_FORCE_PATH_STYLE", "true", 1);
    aws_client_options_from_env(&o);
    assert_string_equal(o.region, "ap-south-1");
    assert_string_equal(o.endpoint_url_secrets_manager, "http://sm:1");
    assert_true(o.s3_force_path_style);
    unsetenv("AWS_ENDPOINT_URL_SECRETS_MANAGER");
    unsetenv("AWS_S3_FORCE_PATH_STYLE");
    unsetenv("AWS_REGION");
}

/* ---- SigV4 through libcurl, public suite cases ---- */

typedef struct signed_case {
    httpd srv;
    aws_credentials_provider *creds;
    aws_client *client;
    char connect_to[128];
} signed_case;

static void case_start(signed_case *t, const char *token)
{
    aws_client_options o;
    httpd_start(&t->srv);
    assert_int_equal(
        aws_credentials_provider_new_static(&t->creds, SUITE_AKID, SUITE_SECRET, token), 0);
    snprintf(t->connect_to, sizeof(t->connect_to), "example.amazonaws.com:80:127.0.0.1:%d",
             t->srv.port);
    memset(&o, 0, sizeof(o));
    o.region = "us-east-1";
    o.endpoint_url = "http://example.amazonaws.com";
    o.credentials = t->creds;
    o.fixed_date = SUITE_DATE;
    o.connect_to = t->connect_to;
    o.max_attempts = 1;
    assert_int_equal(aws_client_new(&t->client, &o), 0);
}

static void case_stop(signed_case *t)
{
    aws_client_free(t->client);
    aws_credentials_provider_free(t->creds);
    httpd_stop(&t->srv);
}

/* Sends req (service "sts" signs as the suite's "service" would not route:
 * the oracle signs with the same service name). Checks the Authorization. */
static void check_signed(signed_case *t, aws_request *req, const char *creq,
                         const char *signed_headers)
{
    aws_response resp;
    char auth[512], want[512], sig[65];

    httpd_script(&t->srv, 200, NULL, "<ok/>");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t->client, req), 0);
    aws_response_dispose(&resp);
    assert_int_equal(t->srv.nrequests, 1);
    httpd_req_header(&t->srv, 0, "Authorization", auth, sizeof(auth));
    sigv4(sig, creq, SUITE_SECRET, SUITE_DATE, "us-east-1", req->service);
    snprintf(want, sizeof(want),
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/%s/aws4_request, "
             "SignedHeaders=%s, Signature=%s",
             req->service, signed_headers, sig);
    assert_string_equal(auth, want);
}

static void test_aws_sigv4_get_vanilla(void **state)
{
    signed_case t;
    aws_request req;
    (void)state;
    case_start(&t, NULL);
    memset(&req, 0, sizeof(req));
    req.service = "sts";
    req.method = "GET";
    check_signed(
        &t, &req,
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-content-sha256:" EMPTY_SHA256
        "\nx-amz-date:20150830T123600Z\n\nhost;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
        "host;x-amz-content-sha256;x-amz-date");
    case_stop(&t);
}

static void test_aws_sigv4_get_vanilla_query_order_key_case(void **state)
{
    signed_case t;
    aws_request req;
    aws_query *q = aws_query_new();
    char *qs = NULL;
    char line[256];
    (void)state;
    case_start(&t, NULL);
    aws_query_add(q, "Param2", "value2");
    aws_query_add(q, "Param1", "value1");
    aws_query_build(&qs, q);
    memset(&req, 0, sizeof(req));
    req.service = "sts";
    req.method = "GET";
    req.query = qs;
    check_signed(&t, &req,
                 "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n"
                 "x-amz-content-sha256:" EMPTY_SHA256 "\nx-amz-date:20150830T123600Z\n\n"
                 "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
                 "host;x-amz-content-sha256;x-amz-date");
    httpd_req_line(&t.srv, 0, line, sizeof(line));
    assert_string_equal(line, "GET /?Param1=value1&Param2=value2 HTTP/1.1");
    free(qs);
    aws_query_free(q);
    case_stop(&t);
}

static void test_aws_sigv4_get_vanilla_query_unreserved_and_utf8(void **state)
{
    signed_case t;
    aws_request req;
    aws_query *q = aws_query_new();
    char *qs = NULL;
    const char *unres = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char creq[1024];
    (void)state;
    case_start(&t, NULL);
    aws_query_add(q, unres, unres);
    aws_query_add(q, "ሴ", "bar");
    aws_query_build(&qs, q);
    memset(&req, 0, sizeof(req));
    req.service = "sts";
    req.method = "GET";
    req.query = qs;
    snprintf(creq, sizeof(creq),
             /* Sorted by encoded key: '%' (0x25) comes before '-' (0x2d). */
             "GET\n/\n%%E1%%88%%B4=bar&%s=%s\nhost:example.amazonaws.com\n"
             "x-amz-content-sha256:" EMPTY_SHA256 "\nx-amz-date:20150830T123600Z\n\n"
             "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
             unres, unres);
    check_signed(&t, &req, creq, "host;x-amz-content-sha256;x-amz-date");
    free(qs);
    aws_query_free(q);
    case_stop(&t);
}

static void test_aws_sigv4_get_space_path(void **state)
{
    signed_case t;
    aws_request req;
    char *path = aws_uri_encode("/example space/", true);
    (void)state;
    case_start(&t, NULL);
    memset(&req, 0, sizeof(req));
    req.service = "sts";
    req.method = "GET";
    req.path = path;
    check_signed(&t, &req,
                 "GET\n/example%20space/\n\nhost:example.amazonaws.com\n"
                 "x-amz-content-sha256:" EMPTY_SHA256 "\nx-amz-date:20150830T123600Z\n\n"
                 "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
                 "host;x-amz-content-sha256;x-amz-date");
    free(path);
    case_stop(&t);
}

static void test_aws_sigv4_post_x_www_form_urlencoded(void **state)
{
    signed_case t;
    aws_request req;
    char creq[1024], h[65], got[128];
    (void)state;
    case_start(&t, NULL);
    memset(&req, 0, sizeof(req));
    req.service = "sts";
    req.method = "POST";
    req.content_type = "application/x-www-form-urlencoded";
    req.body = "Param1=value1";
    req.body_len = strlen(req.body);
    sha256_hex(h, "Param1=value1");
    snprintf(creq, sizeof(creq),
             "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
             "host:example.amazonaws.com\nx-amz-content-sha256:%s\n"
             "x-amz-date:20150830T123600Z\n\n"
             "content-type;host;x-amz-content-sha256;x-amz-date\n%s",
             h, h);
    check_signed(&t, &req, creq, "content-type;host;x-amz-content-sha256;x-amz-date");
    assert_string_equal(httpd_req_body(&t.srv, 0), "Param1=value1");
    httpd_req_header(&t.srv, 0, "x-amz-content-sha256", got, sizeof(got));
    assert_string_equal(got, h);
    case_stop(&t);
}

static void test_aws_sigv4_post_sts_token(void **state)
{
    signed_case t;
    aws_request req;
    char got[256];
    const char *token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW"
                        "LWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGd";
    char creq[1024];
    (void)state;
    case_start(&t, token);
    memset(&req, 0, sizeof(req));
    req.service = "sts";
    req.method = "GET";
    snprintf(creq, sizeof(creq),
             "GET\n/\n\nhost:example.amazonaws.com\nx-amz-content-sha256:" EMPTY_SHA256
             "\nx-amz-date:20150830T123600Z\nx-amz-security-token:%s\n\n"
             "host;x-amz-content-sha256;x-amz-date;x-amz-security-token\n" EMPTY_SHA256,
             token);
    check_signed(&t, &req, creq, "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
    httpd_req_header(&t.srv, 0, "X-Amz-Security-Token", got, sizeof(got));
    assert_string_equal(got, token);
    case_stop(&t);
}

static long read_once(char *buf, size_t len, void *payload)
{
    const char **p = payload;
    size_t n = strlen(*p) < len ? strlen(*p) : len;
    memcpy(buf, *p, n);
    *p += n;
    return (long)n;
}

static void test_aws_sigv4_streamed_put_is_unsigned_payload(void **state)
{
    signed_case t;
    aws_request req;
    const char *data = "streamed-bytes";
    const char *cursor = data;
    char got[128];
    (void)state;
    case_start(&t, NULL);
    memset(&req, 0, sizeof(req));
    req.service = "s3";
    req.method = "PUT";
    req.bucket = "bkt";
    req.path = "/k";
    req.content_type = "application/octet-stream";
    req.read_fn = read_once;
    req.read_payload = &cursor;
    req.read_len = (int64_t)strlen(data);
    check_signed(&t, &req,
                 "PUT\n/bkt/k\n\ncontent-type:application/octet-stream\n"
                 "host:example.amazonaws.com\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"
                 "x-amz-date:20150830T123600Z\n\n"
                 "content-type;host;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD",
                 "content-type;host;x-amz-content-sha256;x-amz-date");
    assert_string_equal(httpd_req_body(&t.srv, 0), data);
    httpd_req_header(&t.srv, 0, "Content-Length", got, sizeof(got));
    assert_string_equal(got, "14");
    case_stop(&t);
}

static void test_aws_request_body_needs_content_type(void **state)
{
    signed_case t;
    aws_request req;
    aws_response resp;
    (void)state;
    case_start(&t, NULL);
    memset(&req, 0, sizeof(req));
    req.service = "s3";
    req.method = "PUT";
    req.body = "x";
    req.body_len = 1;
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "Content-Type"));
    assert_int_equal(t.srv.nrequests, 0);
    aws_response_dispose(&resp);
    case_stop(&t);
}

/* ---- retries, errors, caps, streaming ---- */

static void retry_client(signed_case *t, int attempts, long timeout_ms, long base_ms)
{
    aws_client_options o;
    httpd_start(&t->srv);
    assert_int_equal(aws_credentials_provider_new_static(&t->creds, "AKID", "SECRET", NULL), 0);
    memset(&o, 0, sizeof(o));
    o.region = "us-east-1";
    snprintf(t->connect_to, sizeof(t->connect_to), "http://127.0.0.1:%d", t->srv.port);
    o.endpoint_url = t->connect_to;
    o.credentials = t->creds;
    o.max_attempts = attempts;
    o.timeout_ms = timeout_ms;
    o.backoff_base_ms = base_ms;
    o.backoff_cap_ms = base_ms * 4;
    assert_int_equal(aws_client_new(&t->client, &o), 0);
}

static void test_aws_retries_throttling_then_succeeds(void **state)
{
    signed_case t;
    aws_request req = {.service = "s3", .method = "GET", .bucket = "b", .path = "/k"};
    aws_response resp;
    (void)state;
    retry_client(&t, 4, 10000, 5);
    httpd_script(&t.srv, 503, NULL,
                 "<Error><Code>SlowDown</Code><Message>Please reduce your request rate."
                 "</Message></Error>");
    httpd_script(&t.srv, 500, NULL, "");
    httpd_script(&t.srv, 200, "ETag: \"abc\"\r\n", "payload");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), 0);
    assert_int_equal(resp.attempts, 3);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "payload");
    assert_string_equal(aws_response_header_get(&resp, "etag"), "\"abc\"");
    assert_int_equal(t.srv.nrequests, 3);
    aws_response_dispose(&resp);
    case_stop(&t);
}

static void test_aws_client_for_region_signs_for_that_region(void **state)
{
    signed_case t;
    aws_client *eu = NULL;
    aws_request req = {.service = "s3", .method = "GET", .bucket = "b", .path = "/k"};
    aws_response resp;
    char auth[512];
    (void)state;
    retry_client(&t, 1, 10000, 1);
    assert_int_equal(aws_client_new_for_region(&eu, t.client, "EU_WEST"), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "region"));
    assert_null(eu);
    assert_int_equal(aws_client_new_for_region(&eu, t.client, "eu-west-1"), 0);
    assert_string_equal(aws_client_region(eu), "eu-west-1");
    assert_string_equal(aws_client_region(t.client), "us-east-1");
    httpd_script(&t.srv, 200, NULL, "x");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, eu, &req), 0); /* the same endpoint override */
    httpd_req_header(&t.srv, 0, "Authorization", auth, sizeof(auth));
    assert_non_null(strstr(auth, "/eu-west-1/s3/aws4_request"));
    aws_response_dispose(&resp);
    aws_client_free(eu);
    case_stop(&t);
}

static void test_aws_bucket_of_another_region_is_invalid_naming_its_region(void **state)
{
    signed_case t;
    aws_request req = {.service = "s3", .method = "GET", .bucket = "west", .path = "/"};
    aws_request head = {.service = "s3", .method = "HEAD", .bucket = "west", .path = "/k"};
    aws_response resp;
    (void)state;
    retry_client(&t, 4, 10000, 1);
    httpd_script(&t.srv, 301, "x-amz-bucket-region: us-west-2\r\n",
                 "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting "
                 "to access must be addressed using the specified endpoint.</Message></Error>");
    httpd_script(&t.srv, 301, "x-amz-bucket-region: us-west-2\r\n", ""); /* HEAD: no body */
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), LB_EINVALID);
    assert_int_equal(resp.attempts, 1); /* no retry helps */
    assert_non_null(strstr(lb_error_last(), "PermanentRedirect: The bucket you are attempting"));
    assert_non_null(strstr(lb_error_last(), "(the bucket is in region us-west-2, "
                                            "x-amz-bucket-region; the request was for region "
                                            "us-east-1)"));
    assert_int_equal(aws_client_last_failure().wrong_region, 1); /* told apart from other 400s */
    assert_string_equal(aws_client_last_failure().code, "PermanentRedirect");
    assert_int_equal(aws_client_last_failure().status, 301);
    aws_response_dispose(&resp);
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &head), LB_EINVALID);
    assert_int_equal(resp.attempts, 1);
    assert_non_null(strstr(lb_error_last(), "the bucket is in region us-west-2"));
    aws_response_dispose(&resp);
    case_stop(&t);
}

static void test_aws_last_failure_tells_other_invalid_answers_apart(void **state)
{
    signed_case t;
    aws_request req = {.service = "s3", .method = "GET", .bucket = "west", .path = "/"};
    aws_response resp;
    (void)state;
    retry_client(&t, 4, 10000, 1);
    httpd_script(&t.srv, 301, "x-amz-bucket-region: us-west-2\r\n", "");
    httpd_script(&t.srv, 400, "",
                 "<Error><Code>InvalidArgument</Code><Message>no</Message></Error>");
    httpd_script(&t.srv, 200, "", "");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), LB_EINVALID);
    assert_int_equal(aws_client_last_failure().wrong_region, 1);
    aws_response_dispose(&resp);
    aws_response_init(&resp); /* the same code, another cause: the flag is reset */
    assert_int_equal(aws_client_send(&resp, t.client, &req), LB_EINVALID);
    assert_int_equal(aws_client_last_failure().wrong_region, 0);
    assert_string_equal(aws_client_last_failure().code, "InvalidArgument");
    assert_int_equal(aws_client_last_failure().status, 400);
    aws_response_dispose(&resp);
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), 0);
    assert_string_equal(aws_client_last_failure().code, "");
    assert_int_equal(aws_client_last_failure().status, 0);
    aws_response_dispose(&resp);
    case_stop(&t);
}

static void test_aws_throttling_gives_up_after_max_attempts(void **state)
{
    signed_case t;
    aws_request req = {.service = "rds",
                       .method = "POST",
                       .content_type = "text/plain",
                       .body = "x",
                       .body_len = 1};
    aws_response resp;
    const char *body = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                       "<Message>Rate exceeded</Message></Error></ErrorResponse>";
    (void)state;
    retry_client(&t, 2, 10000, 1);
    httpd_script(&t.srv, 400, NULL, body);
    httpd_script(&t.srv, 400, NULL, body);
    httpd_script(&t.srv, 200, NULL, "never reached");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), LB_ETHROTTLED);
    assert_int_equal(resp.attempts, 2);
    assert_string_equal(lb_error_last(), "Throttling: Rate exceeded");
    aws_response_dispose(&resp);
    case_stop(&t);
}

/* The fence: checked before each attempt, and again by libcurl just before the
 * request is written (CURLOPT_PREREQFUNCTION), so a replica that stops leading
 * while it connects sends nothing. */
static int fence_calls;
static int fence_opens_once(void *payload, const char *service)
{
    (void)payload, (void)service;
    if (fence_calls++ == 0)
        return 0;
    return lb_error_setc(LB_EFENCED, "this replica no longer holds the leader Lease");
}

static void test_aws_fence_closing_before_the_send_sends_nothing(void **state)
{
    signed_case t;
    aws_request req = {.service = "rds",
                       .method = "POST",
                       .content_type = "text/plain",
                       .body = "x",
                       .body_len = 1};
    aws_response resp;
    (void)state;
    retry_client(&t, 5, 10000, 1);
    httpd_script(&t.srv, 200, NULL, "<ok/>");
    fence_calls = 0;
    aws_client_set_fence(t.client, fence_opens_once, NULL);
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), LB_EFENCED);
    assert_int_equal(fence_calls, 2); /* the attempt's check, then libcurl's before sending */
    assert_int_equal(t.srv.nrequests, 0);
    assert_non_null(strstr(lb_error_last(), "not sent"));
    aws_response_dispose(&resp);
    /* a closed fence: not even the attempt starts */
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), LB_EFENCED);
    assert_int_equal(fence_calls, 3);
    assert_int_equal(t.srv.nrequests, 0);
    aws_response_dispose(&resp);
    case_stop(&t);
}

static void test_aws_not_found_is_not_retried_and_keeps_message(void **state)
{
    signed_case t;
    aws_request req = {.service = "rds",
                       .method = "POST",
                       .content_type = "text/plain",
                       .body = "x",
                       .body_len = 1};
    aws_response resp;
    (void)state;
    retry_client(&t, 5, 10000, 1);
    httpd_script(&t.srv, 404, NULL,
                 "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error>"
                 "<Type>Sender</Type><Code>DBInstanceNotFound</Code><Message>DBInstance x not "
                 "found.</Message></Error><RequestId>1</RequestId></ErrorResponse>");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), LB_ENOTFOUND);
    assert_int_equal(resp.attempts, 1);
    assert_string_equal(resp.aws_code, "DBInstanceNotFound");
    assert_string_equal(lb_error_last(), "DBInstanceNotFound: DBInstance x not found.");
    aws_response_dispose(&resp);
    case_stop(&t);
}

static void test_aws_deadline_stops_retries(void **state)
{
    signed_case t;
    aws_request req = {.service = "s3", .method = "GET", .bucket = "b", .path = "/k"};
    aws_response resp;
    (void)state;
    /* Backoff (up to 4 s) far exceeds the 300 ms deadline. */
    retry_client(&t, 10, 300, 1000);
    for (int i = 0; i < 10; i++)
        httpd_script(&t.srv, 500, NULL, "");
    aws_response_init(&resp);
    int rc = aws_client_send(&resp, t.client, &req);
    assert_true(rc == LB_ERROR || rc == LB_ETIMEOUT);
    assert_non_null(strstr(lb_error_last(), "deadline"));
    assert_true(resp.attempts < 10);
    aws_response_dispose(&resp);
    case_stop(&t);
}

/* ---- mutating calls are never blindly re-sent ---- */

#define FORM        "application/x-www-form-urlencoded; charset=utf-8"
#define MODIFY_BODY "Action=ModifyDBInstance&DBInstanceIdentifier=a&NewDBInstanceIdentifier=b"
#define DESCRIBE    "Action=DescribeDBInstances&DBInstanceIdentifier=a"
#define INTERNAL_FAILURE                                                                           \
    "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>"                      \
    "<Message>boom</Message></Error></ErrorResponse>"

static aws_request form_request(const char *body)
{
    aws_request req = {.service = "rds",
                       .method = "POST",
                       .content_type = FORM,
                       .body = body,
                       .body_len = strlen(body)};
    return req;
}

static void test_aws_mutating_500_is_ambiguous_and_not_resent(void **state)
{
    signed_case t;
    aws_request req = form_request(MODIFY_BODY);
    aws_response resp;
    (void)state;
    retry_client(&t, 5, 10000, 1);
    httpd_script(&t.srv, 500, NULL, INTERNAL_FAILURE);
    httpd_script(&t.srv, 200, NULL, "<ok/>");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), LB_EAMBIGUOUS);
    assert_int_equal(resp.attempts, 1);
    assert_int_equal(t.srv.served, 1);
    assert_string_equal(resp.aws_code, "InternalFailure");
    assert_non_null(strstr(lb_error_last(), "ModifyDBInstance"));
    assert_non_null(strstr(lb_error_last(), "may have been applied"));
    aws_response_dispose(&resp);
    case_stop(&t);
}

static void test_aws_mutating_dropped_connection_is_ambiguous(void **state)
{
    signed_case t;
    aws_request req = form_request(MODIFY_BODY);
    aws_response resp;
    (void)state;
    retry_client(&t, 5, 10000, 1);
    httpd_script(&t.srv, 0, NULL, NULL); /* applied, then the connection dropped */
    httpd_script(&t.srv, 200, NULL, "<ok/>");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), LB_EAMBIGUOUS);
    assert_int_equal(resp.attempts, 1);
    assert_int_equal(t.srv.served, 1);
    assert_non_null(strstr(lb_error_last(), "after the request was sent"));
    aws_response_dispose(&resp);
    case_stop(&t);
}

static void test_aws_mutating_throttled_is_retried(void **state)
{
    signed_case t;
    aws_request req = form_request(MODIFY_BODY);
    aws_response resp;
    (void)state;
    retry_client(&t, 5, 10000, 1);
    httpd_script(&t.srv, 400, NULL,
                 "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                 "<Message>Rate exceeded</Message></Error></ErrorResponse>");
    httpd_script(&t.srv, 200, NULL, "<ok/>");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), 0);
    assert_int_equal(resp.attempts, 2);
    assert_int_equal(t.srv.served, 2);
    aws_response_dispose(&resp);
    case_stop(&t);
}

static void test_aws_mutating_connection_refused_is_retried(void **state)
{
    aws_client_options o;
    aws_client *c = NULL;
    aws_credentials_provider *creds = NULL;
    aws_request req = form_request(MODIFY_BODY);
    aws_response resp;
    httpd srv;
    char url[64];
    int port;
    (void)state;
    /* A port that was just listening and is now closed: connections are refused. */
    httpd_start(&srv);
    port = srv.port;
    httpd_stop(&srv);
    assert_int_equal(aws_credentials_provider_new_static(&creds, "AKID", "SECRET", NULL), 0);
    memset(&o, 0, sizeof(o));
    o.region = "us-east-1";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    o.endpoint_url = url;
    o.credentials = creds;
    o.max_attempts = 3;
    o.timeout_ms = 10000;
    o.backoff_base_ms = 1;
    o.backoff_cap_ms = 4;
    assert_int_equal(aws_client_new(&c, &o), 0);
    aws_response_init(&resp);
    int rc = aws_client_send(&resp, c, &req);
    assert_int_not_equal(rc, 0);
    assert_int_not_equal(rc, LB_EAMBIGUOUS); /* never sent: known not applied */
    assert_int_equal(resp.attempts, 3);
    aws_response_dispose(&resp);
    aws_client_free(c);
    aws_credentials_provider_free(creds);
}

static void test_aws_reads_are_retried_after_500_and_drops(void **state)
{
    signed_case t;
    aws_request req = form_request(DESCRIBE);
    aws_response resp;
    (void)state;
    retry_client(&t, 5, 10000, 1);
    httpd_script(&t.srv, 500, NULL, INTERNAL_FAILURE);
    httpd_script(&t.srv, 0, NULL, NULL);
    httpd_script(&t.srv, 200, NULL, "<ok/>");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), 0);
    assert_int_equal(resp.attempts, 3);
    assert_string_equal(resp.body, "<ok/>");
    aws_response_dispose(&resp);
    case_stop(&t);
}

static void test_aws_resend_safe_classification(void **state)
{
    aws_request r;
    char op[64];
    (void)state;

    r = form_request(MODIFY_BODY);
    assert_false(aws_request_resend_safe(&r));
    aws_request_operation(op, sizeof(op), &r);
    assert_string_equal(op, "ModifyDBInstance");
    r = form_request("DBInstanceIdentifier=a&Action=RestoreDBInstanceToPointInTime&Version=1");
    assert_false(aws_request_resend_safe(&r));
    aws_request_operation(op, sizeof(op), &r);
    assert_string_equal(op, "RestoreDBInstanceToPointInTime");
    r = form_request("Action=DeleteDBInstance&DBInstanceIdentifier=a");
    assert_false(aws_request_resend_safe(&r));
    r = form_request(DESCRIBE);
    assert_true(aws_request_resend_safe(&r));
    r = form_request("Action=ListTagsForResource&ResourceName=arn");
    assert_true(aws_request_resend_safe(&r));
    r = form_request("Action=AddTagsToResource&ResourceName=arn");
    assert_true(aws_request_resend_safe(&r));
    r = form_request("Action=CreateDBSnapshot&DBInstanceIdentifier=a");
    assert_false(aws_request_resend_safe(&r));
    r = form_request(MODIFY_BODY);
    r.resend = AWS_RESEND_SAFE;
    assert_true(aws_request_resend_safe(&r));
    r = form_request(DESCRIBE);
    r.resend = AWS_RESEND_NEVER;
    assert_false(aws_request_resend_safe(&r));
    r = form_request("Action=AssumeRole&RoleArn=x");
    r.service = "sts";
    assert_true(aws_request_resend_safe(&r));

    memset(&r, 0, sizeof(r));
    r.service = "secretsmanager";
    r.method = "POST";
    aws_request_add_header(&r, "X-Amz-Target", "secretsmanager.GetSecretValue");
    assert_true(aws_request_resend_safe(&r));
    memset(&r, 0, sizeof(r));
    r.service = "secretsmanager";
    r.method = "POST";
    aws_request_add_header(&r, "X-Amz-Target", "secretsmanager.UpdateSecretVersionStage");
    assert_false(aws_request_resend_safe(&r));
    aws_request_operation(op, sizeof(op), &r);
    assert_string_equal(op, "UpdateSecretVersionStage");

    memset(&r, 0, sizeof(r));
    r.service = "s3";
    r.method = "PUT";
    assert_true(aws_request_resend_safe(&r));
    r.method = "DELETE";
    assert_true(aws_request_resend_safe(&r));
    r.method = "HEAD";
    assert_true(aws_request_resend_safe(&r));
    r.method = "POST";
    r.query = "delete=";
    assert_true(aws_request_resend_safe(&r));
    r.query = "uploads=";
    assert_false(aws_request_resend_safe(&r));
    r.query = "uploadId=abc";
    assert_false(aws_request_resend_safe(&r));
}

static void test_aws_response_cap_is_enforced(void **state)
{
    signed_case t;
    aws_request req = {
        .service = "s3", .method = "GET", .bucket = "b", .path = "/k", .response_cap = 8};
    aws_response resp;
    (void)state;
    retry_client(&t, 1, 10000, 1);
    httpd_script(&t.srv, 200, NULL, "0123456789abcdef");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), LB_ETOOBIG);
    assert_non_null(strstr(lb_error_last(), "cap of 8 bytes"));
    aws_response_dispose(&resp);
    case_stop(&t);
}

static int collect(const char *data, size_t len, void *payload)
{
    strncat((char *)payload, data, len < 60 ? len : 60);
    return 0;
}

static void test_aws_streamed_response_goes_to_callback(void **state)
{
    signed_case t;
    char got[64] = "";
    aws_request req = {.service = "s3",
                       .method = "GET",
                       .bucket = "b",
                       .path = "/k",
                       .write_fn = collect,
                       .write_payload = got};
    aws_response resp;
    (void)state;
    retry_client(&t, 1, 10000, 1);
    httpd_script(&t.srv, 200, NULL, "streamed body");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, t.client, &req), 0);
    assert_string_equal(got, "streamed body");
    assert_int_equal(resp.body_len, 0);
    aws_response_dispose(&resp);
    case_stop(&t);
}

typedef struct worker {
    aws_client *c;
    int ok;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 5; i++) {
        aws_request req = {.service = "s3", .method = "GET", .bucket = "b", .path = "/k"};
        aws_response resp;
        aws_response_init(&resp);
        if (aws_client_send(&resp, w->c, &req) == 0 && strcmp(resp.body, "same") == 0)
            w->ok++;
        aws_response_dispose(&resp);
    }
    return NULL;
}

static void test_aws_client_shared_between_threads(void **state)
{
    signed_case t;
    pthread_t th[6];
    worker w[6];
    (void)state;
    retry_client(&t, 1, 10000, 1);
    t.srv.repeat_last = 1;
    httpd_script(&t.srv, 200, NULL, "same");
    for (int i = 0; i < 6; i++) {
        w[i].c = t.client;
        w[i].ok = 0;
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, 5);
    }
    assert_int_equal(t.srv.served, 30);
    case_stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_oracle_matches_published_get_vanilla),
        cmocka_unit_test(test_aws_query_sorts_and_encodes),
        cmocka_unit_test(test_aws_query_sorts_equal_keys_by_value),
        cmocka_unit_test(test_aws_query_empty),
        cmocka_unit_test(test_aws_uri_encode_utf8_upper_hex_and_slash),
        cmocka_unit_test(test_aws_endpoint_aws_defaults),
        cmocka_unit_test(test_aws_endpoint_s3_virtual_hosted_on_aws),
        cmocka_unit_test(test_aws_endpoint_overrides_and_path_style),
        cmocka_unit_test(test_aws_endpoint_rejects_bad_input),
        cmocka_unit_test(test_aws_options_from_env),
        cmocka_unit_test(test_aws_sigv4_get_vanilla),
        cmocka_unit_test(test_aws_sigv4_get_vanilla_query_order_key_case),
        cmocka_unit_test(test_aws_sigv4_get_vanilla_query_unreserved_and_utf8),
        cmocka_unit_test(test_aws_sigv4_get_space_path),
        cmocka_unit_test(test_aws_sigv4_post_x_www_form_urlencoded),
        cmocka_unit_test(test_aws_sigv4_post_sts_token),
        cmocka_unit_test(test_aws_sigv4_streamed_put_is_unsigned_payload),
        cmocka_unit_test(test_aws_request_body_needs_content_type),
        cmocka_unit_test(test_aws_retries_throttling_then_succeeds),
        cmocka_unit_test(test_aws_throttling_gives_up_after_max_attempts),
        cmocka_unit_test(test_aws_client_for_region_signs_for_that_region),
        cmocka_unit_test(test_aws_not_found_is_not_retried_and_keeps_message),
        cmocka_unit_test(test_aws_fence_closing_before_the_send_sends_nothing),
        cmocka_unit_test(test_aws_deadline_stops_retries),
        cmocka_unit_test(test_aws_mutating_500_is_ambiguous_and_not_resent),
        cmocka_unit_test(test_aws_mutating_dropped_connection_is_ambiguous),
        cmocka_unit_test(test_aws_mutating_throttled_is_retried),
        cmocka_unit_test(test_aws_mutating_connection_refused_is_retried),
        cmocka_unit_test(test_aws_reads_are_retried_after_500_and_drops),
        cmocka_unit_test(test_aws_resend_safe_classification),
        cmocka_unit_test(test_aws_response_cap_is_enforced),
        cmocka_unit_test(test_aws_streamed_response_goes_to_callback),
        cmocka_unit_test(test_aws_client_shared_between_threads),
        cmocka_unit_test(test_aws_bucket_of_another_region_is_invalid_naming_its_region),
        cmocka_unit_test(test_aws_last_failure_tells_other_invalid_answers_apart),
    };
    return cmocka_run_group_tests_name("aws_request", tests, NULL, NULL);
}
