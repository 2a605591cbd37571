/* libFuzzer target: cron_parse() on arbitrary text, then cron_next() in UTC,
 * America/New_York and Europe/Berlin, checking what every fire time must
 * satisfy: strictly after the start, increasing, and on the schedule in
 * local wall-clock time (or exactly at the end of a DST gap). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/cron.h"
#include "util/timeutil.h"
#include "util/tz.h"

static const lb_tz *zones[3];

static void load_zones(void)
{
    lb_tz *z;
    zones[0] = lb_tz_utc();
    zones[1] = lb_tz_load(&z, "America/New_York") == 0 ? z : lb_tz_utc();
    zones[2] = lb_tz_load(&z, "Europe/Berlin") == 0 ? z : lb_tz_utc();
}

static int on_schedule(const cron_schedule *s, int64_t local)
{
    int64_t days = lb_time_floor_div(local, 86400);
    int64_t secs = lb_time_floor_mod(local, 86400);
    int64_t y;
    int m, d;
    int dom_ok, dow_ok;
    lb_time_civil_from_days(&y, &m, &d, days);
    if (secs % 60 != 0 || !(s->minutes & (1ULL << (secs / 60 % 60))) ||
        !(s->hours & (1u << (secs / 3600))) || !(s->months & (1u << m)))
        return 0;
    dom_ok = (s->days >> d) & 1;
    dow_ok = (s->weekdays >> lb_time_weekday(days)) & 1;
    return (s->days_star || s->weekdays_star) ? (dom_ok && dow_ok) : (dom_ok || dow_ok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char expr[CRON_MAX_EXPR + 8];
    cron_schedule s;
    uint32_t h = 2166136261u;

    if (zones[0] == NULL)
        load_zones();
    if (size > CRON_MAX_EXPR + 4)
        return 0;
    memcpy(expr, data, size);
    expr[size] = '\0';
    if (cron_parse(&s, expr) != 0)
        return 0;
    if ((s.minutes >> 60) != 0 || (s.hours >> 24) != 0 || (s.days & 1) != 0 ||
        (s.months & 0xe001) != 0 || (s.weekdays >> 7) != 0 || s.minutes == 0 || s.hours == 0 ||
        s.days == 0 || s.months == 0 || s.weekdays == 0)
        abort();
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    for (int z = 0; z < 3; z++) {
        /* A start time between 1970 and 2106 chosen by the input. */
        int64_t t = (int64_t)h + (int64_t)z * 977;
        for (int i = 0; i < 3; i++) {
            int64_t next;
            int32_t off;
            if (cron_next(&next, &s, t, zones[z]) != 0)
                abort(); /* parse guarantees the schedule fires within 8 years */
            if (next <= t)
                abort();
            off = lb_tz_offset_at(zones[z], next);
            if (!on_schedule(&s, next + off) && lb_tz_offset_at(zones[z], next - 1) == off)
                abort();
            t = next;
        }
    }
    return 0;
}
