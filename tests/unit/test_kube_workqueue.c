/* Unit tests for pkg/kube/workqueue: de-duplication, one worker per key,
 * delays and per-key backoff on an injected clock, shutdown, concurrency. */
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
#include "util/alloc.h"
#include "util/error.h"

#define MS (1000LL * 1000LL)

typedef struct fake_clock {
    int64_t now;
} fake_clock;

static int64_t fake_now(void *payload)
{
    return ((fake_clock *)payload)->now;
}

static wq *new_fake(fake_clock *clk)
{
    wq_options o = {0, 0, fake_now, clk};
    wq *q = NULL;
    clk->now = 1000 * MS;
    assert_int_equal(wq_new(&q, &o), 0);
    return q;
}

/* Takes the next key without waiting and checks it. */
static void expect_key(wq *q, const char *want)
{
    char *key = NULL;
    assert_int_equal(wq_get(&key, q, 0), 0);
    assert_string_equal(key, want);
    free(key);
}

static void expect_empty(wq *q)
{
    char *key = NULL;
    assert_int_equal(wq_get(&key, q, 0), LB_ETIMEOUT);
    assert_null(key);
}

static void test_workqueue_dedups_keys(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    assert_int_equal(wq_add(q, "shop/a"), 0);
    assert_int_equal(wq_add(q, "shop/b"), 0);
    assert_int_equal(wq_add(q, "shop/a"), 0);
    assert_int_equal(wq_len(q), 2);
    expect_key(q, "shop/a"); /* FIFO order */
    expect_key(q, "shop/b");
    expect_empty(q);
    wq_done(q, "shop/a");
    wq_done(q, "shop/b");
    wq_free(q);
}

static void test_workqueue_key_held_by_a_worker_waits_for_done(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    wq_add(q, "shop/a");
    expect_key(q, "shop/a");
    wq_add(q, "shop/a"); /* changed while being reconciled */
    wq_add(q, "shop/a");
    assert_int_equal(wq_len(q), 0);
    expect_empty(q); /* not handed to a second worker */
    wq_done(q, "shop/a");
    assert_int_equal(wq_len(q), 1);
    expect_key(q, "shop/a");
    wq_done(q, "shop/a");
    expect_empty(q);
    wq_free(q);
}

static void test_workqueue_add_after_waits_and_earliest_wins(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    (void)state;
    wq_add_after(q, "ns/a", 100 * MS);
    wq_add_after(q, "ns/b", 50 * MS);
    wq_add_after(q, "ns/b", 10 * MS); /* earlier: moves b forward */
    wq_add_after(q, "ns/c", 10 * MS);
    wq_add_after(q, "ns/c", 80 * MS); /* later: ignored */
    assert_int_equal(wq_delayed_len(q), 3);
    expect_empty(q);
    clk.now += 9 * MS;
    expect_empty(q);
    clk.now += 1 * MS;
    assert_int_equal(wq_len(q), 2);
    expect_key(q, "ns/b");
    expect_key(q, "ns/c");
    clk.now += 89 * MS;
    expect_empty(q);
    clk.now += 1 * MS;
    expect_key(q, "ns/a");
    assert_int_equal(wq_delayed_len(q), 0);
    /* a key that is also queued now is handed out once */
    wq_add_after(q, "ns/d", 5 * MS);
    wq_add(q, "ns/d");
    expect_key(q, "ns/d");
    clk.now += 5 * MS;
    expect_empty(q); /* still processing: the delayed add waits for done */
    wq_done(q, "ns/d");
    expect_key(q, "ns/d");
    wq_done(q, "ns/d");
    wq_done(q, "ns/a");
    wq_done(q, "ns/b");
    wq_done(q, "ns/c");
    wq_free(q);
}

static void test_workqueue_per_key_backoff_doubles_to_the_cap(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    int64_t want = 5 * MS;
    (void)state;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(wq_add_rate_limited(q, "ns/flaky"), 0);
        assert_int_equal(wq_num_requeues(q, "ns/flaky"), i + 1);
        clk.now += want - 1;
        expect_empty(q);
        clk.now += 1;
        expect_key(q, "ns/flaky");
        wq_done(q, "ns/flaky");
        want = want * 2 > 300000 * MS ? 300000 * MS : want * 2; /* 5 ms .. 5 min */
    }
    assert_int_equal(want, 300000 * MS);
    /* another key has its own backoff */
    wq_add_rate_limited(q, "ns/other");
    clk.now += 5 * MS;
    expect_key(q, "ns/other");
    wq_done(q, "ns/other");
    /* forget starts over from the base */
    wq_forget(q, "ns/flaky");
    assert_int_equal(wq_num_requeues(q, "ns/flaky"), 0);
    wq_add_rate_limited(q, "ns/flaky");
    clk.now += 5 * MS;
    expect_key(q, "ns/flaky");
    wq_done(q, "ns/flaky");
    wq_free(q);
}

static void test_workqueue_rejects_bad_keys(void **state)
{
    fake_clock clk;
    wq *q = new_fake(&clk);
    char long_key[WQ_MAX_KEY_BYTES + 2];
    (void)state;
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_int_equal(wq_add(q, ""), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "key: must not be empty"));
    assert_int_equal(wq_add(q, long_key), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "WQ_MAX_KEY_BYTES"));
    assert_int_equal(wq_len(q), 0);
    wq_free(q);
}

typedef struct getter {
    wq *q;
    int rc;
    char *key;
} getter;

static void *blocking_get(void *arg)
{
    getter *g = arg;
    g->rc = wq_get(&g->key, g->q, -1);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_workqueue_shutdown_wakes_waiting_workers(void **state)
{
    wq *q = NULL;
    getter g[3];
    pthread_t th[3];
    (void)state;
    assert_int_equal(wq_new(&q, NULL), 0);
    for (int i = 0; i < 3; i++) {
        g[i] = (getter){q, 99, NULL};
        pthread_create(&th[i], NULL, blocking_get, &g[i]);
    }
    sleep_ms(50);
    wq_shutdown(q);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(g[i].rc, WQ_SHUTDOWN);
        assert_null(g[i].key);
    }
    assert_int_equal(wq_add(q, "ns/late"), 0); /* ignored */
    assert_int_equal(wq_len(q), 0);
    wq_free(q);
}

static void test_workqueue_blocking_get_wakes_for_a_delayed_key(void **state)
{
    wq *q = NULL;
    getter g;
    pthread_t th;
    (void)state;
    assert_int_equal(wq_new(&q, NULL), 0);
    g = (getter){q, 99, NULL};
    pthread_create(&th, NULL, blocking_get, &g);
    sleep_ms(20);
    wq_add_after(q, "ns/poll", 30 * MS); /* the sleeper must re-arm for this time */
    pthread_join(th, NULL);
    assert_int_equal(g.rc, 0);
    assert_string_equal(g.key, "ns/poll");
    wq_done(q, g.key);
    free(g.key);
    wq_free(q);
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

/* ---- many workers ------------------------------------------------------------------ */

#define N_KEYS    40
#define N_WORKERS 4
#define N_ADDS    4000

typedef struct shared {
    wq *q;
    atomic_int holders[N_KEYS];
    atomic_int last_add_seq[N_KEYS];
    atomic_int seen_seq[N_KEYS]; /* highest add seq a worker started after */
    atomic_int overlap;
    atomic_int seq;
} shared;

static int key_index(const char *key)
{
    return atoi(key + 3);
}

static void *worker(void *arg)
{
    shared *s = arg;
    for (;;) {
        char *key = NULL;
        int i, seen;
        if (wq_get(&key, s->q, -1) != 0)
            return NULL;
        i = key_index(key);
        if (atomic_fetch_add(&s->holders[i], 1) != 0)
            atomic_store(&s->overlap, 1);
        seen = atomic_load(&s->last_add_seq[i]);
        if (seen > atomic_load(&s->seen_seq[i]))
            atomic_store(&s->seen_seq[i], seen);
        sched_yield();
        atomic_fetch_sub(&s->holders[i], 1);
        wq_done(s->q, key);
        free(key);
    }
}

static void test_workqueue_many_workers_never_share_a_key(void **state)
{
    shared *s = lb_calloc(1, sizeof(*s));
    pthread_t th[N_WORKERS];
    (void)state;
    assert_int_equal(wq_new(&s->q, NULL), 0);
    for (int i = 0; i < N_WORKERS; i++)
        pthread_create(&th[i], NULL, worker, s);
    for (int n = 0; n < N_ADDS; n++) {
        char key[16];
        int i = (int)((unsigned)n * 2654435761u % N_KEYS);
        snprintf(key, sizeof(key), "ns/%d", i);
        /* record the add before making it, so a worker that starts later sees it */
        atomic_store(&s->last_add_seq[i], atomic_fetch_add(&s->seq, 1) + 1);
        wq_add(s->q, key);
    }
    /* every key's last add must be followed by a processing that saw it */
    for (int tries = 0; tries < 500; tries++) {
        int all = 1;
        for (int i = 0; i < N_KEYS; i++)
            if (atomic_load(&s->seen_seq[i]) < atomic_load(&s->last_add_seq[i]))
                all = 0;
        if (all && wq_len(s->q) == 0)
            break;
        sleep_ms(10);
    }
    wq_shutdown(s->q);
    for (int i = 0; i < N_WORKERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&s->overlap), 0);
    for (int i = 0; i < N_KEYS; i++)
        assert_true(atomic_load(&s->seen_seq[i]) >= atomic_load(&s->last_add_seq[i]));
    wq_free(s->q);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workqueue_dedups_keys),
        cmocka_unit_test(test_workqueue_key_held_by_a_worker_waits_for_done),
        cmocka_unit_test(test_workqueue_add_after_waits_and_earliest_wins),
        cmocka_unit_test(test_workqueue_per_key_backoff_doubles_to_the_cap),
        cmocka_unit_test(test_workqueue_rejects_bad_keys),
        cmocka_unit_test(test_workqueue_shutdown_wakes_waiting_workers),
        cmocka_unit_test(test_workqueue_blocking_get_wakes_for_a_delayed_key),
        cmocka_unit_test(test_workqueue_wait_idle_waits_for_running_work),
        cmocka_unit_test(test_workqueue_many_workers_never_share_a_key),
    };
    return cmocka_run_group_tests_name("kube_workqueue", tests, NULL, NULL);
}
