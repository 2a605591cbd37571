/* s3sync.h - a one-way S3 bucket sync by server-side copies (runbook 000 3B).
 *
 * Used by the operator's s3Sync steps (controller/restore/steps_s3sync.c) and
 * by `lifeboat-agent s3-sync`. Nothing flows through this process but
 * listings: objects are copied by CopyObject (UploadPartCopy above 5 GiB,
 * s3_copy_object_ex), so a sync costs requests, not bandwidth.
 *
 * The decision per key is made from two fresh listings (ListObjectsV2 of the
 * source and target under the same prefix, listed at once by s3sync_run; a
 * key keeps its name):
 *
 *   copy   missing from the target, or a different size, or both ETags are
 *          plain MD5s (no "-N" suffix) and differ;
 *   check  same size, ETags differ and at least one is a multipart ETag
 *          ("<md5 of part md5s>-<parts>", which depends on the part size and
 *          so cannot be compared with a single-part MD5): the content is
 *          compared by streaming both objects through SHA-256
 *          (s3sync_content_equal), copied only when they differ;
 *   same   same size and the same ETag (an equal multipart ETag means the
 *          same parts, so the same content);
 *   extra  in the target, not in the source (deleted only when asked).
 *
 * Everything is derived from live state, so a sync interrupted at any
 * instant (kill -9) resumes by listing again and copies only what is still
 * missing; a copy whose answer was lost (LB_EAMBIGUOUS) is found done by
 * the next listing and not sent again.
 */
#ifndef LB_AWS_S3SYNC_H
#define LB_AWS_S3SYNC_H

#include <stddef.h>

#include "aws/regionpair.h"
#include "aws/request.h"

#define S3SYNC_MAX_OBJECTS     1000000 /* keys listed per side (memory: ~150 B each) */
#define S3SYNC_MAX_CONCURRENCY 256     /* copies in flight (the CRD's maximum) */

typedef struct s3sync_entry {
    char *key;
    long long size;
    char *etag; /* as listed, quotes included */
} s3sync_entry;

typedef struct s3sync_listing {
    s3sync_entry *v; /* sorted by key (bytewise) */
    size_t n, cap;
    long long bytes;
    size_t max; /* cap on n; 0: S3SYNC_MAX_OBJECTS */
} s3sync_listing;

/* Lists bucket under prefix (NULL: all) into *out, sorted by key. Returns 0,
 * LB_ETOOBIG past out->max (or S3SYNC_MAX_OBJECTS) keys, or the listing's
 * error. *out is disposed by the caller in every case (set out->max before
 * the call, or zero the struct). */
int s3sync_list(s3sync_listing *out, aws_client *c, const char *bucket, const char *prefix);

void s3sync_listing_dispose(s3sync_listing *l);

/* Sorts a listing built by hand (tests). */
void s3sync_listing_sort(s3sync_listing *l);

typedef struct s3sync_diff {
    size_t *copy, ncopy;   /* indices into the source listing */
    size_t *check, ncheck; /* indices into the source listing (target has the same key) */
    size_t *extra, nextra; /* indices into the target listing */
    size_t same;
    long long copy_bytes, check_bytes, same_bytes;
} s3sync_diff;

/* The per-key decision of the file comment for two sorted listings.
 * Returns 0; dispose *out. */
int s3sync_diff_compute(s3sync_diff *out, const s3sync_listing *src, const s3sync_listing *tgt);

void s3sync_diff_dispose(s3sync_diff *d);

/* True when etag (quoted or not) has the multipart form "<hex>-<parts>". */
int s3sync_etag_is_multipart(const char *etag);

/* Streams s3://src_bucket/key (through cl->src) and s3://dst_bucket/key
 * (through cl->dst) through SHA-256 and sets *out_equal. Returns 0 or the
 * GetObject error. */
int s3sync_content_equal(int *out_equal, const aws_region_pair *cl, const char *src_bucket,
                         const char *dst_bucket, const char *key);

/* Copies keys[0..n) from src_bucket to the same keys in dst_bucket with up
 * to `concurrency` copies in flight (1..S3SYNC_MAX_CONCURRENCY). Each
 * CopyObject is sent through cl->dst (the target bucket's region); cl->src
 * reads the source when a HeadObject is needed (above the multipart
 * threshold). Stops
 * taking new keys after the first failure. *out_done and *out_bytes count
 * the copies that succeeded. Returns 0, or the first failure's code (an
 * ambiguous one as LB_EAMBIGUOUS) with its message naming the key. */
int s3sync_copy_many(size_t *out_done, long long *out_bytes, const aws_region_pair *cl,
                     const char *src_bucket, const char *dst_bucket,
                     const s3sync_entry *const *keys, size_t n, int concurrency);

/* One whole sync in this process (lifeboat-agent s3-sync; the bench):
 * list, copy what differs, delete the extras when asked, compare the
 * multipart-ETag keys by content, then list again and verify. With
 * shard_count > 1 only the keys whose FNV-1a hash modulo shard_count equals
 * shard_index are handled (an Indexed Job's completion index), extras too. */
typedef struct s3sync_opts {
    const char *src_bucket, *dst_bucket, *prefix;
    int delete_extraneous;
    int concurrency;                   /* 0: 16 */
    unsigned shard_index, shard_count; /* 0/0: everything */
} s3sync_opts;

typedef struct s3sync_result {
    size_t objects;   /* source keys (of this shard) */
    long long bytes;  /* their bytes */
    size_t copied;    /* copies made */
    long long copied_bytes;
    size_t deleted;   /* extras deleted */
    size_t checked;   /* compared by SHA-256 content */
    size_t extra_kept;
} s3sync_result;

/* Runs the sync, the source listed and read through cl->src, the target
 * listed, copied into and deleted from through cl->dst; returns 0 when the
 * target verifies equal, LB_ERROR with the first differing keys when it does
 * not, or the first AWS error. */
int s3sync_run(s3sync_result *out, const aws_region_pair *cl, const s3sync_opts *o);

/* The shard (0..count-1) of a key: FNV-1a 32 of its bytes modulo count. */
unsigned s3sync_shard_of(const char *key, unsigned count);

#endif
