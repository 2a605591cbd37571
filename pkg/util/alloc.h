/* alloc.h - allocation that never returns NULL.
 *
 * Allocation failure is handled in one place: these wrappers print a line to
 * stderr and abort(), so callers need no NULL checks. Free with free().
 */
#ifndef LB_UTIL_ALLOC_H
#define LB_UTIL_ALLOC_H

#include <stddef.h>

/* malloc(n); n == 0 allocates 1 byte. Never returns NULL. */
void *lb_malloc(size_t n);

/* calloc(count, size) with overflow checking. Never returns NULL. */
void *lb_calloc(size_t count, size_t size);

/* realloc(p, n); n == 0 keeps a 1-byte block. Never returns NULL. */
void *lb_realloc(void *p, size_t n);

/* strdup(s); s must not be NULL. Never returns NULL. */
char *lb_strdup(const char *s);

/* Copies the first n bytes of s (fewer if a NUL comes first) into a new
 * NUL-terminated string. Never returns NULL. */
char *lb_strndup(const char *s, size_t n);

/* printf into a new string that the caller frees. Never returns NULL. */
char *lb_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Overwrites the string s (strlen bytes) with zeros through explicit_bzero
 * (not optimised away like a memset before free) and frees it. For
 * passwords, tokens, connection strings and Secret values. NULL is fine. */
void lb_free_secret(char *s);

/* Overwrites the whole heap block p (malloc_usable_size bytes) with zeros and
 * frees it. Installed as jansson's free function by the operator and the
 * agent (json_set_alloc_funcs), so Secret values parsed from API responses do
 * not linger in freed memory. NULL is fine. */
void lb_wipe_free(void *p);

#endif
