#include "aws/rds.h"

#include <stdlib.h>
#include <string.h>

#include "aws/private.h"
#include "aws/xml.h"
#include "util/alloc.h"
#include "util/error.h"

#define RDS_VERSION "2014-10-31"
#define FORM_TYPE   "application/x-www-form-urlencoded; charset=utf-8"

/* List members are named as the RDS API model's locationName says
 * (Tags.Tag.1.Key, Filters.Filter.1.Values.Value.1,
 * VpcSecurityGroupIds.VpcSecurityGroupId.1), exactly as botocore sends them. */

void rds_instance_dispose(rds_instance *i)
{
    if (i == NULL)
        return;
    free(i->id);
    free(i->status);
    free(i->arn);
    free(i->engine);
    free(i->instance_class);
    free(i->endpoint_address);
    free(i->db_name);
    free(i->master_username);
    free(i->latest_restorable_time);
    free(i->create_time);
    free(i->cluster_id);
    memset(i, 0, sizeof(*i));
}

void rds_instance_list_dispose(rds_instance_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        rds_instance_dispose(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

void rds_snapshot_dispose(rds_snapshot *s)
{
    if (s == NULL)
        return;
    free(s->id);
    free(s->instance_id);
    free(s->status);
    free(s->type);
    free(s->arn);
    free(s->create_time);
    free(s->engine);
    memset(s, 0, sizeof(*s));
}

void rds_snapshot_list_dispose(rds_snapshot_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        rds_snapshot_dispose(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

static void parse_instance(rds_instance *out, xmlNodePtr n)
{
    xmlNodePtr ep = aws_xml_child(n, "Endpoint");
    memset(out, 0, sizeof(*out));
    out->id = aws_xml_text(n, "DBInstanceIdentifier");
    out->status = aws_xml_text(n, "DBInstanceStatus");
    out->arn = aws_xml_text(n, "DBInstanceArn");
    out->engine = aws_xml_text(n, "Engine");
    out->instance_class = aws_xml_text(n, "DBInstanceClass");
    out->db_name = aws_xml_text(n, "DBName");
    out->master_username = aws_xml_text(n, "MasterUsername");
    out->latest_restorable_time = aws_xml_text(n, "LatestRestorableTime");
    out->create_time = aws_xml_text(n, "InstanceCreateTime");
    out->backup_retention_period = (int)aws_xml_int(n, "BackupRetentionPeriod", 0);
    out->cluster_id = aws_xml_text(n, "DBClusterIdentifier");
    if (ep != NULL) {
        out->endpoint_address = aws_xml_text(ep, "Address");
        out->port = (int)aws_xml_int(ep, "Port", 0);
    }
}

static void parse_snapshot(rds_snapshot *out, xmlNodePtr n)
{
    memset(out, 0, sizeof(*out));
    out->id = aws_xml_text(n, "DBSnapshotIdentifier");
    out->instance_id = aws_xml_text(n, "DBInstanceIdentifier");
    out->status = aws_xml_text(n, "Status");
    out->type = aws_xml_text(n, "SnapshotType");
    out->arn = aws_xml_text(n, "DBSnapshotArn");
    out->create_time = aws_xml_text(n, "SnapshotCreateTime");
    out->engine = aws_xml_text(n, "Engine");
}

/* Sends one Query API call; on success *out_doc holds the parsed body. */
static int rds_call(xmlDocPtr *out_doc, aws_client *c, aws_query *form, const char *action)
{
    aws_request req;
    aws_response resp;
    char *body = NULL;
    int rc;

    *out_doc = NULL;
    memset(&req, 0, sizeof(req));
    aws_response_init(&resp);
    aws_query_add(form, "Action", action);
    aws_query_add(form, "Version", RDS_VERSION);
    aws_query_build(&body, form);
    req.service = "rds";
    req.method = "POST";
    req.path = "/";
    req.content_type = FORM_TYPE;
    req.body = body;
    req.body_len = strlen(body);
    req.response_cap = RDS_MAX_RESPONSE_BYTES;
    rc = aws_client_send(&resp, c, &req);
    if (rc != 0) {
        lb_error_wrap(rc, "rds %s", action);
        goto done;
    }
    rc = aws_xml_parse(out_doc, resp.body, resp.body_len, action);
done:
    free(body);
    aws_response_dispose(&resp);
    return rc;
}

static xmlNodePtr result_node(xmlDocPtr doc, const char *action)
{
    char name[96];
    snprintf(name, sizeof(name), "%sResult", action);
    return aws_xml_child(xmlDocGetRootElement(doc), name);
}

/* Returns the first `elem` inside `<Action>Result`, or an error. */
static int single_result(xmlNodePtr *out, xmlDocPtr doc, const char *action, const char *elem)
{
    *out = aws_xml_child(result_node(doc, action), elem);
    if (*out == NULL)
        return lb_error_set("rds %s: response has no %sResult/%s", action, action, elem);
    return 0;
}

static void add_tags(aws_query *form, const rds_tag *tags, size_t ntags)
{
    char k[64];
    for (size_t i = 0; i < ntags; i++) {
        snprintf(k, sizeof(k), "Tags.Tag.%zu.Key", i + 1);
        aws_query_add(form, k, tags[i].key);
        snprintf(k, sizeof(k), "Tags.Tag.%zu.Value", i + 1);
        aws_query_add(form, k, tags[i].value ? tags[i].value : "");
    }
}

int rds_parse_describe_instances(rds_instance_list *out, char **out_marker, const char *body,
                                 size_t len)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr res, list;
    int rc;

    *out_marker = NULL;
    rc = aws_xml_parse(&doc, body, len, "rds DescribeDBInstances");
    if (rc != 0)
        return rc;
    res = result_node(doc, "DescribeDBInstances");
    if (res == NULL) {
        rc = lb_error_set("rds DescribeDBInstances: response has no DescribeDBInstancesResult");
        goto done;
    }
    list = aws_xml_child(res, "DBInstances");
    for (xmlNodePtr n = aws_xml_child(list, "DBInstance"); n; n = aws_xml_next(n, "DBInstance")) {
        if (out->n >= RDS_MAX_LIST_ITEMS) {
            rc = lb_error_setc(LB_ETOOBIG, "rds DescribeDBInstances: more than %d instances",
                               RDS_MAX_LIST_ITEMS);
            goto done;
        }
        out->items = lb_realloc(out->items, (out->n + 1) * sizeof(*out->items));
        parse_instance(&out->items[out->n++], n);
    }
    *out_marker = aws_xml_text(res, "Marker");
done:
    xmlFreeDoc(doc);
    return rc;
}

int rds_parse_describe_snapshots(rds_snapshot_list *out, char **out_marker, const char *body,
                                 size_t len)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr res, list;
    int rc;

    *out_marker = NULL;
    rc = aws_xml_parse(&doc, body, len, "rds DescribeDBSnapshots");
    if (rc != 0)
        return rc;
    res = result_node(doc, "DescribeDBSnapshots");
    if (res == NULL) {
        rc = lb_error_set("rds DescribeDBSnapshots: response has no DescribeDBSnapshotsResult");
        goto done;
    }
    list = aws_xml_child(res, "DBSnapshots");
    for (xmlNodePtr n = aws_xml_child(list, "DBSnapshot"); n; n = aws_xml_next(n, "DBSnapshot")) {
        if (out->n >= RDS_MAX_LIST_ITEMS) {
            rc = lb_error_setc(LB_ETOOBIG, "rds DescribeDBSnapshots: more than %d snapshots",
                               RDS_MAX_LIST_ITEMS);
            goto done;
        }
        out->items = lb_realloc(out->items, (out->n + 1) * sizeof(*out->items));
        parse_snapshot(&out->items[out->n++], n);
    }
    *out_marker = aws_xml_text(res, "Marker");
done:
    xmlFreeDoc(doc);
    return rc;
}

/* Runs a paged Describe: form_fn adds the call's own parameters. */
static int describe_paged(void *out, int *out_pages, aws_client *c, const char *action,
                          void (*form_fn)(aws_query *, const void *), const void *arg,
                          int (*parse)(void *, char **, const char *, size_t))
{
    char *marker = NULL;
    int pages = 0;
    int rc = 0;

    for (;;) {
        aws_query *form = aws_query_new();
        aws_request req;
        aws_response resp;
        char *body = NULL;
        char *next = NULL;

        form_fn(form, arg);
        if (marker != NULL)
            aws_query_add(form, "Marker", marker);
        aws_query_add(form, "Action", action);
        aws_query_add(form, "Version", RDS_VERSION);
        aws_query_build(&body, form);
        aws_query_free(form);
        memset(&req, 0, sizeof(req));
        req.service = "rds";
        req.method = "POST";
        req.path = "/";
        req.content_type = FORM_TYPE;
        req.body = body;
        req.body_len = strlen(body);
        req.response_cap = RDS_MAX_RESPONSE_BYTES;
        aws_response_init(&resp);
        rc = aws_client_send(&resp, c, &req);
        free(body);
        if (rc != 0) {
            lb_error_wrap(rc, "rds %s", action);
            aws_response_dispose(&resp);
            break;
        }
        pages++;
        rc = parse(out, &next, resp.body, resp.body_len);
        aws_response_dispose(&resp);
        free(marker);
        marker = next;
        if (rc != 0 || marker == NULL || marker[0] == '\0')
            break;
    }
    free(marker);
    if (out_pages != NULL)
        *out_pages = pages;
    return rc;
}

static void instances_form(aws_query *form, const void *arg)
{
    const char *id = arg;
    if (id != NULL)
        aws_query_add(form, "DBInstanceIdentifier", id);
}

static int parse_instances_cb(void *out, char **marker, const char *body, size_t len)
{
    return rds_parse_describe_instances(out, marker, body, len);
}

int rds_describe_db_instances(rds_instance_list *out, aws_client *c, const char *id)
{
    int rc;
    memset(out, 0, sizeof(*out));
    rc =
        describe_paged(out, NULL, c, "DescribeDBInstances", instances_form, id, parse_instances_cb);
    if (rc != 0)
        rds_instance_list_dispose(out);
    return rc;
}

int rds_describe_db_instance(rds_instance *out, aws_client *c, const char *id)
{
    rds_instance_list l;
    int rc;

    memset(out, 0, sizeof(*out));
    if (id == NULL || id[0] == '\0')
        return lb_error_setc(LB_EINVALID, "rds DescribeDBInstances: DBInstanceIdentifier must "
                                          "not be empty");
    rc = rds_describe_db_instances(&l, c, id);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < l.n; i++) {
        if (l.items[i].id != NULL && strcmp(l.items[i].id, id) == 0) {
            *out = l.items[i];
            memset(&l.items[i], 0, sizeof(l.items[i]));
            rds_instance_list_dispose(&l);
            return 0;
        }
    }
    rds_instance_list_dispose(&l);
    return lb_error_setc(LB_ENOTFOUND, "DBInstanceNotFound: DBInstance %s not found.", id);
}

static void snapshots_form(aws_query *form, const void *arg)
{
    const rds_snapshot_query *q = arg;
    char k[96];

    if (q == NULL)
        return;
    if (q->instance_id != NULL)
        aws_query_add(form, "DBInstanceIdentifier", q->instance_id);
    if (q->snapshot_id != NULL)
        aws_query_add(form, "DBSnapshotIdentifier", q->snapshot_id);
    if (q->snapshot_type != NULL)
        aws_query_add(form, "SnapshotType", q->snapshot_type);
    if (q->max_records > 0)
        aws_query_add_int(form, "MaxRecords", q->max_records);
    for (size_t i = 0; i < q->nfilters; i++) {
        snprintf(k, sizeof(k), "Filters.Filter.%zu.Name", i + 1);
        aws_query_add(form, k, q->filters[i].name);
        for (size_t j = 0; j < q->filters[i].nvalues; j++) {
            snprintf(k, sizeof(k), "Filters.Filter.%zu.Values.Value.%zu", i + 1, j + 1);
            aws_query_add(form, k, q->filters[i].values[j]);
        }
    }
}

static int parse_snapshots_cb(void *out, char **marker, const char *body, size_t len)
{
    return rds_parse_describe_snapshots(out, marker, body, len);
}

int rds_describe_db_snapshots(rds_snapshot_list *out, int *out_pages, aws_client *c,
                              const rds_snapshot_query *q)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if (q != NULL && q->max_records != 0 && (q->max_records < 20 || q->max_records > 100))
        return lb_error_setc(LB_EINVALID, "rds DescribeDBSnapshots: MaxRecords must be 20..100");
    rc = describe_paged(out, out_pages, c, "DescribeDBSnapshots", snapshots_form, q,
                        parse_snapshots_cb);
    if (rc != 0)
        rds_snapshot_list_dispose(out);
    return rc;
}

int rds_create_db_snapshot(rds_snapshot *out, aws_client *c, const char *instance_id,
                           const char *snapshot_id, const rds_tag *tags, size_t ntags)
{
    aws_query *form = aws_query_new();
    xmlDocPtr doc = NULL;
    xmlNodePtr n;
    int rc;

    memset(out, 0, sizeof(*out));
    aws_query_add(form, "DBInstanceIdentifier", instance_id);
    aws_query_add(form, "DBSnapshotIdentifier", snapshot_id);
    add_tags(form, tags, ntags);
    rc = rds_call(&doc, c, form, "CreateDBSnapshot");
    if (rc == 0)
        rc = single_result(&n, doc, "CreateDBSnapshot", "DBSnapshot");
    if (rc == 0)
        parse_snapshot(out, n);
    xmlFreeDoc(doc);
    aws_query_free(form);
    return rc;
}

int rds_delete_db_snapshot(rds_snapshot *out, aws_client *c, const char *snapshot_id)
{
    aws_query *form = aws_query_new();
    xmlDocPtr doc = NULL;
    xmlNodePtr n;
    int rc;

    memset(out, 0, sizeof(*out));
    aws_query_add(form, "DBSnapshotIdentifier", snapshot_id);
    rc = rds_call(&doc, c, form, "DeleteDBSnapshot");
    if (rc == 0)
        rc = single_result(&n, doc, "DeleteDBSnapshot", "DBSnapshot");
    if (rc == 0)
        parse_snapshot(out, n);
    xmlFreeDoc(doc);
    aws_query_free(form);
    return rc;
}

static void restore_form(aws_query *form, const rds_restore_options *o)
{
    char k[64];
    if (o->instance_class != NULL)
        aws_query_add(form, "DBInstanceClass", o->instance_class);
    if (o->subnet_group != NULL)
        aws_query_add(form, "DBSubnetGroupName", o->subnet_group);
    for (size_t i = 0; i < o->nvpc_security_group_ids; i++) {
        snprintf(k, sizeof(k), "VpcSecurityGroupIds.VpcSecurityGroupId.%zu", i + 1);
        aws_query_add(form, k, o->vpc_security_group_ids[i]);
    }
    if (o->publicly_accessible >= 0)
        aws_query_add(form, "PubliclyAccessible", o->publicly_accessible ? "true" : "false");
    add_tags(form, o->tags, o->ntags);
}

static int instance_call(rds_instance *out, aws_client *c, aws_query *form, const char *action)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr n;
    int rc = rds_call(&doc, c, form, action);
    if (rc == 0)
        rc = single_result(&n, doc, action, "DBInstance");
    if (rc == 0)
        parse_instance(out, n);
    xmlFreeDoc(doc);
    aws_query_free(form);
    return rc;
}

int rds_restore_db_instance_from_db_snapshot(rds_instance *out, aws_client *c,
                                             const char *snapshot_id, const rds_restore_options *o)
{
    aws_query *form;

    memset(out, 0, sizeof(*out));
    if (o == NULL || o->target_id == NULL || o->target_id[0] == '\0')
        return lb_error_setc(LB_EINVALID, "rds RestoreDBInstanceFromDBSnapshot: "
                                          "DBInstanceIdentifier (target) must not be empty");
    form = aws_query_new();
    aws_query_add(form, "DBSnapshotIdentifier", snapshot_id);
    aws_query_add(form, "DBInstanceIdentifier", o->target_id);
    restore_form(form, o);
    return instance_call(out, c, form, "RestoreDBInstanceFromDBSnapshot");
}

int rds_restore_db_instance_to_point_in_time(rds_instance *out, aws_client *c,
                                             const char *source_id, const char *restore_time,
                                             const rds_restore_options *o)
{
    aws_query *form;

    memset(out, 0, sizeof(*out));
    if (o == NULL || o->target_id == NULL || o->target_id[0] == '\0')
        return lb_error_setc(LB_EINVALID, "rds RestoreDBInstanceToPointInTime: "
                                          "TargetDBInstanceIdentifier must not be empty");
    form = aws_query_new();
    aws_query_add(form, "SourceDBInstanceIdentifier", source_id);
    aws_query_add(form, "TargetDBInstanceIdentifier", o->target_id);
    if (restore_time != NULL)
        aws_query_add(form, "RestoreTime", restore_time);
    else
        aws_query_add(form, "UseLatestRestorableTime", "true");
    restore_form(form, o);
    return instance_call(out, c, form, "RestoreDBInstanceToPointInTime");
}

int rds_modify_db_instance_rename(rds_instance *out, aws_client *c, const char *id,
                                  const char *new_id)
{
    aws_query *form = aws_query_new();
    memset(out, 0, sizeof(*out));
    aws_query_add(form, "DBInstanceIdentifier", id);
    aws_query_add(form, "NewDBInstanceIdentifier", new_id);
    aws_query_add(form, "ApplyImmediately", "true");
    return instance_call(out, c, form, "ModifyDBInstance");
}

int rds_delete_db_instance(rds_instance *out, aws_client *c, const char *id,
                           const char *final_snapshot_id, bool delete_automated_backups)
{
    aws_query *form = aws_query_new();
    memset(out, 0, sizeof(*out));
    aws_query_add(form, "DBInstanceIdentifier", id);
    aws_query_add(form, "DeleteAutomatedBackups", delete_automated_backups ? "true" : "false");
    if (final_snapshot_id != NULL) {
        aws_query_add(form, "FinalDBSnapshotIdentifier", final_snapshot_id);
        aws_query_add(form, "SkipFinalSnapshot", "false");
    } else {
        aws_query_add(form, "SkipFinalSnapshot", "true");
    }
    return instance_call(out, c, form, "DeleteDBInstance");
}

int rds_add_tags_to_resource(aws_client *c, const char *arn, const rds_tag *tags, size_t ntags)
{
    aws_query *form;
    xmlDocPtr doc = NULL;
    int rc;

    if (ntags == 0 || ntags > RDS_MAX_TAGS)
        return lb_error_setc(LB_EINVALID, "rds AddTagsToResource: 1..%d tags required",
                             RDS_MAX_TAGS);
    form = aws_query_new();
    aws_query_add(form, "ResourceName", arn);
    add_tags(form, tags, ntags);
    rc = rds_call(&doc, c, form, "AddTagsToResource");
    xmlFreeDoc(doc);
    aws_query_free(form);
    return rc;
}

void rds_tag_list_dispose(rds_tag_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->keys[i]);
        free(l->values[i]);
    }
    free(l->keys);
    free(l->values);
    memset(l, 0, sizeof(*l));
}

const char *rds_tag_list_get(const rds_tag_list *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->keys[i], key) == 0)
            return l->values[i];
    return NULL;
}

int rds_list_tags_for_resource(rds_tag_list *out, aws_client *c, const char *arn)
{
    aws_query *form = aws_query_new();
    xmlDocPtr doc = NULL;
    xmlNodePtr list;
    int rc;

    memset(out, 0, sizeof(*out));
    aws_query_add(form, "ResourceName", arn);
    rc = rds_call(&doc, c, form, "ListTagsForResource");
    if (rc != 0)
        goto done;
    list = aws_xml_child(result_node(doc, "ListTagsForResource"), "TagList");
    for (xmlNodePtr n = aws_xml_child(list, "Tag"); n; n = aws_xml_next(n, "Tag")) {
        char *k = aws_xml_text(n, "Key");
        if (k == NULL)
            continue;
        if (out->n >= RDS_MAX_TAGS * 4) {
            free(k);
            rc = lb_error_setc(LB_ETOOBIG, "rds ListTagsForResource: more than %d tags",
                               RDS_MAX_TAGS * 4);
            break;
        }
        out->keys = lb_realloc(out->keys, (out->n + 1) * sizeof(char *));
        out->values = lb_realloc(out->values, (out->n + 1) * sizeof(char *));
        out->keys[out->n] = k;
        out->values[out->n] = aws_xml_text(n, "Value");
        if (out->values[out->n] == NULL)
            out->values[out->n] = lb_strdup("");
        out->n++;
    }
done:
    if (rc != 0)
        rds_tag_list_dispose(out);
    xmlFreeDoc(doc);
    aws_query_free(form);
    return rc;
}

/* ---- Aurora clusters ---- */

void rds_cluster_dispose(rds_cluster *cl)
{
    if (cl == NULL)
        return;
    free(cl->id);
    free(cl->status);
    free(cl->arn);
    free(cl->engine);
    free(cl->endpoint);
    free(cl->reader_endpoint);
    free(cl->database_name);
    free(cl->master_username);
    free(cl->earliest_restorable_time);
    free(cl->latest_restorable_time);
    free(cl->create_time);
    for (size_t i = 0; i < cl->nmembers; i++)
        free(cl->members[i].instance_id);
    free(cl->members);
    memset(cl, 0, sizeof(*cl));
}

void rds_cluster_list_dispose(rds_cluster_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        rds_cluster_dispose(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

void rds_cluster_snapshot_dispose(rds_cluster_snapshot *s)
{
    if (s == NULL)
        return;
    free(s->id);
    free(s->cluster_id);
    free(s->status);
    free(s->type);
    free(s->arn);
    free(s->create_time);
    free(s->engine);
    memset(s, 0, sizeof(*s));
}

void rds_cluster_snapshot_list_dispose(rds_cluster_snapshot_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        rds_cluster_snapshot_dispose(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

static int parse_cluster(rds_cluster *out, xmlNodePtr n)
{
    xmlNodePtr members = aws_xml_child(n, "DBClusterMembers");

    memset(out, 0, sizeof(*out));
    out->id = aws_xml_text(n, "DBClusterIdentifier");
    out->status = aws_xml_text(n, "Status");
    out->arn = aws_xml_text(n, "DBClusterArn");
    out->engine = aws_xml_text(n, "Engine");
    out->endpoint = aws_xml_text(n, "Endpoint");
    out->reader_endpoint = aws_xml_text(n, "ReaderEndpoint");
    out->port = (int)aws_xml_int(n, "Port", 0);
    out->database_name = aws_xml_text(n, "DatabaseName");
    out->master_username = aws_xml_text(n, "MasterUsername");
    out->earliest_restorable_time = aws_xml_text(n, "EarliestRestorableTime");
    out->latest_restorable_time = aws_xml_text(n, "LatestRestorableTime");
    out->create_time = aws_xml_text(n, "ClusterCreateTime");
    for (xmlNodePtr m = aws_xml_child(members, "DBClusterMember"); m;
         m = aws_xml_next(m, "DBClusterMember")) {
        if (out->nmembers >= RDS_MAX_CLUSTER_MEMBERS)
            return lb_error_setc(LB_ETOOBIG, "rds DBCluster %s: more than %d DBClusterMembers",
                                 out->id ? out->id : "?", RDS_MAX_CLUSTER_MEMBERS);
        out->members = lb_realloc(out->members, (out->nmembers + 1) * sizeof(*out->members));
        out->members[out->nmembers].instance_id = aws_xml_text(m, "DBInstanceIdentifier");
        out->members[out->nmembers].is_writer = aws_xml_bool(m, "IsClusterWriter") != 0;
        out->nmembers++;
    }
    return 0;
}

static void parse_cluster_snapshot(rds_cluster_snapshot *out, xmlNodePtr n)
{
    memset(out, 0, sizeof(*out));
    out->id = aws_xml_text(n, "DBClusterSnapshotIdentifier");
    out->cluster_id = aws_xml_text(n, "DBClusterIdentifier");
    out->status = aws_xml_text(n, "Status");
    out->type = aws_xml_text(n, "SnapshotType");
    out->arn = aws_xml_text(n, "DBClusterSnapshotArn");
    out->create_time = aws_xml_text(n, "SnapshotCreateTime");
    out->engine = aws_xml_text(n, "Engine");
}

int rds_parse_describe_clusters(rds_cluster_list *out, char **out_marker, const char *body,
                                size_t len)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr res, list;
    int rc;

    *out_marker = NULL;
    rc = aws_xml_parse(&doc, body, len, "rds DescribeDBClusters");
    if (rc != 0)
        return rc;
    res = result_node(doc, "DescribeDBClusters");
    if (res == NULL) {
        rc = lb_error_set("rds DescribeDBClusters: response has no DescribeDBClustersResult");
        goto done;
    }
    list = aws_xml_child(res, "DBClusters");
    for (xmlNodePtr n = aws_xml_child(list, "DBCluster"); n; n = aws_xml_next(n, "DBCluster")) {
        if (out->n >= RDS_MAX_LIST_ITEMS) {
            rc = lb_error_setc(LB_ETOOBIG, "rds DescribeDBClusters: more than %d clusters",
                               RDS_MAX_LIST_ITEMS);
            goto done;
        }
        out->items = lb_realloc(out->items, (out->n + 1) * sizeof(*out->items));
        rc = parse_cluster(&out->items[out->n++], n);
        if (rc != 0)
            goto done;
    }
    *out_marker = aws_xml_text(res, "Marker");
done:
    xmlFreeDoc(doc);
    return rc;
}

int rds_parse_describe_cluster_snapshots(rds_cluster_snapshot_list *out, char **out_marker,
                                         const char *body, size_t len)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr res, list;
    int rc;

    *out_marker = NULL;
    rc = aws_xml_parse(&doc, body, len, "rds DescribeDBClusterSnapshots");
    if (rc != 0)
        return rc;
    res = result_node(doc, "DescribeDBClusterSnapshots");
    if (res == NULL) {
        rc = lb_error_set("rds DescribeDBClusterSnapshots: response has no "
                          "DescribeDBClusterSnapshotsResult");
        goto done;
    }
    list = aws_xml_child(res, "DBClusterSnapshots");
    for (xmlNodePtr n = aws_xml_child(list, "DBClusterSnapshot"); n;
         n = aws_xml_next(n, "DBClusterSnapshot")) {
        if (out->n >= RDS_MAX_LIST_ITEMS) {
            rc = lb_error_setc(LB_ETOOBIG, "rds DescribeDBClusterSnapshots: more than %d snapshots",
                               RDS_MAX_LIST_ITEMS);
            goto done;
        }
        out->items = lb_realloc(out->items, (out->n + 1) * sizeof(*out->items));
        parse_cluster_snapshot(&out->items[out->n++], n);
    }
    *out_marker = aws_xml_text(res, "Marker");
done:
    xmlFreeDoc(doc);
    return rc;
}

static void clusters_form(aws_query *form, const void *arg)
{
    const char *id = arg;
    if (id != NULL)
        aws_query_add(form, "DBClusterIdentifier", id);
}

static int parse_clusters_cb(void *out, char **marker, const char *body, size_t len)
{
    return rds_parse_describe_clusters(out, marker, body, len);
}

int rds_describe_db_clusters(rds_cluster_list *out, aws_client *c, const char *id)
{
    int rc;
    memset(out, 0, sizeof(*out));
    rc = describe_paged(out, NULL, c, "DescribeDBClusters", clusters_form, id, parse_clusters_cb);
    if (rc != 0)
        rds_cluster_list_dispose(out);
    return rc;
}

int rds_describe_db_cluster(rds_cluster *out, aws_client *c, const char *id)
{
    rds_cluster_list l;
    int rc;

    memset(out, 0, sizeof(*out));
    if (id == NULL || id[0] == '\0')
        return lb_error_setc(LB_EINVALID, "rds DescribeDBClusters: DBClusterIdentifier must "
                                          "not be empty");
    rc = rds_describe_db_clusters(&l, c, id);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < l.n; i++) {
        if (l.items[i].id != NULL && strcmp(l.items[i].id, id) == 0) {
            *out = l.items[i];
            memset(&l.items[i], 0, sizeof(l.items[i]));
            rds_cluster_list_dispose(&l);
            return 0;
        }
    }
    rds_cluster_list_dispose(&l);
    return lb_error_setc(LB_ENOTFOUND, "DBClusterNotFoundFault: DBCluster %s not found.", id);
}

static void add_filters(aws_query *form, const rds_filter *filters, size_t nfilters)
{
    char k[96];
    for (size_t i = 0; i < nfilters; i++) {
        snprintf(k, sizeof(k), "Filters.Filter.%zu.Name", i + 1);
        aws_query_add(form, k, filters[i].name);
        for (size_t j = 0; j < filters[i].nvalues; j++) {
            snprintf(k, sizeof(k), "Filters.Filter.%zu.Values.Value.%zu", i + 1, j + 1);
            aws_query_add(form, k, filters[i].values[j]);
        }
    }
}

static void cluster_snapshots_form(aws_query *form, const void *arg)
{
    const rds_cluster_snapshot_query *q = arg;

    if (q == NULL)
        return;
    if (q->cluster_id != NULL)
        aws_query_add(form, "DBClusterIdentifier", q->cluster_id);
    if (q->snapshot_id != NULL)
        aws_query_add(form, "DBClusterSnapshotIdentifier", q->snapshot_id);
    if (q->snapshot_type != NULL)
        aws_query_add(form, "SnapshotType", q->snapshot_type);
    if (q->max_records > 0)
        aws_query_add_int(form, "MaxRecords", q->max_records);
    add_filters(form, q->filters, q->nfilters);
}

static int parse_cluster_snapshots_cb(void *out, char **marker, const char *body, size_t len)
{
    return rds_parse_describe_cluster_snapshots(out, marker, body, len);
}

int rds_describe_db_cluster_snapshots(rds_cluster_snapshot_list *out, int *out_pages, aws_client *c,
                                      const rds_cluster_snapshot_query *q)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if (q != NULL && q->max_records != 0 && (q->max_records < 20 || q->max_records > 100))
        return lb_error_setc(LB_EINVALID,
                             "rds DescribeDBClusterSnapshots: MaxRecords must be 20..100");
    rc = describe_paged(out, out_pages, c, "DescribeDBClusterSnapshots", cluster_snapshots_form, q,
                        parse_cluster_snapshots_cb);
    if (rc != 0)
        rds_cluster_snapshot_list_dispose(out);
    return rc;
}

int rds_create_db_cluster_snapshot(rds_cluster_snapshot *out, aws_client *c, const char *cluster_id,
                                   const char *snapshot_id, const rds_tag *tags, size_t ntags)
{
    aws_query *form;
    xmlDocPtr doc = NULL;
    xmlNodePtr n;
    int rc;

    memset(out, 0, sizeof(*out));
    if (cluster_id == NULL || cluster_id[0] == '\0' || snapshot_id == NULL ||
        snapshot_id[0] == '\0')
        return lb_error_setc(LB_EINVALID, "rds CreateDBClusterSnapshot: DBClusterIdentifier and "
                                          "DBClusterSnapshotIdentifier must not be empty");
    if (ntags > RDS_MAX_TAGS)
        return lb_error_setc(LB_EINVALID, "rds CreateDBClusterSnapshot: at most %d tags",
                             RDS_MAX_TAGS);
    form = aws_query_new();
    aws_query_add(form, "DBClusterIdentifier", cluster_id);
    aws_query_add(form, "DBClusterSnapshotIdentifier", snapshot_id);
    add_tags(form, tags, ntags);
    rc = rds_call(&doc, c, form, "CreateDBClusterSnapshot");
    if (rc == 0)
        rc = single_result(&n, doc, "CreateDBClusterSnapshot", "DBClusterSnapshot");
    if (rc == 0)
        parse_cluster_snapshot(out, n);
    xmlFreeDoc(doc);
    aws_query_free(form);
    return rc;
}

int rds_delete_db_cluster_snapshot(rds_cluster_snapshot *out, aws_client *c,
                                   const char *snapshot_id)
{
    aws_query *form;
    xmlDocPtr doc = NULL;
    xmlNodePtr n;
    int rc;

    memset(out, 0, sizeof(*out));
    if (snapshot_id == NULL || snapshot_id[0] == '\0')
        return lb_error_setc(LB_EINVALID, "rds DeleteDBClusterSnapshot: "
                                          "DBClusterSnapshotIdentifier must not be empty");
    form = aws_query_new();
    aws_query_add(form, "DBClusterSnapshotIdentifier", snapshot_id);
    rc = rds_call(&doc, c, form, "DeleteDBClusterSnapshot");
    if (rc == 0)
        rc = single_result(&n, doc, "DeleteDBClusterSnapshot", "DBClusterSnapshot");
    if (rc == 0)
        parse_cluster_snapshot(out, n);
    xmlFreeDoc(doc);
    aws_query_free(form);
    return rc;
}

int rds_restore_db_cluster_to_point_in_time(rds_cluster *out, aws_client *c, const char *source_id,
                                            const char *restore_time,
                                            const rds_cluster_restore_options *o)
{
    aws_query *form;
    xmlDocPtr doc = NULL;
    xmlNodePtr n;
    char k[64];
    int rc;

    memset(out, 0, sizeof(*out));
    if (o == NULL || o->target_id == NULL || o->target_id[0] == '\0')
        return lb_error_setc(LB_EINVALID, "rds RestoreDBClusterToPointInTime: "
                                          "DBClusterIdentifier (target) must not be empty");
    if (source_id == NULL || source_id[0] == '\0')
        return lb_error_setc(LB_EINVALID, "rds RestoreDBClusterToPointInTime: "
                                          "SourceDBClusterIdentifier must not be empty");
    if (o->ntags > RDS_MAX_TAGS)
        return lb_error_setc(LB_EINVALID, "rds RestoreDBClusterToPointInTime: at most %d tags",
                             RDS_MAX_TAGS);
    form = aws_query_new();
    aws_query_add(form, "DBClusterIdentifier", o->target_id);
    aws_query_add(form, "SourceDBClusterIdentifier", source_id);
    if (restore_time != NULL)
        aws_query_add(form, "RestoreToTime", restore_time);
    else
        aws_query_add(form, "UseLatestRestorableTime", "true");
    if (o->subnet_group != NULL)
        aws_query_add(form, "DBSubnetGroupName", o->subnet_group);
    for (size_t i = 0; i < o->nvpc_security_group_ids; i++) {
        snprintf(k, sizeof(k), "VpcSecurityGroupIds.VpcSecurityGroupId.%zu", i + 1);
        aws_query_add(form, k, o->vpc_security_group_ids[i]);
    }
    add_tags(form, o->tags, o->ntags);
    rc = rds_call(&doc, c, form, "RestoreDBClusterToPointInTime");
    if (rc == 0)
        rc = single_result(&n, doc, "RestoreDBClusterToPointInTime", "DBCluster");
    if (rc == 0) {
        rc = parse_cluster(out, n);
        if (rc != 0)
            rds_cluster_dispose(out);
    }
    xmlFreeDoc(doc);
    aws_query_free(form);
    return rc;
}

/* One call answering a single DBCluster, parsed into out; frees form. */
static int cluster_call(rds_cluster *out, aws_client *c, aws_query *form, const char *action)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr n;
    int rc = rds_call(&doc, c, form, action);

    if (rc == 0)
        rc = single_result(&n, doc, action, "DBCluster");
    if (rc == 0) {
        rc = parse_cluster(out, n);
        if (rc != 0)
            rds_cluster_dispose(out);
    }
    xmlFreeDoc(doc);
    aws_query_free(form);
    return rc;
}

int rds_modify_db_cluster_rename(rds_cluster *out, aws_client *c, const char *id,
                                 const char *new_id)
{
    aws_query *form;

    memset(out, 0, sizeof(*out));
    if (id == NULL || id[0] == '\0' || new_id == NULL || new_id[0] == '\0')
        return lb_error_setc(LB_EINVALID, "rds ModifyDBCluster: DBClusterIdentifier and "
                                          "NewDBClusterIdentifier must not be empty");
    form = aws_query_new();
    aws_query_add(form, "DBClusterIdentifier", id);
    aws_query_add(form, "NewDBClusterIdentifier", new_id);
    aws_query_add(form, "ApplyImmediately", "true");
    return cluster_call(out, c, form, "ModifyDBCluster");
}

int rds_delete_db_cluster(rds_cluster *out, aws_client *c, const char *id,
                          const char *final_snapshot_id, bool delete_automated_backups)
{
    aws_query *form;

    memset(out, 0, sizeof(*out));
    if (id == NULL || id[0] == '\0')
        return lb_error_setc(LB_EINVALID, "rds DeleteDBCluster: DBClusterIdentifier must not be "
                                          "empty");
    form = aws_query_new();
    aws_query_add(form, "DBClusterIdentifier", id);
    aws_query_add(form, "DeleteAutomatedBackups", delete_automated_backups ? "true" : "false");
    if (final_snapshot_id != NULL) {
        aws_query_add(form, "FinalDBSnapshotIdentifier", final_snapshot_id);
        aws_query_add(form, "SkipFinalSnapshot", "false");
    } else {
        aws_query_add(form, "SkipFinalSnapshot", "true");
    }
    return cluster_call(out, c, form, "DeleteDBCluster");
}

int rds_create_db_instance(rds_instance *out, aws_client *c, const rds_create_instance_options *o)
{
    aws_query *form;

    memset(out, 0, sizeof(*out));
    if (o == NULL || o->id == NULL || o->id[0] == '\0')
        return lb_error_setc(LB_EINVALID,
                             "rds CreateDBInstance: DBInstanceIdentifier must not be empty");
    if (o->cluster_id == NULL || o->cluster_id[0] == '\0')
        return lb_error_setc(LB_EINVALID, "rds CreateDBInstance: DBClusterIdentifier must not be "
                                          "empty (only cluster members are created)");
    if (o->instance_class == NULL || o->instance_class[0] == '\0')
        return lb_error_setc(LB_EINVALID,
                             "rds CreateDBInstance: DBInstanceClass must not be empty");
    if (o->ntags > RDS_MAX_TAGS)
        return lb_error_setc(LB_EINVALID, "rds CreateDBInstance: at most %d tags", RDS_MAX_TAGS);
    form = aws_query_new();
    aws_query_add(form, "DBInstanceIdentifier", o->id);
    aws_query_add(form, "DBClusterIdentifier", o->cluster_id);
    aws_query_add(form, "DBInstanceClass", o->instance_class);
    aws_query_add(form, "Engine", o->engine ? o->engine : "aurora-postgresql");
    add_tags(form, o->tags, o->ntags);
    return instance_call(out, c, form, "CreateDBInstance");
}
