#include "aws/sts.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/private.h"
#include "aws/xml.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/timeutil.h"

#define STS_VERSION "2011-06-15"
#define FORM_TYPE   "application/x-www-form-urlencoded; charset=utf-8"

long long aws__parse_time(const char *s)
{
    lb_time t;
    if (s == NULL || lb_time_parse_rfc3339(&t, s) != 0) {
        lb_error_clear();
        return -1;
    }
    return (long long)t.sec;
}

static int sts_call(aws_response *resp, aws_client *c, aws_query *form, int unsigned_request)
{
    aws_request req;
    char *body = NULL;
    int rc;

    memset(&req, 0, sizeof(req));
    aws_query_build(&body, form);
    req.service = "sts";
    req.method = "POST";
    req.path = "/";
    req.content_type = FORM_TYPE;
    req.body = body;
    req.body_len = strlen(body);
    req.response_cap = STS_MAX_RESPONSE_BYTES;
    req.unsigned_request = unsigned_request != 0;
    rc = aws_client_send(resp, c, &req);
    aws__free_secret(body); /* the form may hold a web identity token */
    return rc;
}

/* The Credentials of an <action>Response/<action>Result. */
static int sts_parse_credentials(aws_credentials *out, const char *body, size_t len,
                                 const char *action)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr creds;
    char *exp = NULL;
    char what[64], path[96];
    int rc;

    memset(out, 0, sizeof(*out));
    snprintf(what, sizeof(what), "sts %s", action);
    snprintf(path, sizeof(path), "%sResult/Credentials", action);
    rc = aws_xml_parse(&doc, body, len, what);
    if (rc != 0)
        return rc;
    creds = aws_xml_path(xmlDocGetRootElement(doc), path);
    if (creds == NULL) {
        rc = lb_error_set("%s: response has no %s", what, path);
        goto done;
    }
    out->access_key_id = aws_xml_text(creds, "AccessKeyId");
    out->secret_access_key = aws_xml_text(creds, "SecretAccessKey");
    out->session_token = aws_xml_text(creds, "SessionToken");
    exp = aws_xml_text(creds, "Expiration");
    out->expiration = aws__parse_time(exp);
    out->source = strcmp(action, "AssumeRole") == 0 ? "assume-role" : "web-identity";
    if (out->access_key_id == NULL || out->secret_access_key == NULL ||
        out->session_token == NULL || out->expiration < 0) {
        aws_credentials_dispose(out);
        rc = lb_error_set("%s: Credentials lack AccessKeyId, SecretAccessKey, SessionToken or a "
                          "valid Expiration",
                          what);
    }
done:
    free(exp);
    xmlFreeDoc(doc);
    return rc;
}

int sts_parse_assume_role_response(aws_credentials *out, const char *body, size_t len)
{
    return sts_parse_credentials(out, body, len, "AssumeRoleWithWebIdentity");
}

int sts_assume_role(aws_credentials *out, aws_client *c, const char *role_arn,
                    const char *session_name, const char *const *tags, size_t n_tags,
                    int duration_s)
{
    aws_query *form = aws_query_new();
    aws_response resp;
    char key[48];
    int rc;

    memset(out, 0, sizeof(*out));
    aws_response_init(&resp);
    aws_query_add(form, "Action", "AssumeRole");
    aws_query_add(form, "Version", STS_VERSION);
    aws_query_add(form, "RoleArn", role_arn);
    aws_query_add(form, "RoleSessionName", session_name);
    if (duration_s > 0)
        aws_query_add_int(form, "DurationSeconds", duration_s);
    for (size_t i = 0; i < n_tags; i++) {
        snprintf(key, sizeof(key), "Tags.member.%zu.Key", i + 1);
        aws_query_add(form, key, tags[2 * i]);
        snprintf(key, sizeof(key), "Tags.member.%zu.Value", i + 1);
        aws_query_add(form, key, tags[2 * i + 1]);
    }
    rc = sts_call(&resp, c, form, 0);
    if (rc != 0) {
        lb_error_wrap(rc, "sts AssumeRole %s", role_arn);
        goto done;
    }
    rc = sts_parse_credentials(out, resp.body, resp.body_len, "AssumeRole");
done:
    aws_query_free(form);
    if (resp.body != NULL)
        explicit_bzero(resp.body, resp.body_len); /* it holds the secret key */
    aws_response_dispose(&resp);
    return rc;
}

int sts_assume_role_with_web_identity(aws_credentials *out, aws_client *c, const char *role_arn,
                                      const char *session_name, const char *web_identity_token)
{
    aws_query *form = aws_query_new();
    aws_response resp;
    int rc;

    memset(out, 0, sizeof(*out));
    aws_response_init(&resp);
    aws_query_add(form, "Action", "AssumeRoleWithWebIdentity");
    aws_query_add(form, "Version", STS_VERSION);
    aws_query_add(form, "RoleArn", role_arn);
    aws_query_add(form, "RoleSessionName", session_name);
    aws_query_add(form, "WebIdentityToken", web_identity_token);
    rc = sts_call(&resp, c, form, 1);
    if (rc != 0) {
        lb_error_wrap(rc, "sts AssumeRoleWithWebIdentity %s", role_arn);
        goto done;
    }
    rc = sts_parse_assume_role_response(out, resp.body, resp.body_len);
done:
    aws_query_free(form);
    /* The response body holds the secret key. */
    if (resp.body != NULL)
        explicit_bzero(resp.body, resp.body_len);
    aws_response_dispose(&resp);
    return rc;
}

int sts_get_caller_identity(sts_identity *out, aws_client *c)
{
    aws_query *form = aws_query_new();
    aws_response resp;
    xmlDocPtr doc = NULL;
    xmlNodePtr res;
    int rc;

    memset(out, 0, sizeof(*out));
    aws_response_init(&resp);
    aws_query_add(form, "Action", "GetCallerIdentity");
    aws_query_add(form, "Version", STS_VERSION);
    rc = sts_call(&resp, c, form, 0);
    if (rc != 0) {
        lb_error_wrap(rc, "sts GetCallerIdentity");
        goto done;
    }
    rc = aws_xml_parse(&doc, resp.body, resp.body_len, "sts GetCallerIdentity");
    if (rc != 0)
        goto done;
    res = aws_xml_path(xmlDocGetRootElement(doc), "GetCallerIdentityResult");
    if (res == NULL) {
        rc = lb_error_set("sts GetCallerIdentity: response has no GetCallerIdentityResult");
        goto done;
    }
    out->account = aws_xml_text(res, "Account");
    out->arn = aws_xml_text(res, "Arn");
    out->user_id = aws_xml_text(res, "UserId");
done:
    xmlFreeDoc(doc);
    aws_query_free(form);
    aws_response_dispose(&resp);
    return rc;
}

void sts_identity_dispose(sts_identity *id)
{
    if (id == NULL)
        return;
    free(id->account);
    free(id->arn);
    free(id->user_id);
    memset(id, 0, sizeof(*id));
}
