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
    assert_int_equal(rds_delete_db_instance(&i, f->c, "old", "old-final"), 0);
    rds_instance_dispose(&i);
    assert_string_equal(httpd_req_body(&f->srv, 1),
                        "Action=DeleteDBInstance&DBInstanceIdentifier=old&"
                        "FinalDBSnapshotIdentifier=old-final&SkipFinalSnapshot=false&"
                        "Version=2014-10-31");
    assert_int_equal(rds_delete_db_instance(&i, f->c, "old", NULL), 0);
    rds_instance_dispose(&i);
    assert_non_null(strstr(httpd_req_body(&f->srv, 2), "SkipFinalSnapshot=true"));
    assert_int_equal(rds_create_db_snapshot(&s, f->c, "shop", "s", NULL, 0), LB_ECONFLICT);
    assert_non_null(strstr(lb_error_last(), "DBSnapshotAlreadyExists: Cannot create"));
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
        T(test_rds_malformed_response_is_an_error),
        T(test_rds_delete_snapshot),
    };
    return cmocka_run_group_tests_name("aws_rds", tests, NULL, NULL);
}
