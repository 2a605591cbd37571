/* cipher.h - the encryption formats of the agent (OpenSSL EVP).
 *
 * Lifeboat's format, AES-256-GCM in authenticated frames ("LBAGCM01"):
 *
 *   header, 56 bytes:
 *     0  8  magic "LBAGCM01"
 *     8  4  frame size F: plaintext bytes per frame, big-endian (1 KiB..16 MiB)
 *    12  4  PBKDF2-HMAC-SHA256 iterations, big-endian (1..10,000,000)
 *    16 16  salt (random per object)
 *    32  8  nonce prefix (random per object)
 *    40 16  key check: HMAC-SHA256(key, "lifeboat-key-check" || bytes 0..39), first 16 bytes
 *   frames: ciphertext of F plaintext bytes + 16-byte GCM tag; the last
 *     frame holds 0..F-1 bytes (an empty one follows a multiple of F).
 *     Frame i uses nonce = prefix || i (32-bit big-endian) and AAD =
 *     bytes 0..39 of the header || one byte, 1 for the last frame else 0.
 *
 * So a flipped bit fails its frame's tag, reordered or dropped frames fail
 * (the counter is in the nonce), and a truncation at any point fails: the
 * stream must end with a frame authenticated as the last one. The key is
 * PBKDF2 of the key material (a mounted Secret's value) with the salt; the
 * key check tells a wrong key from damaged data before any frame.
 *
 * `openssl enc -aes-256-cbc -pbkdf2` ("Salted__"): decryption only,
 * byte-compatible with runbook 004's scripts: "Salted__" || 8-byte salt,
 * key and IV from PBKDF2-HMAC-SHA256(passphrase, salt, 10000 iterations,
 * 48 bytes) as `openssl enc` derives them by default, PKCS#7 padding. CBC
 * carries no authentication: a wrong passphrase or damage shows only as
 * bad padding at the end, or as garbage that the next stage (gzip's CRC,
 * pg_restore) rejects; this is why the agent checks a manifest's sha256
 * before it writes anything.
 */
#ifndef LB_AGENT_CIPHER_H
#define LB_AGENT_CIPHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/sink.h"

#define CIPHER_GCM_MAGIC           "LBAGCM01"
#define CIPHER_CBC_MAGIC           "Salted__"
#define CIPHER_GCM_HEADER_BYTES    56
#define CIPHER_GCM_TAG_BYTES       16
#define CIPHER_GCM_DEFAULT_FRAME   (64u * 1024)
#define CIPHER_GCM_MIN_FRAME       1024u
#define CIPHER_GCM_MAX_FRAME       (16u * 1024 * 1024)
#define CIPHER_GCM_DEFAULT_ITER    100000u
#define CIPHER_GCM_MAX_ITER        10000000u
#define CIPHER_OPENSSL_PBKDF2_ITER 10000 /* `openssl enc -pbkdf2`'s default */
#define CIPHER_MAX_KEY_BYTES       4096  /* key material read from a Secret */
#define CIPHER_MIN_KEY_BYTES       8

typedef enum cipher_format {
    CIPHER_NONE = 0, /* not encrypted (no known magic) */
    CIPHER_GCM = 1,  /* Lifeboat's LBAGCM01 */
    CIPHER_CBC = 2,  /* openssl enc -aes-256-cbc -pbkdf2 */
} cipher_format;

typedef struct cipher_stage cipher_stage;

/* An encryptor into Lifeboat's format. key is the key material (len
 * bytes, borrowed for the call); frame 0: the default; iterations 0: the
 * default. Writes the header on the first write or at close. */
int cipher_encryptor_new(cipher_stage **out, const void *key, size_t key_len, uint32_t frame,
                         uint32_t iterations, const agent_sink *next);

/* A decryptor that recognises the format from the first 8 bytes: LBAGCM01
 * or Salted__ is decrypted with key (which must then be set), anything
 * else is refused when `require_encrypted`, else forwarded unchanged.
 * key may be NULL (then an encrypted object fails with a message saying a
 * key is needed). The key bytes are copied. */
int cipher_decryptor_new(cipher_stage **out, const void *key, size_t key_len,
                         bool require_encrypted, const agent_sink *next);

/* The stage's sink. The decryptor's close() checks the last frame (GCM) or
 * the padding (CBC) and fails on a truncated stream; then closes next. */
agent_sink cipher_stage_sink(cipher_stage *c);

/* Decryptor: the format seen (CIPHER_NONE until 8 bytes arrived). */
cipher_format cipher_stage_format(const cipher_stage *c);

/* Clears key material and frees; NULL is a no-op. */
void cipher_stage_free(cipher_stage *c);

/* Reads key material from a file (a mounted Secret key): at most
 * CIPHER_MAX_KEY_BYTES, one trailing "\n" or "\r\n" removed (as
 * `openssl -pass file:` does), at least CIPHER_MIN_KEY_BYTES. *out is
 * freed with cipher_key_free. The message never holds the key. */
int cipher_key_read_file(unsigned char **out, size_t *out_len, const char *path);

/* Zeroes and frees key material; NULL is a no-op. */
void cipher_key_free(unsigned char *key, size_t len);

#endif
