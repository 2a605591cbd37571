/* gzip.c - streaming gzip through zlib. */
#include "agent/gzip.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "util/alloc.h"
#include "util/error.h"

#define GZ_OUT_BYTES 65536

struct gz_stage {
    z_stream z;
    bool compress;
    bool passthrough;
    int decided; /* decompressor: 0 undecided, 1 gzip, 2 passthrough */
    bool in_member;
    unsigned char magic[2];
    size_t nmagic;
    const agent_sink *next;
    unsigned char out[GZ_OUT_BYTES];
};

int gz_compressor_new(gz_stage **out, int level, const agent_sink *next)
{
    gz_stage *g = lb_calloc(1, sizeof(*g));
    g->compress = true;
    g->next = next;
    /* 15 + 16: a gzip wrapper rather than zlib's. */
    if (deflateInit2(&g->z, level == 0 ? Z_DEFAULT_COMPRESSION : level, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        free(g);
        return lb_error_set("gzip: initialising the compressor failed");
    }
    *out = g;
    return 0;
}

int gz_decompressor_new(gz_stage **out, bool passthrough, const agent_sink *next)
{
    gz_stage *g = lb_calloc(1, sizeof(*g));
    g->passthrough = passthrough;
    g->next = next;
    if (inflateInit2(&g->z, 15 + 16) != Z_OK) {
        free(g);
        return lb_error_set("gzip: initialising the decompressor failed");
    }
    *out = g;
    return 0;
}

static int deflate_run(gz_stage *g, int flush)
{
    int zrc;
    do {
        g->z.next_out = g->out;
        g->z.avail_out = sizeof(g->out);
        zrc = deflate(&g->z, flush);
        if (zrc == Z_STREAM_ERROR)
            return lb_error_set("gzip: compression failed");
        size_t have = sizeof(g->out) - g->z.avail_out;
        if (sink_write(g->next, g->out, have) != 0)
            return LB_ERROR;
    } while (g->z.avail_out == 0 || (flush == Z_FINISH && zrc != Z_STREAM_END));
    return 0;
}

static int inflate_run(gz_stage *g)
{
    while (g->z.avail_in > 0) {
        if (!g->in_member) {
            if (inflateReset(&g->z) != Z_OK)
                return lb_error_set("gzip: resetting the decompressor failed");
            g->in_member = true;
        }
        g->z.next_out = g->out;
        g->z.avail_out = sizeof(g->out);
        int zrc = inflate(&g->z, Z_NO_FLUSH);
        if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR)
            return lb_error_set("gzip: the stream is corrupt (%s)",
                                g->z.msg != NULL ? g->z.msg : "inflate failed");
        size_t have = sizeof(g->out) - g->z.avail_out;
        if (sink_write(g->next, g->out, have) != 0)
            return LB_ERROR;
        if (zrc == Z_STREAM_END)
            g->in_member = false; /* a following member starts a new stream */
        else if (zrc == Z_BUF_ERROR && have == 0)
            break;
    }
    return 0;
}

static int feed_inflate(gz_stage *g, const void *data, size_t len)
{
    g->z.next_in = (Bytef *)(uintptr_t)data;
    g->z.avail_in = (uInt)len;
    return inflate_run(g);
}

static int gz_write(void *self, const void *data, size_t len)
{
    gz_stage *g = self;
    const unsigned char *p = data;
    while (len > 0) {
        /* zlib counts in uInt: feed at most 1 GiB at a time. */
        size_t n = len > (1u << 30) ? (1u << 30) : len;
        if (g->compress) {
            g->z.next_in = (Bytef *)(uintptr_t)p;
            g->z.avail_in = (uInt)n;
            if (deflate_run(g, Z_NO_FLUSH) != 0)
                return LB_ERROR;
        } else if (g->decided == 2) {
            if (sink_write(g->next, p, n) != 0)
                return LB_ERROR;
        } else if (g->decided == 1) {
            if (feed_inflate(g, p, n) != 0)
                return LB_ERROR;
        } else {
            /* Undecided: collect the two magic bytes first. */
            size_t take = sizeof(g->magic) - g->nmagic;
            if (take > n)
                take = n;
            memcpy(g->magic + g->nmagic, p, take);
            g->nmagic += take;
            p += take;
            len -= take;
            if (g->nmagic < sizeof(g->magic))
                continue;
            bool gz = g->magic[0] == 0x1f && g->magic[1] == 0x8b;
            if (!gz && !g->passthrough)
                return lb_error_set("gzip: the data is not gzip (no 1f 8b magic)");
            g->decided = gz ? 1 : 2;
            if (gz ? feed_inflate(g, g->magic, 2) : sink_write(g->next, g->magic, 2))
                return LB_ERROR;
            continue;
        }
        p += n;
        len -= n;
    }
    return 0;
}

static int gz_close(void *self)
{
    gz_stage *g = self;
    if (g->compress) {
        g->z.next_in = NULL;
        g->z.avail_in = 0;
        if (deflate_run(g, Z_FINISH) != 0)
            return LB_ERROR;
    } else if (g->decided == 0) {
        if (g->nmagic > 0 && !g->passthrough)
            return lb_error_set("gzip: the data is not gzip (%zu bytes)", g->nmagic);
        if (sink_write(g->next, g->magic, g->nmagic) != 0)
            return LB_ERROR;
    } else if (g->decided == 1 && g->in_member) {
        return lb_error_set("gzip: the stream is truncated (the last member has no trailer)");
    }
    return sink_close(g->next);
}

agent_sink gz_stage_sink(gz_stage *g)
{
    return (agent_sink){.write = gz_write, .close = gz_close, .self = g};
}

bool gz_stage_was_gzip(const gz_stage *g)
{
    return g->compress || g->decided == 1;
}

void gz_stage_free(gz_stage *g)
{
    if (g == NULL)
        return;
    if (g->compress)
        deflateEnd(&g->z);
    else
        inflateEnd(&g->z);
    free(g);
}
