/* Shared helpers of the agent's unit tests: a memory sink, temp files and
 * running the real CLIs (openssl, gzip, sha256sum) to make reference files. */
#ifndef LB_TEST_AGENT_HELPERS_H
#define LB_TEST_AGENT_HELPERS_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/sink.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

typedef struct mem_sink {
    lb_buf buf;
    int closed;
} mem_sink;

static int mem_write(void *self, const void *data, size_t len)
{
    mem_sink *m = self;
    return buf_append(&m->buf, data, len);
}

static int mem_close(void *self)
{
    mem_sink *m = self;
    m->closed++;
    return 0;
}

static inline agent_sink mem_sink_make(mem_sink *m)
{
    buf_init(&m->buf, 256u * 1024 * 1024);
    m->closed = 0;
    return (agent_sink){.write = mem_write, .close = mem_close, .self = m};
}

/* Deterministic, mildly compressible test data. */
static inline unsigned char *test_data(size_t n, unsigned seed)
{
    unsigned char *p = lb_malloc(n);
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (i % 7 == 0) ? (unsigned char)(x >> 16) : (unsigned char)('a' + (i % 23));
    }
    return p;
}

static inline char *temp_dir(void)
{
    char tmpl[] = "/tmp/lb-agent-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d != NULL ? lb_strdup(d) : NULL;
}

static inline int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

static inline unsigned char *read_file(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    lb_buf b;
    char chunk[65536];
    size_t n;
    buf_init(&b, 512u * 1024 * 1024);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return (unsigned char *)buf_detach(&b, out_len);
}

static inline int run_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int run_sh(const char *fmt, ...)
{
    lb_buf cmd;
    va_list ap;
    buf_init(&cmd, 65536);
    va_start(ap, fmt);
    buf_vprintf(&cmd, fmt, ap);
    va_end(ap);
    int rc = system(buf_cstr(&cmd));
    buf_dispose(&cmd);
    return rc;
}

static inline void remove_dir(const char *dir)
{
    run_sh("rm -rf '%s'", dir);
}

/* Feeds data through sink s in pieces of `step` bytes, then closes it. */
static inline int feed(const agent_sink *s, const unsigned char *data, size_t n, size_t step)
{
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        int rc = sink_write(s, data + off, k);
        if (rc != 0)
            return rc;
    }
    return sink_close(s);
}

#endif
