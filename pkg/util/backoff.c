#include "util/backoff.h"

#include <openssl/rand.h>

int64_t lb_backoff_ceiling(int64_t base, int64_t cap, unsigned attempt)
{
    if (base < 0)
        base = 0;
    if (cap < 0)
        cap = 0;
    if (base >= cap)
        return cap;
    /* base < cap here, so doubling until reaching cap cannot overflow. */
    for (unsigned i = 0; i < attempt && base < cap; i++) {
        if (base > cap / 2)
            return cap;
        base *= 2;
    }
    return base < cap ? base : cap;
}

static uint64_t openssl_rand(void *payload)
{
    uint64_t r;
    (void)payload;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        return UINT64_MAX;
    return r;
}

int64_t lb_backoff_delay_with(int64_t base, int64_t cap, unsigned attempt, lb_backoff_rand_fn rand,
                              void *payload)
{
    uint64_t ceiling = (uint64_t)lb_backoff_ceiling(base, cap, attempt);
    uint64_t r = rand != NULL ? rand(payload) : openssl_rand(NULL);
    /* floor(r * (ceiling + 1) / 2^64) is in [0, ceiling]; ceiling < 2^63. */
    return (int64_t)(((unsigned __int128)r * (ceiling + 1)) >> 64);
}

int64_t lb_backoff_delay(int64_t base, int64_t cap, unsigned attempt)
{
    return lb_backoff_delay_with(base, cap, attempt, NULL, NULL);
}
