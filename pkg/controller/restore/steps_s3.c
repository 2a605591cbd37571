/* steps_s3.c - s3Objects items (runbook 000 3A, runbook 001's recorded versions).
 *
 * Every step first lists the versions (ListObjectVersions, paginated by
 * pkg/aws, at most S3OBJ_MAX_VERSIONS entries per call: more fails with
 * TooManyVersions naming the cap) of the prefix, or of each key, then
 * computes from that live state the exact list of changes (steps_s3__plan):
 *
 *   undelete     a key whose newest entry is a delete marker: delete that
 *                marker by its version id (the object comes back with its
 *                original version id); a key that is not deleted, or has no
 *                version at all, is reported, not an error;
 *   version      the key gets versionId back by a server-side copy of that
 *                version (CopyObject ?versionId=);
 *   pointInTime  each key gets the version that was newest at T (LastModified
 *                <= T) back by a server-side copy; a key whose newest entry at
 *                T was a delete marker, or that did not exist at T, is kept
 *                unless removeNewerObjects (then deleted: a delete marker, so
 *                its history stays).
 *
 * A key whose current version already is the target, or has the target's ETag
 * (same content), needs nothing: so a re-run, or the cutover resumed after a
 * crash, finds done changes done and does not copy them again. diff writes the
 * counts and the first keys into its message for the approver; apply makes at
 * most S3OBJ_MAX_CHANGES_PER_CALL changes per call and asks to be called again
 * (WAIT 0) until the list is empty. An ambiguous failure (LB_EAMBIGUOUS) is
 * returned as transient: the next call re-lists and adopts what landed.
 *
 * S3's LastModified has a one-second resolution here (moto; real S3 gives
 * milliseconds): a version written in the same second as T counts as before T.
 */
#include <stdlib.h>
#include <string.h>

#include "aws/s3.h"
#include "controller/restore/step.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#define S3OBJ_MAX_VERSIONS         100000 /* versions + delete markers listed per call */
#define S3OBJ_MAX_CHANGES_PER_CALL 200    /* copies/deletes made by one apply call */
#define S3OBJ_FIRST_KEYS           5      /* keys named in a message */

/* ---- the plan (exported for unit tests) ---------------------------------------------- */

typedef struct s3obj_version {
    char *key, *version_id, *etag;
    int64_t lm_ns; /* LastModified */
    int marker, latest;
    size_t seq; /* listing order (newest first within a key) */
} s3obj_version;

typedef enum s3obj_action {
    S3OBJ_COPY = 0,      /* copy version_id onto key */
    S3OBJ_REMOVE_MARKER, /* delete delete-marker version_id */
    S3OBJ_DELETE,        /* delete the key (a new delete marker) */
} s3obj_action;

typedef struct s3obj_change {
    s3obj_action action;
    const char *key, *version_id; /* borrowed from the version list */
} s3obj_change;

typedef struct s3obj_plan {
    s3obj_change *changes;
    size_t n;
    size_t unchanged;   /* already as wanted */
    size_t kept_newer;  /* pointInTime: newer than T, kept */
    size_t not_deleted; /* undelete: no delete marker on top */
    size_t missing;     /* keys given that have no version at all */
    const char *first_missing;
} s3obj_plan;

int steps_s3__plan(s3obj_plan *out, s3obj_version *v, size_t n, const char *mode,
                   const char *const *keys, size_t nkeys, int64_t t_ns, const char *version_id,
                   int remove_newer);
void steps_s3__plan_free(s3obj_plan *p);

static int version_cmp(const void *a, const void *b)
{
    const s3obj_version *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    if (x->lm_ns != y->lm_ns)
        return x->lm_ns > y->lm_ns ? -1 : 1; /* newest first */
    if (x->latest != y->latest)
        return x->latest ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static void plan_add(s3obj_plan *p, s3obj_action a, const char *key, const char *vid)
{
    p->changes = lb_realloc(p->changes, (p->n + 1) * sizeof(*p->changes));
    p->changes[p->n].action = a;
    p->changes[p->n].key = key;
    p->changes[p->n].version_id = vid;
    p->n++;
}

static int key_wanted(const char *key, const char *const *keys, size_t nkeys)
{
    if (keys == NULL)
        return 1;
    for (size_t i = 0; i < nkeys; i++)
        if (strcmp(keys[i], key) == 0)
            return 1;
    return 0;
}

/* One key's versions v[0..n) (sorted newest first). */
static void plan_key(s3obj_plan *p, const s3obj_version *v, size_t n, const char *mode,
                     int64_t t_ns, const char *version_id, int remove_newer)
{
    const s3obj_version *cur = &v[0], *target = NULL;

    if (strcmp(mode, "undelete") == 0) {
        if (cur->marker)
            plan_add(p, S3OBJ_REMOVE_MARKER, cur->key, cur->version_id);
        else
            p->not_deleted++;
        return;
    }
    if (strcmp(mode, "version") == 0) {
        for (size_t i = 0; i < n; i++)
            if (!v[i].marker && strcmp(v[i].version_id, version_id) == 0)
                target = &v[i];
    } else {
        for (size_t i = 0; i < n && target == NULL; i++)
            if (v[i].lm_ns <= t_ns)
                target = &v[i];
        if (target == NULL || target->marker) {
            /* did not exist at T (or was deleted then): newer than T */
            if (cur->marker)
                p->unchanged++;
            else if (remove_newer)
                plan_add(p, S3OBJ_DELETE, cur->key, NULL);
            else
                p->kept_newer++;
            return;
        }
    }
    if (target == NULL) {
        p->missing++;
        if (p->first_missing == NULL)
            p->first_missing = cur->key;
        return;
    }
    if (!cur->marker &&
        (strcmp(cur->version_id, target->version_id) == 0 ||
         (cur->etag != NULL && target->etag != NULL && strcmp(cur->etag, target->etag) == 0)))
        p->unchanged++;
    else
        plan_add(p, S3OBJ_COPY, target->key, target->version_id);
}

/* Sorts v and computes the changes (see the file comment). keys (NULL: every
 * listed key) limits the keys; a key given but not listed counts as missing.
 * Returns 0. */
int steps_s3__plan(s3obj_plan *out, s3obj_version *v, size_t n, const char *mode,
                   const char *const *keys, size_t nkeys, int64_t t_ns, const char *version_id,
                   int remove_newer)
{
    memset(out, 0, sizeof(*out));
    if (n > 1) /* qsort(NULL, 0) is undefined */
        qsort(v, n, sizeof(*v), version_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && strcmp(v[j].key, v[i].key) == 0)
            j++;
        if (key_wanted(v[i].key, keys, nkeys))
            plan_key(out, &v[i], j - i, mode, t_ns, version_id, remove_newer);
        i = j;
    }
    for (size_t k = 0; keys != NULL && k < nkeys; k++) {
        int seen = 0;
        for (size_t i = 0; i < n && !seen; i++)
            seen = strcmp(v[i].key, keys[k]) == 0;
        if (!seen) {
            out->missing++;
            if (out->first_missing == NULL)
                out->first_missing = keys[k];
        }
    }
    return 0;
}

void steps_s3__plan_free(s3obj_plan *p)
{
    free(p->changes);
    memset(p, 0, sizeof(*p));
}

/* ---- listing ------------------------------------------------------------------------- */

typedef struct listing {
    s3obj_version *v;
    size_t n, cap;
    const char *exact; /* only this key (a prefix listing of one key) */
    int too_many;
} listing;

static int on_version(const s3_version *sv, void *payload)
{
    listing *l = payload;
    lb_time t;
    int64_t ns = 0;

    if (l->exact != NULL && strcmp(sv->key, l->exact) != 0)
        return 0;
    if (l->n >= S3OBJ_MAX_VERSIONS) {
        l->too_many = 1;
        return lb_error_setc(LB_ETOOBIG, "more than %d versions listed", S3OBJ_MAX_VERSIONS);
    }
    if (sv->last_modified == NULL || lb_time_parse_rfc3339(&t, sv->last_modified) != 0 ||
        lb_time_to_ns(&ns, t) != 0)
        return lb_error_setc(LB_EINVALID, "ListObjectVersions: key %s: bad LastModified", sv->key);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = lb_realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n] = (s3obj_version){.key = lb_strdup(sv->key),
                                 .version_id = lb_strdup(sv->version_id ? sv->version_id : "null"),
                                 .etag = sv->etag ? lb_strdup(sv->etag) : NULL,
                                 .lm_ns = ns,
                                 .marker = sv->is_delete_marker,
                                 .latest = sv->is_latest,
                                 .seq = l->n};
    l->n++;
    return 0;
}

static void listing_free(listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].version_id);
        free(l->v[i].etag);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

typedef struct item_view {
    const char *bucket, *prefix, *mode, *version_id;
    const char **keys;
    size_t nkeys;
    int remove_newer;
    int64_t t_ns;
} item_view;

static void view_of(item_view *w, const step_ctx *ctx)
{
    const json_t *src = ctx->item->source_spec;
    const json_t *keys = json_object_get(src, "keys");

    memset(w, 0, sizeof(*w));
    w->bucket = json_string_value(json_object_get(src, "bucket"));
    w->prefix = json_string_value(json_object_get(src, "prefix"));
    w->mode = json_string_value(json_object_get(src, "mode"));
    w->version_id = json_string_value(json_object_get(src, "versionId"));
    w->remove_newer = json_is_true(json_object_get(src, "removeNewerObjects"));
    if (ctx->item->has_restore_time)
        lb_time_to_ns(&w->t_ns, ctx->item->restore_time);
    w->nkeys = json_array_size(keys);
    if (w->nkeys > 0) {
        w->keys = lb_calloc(w->nkeys, sizeof(*w->keys));
        for (size_t i = 0; i < w->nkeys; i++)
            w->keys[i] = json_string_value(json_array_get(keys, i));
    }
    if (w->mode == NULL)
        w->mode = "undelete";
}

/* Lists and plans. Returns 0, 1 when the step failed (out filled), or a
 * negative transient code. */
static int list_and_plan(listing *l, s3obj_plan *p, item_view *w, step_result *out,
                         const step_ctx *ctx)
{
    int pages = 0, rc = 0;

    memset(l, 0, sizeof(*l));
    memset(p, 0, sizeof(*p));
    if (ctx->aws == NULL) {
        step_failed(out, "NoAWSConfiguration", "item %s: s3Objects needs AWS access",
                    ctx->item->name);
        return 1;
    }
    if (w->keys == NULL) {
        s3_list_options o = {.prefix = w->prefix, .max_keys = 1000};
        rc = s3_list_object_versions(&pages, ctx->aws, w->bucket, &o, on_version, l);
    } else {
        for (size_t k = 0; k < w->nkeys && rc == 0; k++) {
            s3_list_options o = {.prefix = w->keys[k], .max_keys = 1000};
            l->exact = w->keys[k];
            rc = s3_list_object_versions(&pages, ctx->aws, w->bucket, &o, on_version, l);
        }
        l->exact = NULL;
    }
    if (rc != 0) {
        if (l->too_many) {
            step_failed(out, "TooManyVersions",
                        "s3://%s/%s: more than %d versions and delete markers (the per-call "
                        "cap); narrow the prefix",
                        w->bucket, w->prefix ? w->prefix : "", S3OBJ_MAX_VERSIONS);
            return 1;
        }
        if (rc == LB_ENOTFOUND || rc == LB_EINVALID) {
            step_failed(out, "S3ListFailed", "ListObjectVersions s3://%s: %s", w->bucket,
                        lb_error_last());
            return 1;
        }
        return lb_error_wrap(rc, "ListObjectVersions s3://%s", w->bucket);
    }
    return steps_s3__plan(p, l->v, l->n, w->mode, w->keys, w->nkeys, w->t_ns, w->version_id,
                          w->remove_newer);
}

static void first_keys(lb_buf *b, const s3obj_plan *p, s3obj_action a, const char *label)
{
    size_t n = 0, shown = 0;
    for (size_t i = 0; i < p->n; i++)
        n += p->changes[i].action == a;
    if (n == 0)
        return;
    buf_printf(b, "%s%zu %s (", buf_len(b) ? "; " : "", n, label);
    for (size_t i = 0; i < p->n && shown < S3OBJ_FIRST_KEYS; i++)
        if (p->changes[i].action == a)
            buf_printf(b, "%s%s", shown++ ? ", " : "", p->changes[i].key);
    buf_printf(b, "%s)", n > shown ? ", ..." : "");
}

/* "2 to copy (a, b); 1 delete marker(s) to remove (c); 3 unchanged; ..." */
static char *plan_text(const s3obj_plan *p)
{
    lb_buf b;
    buf_init(&b, STEP_MAX_MESSAGE * 2);
    first_keys(&b, p, S3OBJ_COPY, "to copy from their old version");
    first_keys(&b, p, S3OBJ_REMOVE_MARKER, "delete marker(s) to remove");
    first_keys(&b, p, S3OBJ_DELETE, "newer key(s) to delete");
    buf_printf(&b, "%s%zu unchanged", buf_len(&b) ? "; " : "", p->unchanged);
    if (p->kept_newer)
        buf_printf(&b, "; %zu newer key(s) kept", p->kept_newer);
    if (p->not_deleted)
        buf_printf(&b, "; %zu key(s) not deleted (no delete marker on top)", p->not_deleted);
    if (p->missing)
        buf_printf(&b, "; %zu key(s) without the wanted version (first: %s)", p->missing,
                   p->first_missing);
    return buf_detach(&b, NULL);
}

int s3obj_step_validate(step_result *out, const step_ctx *ctx)
{
    item_view w;
    listing l;
    s3obj_plan p;
    int rc;

    view_of(&w, ctx);
    rc = list_and_plan(&l, &p, &w, out, ctx);
    if (rc != 0)
        goto done;
    if (l.n == 0) {
        rc = step_failed(out, "NoVersions", "s3://%s/%s has no object versions", w.bucket,
                         w.prefix ? w.prefix : (w.keys ? w.keys[0] : ""));
        goto done;
    }
    if (strcmp(w.mode, "version") == 0 && p.missing > 0) {
        rc = step_failed(out, "VersionNotFound",
                         "s3://%s/%s has no version %s (spec.items[%zu].s3Objects.versionId)",
                         w.bucket, w.keys ? w.keys[0] : "", w.version_id, ctx->item->index);
        goto done;
    }
    step_output_str(out, "location", ctx->item->source_id);
    rc = step_done(out, "s3://%s: %zu versions and delete markers listed (mode %s)", w.bucket, l.n,
                   w.mode);
done:
    steps_s3__plan_free(&p);
    listing_free(&l);
    free(w.keys);
    return rc < 0 ? rc : 0;
}

int s3obj_step_diff(step_result *out, const step_ctx *ctx)
{
    item_view w;
    listing l;
    s3obj_plan p;
    char *text = NULL;
    int rc;

    view_of(&w, ctx);
    rc = list_and_plan(&l, &p, &w, out, ctx);
    if (rc != 0)
        goto done;
    text = plan_text(&p);
    rc = step_done(out, "s3://%s: %s", w.bucket, text);
done:
    free(text);
    steps_s3__plan_free(&p);
    listing_free(&l);
    free(w.keys);
    return rc < 0 ? rc : 0;
}

static int apply_change(const step_ctx *ctx, const char *bucket, const s3obj_change *c)
{
    s3_object_info info;
    s3_delete_result dr;
    s3_object_id id = {.key = c->key, .version_id = NULL};
    int rc;

    if (c->action == S3OBJ_COPY) {
        memset(&info, 0, sizeof(info));
        rc = s3_copy_object_ex(&info, NULL, ctx->aws, bucket, c->key, bucket, c->key, c->version_id,
                               NULL);
        s3_object_info_dispose(&info);
        return rc == 0 ? 0
                       : lb_error_wrap(rc, "CopyObject s3://%s/%s?versionId=%s", bucket, c->key,
                                       c->version_id);
    }
    if (c->action == S3OBJ_REMOVE_MARKER)
        id.version_id = c->version_id;
    memset(&dr, 0, sizeof(dr));
    rc = s3_delete_objects(&dr, ctx->aws, bucket, &id, 1, true);
    if (rc == 0 && dr.nerrors > 0)
        rc = lb_error_set("DeleteObjects s3://%s/%s: %s: %s", bucket, c->key, dr.errors[0].code,
                          dr.errors[0].message ? dr.errors[0].message : "");
    else if (rc != 0)
        rc = lb_error_wrap(rc, "DeleteObjects s3://%s/%s", bucket, c->key);
    s3_delete_result_dispose(&dr);
    return rc;
}

int s3obj_step_apply(step_result *out, const step_ctx *ctx)
{
    item_view w;
    listing l;
    s3obj_plan p;
    size_t done_now = 0;
    int rc;

    view_of(&w, ctx);
    rc = list_and_plan(&l, &p, &w, out, ctx);
    if (rc != 0)
        goto done;
    for (size_t i = 0; i < p.n && done_now < S3OBJ_MAX_CHANGES_PER_CALL; i++) {
        rc = apply_change(ctx, w.bucket, &p.changes[i]);
        if (rc != 0)
            goto done; /* transient: the next call re-lists and adopts what landed */
        done_now++;
    }
    if (done_now < p.n) {
        rc = step_wait(out, 0, "s3://%s: %zu change(s) made, %zu left", w.bucket, done_now,
                       p.n - done_now);
        goto done;
    }
    if (done_now > 0) {
        /* look again: done only when a fresh listing finds nothing left */
        rc = step_wait(out, 0, "s3://%s: %zu change(s) made; checking", w.bucket, done_now);
        goto done;
    }
    {
        char *text = plan_text(&p);
        rc = step_done(out, "s3://%s restored (mode %s): %s", w.bucket, w.mode, text);
        free(text);
    }
done:
    steps_s3__plan_free(&p);
    listing_free(&l);
    free(w.keys);
    return rc < 0 ? rc : 0;
}
