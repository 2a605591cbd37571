/* Unit tests for pkg/kube/watch: the line framer, fed every possible chunking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kube/watch.h"
#include "util/alloc.h"
#include "util/error.h"

#define MAX_LINES 64

typedef struct collected {
    char *lines[MAX_LINES];
    size_t n;
    const char *chunk; /* the chunk being fed, to see whether a line was copied */
    size_t chunk_len;
    size_t in_place; /* lines handed over from inside the chunk */
    int stop_after;  /* return 7 after this many lines (0: never) */
} collected;

static int collect(const char *line, size_t len, void *payload)
{
    collected *c = payload;
    assert_true(c->n < MAX_LINES);
    c->lines[c->n++] = lb_strndup(line, len);
    if (line >= c->chunk && line + len <= c->chunk + c->chunk_len)
        c->in_place++;
    if (c->stop_after != 0 && c->n == (size_t)c->stop_after)
        return 7;
    return 0;
}

static void collected_free(collected *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->lines[i]);
    memset(c, 0, sizeof(*c));
}

static const char STREAM[] =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"}}}\n"
    "\n"
    "{\"type\":\"MODIFIED\",\"object\":{}}\r\n"
    "x\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"99\"}}}\n";
static const char *const EXPECTED[] = {
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"}}}",
    "{\"type\":\"MODIFIED\",\"object\":{}}",
    "x",
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"99\"}}}",
};
#define N_EXPECTED (sizeof(EXPECTED) / sizeof(EXPECTED[0]))

/* Feeds `data` cut at the given points (ascending, each in 1..len-1). */
static int feed_cut(kube_framer *f, collected *c, const char *data, size_t len, const size_t *cuts,
                    size_t n_cuts)
{
    size_t start = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        /* a private copy, so that a line kept by pointer past its chunk would be caught by ASan */
        char *chunk = lb_malloc(end - start + 1);
        int rc;
        memcpy(chunk, data + start, end - start);
        c->chunk = chunk;
        c->chunk_len = end - start;
        rc = kube_framer_feed(f, chunk, end - start, collect, c);
        free(chunk);
        if (rc != 0)
            return rc;
        start = end;
    }
    return 0;
}

static void assert_expected(const collected *c)
{
    assert_int_equal(c->n, N_EXPECTED);
    for (size_t i = 0; i < N_EXPECTED; i++)
        assert_string_equal(c->lines[i], EXPECTED[i]);
}

static void test_framer_whole_stream_in_one_chunk_is_not_copied(void **state)
{
    kube_framer f;
    collected c = {0};
    (void)state;
    kube_framer_init(&f, 1024);
    assert_int_equal(feed_cut(&f, &c, STREAM, strlen(STREAM), NULL, 0), 0);
    assert_expected(&c);
    assert_int_equal(c.in_place, N_EXPECTED);
    assert_int_equal(kube_framer_pending(&f), 0);
    collected_free(&c);
    kube_framer_dispose(&f);
}

static void test_framer_every_single_split_point(void **state)
{
    size_t len = strlen(STREAM);
    (void)state;
    for (size_t cut = 1; cut < len; cut++) {
        kube_framer f;
        collected c = {0};
        kube_framer_init(&f, 1024);
        assert_int_equal(feed_cut(&f, &c, STREAM, len, &cut, 1), 0);
        assert_expected(&c);
        /* at most the one line holding the cut was copied */
        assert_true(c.in_place >= N_EXPECTED - 1);
        assert_int_equal(kube_framer_pending(&f), 0);
        collected_free(&c);
        kube_framer_dispose(&f);
    }
}

static void test_framer_every_pair_of_split_points(void **state)
{
    size_t len = strlen(STREAM);
    (void)state;
    for (size_t a = 1; a < len; a++) {
        for (size_t b = a + 1; b < len; b++) {
            kube_framer f;
            collected c = {0};
            size_t cuts[2] = {a, b};
            kube_framer_init(&f, 1024);
            assert_int_equal(feed_cut(&f, &c, STREAM, len, cuts, 2), 0);
            assert_expected(&c);
            collected_free(&c);
            kube_framer_dispose(&f);
        }
    }
}

static void test_framer_one_byte_chunks(void **state)
{
    size_t len = strlen(STREAM);
    size_t *cuts = lb_calloc(len, sizeof(size_t));
    kube_framer f;
    collected c = {0};
    (void)state;
    for (size_t i = 1; i < len; i++)
        cuts[i - 1] = i;
    kube_framer_init(&f, 1024);
    assert_int_equal(feed_cut(&f, &c, STREAM, len, cuts, len - 1), 0);
    assert_expected(&c);
    collected_free(&c);
    kube_framer_dispose(&f);
    free(cuts);
}

static void test_framer_keeps_unfinished_tail_pending(void **state)
{
    kube_framer f;
    collected c = {0};
    (void)state;
    kube_framer_init(&f, 1024);
    c.chunk = "";
    assert_int_equal(kube_framer_feed(&f, "one\ntw", 6, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(kube_framer_pending(&f), 2);
    kube_framer_reset(&f);
    assert_int_equal(kube_framer_pending(&f), 0);
    assert_int_equal(kube_framer_feed(&f, "three\n", 6, collect, &c), 0);
    assert_string_equal(c.lines[1], "three");
    collected_free(&c);
    kube_framer_dispose(&f);
}

/* A line of exactly the cap passes; one byte more fails, however it is chunked. */
static void test_framer_line_over_cap_fails_in_every_chunking(void **state)
{
    const char ok[] = "0123456789\n";           /* 10 bytes: at the cap */
    const char bad[] = "abc\n0123456789X\nz\n"; /* 11 bytes: over */
    size_t len = strlen(bad);
    (void)state;
    {
        kube_framer f;
        collected c = {0};
        kube_framer_init(&f, 10);
        assert_int_equal(feed_cut(&f, &c, ok, strlen(ok), NULL, 0), 0);
        assert_int_equal(c.n, 1);
        collected_free(&c);
        kube_framer_dispose(&f);
    }
    for (size_t cut = 0; cut < len; cut++) {
        kube_framer f;
        collected c = {0};
        int rc;
        kube_framer_init(&f, 10);
        rc = feed_cut(&f, &c, bad, len, &cut, cut == 0 ? 0 : 1);
        assert_int_equal(rc, LB_ETOOBIG);
        assert_non_null(strstr(lb_error_last(), "longer than 10 bytes"));
        assert_int_equal(c.n, 1); /* "abc" came through before the long line */
        collected_free(&c);
        kube_framer_dispose(&f);
    }
}

static void test_framer_callback_value_stops_feeding(void **state)
{
    kube_framer f;
    collected c = {0};
    (void)state;
    c.stop_after = 2;
    kube_framer_init(&f, 1024);
    assert_int_equal(feed_cut(&f, &c, STREAM, strlen(STREAM), NULL, 0), 7);
    assert_int_equal(c.n, 2);
    collected_free(&c);
    kube_framer_dispose(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framer_whole_stream_in_one_chunk_is_not_copied),
        cmocka_unit_test(test_framer_every_single_split_point),
        cmocka_unit_test(test_framer_every_pair_of_split_points),
        cmocka_unit_test(test_framer_one_byte_chunks),
        cmocka_unit_test(test_framer_keeps_unfinished_tail_pending),
        cmocka_unit_test(test_framer_line_over_cap_fails_in_every_chunking),
        cmocka_unit_test(test_framer_callback_value_stops_feeding),
    };
    return cmocka_run_group_tests_name("kube_watch", tests, NULL, NULL);
}
