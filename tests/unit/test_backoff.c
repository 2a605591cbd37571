/* Unit tests for pkg/util/backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/backoff.h"

static void test_backoff_ceiling_doubles_then_caps(void **state)
{
    static const struct {
        int64_t base, cap;
        unsigned attempt;
        int64_t want;
    } cases[] = {
        {5, 300000, 0, 5},
        {5, 300000, 1, 10},
        {5, 300000, 10, 5120},
        {5, 300000, 15, 163840},
        {5, 300000, 16, 300000},
        {5, 300000, 1000, 300000},
        {100, 50, 0, 50}, /* cap below base wins */
        {0, 50, 10, 0},   /* zero base stays zero */
        {-5, 50, 3, 0},   /* negative counts as 0 */
        {5, -1, 3, 0},
        {1, INT64_MAX, 62, INT64_C(1) << 62},
        {1, INT64_MAX, 63, INT64_MAX}, /* would overflow: saturates */
        {INT64_MAX / 2 + 1, INT64_MAX, 1, INT64_MAX},
        {3, INT64_MAX, 4000000000u, INT64_MAX},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = lb_backoff_ceiling(cases[i].base, cases[i].cap, cases[i].attempt);
        if (got != cases[i].want)
            fail_msg("case %zu: base %lld cap %lld attempt %u: got %lld, want %lld", i,
                     (long long)cases[i].base, (long long)cases[i].cap, cases[i].attempt,
                     (long long)got, (long long)cases[i].want);
    }
}

static uint64_t fixed_rand(void *payload)
{
    return *(uint64_t *)payload;
}

static void test_backoff_jitter_maps_random_onto_full_range(void **state)
{
    static const struct {
        uint64_t r;
        int64_t want; /* with ceiling 80 */
    } cases[] = {
        {0, 0},
        {UINT64_MAX, 80},
        {UINT64_C(1) << 63, 40}, /* half way: floor(2^63 * 81 / 2^64) */
        {UINT64_MAX / 81, 0},
        {UINT64_MAX / 81 + 1, 1},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t r = cases[i].r;
        int64_t got = lb_backoff_delay_with(10, 1000, 3, fixed_rand, &r);
        if (got != cases[i].want)
            fail_msg("r=%llu: got %lld, want %lld", (unsigned long long)r, (long long)got,
                     (long long)cases[i].want);
    }
}

static uint64_t counter_rand(void *payload)
{
    uint64_t *state = payload;
    /* splitmix64: a deterministic, well-spread sequence */
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void test_backoff_jitter_is_uniform_with_injected_source(void **state)
{
    uint64_t seed = 1;
    long buckets[10] = {0};
    (void)state;
    for (int i = 0; i < 100000; i++) {
        int64_t d = lb_backoff_delay_with(1, 1000, 20, counter_rand, &seed);
        assert_true(d >= 0 && d <= 1000);
        buckets[d * 10 / 1001]++;
    }
    for (int i = 0; i < 10; i++) {
        if (buckets[i] < 9500 || buckets[i] > 10500)
            fail_msg("bucket %d holds %ld of 100000", i, buckets[i]);
    }
}

static void test_backoff_default_source_stays_in_range_and_varies(void **state)
{
    int64_t first = lb_backoff_delay(1000, 1000000, 10);
    int different = 0;
    (void)state;
    for (int i = 0; i < 1000; i++) {
        int64_t d = lb_backoff_delay(1000, 1000000, 10);
        assert_true(d >= 0 && d <= 1000000);
        if (d != first)
            different++;
    }
    assert_true(different > 990);
    assert_int_equal(lb_backoff_delay(0, 1000, 5), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_ceiling_doubles_then_caps),
        cmocka_unit_test(test_backoff_jitter_maps_random_onto_full_range),
        cmocka_unit_test(test_backoff_jitter_is_uniform_with_injected_source),
        cmocka_unit_test(test_backoff_default_source_stays_in_range_and_varies),
    };
    return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
