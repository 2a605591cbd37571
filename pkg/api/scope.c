/* scope.c - RecoveryScope selection and name checks. */
#include "api/scope.h"

#include <fnmatch.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

static const struct {
    const char *group; /* spec.<group> */
    const char *key;
} lists[] = {
    [API_SCOPE_RDS_INSTANCES] = {"aws", "rdsInstances"},
    [API_SCOPE_RDS_CLUSTERS] = {"aws", "rdsClusters"},
    [API_SCOPE_RDS_SNAPSHOTS] = {"aws", "rdsSnapshots"},
    [API_SCOPE_INSTANCE_CLASSES] = {"aws", "instanceClasses"},
    [API_SCOPE_SUBNET_GROUPS] = {"aws", "subnetGroups"},
    [API_SCOPE_SECURITY_GROUPS] = {"aws", "securityGroups"},
    [API_SCOPE_SECRET_IDS] = {"aws", "secretIds"},
    [API_SCOPE_IMAGES] = {"kubernetes", "images"},
    [API_SCOPE_SERVICE_ACCOUNTS] = {"kubernetes", "serviceAccounts"},
    [API_SCOPE_HTTP_HOSTS] = {"kubernetes", "httpHosts"},
};
#define N_LISTS (sizeof(lists) / sizeof(lists[0]))

static const char *const list_fields[] = {
    [API_SCOPE_RDS_INSTANCES] = "spec.aws.rdsInstances",
    [API_SCOPE_RDS_CLUSTERS] = "spec.aws.rdsClusters",
    [API_SCOPE_RDS_SNAPSHOTS] = "spec.aws.rdsSnapshots",
    [API_SCOPE_INSTANCE_CLASSES] = "spec.aws.instanceClasses",
    [API_SCOPE_SUBNET_GROUPS] = "spec.aws.subnetGroups",
    [API_SCOPE_SECURITY_GROUPS] = "spec.aws.securityGroups",
    [API_SCOPE_SECRET_IDS] = "spec.aws.secretIds",
    [API_SCOPE_IMAGES] = "spec.kubernetes.images",
    [API_SCOPE_SERVICE_ACCOUNTS] = "spec.kubernetes.serviceAccounts",
    [API_SCOPE_HTTP_HOSTS] = "spec.kubernetes.httpHosts",
};

const char *api_scope_list_field(api_scope_list list)
{
    return (size_t)list < N_LISTS ? list_fields[list] : "spec";
}

const char *api_scope_name(const json_t *scope)
{
    const char *n = api_get_str(json_object_get(scope, "metadata"), "name");
    return n != NULL ? n : "";
}

static const json_t *spec_of(const json_t *scope)
{
    return json_object_get(scope, "spec");
}

/* Non-zero when a string pattern of the array `patterns` matches value. */
static int any_match(const json_t *patterns, const char *value)
{
    const json_t *p;
    size_t i;
    if (value == NULL)
        return 0;
    json_array_foreach(patterns, i, p)
    {
        const char *pat = json_string_value(p);
        if (pat != NULL && fnmatch(pat, value, 0) == 0)
            return 1;
    }
    return 0;
}

int api_scope_selects(const json_t *scope, const char *ns, const json_t *ns_labels)
{
    const json_t *spec = spec_of(scope), *sel, *want, *v;
    const char *k;
    if (ns == NULL || !json_is_object(spec))
        return 0;
    if (any_match(json_object_get(spec, "namespaces"), ns))
        return 1;
    sel = json_object_get(spec, "namespaceSelector");
    if (!json_is_object(sel))
        return 0;
    want = json_object_get(sel, "matchLabels");
    if (want != NULL && !json_is_object(want))
        return 0;
    json_object_foreach((json_t *)want, k, v)
    {
        const char *have = api_get_str(ns_labels, k);
        if (have == NULL || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
            return 0;
    }
    return 1;
}

int api_scope_select(const json_t **out, const json_t *scopes, const char *ns,
                     const json_t *ns_labels)
{
    const json_t *s, *found = NULL;
    size_t i, n = 0;
    lb_buf names;
    int rc = 0;

    *out = NULL;
    buf_init(&names, 1024);
    json_array_foreach(scopes, i, s)
    {
        if (i >= API_SCOPE_MAX_SCOPES)
            break;
        if (!api_scope_selects(s, ns, ns_labels))
            continue;
        if (n++ == 0)
            found = s;
        buf_printf(&names, "%s%s", n > 1 ? ", " : "", api_scope_name(s));
    }
    if (n == 0)
        rc = lb_error_setc(LB_ENOTFOUND,
                           "no RecoveryScope selects namespace %s (deny by default: a cluster "
                           "admin must create a RecoveryScope for it)",
                           ns ? ns : "");
    else if (n > 1)
        rc = lb_error_setc(LB_ECONFLICT,
                           "namespace %s is selected by %zu RecoveryScopes (%.*s); exactly one "
                           "must select it",
                           ns ? ns : "", n, (int)names.len, names.data ? names.data : "");
    else
        *out = found;
    buf_dispose(&names);
    return rc;
}

int api_scope_allows(const json_t *scope, api_scope_list list, const char *value)
{
    if ((size_t)list >= N_LISTS)
        return 0;
    return any_match(
        json_object_get(json_object_get(spec_of(scope), lists[list].group), lists[list].key),
        value);
}

int api_scope_allows_s3(const json_t *scope, const char *bucket, const char *key)
{
    const json_t *e;
    size_t i;
    if (bucket == NULL)
        return 0;
    json_array_foreach(json_object_get(json_object_get(spec_of(scope), "aws"), "s3"), i, e)
    {
        const char *bp = api_get_str(e, "bucket"), *prefix = api_get_str(e, "prefix");
        if (bp == NULL || fnmatch(bp, bucket, 0) != 0)
            continue;
        if (prefix == NULL || prefix[0] == '\0')
            return 1;
        if (key != NULL && strncmp(key, prefix, strlen(prefix)) == 0)
            return 1;
    }
    return 0;
}

int api_scope_check(api_errors *errs, const json_t *scope, const char *field, api_scope_list list,
                    const char *value)
{
    if (value == NULL || api_scope_allows(scope, list, value))
        return 0;
    api_errors_add(errs, field, "%s is not allowed by RecoveryScope %s (%s)", value,
                   api_scope_name(scope), api_scope_list_field(list));
    return LB_EINVALID;
}

int api_scope_check_s3(api_errors *errs, const json_t *scope, const char *field,
                       const char *bucket, const char *key)
{
    if (bucket == NULL || api_scope_allows_s3(scope, bucket, key))
        return 0;
    api_errors_add(errs, field, "s3://%s/%s is not allowed by RecoveryScope %s (spec.aws.s3)",
                   bucket, key ? key : "", api_scope_name(scope));
    return LB_EINVALID;
}

int api_scope_check_public(api_errors *errs, const json_t *scope, const char *field,
                           bool is_public)
{
    if (!is_public || api_get_bool(json_object_get(spec_of(scope), "aws"), "allowPublic", false))
        return 0;
    api_errors_add(errs, field,
                   "true is not allowed by RecoveryScope %s (spec.aws.allowPublic is false)",
                   api_scope_name(scope));
    return LB_EINVALID;
}

const char *api_scope_role_arn(const json_t *scope)
{
    const char *r = api_get_str(json_object_get(spec_of(scope), "aws"), "roleArn");
    return r != NULL && r[0] != '\0' ? r : NULL;
}

bool api_scope_four_eyes(const json_t *scope)
{
    return api_get_bool(json_object_get(spec_of(scope), "approval"), "requireDistinctApprover",
                        true);
}
