/* verify/reconcile.h - the VerificationRun kind's validation.
 *
 * verify_desired_status(): invalid spec -> Valid False/InvalidSpec naming the
 * fields, phase Failed, nothing else; valid -> Valid True (and a phase Failed
 * left by an earlier invalid generation is cleared). Runs no check: the run
 * itself (ctrl_kind_verify.run) is verify/run.h, which calls this to validate
 * a run before it starts. status.observedGeneration is the object's
 * generation. Pure (no I/O).
 */
#ifndef LB_CONTROLLER_VERIFY_RECONCILE_H
#define LB_CONTROLLER_VERIFY_RECONCILE_H

#include <jansson.h>

#include "controller/controller.h"

int verify_desired_status(json_t *status, const json_t *obj, lb_time now);

#endif
