/* kube_exec - drives pkg/kube/exec.h against a live API server for the e2e
 * suite e2e/redis/tests (the operator's own `kubectl exec`).
 *
 *   kube_exec [--kubeconfig P] [--container C] [--stdin FILE] [--stdin-max N]
 *             [--out-max N] [--err-max N] [--timeout MS] [--sha256] [--v4] NS POD -- CMD ARGS...
 *
 * Prints one JSON line: {"exit": code, "protocol": "...", "stdout": "...", "stdoutBytes": n,
 * "stdoutTruncated": b, "stdoutSha256": "hex" (with --sha256, stdout streamed through a
 * callback instead of captured), "stderr": "...", "stdinBytes": n}.
 * On failure: "error: LB_NAME: message" on stderr and exit status 10 - code
 * (LB_ERROR 11, LB_ENOTFOUND 12, LB_EINVALID 16, LB_ETOOBIG 17, LB_ETIMEOUT 18).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "kube/client.h"
#include "kube/config.h"
#include "kube/exec.h"
#include "util/error.h"

static int fail(int code)
{
    fprintf(stderr, "error: %s: %s\n", lb_error_name(code), lb_error_last());
    return 10 - code;
}

static int read_file(size_t *n, unsigned char *buf, size_t cap, void *payload)
{
    FILE *f = payload;
    *n = fread(buf, 1, cap, f);
    if (*n == 0 && ferror(f))
        return lb_error_set("reading stdin file failed");
    return 0;
}

static int hash_out(const unsigned char *data, size_t len, void *payload)
{
    return EVP_DigestUpdate(payload, data, len) == 1 ? 0 : lb_error_set("sha256 failed");
}

int main(int argc, char **argv)
{
    const char *kubeconfig = getenv("KUBECONFIG"), *container = NULL, *stdin_path = NULL;
    const char *pos[2];
    int n_pos = 0, i, rc, sha = 0;
    kube_exec_options o;
    kube_exec_result r;
    kube_config *cfg = NULL;
    kube_client *c = NULL;
    FILE *in = NULL;
    EVP_MD_CTX *md = NULL;
    json_t *j;
    char *s;

    memset(&o, 0, sizeof(o));
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--sha256") == 0)
            sha = 1;
        else if (strcmp(argv[i], "--v4") == 0)
            o.offer_v4_only = 1;
        else if (i + 1 < argc && strcmp(argv[i], "--kubeconfig") == 0)
            kubeconfig = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--container") == 0)
            container = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--stdin") == 0)
            stdin_path = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--stdin-max") == 0)
            o.stdin_max_bytes = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--out-max") == 0)
            o.stdout_max_bytes = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--err-max") == 0)
            o.stderr_max_bytes = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--timeout") == 0)
            o.timeout_ms = strtol(argv[++i], NULL, 10);
        else if (n_pos < 2)
            pos[n_pos++] = argv[i];
        else
            break;
    }
    if (n_pos != 2 || i >= argc || kubeconfig == NULL) {
        fprintf(stderr, "usage: kube_exec [options] NS POD -- CMD ARGS...\n");
        return 2;
    }
    rc = kube_config_load_path_list(&cfg, kubeconfig, NULL);
    if (rc == 0)
        rc = kube_client_new(&c, cfg, NULL);
    if (rc != 0)
        return fail(rc);
    o.namespace = pos[0];
    o.pod = pos[1];
    o.container = container;
    o.argv = (const char *const *)&argv[i];
    o.argc = (size_t)(argc - i);
    if (stdin_path != NULL) {
        in = fopen(stdin_path, "rb");
        if (in == NULL) {
            perror(stdin_path);
            return 2;
        }
        o.stdin_fn = read_file;
        o.stdin_payload = in;
    }
    if (sha) {
        md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        o.stdout_fn = hash_out;
        o.stdout_payload = md;
    }
    rc = kube_exec(&r, c, &o);
    if (in != NULL)
        fclose(in);
    if (rc != 0) {
        EVP_MD_CTX_free(md);
        kube_client_free(c);
        kube_config_free(cfg);
        return fail(rc);
    }
    j = json_pack("{s:i, s:s, s:s#, s:I, s:b, s:s#, s:b, s:I}", "exit", r.exit_code, "protocol",
                  r.protocol, "stdout", r.out ? r.out : "", r.out ? r.out_len : 0, "stdoutBytes",
                  (json_int_t)r.out_total, "stdoutTruncated", r.out_truncated, "stderr", r.err,
                  r.err_len, "stderrTruncated", r.err_truncated, "stdinBytes",
                  (json_int_t)r.stdin_bytes);
    if (j == NULL) /* not UTF-8: report lengths only */
        j = json_pack("{s:i, s:s, s:I, s:I}", "exit", r.exit_code, "protocol", r.protocol,
                      "stdoutBytes", (json_int_t)r.out_total, "stdinBytes",
                      (json_int_t)r.stdin_bytes);
    if (md != NULL) {
        unsigned char d[32];
        char hex[65];
        unsigned int dl = 0;
        EVP_DigestFinal_ex(md, d, &dl);
        for (unsigned int k = 0; k < dl; k++)
            snprintf(hex + 2 * k, 3, "%02x", d[k]);
        json_object_set_new(j, "stdoutSha256", json_string(hex));
        EVP_MD_CTX_free(md);
    }
    s = json_dumps(j, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(j);
    kube_exec_result_dispose(&r);
    kube_client_free(c);
    kube_config_free(cfg);
    return 0;
}
