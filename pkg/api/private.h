/* private.h - checks shared by the pkg/api modules (package-private). */
#ifndef LB_API_PRIVATE_H
#define LB_API_PRIVATE_H

#include <jansson.h>

#include "api/common.h"

/* Checks beyond the schema of a VerificationRun spec at `path` (restore
 * times not in the future, durations, bucket names). */
void api__check_verification(api_errors *e, const json_t *v, const char *path, lb_time now);

/* obj[key], when present and not already reported at its path: a valid bucket
 * name / a duration that parses / a valid RDS identifier. */
void api__check_bucket(api_errors *e, const char *path, const json_t *obj, const char *key);
void api__check_duration(api_errors *e, const char *path, const json_t *obj, const char *key);
void api__check_rds_id(api_errors *e, const char *path, const json_t *obj, const char *key);

#endif
