/* aws_cli - a small driver over pkg/aws for the e2e suite
 * (e2e/awsclient/tests/test_aws_client.py), which compares its results with
 * the real aws CLI against awssim. Configuration comes from the environment
 * (aws_client_new_from_env). Each subcommand prints one JSON object on
 * stdout; on failure it prints {"error": "<LB code>", "message": "..."} and
 * exits 2 (1 for usage errors). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "aws/credentials.h"
#include "aws/rds.h"
#include "aws/request.h"
#include "aws/s3.h"
#include "aws/secretsmanager.h"
#include "aws/sts.h"
#include "util/error.h"

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int emit(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    puts(s);
    free(s);
    json_decref(o);
    return 0;
}

static int fail(int rc)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(lb_error_name(rc)));
    json_object_set_new(o, "message", json_string(lb_error_last()));
    emit(o);
    fprintf(stderr, "aws_cli: %s: %s\n", lb_error_name(rc), lb_error_last());
    return 2;
}

static json_t *info_json(const s3_object_info *i)
{
    json_t *o = json_object();
    json_object_set_new(o, "size", json_integer(i->size));
    json_object_set_new(o, "etag", jstr(i->etag));
    json_object_set_new(o, "version_id", jstr(i->version_id));
    json_object_set_new(o, "delete_marker", json_boolean(i->delete_marker));
    json_object_set_new(o, "content_type", jstr(i->content_type));
    return o;
}

/* ---- S3 ---- */

typedef struct file_src {
    FILE *f;
} file_src;

static long file_read(char *buf, size_t len, void *payload)
{
    file_src *s = payload;
    size_t n = fread(buf, 1, len, s->f);
    return ferror(s->f) ? -1 : (long)n;
}

static int file_rewind(void *payload)
{
    file_src *s = payload;
    return fseek(s->f, 0, SEEK_SET);
}

static int cmd_put(aws_client *c, int argc, char **argv)
{
    file_src src;
    s3_object_info info;
    long long len;
    int rc;

    if (argc < 3)
        return 1;
    src.f = fopen(argv[2], "rb");
    if (src.f == NULL) {
        perror(argv[2]);
        return 1;
    }
    fseek(src.f, 0, SEEK_END);
    len = ftell(src.f);
    fseek(src.f, 0, SEEK_SET);
    rc = s3_put_object_stream(&info, c, argv[0], argv[1],
                              argc > 3 ? argv[3] : "application/octet-stream", len, file_read,
                              file_rewind, &src);
    fclose(src.f);
    if (rc != 0)
        return fail(rc);
    emit(info_json(&info));
    s3_object_info_dispose(&info);
    return 0;
}

static long file_pread(char *buf, size_t len, int64_t offset, void *payload)
{
    const int *fd = payload;
    ssize_t n = pread(*fd, buf, len, (off_t)offset);
    return n < 0 ? -1 : (long)n;
}

static int cmd_put_multipart(aws_client *c, int argc, char **argv)
{
    s3_multipart_options o = {0, 0, NULL};
    s3_object_info info;
    struct stat st;
    json_t *out;
    int parts = 0;
    int fd, rc;

    if (argc < 3)
        return 1;
    fd = open(argv[2], O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(argv[2]);
        return 1;
    }
    if (argc > 3)
        o.part_size = (size_t)atoi(argv[3]) * 1024 * 1024;
    if (argc > 4)
        o.concurrency = atoi(argv[4]);
    rc = s3_upload_multipart(&info, &parts, c, argv[0], argv[1], (int64_t)st.st_size, file_pread,
                             &fd, &o);
    close(fd);
    if (rc != 0)
        return fail(rc);
    out = info_json(&info);
    json_object_set_new(out, "parts", json_integer(parts));
    s3_object_info_dispose(&info);
    return emit(out);
}

static int cmd_put_string(aws_client *c, int argc, char **argv)
{
    s3_object_info info;
    int rc;
    if (argc < 3)
        return 1;
    rc = s3_put_object(&info, c, argv[0], argv[1], "text/plain", argv[2], strlen(argv[2]));
    if (rc != 0)
        return fail(rc);
    emit(info_json(&info));
    s3_object_info_dispose(&info);
    return 0;
}

typedef struct sink {
    EVP_MD_CTX *md;
    long long bytes;
    FILE *out;
} sink;

static int sink_write(const char *data, size_t len, void *payload)
{
    sink *s = payload;
    EVP_DigestUpdate(s->md, data, len);
    s->bytes += (long long)len;
    if (s->out != NULL && fwrite(data, 1, len, s->out) != len)
        return 1;
    return 0;
}

static int cmd_get(aws_client *c, int argc, char **argv)
{
    sink s = {EVP_MD_CTX_new(), 0, NULL};
    s3_object_info info;
    unsigned char md[32];
    unsigned int mdlen = 0;
    char hex[65];
    const char *version = NULL, *range = NULL, *outfile = NULL;
    json_t *o;
    int rc;

    if (argc < 2)
        return 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--version") == 0)
            version = argv[i + 1];
        else if (strcmp(argv[i], "--range") == 0)
            range = argv[i + 1];
        else if (strcmp(argv[i], "--out") == 0)
            outfile = argv[i + 1];
    }
    if (outfile != NULL)
        s.out = fopen(outfile, "wb");
    EVP_DigestInit_ex(s.md, EVP_sha256(), NULL);
    rc = s3_get_object(&info, c, argv[0], argv[1], version, range, sink_write, &s);
    if (s.out != NULL)
        fclose(s.out);
    if (rc != 0) {
        EVP_MD_CTX_free(s.md);
        return fail(rc);
    }
    EVP_DigestFinal_ex(s.md, md, &mdlen);
    EVP_MD_CTX_free(s.md);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    o = info_json(&info);
    json_object_set_new(o, "sha256", json_string(hex));
    json_object_set_new(o, "bytes", json_integer(s.bytes));
    emit(o);
    s3_object_info_dispose(&info);
    return 0;
}

static int cmd_head(aws_client *c, int argc, char **argv)
{
    s3_object_info info;
    int rc;
    if (argc < 2)
        return 1;
    rc = s3_head_object(&info, c, argv[0], argv[1], argc > 2 ? argv[2] : NULL);
    if (rc != 0)
        return fail(rc);
    emit(info_json(&info));
    s3_object_info_dispose(&info);
    return 0;
}

static int on_object(const s3_object *o, void *payload)
{
    json_t *e = json_object();
    json_object_set_new(e, "key", json_string(o->key));
    json_object_set_new(e, "size", json_integer(o->size));
    json_object_set_new(e, "etag", jstr(o->etag));
    json_array_append_new(payload, e);
    return 0;
}

static int on_version(const s3_version *v, void *payload)
{
    json_t *e = json_object();
    json_object_set_new(e, "key", json_string(v->key));
    json_object_set_new(e, "version_id", jstr(v->version_id));
    json_object_set_new(e, "is_latest", json_boolean(v->is_latest));
    json_object_set_new(e, "delete_marker", json_boolean(v->is_delete_marker));
    json_object_set_new(e, "size", json_integer(v->size));
    json_array_append_new(payload, e);
    return 0;
}

static int cmd_list(aws_client *c, int argc, char **argv, int versions)
{
    s3_list_options o = {NULL, 0};
    json_t *items = json_array();
    json_t *out;
    int pages = 0;
    int rc;

    if (argc < 1) {
        json_decref(items);
        return 1;
    }
    if (argc > 1 && argv[1][0] != '\0')
        o.prefix = argv[1];
    if (argc > 2)
        o.max_keys = atoi(argv[2]);
    if (versions)
        rc = s3_list_object_versions(&pages, c, argv[0], &o, on_version, items);
    else
        rc = s3_list_objects_v2(&pages, c, argv[0], &o, on_object, items);
    if (rc != 0) {
        json_decref(items);
        return fail(rc);
    }
    out = json_object();
    json_object_set_new(out, "pages", json_integer(pages));
    json_object_set_new(out, "items", items);
    return emit(out);
}

static int cmd_copy(aws_client *c, int argc, char **argv)
{
    s3_object_info info;
    int rc;
    if (argc < 4)
        return 1;
    rc = s3_copy_object(&info, c, argv[0], argv[1], argv[2], argv[3], argc > 4 ? argv[4] : NULL);
    if (rc != 0)
        return fail(rc);
    emit(info_json(&info));
    s3_object_info_dispose(&info);
    return 0;
}

/* copy-ex BUCKET KEY SRC-BUCKET SRC-KEY [--version V] [--threshold BYTES]
 * [--part-mib N] [--concurrency N] */
static int cmd_copy_ex(aws_client *c, int argc, char **argv)
{
    s3_copy_options o = {0, 0, 0, 0, NULL};
    s3_object_info info;
    const char *version = NULL;
    json_t *out;
    int parts = 0;
    int rc;

    if (argc < 4)
        return 1;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--version") == 0)
            version = argv[i + 1];
        else if (strcmp(argv[i], "--threshold") == 0)
            o.multipart_threshold = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--part-mib") == 0)
            o.part_size = atoll(argv[i + 1]) * 1024 * 1024;
        else if (strcmp(argv[i], "--concurrency") == 0)
            o.concurrency = atoi(argv[i + 1]);
        else
            return 1;
    }
    rc = s3_copy_object_ex(&info, &parts, c, argv[0], argv[1], argv[2], argv[3], version, &o);
    if (rc != 0)
        return fail(rc);
    out = info_json(&info);
    json_object_set_new(out, "parts", json_integer(parts));
    s3_object_info_dispose(&info);
    return emit(out);
}

/* delete-objects BUCKET quiet|verbose KEY[@VERSION]... */
static int cmd_delete_objects(aws_client *c, int argc, char **argv)
{
    s3_object_id *objs;
    char **keys;
    s3_delete_result r;
    json_t *out, *errs;
    size_t n;
    int rc;

    if (argc < 3)
        return 1;
    n = (size_t)(argc - 2);
    objs = calloc(n, sizeof(*objs));
    keys = calloc(n, sizeof(*keys));
    for (size_t i = 0; i < n; i++) {
        char *at;
        keys[i] = strdup(argv[i + 2]);
        at = strrchr(keys[i], '@');
        if (at != NULL) {
            *at = '\0';
            objs[i].version_id = at + 1;
        }
        objs[i].key = keys[i];
    }
    rc = s3_delete_objects(&r, c, argv[0], objs, n, strcmp(argv[1], "quiet") == 0);
    out = json_object();
    json_object_set_new(out, "rc", json_string(rc == 0 ? "ok" : lb_error_name(rc)));
    json_object_set_new(out, "message", json_string(rc == 0 ? "" : lb_error_last()));
    json_object_set_new(out, "deleted", json_integer((json_int_t)r.deleted));
    errs = json_array();
    for (size_t i = 0; i < r.nerrors; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "key", jstr(r.errors[i].key));
        json_object_set_new(e, "version_id", jstr(r.errors[i].version_id));
        json_object_set_new(e, "code", jstr(r.errors[i].code));
        json_object_set_new(e, "message", jstr(r.errors[i].message));
        json_array_append_new(errs, e);
    }
    json_object_set_new(out, "errors", errs);
    s3_delete_result_dispose(&r);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    free(objs);
    emit(out);
    return rc == 0 ? 0 : 2;
}

static int cmd_replication(aws_client *c, int argc, char **argv)
{
    s3_replication rep;
    json_t *out, *rules;
    int rc;
    if (argc < 1)
        return 1;
    rc = s3_get_bucket_replication(&rep, c, argv[0]);
    if (rc != 0)
        return fail(rc);
    out = json_object();
    json_object_set_new(out, "role", jstr(rep.role));
    rules = json_array();
    for (size_t i = 0; i < rep.nrules; i++) {
        const s3_replication_rule *r = &rep.rules[i];
        json_t *e = json_object();
        json_object_set_new(e, "id", jstr(r->id));
        json_object_set_new(e, "status", jstr(r->status));
        json_object_set_new(e, "priority", json_integer(r->priority));
        json_object_set_new(e, "prefix", jstr(r->prefix));
        json_object_set_new(e, "destination_bucket", jstr(r->destination_bucket));
        json_object_set_new(e, "storage_class", jstr(r->destination_storage_class));
        json_object_set_new(e, "delete_marker_replication",
                            json_boolean(r->delete_marker_replication));
        json_array_append_new(rules, e);
    }
    json_object_set_new(out, "rules", rules);
    s3_replication_dispose(&rep);
    return emit(out);
}

static int cmd_lifecycle(aws_client *c, int argc, char **argv)
{
    s3_lifecycle lc;
    json_t *rules;
    int rc;
    if (argc < 1)
        return 1;
    rc = s3_get_bucket_lifecycle_configuration(&lc, c, argv[0]);
    if (rc != 0)
        return fail(rc);
    rules = json_array();
    for (size_t i = 0; i < lc.nrules; i++) {
        const s3_lifecycle_rule *r = &lc.rules[i];
        json_t *e = json_object();
        json_object_set_new(e, "id", jstr(r->id));
        json_object_set_new(e, "status", jstr(r->status));
        json_object_set_new(e, "prefix", jstr(r->prefix));
        json_object_set_new(e, "expiration_days", json_integer(r->expiration_days));
        json_object_set_new(e, "expiration_date", jstr(r->expiration_date));
        json_object_set_new(e, "expired_object_delete_marker",
                            json_boolean(r->expired_object_delete_marker));
        json_object_set_new(e, "noncurrent_expiration_days",
                            json_integer(r->noncurrent_expiration_days));
        json_object_set_new(e, "newer_noncurrent_versions",
                            json_integer(r->newer_noncurrent_versions));
        json_object_set_new(e, "abort_incomplete_multipart_days",
                            json_integer(r->abort_incomplete_multipart_days));
        json_object_set_new(e, "transitions", json_integer(r->ntransitions));
        json_array_append_new(rules, e);
    }
    s3_lifecycle_dispose(&lc);
    return emit(rules);
}

static int cmd_delete(aws_client *c, int argc, char **argv)
{
    s3_object_info info;
    int rc;
    if (argc < 2)
        return 1;
    rc = s3_delete_object(&info, c, argv[0], argv[1], argc > 2 ? argv[2] : NULL);
    if (rc != 0)
        return fail(rc);
    emit(info_json(&info));
    s3_object_info_dispose(&info);
    return 0;
}

/* Undelete: remove the key's latest version when it is a delete marker. */
typedef struct undelete_state {
    const char *key;
    char marker[256];
} undelete_state;

static int find_marker(const s3_version *v, void *payload)
{
    undelete_state *u = payload;
    if (strcmp(v->key, u->key) == 0 && v->is_latest && v->is_delete_marker)
        snprintf(u->marker, sizeof(u->marker), "%s", v->version_id ? v->version_id : "");
    return 0;
}

static int cmd_versioning(aws_client *c, int argc, char **argv)
{
    char *status = NULL;
    json_t *o;
    int rc;
    if (argc < 1)
        return 1;
    rc = s3_get_bucket_versioning(&status, c, argv[0]);
    if (rc != 0)
        return fail(rc);
    o = json_object();
    json_object_set_new(o, "status", json_string(status));
    free(status);
    return emit(o);
}

static int cmd_undelete(aws_client *c, int argc, char **argv)
{
    undelete_state u;
    s3_list_options o;
    s3_object_info info;
    json_t *out;
    int rc;

    if (argc < 2)
        return 1;
    memset(&u, 0, sizeof(u));
    u.key = argv[1];
    o.prefix = argv[1];
    o.max_keys = 0;
    rc = s3_list_object_versions(NULL, c, argv[0], &o, find_marker, &u);
    if (rc != 0)
        return fail(rc);
    if (u.marker[0] == '\0')
        return fail(
            lb_error_setc(LB_ENOTFOUND, "%s: latest version is not a delete marker", argv[1]));
    rc = s3_delete_object(&info, c, argv[0], argv[1], u.marker);
    if (rc != 0)
        return fail(rc);
    out = info_json(&info);
    json_object_set_new(out, "removed_marker", json_string(u.marker));
    s3_object_info_dispose(&info);
    return emit(out);
}

/* ---- RDS ---- */

static json_t *instance_json(const rds_instance *i)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", jstr(i->id));
    json_object_set_new(o, "status", jstr(i->status));
    json_object_set_new(o, "arn", jstr(i->arn));
    json_object_set_new(o, "engine", jstr(i->engine));
    json_object_set_new(o, "address", jstr(i->endpoint_address));
    json_object_set_new(o, "port", json_integer(i->port));
    json_object_set_new(o, "db_name", jstr(i->db_name));
    json_object_set_new(o, "latest_restorable_time", jstr(i->latest_restorable_time));
    json_object_set_new(o, "cluster_id", jstr(i->cluster_id));
    return o;
}

static int instance_result(int rc, rds_instance *i)
{
    if (rc != 0)
        return fail(rc);
    emit(instance_json(i));
    rds_instance_dispose(i);
    return 0;
}

static json_t *cluster_json(const rds_cluster *cl)
{
    json_t *o = json_object();
    json_t *members = json_array();
    json_object_set_new(o, "id", jstr(cl->id));
    json_object_set_new(o, "status", jstr(cl->status));
    json_object_set_new(o, "arn", jstr(cl->arn));
    json_object_set_new(o, "engine", jstr(cl->engine));
    json_object_set_new(o, "endpoint", jstr(cl->endpoint));
    json_object_set_new(o, "reader_endpoint", jstr(cl->reader_endpoint));
    json_object_set_new(o, "port", json_integer(cl->port));
    json_object_set_new(o, "database_name", jstr(cl->database_name));
    json_object_set_new(o, "earliest_restorable_time", jstr(cl->earliest_restorable_time));
    json_object_set_new(o, "latest_restorable_time", jstr(cl->latest_restorable_time));
    for (size_t i = 0; i < cl->nmembers; i++) {
        json_t *m = json_object();
        json_object_set_new(m, "instance_id", jstr(cl->members[i].instance_id));
        json_object_set_new(m, "is_writer", json_boolean(cl->members[i].is_writer));
        json_array_append_new(members, m);
    }
    json_object_set_new(o, "members", members);
    return o;
}

static json_t *cluster_snapshot_json(const rds_cluster_snapshot *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", jstr(s->id));
    json_object_set_new(o, "cluster_id", jstr(s->cluster_id));
    json_object_set_new(o, "status", jstr(s->status));
    json_object_set_new(o, "type", jstr(s->type));
    json_object_set_new(o, "arn", jstr(s->arn));
    return o;
}

static int cmd_rds_cluster(aws_client *c, const char *cmd, int argc, char **argv)
{
    rds_cluster cl;
    rds_tag owner = {"lifeboat.dev/owner", "aws_cli"};
    int rc;

    if (strcmp(cmd, "rds-cluster") == 0 && argc >= 1) {
        rc = rds_describe_db_cluster(&cl, c, argv[0]);
        if (rc != 0)
            return fail(rc);
        emit(cluster_json(&cl));
        rds_cluster_dispose(&cl);
        return 0;
    }
    if (strcmp(cmd, "rds-clusters") == 0) {
        rds_cluster_list l;
        json_t *arr = json_array();
        rc = rds_describe_db_clusters(&l, c, NULL);
        if (rc != 0) {
            json_decref(arr);
            return fail(rc);
        }
        for (size_t i = 0; i < l.n; i++)
            json_array_append_new(arr, cluster_json(&l.items[i]));
        rds_cluster_list_dispose(&l);
        return emit(arr);
    }
    if (strcmp(cmd, "rds-restore-cluster-pitr") == 0 && argc >= 2) {
        rds_cluster_restore_options o = {argv[1], NULL, NULL, 0, &owner, 1};
        rc =
            rds_restore_db_cluster_to_point_in_time(&cl, c, argv[0], argc > 2 ? argv[2] : NULL, &o);
        if (rc != 0)
            return fail(rc);
        emit(cluster_json(&cl));
        rds_cluster_dispose(&cl);
        return 0;
    }
    if (strcmp(cmd, "rds-create-writer") == 0 && argc >= 3) {
        rds_create_instance_options o = {argv[1], argv[0], argv[2], NULL, &owner, 1};
        rds_instance inst;
        return instance_result(rds_create_db_instance(&inst, c, &o), &inst);
    }
    if (strcmp(cmd, "rds-create-cluster-snapshot") == 0 && argc >= 2) {
        rds_cluster_snapshot s;
        rc = rds_create_db_cluster_snapshot(&s, c, argv[0], argv[1], &owner, 1);
        if (rc != 0)
            return fail(rc);
        emit(cluster_snapshot_json(&s));
        rds_cluster_snapshot_dispose(&s);
        return 0;
    }
    if (strcmp(cmd, "rds-cluster-snapshots") == 0 && argc >= 1) {
        rds_cluster_snapshot_query q;
        rds_cluster_snapshot_list l;
        rds_filter filter;
        const char *type_value;
        json_t *arr = json_array(), *out;
        int pages = 0;
        memset(&q, 0, sizeof(q));
        q.cluster_id = argv[0][0] ? argv[0] : NULL;
        if (argc > 1)
            q.max_records = atoi(argv[1]);
        if (argc > 2) { /* the type as a filter, to exercise Filters */
            type_value = argv[2];
            filter.name = "snapshot-type";
            filter.values = &type_value;
            filter.nvalues = 1;
            q.filters = &filter;
            q.nfilters = 1;
        }
        rc = rds_describe_db_cluster_snapshots(&l, &pages, c, &q);
        if (rc != 0) {
            json_decref(arr);
            return fail(rc);
        }
        for (size_t i = 0; i < l.n; i++)
            json_array_append_new(arr, cluster_snapshot_json(&l.items[i]));
        rds_cluster_snapshot_list_dispose(&l);
        out = json_object();
        json_object_set_new(out, "pages", json_integer(pages));
        json_object_set_new(out, "items", arr);
        return emit(out);
    }
    return 1;
}

static json_t *snapshot_json(const rds_snapshot *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", jstr(s->id));
    json_object_set_new(o, "instance_id", jstr(s->instance_id));
    json_object_set_new(o, "status", jstr(s->status));
    json_object_set_new(o, "type", jstr(s->type));
    json_object_set_new(o, "arn", jstr(s->arn));
    return o;
}

static int cmd_rds(aws_client *c, const char *cmd, int argc, char **argv)
{
    rds_instance inst;
    rds_restore_options ro = {NULL, NULL, NULL, NULL, 0, -1, NULL, 0};
    int rc;

    if (strncmp(cmd, "rds-cluster", 11) == 0 || strcmp(cmd, "rds-restore-cluster-pitr") == 0 ||
        strcmp(cmd, "rds-create-writer") == 0 || strcmp(cmd, "rds-create-cluster-snapshot") == 0)
        return cmd_rds_cluster(c, cmd, argc, argv);
    if (strcmp(cmd, "rds-describe") == 0 && argc >= 1)
        return instance_result(rds_describe_db_instance(&inst, c, argv[0]), &inst);
    if (strcmp(cmd, "rds-list") == 0) {
        rds_instance_list l;
        json_t *arr = json_array();
        rc = rds_describe_db_instances(&l, c, NULL);
        if (rc != 0) {
            json_decref(arr);
            return fail(rc);
        }
        for (size_t i = 0; i < l.n; i++)
            json_array_append_new(arr, instance_json(&l.items[i]));
        rds_instance_list_dispose(&l);
        return emit(arr);
    }
    if (strcmp(cmd, "rds-snapshots") == 0 && argc >= 1) {
        rds_snapshot_query q;
        rds_snapshot_list l;
        json_t *arr = json_array(), *out;
        int pages = 0;
        memset(&q, 0, sizeof(q));
        q.instance_id = argv[0][0] ? argv[0] : NULL;
        if (argc > 1)
            q.max_records = atoi(argv[1]);
        if (argc > 2)
            q.snapshot_type = argv[2];
        rc = rds_describe_db_snapshots(&l, &pages, c, &q);
        if (rc != 0) {
            json_decref(arr);
            return fail(rc);
        }
        for (size_t i = 0; i < l.n; i++)
            json_array_append_new(arr, snapshot_json(&l.items[i]));
        rds_snapshot_list_dispose(&l);
        out = json_object();
        json_object_set_new(out, "pages", json_integer(pages));
        json_object_set_new(out, "items", arr);
        return emit(out);
    }
    if (strcmp(cmd, "rds-create-snapshot") == 0 && argc >= 2) {
        rds_snapshot s;
        rds_tag tag = {"lifeboat.dev/owner", "aws_cli"};
        rc = rds_create_db_snapshot(&s, c, argv[0], argv[1], &tag, 1);
        if (rc != 0)
            return fail(rc);
        emit(snapshot_json(&s));
        rds_snapshot_dispose(&s);
        return 0;
    }
    if (strcmp(cmd, "rds-delete-snapshot") == 0 && argc >= 1) {
        rds_snapshot s;
        rc = rds_delete_db_snapshot(&s, c, argv[0]);
        if (rc != 0)
            return fail(rc);
        emit(snapshot_json(&s));
        rds_snapshot_dispose(&s);
        return 0;
    }
    if (strcmp(cmd, "rds-restore-snapshot") == 0 && argc >= 2) {
        ro.target_id = argv[1];
        return instance_result(rds_restore_db_instance_from_db_snapshot(&inst, c, argv[0], &ro),
                               &inst);
    }
    if (strcmp(cmd, "rds-restore-pitr") == 0 && argc >= 2) {
        ro.target_id = argv[1];
        return instance_result(rds_restore_db_instance_to_point_in_time(
                                   &inst, c, argv[0], argc > 2 ? argv[2] : NULL, &ro),
                               &inst);
    }
    if (strcmp(cmd, "rds-rename") == 0 && argc >= 2)
        return instance_result(rds_modify_db_instance_rename(&inst, c, argv[0], argv[1]), &inst);
    if (strcmp(cmd, "rds-delete") == 0 && argc >= 1)
        return instance_result(
            rds_delete_db_instance(&inst, c, argv[0], argc > 1 ? argv[1] : NULL, false), &inst);
    if (strcmp(cmd, "rds-tag") == 0 && argc >= 3) {
        rds_tag t = {argv[1], argv[2]};
        rc = rds_add_tags_to_resource(c, argv[0], &t, 1);
        if (rc != 0)
            return fail(rc);
        return emit(json_object());
    }
    if (strcmp(cmd, "rds-tags") == 0 && argc >= 1) {
        rds_tag_list l;
        json_t *o = json_object();
        rc = rds_list_tags_for_resource(&l, c, argv[0]);
        if (rc != 0) {
            json_decref(o);
            return fail(rc);
        }
        for (size_t i = 0; i < l.n; i++)
            json_object_set_new(o, l.keys[i], json_string(l.values[i]));
        rds_tag_list_dispose(&l);
        return emit(o);
    }
    return 1;
}

/* ---- Secrets Manager, STS ---- */

static json_t *stages_json(char *const *stages, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(stages[i]));
    return a;
}

static int cmd_sm(aws_client *c, const char *cmd, int argc, char **argv)
{
    int rc;
    if (strcmp(cmd, "sm-get") == 0 && argc >= 1) {
        sm_secret_value v;
        const char *stage = NULL, *version = NULL;
        json_t *o;
        if (argc > 2 && strcmp(argv[1], "--stage") == 0)
            stage = argv[2];
        if (argc > 2 && strcmp(argv[1], "--version") == 0)
            version = argv[2];
        rc = sm_get_secret_value(&v, c, argv[0], version, stage);
        if (rc != 0)
            return fail(rc);
        o = json_object();
        json_object_set_new(o, "version_id", jstr(v.version_id));
        json_object_set_new(o, "secret_string", jstr(v.secret_string));
        json_object_set_new(o, "stages", stages_json(v.stages, v.nstages));
        sm_secret_value_dispose(&v);
        return emit(o);
    }
    if (strcmp(cmd, "sm-put") == 0 && argc >= 2) {
        char *vid = NULL;
        json_t *o;
        rc = sm_put_secret_value(&vid, c, argv[0], argv[1], NULL, 0);
        if (rc != 0)
            return fail(rc);
        o = json_object();
        json_object_set_new(o, "version_id", jstr(vid));
        free(vid);
        return emit(o);
    }
    if (strcmp(cmd, "sm-versions") == 0 && argc >= 1) {
        sm_version_list l;
        json_t *arr = json_array();
        rc = sm_list_secret_version_ids(&l, c, argv[0]);
        if (rc != 0) {
            json_decref(arr);
            return fail(rc);
        }
        for (size_t i = 0; i < l.n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "version_id", jstr(l.items[i].version_id));
            json_object_set_new(o, "stages", stages_json(l.items[i].stages, l.items[i].nstages));
            json_array_append_new(arr, o);
        }
        sm_version_list_dispose(&l);
        return emit(arr);
    }
    if (strcmp(cmd, "sm-stage") == 0 && argc >= 3) {
        rc =
            sm_update_secret_version_stage(c, argv[0], argv[1], argv[2], argc > 3 ? argv[3] : NULL);
        if (rc != 0)
            return fail(rc);
        return emit(json_object());
    }
    return 1;
}

static int cmd_sts(aws_client *c)
{
    sts_identity id;
    json_t *o;
    int rc = sts_get_caller_identity(&id, c);
    if (rc != 0)
        return fail(rc);
    o = json_object();
    json_object_set_new(o, "account", jstr(id.account));
    json_object_set_new(o, "arn", jstr(id.arn));
    json_object_set_new(o, "user_id", jstr(id.user_id));
    sts_identity_dispose(&id);
    return emit(o);
}

static void usage(void)
{
    fputs("usage: aws_cli COMMAND ARGS...\n"
          "  put BUCKET KEY FILE [CONTENT-TYPE] | put-string BUCKET KEY TEXT\n"
          "  put-multipart BUCKET KEY FILE [PART-MIB] [CONCURRENCY]\n"
          "  get BUCKET KEY [--version V] [--range R] [--out FILE] | head BUCKET KEY [VERSION]\n"
          "  list BUCKET [PREFIX] [MAXKEYS] | list-versions BUCKET [PREFIX] [MAXKEYS]\n"
          "  copy BUCKET KEY SRC-BUCKET SRC-KEY [SRC-VERSION] | delete BUCKET KEY [VERSION]\n"
          "  undelete BUCKET KEY | versioning BUCKET\n"
          "  copy-ex BUCKET KEY SRC-BUCKET SRC-KEY [--version V] [--threshold BYTES]\n"
          "          [--part-mib N] [--concurrency N]\n"
          "  delete-objects BUCKET quiet|verbose KEY[@VERSION]...\n"
          "  replication BUCKET | lifecycle BUCKET\n"
          "  rds-describe ID | rds-list | rds-snapshots INSTANCE [MAXRECORDS] [TYPE]\n"
          "  rds-create-snapshot INSTANCE SNAPSHOT | rds-delete-snapshot SNAPSHOT\n"
          "  rds-restore-snapshot SNAPSHOT TARGET\n"
          "  rds-restore-pitr SOURCE TARGET [TIME] | rds-rename ID NEW-ID\n"
          "  rds-delete ID [FINAL-SNAPSHOT] | rds-tag ARN KEY VALUE | rds-tags ARN\n"
          "  rds-cluster ID | rds-clusters | rds-restore-cluster-pitr SOURCE TARGET [TIME]\n"
          "  rds-create-writer CLUSTER ID CLASS | rds-create-cluster-snapshot CLUSTER SNAPSHOT\n"
          "  rds-cluster-snapshots CLUSTER [MAXRECORDS] [TYPE]\n"
          "  sm-get SECRET [--stage S | --version V] | sm-put SECRET VALUE\n"
          "  sm-versions SECRET | sm-stage SECRET STAGE TO-VERSION [FROM-VERSION]\n"
          "  sts-identity\n",
          stderr);
}

int main(int argc, char **argv)
{
    aws_client *c = NULL;
    const char *cmd;
    int rc;

    if (argc < 2) {
        usage();
        return 1;
    }
    cmd = argv[1];
    rc = aws_client_new_from_env(&c);
    if (rc != 0)
        return fail(rc);
    argc -= 2;
    argv += 2;
    if (strcmp(cmd, "put") == 0)
        rc = cmd_put(c, argc, argv);
    else if (strcmp(cmd, "put-multipart") == 0)
        rc = cmd_put_multipart(c, argc, argv);
    else if (strcmp(cmd, "put-string") == 0)
        rc = cmd_put_string(c, argc, argv);
    else if (strcmp(cmd, "get") == 0)
        rc = cmd_get(c, argc, argv);
    else if (strcmp(cmd, "head") == 0)
        rc = cmd_head(c, argc, argv);
    else if (strcmp(cmd, "list") == 0)
        rc = cmd_list(c, argc, argv, 0);
    else if (strcmp(cmd, "list-versions") == 0)
        rc = cmd_list(c, argc, argv, 1);
    else if (strcmp(cmd, "copy") == 0)
        rc = cmd_copy(c, argc, argv);
    else if (strcmp(cmd, "copy-ex") == 0)
        rc = cmd_copy_ex(c, argc, argv);
    else if (strcmp(cmd, "delete") == 0)
        rc = cmd_delete(c, argc, argv);
    else if (strcmp(cmd, "delete-objects") == 0)
        rc = cmd_delete_objects(c, argc, argv);
    else if (strcmp(cmd, "replication") == 0)
        rc = cmd_replication(c, argc, argv);
    else if (strcmp(cmd, "lifecycle") == 0)
        rc = cmd_lifecycle(c, argc, argv);
    else if (strcmp(cmd, "versioning") == 0)
        rc = cmd_versioning(c, argc, argv);
    else if (strcmp(cmd, "undelete") == 0)
        rc = cmd_undelete(c, argc, argv);
    else if (strncmp(cmd, "rds-", 4) == 0)
        rc = cmd_rds(c, cmd, argc, argv);
    else if (strncmp(cmd, "sm-", 3) == 0)
        rc = cmd_sm(c, cmd, argc, argv);
    else if (strcmp(cmd, "sts-identity") == 0)
        rc = cmd_sts(c);
    else
        rc = 1;
    if (rc == 1)
        usage();
    aws_client_free(c);
    return rc;
}
