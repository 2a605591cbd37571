/* backup/policy.c - schedule, never-empty and retention rules (see policy.h). */
#include "controller/backup/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

int backup_schedule_due(int64_t *out_due, int64_t *out_next, const cron_schedule *sched,
                        const lb_tz *tz, int64_t base, int64_t now)
{
    int64_t t = base, next = 0, due = 0;
    int steps = 0, rc;

    *out_due = 0;
    *out_next = 0;
    if (base < now) {
        /* A long outage with a frequent schedule: start close to now; only the
         * newest missed tick matters. */
        if (now - base > 400LL * 86400)
            t = now - 400LL * 86400;
        for (;;) {
            rc = cron_next(&next, sched, t, tz);
            if (rc == LB_ENOTFOUND)
                break;
            if (rc != 0)
                return rc;
            if (next > now)
                break;
            due = next;
            t = next;
            if (++steps >= BACKUP_MAX_TICK_STEPS) { /* every minute for months: jump ahead */
                t = now - 86400;
                steps = 0;
            }
        }
    }
    rc = cron_next(&next, sched, now, tz);
    if (rc != 0 && rc != LB_ENOTFOUND)
        return rc;
    *out_due = due;
    *out_next = rc == 0 ? next : 0;
    return 0;
}

backup_verdict backup_judge(char *why, size_t size, const backup_measure *cur,
                            const backup_measure *good)
{
    why[0] = '\0';
    if (cur->size_bytes == 0) {
        snprintf(why, size, "the backup is empty (0 bytes)");
        return BACKUP_BAD;
    }
    if (cur->has_manifest == 0) {
        snprintf(why, size, "the backup has no manifest");
        return BACKUP_BAD;
    }
    if (good == NULL)
        return BACKUP_GOOD;
    if (cur->count == 0 && good->count > 0) {
        snprintf(why, size, "the backup holds 0 rows/keys; the last good one held %lld",
                 (long long)good->count);
        return BACKUP_SUSPICIOUS;
    }
    if (cur->count >= 0 && good->count > 0 &&
        cur->count * 100 < good->count * BACKUP_SHRINK_PERCENT) {
        snprintf(why, size,
                 "the backup holds %lld rows/keys, less than %d%% of the last good one's %lld",
                 (long long)cur->count, BACKUP_SHRINK_PERCENT, (long long)good->count);
        return BACKUP_SUSPICIOUS;
    }
    if (cur->size_bytes > 0 && good->size_bytes > 0 &&
        cur->size_bytes * 100 < good->size_bytes * BACKUP_SHRINK_PERCENT) {
        snprintf(why, size, "the backup is %lld bytes, less than %d%% of the last good one's %lld",
                 (long long)cur->size_bytes, BACKUP_SHRINK_PERCENT, (long long)good->size_bytes);
        return BACKUP_SUSPICIOUS;
    }
    return BACKUP_GOOD;
}

size_t backup_retention_select(bool *del, const backup_copy *copies, size_t n, int64_t keep_last,
                               int64_t max_age_sec, int64_t now)
{
    size_t *order = calloc(n ? n : 1, sizeof(*order)), marked = 0;
    size_t i, j, newest_good = n;

    for (i = 0; i < n; i++) {
        del[i] = false;
        order[i] = i;
    }
    /* newest first (insertion sort: a policy keeps tens, not thousands) */
    for (i = 1; i < n; i++) {
        size_t v = order[i];
        for (j = i; j > 0 && copies[order[j - 1]].time < copies[v].time; j--)
            order[j] = order[j - 1];
        order[j] = v;
    }
    for (i = 0; i < n && newest_good == n; i++)
        if (copies[order[i]].good)
            newest_good = order[i];
    for (i = 0; i < n; i++) {
        const backup_copy *c = &copies[order[i]];
        bool by_count = keep_last >= 0 && (int64_t)i >= keep_last;
        bool by_age = max_age_sec >= 0 && now - c->time > max_age_sec;
        bool go;
        if (keep_last >= 0 && max_age_sec >= 0)
            go = by_count && by_age;
        else
            go = by_count || by_age;
        if (!go || !c->good || c->keep || order[i] == newest_good)
            continue;
        del[order[i]] = true;
        marked++;
    }
    free(order);
    return marked;
}
