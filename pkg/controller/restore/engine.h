/* restore/engine.h - the RestoreRequest step engine (DESIGN.md sections 3.1, 4, 5).
 *
 * One engine call advances one RestoreRequest by at most one bounded unit of
 * work and says what its status should become, which Events to record and
 * when to come back. The state machine lives entirely in status (so a crash
 * at any instant resumes from what was persisted):
 *
 *  - not started: validate and plan (invalid -> Valid False, phase Failed;
 *    dryRun -> phase Planned; a source this build cannot execute -> phase
 *    Pending, Progressing False/SourceNotSupported, nothing executed); else
 *    start: status.steps = every plan step Pending, phase Running, startedAt,
 *    Progressing True, observedGeneration = the generation the run executes.
 *  - each later call looks at the first step not Succeeded. Pending -> it is
 *    marked Running (attempts 1, startedAt, currentStep) and the call ends:
 *    the step function runs only on a later call, once Running is persisted
 *    (step.h). Running -> its function (from the dispatch table) is called
 *    once: DONE -> Succeeded (+ outputs), WAIT -> requeue after requeue_ms,
 *    FAILED -> Failed and the failure rule, transient (negative return) ->
 *    attempts + 1 and a jittered backoff; STEP_MAX_ATTEMPTS transient failures
 *    of the step in all fail it (reason RetriesExhausted; a WAIT does not reset
 *    the count); a step past its deadline fails (DeadlineExceeded, below).
 *  - "approval": phase AwaitingApproval (Approved False) until the annotations
 *    lifeboat.dev/approve=<who> and lifeboat.dev/approve-plan=<status.planHash>
 *    are on the object (deploy/'s ValidatingAdmissionPolicy admits the first
 *    only with the approving user's own API-server username); then
 *    status.approval {approvedBy, approvedAt, planHash}, Approved True. An
 *    approval for another plan hash (StalePlanHash), by the requester
 *    (lifeboat.dev/requested-by) when status.scope.requireDistinctApprover
 *    (SelfApprovalRefused; also when the requester is unknown), or by a user
 *    not in status.scope.approverUsers when that list is set and no groups are
 *    (ApproverNotAllowed) changes nothing but the Approved condition and a
 *    Warning Event. A destructive step is never called while approval is
 *    required and status.approval is absent, whatever the plan says.
 *  - failure rule: a prepare step failing -> phase Failed (nothing live
 *    changed; the restored copy stays and is named in outputs). A cutover
 *    step (or verification) failing with rollbackOnFailure -> "rollback/<step>"
 *    entries are appended to status.steps in the same write: first
 *    "rollback/stop-writers" when spec.rollout is set (kube_step_stop_writers:
 *    the rollout workloads scaled to 0, their replicas kept in the annotation
 *    lifeboat.dev/replicas-before, so nothing writes to the promoted copy
 *    while names and Secrets move back), then the undo of every
 *    cutover step that had started, newest first (patch-secrets ->
 *    kube_step_patch_secrets_undo, promote -> rds_step_promote_undo,
 *    scale-down -> kube_step_scale_up), then every rollout workload restarted
 *    again (kube_step_rollout with ctx->rollback, which also brings the
 *    replicas back), each run like any step (persisted before it is called).
 *    All undone -> phase RolledBack with the cause and, when writers could
 *    reach the restored copy, which copy holds their writes (it is kept);
 *    an undo that fails is recorded, the others still run, and the
 *    phase is Failed ("rollback incomplete"). Without rollbackOnFailure ->
 *    Failed. A cleanup step failing after a verified cutover -> Failed without
 *    rollback (the restore itself is in place; undoing it to fix a cleanup
 *    would be worse).
 *  - all Succeeded -> phase Succeeded, completedAt, durationSeconds, Ready
 *    True, Verified True when a verify or verification step ran.
 *
 * Abort and deletion. The annotation lifeboat.dev/abort=<reason>, or a
 * deletionTimestamp (the finalizer lifeboat.dev/restore-protection keeps the
 * object until the run is terminal), stops the run before its next step
 * call: the step that was Running is marked Failed (reason Aborted) and an
 * "abort" entry is appended to status.steps (after the plan's, before any
 * rollback/ entries), with an Event. Then:
 *  - before any cutover step started: phase Failed, nothing live changed; the
 *    restored copies are deleted through "rollback/<item>/restore" entries
 *    (rds_step_discard_copy) when spec.onAbort.deleteCopies (abort) or unless
 *    spec.onDelete.keepCopies (deletion); else kept and named in outputs;
 *  - in the cutover: rollback as for a failure (whatever rollbackOnFailure
 *    says: an abort is an explicit request to undo), phase RolledBack;
 *  - in cleanup (the cutover verified): phase Failed, the restore stays.
 * An abort during a rollback changes nothing (the rollback finishes). Once a
 * cutover step without an undo has run (the in-place delete), an abort or a
 * deletion does not stop the run: Progressing/FinishingIrreversible says so and
 * the restore runs to its end (else the database would stay deleted).
 *
 * Spec changes during a run: the CRD refuses them (a transition rule: spec is
 * immutable once status.startedAt is set). Should one get through (an older
 * CRD), a restore that has started keeps executing the
 * spec it started with, never a half-old half-new one; status.runSpecHash
 * (written by the operator through /status, which tenants cannot write) is
 * the sha256 of that spec, and a kept copy that does not hash to it is never
 * executed (the run holds, SpecChanged True/KeptSpecMismatch). That spec is kept in
 * the annotation lifeboat.dev/restore-spec ({"generation": N, "spec": {...}})
 * written before any step function is called (engine_reconcile); a later
 * generation gets condition SpecChanged=True/SpecChangedDuringRun saying the
 * change is ignored (create a new RestoreRequest for it). When that copy is
 * missing and the spec has moved, the run holds (SpecChanged
 * True/OriginalSpecUnavailable, no step runs) rather than guess.
 */
#ifndef LB_CONTROLLER_RESTORE_ENGINE_H
#define LB_CONTROLLER_RESTORE_ENGINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "api/restore.h"
#include "aws/request.h"
#include "controller/controller.h"
#include "controller/restore/step.h"
#include "kube/client.h"
#include "kube/recorder.h"
#include "util/metrics.h"
#include "util/timeutil.h"

#define ENGINE_APPROVE_ANNOTATION      "lifeboat.dev/approve"
#define ENGINE_APPROVE_PLAN_ANNOTATION "lifeboat.dev/approve-plan" /* = status.planHash */
#define ENGINE_REQUESTER_ANNOTATION    "lifeboat.dev/requested-by" /* set at create (deploy/ VAP) */
#define ENGINE_SPEC_ANNOTATION         "lifeboat.dev/restore-spec"
#define ENGINE_MAX_SPEC_BYTES          (200 * 1024) /* the kept spec (annotations total 256 KiB) */
#define ENGINE_MAX_EVENTS              8            /* Events one call may produce */
#define ENGINE_MAX_OUTPUTS             128          /* status.outputs (the CRD's maxItems) */
#define ENGINE_MAX_APPROVER            253  /* status.approval.approvedBy (the CRD's maxLength) */
#define ENGINE_RETRY_BASE_MS           1000 /* transient failure backoff: base .. cap */
#define ENGINE_RETRY_CAP_MS            60000
#define ENGINE_ROLLBACK_PREFIX         "rollback/"
#define ENGINE_ABORT_ANNOTATION        "lifeboat.dev/abort"
#define ENGINE_ABORT_STEP              "abort" /* the status.steps entry an abort adds */
#define ENGINE_FINALIZER               "lifeboat.dev/restore-protection"
#define ENGINE_STOP_WRITERS            "stop-writers" /* rollback/stop-writers */

/* One (source, action) -> function mapping. source API_SOURCE_NONE is for
 * the request-level steps (rollout, verification). undo, when set, is what a
 * rollback runs for a started cutover step of this action. */
typedef struct engine_entry {
    api_source source;
    const char *action;
    step_fn fn;
    step_undo_fn undo;
    int needs_aws; /* fails with NoAWSConfiguration, uncalled, when env->aws is NULL */
} engine_entry;

typedef struct engine_table {
    const engine_entry *entries;
    size_t n_entries;
} engine_table;

/* The functions of step.h for the sources this build executes (the RDS ones). */
extern const engine_table engine_default_table;

/* The entry for (source, action), or NULL. */
const engine_entry *engine_table_find(const engine_table *t, api_source source, const char *action);

/* Step deadlines. Every step but "approval" has one, counted from its
 * persisted startedAt (so a restart of the operator does not extend it). When
 * a Running step is found past it, the step fails with reason
 * DeadlineExceeded without being called again, and the failure rule applies
 * (in the cutover: rollback). A rollback entry has the deadline of the step it
 * undoes. Defaults (spec.timeouts.<key> overrides):
 *
 *   validate 10m, restore 30m, restoreCluster 30m, createWriter 30m,
 *   waitAvailable 6h, verify 30m, migrations 2h, scaleDown 10m, promote 30m,
 *   patchSecrets 5m, scaleUp 15m, preRestoreSnapshot 30m, waitSnapshot 6h,
 *   delete 30m, waitDeleted 2h, rollout 15m, verification 30m,
 *   cleanup 2h (counted after the item's cleanup.after), any other action
 *   ENGINE_DEFAULT_DEADLINE_S (spec.timeouts.default).
 *
 * The deadline in seconds of a step of `action` (item may be NULL) into
 * *out_sec; *out_field (may be NULL) = the spec.timeouts key used, NULL for a
 * default. Returns 0, or LB_ENOTFOUND for "approval" (no deadline). */
#define ENGINE_DEFAULT_DEADLINE_S (60 * 60)
int engine_step_deadline(int64_t *out_sec, const char **out_field, const api_restore_spec *spec,
                         const api_restore_item *item, const char *action);

typedef struct engine_metrics {
    metrics_metric *duration; /* lifeboat_restore_duration_seconds{phase} (histogram) */
    metrics_metric *phase;    /* lifeboat_restore_phase{phase}: RestoreRequests per phase (gauge) */
    metrics_metric *failures; /* lifeboat_restore_step_failures_total{reason} */
    metrics_metric *step_duration; /* lifeboat_restore_step_duration_seconds{kind,action,phase}
                                      (histogram, stepmetrics.h) */
} engine_metrics;

/* Registers the four metrics in reg (borrowed). */
int engine_metrics_init(engine_metrics *out, metrics_registry *reg);

/* The phases of status.phase, in the CRD's order (for the phase gauge). */
extern const char *const engine_phases[];
#define ENGINE_N_PHASES 8

typedef struct engine_env {
    kube_client *kube;         /* steps and status writes; NULL in pure unit tests */
    aws_client *aws;           /* NULL: no AWS configuration (RDS steps then fail saying so) */
    kube_recorder *recorder;   /* NULL: no Events */
    engine_metrics *metrics;   /* NULL: no metrics */
    const engine_table *table; /* NULL: engine_default_table */
    /* Tenancy (DESIGN.md 3.4). enforce_scopes: a request starts only when
     * `scope` (the RecoveryScope selecting its namespace, borrowed) admits
     * every name it touches (restore/scope.h); scope NULL -> Valid False with
     * scope_error. The operator always enforces; unit tests may not. */
    int enforce_scopes;
    const json_t *scope;
    const char *scope_error;
    /* the refusals of the requester's SubjectAccessReviews (restore/access.h)
     * or NULL: Valid False with it, after the scope's own checks */
    const char *access_error;
    /* the scope's role `aws` acts as (NULL: none) and the operator's own
     * client that assumed it; handed to the steps (step_ctx) */
    const char *role_arn;
    aws_client *aws_base;
} engine_env;

typedef struct engine_event {
    char type[8]; /* Normal | Warning */
    char reason[STEP_MAX_REASON];
    char message[CTRL_MAX_EVENT_MESSAGE];
} engine_event;

/* The result of one call of a step function, kept so that a status write
 * retried after a 409 applies it again instead of calling the step twice. */
typedef struct engine_memo {
    int used;       /* a step function was called in this reconcile */
    char step[512]; /* which step record (name, startedAt, attempts) it was for */
    char started_at[LB_TIME_RFC3339_MAX];
    json_int_t attempts;
    int rc;
    char error[STEP_MAX_MESSAGE]; /* lb_error_last() of a transient failure */
    step_result result;           /* result.output owned by the memo */
    json_t *record;               /* a copy of the step record the call was made on */
} engine_memo;

typedef struct engine_out {
    int64_t requeue_ms; /* < 0: nothing scheduled (a watch event brings the object back) */
    int called;         /* a step function ran in this call */
    engine_event events[ENGINE_MAX_EVENTS];
    size_t n_events;
    char failure_reason[STEP_MAX_REASON]; /* a step failed in this call: its reason */
    int finished;                         /* the run reached a terminal phase in this call */
    double duration_s;                    /* ... after this long */
    char resource_version[64];            /* status written: the resourceVersion of our write */
} engine_out;

/* Advances `status` (a copy of obj's status, changed in place) by one unit at
 * time `now`. With memo NULL no step function is ever called (the pure
 * desired status: a Running step just asks to be called again). With a memo:
 * the first call of a step function is recorded in it; a later engine_step
 * with the same memo (a status write retried after a 409) re-applies that
 * result if the status still shows the same step attempt, and calls nothing.
 * Returns 0 or a negative code (nothing to apply). */
int engine_step(json_t *status, engine_out *out, const engine_env *env, const json_t *obj,
                lb_time now, engine_memo *memo);

/* Releases what a memo holds. */
void engine_memo_dispose(engine_memo *memo);

/* The whole reconcile of one RestoreRequest: reads the object fresh from the
 * server while a run is in progress (the informer cache may be behind our own
 * last write), keeps the spec annotation, writes the status through the
 * status writer (409 -> re-read, re-apply with the memo), then records the
 * Events and metrics. On 0, *out_written says whether status was written and
 * *out what to do next. */
int engine_reconcile(engine_out *out, int *out_written, const engine_env *env, const json_t *obj,
                     lb_time now);

/* Non-zero when a reconcile of obj would do nothing: a finished run (or a
 * Planned / invalid / unsupported request) whose status matches its
 * generation, or a request waiting for an approval annotation that is not
 * there. Cheap: no parsing of the spec. */
int engine_settled(const json_t *obj);

#endif
