/* statuswriter.h - writes an object's /status subresource with optimistic
 * concurrency (DESIGN.md section 2: "retry on 409 by re-reading").
 *
 * The caller gives the object as it knows it (usually from an informer's
 * cache) and a function that changes a status. The writer copies the
 * object's status, lets the function change the copy, and
 *   - skips the write when the copy equals the status already there (a
 *     no-op reconcile costs no request);
 *   - else PUTs the object with the new status to .../<name>/status, carrying
 *     the object's metadata.resourceVersion, so a concurrent change makes the
 *     server answer 409;
 *   - on 409 GETs the object again and re-applies the function to the fresh
 *     status, at most max_attempts PUTs in all.
 * The function must therefore be idempotent and derive its changes from the
 * object it is given, not from state captured earlier.
 */
#ifndef LB_KUBE_STATUSWRITER_H
#define LB_KUBE_STATUSWRITER_H

#include <jansson.h>

#include "kube/client.h"

#define KUBE_STATUS_DEFAULT_ATTEMPTS 5  /* PUTs per kube_status_update() */
#define KUBE_STATUS_MAX_ATTEMPTS     20 /* a larger max_attempts is cut to this */

/* Changes `status` (a JSON object the writer owns; change it in place) for
 * `obj`, the object it belongs to (borrowed, read-only). Returns 0, or a
 * negative code that ends kube_status_update() with that code. */
typedef int (*kube_status_fn)(json_t *status, const json_t *obj, void *payload);

/* Writes fn's change of obj's status through ref's /status subresource
 * (ref->subresource is ignored; ref->name must be set). max_attempts <= 0
 * means KUBE_STATUS_DEFAULT_ATTEMPTS.
 *
 * On 0: *out_written (may be NULL) is 1 when a PUT succeeded, 0 when nothing
 * changed; *out (may be NULL) is a new reference to the object as the server
 * returned it, or to the object the change was computed on when nothing was
 * written. Errors: fn's code; LB_ENOTFOUND when the object is gone;
 * LB_ECONFLICT when every attempt met a 409; other client errors. */
int kube_status_update(json_t **out, int *out_written, kube_client *c, const kube_ref *ref,
                       const json_t *obj, kube_status_fn fn, void *payload, int max_attempts);

#endif
