/* recorder.c - Events with client-go style aggregation of repeats. */
#include "kube/recorder.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"
#include "util/timeutil.h"

typedef struct rec_entry {
    char *key;       /* uid, kind, namespace, name, type, reason, message joined with \x1f */
    char *namespace; /* where the Event lives */
    char *name;      /* the Event's metadata.name */
    long count;
    int64_t last_ns; /* when it was last recorded */
} rec_entry;

struct kube_recorder {
    kube_client *client;
    char *component;
    char *instance;
    int64_t window_ns;
    kube_recorder_clock_fn clock;
    void *clock_payload;
    pthread_mutex_t mu;
    rec_entry entries[KUBE_RECORDER_MAX_ENTRIES];
    size_t n_entries;
    unsigned long created, patched, seq;
};

static int64_t real_clock(void *payload)
{
    int64_t ns = 0;
    (void)payload;
    lb_time_to_ns(&ns, lb_time_now());
    return ns;
}

int kube_recorder_new(kube_recorder **out, kube_client *c, const kube_recorder_options *opts)
{
    kube_recorder *r;
    *out = NULL;
    if (opts == NULL || opts->component == NULL || opts->component[0] == '\0')
        return lb_error_setc(LB_EINVALID, "recorder: component is required");
    if (opts->window_s < 0)
        return lb_error_setc(LB_EINVALID, "recorder: window_s must not be negative");
    r = lb_calloc(1, sizeof(*r));
    r->client = c;
    r->component = lb_strdup(opts->component);
    r->instance = lb_strdup(opts->instance != NULL && opts->instance[0] != '\0' ? opts->instance
                                                                                : opts->component);
    r->window_ns = (int64_t)(opts->window_s > 0 ? opts->window_s : KUBE_RECORDER_DEFAULT_WINDOW_S) *
                   1000000000LL;
    r->clock = opts->clock != NULL ? opts->clock : real_clock;
    r->clock_payload = opts->clock_payload;
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return 0;
}

static void entry_dispose(rec_entry *e)
{
    free(e->key);
    free(e->namespace);
    free(e->name);
    memset(e, 0, sizeof(*e));
}

void kube_recorder_free(kube_recorder *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_entries; i++)
        entry_dispose(&r->entries[i]);
    pthread_mutex_destroy(&r->mu);
    free(r->component);
    free(r->instance);
    free(r);
}

void kube_recorder_counts(kube_recorder *r, unsigned long *created, unsigned long *patched)
{
    pthread_mutex_lock(&r->mu);
    if (created != NULL)
        *created = r->created;
    if (patched != NULL)
        *patched = r->patched;
    pthread_mutex_unlock(&r->mu);
}

static const char *str_or(const json_t *obj, const char *key, const char *fallback)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : fallback;
}

/* The entry for key, or NULL. Caller holds mu. */
static rec_entry *entry_find(kube_recorder *r, const char *key)
{
    for (size_t i = 0; i < r->n_entries; i++)
        if (strcmp(r->entries[i].key, key) == 0)
            return &r->entries[i];
    return NULL;
}

/* A free slot, evicting the least recently seen entry when full. Caller holds mu. */
static rec_entry *entry_slot(kube_recorder *r)
{
    size_t oldest = 0;
    if (r->n_entries < KUBE_RECORDER_MAX_ENTRIES)
        return &r->entries[r->n_entries++];
    for (size_t i = 1; i < r->n_entries; i++)
        if (r->entries[i].last_ns < r->entries[oldest].last_ns)
            oldest = i;
    entry_dispose(&r->entries[oldest]);
    return &r->entries[oldest];
}

static int create_event(kube_recorder *r, const char *ns, const char *name, const json_t *obj,
                        const char *type, const char *reason, const char *message,
                        const char *stamp)
{
    const json_t *md = json_object_get(obj, "metadata");
    json_t *ev, *involved;
    kube_ref ref = {.group = "", .version = "v1", .resource = "events", .namespace = ns};
    int result;

    involved =
        json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", str_or(obj, "apiVersion", ""), "kind",
                  str_or(obj, "kind", ""), "namespace", ns, "name", str_or(md, "name", ""));
    if (json_string_value(json_object_get(md, "uid")) != NULL)
        json_object_set(involved, "uid", json_object_get(md, "uid"));
    if (json_string_value(json_object_get(md, "resourceVersion")) != NULL)
        json_object_set(involved, "resourceVersion", json_object_get(md, "resourceVersion"));
    ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:i, s:s, s:s, s:{s:s}, "
                   "s:s, s:s, s:s}",
                   "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace", ns,
                   "involvedObject", involved, "type", type, "reason", reason, "message", message,
                   "count", 1, "firstTimestamp", stamp, "lastTimestamp", stamp, "source",
                   "component", r->component, "reportingComponent", r->component,
                   "reportingInstance", r->instance, "action", reason);
    result = kube_create(NULL, r->client, &ref, ev);
    json_decref(ev);
    return result;
}

static int patch_event(kube_recorder *r, const char *ns, const char *name, long count,
                       const char *stamp)
{
    kube_ref ref = {
        .group = "", .version = "v1", .resource = "events", .namespace = ns, .name = name};
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"count\":%ld,\"lastTimestamp\":\"%s\"}", count, stamp);
    return kube_patch(NULL, r->client, &ref, KUBE_PATCH_MERGE, body, (size_t)n, NULL);
}

int kube_recorder_event(kube_recorder *r, const json_t *obj, const char *type, const char *reason,
                        const char *message)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *ns = str_or(md, "namespace", "default");
    const char *obj_name = str_or(md, "name", "");
    char msg[KUBE_RECORDER_MAX_MESSAGE + 1];
    char stamp[LB_TIME_RFC3339_MAX + 1];
    char *key = NULL, *ev_name = NULL, *ev_ns = NULL;
    long count = 1;
    int64_t now;
    rec_entry *e;
    int result = 0, repeat = 0;

    if (type == NULL || reason == NULL || reason[0] == '\0' || obj_name[0] == '\0' ||
        strlen(reason) > KUBE_RECORDER_MAX_REASON)
        return lb_error_setc(LB_EINVALID,
                             "event: type, a reason of at most %d bytes and the "
                             "object's metadata.name are required",
                             KUBE_RECORDER_MAX_REASON);
    snprintf(msg, sizeof(msg), "%s", message != NULL ? message : "");
    now = r->clock(r->clock_payload);
    lb_time_format(stamp, sizeof(stamp), lb_time_from_ns(now), 0);
    key = lb_sprintf("%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", str_or(md, "uid", ""),
                     str_or(obj, "kind", ""), ns, obj_name, type, reason, msg);

    pthread_mutex_lock(&r->mu);
    e = entry_find(r, key);
    if (e != NULL && now - e->last_ns <= r->window_ns) {
        e->count++;
        e->last_ns = now;
        count = e->count;
        ev_name = lb_strdup(e->name);
        ev_ns = lb_strdup(e->namespace);
        repeat = 1;
    } else {
        if (e == NULL)
            e = entry_slot(r);
        else
            entry_dispose(e);
        /* client-go names Events <object>.<hex nanoseconds>; the sequence keeps two
         * events of one nanosecond apart */
        ev_name = lb_sprintf("%.200s.%llx%lx", obj_name, (unsigned long long)now, r->seq++);
        ev_ns = lb_strdup(ns);
        e->key = key;
        key = NULL;
        e->namespace = lb_strdup(ns);
        e->name = lb_strdup(ev_name);
        e->count = 1;
        e->last_ns = now;
    }
    pthread_mutex_unlock(&r->mu);

    if (repeat) {
        result = patch_event(r, ev_ns, ev_name, count, stamp);
        if (result == 0) {
            pthread_mutex_lock(&r->mu);
            r->patched++;
            pthread_mutex_unlock(&r->mu);
            goto done;
        }
        if (result != LB_ENOTFOUND)
            goto done;
        /* the Event expired or was deleted: start a new one under the same name */
    }
    result = create_event(r, ev_ns, ev_name, obj, type, reason, msg, stamp);
    if (result == 0) {
        pthread_mutex_lock(&r->mu);
        r->created++;
        pthread_mutex_unlock(&r->mu);
    }

done:
    free(key);
    free(ev_name);
    free(ev_ns);
    return result;
}
