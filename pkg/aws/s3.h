/* s3.h - the S3 operations Lifeboat uses.
 *
 * Keys are passed as plain text; the client encodes them. Objects stream
 * through callbacks (GetObject into an aws_write_fn, PutObject from an
 * aws_read_fn), so memory stays flat whatever the size. Listings page
 * internally and hand each entry to a callback.
 */
#ifndef LB_AWS_S3_H
#define LB_AWS_S3_H

#include <stdbool.h>
#include <stdint.h>

#include "aws/request.h"

#define S3_MAX_LIST_RESPONSE_BYTES  (8u * 1024 * 1024) /* one listing page */
#define S3_MAX_SMALL_RESPONSE_BYTES (256u * 1024)      /* CopyObject and the like */
#define S3_MAX_KEY_BYTES            1024               /* S3's own limit */
#define S3_MAX_LIST_PAGES           100000             /* a listing that never ends */

typedef struct s3_object_info {
    long long size; /* -1 when unknown */
    char *etag;
    char *version_id; /* x-amz-version-id; NULL when unversioned */
    char *last_modified;
    char *content_type;
    bool delete_marker; /* the call made or removed a delete marker */
} s3_object_info;

void s3_object_info_dispose(s3_object_info *info);

/* One entry of ListObjectsV2; strings borrowed for the callback. */
typedef struct s3_object {
    const char *key;
    long long size;
    const char *etag;
    const char *last_modified;
    const char *storage_class;
} s3_object;

/* One Version or DeleteMarker of ListObjectVersions; borrowed. */
typedef struct s3_version {
    const char *key;
    const char *version_id;
    bool is_latest;
    bool is_delete_marker;
    long long size;   /* 0 for delete markers */
    const char *etag; /* NULL for delete markers */
    const char *last_modified;
} s3_version;

/* Listing callbacks return 0 to continue; any other value stops the
 * listing, and the list call returns it. */
typedef int (*s3_object_fn)(const s3_object *o, void *payload);
typedef int (*s3_version_fn)(const s3_version *v, void *payload);

typedef struct s3_list_options {
    const char *prefix; /* NULL: the whole bucket */
    int max_keys;       /* per page; 0: the server's default (1000) */
} s3_list_options;

/* Lists objects under a prefix, following NextContinuationToken. *out_pages
 * (may be NULL) receives the number of pages fetched. */
int s3_list_objects_v2(int *out_pages, aws_client *c, const char *bucket,
                       const s3_list_options *opts, s3_object_fn fn, void *payload);

/* Lists every version and delete marker under a prefix, following
 * NextKeyMarker/NextVersionIdMarker. Both element kinds are reported, in
 * document order (AWS interleaves them, moto lists Versions first). */
int s3_list_object_versions(int *out_pages, aws_client *c, const char *bucket,
                            const s3_list_options *opts, s3_version_fn fn, void *payload);

/* HEAD; LB_ENOTFOUND when the key (or version) does not exist. */
int s3_head_object(s3_object_info *out, aws_client *c, const char *bucket, const char *key,
                   const char *version_id);

/* GET streamed into fn. version_id and range ("bytes=0-99") may be NULL.
 * `out` may be NULL. */
int s3_get_object(s3_object_info *out, aws_client *c, const char *bucket, const char *key,
                  const char *version_id, const char *range, aws_write_fn fn, void *payload);

/* PUT of a buffer (its SHA-256 is signed). `out` may be NULL. */
int s3_put_object(s3_object_info *out, aws_client *c, const char *bucket, const char *key,
                  const char *content_type, const void *data, size_t len);

/* PUT streamed from fn (UNSIGNED-PAYLOAD); `len` bytes exactly. rewind may be
 * NULL (the request is then sent once). `out` may be NULL. */
int s3_put_object_stream(s3_object_info *out, aws_client *c, const char *bucket, const char *key,
                         const char *content_type, int64_t len, aws_read_fn fn,
                         aws_rewind_fn rewind, void *payload);

/* Server-side copy of src (a specific version when src_version_id is set).
 * out->version_id is the new version's id. Sources larger than
 * S3_COPY_MAX_SINGLE_BYTES are copied with UploadPartCopy (see
 * s3_copy_object_ex), which costs one HeadObject of the source first. */
int s3_copy_object(s3_object_info *out, aws_client *c, const char *bucket, const char *key,
                   const char *src_bucket, const char *src_key, const char *src_version_id);

#define S3_COPY_MAX_SINGLE_BYTES   (5LL * 1024 * 1024 * 1024) /* CopyObject's limit: 5 GiB */
#define S3_COPY_MAX_PART_BYTES     (5LL * 1024 * 1024 * 1024) /* UploadPartCopy's limit */
#define S3_COPY_DEFAULT_PART_BYTES (512LL * 1024 * 1024)

typedef struct s3_copy_options {
    int64_t multipart_threshold; /* sources above this use UploadPartCopy; 0: 5 GiB */
    int64_t part_size;           /* 0: 512 MiB, raised so that at most 10,000 parts are needed */
    int concurrency;             /* parts in flight; 0: S3_MULTIPART_DEFAULT_CONCURRENCY */
    int64_t source_size;         /* > 0: the source's size as listed; up to the threshold the
                                    HeadObject is skipped (one request per copy) */
    aws_client *source_client;   /* reads the source (HeadObject) when the source bucket is
                                    in another region than `bucket`; NULL: the same client */
} s3_copy_options;

/* s3_copy_object with the multipart threshold, part size and concurrency
 * as parameters (opts may be NULL). The source is read with HeadObject
 * (its size and Content-Type); up to the threshold one CopyObject is sent,
 * above it CreateMultipartUpload (the source's Content-Type), UploadPartCopy
 * with x-amz-copy-source-range for each part in parallel, and
 * CompleteMultipartUpload; on a failure the upload is aborted. The single
 * CopyObject is never re-sent after an ambiguous failure (5xx, answer lost):
 * it returns LB_EAMBIGUOUS and the caller re-reads the target. User
 * metadata (x-amz-meta-*) is carried only by the single CopyObject.
 * *out_parts (may be NULL) receives 0 for a single copy, else the number of
 * parts. */
int s3_copy_object_ex(s3_object_info *out, int *out_parts, aws_client *c, const char *bucket,
                      const char *key, const char *src_bucket, const char *src_key,
                      const char *src_version_id, const s3_copy_options *opts);

#define S3_DELETE_OBJECTS_MAX_KEYS 1000 /* keys in one DeleteObjects request (S3's limit) */

/* One key (and version) to delete; borrowed. */
typedef struct s3_object_id {
    const char *key;
    const char *version_id; /* NULL: the current version (a delete marker when versioned) */
} s3_object_id;

/* A key that S3 refused to delete. */
typedef struct s3_delete_error {
    char *key;
    char *version_id; /* NULL when none was given */
    char *code;       /* "AccessDenied", ... */
    char *message;
} s3_delete_error;

typedef struct s3_delete_result {
    size_t deleted; /* keys reported deleted (quiet mode: sent minus errors) */
    s3_delete_error *errors;
    size_t nerrors;
} s3_delete_result;

void s3_delete_result_dispose(s3_delete_result *r);

/* DeleteObjects: deletes `n` keys in batches of S3_DELETE_OBJECTS_MAX_KEYS
 * (POST ?delete with Content-MD5). In quiet mode S3 reports only failures.
 * Returns 0 when every key was deleted; when some keys failed it returns
 * LB_ERROR with the count and the first failure in the message, and
 * out->errors lists each (key, version, code, message). A failed request
 * returns its error after the batches already done; `out` then counts them.
 * The caller disposes `out` in every case. */
int s3_delete_objects(s3_delete_result *out, aws_client *c, const char *bucket,
                      const s3_object_id *objects, size_t n, bool quiet);

#define S3_MAX_CONFIG_RULES 1000 /* rules of a replication or lifecycle configuration */

typedef struct s3_replication_rule {
    char *id;
    char *status;             /* "Enabled" | "Disabled" */
    int priority;             /* -1 when absent (V1 rules) */
    char *prefix;             /* Filter/Prefix, Filter/And/Prefix or the V1 Prefix; "" for all */
    char *destination_bucket; /* an ARN: arn:aws:s3:::bucket */
    char *destination_storage_class; /* NULL: the source's */
    bool delete_marker_replication;  /* DeleteMarkerReplication/Status = Enabled */
} s3_replication_rule;

typedef struct s3_replication {
    char *role;
    s3_replication_rule *rules;
    size_t nrules;
} s3_replication;

void s3_replication_dispose(s3_replication *r);

/* GetBucketReplication; LB_ENOTFOUND when the bucket has no replication
 * configuration (ReplicationConfigurationNotFoundError). */
int s3_get_bucket_replication(s3_replication *out, aws_client *c, const char *bucket);

typedef struct s3_lifecycle_rule {
    char *id;
    char *status;          /* "Enabled" | "Disabled" */
    char *prefix;          /* Filter/Prefix, Filter/And/Prefix or the V1 Prefix; "" for all */
    int expiration_days;   /* Expiration/Days; -1 when absent */
    char *expiration_date; /* Expiration/Date; NULL when absent */
    bool expired_object_delete_marker;   /* Expiration/ExpiredObjectDeleteMarker */
    int noncurrent_expiration_days;      /* NoncurrentVersionExpiration/NoncurrentDays; -1 */
    int newer_noncurrent_versions;       /* .../NewerNoncurrentVersions; -1 */
    int abort_incomplete_multipart_days; /* AbortIncompleteMultipartUpload; -1 */
    int ntransitions;                    /* Transition + NoncurrentVersionTransition rules */
} s3_lifecycle_rule;

typedef struct s3_lifecycle {
    s3_lifecycle_rule *rules;
    size_t nrules;
} s3_lifecycle;

void s3_lifecycle_dispose(s3_lifecycle *l);

/* GetBucketLifecycleConfiguration; LB_ENOTFOUND when the bucket has none
 * (NoSuchLifecycleConfiguration). */
int s3_get_bucket_lifecycle_configuration(s3_lifecycle *out, aws_client *c, const char *bucket);

/* Parsers exposed for tests. */
int s3_parse_replication(s3_replication *out, const char *body, size_t len);
int s3_parse_lifecycle(s3_lifecycle *out, const char *body, size_t len);

/* DELETE, of one version when version_id is set (deleting a delete marker's
 * version undeletes the key). out->delete_marker and out->version_id echo
 * x-amz-delete-marker and x-amz-version-id. `out` may be NULL. */
int s3_delete_object(s3_object_info *out, aws_client *c, const char *bucket, const char *key,
                     const char *version_id);

/* s3_delete_object of the current version, never re-sent after an ambiguous
 * failure (a 5xx, an answer lost): that returns LB_EAMBIGUOUS and the caller
 * reads the key back - on a versioned bucket a re-sent DELETE would add a
 * second delete marker. `out` may be NULL. */
int s3_delete_object_once(s3_object_info *out, aws_client *c, const char *bucket,
                          const char *key);

#define S3_MULTIPART_MIN_PART_BYTES      (5u * 1024 * 1024) /* S3's minimum (all but the last) */
#define S3_MULTIPART_DEFAULT_PART_BYTES  (8u * 1024 * 1024)
#define S3_MULTIPART_MAX_PART_BYTES      (512u * 1024 * 1024) /* memory: concurrency x part */
#define S3_MULTIPART_MAX_PARTS           10000                /* S3's maximum */
#define S3_MULTIPART_MAX_CONCURRENCY     16
#define S3_MULTIPART_DEFAULT_CONCURRENCY 4

/* Positioned read of the upload's source: fill up to `len` bytes from
 * `offset`; return the count (short only at the end) or a negative value
 * on error. Called from several threads at once. */
typedef long (*s3_pread_fn)(char *buf, size_t len, int64_t offset, void *payload);

typedef struct s3_multipart_options {
    size_t part_size;         /* 0: S3_MULTIPART_DEFAULT_PART_BYTES */
    int concurrency;          /* parts in flight; 0: S3_MULTIPART_DEFAULT_CONCURRENCY */
    const char *content_type; /* NULL: application/octet-stream */
} s3_multipart_options;

/* Uploads `size` bytes as a multipart upload: CreateMultipartUpload, the
 * parts in parallel (each part buffered, so its SHA-256 is signed and a
 * failed part is retried by the request layer), CompleteMultipartUpload.
 * On any failure the upload is aborted (AbortMultipartUpload) so no parts
 * are left behind. Memory is concurrency x part_size whatever the size.
 * `out` (may be NULL) receives the ETag and version id; *out_parts (may be
 * NULL) the number of parts. */
int s3_upload_multipart(s3_object_info *out, int *out_parts, aws_client *c, const char *bucket,
                        const char *key, int64_t size, s3_pread_fn fn, void *payload,
                        const s3_multipart_options *opts);

/* GetBucketVersioning: *out receives "Enabled", "Suspended", or "" when
 * versioning was never enabled (the caller frees it). */
int s3_get_bucket_versioning(char **out, aws_client *c, const char *bucket);

#endif
