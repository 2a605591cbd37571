#include "aws/s3.h"

#include <pthread.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "aws/private.h"
#include "aws/xml.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

void s3_object_info_dispose(s3_object_info *info)
{
    if (info == NULL)
        return;
    free(info->etag);
    free(info->version_id);
    free(info->last_modified);
    free(info->content_type);
    memset(info, 0, sizeof(*info));
}

static int check_key(const char *op, const char *bucket, const char *key)
{
    if (bucket == NULL || bucket[0] == '\0')
        return lb_error_setc(LB_EINVALID, "s3 %s: bucket must not be empty", op);
    if (key == NULL || key[0] == '\0')
        return lb_error_setc(LB_EINVALID, "s3 %s: key must not be empty", op);
    if (strlen(key) > S3_MAX_KEY_BYTES)
        return lb_error_setc(LB_EINVALID, "s3 %s: key longer than %d bytes", op, S3_MAX_KEY_BYTES);
    return 0;
}

static char *key_path(const char *key)
{
    char *enc = aws_uri_encode(key, true);
    char *p = lb_sprintf("/%s", enc);
    free(enc);
    return p;
}

static char *header_dup(const aws_response *r, const char *name)
{
    const char *v = aws_response_header_get(r, name);
    return v ? lb_strdup(v) : NULL;
}

static void fill_info(s3_object_info *out, const aws_response *r)
{
    const char *len = aws_response_header_get(r, "content-length");
    const char *dm = aws_response_header_get(r, "x-amz-delete-marker");
    if (out == NULL)
        return;
    s3_object_info_dispose(out);
    out->size = len ? strtoll(len, NULL, 10) : -1;
    out->etag = header_dup(r, "etag");
    out->version_id = header_dup(r, "x-amz-version-id");
    out->last_modified = header_dup(r, "last-modified");
    out->content_type = header_dup(r, "content-type");
    out->delete_marker = dm != NULL && strcmp(dm, "true") == 0;
}

static char *version_query(const char *version_id)
{
    aws_query *q;
    char *s = NULL;
    if (version_id == NULL || version_id[0] == '\0')
        return NULL;
    q = aws_query_new();
    aws_query_add(q, "versionId", version_id);
    aws_query_build(&s, q);
    aws_query_free(q);
    return s;
}

/* ---- listings ---- */

/* Sends one listing request; the answer's body is in *resp (the caller disposes it). */
static int list_send(aws_response *resp, aws_client *c, const char *bucket, aws_query *q,
                     const char *what)
{
    aws_request req;
    char *qs = NULL;
    int rc;

    memset(&req, 0, sizeof(req));
    aws_query_build(&qs, q);
    req.service = "s3";
    req.method = "GET";
    req.bucket = bucket;
    req.path = "/";
    req.query = qs;
    req.response_cap = S3_MAX_LIST_RESPONSE_BYTES;
    rc = aws_client_send(resp, c, &req);
    if (rc != 0)
        lb_error_wrap(rc, "s3 %s %s", what, bucket);
    free(qs);
    return rc;
}

static int list_page(xmlDocPtr *out, aws_client *c, const char *bucket, aws_query *q,
                     const char *what)
{
    aws_response resp;
    int rc;

    *out = NULL;
    aws_response_init(&resp);
    rc = list_send(&resp, c, bucket, q, what);
    if (rc == 0)
        rc = aws_xml_parse(out, resp.body, resp.body_len, what);
    aws_response_dispose(&resp);
    return rc;
}

/* One ListObjectsV2 page read in a streaming pass (aws_xml_scan): each
 * <Contents> (a child of the root) is handed to fn when it ends, its fields
 * read as aws_xml_text reads them (the first of each name; absent: NULL). */
enum { LV2_KEY, LV2_ETAG, LV2_LAST_MODIFIED, LV2_STORAGE_CLASS, LV2_FIELDS };
static const char *const list_v2_fields[LV2_FIELDS] = {"Key", "ETag", "LastModified",
                                                       "StorageClass"};

typedef struct list_v2_page {
    s3_object_fn fn;
    void *payload;
    bool in_contents;
    lb_buf field[LV2_FIELDS];
    bool has[LV2_FIELDS];
    bool has_size;
    long long size;
    bool has_truncated, truncated;
    bool has_token;
    lb_buf token;
} list_v2_page;

static int list_v2_start(void *payload, int depth, const char *name)
{
    list_v2_page *p = payload;
    if (depth == 1 && strcmp(name, "Contents") == 0) {
        p->in_contents = true;
        memset(p->has, 0, sizeof(p->has));
        p->has_size = false;
        p->size = 0;
    }
    return 0;
}

/* aws_xml_int's reading: the whole text a number, else `def`. */
static long long text_int(const char *text, long long def)
{
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    return (end == text || *end != '\0') ? def : v;
}

static int list_v2_contents_end(list_v2_page *p)
{
    s3_object o;
    int rc = 0;

    p->in_contents = false;
    if (p->has[LV2_KEY]) {
        o.key = buf_cstr(&p->field[LV2_KEY]);
        o.etag = p->has[LV2_ETAG] ? buf_cstr(&p->field[LV2_ETAG]) : NULL;
        o.last_modified = p->has[LV2_LAST_MODIFIED] ? buf_cstr(&p->field[LV2_LAST_MODIFIED])
                                                    : NULL;
        o.storage_class = p->has[LV2_STORAGE_CLASS] ? buf_cstr(&p->field[LV2_STORAGE_CLASS])
                                                    : NULL;
        o.size = p->size;
        rc = p->fn(&o, p->payload);
    }
    for (int i = 0; i < LV2_FIELDS; i++)
        buf_reset(&p->field[i]);
    return rc;
}

static int list_v2_end(void *payload, int depth, const char *name, const char *text, size_t len)
{
    list_v2_page *p = payload;

    if (depth == 2 && p->in_contents) {
        for (int i = 0; i < LV2_FIELDS; i++)
            if (!p->has[i] && strcmp(name, list_v2_fields[i]) == 0) {
                p->has[i] = true;
                return buf_append(&p->field[i], text, len);
            }
        if (!p->has_size && strcmp(name, "Size") == 0) {
            p->has_size = true;
            p->size = text_int(text, 0);
        }
        return 0;
    }
    if (depth == 1 && p->in_contents)
        return list_v2_contents_end(p);
    if (depth == 1 && !p->has_truncated && strcmp(name, "IsTruncated") == 0) {
        p->has_truncated = true;
        p->truncated = strcmp(text, "true") == 0;
    } else if (depth == 1 && !p->has_token && strcmp(name, "NextContinuationToken") == 0) {
        p->has_token = true;
        return buf_append(&p->token, text, len);
    }
    return 0;
}

int s3_list_objects_v2(int *out_pages, aws_client *c, const char *bucket,
                       const s3_list_options *opts, s3_object_fn fn, void *payload)
{
    char *token = NULL;
    int pages = 0;
    int rc = 0;

    if (out_pages != NULL)
        *out_pages = 0;
    if (bucket == NULL || bucket[0] == '\0')
        return lb_error_setc(LB_EINVALID, "s3 ListObjectsV2: bucket must not be empty");
    for (;;) {
        static const aws_xml_scan_fns fns = {list_v2_start, list_v2_end};
        aws_query *q = aws_query_new();
        aws_response resp;
        list_v2_page page;

        aws_query_add(q, "list-type", "2");
        if (opts != NULL && opts->prefix != NULL)
            aws_query_add(q, "prefix", opts->prefix);
        if (opts != NULL && opts->max_keys > 0)
            aws_query_add_int(q, "max-keys", opts->max_keys);
        if (token != NULL)
            aws_query_add(q, "continuation-token", token);
        aws_response_init(&resp);
        rc = list_send(&resp, c, bucket, q, "ListObjectsV2");
        aws_query_free(q);
        if (rc != 0) {
            aws_response_dispose(&resp);
            break;
        }
        pages++;
        memset(&page, 0, sizeof(page));
        page.fn = fn;
        page.payload = payload;
        for (int i = 0; i < LV2_FIELDS; i++)
            buf_init(&page.field[i], S3_MAX_LIST_RESPONSE_BYTES);
        buf_init(&page.token, S3_MAX_LIST_RESPONSE_BYTES);
        rc = aws_xml_scan(resp.body, resp.body_len, "ListObjectsV2", &fns, &page);
        aws_response_dispose(&resp);
        free(token);
        token = page.truncated && page.has_token ? buf_detach(&page.token, NULL) : NULL;
        for (int i = 0; i < LV2_FIELDS; i++)
            buf_dispose(&page.field[i]);
        buf_dispose(&page.token);
        if (rc != 0 || !page.truncated)
            break;
        if (token == NULL || token[0] == '\0') {
            rc = lb_error_set("s3 ListObjectsV2 %s: IsTruncated without NextContinuationToken",
                              bucket);
            break;
        }
        if (pages >= S3_MAX_LIST_PAGES) {
            rc = lb_error_setc(LB_ETOOBIG, "s3 ListObjectsV2 %s: more than %d pages", bucket,
                               S3_MAX_LIST_PAGES);
            break;
        }
    }
    free(token);
    if (out_pages != NULL)
        *out_pages = pages;
    return rc;
}

static int report_version(xmlNodePtr n, int is_marker, s3_version_fn fn, void *payload)
{
    s3_version v;
    char *key = aws_xml_text(n, "Key");
    char *vid = aws_xml_text(n, "VersionId");
    char *etag = is_marker ? NULL : aws_xml_text(n, "ETag");
    char *lm = aws_xml_text(n, "LastModified");
    int rc = 0;

    v.key = key;
    v.version_id = vid;
    v.is_latest = aws_xml_bool(n, "IsLatest");
    v.is_delete_marker = is_marker != 0;
    v.size = is_marker ? 0 : aws_xml_int(n, "Size", 0);
    v.etag = etag;
    v.last_modified = lm;
    if (key != NULL)
        rc = fn(&v, payload);
    free(key);
    free(vid);
    free(etag);
    free(lm);
    return rc;
}

int s3_list_object_versions(int *out_pages, aws_client *c, const char *bucket,
                            const s3_list_options *opts, s3_version_fn fn, void *payload)
{
    char *key_marker = NULL;
    char *vid_marker = NULL;
    int pages = 0;
    int rc = 0;

    if (out_pages != NULL)
        *out_pages = 0;
    if (bucket == NULL || bucket[0] == '\0')
        return lb_error_setc(LB_EINVALID, "s3 ListObjectVersions: bucket must not be empty");
    for (;;) {
        aws_query *q = aws_query_new();
        xmlDocPtr doc = NULL;
        xmlNodePtr root;
        int truncated;

        aws_query_add(q, "versions", NULL);
        if (opts != NULL && opts->prefix != NULL)
            aws_query_add(q, "prefix", opts->prefix);
        if (opts != NULL && opts->max_keys > 0)
            aws_query_add_int(q, "max-keys", opts->max_keys);
        if (key_marker != NULL)
            aws_query_add(q, "key-marker", key_marker);
        if (vid_marker != NULL)
            aws_query_add(q, "version-id-marker", vid_marker);
        rc = list_page(&doc, c, bucket, q, "ListObjectVersions");
        aws_query_free(q);
        if (rc != 0)
            break;
        pages++;
        root = xmlDocGetRootElement(doc);
        for (xmlNodePtr n = root->children; n != NULL && rc == 0; n = n->next) {
            if (n->type != XML_ELEMENT_NODE)
                continue;
            if (strcmp((const char *)n->name, "Version") == 0)
                rc = report_version(n, 0, fn, payload);
            else if (strcmp((const char *)n->name, "DeleteMarker") == 0)
                rc = report_version(n, 1, fn, payload);
        }
        truncated = aws_xml_bool(root, "IsTruncated");
        free(key_marker);
        free(vid_marker);
        key_marker = truncated ? aws_xml_text(root, "NextKeyMarker") : NULL;
        vid_marker = truncated ? aws_xml_text(root, "NextVersionIdMarker") : NULL;
        xmlFreeDoc(doc);
        if (rc != 0 || !truncated)
            break;
        if (key_marker == NULL || key_marker[0] == '\0') {
            rc =
                lb_error_set("s3 ListObjectVersions %s: IsTruncated without NextKeyMarker", bucket);
            break;
        }
        if (pages >= S3_MAX_LIST_PAGES) {
            rc = lb_error_setc(LB_ETOOBIG, "s3 ListObjectVersions %s: more than %d pages", bucket,
                               S3_MAX_LIST_PAGES);
            break;
        }
    }
    free(key_marker);
    free(vid_marker);
    if (out_pages != NULL)
        *out_pages = pages;
    return rc;
}

/* ---- objects ---- */

static int object_call(s3_object_info *out, aws_client *c, aws_request *req, const char *op,
                       const char *key)
{
    aws_response resp;
    int rc;

    aws_response_init(&resp);
    rc = aws_client_send(&resp, c, req);
    if (rc != 0) {
        lb_error_wrap(rc, "s3 %s s3://%s/%s", op, req->bucket, key);
        goto done;
    }
    fill_info(out, &resp);
done:
    aws_response_dispose(&resp);
    return rc;
}

/* One request on one (possibly versioned) object: HEAD, GET or DELETE. The caller
 * sets req's method and any body/stream fields; this adds the bucket, the key's
 * path and ?versionId=, sends it and fills *out (may be NULL). */
static int versioned_object_call(s3_object_info *out, aws_client *c, aws_request *req,
                                 const char *op, const char *bucket, const char *key,
                                 const char *version_id)
{
    char *path, *qs;
    int rc;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    rc = check_key(op, bucket, key);
    if (rc != 0)
        return rc;
    path = key_path(key);
    qs = version_query(version_id);
    req->service = "s3";
    req->bucket = bucket;
    req->path = path;
    req->query = qs;
    rc = object_call(out, c, req, op, key);
    free(path);
    free(qs);
    return rc;
}

int s3_head_object(s3_object_info *out, aws_client *c, const char *bucket, const char *key,
                   const char *version_id)
{
    aws_request req;

    memset(&req, 0, sizeof(req));
    req.method = "HEAD";
    return versioned_object_call(out, c, &req, "HeadObject", bucket, key, version_id);
}

int s3_get_object(s3_object_info *out, aws_client *c, const char *bucket, const char *key,
                  const char *version_id, const char *range, aws_write_fn fn, void *payload)
{
    aws_request req;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.write_fn = fn;
    req.write_payload = payload;
    if (range != NULL)
        aws_request_add_header(&req, "Range", range);
    return versioned_object_call(out, c, &req, "GetObject", bucket, key, version_id);
}

int s3_put_object(s3_object_info *out, aws_client *c, const char *bucket, const char *key,
                  const char *content_type, const void *data, size_t len)
{
    aws_request req;
    char *path;
    int rc;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    rc = check_key("PutObject", bucket, key);
    if (rc != 0)
        return rc;
    path = key_path(key);
    memset(&req, 0, sizeof(req));
    req.service = "s3";
    req.method = "PUT";
    req.bucket = bucket;
    req.path = path;
    req.content_type = content_type ? content_type : "application/octet-stream";
    req.body = data ? data : "";
    req.body_len = data ? len : 0;
    req.response_cap = S3_MAX_SMALL_RESPONSE_BYTES;
    rc = object_call(out, c, &req, "PutObject", key);
    free(path);
    return rc;
}

int s3_put_object_stream(s3_object_info *out, aws_client *c, const char *bucket, const char *key,
                         const char *content_type, int64_t len, aws_read_fn fn,
                         aws_rewind_fn rewind, void *payload)
{
    aws_request req;
    char *path;
    int rc;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    rc = check_key("PutObject", bucket, key);
    if (rc != 0)
        return rc;
    if (len < 0)
        return lb_error_setc(LB_EINVALID, "s3 PutObject: a streamed body needs its length");
    path = key_path(key);
    memset(&req, 0, sizeof(req));
    req.service = "s3";
    req.method = "PUT";
    req.bucket = bucket;
    req.path = path;
    req.content_type = content_type ? content_type : "application/octet-stream";
    req.read_fn = fn;
    req.rewind_fn = rewind;
    req.read_payload = payload;
    req.read_len = len;
    req.response_cap = S3_MAX_SMALL_RESPONSE_BYTES;
    rc = object_call(out, c, &req, "PutObject", key);
    free(path);
    return rc;
}

/* The x-amz-copy-source value: /bucket/key[?versionId=v], key URI-encoded. */
static char *copy_source_header(const char *src_bucket, const char *src_key,
                                const char *src_version_id)
{
    char *src_enc = aws_uri_encode(src_key, true);
    char *source;
    if (src_version_id != NULL && src_version_id[0] != '\0') {
        char *vid = aws_uri_encode(src_version_id, false);
        source = lb_sprintf("/%s/%s?versionId=%s", src_bucket, src_enc, vid);
        free(vid);
    } else {
        source = lb_sprintf("/%s/%s", src_bucket, src_enc);
    }
    free(src_enc);
    return source;
}

static int copy_single(s3_object_info *out, aws_client *c, const char *bucket, const char *key,
                       const char *src_bucket, const char *src_key, const char *source)
{
    aws_request req;
    aws_response resp;
    static const char *const names[] = {"Code", "Message", "ETag", "LastModified"};
    char *path = NULL, *root = NULL, *text[4] = {NULL, NULL, NULL, NULL};
    int rc;

    aws_response_init(&resp);
    path = key_path(key);
    memset(&req, 0, sizeof(req));
    req.service = "s3";
    req.method = "PUT";
    req.bucket = bucket;
    req.path = path;
    req.content_type = "application/octet-stream";
    req.body = "";
    req.body_len = 0;
    req.response_cap = S3_MAX_SMALL_RESPONSE_BYTES;
    /* A second copy would be a second version: after a 5xx or a lost answer the
     * caller re-reads the target instead (DESIGN.md section 5). */
    req.resend = AWS_RESEND_NEVER;
    aws_request_add_header(&req, "x-amz-copy-source", source);
    rc = aws_client_send(&resp, c, &req);
    if (rc != 0) {
        lb_error_wrap(rc, "s3 CopyObject s3://%s/%s to s3://%s/%s", src_bucket, src_key, bucket,
                      key);
        goto done;
    }
    /* CopyObject can fail after its 200 header: the body is then an <Error>.
     * One streaming pass over the small answer, no tree. */
    rc = aws_xml_root_texts(resp.body, resp.body_len, "s3 CopyObject", &root, names, text, 4);
    if (rc != 0)
        goto done;
    if (strcmp(root, "Error") == 0) {
        rc = lb_error_set("s3 CopyObject s3://%s/%s to s3://%s/%s: %s: %s", src_bucket, src_key,
                          bucket, key, text[0] ? text[0] : "InternalError",
                          text[1] ? text[1] : "");
        goto done;
    }
    fill_info(out, &resp);
    free(out->etag);
    out->etag = text[2];
    text[2] = NULL;
    free(out->last_modified);
    out->last_modified = text[3];
    text[3] = NULL;
    out->size = -1;
done:
    for (int i = 0; i < 4; i++)
        free(text[i]);
    free(root);
    free(path);
    aws_response_dispose(&resp);
    return rc;
}

int s3_delete_object(s3_object_info *out, aws_client *c, const char *bucket, const char *key,
                     const char *version_id)
{
    aws_request req;

    memset(&req, 0, sizeof(req));
    req.method = "DELETE";
    req.response_cap = S3_MAX_SMALL_RESPONSE_BYTES;
    return versioned_object_call(out, c, &req, "DeleteObject", bucket, key, version_id);
}

int s3_delete_object_once(s3_object_info *out, aws_client *c, const char *bucket,
                          const char *key)
{
    aws_request req;

    memset(&req, 0, sizeof(req));
    req.method = "DELETE";
    req.response_cap = S3_MAX_SMALL_RESPONSE_BYTES;
    req.resend = AWS_RESEND_NEVER;
    return versioned_object_call(out, c, &req, "DeleteObject", bucket, key, NULL);
}

int s3_get_bucket_versioning(char **out, aws_client *c, const char *bucket)
{
    aws_query *q = aws_query_new();
    xmlDocPtr doc = NULL;
    char *status;
    int rc;

    *out = NULL;
    if (bucket == NULL || bucket[0] == '\0') {
        aws_query_free(q);
        return lb_error_setc(LB_EINVALID, "s3 GetBucketVersioning: bucket must not be empty");
    }
    aws_query_add(q, "versioning", NULL);
    rc = list_page(&doc, c, bucket, q, "GetBucketVersioning");
    aws_query_free(q);
    if (rc != 0)
        return rc;
    status = aws_xml_text(xmlDocGetRootElement(doc), "Status");
    *out = status ? status : lb_strdup("");
    xmlFreeDoc(doc);
    return 0;
}

/* ---- multipart upload ---- */

typedef struct multipart {
    aws_client *c;
    const char *bucket;
    const char *key;
    char *path;
    char *upload_id;
    int64_t size;
    size_t part_size;
    int nparts;
    s3_pread_fn fn;
    void *payload;
    const char *copy_source; /* UploadPartCopy: the x-amz-copy-source value; else NULL */
    pthread_mutex_t lock;
    int next_part; /* 1-based; the next part a worker takes */
    int failed;
    int rc;
    char error[LB_ERROR_MAX]; /* the first failure's message, for the caller's thread */
    char **etags;             /* per part */
} multipart;

static char *upload_query(const char *upload_id, int part)
{
    aws_query *q = aws_query_new();
    char *s = NULL;
    if (part > 0)
        aws_query_add_int(q, "partNumber", part);
    aws_query_add(q, "uploadId", upload_id);
    aws_query_build(&s, q);
    aws_query_free(q);
    return s;
}

static void multipart_fail(multipart *m, int rc)
{
    pthread_mutex_lock(&m->lock);
    if (!m->failed) {
        m->failed = 1;
        m->rc = rc;
        snprintf(m->error, sizeof(m->error), "%s", lb_error_last());
    }
    pthread_mutex_unlock(&m->lock);
}

static int upload_part(multipart *m, int part, char *buf)
{
    int64_t offset = (int64_t)(part - 1) * (int64_t)m->part_size;
    size_t want = (size_t)((m->size - offset) < (int64_t)m->part_size ? (m->size - offset)
                                                                      : (int64_t)m->part_size);
    size_t have = 0;
    aws_request req;
    aws_response resp;
    char *qs;
    const char *etag;
    int rc;

    while (have < want) {
        long n = m->fn(buf + have, want - have, offset + (int64_t)have, m->payload);
        if (n <= 0)
            return lb_error_set("s3 UploadPart s3://%s/%s part %d: the source ended or failed "
                                "at offset %lld",
                                m->bucket, m->key, part, (long long)(offset + (int64_t)have));
        have += (size_t)n;
    }
    qs = upload_query(m->upload_id, part);
    memset(&req, 0, sizeof(req));
    req.service = "s3";
    req.method = "PUT";
    req.bucket = m->bucket;
    req.path = m->path;
    req.query = qs;
    req.content_type = "application/octet-stream";
    req.body = buf;
    req.body_len = want;
    req.response_cap = S3_MAX_SMALL_RESPONSE_BYTES;
    aws_response_init(&resp);
    rc = aws_client_send(&resp, m->c, &req);
    if (rc != 0) {
        lb_error_wrap(rc, "s3 UploadPart s3://%s/%s part %d", m->bucket, m->key, part);
    } else if ((etag = aws_response_header_get(&resp, "etag")) == NULL) {
        rc = lb_error_set("s3 UploadPart s3://%s/%s part %d: response has no ETag", m->bucket,
                          m->key, part);
    } else {
        pthread_mutex_lock(&m->lock);
        m->etags[part - 1] = lb_strdup(etag);
        pthread_mutex_unlock(&m->lock);
    }
    aws_response_dispose(&resp);
    free(qs);
    return rc;
}

/* UploadPartCopy of one byte range of the copy source. The ETag comes in
 * the body, which can also be an <Error> after a 200 header. */
static int copy_part(multipart *m, int part)
{
    int64_t first = (int64_t)(part - 1) * (int64_t)m->part_size;
    int64_t last =
        first + (int64_t)m->part_size > m->size ? m->size - 1 : first + (int64_t)m->part_size - 1;
    char range[64];
    aws_request req;
    aws_response resp;
    xmlDocPtr doc = NULL;
    xmlNodePtr root;
    char *qs, *etag = NULL;
    int rc;

    snprintf(range, sizeof(range), "bytes=%lld-%lld", (long long)first, (long long)last);
    qs = upload_query(m->upload_id, part);
    memset(&req, 0, sizeof(req));
    req.service = "s3";
    req.method = "PUT";
    req.bucket = m->bucket;
    req.path = m->path;
    req.query = qs;
    req.content_type = "application/octet-stream";
    req.body = "";
    req.body_len = 0;
    req.response_cap = S3_MAX_SMALL_RESPONSE_BYTES;
    aws_request_add_header(&req, "x-amz-copy-source", m->copy_source);
    aws_request_add_header(&req, "x-amz-copy-source-range", range);
    aws_response_init(&resp);
    rc = aws_client_send(&resp, m->c, &req);
    if (rc != 0) {
        lb_error_wrap(rc, "s3 UploadPartCopy s3://%s/%s part %d (%s)", m->bucket, m->key, part,
                      range);
        goto done;
    }
    rc = aws_xml_parse(&doc, resp.body, resp.body_len, "s3 UploadPartCopy");
    if (rc != 0)
        goto done;
    root = xmlDocGetRootElement(doc);
    if (strcmp((const char *)root->name, "Error") == 0) {
        char *code = aws_xml_text(root, "Code");
        char *msg = aws_xml_text(root, "Message");
        rc = lb_error_set("s3 UploadPartCopy s3://%s/%s part %d: %s: %s", m->bucket, m->key, part,
                          code ? code : "InternalError", msg ? msg : "");
        free(code);
        free(msg);
        goto done;
    }
    etag = aws_xml_text(root, "ETag");
    if (etag == NULL || etag[0] == '\0') {
        rc = lb_error_set("s3 UploadPartCopy s3://%s/%s part %d: response has no ETag", m->bucket,
                          m->key, part);
        goto done;
    }
    pthread_mutex_lock(&m->lock);
    m->etags[part - 1] = etag;
    etag = NULL;
    pthread_mutex_unlock(&m->lock);
done:
    free(etag);
    xmlFreeDoc(doc);
    aws_response_dispose(&resp);
    free(qs);
    return rc;
}

static void *multipart_worker(void *arg)
{
    multipart *m = arg;
    /* Copies move no bytes through this process: no part buffer. */
    char *buf = m->copy_source ? NULL : lb_malloc(m->part_size);

    for (;;) {
        int part;
        int rc;
        pthread_mutex_lock(&m->lock);
        part = (m->failed || m->next_part > m->nparts) ? 0 : m->next_part++;
        pthread_mutex_unlock(&m->lock);
        if (part == 0)
            break;
        rc = m->copy_source ? copy_part(m, part) : upload_part(m, part, buf);
        if (rc != 0) {
            multipart_fail(m, rc);
            break;
        }
    }
    free(buf);
    return NULL;
}

static int multipart_call(xmlDocPtr *out_doc, aws_response *resp, multipart *m, const char *method,
                          const char *qs, const char *body, const char *op)
{
    aws_request req;
    int rc;

    if (out_doc != NULL)
        *out_doc = NULL;
    memset(&req, 0, sizeof(req));
    req.service = "s3";
    req.method = method;
    req.bucket = m->bucket;
    req.path = m->path;
    req.query = qs;
    if (body != NULL) {
        req.content_type = "application/xml";
        req.body = body;
        req.body_len = strlen(body);
    }
    req.response_cap = S3_MAX_SMALL_RESPONSE_BYTES;
    rc = aws_client_send(resp, m->c, &req);
    if (rc != 0)
        return lb_error_wrap(rc, "s3 %s s3://%s/%s", op, m->bucket, m->key);
    if (out_doc == NULL)
        return 0;
    rc = aws_xml_parse(out_doc, resp->body, resp->body_len, op);
    if (rc == 0 && strcmp((const char *)xmlDocGetRootElement(*out_doc)->name, "Error") == 0) {
        char *code = aws_xml_text(xmlDocGetRootElement(*out_doc), "Code");
        char *msg = aws_xml_text(xmlDocGetRootElement(*out_doc), "Message");
        rc = lb_error_set("s3 %s s3://%s/%s: %s: %s", op, m->bucket, m->key,
                          code ? code : "InternalError", msg ? msg : "");
        free(code);
        free(msg);
    }
    return rc;
}

/* The CompleteMultipartUpload body, built with libxml2. */
static char *complete_body(const multipart *m)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "CompleteMultipartUpload");
    xmlChar *mem = NULL;
    int len = 0;
    char num[16];
    char *out;

    xmlNewNs(root, BAD_CAST "http://s3.amazonaws.com/doc/2006-03-01/", NULL);
    xmlDocSetRootElement(doc, root);
    for (int i = 0; i < m->nparts; i++) {
        xmlNodePtr part = xmlNewChild(root, NULL, BAD_CAST "Part", NULL);
        snprintf(num, sizeof(num), "%d", i + 1);
        xmlNewTextChild(part, NULL, BAD_CAST "PartNumber", BAD_CAST num);
        xmlNewTextChild(part, NULL, BAD_CAST "ETag", BAD_CAST m->etags[i]);
    }
    xmlDocDumpMemoryEnc(doc, &mem, &len, "UTF-8");
    out = lb_strndup((const char *)mem, (size_t)len);
    xmlFree(mem);
    xmlFreeDoc(doc);
    return out;
}

/* Runs a prepared multipart upload or copy: CreateMultipartUpload, the
 * parts on `nthreads` workers, CompleteMultipartUpload, or
 * AbortMultipartUpload on any failure. Releases what `m` holds. */
static int multipart_run(s3_object_info *out, int *out_parts, multipart *m,
                         const char *content_type, int nthreads)
{
    aws_response resp;
    xmlDocPtr doc = NULL;
    pthread_t threads[S3_MULTIPART_MAX_CONCURRENCY];
    char *qs = NULL;
    char *body = NULL;
    int rc;

    m->nparts = (int)((m->size + (int64_t)m->part_size - 1) / (int64_t)m->part_size);
    m->next_part = 1;
    m->path = key_path(m->key);
    m->etags = lb_calloc((size_t)m->nparts, sizeof(char *));
    pthread_mutex_init(&m->lock, NULL);
    aws_response_init(&resp);

    /* CreateMultipartUpload: POST ?uploads= with an explicit Content-Type,
     * which becomes the object's. */
    {
        aws_request req;
        aws_query *q = aws_query_new();
        aws_query_add(q, "uploads", NULL);
        aws_query_build(&qs, q);
        aws_query_free(q);
        memset(&req, 0, sizeof(req));
        req.service = "s3";
        req.method = "POST";
        req.bucket = m->bucket;
        req.path = m->path;
        req.query = qs;
        req.content_type = content_type ? content_type : "application/octet-stream";
        req.body = "";
        req.body_len = 0;
        req.response_cap = S3_MAX_SMALL_RESPONSE_BYTES;
        rc = aws_client_send(&resp, m->c, &req);
        free(qs);
        qs = NULL;
        if (rc != 0) {
            lb_error_wrap(rc, "s3 CreateMultipartUpload s3://%s/%s", m->bucket, m->key);
            goto done;
        }
        rc = aws_xml_parse(&doc, resp.body, resp.body_len, "s3 CreateMultipartUpload");
        if (rc != 0)
            goto done;
        m->upload_id = aws_xml_text(xmlDocGetRootElement(doc), "UploadId");
        xmlFreeDoc(doc);
        doc = NULL;
        if (m->upload_id == NULL || m->upload_id[0] == '\0') {
            rc = lb_error_set("s3 CreateMultipartUpload s3://%s/%s: response has no UploadId",
                              m->bucket, m->key);
            goto done;
        }
    }

    if (nthreads > m->nparts)
        nthreads = m->nparts;
    for (int i = 0; i < nthreads; i++)
        pthread_create(&threads[i], NULL, multipart_worker, m);
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);

    if (m->failed) {
        rc = m->rc;
        goto abort;
    }
    body = complete_body(m);
    qs = upload_query(m->upload_id, 0);
    rc = multipart_call(&doc, &resp, m, "POST", qs, body, "CompleteMultipartUpload");
    if (rc != 0) {
        snprintf(m->error, sizeof(m->error), "%s", lb_error_last());
        goto abort;
    }
    if (out != NULL) {
        fill_info(out, &resp);
        free(out->etag);
        out->etag = aws_xml_text(xmlDocGetRootElement(doc), "ETag");
        out->size = m->size;
    }
    if (out_parts != NULL)
        *out_parts = m->nparts;
    goto done;

abort:
    /* Leave no parts behind; the original failure is what the caller sees. */
    {
        aws_response aresp;
        char *aq = upload_query(m->upload_id, 0);
        aws_response_init(&aresp);
        if (multipart_call(NULL, &aresp, m, "DELETE", aq, NULL, "AbortMultipartUpload") != 0) {
            char abort_error[LB_ERROR_MAX];
            snprintf(abort_error, sizeof(abort_error), "%s", lb_error_last());
            lb_error_setc(rc, "%s (and AbortMultipartUpload failed: %s)", m->error, abort_error);
        } else
            lb_error_setc(rc, "%s (upload aborted)", m->error);
        aws_response_dispose(&aresp);
        free(aq);
    }
done:
    xmlFreeDoc(doc);
    aws_response_dispose(&resp);
    for (int i = 0; i < m->nparts; i++)
        free(m->etags[i]);
    free(m->etags);
    free(m->upload_id);
    free(m->path);
    free(qs);
    free(body);
    pthread_mutex_destroy(&m->lock);
    return rc;
}

int s3_upload_multipart(s3_object_info *out, int *out_parts, aws_client *c, const char *bucket,
                        const char *key, int64_t size, s3_pread_fn fn, void *payload,
                        const s3_multipart_options *opts)
{
    multipart m;
    int nthreads;
    int rc;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (out_parts != NULL)
        *out_parts = 0;
    rc = check_key("CreateMultipartUpload", bucket, key);
    if (rc != 0)
        return rc;
    memset(&m, 0, sizeof(m));
    m.part_size = opts && opts->part_size ? opts->part_size : S3_MULTIPART_DEFAULT_PART_BYTES;
    nthreads = opts && opts->concurrency ? opts->concurrency : S3_MULTIPART_DEFAULT_CONCURRENCY;
    if (m.part_size < S3_MULTIPART_MIN_PART_BYTES || m.part_size > S3_MULTIPART_MAX_PART_BYTES)
        return lb_error_setc(LB_EINVALID, "s3 multipart upload: part size must be %u..%u bytes",
                             S3_MULTIPART_MIN_PART_BYTES, S3_MULTIPART_MAX_PART_BYTES);
    if (nthreads < 1 || nthreads > S3_MULTIPART_MAX_CONCURRENCY)
        return lb_error_setc(LB_EINVALID, "s3 multipart upload: concurrency must be 1..%d",
                             S3_MULTIPART_MAX_CONCURRENCY);
    if (size <= 0)
        return lb_error_setc(LB_EINVALID, "s3 multipart upload: size must be positive");
    if ((size + (int64_t)m.part_size - 1) / (int64_t)m.part_size > S3_MULTIPART_MAX_PARTS)
        return lb_error_setc(LB_EINVALID,
                             "s3 multipart upload: %lld bytes need more than %d parts of %zu "
                             "bytes; raise the part size",
                             (long long)size, S3_MULTIPART_MAX_PARTS, m.part_size);
    m.c = c;
    m.bucket = bucket;
    m.key = key;
    m.size = size;
    m.fn = fn;
    m.payload = payload;
    return multipart_run(out, out_parts, &m, opts ? opts->content_type : NULL, nthreads);
}

/* ---- CopyObject ---- */

int s3_copy_object_ex(s3_object_info *out, int *out_parts, aws_client *c, const char *bucket,
                      const char *key, const char *src_bucket, const char *src_key,
                      const char *src_version_id, const s3_copy_options *opts)
{
    s3_object_info src;
    multipart m;
    int64_t threshold =
        opts && opts->multipart_threshold ? opts->multipart_threshold : S3_COPY_MAX_SINGLE_BYTES;
    int64_t part_size = opts && opts->part_size ? opts->part_size : S3_COPY_DEFAULT_PART_BYTES;
    int nthreads = opts && opts->concurrency ? opts->concurrency : S3_MULTIPART_DEFAULT_CONCURRENCY;
    char *source = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&src, 0, sizeof(src));
    if (out_parts != NULL)
        *out_parts = 0;
    rc = check_key("CopyObject", bucket, key);
    if (rc == 0)
        rc = check_key("CopyObject (source)", src_bucket, src_key);
    if (rc != 0)
        return rc;
    if (threshold < 0 || threshold > S3_COPY_MAX_SINGLE_BYTES)
        return lb_error_setc(LB_EINVALID,
                             "s3 CopyObject: multipart_threshold must be 0..%lld bytes "
                             "(CopyObject's limit)",
                             (long long)S3_COPY_MAX_SINGLE_BYTES);
    if (part_size < (int64_t)S3_MULTIPART_MIN_PART_BYTES || part_size > S3_COPY_MAX_PART_BYTES)
        return lb_error_setc(LB_EINVALID, "s3 CopyObject: part_size must be %u..%lld bytes",
                             S3_MULTIPART_MIN_PART_BYTES, (long long)S3_COPY_MAX_PART_BYTES);
    if (nthreads < 1 || nthreads > S3_MULTIPART_MAX_CONCURRENCY)
        return lb_error_setc(LB_EINVALID, "s3 CopyObject: concurrency must be 1..%d",
                             S3_MULTIPART_MAX_CONCURRENCY);
    if (opts != NULL && opts->source_size > 0 && opts->source_size <= threshold) {
        /* the caller listed the size: one CopyObject, no HeadObject */
        source = copy_source_header(src_bucket, src_key, src_version_id);
        rc = copy_single(out, c, bucket, key, src_bucket, src_key, source);
        free(source);
        return rc;
    }
    rc = s3_head_object(&src, opts != NULL && opts->source_client != NULL ? opts->source_client : c,
                        src_bucket, src_key, src_version_id);
    if (rc != 0)
        return lb_error_wrap(rc, "s3 CopyObject (source)");
    if (src.size < 0) {
        rc = lb_error_set("s3 CopyObject s3://%s/%s: HeadObject gave no Content-Length", src_bucket,
                          src_key);
        goto done;
    }
    source = copy_source_header(src_bucket, src_key, src_version_id);
    if (src.size <= threshold) {
        rc = copy_single(out, c, bucket, key, src_bucket, src_key, source);
        goto done;
    }
    if ((src.size + part_size - 1) / part_size > S3_MULTIPART_MAX_PARTS) {
        if (opts != NULL && opts->part_size != 0) {
            rc = lb_error_setc(LB_EINVALID,
                               "s3 CopyObject: %lld bytes need more than %d parts of %lld "
                               "bytes; raise part_size",
                               (long long)src.size, S3_MULTIPART_MAX_PARTS, (long long)part_size);
            goto done;
        }
        part_size = (src.size + S3_MULTIPART_MAX_PARTS - 1) / S3_MULTIPART_MAX_PARTS;
    }
    memset(&m, 0, sizeof(m));
    m.c = c;
    m.bucket = bucket;
    m.key = key;
    m.size = src.size;
    m.part_size = (size_t)part_size;
    m.copy_source = source;
    rc = multipart_run(out, out_parts, &m, src.content_type, nthreads);
    if (rc != 0)
        lb_error_wrap(rc, "s3 CopyObject s3://%s/%s to s3://%s/%s (multipart)", src_bucket, src_key,
                      bucket, key);
done:
    /* The copy keeps the source's Content-Type; the response's own is XML. */
    if (rc == 0) {
        free(out->content_type);
        out->content_type = src.content_type ? lb_strdup(src.content_type) : NULL;
    }
    s3_object_info_dispose(&src);
    free(source);
    return rc;
}

int s3_copy_object(s3_object_info *out, aws_client *c, const char *bucket, const char *key,
                   const char *src_bucket, const char *src_key, const char *src_version_id)
{
    return s3_copy_object_ex(out, NULL, c, bucket, key, src_bucket, src_key, src_version_id, NULL);
}

/* ---- DeleteObjects ---- */

void s3_delete_result_dispose(s3_delete_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nerrors; i++) {
        free(r->errors[i].key);
        free(r->errors[i].version_id);
        free(r->errors[i].code);
        free(r->errors[i].message);
    }
    free(r->errors);
    memset(r, 0, sizeof(*r));
}

/* The <Delete> body of one batch, built with libxml2 (keys are escaped). */
static char *delete_body(const s3_object_id *objects, size_t n, bool quiet)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "Delete");
    xmlChar *mem = NULL;
    int len = 0;
    char *out;

    xmlNewNs(root, BAD_CAST "http://s3.amazonaws.com/doc/2006-03-01/", NULL);
    xmlDocSetRootElement(doc, root);
    xmlNewTextChild(root, NULL, BAD_CAST "Quiet", BAD_CAST(quiet ? "true" : "false"));
    for (size_t i = 0; i < n; i++) {
        xmlNodePtr o = xmlNewChild(root, NULL, BAD_CAST "Object", NULL);
        xmlNewTextChild(o, NULL, BAD_CAST "Key", BAD_CAST objects[i].key);
        if (objects[i].version_id != NULL && objects[i].version_id[0] != '\0')
            xmlNewTextChild(o, NULL, BAD_CAST "VersionId", BAD_CAST objects[i].version_id);
    }
    xmlDocDumpMemoryEnc(doc, &mem, &len, "UTF-8");
    out = lb_strndup((const char *)mem, (size_t)len);
    xmlFree(mem);
    xmlFreeDoc(doc);
    return out;
}

/* Base64 MD5 of a body: DeleteObjects requires Content-MD5. */
static void content_md5(char out[32], const char *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

static int delete_batch(s3_delete_result *out, aws_client *c, const char *bucket,
                        const s3_object_id *objects, size_t n, bool quiet)
{
    aws_request req;
    aws_response resp;
    xmlDocPtr doc = NULL;
    xmlNodePtr root;
    char md5[32];
    char *body = delete_body(objects, n, quiet);
    size_t errors_before = out->nerrors;
    size_t deleted = 0;
    int rc;

    content_md5(md5, body, strlen(body));
    memset(&req, 0, sizeof(req));
    req.service = "s3";
    req.method = "POST";
    req.bucket = bucket;
    req.path = "/";
    req.query = "delete=";
    req.content_type = "application/xml";
    req.body = body;
    req.body_len = strlen(body);
    req.response_cap = S3_MAX_LIST_RESPONSE_BYTES;
    aws_request_add_header(&req, "Content-MD5", md5);
    aws_response_init(&resp);
    rc = aws_client_send(&resp, c, &req);
    if (rc != 0) {
        lb_error_wrap(rc, "s3 DeleteObjects %s", bucket);
        goto done;
    }
    rc = aws_xml_parse(&doc, resp.body, resp.body_len, "s3 DeleteObjects");
    if (rc != 0)
        goto done;
    root = xmlDocGetRootElement(doc);
    if (strcmp((const char *)root->name, "Error") == 0) {
        char *code = aws_xml_text(root, "Code");
        char *msg = aws_xml_text(root, "Message");
        rc = lb_error_set("s3 DeleteObjects %s: %s: %s", bucket, code ? code : "InternalError",
                          msg ? msg : "");
        free(code);
        free(msg);
        goto done;
    }
    for (xmlNodePtr e = root->children; e != NULL; e = e->next) {
        s3_delete_error *de;
        if (e->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)e->name, "Deleted") == 0) {
            deleted++;
            continue;
        }
        if (strcmp((const char *)e->name, "Error") != 0)
            continue;
        /* S3 reports each key at most once: more errors than keys is a broken reply. */
        if (out->nerrors - errors_before >= n) {
            rc = lb_error_setc(LB_ETOOBIG, "s3 DeleteObjects %s: more errors than the %zu keys",
                               bucket, n);
            goto done;
        }
        out->errors = lb_realloc(out->errors, (out->nerrors + 1) * sizeof(*out->errors));
        de = &out->errors[out->nerrors++];
        de->key = aws_xml_text(e, "Key");
        de->version_id = aws_xml_text(e, "VersionId");
        de->code = aws_xml_text(e, "Code");
        de->message = aws_xml_text(e, "Message");
    }
    out->deleted += quiet ? n - (out->nerrors - errors_before) : deleted;
done:
    xmlFreeDoc(doc);
    aws_response_dispose(&resp);
    free(body);
    return rc;
}

int s3_delete_objects(s3_delete_result *out, aws_client *c, const char *bucket,
                      const s3_object_id *objects, size_t n, bool quiet)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if (bucket == NULL || bucket[0] == '\0')
        return lb_error_setc(LB_EINVALID, "s3 DeleteObjects: bucket must not be empty");
    for (size_t i = 0; i < n; i++) {
        rc = check_key("DeleteObjects", bucket, objects[i].key);
        if (rc != 0)
            return lb_error_wrap(rc, "objects[%zu]", i);
    }
    for (size_t i = 0; i < n; i += S3_DELETE_OBJECTS_MAX_KEYS) {
        size_t batch = n - i < S3_DELETE_OBJECTS_MAX_KEYS ? n - i : S3_DELETE_OBJECTS_MAX_KEYS;
        rc = delete_batch(out, c, bucket, objects + i, batch, quiet);
        if (rc != 0)
            return rc;
    }
    if (out->nerrors > 0) {
        const s3_delete_error *e = &out->errors[0];
        return lb_error_set("s3 DeleteObjects %s: %zu of %zu keys not deleted; first: %s%s%s: "
                            "%s: %s",
                            bucket, out->nerrors, n, e->key ? e->key : "?",
                            e->version_id ? "@" : "", e->version_id ? e->version_id : "",
                            e->code ? e->code : "?", e->message ? e->message : "");
    }
    return 0;
}

/* ---- bucket configuration ---- */

/* A rule's prefix: Filter/Prefix, Filter/And/Prefix, or the V1 Prefix. */
static char *rule_prefix(xmlNodePtr rule)
{
    xmlNodePtr filter = aws_xml_child(rule, "Filter");
    char *p = NULL;
    if (filter != NULL) {
        p = aws_xml_text(filter, "Prefix");
        if (p == NULL)
            p = aws_xml_text(aws_xml_child(filter, "And"), "Prefix");
    } else {
        p = aws_xml_text(rule, "Prefix");
    }
    return p ? p : lb_strdup("");
}

static int int_or(xmlNodePtr n, const char *name)
{
    return n ? (int)aws_xml_int(n, name, -1) : -1;
}

void s3_replication_dispose(s3_replication *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nrules; i++) {
        free(r->rules[i].id);
        free(r->rules[i].status);
        free(r->rules[i].prefix);
        free(r->rules[i].destination_bucket);
        free(r->rules[i].destination_storage_class);
    }
    free(r->rules);
    free(r->role);
    memset(r, 0, sizeof(*r));
}

int s3_parse_replication(s3_replication *out, const char *body, size_t len)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr root;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = aws_xml_parse(&doc, body, len, "s3 GetBucketReplication");
    if (rc != 0)
        return rc;
    root = xmlDocGetRootElement(doc);
    out->role = aws_xml_text(root, "Role");
    for (xmlNodePtr n = aws_xml_child(root, "Rule"); n; n = aws_xml_next(n, "Rule")) {
        s3_replication_rule *r;
        xmlNodePtr dest = aws_xml_child(n, "Destination");
        xmlNodePtr dmr = aws_xml_child(n, "DeleteMarkerReplication");
        char *dmr_status = dmr ? aws_xml_text(dmr, "Status") : NULL;
        if (out->nrules >= S3_MAX_CONFIG_RULES) {
            free(dmr_status);
            rc = lb_error_setc(LB_ETOOBIG, "s3 GetBucketReplication: more than %d rules",
                               S3_MAX_CONFIG_RULES);
            break;
        }
        out->rules = lb_realloc(out->rules, (out->nrules + 1) * sizeof(*out->rules));
        r = &out->rules[out->nrules++];
        r->id = aws_xml_text(n, "ID");
        r->status = aws_xml_text(n, "Status");
        r->priority = (int)aws_xml_int(n, "Priority", -1);
        r->prefix = rule_prefix(n);
        r->destination_bucket = dest ? aws_xml_text(dest, "Bucket") : NULL;
        r->destination_storage_class = dest ? aws_xml_text(dest, "StorageClass") : NULL;
        r->delete_marker_replication = dmr_status != NULL && strcmp(dmr_status, "Enabled") == 0;
        free(dmr_status);
    }
    xmlFreeDoc(doc);
    if (rc != 0)
        s3_replication_dispose(out);
    return rc;
}

void s3_lifecycle_dispose(s3_lifecycle *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->nrules; i++) {
        free(l->rules[i].id);
        free(l->rules[i].status);
        free(l->rules[i].prefix);
        free(l->rules[i].expiration_date);
    }
    free(l->rules);
    memset(l, 0, sizeof(*l));
}

int s3_parse_lifecycle(s3_lifecycle *out, const char *body, size_t len)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr root;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = aws_xml_parse(&doc, body, len, "s3 GetBucketLifecycleConfiguration");
    if (rc != 0)
        return rc;
    root = xmlDocGetRootElement(doc);
    for (xmlNodePtr n = aws_xml_child(root, "Rule"); n; n = aws_xml_next(n, "Rule")) {
        s3_lifecycle_rule *r;
        xmlNodePtr exp = aws_xml_child(n, "Expiration");
        xmlNodePtr nce = aws_xml_child(n, "NoncurrentVersionExpiration");
        if (out->nrules >= S3_MAX_CONFIG_RULES) {
            rc = lb_error_setc(LB_ETOOBIG, "s3 GetBucketLifecycleConfiguration: more than %d rules",
                               S3_MAX_CONFIG_RULES);
            break;
        }
        out->rules = lb_realloc(out->rules, (out->nrules + 1) * sizeof(*out->rules));
        r = &out->rules[out->nrules++];
        memset(r, 0, sizeof(*r));
        r->id = aws_xml_text(n, "ID");
        r->status = aws_xml_text(n, "Status");
        r->prefix = rule_prefix(n);
        r->expiration_days = int_or(exp, "Days");
        r->expiration_date = exp ? aws_xml_text(exp, "Date") : NULL;
        r->expired_object_delete_marker = exp && aws_xml_bool(exp, "ExpiredObjectDeleteMarker");
        r->noncurrent_expiration_days = int_or(nce, "NoncurrentDays");
        r->newer_noncurrent_versions = int_or(nce, "NewerNoncurrentVersions");
        r->abort_incomplete_multipart_days =
            int_or(aws_xml_child(n, "AbortIncompleteMultipartUpload"), "DaysAfterInitiation");
        for (xmlNodePtr t = n->children; t != NULL; t = t->next)
            if (t->type == XML_ELEMENT_NODE &&
                (strcmp((const char *)t->name, "Transition") == 0 ||
                 strcmp((const char *)t->name, "NoncurrentVersionTransition") == 0))
                r->ntransitions++;
    }
    xmlFreeDoc(doc);
    if (rc != 0)
        s3_lifecycle_dispose(out);
    return rc;
}

/* GET /bucket?<sub>= into a buffered body. */
static int bucket_config(aws_response *resp, aws_client *c, const char *bucket, const char *sub,
                         const char *op)
{
    aws_request req;
    char qs[64];
    int rc;

    if (bucket == NULL || bucket[0] == '\0')
        return lb_error_setc(LB_EINVALID, "s3 %s: bucket must not be empty", op);
    snprintf(qs, sizeof(qs), "%s=", sub);
    memset(&req, 0, sizeof(req));
    req.service = "s3";
    req.method = "GET";
    req.bucket = bucket;
    req.path = "/";
    req.query = qs;
    req.response_cap = S3_MAX_LIST_RESPONSE_BYTES;
    rc = aws_client_send(resp, c, &req);
    if (rc != 0)
        return lb_error_wrap(rc, "s3 %s %s", op, bucket);
    return 0;
}

int s3_get_bucket_replication(s3_replication *out, aws_client *c, const char *bucket)
{
    aws_response resp;
    int rc;

    memset(out, 0, sizeof(*out));
    aws_response_init(&resp);
    rc = bucket_config(&resp, c, bucket, "replication", "GetBucketReplication");
    if (rc == 0)
        rc = s3_parse_replication(out, resp.body, resp.body_len);
    aws_response_dispose(&resp);
    return rc;
}

int s3_get_bucket_lifecycle_configuration(s3_lifecycle *out, aws_client *c, const char *bucket)
{
    aws_response resp;
    int rc;

    memset(out, 0, sizeof(*out));
    aws_response_init(&resp);
    rc = bucket_config(&resp, c, bucket, "lifecycle", "GetBucketLifecycleConfiguration");
    if (rc == 0)
        rc = s3_parse_lifecycle(out, resp.body, resp.body_len);
    aws_response_dispose(&resp);
    return rc;
}
