#include "util/duration.h"

#include "util/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define UNITS_HELP "units: ns, us, ms, s, m, h, d"

static const struct {
    const char *name;
    int64_t ns;
} units[] = {
    {"ns", 1LL},
    {"us", 1000LL},
    {"\xc2\xb5s", 1000LL}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000LL}, /* U+03BC Greek mu */
    {"ms", 1000000LL},
    {"s", LB_DURATION_NS_PER_SEC},
    {"m", 60 * LB_DURATION_NS_PER_SEC},
    {"h", 3600 * LB_DURATION_NS_PER_SEC},
    {"d", 86400 * LB_DURATION_NS_PER_SEC},
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

#define DUR_FAIL(fmt, ...) lb_error_setc(LB_EINVALID, "duration \"%.64s\": " fmt, s, __VA_ARGS__)

int lb_duration_parse(int64_t *out, const char *s)
{
    const char *p = s;
    int64_t total = 0;

    if (*s == '\0')
        return lb_error_setc(LB_EINVALID, "duration is empty");
    if (*s == '-')
        return DUR_FAIL("%s", "negative durations are not allowed");
    if (*s == '+')
        return DUR_FAIL("%s", "a sign is not allowed");
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    while (*p != '\0') {
        const char *num = p;
        const char *unit;
        uint64_t whole = 0, frac = 0, scale = 1;
        int64_t unit_ns = 0, term;
        size_t ulen;

        if (!is_digit(*p))
            return DUR_FAIL("expected a number at \"%.16s\"", p);
        while (is_digit(*p)) {
            if (whole > (uint64_t)INT64_MAX / 10)
                return DUR_FAIL("%s", "value overflows int64 nanoseconds (max about 292 years)");
            whole = whole * 10 + (uint64_t)(*p - '0');
            p++;
        }
        if (*p == '.') {
            p++;
            if (!is_digit(*p))
                return DUR_FAIL("%s", "a '.' must be followed by digits");
            while (is_digit(*p)) {
                /* Digits beyond 18 are below a nanosecond for every unit. */
                if (scale < 1000000000000000000ULL) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10;
                }
                p++;
            }
        }
        unit = p;
        while (*p != '\0' && !is_digit(*p) && *p != '.')
            p++;
        ulen = (size_t)(p - unit);
        if (ulen == 0)
            return DUR_FAIL("missing unit after \"%.*s\" (" UNITS_HELP ")", (int)(p - num), num);
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strlen(units[i].name) == ulen && memcmp(units[i].name, unit, ulen) == 0)
                unit_ns = units[i].ns;
        }
        if (unit_ns == 0)
            return DUR_FAIL("unknown unit \"%.*s\" (" UNITS_HELP ")", (int)(ulen > 16 ? 16 : ulen),
                            unit);
        if (whole > (uint64_t)INT64_MAX || __builtin_mul_overflow((int64_t)whole, unit_ns, &term))
            return DUR_FAIL("%s", "value overflows int64 nanoseconds (max about 292 years)");
        if (frac != 0) {
            unsigned __int128 part = (unsigned __int128)frac * (uint64_t)unit_ns / scale;
            if (__builtin_add_overflow(term, (int64_t)part, &term))
                return DUR_FAIL("%s", "value overflows int64 nanoseconds (max about 292 years)");
        }
        if (__builtin_add_overflow(total, term, &total))
            return DUR_FAIL("%s", "value overflows int64 nanoseconds (max about 292 years)");
    }
    *out = total;
    return 0;
}

/* Appends v / unit with the remainder as a trimmed decimal fraction. */
static int put_decimal(char *out, size_t size, uint64_t v, uint64_t unit, const char *suffix)
{
    char frac[24] = "";
    uint64_t rem = v % unit;
    if (rem != 0) {
        int width = 0;
        for (uint64_t u = unit; u > 1; u /= 10)
            width++;
        int n = snprintf(frac, sizeof(frac), ".%0*llu", width, (unsigned long long)rem);
        if (n < 0 || (size_t)n >= sizeof(frac))
            n = 0; /* cannot happen: width <= 9 */
        for (; n > 1 && frac[n - 1] == '0'; n--)
            frac[n - 1] = '\0';
    }
    return snprintf(out, size, "%llu%s%s", (unsigned long long)(v / unit), frac, suffix);
}

int lb_duration_format(char *out, size_t size, int64_t ns)
{
    const uint64_t sec = (uint64_t)LB_DURATION_NS_PER_SEC;
    char tmp[LB_DURATION_FORMAT_MAX];
    size_t len = 0;
    uint64_t u;
    int n;

    if (ns < 0) {
        tmp[len++] = '-';
        u = (uint64_t)0 - (uint64_t)ns;
    } else {
        u = (uint64_t)ns;
    }
    if (u == 0) {
        n = snprintf(tmp + len, sizeof(tmp) - len, "0s");
    } else if (u < 1000) {
        n = snprintf(tmp + len, sizeof(tmp) - len, "%lluns", (unsigned long long)u);
    } else if (u < 1000000) {
        n = put_decimal(tmp + len, sizeof(tmp) - len, u, 1000, "us");
    } else if (u < sec) {
        n = put_decimal(tmp + len, sizeof(tmp) - len, u, 1000000, "ms");
    } else {
        uint64_t h = u / (3600 * sec);
        uint64_t m = u / (60 * sec) % 60;
        uint64_t r = u % (60 * sec);
        n = 0;
        if (h != 0)
            n += snprintf(tmp + len + n, sizeof(tmp) - len - n, "%lluh", (unsigned long long)h);
        if (m != 0)
            n += snprintf(tmp + len + n, sizeof(tmp) - len - n, "%llum", (unsigned long long)m);
        if (r != 0)
            n += put_decimal(tmp + len + n, sizeof(tmp) - len - n, r, sec, "s");
    }
    len += (size_t)n;
    if (len >= size)
        return lb_error_setc(LB_ETOOBIG, "duration format: output needs %zu bytes, have %zu",
                             len + 1, size);
    memcpy(out, tmp, len + 1);
    return 0;
}
