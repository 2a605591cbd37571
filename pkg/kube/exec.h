/* exec.h - run a command in a pod's container (pods/exec) over WebSocket.
 *
 * The operator's own `kubectl exec`, on libwebsockets: no kubectl binary, no
 * temp files. It speaks the API server's remotecommand WebSocket protocol:
 *
 *  - the upgrade offers "v5.channel.k8s.io, v4.channel.k8s.io" and the server
 *    picks one (kube-apiserver >= 1.30 and kubesim pick v5; a kubelet reached
 *    without the API server's stream translator answers v4);
 *  - every binary message starts with its channel byte: 0 stdin, 1 stdout,
 *    2 stderr, 3 status (a metav1.Status JSON sent once, at the end), 4 resize;
 *  - v5 only: the client closes stdin with the two bytes ff 00 ("close channel
 *    0"). v4 has no way to end stdin short of closing the connection, so with
 *    v4 a command fed through stdin must know how many bytes to read
 *    (`head -c N`); kube_exec() reports the protocol it got.
 *  - the exit code comes from the status channel: Success is 0; Failure with
 *    reason NonZeroExitCode carries the code in details.causes[reason=ExitCode].
 *
 * TLS uses the kube client's config (CA, client certificate and key in memory,
 * bearer token in the Authorization header, re-read per call as tokens
 * rotate). The server certificate is checked against the CA and the host name
 * (or IP address) of the server URL unless the kubeconfig says
 * insecure-skip-tls-verify.
 *
 * argv travels in the URL's query, and libwebsockets 4.1 builds the request
 * line in a 2048-byte buffer (a longer one is cut, and the server drops the
 * connection), so the path and query are capped at KUBE_EXEC_MAX_URL_BYTES
 * (LB_ETOOBIG); long scripts go through stdin (redis/pod.h does that).
 *
 * Each call opens its own libwebsockets context and connection, so calls from
 * several threads do not share state. A call blocks until the command ends,
 * the deadline passes, or a cap is exceeded.
 */
#ifndef LB_KUBE_EXEC_H
#define LB_KUBE_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "kube/client.h"

#define KUBE_EXEC_MAX_ARGS 64 /* argv entries */
/* path + query: libwebsockets 4.1 writes the request line into 2048 bytes */
#define KUBE_EXEC_MAX_URL_BYTES    2000
#define KUBE_EXEC_MAX_STATUS_BYTES (64u << 10)  /* the status channel's JSON */
#define KUBE_EXEC_DEFAULT_OUTPUT   (1u << 20)   /* stdout/stderr kept when no cap is set */
#define KUBE_EXEC_DEFAULT_STDIN    (1ull << 30) /* stdin bytes sent when no cap is set */
#define KUBE_EXEC_CHUNK_BYTES      (32u << 10)  /* stdin bytes per WebSocket message */
#define KUBE_EXEC_DEFAULT_TIMEOUT  60000        /* ms, when opts->timeout_ms is 0 */
#define KUBE_EXEC_PROTO_V5         "v5.channel.k8s.io"
#define KUBE_EXEC_PROTO_V4         "v4.channel.k8s.io"

/* Fills buf (cap bytes) with the next stdin bytes and sets *n; *n == 0 means
 * end of input. Returns 0, or a negative LB_* code (message set) to abort the
 * call. */
typedef int (*kube_exec_stdin_fn)(size_t *n, unsigned char *buf, size_t cap, void *payload);

/* Receives stdout bytes as they arrive (instead of capturing them). Returns 0,
 * or a negative LB_* code (message set) to abort the call. */
typedef int (*kube_exec_output_fn)(const unsigned char *data, size_t len, void *payload);

typedef struct kube_exec_options {
    const char *namespace;   /* required */
    const char *pod;         /* required */
    const char *container;   /* NULL: the pod's only container */
    const char *const *argv; /* required, argc >= 1 entries */
    size_t argc;
    kube_exec_stdin_fn stdin_fn; /* NULL: no stdin */
    void *stdin_payload;
    uint64_t stdin_max_bytes;      /* 0: KUBE_EXEC_DEFAULT_STDIN; past it: LB_ETOOBIG */
    kube_exec_output_fn stdout_fn; /* NULL: capture into the result */
    void *stdout_payload;
    size_t stdout_max_bytes; /* captured stdout kept (0: KUBE_EXEC_DEFAULT_OUTPUT); the rest
                                is counted and dropped, out_truncated set */
    size_t stderr_max_bytes; /* same for stderr */
    long timeout_ms;         /* the whole call (0: KUBE_EXEC_DEFAULT_TIMEOUT) */
    int offer_v4_only;       /* offer only v4.channel.k8s.io (tests; servers without v5) */
} kube_exec_options;

typedef struct kube_exec_result {
    int exit_code; /* from the status channel; -1 when no status arrived */
    char *out;     /* captured stdout, NUL-terminated (NULL with stdout_fn) */
    size_t out_len;
    uint64_t out_total; /* stdout bytes received, kept or not */
    int out_truncated;  /* stdout passed stdout_max_bytes */
    char *err;          /* captured stderr, NUL-terminated, never NULL after success */
    size_t err_len;
    int err_truncated;
    uint64_t stdin_bytes; /* stdin bytes sent */
    char protocol[32];    /* the subprotocol the server chose */
    char *status_message; /* the status channel's message ("" when Success) */
} kube_exec_result;

/* Runs opts->argv in the pod and waits for it to end. On 0 *out is filled:
 * the command ran to its end and out->exit_code says how it ended (a non-zero
 * exit code is not an error of this call). Errors: LB_EINVALID for bad
 * options, the kube_status_error() mapping of a refused upgrade (404 pod not
 * found, 400 container not running, ...), LB_ETIMEOUT when the deadline
 * passed (the connection is closed, which stops the command on a real
 * kubelet), LB_ETOOBIG when stdin passed its cap, LB_ERROR for a connection
 * or protocol failure; *out is then disposed. Release *out with
 * kube_exec_result_dispose(). */
int kube_exec(kube_exec_result *out, kube_client *c, const kube_exec_options *opts);

/* Releases what kube_exec() filled; out may be NULL. */
void kube_exec_result_dispose(kube_exec_result *out);

/* Reads the exit code out of a status-channel Status JSON (len bytes): 0 for
 * Success, the ExitCode cause for NonZeroExitCode. Returns 0 and *out_code,
 * or LB_ERROR with the Status message (another failure) or a parse error.
 * *out_message (may be NULL) receives a copy of the message. Exposed for tests. */
int kube_exec_parse_status(int *out_code, char **out_message, const char *json, size_t len);

#endif
