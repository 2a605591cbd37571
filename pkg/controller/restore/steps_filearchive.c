/* restore/steps_filearchive.c - the fileArchive source (runbook 004 P3).
 * Contract: restore/step.h; the agent's side: agent/pgjob.h (archive-restore).
 *
 *   validate  (prepare)  the PersistentVolumeClaim exists; the object (key, or
 *                        the newest under latestUnder) and, when required,
 *                        its manifest exist (pgdump_step_validate: the same
 *                        rules and the same resolved key in outputs.location);
 *   download  (prepare)  a Job "lb-<rr>-<item>-download" runs `lifeboat-agent
 *                        archive-restore --verify-only`: download, sha256
 *                        against the manifest, decrypt, gunzip, and check
 *                        every entry (absolute paths, "..", escaping links,
 *                        devices) - a bad archive fails here, before the
 *                        approval, and the volume is not even mounted;
 *   extract   (cutover)  after scaleDown, a Job "lb-<rr>-<item>-extract"
 *                        mounts the claim (at subPath, which the kubelet
 *                        creates) and runs `lifeboat-agent archive-restore`
 *                        into it; it downloads and checks again (the object
 *                        may have changed since the prepare) and extracts
 *                        nothing when any check fails.
 *
 * Extraction writes over files of the same name and keeps other files
 * (tar -x semantics, as the runbook's `tar -xzf ... -C /app/`). There is no
 * undo: a failed extract leaves the volume as the agent left it (nothing when
 * a check failed) and the workloads scaled down stay down until an operator
 * decides; the message says so.
 *
 * AWS credentials as pgDump's Jobs (agentjob.h): "lifeboat-agent-aws" or
 * IRSA, or, when the request's scope names an AWS role, a session of that
 * role minted for each Job and renewed while it runs (restore/jobcreds.h). */
#include "controller/restore/step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/agentjob.h"
#include "controller/restore/jobcreds.h"
#include "controller/restore/jobrun.h"
#include "util/alloc.h"
#include "util/error.h"

#define FA_TARGET_DIR  "/var/lib/lifeboat-target" /* where the claim is mounted */
#define FA_ANN_REQUEST "lifeboat.dev/restore-request"

typedef struct fa_args {
    const step_ctx *ctx;
    const agentjob_spec *spec;
    const char *key;
    bool verify;
} fa_args;

static const char *md_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

/* The key validate resolved (status.outputs[].location "s3://<bucket>/<key>"), or NULL. */
static const char *resolved_key(const step_ctx *ctx)
{
    const char *loc = json_string_value(json_object_get(step_item_output(ctx), "location"));
    const char *b = json_string_value(
        json_object_get(json_object_get(ctx->item->source_spec, "source"), "bucket"));
    if (loc == NULL || b == NULL || strncmp(loc, "s3://", 5) != 0 ||
        strncmp(loc + 5, b, strlen(b)) != 0 || loc[5 + strlen(b)] != '/')
        return NULL;
    return loc + 5 + strlen(b) + 1;
}

static const json_t *target_of(const step_ctx *ctx)
{
    return json_object_get(ctx->item->source_spec, "target");
}

static json_t *fa_job(void *payload)
{
    const fa_args *a = payload;
    const json_t *src = a->ctx->item->source_spec;
    const json_t *tg = target_of(a->ctx);
    const json_t *keyref = json_object_get(json_object_get(src, "decryption"), "keySecretRef");
    const char *mode = json_string_value(json_object_get(src, "manifest"));
    const char *sub = json_string_value(json_object_get(tg, "subPath"));
    json_t *cmd =
        json_pack("[s, s, s, s, s, s, s, s]", "lifeboat-agent", "archive-restore", "--bucket",
                  json_string_value(json_object_get(json_object_get(src, "source"), "bucket")),
                  "--key", a->key, "--manifest", mode != NULL ? mode : "optional");
    json_t *env = json_array(), *body, *pod;

    if (keyref != NULL)
        json_array_append_new(env, agentjob_secret_env("LIFEBOAT_DECRYPTION_KEY", keyref));
    if (a->verify) {
        json_array_append_new(cmd, json_string("--verify-only"));
        return agentjob_build(a->spec, cmd, env); /* the claim is not even mounted */
    }
    json_array_append_new(cmd, json_string("--target"));
    json_array_append_new(cmd, json_string(FA_TARGET_DIR));
    body = agentjob_build(a->spec, cmd, env);
    pod = json_object_get(json_object_get(json_object_get(body, "spec"), "template"), "spec");
    json_t *m = json_pack("{s:s, s:s}", "name", "target", "mountPath", FA_TARGET_DIR);
    if (sub != NULL)
        json_object_set_new(m, "subPath", json_string(sub));
    json_array_append_new(
        json_object_get(json_array_get(json_object_get(pod, "containers"), 0), "volumeMounts"), m);
    json_array_append_new(
        json_object_get(pod, "volumes"),
        json_pack("{s:s, s:{s:s}}", "name", "target", "persistentVolumeClaim", "claimName",
                  json_string_value(json_object_get(tg, "persistentVolumeClaim"))));
    return body;
}

/* Creates (once) or observes the agent Job "lb-<rr>-<item>-<suffix>". Returns
 * 1 with *out_result when it succeeded, 0 with out set, or a negative code. */
static int fa_run(json_t **out_result, step_result *out, const step_ctx *ctx, const char *suffix,
                  bool verify)
{
    char job[JOBRUN_NAME_MAX + 1], msg[AGENTJOB_MAX_MESSAGE];
    const char *key = resolved_key(ctx);
    const char *api = json_string_value(json_object_get(ctx->rr, "apiVersion"));
    agentjob_state state;
    json_t *res = NULL;
    int rc;

    if (key == NULL) {
        step_failed(out, "NotValidated", "the item's object was not resolved by its validate step");
        return 0;
    }
    jobrun_name(job, sizeof(job), ctx, suffix);
    agentjob_spec spec = {
        .name = job,
        .ns = md_str(ctx->rr, "namespace") ? md_str(ctx->rr, "namespace") : "default",
        .owner_api = api ? api : "lifeboat.dev/v1alpha1",
        .owner_kind = "RestoreRequest",
        .owner_name = md_str(ctx->rr, "name") ? md_str(ctx->rr, "name") : "",
        .owner_uid = md_str(ctx->rr, "uid") ? md_str(ctx->rr, "uid") : "",
        .annotation = FA_ANN_REQUEST,
        .service_account =
            json_string_value(json_object_get(ctx->item->source_spec, "serviceAccountName")),
    };
    char secret[JOBRUN_NAME_MAX + 1];
    int failed;
    rc = jobcreds_prepare(&failed, out, ctx, &spec, secret, sizeof(secret));
    if (rc != 0 || failed)
        return rc;
    fa_args args = {.ctx = ctx, .spec = &spec, .key = key, .verify = verify};
    rc = agentjob_run(&state, &res, msg, sizeof(msg), ctx->kube, &spec, fa_job, &args);
    if (rc != 0)
        return rc;
    switch (state) {
    case AGENTJOB_CREATED:
        step_wait(out, STEP_POLL_MS, "Job %s created (lifeboat-agent archive-restore%s of %s)", job,
                  verify ? " --verify-only" : "", ctx->item->source_id);
        return 0;
    case AGENTJOB_RUNNING:
        step_wait(out, STEP_POLL_MS, "%s", msg);
        return 0;
    case AGENTJOB_NOT_OWNED:
        step_failed(out, "JobNotOwned", "Job %s exists but is not owned by this RestoreRequest",
                    job);
        return 0;
    case AGENTJOB_CRASHED: /* no retry here: a failure like any other */
    case AGENTJOB_FAILED:
        step_failed(out, verify ? "DownloadFailed" : "ExtractFailed", "%s", msg);
        return 0;
    case AGENTJOB_SUCCEEDED:
        break;
    }
    *out_result = res;
    return 1;
}

int filearchive_step_validate(step_result *out, const step_ctx *ctx)
{
    const char *claim;
    json_t *pvc = NULL;
    int rc;

    if (ctx->item == NULL)
        return step_failed(out, "InvalidStep", "step has no item");
    claim = json_string_value(json_object_get(target_of(ctx), "persistentVolumeClaim"));
    kube_ref ref = {.group = "",
                    .version = "v1",
                    .resource = "persistentvolumeclaims",
                    .namespace = json_string_value(
                        json_object_get(json_object_get(ctx->rr, "metadata"), "namespace")),
                    .name = claim};
    rc = kube_get(&pvc, ctx->kube, &ref);
    json_decref(pvc);
    if (rc == LB_ENOTFOUND)
        return step_failed(out, "ClaimNotFound",
                           "fileArchive.target.persistentVolumeClaim: PersistentVolumeClaim %s "
                           "does not exist in namespace %s",
                           claim, ref.namespace ? ref.namespace : "default");
    if (rc != 0)
        return lb_error_wrap(rc, "get PersistentVolumeClaim %s", claim);
    return pgdump_step_validate(out, ctx);
}

int filearchive_step_download(step_result *out, const step_ctx *ctx)
{
    json_t *res = NULL;
    int rc;

    if (ctx->item == NULL)
        return step_failed(out, "InvalidStep", "step has no item");
    rc = fa_run(&res, out, ctx, "download", true);
    if (rc != 1)
        return rc;
    step_done(out,
              "checked %s: sha256 %s %s, %s, %lld entries (%lld files, %lld bytes); nothing "
              "extracted yet",
              json_string_value(json_object_get(res, "object")) ?: "?",
              json_string_value(json_object_get(res, "sha256")) ?: "?",
              json_is_true(json_object_get(res, "verified")) ? "matches the manifest"
                                                             : "computed (no manifest)",
              json_string_value(json_object_get(res, "encryption")) ?: "?",
              (long long)json_integer_value(json_object_get(res, "entries")),
              (long long)json_integer_value(json_object_get(res, "files")),
              (long long)json_integer_value(json_object_get(res, "archiveBytes")));
    json_decref(res);
    return 0;
}

int filearchive_step_extract(step_result *out, const step_ctx *ctx)
{
    json_t *res = NULL;
    int rc;

    if (ctx->item == NULL)
        return step_failed(out, "InvalidStep", "step has no item");
    rc = fa_run(&res, out, ctx, "extract", false);
    if (rc != 1)
        return rc;
    step_done(out, "extracted %s into %s: %lld files, %lld bytes (sha256 %s%s)",
              json_string_value(json_object_get(res, "object")) ?: "?", ctx->item->target_id,
              (long long)json_integer_value(json_object_get(res, "files")),
              (long long)json_integer_value(json_object_get(res, "extractedBytes")),
              json_string_value(json_object_get(res, "sha256")) ?: "?",
              json_is_true(json_object_get(res, "verified")) ? ", verified" : "");
    json_decref(res);
    return 0;
}
