/* Unit tests for pkg/kube/workqueue: one function per semantic, an injected
 * clock for delays and backoff, real threads for blocking and concurrency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "kube/workqueue.h"
#include "util/error.h"
#include "util/timeutil.h"

#define MS  (1000LL * 1000LL)
#define SEC (1000LL * MS)

/* ---- helpers ------------------------------------------------------------------------- */

typedef struct fake_clock {
    _Atomic int64_t now;
} fake_clock;

static int64_t fake_now(void *payload)
{
    return atomic_load(&((fake_clock *)payload)->now);
}

static void advance(fake_clock *c, int64_t ns)
{
    atomic_fetch_add(&c->now, ns);
}

static wq *new_fake(fake_clock *clk)
{
    wq_options o = {0, 0, fake_now, clk};
    wq *q = NULL;
    atomic_store(&clk->now, 5000 * SEC);
    assert_int_equal(wq_new(&q, &o), 0);
    return q;
}

static void expect_key(wq *q, const char *want)
{
    char *key = NULL;
    int rc = wq_get(&key, q, 0);
    if (rc != 0)
        fail_msg("wq_get: %d (%s), want key %s", rc, lb_error_last(), want);
    assert_string_equal(key, want);
    free(key);
}

/* Takes `want` and finishes it at once. */
static void process(wq *q, const char *want)
{
    expect_key(q, want);
    wq_done(q, want);
}

static void expect_empty(wq *q)
{
    char *key = (char *)1;
    assert_int_equal(wq_get(&key, q, 0), LB_ETIMEOUT);
    assert_null(key);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A thread blocked in wq_get(-1). */
typedef struct getter {
    wq *q;
    long timeout_ms;
    atomic_int returned;
    int rc;
    char *key;
} getter;

static void *getter_main(void *arg)
{
    getter *g = arg;
    g->rc = wq_get(&g->key, g->q, g->timeout_ms);
    atomic_store(&g->returned, 1);
    return NULL;
}

/* ---- de-duplication and ordering ----------------------------------------------------- */

static void test_workqueue_dedups_waiting_keys(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    assert_int_equal(wq_add(q, "shop/a"), 0);
    assert_int_equal(wq_add(q, "shop/b"), 0);
    assert_int_equal(wq_add(q, "shop/a"), 0);
    assert_int_equal(wq_add(q, "shop/a"), 0);
    assert_int_equal(wq_len(q), 2);
    process(q, "shop/a");
    process(q, "shop/b");
    expect_empty(q);
    wq_free(q);
}

static void test_workqueue_hands_out_in_fifo_order(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    wq_add(q, "ns/c");
    wq_add(q, "ns/a");
    wq_add(q, "ns/b");
    wq_add(q, "ns/c"); /* already waiting: keeps its place */
    process(q, "ns/c");
    process(q, "ns/a");
    process(q, "ns/b");
    wq_free(q);
}

static void test_workqueue_len_counts_ready_keys_only(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    char *key = NULL;
    (void)state;
    wq_add(q, "ns/ready");
    wq_add(q, "ns/held");
    wq_add_after(q, "ns/later", 10 * SEC);
    assert_int_equal(wq_len(q), 2);
    assert_int_equal(wq_delayed_len(q), 1);
    assert_int_equal(wq_get(&key, q, 0), 0); /* ns/ready is now being processed */
    assert_int_equal(wq_len(q), 1);
    wq_done(q, key);
    free(key);
    assert_int_equal(wq_len(q), 1);
    wq_free(q);
}

/* ---- one worker per key -------------------------------------------------------------- */

static void test_workqueue_key_added_while_processing_waits_for_done(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    char *key = NULL;
    (void)state;
    wq_add(q, "shop/a");
    assert_int_equal(wq_get(&key, q, 0), 0);
    wq_add(q, "shop/a"); /* changed while being reconciled */
    wq_add(q, "shop/a");
    assert_int_equal(wq_len(q), 0);
    expect_empty(q); /* a second worker must not get it */
    wq_done(q, key);
    free(key);
    assert_int_equal(wq_len(q), 1); /* queued once more, once */
    process(q, "shop/a");
    expect_empty(q);
    wq_free(q);
}

static void test_workqueue_done_without_new_add_does_not_requeue(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    wq_add(q, "shop/a");
    process(q, "shop/a");
    expect_empty(q);
    wq_done(q, "shop/a"); /* a stray second done changes nothing */
    wq_done(q, "shop/never-added");
    expect_empty(q);
    wq_free(q);
}

static void test_workqueue_other_keys_flow_while_one_is_held(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    char *held = NULL;
    (void)state;
    wq_add(q, "ns/a");
    assert_int_equal(wq_get(&held, q, 0), 0);
    wq_add(q, "ns/a");
    wq_add(q, "ns/b");
    process(q, "ns/b");
    expect_empty(q);
    wq_done(q, held);
    free(held);
    process(q, "ns/a");
    wq_free(q);
}

/* ---- delays -------------------------------------------------------------------------- */

static void test_workqueue_add_after_waits_for_the_clock(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    wq_add_after(q, "ns/poll", 100 * MS);
    expect_empty(q);
    advance(&clk, 100 * MS - 1);
    expect_empty(q);
    advance(&clk, 1);
    process(q, "ns/poll");
    assert_int_equal(wq_delayed_len(q), 0);
    wq_free(q);
}

static void test_workqueue_add_after_earliest_time_wins(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    wq_add_after(q, "ns/b", 50 * MS);
    wq_add_after(q, "ns/b", 10 * MS); /* earlier: moves b forward */
    wq_add_after(q, "ns/c", 10 * MS);
    wq_add_after(q, "ns/c", 80 * MS); /* later: ignored */
    assert_int_equal(wq_delayed_len(q), 2);
    advance(&clk, 10 * MS);
    assert_int_equal(wq_len(q), 2);
    process(q, "ns/b");
    process(q, "ns/c");
    advance(&clk, 100 * MS);
    expect_empty(q); /* neither the 50 ms nor the 80 ms add fires again */
    assert_int_equal(wq_delayed_len(q), 0);
    wq_free(q);
}

static void test_workqueue_delayed_add_does_not_delay_immediate_one(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    wq_add(q, "ns/a");
    wq_add_after(q, "ns/a", 3600 * SEC);
    assert_int_equal(wq_len(q), 1);
    process(q, "ns/a");
    wq_add_after(q, "ns/b", 3600 * SEC);
    wq_add(q, "ns/b"); /* immediate after delayed: ready now */
    process(q, "ns/b");
    wq_free(q);
}

static void test_workqueue_delayed_keys_come_in_time_order(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    static const int64_t delays[] = {70, 10, 50, 30, 90, 20, 80, 40, 60};
    char key[32];
    (void)state;
    for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
        snprintf(key, sizeof(key), "ns/k%03lld", (long long)delays[i]);
        wq_add_after(q, key, delays[i] * MS);
    }
    advance(&clk, 100 * MS);
    for (int d = 10; d <= 90; d += 10) {
        snprintf(key, sizeof(key), "ns/k%03d", d);
        process(q, key);
    }
    wq_free(q);
}

static void test_workqueue_add_after_nonpositive_is_immediate(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    wq_add_after(q, "ns/zero", 0);
    wq_add_after(q, "ns/neg", -5 * SEC);
    assert_int_equal(wq_delayed_len(q), 0);
    process(q, "ns/zero");
    process(q, "ns/neg");
    wq_free(q);
}

static void test_workqueue_delayed_key_due_while_processing_waits_for_done(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    char *key = NULL;
    (void)state;
    wq_add(q, "ns/a");
    assert_int_equal(wq_get(&key, q, 0), 0);
    wq_add_after(q, "ns/a", 5 * MS);
    advance(&clk, 5 * MS);
    expect_empty(q);
    wq_done(q, key);
    free(key);
    process(q, "ns/a");
    wq_free(q);
}

/* ---- per-key backoff ----------------------------------------------------------------- */

/* Asserts that `key` becomes ready exactly `delay` after now, then takes it. */
static void expect_ready_after(wq *q, fake_clock *clk, const char *key, int64_t delay)
{
    advance(clk, delay - 1);
    if (wq_len(q) != 0)
        fail_msg("%s ready before %lld ns", key, (long long)delay);
    advance(clk, 1);
    if (wq_len(q) != 1)
        fail_msg("%s not ready after %lld ns", key, (long long)delay);
    process(q, key);
}

static void test_workqueue_backoff_doubles_from_5ms_to_5min(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    int64_t want = 5 * MS;
    (void)state;
    for (int failure = 0; failure < 24; failure++) {
        assert_int_equal(wq_num_requeues(q, "shop/flaky"), failure);
        assert_int_equal(wq_add_rate_limited(q, "shop/flaky"), 0);
        expect_ready_after(q, &clk, "shop/flaky", want);
        want = want * 2 > 300 * SEC ? 300 * SEC : want * 2;
    }
    /* 5 ms * 2^16 > 5 min: from the 17th failure on, the cap */
    assert_int_equal(want, 300 * SEC);
    wq_free(q);
}

static void test_workqueue_backoff_sequence_values(void **state)
{
    static const int64_t want_ms[] = {5,     10,    20,    40,     80,     160,
                                      320,   640,   1280,  2560,   5120,   10240,
                                      20480, 40960, 81920, 163840, 300000, 300000};
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    for (size_t i = 0; i < sizeof(want_ms) / sizeof(want_ms[0]); i++) {
        wq_add_rate_limited(q, "ns/x");
        expect_ready_after(q, &clk, "ns/x", want_ms[i] * MS);
    }
    wq_free(q);
}

static void test_workqueue_forget_resets_backoff(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    for (int i = 0; i < 4; i++) {
        wq_add_rate_limited(q, "ns/a");
        expect_ready_after(q, &clk, "ns/a", (5 * MS) << i);
    }
    assert_int_equal(wq_num_requeues(q, "ns/a"), 4);
    wq_forget(q, "ns/a");
    assert_int_equal(wq_num_requeues(q, "ns/a"), 0);
    wq_add_rate_limited(q, "ns/a");
    expect_ready_after(q, &clk, "ns/a", 5 * MS);
    wq_free(q);
}

static void test_workqueue_backoff_is_per_key(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    for (int i = 0; i < 3; i++) {
        wq_add_rate_limited(q, "ns/a");
        expect_ready_after(q, &clk, "ns/a", (5 * MS) << i);
    }
    wq_add_rate_limited(q, "ns/b"); /* b's first failure: the base, whatever a did */
    expect_ready_after(q, &clk, "ns/b", 5 * MS);
    wq_add_rate_limited(q, "ns/a");
    expect_ready_after(q, &clk, "ns/a", 40 * MS);
    wq_free(q);
}

static void test_workqueue_backoff_options_override_defaults(void **state)
{
    fake_clock clk;
    wq_options o = {1 * SEC, 3 * SEC, fake_now, &clk};
    wq *q = NULL;
    (void)state;
    atomic_store(&clk.now, 0);
    assert_int_equal(wq_new(&q, &o), 0);
    wq_add_rate_limited(q, "ns/a");
    expect_ready_after(q, &clk, "ns/a", 1 * SEC);
    wq_add_rate_limited(q, "ns/a");
    expect_ready_after(q, &clk, "ns/a", 2 * SEC);
    wq_add_rate_limited(q, "ns/a");
    expect_ready_after(q, &clk, "ns/a", 3 * SEC);
    wq_free(q);
}

/* ---- blocking, timeouts, shutdown ---------------------------------------------------- */

static void test_workqueue_get_blocks_until_a_key_is_added(void **state)
{
    wq *q = NULL;
    getter g = {0};
    pthread_t th;
    (void)state;
    assert_int_equal(wq_new(&q, NULL), 0);
    g.q = q;
    g.timeout_ms = -1;
    assert_int_equal(pthread_create(&th, NULL, getter_main, &g), 0);
    sleep_ms(50);
    assert_int_equal(atomic_load(&g.returned), 0);
    wq_add(q, "ns/wake");
    pthread_join(th, NULL);
    assert_int_equal(g.rc, 0);
    assert_string_equal(g.key, "ns/wake");
    wq_done(q, g.key);
    free(g.key);
    wq_free(q);
}

static void test_workqueue_blocked_get_follows_injected_clock(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    getter g = {0};
    pthread_t th;
    (void)state;
    g.q = q;
    g.timeout_ms = -1;
    wq_add_after(q, "ns/poll", 3600 * SEC);
    assert_int_equal(pthread_create(&th, NULL, getter_main, &g), 0);
    sleep_ms(30);
    assert_int_equal(atomic_load(&g.returned), 0);
    advance(&clk, 3600 * SEC); /* an hour of fake time: the waiter wakes within ms */
    pthread_join(th, NULL);
    assert_int_equal(g.rc, 0);
    assert_string_equal(g.key, "ns/poll");
    wq_done(q, g.key);
    free(g.key);
    wq_free(q);
}

static void test_workqueue_blocked_get_wakes_for_real_delay(void **state)
{
    wq *q = NULL;
    getter g = {0};
    pthread_t th;
    int64_t start;
    (void)state;
    assert_int_equal(wq_new(&q, NULL), 0);
    g.q = q;
    g.timeout_ms = -1;
    assert_int_equal(pthread_create(&th, NULL, getter_main, &g), 0);
    sleep_ms(20);
    start = lb_time_monotonic_ns();
    wq_add_after(q, "ns/poll", 40 * MS); /* the sleeper must re-arm for this time */
    pthread_join(th, NULL);
    assert_int_equal(g.rc, 0);
    assert_true(lb_time_monotonic_ns() - start >= 40 * MS);
    wq_done(q, g.key);
    free(g.key);
    wq_free(q);
}

static void test_workqueue_get_times_out(void **state)
{
    wq *q = NULL;
    char *key = (char *)1;
    int64_t start;
    (void)state;
    assert_int_equal(wq_new(&q, NULL), 0);
    wq_add_after(q, "ns/later", 10 * SEC);
    start = lb_time_monotonic_ns();
    assert_int_equal(wq_get(&key, q, 30), LB_ETIMEOUT);
    assert_null(key);
    assert_true(lb_time_monotonic_ns() - start >= 30 * MS);
    assert_true(lb_time_monotonic_ns() - start < 5 * SEC);
    wq_free(q);
}

static void test_workqueue_shutdown_wakes_every_waiter(void **state)
{
    enum { N = 4 };
    wq *q = NULL;
    getter g[N];
    pthread_t th[N];
    char *key = (char *)1;
    (void)state;
    assert_int_equal(wq_new(&q, NULL), 0);
    wq_add_after(q, "ns/later", 3600 * SEC);
    for (int i = 0; i < N; i++) {
        memset(&g[i], 0, sizeof(g[i]));
        g[i].q = q;
        g[i].timeout_ms = -1;
        assert_int_equal(pthread_create(&th[i], NULL, getter_main, &g[i]), 0);
    }
    sleep_ms(30);
    for (int i = 0; i < N; i++)
        assert_int_equal(atomic_load(&g[i].returned), 0);
    wq_shutdown(q);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(g[i].rc, WQ_SHUTDOWN);
        assert_null(g[i].key);
    }
    /* after shutdown: adds are ignored, gets return at once */
    assert_int_equal(wq_add(q, "ns/late"), 0);
    assert_int_equal(wq_len(q), 0);
    assert_int_equal(wq_get(&key, q, -1), WQ_SHUTDOWN);
    assert_null(key);
    wq_free(q);
}

static void test_workqueue_shutdown_lets_running_work_finish(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    char *key = NULL;
    (void)state;
    wq_add(q, "ns/running");
    assert_int_equal(wq_get(&key, q, 0), 0);
    wq_add(q, "ns/running");
    wq_shutdown(q);
    assert_int_equal(wq_wait_idle(q, 10), LB_ETIMEOUT);
    wq_done(q, key); /* not queued again after shutdown */
    free(key);
    assert_int_equal(wq_wait_idle(q, 0), 0);
    assert_int_equal(wq_len(q), 0);
    wq_free(q);
}

/* ---- validation and cleanup ---------------------------------------------------------- */

static void test_workqueue_rejects_bad_keys(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    char long_key[WQ_MAX_KEY_BYTES + 2];
    (void)state;
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_int_equal(wq_add(q, ""), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "key"));
    assert_int_equal(wq_add(q, NULL), LB_EINVALID);
    assert_int_equal(wq_add_after(q, long_key, MS), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "WQ_MAX_KEY_BYTES"));
    assert_int_equal(wq_add_rate_limited(q, long_key), LB_EINVALID);
    long_key[WQ_MAX_KEY_BYTES] = '\0'; /* exactly the cap: accepted */
    assert_int_equal(wq_add(q, long_key), 0);
    assert_int_equal(wq_len(q), 1);
    wq_free(q);
}

static void test_workqueue_free_releases_keys_in_every_state(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    char *key = NULL;
    char name[32];
    (void)state;
    for (int i = 0; i < 200; i++) { /* enough to grow the hash and the heap */
        snprintf(name, sizeof(name), "ns/key-%d", i);
        if (i % 3 == 0)
            wq_add(q, name);
        else if (i % 3 == 1)
            wq_add_after(q, name, (i + 1) * MS);
        else
            wq_add_rate_limited(q, name);
    }
    assert_int_equal(wq_get(&key, q, 0), 0);
    wq_add(q, key); /* held and dirty */
    free(key);
    wq_free(q); /* ASan's leak check in SANITIZE=1 proves everything is released */
    wq_free(NULL);
}

/* ---- concurrency --------------------------------------------------------------------- */

#define CT_KEYS              5
#define CT_WORKERS           4
#define CT_PRODUCERS         2
#define CT_ADDS_PER_PRODUCER 20000

typedef struct conc {
    wq *q;
    atomic_int busy[CT_KEYS];         /* a worker holds key i */
    atomic_int violations;            /* a key seen by two workers at once */
    atomic_llong seq;                 /* orders adds and processing starts */
    atomic_llong last_add[CT_KEYS];   /* seq taken just before the last wq_add of key i */
    atomic_llong last_start[CT_KEYS]; /* seq taken just after the last wq_get of key i */
    atomic_llong processed;
    atomic_int producers_done;
} conc;

static const char *ct_key(int i)
{
    static const char *const keys[CT_KEYS] = {"ns/k0", "ns/k1", "ns/k2", "ns/k3", "ns/k4"};
    return keys[i];
}

static void *ct_producer(void *arg)
{
    conc *c = arg;
    unsigned r = (unsigned)(uintptr_t)&r;
    for (int i = 0; i < CT_ADDS_PER_PRODUCER; i++) {
        int k;
        long long s;
        r = r * 1103515245u + 12345u;
        k = (int)((r >> 16) % CT_KEYS);
        s = atomic_fetch_add(&c->seq, 1);
        /* keep the maximum: another producer may have stored a later seq already */
        long long prev = atomic_load(&c->last_add[k]);
        while (prev < s && !atomic_compare_exchange_weak(&c->last_add[k], &prev, s))
            ;
        wq_add(c->q, ct_key(k));
        if (i % 64 == 0)
            sched_yield();
    }
    return NULL;
}

static void *ct_worker(void *arg)
{
    conc *c = arg;
    for (;;) {
        char *key = NULL;
        int rc = wq_get(&key, c->q, 200);
        int k;
        if (rc == LB_ETIMEOUT) {
            if (atomic_load(&c->producers_done))
                break; /* nothing for 200 ms and no more adds: the queue is drained */
            continue;
        }
        if (rc != 0)
            break;
        k = key[4] - '0';
        if (atomic_exchange(&c->busy[k], 1) != 0)
            atomic_fetch_add(&c->violations, 1);
        atomic_store(&c->last_start[k], atomic_fetch_add(&c->seq, 1));
        atomic_fetch_add(&c->processed, 1);
        sched_yield(); /* widen the window in which a second worker could wrongly get k */
        atomic_store(&c->busy[k], 0);
        wq_done(c->q, key);
        free(key);
    }
    return NULL;
}

static void test_workqueue_concurrent_workers_never_share_a_key(void **state)
{
    conc *c = calloc(1, sizeof(*c));
    pthread_t workers[CT_WORKERS], producers[CT_PRODUCERS];
    (void)state;
    assert_int_equal(wq_new(&c->q, NULL), 0);
    for (int k = 0; k < CT_KEYS; k++) {
        atomic_store(&c->last_add[k], -1);
        atomic_store(&c->last_start[k], -1);
    }
    for (int i = 0; i < CT_WORKERS; i++)
        assert_int_equal(pthread_create(&workers[i], NULL, ct_worker, c), 0);
    for (int i = 0; i < CT_PRODUCERS; i++)
        assert_int_equal(pthread_create(&producers[i], NULL, ct_producer, c), 0);
    for (int i = 0; i < CT_PRODUCERS; i++)
        pthread_join(producers[i], NULL);
    atomic_store(&c->producers_done, 1);
    for (int i = 0; i < CT_WORKERS; i++)
        pthread_join(workers[i], NULL);

    assert_int_equal(atomic_load(&c->violations), 0);
    assert_int_equal(wq_len(c->q), 0);
    for (int k = 0; k < CT_KEYS; k++) {
        /* every add is followed by a processing start: no change is lost */
        if (atomic_load(&c->last_start[k]) <= atomic_load(&c->last_add[k]))
            fail_msg("key %s: last add (seq %lld) after the last processing start (seq %lld)",
                     ct_key(k), atomic_load(&c->last_add[k]), atomic_load(&c->last_start[k]));
    }
    assert_true(atomic_load(&c->processed) >= CT_KEYS);
    assert_true(atomic_load(&c->processed) <= CT_PRODUCERS * CT_ADDS_PER_PRODUCER);
    print_message("# %lld adds processed in %lld reconciles\n",
                  (long long)CT_PRODUCERS * CT_ADDS_PER_PRODUCER, atomic_load(&c->processed));
    wq_free(c->q);
    free(c);
}

static void test_workqueue_wait_idle_waits_for_running_work(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    wq_add(q, "ns/a");
    expect_key(q, "ns/a");
    wq_shutdown(q);
    assert_int_equal(wq_wait_idle(q, 30), LB_ETIMEOUT);
    wq_done(q, "ns/a");
    assert_int_equal(wq_wait_idle(q, 30), 0);
    wq_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workqueue_dedups_waiting_keys),
        cmocka_unit_test(test_workqueue_hands_out_in_fifo_order),
        cmocka_unit_test(test_workqueue_len_counts_ready_keys_only),
        cmocka_unit_test(test_workqueue_key_added_while_processing_waits_for_done),
        cmocka_unit_test(test_workqueue_done_without_new_add_does_not_requeue),
        cmocka_unit_test(test_workqueue_other_keys_flow_while_one_is_held),
        cmocka_unit_test(test_workqueue_add_after_waits_for_the_clock),
        cmocka_unit_test(test_workqueue_add_after_earliest_time_wins),
        cmocka_unit_test(test_workqueue_delayed_add_does_not_delay_immediate_one),
        cmocka_unit_test(test_workqueue_delayed_keys_come_in_time_order),
        cmocka_unit_test(test_workqueue_add_after_nonpositive_is_immediate),
        cmocka_unit_test(test_workqueue_delayed_key_due_while_processing_waits_for_done),
        cmocka_unit_test(test_workqueue_backoff_doubles_from_5ms_to_5min),
        cmocka_unit_test(test_workqueue_backoff_sequence_values),
        cmocka_unit_test(test_workqueue_forget_resets_backoff),
        cmocka_unit_test(test_workqueue_backoff_is_per_key),
        cmocka_unit_test(test_workqueue_backoff_options_override_defaults),
        cmocka_unit_test(test_workqueue_get_blocks_until_a_key_is_added),
        cmocka_unit_test(test_workqueue_blocked_get_follows_injected_clock),
        cmocka_unit_test(test_workqueue_blocked_get_wakes_for_real_delay),
        cmocka_unit_test(test_workqueue_get_times_out),
        cmocka_unit_test(test_workqueue_shutdown_wakes_every_waiter),
        cmocka_unit_test(test_workqueue_shutdown_lets_running_work_finish),
        cmocka_unit_test(test_workqueue_wait_idle_waits_for_running_work),
        cmocka_unit_test(test_workqueue_rejects_bad_keys),
        cmocka_unit_test(test_workqueue_free_releases_keys_in_every_state),
        cmocka_unit_test(test_workqueue_concurrent_workers_never_share_a_key),
    };
    return cmocka_run_group_tests_name("workqueue", tests, NULL, NULL);
}
