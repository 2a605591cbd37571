/* backup/reconcile.h - the BackupPolicy controller (DESIGN.md section 3.3).
 *
 * backup_desired_status(): the pure part: Valid True, or False/InvalidSpec
 * naming the fields; status.observedGeneration.
 *
 * The reconcile (ctrl_kind_backup.run) reads the policy fresh from the
 * server and does at most one bounded unit per call, all state in status:
 *  - no run in progress: a new lifeboat.dev/backup-now token (different from
 *    status.lastBackupNowToken) starts a run; else, unless suspended, the
 *    newest schedule tick t with lastScheduleTime (or creation) < t <= now
 *    starts one: several missed ticks run once. With
 *    spec.startingDeadlineSeconds, a tick found later than that is skipped
 *    (history entry Skipped, Event MissedSchedule) and the next one waited
 *    for. status.run {trigger, tick|token, startedAt, stamp, targets[]
 *    Pending} and lastScheduleTime/lastBackupNowToken are WRITTEN BEFORE
 *    anything is created, and backup names derive from run.stamp, so a
 *    kill -9 at any instant makes exactly one backup per tick or token.
 *    Only one run at a time: a tick or token arriving during a run starts
 *    after it (no overlap).
 *  - a run: its first unfinished target goes Pending -> Running (written),
 *    then backup_target_run() is called once per reconcile: WAIT requeues,
 *    DONE is judged against the target's lastGood (backup_judge(): BAD ->
 *    Failed, SUSPICIOUS -> Suspicious, with an Event), FAILED -> Failed with
 *    status.targets[].lastError, a transient error retries (10 in all), and a
 *    target still running BACKUP_TARGET_DEADLINE_S after its start fails
 *    (DeadlineExceeded), so a stuck backup cannot stop the schedule.
 *    When every target is done: retention per target (never the backup just
 *    made), the audit, a status.history entry (last 10 kept), run removed,
 *    lastSuccessfulTime when every target was good.
 *  - always: nextScheduleTime (absent when suspended), BackupStale naming
 *    each target whose last good backup (or, never, the policy's creation)
 *    is older than staleAfter and by how much, ConfigDrift from the audit
 *    (every BACKUP_AUDIT_INTERVAL_S and after every run), Ready, and the
 *    metrics. The reconcile comes back at the next tick, the moment a target
 *    turns stale, or the next audit, whichever is first; never blocks.
 */
#ifndef LB_CONTROLLER_BACKUP_RECONCILE_H
#define LB_CONTROLLER_BACKUP_RECONCILE_H

#include <jansson.h>

#include "controller/controller.h"
#include "util/metrics.h"

#define BACKUP_NOW_ANNOTATION   "lifeboat.dev/backup-now"
#define BACKUP_HISTORY_MAX      10
#define BACKUP_AUDIT_INTERVAL_S 60
#define BACKUP_MAX_ATTEMPTS     10
#define BACKUP_MAX_EVENTS       8
#define BACKUP_TARGET_DEADLINE_S                                                                   \
    (6 * 3600) /* a target unfinished then fails; = the Job's deadline */

typedef struct backup_metrics {
    metrics_metric
        *last_success;        /* lifeboat_backup_last_success_timestamp_seconds{policy,target} */
    metrics_metric *failures; /* lifeboat_backup_failures_total{policy,target,reason} */
    metrics_metric *stale;    /* lifeboat_backup_stale{policy} 0/1 */
    metrics_metric *drift;    /* lifeboat_backup_config_drift{policy} 0/1 */
} backup_metrics;

/* Registers the metrics in reg (borrowed). */
int backup_metrics_init(backup_metrics *out, metrics_registry *reg);

int backup_desired_status(json_t *status, const json_t *obj, lb_time now);

#endif
