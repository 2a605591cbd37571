/* steps_s3sync.c - s3Sync items (runbook 000 3B): server-side copies from a
 * replica bucket, checked key by key.
 *
 * Every call lists both buckets afresh under the item's prefix and takes
 * the per-key decision of aws/s3sync.h (copy / check / same / extra), so the
 * steps hold no state of their own: a kill -9 at any instant, or an
 * ambiguous CopyObject (500 after apply, dropped connection), is resumed by
 * listing again, and only what is still missing is copied.
 *
 *   validate  both buckets list; the source is not empty (an empty source,
 *             e.g. a replica that was never filled, with deleteExtraneous
 *             would empty the live bucket: refused, SourceEmpty);
 *   compare   prepare: the counts and first keys of what the cutover will
 *             copy and delete, for the approver;
 *   sync      cutover: at most S3SYNC_COPIES_PER_CALL copies per call with
 *             `concurrency` in flight, then (deleteExtraneous) the extras by
 *             DeleteObjects, then the keys whose ETags cannot be compared
 *             (multipart) by SHA-256 of their content; WAIT 0 between
 *             batches, with progress (objects and bytes in place / total)
 *             in the message; throttling that outlasts the request layer's
 *             retries is a WAIT of S3SYNC_THROTTLE_WAIT_MS, not a failure
 *             (the step's deadline bounds it);
 *   verify    key sets equal (extras allowed unless deleteExtraneous), every
 *             key's size and ETag equal, or its SHA-256 content when an ETag
 *             is multipart: a mismatch fails the step (VerifyFailed) with the
 *             first keys.
 *
 * Size threshold: the operator runs syncs of up to S3SYNC_OPERATOR_MAX_OBJECTS
 * keys per side itself (each call re-lists: 100,000 keys are 100 pages and
 * ~15 MiB of memory per side). A larger prefix fails validate with
 * TooManyObjects; the Job mode (lifeboat-agent s3-sync sharded in an Indexed
 * Job) is not wired into the operator yet. Content checks are capped at
 * S3SYNC_MAX_CONTENT_CHECKS keys per call (ContentChecksTooMany beyond).
 *
 * sourceRegion/targetRegion are not used: every call goes through the
 * operator's client (as the RDS steps do); with one endpoint per region the
 * copy is sent to the target's region, which is the operator's.
 */
#include <stdlib.h>
#include <string.h>

#include "aws/s3.h"
#include "aws/s3sync.h"
#include "controller/restore/step.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#define S3SYNC_OPERATOR_MAX_OBJECTS 100000 /* keys per side synced inside the operator */
#define S3SYNC_COPIES_PER_CALL      256    /* copies made by one sync call */
#define S3SYNC_MAX_CONTENT_CHECKS   100    /* multipart-ETag keys hashed per call */
#define S3SYNC_THROTTLE_WAIT_MS     5000
#define S3SYNC_FIRST_KEYS           5

typedef struct sync_view {
    const char *src, *dst, *prefix;
    int delete_extra, concurrency;
} sync_view;

typedef struct sync_state {
    s3sync_listing src, dst;
    s3sync_diff d;
} sync_state;

static void view_of(sync_view *w, const step_ctx *ctx)
{
    const json_t *s = ctx->item->source_spec;
    json_int_t conc = json_integer_value(json_object_get(s, "concurrency"));

    w->src = json_string_value(json_object_get(s, "sourceBucket"));
    w->dst = json_string_value(json_object_get(s, "targetBucket"));
    w->prefix = json_string_value(json_object_get(s, "prefix"));
    w->delete_extra = json_is_true(json_object_get(s, "deleteExtraneous"));
    w->concurrency = conc >= 1 && conc <= S3SYNC_MAX_CONCURRENCY ? (int)conc : 16;
}

static void state_dispose(sync_state *st)
{
    s3sync_diff_dispose(&st->d);
    s3sync_listing_dispose(&st->src);
    s3sync_listing_dispose(&st->dst);
}

/* Lists both sides and decides. Returns 0, 1 when the step failed (out
 * filled), or a negative transient code. */
static int list_both(sync_state *st, const sync_view *w, step_result *out, const step_ctx *ctx)
{
    int rc;

    memset(st, 0, sizeof(*st));
    if (ctx->aws == NULL) {
        step_failed(out, "NoAWSConfiguration", "item %s: s3Sync needs AWS access",
                    ctx->item->name);
        return 1;
    }
    st->src.max = st->dst.max = S3SYNC_OPERATOR_MAX_OBJECTS;
    rc = s3sync_list(&st->src, ctx->aws, w->src, w->prefix);
    if (rc == 0)
        rc = s3sync_list(&st->dst, ctx->aws, w->dst, w->prefix);
    if (rc == LB_ETOOBIG) {
        step_failed(out, "TooManyObjects",
                    "s3Sync item %s: more than %d keys under prefix \"%s\" (the operator's "
                    "in-process limit; narrow spec.items[%zu].s3Sync.prefix or split the item)",
                    ctx->item->name, S3SYNC_OPERATOR_MAX_OBJECTS, w->prefix ? w->prefix : "",
                    ctx->item->index);
        return 1;
    }
    if (rc == LB_ENOTFOUND || rc == LB_EINVALID) {
        step_failed(out, "S3ListFailed", "%s", lb_error_last());
        return 1;
    }
    if (rc != 0)
        return rc;
    return s3sync_diff_compute(&st->d, &st->src, &st->dst);
}

static void first_keys(lb_buf *b, const s3sync_listing *l, const size_t *idx, size_t n)
{
    size_t shown = n < S3SYNC_FIRST_KEYS ? n : S3SYNC_FIRST_KEYS;
    buf_printf(b, " (");
    for (size_t i = 0; i < shown; i++)
        buf_printf(b, "%s%s", i ? ", " : "", l->v[idx[i]].key);
    buf_printf(b, "%s)", n > shown ? ", ..." : "");
}

/* "300 to copy (12345 bytes: a, b, ...); 5 extraneous, to delete (x, y); 1700 same" */
static char *diff_text(const sync_state *st, const sync_view *w)
{
    lb_buf b;
    buf_init(&b, STEP_MAX_MESSAGE * 2);
    buf_printf(&b, "%zu to copy, %lld bytes", st->d.ncopy, st->d.copy_bytes);
    if (st->d.ncopy)
        first_keys(&b, &st->src, st->d.copy, st->d.ncopy);
    if (st->d.nextra) {
        buf_printf(&b, "; %zu extraneous, %s", st->d.nextra,
                   w->delete_extra ? "to delete" : "kept (deleteExtraneous is false)");
        first_keys(&b, &st->dst, st->d.extra, st->d.nextra);
    }
    if (st->d.ncheck)
        buf_printf(&b, "; %zu same size with multipart ETags, compared by SHA-256", st->d.ncheck);
    buf_printf(&b, "; %zu same", st->d.same);
    return buf_detach(&b, NULL);
}

int s3sync_step_validate(step_result *out, const step_ctx *ctx)
{
    sync_view w;
    sync_state st;
    int rc;

    view_of(&w, ctx);
    rc = list_both(&st, &w, out, ctx);
    if (rc != 0)
        goto done;
    if (st.src.n == 0) {
        rc = step_failed(out, "SourceEmpty",
                         "s3://%s/%s has no objects: refusing to sync from an empty source "
                         "(spec.items[%zu].s3Sync.sourceBucket)",
                         w.src, w.prefix ? w.prefix : "", ctx->item->index);
        goto done;
    }
    step_output_str(out, "location", w.dst);
    rc = step_done(out, "s3://%s: %zu objects, %lld bytes; s3://%s: %zu objects, %lld bytes",
                   w.src, st.src.n, st.src.bytes, w.dst, st.dst.n, st.dst.bytes);
done:
    state_dispose(&st);
    return rc < 0 ? rc : 0;
}

int s3sync_step_compare(step_result *out, const step_ctx *ctx)
{
    sync_view w;
    sync_state st;
    char *text = NULL;
    int rc;

    view_of(&w, ctx);
    rc = list_both(&st, &w, out, ctx);
    if (rc != 0)
        goto done;
    text = diff_text(&st, &w);
    rc = step_done(out, "s3://%s -> s3://%s: %s", w.src, w.dst, text);
done:
    free(text);
    state_dispose(&st);
    return rc < 0 ? rc : 0;
}

/* Content checks of the multipart-ETag keys: the keys that differ go into
 * *out_differ (indices into st->src). Returns 0, 1 (failed, out filled) or
 * a negative transient code. */
static int content_checks(size_t **out_differ, size_t *out_n, const sync_state *st,
                          const sync_view *w, step_result *out, const step_ctx *ctx)
{
    *out_differ = NULL;
    *out_n = 0;
    if (st->d.ncheck > S3SYNC_MAX_CONTENT_CHECKS) {
        step_failed(out, "ContentChecksTooMany",
                    "%zu keys have multipart ETags that cannot be compared with the other "
                    "side's; at most %d are compared by content in the operator",
                    st->d.ncheck, S3SYNC_MAX_CONTENT_CHECKS);
        return 1;
    }
    for (size_t i = 0; i < st->d.ncheck; i++) {
        const char *key = st->src.v[st->d.check[i]].key;
        int equal = 0;
        int rc = s3sync_content_equal(&equal, ctx->aws, w->src, w->dst, key);
        if (rc != 0) {
            free(*out_differ);
            *out_differ = NULL;
            *out_n = 0;
            return rc;
        }
        if (!equal) {
            *out_differ = lb_realloc(*out_differ, (*out_n + 1) * sizeof(**out_differ));
            (*out_differ)[(*out_n)++] = st->d.check[i];
        }
    }
    return 0;
}

static int copy_batch(size_t *out_done, long long *out_bytes, const sync_state *st,
                      const size_t *idx, size_t n, const sync_view *w, const step_ctx *ctx)
{
    const s3sync_entry **keys;
    int rc;

    if (n > S3SYNC_COPIES_PER_CALL)
        n = S3SYNC_COPIES_PER_CALL;
    keys = lb_calloc(n ? n : 1, sizeof(*keys));
    for (size_t i = 0; i < n; i++)
        keys[i] = &st->src.v[idx[i]];
    rc = s3sync_copy_many(out_done, out_bytes, ctx->aws, w->src, w->dst,
                          (const s3sync_entry *const *)keys, n, w->concurrency);
    free(keys);
    return rc;
}

static int delete_extras(const sync_state *st, const sync_view *w, const step_ctx *ctx)
{
    s3_object_id *ids = lb_calloc(st->d.nextra, sizeof(*ids));
    s3_delete_result dr;
    int rc;

    for (size_t i = 0; i < st->d.nextra; i++)
        ids[i].key = st->dst.v[st->d.extra[i]].key;
    memset(&dr, 0, sizeof(dr));
    rc = s3_delete_objects(&dr, ctx->aws, w->dst, ids, st->d.nextra, true);
    if (rc != 0)
        rc = lb_error_wrap(rc, "DeleteObjects s3://%s (%zu extraneous keys)", w->dst,
                           st->d.nextra);
    s3_delete_result_dispose(&dr);
    free(ids);
    return rc;
}

/* A transient failure of a batch: throttling becomes a WAIT (progress kept,
 * the deadline bounds it); anything else goes back to the engine. */
static int batch_failed(step_result *out, int rc, size_t done, const sync_view *w)
{
    if (rc == LB_ETHROTTLED)
        return step_wait(out, S3SYNC_THROTTLE_WAIT_MS,
                         "s3://%s -> s3://%s: throttled after %zu copies in this call; "
                         "waiting: %s",
                         w->src, w->dst, done, lb_error_last());
    return rc;
}

int s3sync_step_sync(step_result *out, const step_ctx *ctx)
{
    sync_view w;
    sync_state st;
    size_t done = 0, *differ = NULL, ndiffer = 0;
    long long bytes = 0;
    int rc;

    view_of(&w, ctx);
    rc = list_both(&st, &w, out, ctx);
    if (rc != 0)
        goto out;
    if (st.d.ncopy > 0) {
        rc = copy_batch(&done, &bytes, &st, st.d.copy, st.d.ncopy, &w, ctx);
        if (rc != 0) {
            rc = batch_failed(out, rc, done, &w);
            goto out;
        }
        rc = step_wait(out, 0,
                       "copying s3://%s -> s3://%s: %zu/%zu objects, %lld/%lld bytes in place; "
                       "%zu copied by this call, %zu left",
                       w.src, w.dst, st.d.same + done, st.src.n,
                       st.d.same_bytes + st.d.check_bytes + bytes, st.src.bytes, done,
                       st.d.ncopy - done);
        goto out;
    }
    if (w.delete_extra && st.d.nextra > 0) {
        rc = delete_extras(&st, &w, ctx);
        if (rc != 0) {
            rc = batch_failed(out, rc, 0, &w);
            goto out;
        }
        rc = step_wait(out, 0, "s3://%s: %zu extraneous objects deleted; checking", w.dst,
                       st.d.nextra);
        goto out;
    }
    rc = content_checks(&differ, &ndiffer, &st, &w, out, ctx);
    if (rc != 0)
        goto out;
    if (ndiffer > 0) {
        rc = copy_batch(&done, &bytes, &st, differ, ndiffer, &w, ctx);
        if (rc != 0) {
            rc = batch_failed(out, rc, done, &w);
            goto out;
        }
        rc = step_wait(out, 0, "s3://%s: %zu objects with other content copied; checking",
                       w.dst, done);
        goto out;
    }
    rc = step_done(out,
                   "s3://%s -> s3://%s in sync: %zu objects, %lld bytes (%zu by SHA-256 "
                   "content); %zu extraneous %s",
                   w.src, w.dst, st.src.n, st.src.bytes, st.d.ncheck, st.d.nextra,
                   w.delete_extra ? "left" : "kept");
out:
    free(differ);
    state_dispose(&st);
    return rc < 0 ? rc : 0;
}

int s3sync_step_verify(step_result *out, const step_ctx *ctx)
{
    sync_view w;
    sync_state st;
    size_t *differ = NULL, ndiffer = 0;
    int rc;

    view_of(&w, ctx);
    rc = list_both(&st, &w, out, ctx);
    if (rc != 0)
        goto done;
    rc = content_checks(&differ, &ndiffer, &st, &w, out, ctx);
    if (rc != 0)
        goto done;
    if (st.d.ncopy > 0 || ndiffer > 0 || (w.delete_extra && st.d.nextra > 0)) {
        lb_buf b;
        buf_init(&b, STEP_MAX_MESSAGE * 2);
        buf_printf(&b, "s3://%s differs from s3://%s: %zu missing or different", w.dst, w.src,
                   st.d.ncopy + ndiffer);
        if (st.d.ncopy)
            first_keys(&b, &st.src, st.d.copy, st.d.ncopy);
        else if (ndiffer)
            first_keys(&b, &st.src, differ, ndiffer);
        if (w.delete_extra && st.d.nextra) {
            buf_printf(&b, "; %zu extraneous", st.d.nextra);
            first_keys(&b, &st.dst, st.d.extra, st.d.nextra);
        }
        rc = step_failed(out, "VerifyFailed", "%s", buf_cstr(&b));
        buf_dispose(&b);
        goto done;
    }
    rc = step_done(out,
                   "s3://%s matches s3://%s key by key: %zu objects, %lld bytes, sizes and "
                   "ETags equal (%zu multipart by SHA-256 content); %zu extraneous kept",
                   w.dst, w.src, st.src.n, st.src.bytes, st.d.ncheck, st.d.nextra);
done:
    free(differ);
    state_dispose(&st);
    return rc < 0 ? rc : 0;
}
