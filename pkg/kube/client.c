/* client.c - REST verbs on libcurl, Status mapping, retries. */
#include "kube/client.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "kube/internal.h"
#include "kube/keep.h"
#include "util/backoff.h"
#include "util/buf.h"
#include "util/alloc.h"
#include "util/error.h"

#define KUBE_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define KUBE_DEFAULT_TIMEOUT_MS         30000
#define KUBE_DEFAULT_MAX_RETRIES        5
#define KUBE_DEFAULT_MAX_RETRY_WAIT_MS  10000
#define KUBE_RETRY_BASE_MS              100
#define KUBE_MAX_HEADER_LINE            8192 /* a response header line we look at */

struct kube_client {
    kube_config *cfg;
    kube_client_options o;
    char *user_agent;
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    atomic_ulong requests;
    atomic_ulong connections;
    kube_fence_fn fence; /* checked before every attempt of a mutating request */
    void *fence_payload;
};

/* ---- small helpers ------------------------------------------------------------------ */

double kube__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Full jitter (util/backoff.h): uniform in [0, min(cap, base * 2^attempt)]. */
static long backoff_ms(int attempt, long cap)
{
    return (long)lb_backoff_delay(KUBE_RETRY_BASE_MS, cap, (unsigned)attempt);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userptr)
{
    kube_client *c = userptr;
    (void)h;
    (void)access;
    pthread_mutex_lock(&c->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userptr)
{
    kube_client *c = userptr;
    (void)h;
    pthread_mutex_unlock(&c->locks[data]);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int is_unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

static int buf_escape(lb_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (; *s && rc == 0; s++) {
        unsigned char ch = (unsigned char)*s;
        if (is_unreserved(ch)) {
            rc = buf_append(b, &ch, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = buf_append(b, e, 3);
        }
    }
    return rc;
}

int kube__query_add(lb_buf *q, const char *key, const char *value)
{
    int rc = 0;
    if (buf_len(q) > 0)
        rc = buf_append(q, "&", 1);
    if (rc == 0)
        rc = buf_printf(q, "%s=", key);
    if (rc == 0)
        rc = buf_escape(q, value);
    return rc;
}

static int path_segment(lb_buf *b, const char *field, const char *seg)
{
    if (seg == NULL || seg[0] == '\0' || strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0 ||
        strchr(seg, '/') != NULL)
        return lb_error_setc(LB_EINVALID, "kube_ref.%s: \"%s\" is not a valid path segment", field,
                             seg ? seg : "");
    if (buf_append(b, "/", 1) != 0 || buf_escape(b, seg) != 0)
        return lb_error_setc(LB_ETOOBIG, "kube_ref: path longer than KUBE_MAX_URL_BYTES");
    return 0;
}

int kube_ref_path(char **out, const kube_ref *ref)
{
    lb_buf b;
    int result;

    *out = NULL;
    buf_init(&b, KUBE_MAX_URL_BYTES);
    if (ref->group == NULL || ref->group[0] == '\0') {
        buf_append(&b, "/api", 4);
    } else {
        buf_append(&b, "/apis", 5);
        result = path_segment(&b, "group", ref->group);
        if (result != 0)
            goto done;
    }
    result = path_segment(&b, "version", ref->version);
    if (result != 0)
        goto done;
    if (ref->namespace != NULL) {
        buf_append(&b, "/namespaces", 11);
        result = path_segment(&b, "namespace", ref->namespace);
        if (result != 0)
            goto done;
    }
    result = path_segment(&b, "resource", ref->resource);
    if (result != 0)
        goto done;
    if (ref->name != NULL) {
        result = path_segment(&b, "name", ref->name);
        if (result != 0)
            goto done;
    }
    if (ref->subresource != NULL) {
        if (ref->name == NULL) {
            result = lb_error_setc(LB_EINVALID, "kube_ref.subresource: needs a name");
            goto done;
        }
        result = path_segment(&b, "subresource", ref->subresource);
        if (result != 0)
            goto done;
    }
    *out = buf_detach(&b, NULL);
    result = 0;
done:
    buf_dispose(&b);
    return result;
}

int kube__url(char **out, kube_client *c, const kube_ref *ref, const char *query)
{
    char *path = NULL;
    int result = kube_ref_path(&path, ref);
    *out = NULL;
    if (result != 0)
        return result;
    if (query != NULL && query[0] != '\0')
        *out = lb_sprintf("%s%s?%s", kube_config_server(c->cfg), path, query);
    else
        *out = lb_sprintf("%s%s", kube_config_server(c->cfg), path);
    free(path);
    if (strlen(*out) > KUBE_MAX_URL_BYTES) {
        free(*out);
        *out = NULL;
        return lb_error_setc(LB_ETOOBIG, "request URL longer than KUBE_MAX_URL_BYTES");
    }
    return 0;
}

void kube__count(kube_client *c, CURL *h)
{
    long n = 0;
    atomic_fetch_add(&c->requests, 1);
    if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &n) == CURLE_OK && n > 0)
        atomic_fetch_add(&c->connections, (unsigned long)n);
}

void kube_client_stats_get(kube_client_stats *out, kube_client *c)
{
    out->requests = atomic_load(&c->requests);
    out->connections = atomic_load(&c->connections);
}

void kube__metrics(kube_client *c, const char *verb, long http_status, double seconds)
{
    if (c->o.metrics != NULL)
        c->o.metrics(verb, http_status, seconds, c->o.metrics_payload);
}

/* ---- Status mapping ----------------------------------------------------------------- */

static int code_for_http(long http)
{
    switch (http) {
    case 400:
    case 422:
        return LB_EINVALID;
    case 404:
        return LB_ENOTFOUND;
    case 409:
        return LB_ECONFLICT;
    case 410:
        return LB_EGONE;
    case 413:
        return LB_ETOOBIG;
    case 429:
        return LB_ETHROTTLED;
    case 408:
    case 504:
        return LB_ETIMEOUT;
    default:
        return LB_ERROR;
    }
}

static int status_error(long http, const json_t *st, const char *raw, size_t raw_len,
                        const char *what)
{
    const char *reason = json_string_value(json_object_get(st, "reason"));
    const char *message = json_string_value(json_object_get(st, "message"));
    json_t *causes = json_object_get(json_object_get(st, "details"), "causes");
    char extra[512] = "";
    size_t used = 0, i;
    json_t *cause;
    int code;

    if (http == 0)
        http = (long)json_integer_value(json_object_get(st, "code"));
    code = code_for_http(http);
    if (json_is_array(causes) && http == 422) {
        json_array_foreach(causes, i, cause)
        {
            const char *f = json_string_value(json_object_get(cause, "field"));
            const char *m = json_string_value(json_object_get(cause, "message"));
            int n;
            if (f == NULL && m == NULL)
                continue;
            n = snprintf(extra + used, sizeof(extra) - used, "%s%s: %s", used ? "; " : " [",
                         f ? f : "", m ? m : "");
            if (n < 0 || (size_t)n >= sizeof(extra) - used - 1) {
                used = sizeof(extra) - 2;
                break;
            }
            used += (size_t)n;
        }
        if (used > 0) {
            extra[used] = ']';
            extra[used + 1] = '\0';
        }
    }
    if (message == NULL && raw != NULL && raw_len > 0) {
        /* Not a Status: show the start of the body, printable bytes only. */
        char snippet[201];
        size_t n = raw_len < sizeof(snippet) - 1 ? raw_len : sizeof(snippet) - 1;
        for (size_t k = 0; k < n; k++)
            snippet[k] = (raw[k] >= 0x20 && raw[k] < 0x7f) ? raw[k] : ' ';
        snippet[n] = '\0';
        return lb_error_setc(code, "%s: %ld: %s", what, http, snippet);
    }
    return lb_error_setc(code, "%s: %ld %s: %s%s", what, http, reason ? reason : "",
                         message ? message : "(no message)", extra);
}

int kube_status_error(long http_status, const char *body, size_t len, const char *what)
{
    json_t *st = NULL;
    int result;

    if (http_status >= 200 && http_status < 300)
        return 0;
    if (body != NULL && len > 0)
        st = json_loadb(body, len, 0, NULL);
    if (st != NULL && !json_is_object(st)) {
        json_decref(st);
        st = NULL;
    }
    result = status_error(http_status, st, body, len, what);
    json_decref(st);
    return result;
}

int kube_status_error_json(const json_t *status, const char *what)
{
    long http = (long)json_integer_value(json_object_get(status, "code"));
    if (http == 0)
        http = 500;
    return status_error(http, status, NULL, 0, what);
}

/* ---- client ------------------------------------------------------------------------- */

int kube_client_new(kube_client **out, kube_config *cfg, const kube_client_options *opts)
{
    kube_client *c;

    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK)
        return lb_error_set("curl_global_init: %s", curl_easy_strerror(curl_init_result));
    c = lb_calloc(1, sizeof(*c));
    c->cfg = cfg;
    if (opts != NULL)
        c->o = *opts;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = KUBE_DEFAULT_CONNECT_TIMEOUT_MS;
    if (c->o.timeout_ms <= 0)
        c->o.timeout_ms = KUBE_DEFAULT_TIMEOUT_MS;
    if (c->o.max_retries == 0)
        c->o.max_retries = KUBE_DEFAULT_MAX_RETRIES;
    if (c->o.max_retries < 0)
        c->o.max_retries = 0;
    if (c->o.max_retry_wait_ms <= 0)
        c->o.max_retry_wait_ms = KUBE_DEFAULT_MAX_RETRY_WAIT_MS;
    c->user_agent = lb_strdup(c->o.user_agent ? c->o.user_agent : "lifeboat");
    c->o.user_agent = c->user_agent;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    c->share = curl_share_init();
    if (c->share == NULL) {
        kube_client_free(c);
        return lb_error_set("curl_share_init failed");
    }
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    *out = c;
    return 0;
}

void kube_client_free(kube_client *c)
{
    if (c == NULL)
        return;
    if (c->share != NULL)
        curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->locks[i]);
    free(c->user_agent);
    free(c);
}

kube_config *kube_client_config(kube_client *c)
{
    return c->cfg;
}

/* libcurl sets SSL_MODE_RELEASE_BUFFERS on its OpenSSL contexts: the 16 KiB
 * read buffer is freed after every record and allocated again for the next.
 * On a watch stream that is a large malloc and free per event (with glibc's
 * fastbin consolidation each time: 6 % of the operator's CPU on no-op
 * events, perf); the few API server connections keep theirs instead. */
static CURLcode keep_tls_buffers(CURL *h, void *ssl_ctx, void *unused)
{
    (void)h;
    (void)unused;
    SSL_CTX_clear_mode((SSL_CTX *)ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
    return CURLE_OK;
}

CURL *kube__easy_new(kube_client *c, const char *url, const kube_credentials *creds,
                     struct curl_slist **headers)
{
    CURL *h = curl_easy_init();
    const unsigned char *ca;
    size_t ca_len;

    *headers = NULL;
    if (h == NULL) {
        lb_error_set("curl_easy_init failed");
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, keep_tls_buffers);
    /* curl_easy_perform() copies this to its own multi handle, which bounds the
     * connection cache all handles share through c->share (default 5): the
     * watches alone hold three, so every finished request closed the oldest
     * idle connection and the next opened a new one (a TCP and TLS handshake
     * per request, CA and client certificate parsed each time). */
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, (long)KUBE_MAX_CONNECTIONS);
    ca = kube_config_ca(c->cfg, &ca_len);
    if (kube_config_insecure(c->cfg)) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (ca != NULL) {
        struct curl_blob blob = {(void *)ca, ca_len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (creds->cert != NULL) {
        struct curl_blob cert = {creds->cert, creds->cert_len, CURL_BLOB_COPY};
        struct curl_blob key = {creds->key, creds->key_len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
    }
    *headers = curl_slist_append(*headers, "Accept: application/json");
    if (creds->token != NULL) {
        char *auth = lb_sprintf("Authorization: Bearer %s", creds->token);
        *headers = curl_slist_append(*headers, auth);
        lb_free_secret(auth);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
    return h;
}

/* ---- one request with retries ------------------------------------------------------- */

typedef struct request {
    const char *method; /* HTTP method */
    const char *verb;   /* for metrics and messages: GET, LIST, CREATE, ... */
    const kube_ref *ref;
    const char *query;
    const char *body;
    size_t body_len;
    const char *content_type;
    size_t cap;
    int unsafe; /* POST/PATCH: retry only where the server surely did not act */
} request;

typedef struct response {
    lb_buf body;
    long retry_after_s;        /* -1: none */
    int overflow;              /* the body passed its cap */
    kube_client *fence_client; /* non-NULL: fence this write again just before it is sent */
    const char *method, *what;
    int fenced;
} response;

/* libcurl calls this with the connection up, just before it writes the
 * request: a mutating request is fenced again there, so a replica paused
 * while connecting sends nothing once it no longer leads. */
static int on_prereq(void *payload, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
    response *r = payload;
    (void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
    if (r->fence_client != NULL &&
        r->fence_client->fence(r->fence_client->fence_payload, r->method, r->what) != 0) {
        r->fenced = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    response *r = userdata;
    size_t n = size * nmemb;
    if (buf_append(&r->body, ptr, n) != 0) {
        r->overflow = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    response *r = userdata;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof(name) && n < KUBE_MAX_HEADER_LINE &&
        strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
        char tmp[64];
        size_t k = n - (sizeof(name) - 1);
        char *end;
        long v;
        if (k >= sizeof(tmp))
            k = sizeof(tmp) - 1;
        memcpy(tmp, ptr + sizeof(name) - 1, k);
        tmp[k] = '\0';
        v = strtol(tmp, &end, 10);
        if (end != tmp && v >= 0)
            r->retry_after_s = v; /* the HTTP-date form is not used by the API server */
    }
    return n;
}

static int retryable_http(const request *rq, long http)
{
    if (http == 429 || http == 503)
        return 1;
    return !rq->unsafe && http >= 500 && http <= 599 && http != 501;
}

static int retryable_curl(const request *rq, CURLcode cc)
{
    if (rq->unsafe)
        return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST;
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
           cc == CURLE_GOT_NOTHING || cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR;
}

/* Performs rq; on 2xx *out holds the body (NUL-terminated, caller frees). */
static int do_request(char **out, size_t *out_len, kube_client *c, const request *rq)
{
    int result = LB_ERROR;
    char *url = NULL;
    char *what = NULL;
    int reauthed = 0;

    *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    result = kube__url(&url, c, rq->ref, rq->query);
    if (result != 0)
        return result;
    {
        char *path = NULL;
        kube_ref_path(&path, rq->ref);
        what = lb_sprintf("%s %s", rq->verb, path);
        free(path);
    }
    for (int attempt = 0;; attempt++) {
        kube_credentials creds;
        struct curl_slist *headers = NULL;
        response resp;
        CURL *h;
        CURLcode cc;
        long http = 0;
        double t0 = kube__now();
        long wait;

        if (c->fence != NULL && strcmp(rq->method, "GET") != 0) {
            result = c->fence(c->fence_payload, rq->method, what);
            if (result != 0) {
                char why[256];
                snprintf(why, sizeof(why), "%s", lb_error_last());
                result = lb_error_setc(result, "%s: not sent: %s", what, why);
                break;
            }
        }
        result = kube_config_credentials(&creds, c->cfg);
        if (result != 0)
            break;
        h = kube__easy_new(c, url, &creds, &headers);
        kube_credentials_dispose(&creds);
        if (h == NULL) {
            curl_slist_free_all(headers);
            result = LB_ERROR;
            break;
        }
        buf_init(&resp.body, rq->cap);
        resp.retry_after_s = -1;
        resp.overflow = 0;
        resp.fence_client = c->fence != NULL && strcmp(rq->method, "GET") != 0 ? c : NULL;
        resp.method = rq->method;
        resp.what = what;
        resp.fenced = 0;
        curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
        curl_easy_setopt(h, CURLOPT_PREREQDATA, &resp);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->o.timeout_ms);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp);
        if (strcmp(rq->method, "GET") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
        if (rq->body != NULL) {
            char *ct = lb_sprintf("Content-Type: %s", rq->content_type);
            headers = curl_slist_append(headers, ct);
            free(ct);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        }
        cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
        kube__count(c, h);
        curl_easy_cleanup(h);
        curl_slist_free_all(headers);
        kube__metrics(c, rq->verb, cc == CURLE_OK ? http : 0, kube__now() - t0);

        if (cc != CURLE_OK) {
            if (resp.fenced) {
                char why[256];
                snprintf(why, sizeof(why), "%s", lb_error_last());
                result = lb_error_setc(LB_EFENCED, "%s: not sent: %s", what, why);
                buf_dispose(&resp.body);
                break;
            }
            if (cc == CURLE_WRITE_ERROR && resp.overflow) {
                result =
                    lb_error_setc(LB_ETOOBIG, "%s: response larger than %zu bytes", what, rq->cap);
                buf_dispose(&resp.body);
                break;
            }
            result = lb_error_setc(cc == CURLE_OPERATION_TIMEDOUT ? LB_ETIMEOUT : LB_ERROR,
                                   "%s: %s", what, curl_easy_strerror(cc));
            buf_dispose(&resp.body);
            if (attempt < c->o.max_retries && retryable_curl(rq, cc)) {
                sleep_ms(backoff_ms(attempt, c->o.max_retry_wait_ms));
                continue;
            }
            break;
        }
        if (http >= 200 && http < 300) {
            *out = buf_detach(&resp.body, out_len);
            result = 0;
            break;
        }
        result = kube_status_error(http, buf_cstr(&resp.body), buf_len(&resp.body), what);
        buf_dispose(&resp.body);
        if (http == 401 && !reauthed) {
            /* A rotated token or an expired exec credential: fetch fresh ones once. */
            reauthed = 1;
            kube_config_invalidate(c->cfg);
            continue;
        }
        if (attempt >= c->o.max_retries || !retryable_http(rq, http))
            break;
        if (resp.retry_after_s >= 0) {
            wait = resp.retry_after_s * 1000;
            if (wait > c->o.max_retry_wait_ms)
                wait = c->o.max_retry_wait_ms;
        } else {
            wait = backoff_ms(attempt, c->o.max_retry_wait_ms);
        }
        sleep_ms(wait);
    }
    free(url);
    free(what);
    return result;
}

/* Runs rq and decodes its answer into *out (out NULL: the answer is
 * dropped): whole with keep NULL, else only what keep's paths read. */
static int request_kept(json_t **out, kube_client *c, const request *rq, const kube_keep_spec *keep)
{
    char *text = NULL;
    size_t len = 0;
    json_error_t jerr;
    json_t *doc;
    int result;

    if (out != NULL)
        *out = NULL;
    result = do_request(&text, &len, c, rq);
    if (result != 0)
        return result;
    if (out == NULL) {
        free(text);
        return 0;
    }
    if (keep != NULL) {
        result = kube_keep_decode(&doc, keep, text, len);
        free(text);
        if (result != 0)
            return lb_error_wrap(result, "%s %s: response", rq->verb, rq->ref->resource);
        *out = doc;
        return 0;
    }
    doc = json_loadb(text, len, 0, &jerr);
    free(text);
    if (doc == NULL)
        return lb_error_setc(LB_EINVALID, "%s %s: response is not JSON: %s", rq->verb,
                             rq->ref->resource, jerr.text);
    *out = doc;
    return 0;
}

static int request_json(json_t **out, kube_client *c, const request *rq)
{
    return request_kept(out, c, rq, NULL);
}

static char *dump_body(const json_t *body, size_t *len)
{
    char *text = json_dumps(body, JSON_COMPACT);
    if (text == NULL)
        text = lb_strdup("null");
    *len = strlen(text);
    return text;
}

int kube_get(json_t **out, kube_client *c, const kube_ref *ref)
{
    request rq = {"GET", "GET", ref, NULL, NULL, 0, NULL, KUBE_MAX_OBJECT_BYTES, 0};
    return request_json(out, c, &rq);
}

/* What kube_list reads of a List besides the caller's kept paths. */
static const char *const list_fields[] = {"/metadata/resourceVersion",
                                          "/metadata/continue",
                                          "/items/*/metadata/name",
                                          "/items/*/metadata/namespace",
                                          "/items/*/metadata/resourceVersion",
                                          NULL};

int kube_list(json_t **out, kube_client *c, const kube_ref *ref, const kube_list_options *opts)
{
    request rq = {"GET", "LIST", ref, NULL, NULL, 0, NULL, KUBE_MAX_LIST_BYTES, 0};
    lb_buf q;
    int result;

    *out = NULL;
    if (ref->name != NULL)
        return lb_error_setc(LB_EINVALID, "kube_list: ref.name must be NULL for a list");
    buf_init(&q, KUBE_MAX_URL_BYTES);
    if (opts != NULL) {
        int rc = 0;
        if (opts->label_selector != NULL && opts->label_selector[0])
            rc |= kube__query_add(&q, "labelSelector", opts->label_selector);
        if (opts->field_selector != NULL && opts->field_selector[0])
            rc |= kube__query_add(&q, "fieldSelector", opts->field_selector);
        if (opts->limit > 0) {
            char n[32];
            snprintf(n, sizeof(n), "%ld", opts->limit);
            rc |= kube__query_add(&q, "limit", n);
        }
        if (opts->continue_token != NULL && opts->continue_token[0])
            rc |= kube__query_add(&q, "continue", opts->continue_token);
        if (opts->resource_version != NULL)
            rc |= kube__query_add(&q, "resourceVersion", opts->resource_version);
        if (rc != 0) {
            buf_dispose(&q);
            return lb_error_setc(LB_ETOOBIG, "kube_list: query longer than KUBE_MAX_URL_BYTES");
        }
    }
    rq.query = buf_cstr(&q);
    if (opts != NULL && opts->keep != NULL) {
        kube_keep_spec *keep;
        result = kube_keep_compile(&keep, "/items/*", opts->keep, list_fields);
        if (result == 0) {
            result = request_kept(out, c, &rq, keep);
            kube_keep_spec_free(keep);
        }
    } else {
        result = request_json(out, c, &rq);
    }
    buf_dispose(&q);
    return result;
}

int kube_create(json_t **out, kube_client *c, const kube_ref *ref, const json_t *body)
{
    request rq = {"POST", "CREATE", ref, NULL, NULL, 0, "application/json", KUBE_MAX_OBJECT_BYTES,
                  1};
    char *text = dump_body(body, &rq.body_len);
    int result;
    rq.body = text;
    result = request_json(out, c, &rq);
    free(text);
    return result;
}

int kube_replace(json_t **out, kube_client *c, const kube_ref *ref, const json_t *body)
{
    request rq = {"PUT", "UPDATE", ref, NULL, NULL, 0, "application/json", KUBE_MAX_OBJECT_BYTES,
                  0};
    char *text = dump_body(body, &rq.body_len);
    int result;
    rq.body = text;
    result = request_json(out, c, &rq);
    free(text);
    return result;
}

int kube_patch(json_t **out, kube_client *c, const kube_ref *ref, kube_patch_type type,
               const char *body, size_t len, const kube_patch_options *opts)
{
    request rq = {"PATCH", "PATCH", ref, NULL, body, len, NULL, KUBE_MAX_OBJECT_BYTES, 1};
    lb_buf q;
    int result;

    if (out != NULL)
        *out = NULL;
    switch (type) {
    case KUBE_PATCH_JSON:
        rq.content_type = "application/json-patch+json";
        break;
    case KUBE_PATCH_MERGE:
        rq.content_type = "application/merge-patch+json";
        break;
    case KUBE_PATCH_STRATEGIC:
        rq.content_type = "application/strategic-merge-patch+json";
        break;
    case KUBE_PATCH_APPLY:
        rq.content_type = "application/apply-patch+yaml";
        rq.verb = "APPLY";
        break;
    default:
        return lb_error_setc(LB_EINVALID, "kube_patch: unknown patch type %d", (int)type);
    }
    buf_init(&q, KUBE_MAX_URL_BYTES);
    if (opts != NULL && opts->field_manager != NULL && opts->field_manager[0]) {
        if (kube__query_add(&q, "fieldManager", opts->field_manager) != 0) {
            buf_dispose(&q);
            return lb_error_setc(LB_ETOOBIG, "kube_patch: fieldManager too long");
        }
    } else if (type == KUBE_PATCH_APPLY) {
        return lb_error_setc(LB_EINVALID, "kube_patch: fieldManager is required for apply");
    }
    if (opts != NULL && opts->force && type == KUBE_PATCH_APPLY)
        kube__query_add(&q, "force", "true");
    rq.query = buf_cstr(&q);
    result = request_json(out, c, &rq);
    buf_dispose(&q);
    return result;
}

int kube_delete(json_t **out, kube_client *c, const kube_ref *ref, const char *propagation)
{
    request rq = {"DELETE", "DELETE", ref, NULL, NULL, 0, "application/json", KUBE_MAX_OBJECT_BYTES,
                  0};
    char *text = NULL;
    int result;

    if (propagation != NULL) {
        if (strcmp(propagation, "Background") != 0 && strcmp(propagation, "Foreground") != 0 &&
            strcmp(propagation, "Orphan") != 0) {
            if (out != NULL)
                *out = NULL;
            return lb_error_setc(LB_EINVALID, "propagationPolicy: must be Background, "
                                              "Foreground or Orphan");
        }
        text = lb_sprintf("{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                          "\"propagationPolicy\":\"%s\"}",
                          propagation);
        rq.body = text;
        rq.body_len = strlen(text);
    }
    result = request_json(out, c, &rq);
    free(text);
    return result;
}

int kube_get_text(char **out, size_t *out_len, kube_client *c, const kube_ref *ref,
                  const char *query)
{
    request rq = {"GET", "GET", ref, query, NULL, 0, NULL, KUBE_MAX_LOG_BYTES, 0};
    return do_request(out, out_len, c, &rq);
}

void kube_client_set_fence(kube_client *c, kube_fence_fn fn, void *payload)
{
    c->fence = fn;
    c->fence_payload = payload;
}
