/* Unit tests for pkg/agent/cipher: Lifeboat's AES-256-GCM frames and
 * decryption of files made by the real `openssl enc -aes-256-cbc -pbkdf2`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/cipher.h"
#include "test_agent_helpers.h"

#define KEY      "correct horse battery staple"
#define ITER_LOW 1000 /* keeps the tests fast; the default is CIPHER_GCM_DEFAULT_ITER */

static int encrypt_buf(mem_sink *out, const unsigned char *data, size_t n, uint32_t frame,
                       size_t step)
{
    cipher_stage *enc = NULL;
    agent_sink s = mem_sink_make(out);
    int rc = cipher_encryptor_new(&enc, KEY, strlen(KEY), frame, ITER_LOW, &s);
    if (rc != 0)
        return rc;
    agent_sink es = cipher_stage_sink(enc);
    rc = feed(&es, data, n, step);
    cipher_stage_free(enc);
    return rc;
}

static int decrypt_buf(mem_sink *out, const void *key, const unsigned char *data, size_t n,
                       size_t step)
{
    cipher_stage *dec = NULL;
    agent_sink s = mem_sink_make(out);
    int rc = cipher_decryptor_new(&dec, key, key != NULL ? strlen(key) : 0, true, &s);
    if (rc != 0)
        return rc;
    agent_sink ds = cipher_stage_sink(dec);
    rc = feed(&ds, data, n, step);
    cipher_stage_free(dec);
    return rc;
}

static void test_cipher_gcm_round_trips_every_size_and_split(void **state)
{
    (void)state;
    const size_t sizes[] = {0, 1, 1023, 1024, 1025, 2048, 5000, 100000};
    const size_t steps[] = {1, 7, 1024, 1 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *data = test_data(sizes[i], (unsigned)i);
        for (size_t j = 0; j < sizeof(steps) / sizeof(steps[0]); j++) {
            if (steps[j] == 1 && sizes[i] > 5000)
                continue;
            mem_sink ct, pt;
            assert_int_equal(encrypt_buf(&ct, data, sizes[i], 1024, steps[j]), 0);
            assert_int_equal(ct.closed, 1);
            /* header + frames: full ones plus the last, shorter one */
            size_t frames = sizes[i] / 1024 + 1;
            assert_int_equal(buf_len(&ct.buf),
                             CIPHER_GCM_HEADER_BYTES + sizes[i] + frames * CIPHER_GCM_TAG_BYTES);
            assert_memory_equal(ct.buf.data, CIPHER_GCM_MAGIC, 8);
            assert_int_equal(
                decrypt_buf(&pt, KEY, (unsigned char *)ct.buf.data, buf_len(&ct.buf), steps[j]), 0);
            assert_int_equal(buf_len(&pt.buf), sizes[i]);
            if (sizes[i] > 0)
                assert_memory_equal(pt.buf.data, data, sizes[i]);
            assert_int_equal(pt.closed, 1);
            buf_dispose(&ct.buf);
            buf_dispose(&pt.buf);
        }
        free(data);
    }
}

static void test_cipher_gcm_salts_each_object(void **state)
{
    (void)state;
    mem_sink a, b;
    unsigned char *data = test_data(3000, 1);
    assert_int_equal(encrypt_buf(&a, data, 3000, 1024, 3000), 0);
    assert_int_equal(encrypt_buf(&b, data, 3000, 1024, 3000), 0);
    assert_int_equal(buf_len(&a.buf), buf_len(&b.buf));
    assert_memory_not_equal(a.buf.data + 16, b.buf.data + 16, buf_len(&a.buf) - 16);
    /* the plaintext does not appear in the ciphertext */
    assert_null(memmem(a.buf.data, buf_len(&a.buf), data + 100, 32));
    buf_dispose(&a.buf);
    buf_dispose(&b.buf);
    free(data);
}

static void test_cipher_gcm_wrong_key_is_named_before_any_output(void **state)
{
    (void)state;
    mem_sink ct, pt;
    unsigned char *data = test_data(5000, 2);
    assert_int_equal(encrypt_buf(&ct, data, 5000, 1024, 5000), 0);
    assert_int_equal(
        decrypt_buf(&pt, "not the right key", (unsigned char *)ct.buf.data, buf_len(&ct.buf), 4096),
        LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "wrong key"));
    assert_int_equal(buf_len(&pt.buf), 0);
    buf_dispose(&pt.buf);
    /* no key at all */
    assert_int_equal(decrypt_buf(&pt, NULL, (unsigned char *)ct.buf.data, buf_len(&ct.buf), 4096),
                     LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "no key was given"));
    buf_dispose(&pt.buf);
    buf_dispose(&ct.buf);
    free(data);
}

static void test_cipher_gcm_detects_every_flipped_bit_position(void **state)
{
    (void)state;
    mem_sink ct;
    unsigned char *data = test_data(2500, 3);
    assert_int_equal(encrypt_buf(&ct, data, 2500, 1024, 2500), 0);
    size_t n = buf_len(&ct.buf);
    unsigned char *copy = lb_malloc(n);
    /* every byte of the header and of each frame, one bit each */
    for (size_t i = 0; i < n; i += (i < CIPHER_GCM_HEADER_BYTES ? 1 : 97)) {
        mem_sink pt;
        memcpy(copy, ct.buf.data, n);
        copy[i] ^= 0x10;
        assert_int_not_equal(decrypt_buf(&pt, KEY, copy, n, 1000), 0);
        buf_dispose(&pt.buf);
    }
    free(copy);
    buf_dispose(&ct.buf);
    free(data);
}

static void test_cipher_gcm_detects_truncation_anywhere(void **state)
{
    (void)state;
    mem_sink ct;
    unsigned char *data = test_data(4096, 4); /* exactly 4 frames + an empty last one */
    assert_int_equal(encrypt_buf(&ct, data, 4096, 1024, 4096), 0);
    size_t n = buf_len(&ct.buf);
    const size_t frame = 1024 + CIPHER_GCM_TAG_BYTES;
    size_t cuts[] = {0,
                     5,
                     CIPHER_GCM_HEADER_BYTES,
                     CIPHER_GCM_HEADER_BYTES + frame,
                     CIPHER_GCM_HEADER_BYTES + 2 * frame,
                     CIPHER_GCM_HEADER_BYTES + 4 * frame,
                     CIPHER_GCM_HEADER_BYTES + 4 * frame + 3,
                     n - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        mem_sink pt;
        int rc = decrypt_buf(&pt, KEY, (unsigned char *)ct.buf.data, cuts[i], 777);
        assert_int_not_equal(rc, 0);
        assert_true(strstr(lb_error_last(), "truncated") != NULL ||
                    strstr(lb_error_last(), "not encrypted") != NULL ||
                    strstr(lb_error_last(), "authentication") != NULL);
        buf_dispose(&pt.buf);
    }
    /* a dropped middle frame */
    unsigned char *cut = lb_malloc(n);
    size_t off = CIPHER_GCM_HEADER_BYTES + frame;
    memcpy(cut, ct.buf.data, off);
    memcpy(cut + off, ct.buf.data + off + frame, n - off - frame);
    mem_sink pt;
    assert_int_not_equal(decrypt_buf(&pt, KEY, cut, n - frame, 4096), 0);
    assert_non_null(strstr(lb_error_last(), "authentication"));
    buf_dispose(&pt.buf);
    free(cut);
    buf_dispose(&ct.buf);
    free(data);
}

static void test_cipher_refuses_unencrypted_input_when_required(void **state)
{
    (void)state;
    mem_sink pt;
    const unsigned char plain[] = "PGDMP plain data, not encrypted";
    assert_int_equal(decrypt_buf(&pt, KEY, plain, sizeof(plain), 5), LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "not encrypted in a known format"));
    buf_dispose(&pt.buf);
    /* not required: forwarded unchanged, also when shorter than the magic */
    const char *inputs[] = {"PGDMP plain data, not encrypted", "abc", ""};
    for (size_t i = 0; i < 3; i++) {
        cipher_stage *dec = NULL;
        agent_sink s = mem_sink_make(&pt);
        assert_int_equal(cipher_decryptor_new(&dec, NULL, 0, false, &s), 0);
        agent_sink ds = cipher_stage_sink(dec);
        assert_int_equal(feed(&ds, (const unsigned char *)inputs[i], strlen(inputs[i]), 3), 0);
        assert_int_equal(cipher_stage_format(dec), CIPHER_NONE);
        assert_int_equal(buf_len(&pt.buf), strlen(inputs[i]));
        assert_memory_equal(buf_cstr(&pt.buf), inputs[i], strlen(inputs[i]));
        cipher_stage_free(dec);
        buf_dispose(&pt.buf);
    }
}

/* The runbook's command: openssl enc -aes-256-cbc -pbkdf2 ... -pass "pass:$KEY". */
static void test_cipher_decrypts_the_real_openssl_cli_output(void **state)
{
    (void)state;
    char *dir = temp_dir();
    assert_non_null(dir);
    const size_t sizes[] = {0, 15, 16, 17, 65536, 300001};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *data = test_data(sizes[i], 10 + (unsigned)i);
        char *in = lb_sprintf("%s/plain", dir);
        char *encf = lb_sprintf("%s/plain.enc", dir);
        assert_int_equal(write_file(in, data, sizes[i]), 0);
        assert_int_equal(run_sh("openssl enc -aes-256-cbc -pbkdf2 -salt -in '%s' -out '%s' "
                                "-pass 'pass:" KEY "'",
                                in, encf),
                         0);
        size_t n = 0;
        unsigned char *ct = read_file(encf, &n);
        assert_non_null(ct);
        assert_memory_equal(ct, CIPHER_CBC_MAGIC, 8);
        mem_sink pt;
        assert_int_equal(decrypt_buf(&pt, KEY, ct, n, 4093), 0);
        assert_int_equal(buf_len(&pt.buf), sizes[i]);
        if (sizes[i] > 0)
            assert_memory_equal(pt.buf.data, data, sizes[i]);
        buf_dispose(&pt.buf);
        /* a wrong passphrase: bad padding at the end (or, rarely, garbage) */
        if (sizes[i] == 65536) {
            int rc = decrypt_buf(&pt, "wrong passphrase", ct, n, 4093);
            assert_true(rc != 0 || buf_len(&pt.buf) != sizes[i] ||
                        memcmp(pt.buf.data, data, sizes[i]) != 0);
            buf_dispose(&pt.buf);
            /* truncated by one block: the padding check fails */
            assert_int_equal(decrypt_buf(&pt, KEY, ct, n - 16, 4093), LB_ERROR);
            assert_non_null(strstr(lb_error_last(), "bad decrypt"));
            buf_dispose(&pt.buf);
        }
        free(ct);
        free(data);
        free(in);
        free(encf);
    }
    remove_dir(dir);
    free(dir);
}

/* A passphrase read from a mounted Secret file: one trailing newline is not part of it. */
static void test_cipher_key_file_strips_one_newline_and_caps_size(void **state)
{
    (void)state;
    char *dir = temp_dir();
    char *path = lb_sprintf("%s/key", dir);
    unsigned char *key = NULL;
    size_t len = 0;
    assert_int_equal(write_file(path, KEY "\n", strlen(KEY) + 1), 0);
    assert_int_equal(cipher_key_read_file(&key, &len, path), 0);
    assert_int_equal(len, strlen(KEY));
    assert_memory_equal(key, KEY, len);
    cipher_key_free(key, len);
    assert_int_equal(write_file(path, "tiny42", 6), 0);
    assert_int_equal(cipher_key_read_file(&key, &len, path), LB_EINVALID);
    assert_null(strstr(lb_error_last(), "tiny42")); /* never the key itself */
    unsigned char *big = test_data(CIPHER_MAX_KEY_BYTES + 10, 1);
    assert_int_equal(write_file(path, big, CIPHER_MAX_KEY_BYTES + 10), 0);
    assert_int_equal(cipher_key_read_file(&key, &len, path), LB_ETOOBIG);
    free(big);
    char *missing = lb_sprintf("%s/nope", dir);
    assert_int_equal(cipher_key_read_file(&key, &len, missing), LB_ERROR);
    free(missing);
    free(path);
    remove_dir(dir);
    free(dir);
}

static void test_cipher_encryptor_rejects_bad_parameters(void **state)
{
    (void)state;
    cipher_stage *c = NULL;
    mem_sink m;
    agent_sink s = mem_sink_make(&m);
    assert_int_equal(cipher_encryptor_new(&c, "k", 1, 0, 0, &s), LB_EINVALID);
    assert_int_equal(cipher_encryptor_new(&c, KEY, strlen(KEY), 100, 0, &s), LB_EINVALID);
    assert_int_equal(cipher_encryptor_new(&c, KEY, strlen(KEY), CIPHER_GCM_MAX_FRAME + 1, 0, &s),
                     LB_EINVALID);
    cipher_stage_free(NULL);
    buf_dispose(&m.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cipher_gcm_round_trips_every_size_and_split),
        cmocka_unit_test(test_cipher_gcm_salts_each_object),
        cmocka_unit_test(test_cipher_gcm_wrong_key_is_named_before_any_output),
        cmocka_unit_test(test_cipher_gcm_detects_every_flipped_bit_position),
        cmocka_unit_test(test_cipher_gcm_detects_truncation_anywhere),
        cmocka_unit_test(test_cipher_refuses_unencrypted_input_when_required),
        cmocka_unit_test(test_cipher_decrypts_the_real_openssl_cli_output),
        cmocka_unit_test(test_cipher_key_file_strips_one_newline_and_caps_size),
        cmocka_unit_test(test_cipher_encryptor_rejects_bad_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
