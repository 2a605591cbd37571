/* common.h - shared parts of the three Lifeboat kinds: validation error lists,
 * field paths, names, and status conditions.
 *
 * Validation collects every problem of a spec, not just the first: each is a
 * {path, rule} pair ("spec.items[1].rdsSnapshot.dbSnapshotIdentifier",
 * "must be set when latestFrom is not"), and api_errors_join() makes the one
 * message that goes into the Valid condition. Messages never hold secret
 * values: the spec only ever names Secrets, it never carries their contents.
 */
#ifndef LB_API_COMMON_H
#define LB_API_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/timeutil.h"

#define API_GROUP   "lifeboat.dev"
#define API_VERSION "v1alpha1"

#define API_MAX_ERRORS     64   /* errors kept per spec; more are counted, not stored */
#define API_MAX_PATH       512  /* bytes of one field path */
#define API_MAX_RULE       512  /* bytes of one rule text */
#define API_MAX_MESSAGE    4096 /* bytes of the joined Valid message */
#define API_MAX_SPEC_DEPTH 32   /* JSON nesting accepted in a spec */
#define API_MAX_CONDITIONS 16   /* status.conditions entries kept */

typedef struct api_error {
    char *path; /* "spec.items[1].name" */
    char *rule; /* "must be a DNS label" */
} api_error;

/* A list of validation errors. Zero-initialise (`api_errors e = {0};`),
 * release with api_errors_dispose(). */
typedef struct api_errors {
    api_error *v;
    size_t len;     /* stored errors (<= API_MAX_ERRORS) */
    size_t dropped; /* errors past API_MAX_ERRORS */
} api_errors;

/* Appends {path, rule}; rule is printf-formatted. Both are truncated to
 * API_MAX_PATH / API_MAX_RULE bytes. An identical pair already in the list is
 * not added twice. */
void api_errors_add(api_errors *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True when some stored error has exactly this path. */
bool api_errors_has_path(const api_errors *e, const char *path);

/* Removes the errors at exactly `path` whose rule starts with rule_prefix
 * (used to replace a CEL rule's generic message with a precise one). */
void api_errors_remove(api_errors *e, const char *path, const char *rule_prefix);

/* Frees the entries; e is then empty. e may be NULL. */
void api_errors_dispose(api_errors *e);

/* The errors as one message, "path: rule; path: rule", with "(and N more)"
 * when errors were dropped, capped at API_MAX_MESSAGE bytes. The caller frees
 * the result. "" when e is empty. */
char *api_errors_join(const api_errors *e);

/* Sets the thread's error (lb_error) to the joined message of e prefixed with
 * "invalid <what>: " and returns LB_EINVALID. */
int api_errors_fail(const api_errors *e, const char *what);

/* Field-path helpers: a new string "<base>.<field>" / "<base>[<i>]" that the
 * caller frees. */
char *api_path_field(const char *base, const char *field);
char *api_path_index(const char *base, size_t i);

/* Borrowed views of optional members: the string / bool / integer value of
 * obj[key], or the fallback when obj is not an object, the key is missing or
 * the value has another type. */
const char *api_get_str(const json_t *obj, const char *key);
bool api_get_bool(const json_t *obj, const char *key, bool fallback);
json_int_t api_get_int(const json_t *obj, const char *key, json_int_t fallback);

/* Parses a CRD duration (`24h`, `90d`, `1h30m`, `2w`: one or more
 * <digits><unit> terms, units s, m, h, d = 24 h, w = 7 d; the schema's
 * pattern) into seconds. Returns 0, or LB_EINVALID naming the rule (empty,
 * missing or unknown unit, more than API_MAX_DURATION_SEC). */
#define API_MAX_DURATION_SEC (100LL * 366 * 86400) /* 100 years */
int api_duration_parse(int64_t *out_sec, const char *s);

/* True when name is a valid S3 bucket name (3-63 characters, dot-separated
 * labels of a-z, 0-9 and '-' starting and ending with a letter or digit, not
 * an IPv4 address, no `xn--`/`sthree-` prefix, no `-s3alias`/`--ol-s3`
 * suffix). *out_rule receives the broken rule (a constant). */
bool api_bucket_name_valid(const char *name, const char **out_rule);

/* True when id is a valid RDS DB instance or cluster identifier (1-63
 * characters, a letter first, then letters, digits and single hyphens, not
 * ending with a hyphen, all lower case: RDS lower-cases identifiers).
 * *out_rule receives the broken rule. */
bool api_rds_identifier_valid(const char *id, const char **out_rule);

/* Sets a condition in status.conditions (created when missing) with the
 * semantics of Kubernetes' meta.SetStatusCondition: a new condition, or a
 * change of `status`, sets lastTransitionTime to now; otherwise the existing
 * lastTransitionTime is kept while reason, message and observedGeneration are
 * updated. status must be a JSON object; message may be NULL (""). The
 * message is cut at API_MAX_MESSAGE bytes. Returns 1 when anything changed,
 * 0 when the condition was already exactly so, LB_EINVALID on bad arguments
 * (status not an object, cond_status not True/False/Unknown, empty type or
 * reason) or LB_ETOOBIG when API_MAX_CONDITIONS would be exceeded. */
int api_condition_set(json_t *status, const char *type, const char *cond_status, const char *reason,
                      const char *message, int64_t observed_generation, lb_time now);

/* The condition of this type in status.conditions; borrowed, NULL if none. */
json_t *api_condition_find(const json_t *status, const char *type);

#endif
