/* libFuzzer target: lb_tz_parse() on arbitrary bytes (TZif files), then
 * offset and local-time queries on whatever it accepts: no out-of-bounds
 * read, offsets within +-26 h, well-formed mappings. */
#include <stdint.h>
#include <stdlib.h>

#include "util/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_tz *z;
    static const int64_t probes[] = {INT64_MIN,  -2208988800LL, -1,        0,        1,
                                     1771425000, 4102444800LL,  1LL << 38, INT64_MAX};

    if (lb_tz_parse(&z, "fuzz", data, size) != 0)
        return 0;
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        int32_t off = lb_tz_offset_at(z, probes[i]);
        lb_tz_mapping m;
        if (off < -26 * 3600 || off > 26 * 3600)
            abort();
        if (probes[i] <= -(1LL << 39) || probes[i] >= (1LL << 39))
            continue;
        if (lb_tz_local_to_utc(&m, z, probes[i] + off) != 0)
            abort();
        if (m.count < 0 || m.count > 2 || m.earliest > m.latest)
            abort();
    }
    lb_tz_free(z);
    return 0;
}
