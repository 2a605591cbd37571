/* test_recorder.c - Events: create, aggregate repeats within the window with
 * a count/lastTimestamp patch, start anew otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kube/recorder.h"
#include "util/error.h"

#include "test_kube_fake_server.h"

#define EVENT_OK  "{\"kind\":\"Event\",\"apiVersion\":\"v1\"}"
#define NOT_FOUND "{\"kind\":\"Status\",\"code\":404,\"reason\":\"NotFound\",\"message\":\"gone\"}"

static const scripted NONE[1];

typedef struct clk {
    int64_t ns;
} clk;

static int64_t fake_clock(void *payload)
{
    return ((clk *)payload)->ns;
}

static json_t *object(void)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "apiVersion", "lifeboat.dev/v1alpha1",
                     "kind", "RestoreRequest", "metadata", "name", "orders", "namespace", "shop",
                     "uid", "u-1", "resourceVersion", "9");
}

static kube_recorder *new_recorder(env *e, clk *c)
{
    kube_recorder *r = NULL;
    kube_recorder_options o = {.component = "lifeboat-operator",
                               .instance = "pod-a",
                               .window_s = 600,
                               .clock = fake_clock,
                               .clock_payload = c};
    c->ns = 1767225600LL * 1000000000LL; /* 2026-01-01T00:00:00Z */
    assert_int_equal(kube_recorder_new(&r, e->c, &o), 0);
    return r;
}

static void test_recorder_creates_an_event(void **state)
{
    char *created = resp("201 Created", "", EVENT_OK);
    scripted sc[] = {{.raw = created}};
    env e;
    clk c;
    kube_recorder *r;
    json_t *obj = object();
    unsigned long n_created = 0, n_patched = 9;
    (void)state;
    env_start(&e, sc, 1);
    r = new_recorder(&e, &c);
    assert_int_equal(kube_recorder_event(r, obj, "Normal", "Planned", "plan published"), 0);
    assert_non_null(strstr(e.srv.requests[0], "POST /api/v1/namespaces/shop/events HTTP"));
    assert_non_null(strstr(e.srv.requests[0], "\"reason\":\"Planned\""));
    assert_non_null(strstr(e.srv.requests[0], "\"message\":\"plan published\""));
    assert_non_null(strstr(e.srv.requests[0], "\"count\":1"));
    assert_non_null(strstr(e.srv.requests[0], "\"uid\":\"u-1\""));
    assert_non_null(strstr(e.srv.requests[0], "\"kind\":\"RestoreRequest\""));
    assert_non_null(strstr(e.srv.requests[0], "\"lastTimestamp\":\"2026-01-01T00:00:00Z\""));
    assert_non_null(strstr(e.srv.requests[0], "\"name\":\"orders."));
    kube_recorder_counts(r, &n_created, &n_patched);
    assert_int_equal(n_created, 1);
    assert_int_equal(n_patched, 0);
    kube_recorder_free(r);
    json_decref(obj);
    env_stop(&e);
    free(created);
}

static void test_recorder_aggregates_a_repeat_within_the_window(void **state)
{
    char *created = resp("201 Created", "", EVENT_OK);
    char *patched = resp("200 OK", "", EVENT_OK);
    scripted sc[] = {{.raw = created}, {.raw = patched}, {.raw = patched}};
    env e;
    clk c;
    kube_recorder *r;
    json_t *obj = object();
    unsigned long n_created = 0, n_patched = 0;
    char name[128] = "";
    const char *p, *q;
    (void)state;
    env_start(&e, sc, 3);
    r = new_recorder(&e, &c);
    assert_int_equal(kube_recorder_event(r, obj, "Warning", "InvalidSpec", "spec.x: bad"), 0);
    c.ns += 60LL * 1000000000LL;
    assert_int_equal(kube_recorder_event(r, obj, "Warning", "InvalidSpec", "spec.x: bad"), 0);
    c.ns += 60LL * 1000000000LL;
    assert_int_equal(kube_recorder_event(r, obj, "Warning", "InvalidSpec", "spec.x: bad"), 0);
    /* the patches address the Event created first */
    p = strstr(e.srv.requests[0], "\"name\":\"orders.");
    assert_non_null(p);
    p += 8;
    q = strchr(p, '"');
    memcpy(name, p, (size_t)(q - p));
    {
        char *line = lb_sprintf("PATCH /api/v1/namespaces/shop/events/%s HTTP", name);
        assert_non_null(strstr(e.srv.requests[1], line));
        assert_non_null(strstr(e.srv.requests[2], line));
        free(line);
    }
    assert_non_null(strstr(e.srv.requests[1], "application/merge-patch+json"));
    assert_non_null(strstr(e.srv.requests[1], "\"count\":2"));
    assert_non_null(strstr(e.srv.requests[1], "\"lastTimestamp\":\"2026-01-01T00:01:00Z\""));
    assert_non_null(strstr(e.srv.requests[2], "\"count\":3"));
    kube_recorder_counts(r, &n_created, &n_patched);
    assert_int_equal(n_created, 1);
    assert_int_equal(n_patched, 2);
    kube_recorder_free(r);
    json_decref(obj);
    env_stop(&e);
    free(created);
    free(patched);
}

static void test_recorder_keeps_different_messages_apart(void **state)
{
    char *created = resp("201 Created", "", EVENT_OK);
    scripted sc[] = {{.raw = created}, {.raw = created}};
    env e;
    clk c;
    kube_recorder *r;
    json_t *obj = object();
    (void)state;
    env_start(&e, sc, 2);
    r = new_recorder(&e, &c);
    assert_int_equal(kube_recorder_event(r, obj, "Normal", "Planned", "9 steps"), 0);
    assert_int_equal(kube_recorder_event(r, obj, "Normal", "Planned", "10 steps"), 0);
    assert_non_null(strstr(e.srv.requests[1], "POST /api/v1/namespaces/shop/events HTTP"));
    assert_non_null(strstr(e.srv.requests[1], "\"message\":\"10 steps\""));
    kube_recorder_free(r);
    json_decref(obj);
    env_stop(&e);
    free(created);
}

static void test_recorder_starts_anew_after_the_window(void **state)
{
    char *created = resp("201 Created", "", EVENT_OK);
    scripted sc[] = {{.raw = created}, {.raw = created}};
    env e;
    clk c;
    kube_recorder *r;
    json_t *obj = object();
    unsigned long n_created = 0, n_patched = 0;
    (void)state;
    env_start(&e, sc, 2);
    r = new_recorder(&e, &c);
    assert_int_equal(kube_recorder_event(r, obj, "Normal", "Planned", "same"), 0);
    c.ns += 601LL * 1000000000LL;
    assert_int_equal(kube_recorder_event(r, obj, "Normal", "Planned", "same"), 0);
    assert_non_null(strstr(e.srv.requests[1], "POST /api/v1/namespaces/shop/events HTTP"));
    assert_non_null(strstr(e.srv.requests[1], "\"count\":1"));
    kube_recorder_counts(r, &n_created, &n_patched);
    assert_int_equal(n_created, 2);
    assert_int_equal(n_patched, 0);
    kube_recorder_free(r);
    json_decref(obj);
    env_stop(&e);
    free(created);
}

static void test_recorder_recreates_an_event_that_is_gone(void **state)
{
    char *created = resp("201 Created", "", EVENT_OK);
    char *gone = resp("404 Not Found", "", NOT_FOUND);
    scripted sc[] = {{.raw = created}, {.raw = gone}, {.raw = created}};
    env e;
    clk c;
    kube_recorder *r;
    json_t *obj = object();
    (void)state;
    env_start(&e, sc, 3);
    r = new_recorder(&e, &c);
    assert_int_equal(kube_recorder_event(r, obj, "Normal", "Planned", "same"), 0);
    assert_int_equal(kube_recorder_event(r, obj, "Normal", "Planned", "same"), 0);
    assert_non_null(strstr(e.srv.requests[1], "PATCH /api/v1/namespaces/shop/events/"));
    assert_non_null(strstr(e.srv.requests[2], "POST /api/v1/namespaces/shop/events HTTP"));
    kube_recorder_free(r);
    json_decref(obj);
    env_stop(&e);
    free(created);
    free(gone);
}

static void test_recorder_refuses_bad_arguments(void **state)
{
    env e;
    clk c;
    kube_recorder *r = NULL;
    kube_recorder_options o = {0};
    json_t *obj = object();
    (void)state;
    env_start(&e, NONE, 0);
    assert_int_equal(kube_recorder_new(&r, e.c, &o), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "component"));
    r = new_recorder(&e, &c);
    assert_int_equal(kube_recorder_event(r, obj, "Normal", "", "m"), LB_EINVALID);
    assert_int_equal(atomic_load(&e.srv.n_requests), 0);
    kube_recorder_free(r);
    json_decref(obj);
    env_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorder_creates_an_event),
        cmocka_unit_test(test_recorder_aggregates_a_repeat_within_the_window),
        cmocka_unit_test(test_recorder_keeps_different_messages_apart),
        cmocka_unit_test(test_recorder_starts_anew_after_the_window),
        cmocka_unit_test(test_recorder_recreates_an_event_that_is_gone),
        cmocka_unit_test(test_recorder_refuses_bad_arguments),
    };
    return cmocka_run_group_tests_name("recorder", tests, NULL, NULL);
}
