/* backup/policy.h - the BackupPolicy rules that need no I/O: which schedule
 * tick is due, whether a new backup is good, which backups retention deletes.
 * Unit-tested in tests/unit/test_backup_policy.c.
 */
#ifndef LB_CONTROLLER_BACKUP_POLICY_H
#define LB_CONTROLLER_BACKUP_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cron.h"
#include "util/tz.h"

#define BACKUP_SHRINK_PERCENT 50     /* smaller than this % of the last good one: suspicious */
#define BACKUP_MAX_TICK_STEPS 200000 /* cron_next steps when catching up after an outage */

/* The schedule at time now, given the last tick acted on (or the policy's
 * creation when none) in `base`: *out_due = the newest tick t with
 * base < t <= now, or 0 when none is due (several missed ticks collapse into
 * that one: a missed tick runs once, not N times); *out_next = the first tick
 * after now. Returns 0 or cron_next's error. */
int backup_schedule_due(int64_t *out_due, int64_t *out_next, const cron_schedule *sched,
                        const lb_tz *tz, int64_t base, int64_t now);

/* What is known of a backup; -1 for what its kind cannot say. */
typedef struct backup_measure {
    int64_t size_bytes;
    int64_t count;    /* rows (pgDump) or keys (redisRDB) */
    int has_manifest; /* 1, 0 missing, -1 not applicable */
} backup_measure;

typedef enum backup_verdict {
    BACKUP_GOOD = 0,
    BACKUP_SUSPICIOUS, /* made, but shrank or emptied: not counted as a success */
    BACKUP_BAD,        /* zero bytes or no manifest: a failure */
} backup_verdict;

/* Judges cur against the last good backup (good NULL: none yet). Rules
 * (README "Backups"): size 0 or a missing manifest -> BAD; a count of 0 when
 * the last good one had rows/keys -> SUSPICIOUS; a size or count below
 * BACKUP_SHRINK_PERCENT % of the last good one's -> SUSPICIOUS. why (size
 * bytes) says which rule, with the numbers. */
backup_verdict backup_judge(char *why, size_t size, const backup_measure *cur,
                            const backup_measure *good);

/* One backup this policy made, for retention. */
typedef struct backup_copy {
    int64_t time; /* creation, Unix seconds */
    bool good;    /* complete (available) */
    bool keep;    /* made by the current run: never deleted */
} backup_copy;

/* Marks in del[i] the copies retention deletes: beyond the newest keep_last
 * (-1: no count rule) and, when max_age_sec >= 0, older than it (with both
 * rules a copy goes only when both say so; with one, that one decides).
 * Never the newest good copy, never a `keep` one, never one that is not good
 * (an unfinished snapshot). Returns how many are marked. */
size_t backup_retention_select(bool *del, const backup_copy *copies, size_t n, int64_t keep_last,
                               int64_t max_age_sec, int64_t now);

#endif
