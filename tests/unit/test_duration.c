/* Unit tests for pkg/util/duration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/duration.h"
#include "util/error.h"

#define NS  1LL
#define US  1000LL
#define MS  1000000LL
#define SEC 1000000000LL
#define MIN (60 * SEC)
#define HR  (60 * MIN)
#define DAY (24 * HR)

static void test_duration_parses_units_and_compounds(void **state)
{
    static const struct {
        const char *in;
        int64_t want;
    } cases[] = {
        {"0", 0},
        {"0s", 0},
        {"90s", 90 * SEC},
        {"15m", 15 * MIN},
        {"25h", 25 * HR},
        {"90d", 90 * DAY},
        {"1h30m", HR + 30 * MIN},
        {"500ms", 500 * MS},
        {"1h30m15s500ms", HR + 30 * MIN + 15 * SEC + 500 * MS},
        {"1.5h", HR + 30 * MIN},
        {"0.5s", 500 * MS},
        {"1.000000001s", SEC + 1},
        {"1.0000000019s", SEC + 1}, /* below a nanosecond is truncated */
        {"2us", 2 * US},
        {"2\xc2\xb5s", 2 * US},
        {"2\xce\xbcs", 2 * US},
        {"7ns", 7 * NS},
        {"1m1h", HR + MIN}, /* any order, as in Go */
        {"2562047h47m16.854775807s", INT64_MAX},
        {"106751d23h47m16.854775807s", INT64_MAX},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = -1;
        if (lb_duration_parse(&got, cases[i].in) != 0)
            fail_msg("\"%s\": %s", cases[i].in, lb_error_last());
        if (got != cases[i].want)
            fail_msg("\"%s\": got %lld, want %lld", cases[i].in, (long long)got,
                     (long long)cases[i].want);
    }
}

static void test_duration_errors_name_the_rule(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", "duration is empty"},
        {"-5m", "duration \"-5m\": negative durations are not allowed"},
        {"+5m", "a sign is not allowed"},
        {"5", "duration \"5\": missing unit after \"5\""},
        {"1h30", "missing unit after \"30\""},
        {"5x", "duration \"5x\": unknown unit \"x\" (units: ns, us, ms, s, m, h, d)"},
        {"5w", "unknown unit \"w\""},
        {"5 m", "unknown unit \" m\""},
        {"5mins", "unknown unit \"mins\""},
        {"h", "expected a number at \"h\""},
        {" 5m", "expected a number"},
        {".5s", "expected a number"},
        {"5.s", "a '.' must be followed by digits"},
        {"1.2.3s", "missing unit after \"1.2\""},
        {"2562047h47m16.854775808s", "overflows"},
        {"9223372036854775808ns", "overflows"},
        {"99999999999999999999s", "overflows"},
        {"106752d", "overflows"},
        {"5000000h5000000h", "overflows"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = 42;
        int rc = lb_duration_parse(&got, cases[i].in);
        if (rc != LB_EINVALID)
            fail_msg("\"%s\": rc %d, want LB_EINVALID", cases[i].in, rc);
        if (strstr(lb_error_last(), cases[i].want) == NULL)
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].in, lb_error_last(),
                     cases[i].want);
        assert_int_equal(got, 42);
    }
}

static void test_duration_formats_shortest_exact_form(void **state)
{
    static const struct {
        int64_t in;
        const char *want;
    } cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {999, "999ns"},
        {1500, "1.5us"},
        {500 * MS, "500ms"},
        {1500 * US, "1.5ms"},
        {SEC, "1s"},
        {90 * SEC, "1m30s"},
        {15 * MIN, "15m"},
        {HR + 30 * MIN, "1h30m"},
        {25 * HR, "25h"},
        {90 * DAY, "2160h"},
        {HR + SEC / 2, "1h0.5s"},
        {-90 * SEC, "-1m30s"},
        {INT64_MAX, "2562047h47m16.854775807s"},
        {INT64_MIN, "-2562047h47m16.854775808s"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[LB_DURATION_FORMAT_MAX];
        assert_int_equal(lb_duration_format(buf, sizeof(buf), cases[i].in), 0);
        assert_string_equal(buf, cases[i].want);
    }
}

static void test_duration_format_parse_round_trip(void **state)
{
    (void)state;
    for (int64_t v = 0; v < INT64_MAX / 3; v = v * 3 + 7) {
        char buf[LB_DURATION_FORMAT_MAX];
        int64_t back = -1;
        assert_int_equal(lb_duration_format(buf, sizeof(buf), v), 0);
        if (lb_duration_parse(&back, buf) != 0 || back != v)
            fail_msg("%lld -> \"%s\" -> %lld (%s)", (long long)v, buf, (long long)back,
                     lb_error_last());
    }
}

static void test_duration_format_reports_small_buffer(void **state)
{
    char buf[4];
    (void)state;
    assert_int_equal(lb_duration_format(buf, sizeof(buf), 90 * SEC), LB_ETOOBIG);
    assert_int_equal(lb_duration_format(buf, sizeof(buf), 9 * NS), 0);
    assert_string_equal(buf, "9ns");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_parses_units_and_compounds),
        cmocka_unit_test(test_duration_errors_name_the_rule),
        cmocka_unit_test(test_duration_formats_shortest_exact_form),
        cmocka_unit_test(test_duration_format_parse_round_trip),
        cmocka_unit_test(test_duration_format_reports_small_buffer),
    };
    return cmocka_run_group_tests_name("duration", tests, NULL, NULL);
}
