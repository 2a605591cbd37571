/* verify/reconcile.h - the VerificationRun controller's first behaviour.
 *
 * (the run itself: verify/run.h)
 * verify_desired_status(): invalid spec -> Valid False/InvalidSpec naming the
 * fields, phase Failed, nothing else; valid -> Valid True (and a phase Failed
 * left by an earlier invalid generation is cleared). No check is run by this
 * build, so no result, summary or other phase is ever claimed.
 * status.observedGeneration is the object's generation. Pure (no I/O).
 */
#ifndef LB_CONTROLLER_VERIFY_RECONCILE_H
#define LB_CONTROLLER_VERIFY_RECONCILE_H

#include <jansson.h>

#include "controller/controller.h"

int verify_desired_status(json_t *status, const json_t *obj, lb_time now);

#endif
