/* backup.c - BackupPolicy spec parsing and validation. */
#include "api/backup.h"

#include <string.h>

#include "api/private.h"
#include "api/schema.h"
#include "util/alloc.h"
#include "util/error.h"

static const char *const backup_fields[] = {"rdsSnapshot", "rdsClusterSnapshot", "pgDump",
                                            "redisRDB", "s3Copy"};
#define N_BACKUP_FIELDS (sizeof(backup_fields) / sizeof(backup_fields[0]))

const char *api_backup_kind_field(api_backup_kind k)
{
    return (int)k >= 0 && (size_t)k < N_BACKUP_FIELDS ? backup_fields[k] : "";
}

void api_backup_free(api_backup_spec *s)
{
    if (s == NULL)
        return;
    lb_tz_free(s->tz);
    lb_tz_free(s->verification_tz);
    free(s->targets);
    json_decref(s->json);
    free(s);
}

/* obj.schedule must be a cron expression and obj.timeZone a known zone. */
static void backup__schedule(api_errors *e, const json_t *obj, const char *path,
                             cron_schedule *out_sched, lb_tz **out_tz)
{
    const char *expr = api_get_str(obj, "schedule"), *zone = api_get_str(obj, "timeZone");
    char *p;

    if (expr != NULL) {
        p = api_path_field(path, "schedule");
        if (!api_errors_has_path(e, p) && cron_parse(out_sched, expr) != 0)
            api_errors_add(e, p, "%s", lb_error_last());
        free(p);
    }
    if (zone != NULL) {
        p = api_path_field(path, "timeZone");
        if (!api_errors_has_path(e, p) && lb_tz_load(out_tz, zone) != 0)
            api_errors_add(e, p, "%s", lb_error_last());
        free(p);
    }
}

static void backup__check_targets(api_errors *e, const json_t *targets)
{
    size_t i;
    json_t *t;

    json_array_foreach(targets, i, t)
    {
        char *path = api_path_index("spec.targets", i), *p;
        const json_t *k;
        if ((k = json_object_get(t, "rdsSnapshot")) != NULL) {
            p = api_path_field(path, "rdsSnapshot");
            api__check_rds_id(e, p, k, "dbInstanceIdentifier");
            free(p);
        }
        if ((k = json_object_get(t, "rdsClusterSnapshot")) != NULL) {
            p = api_path_field(path, "rdsClusterSnapshot");
            api__check_rds_id(e, p, k, "dbClusterIdentifier");
            free(p);
        }
        for (size_t f = 2; f < 4; f++) {
            const json_t *dest =
                json_object_get(json_object_get(t, backup_fields[f]), "destination");
            if (dest != NULL) {
                p = lb_sprintf("%s.%s.destination", path, backup_fields[f]);
                api__check_bucket(e, p, dest, "bucket");
                free(p);
            }
        }
        if ((k = json_object_get(t, "s3Copy")) != NULL) {
            p = api_path_field(path, "s3Copy");
            api__check_bucket(e, p, k, "sourceBucket");
            api__check_bucket(e, p, k, "destinationBucket");
            free(p);
        }
        free(path);
    }
}

int api_backup_parse(api_backup_spec **out, api_errors *errs, const json_t *spec, lb_time now)
{
    api_errors local = {0};
    api_errors *e = errs != NULL ? errs : &local;
    size_t before = e->len + e->dropped, i;
    api_backup_spec *s = lb_calloc(1, sizeof(*s));
    json_t *targets, *t, *verification, *retention;
    int rc = 0;

    *out = NULL;
    if (!json_is_object(spec)) {
        api_errors_add(e, "spec", "must be an object");
        rc = api_errors_fail(e, "BackupPolicy spec");
        goto done;
    }
    s->json = json_deep_copy(spec);
    api_schema_validate(s->json, API_KIND_BACKUP_POLICY, "spec", "spec", e);
    backup__schedule(e, s->json, "spec", &s->schedule, &s->tz);
    targets = json_object_get(s->json, "targets");
    if (json_array_size(targets) <= API_BACKUP_MAX_TARGETS)
        backup__check_targets(e, targets);
    retention = json_object_get(s->json, "retention");
    if (json_is_object(retention))
        api__check_duration(e, "spec.retention", retention, "maxAge");
    api__check_duration(e, "spec", s->json, "staleAfter");
    verification = json_object_get(s->json, "verification");
    if (json_is_object(verification)) {
        backup__schedule(e, verification, "spec.verification", &s->verification_schedule,
                         &s->verification_tz);
        if (json_is_object(json_object_get(verification, "template")))
            api__check_verification(e, json_object_get(verification, "template"),
                                    "spec.verification.template", now);
    }
    if (e->len + e->dropped != before) {
        rc = api_errors_fail(e, "BackupPolicy spec");
        goto done;
    }
    s->suspend = api_get_bool(s->json, "suspend", false);
    s->targets = lb_calloc(json_array_size(targets) + 1, sizeof(*s->targets));
    json_array_foreach(targets, i, t)
    {
        s->targets[i].name = api_get_str(t, "name");
        for (size_t k = 0; k < N_BACKUP_FIELDS; k++)
            if (json_object_get(t, backup_fields[k]) != NULL) {
                s->targets[i].kind = (api_backup_kind)k;
                s->targets[i].spec = json_object_get(t, backup_fields[k]);
            }
    }
    s->n_targets = json_array_size(targets);
    s->keep_last = api_get_int(retention, "keepLast", -1);
    s->max_age_sec = -1;
    if (api_get_str(retention, "maxAge") != NULL)
        (void)api_duration_parse(&s->max_age_sec, api_get_str(retention, "maxAge"));
    s->stale_after_sec = -1;
    if (api_get_str(s->json, "staleAfter") != NULL)
        (void)api_duration_parse(&s->stale_after_sec, api_get_str(s->json, "staleAfter"));
    s->has_verification = json_is_object(verification);
    *out = s;
    s = NULL;
done:
    api_backup_free(s);
    api_errors_dispose(&local);
    return rc;
}
