/* steps_s3sync.c - s3Sync items (runbook 000 3B): server-side copies from a
 * replica bucket, checked key by key.
 *
 * Two modes, decided from the listings (each side listed afresh, and never
 * past max_objects + 1 keys, max_objects being the operator's
 * --s3sync-operator-max-objects, default 100,000):
 *
 * Operator mode (both sides within max_objects). Every call lists both
 * buckets afresh under the item's prefix and takes the per-key decision of
 * aws/s3sync.h (copy / check / same / extra), so the steps hold no state of
 * their own: a kill -9 at any instant, or an ambiguous CopyObject (500 after
 * apply, dropped connection), is resumed by listing again, and only what is
 * still missing is copied.
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
 * Job mode (either side has more than max_objects keys: the operator would
 * hold too many keys in memory and spend too long re-listing them on every
 * call). The operator never lists more than max_objects + 1 keys per side;
 * the work is done by ONE Indexed Job "lb-<rr>-<item>-sync" of `lifeboat-agent
 * s3-sync` (controller/agentjob.h): `shards` completions, each pod taking the
 * keys whose FNV-1a hash modulo shards is its $JOB_COMPLETION_INDEX
 * ($LIFEBOAT_SHARDS = shards), min(shards, S3SYNC_JOB_PARALLELISM) at once.
 *
 *   validate  as above, each side's listing stopped at max_objects + 1 keys;
 *             the message says Job mode (SourceEmpty still applies when only
 *             the target is large);
 *   compare   says that the counts of what is copied and deleted are computed
 *             by the Job's shards at the cutover, not by the operator;
 *   sync      creates the Job once (shards = ceil(keys / max_objects) of the
 *             larger side, at least 2, at most S3SYNC_JOB_MAX_SHARDS; keys
 *             counted without being kept, up to S3SYNC_JOB_COUNT_MAX_KEYS
 *             per side, beyond which the most shards are taken: the count
 *             must fit in one call, so with the default threshold, which
 *             equals that cap, every Job-mode item gets the most), then
 *             observes it: WAIT with "<succeeded>/<shards> indexes
 *             succeeded" from the Job's status; a Job failed by its agent's
 *             own error fails the step (SyncJobFailed) with that error; a Job
 *             failed because a pod ended without the agent's result (killed:
 *             AGENTJOB_CRASHED) is followed by the next attempt's Job
 *             "...-sync-<k>" of the same shards, up to S3SYNC_JOB_ATTEMPTS
 *             (then SyncJobFailed with the log tail). The Jobs' names are
 *             deterministic and the existing ones are looked for first,
 *             before any listing (one GET per attempt per sync call, in
 *             operator mode too), so an operator killed at any instant
 *             resumes by observing the newest Job, never by starting another;
 *   verify    (the newest attempt's Job) each shard, after its copies and
 *             deletes, lists both buckets afresh and verifies its keys exactly
 *             as operator mode's verify does (sizes, ETags, SHA-256 of
 *             multipart keys, no extras of its shard when deleteExtraneous)
 *             and exits non-zero otherwise; so verify checks that the Job is
 *             Complete with every index succeeded instead of re-listing
 *             millions of keys in the operator. A missing Job (the prefix grew
 *             past the threshold after an operator-mode sync, or it was
 *             deleted) fails
 *             VerifyFailed: nothing vouches for the keys.
 *
 * The Job keeps agentjob's backoffLimit 0: the first failed index fails the
 * Job. Its agent's own error (after the agent's retries of throttling and
 * 5xx) fails the step: a new Job would meet it again, and rerunning is the
 * operator's decision (a new RestoreRequest copies only what is missing). A
 * crash (DESIGN.md §5: work resumes) is retried by a new Job, whose shards
 * list afresh and leave alone what the crashed Job copied.
 * The Job's pods get AWS credentials from the namespace's
 * "lifeboat-agent-aws" Secret (agentjob.h); no API token is mounted. When
 * the request's scope names an AWS role (status.scope.roleArn), the agent
 * acts as that role instead (DESIGN.md 3.4: IAM enforces the scope on its
 * copies too): restore/jobcreds.h mints each attempt's Job a session of the
 * role in the Secret "<job>-aws" it mounts, renews it while the Job runs,
 * and fails the step SecretNotOwned for a Secret of that name owned by
 * someone else. Why not IRSA: see agentjob.h.
 *
 * Content checks in operator mode are capped at S3SYNC_MAX_CONTENT_CHECKS
 * keys per call (ContentChecksTooMany beyond).
 *
 * Regions (aws/regionpair.h, shared with BackupPolicy's s3Copy): every call
 * goes to its bucket's region. The source is listed (and, for content
 * checks, read) in sourceRegion; the target is listed, copied into and
 * deleted from in targetRegion - CopyObject is a write to the target bucket,
 * so it is sent to the target's region and S3 reads the source across
 * regions server-side. Either field unset means the operator's region. A
 * bucket in another region than the one it is asked in answers 301
 * PermanentRedirect with its region in x-amz-bucket-region: the listing in
 * validate fails the step (S3ListFailed) naming the field to set
 * (spec.items[N].s3Sync.sourceRegion or targetRegion) and that region, before
 * anything is copied; any other answer no retry helps (NoSuchBucket,
 * AccessDenied, another 400) names spec.items[N].s3Sync.sourceBucket or
 * targetBucket instead. Job mode passes the set regions to every shard as
 * --source-region / --target-region.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/error.h"
#include "aws/regionpair.h"
#include "aws/s3.h"
#include "aws/s3sync.h"
#include "controller/agentjob.h"
#include "controller/restore/jobcreds.h"
#include "controller/restore/jobrun.h"
#include "controller/restore/step.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

#define S3SYNC_JOB_MAX_SHARDS     8      /* Job mode: completions at most */
#define S3SYNC_JOB_PARALLELISM    8      /* Job mode: pods at once at most */
#define S3SYNC_JOB_COUNT_MAX_KEYS 100000 /* keys per side counted to size the Job */
#define S3SYNC_JOB_SUFFIX         "sync" /* the Job is "lb-<rr>-<item>-sync" */
#define S3SYNC_JOB_ATTEMPTS       3      /* Jobs at most: "-sync", "-sync-2", "-sync-3" */
#define S3SYNC_ANN_REQUEST        "lifeboat.dev/restore-request"
#define S3SYNC_COPIES_PER_CALL    256 /* copies made by one sync call */
#define S3SYNC_MAX_CONTENT_CHECKS 100 /* multipart-ETag keys hashed per call */
#define S3SYNC_THROTTLE_WAIT_MS   5000
#define S3SYNC_FIRST_KEYS         5

typedef struct sync_view {
    const char *src, *dst, *prefix;
    const char *src_region, *dst_region; /* NULL: the operator's */
    int delete_extra, concurrency;
} sync_view;

typedef struct sync_state {
    aws_region_pair cl; /* cl.src lists and reads the source, cl.dst the rest */
    s3sync_listing src, dst;
    s3sync_diff d;
    int src_over, dst_over; /* more than max_objects keys: the listing was stopped */
} sync_state;

/* keys per side synced inside the operator (--s3sync-operator-max-objects) */
static size_t max_objects = S3SYNC_OPERATOR_MAX_OBJECTS_DEFAULT;

void s3sync_steps_configure(size_t n)
{
    assert(n >= 1 && n <= S3SYNC_MAX_OBJECTS);
    max_objects = n;
}

static void view_of(sync_view *w, const step_ctx *ctx)
{
    const json_t *s = ctx->item->source_spec;
    json_int_t conc = json_integer_value(json_object_get(s, "concurrency"));

    w->src = json_string_value(json_object_get(s, "sourceBucket"));
    w->dst = json_string_value(json_object_get(s, "targetBucket"));
    w->prefix = json_string_value(json_object_get(s, "prefix"));
    w->src_region = json_string_value(json_object_get(s, "sourceRegion"));
    w->dst_region = json_string_value(json_object_get(s, "targetRegion"));
    w->delete_extra = json_is_true(json_object_get(s, "deleteExtraneous"));
    w->concurrency = conc >= 1 && conc <= S3SYNC_MAX_CONCURRENCY ? (int)conc : 16;
}

static void state_dispose(sync_state *st)
{
    s3sync_diff_dispose(&st->d);
    s3sync_listing_dispose(&st->src);
    s3sync_listing_dispose(&st->dst);
    aws_region_pair_close(&st->cl);
}

/* A side's listing that failed for good fails the step naming the field to
 * fix: S3's answer from another region (301 PermanentRedirect naming the
 * bucket's region: aws_client_last_failure().wrong_region) names the side's
 * region field; any other answer no retry helps (NoSuchBucket, AccessDenied,
 * another invalid answer) names the side's bucket field and the rule.
 * Returns 1 with out filled, or 0 for an rc that is transient (throttling,
 * 5xx, no answer): the caller returns it. */
static int list_refused(step_result *out, const step_ctx *ctx, int rc, int source,
                        const sync_view *w, const aws_client *c)
{
    aws_failure f = aws_client_last_failure();
    const char *region = source ? w->src_region : w->dst_region;

    if (rc == LB_EINVALID && f.wrong_region) {
        step_failed(out, "S3ListFailed", "spec.items[%zu].s3Sync.%s (%s%s): %s", ctx->item->index,
                    source ? "sourceRegion" : "targetRegion",
                    region != NULL && region[0] ? "listed in "
                                                : "unset: listed in the operator's region ",
                    aws_client_region(c), lb_error_last());
        return 1;
    }
    if (rc == LB_EINVALID || rc == LB_ENOTFOUND ||
        (f.code[0] != '\0' && !aws_error_retryable(f.code, f.status))) {
        step_failed(out, "S3ListFailed",
                    "spec.items[%zu].s3Sync.%s: s3://%s must be an existing bucket the operator "
                    "may list (ListObjectsV2 in region %s): %s",
                    ctx->item->index, source ? "sourceBucket" : "targetBucket",
                    source ? w->src : w->dst, aws_client_region(c), lb_error_last());
        return 1;
    }
    return 0;
}

/* Lists both sides (each stopped past max_objects keys) and, when both fit,
 * decides. *out_job is 1 when either side is over max_objects (Job mode: st
 * holds the partial listings, no decision). Returns 0, 1 when the step failed
 * (out filled), or a negative transient code. */
static int list_both(int *out_job, sync_state *st, const sync_view *w, step_result *out,
                     const step_ctx *ctx)
{
    int rc;

    *out_job = 0;
    memset(st, 0, sizeof(*st));
    if (ctx->aws == NULL) {
        step_failed(out, "NoAWSConfiguration", "item %s: s3Sync needs AWS access", ctx->item->name);
        return 1;
    }
    rc = aws_region_pair_open(&st->cl, ctx->aws, w->src_region, w->dst_region);
    if (rc == LB_EINVALID) {
        step_failed(out, "InvalidRegion", "spec.items[%zu].s3Sync: %s", ctx->item->index,
                    lb_error_last());
        return 1;
    }
    if (rc != 0)
        return rc;
    st->src.max = st->dst.max = max_objects;
    rc = s3sync_list(&st->src, st->cl.src, w->src, w->prefix);
    if (rc == LB_ETOOBIG) {
        st->src_over = 1;
        rc = 0;
    }
    if (rc != 0 && list_refused(out, ctx, rc, 1, w, st->cl.src))
        return 1;
    if (rc == 0) {
        rc = s3sync_list(&st->dst, st->cl.dst, w->dst, w->prefix);
        if (rc == LB_ETOOBIG) {
            st->dst_over = 1;
            rc = 0;
        }
        if (rc != 0 && list_refused(out, ctx, rc, 0, w, st->cl.dst))
            return 1;
    }
    if (rc != 0)
        return rc;
    if (st->src_over || st->dst_over) {
        *out_job = 1;
        return 0;
    }
    return s3sync_diff_compute(&st->d, &st->src, &st->dst);
}

/* "more than 100000 objects" or "42 objects, 1234 bytes" */
static void side_text(char *buf, size_t size, const s3sync_listing *l, int over)
{
    if (over)
        snprintf(buf, size, "more than %zu objects", max_objects);
    else
        snprintf(buf, size, "%zu objects, %lld bytes", l->n, l->bytes);
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
    char src_text[96], dst_text[96];
    int rc, job;

    view_of(&w, ctx);
    rc = list_both(&job, &st, &w, out, ctx);
    if (rc != 0)
        goto done;
    if (!st.src_over && st.src.n == 0) {
        rc = step_failed(out, "SourceEmpty",
                         "s3://%s/%s has no objects: refusing to sync from an empty source "
                         "(spec.items[%zu].s3Sync.sourceBucket)",
                         w.src, w.prefix ? w.prefix : "", ctx->item->index);
        goto done;
    }
    step_output_str(out, "location", w.dst);
    side_text(src_text, sizeof(src_text), &st.src, st.src_over);
    side_text(dst_text, sizeof(dst_text), &st.dst, st.dst_over);
    if (job)
        rc = step_done(out,
                       "s3://%s: %s; s3://%s: %s; Job mode: above the operator's %zu keys per "
                       "side (--s3sync-operator-max-objects) the cutover syncs by an Indexed Job "
                       "of lifeboat-agent s3-sync shards, each copying and verifying its keys",
                       w.src, src_text, w.dst, dst_text, max_objects);
    else
        rc = step_done(out, "s3://%s: %s; s3://%s: %s", w.src, src_text, w.dst, dst_text);
done:
    state_dispose(&st);
    return rc < 0 ? rc : 0;
}

int s3sync_step_compare(step_result *out, const step_ctx *ctx)
{
    sync_view w;
    sync_state st;
    char *text = NULL;
    int rc, job;

    view_of(&w, ctx);
    rc = list_both(&job, &st, &w, out, ctx);
    if (rc != 0)
        goto done;
    if (job) {
        char src_text[96], dst_text[96];
        side_text(src_text, sizeof(src_text), &st.src, st.src_over);
        side_text(dst_text, sizeof(dst_text), &st.dst, st.dst_over);
        rc = step_done(out,
                       "s3://%s (%s) -> s3://%s (%s): Job mode; the counts of what is copied "
                       "and deleted are computed by the cutover's Job (each shard for its keys), "
                       "not listed here; extraneous keys of the target are %s",
                       w.src, src_text, w.dst, dst_text,
                       w.delete_extra ? "deleted (deleteExtraneous)"
                                      : "kept (deleteExtraneous is false)");
        goto done;
    }
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
                          const sync_view *w, step_result *out)
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
        int rc = s3sync_content_equal(&equal, &st->cl, w->src, w->dst, key);
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
                      const size_t *idx, size_t n, const sync_view *w)
{
    const s3sync_entry **keys;
    int rc;

    if (n > S3SYNC_COPIES_PER_CALL)
        n = S3SYNC_COPIES_PER_CALL;
    keys = lb_calloc(n ? n : 1, sizeof(*keys));
    for (size_t i = 0; i < n; i++)
        keys[i] = &st->src.v[idx[i]];
    rc = s3sync_copy_many(out_done, out_bytes, &st->cl, w->src, w->dst,
                          (const s3sync_entry *const *)keys, n, w->concurrency);
    free(keys);
    return rc;
}

static int delete_extras(const sync_state *st, const sync_view *w)
{
    s3_object_id *ids = lb_calloc(st->d.nextra, sizeof(*ids));
    s3_delete_result dr;
    int rc;

    for (size_t i = 0; i < st->d.nextra; i++)
        ids[i].key = st->dst.v[st->d.extra[i]].key;
    memset(&dr, 0, sizeof(dr));
    rc = s3_delete_objects(&dr, st->cl.dst, w->dst, ids, st->d.nextra, true);
    if (rc != 0)
        rc = lb_error_wrap(rc, "DeleteObjects s3://%s (%zu extraneous keys)", w->dst, st->d.nextra);
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

/* ---- Job mode ----------------------------------------------------------------------- */

/* Package-private (tests): the shards of a Job for the larger side's key
 * count; counts above S3SYNC_JOB_COUNT_MAX_KEYS mean "more". */
int steps_s3sync__shards(size_t src_keys, size_t dst_keys, size_t max_keys)
{
    size_t keys = src_keys > dst_keys ? src_keys : dst_keys;
    size_t shards;

    if (keys > S3SYNC_JOB_COUNT_MAX_KEYS)
        return S3SYNC_JOB_MAX_SHARDS;
    shards = (keys + max_keys - 1) / max_keys;
    if (shards < 2)
        return 2;
    return shards > S3SYNC_JOB_MAX_SHARDS ? S3SYNC_JOB_MAX_SHARDS : (int)shards;
}

/* Package-private (tests): the Job of `shards` lifeboat-agent s3-sync pods
 * for the s3Sync spec `s3` (view_of's defaults). Returns a new object. */
json_t *steps_s3sync__job(const agentjob_spec *spec, const json_t *s3, int shards)
{
    json_int_t conc = json_integer_value(json_object_get(s3, "concurrency"));
    const char *prefix = json_string_value(json_object_get(s3, "prefix"));
    char num[24];
    json_t *cmd, *env;
    agentjob_spec indexed = *spec;

    assert(shards >= 2);
    cmd = json_pack("[s, s, s, s, s, s]", "lifeboat-agent", "s3-sync", "--source-bucket",
                    json_string_value(json_object_get(s3, "sourceBucket")), "--target-bucket",
                    json_string_value(json_object_get(s3, "targetBucket")));
    if (prefix != NULL && prefix[0] != '\0') {
        json_array_append_new(cmd, json_string("--prefix"));
        json_array_append_new(cmd, json_string(prefix));
    }
    for (size_t i = 0; i < 2; i++) { /* each side's region, as the operator's calls use it */
        static const char *const field[] = {"sourceRegion", "targetRegion"};
        static const char *const flag[] = {"--source-region", "--target-region"};
        const char *region = json_string_value(json_object_get(s3, field[i]));
        if (region != NULL && region[0] != '\0') {
            json_array_append_new(cmd, json_string(flag[i]));
            json_array_append_new(cmd, json_string(region));
        }
    }
    if (json_is_true(json_object_get(s3, "deleteExtraneous")))
        json_array_append_new(cmd, json_string("--delete-extraneous"));
    snprintf(num, sizeof(num), "%d", conc >= 1 && conc <= S3SYNC_MAX_CONCURRENCY ? (int)conc : 16);
    json_array_append_new(cmd, json_string("--concurrency"));
    json_array_append_new(cmd, json_string(num));
    snprintf(num, sizeof(num), "%d", shards);
    env = json_pack("[{s:s, s:s}]", "name", "LIFEBOAT_SHARDS", "value", num);
    indexed.completions = shards;
    indexed.parallelism = shards < S3SYNC_JOB_PARALLELISM ? shards : S3SYNC_JOB_PARALLELISM;
    return agentjob_build(&indexed, cmd, env);
}

typedef struct job_args {
    const agentjob_spec *spec;
    const step_ctx *ctx;
    int shards;
} job_args;

static json_t *build_job(void *payload)
{
    const job_args *a = payload;
    return steps_s3sync__job(a->spec, a->ctx->item->source_spec, a->shards);
}

static const char *rr_str(const step_ctx *ctx, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(json_object_get(ctx->rr, "metadata"), key));
    return v != NULL ? v : dflt;
}

static void job_spec_of(agentjob_spec *out, const step_ctx *ctx, const char *name)
{
    const char *api = json_string_value(json_object_get(ctx->rr, "apiVersion"));
    memset(out, 0, sizeof(*out));
    out->name = name;
    out->ns = rr_str(ctx, "namespace", "default");
    out->owner_api = api != NULL ? api : "lifeboat.dev/v1alpha1";
    out->owner_kind = "RestoreRequest";
    out->owner_name = rr_str(ctx, "name", "");
    out->owner_uid = rr_str(ctx, "uid", "");
    out->annotation = S3SYNC_ANN_REQUEST;
}

/* The sync Job (*out, caller decrefs), LB_ENOTFOUND, or a transient code. */
static int job_get(json_t **out, const step_ctx *ctx, const char *name)
{
    kube_ref ref = {.group = "batch",
                    .version = "v1",
                    .resource = "jobs",
                    .namespace = rr_str(ctx, "namespace", "default"),
                    .name = name};
    int rc = kube_get(out, ctx->kube, &ref);
    if (rc != 0 && rc != LB_ENOTFOUND)
        return lb_error_wrap(rc, "get Job %s", name);
    return rc;
}

/* spec.completions of a Job (0 when unset). */
static json_int_t job_completions(const json_t *obj)
{
    return json_integer_value(json_object_get(json_object_get(obj, "spec"), "completions"));
}

typedef struct key_count {
    size_t n, max;
} key_count;

static int on_count(const s3_object *o, void *payload)
{
    key_count *k = payload;
    (void)o;
    if (k->n >= k->max)
        return lb_error_setc(LB_ETOOBIG, "more than %zu keys counted", k->max);
    k->n++;
    return 0;
}

/* Keys under the prefix, counted (not kept) up to S3SYNC_JOB_COUNT_MAX_KEYS + 1,
 * through c (the bucket's region). */
static int count_keys(size_t *out, aws_client *c, const char *bucket, const char *prefix)
{
    s3_list_options o = {.prefix = (prefix && prefix[0]) ? prefix : NULL, .max_keys = 1000};
    key_count k = {.n = 0, .max = S3SYNC_JOB_COUNT_MAX_KEYS};
    int rc = s3_list_objects_v2(NULL, c, bucket, &o, on_count, &k);

    *out = k.n;
    if (rc == LB_ETOOBIG) {
        *out = k.n + 1;
        return 0;
    }
    return rc != 0 ? lb_error_wrap(rc, "ListObjectsV2 s3://%s", bucket) : 0;
}

/* The name of the sync's attempt-th Job (1: "lb-<rr>-<item>-sync", k > 1:
 * "...-sync-<k>") into out (JOBRUN_NAME_MAX + 1 bytes). */
static void job_name(char *out, size_t size, const step_ctx *ctx, int attempt)
{
    char suffix[32];
    if (attempt <= 1)
        snprintf(suffix, sizeof(suffix), "%s", S3SYNC_JOB_SUFFIX);
    else
        snprintf(suffix, sizeof(suffix), "%s-%d", S3SYNC_JOB_SUFFIX, attempt);
    jobrun_name(out, size, ctx, suffix);
}

/* The newest sync Job: *out (caller decrefs), its name into name
 * (JOBRUN_NAME_MAX + 1 bytes) and its attempt number. LB_ENOTFOUND when
 * there is none (name: the first attempt's), or a transient code. */
static int newest_job(json_t **out, int *attempt, char *name, size_t size, const step_ctx *ctx)
{
    char n[JOBRUN_NAME_MAX + 1];
    json_t *obj = NULL;
    int rc;

    *out = NULL;
    *attempt = 0;
    job_name(name, size, ctx, 1);
    for (int k = 1; k <= S3SYNC_JOB_ATTEMPTS; k++) {
        job_name(n, sizeof(n), ctx, k);
        rc = job_get(&obj, ctx, n);
        if (rc == LB_ENOTFOUND)
            break;
        if (rc != 0) {
            json_decref(*out);
            *out = NULL;
            return rc;
        }
        json_decref(*out);
        *out = obj;
        *attempt = k;
        snprintf(name, size, "%s", n);
    }
    return *attempt > 0 ? 0 : LB_ENOTFOUND;
}

/* Observes the sync's attempt-th Job `name`, creating it of `shards` shards
 * when it does not exist (the caller passes the found Job's completions, so
 * a Job deleted in between is created again alike; fewer than 2 gives 2), and
 * turns its state into out. A Job whose pod was killed before its agent
 * answered (AGENTJOB_CRASHED) is followed by the next attempt's Job, of the
 * same shards, up to S3SYNC_JOB_ATTEMPTS; `after` (NULL for the first) says
 * why this attempt exists. Returns 0 or a negative transient code. */
static int run_job(step_result *out, const step_ctx *ctx, const sync_view *w, const char *name,
                   int shards, int attempt, const char *after)
{
    char msg[AGENTJOB_MAX_MESSAGE], secret[JOBRUN_NAME_MAX + 1];
    agentjob_spec spec;
    agentjob_state state;
    json_t *res = NULL;
    int rc, failed;

    if (shards < 2)
        shards = 2;
    job_spec_of(&spec, ctx, name);
    rc = jobcreds_prepare(&failed, out, ctx, &spec, secret, sizeof(secret));
    if (rc != 0 || failed)
        return rc;
    job_args a = {.spec = &spec, .ctx = ctx, .shards = shards};
    rc = agentjob_run(&state, &res, msg, sizeof(msg), ctx->kube, &spec, build_job, &a);
    if (rc != 0)
        return rc;
    switch (state) {
    case AGENTJOB_CREATED:
        step_wait(out, STEP_POLL_MS,
                  "s3://%s -> s3://%s: Job %s created: lifeboat-agent s3-sync in %d shards, %d "
                  "at once%s%s",
                  w->src, w->dst, name, shards,
                  shards < S3SYNC_JOB_PARALLELISM ? shards : S3SYNC_JOB_PARALLELISM,
                  after != NULL ? "; a new attempt, as " : "", after != NULL ? after : "");
        break;
    case AGENTJOB_RUNNING:
        step_wait(out, STEP_POLL_MS, "s3://%s -> s3://%s: %s", w->src, w->dst, msg);
        break;
    case AGENTJOB_NOT_OWNED:
        step_failed(out, "JobNotOwned", "Job %s exists but is not owned by this RestoreRequest",
                    name);
        break;
    case AGENTJOB_CRASHED:
        if (attempt < S3SYNC_JOB_ATTEMPTS) { /* its copies stay in place */
            char next[JOBRUN_NAME_MAX + 1];
            job_name(next, sizeof(next), ctx, attempt + 1);
            LB_LOG_WARN("s3Sync Job crashed; starting the next attempt", "job", name, "next", next);
            rc = run_job(out, ctx, w, next, shards, attempt + 1, msg);
            json_decref(res);
            return rc;
        }
        step_failed(out, "SyncJobFailed", "s3://%s -> s3://%s: %s (attempt %d of %d)", w->src,
                    w->dst, msg, attempt, S3SYNC_JOB_ATTEMPTS);
        break;
    case AGENTJOB_FAILED:
        step_failed(out, "SyncJobFailed", "s3://%s -> s3://%s: %s", w->src, w->dst, msg);
        break;
    case AGENTJOB_SUCCEEDED:
        step_done(out,
                  "s3://%s -> s3://%s synced by Job %s: every shard copied, %s and verified its "
                  "keys (last shard: %lld objects, %lld copied, %lld deleted)",
                  w->src, w->dst, name,
                  w->delete_extra ? "deleted the extraneous" : "kept the extraneous",
                  (long long)json_integer_value(json_object_get(res, "objects")),
                  (long long)json_integer_value(json_object_get(res, "copied")),
                  (long long)json_integer_value(json_object_get(res, "deleted")));
        break;
    }
    json_decref(res);
    return 0;
}

/* Job mode, no Job yet: sizes it from key counts and creates it. */
static int start_job(step_result *out, const step_ctx *ctx, const sync_state *st,
                     const sync_view *w, const char *name)
{
    size_t src_keys = 0, dst_keys = 0;
    int rc = count_keys(&src_keys, st->cl.src, w->src, w->prefix);

    if (rc == 0)
        rc = count_keys(&dst_keys, st->cl.dst, w->dst, w->prefix);
    if (rc != 0)
        return rc;
    return run_job(out, ctx, w, name, steps_s3sync__shards(src_keys, dst_keys, max_objects), 1,
                   NULL);
}

int s3sync_step_sync(step_result *out, const step_ctx *ctx)
{
    sync_view w;
    sync_state st;
    char job[JOBRUN_NAME_MAX + 1];
    size_t done = 0, *differ = NULL, ndiffer = 0;
    long long bytes = 0;
    json_t *obj = NULL;
    int rc, job_mode, attempt;

    memset(&st, 0, sizeof(st));
    view_of(&w, ctx);
    /* a Job started by an earlier call (this operator, or one killed since) is
     * observed before anything is listed: never a second Job */
    rc = newest_job(&obj, &attempt, job, sizeof(job), ctx);
    if (rc == 0) {
        rc = run_job(out, ctx, &w, job, (int)job_completions(obj), attempt, NULL);
        goto out;
    }
    if (rc != LB_ENOTFOUND)
        goto out;
    rc = list_both(&job_mode, &st, &w, out, ctx);
    if (rc != 0)
        goto out;
    if (job_mode) {
        rc = start_job(out, ctx, &st, &w, job);
        goto out;
    }
    if (st.d.ncopy > 0) {
        rc = copy_batch(&done, &bytes, &st, st.d.copy, st.d.ncopy, &w);
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
        rc = delete_extras(&st, &w);
        if (rc != 0) {
            rc = batch_failed(out, rc, 0, &w);
            goto out;
        }
        rc = step_wait(out, 0, "s3://%s: %zu extraneous objects deleted; checking", w.dst,
                       st.d.nextra);
        goto out;
    }
    rc = content_checks(&differ, &ndiffer, &st, &w, out);
    if (rc != 0)
        goto out;
    if (ndiffer > 0) {
        rc = copy_batch(&done, &bytes, &st, differ, ndiffer, &w);
        if (rc != 0) {
            rc = batch_failed(out, rc, done, &w);
            goto out;
        }
        rc = step_wait(out, 0, "s3://%s: %zu objects with other content copied; checking", w.dst,
                       done);
        goto out;
    }
    rc = step_done(out,
                   "s3://%s -> s3://%s in sync: %zu objects, %lld bytes (%zu by SHA-256 "
                   "content); %zu extraneous %s",
                   w.src, w.dst, st.src.n, st.src.bytes, st.d.ncheck, st.d.nextra,
                   w.delete_extra ? "left" : "kept");
out:
    json_decref(obj);
    free(differ);
    state_dispose(&st);
    return rc < 0 ? rc : 0;
}

/* Job mode's verify: the Job complete with every index succeeded (each shard
 * verified its keys before exiting 0; see the file comment). */
static int verify_job(step_result *out, const sync_view *w, const step_ctx *ctx, const json_t *obj,
                      const char *name)
{
    const json_t *status = json_object_get(obj, "status");
    json_int_t completions =
        json_integer_value(json_object_get(json_object_get(obj, "spec"), "completions"));
    json_int_t succeeded = json_integer_value(json_object_get(status, "succeeded"));

    if (!agentjob_owned(obj, rr_str(ctx, "uid", "")))
        return step_failed(out, "JobNotOwned",
                           "Job %s exists but is not owned by this RestoreRequest", name);
    if (completions < 1)
        completions = 1;
    if (agentjob_condition(obj, "Failed"))
        return step_failed(out, "VerifyFailed",
                           "Job %s failed (%lld/%lld indexes succeeded): s3://%s is not verified "
                           "against s3://%s",
                           name, (long long)succeeded, (long long)completions, w->dst, w->src);
    if (!agentjob_condition(obj, "Complete"))
        return step_wait(out, STEP_POLL_MS, "waiting for Job %s: %lld/%lld indexes succeeded", name,
                         (long long)succeeded, (long long)completions);
    if (succeeded < completions)
        return step_failed(out, "VerifyFailed",
                           "Job %s is complete with %lld of %lld indexes succeeded", name,
                           (long long)succeeded, (long long)completions);
    return step_done(out,
                     "s3://%s matches s3://%s as verified by Job %s: %lld/%lld shards succeeded, "
                     "each after listing both buckets afresh and checking its keys' sizes and "
                     "ETags (SHA-256 content for multipart)%s",
                     w->dst, w->src, name, (long long)succeeded, (long long)completions,
                     w->delete_extra ? " and no extraneous keys" : "; extraneous keys kept");
}

int s3sync_step_verify(step_result *out, const step_ctx *ctx)
{
    sync_view w;
    sync_state st;
    char job[JOBRUN_NAME_MAX + 1];
    size_t *differ = NULL, ndiffer = 0;
    json_t *obj = NULL;
    int rc, job_mode, attempt;

    memset(&st, 0, sizeof(st));
    view_of(&w, ctx);
    rc = newest_job(&obj, &attempt, job, sizeof(job), ctx); /* the one that finished the sync */
    if (rc == 0) {
        rc = verify_job(out, &w, ctx, obj, job);
        goto done;
    }
    if (rc != LB_ENOTFOUND)
        goto done;
    rc = list_both(&job_mode, &st, &w, out, ctx);
    if (rc != 0)
        goto done;
    if (job_mode) {
        rc = step_failed(out, "VerifyFailed",
                         "more than %zu keys under prefix \"%s\" and no sync Job %s to vouch "
                         "for them: the operator does not verify this many keys itself",
                         max_objects, w.prefix ? w.prefix : "", job);
        goto done;
    }
    rc = content_checks(&differ, &ndiffer, &st, &w, out);
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
    json_decref(obj);
    free(differ);
    state_dispose(&st);
    return rc < 0 ? rc : 0;
}
