/* digest.c - streaming SHA-256. */
#include "agent/digest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/alloc.h"
#include "util/error.h"

struct digest_tee {
    EVP_MD_CTX *ctx;
    const agent_sink *next;
    int64_t bytes;
    char hex[DIGEST_SHA256_HEX_LEN + 1];
};

static void to_hex(char *out, const unsigned char *md, unsigned len)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < len; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * len] = '\0';
}

int digest_tee_new(digest_tee **out, const agent_sink *next)
{
    digest_tee *t = lb_calloc(1, sizeof(*t));
    t->ctx = EVP_MD_CTX_new();
    if (t->ctx == NULL || EVP_DigestInit_ex(t->ctx, EVP_sha256(), NULL) != 1) {
        digest_tee_free(t);
        return lb_error_set("sha256: initialising the digest failed");
    }
    t->next = next;
    *out = t;
    return 0;
}

static int tee_write(void *self, const void *data, size_t len)
{
    digest_tee *t = self;
    if (EVP_DigestUpdate(t->ctx, data, len) != 1)
        return lb_error_set("sha256: digest update failed");
    t->bytes += (int64_t)len;
    if (t->next == NULL)
        return 0;
    return sink_write(t->next, data, len);
}

static int tee_close(void *self)
{
    digest_tee *t = self;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_DigestFinal_ex(t->ctx, md, &len) != 1)
        return lb_error_set("sha256: digest final failed");
    to_hex(t->hex, md, len);
    return sink_close(t->next);
}

agent_sink digest_tee_sink(digest_tee *t)
{
    return (agent_sink){.write = tee_write, .close = tee_close, .self = t};
}

const char *digest_tee_hex(const digest_tee *t)
{
    return t->hex;
}

int64_t digest_tee_bytes(const digest_tee *t)
{
    return t->bytes;
}

void digest_tee_free(digest_tee *t)
{
    if (t == NULL)
        return;
    EVP_MD_CTX_free(t->ctx);
    free(t);
}

int digest_sha256_file(char out[DIGEST_SHA256_HEX_LEN + 1], int64_t *out_size, const char *path)
{
    int rc = LB_ERROR;
    digest_tee *t = NULL;
    char buf[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lb_error_set("sha256: opening %s: %s", path, strerror(errno));
    if (digest_tee_new(&t, NULL) != 0)
        goto done;
    agent_sink s = digest_tee_sink(t);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            lb_error_set("sha256: reading %s: %s", path, strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        if (sink_write(&s, buf, (size_t)n) != 0)
            goto done;
    }
    if (sink_close(&s) != 0)
        goto done;
    memcpy(out, digest_tee_hex(t), DIGEST_SHA256_HEX_LEN + 1);
    if (out_size != NULL)
        *out_size = digest_tee_bytes(t);
    rc = 0;
done:
    digest_tee_free(t);
    close(fd);
    return rc;
}

int digest_is_sha256_hex(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (!isxdigit((unsigned char)s[n]))
            return 0;
    }
    return n == DIGEST_SHA256_HEX_LEN;
}
