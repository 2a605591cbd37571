/* restore/steps_verifyrun.c - a RestoreRequest's `verification` step as an
 * owned VerificationRun (issue 15; see step.h for the contract).
 *
 * verify_step_verification ("verification") creates the VerificationRun
 * "<request>-verification" (cut to 63 bytes with a hash by
 * agentjob_object_name) in the request's namespace, its spec a copy of
 * spec.verification, owned by the request (ownerReference controller,
 * blockOwnerDeletion: deleting the request deletes it, and a foreground delete
 * of the request waits for its scratch cleanup). sql checks and rpo need
 * spec.verification.target or scratchRestore (the CRD's rule), as in a
 * VerificationRun.
 *
 * Crash safety: the name is fixed, so after a kill -9 the create answers 409
 * and the existing run is adopted when its ownerReference carries this
 * request's uid; a run of that name owned by anything else is never adopted
 * (STEP_FAILED TargetNotOwned). The VerificationRun controller runs the
 * checks (one per reconcile); this step polls its phase: Passed -> DONE,
 * Failed -> FAILED (CheckFailed; rollbackOnFailure then rolls back), with the
 * run's results in the message in the same form the inline checks had
 * ("N of M verification checks failed: FAILED name: ...; name: ...").
 * out->output {name, uid, phase, summary} becomes status.verificationRun.
 */
#include "controller/restore/step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/agentjob.h"
#include "util/error.h"

#define VERIFYRUN_SUFFIX "-verification"

static const char *meta_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
    return s != NULL ? s : "";
}

static json_t *run_manifest(const step_ctx *ctx, const json_t *ver, const char *name)
{
    json_t *spec = json_deep_copy(ver);
    const char *api = json_string_value(json_object_get(ctx->rr, "apiVersion"));
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]}, s:o}",
                     "apiVersion", "lifeboat.dev/v1alpha1", "kind", "VerificationRun",
                     "metadata", "name", name, "namespace", meta_str(ctx->rr, "namespace"),
                     "labels", "lifeboat.dev/restore-request", meta_str(ctx->rr, "name"),
                     "ownerReferences", "apiVersion", api ? api : "lifeboat.dev/v1alpha1", "kind",
                     "RestoreRequest", "name", meta_str(ctx->rr, "name"), "uid",
                     meta_str(ctx->rr, "uid"), "controller", 1, "blockOwnerDeletion", 1, "spec",
                     spec);
}

static int owned_by(const json_t *obj, const char *uid)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "ownerReferences"), i, r)
    {
        const char *u = json_string_value(json_object_get(r, "uid"));
        if (u != NULL && strcmp(u, uid) == 0)
            return 1;
    }
    return 0;
}

/* "FAILED a: ...; b: ..." from status.results into buf. */
static void results_text(char *buf, size_t size, const json_t *status)
{
    size_t len = 0, i;
    const json_t *r;
    buf[0] = '\0';
    json_array_foreach(json_object_get(status, "results"), i, r)
    {
        const char *msg = json_string_value(json_object_get(r, "message"));
        int ok = json_is_true(json_object_get(r, "passed"));
        if (len >= size - 1)
            break;
        int n = snprintf(buf + len, size - len, "%s%s%s", len ? "; " : "", ok ? "" : "FAILED ",
                         msg != NULL ? msg : json_string_value(json_object_get(r, "name")));
        if (n < 0)
            break;
        len += (size_t)n < size - len ? (size_t)n : size - len - 1;
    }
}

static void count_results(int *passed, int *failed, const json_t *status)
{
    size_t i;
    const json_t *r;
    *passed = *failed = 0;
    json_array_foreach(json_object_get(status, "results"), i, r)
    {
        if (json_is_true(json_object_get(r, "passed")))
            (*passed)++;
        else
            (*failed)++;
    }
}

int verify_step_verification(step_result *out, const step_ctx *ctx)
{
    const json_t *ver = json_object_get(ctx->spec->json, "verification");
    char name[64], full[320], text[STEP_MAX_MESSAGE];
    kube_ref ref = {.group = "lifeboat.dev",
                    .version = "v1alpha1",
                    .resource = "verificationruns",
                    .namespace = meta_str(ctx->rr, "namespace")};
    const char *uid = meta_str(ctx->rr, "uid");
    json_t *vr = NULL;
    int rc;

    if (ver == NULL)
        return step_done(out, "no spec.verification");
    if (json_array_size(json_object_get(ver, "checks")) == 0 &&
        json_object_get(ver, "rpo") == NULL)
        return step_done(out, "spec.verification has no checks");
    snprintf(full, sizeof(full), "%s%s", meta_str(ctx->rr, "name"), VERIFYRUN_SUFFIX);
    agentjob_object_name(name, sizeof(name), full);
    ref.name = name;
    rc = kube_get(&vr, ctx->kube, &ref);
    if (rc == LB_ENOTFOUND) {
        json_t *m = run_manifest(ctx, ver, name);
        ref.name = NULL;
        rc = kube_create(&vr, ctx->kube, &ref, m);
        ref.name = name;
        json_decref(m);
        if (rc == LB_EINVALID)
            return step_failed(out, "InvalidVerification", "VerificationRun %s refused: %s", name,
                               lb_error_last());
        if (rc != 0)
            return rc; /* 409 included: a concurrent create; adopted on the next call */
    } else if (rc != 0) {
        return rc;
    }
    if (!owned_by(vr, uid)) {
        json_decref(vr);
        return step_failed(out, "TargetNotOwned",
                           "VerificationRun %s exists and is not owned by this request", name);
    }
    const json_t *st = json_object_get(vr, "status");
    const char *phase = json_string_value(json_object_get(st, "phase"));
    const char *summary = json_string_value(json_object_get(st, "summary"));
    out->output = json_pack("{s:s, s:s, s:s}", "name", name, "uid", meta_str(vr, "uid"), "phase",
                            phase != NULL ? phase : "Pending");
    if (summary != NULL)
        json_object_set_new(out->output, "summary", json_string(summary));
    int passed, failed;
    count_results(&passed, &failed, st);
    results_text(text, sizeof(text), st);
    if (phase != NULL && strcmp(phase, "Passed") == 0)
        rc = step_done(out, "VerificationRun %s Passed: %d verification checks passed: %s", name,
                       passed, text);
    else if (phase != NULL && strcmp(phase, "Failed") == 0)
        rc = step_failed(out, "CheckFailed",
                         "VerificationRun %s Failed: %d of %d verification checks failed: %s%s%s",
                         name, failed, passed + failed, text,
                         json_string_value(json_object_get(st, "message")) ? "; " : "",
                         json_string_value(json_object_get(st, "message")) ?: "");
    else
        rc = step_wait(out, STEP_POLL_MS, "VerificationRun %s %s (%d of %d checks run)", name,
                       phase != NULL ? phase : "Pending", passed + failed,
                       (int)json_array_size(json_object_get(json_object_get(vr, "spec"), "checks")));
    json_decref(vr);
    return rc;
}
