/* restore/access.h - references checked against the requester, not the
 * operator (DESIGN.md 3.4, issue 11 item 5).
 *
 * Before a RestoreRequest starts, every Kubernetes object it makes the
 * operator use on its behalf is confirmed with a LocalSubjectAccessReview in
 * the request's namespace: may the recorded requester (the annotation
 * lifeboat.dev/requested-by, which deploy/'s ValidatingAdmissionPolicy sets
 * to the creating user and freezes) do that themselves?
 *   *SecretRef {name}            get secrets/<name>       (read by the operator)
 *   secretPatches[].secretName   get, patch secrets/<name>
 *   rollout[], scaleDown[]       patch <kind>s/<name> (apps)
 *   migrations, a job item       create jobs (batch); the image and the
 *                                ServiceAccount must also be in the scope
 *                                (restore/scope.h): RBAC has no verb for them
 * The review names the user and the groups of the annotation
 * lifeboat.dev/requested-groups (comma-separated), which the same policy
 * admits at create only when every group listed is one of the creating
 * user's own (request.userInfo.groups; a subset is allowed) and freezes
 * afterwards. So a right held through a group counts when the requester
 * claims that group; without the annotation the review names no group and
 * such a right is not seen (the request is refused: the safe side).
 * A request without a recorded requester is not reviewed: only an install
 * without deploy/approval-policy.yaml has those, and it has no verified
 * identity at all (deploy/README.md, "Tenancy"); its groups are ignored.
 */
#ifndef LB_CONTROLLER_RESTORE_ACCESS_H
#define LB_CONTROLLER_RESTORE_ACCESS_H

#include <jansson.h>
#include <stddef.h>

#include "api/common.h"
#include "kube/client.h"

#define ACCESS_MAX_CHECKS 128 /* distinct reviews one request may need */

#define ACCESS_GROUPS_ANNOTATION "lifeboat.dev/requested-groups"
#define ACCESS_MAX_GROUPS        32  /* groups one request may claim */
#define ACCESS_MAX_GROUP_BYTES   256 /* bytes of one group name */

/* The groups a requester claims (lifeboat.dev/requested-groups), in the
 * order written. */
typedef struct access_groups {
    size_t n;
    char name[ACCESS_MAX_GROUPS][ACCESS_MAX_GROUP_BYTES + 1];
} access_groups;

/* One thing the requester must be allowed to do. */
typedef struct access_need {
    char field[256];      /* "spec.items[0].pgDump.target.connectionSecretRef.name" */
    const char *verb;     /* "get" */
    const char *group;    /* "" */
    const char *resource; /* "secrets" */
    char name[254];       /* "" for a collection verb (create) */
} access_need;

/* The needs of spec (a RestoreRequest spec object, borrowed) into out (at
 * most max; duplicates of verb/group/resource/name are listed once). Returns
 * how many; more than max is LB_ETOOBIG with lb_error set. */
int access_collect(access_need *out, size_t max, const json_t *spec);

/* Parses value, the text of the annotation lifeboat.dev/requested-groups
 * (borrowed; NULL or "" is no group), into out: names separated by ',', taken
 * as written (no trimming: the admission policy compares them byte for byte
 * with the user's groups). Refused, as LB_EINVALID with lb_error set to
 * "metadata.annotations[lifeboat.dev/requested-groups]: <the rule>": more
 * than ACCESS_MAX_GROUPS names, a name longer than ACCESS_MAX_GROUP_BYTES, an
 * empty name (",," or a ',' at either end), a control character. out is
 * emptied first, whatever the result. */
int access_groups_parse(access_groups *out, const char *value);

/* Reviews every need for user, with groups (borrowed; NULL is none) as the
 * review's spec.groups, in namespace ns. Each refusal is added to errs as
 * "<field>: user <user>[ (groups <g1>, <g2>)] may not <verb>
 * <resource>[/<name>] in namespace <ns> (SubjectAccessReview)". Returns 0
 * when all are allowed, LB_EINVALID when some are refused, another negative
 * code when a review could not be made (retry). */
int access_review(api_errors *errs, kube_client *kube, const char *ns, const char *user,
                  const access_groups *groups, const access_need *needs, size_t n);

#endif
