/* restore/steps_pgdump.c - the pgDump source (runbooks 000 1C, 003 section 2,
 * 004 P1). Contract: restore/step.h; the agent's side: agent/pgjob.h.
 *
 *   validate  (prepare)  the object exists (key, or the newest under
 *                        latestUnder, with a manifest when it is required),
 *                        and its manifest when required; the resolved key is
 *                        kept in status.outputs[].location, so every later
 *                        step and a restart after a crash use the same object;
 *   download  (prepare)  a Job "lb-<rr>-<item>-download" runs `lifeboat-agent
 *                        pg-restore --verify-only`: download to the Job's work
 *                        volume, sha256 against the manifest, decrypt and
 *                        decompress to nowhere: a wrong key, a damaged or
 *                        truncated object fail here, before the approval;
 *   checksum  (prepare)  reads that Job's JSON result line and records the
 *                        sha256 (verified or not) in the step message;
 *   load      (cutover)  a Job "lb-<rr>-<item>-load" runs `lifeboat-agent
 *                        pg-restore` into the target database (it downloads
 *                        and checks the sha256 again before writing: the
 *                        object could have changed since the prepare).
 *
 * Jobs have deterministic names, the request as owner (controller) and the
 * managed-by label; a Job of that name is adopted only when it carries this
 * request's uid. The database URL and the key reach the agent only through
 * secretKeyRef env; AWS settings are copied from the operator's non-secret
 * environment (region, endpoints) and credentials come from the Job's
 * ServiceAccount (IRSA) or from the optional Secret "lifeboat-agent-aws"
 * (envFrom) in the request's namespace; when the request's scope names an
 * AWS role, from a session of that role minted for each Job and renewed
 * while it runs (restore/jobcreds.h). A failed Job's log tail goes into
 * the step message. */
#include "controller/restore/step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/latest.h"
#include "agent/manifest.h"
#include "agent/pgjob.h"
#include "controller/agentjob.h"
#include "controller/restore/jobcreds.h"
#include "aws/s3.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

#define ANN_REQUEST "lifeboat.dev/restore-request"

static const char *md_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static const char *rr_ns(const step_ctx *ctx)
{
    const char *s = md_str(ctx->rr, "namespace");
    return s ? s : "default";
}

static const char *rr_name(const step_ctx *ctx)
{
    const char *s = md_str(ctx->rr, "name");
    return s ? s : "";
}

static const char *rr_uid(const step_ctx *ctx)
{
    const char *s = md_str(ctx->rr, "uid");
    return s ? s : "";
}

static const json_t *src_of(const step_ctx *ctx)
{
    return ctx->item->source_spec;
}

static const char *bucket_of(const step_ctx *ctx)
{
    return json_string_value(json_object_get(json_object_get(src_of(ctx), "source"), "bucket"));
}

static const char *manifest_mode(const step_ctx *ctx)
{
    const char *m = json_string_value(json_object_get(src_of(ctx), "manifest"));
    return m != NULL ? m : "optional";
}

static int need_item(step_result *out, const step_ctx *ctx)
{
    if (ctx->item != NULL)
        return 0;
    step_failed(out, "InvalidStep", "step %s has no item", ctx->step ? ctx->step->name : "?");
    return 1;
}

/* The key validate resolved (from status.outputs[].location), or NULL. */
static const char *resolved_key(const step_ctx *ctx)
{
    const char *loc = json_string_value(json_object_get(step_item_output(ctx), "location"));
    const char *b = bucket_of(ctx);
    if (loc == NULL || b == NULL || strncmp(loc, "s3://", 5) != 0 ||
        strncmp(loc + 5, b, strlen(b)) != 0 || loc[5 + strlen(b)] != '/')
        return NULL;
    return loc + 5 + strlen(b) + 1;
}

int pgdump_step_validate(step_result *out, const step_ctx *ctx)
{
    const json_t *s;
    const char *bucket, *key, *under, *mode;
    char *resolved = NULL, *mkey = NULL;
    s3_object_info info = {0};
    int rc;

    if (need_item(out, ctx))
        return 0;
    if (ctx->aws == NULL)
        return step_failed(out, "NoAWS", "the operator has no AWS configuration");
    s = json_object_get(src_of(ctx), "source");
    bucket = json_string_value(json_object_get(s, "bucket"));
    key = json_string_value(json_object_get(s, "key"));
    under = json_string_value(json_object_get(s, "latestUnder"));
    mode = manifest_mode(ctx);
    if (key != NULL) {
        resolved = lb_strdup(key);
    } else {
        rc = latest_backup_under(&resolved, ctx->aws, bucket, under ? under : "",
                                 strcmp(mode, "required") == 0);
        if (rc == LB_ENOTFOUND) {
            rc = 0;
            step_failed(out, "NoBackup", "%s", lb_error_last());
            goto done;
        }
        if (rc != 0)
            goto done;
    }
    rc = s3_head_object(&info, ctx->aws, bucket, resolved, NULL);
    if (rc == LB_ENOTFOUND) {
        rc = 0;
        step_failed(out, "ObjectNotFound", "object s3://%s/%s does not exist", bucket, resolved);
        goto done;
    }
    if (rc != 0)
        goto done;
    mkey = manifest_key_for(resolved);
    if (strcmp(mode, "none") != 0) {
        s3_object_info mi = {0};
        rc = s3_head_object(&mi, ctx->aws, bucket, mkey, NULL);
        s3_object_info_dispose(&mi);
        if (rc == LB_ENOTFOUND && strcmp(mode, "required") == 0) {
            rc = 0;
            step_failed(out, "ManifestMissing",
                        "s3://%s/%s: its manifest s3://%s/%s does not exist (manifest: required)",
                        bucket, resolved, bucket, mkey);
            goto done;
        }
        if (rc != 0 && rc != LB_ENOTFOUND)
            goto done;
        rc = 0;
    }
    char *loc = lb_sprintf("s3://%s/%s", bucket, resolved);
    step_output_str(out, "location", loc);
    step_done(out, "%s exists (%lld bytes); manifest %s", loc, info.size, mode);
    free(loc);
done:
    s3_object_info_dispose(&info);
    free(resolved);
    free(mkey);
    return rc;
}

/* ---- the agent Job (controller/agentjob.h) -------------------------------------- */

static void job_name(char *out, size_t size, const step_ctx *ctx, const char *suffix)
{
    char *full = lb_sprintf("lb-%s-%s-%s", rr_name(ctx), ctx->item->name, suffix);
    agentjob_object_name(out, size, full);
    free(full);
}

typedef struct job_args {
    const step_ctx *ctx;
    const agentjob_spec *spec;
    const char *key;
    bool verify;
} job_args;

static json_t *agent_job(void *payload)
{
    const job_args *a = payload;
    const step_ctx *ctx = a->ctx;
    const json_t *src = src_of(ctx);
    const json_t *tables = json_object_get(src, "tables");
    const json_t *keyref = json_object_get(json_object_get(src, "decryption"), "keySecretRef");
    const json_t *dbref = json_object_get(json_object_get(src, "target"), "connectionSecretRef");
    json_t *cmd = json_pack("[s, s, s, s, s, s, s, s]", "lifeboat-agent", "pg-restore", "--bucket",
                            bucket_of(ctx), "--key", a->key, "--manifest", manifest_mode(ctx));
    json_t *env = json_array();
    size_t i;
    const json_t *v;

    if (a->verify) {
        json_array_append_new(cmd, json_string("--verify-only"));
    } else {
        long long jobs = json_integer_value(json_object_get(src, "jobs"));
        if (jobs > 1) {
            json_array_append_new(cmd, json_string("--jobs"));
            json_array_append_new(cmd, json_sprintf("%lld", jobs));
        }
        if (json_is_true(json_object_get(src, "recreateDatabase")))
            json_array_append_new(cmd, json_string("--recreate-database"));
        if (json_is_true(json_object_get(json_object_get(src, "target"), "createDatabase")))
            json_array_append_new(cmd, json_string("--create-database"));
        json_array_foreach(tables, i, v)
        {
            json_array_append_new(cmd, json_string("--table"));
            json_array_append_new(cmd, json_string(json_string_value(v)));
        }
        json_array_append_new(env, agentjob_secret_env("LIFEBOAT_DB_URL", dbref));
    }
    if (keyref != NULL)
        json_array_append_new(env, agentjob_secret_env("LIFEBOAT_DECRYPTION_KEY", keyref));
    return agentjob_build(a->spec, cmd, env);
}

/* Creates (once) or observes the Job; *out_result (may be NULL) receives the
 * agent's result on completion. Returns 1 when complete (STEP verdict left
 * to the caller), 0 when out is set (wait/failed), or a negative code. */
static int run_job(json_t **out_result, step_result *out, const step_ctx *ctx, const char *suffix,
                   bool verify)
{
    char job[64], msg[AGENTJOB_MAX_MESSAGE];
    const char *key = resolved_key(ctx);
    const char *api = json_string_value(json_object_get(ctx->rr, "apiVersion"));
    agentjob_state state;
    json_t *res = NULL;
    int rc;

    if (key == NULL) {
        step_failed(out, "NotValidated", "the item's object was not resolved by its validate step");
        return 0;
    }
    job_name(job, sizeof(job), ctx, suffix);
    agentjob_spec spec = {
        .name = job,
        .ns = rr_ns(ctx),
        .owner_api = api ? api : "lifeboat.dev/v1alpha1",
        .owner_kind = "RestoreRequest",
        .owner_name = rr_name(ctx),
        .owner_uid = rr_uid(ctx),
        .annotation = ANN_REQUEST,
        .service_account = json_string_value(json_object_get(src_of(ctx), "serviceAccountName")),
    };
    char secret[64];
    int failed;
    rc = jobcreds_prepare(&failed, out, ctx, &spec, secret, sizeof(secret));
    if (rc != 0 || failed)
        return rc;
    job_args args = {.ctx = ctx, .spec = &spec, .key = key, .verify = verify};
    rc = agentjob_run(&state, &res, msg, sizeof(msg), ctx->kube, &spec, agent_job, &args);
    if (rc != 0)
        return rc;
    switch (state) {
    case AGENTJOB_CREATED:
        step_wait(out, STEP_POLL_MS, "Job %s created (lifeboat-agent pg-restore%s of s3://%s/%s)",
                  job, verify ? " --verify-only" : "", bucket_of(ctx), key);
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
        step_failed(out, verify ? "DownloadFailed" : "LoadFailed", "%s", msg);
        return 0;
    case AGENTJOB_SUCCEEDED:
        break;
    }
    *out_result = res;
    return 1;
}

int pgdump_step_download(step_result *out, const step_ctx *ctx)
{
    json_t *res = NULL;
    if (need_item(out, ctx))
        return 0;
    int rc = run_job(&res, out, ctx, "download", true);
    if (rc != 1)
        return rc;
    step_done(out, "downloaded and decoded %s (%lld bytes)",
              json_string_value(json_object_get(res, "object")),
              (long long)json_integer_value(json_object_get(res, "bytes")));
    json_decref(res);
    return 0;
}

int pgdump_step_checksum(step_result *out, const step_ctx *ctx)
{
    json_t *res = NULL;
    if (need_item(out, ctx))
        return 0;
    int rc = run_job(&res, out, ctx, "download", true);
    if (rc != 1)
        return rc;
    bool verified = json_is_true(json_object_get(res, "verified"));
    step_done(out, "sha256 %s %s; %s, %s, encryption %s",
              json_string_value(json_object_get(res, "sha256")) ?: "?",
              verified ? "matches the manifest" : "computed (no manifest)",
              json_string_value(json_object_get(res, "format")) ?: "?",
              json_is_true(json_object_get(res, "compressed")) ? "gzip" : "not compressed",
              json_string_value(json_object_get(res, "encryption")) ?: "?");
    json_decref(res);
    return 0;
}

int pgdump_step_load(step_result *out, const step_ctx *ctx)
{
    json_t *res = NULL;
    if (need_item(out, ctx))
        return 0;
    int rc = run_job(&res, out, ctx, "load", false);
    if (rc != 1)
        return rc;
    step_done(out, "loaded %s: %lld rows in %zu tables (sha256 %s%s)",
              json_string_value(json_object_get(res, "object")),
              (long long)json_integer_value(json_object_get(res, "rows")),
              json_object_size(json_object_get(res, "tables")),
              json_string_value(json_object_get(res, "sha256")) ?: "?",
              json_is_true(json_object_get(res, "verified")) ? ", verified" : "");
    json_decref(res);
    return 0;
}
