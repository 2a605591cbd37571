/* backup/reconcile.c - validate a BackupPolicy; schedule nothing yet. */
#include "controller/backup/reconcile.h"

#include <stdlib.h>

#include "api/backup.h"
#include "util/error.h"

const ctrl_kind ctrl_kind_backup = {
    .controller = "backup",
    .kind = "BackupPolicy",
    .resource = "backuppolicies",
    .has_phase = 0,
    .desired = backup_desired_status,
};

int backup_desired_status(json_t *status, const json_t *obj, lb_time now)
{
    int64_t gen = ctrl_generation(obj);
    const json_t *spec = json_object_get(obj, "spec");
    json_t *empty = json_object();
    api_errors errs = {0};
    api_backup_spec *parsed = NULL;
    char *joined = NULL;

    if (api_backup_parse(&parsed, &errs, spec != NULL ? spec : empty, now) != 0) {
        joined = api_errors_join(&errs);
        ctrl_set_invalid(status, joined[0] != '\0' ? joined : lb_error_last(), gen, now);
    } else {
        ctrl_set_valid(status, gen, now);
    }
    json_object_set_new(status, "observedGeneration", json_integer(gen));
    api_errors_dispose(&errs);
    api_backup_free(parsed);
    json_decref(empty);
    free(joined);
    return 0;
}
