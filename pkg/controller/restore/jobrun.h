/* restore/jobrun.h - the Jobs a RestoreRequest supplies (the `job` source,
 * migrations; the lifeboat-agent Jobs use controller/agentjob.h): created once under a
 * deterministic name, adopted after a crash only when owned by this request,
 * observed, and their pod's log read for the agent's JSON result or a failure
 * message.
 *
 * A Job made here carries metadata.name/namespace, the managed-by label (also
 * on its pod template), the annotation lifeboat.dev/restore-request =
 * "<ns>/<name>" and the RestoreRequest as controller ownerReference; labels
 * and annotations the body already has are kept. A Job of the same name that
 * is not owned by this request (uid) is never adopted: the step fails with
 * reason JobNotOwned.
 */
#ifndef LB_CONTROLLER_RESTORE_JOBRUN_H
#define LB_CONTROLLER_RESTORE_JOBRUN_H

#include <jansson.h>
#include <stddef.h>

#include "controller/restore/step.h"

#define JOBRUN_NAME_MAX  63  /* a DNS label: the name feeds the job-name label */
#define JOBRUN_LOG_LINES 40  /* tailLines of a log read */
#define JOBRUN_LOG_BYTES 16384
#define JOBRUN_LOG_KEEP  700 /* bytes of a log tail kept in a step message */

typedef enum jobrun_state {
    JOBRUN_ABSENT = 0, /* no Job of that name */
    JOBRUN_RUNNING,
    JOBRUN_COMPLETE,
    JOBRUN_FAILED,
    JOBRUN_FOREIGN, /* exists, not owned by this request */
} jobrun_state;

/* "lb-<rr>-<item>-<suffix>" cut to a DNS label (hashed when longer) into out
 * (at least JOBRUN_NAME_MAX + 1 bytes). ctx->item must be set. */
void jobrun_name(char *out, size_t size, const step_ctx *ctx, const char *suffix);

/* Reads Job `name` in the request's namespace. Returns 0 and *out_state
 * (*out_reason, optional, borrowed from a static buffer: the Failed
 * condition's reason, "" otherwise), or a negative LB_* code for a transient
 * failure. */
int jobrun_observe(jobrun_state *out_state, const char **out_reason, const step_ctx *ctx,
                   const char *name);

/* Creates Job `name` from body (taken: the caller's reference is released),
 * adding the metadata described above. A 409 (a previous attempt created it)
 * counts as success. Returns 0 or a negative LB_* code. */
int jobrun_create(const step_ctx *ctx, const char *name, json_t *body);

/* The log of `container` in the Job's newest pod (tailLines/limitBytes as
 * above), a new string the caller frees; NULL with lb_error set when no pod
 * or no log can be read. */
char *jobrun_log(const step_ctx *ctx, const char *name, const char *container);

/* The log flattened to one line, URL credentials redacted, control
 * characters replaced, cut to its last JOBRUN_LOG_KEEP bytes; a new string,
 * never NULL (log NULL gives "(log unavailable: <why>)"). */
char *jobrun_log_tail(const char *log);

/* The agent's result: the last line of log that parses as a JSON object, or
 * NULL. New reference. */
json_t *jobrun_result(const char *log);

/* Adds the restricted Pod Security Standard defaults where the pod spec and
 * each container leave them unset: runAsNonRoot, seccompProfile
 * RuntimeDefault, allowPrivilegeEscalation false, capabilities drop ALL. */
void jobrun_restrict(json_t *pod_spec);

#endif
