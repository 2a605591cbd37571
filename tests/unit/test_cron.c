/* Unit tests for pkg/util/cron: parsing, the day-of-month/day-of-week OR
 * rule, and next fire times in UTC, America/New_York and Europe/Berlin across
 * DST changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util/cron.h"
#include "util/error.h"
#include "util/timeutil.h"
#include "util/tz.h"

static int64_t ts(const char *rfc3339)
{
    lb_time t;
    if (lb_time_parse_rfc3339(&t, rfc3339) != 0)
        fail_msg("bad test time %s: %s", rfc3339, lb_error_last());
    return t.sec;
}

static const char *fmt(char *buf, int64_t sec)
{
    lb_time t = {sec, 0};
    if (lb_time_format(buf, LB_TIME_RFC3339_MAX, t, 0) != 0)
        return "(unformattable)";
    return buf;
}

static uint64_t bits(const int *values, size_t n)
{
    uint64_t b = 0;
    for (size_t i = 0; i < n; i++)
        b |= 1ULL << values[i];
    return b;
}

#define BITS(...) bits((const int[]){__VA_ARGS__}, sizeof((const int[]){__VA_ARGS__}) / sizeof(int))

static void test_cron_parses_star_as_every_value(void **state)
{
    cron_schedule s;
    (void)state;
    assert_int_equal(cron_parse(&s, "* * * * *"), 0);
    assert_true(s.minutes == (1ULL << 60) - 1);
    assert_int_equal(s.hours, (1u << 24) - 1);
    assert_int_equal(s.days, 0xfffffffeu);
    assert_int_equal(s.months, 0x1ffe);
    assert_int_equal(s.weekdays, 0x7f);
    assert_true(s.days_star);
    assert_true(s.weekdays_star);
}

static const struct {
    const char *expr;
    int field; /* 0 minute .. 4 day-of-week */
    uint64_t want;
} field_cases[] = {
    {"*/15 * * * *", 0, 0}, /* filled in below: 0,15,30,45 */
    {"1-30/5 * * * *", 0, 0},  {"5,10,50-52 * * * *", 0, 0}, {"58/1 * * * *", 0, 0},
    {"0 9-17/4 * * *", 1, 0},  {"0 0 1,15,31 * *", 2, 0},    {"0 0 * JAN-MAR,dec * ", 3, 0},
    {"0 0 * * mon-FRI", 4, 0}, {"0 0 * * 7", 4, 0},          {"0 0 * * 5-7", 4, 0},
    {"0 0 * * */2", 4, 0},     {"0 0 * * SUN,sat", 4, 0},
};

static uint64_t field_of(const cron_schedule *s, int field)
{
    switch (field) {
    case 0:
        return s->minutes;
    case 1:
        return s->hours;
    case 2:
        return s->days;
    case 3:
        return s->months;
    default:
        return s->weekdays;
    }
}

static void test_cron_parses_ranges_steps_lists_and_names(void **state)
{
    uint64_t want[] = {
        BITS(0, 15, 30, 45),
        BITS(1, 6, 11, 16, 21, 26),
        BITS(5, 10, 50, 51, 52),
        BITS(58, 59),
        BITS(9, 13, 17),
        BITS(1, 15, 31),
        BITS(1, 2, 3, 12),
        BITS(1, 2, 3, 4, 5),
        BITS(0),
        BITS(0, 5, 6),
        BITS(0, 2, 4, 6),
        BITS(0, 6),
    };
    (void)state;
    for (size_t i = 0; i < sizeof(field_cases) / sizeof(field_cases[0]); i++) {
        cron_schedule s;
        int rc = cron_parse(&s, field_cases[i].expr);
        if (rc != 0)
            fail_msg("%s: %s", field_cases[i].expr, lb_error_last());
        if (field_of(&s, field_cases[i].field) != want[i])
            fail_msg("%s: field %d is %#llx, want %#llx", field_cases[i].expr, field_cases[i].field,
                     (unsigned long long)field_of(&s, field_cases[i].field),
                     (unsigned long long)want[i]);
    }
}

static void test_cron_shorthands_expand(void **state)
{
    static const struct {
        const char *shorthand, *expr;
    } cases[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@HOURLY", "0 * * * *"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cron_schedule a, b;
        assert_int_equal(cron_parse(&a, cases[i].shorthand), 0);
        assert_int_equal(cron_parse(&b, cases[i].expr), 0);
        if (memcmp(&a, &b, sizeof(a)) != 0)
            fail_msg("%s differs from %s", cases[i].shorthand, cases[i].expr);
    }
}

static void test_cron_errors_name_the_field_and_rule(void **state)
{
    static const struct {
        const char *expr, *want;
    } cases[] = {
        {"60 * * * *", "minute: value 60 out of range 0-59"},
        {"* 24 * * *", "hour: value 24 out of range 0-23"},
        {"* * 0 * *", "day-of-month: value 0 out of range 1-31"},
        {"* * 32 * *", "day-of-month: value 32 out of range 1-31"},
        {"* * * 13 *", "month: value 13 out of range 1-12"},
        {"* * * * 8", "day-of-week: value 8 out of range 0-7"},
        {"*/0 * * * *", "minute: step must be 1-59"},
        {"*/60 * * * *", "minute: step must be 1-59"},
        {"* * * * 1/", "day-of-week: step must be 1-7"},
        {"30-10 * * * *", "minute: range 30-10 is reversed"},
        {"* * * * SAT-SUN", "day-of-week: range 6-0 is reversed"},
        {"* * * FOO *", "month: unknown name \"FOO\" (use JAN-DEC)"},
        {"* * * * MON-FOO", "day-of-week: unknown name \"FOO\" (use SUN-SAT)"},
        {"* * * * MONDAY", "day-of-week: unknown name \"MONDAY\""},
        {"MON * * * *", "minute: names are not allowed here"},
        {"* * L * *", "day-of-month: names are not allowed here"},
        {"* * ? * *", "day-of-month: unexpected character '?'"},
        {"1,,2 * * * *", "minute: empty list element"},
        {"1, * * * *", "minute: empty list element"},
        {"5- * * * *", "minute: missing value"},
        {"1-2-3 * * * *", "minute: unexpected character '-'"},
        {"-1 * * * *", "minute: unexpected character '-'"},
        {"99999999999 * * * *", "minute: value 99999999999 out of range 0-59"},
        {"* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"},
        {"* * * * * *", "got 6"},
        {"", "cron: schedule is empty"},
        {"   ", "cron: schedule is empty"},
        {"@every 5m", "unknown shorthand"},
        {"@reboot", "unknown shorthand"},
        {"0 0 30 2 *", "day-of-month: no chosen day exists in the chosen months"},
        {"0 0 31 4,6,9,11 *", "day-of-month: no chosen day exists"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cron_schedule s;
        int rc = cron_parse(&s, cases[i].expr);
        if (rc != LB_EINVALID)
            fail_msg("\"%s\": rc %d, want LB_EINVALID", cases[i].expr, rc);
        if (strstr(lb_error_last(), cases[i].want) == NULL)
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].expr, lb_error_last(),
                     cases[i].want);
    }
}

static void test_cron_rejects_overlong_expression(void **state)
{
    char big[CRON_MAX_EXPR + 2];
    cron_schedule s;
    (void)state;
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cron_parse(&s, big), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "longer than 256 bytes"));
}

typedef struct next_case {
    const char *expr;
    const char *zone; /* NULL: UTC */
    const char *after;
    const char *want; /* UTC */
} next_case;

static void check_next(const next_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cron_schedule s;
        lb_tz *tz = NULL;
        int64_t got = 0;
        char a[LB_TIME_RFC3339_MAX], b[LB_TIME_RFC3339_MAX];
        if (cron_parse(&s, cases[i].expr) != 0)
            fail_msg("%s: %s", cases[i].expr, lb_error_last());
        if (cases[i].zone != NULL && lb_tz_load(&tz, cases[i].zone) != 0)
            fail_msg("%s: %s", cases[i].zone, lb_error_last());
        if (cron_next(&got, &s, ts(cases[i].after), tz) != 0)
            fail_msg("%s after %s: %s", cases[i].expr, cases[i].after, lb_error_last());
        if (got != ts(cases[i].want))
            fail_msg("case %zu: \"%s\" in %s after %s: got %s, want %s", i, cases[i].expr,
                     cases[i].zone ? cases[i].zone : "UTC", cases[i].after, fmt(a, got),
                     fmt(b, ts(cases[i].want)));
        lb_tz_free(tz);
    }
}

static void test_cron_next_in_utc(void **state)
{
    static const next_case cases[] = {
        {"* * * * *", NULL, "2026-11-21T01:03:07Z", "2026-11-21T01:04:00Z"},
        {"* * * * *", NULL, "2026-11-21T01:04:00Z", "2026-11-21T01:05:00Z"},
        {"*/15 * * * *", NULL, "2026-11-21T01:03:00Z", "2026-11-21T01:15:00Z"},
        {"0 1 * * 0", NULL, "2026-11-21T01:03:00Z", "2026-11-22T01:00:00Z"},
        {"0 3 1 * *", NULL, "2026-11-21T01:03:00Z", "2026-12-01T03:00:00Z"},
        {"59 23 31 12 *", NULL, "2026-11-21T00:00:00Z", "2026-12-31T23:59:00Z"},
        {"0 0 1 1 *", NULL, "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z"},
        {"0 0 31 * *", NULL, "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z"},
        {"@hourly", NULL, "2026-11-21T01:00:00Z", "2026-11-21T02:00:00Z"},
        {"0 9 * JAN-MAR mon-fri", NULL, "2026-11-21T00:00:00Z", "2027-01-01T09:00:00Z"},
        {"0 0 * * 7", NULL, "2026-11-02T00:00:00Z", "2026-11-08T00:00:00Z"},
        {"30 12 * * *", NULL, "1969-12-31T00:00:00Z", "1969-12-31T12:30:00Z"},
    };
    (void)state;
    check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_cron_dom_dow_or_rule(void **state)
{
    static const next_case cases[] = {
        /* Both restricted: the 13th OR any Friday. 2026-11-06 is a Friday,
         * 2026-11-13 a Friday, 2026-12-13 a Sunday. */
        {"0 0 13 * 5", NULL, "2026-11-01T00:00:00Z", "2026-11-06T00:00:00Z"},
        {"0 0 13 * 5", NULL, "2026-11-06T00:00:00Z", "2026-11-13T00:00:00Z"},
        {"0 0 13 * 5", NULL, "2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z"},
        {"0 0 13 * 5", NULL, "2026-12-13T00:00:00Z", "2026-12-18T00:00:00Z"},
        /* `*\/2` is a restriction too (robfig/cron, Kubernetes): odd days OR Monday. */
        {"0 0 */2 * 1", NULL, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"},
        {"0 0 */2 * 1", NULL, "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"},
        /* One side `*`: only the other counts. */
        {"0 0 13 * *", NULL, "2026-11-01T00:00:00Z", "2026-11-13T00:00:00Z"},
        {"0 0 13 * *", NULL, "2026-11-13T00:00:00Z", "2026-12-13T00:00:00Z"},
        {"0 0 * * 5", NULL, "2026-12-11T00:00:00Z", "2026-12-18T00:00:00Z"},
    };
    (void)state;
    check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_cron_feb29_fires_only_in_leap_years(void **state)
{
    static const next_case cases[] = {
        {"0 0 29 2 *", NULL, "2025-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},
        {"0 0 29 2 *", NULL, "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"},
        /* 2100 is not a leap year: eight years between. */
        {"0 0 29 2 *", NULL, "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"},
        /* 2000 is (divisible by 400). */
        {"0 0 29 2 *", NULL, "1997-01-01T00:00:00Z", "2000-02-29T00:00:00Z"},
        /* Feb 29 OR Monday fires on February's Mondays in other years. */
        {"0 0 29 2 1", NULL, "2027-02-26T00:00:00Z", "2028-02-07T00:00:00Z"},
        {"0 0 29 2 1", NULL, "2027-01-26T00:00:00Z", "2027-02-01T00:00:00Z"},
    };
    (void)state;
    check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_cron_new_york_spring_forward_gap_fires_after_gap(void **state)
{
    static const next_case cases[] = {
        /* 2026-03-08 02:00 EST -> 03:00 EDT at 07:00Z: 02:30 does not exist. */
        {"30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z"},
        {"30 2 * * *", "America/New_York", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"},
        /* Four skipped times collapse into one firing at the end of the gap. */
        {"*/15 2 * * *", "America/New_York", "2026-03-08T06:45:00Z", "2026-03-08T07:00:00Z"},
        {"*/15 2 * * *", "America/New_York", "2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"},
        /* An every-15-minutes job: 01:45 EST, then 03:00 EDT, then 03:15 EDT. */
        {"*/15 * * * *", "America/New_York", "2026-03-08T06:30:00Z", "2026-03-08T06:45:00Z"},
        {"*/15 * * * *", "America/New_York", "2026-03-08T06:45:00Z", "2026-03-08T07:00:00Z"},
        {"*/15 * * * *", "America/New_York", "2026-03-08T07:00:00Z", "2026-03-08T07:15:00Z"},
        /* Times outside the gap are unaffected. */
        {"0 3 * * *", "America/New_York", "2026-03-08T05:00:00Z", "2026-03-08T07:00:00Z"},
        {"0 1 * * *", "America/New_York", "2026-03-08T05:00:00Z", "2026-03-08T06:00:00Z"},
    };
    (void)state;
    check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_cron_new_york_fall_back_repeat_fires_once(void **state)
{
    static const next_case cases[] = {
        /* 2026-11-01 02:00 EDT -> 01:00 EST at 06:00Z: 01:30 happens at 05:30Z and 06:30Z. */
        {"30 1 * * *", "America/New_York", "2026-11-01T04:00:00Z", "2026-11-01T05:30:00Z"},
        {"30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
        /* Asked during the second 01:xx hour, the repeat is still skipped. */
        {"30 1 * * *", "America/New_York", "2026-11-01T06:10:00Z", "2026-11-02T06:30:00Z"},
        /* An hourly job runs once for the repeated hour: 01:00 EDT, then 02:00 EST. */
        {"0 * * * *", "America/New_York", "2026-11-01T04:30:00Z", "2026-11-01T05:00:00Z"},
        {"0 * * * *", "America/New_York", "2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z"},
        {"0 2 * * *", "America/New_York", "2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z"},
    };
    (void)state;
    check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_cron_berlin_dst_gap_and_repeat(void **state)
{
    static const next_case cases[] = {
        /* 2026-03-29 02:00 CET -> 03:00 CEST at 01:00Z. */
        {"30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
        {"30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
        {"0 1 * * 0", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T00:00:00Z"},
        /* 2026-10-25 03:00 CEST -> 02:00 CET at 01:00Z: 02:30 at 00:30Z and 01:30Z. */
        {"30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
        {"30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
        {"0 3 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z"},
        /* A date far past the zone file's last transition uses its footer rule:
         * 2090-03-26 is the last Sunday of March 2090. */
        {"30 2 * * *", "Europe/Berlin", "2090-03-25T12:00:00Z", "2090-03-26T01:00:00Z"},
    };
    (void)state;
    check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_cron_next_is_strictly_after_and_local(void **state)
{
    static const next_case cases[] = {
        /* 09:00 in Tokyo (+09:00, no DST) is 00:00Z. */
        {"0 9 * * *", "Asia/Tokyo", "2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z"},
        {"0 9 * * *", "Asia/Tokyo", "2026-11-20T23:59:59Z", "2026-11-21T00:00:00Z"},
        /* Kolkata is +05:30. */
        {"0 0 * * *", "Asia/Kolkata", "2026-11-21T00:00:00Z", "2026-11-21T18:30:00Z"},
        /* Etc/UTC from the zone file behaves like UTC. */
        {"0 1 * * 0", "Etc/UTC", "2026-11-21T01:03:00Z", "2026-11-22T01:00:00Z"},
    };
    (void)state;
    check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_cron_next_walks_a_year_minute_by_minute_consistently(void **state)
{
    /* Every 7 minutes through 2026 in New York: each fire time is a minute
     * whose local wall clock matches the schedule, strictly increasing, and
     * no local time fires twice. */
    cron_schedule s;
    lb_tz *tz;
    int64_t t = ts("2026-01-01T00:00:00Z"), end = ts("2027-01-01T00:00:00Z");
    int64_t last_local = INT64_MIN;
    long fires = 0;
    (void)state;
    assert_int_equal(cron_parse(&s, "*/7 * * * *"), 0);
    assert_int_equal(lb_tz_load(&tz, "America/New_York"), 0);
    while (t < end) {
        int64_t next, local;
        assert_int_equal(cron_next(&next, &s, t, tz), 0);
        assert_true(next > t);
        local = next + lb_tz_offset_at(tz, next);
        if (lb_time_floor_mod(local, 3600) / 60 % 7 != 0) {
            /* Only the instant a gap ends may fall off the schedule. */
            assert_int_equal(lb_time_floor_mod(local, 3600), 0);
        }
        assert_true(local > last_local);
        last_local = local;
        t = next;
        fires++;
    }
    /* 9 firings (minutes 0..56) in each of the year's 8760 real hours,
     * except the second pass of the repeated 01:xx hour on 2026-11-01. The
     * skipped 02:xx hour on 2026-03-08 costs no real hour: its times collapse
     * into 03:00, which fires anyway. */
    assert_int_equal(fires, 9 * 8760 - 9);
    lb_tz_free(tz);
}

static void test_cron_rejects_out_of_range_time(void **state)
{
    cron_schedule s;
    int64_t out;
    (void)state;
    assert_int_equal(cron_parse(&s, "* * * * *"), 0);
    assert_int_equal(cron_next(&out, &s, INT64_MAX, NULL), LB_EINVALID);
    assert_int_equal(cron_next(&out, &s, INT64_MIN, NULL), LB_EINVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_parses_star_as_every_value),
        cmocka_unit_test(test_cron_parses_ranges_steps_lists_and_names),
        cmocka_unit_test(test_cron_shorthands_expand),
        cmocka_unit_test(test_cron_errors_name_the_field_and_rule),
        cmocka_unit_test(test_cron_rejects_overlong_expression),
        cmocka_unit_test(test_cron_next_in_utc),
        cmocka_unit_test(test_cron_dom_dow_or_rule),
        cmocka_unit_test(test_cron_feb29_fires_only_in_leap_years),
        cmocka_unit_test(test_cron_new_york_spring_forward_gap_fires_after_gap),
        cmocka_unit_test(test_cron_new_york_fall_back_repeat_fires_once),
        cmocka_unit_test(test_cron_berlin_dst_gap_and_repeat),
        cmocka_unit_test(test_cron_next_is_strictly_after_and_local),
        cmocka_unit_test(test_cron_next_walks_a_year_minute_by_minute_consistently),
        cmocka_unit_test(test_cron_rejects_out_of_range_time),
    };
    return cmocka_run_group_tests_name("cron", tests, NULL, NULL);
}
