/* backoff.h - capped exponential backoff with full jitter.
 *
 * The delay before retry number `attempt` (0 for the first retry) is drawn
 * uniformly from [0, min(cap, base * 2^attempt)] ("full jitter", as in the
 * AWS Architecture Blog's "Exponential Backoff And Jitter"), so that many
 * clients failing together do not retry together. Units are whatever base
 * and cap use (nanoseconds, milliseconds, ...). Negative base or cap count
 * as 0. All functions are thread-safe: the default random source is OpenSSL's
 * RAND_bytes, which is safe to call from any thread.
 */
#ifndef LB_UTIL_BACKOFF_H
#define LB_UTIL_BACKOFF_H

#include <stdint.h>

/* A source of uniformly random 64-bit values; tests inject their own. */
typedef uint64_t (*lb_backoff_rand_fn)(void *payload);

/* min(cap, base * 2^attempt), saturating instead of overflowing: the
 * ceiling of the jittered delay, and the delay itself for callers that want
 * no jitter (the work queue's per-key backoff). */
int64_t lb_backoff_ceiling(int64_t base, int64_t cap, unsigned attempt);

/* A delay drawn from [0, lb_backoff_ceiling(base, cap, attempt)] using
 * rand(payload); rand NULL means RAND_bytes (if that ever fails, the ceiling
 * is returned: retrying later is always safe). The draw maps the 64 random
 * bits onto the range by multiplication, so a source returning 0 yields 0 and
 * one returning UINT64_MAX yields the ceiling. */
int64_t lb_backoff_delay_with(int64_t base, int64_t cap, unsigned attempt, lb_backoff_rand_fn rand,
                              void *payload);

/* lb_backoff_delay_with() with RAND_bytes. */
int64_t lb_backoff_delay(int64_t base, int64_t cap, unsigned attempt);

#endif
