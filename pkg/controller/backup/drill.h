/* backup/drill.h - scheduled restore drills: spec.verification.schedule
 * creates a VerificationRun from spec.verification.template on its own cron
 * (and time zone), owned by the policy, keeping the newest BACKUP_DRILLS_KEEP.
 *
 * The VerificationRun is named "<policy>-drill-<YYYYMMDDHHMM of the tick>",
 * so a crash between the create and the status write cannot make two for one
 * tick (the create answers 409 and is adopted). Missed ticks collapse into
 * the newest, as for backups. Drills never overlap: while the newest drill
 * has not finished (Passed/Failed) no new one is created, and the ticks due
 * meanwhile collapse into one drill after it. status.lastVerification
 * {name, time, phase} follows the newest drill's phase (polled every
 * BACKUP_DRILL_POLL_MS while it runs). Only finished drills are pruned. The
 * VerificationRun controller runs them.
 */
#ifndef LB_CONTROLLER_BACKUP_DRILL_H
#define LB_CONTROLLER_BACKUP_DRILL_H

#include <jansson.h>
#include <stdint.h>

#include "api/backup.h"
#include "kube/client.h"
#include "util/timeutil.h"

#define BACKUP_DRILLS_KEEP   3
#define BACKUP_DRILL_POLL_MS 5000

/* Advances the drills of policy bp (its status copy in st, changed in place).
 * *out_requeue_ms: when to come back (the next tick), -1 for never;
 * *out_created: 1 when a VerificationRun was created in this call. Returns 0
 * or a negative Kubernetes error. */
int backup_drill(int64_t *out_requeue_ms, int *out_created, json_t *st, kube_client *kube,
                 const json_t *bp, const api_backup_spec *spec, lb_time now);

#endif
