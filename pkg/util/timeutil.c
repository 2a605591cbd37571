#include "util/timeutil.h"

#include "util/error.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define NS_PER_SEC 1000000000LL

int64_t lb_time_floor_div(int64_t n, int64_t d)
{
    int64_t q = n / d;
    if ((n % d) != 0 && n < 0)
        q--;
    return q;
}

int64_t lb_time_floor_mod(int64_t n, int64_t d)
{
    int64_t r = n % d;
    if (r < 0)
        r += d;
    return r;
}

bool lb_time_is_leap_year(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int lb_time_days_in_month(int64_t year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12)
        return 0;
    if (month == 2 && lb_time_is_leap_year(year))
        return 29;
    return days[month - 1];
}

/* Howard Hinnant's days_from_civil: eras of 400 years starting in March. */
int64_t lb_time_days_from_civil(int64_t year, int month, int day)
{
    int64_t y = year - (month <= 2);
    int64_t era = lb_time_floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t mp = (month + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void lb_time_civil_from_days(int64_t *out_year, int *out_month, int *out_day, int64_t days)
{
    int64_t z = days + 719468;
    int64_t era = lb_time_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    *out_year = yoe + era * 400 + (m <= 2);
    *out_month = (int)m;
    *out_day = (int)d;
}

int lb_time_weekday(int64_t days)
{
    /* 1970-01-01 was a Thursday. */
    return (int)lb_time_floor_mod(days + 4, 7);
}

/* Reads exactly n ASCII digits at *p into *out. */
static bool read_digits(int *out, const char **p, const char *end, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (*p >= end || **p < '0' || **p > '9')
            return false;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return true;
}

static bool expect_char(const char **p, const char *end, char a, char b)
{
    if (*p >= end || (**p != a && **p != b))
        return false;
    (*p)++;
    return true;
}

#define PARSE_FAIL(...) lb_error_setc(LB_EINVALID, "RFC 3339 time: " __VA_ARGS__)

int lb_time_parse_rfc3339n(lb_time *out, const char *s, size_t len)
{
    const char *p = s;
    const char *end = s + len;
    int year, month, day, hour, minute, second;
    int32_t nsec = 0;
    int offset = 0;

    if (len == 0)
        return PARSE_FAIL("value is empty");
    if (!read_digits(&year, &p, end, 4))
        return PARSE_FAIL("year must be 4 digits 0000-9999");
    if (!expect_char(&p, end, '-', '-'))
        return PARSE_FAIL("expected '-' after the year");
    if (!read_digits(&month, &p, end, 2) || month < 1 || month > 12)
        return PARSE_FAIL("month must be 2 digits 01-12");
    if (!expect_char(&p, end, '-', '-'))
        return PARSE_FAIL("expected '-' after the month");
    if (!read_digits(&day, &p, end, 2) || day < 1)
        return PARSE_FAIL("day must be 2 digits 01-31");
    if (day > lb_time_days_in_month(year, month))
        return PARSE_FAIL("day must be 01-%02d in %04d-%02d", lb_time_days_in_month(year, month),
                          year, month);
    if (!expect_char(&p, end, 'T', 't'))
        return PARSE_FAIL("expected 'T' between date and time");
    if (!read_digits(&hour, &p, end, 2) || hour > 23)
        return PARSE_FAIL("hour must be 2 digits 00-23");
    if (!expect_char(&p, end, ':', ':'))
        return PARSE_FAIL("expected ':' after the hour");
    if (!read_digits(&minute, &p, end, 2) || minute > 59)
        return PARSE_FAIL("minute must be 2 digits 00-59");
    if (!expect_char(&p, end, ':', ':'))
        return PARSE_FAIL("expected ':' after the minute");
    if (!read_digits(&second, &p, end, 2))
        return PARSE_FAIL("second must be 2 digits 00-59");
    if (second == 60)
        return PARSE_FAIL("second must be 00-59 (leap second 60 is not accepted)");
    if (second > 59)
        return PARSE_FAIL("second must be 2 digits 00-59");
    if (p < end && *p == '.') {
        int ndigits = 0;
        int32_t scale = 100000000;
        p++;
        while (p < end && *p >= '0' && *p <= '9') {
            if (ndigits < 9) {
                nsec += (int32_t)(*p - '0') * scale;
                scale /= 10;
            }
            ndigits++;
            p++;
        }
        if (ndigits == 0)
            return PARSE_FAIL("fraction must have at least one digit after '.'");
    }
    if (p < end && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        int sign = *p == '-' ? -1 : 1;
        int oh, om;
        p++;
        if (!read_digits(&oh, &p, end, 2) || oh > 23)
            return PARSE_FAIL("offset hours must be 2 digits 00-23");
        if (!expect_char(&p, end, ':', ':'))
            return PARSE_FAIL("offset must be +hh:mm or -hh:mm");
        if (!read_digits(&om, &p, end, 2) || om > 59)
            return PARSE_FAIL("offset minutes must be 2 digits 00-59");
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return PARSE_FAIL("offset must be 'Z', +hh:mm or -hh:mm");
    }
    if (p != end)
        return PARSE_FAIL("unexpected text after the offset");

    out->sec = lb_time_days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
               second - offset;
    out->nsec = nsec;
    return 0;
}

int lb_time_parse_rfc3339(lb_time *out, const char *s)
{
    return lb_time_parse_rfc3339n(out, s, strlen(s));
}

int lb_time_format(char *out, size_t size, lb_time t, int digits)
{
    int64_t days = lb_time_floor_div(t.sec, 86400);
    int64_t secs = lb_time_floor_mod(t.sec, 86400);
    int64_t year;
    int month, day;
    char frac[11] = "";
    int n;

    if (digits < LB_TIME_FRAC_AUTO || digits > 9)
        return lb_error_setc(LB_EINVALID, "time format: digits must be -1..9, got %d", digits);
    if (t.nsec < 0 || t.nsec >= NS_PER_SEC)
        return lb_error_setc(LB_EINVALID, "time format: nsec must be 0-999999999");
    lb_time_civil_from_days(&year, &month, &day, days);
    if (year < 0 || year > 9999)
        return lb_error_setc(LB_EINVALID, "time format: year %lld is outside 0000-9999",
                             (long long)year);
    if (digits == LB_TIME_FRAC_AUTO && t.nsec != 0) {
        int len;
        snprintf(frac, sizeof(frac), ".%09d", (int)t.nsec);
        len = 10;
        while (frac[len - 1] == '0')
            len--;
        frac[len] = '\0';
    } else if (digits > 0) {
        snprintf(frac, sizeof(frac), ".%09d", (int)t.nsec);
        frac[1 + digits] = '\0';
    }
    n = snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", (int)year, month, day,
                 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60), frac);
    if (n < 0 || (size_t)n >= size)
        return lb_error_setc(LB_ETOOBIG, "time format: output needs %d bytes, have %zu", n + 1,
                             size);
    return 0;
}

int lb_time_to_ns(int64_t *out, lb_time t)
{
    int64_t ns;
    if (__builtin_mul_overflow(t.sec, NS_PER_SEC, &ns) ||
        __builtin_add_overflow(ns, (int64_t)t.nsec, &ns))
        return lb_error_setc(LB_EINVALID, "time: %lld s does not fit in int64 nanoseconds",
                             (long long)t.sec);
    *out = ns;
    return 0;
}

lb_time lb_time_from_ns(int64_t ns)
{
    lb_time t;
    t.sec = lb_time_floor_div(ns, NS_PER_SEC);
    t.nsec = (int32_t)lb_time_floor_mod(ns, NS_PER_SEC);
    return t;
}

lb_time lb_time_now(void)
{
    struct timespec ts;
    lb_time t;
    clock_gettime(CLOCK_REALTIME, &ts);
    t.sec = (int64_t)ts.tv_sec;
    t.nsec = (int32_t)ts.tv_nsec;
    return t;
}

int64_t lb_time_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}
