/* jobcreds.c - the AWS session of a request's agent Job (see jobcreds.h). */
#include "controller/restore/jobcreds.h"

#include <stdio.h>
#include <string.h>

#include "aws/sts.h"
#include "controller/restore/assume.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timeutil.h"

static int duration_s = JOBCREDS_DURATION_DEFAULT_S;
static int margin_s = JOBCREDS_MARGIN_DEFAULT_S;

void jobcreds_configure(int duration, int margin)
{
    duration_s = duration;
    margin_s = margin;
}

int jobcreds_duration_s(void)
{
    return duration_s;
}

int jobcreds_margin_s(void)
{
    return margin_s;
}

/* The Secret's session expiry (Unix seconds), or 0 when it has none readable. */
static long long secret_expiry(const json_t *secret)
{
    const json_t *ann = json_object_get(json_object_get(secret, "metadata"), "annotations");
    const char *v = json_string_value(json_object_get(ann, AGENTJOB_AWS_EXPIRY_ANN));
    lb_time t;
    if (v == NULL || lb_time_parse_rfc3339(&t, v) != 0) {
        lb_error_clear();
        return 0;
    }
    return (long long)t.sec;
}

jobcreds_action jobcreds_decide(const json_t *job, const json_t *secret, const char *owner_uid,
                                long long now, long long margin)
{
    int foreign = secret != NULL && !agentjob_owned(secret, owner_uid);
    if (job == NULL)
        return foreign ? JOBCREDS_FOREIGN : JOBCREDS_MINT;
    if (!agentjob_owned(job, owner_uid) || agentjob_condition(job, "Complete") ||
        agentjob_condition(job, "Failed"))
        return JOBCREDS_KEEP; /* agentjob_run reports it; a finished Job needs no session */
    if (foreign)
        return JOBCREDS_FOREIGN;
    if (secret == NULL)
        return JOBCREDS_MINT;
    long long exp = secret_expiry(secret);
    return exp == 0 || exp <= now + margin ? JOBCREDS_MINT : JOBCREDS_KEEP;
}

/* GET of ns/name in `resource` (group "" or "batch"): *out or NULL when
 * absent; a negative transient code otherwise. */
static int get_opt(json_t **out, const step_ctx *ctx, const char *group, const char *resource,
                   const char *ns, const char *name)
{
    kube_ref ref = {
        .group = group, .version = "v1", .resource = resource, .namespace = ns, .name = name};
    int rc = kube_get(out, ctx->kube, &ref);
    if (rc == LB_ENOTFOUND) {
        lb_error_clear();
        *out = NULL;
        return 0;
    }
    return rc != 0 ? lb_error_wrap(rc, "get %s %s", resource, name) : 0;
}

static int secret_foreign(step_result *out, const agentjob_spec *spec)
{
    step_failed(out, "SecretNotOwned",
                "Secret %s (the AWS session of Job %s) exists but is not owned by this "
                "RestoreRequest",
                spec->aws_secret, spec->name);
    return 0;
}

int jobcreds_prepare(int *out_failed, step_result *out, const step_ctx *ctx, agentjob_spec *spec,
                     char *secret, size_t size)
{
    const char *tags[4] = {"lifeboat.dev/namespace", spec->ns, "lifeboat.dev/request",
                           spec->owner_name};
    char session[65];
    aws_credentials cr;
    json_t *job = NULL, *sec = NULL;
    int rc, foreign = 0;

    *out_failed = 0;
    if (ctx->role_arn == NULL || ctx->role_arn[0] == '\0')
        return 0;
    agentjob_aws_secret_name(secret, size, spec->name);
    spec->aws_secret = secret;
    rc = get_opt(&job, ctx, "batch", "jobs", spec->ns, spec->name);
    if (rc == 0 && job != NULL) /* without a Job, the put below finds the Secret itself */
        rc = get_opt(&sec, ctx, "", "secrets", spec->ns, secret);
    jobcreds_action act =
        rc == 0 ? jobcreds_decide(job, sec, spec->owner_uid, (long long)ctx->now.sec, margin_s)
                : JOBCREDS_KEEP;
    int renewal = job != NULL;
    json_decref(job);
    json_decref(sec);
    if (rc != 0 || act == JOBCREDS_KEEP)
        return rc;
    if (act == JOBCREDS_FOREIGN) {
        *out_failed = 1;
        return secret_foreign(out, spec);
    }
    assume_session_name(session, sizeof(session), spec->ns, spec->name);
    memset(&cr, 0, sizeof(cr));
    rc = sts_assume_role(&cr, ctx->aws_base != NULL ? ctx->aws_base : ctx->aws, ctx->role_arn,
                         session, tags, 2, duration_s);
    if (rc != 0)
        rc = lb_error_wrap(rc, "sts:AssumeRole %s for Job %s", ctx->role_arn, spec->name);
    else
        rc = agentjob_put_aws_secret(&foreign, ctx->kube, spec, &cr);
    aws_credentials_dispose(&cr);
    if (rc == 0 && foreign) {
        *out_failed = 1;
        return secret_foreign(out, spec);
    }
    if (renewal && rc != 0) { /* the Job still holds a session: retried at the next look */
        LB_LOG_WARN("renewing the AWS session of a running Job failed; retried at its next "
                    "observation",
                    "job", spec->name, "error", lb_error_last());
        lb_error_clear();
        return 0;
    }
    if (rc == 0 && renewal)
        LB_LOG_INFO("renewed the AWS session of a running Job", "job", spec->name, "object",
                    secret);
    return rc;
}
