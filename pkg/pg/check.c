/* check.c - running SQL checks and RPO queries through libpq. */
#include "pg/check.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pg/private.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"

#define PG_SQLSTATE_QUERY_CANCELED "57014" /* what statement_timeout raises */
/* Session settings for an RPO query: timestamptz arrives in UTC, dates as ISO. */
#define PG_RPO_SESSION_SQL "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'"

/* What a query returned: the first column of the first row and the count. */
typedef struct first_row {
    char *value; /* NULL: no row, SQL NULL or no column */
    bool truncated;
    int64_t rows;
} first_row;

/* One connection's state for the duration of a call. */
typedef struct session {
    PGconn *conn;
    char *password;   /* to scrub from messages; NULL when none */
    int64_t deadline; /* monotonic ns after which we stop waiting */
    int timeout_ms;   /* statement_timeout, for messages */
} session;

static void drop_notice(void *payload, const char *message)
{
    (void)payload;
    (void)message;
}

static int64_t ms_left(const session *s)
{
    int64_t left = s->deadline - lb_time_monotonic_ns();
    return left <= 0 ? 0 : (left + 999999) / 1000000;
}

static int conn_error(session *s, const char *what)
{
    char *msg = pg__scrub(PQerrorMessage(s->conn), s->password);
    int rc = lb_error_set("%s: %s", what, msg[0] != '\0' ? msg : "connection lost");
    free(msg);
    return rc;
}

static int client_timeout(const session *s)
{
    return lb_error_setc(LB_ETIMEOUT,
                         "no answer from the server within statement_timeout %d ms + %d ms; "
                         "connection closed",
                         s->timeout_ms, PG_CHECK_GRACE_MS);
}

/* Waits until the socket is readable (and writable when want_write), or the
 * deadline passes. Returns 0, LB_ETIMEOUT or LB_ERROR. */
static int wait_socket(session *s, bool want_write)
{
    int fd = PQsocket(s->conn);
    if (fd < 0) {
        return conn_error(s, "connection lost");
    }
    for (;;) {
        int64_t left = ms_left(s);
        if (left == 0) {
            return client_timeout(s);
        }
        struct pollfd pfd = {.fd = fd, .events = (short)(POLLIN | (want_write ? POLLOUT : 0))};
        int r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return lb_error_set("poll on the PostgreSQL connection: %s", strerror(errno));
        }
        if (r == 0) {
            continue; /* the loop re-checks the deadline */
        }
        if ((pfd.revents & (POLLIN | POLLERR | POLLHUP)) && PQconsumeInput(s->conn) == 0) {
            return conn_error(s, "connection lost");
        }
        return LB_OK;
    }
}

static int flush_all(session *s)
{
    for (;;) {
        int r = PQflush(s->conn);
        if (r == 0) {
            return LB_OK;
        }
        if (r < 0) {
            return conn_error(s, "sending to the server");
        }
        int rc = wait_socket(s, true);
        if (rc != 0) {
            return rc;
        }
    }
}

/* The next result of the current command, or NULL when it is complete. */
static int next_result(PGresult **out, session *s)
{
    while (PQisBusy(s->conn)) {
        int rc = wait_socket(s, false);
        if (rc != 0) {
            return rc;
        }
    }
    *out = PQgetResult(s->conn);
    return LB_OK;
}

static int result_error(session *s, const PGresult *res, const char *what)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    char *msg = pg__scrub(primary != NULL ? primary : PQresultErrorMessage(res), s->password);
    int rc;
    if (state != NULL && strcmp(state, PG_SQLSTATE_QUERY_CANCELED) == 0) {
        rc = lb_error_setc(LB_ETIMEOUT, "%s: %s (SQLSTATE %s; statement_timeout %d ms)", what, msg,
                           state, s->timeout_ms);
    } else {
        rc = lb_error_set("%s: %s (SQLSTATE %s)", what, msg, state != NULL ? state : "none");
    }
    free(msg);
    return rc;
}

/* Runs text through the simple protocol (our own fixed statements only) and
 * drains every result. */
static int exec_simple(session *s, const char *sql, const char *what)
{
    int rc = LB_OK;
    if (PQsendQuery(s->conn, sql) == 0) {
        return conn_error(s, what);
    }
    if ((rc = flush_all(s)) != 0) {
        return rc;
    }
    for (;;) {
        PGresult *res = NULL;
        int wrc = next_result(&res, s);
        if (wrc != 0) {
            return wrc;
        }
        if (res == NULL) {
            return rc;
        }
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
            rc = result_error(s, res, what);
        }
        PQclear(res);
    }
}

/* Parses (does not run) the caller's text as one statement of its own, so
 * that wrapping it in a subquery cannot change how it is read: a text whose
 * parentheses, quotes or comments do not close on their own is refused here
 * instead of closing the wrapper's parenthesis. */
static int parse_alone(session *s, const char *query)
{
    int rc = LB_OK;
    if (PQsendPrepare(s->conn, "", query, 0, NULL) == 0)
        return conn_error(s, "query failed");
    if ((rc = flush_all(s)) != 0)
        return rc;
    for (;;) {
        PGresult *res = NULL;
        int wrc = next_result(&res, s);
        if (wrc != 0)
            return wrc;
        if (res == NULL)
            return rc;
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0)
            rc = result_error(s, res, "query failed");
        PQclear(res);
    }
}

char *pg_check_wrap_query(const char *query)
{
    size_t n = strlen(query);
    /* a trailing ';' is allowed alone but not inside the subquery */
    while (n > 0 && (query[n - 1] == ';' || query[n - 1] == ' ' || query[n - 1] == '\t' ||
                     query[n - 1] == '\r' || query[n - 1] == '\n'))
        n--;
    /* OFFSET 0 keeps the query a separate plan node, so its value is computed
     * once (not once per reference below); text and varchar are cut without
     * a copy, other types through their output function (format %s), so a
     * boolean stays t/f as PostgreSQL prints it */
    return lb_sprintf("SELECT lb_r.v, count(*) OVER () FROM (SELECT CASE WHEN lb_q.lb_c1 IS NULL "
                      "THEN NULL WHEN pg_typeof(lb_q.lb_c1) IN ('text'::regtype, "
                      "'character varying'::regtype) THEN left(lb_q.lb_c1::text, %d) ELSE "
                      "left(format('%%s', lb_q.lb_c1), %d) END AS v FROM (SELECT * FROM (\n"
                      "%.*s\n) AS lb_u OFFSET 0) AS lb_q(lb_c1)) AS lb_r LIMIT 1",
                      PG_CHECK_MAX_OBSERVED + 1, PG_CHECK_MAX_OBSERVED + 1, (int)n, query);
}

/* Runs the caller's query: one statement (extended protocol), rows read one
 * at a time. A result this code cannot drain (COPY) fails the call; the
 * connection is then unusable and *broken is set. */
static int exec_query(first_row *out, session *s, const char *query, bool *broken)
{
    int rc = LB_OK;
    if (PQsendQueryParams(s->conn, query, 0, NULL, NULL, NULL, NULL, 0) == 0) {
        *broken = true;
        return conn_error(s, "query failed");
    }
    if (PQsetSingleRowMode(s->conn) == 0) {
        *broken = true;
        return lb_error_set("query failed: libpq refused single-row mode");
    }
    if ((rc = flush_all(s)) != 0) {
        *broken = true;
        return rc;
    }
    for (;;) {
        PGresult *res = NULL;
        int wrc = next_result(&res, s);
        if (wrc != 0) {
            *broken = true;
            return wrc;
        }
        if (res == NULL) {
            return rc;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE) {
            /* the wrapper's one row: the first value (cut on the server) and the count */
            if (out->rows == 0 && PQnfields(res) == 2) {
                if (!PQgetisnull(res, 0, 0))
                    out->value = pg__copy_capped(PQgetvalue(res, 0, 0), PG_CHECK_MAX_OBSERVED,
                                                 &out->truncated);
                out->rows = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
            }
        } else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            /* the end of the rows, or a statement without any */
        } else if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR) {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            if (rc == 0 && state != NULL && strcmp(state, "42601") == 0) {
                rc = lb_error_setc(LB_EINVALID,
                                   "query: must be one SELECT, VALUES, TABLE or WITH ... SELECT "
                                   "query (it runs as a subquery so that only a bounded first "
                                   "value leaves the server)");
            } else if (rc == 0) {
                rc = result_error(s, res, "query failed");
            }
        } else {
            PQclear(res);
            *broken = true;
            return lb_error_set("query failed: unsupported result %s (COPY is not a check)",
                                PQresStatus(st));
        }
        PQclear(res);
    }
}

static int sslmode_rank(const char *m)
{
    static const char *const modes[] = {"disable", "allow",     "prefer",
                                        "require", "verify-ca", "verify-full"};
    for (int i = 0; m != NULL && i < 6; i++) {
        if (strcmp(m, modes[i]) == 0)
            return i;
    }
    return -1;
}

/* The stronger of the connection string's own sslmode and the minimum; NULL
 * when no minimum is set (libpq's rules then). */
static char *pg_sslmode_effective(const PQconninfoOption *parsed, const char *minimum)
{
    const char *own = NULL;
    if (minimum == NULL || sslmode_rank(minimum) < 0)
        return NULL;
    for (const PQconninfoOption *o = parsed; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "sslmode") == 0 && o->val != NULL)
            own = o->val;
    }
    return lb_strdup(sslmode_rank(own) > sslmode_rank(minimum) ? own : minimum);
}

static char *password_of(const char *conninfo)
{
    char *err = NULL;
    char *password = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    if (opts == NULL) {
        PQfreemem(err);
        return NULL;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0') {
            password = lb_strdup(o->val);
        }
    }
    PQconninfoFree(opts);
    return password;
}

/* Connects, runs session_sql (may be NULL) and query in a read-only
 * transaction, rolls back, disconnects. */
static int run_readonly(first_row *out, const char *conninfo, const char *query,
                        const pg_check_options *opt, const char *session_sql)
{
    session s = {.conn = NULL, .password = NULL, .timeout_ms = opt->statement_timeout_ms};
    char timeout[16];
    char *setup = NULL, *wrapped = NULL, *sslmode = NULL;
    bool broken = false;
    int rc = LB_OK;
    char *err = NULL;
    PQconninfoOption *parsed = PQconninfoParse(conninfo, &err);

    memset(out, 0, sizeof(*out));
    if (parsed == NULL) {
        PQfreemem(err); /* its text may quote the secret */
        return lb_error_setc(LB_EINVALID, "conninfo: not a valid libpq connection string or URI");
    }
    sslmode = pg_sslmode_effective(parsed, opt->sslmode);
    PQconninfoFree(parsed);
    s.password = password_of(conninfo);

    snprintf(timeout, sizeof(timeout), "%d", opt->connect_timeout_sec);
    /* after dbname (the expanded conninfo): these win over what it says */
    const char *keys[6] = {"dbname", "connect_timeout", "application_name", NULL, NULL, NULL};
    const char *vals[6] = {
        conninfo, timeout, opt->application_name != NULL ? opt->application_name : "lifeboat",
        NULL,     NULL,    NULL};
    size_t k = 3;
    if (sslmode != NULL) {
        keys[k] = "sslmode";
        vals[k++] = sslmode;
    }
    if (opt->sslrootcert != NULL && opt->sslrootcert[0] != '\0') {
        keys[k] = "sslrootcert";
        vals[k++] = opt->sslrootcert;
    }
    s.conn = PQconnectdbParams(keys, vals, 1);
    if (s.conn == NULL) {
        rc = lb_error_set("cannot connect: libpq could not allocate a connection");
        goto done;
    }
    if (PQstatus(s.conn) != CONNECTION_OK) {
        char *msg = pg__scrub(PQerrorMessage(s.conn), s.password);
        int code = strstr(msg, "timeout expired") != NULL ? LB_ETIMEOUT : LB_ERROR;
        rc = lb_error_setc(code, "cannot connect: %s", msg);
        free(msg);
        goto done;
    }
    if (strcmp(PQparameterStatus(s.conn, "is_superuser") ? PQparameterStatus(s.conn, "is_superuser")
                                                         : "off",
               "on") == 0) {
        rc = lb_error_setc(LB_EINVALID,
                           "role %s is a superuser: checks do not run as a superuser (it can "
                           "write files and run programs even in a read-only transaction); "
                           "use a role that can only SELECT (see pkg/pg/README.md)",
                           PQuser(s.conn));
        goto done;
    }
    PQsetNoticeProcessor(s.conn, drop_notice, NULL);
    if (PQsetnonblocking(s.conn, 1) != 0) {
        rc = conn_error(&s, "cannot switch the connection to non-blocking mode");
        goto done;
    }
    s.deadline = lb_time_monotonic_ns() +
                 ((int64_t)opt->statement_timeout_ms + PG_CHECK_GRACE_MS) * 1000000LL;
    setup = lb_sprintf("BEGIN READ ONLY; SET LOCAL statement_timeout = %d%s%s",
                       opt->statement_timeout_ms, session_sql != NULL ? "; " : "",
                       session_sql != NULL ? session_sql : "");
    if ((rc = exec_simple(&s, setup, "starting the read-only transaction")) != 0) {
        goto done;
    }
    if ((rc = parse_alone(&s, query)) != 0)
        goto done;
    wrapped = pg_check_wrap_query(query);
    rc = exec_query(out, &s, wrapped, &broken);
    if (!broken) {
        int rrc = exec_simple(&s, "ROLLBACK", "rollback");
        if (rc == 0) {
            rc = rrc;
        }
    }
done:
    if (rc != 0) {
        free(out->value);
        out->value = NULL;
    }
    PQfinish(s.conn);
    if (s.password != NULL)
        explicit_bzero(s.password, strlen(s.password));
    free(s.password);
    free(setup);
    free(wrapped);
    free(sslmode);
    return rc;
}

static int check_args(const char *query, const pg_check_options *opt)
{
    if (query == NULL || query[strspn(query, " \t\r\n")] == '\0') {
        return lb_error_setc(LB_EINVALID, "query: must not be empty");
    }
    if (opt == NULL || opt->connect_timeout_sec < 1) {
        return lb_error_setc(LB_EINVALID, "connectTimeout: must be at least 1 second");
    }
    if (opt->statement_timeout_ms < 1) {
        return lb_error_setc(LB_EINVALID, "statementTimeout: must be at least 1 ms");
    }
    return LB_OK;
}

int pg_check_run(pg_check_result *out, const char *conninfo, const pg_check *c,
                 const pg_check_options *opt)
{
    int64_t start = lb_time_monotonic_ns();
    const char *name = c->name != NULL ? c->name : "check";
    first_row row = {0};
    int rc;

    memset(out, 0, sizeof(*out));
    rc = check_args(c->query, opt);
    if (rc == 0) {
        rc = run_readonly(&row, conninfo != NULL ? conninfo : "", c->query, opt, NULL);
    }
    if (rc == 0) {
        pg_expect_eval(out, name, &c->expect, row.value, row.truncated, row.rows);
        out->observed = row.value;
        out->has_value = row.value != NULL;
        out->truncated = row.truncated;
        out->rows = row.rows;
    } else {
        char expected[PG_EXPECT_MAX_VALUE + 16];
        pg_expect_describe(expected, sizeof(expected), &c->expect);
        char *msg = lb_sprintf("%s: %s", name, lb_error_last());
        out->passed = false;
        out->expected = lb_strdup(expected);
        out->message = pg__copy_capped(msg, PG_CHECK_MAX_MESSAGE - 1, NULL);
        free(msg);
    }
    out->duration_ms = (lb_time_monotonic_ns() - start) / 1000000;
    LB_LOG_DEBUG("sql check finished", "check", name, "passed", out->passed ? "true" : "false",
                 "durationMs", LB_LOG_INT(out->duration_ms), "result", lb_error_name(rc));
    return rc;
}

void pg_check_result_dispose(pg_check_result *r)
{
    if (r == NULL) {
        return;
    }
    free(r->observed);
    free(r->expected);
    free(r->message);
    memset(r, 0, sizeof(*r));
}

int pg_rpo_seconds(int64_t *out, lb_time *out_latest, const char *conninfo, const char *query,
                   lb_time now, const pg_check_options *opt)
{
    first_row row = {0};
    lb_time latest;
    int rc = check_args(query, opt);
    if (rc != 0) {
        return lb_error_wrap(rc, "rpo");
    }
    rc = run_readonly(&row, conninfo != NULL ? conninfo : "", query, opt, PG_RPO_SESSION_SQL);
    if (rc != 0) {
        return lb_error_wrap(rc, "rpo");
    }
    if (row.value == NULL) {
        rc = lb_error_setc(LB_ENOTFOUND, "rpo: the query returned %s, not a timestamp",
                           row.rows == 0 ? "no rows" : "NULL");
        goto done;
    }
    if (row.truncated) {
        rc = lb_error_setc(LB_EINVALID,
                           "rpo: the query returned more than %d bytes, not a "
                           "timestamp",
                           PG_CHECK_MAX_OBSERVED);
        goto done;
    }
    if ((rc = pg_timestamp_parse(&latest, row.value)) != 0) {
        rc = lb_error_wrap(rc, "rpo");
        goto done;
    }
    int64_t sec = now.sec - latest.sec;
    int64_t nsec = (int64_t)now.nsec - latest.nsec;
    if (nsec < 0) {
        sec--;
        nsec += 1000000000LL;
    }
    if (sec < 0 && nsec > 0) {
        sec++; /* truncate toward zero */
    }
    *out = sec;
    if (out_latest != NULL) {
        *out_latest = latest;
    }
done:
    free(row.value);
    return rc;
}
