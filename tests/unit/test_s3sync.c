/* Unit tests for aws/s3sync.c's per-key decision (s3sync_diff_compute) and
 * the multipart ETag test: what a sync copies, checks by content, keeps and
 * deletes, and nothing left once the copies are made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aws/s3sync.h"
#include "util/alloc.h"

static void add(s3sync_listing *l, const char *key, long long size, const char *etag)
{
    l->v = lb_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n].key = lb_strdup(key);
    l->v[l->n].size = size;
    l->v[l->n].etag = lb_strdup(etag);
    l->n++;
    l->cap = l->n;
    l->bytes += size;
}

static void test_multipart_etags_are_recognised(void **state)
{
    (void)state;
    assert_true(s3sync_etag_is_multipart("\"9b2cf535f27731c974343645a3985328-3\""));
    assert_true(s3sync_etag_is_multipart("9b2cf535f27731c974343645a3985328-10000"));
    assert_false(s3sync_etag_is_multipart("\"9b2cf535f27731c974343645a3985328\""));
    assert_false(s3sync_etag_is_multipart("\"abc-\""));
    assert_false(s3sync_etag_is_multipart("\"abc-1x\""));
    assert_false(s3sync_etag_is_multipart("-"));
    assert_false(s3sync_etag_is_multipart(NULL));
}

static void test_each_key_gets_one_decision(void **state)
{
    s3sync_listing src = {0}, dst = {0};
    s3sync_diff d;
    (void)state;

    add(&src, "p/missing", 10, "\"m1\"");
    add(&src, "p/same", 20, "\"s1\"");
    add(&src, "p/resized", 30, "\"r1\"");
    add(&src, "p/changed", 40, "\"c1\"");
    add(&src, "p/multi", 50, "\"aa-2\"");
    add(&src, "p/multi-same", 60, "\"bb-2\"");
    add(&dst, "p/same", 20, "\"s1\"");
    add(&dst, "p/resized", 31, "\"r1\"");
    add(&dst, "p/changed", 40, "\"c2\"");
    add(&dst, "p/multi", 50, "\"single\"");
    add(&dst, "p/multi-same", 60, "\"bb-2\"");
    add(&dst, "p/extra", 5, "\"e\"");
    s3sync_listing_sort(&src);
    s3sync_listing_sort(&dst);
    assert_int_equal(s3sync_diff_compute(&d, &src, &dst), 0);

    assert_int_equal(d.ncopy, 3); /* changed, missing, resized (sorted) */
    assert_string_equal(src.v[d.copy[0]].key, "p/changed");
    assert_string_equal(src.v[d.copy[1]].key, "p/missing");
    assert_string_equal(src.v[d.copy[2]].key, "p/resized");
    assert_int_equal(d.copy_bytes, 80);
    assert_int_equal(d.ncheck, 1);
    assert_string_equal(src.v[d.check[0]].key, "p/multi");
    assert_int_equal(d.nextra, 1);
    assert_string_equal(dst.v[d.extra[0]].key, "p/extra");
    assert_int_equal(d.same, 2);
    assert_int_equal(d.same_bytes, 80);
    s3sync_diff_dispose(&d);
    s3sync_listing_dispose(&src);
    s3sync_listing_dispose(&dst);
}

static void test_after_the_copies_nothing_is_left(void **state)
{
    s3sync_listing src = {0}, dst = {0};
    s3sync_diff d;
    char key[32];
    (void)state;

    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "k%03d", i);
        add(&src, key, i, "\"x\"");
        add(&dst, key, i, "\"x\"");
    }
    s3sync_listing_sort(&src);
    s3sync_listing_sort(&dst);
    s3sync_diff_compute(&d, &src, &dst);
    assert_int_equal(d.ncopy + d.ncheck + d.nextra, 0);
    assert_int_equal(d.same, 50);
    s3sync_diff_dispose(&d);

    /* an empty target: everything to copy; an empty source: everything extra */
    s3sync_listing empty = {0};
    s3sync_diff_compute(&d, &src, &empty);
    assert_int_equal(d.ncopy, 50);
    s3sync_diff_dispose(&d);
    s3sync_diff_compute(&d, &empty, &dst);
    assert_int_equal(d.nextra, 50);
    s3sync_diff_dispose(&d);
    s3sync_listing_dispose(&src);
    s3sync_listing_dispose(&dst);
}

static void test_copy_many_refuses_a_bad_concurrency(void **state)
{
    size_t done = 9;
    long long bytes = 9;
    (void)state;
    assert_int_equal(s3sync_copy_many(&done, &bytes, NULL, "a", "b", NULL, 0, 0), -6);
    assert_int_equal(done, 0);
    assert_int_equal(s3sync_copy_many(&done, &bytes, NULL, "a", "b", NULL, 0, 257), -6);
    assert_int_equal(s3sync_copy_many(&done, &bytes, NULL, "a", "b", NULL, 0, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart_etags_are_recognised),
        cmocka_unit_test(test_each_key_gets_one_decision),
        cmocka_unit_test(test_after_the_copies_nothing_is_left),
        cmocka_unit_test(test_copy_many_refuses_a_bad_concurrency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
