/* Unit tests for pkg/kube/leader: Lease create, follow, take-over timing on an
 * injected clock, lost races, release. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kube/leader.h"
#include "util/error.h"

#include "test_kube_fake_server.h"

#define S 1000000000LL

typedef struct clk {
    int64_t now;
} clk;

static int64_t clk_now(void *payload)
{
    return ((clk *)payload)->now;
}

#define LEASE(holder, renew, transitions)                                                          \
    "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":"        \
    "\"lifeboat\",\"namespace\":\"sys\",\"resourceVersion\":\"7\"},\"spec\":{\"holderIdentity\":"  \
    "\"" holder "\",\"leaseDurationSeconds\":15,\"acquireTime\":\"2026-01-01T00:00:00.000000Z\","  \
    "\"renewTime\":\"" renew "\",\"leaseTransitions\":" transitions "}}"

static kube_leader *new_leader(env *e, clk *c)
{
    kube_leader_options o = {"sys", "lifeboat", "pod-a", 15, 10, 2, clk_now, c};
    kube_leader *l = NULL;
    c->now = 1767225600LL * S; /* 2026-01-01T00:00:00Z */
    assert_int_equal(kube_leader_new(&l, e->c, &o), 0);
    return l;
}

static void test_leader_creates_a_missing_lease(void **state)
{
    char *r404 = resp("404 Not Found", "", "{\"kind\":\"Status\",\"code\":404}");
    char *r201 = resp("201 Created", "", LEASE("pod-a", "2026-01-01T00:00:00.000000Z", "0"));
    scripted sc[] = {{.raw = r404}, {.raw = r201}};
    env e;
    clk c;
    kube_leader *l;
    int leader = -1;
    (void)state;
    env_start(&e, sc, 2);
    l = new_leader(&e, &c);
    assert_int_equal(kube_leader_try(l, &leader), 0);
    assert_int_equal(leader, 1);
    assert_string_equal(kube_leader_holder(l), "pod-a");
    assert_non_null(
        strstr(e.srv.requests[1], "POST /apis/coordination.k8s.io/v1/namespaces/sys/leases HTTP"));
    assert_non_null(strstr(e.srv.requests[1], "\"holderIdentity\":\"pod-a\""));
    assert_non_null(strstr(e.srv.requests[1], "\"renewTime\":\"2026-01-01T00:00:00.000000Z\""));
    assert_non_null(strstr(e.srv.requests[1], "\"leaseDurationSeconds\":15"));
    kube_leader_free(l);
    env_stop(&e);
    free(r404);
    free(r201);
}

static void test_leader_takes_over_only_after_the_lease_expires_on_our_clock(void **state)
{
    /* the holder's renewTime is far in the past by our clock: that alone must not count */
    char *held = resp("200 OK", "", LEASE("pod-b", "2020-01-01T00:00:00.000000Z", "3"));
    char *ok = resp("200 OK", "", LEASE("pod-a", "2026-01-01T00:00:15.000000Z", "4"));
    scripted sc[] = {{.raw = held}, {.raw = held}, {.raw = held}, {.raw = ok}};
    env e;
    clk c;
    kube_leader *l;
    int leader = -1;
    (void)state;
    env_start(&e, sc, 4);
    l = new_leader(&e, &c);
    assert_int_equal(kube_leader_try(l, &leader), 0);
    assert_int_equal(leader, 0);
    assert_string_equal(kube_leader_holder(l), "pod-b");
    c.now += 15 * S - 1; /* unchanged for just under leaseDurationSeconds */
    assert_int_equal(kube_leader_try(l, &leader), 0);
    assert_int_equal(leader, 0);
    c.now += 1;
    assert_int_equal(kube_leader_try(l, &leader), 0);
    assert_int_equal(leader, 1);
    assert_int_equal(atomic_load(&e.srv.n_requests), 4); /* 3 GETs, 1 PUT */
    assert_non_null(strstr(e.srv.requests[3], "PUT /apis/coordination.k8s.io/v1/namespaces/sys/"
                                              "leases/lifeboat HTTP"));
    assert_non_null(strstr(e.srv.requests[3], "\"resourceVersion\":\"7\""));
    assert_non_null(strstr(e.srv.requests[3], "\"holderIdentity\":\"pod-a\""));
    assert_non_null(strstr(e.srv.requests[3], "\"leaseTransitions\":4"));
    assert_non_null(strstr(e.srv.requests[3], "\"renewTime\":\"2026-01-01T00:00:15.000000Z\""));
    kube_leader_free(l);
    env_stop(&e);
    free(held);
    free(ok);
}

static void test_leader_renewal_of_a_changing_record_is_respected(void **state)
{
    char *r1 = resp("200 OK", "", LEASE("pod-b", "2026-01-01T00:00:00.000000Z", "1"));
    char *r2 = resp("200 OK", "", LEASE("pod-b", "2026-01-01T00:00:10.000000Z", "1"));
    scripted sc[] = {{.raw = r1}, {.raw = r2}, {.raw = r2}};
    env e;
    clk c;
    kube_leader *l;
    int leader = -1;
    (void)state;
    env_start(&e, sc, 3);
    l = new_leader(&e, &c);
    assert_int_equal(kube_leader_try(l, &leader), 0);
    c.now += 10 * S;
    assert_int_equal(kube_leader_try(l, &leader), 0); /* renewed: the clock restarts */
    assert_int_equal(leader, 0);
    c.now += 10 * S; /* 20 s since the first sight, 10 s since the renewal */
    assert_int_equal(kube_leader_try(l, &leader), 0);
    assert_int_equal(leader, 0);
    assert_int_equal(atomic_load(&e.srv.n_requests), 3); /* no write attempted */
    kube_leader_free(l);
    env_stop(&e);
    free(r1);
    free(r2);
}

static void test_leader_lost_race_and_release(void **state)
{
    char *released = resp("200 OK", "", LEASE("", "2026-01-01T00:00:00.000000Z", "2"));
    char *conflict =
        resp("409 Conflict", "", "{\"kind\":\"Status\",\"code\":409,\"reason\":\"Conflict\"}");
    char *mine = resp("200 OK", "", LEASE("pod-a", "2026-01-01T00:00:00.000000Z", "3"));
    scripted sc[] = {{.raw = released}, {.raw = conflict}, {.raw = mine}, {.raw = released}};
    env e;
    clk c;
    kube_leader *l;
    int leader = -1;
    (void)state;
    env_start(&e, sc, 4);
    l = new_leader(&e, &c);
    /* a released lease is taken at once, but another candidate's write won */
    assert_int_equal(kube_leader_try(l, &leader), 0);
    assert_int_equal(leader, 0);
    assert_non_null(strstr(e.srv.requests[1], "PUT "));
    /* release: our lease is given back with holder "" */
    assert_int_equal(kube_leader_release(l), 0);
    assert_non_null(strstr(e.srv.requests[3], "\"holderIdentity\":\"\""));
    assert_non_null(strstr(e.srv.requests[3], "\"leaseDurationSeconds\":1"));
    kube_leader_free(l);
    env_stop(&e);
    free(released);
    free(conflict);
    free(mine);
}

static void test_leader_holding_is_judged_on_our_clock(void **state)
{
    char *r404 = resp("404 Not Found", "", "{\"kind\":\"Status\",\"code\":404}");
    char *r201 = resp("201 Created", "", LEASE("pod-a", "2026-01-01T00:00:00.000000Z", "0"));
    char *mine = resp("200 OK", "", LEASE("pod-a", "2026-01-01T00:00:00.000000Z", "0"));
    char *theirs = resp("200 OK", "", LEASE("pod-b", "2026-01-01T00:00:30.000000Z", "1"));
    scripted sc[] = {{.raw = r404}, {.raw = r201}, {.raw = mine}, {.raw = mine}, {.raw = theirs}};
    env e;
    clk c;
    kube_leader *l;
    int leader = -1;
    (void)state;
    env_start(&e, sc, 5);
    l = new_leader(&e, &c);
    assert_false(kube_leader_holding(l)); /* never acquired */
    assert_int_equal(kube_leader_try(l, &leader), 0);
    assert_int_equal(leader, 1);
    assert_true(kube_leader_holding(l));
    /* no renewal: valid until renewDeadline (10 s) after the attempt began, by our clock
     * (a replica paused by SIGSTOP finds this expired before its loop runs again) */
    c.now += 10 * S - 1;
    assert_true(kube_leader_holding(l));
    c.now += 1;
    assert_false(kube_leader_holding(l));
    /* renewed: valid again */
    assert_int_equal(kube_leader_try(l, &leader), 0);
    assert_int_equal(leader, 1);
    assert_true(kube_leader_holding(l));
    /* another replica holds a live lease: stop at once, whatever our window said */
    c.now += 1 * S;
    assert_int_equal(kube_leader_try(l, &leader), 0);
    assert_int_equal(leader, 0);
    assert_false(kube_leader_holding(l));
    kube_leader_free(l);
    env_stop(&e);
    free(r404);
    free(r201);
    free(mine);
    free(theirs);
}

static int fence_calls;
static int deny_writes(void *payload, const char *method, const char *what)
{
    (void)payload;
    (void)method;
    fence_calls++;
    if (strstr(what, "/leases") != NULL)
        return 0;
    return lb_error_setc(LB_EFENCED, "not the leader");
}

static void test_client_fence_stops_writes_unsent(void **state)
{
    char *got = resp("200 OK", "", "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}");
    scripted sc[] = {{.raw = got}};
    kube_ref cm = {.version = "v1", .resource = "configmaps", .namespace = "sys", .name = "x"};
    json_t *out = NULL, *body = json_pack("{s:{s:s}}", "metadata", "name", "x");
    env e;
    (void)state;
    env_start(&e, sc, 1);
    kube_client_set_fence(e.c, deny_writes, NULL);
    fence_calls = 0;
    assert_int_equal(kube_replace(&out, e.c, &cm, body), LB_EFENCED);
    assert_non_null(strstr(lb_error_last(), "not sent: not the leader"));
    assert_int_equal(kube_patch(&out, e.c, &cm, KUBE_PATCH_MERGE, "{}", 2, NULL), LB_EFENCED);
    assert_int_equal(kube_delete(&out, e.c, &cm, NULL), LB_EFENCED);
    assert_int_equal(atomic_load(&e.srv.n_requests), 0); /* nothing reached the server */
    assert_int_equal(fence_calls, 3);
    assert_int_equal(kube_get(&out, e.c, &cm), 0); /* reads are not fenced */
    assert_int_equal(fence_calls, 3);
    json_decref(out);
    json_decref(body);
    kube_client_set_fence(e.c, NULL, NULL);
    env_stop(&e);
    free(got);
}

static void test_leader_options_are_checked(void **state)
{
    kube_leader_options bad_dur = {"sys", "lifeboat", "pod-a", 10, 10, 2, NULL, NULL};
    kube_leader_options no_id = {"sys", "lifeboat", "", 15, 10, 2, NULL, NULL};
    kube_leader *l = NULL;
    (void)state;
    assert_int_equal(kube_leader_new(&l, NULL, &bad_dur), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "leaseDuration (10) > renewDeadline (10)"));
    assert_int_equal(kube_leader_new(&l, NULL, &no_id), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "identity: required"));
    assert_null(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leader_creates_a_missing_lease),
        cmocka_unit_test(test_leader_takes_over_only_after_the_lease_expires_on_our_clock),
        cmocka_unit_test(test_leader_renewal_of_a_changing_record_is_respected),
        cmocka_unit_test(test_leader_lost_race_and_release),
        cmocka_unit_test(test_leader_holding_is_judged_on_our_clock),
        cmocka_unit_test(test_client_fence_stops_writes_unsent),
        cmocka_unit_test(test_leader_options_are_checked),
    };
    return cmocka_run_group_tests_name("kube_leader", tests, NULL, NULL);
}
