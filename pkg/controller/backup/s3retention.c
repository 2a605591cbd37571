/* backup/s3retention.c - ownership tags and retention of S3 backup objects
 * (see s3retention.h). */
#include "controller/backup/s3retention.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/request.h"
#include "aws/s3.h"
#include "aws/s3tags.h"
#include "controller/backup/policy.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/timeutil.h"

#define TAG_OWNER  "lifeboat.dev/owner"
#define TAG_UID    "lifeboat.dev/uid"
#define TAG_TARGET "lifeboat.dev/target"
#define TAG_RESULT LATEST_RESULT_TAG /* what latestUnder skips (agent/latest.h) */

static const char *md(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
    return s != NULL ? s : "";
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

char *backup_s3_manifest_key(const char *key)
{
    if (ends_with(key, ".dump"))
        return lb_sprintf("%.*s.manifest.json", (int)(strlen(key) - 5), key);
    return lb_sprintf("%s.manifest.json", key);
}

int backup_s3_tag_owned(const backup_target_ctx *ctx, const char *bucket, const char *key,
                        const char *manifest_key, bool failed)
{
    char owner[320];
    snprintf(owner, sizeof(owner), "BackupPolicy/%s/%s", md(ctx->bp, "namespace"),
             md(ctx->bp, "name"));
    s3_tag tags[] = {{TAG_OWNER, owner},
                     {TAG_UID, md(ctx->bp, "uid")},
                     {TAG_TARGET, ctx->target->name},
                     {TAG_RESULT, BACKUP_S3_RESULT_FAILED}};
    size_t n = failed ? 4 : 3;
    int rc = s3_put_object_tagging(ctx->aws, bucket, key, tags, n);
    if (rc == 0 && manifest_key != NULL)
        rc = s3_put_object_tagging(ctx->aws, bucket, manifest_key, tags, n);
    return rc;
}

int backup_s3_mark_failed(const backup_target_ctx *ctx, const char *bucket, const char *key,
                          const char *manifest_key)
{
    s3_object_info oi = {0}, mi = {0};
    int rc = s3_head_object(&oi, ctx->aws, bucket, key, NULL);
    if (rc == LB_ENOTFOUND)
        rc = 0; /* nothing was left */
    else if (rc == 0) {
        int mrc = manifest_key != NULL ? s3_head_object(&mi, ctx->aws, bucket, manifest_key, NULL)
                                       : LB_ENOTFOUND;
        if (mrc == 0 || mrc == LB_ENOTFOUND)
            rc = backup_s3_tag_owned(ctx, bucket, key, mrc == 0 ? manifest_key : NULL, true);
        else
            rc = mrc;
    }
    s3_object_info_dispose(&oi);
    s3_object_info_dispose(&mi);
    return rc;
}

/* Whether bucket/key carries ctx's policy uid and target name: 1 yes, 0 no,
 * LB_ENOTFOUND (deleted meanwhile), or another negative code. *out_failed
 * (when not NULL) says whether it is also tagged as a failed backup. */
static int owned_by_target(bool *out_failed, const backup_target_ctx *ctx, const char *bucket,
                           const char *key)
{
    s3_tag_set tags;
    int rc = s3_get_object_tagging(&tags, ctx->aws, bucket, key);
    if (rc == 0) {
        const char *uid = s3_tag_set_get(&tags, TAG_UID);
        const char *tgt = s3_tag_set_get(&tags, TAG_TARGET);
        const char *res = s3_tag_set_get(&tags, TAG_RESULT);
        rc = uid != NULL && strcmp(uid, md(ctx->bp, "uid")) == 0 && tgt != NULL &&
             strcmp(tgt, ctx->target->name) == 0;
        if (out_failed != NULL)
            *out_failed = res != NULL && strcmp(res, BACKUP_S3_RESULT_FAILED) == 0;
    }
    s3_tag_set_dispose(&tags);
    return rc;
}

/* Deletes bucket/key; 0 when it is gone (already gone included). After an
 * ambiguous answer (a 5xx, a lost answer: the delete may have happened) the key
 * is read back and deleted again only if it is still there, so a versioned
 * bucket never gets a second delete marker. Returns 0 or a negative code. */
static int delete_key(const backup_target_ctx *ctx, const char *bucket, const char *key)
{
    s3_object_info gone = {0}, still = {0};
    int rc = s3_delete_object_once(&gone, ctx->aws, bucket, key);
    s3_object_info_dispose(&gone);
    if (rc == LB_EAMBIGUOUS) {
        rc = s3_head_object(&still, ctx->aws, bucket, key, NULL);
        s3_object_info_dispose(&still);
        if (rc == 0) {
            memset(&gone, 0, sizeof(gone));
            rc = s3_delete_object_once(&gone, ctx->aws, bucket, key);
            s3_object_info_dispose(&gone);
        }
    }
    return rc == LB_ENOTFOUND ? 0 : rc;
}

typedef struct candidates {
    const char *suffix;
    char **keys;
    backup_copy *copies;
    size_t n, cap;
} candidates;

static int collect(const s3_object *o, void *payload)
{
    candidates *c = payload;
    lb_time t = {0};

    if (!ends_with(o->key, c->suffix))
        return 0;
    if (c->n >= BACKUP_S3_RETENTION_MAX_KEYS)
        return lb_error_setc(LB_ETOOBIG, "more than %d %s objects under the prefix",
                             BACKUP_S3_RETENTION_MAX_KEYS, c->suffix);
    if (o->last_modified == NULL || lb_time_parse_rfc3339(&t, o->last_modified) != 0)
        return 0; /* no time: never a retention candidate */
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->keys = lb_realloc(c->keys, c->cap * sizeof(*c->keys));
        c->copies = lb_realloc(c->copies, c->cap * sizeof(*c->copies));
    }
    c->keys[c->n] = lb_strdup(o->key);
    c->copies[c->n] = (backup_copy){.time = t.sec, .good = o->size > 0, .keep = false};
    c->n++;
    return 0;
}

int backup_s3_retention(int *out_deleted, char *msg, size_t size, const backup_target_ctx *ctx,
                        const api_backup_spec *spec, const char *keep_key)
{
    const json_t *dst = json_object_get(ctx->target->spec, "destination");
    const char *bucket = json_string_value(json_object_get(dst, "bucket"));
    const char *prefix = json_string_value(json_object_get(dst, "prefix"));
    candidates all = {.suffix = ctx->target->kind == API_BACKUP_PG_DUMP ? ".dump" : ".rdb"};
    backup_copy *mine = NULL;
    size_t *idx = NULL, n = 0, off = 0, i;
    bool *del = NULL;
    int rc;

    *out_deleted = 0;
    msg[0] = '\0';
    s3_list_options lo = {.prefix = prefix != NULL && prefix[0] != '\0' ? prefix : NULL};
    rc = s3_list_objects_v2(NULL, ctx->aws, bucket, &lo, collect, &all);
    if (rc != 0)
        goto done;
    mine = lb_calloc(all.n + 1, sizeof(*mine));
    idx = lb_calloc(all.n + 1, sizeof(*idx));
    del = lb_calloc(all.n + 1, sizeof(*del));
    bool *failed = lb_calloc(all.n + 1, sizeof(*failed));
    for (i = 0; i < all.n; i++) {
        bool bad = false;
        int ours = owned_by_target(&bad, ctx, bucket, all.keys[i]);
        if (ours == LB_ENOTFOUND || ours == 0)
            continue; /* deleted meanwhile; or a manual upload, another policy's or another
                         target's: never ours */
        if (ours < 0) {
            rc = ours;
            free(failed);
            goto done;
        }
        mine[n] = all.copies[i];
        mine[n].good = mine[n].good && !bad;
        mine[n].keep = keep_key != NULL && strcmp(all.keys[i], keep_key) == 0;
        failed[n] = bad;
        idx[n++] = i;
    }
    backup_retention_select(del, mine, n, spec->keep_last, spec->max_age_sec, ctx->now.sec);
    for (i = 0; i < n; i++) /* a failed backup's leftover is not a backup: it goes */
        del[i] = del[i] || (failed[i] && !mine[i].keep);
    free(failed);
    for (i = 0; i < n; i++) {
        const char *key = all.keys[idx[i]];
        if (!del[i])
            continue;
        char *mkey = backup_s3_manifest_key(key);
        rc = delete_key(ctx, bucket, mkey); /* manifest first: a crash between leaves the
                                               tagged dump, deleted by the next pass */
        free(mkey);
        if (rc == 0)
            rc = delete_key(ctx, bucket, key);
        if (rc != 0)
            goto done;
        (*out_deleted)++;
        if (off < size) {
            int w = snprintf(msg + off, size - off, "%s%s", off ? ", " : "deleted ", key);
            off += w > 0 ? (size_t)w : 0;
        }
    }
done:
    for (i = 0; i < all.n; i++)
        free(all.keys[i]);
    free(all.keys);
    free(all.copies);
    free(mine);
    free(idx);
    free(del);
    return rc;
}

/* ---- s3Copy ------------------------------------------------------------------- */

int backup_s3copy_clients_open(aws_region_pair *out, const backup_target_ctx *ctx)
{
    const json_t *t = ctx->target->spec;
    int rc =
        aws_region_pair_open(out, ctx->aws, json_string_value(json_object_get(t, "sourceRegion")),
                             json_string_value(json_object_get(t, "destinationRegion")));
    return rc != 0 ? lb_error_wrap(rc, "s3Copy sourceRegion/destinationRegion") : 0;
}

int backup_s3_tag_copy(const backup_target_ctx *ctx, const char *bucket, const char *key)
{
    char owner[320];
    s3_tag tags[S3_TAGS_MAX];
    s3_tag_set have;
    size_t n = 0;
    int rc = s3_get_object_tagging(&have, ctx->aws, bucket, key);

    if (rc != 0) {
        s3_tag_set_dispose(&have);
        return rc;
    }
    const char *uid = s3_tag_set_get(&have, TAG_UID), *tgt = s3_tag_set_get(&have, TAG_TARGET);
    if (uid != NULL && strcmp(uid, md(ctx->bp, "uid")) == 0 && tgt != NULL &&
        strcmp(tgt, ctx->target->name) == 0) {
        s3_tag_set_dispose(&have); /* already ours: nothing to write */
        return 0;
    }
    snprintf(owner, sizeof(owner), "BackupPolicy/%s/%s", md(ctx->bp, "namespace"),
             md(ctx->bp, "name"));
    for (size_t i = 0; i < have.n; i++) {
        if (strcmp(have.keys[i], TAG_OWNER) == 0 || strcmp(have.keys[i], TAG_UID) == 0 ||
            strcmp(have.keys[i], TAG_TARGET) == 0)
            continue;
        tags[n++] = (s3_tag){have.keys[i], have.values[i]};
    }
    if (n + 3 <= S3_TAGS_MAX) {
        tags[n++] = (s3_tag){TAG_OWNER, owner};
        tags[n++] = (s3_tag){TAG_UID, md(ctx->bp, "uid")};
        tags[n++] = (s3_tag){TAG_TARGET, ctx->target->name};
        rc = s3_put_object_tagging(ctx->aws, bucket, key, tags, n);
    } /* else: the source's own tags leave no room; the copy stays unowned (never deleted) */
    s3_tag_set_dispose(&have);
    return rc;
}

typedef struct keyset {
    char **keys;
    int64_t *times;
    size_t n, cap;
} keyset;

static int keyset_add(const s3_object *o, void *payload)
{
    keyset *s = payload;
    lb_time t = {0};
    if (s->n >= BACKUP_S3COPY_RETENTION_MAX_KEYS)
        return lb_error_setc(LB_ETOOBIG, "more than %d objects under the prefix",
                             BACKUP_S3COPY_RETENTION_MAX_KEYS);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->keys = lb_realloc(s->keys, s->cap * sizeof(*s->keys));
        s->times = lb_realloc(s->times, s->cap * sizeof(*s->times));
    }
    if (o->last_modified == NULL || lb_time_parse_rfc3339(&t, o->last_modified) != 0)
        t.sec = 0; /* no time: never old enough */
    s->keys[s->n] = lb_strdup(o->key);
    s->times[s->n] = t.sec;
    s->n++;
    return 0;
}

static void keyset_dispose(keyset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->keys[i]);
    free(s->keys);
    free(s->times);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int backup_s3copy_retention(int *out_deleted, char *msg, size_t size,
                            const backup_target_ctx *ctx, const api_backup_spec *spec)
{
    const json_t *t = ctx->target->spec;
    const char *src = json_string_value(json_object_get(t, "sourceBucket"));
    const char *dst = json_string_value(json_object_get(t, "destinationBucket"));
    const char *prefix = json_string_value(json_object_get(t, "prefix"));
    s3_list_options lo = {.prefix = prefix != NULL && prefix[0] != '\0' ? prefix : NULL};
    keyset a = {0}, b = {0};
    aws_region_pair cl;
    size_t off = 0;
    int rc;

    *out_deleted = 0;
    msg[0] = '\0';
    if (spec->max_age_sec < 0)
        return 0; /* keepLast alone does not apply to a mirror (one copy per key) */
    rc = backup_s3copy_clients_open(&cl, ctx);
    if (rc != 0)
        return rc;
    backup_target_ctx dctx = *ctx; /* the destination's region */
    dctx.aws = cl.dst;
    rc = s3_list_objects_v2(NULL, cl.src, src, &lo, keyset_add, &a);
    if (rc == 0)
        rc = s3_list_objects_v2(NULL, cl.dst, dst, &lo, keyset_add, &b);
    if (rc != 0)
        goto done;
    if (a.n > 1) /* an empty listing has no array */
        qsort(a.keys, a.n, sizeof(*a.keys), cmp_str);
    for (size_t i = 0; i < b.n; i++) {
        if (bsearch(&b.keys[i], a.keys, a.n, sizeof(*a.keys), cmp_str) != NULL)
            continue; /* still in the source: part of the current copy */
        if (b.times[i] == 0 || ctx->now.sec - b.times[i] <= spec->max_age_sec)
            continue;
        int ours = owned_by_target(NULL, &dctx, dst, b.keys[i]);
        if (ours == LB_ENOTFOUND || ours == 0)
            continue;
        if (ours < 0) {
            rc = ours;
            goto done;
        }
        rc = delete_key(&dctx, dst, b.keys[i]);
        if (rc != 0)
            goto done;
        (*out_deleted)++;
        if (off < size) {
            int w = snprintf(msg + off, size - off, "%s%s", off ? ", " : "deleted ", b.keys[i]);
            off += w > 0 ? (size_t)w : 0;
        }
    }
done:
    keyset_dispose(&a);
    keyset_dispose(&b);
    aws_region_pair_close(&cl);
    return rc;
}
