/* timeutil.h - RFC 3339 times, civil-calendar arithmetic and clocks.
 *
 * Times are Unix time: seconds since 1970-01-01T00:00:00Z plus nanoseconds,
 * without leap seconds (as POSIX and Kubernetes count them). Nothing here reads
 * or changes the process-wide TZ; local times in a named zone live in tz.h.
 * All functions are thread-safe.
 */
#ifndef LB_UTIL_TIMEUTIL_H
#define LB_UTIL_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A point in time: Unix seconds plus 0 <= nsec < 1e9 (also for times before
 * 1970: -0.5 s is {-1, 500000000}). */
typedef struct lb_time {
    int64_t sec;
    int32_t nsec;
} lb_time;

/* Bytes needed for the longest text lb_time_format() writes, NUL included:
 * "9999-12-31T23:59:59.999999999Z". */
#define LB_TIME_RFC3339_MAX 31

/* lb_time_format()'s digits value that prints as many fractional digits as
 * needed (none for whole seconds, trailing zeros trimmed), like Go's
 * time.RFC3339Nano. */
#define LB_TIME_FRAC_AUTO (-1)

/* Parses an RFC 3339 date-time (`2026-02-18T14:30:00Z`,
 * `2026-02-18t14:30:00.5+01:00`) into *out.
 *
 * Rules: a 4-digit year 0000-9999, 2-digit month/day/hour/minute/second, each
 * range-checked (day against the month, so 02-29 only in leap years); `T` or
 * `t` between date and time; an optional fraction `.` followed by one or more
 * digits (any number: digits after the ninth are truncated, not rounded); then
 * `Z`, `z`, or a `+hh:mm` / `-hh:mm` offset (hh 00-23, mm 00-59). Leap second
 * 60 is rejected, as Go's time.Parse (and so Kubernetes) rejects it: Unix time
 * cannot represent it, and silently clamping would move the instant.
 *
 * Returns 0, or LB_EINVALID with a message naming the field (year, month, day,
 * hour, minute, second, fraction, offset) and the rule. *out is untouched on
 * error. */
int lb_time_parse_rfc3339(lb_time *out, const char *s);

/* Like lb_time_parse_rfc3339() for the `len` bytes at s (no NUL needed; an
 * embedded NUL is an error). */
int lb_time_parse_rfc3339n(lb_time *out, const char *s, size_t len);

/* Writes t as `YYYY-MM-DDTHH:MM:SSZ` in UTC into out (size bytes, NUL
 * terminated). digits 0 prints whole seconds (the fraction is truncated),
 * 1-9 prints exactly that many fractional digits (truncated), and
 * LB_TIME_FRAC_AUTO prints what is needed. Returns 0; LB_EINVALID if the year
 * is outside 0000-9999 or digits is out of range; LB_ETOOBIG if size is too
 * small (LB_TIME_RFC3339_MAX is always enough). */
int lb_time_format(char *out, size_t size, lb_time t, int digits);

/* Converts t to Unix nanoseconds in *out. Returns 0, or LB_EINVALID when the
 * result does not fit in int64_t (before 1677-09-21 or after 2262-04-11). */
int lb_time_to_ns(int64_t *out, lb_time t);

/* The lb_time for Unix nanoseconds ns. */
lb_time lb_time_from_ns(int64_t ns);

/* The current wall-clock time (CLOCK_REALTIME). */
lb_time lb_time_now(void);

/* A monotonic clock in nanoseconds (CLOCK_MONOTONIC), for measuring
 * durations and deadlines; unaffected by wall-clock changes. Its zero is
 * arbitrary. */
int64_t lb_time_monotonic_ns(void);

/* True when year (proleptic Gregorian) is a leap year. */
bool lb_time_is_leap_year(int64_t year);

/* Days in month (1-12) of year; 0 for a month outside 1-12. */
int lb_time_days_in_month(int64_t year, int month);

/* Days since 1970-01-01 of the proleptic Gregorian date year-month-day
 * (month 1-12, day 1-31; not range-checked). Valid for |year| < 2^40. */
int64_t lb_time_days_from_civil(int64_t year, int month, int day);

/* The date (*out_year, *out_month 1-12, *out_day 1-31) of the day `days`
 * after 1970-01-01. */
void lb_time_civil_from_days(int64_t *out_year, int *out_month, int *out_day, int64_t days);

/* Day of the week of the day `days` after 1970-01-01: 0 Sunday .. 6 Saturday. */
int lb_time_weekday(int64_t days);

/* Floor division and modulo (the remainder has the divisor's sign), for
 * splitting negative Unix times into days and seconds. d must be > 0. */
int64_t lb_time_floor_div(int64_t n, int64_t d);
int64_t lb_time_floor_mod(int64_t n, int64_t d);

#endif
