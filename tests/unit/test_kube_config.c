/* Unit tests for pkg/kube/config: kubeconfig variants, exec plugins, in-cluster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "kube/config.h"
#include "util/alloc.h"
#include "util/error.h"

typedef struct fixture {
    char dir[64];
} fixture;

static int setup(void **state)
{
    fixture *fx = lb_calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_kube_config.XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char *cmd = lb_sprintf("rm -rf '%s'", fx->dir);
    int rc = system(cmd);
    free(cmd);
    free(fx);
    return rc == 0 ? 0 : -1;
}

/* Writes `text` to dir/name and returns the path (caller frees). */
static char *write_file(const fixture *fx, const char *name, const char *text, int mode)
{
    char *path = lb_sprintf("%s/%s", fx->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, (mode_t)mode), 0);
    return path;
}

static char *b64(const char *s)
{
    size_t n = strlen(s);
    unsigned char *out = lb_malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock(out, (const unsigned char *)s, (int)n);
    return (char *)out;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[4096];
    size_t n;
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return lb_strdup(buf);
}

static int load_one(kube_config **out, const char *path)
{
    return kube_config_load_files(out, &path, 1, NULL);
}

static void test_config_single_file_token_ca_namespace(void **state)
{
    fixture *fx = *state;
    char *ca = b64("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n");
    char *text =
        lb_sprintf("apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
                   "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443/\n"
                   "    certificate-authority-data: %s\n"
                   "users:\n- name: u\n  user:\n    token: s3cret\n"
                   "contexts:\n- name: dev\n  context: {cluster: c, user: u, namespace: shop}\n",
                   ca);
    char *path = write_file(fx, "config", text, 0600);
    kube_config *cfg = NULL;
    kube_credentials cr;
    const unsigned char *ca_pem;
    size_t ca_len;

    assert_int_equal(load_one(&cfg, path), 0);
    assert_string_equal(kube_config_server(cfg), "https://127.0.0.1:6443");
    assert_string_equal(kube_config_namespace(cfg), "shop");
    assert_string_equal(kube_config_context(cfg), "dev");
    assert_int_equal(kube_config_insecure(cfg), 0);
    ca_pem = kube_config_ca(cfg, &ca_len);
    assert_non_null(ca_pem);
    assert_int_equal(ca_len,
                     strlen("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"));
    assert_memory_equal(ca_pem, "-----BEGIN CERTIFICATE-----\nCA\n", 31);
    assert_int_equal(kube_config_credentials(&cr, cfg), 0);
    assert_string_equal(cr.token, "s3cret");
    assert_null(cr.cert);
    kube_credentials_dispose(&cr);
    kube_config_free(cfg);
    free(path);
    free(text);
    free(ca);
}

static void test_config_merges_files_first_wins(void **state)
{
    fixture *fx = *state;
    char *a = write_file(fx, "a",
                         "current-context: first\n"
                         "clusters:\n- name: c\n  cluster: {server: 'https://first:1'}\n"
                         "contexts:\n- name: first\n  context: {cluster: c, user: u}\n",
                         0600);
    char *b = write_file(fx, "b",
                         "current-context: second\n"
                         "clusters:\n- name: c\n  cluster: {server: 'https://second:2'}\n"
                         "- name: other\n  cluster: {server: 'https://other:3', "
                         "insecure-skip-tls-verify: true}\n"
                         "users:\n- name: u\n  user: {token: from-b}\n"
                         "contexts:\n- name: first\n  context: {cluster: other}\n"
                         "- name: second\n  context: {cluster: other, user: u}\n",
                         0600);
    char *list = lb_sprintf("%s/missing::%s:%s", fx->dir, a, b);
    kube_config *cfg = NULL;
    kube_credentials cr;

    /* current-context "first" (file a), its context from a, cluster c from a, user u from b */
    assert_int_equal(kube_config_load_path_list(&cfg, list, NULL), 0);
    assert_string_equal(kube_config_context(cfg), "first");
    assert_string_equal(kube_config_server(cfg), "https://first:1");
    assert_string_equal(kube_config_namespace(cfg), "default");
    assert_int_equal(kube_config_credentials(&cr, cfg), 0);
    assert_string_equal(cr.token, "from-b");
    kube_credentials_dispose(&cr);
    kube_config_free(cfg);

    /* an explicit context from the second file */
    assert_int_equal(kube_config_load_path_list(&cfg, list, "second"), 0);
    assert_string_equal(kube_config_server(cfg), "https://other:3");
    assert_int_equal(kube_config_insecure(cfg), 1);
    kube_config_free(cfg);
    free(a);
    free(b);
    free(list);
}

static void test_config_token_file_is_reread_when_it_changes(void **state)
{
    fixture *fx = *state;
    char *tok = write_file(fx, "token", "first-token\n", 0600);
    char *path = write_file(fx, "config",
                            "current-context: x\n"
                            "clusters:\n- name: c\n  cluster: {server: 'https://h:1'}\n"
                            "users:\n- name: u\n  user: {tokenFile: token}\n" /* relative */
                            "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
                            0600);
    kube_config *cfg = NULL;
    kube_credentials cr;

    assert_int_equal(load_one(&cfg, path), 0);
    assert_int_equal(kube_config_credentials(&cr, cfg), 0);
    assert_string_equal(cr.token, "first-token");
    kube_credentials_dispose(&cr);
    free(write_file(fx, "token", "second-token-longer\n", 0600));
    assert_int_equal(kube_config_credentials(&cr, cfg), 0);
    assert_string_equal(cr.token, "second-token-longer");
    kube_credentials_dispose(&cr);
    kube_config_free(cfg);
    free(tok);
    free(path);
}

static void test_config_client_cert_and_key_data(void **state)
{
    fixture *fx = *state;
    char *cert = b64("CERT-PEM");
    char *key = b64("KEY-PEM");
    char *text = lb_sprintf("current-context: x\n"
                            "clusters:\n- name: c\n  cluster: {server: 'https://h:1'}\n"
                            "users:\n- name: u\n  user:\n    client-certificate-data: %s\n"
                            "    client-key-data: %s\n"
                            "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
                            cert, key);
    char *path = write_file(fx, "config", text, 0600);
    kube_config *cfg = NULL;
    kube_credentials cr;

    assert_int_equal(load_one(&cfg, path), 0);
    assert_int_equal(kube_config_credentials(&cr, cfg), 0);
    assert_null(cr.token);
    assert_int_equal(cr.cert_len, 8);
    assert_memory_equal(cr.cert, "CERT-PEM", 8);
    assert_int_equal(cr.key_len, 7);
    assert_memory_equal(cr.key, "KEY-PEM", 7);
    kube_credentials_dispose(&cr);
    kube_config_free(cfg);
    free(path);
    free(text);
    free(cert);
    free(key);
}

static void test_config_bad_base64_names_the_field(void **state)
{
    fixture *fx = *state;
    char *cert = b64("CERT-PEM");
    char *text = lb_sprintf("current-context: x\n"
                            "clusters:\n- name: c\n  cluster: {server: 'https://h:1'}\n"
                            "users:\n- name: u\n  user:\n    client-certificate-data: %s\n"
                            "    client-key-data: 'not*base64!'\n"
                            "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
                            cert);
    char *path = write_file(fx, "config", text, 0600);
    kube_config *cfg = NULL;

    assert_int_equal(load_one(&cfg, path), LB_EINVALID);
    assert_null(cfg);
    assert_non_null(strstr(lb_error_last(), "users[0].user.client-key-data: not valid base64"));
    assert_null(strstr(lb_error_last(), "not*base64")); /* the value is not echoed */
    free(path);
    free(text);
    free(cert);
}

static void test_config_missing_context_and_server_are_named(void **state)
{
    fixture *fx = *state;
    char *p1 = write_file(fx, "c1",
                          "current-context: nope\n"
                          "clusters:\n- name: c\n  cluster: {server: 'https://h:1'}\n"
                          "contexts:\n- name: x\n  context: {cluster: c}\n",
                          0600);
    char *p2 = write_file(fx, "c2",
                          "current-context: x\n"
                          "clusters:\n- name: c\n  cluster: {certificate-authority: ca.crt}\n"
                          "contexts:\n- name: x\n  context: {cluster: c}\n",
                          0600);
    char *p3 = write_file(fx, "c3", "clusters: [\n", 0600);
    kube_config *cfg = NULL;

    assert_int_equal(load_one(&cfg, p1), LB_ENOTFOUND);
    assert_non_null(
        strstr(lb_error_last(), "current-context: contexts: no context named \"nope\""));
    assert_int_equal(load_one(&cfg, p2), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "clusters[0].cluster.server: required"));
    assert_int_equal(load_one(&cfg, p3), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "YAML"));
    assert_null(cfg);
    free(p1);
    free(p2);
    free(p3);
}

static void test_config_insecure_with_ca_is_refused(void **state)
{
    fixture *fx = *state;
    char *ca = b64("CA");
    char *text = lb_sprintf("current-context: x\n"
                            "clusters:\n- name: c\n  cluster: {server: 'https://h:1', "
                            "insecure-skip-tls-verify: true, certificate-authority-data: %s}\n"
                            "contexts:\n- name: x\n  context: {cluster: c}\n",
                            ca);
    char *path = write_file(fx, "config", text, 0600);
    kube_config *cfg = NULL;

    assert_int_equal(load_one(&cfg, path), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "clusters[0].cluster.insecure-skip-tls-verify"));
    free(path);
    free(text);
    free(ca);
}

/* An exec plugin script that counts its runs, records its environment and
 * prints an ExecCredential. */
static char *exec_config(const fixture *fx, const char *api, const char *expiry,
                         const char *extra_script)
{
    char *script_text =
        lb_sprintf("#!/bin/sh\n"
                   "echo run >> '%s/runs'\n"
                   "printf '%%s' \"$KUBERNETES_EXEC_INFO\" > '%s/info'\n"
                   "printf '%%s %%s' \"$PLUGIN_MODE\" \"$1\" > '%s/envarg'\n"
                   "%s"
                   "printf '{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
                   "\"status\":{\"token\":\"tok-%%s\",\"expirationTimestamp\":\"%s\"}}' "
                   "\"$(wc -l < '%s/runs' | tr -d ' ')\"\n",
                   fx->dir, fx->dir, fx->dir, extra_script, api, expiry, fx->dir);
    char *script = write_file(fx, "plugin.sh", script_text, 0700);
    char *cfg_text = lb_sprintf("current-context: x\n"
                                "clusters:\n- name: c\n  cluster: {server: 'https://h:1'}\n"
                                "users:\n- name: u\n  user:\n    exec:\n"
                                "      apiVersion: %s\n      command: ./plugin.sh\n"
                                "      args: [--cluster=demo]\n"
                                "      env: [{name: PLUGIN_MODE, value: eks}]\n"
                                "      interactiveMode: Never\n"
                                "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
                                api);
    char *path = write_file(fx, "config", cfg_text, 0600);
    free(script_text);
    free(script);
    free(cfg_text);
    return path;
}

static void test_config_exec_plugin_token_is_cached_until_expiry(void **state)
{
    fixture *fx = *state;
    char *path = exec_config(fx, "client.authentication.k8s.io/v1", "2999-01-01T00:00:00Z", "");
    char *info_path = lb_sprintf("%s/info", fx->dir);
    char *env_path = lb_sprintf("%s/envarg", fx->dir);
    char *info, *envarg;
    kube_config *cfg = NULL;
    kube_credentials cr;

    assert_int_equal(load_one(&cfg, path), 0);
    assert_int_equal(kube_config_credentials(&cr, cfg), 0);
    assert_string_equal(cr.token, "tok-1");
    kube_credentials_dispose(&cr);
    assert_int_equal(kube_config_credentials(&cr, cfg), 0);
    assert_string_equal(cr.token, "tok-1"); /* cached: the plugin ran once */
    kube_credentials_dispose(&cr);
    info = read_text(info_path);
    assert_non_null(strstr(info, "\"apiVersion\":\"client.authentication.k8s.io/v1\""));
    assert_non_null(strstr(info, "\"kind\":\"ExecCredential\""));
    assert_non_null(strstr(info, "\"interactive\":false"));
    envarg = read_text(env_path);
    assert_string_equal(envarg, "eks --cluster=demo");
    /* after a 401 the client invalidates: the plugin runs again */
    kube_config_invalidate(cfg);
    assert_int_equal(kube_config_credentials(&cr, cfg), 0);
    assert_string_equal(cr.token, "tok-2");
    kube_credentials_dispose(&cr);
    kube_config_free(cfg);
    free(info);
    free(envarg);
    free(info_path);
    free(env_path);
    free(path);
}

static void test_config_exec_plugin_expired_token_runs_again(void **state)
{
    fixture *fx = *state;
    char *path =
        exec_config(fx, "client.authentication.k8s.io/v1beta1", "2001-01-01T00:00:00Z", "");
    kube_config *cfg = NULL;
    kube_credentials cr;

    assert_int_equal(load_one(&cfg, path), 0);
    assert_int_equal(kube_config_credentials(&cr, cfg), 0);
    assert_string_equal(cr.token, "tok-1");
    kube_credentials_dispose(&cr);
    assert_int_equal(kube_config_credentials(&cr, cfg), 0);
    assert_string_equal(cr.token, "tok-2");
    kube_credentials_dispose(&cr);
    kube_config_free(cfg);
    free(path);
}

static void test_config_exec_plugin_failures_name_the_field(void **state)
{
    fixture *fx = *state;
    kube_config *cfg = NULL;
    kube_credentials cr;
    char *path;

    /* non-zero exit */
    path = exec_config(fx, "client.authentication.k8s.io/v1", "2999-01-01T00:00:00Z",
                       "echo plugin-diagnostic-on-stderr >&2; exit 3\n");
    assert_int_equal(load_one(&cfg, path), 0);
    assert_int_equal(kube_config_credentials(&cr, cfg), LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "users[0].user.exec"));
    assert_non_null(strstr(lb_error_last(), "exit status 3"));
    assert_null(cr.token);
    kube_config_free(cfg);
    free(path);

    /* more output than KUBE_EXEC_MAX_OUTPUT */
    path = exec_config(fx, "client.authentication.k8s.io/v1", "2999-01-01T00:00:00Z",
                       "head -c 2000000 /dev/zero | tr '\\0' x; exit 0\n");
    assert_int_equal(load_one(&cfg, path), 0);
    assert_int_equal(kube_config_credentials(&cr, cfg), LB_ETOOBIG);
    assert_non_null(strstr(lb_error_last(), "KUBE_EXEC_MAX_OUTPUT"));
    kube_config_free(cfg);
    free(path);

    /* unsupported apiVersion is refused at load time */
    path = exec_config(fx, "client.authentication.k8s.io/v1alpha1", "x", "");
    assert_int_equal(load_one(&cfg, path), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "users[0].user.exec.apiVersion"));
    free(path);
}

static void test_config_exec_plugin_wrong_output_api_is_refused(void **state)
{
    fixture *fx = *state;
    /* the config asks for v1, the script answers v1beta1 */
    char *path = exec_config(fx, "client.authentication.k8s.io/v1", "2999-01-01T00:00:00Z", "");
    char *script =
        write_file(fx, "plugin.sh",
                   "#!/bin/sh\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
                   "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n",
                   0700);
    kube_config *cfg = NULL;
    kube_credentials cr;

    assert_int_equal(load_one(&cfg, path), 0);
    assert_int_equal(kube_config_credentials(&cr, cfg), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "apiVersion must be client.authentication.k8s.io/v1"));
    kube_config_free(cfg);
    free(script);
    free(path);
}

static void test_config_in_cluster_with_injected_paths(void **state)
{
    fixture *fx = *state;
    char *tok = write_file(fx, "sa-token", "sa-1\n", 0600);
    char *ca = write_file(fx, "sa-ca.crt", "CA-BUNDLE\n", 0600);
    char *ns = write_file(fx, "sa-namespace", "lifeboat-system\n", 0600);
    kube_incluster_paths p = {"10.96.0.1", "443", tok, ca, ns};
    kube_incluster_paths p6 = {"fd00::1", "6443", tok, ca, "/nonexistent/ns"};
    kube_incluster_paths none = {"", "", tok, ca, ns};
    kube_config *cfg = NULL;
    kube_credentials cr;
    const unsigned char *bundle;
    size_t len;

    assert_int_equal(kube_config_in_cluster(&cfg, &p), 0);
    assert_string_equal(kube_config_server(cfg), "https://10.96.0.1:443");
    assert_string_equal(kube_config_namespace(cfg), "lifeboat-system");
    bundle = kube_config_ca(cfg, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(bundle, "CA-BUNDLE\n", 10);
    assert_int_equal(kube_config_credentials(&cr, cfg), 0);
    assert_string_equal(cr.token, "sa-1");
    kube_credentials_dispose(&cr);
    /* the kubelet rotates the projected token */
    free(write_file(fx, "sa-token.new", "sa-2-rotated\n", 0600));
    {
        char *from = lb_sprintf("%s/sa-token.new", fx->dir);
        assert_int_equal(rename(from, tok), 0);
        free(from);
    }
    assert_int_equal(kube_config_credentials(&cr, cfg), 0);
    assert_string_equal(cr.token, "sa-2-rotated");
    kube_credentials_dispose(&cr);
    kube_config_free(cfg);

    assert_int_equal(kube_config_in_cluster(&cfg, &p6), 0);
    assert_string_equal(kube_config_server(cfg), "https://[fd00::1]:6443");
    assert_string_equal(kube_config_namespace(cfg), "default");
    kube_config_free(cfg);

    assert_int_equal(kube_config_in_cluster(&cfg, &none), LB_ENOTFOUND);
    assert_non_null(strstr(lb_error_last(), "KUBERNETES_SERVICE_HOST"));
    free(tok);
    free(ca);
    free(ns);
}

static void test_config_yaml_alias_bomb_is_capped(void **state)
{
    fixture *fx = *state;
    /* 10 levels of 10 aliases: 10^10 nodes if expanded without a cap */
    char text[4096] = "a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n";
    char *path;
    kube_config *cfg = NULL;
    for (int i = 1; i < 10; i++) {
        char line[256];
        snprintf(line, sizeof(line),
                 "a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n", i, i, i - 1,
                 i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
        strcat(text, line);
    }
    path = write_file(fx, "bomb", text, 0600);
    assert_int_equal(load_one(&cfg, path), LB_ETOOBIG);
    assert_non_null(strstr(lb_error_last(), "nodes"));
    free(path);
}

static void test_config_base64_decoder(void **state)
{
    unsigned char *out = NULL;
    size_t len = 0;
    (void)state;
    assert_int_equal(kube_base64_decode(&out, &len, "aGVs\nbG8=", 9), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(out, "hello", 5);
    free(out);
    assert_int_equal(kube_base64_decode(&out, &len, "a$b=", 4), LB_EINVALID);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_single_file_token_ca_namespace, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_merges_files_first_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_token_file_is_reread_when_it_changes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_client_cert_and_key_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_bad_base64_names_the_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_missing_context_and_server_are_named, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_insecure_with_ca_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_exec_plugin_token_is_cached_until_expiry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_exec_plugin_expired_token_runs_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_exec_plugin_failures_name_the_field, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_exec_plugin_wrong_output_api_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_in_cluster_with_injected_paths, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_yaml_alias_bomb_is_capped, setup, teardown),
        cmocka_unit_test(test_config_base64_decoder),
    };
    return cmocka_run_group_tests_name("kube_config", tests, NULL, NULL);
}
