/* internal.h - what client.c shares with the rest of pkg/kube (not a public API). */
#ifndef LB_KUBE_INTERNAL_H
#define LB_KUBE_INTERNAL_H

#include <stddef.h>

#include <curl/curl.h>

#include "kube/client.h"
#include "kube/config.h"
#include "util/buf.h"

/* A new easy handle for `url` with the client's share, TLS material (as
 * blobs), timeouts and headers (Accept JSON, User-Agent, Authorization from
 * `creds`). *headers receives the list to free with curl_slist_free_all()
 * after the transfer; callers may append to it before setting CURLOPT_HTTPHEADER
 * again. Returns NULL (message set) on failure. */
CURL *kube__easy_new(kube_client *c, const char *url, const kube_credentials *creds,
                     struct curl_slist **headers);

/* server + path(ref) + ("?" query when non-empty). */
int kube__url(char **out, kube_client *c, const kube_ref *ref, const char *query);

/* Appends "&key=value" (or "key=value" when q is empty) with value percent-encoded.
 * Returns LB_ETOOBIG past q's cap. */
int kube__query_add(lb_buf *q, const char *key, const char *value);

/* Counts one finished transfer of `h` in the client's stats. */
void kube__count(kube_client *c, CURL *h);

/* Reports one exchange to the metrics hook, if any. */
void kube__metrics(kube_client *c, const char *verb, long http_status, double seconds);

/* Seconds on a monotonic clock. */
double kube__now(void);

#endif
