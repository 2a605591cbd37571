/* Unit tests for restore/steps_verify.c: the pure decisions (service map,
 * HTTP expectations, workload readiness) and the verification step's HTTP
 * check against a local server reached through LIFEBOAT_SERVICE_MAP. SQL
 * checks against real PostgreSQL are exercised by the e2e scenario suite. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/restore.h"
#include "controller/restore/step.h"
#include "util/error.h"
#include "util/netguard.h"

/* Exposed by steps_verify.c for these tests (not part of step.h). */
int verify_service_connect_to(char *out, size_t size, const char *map_json, const char *host,
                              int port, int default_port);
bool verify_http_eval(char *msg, size_t size, const char *name, long status, long expect_status,
                      const char *body, const char *contains);
bool verify_workload_ready(char *msg, size_t size, const char *kind, const json_t *obj);

static const char *map =
    "{\"api-gateway.shop.svc\": \"127.0.0.1:31001\", \"api-gateway.shop.svc:80\": "
    "\"127.0.0.1:31001\", \"api-gateway.shop.svc:9090\": \"127.0.0.1:31002\"}";

static void test_service_map_port_less_key(void **state)
{
    char out[256];
    (void)state;
    assert_int_equal(
        verify_service_connect_to(out, sizeof(out), map, "api-gateway.shop.svc", 0, 80), 0);
    assert_string_equal(out, "api-gateway.shop.svc:80:127.0.0.1:31001");
}

static void test_service_map_explicit_port(void **state)
{
    char out[256];
    (void)state;
    assert_int_equal(
        verify_service_connect_to(out, sizeof(out), map, "api-gateway.shop.svc", 9090, 80), 0);
    assert_string_equal(out, "api-gateway.shop.svc:9090:127.0.0.1:31002");
}

static void test_service_map_unknown_service(void **state)
{
    char out[256];
    (void)state;
    assert_int_equal(verify_service_connect_to(out, sizeof(out), map, "orders.shop.svc", 0, 80),
                     LB_ENOTFOUND);
    assert_non_null(strstr(lb_error_last(), "orders.shop.svc"));
    /* an unmapped explicit port does not fall back to the first port */
    assert_int_equal(
        verify_service_connect_to(out, sizeof(out), map, "api-gateway.shop.svc", 8443, 80),
        LB_ENOTFOUND);
    assert_int_equal(verify_service_connect_to(out, sizeof(out), "[1]", "x.svc", 0, 80),
                     LB_EINVALID);
}

static void test_http_eval(void **state)
{
    char msg[256];
    (void)state;
    assert_true(verify_http_eval(msg, sizeof(msg), "health", 200, 200, "ok", NULL));
    assert_string_equal(msg, "health: HTTP 200");
    assert_false(verify_http_eval(msg, sizeof(msg), "health", 503, 200, "", NULL));
    assert_string_equal(msg, "health: HTTP status 503, expected 200");
    assert_true(verify_http_eval(msg, sizeof(msg), "db", 200, 200, "{\"db\":\"ok\"}", "\"ok\""));
    assert_false(verify_http_eval(msg, sizeof(msg), "db", 200, 200, "{\"db\":\"down\"}", "\"ok\""));
    assert_non_null(strstr(msg, "does not contain"));
    assert_true(verify_http_eval(msg, sizeof(msg), "gone", 404, 404, "", NULL));
}

static void test_workload_ready(void **state)
{
    char msg[256];
    json_t *d;
    (void)state;

    d = json_loads(
        "{\"metadata\": {\"name\": \"api\", \"generation\": 3}, \"spec\": {\"replicas\": "
        "2}, \"status\": {\"observedGeneration\": 3, \"readyReplicas\": 2, "
        "\"updatedReplicas\": 2}}",
        0, NULL);
    assert_true(verify_workload_ready(msg, sizeof(msg), "Deployment", d));
    assert_string_equal(msg, "Deployment/api: 2 of 2 ready");
    json_object_set_new(json_object_get(d, "status"), "readyReplicas", json_integer(1));
    assert_false(verify_workload_ready(msg, sizeof(msg), "Deployment", d));
    assert_string_equal(msg, "Deployment/api: 1 of 2 ready, 2 updated");
    json_object_set_new(json_object_get(d, "status"), "readyReplicas", json_integer(2));
    json_object_set_new(json_object_get(d, "metadata"), "generation", json_integer(4));
    assert_false(verify_workload_ready(msg, sizeof(msg), "Deployment", d));
    assert_non_null(strstr(msg, "generation 4 not yet observed"));
    json_decref(d);

    d = json_loads("{\"metadata\": {\"name\": \"agent\", \"generation\": 1}, \"status\": "
                   "{\"observedGeneration\": 1, \"desiredNumberScheduled\": 3, \"numberReady\": 2, "
                   "\"updatedNumberScheduled\": 3}}",
                   0, NULL);
    assert_false(verify_workload_ready(msg, sizeof(msg), "DaemonSet", d));
    assert_string_equal(msg, "DaemonSet/agent: 2 of 3 ready, 3 updated");
    json_decref(d);
}

/* ---- the verification step with an HTTP check -------------------------------------- */

typedef struct mini_httpd {
    int fd, port;
    pthread_t thread;
    int status;
    const char *body;
    char last_request[2048];
} mini_httpd;

static void *mini_main(void *arg)
{
    mini_httpd *s = arg;
    for (;;) {
        char head[256];
        ssize_t n;
        int cfd = accept(s->fd, NULL, NULL);
        if (cfd < 0)
            break;
        n = recv(cfd, s->last_request, sizeof(s->last_request) - 1, 0);
        if (n <= 0) { /* the stop connection */
            close(cfd);
            break;
        }
        s->last_request[n] = '\0';
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", s->status,
                 strlen(s->body));
        send(cfd, head, strlen(head), MSG_NOSIGNAL);
        send(cfd, s->body, strlen(s->body), MSG_NOSIGNAL);
        close(cfd);
    }
    return NULL;
}

static void mini_start(mini_httpd *s)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s->fd, (struct sockaddr *)&a, sizeof(a));
    listen(s->fd, 8);
    getsockname(s->fd, (struct sockaddr *)&a, &alen);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, mini_main, s);
}

static void mini_stop(mini_httpd *s)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)s->port);
    connect(fd, (struct sockaddr *)&a, sizeof(a));
    close(fd);
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* Runs verify_step_verification on a spec whose verification is `ver`. */
static int run_verification(step_result *res, const char *ver)
{
    char text[2048];
    api_restore_spec *spec = NULL;
    json_t *j, *rr = json_pack("{s:{s:s,s:s,s:s}}", "metadata", "name", "r", "namespace", "shop",
                               "uid", "u-1");
    json_t *status = json_object();
    plan_step step = {
        .name = (char *)"verification", .item = (char *)"", .action = (char *)"verification"};
    step_ctx ctx;
    int rc;

    snprintf(text, sizeof(text),
             "{\"items\": [{\"name\": \"s\", \"s3Objects\": {\"bucket\": \"shop-media\", "
             "\"prefix\": \"p/\", \"mode\": \"undelete\"}}], \"verification\": %s}",
             ver);
    j = json_loads(text, 0, NULL);
    assert_non_null(j);
    if (api_restore_parse(&spec, NULL, j, lb_time_now()) != 0)
        fail_msg("parse: %s", lb_error_last());
    memset(&ctx, 0, sizeof(ctx));
    ctx.rr = rr;
    ctx.status = status;
    ctx.spec = spec;
    ctx.step = &step;
    ctx.now = lb_time_now();
    memset(res, 0, sizeof(*res));
    /* a request's verification runs in a VerificationRun (steps_verifyrun.c, e2e/verify),
     * which calls verify_check_result once per check: do the same here */
    {
        const json_t *v = json_object_get(spec->json, "verification");
        size_t off = 0, failed = 0, n = json_array_size(json_object_get(v, "checks"));
        rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            json_t *r = NULL;
            rc = verify_check_result(&r, &ctx, v, i);
            if (rc != 0)
                break;
            int ok = json_is_true(json_object_get(r, "passed"));
            failed += !ok;
            off += (size_t)snprintf(res->message + off, sizeof(res->message) - off, "%s%s%s",
                                    off ? "; " : "", ok ? "" : "FAILED ",
                                    json_string_value(json_object_get(r, "message")));
            if (off >= sizeof(res->message))
                off = sizeof(res->message) - 1;
            json_decref(r);
        }
        res->verdict = failed ? STEP_FAILED : STEP_DONE;
        if (failed)
            snprintf(res->reason, sizeof(res->reason), "CheckFailed");
    }
    api_restore_free(spec);
    json_decref(j);
    json_decref(rr);
    json_decref(status);
    return rc;
}

static void test_verification_http_through_service_map(void **state)
{
    mini_httpd s = {.status = 200, .body = "{\"status\":\"ok\",\"db\":\"ok\"}"};
    char path[] = "/tmp/lb-test-services-XXXXXX";
    char ver[1024], line[256];
    step_result res;
    int fd;
    (void)state;

    mini_start(&s);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    snprintf(line, sizeof(line), "{\"gw.shop.svc\": \"127.0.0.1:%d\"}", s.port);
    assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    close(fd);
    setenv("LIFEBOAT_SERVICE_MAP", path, 1);
    {
        netguard_options o = {.allow_loopback = true};
        assert_int_equal(netguard_configure(&o), 0);
    }

    snprintf(
        ver, sizeof(ver),
        "{\"checks\": [{\"name\": \"gateway-health\", \"http\": {\"url\": "
        "\"http://gw.shop.svc/health\", \"expectBodyContains\": \"\\\"db\\\":\\\"ok\\\"\"}}]}");
    assert_int_equal(run_verification(&res, ver), 0);
    assert_int_equal(res.verdict, STEP_DONE);
    assert_non_null(strstr(res.message, "gateway-health: HTTP 200"));
    assert_true(strncmp(s.last_request, "GET /health HTTP/1.1", 20) == 0);
    assert_non_null(strstr(s.last_request, "Host: gw.shop.svc"));

    s.status = 503;
    assert_int_equal(run_verification(&res, ver), 0);
    assert_int_equal(res.verdict, STEP_FAILED);
    assert_string_equal(res.reason, "CheckFailed");
    assert_non_null(strstr(res.message, "HTTP status 503, expected 200"));

    /* a service missing from the map fails by name, without a DNS lookup */
    assert_int_equal(run_verification(&res, "{\"checks\": [{\"name\": \"orders\", \"http\": "
                                            "{\"url\": \"http://orders.shop.svc/\"}}]}"),
                     0);
    assert_int_equal(res.verdict, STEP_FAILED);
    assert_non_null(strstr(res.message, "orders.shop.svc"));

    /* without --http-check-allow-loopback the mapped 127.0.0.1 address is
     * refused at the socket: the server sees no request */
    {
        netguard_options o = {.allow_loopback = false};
        assert_int_equal(netguard_configure(&o), 0);
    }
    s.last_request[0] = '\0';
    s.status = 200;
    assert_int_equal(run_verification(&res, ver), 0);
    assert_int_equal(res.verdict, STEP_FAILED);
    assert_non_null(strstr(res.message, "loopback"));
    assert_non_null(strstr(res.message, "no connection was made"));
    assert_string_equal(s.last_request, "");
    netguard_reset();

    unsetenv("LIFEBOAT_SERVICE_MAP");
    unlink(path);
    mini_stop(&s);
}

static void test_verification_unsupported_kind_fails_by_name(void **state)
{
    step_result res;
    (void)state;
    assert_int_equal(run_verification(&res,
                                      "{\"checks\": [{\"name\": \"media\", \"s3Compare\": "
                                      "{\"bucketA\": \"media\", \"bucketB\": \"media-r\"}}]}"),
                     0);
    assert_int_equal(res.verdict, STEP_FAILED);
    assert_string_equal(res.reason, "CheckFailed");
    assert_non_null(strstr(res.message, "media"));
    /* a redis check runs through exec: without a cluster it fails by name, never passes */
    assert_int_equal(run_verification(&res, "{\"checks\": [{\"name\": \"redis-up\", \"redis\": "
                                            "{\"pod\": \"redis-0\", \"ping\": true}}]}"),
                     0);
    assert_int_equal(res.verdict, STEP_FAILED);
    assert_string_equal(res.reason, "CheckFailed");
    assert_non_null(strstr(res.message, "redis-up"));
}

static void test_verify_item_without_endpoint(void **state)
{
    api_restore_spec *spec = NULL;
    json_t *j = json_loads(
        "{\"items\": [{\"name\": \"orders-db\", \"rdsPointInTime\": "
        "{\"sourceDBInstanceIdentifier\": \"shop\", \"useLatestRestorableTime\": true}, "
        "\"credentialsSecretRef\": {\"name\": \"db-admin\"}, \"database\": \"shop_orders\", "
        "\"verify\": {\"checks\": [{\"name\": \"orders-present\", \"sql\": {\"query\": "
        "\"SELECT COUNT(*) FROM orders\", \"expect\": {\"min\": 1}}}]}}]}",
        0, NULL);
    json_t *status = json_object();
    plan_step step = {.name = (char *)"orders-db/verify"};
    step_ctx ctx;
    step_result res;
    (void)state;

    if (api_restore_parse(&spec, NULL, j, lb_time_now()) != 0)
        fail_msg("parse: %s", lb_error_last());
    memset(&ctx, 0, sizeof(ctx));
    memset(&res, 0, sizeof(res));
    ctx.status = status;
    ctx.spec = spec;
    ctx.item = &spec->items[0];
    ctx.step = &step;
    assert_int_equal(verify_step_item(&res, &ctx), 0);
    assert_int_equal(res.verdict, STEP_FAILED);
    assert_string_equal(res.reason, "NoEndpoint");
    assert_non_null(strstr(res.message, "orders-db"));
    api_restore_free(spec);
    json_decref(j);
    json_decref(status);
}

/* verify_check_result: one check's status.results[] entry (VerificationRun). */
static void test_check_result_entry(void **state)
{
    mini_httpd s = {.status = 200, .body = "{\"status\":\"ok\"}"};
    char path[] = "/tmp/lb-test-services-XXXXXX";
    char line[256], text[1024];
    json_t *rr =
        json_pack("{s:{s:s,s:s,s:s}}", "metadata", "name", "v", "namespace", "shop", "uid", "u-2");
    json_t *status = json_object(), *ver, *res = NULL;
    api_restore_spec empty;
    step_ctx ctx;
    int fd;
    (void)state;

    mini_start(&s);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    snprintf(line, sizeof(line), "{\"gw.shop.svc\": \"127.0.0.1:%d\"}", s.port);
    assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    close(fd);
    setenv("LIFEBOAT_SERVICE_MAP", path, 1);
    {
        netguard_options o = {.allow_loopback = true}; /* the test server is on 127.0.0.1 */
        assert_int_equal(netguard_configure(&o), 0);
    }
    snprintf(text, sizeof(text),
             "{\"checks\": [{\"name\": \"up\", \"http\": {\"url\": "
             "\"http://gw.shop.svc/health\", \"expectStatus\": 200, "
             "\"expectBodyContains\": \"ok\"}}, {\"name\": \"media\", \"s3Compare\": "
             "{\"bucketA\": \"a-bucket\", \"bucketB\": \"b-bucket\"}}, "
             "{\"name\": \"j-ok\", \"http\": {\"url\": \"http://gw.shop.svc/\", "
             "\"expectJSON\": {\"field\": \"status\", \"equals\": \"ok\"}}}, "
             "{\"name\": \"j-bad\", \"http\": {\"url\": \"http://gw.shop.svc/\", "
             "\"expectJSON\": {\"field\": \"db.state\", \"equals\": 1}}}]}");
    ver = json_loads(text, 0, NULL);
    assert_non_null(ver);
    memset(&empty, 0, sizeof(empty));
    memset(&ctx, 0, sizeof(ctx));
    ctx.rr = rr;
    ctx.status = status;
    ctx.spec = &empty;
    ctx.now = lb_time_now();

    assert_int_equal(verify_check_result(&res, &ctx, ver, 0), 0);
    assert_string_equal(json_string_value(json_object_get(res, "name")), "up");
    assert_true(json_is_true(json_object_get(res, "passed")));
    assert_string_equal(json_string_value(json_object_get(res, "observed")), "HTTP 200");
    assert_non_null(strstr(json_string_value(json_object_get(res, "expected")), "ok"));
    assert_true(json_is_integer(json_object_get(res, "durationMs")));
    json_decref(res);

    s.status = 500;
    assert_int_equal(verify_check_result(&res, &ctx, ver, 0), 0);
    assert_true(json_is_false(json_object_get(res, "passed")));
    assert_string_equal(json_string_value(json_object_get(res, "observed")), "HTTP 500");
    assert_non_null(strstr(json_string_value(json_object_get(res, "message")), "500"));
    json_decref(res);

    /* s3Compare without AWS access: a failed result naming why, not a pass */
    assert_int_equal(verify_check_result(&res, &ctx, ver, 1), 0);
    assert_true(json_is_false(json_object_get(res, "passed")));
    assert_non_null(strstr(json_string_value(json_object_get(res, "message")), "AWS"));
    json_decref(res);

    /* expectJSON: a field of the JSON body */
    s.status = 200;
    s.body = "{\"status\":\"ok\",\"db\":{\"state\":2}}";
    assert_int_equal(verify_check_result(&res, &ctx, ver, 2), 0);
    assert_true(json_is_true(json_object_get(res, "passed")));
    assert_string_equal(json_string_value(json_object_get(res, "observed")), "ok");
    json_decref(res);
    assert_int_equal(verify_check_result(&res, &ctx, ver, 3), 0);
    assert_true(json_is_false(json_object_get(res, "passed")));
    assert_string_equal(json_string_value(json_object_get(res, "observed")), "2");
    assert_string_equal(json_string_value(json_object_get(res, "expected")), "db.state = 1");
    json_decref(res);

    assert_int_equal(verify_check_result(&res, &ctx, ver, 4), LB_EINVALID);
    assert_null(res);

    unsetenv("LIFEBOAT_SERVICE_MAP");
    unlink(path);
    mini_stop(&s);
    json_decref(ver);
    json_decref(rr);
    json_decref(status);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_map_port_less_key),
        cmocka_unit_test(test_service_map_explicit_port),
        cmocka_unit_test(test_service_map_unknown_service),
        cmocka_unit_test(test_http_eval),
        cmocka_unit_test(test_workload_ready),
        cmocka_unit_test(test_verification_http_through_service_map),
        cmocka_unit_test(test_verification_unsupported_kind_fails_by_name),
        cmocka_unit_test(test_verify_item_without_endpoint),
        cmocka_unit_test(test_check_result_entry),
    };
    return cmocka_run_group_tests_name("steps_verify", tests, NULL, NULL);
}
