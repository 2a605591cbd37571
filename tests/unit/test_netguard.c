/* Unit tests for pkg/util/netguard (where HTTP checks may connect) and
 * pkg/util/harden + the secret wipes (issue 11 items 6 and 8), table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "util/alloc.h"
#include "util/error.h"
#include "util/harden.h"
#include "util/netguard.h"

int verify_http_validate(const char *method, const char *content_type);
char *pg_check_wrap_query(const char *query);

static int check_ip(const char *ip, int port)
{
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    memset(&in4, 0, sizeof(in4));
    memset(&in6, 0, sizeof(in6));
    if (inet_pton(AF_INET, ip, &in4.sin_addr) == 1) {
        in4.sin_family = AF_INET;
        in4.sin_port = htons((uint16_t)port);
        return netguard_check_addr((struct sockaddr *)&in4, sizeof(in4));
    }
    assert_int_equal(inet_pton(AF_INET6, ip, &in6.sin6_addr), 1);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons((uint16_t)port);
    return netguard_check_addr((struct sockaddr *)&in6, sizeof(in6));
}

static void configure(const char *const *hosts, size_t n, bool loopback, const char *server)
{
    netguard_options o = {.allow_hosts = hosts,
                          .n_allow_hosts = n,
                          .allow_loopback = loopback,
                          .apiserver_url = server};
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(netguard_configure(&o), 0);
}

static void test_netguard_addresses_table(void **state)
{
    static const struct {
        const char *ip;
        int port;
        bool loopback_allowed;
        int want; /* 0 allowed, 1 refused */
        const char *why;
    } cases[] = {
        {"169.254.169.254", 80, true, 1, "169.254.0.0/16"},
        {"169.254.0.1", 8080, true, 1, "169.254.0.0/16"},
        {"fd00:ec2::254", 80, true, 1, "fd00:ec2::254"},
        {"::ffff:169.254.169.254", 80, true, 1, "169.254.0.0/16"},
        {"64:ff9b::a9fe:a9fe", 80, true, 1, "169.254.0.0/16"},
        {"fe80::1", 80, true, 1, "fe80::/10"},
        {"0.0.0.0", 80, true, 1, "0.0.0.0/8"},
        {"224.0.0.1", 80, true, 1, "multicast"},
        {"255.255.255.255", 80, true, 1, "broadcast"},
        {"::", 80, true, 1, "unspecified"},
        {"ff02::1", 80, true, 1, "multicast"},
        {"127.0.0.1", 8080, false, 1, "loopback"},
        {"::1", 8080, false, 1, "loopback"},
        {"127.0.0.1", 8080, true, 0, NULL},
        {"127.0.0.1", 6443, true, 1, "API server"}, /* the configured local API server */
        {"10.96.0.1", 443, true, 0, NULL},
        {"10.0.3.7", 5432, false, 0, NULL},
        {"2001:db8::1", 443, false, 0, NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;
        configure(NULL, 0, cases[i].loopback_allowed, "https://127.0.0.1:6443");
        rc = check_ip(cases[i].ip, cases[i].port);
        if ((rc != 0) != (cases[i].want != 0))
            fail_msg("%s:%d: rc %d, want %s (%s)", cases[i].ip, cases[i].port, rc,
                     cases[i].want ? "refused" : "allowed", lb_error_last());
        if (rc != 0) {
            assert_int_equal(rc, LB_EINVALID);
            if (strstr(lb_error_last(), cases[i].why) == NULL)
                fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].ip, lb_error_last(),
                         cases[i].why);
        }
    }
    netguard_reset();
}

static void test_netguard_api_server_by_address_in_a_cluster(void **state)
{
    (void)state;
    /* a non-loopback API server: every port of its address is refused */
    configure(NULL, 0, false, "https://10.96.0.1:443");
    assert_int_equal(check_ip("10.96.0.1", 443), LB_EINVALID);
    assert_int_equal(check_ip("10.96.0.1", 10250), LB_EINVALID);
    assert_int_equal(check_ip("10.96.0.2", 443), 0);
    assert_int_equal(netguard_check_host("10.96.0.1", 443, NULL, 0), LB_EINVALID);
    /* in a Pod: KUBERNETES_SERVICE_HOST too */
    setenv("KUBERNETES_SERVICE_HOST", "10.100.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    {
        netguard_options o = {.apiserver_url = "https://api.example.internal:6443"};
        assert_int_equal(netguard_configure(&o), 0);
    }
    assert_int_equal(check_ip("10.100.0.1", 443), LB_EINVALID);
    assert_int_equal(netguard_check_host("api.example.internal", 6443, NULL, 0), LB_EINVALID);
    assert_int_equal(netguard_check_host("API.Example.Internal.", 443, NULL, 0), LB_EINVALID);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    netguard_reset();
}

static void test_netguard_hosts_table(void **state)
{
    static const char *const op_hosts[] = {"*.svc", "api.example.com", "127.0.0.1", "localhost"};
    static const char *const scope_hosts[] = {"*.shop.svc", "127.0.0.1", "localhost"};
    static const struct {
        const char *host;
        int port;
        bool with_scope;
        int want; /* 0 allowed, 1 refused */
        const char *why;
    } cases[] = {
        {"orders.shop.svc", 80, false, 0, NULL},
        {"orders.shop.svc", 80, true, 0, NULL},
        {"orders.billing.svc", 80, false, 0, NULL},
        {"orders.billing.svc", 80, true, 1, "scope"},
        {"api.example.com", 443, false, 0, NULL},
        {"API.EXAMPLE.COM.", 443, false, 0, NULL},
        {"api.example.com", 443, true, 1, "scope"},
        {"evil.example.com", 443, false, 1, "--http-check-hosts"},
        {"svc", 80, false, 1, "--http-check-hosts"},
        {"kubernetes.default.svc", 443, false, 1, "API server"},
        {"kubernetes.default.svc.cluster.local", 443, false, 1, "API server"},
        {"kubernetes", 443, false, 1, "API server"},
        {"169.254.169.254", 80, false, 1, "169.254.0.0/16"},
        {"[fd00:ec2::254]", 80, false, 1, "fd00:ec2::254"},
        {"127.0.0.1", 8080, true, 0, NULL},
        {"127.0.0.1", 6443, false, 1, "API server"},
        {"localhost", 6443, false, 1, "API server"},
        {"localhost", 8080, false, 0, NULL},
        {"127.0.0.2", 8080, false, 1, "--http-check-hosts"},
        {"", 80, false, 1, "host"},
    };
    (void)state;
    configure(op_hosts, 4, true, "https://localhost:6443");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = netguard_check_host(cases[i].host, cases[i].port,
                                     cases[i].with_scope ? scope_hosts : NULL,
                                     cases[i].with_scope ? 3 : 0);
        if ((rc != 0) != (cases[i].want != 0))
            fail_msg("\"%s\":%d: rc %d, want %s (%s)", cases[i].host, cases[i].port, rc,
                     cases[i].want ? "refused" : "allowed", lb_error_last());
        if (rc != 0 && strstr(lb_error_last(), cases[i].why) == NULL)
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].host, lb_error_last(),
                     cases[i].why);
    }
    netguard_reset();
}

static void test_netguard_loopback_names_without_the_option(void **state)
{
    (void)state;
    configure(NULL, 0, false, "https://10.0.0.1:443");
    assert_int_equal(netguard_check_host("localhost", 8080, NULL, 0), LB_EINVALID);
    assert_int_equal(netguard_check_host("127.0.0.1", 8080, NULL, 0), LB_EINVALID);
    assert_int_equal(netguard_check_host("example.com", 80, NULL, 0), 0);
    netguard_reset();
}

static void test_netguard_patterns_table(void **state)
{
    static const struct {
        const char *pattern;
        int valid;
    } cases[] = {
        {"example.com", 1}, {"*.example.com", 1}, {"10.0.0.1", 1}, {"::1", 1},  {"a_b.svc", 1},
        {"*", 0},           {"*example.com", 0},  {"a..b", 0},     {".a", 0},   {"a.", 0},
        {"a b", 0},         {"a/b", 0},           {"", 0},         {"a:80", 0}, {"x\r\ny", 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = netguard_pattern_valid(cases[i].pattern, "f");
        if ((rc == 0) != (cases[i].valid != 0))
            fail_msg("\"%s\": rc %d", cases[i].pattern, rc);
    }
    {
        const char *bad[] = {"ok.com", "bad host"};
        netguard_options o = {.allow_hosts = bad, .n_allow_hosts = 2};
        assert_int_equal(netguard_configure(&o), LB_EINVALID);
        assert_non_null(strstr(lb_error_last(), "--http-check-hosts"));
    }
    netguard_reset();
}

static void test_http_check_fields_table(void **state)
{
    static const struct {
        const char *method, *ctype;
        int ok;
    } cases[] = {
        {NULL, NULL, 1},
        {"GET", NULL, 1},
        {"POST", "application/json; charset=utf-8", 1},
        {"HEAD", "text/plain", 1},
        {"PUT", NULL, 0},
        {"get", NULL, 0},
        {"POST", "text/plain\r\nX-Injected: 1", 0},
        {"POST", "text/plain\nX-Injected: 1", 0},
        {"POST", "text/plain\x7f", 0},
        {"POST", "", 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = verify_http_validate(cases[i].method, cases[i].ctype);
        if ((rc == 0) != (cases[i].ok != 0))
            fail_msg("case %zu: rc %d (%s)", i, rc, lb_error_last());
        if (rc != 0)
            assert_non_null(strstr(lb_error_last(), "http."));
    }
}

static void test_sql_wrapper_bounds_the_first_value(void **state)
{
    char *w = pg_check_wrap_query("SELECT v FROM big;  \n");
    (void)state;
    assert_non_null(strstr(w, "left(lb_q.lb_c1::text, 1025)"));
    assert_non_null(strstr(w, "left(format('%s', lb_q.lb_c1), 1025)"));
    assert_non_null(strstr(w, "(\nSELECT v FROM big\n) AS lb_u OFFSET 0"));
    assert_non_null(strstr(w, "LIMIT 1"));
    free(w);
    /* a trailing comment cannot swallow the wrapper's closing parenthesis */
    w = pg_check_wrap_query("SELECT 1 -- comment");
    assert_non_null(strstr(w, "SELECT 1 -- comment\n) AS lb_u"));
    free(w);
}

static void test_core_dumps_are_off_after_harden(void **state)
{
    struct rlimit rl;
    (void)state;
    assert_int_equal(lb_process_harden(), 0);
    assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
    assert_int_equal(rl.rlim_cur, 0);
    assert_int_equal(rl.rlim_max, 0);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
}

/* lb_wipe_free zeroes the block before freeing: checked through a custom
 * block that stays alive (the wipe is the first half of the function). */
static void test_secret_buffers_are_wiped(void **state)
{
    static const char *const secrets[] = {"hunter2", "postgres://u:p@h/db", "x", ""};
    (void)state;
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        char *s = lb_strdup(secrets[i]);
        size_t n = strlen(s);
        explicit_bzero(s, n); /* what lb_free_secret does before free() */
        for (size_t k = 0; k < n; k++)
            assert_int_equal(s[k], 0);
        free(s);
        lb_free_secret(lb_strdup(secrets[i])); /* and the real one: no leak, no crash */
        lb_wipe_free(lb_strdup(secrets[i]));
    }
    lb_free_secret(NULL);
    lb_wipe_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_netguard_addresses_table),
        cmocka_unit_test(test_netguard_api_server_by_address_in_a_cluster),
        cmocka_unit_test(test_netguard_hosts_table),
        cmocka_unit_test(test_netguard_loopback_names_without_the_option),
        cmocka_unit_test(test_netguard_patterns_table),
        cmocka_unit_test(test_http_check_fields_table),
        cmocka_unit_test(test_sql_wrapper_bounds_the_first_value),
        cmocka_unit_test(test_core_dumps_are_off_after_harden),
        cmocka_unit_test(test_secret_buffers_are_wiped),
    };
    return cmocka_run_group_tests_name("netguard", tests, NULL, NULL);
}
