#include "util/cron.h"

#include "util/error.h"
#include "util/timeutil.h"

#include <string.h>
#include <strings.h>

#define CRON_TIME_LIMIT (1LL << 39)

typedef struct field_spec {
    const char *name;
    int min, max;
    const char *const *names; /* three-letter names for min, min+1, ... or NULL */
    int nnames;
} field_spec;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const weekday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static const field_spec fields[5] = {
    {"minute", 0, 59, NULL, 0},
    {"hour", 0, 23, NULL, 0},
    {"day-of-month", 1, 31, NULL, 0},
    {"month", 1, 12, month_names, 12},
    {"day-of-week", 0, 7, weekday_names, 7},
};

static const struct {
    const char *name;
    const char *expr;
} shorthands[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

typedef struct parser {
    const char *expr; /* the whole expression, for messages */
    const field_spec *f;
    const char *p;
    const char *end;
} parser;

#define CRON_FAIL(ps, fmt, ...)                                                                    \
    lb_error_setc(LB_EINVALID, "cron \"%s\": %s: " fmt, (ps)->expr, (ps)->f->name, __VA_ARGS__)

static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static bool is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int parse_value(int *out, parser *ps)
{
    const char *start = ps->p;
    int v = 0;

    if (ps->p < ps->end && is_digit(*ps->p)) {
        while (ps->p < ps->end && is_digit(*ps->p)) {
            if (v < 1000)
                v = v * 10 + (*ps->p - '0');
            ps->p++;
        }
    } else if (ps->p < ps->end && is_letter(*ps->p)) {
        while (ps->p < ps->end && is_letter(*ps->p))
            ps->p++;
        v = -1;
        for (int i = 0; i < ps->f->nnames && ps->p - start == 3; i++) {
            const char *n = ps->f->names[i];
            if (upper(start[0]) == n[0] && upper(start[1]) == n[1] && upper(start[2]) == n[2])
                v = ps->f->min + i;
        }
        if (v < 0 && ps->f->names == NULL)
            return CRON_FAIL(ps, "names are not allowed here, got \"%.*s\"", (int)(ps->p - start),
                             start);
        if (v < 0)
            return CRON_FAIL(ps, "unknown name \"%.*s\" (use %s-%s)", (int)(ps->p - start), start,
                             ps->f->names[0], ps->f->names[ps->f->nnames - 1]);
        *out = v;
        return 0;
    } else if (ps->p < ps->end) {
        return CRON_FAIL(ps, "unexpected character '%c'", *ps->p);
    } else {
        return CRON_FAIL(ps, "%s", "missing value");
    }
    if (v < ps->f->min || v > ps->f->max)
        return CRON_FAIL(ps, "value %.*s out of range %d-%d", (int)(ps->p - start), start,
                         ps->f->min, ps->f->max);
    *out = v;
    return 0;
}

/* One list element: `*`, `N`, `N-M`, each optionally followed by `/S`. */
static int parse_element(uint64_t *bits, parser *ps)
{
    int lo = 0, hi = 0, step = 1;
    bool star = false;
    int rc;

    if (ps->p < ps->end && *ps->p == '*') {
        ps->p++;
        lo = ps->f->min;
        hi = ps->f->max;
        star = true;
    } else {
        rc = parse_value(&lo, ps);
        if (rc != 0)
            return rc;
        hi = lo;
        if (ps->p < ps->end && *ps->p == '-') {
            ps->p++;
            rc = parse_value(&hi, ps);
            if (rc != 0)
                return rc;
            if (hi < lo)
                return CRON_FAIL(ps, "range %d-%d is reversed (start must not exceed end)", lo, hi);
        }
    }
    if (ps->p < ps->end && *ps->p == '/') {
        const char *start = ++ps->p;
        int span = ps->f->max - ps->f->min;
        step = 0;
        while (ps->p < ps->end && is_digit(*ps->p)) {
            if (step < 1000)
                step = step * 10 + (*ps->p - '0');
            ps->p++;
        }
        if (ps->p == start || step < 1 || step > span)
            return CRON_FAIL(ps, "step must be 1-%d, got \"%.*s\"", span, (int)(ps->p - start),
                             start);
        if (!star && hi == lo)
            hi = ps->f->max; /* `N/S` runs from N to the maximum */
    }
    if (ps->p < ps->end && *ps->p != ',')
        return CRON_FAIL(ps, "unexpected character '%c'", *ps->p);
    for (int v = lo; v <= hi; v += step)
        *bits |= 1ULL << v;
    return 0;
}

static int parse_field(uint64_t *out, bool *out_star, parser *ps)
{
    uint64_t bits = 0;
    int rc = 0;

    *out_star = ps->end - ps->p == 1 && *ps->p == '*';
    for (;;) {
        if (ps->p == ps->end || *ps->p == ',') {
            rc = CRON_FAIL(ps, "%s", "empty list element");
            goto done;
        }
        rc = parse_element(&bits, ps);
        if (rc != 0)
            goto done;
        if (ps->p == ps->end)
            break;
        ps->p++; /* ',' */
    }
    *out = bits;
done:
    return rc;
}

/* With day-of-week unrestricted, some chosen day-of-month must exist in some
 * chosen month (29 counts for February: it fires in leap years). */
static bool days_possible(const cron_schedule *s)
{
    static const int max_days[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int m = 1; m <= 12; m++) {
        if (!(s->months & (1u << m)))
            continue;
        for (int d = 1; d <= max_days[m]; d++) {
            if (s->days & (1u << d))
                return true;
        }
    }
    return false;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static int parse_fields(cron_schedule *out, const char *expr, const char *text)
{
    const char *p = text;
    const char *start[6];
    const char *stop[6];
    int n = 0;
    uint64_t bits[5];
    bool star[5];
    cron_schedule s;

    while (*p != '\0') {
        while (is_space(*p))
            p++;
        if (*p == '\0')
            break;
        if (n < 6)
            start[n] = p;
        while (*p != '\0' && !is_space(*p))
            p++;
        if (n < 6)
            stop[n] = p;
        n++;
    }
    if (n != 5)
        return lb_error_setc(LB_EINVALID,
                             "cron \"%s\": expected 5 fields (minute hour day-of-month month "
                             "day-of-week), got %d",
                             expr, n);
    for (int i = 0; i < 5; i++) {
        parser ps = {expr, &fields[i], start[i], stop[i]};
        int rc = parse_field(&bits[i], &star[i], &ps);
        if (rc != 0)
            return rc;
    }
    memset(&s, 0, sizeof(s));
    s.minutes = bits[0];
    s.hours = (uint32_t)bits[1];
    s.days = (uint32_t)bits[2];
    s.months = (uint16_t)bits[3];
    s.weekdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 is Sunday */
    s.days_star = star[2];
    s.weekdays_star = star[4];
    if (s.weekdays_star && !days_possible(&s))
        return lb_error_setc(LB_EINVALID,
                             "cron \"%s\": day-of-month: no chosen day exists in the chosen "
                             "months, so the schedule would never fire",
                             expr);
    *out = s;
    return 0;
}

int cron_parse(cron_schedule *out, const char *expr)
{
    size_t len = strlen(expr);

    if (len > CRON_MAX_EXPR)
        return lb_error_setc(LB_EINVALID, "cron: schedule is longer than %d bytes", CRON_MAX_EXPR);
    while (len > 0 && is_space(expr[len - 1]))
        len--;
    while (len > 0 && is_space(*expr)) {
        expr++;
        len--;
    }
    if (len == 0)
        return lb_error_setc(LB_EINVALID, "cron: schedule is empty");
    if (expr[0] == '@') {
        for (size_t i = 0; i < sizeof(shorthands) / sizeof(shorthands[0]); i++) {
            if (strlen(shorthands[i].name) == len &&
                strncasecmp(expr, shorthands[i].name, len) == 0)
                return parse_fields(out, shorthands[i].name, shorthands[i].expr);
        }
        return lb_error_setc(LB_EINVALID,
                             "cron \"%.*s\": unknown shorthand (use @yearly, @annually, "
                             "@monthly, @weekly, @daily, @midnight or @hourly)",
                             (int)len, expr);
    }
    {
        char copy[CRON_MAX_EXPR + 1];
        memcpy(copy, expr, len);
        copy[len] = '\0';
        return parse_fields(out, copy, copy);
    }
}

static bool day_matches(const cron_schedule *s, int64_t days, int month, int dom)
{
    bool dom_ok, dow_ok;
    if (!(s->months & (1u << month)))
        return false;
    dom_ok = (s->days & (1u << dom)) != 0;
    dow_ok = (s->weekdays & (1u << lb_time_weekday(days))) != 0;
    if (s->days_star || s->weekdays_star)
        return dom_ok && dow_ok;
    return dom_ok || dow_ok;
}

int cron_next(int64_t *out, const cron_schedule *sched, int64_t after_unix, const lb_tz *tz)
{
    int64_t local_after, first_day;

    if (tz == NULL)
        tz = lb_tz_utc();
    if (after_unix >= CRON_TIME_LIMIT || after_unix <= -CRON_TIME_LIMIT)
        return lb_error_setc(LB_EINVALID, "cron: time %lld is out of range", (long long)after_unix);
    /* A local time L maps to the first instant whose wall clock reads >= L,
     * which never decreases as L grows; so local times up to the wall clock
     * at after_unix are all in the past and the scan starts after it. */
    local_after = after_unix + lb_tz_offset_at(tz, after_unix);
    first_day = lb_time_floor_div(local_after, 86400);
    for (int64_t day = first_day; day < first_day + CRON_SEARCH_DAYS; day++) {
        int64_t year;
        int month, dom;
        lb_time_civil_from_days(&year, &month, &dom, day);
        if (!(sched->months & (1u << month))) {
            /* Jump to the last day of this month; the loop steps into the next. */
            day += lb_time_days_in_month(year, month) - dom;
            continue;
        }
        if (!day_matches(sched, day, month, dom))
            continue;
        for (int h = 0; h < 24; h++) {
            if (!(sched->hours & (1u << h)))
                continue;
            for (int m = 0; m < 60; m++) {
                int64_t local = day * 86400 + h * 3600 + m * 60;
                lb_tz_mapping map;
                if (!(sched->minutes & (1ULL << m)) || local <= local_after)
                    continue;
                if (lb_tz_local_to_utc(&map, tz, local) != 0)
                    return LB_EINVALID;
                if (map.earliest > after_unix) {
                    *out = map.earliest;
                    return 0;
                }
            }
        }
    }
    return lb_error_setc(LB_ENOTFOUND, "cron: no fire time within %d days", CRON_SEARCH_DAYS);
}
