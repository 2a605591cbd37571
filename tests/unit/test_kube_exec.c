/* Unit tests for pkg/kube/exec.c: the status channel and option checks.
 * The WebSocket exchange itself is tested against kubesim (e2e/redis/tests/test_exec.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube/client.h"
#include "kube/config.h"
#include "kube/exec.h"
#include "util/error.h"

static void test_exec_status_success_is_zero(void **state)
{
    const char *j = "{\"metadata\":{},\"status\":\"Success\"}";
    int code = -5;
    char *msg = NULL;
    (void)state;
    assert_int_equal(kube_exec_parse_status(&code, &msg, j, strlen(j)), 0);
    assert_int_equal(code, 0);
    assert_string_equal(msg, "");
    free(msg);
}

static void test_exec_status_nonzero_exit_code(void **state)
{
    const char *j = "{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"message\":\"command "
                    "terminated with non-zero exit code: exit code 7\",\"details\":{\"causes\":"
                    "[{\"reason\":\"ExitCode\",\"message\":\"7\"}]}}";
    int code = -5;
    (void)state;
    assert_int_equal(kube_exec_parse_status(&code, NULL, j, strlen(j)), 0);
    assert_int_equal(code, 7);
}

static void test_exec_status_other_failure_is_an_error(void **state)
{
    const char *j = "{\"status\":\"Failure\",\"reason\":\"InternalError\",\"message\":\"exec: "
                    "no such file\"}";
    int code = 0;
    char *msg = (char *)"x";
    (void)state;
    assert_int_equal(kube_exec_parse_status(&code, &msg, j, strlen(j)), LB_ERROR);
    assert_int_equal(code, -1);
    assert_null(msg);
    assert_non_null(strstr(lb_error_last(), "InternalError: exec: no such file"));
}

static void test_exec_status_bad_exit_code_cause(void **state)
{
    const char *bad[] = {
        "{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\"}",
        "{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{"
        "\"reason\":\"ExitCode\",\"message\":\"seven\"}]}}",
        "{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{"
        "\"reason\":\"ExitCode\",\"message\":\"999\"}]}}",
        "not json",
        "[]",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int code = 0;
        assert_int_not_equal(kube_exec_parse_status(&code, NULL, bad[i], strlen(bad[i])), 0);
        assert_int_equal(code, -1);
    }
}

static void test_exec_options_are_checked_before_connecting(void **state)
{
    kube_config *cfg = NULL;
    kube_client *c = NULL;
    kube_exec_result r;
    const char *argv[] = {"true"};
    kube_exec_options o;
    const char *yaml = "/tmp/lifeboat-test-kube-exec.yaml";
    FILE *f = fopen(yaml, "w");
    (void)state;
    assert_non_null(f);
    fputs("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "
          "'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: "
          "x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
          f);
    fclose(f);
    assert_int_equal(kube_config_load_path_list(&cfg, yaml, NULL), 0);
    assert_int_equal(kube_client_new(&c, cfg, NULL), 0);

    memset(&o, 0, sizeof(o));
    o.pod = "p";
    o.argv = argv;
    o.argc = 1;
    assert_int_equal(kube_exec(&r, c, &o), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "namespace is required"));
    assert_int_equal(r.exit_code, -1);
    o.namespace = "ns";
    o.argc = 0;
    assert_int_equal(kube_exec(&r, c, &o), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "argv"));
    o.argc = KUBE_EXEC_MAX_ARGS + 1;
    assert_int_equal(kube_exec(&r, c, &o), LB_EINVALID);
    /* nothing listens on port 1: a connection error, not a hang */
    o.argc = 1;
    o.timeout_ms = 5000;
    assert_int_not_equal(kube_exec(&r, c, &o), 0);
    assert_null(r.out);
    kube_client_free(c);
    kube_config_free(cfg);
    remove(yaml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_status_success_is_zero),
        cmocka_unit_test(test_exec_status_nonzero_exit_code),
        cmocka_unit_test(test_exec_status_other_failure_is_an_error),
        cmocka_unit_test(test_exec_status_bad_exit_code_cause),
        cmocka_unit_test(test_exec_options_are_checked_before_connecting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
