/* leader.h - leader election on a coordination.k8s.io/v1 Lease (client-go's
 * leaderelection, reduced to what the operator needs).
 *
 * kube_leader_try() makes one attempt: create the Lease if it is missing,
 * renew it if we hold it, take it over if its holder let it expire, or
 * report that someone else leads. Expiry is judged on our own clock: a
 * holder's lease counts as expired when its record (holder, renewTime) has
 * not changed for leaseDurationSeconds since we first saw it, so clock skew
 * between replicas does not matter. Writes are PUTs with the resourceVersion
 * we read, so two candidates cannot both win (the loser gets a 409).
 *
 * kube_leader_run() loops: try every retry period; once leading, renew every
 * retry period; if no renewal succeeded within the renew deadline, leadership
 * is lost (on_stopped) and the loop tries to acquire again. When `stop` is
 * set it releases the Lease (holder "", so a standby takes over at once).
 */
#ifndef LB_KUBE_LEADER_H
#define LB_KUBE_LEADER_H

#include <stdatomic.h>
#include <stdint.h>

#include "kube/client.h"

#define KUBE_LEADER_MAX_IDENTITY 128

typedef struct kube_leader kube_leader;

/* Wall-clock nanoseconds since the epoch (renewTime is written with it). */
typedef int64_t (*kube_leader_clock_fn)(void *payload);

typedef struct kube_leader_options {
    const char *namespace;      /* required */
    const char *name;           /* required: the Lease's name */
    const char *identity;       /* required: this replica (pod name) */
    int lease_duration_s;       /* default 15 */
    int renew_deadline_s;       /* default 10 */
    int retry_period_s;         /* default 2 */
    kube_leader_clock_fn clock; /* default: the real clock */
    void *clock_payload;
} kube_leader_options;

/* Creates an elector (strings copied; the client is borrowed). Returns
 * LB_EINVALID naming the option when one is missing or the durations are
 * not lease > renew deadline > retry period > 0. */
int kube_leader_new(kube_leader **out, kube_client *c, const kube_leader_options *opts);

/* Frees; NULL is accepted. Does not release the Lease. */
void kube_leader_free(kube_leader *l);

/* One attempt. On 0, *is_leader says whether we hold the Lease now. Errors
 * are the client's (LB_ECONFLICT is not an error: it means we lost a race,
 * *is_leader = 0). */
int kube_leader_try(kube_leader *l, int *is_leader);

/* Gives the Lease up if we hold it (holderIdentity ""). */
int kube_leader_release(kube_leader *l);

/* The holder seen in the last attempt ("" when none); borrowed. */
const char *kube_leader_holder(const kube_leader *l);

/* The fence (thread-safe): non-zero while this replica may act as leader,
 * judged by its own clock: its last successful acquire or renew started less
 * than renewDeadline ago, and no later attempt saw another live holder, and
 * the Lease was not released. A replica paused past that (SIGSTOP, a long GC
 * stall of the node) finds this 0 when it resumes, before its loop has even
 * tried to renew. Check it before every side effect and status write. */
int kube_leader_holding(kube_leader *l);

typedef void (*kube_leader_fn)(void *payload);

/* Runs until *stop becomes non-zero (checked at least every 100 ms), calling
 * on_started when leadership is gained and on_stopped when it is lost or the
 * loop ends while leading. Releases the Lease at the end. */
int kube_leader_run(kube_leader *l, const atomic_int *stop, kube_leader_fn on_started,
                    kube_leader_fn on_stopped, void *payload);

#endif
