/* secretsmanager.h - the Secrets Manager (JSON 1.1) operations Lifeboat uses.
 *
 * Secret values live in memory only as long as the caller holds them and
 * are wiped when disposed; they never reach logs or error messages.
 */
#ifndef LB_AWS_SECRETSMANAGER_H
#define LB_AWS_SECRETSMANAGER_H

#include <stddef.h>

#include "aws/request.h"

#define SM_MAX_RESPONSE_BYTES (1024u * 1024) /* a secret is at most 64 KiB; JSON wraps it */
#define SM_MAX_VERSIONS       1000           /* versions listed of one secret */
#define SM_MAX_STAGES         20             /* stages kept per version */

typedef struct sm_secret_value {
    char *arn;
    char *name;
    char *version_id;
    char *secret_string;     /* NULL when the secret is binary */
    char *secret_binary_b64; /* SecretBinary as sent (base64), or NULL */
    char *stages[SM_MAX_STAGES];
    size_t nstages;
} sm_secret_value;

/* Wipes and frees. */
void sm_secret_value_dispose(sm_secret_value *v);

/* GetSecretValue of a version id, or of a stage (AWSCURRENT when both are
 * NULL: asked for explicitly, see TESTENV.md's moto facts). */
int sm_get_secret_value(sm_secret_value *out, aws_client *c, const char *secret_id,
                        const char *version_id, const char *version_stage);

/* PutSecretValue; `stages` may be NULL (AWSCURRENT). *out_version_id (may be
 * NULL) receives the new version id. */
int sm_put_secret_value(char **out_version_id, aws_client *c, const char *secret_id,
                        const char *secret_string, const char *const *stages, size_t nstages);

typedef struct sm_version {
    char *version_id;
    char *stages[SM_MAX_STAGES];
    size_t nstages;
    char *created_date; /* as sent (epoch seconds, possibly fractional) */
} sm_version;

typedef struct sm_version_list {
    sm_version *items;
    size_t n;
} sm_version_list;

void sm_version_list_dispose(sm_version_list *l);

/* Every version, stage-less ones included (IncludeDeprecated), all pages. */
int sm_list_secret_version_ids(sm_version_list *out, aws_client *c, const char *secret_id);

/* Moves `stage` to move_to_version_id; remove_from_version_id is the
 * version that holds it now (required by AWS when the stage is attached). */
int sm_update_secret_version_stage(aws_client *c, const char *secret_id, const char *stage,
                                   const char *move_to_version_id,
                                   const char *remove_from_version_id);

/* Parsers exposed for tests. */
int sm_parse_secret_value(sm_secret_value *out, const char *body, size_t len);
int sm_parse_version_ids(sm_version_list *out, char **out_next_token, const char *body, size_t len);

#endif
