/* pgzip.h - gzip compression on worker threads (what pigz writes).
 *
 * The input is cut into chunks of PGZ_CHUNK_BYTES; each chunk becomes one
 * complete gzip member (RFC 1952: header, deflate, CRC-32 and length),
 * compressed on one of the workers, and the members are written to the next
 * sink in input order, on the caller's thread. Concatenated members are one
 * valid gzip file: `gunzip`, `gzip -t` and gz_decompressor (gzip.h) read it
 * whole. pg-backup uses it so that pg_dump's row formatting and the
 * compression run on different cores.
 *
 * Memory is bounded: 2 x workers slots, each a chunk in and its member out.
 */
#ifndef LB_AGENT_PGZIP_H
#define LB_AGENT_PGZIP_H

#include <stdint.h>

#include "agent/sink.h"

#define PGZ_CHUNK_BYTES (1u << 20)
#define PGZ_MAX_WORKERS 16

typedef struct pgz_stage pgz_stage;

/* A compressor at zlib level 1..9 with `workers` threads (1..PGZ_MAX_WORKERS)
 * forwarding to next (borrowed). Returns 0, or LB_EINVALID naming the bad
 * argument, or -1 when a thread cannot start. */
int pgz_new(pgz_stage **out, int level, int workers, const agent_sink *next);

/* The stage's sink. write() hands full chunks to the workers and forwards
 * finished members (it blocks while every slot is busy); close() compresses
 * what is left, forwards every member, then closes next. A worker's failure
 * is returned by the next write() or close(). */
agent_sink pgz_sink(pgz_stage *z);

/* Bytes written into the stage so far (uncompressed). */
int64_t pgz_bytes_in(const pgz_stage *z);

/* Stops and joins the workers; accepts NULL. Members not yet forwarded are
 * dropped (the caller is abandoning the stream). */
void pgz_free(pgz_stage *z);

#endif
