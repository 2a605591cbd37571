/* buf.h - a growable byte buffer with a maximum size.
 *
 * Every buffer has a cap given at init, named by the caller after what it
 * holds (`buf_init(&body, KUBE_MAX_OBJECT_BYTES)`), so input from the network
 * cannot grow memory without bound. The content is always followed by a NUL
 * (not counted in the length), so text can be read with buf_cstr(); binary
 * content may contain NULs. Appends that would pass the cap fail with
 * LB_ETOOBIG and leave the content exactly as it was.
 *
 * Usage:
 *     lb_buf b;
 *     buf_init(&b, 1 << 20);
 *     if (buf_printf(&b, "%s=%d", key, n) != 0) goto done;
 *     ... buf_cstr(&b) ...
 * done:
 *     buf_dispose(&b);
 *
 * A buffer is not thread-safe; give each thread its own.
 */
#ifndef LB_UTIL_BUF_H
#define LB_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

/* Fields are read-only outside buf.c; use the functions below. */
typedef struct lb_buf {
    char *data;  /* NULL until the first append */
    size_t len;  /* content bytes, NUL excluded */
    size_t size; /* allocated bytes */
    size_t max;  /* the cap on len */
} lb_buf;

/* Initialises an empty buffer whose content may grow to max bytes. Allocates
 * nothing until the first append. */
void buf_init(lb_buf *b, size_t max);

/* Releases the memory; the buffer is then empty (and may be reused with the
 * same cap). b may be NULL. */
void buf_dispose(lb_buf *b);

/* Appends n bytes at data (data may be NULL when n is 0). Returns 0, or
 * LB_ETOOBIG when the content would exceed the cap (content unchanged). */
int buf_append(lb_buf *b, const void *data, size_t n);

/* Appends the NUL-terminated string s. Same returns as buf_append(). */
int buf_append_str(lb_buf *b, const char *s);

/* Appends printf-formatted text. Same returns as buf_append(). */
int buf_printf(lb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(lb_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* The content as a NUL-terminated string; borrowed, valid until the next
 * change to b. Never NULL ("" when empty). */
const char *buf_cstr(const lb_buf *b);

/* The content length in bytes (NUL excluded). */
size_t buf_len(const lb_buf *b);

/* Empties the buffer, keeping its memory for reuse. */
void buf_reset(lb_buf *b);

/* Hands the content to the caller as a NUL-terminated string, which the
 * caller frees with free(), and leaves b empty (same cap). If out_len is not
 * NULL it receives the length. Never returns NULL. */
char *buf_detach(lb_buf *b, size_t *out_len);

#endif
