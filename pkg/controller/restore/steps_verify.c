/* restore/steps_verify.c - an item's verify.checks and the request's
 * post-restore `verification` checklist (see step.h for the contract).
 *
 * verify_step_item ("<item>/verify") runs each of item.verify.checks (sql:
 * query + expect {equals|min|max|notEmpty}) with pkg/pg, read-only, against
 * the restored copy's endpoint (the item's status.outputs entry), as the user
 * in item.credentialsSecretRef {name, usernameKey (username), passwordKey
 * (password)} on item.database (a check's sql.database overrides it). Every
 * check runs; the message lists each one's observed value ("orders-present:
 * observed 1204, expected >= 1"); any failure fails the step (CheckFailed).
 *
 * The request's `verification` checklist runs in an owned VerificationRun
 * (steps_verifyrun.c), which calls the checks below one at a time. Their
 * targets:
 *   sql       against the checklist's target (rdsInstance: its current
 *             endpoint from DescribeDBInstances and its
 *             credentialsSecretRef/database; connectionSecretRef: the
 *             connection string stored in that Secret key), otherwise against
 *             the first RDS item (execution order) that has an endpoint in
 *             status.outputs, with that item's credentials and database;
 *   http      libcurl request (method GET|HEAD|POST, body or bodySecretRef,
 *             contentType) with expectStatus and expectBodyContains; the body
 *             kept is capped at VERIFY_HTTP_MAX_BODY, each request at
 *             VERIFY_HTTP_TIMEOUT_MS. A host ending in ".svc" is resolved
 *             through the kubesim services.json map ONLY when the environment
 *             variable LIFEBOAT_SERVICE_MAP names such a file: that is for the
 *             local e2e environment, where Services are processes on
 *             127.0.0.1; in a cluster, DNS resolves the name;
 *   workload  a Deployment/StatefulSet/DaemonSet in the request's namespace is
 *             ready (the controller observed its generation and every replica
 *             is updated and ready);
 *   rpo       spec.verification.rpo {query, maxAge} on the sql target.
 *   redis     scanCount/ping through exec in the pod (redis/check.h), in the
 *             request's namespace.
 *   s3Compare key sets and ETags of two bucket/prefixes (verify/s3compare.h).
 *
 * The same dispatcher (run_check) serves a VerificationRun one check per call
 * (verify_check_result, verify_rpo_result; see step.h), so the three users of
 * checks - an item's verify, a request's verification, a VerificationRun -
 * share one engine.
 *
 * Passwords and request bodies from Secrets never reach a message.
 */
#include "controller/restore/step.h"
#include "controller/restore/checks.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/rds.h"
#include "controller/verify/s3compare.h"
#include "pg/check.h"
#include "redis/check.h"
#include "util/alloc.h"
#include "util/duration.h"
#include "util/error.h"
#include "util/netguard.h"
#include "util/timeutil.h"

#define VERIFY_HTTP_MAX_BODY     (256u * 1024)  /* response bytes kept for expectBodyContains */
#define VERIFY_HTTP_TIMEOUT_MS   10000L         /* one HTTP check, connection included */
#define VERIFY_SERVICE_MAP_MAX   (1024u * 1024) /* bytes of the services.json map read */
#define VERIFY_SQL_CONNECT_SEC   5
#define VERIFY_SQL_STATEMENT_MS  30000
#define VERIFY_MAX_CHECK_MESSAGE 400     /* bytes of one check's line in the step message */
#define VERIFY_MAX_OBSERVED      256     /* bytes of a result's observed / expected */
#define VERIFY_STEP_BUDGET_MS    120000L /* all checks of one step call, together */
#define VERIFY_MAX_CONTENT_TYPE  255     /* bytes of http.contentType */

/* ---- accumulating the step message ------------------------------------------ */

typedef struct verify_report {
    char text[STEP_MAX_MESSAGE];
    size_t len;
    int passed, failed;
    char observed[VERIFY_MAX_OBSERVED]; /* the last check's observed value (report_observe) */
    char expected[VERIFY_MAX_OBSERVED];
    int64_t deadline_ns; /* monotonic: checks not started by then are failed unrun */
} verify_report;

/* Records what the check being run observed and expected, for status.results[]. */
static void report_observe(verify_report *r, const char *observed, const char *expected)
{
    if (observed != NULL)
        snprintf(r->observed, sizeof(r->observed), "%s", observed);
    if (expected != NULL)
        snprintf(r->expected, sizeof(r->expected), "%s", expected);
}

static void report_start(verify_report *r)
{
    memset(r, 0, sizeof(*r));
    r->deadline_ns = lb_time_monotonic_ns() + VERIFY_STEP_BUDGET_MS * 1000000LL;
}

/* Milliseconds left of the step's budget, capped at cap_ms; 0 when spent. */
static long report_budget_ms(const verify_report *r, long cap_ms)
{
    int64_t left = (r->deadline_ns - lb_time_monotonic_ns()) / 1000000LL;
    if (left <= 0)
        return 0;
    return left < cap_ms ? (long)left : cap_ms;
}

static void report_add(verify_report *r, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report_add(verify_report *r, bool ok, const char *fmt, ...)
{
    char line[VERIFY_MAX_CHECK_MESSAGE];
    va_list ap;
    int n;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (ok)
        r->passed++;
    else
        r->failed++;
    if (r->len >= sizeof(r->text) - 1)
        return;
    n = snprintf(r->text + r->len, sizeof(r->text) - r->len, "%s%s%s", r->len ? "; " : "",
                 ok ? "" : "FAILED ", line);
    if (n > 0)
        r->len += (size_t)n < sizeof(r->text) - r->len ? (size_t)n : sizeof(r->text) - r->len - 1;
}

static int report_finish(step_result *out, const verify_report *r, const char *what)
{
    if (r->failed > 0)
        return step_failed(out, "CheckFailed", "%d of %d %s failed: %s", r->failed,
                           r->passed + r->failed, what, r->text);
    return step_done(out, "%d %s passed: %s", r->passed, what, r->text);
}

/* ---- SQL -------------------------------------------------------------------- */

static char verify_sslmode[16] = "verify-full";
static char verify_sslrootcert[1024];

void verify_checks_configure(const char *sslmode, const char *sslrootcert)
{
    snprintf(verify_sslmode, sizeof(verify_sslmode), "%s", sslmode ? sslmode : "verify-full");
    snprintf(verify_sslrootcert, sizeof(verify_sslrootcert), "%s", sslrootcert ? sslrootcert : "");
}

typedef struct sql_target {
    char *conninfo;  /* owned; holds the password: wipe before free */
    char where[160]; /* "shop-orders-prod at 127.0.0.1:25433" - for messages */
} sql_target;

static void sql_target_dispose(sql_target *t)
{
    if (t->conninfo != NULL) {
        lb_free_secret(t->conninfo);
    }
    t->conninfo = NULL;
}

/* Builds a connection string from host/port and a credentialsSecretRef. */
static int sql_target_from_creds(sql_target *t, const step_ctx *ctx, const char *host, int port,
                                 const json_t *creds, const char *database)
{
    const char *name = json_string_value(json_object_get(creds, "name"));
    const char *ukey = json_string_value(json_object_get(creds, "usernameKey"));
    const char *pkey = json_string_value(json_object_get(creds, "passwordKey"));
    char *user = NULL, *password = NULL, portbuf[16];
    pg_conn_params p;
    int rc;

    if (name == NULL)
        return lb_error_setc(LB_EINVALID, "credentialsSecretRef.name: required for SQL checks");
    rc = step_secret_value(&user, ctx, name, ukey ? ukey : "username");
    if (rc == 0)
        rc = step_secret_value(&password, ctx, name, pkey ? pkey : "password");
    if (rc == 0) {
        snprintf(portbuf, sizeof(portbuf), "%d", port);
        memset(&p, 0, sizeof(p));
        p.host = host;
        p.port = portbuf;
        p.user = user;
        p.password = password;
        p.dbname = database;
        rc = pg_conninfo_build(&t->conninfo, &p);
    }
    if (user != NULL) {
        lb_free_secret(user);
    }
    if (password != NULL) {
        lb_free_secret(password);
    }
    return rc;
}

/* Runs one sql check object {query, database?, expect} on target; adds a line. */
static void run_sql_check(verify_report *r, const char *name, const json_t *sql,
                          const sql_target *t, const char *field)
{
    pg_check c;
    pg_check_options o = {.connect_timeout_sec = VERIFY_SQL_CONNECT_SEC,
                          .statement_timeout_ms = (int)report_budget_ms(r, VERIFY_SQL_STATEMENT_MS),
                          .application_name = "lifeboat-verify",
                          .sslmode = verify_sslmode,
                          .sslrootcert = verify_sslrootcert};
    pg_check_result res;
    char ef[256];

    if (o.statement_timeout_ms <= 0) {
        report_add(r, false, "%s: not run: the step's time budget of %ld s was spent", name,
                   VERIFY_STEP_BUDGET_MS / 1000);
        return;
    }

    memset(&c, 0, sizeof(c));
    c.name = name;
    c.query = json_string_value(json_object_get(sql, "query"));
    snprintf(ef, sizeof(ef), "%s.expect", field);
    if (c.query == NULL) {
        report_add(r, false, "%s: %s.query is required", name, field);
        return;
    }
    if (pg_expect_from_json(&c.expect, json_object_get(sql, "expect"), ef) != 0) {
        report_add(r, false, "%s: %s", name, lb_error_last());
        return;
    }
    memset(&res, 0, sizeof(res));
    pg_check_run(&res, t->conninfo, &c, &o);
    report_observe(r, res.observed ? res.observed : res.has_value ? "" : "no value", res.expected);
    report_add(r, res.passed, "%s", res.message ? res.message : name);
    pg_check_result_dispose(&res);
}

/* The sql checks' conninfo for a database name differing from the target's:
 * sql.database overrides the target's dbname by appending dbname=... (libpq
 * takes the last value of a repeated keyword). */
static char *with_database(const char *conninfo, const char *db)
{
    if (db == NULL)
        return NULL;
    return lb_sprintf("%s dbname='%s'", conninfo, db); /* db matches ^[A-Za-z_][A-Za-z0-9_$]*$ */
}

static void run_sql_check_db(verify_report *r, const char *name, const json_t *sql,
                             const sql_target *t, const char *field)
{
    const char *db = json_string_value(json_object_get(sql, "database"));
    char *ci = with_database(t->conninfo, db);
    sql_target t2 = *t;

    if (ci == NULL) {
        run_sql_check(r, name, sql, t, field);
        return;
    }
    t2.conninfo = ci;
    run_sql_check(r, name, sql, &t2, field);
    sql_target_dispose(&t2);
}

int verify_step_item(step_result *out, const step_ctx *ctx)
{
    const api_restore_item *it = ctx->item;
    const json_t *checks =
        json_object_get(json_object_get(it ? it->spec : NULL, "verify"), "checks");
    const char *host = NULL;
    int port = 0, rc;
    sql_target t;
    verify_report r;
    size_t i;
    const json_t *c;

    if (it == NULL)
        return step_failed(out, "InvalidSpec", "verify needs an item");
    if (json_array_size(checks) == 0)
        return step_done(out, "item %s has no verify.checks", it->name);
    memset(&t, 0, sizeof(t));
    report_start(&r);
    if (it->source == API_SOURCE_PG_DUMP) {
        /* a dump is loaded into the database of target.connectionSecretRef */
        const json_t *csr =
            json_object_get(json_object_get(it->source_spec, "target"), "connectionSecretRef");
        const char *name = json_string_value(json_object_get(csr, "name"));
        const char *key = json_string_value(json_object_get(csr, "key"));
        snprintf(t.where, sizeof(t.where), "Secret %s key %s", name ? name : "?", key ? key : "?");
        rc = step_secret_value(&t.conninfo, ctx, name ? name : "", key ? key : "");
    } else if (step_item_endpoint(&host, &port, ctx) != 0) {
        return step_failed(out, "NoEndpoint",
                           "item %s has no restored endpoint in status.outputs to verify",
                           it->name);
    } else {
        rc = sql_target_from_creds(&t, ctx, host, port,
                                   json_object_get(it->spec, "credentialsSecretRef"),
                                   json_string_value(json_object_get(it->spec, "database")));
    }
    if (rc == LB_ENOTFOUND || rc == LB_EINVALID) {
        sql_target_dispose(&t);
        return step_failed(out, rc == LB_ENOTFOUND ? "SecretNotFound" : "InvalidSpec",
                           "item %s credentials: %s", it->name, lb_error_last());
    }
    if (rc != 0) {
        sql_target_dispose(&t);
        return lb_error_wrap(rc, "item %s credentials", it->name);
    }
    json_array_foreach(checks, i, c)
    {
        char field[96];
        const char *name = json_string_value(json_object_get(c, "name"));
        snprintf(field, sizeof(field), "spec.items[%zu].verify.checks[%zu].sql", it->index, i);
        run_sql_check_db(&r, name ? name : "check", json_object_get(c, "sql"), &t, field);
    }
    sql_target_dispose(&t);
    return report_finish(out, &r, "verify checks");
}

/* ---- HTTP ------------------------------------------------------------------ */

/* Looks host[:port] up in a services.json map text ({"svc.ns.svc": "127.0.0.1:P",
 * "svc.ns.svc:80": "127.0.0.1:P"}) and writes a CURLOPT_CONNECT_TO entry
 * "host:port:addr:port" into out. port is the URL's port (0 when the URL has
 * none; default_port is then used in the entry and the port-less key is
 * looked up). Returns 0, or LB_ENOTFOUND when the map has no such service. */
int verify_service_connect_to(char *out, size_t size, const char *map_json, const char *host,
                              int port, int default_port)
{
    json_error_t jerr;
    json_t *map = json_loads(map_json, 0, &jerr);
    const char *target = NULL;
    char key[512];
    int rc = 0;

    if (map == NULL || !json_is_object(map)) {
        json_decref(map);
        return lb_error_setc(LB_EINVALID, "service map: not a JSON object");
    }
    if (port > 0) {
        snprintf(key, sizeof(key), "%s:%d", host, port);
        target = json_string_value(json_object_get(map, key));
    }
    if (target == NULL && (port == 0 || port == default_port))
        target = json_string_value(json_object_get(map, host));
    if (target == NULL || strchr(target, ':') == NULL) {
        rc = lb_error_setc(LB_ENOTFOUND, "service %s%s not in the service map", host,
                           port > 0 ? ":port" : "");
    } else {
        snprintf(out, size, "%s:%d:%s", host, port > 0 ? port : default_port, target);
    }
    json_decref(map);
    return rc;
}

/* Reads LIFEBOAT_SERVICE_MAP's file (capped). NULL when unset/unreadable. */
static char *read_service_map(void)
{
    const char *path = getenv("LIFEBOAT_SERVICE_MAP");
    FILE *f;
    char *buf;
    size_t n;

    if (path == NULL || path[0] == '\0' || (f = fopen(path, "rb")) == NULL)
        return NULL;
    buf = lb_malloc(VERIFY_SERVICE_MAP_MAX + 1);
    n = fread(buf, 1, VERIFY_SERVICE_MAP_MAX, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

typedef struct http_body {
    char *data;
    size_t len;
    bool truncated;
} http_body;

/* Stops the transfer at the cap: what was kept decides expectBodyContains,
 * and the status line arrived before any body byte. */
static size_t http_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    http_body *b = arg;
    size_t n = size * nmemb, room = VERIFY_HTTP_MAX_BODY - b->len;

    if (n > room) {
        b->truncated = true;
        n = room;
    }
    if (n > 0) {
        memcpy(b->data + b->len, ptr, n);
        b->len += n;
        b->data[b->len] = '\0';
    }
    return b->truncated ? 0 : size * nmemb; /* 0: CURLE_WRITE_ERROR, the body is cut */
}

/* What the socket guard refused, for the check's message. */
typedef struct http_guard {
    int refused;
    char why[256];
} http_guard;

/* CURLOPT_OPENSOCKETFUNCTION: the address curl is about to connect to is
 * checked here (netguard_check_addr), so what is checked is what is used. */
static curl_socket_t http_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
    http_guard *g = arg;
    (void)purpose;
    if (netguard_check_addr(&addr->addr, addr->addrlen) != 0) {
        g->refused++;
        snprintf(g->why, sizeof(g->why), "%s", lb_error_last());
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

/* Checks http.method and http.contentType; pure, for tests. Returns 0 or
 * LB_EINVALID naming the field and the rule. */
int verify_http_validate(const char *method, const char *content_type)
{
    if (method != NULL && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
        strcmp(method, "POST") != 0)
        return lb_error_setc(LB_EINVALID, "http.method: must be GET, HEAD or POST");
    if (content_type != NULL) {
        size_t n = strlen(content_type);
        if (n == 0 || n > VERIFY_MAX_CONTENT_TYPE)
            return lb_error_setc(LB_EINVALID, "http.contentType: must be 1-%d bytes",
                                 VERIFY_MAX_CONTENT_TYPE);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)content_type[i];
            if (c < 0x20 || c >= 0x7f)
                return lb_error_setc(LB_EINVALID,
                                     "http.contentType: only printable ASCII is allowed (no CR, "
                                     "LF or other control characters)");
        }
    }
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Decides an HTTP check from what came back; pure, for tests. Writes the
 * check's line into msg and returns true when it passed. */
bool verify_http_eval(char *msg, size_t size, const char *name, long status, long expect_status,
                      const char *body, const char *contains)
{
    if (status != expect_status) {
        snprintf(msg, size, "%s: HTTP status %ld, expected %ld", name, status, expect_status);
        return false;
    }
    if (contains != NULL && contains[0] != '\0' &&
        (body == NULL || strstr(body, contains) == NULL)) {
        snprintf(msg, size, "%s: HTTP %ld, body does not contain \"%.80s\"", name, status,
                 contains);
        return false;
    }
    if (contains != NULL && contains[0] != '\0')
        snprintf(msg, size, "%s: HTTP %ld, body contains \"%.80s\"", name, status, contains);
    else
        snprintf(msg, size, "%s: HTTP %ld", name, status);
    return true;
}

static void observe_http(verify_report *r, long status, long expect, const char *contains)
{
    char o[64], e[VERIFY_MAX_OBSERVED];
    snprintf(o, sizeof(o), "HTTP %ld", status);
    if (contains != NULL && contains[0] != '\0')
        snprintf(e, sizeof(e), "HTTP %ld, body contains \"%.160s\"", expect, contains);
    else
        snprintf(e, sizeof(e), "HTTP %ld", expect);
    report_observe(r, o, e);
}

/* The value at a dotted path ("status", "checks.db", "items.0.name") of a
 * JSON document; borrowed, NULL when absent. */
static const json_t *json_at(const json_t *doc, const char *path)
{
    char seg[256];
    const char *p = path;

    while (doc != NULL && *p != '\0') {
        size_t n = strcspn(p, ".");
        if (n >= sizeof(seg))
            return NULL;
        memcpy(seg, p, n);
        seg[n] = '\0';
        if (json_is_array(doc)) {
            char *end;
            long i = strtol(seg, &end, 10);
            doc = (*end == '\0' && i >= 0) ? json_array_get(doc, (size_t)i) : NULL;
        } else {
            doc = json_object_get(doc, seg);
        }
        p += n;
        if (*p == '.')
            p++;
    }
    return doc;
}

/* Scalar JSON value as text (strings unquoted); "" for others. */
static void json_text(char *out, size_t size, const json_t *v)
{
    if (json_is_string(v))
        snprintf(out, size, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, size, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, size, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_null(v))
        snprintf(out, size, "null");
    else
        snprintf(out, size, "%s", json_is_object(v) ? "{...}" : "[...]");
}

/* http.expectJSON {field, equals}: the response body parsed as JSON (it was
 * read up to the body cap), the value at `field` compared as text with
 * `equals` (a number or a string). Writes the check's line; true when equal. */
static bool verify_http_json_eval(verify_report *r, char *msg, size_t size, const char *name,
                                  const char *body, const json_t *ej)
{
    const char *field = json_string_value(json_object_get(ej, "field"));
    const json_t *want_j = json_object_get(ej, "equals");
    char want[VERIFY_MAX_OBSERVED], got[VERIFY_MAX_OBSERVED], exp[VERIFY_MAX_OBSERVED + 64];
    json_error_t jerr;
    json_t *doc = body != NULL ? json_loads(body, JSON_DECODE_ANY, &jerr) : NULL;
    const json_t *v;
    bool ok = false;

    json_text(want, sizeof(want), want_j);
    snprintf(exp, sizeof(exp), "%s = %s", field ? field : "?", want);
    if (doc == NULL) {
        snprintf(msg, size, "%s: response body is not JSON, expected %s", name, exp);
        report_observe(r, "body not JSON", exp);
        return false;
    }
    v = json_at(doc, field ? field : "");
    if (v == NULL) {
        snprintf(msg, size, "%s: JSON field %s not in the response", name, field ? field : "?");
        report_observe(r, "field absent", exp);
    } else {
        json_text(got, sizeof(got), v);
        ok = strcmp(got, want) == 0;
        if (snprintf(msg, size, "%s: JSON %s = %s%s%s", name, field, got, ok ? "" : ", expected ",
                     ok ? "" : want) >= (int)size)
            msg[size - 1] = '\0'; /* cut: the line is for people */
        report_observe(r, got, exp);
    }
    json_decref(doc);
    return ok;
}

static void run_http_check(verify_report *r, const step_ctx *ctx, const char *name,
                           const json_t *http)
{
    const char *url = json_string_value(json_object_get(http, "url"));
    const char *method = json_string_value(json_object_get(http, "method"));
    const char *ctype = json_string_value(json_object_get(http, "contentType"));
    const char *contains = json_string_value(json_object_get(http, "expectBodyContains"));
    const json_t *bref = json_object_get(http, "bodySecretRef");
    json_int_t expect = json_is_integer(json_object_get(http, "expectStatus"))
                            ? json_integer_value(json_object_get(http, "expectStatus"))
                            : 200;
    char *secret_body = NULL, *map = NULL, *host = NULL, *portstr = NULL, *scheme = NULL;
    char connect_to[600], errbuf[CURL_ERROR_SIZE], line[VERIFY_MAX_CHECK_MESSAGE], ct[300];
    const char *body = json_string_value(json_object_get(http, "body"));
    struct curl_slist *resolve = NULL, *headers = NULL;
    http_body b = {0};
    CURLU *u = NULL;
    CURL *h = NULL;
    CURLcode cc;
    long status = 0, budget = report_budget_ms(r, VERIFY_HTTP_TIMEOUT_MS);
    http_guard guard = {0};

    if (url == NULL) {
        report_add(r, false, "%s: http.url is required", name);
        return;
    }
    if (budget <= 0) {
        report_add(r, false, "%s: not run: the step's time budget of %ld s was spent", name,
                   VERIFY_STEP_BUDGET_MS / 1000);
        return;
    }
    if (verify_http_validate(method, ctype) != 0) {
        report_add(r, false, "%s: %s", name, lb_error_last());
        return;
    }
    u = curl_url();
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        report_add(r, false, "%s: http.url %s is not a valid URL", name, url);
        goto done;
    }
    curl_url_get(u, CURLUPART_PORT, &portstr, 0);
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (scheme == NULL || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        report_add(r, false, "%s: http.url: the scheme must be http or https", name);
        goto done;
    }
    /* before any Secret is read or anything resolved or connected */
    if (netguard_check_host(host,
                            portstr                        ? atoi(portstr)
                            : strcmp(scheme, "https") == 0 ? 443
                                                           : 80,
                            ctx->http_hosts, ctx->n_http_hosts) != 0) {
        report_add(r, false, "%s: http.url: %s; no connection was made", name, lb_error_last());
        goto done;
    }
    if (bref != NULL) {
        const char *sname = json_string_value(json_object_get(bref, "name"));
        const char *skey = json_string_value(json_object_get(bref, "key"));
        if (sname == NULL || skey == NULL ||
            step_secret_value(&secret_body, ctx, sname, skey) != 0) {
            report_add(r, false, "%s: bodySecretRef: %s", name,
                       sname && skey ? lb_error_last() : "name and key are required");
            goto done;
        }
        body = secret_body;
    }
    if (ends_with(host, ".svc") && (map = read_service_map()) != NULL) {
        int port = portstr ? atoi(portstr) : 0;
        int def = scheme && strcmp(scheme, "https") == 0 ? 443 : 80;
        if (verify_service_connect_to(connect_to, sizeof(connect_to), map, host, port, def) != 0) {
            report_add(r, false, "%s: %s (LIFEBOAT_SERVICE_MAP)", name, lb_error_last());
            goto done;
        }
        resolve = curl_slist_append(NULL, connect_to);
    }
    b.data = lb_malloc(VERIFY_HTTP_MAX_BODY + 1);
    b.data[0] = '\0';
    h = curl_easy_init();
    if (h == NULL) {
        report_add(r, false, "%s: could not create a curl handle", name);
        goto done;
    }
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, budget);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, budget / 2 > 0 ? budget / 2 : 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is the answer, not followed */
    curl_easy_setopt(h, CURLOPT_PROXY, "");          /* no proxy from the environment */
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, http_open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &guard);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(VERIFY_HTTP_MAX_BODY * 4));
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "lifeboat-verify");
    if (resolve != NULL)
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, resolve);
    if (method != NULL && strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (method != NULL && strcmp(method, "POST") == 0) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "application/json");
        headers = curl_slist_append(NULL, ct);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
    }
    cc = curl_easy_perform(h);
    if (guard.refused > 0 && cc != CURLE_OK) {
        report_add(r, false, "%s: http.url: %s; no connection was made", name, guard.why);
        goto done;
    }
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && b.truncated)) {
        report_add(r, false, "%s: %s %s: %s", name, method ? method : "GET", url,
                   errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto done;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    observe_http(r, status, (long)expect, contains);
    {
        bool ok =
            verify_http_eval(line, sizeof(line), name, status, (long)expect, b.data, contains);
        if (ok && json_object_get(http, "expectJSON") != NULL)
            ok = verify_http_json_eval(r, line, sizeof(line), name, b.data,
                                       json_object_get(http, "expectJSON"));
        report_add(r, ok, "%s%s", line, b.truncated && !ok ? " (body cut at the cap)" : "");
    }
done:
    if (secret_body != NULL) {
        lb_free_secret(secret_body);
    }
    curl_slist_free_all(resolve);
    curl_slist_free_all(headers);
    if (h != NULL)
        curl_easy_cleanup(h);
    curl_free(host);
    curl_free(portstr);
    curl_free(scheme);
    curl_url_cleanup(u);
    free(map);
    free(b.data);
}

/* ---- workloads ----------------------------------------------------------------- */

/* Decides whether a workload object is ready; pure, for tests. Writes why
 * into msg. */
bool verify_workload_ready(char *msg, size_t size, const char *kind, const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *st = json_object_get(obj, "status");
    const char *name = json_string_value(json_object_get(md, "name"));
    json_int_t gen = json_integer_value(json_object_get(md, "generation"));
    json_int_t observed = json_integer_value(json_object_get(st, "observedGeneration"));
    json_int_t want, ready, updated;

    if (name == NULL)
        name = "?";
    if (strcmp(kind, "DaemonSet") == 0) {
        want = json_integer_value(json_object_get(st, "desiredNumberScheduled"));
        ready = json_integer_value(json_object_get(st, "numberReady"));
        updated = json_integer_value(json_object_get(st, "updatedNumberScheduled"));
    } else {
        const json_t *rep = json_object_get(spec, "replicas");
        want = json_is_integer(rep) ? json_integer_value(rep) : 1;
        ready = json_integer_value(json_object_get(st, "readyReplicas"));
        updated = json_integer_value(json_object_get(st, "updatedReplicas"));
    }
    if (observed < gen) {
        snprintf(msg, size, "%s/%s: generation %lld not yet observed (observed %lld)", kind, name,
                 (long long)gen, (long long)observed);
        return false;
    }
    if (updated < want || ready < want) {
        snprintf(msg, size, "%s/%s: %lld of %lld ready, %lld updated", kind, name, (long long)ready,
                 (long long)want, (long long)updated);
        return false;
    }
    snprintf(msg, size, "%s/%s: %lld of %lld ready", kind, name, (long long)ready, (long long)want);
    return true;
}

static void run_workload_check(verify_report *r, const step_ctx *ctx, const char *name,
                               const json_t *w)
{
    const char *kind = json_string_value(json_object_get(w, "kind"));
    const char *wname = json_string_value(json_object_get(w, "name"));
    const json_t *md = json_object_get(ctx->rr, "metadata");
    kube_ref ref = {.group = "apps", .version = "v1"};
    char line[VERIFY_MAX_CHECK_MESSAGE];
    json_t *obj = NULL;
    int rc;

    if (kind == NULL || wname == NULL) {
        report_add(r, false, "%s: workload.kind and workload.name are required", name);
        return;
    }
    if (strcmp(kind, "Deployment") == 0)
        ref.resource = "deployments";
    else if (strcmp(kind, "StatefulSet") == 0)
        ref.resource = "statefulsets";
    else if (strcmp(kind, "DaemonSet") == 0)
        ref.resource = "daemonsets";
    else {
        report_add(r, false, "%s: workload.kind %s is not Deployment|StatefulSet|DaemonSet", name,
                   kind);
        return;
    }
    ref.namespace = json_string_value(json_object_get(md, "namespace"));
    ref.name = wname;
    rc = kube_get(&obj, ctx->kube, &ref);
    if (rc != 0) {
        report_add(r, false, "%s: %s/%s: %s", name, kind, wname,
                   rc == LB_ENOTFOUND ? "not found" : lb_error_last());
        return;
    }
    {
        bool ok = verify_workload_ready(line, sizeof(line), kind, obj);
        report_observe(r, line, "rolled out: generation observed, every replica updated and ready");
        report_add(r, ok, "%s: %s", name, line);
    }
    json_decref(obj);
}

/* ---- the verification step ------------------------------------------------------ */

/* Resolves the sql target of spec.verification. Returns 0 (t filled), or a
 * negative code with the message set; *why names the problem for the report. */
static int verification_target(sql_target *t, const step_ctx *ctx, const json_t *ver)
{
    const json_t *target = json_object_get(ver, "target");
    const json_t *rdsi = json_object_get(target, "rdsInstance");
    const json_t *csr = json_object_get(target, "connectionSecretRef");

    memset(t, 0, sizeof(*t));
    if (csr != NULL) {
        const char *name = json_string_value(json_object_get(csr, "name"));
        const char *key = json_string_value(json_object_get(csr, "key"));
        snprintf(t->where, sizeof(t->where), "Secret %s key %s", name ? name : "?",
                 key ? key : "?");
        return step_secret_value(&t->conninfo, ctx, name ? name : "", key ? key : "");
    }
    if (rdsi != NULL) {
        const char *id = json_string_value(json_object_get(rdsi, "dbInstanceIdentifier"));
        rds_instance inst;
        int rc;
        if (ctx->aws == NULL)
            return lb_error_setc(LB_EINVALID, "verification.target.rdsInstance needs AWS access");
        rc = rds_describe_db_instance(&inst, ctx->aws, id ? id : "");
        if (rc != 0)
            return rc;
        snprintf(t->where, sizeof(t->where), "DB instance %s", id);
        if (inst.endpoint_address == NULL || inst.port == 0)
            rc = lb_error_setc(LB_ENOTFOUND, "DB instance %s has no endpoint", id);
        else
            rc = sql_target_from_creds(t, ctx, inst.endpoint_address, inst.port,
                                       json_object_get(rdsi, "credentialsSecretRef"),
                                       json_string_value(json_object_get(rdsi, "database")));
        rds_instance_dispose(&inst);
        return rc;
    }
    /* the first RDS item, in execution order, with an endpoint */
    for (size_t k = 0; k < ctx->spec->n_items; k++) {
        const api_restore_item *it = &ctx->spec->items[ctx->spec->order[k]];
        step_ctx ic = *ctx;
        const char *host;
        int port;
        if (it->source != API_SOURCE_RDS_POINT_IN_TIME && it->source != API_SOURCE_RDS_SNAPSHOT &&
            it->source != API_SOURCE_RDS_IN_PLACE &&
            it->source != API_SOURCE_RDS_CLUSTER_POINT_IN_TIME)
            continue;
        ic.item = it;
        if (step_item_endpoint(&host, &port, &ic) != 0)
            continue;
        snprintf(t->where, sizeof(t->where), "item %s at %s:%d", it->name, host, port);
        return sql_target_from_creds(t, &ic, host, port,
                                     json_object_get(it->spec, "credentialsSecretRef"),
                                     json_string_value(json_object_get(it->spec, "database")));
    }
    lb_error_clear();
    return lb_error_setc(LB_ENOTFOUND, "no verification.target and no RDS item with an endpoint");
}

/* Runs spec rpo {query, maxAge} on t: the age of the newest row at time `at`
 * (the request's now, or a drill's restore point). *age_out (may be NULL) is
 * set and *measured (may be NULL) is 1 when the age was read. */
static void run_rpo(verify_report *r, const json_t *rpo, const sql_target *t, lb_time at,
                    int64_t *age_out, int *measured)
{
    const char *query = json_string_value(json_object_get(rpo, "query"));
    const char *max_age = json_string_value(json_object_get(rpo, "maxAge"));
    pg_check_options o = {.connect_timeout_sec = VERIFY_SQL_CONNECT_SEC,
                          .statement_timeout_ms = (int)report_budget_ms(r, VERIFY_SQL_STATEMENT_MS),
                          .application_name = "lifeboat-verify",
                          .sslmode = verify_sslmode,
                          .sslrootcert = verify_sslrootcert};
    int64_t age = 0, max_ns = 0;
    char obs[64], exp[VERIFY_MAX_OBSERVED];
    int rc;

    if (o.statement_timeout_ms <= 0) {
        report_add(r, false, "rpo: not run: the step's time budget of %ld s was spent",
                   VERIFY_STEP_BUDGET_MS / 1000);
        return;
    }
    if (query == NULL || max_age == NULL || lb_duration_parse(&max_ns, max_age) != 0) {
        report_add(r, false, "rpo: rpo needs query and a maxAge duration");
        return;
    }
    rc = pg_rpo_seconds(&age, NULL, t->conninfo, query, at, &o);
    if (rc != 0) {
        report_add(r, false, "rpo: %s", lb_error_last());
        return;
    }
    if (age_out != NULL)
        *age_out = age;
    if (measured != NULL)
        *measured = 1;
    snprintf(obs, sizeof(obs), "%llds", (long long)age);
    snprintf(exp, sizeof(exp), "<= %s", max_age);
    report_observe(r, obs, exp);
    report_add(r, age * 1000000000LL <= max_ns, "rpo: newest row %llds old, maxAge %s",
               (long long)age, max_age);
}

/* ---- one check: shared by the verification step and VerificationRun ---------- */

/* The sql target of a checklist, resolved at most once per call. */
typedef struct check_target {
    sql_target t;
    int have, rc;
    char err[LB_ERROR_MAX];
} check_target;

static void check_target_ensure(check_target *ct, const step_ctx *ctx, const json_t *ver)
{
    if (ct->have || ct->rc != 0)
        return;
    ct->rc = verification_target(&ct->t, ctx, ver);
    if (ct->rc == 0)
        ct->have = 1;
    else
        snprintf(ct->err, sizeof(ct->err), "%s", lb_error_last());
}

static void run_s3compare_check(verify_report *r, const step_ctx *ctx, const char *name,
                                const json_t *spec)
{
    s3compare_result res;

    if (s3compare_run(&res, ctx->aws, spec) != 0) {
        report_add(r, false, "%s: %s", name, lb_error_last());
        return;
    }
    report_observe(r, res.observed, res.expected);
    report_add(r, res.passed, "%s: %s", name, res.message);
}

/* Runs check c (index i of ver.checks) and adds its line to r. */
static void run_check(verify_report *r, const step_ctx *ctx, const json_t *ver, const json_t *c,
                      size_t i, check_target *ct)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    char field[64];

    if (name == NULL)
        name = "check";
    snprintf(field, sizeof(field), "checks[%zu].sql", i);
    if (json_object_get(c, "sql") != NULL) {
        check_target_ensure(ct, ctx, ver);
        if (ct->have)
            run_sql_check_db(r, name, json_object_get(c, "sql"), &ct->t, field);
        else
            report_add(r, false, "%s: no SQL target: %s", name, ct->err);
    } else if (json_object_get(c, "http") != NULL) {
        run_http_check(r, ctx, name, json_object_get(c, "http"));
    } else if (json_object_get(c, "workload") != NULL) {
        run_workload_check(r, ctx, name, json_object_get(c, "workload"));
    } else if (json_object_get(c, "s3Compare") != NULL) {
        run_s3compare_check(r, ctx, name, json_object_get(c, "s3Compare"));
    } else if (json_object_get(c, "redis") != NULL) {
        char msg[VERIFY_MAX_CHECK_MESSAGE];
        int passed = 0;
        const char *ns =
            json_string_value(json_object_get(json_object_get(ctx->rr, "metadata"), "namespace"));
        if (ctx->kube == NULL)
            report_add(r, false, "%s: no Kubernetes client to exec into the pod", name);
        else if (redis_check_run(&passed, msg, sizeof(msg), ctx->kube, ns,
                                 json_object_get(c, "redis")) != 0)
            report_add(r, false, "%s: %s", name, lb_error_last());
        else {
            report_observe(r, msg, NULL);
            report_add(r, passed, "%s: %s", name, msg);
        }
    } else {
        report_add(r, false, "%s: no check kind (sql, http, redis, s3Compare, workload)", name);
    }
}

/* The status.results[] entry of a report holding one check's line. */
static json_t *result_of(const verify_report *r, const char *name, int64_t ms)
{
    const char *text = r->text;
    json_t *o;

    if (strncmp(text, "FAILED ", 7) == 0)
        text += 7;
    o = json_pack("{s:s, s:b, s:s, s:I}", "name", name, "passed", r->failed == 0 && r->passed > 0,
                  "message", text, "durationMs", (json_int_t)(ms > 0 ? ms : 0));
    if (r->observed[0] != '\0')
        json_object_set_new(o, "observed", json_string(r->observed));
    if (r->expected[0] != '\0')
        json_object_set_new(o, "expected", json_string(r->expected));
    return o;
}

int verify_check_result(json_t **out, const step_ctx *ctx, const json_t *ver, size_t index)
{
    const json_t *c = json_array_get(json_object_get(ver, "checks"), index);
    const char *name = json_string_value(json_object_get(c, "name"));
    int64_t t0 = lb_time_monotonic_ns();
    check_target ct;
    verify_report r;

    *out = NULL;
    if (c == NULL)
        return lb_error_setc(LB_EINVALID, "checks[%zu]: no such check", index);
    memset(&ct, 0, sizeof(ct));
    report_start(&r);
    run_check(&r, ctx, ver, c, index, &ct);
    sql_target_dispose(&ct.t);
    *out = result_of(&r, name ? name : "check", (lb_time_monotonic_ns() - t0) / 1000000);
    return 0;
}

int verify_rpo_result(json_t **out, int64_t *out_age, int *out_measured, const step_ctx *ctx,
                      const json_t *ver, lb_time at)
{
    const json_t *rpo = json_object_get(ver, "rpo");
    int64_t t0 = lb_time_monotonic_ns();
    check_target ct;
    verify_report r;

    *out = NULL;
    *out_measured = 0;
    *out_age = 0;
    if (rpo == NULL)
        return lb_error_setc(LB_EINVALID, "no rpo");
    memset(&ct, 0, sizeof(ct));
    report_start(&r);
    check_target_ensure(&ct, ctx, ver);
    if (ct.have)
        run_rpo(&r, rpo, &ct.t, at, out_age, out_measured);
    else
        report_add(&r, false, "rpo: no SQL target: %s", ct.err);
    sql_target_dispose(&ct.t);
    *out = result_of(&r, "rpo", (lb_time_monotonic_ns() - t0) / 1000000);
    return 0;
}
