/* cron.h - 5-field cron schedules and their next fire time in a time zone.
 *
 * Syntax: `minute hour day-of-month month day-of-week`, fields separated by
 * spaces or tabs. Each field is a comma-separated list of `*`, `N`, `N-M`,
 * `*\/S`, `N-M/S` or `N/S` (from N to the field's maximum). Ranges are
 * minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC,
 * day-of-week 0-7 or SUN-SAT (0 and 7 are Sunday); names are
 * case-insensitive. Shorthands: @yearly (@annually), @monthly, @weekly,
 * @daily (@midnight), @hourly.
 *
 * Day matching follows classic cron: when both day-of-month and day-of-week
 * are restricted, a day matches if EITHER matches; when one of them is `*`,
 * only the other counts. As in Kubernetes CronJob (robfig/cron), only a plain
 * `*` counts as unrestricted: `*\/2` is a restriction.
 *
 * Daylight-saving time (cron_next): a scheduled local time that does not
 * exist because clocks jumped forward fires at the first valid instant after
 * the gap (the instant of the jump, e.g. 03:00 for 02:30 in a 02:00->03:00
 * gap), as Vixie cron catches up skipped jobs; several skipped times
 * collapse into that one firing. A local time that occurs twice because
 * clocks went back fires once, at its first occurrence. This applies to every
 * field, `*` included: an hourly job runs once for the repeated hour.
 *
 * Schedules are plain values: no allocation, safe to copy and to share
 * between threads.
 */
#ifndef LB_UTIL_CRON_H
#define LB_UTIL_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "util/tz.h"

#define CRON_MAX_EXPR    256  /* longest expression accepted, in bytes */
#define CRON_SEARCH_DAYS 3660 /* cron_next looks ~10 years ahead (Feb 29 needs 8) */

typedef struct cron_schedule {
    uint64_t minutes;   /* bit n: minute n */
    uint32_t hours;     /* bit n: hour n */
    uint32_t days;      /* bit n: day-of-month n (1-31) */
    uint16_t months;    /* bit n: month n (1-12) */
    uint8_t weekdays;   /* bit n: day-of-week n (0 Sunday - 6 Saturday) */
    bool days_star;     /* day-of-month was `*` */
    bool weekdays_star; /* day-of-week was `*` */
} cron_schedule;

/* Parses expr into *out. Returns 0, or LB_EINVALID with a message naming the
 * field (`minute`, `hour`, `day-of-month`, `month`, `day-of-week`) and the
 * rule broken, e.g. `cron "*\/0 * * * *": minute: step must be 1-59`. Also
 * rejects a day-of-month that never occurs in the chosen months
 * (`0 0 30 2 *`). *out is untouched on error. */
int cron_parse(cron_schedule *out, const char *expr);

/* Sets *out to the first fire time strictly after the Unix time
 * after_unix, with the schedule read as wall-clock time in tz (NULL: UTC);
 * see the DST rules above. Thread-safe; does not touch the process TZ.
 * Returns 0; LB_EINVALID when after_unix is out of range (|t| >= 2^39);
 * LB_ENOTFOUND when nothing fires within CRON_SEARCH_DAYS days. */
int cron_next(int64_t *out, const cron_schedule *sched, int64_t after_unix, const lb_tz *tz);

#endif
