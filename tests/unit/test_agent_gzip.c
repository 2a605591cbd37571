/* Unit tests for pkg/agent/gzip and pkg/agent/digest, checked against the
 * real gzip and sha256sum CLIs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/digest.h"
#include "agent/gzip.h"
#include "test_agent_helpers.h"

static int gunzip_buf(mem_sink *out, const unsigned char *data, size_t n, bool passthrough,
                      size_t step)
{
    gz_stage *g = NULL;
    agent_sink s = mem_sink_make(out);
    int rc = gz_decompressor_new(&g, passthrough, &s);
    if (rc != 0)
        return rc;
    agent_sink gs = gz_stage_sink(g);
    rc = feed(&gs, data, n, step);
    gz_stage_free(g);
    return rc;
}

static void test_gzip_output_is_read_by_the_gzip_cli(void **state)
{
    (void)state;
    char *dir = temp_dir();
    size_t n = 1000003;
    unsigned char *data = test_data(n, 5);
    gz_stage *g = NULL;
    mem_sink out;
    agent_sink s = mem_sink_make(&out);
    assert_int_equal(gz_compressor_new(&g, 1, &s), 0);
    agent_sink gs = gz_stage_sink(g);
    assert_int_equal(feed(&gs, data, n, 65537), 0);
    assert_int_equal(out.closed, 1);
    assert_true(buf_len(&out.buf) < n / 2);
    char *gzf = lb_sprintf("%s/x.gz", dir);
    char *plain = lb_sprintf("%s/x", dir);
    assert_int_equal(write_file(gzf, out.buf.data, buf_len(&out.buf)), 0);
    assert_int_equal(run_sh("gzip -t '%s' && gzip -dc '%s' > '%s'", gzf, gzf, plain), 0);
    size_t m = 0;
    unsigned char *back = read_file(plain, &m);
    assert_int_equal(m, n);
    assert_memory_equal(back, data, n);
    free(back);
    free(gzf);
    free(plain);
    buf_dispose(&out.buf);
    gz_stage_free(g);
    free(data);
    remove_dir(dir);
    free(dir);
}

static void test_gunzip_reads_cli_files_and_concatenated_members(void **state)
{
    (void)state;
    char *dir = temp_dir();
    size_t n = 300000;
    unsigned char *data = test_data(n, 6);
    char *a = lb_sprintf("%s/a", dir);
    char *b = lb_sprintf("%s/b", dir);
    assert_int_equal(write_file(a, data, n / 3), 0);
    assert_int_equal(write_file(b, data + n / 3, n - n / 3), 0);
    /* two members, as `cat a.gz b.gz` makes */
    assert_int_equal(run_sh("cd '%s' && gzip -c a > ab.gz && gzip -9c b >> ab.gz", dir), 0);
    char *ab = lb_sprintf("%s/ab.gz", dir);
    size_t m = 0;
    unsigned char *gz = read_file(ab, &m);
    const size_t steps[] = {1, 100, 1 << 20};
    for (size_t i = 0; i < 3; i++) {
        mem_sink out;
        assert_int_equal(gunzip_buf(&out, gz, m, false, steps[i]), 0);
        assert_int_equal(buf_len(&out.buf), n);
        assert_memory_equal(out.buf.data, data, n);
        buf_dispose(&out.buf);
    }
    /* truncated: no trailer */
    mem_sink out;
    assert_int_equal(gunzip_buf(&out, gz, m - 4, false, 4096), LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "truncated"));
    buf_dispose(&out.buf);
    /* damaged: the CRC or the deflate data fails */
    gz[m / 2] ^= 0x40;
    assert_int_equal(gunzip_buf(&out, gz, m, false, 4096), LB_ERROR);
    buf_dispose(&out.buf);
    free(gz);
    free(ab);
    free(a);
    free(b);
    free(data);
    remove_dir(dir);
    free(dir);
}

static void test_gunzip_passes_through_plain_input_only_when_asked(void **state)
{
    (void)state;
    const char *inputs[] = {"PGDMP\x01\x0e custom dump", "x", ""};
    for (size_t i = 0; i < 3; i++) {
        mem_sink out;
        assert_int_equal(
            gunzip_buf(&out, (const unsigned char *)inputs[i], strlen(inputs[i]), true, 1), 0);
        assert_int_equal(buf_len(&out.buf), strlen(inputs[i]));
        assert_memory_equal(buf_cstr(&out.buf), inputs[i], strlen(inputs[i]));
        buf_dispose(&out.buf);
    }
    mem_sink out;
    assert_int_equal(gunzip_buf(&out, (const unsigned char *)"plain", 5, false, 5), LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "not gzip"));
    buf_dispose(&out.buf);
}

static void test_digest_matches_sha256sum(void **state)
{
    (void)state;
    char *dir = temp_dir();
    char *f = lb_sprintf("%s/d", dir);
    char *sum = lb_sprintf("%s/d.sum", dir);
    size_t n = 777777;
    unsigned char *data = test_data(n, 7);
    assert_int_equal(write_file(f, data, n), 0);
    assert_int_equal(run_sh("sha256sum '%s' | cut -c1-64 | tr -d '\\n' > '%s'", f, sum), 0);
    size_t m = 0;
    char *expect = (char *)read_file(sum, &m);
    assert_int_equal(m, 64);
    /* streamed through the tee in odd pieces, forwarding everything */
    digest_tee *t = NULL;
    mem_sink out;
    agent_sink s = mem_sink_make(&out);
    assert_int_equal(digest_tee_new(&t, &s), 0);
    agent_sink ts = digest_tee_sink(t);
    assert_int_equal(feed(&ts, data, n, 4099), 0);
    assert_string_equal(digest_tee_hex(t), expect);
    assert_int_equal(digest_tee_bytes(t), n);
    assert_int_equal(buf_len(&out.buf), n);
    assert_int_equal(out.closed, 1);
    digest_tee_free(t);
    buf_dispose(&out.buf);
    char hex[65];
    int64_t size = 0;
    assert_int_equal(digest_sha256_file(hex, &size, f), 0);
    assert_string_equal(hex, expect);
    assert_int_equal(size, n);
    assert_true(digest_is_sha256_hex(expect));
    assert_false(digest_is_sha256_hex("abc"));
    expect[3] = 'g';
    assert_false(digest_is_sha256_hex(expect));
    free(expect);
    free(data);
    free(f);
    free(sum);
    remove_dir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gzip_output_is_read_by_the_gzip_cli),
        cmocka_unit_test(test_gunzip_reads_cli_files_and_concatenated_members),
        cmocka_unit_test(test_gunzip_passes_through_plain_input_only_when_asked),
        cmocka_unit_test(test_digest_matches_sha256sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
