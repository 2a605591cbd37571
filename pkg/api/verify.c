/* verify.c - VerificationRun spec parsing and validation. */
#include "api/verify.h"

#include <string.h>

#include "api/private.h"
#include "api/schema.h"
#include "util/alloc.h"
#include "util/error.h"

static const char *const check_fields[] = {"sql", "http", "redis", "s3Compare", "workload"};

const char *api_check_kind_field(api_check_kind k)
{
    return (int)k >= 0 && (size_t)k < sizeof(check_fields) / sizeof(check_fields[0])
               ? check_fields[k]
               : "";
}

void api_verify_free(api_verify_spec *s)
{
    if (s == NULL)
        return;
    free(s->checks);
    json_decref(s->json);
    free(s);
}

int api_verify_parse(api_verify_spec **out, api_errors *errs, const json_t *spec, lb_time now)
{
    api_errors local = {0};
    api_errors *e = errs != NULL ? errs : &local;
    size_t before = e->len + e->dropped, i;
    api_verify_spec *s = NULL;
    json_t *copy = NULL, *checks, *c, *target;
    int rc = 0;

    *out = NULL;
    if (!json_is_object(spec)) {
        api_errors_add(e, "spec", "must be an object");
        rc = api_errors_fail(e, "VerificationRun spec");
        goto done;
    }
    copy = json_deep_copy(spec);
    api_schema_validate(copy, API_KIND_VERIFICATION_RUN, "spec", "spec", e);
    api__check_verification(e, copy, "spec", now);
    if (e->len + e->dropped != before) {
        rc = api_errors_fail(e, "VerificationRun spec");
        goto done;
    }
    s = lb_calloc(1, sizeof(*s));
    s->json = copy;
    copy = NULL;
    target = json_object_get(s->json, "target");
    if (json_object_get(target, "connectionSecretRef") != NULL)
        s->target = API_VERIFY_TARGET_CONNECTION_SECRET;
    else if (json_object_get(target, "rdsInstance") != NULL)
        s->target = API_VERIFY_TARGET_RDS_INSTANCE;
    else if (json_object_get(s->json, "scratchRestore") != NULL)
        s->target = API_VERIFY_TARGET_SCRATCH_RESTORE;
    checks = json_object_get(s->json, "checks");
    s->checks = lb_calloc(json_array_size(checks) + 1, sizeof(*s->checks));
    json_array_foreach(checks, i, c)
    {
        s->checks[i].name = api_get_str(c, "name");
        for (size_t k = 0; k < sizeof(check_fields) / sizeof(check_fields[0]); k++)
            if (json_object_get(c, check_fields[k]) != NULL) {
                s->checks[i].kind = (api_check_kind)k;
                s->checks[i].spec = json_object_get(c, check_fields[k]);
            }
    }
    s->n_checks = json_array_size(checks);
    if (json_is_object(json_object_get(s->json, "rpo"))) {
        s->has_rpo = true;
        (void)api_duration_parse(&s->rpo_max_age_sec,
                                 api_get_str(json_object_get(s->json, "rpo"), "maxAge"));
    }
    s->timeout_sec = api_get_int(s->json, "timeoutSeconds", 600);
    s->ttl_after_finished_sec = api_get_int(s->json, "ttlSecondsAfterFinished", -1);
    *out = s;
    s = NULL;
done:
    api_verify_free(s);
    json_decref(copy);
    api_errors_dispose(&local);
    return rc;
}
