/* agent/latest.c - see latest.h. */
#include "agent/latest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/manifest.h"
#include "aws/s3.h"
#include "aws/s3tags.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/timeutil.h"

typedef struct listed_object {
    char *key;
    int64_t modified_ns; /* LastModified; 0 when absent or unparsable */
    int64_t size;
} listed_object;

typedef struct listing {
    listed_object *v;
    size_t n;
} listing;

static int collect(const s3_object *o, void *payload)
{
    listing *l = payload;
    lb_time t;
    if (l->n >= LATEST_MAX_OBJECTS)
        return lb_error_setc(LB_ETOOBIG, "more than %d objects under the prefix",
                             LATEST_MAX_OBJECTS);
    if ((l->n & (l->n - 1)) == 0)
        l->v = lb_realloc(l->v, (l->n == 0 ? 1 : l->n * 2) * sizeof(*l->v));
    listed_object *e = &l->v[l->n++];
    e->key = lb_strdup(o->key);
    e->size = o->size;
    e->modified_ns = 0;
    if (o->last_modified != NULL && lb_time_parse_rfc3339(&t, o->last_modified) == 0)
        lb_time_to_ns(&e->modified_ns, t);
    return 0;
}

/* Newest first: LastModified, then key, both descending. */
static int newest_first(const void *a, const void *b)
{
    const listed_object *x = a, *y = b;
    if (x->modified_ns != y->modified_ns)
        return x->modified_ns > y->modified_ns ? -1 : 1;
    return -strcmp(x->key, y->key);
}

static int has_key(const listing *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].key, key) == 0)
            return 1;
    }
    return 0;
}

/* 1 when bucket/key carries LATEST_RESULT_TAG = failed, 0 when not, a negative
 * code when its tags cannot be read (LB_ENOTFOUND: it is gone). */
static int tagged_failed(aws_client *c, const char *bucket, const char *key)
{
    s3_tag_set tags = {0};
    int rc = s3_get_object_tagging(&tags, c, bucket, key);
    if (rc == 0) {
        const char *v = s3_tag_set_get(&tags, LATEST_RESULT_TAG);
        rc = v != NULL && strcmp(v, LATEST_RESULT_FAILED) == 0;
    }
    s3_tag_set_dispose(&tags);
    return rc;
}

int latest_backup_under(char **out, aws_client *c, const char *bucket, const char *prefix,
                        bool require_manifest)
{
    listing l = {0};
    s3_list_options lo = {.prefix = prefix};
    size_t candidates = 0, no_manifest = 0, empty = 0, failed = 0, reads = 0;
    int rc = s3_list_objects_v2(NULL, c, bucket, &lo, collect, &l);
    *out = NULL;
    if (rc != 0) {
        lb_error_wrap(rc, "listing s3://%s/%s", bucket, prefix);
        goto done;
    }
    /* keep the candidates at the front, then order them */
    for (size_t i = 0; i < l.n; i++) {
        listed_object e = l.v[i];
        size_t len = strlen(e.key);
        int keep = !manifest_is_manifest_key(e.key) && len > 0 && e.key[len - 1] != '/';
        if (keep && e.size == 0) {
            empty++;
            keep = 0;
        }
        if (keep && require_manifest) {
            char *mk = manifest_key_for(e.key);
            keep = has_key(&l, mk);
            free(mk);
            no_manifest += !keep;
        }
        if (keep) {
            l.v[i] = l.v[candidates];
            l.v[candidates++] = e;
        }
    }
    if (candidates > 1) /* l.v is NULL for an empty listing */
        qsort(l.v, candidates, sizeof(*l.v), newest_first);
    for (size_t i = 0; i < candidates; i++) {
        if (reads++ == LATEST_MAX_TAG_READS) {
            rc = lb_error_setc(LB_ENOTFOUND,
                               "latestUnder: the newest %d backups under s3://%s/%s are all "
                               "tagged %s=%s (failed)",
                               LATEST_MAX_TAG_READS, bucket, prefix, LATEST_RESULT_TAG,
                               LATEST_RESULT_FAILED);
            goto done;
        }
        rc = tagged_failed(c, bucket, l.v[i].key);
        if (rc == LB_ENOTFOUND || rc == 1) { /* deleted meanwhile, or a failed backup */
            failed += rc == 1;
            continue;
        }
        if (rc < 0) {
            lb_error_wrap(rc, "reading the tags of s3://%s/%s", bucket, l.v[i].key);
            goto done;
        }
        *out = lb_strdup(l.v[i].key);
        rc = 0;
        goto done;
    }
    rc = lb_error_setc(LB_ENOTFOUND,
                       "latestUnder: no %sbackup under s3://%s/%s (%zu objects; skipped: %zu "
                       "without a manifest, %zu empty, %zu tagged failed)",
                       require_manifest ? "complete " : "", bucket, prefix, l.n, no_manifest, empty,
                       failed);
done:
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i].key);
    free(l.v);
    return rc;
}
