/* private.h - helpers shared by pkg/pg's files; not part of the API. */
#ifndef LB_PG_PRIVATE_H
#define LB_PG_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

/* Returns a copy of msg (caller frees) safe to show: URL and key=value
 * secrets redacted by lb_log_redact_url(), every occurrence of password (if
 * not NULL or "") replaced by [REDACTED], newlines and tabs turned into
 * spaces, runs of spaces squeezed and leading/trailing spaces removed. */
char *pg__scrub(const char *msg, const char *password);

/* Copies at most max bytes of s into a new string (caller frees), cutting at
 * a UTF-8 character boundary; *truncated tells whether anything was cut. */
char *pg__copy_capped(const char *s, size_t max, bool *truncated);

#endif
