#include "aws/error.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/tree.h>

#include "aws/xml.h"
#include "util/alloc.h"
#include "util/error.h"

static char *capped(const char *s, size_t cap)
{
    return lb_strndup(s ? s : "", cap - 1);
}

static const char *status_code_name(long status)
{
    switch (status) {
    case 0:
        return "TransportError";
    case 400:
        return "BadRequest";
    case 403:
        return "Forbidden";
    case 404:
        return "NotFound";
    case 409:
        return "Conflict";
    case 412:
        return "PreconditionFailed";
    case 429:
        return "TooManyRequests";
    case 500:
        return "InternalError";
    case 503:
        return "ServiceUnavailable";
    default:
        return NULL;
    }
}

/* XML: <ErrorResponse><Error><Code/>… (Query), <Error><Code/>… (S3) or
 * <ErrorResponse><Errors><Error><Code/>… */
static int parse_xml(char **code, char **message, const char *body, size_t len)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr root, err;
    int found = 0;

    if (aws_xml_parse(&doc, body, len, "aws error") != 0) {
        lb_error_clear();
        return 0;
    }
    root = xmlDocGetRootElement(doc);
    err = strcmp((const char *)root->name, "Error") == 0 ? root : aws_xml_child(root, "Error");
    if (err == NULL) /* <ErrorResponse><Errors><Error> (IAM-style, moto's auth errors) */
        err = aws_xml_path(root, "Errors/Error");
    if (err != NULL) {
        char *c = aws_xml_text(err, "Code");
        char *m = aws_xml_text(err, "Message");
        if (c != NULL && c[0] != '\0') {
            *code = capped(c, AWS_MAX_ERROR_CODE_BYTES);
            *message = capped(m ? m : "", AWS_MAX_ERROR_MESSAGE_BYTES);
            found = 1;
        }
        free(c);
        free(m);
    }
    xmlFreeDoc(doc);
    return found;
}

/* JSON: {"__type": "prefix#Code", "message"|"Message": "..."}. */
static int parse_json(char **code, char **message, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_DISABLE_EOF_CHECK, &jerr);
    const char *type, *msg, *hash;
    int found = 0;

    if (root == NULL || !json_is_object(root))
        goto done;
    type = json_string_value(json_object_get(root, "__type"));
    if (type == NULL)
        type = json_string_value(json_object_get(root, "code"));
    msg = json_string_value(json_object_get(root, "message"));
    if (msg == NULL)
        msg = json_string_value(json_object_get(root, "Message"));
    if (type == NULL || type[0] == '\0')
        goto done;
    hash = strrchr(type, '#');
    *code = capped(hash ? hash + 1 : type, AWS_MAX_ERROR_CODE_BYTES);
    *message = capped(msg ? msg : "", AWS_MAX_ERROR_MESSAGE_BYTES);
    found = 1;
done:
    json_decref(root);
    return found;
}

int aws_error_parse(char **out_code, char **out_message, long status, const char *body,
                    size_t body_len)
{
    size_t i = 0;
    char fallback[32];
    const char *name;

    *out_code = NULL;
    *out_message = NULL;
    while (body != NULL && i < body_len &&
           (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (body != NULL && i < body_len && body[i] == '<' &&
        parse_xml(out_code, out_message, body, body_len))
        return 0;
    if (body != NULL && i < body_len && body[i] == '{' &&
        parse_json(out_code, out_message, body + i, body_len - i))
        return 0;
    name = status_code_name(status);
    if (name == NULL) {
        snprintf(fallback, sizeof(fallback), "Http%ld", status);
        name = fallback;
    }
    *out_code = lb_strdup(name);
    *out_message = lb_sprintf("HTTP status %ld with no AWS error body", status);
    return 0;
}

static int contains(const char *s, const char *part)
{
    return s != NULL && strstr(s, part) != NULL;
}

static int is_one_of(const char *s, const char *const *list)
{
    if (s == NULL)
        return 0;
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

static const char *const throttling_codes[] = {"Throttling",
                                               "ThrottlingException",
                                               "ThrottledException",
                                               "RequestThrottledException",
                                               "TooManyRequestsException",
                                               "ProvisionedThroughputExceededException",
                                               "TransactionInProgressException",
                                               "RequestLimitExceeded",
                                               "BandwidthLimitExceeded",
                                               "LimitExceededException",
                                               "RequestThrottled",
                                               "SlowDown",
                                               "PriorRequestNotComplete",
                                               "EC2ThrottledException",
                                               NULL};

static const char *const conflict_codes[] = {"ResourceExistsException",
                                             "InvalidDBInstanceState",
                                             "InvalidDBInstanceStateFault",
                                             "InvalidDBSnapshotState",
                                             "InvalidDBSnapshotStateFault",
                                             "InvalidDBClusterStateFault",
                                             "OperationAborted",
                                             "BucketAlreadyOwnedByYou",
                                             "InvalidRequestException",
                                             NULL};

static const char *const notfound_codes[] = {"NoSuchKey",
                                             "NoSuchBucket",
                                             "NoSuchVersion",
                                             "NoSuchUpload",
                                             "ResourceNotFoundException",
                                             "NoSuchEntity",
                                             "NotFound",
                                             NULL};

static const char *const invalid_codes[] = {"ValidationError",
                                            "ValidationException",
                                            "InvalidParameterValue",
                                            "InvalidParameterCombination",
                                            "InvalidParameterException",
                                            "MissingParameter",
                                            "MalformedXML",
                                            "PermanentRedirect",
                                            "InvalidArgument",
                                            "InvalidRequest",
                                            NULL};

int aws_error_code(const char *aws_code, long status)
{
    if (is_one_of(aws_code, throttling_codes) || status == 429)
        return LB_ETHROTTLED;
    /* S3 answers HEAD requests that are throttled with a bare 503 ("Slow Down"). */
    if (status == 503 && (aws_code == NULL || strcmp(aws_code, "ServiceUnavailable") == 0))
        return LB_ETHROTTLED;
    if (is_one_of(aws_code, notfound_codes) || contains(aws_code, "NotFound"))
        return LB_ENOTFOUND;
    if (contains(aws_code, "AlreadyExists") || is_one_of(aws_code, conflict_codes))
        return LB_ECONFLICT;
    if (is_one_of(aws_code, invalid_codes))
        return LB_EINVALID;
    if (status == 404)
        return LB_ENOTFOUND;
    if (status == 409)
        return LB_ECONFLICT;
    if (status == 400)
        return LB_EINVALID;
    return LB_ERROR;
}

bool aws_error_not_applied(const char *aws_code, long status)
{
    if (is_one_of(aws_code, throttling_codes) || status == 429)
        return true;
    return aws_code != NULL && (strcmp(aws_code, "RequestTimeout") == 0 ||
                                strcmp(aws_code, "RequestTimeoutException") == 0);
}

bool aws_error_retryable(const char *aws_code, long status)
{
    if (is_one_of(aws_code, throttling_codes))
        return true;
    if (aws_code != NULL &&
        (strcmp(aws_code, "RequestTimeout") == 0 ||
         strcmp(aws_code, "RequestTimeoutException") == 0 ||
         strcmp(aws_code, "InternalError") == 0 || strcmp(aws_code, "ServiceUnavailable") == 0))
        return true;
    return status == 0 || status == 429 || status >= 500;
}
