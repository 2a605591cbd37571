/* backup/target.h - one backup of one BackupPolicy target, and its retention.
 *
 * backup_target_run() does one bounded unit of a target's backup and is
 * called again (after a crash too) until it says DONE or FAILED, so it
 * checks actual state first and adopts what a previous call made:
 *  - rdsSnapshot: manual snapshot "<instance>-lb-<policy>-<stamp>" (stamp:
 *    the run's start, YYYYMMDDHHMMSS UTC, persisted before the first call),
 *    tagged lifeboat.dev/owner = "BackupPolicy/<ns>/<name>",
 *    lifeboat.dev/uid = <policy uid>, lifeboat.dev/target = <target name>;
 *    a snapshot of that id without the policy's uid tag is refused
 *    (TargetNotOwned); DONE once it is `available`;
 *  - rdsClusterSnapshot: the same for a cluster (manual cluster snapshot);
 *  - pgDump: a Job "lb-bp-<policy>-<target>-<stamp>" (controller/agentjob.h)
 *    runs `lifeboat-agent pg-backup --key <prefix><target>_<stamp>Z.dump`
 *    (AES-256-GCM with spec.encryption, else --no-encryption); its result
 *    gives size, sha256 and rows, and the manifest is checked to exist; the
 *    dump and manifest are then tagged as the policy's (s3retention.h);
 *  - redisRDB: pkg/redis's backup (BGSAVE, stream out through exec, sha256,
 *    manifest), keys from INFO keyspace. It takes one bounded call (BGSAVE
 *    waits at most REDIS_BACKUP_SAVE_WAIT_MS); its key holds the time of the
 *    call, so a crash during that call can leave one extra RDB object (untagged,
 *    so never deleted by retention); the RDB and manifest are tagged as the
 *    policy's (s3retention.h);
 *  - s3Copy: lists source and destination under the prefix, copies server-side
 *    at most S3COPY_BATCH missing or different keys per call (WAIT), and is DONE
 *    when every source key is in the destination with equal size and (single-part
 *    objects) equal ETag; nothing is deleted in the destination. Each copy is
 *    tagged as the policy's (s3retention.h) right after its CopyObject, and
 *    every copy made since the run's start is checked again on the next call
 *    (the verifying one), so a crash or an ambiguous answer between a copy and
 *    its tagging leaves no unowned copy and no second copy. With
 *    sourceRegion/destinationRegion (the offsite copy in another region) each
 *    bucket is listed in its own region and CopyObject goes to the
 *    destination's region (aws/regionpair.h, backup_s3copy_clients_open).
 *
 * Secrets (database URLs, keys) reach the agent as secretKeyRef env only.
 */
#ifndef LB_CONTROLLER_BACKUP_TARGET_H
#define LB_CONTROLLER_BACKUP_TARGET_H

#include <jansson.h>
#include <stdint.h>

#include "api/backup.h"
#include "aws/request.h"
#include "kube/client.h"
#include "util/timeutil.h"

#define BACKUP_POLL_MS     2000
#define BACKUP_MAX_MESSAGE 1024

typedef enum backup_target_verdict {
    BACKUP_TARGET_DONE = 0,
    BACKUP_TARGET_WAIT,
    BACKUP_TARGET_FAILED,
} backup_target_verdict;

typedef struct backup_target_result {
    backup_target_verdict verdict;
    int64_t requeue_ms;
    char reason[64];
    char message[BACKUP_MAX_MESSAGE];
    /* DONE: what was made (-1 / "" when the kind cannot say) */
    char id[1024];
    char location[2048];
    char time[LB_TIME_RFC3339_MAX];
    char sha256[65];
    int64_t size_bytes;
    int64_t count;    /* rows or keys */
    int has_manifest; /* 1, 0, -1 n/a */
} backup_target_result;

typedef struct backup_target_ctx {
    kube_client *kube;
    aws_client *aws;  /* NULL: no AWS configuration */
    const json_t *bp; /* the BackupPolicy (metadata) */
    const api_backup_target *target;
    const char *stamp; /* YYYYMMDDHHMMSS of the run's start */
    lb_time now;
} backup_target_ctx;

/* One unit of the target's backup into *out. Returns 0 (verdict in *out) or
 * a negative code for a transient failure (message in lb_error_last()). */
int backup_target_run(backup_target_result *out, const backup_target_ctx *ctx);

/* Retention of the target's backups (rdsSnapshot, rdsClusterSnapshot: the
 * policy's own manual snapshots of the instance or cluster, by the uid and
 * target tags - never a manual snapshot or another policy's; pgDump, redisRDB:
 * the policy's own tagged objects under the destination prefix, s3Copy: its
 * own copies of keys gone from the source, s3retention.h): deletes what
 * backup_retention_select() marks, never keep_id. A delete answered "not
 * found" (already deleted: a repeat after a crash or a lost answer) counts
 * as done.
 * *out_deleted counts deletions; msg names them. Returns 0 or a negative
 * code. */
int backup_target_retention(int *out_deleted, char *msg, size_t size, const backup_target_ctx *ctx,
                            const api_backup_spec *spec, const char *keep_id);

/* "<instance>-lb-<policy>-<stamp>" cut to a valid RDS identifier. */
void backup_snapshot_id(char *out, size_t size, const char *instance, const char *policy,
                        const char *stamp);

#endif
