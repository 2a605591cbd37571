/* pg_check - runs one pkg/pg check or RPO query and prints the result as JSON.
 *
 *   pg_check check --name NAME --query SQL --expect '{"min": 1}'
 *                  [--connect-timeout SEC] [--statement-timeout-ms MS]
 *   pg_check rpo --query SQL [--now RFC3339] [--connect-timeout SEC]
 *                [--statement-timeout-ms MS]
 *
 * The connection comes from the environment, never from argv (argv is visible
 * in ps): LIFEBOAT_PG_CONNINFO (a libpq URI or key=value string) or, when it
 * is unset, LIFEBOAT_PG_HOST, _PORT, _USER, _PASSWORD, _DBNAME, _SSLMODE put
 * together by pg_conninfo_build().
 *
 * Prints one JSON object on stdout: for check {rc, passed, observed, hasValue,
 * truncated, rows, expected, message, durationMs}; for rpo {rc, rpoSeconds,
 * latest, message, durationMs}. Exit status: 0 passed (rpo: measured), 1 not
 * passed or failed, 2 usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pg/check.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timeutil.h"

typedef struct args {
    const char *mode;
    const char *name;
    const char *query;
    const char *expect;
    const char *now;
    pg_check_options opt;
} args;

static int usage(const char *why)
{
    fprintf(stderr,
            "pg_check: %s\n"
            "usage: pg_check check --name NAME --query SQL --expect JSON [--connect-timeout S]\n"
            "                      [--statement-timeout-ms MS]\n"
            "       pg_check rpo --query SQL [--now RFC3339] [--connect-timeout S]\n"
            "                    [--statement-timeout-ms MS]\n"
            "connection: $LIFEBOAT_PG_CONNINFO, or $LIFEBOAT_PG_{HOST,PORT,USER,PASSWORD,"
            "DBNAME,SSLMODE}\n",
            why);
    return 2;
}

static int parse_args(args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"name", required_argument, NULL, 'n'},
        {"query", required_argument, NULL, 'q'},
        {"expect", required_argument, NULL, 'e'},
        {"now", required_argument, NULL, 't'},
        {"connect-timeout", required_argument, NULL, 'c'},
        {"statement-timeout-ms", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    memset(a, 0, sizeof(*a));
    a->opt.connect_timeout_sec = 5;
    a->opt.statement_timeout_ms = 30000;
    a->opt.application_name = "lifeboat-pg-check";
    if (argc < 2) {
        return -1;
    }
    a->mode = argv[1];
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n':
            a->name = optarg;
            break;
        case 'q':
            a->query = optarg;
            break;
        case 'e':
            a->expect = optarg;
            break;
        case 't':
            a->now = optarg;
            break;
        case 'c':
            a->opt.connect_timeout_sec = atoi(optarg);
            break;
        case 's':
            a->opt.statement_timeout_ms = atoi(optarg);
            break;
        default:
            return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

/* The connection string from the environment; the caller frees it. */
static int conninfo_from_env(char **out)
{
    const char *ci = getenv("LIFEBOAT_PG_CONNINFO");
    if (ci != NULL) {
        *out = strdup(ci);
        return *out != NULL ? 0 : -1;
    }
    pg_conn_params p = {
        .host = getenv("LIFEBOAT_PG_HOST"),
        .port = getenv("LIFEBOAT_PG_PORT"),
        .user = getenv("LIFEBOAT_PG_USER"),
        .password = getenv("LIFEBOAT_PG_PASSWORD"),
        .dbname = getenv("LIFEBOAT_PG_DBNAME"),
        .sslmode = getenv("LIFEBOAT_PG_SSLMODE"),
    };
    return pg_conninfo_build(out, &p);
}

static void print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(o);
}

static int run_check(const args *a, const char *conninfo)
{
    pg_check c = {.name = a->name, .query = a->query};
    pg_check_result r;
    json_error_t jerr;
    json_t *expect = json_loads(a->expect, 0, &jerr);
    if (expect == NULL) {
        fprintf(stderr, "pg_check: --expect is not JSON: %s\n", jerr.text);
        return 2;
    }
    int rc = pg_expect_from_json(&c.expect, expect, "expect");
    json_decref(expect);
    if (rc != 0) {
        fprintf(stderr, "pg_check: %s\n", lb_error_last());
        return 2;
    }
    rc = pg_check_run(&r, conninfo, &c, &a->opt);
    print_json(json_pack("{s:s, s:b, s:s?, s:b, s:b, s:I, s:s, s:s, s:I}", "rc", lb_error_name(rc),
                         "passed", r.passed, "observed", r.observed, "hasValue", r.has_value,
                         "truncated", r.truncated, "rows", (json_int_t)r.rows, "expected",
                         r.expected, "message", r.message, "durationMs",
                         (json_int_t)r.duration_ms));
    int status = r.passed ? 0 : 1;
    pg_check_result_dispose(&r);
    return status;
}

static int run_rpo(const args *a, const char *conninfo)
{
    lb_time now = lb_time_now();
    lb_time latest = {0, 0};
    int64_t rpo = 0;
    char latest_text[LB_TIME_RFC3339_MAX] = "";
    if (a->now != NULL && lb_time_parse_rfc3339(&now, a->now) != 0) {
        fprintf(stderr, "pg_check: --now: %s\n", lb_error_last());
        return 2;
    }
    int64_t start = lb_time_monotonic_ns();
    int rc = pg_rpo_seconds(&rpo, &latest, conninfo, a->query, now, &a->opt);
    int64_t ms = (lb_time_monotonic_ns() - start) / 1000000;
    if (rc == 0) {
        lb_time_format(latest_text, sizeof(latest_text), latest, LB_TIME_FRAC_AUTO);
        print_json(json_pack("{s:s, s:I, s:s, s:s, s:I}", "rc", lb_error_name(rc), "rpoSeconds",
                             (json_int_t)rpo, "latest", latest_text, "message", "", "durationMs",
                             (json_int_t)ms));
        return 0;
    }
    print_json(json_pack("{s:s, s:n, s:n, s:s, s:I}", "rc", lb_error_name(rc), "rpoSeconds",
                         "latest", "message", lb_error_last(), "durationMs", (json_int_t)ms));
    return 1;
}

int main(int argc, char **argv)
{
    args a;
    char *conninfo = NULL;
    int status;

    lb_log_init(stderr, LB_LOG_LEVEL_DEBUG, LB_LOG_FORMAT_JSON);
    if (parse_args(&a, argc, argv) != 0) {
        return usage("bad arguments");
    }
    if (a.query == NULL) {
        return usage("--query is required");
    }
    if (conninfo_from_env(&conninfo) != 0) {
        fprintf(stderr, "pg_check: connection from the environment: %s\n", lb_error_last());
        return 2;
    }
    if (strcmp(a.mode, "check") == 0 && a.name != NULL && a.expect != NULL) {
        status = run_check(&a, conninfo);
    } else if (strcmp(a.mode, "rpo") == 0) {
        status = run_rpo(&a, conninfo);
    } else {
        status = usage("mode must be check (with --name and --expect) or rpo");
    }
    free(conninfo);
    return status;
}
