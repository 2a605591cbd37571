/* schema.h - the CRDs' OpenAPI v3 schemas, embedded, and a validator for them.
 *
 * The schemas are the openAPIV3Schema of crds/lifeboat.dev_*.yaml, copied
 * verbatim into schemas_gen.c by gen_schemas.py (a unit test checks that the
 * copies are current). api_schema_validate() does what the API server does
 * with a structural schema: type checks, enum, pattern (POSIX ERE after
 * translating the few ECMA escapes the CRDs use: \s, \S, \d, [^\x00]),
 * format date-time/int32/int64, min/max, minLength/maxLength (code points),
 * minItems/maxItems, required, unknown fields, defaults (filled into the
 * value), x-kubernetes-list-type set/map uniqueness and the
 * x-kubernetes-validations CEL rules (cel.h). CEL rules of a node run only when
 * the node passed its schema checks, as the API server skips rules whose
 * inputs are already wrong. Errors carry the full field path.
 */
#ifndef LB_API_SCHEMA_H
#define LB_API_SCHEMA_H

#include <jansson.h>

#include "api/common.h"

#define API_MAX_PATTERNS 128 /* distinct regular expressions cached */
#define API_MAX_RULES    512 /* compiled CEL rules cached (the CRDs hold ~200) */

typedef enum api_kind {
    API_KIND_RESTORE_REQUEST,
    API_KIND_VERIFICATION_RUN,
    API_KIND_BACKUP_POLICY,
} api_kind;

extern const char api_schema_restorerequest_json[];
extern const char api_schema_verificationrun_json[];
extern const char api_schema_backuppolicy_json[];

/* The whole openAPIV3Schema of a kind; borrowed, parsed once, valid for the
 * life of the process. NULL only if the embedded text is broken. */
const json_t *api_schema_get(api_kind kind);

/* Validates value against the kind's schema at spec_path inside it, a
 * dot-separated property path from the top ("spec",
 * "spec.verification"), reporting errors under path `path` ("spec").
 * Missing defaulted fields are filled into value (which must be a
 * modifiable object). Returns the number of errors added to errs. */
size_t api_schema_validate(json_t *value, api_kind kind, const char *spec_path, const char *path,
                           api_errors *errs);

/* Matches s against an OpenAPI pattern. Returns 1 on a match, 0 on none,
 * LB_EINVALID if the pattern cannot be compiled (or the cache is full). */
int api_pattern_match(const char *pattern, const char *s);

#endif
