/* pgjob.c - pg-restore and pg-backup (see pgjob.h). */
#include "agent/pgjob.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/archive.h"
#include "agent/cipher.h"
#include "agent/digest.h"
#include "agent/gzip.h"
#include "agent/latest.h"
#include "agent/manifest.h"
#include "agent/pgconn.h"
#include "agent/pgzip.h"
#include "agent/sink.h"
#include "agent/upload.h"
#include "aws/s3.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SNIFF_BYTES        512 /* content recognised from its first bytes */
#define PROGRESS_EVERY_NS  (5LL * 1000 * 1000 * 1000)
#define READ_CHUNK         (256 * 1024)

/* ---- child processes -------------------------------------------------- */

/* Starts argv[0] (PATH search) with env. *in_fd (may be NULL) receives
 * the write end of a pipe to its stdin; *out_fd (may be NULL) the read
 * end of its stdout; otherwise its stdout goes to our stderr so that the
 * last line of our stdout stays the JSON result. */
/* The load goes into an empty database (recreated, or created as a copy). */
static bool fresh_db(const pgjob_restore_opts *o)
{
    return o->recreate_database || o->create_database;
}

/* Drops and recreates, or creates, the database before the load. */
static int prepare_db(const pgjob_restore_opts *o, const char *dbname)
{
    if (o->recreate_database) {
        LB_LOG_WARN("dropping and recreating the database", "database", dbname);
        return pgconn_recreate_database(o->db_url, dbname);
    }
    if (o->create_database) {
        LB_LOG_INFO("creating the new database (a copy)", "database", dbname);
        return pgconn_create_database(o->db_url, dbname);
    }
    return 0;
}

static int spawn(pid_t *out, int *in_fd, int *out_fd, char *const argv[], char *const env[])
{
    int in[2] = {-1, -1}, outp[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    int rc;
    if ((in_fd != NULL && pipe2(in, O_CLOEXEC) != 0) ||
        (out_fd != NULL && pipe2(outp, O_CLOEXEC) != 0))
        return lb_error_set("pipe: %s", strerror(errno));
    posix_spawn_file_actions_init(&fa);
    if (in_fd != NULL)
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    if (out_fd != NULL)
        posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    else
        posix_spawn_file_actions_adddup2(&fa, 2, 1);
    rc = posix_spawnp(out, argv[0], &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    if (in_fd != NULL)
        close(in[0]);
    if (out_fd != NULL)
        close(outp[1]);
    if (rc != 0) {
        if (in_fd != NULL)
            close(in[1]);
        if (out_fd != NULL)
            close(outp[0]);
        return lb_error_set("starting %s: %s", argv[0], strerror(rc));
    }
    if (in_fd != NULL)
        *in_fd = in[1];
    if (out_fd != NULL)
        *out_fd = outp[0];
    return 0;
}

/* Waits for pid; 0 when it exited 0, else the message names how it ended. */
static int wait_child(pid_t pid, const char *what)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return lb_error_set("waiting for %s: %s", what, strerror(errno));
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFEXITED(st))
        return lb_error_set("%s exited with status %d (its errors are above in the log)", what,
                            WEXITSTATUS(st));
    return lb_error_set("%s was killed by signal %d", what, WTERMSIG(st));
}

/* ---- progress --------------------------------------------------------- */

typedef struct progress {
    const agent_sink *next;
    const char *object;
    int64_t total; /* -1 unknown */
    int64_t bytes;
    int64_t last_ns;
    int last_decile;
} progress;

static void progress_log(progress *p)
{
    int pct = p->total > 0 ? (int)(p->bytes * 100 / p->total) : -1;
    LB_LOG_INFO("progress", "object", p->object, "bytes", LB_LOG_INT(p->bytes), "total",
                LB_LOG_INT(p->total), "percent", LB_LOG_INT(pct));
}

static int progress_write(void *self, const void *data, size_t len)
{
    progress *p = self;
    p->bytes += (int64_t)len;
    int64_t now = lb_time_monotonic_ns();
    int decile = p->total > 0 ? (int)(p->bytes * 10 / p->total) : 0;
    if (now - p->last_ns >= PROGRESS_EVERY_NS || decile != p->last_decile) {
        p->last_ns = now;
        p->last_decile = decile;
        progress_log(p);
    }
    return sink_write(p->next, data, len);
}

static int progress_close(void *self)
{
    progress *p = self;
    progress_log(p);
    return sink_close(p->next);
}

static agent_sink progress_make(progress *p, const char *object, int64_t total,
                                const agent_sink *next)
{
    memset(p, 0, sizeof(*p));
    p->next = next;
    p->object = object;
    p->total = total;
    p->last_ns = lb_time_monotonic_ns();
    return (agent_sink){.write = progress_write, .close = progress_close, .self = p};
}

/* ---- S3 helpers ------------------------------------------------------- */

typedef struct get_ctx {
    const agent_sink *sink;
    int rc;
    char error[LB_ERROR_MAX];
} get_ctx;

static int get_cb(const char *data, size_t len, void *payload)
{
    get_ctx *g = payload;
    int rc = sink_write(g->sink, data, len);
    if (rc != 0 && g->rc == 0) {
        g->rc = rc;
        snprintf(g->error, sizeof(g->error), "%s", lb_error_last());
    }
    return rc;
}

/* GETs bucket/key into sink (not closed). A failure of the sink wins over
 * the transfer's own error message. */
static int get_into(aws_client *c, const char *bucket, const char *key, const agent_sink *sink)
{
    get_ctx g = {.sink = sink};
    int rc = s3_get_object(NULL, c, bucket, key, NULL, NULL, get_cb, &g);
    if (g.rc != 0) {
        lb_error_set("%s", g.error);
        return g.rc;
    }
    if (rc == LB_ENOTFOUND)
        return lb_error_setc(LB_ENOTFOUND, "object s3://%s/%s does not exist", bucket, key);
    if (rc != 0)
        return lb_error_wrap(rc, "downloading s3://%s/%s", bucket, key);
    return 0;
}

static int buf_sink_write(void *self, const void *data, size_t len)
{
    return buf_append(self, data, len);
}

static int fetch_manifest(manifest *out, aws_client *c, const char *bucket, const char *key)
{
    lb_buf b;
    buf_init(&b, MANIFEST_MAX_BYTES);
    agent_sink s = {.write = buf_sink_write, .close = NULL, .self = &b};
    int rc = get_into(c, bucket, key, &s);
    if (rc == LB_ETOOBIG)
        rc = lb_error_setc(LB_EINVALID, "manifest s3://%s/%s is larger than %d bytes", bucket, key,
                           MANIFEST_MAX_BYTES);
    if (rc == 0) {
        char *what = lb_sprintf("s3://%s/%s", bucket, key);
        rc = manifest_parse(out, buf_cstr(&b), buf_len(&b), what);
        free(what);
    }
    buf_dispose(&b);
    return rc;
}

/* ---- the loader: recognises the content, then feeds pg_restore/psql -- */

typedef enum content_kind { CONTENT_UNKNOWN, CONTENT_CUSTOM, CONTENT_PLAIN } content_kind;

typedef struct loader {
    const pgjob_restore_opts *o;
    const char *object;
    char *dbname;
    unsigned char sniff[SNIFF_BYTES];
    size_t nsniff;
    content_kind kind;
    bool started;
    pid_t pid;
    int fd; /* the child's stdin, or the decoded file with jobs > 1 */
    char *decoded_path;
    char *script_path; /* tables[]: the data as SQL, loaded after pg_restore wrote it */
    int64_t bytes;     /* decoded bytes */
    sink_fd fdsink;
    agent_sink next;
    sink_null null;
} loader;

static content_kind classify(const unsigned char *p, size_t n)
{
    if (n >= 5 && memcmp(p, "PGDMP", 5) == 0)
        return CONTENT_CUSTOM;
    if (n == 0)
        return CONTENT_UNKNOWN;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = p[i];
        if ((ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r' && ch != '\f') || ch == 0x7f)
            return CONTENT_UNKNOWN;
    }
    return CONTENT_PLAIN;
}

static void add_table_args(char **argv, int *argc, const pgjob_restore_opts *o)
{
    for (int i = 0; i < o->ntables; i++) {
        argv[(*argc)++] = lb_sprintf("--table=%s", o->tables[i]);
    }
}

static void free_args(char **argv, int from, int to)
{
    for (int i = from; i < to; i++)
        free(argv[i]);
}

/* Starts the load (after the content was recognised and verified). */
static int loader_start(loader *l)
{
    const pgjob_restore_opts *o = l->o;
    char **env = NULL;
    char *argv[PGJOB_MAX_TABLES + 16];
    int argc = 0, first_alloc;
    int rc;
    l->kind = classify(l->sniff, l->nsniff);
    if (l->kind == CONTENT_UNKNOWN)
        return lb_error_set("%s: after decryption and decompression the content is neither a "
                            "custom-format dump (PGDMP) nor SQL text (a wrong passphrase?); "
                            "nothing was written to the database",
                            l->object);
    if (l->kind == CONTENT_PLAIN && o->ntables > 0)
        return lb_error_setc(LB_EINVALID,
                             "%s: tables[] needs a custom-format dump; this is "
                             "plain SQL",
                             l->object);
    l->started = true;
    if (o->verify_only) {
        l->next = sink_null_make(&l->null);
        return 0;
    }
    if (l->kind == CONTENT_CUSTOM && o->jobs > 1 && (o->ntables == 0 || fresh_db(o))) {
        /* pg_restore -j reads a file, not a pipe: decode into the work dir. */
        l->decoded_path = lb_sprintf("%s/lifeboat-restore.dump", o->work_dir);
        l->fd = open(l->decoded_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (l->fd < 0)
            return lb_error_set("creating %s: %s", l->decoded_path, strerror(errno));
        l->next = sink_fd_make(&l->fdsink, l->fd, l->decoded_path);
        return 0;
    }
    if (l->kind == CONTENT_CUSTOM && o->ntables > 0 && !fresh_db(o)) {
        /* Replacing some tables' rows in a live database: pg_restore writes
         * their data as SQL into the work dir (nothing touches the database
         * yet); close() then deletes the rows and loads it in one psql
         * transaction, keeping the live schema (views, keys, grants). */
        l->script_path = lb_sprintf("%s/lifeboat-tables.sql", o->work_dir);
        char *out_arg = lb_sprintf("--file=%s", l->script_path);
        if (pgconn_child_env(&env, o->db_url, NULL, o->secret_env) != 0) {
            free(out_arg);
            return LB_ERROR;
        }
        argv[argc++] = "pg_restore";
        argv[argc++] = "--data-only";
        argv[argc++] = "--no-owner";
        argv[argc++] = "--no-acl";
        argv[argc++] = out_arg;
        first_alloc = argc;
        add_table_args(argv, &argc, o);
        argv[argc] = NULL;
        rc = spawn(&l->pid, &l->fd, NULL, argv, env);
        free_args(argv, first_alloc, argc);
        free(out_arg);
        pgconn_env_free(env);
        if (rc != 0)
            return rc;
        l->next = sink_fd_make(&l->fdsink, l->fd, "pg_restore");
        return 0;
    }
    if (prepare_db(o, l->dbname) != 0)
        return LB_ERROR;
    if (pgconn_child_env(&env, o->db_url, NULL, o->secret_env) != 0)
        return LB_ERROR;
    if (l->kind == CONTENT_CUSTOM) {
        argv[argc++] = "pg_restore";
        argv[argc++] = "--no-owner";
        argv[argc++] = "--no-acl";
        argv[argc++] = "--exit-on-error";
        argv[argc++] = "--single-transaction";
        if (!fresh_db(o)) {
            argv[argc++] = "--clean";
            argv[argc++] = "--if-exists";
        }
        argv[argc++] = "--dbname";
        argv[argc++] = l->dbname;
    } else {
        argv[argc++] = "psql";
        argv[argc++] = "-X";
        argv[argc++] = "-q";
        argv[argc++] = "-v";
        argv[argc++] = "ON_ERROR_STOP=1";
        argv[argc++] = "--single-transaction";
        argv[argc++] = "--file=-"; /* --single-transaction needs -f */
        argv[argc++] = "--dbname";
        argv[argc++] = l->dbname;
    }
    first_alloc = argc;
    add_table_args(argv, &argc, o);
    argv[argc] = NULL;
    LB_LOG_INFO("loading", "object", l->object, "tool", argv[0], "database", l->dbname, "tables",
                LB_LOG_INT(o->ntables));
    rc = spawn(&l->pid, &l->fd, NULL, argv, env);
    free_args(argv, first_alloc, argc);
    pgconn_env_free(env);
    if (rc != 0)
        return rc;
    l->next = sink_fd_make(&l->fdsink, l->fd, argv[0]);
    return 0;
}

static int loader_write(void *self, const void *data, size_t len)
{
    loader *l = self;
    const unsigned char *p = data;
    l->bytes += (int64_t)len;
    if (!l->started) {
        size_t take = SNIFF_BYTES - l->nsniff;
        if (take > len)
            take = len;
        memcpy(l->sniff + l->nsniff, p, take);
        l->nsniff += take;
        p += take;
        len -= take;
        if (l->nsniff < SNIFF_BYTES)
            return 0;
        if (loader_start(l) != 0)
            return LB_ERROR;
        if (sink_write(&l->next, l->sniff, l->nsniff) != 0)
            return LB_ERROR;
    }
    return sink_write(&l->next, p, len);
}

/* "orders" -> "orders"; "sales.orders" -> "sales"."orders" (quoted). */
static void quote_table(lb_buf *b, const char *name)
{
    const char *dot = strchr(name, '.');
    for (int part = 0; part < (dot != NULL ? 2 : 1); part++) {
        const char *p = part == 0 ? name : dot + 1;
        const char *end = part == 0 && dot != NULL ? dot : p + strlen(p);
        if (part == 1)
            buf_append_str(b, ".");
        buf_append_str(b, "\"");
        for (; p < end; p++)
            buf_append(b, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
        buf_append_str(b, "\"");
    }
}

/* tables[]: DELETE the live rows and load the dump's, in one transaction. */
static int load_tables_script(loader *l)
{
    const pgjob_restore_opts *o = l->o;
    char **env = NULL;
    lb_buf del;
    int rc;
    buf_init(&del, 1024 * 1024);
    for (int i = 0; i < o->ntables; i++) {
        buf_append_str(&del, "DELETE FROM ");
        quote_table(&del, o->tables[i]);
        buf_append_str(&del, ";\n");
    }
    if (pgconn_child_env(&env, o->db_url, NULL, o->secret_env) != 0) {
        buf_dispose(&del);
        return LB_ERROR;
    }
    char *file_arg = lb_sprintf("--file=%s", l->script_path);
    char *argv[] = {"psql",
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "--single-transaction",
                    "--command",
                    (char *)buf_cstr(&del),
                    file_arg,
                    "--dbname",
                    l->dbname,
                    NULL};
    LB_LOG_INFO("replacing the rows of the restored tables", "object", l->object, "tables",
                LB_LOG_INT(o->ntables));
    pid_t pid;
    rc = spawn(&pid, NULL, NULL, argv, env);
    if (rc == 0)
        rc = wait_child(pid, "psql");
    free(file_arg);
    pgconn_env_free(env);
    buf_dispose(&del);
    return rc;
}

/* The stream ended well: finish the load. */
static int loader_close(void *self)
{
    loader *l = self;
    const pgjob_restore_opts *o = l->o;
    if (!l->started) {
        if (loader_start(l) != 0)
            return LB_ERROR;
        if (sink_write(&l->next, l->sniff, l->nsniff) != 0)
            return LB_ERROR;
    }
    if (o->verify_only)
        return 0;
    if (l->script_path != NULL) {
        close(l->fd);
        l->fd = -1;
        pid_t pid = l->pid;
        l->pid = 0;
        if (wait_child(pid, "pg_restore") != 0)
            return LB_ERROR;
        return load_tables_script(l);
    }
    if (l->decoded_path == NULL) {
        close(l->fd);
        l->fd = -1;
        pid_t pid = l->pid;
        l->pid = 0;
        return wait_child(pid, l->kind == CONTENT_CUSTOM ? "pg_restore" : "psql");
    }
    /* jobs > 1: the decoded dump is complete and checked; now load it. */
    close(l->fd);
    l->fd = -1;
    if (prepare_db(o, l->dbname) != 0)
        return LB_ERROR;
    char **env = NULL;
    char *argv[PGJOB_MAX_TABLES + 16];
    int argc = 0;
    char jobs[16];
    snprintf(jobs, sizeof(jobs), "%d", o->jobs);
    if (pgconn_child_env(&env, o->db_url, NULL, o->secret_env) != 0)
        return LB_ERROR;
    argv[argc++] = "pg_restore";
    argv[argc++] = "--no-owner";
    argv[argc++] = "--no-acl";
    argv[argc++] = "--exit-on-error";
    argv[argc++] = "--jobs";
    argv[argc++] = jobs;
    if (!fresh_db(o)) {
        argv[argc++] = "--clean";
        argv[argc++] = "--if-exists";
    }
    argv[argc++] = "--dbname";
    argv[argc++] = l->dbname;
    int first_alloc = argc;
    add_table_args(argv, &argc, o);
    argv[argc++] = l->decoded_path;
    argv[argc] = NULL;
    LB_LOG_INFO("loading", "object", l->object, "tool", "pg_restore", "jobs", jobs);
    pid_t pid;
    int rc = spawn(&pid, NULL, NULL, argv, env);
    free_args(argv, first_alloc, argc - 1);
    pgconn_env_free(env);
    if (rc != 0)
        return rc;
    return wait_child(pid, "pg_restore");
}

/* The stream failed: stop the loader before its stdin closes, so that its
 * transaction rolls back rather than commits a partial load. */
static void loader_abort(loader *l)
{
    if (l->pid > 0) {
        kill(l->pid, SIGKILL);
        if (l->fd >= 0)
            close(l->fd);
        l->fd = -1;
        waitpid(l->pid, NULL, 0);
        l->pid = 0;
    }
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

/* ---- pg-restore ------------------------------------------------------- */

static json_t *result_new(const char *bucket, const char *key)
{
    json_t *r = json_object();
    if (key != NULL)
        json_object_set_new(r, "object", json_sprintf("s3://%s/%s", bucket, key));
    return r;
}

static int fail(json_t *r, int rc)
{
    json_object_set_new(r, "result", json_string("failed"));
    json_object_set_new(r, "error", json_string(lb_error_last()));
    return rc;
}

static double seconds_since(int64_t start_ns)
{
    return (double)(lb_time_monotonic_ns() - start_ns) / 1e9;
}

/* Pushes the file at path through sink, then closes it. */
static int replay_file(const char *path, const agent_sink *sink)
{
    int rc = LB_ERROR;
    char *buf = lb_malloc(READ_CHUNK);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lb_error_set("opening %s: %s", path, strerror(errno));
        goto done;
    }
    for (;;) {
        ssize_t n = read(fd, buf, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            lb_error_set("reading %s: %s", path, strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        if (sink_write(sink, buf, (size_t)n) != 0)
            goto done;
    }
    rc = sink_close(sink);
done:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

int pgjob_restore(json_t **out, aws_client *c, const pgjob_restore_opts *o)
{
    int64_t start = lb_time_monotonic_ns();
    char *key = NULL, *mkey = NULL, *object = NULL, *download = NULL;
    manifest m = {.size_bytes = -1};
    bool have_manifest = false;
    s3_object_info info = {0};
    cipher_stage *dec = NULL;
    gz_stage *gz = NULL;
    digest_tee *tee = NULL;
    loader l = {.o = o, .fd = -1};
    json_t *r = result_new(o->bucket, o->key);
    json_t *counts = NULL;
    int64_t rows = 0;
    int rc;

    if (o->db_url != NULL) {
        rc = pgconn_dbname(&l.dbname, o->db_url);
        if (rc != 0)
            goto done;
    } else if (!o->verify_only) {
        rc = lb_error_setc(LB_EINVALID, "pg-restore: the database URL is required");
        goto done;
    }
    if (o->key != NULL) {
        key = lb_strdup(o->key);
    } else {
        rc = latest_backup_under(&key, c, o->bucket, o->latest_under,
                                o->manifest == PGJOB_MANIFEST_REQUIRED);
        if (rc != 0)
            goto done;
        json_object_set_new(r, "object", json_sprintf("s3://%s/%s", o->bucket, key));
        LB_LOG_INFO("latest backup", "prefix", o->latest_under, "object", key);
    }
    object = lb_sprintf("s3://%s/%s", o->bucket, key);
    l.object = object;
    rc = s3_head_object(&info, c, o->bucket, key, NULL);
    if (rc == LB_ENOTFOUND) {
        rc = lb_error_setc(LB_ENOTFOUND, "object %s does not exist", object);
        goto done;
    }
    if (rc != 0) {
        lb_error_wrap(rc, "%s", object);
        goto done;
    }
    if (o->manifest != PGJOB_MANIFEST_NONE) {
        mkey = o->manifest_key != NULL ? lb_strdup(o->manifest_key) : manifest_key_for(key);
        rc = fetch_manifest(&m, c, o->bucket, mkey);
        if (rc == 0) {
            have_manifest = true;
            json_object_set_new(r, "manifest", json_sprintf("s3://%s/%s", o->bucket, mkey));
        } else if (rc == LB_ENOTFOUND && o->manifest == PGJOB_MANIFEST_OPTIONAL) {
            LB_LOG_INFO("no manifest; the sha256 is reported, not checked", "manifest", mkey);
        } else {
            if (rc == LB_ENOTFOUND)
                lb_error_setc(LB_ENOTFOUND,
                              "%s: its manifest s3://%s/%s does not exist (manifest: required)",
                              object, o->bucket, mkey);
            goto done;
        }
    }

    /* The chain, from the end: loader <- gunzip <- decrypt <- [progress <- tee <- S3]. */
    agent_sink ls = {.write = loader_write, .close = loader_close, .self = &l};
    if ((rc = gz_decompressor_new(&gz, true, &ls)) != 0)
        goto done;
    agent_sink gs = gz_stage_sink(gz);
    if ((rc = cipher_decryptor_new(&dec, o->decryption_key, o->decryption_key_len, false, &gs)) !=
        0)
        goto done;
    agent_sink ds = cipher_stage_sink(dec);
    progress prog;
    bool to_file = have_manifest || o->verify_only || o->jobs > 1;
    int dl_fd = -1;
    sink_fd fsink;
    agent_sink file_s;
    if (to_file) {
        download = lb_sprintf("%s/lifeboat-download.bin", o->work_dir);
        dl_fd = open(download, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (dl_fd < 0) {
            rc = lb_error_set("creating %s (the work volume): %s", download, strerror(errno));
            goto done;
        }
        file_s = sink_fd_make(&fsink, dl_fd, download);
    }
    if ((rc = digest_tee_new(&tee, to_file ? &file_s : &ds)) != 0) {
        if (dl_fd >= 0)
            close(dl_fd);
        goto done;
    }
    agent_sink ts = digest_tee_sink(tee);
    agent_sink ps = progress_make(&prog, object, info.size, &ts);
    LB_LOG_INFO(to_file ? "downloading to the work volume" : "streaming into the database",
                "object", object, "bytes", LB_LOG_INT(info.size));
    rc = get_into(c, o->bucket, key, &ps);
    if (rc == 0)
        rc = to_file ? sink_close(&ps) : 0;
    if (to_file) {
        if (rc == 0 && fsync(dl_fd) != 0)
            rc = lb_error_set("fsync %s: %s", download, strerror(errno));
        close(dl_fd);
    }
    if (rc != 0) {
        loader_abort(&l);
        goto done;
    }
    if (to_file) {
        json_object_set_new(r, "sha256", json_string(digest_tee_hex(tee)));
        json_object_set_new(r, "bytes", json_integer(digest_tee_bytes(tee)));
        if (have_manifest && strcmp(m.sha256, digest_tee_hex(tee)) != 0) {
            rc = lb_error_set("%s: checksum mismatch: sha256 is %s, the manifest says %s; "
                              "nothing was written to the database",
                              object, digest_tee_hex(tee), m.sha256);
            goto done;
        }
        if (have_manifest && m.size_bytes >= 0 && m.size_bytes != digest_tee_bytes(tee)) {
            rc = lb_error_set("%s: size mismatch: %lld bytes, the manifest says %lld; nothing "
                              "was written to the database",
                              object, (long long)digest_tee_bytes(tee), (long long)m.size_bytes);
            goto done;
        }
        if (have_manifest)
            LB_LOG_INFO("checksum verified", "object", object, "sha256", m.sha256);
        rc = replay_file(download, &ds);
    } else {
        rc = sink_close(&ps);
        json_object_set_new(r, "sha256", json_string(digest_tee_hex(tee)));
        json_object_set_new(r, "bytes", json_integer(digest_tee_bytes(tee)));
    }
    if (rc != 0) {
        loader_abort(&l);
        goto done;
    }
    json_object_set_new(r, "format", json_string(l.kind == CONTENT_CUSTOM ? "custom" : "plain"));
    json_object_set_new(r, "encryption",
                        json_string(cipher_stage_format(dec) == CIPHER_GCM   ? "aes-256-gcm"
                                    : cipher_stage_format(dec) == CIPHER_CBC ? "aes-256-cbc"
                                                                             : "none"));
    json_object_set_new(r, "compressed", json_boolean(gz_stage_was_gzip(gz)));
    json_object_set_new(r, "decodedBytes", json_integer(l.bytes));
    json_object_set_new(r, "verified", json_boolean(have_manifest));
    if (!o->verify_only) {
        /* Count what was restored; check it against the manifest's counts. */
        PGconn *pc = NULL;
        json_t *only = NULL;
        if (o->ntables > 0) {
            only = json_array();
            for (int i = 0; i < o->ntables; i++)
                json_array_append_new(only, json_string(o->tables[i]));
        }
        rc = pgconn_connect(&pc, o->db_url, NULL);
        if (rc == 0)
            rc = pgconn_count_rows(&counts, &rows, pc, only);
        PQfinish(pc);
        json_decref(only);
        if (rc != 0)
            goto done;
        json_t *want = have_manifest ? manifest_tables(&m) : NULL;
        const char *name;
        json_t *v;
        json_object_foreach(counts, name, v)
        {
            json_t *w = want != NULL ? json_object_get(want, name) : NULL;
            if (w != NULL && json_integer_value(w) != json_integer_value(v)) {
                rc = lb_error_set("%s: table %s has %lld rows after the restore, the manifest "
                                  "counted %lld at dump time",
                                  object, name, (long long)json_integer_value(v),
                                  (long long)json_integer_value(w));
                goto done;
            }
        }
        json_object_set_new(r, "rows", json_integer(rows));
        json_object_set(r, "tables", counts);
    }
    json_object_set_new(r, "result", json_string("succeeded"));
    rc = 0;
done:
    if (rc != 0)
        fail(r, rc);
    json_object_set_new(r, "durationSeconds", json_real(seconds_since(start)));
    loader_abort(&l);
    if (download != NULL)
        unlink(download);
    if (l.decoded_path != NULL)
        unlink(l.decoded_path);
    if (l.script_path != NULL)
        unlink(l.script_path);
    free(l.decoded_path);
    free(l.script_path);
    free(l.dbname);
    json_decref(counts);
    digest_tee_free(tee);
    cipher_stage_free(dec);
    gz_stage_free(gz);
    s3_object_info_dispose(&info);
    manifest_dispose(&m);
    free(object);
    free(download);
    free(mkey);
    free(key);
    *out = r;
    return rc;
}

/* ---- pg-backup -------------------------------------------------------- */

static int exec_ok(PGconn *pc, const char *sql)
{
    PGresult *res = PQexec(pc, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok)
        return lb_error_set("%s: %s", sql, PQerrorMessage(pc));
    return 0;
}

int pgjob_backup(json_t **out, aws_client *c, const pgjob_backup_opts *o)
{
    int64_t start = lb_time_monotonic_ns();
    PGconn *pc = NULL;
    PGresult *res = NULL;
    char *snapshot = NULL, *key = NULL, *mkey = NULL, *dbname = NULL, *mtext = NULL;
    char **env = NULL;
    json_t *tables = NULL;
    json_t *r = result_new(o->bucket, o->key);
    upload_stream *up = NULL;
    digest_tee *tee = NULL;
    cipher_stage *enc = NULL;
    pgz_stage *gz = NULL;
    pgconn_counting *counting = NULL;
    char *buf = NULL;
    int dump_fd = -1;
    pid_t pid = 0;
    int64_t rows = 0;
    char created[64];
    int rc;

    if (o->compress_level < 0 || o->compress_level > 9) {
        rc = lb_error_setc(LB_EINVALID, "pg-backup: compress level must be 0..9");
        goto done;
    }
    if (o->encryption_key == NULL && !o->allow_plaintext) {
        rc = lb_error_setc(LB_EINVALID, "pg-backup: an encryption key is required "
                                        "(--key-file or the key env var)");
        goto done;
    }
    if ((rc = pgconn_dbname(&dbname, o->db_url)) != 0)
        goto done;
    lb_time now = lb_time_now();
    lb_time_format(created, sizeof(created), now, 0);
    if (o->key != NULL) {
        key = lb_strdup(o->key);
    } else {
        /* 2026-02-18T01:00:00Z -> 20260218T010000Z */
        char stamp[32];
        size_t k = 0;
        for (const char *p = created; *p != '\0' && k + 1 < sizeof(stamp); p++) {
            if (*p != '-' && *p != ':')
                stamp[k++] = *p;
        }
        stamp[k] = '\0';
        key = lb_sprintf("%s%s_%s.dump", o->prefix, dbname, stamp);
    }
    json_object_set_new(r, "object", json_sprintf("s3://%s/%s", o->bucket, key));
    mkey = manifest_key_for(key);

    /* One snapshot for the row counts and the dump. */
    if ((rc = pgconn_connect(&pc, o->db_url, NULL)) != 0)
        goto done;
    if ((rc = exec_ok(pc, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")) != 0)
        goto done;
    res = PQexec(pc, "SELECT pg_export_snapshot(), current_setting('server_version')");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = lb_error_set("exporting a snapshot: %s", PQerrorMessage(pc));
        goto done;
    }
    snapshot = lb_strdup(PQgetvalue(res, 0, 0));
    char *server_version = lb_strdup(PQgetvalue(res, 0, 1));
    PQclear(res);
    res = NULL;
    /* The server counts the rows (for the manifest) on this connection while
     * pg_dump dumps on another, both in the exported snapshot. */
    if ((rc = pgconn_count_rows_send(&counting, pc, NULL)) != 0) {
        free(server_version);
        goto done;
    }
    LB_LOG_INFO("snapshot exported; counting rows", "database", dbname);

    if ((rc = upload_stream_new(&up, c, o->bucket, key, o->part_size)) != 0) {
        free(server_version);
        goto done;
    }
    agent_sink us = upload_stream_sink(up);
    if ((rc = digest_tee_new(&tee, &us)) != 0) {
        free(server_version);
        goto done;
    }
    agent_sink ts = digest_tee_sink(tee);
    agent_sink head = ts;
    if (o->encryption_key != NULL) {
        rc = cipher_encryptor_new(&enc, o->encryption_key, o->encryption_key_len, 0, 0, &ts);
        if (rc != 0) {
            free(server_version);
            goto done;
        }
        head = cipher_stage_sink(enc);
    }
    agent_sink es = head;
    bool agent_gzip = !o->compress_in_dump && o->compress_level > 0;
    if (agent_gzip) {
        int threads =
            o->compress_threads > 0 ? o->compress_threads : PGJOB_DEFAULT_COMPRESS_THREADS;
        if ((rc = pgz_new(&gz, o->compress_level, threads, &es)) != 0) {
            free(server_version);
            goto done;
        }
        head = pgz_sink(gz);
    }
    char snaparg[128];
    snprintf(snaparg, sizeof(snaparg), "--snapshot=%s", snapshot);
    char zarg[8];
    snprintf(zarg, sizeof(zarg), "-Z%d", o->compress_in_dump ? o->compress_level : 0);
    char *argv[] = {"pg_dump", "-Fc", zarg, snaparg, "--dbname", dbname, NULL};
    if ((rc = pgconn_child_env(&env, o->db_url, NULL, o->secret_env)) != 0) {
        free(server_version);
        goto done;
    }
    LB_LOG_INFO("dumping", "database", dbname, "object", key);
    if ((rc = spawn(&pid, NULL, &dump_fd, argv, env)) != 0) {
        free(server_version);
        goto done;
    }
    buf = lb_malloc(READ_CHUNK);
    for (;;) {
        ssize_t n = read(dump_fd, buf, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = lb_error_set("reading pg_dump's output: %s", strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if ((rc = sink_write(&head, buf, (size_t)n)) != 0)
            break;
    }
    close(dump_fd);
    dump_fd = -1;
    if (rc != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        pid = 0;
        free(server_version);
        goto done;
    }
    pid_t p = pid;
    pid = 0;
    if ((rc = wait_child(p, "pg_dump")) != 0) {
        free(server_version);
        goto done;
    }
    rc = pgconn_count_rows_finish(&tables, &rows, counting);
    counting = NULL;
    if (rc != 0) {
        free(server_version);
        goto done;
    }
    LB_LOG_INFO("rows counted", "database", dbname, "tables",
                LB_LOG_INT(json_object_size(tables)), "rows", LB_LOG_INT(rows));
    /* Completes the upload: the object exists from here on. */
    if ((rc = sink_close(&head)) != 0) {
        free(server_version);
        goto done;
    }
    exec_ok(pc, "COMMIT");
    manifest_info mi = {.sha256 = digest_tee_hex(tee),
                        .size_bytes = digest_tee_bytes(tee),
                        .created_at = created,
                        .format = "custom",
                        .compression = agent_gzip             ? "gzip"
                                       : o->compress_in_dump && o->compress_level > 0 ? "pg_dump"
                                                                                    : "none",
                        .encryption = enc != NULL ? "aes-256-gcm" : "none",
                        .object = key,
                        .source_host = PQhost(pc),
                        .source_database = dbname,
                        .server_version = server_version,
                        .tables = tables};
    rc = manifest_build(&mtext, &mi);
    free(server_version);
    if (rc != 0)
        goto done;
    /* Written last: a manifest exists only for a complete backup. */
    rc = s3_put_object(NULL, c, o->bucket, mkey, "application/json", mtext, strlen(mtext));
    if (rc != 0) {
        lb_error_wrap(rc, "writing the manifest s3://%s/%s", o->bucket, mkey);
        goto done;
    }
    json_object_set_new(r, "result", json_string("succeeded"));
    json_object_set_new(r, "manifest", json_sprintf("s3://%s/%s", o->bucket, mkey));
    json_object_set_new(r, "sha256", json_string(digest_tee_hex(tee)));
    json_object_set_new(r, "bytes", json_integer(digest_tee_bytes(tee)));
    json_object_set_new(r, "parts", json_integer(upload_parts(up)));
    json_object_set_new(r, "compression", json_string(mi.compression));
    json_object_set_new(r, "rows", json_integer(rows));
    json_object_set(r, "tables", tables);
    rc = 0;
done:
    if (rc != 0) {
        fail(r, rc);
        upload_abort(up);
    }
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (dump_fd >= 0)
        close(dump_fd);
    json_object_set_new(r, "durationSeconds", json_real(seconds_since(start)));
    PQclear(res);
    pgconn_count_rows_cancel(counting);
    PQfinish(pc);
    pgconn_env_free(env);
    pgz_free(gz);
    cipher_stage_free(enc);
    digest_tee_free(tee);
    upload_stream_free(up);
    json_decref(tables);
    free(buf);
    free(mtext);
    free(snapshot);
    free(dbname);
    free(mkey);
    free(key);
    *out = r;
    return rc;
}

/* ---- archive-restore ---------------------------------------------------- */

int pgjob_archive_restore(json_t **out, aws_client *c, const pgjob_archive_opts *o)
{
    int64_t start = lb_time_monotonic_ns();
    char *key = NULL, *mkey = NULL, *object = NULL, *download = NULL, *decoded = NULL;
    manifest m = {.size_bytes = -1};
    bool have_manifest = false;
    s3_object_info info = {0};
    cipher_stage *dec = NULL;
    gz_stage *gz = NULL;
    digest_tee *tee = NULL;
    json_t *r = result_new(o->bucket, o->key);
    int dl_fd = -1, out_fd = -1;
    archive_stats st;
    int rc;

    if (o->key != NULL) {
        key = lb_strdup(o->key);
    } else {
        rc = latest_backup_under(&key, c, o->bucket, o->latest_under,
                                o->manifest == PGJOB_MANIFEST_REQUIRED);
        if (rc != 0)
            goto done;
        json_object_set_new(r, "object", json_sprintf("s3://%s/%s", o->bucket, key));
    }
    object = lb_sprintf("s3://%s/%s", o->bucket, key);
    rc = s3_head_object(&info, c, o->bucket, key, NULL);
    if (rc == LB_ENOTFOUND)
        rc = lb_error_setc(LB_ENOTFOUND, "object %s does not exist", object);
    if (rc != 0)
        goto done;
    if (o->manifest != PGJOB_MANIFEST_NONE) {
        mkey = manifest_key_for(key);
        rc = fetch_manifest(&m, c, o->bucket, mkey);
        if (rc == 0) {
            have_manifest = true;
        } else if (rc == LB_ENOTFOUND && o->manifest == PGJOB_MANIFEST_OPTIONAL) {
            LB_LOG_INFO("no manifest; the sha256 is reported, not checked", "manifest", mkey);
        } else {
            if (rc == LB_ENOTFOUND)
                lb_error_setc(LB_ENOTFOUND,
                              "%s: its manifest s3://%s/%s does not exist (manifest: required)",
                              object, o->bucket, mkey);
            goto done;
        }
    }
    download = lb_sprintf("%s/lifeboat-download.bin", o->work_dir);
    decoded = lb_sprintf("%s/lifeboat-archive.tar", o->work_dir);
    dl_fd = open(download, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    out_fd = open(decoded, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (dl_fd < 0 || out_fd < 0) {
        rc = lb_error_set("creating files in the work dir %s: %s", o->work_dir, strerror(errno));
        goto done;
    }
    sink_fd fsink, osink;
    agent_sink file_s = sink_fd_make(&fsink, dl_fd, download);
    agent_sink out_s = sink_fd_make(&osink, out_fd, decoded);
    if ((rc = digest_tee_new(&tee, &file_s)) != 0)
        goto done;
    progress prog;
    agent_sink ts = digest_tee_sink(tee);
    agent_sink ps = progress_make(&prog, object, info.size, &ts);
    rc = get_into(c, o->bucket, key, &ps);
    if (rc == 0)
        rc = sink_close(&ps);
    if (rc != 0)
        goto done;
    json_object_set_new(r, "sha256", json_string(digest_tee_hex(tee)));
    json_object_set_new(r, "bytes", json_integer(digest_tee_bytes(tee)));
    if (have_manifest && strcmp(m.sha256, digest_tee_hex(tee)) != 0) {
        rc = lb_error_set("%s: checksum mismatch: sha256 is %s, the manifest says %s; nothing "
                          "was extracted",
                          object, digest_tee_hex(tee), m.sha256);
        goto done;
    }
    /* Decode fully (authenticated or CRC-checked) before extracting anything. */
    if ((rc = gz_decompressor_new(&gz, true, &out_s)) != 0)
        goto done;
    agent_sink gs = gz_stage_sink(gz);
    if ((rc = cipher_decryptor_new(&dec, o->decryption_key, o->decryption_key_len, false, &gs)) !=
        0)
        goto done;
    agent_sink ds = cipher_stage_sink(dec);
    if ((rc = replay_file(download, &ds)) != 0) {
        lb_error_wrap(rc, "%s: nothing was extracted", object);
        goto done;
    }
    rc = o->verify_only ? archive_check(&st, decoded)
                        : archive_extract_safe(&st, decoded, o->target);
    if (rc != 0) {
        lb_error_wrap(rc, "%s", object);
        goto done;
    }
    if (o->verify_only)
        LB_LOG_INFO("checked; nothing extracted (--verify-only)", "object", object, "files",
                    LB_LOG_INT(st.files), "bytes", LB_LOG_INT(st.bytes));
    else
        LB_LOG_INFO("extracted", "object", object, "target", o->target, "files",
                    LB_LOG_INT(st.files), "bytes", LB_LOG_INT(st.bytes));
    json_object_set_new(r, "result", json_string("succeeded"));
    json_object_set_new(r, "files", json_integer(st.files));
    json_object_set_new(r, "entries", json_integer(st.entries));
    json_object_set_new(r, o->verify_only ? "archiveBytes" : "extractedBytes",
                        json_integer(st.bytes));
    json_object_set_new(r, "verified", json_boolean(have_manifest));
    json_object_set_new(r, "encryption",
                        json_string(cipher_stage_format(dec) == CIPHER_GCM   ? "aes-256-gcm"
                                    : cipher_stage_format(dec) == CIPHER_CBC ? "aes-256-cbc"
                                                                             : "none"));
    rc = 0;
done:
    if (rc != 0)
        fail(r, rc);
    json_object_set_new(r, "durationSeconds", json_real(seconds_since(start)));
    if (dl_fd >= 0)
        close(dl_fd);
    if (out_fd >= 0)
        close(out_fd);
    if (download != NULL)
        unlink(download);
    if (decoded != NULL)
        unlink(decoded);
    digest_tee_free(tee);
    cipher_stage_free(dec);
    gz_stage_free(gz);
    s3_object_info_dispose(&info);
    manifest_dispose(&m);
    free(object);
    free(download);
    free(decoded);
    free(mkey);
    free(key);
    *out = r;
    return rc;
}
