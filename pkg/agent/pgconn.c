/* pgconn.c - libpq connections, row counts and child environments. */
#include "agent/pgconn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

extern char **environ;

int pgconn_url_load(char **out, const char *path, const char *env)
{
    char *url = NULL;
    if (path != NULL) {
        lb_buf b;
        char chunk[4096];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return lb_error_setc(LB_EINVALID, "database URL file %s: %s", path, strerror(errno));
        buf_init(&b, PGCONN_MAX_URL_BYTES);
        for (;;) {
            ssize_t n = read(fd, chunk, sizeof(chunk));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || buf_append(&b, chunk, (size_t)n) != 0) {
                close(fd);
                buf_dispose(&b);
                if (n == 0)
                    break;
                return lb_error_setc(LB_EINVALID,
                                     "database URL file %s: unreadable or larger "
                                     "than %d bytes",
                                     path, PGCONN_MAX_URL_BYTES);
            }
        }
        url = buf_detach(&b, NULL);
    } else {
        const char *v = getenv(env);
        if (v == NULL || v[0] == '\0')
            return lb_error_setc(LB_EINVALID,
                                 "the database URL is missing: set %s (a secretKeyRef) or "
                                 "--db-url-file",
                                 env);
        if (strlen(v) > PGCONN_MAX_URL_BYTES)
            return lb_error_setc(LB_EINVALID, "%s: longer than %d bytes", env,
                                 PGCONN_MAX_URL_BYTES);
        url = lb_strdup(v);
    }
    size_t n = strlen(url);
    while (n > 0 && (url[n - 1] == '\n' || url[n - 1] == '\r' || url[n - 1] == ' '))
        url[--n] = '\0';
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (opts == NULL) {
        PQfreemem(perr);
        free(url);
        return lb_error_setc(LB_EINVALID, "the database URL (%s) is not a valid libpq URI",
                             path != NULL ? path : env);
    }
    PQconninfoFree(opts);
    *out = url;
    return 0;
}

static int is_dropped(const char *entry, const char *const *drop)
{
    if (strncmp(entry, "PG", 2) == 0)
        return 1;
    for (size_t i = 0; drop != NULL && drop[i] != NULL; i++) {
        size_t n = strlen(drop[i]);
        if (strncmp(entry, drop[i], n) == 0 && entry[n] == '=')
            return 1;
    }
    return 0;
}

int pgconn_child_env(char ***out, const char *url, const char *dbname, const char *const *drop)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    size_t n = 0, k = 0;
    if (opts == NULL) {
        PQfreemem(perr);
        return lb_error_setc(LB_EINVALID, "the database URL is not a valid libpq URI");
    }
    for (char **e = environ; *e != NULL; e++)
        n++;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        n++;
    char **env = lb_calloc(n + 2, sizeof(char *));
    for (char **e = environ; *e != NULL; e++) {
        if (!is_dropped(*e, drop))
            env[k++] = lb_strdup(*e);
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->envvar == NULL || o->val == NULL || o->val[0] == '\0')
            continue;
        if (strcmp(o->keyword, "dbname") == 0 && dbname != NULL)
            continue;
        env[k++] = lb_sprintf("%s=%s", o->envvar, o->val);
    }
    if (dbname != NULL)
        env[k++] = lb_sprintf("PGDATABASE=%s", dbname);
    env[k] = NULL;
    PQconninfoFree(opts);
    *out = env;
    return 0;
}

void pgconn_env_free(char **env)
{
    if (env == NULL)
        return;
    for (char **e = env; *e != NULL; e++) {
        if (strncmp(*e, "PGPASSWORD=", 11) == 0)
            memset(*e, 0, strlen(*e));
        free(*e);
    }
    free(env);
}

int pgconn_connect(PGconn **out, const char *url, const char *dbname)
{
    const char *keys[] = {"dbname", "dbname", "connect_timeout", NULL};
    const char *vals[] = {url, dbname, "15", NULL};
    if (dbname == NULL) {
        keys[1] = "connect_timeout";
        vals[1] = "15";
        keys[2] = NULL;
        vals[2] = NULL;
    }
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        int rc = lb_error_set("connecting to database %s on %s: %s",
                              c != NULL && PQdb(c) ? PQdb(c) : "?",
                              c != NULL && PQhost(c) ? PQhost(c) : "?",
                              c != NULL ? PQerrorMessage(c) : "out of memory");
        PQfinish(c);
        return rc;
    }
    *out = c;
    return 0;
}

int pgconn_dbname(char **out, const char *url)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (opts == NULL) {
        PQfreemem(perr);
        return lb_error_setc(LB_EINVALID, "the database URL is not a valid libpq URI");
    }
    *out = NULL;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "dbname") == 0 && o->val != NULL && o->val[0] != '\0')
            *out = lb_strdup(o->val);
    }
    PQconninfoFree(opts);
    if (*out == NULL)
        return lb_error_setc(LB_EINVALID, "the database URL names no database");
    return 0;
}

static int name_wanted(const json_t *only, const char *schema, const char *table)
{
    size_t i;
    json_t *v;
    if (only == NULL)
        return 1;
    json_array_foreach(only, i, v)
    {
        const char *want = json_string_value(v);
        const char *dot = strchr(want, '.');
        if (dot == NULL && strcmp(want, table) == 0)
            return 1;
        if (dot != NULL && strncmp(want, schema, (size_t)(dot - want)) == 0 &&
            schema[dot - want] == '\0' && strcmp(dot + 1, table) == 0)
            return 1;
    }
    return 0;
}

/* 16 MiB of "SELECT count(*) FROM ONLY s.t;": about 100,000 tables. */
#define PGCONN_MAX_COUNT_SQL_BYTES (16 * 1024 * 1024)

struct pgconn_counting {
    PGconn *conn;
    json_t *names; /* ["schema.table", ...] in the order of the statements sent */
};

int pgconn_count_rows_send(pgconn_counting **out, PGconn *conn, const json_t *only)
{
    int rc = LB_ERROR;
    lb_buf sql;
    json_t *names = json_array();
    buf_init(&sql, PGCONN_MAX_COUNT_SQL_BYTES);
    PGresult *tables =
        PQexec(conn, "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON "
                     "n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN "
                     "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
                     "AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1, 2");
    if (PQresultStatus(tables) != PGRES_TUPLES_OK) {
        lb_error_set("listing tables: %s", PQerrorMessage(conn));
        goto done;
    }
    for (int i = 0; i < PQntuples(tables); i++) {
        const char *schema = PQgetvalue(tables, i, 0);
        const char *table = PQgetvalue(tables, i, 1);
        if (!name_wanted(only, schema, table))
            continue;
        char *qs = PQescapeIdentifier(conn, schema, strlen(schema));
        char *qt = PQescapeIdentifier(conn, table, strlen(table));
        int full = buf_printf(&sql, "SELECT count(*) FROM ONLY %s.%s;", qs, qt);
        PQfreemem(qs);
        PQfreemem(qt);
        if (full != 0) {
            lb_error_set("counting rows: more tables than %d bytes of count statements",
                         PGCONN_MAX_COUNT_SQL_BYTES);
            goto done;
        }
        json_array_append_new(names, json_sprintf("%s.%s", schema, table));
    }
    /* One simple-query message: the server runs the statements one after the
     * other, each answering its own result, while the caller goes on. */
    if (json_array_size(names) > 0 && !PQsendQuery(conn, buf_cstr(&sql))) {
        lb_error_set("counting rows: %s", PQerrorMessage(conn));
        goto done;
    }
    *out = lb_calloc(1, sizeof(**out));
    (*out)->conn = conn;
    (*out)->names = names;
    names = NULL;
    rc = 0;
done:
    PQclear(tables);
    json_decref(names);
    buf_dispose(&sql);
    return rc;
}

int pgconn_count_rows_finish(json_t **out, int64_t *out_total, pgconn_counting *c)
{
    int rc = 0;
    int64_t total = 0;
    json_t *counts = json_object();
    size_t i = 0;
    PGresult *r;

    /* Every result is read, even after an error, so the connection is idle again. */
    while ((r = PQgetResult(c->conn)) != NULL) {
        const char *name = json_string_value(json_array_get(c->names, i++));
        if (rc == 0 && (PQresultStatus(r) != PGRES_TUPLES_OK || name == NULL)) {
            rc = lb_error_set("counting rows of %s: %s", name ? name : "?",
                              PQresultErrorMessage(r));
        } else if (rc == 0) {
            long long n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
            json_object_set_new(counts, name, json_integer(n));
            total += n;
        }
        PQclear(r);
    }
    if (rc == 0 && i != json_array_size(c->names))
        rc = lb_error_set("counting rows: %zu of %zu tables answered", i,
                          json_array_size(c->names));
    json_decref(c->names);
    free(c);
    if (rc != 0) {
        json_decref(counts);
        return rc;
    }
    *out = counts;
    if (out_total != NULL)
        *out_total = total;
    return 0;
}

void pgconn_count_rows_cancel(pgconn_counting *c)
{
    if (c == NULL)
        return;
    PGcancel *cancel = PQgetCancel(c->conn);
    char why[256];
    if (cancel != NULL) {
        PQcancel(cancel, why, sizeof(why)); /* best effort: the drain below waits either way */
        PQfreeCancel(cancel);
    }
    PGresult *r;
    while ((r = PQgetResult(c->conn)) != NULL)
        PQclear(r);
    json_decref(c->names);
    free(c);
}

int pgconn_count_rows(json_t **out, int64_t *out_total, PGconn *conn, const json_t *only)
{
    pgconn_counting *c = NULL;
    int rc = pgconn_count_rows_send(&c, conn, only);
    if (rc != 0)
        return rc;
    return pgconn_count_rows_finish(out, out_total, c);
}

int pgconn_recreate_database(const char *url, const char *dbname)
{
    PGconn *c = NULL;
    int rc = pgconn_connect(&c, url, "postgres");
    if (rc != 0)
        return rc;
    char *q = PQescapeIdentifier(c, dbname, strlen(dbname));
    char *drop = lb_sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", q);
    char *create = lb_sprintf("CREATE DATABASE %s", q);
    PQfreemem(q);
    const char *stmts[] = {drop, create};
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        PGresult *r = PQexec(c, stmts[i]);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = lb_error_set("%s database %s: %s", i == 0 ? "dropping" : "creating", dbname,
                              PQerrorMessage(c));
        PQclear(r);
    }
    free(drop);
    free(create);
    PQfinish(c);
    return rc;
}

int pgconn_create_database(const char *url, const char *dbname)
{
    PGconn *c = NULL;
    int rc = pgconn_connect(&c, url, "postgres");
    if (rc != 0)
        return rc;
    char *q = PQescapeIdentifier(c, dbname, strlen(dbname));
    char *create = lb_sprintf("CREATE DATABASE %s", q);
    PQfreemem(q);
    PGresult *r = PQexec(c, create);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state != NULL && strcmp(state, "42P04") == 0) /* duplicate_database */
            rc = lb_error_setc(LB_ECONFLICT,
                               "database %s already exists: a restore into a new database "
                               "(createDatabase) never loads into an existing one",
                               dbname);
        else
            rc = lb_error_set("creating database %s: %s", dbname, PQerrorMessage(c));
    }
    PQclear(r);
    free(create);
    PQfinish(c);
    return rc;
}
