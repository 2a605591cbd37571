/* lifeboat-agent - the data-movement tool run inside Jobs (pg backup and
 * restore, archives). main() parses flags and dispatches subcommands; the
 * work is in pkg/agent. Secrets (the database URL, keys) come only from the
 * environment (secretKeyRef) or mounted files, never from argv. The last
 * line on stdout is a one-line JSON result that the operator reads. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/cipher.h"
#include "agent/pgconn.h"
#include "agent/pgjob.h"
#include "agent/pgzip.h"
#include "aws/regionpair.h"
#include "aws/request.h"
#include "aws/s3sync.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/harden.h"
#include "util/log.h"
#include "util/version.h"

#define ENV_DB_URL         "LIFEBOAT_DB_URL"
#define ENV_DECRYPTION_KEY "LIFEBOAT_DECRYPTION_KEY"
#define ENV_ENCRYPTION_KEY "LIFEBOAT_ENCRYPTION_KEY"
#define ENV_WORK_DIR       "LIFEBOAT_WORK_DIR"

/* Never passed on to pg_dump/pg_restore/psql. */
static const char *const secret_env[] = {ENV_DB_URL, ENV_DECRYPTION_KEY, ENV_ENCRYPTION_KEY, NULL};

static void usage(FILE *out)
{
    fputs("Usage: lifeboat-agent <command> [flags]\n"
          "\n"
          "Moves backup data inside Kubernetes Jobs started by lifeboat-operator.\n"
          "\n"
          "Commands:\n"
          "  pg-restore   restore a pg_dump (custom or plain, .gz, encrypted) from S3\n"
          "  pg-backup    pg_dump -Fc, encrypted, streamed into S3, then its manifest\n"
          "  archive-restore  download, verify, decrypt and safely extract a tar archive\n"
          "  s3-sync      server-side copies from one bucket to another, then verify\n"
          "\n"
          "pg-restore flags:\n"
          "  --bucket B --key K | --latest-under PREFIX\n"
          "  --manifest required|optional|none   (default optional)\n"
          "  --manifest-key K        (default: <key without .dump/.sql/.gz/.enc>.manifest.json)\n"
          "  --key-file PATH         decryption key or passphrase (else $" ENV_DECRYPTION_KEY ")\n"
          "  --db-url-file PATH      libpq URI (else $" ENV_DB_URL ")\n"
          "  --recreate-database  --table T (repeatable)  --jobs N  --verify-only\n"
          "  --create-database       restore into a new database (fails when it exists)\n"
          "  --work-dir DIR          downloads (else $" ENV_WORK_DIR ", else /tmp)\n"
          "\n"
          "pg-backup flags:\n"
          "  --bucket B --prefix P | --key K\n"
          "  --key-file PATH         encryption key (else $" ENV_ENCRYPTION_KEY ")\n"
          "  --no-encryption  --db-url-file PATH  --part-size-mib N\n"
          "  --compress-level N      zlib level 0..9 (default 1: 6 costs several times the\n"
          "                          CPU for a slightly smaller object; 0: uncompressed)\n"
          "  --compress-in agent|pg_dump  who compresses (default agent: pg_dump -Z0, the\n"
          "                          object a gzip stream; pg_dump: -Z<level>, no gzip)\n"
          "  --compress-threads N    the agent's compression threads (default 2)\n"
          "\n"
          "archive-restore flags (a .tar.gz[.enc] into a directory, runbook 004 P3):\n"
          "  --bucket B --key K | --latest-under PREFIX  --manifest M  --key-file PATH\n"
          "  --target DIR            refuses absolute paths, .. and links leaving DIR\n"
          "  --verify-only           download, check and decode, check every entry; extract nothing\n"
          "\n"
          "s3-sync flags (runbook 000 3B; the operator's s3Sync item as a Job):\n"
          "  --source-bucket B --target-bucket B [--prefix P] [--delete-extraneous]\n"
          "  --source-region R       the source bucket's region: listed and read there\n"
          "  --target-region R       the target's: listed, copied into (CopyObject) and\n"
          "                          deleted from there (both default to AWS_REGION)\n"
          "  --concurrency N         copies in flight, 1..256 (default 16)\n"
          "  --shard I/N             only keys whose hash mod N is I (else\n"
          "                          $JOB_COMPLETION_INDEX/$LIFEBOAT_SHARDS when both are set)\n"
          "\n"
          "Flags:\n"
          "  --help       show this help and exit\n"
          "  --version    print the version and exit\n"
          "\n"
          "AWS: the usual AWS_* environment (region, credentials, AWS_ENDPOINT_URL_S3).\n",
          out);
}

enum {
    OPT_BUCKET = 1000,
    OPT_KEY,
    OPT_LATEST,
    OPT_MANIFEST,
    OPT_MANIFEST_KEY,
    OPT_KEY_FILE,
    OPT_DB_URL_FILE,
    OPT_RECREATE,
    OPT_TABLE,
    OPT_JOBS,
    OPT_WORK_DIR,
    OPT_VERIFY_ONLY,
    OPT_PREFIX,
    OPT_NO_ENCRYPTION,
    OPT_PART_SIZE,
    OPT_COMPRESS_LEVEL,
    OPT_COMPRESS_IN,
    OPT_COMPRESS_THREADS,
    OPT_TARGET,
    OPT_CREATE,
    OPT_SOURCE_BUCKET,
    OPT_TARGET_BUCKET,
    OPT_SOURCE_REGION,
    OPT_TARGET_REGION,
    OPT_DELETE_EXTRA,
    OPT_CONCURRENCY,
    OPT_SHARD,
};

static const struct option long_opts[] = {
    {"bucket", required_argument, NULL, OPT_BUCKET},
    {"key", required_argument, NULL, OPT_KEY},
    {"latest-under", required_argument, NULL, OPT_LATEST},
    {"manifest", required_argument, NULL, OPT_MANIFEST},
    {"manifest-key", required_argument, NULL, OPT_MANIFEST_KEY},
    {"key-file", required_argument, NULL, OPT_KEY_FILE},
    {"db-url-file", required_argument, NULL, OPT_DB_URL_FILE},
    {"recreate-database", no_argument, NULL, OPT_RECREATE},
    {"table", required_argument, NULL, OPT_TABLE},
    {"jobs", required_argument, NULL, OPT_JOBS},
    {"work-dir", required_argument, NULL, OPT_WORK_DIR},
    {"verify-only", no_argument, NULL, OPT_VERIFY_ONLY},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"no-encryption", no_argument, NULL, OPT_NO_ENCRYPTION},
    {"part-size-mib", required_argument, NULL, OPT_PART_SIZE},
    {"compress-level", required_argument, NULL, OPT_COMPRESS_LEVEL},
    {"compress-in", required_argument, NULL, OPT_COMPRESS_IN},
    {"compress-threads", required_argument, NULL, OPT_COMPRESS_THREADS},
    {"target", required_argument, NULL, OPT_TARGET},
    {"create-database", no_argument, NULL, OPT_CREATE},
    {"source-bucket", required_argument, NULL, OPT_SOURCE_BUCKET},
    {"target-bucket", required_argument, NULL, OPT_TARGET_BUCKET},
    {"source-region", required_argument, NULL, OPT_SOURCE_REGION},
    {"target-region", required_argument, NULL, OPT_TARGET_REGION},
    {"delete-extraneous", no_argument, NULL, OPT_DELETE_EXTRA},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"shard", required_argument, NULL, OPT_SHARD},
    {NULL, 0, NULL, 0},
};

typedef struct flags {
    const char *bucket, *key, *latest_under, *manifest, *manifest_key, *key_file, *db_url_file,
        *work_dir, *prefix, *target, *source_bucket, *target_bucket, *shard, *source_region,
        *target_region;
    bool recreate, create, verify_only, no_encryption, delete_extra;
    int concurrency;
    const char *tables[PGJOB_MAX_TABLES];
    int ntables;
    int jobs;
    long part_size_mib;
    int compress_level;
    bool compress_in_dump;
    int compress_threads;
} flags;

/* Prints the result line and returns the exit status. */
static int finish(json_t *result, int rc)
{
    char *line = json_dumps(result, JSON_COMPACT | JSON_SORT_KEYS);
    fflush(stderr);
    printf("%s\n", line != NULL ? line : "{\"result\":\"failed\"}");
    fflush(stdout);
    free(line);
    json_decref(result);
    return rc == 0 ? 0 : 1;
}

/* A usage error: named flag and rule, as a failed result. */
static int bad_input(const char *msg)
{
    json_t *r = json_pack("{s:s, s:s}", "result", "failed", "error", msg);
    fprintf(stderr, "lifeboat-agent: %s\n", msg);
    finish(r, 1);
    return 2;
}

static int parse_flags(flags *f, int argc, char **argv)
{
    memset(f, 0, sizeof(*f));
    f->manifest = "optional";
    f->compress_level = PGJOB_DEFAULT_COMPRESS_LEVEL;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_BUCKET:
            f->bucket = optarg;
            break;
        case OPT_KEY:
            f->key = optarg;
            break;
        case OPT_LATEST:
            f->latest_under = optarg;
            break;
        case OPT_MANIFEST:
            f->manifest = optarg;
            break;
        case OPT_MANIFEST_KEY:
            f->manifest_key = optarg;
            break;
        case OPT_KEY_FILE:
            f->key_file = optarg;
            break;
        case OPT_DB_URL_FILE:
            f->db_url_file = optarg;
            break;
        case OPT_RECREATE:
            f->recreate = true;
            break;
        case OPT_CREATE:
            f->create = true;
            break;
        case OPT_TABLE:
            if (f->ntables >= PGJOB_MAX_TABLES)
                return lb_error_setc(LB_EINVALID, "--table: at most %d", PGJOB_MAX_TABLES);
            f->tables[f->ntables++] = optarg;
            break;
        case OPT_JOBS:
            f->jobs = atoi(optarg);
            if (f->jobs < 1 || f->jobs > PGJOB_MAX_JOBS)
                return lb_error_setc(LB_EINVALID, "--jobs must be 1..%d", PGJOB_MAX_JOBS);
            break;
        case OPT_WORK_DIR:
            f->work_dir = optarg;
            break;
        case OPT_VERIFY_ONLY:
            f->verify_only = true;
            break;
        case OPT_PREFIX:
            f->prefix = optarg;
            break;
        case OPT_NO_ENCRYPTION:
            f->no_encryption = true;
            break;
        case OPT_TARGET:
            f->target = optarg;
            break;
        case OPT_SOURCE_BUCKET:
            f->source_bucket = optarg;
            break;
        case OPT_TARGET_BUCKET:
            f->target_bucket = optarg;
            break;
        case OPT_SOURCE_REGION:
            f->source_region = optarg;
            break;
        case OPT_TARGET_REGION:
            f->target_region = optarg;
            break;
        case OPT_DELETE_EXTRA:
            f->delete_extra = true;
            break;
        case OPT_SHARD:
            f->shard = optarg;
            break;
        case OPT_CONCURRENCY:
            f->concurrency = atoi(optarg);
            if (f->concurrency < 1 || f->concurrency > S3SYNC_MAX_CONCURRENCY)
                return lb_error_setc(LB_EINVALID, "--concurrency must be 1..%d",
                                     S3SYNC_MAX_CONCURRENCY);
            break;
        case OPT_COMPRESS_LEVEL:
            if (strlen(optarg) != 1 || optarg[0] < '0' || optarg[0] > '9')
                return lb_error_setc(LB_EINVALID, "--compress-level must be 0..9");
            f->compress_level = optarg[0] - '0';
            break;
        case OPT_COMPRESS_IN:
            if (strcmp(optarg, "agent") != 0 && strcmp(optarg, "pg_dump") != 0)
                return lb_error_setc(LB_EINVALID, "--compress-in must be agent or pg_dump");
            f->compress_in_dump = strcmp(optarg, "pg_dump") == 0;
            break;
        case OPT_COMPRESS_THREADS:
            f->compress_threads = atoi(optarg);
            if (f->compress_threads < 1 || f->compress_threads > PGZ_MAX_WORKERS)
                return lb_error_setc(LB_EINVALID, "--compress-threads must be 1..%d",
                                     PGZ_MAX_WORKERS);
            break;
        case OPT_PART_SIZE:
            f->part_size_mib = atol(optarg);
            if (f->part_size_mib < 5 || f->part_size_mib > 512)
                return lb_error_setc(LB_EINVALID, "--part-size-mib must be 5..512");
            break;
        default:
            return lb_error_setc(LB_EINVALID, "unknown flag (see --help)");
        }
    }
    if (optind < argc)
        return lb_error_setc(LB_EINVALID,
                             "unexpected argument '%s' (secrets never go in "
                             "arguments; see --help)",
                             argv[optind]);
    if (strcmp(argv[1], "s3-sync") != 0 && (f->bucket == NULL || f->bucket[0] == '\0'))
        return lb_error_setc(LB_EINVALID, "--bucket is required");
    return 0;
}

/* Key material: the file when given, else the env var, else none. */
static int load_key(unsigned char **out, size_t *out_len, const char *file, const char *env)
{
    *out = NULL;
    *out_len = 0;
    if (file != NULL)
        return cipher_key_read_file(out, out_len, file);
    const char *v = getenv(env);
    if (v == NULL || v[0] == '\0')
        return 0;
    size_t n = strlen(v);
    if (n < CIPHER_MIN_KEY_BYTES || n > CIPHER_MAX_KEY_BYTES)
        return lb_error_setc(LB_EINVALID, "%s: the key must be %d..%d bytes", env,
                             CIPHER_MIN_KEY_BYTES, CIPHER_MAX_KEY_BYTES);
    *out = (unsigned char *)lb_strdup(v);
    *out_len = n;
    return 0;
}

/* What pg-restore and archive-restore share: exactly one of --key and
 * --latest-under, and the --manifest mode. 0, or LB_EINVALID naming the flag. */
static int source_flags(pgjob_manifest_mode *out, const flags *f)
{
    if ((f->key == NULL) == (f->latest_under == NULL))
        return lb_error_setc(LB_EINVALID, "exactly one of --key and --latest-under is required");
    if (strcmp(f->manifest, "required") == 0)
        *out = PGJOB_MANIFEST_REQUIRED;
    else if (strcmp(f->manifest, "optional") == 0)
        *out = PGJOB_MANIFEST_OPTIONAL;
    else if (strcmp(f->manifest, "none") == 0)
        *out = PGJOB_MANIFEST_NONE;
    else
        return lb_error_setc(LB_EINVALID, "--manifest must be required, optional or none");
    return 0;
}

/* --work-dir, else $LIFEBOAT_WORK_DIR, else /tmp. */
static const char *work_dir_of(const flags *f)
{
    if (f->work_dir != NULL)
        return f->work_dir;
    return getenv(ENV_WORK_DIR) != NULL ? getenv(ENV_WORK_DIR) : "/tmp";
}

static int cmd_pg_restore(int argc, char **argv)
{
    flags f;
    pgjob_restore_opts o = {0};
    aws_client *c = NULL;
    unsigned char *key = NULL;
    size_t key_len = 0;
    char *url = NULL;
    json_t *result = NULL;
    int rc;

    if (parse_flags(&f, argc, argv) != 0)
        return bad_input(lb_error_last());
    if (source_flags(&o.manifest, &f) != 0)
        return bad_input(lb_error_last());
    /* --verify-only (the prepare Job) needs no database. */
    bool need_url = !f.verify_only || f.db_url_file != NULL || getenv(ENV_DB_URL) != NULL;
    if (load_key(&key, &key_len, f.key_file, ENV_DECRYPTION_KEY) != 0 ||
        (need_url && pgconn_url_load(&url, f.db_url_file, ENV_DB_URL) != 0) ||
        aws_client_new_from_env(&c) != 0) {
        rc = LB_EINVALID;
        result = json_pack("{s:s, s:s}", "result", "failed", "error", lb_error_last());
        goto done;
    }
    o.bucket = f.bucket;
    o.key = f.key;
    o.latest_under = f.latest_under;
    o.manifest_key = f.manifest_key;
    o.decryption_key = key;
    o.decryption_key_len = key_len;
    o.db_url = url;
    if (f.recreate && f.create) {
        rc = lb_error_setc(LB_EINVALID,
                           "--recreate-database and --create-database cannot both be given");
        result = json_pack("{s:s, s:s}", "result", "failed", "error", lb_error_last());
        goto done;
    }
    o.recreate_database = f.recreate;
    o.create_database = f.create;
    memcpy(o.tables, f.tables, sizeof(f.tables));
    o.ntables = f.ntables;
    o.jobs = f.jobs;
    o.work_dir = work_dir_of(&f);
    o.verify_only = f.verify_only;
    o.secret_env = secret_env;
    rc = pgjob_restore(&result, c, &o);
    if (rc != 0)
        LB_LOG_ERROR("pg-restore failed", "error", lb_error_last());
    else
        LB_LOG_INFO(f.verify_only ? "pg-restore verified" : "pg-restore done");
done:
    aws_client_free(c);
    cipher_key_free(key, key_len);
    if (url != NULL) {
        lb_free_secret(url);
    }
    return finish(result, rc);
}

static int cmd_pg_backup(int argc, char **argv)
{
    flags f;
    pgjob_backup_opts o = {0};
    aws_client *c = NULL;
    unsigned char *key = NULL;
    size_t key_len = 0;
    char *url = NULL;
    json_t *result = NULL;
    int rc;

    if (parse_flags(&f, argc, argv) != 0)
        return bad_input(lb_error_last());
    if ((f.key == NULL) == (f.prefix == NULL))
        return bad_input("exactly one of --key and --prefix is required");
    if (load_key(&key, &key_len, f.key_file, ENV_ENCRYPTION_KEY) != 0 ||
        pgconn_url_load(&url, f.db_url_file, ENV_DB_URL) != 0 || aws_client_new_from_env(&c) != 0) {
        rc = LB_EINVALID;
        result = json_pack("{s:s, s:s}", "result", "failed", "error", lb_error_last());
        goto done;
    }
    if (key == NULL && !f.no_encryption) {
        rc = lb_error_setc(LB_EINVALID,
                           "an encryption key is required: --key-file or $%s "
                           "(or --no-encryption)",
                           ENV_ENCRYPTION_KEY);
        result = json_pack("{s:s, s:s}", "result", "failed", "error", lb_error_last());
        goto done;
    }
    o.bucket = f.bucket;
    o.key = f.key;
    o.prefix = f.prefix;
    o.encryption_key = f.no_encryption ? NULL : key;
    o.encryption_key_len = key_len;
    o.allow_plaintext = f.no_encryption;
    o.db_url = url;
    o.part_size = (size_t)f.part_size_mib * 1024 * 1024;
    o.compress_level = f.compress_level;
    o.compress_in_dump = f.compress_in_dump;
    o.compress_threads = f.compress_threads;
    o.secret_env = secret_env;
    rc = pgjob_backup(&result, c, &o);
    if (rc != 0)
        LB_LOG_ERROR("pg-backup failed", "error", lb_error_last());
    else
        LB_LOG_INFO("pg-backup done");
done:
    aws_client_free(c);
    cipher_key_free(key, key_len);
    if (url != NULL) {
        lb_free_secret(url);
    }
    return finish(result, rc);
}

static int cmd_archive_restore(int argc, char **argv)
{
    flags f;
    pgjob_archive_opts o = {0};
    aws_client *c = NULL;
    unsigned char *key = NULL;
    size_t key_len = 0;
    json_t *result = NULL;
    int rc;

    if (parse_flags(&f, argc, argv) != 0)
        return bad_input(lb_error_last());
    if (source_flags(&o.manifest, &f) != 0)
        return bad_input(lb_error_last());
    if (f.target == NULL && !f.verify_only)
        return bad_input("--target (the directory to extract into) is required");
    if (load_key(&key, &key_len, f.key_file, ENV_DECRYPTION_KEY) != 0 ||
        aws_client_new_from_env(&c) != 0) {
        rc = LB_EINVALID;
        result = json_pack("{s:s, s:s}", "result", "failed", "error", lb_error_last());
        goto done;
    }
    o.bucket = f.bucket;
    o.key = f.key;
    o.latest_under = f.latest_under;
    o.decryption_key = key;
    o.decryption_key_len = key_len;
    o.target = f.target;
    o.verify_only = f.verify_only;
    o.work_dir = work_dir_of(&f);
    rc = pgjob_archive_restore(&result, c, &o);
    if (rc != 0)
        LB_LOG_ERROR("archive-restore failed", "error", lb_error_last());
    else
        LB_LOG_INFO(f.verify_only ? "archive-restore verified" : "archive-restore done");
done:
    aws_client_free(c);
    cipher_key_free(key, key_len);
    return finish(result, rc);
}

/* "I/N" into index and count; 0 or -1 (the message names the flag). */
static int parse_shard(unsigned *index, unsigned *count, const char *s, const char *what)
{
    unsigned i = 0, n = 0;
    char tail = 0;
    if (sscanf(s, "%u/%u%c", &i, &n, &tail) != 2 || n == 0 || n > 100000 || i >= n)
        return lb_error_setc(LB_EINVALID, "%s must be INDEX/COUNT with 0 <= INDEX < COUNT <= "
                                          "100000, got \"%s\"",
                             what, s);
    *index = i;
    *count = n;
    return 0;
}

static int cmd_s3_sync(int argc, char **argv)
{
    flags f;
    s3sync_opts o = {0};
    s3sync_result r;
    aws_client *c = NULL;
    aws_region_pair cl;
    json_t *result;
    int rc;

    if (parse_flags(&f, argc, argv) != 0)
        return bad_input(lb_error_last());
    if (f.source_bucket == NULL || f.target_bucket == NULL)
        return bad_input("--source-bucket and --target-bucket are required");
    if (strcmp(f.source_bucket, f.target_bucket) == 0)
        return bad_input("--source-bucket and --target-bucket must differ");
    if (f.shard != NULL) {
        if (parse_shard(&o.shard_index, &o.shard_count, f.shard, "--shard") != 0)
            return bad_input(lb_error_last());
    } else if (getenv("JOB_COMPLETION_INDEX") != NULL && getenv("LIFEBOAT_SHARDS") != NULL) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%s/%s", getenv("JOB_COMPLETION_INDEX"),
                 getenv("LIFEBOAT_SHARDS"));
        if (parse_shard(&o.shard_index, &o.shard_count, buf,
                        "$JOB_COMPLETION_INDEX/$LIFEBOAT_SHARDS") != 0)
            return bad_input(lb_error_last());
    }
    if (aws_client_new_from_env(&c) != 0)
        return finish(json_pack("{s:s, s:s}", "result", "failed", "error", lb_error_last()), 1);
    if (aws_region_pair_open(&cl, c, f.source_region, f.target_region) != 0) {
        result = json_pack("{s:s, s:s}", "result", "failed", "error", lb_error_last());
        aws_client_free(c);
        return finish(result, 1);
    }
    o.src_bucket = f.source_bucket;
    o.dst_bucket = f.target_bucket;
    o.prefix = f.prefix;
    o.delete_extraneous = f.delete_extra;
    o.concurrency = f.concurrency;
    rc = s3sync_run(&r, &cl, &o);
    result = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "result",
                       rc == 0 ? "succeeded" : "failed", "objects", (json_int_t)r.objects,
                       "bytes", (json_int_t)r.bytes, "copied", (json_int_t)r.copied,
                       "copiedBytes", (json_int_t)r.copied_bytes, "deleted",
                       (json_int_t)r.deleted, "checkedByContent", (json_int_t)r.checked,
                       "extraneousKept", (json_int_t)r.extra_kept);
    if (rc != 0) {
        json_object_set_new(result, "error", json_string(lb_error_last()));
        LB_LOG_ERROR("s3-sync failed", "error", lb_error_last());
    } else {
        LB_LOG_INFO("s3-sync done");
    }
    aws_region_pair_close(&cl);
    aws_client_free(c);
    return finish(result, rc);
}

int main(int argc, char **argv)
{
    if (lb_process_harden() != 0) {
        fprintf(stderr, "lifeboat-agent: %s\n", lb_error_last());
        return 1;
    }
    /* Secret values arrive as JSON: wipe every jansson block when it is freed */
    json_set_alloc_funcs(malloc, lb_wipe_free);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("lifeboat-agent %s\n", LIFEBOAT_VERSION);
        return 0;
    }
    /* A loader that exits early must fail our write, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    lb_log_init(stderr, LB_LOG_LEVEL_INFO, LB_LOG_FORMAT_TEXT);
    if (strcmp(argv[1], "pg-restore") == 0)
        return cmd_pg_restore(argc, argv);
    if (strcmp(argv[1], "pg-backup") == 0)
        return cmd_pg_backup(argc, argv);
    if (strcmp(argv[1], "archive-restore") == 0)
        return cmd_archive_restore(argc, argv);
    if (strcmp(argv[1], "s3-sync") == 0)
        return cmd_s3_sync(argc, argv);
    fprintf(stderr, "lifeboat-agent: unknown command '%s' (see --help)\n", argv[1]);
    return 2;
}
