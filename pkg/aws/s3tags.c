/* aws/s3tags.c - S3 object tags (see s3tags.h). */
#include "aws/s3tags.h"

#include <libxml/tree.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "aws/xml.h"
#include "util/alloc.h"
#include "util/error.h"

#define S3TAGS_NS "http://s3.amazonaws.com/doc/2006-03-01/"

static int check_args(const char *op, const char *bucket, const char *key)
{
    if (bucket == NULL || bucket[0] == '\0')
        return lb_error_setc(LB_EINVALID, "s3 %s: bucket must not be empty", op);
    if (key == NULL || key[0] == '\0')
        return lb_error_setc(LB_EINVALID, "s3 %s: key must not be empty", op);
    return 0;
}

static char *object_path(const char *key)
{
    char *enc = aws_uri_encode(key, true);
    char *p = lb_sprintf("/%s", enc);
    free(enc);
    return p;
}

static char *tagging_body(const s3_tag *tags, size_t n)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "Tagging");
    xmlChar *mem = NULL;
    int len = 0;
    char *out;

    xmlNewNs(root, BAD_CAST S3TAGS_NS, NULL);
    xmlDocSetRootElement(doc, root);
    xmlNodePtr set = xmlNewChild(root, NULL, BAD_CAST "TagSet", NULL);
    for (size_t i = 0; i < n; i++) {
        xmlNodePtr t = xmlNewChild(set, NULL, BAD_CAST "Tag", NULL);
        xmlNewTextChild(t, NULL, BAD_CAST "Key", BAD_CAST tags[i].key);
        xmlNewTextChild(t, NULL, BAD_CAST "Value", BAD_CAST tags[i].value);
    }
    xmlDocDumpMemoryEnc(doc, &mem, &len, "UTF-8");
    out = lb_strndup((const char *)mem, (size_t)len);
    xmlFree(mem);
    xmlFreeDoc(doc);
    return out;
}

int s3_put_object_tagging(aws_client *c, const char *bucket, const char *key, const s3_tag *tags,
                          size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char md5[32];
    aws_request req;
    aws_response resp;
    int rc = check_args("PutObjectTagging", bucket, key);

    if (rc != 0)
        return rc;
    if (n > S3_TAGS_MAX)
        return lb_error_setc(LB_EINVALID, "s3 PutObjectTagging: %zu tags, at most %d", n,
                             S3_TAGS_MAX);
    char *body = tagging_body(tags, n);
    char *path = object_path(key);
    EVP_Digest(body, strlen(body), md, &mdlen, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)md5, md, (int)mdlen);
    memset(&req, 0, sizeof(req));
    req.service = "s3";
    req.method = "PUT";
    req.bucket = bucket;
    req.path = path;
    req.query = "tagging=";
    req.content_type = "application/xml";
    req.body = body;
    req.body_len = strlen(body);
    req.response_cap = S3_TAGS_MAX_RESPONSE_BYTES;
    aws_request_add_header(&req, "Content-MD5", md5);
    aws_response_init(&resp);
    rc = aws_client_send(&resp, c, &req);
    if (rc != 0)
        lb_error_wrap(rc, "s3 PutObjectTagging %s/%s", bucket, key);
    aws_response_dispose(&resp);
    free(path);
    free(body);
    return rc;
}

int s3_get_object_tagging(s3_tag_set *out, aws_client *c, const char *bucket, const char *key)
{
    aws_request req;
    aws_response resp;
    xmlDocPtr doc = NULL;
    char *path;
    int rc = check_args("GetObjectTagging", bucket, key);

    memset(out, 0, sizeof(*out));
    if (rc != 0)
        return rc;
    path = object_path(key);
    memset(&req, 0, sizeof(req));
    req.service = "s3";
    req.method = "GET";
    req.bucket = bucket;
    req.path = path;
    req.query = "tagging=";
    req.response_cap = S3_TAGS_MAX_RESPONSE_BYTES;
    aws_response_init(&resp);
    rc = aws_client_send(&resp, c, &req);
    if (rc != 0) {
        lb_error_wrap(rc, "s3 GetObjectTagging %s/%s", bucket, key);
        goto done;
    }
    rc = aws_xml_parse(&doc, resp.body, resp.body_len, "s3 GetObjectTagging");
    if (rc != 0)
        goto done;
    xmlNodePtr set = aws_xml_child(xmlDocGetRootElement(doc), "TagSet");
    for (xmlNodePtr t = aws_xml_child(set, "Tag"); t != NULL; t = aws_xml_next(t, "Tag")) {
        if (out->n >= S3_TAGS_MAX) {
            rc = lb_error_setc(LB_ETOOBIG, "s3 GetObjectTagging %s/%s: more than %d tags", bucket,
                               key, S3_TAGS_MAX);
            goto done;
        }
        char *k = aws_xml_text(t, "Key");
        char *v = aws_xml_text(t, "Value");
        out->keys[out->n] = k ? k : lb_strdup("");
        out->values[out->n] = v ? v : lb_strdup("");
        out->n++;
    }
done:
    xmlFreeDoc(doc);
    aws_response_dispose(&resp);
    free(path);
    return rc;
}

const char *s3_tag_set_get(const s3_tag_set *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->keys[i], key) == 0)
            return t->values[i];
    return NULL;
}

void s3_tag_set_dispose(s3_tag_set *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->keys[i]);
        free(t->values[i]);
    }
    memset(t, 0, sizeof(*t));
}
