/* workqueue.c - one mutex, a hash of per-key state, a FIFO and a min-heap of delays. */
#include "kube/workqueue.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/backoff.h"
#include "util/error.h"
#include "util/timeutil.h"

#define WQ_INJECTED_CLOCK_POLL_NS (2LL * 1000 * 1000) /* see wq_get() */

typedef struct entry {
    char *key;
    uint64_t hash;
    struct entry *chain; /* hash bucket */
    struct entry *next;  /* FIFO */
    int dirty;           /* wants processing */
    int processing;      /* a worker holds it */
    int queued;          /* in the FIFO */
    int failures;
    size_t heap_index; /* SIZE_MAX when not delayed */
    int64_t ready_at;  /* when delayed */
} entry;

struct wq {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* something became ready, or shutdown */
    pthread_cond_t idle; /* a worker finished */
    wq_options o;
    entry **buckets;
    size_t n_buckets, n_entries;
    entry *head, *tail;
    size_t n_ready;
    entry **heap;
    size_t n_heap, heap_alloc;
    size_t n_processing;
    int shutting_down;
};

static int64_t default_clock(void *payload)
{
    (void)payload;
    return lb_time_monotonic_ns();
}

static int64_t now_ns(wq *q)
{
    return q->o.clock(q->o.clock_payload);
}

/* ---- hash of entries ----------------------------------------------------------------- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static entry *lookup(wq *q, const char *key, uint64_t h)
{
    for (entry *e = q->buckets[h % q->n_buckets]; e != NULL; e = e->chain)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void rehash(wq *q)
{
    size_t n = q->n_buckets * 2;
    entry **b = lb_calloc(n, sizeof(*b));
    for (size_t i = 0; i < q->n_buckets; i++) {
        entry *e = q->buckets[i];
        while (e != NULL) {
            entry *next = e->chain;
            e->chain = b[e->hash % n];
            b[e->hash % n] = e;
            e = next;
        }
    }
    free(q->buckets);
    q->buckets = b;
    q->n_buckets = n;
}

static entry *get_or_create(wq *q, const char *key)
{
    uint64_t h = fnv1a(key);
    entry *e = lookup(q, key, h);
    if (e != NULL)
        return e;
    assert(q->n_buckets > 0); /* set in wq_new(), only ever doubled */
    if (q->n_entries + 1 > q->n_buckets * 3 / 4)
        rehash(q);
    e = lb_calloc(1, sizeof(*e));
    e->key = lb_strdup(key);
    e->hash = h;
    e->heap_index = SIZE_MAX;
    e->chain = q->buckets[h % q->n_buckets];
    q->buckets[h % q->n_buckets] = e;
    q->n_entries++;
    return e;
}

/* Drops an entry that carries no state any more. */
static void maybe_release(wq *q, entry *e)
{
    entry **pp;
    if (e->dirty || e->processing || e->queued || e->failures != 0 || e->heap_index != SIZE_MAX)
        return;
    for (pp = &q->buckets[e->hash % q->n_buckets]; *pp != e; pp = &(*pp)->chain)
        ;
    *pp = e->chain;
    q->n_entries--;
    free(e->key);
    free(e);
}

/* ---- delay heap ---------------------------------------------------------------------- */

static void heap_swap(wq *q, size_t a, size_t b)
{
    entry *t = q->heap[a];
    q->heap[a] = q->heap[b];
    q->heap[b] = t;
    q->heap[a]->heap_index = a;
    q->heap[b]->heap_index = b;
}

static void heap_up(wq *q, size_t i)
{
    while (i > 0 && q->heap[(i - 1) / 2]->ready_at > q->heap[i]->ready_at) {
        heap_swap(q, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(wq *q, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->n_heap && q->heap[l]->ready_at < q->heap[m]->ready_at)
            m = l;
        if (r < q->n_heap && q->heap[r]->ready_at < q->heap[m]->ready_at)
            m = r;
        if (m == i)
            return;
        heap_swap(q, i, m);
        i = m;
    }
}

static entry *heap_pop(wq *q)
{
    entry *top = q->heap[0];
    q->n_heap--;
    if (q->n_heap > 0) {
        q->heap[0] = q->heap[q->n_heap];
        q->heap[0]->heap_index = 0;
        heap_down(q, 0);
    }
    top->heap_index = SIZE_MAX;
    return top;
}

/* ---- core (q->mu held) --------------------------------------------------------------- */

static void add_locked(wq *q, entry *e)
{
    if (e->dirty)
        return;
    e->dirty = 1;
    if (e->processing)
        return; /* wq_done() queues it again */
    e->queued = 1;
    e->next = NULL;
    if (q->tail != NULL)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->n_ready++;
    pthread_cond_signal(&q->cond);
}

static void add_after_locked(wq *q, entry *e, int64_t delay_ns)
{
    int64_t at;
    if (delay_ns <= 0) {
        add_locked(q, e);
        return;
    }
    at = now_ns(q) + delay_ns;
    if (e->heap_index != SIZE_MAX) {
        if (at < e->ready_at) {
            e->ready_at = at;
            heap_up(q, e->heap_index);
            pthread_cond_broadcast(&q->cond); /* a waiter may sleep until a later time */
        }
        return;
    }
    if (q->n_heap == q->heap_alloc) {
        q->heap_alloc = q->heap_alloc ? q->heap_alloc * 2 : 16;
        q->heap = lb_realloc(q->heap, q->heap_alloc * sizeof(*q->heap));
    }
    e->ready_at = at;
    e->heap_index = q->n_heap;
    q->heap[q->n_heap++] = e;
    heap_up(q, e->heap_index);
    pthread_cond_broadcast(&q->cond);
}

/* Moves due delayed keys to the FIFO; returns ns until the next one (-1: none). */
static int64_t promote_due(wq *q)
{
    int64_t now = now_ns(q);
    while (q->n_heap > 0 && q->heap[0]->ready_at <= now) {
        entry *e = heap_pop(q);
        add_locked(q, e);
    }
    return q->n_heap > 0 ? q->heap[0]->ready_at - now : -1;
}

static int check_key(const char *key)
{
    size_t n;
    if (key == NULL || key[0] == '\0')
        return lb_error_setc(LB_EINVALID, "workqueue: key: must not be empty");
    n = strnlen(key, WQ_MAX_KEY_BYTES + 1);
    if (n > WQ_MAX_KEY_BYTES)
        return lb_error_setc(LB_EINVALID, "workqueue: key: longer than WQ_MAX_KEY_BYTES (%d)",
                             WQ_MAX_KEY_BYTES);
    return 0;
}

static void deadline_after(struct timespec *ts, int64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ns / 1000000000LL);
    ts->tv_nsec += (long)(ns % 1000000000LL);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* ---- API ----------------------------------------------------------------------------- */

int wq_new(wq **out, const wq_options *opts)
{
    wq *q = lb_calloc(1, sizeof(*q));
    pthread_condattr_t ca;

    if (opts != NULL)
        q->o = *opts;
    if (q->o.base_delay_ns <= 0)
        q->o.base_delay_ns = WQ_DEFAULT_BASE_NS;
    if (q->o.max_delay_ns <= 0)
        q->o.max_delay_ns = WQ_DEFAULT_CAP_NS;
    if (q->o.clock == NULL)
        q->o.clock = default_clock;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cond, &ca);
    pthread_cond_init(&q->idle, &ca);
    pthread_condattr_destroy(&ca);
    q->n_buckets = 64;
    q->buckets = lb_calloc(q->n_buckets, sizeof(*q->buckets));
    *out = q;
    return 0;
}

void wq_free(wq *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->n_buckets; i++) {
        entry *e = q->buckets[i];
        while (e != NULL) {
            entry *next = e->chain;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(q->buckets);
    free(q->heap);
    pthread_cond_destroy(&q->cond);
    pthread_cond_destroy(&q->idle);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

int wq_add(wq *q, const char *key)
{
    return wq_add_after(q, key, 0);
}

int wq_add_after(wq *q, const char *key, int64_t delay_ns)
{
    int result = check_key(key);
    if (result != 0)
        return result;
    pthread_mutex_lock(&q->mu);
    if (!q->shutting_down)
        add_after_locked(q, get_or_create(q, key), delay_ns);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

int wq_add_rate_limited(wq *q, const char *key)
{
    int result = check_key(key);
    entry *e;
    if (result != 0)
        return result;
    pthread_mutex_lock(&q->mu);
    if (!q->shutting_down) {
        e = get_or_create(q, key);
        add_after_locked(
            q, e, lb_backoff_ceiling(q->o.base_delay_ns, q->o.max_delay_ns, (unsigned)e->failures));
        if (e->failures < 64)
            e->failures++;
    }
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void wq_forget(wq *q, const char *key)
{
    entry *e;
    if (check_key(key) != 0)
        return;
    pthread_mutex_lock(&q->mu);
    e = lookup(q, key, fnv1a(key));
    if (e != NULL) {
        e->failures = 0;
        maybe_release(q, e);
    }
    pthread_mutex_unlock(&q->mu);
}

int wq_num_requeues(wq *q, const char *key)
{
    entry *e;
    int n = 0;
    if (check_key(key) != 0)
        return 0;
    pthread_mutex_lock(&q->mu);
    e = lookup(q, key, fnv1a(key));
    if (e != NULL)
        n = e->failures;
    pthread_mutex_unlock(&q->mu);
    return n;
}

int wq_get(char **out, wq *q, long timeout_ms)
{
    struct timespec deadline;
    int result;

    *out = NULL;
    if (timeout_ms > 0)
        deadline_after(&deadline, (int64_t)timeout_ms * 1000000LL);
    pthread_mutex_lock(&q->mu);
    for (;;) {
        int64_t next;
        struct timespec wake;
        int rc;

        if (q->shutting_down) {
            result = WQ_SHUTDOWN;
            break;
        }
        next = promote_due(q);
        if (q->head != NULL) {
            entry *e = q->head;
            q->head = e->next;
            if (q->head == NULL)
                q->tail = NULL;
            q->n_ready--;
            e->queued = 0;
            e->dirty = 0;
            e->processing = 1;
            q->n_processing++;
            *out = lb_strdup(e->key);
            result = 0;
            break;
        }
        if (timeout_ms == 0) {
            result = LB_ETIMEOUT;
            break;
        }
        /* Sleep until the next delayed key, the caller's deadline, or a signal. An injected
         * clock is not the one condvars wait on, so re-read it often instead. */
        if (next >= 0 && q->o.clock != default_clock && next > WQ_INJECTED_CLOCK_POLL_NS)
            next = WQ_INJECTED_CLOCK_POLL_NS;
        if (next >= 0) {
            deadline_after(&wake, next);
            if (timeout_ms > 0 &&
                (deadline.tv_sec < wake.tv_sec ||
                 (deadline.tv_sec == wake.tv_sec && deadline.tv_nsec < wake.tv_nsec)))
                wake = deadline;
            rc = pthread_cond_timedwait(&q->cond, &q->mu, &wake);
        } else if (timeout_ms > 0) {
            rc = pthread_cond_timedwait(&q->cond, &q->mu, &deadline);
        } else {
            rc = pthread_cond_wait(&q->cond, &q->mu);
        }
        if (rc == ETIMEDOUT && timeout_ms > 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec > deadline.tv_sec ||
                (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)) {
                promote_due(q);
                if (q->head == NULL && !q->shutting_down) {
                    result = LB_ETIMEOUT;
                    break;
                }
            }
        }
    }
    pthread_mutex_unlock(&q->mu);
    if (result == LB_ETIMEOUT)
        lb_error_setc(LB_ETIMEOUT, "workqueue: no key within %ld ms", timeout_ms);
    return result;
}

void wq_done(wq *q, const char *key)
{
    entry *e;
    if (check_key(key) != 0)
        return;
    pthread_mutex_lock(&q->mu);
    e = lookup(q, key, fnv1a(key));
    if (e != NULL && e->processing) {
        e->processing = 0;
        q->n_processing--;
        if (e->dirty && !q->shutting_down) {
            e->dirty = 0; /* add_locked() sets it again and queues */
            add_locked(q, e);
        }
        maybe_release(q, e);
        pthread_cond_broadcast(&q->idle);
    }
    pthread_mutex_unlock(&q->mu);
}

void wq_shutdown(wq *q)
{
    pthread_mutex_lock(&q->mu);
    q->shutting_down = 1;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
}

int wq_wait_idle(wq *q, long timeout_ms)
{
    struct timespec deadline;
    int result = 0;
    if (timeout_ms >= 0)
        deadline_after(&deadline, (int64_t)timeout_ms * 1000000LL);
    pthread_mutex_lock(&q->mu);
    while (q->n_processing > 0) {
        int rc = timeout_ms >= 0 ? pthread_cond_timedwait(&q->idle, &q->mu, &deadline)
                                 : pthread_cond_wait(&q->idle, &q->mu);
        if (rc == ETIMEDOUT && q->n_processing > 0) {
            result = LB_ETIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&q->mu);
    if (result != 0)
        lb_error_setc(LB_ETIMEOUT, "workqueue: work still running after %ld ms", timeout_ms);
    return result;
}

size_t wq_len(wq *q)
{
    size_t n;
    pthread_mutex_lock(&q->mu);
    promote_due(q);
    n = q->n_ready;
    pthread_mutex_unlock(&q->mu);
    return n;
}

size_t wq_delayed_len(wq *q)
{
    size_t n;
    pthread_mutex_lock(&q->mu);
    promote_due(q);
    n = q->n_heap;
    pthread_mutex_unlock(&q->mu);
    return n;
}
