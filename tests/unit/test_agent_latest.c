/* Unit tests for agent/latest.h against a scripted S3: which object
 * latestUnder picks (newest by LastModified then key; manifests, empty
 * objects and, when required, objects without a manifest are skipped; an
 * object tagged lifeboat.dev/backup-result=failed is skipped after reading its
 * tags newest first), and that an unreadable tag set chooses nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/latest.h"
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

#define OBJ(key, time, size)                                                                       \
    "<Contents><Key>" key "</Key><LastModified>2026-12-0" time "T01:00:00.000Z</LastModified>"     \
    "<Size>" size "</Size></Contents>"

/* a.dump (day 1, manifest), b.dump (day 2, manifest; tagged failed below),
 * c.dump (day 3, empty, manifest), d.dump (day 4, no manifest). */
static const char *listing = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                             "<IsTruncated>false</IsTruncated>" OBJ("bk/a.dump", "1", "10")
                                 OBJ("bk/a.manifest.json", "1", "90") OBJ("bk/b.dump", "2", "10")
                                     OBJ("bk/b.manifest.json", "2", "90") OBJ("bk/c.dump", "3", "0")
                                         OBJ("bk/c.manifest.json", "3", "90")
                                             OBJ("bk/d.dump", "4", "10") "</ListBucketResult>";

static const char *tags_failed =
    "<Tagging><TagSet><Tag><Key>lifeboat.dev/uid</Key><Value>u-1</Value></Tag>"
    "<Tag><Key>lifeboat.dev/backup-result</Key><Value>failed</Value></Tag></TagSet></Tagging>";
static const char *tags_owned =
    "<Tagging><TagSet><Tag><Key>lifeboat.dev/uid</Key><Value>u-1</Value></Tag></TagSet>"
    "</Tagging>";

static void test_failed_backup_is_skipped_for_the_next_complete_one(void **state)
{
    fixture *f = *state;
    char *key = NULL, line[256];

    httpd_script(&f->srv, 200, NULL, listing);
    httpd_script(&f->srv, 200, NULL, tags_failed); /* b: the newest complete, failed */
    httpd_script(&f->srv, 200, NULL, tags_owned);  /* a */
    assert_int_equal(latest_backup_under(&key, f->c, "dumps", "bk/", true), 0);
    assert_string_equal(key, "bk/a.dump");
    httpd_req_line(&f->srv, 1, line, sizeof(line));
    assert_string_equal(line, "GET /dumps/bk/b.dump?tagging= HTTP/1.1");
    httpd_req_line(&f->srv, 2, line, sizeof(line));
    assert_string_equal(line, "GET /dumps/bk/a.dump?tagging= HTTP/1.1");
    assert_int_equal(f->srv.nrequests, 3);
    free(key);
}

static void test_without_manifest_the_newest_non_empty_one(void **state)
{
    fixture *f = *state;
    char *key = NULL, line[256];

    httpd_script(&f->srv, 200, NULL, listing);
    httpd_script(&f->srv, 200, NULL, "<Tagging><TagSet></TagSet></Tagging>"); /* d: untagged */
    assert_int_equal(latest_backup_under(&key, f->c, "dumps", "bk/", false), 0);
    assert_string_equal(key, "bk/d.dump"); /* c is newer than b but empty */
    httpd_req_line(&f->srv, 1, line, sizeof(line));
    assert_string_equal(line, "GET /dumps/bk/d.dump?tagging= HTTP/1.1");
    free(key);
}

static void test_unreadable_tags_choose_nothing(void **state)
{
    fixture *f = *state;
    char *key = NULL;

    httpd_script(&f->srv, 200, NULL, listing);
    httpd_script(&f->srv, 403, NULL,
                 "<Error><Code>AccessDenied</Code><Message>no GetObjectTagging</Message></Error>");
    assert_true(latest_backup_under(&key, f->c, "dumps", "bk/", true) < 0);
    assert_null(key);
    assert_non_null(strstr(lb_error_last(), "reading the tags of s3://dumps/bk/b.dump"));
}

static void test_all_failed_names_what_was_skipped(void **state)
{
    fixture *f = *state;
    char *key = NULL;

    httpd_script(&f->srv, 200, NULL, listing);
    httpd_script(&f->srv, 200, NULL, tags_failed); /* b */
    httpd_script(&f->srv, 200, NULL, tags_failed); /* a */
    assert_int_equal(latest_backup_under(&key, f->c, "dumps", "bk/", true), LB_ENOTFOUND);
    assert_null(key);
    assert_string_equal(lb_error_last(),
                        "latestUnder: no complete backup under s3://dumps/bk/ (7 objects; "
                        "skipped: 1 without a manifest, 1 empty, 2 tagged failed)");
}

static void test_empty_prefix_is_not_found(void **state)
{
    fixture *f = *state;
    char *key = NULL;

    httpd_script(&f->srv, 200, NULL,
                 "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
    assert_int_equal(latest_backup_under(&key, f->c, "dumps", "none/", false), LB_ENOTFOUND);
    assert_null(key);
    assert_non_null(strstr(lb_error_last(), "no backup under s3://dumps/none/ (0 objects"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failed_backup_is_skipped_for_the_next_complete_one,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_manifest_the_newest_non_empty_one, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_tags_choose_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_failed_names_what_was_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_prefix_is_not_found, setup, teardown),
    };
    return cmocka_run_group_tests_name("agent_latest", tests, NULL, NULL);
}
