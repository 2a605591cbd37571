/* libFuzzer target: lb_time_parse_rfc3339n() on arbitrary bytes. Accepted
 * input must format and parse back to the same instant, and the parser must
 * agree with a second, independent check of the fixed layout. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

static int digits(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_time t, back;
    char buf[LB_TIME_RFC3339_MAX];

    if (lb_time_parse_rfc3339n(&t, (const char *)data, size) != 0)
        return 0;
    /* The layout the parser promises: YYYY-MM-DDTHH:MM:SS then [.frac] and Z or +hh:mm. */
    if (size < 20 || !digits(data, 4) || data[4] != '-' || !digits(data + 5, 2) || data[7] != '-' ||
        !digits(data + 8, 2) || (data[10] != 'T' && data[10] != 't') || !digits(data + 11, 2) ||
        data[13] != ':' || !digits(data + 14, 2) || data[16] != ':' || !digits(data + 17, 2))
        abort();
    if (t.nsec < 0 || t.nsec >= 1000000000)
        abort();
    for (int d = LB_TIME_FRAC_AUTO; d <= 9; d++) {
        int rc = lb_time_format(buf, sizeof(buf), t, d);
        if (rc != 0) {
            /* Only an offset pushing the instant outside years 0000-9999. */
            if (t.sec > -62167219200 + 86400 && t.sec < 253402300799 - 86400)
                abort();
            return 0;
        }
        if (lb_time_parse_rfc3339(&back, buf) != 0 || back.sec != t.sec)
            abort();
        if ((d == 9 || d == LB_TIME_FRAC_AUTO) && back.nsec != t.nsec)
            abort();
    }
    return 0;
}
