/* api/scope.h - RecoveryScope (lifeboat.dev/v1alpha1, cluster-scoped): which
 * namespaces a scope selects and which names their requests may act on
 * (DESIGN.md section 3.4; the schema is crds/lifeboat.dev_recoveryscopes.yaml).
 *
 * Deny by default. A namespace no scope selects may act on nothing; a
 * namespace selected by more than one scope is refused too (which role and
 * which approvers would apply would be ambiguous). Within a scope every list
 * is a set of shell-style patterns (fnmatch(3), no flags: `*` also matches `/`
 * and `:`); an absent or empty list allows nothing. S3 locations are a bucket
 * pattern and a key prefix. A scope is used as the JSON object the API server
 * returned (borrowed), not copied.
 */
#ifndef LB_API_SCOPE_H
#define LB_API_SCOPE_H

#include <jansson.h>
#include <stdbool.h>

#include "api/common.h"

#define API_SCOPE_RESOURCE   "recoveryscopes"
#define API_SCOPE_MAX_SCOPES 1024 /* RecoveryScopes considered in one list */

/* The pattern lists of a scope's spec. */
typedef enum api_scope_list {
    API_SCOPE_RDS_INSTANCES = 0, /* spec.aws.rdsInstances */
    API_SCOPE_RDS_CLUSTERS,      /* spec.aws.rdsClusters */
    API_SCOPE_RDS_SNAPSHOTS,     /* spec.aws.rdsSnapshots */
    API_SCOPE_INSTANCE_CLASSES,  /* spec.aws.instanceClasses */
    API_SCOPE_SUBNET_GROUPS,     /* spec.aws.subnetGroups */
    API_SCOPE_SECURITY_GROUPS,   /* spec.aws.securityGroups */
    API_SCOPE_SECRET_IDS,        /* spec.aws.secretIds */
    API_SCOPE_IMAGES,            /* spec.kubernetes.images */
    API_SCOPE_SERVICE_ACCOUNTS,  /* spec.kubernetes.serviceAccounts */
    API_SCOPE_HTTP_HOSTS,        /* spec.kubernetes.httpHosts */
} api_scope_list;

/* "spec.aws.rdsInstances" etc. for messages. */
const char *api_scope_list_field(api_scope_list list);

/* Non-zero when scope (a RecoveryScope object) selects namespace ns, whose
 * labels are ns_labels (an object or NULL): its name matches a pattern of
 * spec.namespaces, or every spec.namespaceSelector.matchLabels entry is among
 * the labels (an empty matchLabels selects every namespace). */
int api_scope_selects(const json_t *scope, const char *ns, const json_t *ns_labels);

/* The one scope of `scopes` (an array of RecoveryScope objects) that selects
 * ns. Returns 0 with *out borrowed from scopes; LB_ENOTFOUND when none does
 * and LB_ECONFLICT when several do (lb_error says which, and names them). */
int api_scope_select(const json_t **out, const json_t *scopes, const char *ns,
                     const json_t *ns_labels);

/* metadata.name of the scope ("" when absent). Borrowed. */
const char *api_scope_name(const json_t *scope);

/* Non-zero when some pattern of `list` matches value. */
int api_scope_allows(const json_t *scope, api_scope_list list, const char *value);

/* Non-zero when some spec.aws.s3 entry's bucket pattern matches bucket and
 * key (an object key or a prefix; NULL or "" for the whole bucket) starts with
 * its prefix (an entry without prefix allows the whole bucket). */
int api_scope_allows_s3(const json_t *scope, const char *bucket, const char *key);

/* The checks every restore source runs, for every name it will touch, before
 * any AWS call. Each returns 0 when allowed; else it adds to errs the error
 * "<field>: <value> is not allowed by RecoveryScope <name> (<scope list>)"
 * and returns LB_EINVALID. value NULL: nothing to check (0). */
int api_scope_check(api_errors *errs, const json_t *scope, const char *field, api_scope_list list,
                    const char *value);
int api_scope_check_s3(api_errors *errs, const json_t *scope, const char *field,
                       const char *bucket, const char *key);
/* publiclyAccessible true needs spec.aws.allowPublic. */
int api_scope_check_public(api_errors *errs, const json_t *scope, const char *field,
                           bool is_public);

/* spec.aws.roleArn, or NULL (use the operator's own credentials). Borrowed. */
const char *api_scope_role_arn(const json_t *scope);

/* spec.approval.requireDistinctApprover (default true). */
bool api_scope_four_eyes(const json_t *scope);

#endif
