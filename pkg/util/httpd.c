/* httpd.c - libwebsockets context + vhost, one http protocol, a service thread. */
#include "util/httpd.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"

#define HTTPD_CHUNK_BYTES  16384 /* body bytes per lws_write */
#define HTTPD_HEADER_BYTES 1024  /* status line + our few headers */
#define HTTPD_MAX_FDS      256 /* connections + listener + lws's own; probes and scrapers are few */
#define HTTPD_TIMEOUT_SECS 10  /* a client that stalls mid-request is dropped */

typedef struct route {
    char path[HTTPD_MAX_PATH_BYTES];
    httpd_handler_fn handler;
    void *payload;
} route;

struct httpd {
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    struct lws_protocols protocols[2];
    pthread_t thread;
    atomic_int stopping;
    int port;
    char host[HTTPD_MAX_ADDR_BYTES];
    size_t max_body;
    route routes[HTTPD_MAX_ROUTES];
    size_t n_routes;
};

/* Per-connection state (lws allocates and zeroes it; reused across keep-alive requests). */
typedef struct session {
    lb_buf body;
    size_t sent;
    int close_after; /* the request may carry a body we never read: do not reuse the connection */
} session;

/* ---- libwebsockets log lines go to our log ------------------------------------------- */

static void lws_log_emit(int level, const char *line)
{
    char msg[512];
    size_t n = strnlen(line, sizeof(msg) - 1);
    memcpy(msg, line, n);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        n--;
    msg[n] = '\0';
    if (level & LLL_ERR)
        LB_LOG_ERROR("libwebsockets", "component", "httpd", "detail", msg);
    else
        LB_LOG_WARN("libwebsockets", "component", "httpd", "detail", msg);
}

static pthread_once_t lws_log_once = PTHREAD_ONCE_INIT;

static void lws_log_setup(void)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
}

/* ---- address parsing ----------------------------------------------------------------- */

int httpd_parse_addr(char *out_host, size_t host_size, int *out_port, const char *addr)
{
    const char *colon, *host = addr;
    size_t host_len;
    long port = 0;

    if (addr == NULL || addr[0] == '\0')
        return lb_error_setc(LB_EINVALID, "httpd: addr: must be host:port or :port, got empty");
    if (strnlen(addr, HTTPD_MAX_ADDR_BYTES) >= HTTPD_MAX_ADDR_BYTES)
        return lb_error_setc(LB_EINVALID, "httpd: addr: longer than HTTPD_MAX_ADDR_BYTES (%d)",
                             HTTPD_MAX_ADDR_BYTES);
    colon = strrchr(addr, ':');
    if (colon == NULL)
        return lb_error_setc(LB_EINVALID, "httpd: addr: \"%s\": must be host:port or :port", addr);
    host_len = (size_t)(colon - addr);
    if (host_len >= 2 && addr[0] == '[' && addr[host_len - 1] == ']') {
        host = addr + 1;
        host_len -= 2;
    } else if (memchr(addr, ':', host_len) != NULL) {
        return lb_error_setc(LB_EINVALID,
                             "httpd: addr: \"%s\": an IPv6 host must be in brackets ([::1]:8080)",
                             addr);
    }
    if (colon[1] == '\0')
        return lb_error_setc(LB_EINVALID, "httpd: addr: \"%s\": port is missing", addr);
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9' || port > 65535)
            return lb_error_setc(LB_EINVALID, "httpd: addr: \"%s\": port must be 0..65535", addr);
        port = port * 10 + (*p - '0');
    }
    if (port > 65535)
        return lb_error_setc(LB_EINVALID, "httpd: addr: \"%s\": port must be 0..65535", addr);
    if (host_len >= host_size)
        return lb_error_setc(LB_EINVALID, "httpd: addr: \"%s\": host too long", addr);
    memcpy(out_host, host, host_len);
    out_host[host_len] = '\0';
    *out_port = (int)port;
    return 0;
}

/* lws binds to an interface name or an IP literal; we accept IP literals and "localhost". */
static int check_host(const char *host)
{
    unsigned char sa[sizeof(struct in6_addr)];
    if (host[0] == '\0' || strcmp(host, "localhost") == 0)
        return 0;
    if (inet_pton(AF_INET, host, sa) == 1 || inet_pton(AF_INET6, host, sa) == 1)
        return 0;
    return lb_error_setc(
        LB_EINVALID, "httpd: addr: host \"%s\" must be an IP address, localhost or empty", host);
}

/* ---- request handling (service thread) ----------------------------------------------- */

static const route *find_route(const httpd *h, const char *path, size_t len)
{
    for (size_t i = 0; i < h->n_routes; i++)
        if (strlen(h->routes[i].path) == len && memcmp(h->routes[i].path, path, len) == 0)
            return &h->routes[i];
    return NULL;
}

/* Runs the route's handler into s->body; returns the status to answer with. */
static int run_handler(httpd *h, session *s, const route *r, const char **type)
{
    int status;
    buf_init(&s->body, h->max_body);
    status = r->handler(&s->body, type, r->payload);
    if (status >= 100 && status <= 599)
        return status;
    if (status < 0)
        LB_LOG_ERROR("http handler failed", "component", "httpd", "path", r->path, "error",
                     lb_error_last());
    else
        LB_LOG_ERROR("http handler returned no valid status", "component", "httpd", "path", r->path,
                     "status", LB_LOG_INT(status));
    buf_reset(&s->body);
    *type = HTTPD_DEFAULT_CONTENT_TYPE;
    (void)buf_append_str(&s->body, "internal server error\n");
    return 500;
}

static void set_text(session *s, size_t cap, const char *text)
{
    buf_init(&s->body, cap);
    (void)buf_append_str(&s->body, text);
}

static int on_request(httpd *h, session *s, struct lws *wsi, const char *path, size_t path_len)
{
    unsigned char headers[LWS_PRE + HTTPD_HEADER_BYTES];
    unsigned char *start = headers + LWS_PRE, *p = start, *end = headers + sizeof(headers) - 1;
    const char *type = HTTPD_DEFAULT_CONTENT_TYPE;
    int is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    int is_head = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
    int status;
    const route *r;

    buf_dispose(&s->body);
    s->sent = 0;
    s->close_after = 0;
    if (!is_get && !is_head) {
        s->close_after = 1;
        status = 405;
        set_text(s, h->max_body, "method not allowed\n");
    } else if ((r = find_route(h, path, path_len)) == NULL) {
        status = 404;
        set_text(s, h->max_body, "not found\n");
    } else {
        status = run_handler(h, s, r, &type);
    }

    if (lws_add_http_common_headers(wsi, (unsigned)status, type, buf_len(&s->body), &p, end) != 0)
        return -1;
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end) != 0)
        return -1;
    if (status == 405 &&
        (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ALLOW, (const unsigned char *)"GET, HEAD",
                                      9, &p, end) != 0 ||
         lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                      &p, end) != 0))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end) != 0)
        return -1;
    if (is_head || buf_len(&s->body) == 0) {
        buf_dispose(&s->body);
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    lws_callback_on_writable(wsi);
    return 0;
}

static int on_writeable(session *s, struct lws *wsi)
{
    unsigned char chunk[LWS_PRE + HTTPD_CHUNK_BYTES];
    size_t len = buf_len(&s->body), n = len - s->sent;
    int final;

    if (s->sent >= len)
        return 0; /* nothing of ours pending */
    if (n > HTTPD_CHUNK_BYTES)
        n = HTTPD_CHUNK_BYTES;
    final = s->sent + n == len;
    memcpy(chunk + LWS_PRE, buf_cstr(&s->body) + s->sent, n);
    if (lws_write(wsi, chunk + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
        return -1;
    s->sent += n;
    if (!final) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    buf_dispose(&s->body);
    s->sent = 0;
    if (s->close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    session *s = user;
    httpd *h = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (s == NULL)
            return -1;
        return on_request(h, s, wsi, in != NULL ? (const char *)in : "", in != NULL ? len : 0);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (s == NULL)
            return -1;
        return on_writeable(s, wsi);
    case LWS_CALLBACK_HTTP_BODY:
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return 0; /* a request body (only on 405 requests) is discarded; the answer is already on
                     its way */
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (s != NULL) {
            buf_dispose(&s->body);
            s->sent = 0;
        }
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static void *service_main(void *arg)
{
    httpd *h = arg;
    while (!atomic_load(&h->stopping))
        if (lws_service(h->ctx, 0) < 0)
            break;
    return NULL;
}

static int copy_routes(httpd *h, const httpd_options *opts)
{
    if (opts->n_routes > HTTPD_MAX_ROUTES)
        return lb_error_setc(LB_EINVALID, "httpd: routes: more than HTTPD_MAX_ROUTES (%d)",
                             HTTPD_MAX_ROUTES);
    if (opts->n_routes > 0 && opts->routes == NULL)
        return lb_error_setc(LB_EINVALID, "httpd: routes: NULL with n_routes %zu", opts->n_routes);
    for (size_t i = 0; i < opts->n_routes; i++) {
        const httpd_route *r = &opts->routes[i];
        size_t n;
        if (r->path == NULL || r->path[0] != '/')
            return lb_error_setc(LB_EINVALID, "httpd: routes[%zu].path: must start with '/'", i);
        n = strnlen(r->path, HTTPD_MAX_PATH_BYTES);
        if (n >= HTTPD_MAX_PATH_BYTES)
            return lb_error_setc(LB_EINVALID,
                                 "httpd: routes[%zu].path: longer than HTTPD_MAX_PATH_BYTES (%d)",
                                 i, HTTPD_MAX_PATH_BYTES - 1);
        if (strchr(r->path, '?') != NULL)
            return lb_error_setc(LB_EINVALID, "httpd: routes[%zu].path: must not hold a query", i);
        if (r->handler == NULL)
            return lb_error_setc(LB_EINVALID, "httpd: routes[%zu].handler: must not be NULL", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(h->routes[j].path, r->path) == 0)
                return lb_error_setc(LB_EINVALID, "httpd: routes[%zu].path: \"%s\" already routed",
                                     i, r->path);
        memcpy(h->routes[i].path, r->path, n + 1);
        h->routes[i].handler = r->handler;
        h->routes[i].payload = r->payload;
        h->n_routes = i + 1;
    }
    return 0;
}

int httpd_start(httpd **out, const httpd_options *opts)
{
    struct lws_context_creation_info ci;
    struct lws_context_creation_info vi;
    unsigned char v4[sizeof(struct in_addr)];
    httpd *h = lb_calloc(1, sizeof(*h));
    int result;

    *out = NULL;
    if (opts == NULL) {
        result = lb_error_setc(LB_EINVALID, "httpd: options: must not be NULL");
        goto done;
    }
    result = httpd_parse_addr(h->host, sizeof(h->host), &h->port, opts->addr);
    if (result != 0)
        goto done;
    result = check_host(h->host);
    if (result != 0)
        goto done;
    if (strcmp(h->host, "localhost") == 0)
        memcpy(h->host, "127.0.0.1", sizeof("127.0.0.1"));
    result = copy_routes(h, opts);
    if (result != 0)
        goto done;
    h->max_body = opts->max_body_bytes != 0 ? opts->max_body_bytes : HTTPD_DEFAULT_MAX_BODY_BYTES;

    h->protocols[0].name = "http";
    h->protocols[0].callback = http_callback;
    h->protocols[0].per_session_data_size = sizeof(session);
    /* protocols[1] stays zeroed: the list terminator */

    pthread_once(&lws_log_once, lws_log_setup);

    memset(&ci, 0, sizeof(ci));
    ci.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    ci.fd_limit_per_thread = HTTPD_MAX_FDS;
    ci.port = CONTEXT_PORT_NO_LISTEN;
    ci.user = h;
    h->ctx = lws_create_context(&ci);
    if (h->ctx == NULL) {
        result = lb_error_set("httpd: cannot create the libwebsockets context");
        goto done;
    }

    memset(&vi, 0, sizeof(vi));
    vi.vhost_name = "lifeboat";
    vi.port = h->port;
    vi.iface = h->host[0] != '\0' ? h->host : NULL;
    vi.protocols = h->protocols;
    vi.timeout_secs = HTTPD_TIMEOUT_SECS;
    if (inet_pton(AF_INET, h->host, v4) == 1)
        vi.options |=
            LWS_SERVER_OPTION_DISABLE_IPV6; /* lws would look for it among IPv6 addresses */
    h->vhost = lws_create_vhost(h->ctx, &vi);
    if (h->vhost == NULL) {
        result = lb_error_set("httpd: addr: cannot listen on \"%s\" (in use, or not an address "
                              "of this host)",
                              opts->addr);
        goto done;
    }
    h->port = lws_get_vhost_listen_port(h->vhost);
    if (pthread_create(&h->thread, NULL, service_main, h) != 0) {
        result = lb_error_set("httpd: cannot start the service thread");
        goto done;
    }
    *out = h;
    h = NULL;
    result = 0;
done:
    if (h != NULL) {
        if (h->ctx != NULL)
            lws_context_destroy(h->ctx);
        free(h);
    }
    return result;
}

int httpd_port(const httpd *h)
{
    return h->port;
}

void httpd_stop(httpd *h)
{
    if (h == NULL)
        return;
    atomic_store(&h->stopping, 1);
    lws_cancel_service(h->ctx);
    pthread_join(h->thread, NULL);
    lws_context_destroy(h->ctx);
    free(h);
}
