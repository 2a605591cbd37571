/* Unit tests for pkg/util/log: JSON and text lines, levels, redaction,
 * thread safety. Output is captured in a memstream or a temporary file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <jansson.h>
#include <cmocka.h>

#include "util/error.h"
#include "util/log.h"
#include "util/timeutil.h"

typedef struct capture {
    FILE *f;
    char *data;
    size_t size;
} capture;

static void capture_start(capture *c, lb_log_level level, lb_log_format format)
{
    c->data = NULL;
    c->size = 0;
    c->f = open_memstream(&c->data, &c->size);
    assert_non_null(c->f);
    lb_log_init(c->f, level, format);
}

static void capture_stop(capture *c)
{
    lb_log_init(NULL, LB_LOG_LEVEL_INFO, LB_LOG_FORMAT_JSON);
    fclose(c->f);
    free(c->data);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* Parses the only line captured so far. */
static json_t *only_line(const capture *c)
{
    json_error_t err;
    json_t *j;
    assert_int_equal(count_lines(c->data), 1);
    j = json_loads(c->data, 0, &err);
    if (j == NULL)
        fail_msg("not JSON (%s): %s", err.text, c->data);
    return j;
}

static const char *str_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("field %s is missing or not a string", key);
    return json_string_value(v);
}

static void test_log_json_line_parses_back(void **state)
{
    capture c;
    json_t *j;
    lb_time t;
    const char *key;
    json_t *value;
    const char *const order[] = {"ts", "level", "msg", "object", "step", "attempt", "gone"};
    size_t i = 0;
    (void)state;
    capture_start(&c, LB_LOG_LEVEL_INFO, LB_LOG_FORMAT_JSON);
    LB_LOG_INFO("restore started", "object", "shop/orders", "step", "x", "attempt", LB_LOG_INT(3),
                "gone", NULL);
    j = only_line(&c);
    assert_string_equal(str_field(j, "level"), "info");
    assert_string_equal(str_field(j, "msg"), "restore started");
    assert_string_equal(str_field(j, "object"), "shop/orders");
    assert_string_equal(str_field(j, "step"), "x");
    assert_string_equal(str_field(j, "attempt"), "3");
    assert_true(json_is_null(json_object_get(j, "gone")));
    assert_int_equal(lb_time_parse_rfc3339(&t, str_field(j, "ts")), 0);
    assert_non_null(strchr(str_field(j, "ts"), '.'));
    assert_true(t.sec > 1700000000);
    json_object_foreach(j, key, value)
    {
        (void)value;
        assert_string_equal(key, order[i]);
        i++;
    }
    assert_int_equal(i, 7);
    json_decref(j);
    capture_stop(&c);
}

static int evaluations;

static const char *counted(const char *s)
{
    evaluations++;
    return s;
}

static void test_log_level_is_checked_before_arguments(void **state)
{
    capture c;
    (void)state;
    evaluations = 0;
    capture_start(&c, LB_LOG_LEVEL_WARN, LB_LOG_FORMAT_JSON);
    LB_LOG_DEBUG("hidden", "k", counted("v"));
    LB_LOG_INFO("hidden", "k", counted("v"));
    assert_int_equal(evaluations, 0);
    assert_int_equal(c.size, 0);
    LB_LOG_WARN("shown", "k", counted("v"));
    LB_LOG_ERROR("shown too");
    assert_int_equal(evaluations, 1);
    assert_int_equal(count_lines(c.data), 2);
    lb_log_set_level(LB_LOG_LEVEL_DEBUG);
    assert_true(lb_log_enabled(LB_LOG_LEVEL_DEBUG));
    LB_LOG_DEBUG("now shown");
    assert_int_equal(count_lines(c.data), 3);
    assert_non_null(strstr(c.data, "\"level\":\"debug\""));
    capture_stop(&c);
}

static void test_log_text_format(void **state)
{
    capture c;
    const char *after_ts;
    (void)state;
    capture_start(&c, LB_LOG_LEVEL_INFO, LB_LOG_FORMAT_TEXT);
    LB_LOG_WARN("restore started", "object", "shop/orders", "note", "two words", "empty", "");
    assert_int_equal(count_lines(c.data), 1);
    after_ts = strchr(c.data, ' ');
    assert_non_null(after_ts);
    assert_string_equal(after_ts, " WARN  restore started object=shop/orders note=\"two words\" "
                                  "empty=\"\"\n");
    capture_stop(&c);
}

static void test_log_text_format_quotes_control_characters(void **state)
{
    capture c;
    (void)state;
    capture_start(&c, LB_LOG_LEVEL_INFO, LB_LOG_FORMAT_TEXT);
    LB_LOG_INFO("line one\nfake line", "v", "a\nb=\"c\"");
    assert_int_equal(count_lines(c.data), 1);
    assert_non_null(strstr(c.data, "\"line one\\nfake line\" v=\"a\\nb=\\\"c\\\"\""));
    capture_stop(&c);
}

static void test_log_redacts_sensitive_keys(void **state)
{
    static const char *const keys[] = {
        "password",
        "DB_Password",
        "passwd",
        "apiToken",
        "X-Auth-Token",
        "secret",
        "AWS_SECRET_ACCESS_KEY",
        "key",
        "sshKey",
        "credentials",
        "Authorization",
        "sessionId",
        "SESSION",
    };
    (void)state;
    for (int format = 0; format < 2; format++) {
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            capture c;
            capture_start(&c, LB_LOG_LEVEL_INFO, (lb_log_format)format);
            LB_LOG_INFO("connecting", keys[i], "hunter2-do-not-print", "object", "shop/orders");
            if (strstr(c.data, "hunter2") != NULL)
                fail_msg("key %s leaked its value: %s", keys[i], c.data);
            assert_non_null(strstr(c.data, "[REDACTED]"));
            assert_non_null(strstr(c.data, "shop/orders"));
            assert_true(lb_log_key_is_sensitive(keys[i]));
            capture_stop(&c);
        }
    }
    assert_false(lb_log_key_is_sensitive("object"));
    assert_false(lb_log_key_is_sensitive("step"));
    assert_false(lb_log_key_is_sensitive(NULL));
}

static void test_log_redacts_passwords_inside_values_and_message(void **state)
{
    capture c;
    (void)state;
    capture_start(&c, LB_LOG_LEVEL_INFO, LB_LOG_FORMAT_JSON);
    LB_LOG_INFO("dial postgres://app:s3cr3t-pw@db:5432/shop failed", "url",
                "postgresql://admin:0th3r-pw@orders.rds:5432/orders?sslmode=require", "dsn",
                "host=db user=app password=th1rd-pw dbname=shop");
    assert_null(strstr(c.data, "s3cr3t-pw"));
    assert_null(strstr(c.data, "0th3r-pw"));
    assert_null(strstr(c.data, "th1rd-pw"));
    assert_non_null(strstr(c.data, "postgresql://admin:[REDACTED]@orders.rds:5432/orders"));
    assert_non_null(strstr(c.data, "password=[REDACTED] dbname=shop"));
    capture_stop(&c);
}

static void test_log_redact_url_table(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"postgres://u:pass@h/db", "postgres://u:[REDACTED]@h/db"},
        {"postgresql://u:p%40ss@h:5432/db?sslmode=require",
         "postgresql://u:[REDACTED]@h:5432/db?sslmode=require"},
        {"redis://:pw@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"},
        {"postgres://u@h/db", "postgres://u@h/db"},
        {"http://h/path?x=1", "http://h/path?x=1"},
        {"postgres://u:p@ss@h/db", "postgres://u:[REDACTED]@h/db"},
        {"postgres://u:pa/ss@h/db", "postgres://u:[REDACTED]@h/db"},
        {"postgres://u:pa?ss@h/db", "postgres://u:[REDACTED]@h/db"},
        {"host=h password=secret dbname=x", "host=h password=[REDACTED] dbname=x"},
        {"host=h password='se cr\\'et' dbname=x", "host=h password=[REDACTED] dbname=x"},
        {"PASSWORD=abc", "PASSWORD=[REDACTED]"},
        {"postgresql:///db?host=/tmp&password=abc&user=u",
         "postgresql:///db?host=/tmp&password=[REDACTED]&user=u"},
        {"https://s3/b/k?X-Amz-Credential=AKIA%2F&X-Amz-Security-Token=tok&x=1",
         "https://s3/b/k?X-Amz-Credential=[REDACTED]&X-Amz-Security-Token=[REDACTED]&x=1"},
        {"a postgres://x:y@h and mysql://p:q@h2 too",
         "a postgres://x:[REDACTED]@h and mysql://p:[REDACTED]@h2 too"},
        {"user=app dbname=shop", "user=app dbname=shop"},
        {"", ""},
        /* issue 11: the bypasses */
        {"password = x", "password = [REDACTED]"},
        {"db_password =  hunter2 next", "db_password =  [REDACTED] next"},
        {"{\"password\":\"x\"}", "{\"password\":\"[REDACTED]\"}"},
        {"{\"user\": \"u\", \"password\": \"a\\\"b c\", \"n\": 1}",
         "{\"user\": \"u\", \"password\": \"[REDACTED]\", \"n\": 1}"},
        {"{'password': 'x y'}", "{'password': '[REDACTED]'}"},
        {"password: x", "password: [REDACTED]"},
        {"  password: hunter2\n  user: app", "  password: [REDACTED]\n  user: app"},
        {"{\"password\": 12345, \"n\": 1}", "{\"password\": [REDACTED], \"n\": 1}"},
        {"Authorization: Bearer eyJhbGciOi.abc.def", "Authorization: [REDACTED]"},
        {"authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=ab\nnext",
         "authorization: [REDACTED]\nnext"},
        {"Cookie: session=abc", "Cookie: [REDACTED]"},
        {"pwd=x;", "pwd=[REDACTED]"},
        {"Server=h;Uid=u;Pwd=s3cr3t ok", "Server=h;Uid=u;Pwd=[REDACTED] ok"},
        {"postgres://u:pa/ss@h/db", "postgres://u:[REDACTED]@h/db"},
        {"postgres://u:pa ss@h/db", "postgres://u:[REDACTED]@h/db"},
        {"postgres://u:a b/c d@h:5432/db x", "postgres://u:[REDACTED]@h:5432/db x"},
        /* not secrets: kept */
        {"arn:aws:secretsmanager:us-east-1:1:secret:prod/db",
         "arn:aws:secretsmanager:us-east-1:1:secret:prod/db"},
        {"secretsmanager:GetSecretValue", "secretsmanager:GetSecretValue"},
        {"http://h:8080/x mail a@b", "http://h:8080/x mail a@b"},
        {"http://h/path and u@x", "http://h/path and u@x"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = lb_log_redact_url(cases[i].in);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].in, got, cases[i].want);
        free(got);
    }
}

static void test_log_escapes_and_repairs_strings(void **state)
{
    capture c;
    json_t *j;
    (void)state;
    capture_start(&c, LB_LOG_LEVEL_INFO, LB_LOG_FORMAT_JSON);
    LB_LOG_INFO("quote \" backslash \\ newline \n tab \t", "utf8", "Gr\xc3\xbc\xc3\x9f\x65", "bad",
                "a\xff\xc3(b", "msg", "user field named msg");
    j = only_line(&c);
    assert_string_equal(str_field(j, "msg"), "quote \" backslash \\ newline \n tab \t");
    assert_string_equal(str_field(j, "utf8"), "Gr\xc3\xbc\xc3\x9f\x65");
    assert_string_equal(str_field(j, "bad"), "a\xef\xbf\xbd\xef\xbf\xbd(b");
    assert_string_equal(str_field(j, "_msg"), "user field named msg");
    json_decref(j);
    capture_stop(&c);
}

static void test_log_truncates_long_values(void **state)
{
    capture c;
    json_t *j;
    char *big = malloc(3 * LB_LOG_MAX_VALUE);
    (void)state;
    memset(big, 'x', 3 * LB_LOG_MAX_VALUE - 1);
    big[3 * LB_LOG_MAX_VALUE - 1] = '\0';
    capture_start(&c, LB_LOG_LEVEL_INFO, LB_LOG_FORMAT_JSON);
    LB_LOG_INFO("big", "body", big);
    j = only_line(&c);
    assert_int_equal(strlen(str_field(j, "body")), LB_LOG_MAX_VALUE + strlen("...[truncated]"));
    assert_non_null(strstr(str_field(j, "body"), "x...[truncated]"));
    json_decref(j);
    capture_stop(&c);
    free(big);
}

static void test_log_keeps_the_callers_error_message(void **state)
{
    capture c;
    (void)state;
    capture_start(&c, LB_LOG_LEVEL_INFO, LB_LOG_FORMAT_JSON);
    lb_error_set("restore failed: bucket shop-backups not found");
    LB_LOG_ERROR("step failed", "error", lb_error_last());
    assert_string_equal(lb_error_last(), "restore failed: bucket shop-backups not found");
    assert_non_null(strstr(c.data, "\"error\":\"restore failed: bucket shop-backups not found\""));
    capture_stop(&c);
}

#define THREADS          8
#define LINES_PER_THREAD 400

static void *log_from_thread(void *arg)
{
    char id[16];
    snprintf(id, sizeof(id), "t%d", (int)(intptr_t)arg);
    for (int i = 0; i < LINES_PER_THREAD; i++)
        LB_LOG_INFO("concurrent line with a payload long enough to split if writes interleaved",
                    "thread", id, "i", LB_LOG_INT(i), "pad",
                    "................................................................");
    return NULL;
}

static void test_log_lines_from_threads_never_interleave(void **state)
{
    FILE *f = tmpfile();
    pthread_t th[THREADS];
    char line[4096];
    int lines = 0;
    (void)state;
    assert_non_null(f);
    lb_log_init(f, LB_LOG_LEVEL_INFO, LB_LOG_FORMAT_JSON);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, log_from_thread, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    lb_log_init(NULL, LB_LOG_LEVEL_INFO, LB_LOG_FORMAT_JSON);
    rewind(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        if (j == NULL)
            fail_msg("line %d is not JSON: %s", lines + 1, line);
        json_decref(j);
        lines++;
    }
    fclose(f);
    assert_int_equal(lines, THREADS * LINES_PER_THREAD);
}

static void test_log_parses_level_and_format_names(void **state)
{
    lb_log_level level;
    lb_log_format format;
    (void)state;
    assert_int_equal(lb_log_level_parse(&level, "debug"), 0);
    assert_int_equal(level, LB_LOG_LEVEL_DEBUG);
    assert_int_equal(lb_log_level_parse(&level, "warning"), 0);
    assert_int_equal(level, LB_LOG_LEVEL_WARN);
    assert_int_equal(lb_log_level_parse(&level, "error"), 0);
    assert_int_equal(level, LB_LOG_LEVEL_ERROR);
    assert_int_equal(lb_log_level_parse(&level, "verbose"), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "log level: must be debug, info, warn or error"));
    assert_int_equal(lb_log_format_parse(&format, "text"), 0);
    assert_int_equal(format, LB_LOG_FORMAT_TEXT);
    assert_int_equal(lb_log_format_parse(&format, "xml"), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "log format: must be json or text"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_json_line_parses_back),
        cmocka_unit_test(test_log_level_is_checked_before_arguments),
        cmocka_unit_test(test_log_text_format),
        cmocka_unit_test(test_log_text_format_quotes_control_characters),
        cmocka_unit_test(test_log_redacts_sensitive_keys),
        cmocka_unit_test(test_log_redacts_passwords_inside_values_and_message),
        cmocka_unit_test(test_log_redact_url_table),
        cmocka_unit_test(test_log_escapes_and_repairs_strings),
        cmocka_unit_test(test_log_truncates_long_values),
        cmocka_unit_test(test_log_keeps_the_callers_error_message),
        cmocka_unit_test(test_log_lines_from_threads_never_interleave),
        cmocka_unit_test(test_log_parses_level_and_format_names),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
