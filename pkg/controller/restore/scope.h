/* restore/scope.h - a RestoreRequest checked against its namespace's
 * RecoveryScope (DESIGN.md section 3.4; api/scope.h has the rules).
 *
 * Every name a request's items will touch is listed here per source and
 * checked with api_scope_check* - the one check every source uses - before
 * the run starts, so before any step and any AWS call. A new source adds its
 * names to rscope_check_item. What is checked:
 *   rds*            source/target/writer instance ids (rdsInstances), cluster ids
 *                   (rdsClusters), snapshot ids or ARNs (rdsSnapshots), the
 *                   latestFrom instance (rdsInstances), dbInstanceClass /
 *                   writerInstanceClass, dbSubnetGroupName, vpcSecurityGroupIds,
 *                   publiclyAccessible (allowPublic)
 *   pgDump/redisRDB source bucket + key or latestUnder (s3)
 *   s3Objects       bucket + every key, or the prefix (s3)
 *   s3Sync          source and target bucket + prefix (s3)
 *   secretVersion   secretId (secretIds)
 *   migrations      image (images), serviceAccountName (serviceAccounts; absent:
 *                   the namespace's default ServiceAccount, always allowed)
 *   fileArchive     source bucket + key or latestUnder (s3)
 *   job             every container's and init container's image (images),
 *                   the pod's serviceAccountName (serviceAccounts)
 *   verification    every http check's URL host (httpHosts)
 */
#ifndef LB_CONTROLLER_RESTORE_SCOPE_H
#define LB_CONTROLLER_RESTORE_SCOPE_H

#include <jansson.h>

#include "api/common.h"
#include "api/restore.h"
#include "kube/client.h"

/* Checks every name of item (spec.items[item->index]) against scope
 * (borrowed RecoveryScope). Returns 0, or LB_EINVALID with the refusals added
 * to errs. */
int rscope_check_item(api_errors *errs, const json_t *scope, const api_restore_item *item);

/* Every item, then the request-level parts (verification). Same returns. */
int rscope_check_spec(api_errors *errs, const json_t *scope, const api_restore_spec *spec);

/* The host of an http(s) URL into a new string (*out, caller frees). Returns
 * 0, or LB_EINVALID when url does not parse. */
int rscope_url_host(char **out, const char *url);

/* The RecoveryScope that selects namespace ns: lists the cluster's
 * RecoveryScopes and reads the namespace's labels. Returns 0 with *out (a new
 * reference, caller releases); LB_ENOTFOUND (none, or the RecoveryScope CRD is
 * not installed) and LB_ECONFLICT (several) with a message for Valid=False;
 * another negative code for a failure worth retrying. */
int rscope_lookup(json_t **out, kube_client *kube, const char *ns);

/* sha256 of the compact, key-sorted JSON of v as 64 hex digits + NUL. */
void rscope_json_hash(char out[65], const json_t *v);

#endif
