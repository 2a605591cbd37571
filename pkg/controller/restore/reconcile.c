/* restore/reconcile.c - validate, plan, and say honestly what happens next. */
#include "controller/restore/reconcile.h"

#include <stdio.h>
#include <stdlib.h>

#include "api/restore.h"
#include "controller/plan.h"
#include "util/alloc.h"
#include "util/error.h"

const ctrl_kind ctrl_kind_restore = {
    .controller = "restore",
    .kind = "RestoreRequest",
    .resource = "restorerequests",
    .has_phase = 1,
    .desired = restore_desired_status,
};

static void set_failed(json_t *status, const char *why, int64_t gen, lb_time now)
{
    const char *msg = ctrl_set_invalid(status, why, gen, now);
    ctrl_set_str(status, "phase", "Failed");
    ctrl_set_str(status, "message", msg);
    ctrl_set_str(status, "currentStep", NULL);
    json_object_del(status, "plan");
}

int restore_desired_status(json_t *status, const json_t *obj, lb_time now)
{
    int64_t gen = ctrl_generation(obj);
    const json_t *spec = json_object_get(obj, "spec");
    json_t *empty = json_object();
    api_errors errs = {0};
    api_restore_spec *parsed = NULL;
    plan *p = NULL;
    char *joined = NULL, *msg = NULL;
    size_t destructive = 0;

    if (api_restore_parse(&parsed, &errs, spec != NULL ? spec : empty, now) != 0) {
        joined = api_errors_join(&errs);
        set_failed(status, joined[0] != '\0' ? joined : lb_error_last(), gen, now);
        goto done;
    }
    if (plan_build(&p, parsed) != 0) {
        msg = lb_sprintf("spec.items: %s", lb_error_last());
        set_failed(status, msg, gen, now);
        goto done;
    }
    for (size_t i = 0; i < p->n_steps; i++)
        destructive += p->steps[i].destructive ? 1 : 0;
    ctrl_set_valid(status, gen, now);
    json_object_set_new(status, "plan", plan_to_json(p));
    if (parsed->dry_run) {
        msg = lb_sprintf("dry run: the plan has %zu steps (%zu destructive); nothing will be "
                         "executed",
                         p->n_steps, destructive);
        ctrl_set_str(status, "phase", "Planned");
        ctrl_set_str(status, "currentStep", "");
        api_condition_set(status, "Progressing", "False", "DryRun", msg, gen, now);
    } else {
        msg = lb_sprintf("the plan has %zu steps (%zu destructive); %s", p->n_steps, destructive,
                         RESTORE_NOT_READY_MESSAGE);
        ctrl_set_str(status, "phase", "Pending");
        ctrl_set_str(status, "currentStep", "");
        api_condition_set(status, "Progressing", "False", "ControllerNotReady",
                          RESTORE_NOT_READY_MESSAGE, gen, now);
    }
    ctrl_set_str(status, "message", msg);

done:
    json_object_set_new(status, "observedGeneration", json_integer(gen));
    api_errors_dispose(&errs);
    api_restore_free(parsed);
    plan_free(p);
    json_decref(empty);
    free(joined);
    free(msg);
    return 0;
}
