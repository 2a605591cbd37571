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
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

#define PGD_CONTAINER    "agent"
#define PGD_LOG_LINES    40
#define PGD_LOG_BYTES    16384
#define PGD_LOG_KEEP     700
#define PGD_WORK_DIR     "/var/lib/lifeboat-agent" /* the emptyDir work volume */
#define PGD_AWS_SECRET   "lifeboat-agent-aws"
#define PGD_DEFAULT_IMG  "lifeboat-agent:latest"
#define PGD_JOB_DEADLINE 21600 /* activeDeadlineSeconds: 6 h */
#define LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
#define ANN_REQUEST      "lifeboat.dev/restore-request"

void steps_kube__object_name(char *out, size_t size, const char *full);

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

static void job_name(char *out, size_t size, const step_ctx *ctx, const char *suffix)
{
    char *full = lb_sprintf("lb-%s-%s-%s", rr_name(ctx), ctx->item->name, suffix);
    steps_kube__object_name(out, size, full);
    free(full);
}

static json_t *secret_env(const char *name, const json_t *ref)
{
    return json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", name, "valueFrom", "secretKeyRef", "name",
                     json_string_value(json_object_get(ref, "name")), "key",
                     json_string_value(json_object_get(ref, "key")));
}

static json_t *agent_job(const step_ctx *ctx, const char *name, const char *key, bool verify)
{
    const json_t *src = src_of(ctx);
    const json_t *tables = json_object_get(src, "tables");
    const json_t *keyref = json_object_get(json_object_get(src, "decryption"), "keySecretRef");
    const json_t *dbref = json_object_get(json_object_get(src, "target"), "connectionSecretRef");
    const char *image = getenv("LIFEBOAT_AGENT_IMAGE");
    static const char *const aws_env[] = {"AWS_REGION",
                                          "AWS_DEFAULT_REGION",
                                          "AWS_ENDPOINT_URL",
                                          "AWS_ENDPOINT_URL_S3",
                                          "AWS_S3_FORCE_PATH_STYLE",
                                          "AWS_CA_BUNDLE",
                                          NULL};
    json_t *cmd = json_pack("[s, s, s, s, s, s, s, s]", "lifeboat-agent", "pg-restore", "--bucket",
                            bucket_of(ctx), "--key", key, "--manifest", manifest_mode(ctx));
    json_t *env = json_array();
    size_t i;
    const json_t *v;
    char who[320];

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
        json_array_foreach(tables, i, v)
        {
            json_array_append_new(cmd, json_string("--table"));
            json_array_append_new(cmd, json_string(json_string_value(v)));
        }
        json_array_append_new(env, secret_env("LIFEBOAT_DB_URL", dbref));
    }
    if (keyref != NULL)
        json_array_append_new(env, secret_env("LIFEBOAT_DECRYPTION_KEY", keyref));
    json_array_append_new(
        env, json_pack("{s:s, s:s}", "name", "LIFEBOAT_WORK_DIR", "value", PGD_WORK_DIR));
    for (const char *const *e = aws_env; *e != NULL; e++) {
        const char *val = getenv(*e);
        if (val != NULL && val[0] != '\0')
            json_array_append_new(env, json_pack("{s:s, s:s}", "name", *e, "value", val));
    }
    json_t *container =
        json_pack("{s:s, s:s, s:o, s:o, s:[{s:{s:s, s:b}}], s:[{s:s, s:s}]}", "name", PGD_CONTAINER,
                  "image", image != NULL ? image : PGD_DEFAULT_IMG, "command", cmd, "env", env,
                  "envFrom", "secretRef", "name", PGD_AWS_SECRET, "optional", 1, "volumeMounts",
                  "name", "work", "mountPath", PGD_WORK_DIR);
    json_t *pod = json_pack("{s:s, s:[o], s:[{s:s, s:{}}]}", "restartPolicy", "Never", "containers",
                            container, "volumes", "name", "work", "emptyDir");
    const char *sa = json_string_value(json_object_get(src, "serviceAccountName"));
    if (sa != NULL)
        json_object_set_new(pod, "serviceAccountName", json_string(sa));
    else /* the agent never talks to the API server: no token in its pod */
        json_object_set_new(pod, "automountServiceAccountToken", json_false());
    snprintf(who, sizeof(who), "%s/%s", rr_ns(ctx), rr_name(ctx));
    const char *api = json_string_value(json_object_get(ctx->rr, "apiVersion"));
    json_t *meta =
        json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]}", "name", name,
                  "namespace", rr_ns(ctx), "labels", LABEL_MANAGED_BY, "lifeboat", "annotations",
                  ANN_REQUEST, who, "ownerReferences", "apiVersion",
                  api ? api : "lifeboat.dev/v1alpha1", "kind", "RestoreRequest", "name",
                  rr_name(ctx), "uid", rr_uid(ctx), "controller", 1, "blockOwnerDeletion", 1);
    /* backoffLimit 0: a failure is reported with its log; a retry of a load
     * that failed halfway is the operator's decision, not the Job's. */
    return json_pack("{s:s, s:s, s:o, s:{s:i, s:i, s:{s:{s:{s:s}}, s:o}}}", "apiVersion",
                     "batch/v1", "kind", "Job", "metadata", meta, "spec", "backoffLimit", 0,
                     "activeDeadlineSeconds", PGD_JOB_DEADLINE, "template", "metadata", "labels",
                     LABEL_MANAGED_BY, "lifeboat", "spec", pod);
}

static int owned(const json_t *obj, const step_ctx *ctx)
{
    const json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
    size_t i;
    const json_t *r;
    json_array_foreach(refs, i, r)
    {
        const char *uid = json_string_value(json_object_get(r, "uid"));
        if (uid != NULL && rr_uid(ctx)[0] != '\0' && strcmp(uid, rr_uid(ctx)) == 0)
            return 1;
    }
    return 0;
}

static int job_cond(const json_t *job, const char *type)
{
    const json_t *conds = json_object_get(json_object_get(job, "status"), "conditions");
    size_t i;
    const json_t *c;
    json_array_foreach(conds, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "type")) ?: "", type) == 0 &&
            strcmp(json_string_value(json_object_get(c, "status")) ?: "", "True") == 0)
            return 1;
    }
    return 0;
}

/* The log of the Job's newest pod (caller frees), or NULL with the message set. */
static char *job_log(const step_ctx *ctx, const char *job)
{
    kube_ref pods = {.group = "", .version = "v1", .resource = "pods", .namespace = rr_ns(ctx)};
    kube_list_options lo = {0};
    json_t *list = NULL;
    const json_t *p, *newest = NULL;
    char *sel = lb_sprintf("job-name=%s", job), *text = NULL;
    size_t i, len = 0;
    lo.label_selector = sel;
    int rc = kube_list(&list, ctx->kube, &pods, &lo);
    free(sel);
    if (rc == 0) {
        json_array_foreach(json_object_get(list, "items"), i, p)
        {
            const char *ts = md_str(p, "creationTimestamp");
            const char *best = newest ? md_str(newest, "creationTimestamp") : NULL;
            if (newest == NULL || (ts != NULL && best != NULL && strcmp(ts, best) >= 0))
                newest = p;
        }
    }
    if (rc == 0 && newest == NULL) {
        lb_error_set("no pod of Job %s found", job);
        rc = LB_ENOTFOUND;
    }
    if (rc == 0) {
        pods.name = md_str(newest, "name");
        pods.subresource = "log";
        char *q = lb_sprintf("container=%s&tailLines=%d&limitBytes=%d", PGD_CONTAINER,
                             PGD_LOG_LINES, PGD_LOG_BYTES);
        rc = kube_get_text(&text, &len, ctx->kube, &pods, q);
        free(q);
    }
    json_decref(list);
    return rc == 0 ? text : NULL;
}

/* The agent's JSON result: the last log line that parses as an object. */
static json_t *job_result(const char *log)
{
    const char *end = log + strlen(log);
    while (end > log) {
        const char *start = end;
        while (start > log && start[-1] != '\n')
            start--;
        if (start < end && *start == '{') {
            json_t *j = json_loadb(start, (size_t)(end - start), 0, NULL);
            if (json_is_object(j))
                return j;
            json_decref(j);
        }
        end = start > log ? start - 1 : log;
    }
    return NULL;
}

static char *log_tail(const char *log)
{
    char *red = lb_log_redact_url(log);
    size_t len = strlen(red);
    for (char *c = red; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
        else if ((unsigned char)*c < 0x20)
            *c = '?';
    if (len > PGD_LOG_KEEP) {
        char *cut = lb_sprintf("...%s", red + len - PGD_LOG_KEEP);
        free(red);
        red = cut;
    }
    return red;
}

/* Creates (once) or observes the Job; *out_result (may be NULL) receives the
 * agent's result on completion. Returns 1 when complete (STEP verdict left
 * to the caller), 0 when out is set (wait/failed), or a negative code. */
static int run_job(json_t **out_result, step_result *out, const step_ctx *ctx, const char *suffix,
                   bool verify)
{
    char job[64];
    kube_ref ref = {.group = "batch", .version = "v1", .resource = "jobs", .namespace = rr_ns(ctx)};
    json_t *obj = NULL;
    const char *key = resolved_key(ctx);
    int rc;

    if (key == NULL) {
        step_failed(out, "NotValidated", "the item's object was not resolved by its validate step");
        return 0;
    }
    job_name(job, sizeof(job), ctx, suffix);
    ref.name = job;
    rc = kube_get(&obj, ctx->kube, &ref);
    if (rc == LB_ENOTFOUND) {
        json_t *body = agent_job(ctx, job, key, verify);
        ref.name = NULL;
        rc = kube_create(NULL, ctx->kube, &ref, body);
        json_decref(body);
        if (rc == LB_ECONFLICT) /* created by a previous attempt: observe it next time */
            rc = 0;
        if (rc != 0)
            return lb_error_wrap(rc, "create Job %s", job);
        step_wait(out, STEP_POLL_MS, "Job %s created (lifeboat-agent pg-restore%s of s3://%s/%s)",
                  job, verify ? " --verify-only" : "", bucket_of(ctx), key);
        return 0;
    }
    if (rc != 0)
        return lb_error_wrap(rc, "get Job %s", job);
    if (!owned(obj, ctx)) {
        json_decref(obj);
        step_failed(out, "JobNotOwned", "Job %s exists but is not owned by this RestoreRequest",
                    job);
        return 0;
    }
    bool complete = job_cond(obj, "Complete"), failed = job_cond(obj, "Failed");
    json_decref(obj);
    if (!complete && !failed) {
        step_wait(out, STEP_POLL_MS, "waiting for Job %s", job);
        return 0;
    }
    char *log = job_log(ctx, job);
    json_t *res = log != NULL ? job_result(log) : NULL;
    if (failed || res == NULL ||
        strcmp(json_string_value(json_object_get(res, "result")) ?: "", "succeeded") != 0) {
        const char *err = json_string_value(json_object_get(res, "error"));
        char *tail = log != NULL ? log_tail(log) : lb_strdup(lb_error_last());
        if (err != NULL)
            step_failed(out, verify ? "DownloadFailed" : "LoadFailed", "Job %s failed: %s", job,
                        err);
        else
            step_failed(out, verify ? "DownloadFailed" : "LoadFailed",
                        "Job %s failed; last log lines: %s", job, tail);
        free(tail);
        free(log);
        json_decref(res);
        return 0;
    }
    free(log);
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
