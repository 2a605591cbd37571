/* agentjob.h - a lifeboat-agent command run as a Kubernetes Job, shared by the
 * restore steps (pgDump restores) and the BackupPolicy targets (pgDump backups).
 *
 * The Job has a deterministic name, the requesting object as its controller
 * owner, the managed-by label and one container "agent" with an emptyDir work
 * volume. Secrets (database URL, keys) reach the agent only as secretKeyRef
 * env entries the caller builds; AWS settings are copied from the operator's
 * non-secret environment (region, endpoints, CA bundle) and credentials come
 * from the Job's ServiceAccount (IRSA) or the optional Secret
 * "lifeboat-agent-aws" (envFrom) in the namespace. backoffLimit 0: a failure
 * is reported with its log; a retry is the operator's decision.
 *
 * A spec with aws_secret set (the request's scope names an AWS role,
 * DESIGN.md 3.4; restore/jobcreds.h decides and writes it) replaces that
 * envFrom: the Secret "<job>-aws" is mounted read-only at
 * AGENTJOB_AWS_SESSION_DIR (files AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, AGENTJOB_AWS_EXPIRY_KEY) and $AWS_SESSION_DIR_ENV names
 * that folder, which the agent's credentials chain reads first
 * (aws/credentials.h, source "session-dir"). A volume rather than
 * secretKeyRef env: the kubelet refreshes a mounted Secret of a running pod
 * (an atomic swap of its `..data` link), env never changes, and the operator
 * renews the session of a running Job by replacing the Secret before it
 * expires (jobcreds.h). The session is an sts:AssumeRole of the scope role
 * minted by the operator, so IAM enforces the scope on the agent's calls too.
 * Minted sessions rather than IRSA: IRSA would need the scope role to trust
 * the cluster's OIDC provider for each ServiceAccount, a second trust path
 * beside the operator's, to be kept in step with every scope; a minted
 * session needs only the trust the operator already uses. The Secret is
 * owned by the Job's owner (ownerReference) and goes with it.
 *
 * A spec with completions > 1 makes an Indexed Job (completionMode Indexed,
 * that many completions, `parallelism` pods at once): each pod gets its index
 * in $JOB_COMPLETION_INDEX (s3Sync's sharded `lifeboat-agent s3-sync`). The
 * Job-wide backoffLimit 0 still holds: the first failed index fails the Job
 * (the controller stops the others), and its log is the one reported. A
 * failure is AGENTJOB_FAILED when the agent printed its failed result (its
 * own error, after its own retries) and AGENTJOB_CRASHED when the pod ended
 * without one (killed): only the caller knows whether a new Job may redo
 * the work (s3Sync's may: its shards leave alone what is in place).
 *
 * agentjob_run() creates the Job once and then observes it; a Job of that
 * name that is not owned by owner_uid is never adopted. On completion the
 * agent's JSON result line (the last log line that is a JSON object) is
 * returned; a failed Job's message carries the agent's error or the
 * redacted tail of its log.
 */
#ifndef LB_CONTROLLER_AGENTJOB_H
#define LB_CONTROLLER_AGENTJOB_H

#include <jansson.h>
#include <stddef.h>

#include "aws/credentials.h"
#include "kube/client.h"

#define AGENTJOB_CONTAINER       "agent"
#define AGENTJOB_WORK_DIR        "/var/lib/lifeboat-agent" /* the emptyDir work volume */
#define AGENTJOB_AWS_SECRET      "lifeboat-agent-aws"
#define AGENTJOB_DEFAULT_IMAGE   "lifeboat-agent:latest" /* $LIFEBOAT_AGENT_IMAGE overrides */
#define AGENTJOB_DEADLINE_S      21600                   /* activeDeadlineSeconds: 6 h */
#define AGENTJOB_MAX_MESSAGE     1024
#define AGENTJOB_AWS_SESSION_DIR "/var/run/lifeboat/aws"     /* the mounted "<job>-aws" Secret */
#define AGENTJOB_AWS_EXPIRY_KEY  "AWS_CREDENTIAL_EXPIRATION" /* RFC 3339, in the Secret */
#define AGENTJOB_AWS_EXPIRY_ANN  "lifeboat.dev/aws-session-expiry" /* same, on the Secret */

typedef struct agentjob_spec {
    const char *name;       /* the Job's name (<= 63 bytes) */
    const char *ns;         /* namespace of the Job and its owner */
    const char *owner_api;  /* owner's apiVersion */
    const char *owner_kind; /* "RestoreRequest", "BackupPolicy" */
    const char *owner_name;
    const char *owner_uid;
    const char *annotation; /* annotation key naming the owner, e.g. lifeboat.dev/restore-request */
    const char *service_account; /* NULL: no API token mounted */
    int completions;             /* > 1: an Indexed Job of that many completions; 0 or 1: one pod */
    int parallelism;             /* pods at once for completions > 1; 0: completions */
    const char *aws_secret;      /* NULL: envFrom lifeboat-agent-aws; else the Secret
                                  * mounted at AGENTJOB_AWS_SESSION_DIR */
} agentjob_spec;

/* The Job object: `cmd` (the container's command) and `env` (secretKeyRef and
 * plain entries) are stolen; the AWS variables and LIFEBOAT_WORK_DIR are
 * appended to env. Returns a new object. */
json_t *agentjob_build(const agentjob_spec *s, json_t *cmd, json_t *env);

/* {"name": name, "valueFrom": {"secretKeyRef": ref}} for a {name, key} ref. */
json_t *agentjob_secret_env(const char *name, const json_t *ref);

typedef enum agentjob_state {
    AGENTJOB_CREATED = 0, /* created by this call */
    AGENTJOB_RUNNING,     /* exists, not finished */
    AGENTJOB_SUCCEEDED,   /* finished; *out_result is the agent's result */
    AGENTJOB_FAILED,      /* finished without success; message says why (the agent's error) */
    AGENTJOB_CRASHED,     /* failed without the agent's result line: its pod was killed
                           * (kill -9, OOM, eviction, deadline) before the agent could
                           * answer; message carries the redacted log tail. Callers
                           * that do not retry treat it as AGENTJOB_FAILED. */
    AGENTJOB_NOT_OWNED,   /* a Job of that name belongs to someone else */
} agentjob_state;

/* Observes the Job s->name, creating it from build(payload) when it does
 * not exist (build returns a new Job object; called only then). On 0:
 * *out_state, *out_result (SUCCEEDED only; caller decrefs) and msg (size
 * bytes: what happened, secrets redacted; for a running Job of several
 * completions, "<succeeded>/<completions> indexes succeeded, <active>
 * running"). On an Indexed Job the result is the newest pod's and a failure's
 * message comes from the newest failed pod. Negative: a transient Kubernetes
 * error (message set). */
int agentjob_run(agentjob_state *out_state, json_t **out_result, char *msg, size_t size,
                 kube_client *kube, const agentjob_spec *s, json_t *(*build)(void *payload),
                 void *payload);

/* The Secret "<job>-aws" name for Job `job` into out (<= 63 bytes, as
 * agentjob_object_name). */
void agentjob_aws_secret_name(char *out, size_t size, const char *job);

/* The Secret s->aws_secret in s->ns holding cr's AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (stringData) and, when cr
 * expires, AGENTJOB_AWS_EXPIRY_KEY and the annotation AGENTJOB_AWS_EXPIRY_ANN
 * (RFC 3339, not secret), owned by s's owner (controller ownerReference)
 * with the managed-by label. New object. */
json_t *agentjob_aws_secret(const agentjob_spec *s, const aws_credentials *cr);

/* Writes agentjob_aws_secret(s, cr): created when absent; when it exists and
 * is owned by s->owner_uid (ours: from an attempt cut short, or renewed for
 * a running Job), merge-patched with cr's keys and expiry (the operator's
 * RBAC has secrets get/create/patch, no update), on the resourceVersion whose
 * owner was checked; when it belongs to someone else, left untouched and
 * *out_foreign set to 1. Values never reach logs or messages. Returns 0 (also when foreign) or a
 * negative transient code. */
int agentjob_put_aws_secret(int *out_foreign, kube_client *kube, const agentjob_spec *s,
                            const aws_credentials *cr);

/* 1 when one of job's ownerReferences has uid `uid` (non-empty), else 0. */
int agentjob_owned(const json_t *job, const char *uid);

/* 1 when job's status has the condition `type` ("Complete", "Failed") True. */
int agentjob_condition(const json_t *job, const char *type);

/* Fits `full` into a Kubernetes object name (<= 63 bytes): kept as it is when
 * short enough, else cut and suffixed with a hash of the whole. */
void agentjob_object_name(char *out, size_t size, const char *full);

#endif
