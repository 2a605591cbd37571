/* Unit tests for pkg/util/httpd: a real server on a kernel-chosen port, libcurl as the client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/httpd.h"
#include "util/log.h"

#define TEST_MAX_RESPONSE_BYTES (4u * 1024 * 1024)
#define BIG_BODY_BYTES          (200u * 1000) /* several of the server's 16 KiB writes */

typedef struct response {
    long status;
    char content_type[128];
    char allow[64];
    long long content_length; /* -1 when absent */
    lb_buf body;
} response;

/* ---- handlers ------------------------------------------------------------------------ */

static int handle_healthz(lb_buf *out_body, const char **out_type, void *payload)
{
    (void)out_type;
    (void)payload;
    return buf_append_str(out_body, "ok\n") == 0 ? 200 : -1;
}

static int handle_readyz(lb_buf *out_body, const char **out_type, void *payload)
{
    const int *ready = payload;
    (void)out_type;
    if (!__atomic_load_n(ready, __ATOMIC_SEQ_CST)) {
        (void)buf_append_str(out_body, "caches not synced\n");
        return 503;
    }
    return buf_append_str(out_body, "ok\n") == 0 ? 200 : -1;
}

static int handle_metrics(lb_buf *out_body, const char **out_type, void *payload)
{
    (void)payload;
    *out_type = "text/plain; version=0.0.4; charset=utf-8";
    return buf_append_str(out_body, "# TYPE up gauge\nup 1\n") == 0 ? 200 : -1;
}

static int handle_fails(lb_buf *out_body, const char **out_type, void *payload)
{
    (void)out_body;
    (void)out_type;
    (void)payload;
    return lb_error_set("database password=hunter2 rejected"); /* must not reach the client */
}

static int handle_big(lb_buf *out_body, const char **out_type, void *payload)
{
    (void)out_type;
    (void)payload;
    for (size_t i = 0; i < BIG_BODY_BYTES; i++) {
        char c = (char)('a' + (i * 7 + i / 1000) % 26);
        if (buf_append(out_body, &c, 1) != 0)
            return -1;
    }
    return 200;
}

static int handle_empty(lb_buf *out_body, const char **out_type, void *payload)
{
    (void)out_body;
    (void)out_type;
    (void)payload;
    return 204;
}

static int handle_bad_status(lb_buf *out_body, const char **out_type, void *payload)
{
    (void)out_body;
    (void)out_type;
    (void)payload;
    return 7;
}

/* ---- client -------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    response *r = userdata;
    return buf_append(&r->body, data, size * n) == 0 ? size * n : 0;
}

static void copy_header_value(char *out, size_t out_size, const char *line, size_t len)
{
    const char *v = memchr(line, ':', len);
    size_t n;
    if (v == NULL)
        return;
    v++;
    while (v < line + len && *v == ' ')
        v++;
    n = (size_t)(line + len - v);
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n'))
        n--;
    if (n >= out_size)
        n = out_size - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static size_t on_header(char *line, size_t size, size_t n, void *userdata)
{
    response *r = userdata;
    size_t len = size * n;
    if (len > 13 && strncasecmp(line, "content-type:", 13) == 0)
        copy_header_value(r->content_type, sizeof(r->content_type), line, len);
    else if (len > 6 && strncasecmp(line, "allow:", 6) == 0)
        copy_header_value(r->allow, sizeof(r->allow), line, len);
    else if (len > 15 && strncasecmp(line, "content-length:", 15) == 0)
        r->content_length = strtoll(line + 15, NULL, 10);
    return len;
}

/* Performs one request with handle c (reused for keep-alive) and fills r. */
static void request(CURL *c, response *r, const char *method, int port, const char *path)
{
    char url[256];
    CURLcode rc;

    memset(r, 0, sizeof(*r));
    r->content_length = -1;
    buf_init(&r->body, TEST_MAX_RESPONSE_BYTES);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
}

static void get(response *r, int port, const char *path)
{
    CURL *c = curl_easy_init();
    request(c, r, "GET", port, path);
    curl_easy_cleanup(c);
}

/* ---- fixture ------------------------------------------------------------------------- */

typedef struct fixture {
    httpd *h;
    int port;
    int ready;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    httpd_route routes[] = {
        {"/healthz", handle_healthz, NULL},
        {"/readyz", handle_readyz, &f->ready},
        {"/metrics", handle_metrics, NULL},
        {"/fails", handle_fails, NULL},
        {"/big", handle_big, NULL},
        {"/empty", handle_empty, NULL},
        {"/bad-status", handle_bad_status, NULL},
    };
    httpd_options o = {"127.0.0.1:0", routes, sizeof(routes) / sizeof(routes[0]), 0};
    if (httpd_start(&f->h, &o) != 0) {
        print_error("httpd_start: %s\n", lb_error_last());
        free(f);
        return -1;
    }
    f->port = httpd_port(f->h);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    httpd_stop(f->h);
    free(f);
    return 0;
}

static void dispose(response *r)
{
    buf_dispose(&r->body);
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_httpd_port_zero_picks_a_port(void **state)
{
    fixture *f = *state;
    assert_true(f->port > 0 && f->port <= 65535);
}

static void test_httpd_serves_healthz(void **state)
{
    fixture *f = *state;
    response r;
    get(&r, f->port, "/healthz");
    assert_int_equal(r.status, 200);
    assert_string_equal(buf_cstr(&r.body), "ok\n");
    assert_string_equal(r.content_type, HTTPD_DEFAULT_CONTENT_TYPE);
    assert_int_equal(r.content_length, 3);
    dispose(&r);
}

static void test_httpd_metrics_content_type(void **state)
{
    fixture *f = *state;
    response r;
    get(&r, f->port, "/metrics");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(buf_cstr(&r.body), "# TYPE up gauge\nup 1\n");
    dispose(&r);
}

static void test_httpd_unknown_path_is_404(void **state)
{
    fixture *f = *state;
    response r;
    get(&r, f->port, "/nope");
    assert_int_equal(r.status, 404);
    assert_string_equal(buf_cstr(&r.body), "not found\n");
    dispose(&r);
    get(&r, f->port, "/healthz/extra"); /* exact match only */
    assert_int_equal(r.status, 404);
    dispose(&r);
}

static void test_httpd_query_string_ignored(void **state)
{
    fixture *f = *state;
    response r;
    get(&r, f->port, "/healthz?verbose=1");
    assert_int_equal(r.status, 200);
    assert_string_equal(buf_cstr(&r.body), "ok\n");
    dispose(&r);
}

static void test_httpd_handler_status_passes_through(void **state)
{
    fixture *f = *state;
    response r;
    __atomic_store_n(&f->ready, 0, __ATOMIC_SEQ_CST);
    get(&r, f->port, "/readyz");
    assert_int_equal(r.status, 503);
    assert_string_equal(buf_cstr(&r.body), "caches not synced\n");
    dispose(&r);
    __atomic_store_n(&f->ready, 1, __ATOMIC_SEQ_CST);
    get(&r, f->port, "/readyz");
    assert_int_equal(r.status, 200);
    dispose(&r);
}

static void test_httpd_head_has_length_no_body(void **state)
{
    fixture *f = *state;
    response r;
    CURL *c = curl_easy_init();
    request(c, &r, "HEAD", f->port, "/healthz");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.content_length, 3);
    assert_int_equal(buf_len(&r.body), 0);
    dispose(&r);
    /* the connection stays usable after a HEAD */
    request(c, &r, "GET", f->port, "/healthz");
    assert_int_equal(r.status, 200);
    assert_string_equal(buf_cstr(&r.body), "ok\n");
    dispose(&r);
    curl_easy_cleanup(c);
}

static void test_httpd_other_methods_are_405(void **state)
{
    fixture *f = *state;
    static const char *methods[] = {"POST", "PUT", "DELETE"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        response r;
        CURL *c = curl_easy_init();
        request(c, &r, methods[i], f->port, "/healthz");
        if (r.status != 405)
            fail_msg("%s: status %ld, want 405", methods[i], r.status);
        assert_string_equal(r.allow, "GET, HEAD");
        dispose(&r);
        curl_easy_cleanup(c);
    }
}

static void test_httpd_failing_handler_is_500_without_detail(void **state)
{
    fixture *f = *state;
    response r;
    get(&r, f->port, "/fails");
    assert_int_equal(r.status, 500);
    assert_string_equal(buf_cstr(&r.body), "internal server error\n");
    dispose(&r);
    get(&r, f->port, "/bad-status");
    assert_int_equal(r.status, 500);
    dispose(&r);
}

static void test_httpd_large_body_intact(void **state)
{
    fixture *f = *state;
    response r;
    get(&r, f->port, "/big");
    assert_int_equal(r.status, 200);
    assert_int_equal(buf_len(&r.body), BIG_BODY_BYTES);
    assert_int_equal(r.content_length, BIG_BODY_BYTES);
    for (size_t i = 0; i < BIG_BODY_BYTES; i++)
        if (buf_cstr(&r.body)[i] != (char)('a' + (i * 7 + i / 1000) % 26))
            fail_msg("byte %zu differs", i);
    dispose(&r);
}

static void test_httpd_empty_body(void **state)
{
    fixture *f = *state;
    response r;
    get(&r, f->port, "/empty");
    assert_int_equal(r.status, 204);
    assert_int_equal(buf_len(&r.body), 0);
    dispose(&r);
}

static void test_httpd_keepalive_reuses_connection(void **state)
{
    fixture *f = *state;
    response r;
    long connects = -1;
    CURL *c = curl_easy_init();
    request(c, &r, "GET", f->port, "/big");
    assert_int_equal(r.status, 200);
    dispose(&r);
    for (int i = 0; i < 5; i++) {
        request(c, &r, "GET", f->port, i % 2 ? "/metrics" : "/healthz");
        assert_int_equal(r.status, 200);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        assert_int_equal(connects, 0); /* no new connection was needed */
        dispose(&r);
    }
    curl_easy_cleanup(c);
}

static void *client_thread(void *arg)
{
    const fixture *f = arg;
    int ok = 0;
    for (int i = 0; i < 20; i++) {
        response r;
        CURL *c = curl_easy_init();
        request(c, &r, "GET", f->port, "/healthz");
        ok += r.status == 200 && strcmp(buf_cstr(&r.body), "ok\n") == 0;
        dispose(&r);
        curl_easy_cleanup(c);
    }
    return (void *)(intptr_t)ok;
}

static void test_httpd_concurrent_clients(void **state)
{
    fixture *f = *state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, client_thread, f), 0);
    for (int i = 0; i < 4; i++) {
        void *ok;
        pthread_join(t[i], &ok);
        assert_int_equal((intptr_t)ok, 20);
    }
}

static void test_httpd_stalled_client_does_not_block_others(void **state)
{
    fixture *f = *state;
    static const char partial[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n"; /* never finished */
    struct sockaddr_in sa = {0};
    response r;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)f->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, partial, sizeof(partial) - 1), (ssize_t)(sizeof(partial) - 1));
    get(&r, f->port, "/healthz");
    assert_int_equal(r.status, 200);
    dispose(&r);
    close(fd);
}

static void test_httpd_body_over_cap_is_500(void **state)
{
    httpd *h;
    response r;
    httpd_route routes[] = {{"/big", handle_big, NULL}};
    httpd_options o = {":0", routes, 1, 1000};
    (void)state;
    assert_int_equal(httpd_start(&h, &o), 0);
    get(&r, httpd_port(h), "/big");
    assert_int_equal(r.status, 500);
    dispose(&r);
    httpd_stop(h);
}

static void test_httpd_parse_addr(void **state)
{
    static const struct {
        const char *addr;
        int rc;
        const char *host;
        int port;
    } cases[] = {
        {":8080", 0, "", 8080},
        {"0.0.0.0:9090", 0, "0.0.0.0", 9090},
        {"127.0.0.1:0", 0, "127.0.0.1", 0},
        {"[::1]:8443", 0, "::1", 8443},
        {"localhost:65535", 0, "localhost", 65535},
        {"", LB_EINVALID, NULL, 0},
        {"8080", LB_EINVALID, NULL, 0},
        {":", LB_EINVALID, NULL, 0},
        {":65536", LB_EINVALID, NULL, 0},
        {":99999999999999999999", LB_EINVALID, NULL, 0},
        {":80a", LB_EINVALID, NULL, 0},
        {":-1", LB_EINVALID, NULL, 0},
        {"::1:80", LB_EINVALID, NULL, 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char host[64] = "unset";
        int port = -1;
        int rc = httpd_parse_addr(host, sizeof(host), &port, cases[i].addr);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d (%s)", cases[i].addr, rc, cases[i].rc,
                     lb_error_last());
        if (rc == 0 && (strcmp(host, cases[i].host) != 0 || port != cases[i].port))
            fail_msg("\"%s\": got host \"%s\" port %d", cases[i].addr, host, port);
        if (rc != 0 && strstr(lb_error_last(), "addr") == NULL)
            fail_msg("\"%s\": message does not name the field: %s", cases[i].addr, lb_error_last());
    }
}

static void test_httpd_rejects_bad_options(void **state)
{
    httpd *h = (httpd *)1;
    httpd_route no_slash[] = {{"healthz", handle_healthz, NULL}};
    httpd_route no_handler[] = {{"/healthz", NULL, NULL}};
    httpd_route twice[] = {{"/a", handle_healthz, NULL}, {"/a", handle_healthz, NULL}};
    httpd_options o = {"example.com:80", NULL, 0, 0};
    (void)state;
    assert_int_equal(httpd_start(&h, &o), LB_EINVALID);
    assert_null(h);
    assert_non_null(strstr(lb_error_last(), "host"));
    o = (httpd_options){":0", no_slash, 1, 0};
    assert_int_equal(httpd_start(&h, &o), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "routes[0].path"));
    o = (httpd_options){":0", no_handler, 1, 0};
    assert_int_equal(httpd_start(&h, &o), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "routes[0].handler"));
    o = (httpd_options){":0", twice, 2, 0};
    assert_int_equal(httpd_start(&h, &o), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "routes[1].path"));
}

static void test_httpd_port_in_use_fails(void **state)
{
    fixture *f = *state;
    httpd *h = (httpd *)1;
    char addr[64];
    httpd_route routes[] = {{"/healthz", handle_healthz, NULL}};
    httpd_options o = {addr, routes, 1, 0};
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", f->port);
    assert_int_equal(httpd_start(&h, &o), LB_ERROR);
    assert_null(h);
    assert_non_null(strstr(lb_error_last(), "cannot listen"));
}

static void test_httpd_start_stop_repeatedly(void **state)
{
    httpd_route routes[] = {{"/healthz", handle_healthz, NULL}};
    httpd_options o = {"localhost:0", routes, 1, 0};
    (void)state;
    for (int i = 0; i < 5; i++) {
        httpd *h;
        response r;
        assert_int_equal(httpd_start(&h, &o), 0);
        if (i % 2 == 0) {
            get(&r, httpd_port(h), "/healthz");
            assert_int_equal(r.status, 200);
            dispose(&r);
        }
        httpd_stop(h);
    }
    httpd_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_httpd_port_zero_picks_a_port),
        cmocka_unit_test(test_httpd_serves_healthz),
        cmocka_unit_test(test_httpd_metrics_content_type),
        cmocka_unit_test(test_httpd_unknown_path_is_404),
        cmocka_unit_test(test_httpd_query_string_ignored),
        cmocka_unit_test(test_httpd_handler_status_passes_through),
        cmocka_unit_test(test_httpd_head_has_length_no_body),
        cmocka_unit_test(test_httpd_other_methods_are_405),
        cmocka_unit_test(test_httpd_failing_handler_is_500_without_detail),
        cmocka_unit_test(test_httpd_large_body_intact),
        cmocka_unit_test(test_httpd_empty_body),
        cmocka_unit_test(test_httpd_keepalive_reuses_connection),
        cmocka_unit_test(test_httpd_concurrent_clients),
        cmocka_unit_test(test_httpd_stalled_client_does_not_block_others),
        cmocka_unit_test(test_httpd_body_over_cap_is_500),
        cmocka_unit_test(test_httpd_parse_addr),
        cmocka_unit_test(test_httpd_rejects_bad_options),
        cmocka_unit_test(test_httpd_port_in_use_fails),
        cmocka_unit_test(test_httpd_start_stop_repeatedly),
    };
    int failed;
    lb_log_init(stderr, LB_LOG_LEVEL_ERROR, LB_LOG_FORMAT_TEXT);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    failed = cmocka_run_group_tests_name("httpd", tests, setup, teardown);
    curl_global_cleanup();
    return failed;
}
