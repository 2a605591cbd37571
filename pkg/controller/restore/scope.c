/* scope.c - the names a RestoreRequest touches, checked against its scope. */
#include "controller/restore/scope.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "api/scope.h"
#include "util/alloc.h"
#include "util/error.h"

typedef struct walk {
    api_errors *errs;
    const json_t *scope;
    int rc;
    char base[256]; /* "spec.items[3].rdsPointInTime" */
} walk;

static void note(walk *w, int rc)
{
    if (rc != 0)
        w->rc = LB_EINVALID;
}

static void field(char *buf, size_t size, const walk *w, const char *name)
{
    snprintf(buf, size, "%s.%s", w->base, name);
}

static void check(walk *w, const json_t *o, const char *key, api_scope_list list)
{
    char f[320];
    field(f, sizeof(f), w, key);
    note(w, api_scope_check(w->errs, w->scope, f, list, api_get_str(o, key)));
}

static void check_value(walk *w, const char *key, api_scope_list list, const char *value)
{
    char f[320];
    field(f, sizeof(f), w, key);
    note(w, api_scope_check(w->errs, w->scope, f, list, value));
}

/* dbInstanceClass (or writerInstanceClass), subnet group, security groups, public. */
static void check_placement(walk *w, const json_t *o, const char *class_key)
{
    const json_t *sg;
    size_t i;
    char f[320];
    check(w, o, class_key, API_SCOPE_INSTANCE_CLASSES);
    check(w, o, "dbSubnetGroupName", API_SCOPE_SUBNET_GROUPS);
    json_array_foreach(json_object_get(o, "vpcSecurityGroupIds"), i, sg)
    {
        snprintf(f, sizeof(f), "%s.vpcSecurityGroupIds[%zu]", w->base, i);
        note(w, api_scope_check(w->errs, w->scope, f, API_SCOPE_SECURITY_GROUPS,
                                json_string_value(sg)));
    }
    field(f, sizeof(f), w, "publiclyAccessible");
    note(w, api_scope_check_public(w->errs, w->scope, f, api_get_bool(o, "publiclyAccessible", 0)));
}

static void check_s3_source(walk *w, const json_t *src)
{
    const char *key = api_get_str(src, "key");
    char f[320];
    snprintf(f, sizeof(f), "%s.source.%s", w->base, key != NULL ? "key" : "latestUnder");
    note(w, api_scope_check_s3(w->errs, w->scope, f, api_get_str(src, "bucket"),
                               key != NULL ? key : api_get_str(src, "latestUnder")));
}

/* A job item's pod spec (spec.items[i].job.template.spec.template.spec): every
 * container's and init container's image, and its ServiceAccount (absent: the
 * namespace's default one, always allowed). */
static void check_job_pod(walk *w, const json_t *pod)
{
    static const char *const lists[] = {"containers", "initContainers"};
    const json_t *ctr;
    size_t i;
    char f[320];

    for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
        json_array_foreach(json_object_get(pod, lists[l]), i, ctr)
        {
            snprintf(f, sizeof(f), "%s.template.spec.template.spec.%s[%zu].image", w->base, lists[l],
                     i);
            note(w, api_scope_check(w->errs, w->scope, f, API_SCOPE_IMAGES,
                                    api_get_str(ctr, "image")));
        }
    }
    snprintf(f, sizeof(f), "%s.template.spec.template.spec.serviceAccountName", w->base);
    note(w, api_scope_check(w->errs, w->scope, f, API_SCOPE_SERVICE_ACCOUNTS,
                            api_get_str(pod, "serviceAccountName")));
}

static void check_source(walk *w, const api_restore_item *it)
{
    const json_t *o = it->source_spec, *k;
    size_t i;
    char f[320];

    switch (it->source) {
    case API_SOURCE_RDS_POINT_IN_TIME:
        check(w, o, "sourceDBInstanceIdentifier", API_SCOPE_RDS_INSTANCES);
        check_value(w, "targetDBInstanceIdentifier", API_SCOPE_RDS_INSTANCES, it->target_id);
        check_placement(w, o, "dbInstanceClass");
        break;
    case API_SOURCE_RDS_SNAPSHOT:
        check(w, o, "dbSnapshotIdentifier", API_SCOPE_RDS_SNAPSHOTS);
        if (json_is_object(json_object_get(o, "latestFrom"))) {
            snprintf(f, sizeof(f), "%s.latestFrom.dbInstanceIdentifier", w->base);
            note(w, api_scope_check(w->errs, w->scope, f, API_SCOPE_RDS_INSTANCES,
                                    api_get_str(json_object_get(o, "latestFrom"),
                                                "dbInstanceIdentifier")));
        }
        check_value(w, "targetDBInstanceIdentifier", API_SCOPE_RDS_INSTANCES, it->target_id);
        check_placement(w, o, "dbInstanceClass");
        break;
    case API_SOURCE_RDS_IN_PLACE:
        check(w, o, "dbInstanceIdentifier", API_SCOPE_RDS_INSTANCES);
        check(w, o, "dbSnapshotIdentifier", API_SCOPE_RDS_SNAPSHOTS);
        check_placement(w, o, "dbInstanceClass");
        break;
    case API_SOURCE_RDS_CLUSTER_POINT_IN_TIME:
        check(w, o, "sourceDBClusterIdentifier", API_SCOPE_RDS_CLUSTERS);
        check_value(w, "targetDBClusterIdentifier", API_SCOPE_RDS_CLUSTERS, it->target_id);
        check_value(w, "writerInstanceIdentifier", API_SCOPE_RDS_INSTANCES, it->writer_id);
        check_placement(w, o, "writerInstanceClass");
        break;
    case API_SOURCE_PG_DUMP:
    case API_SOURCE_REDIS_RDB:
        check_s3_source(w, json_object_get(o, "source"));
        break;
    case API_SOURCE_S3_OBJECTS:
        if (json_is_array(json_object_get(o, "keys"))) {
            json_array_foreach(json_object_get(o, "keys"), i, k)
            {
                snprintf(f, sizeof(f), "%s.keys[%zu]", w->base, i);
                note(w, api_scope_check_s3(w->errs, w->scope, f, api_get_str(o, "bucket"),
                                           json_string_value(k)));
            }
        } else {
            field(f, sizeof(f), w, "prefix");
            note(w, api_scope_check_s3(w->errs, w->scope, f, api_get_str(o, "bucket"),
                                       api_get_str(o, "prefix")));
        }
        break;
    case API_SOURCE_S3_SYNC:
        field(f, sizeof(f), w, "sourceBucket");
        note(w, api_scope_check_s3(w->errs, w->scope, f, api_get_str(o, "sourceBucket"),
                                   api_get_str(o, "prefix")));
        field(f, sizeof(f), w, "targetBucket");
        note(w, api_scope_check_s3(w->errs, w->scope, f, api_get_str(o, "targetBucket"),
                                   api_get_str(o, "prefix")));
        break;
    case API_SOURCE_SECRET_VERSION:
        check(w, o, "secretId", API_SCOPE_SECRET_IDS);
        break;
    case API_SOURCE_FILE_ARCHIVE:
        check_s3_source(w, json_object_get(o, "source"));
        break;
    case API_SOURCE_JOB:
        check_job_pod(w, json_object_get(json_object_get(json_object_get(json_object_get(
                                                                            o, "template"),
                                                                        "spec"),
                                                        "template"),
                                         "spec"));
        break;
    case API_SOURCE_NONE:
    default:
        break;
    }
}

int rscope_check_item(api_errors *errs, const json_t *scope, const api_restore_item *item)
{
    walk w = {.errs = errs, .scope = scope};
    const json_t *mig = json_object_get(item->spec, "migrations");

    snprintf(w.base, sizeof(w.base), "spec.items[%zu].%s", item->index,
             api_source_field(item->source));
    check_source(&w, item);
    if (json_is_object(mig)) {
        snprintf(w.base, sizeof(w.base), "spec.items[%zu].migrations", item->index);
        check(&w, mig, "image", API_SCOPE_IMAGES);
        check(&w, mig, "serviceAccountName", API_SCOPE_SERVICE_ACCOUNTS);
    }
    return w.rc;
}

int rscope_url_host(char **out, const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL;
    int rc = 0;

    *out = NULL;
    if (u == NULL || url == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = lb_error_setc(LB_EINVALID, "not a URL with a host");
        goto done;
    }
    *out = lb_strdup(host);
done:
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static void check_http_checks(walk *w, const json_t *checks, const char *base)
{
    const json_t *c;
    size_t i;
    char f[320];
    json_array_foreach(checks, i, c)
    {
        const char *url = api_get_str(json_object_get(c, "http"), "url");
        char *host = NULL;
        if (url == NULL)
            continue;
        snprintf(f, sizeof(f), "%s[%zu].http.url", base, i);
        if (rscope_url_host(&host, url) != 0) {
            api_errors_add(w->errs, f, "has no host");
            w->rc = LB_EINVALID;
            continue;
        }
        note(w, api_scope_check(w->errs, w->scope, f, API_SCOPE_HTTP_HOSTS, host));
        free(host);
    }
}

int rscope_check_spec(api_errors *errs, const json_t *scope, const api_restore_spec *spec)
{
    walk w = {.errs = errs, .scope = scope};
    for (size_t i = 0; i < spec->n_items; i++)
        note(&w, rscope_check_item(errs, scope, &spec->items[i]));
    check_http_checks(&w, json_object_get(json_object_get(spec->json, "verification"), "checks"),
                      "spec.verification.checks");
    return w.rc;
}

int rscope_lookup(json_t **out, kube_client *kube, const char *ns)
{
    kube_ref scopes_ref = {.group = API_GROUP, .version = API_VERSION,
                           .resource = API_SCOPE_RESOURCE};
    kube_ref ns_ref = {.group = "", .version = "v1", .resource = "namespaces", .name = ns};
    kube_list_options opts = {.limit = API_SCOPE_MAX_SCOPES};
    json_t *list = NULL, *nsobj = NULL;
    const json_t *found = NULL;
    int rc;

    *out = NULL;
    rc = kube_list(&list, kube, &scopes_ref, &opts);
    if (rc == LB_ENOTFOUND) {
        rc = lb_error_setc(LB_ENOTFOUND,
                           "no RecoveryScope selects namespace %s (the RecoveryScope CRD is not "
                           "installed; deny by default)",
                           ns ? ns : "");
        goto done;
    }
    if (rc != 0)
        goto done;
    rc = kube_get(&nsobj, kube, &ns_ref);
    if (rc != 0 && rc != LB_ENOTFOUND)
        goto done;
    rc = api_scope_select(&found, json_object_get(list, "items"), ns,
                          json_object_get(json_object_get(nsobj, "metadata"), "labels"));
    if (rc == 0)
        *out = json_incref((json_t *)found);
done:
    json_decref(list);
    json_decref(nsobj);
    return rc;
}

void rscope_json_hash(char out[65], const json_t *v)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char *text = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    const char *s = text != NULL ? text : "null";

    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < n && i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    free(text);
}
