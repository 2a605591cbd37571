/* restore/jobcreds.h - the AWS session of a RestoreRequest's lifeboat-agent
 * Job when the request's scope names an AWS role (DESIGN.md 3.4), shared by
 * every Job kind that does AWS work for a request: pgDump restores
 * (steps_pgdump.c), fileArchive restores (steps_filearchive.c) and s3Sync
 * shards (steps_s3sync.c). BackupPolicy has no scope and no scope role (a
 * RecoveryScope governs restores only), so backup Jobs keep the namespace's
 * "lifeboat-agent-aws" Secret or IRSA (controller/agentjob.h).
 *
 * Without a scope role nothing happens here: the Job reads
 * "lifeboat-agent-aws" as before. With one, before the Job exists the
 * operator assumes the role from its own client (ctx->aws_base): session
 * "lb-<ns>-<job>", the request's session tags lifeboat.dev/namespace and
 * lifeboat.dev/request, jobcreds_duration_s() seconds, and writes the session
 * with its expiry into the Secret "<job>-aws" owned by the RestoreRequest
 * (agentjob_put_aws_secret). The Job mounts that Secret as a volume and its
 * agent reads the files (aws/credentials.h, source "session-dir"), re-reading
 * them when the kubelet swaps them.
 *
 * Renewal: every later observation of a Job that has not finished reads its
 * Secret's expiry (annotation AGENTJOB_AWS_EXPIRY_ANN) and, once the session
 * expires within jobcreds_margin_s(), assumes the role again and replaces the
 * Secret; the kubelet refreshes the mounted files, and the agent's next
 * request signs with the new session. The operator's own credentials are
 * usually IRSA, so this AssumeRole is role chaining, which AWS caps at 1 h:
 * renewal, not a longer session, is what lets a Job outlive the hour.
 *
 * A Secret of that name owned by someone else is never written: the step
 * fails SecretNotOwned naming it. Before the Job exists, an AssumeRole or
 * Secret write that fails is transient (the reconcile retries; a Secret
 * written but a Job not yet created, as after a kill -9, is replaced by the
 * next attempt, never duplicated: its name is the Job's). A failed renewal is
 * not an error of the step: the running Job still holds a session valid for
 * up to the margin, so it is logged and tried again at the next observation
 * (a session that does run out meets ExpiredToken in the agent, which fails
 * the Job like any agent error). Values never reach logs, messages, status
 * or events.
 */
#ifndef LB_CONTROLLER_RESTORE_JOBCREDS_H
#define LB_CONTROLLER_RESTORE_JOBCREDS_H

#include <jansson.h>
#include <stddef.h>

#include "controller/agentjob.h"
#include "controller/restore/step.h"

#define JOBCREDS_DURATION_DEFAULT_S 3600  /* --job-session-duration */
#define JOBCREDS_MARGIN_DEFAULT_S   1200  /* --job-session-renew-margin */
#define JOBCREDS_DURATION_MIN_S     900   /* STS's minimum DurationSeconds */
#define JOBCREDS_DURATION_MAX_S     43200 /* STS's maximum (a role's MaxSessionDuration) */

/* Sets the session length and the renewal margin (seconds): 900 <=
 * duration <= 43200, 0 < margin < duration (the options checked them). Not
 * thread-safe: call before the controllers start. */
void jobcreds_configure(int duration_s, int margin_s);

/* The configured session length (DurationSeconds of each AssumeRole). */
int jobcreds_duration_s(void);

/* The configured renewal margin. */
int jobcreds_margin_s(void);

typedef enum jobcreds_action {
    JOBCREDS_KEEP = 0, /* the Secret stands as it is */
    JOBCREDS_MINT,     /* assume the role and (re)write the Secret */
    JOBCREDS_FOREIGN,  /* the Secret belongs to someone else: fail, untouched */
} jobcreds_action;

/* The decision, from what the API server holds: job (NULL: absent), secret
 * (NULL: absent), the request's uid, now and the margin (Unix seconds,
 * seconds). No Job: MINT (the put replaces a leftover of ours), unless the
 * Secret is someone else's (FOREIGN). A Job that is not ours or has finished
 * (Complete/Failed): KEEP. A running Job of ours: FOREIGN for a foreign
 * Secret, MINT when the Secret is gone, has no readable expiry, or expires
 * at or before now + margin, else KEEP. */
jobcreds_action jobcreds_decide(const json_t *job, const json_t *secret, const char *owner_uid,
                                long long now, long long margin);

/* With ctx->role_arn set: sets spec->aws_secret (into secret, size bytes:
 * JOBRUN_NAME_MAX + 1) and acts on jobcreds_decide() for Job spec->name.
 * Without one: nothing (spec->aws_secret stays NULL). Returns 0 (a foreign
 * Secret fails `out` with SecretNotOwned and sets *out_failed) or a
 * negative transient code. */
int jobcreds_prepare(int *out_failed, step_result *out, const step_ctx *ctx, agentjob_spec *spec,
                     char *secret, size_t size);

#endif
