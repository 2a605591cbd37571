/* Unit tests for pkg/agent/pgzip (gzip members made on worker threads),
 * checked against the real gzip CLI and pkg/agent/gzip's decompressor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/gzip.h"
#include "agent/pgzip.h"
#include "test_agent_helpers.h"

/* Compresses data (fed in `step` pieces) with `threads` workers into out. */
static int pgz_buf(mem_sink *out, const unsigned char *data, size_t n, int threads, size_t step)
{
    pgz_stage *z = NULL;
    agent_sink s = mem_sink_make(out);
    int rc = pgz_new(&z, 1, threads, &s);
    if (rc != 0)
        return rc;
    agent_sink zs = pgz_sink(z);
    rc = feed(&zs, data, n, step);
    if (rc == 0)
        assert_int_equal(pgz_bytes_in(z), n);
    pgz_free(z);
    return rc;
}

static void test_pgzip_output_is_read_by_the_gzip_cli_and_gunzip_stage(void **state)
{
    (void)state;
    char *dir = temp_dir();
    const size_t sizes[] = {0, 1, PGZ_CHUNK_BYTES - 1, PGZ_CHUNK_BYTES, PGZ_CHUNK_BYTES + 1,
                            3 * PGZ_CHUNK_BYTES + 12345};
    const int threads[] = {1, 3};
    unsigned char *data = test_data(sizes[5], 11);
    char *gzf = lb_sprintf("%s/x.gz", dir);
    char *plain = lb_sprintf("%s/x", dir);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (size_t t = 0; t < sizeof(threads) / sizeof(threads[0]); t++) {
            size_t n = sizes[i];
            mem_sink out;
            assert_int_equal(pgz_buf(&out, data, n, threads[t], 65537), 0);
            assert_int_equal(out.closed, 1);
            if (n > PGZ_CHUNK_BYTES)
                assert_true(buf_len(&out.buf) < n / 2);
            /* the gzip CLI reads the concatenated members as one file */
            assert_int_equal(write_file(gzf, out.buf.data, buf_len(&out.buf)), 0);
            assert_int_equal(run_sh("gzip -t '%s' && gzip -dc '%s' > '%s'", gzf, gzf, plain), 0);
            size_t m = 0;
            unsigned char *back = read_file(plain, &m);
            assert_int_equal(m, n);
            if (n > 0)
                assert_memory_equal(back, data, n);
            free(back);
            /* so does pg-restore's gunzip stage */
            gz_stage *g = NULL;
            mem_sink dec;
            agent_sink ds = mem_sink_make(&dec);
            assert_int_equal(gz_decompressor_new(&g, true, &ds), 0);
            agent_sink gs = gz_stage_sink(g);
            assert_int_equal(feed(&gs, (const unsigned char *)out.buf.data, buf_len(&out.buf),
                                  100003),
                             0);
            assert_true(gz_stage_was_gzip(g));
            assert_int_equal(buf_len(&dec.buf), n);
            if (n > 0)
                assert_memory_equal(dec.buf.data, data, n);
            gz_stage_free(g);
            buf_dispose(&dec.buf);
            buf_dispose(&out.buf);
        }
    }
    free(gzf);
    free(plain);
    free(data);
    remove_dir(dir);
    free(dir);
}

/* A downstream that fails once it has taken `budget` bytes. */
typedef struct failing_sink {
    size_t budget;
    size_t taken;
} failing_sink;

static int failing_write(void *self, const void *data, size_t len)
{
    (void)data;
    failing_sink *f = self;
    if (f->taken + len > f->budget)
        return lb_error_set("downstream refused byte %zu", f->budget);
    f->taken += len;
    return 0;
}

static void test_pgzip_reports_a_downstream_failure_and_frees_cleanly(void **state)
{
    (void)state;
    size_t n = 8 * PGZ_CHUNK_BYTES;
    unsigned char *data = test_data(n, 12);
    for (int threads = 1; threads <= 3; threads++) {
        failing_sink f = {.budget = PGZ_CHUNK_BYTES, .taken = 0};
        agent_sink s = {.write = failing_write, .close = NULL, .self = &f};
        pgz_stage *z = NULL;
        assert_int_equal(pgz_new(&z, 1, threads, &s), 0);
        agent_sink zs = pgz_sink(z);
        int rc = feed(&zs, data, n, 1 << 20);
        assert_int_equal(rc, LB_ERROR);
        assert_non_null(strstr(lb_error_last(), "downstream refused"));
        pgz_free(z); /* workers possibly mid-chunk: joined, nothing leaks */
    }
    /* abandoned before close, with chunks in flight */
    mem_sink out;
    agent_sink s = mem_sink_make(&out);
    pgz_stage *z = NULL;
    assert_int_equal(pgz_new(&z, 1, 2, &s), 0);
    agent_sink zs = pgz_sink(z);
    assert_int_equal(sink_write(&zs, data, 3 * PGZ_CHUNK_BYTES + 5), 0);
    pgz_free(z);
    assert_int_equal(out.closed, 0);
    buf_dispose(&out.buf);
    free(data);
}

static void test_pgzip_refuses_bad_level_and_thread_counts(void **state)
{
    (void)state;
    mem_sink out;
    agent_sink s = mem_sink_make(&out);
    pgz_stage *z = NULL;
    assert_int_equal(pgz_new(&z, 0, 2, &s), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "level must be 1..9"));
    assert_int_equal(pgz_new(&z, 10, 2, &s), LB_EINVALID);
    assert_int_equal(pgz_new(&z, 1, 0, &s), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "workers must be 1..16"));
    assert_int_equal(pgz_new(&z, 1, PGZ_MAX_WORKERS + 1, &s), LB_EINVALID);
    assert_null(z);
    buf_dispose(&out.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgzip_output_is_read_by_the_gzip_cli_and_gunzip_stage),
        cmocka_unit_test(test_pgzip_reports_a_downstream_failure_and_frees_cleanly),
        cmocka_unit_test(test_pgzip_refuses_bad_level_and_thread_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
