/* netguard.c - the address and host rules of netguard.h. */
#include "util/netguard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"

/* One remembered API server address: family, 16 bytes (IPv4 in the first 4). */
typedef struct guard_addr {
    int family;
    unsigned char bytes[16];
} guard_addr;

static struct {
    char **allow;
    size_t n_allow;
    bool allow_loopback;
    char apiserver_host[NETGUARD_MAX_HOST + 1];
    char service_host[NETGUARD_MAX_HOST + 1];
    int apiserver_port;
    int service_port;
    guard_addr addrs[NETGUARD_MAX_ADDRS];
    int addr_ports[NETGUARD_MAX_ADDRS];
    size_t n_addrs;
} g;

/* Lower-cases host into out and drops one trailing dot and IPv6 brackets. */
static void host_norm(char *out, size_t size, const char *host)
{
    size_t n = 0;
    if (host[0] == '[')
        host++;
    for (; *host != '\0' && n + 1 < size; host++)
        out[n++] = (char)tolower((unsigned char)*host);
    if (n > 0 && out[n - 1] == ']')
        n--;
    if (n > 0 && out[n - 1] == '.')
        n--;
    out[n] = '\0';
}

static bool is_label_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

int netguard_pattern_valid(const char *pattern, const char *field)
{
    unsigned char tmp[16];
    const char *p = pattern;
    size_t len = pattern ? strlen(pattern) : 0;

    if (len == 0 || len > NETGUARD_MAX_HOST)
        return lb_error_setc(LB_EINVALID,
                             "%s: must be a host name, an IP or *.suffix of 1-%d bytes", field,
                             NETGUARD_MAX_HOST);
    if (inet_pton(AF_INET, pattern, tmp) == 1 || inet_pton(AF_INET6, pattern, tmp) == 1)
        return 0;
    if (p[0] == '*') {
        if (p[1] != '.' || p[2] == '\0')
            return lb_error_setc(LB_EINVALID,
                                 "%s: \"%s\": a wildcard must be \"*.\" followed by a suffix",
                                 field, pattern);
        p += 2;
    }
    for (const char *c = p; *c != '\0'; c++) {
        if (*c == '.' && (c == p || c[1] == '.' || c[1] == '\0'))
            return lb_error_setc(LB_EINVALID, "%s: \"%s\": empty label", field, pattern);
        if (*c != '.' && !is_label_char(*c))
            return lb_error_setc(
                LB_EINVALID, "%s: \"%s\": a host name has only letters, digits, '-', '_' and '.'",
                field, pattern);
    }
    return 0;
}

bool netguard_host_matches(const char *pattern, const char *host)
{
    char p[NETGUARD_MAX_HOST + 2], h[NETGUARD_MAX_HOST + 2];
    size_t pl, hl;

    if (pattern == NULL || host == NULL)
        return false;
    host_norm(p, sizeof(p), pattern);
    host_norm(h, sizeof(h), host);
    if (p[0] == '*' && p[1] == '.') {
        pl = strlen(p + 1); /* ".suffix" */
        hl = strlen(h);
        return hl > pl && strcmp(h + hl - pl, p + 1) == 0;
    }
    return strcmp(p, h) == 0;
}

static bool list_matches(char *const *list, size_t n, const char *host)
{
    for (size_t i = 0; i < n; i++) {
        if (netguard_host_matches(list[i], host))
            return true;
    }
    return false;
}

/* ---- addresses ---------------------------------------------------------------- */

/* Reduces an IPv6 address holding an IPv4 one (mapped ::ffff:0:0/96, NAT64
 * 64:ff9b::/96) to that IPv4 address. */
static void addr_canon(guard_addr *a)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (a->family == AF_INET6 &&
        (memcmp(a->bytes, mapped, 12) == 0 || memcmp(a->bytes, nat64, 12) == 0)) {
        memmove(a->bytes, a->bytes + 12, 4);
        memset(a->bytes + 4, 0, 12);
        a->family = AF_INET;
    }
}

static int addr_from_sockaddr(guard_addr *out, int *port, const struct sockaddr *sa, socklen_t len)
{
    memset(out, 0, sizeof(*out));
    *port = 0;
    if (sa != NULL && sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        out->family = AF_INET;
        memcpy(out->bytes, &in->sin_addr, 4);
        *port = ntohs(in->sin_port);
    } else if (sa != NULL && sa->sa_family == AF_INET6 &&
               len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        out->family = AF_INET6;
        memcpy(out->bytes, &in6->sin6_addr, 16);
        *port = ntohs(in6->sin6_port);
    } else {
        return lb_error_setc(LB_EINVALID, "address family %d is not IPv4 or IPv6",
                             sa ? sa->sa_family : -1);
    }
    addr_canon(out);
    return 0;
}

static bool addr_is_loopback(const guard_addr *a)
{
    static const unsigned char one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (a->family == AF_INET)
        return a->bytes[0] == 127;
    return memcmp(a->bytes, one, 16) == 0;
}

/* The rule a never-allowed address breaks, or NULL. */
static const char *addr_forbidden_rule(const guard_addr *a)
{
    static const unsigned char zero[16] = {0};
    static const unsigned char imds6[16] = {0xfd, 0, 0x0e, 0xc2, 0, 0, 0,    0,
                                            0,    0, 0,    0,    0, 0, 0x02, 0x54};
    const unsigned char *b = a->bytes;
    if (a->family == AF_INET) {
        if (b[0] == 169 && b[1] == 254)
            return "link-local/metadata addresses (169.254.0.0/16) are never allowed";
        if (b[0] == 0)
            return "0.0.0.0/8 is never allowed";
        if (b[0] >= 224)
            return "multicast, reserved and broadcast addresses are never allowed";
        return NULL;
    }
    if (memcmp(b, imds6, 16) == 0)
        return "the metadata address fd00:ec2::254 is never allowed";
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return "link-local addresses (fe80::/10) are never allowed";
    if (b[0] == 0xff)
        return "multicast addresses (ff00::/8) are never allowed";
    if (memcmp(b, zero, 16) == 0)
        return "the unspecified address :: is never allowed";
    return NULL;
}

static bool addr_is_apiserver(const guard_addr *a, int port)
{
    for (size_t i = 0; i < g.n_addrs; i++) {
        if (g.addrs[i].family != a->family || memcmp(g.addrs[i].bytes, a->bytes, 16) != 0)
            continue;
        if (!addr_is_loopback(a) || port == 0 || g.addr_ports[i] == port)
            return true;
    }
    return false;
}

static void addr_format(char *out, size_t size, const guard_addr *a, int port)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(a->family, a->bytes, ip, sizeof(ip));
    if (a->family == AF_INET6)
        snprintf(out, size, "[%s]:%d", ip, port);
    else
        snprintf(out, size, "%s:%d", ip, port);
}

static int addr_decide(const guard_addr *a, int port)
{
    char where[INET6_ADDRSTRLEN + 16];
    const char *rule = addr_forbidden_rule(a);
    addr_format(where, sizeof(where), a, port);
    if (rule != NULL)
        return lb_error_setc(LB_EINVALID, "address %s refused: %s", where, rule);
    if (addr_is_apiserver(a, port))
        return lb_error_setc(
            LB_EINVALID, "address %s refused: it is the Kubernetes API server's address", where);
    if (addr_is_loopback(a) && !g.allow_loopback)
        return lb_error_setc(LB_EINVALID,
                             "address %s refused: loopback is the operator itself "
                             "(allowed only with --http-check-allow-loopback)",
                             where);
    return 0;
}

int netguard_check_addr(const struct sockaddr *sa, socklen_t len)
{
    guard_addr a;
    int port, rc = addr_from_sockaddr(&a, &port, sa, len);
    if (rc != 0)
        return rc;
    return addr_decide(&a, port);
}

/* ---- host names ---------------------------------------------------------------- */

static bool host_is_ip(guard_addr *out, const char *h)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, h, out->bytes) == 1) {
        out->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, h, out->bytes) == 1) {
        out->family = AF_INET6;
        addr_canon(out);
        return true;
    }
    return false;
}

static bool host_is_apiserver_name(const char *h, int port)
{
    if (strcmp(h, "kubernetes") == 0 || strcmp(h, "kubernetes.default") == 0 ||
        strncmp(h, "kubernetes.default.svc", 22) == 0)
        return true;
    if (g.service_host[0] != '\0' && strcmp(h, g.service_host) == 0)
        return true;
    if (g.apiserver_host[0] == '\0' || strcmp(h, g.apiserver_host) != 0)
        return false;
    /* a local API server ("localhost:6443") shares its name with local services:
     * then only its port is the API server */
    if (strcmp(h, "localhost") == 0 && port != 0 && port != g.apiserver_port)
        return false;
    return true;
}

int netguard_check_host(const char *host, int port, const char *const *scope_hosts, size_t n_scope)
{
    char h[NETGUARD_MAX_HOST + 2];
    guard_addr ip;
    bool scope_ok = n_scope == 0;

    if (host == NULL || host[0] == '\0' || strlen(host) > NETGUARD_MAX_HOST)
        return lb_error_setc(LB_EINVALID, "host: must be 1-%d bytes", NETGUARD_MAX_HOST);
    host_norm(h, sizeof(h), host);
    if (host_is_ip(&ip, h)) {
        int rc = addr_decide(&ip, port);
        if (rc != 0)
            return rc;
    } else if (host_is_apiserver_name(h, port)) {
        return lb_error_setc(LB_EINVALID, "host %s refused: it names the Kubernetes API server", h);
    } else if (strcmp(h, "localhost") == 0 && !g.allow_loopback) {
        return lb_error_setc(LB_EINVALID, "host %s refused: loopback is the operator itself", h);
    }
    if (g.n_allow > 0 && !list_matches(g.allow, g.n_allow, h))
        return lb_error_setc(LB_EINVALID,
                             "host %s refused: not in the operator's --http-check-hosts", h);
    for (size_t i = 0; i < n_scope; i++) {
        if (netguard_host_matches(scope_hosts[i], h))
            scope_ok = true;
    }
    if (!scope_ok)
        return lb_error_setc(LB_EINVALID, "host %s refused: not in the scope's HTTP check hosts",
                             h);
    return 0;
}

/* ---- configuration --------------------------------------------------------------- */

/* Remembers the addresses host resolves to, with port (for loopback ones). */
static void remember_addrs(const char *host, int port)
{
    struct addrinfo hints, *res = NULL, *ai;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (host[0] == '\0' || getaddrinfo(host, NULL, &hints, &res) != 0)
        return;
    for (ai = res; ai != NULL && g.n_addrs < NETGUARD_MAX_ADDRS; ai = ai->ai_next) {
        int ignored;
        if (addr_from_sockaddr(&g.addrs[g.n_addrs], &ignored, ai->ai_addr, ai->ai_addrlen) == 0)
            g.addr_ports[g.n_addrs++] = port;
    }
    freeaddrinfo(res);
}

/* Splits "scheme://host:port/..." into host (normalised) and port. */
static void split_server(char *host, size_t size, int *port, const char *url)
{
    const char *p = strstr(url, "://"), *end;
    char tmp[NETGUARD_MAX_HOST + 3];
    size_t n;

    *port = strncmp(url, "http://", 7) == 0 ? 80 : 443;
    host[0] = '\0';
    p = p ? p + 3 : url;
    if (*p == '[') {
        end = strchr(p, ']');
        end = end ? end + 1 : p + strlen(p);
    } else {
        end = p + strcspn(p, ":/");
    }
    n = (size_t)(end - p) < sizeof(tmp) - 1 ? (size_t)(end - p) : sizeof(tmp) - 1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    host_norm(host, size, tmp);
    if (*end == ':')
        *port = atoi(end + 1);
}

void netguard_reset(void)
{
    for (size_t i = 0; i < g.n_allow; i++)
        free(g.allow[i]);
    free(g.allow);
    memset(&g, 0, sizeof(g));
}

int netguard_configure(const netguard_options *o)
{
    const char *sh = getenv("KUBERNETES_SERVICE_HOST");
    const char *sp = getenv("KUBERNETES_SERVICE_PORT");

    netguard_reset();
    if (o->n_allow_hosts > NETGUARD_MAX_PATTERNS)
        return lb_error_setc(LB_EINVALID, "--http-check-hosts: at most %d patterns",
                             NETGUARD_MAX_PATTERNS);
    for (size_t i = 0; i < o->n_allow_hosts; i++) {
        if (netguard_pattern_valid(o->allow_hosts[i], "--http-check-hosts") != 0)
            return LB_EINVALID;
    }
    if (o->n_allow_hosts > 0) {
        g.allow = lb_calloc(o->n_allow_hosts, sizeof(char *));
        for (size_t i = 0; i < o->n_allow_hosts; i++)
            g.allow[i] = lb_strdup(o->allow_hosts[i]);
        g.n_allow = o->n_allow_hosts;
    }
    g.allow_loopback = o->allow_loopback;
    if (o->apiserver_url != NULL) {
        split_server(g.apiserver_host, sizeof(g.apiserver_host), &g.apiserver_port,
                     o->apiserver_url);
        remember_addrs(g.apiserver_host, g.apiserver_port);
    }
    if (sh != NULL && sh[0] != '\0') {
        host_norm(g.service_host, sizeof(g.service_host), sh);
        g.service_port = sp ? atoi(sp) : 443;
        remember_addrs(g.service_host, g.service_port);
    }
    return 0;
}
