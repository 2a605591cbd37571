/* test_reconcile_kept.c - the RestoreRequest controller on the informer's kept
 * view (issue 17): a settled request is skipped with no request to the API
 * server at all (no GET, no status write); a request the view says has work is
 * read fresh (GET) and decided on what the server returned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/common.h"
#include "controller/controller.h"
#include "controller/restore/reconcile.h"
#include "kube/keep.h"
#include "util/error.h"

#include "test_kube_fake_server.h"

#define PATH "/apis/lifeboat.dev/v1alpha1/namespaces/ns/restorerequests/r"

/* A 1-item dry-run request, generation 3, status as the controller plans it. */
static json_t *planned_request(void)
{
    json_t *status = json_object();
    json_t *obj = json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:i}, s:{s:b, s:[{s:s, s:{s:s, s:b}, s:{s:s},"
        " s:s, s:s}], s:[{s:s, s:s}]}}",
        "apiVersion", "lifeboat.dev/v1alpha1", "kind", "RestoreRequest", "metadata", "name", "r",
        "namespace", "ns", "uid", "u-1", "resourceVersion", "7", "generation", 3, "spec",
        "dryRun", 1, "items", "name", "orders-db", "rdsPointInTime", "sourceDBInstanceIdentifier",
        "orders-prod", "useLatestRestorableTime", 1, "credentialsSecretRef", "name",
        "orders-admin", "database", "orders", "promote", "rename", "rollout", "kind",
        "Deployment", "name", "api");
    assert_int_equal(restore_desired_status(status, obj, lb_time_now()), 0);
    assert_string_equal(api_get_str(status, "phase"), "Planned");
    json_object_set_new(obj, "status", status);
    return obj;
}

static void test_settled_request_is_skipped_from_the_kept_view_alone(void **state)
{
    json_t *full = planned_request();
    json_t *view = kube_keep_view(full, ctrl_kind_restore.keep);
    ctrl_env ce = {0};
    ctrl_result res;
    scripted none[1] = {{.raw = NULL}};
    env e;
    (void)state;

    /* the view holds what deciding needs and none of the spec or the plan */
    assert_null(json_object_get(view, "spec"));
    assert_null(json_object_get(json_object_get(view, "status"), "plan"));
    assert_string_equal(api_get_str(json_object_get(view, "status"), "phase"), "Planned");
    assert_true(ctrl_status_current(view));

    env_start(&e, none, 0);
    ce.client = e.c;
    assert_int_equal(ctrl_reconcile(&res, &ctrl_kind_restore, &ce, view), 0);
    assert_int_equal(res.outcome, CTRL_SKIPPED);
    assert_int_equal(atomic_load(&e.srv.n_requests), 0); /* no GET, no status write */
    assert_int_equal(e.metric_calls, 0);
    env_stop(&e);
    json_decref(view);
    json_decref(full);
}

static void test_request_with_work_is_read_fresh(void **state)
{
    json_t *full = planned_request(), *unplanned = json_deep_copy(full), *view;
    char *body, *reply;
    ctrl_env ce = {0};
    ctrl_result res;
    scripted sc[1];
    env e;
    (void)state;

    /* the cache is behind: it still has the request before it was planned; the
     * server has it planned, so the fresh read finds nothing left to do */
    json_object_del(unplanned, "status");
    view = kube_keep_view(unplanned, ctrl_kind_restore.keep);
    body = json_dumps(full, JSON_COMPACT);
    reply = resp("200 OK", "", body);
    sc[0] = (scripted){.raw = reply};
    env_start(&e, sc, 1);
    ce.client = e.c;
    assert_int_equal(ctrl_reconcile(&res, &ctrl_kind_restore, &ce, view), 0);
    assert_int_equal(res.outcome, CTRL_SKIPPED);
    assert_int_equal(atomic_load(&e.srv.n_requests), 1);
    assert_non_null(e.srv.requests[0]);
    assert_true(strncmp(e.srv.requests[0], "GET " PATH " ", strlen("GET " PATH " ")) == 0);
    env_stop(&e);
    free(reply);
    free(body);
    json_decref(view);
    json_decref(unplanned);
    json_decref(full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settled_request_is_skipped_from_the_kept_view_alone),
        cmocka_unit_test(test_request_with_work_is_read_fresh),
    };
    return cmocka_run_group_tests_name("reconcile_kept", tests, NULL, NULL);
}
