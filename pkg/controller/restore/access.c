/* access.c - LocalSubjectAccessReviews for what a request references. */
#include "controller/restore/access.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

typedef struct collector {
    access_need *out;
    size_t max, n;
    int overflow;
} collector;

static void add(collector *c, const char *field, const char *verb, const char *group,
                const char *resource, const char *name)
{
    for (size_t i = 0; i < c->n && i < c->max; i++) {
        const access_need *h = &c->out[i];
        if (strcmp(h->verb, verb) == 0 && strcmp(h->group, group) == 0 &&
            strcmp(h->resource, resource) == 0 && strcmp(h->name, name ? name : "") == 0)
            return;
    }
    if (c->n >= c->max) {
        c->overflow = 1;
        return;
    }
    access_need *a = &c->out[c->n++];
    snprintf(a->field, sizeof(a->field), "%s", field);
    a->verb = verb;
    a->group = group;
    a->resource = resource;
    snprintf(a->name, sizeof(a->name), "%s", name ? name : "");
}

static const char *workload_resource(const char *kind)
{
    if (kind == NULL)
        return NULL;
    if (strcmp(kind, "Deployment") == 0)
        return "deployments";
    if (strcmp(kind, "StatefulSet") == 0)
        return "statefulsets";
    if (strcmp(kind, "DaemonSet") == 0)
        return "daemonsets";
    return NULL;
}

/* "<path>.<key>" into buf, cut to fit (it only names a field). */
static void join_key(char *buf, size_t size, const char *path, const char *key)
{
    if (snprintf(buf, size, "%s.%s", path, key) >= (int)size)
        buf[size - 1] = '\0';
}

/* "<path>[<index>]<tail>" into buf, cut to fit. */
static void join_index(char *buf, size_t size, const char *path, size_t index, const char *tail)
{
    if (snprintf(buf, size, "%s[%zu]%s", path, index, tail) >= (int)size)
        buf[size - 1] = '\0';
}

static void workloads(collector *c, const json_t *list, const char *path)
{
    const json_t *w;
    size_t i;
    char f[256];
    json_array_foreach(list, i, w)
    {
        const char *res = workload_resource(api_get_str(w, "kind"));
        const char *name = api_get_str(w, "name");
        if (res == NULL || name == NULL)
            continue;
        join_index(f, sizeof(f), path, i, "");
        add(c, f, "patch", "apps", res, name);
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Walks v (at path) for references; the pod templates of job items are not
 * walked: creating the Job is reviewed as a whole. */
static void walk(collector *c, const json_t *v, const char *path)
{
    const char *key;
    const json_t *child, *p;
    size_t i;
    char f[256];

    if (json_is_array(v)) {
        json_array_foreach(v, i, child)
        {
            join_index(f, sizeof(f), path, i, "");
            walk(c, child, f);
        }
        return;
    }
    if (!json_is_object(v))
        return;
    json_object_foreach((json_t *)v, key, child)
    {
        join_key(f, sizeof(f), path, key);
        if (ends_with(key, "SecretRef") && api_get_str(child, "name") != NULL) {
            char nf[256];
            join_key(nf, sizeof(nf), f, "name");
            add(c, nf, "get", "", "secrets", api_get_str(child, "name"));
        } else if (strcmp(key, "secretPatches") == 0) {
            json_array_foreach(child, i, p)
            {
                char nf[256];
                const char *name = api_get_str(p, "secretName");
                if (name == NULL)
                    continue;
                join_index(nf, sizeof(nf), f, i, ".secretName");
                add(c, nf, "get", "", "secrets", name);
                add(c, nf, "patch", "", "secrets", name);
            }
        } else if (strcmp(key, "rollout") == 0 || strcmp(key, "scaleDown") == 0) {
            workloads(c, child, f);
        } else if (strcmp(key, "migrations") == 0 && json_is_object(child)) {
            add(c, f, "create", "batch", "jobs", NULL);
        } else if (strcmp(key, "job") == 0 && json_is_object(child)) {
            add(c, f, "create", "batch", "jobs", NULL);
            if (json_is_object(json_object_get(child, "credentialsSecretRef")))
                walk(c, json_object_get(child, "credentialsSecretRef"), f);
        } else {
            walk(c, child, f);
        }
    }
}

int access_collect(access_need *out, size_t max, const json_t *spec)
{
    collector c = {.out = out, .max = max};
    walk(&c, spec, "spec");
    if (c.overflow)
        return lb_error_setc(LB_ETOOBIG, "spec: references more than %zu objects", max);
    return (int)c.n;
}

#define GROUPS_FIELD "metadata.annotations[" ACCESS_GROUPS_ANNOTATION "]"
#define STR_(x)      #x
#define STR(x)       STR_(x)

/* The one rule a group name breaks, NULL when it breaks none. */
static const char *group_rule(const char *p, size_t len)
{
    if (len == 0)
        return "is empty (comma-separated names, no ',' at either end)";
    if (len > ACCESS_MAX_GROUP_BYTES)
        return "is longer than " STR(ACCESS_MAX_GROUP_BYTES) " bytes";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch < 0x20 || ch == 0x7f)
            return "has a control character";
    }
    return NULL;
}

int access_groups_parse(access_groups *out, const char *value)
{
    const size_t max_text = ACCESS_MAX_GROUPS * (ACCESS_MAX_GROUP_BYTES + 1) - 1;
    const char *p = value;

    out->n = 0;
    if (value == NULL || value[0] == '\0')
        return 0;
    /* the longest text that can pass, so a huge annotation is not walked */
    if (strnlen(value, max_text + 1) > max_text)
        return lb_error_setc(LB_EINVALID,
                             GROUPS_FIELD ": longer than %d groups of at most %d bytes each",
                             ACCESS_MAX_GROUPS, ACCESS_MAX_GROUP_BYTES);
    for (size_t k = 1;; k++) {
        size_t len = strcspn(p, ",");
        const char *rule = group_rule(p, len);
        if (k > ACCESS_MAX_GROUPS) {
            out->n = 0;
            return lb_error_setc(LB_EINVALID, GROUPS_FIELD ": at most %d groups",
                                 ACCESS_MAX_GROUPS);
        }
        if (rule != NULL) {
            out->n = 0;
            return lb_error_setc(LB_EINVALID, GROUPS_FIELD ": group %zu %s", k, rule);
        }
        memcpy(out->name[out->n], p, len);
        out->name[out->n][len] = '\0';
        out->n++;
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

/* One review: 1 allowed, 0 refused, negative: no answer. */
static int review_one(kube_client *kube, const char *ns, const char *user,
                      const access_groups *groups, const access_need *a)
{
    kube_ref ref = {.group = "authorization.k8s.io",
                    .version = "v1",
                    .resource = "localsubjectaccessreviews",
                    .namespace = ns};
    json_t *attrs = json_pack("{s:s, s:s, s:s, s:s}", "namespace", ns, "verb", a->verb, "group",
                              a->group, "resource", a->resource);
    json_t *spec, *body, *resp = NULL;
    int rc;

    if (a->name[0] != '\0')
        json_object_set_new(attrs, "name", json_string(a->name));
    spec = json_pack("{s:s, s:o}", "user", user, "resourceAttributes", attrs);
    if (groups != NULL && groups->n > 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < groups->n; i++)
            json_array_append_new(list, json_string(groups->name[i]));
        json_object_set_new(spec, "groups", list);
    }
    body = json_pack("{s:s, s:s, s:{s:s}, s:o}", "apiVersion", "authorization.k8s.io/v1", "kind",
                     "LocalSubjectAccessReview", "metadata", "namespace", ns, "spec", spec);
    rc = kube_create(&resp, kube, &ref, body);
    json_decref(body);
    if (rc != 0)
        return lb_error_wrap(rc, "SubjectAccessReview for %s", user);
    rc = api_get_bool(json_object_get(resp, "status"), "allowed", 0) ? 1 : 0;
    json_decref(resp);
    return rc;
}

/* " (groups a, b)" into buf for a refusal's message, "" without groups; cut
 * to fit (it only names who was reviewed). */
static void groups_text(char *buf, size_t size, const access_groups *groups)
{
    size_t used;

    buf[0] = '\0';
    if (groups == NULL || groups->n == 0)
        return;
    used = (size_t)snprintf(buf, size, " (groups ");
    for (size_t i = 0; i < groups->n && used < size; i++)
        used +=
            (size_t)snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "", groups->name[i]);
    if (used < size)
        snprintf(buf + used, size - used, ")");
}

int access_review(api_errors *errs, kube_client *kube, const char *ns, const char *user,
                  const access_groups *groups, const access_need *needs, size_t n)
{
    char who[512];
    int refused = 0;

    groups_text(who, sizeof(who), groups);
    for (size_t i = 0; i < n; i++) {
        const access_need *a = &needs[i];
        int rc = review_one(kube, ns, user, groups, a);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            api_errors_add(errs, a->field,
                           "user %s%s may not %s %s%s%s%s%s in namespace %s, so Lifeboat will "
                           "not do it for them (SubjectAccessReview)",
                           user, who, a->verb, a->group[0] ? a->group : "", a->group[0] ? "/" : "",
                           a->resource, a->name[0] ? "/" : "", a->name, ns);
            refused = 1;
        }
    }
    return refused ? LB_EINVALID : 0;
}
