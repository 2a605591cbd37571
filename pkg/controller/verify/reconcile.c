/* verify/reconcile.c - the VerificationRun kind: validation here, the run in run.c. */
#include "controller/verify/reconcile.h"

#include <stdlib.h>
#include <string.h>

#include "api/verify.h"
#include "controller/verify/run.h"
#include "util/error.h"

/* What the cache keeps of a VerificationRun: what verify_run() reads before
 * it GETs the run (a finished run's TTL); the rest is read fresh. */
static const char *const verify_keep[] = {CTRL_KEEP_IDENTITY, "/spec/ttlSecondsAfterFinished",
                                          "/status/finishedAt", NULL};

const ctrl_kind ctrl_kind_verify = {
    .controller = "verify",
    .kind = "VerificationRun",
    .resource = "verificationruns",
    .has_phase = 1,
    .desired = verify_desired_status,
    .run = verify_run,
    .keep = verify_keep,
};

int verify_desired_status(json_t *status, const json_t *obj, lb_time now)
{
    int64_t gen = ctrl_generation(obj);
    const json_t *spec = json_object_get(obj, "spec");
    json_t *empty = json_object();
    api_errors errs = {0};
    api_verify_spec *parsed = NULL;
    char *joined = NULL;

    if (api_verify_parse(&parsed, &errs, spec != NULL ? spec : empty, now) != 0) {
        const char *msg;
        joined = api_errors_join(&errs);
        msg = ctrl_set_invalid(status, joined[0] != '\0' ? joined : lb_error_last(), gen, now);
        ctrl_set_str(status, "phase", "Failed");
        ctrl_set_str(status, "message", msg);
    } else {
        const char *phase = api_get_str(status, "phase");
        ctrl_set_valid(status, gen, now);
        if (phase != NULL && strcmp(phase, "Failed") == 0) {
            ctrl_set_str(status, "phase", NULL);
            ctrl_set_str(status, "message", NULL);
        }
    }
    json_object_set_new(status, "observedGeneration", json_integer(gen));
    api_errors_dispose(&errs);
    api_verify_free(parsed);
    json_decref(empty);
    free(joined);
    return 0;
}
