/* controller.c - the reconcile skeleton shared by the three kinds. */
#include "controller/controller.h"

#include <stdio.h>
#include <string.h>

#include "api/common.h"
#include "api/health.h"
#include "kube/statuswriter.h"
#include "util/error.h"
#include "util/log.h"

int64_t ctrl_generation(const json_t *obj)
{
    return (int64_t)api_get_int(json_object_get(obj, "metadata"), "generation", 0);
}

int ctrl_status_current(const json_t *obj)
{
    const json_t *status = json_object_get(obj, "status");
    const json_t *valid;
    int64_t gen = ctrl_generation(obj);

    if (!json_is_object(status))
        return 0;
    if (api_get_int(status, "observedGeneration", -1) != gen)
        return 0;
    valid = api_condition_find(status, "Valid");
    return valid != NULL && api_get_int(valid, "observedGeneration", -1) == gen;
}

const char *ctrl_set_invalid(json_t *status, const char *joined, int64_t gen, lb_time now)
{
    api_condition_set(status, "Valid", "False", "InvalidSpec", joined, gen, now);
    return api_get_str(api_condition_find(status, "Valid"), "message");
}

void ctrl_set_valid(json_t *status, int64_t gen, lb_time now)
{
    api_condition_set(status, "Valid", "True", "SpecValid", "the spec passed validation", gen, now);
}

void ctrl_set_str(json_t *status, const char *key, const char *s)
{
    if (s == NULL)
        json_object_del(status, key);
    else
        json_object_set_new(status, key, json_string(s));
}

typedef struct desired_call {
    const ctrl_kind *kind;
    lb_time now;
} desired_call;

static int apply_desired(json_t *status, const json_t *obj, void *payload)
{
    desired_call *d = payload;
    int rc = d->kind->desired(status, obj, d->now);
    return rc != 0 ? rc : ctrl_health_set(status, obj);
}

int ctrl_health_set(json_t *status, const json_t *obj)
{
    return api_health_conditions_set(status, obj, ctrl_generation(obj), lb_time_now()) < 0
               ? LB_ERROR
               : 0;
}

/* What an Event reports about a status: the phase (or the Valid condition
 * for kinds without a phase). Empty when there is nothing to report. */
static void status_mark(char *out, size_t size, const ctrl_kind *k, const json_t *status)
{
    const json_t *valid = api_condition_find(status, "Valid");
    out[0] = '\0';
    if (k->has_phase && api_get_str(status, "phase") != NULL)
        snprintf(out, size, "phase:%s", api_get_str(status, "phase"));
    else if (valid != NULL)
        snprintf(out, size, "valid:%s",
                 api_get_str(valid, "status") ? api_get_str(valid, "status") : "");
}

static void record_change(const ctrl_kind *k, const ctrl_env *env, const json_t *obj,
                          const json_t *status)
{
    const json_t *valid = api_condition_find(status, "Valid");
    const char *valid_status = api_get_str(valid, "status");
    const char *phase = k->has_phase ? api_get_str(status, "phase") : NULL;
    const char *message = api_get_str(status, "message");
    char buf[CTRL_MAX_EVENT_MESSAGE];
    const char *type = "Normal", *reason;
    int rc;

    if (valid_status != NULL && strcmp(valid_status, "False") == 0) {
        type = "Warning";
        reason = "InvalidSpec";
        message = api_get_str(valid, "message");
    } else if (phase != NULL) {
        reason = phase;
    } else {
        reason = "SpecValid";
        if (message == NULL)
            message = api_get_str(valid, "message");
    }
    snprintf(buf, sizeof(buf), "%s", message != NULL ? message : "");
    if (env->recorder == NULL)
        return;
    rc = kube_recorder_event(env->recorder, obj, type, reason, buf);
    if (rc != 0)
        LB_LOG_WARN("event not recorded", "controller", k->controller, "reason", reason, "error",
                    lb_error_last());
}

int ctrl_reconcile(ctrl_result *res, const ctrl_kind *k, const ctrl_env *env, const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    kube_ref ref = {.group = API_GROUP,
                    .version = API_VERSION,
                    .resource = k->resource,
                    .namespace = api_get_str(md, "namespace"),
                    .name = api_get_str(md, "name")};
    desired_call call = {.kind = k, .now = lb_time_now()};
    char before[128], after[128];
    json_t *written = NULL;
    int wrote = 0, result;
    ctrl_outcome *out = &res->outcome;
    json_t *fresh = NULL;

    res->outcome = CTRL_SKIPPED;
    res->requeue_ms = -1;
    res->resource_version[0] = '\0';
    if (k->run != NULL)
        return k->run(res, env, obj);
    if (ctrl_status_current(obj))
        return 0;
    if (k->keep != NULL) {
        /* obj is the cache's kept view: the desired status needs the whole object */
        result = kube_get(&fresh, env->client, &ref);
        if (result == LB_ENOTFOUND)
            return 0;
        if (result != 0)
            return result;
        obj = fresh;
    }
    status_mark(before, sizeof(before), k, json_object_get(obj, "status"));
    result = kube_status_update(&written, &wrote, env->client, &ref, obj, apply_desired, &call,
                                KUBE_STATUS_DEFAULT_ATTEMPTS);
    json_decref(fresh);
    if (result != 0)
        return result;
    *out = wrote ? CTRL_WRITTEN : CTRL_UNCHANGED;
    if (wrote) {
        const char *rv = api_get_str(json_object_get(written, "metadata"), "resourceVersion");
        snprintf(res->resource_version, sizeof(res->resource_version), "%s", rv ? rv : "");
    }
    status_mark(after, sizeof(after), k, json_object_get(written, "status"));
    if (wrote && strcmp(before, after) != 0) {
        char key[512];
        snprintf(key, sizeof(key), "%s/%s", ref.namespace != NULL ? ref.namespace : "",
                 ref.name != NULL ? ref.name : "");
        LB_LOG_INFO("status changed", "controller", k->controller, "object", key, "from", before,
                    "to", after);
        record_change(k, env, written, json_object_get(written, "status"));
    }
    json_decref(written);
    return 0;
}
