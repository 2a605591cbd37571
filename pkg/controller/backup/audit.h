/* backup/audit.h - spec.audit against the live settings (runbook 002's
 * "Expected:" lines): rdsBackupRetentionDays on spec.audit.rdsInstances (default: the
 * rdsSnapshot targets' instances), versioning Enabled on each s3Versioning
 * bucket, and redisPersistence.appendonly from CONFIG GET in the pod.
 * (appendfsync, save and s3Replication are not compared by this build.)
 */
#ifndef LB_CONTROLLER_BACKUP_AUDIT_H
#define LB_CONTROLLER_BACKUP_AUDIT_H

#include <jansson.h>

#include "api/backup.h"
#include "aws/request.h"
#include "kube/client.h"

/* Compares and sets *out (a new JSON array of strings, one per difference,
 * e.g. "rds shop-orders-prod: BackupRetentionPeriod is 7, expected 35").
 * A setting that cannot be read (instance or bucket missing) is a difference
 * saying so. Returns 0, or a negative code for a transient failure. */
int backup_audit(json_t **out, kube_client *kube, aws_client *aws, const char *ns,
                 const api_backup_spec *spec);

#endif
