/* keep.c - copies the named paths of an object into a new, small one, and
 * decodes JSON text into only what such a copy reads. */
#include "kube/keep.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "util/alloc.h"
#include "util/error.h"

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

/* ---- decoding text into what a view reads ------------------------------------------ */

typedef struct keep_path {
    int presence;
    size_t nseg;
    char **seg; /* NUL-terminated; NULL where the segment is too long (matches nothing) */
    size_t *seglen;
} keep_path;

struct kube_keep_spec {
    size_t n;
    uint64_t all;
    keep_path path[KUBE_KEEP_MAX_PATHS];
};

/* Adds `path` (under `prefix`) to spec; 0, or LB_EINVALID when full. */
static int spec_add(kube_keep_spec *spec, const char *prefix, const char *path)
{
    char seg[KUBE_KEEP_MAX_SEGMENT];
    keep_path *kp;
    size_t plen, cap;
    char *full;
    const char *p;
    int presence = path[0] == '?';

    if (presence)
        path++;
    if (path[0] != '/')
        return 0; /* kube_keep_view ignores it too */
    if (spec->n == KUBE_KEEP_MAX_PATHS)
        return lb_error_setc(LB_EINVALID, "kube_keep_compile: more than %d paths",
                             KUBE_KEEP_MAX_PATHS);
    plen = strlen(prefix) + strlen(path) + 1;
    full = lb_malloc(plen);
    snprintf(full, plen, "%s%s", prefix, path);
    kp = &spec->path[spec->n];
    kp->presence = presence;
    cap = 1;
    for (p = full + 1; *p != '\0'; p++)
        cap += *p == '/';
    kp->seg = lb_calloc(cap, sizeof(*kp->seg));
    kp->seglen = lb_calloc(cap, sizeof(*kp->seglen));
    for (p = full + 1; p != NULL && kp->nseg < cap;) {
        const char *rest = next_segment(seg, sizeof(seg), p);
        if (rest != NULL) {
            kp->seg[kp->nseg] = lb_strdup(seg);
            kp->seglen[kp->nseg] = strlen(seg);
        }
        kp->nseg++;
        if (rest == NULL || rest[0] == '\0')
            break; /* a too-long segment ends the path: nothing below it matches */
        p = rest;
    }
    free(full);
    spec->all |= UINT64_C(1) << spec->n;
    spec->n++;
    return 0;
}

int kube_keep_compile(kube_keep_spec **out, const char *prefix, const char *const *paths,
                      const char *const *extra)
{
    kube_keep_spec *spec = lb_calloc(1, sizeof(*spec));
    int rc = 0;

    *out = NULL;
    for (size_t i = 0; rc == 0 && paths != NULL && paths[i] != NULL; i++)
        rc = spec_add(spec, prefix != NULL ? prefix : "", paths[i]);
    for (size_t i = 0; rc == 0 && extra != NULL && extra[i] != NULL; i++)
        rc = spec_add(spec, "", extra[i]);
    if (rc != 0) {
        kube_keep_spec_free(spec);
        return rc;
    }
    *out = spec;
    return 0;
}

void kube_keep_spec_free(kube_keep_spec *spec)
{
    if (spec == NULL)
        return;
    for (size_t i = 0; i < spec->n; i++) {
        for (size_t d = 0; d < spec->path[i].nseg; d++)
            free(spec->path[i].seg[d]);
        free(spec->path[i].seg);
        free(spec->path[i].seglen);
    }
    free(spec);
}

/* One open container that is kept: its node, the paths that continue into
 * its children (their segment at this depth), or whole: everything in it. */
typedef struct frame {
    json_t *node;
    uint64_t active;
    int whole;
} frame;

typedef struct decoder {
    const kube_keep_spec *spec;
    frame *stack; /* stack[0] is the top-level object */
    size_t depth, cap;
    size_t outside; /* nesting inside a container nothing is kept of */
    char *key;      /* the pending key of the innermost kept object, NUL-terminated */
    size_t key_len, key_cap;
    json_t *root;
    yajl_handle h;
    size_t end;             /* offset just past the top-level object, once it closed */
    char err[128];          /* set when a callback stops the parse */
    frame first_frames[32]; /* stack and key start here; the heap past that */
    char first_key[128];
} decoder;

/* Grows buf (cap elements of size each, in place at `first` until it leaves
 * it) to hold at least need elements. */
static void *grow(void *buf, void *first, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap;
    void *out;
    while (n < need)
        n *= 2;
    if (buf == first) {
        out = lb_malloc(n * size);
        memcpy(out, buf, *cap * size);
    } else {
        out = lb_realloc(buf, n * size);
    }
    *cap = n;
    return out;
}

static int stop(decoder *dc, const char *why)
{
    snprintf(dc->err, sizeof(dc->err), "%s", why);
    return 0;
}

/* Whether the value starting now is kept: 1 with *active the paths going on
 * inside it and *whole set when one keeps it whole; 0 when nothing is kept. */
static int place(decoder *dc, uint64_t *active, int *whole)
{
    const frame *f = &dc->stack[dc->depth - 1];
    size_t d = dc->depth - 1; /* the segment the children of f match */
    int in_array = json_is_array(f->node);
    uint64_t a = f->active, match = 0, ends = 0;

    *active = 0;
    *whole = f->whole;
    if (f->whole)
        return 1;
    while (a != 0) {
        int p = __builtin_ctzll(a);
        const keep_path *kp = &dc->spec->path[p];
        const char *seg = kp->seg[d];
        size_t len = kp->seglen[d];
        a &= a - 1;
        if (seg == NULL)
            continue;
        if (in_array ? (len == 1 && seg[0] == '*')
                     : (len == dc->key_len && memcmp(seg, dc->key, len) == 0)) {
            match |= UINT64_C(1) << p;
            if (kp->nseg == d + 1) {
                ends |= UINT64_C(1) << p;
                if (!kp->presence)
                    *whole = 1;
            }
        }
    }
    *active = match & ~ends;
    return match != 0;
}

/* Stores v (stolen) in the innermost kept container. */
static int attach(decoder *dc, json_t *v)
{
    json_t *parent = dc->stack[dc->depth - 1].node;
    if (v == NULL)
        return stop(dc, "out of memory");
    if (json_is_array(parent))
        return json_array_append_new(parent, v) == 0 ? 1 : stop(dc, "out of memory");
    return json_object_set_new_nocheck(parent, dc->key, v) == 0 ? 1 : stop(dc, "out of memory");
}

/* A scalar value: kept (v stolen) or dropped. */
static int scalar(decoder *dc, json_t *v)
{
    uint64_t active;
    int whole;
    if (dc->outside > 0 || dc->depth == 0 || !place(dc, &active, &whole)) {
        json_decref(v);
        return dc->depth == 0 ? stop(dc, "the top level is not an object") : 1;
    }
    return attach(dc, v);
}

static int on_null(void *ctx)
{
    decoder *dc = ctx;
    return dc->outside > 0 ? 1 : scalar(dc, json_null());
}

static int on_boolean(void *ctx, int b)
{
    decoder *dc = ctx;
    return dc->outside > 0 ? 1 : scalar(dc, json_boolean(b));
}

static int on_integer(void *ctx, long long i)
{
    decoder *dc = ctx;
    return dc->outside > 0 ? 1 : scalar(dc, json_integer((json_int_t)i));
}

static int on_double(void *ctx, double x)
{
    decoder *dc = ctx;
    return dc->outside > 0 ? 1 : scalar(dc, json_real(x));
}

/* Whether s is a string jansson would accept: no NUL, and UTF-8 by jansson's
 * own check where a byte is not ASCII (yajl's check lets overlong forms,
 * surrogates and code points past U+10FFFF through). */
static int string_ok(const unsigned char *s, size_t len)
{
    json_t *v;
    size_t i;
    for (i = 0; i < len && s[i] != '\0' && s[i] < 0x80; i++)
        ;
    if (i == len)
        return 1;
    if (memchr(s + i, '\0', len - i) != NULL)
        return 0;
    v = json_stringn((const char *)s, len);
    json_decref(v);
    return v != NULL;
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    decoder *dc = ctx;
    if (!string_ok(s, len))
        return stop(dc, "a string holds \\u0000 or is not valid UTF-8");
    return dc->outside > 0 ? 1 : scalar(dc, json_stringn_nocheck((const char *)s, len));
}

static int on_key(void *ctx, const unsigned char *s, size_t len)
{
    decoder *dc = ctx;
    if (!string_ok(s, len))
        return stop(dc, "a key holds \\u0000 or is not valid UTF-8");
    if (dc->outside > 0)
        return 1;
    if (len + 1 > dc->key_cap)
        dc->key = grow(dc->key, dc->first_key, &dc->key_cap, len + 1, 1);
    memcpy(dc->key, s, len);
    dc->key[len] = '\0';
    dc->key_len = len;
    return 1;
}

static int open_container(decoder *dc, int array)
{
    uint64_t active = dc->spec->all;
    int whole = 0;
    json_t *node;

    if (dc->depth + dc->outside >= KUBE_KEEP_MAX_DEPTH)
        return stop(dc, "nested too deeply");
    if (dc->outside > 0) {
        dc->outside++;
        return 1;
    }
    if (dc->depth == 0 && array)
        return stop(dc, "the top level is not an object");
    if (dc->depth > 0 && !place(dc, &active, &whole)) {
        dc->outside = 1;
        return 1;
    }
    node = array ? json_array() : json_object();
    if (node == NULL)
        return stop(dc, "out of memory");
    if (dc->depth == 0)
        dc->root = node;
    else if (!attach(dc, node))
        return 0;
    if (dc->depth == dc->cap)
        dc->stack = grow(dc->stack, dc->first_frames, &dc->cap, dc->depth + 1, sizeof(frame));
    dc->stack[dc->depth++] = (frame){node, active, whole};
    return 1;
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, 0);
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, 1);
}

static int on_end(void *ctx)
{
    decoder *dc = ctx;
    if (dc->outside > 0)
        dc->outside--;
    else if (dc->depth > 0 && --dc->depth == 0)
        dc->end = yajl_get_bytes_consumed(dc->h);
    return 1;
}

/* yajl's own memory for one decode (its handle, lexer, string buffer and
 * state stack: a few KiB, all freed at its end) comes from a buffer on the
 * decoding thread's stack: a decode per watch event otherwise costs a dozen
 * mallocs, one of them 2 KiB (glibc consolidates its fast bins for it). What
 * does not fit goes to malloc. Each block starts with its size. */
#define ARENA_BYTES 8192
#define ARENA_HDR   16

typedef struct arena {
    size_t used;
    _Alignas(16) unsigned char mem[ARENA_BYTES];
} arena;

static int in_arena(const arena *a, const void *p)
{
    const unsigned char *b = p;
    return b >= a->mem && b < a->mem + ARENA_BYTES;
}

static void *arena_malloc(void *ctx, size_t n)
{
    arena *a = ctx;
    size_t need = ARENA_HDR + ((n + 15) & ~(size_t)15);
    unsigned char *p;
    if (n > ARENA_BYTES || need > ARENA_BYTES - a->used)
        return malloc(n);
    p = a->mem + a->used;
    memcpy(p, &n, sizeof(n));
    a->used += need;
    return p + ARENA_HDR;
}

static void *arena_realloc(void *ctx, void *p, size_t n)
{
    size_t old;
    void *q;
    if (p == NULL)
        return arena_malloc(ctx, n);
    if (!in_arena(ctx, p))
        return realloc(p, n);
    memcpy(&old, (unsigned char *)p - ARENA_HDR, sizeof(old));
    if (n <= old)
        return p;
    q = arena_malloc(ctx, n);
    if (q != NULL)
        memcpy(q, p, old);
    return q;
}

static void arena_free(void *ctx, void *p)
{
    if (p != NULL && !in_arena(ctx, p))
        free(p);
}

static const yajl_callbacks decode_callbacks = {
    on_null,      on_boolean, on_integer, on_double,      NULL,   on_string,
    on_start_map, on_key,     on_end,     on_start_array, on_end,
};

int kube_keep_decode(json_t **out, const kube_keep_spec *spec, const char *text, size_t len)
{
    decoder dc = {.spec = spec};
    arena mem;
    yajl_alloc_funcs funcs = {arena_malloc, arena_realloc, arena_free, &mem};
    yajl_handle h;
    yajl_status st;
    int rc = 0;

    mem.used = 0;
    dc.stack = dc.first_frames;
    dc.cap = sizeof(dc.first_frames) / sizeof(dc.first_frames[0]);
    dc.key = dc.first_key;
    dc.key_cap = sizeof(dc.first_key);
    h = yajl_alloc(&decode_callbacks, &funcs, &dc);
    dc.h = h;
    *out = NULL;
    if (h == NULL)
        return lb_error_setc(LB_ERROR, "kube_keep_decode: out of memory");
    /* yajl takes \v and \f for whitespace and may stop at a NUL; JSON allows
     * none of them unescaped, anywhere */
    for (size_t i = 0; i < 3; i++) {
        const char *at = memchr(text, "\v\f"[i], len);
        if (at != NULL) {
            yajl_free(h);
            return lb_error_setc(LB_EINVALID, "JSON: control character 0x%02x near byte %zu",
                                 (unsigned)*at, (size_t)(at - text));
        }
    }
    st = yajl_parse(h, (const unsigned char *)text, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    if (st == yajl_status_ok && dc.root == NULL)
        snprintf(dc.err, sizeof(dc.err), "the top level is not an object");
    /* yajl lets an unterminated string after the object pass as "more to come" */
    for (size_t i = dc.end; st == yajl_status_ok && dc.err[0] == '\0' && i < len; i++)
        if (strchr(" \t\n\r", text[i]) == NULL)
            snprintf(dc.err, sizeof(dc.err), "trailing data after the object");
    if (st != yajl_status_ok || dc.err[0] != '\0') {
        size_t at = yajl_get_bytes_consumed(h);
        if (dc.err[0] != '\0') {
            rc = lb_error_setc(LB_EINVALID, "JSON: %s near byte %zu", dc.err, at);
        } else {
            unsigned char *msg = yajl_get_error(h, 0, NULL, 0);
            char one[160];
            snprintf(one, sizeof(one), "%s", msg != NULL ? (const char *)msg : "invalid");
            one[strcspn(one, "\n")] = '\0';
            yajl_free_error(h, msg);
            rc = lb_error_setc(LB_EINVALID, "JSON: %s near byte %zu", one, at);
        }
        json_decref(dc.root);
        dc.root = NULL;
    }
    yajl_free(h);
    if (dc.stack != dc.first_frames)
        free(dc.stack);
    if (dc.key != dc.first_key)
        free(dc.key);
    *out = dc.root;
    return rc;
}
