/* sink.c - push streams: the fd and null sinks, and the buffer fill step. */
#include "agent/sink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"

int sink_write(const agent_sink *s, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    return s->write(s->self, data, len);
}

int sink_close(const agent_sink *s)
{
    if (s == NULL || s->close == NULL)
        return 0;
    return s->close(s->self);
}

static int fd_write(void *self, const void *data, size_t len)
{
    sink_fd *f = self;
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(f->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return lb_error_set("writing to %s: %s", f->what, strerror(errno));
        p += n;
        len -= (size_t)n;
        f->written += n;
    }
    return 0;
}

agent_sink sink_fd_make(sink_fd *f, int fd, const char *what)
{
    f->fd = fd;
    f->what = what;
    f->written = 0;
    return (agent_sink){.write = fd_write, .close = NULL, .self = f};
}

static int null_write(void *self, const void *data, size_t len)
{
    sink_null *n = self;
    (void)data;
    n->written += (int64_t)len;
    return 0;
}

agent_sink sink_null_make(sink_null *n)
{
    n->written = 0;
    return (agent_sink){.write = null_write, .close = NULL, .self = n};
}

size_t sink_fill(void *buf, size_t *nbuf, size_t cap, const void **data, size_t *len)
{
    size_t take = cap - *nbuf;
    if (take > *len)
        take = *len;
    memcpy((char *)buf + *nbuf, *data, take);
    *nbuf += take;
    *data = (const char *)*data + take;
    *len -= take;
    return take;
}
