/* duration.h - parsing and printing durations (`90s`, `15m`, `25h`, `90d`, `1h30m`).
 *
 * A duration is a non-negative count of nanoseconds in an int64_t (at most
 * about 292 years). The syntax is Go's time.ParseDuration plus a `d` unit:
 * one or more `<number><unit>` terms, each number a decimal with an optional
 * fraction (`1.5h`), units ns, us (or µs), ms, s, m, h and d (24 h, not a
 * calendar day). The bare value `0` is accepted. Signs, spaces, empty input
 * and overflow are errors. Thread-safe.
 */
#ifndef LB_UTIL_DURATION_H
#define LB_UTIL_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define LB_DURATION_NS_PER_SEC 1000000000LL

/* Bytes always enough for lb_duration_format(), NUL included
 * ("-2562047h47m16.854775808s"). */
#define LB_DURATION_FORMAT_MAX 32

/* Parses s into *out (nanoseconds). Returns 0, or LB_EINVALID with a message
 * that quotes s and names the rule: empty, negative, missing unit, unknown
 * unit (named), malformed number, or overflow. *out is untouched on error. */
int lb_duration_parse(int64_t *out, const char *s);

/* Writes ns in the shortest exact form that lb_duration_parse() reads back to
 * the same value: hours, minutes and seconds with zero parts left out
 * (`25h`, `1h30m`, `1m0.5s`), milli/micro/nanoseconds below one second
 * (`500ms`, `1.5us`), `0s` for zero, and a leading `-` for negative values.
 * Returns 0, or LB_ETOOBIG if size is too small. */
int lb_duration_format(char *out, size_t size, int64_t ns);

#endif
