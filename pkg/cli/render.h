/* cli/render.h - what `kubectl lifeboat` prints: the plan, the timeline and the
 * status of Lifeboat objects as aligned text tables, from the objects' JSON.
 *
 * Pure functions of their input (and `now`), so they are unit tested; the
 * command (cmd/kubectl-lifeboat) does the API calls. Every function appends to
 * `out` and returns 0, or a negative code when `out` reached its cap. */
#ifndef LIFEBOAT_CLI_RENDER_H
#define LIFEBOAT_CLI_RENDER_H

#include <jansson.h>

#include "util/buf.h"
#include "util/timeutil.h"

/* Styles: plain text, or ANSI colours for a terminal. */
typedef enum cli_style { CLI_PLAIN = 0, CLI_COLOR = 1 } cli_style;

/* The plan of a RestoreRequest (status.plan) as a table: ORDER ITEM ACTION
 * DESTRUCTIVE DESCRIPTION, then, when the request waits for approval, the
 * destructive steps an approval releases and the plan hash it must name.
 * A request without a published plan prints a line saying so. */
int cli_render_plan(lb_buf *out, const json_t *rr, cli_style style);

/* The steps of a RestoreRequest (status.steps) as a table: STEP PHASE STARTED
 * DURATION MESSAGE, the current step (status.currentStep) marked with '>'; a
 * running step's duration counts up to `now`. A header line gives the name,
 * phase and message. */
int cli_render_timeline(lb_buf *out, const json_t *rr, lb_time now, cli_style style);

/* One table of Lifeboat objects of any of the three kinds (each carries its
 * `kind`): [NAMESPACE] KIND NAME PHASE STEP AGE RTO RPO NOTE, where NOTE names
 * stale or failed backups and an approval being waited for. */
int cli_render_status(lb_buf *out, const json_t *const *objs, size_t n, lb_time now,
                      int with_namespace, cli_style style);

/* "4s", "2m05s", "1h02m", "3d04h" for a number of seconds (negative: "-"). */
void cli_format_age(char *out, size_t size, long long seconds);

/* Non-zero when a RestoreRequest phase is final (Succeeded, Failed, RolledBack). */
int cli_phase_is_final(const char *phase);

#endif
