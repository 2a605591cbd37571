/* Unit tests for pkg/util/buf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/buf.h"
#include "util/error.h"

static void test_buf_starts_empty_and_allocates_lazily(void **state)
{
    lb_buf b;
    (void)state;
    buf_init(&b, 100);
    assert_null(b.data);
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(buf_len(&b), 0);
    buf_dispose(&b);
    buf_dispose(NULL);
}

static void test_buf_appends_bytes_strings_and_printf(void **state)
{
    lb_buf b;
    (void)state;
    buf_init(&b, 1024);
    assert_int_equal(buf_append(&b, "ab\0c", 4), 0);
    assert_int_equal(buf_append_str(&b, "de"), 0);
    assert_int_equal(buf_printf(&b, "-%d-%s", 42, "x"), 0);
    assert_int_equal(buf_append(&b, NULL, 0), 0);
    assert_int_equal(buf_len(&b), 11);
    assert_memory_equal(buf_cstr(&b), "ab\0cde-42-x", 12); /* NUL-terminated */
    buf_dispose(&b);
}

static void test_buf_grows_across_many_appends(void **state)
{
    lb_buf b;
    (void)state;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_printf(&b, "%04d", i % 10000), 0);
    assert_int_equal(buf_len(&b), 40000);
    assert_memory_equal(buf_cstr(&b) + 4 * 1234, "1234", 4);
    assert_int_equal(buf_cstr(&b)[40000], '\0');
    buf_dispose(&b);
}

static void test_buf_cap_rejects_without_changing_content(void **state)
{
    static const struct {
        size_t max;
        const char *first;
        const char *second; /* would pass the cap */
    } cases[] = {
        {0, "", "x"},
        {5, "abcde", "f"},
        {5, "abc", "def"},
        {64, "", "this string is deliberately longer than sixty-four bytes in total!!"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lb_buf b;
        buf_init(&b, cases[i].max);
        assert_int_equal(buf_append_str(&b, cases[i].first), 0);
        assert_int_equal(buf_append_str(&b, cases[i].second), LB_ETOOBIG);
        assert_non_null(strstr(lb_error_last(), "buffer limit of"));
        assert_string_equal(buf_cstr(&b), cases[i].first);
        assert_int_equal(buf_printf(&b, "%s", cases[i].second), LB_ETOOBIG);
        assert_string_equal(buf_cstr(&b), cases[i].first);
        assert_int_equal(buf_len(&b), strlen(cases[i].first));
        buf_dispose(&b);
    }
}

static void test_buf_cap_allows_exactly_max(void **state)
{
    lb_buf b;
    (void)state;
    buf_init(&b, 10);
    assert_int_equal(buf_printf(&b, "%s", "0123456789"), 0);
    assert_int_equal(buf_len(&b), 10);
    assert_true(b.size <= 11); /* never allocates beyond the cap */
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(buf_append(&b, "x", 1), LB_ETOOBIG);
    buf_dispose(&b);
}

static void test_buf_huge_append_does_not_overflow(void **state)
{
    lb_buf b;
    (void)state;
    buf_init(&b, SIZE_MAX);
    assert_int_equal(buf_append_str(&b, "abc"), 0);
    assert_int_equal(buf_append(&b, "x", SIZE_MAX - 1), LB_ETOOBIG);
    assert_string_equal(buf_cstr(&b), "abc");
    buf_dispose(&b);
}

static void test_buf_reset_keeps_memory(void **state)
{
    lb_buf b;
    char *before;
    (void)state;
    buf_init(&b, 100);
    assert_int_equal(buf_append_str(&b, "hello"), 0);
    before = b.data;
    buf_reset(&b);
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(buf_len(&b), 0);
    assert_ptr_equal(b.data, before);
    assert_int_equal(buf_append_str(&b, "again"), 0);
    assert_string_equal(buf_cstr(&b), "again");
    buf_dispose(&b);
}

static void test_buf_detach_hands_over_ownership(void **state)
{
    lb_buf b;
    size_t len = 99;
    char *s;
    (void)state;
    buf_init(&b, 100);
    assert_int_equal(buf_append_str(&b, "owned"), 0);
    s = buf_detach(&b, &len);
    assert_string_equal(s, "owned");
    assert_int_equal(len, 5);
    assert_null(b.data);
    assert_int_equal(buf_len(&b), 0);
    free(s);
    /* An empty buffer detaches as an allocated "". */
    s = buf_detach(&b, NULL);
    assert_string_equal(s, "");
    free(s);
    /* Still usable with the same cap. */
    assert_int_equal(buf_append_str(&b, "again"), 0);
    assert_int_equal(b.max, 100);
    buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_starts_empty_and_allocates_lazily),
        cmocka_unit_test(test_buf_appends_bytes_strings_and_printf),
        cmocka_unit_test(test_buf_grows_across_many_appends),
        cmocka_unit_test(test_buf_cap_rejects_without_changing_content),
        cmocka_unit_test(test_buf_cap_allows_exactly_max),
        cmocka_unit_test(test_buf_huge_append_does_not_overflow),
        cmocka_unit_test(test_buf_reset_keeps_memory),
        cmocka_unit_test(test_buf_detach_hands_over_ownership),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
