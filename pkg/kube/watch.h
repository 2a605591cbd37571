/* watch.h - line framing and watch streams.
 *
 * The API server sends a watch as one JSON event per line over a chunked
 * response; chunk boundaries fall anywhere. kube_framer turns chunks into
 * lines scanning every byte once: complete lines inside a chunk are handed
 * over in place, only a partial tail is copied, and a line never gets
 * re-scanned from its start when the next chunk arrives.
 *
 * kube_watch runs one watch request (GET ?watch=1&resourceVersion=RV&
 * allowWatchBookmarks=true&timeoutSeconds=N) and passes each event to a
 * callback. It remembers the last resourceVersion seen (from every event,
 * BOOKMARKs included), so calling kube_watch_run() again resumes where the
 * stream ended; an ERROR event with code 410 (or an HTTP 410) returns LB_EGONE
 * and the caller must relist. kube_watch_cancel() stops a running watch from
 * another thread within about a second.
 */
#ifndef LB_KUBE_WATCH_H
#define LB_KUBE_WATCH_H

#include <stddef.h>

#include <jansson.h>

#include "kube/client.h"

#define KUBE_MAX_WATCH_LINE          (KUBE_MAX_OBJECT_BYTES + 4096) /* one event: an object + envelope */
#define KUBE_WATCH_DEFAULT_TIMEOUT_S 300                            /* server-side timeoutSeconds */
#define KUBE_MAX_RV_BYTES            64                             /* a resourceVersion string */

/* ---- framer ------------------------------------------------------------------------- */

/* Receives one line without its '\n' (a trailing '\r' is removed too). `line`
 * is NOT NUL-terminated and is valid only during the call. Empty lines are
 * skipped. A non-zero return stops the framer, which returns that value. */
typedef int (*kube_line_fn)(const char *line, size_t len, void *payload);

typedef struct kube_framer {
    char *pending; /* the start of a line split across chunks */
    size_t len;
    size_t alloc;
    size_t max_line;
} kube_framer;

/* Prepares a framer for lines of at most max_line bytes. */
void kube_framer_init(kube_framer *f, size_t max_line);

/* Feeds one chunk and emits every line it completes, in order. Returns 0, a
 * callback's non-zero value, or LB_ETOOBIG when a line passes max_line (the
 * framer is then unusable until kube_framer_reset()). */
int kube_framer_feed(kube_framer *f, const char *data, size_t len, kube_line_fn fn, void *payload);

/* Number of bytes of an unfinished line held back (0 at a clean end of stream). */
size_t kube_framer_pending(const kube_framer *f);

/* Drops any unfinished line. */
void kube_framer_reset(kube_framer *f);

/* Frees the framer's memory; the struct may be initialised again. */
void kube_framer_dispose(kube_framer *f);

/* ---- watch -------------------------------------------------------------------------- */

typedef struct kube_watch kube_watch;

/* Receives each event: type "ADDED", "MODIFIED", "DELETED" or "BOOKMARK" and
 * the object (borrowed; json_incref() to keep it). ERROR events are not
 * passed on; they end the run. A non-zero return stops the watch and
 * kube_watch_run() returns it. */
typedef int (*kube_watch_fn)(const char *type, json_t *object, void *payload);

typedef struct kube_watch_options {
    const char *resource_version; /* start after this version; NULL or "" = now, "0" = any */
    const char *label_selector;
    const char *field_selector;
    int timeout_seconds;     /* server ends the stream after this; default 300 */
    int no_bookmarks;        /* do not ask for allowWatchBookmarks */
    const char *const *keep; /* NULL: each event's object is decoded whole; else only what
                              * kube_keep_view(object, keep) reads (kube/keep.h), plus the
                              * object's metadata.name/namespace/resourceVersion and an
                              * ERROR Status's code/reason/message/details */
} kube_watch_options;

/* What a watch with `keep` decodes of every event besides the kept paths
 * under "/object" (NULL-terminated kube/keep.h paths of the whole event). */
extern const char *const kube_watch_event_fields[];

/* Creates a watch on the collection `ref` (ref->name NULL; strings are copied).
 * `opts` may be NULL. The client is borrowed and must outlive the watch. */
int kube_watch_new(kube_watch **out, kube_client *c, const kube_ref *ref,
                   const kube_watch_options *opts);

/* Runs one watch request until the server ends it (returns 0), an ERROR event
 * or HTTP error arrives (410: LB_EGONE; others mapped as in client.h), the
 * callback returns non-zero (that value), or kube_watch_cancel() is called
 * (returns 0 with kube_watch_cancelled() true). Call again to continue from
 * kube_watch_resource_version(). Not to be called from two threads at once. */
int kube_watch_run(kube_watch *w, kube_watch_fn fn, void *payload);

/* Asks a running (or the next) kube_watch_run() to stop. Any thread. */
void kube_watch_cancel(kube_watch *w);

/* Non-zero once kube_watch_cancel() was called. */
int kube_watch_cancelled(const kube_watch *w);

/* The last resourceVersion seen ("" before any). Borrowed; changes on run. */
const char *kube_watch_resource_version(const kube_watch *w);

/* Sets where the next run starts (after a relist, say). */
void kube_watch_set_resource_version(kube_watch *w, const char *rv);

/* Frees a watch that is not running; NULL is accepted. */
void kube_watch_free(kube_watch *w);

#endif
