/* config.h - where the API server is and how to authenticate to it.
 *
 * Two sources, as client-go has them:
 *  - kubeconfig files (KUBECONFIG, several ':'-separated files merged the way
 *    kubectl merges them: the first file to define a named cluster, user or
 *    context wins; current-context comes from the first file that sets it;
 *    files that do not exist are skipped);
 *  - in-cluster: KUBERNETES_SERVICE_HOST/PORT, the service-account token
 *    (re-read when the file changes, as projected tokens rotate) and CA.
 *
 * TLS material (CA, client certificate and key) is held in memory and handed
 * to libcurl as blobs; it is never written to a file. Credentials may change
 * while a program runs (token files rotate, exec plugins' tokens expire), so
 * they are fetched per request with kube_config_credentials().
 *
 * A kube_config is safe to share between threads.
 */
#ifndef LB_KUBE_CONFIG_H
#define LB_KUBE_CONFIG_H

#include <stddef.h>

#define KUBE_CONFIG_MAX_BYTES (4u << 20)  /* one kubeconfig file */
#define KUBE_CONFIG_MAX_FILES 32          /* entries in KUBECONFIG */
#define KUBE_CONFIG_MAX_NODES 100000      /* YAML nodes after alias expansion */
#define KUBE_CONFIG_MAX_DEPTH 64          /* YAML nesting */
#define KUBE_PEM_MAX_BYTES    (1u << 20)  /* a CA bundle, certificate or key file */
#define KUBE_TOKEN_MAX_BYTES  (64u << 10) /* a bearer token file */
#define KUBE_EXEC_MAX_OUTPUT  (1u << 20)  /* stdout of an exec credential plugin */
#define KUBE_EXEC_TIMEOUT_MS  30000       /* an exec plugin must answer within this */
#define KUBE_EXEC_EXPIRY_SKEW 10          /* seconds before expiry a credential is renewed */

typedef struct kube_config kube_config;

/* Where in-cluster configuration is read from. NULL members take the
 * defaults (the environment and /var/run/secrets/kubernetes.io/serviceaccount);
 * tests inject their own. */
typedef struct kube_incluster_paths {
    const char *host;           /* default getenv("KUBERNETES_SERVICE_HOST") */
    const char *port;           /* default getenv("KUBERNETES_SERVICE_PORT") */
    const char *token_file;     /* default .../serviceaccount/token */
    const char *ca_file;        /* default .../serviceaccount/ca.crt */
    const char *namespace_file; /* default .../serviceaccount/namespace */
} kube_incluster_paths;

/* Credentials for one request: copies the caller owns and releases with
 * kube_credentials_dispose(). Members are NULL / 0 when not used. */
typedef struct kube_credentials {
    char *token;         /* bearer token, NUL-terminated */
    unsigned char *cert; /* client certificate, PEM */
    size_t cert_len;
    unsigned char *key; /* client key, PEM */
    size_t key_len;
} kube_credentials;

/* Loads the kubeconfig files in `paths` (n of them, merged in order) and
 * selects `context` (NULL: the merged current-context). Relative file paths
 * inside a file are resolved against that file's folder. On success *out is
 * a new config the caller frees with kube_config_free(). Errors name the file
 * and the field ("users[0].user.client-key-data: not valid base64") and return
 * LB_EINVALID, or LB_ENOTFOUND when no file exists or the context is missing. */
int kube_config_load_files(kube_config **out, const char *const *paths, size_t n,
                           const char *context);

/* Like kube_config_load_files() with the ':'-separated list `kubeconfig`
 * (the KUBECONFIG syntax; empty entries are skipped). */
int kube_config_load_path_list(kube_config **out, const char *kubeconfig, const char *context);

/* In-cluster configuration. The token file must exist; it is re-read whenever
 * its inode, size or modification time changes. Returns LB_ENOTFOUND when the
 * host or port is not set. */
int kube_config_in_cluster(kube_config **out, const kube_incluster_paths *paths);

/* What a program without flags uses: $KUBECONFIG when set, else in-cluster
 * when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config. */
int kube_config_load_default(kube_config **out, const char *context);

/* Frees a config; NULL is accepted. */
void kube_config_free(kube_config *cfg);

/* Borrowed strings, valid for the config's lifetime. */
const char *kube_config_server(const kube_config *cfg);    /* "https://host:port", no trailing / */
const char *kube_config_namespace(const kube_config *cfg); /* the context's, "default" if unset */
const char *kube_config_context(const kube_config *cfg);   /* "" for in-cluster */

/* Non-zero when the server certificate must not be verified. */
int kube_config_insecure(const kube_config *cfg);

/* The CA bundle (PEM) to verify the server with, or NULL (system CAs). Borrowed. */
const unsigned char *kube_config_ca(const kube_config *cfg, size_t *len);

/* Fills *out with the credentials to use now: re-reads a token file that
 * changed, runs the exec plugin when its cached credential is missing or
 * within KUBE_EXEC_EXPIRY_SKEW seconds of expiry. Thread-safe. On failure
 * *out is left empty and the message names the field. */
int kube_config_credentials(kube_credentials *out, kube_config *cfg);

/* Forgets cached exec credentials and token-file contents, so that the next
 * kube_config_credentials() fetches fresh ones (after a 401). */
void kube_config_invalidate(kube_config *cfg);

/* Releases what kube_config_credentials() filled (the key is wiped first). */
void kube_credentials_dispose(kube_credentials *creds);

/* Decodes standard base64 (newlines allowed) with OpenSSL into a new buffer
 * the caller frees. Returns LB_EINVALID without setting a message when the
 * input is not base64; callers name the field. */
int kube_base64_decode(unsigned char **out, size_t *out_len, const char *in, size_t in_len);

#endif
