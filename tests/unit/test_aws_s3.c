/* Unit tests for pkg/aws/s3 against a scripted server: requests as S3
 * expects them (paths, queries, copy-source header) and responses written
 * from the S3 API reference (ListObjectsV2, ListObjectVersions with
 * interleaved and moto-ordered Version/DeleteMarker lists, CopyObject,
 * errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aws/request.h"
#include "aws/s3.h"
#include "util/buf.h"
#include "aws/s3tags.h"
#include "util/error.h"

#include <openssl/evp.h>

#include "test_aws_httpd.h"

typedef struct fixture {
    httpd srv;
    aws_client *c;
    aws_credentials_provider *p;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    httpd_start(&f->srv);
    httpd_client(&f->c, &f->p, &f->srv, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    aws_client_free(f->c);
    aws_credentials_provider_free(f->p);
    httpd_stop(&f->srv);
    free(f);
    return 0;
}

typedef struct seen {
    char text[2048];
    int n;
} seen;

static int on_version(const s3_version *v, void *payload)
{
    seen *s = payload;
    char line[256];
    snprintf(line, sizeof(line), "%s@%s%s%s;", v->key, v->version_id,
             v->is_delete_marker ? ":marker" : "", v->is_latest ? ":latest" : "");
    strncat(s->text, line, sizeof(s->text) - strlen(s->text) - 1);
    s->n++;
    return 0;
}

static const char *versions_page1 =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListVersionsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>media</Name><Prefix>img/</Prefix><KeyMarker></KeyMarker><VersionIdMarker>"
    "</VersionIdMarker><NextKeyMarker>img/b.png</NextKeyMarker>"
    "<NextVersionIdMarker>v+b/2=</NextVersionIdMarker><MaxKeys>3</MaxKeys>"
    "<IsTruncated>true</IsTruncated>"
    "<Version><Key>img/a.png</Key><VersionId>va2</VersionId><IsLatest>false</IsLatest>"
    "<LastModified>2026-02-18T14:00:00.000Z</LastModified><ETag>\"e2\"</ETag><Size>20</Size>"
    "</Version>"
    "<DeleteMarker><Key>img/a.png</Key><VersionId>dm1</VersionId><IsLatest>true</IsLatest>"
    "<LastModified>2026-02-18T15:00:00.000Z</LastModified></DeleteMarker>"
    "<Version><Key>img/b.png</Key><VersionId>v+b/2=</VersionId><IsLatest>true</IsLatest>"
    "<LastModified>2026-02-18T14:00:00.000Z</LastModified><ETag>\"e3\"</ETag><Size>30</Size>"
    "</Version></ListVersionsResult>";

/* moto's order: every Version, then every DeleteMarker. */
static const char *versions_page2 =
    "<ListVersionsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<IsTruncated>false</IsTruncated>"
    "<Version><Key>img/c.png</Key><VersionId>vc1</VersionId><IsLatest>false</IsLatest>"
    "<ETag>\"e4\"</ETag><Size>5</Size></Version>"
    "<DeleteMarker><Key>img/c.png</Key><VersionId>dm2</VersionId><IsLatest>true</IsLatest>"
    "</DeleteMarker></ListVersionsResult>";

static void test_s3_list_object_versions_pages_and_markers(void **state)
{
    fixture *f = *state;
    s3_list_options o = {"img/", 3};
    seen s;
    int pages = 0;
    char line[512];

    memset(&s, 0, sizeof(s));
    httpd_script(&f->srv, 200, NULL, versions_page1);
    httpd_script(&f->srv, 200, NULL, versions_page2);
    assert_int_equal(s3_list_object_versions(&pages, f->c, "media", &o, on_version, &s), 0);
    assert_int_equal(pages, 2);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.text, "img/a.png@va2;img/a.png@dm1:marker:latest;"
                                "img/b.png@v+b/2=:latest;img/c.png@vc1;"
                                "img/c.png@dm2:marker:latest;");
    httpd_req_line(&f->srv, 0, line, sizeof(line));
    assert_string_equal(line, "GET /media/?max-keys=3&prefix=img%2F&versions= HTTP/1.1");
    httpd_req_line(&f->srv, 1, line, sizeof(line));
    assert_string_equal(line, "GET /media/?key-marker=img%2Fb.png&max-keys=3&prefix=img%2F&"
                              "version-id-marker=v%2Bb%2F2%3D&versions= HTTP/1.1");
}

static int on_object(const s3_object *o, void *payload)
{
    seen *s = payload;
    char line[256];
    snprintf(line, sizeof(line), "%s=%lld;", o->key, o->size);
    strncat(s->text, line, sizeof(s->text) - strlen(s->text) - 1);
    s->n++;
    return s->n == 99 ? 7 : 0;
}

static void test_s3_list_objects_v2_follows_continuation_token(void **state)
{
    fixture *f = *state;
    seen s;
    int pages = 0;
    char line[512];

    memset(&s, 0, sizeof(s));
    httpd_script(&f->srv, 200, NULL,
                 "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<Name>b</Name><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
                 "<IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYL"
                 "gveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
                 "<Contents><Key>a &amp; b.txt</Key><Size>3</Size><ETag>\"x\"</ETag></Contents>"
                 "<Contents><Key>c.txt</Key><Size>4</Size></Contents></ListBucketResult>");
    httpd_script(&f->srv, 200, NULL,
                 "<ListBucketResult><IsTruncated>false</IsTruncated>"
                 "<Contents><Key>d.txt</Key><Size>5</Size></Contents></ListBucketResult>");
    assert_int_equal(s3_list_objects_v2(&pages, f->c, "b", NULL, on_object, &s), 0);
    assert_int_equal(pages, 2);
    assert_string_equal(s.text, "a & b.txt=3;c.txt=4;d.txt=5;");
    httpd_req_line(&f->srv, 1, line, sizeof(line));
    assert_string_equal(line, "GET /b/?continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2F"
                              "wm36Hy4vbOwM%3D&list-type=2 HTTP/1.1");
}

static int on_object_fields(const s3_object *o, void *payload)
{
    seen *s = payload;
    char line[512];
    snprintf(line, sizeof(line), "%s|%lld|%s|%s|%s;", o->key, o->size, o->etag ? o->etag : "-",
             o->last_modified ? o->last_modified : "-",
             o->storage_class ? o->storage_class : "-");
    strncat(s->text, line, sizeof(s->text) - strlen(s->text) - 1);
    return 0;
}

/* Every field of a listed object as the DOM reading gave it: the first of each
 * name, CDATA and entities decoded, a Size that is not a number is 0, an absent
 * field NULL, a Contents without Key left out, elements nested in Contents (Owner)
 * or Contents below the root's children not read as the object's. */
static void test_s3_list_objects_v2_reads_each_field(void **state)
{
    fixture *f = *state;
    seen s;

    memset(&s, 0, sizeof(s));
    httpd_script(&f->srv, 200, NULL,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<Name>b</Name><IsTruncated>false</IsTruncated>\n"
                 "<Contents>\n <Key><![CDATA[x<y>]]>&amp;z</Key><Key>second</Key>"
                 "<LastModified>2026-12-04T14:00:00.000Z</LastModified>"
                 "<ETag>&quot;e1&quot;</ETag><Size>42</Size><Size>7</Size>"
                 "<Owner><ID>o</ID><Key>owner-key</Key></Owner>"
                 "<StorageClass>STANDARD</StorageClass>\n</Contents>"
                 "<Contents><Size>1</Size></Contents>"
                 "<Contents><Owner><Key>only-nested</Key></Owner><Size>2</Size></Contents>"
                 "<Contents><Key>k2</Key><Size>12x</Size></Contents>"
                 "<Wrapper><Contents><Key>nested</Key></Contents></Wrapper>"
                 "</ListBucketResult>");
    assert_int_equal(s3_list_objects_v2(NULL, f->c, "b", NULL, on_object_fields, &s), 0);
    assert_string_equal(s.text, "x<y>&z|42|\"e1\"|2026-12-04T14:00:00.000Z|STANDARD;"
                                "k2|0|-|-|-;");
}

static int count_objects(const s3_object *o, void *payload)
{
    (void)o;
    (*(int *)payload)++;
    return 0;
}

/* A full page (1,000 keys, ~190 KB, far past libxml2's 4 KB input chunks) is
 * read whole: every key reaches the callback. */
static void test_s3_list_objects_v2_reads_a_full_page(void **state)
{
    fixture *f = *state;
    lb_buf body;
    int n = 0;

    buf_init(&body, 1 << 20);
    buf_append_str(&body, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ListBucketResult "
                          "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IsTruncated>false"
                          "</IsTruncated>");
    for (int i = 0; i < 1000; i++)
        buf_printf(&body,
                   "<Contents><Key>media/p%03d/img-%05d.jpg</Key><LastModified>2026-12-04T14:"
                   "00:00.000Z</LastModified><ETag>&quot;%032d&quot;</ETag><Size>%d</Size>"
                   "<StorageClass>STANDARD</StorageClass></Contents>",
                   i / 100, i, i, 1024 + i);
    buf_append_str(&body, "</ListBucketResult>");
    httpd_script(&f->srv, 200, NULL, buf_cstr(&body));
    assert_int_equal(s3_list_objects_v2(NULL, f->c, "b", NULL, count_objects, &n), 0);
    assert_int_equal(n, 1000);
    buf_dispose(&body);
}

/* A page that is not XML fails the listing, naming the operation. */
static void test_s3_list_objects_v2_malformed_page_fails(void **state)
{
    fixture *f = *state;
    seen s;
    memset(&s, 0, sizeof(s));
    httpd_script(&f->srv, 200, NULL, "<ListBucketResult><Contents><Key>a</Key>");
    assert_int_equal(s3_list_objects_v2(NULL, f->c, "b", NULL, on_object, &s), LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "ListObjectsV2: malformed XML response"));
}

static void test_s3_truncated_listing_without_token_fails(void **state)
{
    fixture *f = *state;
    seen s;
    memset(&s, 0, sizeof(s));
    httpd_script(&f->srv, 200, NULL,
                 "<ListBucketResult><IsTruncated>true</IsTruncated>"
                 "</ListBucketResult>");
    assert_int_equal(s3_list_objects_v2(NULL, f->c, "b", NULL, on_object, &s), LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "NextContinuationToken"));
}

static void test_s3_copy_object_with_version(void **state)
{
    fixture *f = *state;
    s3_object_info info;
    char hdr[256], line[256];

    /* HeadObject of the source first: its size picks single or multipart. */
    httpd_script(&f->srv, 200, "x-amz-version-id: old v\r\n", "small body");
    httpd_script(&f->srv, 200, "x-amz-version-id: newv\r\nx-amz-copy-source-version-id: old v\r\n",
                 "<CopyObjectResult><LastModified>2026-02-18T14:30:00.000Z</LastModified>"
                 "<ETag>\"9b2cf535f27731c974343645a3985328\"</ETag></CopyObjectResult>");
    assert_int_equal(s3_copy_object(&info, f->c, "dst", "k/x y", "src", "k/x y", "old v"), 0);
    assert_string_equal(info.version_id, "newv");
    assert_string_equal(info.etag, "\"9b2cf535f27731c974343645a3985328\"");
    httpd_req_line(&f->srv, 0, line, sizeof(line));
    assert_string_equal(line, "HEAD /src/k/x%20y?versionId=old%20v HTTP/1.1");
    httpd_req_header(&f->srv, 1, "x-amz-copy-source", hdr, sizeof(hdr));
    assert_string_equal(hdr, "/src/k/x%20y?versionId=old%20v");
    httpd_req_line(&f->srv, 1, line, sizeof(line));
    assert_string_equal(line, "PUT /dst/k/x%20y HTTP/1.1");
    assert_int_equal(f->srv.nrequests, 2);
    s3_object_info_dispose(&info);
}

static void test_s3_copy_object_error_inside_200(void **state)
{
    fixture *f = *state;
    s3_object_info info;
    httpd_script(&f->srv, 200, NULL, "x");
    httpd_script(&f->srv, 200, NULL,
                 "<Error><Code>InternalError</Code><Message>We encountered an internal error. "
                 "Please try again.</Message></Error>");
    assert_int_equal(s3_copy_object(&info, f->c, "dst", "k", "src", "k", NULL), LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "InternalError: We encountered"));
}

/* A 500 after the copy may have landed: not re-sent, LB_EAMBIGUOUS. */
static void test_s3_copy_object_500_is_ambiguous_and_not_resent(void **state)
{
    fixture *f = *state;
    s3_object_info info;
    aws_client *c;
    aws_credentials_provider *p;
    s3_copy_options o = {0, 0, 0, 10, NULL};

    httpd_client(&c, &p, &f->srv, 5);
    httpd_script(&f->srv, 500, NULL,
                 "<Error><Code>InternalError</Code><Message>injected</Message></Error>");
    httpd_script(&f->srv, 200, NULL,
                 "<CopyObjectResult><ETag>\"e\"</ETag></CopyObjectResult>");
    assert_int_equal(s3_copy_object_ex(&info, NULL, c, "dst", "k", "src", "k", NULL, &o),
                     LB_EAMBIGUOUS);
    assert_int_equal(f->srv.nrequests, 1); /* the listed size: no HEAD, and no second PUT */
    s3_object_info_dispose(&info);
    aws_client_free(c);
    aws_credentials_provider_free(p);
}

#define MIB (1024 * 1024)

/* A HEAD answer whose Content-Length is `size` (the scripted server sends
 * the length of the body it would have sent). */
static char *head_body(size_t size)
{
    char *b = malloc(size + 1);
    memset(b, 'x', size);
    b[size] = '\0';
    return b;
}

static void test_s3_copy_object_above_threshold_uses_upload_part_copy(void **state)
{
    fixture *f = *state;
    s3_copy_options o = {1 * MIB, 5 * MIB, 1, 0, NULL};
    s3_object_info info;
    char *head = head_body(12 * MIB);
    char line[256], hdr[256];
    const char *complete;
    int parts = 0;

    httpd_script(&f->srv, 200, "Content-Type: application/gzip\r\nx-amz-version-id: sv1\r\n", head);
    httpd_script(&f->srv, 200, NULL,
                 "<InitiateMultipartUploadResult><Bucket>dst</Bucket><Key>big.gz</Key>"
                 "<UploadId>up/1+</UploadId></InitiateMultipartUploadResult>");
    httpd_script(&f->srv, 200, NULL,
                 "<CopyPartResult><LastModified>2026-02-18T14:30:00.000Z</LastModified>"
                 "<ETag>\"c1\"</ETag></CopyPartResult>");
    httpd_script(&f->srv, 200, NULL, "<CopyPartResult><ETag>\"c2\"</ETag></CopyPartResult>");
    httpd_script(&f->srv, 200, NULL, "<CopyPartResult><ETag>\"c3\"</ETag></CopyPartResult>");
    httpd_script(&f->srv, 200, "x-amz-version-id: dv9\r\n",
                 "<CompleteMultipartUploadResult><Bucket>dst</Bucket><Key>big.gz</Key>"
                 "<ETag>\"aa-3\"</ETag></CompleteMultipartUploadResult>");
    assert_int_equal(
        s3_copy_object_ex(&info, &parts, f->c, "dst", "big.gz", "src", "db/big.gz", "sv1", &o), 0);
    free(head);
    assert_int_equal(parts, 3);
    assert_string_equal(info.etag, "\"aa-3\"");
    assert_string_equal(info.version_id, "dv9");
    assert_int_equal(info.size, 12 * MIB);
    assert_int_equal(f->srv.nrequests, 6);
    httpd_req_line(&f->srv, 1, line, sizeof(line));
    assert_string_equal(line, "POST /dst/big.gz?uploads= HTTP/1.1");
    httpd_req_header(&f->srv, 1, "Content-Type", hdr, sizeof(hdr));
    assert_string_equal(hdr, "application/gzip"); /* the source's */
    const char *ranges[] = {"bytes=0-5242879", "bytes=5242880-10485759", "bytes=10485760-12582911"};
    for (int p = 0; p < 3; p++) {
        char want[128];
        snprintf(want, sizeof(want), "PUT /dst/big.gz?partNumber=%d&uploadId=up%%2F1%%2B HTTP/1.1",
                 p + 1);
        httpd_req_line(&f->srv, 2 + p, line, sizeof(line));
        assert_string_equal(line, want);
        httpd_req_header(&f->srv, 2 + p, "x-amz-copy-source", hdr, sizeof(hdr));
        assert_string_equal(hdr, "/src/db/big.gz?versionId=sv1");
        httpd_req_header(&f->srv, 2 + p, "x-amz-copy-source-range", hdr, sizeof(hdr));
        assert_string_equal(hdr, ranges[p]);
        assert_string_equal(httpd_req_body(&f->srv, 2 + p), "");
    }
    complete = httpd_req_body(&f->srv, 5);
    assert_non_null(strstr(complete, "<Part><PartNumber>1</PartNumber><ETag>\"c1\"</ETag></Part>"
                                     "<Part><PartNumber>2</PartNumber><ETag>\"c2\"</ETag></Part>"
                                     "<Part><PartNumber>3</PartNumber><ETag>\"c3\"</ETag></Part>"));
    s3_object_info_dispose(&info);
}

static void test_s3_copy_object_at_threshold_stays_single(void **state)
{
    fixture *f = *state;
    s3_copy_options o = {1 * MIB, 0, 0, 0, NULL};
    s3_object_info info;
    char *head = head_body(1 * MIB);
    char line[256];
    int parts = -1;

    httpd_script(&f->srv, 200, NULL, head);
    httpd_script(&f->srv, 200, NULL, "<CopyObjectResult><ETag>\"e\"</ETag></CopyObjectResult>");
    assert_int_equal(s3_copy_object_ex(&info, &parts, f->c, "dst", "k", "src", "k", NULL, &o), 0);
    free(head);
    assert_int_equal(parts, 0);
    assert_int_equal(f->srv.nrequests, 2);
    httpd_req_line(&f->srv, 1, line, sizeof(line));
    assert_string_equal(line, "PUT /dst/k HTTP/1.1");
    s3_object_info_dispose(&info);
}

static void test_s3_copy_part_error_aborts_upload(void **state)
{
    fixture *f = *state;
    s3_copy_options o = {1 * MIB, 5 * MIB, 1, 0, NULL};
    s3_object_info info;
    char *head = head_body(11 * MIB);
    char line[256];

    httpd_script(&f->srv, 200, NULL, head);
    httpd_script(&f->srv, 200, NULL,
                 "<InitiateMultipartUploadResult><UploadId>u9</UploadId>"
                 "</InitiateMultipartUploadResult>");
    httpd_script(&f->srv, 200, NULL, "<CopyPartResult><ETag>\"c1\"</ETag></CopyPartResult>");
    httpd_script(&f->srv, 200, NULL,
                 "<Error><Code>SlowDown</Code><Message>Please reduce your request rate."
                 "</Message></Error>");
    httpd_script(&f->srv, 204, NULL, NULL);
    assert_int_equal(s3_copy_object_ex(&info, NULL, f->c, "dst", "k", "src", "k", NULL, &o),
                     LB_ERROR);
    free(head);
    assert_non_null(strstr(lb_error_last(), "UploadPartCopy s3://dst/k part 2: SlowDown: Please "
                                            "reduce your request rate."));
    assert_non_null(strstr(lb_error_last(), "upload aborted"));
    assert_int_equal(f->srv.nrequests, 5); /* part 3 never sent, never completed */
    httpd_req_line(&f->srv, 4, line, sizeof(line));
    assert_string_equal(line, "DELETE /dst/k?uploadId=u9 HTTP/1.1");
}

static void test_s3_copy_rejects_bad_options(void **state)
{
    fixture *f = *state;
    s3_copy_options too_big = {6LL * 1024 * MIB, 0, 0, 0, NULL};
    s3_copy_options small_part = {0, 1 * MIB, 0, 0, NULL};
    s3_object_info info;
    assert_int_equal(s3_copy_object_ex(&info, NULL, f->c, "d", "k", "s", "k", NULL, &too_big),
                     LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "multipart_threshold"));
    assert_int_equal(s3_copy_object_ex(&info, NULL, f->c, "d", "k", "s", "k", NULL, &small_part),
                     LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "part_size"));
    assert_int_equal(f->srv.nrequests, 0);
}

static void test_s3_copy_missing_source_is_not_found(void **state)
{
    fixture *f = *state;
    s3_object_info info;
    httpd_script(&f->srv, 404, NULL, NULL);
    assert_int_equal(s3_copy_object(&info, f->c, "d", "k", "s", "gone", NULL), LB_ENOTFOUND);
    assert_non_null(strstr(lb_error_last(), "s3 CopyObject (source)"));
    assert_non_null(strstr(lb_error_last(), "s3://s/gone"));
    assert_int_equal(f->srv.nrequests, 1);
}

static void md5_b64(char out[32], const char *data)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, strlen(data), md, &n, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)n);
}

static void test_s3_delete_objects_quiet_reports_per_key_errors(void **state)
{
    fixture *f = *state;
    s3_object_id objs[] = {{"logs/a&b.txt", NULL}, {"locked.bin", "v2"}, {"c.txt", "v3"}};
    s3_delete_result r;
    char line[256], md5[64], want[32];
    const char *body;

    httpd_script(&f->srv, 200, NULL,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<Error><Key>locked.bin</Key><VersionId>v2</VersionId><Code>AccessDenied</Code>"
                 "<Message>Access Denied because object protected by object lock.</Message>"
                 "</Error></DeleteResult>");
    assert_int_equal(s3_delete_objects(&r, f->c, "media", objs, 3, true), LB_ERROR);
    assert_string_equal(lb_error_last(),
                        "s3 DeleteObjects media: 1 of 3 keys not deleted; first: locked.bin@v2: "
                        "AccessDenied: Access Denied because object protected by object lock.");
    assert_int_equal(r.deleted, 2);
    assert_int_equal(r.nerrors, 1);
    assert_string_equal(r.errors[0].key, "locked.bin");
    assert_string_equal(r.errors[0].version_id, "v2");
    assert_string_equal(r.errors[0].code, "AccessDenied");
    httpd_req_line(&f->srv, 0, line, sizeof(line));
    assert_string_equal(line, "POST /media/?delete= HTTP/1.1");
    body = httpd_req_body(&f->srv, 0);
    assert_non_null(strstr(body, "<Quiet>true</Quiet>"));
    assert_non_null(strstr(body, "<Object><Key>logs/a&amp;b.txt</Key></Object>"));
    assert_non_null(
        strstr(body, "<Object><Key>locked.bin</Key><VersionId>v2</VersionId></Object>"));
    httpd_req_header(&f->srv, 0, "Content-MD5", md5, sizeof(md5));
    md5_b64(want, body);
    assert_string_equal(md5, want);
    httpd_req_header(&f->srv, 0, "Content-Type", md5, sizeof(md5));
    assert_string_equal(md5, "application/xml");
    s3_delete_result_dispose(&r);
}

static void test_s3_delete_objects_verbose_counts_deleted(void **state)
{
    fixture *f = *state;
    s3_object_id objs[] = {{"a", NULL}, {"b", NULL}};
    s3_delete_result r;

    httpd_script(&f->srv, 200, NULL,
                 "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<Deleted><Key>a</Key></Deleted>"
                 "<Deleted><Key>b</Key><DeleteMarker>true</DeleteMarker>"
                 "<DeleteMarkerVersionId>dm7</DeleteMarkerVersionId></Deleted>"
                 "</DeleteResult>");
    assert_int_equal(s3_delete_objects(&r, f->c, "media", objs, 2, false), 0);
    assert_int_equal(r.deleted, 2);
    assert_int_equal(r.nerrors, 0);
    assert_non_null(strstr(httpd_req_body(&f->srv, 0), "<Quiet>false</Quiet>"));
    s3_delete_result_dispose(&r);
}

static void test_s3_delete_objects_batches_by_1000(void **state)
{
    fixture *f = *state;
    enum { N = 1001 };
    s3_object_id *objs = calloc(N, sizeof(*objs));
    char(*keys)[16] = calloc(N, sizeof(*keys));
    s3_delete_result r;
    const char *p;
    int count = 0;

    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%04d", i);
        objs[i].key = keys[i];
    }
    httpd_script(&f->srv, 200, NULL, "<DeleteResult/>");
    httpd_script(&f->srv, 200, NULL, "<DeleteResult/>");
    assert_int_equal(s3_delete_objects(&r, f->c, "b", objs, N, true), 0);
    assert_int_equal(r.deleted, N);
    assert_int_equal(f->srv.nrequests, 2);
    for (p = httpd_req_body(&f->srv, 0); (p = strstr(p, "<Object>")) != NULL; p++)
        count++;
    assert_int_equal(count, 1000);
    assert_non_null(strstr(httpd_req_body(&f->srv, 1), "<Object><Key>k1000</Key></Object>"));
    assert_null(strstr(httpd_req_body(&f->srv, 1), "k0999"));
    s3_delete_result_dispose(&r);
    free(objs);
    free(keys);
}

static void test_s3_delete_objects_request_error(void **state)
{
    fixture *f = *state;
    s3_object_id objs[] = {{"a", NULL}};
    s3_delete_result r;
    httpd_script(&f->srv, 400, NULL,
                 "<Error><Code>InvalidDigest</Code><Message>The Content-MD5 you specified was "
                 "invalid.</Message></Error>");
    assert_int_equal(s3_delete_objects(&r, f->c, "b", objs, 1, true), LB_EINVALID);
    assert_string_equal(lb_error_last(), "s3 DeleteObjects b: InvalidDigest: The Content-MD5 you "
                                         "specified was invalid.");
    assert_int_equal(r.deleted, 0);
    s3_delete_result_dispose(&r);
}

static void test_s3_get_bucket_replication(void **state)
{
    fixture *f = *state;
    s3_replication rep;
    char line[256];

    httpd_script(&f->srv, 200, NULL,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<ReplicationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<Role>arn:aws:iam::123456789012:role/s3-replication</Role>"
                 "<Rule><ID>media-to-dr</ID><Priority>1</Priority><Status>Enabled</Status>"
                 "<Filter><Prefix>products/</Prefix></Filter>"
                 "<Destination><Bucket>arn:aws:s3:::shop-media-replica</Bucket>"
                 "<StorageClass>STANDARD_IA</StorageClass></Destination>"
                 "<DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication>"
                 "</Rule>"
                 "<Rule><ID>legacy</ID><Status>Disabled</Status><Prefix>old/</Prefix>"
                 "<Destination><Bucket>arn:aws:s3:::archive</Bucket></Destination></Rule>"
                 "</ReplicationConfiguration>");
    httpd_script(&f->srv, 404, NULL,
                 "<Error><Code>ReplicationConfigurationNotFoundError</Code><Message>The "
                 "replication configuration was not found</Message><BucketName>plain"
                 "</BucketName></Error>");
    assert_int_equal(s3_get_bucket_replication(&rep, f->c, "shop-media"), 0);
    httpd_req_line(&f->srv, 0, line, sizeof(line));
    assert_string_equal(line, "GET /shop-media/?replication= HTTP/1.1");
    assert_string_equal(rep.role, "arn:aws:iam::123456789012:role/s3-replication");
    assert_int_equal(rep.nrules, 2);
    assert_string_equal(rep.rules[0].id, "media-to-dr");
    assert_string_equal(rep.rules[0].status, "Enabled");
    assert_int_equal(rep.rules[0].priority, 1);
    assert_string_equal(rep.rules[0].prefix, "products/");
    assert_string_equal(rep.rules[0].destination_bucket, "arn:aws:s3:::shop-media-replica");
    assert_string_equal(rep.rules[0].destination_storage_class, "STANDARD_IA");
    assert_true(rep.rules[0].delete_marker_replication);
    assert_string_equal(rep.rules[1].status, "Disabled");
    assert_int_equal(rep.rules[1].priority, -1);
    assert_string_equal(rep.rules[1].prefix, "old/");
    assert_null(rep.rules[1].destination_storage_class);
    assert_false(rep.rules[1].delete_marker_replication);
    s3_replication_dispose(&rep);
    assert_int_equal(s3_get_bucket_replication(&rep, f->c, "plain"), LB_ENOTFOUND);
    assert_string_equal(lb_error_last(),
                        "s3 GetBucketReplication plain: ReplicationConfigurationNotFoundError: "
                        "The replication configuration was not found");
}

static void test_s3_get_bucket_lifecycle_configuration(void **state)
{
    fixture *f = *state;
    s3_lifecycle lc;
    char line[256];

    httpd_script(&f->srv, 200, NULL,
                 "<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<Rule><ID>expire-backups</ID><Filter><And><Prefix>backups/</Prefix>"
                 "<Tag><Key>tier</Key><Value>db</Value></Tag></And></Filter>"
                 "<Status>Enabled</Status>"
                 "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>"
                 "<Expiration><Days>35</Days></Expiration>"
                 "<NoncurrentVersionTransition><NoncurrentDays>7</NoncurrentDays>"
                 "<StorageClass>STANDARD_IA</StorageClass></NoncurrentVersionTransition>"
                 "<NoncurrentVersionExpiration><NoncurrentDays>90</NoncurrentDays>"
                 "<NewerNoncurrentVersions>3</NewerNoncurrentVersions>"
                 "</NoncurrentVersionExpiration>"
                 "<AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation>"
                 "</AbortIncompleteMultipartUpload></Rule>"
                 "<Rule><ID>markers</ID><Filter><Prefix></Prefix></Filter>"
                 "<Status>Disabled</Status><Expiration><ExpiredObjectDeleteMarker>true"
                 "</ExpiredObjectDeleteMarker></Expiration></Rule>"
                 "<Rule><ID>dated</ID><Prefix>tmp/</Prefix><Status>Enabled</Status>"
                 "<Expiration><Date>2027-01-01T00:00:00.000Z</Date></Expiration></Rule>"
                 "</LifecycleConfiguration>");
    httpd_script(&f->srv, 404, NULL,
                 "<Error><Code>NoSuchLifecycleConfiguration</Code><Message>The lifecycle "
                 "configuration does not exist</Message></Error>");
    assert_int_equal(s3_get_bucket_lifecycle_configuration(&lc, f->c, "backups"), 0);
    httpd_req_line(&f->srv, 0, line, sizeof(line));
    assert_string_equal(line, "GET /backups/?lifecycle= HTTP/1.1");
    assert_int_equal(lc.nrules, 3);
    assert_string_equal(lc.rules[0].id, "expire-backups");
    assert_string_equal(lc.rules[0].status, "Enabled");
    assert_string_equal(lc.rules[0].prefix, "backups/");
    assert_int_equal(lc.rules[0].expiration_days, 35);
    assert_null(lc.rules[0].expiration_date);
    assert_int_equal(lc.rules[0].noncurrent_expiration_days, 90);
    assert_int_equal(lc.rules[0].newer_noncurrent_versions, 3);
    assert_int_equal(lc.rules[0].abort_incomplete_multipart_days, 7);
    assert_int_equal(lc.rules[0].ntransitions, 2);
    assert_string_equal(lc.rules[1].status, "Disabled");
    assert_string_equal(lc.rules[1].prefix, "");
    assert_int_equal(lc.rules[1].expiration_days, -1);
    assert_true(lc.rules[1].expired_object_delete_marker);
    assert_int_equal(lc.rules[1].noncurrent_expiration_days, -1);
    assert_string_equal(lc.rules[2].prefix, "tmp/");
    assert_string_equal(lc.rules[2].expiration_date, "2027-01-01T00:00:00.000Z");
    assert_int_equal(lc.rules[2].abort_incomplete_multipart_days, -1);
    s3_lifecycle_dispose(&lc);
    assert_int_equal(s3_get_bucket_lifecycle_configuration(&lc, f->c, "plain"), LB_ENOTFOUND);
    assert_string_equal(lb_error_last(), "s3 GetBucketLifecycleConfiguration plain: "
                                         "NoSuchLifecycleConfiguration: The lifecycle "
                                         "configuration does not exist");
}

static void test_s3_lifecycle_malformed_is_an_error(void **state)
{
    s3_lifecycle lc;
    (void)state;
    assert_int_equal(s3_parse_lifecycle(&lc, "<LifecycleConfiguration><Rule>", 31), LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "malformed XML"));
    assert_int_equal(lc.nrules, 0);
}

static void test_s3_head_missing_is_not_found(void **state)
{
    fixture *f = *state;
    s3_object_info info;
    httpd_script(&f->srv, 404, NULL, NULL);
    assert_int_equal(s3_head_object(&info, f->c, "b", "gone", NULL), LB_ENOTFOUND);
    assert_non_null(strstr(lb_error_last(), "NotFound"));
    assert_non_null(strstr(lb_error_last(), "s3://b/gone"));
}

static void test_s3_get_missing_key_message(void **state)
{
    fixture *f = *state;
    httpd_script(&f->srv, 404, NULL,
                 "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist."
                 "</Message><Key>k</Key></Error>");
    assert_int_equal(s3_get_object(NULL, f->c, "b", "k", NULL, NULL, NULL, NULL), LB_ENOTFOUND);
    assert_string_equal(lb_error_last(),
                        "s3 GetObject s3://b/k: NoSuchKey: The specified key does not exist.");
}

static int collect(const char *data, size_t len, void *payload)
{
    strncat(payload, data, len);
    return 0;
}

static void test_s3_get_object_streams_with_version_and_range(void **state)
{
    fixture *f = *state;
    s3_object_info info;
    char got[64] = "";
    char line[256], range[64];

    httpd_script(&f->srv, 206, "x-amz-version-id: v1\r\nETag: \"e\"\r\n", "0123");
    assert_int_equal(s3_get_object(&info, f->c, "b", "dir/k", "v1", "bytes=0-3", collect, got), 0);
    assert_string_equal(got, "0123");
    assert_string_equal(info.version_id, "v1");
    assert_int_equal(info.size, 4);
    httpd_req_line(&f->srv, 0, line, sizeof(line));
    assert_string_equal(line, "GET /b/dir/k?versionId=v1 HTTP/1.1");
    httpd_req_header(&f->srv, 0, "Range", range, sizeof(range));
    assert_string_equal(range, "bytes=0-3");
    s3_object_info_dispose(&info);
}

static void test_s3_put_object_signs_payload_hash(void **state)
{
    fixture *f = *state;
    s3_object_info info;
    char h[128], ct[128];

    httpd_script(&f->srv, 200, "ETag: \"5d41402abc4b2a76b9719d911017c592\"\r\n", "");
    assert_int_equal(s3_put_object(&info, f->c, "b", "k", "text/plain", "hello", 5), 0);
    httpd_req_header(&f->srv, 0, "x-amz-content-sha256", h, sizeof(h));
    assert_string_equal(h, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    httpd_req_header(&f->srv, 0, "Content-Type", ct, sizeof(ct));
    assert_string_equal(ct, "text/plain");
    assert_string_equal(httpd_req_body(&f->srv, 0), "hello");
    assert_string_equal(info.etag, "\"5d41402abc4b2a76b9719d911017c592\"");
    s3_object_info_dispose(&info);
}

static void test_s3_delete_version_reports_marker(void **state)
{
    fixture *f = *state;
    s3_object_info info;
    char line[256];
    httpd_script(&f->srv, 204, "x-amz-delete-marker: true\r\nx-amz-version-id: dm1\r\n", NULL);
    assert_int_equal(s3_delete_object(&info, f->c, "b", "k", "dm1"), 0);
    assert_true(info.delete_marker);
    assert_string_equal(info.version_id, "dm1");
    httpd_req_line(&f->srv, 0, line, sizeof(line));
    assert_string_equal(line, "DELETE /b/k?versionId=dm1 HTTP/1.1");
    s3_object_info_dispose(&info);
}

static void test_s3_rejects_empty_key(void **state)
{
    fixture *f = *state;
    s3_object_info info;
    assert_int_equal(s3_head_object(&info, f->c, "b", "", NULL), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "key"));
    assert_int_equal(f->srv.nrequests, 0);
}

static void test_s3_get_bucket_versioning(void **state)
{
    fixture *f = *state;
    char *status = NULL;
    char line[128];
    httpd_script(&f->srv, 200, NULL,
                 "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<Status>Enabled</Status></VersioningConfiguration>");
    httpd_script(&f->srv, 200, NULL,
                 "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>");
    assert_int_equal(s3_get_bucket_versioning(&status, f->c, "media"), 0);
    assert_string_equal(status, "Enabled");
    free(status);
    httpd_req_line(&f->srv, 0, line, sizeof(line));
    assert_string_equal(line, "GET /media/?versioning= HTTP/1.1");
    assert_int_equal(s3_get_bucket_versioning(&status, f->c, "media"), 0);
    assert_string_equal(status, "");
    free(status);
}

static long pread_mem(char *buf, size_t len, int64_t offset, void *payload)
{
    size_t total = 11u * 1024 * 1024; /* a repeating a..z pattern */
    size_t n = (size_t)offset + len > total ? total - (size_t)offset : len;
    (void)payload;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + ((size_t)offset + i) % 26);
    return (long)n;
}

static void test_s3_multipart_upload_parts_and_complete(void **state)
{
    fixture *f = *state;
    s3_multipart_options o = {5u * 1024 * 1024, 1, "application/gzip"};
    s3_object_info info;
    int parts = 0;
    char line[256], ct[64];
    const char *complete;

    httpd_script(&f->srv, 200, NULL,
                 "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>big.gz</Key>"
                 "<UploadId>VXBsb2FkIElE+/=</UploadId></InitiateMultipartUploadResult>");
    httpd_script(&f->srv, 200, "ETag: \"p1\"\r\n", "");
    httpd_script(&f->srv, 200, "ETag: \"p2\"\r\n", "");
    httpd_script(&f->srv, 200, "ETag: \"p3\"\r\n", "");
    httpd_script(&f->srv, 200, "x-amz-version-id: v9\r\n",
                 "<CompleteMultipartUploadResult><Location>x</Location><Bucket>b</Bucket>"
                 "<Key>big.gz</Key><ETag>\"3858f62230ac3c915f300c664312c11f-3\"</ETag>"
                 "</CompleteMultipartUploadResult>");
    assert_int_equal(s3_upload_multipart(&info, &parts, f->c, "b", "big.gz", 11 * 1024 * 1024,
                                         pread_mem, NULL, &o),
                     0);
    assert_int_equal(parts, 3);
    assert_string_equal(info.etag, "\"3858f62230ac3c915f300c664312c11f-3\"");
    assert_string_equal(info.version_id, "v9");
    httpd_req_line(&f->srv, 0, line, sizeof(line));
    assert_string_equal(line, "POST /b/big.gz?uploads= HTTP/1.1");
    httpd_req_header(&f->srv, 0, "Content-Type", ct, sizeof(ct));
    assert_string_equal(ct, "application/gzip");
    httpd_req_line(&f->srv, 3, line, sizeof(line));
    assert_string_equal(line, "PUT /b/big.gz?partNumber=3&uploadId=VXBsb2FkIElE%2B%2F%3D HTTP/1.1");
    httpd_req_header(&f->srv, 3, "Content-Length", ct, sizeof(ct));
    assert_string_equal(ct, "1048576");
    httpd_req_line(&f->srv, 4, line, sizeof(line));
    assert_string_equal(line, "POST /b/big.gz?uploadId=VXBsb2FkIElE%2B%2F%3D HTTP/1.1");
    complete = httpd_req_body(&f->srv, 4);
    assert_non_null(strstr(complete, "<Part><PartNumber>1</PartNumber><ETag>\"p1\"</ETag></Part>"
                                     "<Part><PartNumber>2</PartNumber><ETag>\"p2\"</ETag></Part>"
                                     "<Part><PartNumber>3</PartNumber><ETag>\"p3\"</ETag></Part>"
                                     "</CompleteMultipartUpload>"));
    s3_object_info_dispose(&info);
}

static void test_s3_multipart_failure_aborts_upload(void **state)
{
    fixture *f = *state;
    s3_multipart_options o = {5u * 1024 * 1024, 1, NULL};
    char line[256];
    int saw_abort = 0;

    /* One part in flight keeps the order of the scripted answers fixed. */
    httpd_script(&f->srv, 200, NULL,
                 "<InitiateMultipartUploadResult><UploadId>u1</UploadId>"
                 "</InitiateMultipartUploadResult>");
    httpd_script(&f->srv, 200, "ETag: \"p1\"\r\n", "");
    httpd_script(&f->srv, 403, NULL,
                 "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
    httpd_script(&f->srv, 204, NULL, NULL);
    assert_int_equal(
        s3_upload_multipart(NULL, NULL, f->c, "b", "k", 11 * 1024 * 1024, pread_mem, NULL, &o),
        LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "AccessDenied: Access Denied"));
    assert_non_null(strstr(lb_error_last(), "upload aborted"));
    for (int i = 0; i < f->srv.nrequests; i++) {
        httpd_req_line(&f->srv, i, line, sizeof(line));
        if (strcmp(line, "DELETE /b/k?uploadId=u1 HTTP/1.1") == 0)
            saw_abort++;
        assert_null(strstr(line, "POST /b/k?uploadId=")); /* never completed */
    }
    assert_int_equal(saw_abort, 1);
    assert_int_equal(f->srv.nrequests, 4); /* part 3 was never sent */
}

static void test_s3_multipart_rejects_small_parts(void **state)
{
    fixture *f = *state;
    s3_multipart_options o = {1024, 1, NULL};
    assert_int_equal(s3_upload_multipart(NULL, NULL, f->c, "b", "k", 4096, pread_mem, NULL, &o),
                     LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "part size"));
    assert_int_equal(f->srv.nrequests, 0);
}

static void test_s3_put_object_tagging_body_and_md5(void **state)
{
    fixture *f = *state;
    s3_tag tags[] = {{"lifeboat.dev/uid", "u-1"}, {"a&b", "<v>"}};
    char line[256], md5[64], want[32];
    const char *body;

    httpd_script(&f->srv, 200, NULL, NULL);
    assert_int_equal(s3_put_object_tagging(f->c, "media", "pg/x y.dump", tags, 2), 0);
    httpd_req_line(&f->srv, 0, line, sizeof(line));
    assert_string_equal(line, "PUT /media/pg/x%20y.dump?tagging= HTTP/1.1");
    body = httpd_req_body(&f->srv, 0);
    assert_non_null(strstr(body, "<TagSet><Tag><Key>lifeboat.dev/uid</Key><Value>u-1</Value>"
                                 "</Tag><Tag><Key>a&amp;b</Key><Value>&lt;v&gt;</Value></Tag>"
                                 "</TagSet>"));
    httpd_req_header(&f->srv, 0, "Content-MD5", md5, sizeof(md5));
    md5_b64(want, body);
    assert_string_equal(md5, want);
}

static void test_s3_put_object_tagging_rejects_bad_arguments(void **state)
{
    fixture *f = *state;
    s3_tag tags[S3_TAGS_MAX + 1];
    for (int i = 0; i <= S3_TAGS_MAX; i++)
        tags[i] = (s3_tag){"k", "v"};
    assert_int_equal(s3_put_object_tagging(f->c, "media", "k", tags, S3_TAGS_MAX + 1),
                     LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "at most 10"));
    assert_int_equal(s3_put_object_tagging(f->c, "media", "", tags, 1), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "key must not be empty"));
    assert_int_equal(f->srv.nrequests, 0);
}

static void test_s3_get_object_tagging_parses_the_tag_set(void **state)
{
    fixture *f = *state;
    s3_tag_set t;
    char line[256];

    httpd_script(&f->srv, 200, NULL,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>"
                 "<Tag><Key>lifeboat.dev/uid</Key><Value>u-1</Value></Tag>"
                 "<Tag><Key>empty</Key><Value></Value></Tag>"
                 "</TagSet></Tagging>");
    assert_int_equal(s3_get_object_tagging(&t, f->c, "media", "k.rdb"), 0);
    httpd_req_line(&f->srv, 0, line, sizeof(line));
    assert_string_equal(line, "GET /media/k.rdb?tagging= HTTP/1.1");
    assert_int_equal(t.n, 2);
    assert_string_equal(s3_tag_set_get(&t, "lifeboat.dev/uid"), "u-1");
    assert_string_equal(s3_tag_set_get(&t, "empty"), "");
    assert_null(s3_tag_set_get(&t, "lifeboat.dev/target"));
    s3_tag_set_dispose(&t);
}

static void test_s3_get_object_tagging_missing_and_too_many(void **state)
{
    fixture *f = *state;
    s3_tag_set t;
    char body[2048];
    size_t off;

    httpd_script(&f->srv, 404, NULL,
                 "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist."
                 "</Message></Error>");
    assert_int_equal(s3_get_object_tagging(&t, f->c, "media", "gone"), LB_ENOTFOUND);
    s3_tag_set_dispose(&t);
    off = (size_t)snprintf(body, sizeof(body), "<Tagging><TagSet>");
    for (int i = 0; i <= S3_TAGS_MAX; i++)
        off += (size_t)snprintf(body + off, sizeof(body) - off,
                                "<Tag><Key>k%d</Key><Value>v</Value></Tag>", i);
    snprintf(body + off, sizeof(body) - off, "</TagSet></Tagging>");
    httpd_script(&f->srv, 200, NULL, body);
    assert_int_equal(s3_get_object_tagging(&t, f->c, "media", "k"), LB_ETOOBIG);
    s3_tag_set_dispose(&t);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_s3_list_object_versions_pages_and_markers),
        T(test_s3_list_objects_v2_follows_continuation_token),
        T(test_s3_list_objects_v2_reads_each_field),
        T(test_s3_list_objects_v2_malformed_page_fails),
        T(test_s3_list_objects_v2_reads_a_full_page),
        T(test_s3_truncated_listing_without_token_fails),
        T(test_s3_copy_object_with_version),
        T(test_s3_copy_object_error_inside_200),
        T(test_s3_copy_object_500_is_ambiguous_and_not_resent),
        T(test_s3_head_missing_is_not_found),
        T(test_s3_get_missing_key_message),
        T(test_s3_get_object_streams_with_version_and_range),
        T(test_s3_put_object_signs_payload_hash),
        T(test_s3_delete_version_reports_marker),
        T(test_s3_rejects_empty_key),
        T(test_s3_get_bucket_versioning),
        T(test_s3_multipart_upload_parts_and_complete),
        T(test_s3_multipart_failure_aborts_upload),
        T(test_s3_multipart_rejects_small_parts),
        T(test_s3_copy_object_above_threshold_uses_upload_part_copy),
        T(test_s3_copy_object_at_threshold_stays_single),
        T(test_s3_copy_part_error_aborts_upload),
        T(test_s3_copy_rejects_bad_options),
        T(test_s3_copy_missing_source_is_not_found),
        T(test_s3_delete_objects_quiet_reports_per_key_errors),
        T(test_s3_delete_objects_verbose_counts_deleted),
        T(test_s3_delete_objects_batches_by_1000),
        T(test_s3_delete_objects_request_error),
        T(test_s3_get_bucket_replication),
        T(test_s3_get_bucket_lifecycle_configuration),
        T(test_s3_lifecycle_malformed_is_an_error),
        T(test_s3_put_object_tagging_body_and_md5),
        T(test_s3_put_object_tagging_rejects_bad_arguments),
        T(test_s3_get_object_tagging_parses_the_tag_set),
        T(test_s3_get_object_tagging_missing_and_too_many),
    };
    return cmocka_run_group_tests_name("aws_s3", tests, NULL, NULL);
}
