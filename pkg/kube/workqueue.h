/* workqueue.h - the controllers' work queue (client-go's workqueue semantics).
 *
 *  - Keys ("namespace/name") are de-duplicated: a key added while it waits is
 *    queued once.
 *  - A key is never handed to two workers at once: a key added while a worker
 *    holds it is queued again only when that worker calls wq_done().
 *  - wq_add_after() delays a key (polling cloud operations that have no
 *    watch); a key delayed twice keeps the earlier time.
 *  - wq_add_rate_limited() delays a key by its own exponential backoff
 *    (base * 2^failures, capped; 5 ms .. 5 min by default) until wq_forget().
 *  - wq_shutdown() stops handing out keys; wq_wait_idle() lets running work
 *    finish (graceful SIGTERM).
 *
 * Time comes from an injectable monotonic clock so tests can step it (a
 * wq_get() blocked on a delayed key re-reads an injected clock every 2 ms, so
 * moving it wakes the waiter). All functions are thread-safe.
 */
#ifndef LB_KUBE_WORKQUEUE_H
#define LB_KUBE_WORKQUEUE_H

#include <stddef.h>
#include <stdint.h>

#define WQ_MAX_KEY_BYTES   512                    /* "namespace/name" is at most 317 */
#define WQ_DEFAULT_BASE_NS (5LL * 1000 * 1000)    /* 5 ms */
#define WQ_DEFAULT_CAP_NS  (300LL * 1000000000LL) /* 5 min */
#define WQ_SHUTDOWN        1                      /* wq_get(): the queue was shut down; no key */

typedef struct wq wq;

/* Monotonic nanoseconds. */
typedef int64_t (*wq_clock_fn)(void *payload);

typedef struct wq_options {
    int64_t base_delay_ns; /* first rate-limited delay; default WQ_DEFAULT_BASE_NS */
    int64_t max_delay_ns;  /* cap; default WQ_DEFAULT_CAP_NS */
    wq_clock_fn clock;     /* default: lb_time_monotonic_ns() */
    void *clock_payload;
} wq_options;

/* Creates an empty queue; opts may be NULL. Free with wq_free(). */
int wq_new(wq **out, const wq_options *opts);

/* Frees a queue no thread is using any more; NULL is accepted. */
void wq_free(wq *q);

/* Queues `key` (copied) unless it is already waiting. Ignored after shutdown.
 * Returns LB_EINVALID for an empty key or one longer than WQ_MAX_KEY_BYTES. */
int wq_add(wq *q, const char *key);

/* Queues `key` once `delay_ns` has passed (at once when <= 0). */
int wq_add_after(wq *q, const char *key, int64_t delay_ns);

/* Queues `key` after its backoff, and counts one more failure for it. */
int wq_add_rate_limited(wq *q, const char *key);

/* Forgets `key`'s failures, so its next backoff starts from the base again. */
void wq_forget(wq *q, const char *key);

/* The failures counted for `key` since the last wq_forget(). */
int wq_num_requeues(wq *q, const char *key);

/* Waits at most timeout_ms (< 0: for ever, 0: not at all) for a key. On 0,
 * *out is the key (the caller frees it) and the caller must call wq_done()
 * with it when finished. Returns WQ_SHUTDOWN once the queue is shut down, or
 * LB_ETIMEOUT when nothing became ready in time. */
int wq_get(char **out, wq *q, long timeout_ms);

/* Marks `key` finished; if it was added meanwhile, it is queued again. */
void wq_done(wq *q, const char *key);

/* Stops handing out keys and wakes every waiting wq_get(). */
void wq_shutdown(wq *q);

/* Waits at most timeout_ms (< 0: for ever) until no key is being processed.
 * Returns 0 or LB_ETIMEOUT. */
int wq_wait_idle(wq *q, long timeout_ms);

/* Keys ready now (a metric: work-queue depth). */
size_t wq_len(wq *q);

/* Keys waiting for a later time. */
size_t wq_delayed_len(wq *q);

#endif
