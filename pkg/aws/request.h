/* request.h - one signed AWS request over libcurl (SigV4 via CURLOPT_AWS_SIGV4).
 *
 * The client builds what libcurl signs as given: the canonical query string
 * (keys sorted, upper-case %XX, `key=` for bare keys), the encoded path, the
 * x-amz-content-sha256 header (payload hash, or UNSIGNED-PAYLOAD for streamed
 * bodies), an explicit Content-Type on every body and X-Amz-Security-Token
 * when the credentials carry a session token. Endpoints follow the AWS SDK
 * convention: AWS defaults per region and service, overridden by
 * AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_{S3,RDS,SECRETS_MANAGER,STS}; S3 is
 * virtual-hosted on AWS and path-style with an override or
 * AWS_S3_FORCE_PATH_STYLE=true.
 *
 * Throttling, 5xx and transport errors are retried with capped exponential
 * backoff and full jitter inside a per-request deadline (aws/error.h) - but
 * a mutating call is never re-sent after a failure that may have followed its
 * effect (a 5xx, a connection dropped or timed out after the request was
 * sent): that ends the call with LB_EAMBIGUOUS so that the caller re-reads
 * the actual state. Failures that prove nothing was applied (throttling
 * answers, a connection that was never made) are retried for every call.
 * An aws_client is safe to share between threads; each call takes a curl
 * handle from the client's pool of idle handles (reset between calls) and
 * shares connections through a curl share object.
 */
#ifndef LB_AWS_REQUEST_H
#define LB_AWS_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AWS_MAX_RESPONSE_BYTES      (16u * 1024 * 1024) /* default cap of a buffered body */
#define AWS_MAX_ERROR_BODY_BYTES    (64u * 1024)        /* error bodies kept for parsing */
#define AWS_MAX_RESPONSE_HEADERS    64                  /* headers kept of one response */
#define AWS_MAX_HEADER_BYTES        (16u * 1024)        /* one response header line */
#define AWS_MAX_REQUEST_HEADERS     16                  /* caller headers of one request */
#define AWS_MAX_URL_BYTES           8192                /* a request URL */
#define AWS_DEFAULT_TIMEOUT_MS      60000L              /* per-request deadline, retries included */
#define AWS_DEFAULT_MAX_ATTEMPTS    5
#define AWS_DEFAULT_BACKOFF_BASE_MS 100L
#define AWS_DEFAULT_BACKOFF_CAP_MS  5000L

#define AWS_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

typedef struct aws_client aws_client;
typedef struct aws_credentials_provider aws_credentials_provider;

/* Configuration of a client. Strings are borrowed for the duration of
 * aws_client_new(), which copies them. */
typedef struct aws_client_options {
    const char *region;                       /* required, e.g. "us-east-1" */
    const char *endpoint_url;                 /* AWS_ENDPOINT_URL */
    const char *endpoint_url_s3;              /* AWS_ENDPOINT_URL_S3 */
    const char *endpoint_url_rds;             /* AWS_ENDPOINT_URL_RDS */
    const char *endpoint_url_secrets_manager; /* AWS_ENDPOINT_URL_SECRETS_MANAGER */
    const char *endpoint_url_sts;             /* AWS_ENDPOINT_URL_STS */
    bool s3_force_path_style;                 /* AWS_S3_FORCE_PATH_STYLE=true */
    aws_credentials_provider *credentials;    /* borrowed; NULL sends unsigned requests */
    int max_attempts;                         /* 0: AWS_DEFAULT_MAX_ATTEMPTS */
    long timeout_ms;                          /* 0: AWS_DEFAULT_TIMEOUT_MS */
    long backoff_base_ms;                     /* 0: AWS_DEFAULT_BACKOFF_BASE_MS */
    long backoff_cap_ms;                      /* 0: AWS_DEFAULT_BACKOFF_CAP_MS */
    const char *fixed_date;                   /* tests: X-Amz-Date to sign with */
    const char *connect_to;                   /* tests: a CURLOPT_CONNECT_TO entry */
    const char *ca_file;                      /* optional CA bundle (AWS_CA_BUNDLE) */
} aws_client_options;

/* Fills `out` from the environment (AWS_REGION, then AWS_DEFAULT_REGION, the
 * endpoint variables, AWS_S3_FORCE_PATH_STYLE, AWS_CA_BUNDLE). Strings are
 * borrowed from the environment. Fields not set stay zero. */
void aws_client_options_from_env(aws_client_options *out);

/* Creates a client. Returns 0, or LB_EINVALID (region missing or malformed,
 * an endpoint override that is not http(s)://). */
int aws_client_new(aws_client **out, const aws_client_options *opts);

/* Creates a client from the environment with its own credentials chain
 * (aws/credentials.h), which the client owns. */
int aws_client_new_from_env(aws_client **out);

/* A client like `base` (region, endpoints, retries, fence) that signs with the
 * given keys (copied; token may be NULL), e.g. credentials from sts_assume_role.
 * The new client owns its provider. Returns 0 or a negative code. */
int aws_client_new_with_keys(aws_client **out, const aws_client *base, const char *access_key_id,
                             const char *secret_access_key, const char *session_token);

/* A client like `base` (endpoints, retries, fence, the same credentials
 * provider, borrowed: base must outlive it) that signs for and talks to
 * `region`, e.g. the destination of a cross-region copy. Returns 0 or
 * LB_EINVALID (region malformed, named). */
int aws_client_new_for_region(aws_client **out, const aws_client *base, const char *region);

/* Frees a client; NULL is accepted. The client must be idle. */
void aws_client_free(aws_client *c);

/* A fence: called before every attempt of every request with the service
 * name; a non-zero (negative LB_*) return stops the request unsent with that
 * code (message from the fence's lb_error_set). The operator fences on
 * holding the leader Lease (kube/leader.h). */
typedef int (*aws_fence_fn)(void *payload, const char *service);

/* Installs (fn NULL: removes) the fence; call before other threads use c. */
void aws_client_set_fence(aws_client *c, aws_fence_fn fn, void *payload);

/* The region the client signs for; borrowed. */
const char *aws_client_region(const aws_client *c);

/* Streamed request body: fill up to `len` bytes of `buf`; return the count,
 * 0 at the end, or a negative value to abort the request. */
typedef long (*aws_read_fn)(char *buf, size_t len, void *payload);

/* Rewinds a streamed body so that the request can be retried; 0 on success. */
typedef int (*aws_rewind_fn)(void *payload);

/* Streamed 2xx response body: called with each chunk; return 0 to go on,
 * anything else aborts the transfer. */
typedef int (*aws_write_fn)(const char *data, size_t len, void *payload);

/* Whether a request may be sent a second time after an ambiguous failure. */
typedef enum aws_resend {
    AWS_RESEND_AUTO = 0, /* decided from the operation (aws_request_resend_safe) */
    AWS_RESEND_SAFE,     /* the caller vouches that a second copy has no further effect */
    AWS_RESEND_NEVER,    /* never re-sent after an ambiguous failure */
} aws_resend;

typedef struct aws_header {
    const char *name;
    const char *value;
} aws_header;

/* One request. All strings are borrowed for the call. */
typedef struct aws_request {
    const char *service; /* signing name: "s3", "rds", "secretsmanager", "sts" */
    const char *method;  /* "GET", "PUT", "POST", "HEAD", "DELETE" */
    const char *bucket;  /* S3: the bucket (addressing style is the client's) */
    const char *path;    /* URI-encoded path below endpoint/bucket; NULL means "/" */
    const char *query;   /* canonical query (aws_query_build) or NULL */
    aws_header headers[AWS_MAX_REQUEST_HEADERS];
    size_t nheaders;
    const char *content_type; /* required with any body */
    const char *body;         /* buffered body, hashed into x-amz-content-sha256 */
    size_t body_len;
    aws_read_fn read_fn;     /* or a streamed body: UNSIGNED-PAYLOAD */
    aws_rewind_fn rewind_fn; /* optional; without it a streamed body is sent once */
    void *read_payload;
    int64_t read_len;      /* Content-Length of a streamed body, required */
    aws_write_fn write_fn; /* streamed 2xx response; else buffered up to response_cap */
    void *write_payload;
    size_t response_cap;   /* 0: AWS_MAX_RESPONSE_BYTES */
    bool unsigned_request; /* STS AssumeRoleWithWebIdentity */
    aws_resend resend;     /* AWS_RESEND_AUTO unless the caller knows better */
} aws_request;

/* Whether `req` may be re-sent after an ambiguous failure. With
 * AWS_RESEND_AUTO: reads (GET, HEAD; Query actions and JSON targets named
 * Describe*, List*, Get*, BatchGet*, Download*; every STS call) are safe; S3
 * PUT and DELETE by key and POST ?delete= are safe in effect (the same bytes
 * under the same key; on a versioned bucket a second identical version or
 * delete marker may appear); RDS AddTagsToResource/RemoveTagsFromResource
 * are safe (the same tags again); every other call (RDS Create/Restore/
 * Modify/Delete, Secrets Manager Put/Update, S3 multipart POSTs) is not. */
bool aws_request_resend_safe(const aws_request *req);

/* The operation name of `req` for messages: the Query `Action`, the JSON
 * target's operation, or "<METHOD>" for S3; written into `buf` (truncated). */
void aws_request_operation(char *buf, size_t len, const aws_request *req);

/* Adds a header to a request; asserts the fixed header table has room. */
void aws_request_add_header(aws_request *req, const char *name, const char *value);

typedef struct aws_response_header {
    char *name; /* lower-case */
    char *value;
} aws_response_header;

/* What came back. Initialise with aws_response_init, release with
 * aws_response_dispose. */
typedef struct aws_response {
    long status;
    char *body; /* NUL-terminated, owned; empty when streamed */
    size_t body_len;
    aws_response_header headers[AWS_MAX_RESPONSE_HEADERS];
    size_t nheaders;
    char *aws_code;    /* AWS error code of a failed call ("DBInstanceNotFound"), or NULL */
    char *aws_message; /* AWS error message, or NULL */
    int attempts;      /* how many times the request was sent */
} aws_response;

void aws_response_init(aws_response *r);
void aws_response_dispose(aws_response *r);

/* A response header's value (case-insensitive name); borrowed, NULL if absent. */
const char *aws_response_header_get(const aws_response *r, const char *name);

/* Sends `req`, retrying throttling, 5xx and transport errors (5xx and
 * transport errors after sending only when aws_request_resend_safe()). Fills
 * `out` (which the caller initialised) with the last response. Returns 0 on
 * 2xx; otherwise the code aws_error_code() maps the AWS error to, with the
 * thread's message set to "<AwsCode>: <AWS message>" (LB_ETIMEOUT when the
 * deadline passed, LB_ETOOBIG when a body exceeded its cap, LB_EAMBIGUOUS
 * when a call that is not safe to re-send failed in a way that may have
 * followed its effect - out->aws_code keeps the 5xx code, if any; LB_EINVALID,
 * never retried, when S3 answered 301 or 400 with an x-amz-bucket-region
 * other than the client's: the message ends "(the bucket is in region R,
 * x-amz-bucket-region; the request was for region C)"). */
int aws_client_send(aws_response *out, aws_client *c, const aws_request *req);

/* What the calling thread's last aws_client_send() failed on, for a caller that
 * gets only the LB_* code through another layer (s3_list_objects_v2, ...) and
 * must tell one invalid answer from another. */
typedef struct aws_failure {
    const char *code; /* the AWS error code, "" when the last call succeeded or got no
                       * answer; borrowed until the next send on this thread */
    long status;      /* its HTTP status, 0 when none */
    int wrong_region; /* 1: S3's answer for a bucket of another region (LB_EINVALID,
                       * the message naming the bucket's region), else 0 */
} aws_failure;

/* The calling thread's last failure (see aws_failure); reset by every send. */
aws_failure aws_client_last_failure(void);

/* ---- canonical query strings ---- */

typedef struct aws_query aws_query;

aws_query *aws_query_new(void);
void aws_query_free(aws_query *q);

/* Adds key=value; value NULL adds a bare key (written "key="). Both copied. */
void aws_query_add(aws_query *q, const char *key, const char *value);

/* Adds key=<decimal n>. */
void aws_query_add_int(aws_query *q, const char *key, long long n);

/* Builds the canonical form: each key and value URI-encoded (unreserved
 * A-Z a-z 0-9 - . _ ~ kept, everything else %XX upper-case), pairs sorted
 * by encoded key then value, joined by '&'. The caller frees *out. The
 * same text is a valid application/x-www-form-urlencoded body. */
int aws_query_build(char **out, const aws_query *q);

/* URI-encodes `s` as SigV4 wants; '/' is kept when keep_slash (S3 keys in
 * paths). The caller frees the result. */
char *aws_uri_encode(const char *s, bool keep_slash);

/* ---- endpoints ---- */

/* Resolves the URL of a request without a query: scheme://host[:port]/path.
 * `bucket` may be NULL; `path` is already encoded (NULL means "/"). The
 * caller frees *out. Returns 0 or LB_EINVALID (unknown service, bad override). */
int aws_endpoint_url(char **out, const aws_client_options *opts, const char *service,
                     const char *bucket, const char *path);

#endif
