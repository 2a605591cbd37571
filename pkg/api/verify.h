/* verify.h - VerificationRun spec: parse, validate, typed view.
 *
 * Same contract as restore.h: the CRD schema (with CEL rules and defaults)
 * and then checks a schema cannot make (restore times not in the future,
 * durations, bucket names). The same checks serve RestoreRequest's
 * spec.verification and BackupPolicy's spec.verification.template.
 *
 * Ownership: the view owns the defaulted copy of the spec (`json`); its
 * pointers point into it and live until api_verify_free().
 */
#ifndef LB_API_VERIFY_H
#define LB_API_VERIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/common.h"

#define API_VERIFY_MAX_CHECKS 64 /* spec.checks (the CRD's maxItems) */

typedef enum api_check_kind {
    API_CHECK_SQL,
    API_CHECK_HTTP,
    API_CHECK_REDIS,
    API_CHECK_S3_COMPARE,
    API_CHECK_WORKLOAD,
} api_check_kind;

typedef struct api_check {
    const char *name;
    api_check_kind kind;
    const json_t *spec; /* spec.checks[i].<kind> */
} api_check;

typedef enum api_verify_target {
    API_VERIFY_TARGET_NONE,
    API_VERIFY_TARGET_CONNECTION_SECRET,
    API_VERIFY_TARGET_RDS_INSTANCE,
    API_VERIFY_TARGET_SCRATCH_RESTORE,
} api_verify_target;

typedef struct api_verify_spec {
    json_t *json; /* owned: the spec with defaults applied */
    api_verify_target target;
    api_check *checks;
    size_t n_checks;
    bool has_rpo;
    int64_t rpo_max_age_sec;
    int64_t timeout_sec;            /* timeoutSeconds (default 600) */
    int64_t ttl_after_finished_sec; /* -1 when not set */
} api_verify_spec;

/* The check kind's field name ("sql", "s3Compare"). */
const char *api_check_kind_field(api_check_kind k);

/* Parses and validates a VerificationRun spec at time now. Returns 0 and
 * *out (free with api_verify_free()), or LB_EINVALID with errs filled (paths
 * from "spec") and lb_error set to the joined message. */
int api_verify_parse(api_verify_spec **out, api_errors *errs, const json_t *spec, lb_time now);

void api_verify_free(api_verify_spec *s);

#endif
