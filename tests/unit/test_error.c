/* Unit tests for pkg/util/error and pkg/util/alloc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "util/alloc.h"
#include "util/error.h"

static void test_error_set_returns_generic_code(void **state)
{
    (void)state;
    assert_int_equal(lb_error_set("field %s: %d", "spec.x", 3), LB_ERROR);
    assert_string_equal(lb_error_last(), "field spec.x: 3");
}

static void test_error_setc_returns_given_code(void **state)
{
    (void)state;
    assert_int_equal(lb_error_setc(LB_ENOTFOUND, "no %s", "pod"), LB_ENOTFOUND);
    assert_string_equal(lb_error_last(), "no pod");
    assert_string_equal(lb_error_name(LB_ENOTFOUND), "LB_ENOTFOUND");
    assert_string_equal(lb_error_name(12345), "LB_EUNKNOWN");
}

static void test_error_wrap_prepends_context(void **state)
{
    (void)state;
    lb_error_setc(LB_ECONFLICT, "resourceVersion is stale");
    assert_int_equal(lb_error_wrap(LB_ECONFLICT, "update %s", "shop/orders"), LB_ECONFLICT);
    assert_string_equal(lb_error_last(), "update shop/orders: resourceVersion is stale");
}

static void test_error_wrap_without_message_keeps_prefix(void **state)
{
    (void)state;
    lb_error_clear();
    lb_error_wrap(LB_ERROR, "context");
    assert_string_equal(lb_error_last(), "context");
}

static void test_error_long_message_is_truncated(void **state)
{
    char big[3 * LB_ERROR_MAX];
    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    lb_error_set("%s", big);
    assert_int_equal(strlen(lb_error_last()), LB_ERROR_MAX - 1);
    lb_error_wrap(LB_ERROR, "%s", big);
    assert_int_equal(strlen(lb_error_last()), LB_ERROR_MAX - 1);
}

static void *other_thread(void *arg)
{
    (void)arg;
    lb_error_set("from the other thread");
    return NULL;
}

static void test_error_is_per_thread(void **state)
{
    pthread_t t;
    (void)state;
    lb_error_set("mine");
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_string_equal(lb_error_last(), "mine");
}

static void test_alloc_helpers(void **state)
{
    char *s;
    (void)state;
    s = lb_sprintf("%s-%d", "rr", 7);
    assert_string_equal(s, "rr-7");
    free(s);
    s = lb_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    s = lb_strndup("ab", 10);
    assert_string_equal(s, "ab");
    free(s);
    s = lb_realloc(NULL, 0);
    assert_non_null(s);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_set_returns_generic_code),
        cmocka_unit_test(test_error_setc_returns_given_code),
        cmocka_unit_test(test_error_wrap_prepends_context),
        cmocka_unit_test(test_error_wrap_without_message_keeps_prefix),
        cmocka_unit_test(test_error_long_message_is_truncated),
        cmocka_unit_test(test_error_is_per_thread),
        cmocka_unit_test(test_alloc_helpers),
    };
    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
