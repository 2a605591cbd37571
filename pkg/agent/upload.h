/* upload.h - a streaming S3 multipart upload as a pipeline sink.
 *
 * pg-backup does not know the size of what it uploads (pg_dump's output,
 * encrypted), and keeps no temporary file: the sink fills one part while
 * the previous one is sent on its own thread (memory: two parts, whatever
 * the size; the dump is not stalled by the upload), and on close sends the
 * last part and CompleteMultipartUpload. Until that call succeeds the object does not
 * exist: a crash (kill -9) leaves only an incomplete upload, which no
 * listing shows and which the bucket's AbortIncompleteMultipartUpload
 * lifecycle rule removes. On a failure the caller calls upload_abort.
 */
#ifndef LB_AGENT_UPLOAD_H
#define LB_AGENT_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "agent/sink.h"
#include "aws/request.h"

#define UPLOAD_DEFAULT_PART_BYTES (8u * 1024 * 1024)

typedef struct upload_stream upload_stream;

/* Prepares an upload of bucket/key (borrowed strings are copied) through
 * c (borrowed), part_size 0: the default (S3's minimum is 5 MiB, the
 * maximum part count 10,000, so the default allows 80 GB). Nothing is sent
 * before the first part is full or the sink is closed. */
int upload_stream_new(upload_stream **out, aws_client *c, const char *bucket, const char *key,
                      size_t part_size);

agent_sink upload_stream_sink(upload_stream *u);

/* Aborts a started upload (AbortMultipartUpload), best effort. */
void upload_abort(upload_stream *u);

/* Bytes accepted, and parts sent, so far. */
int64_t upload_bytes(const upload_stream *u);
int upload_parts(const upload_stream *u);

void upload_stream_free(upload_stream *u);

#endif
