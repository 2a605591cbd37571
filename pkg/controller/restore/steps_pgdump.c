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
 * (envFrom) in the request's namespace. A failed Job's log tail goes into
 * the step message. */
#include "controller/restore/step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/manifest.h"
#include "agent/pgjob.h"
#include "aws/s3.h"
#include "controller/restore/jobrun.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

#define PGD_CONTAINER    "agent"
#define PGD_WORK_DIR     "/var/lib/lifeboat-agent" /* the emptyDir work volume */
#define PGD_AWS_SECRET   "lifeboat-agent-aws"
#define PGD_DEFAULT_IMG  "lifeboat-agent:latest"
#define PGD_JOB_DEADLINE 21600 /* activeDeadlineSeconds: 6 h */

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
        rc = pgjob_latest_under(&resolved, ctx->aws, bucket, under ? under : "",
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

/* ---- the agent Job ------------------------------------------------------------ */

static json_t *secret_env(const char *name, const json_t *ref)
{
    return json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", name, "valueFrom", "secretKeyRef", "name",
                     json_string_value(json_object_get(ref, "name")), "key",
                     json_string_value(json_object_get(ref, "key")));
}

json_t *pgdump__agent_job(const step_ctx *ctx, json_t *cmd, json_t *env, json_t *extra_mounts,
                          json_t *extra_volumes)
{
    const json_t *src = src_of(ctx);
    const json_t *keyref = json_object_get(json_object_get(src, "decryption"), "keySecretRef");
    const char *image = getenv("LIFEBOAT_AGENT_IMAGE");
    static const char *const aws_env[] = {"AWS_REGION",
                                          "AWS_DEFAULT_REGION",
                                          "AWS_ENDPOINT_URL",
                                          "AWS_ENDPOINT_URL_S3",
                                          "AWS_S3_FORCE_PATH_STYLE",
                                          "AWS_CA_BUNDLE",
                                          NULL};
    size_t i;
    json_t *v;

    if (keyref != NULL)
        json_array_append_new(env, secret_env("LIFEBOAT_DECRYPTION_KEY", keyref));
    json_array_append_new(
        env, json_pack("{s:s, s:s}", "name", "LIFEBOAT_WORK_DIR", "value", PGD_WORK_DIR));
    for (const char *const *e = aws_env; *e != NULL; e++) {
        const char *val = getenv(*e);
        if (val != NULL && val[0] != '\0')
            json_array_append_new(env, json_pack("{s:s, s:s}", "name", *e, "value", val));
    }
    json_t *mounts = json_pack("[{s:s, s:s}]", "name", "work", "mountPath", PGD_WORK_DIR);
    json_t *volumes = json_pack("[{s:s, s:{}}]", "name", "work", "emptyDir");
    json_array_foreach(extra_mounts, i, v) json_array_append(mounts, v);
    json_array_foreach(extra_volumes, i, v) json_array_append(volumes, v);
    json_decref(extra_mounts);
    json_decref(extra_volumes);
    json_t *container =
        json_pack("{s:s, s:s, s:o, s:o, s:[{s:{s:s, s:b}}], s:o}", "name", PGD_CONTAINER, "image",
                  image != NULL ? image : PGD_DEFAULT_IMG, "command", cmd, "env", env, "envFrom",
                  "secretRef", "name", PGD_AWS_SECRET, "optional", 1, "volumeMounts", mounts);
    json_t *pod = json_pack("{s:s, s:[o], s:o}", "restartPolicy", "Never", "containers", container,
                            "volumes", volumes);
    const char *sa = json_string_value(json_object_get(src, "serviceAccountName"));
    if (sa != NULL)
        json_object_set_new(pod, "serviceAccountName", json_string(sa));
    else /* the agent never talks to the API server: no token in its pod */
        json_object_set_new(pod, "automountServiceAccountToken", json_false());
    /* backoffLimit 0: a failure is reported with its log; a retry of a load
     * that failed halfway is the operator's decision, not the Job's. */
    return json_pack("{s:{s:i, s:i, s:{s:o}}}", "spec", "backoffLimit", 0,
                     "activeDeadlineSeconds", PGD_JOB_DEADLINE, "template", "spec", pod);
}

static json_t *agent_job(const step_ctx *ctx, const char *key, bool verify)
{
    const json_t *src = src_of(ctx);
    const json_t *tables = json_object_get(src, "tables");
    const json_t *dbref = json_object_get(json_object_get(src, "target"), "connectionSecretRef");
    json_t *cmd = json_pack("[s, s, s, s, s, s, s, s]", "lifeboat-agent", "pg-restore", "--bucket",
                            bucket_of(ctx), "--key", key, "--manifest", manifest_mode(ctx));
    json_t *env = json_array();
    size_t i;
    const json_t *v;

    if (verify) {
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
        json_array_append_new(env, secret_env("LIFEBOAT_DB_URL", dbref));
    }
    return pgdump__agent_job(ctx, cmd, env, NULL, NULL);
}

int pgdump__run_agent(json_t **out_result, step_result *out, const step_ctx *ctx,
                      const char *suffix, const char *what, const char *fail_reason,
                      json_t *(*build)(const step_ctx *, const char *, bool), bool verify)
{
    char job[JOBRUN_NAME_MAX + 1];
    jobrun_state st;
    const char *key = resolved_key(ctx);
    int rc;

    if (key == NULL) {
        step_failed(out, "NotValidated", "the item's object was not resolved by its validate step");
        return 0;
    }
    jobrun_name(job, sizeof(job), ctx, suffix);
    if ((rc = jobrun_observe(&st, NULL, ctx, job)) != 0)
        return rc;
    switch (st) {
    case JOBRUN_ABSENT:
        if ((rc = jobrun_create(ctx, job, build(ctx, key, verify))) != 0)
            return rc;
        step_wait(out, STEP_POLL_MS, "Job %s created (lifeboat-agent %s of s3://%s/%s)", job, what,
                  bucket_of(ctx), key);
        return 0;
    case JOBRUN_FOREIGN:
        step_failed(out, "JobNotOwned", "Job %s exists but is not owned by this RestoreRequest",
                    job);
        return 0;
    case JOBRUN_RUNNING:
        step_wait(out, STEP_POLL_MS, "waiting for Job %s", job);
        return 0;
    default:
        break;
    }
    char *log = jobrun_log(ctx, job, PGD_CONTAINER);
    json_t *res = jobrun_result(log);
    if (st == JOBRUN_FAILED || res == NULL ||
        strcmp(json_string_value(json_object_get(res, "result")) ?: "", "succeeded") != 0) {
        const char *err = json_string_value(json_object_get(res, "error"));
        char *tail = jobrun_log_tail(log);
        if (err != NULL)
            step_failed(out, fail_reason, "Job %s failed: %s", job, err);
        else
            step_failed(out, fail_reason, "Job %s failed; last log lines: %s", job, tail);
        free(tail);
        free(log);
        json_decref(res);
        return 0;
    }
    free(log);
    *out_result = res;
    return 1;
}

/* Creates (once) or observes the Job; *out_result receives the agent's result
 * on completion. Returns 1 when complete (STEP verdict left to the caller), 0
 * when out is set (wait/failed), or a negative code. */
static int run_job(json_t **out_result, step_result *out, const step_ctx *ctx, const char *suffix,
                   bool verify)
{
    return pgdump__run_agent(out_result, out, ctx, suffix,
                             verify ? "pg-restore --verify-only" : "pg-restore",
                             verify ? "DownloadFailed" : "LoadFailed", agent_job, verify);
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
