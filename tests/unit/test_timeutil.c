/* Unit tests for pkg/util/timeutil (RFC 3339, calendar, clocks) and
 * pkg/util/tz (TZif zones, POSIX rules, local time mapping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "util/error.h"
#include "util/timeutil.h"
#include "util/tz.h"

/* ---- RFC 3339 ---------------------------------------------------------- */

static void test_time_parse_valid_forms(void **state)
{
    static const struct {
        const char *in;
        int64_t sec;
        int32_t nsec;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0, 0},
        {"2026-02-18T14:30:00Z", 1771425000, 0},
        {"2026-02-18t14:30:00z", 1771425000, 0},
        {"2026-02-18T15:30:00+01:00", 1771425000, 0},
        {"2026-02-18T09:00:00-05:30", 1771425000, 0},
        {"2026-02-18T14:30:00-00:00", 1771425000, 0},
        {"2026-02-18T14:30:00.5Z", 1771425000, 500000000},
        {"2026-02-18T14:30:00.123456789Z", 1771425000, 123456789},
        {"2026-02-18T14:30:00.1234567891234Z", 1771425000, 123456789}, /* truncated */
        {"2026-02-18T14:30:00.000000001+00:00", 1771425000, 1},
        {"1969-12-31T23:59:59.5Z", -1, 500000000},
        {"0000-01-01T00:00:00Z", -62167219200, 0},
        {"9999-12-31T23:59:59Z", 253402300799, 0},
        {"2024-02-29T00:00:00Z", 1709164800, 0},
        {"2000-02-29T12:00:00Z", 951825600, 0},
        {"2026-12-31T23:59:59+23:59", 1798675259, 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lb_time t;
        if (lb_time_parse_rfc3339(&t, cases[i].in) != 0)
            fail_msg("%s: %s", cases[i].in, lb_error_last());
        if (t.sec != cases[i].sec || t.nsec != cases[i].nsec)
            fail_msg("%s: got %lld.%09d, want %lld.%09d", cases[i].in, (long long)t.sec,
                     (int)t.nsec, (long long)cases[i].sec, (int)cases[i].nsec);
    }
}

static void test_time_parse_agrees_with_timegm(void **state)
{
    /* Every day from 1900 to 2100 at a varying time of day. */
    (void)state;
    for (int64_t days = -25567; days < 47482; days += 1) {
        int64_t y;
        int m, d;
        char buf[64];
        struct tm tm;
        lb_time t;
        int secs = (int)((days * 7919) % 86400 + 86400) % 86400;
        lb_time_civil_from_days(&y, &m, &d, days);
        snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, m, d, secs / 3600,
                 secs / 60 % 60, secs % 60);
        assert_int_equal(lb_time_parse_rfc3339(&t, buf), 0);
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = (int)y - 1900;
        tm.tm_mon = m - 1;
        tm.tm_mday = d;
        tm.tm_hour = secs / 3600;
        tm.tm_min = secs / 60 % 60;
        tm.tm_sec = secs % 60;
        if (t.sec != (int64_t)timegm(&tm))
            fail_msg("%s: got %lld, timegm says %lld", buf, (long long)t.sec,
                     (long long)timegm(&tm));
        assert_int_equal(lb_time_days_from_civil(y, m, d), days);
    }
}

static void test_time_parse_errors_name_the_field(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", "value is empty"},
        {"26-02-18T14:30:00Z", "year must be 4 digits"},
        {"2026/02/18T14:30:00Z", "expected '-' after the year"},
        {"2026-13-18T14:30:00Z", "month must be 2 digits 01-12"},
        {"2026-00-18T14:30:00Z", "month must be 2 digits 01-12"},
        {"2026-2-18T14:30:00Z", "month must be 2 digits 01-12"},
        {"2026-02-00T14:30:00Z", "day must be 2 digits 01-31"},
        {"2026-02-29T14:30:00Z", "day must be 01-28 in 2026-02"},
        {"1900-02-29T00:00:00Z", "day must be 01-28 in 1900-02"},
        {"2026-04-31T00:00:00Z", "day must be 01-30 in 2026-04"},
        {"2026-02-18 14:30:00Z", "expected 'T' between date and time"},
        {"2026-02-18T24:00:00Z", "hour must be 2 digits 00-23"},
        {"2026-02-18T14:60:00Z", "minute must be 2 digits 00-59"},
        {"2026-02-18T14:30:60Z", "second must be 00-59 (leap second 60 is not accepted)"},
        {"2016-12-31T23:59:60Z", "leap second 60 is not accepted"},
        {"2026-02-18T14:30:61Z", "second must be 2 digits 00-59"},
        {"2026-02-18T14:30:00.Z", "fraction must have at least one digit"},
        {"2026-02-18T14:30:00", "offset must be 'Z', +hh:mm or -hh:mm"},
        {"2026-02-18T14:30:00+0100", "offset must be +hh:mm or -hh:mm"},
        {"2026-02-18T14:30:00+24:00", "offset hours must be 2 digits 00-23"},
        {"2026-02-18T14:30:00+01:60", "offset minutes must be 2 digits 00-59"},
        {"2026-02-18T14:30:00ZZ", "unexpected text after the offset"},
        {"2026-02-18T14:30:00Z ", "unexpected text after the offset"},
        {"-026-02-18T14:30:00Z", "year must be 4 digits"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lb_time t = {42, 7};
        int rc = lb_time_parse_rfc3339(&t, cases[i].in);
        if (rc != LB_EINVALID)
            fail_msg("\"%s\": rc %d, want LB_EINVALID", cases[i].in, rc);
        if (strstr(lb_error_last(), cases[i].want) == NULL)
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].in, lb_error_last(),
                     cases[i].want);
        assert_true(t.sec == 42 && t.nsec == 7);
    }
}

static void test_time_parse_rejects_embedded_nul(void **state)
{
    lb_time t;
    (void)state;
    assert_int_equal(lb_time_parse_rfc3339n(&t, "2026-02-18T14:30:00Z\0x", 22), LB_EINVALID);
    assert_int_equal(lb_time_parse_rfc3339n(&t, "2026-02-18T14:30:00Z", 19), LB_EINVALID);
    assert_int_equal(lb_time_parse_rfc3339n(&t, "2026-02-18T14:30:00Zjunk", 20), 0);
}

static void test_time_format_digits(void **state)
{
    static const struct {
        int64_t sec;
        int32_t nsec;
        int digits;
        const char *want;
    } cases[] = {
        {0, 0, 0, "1970-01-01T00:00:00Z"},
        {1771425000, 0, 0, "2026-02-18T14:30:00Z"},
        {1771425000, 123456789, 0, "2026-02-18T14:30:00Z"},
        {1771425000, 123456789, 3, "2026-02-18T14:30:00.123Z"},
        {1771425000, 999999999, 3, "2026-02-18T14:30:00.999Z"},
        {1771425000, 120000000, LB_TIME_FRAC_AUTO, "2026-02-18T14:30:00.12Z"},
        {1771425000, 0, LB_TIME_FRAC_AUTO, "2026-02-18T14:30:00Z"},
        {1771425000, 1, 9, "2026-02-18T14:30:00.000000001Z"},
        {-1, 500000000, 1, "1969-12-31T23:59:59.5Z"},
        {253402300799, 999999999, 9, "9999-12-31T23:59:59.999999999Z"},
        {-62167219200, 0, 0, "0000-01-01T00:00:00Z"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[LB_TIME_RFC3339_MAX];
        lb_time t = {cases[i].sec, cases[i].nsec};
        assert_int_equal(lb_time_format(buf, sizeof(buf), t, cases[i].digits), 0);
        assert_string_equal(buf, cases[i].want);
    }
}

static void test_time_format_errors(void **state)
{
    char buf[LB_TIME_RFC3339_MAX];
    char small[20];
    lb_time t = {1771425000, 0};
    lb_time past = {-62167219201, 0};
    lb_time future = {253402300800, 0};
    (void)state;
    assert_int_equal(lb_time_format(small, sizeof(small), t, 0), LB_ETOOBIG);
    assert_int_equal(lb_time_format(buf, sizeof(buf), t, 10), LB_EINVALID);
    assert_int_equal(lb_time_format(buf, sizeof(buf), past, 0), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "outside 0000-9999"));
    assert_int_equal(lb_time_format(buf, sizeof(buf), future, 0), LB_EINVALID);
}

static void test_time_format_parse_round_trip(void **state)
{
    (void)state;
    for (int64_t sec = -62167219200; sec < 253402300799; sec += 987654321) {
        char buf[LB_TIME_RFC3339_MAX];
        lb_time t = {sec, (int32_t)(sec % 1000000000 + 1000000000) % 1000000000};
        lb_time back;
        assert_int_equal(lb_time_format(buf, sizeof(buf), t, 9), 0);
        assert_int_equal(lb_time_parse_rfc3339(&back, buf), 0);
        assert_true(back.sec == t.sec && back.nsec == t.nsec);
    }
}

static void test_time_leap_years_and_month_lengths(void **state)
{
    (void)state;
    assert_true(lb_time_is_leap_year(2000));
    assert_true(lb_time_is_leap_year(2024));
    assert_false(lb_time_is_leap_year(1900));
    assert_false(lb_time_is_leap_year(2100));
    assert_false(lb_time_is_leap_year(2026));
    assert_int_equal(lb_time_days_in_month(2024, 2), 29);
    assert_int_equal(lb_time_days_in_month(2026, 2), 28);
    assert_int_equal(lb_time_days_in_month(2026, 4), 30);
    assert_int_equal(lb_time_days_in_month(2026, 12), 31);
    assert_int_equal(lb_time_days_in_month(2026, 13), 0);
    assert_int_equal(lb_time_weekday(0), 4);                                     /* Thursday */
    assert_int_equal(lb_time_weekday(lb_time_days_from_civil(2026, 11, 21)), 6); /* Saturday */
    assert_int_equal(lb_time_weekday(-1), 3);
}

static void test_time_ns_conversion_and_overflow(void **state)
{
    int64_t ns;
    lb_time t = {1771425000, 5};
    lb_time big = {INT64_MAX / 1000, 0};
    (void)state;
    assert_int_equal(lb_time_to_ns(&ns, t), 0);
    assert_true(ns == 1771425000000000005LL);
    t = lb_time_from_ns(-1);
    assert_true(t.sec == -1 && t.nsec == 999999999);
    assert_int_equal(lb_time_to_ns(&ns, big), LB_EINVALID);
}

static void test_time_monotonic_clock_advances(void **state)
{
    int64_t a = lb_time_monotonic_ns();
    struct timespec nap = {0, 2000000};
    int64_t b;
    lb_time now = lb_time_now();
    (void)state;
    nanosleep(&nap, NULL);
    b = lb_time_monotonic_ns();
    assert_true(b - a >= 2000000);
    assert_true(now.sec > 1700000000); /* after 2023 */
}

/* ---- time zones -------------------------------------------------------- */

static int64_t ts(const char *rfc3339)
{
    lb_time t;
    if (lb_time_parse_rfc3339(&t, rfc3339) != 0)
        fail_msg("bad test time %s: %s", rfc3339, lb_error_last());
    return t.sec;
}

static void test_tz_offsets_agree_with_glibc(void **state)
{
    /* glibc's localtime_r (with TZ set in this test process only) is an
     * independent reader of the same files. 1900-2200 covers the TZif tables
     * and the footer rules beyond them. */
    static const char *const zones[] = {
        "America/New_York",  "Europe/Berlin",      "Australia/Sydney", "Asia/Kolkata",
        "America/Sao_Paulo", "Pacific/Apia",       "Europe/Dublin",    "Africa/Casablanca",
        "Pacific/Chatham",   "America/St_Johns",   "Antarctica/Troll", "America/Santiago",
        "Asia/Gaza",         "Pacific/Kiritimati", "Etc/GMT+5",        "UTC",
    };
    char *old_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    (void)state;
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        lb_tz *tz;
        char env[128];
        if (lb_tz_load(&tz, zones[z]) != 0)
            fail_msg("%s: %s", zones[z], lb_error_last());
        assert_string_equal(lb_tz_name(tz), zones[z]);
        snprintf(env, sizeof(env), ":%s", zones[z]);
        setenv("TZ", env, 1);
        tzset();
        for (int64_t t = -2208988800LL; t < 7258118400LL; t += 86400 * 5 + 3607) {
            struct tm tm;
            time_t tt = (time_t)t;
            lb_tz_mapping m;
            int32_t off = lb_tz_offset_at(tz, t);
            localtime_r(&tt, &tm);
            if (off != tm.tm_gmtoff)
                fail_msg("%s at %lld: offset %d, glibc %ld", zones[z], (long long)t, off,
                         tm.tm_gmtoff);
            /* And the local time maps back to an interval containing t. */
            assert_int_equal(lb_tz_local_to_utc(&m, tz, t + off), 0);
            if (m.count == 0 || (m.earliest != t && m.latest != t))
                fail_msg("%s at %lld: local maps to %lld/%lld (count %d)", zones[z], (long long)t,
                         (long long)m.earliest, (long long)m.latest, m.count);
        }
        lb_tz_free(tz);
    }
    if (old_tz != NULL)
        setenv("TZ", old_tz, 1);
    else
        unsetenv("TZ");
    free(old_tz);
    tzset();
}

typedef struct map_case {
    const char *zone;
    const char *local; /* wall clock, written as if UTC */
    int count;
    const char *earliest, *latest;
} map_case;

static void test_tz_local_to_utc_gaps_and_repeats(void **state)
{
    static const map_case cases[] = {
        /* New York 2026: 03-08 02:00 EST -> 03:00 EDT; 11-01 02:00 EDT -> 01:00 EST. */
        {"America/New_York", "2026-03-08T01:59:59Z", 1, "2026-03-08T06:59:59Z",
         "2026-03-08T06:59:59Z"},
        {"America/New_York", "2026-03-08T02:00:00Z", 0, "2026-03-08T07:00:00Z",
         "2026-03-08T07:00:00Z"},
        {"America/New_York", "2026-03-08T02:30:00Z", 0, "2026-03-08T07:00:00Z",
         "2026-03-08T07:00:00Z"},
        {"America/New_York", "2026-03-08T03:00:00Z", 1, "2026-03-08T07:00:00Z",
         "2026-03-08T07:00:00Z"},
        {"America/New_York", "2026-11-01T00:59:59Z", 1, "2026-11-01T04:59:59Z",
         "2026-11-01T04:59:59Z"},
        {"America/New_York", "2026-11-01T01:00:00Z", 2, "2026-11-01T05:00:00Z",
         "2026-11-01T06:00:00Z"},
        {"America/New_York", "2026-11-01T01:30:00Z", 2, "2026-11-01T05:30:00Z",
         "2026-11-01T06:30:00Z"},
        {"America/New_York", "2026-11-01T02:00:00Z", 1, "2026-11-01T07:00:00Z",
         "2026-11-01T07:00:00Z"},
        /* Berlin 2026: 03-29 02:00 CET -> 03:00 CEST; 10-25 03:00 CEST -> 02:00 CET. */
        {"Europe/Berlin", "2026-03-29T02:15:00Z", 0, "2026-03-29T01:00:00Z",
         "2026-03-29T01:00:00Z"},
        {"Europe/Berlin", "2026-10-25T02:15:00Z", 2, "2026-10-25T00:15:00Z",
         "2026-10-25T01:15:00Z"},
        {"Europe/Berlin", "2026-07-01T12:00:00Z", 1, "2026-07-01T10:00:00Z",
         "2026-07-01T10:00:00Z"},
        /* Far beyond the table: the footer rule, 2200-03-30 is March's last Sunday. */
        {"Europe/Berlin", "2200-03-30T02:15:00Z", 0, "2200-03-30T01:00:00Z",
         "2200-03-30T01:00:00Z"},
        /* Southern hemisphere: Sydney 2026-04-05 03:00 AEDT -> 02:00 AEST. */
        {"Australia/Sydney", "2026-04-05T02:30:00Z", 2, "2026-04-04T15:30:00Z",
         "2026-04-04T16:30:00Z"},
        /* Samoa skipped 2011-12-30 entirely. */
        {"Pacific/Apia", "2011-12-30T12:00:00Z", 0, "2011-12-30T10:00:00Z", "2011-12-30T10:00:00Z"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lb_tz *tz;
        lb_tz_mapping m;
        if (lb_tz_load(&tz, cases[i].zone) != 0)
            fail_msg("%s: %s", cases[i].zone, lb_error_last());
        assert_int_equal(lb_tz_local_to_utc(&m, tz, ts(cases[i].local)), 0);
        if (m.count != cases[i].count || m.earliest != ts(cases[i].earliest) ||
            m.latest != ts(cases[i].latest))
            fail_msg("%s %s: count %d earliest %lld latest %lld; want %d %s %s", cases[i].zone,
                     cases[i].local, m.count, (long long)m.earliest, (long long)m.latest,
                     cases[i].count, cases[i].earliest, cases[i].latest);
        lb_tz_free(tz);
    }
}

static void test_tz_posix_rules(void **state)
{
    static const struct {
        const char *rule;
        const char *at;
        int32_t want;
    } cases[] = {
        {"EST5EDT,M3.2.0,M11.1.0", "2026-03-08T06:59:59Z", -5 * 3600},
        {"EST5EDT,M3.2.0,M11.1.0", "2026-03-08T07:00:00Z", -4 * 3600},
        {"EST5EDT,M3.2.0,M11.1.0", "2026-11-01T05:59:59Z", -4 * 3600},
        {"EST5EDT,M3.2.0,M11.1.0", "2026-11-01T06:00:00Z", -5 * 3600},
        {"EST5EDT", "2026-07-01T00:00:00Z", -4 * 3600}, /* default US rule */
        {"CET-1CEST,M3.5.0,M10.5.0/3", "2026-10-25T00:59:59Z", 2 * 3600},
        {"CET-1CEST,M3.5.0,M10.5.0/3", "2026-10-25T01:00:00Z", 3600},
        /* Southern hemisphere: DST spans the new year. */
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-01-15T00:00:00Z", 11 * 3600},
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-07-15T00:00:00Z", 10 * 3600},
        /* Quoted names, minutes, a negative transition time (v3). */
        {"<+0530>-5:30", "2026-07-15T00:00:00Z", 5 * 3600 + 1800},
        {"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "2026-07-15T00:00:00Z", -2 * 3600},
        {"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "2026-01-15T00:00:00Z", -3 * 3600},
        /* Permanent DST written as a rule, across the year boundary. */
        {"EST5EDT4,0/0,J365/25", "2026-12-31T23:30:00Z", -4 * 3600},
        {"EST5EDT4,0/0,J365/25", "2027-01-01T04:30:00Z", -4 * 3600},
        {"EST5EDT4,0/0,J365/25", "2027-01-01T05:30:00Z", -4 * 3600},
        {"EST5EDT4,0/0,J365/25", "2027-06-01T00:00:00Z", -4 * 3600},
        /* Jn never counts Feb 29; n does. J60 is Mar 1 in 2024, n59 Feb 29. */
        {"XXX0YYY,J60/0,J300/0", "2024-02-29T23:59:59Z", 0},
        {"XXX0YYY,J60/0,J300/0", "2024-03-01T00:00:00Z", 3600},
        {"XXX0YYY,59/0,300/0", "2024-02-29T00:00:00Z", 3600},
        {"XXX0YYY,59/0,300/0", "2024-02-28T23:59:59Z", 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lb_tz *tz;
        int32_t off;
        if (lb_tz_from_posix(&tz, cases[i].rule) != 0)
            fail_msg("%s: %s", cases[i].rule, lb_error_last());
        off = lb_tz_offset_at(tz, ts(cases[i].at));
        if (off != cases[i].want)
            fail_msg("%s at %s: %d, want %d", cases[i].rule, cases[i].at, off, cases[i].want);
        lb_tz_free(tz);
    }
}

static void test_tz_posix_rule_errors(void **state)
{
    static const struct {
        const char *rule, *want;
    } cases[] = {
        {"", "zone name must be 3 or more letters"},
        {"E5", "zone name must be 3 or more letters"},
        {"EST", "offset hours must be 0-24"},
        {"EST25", "offset hours must be 0-24"},
        {"EST5EDT,M13.1.0,M11.1.0", "Mm.w.d month must be 1-12"},
        {"EST5EDT,M3.6.0,M11.1.0", "Mm.w.d week must be 1-5"},
        {"EST5EDT,M3.2.7,M11.1.0", "Mm.w.d weekday must be 0-6"},
        {"EST5EDT,J0,J365", "Jn day must be 1-365"},
        {"EST5EDT,366,J365", "n day must be 0-365"},
        {"EST5EDT,M3.2.0", "expected ',' before the DST end"},
        {"EST5EDT,M3.2.0/168,M11.1.0", "transition time hours must be 0-167"},
        {"<AB>5", "<name> must be 3 or more characters"},
        {"EST5EDT,M3.2.0,M11.1.0x", "unexpected text at the end"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lb_tz *tz = NULL;
        int rc = lb_tz_from_posix(&tz, cases[i].rule);
        if (rc != LB_EINVALID)
            fail_msg("\"%s\": rc %d, want LB_EINVALID", cases[i].rule, rc);
        if (strstr(lb_error_last(), cases[i].want) == NULL)
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].rule, lb_error_last(),
                     cases[i].want);
        assert_null(tz);
    }
}

static void test_tz_names_are_checked_before_opening(void **state)
{
    static const struct {
        const char *name;
        int rc;
        const char *want;
    } cases[] = {
        {"", LB_EINVALID, "time zone name must be 1-255 characters"},
        {"../etc/passwd", LB_EINVALID, "must be non-empty and not start with '.'"},
        {"/etc/passwd", LB_EINVALID, "must be non-empty"},
        {"Europe//Berlin", LB_EINVALID, "must be non-empty"},
        {"Europe/Berlin/", LB_EINVALID, "must be non-empty"},
        {"Europe/.hidden", LB_EINVALID, "not start with '.'"},
        {"Europe/Ber lin", LB_EINVALID, "only letters, digits"},
        {"Mars/Olympus_Mons", LB_ENOTFOUND, "unknown time zone \"Mars/Olympus_Mons\""},
        {"Europe", LB_ENOTFOUND, "not a zone file"},
        {"Europe/Berlin/x", LB_ENOTFOUND, "unknown time zone"},
        {"zone.tab", LB_EINVALID, "not a TZif file"},
        {"right/Europe/Berlin", LB_EINVALID, "leap-second zone files are not supported"},
    };
    char long_name[LB_TZ_MAX_NAME + 2];
    lb_tz *tz = NULL;
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = lb_tz_load(&tz, cases[i].name);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d (%s)", cases[i].name, rc, cases[i].rc,
                     lb_error_last());
        if (strstr(lb_error_last(), cases[i].want) == NULL)
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].name, lb_error_last(),
                     cases[i].want);
        assert_null(tz);
    }
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(lb_tz_load(&tz, long_name), LB_EINVALID);
}

static void test_tz_rejects_malformed_tzif(void **state)
{
    FILE *f = fopen(LB_TZ_DIR "/Europe/Berlin", "rb");
    unsigned char data[8192];
    unsigned char copy[8192];
    size_t n;
    lb_tz *tz = NULL;
    (void)state;
    assert_non_null(f);
    n = fread(data, 1, sizeof(data), f);
    fclose(f);
    assert_true(n > 100 && n < sizeof(data));
    assert_int_equal(lb_tz_parse(&tz, "x", data, n), 0);
    lb_tz_free(tz);
    tz = NULL;
    /* Every truncation fails cleanly (the footer's final newline included). */
    for (size_t len = 0; len < n; len++) {
        int rc = lb_tz_parse(&tz, "x", data, len);
        if (rc != LB_EINVALID)
            fail_msg("truncated to %zu of %zu bytes: rc %d", len, n, rc);
        assert_null(tz);
    }
    /* Bad magic. */
    memcpy(copy, data, n);
    copy[0] = 'X';
    assert_int_equal(lb_tz_parse(&tz, "x", copy, n), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "bad magic"));
    /* Oversized input is refused before parsing. */
    assert_int_equal(lb_tz_parse(&tz, "x", data, LB_TZ_MAX_FILE_BYTES + 1), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "larger than"));
}

static void test_tz_utc_is_static_and_free_is_safe(void **state)
{
    lb_tz_mapping m;
    (void)state;
    assert_string_equal(lb_tz_name(lb_tz_utc()), "UTC");
    assert_int_equal(lb_tz_offset_at(lb_tz_utc(), 1771425000), 0);
    assert_int_equal(lb_tz_local_to_utc(&m, lb_tz_utc(), 1771425000), 0);
    assert_true(m.count == 1 && m.earliest == 1771425000);
    assert_int_equal(lb_tz_local_to_utc(&m, lb_tz_utc(), INT64_MAX), LB_EINVALID);
    lb_tz_free(NULL);
    lb_tz_free((lb_tz *)lb_tz_utc());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse_valid_forms),
        cmocka_unit_test(test_time_parse_agrees_with_timegm),
        cmocka_unit_test(test_time_parse_errors_name_the_field),
        cmocka_unit_test(test_time_parse_rejects_embedded_nul),
        cmocka_unit_test(test_time_format_digits),
        cmocka_unit_test(test_time_format_errors),
        cmocka_unit_test(test_time_format_parse_round_trip),
        cmocka_unit_test(test_time_leap_years_and_month_lengths),
        cmocka_unit_test(test_time_ns_conversion_and_overflow),
        cmocka_unit_test(test_time_monotonic_clock_advances),
        cmocka_unit_test(test_tz_offsets_agree_with_glibc),
        cmocka_unit_test(test_tz_local_to_utc_gaps_and_repeats),
        cmocka_unit_test(test_tz_posix_rules),
        cmocka_unit_test(test_tz_posix_rule_errors),
        cmocka_unit_test(test_tz_names_are_checked_before_opening),
        cmocka_unit_test(test_tz_rejects_malformed_tzif),
        cmocka_unit_test(test_tz_utc_is_static_and_free_is_safe),
    };
    return cmocka_run_group_tests_name("timeutil", tests, NULL, NULL);
}
