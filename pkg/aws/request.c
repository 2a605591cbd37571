#include "aws/request.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "aws/credentials.h"
#include "aws/error.h"
#include "aws/private.h"
#include "util/alloc.h"
#include "util/backoff.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

/* ---- package-private helpers ---- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
}

void aws__global_init(void)
{
    pthread_once(&global_once, global_init_once);
}

/* SHA-256 fetched once: OpenSSL 3 looks EVP_sha256() up in its provider store
 * (EVP_MD_fetch, locks and a hash table) on every digest that names it. */
static EVP_MD *sha256_md;

static void sha256_once(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void aws__sha256_hex(char out[65], const void *data, size_t len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";

    if (len == 0) { /* every GET, HEAD, DELETE and CopyObject: a constant */
        memcpy(out, AWS_EMPTY_PAYLOAD_SHA256, 65);
        return;
    }
    pthread_once(&once, sha256_once);
    EVP_Digest(data, len, md, &mdlen, sha256_md ? sha256_md : EVP_sha256(), NULL);
    for (unsigned int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

void aws__free_secret(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

/* ---- canonical query ---- */

typedef struct query_pair {
    char *key; /* encoded */
    char *value;
} query_pair;

struct aws_query {
    query_pair *pairs;
    size_t n;
    size_t alloc;
};

static int is_unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

char *aws_uri_encode(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = lb_malloc(3 * n + 1);
    size_t j = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (is_unreserved(ch) || (keep_slash && ch == '/')) {
            out[j++] = (char)ch;
        } else {
            out[j++] = '%';
            out[j++] = hex[ch >> 4];
            out[j++] = hex[ch & 15];
        }
    }
    out[j] = '\0';
    return out;
}

aws_query *aws_query_new(void)
{
    return lb_calloc(1, sizeof(aws_query));
}

void aws_query_free(aws_query *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->n; i++) {
        free(q->pairs[i].key);
        aws__free_secret(q->pairs[i].value); /* forms can carry tokens */
    }
    free(q->pairs);
    free(q);
}

void aws_query_add(aws_query *q, const char *key, const char *value)
{
    assert(q != NULL && key != NULL);
    if (q->n == q->alloc) {
        q->alloc = q->alloc ? 2 * q->alloc : 8;
        q->pairs = lb_realloc(q->pairs, q->alloc * sizeof(*q->pairs));
    }
    q->pairs[q->n].key = aws_uri_encode(key, false);
    q->pairs[q->n].value = aws_uri_encode(value ? value : "", false);
    q->n++;
}

void aws_query_add_int(aws_query *q, const char *key, long long n)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", n);
    aws_query_add(q, key, num);
}

static int pair_cmp(const void *a, const void *b)
{
    const query_pair *x = a;
    const query_pair *y = b;
    int r = strcmp(x->key, y->key);
    return r != 0 ? r : strcmp(x->value, y->value);
}

int aws_query_build(char **out, const aws_query *q)
{
    query_pair *sorted;
    lb_buf b;
    int rc = 0;

    *out = NULL;
    buf_init(&b, SIZE_MAX / 2); /* bounded by the caller's own parameters */
    if (q == NULL || q->n == 0) {
        *out = lb_strdup("");
        return 0;
    }
    sorted = lb_malloc(q->n * sizeof(*sorted));
    memcpy(sorted, q->pairs, q->n * sizeof(*sorted));
    qsort(sorted, q->n, sizeof(*sorted), pair_cmp);
    for (size_t i = 0; i < q->n; i++) {
        if (i > 0)
            buf_append(&b, "&", 1);
        buf_append_str(&b, sorted[i].key);
        buf_append(&b, "=", 1);
        buf_append_str(&b, sorted[i].value);
    }
    free(sorted);
    *out = buf_detach(&b, NULL);
    return rc;
}

/* ---- endpoints ---- */

static const char *service_override(const aws_client_options *o, const char *service)
{
    if (strcmp(service, "s3") == 0)
        return o->endpoint_url_s3;
    if (strcmp(service, "rds") == 0)
        return o->endpoint_url_rds;
    if (strcmp(service, "secretsmanager") == 0)
        return o->endpoint_url_secrets_manager;
    if (strcmp(service, "sts") == 0)
        return o->endpoint_url_sts;
    return NULL;
}

static int known_service(const char *service)
{
    return strcmp(service, "s3") == 0 || strcmp(service, "rds") == 0 ||
           strcmp(service, "secretsmanager") == 0 || strcmp(service, "sts") == 0;
}

/* A bucket can be a DNS label of a virtual host (no dots: TLS wildcards). */
static int bucket_dns_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63 || b[0] == '-' || b[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = b[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return 0;
    }
    return 1;
}

static int region_ok(const char *r)
{
    size_t n = r ? strlen(r) : 0;
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
            return 0;
    return 1;
}

int aws_endpoint_url(char **out, const aws_client_options *opts, const char *service,
                     const char *bucket, const char *path)
{
    const char *override;
    const char *p = path ? path : "/";
    char *base = NULL;
    int rc = 0;

    *out = NULL;
    if (!known_service(service))
        return lb_error_setc(LB_EINVALID, "aws endpoint: service \"%s\" is not supported", service);
    if (!region_ok(opts->region))
        return lb_error_setc(LB_EINVALID, "aws endpoint: region \"%s\" must be 1-32 of [a-z0-9-]",
                             opts->region ? opts->region : "");
    if (p[0] != '/')
        return lb_error_setc(LB_EINVALID, "aws endpoint: path must start with '/'");
    override = service_override(opts, service);
    if (override == NULL || override[0] == '\0')
        override = opts->endpoint_url;
    if (override != NULL && override[0] != '\0') {
        size_t n = strlen(override);
        if (strncmp(override, "http://", 7) != 0 && strncmp(override, "https://", 8) != 0)
            return lb_error_setc(LB_EINVALID,
                                 "aws endpoint: override for %s must start with http:// or "
                                 "https://",
                                 service);
        while (n > 0 && override[n - 1] == '/')
            n--;
        base = lb_strndup(override, n);
        /* An overridden endpoint is path-style for S3 (the SDK convention). */
        if (bucket != NULL)
            *out = lb_sprintf("%s/%s%s", base, bucket, p);
        else
            *out = lb_sprintf("%s%s", base, p);
        goto done;
    }
    {
        const char *suffix =
            strncmp(opts->region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
        if (bucket != NULL && !opts->s3_force_path_style && bucket_dns_ok(bucket))
            *out = lb_sprintf("https://%s.%s.%s.%s%s", bucket, service, opts->region, suffix, p);
        else if (bucket != NULL)
            *out = lb_sprintf("https://%s.%s.%s/%s%s", service, opts->region, suffix, bucket, p);
        else
            *out = lb_sprintf("https://%s.%s.%s%s", service, opts->region, suffix, p);
    }
done:
    free(base);
    if (rc == 0 && strlen(*out) >= AWS_MAX_URL_BYTES) {
        free(*out);
        *out = NULL;
        rc = lb_error_setc(LB_ETOOBIG, "aws endpoint: URL longer than %d bytes", AWS_MAX_URL_BYTES);
    }
    return rc;
}

/* ---- client ---- */

/* Idle curl handles an aws_client keeps for reuse (more in flight are freed after use). */
#define AWS_CLIENT_POOLED_HANDLES 64

struct aws_client {
    aws_client_options opts; /* strings below are owned copies */
    char *region;
    char *endpoint_url, *endpoint_url_s3, *endpoint_url_rds, *endpoint_url_sm, *endpoint_url_sts;
    char *fixed_date;
    char *connect_to;
    char *ca_file;
    aws_credentials_provider *owned_credentials;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    aws_fence_fn fence; /* checked before every attempt */
    void *fence_payload;
    /* Idle curl handles, reset, for the next request of any thread: a handle
     * keeps its internal multi handle (a socketpair and its fcntls) and its
     * allocations across requests. */
    pthread_mutex_t pool_lock;
    CURL *pool[AWS_CLIENT_POOLED_HANDLES];
    size_t npool;
};

void aws_client_set_fence(aws_client *c, aws_fence_fn fn, void *payload)
{
    c->fence = fn;
    c->fence_payload = payload;
}

static char *dup_or_null(const char *s)
{
    return (s != NULL && s[0] != '\0') ? lb_strdup(s) : NULL;
}

static int env_true(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && strcasecmp(v, "true") == 0;
}

void aws_client_options_from_env(aws_client_options *out)
{
    memset(out, 0, sizeof(*out));
    out->region = getenv("AWS_REGION");
    if (out->region == NULL || out->region[0] == '\0')
        out->region = getenv("AWS_DEFAULT_REGION");
    out->endpoint_url = getenv("AWS_ENDPOINT_URL");
    out->endpoint_url_s3 = getenv("AWS_ENDPOINT_URL_S3");
    out->endpoint_url_rds = getenv("AWS_ENDPOINT_URL_RDS");
    out->endpoint_url_secrets_manager = getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER");
    out->endpoint_url_sts = getenv("AWS_ENDPOINT_URL_STS");
    out->s3_force_path_style = env_true("AWS_S3_FORCE_PATH_STYLE");
    out->ca_file = getenv("AWS_CA_BUNDLE");
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userptr)
{
    aws_client *c = userptr;
    (void)h;
    (void)access;
    pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userptr)
{
    aws_client *c = userptr;
    (void)h;
    pthread_mutex_unlock(&c->share_locks[data]);
}

int aws_client_new(aws_client **out, const aws_client_options *opts)
{
    aws_client *c;
    char *probe = NULL;
    int rc;

    *out = NULL;
    aws__global_init();
    /* Validate region and overrides once, up front. */
    rc = aws_endpoint_url(&probe, opts, "sts", NULL, "/");
    free(probe);
    if (rc != 0)
        return rc;
    const char *svcs[] = {"s3", "rds", "secretsmanager"};
    for (size_t i = 0; i < sizeof(svcs) / sizeof(svcs[0]); i++) {
        rc = aws_endpoint_url(&probe, opts, svcs[i], NULL, "/");
        free(probe);
        if (rc != 0)
            return rc;
    }
    c = lb_calloc(1, sizeof(*c));
    c->opts = *opts;
    c->region = lb_strdup(opts->region);
    c->endpoint_url = dup_or_null(opts->endpoint_url);
    c->endpoint_url_s3 = dup_or_null(opts->endpoint_url_s3);
    c->endpoint_url_rds = dup_or_null(opts->endpoint_url_rds);
    c->endpoint_url_sm = dup_or_null(opts->endpoint_url_secrets_manager);
    c->endpoint_url_sts = dup_or_null(opts->endpoint_url_sts);
    c->fixed_date = dup_or_null(opts->fixed_date);
    c->connect_to = dup_or_null(opts->connect_to);
    c->ca_file = dup_or_null(opts->ca_file);
    c->opts.region = c->region;
    c->opts.endpoint_url = c->endpoint_url;
    c->opts.endpoint_url_s3 = c->endpoint_url_s3;
    c->opts.endpoint_url_rds = c->endpoint_url_rds;
    c->opts.endpoint_url_secrets_manager = c->endpoint_url_sm;
    c->opts.endpoint_url_sts = c->endpoint_url_sts;
    c->opts.fixed_date = c->fixed_date;
    c->opts.connect_to = c->connect_to;
    c->opts.ca_file = c->ca_file;
    if (c->opts.max_attempts <= 0)
        c->opts.max_attempts = AWS_DEFAULT_MAX_ATTEMPTS;
    if (c->opts.timeout_ms <= 0)
        c->opts.timeout_ms = AWS_DEFAULT_TIMEOUT_MS;
    if (c->opts.backoff_base_ms <= 0)
        c->opts.backoff_base_ms = AWS_DEFAULT_BACKOFF_BASE_MS;
    if (c->opts.backoff_cap_ms <= 0)
        c->opts.backoff_cap_ms = AWS_DEFAULT_BACKOFF_CAP_MS;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_locks[i], NULL);
    c->share = curl_share_init();
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    pthread_mutex_init(&c->pool_lock, NULL);
    *out = c;
    return 0;
}

int aws_client_new_from_env(aws_client **out)
{
    aws_client_options o;
    aws_credentials_provider *p = NULL;
    int rc;

    *out = NULL;
    aws_client_options_from_env(&o);
    if (o.region == NULL || o.region[0] == '\0')
        return lb_error_setc(LB_EINVALID, "aws: AWS_REGION (or AWS_DEFAULT_REGION) is not set");
    rc = aws_credentials_provider_new(&p, NULL);
    if (rc != 0)
        return rc;
    o.credentials = p;
    rc = aws_client_new(out, &o);
    if (rc != 0) {
        aws_credentials_provider_free(p);
        return rc;
    }
    (*out)->owned_credentials = p;
    return 0;
}

int aws_client_new_with_keys(aws_client **out, const aws_client *base, const char *access_key_id,
                             const char *secret_access_key, const char *session_token)
{
    aws_credentials_provider *p = NULL;
    aws_client_options o = base->opts;
    int rc;

    *out = NULL;
    rc = aws_credentials_provider_new_static(&p, access_key_id, secret_access_key, session_token);
    if (rc != 0)
        return rc;
    o.credentials = p;
    rc = aws_client_new(out, &o);
    if (rc != 0) {
        aws_credentials_provider_free(p);
        return rc;
    }
    (*out)->owned_credentials = p;
    (*out)->fence = base->fence;
    (*out)->fence_payload = base->fence_payload;
    return 0;
}

int aws_client_new_for_region(aws_client **out, const aws_client *base, const char *region)
{
    aws_client_options o = base->opts;
    int rc;

    *out = NULL;
    o.region = region;
    rc = aws_client_new(out, &o); /* validates the region */
    if (rc != 0)
        return rc;
    (*out)->fence = base->fence;
    (*out)->fence_payload = base->fence_payload;
    return 0;
}

void aws_client_free(aws_client *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]); /* before the share they use */
    pthread_mutex_destroy(&c->pool_lock);
    curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_locks[i]);
    aws_credentials_provider_free(c->owned_credentials);
    free(c->region);
    free(c->endpoint_url);
    free(c->endpoint_url_s3);
    free(c->endpoint_url_rds);
    free(c->endpoint_url_sm);
    free(c->endpoint_url_sts);
    free(c->fixed_date);
    free(c->connect_to);
    free(c->ca_file);
    free(c);
}

const char *aws_client_region(const aws_client *c)
{
    return c->region;
}

void aws_request_add_header(aws_request *req, const char *name, const char *value)
{
    assert(req->nheaders < AWS_MAX_REQUEST_HEADERS);
    req->headers[req->nheaders].name = name;
    req->headers[req->nheaders].value = value;
    req->nheaders++;
}

void aws_response_init(aws_response *r)
{
    memset(r, 0, sizeof(*r));
}

static void response_reset(aws_response *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->nheaders = 0;
    free(r->aws_code);
    free(r->aws_message);
    r->aws_code = NULL;
    r->aws_message = NULL;
    r->status = 0;
}

void aws_response_dispose(aws_response *r)
{
    if (r == NULL)
        return;
    response_reset(r);
}

const char *aws_response_header_get(const aws_response *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

/* ---- one transfer ---- */

typedef struct transfer {
    const aws_request *req;
    aws_response *resp;
    CURL *h;
    lb_buf body;  /* 2xx body, capped by req->response_cap */
    lb_buf error; /* non-2xx body, capped by AWS_MAX_ERROR_BODY_BYTES */
    size_t cap;
    size_t delivered; /* bytes handed to req->write_fn */
    int too_big;
    int aborted_by_callback;
    const char *upload; /* buffered PUT body */
    size_t upload_len;
    size_t upload_pos;
    long request_size; /* bytes of the request curl wrote; 0: never sent */
    aws_client *client;
    int fenced; /* the fence closed between the attempt's check and the send */
} transfer;

/* libcurl calls this once the connection is up, just before it sends the
 * request: the fence is checked again there, so a replica paused (or slowed)
 * while it connected does not send a request decided when it still led. */
static int on_prereq(void *payload, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
    transfer *t = payload;
    (void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
    if (t->client->fence != NULL && t->client->fence(t->client->fence_payload, t->req->service) != 0) {
        t->fenced = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *payload)
{
    transfer *t = payload;
    aws_response *r = t->resp;
    size_t len = size * nmemb;
    const char *colon;
    size_t nlen, vstart, vend;

    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new status line (after 100 Continue, say): keep only the final headers. */
        for (size_t i = 0; i < r->nheaders; i++) {
            free(r->headers[i].name);
            free(r->headers[i].value);
        }
        r->nheaders = 0;
        return len;
    }
    if (len > AWS_MAX_HEADER_BYTES)
        return len; /* ignored: no header Lifeboat reads is this long */
    colon = memchr(data, ':', len);
    if (colon == NULL || r->nheaders >= AWS_MAX_RESPONSE_HEADERS)
        return len;
    nlen = (size_t)(colon - data);
    vstart = nlen + 1;
    while (vstart < len && (data[vstart] == ' ' || data[vstart] == '\t'))
        vstart++;
    vend = len;
    while (vend > vstart && (data[vend - 1] == '\r' || data[vend - 1] == '\n' ||
                             data[vend - 1] == ' ' || data[vend - 1] == '\t'))
        vend--;
    r->headers[r->nheaders].name = lb_strndup(data, nlen);
    for (char *p = r->headers[r->nheaders].name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    r->headers[r->nheaders].value = lb_strndup(data + vstart, vend - vstart);
    r->nheaders++;
    return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *payload)
{
    transfer *t = payload;
    size_t len = size * nmemb;
    long status = 0;

    curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
    if (t->req->write_fn != NULL && status >= 200 && status < 300) {
        if (t->req->write_fn(data, len, t->req->write_payload) != 0) {
            t->aborted_by_callback = 1;
            return 0;
        }
        t->delivered += len;
        return len;
    }
    if (buf_append(status >= 200 && status < 300 ? &t->body : &t->error, data, len) != 0) {
        t->too_big = 1;
        return 0;
    }
    return len;
}

static size_t on_read_buffer(char *buf, size_t size, size_t nitems, void *payload)
{
    transfer *t = payload;
    size_t room = size * nitems;
    size_t left = t->upload_len - t->upload_pos;
    size_t n = left < room ? left : room;
    memcpy(buf, t->upload + t->upload_pos, n);
    t->upload_pos += n;
    return n;
}

static size_t on_read_stream(char *buf, size_t size, size_t nitems, void *payload)
{
    transfer *t = payload;
    long n = t->req->read_fn(buf, size * nitems, t->req->read_payload);
    if (n < 0) {
        t->aborted_by_callback = 1;
        return CURL_READFUNC_ABORT;
    }
    return (size_t)n;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* An idle handle of c's pool, or a new one attached to c's share; NULL when
 * curl cannot allocate one. */
static CURL *handle_take(aws_client *c)
{
    CURL *h = NULL;

    pthread_mutex_lock(&c->pool_lock);
    if (c->npool > 0)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->pool_lock);
    if (h == NULL && (h = curl_easy_init()) != NULL)
        curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    return h;
}

/* Returns h to c's pool, its options reset (curl keeps the share attached),
 * or frees it when the pool is full. */
static void handle_give(aws_client *c, CURL *h)
{
    curl_easy_reset(h);
    pthread_mutex_lock(&c->pool_lock);
    if (c->npool < AWS_CLIENT_POOLED_HANDLES) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (h != NULL)
        curl_easy_cleanup(h);
}

/* One attempt. Returns the curl result; fills t->resp. */
static CURLcode perform_once(aws_client *c, const aws_request *req, const char *url,
                             const aws_credentials *cred, long timeout_ms, transfer *t)
{
    CURL *h = handle_take(c);
    struct curl_slist *hdrs = NULL;
    struct curl_slist *connect_to = NULL;
    char line[512];
    char sigv4[128];
    char payload_hash[65];
    char *tmp;
    CURLcode cc;
    const char *method = req->method ? req->method : "GET";

    if (h == NULL)
        return CURLE_OUT_OF_MEMORY;
    t->h = h;
    for (size_t i = 0; i < req->nheaders; i++) {
        int n = snprintf(line, sizeof(line), "%s: %s", req->headers[i].name,
                         req->headers[i].value);
        if (n >= 0 && (size_t)n < sizeof(line)) {
            hdrs = curl_slist_append(hdrs, line);
        } else {
            tmp = lb_sprintf("%s: %s", req->headers[i].name, req->headers[i].value);
            hdrs = curl_slist_append(hdrs, tmp);
            free(tmp);
        }
    }
    if (req->read_fn != NULL) {
        snprintf(payload_hash, sizeof(payload_hash), "%s", AWS_UNSIGNED_PAYLOAD);
    } else {
        aws__sha256_hex(payload_hash, req->body ? req->body : "", req->body ? req->body_len : 0);
    }
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", payload_hash);
    hdrs = curl_slist_append(hdrs, line);
    if (req->content_type != NULL) {
        snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (c->fixed_date != NULL) {
        snprintf(line, sizeof(line), "X-Amz-Date: %s", c->fixed_date);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (cred != NULL && cred->session_token != NULL) {
        tmp = lb_sprintf("X-Amz-Security-Token: %s", cred->session_token);
        hdrs = curl_slist_append(hdrs, tmp);
        aws__free_secret(tmp);
    }
    /* No "Expect:" suppression header here: curl 7.88 would sign it as an
     * empty "expect" header that is never sent (tests/unit/test_aws_request.c). */

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
    t->client = c;
    curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(h, CURLOPT_PREREQDATA, t);
    if (c->ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (c->connect_to != NULL) {
        connect_to = curl_slist_append(NULL, c->connect_to);
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
    }
    if (cred != NULL && !req->unsigned_request) {
        snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:%s", c->region, req->service);
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, cred->access_key_id);
        curl_easy_setopt(h, CURLOPT_PASSWORD, cred->secret_access_key);
    }
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        if (req->read_fn != NULL) {
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read_stream);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->read_len);
        } else {
            t->upload = req->body ? req->body : "";
            t->upload_len = req->body ? req->body_len : 0;
            t->upload_pos = 0;
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read_buffer);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)t->upload_len);
        }
        curl_easy_setopt(h, CURLOPT_READDATA, t);
    } else if (strcmp(method, "POST") == 0) {
        if (req->read_fn != NULL) {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read_stream);
            curl_easy_setopt(h, CURLOPT_READDATA, t);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->read_len);
        } else {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(req->body ? req->body_len : 0));
        }
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &t->resp->status);
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &t->request_size);
    handle_give(c, h);
    t->h = NULL;
    curl_slist_free_all(hdrs);
    curl_slist_free_all(connect_to);
    return cc;
}

/* The value of `key` in a form-encoded body ("a=1&Action=X&b=2"), into buf. */
static bool form_value(char *buf, size_t len, const char *body, size_t body_len, const char *key)
{
    size_t klen = strlen(key);
    size_t i = 0;
    while (i < body_len) {
        size_t end = i;
        while (end < body_len && body[end] != '&')
            end++;
        if (end - i > klen && strncmp(body + i, key, klen) == 0 && body[i + klen] == '=') {
            size_t n = end - i - klen - 1;
            if (n >= len)
                n = len - 1;
            memcpy(buf, body + i + klen + 1, n);
            buf[n] = '\0';
            return true;
        }
        i = end + 1;
    }
    return false;
}

void aws_request_operation(char *buf, size_t len, const aws_request *req)
{
    const char *method = req->method ? req->method : "GET";
    assert(len > 0);
    buf[0] = '\0';
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strcasecmp(req->headers[i].name, "X-Amz-Target") == 0) {
            const char *dot = strrchr(req->headers[i].value, '.');
            snprintf(buf, len, "%s", dot ? dot + 1 : req->headers[i].value);
            return;
        }
    }
    if (req->body != NULL && req->content_type != NULL &&
        strncmp(req->content_type, "application/x-www-form-urlencoded", 33) == 0 &&
        form_value(buf, len, req->body, req->body_len, "Action"))
        return;
    if (req->query != NULL && form_value(buf, len, req->query, strlen(req->query), "Action"))
        return;
    snprintf(buf, len, "%s", method);
}

static bool is_read_operation(const char *op)
{
    static const char *const prefixes[] = {"Describe", "List", "Get", "BatchGet", "Download", NULL};
    for (size_t i = 0; prefixes[i] != NULL; i++)
        if (strncmp(op, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

bool aws_request_resend_safe(const aws_request *req)
{
    const char *method = req->method ? req->method : "GET";
    char op[128];

    if (req->resend == AWS_RESEND_SAFE)
        return true;
    if (req->resend == AWS_RESEND_NEVER)
        return false;
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return true;
    if (strcmp(req->service, "s3") == 0) {
        if (strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0)
            return true;
        return req->query != NULL && strcmp(req->query, "delete=") == 0;
    }
    if (strcmp(req->service, "sts") == 0)
        return true;
    aws_request_operation(op, sizeof(op), req);
    /* Setting or removing the same tags again has no further effect. */
    if (strcmp(op, "AddTagsToResource") == 0 || strcmp(op, "RemoveTagsFromResource") == 0)
        return true;
    return is_read_operation(op);
}

void aws__random_bytes(unsigned char *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)rand();
    }
}

/* S3 answers a bucket only in its own region: 301 PermanentRedirect (or 400
 * AuthorizationHeaderMalformed, or a bare 301/400 to a HEAD) with the
 * bucket's region in x-amz-bucket-region. No retry can help, so the call ends
 * with LB_EINVALID and that region in the message, for the caller to name the
 * spec field that sets the region. Returns true when out is such an answer. */
/* aws_client_last_failure(): the calling thread's last send */
static _Thread_local char tl_fail_code[AWS_MAX_ERROR_CODE_BYTES];
static _Thread_local long tl_fail_status;
static _Thread_local int tl_fail_wrong_region;

aws_failure aws_client_last_failure(void)
{
    aws_failure f = {.code = tl_fail_code,
                     .status = tl_fail_status,
                     .wrong_region = tl_fail_wrong_region};
    return f;
}

static bool wrong_region(int *rc, const aws_response *out, const aws_client *c)
{
    const char *home = aws_response_header_get(out, "x-amz-bucket-region");

    if (home == NULL || home[0] == '\0' || strcmp(home, c->region) == 0 ||
        (out->status != 301 && out->status != 400))
        return false;
    *rc = lb_error_setc(LB_EINVALID,
                        "%s: %s (the bucket is in region %.32s, x-amz-bucket-region; the request "
                        "was for region %s)",
                        out->aws_code, out->aws_message, home, c->region);
    tl_fail_wrong_region = 1;
    return true;
}

int aws_client_send(aws_response *out, aws_client *c, const aws_request *req)
{
    char *url = NULL;
    char *full_url = NULL;
    long long deadline = now_ms() + c->opts.timeout_ms;
    int attempt = 0;
    int rc = LB_ERROR;
    int can_retry;
    bool resend_safe;
    char op[128];

    assert(req->service != NULL);
    tl_fail_code[0] = '\0';
    tl_fail_status = 0;
    tl_fail_wrong_region = 0;
    resend_safe = aws_request_resend_safe(req);
    aws_request_operation(op, sizeof(op), req);
    response_reset(out);
    out->attempts = 0;
    if ((req->body != NULL || req->read_fn != NULL) && req->content_type == NULL)
        return lb_error_setc(LB_EINVALID, "aws %s: a request body needs a Content-Type",
                             req->service);
    if (req->read_fn != NULL && req->read_len < 0)
        return lb_error_setc(LB_EINVALID, "aws %s: a streamed body needs read_len", req->service);
    rc = aws_endpoint_url(&url, &c->opts, req->service, req->bucket, req->path);
    if (rc != 0)
        return rc;
    if (req->query != NULL && req->query[0] != '\0')
        full_url = lb_sprintf("%s?%s", url, req->query);
    else
        full_url = lb_strdup(url);

    for (;;) {
        aws_credentials cred;
        aws_credentials *credp = NULL;
        transfer t;
        CURLcode cc;
        long remaining = (long)(deadline - now_ms());

        memset(&cred, 0, sizeof(cred));
        attempt++;
        out->attempts = attempt;
        response_reset(out);
        if (c->fence != NULL && (rc = c->fence(c->fence_payload, req->service)) != 0) {
            char why[256];
            snprintf(why, sizeof(why), "%s", lb_error_last());
            rc = lb_error_setc(rc, "aws %s: not sent: %s", req->service, why);
            goto done;
        }
        if (remaining <= 0) {
            rc = lb_error_setc(LB_ETIMEOUT,
                               "aws %s %s: deadline of %ld ms passed after %d "
                               "attempt(s)",
                               req->service, req->method ? req->method : "GET", c->opts.timeout_ms,
                               attempt - 1);
            goto done;
        }
        if (c->opts.credentials != NULL && !req->unsigned_request) {
            rc = aws_credentials_get(&cred, c->opts.credentials);
            if (rc != 0)
                goto done;
            credp = &cred;
        }
        if (req->read_fn != NULL && attempt > 1 && req->rewind_fn != NULL &&
            req->rewind_fn(req->read_payload) != 0) {
            aws_credentials_dispose(credp);
            rc =
                lb_error_set("aws %s: could not rewind the request body for a retry", req->service);
            goto done;
        }
        memset(&t, 0, sizeof(t));
        t.req = req;
        t.resp = out;
        t.cap = req->response_cap ? req->response_cap : AWS_MAX_RESPONSE_BYTES;
        buf_init(&t.body, t.cap);
        buf_init(&t.error, AWS_MAX_ERROR_BODY_BYTES);
        LB_LOG_DEBUG("aws request", "service", req->service, "method",
                     req->method ? req->method : "GET", "url", url, "attempt", LB_LOG_INT(attempt));
        cc = perform_once(c, req, full_url, credp, remaining, &t);
        aws_credentials_dispose(credp);
        if (out->status >= 200 && out->status < 300) {
            out->body = buf_detach(&t.body, &out->body_len);
            buf_dispose(&t.error);
        } else {
            out->body = buf_detach(&t.error, &out->body_len);
            buf_dispose(&t.body);
        }

        can_retry = attempt < c->opts.max_attempts && t.delivered == 0 && !t.aborted_by_callback &&
                    (req->read_fn == NULL || req->rewind_fn != NULL);
        if (t.too_big) {
            rc = lb_error_setc(
                LB_ETOOBIG, "aws %s: response body exceeds its cap of %zu bytes", req->service,
                out->status >= 200 && out->status < 300 ? t.cap : (size_t)AWS_MAX_ERROR_BODY_BYTES);
            goto done;
        }
        if (t.fenced) {
            char why[256];
            snprintf(why, sizeof(why), "%s", lb_error_last());
            rc = lb_error_setc(LB_EFENCED, "aws %s: not sent: %s", req->service, why);
            goto done;
        }
        if (t.aborted_by_callback) {
            rc = lb_error_set("aws %s: transfer aborted by the caller's callback", req->service);
            goto done;
        }
        if (cc != CURLE_OK && !resend_safe && t.request_size > 0) {
            /* The request went out; whether it took effect is unknown. */
            rc = lb_error_setc(LB_EAMBIGUOUS,
                               "aws %s %s: %s after the request was sent; it may have been "
                               "applied, so it is not sent again",
                               req->service, op, curl_easy_strerror(cc));
            LB_LOG_INFO("aws ambiguous failure, not re-sent", "service", req->service, "operation",
                        op, "error", curl_easy_strerror(cc));
            goto done;
        }
        if (cc != CURLE_OK) {
            int timed_out = cc == CURLE_OPERATION_TIMEDOUT;
            if (!can_retry || (timed_out && now_ms() >= deadline)) {
                rc = lb_error_setc(timed_out ? LB_ETIMEOUT : LB_ERROR, "aws %s: %s (%s)",
                                   req->service, curl_easy_strerror(cc), url);
                goto done;
            }
            LB_LOG_DEBUG("aws retry", "service", req->service, "error", curl_easy_strerror(cc),
                         "attempt", LB_LOG_INT(attempt));
        } else if (out->status >= 200 && out->status < 300) {
            rc = 0;
            goto done;
        } else {
            aws_error_parse(&out->aws_code, &out->aws_message, out->status, out->body,
                            out->body_len);
            rc = aws_error_code(out->aws_code, out->status);
            lb_error_setc(rc, "%s: %s", out->aws_code, out->aws_message);
            if (wrong_region(&rc, out, c))
                goto done;
            if (!resend_safe && out->status >= 500 &&
                !aws_error_not_applied(out->aws_code, out->status)) {
                rc = lb_error_setc(LB_EAMBIGUOUS,
                                   "%s: %s (HTTP %ld to %s; it may have been applied, so it is "
                                   "not sent again)",
                                   out->aws_code, out->aws_message, out->status, op);
                LB_LOG_INFO("aws ambiguous failure, not re-sent", "service", req->service,
                            "operation", op, "code", out->aws_code);
                goto done;
            }
            if (!can_retry || !aws_error_retryable(out->aws_code, out->status))
                goto done;
            if (!resend_safe && !aws_error_not_applied(out->aws_code, out->status))
                goto done;
            LB_LOG_DEBUG("aws retry", "service", req->service, "code", out->aws_code, "status",
                         LB_LOG_INT(out->status), "attempt", LB_LOG_INT(attempt));
        }
        {
            long delay = (long)lb_backoff_delay(c->opts.backoff_base_ms, c->opts.backoff_cap_ms,
                                                (unsigned)(attempt - 1));
            long left = (long)(deadline - now_ms());
            if (delay >= left) {
                if (rc == 0 || cc != CURLE_OK)
                    rc = lb_error_setc(LB_ETIMEOUT,
                                       "aws %s: deadline of %ld ms passed after %d attempt(s)",
                                       req->service, c->opts.timeout_ms, attempt);
                else
                    lb_error_wrap(rc, "aws %s: deadline of %ld ms passed after %d attempt(s)",
                                  req->service, c->opts.timeout_ms, attempt);
                goto done;
            }
            sleep_ms(delay);
        }
    }
done:
    if (rc != 0) {
        snprintf(tl_fail_code, sizeof(tl_fail_code), "%s", out->aws_code ? out->aws_code : "");
        tl_fail_status = out->status;
    }
    free(url);
    free(full_url);
    return rc;
}
