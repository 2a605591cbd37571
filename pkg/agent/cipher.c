/* cipher.c - AES-256-GCM frames (Lifeboat) and openssl-enc CBC decryption. */
#include "agent/cipher.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "util/alloc.h"
#include "util/error.h"

#define KEY_BYTES       32
#define SALT_BYTES      16
#define PREFIX_BYTES    8
#define CHECK_BYTES     16
#define AAD_HEADER      40 /* header bytes covered by the AAD and the key check */
#define CBC_SALT_BYTES  8
#define CBC_HEADER      16
#define CBC_IV_BYTES    16
#define KEY_CHECK_LABEL "lifeboat-key-check"

struct cipher_stage {
    bool encrypt;
    bool require_encrypted;
    cipher_format format;
    EVP_CIPHER_CTX *ctx;
    const agent_sink *next;
    unsigned char *pass; /* decryptor: the key material, copied */
    size_t pass_len;
    unsigned char key[KEY_BYTES];
    unsigned char header[CIPHER_GCM_HEADER_BYTES];
    size_t nheader;  /* header bytes collected (decryptor) */
    bool header_out; /* encryptor: header written */
    uint32_t frame;
    uint32_t counter;
    unsigned char *in; /* pending input: plaintext (enc) or ciphertext (dec) */
    size_t nin;
    unsigned char *out;
    size_t out_cap;
};

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int derive_gcm_key(cipher_stage *c, const void *pass, size_t pass_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    uint32_t iter = get_be32(c->header + 12);
    if (PKCS5_PBKDF2_HMAC(pass, (int)pass_len, c->header + 16, SALT_BYTES, (int)iter, EVP_sha256(),
                          KEY_BYTES, c->key) != 1)
        return lb_error_set("encryption: key derivation failed");
    unsigned char msg[sizeof(KEY_CHECK_LABEL) - 1 + AAD_HEADER];
    memcpy(msg, KEY_CHECK_LABEL, sizeof(KEY_CHECK_LABEL) - 1);
    memcpy(msg + sizeof(KEY_CHECK_LABEL) - 1, c->header, AAD_HEADER);
    int ok = HMAC(EVP_sha256(), c->key, KEY_BYTES, msg, sizeof(msg), mac, &maclen) != NULL;
    if (!ok)
        return lb_error_set("encryption: computing the key check failed");
    if (c->encrypt) {
        memcpy(c->header + AAD_HEADER, mac, CHECK_BYTES);
        return 0;
    }
    if (CRYPTO_memcmp(c->header + AAD_HEADER, mac, CHECK_BYTES) != 0)
        return lb_error_set("decryption: wrong key (the object's key check does not match)");
    return 0;
}

/* Encrypts or decrypts one frame of `len` input bytes from c->in into c->out
 * and forwards the plaintext/ciphertext. */
static int gcm_frame(cipher_stage *c, size_t len, bool last)
{
    unsigned char nonce[12];
    unsigned char aad[AAD_HEADER + 1];
    int outl = 0, finl = 0;
    memcpy(nonce, c->header + 32, PREFIX_BYTES);
    put_be32(nonce + PREFIX_BYTES, c->counter);
    memcpy(aad, c->header, AAD_HEADER);
    aad[AAD_HEADER] = last ? 1 : 0;
    if (c->counter == UINT32_MAX)
        return lb_error_set("encryption: too many frames");
    size_t body = c->encrypt ? len : len - CIPHER_GCM_TAG_BYTES;
    int ok = EVP_CipherInit_ex(c->ctx, NULL, NULL, NULL, nonce, c->encrypt ? 1 : 0) == 1 &&
             EVP_CipherUpdate(c->ctx, NULL, &outl, aad, (int)sizeof(aad)) == 1 &&
             EVP_CipherUpdate(c->ctx, c->out, &outl, c->in, (int)body) == 1;
    if (!ok)
        return lb_error_set("encryption: AES-256-GCM failed at frame %u", c->counter);
    if (c->encrypt) {
        ok = EVP_CipherFinal_ex(c->ctx, c->out + outl, &finl) == 1 &&
             EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_GET_TAG, CIPHER_GCM_TAG_BYTES,
                                 c->out + outl + finl) == 1;
        if (!ok)
            return lb_error_set("encryption: AES-256-GCM failed at frame %u", c->counter);
        outl += finl + CIPHER_GCM_TAG_BYTES;
    } else {
        if (EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_TAG, CIPHER_GCM_TAG_BYTES, c->in + body) !=
            1)
            return lb_error_set("decryption: setting the GCM tag failed");
        if (EVP_CipherFinal_ex(c->ctx, c->out + outl, &finl) != 1)
            return lb_error_set("decryption: frame %u failed authentication (the object is "
                                "damaged, truncated or reordered)",
                                c->counter);
        outl += finl;
    }
    c->counter++;
    return sink_write(c->next, c->out, (size_t)outl);
}

int cipher_encryptor_new(cipher_stage **out, const void *key, size_t key_len, uint32_t frame,
                         uint32_t iterations, const agent_sink *next)
{
    if (frame == 0)
        frame = CIPHER_GCM_DEFAULT_FRAME;
    if (iterations == 0)
        iterations = CIPHER_GCM_DEFAULT_ITER;
    if (frame < CIPHER_GCM_MIN_FRAME || frame > CIPHER_GCM_MAX_FRAME ||
        iterations > CIPHER_GCM_MAX_ITER)
        return lb_error_setc(LB_EINVALID, "encryption: frame size or iterations out of range");
    if (key == NULL || key_len < CIPHER_MIN_KEY_BYTES)
        return lb_error_setc(LB_EINVALID, "encryption: the key must be at least %d bytes",
                             CIPHER_MIN_KEY_BYTES);
    cipher_stage *c = lb_calloc(1, sizeof(*c));
    c->encrypt = true;
    c->format = CIPHER_GCM;
    c->next = next;
    c->frame = frame;
    memcpy(c->header, CIPHER_GCM_MAGIC, 8);
    put_be32(c->header + 8, frame);
    put_be32(c->header + 12, iterations);
    c->ctx = EVP_CIPHER_CTX_new();
    if (c->ctx == NULL || RAND_bytes(c->header + 16, SALT_BYTES + PREFIX_BYTES) != 1 ||
        derive_gcm_key(c, key, key_len) != 0 ||
        EVP_EncryptInit_ex(c->ctx, EVP_aes_256_gcm(), NULL, c->key, NULL) != 1) {
        cipher_stage_free(c);
        if (lb_error_last()[0] == '\0')
            lb_error_set("encryption: initialising AES-256-GCM failed");
        return LB_ERROR;
    }
    c->in = lb_malloc(frame);
    c->out_cap = (size_t)frame + CIPHER_GCM_TAG_BYTES + 32;
    c->out = lb_malloc(c->out_cap);
    *out = c;
    return 0;
}

int cipher_decryptor_new(cipher_stage **out, const void *key, size_t key_len,
                         bool require_encrypted, const agent_sink *next)
{
    cipher_stage *c = lb_calloc(1, sizeof(*c));
    c->next = next;
    c->require_encrypted = require_encrypted;
    if (key != NULL) {
        c->pass = lb_malloc(key_len);
        memcpy(c->pass, key, key_len);
        c->pass_len = key_len;
    }
    c->ctx = EVP_CIPHER_CTX_new();
    if (c->ctx == NULL) {
        cipher_stage_free(c);
        return lb_error_set("decryption: allocating the cipher context failed");
    }
    *out = c;
    return 0;
}

static int enc_write(cipher_stage *c, const unsigned char *p, size_t len)
{
    if (!c->header_out) {
        c->header_out = true;
        if (sink_write(c->next, c->header, sizeof(c->header)) != 0)
            return LB_ERROR;
    }
    while (len > 0) {
        if (c->nin == c->frame) {
            /* More data follows, so the full frame is not the last. */
            if (gcm_frame(c, c->nin, false) != 0)
                return LB_ERROR;
            c->nin = 0;
        }
        size_t take = c->frame - c->nin;
        if (take > len)
            take = len;
        memcpy(c->in + c->nin, p, take);
        c->nin += take;
        p += take;
        len -= take;
    }
    return 0;
}

/* Header complete: set up the decryption. */
static int dec_start(cipher_stage *c)
{
    if (c->pass == NULL)
        return lb_error_set("decryption: the object is encrypted (%s) and no key was given",
                            c->format == CIPHER_GCM ? "Lifeboat AES-256-GCM"
                                                    : "openssl enc -aes-256-cbc");
    if (c->format == CIPHER_GCM) {
        c->frame = get_be32(c->header + 8);
        uint32_t iter = get_be32(c->header + 12);
        if (c->frame < CIPHER_GCM_MIN_FRAME || c->frame > CIPHER_GCM_MAX_FRAME || iter == 0 ||
            iter > CIPHER_GCM_MAX_ITER)
            return lb_error_set("decryption: the object's header is damaged (frame size %u, "
                                "iterations %u out of range)",
                                c->frame, iter);
        if (derive_gcm_key(c, c->pass, c->pass_len) != 0)
            return LB_ERROR;
        if (EVP_DecryptInit_ex(c->ctx, EVP_aes_256_gcm(), NULL, c->key, NULL) != 1)
            return lb_error_set("decryption: initialising AES-256-GCM failed");
        c->in = lb_malloc((size_t)c->frame + CIPHER_GCM_TAG_BYTES);
        c->out_cap = (size_t)c->frame + 32;
        c->out = lb_malloc(c->out_cap);
        return 0;
    }
    unsigned char kiv[KEY_BYTES + CBC_IV_BYTES];
    int ok =
        PKCS5_PBKDF2_HMAC((const char *)c->pass, (int)c->pass_len, c->header + 8, CBC_SALT_BYTES,
                          CIPHER_OPENSSL_PBKDF2_ITER, EVP_sha256(), (int)sizeof(kiv), kiv) == 1 &&
        EVP_DecryptInit_ex(c->ctx, EVP_aes_256_cbc(), NULL, kiv, kiv + KEY_BYTES) == 1;
    OPENSSL_cleanse(kiv, sizeof(kiv));
    if (!ok)
        return lb_error_set("decryption: initialising AES-256-CBC failed");
    c->out_cap = 65536 + 32;
    c->out = lb_malloc(c->out_cap);
    return 0;
}

static int dec_body(cipher_stage *c, const unsigned char *p, size_t len)
{
    if (c->format == CIPHER_NONE)
        return sink_write(c->next, p, len);
    if (c->format == CIPHER_CBC) {
        while (len > 0) {
            size_t n = len > 65536 ? 65536 : len;
            int outl = 0;
            if (EVP_DecryptUpdate(c->ctx, c->out, &outl, p, (int)n) != 1)
                return lb_error_set("decryption: AES-256-CBC failed");
            if (sink_write(c->next, c->out, (size_t)outl) != 0)
                return LB_ERROR;
            p += n;
            len -= n;
        }
        return 0;
    }
    size_t whole = (size_t)c->frame + CIPHER_GCM_TAG_BYTES;
    while (len > 0) {
        if (c->nin == whole) {
            if (gcm_frame(c, whole, false) != 0)
                return LB_ERROR;
            c->nin = 0;
        }
        size_t take = whole - c->nin;
        if (take > len)
            take = len;
        memcpy(c->in + c->nin, p, take);
        c->nin += take;
        p += take;
        len -= take;
    }
    return 0;
}

static int dec_write(cipher_stage *c, const unsigned char *p, size_t len)
{
    while (len > 0) {
        size_t need = 8;
        if (c->nheader >= 8)
            need = c->format == CIPHER_GCM   ? CIPHER_GCM_HEADER_BYTES
                   : c->format == CIPHER_CBC ? CBC_HEADER
                                             : 0;
        if (c->nheader >= need)
            break;
        size_t take = need - c->nheader;
        if (take > len)
            take = len;
        memcpy(c->header + c->nheader, p, take);
        c->nheader += take;
        p += take;
        len -= take;
        if (c->nheader == 8) {
            if (memcmp(c->header, CIPHER_GCM_MAGIC, 8) == 0)
                c->format = CIPHER_GCM;
            else if (memcmp(c->header, CIPHER_CBC_MAGIC, 8) == 0)
                c->format = CIPHER_CBC;
            else if (c->require_encrypted)
                return lb_error_set("decryption: the object is not encrypted in a known format "
                                    "(neither LBAGCM01 nor openssl's Salted__)");
            else if (sink_write(c->next, c->header, 8) != 0)
                return LB_ERROR;
        }
        if ((c->format == CIPHER_GCM && c->nheader == CIPHER_GCM_HEADER_BYTES) ||
            (c->format == CIPHER_CBC && c->nheader == CBC_HEADER)) {
            if (dec_start(c) != 0)
                return LB_ERROR;
        }
    }
    return dec_body(c, p, len);
}

static int stage_write(void *self, const void *data, size_t len)
{
    cipher_stage *c = self;
    return c->encrypt ? enc_write(c, data, len) : dec_write(c, data, len);
}

static int stage_close(void *self)
{
    cipher_stage *c = self;
    if (c->encrypt) {
        if (enc_write(c, NULL, 0) != 0) /* the header, if nothing was written */
            return LB_ERROR;
        if (c->nin == c->frame) {
            if (gcm_frame(c, c->nin, false) != 0)
                return LB_ERROR;
            c->nin = 0;
        }
        if (gcm_frame(c, c->nin, true) != 0)
            return LB_ERROR;
        return sink_close(c->next);
    }
    if (c->format == CIPHER_NONE) {
        if (c->nheader < 8 && c->require_encrypted)
            return lb_error_set("decryption: the object is not encrypted (%zu bytes)", c->nheader);
        if (c->nheader < 8 && sink_write(c->next, c->header, c->nheader) != 0)
            return LB_ERROR;
        return sink_close(c->next);
    }
    if ((c->format == CIPHER_GCM && c->nheader < CIPHER_GCM_HEADER_BYTES) ||
        (c->format == CIPHER_CBC && c->nheader < CBC_HEADER))
        return lb_error_set("decryption: the object is truncated (inside its header)");
    if (c->format == CIPHER_CBC) {
        int outl = 0;
        if (EVP_DecryptFinal_ex(c->ctx, c->out, &outl) != 1)
            return lb_error_set("decryption: bad decrypt (a wrong passphrase, or the object is "
                                "truncated or damaged)");
        if (sink_write(c->next, c->out, (size_t)outl) != 0)
            return LB_ERROR;
        return sink_close(c->next);
    }
    /* GCM: what is pending must be the last frame, shorter than a full one. */
    if (c->nin < CIPHER_GCM_TAG_BYTES || c->nin == (size_t)c->frame + CIPHER_GCM_TAG_BYTES)
        return lb_error_set("decryption: the object is truncated (it does not end with its "
                            "last frame; %u frames read)",
                            c->counter);
    if (gcm_frame(c, c->nin, true) != 0)
        return LB_ERROR;
    return sink_close(c->next);
}

agent_sink cipher_stage_sink(cipher_stage *c)
{
    return (agent_sink){.write = stage_write, .close = stage_close, .self = c};
}

cipher_format cipher_stage_format(const cipher_stage *c)
{
    return c->format;
}

void cipher_stage_free(cipher_stage *c)
{
    if (c == NULL)
        return;
    EVP_CIPHER_CTX_free(c->ctx);
    cipher_key_free(c->pass, c->pass_len);
    OPENSSL_cleanse(c->key, sizeof(c->key));
    if (c->in != NULL) {
        OPENSSL_cleanse(c->in, c->encrypt ? c->frame : (size_t)c->frame + CIPHER_GCM_TAG_BYTES);
        free(c->in);
    }
    if (c->out != NULL) {
        OPENSSL_cleanse(c->out, c->out_cap);
        free(c->out);
    }
    free(c);
}

int cipher_key_read_file(unsigned char **out, size_t *out_len, const char *path)
{
    unsigned char *buf = lb_malloc(CIPHER_MAX_KEY_BYTES + 1);
    size_t n = 0;
    int rc = LB_ERROR;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lb_error_set("key file %s: %s", path, strerror(errno));
        goto done;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, CIPHER_MAX_KEY_BYTES + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            lb_error_set("key file %s: %s", path, strerror(errno));
            goto done;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > CIPHER_MAX_KEY_BYTES) {
            rc = lb_error_setc(LB_ETOOBIG, "key file %s: larger than %d bytes", path,
                               CIPHER_MAX_KEY_BYTES);
            goto done;
        }
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n < CIPHER_MIN_KEY_BYTES) {
        rc = lb_error_setc(LB_EINVALID, "key file %s: shorter than %d bytes", path,
                           CIPHER_MIN_KEY_BYTES);
        goto done;
    }
    *out = buf;
    *out_len = n;
    buf = NULL;
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    cipher_key_free(buf, CIPHER_MAX_KEY_BYTES + 1);
    return rc;
}

void cipher_key_free(unsigned char *key, size_t len)
{
    if (key == NULL)
        return;
    OPENSSL_cleanse(key, len);
    free(key);
}
