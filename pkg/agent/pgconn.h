/* pgconn.h - what the agent does with libpq and the PostgreSQL tools'
 * environment.
 *
 * The database URL (with its password) comes from the environment
 * (a secretKeyRef) or a mounted file, never from argv, and reaches
 * pg_dump/pg_restore/psql as PG* environment variables (PGPASSWORD among
 * them), never as their arguments.
 */
#ifndef LB_AGENT_PGCONN_H
#define LB_AGENT_PGCONN_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#define PGCONN_MAX_URL_BYTES 8192

/* Reads the URL: from `path` when not NULL (a mounted Secret key), else
 * from the environment variable `env`. LB_EINVALID naming the source when
 * absent, empty, too long or unparseable (the message never holds it). */
int pgconn_url_load(char **out, const char *path, const char *env);

/* A NULL-terminated environment for a child process: the current one
 * without any PG* variable nor those in `drop` (NULL-terminated; the
 * agent's secrets), plus PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE,
 * PGSSLMODE... from the URL; PGDATABASE replaced by `dbname` when set.
 * Free with pgconn_env_free. */
int pgconn_child_env(char ***out, const char *url, const char *dbname, const char *const *drop);

void pgconn_env_free(char **env);

/* Connects to the URL, or to another database on the same server when
 * dbname is not NULL. LB_ERROR with libpq's message (no password). */
int pgconn_connect(PGconn **out, const char *url, const char *dbname);

/* The database name of the URL (caller frees). */
int pgconn_dbname(char **out, const char *url);

/* Counts the rows of every ordinary table (count(*) FROM ONLY, so
 * partitions count once) of the connected database into *out,
 * {"schema.table": n}, and the total into *out_total (may be NULL).
 * `only` (may be NULL) limits it to these unqualified or qualified names.
 * Runs in the caller's transaction, if any. */
int pgconn_count_rows(json_t **out, int64_t *out_total, PGconn *conn, const json_t *only);

/* pgconn_count_rows in two halves, so the server counts while the caller works
 * (pg-backup runs pg_dump meanwhile, on the same exported snapshot). _send
 * lists the tables and sends every count in one query without waiting; until
 * _finish, conn must not be used. _finish waits for every answer, fills *out
 * and *out_total as pgconn_count_rows, and frees c (also on error). */
typedef struct pgconn_counting pgconn_counting;
int pgconn_count_rows_send(pgconn_counting **out, PGconn *conn, const json_t *only);
int pgconn_count_rows_finish(json_t **out, int64_t *out_total, pgconn_counting *c);

/* Stops a count sent with _send (cancels it on the server, drains the
 * connection) and frees c. c may be NULL. */
void pgconn_count_rows_cancel(pgconn_counting *c);

/* DROP DATABASE IF EXISTS <db> WITH (FORCE); CREATE DATABASE <db>;
 * connected to the server's `postgres` database. */
int pgconn_recreate_database(const char *url, const char *dbname);

/* CREATE DATABASE <db> (connected to `postgres`): for a restore into a copy.
 * An existing database is never reused: LB_ECONFLICT naming it. */
int pgconn_create_database(const char *url, const char *dbname);

#endif
