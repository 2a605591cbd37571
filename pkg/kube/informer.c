/* informer.c - list, watch, relist on 410, backoff, resync. */
#include "kube/informer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/keep.h"
#include "kube/watch.h"
#include "util/alloc.h"
#include "util/backoff.h"
#include "util/error.h"
#include "util/timeutil.h"

struct kube_informer {
    kube_client *c;
    char *group, *version, *resource, *namespace;
    kube_informer_options o;
    char *label_selector, *field_selector;
    kube_informer_handlers h;
    kube_watch *watch;

    pthread_mutex_t mu; /* guards store, synced, stop; cond signals both */
    pthread_cond_t cond;
    json_t *store; /* key -> object */
    int synced;
    int stop;
    int started;
    pthread_t thread;
    atomic_ulong lists, watches;
    _Atomic int64_t last_list_ns;     /* wall duration of the last LIST-and-diff */
    _Atomic int64_t last_list_end_ns; /* when it ended, Unix nanoseconds */
};

static char *dup_or_null(const char *s)
{
    return s != NULL ? lb_strdup(s) : NULL;
}

/* "ns/name", or "name" for cluster-scoped objects; 0 or LB_EINVALID. */
static int object_key(char *out, size_t size, const json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    int n;
    if (name == NULL || name[0] == '\0')
        return LB_EINVALID;
    n = (ns != NULL && ns[0] != '\0') ? snprintf(out, size, "%s/%s", ns, name)
                                      : snprintf(out, size, "%s", name);
    return (n < 0 || (size_t)n >= size) ? LB_EINVALID : 0;
}

static const char *object_rv(const json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

int kube_informer_new(kube_informer **out, kube_client *c, const kube_ref *ref,
                      const kube_informer_options *opts, const kube_informer_handlers *handlers)
{
    kube_informer *inf;
    kube_watch_options wo = {0};
    int result;

    *out = NULL;
    if (ref->name != NULL || ref->subresource != NULL)
        return lb_error_setc(LB_EINVALID, "kube_informer: ref must name a collection");
    inf = lb_calloc(1, sizeof(*inf));
    inf->c = c;
    inf->group = dup_or_null(ref->group);
    inf->version = dup_or_null(ref->version);
    inf->resource = dup_or_null(ref->resource);
    inf->namespace = dup_or_null(ref->namespace);
    if (opts != NULL)
        inf->o = *opts;
    inf->label_selector = dup_or_null(inf->o.label_selector);
    inf->field_selector = dup_or_null(inf->o.field_selector);
    inf->o.label_selector = inf->label_selector;
    inf->o.field_selector = inf->field_selector;
    if (inf->o.page_size <= 0)
        inf->o.page_size = KUBE_INFORMER_PAGE_SIZE;
    if (inf->o.watch_timeout_seconds <= 0)
        inf->o.watch_timeout_seconds = KUBE_WATCH_DEFAULT_TIMEOUT_S;
    if (inf->o.resync_seconds > 0 && inf->o.resync_seconds < inf->o.watch_timeout_seconds)
        inf->o.watch_timeout_seconds = inf->o.resync_seconds; /* resync between streams */
    if (inf->o.backoff_ms <= 0)
        inf->o.backoff_ms = KUBE_INFORMER_BACKOFF_MS;
    if (inf->o.max_backoff_ms <= 0)
        inf->o.max_backoff_ms = KUBE_INFORMER_MAX_BACKOFF;
    if (handlers != NULL)
        inf->h = *handlers;
    pthread_mutex_init(&inf->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&inf->cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    inf->store = json_object();
    wo.label_selector = inf->label_selector;
    wo.field_selector = inf->field_selector;
    wo.timeout_seconds = inf->o.watch_timeout_seconds;
    wo.keep = inf->o.keep; /* events decoded into what the kept view reads */
    result = kube_watch_new(&inf->watch, c, ref, &wo);
    if (result != 0) {
        kube_informer_free(inf);
        return result;
    }
    *out = inf;
    return 0;
}

/* ---- applying changes (informer thread) ---------------------------------------------- */

/* What no Lifeboat decision reads and every object may carry, often bigger
 * than the rest of it: the server-side-apply field owners and kubectl's copy of
 * the last applied manifest (controller-runtime's TransformStripManagedFields,
 * plus the annotation). Dropped before the object is cached or handed on. */
static void strip_bookkeeping(json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    json_t *ann = json_object_get(md, "annotations");
    json_object_del(md, "managedFields");
    if (json_object_del(ann, KUBE_LAST_APPLIED_ANNOTATION) == 0 && json_object_size(ann) == 0)
        json_object_del(md, "annotations");
}

/* What the cache holds for a decoded object: its kept view (a new
 * reference), or the object itself less the bookkeeping without `keep`. */
static json_t *cached_form(kube_informer *inf, json_t *obj)
{
    if (inf->o.keep != NULL)
        return kube_keep_view(obj, inf->o.keep);
    strip_bookkeeping(obj);
    return json_incref(obj);
}

/* How the store holds a cached form (new reference): a kept view as the
 * compact JSON text of the view less metadata.resourceVersion, a newline, and
 * the resourceVersion (a few hundred bytes, where jansson's tree of the same
 * view takes several KiB); a whole object as itself. Compact JSON holds no raw
 * newline, so the last one splits the two; with the version apart, an update
 * that changed nothing else is found by comparing the texts, not decoding. */
static json_t *packed(kube_informer *inf, json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata"), *rv, *s;
    char *text, *entry;
    size_t text_len, rv_len;
    if (inf->o.keep == NULL)
        return json_incref(obj);
    rv = json_incref(json_object_get(md, "resourceVersion"));
    json_object_del(md, "resourceVersion");
    text = json_dumps(obj, JSON_COMPACT);
    if (rv != NULL)
        json_object_set_new(md, "resourceVersion", rv); /* put back (now last) */
    if (text == NULL)
        return NULL;
    text_len = strlen(text);
    rv_len = json_is_string(rv) ? json_string_length(rv) : 0;
    entry = lb_malloc(text_len + 1 + rv_len);
    memcpy(entry, text, text_len);
    entry[text_len] = '\n';
    if (rv_len > 0)
        memcpy(entry + text_len + 1, json_string_value(rv), rv_len);
    s = json_stringn_nocheck(entry, text_len + 1 + rv_len);
    free(text);
    free(entry);
    return s;
}

/* The length of a packed entry's view text (before its newline), or
 * json_string_length when there is none. */
static size_t packed_view_len(const json_t *stored)
{
    const char *s = json_string_value(stored);
    const char *nl = memrchr(s, '\n', json_string_length(stored));
    return nl != NULL ? (size_t)(nl - s) : json_string_length(stored);
}

/* 1 when the packed entries a and b hold the same view but for the version. */
static int packed_same_view(const json_t *a, const json_t *b)
{
    size_t n;
    if (!json_is_string(a) || !json_is_string(b))
        return 0;
    n = packed_view_len(a);
    return n == packed_view_len(b) && memcmp(json_string_value(a), json_string_value(b), n) == 0;
}

/* The object a stored entry stands for (new reference; NULL for NULL). */
static json_t *unpacked(const json_t *stored)
{
    json_error_t err;
    json_t *obj, *md;
    size_t n;
    if (!json_is_string(stored))
        return json_incref((json_t *)stored);
    n = packed_view_len(stored);
    obj = json_loadb(json_string_value(stored), n, 0, &err);
    md = json_object_get(obj, "metadata");
    if (md != NULL && n + 1 < json_string_length(stored)) /* a version follows */
        json_object_set_new(md, "resourceVersion",
                            json_stringn_nocheck(json_string_value(stored) + n + 1,
                                                 json_string_length(stored) - n - 1));
    return obj;
}

/* The resourceVersion of a stored entry: written into out (at least
 * KUBE_MAX_RV_BYTES + 1 bytes); "" when it has none. */
static const char *stored_rv(char *out, const json_t *stored)
{
    size_t n, len;
    out[0] = '\0';
    if (!json_is_string(stored)) {
        snprintf(out, KUBE_MAX_RV_BYTES + 1, "%s", object_rv(stored) ?: "");
        return out;
    }
    n = packed_view_len(stored);
    len = json_string_length(stored);
    if (n < len && len - n - 1 <= KUBE_MAX_RV_BYTES) {
        memcpy(out, json_string_value(stored) + n + 1, len - n - 1);
        out[len - n - 1] = '\0';
    }
    return out;
}

/* Stores obj (already in its cached form; borrowed) under key and runs the
 * add, update or unchanged handler. */
static void store_and_report(kube_informer *inf, const char *key, json_t *obj)
{
    json_t *old, *prev, *entry = packed(inf, obj);
    if (entry == NULL)
        return; /* out of memory: the next relist retries */
    pthread_mutex_lock(&inf->mu);
    prev = json_incref(json_object_get(inf->store, key));
    json_object_set_new(inf->store, key, entry);
    pthread_mutex_unlock(&inf->mu);
    if (prev != NULL && packed_same_view(prev, entry)) {
        json_decref(prev);
        if (inf->h.on_unchanged != NULL)
            inf->h.on_unchanged(obj, inf->h.payload);
        return;
    }
    old = unpacked(prev);
    json_decref(prev);
    if (old != NULL) {
        if (inf->h.on_update != NULL)
            inf->h.on_update(old, obj, inf->h.payload);
    } else if (inf->h.on_add != NULL) {
        inf->h.on_add(obj, inf->h.payload);
    }
    json_decref(old);
}

static void apply_upsert(kube_informer *inf, json_t *full)
{
    char key[KUBE_INFORMER_MAX_KEY];
    json_t *obj;
    if (object_key(key, sizeof(key), full) != 0)
        return; /* an object without a name cannot be cached */
    obj = cached_form(inf, full);
    store_and_report(inf, key, obj);
    json_decref(obj);
}

static void apply_delete(kube_informer *inf, json_t *full)
{
    char key[KUBE_INFORMER_MAX_KEY];
    json_t *obj;
    int had;
    if (object_key(key, sizeof(key), full) != 0)
        return;
    pthread_mutex_lock(&inf->mu);
    had = json_object_get(inf->store, key) != NULL;
    json_object_del(inf->store, key);
    pthread_mutex_unlock(&inf->mu);
    if (had && inf->h.on_delete != NULL) {
        obj = cached_form(inf, full);
        inf->h.on_delete(obj, inf->h.payload);
        json_decref(obj);
    }
}

static int on_event(const char *type, json_t *obj, void *payload)
{
    kube_informer *inf = payload;
    if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0)
        apply_upsert(inf, obj);
    else if (strcmp(type, "DELETED") == 0)
        apply_delete(inf, obj);
    return 0; /* BOOKMARK: the watch keeps its resourceVersion */
}

/* LISTs every page into a fresh map and diffs it against the cache. */
static int relist(kube_informer *inf)
{
    kube_ref ref = {inf->group, inf->version, inf->resource, inf->namespace, NULL, NULL};
    kube_list_options lo = {inf->label_selector, inf->field_selector, inf->o.page_size, NULL, NULL,
                            inf->o.keep};
    json_t *fresh = json_object(), *gone, *obj, *page = NULL;
    char *cont = NULL;
    char rv[KUBE_MAX_RV_BYTES + 1] = "";
    const char *key;
    void *tmp;
    int result = 0;
    int64_t t0 = lb_time_monotonic_ns();

    for (;;) {
        const char *next, *page_rv;
        json_t *item;
        size_t i;
        lo.continue_token = cont;
        result = kube_list(&page, inf->c, &ref, &lo);
        if (result != 0)
            goto done;
        json_array_foreach(json_object_get(page, "items"), i, item)
        {
            char k[KUBE_INFORMER_MAX_KEY];
            if (object_key(k, sizeof(k), item) == 0) /* the page's full items go with it */
                json_object_set_new(fresh, k, cached_form(inf, item));
        }
        page_rv = json_string_value(
            json_object_get(json_object_get(page, "metadata"), "resourceVersion"));
        if (page_rv != NULL)
            snprintf(rv, sizeof(rv), "%s", page_rv);
        next = json_string_value(json_object_get(json_object_get(page, "metadata"), "continue"));
        free(cont);
        cont = (next != NULL && next[0] != '\0') ? lb_strdup(next) : NULL;
        json_decref(page);
        page = NULL;
        if (cont == NULL)
            break;
    }
    atomic_fetch_add(&inf->lists, 1);

    /* deletes first: what the cache holds and the list does not */
    pthread_mutex_lock(&inf->mu);
    gone = json_object();
    json_object_foreach_safe(inf->store, tmp, key, obj)
    {
        if (json_object_get(fresh, key) == NULL) {
            json_object_set(gone, key, obj);
            json_object_del(inf->store, key);
        }
    }
    pthread_mutex_unlock(&inf->mu);
    json_object_foreach(gone, key, obj)
    {
        json_t *view = unpacked(obj);
        if (inf->h.on_delete != NULL && view != NULL)
            inf->h.on_delete(view, inf->h.payload);
        json_decref(view);
    }
    json_decref(gone);
    json_object_foreach(fresh, key, obj)
    {
        char cached_rv[KUBE_MAX_RV_BYTES + 1] = "";
        const char *b = object_rv(obj);
        pthread_mutex_lock(&inf->mu);
        {
            const json_t *stored = json_object_get(inf->store, key);
            if (stored != NULL)
                stored_rv(cached_rv, stored);
        }
        pthread_mutex_unlock(&inf->mu);
        if (cached_rv[0] == '\0' || b == NULL || strcmp(cached_rv, b) != 0)
            store_and_report(inf, key, obj); /* unchanged objects are not reported again */
    }
    kube_watch_set_resource_version(inf->watch, rv);
    {
        int64_t end_ns = 0;
        lb_time_to_ns(&end_ns, lb_time_now());
        atomic_store(&inf->last_list_ns, lb_time_monotonic_ns() - t0);
        atomic_store(&inf->last_list_end_ns, end_ns);
    }
    pthread_mutex_lock(&inf->mu);
    inf->synced = 1;
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->mu);
done:
    json_decref(page);
    json_decref(fresh);
    free(cont);
    return result;
}

static void resync(kube_informer *inf)
{
    json_t *snapshot, *obj;
    const char *key;
    if (inf->h.on_update == NULL)
        return;
    pthread_mutex_lock(&inf->mu);
    snapshot = json_copy(inf->store); /* shallow: the objects are shared */
    pthread_mutex_unlock(&inf->mu);
    json_object_foreach(snapshot, key, obj)
    {
        json_t *view = unpacked(obj);
        if (view != NULL)
            inf->h.on_update(view, view, inf->h.payload);
        json_decref(view);
    }
    json_decref(snapshot);
}

/* Sleeps ms unless stopped; returns non-zero when stopped. */
static int sleep_or_stop(kube_informer *inf, long ms)
{
    struct timespec ts;
    int stopped;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&inf->mu);
    while (!inf->stop && pthread_cond_timedwait(&inf->cond, &inf->mu, &ts) != ETIMEDOUT)
        ;
    stopped = inf->stop;
    pthread_mutex_unlock(&inf->mu);
    return stopped;
}

static int stopping(kube_informer *inf)
{
    int s;
    pthread_mutex_lock(&inf->mu);
    s = inf->stop;
    pthread_mutex_unlock(&inf->mu);
    return s;
}

static void *informer_main(void *arg)
{
    kube_informer *inf = arg;
    int need_list = 1;
    unsigned failures = 0;
    time_t last_resync = time(NULL);

    while (!stopping(inf)) {
        int rc;
        if (need_list) {
            rc = relist(inf);
            if (rc != 0) {
                long wait = (long)lb_backoff_delay(inf->o.backoff_ms, inf->o.max_backoff_ms,
                                                   failures < 32 ? failures++ : 32);
                if (sleep_or_stop(inf, wait))
                    break;
                continue;
            }
            need_list = 0;
            failures = 0;
        }
        atomic_fetch_add(&inf->watches, 1);
        rc = kube_watch_run(inf->watch, on_event, inf);
        if (kube_watch_cancelled(inf->watch))
            break;
        if (rc == LB_EGONE) {
            need_list = 1; /* the server forgot our resourceVersion: start over */
        } else if (rc != 0) {
            long wait = (long)lb_backoff_delay(inf->o.backoff_ms, inf->o.max_backoff_ms,
                                               failures < 32 ? failures++ : 32);
            need_list = 1;
            if (sleep_or_stop(inf, wait))
                break;
        } else {
            failures = 0; /* a clean end of stream: watch again from the last version */
        }
        if (inf->o.resync_seconds > 0 && time(NULL) - last_resync >= inf->o.resync_seconds) {
            last_resync = time(NULL);
            resync(inf);
        }
    }
    return NULL;
}

int kube_informer_start(kube_informer *inf)
{
    int rc;
    if (inf->started)
        return lb_error_set("kube_informer_start: already started");
    rc = pthread_create(&inf->thread, NULL, informer_main, inf);
    if (rc != 0)
        return lb_error_set("kube_informer_start: pthread_create: %s", strerror(rc));
    inf->started = 1;
    return 0;
}

void kube_informer_stop(kube_informer *inf)
{
    pthread_mutex_lock(&inf->mu);
    inf->stop = 1;
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->mu);
    kube_watch_cancel(inf->watch);
    if (inf->started) {
        pthread_join(inf->thread, NULL);
        inf->started = 0;
    }
}

void kube_informer_free(kube_informer *inf)
{
    if (inf == NULL)
        return;
    if (inf->watch != NULL)
        kube_informer_stop(inf);
    kube_watch_free(inf->watch);
    json_decref(inf->store);
    pthread_cond_destroy(&inf->cond);
    pthread_mutex_destroy(&inf->mu);
    free(inf->group);
    free(inf->version);
    free(inf->resource);
    free(inf->namespace);
    free(inf->label_selector);
    free(inf->field_selector);
    free(inf);
}

int kube_informer_has_synced(kube_informer *inf)
{
    int s;
    pthread_mutex_lock(&inf->mu);
    s = inf->synced;
    pthread_mutex_unlock(&inf->mu);
    return s;
}

int kube_informer_wait_synced(kube_informer *inf, long timeout_ms)
{
    struct timespec ts;
    int result = 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (timeout_ms >= 0) {
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&inf->mu);
    while (!inf->synced) {
        int rc = timeout_ms >= 0 ? pthread_cond_timedwait(&inf->cond, &inf->mu, &ts)
                                 : pthread_cond_wait(&inf->cond, &inf->mu);
        if (rc == ETIMEDOUT && !inf->synced) {
            result = LB_ETIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&inf->mu);
    if (result != 0)
        lb_error_setc(LB_ETIMEOUT, "informer %s: not synced within %ld ms", inf->resource,
                      timeout_ms);
    return result;
}

json_t *kube_informer_get(kube_informer *inf, const char *namespace, const char *name)
{
    char key[KUBE_INFORMER_MAX_KEY];
    json_t *obj;
    int n = (namespace != NULL && namespace[0] != '\0')
                ? snprintf(key, sizeof(key), "%s/%s", namespace, name)
                : snprintf(key, sizeof(key), "%s", name);
    if (n < 0 || (size_t)n >= sizeof(key))
        return NULL;
    pthread_mutex_lock(&inf->mu);
    obj = json_incref(json_object_get(inf->store, key));
    pthread_mutex_unlock(&inf->mu);
    {
        json_t *view = unpacked(obj);
        json_decref(obj);
        return view;
    }
}

size_t kube_informer_len(kube_informer *inf)
{
    size_t n;
    pthread_mutex_lock(&inf->mu);
    n = json_object_size(inf->store);
    pthread_mutex_unlock(&inf->mu);
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *kube_informer_keys(kube_informer *inf)
{
    json_t *arr = json_array(), *obj;
    const char *key;
    const char **keys;
    size_t n = 0;
    pthread_mutex_lock(&inf->mu);
    keys = lb_calloc(json_object_size(inf->store) + 1, sizeof(*keys));
    json_object_foreach(inf->store, key, obj)
    {
        keys[n++] = key;
    }
    if (n > 1)
        qsort(keys, n, sizeof(*keys), cmp_str);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(keys[i]));
    pthread_mutex_unlock(&inf->mu);
    free(keys);
    return arr;
}

void kube_informer_counts(kube_informer *inf, unsigned long *lists, unsigned long *watches)
{
    *lists = atomic_load(&inf->lists);
    *watches = atomic_load(&inf->watches);
}

void kube_informer_last_list(kube_informer *inf, double *seconds, double *ended_unix)
{
    *seconds = (double)atomic_load(&inf->last_list_ns) / 1e9;
    *ended_unix = (double)atomic_load(&inf->last_list_end_ns) / 1e9;
}
