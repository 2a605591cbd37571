/* rds.h - the RDS (Query API, version 2014-10-31) operations Lifeboat uses.
 *
 * Results are small typed views of the fields the controllers read; the
 * XML bodies are parsed with libxml2 (aws/xml.h). Describe calls page
 * through Marker internally, up to RDS_MAX_LIST_ITEMS entries.
 */
#ifndef LB_AWS_RDS_H
#define LB_AWS_RDS_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/request.h"

#define RDS_MAX_RESPONSE_BYTES (4u * 1024 * 1024) /* one Query API page */
#define RDS_MAX_LIST_ITEMS     10000              /* instances/snapshots listed */
#define RDS_MAX_TAGS           50                 /* AWS allows 50 per resource */

typedef struct rds_tag {
    const char *key;
    const char *value;
} rds_tag;

typedef struct rds_instance {
    char *id;
    char *status;
    char *arn;
    char *engine;
    char *instance_class;
    char *endpoint_address; /* NULL until the instance has an endpoint */
    int port;               /* 0 when unknown */
    char *db_name;
    char *master_username;
    char *latest_restorable_time; /* RFC 3339 or NULL */
    char *create_time;
    int backup_retention_period;
    char *cluster_id; /* DBClusterIdentifier of an Aurora member, or NULL */
} rds_instance;

typedef struct rds_instance_list {
    rds_instance *items;
    size_t n;
} rds_instance_list;

typedef struct rds_snapshot {
    char *id;
    char *instance_id;
    char *status;
    char *type; /* "manual" | "automated" */
    char *arn;
    char *create_time;
    char *engine;
} rds_snapshot;

typedef struct rds_snapshot_list {
    rds_snapshot *items;
    size_t n;
} rds_snapshot_list;

void rds_instance_dispose(rds_instance *i);
void rds_instance_list_dispose(rds_instance_list *l);
void rds_snapshot_dispose(rds_snapshot *s);
void rds_snapshot_list_dispose(rds_snapshot_list *l);

/* All instances (id NULL) or one; a missing id is LB_ENOTFOUND with the
 * message "DBInstanceNotFound: <AWS message>". */
int rds_describe_db_instances(rds_instance_list *out, aws_client *c, const char *id);

/* One instance; convenience over rds_describe_db_instances. */
int rds_describe_db_instance(rds_instance *out, aws_client *c, const char *id);

typedef struct rds_filter {
    const char *name; /* "db-instance-id", "snapshot-type", "engine", ... */
    const char *const *values;
    size_t nvalues;
} rds_filter;

typedef struct rds_snapshot_query {
    const char *instance_id;   /* DBInstanceIdentifier, or NULL */
    const char *snapshot_id;   /* DBSnapshotIdentifier, or NULL */
    const char *snapshot_type; /* "manual", "automated", or NULL */
    const rds_filter *filters;
    size_t nfilters;
    int max_records; /* per page, 20..100; 0: the server's default */
} rds_snapshot_query;

/* Snapshots matching the query, all pages. *out_pages may be NULL. */
int rds_describe_db_snapshots(rds_snapshot_list *out, int *out_pages, aws_client *c,
                              const rds_snapshot_query *q);

int rds_create_db_snapshot(rds_snapshot *out, aws_client *c, const char *instance_id,
                           const char *snapshot_id, const rds_tag *tags, size_t ntags);

/* Deletes a manual snapshot. */
int rds_delete_db_snapshot(rds_snapshot *out, aws_client *c, const char *snapshot_id);

typedef struct rds_restore_options {
    const char *target_id; /* required */
    const char *instance_class;
    const char *subnet_group;
    const char *const *vpc_security_group_ids;
    size_t nvpc_security_group_ids;
    int publicly_accessible; /* -1: not sent, 0/1 */
    const rds_tag *tags;
    size_t ntags;
} rds_restore_options;

int rds_restore_db_instance_from_db_snapshot(rds_instance *out, aws_client *c,
                                             const char *snapshot_id, const rds_restore_options *o);

/* Restores `source_id` to restore_time (RFC 3339), or to the latest
 * restorable time when restore_time is NULL. */
int rds_restore_db_instance_to_point_in_time(rds_instance *out, aws_client *c,
                                             const char *source_id, const char *restore_time,
                                             const rds_restore_options *o);

/* Renames an instance (ModifyDBInstance NewDBInstanceIdentifier,
 * ApplyImmediately=true). */
int rds_modify_db_instance_rename(rds_instance *out, aws_client *c, const char *id,
                                  const char *new_id);

/* Deletes an instance; with final_snapshot_id NULL, SkipFinalSnapshot=true.
 * DeleteAutomatedBackups is always sent, as delete_automated_backups says
 * (AWS's own default is true: it erases the instance's point-in-time history). */
int rds_delete_db_instance(rds_instance *out, aws_client *c, const char *id,
                           const char *final_snapshot_id, bool delete_automated_backups);

int rds_add_tags_to_resource(aws_client *c, const char *arn, const rds_tag *tags, size_t ntags);

typedef struct rds_tag_list {
    char **keys;
    char **values;
    size_t n;
} rds_tag_list;

int rds_list_tags_for_resource(rds_tag_list *out, aws_client *c, const char *arn);
void rds_tag_list_dispose(rds_tag_list *l);

/* The value of `key` in `l`; borrowed; NULL if absent. */
const char *rds_tag_list_get(const rds_tag_list *l, const char *key);

/* ---- Aurora clusters ---- */

#define RDS_MAX_CLUSTER_MEMBERS 16 /* Aurora allows a writer and 15 readers */

typedef struct rds_cluster_member {
    char *instance_id;
    bool is_writer;
} rds_cluster_member;

typedef struct rds_cluster {
    char *id;
    char *status;
    char *arn;
    char *engine;
    char *endpoint;        /* the writer endpoint; NULL until there is one */
    char *reader_endpoint; /* NULL when absent */
    int port;              /* 0 when unknown */
    char *database_name;
    char *master_username;
    char *earliest_restorable_time; /* RFC 3339 or NULL */
    char *latest_restorable_time;   /* RFC 3339 or NULL */
    char *create_time;
    rds_cluster_member *members;
    size_t nmembers;
} rds_cluster;

typedef struct rds_cluster_list {
    rds_cluster *items;
    size_t n;
} rds_cluster_list;

void rds_cluster_dispose(rds_cluster *cl);
void rds_cluster_list_dispose(rds_cluster_list *l);

/* All clusters (id NULL) or one, following Marker. A missing id is
 * LB_ENOTFOUND with "DBClusterNotFoundFault: <AWS message>". */
int rds_describe_db_clusters(rds_cluster_list *out, aws_client *c, const char *id);

/* One cluster; convenience over rds_describe_db_clusters. */
int rds_describe_db_cluster(rds_cluster *out, aws_client *c, const char *id);

/* Renames a cluster (ModifyDBCluster NewDBClusterIdentifier,
 * ApplyImmediately=true). Its instances keep their identifiers; the cluster's
 * endpoints follow the new name. */
int rds_modify_db_cluster_rename(rds_cluster *out, aws_client *c, const char *id,
                                 const char *new_id);

/* Deletes a cluster (which must have no instances left, or only deleting
 * ones); with final_snapshot_id NULL, SkipFinalSnapshot=true, else a final
 * DB cluster snapshot of that name. DeleteAutomatedBackups is always sent. */
int rds_delete_db_cluster(rds_cluster *out, aws_client *c, const char *id,
                          const char *final_snapshot_id, bool delete_automated_backups);

typedef struct rds_cluster_restore_options {
    const char *target_id; /* DBClusterIdentifier of the new cluster; required */
    const char *subnet_group;
    const char *const *vpc_security_group_ids;
    size_t nvpc_security_group_ids;
    const rds_tag *tags;
    size_t ntags;
} rds_cluster_restore_options;

/* RestoreDBClusterToPointInTime of `source_id` to restore_time (RFC 3339,
 * RestoreToTime), or to the latest restorable time when restore_time is
 * NULL (UseLatestRestorableTime=true). The new cluster has no instances:
 * add a writer with rds_create_db_instance. */
int rds_restore_db_cluster_to_point_in_time(rds_cluster *out, aws_client *c, const char *source_id,
                                            const char *restore_time,
                                            const rds_cluster_restore_options *o);

typedef struct rds_create_instance_options {
    const char *id;             /* DBInstanceIdentifier; required */
    const char *cluster_id;     /* DBClusterIdentifier; required */
    const char *instance_class; /* DBInstanceClass; required */
    const char *engine;         /* NULL: "aurora-postgresql" */
    const rds_tag *tags;
    size_t ntags;
} rds_create_instance_options;

/* CreateDBInstance of a cluster member (the first one becomes the writer).
 * Storage, credentials and database come from the cluster, so only the
 * member's own parameters are sent. */
int rds_create_db_instance(rds_instance *out, aws_client *c, const rds_create_instance_options *o);

typedef struct rds_cluster_snapshot {
    char *id;
    char *cluster_id;
    char *status;
    char *type; /* "manual" | "automated" */
    char *arn;
    char *create_time;
    char *engine;
} rds_cluster_snapshot;

typedef struct rds_cluster_snapshot_list {
    rds_cluster_snapshot *items;
    size_t n;
} rds_cluster_snapshot_list;

void rds_cluster_snapshot_dispose(rds_cluster_snapshot *s);
void rds_cluster_snapshot_list_dispose(rds_cluster_snapshot_list *l);

int rds_create_db_cluster_snapshot(rds_cluster_snapshot *out, aws_client *c, const char *cluster_id,
                                   const char *snapshot_id, const rds_tag *tags, size_t ntags);

/* DeleteDBClusterSnapshot; *out is the snapshot as the answer describes it
 * (status "deleting"). LB_ENOTFOUND when no such snapshot (already gone).
 * Returns 0 or a negative code. */
int rds_delete_db_cluster_snapshot(rds_cluster_snapshot *out, aws_client *c,
                                   const char *snapshot_id);

typedef struct rds_cluster_snapshot_query {
    const char *cluster_id;    /* DBClusterIdentifier, or NULL */
    const char *snapshot_id;   /* DBClusterSnapshotIdentifier, or NULL */
    const char *snapshot_type; /* "manual", "automated", or NULL */
    const rds_filter *filters; /* "db-cluster-id", "snapshot-type", "engine", ... */
    size_t nfilters;
    int max_records; /* per page, 20..100; 0: the server's default */
} rds_cluster_snapshot_query;

/* Cluster snapshots matching the query, all pages. *out_pages may be NULL. */
int rds_describe_db_cluster_snapshots(rds_cluster_snapshot_list *out, int *out_pages, aws_client *c,
                                      const rds_cluster_snapshot_query *q);

/* Parsers exposed for tests: a <DBInstance> / <DBSnapshot> element. */
int rds_parse_describe_instances(rds_instance_list *out, char **out_marker, const char *body,
                                 size_t len);
int rds_parse_describe_snapshots(rds_snapshot_list *out, char **out_marker, const char *body,
                                 size_t len);
int rds_parse_describe_clusters(rds_cluster_list *out, char **out_marker, const char *body,
                                size_t len);
int rds_parse_describe_cluster_snapshots(rds_cluster_snapshot_list *out, char **out_marker,
                                         const char *body, size_t len);

#endif
