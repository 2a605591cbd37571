/* health.c - see health.h. */
#include "api/health.h"

#include <stdio.h>
#include <string.h>

#include "api/common.h"

const char *api_health_name(api_health h)
{
    switch (h) {
    case API_HEALTH_HEALTHY:
        return "Healthy";
    case API_HEALTH_DEGRADED:
        return "Degraded";
    case API_HEALTH_SUSPENDED:
        return "Suspended";
    case API_HEALTH_PROGRESSING:
    default:
        return "Progressing";
    }
}

static bool streq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The condition's status is `want`; *reason gets its reason when so. */
static bool cond_is(const json_t *status, const char *type, const char *want, const char **reason)
{
    const json_t *c = api_condition_find(status, type);
    if (c == NULL || !streq(api_get_str(c, "status"), want))
        return false;
    *reason = api_get_str(c, "reason") ? api_get_str(c, "reason") : type;
    return true;
}

static api_health restore_health(const json_t *status, const char **reason)
{
    const char *phase = api_get_str(status, "phase");
    if (cond_is(status, "Valid", "False", reason))
        return API_HEALTH_DEGRADED;
    *reason = phase != NULL ? phase : "Pending";
    if (streq(phase, "Succeeded") || streq(phase, "Planned"))
        return API_HEALTH_HEALTHY;
    if (streq(phase, "Failed") || streq(phase, "RolledBack"))
        return API_HEALTH_DEGRADED;
    if (streq(phase, "AwaitingApproval"))
        return API_HEALTH_SUSPENDED;
    return API_HEALTH_PROGRESSING;
}

static api_health verify_health(const json_t *status, const char **reason)
{
    const char *phase = api_get_str(status, "phase");
    if (cond_is(status, "Valid", "False", reason))
        return API_HEALTH_DEGRADED;
    *reason = phase != NULL ? phase : "Pending";
    if (streq(phase, "Passed"))
        return API_HEALTH_HEALTHY;
    if (streq(phase, "Failed"))
        return API_HEALTH_DEGRADED;
    return API_HEALTH_PROGRESSING;
}

static api_health backup_health(const json_t *obj, const json_t *status, const char **reason)
{
    if (cond_is(status, "Valid", "False", reason))
        return API_HEALTH_DEGRADED;
    if (api_get_bool(json_object_get(obj, "spec"), "suspend", false)) {
        *reason = "Suspended";
        return API_HEALTH_SUSPENDED;
    }
    if (cond_is(status, "Ready", "False", reason) ||
        cond_is(status, "ConfigDrift", "True", reason))
        return API_HEALTH_DEGRADED;
    if (cond_is(status, "Ready", "True", reason))
        return API_HEALTH_HEALTHY;
    *reason = "NoRunYet";
    return API_HEALTH_PROGRESSING;
}

api_health api_health_of(const json_t *obj, const json_t *status, const char **reason)
{
    const char *kind = api_get_str(obj, "kind");
    json_int_t gen = api_get_int(json_object_get(obj, "metadata"), "generation", 0);
    json_int_t observed = api_get_int(status, "observedGeneration", -1);

    *reason = "UnknownKind";
    if (!streq(kind, "RestoreRequest") && !streq(kind, "VerificationRun") &&
        !streq(kind, "BackupPolicy"))
        return API_HEALTH_PROGRESSING;
    if (observed >= 0 && observed < gen) {
        *reason = "NewGeneration"; /* the operator has not acted on this spec yet */
        return API_HEALTH_PROGRESSING;
    }
    if (streq(kind, "RestoreRequest"))
        return restore_health(status, reason);
    if (streq(kind, "VerificationRun"))
        return verify_health(status, reason);
    return backup_health(obj, status, reason);
}

int api_health_conditions_set(json_t *status, const json_t *obj, int64_t generation, lb_time now)
{
    const char *reason = NULL;
    api_health h = api_health_of(obj, status, &reason);
    const char *message = api_get_str(status, "message");
    char text[256];
    int a, b;

    if (message == NULL || message[0] == '\0') {
        snprintf(text, sizeof(text), "%s: %s", api_health_name(h), reason);
        message = text;
    }
    a = api_condition_set(status, "Reconciling", h == API_HEALTH_PROGRESSING ? "True" : "False",
                          h == API_HEALTH_PROGRESSING ? reason : api_health_name(h), message,
                          generation, now);
    if (a < 0)
        return a;
    b = api_condition_set(status, "Stalled", h == API_HEALTH_DEGRADED ? "True" : "False",
                          h == API_HEALTH_DEGRADED ? reason : api_health_name(h), message,
                          generation, now);
    if (b < 0)
        return b;
    return a | b;
}
