/* keep.c - copies the named paths of an object into a new, small one. */
#include "kube/keep.h"

#include <string.h>

/* Decodes the segment at p (up to '/' or the end) into seg; returns the rest
 * of the path after the '/', "" at the end, or NULL when the segment is too
 * long to match anything. */
static const char *next_segment(char *seg, size_t size, const char *p)
{
    size_t n = 0;
    for (; *p != '\0' && *p != '/'; p++) {
        char ch = *p;
        if (ch == '~' && (p[1] == '0' || p[1] == '1'))
            ch = *++p == '1' ? '/' : '~';
        if (n + 1 >= size)
            return NULL;
        seg[n++] = ch;
    }
    seg[n] = '\0';
    return *p == '/' ? p + 1 : p;
}

static json_t *leaf(json_t *v, int presence)
{
    if (presence && json_is_array(v))
        return json_array();
    if (presence && json_is_object(v))
        return json_object();
    return json_incref(v);
}

static json_t *container_like(const json_t *v)
{
    return json_is_array(v) ? json_array() : json_object();
}

static void walk(json_t *dst, const json_t *src, const char *path, int presence);

/* Keeps `rest` of the path below child, merging into `existing` (what the
 * view already holds at that slot). Returns a new node to store at the slot,
 * or NULL when existing was updated in place or nothing is kept. */
static json_t *descend(json_t *existing, json_t *child, const char *rest, int presence)
{
    if (rest[0] == '\0')
        return leaf(child, presence);
    if (!json_is_object(child) && !json_is_array(child))
        return NULL;
    if (existing == child)
        return NULL; /* already kept whole by another path */
    if (existing == NULL || json_is_null(existing) ||
        json_is_array(existing) != json_is_array(child)) {
        json_t *d = container_like(child);
        walk(d, child, rest, presence);
        if (json_is_object(d) ? json_object_size(d) == 0 : json_array_size(d) == 0) {
            json_decref(d); /* nothing matched below: no empty container */
            return NULL;
        }
        return d;
    }
    walk(existing, child, rest, presence);
    return NULL;
}

static void walk(json_t *dst, const json_t *src, const char *path, int presence)
{
    char seg[KUBE_KEEP_MAX_SEGMENT];
    const char *rest = next_segment(seg, sizeof(seg), path);
    if (rest == NULL)
        return;
    if (json_is_object(src)) {
        json_t *child = json_object_get(src, seg), *d;
        if (child == NULL)
            return;
        d = descend(json_object_get(dst, seg), child, rest, presence);
        if (d != NULL)
            json_object_set_new(dst, seg, d);
    } else if (json_is_array(src) && strcmp(seg, "*") == 0) {
        size_t i;
        json_t *child;
        if (json_array_size(dst) != json_array_size(src)) {
            json_array_clear(dst);
            for (i = 0; i < json_array_size(src); i++)
                json_array_append_new(dst, json_object());
        }
        json_array_foreach(src, i, child)
        {
            json_t *d = descend(json_array_get(dst, i), child, rest, presence);
            if (d != NULL)
                json_array_set_new(dst, i, d);
        }
    }
}

json_t *kube_keep_view(const json_t *obj, const char *const *paths)
{
    json_t *out;
    if (!json_is_object(obj))
        return NULL;
    out = json_object();
    for (size_t i = 0; paths != NULL && paths[i] != NULL; i++) {
        const char *p = paths[i];
        int presence = p[0] == '?';
        if (presence)
            p++;
        if (p[0] == '/')
            walk(out, obj, p + 1, presence);
    }
    return out;
}
