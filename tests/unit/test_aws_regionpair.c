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

/* A scripted S3 and the base client (us-east-1) of the pairs. */
typedef struct pairfx {
    httpd srv;
    aws_client *base;
    aws_credentials_provider *creds;
} pairfx;

static void pairfx_start(pairfx *f)
{
    httpd_start(&f->srv);
    httpd_client(&f->base, &f->creds, &f->srv, 1);
}

static void pairfx_stop(pairfx *f)
{
    aws_client_free(f->base);
    aws_credentials_provider_free(f->creds);
    httpd_stop(&f->srv);
}

static void test_regionpair_unset_or_same_region_borrows_the_base(void **state)
{
    pairfx f;
    aws_region_pair p;
    (void)state;

    pairfx_start(&f);
    assert_int_equal(aws_region_pair_open(&p, f.base, NULL, ""), 0);
    assert_ptr_equal(p.src, f.base);
    assert_ptr_equal(p.dst, f.base);
    assert_false(p.src_owned || p.dst_owned);
    aws_region_pair_close(&p);
    assert_int_equal(aws_region_pair_open(&p, f.base, "us-east-1", "us-east-1"), 0);
    assert_ptr_equal(p.src, f.base);
    assert_ptr_equal(p.dst, f.base);
    aws_region_pair_close(&p);
    assert_null(p.src);
    pairfx_stop(&f);
}

static void test_regionpair_other_regions_sign_for_their_region(void **state)
{
    pairfx f;
    aws_region_pair p;
    aws_request req = {.service = "s3", .method = "GET", .bucket = "b", .path = "/k"};
    aws_response resp;
    char auth[512];
    (void)state;

    pairfx_start(&f);
    httpd_script(&f.srv, 200, NULL, "x");
    httpd_script(&f.srv, 200, NULL, "y");
    assert_int_equal(aws_region_pair_open(&p, f.base, "us-west-2", "eu-central-1"), 0);
    assert_true(p.src_owned && p.dst_owned);
    assert_string_equal(aws_client_region(p.src), "us-west-2");
    assert_string_equal(aws_client_region(p.dst), "eu-central-1");
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, p.src, &req), 0);
    aws_response_dispose(&resp);
    aws_response_init(&resp);
    assert_int_equal(aws_client_send(&resp, p.dst, &req), 0);
    aws_response_dispose(&resp);
    httpd_req_header(&f.srv, 0, "Authorization", auth, sizeof(auth));
    assert_non_null(strstr(auth, "/us-west-2/s3/aws4_request"));
    httpd_req_header(&f.srv, 1, "Authorization", auth, sizeof(auth));
    assert_non_null(strstr(auth, "/eu-central-1/s3/aws4_request"));
    aws_region_pair_close(&p);
    assert_string_equal(aws_client_region(f.base), "us-east-1");
    pairfx_stop(&f);
}

static void test_regionpair_malformed_region_names_its_side(void **state)
{
    pairfx f;
    aws_region_pair p;
    (void)state;

    pairfx_start(&f);
    assert_int_equal(aws_region_pair_open(&p, f.base, "us-west-2", "EU_WEST"), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "destination region"));
    assert_non_null(strstr(lb_error_last(), "EU_WEST"));
    assert_null(p.src); /* the source's client, already made, was freed */
    assert_false(p.src_owned);
    assert_int_equal(aws_region_pair_open(&p, f.base, "Us West", NULL), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "source region"));
    pairfx_stop(&f);
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
