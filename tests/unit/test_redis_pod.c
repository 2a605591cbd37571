/* Unit tests for pkg/redis: the parts that need no pod (port choice, check specs).
 * Everything that runs in a pod is tested against kubesim (e2e/redis/tests). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "redis/check.h"
#include "redis/pod.h"
#include "util/error.h"

static int port_of(const char *pod_json, const char *container)
{
    json_t *pod = json_loads(pod_json, 0, NULL);
    int port;
    assert_non_null(pod);
    port = redis_pod_port_of(pod, container);
    json_decref(pod);
    return port;
}

static void test_redis_port_prefers_the_port_named_redis(void **state)
{
    (void)state;
    assert_int_equal(port_of("{\"spec\":{\"containers\":[{\"name\":\"redis\",\"ports\":["
                             "{\"name\":\"metrics\",\"containerPort\":9121},"
                             "{\"name\":\"redis\",\"containerPort\":7000}]}]}}",
                             NULL),
                     7000);
}

static void test_redis_port_first_port_then_default(void **state)
{
    (void)state;
    assert_int_equal(port_of("{\"spec\":{\"containers\":[{\"name\":\"r\",\"ports\":["
                             "{\"containerPort\":6380}]}]}}",
                             NULL),
                     6380);
    assert_int_equal(port_of("{\"spec\":{\"containers\":[{\"name\":\"r\"}]}}", NULL),
                     REDIS_POD_DEFAULT_PORT);
    assert_int_equal(port_of("{}", NULL), REDIS_POD_DEFAULT_PORT);
    /* out-of-range ports are ignored */
    assert_int_equal(port_of("{\"spec\":{\"containers\":[{\"name\":\"r\",\"ports\":["
                             "{\"containerPort\":70000}]}]}}",
                             NULL),
                     REDIS_POD_DEFAULT_PORT);
}

static void test_redis_port_of_the_named_container(void **state)
{
    const char *pod = "{\"spec\":{\"containers\":["
                      "{\"name\":\"exporter\",\"ports\":[{\"containerPort\":9121}]},"
                      "{\"name\":\"redis\",\"ports\":[{\"containerPort\":6390}]}]}}";
    (void)state;
    assert_int_equal(port_of(pod, "redis"), 6390);
    assert_int_equal(port_of(pod, "exporter"), 9121);
    assert_int_equal(port_of(pod, "nope"), REDIS_POD_DEFAULT_PORT);
}

static void test_redis_check_spec_errors_name_the_field(void **state)
{
    char msg[256];
    int passed = 1;
    json_t *no_pod = json_loads("{\"scanCount\":\"a*\",\"expect\":{\"min\":1}}", 0, NULL);
    json_t *no_kind = json_loads("{\"pod\":\"r-0\",\"expect\":{\"min\":1}}", 0, NULL);
    (void)state;
    /* refused before any request: the client is never used */
    assert_int_equal(redis_check_run(&passed, msg, sizeof(msg), NULL, "ns", no_pod), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "pod is required"));
    assert_int_equal(passed, 0);
    assert_int_equal(redis_check_run(&passed, msg, sizeof(msg), NULL, "ns", no_kind), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "scanCount"));
    json_decref(no_pod);
    json_decref(no_kind);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_port_prefers_the_port_named_redis),
        cmocka_unit_test(test_redis_port_first_port_then_default),
        cmocka_unit_test(test_redis_port_of_the_named_container),
        cmocka_unit_test(test_redis_check_spec_errors_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
