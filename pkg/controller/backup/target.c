/* backup/target.c - the backup targets (see target.h). */
#include "controller/backup/target.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/rds.h"
#include "aws/s3.h"
#include "controller/agentjob.h"
#include "controller/backup/policy.h"
#include "controller/backup/s3retention.h"
#include "redis/pod.h"
#include "util/alloc.h"
#include "util/error.h"

#define TAG_OWNER  "lifeboat.dev/owner"
#define TAG_UID    "lifeboat.dev/uid"
#define TAG_TARGET "lifeboat.dev/target"
#define ANN_POLICY "lifeboat.dev/backup-policy"

static const char *md(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
    return s != NULL ? s : "";
}

static int verdict(backup_target_result *out, backup_target_verdict v, const char *reason,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int verdict(backup_target_result *out, backup_target_verdict v, const char *reason,
                   const char *fmt, ...)
{
    va_list ap;
    out->verdict = v;
    out->requeue_ms = v == BACKUP_TARGET_WAIT ? BACKUP_POLL_MS : 0;
    snprintf(out->reason, sizeof(out->reason), "%s", reason ? reason : "");
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
    return 0;
}

void backup_snapshot_id(char *out, size_t size, const char *instance, const char *policy,
                        const char *stamp)
{
    char buf[512];
    size_t j = 0;
    snprintf(buf, sizeof(buf), "%s-lb-%s-%s", instance, policy, stamp);
    for (size_t i = 0; buf[i] != '\0' && j + 1 < size && j < 255; i++) {
        char c = (char)tolower((unsigned char)buf[i]);
        if (!isalnum((unsigned char)c))
            c = '-';
        if (c == '-' && j > 0 && out[j - 1] == '-')
            continue; /* RDS: no two hyphens in a row */
        out[j++] = c;
    }
    while (j > 0 && out[j - 1] == '-')
        j--;
    out[j] = '\0';
}

static void owner_of(char *out, size_t size, const backup_target_ctx *ctx)
{
    snprintf(out, size, "BackupPolicy/%s/%s", md(ctx->bp, "namespace"), md(ctx->bp, "name"));
}

/* 1 when the tags say this policy's target made it, 0 when not, negative on error.
 * LB_ENOTFOUND (message set) when the snapshot was deleted after it was described:
 * that says nothing about its owner, so each caller decides what it means. */
static int tagged_ours(const backup_target_ctx *ctx, const char *arn, int check_target)
{
    rds_tag_list tags = {0};
    int rc = rds_list_tags_for_resource(&tags, ctx->aws, arn);
    if (rc != 0)
        return rc;
    const char *uid = rds_tag_list_get(&tags, TAG_UID);
    const char *tgt = rds_tag_list_get(&tags, TAG_TARGET);
    rc = uid != NULL && strcmp(uid, md(ctx->bp, "uid")) == 0 &&
         (!check_target || (tgt != NULL && strcmp(tgt, ctx->target->name) == 0));
    rds_tag_list_dispose(&tags);
    return rc;
}

static int snap_state(backup_target_result *out, const backup_target_ctx *ctx, const char *id,
                      const char *status, const char *arn, const char *created)
{
    int ours = tagged_ours(ctx, arn, 0);
    if (ours == LB_ENOTFOUND) /* deleted since described: describe again */
        return lb_error_setc(LB_ETIMEOUT, "snapshot %s was deleted while its tags were read",
                             id);
    if (ours < 0)
        return ours;
    if (!ours)
        return verdict(out, BACKUP_TARGET_FAILED, "TargetNotOwned",
                       "snapshot %s exists without this policy's lifeboat.dev/uid tag; not adopted",
                       id);
    if (strcmp(status, "available") == 0) {
        snprintf(out->id, sizeof(out->id), "%s", id);
        snprintf(out->location, sizeof(out->location), "%s", arn);
        snprintf(out->time, sizeof(out->time), "%s", created ? created : "");
        return verdict(out, BACKUP_TARGET_DONE, "", "snapshot %s available", id);
    }
    if (strcmp(status, "creating") == 0 || strcmp(status, "pending") == 0)
        return verdict(out, BACKUP_TARGET_WAIT, "", "snapshot %s is %s", id, status);
    return verdict(out, BACKUP_TARGET_FAILED, "SnapshotFailed", "snapshot %s is %s", id, status);
}

static int run_rds(backup_target_result *out, const backup_target_ctx *ctx, int cluster)
{
    const char *field = cluster ? "dbClusterIdentifier" : "dbInstanceIdentifier";
    const char *src = json_string_value(json_object_get(ctx->target->spec, field));
    char id[256], owner[320];
    int rc;

    backup_snapshot_id(id, sizeof(id), src, md(ctx->bp, "name"), ctx->stamp);
    owner_of(owner, sizeof(owner), ctx);
    rds_tag tags[] = {
        {TAG_OWNER, owner}, {TAG_UID, md(ctx->bp, "uid")}, {TAG_TARGET, ctx->target->name}};
    if (!cluster) {
        rds_snapshot_list l = {0};
        rds_snapshot_query q = {.snapshot_id = id};
        rc = rds_describe_db_snapshots(&l, NULL, ctx->aws, &q);
        if (rc == 0 && l.n > 0) {
            rc = snap_state(out, ctx, id, l.items[0].status ?: "", l.items[0].arn ?: "",
                            l.items[0].create_time);
            rds_snapshot_list_dispose(&l);
            return rc;
        }
        rds_snapshot_list_dispose(&l);
        if (rc != 0 && rc != LB_ENOTFOUND)
            return rc;
        rds_snapshot s = {0};
        rc = rds_create_db_snapshot(&s, ctx->aws, src, id, tags, 3);
        rds_snapshot_dispose(&s);
    } else {
        rds_cluster_snapshot_list l = {0};
        rds_cluster_snapshot_query q = {.snapshot_id = id};
        rc = rds_describe_db_cluster_snapshots(&l, NULL, ctx->aws, &q);
        if (rc == 0 && l.n > 0) {
            rc = snap_state(out, ctx, id, l.items[0].status ?: "", l.items[0].arn ?: "",
                            l.items[0].create_time);
            rds_cluster_snapshot_list_dispose(&l);
            return rc;
        }
        rds_cluster_snapshot_list_dispose(&l);
        if (rc != 0 && rc != LB_ENOTFOUND)
            return rc;
        rds_cluster_snapshot s = {0};
        rc = rds_create_db_cluster_snapshot(&s, ctx->aws, src, id, tags, 3);
        rds_cluster_snapshot_dispose(&s);
    }
    if (rc == LB_ENOTFOUND)
        return verdict(out, BACKUP_TARGET_FAILED, "SourceNotFound", "%s", lb_error_last());
    if (rc == LB_EINVALID)
        return verdict(out, BACKUP_TARGET_FAILED, "CreateSnapshotFailed", "%s", lb_error_last());
    if (rc != 0) /* ambiguous or transient: the next call describes before creating again */
        return rc;
    return verdict(out, BACKUP_TARGET_WAIT, "", "snapshot %s of %s requested", id, src);
}

/* ---- pgDump ------------------------------------------------------------------- */

typedef struct pg_args {
    const backup_target_ctx *ctx;
    const agentjob_spec *spec;
    const char *bucket;
    const char *key;
} pg_args;

static json_t *pg_job(void *payload)
{
    const pg_args *a = payload;
    const json_t *t = a->ctx->target->spec;
    const json_t *keyref = json_object_get(json_object_get(t, "encryption"), "keySecretRef");
    json_t *cmd = json_pack("[s, s, s, s, s, s]", "lifeboat-agent", "pg-backup", "--bucket",
                            a->bucket, "--key", a->key);
    json_t *env = json_array();
    json_array_append_new(
        env, agentjob_secret_env("LIFEBOAT_DB_URL", json_object_get(t, "connectionSecretRef")));
    if (keyref != NULL)
        json_array_append_new(env, agentjob_secret_env("LIFEBOAT_ENCRYPTION_KEY", keyref));
    else
        json_array_append_new(cmd, json_string("--no-encryption"));
    return agentjob_build(a->spec, cmd, env);
}

static int run_pgdump(backup_target_result *out, const backup_target_ctx *ctx)
{
    const json_t *dst = json_object_get(ctx->target->spec, "destination");
    const char *bucket = json_string_value(json_object_get(dst, "bucket"));
    const char *prefix = json_string_value(json_object_get(dst, "prefix"));
    const char *api = json_string_value(json_object_get(ctx->bp, "apiVersion"));
    char job[64], msg[AGENTJOB_MAX_MESSAGE];
    char *full = lb_sprintf("lb-bp-%s-%s-%s", md(ctx->bp, "name"), ctx->target->name, ctx->stamp);
    char *key = lb_sprintf("%s%s_%.8sT%sZ.dump", prefix ? prefix : "", ctx->target->name,
                           ctx->stamp, ctx->stamp + 8);
    agentjob_state state;
    json_t *res = NULL;
    int rc;

    agentjob_object_name(job, sizeof(job), full);
    agentjob_spec spec = {
        .name = job,
        .ns = md(ctx->bp, "namespace"),
        .owner_api = api ? api : "lifeboat.dev/v1alpha1",
        .owner_kind = "BackupPolicy",
        .owner_name = md(ctx->bp, "name"),
        .owner_uid = md(ctx->bp, "uid"),
        .annotation = ANN_POLICY,
        .service_account =
            json_string_value(json_object_get(ctx->target->spec, "serviceAccountName")),
    };
    pg_args args = {.ctx = ctx, .spec = &spec, .bucket = bucket, .key = key};
    rc = agentjob_run(&state, &res, msg, sizeof(msg), ctx->kube, &spec, pg_job, &args);
    if (rc != 0)
        goto done;
    switch (state) {
    case AGENTJOB_CREATED:
        verdict(out, BACKUP_TARGET_WAIT, "",
                "Job %s created (lifeboat-agent pg-backup to s3://%s/%s)", job, bucket, key);
        goto done;
    case AGENTJOB_RUNNING:
        verdict(out, BACKUP_TARGET_WAIT, "", "%s", msg);
        goto done;
    case AGENTJOB_NOT_OWNED:
        verdict(out, BACKUP_TARGET_FAILED, "JobNotOwned", "%s", msg);
        goto done;
    case AGENTJOB_CRASHED: /* no retry here: a failure like any other */
    case AGENTJOB_FAILED: { /* what it left (if anything) is marked failed, for retention */
        char *mkey = backup_s3_manifest_key(key);
        rc = ctx->aws != NULL ? backup_s3_mark_failed(ctx, bucket, key, mkey) : 0;
        free(mkey);
        if (rc == 0)
            verdict(out, BACKUP_TARGET_FAILED, "BackupFailed", "%s", msg);
        goto done;
    }
    case AGENTJOB_SUCCEEDED:
        break;
    }
    if (ctx->aws == NULL) {
        verdict(out, BACKUP_TARGET_FAILED, "NoAWS", "the operator has no AWS configuration");
        goto done;
    }
    {
        s3_object_info oi = {0}, mi = {0};
        char *mkey = backup_s3_manifest_key(key);
        bool exists = false;
        rc = s3_head_object(&oi, ctx->aws, bucket, key, NULL);
        if (rc == 0) {
            exists = true;
            rc = s3_head_object(&mi, ctx->aws, bucket, mkey, NULL);
            out->has_manifest = rc == 0;
            if (rc == LB_ENOTFOUND)
                rc = 0;
        } else if (rc == LB_ENOTFOUND) {
            rc = 0;
            oi.size = 0;
            out->has_manifest = 0;
        }
        /* ownership, for retention (s3retention.h); 0 bytes or no manifest: a failed
         * backup (backup_judge says BAD), tagged so that retention never counts it */
        if (rc == 0 && exists)
            rc = backup_s3_tag_owned(ctx, bucket, key, out->has_manifest ? mkey : NULL,
                                     oi.size == 0 || !out->has_manifest);
        free(mkey);
        if (rc == 0) {
            const char *sha = json_string_value(json_object_get(res, "sha256"));
            json_t *rows = json_object_get(res, "rows");
            snprintf(out->id, sizeof(out->id), "%s", key);
            snprintf(out->location, sizeof(out->location), "s3://%s/%s", bucket, key);
            lb_time_format(out->time, sizeof(out->time), ctx->now, 0);
            snprintf(out->sha256, sizeof(out->sha256), "%s", sha ? sha : "");
            out->size_bytes = oi.size;
            out->count = json_is_integer(rows) ? json_integer_value(rows) : -1;
            verdict(out, BACKUP_TARGET_DONE, "", "s3://%s/%s: %lld bytes, %lld rows", bucket, key,
                    (long long)oi.size, (long long)out->count);
        }
        s3_object_info_dispose(&oi);
        s3_object_info_dispose(&mi);
    }
done:
    json_decref(res);
    free(full);
    free(key);
    return rc;
}

static int run_redis(backup_target_result *out, const backup_target_ctx *ctx)
{
    const json_t *t = ctx->target->spec, *dst = json_object_get(t, "destination");
    const char *bucket = json_string_value(json_object_get(dst, "bucket"));
    const char *prefix = json_string_value(json_object_get(dst, "prefix"));
    redis_pod p = {.namespace = md(ctx->bp, "namespace"),
                   .pod = json_string_value(json_object_get(t, "pod")),
                   .container = json_string_value(json_object_get(t, "container"))};
    redis_backup_result r = {0};
    {
        kube_ref pref = {.group = "",
                         .version = "v1",
                         .resource = "pods",
                         .namespace = p.namespace,
                         .name = p.pod};
        json_t *pod = NULL;
        int prc = kube_get(&pod, ctx->kube, &pref);
        if (prc == 0)
            p.port = redis_pod_port_of(pod, p.container);
        json_decref(pod);
        if (prc != 0 && prc != LB_ENOTFOUND)
            return prc;
    }
    int rc = redis_pod_backup(&r, ctx->kube, ctx->aws, &p, bucket, prefix ? prefix : "", 1);
    if (rc == LB_ENOTFOUND || rc == LB_ERROR || rc == LB_EINVALID)
        return verdict(out, BACKUP_TARGET_FAILED, "BackupFailed", "%s", lb_error_last());
    if (rc != 0)
        return rc;
    /* ownership, for retention (s3retention.h); a failure here is transient and the next call
     * makes a new RDB object: the untagged one is never deleted by retention */
    rc = backup_s3_tag_owned(ctx, bucket, r.key, r.manifest_key,
                             r.size_bytes == 0 || r.manifest_key == NULL);
    if (rc != 0) {
        redis_backup_result_dispose(&r);
        return rc;
    }
    snprintf(out->id, sizeof(out->id), "%s", r.key);
    snprintf(out->location, sizeof(out->location), "s3://%s/%s", bucket, r.key);
    lb_time_format(out->time, sizeof(out->time), ctx->now, 0);
    snprintf(out->sha256, sizeof(out->sha256), "%s", r.sha256);
    out->size_bytes = r.size_bytes;
    out->count = r.keys;
    out->has_manifest = r.manifest_key != NULL;
    verdict(out, BACKUP_TARGET_DONE, "", "s3://%s/%s: %lld bytes, %lld keys", bucket, r.key,
            (long long)r.size_bytes, (long long)r.keys);
    redis_backup_result_dispose(&r);
    return 0;
}

/* ---- s3Copy ------------------------------------------------------------------- */

#define S3COPY_MAX_KEYS 100000 /* keys compared per call (a larger bucket: fails, named) */
#define S3COPY_BATCH    200    /* server-side copies per call; then WAIT and continue */

typedef struct s3entry {
    char *key;
    long long size;
    char *etag;
    int64_t time; /* LastModified, Unix seconds (0: unknown) */
} s3entry;

typedef struct s3set {
    s3entry *items;
    size_t n, cap;
    int overflow;
} s3set;

static int s3set_add(const s3_object *o, void *payload)
{
    s3set *s = payload;
    if (s->n >= S3COPY_MAX_KEYS) {
        s->overflow = 1;
        return 1;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->items = lb_realloc(s->items, s->cap * sizeof(*s->items));
    }
    s->items[s->n].key = lb_strdup(o->key);
    s->items[s->n].size = o->size;
    s->items[s->n].etag = lb_strdup(o->etag ? o->etag : "");
    lb_time t = {0};
    if (o->last_modified == NULL || lb_time_parse_rfc3339(&t, o->last_modified) != 0)
        t.sec = 0;
    s->items[s->n].time = t.sec;
    s->n++;
    return 0;
}

static void s3set_dispose(s3set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].key);
        free(s->items[i].etag);
    }
    free(s->items);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const s3entry *)a)->key, ((const s3entry *)b)->key);
}

/* Same object: equal size and, when both ETags are plain MD5s (no multipart
 * "-N" suffix), equal ETags. */
static int same_object(const s3entry *a, const s3entry *b)
{
    if (a->size != b->size)
        return 0;
    if (strchr(a->etag, '-') != NULL || strchr(b->etag, '-') != NULL)
        return 1;
    return strcmp(a->etag, b->etag) == 0;
}

/* The run's start from its stamp (YYYYMMDDHHMMSS UTC), Unix seconds; 0 when
 * the stamp is not one. */
static int64_t stamp_seconds(const char *stamp)
{
    char text[32];
    lb_time t = {0};
    if (stamp == NULL || strlen(stamp) != 14)
        return 0;
    snprintf(text, sizeof(text), "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", stamp, stamp + 4, stamp + 6,
             stamp + 8, stamp + 10, stamp + 12);
    return lb_time_parse_rfc3339(&t, text) == 0 ? t.sec : 0;
}

static int run_s3copy(backup_target_result *out, const backup_target_ctx *ctx)
{
    const json_t *t = ctx->target->spec;
    const char *src = json_string_value(json_object_get(t, "sourceBucket"));
    const char *dst = json_string_value(json_object_get(t, "destinationBucket"));
    const char *prefix = json_string_value(json_object_get(t, "prefix"));
    s3set a = {0}, b = {0};
    aws_region_pair cl;
    s3_list_options lo = {.prefix = prefix};
    size_t copied = 0, pending = 0;
    long long bytes = 0;
    int64_t run_start = stamp_seconds(ctx->stamp);
    int rc;

    rc = backup_s3copy_clients_open(&cl, ctx);
    if (rc == LB_EINVALID)
        return verdict(out, BACKUP_TARGET_FAILED, "InvalidRegion", "%s", lb_error_last());
    if (rc != 0)
        return rc;
    backup_target_ctx dctx = *ctx; /* tagging in the destination's region */
    dctx.aws = cl.dst;
    rc = s3_list_objects_v2(NULL, cl.src, src, &lo, s3set_add, &a);
    if (rc == 0 || rc == 1)
        rc = s3_list_objects_v2(NULL, cl.dst, dst, &lo, s3set_add, &b);
    if (rc == 1 || a.overflow || b.overflow) {
        rc = 0;
        verdict(out, BACKUP_TARGET_FAILED, "TooManyObjects",
                "more than %d objects under s3://%s/%s: not supported by this build",
                S3COPY_MAX_KEYS, src, prefix ? prefix : "");
        goto done;
    }
    if (rc == LB_ENOTFOUND) {
        rc = 0;
        verdict(out, BACKUP_TARGET_FAILED, "BucketNotFound", "%s", lb_error_last());
        goto done;
    }
    if (rc != 0)
        goto done;
    if (a.n > 1) /* an empty listing has no array */
        qsort(a.items, a.n, sizeof(*a.items), cmp_entry);
    if (b.n > 1)
        qsort(b.items, b.n, sizeof(*b.items), cmp_entry);
    for (size_t i = 0; i < a.n; i++) {
        const s3entry *have = bsearch(&a.items[i], b.items, b.n, sizeof(*b.items), cmp_entry);
        bytes += a.items[i].size;
        if (have != NULL && same_object(&a.items[i], have)) {
            /* copied during this run: owned? (a crash or an ambiguous answer between the
             * CopyObject and its tagging left it untagged; the copy is not repeated) */
            if (run_start > 0 && have->time >= run_start &&
                (rc = backup_s3_tag_copy(&dctx, dst, have->key)) != 0 && rc != LB_ENOTFOUND)
                goto done;
            rc = 0;
            continue;
        }
        if (copied >= S3COPY_BATCH) {
            pending++;
            continue;
        }
        s3_object_info oi = {0};
        s3_copy_options co = {.source_size = a.items[i].size,
                              .source_client = cl.src != cl.dst ? cl.src : NULL};
        rc = s3_copy_object_ex(&oi, NULL, cl.dst, dst, a.items[i].key, src, a.items[i].key, NULL,
                               &co);
        if (rc == 0 && strchr(a.items[i].etag, '-') == NULL && oi.etag != NULL &&
            strcmp(oi.etag, a.items[i].etag) != 0) {
            verdict(out, BACKUP_TARGET_FAILED, "ChecksumMismatch",
                    "s3://%s/%s: the copy's ETag %s differs from the source's %s", dst,
                    a.items[i].key, oi.etag, a.items[i].etag);
            s3_object_info_dispose(&oi);
            goto done;
        }
        s3_object_info_dispose(&oi);
        if (rc == 0) /* ownership, for retention (s3retention.h); checked again below */
            rc = backup_s3_tag_copy(&dctx, dst, a.items[i].key);
        if (rc != 0)
            goto done;
        copied++;
    }
    if (pending > 0) {
        verdict(out, BACKUP_TARGET_WAIT, "", "copied %zu objects to s3://%s; %zu to go", copied,
                dst, pending);
        out->requeue_ms = 0;
        goto done;
    }
    if (copied > 0) { /* verify the whole set once more on the next call */
        verdict(out, BACKUP_TARGET_WAIT, "", "copied %zu objects to s3://%s; verifying", copied,
                dst);
        out->requeue_ms = 0;
        goto done;
    }
    snprintf(out->id, sizeof(out->id), "s3://%s/%s", dst, prefix ? prefix : "");
    snprintf(out->location, sizeof(out->location), "s3://%s/%s", dst, prefix ? prefix : "");
    lb_time_format(out->time, sizeof(out->time), ctx->now, 0);
    out->size_bytes = bytes;
    out->count = (int64_t)a.n;
    verdict(out, BACKUP_TARGET_DONE, "",
            "s3://%s/%s: all %zu objects (%lld bytes) of s3://%s present with equal size and ETag",
            dst, prefix ? prefix : "", a.n, bytes, src);
done:
    s3set_dispose(&a);
    s3set_dispose(&b);
    aws_region_pair_close(&cl);
    return rc;
}

int backup_target_run(backup_target_result *out, const backup_target_ctx *ctx)
{
    memset(out, 0, sizeof(*out));
    out->size_bytes = -1;
    out->count = -1;
    out->has_manifest = -1;
    if (ctx->aws == NULL)
        return verdict(out, BACKUP_TARGET_FAILED, "NoAWSConfiguration",
                       "the operator has no AWS configuration");
    switch (ctx->target->kind) {
    case API_BACKUP_RDS_SNAPSHOT:
        return run_rds(out, ctx, 0);
    case API_BACKUP_RDS_CLUSTER_SNAPSHOT:
        return run_rds(out, ctx, 1);
    case API_BACKUP_PG_DUMP:
        return run_pgdump(out, ctx);
    case API_BACKUP_REDIS_RDB:
        return run_redis(out, ctx);
    case API_BACKUP_S3_COPY:
        return run_s3copy(out, ctx);
    }
    return verdict(out, BACKUP_TARGET_FAILED, "NotSupported",
                   "%s targets are not implemented in this build",
                   api_backup_kind_field(ctx->target->kind));
}

/* One manual snapshot (instance or cluster), as retention sees it. */
typedef struct snap_ref {
    const char *id, *arn, *status, *created;
} snap_ref;

/* Retention of the policy's own tagged manual snapshots in snaps[0..n): deletes
 * what backup_retention_select() marks (never keep_id) with DeleteDBSnapshot or
 * DeleteDBClusterSnapshot. A snapshot already gone counts as deleted. */
static int rds_retention(int *out_deleted, char *msg, size_t size, const backup_target_ctx *ctx,
                         const api_backup_spec *spec, const char *keep_id, const snap_ref *snaps,
                         size_t n_snaps, int cluster)
{
    backup_copy *copies = lb_calloc(n_snaps + 1, sizeof(*copies));
    bool *del = lb_calloc(n_snaps + 1, sizeof(*del));
    size_t *idx = lb_calloc(n_snaps + 1, sizeof(*idx)), n = 0, i, off = 0;
    int rc = 0;

    for (i = 0; i < n_snaps; i++) {
        lb_time t = {0};
        int ours = tagged_ours(ctx, snaps[i].arn ? snaps[i].arn : "", 1);
        if (ours == LB_ENOTFOUND) { /* deleted since listed: nothing left to keep or delete */
            lb_error_clear();
            continue;
        }
        if (ours < 0) {
            rc = ours;
            goto done;
        }
        if (!ours || snaps[i].created == NULL ||
            lb_time_parse_rfc3339(&t, snaps[i].created) != 0)
            continue; /* manual, another policy's, or another target's: never ours to delete */
        copies[n].time = t.sec;
        copies[n].good = snaps[i].status != NULL && strcmp(snaps[i].status, "available") == 0;
        copies[n].keep = keep_id != NULL && strcmp(snaps[i].id, keep_id) == 0;
        idx[n++] = i;
    }
    backup_retention_select(del, copies, n, spec->keep_last, spec->max_age_sec, ctx->now.sec);
    for (i = 0; i < n; i++) {
        const char *id = snaps[idx[i]].id;
        if (!del[i])
            continue;
        if (cluster) {
            rds_cluster_snapshot gone = {0};
            rc = rds_delete_db_cluster_snapshot(&gone, ctx->aws, id);
            rds_cluster_snapshot_dispose(&gone);
        } else {
            rds_snapshot gone = {0};
            rc = rds_delete_db_snapshot(&gone, ctx->aws, id);
            rds_snapshot_dispose(&gone);
        }
        if (rc == LB_ENOTFOUND) /* gone already (a repeat after a crash or a lost answer) */
            rc = 0;
        if (rc != 0)
            goto done;
        (*out_deleted)++;
        if (off < size) {
            int w = snprintf(msg + off, size - off, "%s%s", off ? ", " : "deleted ", id);
            off += w > 0 ? (size_t)w : 0;
        }
    }
done:
    free(copies);
    free(del);
    free(idx);
    return rc;
}

int backup_target_retention(int *out_deleted, char *msg, size_t size, const backup_target_ctx *ctx,
                            const api_backup_spec *spec, const char *keep_id)
{
    snap_ref *snaps = NULL;
    size_t i;
    int rc = 0;

    *out_deleted = 0;
    msg[0] = '\0';
    if (spec->keep_last < 0 && spec->max_age_sec < 0)
        return 0;
    switch (ctx->target->kind) {
    case API_BACKUP_PG_DUMP:
    case API_BACKUP_REDIS_RDB:
        return backup_s3_retention(out_deleted, msg, size, ctx, spec, keep_id);
    case API_BACKUP_S3_COPY:
        return backup_s3copy_retention(out_deleted, msg, size, ctx, spec);
    case API_BACKUP_RDS_SNAPSHOT: {
        rds_snapshot_list l = {0};
        rds_snapshot_query q = {
            .instance_id =
                json_string_value(json_object_get(ctx->target->spec, "dbInstanceIdentifier")),
            .snapshot_type = "manual"};
        rc = rds_describe_db_snapshots(&l, NULL, ctx->aws, &q);
        if (rc == 0) {
            snaps = lb_calloc(l.n + 1, sizeof(*snaps));
            for (i = 0; i < l.n; i++)
                snaps[i] = (snap_ref){l.items[i].id, l.items[i].arn, l.items[i].status,
                                      l.items[i].create_time};
            rc = rds_retention(out_deleted, msg, size, ctx, spec, keep_id, snaps, l.n, 0);
        }
        rds_snapshot_list_dispose(&l);
        break;
    }
    case API_BACKUP_RDS_CLUSTER_SNAPSHOT: {
        rds_cluster_snapshot_list l = {0};
        rds_cluster_snapshot_query q = {
            .cluster_id =
                json_string_value(json_object_get(ctx->target->spec, "dbClusterIdentifier")),
            .snapshot_type = "manual"};
        rc = rds_describe_db_cluster_snapshots(&l, NULL, ctx->aws, &q);
        if (rc == 0) {
            snaps = lb_calloc(l.n + 1, sizeof(*snaps));
            for (i = 0; i < l.n; i++)
                snaps[i] = (snap_ref){l.items[i].id, l.items[i].arn, l.items[i].status,
                                      l.items[i].create_time};
            rc = rds_retention(out_deleted, msg, size, ctx, spec, keep_id, snaps, l.n, 1);
        }
        rds_cluster_snapshot_list_dispose(&l);
        break;
    }
    }
    free(snaps);
    return rc;
}
