/* Unit tests for pkg/aws/credentials: each source of the chain against a
 * scripted server or a temporary file, caching and refresh-ahead, thread
 * safety, and that secrets never reach the debug log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "aws/credentials.h"
#include "aws/request.h"
#include "aws/sts.h"
#include "util/error.h"
#include "util/log.h"

#include "test_aws_httpd.h"

static const char *const chain_vars[] = {"AWS_ACCESS_KEY_ID",
                                         "AWS_SECRET_ACCESS_KEY",
                                         "AWS_SESSION_TOKEN",
                                         "AWS_ROLE_ARN",
                                         "AWS_WEB_IDENTITY_TOKEN_FILE",
                                         "AWS_ROLE_SESSION_NAME",
                                         "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                         "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                         "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                         "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                         "AWS_SHARED_CREDENTIALS_FILE",
                                         "AWS_PROFILE",
                                         "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                         "AWS_EC2_METADATA_DISABLED",
                                         "AWS_ENDPOINT_URL",
                                         "AWS_ENDPOINT_URL_STS",
                                         "AWS_REGION",
                                         "AWS_DEFAULT_REGION",
                                         "HOME",
                                         AWS_SESSION_DIR_ENV,
                                         NULL};

static int clean_env(void **state)
{
    (void)state;
    for (size_t i = 0; chain_vars[i] != NULL; i++)
        unsetenv(chain_vars[i]);
    setenv("HOME", "/nonexistent-lifeboat-home", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void iso_in(char *out, size_t size, long seconds)
{
    time_t t = time(NULL) + seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void test_credentials_environment_first(void **state)
{
    aws_credentials_provider *p;
    aws_credentials c;
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
    setenv("AWS_SESSION_TOKEN", "token-env", 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/ignored", 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent", 1);
    assert_int_equal(aws_credentials_provider_new(&p, NULL), 0);
    assert_int_equal(aws_credentials_get(&c, p), 0);
    assert_string_equal(c.source, "environment");
    assert_string_equal(c.access_key_id, "AKIDENV");
    assert_string_equal(c.secret_access_key, "secret-env");
    assert_string_equal(c.session_token, "token-env");
    assert_int_equal(c.expiration, 0);
    aws_credentials_dispose(&c);
    aws_credentials_provider_free(p);
}

static void test_credentials_shared_file_profile(void **state)
{
    char path[] = "/tmp/lb-aws-creds-XXXXXX";
    int fd = mkstemp(path);
    aws_credentials_provider *p;
    aws_credentials c;
    (void)state;
    close(fd);
    write_file(path, "# comment\n[default]\naws_access_key_id = AKIDDEF\n"
                     "aws_secret_access_key=secret-def\n\n[ prod ]\r\n"
                     "aws_access_key_id = AKIDPROD \naws_secret_access_key = secret-prod\n"
                     "aws_session_token = tok-prod\n[broken]\naws_access_key_id = X\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_PROFILE", "prod", 1);
    assert_int_equal(aws_credentials_provider_new(&p, NULL), 0);
    assert_int_equal(aws_credentials_get(&c, p), 0);
    assert_string_equal(c.source, "shared-file");
    assert_string_equal(c.access_key_id, "AKIDPROD");
    assert_string_equal(c.secret_access_key, "secret-prod");
    assert_string_equal(c.session_token, "tok-prod");
    aws_credentials_dispose(&c);
    aws_credentials_provider_free(p);

    assert_int_equal(aws_credentials_from_file(&c, path, "broken"), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "[broken] has no aws_secret_access_key"));
    assert_int_equal(aws_credentials_from_file(&c, path, "absent"), LB_ENOTFOUND);
    /* An explicitly chosen profile that is missing is an error, not a fall-through. */
    setenv("AWS_PROFILE", "absent", 1);
    assert_int_equal(aws_credentials_provider_new(&p, NULL), 0);
    assert_int_not_equal(aws_credentials_get(&c, p), 0);
    assert_non_null(strstr(lb_error_last(), "shared file"));
    assert_non_null(strstr(lb_error_last(), "no profile [absent]"));
    aws_credentials_provider_free(p);
    unlink(path);
}

static void test_credentials_none_found_names_sources(void **state)
{
    aws_credentials_provider *p;
    aws_credentials c;
    (void)state;
    assert_int_equal(aws_credentials_provider_new(&p, NULL), 0);
    assert_int_equal(aws_credentials_get(&c, p), LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "no AWS credentials found"));
    assert_non_null(strstr(lb_error_last(), "IMDS is disabled"));
    aws_credentials_provider_free(p);
}

/* The server keeps pointers to scripted bodies: one buffer per script slot. */
static char sts_bodies[HTTPD_MAX_SCRIPT][1024];

static void script_sts(httpd *s, long expires_in)
{
    char exp[64];
    char *sts_body = sts_bodies[s->nscript];
    iso_in(exp, sizeof(exp), expires_in);
    snprintf(sts_body, sizeof(sts_bodies[0]),
             "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
             "<SessionToken>sts-session-token</SessionToken>"
             "<SecretAccessKey>sts-secret-key</SecretAccessKey>"
             "<Expiration>%s</Expiration><AccessKeyId>ASIASTS</AccessKeyId></Credentials>"
             "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
             exp);
    httpd_script(s, 200, NULL, sts_body);
}

static void web_identity_env(const httpd *s, char *token_path)
{
    char url[64];
    int fd = mkstemp(token_path);
    close(fd);
    write_file(token_path, "eyJhbGciOiJSUzI1NiJ9.web-token\n");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
    setenv("AWS_ENDPOINT_URL_STS", url, 1);
    setenv("AWS_REGION", "eu-west-1", 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/lifeboat", 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", token_path, 1);
    setenv("AWS_ROLE_SESSION_NAME", "lifeboat-test", 1);
}

static void test_credentials_web_identity_and_cache(void **state)
{
    httpd s;
    char token_path[] = "/tmp/lb-aws-token-XXXXXX";
    aws_credentials_provider *p;
    aws_credentials c;
    (void)state;
    httpd_start(&s);
    web_identity_env(&s, token_path);
    script_sts(&s, 3600);
    assert_int_equal(aws_credentials_provider_new(&p, NULL), 0);
    assert_int_equal(aws_credentials_get(&c, p), 0);
    assert_string_equal(c.source, "web-identity");
    assert_string_equal(c.access_key_id, "ASIASTS");
    assert_string_equal(c.session_token, "sts-session-token");
    assert_true(c.expiration > (long long)time(NULL) + 3500);
    aws_credentials_dispose(&c);
    /* Cached: no second STS call. */
    assert_int_equal(aws_credentials_get(&c, p), 0);
    aws_credentials_dispose(&c);
    assert_int_equal(s.nrequests, 1);
    assert_non_null(
        strstr(httpd_req_body(&s, 0), "WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.web-token"));
    assert_non_null(strstr(httpd_req_body(&s, 0), "RoleSessionName=lifeboat-test"));
    aws_credentials_provider_free(p);
    httpd_stop(&s);
    unlink(token_path);
}

static void test_credentials_refresh_ahead_of_expiry(void **state)
{
    httpd s;
    char token_path[] = "/tmp/lb-aws-token-XXXXXX";
    aws_credentials_provider *p;
    aws_credentials c;
    (void)state;
    httpd_start(&s);
    web_identity_env(&s, token_path);
    script_sts(&s, 120); /* inside the 300 s refresh window */
    script_sts(&s, 3600);
    assert_int_equal(aws_credentials_provider_new(&p, NULL), 0);
    assert_int_equal(aws_credentials_get(&c, p), 0);
    assert_true(c.expiration < (long long)time(NULL) + 200);
    aws_credentials_dispose(&c);
    assert_int_equal(aws_credentials_get(&c, p), 0);
    assert_true(c.expiration > (long long)time(NULL) + 3500);
    aws_credentials_dispose(&c);
    assert_int_equal(s.nrequests, 2);
    aws_credentials_provider_free(p);
    httpd_stop(&s);
    unlink(token_path);
}

static void test_credentials_refresh_failure_keeps_valid_cache(void **state)
{
    httpd s;
    char token_path[] = "/tmp/lb-aws-token-XXXXXX";
    aws_credentials_provider *p;
    aws_credentials c;
    (void)state;
    httpd_start(&s);
    web_identity_env(&s, token_path);
    script_sts(&s, 120);
    httpd_script(&s, 403, NULL,
                 "<ErrorResponse><Error><Code>AccessDenied</Code><Message>Not authorized"
                 "</Message></Error></ErrorResponse>");
    assert_int_equal(aws_credentials_provider_new(&p, NULL), 0);
    assert_int_equal(aws_credentials_get(&c, p), 0);
    aws_credentials_dispose(&c);
    assert_int_equal(aws_credentials_get(&c, p), 0);
    assert_string_equal(c.access_key_id, "ASIASTS");
    aws_credentials_dispose(&c);
    assert_int_equal(s.nrequests, 2);
    /* The failed refresh is not retried on every call. */
    assert_int_equal(aws_credentials_get(&c, p), 0);
    aws_credentials_dispose(&c);
    assert_int_equal(s.nrequests, 2);
    aws_credentials_provider_free(p);
    httpd_stop(&s);
    unlink(token_path);
}

typedef struct racer {
    aws_credentials_provider *p;
    int rc;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    aws_credentials c;
    r->rc = aws_credentials_get(&c, r->p);
    aws_credentials_dispose(&c);
    return NULL;
}

static void test_credentials_threads_share_one_fetch(void **state)
{
    httpd s;
    char token_path[] = "/tmp/lb-aws-token-XXXXXX";
    pthread_t th[8];
    racer r[8];
    aws_credentials_provider *p;
    (void)state;
    httpd_start(&s);
    web_identity_env(&s, token_path);
    script_sts(&s, 3600);
    assert_int_equal(aws_credentials_provider_new(&p, NULL), 0);
    for (int i = 0; i < 8; i++) {
        r[i].p = p;
        r[i].rc = -99;
        pthread_create(&th[i], NULL, race, &r[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].rc, 0);
    }
    assert_int_equal(s.nrequests, 1);
    aws_credentials_provider_free(p);
    httpd_stop(&s);
    unlink(token_path);
}

static void test_credentials_pod_identity(void **state)
{
    httpd s;
    char token_path[] = "/tmp/lb-aws-pod-XXXXXX";
    char url[128], auth[128], line[128], body[512], exp[64];
    aws_credentials_provider *p;
    aws_credentials c;
    int fd;
    (void)state;
    httpd_start(&s);
    fd = mkstemp(token_path);
    close(fd);
    write_file(token_path, "pod-identity-jwt\n");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/credentials", s.port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_path, 1);
    iso_in(exp, sizeof(exp), 3600);
    snprintf(body, sizeof(body),
             "{\"AccessKeyId\":\"ASIAPOD\",\"SecretAccessKey\":\"pod-secret\","
             "\"Token\":\"pod-token\",\"AccountId\":\"123456789012\",\"Expiration\":\"%s\"}",
             exp);
    httpd_script(&s, 200, NULL, body);
    assert_int_equal(aws_credentials_provider_new(&p, NULL), 0);
    assert_int_equal(aws_credentials_get(&c, p), 0);
    assert_string_equal(c.source, "pod-identity");
    assert_string_equal(c.access_key_id, "ASIAPOD");
    assert_string_equal(c.session_token, "pod-token");
    httpd_req_header(&s, 0, "Authorization", auth, sizeof(auth));
    assert_string_equal(auth, "pod-identity-jwt");
    httpd_req_line(&s, 0, line, sizeof(line));
    assert_string_equal(line, "GET /v1/credentials HTTP/1.1");
    aws_credentials_dispose(&c);
    aws_credentials_provider_free(p);
    httpd_stop(&s);
    unlink(token_path);
}

static void test_credentials_imdsv2(void **state)
{
    httpd s;
    char url[64], hdr[128], line[160], body[512], exp[64];
    aws_credentials_provider *p;
    aws_credentials c;
    (void)state;
    httpd_start(&s);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
    iso_in(exp, sizeof(exp), 3600);
    snprintf(body, sizeof(body),
             "{\"Code\":\"Success\",\"LastUpdated\":\"2026-02-18T14:00:00Z\",\"Type\":"
             "\"AWS-HMAC\",\"AccessKeyId\":\"ASIAIMDS\",\"SecretAccessKey\":\"imds-secret\","
             "\"Token\":\"imds-token\",\"Expiration\":\"%s\"}",
             exp);
    httpd_script(&s, 200, NULL, "imds-session-token");
    httpd_script(&s, 200, NULL, "lifeboat-node-role\n");
    httpd_script(&s, 200, NULL, body);
    assert_int_equal(aws_credentials_provider_new(&p, NULL), 0);
    assert_int_equal(aws_credentials_get(&c, p), 0);
    assert_string_equal(c.source, "imds");
    assert_string_equal(c.access_key_id, "ASIAIMDS");
    assert_string_equal(c.secret_access_key, "imds-secret");
    httpd_req_line(&s, 0, line, sizeof(line));
    assert_string_equal(line, "PUT /latest/api/token HTTP/1.1");
    httpd_req_header(&s, 0, "X-aws-ec2-metadata-token-ttl-seconds", hdr, sizeof(hdr));
    assert_string_equal(hdr, "21600");
    httpd_req_line(&s, 1, line, sizeof(line));
    assert_string_equal(line, "GET /latest/meta-data/iam/security-credentials/ HTTP/1.1");
    httpd_req_header(&s, 1, "X-aws-ec2-metadata-token", hdr, sizeof(hdr));
    assert_string_equal(hdr, "imds-session-token");
    httpd_req_line(&s, 2, line, sizeof(line));
    assert_string_equal(line, "GET /latest/meta-data/iam/security-credentials/lifeboat-node-role "
                              "HTTP/1.1");
    aws_credentials_dispose(&c);
    aws_credentials_provider_free(p);
    httpd_stop(&s);
}

/* A signed call, retried once, with debug logging into a memstream: the
 * log shows the activity but neither the secret key nor the session token. */
static void test_credentials_secrets_never_logged(void **state)
{
    httpd s;
    char token_path[] = "/tmp/lb-aws-token-XXXXXX";
    aws_client *c;
    aws_client_options o;
    aws_credentials_provider *p;
    sts_identity id;
    char url[64];
    char *log = NULL;
    size_t loglen = 0;
    FILE *mem = open_memstream(&log, &loglen);
    (void)state;
    httpd_start(&s);
    web_identity_env(&s, token_path);
    script_sts(&s, 3600);
    httpd_script(&s, 503, NULL, "<Error><Code>SlowDown</Code><Message>slow</Message></Error>");
    httpd_script(&s, 200, NULL,
                 "<R><GetCallerIdentityResult><Account>1</Account></GetCallerIdentityResult></R>");
    lb_log_init(mem, LB_LOG_LEVEL_DEBUG, LB_LOG_FORMAT_JSON);
    assert_int_equal(aws_credentials_provider_new(&p, NULL), 0);
    aws_client_options_from_env(&o);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
    o.endpoint_url = url;
    o.credentials = p;
    o.backoff_base_ms = 1;
    o.backoff_cap_ms = 2;
    assert_int_equal(aws_client_new(&c, &o), 0);
    assert_int_equal(sts_get_caller_identity(&id, c), 0);
    sts_identity_dispose(&id);
    lb_log_init(stderr, LB_LOG_LEVEL_INFO, LB_LOG_FORMAT_JSON);
    fclose(mem);
    assert_non_null(strstr(log, "aws credentials resolved"));
    assert_non_null(strstr(log, "aws retry"));
    assert_non_null(strstr(log, "aws request"));
    assert_null(strstr(log, "sts-secret-key"));
    assert_null(strstr(log, "sts-session-token"));
    assert_null(strstr(log, "web-token"));
    /* The signed request really carried the session token. */
    {
        char tok[64];
        httpd_req_header(&s, 2, "X-Amz-Security-Token", tok, sizeof(tok));
        assert_string_equal(tok, "sts-session-token");
    }
    free(log);
    aws_client_free(c);
    aws_credentials_provider_free(p);
    httpd_stop(&s);
    unlink(token_path);
}

/* A Secret volume as the kubelet lays it out: the files in folder `ver`, the
 * link ..data to it, each key a link through ..data; a later call swaps
 * ..data atomically (rename of a fresh link), as the kubelet does on an update. */
static void write_session(const char *dir, const char *ver, const char *akid, const char *exp)
{
    static const char *const keys[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"};
    char path[512], target[512];
    snprintf(path, sizeof(path), "%s/%s", dir, ver);
    assert_int_equal(mkdir(path, 0755), 0);
    const char *vals[] = {akid, "secret-of-", "token-of-", exp};
    for (size_t i = 0; i < 4; i++) {
        char text[128];
        snprintf(path, sizeof(path), "%s/%s/%s", dir, ver, keys[i]);
        snprintf(text, sizeof(text), "%s%s", vals[i], i == 1 || i == 2 ? akid : "");
        write_file(path, text);
        snprintf(path, sizeof(path), "%s/%s", dir, keys[i]);
        snprintf(target, sizeof(target), "..data/%s", keys[i]);
        (void)symlink(target, path); /* exists after the first call */
    }
    snprintf(path, sizeof(path), "%s/..data_tmp", dir);
    assert_int_equal(symlink(ver, path), 0);
    snprintf(target, sizeof(target), "%s/..data", dir);
    assert_int_equal(rename(path, target), 0);
}

static void test_credentials_session_dir_first_and_reread_when_swapped(void **state)
{
    char dir[] = "/tmp/lb-aws-session-XXXXXX", exp[32];
    aws_credentials_provider *p;
    aws_credentials c;
    (void)state;
    assert_non_null(mkdtemp(dir));
    iso_in(exp, sizeof(exp), 3600);
    write_session(dir, "..v1", "ASIAONE", exp);
    setenv(AWS_SESSION_DIR_ENV, dir, 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1); /* the folder wins over env */
    setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
    assert_int_equal(aws_credentials_provider_new(&p, NULL), 0);
    assert_int_equal(aws_credentials_get(&c, p), 0);
    assert_string_equal(c.source, "session-dir");
    assert_string_equal(c.access_key_id, "ASIAONE");
    assert_string_equal(c.secret_access_key, "secret-of-ASIAONE");
    assert_string_equal(c.session_token, "token-of-ASIAONE");
    assert_true(c.expiration > (long long)time(NULL) + 3500);
    aws_credentials_dispose(&c);

    /* the kubelet swaps in a renewed session long before the old one's expiry:
     * the very next get signs with it */
    iso_in(exp, sizeof(exp), 7200);
    write_session(dir, "..v2", "ASIATWO", exp);
    assert_int_equal(aws_credentials_get(&c, p), 0);
    assert_string_equal(c.access_key_id, "ASIATWO");
    assert_string_equal(c.secret_access_key, "secret-of-ASIATWO");
    aws_credentials_dispose(&c);
    /* unchanged: the cache answers (the files are not read again) */
    char path[512];
    snprintf(path, sizeof(path), "%s/..v2/AWS_ACCESS_KEY_ID", dir);
    write_file(path, "ASIAEDITEDINPLACE");
    assert_int_equal(aws_credentials_get(&c, p), 0);
    assert_string_equal(c.access_key_id, "ASIATWO");
    aws_credentials_dispose(&c);
    aws_credentials_provider_free(p);

    /* an unreadable expiry is an error naming the file's key */
    snprintf(path, sizeof(path), "%s/..v2/AWS_CREDENTIAL_EXPIRATION", dir);
    write_file(path, "tomorrow");
    assert_int_equal(aws_credentials_provider_new(&p, NULL), 0);
    assert_int_not_equal(aws_credentials_get(&c, p), 0);
    assert_non_null(strstr(lb_error_last(), "AWS_CREDENTIAL_EXPIRATION"));
    assert_null(strstr(lb_error_last(), "secret-of"));
    aws_credentials_provider_free(p);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, clean_env, NULL)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_credentials_environment_first),
        T(test_credentials_shared_file_profile),
        T(test_credentials_none_found_names_sources),
        T(test_credentials_web_identity_and_cache),
        T(test_credentials_refresh_ahead_of_expiry),
        T(test_credentials_refresh_failure_keeps_valid_cache),
        T(test_credentials_threads_share_one_fetch),
        T(test_credentials_pod_identity),
        T(test_credentials_imdsv2),
        T(test_credentials_secrets_never_logged),
        T(test_credentials_session_dir_first_and_reread_when_swapped),
    };
    return cmocka_run_group_tests_name("aws_credentials", tests, NULL, NULL);
}
