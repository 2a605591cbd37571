/* aws/s3tags.h - S3 object tags: PutObjectTagging and GetObjectTagging.
 *
 * Lifeboat marks the backup objects it makes (a BackupPolicy's pgDump and
 * redisRDB objects) with tags naming their owner, so that retention deletes
 * only what the policy made and never a foreign object under the same prefix.
 * Bodies are built and parsed with libxml2; a GetObjectTagging answer is
 * capped at S3_TAGS_MAX_RESPONSE_BYTES.
 */
#ifndef LB_AWS_S3TAGS_H
#define LB_AWS_S3TAGS_H

#include <stddef.h>

#include "aws/request.h"

#define S3_TAGS_MAX                10          /* S3's limit per object */
#define S3_TAGS_MAX_RESPONSE_BYTES (64u * 1024) /* one GetObjectTagging answer */

typedef struct s3_tag {
    const char *key;
    const char *value;
} s3_tag;

typedef struct s3_tag_set {
    size_t n;
    char *keys[S3_TAGS_MAX];
    char *values[S3_TAGS_MAX];
} s3_tag_set;

/* Replaces the tags of bucket/key with tags[0..n) (n <= S3_TAGS_MAX).
 * Returns 0, LB_ENOTFOUND when the object is missing, LB_EINVALID for bad
 * arguments (named), or another negative code. */
int s3_put_object_tagging(aws_client *c, const char *bucket, const char *key, const s3_tag *tags,
                          size_t n);

/* Reads the tags of bucket/key into *out (dispose with s3_tag_set_dispose,
 * also after an error). Returns 0, LB_ENOTFOUND, or a negative code. */
int s3_get_object_tagging(s3_tag_set *out, aws_client *c, const char *bucket, const char *key);

/* The value of tag `key` in t (borrowed), or NULL. */
const char *s3_tag_set_get(const s3_tag_set *t, const char *key);

void s3_tag_set_dispose(s3_tag_set *t);

#endif
