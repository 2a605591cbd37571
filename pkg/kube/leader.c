/* leader.c - Lease get/create/update with optimistic concurrency. */
#include "kube/leader.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/error.h"
#include "util/timeutil.h"

#define NS_PER_S 1000000000LL

struct kube_leader {
    kube_client *c;
    char *namespace, *name, *identity;
    int lease_s, renew_s, retry_s;
    kube_leader_clock_fn clock;
    void *clock_payload;
    /* what we last saw, and when (our clock) */
    char observed_holder[KUBE_LEADER_MAX_IDENTITY + 1];
    char observed_renew[64];
    int64_t observed_at;
    int have_observed;
    /* the fence: we may act until this instant (our clock, ns); 0 = not leading */
    atomic_llong valid_until;
};

static int64_t real_clock(void *payload)
{
    struct timespec ts;
    (void)payload;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* MicroTime: "2026-11-21T01:02:03.123456Z". */
static void micro_time(char *out, size_t size, int64_t ns)
{
    lb_time t = lb_time_from_ns(ns);
    lb_time_format(out, size, t, 6);
}

int kube_leader_new(kube_leader **out, kube_client *c, const kube_leader_options *o)
{
    kube_leader *l;

    *out = NULL;
    if (o->namespace == NULL || o->namespace[0] == '\0')
        return lb_error_setc(LB_EINVALID, "leader: namespace: required");
    if (o->name == NULL || o->name[0] == '\0')
        return lb_error_setc(LB_EINVALID, "leader: name: required");
    if (o->identity == NULL || o->identity[0] == '\0')
        return lb_error_setc(LB_EINVALID, "leader: identity: required");
    if (strlen(o->identity) > KUBE_LEADER_MAX_IDENTITY)
        return lb_error_setc(LB_EINVALID, "leader: identity: longer than %d bytes",
                             KUBE_LEADER_MAX_IDENTITY);
    l = lb_calloc(1, sizeof(*l));
    l->c = c;
    l->namespace = lb_strdup(o->namespace);
    l->name = lb_strdup(o->name);
    l->identity = lb_strdup(o->identity);
    l->lease_s = o->lease_duration_s > 0 ? o->lease_duration_s : 15;
    l->renew_s = o->renew_deadline_s > 0 ? o->renew_deadline_s : 10;
    l->retry_s = o->retry_period_s > 0 ? o->retry_period_s : 2;
    l->clock = o->clock ? o->clock : real_clock;
    l->clock_payload = o->clock_payload;
    if (!(l->lease_s > l->renew_s && l->renew_s > l->retry_s)) {
        kube_leader_free(l);
        return lb_error_setc(LB_EINVALID,
                             "leader: durations: need leaseDuration (%d) > "
                             "renewDeadline (%d) > retryPeriod (%d)",
                             o->lease_duration_s, o->renew_deadline_s, o->retry_period_s);
    }
    *out = l;
    return 0;
}

void kube_leader_free(kube_leader *l)
{
    if (l == NULL)
        return;
    free(l->namespace);
    free(l->name);
    free(l->identity);
    free(l);
}

const char *kube_leader_holder(const kube_leader *l)
{
    return l->observed_holder;
}

static json_t *lease_spec(const char *holder, int duration, const char *acquire, const char *renew,
                          json_int_t transitions)
{
    return json_pack("{s:s, s:i, s:s, s:s, s:I}", "holderIdentity", holder, "leaseDurationSeconds",
                     duration, "acquireTime", acquire, "renewTime", renew, "leaseTransitions",
                     transitions);
}

int kube_leader_try(kube_leader *l, int *is_leader)
{
    kube_ref ref = {"coordination.k8s.io", "v1", "leases", l->namespace, l->name, NULL};
    kube_ref coll = {"coordination.k8s.io", "v1", "leases", l->namespace, NULL, NULL};
    json_t *lease = NULL, *spec, *body = NULL, *out = NULL;
    const char *holder, *renew, *acquire;
    int64_t now = l->clock(l->clock_payload);
    char now_s[LB_TIME_RFC3339_MAX];
    json_int_t transitions;
    int duration, result;

    *is_leader = 0;
    micro_time(now_s, sizeof(now_s), now);
    result = kube_get(&lease, l->c, &ref);
    if (result == LB_ENOTFOUND) {
        body = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "coordination.k8s.io/v1",
                         "kind", "Lease", "metadata", "name", l->name, "namespace", l->namespace,
                         "spec", lease_spec(l->identity, l->lease_s, now_s, now_s, 0));
        result = kube_create(NULL, l->c, &coll, body);
        if (result == LB_ECONFLICT) {
            result = 0; /* another candidate created it first */
            goto done;
        }
        if (result == 0) {
            *is_leader = 1;
            snprintf(l->observed_holder, sizeof(l->observed_holder), "%s", l->identity);
            atomic_store(&l->valid_until, now + (int64_t)l->renew_s * NS_PER_S);
        }
        goto done;
    }
    if (result != 0)
        goto done;

    spec = json_object_get(lease, "spec");
    holder = json_string_value(json_object_get(spec, "holderIdentity"));
    renew = json_string_value(json_object_get(spec, "renewTime"));
    acquire = json_string_value(json_object_get(spec, "acquireTime"));
    duration = (int)json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
    if (holder == NULL)
        holder = "";
    if (duration <= 0)
        duration = l->lease_s;

    /* observe: a changed record restarts the expiry clock */
    if (!l->have_observed || strcmp(l->observed_holder, holder) != 0 ||
        strcmp(l->observed_renew, renew ? renew : "") != 0) {
        snprintf(l->observed_holder, sizeof(l->observed_holder), "%s", holder);
        snprintf(l->observed_renew, sizeof(l->observed_renew), "%s", renew ? renew : "");
        l->observed_at = now;
        l->have_observed = 1;
    }
    if (holder[0] != '\0' && strcmp(holder, l->identity) != 0 &&
        now < l->observed_at + (int64_t)duration * NS_PER_S) {
        atomic_store(&l->valid_until, 0); /* someone else leads: stop acting at once */
        result = 0;                       /* someone else holds a live lease */
        goto done;
    }
    if (strcmp(holder, l->identity) != 0) {
        transitions++; /* taking over (or taking a released lease) */
        acquire = now_s;
    }
    body = json_deep_copy(lease);
    json_object_set_new(
        body, "spec",
        lease_spec(l->identity, l->lease_s, acquire ? acquire : now_s, now_s, transitions));
    result = kube_replace(&out, l->c, &ref, body); /* carries the resourceVersion we read */
    if (result == LB_ECONFLICT) {
        result = 0; /* lost the race; try again next period */
        goto done;
    }
    if (result == 0) {
        *is_leader = 1;
        snprintf(l->observed_holder, sizeof(l->observed_holder), "%s", l->identity);
        snprintf(l->observed_renew, sizeof(l->observed_renew), "%s", now_s);
        l->observed_at = now;
        /* `now` was read before the GET: a competitor cannot take over before
         * now + leaseDuration by its clock; we stop at now + renewDeadline */
        atomic_store(&l->valid_until, now + (int64_t)l->renew_s * NS_PER_S);
    }
done:
    json_decref(lease);
    json_decref(body);
    json_decref(out);
    return result;
}

int kube_leader_release(kube_leader *l)
{
    kube_ref ref = {"coordination.k8s.io", "v1", "leases", l->namespace, l->name, NULL};
    json_t *lease = NULL, *body = NULL, *spec;
    const char *holder;
    char now_s[LB_TIME_RFC3339_MAX];
    int result;

    micro_time(now_s, sizeof(now_s), l->clock(l->clock_payload));
    result = kube_get(&lease, l->c, &ref);
    if (result != 0)
        goto done;
    spec = json_object_get(lease, "spec");
    holder = json_string_value(json_object_get(spec, "holderIdentity"));
    if (holder == NULL || strcmp(holder, l->identity) != 0)
        goto done; /* not ours: nothing to give up */
    body = json_deep_copy(lease);
    json_object_set_new(body, "spec",
                        lease_spec("", 1, now_s, now_s,
                                   json_integer_value(json_object_get(spec, "leaseTransitions"))));
    atomic_store(&l->valid_until, 0); /* no more acting, whether the release lands or not */
    result = kube_replace(NULL, l->c, &ref, body);
    if (result == 0)
        l->observed_holder[0] = '\0';
done:
    json_decref(lease);
    json_decref(body);
    return result;
}

static void nap(const atomic_int *stop, int64_t ns)
{
    while (ns > 0 && !atomic_load(stop)) {
        int64_t step = ns < 100000000LL ? ns : 100000000LL;
        struct timespec ts = {0, (long)step};
        nanosleep(&ts, NULL);
        ns -= step;
    }
}

int kube_leader_run(kube_leader *l, const atomic_int *stop, kube_leader_fn on_started,
                    kube_leader_fn on_stopped, void *payload)
{
    int leading = 0;
    int64_t last_renew = 0;

    while (!atomic_load(stop)) {
        int is_leader = 0;
        int rc = kube_leader_try(l, &is_leader);
        int64_t now = l->clock(l->clock_payload);
        if (rc == 0 && is_leader) {
            last_renew = now;
            if (!leading) {
                leading = 1;
                if (on_started != NULL)
                    on_started(payload);
            }
        } else if (leading && (rc == 0 || now - last_renew >= (int64_t)l->renew_s * NS_PER_S)) {
            /* someone else holds it, or no renewal within the deadline: stop working */
            leading = 0;
            atomic_store(&l->valid_until, 0);
            if (on_stopped != NULL)
                on_stopped(payload);
        }
        nap(stop, (int64_t)l->retry_s * NS_PER_S);
    }
    if (leading) {
        if (on_stopped != NULL)
            on_stopped(payload);
        return kube_leader_release(l);
    }
    return 0;
}

int kube_leader_holding(kube_leader *l)
{
    int64_t until = atomic_load(&l->valid_until);
    return until != 0 && l->clock(l->clock_payload) < until;
}
