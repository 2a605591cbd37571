#include "util/buf.h"

#include "util/alloc.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_SIZE 64

void buf_init(lb_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->size = 0;
    b->max = max;
}

void buf_dispose(lb_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->size = 0;
}

static int too_big(const lb_buf *b, size_t n)
{
    return lb_error_setc(LB_ETOOBIG, "buffer limit of %zu bytes exceeded (have %zu, adding %zu)",
                         b->max, b->len, n);
}

/* Makes room for n more content bytes plus the NUL, or fails without change. */
static int ensure(lb_buf *b, size_t n)
{
    size_t need, size;

    if (n > b->max || b->len > b->max - n)
        return too_big(b, n);
    need = b->len + n + 1;
    if (need <= b->size)
        return 0;
    size = b->size ? b->size : BUF_MIN_SIZE;
    while (size < need)
        size = size > ((size_t)-1) / 2 ? need : size * 2;
    /* Never allocate much more than the cap allows. */
    if (b->max < (size_t)-1 && size > b->max + 1)
        size = b->max + 1;
    b->data = lb_realloc(b->data, size);
    b->size = size;
    return 0;
}

int buf_append(lb_buf *b, const void *data, size_t n)
{
    int rc = ensure(b, n);
    if (rc != 0)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_append_str(lb_buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_vprintf(lb_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n, rc;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return lb_error_set("buffer: invalid format string");
    rc = ensure(b, (size_t)n);
    if (rc != 0)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(lb_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *buf_cstr(const lb_buf *b)
{
    return b->data != NULL ? b->data : "";
}

size_t buf_len(const lb_buf *b)
{
    return b->len;
}

void buf_reset(lb_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

char *buf_detach(lb_buf *b, size_t *out_len)
{
    char *s = b->data != NULL ? b->data : lb_strdup("");
    if (out_len != NULL)
        *out_len = b->len;
    b->data = NULL;
    b->len = 0;
    b->size = 0;
    return s;
}
