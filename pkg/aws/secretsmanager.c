#include "aws/secretsmanager.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws/private.h"
#include "util/alloc.h"
#include "util/error.h"

#define SM_CONTENT_TYPE "application/x-amz-json-1.1"

static char *jdup(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? lb_strdup(s) : NULL;
}

/* Wipes a jansson string in place (the secret's copy inside the tree). */
static void wipe_json_string(json_t *o, const char *key)
{
    json_t *s = json_object_get(o, key);
    if (json_is_string(s))
        explicit_bzero((char *)json_string_value(s), json_string_length(s));
}

void sm_secret_value_dispose(sm_secret_value *v)
{
    if (v == NULL)
        return;
    free(v->arn);
    free(v->name);
    free(v->version_id);
    aws__free_secret(v->secret_string);
    aws__free_secret(v->secret_binary_b64);
    for (size_t i = 0; i < v->nstages; i++)
        free(v->stages[i]);
    memset(v, 0, sizeof(*v));
}

void sm_version_list_dispose(sm_version_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].version_id);
        free(l->items[i].created_date);
        for (size_t j = 0; j < l->items[i].nstages; j++)
            free(l->items[i].stages[j]);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/* Sends one call; *out receives the parsed JSON object (caller decrefs).
 * The request body is wiped afterwards: it may hold a secret. */
static int sm_call(json_t **out, aws_client *c, const char *op, json_t *input,
                   const char *secret_id)
{
    aws_request req;
    aws_response resp;
    char target[96];
    char *body = json_dumps(input, JSON_COMPACT);
    json_error_t jerr;
    int rc;

    *out = NULL;
    memset(&req, 0, sizeof(req));
    aws_response_init(&resp);
    snprintf(target, sizeof(target), "secretsmanager.%s", op);
    req.service = "secretsmanager";
    req.method = "POST";
    req.path = "/";
    req.content_type = SM_CONTENT_TYPE;
    req.body = body;
    req.body_len = strlen(body);
    req.response_cap = SM_MAX_RESPONSE_BYTES;
    aws_request_add_header(&req, "X-Amz-Target", target);
    /* PutSecretValue carries a ClientRequestToken: AWS treats a second copy with the
     * same token and value as the same version, so it is safe to re-send. */
    if (strcmp(op, "PutSecretValue") == 0)
        req.resend = AWS_RESEND_SAFE;
    rc = aws_client_send(&resp, c, &req);
    if (rc != 0) {
        lb_error_wrap(rc, "secretsmanager %s %s", op, secret_id);
        goto done;
    }
    *out = json_loadb(resp.body, resp.body_len, 0, &jerr);
    if (*out == NULL || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        /* jerr.text may quote the body: keep it out of the message. */
        rc = lb_error_set("secretsmanager %s %s: response is not a JSON object", op, secret_id);
    }
done:
    if (resp.body != NULL)
        explicit_bzero(resp.body, resp.body_len);
    aws_response_dispose(&resp);
    aws__free_secret(body);
    return rc;
}

static size_t parse_stages(char **stages, json_t *arr)
{
    size_t n = 0, i;
    json_t *s;
    json_array_foreach(arr, i, s)
    {
        if (json_is_string(s) && n < SM_MAX_STAGES)
            stages[n++] = lb_strdup(json_string_value(s));
    }
    return n;
}

static int parse_value_json(sm_secret_value *out, json_t *root)
{
    memset(out, 0, sizeof(*out));
    out->arn = jdup(root, "ARN");
    out->name = jdup(root, "Name");
    out->version_id = jdup(root, "VersionId");
    out->secret_string = jdup(root, "SecretString");
    out->secret_binary_b64 = jdup(root, "SecretBinary");
    out->nstages = parse_stages(out->stages, json_object_get(root, "VersionStages"));
    wipe_json_string(root, "SecretString");
    wipe_json_string(root, "SecretBinary");
    if (out->version_id == NULL || (out->secret_string == NULL && out->secret_binary_b64 == NULL)) {
        sm_secret_value_dispose(out);
        return lb_error_set("secretsmanager GetSecretValue: response lacks VersionId or "
                            "SecretString/SecretBinary");
    }
    return 0;
}

int sm_parse_secret_value(sm_secret_value *out, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    int rc;
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        memset(out, 0, sizeof(*out));
        return lb_error_set("secretsmanager GetSecretValue: response is not a JSON object");
    }
    rc = parse_value_json(out, root);
    json_decref(root);
    return rc;
}

int sm_get_secret_value(sm_secret_value *out, aws_client *c, const char *secret_id,
                        const char *version_id, const char *version_stage)
{
    json_t *in = json_object();
    json_t *res = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (secret_id == NULL || secret_id[0] == '\0') {
        json_decref(in);
        return lb_error_setc(LB_EINVALID, "secretsmanager GetSecretValue: SecretId must not be "
                                          "empty");
    }
    json_object_set_new(in, "SecretId", json_string(secret_id));
    if (version_id != NULL)
        json_object_set_new(in, "VersionId", json_string(version_id));
    else
        json_object_set_new(in, "VersionStage",
                            json_string(version_stage ? version_stage : "AWSCURRENT"));
    rc = sm_call(&res, c, "GetSecretValue", in, secret_id);
    if (rc == 0)
        rc = parse_value_json(out, res);
    json_decref(res);
    json_decref(in);
    return rc;
}

int sm_put_secret_value(char **out_version_id, aws_client *c, const char *secret_id,
                        const char *secret_string, const char *const *stages, size_t nstages)
{
    json_t *in = json_object();
    json_t *res = NULL;
    unsigned char rnd[16];
    char token[40];
    int rc;

    if (out_version_id != NULL)
        *out_version_id = NULL;
    json_object_set_new(in, "SecretId", json_string(secret_id));
    json_object_set_new(in, "SecretString", json_string(secret_string));
    /* ClientRequestToken doubles as the version id; a UUID v4 form. */
    aws__random_bytes(rnd, sizeof(rnd));
    rnd[6] = (unsigned char)((rnd[6] & 0x0f) | 0x40);
    rnd[8] = (unsigned char)((rnd[8] & 0x3f) | 0x80);
    snprintf(token, sizeof(token),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8], rnd[9], rnd[10], rnd[11],
             rnd[12], rnd[13], rnd[14], rnd[15]);
    json_object_set_new(in, "ClientRequestToken", json_string(token));
    if (stages != NULL && nstages > 0) {
        json_t *arr = json_array();
        for (size_t i = 0; i < nstages; i++)
            json_array_append_new(arr, json_string(stages[i]));
        json_object_set_new(in, "VersionStages", arr);
    }
    rc = sm_call(&res, c, "PutSecretValue", in, secret_id);
    if (rc == 0 && out_version_id != NULL) {
        *out_version_id = jdup(res, "VersionId");
        if (*out_version_id == NULL)
            rc = lb_error_set("secretsmanager PutSecretValue %s: response lacks VersionId",
                              secret_id);
    }
    wipe_json_string(in, "SecretString");
    json_decref(res);
    json_decref(in);
    return rc;
}

int sm_parse_version_ids(sm_version_list *out, char **out_next_token, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    json_t *versions, *v;
    size_t i;
    int rc = 0;

    *out_next_token = NULL;
    if (root == NULL || !json_is_object(root)) {
        rc = lb_error_set("secretsmanager ListSecretVersionIds: response is not a JSON object");
        goto done;
    }
    versions = json_object_get(root, "Versions");
    json_array_foreach(versions, i, v)
    {
        sm_version *sv;
        json_t *cd;
        if (out->n >= SM_MAX_VERSIONS) {
            rc = lb_error_setc(LB_ETOOBIG,
                               "secretsmanager ListSecretVersionIds: more than %d "
                               "versions",
                               SM_MAX_VERSIONS);
            goto done;
        }
        out->items = lb_realloc(out->items, (out->n + 1) * sizeof(*out->items));
        sv = &out->items[out->n++];
        memset(sv, 0, sizeof(*sv));
        sv->version_id = jdup(v, "VersionId");
        sv->nstages = parse_stages(sv->stages, json_object_get(v, "VersionStages"));
        cd = json_object_get(v, "CreatedDate");
        if (json_is_number(cd))
            sv->created_date = lb_sprintf("%.3f", json_number_value(cd));
        else if (json_is_string(cd))
            sv->created_date = lb_strdup(json_string_value(cd));
    }
    *out_next_token = jdup(root, "NextToken");
done:
    json_decref(root);
    return rc;
}

int sm_list_secret_version_ids(sm_version_list *out, aws_client *c, const char *secret_id)
{
    char *token = NULL;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    for (int page = 0;; page++) {
        json_t *in = json_object();
        json_t *res = NULL;
        char *body, *next = NULL;

        json_object_set_new(in, "SecretId", json_string(secret_id));
        json_object_set_new(in, "IncludeDeprecated", json_true());
        json_object_set_new(in, "MaxResults", json_integer(100));
        if (token != NULL)
            json_object_set_new(in, "NextToken", json_string(token));
        rc = sm_call(&res, c, "ListSecretVersionIds", in, secret_id);
        json_decref(in);
        if (rc != 0)
            break;
        body = json_dumps(res, JSON_COMPACT);
        rc = sm_parse_version_ids(out, &next, body, strlen(body));
        free(body);
        json_decref(res);
        free(token);
        token = next;
        if (rc != 0 || token == NULL || token[0] == '\0')
            break;
        if (page >= SM_MAX_VERSIONS) {
            rc = lb_error_setc(LB_ETOOBIG, "secretsmanager ListSecretVersionIds: too many pages");
            break;
        }
    }
    free(token);
    if (rc != 0)
        sm_version_list_dispose(out);
    return rc;
}

int sm_update_secret_version_stage(aws_client *c, const char *secret_id, const char *stage,
                                   const char *move_to_version_id,
                                   const char *remove_from_version_id)
{
    json_t *in = json_object();
    json_t *res = NULL;
    int rc;

    json_object_set_new(in, "SecretId", json_string(secret_id));
    json_object_set_new(in, "VersionStage", json_string(stage));
    if (move_to_version_id != NULL)
        json_object_set_new(in, "MoveToVersionId", json_string(move_to_version_id));
    if (remove_from_version_id != NULL)
        json_object_set_new(in, "RemoveFromVersionId", json_string(remove_from_version_id));
    rc = sm_call(&res, c, "UpdateSecretVersionStage", in, secret_id);
    json_decref(res);
    json_decref(in);
    return rc;
}
