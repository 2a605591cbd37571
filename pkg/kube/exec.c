/* exec.c - pods/exec over WebSocket with libwebsockets (see exec.h). */
#include "kube/exec.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "kube/internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

#define EXEC_MAX_HOST_BYTES 256
#define EXEC_RX_BUFFER      (64u << 10)
#define EXEC_SERVICE_MS     50

enum { CH_STDIN = 0, CH_STDOUT = 1, CH_STDERR = 2, CH_STATUS = 3 };

typedef struct exec_call {
    lws_sorted_usec_list_t tick; /* wakes the service loop so the deadline is checked */
    struct lws_context *ctx;
    const kube_exec_options *opts;
    kube_exec_result *res;
    char host[EXEC_MAX_HOST_BYTES];
    int port;
    int verify;
    char *auth; /* "Bearer <token>" or NULL; wiped when freed */
    lb_buf out, err, status;
    uint64_t stdin_max;
    int stdin_open;
    int stdin_close_pending; /* v5: ff 00 still to send */
    int at_msg_start;        /* the next received bytes begin a message (channel byte) */
    int channel;             /* channel of the message being received */
    int established;
    int finished;         /* the connection closed or failed */
    int result;           /* first error, 0 when none */
    unsigned char *chunk; /* LWS_PRE + 1 + KUBE_EXEC_CHUNK_BYTES */
} exec_call;

/* ---- libwebsockets log lines go to our log ------------------------------------------- */

static void exec_log_emit(int level, const char *line)
{
    char msg[512];
    size_t n = strnlen(line, sizeof(msg) - 1);
    memcpy(msg, line, n);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        n--;
    msg[n] = '\0';
    if (level & LLL_ERR)
        LB_LOG_ERROR("libwebsockets", "component", "exec", "detail", msg);
    else
        LB_LOG_WARN("libwebsockets", "component", "exec", "detail", msg);
}

static pthread_once_t exec_log_once = PTHREAD_ONCE_INIT;

static void exec_log_setup(void)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, exec_log_emit);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    exec_call *x = lws_container_of(sul, exec_call, tick);
    if (!x->finished)
        lws_sul_schedule(x->ctx, 0, &x->tick, on_tick, EXEC_SERVICE_MS * LWS_US_PER_MS);
}

static void fail(exec_call *x, int code)
{
    if (x->result == 0)
        x->result = code;
}

/* ---- the status channel ---------------------------------------------------------------- */

int kube_exec_parse_status(int *out_code, char **out_message, const char *json, size_t len)
{
    json_error_t jerr;
    json_t *st = json_loadb(json, len, 0, &jerr);
    const char *status, *reason, *message;
    int result = 0;

    *out_code = -1;
    if (out_message != NULL)
        *out_message = NULL;
    if (!json_is_object(st)) {
        result = lb_error_set("exec: status channel: not a JSON object (%s)", jerr.text);
        goto done;
    }
    status = json_string_value(json_object_get(st, "status"));
    reason = json_string_value(json_object_get(st, "reason"));
    message = json_string_value(json_object_get(st, "message"));
    if (out_message != NULL)
        *out_message = lb_strdup(message ? message : "");
    if (status != NULL && strcmp(status, "Success") == 0) {
        *out_code = 0;
        goto done;
    }
    if (reason != NULL && strcmp(reason, "NonZeroExitCode") == 0) {
        const json_t *causes = json_object_get(json_object_get(st, "details"), "causes");
        size_t i;
        const json_t *c;
        json_array_foreach(causes, i, c)
        {
            const char *r = json_string_value(json_object_get(c, "reason"));
            const char *m = json_string_value(json_object_get(c, "message"));
            char *end = NULL;
            long v;
            if (r == NULL || strcmp(r, "ExitCode") != 0 || m == NULL)
                continue;
            v = strtol(m, &end, 10);
            if (end == m || *end != '\0' || v < 0 || v > 255)
                break;
            *out_code = (int)v;
            goto done;
        }
        result = lb_error_set("exec: status channel: NonZeroExitCode without an ExitCode cause");
        goto done;
    }
    result = lb_error_set("exec: %s%s%s", reason ? reason : "Failure", message ? ": " : "",
                          message ? message : "");
done:
    if (result != 0 && out_message != NULL) {
        free(*out_message);
        *out_message = NULL;
    }
    json_decref(st);
    return result;
}

/* ---- receiving ----------------------------------------------------------------------- */

static int take_output(exec_call *x, int channel, const unsigned char *p, size_t n)
{
    if (n == 0)
        return 0;
    switch (channel) {
    case CH_STDOUT:
        x->res->out_total += n;
        if (x->opts->stdout_fn != NULL) {
            int rc = x->opts->stdout_fn(p, n, x->opts->stdout_payload);
            if (rc != 0) {
                fail(x, rc);
                return -1;
            }
            return 0;
        }
        if (!x->res->out_truncated && buf_append(&x->out, p, n) != 0) {
            size_t room = x->out.max - buf_len(&x->out);
            buf_append(&x->out, p, room);
            x->res->out_truncated = 1;
        }
        return 0;
    case CH_STDERR:
        if (!x->res->err_truncated && buf_append(&x->err, p, n) != 0) {
            size_t room = x->err.max - buf_len(&x->err);
            buf_append(&x->err, p, room);
            x->res->err_truncated = 1;
        }
        return 0;
    case CH_STATUS:
        if (buf_append(&x->status, p, n) != 0) {
            lb_error_setc(LB_ETOOBIG,
                          "exec: status channel longer than KUBE_EXEC_MAX_STATUS_BYTES");
            fail(x, LB_ETOOBIG);
            return -1;
        }
        return 0;
    default:
        return 0; /* resize echoes and unknown channels are ignored */
    }
}

static int on_receive(exec_call *x, struct lws *wsi, const unsigned char *p, size_t n)
{
    if (x->at_msg_start) {
        if (n == 0)
            return 0;
        x->channel = p[0];
        p++;
        n--;
    }
    x->at_msg_start = lws_is_final_fragment(wsi);
    return take_output(x, x->channel, p, n);
}

/* ---- sending stdin ------------------------------------------------------------------- */

static int on_writeable(exec_call *x, struct lws *wsi)
{
    unsigned char *msg = x->chunk + LWS_PRE;
    size_t n = 0;
    int rc;

    if (x->stdin_close_pending) {
        msg[0] = 0xff;
        msg[1] = CH_STDIN;
        x->stdin_close_pending = 0;
        if (lws_write(wsi, msg, 2, LWS_WRITE_BINARY) < 2) {
            fail(x, lb_error_set("exec: writing the stdin close failed"));
            return -1;
        }
        return 0;
    }
    if (!x->stdin_open)
        return 0;
    rc = x->opts->stdin_fn(&n, msg + 1, KUBE_EXEC_CHUNK_BYTES, x->opts->stdin_payload);
    if (rc != 0) {
        fail(x, rc);
        return -1;
    }
    if (n > KUBE_EXEC_CHUNK_BYTES) {
        fail(x, lb_error_setc(LB_EINVALID, "exec: stdin callback returned more than it was given"));
        return -1;
    }
    if (n == 0) {
        x->stdin_open = 0;
        if (strcmp(x->res->protocol, KUBE_EXEC_PROTO_V5) == 0) {
            x->stdin_close_pending = 1;
            lws_callback_on_writable(wsi);
        }
        return 0;
    }
    if (x->res->stdin_bytes + n > x->stdin_max) {
        fail(x, lb_error_setc(LB_ETOOBIG, "exec: stdin longer than its cap (%llu bytes)",
                              (unsigned long long)x->stdin_max));
        return -1;
    }
    msg[0] = CH_STDIN;
    if (lws_write(wsi, msg, n + 1, LWS_WRITE_BINARY) < (int)(n + 1)) {
        fail(x, lb_error_set("exec: writing stdin failed"));
        return -1;
    }
    x->res->stdin_bytes += n;
    lws_callback_on_writable(wsi);
    return 0;
}

/* ---- TLS: the server certificate's name ---------------------------------------------- */

static int check_peer_name(exec_call *x, X509_STORE_CTX *store, int preverify_ok)
{
    X509 *cert;
    unsigned char ip[16];
    int r;

    if (!preverify_ok)
        return 1;
    if (X509_STORE_CTX_get_error_depth(store) != 0)
        return 0;
    cert = X509_STORE_CTX_get_current_cert(store);
    if (cert == NULL)
        return 1;
    if (inet_pton(AF_INET, x->host, ip) == 1 || inet_pton(AF_INET6, x->host, ip) == 1)
        r = X509_check_ip_asc(cert, x->host, 0);
    else
        r = X509_check_host(cert, x->host, 0, 0, NULL);
    if (r != 1) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_HOSTNAME_MISMATCH);
        return 1;
    }
    return 0;
}

/* ---- the callback -------------------------------------------------------------------- */

static int exec_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    struct lws_context *ctx = wsi ? lws_get_context(wsi) : NULL;
    exec_call *x = ctx ? lws_context_user(ctx) : NULL;
    (void)user;

    if (x == NULL)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
        return x->verify ? check_peer_name(x, (X509_STORE_CTX *)user, (int)len) : 0;
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in;
        unsigned char *end = *p + len;
        if (x->auth != NULL && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                                            (const unsigned char *)x->auth,
                                                            (int)strlen(x->auth), p, end) != 0)
            return -1;
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
        /* lws binds the protocol the server chose (both are registered under their names) */
        const struct lws_protocols *pr = lws_get_protocol(wsi);
        const char *proto = pr != NULL && pr->name != NULL ? pr->name : "";
        snprintf(x->res->protocol, sizeof(x->res->protocol), "%s", proto);
        if (strcmp(proto, KUBE_EXEC_PROTO_V5) != 0 && strcmp(proto, KUBE_EXEC_PROTO_V4) != 0) {
            fail(x, lb_error_set("exec: the server chose subprotocol \"%s\", not %s or %s", proto,
                                 KUBE_EXEC_PROTO_V5, KUBE_EXEC_PROTO_V4));
            return -1;
        }
        x->established = 1;
        if (x->stdin_open)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(x, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writeable(x, wsi);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        unsigned int status = lws_http_client_http_response(wsi);
        const char *why = in ? (const char *)in : "connection failed";
        if (status == 404)
            fail(x, lb_error_setc(LB_ENOTFOUND, "exec: pod %s/%s: 404 (%s)", x->opts->namespace,
                                  x->opts->pod, why));
        else if (status == 400)
            fail(x, lb_error_setc(LB_EINVALID,
                                  "exec: pod %s/%s: 400 (the container is not running, or the "
                                  "request was refused: %s)",
                                  x->opts->namespace, x->opts->pod, why));
        else if (status == 401 || status == 403)
            fail(x, lb_error_set("exec: pod %s/%s: %u (not authorised to create pods/exec)",
                                 x->opts->namespace, x->opts->pod, status));
        else
            fail(x, lb_error_set("exec: pod %s/%s: %s", x->opts->namespace, x->opts->pod, why));
        x->finished = 1;
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
    case LWS_CALLBACK_WSI_DESTROY:
        x->finished = 1;
        return 0;
    default:
        return 0;
    }
}

/* ---- the call ------------------------------------------------------------------------ */

static int parse_server(exec_call *x, const char *server, int *tls)
{
    const char *p = server, *host_end, *port_at = NULL;
    size_t hl;

    if (strncmp(p, "https://", 8) == 0) {
        *tls = 1;
        p += 8;
    } else if (strncmp(p, "http://", 7) == 0) {
        *tls = 0;
        p += 7;
    } else {
        return lb_error_setc(LB_EINVALID, "exec: server \"%s\": not an http(s) URL", server);
    }
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (host_end == NULL)
            return lb_error_setc(LB_EINVALID, "exec: server \"%s\": unclosed [", server);
        p++;
        hl = (size_t)(host_end - p);
        if (host_end[1] == ':')
            port_at = host_end + 2;
    } else {
        host_end = p + strcspn(p, ":/");
        hl = (size_t)(host_end - p);
        if (*host_end == ':')
            port_at = host_end + 1;
    }
    if (hl == 0 || hl >= sizeof(x->host))
        return lb_error_setc(LB_EINVALID, "exec: server \"%s\": bad host", server);
    memcpy(x->host, p, hl);
    x->host[hl] = '\0';
    x->port = *tls ? 443 : 80;
    if (port_at != NULL) {
        char *end = NULL;
        long v = strtol(port_at, &end, 10);
        if (end == port_at || v <= 0 || v > 65535 || (*end != '\0' && *end != '/'))
            return lb_error_setc(LB_EINVALID, "exec: server \"%s\": bad port", server);
        x->port = (int)v;
    }
    return 0;
}

static int build_path(char **out, const kube_exec_options *o)
{
    kube_ref ref = {"", "v1", "pods", o->namespace, o->pod, "exec"};
    char *path = NULL;
    lb_buf q;
    int result;

    *out = NULL;
    buf_init(&q, KUBE_EXEC_MAX_URL_BYTES);
    result = kube_ref_path(&path, &ref);
    if (result != 0)
        goto done;
    for (size_t i = 0; i < o->argc && result == 0; i++)
        result = kube__query_add(&q, "command", o->argv[i]);
    if (result == 0 && o->container != NULL)
        result = kube__query_add(&q, "container", o->container);
    if (result == 0 && o->stdin_fn != NULL)
        result = kube__query_add(&q, "stdin", "true");
    if (result == 0)
        result = kube__query_add(&q, "stdout", "true");
    if (result == 0)
        result = kube__query_add(&q, "stderr", "true");
    if (result != 0 || strlen(path) + buf_len(&q) + 2 > KUBE_EXEC_MAX_URL_BYTES) {
        result =
            lb_error_setc(LB_ETOOBIG, "exec: command line longer than KUBE_EXEC_MAX_URL_BYTES");
        goto done;
    }
    *out = lb_sprintf("%s?%s", path, buf_cstr(&q));
done:
    free(path);
    buf_dispose(&q);
    return result;
}

static int check_options(const kube_exec_options *o)
{
    if (o == NULL || o->namespace == NULL || o->namespace[0] == '\0')
        return lb_error_setc(LB_EINVALID, "exec: namespace is required");
    if (o->pod == NULL || o->pod[0] == '\0')
        return lb_error_setc(LB_EINVALID, "exec: pod is required");
    if (o->argv == NULL || o->argc == 0)
        return lb_error_setc(LB_EINVALID, "exec: argv: at least one argument is required");
    if (o->argc > KUBE_EXEC_MAX_ARGS)
        return lb_error_setc(LB_EINVALID, "exec: argv: more than KUBE_EXEC_MAX_ARGS (%d) entries",
                             KUBE_EXEC_MAX_ARGS);
    for (size_t i = 0; i < o->argc; i++)
        if (o->argv[i] == NULL)
            return lb_error_setc(LB_EINVALID, "exec: argv[%zu] is NULL", i);
    return 0;
}

void kube_exec_result_dispose(kube_exec_result *out)
{
    if (out == NULL)
        return;
    free(out->out);
    free(out->err);
    free(out->status_message);
    memset(out, 0, sizeof(*out));
    out->exit_code = -1;
}

int kube_exec(kube_exec_result *out, kube_client *c, const kube_exec_options *opts)
{
    exec_call x;
    kube_credentials creds;
    struct lws_protocols protocols[3];
    struct lws_context_creation_info ci;
    struct lws_client_connect_info cc;
    struct lws_context *ctx = NULL;
    kube_config *cfg = kube_client_config(c);
    const unsigned char *ca;
    size_t ca_len = 0;
    char *path = NULL;
    int tls = 1, result;
    double deadline;

    memset(out, 0, sizeof(*out));
    out->exit_code = -1;
    if (opts == NULL)
        return lb_error_setc(LB_EINVALID, "exec: options are required");
    memset(&x, 0, sizeof(x));
    memset(&creds, 0, sizeof(creds));
    buf_init(&x.out, opts->stdout_max_bytes ? opts->stdout_max_bytes : KUBE_EXEC_DEFAULT_OUTPUT);
    buf_init(&x.err, opts->stderr_max_bytes ? opts->stderr_max_bytes : KUBE_EXEC_DEFAULT_OUTPUT);
    buf_init(&x.status, KUBE_EXEC_MAX_STATUS_BYTES);
    result = check_options(opts);
    if (result != 0)
        goto done;
    x.opts = opts;
    x.res = out;
    x.stdin_open = opts->stdin_fn != NULL;
    x.stdin_max = opts->stdin_max_bytes ? opts->stdin_max_bytes : KUBE_EXEC_DEFAULT_STDIN;
    x.at_msg_start = 1;
    x.verify = !kube_config_insecure(cfg);
    x.chunk = lb_malloc(LWS_PRE + 1 + KUBE_EXEC_CHUNK_BYTES);
    result = parse_server(&x, kube_config_server(cfg), &tls);
    if (result == 0)
        result = build_path(&path, opts);
    if (result == 0)
        result = kube_config_credentials(&creds, cfg);
    if (result != 0)
        goto done;
    if (creds.token != NULL)
        x.auth = lb_sprintf("Bearer %s", creds.token);

    pthread_once(&exec_log_once, exec_log_setup);
    memset(protocols, 0, sizeof(protocols));
    protocols[0].name = KUBE_EXEC_PROTO_V5;
    protocols[0].callback = exec_callback;
    protocols[0].rx_buffer_size = EXEC_RX_BUFFER;
    protocols[1] = protocols[0];
    protocols[1].name = KUBE_EXEC_PROTO_V4;

    memset(&ci, 0, sizeof(ci));
    ci.port = CONTEXT_PORT_NO_LISTEN;
    ci.protocols = protocols;
    ci.user = &x;
    ci.gid = -1;
    ci.uid = -1;
    ci.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    ca = kube_config_ca(cfg, &ca_len);
    if (tls && ca != NULL) {
        ci.client_ssl_ca_mem = ca;
        ci.client_ssl_ca_mem_len = (unsigned int)ca_len;
    }
    if (tls && creds.cert != NULL && creds.key != NULL) {
        ci.client_ssl_cert_mem = creds.cert;
        ci.client_ssl_cert_mem_len = (unsigned int)creds.cert_len;
        ci.client_ssl_key_mem = creds.key;
        ci.client_ssl_key_mem_len = (unsigned int)creds.key_len;
    }
    ctx = lws_create_context(&ci);
    if (ctx == NULL) {
        result =
            lb_error_set("exec: libwebsockets: cannot create a client context (TLS material?)");
        goto done;
    }

    x.ctx = ctx;
    lws_sul_schedule(ctx, 0, &x.tick, on_tick, EXEC_SERVICE_MS * LWS_US_PER_MS);

    memset(&cc, 0, sizeof(cc));
    cc.context = ctx;
    cc.address = x.host;
    cc.port = x.port;
    cc.path = path;
    cc.host = x.host;
    cc.origin = x.host;
    cc.protocol =
        opts->offer_v4_only ? KUBE_EXEC_PROTO_V4 : KUBE_EXEC_PROTO_V5 "," KUBE_EXEC_PROTO_V4;
    cc.ietf_version_or_minus_one = -1;
    if (tls) {
        /* The name check is ours (check_peer_name): lws compares names only, not IP SANs. */
        cc.ssl_connection = LCCSCF_USE_SSL | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
        if (!x.verify)
            cc.ssl_connection |=
                LCCSCF_ALLOW_SELFSIGNED | LCCSCF_ALLOW_INSECURE | LCCSCF_ALLOW_EXPIRED;
    }
    deadline =
        now_ms() + (double)(opts->timeout_ms > 0 ? opts->timeout_ms : KUBE_EXEC_DEFAULT_TIMEOUT);
    if (lws_client_connect_via_info(&cc) == NULL) {
        result = lb_error_set("exec: cannot connect to %s:%d", x.host, x.port);
        goto done;
    }
    while (!x.finished && x.result == 0) {
        if (now_ms() >= deadline) {
            x.result = lb_error_setc(LB_ETIMEOUT, "exec: %s in pod %s/%s did not end within %ld ms",
                                     opts->argv[0], opts->namespace, opts->pod,
                                     opts->timeout_ms > 0 ? opts->timeout_ms
                                                          : (long)KUBE_EXEC_DEFAULT_TIMEOUT);
            break;
        }
        if (lws_service(ctx, EXEC_SERVICE_MS) < 0)
            break;
    }
    result = x.result;
    if (result != 0)
        goto done;
    if (!x.established) {
        result = lb_error_set("exec: pod %s/%s: the connection closed before the upgrade",
                              opts->namespace, opts->pod);
        goto done;
    }
    if (buf_len(&x.status) == 0) {
        result = lb_error_set("exec: pod %s/%s: the connection closed without a status "
                              "(the command's end is unknown)",
                              opts->namespace, opts->pod);
        goto done;
    }
    result = kube_exec_parse_status(&out->exit_code, &out->status_message, buf_cstr(&x.status),
                                    buf_len(&x.status));
    if (result != 0)
        goto done;
    if (opts->stdout_fn == NULL)
        out->out = buf_detach(&x.out, &out->out_len);
    out->err = buf_detach(&x.err, &out->err_len);
done:
    if (ctx != NULL)
        lws_context_destroy(ctx);
    if (x.auth != NULL) {
        OPENSSL_cleanse(x.auth, strlen(x.auth));
        free(x.auth);
    }
    kube_credentials_dispose(&creds);
    free(x.chunk);
    free(path);
    buf_dispose(&x.out);
    buf_dispose(&x.err);
    buf_dispose(&x.status);
    if (result != 0) {
        kube_exec_result_dispose(out);
        return result;
    }
    return 0;
}
