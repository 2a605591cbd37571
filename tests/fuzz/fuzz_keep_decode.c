/* libFuzzer target for kube_keep_decode (pkg/kube/keep.h), differential.
 *
 * The input is decoded twice: whole by jansson, and by kube_keep_decode with
 * paths that cover names, "*" over arrays, presence, overlaps and a prefix.
 * When jansson accepts an object, the decode must accept it too and the kept
 * views of both must be equal; when the decode accepts, jansson must accept
 * an object. One known difference: a raw NUL byte, which JSON never allows,
 * is refused by the decode where jansson sometimes reads it as the end of a
 * number ("[4\0]"). Everything it allocates is freed (ASan checks leaks). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kube/keep.h"

static const char *const paths[] = {"/a",       "/a/b",       "?/a/c",      "/s/*/t",
                                    "/s/*/*/u", "?/l",        "/m/~1x/~0y", "/o/*",
                                    "?/o/*/p",  "/metadata/name", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kube_keep_spec *spec;
    json_error_t err;
    json_t *whole, *pruned = NULL;
    int rc;

    if (spec == NULL && kube_keep_compile(&spec, "", paths, NULL) != 0)
        abort();
    whole = json_loadb((const char *)data, size, 0, &err);
    rc = kube_keep_decode(&pruned, spec, (const char *)data, size);
    if (memchr(data, '\0', size) != NULL && rc == 0)
        abort(); /* a raw NUL is never JSON */
    if (json_is_object(whole) && rc != 0 && memchr(data, '\0', size) == NULL)
        abort(); /* jansson read an object the decode refused */
    if (rc == 0 && !json_is_object(whole))
        abort(); /* the decode accepted what jansson refused */
    if (rc == 0) {
        json_t *a = kube_keep_view(whole, paths), *b = kube_keep_view(pruned, paths);
        if (!json_equal(a, b))
            abort();
        json_decref(a);
        json_decref(b);
    }
    json_decref(whole);
    json_decref(pruned);
    return 0;
}
