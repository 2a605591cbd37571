/* Unit tests for pkg/aws/error: the three AWS error shapes (bodies as the
 * API references document them), the mapping to Lifeboat codes, and what
 * is retried. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aws/error.h"
#include "aws/xml.h"
#include "util/error.h"

static void parse(const char *body, long status, const char *want_code, const char *want_msg)
{
    char *code = NULL, *msg = NULL;
    assert_int_equal(aws_error_parse(&code, &msg, status, body, body ? strlen(body) : 0), 0);
    assert_string_equal(code, want_code);
    assert_string_equal(msg, want_msg);
    free(code);
    free(msg);
}

static void test_aws_error_rds_query_xml(void **state)
{
    (void)state;
    parse("<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">\n"
          "  <Error>\n    <Type>Sender</Type>\n    <Code>DBInstanceNotFound</Code>\n"
          "    <Message>DBInstance shop-orders-prod not found.</Message>\n  </Error>\n"
          "  <RequestId>5e3d2b1a-1111-2222-3333-444455556666</RequestId>\n</ErrorResponse>",
          404, "DBInstanceNotFound", "DBInstance shop-orders-prod not found.");
}

static void test_aws_error_s3_xml(void **state)
{
    (void)state;
    parse("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
          "<Message>The specified key does not exist.</Message><Key>a/b.dump</Key>"
          "<RequestId>4442587FB7D0A2F9</RequestId></Error>",
          404, "NoSuchKey", "The specified key does not exist.");
}

static void test_aws_error_errors_wrapper_xml(void **state)
{
    (void)state;
    parse("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ErrorResponse><Errors><Error><Code>"
          "InvalidClientTokenId</Code><Message>The security token included in the request is "
          "invalid.</Message><Type>Sender</Type></Error></Errors></ErrorResponse>",
          403, "InvalidClientTokenId", "The security token included in the request is invalid.");
}

static void test_aws_error_secretsmanager_json(void **state)
{
    (void)state;
    parse("{\"__type\":\"com.amazonaws.secretsmanager#ResourceNotFoundException\","
          "\"message\":\"Secrets Manager can't find the specified secret.\"}",
          400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
    parse("{\"__type\":\"ThrottlingException\",\"Message\":\"Rate exceeded\"}", 400,
          "ThrottlingException", "Rate exceeded");
}

static void test_aws_error_without_body_uses_status(void **state)
{
    (void)state;
    parse(NULL, 404, "NotFound", "HTTP status 404 with no AWS error body");
    parse("", 503, "ServiceUnavailable", "HTTP status 503 with no AWS error body");
    parse("<html>gateway</html>", 502, "Http502", "HTTP status 502 with no AWS error body");
    parse("not json {", 500, "InternalError", "HTTP status 500 with no AWS error body");
}

static void test_aws_error_entities_are_not_expanded(void **state)
{
    char *code = NULL, *msg = NULL;
    const char *body = "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY x SYSTEM "
                       "\"file:///etc/passwd\">]><Error><Code>X</Code><Message>&x;</Message>"
                       "</Error>";
    (void)state;
    aws_error_parse(&code, &msg, 400, body, strlen(body));
    /* the DOCTYPE makes the body unusable: the code comes from the status */
    assert_string_not_equal(code, "X");
    assert_null(strstr(msg, "root:"));
    free(code);
    free(msg);
}

/* Any DOCTYPE is refused by aws_xml_parse, whatever it declares; a body
 * without one parses. Table-driven. */
static void test_aws_xml_refuses_every_doctype(void **state)
{
    static const struct {
        const char *body;
        int want_rc;
    } cases[] = {
        {"<R><A>1</A></R>", 0},
        {"<?xml version=\"1.0\" encoding=\"UTF-8\"?><R xmlns=\"http://s3.amazonaws.com/"
         "doc/2006-03-01/\"><A>1</A></R>",
         0},
        {"<!DOCTYPE R><R/>", LB_EINVALID},
        {"<?xml version=\"1.0\"?><!DOCTYPE R SYSTEM \"http://169.254.169.254/x.dtd\"><R/>",
         LB_EINVALID},
        {"<!DOCTYPE R [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><R>&x;</R>", LB_EINVALID},
        /* billion laughs: one internal entity referenced many times, nested */
        {"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lollollollollollollollol\">"
         "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
         "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
         "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">]>"
         "<R><M>&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;</M></R>",
         LB_EINVALID},
        {"<R>unclosed", LB_ERROR},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xmlDocPtr doc = NULL;
        int rc = aws_xml_parse(&doc, cases[i].body, strlen(cases[i].body), "test");
        if (rc != cases[i].want_rc)
            fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].want_rc, lb_error_last());
        if (rc == LB_EINVALID)
            assert_non_null(strstr(lb_error_last(), "DOCTYPE refused"));
        assert_true(rc == 0 ? doc != NULL : doc == NULL);
        xmlFreeDoc(doc);
        /* the streaming pass refuses the same bodies */
        {
            static const char *const names[] = {"A"};
            char *root = NULL, *a = NULL;
            rc = aws_xml_root_texts(cases[i].body, strlen(cases[i].body), "test", &root, names,
                                    &a, 1);
            if (rc != cases[i].want_rc)
                fail_msg("scan case %zu: rc %d, want %d (%s)", i, rc, cases[i].want_rc,
                         lb_error_last());
            if (rc == LB_EINVALID)
                assert_non_null(strstr(lb_error_last(), "DOCTYPE refused"));
            if (rc != 0)
                assert_true(root == NULL && a == NULL);
            free(root);
            free(a);
        }
    }
}

/* aws_xml_root_texts reads what aws_xml_text reads: the root's local name, the
 * first child of each name (namespace ignored), entities and CDATA decoded,
 * grandchildren of the same name not mistaken for children; absent -> NULL. */
static void test_aws_xml_root_texts_reads_first_children(void **state)
{
    static const char *const names[] = {"ETag", "Code", "Message", "Missing"};
    const char *body =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<s3:Error xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Detail><Code>Nested</Code></Detail>"
        "<s3:Code>Internal&amp;Error&#33;</s3:Code><Code>Second</Code>"
        "<Message><![CDATA[a <b> c]]> d</Message><ETag></ETag></s3:Error>";
    char *root = NULL, *out[4];
    (void)state;

    assert_int_equal(aws_xml_root_texts(body, strlen(body), "t", &root, names, out, 4), 0);
    assert_string_equal(root, "Error");
    assert_string_equal(out[0], "");
    assert_string_equal(out[1], "Internal&Error!");
    assert_string_equal(out[2], "a <b> c d");
    assert_null(out[3]);
    free(root);
    for (int i = 0; i < 4; i++)
        free(out[i]);

    /* malformed: empty, not closed, an undeclared entity, text after the root */
    const char *bad[] = {"", "<R><ETag>x</ETag>", "<R><ETag>&x;</ETag></R>", "<R/>tail"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = aws_xml_root_texts(bad[i], strlen(bad[i]), "t", &root, names, out, 4);
        if (rc != LB_ERROR)
            fail_msg("bad %zu: rc %d", i, rc);
        assert_non_null(strstr(lb_error_last(), "t: malformed XML response"));
        assert_null(root);
        for (int j = 0; j < 4; j++)
            assert_null(out[j]);
    }
}

static void test_aws_error_message_is_capped(void **state)
{
    char body[4096];
    char *code = NULL, *msg = NULL;
    (void)state;
    memset(body, 0, sizeof(body));
    strcpy(body, "<Error><Code>C</Code><Message>");
    memset(body + strlen(body), 'm', 2000);
    strcat(body, "</Message></Error>");
    aws_error_parse(&code, &msg, 400, body, strlen(body));
    assert_int_equal(strlen(msg), AWS_MAX_ERROR_MESSAGE_BYTES - 1);
    free(code);
    free(msg);
}

static void test_aws_error_code_mapping(void **state)
{
    (void)state;
    assert_int_equal(aws_error_code("DBInstanceNotFound", 404), LB_ENOTFOUND);
    assert_int_equal(aws_error_code("DBSnapshotNotFound", 404), LB_ENOTFOUND);
    assert_int_equal(aws_error_code("NoSuchKey", 404), LB_ENOTFOUND);
    assert_int_equal(aws_error_code("NoSuchVersion", 404), LB_ENOTFOUND);
    assert_int_equal(aws_error_code("ResourceNotFoundException", 400), LB_ENOTFOUND);
    assert_int_equal(aws_error_code("NotFound", 404), LB_ENOTFOUND);
    assert_int_equal(aws_error_code("Throttling", 400), LB_ETHROTTLED);
    assert_int_equal(aws_error_code("SlowDown", 503), LB_ETHROTTLED);
    assert_int_equal(aws_error_code("TooManyRequestsException", 400), LB_ETHROTTLED);
    assert_int_equal(aws_error_code("Http429", 429), LB_ETHROTTLED);
    assert_int_equal(aws_error_code("ServiceUnavailable", 503), LB_ETHROTTLED);
    assert_int_equal(aws_error_code("DBInstanceAlreadyExists", 400), LB_ECONFLICT);
    assert_int_equal(aws_error_code("DBSnapshotAlreadyExists", 400), LB_ECONFLICT);
    assert_int_equal(aws_error_code("ResourceExistsException", 400), LB_ECONFLICT);
    assert_int_equal(aws_error_code("InvalidDBInstanceState", 400), LB_ECONFLICT);
    assert_int_equal(aws_error_code("InvalidParameterValue", 400), LB_EINVALID);
    assert_int_equal(aws_error_code("AccessDenied", 403), LB_ERROR);
    assert_int_equal(aws_error_code("InternalError", 500), LB_ERROR);
}

static void test_aws_error_retryable(void **state)
{
    (void)state;
    assert_true(aws_error_retryable("Throttling", 400));
    assert_true(aws_error_retryable("SlowDown", 503));
    assert_true(aws_error_retryable("InternalError", 500));
    assert_true(aws_error_retryable("Http502", 502));
    assert_true(aws_error_retryable("RequestTimeout", 400));
    assert_true(aws_error_retryable("TransportError", 0));
    assert_false(aws_error_retryable("DBInstanceNotFound", 404));
    assert_false(aws_error_retryable("AccessDenied", 403));
    /* Only answers that prove nothing was applied let a mutating call be re-sent. */
    assert_true(aws_error_not_applied("Throttling", 400));
    assert_true(aws_error_not_applied("ThrottlingException", 400));
    assert_true(aws_error_not_applied("SlowDown", 503));
    assert_true(aws_error_not_applied("Http429", 429));
    assert_true(aws_error_not_applied("RequestTimeout", 400));
    assert_false(aws_error_not_applied("InternalFailure", 500));
    assert_false(aws_error_not_applied("ServiceUnavailable", 503));
    assert_false(aws_error_not_applied("Http502", 502));
    assert_false(aws_error_not_applied("TransportError", 0));
    assert_false(aws_error_retryable("InvalidParameterValue", 400));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_error_rds_query_xml),
        cmocka_unit_test(test_aws_error_s3_xml),
        cmocka_unit_test(test_aws_error_errors_wrapper_xml),
        cmocka_unit_test(test_aws_error_secretsmanager_json),
        cmocka_unit_test(test_aws_error_without_body_uses_status),
        cmocka_unit_test(test_aws_error_entities_are_not_expanded),
        cmocka_unit_test(test_aws_xml_refuses_every_doctype),
        cmocka_unit_test(test_aws_xml_root_texts_reads_first_children),
        cmocka_unit_test(test_aws_error_message_is_capped),
        cmocka_unit_test(test_aws_error_code_mapping),
        cmocka_unit_test(test_aws_error_retryable),
    };
    return cmocka_run_group_tests_name("aws_error", tests, NULL, NULL);
}
