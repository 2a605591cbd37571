/* sts.h - AWS STS: AssumeRoleWithWebIdentity and GetCallerIdentity. */
#ifndef LB_AWS_STS_H
#define LB_AWS_STS_H

#include "aws/credentials.h"
#include "aws/request.h"

#define STS_MAX_RESPONSE_BYTES (64 * 1024) /* STS answers are small */

typedef struct sts_identity {
    char *account;
    char *arn;
    char *user_id;
} sts_identity;

/* Exchanges a web identity token for temporary credentials. The request is
 * unsigned (the token is the proof). `out` receives copies (dispose with
 * aws_credentials_dispose); source is "web-identity". */
int sts_assume_role_with_web_identity(aws_credentials *out, aws_client *c, const char *role_arn,
                                      const char *session_name, const char *web_identity_token);

/* Who the client's credentials belong to. Dispose with sts_identity_dispose. */
/* sts:AssumeRole into role_arn (signed with c's credentials) for duration_s
 * seconds (0: the STS default), with session tags: tags holds n_tags
 * key/value pairs (tags[2i], tags[2i+1]). On 0, *out holds the temporary
 * credentials (dispose with aws_credentials_dispose). */
int sts_assume_role(aws_credentials *out, aws_client *c, const char *role_arn,
                    const char *session_name, const char *const *tags, size_t n_tags,
                    int duration_s);

int sts_get_caller_identity(sts_identity *out, aws_client *c);
void sts_identity_dispose(sts_identity *id);

/* Parses an AssumeRoleWithWebIdentity response body (exposed for tests). */
int sts_parse_assume_role_response(aws_credentials *out, const char *body, size_t len);

#endif
