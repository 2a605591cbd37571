#include "alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static void alloc_die(size_t n)
{
    fprintf(stderr, "lifeboat: out of memory allocating %zu bytes\n", n);
    abort();
}

void *lb_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        alloc_die(n);
    return p;
}

void *lb_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        alloc_die(count * size);
    return p;
}

void *lb_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        alloc_die(n);
    return q;
}

char *lb_strdup(const char *s)
{
    return lb_strndup(s, strlen(s));
}

char *lb_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = lb_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *lb_sprintf(const char *fmt, ...)
{
    va_list ap;
    va_list ap2;
    int n;
    char *p;

    va_start(ap, fmt);
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    p = lb_malloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void lb_free_secret(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void lb_wipe_free(void *p)
{
    if (p == NULL)
        return;
    explicit_bzero(p, malloc_usable_size(p));
    free(p);
}
