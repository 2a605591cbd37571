/* credentials.h - the AWS credentials chain (DESIGN.md section 2).
 *
 * Sources, in order; the first one that is configured is used:
 *   0. session folder: $LIFEBOAT_AWS_SESSION_DIR (AWS_SESSION_DIR_ENV) holding
 *      the files AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY [, AWS_SESSION_TOKEN]
 *      [, AWS_CREDENTIAL_EXPIRATION (RFC 3339)]: a Kubernetes Secret mounted
 *      as a volume (a lifeboat-agent Job's minted session, controller/
 *      agentjob.h). Re-read whenever the folder changes (its `..data` link,
 *      which the kubelet swaps atomically on a Secret update, or else the
 *      key file's inode and mtime: one lstat per credentials_get) and, like
 *      any source, AWS_CREDENTIALS_REFRESH_AHEAD_S before its expiry
 *   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN]
 *   2. web identity (IRSA): AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
 *      [+ AWS_ROLE_SESSION_NAME] -> STS AssumeRoleWithWebIdentity (unsigned)
 *   3. EKS Pod Identity: AWS_CONTAINER_CREDENTIALS_FULL_URI with the token in
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (or AWS_CONTAINER_AUTHORIZATION_TOKEN)
 *   4. shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
 *      ~/.aws/credentials), profile AWS_PROFILE (default "default")
 *   5. IMDSv2: PUT /latest/api/token, then GET the role's credentials;
 *      endpoint AWS_EC2_METADATA_SERVICE_ENDPOINT (default
 *      http://169.254.169.254), off with AWS_EC2_METADATA_DISABLED=true
 * A configured source that fails is an error naming the source; the chain
 * does not fall through to the next one silently.
 *
 * Credentials are cached and refreshed AWS_CREDENTIALS_REFRESH_AHEAD_S
 * before they expire; a provider is safe to share between threads: one
 * thread fetches (without holding the lock) while the others wait, or keep
 * using the cached credentials when those have not expired yet. A failed
 * refresh-ahead keeps the cached ones and is retried after
 * AWS_CREDENTIALS_RETRY_S. Secret keys and session tokens never reach logs
 * or error messages.
 */
#ifndef LB_AWS_CREDENTIALS_H
#define LB_AWS_CREDENTIALS_H

#include <stdbool.h>

#include "aws/request.h"

#define AWS_CREDENTIALS_REFRESH_AHEAD_S 300         /* refresh 5 minutes before expiry */
#define AWS_CREDENTIALS_RETRY_S         10          /* after a failed refresh-ahead */
#define AWS_MAX_CREDENTIALS_BYTES       (64 * 1024) /* a credentials response or file */
#define AWS_MAX_TOKEN_FILE_BYTES        (16 * 1024) /* a web identity / pod identity token */
#define AWS_IMDS_TIMEOUT_MS             1000L       /* one IMDS call */
#define AWS_IMDS_TOKEN_TTL_S            21600
#define AWS_SESSION_DIR_ENV             "LIFEBOAT_AWS_SESSION_DIR"

typedef struct aws_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;  /* NULL when none */
    long long expiration; /* Unix seconds; 0 when they do not expire */
    const char *source;   /* "session-dir", "environment", "web-identity", "pod-identity",
                             "shared-file", "imds", "static"; static string */
} aws_credentials;

/* Options of the chain; zero means "from the environment". */
typedef struct aws_credentials_options {
    const char *region;        /* for STS; default AWS_REGION / AWS_DEFAULT_REGION / us-east-1 */
    const char *imds_endpoint; /* overrides AWS_EC2_METADATA_SERVICE_ENDPOINT */
} aws_credentials_options;

/* Creates the chain provider. Nothing is fetched until the first
 * aws_credentials_get(). `opts` may be NULL. */
int aws_credentials_provider_new(aws_credentials_provider **out,
                                 const aws_credentials_options *opts);

/* Creates a provider that always returns the given keys (copied). */
int aws_credentials_provider_new_static(aws_credentials_provider **out, const char *access_key_id,
                                        const char *secret_access_key, const char *session_token);

/* Frees a provider (wiping cached secrets); NULL accepted. */
void aws_credentials_provider_free(aws_credentials_provider *p);

/* Copies the current credentials into `out` (dispose with
 * aws_credentials_dispose), resolving or refreshing them first when needed.
 * Returns 0, or LB_ERROR with a message naming the source that failed (or
 * "no AWS credentials found" listing what was tried). */
int aws_credentials_get(aws_credentials *out, aws_credentials_provider *p);

/* Wipes and frees the strings of `c`; NULL accepted. */
void aws_credentials_dispose(aws_credentials *c);

/* Reads `profile` from an INI credentials file. Returns 0, LB_ENOTFOUND when
 * the file or profile does not exist, LB_EINVALID when the profile lacks a
 * key (the message names the file, profile and key). */
int aws_credentials_from_file(aws_credentials *out, const char *path, const char *profile);

#endif
