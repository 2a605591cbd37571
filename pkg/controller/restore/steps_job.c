/* restore/steps_job.c - the `job` source (runbook 004 P2 and every procedure
 * Lifeboat does not model). Contract: restore/step.h.
 *
 *   validate  (prepare)  the template was checked when the spec was parsed
 *                        (pkg/api: containers with images, restartPolicy, no
 *                        selector); here: no Job of its name exists that this
 *                        request does not own, and the images and
 *                        ServiceAccount it will run are named in the message
 *                        for the approver;
 *   run       (cutover, or prepare with destructive: false) creates the Job
 *                        "lb-<rr>-<item>-run" once from spec.template (its
 *                        labels and annotations kept, the request as owner),
 *                        waits for Complete, and on Failed fails the step with
 *                        the tail of the first container's log. A failure in
 *                        the cutover rolls back as any cutover step does.
 *
 * Defaults added where the template leaves them unset: restartPolicy Never,
 * backoffLimit 0 (a half-done procedure is not retried blindly),
 * activeDeadlineSeconds = job.timeoutSeconds, and the restricted Pod Security
 * Standard (jobrun_restrict). Which images and ServiceAccounts a namespace may
 * run is decided by the tenancy scope (DESIGN.md section 3.4): the scope check
 * belongs in job_step_validate, which already collects them (job__images). */
#include "controller/restore/step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/restore/jobrun.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#define JOB_SUFFIX "run"

static const json_t *pod_spec_of(const json_t *tmpl)
{
    return json_object_get(json_object_get(json_object_get(tmpl, "spec"), "template"), "spec");
}

/* "image a, image b; serviceAccount x" of the template, a new string. */
static char *job__images(const json_t *tmpl)
{
    const json_t *pod = pod_spec_of(tmpl), *c;
    const char *sa = json_string_value(json_object_get(pod, "serviceAccountName"));
    const char *lists[] = {"initContainers", "containers"};
    lb_buf b;
    size_t i, n = 0;

    buf_init(&b, 8192);
    for (size_t l = 0; l < 2; l++)
        json_array_foreach(json_object_get(pod, lists[l]), i, c)
        {
            buf_printf(&b, "%s%s", n++ ? ", " : "images ",
                       json_string_value(json_object_get(c, "image")) ?: "?");
        }
    buf_printf(&b, "; ServiceAccount %s", sa != NULL ? sa : "default");
    return buf_detach(&b, NULL);
}

static const char *first_container(const json_t *tmpl)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(pod_spec_of(tmpl), "containers"), 0),
                        "name"));
}

int job_step_validate(step_result *out, const step_ctx *ctx)
{
    char job[JOBRUN_NAME_MAX + 1];
    jobrun_state st;
    char *imgs;
    int rc;

    if (ctx->item == NULL)
        return step_failed(out, "InvalidStep", "step has no item");
    jobrun_name(job, sizeof(job), ctx, JOB_SUFFIX);
    if ((rc = jobrun_observe(&st, NULL, ctx, job)) != 0)
        return rc;
    if (st == JOBRUN_FOREIGN)
        return step_failed(out, "JobNotOwned",
                           "Job %s exists but is not owned by this RestoreRequest", job);
    imgs = job__images(json_object_get(ctx->item->source_spec, "template"));
    step_done(out, "Job %s will run %s%s", job, imgs,
              json_is_false(json_object_get(ctx->item->source_spec, "destructive"))
                  ? " (marked non-destructive: runs before the approval)"
                  : " (after the approval)");
    free(imgs);
    return 0;
}

static json_t *job__body(const step_ctx *ctx)
{
    const json_t *src = ctx->item->source_spec;
    json_t *tmpl = json_deep_copy(json_object_get(src, "template"));
    json_t *body = json_object(), *spec, *pod;
    const json_t *to = json_object_get(src, "timeoutSeconds");

    json_t *meta = json_object_get(tmpl, "metadata");
    json_t *m = json_object();
    if (json_is_object(json_object_get(meta, "labels")))
        json_object_set(m, "labels", json_object_get(meta, "labels"));
    if (json_is_object(json_object_get(meta, "annotations")))
        json_object_set(m, "annotations", json_object_get(meta, "annotations"));
    json_object_set_new(body, "metadata", m);
    spec = json_object_get(tmpl, "spec");
    json_object_set(body, "spec", spec);
    if (json_object_get(spec, "backoffLimit") == NULL)
        json_object_set_new(spec, "backoffLimit", json_integer(0));
    if (json_object_get(spec, "activeDeadlineSeconds") == NULL)
        json_object_set_new(spec, "activeDeadlineSeconds",
                            json_integer(json_is_integer(to) ? json_integer_value(to) : 3600));
    pod = json_object_get(json_object_get(spec, "template"), "spec");
    if (json_object_get(pod, "restartPolicy") == NULL)
        json_object_set_new(pod, "restartPolicy", json_string("Never"));
    jobrun_restrict(pod);
    json_decref(tmpl);
    return body;
}

int job_step_run(step_result *out, const step_ctx *ctx)
{
    char job[JOBRUN_NAME_MAX + 1];
    jobrun_state st;
    const char *reason = NULL;
    int rc;

    if (ctx->item == NULL)
        return step_failed(out, "InvalidStep", "step has no item");
    jobrun_name(job, sizeof(job), ctx, JOB_SUFFIX);
    if ((rc = jobrun_observe(&st, &reason, ctx, job)) != 0)
        return rc;
    switch (st) {
    case JOBRUN_ABSENT:
        if ((rc = jobrun_create(ctx, job, job__body(ctx))) != 0)
            return rc;
        return step_wait(out, STEP_POLL_MS, "Job %s created; waiting for it to finish", job);
    case JOBRUN_FOREIGN:
        return step_failed(out, "JobNotOwned",
                           "Job %s exists but is not owned by this RestoreRequest", job);
    case JOBRUN_RUNNING:
        return step_wait(out, STEP_POLL_MS, "waiting for Job %s", job);
    case JOBRUN_COMPLETE:
        return step_done(out, "Job %s completed", job);
    default:
        break;
    }
    const char *container =
        first_container(json_object_get(ctx->item->source_spec, "template"));
    char *log = jobrun_log(ctx, job, container != NULL ? container : "");
    char *tail = jobrun_log_tail(log);
    step_failed(out, "JobFailed", "Job %s failed (%s); last log lines: %s", job,
                reason != NULL && reason[0] ? reason : "Failed", tail);
    free(tail);
    free(log);
    return 0;
}
