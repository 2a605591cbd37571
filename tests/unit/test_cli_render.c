/* test_cli_render.c - what `kubectl lifeboat` prints: plan, timeline and status
 * tables from objects, control characters neutralised, ages, -o yaml. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli/output.h"
#include "cli/render.h"

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);
    if (v == NULL)
        fail_msg("fixture: %s", err.text);
    return v;
}

static lb_time at(const char *s)
{
    lb_time t;
    assert_int_equal(lb_time_parse_rfc3339(&t, s), 0);
    return t;
}

#define RR_WAITING                                                                               \
    "{\"metadata\":{\"name\":\"orders\",\"namespace\":\"shop\"},"                                 \
    "\"status\":{\"phase\":\"AwaitingApproval\",\"planHash\":\"sha256:ab12\",\"plan\":["           \
    "{\"name\":\"orders-db/restore\",\"item\":\"orders-db\",\"action\":\"restore\","              \
    "\"destructive\":false,\"description\":\"Restore orders-prod to 03:10.\"},"                   \
    "{\"name\":\"orders-db/promote\",\"item\":\"orders-db\",\"action\":\"promote\","              \
    "\"destructive\":true,\"description\":\"Rename orders-prod away.\"}]}}"

static void test_plan_lists_every_step_in_order_and_what_approval_releases(void **state)
{
    json_t *rr = load(RR_WAITING);
    lb_buf b;
    (void)state;
    buf_init(&b, 1 << 20);
    assert_int_equal(cli_render_plan(&b, rr, CLI_PLAIN), 0);
    assert_string_equal(buf_cstr(&b),
                        "shop/orders: phase AwaitingApproval\n"
                        "ORDER   ITEM        ACTION    DESTRUCTIVE   DESCRIPTION\n"
                        "1       orders-db   restore   no            Restore orders-prod to 03:10.\n"
                        "2       orders-db   promote   yes           Rename orders-prod away.\n"
                        "\nApproval releases 1 destructive step. Plan hash: sha256:ab12\n");
    buf_dispose(&b);
    json_decref(rr);
}

static void test_plan_without_a_plan_says_so(void **state)
{
    json_t *rr = load("{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\"}}");
    lb_buf b;
    (void)state;
    buf_init(&b, 4096);
    assert_int_equal(cli_render_plan(&b, rr, CLI_PLAIN), 0);
    assert_non_null(strstr(buf_cstr(&b), "no plan published yet"));
    buf_dispose(&b);
    json_decref(rr);
}

static void test_timeline_marks_the_current_step_and_counts_its_time(void **state)
{
    json_t *rr = load("{\"metadata\":{\"name\":\"orders\",\"namespace\":\"shop\"},"
                      "\"status\":{\"phase\":\"Running\",\"currentStep\":\"b\",\"steps\":["
                      "{\"name\":\"a\",\"phase\":\"Succeeded\",\"startedAt\":\"2026-12-02T03:00:00Z\","
                      "\"finishedAt\":\"2026-12-02T03:02:05Z\",\"message\":\"done\"},"
                      "{\"name\":\"b\",\"phase\":\"Running\",\"startedAt\":\"2026-12-02T03:02:05Z\","
                      "\"message\":\"waiting\\u001b[2J\\nfor it\"}]}}");
    lb_buf b;
    (void)state;
    buf_init(&b, 4096);
    assert_int_equal(cli_render_timeline(&b, rr, at("2026-12-02T04:04:05Z"), CLI_PLAIN), 0);
    /* the escape sequence and the newline of a message cannot reach the terminal */
    assert_string_equal(buf_cstr(&b),
                        "shop/orders: Running\n"
                        "    STEP   PHASE       STARTED                DURATION   MESSAGE\n"
                        "    a      Succeeded   2026-12-02T03:00:00Z   2m05s      done\n"
                        ">   b      Running     2026-12-02T03:02:05Z   1h02m      waiting [2J for it\n");
    buf_dispose(&b);
    json_decref(rr);
}

static void test_status_shows_kinds_ages_measures_and_notes(void **state)
{
    json_t *a = load("{\"kind\":\"RestoreRequest\",\"metadata\":{\"name\":\"r\",\"namespace\":\"a\","
                     "\"creationTimestamp\":\"2026-12-02T04:00:00Z\"},\"status\":{\"phase\":"
                     "\"AwaitingApproval\",\"currentStep\":\"approval\"}}");
    json_t *b = load("{\"kind\":\"BackupPolicy\",\"metadata\":{\"name\":\"p\",\"namespace\":\"b\","
                     "\"creationTimestamp\":\"2026-11-30T04:00:00Z\"},\"status\":{\"conditions\":"
                     "[{\"type\":\"BackupStale\",\"status\":\"True\",\"message\":\"orders: 26h\"}]}}");
    json_t *c = load("{\"kind\":\"VerificationRun\",\"metadata\":{\"name\":\"v\",\"namespace\":\"a\","
                     "\"creationTimestamp\":\"2026-12-02T04:04:00Z\"},\"status\":{\"phase\":\"Passed\","
                     "\"measured\":{\"rtoSeconds\":754,\"rpoSeconds\":31}}}");
    const json_t *objs[] = {a, b, c};
    lb_buf out;
    (void)state;
    buf_init(&out, 4096);
    assert_int_equal(cli_render_status(&out, objs, 3, at("2026-12-02T04:04:05Z"), 1, CLI_PLAIN), 0);
    assert_string_equal(
        buf_cstr(&out),
        "NAMESPACE   KIND              NAME   PHASE              STEP       AGE     RTO      RPO   NOTE\n"
        "a           RestoreRequest    r      AwaitingApproval   approval   4m05s   -        -     waiting for approval\n"
        "b           BackupPolicy      p      -                  -          2d00h   -        -     BackupStale: orders: 26h\n"
        "a           VerificationRun   v      Passed             -          5s      12m34s   31s   \n");
    buf_dispose(&out);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void test_colour_only_when_asked(void **state)
{
    json_t *rr = load(RR_WAITING);
    lb_buf plain, color;
    (void)state;
    buf_init(&plain, 4096);
    buf_init(&color, 4096);
    assert_int_equal(cli_render_plan(&plain, rr, CLI_PLAIN), 0);
    assert_int_equal(cli_render_plan(&color, rr, CLI_COLOR), 0);
    assert_null(strchr(buf_cstr(&plain), '\033'));
    assert_non_null(strstr(buf_cstr(&color), "\033[1m2 "));
    buf_dispose(&plain);
    buf_dispose(&color);
    json_decref(rr);
}

static void test_ages(void **state)
{
    char s[32];
    (void)state;
    cli_format_age(s, sizeof(s), -1);
    assert_string_equal(s, "-");
    cli_format_age(s, sizeof(s), 59);
    assert_string_equal(s, "59s");
    cli_format_age(s, sizeof(s), 3599);
    assert_string_equal(s, "59m59s");
    cli_format_age(s, sizeof(s), 86399);
    assert_string_equal(s, "23h59m");
    cli_format_age(s, sizeof(s), 90061);
    assert_string_equal(s, "1d01h");
}

static void test_yaml_quotes_strings_that_read_as_other_types(void **state)
{
    json_t *v = load("{\"a\":\"true\",\"b\":\"0123\",\"c\":\"plain text\",\"d\":12,\"e\":[false,null],"
                     "\"f\":\"\"}");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    (void)state;
    assert_int_equal(cli_write_yaml(f, v), 0);
    fclose(f);
    assert_string_equal(text, "a: \"true\"\nb: \"0123\"\nc: plain text\nd: 12\ne:\n- false\n- null\n"
                              "f: \"\"\n");
    free(text);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_lists_every_step_in_order_and_what_approval_releases),
        cmocka_unit_test(test_plan_without_a_plan_says_so),
        cmocka_unit_test(test_timeline_marks_the_current_step_and_counts_its_time),
        cmocka_unit_test(test_status_shows_kinds_ages_measures_and_notes),
        cmocka_unit_test(test_colour_only_when_asked),
        cmocka_unit_test(test_ages),
        cmocka_unit_test(test_yaml_quotes_strings_that_read_as_other_types),
    };
    return cmocka_run_group_tests_name("cli_render", tests, NULL, NULL);
}
