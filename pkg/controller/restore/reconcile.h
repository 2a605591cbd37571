/* restore/reconcile.h - the RestoreRequest controller's first behaviour.
 *
 * restore_desired_status(): parse and validate the spec; invalid -> Valid
 * False/InvalidSpec naming the fields, phase Failed, no plan, nothing else;
 * valid -> Valid True, status.plan (plan_to_json) and
 *   dryRun: true  -> phase Planned, currentStep "", Progressing False/DryRun;
 *   dryRun: false -> phase Pending, Progressing False/ControllerNotReady: the
 *                    restore steps are not implemented in this build, so
 *                    nothing is executed (the step engine is the next issue).
 * status.observedGeneration is the object's generation. Pure (no I/O).
 */
#ifndef LB_CONTROLLER_RESTORE_RECONCILE_H
#define LB_CONTROLLER_RESTORE_RECONCILE_H

#include <jansson.h>

#include "controller/controller.h"

#define RESTORE_NOT_READY_MESSAGE                                                                  \
    "the restore steps are not implemented in this build: the plan is published and nothing "      \
    "has been executed"

int restore_desired_status(json_t *status, const json_t *obj, lb_time now);

#endif
