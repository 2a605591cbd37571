/* keep.h - the kept view of an object: only the fields a controller decides on.
 *
 * An informer caches, per object, a copy of the few fields that say who the
 * object is and whether there is work to do; the full object is read from the
 * API server when a reconcile acts. Each kind describes what it keeps with a
 * NULL-terminated list of paths (one mechanism for every kind):
 *
 *   "/metadata/name"                JSON-pointer syntax ("~1" is '/', "~0" is '~')
 *   "/metadata/annotations/lifeboat.dev~1abort"
 *   "/status/conditions/" "*" "/type"   (a "*" segment: every element of an array)
 *   "?/status/steps"                ("?": presence only - an array or object is
 *                                    kept empty, a scalar as it is)
 *
 * A path that does not match the object keeps nothing (no empty parents);
 * array elements keep their positions (an element without the field is an
 * empty object). Array indexes are not supported ("*" only).
 */
#ifndef LB_KUBE_KEEP_H
#define LB_KUBE_KEEP_H

#include <jansson.h>

#define KUBE_KEEP_MAX_SEGMENT 256 /* a path segment longer than this matches nothing */

/* A new object holding only the parts of obj named by paths (NULL-terminated);
 * obj is not changed. Kept scalars and the leaves kept whole share obj's nodes
 * (reference counted, read-only). Never NULL for an object; NULL when obj is
 * not an object. */
json_t *kube_keep_view(const json_t *obj, const char *const *paths);

#endif
