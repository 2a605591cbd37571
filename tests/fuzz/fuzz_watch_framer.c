/* libFuzzer target for the watch line framer (pkg/kube/watch.h).
 *
 * The input is framed twice: in one chunk, and in chunks whose sizes come
 * from the input itself. Both must emit the same lines and end the same way;
 * no line may pass the cap, contain '\n', or be empty. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/watch.h"
#include "util/buf.h"

#define FUZZ_MAX_LINE 64

typedef struct sink {
    lb_buf all; /* lines joined with '\n' */
    size_t n;
} sink;

static int collect(const char *line, size_t len, void *payload)
{
    sink *s = payload;
    if (len == 0 || len > FUZZ_MAX_LINE || memchr(line, '\n', len) != NULL)
        abort();
    buf_append(&s->all, line, len);
    buf_append(&s->all, "\n", 1);
    s->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kube_framer f1, f2;
    sink s1, s2;
    int rc1, rc2 = 0;
    size_t pos = 0, k = 0;

    buf_init(&s1.all, 1u << 20);
    buf_init(&s2.all, 1u << 20);
    s1.n = s2.n = 0;
    kube_framer_init(&f1, FUZZ_MAX_LINE);
    kube_framer_init(&f2, FUZZ_MAX_LINE);

    rc1 = kube_framer_feed(&f1, (const char *)data, size, collect, &s1);
    while (pos < size && rc2 == 0) {
        size_t chunk = 1 + (data[k++ % size] % 17);
        if (chunk > size - pos)
            chunk = size - pos;
        /* a private copy so that ASan catches a line kept past its chunk */
        char *copy = malloc(chunk);
        memcpy(copy, data + pos, chunk);
        rc2 = kube_framer_feed(&f2, copy, chunk, collect, &s2);
        free(copy);
        pos += chunk;
    }
    if (rc1 != rc2 || s1.n != s2.n || buf_len(&s1.all) != buf_len(&s2.all) ||
        memcmp(buf_cstr(&s1.all), buf_cstr(&s2.all), buf_len(&s1.all)) != 0)
        abort();
    if (rc1 == 0 && kube_framer_pending(&f1) != kube_framer_pending(&f2))
        abort();
    kube_framer_dispose(&f1);
    kube_framer_dispose(&f2);
    buf_dispose(&s1.all);
    buf_dispose(&s2.all);
    return 0;
}
