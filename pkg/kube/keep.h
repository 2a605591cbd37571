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
 *
 * kube_keep_decode() gets there from the text without the whole tree: it
 * decodes the JSON with yajl's event parser and builds only the nodes a
 * view of the spec's paths reads (the containers along each path, each array
 * a "*" path enters element by element, the subtrees a path keeps whole),
 * passing over everything else without allocating. The watch and the LIST of an
 * informer whose kind keeps a view decode with it (kube/watch.h,
 * kube/client.h): a 15.6 KiB RestoreRequest event becomes a few hundred bytes
 * of tree instead of all of it (jansson has no event parser, so it builds
 * the whole tree before anything can be dropped).
 */
#ifndef LB_KUBE_KEEP_H
#define LB_KUBE_KEEP_H

#include <jansson.h>

#define KUBE_KEEP_MAX_SEGMENT 256  /* a path segment longer than this matches nothing */
#define KUBE_KEEP_MAX_PATHS   64   /* paths of one spec, prefixes and extras included */
#define KUBE_KEEP_MAX_DEPTH   2048 /* nesting kube_keep_decode accepts (jansson's limit) */

/* A new object holding only the parts of obj named by paths (NULL-terminated);
 * obj is not changed. Kept scalars and the leaves kept whole share obj's nodes
 * (reference counted, read-only). Never NULL for an object; NULL when obj is
 * not an object. */
json_t *kube_keep_view(const json_t *obj, const char *const *paths);

/* The paths a kube_keep_decode() call keeps, compiled once. */
typedef struct kube_keep_spec kube_keep_spec;

/* Compiles `paths` (NULL-terminated, the syntax above; NULL for none), each
 * under `prefix` ("" or a path such as "/object" or "/items/" "*" without a
 * trailing '/'; a "?" stays in front), followed by `extra` (NULL-terminated,
 * taken as they are; may be NULL). Paths not starting with '/' (after "?")
 * are ignored, as kube_keep_view ignores them. Returns 0, or LB_EINVALID
 * (message set) for more than KUBE_KEEP_MAX_PATHS paths. */
int kube_keep_compile(kube_keep_spec **out, const char *prefix, const char *const *paths,
                      const char *const *extra);

/* Frees a spec; NULL is accepted. */
void kube_keep_spec_free(kube_keep_spec *spec);

/* Decodes text[0..len), which must be one JSON object, into *out (a new
 * object) holding only what kube_keep_view() reads for the spec's paths, so
 * that kube_keep_view(*out, P) equals kube_keep_view(json_loadb(text), P)
 * for the compiled paths P (the prefix included). The tree may hold empty
 * containers and array elements the view turns into placeholders; use it
 * as the input of kube_keep_view or read the kept fields from it. Rejects
 * what json_loadb rejects (invalid JSON or UTF-8, "\u0000", numbers out of
 * range, nesting deeper than KUBE_KEEP_MAX_DEPTH, a top level that is not
 * an object, trailing data) with LB_EINVALID and a message naming the
 * offset; *out is then NULL. */
int kube_keep_decode(json_t **out, const kube_keep_spec *spec, const char *text, size_t len);

#endif
