/* gzip.h - streaming gzip (zlib) as pipeline stages.
 *
 * The compressor writes one gzip member (RFC 1952, what `gzip` writes).
 * The decompressor reads what `gzip`/`gunzip` read: one or more
 * concatenated members, each checked against its CRC-32 and length
 * trailer, so a truncated or damaged stream fails at the latest at
 * close(). With `passthrough`, input that does not start with the gzip
 * magic (1f 8b) is forwarded unchanged (a `.sql` or a `-Fc` dump).
 */
#ifndef LB_AGENT_GZIP_H
#define LB_AGENT_GZIP_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/sink.h"

typedef struct gz_stage gz_stage;

/* A compressor (level 1..9; 0: zlib's default, 6) forwarding to next. */
int gz_compressor_new(gz_stage **out, int level, const agent_sink *next);

/* A decompressor forwarding to next; see passthrough above. */
int gz_decompressor_new(gz_stage **out, bool passthrough, const agent_sink *next);

/* The stage's sink; close() flushes (compressor) or checks that the last
 * member ended (decompressor), then closes next. */
agent_sink gz_stage_sink(gz_stage *g);

/* Decompressor: whether the input was gzip (known after the first 2 bytes). */
bool gz_stage_was_gzip(const gz_stage *g);

void gz_stage_free(gz_stage *g);

#endif
