/* upload.c - streaming multipart upload. */
#include "agent/upload.h"

#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <libxml/tree.h>

#include "aws/s3.h"
#include "aws/xml.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"

/* One part in flight on its own thread while the next one fills. */
typedef struct part_job {
    upload_stream *u;
    char *buf;
    size_t len;
    int part;
    int rc;
    char *etag;
    char error[LB_ERROR_MAX];
} part_job;

struct upload_stream {
    aws_client *c;
    char *spare; /* the other buffer: the one being sent, or free */
    pthread_t thread;
    bool in_flight;
    part_job job;
    char *bucket;
    char *key;
    char *path;
    char *upload_id;
    char *buf;
    size_t part_size;
    size_t nbuf;
    int nparts;
    char **etags;
    int64_t bytes;
};

int upload_stream_new(upload_stream **out, aws_client *c, const char *bucket, const char *key,
                      size_t part_size)
{
    if (part_size == 0)
        part_size = UPLOAD_DEFAULT_PART_BYTES;
    if (part_size < S3_MULTIPART_MIN_PART_BYTES || part_size > S3_MULTIPART_MAX_PART_BYTES)
        return lb_error_setc(LB_EINVALID, "upload: part size must be 5 MiB..512 MiB");
    upload_stream *u = lb_calloc(1, sizeof(*u));
    u->c = c;
    u->bucket = lb_strdup(bucket);
    u->key = lb_strdup(key);
    char *enc = aws_uri_encode(key, true);
    u->path = lb_sprintf("/%s", enc);
    free(enc);
    u->part_size = part_size;
    u->buf = lb_malloc(part_size);
    u->spare = lb_malloc(part_size);
    u->etags = lb_calloc(S3_MULTIPART_MAX_PARTS, sizeof(char *));
    *out = u;
    return 0;
}

static char *query(const char *upload_id, int part)
{
    aws_query *q = aws_query_new();
    char *s = NULL;
    if (upload_id == NULL) {
        aws_query_add(q, "uploads", NULL);
    } else {
        if (part > 0)
            aws_query_add_int(q, "partNumber", part);
        aws_query_add(q, "uploadId", upload_id);
    }
    aws_query_build(&s, q);
    aws_query_free(q);
    return s;
}

static int send_call(aws_response *resp, upload_stream *u, const char *method, const char *qs,
                     const char *body, size_t body_len, const char *ctype)
{
    aws_request req;
    memset(&req, 0, sizeof(req));
    req.service = "s3";
    req.method = method;
    req.bucket = u->bucket;
    req.path = u->path;
    req.query = qs;
    if (body != NULL) {
        req.content_type = ctype;
        req.body = body;
        req.body_len = body_len;
    }
    req.response_cap = S3_MAX_SMALL_RESPONSE_BYTES;
    return aws_client_send(resp, u->c, &req);
}

static int create(upload_stream *u)
{
    aws_response resp;
    xmlDocPtr doc = NULL;
    char *qs = query(NULL, 0);
    int rc;
    aws_response_init(&resp);
    rc = send_call(&resp, u, "POST", qs, "", 0, "application/octet-stream");
    if (rc != 0) {
        lb_error_wrap(rc, "s3 CreateMultipartUpload s3://%s/%s", u->bucket, u->key);
        goto done;
    }
    rc = aws_xml_parse(&doc, resp.body, resp.body_len, "s3 CreateMultipartUpload");
    if (rc != 0)
        goto done;
    u->upload_id = aws_xml_text(xmlDocGetRootElement(doc), "UploadId");
    if (u->upload_id == NULL)
        rc = lb_error_set("s3 CreateMultipartUpload s3://%s/%s: no UploadId", u->bucket, u->key);
done:
    xmlFreeDoc(doc);
    aws_response_dispose(&resp);
    free(qs);
    return rc;
}

static void *part_main(void *arg)
{
    part_job *j = arg;
    upload_stream *u = j->u;
    aws_response resp;
    char *qs = query(u->upload_id, j->part);
    aws_response_init(&resp);
    j->rc = send_call(&resp, u, "PUT", qs, j->buf, j->len, "application/octet-stream");
    const char *etag = j->rc == 0 ? aws_response_header_get(&resp, "etag") : NULL;
    if (j->rc != 0)
        lb_error_wrap(j->rc, "s3 UploadPart s3://%s/%s part %d", u->bucket, u->key, j->part);
    else if (etag == NULL)
        j->rc =
            lb_error_set("s3 UploadPart s3://%s/%s part %d: no ETag", u->bucket, u->key, j->part);
    else
        j->etag = lb_strdup(etag);
    if (j->rc != 0)
        snprintf(j->error, sizeof(j->error), "%s", lb_error_last());
    aws_response_dispose(&resp);
    free(qs);
    return NULL;
}

/* Waits for the part in flight; its error (message moved to this thread). */
static int join_part(upload_stream *u)
{
    if (!u->in_flight)
        return 0;
    pthread_join(u->thread, NULL);
    u->in_flight = false;
    if (u->job.rc != 0)
        return lb_error_setc(u->job.rc, "%s", u->job.error);
    u->etags[u->job.part - 1] = u->job.etag;
    u->job.etag = NULL;
    LB_LOG_INFO("uploaded part", "object", u->key, "part", LB_LOG_INT(u->job.part), "bytes",
                LB_LOG_INT(u->bytes));
    return 0;
}

/* Hands the filled buffer to a thread (after the previous part finished) and
 * continues into the other buffer. */
static int send_part(upload_stream *u)
{
    if (u->upload_id == NULL && create(u) != 0)
        return LB_ERROR;
    if (join_part(u) != 0)
        return LB_ERROR;
    if (u->nparts >= S3_MULTIPART_MAX_PARTS)
        return lb_error_set("s3 UploadPart s3://%s/%s: more than %d parts (raise the part size)",
                            u->bucket, u->key, S3_MULTIPART_MAX_PARTS);
    char *full = u->buf;
    u->buf = u->spare;
    u->spare = full;
    memset(&u->job, 0, sizeof(u->job));
    u->job.u = u;
    u->job.buf = full;
    u->job.len = u->nbuf;
    u->job.part = ++u->nparts;
    u->nbuf = 0;
    if (pthread_create(&u->thread, NULL, part_main, &u->job) != 0)
        return lb_error_set("s3 UploadPart: starting a thread failed");
    u->in_flight = true;
    return 0;
}

static int up_write(void *self, const void *data, size_t len)
{
    upload_stream *u = self;
    while (len > 0) {
        if (u->nbuf == u->part_size && send_part(u) != 0)
            return LB_ERROR;
        u->bytes += (int64_t)sink_fill(u->buf, &u->nbuf, u->part_size, &data, &len);
    }
    return 0;
}

static char *complete_body(const upload_stream *u)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "CompleteMultipartUpload");
    xmlChar *mem = NULL;
    int len = 0;
    char num[16];
    xmlNewNs(root, BAD_CAST "http://s3.amazonaws.com/doc/2006-03-01/", NULL);
    xmlDocSetRootElement(doc, root);
    for (int i = 0; i < u->nparts; i++) {
        xmlNodePtr part = xmlNewChild(root, NULL, BAD_CAST "Part", NULL);
        snprintf(num, sizeof(num), "%d", i + 1);
        xmlNewTextChild(part, NULL, BAD_CAST "PartNumber", BAD_CAST num);
        xmlNewTextChild(part, NULL, BAD_CAST "ETag", BAD_CAST u->etags[i]);
    }
    xmlDocDumpMemoryEnc(doc, &mem, &len, "UTF-8");
    char *out = lb_strndup((const char *)mem, (size_t)len);
    xmlFree(mem);
    xmlFreeDoc(doc);
    return out;
}

static int up_close(void *self)
{
    upload_stream *u = self;
    aws_response resp;
    xmlDocPtr doc = NULL;
    int rc;
    /* The last part (S3 lets it be smaller than 5 MiB). */
    if ((u->nbuf > 0 || u->nparts == 0) && send_part(u) != 0)
        return LB_ERROR;
    if (join_part(u) != 0)
        return LB_ERROR;
    char *qs = query(u->upload_id, 0);
    char *body = complete_body(u);
    aws_response_init(&resp);
    rc = send_call(&resp, u, "POST", qs, body, strlen(body), "application/xml");
    if (rc != 0) {
        lb_error_wrap(rc, "s3 CompleteMultipartUpload s3://%s/%s", u->bucket, u->key);
        goto done;
    }
    /* S3 can answer 200 with an Error document. */
    rc = aws_xml_parse(&doc, resp.body, resp.body_len, "s3 CompleteMultipartUpload");
    if (rc == 0 && strcmp((const char *)xmlDocGetRootElement(doc)->name, "Error") == 0) {
        char *code = aws_xml_text(xmlDocGetRootElement(doc), "Code");
        rc = lb_error_set("s3 CompleteMultipartUpload s3://%s/%s: %s", u->bucket, u->key,
                          code != NULL ? code : "InternalError");
        free(code);
    }
    if (rc == 0) {
        free(u->upload_id); /* completed: nothing left to abort */
        u->upload_id = NULL;
    }
done:
    xmlFreeDoc(doc);
    aws_response_dispose(&resp);
    free(qs);
    free(body);
    return rc;
}

agent_sink upload_stream_sink(upload_stream *u)
{
    return (agent_sink){.write = up_write, .close = up_close, .self = u};
}

void upload_abort(upload_stream *u)
{
    if (u == NULL)
        return;
    if (u->in_flight) {
        pthread_join(u->thread, NULL);
        u->in_flight = false;
        free(u->job.etag);
        u->job.etag = NULL;
    }
    if (u->upload_id == NULL)
        return;
    aws_response resp;
    char *qs = query(u->upload_id, 0);
    aws_response_init(&resp);
    if (send_call(&resp, u, "DELETE", qs, NULL, 0, NULL) != 0)
        LB_LOG_WARN("abort of the multipart upload failed", "object", u->key, "error",
                    lb_error_last());
    aws_response_dispose(&resp);
    free(qs);
    free(u->upload_id);
    u->upload_id = NULL;
}

int64_t upload_bytes(const upload_stream *u)
{
    return u->bytes;
}

int upload_parts(const upload_stream *u)
{
    return u->nparts;
}

void upload_stream_free(upload_stream *u)
{
    if (u == NULL)
        return;
    if (u->in_flight) {
        pthread_join(u->thread, NULL);
        free(u->job.etag);
    }
    for (int i = 0; i < u->nparts; i++)
        free(u->etags[i]);
    free(u->etags);
    free(u->buf);
    free(u->spare);
    free(u->path);
    free(u->bucket);
    free(u->key);
    free(u->upload_id);
    free(u);
}
