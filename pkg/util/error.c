#include "error.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char error_message[LB_ERROR_MAX];

__attribute__((format(printf, 1, 0))) static void error_vformat(const char *fmt, va_list ap)
{
    vsnprintf(error_message, sizeof(error_message), fmt, ap);
}

int lb_error_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vformat(fmt, ap);
    va_end(ap);
    return LB_ERROR;
}

int lb_error_setc(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vformat(fmt, ap);
    va_end(ap);
    return code;
}

int lb_error_wrap(int code, const char *fmt, ...)
{
    char old[LB_ERROR_MAX];
    size_t used;
    va_list ap;

    memcpy(old, error_message, sizeof(old));
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof(error_message), fmt, ap);
    va_end(ap);
    if (old[0] == '\0')
        return code;
    /* Append ": <old>", truncating the old message if the whole does not fit. */
    used = strlen(error_message);
    if (used + 2 < sizeof(error_message)) {
        size_t room = sizeof(error_message) - used - 2 - 1;
        size_t n = strnlen(old, room);
        memcpy(error_message + used, ": ", 2);
        memcpy(error_message + used + 2, old, n);
        error_message[used + 2 + n] = '\0';
    }
    return code;
}

const char *lb_error_last(void)
{
    return error_message;
}

void lb_error_clear(void)
{
    error_message[0] = '\0';
}

const char *lb_error_name(int code)
{
    switch (code) {
    case LB_OK:
        return "LB_OK";
    case LB_ERROR:
        return "LB_ERROR";
    case LB_ENOTFOUND:
        return "LB_ENOTFOUND";
    case LB_ECONFLICT:
        return "LB_ECONFLICT";
    case LB_EGONE:
        return "LB_EGONE";
    case LB_ETHROTTLED:
        return "LB_ETHROTTLED";
    case LB_EINVALID:
        return "LB_EINVALID";
    case LB_ETOOBIG:
        return "LB_ETOOBIG";
    case LB_ETIMEOUT:
        return "LB_ETIMEOUT";
    case LB_EAMBIGUOUS:
        return "LB_EAMBIGUOUS";
    case LB_EFENCED:
        return "LB_EFENCED";
    default:
        return "LB_EUNKNOWN";
    }
}
