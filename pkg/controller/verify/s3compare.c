/* verify/s3compare.c - the s3Compare check (see s3compare.h). */
#include "controller/verify/s3compare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/s3.h"
#include "util/alloc.h"
#include "util/error.h"

void s3compare_list_add(s3compare_list *l, const char *key, const char *etag)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->items = lb_realloc(l->items, l->cap * sizeof(*l->items));
    }
    l->items[l->n].key = lb_strdup(key);
    l->items[l->n].etag = etag != NULL ? lb_strdup(etag) : NULL;
    l->n++;
}

void s3compare_list_dispose(s3compare_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].key);
        free(l->items[i].etag);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}

static int entry_cmp(const void *x, const void *y)
{
    return strcmp(((const s3compare_entry *)x)->key, ((const s3compare_entry *)y)->key);
}

/* Appends "key" to a "; "-separated list of at most S3COMPARE_FIRST_KEYS names. */
static void name_key(char *buf, size_t size, int *named, const char *key)
{
    size_t len = strlen(buf);
    if (*named >= S3COMPARE_FIRST_KEYS || len + 1 >= size)
        return;
    snprintf(buf + len, size - len, "%s%.200s", *named ? ", " : "", key);
    (*named)++;
}

void s3compare_diff(s3compare_result *out, s3compare_list *a, s3compare_list *b, const json_t *spec)
{
    const char *ba = json_string_value(json_object_get(spec, "bucketA"));
    const char *bb = json_string_value(json_object_get(spec, "bucketB"));
    const json_t *tol_j = json_object_get(spec, "tolerance");
    const json_t *etags_j = json_object_get(spec, "compareETags");
    long long tol = json_is_integer(tol_j) ? json_integer_value(tol_j) : 0;
    bool etags = etags_j == NULL || json_is_true(etags_j);
    char miss_b[400] = "", miss_a[400] = "", diff[400] = "";
    int n_mb = 0, n_ma = 0, n_d = 0;
    size_t i = 0, j = 0;
    long long bad;

    memset(out, 0, sizeof(*out));
    if (ba == NULL)
        ba = "bucketA";
    if (bb == NULL)
        bb = "bucketB";
    if (a->n > 1) /* an empty list has no array: qsort(NULL, 0) is undefined */
        qsort(a->items, a->n, sizeof(*a->items), entry_cmp);
    if (b->n > 1)
        qsort(b->items, b->n, sizeof(*b->items), entry_cmp);
    while (i < a->n || j < b->n) {
        int c = i >= a->n ? 1 : j >= b->n ? -1 : strcmp(a->items[i].key, b->items[j].key);
        if (c < 0) {
            out->only_a++;
            name_key(miss_b, sizeof(miss_b), &n_mb, a->items[i].key);
            i++;
        } else if (c > 0) {
            out->only_b++;
            name_key(miss_a, sizeof(miss_a), &n_ma, b->items[j].key);
            j++;
        } else {
            const char *ea = a->items[i].etag, *eb = b->items[j].etag;
            if (etags && (ea == NULL || eb == NULL || strcmp(ea, eb) != 0)) {
                out->different++;
                name_key(diff, sizeof(diff), &n_d, a->items[i].key);
            }
            i++;
            j++;
        }
    }
    out->keys_a = (long long)a->n;
    out->keys_b = (long long)b->n;
    bad = out->only_a + out->only_b + out->different;
    out->passed = bad <= tol;
    snprintf(out->observed, sizeof(out->observed), "%s %lld keys, %s %lld keys, %lld differing", ba,
             out->keys_a, bb, out->keys_b, bad);
    snprintf(out->expected, sizeof(out->expected), "at most %lld differing keys", tol);
    if (bad == 0) {
        snprintf(out->message, sizeof(out->message), "%s and %s hold the same %lld keys%s", ba, bb,
                 out->keys_a, etags ? " with the same ETags" : "");
        return;
    }
    {
        size_t len = 0;
        int n;
        n = snprintf(out->message, sizeof(out->message), "%lld differing keys (tolerance %lld)",
                     bad, tol);
        len = n > 0 ? (size_t)n : 0;
        if (out->only_a > 0 && len < sizeof(out->message)) {
            n = snprintf(out->message + len, sizeof(out->message) - len,
                         "; %lld missing in %s: %s%s", out->only_a, bb, miss_b,
                         out->only_a > n_mb ? ", ..." : "");
            len += n > 0 ? (size_t)n : 0;
        }
        if (out->only_b > 0 && len < sizeof(out->message)) {
            n = snprintf(out->message + len, sizeof(out->message) - len,
                         "; %lld missing in %s: %s%s", out->only_b, ba, miss_a,
                         out->only_b > n_ma ? ", ..." : "");
            len += n > 0 ? (size_t)n : 0;
        }
        if (out->different > 0 && len < sizeof(out->message))
            snprintf(out->message + len, sizeof(out->message) - len,
                     "; %lld with different ETags: %s%s", out->different, diff,
                     out->different > n_d ? ", ..." : "");
    }
}

static int collect(const s3_object *o, void *payload)
{
    s3compare_list *l = payload;
    if (l->n >= S3COMPARE_MAX_KEYS)
        return lb_error_setc(LB_EINVALID,
                             "more than %d keys under the prefix (S3COMPARE_MAX_KEYS): narrow "
                             "s3Compare.prefix",
                             S3COMPARE_MAX_KEYS);
    s3compare_list_add(l, o->key, o->etag);
    return 0;
}

int s3compare_run(s3compare_result *out, aws_client *c, const json_t *spec)
{
    const char *ba = json_string_value(json_object_get(spec, "bucketA"));
    const char *bb = json_string_value(json_object_get(spec, "bucketB"));
    const char *prefix = json_string_value(json_object_get(spec, "prefix"));
    s3_list_options o = {.prefix = prefix != NULL && prefix[0] != '\0' ? prefix : NULL};
    s3compare_list a = {0}, b = {0};
    int rc;

    memset(out, 0, sizeof(*out));
    if (ba == NULL || bb == NULL) {
        rc = lb_error_setc(LB_EINVALID, "s3Compare: bucketA and bucketB are required");
        goto done;
    }
    if (c == NULL) {
        rc = lb_error_setc(LB_EINVALID, "s3Compare: the operator has no AWS configuration");
        goto done;
    }
    rc = s3_list_objects_v2(NULL, c, ba, &o, collect, &a);
    if (rc != 0) {
        rc = lb_error_wrap(rc, "listing bucket %s", ba);
        goto done;
    }
    rc = s3_list_objects_v2(NULL, c, bb, &o, collect, &b);
    if (rc != 0) {
        rc = lb_error_wrap(rc, "listing bucket %s", bb);
        goto done;
    }
    s3compare_diff(out, &a, &b, spec);
done:
    s3compare_list_dispose(&a);
    s3compare_list_dispose(&b);
    return rc;
}
