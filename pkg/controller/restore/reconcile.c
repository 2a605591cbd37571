/* restore/reconcile.c - the RestoreRequest kind: everything goes through the step engine. */
#include "controller/restore/reconcile.h"

#include "controller/restore/engine.h"

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
    int wrote = 0, rc;

    out->outcome = CTRL_SKIPPED;
    out->requeue_ms = -1;
    if (engine_settled(obj))
        return 0;
    rc = engine_reconcile(&eo, &wrote, &ee, obj, lb_time_now());
    if (rc != 0)
        return rc;
    out->outcome = wrote ? CTRL_WRITTEN : CTRL_UNCHANGED;
    out->requeue_ms = eo.requeue_ms;
    snprintf(out->resource_version, sizeof(out->resource_version), "%s", eo.resource_version);
    return 0;
}
