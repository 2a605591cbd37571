/* restore/jobrun.c - create/adopt/observe the Jobs of restore steps (see jobrun.h). */
#include "controller/restore/jobrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"

#define LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
#define ANN_REQUEST      "lifeboat.dev/restore-request"

void steps_kube__object_name(char *out, size_t size, const char *full);

static const char *md_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static const char *rr_ns(const step_ctx *ctx)
{
    const char *s = md_str(ctx->rr, "namespace");
    return s ? s : "default";
}

static const char *rr_name(const step_ctx *ctx)
{
    const char *s = md_str(ctx->rr, "name");
    return s ? s : "";
}

static const char *rr_uid(const step_ctx *ctx)
{
    const char *s = md_str(ctx->rr, "uid");
    return s ? s : "";
}

void jobrun_name(char *out, size_t size, const step_ctx *ctx, const char *suffix)
{
    char *full = lb_sprintf("lb-%s-%s-%s", rr_name(ctx), ctx->item->name, suffix);
    steps_kube__object_name(out, size, full);
    free(full);
}

static int owned(const json_t *obj, const step_ctx *ctx)
{
    const json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
    size_t i;
    const json_t *r;
    json_array_foreach(refs, i, r)
    {
        const char *uid = json_string_value(json_object_get(r, "uid"));
        if (uid != NULL && rr_uid(ctx)[0] != '\0' && strcmp(uid, rr_uid(ctx)) == 0)
            return 1;
    }
    return 0;
}

/* The condition of that type with status True, or NULL. */
static const json_t *true_cond(const json_t *job, const char *type)
{
    const json_t *conds = json_object_get(json_object_get(job, "status"), "conditions");
    size_t i;
    const json_t *c;
    json_array_foreach(conds, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "type")) ?: "", type) == 0 &&
            strcmp(json_string_value(json_object_get(c, "status")) ?: "", "True") == 0)
            return c;
    }
    return NULL;
}

int jobrun_observe(jobrun_state *out_state, const char **out_reason, const step_ctx *ctx,
                   const char *name)
{
    static __thread char reason[64];
    kube_ref ref = {.group = "batch",
                    .version = "v1",
                    .resource = "jobs",
                    .namespace = rr_ns(ctx),
                    .name = name};
    json_t *obj = NULL;
    const json_t *c;
    int rc;

    *out_state = JOBRUN_ABSENT;
    reason[0] = '\0';
    if (out_reason != NULL)
        *out_reason = reason;
    rc = kube_get(&obj, ctx->kube, &ref);
    if (rc == LB_ENOTFOUND)
        return 0;
    if (rc != 0)
        return lb_error_wrap(rc, "get Job %s", name);
    if (!owned(obj, ctx)) {
        *out_state = JOBRUN_FOREIGN;
    } else if (true_cond(obj, "Complete") != NULL) {
        *out_state = JOBRUN_COMPLETE;
    } else if ((c = true_cond(obj, "Failed")) != NULL) {
        *out_state = JOBRUN_FAILED;
        snprintf(reason, sizeof(reason), "%s",
                 json_string_value(json_object_get(c, "reason")) ?: "Failed");
    } else {
        *out_state = JOBRUN_RUNNING;
    }
    json_decref(obj);
    return 0;
}

static json_t *ensure_obj(json_t *parent, const char *key)
{
    json_t *o = json_object_get(parent, key);
    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(parent, key, o);
    }
    return o;
}

int jobrun_create(const step_ctx *ctx, const char *name, json_t *body)
{
    kube_ref ref = {.group = "batch", .version = "v1", .resource = "jobs", .namespace = rr_ns(ctx)};
    const char *api = json_string_value(json_object_get(ctx->rr, "apiVersion"));
    char who[320];
    json_t *meta, *tmeta;
    int rc;

    json_object_set_new(body, "apiVersion", json_string("batch/v1"));
    json_object_set_new(body, "kind", json_string("Job"));
    meta = ensure_obj(body, "metadata");
    json_object_set_new(meta, "name", json_string(name));
    json_object_set_new(meta, "namespace", json_string(rr_ns(ctx)));
    json_object_del(meta, "generateName");
    json_object_set_new(ensure_obj(meta, "labels"), LABEL_MANAGED_BY, json_string("lifeboat"));
    snprintf(who, sizeof(who), "%s/%s", rr_ns(ctx), rr_name(ctx));
    json_object_set_new(ensure_obj(meta, "annotations"), ANN_REQUEST, json_string(who));
    json_object_set_new(meta, "ownerReferences",
                        json_pack("[{s:s, s:s, s:s, s:s, s:b, s:b}]", "apiVersion",
                                  api ? api : "lifeboat.dev/v1alpha1", "kind", "RestoreRequest",
                                  "name", rr_name(ctx), "uid", rr_uid(ctx), "controller", 1,
                                  "blockOwnerDeletion", 1));
    tmeta = ensure_obj(ensure_obj(ensure_obj(body, "spec"), "template"), "metadata");
    json_object_set_new(ensure_obj(tmeta, "labels"), LABEL_MANAGED_BY, json_string("lifeboat"));
    rc = kube_create(NULL, ctx->kube, &ref, body);
    json_decref(body);
    if (rc == LB_ECONFLICT) /* created by a previous attempt: observed next time */
        rc = 0;
    return rc != 0 ? lb_error_wrap(rc, "create Job %s", name) : 0;
}

char *jobrun_log(const step_ctx *ctx, const char *name, const char *container)
{
    kube_ref pods = {.group = "", .version = "v1", .resource = "pods", .namespace = rr_ns(ctx)};
    kube_list_options lo = {0};
    json_t *list = NULL;
    const json_t *p, *newest = NULL;
    char *sel = lb_sprintf("job-name=%s", name), *text = NULL;
    size_t i, len = 0;
    int rc;

    lo.label_selector = sel;
    rc = kube_list(&list, ctx->kube, &pods, &lo);
    free(sel);
    if (rc == 0) {
        json_array_foreach(json_object_get(list, "items"), i, p)
        {
            const char *ts = md_str(p, "creationTimestamp");
            const char *best = newest ? md_str(newest, "creationTimestamp") : NULL;
            if (newest == NULL || (ts != NULL && best != NULL && strcmp(ts, best) >= 0))
                newest = p;
        }
        if (newest == NULL)
            rc = lb_error_setc(LB_ENOTFOUND, "no pod of Job %s found", name);
    }
    if (rc == 0) {
        pods.name = md_str(newest, "name");
        pods.subresource = "log";
        char *q = lb_sprintf("container=%s&tailLines=%d&limitBytes=%d", container,
                             JOBRUN_LOG_LINES, JOBRUN_LOG_BYTES);
        rc = kube_get_text(&text, &len, ctx->kube, &pods, q);
        free(q);
    }
    json_decref(list);
    return rc == 0 ? text : NULL;
}

char *jobrun_log_tail(const char *log)
{
    char *red;
    size_t len;

    if (log == NULL)
        return lb_sprintf("(log unavailable: %s)", lb_error_last());
    red = lb_log_redact_url(log);
    for (char *c = red; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
        else if ((unsigned char)*c < 0x20)
            *c = '?';
    len = strlen(red);
    while (len > 0 && red[len - 1] == ' ')
        red[--len] = '\0';
    if (len > JOBRUN_LOG_KEEP) {
        char *cut = lb_sprintf("...%s", red + len - JOBRUN_LOG_KEEP);
        free(red);
        red = cut;
    }
    return red;
}

json_t *jobrun_result(const char *log)
{
    const char *end;

    if (log == NULL)
        return NULL;
    end = log + strlen(log);
    while (end > log) {
        const char *start = end;
        while (start > log && start[-1] != '\n')
            start--;
        if (start < end && *start == '{') {
            json_t *j = json_loadb(start, (size_t)(end - start), 0, NULL);
            if (json_is_object(j))
                return j;
            json_decref(j);
        }
        end = start > log ? start - 1 : log;
    }
    return NULL;
}

static void set_default(json_t *obj, const char *key, json_t *value)
{
    if (json_object_get(obj, key) == NULL)
        json_object_set_new(obj, key, value);
    else
        json_decref(value);
}

void jobrun_restrict(json_t *pod_spec)
{
    json_t *psc = ensure_obj(pod_spec, "securityContext"), *c;
    size_t i;

    set_default(psc, "runAsNonRoot", json_true());
    set_default(psc, "seccompProfile", json_pack("{s:s}", "type", "RuntimeDefault"));
    json_array_foreach(json_object_get(pod_spec, "containers"), i, c)
    {
        json_t *sc = ensure_obj(c, "securityContext");
        set_default(sc, "allowPrivilegeEscalation", json_false());
        set_default(sc, "capabilities", json_pack("{s:[s]}", "drop", "ALL"));
    }
}
