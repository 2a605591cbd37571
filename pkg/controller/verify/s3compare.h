/* verify/s3compare.h - the s3Compare check: key sets and ETags of two
 * bucket/prefix listings.
 *
 * Both buckets are listed under the same prefix (ListObjectsV2, paginated by
 * pkg/aws), at most S3COMPARE_MAX_KEYS keys each (more fails naming the cap:
 * narrow the prefix). A key is "missing in B" when only A has it, "missing in
 * A" when only B has it, "different" when both have it with different ETags
 * (compareETags, default true). The check passes when the number of such keys
 * is at most `tolerance` (default 0). The message names the first
 * S3COMPARE_FIRST_KEYS keys of each kind, so a missing object is named.
 */
#ifndef LB_CONTROLLER_VERIFY_S3COMPARE_H
#define LB_CONTROLLER_VERIFY_S3COMPARE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "aws/request.h"

#define S3COMPARE_MAX_KEYS   200000 /* keys listed per bucket */
#define S3COMPARE_FIRST_KEYS 5      /* keys of each kind named in the message */
#define S3COMPARE_MAX_TEXT   1024   /* message bytes */

typedef struct s3compare_result {
    bool passed;
    long long keys_a, keys_b;
    long long only_a, only_b, different;
    char observed[256]; /* "bucketA 10 keys, bucketB 9 keys, 1 differing" */
    char expected[128]; /* "at most 0 differing keys" */
    char message[S3COMPARE_MAX_TEXT];
} s3compare_result;

/* One side's listing, sorted by key; exported for unit tests. */
typedef struct s3compare_entry {
    char *key;  /* relative to nothing: the full key */
    char *etag; /* may be NULL */
} s3compare_entry;

typedef struct s3compare_list {
    s3compare_entry *items;
    size_t n, cap;
} s3compare_list;

/* Adds (key, etag) to l (copies both). */
void s3compare_list_add(s3compare_list *l, const char *key, const char *etag);

void s3compare_list_dispose(s3compare_list *l);

/* Compares two listings (sorted in place) as the spec says ({bucketA,
 * bucketB, prefix, tolerance, compareETags}) and fills *out. Pure. */
void s3compare_diff(s3compare_result *out, s3compare_list *a, s3compare_list *b,
                    const json_t *spec);

/* Runs the check: lists both buckets through c and compares. Returns 0 with
 * *out filled (passed or not), or a negative LB_* code when a listing failed
 * (message set, naming the bucket). */
int s3compare_run(s3compare_result *out, aws_client *c, const json_t *spec);

#endif
