/* restore/reconcile.c - the RestoreRequest kind: everything goes through the step engine. */
#include "controller/restore/reconcile.h"

#include "api/common.h"
#include "api/scope.h"
#include "controller/restore/assume.h"
#include "controller/restore/engine.h"
#include "controller/restore/scope.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdio.h>

static int restore_run(ctrl_result *out, const ctrl_env *env, const json_t *obj);

const ctrl_kind ctrl_kind_restore = {
    .controller = "restore",
    .kind = "RestoreRequest",
    .resource = "restorerequests",
    .has_phase = 1,
    .desired = restore_desired_status,
    .run = restore_run,
};

int restore_desired_status(json_t *status, const json_t *obj, lb_time now)
{
    engine_out out;
    return engine_step(status, &out, NULL, obj, now, NULL);
}

static int restore_run(ctrl_result *out, const ctrl_env *env, const json_t *obj)
{
    engine_env ee = {.kube = env->client,
                     .aws = env->aws,
                     .recorder = env->recorder,
                     .metrics = env->restore_metrics};
    engine_out eo;
    json_t *scope = NULL;
    char *scope_error = NULL;
    const json_t *st = json_object_get(obj, "status");
    const json_t *md = json_object_get(obj, "metadata");
    const char *role = api_get_str(json_object_get(st, "scope"), "roleArn");
    int wrote = 0, rc;

    out->outcome = CTRL_SKIPPED;
    out->requeue_ms = -1;
    if (engine_settled(obj))
        return 0;
    /* deny by default (DESIGN.md 3.4): a request that has not started needs
     * the RecoveryScope of its namespace */
    ee.enforce_scopes = 1;
    if (!json_is_array(json_object_get(st, "steps")) || api_get_str(st, "startedAt") == NULL) {
        rc = rscope_lookup(&scope, env->client,
                           api_get_str(json_object_get(obj, "metadata"), "namespace"));
        if (rc == LB_ENOTFOUND || rc == LB_ECONFLICT)
            scope_error = lb_strdup(lb_error_last());
        else if (rc != 0)
            return rc;
        ee.scope = scope;
        ee.scope_error = scope_error;
        role = scope != NULL ? api_scope_role_arn(scope) : NULL;
    }
    /* AWS as the scope's role: the run's role is the one recorded at its start */
    if (role != NULL && role[0] != '\0' && env->aws != NULL) {
        aws_client *as_role = NULL;
        rc = assume_client(&as_role, env->aws, role, api_get_str(md, "namespace"),
                           api_get_str(md, "name"));
        if (rc != 0) {
            json_decref(scope);
            free(scope_error);
            return rc;
        }
        ee.aws = as_role;
    }
    rc = engine_reconcile(&eo, &wrote, &ee, obj, lb_time_now());
    json_decref(scope);
    free(scope_error);
    if (rc != 0)
        return rc;
    out->outcome = wrote ? CTRL_WRITTEN : CTRL_UNCHANGED;
    out->requeue_ms = eo.requeue_ms;
    snprintf(out->resource_version, sizeof(out->resource_version), "%s", eo.resource_version);
    return 0;
}
