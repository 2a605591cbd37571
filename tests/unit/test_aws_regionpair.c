/* test_aws_regionpair.c - the source and destination clients of a
 * cross-region S3 operation (aws/regionpair.h): unset or equal regions
 * borrow the base client, others get a client signing for their region
 * (scripted S3, test_aws_httpd.h), a malformed region names its side. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aws/regionpair.h"
#include "util/error.h"

#include "test_aws_httpd.h"

static void test_regionpair_unset_or_same_region_borrows_the_base(void **state)
{
    httpd srv;
    aws_client *base;
    aws_credentials_provider *creds;
    aws_region_pair p;
    (void)state;

    httpd_start(&srv);
    httpd_client(&base, &creds, &srv, 1);
    assert_int_equal(aws_region_pair_open(&p, base, NULL, ""), 0);
    assert_ptr_equal(p.src, base);
    assert_ptr_equal(p.dst, base);
    assert_false(p.src_owned || p.dst_owned);
    aws_region_pair_close(&p);
    assert_int_equal(aws_region_pair_open(&p, base, "us-east-1", "us-east-1"), 0);
    assert_ptr_equal(p.src, base);
    assert_ptr_equal(p.dst, base);
    aws_region_pair_close(&p);
    assert_null(p.src);
    aws_client_free(base);
    aws_credentials_provider_free(creds);
    httpd_stop(&srv);
}

static void test_regionpair_other_regions_sign_for_their_region(void **state)
{
    httpd srv;
    aws_client *base;
    aws_credentials_provider *creds;
    aws_region_pair p;
    aws_request req = {.service = "s3", .method = "GET", .bucket = "b", .path = "/k"};
    aws_response resp;
    char auth[512];
    (void)state;

    httpd_start(&srv);
    httpd_client(&base, &creds, &srv, 1);
    httpd_script(&srv, 200, NULL, "x");
    httpd_script(&srv, 200, NULL, "y");
    assert_int_equal(aws_region_pair_open(&p, base, "us-west-2", "eu-central-1"), 0);
    assert_true(p.src_owned && p.dst_owned);
    assert_string_equal(aws_client_region(p.src), "us-west-2");
    assert_string_equal(aws_client_region(p.dst), "eu-central-1");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, p.src, &req), 0);
    aws_response_dispose(&resp);
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, p.dst, &req), 0);
    aws_response_dispose(&resp);
    httpd_req_header(&srv, 0, "Authorization", auth, sizeof(auth));
    assert_non_null(strstr(auth, "/us-west-2/s3/aws4_request"));
    httpd_req_header(&srv, 1, "Authorization", auth, sizeof(auth));
    assert_non_null(strstr(auth, "/eu-central-1/s3/aws4_request"));
    aws_region_pair_close(&p);
    assert_string_equal(aws_client_region(base), "us-east-1");
    aws_client_free(base);
    aws_credentials_provider_free(creds);
    httpd_stop(&srv);
}

static void test_regionpair_malformed_region_names_its_side(void **state)
{
    httpd srv;
    aws_client *base;
    aws_credentials_provider *creds;
    aws_region_pair p;
    (void)state;

    httpd_start(&srv);
    httpd_client(&base, &creds, &srv, 1);
    assert_int_equal(aws_region_pair_open(&p, base, "us-west-2", "EU_WEST"), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "destination region"));
    assert_non_null(strstr(lb_error_last(), "EU_WEST"));
    assert_null(p.src); /* the source's client, already made, was freed */
    assert_false(p.src_owned);
    assert_int_equal(aws_region_pair_open(&p, base, "Us West", NULL), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "source region"));
    aws_client_free(base);
    aws_credentials_provider_free(creds);
    httpd_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regionpair_unset_or_same_region_borrows_the_base),
        cmocka_unit_test(test_regionpair_other_regions_sign_for_their_region),
        cmocka_unit_test(test_regionpair_malformed_region_names_its_side),
    };
    return cmocka_run_group_tests_name("aws_regionpair", tests, NULL, NULL);
}
