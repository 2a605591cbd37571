/* log.h - structured, leveled logging: one JSON (or text) line per event.
 *
 *     LB_LOG_INFO("restore started", "object", "shop/orders", "step", "restore");
 *     LB_LOG_WARN("retrying", "attempt", LB_LOG_INT(n), "error", lb_error_last());
 *
 * writes
 *
 *     {"ts":"2026-02-18T14:30:00.123Z","level":"info","msg":"restore started",
 *      "object":"shop/orders","step":"restore"}
 *
 * (on one line). After the message come key/value string pairs; an odd count
 * is a compile error. The level is checked before any argument is evaluated
 * or anything is formatted, so a disabled LB_LOG_DEBUG costs one atomic load.
 * Fields named ts, level or msg are written as _ts, _level, _msg.
 *
 * Secrets: the value of any field whose key contains (case-insensitively)
 * password, passwd, token, secret, key, credential, authorization or session
 * is written as "[REDACTED]". Every other value (and the message) passes
 * through lb_log_redact_url(), so a connection string's password never reaches
 * the output either. Values longer than LB_LOG_MAX_VALUE bytes are cut.
 *
 * Thread safety: call lb_log_init() before starting threads; lb_log_* and the
 * macros may then be used from any thread. Each line goes to the stream in
 * one locked fwrite+fflush, so lines never interleave.
 */
#ifndef LB_UTIL_LOG_H
#define LB_UTIL_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define LB_LOG_MAX_VALUE 4096 /* bytes kept of one message or field value */

typedef enum lb_log_level {
    LB_LOG_LEVEL_DEBUG = 0,
    LB_LOG_LEVEL_INFO = 1,
    LB_LOG_LEVEL_WARN = 2,
    LB_LOG_LEVEL_ERROR = 3,
} lb_log_level;

typedef enum lb_log_format {
    LB_LOG_FORMAT_JSON = 0, /* the default */
    LB_LOG_FORMAT_TEXT = 1, /* `2026-02-18T14:30:00.123Z INFO restore started object=shop/orders` */
} lb_log_format;

/* Sets where lines go (NULL: stderr; the caller keeps ownership of out and
 * must keep it open), the minimum level written and the format. May be
 * called again, but not while other threads are logging. Until it is called,
 * lines go to stderr as JSON at level info. */
void lb_log_init(FILE *out, lb_log_level level, lb_log_format format);

/* Changes the minimum level; safe at any time from any thread. */
void lb_log_set_level(lb_log_level level);

/* Parses "debug", "info", "warn" (or "warning") or "error" into *out.
 * Returns 0 or LB_EINVALID naming the allowed values. */
int lb_log_level_parse(lb_log_level *out, const char *s);

/* Parses "json" or "text" into *out. Returns 0 or LB_EINVALID. */
int lb_log_format_parse(lb_log_format *out, const char *s);

/* The minimum level written; package-private, read through lb_log_enabled(). */
extern _Atomic int lb_log__min_level;

/* True when a line at level would be written. */
static inline bool lb_log_enabled(lb_log_level level)
{
    return (int)level >= atomic_load_explicit(&lb_log__min_level, memory_order_relaxed);
}

/* Writes one line: args[0] is the message, then n-1 values as key/value
 * pairs (a NULL key skips its pair; a NULL value is written as null). Use
 * the macros instead; this does not check the level. */
void lb_log_write(lb_log_level level, const char *const *args, size_t n);

/* True when a field named key has its value redacted (see above). */
bool lb_log_key_is_sensitive(const char *key);

/* Returns a copy of s, which the caller frees, with secrets replaced by
 * [REDACTED]: the password of a URL's user info
 * (`postgres://u:pass@h/db` -> `postgres://u:[REDACTED]@h/db`), and the value
 * of every `name=value` term whose name is sensitive (see above), as in libpq
 * keyword strings (`host=h password='x y'`) and query strings (`?password=x&`).
 * Errs on the side of redacting too much when a URL is malformed. */
char *lb_log_redact_url(const char *s);

/* Formats v in the caller's block-scoped storage, for use as a field value:
 * LB_LOG_INFO("retry", "attempt", LB_LOG_INT(n)). */
#define LB_LOG_INT(v) lb_log__int((char[24]){0}, sizeof(char[24]), (long long)(v))

/* Writes v in decimal into buf (size bytes) and returns buf; for LB_LOG_INT. */
const char *lb_log__int(char *buf, size_t size, long long v);

#define LB_LOG__COUNT(...) (sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

#define LB_LOG_AT(level, ...)                                                                      \
    do {                                                                                           \
        _Static_assert(LB_LOG__COUNT(__VA_ARGS__) % 2 == 1,                                        \
                       "log fields must be key/value pairs after the message");                    \
        if (lb_log_enabled(level)) {                                                               \
            const char *const lb_log__args[] = {__VA_ARGS__};                                      \
            lb_log_write((level), lb_log__args, LB_LOG__COUNT(__VA_ARGS__));                       \
        }                                                                                          \
    } while (0)

#define LB_LOG_DEBUG(...) LB_LOG_AT(LB_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define LB_LOG_INFO(...)  LB_LOG_AT(LB_LOG_LEVEL_INFO, __VA_ARGS__)
#define LB_LOG_WARN(...)  LB_LOG_AT(LB_LOG_LEVEL_WARN, __VA_ARGS__)
#define LB_LOG_ERROR(...) LB_LOG_AT(LB_LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
