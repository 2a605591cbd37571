/* Unit tests for pkg/kube/client and the watch stream: Status mapping, paths,
 * retries, caps and watches against a scripted HTTP server on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "kube/client.h"
#include "kube/watch.h"
#include "util/alloc.h"
#include "util/error.h"

#include "test_kube_fake_server.h"

static const kube_ref CM = {"", "v1", "configmaps", "shop", "orders", NULL};

/* ---- Status mapping and paths -------------------------------------------------------- */

static void test_status_body_maps_to_code_and_message(void **state)
{
    static const struct {
        long http;
        const char *body;
        int code;
        const char *text;
    } cases[] = {
        {404,
         "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"NotFound\",\"code\":404,"
         "\"message\":\"configmaps \\\"x\\\" not found\"}",
         LB_ENOTFOUND, "404 NotFound: configmaps \"x\" not found"},
        {409, "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\",\"message\":\"already exists\"}",
         LB_ECONFLICT, "409 AlreadyExists: already exists"},
        {409,
         "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"message\":\"the object has been "
         "modified\"}",
         LB_ECONFLICT, "Conflict: the object has been modified"},
        {410, "{\"kind\":\"Status\",\"reason\":\"Expired\",\"message\":\"too old\"}", LB_EGONE,
         "410 Expired: too old"},
        {422,
         "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"message\":\"bad\",\"details\":"
         "{\"causes\":[{\"field\":\"spec.x\",\"message\":\"Required value\"}]}}",
         LB_EINVALID, "422 Invalid: bad [spec.x: Required value]"},
        {400,
         "{\"kind\":\"Status\",\"reason\":\"BadRequest\",\"message\":\"strict decoding "
         "error\"}",
         LB_EINVALID, "BadRequest: strict decoding error"},
        {429, "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"message\":\"slow down\"}",
         LB_ETHROTTLED, "slow down"},
        {504, "{\"kind\":\"Status\",\"reason\":\"Timeout\",\"message\":\"t\"}", LB_ETIMEOUT, "504"},
        {500, "<html>oops\n</html>", LB_ERROR, "500: <html>oops </html>"},
        {403, "", LB_ERROR, "403"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = kube_status_error(cases[i].http, cases[i].body, strlen(cases[i].body), "GET x");
        assert_int_equal(rc, cases[i].code);
        if (strstr(lb_error_last(), cases[i].text) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, lb_error_last(), cases[i].text);
        assert_true(strncmp(lb_error_last(), "GET x: ", 7) == 0);
    }
    assert_int_equal(kube_status_error(201, "{}", 2, "x"), 0);
}

static void test_status_error_json_from_watch_event(void **state)
{
    json_t *st = json_pack("{s:s, s:i, s:s, s:s}", "kind", "Status", "code", 410, "reason",
                           "Expired", "message", "too old resource version: 5 (10)");
    (void)state;
    assert_int_equal(kube_status_error_json(st, "WATCH x"), LB_EGONE);
    assert_non_null(strstr(lb_error_last(), "too old resource version: 5 (10)"));
    json_decref(st);
}

static void test_ref_path_shapes_and_escaping(void **state)
{
    kube_ref core = {NULL, "v1", "pods", "shop", "web-0", "log"};
    kube_ref grp = {"lifeboat.dev", "v1alpha1", "restorerequests", NULL, NULL, NULL};
    kube_ref odd = {"", "v1", "configmaps", "a b", "x%y", NULL};
    kube_ref bad = {"", "v1", "configmaps", "ns", "../etc", NULL};
    kube_ref slash = {"", "v1", "configmaps", "ns", "a/b", NULL};
    char *p = NULL;
    (void)state;
    assert_int_equal(kube_ref_path(&p, &core), 0);
    assert_string_equal(p, "/api/v1/namespaces/shop/pods/web-0/log");
    free(p);
    assert_int_equal(kube_ref_path(&p, &grp), 0);
    assert_string_equal(p, "/apis/lifeboat.dev/v1alpha1/restorerequests");
    free(p);
    assert_int_equal(kube_ref_path(&p, &odd), 0);
    assert_string_equal(p, "/api/v1/namespaces/a%20b/configmaps/x%25y");
    free(p);
    assert_int_equal(kube_ref_path(&p, &bad), LB_EINVALID);
    assert_int_equal(kube_ref_path(&p, &slash), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "kube_ref.name"));
    assert_null(p);
}

/* ---- requests against the scripted server ------------------------------------------ */

static void test_client_get_retries_429_honouring_retry_after(void **state)
{
    char *r1 = resp("429 Too Many Requests", "Retry-After: 1\r\n",
                    "{\"kind\":\"Status\",\"code\":429,\"reason\":\"TooManyRequests\"}");
    char *r2 = resp("200 OK", "", "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"orders\"}}");
    scripted sc[] = {{.raw = r1}, {.raw = r2}};
    env e;
    json_t *obj = NULL;
    double t0;
    (void)state;
    env_start(&e, sc, 2);
    t0 = now_s();
    assert_int_equal(kube_get(&obj, e.c, &CM), 0);
    assert_true(now_s() - t0 >= 0.9); /* waited what Retry-After said */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")), "orders");
    assert_int_equal(atomic_load(&e.srv.n_requests), 2);
    assert_non_null(
        strstr(e.srv.requests[0], "GET /api/v1/namespaces/shop/configmaps/orders HTTP/1.1"));
    assert_non_null(strstr(e.srv.requests[1], "Authorization: Bearer tok-abc\r\n"));
    assert_int_equal(e.metric_calls, 2);
    assert_int_equal(e.last_status, 200);
    json_decref(obj);
    env_stop(&e);
    free(r1);
    free(r2);
}

/* The leader fence of a write is checked before the attempt and again by
 * libcurl just before the request is written: closing in between sends nothing. */
static int kfence_calls;
static int kfence_opens_once(void *payload, const char *method, const char *what)
{
    (void)payload, (void)method, (void)what;
    if (kfence_calls++ == 0)
        return 0;
    return lb_error_setc(LB_EFENCED, "this replica no longer holds the leader Lease");
}

static void test_client_write_fenced_just_before_sending_is_not_sent(void **state)
{
    char *r1 = resp("201 Created", "", "{}");
    scripted sc[] = {{.raw = r1}};
    env e;
    json_t *body = json_pack("{s:s}", "kind", "ConfigMap");
    json_t *out = NULL;
    kube_ref coll = CM;
    (void)state;
    coll.name = NULL;
    env_start(&e, sc, 1);
    kfence_calls = 0;
    kube_client_set_fence(e.c, kfence_opens_once, NULL);
    assert_int_equal(kube_create(&out, e.c, &coll, body), LB_EFENCED);
    assert_int_equal(kfence_calls, 2);
    assert_non_null(strstr(lb_error_last(), "not sent"));
    assert_null(out);
    sleep_ms(100);
    /* the connection may have been opened; no request line was written on it */
    assert_true(atomic_load(&e.srv.n_requests) == 0 || e.srv.requests[0] == NULL ||
                strstr(e.srv.requests[0], "POST") == NULL);
    json_decref(body);
    env_stop(&e);
    free(r1);
}

static void test_client_post_is_not_retried_on_500(void **state)
{
    char *r1 = resp("500 Internal Server Error", "",
                    "{\"kind\":\"Status\",\"code\":500,\"message\":\"etcd down\"}");
    char *r2 = resp("201 Created", "", "{}");
    scripted sc[] = {{.raw = r1}, {.raw = r2}};
    env e;
    json_t *body = json_pack("{s:s}", "kind", "ConfigMap");
    json_t *out = NULL;
    kube_ref coll = CM;
    (void)state;
    coll.name = NULL;
    env_start(&e, sc, 2);
    assert_int_equal(kube_create(&out, e.c, &coll, body), LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "CREATE /api/v1/namespaces/shop/configmaps: 500"));
    assert_non_null(strstr(lb_error_last(), "etcd down"));
    assert_null(out);
    assert_int_equal(atomic_load(&e.srv.n_requests), 1);
    assert_non_null(strstr(e.srv.requests[0], "Content-Type: application/json\r\n"));
    assert_non_null(strstr(e.srv.requests[0], "{\"kind\":\"ConfigMap\"}"));
    json_decref(body);
    env_stop(&e);
    free(r1);
    free(r2);
}

static void test_client_response_over_object_cap_is_refused(void **state)
{
    char *head = lb_sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: "
                            "close\r\nContent-Length: %u\r\n\r\n",
                            KUBE_MAX_OBJECT_BYTES + 1);
    scripted sc[] = {{.raw = head, .big_body = KUBE_MAX_OBJECT_BYTES + 1}};
    env e;
    json_t *obj = NULL;
    (void)state;
    env_start(&e, sc, 1);
    assert_int_equal(kube_get(&obj, e.c, &CM), LB_ETOOBIG);
    assert_non_null(strstr(lb_error_last(), "response larger than"));
    assert_null(obj);
    env_stop(&e);
    free(head);
}

static void test_client_list_patch_delete_requests(void **state)
{
    char *ok = resp("200 OK", "", "{\"kind\":\"ConfigMapList\",\"metadata\":{\"continue\":\"n\"}}");
    scripted sc[] = {{.raw = ok}, {.raw = ok}, {.raw = ok}, {.raw = ok}};
    kube_list_options lo = {"app=web,tier!=db", "metadata.name=orders", 1, "abc==", NULL, NULL};
    kube_patch_options po = {"lifeboat", 1};
    kube_ref coll = CM;
    env e;
    json_t *out = NULL;
    const char *merge = "{\"data\":{\"k\":\"v\"}}";
    (void)state;
    coll.name = NULL;
    env_start(&e, sc, 4);
    assert_int_equal(kube_list(&out, e.c, &coll, &lo), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(out, "metadata"), "continue")), "n");
    json_decref(out);
    assert_int_equal(kube_patch(NULL, e.c, &CM, KUBE_PATCH_MERGE, merge, strlen(merge), NULL), 0);
    assert_int_equal(kube_patch(NULL, e.c, &CM, KUBE_PATCH_APPLY, "data: {k: v}\n", 13, &po), 0);
    assert_int_equal(kube_delete(NULL, e.c, &CM, "Foreground"), 0);
    assert_non_null(
        strstr(e.srv.requests[0],
               "GET /api/v1/namespaces/shop/configmaps?labelSelector=app%3Dweb%2Ctier%21%3Ddb"
               "&fieldSelector=metadata.name%3Dorders&limit=1&continue=abc%3D%3D HTTP/1.1"));
    assert_non_null(
        strstr(e.srv.requests[1], "PATCH /api/v1/namespaces/shop/configmaps/orders HTTP"));
    assert_non_null(strstr(e.srv.requests[1], "Content-Type: application/merge-patch+json\r\n"));
    assert_non_null(strstr(e.srv.requests[2], "?fieldManager=lifeboat&force=true HTTP"));
    assert_non_null(strstr(e.srv.requests[2], "Content-Type: application/apply-patch+yaml\r\n"));
    assert_non_null(strstr(e.srv.requests[2], "data: {k: v}\n"));
    assert_non_null(
        strstr(e.srv.requests[3], "DELETE /api/v1/namespaces/shop/configmaps/orders HTTP"));
    assert_non_null(strstr(e.srv.requests[3], "\"propagationPolicy\":\"Foreground\""));
    /* refused before any request */
    assert_int_equal(kube_patch(NULL, e.c, &CM, KUBE_PATCH_APPLY, "a: b", 4, NULL), LB_EINVALID);
    assert_int_equal(kube_delete(NULL, e.c, &CM, "Sometimes"), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "propagationPolicy"));
    env_stop(&e);
    free(ok);
}

static void test_client_401_fetches_credentials_again(void **state)
{
    char *r1 = resp("401 Unauthorized", "", "{\"kind\":\"Status\",\"code\":401}");
    char *r2 = resp("200 OK", "", "{}");
    scripted sc[] = {{.raw = r1}, {.raw = r2}};
    env e;
    (void)state;
    env_start(&e, sc, 2);
    {
        /* the token rotates between the two requests */
        char *tok = lb_sprintf("%s/token", e.dir);
        FILE *f = fopen(tok, "w");
        fputs("tok-rotated-xyz\n", f);
        fclose(f);
        free(tok);
    }
    assert_int_equal(kube_get(NULL, e.c, &CM), 0);
    assert_int_equal(atomic_load(&e.srv.n_requests), 2);
    assert_non_null(strstr(e.srv.requests[1], "Authorization: Bearer tok-rotated-xyz\r\n"));
    env_stop(&e);
    free(r1);
    free(r2);
}

/* ---- watch ----------------------------------------------------------------------------- */

#define CHUNKED_HEAD                                                                               \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"          \
    "Connection: close\r\n\r\n"

typedef struct seen {
    char types[16][16];
    char names[16][32];
    size_t n;
    kube_watch *w;
    int cancel_after;
} seen;

static int on_event(const char *type, json_t *obj, void *payload)
{
    seen *s = payload;
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    assert_true(s->n < 16);
    snprintf(s->types[s->n], sizeof(s->types[0]), "%s", type);
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name ? name : "");
    s->n++;
    return 0;
}

static void test_watch_events_bookmarks_and_gone(void **state)
{
    scripted sc[] = {
        {.raw = CHUNKED_HEAD,
         .chunks =
             {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":"
              "\"1",
              "01\"}}}\n{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",",
              "\"resourceVersion\":\"102\"}}}\n{\"type\":\"DELETED\",\"object\":{\"metadata\":"
              "{\"name\":\"a\",\"resourceVersion\":\"103\"}}}\n",
              "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":"
              "{\"resourceVersion\":\"120\"}}}\n"}},
        {.raw = CHUNKED_HEAD,
         .chunks = {"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":"
                    "\"Expired\",\"message\":\"too old resource version: 120 (500)\"}}\n"}},
    };
    kube_watch_options wo = {.resource_version = "100", .timeout_seconds = 30};
    kube_ref coll = CM;
    seen s = {0};
    env e;
    (void)state;
    coll.name = NULL;
    env_start(&e, sc, 2);
    assert_int_equal(kube_watch_new(&s.w, e.c, &coll, &wo), 0);
    assert_int_equal(kube_watch_run(s.w, on_event, &s), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.types[0], "ADDED");
    assert_string_equal(s.types[1], "MODIFIED");
    assert_string_equal(s.types[2], "DELETED");
    assert_string_equal(s.types[3], "BOOKMARK");
    assert_string_equal(s.names[2], "a");
    assert_string_equal(kube_watch_resource_version(s.w), "120");
    assert_non_null(strstr(e.srv.requests[0],
                           "GET /api/v1/namespaces/shop/configmaps?watch=1&resourceVersion=100"
                           "&allowWatchBookmarks=true&timeoutSeconds=30 HTTP/1.1"));
    /* the next run resumes from the bookmark and is told to relist */
    assert_int_equal(kube_watch_run(s.w, on_event, &s), LB_EGONE);
    assert_non_null(strstr(lb_error_last(), "too old resource version"));
    assert_non_null(strstr(e.srv.requests[1], "resourceVersion=120&"));
    assert_int_equal(s.n, 4);
    kube_watch_free(s.w);
    env_stop(&e);
}

static void test_watch_http_410_is_gone(void **state)
{
    char *r = resp("410 Gone", "",
                   "{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\","
                   "\"message\":\"resource version too old\"}");
    scripted sc[] = {{.raw = r}};
    kube_ref coll = CM;
    kube_watch *w = NULL;
    seen s = {0};
    env e;
    (void)state;
    coll.name = NULL;
    env_start(&e, sc, 1);
    assert_int_equal(kube_watch_new(&w, e.c, &coll, NULL), 0);
    assert_int_equal(kube_watch_run(w, on_event, &s), LB_EGONE);
    assert_non_null(strstr(lb_error_last(), "resource version too old"));
    assert_int_equal(s.n, 0);
    kube_watch_free(w);
    env_stop(&e);
    free(r);
}

static void *cancel_later(void *arg)
{
    kube_watch *w = arg;
    sleep_ms(300);
    kube_watch_cancel(w);
    return NULL;
}

static void test_watch_cancel_from_another_thread(void **state)
{
    scripted sc[] = {{.raw = CHUNKED_HEAD,
                      .chunks = {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\","
                                 "\"resourceVersion\":\"7\"}}}\n"},
                      .hold = 1}};
    kube_ref coll = CM;
    kube_watch *w = NULL;
    pthread_t th;
    seen s = {0};
    env e;
    double t0;
    (void)state;
    coll.name = NULL;
    env_start(&e, sc, 1);
    assert_int_equal(kube_watch_new(&w, e.c, &coll, NULL), 0);
    assert_int_equal(pthread_create(&th, NULL, cancel_later, w), 0);
    t0 = now_s();
    assert_int_equal(kube_watch_run(w, on_event, &s), 0);
    assert_true(now_s() - t0 < 10); /* stopped by the flag, not by a timeout */
    assert_true(kube_watch_cancelled(w));
    assert_int_equal(s.n, 1);
    assert_string_equal(kube_watch_resource_version(w), "7");
    pthread_join(th, NULL);
    kube_watch_free(w);
    env_stop(&e);
}

static void test_watch_stream_cut_inside_an_event_is_an_error(void **state)
{
    scripted sc[] = {{.raw = CHUNKED_HEAD,
                      .chunks = {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"c\"}}}\n"
                                 "{\"type\":\"MODIF"}}};
    kube_ref coll = CM;
    kube_watch *w = NULL;
    seen s = {0};
    env e;
    (void)state;
    coll.name = NULL;
    env_start(&e, sc, 1);
    assert_int_equal(kube_watch_new(&w, e.c, &coll, NULL), 0);
    assert_int_equal(kube_watch_run(w, on_event, &s), LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "stream ended inside an event"));
    assert_int_equal(s.n, 1);
    kube_watch_free(w);
    env_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_body_maps_to_code_and_message),
        cmocka_unit_test(test_status_error_json_from_watch_event),
        cmocka_unit_test(test_ref_path_shapes_and_escaping),
        cmocka_unit_test(test_client_get_retries_429_honouring_retry_after),
        cmocka_unit_test(test_client_post_is_not_retried_on_500),
        cmocka_unit_test(test_client_write_fenced_just_before_sending_is_not_sent),
        cmocka_unit_test(test_client_response_over_object_cap_is_refused),
        cmocka_unit_test(test_client_list_patch_delete_requests),
        cmocka_unit_test(test_client_401_fetches_credentials_again),
        cmocka_unit_test(test_watch_events_bookmarks_and_gone),
        cmocka_unit_test(test_watch_http_410_is_gone),
        cmocka_unit_test(test_watch_cancel_from_another_thread),
        cmocka_unit_test(test_watch_stream_cut_inside_an_event_is_an_error),
    };
    return cmocka_run_group_tests_name("kube_client", tests, NULL, NULL);
}
