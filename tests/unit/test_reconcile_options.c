/* test_reconcile_options.c - lifeboat-operator's flags and environment
 * (pkg/controller/options.c): defaults, the Deployment's flags, precedence,
 * and errors that name the flag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "controller/options.h"
#include "util/error.h"

static const char *const ENV_VARS[] = {
    "LIFEBOAT_JOB_SESSION_DURATION",
    "LIFEBOAT_JOB_SESSION_RENEW_MARGIN",
    "KUBECONFIG",
    "LIFEBOAT_NAMESPACES",
    "LIFEBOAT_WORKERS",
    "LIFEBOAT_LEADER_ELECT",
    "LIFEBOAT_LEASE_NAME",
    "LIFEBOAT_LEASE_NAMESPACE",
    "LIFEBOAT_METRICS_ADDR",
    "LIFEBOAT_HEALTH_ADDR",
    "LIFEBOAT_LOG_FORMAT",
    "LIFEBOAT_LOG_LEVEL",
    "LIFEBOAT_HTTP_CHECK_HOSTS",
    "LIFEBOAT_HTTP_CHECK_ALLOW_LOOPBACK",
    "LIFEBOAT_SQL_SSLMODE",
    "LIFEBOAT_SQL_SSLROOTCERT",
    "LIFEBOAT_S3SYNC_OPERATOR_MAX_OBJECTS",
    "POD_NAMESPACE",
};

static int clean_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ENV_VARS) / sizeof(ENV_VARS[0]); i++)
        unsetenv(ENV_VARS[i]);
    return 0;
}

static int parse(op_options *o, char **argv)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    return op_options_parse(o, argc, argv);
}

static void test_reconcile_options_defaults(void **state)
{
    char *argv[] = {"op", NULL};
    op_options o;
    (void)state;
    assert_int_equal(parse(&o, argv), 0);
    assert_int_equal(o.workers, 4);
    assert_int_equal(o.leader_elect, 0);
    assert_int_equal(o.n_namespaces, 0);
    assert_null(o.kubeconfig);
    assert_null(o.lease_namespace);
    assert_string_equal(o.lease_name, "lifeboat-operator");
    assert_string_equal(o.metrics_addr, ":8080");
    assert_string_equal(o.health_addr, ":8081");
    assert_int_equal(o.log_format, LB_LOG_FORMAT_JSON);
    assert_int_equal(o.log_level, LB_LOG_LEVEL_INFO);
    op_options_dispose(&o);
}

static void test_reconcile_options_accepts_the_deployment_flags(void **state)
{
    /* deploy/deployment.yaml's args, with $(POD_NAMESPACE) expanded */
    char *argv[] = {"op",
                    "--leader-elect",
                    "--lease-name=lifeboat-operator",
                    "--lease-namespace=lifeboat-system",
                    "--metrics-addr=:8080",
                    "--health-addr=:8081",
                    "--workers=4",
                    "--log-format=json",
                    "--log-level=info",
                    NULL};
    op_options o;
    (void)state;
    assert_int_equal(parse(&o, argv), 0);
    assert_int_equal(o.leader_elect, 1);
    assert_string_equal(o.lease_namespace, "lifeboat-system");
    assert_int_equal(o.workers, 4);
    op_options_dispose(&o);
}

static void test_reconcile_options_flag_wins_over_env(void **state)
{
    char *argv[] = {"op", "--workers", "7", "--namespaces", "shop,billing", NULL};
    op_options o;
    (void)state;
    setenv("LIFEBOAT_WORKERS", "2", 1);
    setenv("LIFEBOAT_LOG_FORMAT", "text", 1);
    setenv("LIFEBOAT_LEADER_ELECT", "true", 1);
    setenv("POD_NAMESPACE", "ops", 1);
    assert_int_equal(parse(&o, argv), 0);
    assert_int_equal(o.workers, 7);
    assert_int_equal(o.log_format, LB_LOG_FORMAT_TEXT);
    assert_int_equal(o.leader_elect, 1);
    assert_string_equal(o.lease_namespace, "ops");
    assert_int_equal(o.n_namespaces, 2);
    assert_string_equal(o.namespaces[0], "shop");
    assert_string_equal(o.namespaces[1], "billing");
    op_options_dispose(&o);
}

static void expect_error(char **argv, const char *needle)
{
    op_options o;
    assert_int_equal(parse(&o, argv), LB_EINVALID);
    if (strstr(lb_error_last(), needle) == NULL)
        fail_msg("want '%s' in '%s'", needle, lb_error_last());
    op_options_dispose(&o);
}

static void test_reconcile_options_errors_name_the_flag(void **state)
{
    (void)state;
    expect_error((char *[]){"op", "--bogus", NULL}, "unknown flag '--bogus'");
    expect_error((char *[]){"op", "--workers=0", NULL}, "--workers: must be an integer from 1");
    expect_error((char *[]){"op", "--workers", "many", NULL}, "--workers");
    expect_error((char *[]){"op", "--workers", NULL}, "--workers: needs a value");
    expect_error((char *[]){"op", "--log-format=xml", NULL}, "--log-format: must be json or text");
    expect_error((char *[]){"op", "--log-level=loud", NULL}, "--log-level");
    expect_error((char *[]){"op", "--leader-elect=maybe", NULL}, "--leader-elect");
    expect_error((char *[]){"op", "--namespaces=Shop", NULL}, "--namespaces: 'Shop'");
    expect_error((char *[]){"op", "--help=yes", NULL}, "--help: takes no value");
    setenv("LIFEBOAT_WORKERS", "x", 1);
    expect_error((char *[]){"op", NULL}, "LIFEBOAT_WORKERS");
}

/* issue 11: the check policy flags, table-driven */
static void test_reconcile_options_check_policy_flags(void **state)
{
    static const struct {
        const char *flag, *value;
        int ok;
        const char *err;
    } cases[] = {
        {"--sql-sslmode", "disable", 1, NULL},
        {"--sql-sslmode", "verify-full", 1, NULL},
        {"--sql-sslmode", "insecure", 0, "--sql-sslmode: must be one of"},
        {"--http-check-hosts", "api.example.com,*.svc,10.0.0.1", 1, NULL},
        {"--http-check-hosts", "a b", 0, "--http-check-hosts"},
        {"--http-check-hosts", "*", 0, "--http-check-hosts"},
        {"--http-check-allow-loopback", "true", 1, NULL},
        {"--http-check-allow-loopback", "maybe", 0, "--http-check-allow-loopback"},
        {"--sql-sslrootcert", "/etc/ssl/rds.pem", 1, NULL},
    };
    (void)state;
    {
        char *argv[] = {"op", NULL};
        op_options o;
        assert_int_equal(parse(&o, argv), 0);
        assert_string_equal(o.sql_sslmode, "verify-full"); /* the safe default */
        assert_int_equal(o.http_check_allow_loopback, 0);
        assert_int_equal(o.n_http_check_hosts, 0);
        op_options_dispose(&o);
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char arg[256];
        char *argv[] = {"op", arg, NULL};
        op_options o;
        int rc;
        snprintf(arg, sizeof(arg), "%s=%s", cases[i].flag, cases[i].value);
        rc = parse(&o, argv);
        if ((rc == 0) != (cases[i].ok != 0))
            fail_msg("%s: rc %d (%s)", arg, rc, lb_error_last());
        if (rc != 0 && strstr(lb_error_last(), cases[i].err) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", arg, lb_error_last(), cases[i].err);
        op_options_dispose(&o);
    }
}

/* issue 14: the s3Sync threshold above which an item runs as an Indexed Job */
static void test_reconcile_options_s3sync_operator_max_objects(void **state)
{
    op_options o;
    (void)state;
    assert_int_equal(parse(&o, (char *[]){"op", NULL}), 0);
    assert_int_equal(o.s3sync_operator_max_objects, 100000);
    op_options_dispose(&o);
    setenv("LIFEBOAT_S3SYNC_OPERATOR_MAX_OBJECTS", "5000", 1);
    assert_int_equal(parse(&o, (char *[]){"op", NULL}), 0);
    assert_int_equal(o.s3sync_operator_max_objects, 5000);
    op_options_dispose(&o);
    assert_int_equal(parse(&o, (char *[]){"op", "--s3sync-operator-max-objects", "20", NULL}), 0);
    assert_int_equal(o.s3sync_operator_max_objects, 20);
    op_options_dispose(&o);
    unsetenv("LIFEBOAT_S3SYNC_OPERATOR_MAX_OBJECTS");
    expect_error((char *[]){"op", "--s3sync-operator-max-objects=0", NULL},
                 "--s3sync-operator-max-objects: must be an integer from 1 to 1000000");
    expect_error((char *[]){"op", "--s3sync-operator-max-objects=1000001", NULL},
                 "--s3sync-operator-max-objects");
    expect_error((char *[]){"op", "--s3sync-operator-max-objects=2k", NULL},
                 "--s3sync-operator-max-objects");
    assert_non_null(strstr(op_options_usage(), "--s3sync-operator-max-objects N"));
}

/* issue 14: a scoped agent Job's AWS session length and renewal margin */
static void test_reconcile_options_job_session_duration_and_margin(void **state)
{
    op_options o;
    (void)state;
    assert_int_equal(parse(&o, (char *[]){"op", NULL}), 0);
    assert_int_equal(o.job_session_duration, 3600);
    assert_int_equal(o.job_session_renew_margin, 1200);
    op_options_dispose(&o);
    setenv("LIFEBOAT_JOB_SESSION_RENEW_MARGIN", "890", 1);
    assert_int_equal(parse(&o, (char *[]){"op", "--job-session-duration=900", NULL}), 0);
    assert_int_equal(o.job_session_duration, 900);
    assert_int_equal(o.job_session_renew_margin, 890);
    op_options_dispose(&o);
    unsetenv("LIFEBOAT_JOB_SESSION_RENEW_MARGIN");
    expect_error((char *[]){"op", "--job-session-duration=899", NULL},
                 "--job-session-duration: must be an integer from 900 to 43200 seconds, got "
                 "'899'");
    expect_error((char *[]){"op", "--job-session-renew-margin=0", NULL},
                 "--job-session-renew-margin: must be an integer from 1");
    expect_error((char *[]){"op", "--job-session-duration=900", NULL}, /* default margin 1200 */
                 "--job-session-renew-margin: must be less than --job-session-duration (900), "
                 "got 1200");
    assert_non_null(strstr(op_options_usage(), "--job-session-renew-margin S"));
}

static void test_reconcile_options_help_and_version(void **state)
{
    char *argv[] = {"op", "--help", "--version", NULL};
    op_options o;
    (void)state;
    assert_int_equal(parse(&o, argv), 0);
    assert_int_equal(o.help, 1);
    assert_int_equal(o.version, 1);
    assert_non_null(strstr(op_options_usage(), "--lease-namespace"));
    op_options_dispose(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_reconcile_options_defaults, clean_env),
        cmocka_unit_test_setup(test_reconcile_options_accepts_the_deployment_flags, clean_env),
        cmocka_unit_test_setup(test_reconcile_options_flag_wins_over_env, clean_env),
        cmocka_unit_test_setup(test_reconcile_options_errors_name_the_flag, clean_env),
        cmocka_unit_test_setup(test_reconcile_options_check_policy_flags, clean_env),
        cmocka_unit_test_setup(test_reconcile_options_s3sync_operator_max_objects, clean_env),
        cmocka_unit_test_setup(test_reconcile_options_job_session_duration_and_margin, clean_env),
        cmocka_unit_test_setup(test_reconcile_options_help_and_version, clean_env),
    };
    return cmocka_run_group_tests_name("reconcile_options", tests, NULL, NULL);
}
