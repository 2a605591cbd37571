/* backup/audit.c - ConfigDrift comparisons (see audit.h). */
#include "controller/backup/audit.h"

#include <stdlib.h>
#include <string.h>

#include "aws/rds.h"
#include "aws/s3.h"
#include "redis/pod.h"
#include "util/alloc.h"
#include "util/error.h"

static int audit_rds(json_t *out, aws_client *aws, const char *id, json_int_t want)
{
    rds_instance in = {0};
    int rc = rds_describe_db_instance(&in, aws, id);
    if (rc == LB_ENOTFOUND) {
        json_array_append_new(out, json_sprintf("rds %s: instance not found", id));
        return 0;
    }
    if (rc != 0)
        return rc;
    if (in.backup_retention_period != want)
        json_array_append_new(out,
                              json_sprintf("rds %s: BackupRetentionPeriod is %d, expected %lld", id,
                                           in.backup_retention_period, (long long)want));
    rds_instance_dispose(&in);
    return 0;
}

int backup_audit(json_t **out, kube_client *kube, aws_client *aws, const char *ns,
                 const api_backup_spec *spec)
{
    const json_t *audit = json_object_get(spec->json, "audit"), *v;
    json_t *list = json_array();
    size_t i;
    int rc = 0;

    *out = NULL;
    if (audit == NULL)
        goto done;
    const json_t *days = json_object_get(audit, "rdsBackupRetentionDays");
    if (json_is_integer(days) && aws != NULL) {
        const json_t *insts = json_object_get(audit, "rdsInstances");
        if (json_array_size(insts) > 0) {
            json_array_foreach(insts, i, v)
            {
                rc = audit_rds(list, aws, json_string_value(v), json_integer_value(days));
                if (rc != 0)
                    goto done;
            }
        } else {
            for (i = 0; i < spec->n_targets; i++) {
                if (spec->targets[i].kind != API_BACKUP_RDS_SNAPSHOT)
                    continue;
                rc = audit_rds(list, aws,
                               json_string_value(
                                   json_object_get(spec->targets[i].spec, "dbInstanceIdentifier")),
                               json_integer_value(days));
                if (rc != 0)
                    goto done;
            }
        }
    }
    json_array_foreach(json_object_get(audit, "s3Versioning"), i, v)
    {
        char *state = NULL;
        if (aws == NULL)
            break;
        rc = s3_get_bucket_versioning(&state, aws, json_string_value(v));
        if (rc == LB_ENOTFOUND) {
            json_array_append_new(list,
                                  json_sprintf("s3 %s: bucket not found", json_string_value(v)));
            rc = 0;
            continue;
        }
        if (rc != 0)
            goto done;
        if (state == NULL || strcmp(state, "Enabled") != 0)
            json_array_append_new(list, json_sprintf("s3 %s: versioning is %s, expected Enabled",
                                                     json_string_value(v),
                                                     state && state[0] ? state : "never enabled"));
        free(state);
    }
    const json_t *rp = json_object_get(audit, "redisPersistence");
    const char *want = json_string_value(json_object_get(rp, "appendonly"));
    if (rp != NULL && want != NULL) {
        redis_pod p = {.namespace = ns,
                       .pod = json_string_value(json_object_get(rp, "pod")),
                       .container = json_string_value(json_object_get(rp, "container"))};
        redis_config cfg = {0};
        {
            kube_ref pref = {.group = "",
                             .version = "v1",
                             .resource = "pods",
                             .namespace = p.namespace,
                             .name = p.pod};
            json_t *pod = NULL;
            int prc = kube_get(&pod, kube, &pref);
            if (prc == 0)
                p.port = redis_pod_port_of(pod, p.container);
            json_decref(pod);
            if (prc != 0 && prc != LB_ENOTFOUND) {
                rc = prc;
                goto done;
            }
        }
        rc = redis_pod_config(&cfg, kube, &p);
        if (rc == LB_ENOTFOUND || rc == LB_ERROR) {
            json_array_append_new(
                list, json_sprintf("redis %s: cannot read CONFIG: %s", p.pod, lb_error_last()));
            rc = 0;
        } else if (rc != 0) {
            goto done;
        } else if (cfg.appendonly == NULL || strcmp(cfg.appendonly, want) != 0) {
            json_array_append_new(list,
                                  json_sprintf("redis %s: appendonly is %s, expected %s", p.pod,
                                               cfg.appendonly ? cfg.appendonly : "?", want));
        }
        redis_config_dispose(&cfg);
    }
done:
    if (rc == 0) {
        *out = list;
        list = NULL;
    }
    json_decref(list);
    return rc;
}
