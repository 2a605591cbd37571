/* health.h - one health verdict per Lifeboat object, for GitOps tools.
 *
 * Argo CD asks a Lua script (deploy/argocd/) and Flux asks kstatus
 * (sigs.k8s.io/cli-utils) whether a resource is done. Both read the status
 * the operator writes, so the operator states its verdict there, in the two
 * conditions kstatus defines for any custom resource:
 *
 *   Reconciling=True  the controller is still working towards the spec
 *   Stalled=True      it cannot get there without someone changing something
 *   both False        it is where the spec asked (kstatus: Current)
 *
 * The verdict per kind (the Lua scripts implement the same table; a test runs
 * both on the same objects):
 *
 *   RestoreRequest   Pending/Running/Verifying: Progressing; AwaitingApproval:
 *                    Suspended; Succeeded, Planned (a dry run): Healthy;
 *                    Failed, RolledBack, Valid=False: Degraded.
 *   VerificationRun  Pending/Restoring/Running: Progressing; Passed: Healthy;
 *                    Failed, Valid=False: Degraded.
 *   BackupPolicy     spec.suspend: Suspended; Valid=False, Ready=False
 *                    (stale or failed backups), ConfigDrift=True: Degraded;
 *                    no finished run yet: Progressing; else Healthy.
 *
 * Suspended (a human gate, a paused schedule) is neither Reconciling nor
 * Stalled: nothing is wrong and the operator is not working, so kstatus says
 * Current and a Flux Kustomization's health wait does not time out on an
 * approval; Argo CD shows Suspended. Any kind whose status.observedGeneration
 * is behind metadata.generation is Progressing.
 */
#ifndef LB_API_HEALTH_H
#define LB_API_HEALTH_H

#include <jansson.h>

#include "util/timeutil.h"

typedef enum api_health {
    API_HEALTH_PROGRESSING,
    API_HEALTH_HEALTHY,
    API_HEALTH_DEGRADED,
    API_HEALTH_SUSPENDED,
} api_health;

/* Argo CD's name of a health: "Progressing", "Healthy", "Degraded", "Suspended". */
const char *api_health_name(api_health h);

/* The health of obj (a whole RestoreRequest, VerificationRun or BackupPolicy,
 * identified by its "kind") when its status is `status` (which may differ
 * from obj's own: the status about to be written). *reason receives a short
 * CamelCase reason (a phase or condition reason; static or borrowed from
 * status, valid while status lives). An unknown kind is Progressing with
 * reason "UnknownKind". */
api_health api_health_of(const json_t *obj, const json_t *status, const char **reason);

/* Sets the kstatus conditions Reconciling and Stalled in status from
 * api_health_of(obj, status), with the given generation and time (see
 * api_condition_set for the semantics). Returns 1 when a condition changed,
 * 0 when none did, or the error of api_condition_set. */
int api_health_conditions_set(json_t *status, const json_t *obj, int64_t generation, lb_time now);

#endif
