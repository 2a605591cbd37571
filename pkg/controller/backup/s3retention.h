/* backup/s3retention.h - ownership and retention of a BackupPolicy's backup
 * objects in S3 (pgDump dumps, redisRDB RDB files, and their manifests).
 *
 * Ownership is recorded on the object itself: when a target's backup is
 * done, the dump (or RDB file) and its manifest get the tags
 * lifeboat.dev/owner = "BackupPolicy/<ns>/<name>", lifeboat.dev/uid =
 * <policy uid>, lifeboat.dev/target = <target name> (PutObjectTagging).
 * Retention lists the destination prefix and considers only objects whose
 * name has the target kind's suffix (".dump", ".rdb") AND whose tags carry
 * this policy's uid and this target's name: a foreign object under the same
 * prefix - a manual upload, another policy's or another target's backup, or
 * an object whose tagging did not happen - is never deleted. It keeps the
 * newest good (non-empty) one and the one just made (keep_key), applies
 * keepLast/maxAge through backup_retention_select, and deletes each chosen
 * object with its manifest. Times are the objects' LastModified.
 *
 * A failed backup's leftover (pgDump: the Job failed after the dump object was
 * written, or the dump is 0 bytes or has no manifest) gets the ownership tags
 * plus lifeboat.dev/backup-result = "failed": retention never counts it as a
 * backup (not among the keepLast newest, never the last good one) and deletes
 * it (with its manifest, if any) on its next pass, whatever keepLast and
 * maxAge say.
 */
#ifndef LB_CONTROLLER_BACKUP_S3RETENTION_H
#define LB_CONTROLLER_BACKUP_S3RETENTION_H

#include <stddef.h>

#include "agent/latest.h"
#include "aws/regionpair.h"
#include "api/backup.h"
#include "controller/backup/target.h"

#include <stdbool.h>

#define BACKUP_S3_RETENTION_MAX_KEYS 10000 /* objects considered per pass; more: an error */
#define BACKUP_S3_RESULT_FAILED      LATEST_RESULT_FAILED /* backup-result of a failed one */

/* Tags bucket/key (and its manifest manifest_key, when not NULL) as made by
 * ctx's policy and target, and, when failed, as a failed backup. PutObjectTagging
 * replaces the whole set, so a repeat (after a crash or an ambiguous answer)
 * leaves the same one set. Returns 0 or a negative code (transient: the
 * caller retries; an untagged object is simply never deleted by retention). */
int backup_s3_tag_owned(const backup_target_ctx *ctx, const char *bucket, const char *key,
                        const char *manifest_key, bool failed);

/* A failed backup's leftover: when bucket/key exists, tags it (and
 * manifest_key, when not NULL and it exists) as ctx's and failed; nothing
 * when it does not exist. Returns 0 or a negative code (transient). */
int backup_s3_mark_failed(const backup_target_ctx *ctx, const char *bucket, const char *key,
                          const char *manifest_key);

/* Retention of the target's objects under its destination bucket/prefix (see
 * the file comment). *out_deleted counts the backups deleted; msg (size
 * bytes) names them. Returns 0 or a negative code. */
int backup_s3_retention(int *out_deleted, char *msg, size_t size, const backup_target_ctx *ctx,
                        const api_backup_spec *spec, const char *keep_key);

/* The AWS clients of an s3Copy target (aws/regionpair.h): src for its
 * sourceRegion, dst for its destinationRegion, each ctx->aws when the field is
 * unset or names ctx->aws's region. Returns 0, or LB_EINVALID (a malformed
 * region, the field named). Close with aws_region_pair_close after 0. */
int backup_s3copy_clients_open(aws_region_pair *out, const backup_target_ctx *ctx);

/* s3Copy ownership: the copy dst bucket/key keeps the tags CopyObject took
 * from its source (ownership tags the source carried are replaced) and gets
 * the three ownership tags added (when the source's own tags leave no room
 * under S3_TAGS_MAX, the copy stays unowned and retention never deletes it).
 * A copy already tagged as ctx's target's is left as it is (no write), so a
 * repeat is free. Returns 0 or a negative code. */
int backup_s3_tag_copy(const backup_target_ctx *ctx, const char *bucket, const char *key);

/* s3Copy retention: with maxAge, deletes destination objects under the
 * prefix that this policy's target copied (its tags), that are no longer in
 * the source, and whose LastModified is older than maxAge - an offsite copy
 * keeps what the source deleted for maxAge, then lets it go. Objects still in
 * the source are never deleted; keepLast does not apply (one copy per key).
 * At most BACKUP_S3COPY_RETENTION_MAX_KEYS keys per bucket. */
#define BACKUP_S3COPY_RETENTION_MAX_KEYS 100000
int backup_s3copy_retention(int *out_deleted, char *msg, size_t size,
                            const backup_target_ctx *ctx, const api_backup_spec *spec);

/* The manifest key of a backup object: "<base>.manifest.json" for
 * "<base>.dump", "<key>.manifest.json" for an RDB file. New string. */
char *backup_s3_manifest_key(const char *key);

#endif
