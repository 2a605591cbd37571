/* restore/assume.h - AWS calls for a namespace made as its RecoveryScope's role
 * (DESIGN.md 3.4, issue 11 item 2).
 *
 * When the scope names spec.aws.roleArn, every AWS call of a RestoreRequest
 * is signed with temporary credentials from sts:AssumeRole into that role,
 * obtained with the operator's own credentials: session name
 * "lb-<namespace>-<name>" (cut to 64 characters of [A-Za-z0-9+=,.@-]), session
 * tags lifeboat.dev/namespace and lifeboat.dev/request, so IAM enforces the
 * scope even if Lifeboat has a bug and CloudTrail names the request. The
 * client is cached per request until ASSUME_REFRESH_AHEAD_S before the
 * credentials expire. The role of a started run is the one recorded in
 * status.scope.roleArn at its start (status is written by the operator only).
 *
 * Thread safety: the cache is locked; a client is used by the worker that
 * reconciles its request (the work queue never gives a key to two workers at
 * once), and replaced only by that worker.
 */
#ifndef LB_CONTROLLER_RESTORE_ASSUME_H
#define LB_CONTROLLER_RESTORE_ASSUME_H

#include "aws/request.h"

#define ASSUME_REFRESH_AHEAD_S 300  /* re-assume this long before expiry */
#define ASSUME_DURATION_S      3600 /* requested session length */
#define ASSUME_MAX_ENTRIES     4096 /* cached sessions; expired ones are dropped first */

/* The client (borrowed, valid until the next call for the same request) that
 * signs as role_arn for RestoreRequest ns/name, assuming the role with base's
 * credentials when the cache has no fresh session. Returns 0, or a negative
 * code with the STS error (transient for the caller: the reconcile retries). */
int assume_client(aws_client **out, aws_client *base, const char *role_arn, const char *ns,
                  const char *name);

/* The session name for ns/name into buf (at least 65 bytes). */
void assume_session_name(char *buf, size_t size, const char *ns, const char *name);

/* Frees every cached client (at shutdown, when no worker runs). */
void assume_cache_clear(void);

#endif
