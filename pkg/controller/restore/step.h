/* restore/step.h - the contract between the restore step engine and the steps.
 *
 * The engine (restore/engine.h) walks a RestoreRequest's plan (controller/plan.h)
 * and, on each reconcile, runs at most one call of one step's function. A step
 * function does one bounded unit of work (no call blocks longer than a few
 * seconds: a 20-minute RDS restore is one API call, then polls) and reports a
 * verdict in a step_result:
 *
 *   STEP_DONE    the step's effect is in place (checked, not assumed);
 *   STEP_WAIT    call again after requeue_ms (polling a cloud operation, a Job,
 *                a rollout); message says what it waits for;
 *   STEP_FAILED  the step cannot succeed (an AWS non-retryable error, a check
 *                that failed, a Job that failed); reason + message say why.
 *
 * The return value is separate from the verdict: 0 means *out is filled; a
 * negative LB_* code (message in lb_error_last()) means a transient failure
 * (network, throttling, a 409) - the engine counts an attempt and requeues with
 * backoff, and after STEP_MAX_ATTEMPTS transient failures of the step in all (a
 * WAIT does not reset the count) fails the step with the last message.
 *
 * Deadlines. Every step but approval has one, counted from its persisted
 * startedAt (defaults and the spec.timeouts keys: engine.h, engine_step_deadline;
 * e.g. rollout 15m, promote 30m, waitAvailable 6h, patchSecrets 5m); a step
 * still unfinished then is failed by the engine (DeadlineExceeded) without
 * being called again. A WAIT's requeue_ms is cut to the time left. A step
 * function may fail earlier when it recognises a terminal state (rollout:
 * CrashLooping).
 *
 * Every AWS call and Kubernetes write a step makes is fenced on the operator
 * still holding the leader Lease (controller/manager.h): a fenced call returns
 * LB_EFENCED (or LB_ETIMEOUT past the reconcile bound), which a step returns as
 * a transient failure.
 *
 * Crash safety (DESIGN.md section 5). The engine persists status.steps[i] with
 * phase Running, attempts and startedAt BEFORE it first calls a step, so:
 *  - every step function checks actual state first, then acts: it may be
 *    called again after a crash at any instant, and must then find its effect
 *    already in place (adopt it) instead of repeating it;
 *  - a name or value that depends on time is derived from a persisted step
 *    start time (step_started_at()), never from `now`: e.g. promote renames the
 *    source to "<source>-old-<YYYYMMDDHHMMSS of the promote step's startedAt>",
 *    rollout writes restartedAt = the rollout step's startedAt, in-place takes
 *    "<id>-pre-restore-<same format of its pre-restore-snapshot step's startedAt>";
 *  - AWS resources a step creates carry the tags lifeboat.dev/owner =
 *    "RestoreRequest/<ns>/<name>" and lifeboat.dev/uid = <uid> (step_tags()); a
 *    target that exists without this request's uid tag is never adopted or
 *    touched: the step fails with reason TargetNotOwned;
 *  - values that must survive for a later undo live outside status: previous
 *    Secret values in the Secret "lifeboat-rollback-<rr name>" (owned by the
 *    RestoreRequest, written before the live Secret is patched); replicas
 *    before a scale-down in the workload's annotation
 *    "lifeboat.dev/replicas-before" (set in the same patch that scales to 0).
 *
 * Secrets never appear in a message, a log line, an event or a Job's args.
 */
#ifndef LB_CONTROLLER_RESTORE_STEP_H
#define LB_CONTROLLER_RESTORE_STEP_H

#include <jansson.h>
#include <stdint.h>

#include "api/restore.h"
#include "aws/request.h"
#include "controller/plan.h"
#include "kube/client.h"
#include "util/timeutil.h"

#define STEP_MAX_MESSAGE  1024 /* status.steps[].message, bytes */
#define STEP_MAX_REASON   64   /* CamelCase reason for conditions/events */
#define STEP_MAX_ATTEMPTS 10   /* transient failures in a row before a step fails */
#define STEP_POLL_MS      2000 /* default poll interval for STEP_WAIT */

typedef enum step_verdict {
    STEP_DONE = 0,
    STEP_WAIT,
    STEP_FAILED,
} step_verdict;

typedef struct step_result {
    step_verdict verdict;
    int64_t requeue_ms;             /* STEP_WAIT: poll again after this (0: at once) */
    char reason[STEP_MAX_REASON];   /* STEP_FAILED: e.g. "InvalidRestoreFault", "CheckFailed" */
    char message[STEP_MAX_MESSAGE]; /* human sentence for status.steps[].message */
    json_t *output;                 /* optional, owned by the result: fields merged into this
                                       item's status.outputs[] entry (instanceIdentifier,
                                       clusterIdentifier, endpoint, port, snapshotIdentifier,
                                       location); the engine takes it */
} step_result;

/* Everything a step may use. All borrowed for the duration of one call. */
typedef struct step_ctx {
    kube_client *kube;
    aws_client *aws;              /* NULL when the operator has no AWS configuration */
    const json_t *rr;             /* the RestoreRequest (metadata.name/namespace/uid/annotations) */
    const json_t *status;         /* its current status (steps[], outputs[]) */
    const api_restore_spec *spec; /* parsed, defaults applied */
    const api_restore_item *item; /* NULL for approval, rollout/..., verification */
    const plan_step *step;        /* the step being run */
    lb_time now;
    int rollback; /* non-zero when called to undo (step_undo_fn) */
    /* HTTP check hosts the request's scope allows (util/netguard.h patterns);
     * NULL/0: no scope list, the operator's policy alone decides */
    const char *const *http_hosts;
    size_t n_http_hosts;
    /* the scope's role (DESIGN.md 3.4) when `aws` acts as it, else NULL, and
     * the operator's own client that assumes it (NULL: aws): steps that hand
     * AWS work to a Job mint that Job a session of role_arn through aws_base */
    const char *role_arn;
    aws_client *aws_base;
} step_ctx;

/* One step action. See the file comment for the contract. */
typedef int (*step_fn)(step_result *out, const step_ctx *ctx);

/* Undo of a cutover step during rollback (rollbackOnFailure): same contract and
 * the same idempotence; STEP_DONE when the previous state is back. */
typedef int (*step_undo_fn)(step_result *out, const step_ctx *ctx);

/* Sets the verdict and a printf message (truncated to STEP_MAX_MESSAGE). Returns 0. */
int step_done(step_result *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int step_wait(step_result *out, int64_t requeue_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int step_failed(step_result *out, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds key=value (string) or key=integer to out->output, creating it. */
void step_output_str(step_result *out, const char *key, const char *value);
void step_output_int(step_result *out, const char *key, json_int_t value);

/* The persisted startedAt of the step called `name` in ctx->status.steps, for
 * deriving names from time. Returns 0 and *out, or LB_ENOTFOUND when that step
 * has not started. */
int step_started_at(lb_time *out, const step_ctx *ctx, const char *name);

/* "YYYYMMDDHHMMSS" (UTC) of t into buf (at least 15 bytes). */
void step_format_compact(char *buf, size_t size, lb_time t);

/* This item's status.outputs[] entry (borrowed), or NULL. */
const json_t *step_item_output(const step_ctx *ctx);

/* The two ownership tags of the RestoreRequest: lifeboat.dev/owner =
 * "RestoreRequest/<ns>/<name>", lifeboat.dev/uid = <uid>. Strings borrowed from
 * ctx->rr / a static buffer in *out; valid while ctx->rr lives. */
typedef struct step_tags {
    char owner[320];
    const char *uid;
} step_tags;
void step_tags_of(step_tags *out, const step_ctx *ctx);

/* Reads key `key` of Secret `name` in the RestoreRequest's namespace into a new
 * NUL-terminated string (*out, caller frees and should wipe). LB_ENOTFOUND when
 * the Secret or key is missing; the message names the Secret and key, never the
 * value. */
int step_secret_value(char **out, const step_ctx *ctx, const char *name, const char *key);

/* The step functions, by source and action (plan.h lists the actions). Each is
 * implemented in one file:
 *   steps_rds.c    RDS point-in-time, snapshot, in place, cluster
 *   steps_verify.c an item's verify.checks (SQL on the restored copy) and the
 *                  request's post-restore `verification` checklist
 *   steps_kube.c   migrations Job, secret patches, scale-down/up, rollout
 *   steps_redis.c  redisRDB: into the pod through exec, installed by persistence mode
 *   steps_secrets.c secretVersion: AWSCURRENT moved to a previous version
 *   steps_s3.c     s3Objects: undelete, version, pointInTime by server-side copies
 *   steps_s3sync.c s3Sync: server-side copies from a replica bucket, key by key
 * The engine's dispatch table (engine.c) maps (source, action) to these. */

/* --- steps_rds.c --------------------------------------------------------------- */
int rds_step_validate(step_result *out, const step_ctx *ctx);        /* rds* validate */
int rds_step_restore(step_result *out, const step_ctx *ctx);         /* pit/snapshot restore */
int rds_step_restore_cluster(step_result *out, const step_ctx *ctx); /* cluster PITR */
int rds_step_create_writer(step_result *out, const step_ctx *ctx);   /* cluster writer */
int rds_step_wait_available(step_result *out, const step_ctx *ctx);
int rds_step_promote(step_result *out, const step_ctx *ctx);              /* promote: rename */
int rds_step_promote_undo(step_result *out, const step_ctx *ctx);         /* rename back */
int rds_step_pre_restore_snapshot(step_result *out, const step_ctx *ctx); /* in place */
int rds_step_wait_snapshot(step_result *out, const step_ctx *ctx);
int rds_step_delete(step_result *out, const step_ctx *ctx); /* in place: the original */
int rds_step_wait_deleted(step_result *out, const step_ctx *ctx);
int rds_step_restore_in_place(step_result *out, const step_ctx *ctx); /* under original id */
int rds_step_cleanup(step_result *out, const step_ctx *ctx);          /* delete old, final snap */

/* --- steps_discard.c ----------------------------------------------------------- */
/* Undo of "<item>/restore" before the cutover (abort, deletion): deletes the
 * restored copy (outputs' instanceIdentifier, else the target id) without a
 * final snapshot when it carries this request's uid tag, and waits until it is
 * gone; an instance without the tag is left alone (DONE, message says so). */
int rds_step_discard_copy(step_result *out, const step_ctx *ctx);

/* --- steps_verify.c ------------------------------------------------------------ */
int verify_step_item(step_result *out, const step_ctx *ctx);         /* "<item>/verify" */
int verify_step_verification(step_result *out, const step_ctx *ctx); /* "verification" */
/* One check of a checklist `ver` ({target, checks, rpo}: a VerificationRun
 * spec or spec.verification) for a VerificationRun, which runs one check per
 * reconcile: runs ver.checks[index] (sql against ver.target or else the first
 * RDS item of ctx->spec with an endpoint in ctx->status.outputs) and sets *out
 * to its status.results[] entry {name, passed, observed, expected, message,
 * durationMs} (caller frees). A check that fails or cannot run is a result
 * with passed false, not an error. Returns 0, or LB_EINVALID for a bad index. */
int verify_check_result(json_t **out, const step_ctx *ctx, const json_t *ver, size_t index);
/* ver.rpo measured at time `at` (a drill's restore point): *out is the
 * result entry "rpo"; *out_age the newest row's age in seconds, valid when
 * *out_measured is 1. Returns 0, or LB_EINVALID when ver has no rpo. */
int verify_rpo_result(json_t **out, int64_t *out_age, int *out_measured, const step_ctx *ctx,
                      const json_t *ver, lb_time at);

/* --- steps_kube.c -------------------------------------------------------------- */
int kube_step_migrations(step_result *out, const step_ctx *ctx); /* Job on the copy */
int kube_step_patch_secrets(step_result *out, const step_ctx *ctx);
int kube_step_patch_secrets_undo(step_result *out, const step_ctx *ctx);
int kube_step_scale_down(step_result *out, const step_ctx *ctx);
int kube_step_scale_up(step_result *out, const step_ctx *ctx);
int kube_step_rollout(step_result *out, const step_ctx *ctx); /* "rollout/<Kind>/<name>" */
/* Rollback only ("rollback/stop-writers"): scales every spec.rollout
 * Deployment/StatefulSet to 0 (replicas before kept in the annotation
 * lifeboat.dev/replicas-before, in the same patch) and waits for no replicas;
 * DaemonSets cannot be scaled and are named in the message. kube_step_rollout
 * with ctx->rollback brings the kept count back. */
int kube_step_stop_writers(step_result *out, const step_ctx *ctx);

/* --- steps_pgdump.c ------------------------------------------------------------ */
int pgdump_step_validate(step_result *out, const step_ctx *ctx); /* object, manifest */
int pgdump_step_download(step_result *out, const step_ctx *ctx); /* agent --verify-only Job */
int pgdump_step_checksum(step_result *out, const step_ctx *ctx); /* its result */
int pgdump_step_load(step_result *out, const step_ctx *ctx);     /* agent load Job */

/* --- steps_filearchive.c ------------------------------------------------------- */
int filearchive_step_validate(step_result *out, const step_ctx *ctx); /* claim, object */
int filearchive_step_download(step_result *out, const step_ctx *ctx); /* --verify-only Job */
int filearchive_step_extract(step_result *out, const step_ctx *ctx);  /* extract Job */

/* --- steps_job.c --------------------------------------------------------------- */
int job_step_validate(step_result *out, const step_ctx *ctx); /* template, name free */
int job_step_run(step_result *out, const step_ctx *ctx);      /* the request's Job */

/* --- steps_redis.c ------------------------------------------------------------- */
int redis_step_validate(step_result *out, const step_ctx *ctx); /* object, manifest, pod, CONFIG */
int redis_step_download(step_result *out, const step_ctx *ctx); /* S3 -> temp file in the pod */
int redis_step_checksum(step_result *out, const step_ctx *ctx); /* sha256sum, redis-check-rdb */
int redis_step_install(step_result *out, const step_ctx *ctx);  /* by the pod's persistence */
int redis_step_install_undo(step_result *out, const step_ctx *ctx); /* files back + restart */
int redis_step_restart(step_result *out, const step_ctx *ctx);
int redis_step_restart_undo(step_result *out, const step_ctx *ctx);
int redis_step_check_keys(step_result *out, const step_ctx *ctx); /* SCAN count, minKeys */

/* --- steps_secrets.c ----------------------------------------------------------- */
int secret_step_validate(step_result *out, const step_ctx *ctx);          /* version exists; ids */
int secret_step_make_current(step_result *out, const step_ctx *ctx);      /* move AWSCURRENT */
int secret_step_make_current_undo(step_result *out, const step_ctx *ctx); /* move it back */

/* --- steps_s3.c ---------------------------------------------------------------- */
int s3obj_step_validate(step_result *out, const step_ctx *ctx); /* versions listed */
int s3obj_step_diff(step_result *out, const step_ctx *ctx);     /* changes: counts, keys */
int s3obj_step_apply(step_result *out, const step_ctx *ctx);    /* copies, marker removals */

/* --- steps_s3sync.c ------------------------------------------------------------ */
/* Above max_objects keys on either side under an item's prefix, the item is
 * synced by an Indexed Job of `lifeboat-agent s3-sync` shards instead of in
 * the operator (steps_s3sync.c explains both modes). The operator's
 * --s3sync-operator-max-objects; 1..S3SYNC_MAX_OBJECTS, the options checked
 * it. Not thread-safe: call before the controllers start. */
#define S3SYNC_OPERATOR_MAX_OBJECTS_DEFAULT 100000
void s3sync_steps_configure(size_t max_objects);

int s3sync_step_validate(step_result *out, const step_ctx *ctx); /* both list; source not empty */
int s3sync_step_compare(step_result *out, const step_ctx *ctx);  /* counts, first keys */
int s3sync_step_sync(step_result *out, const step_ctx *ctx);     /* copies or the Job */
int s3sync_step_verify(step_result *out, const step_ctx *ctx);   /* key by key, or the Job */

/* The endpoint (host, port) the item's restored database answers on, from its
 * status.outputs[] entry, for secret patches and migrations. Returns 0, or
 * LB_ENOTFOUND when the item has no endpoint yet. *out_host borrowed. */
int step_item_endpoint(const char **out_host, int *out_port, const step_ctx *ctx);

#endif
