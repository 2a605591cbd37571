/* Unit tests for pkg/pg's pure parts: exact decimal comparison, the
 * expectation table, parsing `expect` objects, connection-string building,
 * quoting and redaction, timestamps, and argument checks that need no server.
 * The libpq round trips against a real PostgreSQL live in e2e/pg. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "pg/check.h"
#include "pg/private.h"
#include "util/error.h"
#include "util/timeutil.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- decimals ---------------------------------------------------------------- */

static void test_decimal_cmp_table(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {
        {"0", "0", 0},
        {"-0", "0.000", 0},
        {"1000", "1000.00", 0},
        {"1000", "1e3", 0},
        {"1E+3", "1000", 0},
        {"0.001", "1e-3", 0},
        {".5", "0.5", 0},
        {"5.", "5", 0},
        {"+7", "7", 0},
        {"999", "1000", -1},
        {"1000.01", "1000", 1},
        {"-1", "0", -1},
        {"-2", "-1", -1},
        {"-1.5", "-1.25", -1},
        {"0.1", "0.09999999999999999999", 1},
        /* beyond double precision: 2^53 + 1 vs 2^53 */
        {"9007199254740993", "9007199254740992", 1},
        {"123456789012345678901234567890", "123456789012345678901234567891", -1},
        {"Infinity", "1e300", 1},
        {"-Infinity", "-1e300", -1},
        {"Infinity", "Infinity", 0},
        {"-Infinity", "Infinity", -1},
        {"1e-5", "0", 1},
        {"-1e-5", "0", -1},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        int got = 99;
        if (pg_decimal_cmp(&got, cases[i].a, cases[i].b) != 0) {
            fail_msg("case %zu: %s vs %s: %s", i, cases[i].a, cases[i].b, lb_error_last());
        }
        if (got != cases[i].want) {
            fail_msg("case %zu: %s vs %s: got %d want %d", i, cases[i].a, cases[i].b, got,
                     cases[i].want);
        }
        /* antisymmetry */
        assert_int_equal(pg_decimal_cmp(&got, cases[i].b, cases[i].a), 0);
        assert_int_equal(got, -cases[i].want);
    }
}

static void test_decimal_cmp_rejects_non_numbers(void **state)
{
    (void)state;
    static const char *const bad[] = {"",    "abc",   "NaN", "1e", "1e+",
                                      "--1", "1.2.3", " 1",  "1 ", ".",
                                      "e5",  "0x10",  "1,5", "t",  "1e99999999999"};
    for (size_t i = 0; i < N_ELEMS(bad); i++) {
        int got = 0;
        if (pg_decimal_cmp(&got, bad[i], "1") != LB_EINVALID) {
            fail_msg("\"%s\" was taken as a number", bad[i]);
        }
        assert_non_null(strstr(lb_error_last(), "is not a number"));
    }
}

/* ---- expectations ------------------------------------------------------------ */

static pg_expect expect_of(pg_expect_kind kind, const char *value, bool numeric)
{
    pg_expect e;
    assert_int_equal(pg_expect_set(&e, kind, value, numeric), 0);
    return e;
}

static void test_expect_eval_table(void **state)
{
    (void)state;
    static const struct {
        pg_expect_kind kind;
        const char *value;
        bool numeric;
        const char *observed;
        bool truncated;
        int64_t rows;
        bool passed;
        const char *message;
    } cases[] = {
        {PG_EXPECT_MIN, "1", true, "0", false, 1, false, "c: observed 0, expected >= 1"},
        {PG_EXPECT_MIN, "1", true, "1", false, 1, true, "c: observed 1, expected >= 1"},
        {PG_EXPECT_MIN, "1000", true, "1000.00", false, 1, true,
         "c: observed 1000.00, expected >= 1000"},
        {PG_EXPECT_MIN, "1", true, "abc", false, 1, false,
         "c: observed \"abc\" is not a number, expected >= 1"},
        {PG_EXPECT_MIN, "1", true, NULL, false, 1, false, "c: observed NULL, expected >= 1"},
        {PG_EXPECT_MIN, "1", true, NULL, false, 0, false, "c: no rows, expected >= 1"},
        {PG_EXPECT_MIN, "1", true, "99999", true, 1, false,
         "c: observed value is longer than 1024 bytes, not a number, expected >= 1"},
        {PG_EXPECT_MAX, "5", true, "5", false, 1, true, "c: observed 5, expected <= 5"},
        {PG_EXPECT_MAX, "5", true, "5.0001", false, 1, false, "c: observed 5.0001, expected <= 5"},
        {PG_EXPECT_MAX, "0", true, "-Infinity", false, 1, true,
         "c: observed -Infinity, expected <= 0"},
        {PG_EXPECT_MAX, "0", true, "NaN", false, 1, false,
         "c: observed \"NaN\" is not a number, expected <= 0"},
        {PG_EXPECT_EQUALS, "0", true, "0", false, 1, true, "c: observed 0, expected = 0"},
        {PG_EXPECT_EQUALS, "0", true, "1", false, 3, false, "c: observed 1, expected = 0"},
        {PG_EXPECT_EQUALS, "2.5", true, "2.50", false, 1, true, "c: observed 2.50, expected = 2.5"},
        {PG_EXPECT_EQUALS, "ok", false, "ok", false, 1, true,
         "c: observed \"ok\", expected = \"ok\""},
        {PG_EXPECT_EQUALS, "ok", false, "OK", false, 1, false,
         "c: observed \"OK\", expected = \"ok\""},
        /* text equality is exact: 1.0 is not the text 1 */
        {PG_EXPECT_EQUALS, "1", false, "1.0", false, 1, false,
         "c: observed \"1.0\", expected = \"1\""},
        {PG_EXPECT_EQUALS, "t", false, "t", false, 1, true, "c: observed \"t\", expected = \"t\""},
        {PG_EXPECT_EQUALS, "", false, "", false, 1, true, "c: observed \"\", expected = \"\""},
        {PG_EXPECT_EQUALS, "x", false, "x", true, 1, false,
         "c: observed \"x...\", expected = \"x\""},
        {PG_EXPECT_NOT_EMPTY, NULL, false, "1", false, 1, true,
         "c: observed 1, expected not empty"},
        {PG_EXPECT_NOT_EMPTY, NULL, false, "", false, 1, true, "c: observed , expected not empty"},
        {PG_EXPECT_NOT_EMPTY, NULL, false, NULL, false, 1, false,
         "c: observed NULL, expected not empty"},
        {PG_EXPECT_NOT_EMPTY, NULL, false, NULL, false, 0, false, "c: no rows, expected not empty"},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        pg_expect e = expect_of(cases[i].kind, cases[i].value, cases[i].numeric);
        pg_check_result r = {0};
        pg_expect_eval(&r, "c", &e, cases[i].observed, cases[i].truncated, cases[i].rows);
        if (r.passed != cases[i].passed || strcmp(r.message, cases[i].message) != 0) {
            fail_msg("case %zu: passed %d message \"%s\"; want %d \"%s\"", i, r.passed, r.message,
                     cases[i].passed, cases[i].message);
        }
        pg_check_result_dispose(&r);
    }
}

static void test_expect_eval_replaces_previous_strings(void **state)
{
    (void)state;
    pg_expect e = expect_of(PG_EXPECT_MIN, "1", true);
    pg_check_result r = {0};
    pg_expect_eval(&r, "a", &e, "0", false, 1);
    pg_expect_eval(&r, "b", &e, "2", false, 1); /* frees the first strings (ASan checks) */
    assert_true(r.passed);
    assert_string_equal(r.message, "b: observed 2, expected >= 1");
    assert_string_equal(r.expected, ">= 1");
    pg_check_result_dispose(&r);
    pg_check_result_dispose(NULL);
}

static void test_expect_message_is_capped_at_a_character_boundary(void **state)
{
    (void)state;
    char observed[PG_CHECK_MAX_OBSERVED + 1];
    char name[1200];
    pg_expect e = expect_of(PG_EXPECT_NOT_EMPTY, NULL, false);
    pg_check_result r = {0};
    /* "é" is two bytes; an odd name length puts a character across the cap */
    for (size_t i = 0; i + 2 < sizeof(name); i += 2) {
        memcpy(name + i, "\xc3\xa9", 2);
        name[i + 2] = '\0';
    }
    memset(observed, 'x', sizeof(observed) - 1);
    observed[sizeof(observed) - 1] = '\0';
    pg_expect_eval(&r, name, &e, observed, false, 1);
    size_t len = strlen(r.message);
    assert_true(len <= PG_CHECK_MAX_MESSAGE - 1);
    assert_true(len >= PG_CHECK_MAX_MESSAGE - 3);
    /* the last byte ends a character: not a lone lead byte */
    assert_true(((unsigned char)r.message[len - 1] & 0xC0) != 0xC0);
    pg_check_result_dispose(&r);
}

static void test_expect_set_rejects_bad_values(void **state)
{
    (void)state;
    pg_expect e;
    char longv[PG_EXPECT_MAX_VALUE + 8];
    memset(longv, '1', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    assert_int_equal(pg_expect_set(&e, PG_EXPECT_MIN, "abc", true), LB_EINVALID);
    assert_string_equal(lb_error_last(), "expect.min: \"abc\" is not a number");
    /* min and max are numeric even when numeric is false */
    assert_int_equal(pg_expect_set(&e, PG_EXPECT_MAX, "x", false), LB_EINVALID);
    assert_string_equal(lb_error_last(), "expect.max: \"x\" is not a number");
    assert_int_equal(pg_expect_set(&e, PG_EXPECT_EQUALS, NULL, false), LB_EINVALID);
    assert_string_equal(lb_error_last(), "expect.equals: a value is required");
    assert_int_equal(pg_expect_set(&e, PG_EXPECT_EQUALS, longv, true), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "longer than 127 bytes"));
    assert_int_equal(pg_expect_set(&e, (pg_expect_kind)42, "1", true), LB_EINVALID);
    assert_int_equal(pg_expect_set(&e, PG_EXPECT_NOT_EMPTY, NULL, false), 0);
    assert_string_equal(e.value, "");
}

static void test_expect_describe_forms(void **state)
{
    (void)state;
    char s[64];
    pg_expect e = expect_of(PG_EXPECT_MIN, "1000", true);
    pg_expect_describe(s, sizeof(s), &e);
    assert_string_equal(s, ">= 1000");
    e = expect_of(PG_EXPECT_MAX, "5", true);
    pg_expect_describe(s, sizeof(s), &e);
    assert_string_equal(s, "<= 5");
    e = expect_of(PG_EXPECT_EQUALS, "0", true);
    pg_expect_describe(s, sizeof(s), &e);
    assert_string_equal(s, "= 0");
    e = expect_of(PG_EXPECT_EQUALS, "ok", false);
    pg_expect_describe(s, sizeof(s), &e);
    assert_string_equal(s, "= \"ok\"");
    e = expect_of(PG_EXPECT_NOT_EMPTY, NULL, false);
    pg_expect_describe(s, sizeof(s), &e);
    assert_string_equal(s, "not empty");
}

static int from_json(pg_expect *out, const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
    assert_non_null(j);
    int rc = pg_expect_from_json(out, j, "spec.checks[0].sql.expect");
    json_decref(j);
    return rc;
}

static void test_expect_from_json_accepts_each_kind(void **state)
{
    (void)state;
    pg_expect e;
    assert_int_equal(from_json(&e, "{\"min\": 1000}"), 0);
    assert_int_equal(e.kind, PG_EXPECT_MIN);
    assert_string_equal(e.value, "1000");
    assert_true(e.numeric);
    assert_int_equal(from_json(&e, "{\"max\": 0.1}"), 0);
    assert_string_equal(e.value, "0.1"); /* shortest round-trip form, not 0.10000000000000001 */
    assert_int_equal(from_json(&e, "{\"max\": -2.5e-7}"), 0);
    assert_string_equal(e.value, "-2.5e-07");
    assert_int_equal(from_json(&e, "{\"equals\": 0}"), 0);
    assert_int_equal(e.kind, PG_EXPECT_EQUALS);
    assert_true(e.numeric);
    assert_int_equal(from_json(&e, "{\"equals\": \"0\"}"), 0);
    assert_false(e.numeric); /* a JSON string compares as text */
    assert_int_equal(from_json(&e, "{\"equals\": true}"), 0);
    assert_string_equal(e.value, "t");
    assert_int_equal(from_json(&e, "{\"equals\": false}"), 0);
    assert_string_equal(e.value, "f");
    assert_int_equal(from_json(&e, "{\"notEmpty\": true}"), 0);
    assert_int_equal(e.kind, PG_EXPECT_NOT_EMPTY);
}

static void test_expect_from_json_errors_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *message;
    } cases[] = {
        {"[]", "spec.checks[0].sql.expect: must be an object"},
        {"{}", "spec.checks[0].sql.expect: exactly one of equals, min, max, notEmpty is "
               "required"},
        {"{\"min\": 1, \"max\": 2}", "spec.checks[0].sql.expect: exactly one of equals, min, "
                                     "max, notEmpty is allowed (found min and max)"},
        {"{\"least\": 1}", "spec.checks[0].sql.expect.least: unknown field (allowed: equals, "
                           "min, max, notEmpty)"},
        {"{\"min\": \"1\"}", "spec.checks[0].sql.expect.min: must be a number"},
        {"{\"max\": true}", "spec.checks[0].sql.expect.max: must be a number"},
        {"{\"notEmpty\": false}", "spec.checks[0].sql.expect.notEmpty: must be true"},
        {"{\"equals\": null}",
         "spec.checks[0].sql.expect.equals: must be a number, string or boolean"},
        {"{\"equals\": [1]}",
         "spec.checks[0].sql.expect.equals: must be a number, string or boolean"},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        pg_expect e;
        assert_int_equal(from_json(&e, cases[i].json), LB_EINVALID);
        if (strcmp(lb_error_last(), cases[i].message) != 0) {
            fail_msg("case %zu: \"%s\", want \"%s\"", i, lb_error_last(), cases[i].message);
        }
    }
}

/* ---- connection strings ------------------------------------------------------- */

/* The value libpq reads back for keyword from conninfo (caller frees). */
static char *parsed_value(const char *conninfo, const char *keyword)
{
    char *err = NULL;
    char *val = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    if (opts == NULL) {
        fail_msg("libpq cannot parse %s: %s", conninfo, err);
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, keyword) == 0 && o->val != NULL) {
            val = strdup(o->val);
        }
    }
    PQconninfoFree(opts);
    return val;
}

static void test_conninfo_build_quotes_every_value(void **state)
{
    (void)state;
    pg_conn_params p = {.host = "db.example",
                        .port = "5432",
                        .user = "o'brien",
                        .password = "p a'ss\\w=rd",
                        .dbname = "shop orders",
                        .sslmode = "require"};
    char *s = NULL;
    assert_int_equal(pg_conninfo_build(&s, &p), 0);
    assert_string_equal(s, "host='db.example' port='5432' user='o\\'brien' "
                           "password='p a\\'ss\\\\w=rd' dbname='shop orders' sslmode='require'");
    /* libpq reads back exactly what went in */
    char *v = parsed_value(s, "password");
    assert_string_equal(v, "p a'ss\\w=rd");
    free(v);
    v = parsed_value(s, "user");
    assert_string_equal(v, "o'brien");
    free(v);
    v = parsed_value(s, "dbname");
    assert_string_equal(v, "shop orders");
    free(v);
    free(s);
}

static void test_conninfo_build_leaves_out_empty_parts(void **state)
{
    (void)state;
    pg_conn_params p = {.host = "/tmp/sock", .port = "", .user = NULL, .dbname = "x"};
    char *s = NULL;
    assert_int_equal(pg_conninfo_build(&s, &p), 0);
    assert_string_equal(s, "host='/tmp/sock' dbname='x'");
    free(s);
    pg_conn_params none = {0};
    assert_int_equal(pg_conninfo_build(&s, &none), 0);
    assert_string_equal(s, "");
    free(s);
}

static void test_conninfo_build_rejects_bad_parts(void **state)
{
    (void)state;
    char *s = NULL;
    static const struct {
        pg_conn_params p;
        const char *message;
    } cases[] = {
        {{.port = "0"}, "port: must be a number from 1 to 65535, got \"0\""},
        {{.port = "65536"}, "port: must be a number from 1 to 65535, got \"65536\""},
        {{.port = "54x"}, "port: must be a number from 1 to 65535, got \"54x\""},
        {{.port = "-1"}, "port: must be a number from 1 to 65535, got \"-1\""},
        {{.sslmode = "strict"},
         "sslmode: must be one of disable, allow, prefer, require, "
         "verify-ca, verify-full, got \"strict\""},
        {{.password = "line1\nline2"}, "password: contains a control character"},
        {{.host = "h\x7f"}, "host: contains a control character"},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        s = NULL;
        assert_int_equal(pg_conninfo_build(&s, &cases[i].p), LB_EINVALID);
        assert_null(s);
        if (strcmp(lb_error_last(), cases[i].message) != 0) {
            fail_msg("case %zu: \"%s\", want \"%s\"", i, lb_error_last(), cases[i].message);
        }
        /* the control-character message does not echo the value */
        assert_null(strstr(lb_error_last(), "line1"));
    }
}

static void test_conninfo_build_is_capped(void **state)
{
    (void)state;
    char *big = malloc(PG_CONNINFO_MAX + 1);
    memset(big, 'h', PG_CONNINFO_MAX);
    big[PG_CONNINFO_MAX] = '\0';
    pg_conn_params p = {.host = big};
    char *s = NULL;
    assert_int_equal(pg_conninfo_build(&s, &p), LB_ETOOBIG);
    assert_null(s);
    assert_string_equal(lb_error_last(), "conninfo: longer than 8192 bytes");
    free(big);
}

static void test_conninfo_redact_hides_passwords(void **state)
{
    (void)state;
    char *s = pg_conninfo_redact("postgresql://app:S3cr%40t@db:5433/shop?sslmode=require");
    assert_null(strstr(s, "S3cr"));
    assert_non_null(strstr(s, "password=[REDACTED]"));
    assert_non_null(strstr(s, "host='db'"));
    assert_non_null(strstr(s, "port='5433'"));
    assert_non_null(strstr(s, "dbname='shop'"));
    free(s);
    s = pg_conninfo_redact("host=db password='a b c' sslpassword=keypw user=u");
    assert_null(strstr(s, "a b c"));
    assert_null(strstr(s, "keypw"));
    assert_non_null(strstr(s, "user='u'"));
    free(s);
    s = pg_conninfo_redact("host=db password=Hunter2 'unterminated");
    assert_string_equal(s, "[invalid connection string]");
    free(s);
}

static void test_scrub_removes_the_password_and_urls(void **state)
{
    (void)state;
    char *s = pg__scrub("FATAL:  password Hunter2 is wrong\n\tfor Hunter2\n", "Hunter2");
    assert_string_equal(s, "FATAL: password [REDACTED] is wrong for [REDACTED]");
    free(s);
    s = pg__scrub("could not reach postgres://u:Zz9pw@h/db", NULL);
    assert_null(strstr(s, "Zz9pw"));
    assert_non_null(strstr(s, "[REDACTED]"));
    free(s);
    s = pg__scrub("aaa", "a"); /* even a one-byte password goes */
    assert_null(strchr(s, 'a'));
    free(s);
    s = pg__scrub(NULL, "x");
    assert_string_equal(s, "");
    free(s);
}

static void test_copy_capped_cuts_at_a_character_boundary(void **state)
{
    (void)state;
    bool t = true;
    char *s = pg__copy_capped("abc", 3, &t);
    assert_string_equal(s, "abc");
    assert_false(t);
    free(s);
    s = pg__copy_capped("ab\xc3\xa9z", 3, &t); /* "abé" + z: the é would be cut in two */
    assert_string_equal(s, "ab");
    assert_true(t);
    free(s);
    s = pg__copy_capped("ab\xc3\xa9z", 4, &t);
    assert_string_equal(s, "ab\xc3\xa9");
    assert_true(t);
    free(s);
    s = pg__copy_capped("\xe2\x82\xac", 2, &t); /* one 3-byte character */
    assert_string_equal(s, "");
    free(s);
}

/* ---- timestamps --------------------------------------------------------------- */

static void test_timestamp_parse_postgres_forms(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want; /* RFC 3339 UTC */
    } cases[] = {
        {"2026-02-18 14:30:00+00", "2026-02-18T14:30:00Z"},
        {"2026-02-18 14:30:00.123456+00", "2026-02-18T14:30:00.123456Z"},
        {"2026-02-18 20:00:00+05:30", "2026-02-18T14:30:00Z"},
        {"2026-02-18 09:30:00-05", "2026-02-18T14:30:00Z"},
        {"2026-02-18 14:30:00", "2026-02-18T14:30:00Z"}, /* no zone: UTC */
        {"2026-02-18", "2026-02-18T00:00:00Z"},
        {"2026-02-18T14:30:00Z", "2026-02-18T14:30:00Z"},
        {"1900-01-01 00:01:15+00:01:15", "1900-01-01T00:00:00Z"}, /* LMT offset seconds */
        {"2024-02-29 23:59:59.999999999-00", "2024-02-29T23:59:59.999999999Z"},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        lb_time t;
        char got[LB_TIME_RFC3339_MAX];
        if (pg_timestamp_parse(&t, cases[i].text) != 0) {
            fail_msg("case %zu \"%s\": %s", i, cases[i].text, lb_error_last());
        }
        assert_int_equal(lb_time_format(got, sizeof(got), t, LB_TIME_FRAC_AUTO), 0);
        if (strcmp(got, cases[i].want) != 0) {
            fail_msg("case %zu \"%s\": got %s want %s", i, cases[i].text, got, cases[i].want);
        }
    }
}

static void test_timestamp_parse_rejects_others(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "infinity",
        "-infinity",
        "2026-02-18 14:30:00 BC",
        "12026-02-18 14:30:00",
        "2026-02-30 00:00:00",
        "2026-02-18 25:00:00",
        "2026-02-18 14:30",
        "18/02/2026",
        "2026-02-18 14:30:00+0",
        "2026-02-18 14:30:00.",
        "",
        "yesterday",
    };
    for (size_t i = 0; i < N_ELEMS(bad); i++) {
        lb_time t;
        if (pg_timestamp_parse(&t, bad[i]) != LB_EINVALID) {
            fail_msg("\"%s\" was accepted", bad[i]);
        }
        assert_non_null(strstr(lb_error_last(), "timestamp \""));
    }
}

/* ---- arguments (no server contacted) ------------------------------------------ */

static void test_check_run_rejects_bad_arguments(void **state)
{
    (void)state;
    pg_check c = {.name = "orders", .query = "  \n"};
    pg_check_options o = {.connect_timeout_sec = 1, .statement_timeout_ms = 100};
    pg_check_result r;
    assert_int_equal(pg_expect_set(&c.expect, PG_EXPECT_MIN, "1", true), 0);
    assert_int_equal(pg_check_run(&r, "host=127.0.0.1", &c, &o), LB_EINVALID);
    assert_false(r.passed);
    assert_string_equal(r.message, "orders: query: must not be empty");
    assert_string_equal(r.expected, ">= 1");
    pg_check_result_dispose(&r);

    c.query = "SELECT 1";
    o.statement_timeout_ms = 0;
    assert_int_equal(pg_check_run(&r, "host=127.0.0.1", &c, &o), LB_EINVALID);
    assert_string_equal(r.message, "orders: statementTimeout: must be at least 1 ms");
    pg_check_result_dispose(&r);

    o.statement_timeout_ms = 100;
    o.connect_timeout_sec = 0;
    assert_int_equal(pg_check_run(&r, "host=127.0.0.1", &c, &o), LB_EINVALID);
    assert_string_equal(r.message, "orders: connectTimeout: must be at least 1 second");
    pg_check_result_dispose(&r);
}

static void test_check_run_refuses_a_malformed_conninfo_without_echoing_it(void **state)
{
    (void)state;
    pg_check c = {.name = "orders", .query = "SELECT 1"};
    pg_check_options o = {.connect_timeout_sec = 1, .statement_timeout_ms = 100};
    pg_check_result r;
    assert_int_equal(pg_expect_set(&c.expect, PG_EXPECT_NOT_EMPTY, NULL, false), 0);
    assert_int_equal(pg_check_run(&r, "host=h password=Hunter2 nonsense", &c, &o), LB_EINVALID);
    assert_null(strstr(r.message, "Hunter2"));
    assert_null(strstr(lb_error_last(), "Hunter2"));
    assert_string_equal(r.message, "orders: conninfo: not a valid libpq connection string or URI");
    assert_null(r.observed);
    pg_check_result_dispose(&r);
}

static void test_rpo_rejects_bad_arguments(void **state)
{
    (void)state;
    pg_check_options o = {.connect_timeout_sec = 1, .statement_timeout_ms = 100};
    int64_t rpo = -1;
    assert_int_equal(pg_rpo_seconds(&rpo, NULL, "host=h", "", lb_time_now(), &o), LB_EINVALID);
    assert_string_equal(lb_error_last(), "rpo: query: must not be empty");
    assert_int_equal(rpo, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal_cmp_table),
        cmocka_unit_test(test_decimal_cmp_rejects_non_numbers),
        cmocka_unit_test(test_expect_eval_table),
        cmocka_unit_test(test_expect_eval_replaces_previous_strings),
        cmocka_unit_test(test_expect_message_is_capped_at_a_character_boundary),
        cmocka_unit_test(test_expect_set_rejects_bad_values),
        cmocka_unit_test(test_expect_describe_forms),
        cmocka_unit_test(test_expect_from_json_accepts_each_kind),
        cmocka_unit_test(test_expect_from_json_errors_name_the_field),
        cmocka_unit_test(test_conninfo_build_quotes_every_value),
        cmocka_unit_test(test_conninfo_build_leaves_out_empty_parts),
        cmocka_unit_test(test_conninfo_build_rejects_bad_parts),
        cmocka_unit_test(test_conninfo_build_is_capped),
        cmocka_unit_test(test_conninfo_redact_hides_passwords),
        cmocka_unit_test(test_scrub_removes_the_password_and_urls),
        cmocka_unit_test(test_copy_capped_cuts_at_a_character_boundary),
        cmocka_unit_test(test_timestamp_parse_postgres_forms),
        cmocka_unit_test(test_timestamp_parse_rejects_others),
        cmocka_unit_test(test_check_run_rejects_bad_arguments),
        cmocka_unit_test(test_check_run_refuses_a_malformed_conninfo_without_echoing_it),
        cmocka_unit_test(test_rpo_rejects_bad_arguments),
    };
    return cmocka_run_group_tests_name("pg_check", tests, NULL, NULL);
}
