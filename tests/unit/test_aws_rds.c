/* Unit tests for pkg/aws/rds: Query API requests (form bodies) and
 * responses written from the RDS API reference, Marker paging, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aws/rds.h"
#include "aws/request.h"
#include "util/error.h"

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

static const char *describe_instances =
    "<DescribeDBInstancesResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">\n"
    "  <DescribeDBInstancesResult>\n    <DBInstances>\n      <DBInstance>\n"
    "        <DBInstanceIdentifier>shop-orders-prod</DBInstanceIdentifier>\n"
    "        <DBInstanceClass>db.r6g.large</DBInstanceClass>\n"
    "        <Engine>postgres</Engine>\n"
    "        <DBInstanceStatus>available</DBInstanceStatus>\n"
    "        <MasterUsername>admin</MasterUsername>\n"
    "        <DBName>shop_orders</DBName>\n"
    "        <Endpoint>\n          <Address>shop-orders-prod.abc.us-east-1.rds.amazonaws.com"
    "</Address>\n          <Port>5432</Port>\n"
    "          <HostedZoneId>Z2R2ITUGPM61AM</HostedZoneId>\n        </Endpoint>\n"
    "        <BackupRetentionPeriod>35</BackupRetentionPeriod>\n"
    "        <LatestRestorableTime>2026-02-18T14:55:00Z</LatestRestorableTime>\n"
    "        <DBInstanceArn>arn:aws:rds:us-east-1:123456789012:db:shop-orders-prod"
    "</DBInstanceArn>\n      </DBInstance>\n    </DBInstances>\n"
    "  </DescribeDBInstancesResult>\n  <ResponseMetadata><RequestId>r1</RequestId>"
    "</ResponseMetadata>\n</DescribeDBInstancesResponse>";

static void test_rds_describe_db_instance_parses_fields(void **state)
{
    fixture *f = *state;
    rds_instance i;

    httpd_script(&f->srv, 200, NULL, describe_instances);
    assert_int_equal(rds_describe_db_instance(&i, f->c, "shop-orders-prod"), 0);
    assert_string_equal(i.id, "shop-orders-prod");
    assert_string_equal(i.status, "available");
    assert_string_equal(i.endpoint_address, "shop-orders-prod.abc.us-east-1.rds.amazonaws.com");
    assert_int_equal(i.port, 5432);
    assert_string_equal(i.latest_restorable_time, "2026-02-18T14:55:00Z");
    assert_string_equal(i.arn, "arn:aws:rds:us-east-1:123456789012:db:shop-orders-prod");
    assert_int_equal(i.backup_retention_period, 35);
    assert_string_equal(httpd_req_body(&f->srv, 0),
                        "Action=DescribeDBInstances&DBInstanceIdentifier=shop-orders-prod&"
                        "Version=2014-10-31");
    rds_instance_dispose(&i);
}

static void test_rds_describe_missing_instance_surfaces_aws_message(void **state)
{
    fixture *f = *state;
    rds_instance i;

    httpd_script(&f->srv, 404, NULL,
                 "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error>"
                 "<Type>Sender</Type><Code>DBInstanceNotFound</Code>"
                 "<Message>DBInstance nope not found.</Message></Error>"
                 "<RequestId>x</RequestId></ErrorResponse>");
    assert_int_equal(rds_describe_db_instance(&i, f->c, "nope"), LB_ENOTFOUND);
    assert_string_equal(lb_error_last(),
                        "rds DescribeDBInstances: DBInstanceNotFound: DBInstance nope not found.");
}

static const char *snap_page1 =
    "<DescribeDBSnapshotsResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">"
    "<DescribeDBSnapshotsResult><Marker>m/2+x=</Marker><DBSnapshots>"
    "<DBSnapshot><DBSnapshotIdentifier>rds:shop-2026-02-17</DBSnapshotIdentifier>"
    "<DBInstanceIdentifier>shop</DBInstanceIdentifier><Status>available</Status>"
    "<SnapshotType>automated</SnapshotType><Engine>postgres</Engine>"
    "<SnapshotCreateTime>2026-02-17T03:00:00Z</SnapshotCreateTime>"
    "<DBSnapshotArn>arn:aws:rds:us-east-1:1:snapshot:rds:shop-2026-02-17</DBSnapshotArn>"
    "</DBSnapshot>"
    "<DBSnapshot><DBSnapshotIdentifier>pre-deploy</DBSnapshotIdentifier>"
    "<DBInstanceIdentifier>shop</DBInstanceIdentifier><Status>creating</Status>"
    "<SnapshotType>manual</SnapshotType></DBSnapshot>"
    "</DBSnapshots></DescribeDBSnapshotsResult></DescribeDBSnapshotsResponse>";

static const char *snap_page2 =
    "<DescribeDBSnapshotsResponse><DescribeDBSnapshotsResult><DBSnapshots>"
    "<DBSnapshot><DBSnapshotIdentifier>rds:shop-2026-02-18</DBSnapshotIdentifier>"
    "<DBInstanceIdentifier>shop</DBInstanceIdentifier><Status>available</Status>"
    "<SnapshotType>automated</SnapshotType></DBSnapshot>"
    "</DBSnapshots></DescribeDBSnapshotsResult></DescribeDBSnapshotsResponse>";

static void test_rds_describe_snapshots_pages_with_marker_and_filters(void **state)
{
    fixture *f = *state;
    const char *const engines[] = {"postgres", "aurora-postgresql"};
    rds_filter filter = {"engine", engines, 2};
    rds_snapshot_query q;
    rds_snapshot_list l;
    int pages = 0;

    memset(&q, 0, sizeof(q));
    q.instance_id = "shop";
    q.filters = &filter;
    q.nfilters = 1;
    q.max_records = 20;
    httpd_script(&f->srv, 200, NULL, snap_page1);
    httpd_script(&f->srv, 200, NULL, snap_page2);
    assert_int_equal(rds_describe_db_snapshots(&l, &pages, f->c, &q), 0);
    assert_int_equal(pages, 2);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].id, "rds:shop-2026-02-17");
    assert_string_equal(l.items[0].type, "automated");
    assert_string_equal(l.items[0].create_time, "2026-02-17T03:00:00Z");
    assert_string_equal(l.items[1].status, "creating");
    assert_string_equal(l.items[2].id, "rds:shop-2026-02-18");
    assert_string_equal(httpd_req_body(&f->srv, 0),
                        "Action=DescribeDBSnapshots&DBInstanceIdentifier=shop&"
                        "Filters.Filter.1.Name=engine&"
                        "Filters.Filter.1.Values.Value.1=postgres&"
                        "Filters.Filter.1.Values.Value.2=aurora-postgresql&MaxRecords=20&"
                        "Version=2014-10-31");
    assert_non_null(strstr(httpd_req_body(&f->srv, 1), "&Marker=m%2F2%2Bx%3D&"));
    rds_snapshot_list_dispose(&l);
}

static void test_rds_describe_snapshots_rejects_bad_max_records(void **state)
{
    fixture *f = *state;
    rds_snapshot_query q;
    rds_snapshot_list l;
    memset(&q, 0, sizeof(q));
    q.max_records = 5;
    assert_int_equal(rds_describe_db_snapshots(&l, NULL, f->c, &q), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "MaxRecords"));
    assert_int_equal(f->srv.nrequests, 0);
}

static void test_rds_restore_to_point_in_time_request(void **state)
{
    fixture *f = *state;
    const char *const sgs[] = {"sg-123"};
    rds_tag tags[] = {{"lifeboat.dev/owner", "RestoreRequest/shop/orders-pitr"}};
    rds_restore_options o = {"shop-restored", "db.r6g.large", NULL, sgs, 1, 0, tags, 1};
    rds_instance i;

    httpd_script(&f->srv, 200, NULL,
                 "<RestoreDBInstanceToPointInTimeResponse><RestoreDBInstanceToPointInTimeResult>"
                 "<DBInstance><DBInstanceIdentifier>shop-restored</DBInstanceIdentifier>"
                 "<DBInstanceStatus>creating</DBInstanceStatus></DBInstance>"
                 "</RestoreDBInstanceToPointInTimeResult>"
                 "</RestoreDBInstanceToPointInTimeResponse>");
    assert_int_equal(
        rds_restore_db_instance_to_point_in_time(&i, f->c, "shop", "2026-02-18T14:30:00Z", &o), 0);
    assert_string_equal(i.status, "creating");
    assert_null(i.endpoint_address);
    assert_string_equal(httpd_req_body(&f->srv, 0),
                        "Action=RestoreDBInstanceToPointInTime&DBInstanceClass=db.r6g.large&"
                        "PubliclyAccessible=false&RestoreTime=2026-02-18T14%3A30%3A00Z&"
                        "SourceDBInstanceIdentifier=shop&"
                        "Tags.Tag.1.Key=lifeboat.dev%2Fowner&"
                        "Tags.Tag.1.Value=RestoreRequest%2Fshop%2Forders-pitr&"
                        "TargetDBInstanceIdentifier=shop-restored&Version=2014-10-31&"
                        "VpcSecurityGroupIds.VpcSecurityGroupId.1=sg-123");
    rds_instance_dispose(&i);
}

static void test_rds_restore_latest_and_snapshot_requests(void **state)
{
    fixture *f = *state;
    rds_restore_options o = {"t", NULL, NULL, NULL, 0, -1, NULL, 0};
    rds_instance i;
    const char *resp = "<R><RestoreDBInstanceToPointInTimeResult><DBInstance>"
                       "<DBInstanceIdentifier>t</DBInstanceIdentifier></DBInstance>"
                       "</RestoreDBInstanceToPointInTimeResult></R>";
    httpd_script(&f->srv, 200, NULL, resp);
    httpd_script(&f->srv, 200, NULL,
                 "<R><RestoreDBInstanceFromDBSnapshotResult><DBInstance>"
                 "<DBInstanceIdentifier>t</DBInstanceIdentifier></DBInstance>"
                 "</RestoreDBInstanceFromDBSnapshotResult></R>");
    assert_int_equal(rds_restore_db_instance_to_point_in_time(&i, f->c, "s", NULL, &o), 0);
    rds_instance_dispose(&i);
    assert_non_null(strstr(httpd_req_body(&f->srv, 0), "UseLatestRestorableTime=true"));
    assert_int_equal(rds_restore_db_instance_from_db_snapshot(&i, f->c, "snap-1", &o), 0);
    rds_instance_dispose(&i);
    assert_string_equal(httpd_req_body(&f->srv, 1),
                        "Action=RestoreDBInstanceFromDBSnapshot&DBInstanceIdentifier=t&"
                        "DBSnapshotIdentifier=snap-1&Version=2014-10-31");
}

static void test_rds_restore_needs_target(void **state)
{
    fixture *f = *state;
    rds_restore_options o = {NULL, NULL, NULL, NULL, 0, -1, NULL, 0};
    rds_instance i;
    assert_int_equal(rds_restore_db_instance_from_db_snapshot(&i, f->c, "s", &o), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "DBInstanceIdentifier"));
}

static void test_rds_rename_delete_and_snapshot_requests(void **state)
{
    fixture *f = *state;
    rds_instance i;
    rds_snapshot s;
    httpd_script(&f->srv, 200, NULL,
                 "<R><ModifyDBInstanceResult><DBInstance><DBInstanceIdentifier>shop"
                 "</DBInstanceIdentifier><DBInstanceStatus>renaming</DBInstanceStatus>"
                 "</DBInstance></ModifyDBInstanceResult></R>");
    httpd_script(&f->srv, 200, NULL,
                 "<R><DeleteDBInstanceResult><DBInstance><DBInstanceIdentifier>old"
                 "</DBInstanceIdentifier><DBInstanceStatus>deleting</DBInstanceStatus>"
                 "</DBInstance></DeleteDBInstanceResult></R>");
    httpd_script(&f->srv, 200, NULL,
                 "<R><DeleteDBInstanceResult><DBInstance><DBInstanceIdentifier>old"
                 "</DBInstanceIdentifier></DBInstance></DeleteDBInstanceResult></R>");
    httpd_script(&f->srv, 400, NULL,
                 "<ErrorResponse><Error><Code>DBSnapshotAlreadyExists</Code><Message>Cannot "
                 "create the snapshot because a snapshot with the identifier s already exists."
                 "</Message></Error></ErrorResponse>");
    assert_int_equal(rds_modify_db_instance_rename(&i, f->c, "shop-restored", "shop"), 0);
    assert_string_equal(i.status, "renaming");
    rds_instance_dispose(&i);
    assert_string_equal(httpd_req_body(&f->srv, 0),
                        "Action=ModifyDBInstance&ApplyImmediately=true&"
                        "DBInstanceIdentifier=shop-restored&NewDBInstanceIdentifier=shop&"
                        "Version=2014-10-31");
    assert_int_equal(rds_delete_db_instance(&i, f->c, "old", "old-final", false), 0);
    rds_instance_dispose(&i);
    assert_string_equal(httpd_req_body(&f->srv, 1),
                        "Action=DeleteDBInstance&DBInstanceIdentifier=old&"
                        "DeleteAutomatedBackups=false&"
                        "FinalDBSnapshotIdentifier=old-final&SkipFinalSnapshot=false&"
                        "Version=2014-10-31");
    assert_int_equal(rds_delete_db_instance(&i, f->c, "old", NULL, true), 0);
    rds_instance_dispose(&i);
    assert_non_null(strstr(httpd_req_body(&f->srv, 2), "SkipFinalSnapshot=true"));
    assert_non_null(strstr(httpd_req_body(&f->srv, 2), "DeleteAutomatedBackups=true"));
    assert_int_equal(rds_create_db_snapshot(&s, f->c, "shop", "s", NULL, 0), LB_ECONFLICT);
    assert_non_null(strstr(lb_error_last(), "DBSnapshotAlreadyExists: Cannot create"));
}

static void test_rds_cluster_rename_and_delete_requests(void **state)
{
    fixture *f = *state;
    rds_cluster cl;
    httpd_script(&f->srv, 200, NULL,
                 "<R><ModifyDBClusterResult><DBCluster><DBClusterIdentifier>loans"
                 "</DBClusterIdentifier><Status>renaming</Status>"
                 "</DBCluster></ModifyDBClusterResult></R>");
    httpd_script(&f->srv, 200, NULL,
                 "<R><DeleteDBClusterResult><DBCluster><DBClusterIdentifier>old"
                 "</DBClusterIdentifier><Status>deleting</Status>"
                 "</DBCluster></DeleteDBClusterResult></R>");
    httpd_script(&f->srv, 200, NULL,
                 "<R><DeleteDBClusterResult><DBCluster><DBClusterIdentifier>old"
                 "</DBClusterIdentifier></DBCluster></DeleteDBClusterResult></R>");
    httpd_script(&f->srv, 400, NULL,
                 "<ErrorResponse><Error><Code>InvalidDBClusterStateFault</Code><Message>Cluster "
                 "cannot be deleted, it still contains DB instances in non-deleting state."
                 "</Message></Error></ErrorResponse>");
    assert_int_equal(rds_modify_db_cluster_rename(&cl, f->c, "loans-restored", "loans"), 0);
    assert_string_equal(cl.id, "loans");
    assert_string_equal(cl.status, "renaming");
    rds_cluster_dispose(&cl);
    assert_string_equal(httpd_req_body(&f->srv, 0),
                        "Action=ModifyDBCluster&ApplyImmediately=true&"
                        "DBClusterIdentifier=loans-restored&NewDBClusterIdentifier=loans&"
                        "Version=2014-10-31");
    assert_int_equal(rds_delete_db_cluster(&cl, f->c, "old", "old-final", false), 0);
    assert_string_equal(cl.status, "deleting");
    rds_cluster_dispose(&cl);
    assert_string_equal(httpd_req_body(&f->srv, 1),
                        "Action=DeleteDBCluster&DBClusterIdentifier=old&"
                        "DeleteAutomatedBackups=false&"
                        "FinalDBSnapshotIdentifier=old-final&SkipFinalSnapshot=false&"
                        "Version=2014-10-31");
    assert_int_equal(rds_delete_db_cluster(&cl, f->c, "old", NULL, true), 0);
    rds_cluster_dispose(&cl);
    assert_non_null(strstr(httpd_req_body(&f->srv, 2), "SkipFinalSnapshot=true"));
    assert_null(strstr(httpd_req_body(&f->srv, 2), "FinalDBSnapshotIdentifier"));
    assert_non_null(strstr(httpd_req_body(&f->srv, 2), "DeleteAutomatedBackups=true"));
    assert_int_not_equal(rds_delete_db_cluster(&cl, f->c, "old", "old-final", false), 0);
    assert_non_null(strstr(lb_error_last(), "InvalidDBClusterStateFault: Cluster cannot"));
    /* empty identifiers are refused before any request */
    assert_int_equal(rds_modify_db_cluster_rename(&cl, f->c, "", "x"), LB_EINVALID);
    assert_int_equal(rds_delete_db_cluster(&cl, f->c, NULL, NULL, false), LB_EINVALID);
    assert_int_equal(f->srv.nrequests, 4);
}

static void test_rds_tags_round_trip(void **state)
{
    fixture *f = *state;
    rds_tag tags[] = {{"lifeboat.dev/uid", "u-1"}, {"team", "shop"}};
    rds_tag_list l;
    httpd_script(&f->srv, 200, NULL,
                 "<AddTagsToResourceResponse><ResponseMetadata><RequestId>1</RequestId>"
                 "</ResponseMetadata></AddTagsToResourceResponse>");
    httpd_script(&f->srv, 200, NULL,
                 "<ListTagsForResourceResponse><ListTagsForResourceResult><TagList>"
                 "<Tag><Key>lifeboat.dev/uid</Key><Value>u-1</Value></Tag>"
                 "<Tag><Key>team</Key><Value>shop</Value></Tag>"
                 "</TagList></ListTagsForResourceResult></ListTagsForResourceResponse>");
    assert_int_equal(rds_add_tags_to_resource(f->c, "arn:aws:rds:us-east-1:1:db:x", tags, 2), 0);
    assert_string_equal(httpd_req_body(&f->srv, 0),
                        "Action=AddTagsToResource&ResourceName=arn%3Aaws%3Ards%3Aus-east-1%3A1%3A"
                        "db%3Ax&Tags.Tag.1.Key=lifeboat.dev%2Fuid&Tags.Tag.1.Value=u-1&"
                        "Tags.Tag.2.Key=team&Tags.Tag.2.Value=shop&Version=2014-10-31");
    assert_int_equal(rds_list_tags_for_resource(&l, f->c, "arn:aws:rds:us-east-1:1:db:x"), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(rds_tag_list_get(&l, "lifeboat.dev/uid"), "u-1");
    assert_null(rds_tag_list_get(&l, "absent"));
    rds_tag_list_dispose(&l);
}

static void test_rds_malformed_response_is_an_error(void **state)
{
    fixture *f = *state;
    rds_instance_list l;
    httpd_script(&f->srv, 200, NULL, "<DescribeDBInstancesResponse><Oops/>");
    assert_int_equal(rds_describe_db_instances(&l, f->c, NULL), LB_ERROR);
    assert_non_null(strstr(lb_error_last(), "malformed XML"));
}

static void test_rds_delete_snapshot(void **state)
{
    fixture *f = *state;
    rds_snapshot s;
    httpd_script(&f->srv, 200, NULL,
                 "<DeleteDBSnapshotResponse><DeleteDBSnapshotResult><DBSnapshot>"
                 "<DBSnapshotIdentifier>old-snap</DBSnapshotIdentifier><Status>deleted</Status>"
                 "</DBSnapshot></DeleteDBSnapshotResult></DeleteDBSnapshotResponse>");
    httpd_script(&f->srv, 404, NULL,
                 "<ErrorResponse><Error><Code>DBSnapshotNotFound</Code><Message>DBSnapshot gone "
                 "not found.</Message></Error></ErrorResponse>");
    assert_int_equal(rds_delete_db_snapshot(&s, f->c, "old-snap"), 0);
    assert_string_equal(s.status, "deleted");
    rds_snapshot_dispose(&s);
    assert_string_equal(httpd_req_body(&f->srv, 0),
                        "Action=DeleteDBSnapshot&DBSnapshotIdentifier=old-snap&Version=2014-10-31");
    assert_int_equal(rds_delete_db_snapshot(&s, f->c, "gone"), LB_ENOTFOUND);
    assert_non_null(strstr(lb_error_last(), "DBSnapshotNotFound: DBSnapshot gone not found."));
}

static const char *clusters_page1 =
    "<DescribeDBClustersResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">\n"
    "  <DescribeDBClustersResult>\n    <Marker>c+1/=</Marker>\n    <DBClusters>\n"
    "      <DBCluster>\n"
    "        <DBClusterIdentifier>loanserve-prod-aurora</DBClusterIdentifier>\n"
    "        <Status>available</Status>\n"
    "        <Engine>aurora-postgresql</Engine>\n"
    "        <EngineVersion>15.4</EngineVersion>\n"
    "        <Endpoint>loanserve-prod-aurora.cluster-abc.us-east-1.rds.amazonaws.com"
    "</Endpoint>\n"
    "        <ReaderEndpoint>loanserve-prod-aurora.cluster-ro-abc.us-east-1.rds.amazonaws.com"
    "</ReaderEndpoint>\n"
    "        <Port>5432</Port>\n"
    "        <DatabaseName>loanserve</DatabaseName>\n"
    "        <MasterUsername>loanserve</MasterUsername>\n"
    "        <EarliestRestorableTime>2026-02-11T03:10:00.123Z</EarliestRestorableTime>\n"
    "        <LatestRestorableTime>2026-02-18T14:55:00Z</LatestRestorableTime>\n"
    "        <ClusterCreateTime>2025-06-01T10:00:00Z</ClusterCreateTime>\n"
    "        <DBClusterMembers>\n"
    "          <DBClusterMember><DBInstanceIdentifier>loanserve-writer</DBInstanceIdentifier>"
    "<IsClusterWriter>true</IsClusterWriter><PromotionTier>1</PromotionTier>"
    "</DBClusterMember>\n"
    "          <DBClusterMember><DBInstanceIdentifier>loanserve-reader</DBInstanceIdentifier>"
    "<IsClusterWriter>false</IsClusterWriter><PromotionTier>1</PromotionTier>"
    "</DBClusterMember>\n"
    "        </DBClusterMembers>\n"
    "        <DBClusterArn>arn:aws:rds:us-east-1:123456789012:cluster:loanserve-prod-aurora"
    "</DBClusterArn>\n"
    "      </DBCluster>\n    </DBClusters>\n  </DescribeDBClustersResult>\n"
    "  <ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata>\n"
    "</DescribeDBClustersResponse>";

static const char *clusters_page2 =
    "<DescribeDBClustersResponse><DescribeDBClustersResult><DBClusters><DBCluster>"
    "<DBClusterIdentifier>other</DBClusterIdentifier><Status>creating</Status>"
    "<Engine>aurora-postgresql</Engine><DBClusterMembers/>"
    "</DBCluster></DBClusters></DescribeDBClustersResult></DescribeDBClustersResponse>";

static void test_rds_describe_db_clusters_pages_and_parses_members(void **state)
{
    fixture *f = *state;
    rds_cluster_list l;

    httpd_script(&f->srv, 200, NULL, clusters_page1);
    httpd_script(&f->srv, 200, NULL, clusters_page2);
    assert_int_equal(rds_describe_db_clusters(&l, f->c, NULL), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].id, "loanserve-prod-aurora");
    assert_string_equal(l.items[0].status, "available");
    assert_string_equal(l.items[0].endpoint,
                        "loanserve-prod-aurora.cluster-abc.us-east-1.rds.amazonaws.com");
    assert_string_equal(l.items[0].reader_endpoint,
                        "loanserve-prod-aurora.cluster-ro-abc.us-east-1.rds.amazonaws.com");
    assert_int_equal(l.items[0].port, 5432);
    assert_string_equal(l.items[0].database_name, "loanserve");
    assert_string_equal(l.items[0].earliest_restorable_time, "2026-02-11T03:10:00.123Z");
    assert_string_equal(l.items[0].latest_restorable_time, "2026-02-18T14:55:00Z");
    assert_string_equal(l.items[0].arn,
                        "arn:aws:rds:us-east-1:123456789012:cluster:loanserve-prod-aurora");
    assert_int_equal(l.items[0].nmembers, 2);
    assert_string_equal(l.items[0].members[0].instance_id, "loanserve-writer");
    assert_true(l.items[0].members[0].is_writer);
    assert_false(l.items[0].members[1].is_writer);
    assert_string_equal(l.items[1].id, "other");
    assert_null(l.items[1].endpoint);
    assert_int_equal(l.items[1].nmembers, 0);
    assert_string_equal(httpd_req_body(&f->srv, 0), "Action=DescribeDBClusters&Version=2014-10-31");
    assert_string_equal(httpd_req_body(&f->srv, 1),
                        "Action=DescribeDBClusters&Marker=c%2B1%2F%3D&Version=2014-10-31");
    rds_cluster_list_dispose(&l);
}

static void test_rds_describe_missing_cluster_surfaces_aws_message(void **state)
{
    fixture *f = *state;
    rds_cluster cl;

    httpd_script(&f->srv, 404, NULL,
                 "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error>"
                 "<Type>Sender</Type><Code>DBClusterNotFoundFault</Code>"
                 "<Message>DBCluster nope not found.</Message></Error>"
                 "<RequestId>x</RequestId></ErrorResponse>");
    assert_int_equal(rds_describe_db_cluster(&cl, f->c, "nope"), LB_ENOTFOUND);
    assert_string_equal(
        lb_error_last(),
        "rds DescribeDBClusters: DBClusterNotFoundFault: DBCluster nope not found.");
    assert_string_equal(httpd_req_body(&f->srv, 0),
                        "Action=DescribeDBClusters&DBClusterIdentifier=nope&Version=2014-10-31");
}

static const char *restored_cluster =
    "<RestoreDBClusterToPointInTimeResponse><RestoreDBClusterToPointInTimeResult><DBCluster>"
    "<DBClusterIdentifier>loanserve-restored</DBClusterIdentifier><Status>creating</Status>"
    "<Engine>aurora-postgresql</Engine><DBClusterMembers/></DBCluster>"
    "</RestoreDBClusterToPointInTimeResult></RestoreDBClusterToPointInTimeResponse>";

static void test_rds_restore_cluster_to_point_in_time_request(void **state)
{
    fixture *f = *state;
    const char *const sgs[] = {"sg-1", "sg-2"};
    rds_tag tags[] = {{"lifeboat.dev/owner", "RestoreRequest/loans/pitr"},
                      {"lifeboat.dev/uid", "u-7"}};
    rds_cluster_restore_options o = {"loanserve-restored", "loan-db-subnets", sgs, 2, tags, 2};
    rds_cluster cl;

    httpd_script(&f->srv, 200, NULL, restored_cluster);
    httpd_script(&f->srv, 200, NULL, restored_cluster);
    assert_int_equal(rds_restore_db_cluster_to_point_in_time(&cl, f->c, "loanserve-prod-aurora",
                                                             "2026-02-18T14:30:00Z", &o),
                     0);
    assert_string_equal(cl.id, "loanserve-restored");
    assert_string_equal(cl.status, "creating");
    rds_cluster_dispose(&cl);
    assert_string_equal(httpd_req_body(&f->srv, 0),
                        "Action=RestoreDBClusterToPointInTime&DBClusterIdentifier="
                        "loanserve-restored&DBSubnetGroupName=loan-db-subnets&"
                        "RestoreToTime=2026-02-18T14%3A30%3A00Z&"
                        "SourceDBClusterIdentifier=loanserve-prod-aurora&"
                        "Tags.Tag.1.Key=lifeboat.dev%2Fowner&"
                        "Tags.Tag.1.Value=RestoreRequest%2Floans%2Fpitr&"
                        "Tags.Tag.2.Key=lifeboat.dev%2Fuid&Tags.Tag.2.Value=u-7&"
                        "Version=2014-10-31&VpcSecurityGroupIds.VpcSecurityGroupId.1=sg-1&"
                        "VpcSecurityGroupIds.VpcSecurityGroupId.2=sg-2");
    o.subnet_group = NULL;
    o.nvpc_security_group_ids = 0;
    o.ntags = 0;
    assert_int_equal(
        rds_restore_db_cluster_to_point_in_time(&cl, f->c, "loanserve-prod-aurora", NULL, &o), 0);
    rds_cluster_dispose(&cl);
    assert_string_equal(httpd_req_body(&f->srv, 1),
                        "Action=RestoreDBClusterToPointInTime&DBClusterIdentifier="
                        "loanserve-restored&SourceDBClusterIdentifier=loanserve-prod-aurora&"
                        "UseLatestRestorableTime=true&Version=2014-10-31");
}

static void test_rds_restore_cluster_error_and_validation(void **state)
{
    fixture *f = *state;
    rds_cluster_restore_options o = {"t", NULL, NULL, 0, NULL, 0};
    rds_cluster_restore_options none = {NULL, NULL, NULL, 0, NULL, 0};
    rds_cluster cl;

    assert_int_equal(rds_restore_db_cluster_to_point_in_time(&cl, f->c, "s", NULL, &none),
                     LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "DBClusterIdentifier (target)"));
    assert_int_equal(f->srv.nrequests, 0);
    httpd_script(&f->srv, 400, NULL,
                 "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidRestoreFault</Code>"
                 "<Message>Restore time 2020-01-01T00:00:00Z is outside the restorable window"
                 "</Message></Error></ErrorResponse>");
    assert_int_equal(
        rds_restore_db_cluster_to_point_in_time(&cl, f->c, "s", "2020-01-01T00:00:00Z", &o),
        LB_EINVALID);
    assert_string_equal(lb_error_last(),
                        "rds RestoreDBClusterToPointInTime: InvalidRestoreFault: Restore time "
                        "2020-01-01T00:00:00Z is outside the restorable window");
}

static void test_rds_create_cluster_writer_request(void **state)
{
    fixture *f = *state;
    rds_tag tags[] = {{"lifeboat.dev/owner", "RestoreRequest/loans/pitr"}};
    rds_create_instance_options o = {
        "loanserve-restored-writer", "loanserve-restored", "db.r6g.large", NULL, tags, 1};
    rds_create_instance_options no_cluster = {"w", NULL, "db.r6g.large", NULL, NULL, 0};
    rds_instance i;

    assert_int_equal(rds_create_db_instance(&i, f->c, &no_cluster), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "DBClusterIdentifier"));
    httpd_script(&f->srv, 200, NULL,
                 "<CreateDBInstanceResponse><CreateDBInstanceResult><DBInstance>"
                 "<DBInstanceIdentifier>loanserve-restored-writer</DBInstanceIdentifier>"
                 "<DBInstanceClass>db.r6g.large</DBInstanceClass>"
                 "<Engine>aurora-postgresql</Engine><DBInstanceStatus>creating</DBInstanceStatus>"
                 "<DBClusterIdentifier>loanserve-restored</DBClusterIdentifier>"
                 "</DBInstance></CreateDBInstanceResult></CreateDBInstanceResponse>");
    assert_int_equal(rds_create_db_instance(&i, f->c, &o), 0);
    assert_string_equal(i.id, "loanserve-restored-writer");
    assert_string_equal(i.cluster_id, "loanserve-restored");
    assert_string_equal(i.status, "creating");
    assert_string_equal(httpd_req_body(&f->srv, 0),
                        "Action=CreateDBInstance&DBClusterIdentifier=loanserve-restored&"
                        "DBInstanceClass=db.r6g.large&"
                        "DBInstanceIdentifier=loanserve-restored-writer&"
                        "Engine=aurora-postgresql&Tags.Tag.1.Key=lifeboat.dev%2Fowner&"
                        "Tags.Tag.1.Value=RestoreRequest%2Floans%2Fpitr&Version=2014-10-31");
    rds_instance_dispose(&i);
}

static const char *csnap_page1 =
    "<DescribeDBClusterSnapshotsResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">"
    "<DescribeDBClusterSnapshotsResult><Marker>p2</Marker><DBClusterSnapshots>"
    "<DBClusterSnapshot><DBClusterSnapshotIdentifier>rds:loanserve-2026-02-17-03-10"
    "</DBClusterSnapshotIdentifier><DBClusterIdentifier>loanserve</DBClusterIdentifier>"
    "<Status>available</Status><SnapshotType>automated</SnapshotType>"
    "<Engine>aurora-postgresql</Engine><PercentProgress>100</PercentProgress>"
    "<SnapshotCreateTime>2026-02-17T03:10:00Z</SnapshotCreateTime>"
    "<DBClusterSnapshotArn>arn:aws:rds:us-east-1:1:cluster-snapshot:rds:loanserve-2026-02-17-"
    "03-10</DBClusterSnapshotArn></DBClusterSnapshot>"
    "</DBClusterSnapshots></DescribeDBClusterSnapshotsResult>"
    "</DescribeDBClusterSnapshotsResponse>";

static const char *csnap_page2 =
    "<DescribeDBClusterSnapshotsResponse><DescribeDBClusterSnapshotsResult>"
    "<DBClusterSnapshots><DBClusterSnapshot><DBClusterSnapshotIdentifier>pre-migration"
    "</DBClusterSnapshotIdentifier><DBClusterIdentifier>loanserve</DBClusterIdentifier>"
    "<Status>creating</Status><SnapshotType>manual</SnapshotType></DBClusterSnapshot>"
    "</DBClusterSnapshots><Marker></Marker></DescribeDBClusterSnapshotsResult>"
    "</DescribeDBClusterSnapshotsResponse>";

static void test_rds_cluster_snapshots_create_and_page_with_filters(void **state)
{
    fixture *f = *state;
    const char *const types[] = {"manual", "automated"};
    rds_filter filter = {"snapshot-type", types, 2};
    rds_cluster_snapshot_query q;
    rds_cluster_snapshot_list l;
    rds_cluster_snapshot s;
    rds_tag tag = {"lifeboat.dev/owner", "BackupPolicy/loans/nightly"};
    int pages = 0;

    httpd_script(&f->srv, 200, NULL,
                 "<CreateDBClusterSnapshotResponse><CreateDBClusterSnapshotResult>"
                 "<DBClusterSnapshot><DBClusterSnapshotIdentifier>pre-migration"
                 "</DBClusterSnapshotIdentifier><DBClusterIdentifier>loanserve"
                 "</DBClusterIdentifier><Status>creating</Status><SnapshotType>manual"
                 "</SnapshotType></DBClusterSnapshot></CreateDBClusterSnapshotResult>"
                 "</CreateDBClusterSnapshotResponse>");
    httpd_script(&f->srv, 200, NULL, csnap_page1);
    httpd_script(&f->srv, 200, NULL, csnap_page2);
    assert_int_equal(
        rds_create_db_cluster_snapshot(&s, f->c, "loanserve", "pre-migration", &tag, 1), 0);
    assert_string_equal(s.id, "pre-migration");
    assert_string_equal(s.cluster_id, "loanserve");
    assert_string_equal(s.status, "creating");
    rds_cluster_snapshot_dispose(&s);
    assert_string_equal(httpd_req_body(&f->srv, 0),
                        "Action=CreateDBClusterSnapshot&DBClusterIdentifier=loanserve&"
                        "DBClusterSnapshotIdentifier=pre-migration&"
                        "Tags.Tag.1.Key=lifeboat.dev%2Fowner&"
                        "Tags.Tag.1.Value=BackupPolicy%2Floans%2Fnightly&Version=2014-10-31");
    memset(&q, 0, sizeof(q));
    q.cluster_id = "loanserve";
    q.filters = &filter;
    q.nfilters = 1;
    q.max_records = 20;
    assert_int_equal(rds_describe_db_cluster_snapshots(&l, &pages, f->c, &q), 0);
    assert_int_equal(pages, 2);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].id, "rds:loanserve-2026-02-17-03-10");
    assert_string_equal(l.items[0].type, "automated");
    assert_string_equal(l.items[0].create_time, "2026-02-17T03:10:00Z");
    assert_string_equal(l.items[0].arn,
                        "arn:aws:rds:us-east-1:1:cluster-snapshot:rds:loanserve-2026-02-17-03-10");
    assert_string_equal(l.items[1].id, "pre-migration");
    assert_string_equal(l.items[1].status, "creating");
    assert_string_equal(httpd_req_body(&f->srv, 1),
                        "Action=DescribeDBClusterSnapshots&DBClusterIdentifier=loanserve&"
                        "Filters.Filter.1.Name=snapshot-type&"
                        "Filters.Filter.1.Values.Value.1=manual&"
                        "Filters.Filter.1.Values.Value.2=automated&MaxRecords=20&"
                        "Version=2014-10-31");
    assert_non_null(strstr(httpd_req_body(&f->srv, 2), "&Marker=p2&"));
    rds_cluster_snapshot_list_dispose(&l);
    q.max_records = 101;
    assert_int_equal(rds_describe_db_cluster_snapshots(&l, NULL, f->c, &q), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "MaxRecords must be 20..100"));
    assert_int_equal(f->srv.nrequests, 3);
}

static void test_rds_cluster_snapshot_error_body(void **state)
{
    fixture *f = *state;
    rds_cluster_snapshot s;
    httpd_script(&f->srv, 400, NULL,
                 "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error>"
                 "<Type>Sender</Type><Code>InvalidDBClusterStateFault</Code><Message>DBCluster "
                 "loanserve is not in the available state.</Message></Error>"
                 "<RequestId>r</RequestId></ErrorResponse>");
    /* A state fault is a conflict: the caller polls and tries again. */
    assert_int_equal(rds_create_db_cluster_snapshot(&s, f->c, "loanserve", "s1", NULL, 0),
                     LB_ECONFLICT);
    assert_string_equal(lb_error_last(), "rds CreateDBClusterSnapshot: InvalidDBClusterStateFault: "
                                         "DBCluster loanserve is not in the available state.");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_rds_describe_db_instance_parses_fields),
        T(test_rds_describe_missing_instance_surfaces_aws_message),
        T(test_rds_describe_snapshots_pages_with_marker_and_filters),
        T(test_rds_describe_snapshots_rejects_bad_max_records),
        T(test_rds_restore_to_point_in_time_request),
        T(test_rds_restore_latest_and_snapshot_requests),
        T(test_rds_restore_needs_target),
        T(test_rds_rename_delete_and_snapshot_requests),
        T(test_rds_tags_round_trip),
        T(test_rds_cluster_rename_and_delete_requests),
        T(test_rds_malformed_response_is_an_error),
        T(test_rds_delete_snapshot),
        T(test_rds_describe_db_clusters_pages_and_parses_members),
        T(test_rds_describe_missing_cluster_surfaces_aws_message),
        T(test_rds_restore_cluster_to_point_in_time_request),
        T(test_rds_restore_cluster_error_and_validation),
        T(test_rds_create_cluster_writer_request),
        T(test_rds_cluster_snapshots_create_and_page_with_filters),
        T(test_rds_cluster_snapshot_error_body),
    };
    return cmocka_run_group_tests_name("aws_rds", tests, NULL, NULL);
}
