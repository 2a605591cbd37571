/* s3sync.c - listings, the per-key decision and parallel server-side copies.
 * See s3sync.h. */
#include "aws/s3sync.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/s3.h"
#include "util/alloc.h"
#include "util/error.h"

/* ---- listing ------------------------------------------------------------------------ */

static int on_object(const s3_object *o, void *payload)
{
    s3sync_listing *l = payload;
    size_t max = l->max ? l->max : S3SYNC_MAX_OBJECTS;

    if (l->n >= max)
        return lb_error_setc(LB_ETOOBIG, "more than %zu keys listed (the cap)", max);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = lb_realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n].key = lb_strdup(o->key);
    l->v[l->n].size = o->size;
    l->v[l->n].etag = lb_strdup(o->etag ? o->etag : "");
    l->n++;
    l->bytes += o->size > 0 ? o->size : 0;
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const s3sync_entry *)a)->key, ((const s3sync_entry *)b)->key);
}

void s3sync_listing_sort(s3sync_listing *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), entry_cmp);
}

int s3sync_list(s3sync_listing *out, aws_client *c, const char *bucket, const char *prefix)
{
    s3_list_options o = {.prefix = (prefix && prefix[0]) ? prefix : NULL, .max_keys = 1000};
    int rc = s3_list_objects_v2(NULL, c, bucket, &o, on_object, out);

    if (rc != 0)
        return rc == LB_ETOOBIG ? rc : lb_error_wrap(rc, "ListObjectsV2 s3://%s", bucket);
    s3sync_listing_sort(out); /* S3 lists in UTF-8 binary order already; moto too */
    return 0;
}

void s3sync_listing_dispose(s3sync_listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].etag);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
    l->bytes = 0;
}

/* ---- decision ----------------------------------------------------------------------- */

int s3sync_etag_is_multipart(const char *etag)
{
    const char *dash;
    if (etag == NULL)
        return 0;
    dash = strrchr(etag, '-');
    if (dash == NULL || dash == etag || !isdigit((unsigned char)dash[1]))
        return 0;
    for (const char *p = dash + 1; *p && *p != '"'; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    return 1;
}

static void push(size_t **v, size_t *n, size_t i)
{
    *v = lb_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = i;
}

int s3sync_diff_compute(s3sync_diff *out, const s3sync_listing *src, const s3sync_listing *tgt)
{
    size_t i = 0, j = 0;

    memset(out, 0, sizeof(*out));
    while (i < src->n || j < tgt->n) {
        int c = i >= src->n ? 1 : j >= tgt->n ? -1 : strcmp(src->v[i].key, tgt->v[j].key);
        if (c < 0) {
            push(&out->copy, &out->ncopy, i);
            out->copy_bytes += src->v[i].size;
            i++;
        } else if (c > 0) {
            push(&out->extra, &out->nextra, j);
            j++;
        } else {
            const s3sync_entry *s = &src->v[i], *t = &tgt->v[j];
            if (s->size != t->size) {
                push(&out->copy, &out->ncopy, i);
                out->copy_bytes += s->size;
            } else if (strcmp(s->etag, t->etag) == 0) {
                out->same++;
                out->same_bytes += s->size;
            } else if (s3sync_etag_is_multipart(s->etag) || s3sync_etag_is_multipart(t->etag)) {
                push(&out->check, &out->ncheck, i);
                out->check_bytes += s->size;
            } else {
                push(&out->copy, &out->ncopy, i);
                out->copy_bytes += s->size;
            }
            i++;
            j++;
        }
    }
    return 0;
}

void s3sync_diff_dispose(s3sync_diff *d)
{
    free(d->copy);
    free(d->check);
    free(d->extra);
    memset(d, 0, sizeof(*d));
}

/* ---- content comparison ------------------------------------------------------------- */

static int hash_chunk(const char *data, size_t len, void *payload)
{
    return EVP_DigestUpdate(payload, data, len) == 1 ? 0 : -1;
}

static int object_sha256(unsigned char md[32], aws_client *c, const char *bucket, const char *key)
{
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    unsigned int len = 0;
    int rc;

    if (h == NULL || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h);
        return lb_error_set("SHA-256: OpenSSL could not start a digest");
    }
    rc = s3_get_object(NULL, c, bucket, key, NULL, NULL, hash_chunk, h);
    if (rc == 0 && EVP_DigestFinal_ex(h, md, &len) != 1)
        rc = lb_error_set("SHA-256: OpenSSL could not finish the digest");
    EVP_MD_CTX_free(h);
    return rc == 0 ? 0 : lb_error_wrap(rc, "GetObject s3://%s/%s", bucket, key);
}

int s3sync_content_equal(int *out_equal, const aws_region_pair *cl, const char *src_bucket,
                         const char *dst_bucket, const char *key)
{
    unsigned char a[32], b[32];
    int rc;

    *out_equal = 0;
    rc = object_sha256(a, cl->src, src_bucket, key);
    if (rc == 0)
        rc = object_sha256(b, cl->dst, dst_bucket, key);
    if (rc == 0)
        *out_equal = memcmp(a, b, sizeof(a)) == 0;
    return rc;
}

/* ---- parallel copies ---------------------------------------------------------------- */

typedef struct copier {
    const aws_region_pair *cl;
    const char *src_bucket, *dst_bucket;
    const s3sync_entry *const *keys;
    size_t n;
    pthread_mutex_t lock;
    size_t next, done;
    long long bytes;
    int rc;
    char error[LB_ERROR_MAX];
} copier;

static void *copy_worker(void *arg)
{
    copier *cp = arg;

    for (;;) {
        const s3sync_entry *e;
        s3_object_info info;
        int rc;

        pthread_mutex_lock(&cp->lock);
        e = (cp->rc != 0 || cp->next >= cp->n) ? NULL : cp->keys[cp->next++];
        pthread_mutex_unlock(&cp->lock);
        if (e == NULL)
            break;
        s3_copy_options o = {.source_size = e->size,
                             .source_client = cp->cl->src != cp->cl->dst ? cp->cl->src : NULL};
        memset(&info, 0, sizeof(info));
        rc = s3_copy_object_ex(&info, NULL, cp->cl->dst, cp->dst_bucket, e->key, cp->src_bucket,
                               e->key, NULL, &o);
        s3_object_info_dispose(&info);
        pthread_mutex_lock(&cp->lock);
        if (rc == 0) {
            cp->done++;
            cp->bytes += e->size;
        } else if (cp->rc == 0) {
            cp->rc = rc;
            snprintf(cp->error, sizeof(cp->error), "CopyObject s3://%s/%s -> s3://%s: %s",
                     cp->src_bucket, e->key, cp->dst_bucket, lb_error_last());
        }
        pthread_mutex_unlock(&cp->lock);
    }
    return NULL;
}

int s3sync_copy_many(size_t *out_done, long long *out_bytes, const aws_region_pair *cl,
                     const char *src_bucket, const char *dst_bucket,
                     const s3sync_entry *const *keys, size_t n, int concurrency)
{
    copier cp;
    pthread_t *threads;
    int nthreads = 0;

    *out_done = 0;
    *out_bytes = 0;
    if (concurrency < 1 || concurrency > S3SYNC_MAX_CONCURRENCY)
        return lb_error_setc(LB_EINVALID, "s3 sync: concurrency must be 1..%d, got %d",
                             S3SYNC_MAX_CONCURRENCY, concurrency);
    if (n == 0)
        return 0;
    if ((size_t)concurrency > n)
        concurrency = (int)n;
    memset(&cp, 0, sizeof(cp));
    cp.cl = cl;
    cp.src_bucket = src_bucket;
    cp.dst_bucket = dst_bucket;
    cp.keys = keys;
    cp.n = n;
    pthread_mutex_init(&cp.lock, NULL);
    threads = lb_calloc((size_t)concurrency, sizeof(*threads));
    for (int i = 1; i < concurrency; i++)
        if (pthread_create(&threads[nthreads], NULL, copy_worker, &cp) == 0)
            nthreads++;
    copy_worker(&cp); /* this thread works too: one worker when threads cannot start */
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    pthread_mutex_destroy(&cp.lock);
    *out_done = cp.done;
    *out_bytes = cp.bytes;
    if (cp.rc != 0)
        return lb_error_setc(cp.rc, "%s", cp.error);
    return 0;
}

/* ---- a whole sync in one process ------------------------------------------------------ */

unsigned s3sync_shard_of(const char *key, unsigned count)
{
    uint32_t h = 2166136261u;
    if (count <= 1)
        return 0;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h % count;
}

/* Drops the keys of other shards. */
static void keep_shard(s3sync_listing *l, const s3sync_opts *o)
{
    size_t w = 0;
    if (o->shard_count <= 1)
        return;
    l->bytes = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (s3sync_shard_of(l->v[i].key, o->shard_count) == o->shard_index) {
            l->v[w++] = l->v[i];
            l->bytes += l->v[i].size;
        } else {
            free(l->v[i].key);
            free(l->v[i].etag);
        }
    }
    l->n = w;
}

/* One side's listing on its own thread (list_pair). */
typedef struct side_listing {
    s3sync_listing *out;
    aws_client *c;
    const char *bucket, *prefix;
    int rc;
    char error[LB_ERROR_MAX];
} side_listing;

static void *list_side(void *arg)
{
    side_listing *s = arg;
    s->rc = s3sync_list(s->out, s->c, s->bucket, s->prefix);
    if (s->rc != 0)
        snprintf(s->error, sizeof(s->error), "%s", lb_error_last());
    return NULL;
}

/* Lists both buckets at once (the target on a second thread: the server
 * answers one while the client reads the other), then decides per key. */
static int list_pair(s3sync_listing *src, s3sync_listing *dst, s3sync_diff *d,
                     const aws_region_pair *cl, const s3sync_opts *o)
{
    side_listing t = {.out = dst, .c = cl->dst, .bucket = o->dst_bucket, .prefix = o->prefix};
    pthread_t th;
    int threaded, rc;

    s3sync_diff_dispose(d);
    s3sync_listing_dispose(src);
    s3sync_listing_dispose(dst);
    threaded = pthread_create(&th, NULL, list_side, &t) == 0;
    rc = s3sync_list(src, cl->src, o->src_bucket, o->prefix);
    if (threaded)
        pthread_join(th, NULL);
    else
        list_side(&t);
    if (rc != 0)
        return rc;
    if (t.rc != 0)
        return lb_error_setc(t.rc, "%s", t.error);
    keep_shard(src, o);
    keep_shard(dst, o);
    return s3sync_diff_compute(d, src, dst);
}

static int copy_indices(size_t *done, long long *bytes, const aws_region_pair *cl,
                        const s3sync_opts *o, const s3sync_listing *src, const size_t *idx,
                        size_t n, int conc)
{
    const s3sync_entry **keys = lb_calloc(n ? n : 1, sizeof(*keys));
    int rc;
    for (size_t i = 0; i < n; i++)
        keys[i] = &src->v[idx[i]];
    rc = s3sync_copy_many(done, bytes, cl, o->src_bucket, o->dst_bucket,
                          (const s3sync_entry *const *)keys, n, conc);
    free(keys);
    return rc;
}

int s3sync_run(s3sync_result *out, const aws_region_pair *cl, const s3sync_opts *o)
{
    s3sync_listing src = {0}, dst = {0};
    s3sync_diff d = {0};
    size_t done = 0, *differ = NULL, ndiffer = 0;
    long long bytes = 0;
    int conc = o->concurrency ? o->concurrency : 16;
    int rc;

    memset(out, 0, sizeof(*out));
    if (o->src_bucket == NULL || o->dst_bucket == NULL || strcmp(o->src_bucket, o->dst_bucket) == 0)
        return lb_error_setc(LB_EINVALID, "s3 sync: source and target buckets must be set and "
                                          "differ");
    if (o->shard_count > 1 && o->shard_index >= o->shard_count)
        return lb_error_setc(LB_EINVALID, "s3 sync: shard index %u must be below the count %u",
                             o->shard_index, o->shard_count);
    rc = list_pair(&src, &dst, &d, cl, o);
    if (rc != 0)
        goto end;
    rc = copy_indices(&done, &bytes, cl, o, &src, d.copy, d.ncopy, conc);
    out->copied += done;
    out->copied_bytes += bytes;
    if (rc != 0)
        goto end;
    if (o->delete_extraneous && d.nextra > 0) {
        s3_object_id *ids = lb_calloc(d.nextra, sizeof(*ids));
        s3_delete_result dr;
        for (size_t i = 0; i < d.nextra; i++)
            ids[i].key = dst.v[d.extra[i]].key;
        memset(&dr, 0, sizeof(dr));
        rc = s3_delete_objects(&dr, cl->dst, o->dst_bucket, ids, d.nextra, true);
        out->deleted = dr.deleted;
        s3_delete_result_dispose(&dr);
        free(ids);
        if (rc != 0)
            goto end;
    }
    for (size_t i = 0; i < d.ncheck; i++) {
        int equal = 0;
        rc = s3sync_content_equal(&equal, cl, o->src_bucket, o->dst_bucket, src.v[d.check[i]].key);
        if (rc != 0)
            goto end;
        out->checked++;
        if (!equal) {
            differ = lb_realloc(differ, (ndiffer + 1) * sizeof(*differ));
            differ[ndiffer++] = d.check[i];
        }
    }
    rc = copy_indices(&done, &bytes, cl, o, &src, differ, ndiffer, conc);
    out->copied += done;
    out->copied_bytes += bytes;
    if (rc != 0)
        goto end;
    /* verify from a fresh listing */
    rc = list_pair(&src, &dst, &d, cl, o);
    if (rc != 0)
        goto end;
    out->objects = src.n;
    out->bytes = src.bytes;
    out->extra_kept = o->delete_extraneous ? 0 : d.nextra;
    if (d.ncopy > 0 || (o->delete_extraneous && d.nextra > 0))
        rc = lb_error_set("s3 sync: s3://%s still differs from s3://%s after the sync: %zu "
                          "missing or different (first %s), %zu extraneous",
                          o->dst_bucket, o->src_bucket, d.ncopy,
                          d.ncopy ? src.v[d.copy[0]].key : "-", d.nextra);
end:
    free(differ);
    s3sync_diff_dispose(&d);
    s3sync_listing_dispose(&src);
    s3sync_listing_dispose(&dst);
    return rc;
}
