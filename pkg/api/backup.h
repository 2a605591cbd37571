/* backup.h - BackupPolicy spec: parse, validate, typed view.
 *
 * Same contract as restore.h: the CRD schema (with CEL rules and defaults)
 * and then what a schema cannot check: the schedules are real 5-field cron
 * expressions (cron.h), the time zones exist (tz.h, read from the zone
 * database), durations fit, bucket names and RDS identifiers follow AWS's
 * rules in full, and the verification template is a valid VerificationRun
 * spec.
 *
 * Ownership: the view owns the defaulted copy of the spec and the loaded
 * time zones; its pointers live until api_backup_free().
 */
#ifndef LB_API_BACKUP_H
#define LB_API_BACKUP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/common.h"
#include "util/cron.h"
#include "util/tz.h"

#define API_BACKUP_MAX_TARGETS 32 /* spec.targets (the CRD's maxItems) */

typedef enum api_backup_kind {
    API_BACKUP_RDS_SNAPSHOT,
    API_BACKUP_RDS_CLUSTER_SNAPSHOT,
    API_BACKUP_PG_DUMP,
    API_BACKUP_REDIS_RDB,
    API_BACKUP_S3_COPY,
} api_backup_kind;

typedef struct api_backup_target {
    const char *name;
    api_backup_kind kind;
    const json_t *spec; /* spec.targets[i].<kind> */
} api_backup_target;

typedef struct api_backup_spec {
    json_t *json; /* owned: the spec with defaults applied */
    cron_schedule schedule;
    lb_tz *tz; /* owned; spec.timeZone (default Etc/UTC) */
    bool suspend;
    api_backup_target *targets;
    size_t n_targets;
    int64_t keep_last;       /* retention.keepLast, -1 when not set */
    int64_t max_age_sec;     /* retention.maxAge, -1 when not set */
    int64_t stale_after_sec; /* staleAfter, -1 when not set */
    bool has_verification;
    cron_schedule verification_schedule;
    lb_tz *verification_tz; /* owned */
} api_backup_spec;

const char *api_backup_kind_field(api_backup_kind k);

/* Parses and validates a BackupPolicy spec at time now. Returns 0 and *out
 * (free with api_backup_free()), or LB_EINVALID with errs filled (paths from
 * "spec") and lb_error set to the joined message. */
int api_backup_parse(api_backup_spec **out, api_errors *errs, const json_t *spec, lb_time now);

void api_backup_free(api_backup_spec *s);

#endif
