/* Unit tests for verify/s3compare.c: the key-set and ETag comparison. The
 * listing itself runs against awssim in e2e/verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "controller/verify/s3compare.h"

static json_t *spec(int tolerance, int etags)
{
    json_t *s = json_pack("{s:s, s:s, s:i}", "bucketA", "media", "bucketB", "media-replica",
                          "tolerance", tolerance);
    if (!etags)
        json_object_set_new(s, "compareETags", json_false());
    return s;
}

static void test_s3compare_same_keys_pass(void **state)
{
    s3compare_list a = {0}, b = {0};
    s3compare_result r;
    json_t *s = spec(0, 1);
    (void)state;
    s3compare_list_add(&a, "p/2", "\"e2\"");
    s3compare_list_add(&a, "p/1", "\"e1\"");
    s3compare_list_add(&b, "p/1", "\"e1\"");
    s3compare_list_add(&b, "p/2", "\"e2\"");
    s3compare_diff(&r, &a, &b, s);
    assert_true(r.passed);
    assert_int_equal(r.keys_a, 2);
    assert_string_equal(r.observed, "media 2 keys, media-replica 2 keys, 0 differing");
    assert_non_null(strstr(r.message, "same 2 keys"));
    s3compare_list_dispose(&a);
    s3compare_list_dispose(&b);
    json_decref(s);
}

static void test_s3compare_missing_key_named(void **state)
{
    s3compare_list a = {0}, b = {0};
    s3compare_result r;
    json_t *s = spec(0, 1);
    (void)state;
    s3compare_list_add(&a, "p/1", "\"e1\"");
    s3compare_list_add(&a, "p/4", "\"e4\"");
    s3compare_list_add(&a, "p/5", "\"e5\"");
    s3compare_list_add(&b, "p/1", "\"e1\"");
    s3compare_list_add(&b, "p/5", "\"changed\"");
    s3compare_list_add(&b, "p/9", "\"e9\"");
    s3compare_diff(&r, &a, &b, s);
    assert_false(r.passed);
    assert_int_equal(r.only_a, 1);
    assert_int_equal(r.only_b, 1);
    assert_int_equal(r.different, 1);
    assert_non_null(strstr(r.message, "1 missing in media-replica: p/4"));
    assert_non_null(strstr(r.message, "1 missing in media: p/9"));
    assert_non_null(strstr(r.message, "different ETags: p/5"));
    assert_string_equal(r.expected, "at most 0 differing keys");
    s3compare_list_dispose(&a);
    s3compare_list_dispose(&b);
    json_decref(s);
}

static void test_s3compare_tolerance_and_etags_off(void **state)
{
    s3compare_list a = {0}, b = {0};
    s3compare_result r;
    json_t *s = spec(1, 0);
    (void)state;
    s3compare_list_add(&a, "k1", "\"x\"");
    s3compare_list_add(&a, "k2", "\"y\"");
    s3compare_list_add(&b, "k1", "\"other\""); /* ETags ignored */
    s3compare_diff(&r, &a, &b, s);
    assert_true(r.passed); /* one missing key, tolerance 1 */
    assert_int_equal(r.different, 0);
    assert_non_null(strstr(r.message, "k2"));
    s3compare_list_dispose(&a);
    s3compare_list_dispose(&b);
    json_decref(s);
}

static void test_s3compare_names_at_most_five_keys(void **state)
{
    s3compare_list a = {0}, b = {0};
    s3compare_result r;
    char key[16];
    json_t *s = spec(0, 1);
    (void)state;
    for (int i = 0; i < 9; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        s3compare_list_add(&a, key, NULL);
    }
    s3compare_diff(&r, &a, &b, s);
    assert_false(r.passed);
    assert_int_equal(r.only_a, 9);
    assert_non_null(strstr(r.message, "k4, ..."));
    assert_null(strstr(r.message, "k5"));
    s3compare_list_dispose(&a);
    s3compare_list_dispose(&b);
    json_decref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3compare_same_keys_pass),
        cmocka_unit_test(test_s3compare_missing_key_named),
        cmocka_unit_test(test_s3compare_tolerance_and_etags_off),
        cmocka_unit_test(test_s3compare_names_at_most_five_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
