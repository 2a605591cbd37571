/* check.h - SQL checks against PostgreSQL through libpq.
 *
 * A check is a name, a query and one expectation:
 *
 *     pg_check c = {.name = "orders-present", .query = "SELECT COUNT(*) FROM orders"};
 *     pg_expect_set(&c.expect, PG_EXPECT_MIN, "1", true);
 *     pg_check_options o = {.connect_timeout_sec = 5, .statement_timeout_ms = 30000};
 *     pg_check_result r;
 *     int rc = pg_check_run(&r, conninfo, &c, &o);
 *     ... r.passed, r.message ("orders-present: observed 0, expected >= 1") ...
 *     pg_check_result_dispose(&r);
 *
 * How a check runs: one connection (libpq `connect_timeout` from the caller),
 * `BEGIN READ ONLY`, `SET LOCAL statement_timeout`, the query through the
 * extended protocol (so it is exactly one statement: `SELECT 1; COMMIT; DELETE
 * ...` is refused by the server instead of escaping the transaction), then
 * ROLLBACK. A write therefore fails with PostgreSQL's own message ("cannot
 * execute DELETE in a read-only transaction").
 *
 * Bounded on the server: the query is first parsed alone (PQprepare: one
 * statement whose parentheses, quotes and comments close by themselves), then
 * run wrapped (pg_check_wrap_query) so that the server sends one row of two
 * columns - the first column of the first row as text cut to
 * PG_CHECK_MAX_OBSERVED + 1 characters (so a cut is seen) and the number of
 * rows. A 400 MB value never crosses the wire; the server computes it and
 * sends at most ~4 KiB. A check is therefore a SELECT/VALUES/TABLE/WITH query;
 * anything else is refused (LB_EINVALID) with a message saying so.
 *
 * Never as a superuser: a superuser can write files and run programs from a
 * read-only transaction (COPY ... TO PROGRAM, lo_export, adminpack), so a
 * connection whose server reports is_superuser=on is closed before any query
 * (LB_EINVALID). The role to use is in pkg/pg/README.md.
 *
 * TLS: opt->sslmode is a minimum, put after the connection string so that it
 * wins; a stronger sslmode in the connection string is kept.
 *
 * Time bound: connecting takes at most connect_timeout per host address
 * (libpq's rule; the name lookup is not covered); everything after the
 * connection is bounded on the client by statement_timeout_ms +
 * PG_CHECK_GRACE_MS, even if the server stops answering (the connection is
 * then closed rather than cancelled, and the server's own statement_timeout
 * ends the statement).
 *
 * Secrets: the password (from the connection string or the parts given to
 * pg_conninfo_build) never appears in a returned string or the error
 * message: libpq's messages are passed through lb_log_redact_url() and every
 * occurrence of the password is replaced by [REDACTED].
 *
 * Notices sent by the server are dropped (libpq would print them on stderr).
 * All functions are thread-safe (libpq is built thread-safe on Debian); each
 * call uses its own connection.
 */
#ifndef LB_PG_CHECK_H
#define LB_PG_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/timeutil.h"

#define PG_CHECK_MAX_OBSERVED 1024 /* bytes kept of the observed value */
#define PG_EXPECT_MAX_VALUE   128  /* bytes of an expected value, NUL included */
#define PG_CHECK_MAX_MESSAGE  2048 /* bytes of a result message, NUL included */
#define PG_CHECK_GRACE_MS     1000 /* client wait beyond statement_timeout */
#define PG_CONNINFO_MAX       8192 /* bytes of a built connection string */

typedef enum pg_expect_kind {
    PG_EXPECT_EQUALS = 1, /* numeric or text equality, see pg_expect_set() */
    PG_EXPECT_MIN,        /* observed >= value, numerically */
    PG_EXPECT_MAX,        /* observed <= value, numerically */
    PG_EXPECT_NOT_EMPTY,  /* at least one row and a non-NULL first value */
} pg_expect_kind;

typedef struct pg_expect {
    pg_expect_kind kind;
    bool numeric;                    /* compare as numbers (always for min/max) */
    char value[PG_EXPECT_MAX_VALUE]; /* the expected value as text; "" for notEmpty */
} pg_expect;

typedef struct pg_check {
    const char *name;  /* used in messages; borrowed */
    const char *query; /* one SQL statement; borrowed */
    pg_expect expect;
} pg_check;

typedef struct pg_check_options {
    int connect_timeout_sec;      /* libpq connect_timeout, >= 1 (libpq treats 1 as 2) */
    int statement_timeout_ms;     /* SET LOCAL statement_timeout, >= 1 */
    const char *application_name; /* NULL: "lifeboat" */
    const char *sslmode;          /* the minimum sslmode (a stronger one in conninfo is kept);
                                     NULL: libpq's rules (conninfo, PGSSLMODE, prefer) */
    const char *sslrootcert;      /* NULL: libpq's default */
} pg_check_options;

typedef struct pg_check_result {
    bool passed;
    bool has_value;      /* a first row exists and its first column is not NULL */
    bool truncated;      /* observed was cut at PG_CHECK_MAX_OBSERVED bytes */
    char *observed;      /* first column of the first row as text; NULL when none */
    int64_t rows;        /* rows returned by the query */
    char *expected;      /* ">= 1000", "<= 5", "= 0", "= \"ok\"", "not empty" */
    char *message;       /* "orders-present: observed 0, expected >= 1" */
    int64_t duration_ms; /* wall time of the whole check, connection included */
} pg_check_result;

/* Sets *out to an expectation. value is the expected value as text: for min
 * and max (and equals when numeric is true) a decimal number
 * (`-12`, `3.5`, `1e6`), compared exactly, not through floating point;
 * value is ignored for notEmpty. Equality rules:
 *   - numeric: the observed text must be a number (PostgreSQL's output of
 *     integer, numeric, real or float; `Infinity`/`-Infinity` allowed, `NaN`
 *     is not a number) equal in value: `1000.00` equals `1000` and `1e3`;
 *   - text (numeric false): byte-for-byte equal to PostgreSQL's text output
 *     (so a boolean is `t` or `f`).
 * A NULL observed value or an empty result never satisfies any expectation.
 * Returns 0 or LB_EINVALID ("expect.min: \"abc\" is not a number") with *out
 * untouched. */
int pg_expect_set(pg_expect *out, pg_expect_kind kind, const char *value, bool numeric);

/* Parses a check's `expect` object as DESIGN.md §3 writes it: exactly one of
 * `equals` (a number, string or boolean; a boolean becomes the text `t`/`f`),
 * `min`, `max` (numbers) or `notEmpty` (true). field names the object in
 * errors ("spec.checks[0].sql.expect"). Returns 0 or LB_EINVALID with a
 * message naming field and the rule. */
int pg_expect_from_json(pg_expect *out, const json_t *expect, const char *field);

/* Writes the human form of e (">= 1000") into out (size bytes, truncated). */
void pg_expect_describe(char *out, size_t size, const pg_expect *e);

/* Decides a check from what its query returned and fills out->passed,
 * expected and message (out's other fields are left alone; the strings are
 * replaced, freeing old ones). observed is the first value as text or NULL
 * (SQL NULL or no rows); truncated says it was cut, which fails a numeric
 * comparison. Pure: used by pg_check_run() and unit tests. */
void pg_expect_eval(pg_check_result *out, const char *name, const pg_expect *e,
                    const char *observed, bool truncated, int64_t rows);

/* Compares two decimal numbers given as text exactly. Sets *out to -1, 0 or
 * 1. Returns 0, or LB_EINVALID when either is not a number. */
int pg_decimal_cmp(int *out, const char *a, const char *b);

/* Parts of a connection; NULL or "" leaves a part out (libpq's default). */
typedef struct pg_conn_params {
    const char *host;
    const char *port; /* 1-65535 */
    const char *user;
    const char *password;
    const char *dbname;
    const char *sslmode; /* disable|allow|prefer|require|verify-ca|verify-full */
} pg_conn_params;

/* Builds a libpq key=value connection string from p into *out (the caller
 * frees): every value single-quoted with `\` and `'` escaped, so spaces,
 * quotes and `=` in a password are safe. Returns 0, or LB_EINVALID naming the
 * part (port not a number in range, unknown sslmode, a value with a control
 * character), or LB_ETOOBIG past PG_CONNINFO_MAX. */
int pg_conninfo_build(char **out, const pg_conn_params *p);

/* Returns a printable form of a connection string or URI, which the caller
 * frees: its parameters as key=value with the password shown as [REDACTED],
 * or "[invalid connection string]" when libpq cannot parse it (its own
 * message could quote the secret). Never contacts a server. */
char *pg_conninfo_redact(const char *conninfo);

/* Runs check c against the database conninfo names (a URI or key=value
 * string) as described at the top. *out is always filled (free it with
 * pg_check_result_dispose()), also on failure, with a message that says
 * what happened. Returns:
 *   0            the query ran; out->passed says whether the expectation held;
 *   LB_ETIMEOUT  connect_timeout or statement_timeout expired;
 *   LB_ERROR     the connection or the query failed (PostgreSQL's message,
 *                with the SQLSTATE, is in out->message and lb_error_last());
 *   LB_EINVALID  bad arguments (no query, timeouts < 1).
 * out->passed is false whenever the return is not 0. */
int pg_check_run(pg_check_result *out, const char *conninfo, const pg_check *c,
                 const pg_check_options *opt);

/* The text sent for query (the caller frees): the first value of the first
 * row cut on the server, and the row count. Exposed for tests. */
char *pg_check_wrap_query(const char *query);

/* Frees what r holds and zeroes it; r may be NULL. */
void pg_check_result_dispose(pg_check_result *r);

/* Parses a timestamp as PostgreSQL prints it with DateStyle ISO
 * (`2026-02-18 14:30:00.123456+00`, `2026-02-18 14:30:00` or `2026-02-18`,
 * an offset of `+hh`, `+hh:mm` or `+hh:mm:ss`). A value without an offset
 * (timestamp without time zone, date) is taken as UTC. Returns 0 or
 * LB_EINVALID (infinity, BC dates, years past 9999, anything else). */
int pg_timestamp_parse(lb_time *out, const char *text);

/* Measures a recovery point: runs query (one value, e.g. `SELECT
 * MAX(created_at) FROM orders`) the way pg_check_run() runs a check, with
 * the session TimeZone set to UTC and DateStyle to ISO, so that timestamptz
 * values arrive in UTC; a timestamp without time zone is taken as UTC too
 * (store UTC in such columns, or cast in the query). Sets *out to now minus
 * that time in whole seconds (truncated; negative when the newest row is in
 * the future, i.e. clocks disagree - left visible, not clamped). If
 * out_latest is not NULL it receives the time read. Returns 0; LB_ENOTFOUND
 * when the query returned no row or NULL (an empty table); LB_EINVALID when
 * the value is not a timestamp; otherwise as pg_check_run(). */
int pg_rpo_seconds(int64_t *out, lb_time *out_latest, const char *conninfo, const char *query,
                   lb_time now, const pg_check_options *opt);

#endif
