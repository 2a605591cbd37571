/* agent/latest.h - which backup object `latestUnder` means.
 *
 * A restore that names a prefix instead of a key (pgDump, fileArchive,
 * redisRDB `source.latestUnder`, the agent's --latest-under) takes the newest
 * usable backup under it: the object with the greatest LastModified (then the
 * greatest key; names carry a timestamp) among those that
 *   - are not a manifest (MANIFEST_SUFFIX) nor a "directory" marker,
 *   - are not empty (0 bytes restore nothing),
 *   - have their manifest, when the caller requires one,
 *   - are not tagged LATEST_RESULT_TAG = "failed": a BackupPolicy marks a
 *     failed backup's leftover that way (controller/backup/s3retention.h)
 *     until retention deletes it, so a restore never picks it meanwhile.
 * The tags are read newest first, one GetObjectTagging per candidate until one
 * is usable (normally one call), at most LATEST_MAX_TAG_READS. A backup the
 * policy judged Suspicious (a large shrink) is not tagged and can be picked:
 * it may be genuine; the step message names the object chosen before approval.
 */
#ifndef LB_AGENT_LATEST_H
#define LB_AGENT_LATEST_H

#include <stdbool.h>

#include "aws/request.h"

#define LATEST_MAX_OBJECTS   100000 /* objects listed under a prefix; more: LB_ETOOBIG */
#define LATEST_MAX_TAG_READS 50     /* newest candidates whose tags are read */
#define LATEST_RESULT_TAG    "lifeboat.dev/backup-result"
#define LATEST_RESULT_FAILED "failed"

/* Resolves the newest usable backup under bucket/prefix (above) into *out
 * (the caller frees it). LB_ENOTFOUND naming the prefix and what was skipped
 * (objects without a manifest, empty, tagged failed) when there is none;
 * LB_ETOOBIG above LATEST_MAX_OBJECTS; another negative code when listing or a
 * tag read fails (a missing s3:GetObjectTagging permission is such an error:
 * the candidate cannot be judged, so nothing is chosen). */
int latest_backup_under(char **out, aws_client *c, const char *bucket, const char *prefix,
                        bool require_manifest);

#endif
