/* backup/reconcile.h - the BackupPolicy controller's first behaviour.
 *
 * backup_desired_status(): Valid True, or False/InvalidSpec naming the
 * fields; status.observedGeneration. No backup is scheduled or taken by this
 * build, so no schedule time, history or staleness is ever claimed. Pure.
 */
#ifndef LB_CONTROLLER_BACKUP_RECONCILE_H
#define LB_CONTROLLER_BACKUP_RECONCILE_H

#include <jansson.h>

#include "controller/controller.h"

int backup_desired_status(json_t *status, const json_t *obj, lb_time now);

#endif
