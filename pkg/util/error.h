/* error.h - return codes and the per-thread error message.
 *
 * Functions that can fail return int: 0 on success, -1 (LB_ERROR) on a
 * failure described by the thread's message, or one of the named codes
 * below when callers need to branch on the cause. The message is set once,
 * where the failure is detected; callers pass the code up and do not
 * overwrite it. Messages never contain secret values.
 */
#ifndef LB_UTIL_ERROR_H
#define LB_UTIL_ERROR_H

#include <stdarg.h>

enum {
    LB_OK = 0,
    LB_ERROR = -1,      /* generic failure, see lb_error_last() */
    LB_ENOTFOUND = -2,  /* the object or resource does not exist */
    LB_ECONFLICT = -3,  /* stale version or already exists */
    LB_EGONE = -4,      /* a watch resourceVersion is too old (HTTP 410) */
    LB_ETHROTTLED = -5, /* throttled or rate limited; retry later */
    LB_EINVALID = -6,   /* input broke a rule; the message names the field */
    LB_ETOOBIG = -7,    /* input exceeded a named size cap */
    LB_ETIMEOUT = -8,   /* a deadline passed */
    LB_EAMBIGUOUS = -9, /* a change may or may not have been applied (5xx, connection lost
                           after sending): re-read the actual state before acting again */
    LB_EFENCED = -10,   /* not sent: this replica no longer holds the leader Lease */
};

#define LB_ERROR_MAX 1024 /* bytes kept of one message, NUL included */

/* Sets the calling thread's error message (printf format) and returns
 * LB_ERROR, so that `return lb_error_set("...")` reads naturally. A message
 * longer than LB_ERROR_MAX - 1 bytes is truncated. */
int lb_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Like lb_error_set() but returns `code`, for the named codes above. */
int lb_error_setc(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to the current message (adding context as an error
 * travels up) and returns `code` unchanged. */
int lb_error_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns the calling thread's last message; borrowed, valid until the next
 * lb_error_* call on this thread. Never NULL ("" when none was set). */
const char *lb_error_last(void);

/* Clears the calling thread's message. */
void lb_error_clear(void);

/* Returns a short constant name for a code ("LB_ENOTFOUND"), for logs. */
const char *lb_error_name(int code);

#endif
