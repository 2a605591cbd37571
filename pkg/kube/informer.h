/* informer.h - a list+watch cache of one kind (DESIGN.md section 2).
 *
 * A background thread LISTs the collection page by page (limit/continue),
 * then WATCHes from the list's resourceVersion with bookmarks. When a watch
 * stream ends it watches again from the last resourceVersion seen; a 410
 * (LB_EGONE) relists at once; any other error waits a capped, jittered
 * backoff and relists. A relist is diffed against the cache so handlers see
 * the adds, updates and deletes that happened while the watch was down.
 *
 * Handlers run on the informer's thread, one at a time, after the cache has
 * been updated. Cached objects are shared: treat them as read-only
 * (jansson's reference counts are atomic, the objects themselves are not
 * locked). Safe to call from any thread: _get, _keys, _len, _has_synced,
 * _wait_synced, _stop.
 */
#ifndef LB_KUBE_INFORMER_H
#define LB_KUBE_INFORMER_H

#include <stddef.h>

#include <jansson.h>

#include "kube/client.h"

#define KUBE_INFORMER_PAGE_SIZE   500
#define KUBE_INFORMER_BACKOFF_MS  200   /* first wait after an error */
#define KUBE_INFORMER_MAX_BACKOFF 30000 /* cap on that wait, ms */
#define KUBE_INFORMER_MAX_KEY     512   /* "namespace/name" */

typedef struct kube_informer kube_informer;

/* Each handler may be NULL. Objects are borrowed for the call. On a resync,
 * on_update gets the same object twice. With `keep` (options), an update whose
 * kept view is the cached one but for metadata.resourceVersion (an annotation,
 * a label or a field outside the view changed) goes to on_unchanged, not
 * on_update: nothing the view holds differs. The views are compared as text,
 * so a change of key order alone counts as a change (reported to on_update). */
typedef struct kube_informer_handlers {
    void (*on_add)(json_t *obj, void *payload);
    void (*on_update)(json_t *old_obj, json_t *new_obj, void *payload);
    void (*on_unchanged)(json_t *obj, void *payload);
    void (*on_delete)(json_t *obj, void *payload);
    void *payload;
} kube_informer_handlers;

typedef struct kube_informer_options {
    const char *label_selector;
    const char *field_selector;
    long page_size;            /* default KUBE_INFORMER_PAGE_SIZE */
    int watch_timeout_seconds; /* default KUBE_WATCH_DEFAULT_TIMEOUT_S */
    int resync_seconds;        /* 0: never; else on_update(obj, obj) for every object */
    long backoff_ms;           /* default KUBE_INFORMER_BACKOFF_MS */
    long max_backoff_ms;       /* default KUBE_INFORMER_MAX_BACKOFF */
    /* NULL: cache whole objects (less the bookkeeping below). Otherwise the
     * kept-view paths (kube/keep.h, borrowed: must outlive the informer): each
     * decoded object is cut to them at once, and the cache and the handlers
     * see only that view. The cache holds each view as its compact JSON
     * text (a few hundred bytes where jansson's tree of it takes KiBs);
     * _get and the handlers get it decoded, a new object each time. */
    const char *const *keep;
} kube_informer_options;

/* Without `keep`, cached objects (and the objects the handlers get) carry neither
 * metadata.managedFields nor this annotation: nothing decides on them, and
 * they are often the bulk of an object applied with kubectl. */
#define KUBE_LAST_APPLIED_ANNOTATION "kubectl.kubernetes.io/last-applied-configuration"

/* Creates an informer for the collection `ref` (ref->name NULL; strings are
 * copied). `opts` may be NULL; `handlers` is copied. The client is borrowed. */
int kube_informer_new(kube_informer **out, kube_client *c, const kube_ref *ref,
                      const kube_informer_options *opts, const kube_informer_handlers *handlers);

/* Starts the background thread. */
int kube_informer_start(kube_informer *inf);

/* Stops the thread (cancels a running watch; a LIST in flight finishes first,
 * bounded by the client's timeout) and waits for it. Idempotent. */
void kube_informer_stop(kube_informer *inf);

/* Stops if needed and frees; NULL is accepted. */
void kube_informer_free(kube_informer *inf);

/* Non-zero once the first LIST has filled the cache. */
int kube_informer_has_synced(kube_informer *inf);

/* Waits at most timeout_ms (< 0: for ever) for the first sync: 0 or LB_ETIMEOUT. */
int kube_informer_wait_synced(kube_informer *inf, long timeout_ms);

/* The cached object namespace/name (namespace NULL for cluster-scoped), as a
 * new reference the caller releases with json_decref(), or NULL. */
json_t *kube_informer_get(kube_informer *inf, const char *namespace, const char *name);

/* Number of cached objects. */
size_t kube_informer_len(kube_informer *inf);

/* A new JSON array of the cached keys ("ns/name" or "name"), sorted. */
json_t *kube_informer_keys(kube_informer *inf);

/* Counters for tests and metrics: LISTs done (relists included) and watch requests made. */
void kube_informer_counts(kube_informer *inf, unsigned long *lists, unsigned long *watches);

/* The last completed LIST-and-diff (the first fill, or a relist after a 410 or
 * a broken watch): its wall duration in seconds, every page and every handler
 * call included, and when it ended (Unix seconds). Both 0 before one completed. */
void kube_informer_last_list(kube_informer *inf, double *seconds, double *ended_unix);

#endif
