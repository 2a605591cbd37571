/* plan.h - the restore planner: a RestoreRequest spec -> its ordered steps.
 *
 * Pure logic (no I/O). The plan is what status.plan publishes before anything
 * runs and what the step engine executes; step names are public (status.plan,
 * status.steps, status.currentStep, events) and are fixed here.
 *
 * Items run in execution order (api_restore_spec.order: canonical class
 * secretVersion -> databases -> redisRDB -> S3, then dependsOn, then the
 * written order). A plan has these parts, in this order:
 *
 *  1. prepare - for each item, the steps that change nothing live;
 *  2. "approval" - the gate, left out when spec.approval.required is false
 *     and when no step of the plan is destructive (every item restores into
 *     a copy: a pgDump with target.createDatabase, an RDS restore without
 *     promote or secretPatches, a job marked destructive: false, and no
 *     rollout): nothing live changes, so there is nothing to approve;
 *  3. cutover - for each item, the steps that touch live systems;
 *     then "rollout/<Kind>/<name>" for each spec.rollout entry, in the order
 *     given; then "verification" when spec.verification is set;
 *  4. cleanup - "<item>/cleanup" for items with cleanup.deleteOld (which the
 *     CRD allows only with promote: rename), after verification.
 *
 * Step names are "<item>/<action>". Actions per source, [x] only when the
 * spec asks for x (verify: verify.checks; migrations: migrations; promote:
 * promote rename; patch-secrets: secretPatches; scale-down/scale-up:
 * scaleDown); D marks destructive steps:
 *
 *   source                 prepare                          cutover
 *   secretVersion          validate                         make-current D, [patch-secrets D]
 *   rdsPointInTime,        validate, restore,               [scale-down D], [promote D],
 *   rdsSnapshot            wait-available, [verify],        [patch-secrets D], [scale-up]
 *                          [migrations]
 *   rdsClusterPointInTime  validate, restore-cluster,       as rdsPointInTime
 *                          create-writer, wait-available,
 *                          [verify], [migrations]
 *   rdsInPlace             validate                         [scale-down D], pre-restore-snapshot,
 *                                                           wait-snapshot, delete D, wait-deleted,
 *                                                           restore D, wait-available, [verify],
 *                                                           [migrations D], [patch-secrets D],
 *                                                           [scale-up]
 *   pgDump                 validate, download, checksum     [scale-down D], load D, [verify],
 *                                                           [migrations D], [scale-up],
 *                                                           [patch-secrets D]
 *   pgDump, target.        validate, download, checksum,    [scale-down D], [scale-up],
 *   createDatabase         load, [verify], [migrations]     [patch-secrets D]
 *   redisRDB               validate, download, checksum     install D, restart D, check-keys
 *   s3Objects              validate, diff                   apply D
 *   s3Sync                 validate, compare                sync D, verify
 *   fileArchive            validate, download               [scale-down D], extract D, [scale-up]
 *   job                    validate, [run if destructive:   run D (when destructive, the
 *                          false]                           default)
 *
 * Migrations on a restored copy (RDS point-in-time, snapshot, cluster) run in
 * prepare against the copy; on a live database (in place, pgDump) they are
 * destructive and run in cutover. rdsInPlace is destructive as a whole: its
 * snapshot, delete and restore all come after the gate.
 * dryRun does not change the plan (it only stops execution).
 */
#ifndef LB_CONTROLLER_PLAN_H
#define LB_CONTROLLER_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/restore.h"

#define PLAN_MAX_STEPS 512 /* status.plan entries (the CRD's maxItems) */

typedef enum plan_stage {
    PLAN_STAGE_PREPARE,
    PLAN_STAGE_APPROVAL,
    PLAN_STAGE_CUTOVER,
    PLAN_STAGE_CLEANUP,
} plan_stage;

typedef struct plan_step {
    char *name;       /* "orders-db/restore", "approval", "rollout/Deployment/api-gateway" */
    char *item;       /* item name; "" for approval, rollout and verification */
    char *action;     /* "restore", "approval", "rollout", "verification" */
    bool destructive; /* changes something live, so waits for approval */
    plan_stage stage;
    char *description; /* a sentence naming the resources */
} plan_step;

typedef struct plan {
    plan_step *steps;
    size_t n_steps;
} plan;

/* Builds the plan of a parsed spec. Returns 0 and *out (free with
 * plan_free()), or LB_ETOOBIG past PLAN_MAX_STEPS. The spec was validated
 * by api_restore_parse(), which has already refused dependsOn cycles. */
int plan_build(plan **out, const api_restore_spec *spec);

void plan_free(plan *p);

/* True when at least one step of p is destructive (changes something live). */
bool plan_has_destructive(const plan *p);

/* The index of the step with this name, or -1. */
int plan_find(const plan *p, const char *name);

/* status.plan: [{name, item, action, destructive, description}] in order.
 * The caller owns the result. */
json_t *plan_to_json(const plan *p);

#endif
