/* recorder.h - a core/v1 Event recorder that aggregates repeats.
 *
 * kube_recorder_event() records that something happened to an object. The
 * first occurrence creates an Event in the object's namespace; a repeat (the
 * same involved object uid/kind/namespace/name, type, reason and message)
 * seen again within the window bumps that Event's `count` and
 * `lastTimestamp` with a merge patch instead of creating another Event, as
 * client-go's EventCorrelator does. When the patch finds the Event gone
 * (deleted, or expired by the server's TTL) a new one is created.
 *
 * The recorder remembers at most KUBE_RECORDER_MAX_ENTRIES recent events; the
 * least recently seen is forgotten first, which at worst starts a new Event.
 * Messages longer than KUBE_RECORDER_MAX_MESSAGE bytes are cut. Messages
 * must never carry secret values (the callers' rule; nothing here can tell).
 *
 * Thread-safe: workers share one recorder. Requests are made on the calling
 * thread, bounded by the client's timeout.
 */
#ifndef LB_KUBE_RECORDER_H
#define LB_KUBE_RECORDER_H

#include <jansson.h>
#include <stdint.h>

#include "kube/client.h"

#define KUBE_RECORDER_MAX_ENTRIES      1024
#define KUBE_RECORDER_MAX_MESSAGE      1024 /* the API server's own limit on Event.message */
#define KUBE_RECORDER_MAX_REASON       128
#define KUBE_RECORDER_DEFAULT_WINDOW_S 600 /* client-go's aggregation window */

typedef struct kube_recorder kube_recorder;

/* Wall-clock nanoseconds since the epoch. */
typedef int64_t (*kube_recorder_clock_fn)(void *payload);

typedef struct kube_recorder_options {
    const char *component;        /* source.component / reportingController; required */
    const char *instance;         /* reportingInstance (pod name); default component */
    int window_s;                 /* default KUBE_RECORDER_DEFAULT_WINDOW_S */
    kube_recorder_clock_fn clock; /* default: the real clock */
    void *clock_payload;
} kube_recorder_options;

/* Creates a recorder (strings copied; the client is borrowed). Returns
 * LB_EINVALID naming the option when component is missing. */
int kube_recorder_new(kube_recorder **out, kube_client *c, const kube_recorder_options *opts);

/* Frees; NULL is accepted. */
void kube_recorder_free(kube_recorder *r);

/* Records an event about `obj` (a full object with apiVersion, kind and
 * metadata; borrowed). type is "Normal" or "Warning"; reason is CamelCase.
 * Returns 0 or the client's error (an Event is best effort: callers log it
 * and carry on). */
int kube_recorder_event(kube_recorder *r, const json_t *obj, const char *type, const char *reason,
                        const char *message);

/* Counters for tests and metrics: Events created and Events patched. */
void kube_recorder_counts(kube_recorder *r, unsigned long *created, unsigned long *patched);

#endif
