/* restore/reconcile.h - the RestoreRequest controller.
 *
 * ctrl_kind_restore hands every reconcile to the step engine
 * (restore/engine.h): validate and plan, publish the plan, and for a valid
 * non-dry-run request execute it one bounded unit per reconcile, coming back
 * after the delay a step asks for. A request the engine has nothing to do
 * for (engine_settled()) is skipped without parsing anything.
 *
 * The informer caches only the kept view (ctrl_kind_restore.keep: identity,
 * phase, generations, startedAt, whether steps exist, the approve and abort
 * annotations); engine_settled() decides on that view, and a request with work
 * to do is read fresh from the API server (GET) before anything else - its
 * spec, plan and steps are never taken from the cache.
 *
 * restore_desired_status() is the engine without I/O: parse and validate the
 * spec; invalid -> Valid False/InvalidSpec naming the fields, phase Failed,
 * no plan; valid -> Valid True, status.plan (plan_to_json) and
 *   dryRun: true  -> phase Planned, currentStep "", Progressing False/DryRun;
 *   a source whose steps this build does not execute -> phase Pending,
 *                    Progressing False/SourceNotSupported naming the items;
 *   otherwise     -> the run starts: steps all Pending, phase Running.
 * status.observedGeneration is the generation acted on. Pure.
 */
#ifndef LB_CONTROLLER_RESTORE_RECONCILE_H
#define LB_CONTROLLER_RESTORE_RECONCILE_H

#include <jansson.h>

#include "controller/controller.h"

int restore_desired_status(json_t *status, const json_t *obj, lb_time now);

#endif
