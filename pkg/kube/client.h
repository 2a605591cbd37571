/* client.h - a thread-safe Kubernetes REST client on libcurl and jansson.
 *
 * Requests and responses are JSON objects (jansson); there is no generated
 * model per kind. A non-2xx answer carrying a Kubernetes `Status` becomes one
 * of the codes of util/error.h with the server's message in lb_error_last():
 *
 *   400, 422  LB_EINVALID     (422 lists details.causes: "field: message")
 *   404       LB_ENOTFOUND
 *   409       LB_ECONFLICT    (AlreadyExists and stale resourceVersion)
 *   410       LB_EGONE
 *   413       LB_ETOOBIG
 *   429       LB_ETHROTTLED   (after the retries below)
 *   408, 504  LB_ETIMEOUT
 *   other     LB_ERROR
 *
 * Connection reuse: every request uses its own curl easy handle (no per-request
 * state lives on the shared client, so any thread may call any function at any
 * time), and all handles of one client share a CURLSH holding the connection
 * pool, DNS cache and TLS session cache. A per-thread handle would also reuse
 * connections but would tie a long watch to a thread's only handle and keep
 * idle connections per thread; the share keeps one pool per client.
 *
 * 429 and 5xx answers are retried at most `max_retries` times, waiting what
 * Retry-After says (capped at max_retry_wait_ms) or else an exponential backoff
 * with full jitter. POST and PATCH are retried on 429 and 503 only, where the
 * server did not act; connection failures are retried for GET/PUT/DELETE.
 */
#ifndef LB_KUBE_CLIENT_H
#define LB_KUBE_CLIENT_H

#include <stddef.h>

#include <jansson.h>

#include "kube/config.h"

#define KUBE_MAX_OBJECT_BYTES (3u << 20)  /* one object (the API server's own limit) */
#define KUBE_MAX_LIST_BYTES   (64u << 20) /* one LIST page */
#define KUBE_MAX_LOG_BYTES    (4u << 20)  /* a pod log read */
#define KUBE_MAX_ERROR_BYTES  (64u << 10) /* a non-2xx body kept to read its Status */
#define KUBE_MAX_URL_BYTES    8192        /* a request URL */
#define KUBE_MAX_CONNECTIONS  64          /* open API server connections kept per client */

typedef struct kube_client kube_client;

/* What a request addresses. group "" (or NULL) is the core API (/api/v1). */
typedef struct kube_ref {
    const char *group;       /* "apps", "lifeboat.dev", "" */
    const char *version;     /* "v1" */
    const char *resource;    /* plural: "configmaps" */
    const char *namespace;   /* NULL: cluster-scoped, or all namespaces for a list */
    const char *name;        /* NULL: the collection */
    const char *subresource; /* "status", "log", NULL */
} kube_ref;

/* Called after every HTTP exchange (retries included): verb ("GET", "LIST",
 * "WATCH", ...), the HTTP status (0 when no answer arrived) and the time it took. */
typedef void (*kube_metrics_fn)(const char *verb, long http_status, double seconds, void *payload);

typedef struct kube_client_options {
    long connect_timeout_ms; /* default 5000 */
    long timeout_ms;         /* a whole request, default 30000 (watches: see watch.h) */
    int max_retries;         /* 429/5xx retries, default 5; -1 for none */
    long max_retry_wait_ms;  /* cap on one wait, default 10000 */
    const char *user_agent;  /* default "lifeboat" */
    kube_metrics_fn metrics; /* optional */
    void *metrics_payload;
} kube_client_options;

/* Creates a client for `cfg`, which is borrowed and must outlive the client.
 * `opts` may be NULL (defaults above). *out is freed with kube_client_free(). */
int kube_client_new(kube_client **out, kube_config *cfg, const kube_client_options *opts);

/* Frees a client; NULL is accepted. No request may still be running. */
void kube_client_free(kube_client *c);

typedef struct kube_client_stats {
    unsigned long requests;    /* HTTP exchanges, retries included (watches too) */
    unsigned long connections; /* new connections opened for them */
} kube_client_stats;

/* Counters since kube_client_new(); connections well below requests shows reuse. */
void kube_client_stats_get(kube_client_stats *out, kube_client *c);

/* A fence on writes: called before every attempt of every request that is not
 * a GET, with the method and "<VERB> <path>"; a non-zero (negative LB_*)
 * return stops the request unsent with that code (message from the fence's
 * lb_error_set). The operator fences on holding the leader Lease
 * (kube/leader.h), exempting the Lease itself. */
typedef int (*kube_fence_fn)(void *payload, const char *method, const char *what);

/* Installs (fn NULL: removes) the fence; call before other threads use c. */
void kube_client_set_fence(kube_client *c, kube_fence_fn fn, void *payload);

/* The config the client was made with (borrowed). */
kube_config *kube_client_config(kube_client *c);

/* GET one object. *out is a new reference the caller releases with json_decref(). */
int kube_get(json_t **out, kube_client *c, const kube_ref *ref);

typedef struct kube_list_options {
    const char *label_selector;   /* "app=x,tier!=db" */
    const char *field_selector;   /* "metadata.name=x" */
    long limit;                   /* 0: no limit */
    const char *continue_token;   /* from the previous page's metadata.continue */
    const char *resource_version; /* NULL: most recent */
    const char *const *keep;      /* NULL: items decoded whole; else only what
                                   * kube_keep_view(item, keep) reads (kube/keep.h) plus
                                   * each item's metadata.name/namespace/resourceVersion */
} kube_list_options;

/* LIST one page of a collection (ref->name NULL). *out is the List object;
 * the next page's token is its metadata.continue (absent or "" on the last);
 * with opts->keep, the List holds only those parts of its items (and its own
 * metadata). */
int kube_list(json_t **out, kube_client *c, const kube_ref *ref, const kube_list_options *opts);

/* POST `body` to the collection; *out (may be NULL) receives the created object. */
int kube_create(json_t **out, kube_client *c, const kube_ref *ref, const json_t *body);

/* PUT `body` to the object (or subresource); 409 LB_ECONFLICT on a stale
 * metadata.resourceVersion. */
int kube_replace(json_t **out, kube_client *c, const kube_ref *ref, const json_t *body);

typedef enum kube_patch_type {
    KUBE_PATCH_JSON,      /* application/json-patch+json */
    KUBE_PATCH_MERGE,     /* application/merge-patch+json */
    KUBE_PATCH_STRATEGIC, /* application/strategic-merge-patch+json (built-in kinds) */
    KUBE_PATCH_APPLY,     /* application/apply-patch+yaml (server-side apply) */
} kube_patch_type;

typedef struct kube_patch_options {
    const char *field_manager; /* required for KUBE_PATCH_APPLY */
    int force;                 /* apply: take over conflicting fields */
} kube_patch_options;

/* PATCH with `body` (len bytes: JSON, or YAML for apply). opts may be NULL
 * except for KUBE_PATCH_APPLY. *out (may be NULL) receives the result. */
int kube_patch(json_t **out, kube_client *c, const kube_ref *ref, kube_patch_type type,
               const char *body, size_t len, const kube_patch_options *opts);

/* DELETE with propagationPolicy ("Background", "Foreground", "Orphan" or NULL
 * for the server's default). *out (may be NULL) receives the answer: the
 * object while finalizers remain (202), else a Status or the object (200). */
int kube_delete(json_t **out, kube_client *c, const kube_ref *ref, const char *propagation);

/* GET a text subresource such as "log"; `query` ("container=x&tailLines=50",
 * already URL-encoded, may be NULL) is appended. *out is NUL-terminated, at
 * most KUBE_MAX_LOG_BYTES long, and freed by the caller. */
int kube_get_text(char **out, size_t *out_len, kube_client *c, const kube_ref *ref,
                  const char *query);

/* Builds the URL path of `ref` ("/apis/apps/v1/namespaces/x/deployments/y")
 * with each segment percent-encoded. The caller frees *out. */
int kube_ref_path(char **out, const kube_ref *ref);

/* Turns an HTTP status and its body (a Kubernetes Status, or anything else)
 * into a code from the table above and sets lb_error_last() to
 * "<what>: <code> <reason>: <message>". Returns 0 for 2xx. Used by the
 * client and the watch; exposed for tests. */
int kube_status_error(long http_status, const char *body, size_t len, const char *what);

/* The same mapping for a decoded Status object (a watch ERROR event). */
int kube_status_error_json(const json_t *status, const char *what);

#endif
