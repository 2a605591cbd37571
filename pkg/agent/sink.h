/* sink.h - a push stream: the stages of the agent's pipelines.
 *
 * Data moves through a chain of sinks: the S3 download writes into a
 * sha256 tee, which writes into a decryptor, which writes into a gunzip
 * stage, which writes into a file or a child process's stdin. Each stage
 * owns no downstream: it borrows the agent_sink it was given. close() marks
 * the end of the stream; a stage checks there what only the end can tell
 * (an authentication tag, a gzip trailer) and then closes its downstream.
 */
#ifndef LB_AGENT_SINK_H
#define LB_AGENT_SINK_H

#include <stddef.h>
#include <stdint.h>

typedef struct agent_sink {
    int (*write)(void *self, const void *data, size_t len); /* 0 or an error code */
    int (*close)(void *self);                               /* NULL: nothing to do */
    void *self;
} agent_sink;

/* Writes len bytes into s; returns its code (0, or -1 with the message set). */
int sink_write(const agent_sink *s, const void *data, size_t len);

/* Ends the stream of s; returns its code. A NULL sink or close is a no-op. */
int sink_close(const agent_sink *s);

/* A sink writing to a file descriptor (retrying short writes and EINTR).
 * `what` names the destination in error messages; borrowed. close() does
 * not close the descriptor. */
typedef struct sink_fd {
    int fd;
    const char *what;
    int64_t written;
} sink_fd;

/* Makes an agent_sink writing into f (which the caller keeps). */
agent_sink sink_fd_make(sink_fd *f, int fd, const char *what);

/* Copies as much of (*data, *len) as fits into buf between *nbuf and cap,
 * advancing *nbuf, *data and *len; returns the bytes copied. The filling
 * step of the stages that cut a stream into fixed buffers (upload parts,
 * compression chunks). */
size_t sink_fill(void *buf, size_t *nbuf, size_t cap, const void **data, size_t *len);

/* A sink that counts and discards (the --verify-only pipelines). */
typedef struct sink_null {
    int64_t written;
} sink_null;

agent_sink sink_null_make(sink_null *n);

#endif
