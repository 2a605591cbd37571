/* regionpair.h - the two AWS clients of a cross-region S3 operation: one for
 * the source bucket's region, one for the destination's.
 *
 * S3 answers a bucket only in its own region: a request signed for (and sent
 * to the endpoint of) another region gets 301 PermanentRedirect, or 400
 * AuthorizationHeaderMalformed, naming the bucket's region in
 * x-amz-bucket-region (the request layer turns both into LB_EINVALID with
 * that region in the message). So every call goes to its bucket's region:
 *
 *   src   listing and reading the source (ListObjectsV2, HeadObject,
 *         GetObject);
 *   dst   listing, writing, tagging and deleting in the destination, and
 *         CopyObject / UploadPartCopy: a copy is a write to the destination
 *         bucket, sent to its region, which reads the source across regions
 *         server-side (as S3 allows; x-amz-copy-source names the bucket, not
 *         a region).
 *
 * Used by BackupPolicy's s3Copy (sourceRegion / destinationRegion), the
 * RestoreRequest's s3Sync item (sourceRegion / targetRegion) and
 * `lifeboat-agent s3-sync` (--source-region / --target-region). A region left
 * unset means the base client's own.
 */
#ifndef LB_AWS_REGIONPAIR_H
#define LB_AWS_REGIONPAIR_H

#include <stdbool.h>

#include "aws/request.h"

typedef struct aws_region_pair {
    aws_client *src, *dst; /* borrowed from base or owned (the flags) */
    bool src_owned, dst_owned;
} aws_region_pair;

/* Fills *out from `base`: src for src_region, dst for dst_region, each `base`
 * itself when the region is NULL, empty or base's region, else a client made
 * by aws_client_new_for_region (base's endpoints, retries, fence and
 * credentials provider, borrowed: base must outlive the pair). Returns 0, or
 * LB_EINVALID with a message naming the side ("source region" / "destination
 * region") and the malformed value; *out is then empty and needs no close.
 * After 0, release with aws_region_pair_close. */
int aws_region_pair_open(aws_region_pair *out, aws_client *base, const char *src_region,
                         const char *dst_region);

/* Frees the clients the pair owns; *p is zeroed. A zeroed pair is accepted. */
void aws_region_pair_close(aws_region_pair *p);

#endif
