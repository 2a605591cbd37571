/* restore/stepmetrics.h - per-step durations of RestoreRequests for /metrics.
 *
 * lifeboat_restore_step_duration_seconds{kind,action,phase} is a histogram of
 * the wall time (finishedAt - startedAt) of each step that finished:
 *   kind    the item's source field ("rdsClusterPointInTime", ...), or
 *           "request" for the steps of the request itself (approval, rollout,
 *           verification);
 *   action  the step's action ("promote", "cleanup", "rollout", ...); rollback
 *           steps are "rollback-<action>";
 *   phase   the step's final phase (Succeeded, Failed, ...).
 * A step is observed once: when a status write shows it finished and the
 * status before the write did not.
 */
#ifndef LIFEBOAT_CONTROLLER_RESTORE_STEPMETRICS_H
#define LIFEBOAT_CONTROLLER_RESTORE_STEPMETRICS_H

#include <jansson.h>

#include "util/metrics.h"

#define STEP_METRIC_NAME "lifeboat_restore_step_duration_seconds"

/* Registers the histogram in reg (borrowed) into *out. 0 or an error code. */
int step_metrics_init(metrics_metric **out, metrics_registry *reg);

/* The labels of step `name` of RestoreRequest `obj` (its spec names the items'
 * kinds), written into kind/action (NUL-terminated, cut to size). */
void step_metrics_labels(char *kind, size_t kind_size, char *action, size_t action_size,
                         const json_t *obj, const char *name);

/* Observes into m every step of after's status.steps that has finishedAt and
 * a startedAt, and that was not finished in before's (before may be NULL).
 * Returns how many steps were observed. m NULL: nothing, 0. */
int step_metrics_observe(metrics_metric *m, const json_t *before, const json_t *after);

#endif
