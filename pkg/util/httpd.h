/* httpd.h - the operator's small HTTP server (/healthz, /readyz, /metrics).
 *
 * Built on libwebsockets (one context, one explicit vhost, one http protocol
 * callback): lws does all HTTP parsing and framing. The service loop runs in a
 * thread of its own, started by httpd_start() and joined by httpd_stop().
 *
 *     static int healthz(lb_buf *out_body, const char **out_type, void *payload)
 *     {
 *         (void)out_type; (void)payload;
 *         buf_append_str(out_body, "ok\n");
 *         return 200;
 *     }
 *     httpd_route routes[] = {{"/healthz", healthz, NULL}};
 *     httpd_options o = {.addr = ":8081", .routes = routes, .n_routes = 1};
 *     httpd *h;
 *     if (httpd_start(&h, &o) != 0) ...
 *     ...
 *     httpd_stop(h);
 *
 * Requests: only GET and HEAD (anything else: 405 with `Allow: GET, HEAD`);
 * a path matches a route exactly, ignoring the query string; an unknown path
 * is 404. Handlers run on the server's thread, one at a time, so they must
 * only touch thread-safe state (the metrics registry is). A handler's body is
 * capped at max_body_bytes; a handler that fails (returns a negative code, or
 * overflows the cap) produces a 500 whose body says nothing more than that
 * (the detail goes to the log), so no internal state leaks to a scraper.
 */
#ifndef LB_UTIL_HTTPD_H
#define LB_UTIL_HTTPD_H

#include <stddef.h>

#include "util/buf.h"

#define HTTPD_DEFAULT_MAX_BODY_BYTES (8u * 1024 * 1024) /* one /metrics scrape */
#define HTTPD_MAX_ROUTES             32
#define HTTPD_MAX_PATH_BYTES         256
#define HTTPD_MAX_CONTENT_TYPE_BYTES 128
#define HTTPD_MAX_ADDR_BYTES         300
#define HTTPD_DEFAULT_CONTENT_TYPE   "text/plain; charset=utf-8"

typedef struct httpd httpd;

/* Fills out_body (already initialised, capped) and returns an HTTP status
 * (100..599), or a negative code on failure (answered with 500). Setting
 * *out_type (a string that outlives the call, e.g. a literal) overrides
 * HTTPD_DEFAULT_CONTENT_TYPE. For HEAD the handler runs too; its body is
 * measured for Content-Length and not sent. */
typedef int (*httpd_handler_fn)(lb_buf *out_body, const char **out_type, void *payload);

typedef struct httpd_route {
    const char *path; /* exact, starts with '/'; copied */
    httpd_handler_fn handler;
    void *payload;
} httpd_route;

typedef struct httpd_options {
    const char
        *addr; /* "host:port", ":port" (all interfaces), "[::1]:port"; port 0 picks a free one */
    const httpd_route *routes; /* copied; at most HTTPD_MAX_ROUTES */
    size_t n_routes;
    size_t max_body_bytes; /* 0: HTTPD_DEFAULT_MAX_BODY_BYTES */
} httpd_options;

/* Parses `addr` into host (empty for all interfaces; a "[v6]" loses its
 * brackets) and port. Returns 0 or LB_EINVALID naming the rule broken. */
int httpd_parse_addr(char *out_host, size_t host_size, int *out_port, const char *addr);

/* Validates the options, binds the listening socket and starts the service
 * thread. On 0, *out is a running server that the caller stops with
 * httpd_stop(). Returns LB_EINVALID for bad options, -1 when the socket
 * cannot be bound or the thread not started (*out is then NULL). */
int httpd_start(httpd **out, const httpd_options *opts);

/* The port the server listens on (the kernel's choice when 0 was asked). */
int httpd_port(const httpd *h);

/* Stops the service loop, joins its thread, closes every connection and
 * frees everything. NULL is accepted. Must not be called from a handler. */
void httpd_stop(httpd *h);

#endif
