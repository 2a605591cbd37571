/* netguard.h - where a check made on a tenant's behalf may connect.
 *
 * HTTP checks (restore/steps_verify.c) are URLs written by whoever may create
 * a RestoreRequest and fetched from the operator's network position. netguard
 * decides, in two places, whether such a request may go out:
 *
 *   netguard_check_host()  before anything is resolved or connected: the URL's
 *                          host against the API server's names and the
 *                          allow-lists (the operator's --http-check-hosts and
 *                          the caller's scope list);
 *   netguard_check_addr()  on the exact address a socket is about to be
 *                          opened to (libcurl's CURLOPT_OPENSOCKETFUNCTION), so
 *                          a name that resolves (or re-resolves, DNS rebinding)
 *                          to a forbidden address is refused with no socket
 *                          created - the address checked is the address used.
 *
 * Never allowed, whatever the lists say:
 *   - link-local and cloud metadata: 169.254.0.0/16, fe80::/10, fd00:ec2::254
 *     (and IPv4-mapped / NAT64 forms of IPv4 addresses: ::ffff:a.b.c.d,
 *     64:ff9b::a.b.c.d are judged as a.b.c.d);
 *   - "this network", broadcast and multicast: 0.0.0.0/8, 255.255.255.255,
 *     224.0.0.0/4, ::, ff00::/8;
 *   - the Kubernetes API server: the host of the operator's kubeconfig (or
 *     KUBERNETES_SERVICE_HOST in a Pod), the names kubernetes,
 *     kubernetes.default, kubernetes.default.svc[.*], and every address those
 *     resolved to when netguard_configure() ran - the whole address, or only
 *     its port when the address is a loopback one (a local API server shares
 *     127.0.0.1 with the local test services);
 *   - loopback (127.0.0.0/8, ::1) unless allow_loopback: in a Pod, loopback is
 *     the operator itself (its /metrics and health ports). allow_loopback
 *     (--http-check-allow-loopback) exists for local environments where
 *     Services are processes on 127.0.0.1.
 * Host allow-lists: a pattern is a host name (case-insensitive, exact), an IP
 * literal, or "*.suffix" (one or more labels before suffix). An empty list
 * allows every host the rules above allow; when both the operator's list and
 * the scope's list are non-empty, the host must match both.
 *
 * Configuration is process-wide: call netguard_configure() once at start,
 * before threads; every other function is then thread-safe (read-only).
 */
#ifndef LB_UTIL_NETGUARD_H
#define LB_UTIL_NETGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define NETGUARD_MAX_HOST     253 /* bytes of a DNS name */
#define NETGUARD_MAX_PATTERNS 256 /* entries of one allow-list */
#define NETGUARD_MAX_ADDRS    16  /* API server addresses remembered */

typedef struct netguard_options {
    const char *const *allow_hosts; /* the operator's allow-list; NULL/0: any */
    size_t n_allow_hosts;
    bool allow_loopback;
    const char *apiserver_url; /* "https://host:port" of the kubeconfig; NULL: none */
} netguard_options;

/* Sets the process-wide policy from o (copied). Resolves the API server's
 * host (also KUBERNETES_SERVICE_HOST when set) to remember its addresses; a
 * name that does not resolve is still refused by name. Returns 0, or
 * LB_EINVALID naming a pattern that is not a host name, IP or "*.suffix". */
int netguard_configure(const netguard_options *o);

/* Forgets the policy (tests; frees what netguard_configure() copied). */
void netguard_reset(void);

/* Checks a pattern's syntax. Returns 0 or LB_EINVALID naming field and rule. */
int netguard_pattern_valid(const char *pattern, const char *field);

/* True when host matches pattern (see the file comment). */
bool netguard_host_matches(const char *pattern, const char *host);

/* Decides whether a request to host:port may be attempted: the API server's
 * names and addresses (when host is an IP literal, the address rules too) and
 * both allow-lists; scope_hosts/n_scope is the caller's scope (NULL/0: none).
 * Returns 0, or LB_EINVALID with a message naming the host and the rule. */
int netguard_check_host(const char *host, int port, const char *const *scope_hosts, size_t n_scope);

/* Decides whether a socket may be opened to sa. Returns 0, or LB_EINVALID
 * naming the address and the rule. */
int netguard_check_addr(const struct sockaddr *sa, socklen_t len);

#endif
