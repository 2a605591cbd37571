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
 * decides; the message says so. */
#include "controller/restore/step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/restore/jobrun.h"
#include "util/alloc.h"
#include "util/error.h"

#define FA_TARGET_DIR "/var/lib/lifeboat-target" /* where the claim is mounted */

static const json_t *target_of(const step_ctx *ctx)
{
    return json_object_get(ctx->item->source_spec, "target");
}

static json_t *fa_job(const step_ctx *ctx, const char *key, bool verify)
{
    const json_t *src = ctx->item->source_spec;
    const json_t *tg = target_of(ctx);
    const char *mode = json_string_value(json_object_get(src, "manifest"));
    const char *sub = json_string_value(json_object_get(tg, "subPath"));
    json_t *cmd = json_pack(
        "[s, s, s, s, s, s, s, s]", "lifeboat-agent", "archive-restore", "--bucket",
        json_string_value(json_object_get(json_object_get(src, "source"), "bucket")), "--key", key,
        "--manifest", mode != NULL ? mode : "optional");
    json_t *mounts = NULL, *volumes = NULL;

    if (verify) {
        json_array_append_new(cmd, json_string("--verify-only"));
    } else {
        json_array_append_new(cmd, json_string("--target"));
        json_array_append_new(cmd, json_string(FA_TARGET_DIR));
        json_t *m = json_pack("{s:s, s:s}", "name", "target", "mountPath", FA_TARGET_DIR);
        if (sub != NULL)
            json_object_set_new(m, "subPath", json_string(sub));
        mounts = json_pack("[o]", m);
        volumes = json_pack("[{s:s, s:{s:s}}]", "name", "target", "persistentVolumeClaim",
                            "claimName",
                            json_string_value(json_object_get(tg, "persistentVolumeClaim")));
    }
    return pgdump__agent_job(ctx, cmd, json_array(), mounts, volumes);
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
    rc = pgdump__run_agent(&res, out, ctx, "download", "archive-restore --verify-only",
                           "DownloadFailed", fa_job, true);
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
    rc = pgdump__run_agent(&res, out, ctx, "extract", "archive-restore", "ExtractFailed", fa_job,
                           false);
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
