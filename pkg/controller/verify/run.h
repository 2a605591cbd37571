/* verify/run.h - the VerificationRun state machine (DESIGN.md section 3.2).
 *
 * One call of verify_run() advances a VerificationRun by at most one bounded
 * unit of work and writes its status; the state lives entirely in status, so
 * a kill -9 at any instant resumes from what was persisted:
 *
 *   (none)    validate: invalid -> Valid False, phase Failed, nothing runs;
 *             valid -> phase Pending, startedAt, Valid True. With a
 *             scratchRestore the finalizer lifeboat.dev/verification-protection
 *             is added first, so deleting the run waits for the cleanup.
 *   Pending   scratchRestore: the snapshot is chosen (latestFrom: the newest
 *             available, or with selection.randomWithin one of the available
 *             snapshots not older than that, chosen from the run's uid) and the
 *             source validated by the restore engine's own step
 *             (rds_step_validate); status.scratch records the instance id
 *             ("<source>-vr-<uid[0:8]>"), the snapshot and the restore point
 *             BEFORE anything is created; phase Restoring. Without one: Running.
 *   Restoring the restore engine's steps run on a one-item restore spec built
 *             from scratchRestore (rds_step_restore: tagged
 *             lifeboat.dev/owner=VerificationRun/<ns>/<name> and uid,
 *             publiclyAccessible false; then rds_step_wait_available, polled);
 *             scratch.restoreSeconds is restore call to available.
 *   Running   one check per call (verify_check_result, the engine shared with
 *             RestoreRequest verification), appended to status.results, then
 *             the rpo query (result "rpo"; measured.rpoSeconds is the age of
 *             the newest row at the restore point: the snapshot's creation
 *             time, the point-in-time restore's time, or now without a drill).
 *             When all ran: status.verdict Passed|Failed and
 *             measured.rtoSeconds (startedAt to the checks' end).
 *   cleanup   (verdict set) the scratch instance is deleted by the restore
 *             engine's rds_step_discard_copy (no final snapshot,
 *             DeleteAutomatedBackups=false, only an instance carrying this
 *             run's uid tag) and waited for; then phase = verdict, finishedAt,
 *             summary "passed/total", condition SLOMet against spec.slo, the
 *             JSON report (the status as written, with spec and metadata) put
 *             to s3://report.bucket/<prefix><ns>/<name>-<finishedAt>.json,
 *             metrics, the finalizer removed.
 *
 * timeoutSeconds (counted from the persisted startedAt) past: the checks not
 * run yet get a failed result ("not run: timeoutSeconds exceeded") and the run
 * goes to cleanup with verdict Failed. A deletionTimestamp before the end does
 * the same ("deleted during the run"). A finished run is deleted
 * ttlSecondsAfterFinished after finishedAt.
 */
#ifndef LB_CONTROLLER_VERIFY_RUN_H
#define LB_CONTROLLER_VERIFY_RUN_H

#include <jansson.h>

#include "controller/controller.h"
#include "util/metrics.h"

#define VERIFY_FINALIZER        "lifeboat.dev/verification-protection"
#define VERIFY_SCRATCH_ITEM     "scratch"
#define VERIFY_POLL_MS          2000
#define VERIFY_RETRY_MS         5000
#define VERIFY_MAX_REPORT_BYTES (4u * 1024 * 1024)

typedef struct verify_metrics {
    metrics_metric *rto;          /* lifeboat_verification_rto_seconds{namespace,name} */
    metrics_metric *rpo;          /* lifeboat_verification_rpo_seconds{namespace,name} */
    metrics_metric *last_success; /* lifeboat_verification_last_success_timestamp_seconds */
    metrics_metric *check;        /* lifeboat_verification_check_passed{namespace,name,check} */
    metrics_metric *runs;         /* lifeboat_verification_runs_total{phase} */
    metrics_metric *slo_met;      /* lifeboat_verification_slo_met{namespace,name}: 1/0 */
    metrics_metric *rto_slo;      /* lifeboat_verification_rto_objective_seconds{namespace,name} */
    metrics_metric *rpo_slo;      /* lifeboat_verification_rpo_objective_seconds{namespace,name} */
} verify_metrics;

/* Registers the metrics above in reg (borrowed). Returns 0 or a negative code. */
int verify_metrics_init(verify_metrics *out, metrics_registry *reg);

/* The reconcile of one VerificationRun (ctrl_kind_verify.run): same contract
 * as ctrl_reconcile(). */
int verify_run(ctrl_result *out, const ctrl_env *env, const json_t *obj);

#endif
