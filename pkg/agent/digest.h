/* digest.h - SHA-256 of a stream (OpenSSL EVP), as a pass-through stage.
 *
 * The tee hashes what passes and forwards it unchanged, so a download is
 * hashed while it is written to disk or decrypted, with no second read.
 */
#ifndef LB_AGENT_DIGEST_H
#define LB_AGENT_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "agent/sink.h"

#define DIGEST_SHA256_HEX_LEN 64

typedef struct digest_tee digest_tee;

/* Creates a tee hashing into SHA-256 and forwarding to `next` (borrowed;
 * NULL: hash only). *out is freed with digest_tee_free. */
int digest_tee_new(digest_tee **out, const agent_sink *next);

/* The stage's agent_sink; its close() finishes the hash, then closes next. */
agent_sink digest_tee_sink(digest_tee *t);

/* After close: the lower-case hex digest (65 bytes with the NUL); borrowed.
 * "" before close. */
const char *digest_tee_hex(const digest_tee *t);

/* Bytes hashed so far. */
int64_t digest_tee_bytes(const digest_tee *t);

void digest_tee_free(digest_tee *t);

/* SHA-256 of a file, lower-case hex into out (65 bytes). *out_size (may be
 * NULL) receives the size. */
int digest_sha256_file(char out[DIGEST_SHA256_HEX_LEN + 1], int64_t *out_size, const char *path);

/* True when s is 64 hex digits (either case). */
int digest_is_sha256_hex(const char *s);

#endif
