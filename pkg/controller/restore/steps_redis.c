/* restore/steps_redis.c - the redisRDB source (runbook 000 2A, done right under AOF).
 *
 * Plan (plan.h): validate, download, checksum | install D, restart D, check-keys.
 *
 * Everything in the pod goes through exec (kube/exec.h) and the pod's own
 * redis-cli and sh (redis/pod.h says why). State that must survive a crash of
 * the operator lives in the pod's data directory, next to the data it is
 * about, under names carrying the RestoreRequest's uid:
 *
 *   .lifeboat-<uid>.rdb.part   the stream being written (download)
 *   .lifeboat-<uid>.rdb        the downloaded file, sha256-checked (checksum)
 *   .lifeboat-new-<uid>/       AOF mode: the new AOF directory being built
 *   .lifeboat-prev-<uid>/      what install replaced, for undo: the previous
 *                              dbfilename (or "absent"), or the previous AOF
 *                              directory; "keys-before"; "method"; "done".
 *                              Created whole (built as .part, then renamed).
 *
 * Install method, from CONFIG GET (DESIGN.md section 4, Redis):
 *   appendonly no               "rdb": the file replaces <dbfilename>;
 *   appendonly yes, Redis >= 7  "aof-base": a new <appenddirname> holding only
 *                               <appendfilename>.1.base.rdb (the file) and the
 *                               manifest "file <that> seq 1 type b" replaces
 *                               the current one (which moves into prev/);
 *   appendonly yes, Redis < 7   refused (NotSupported): the single-file AOF
 *                               path has not been verified.
 * Copying dump.rdb under appendonly yes (the runbook's procedure) changes
 * nothing: Redis loads the AOF. Before touching files, install turns off
 * Redis's own writes of them until the restart (CONFIG SET save "" and
 * auto-aof-rewrite-percentage 0, and waits while a save or rewrite runs), so
 * neither a scheduled save nor the save at shutdown overwrites the installed
 * file; the restart brings back the pod's configured settings. When install
 * stops before it replaced anything (the temp file is gone, a save is
 * running), it sets the two settings back as they were.
 *
 * Prepare streams the object from S3 (ranged GETs, REDIS_RDB_CHUNK_BYTES at a
 * time, pulled by exec's flow control) straight into the pod; the operator
 * hashes it on the way and the pod's sha256sum must match the backup's
 * manifest. redis-check-rdb (in every Redis image) then reads the file: an RDB
 * Redis would refuse is refused in prepare, with nothing live touched.
 */
#include "step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "agent/latest.h"
#include "api/common.h"
#include "aws/s3.h"
#include "controller/restore/engine.h"
#include "redis/pod.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#define REDIS_RDB_MAX_STREAM_BYTES (2ll << 30) /* above: a Job would stream it (not built) */
#define REDIS_RDB_CHUNK_BYTES      (4u << 20)  /* one ranged GET */
#define REDIS_STEP_POLL_MS         1000
#define REDIS_RESTART_DEADLINE_S   300 /* restart (and its undo) must be ready within this */
#define REDIS_CHECK_DEADLINE_S     300 /* check-keys waits this long for Redis to serve */
#define REDIS_SCAN_TIMEOUT_MS      120000
#define REDIS_SCRIPT_TIMEOUT_MS    120000
#define ANN_RESTARTED_AT           "kubectl.kubernetes.io/restartedAt"

/* steps_kube.c */
int steps_kube__rollout_check(const json_t *obj, const char *kind, char *msg, size_t size);

/* ---- the item, the pod and the source ---------------------------------------------------- */

typedef struct redis_item {
    const char *bucket;
    char *key;          /* resolved (latestUnder -> the newest object) */
    const char *sts;    /* target.statefulSet */
    char pod_name[320]; /* target.pod, default <sts>-0 */
    char *container;
    const char *uid;
    redis_pod pod;
    redis_config cfg;
    int have_cfg;
    const char *method; /* "rdb" | "aof-base" */
    char tmp[128];      /* .lifeboat-<uid>.rdb */
} redis_item;

static void item_dispose(redis_item *it)
{
    free(it->key);
    free(it->container);
    if (it->have_cfg)
        redis_config_dispose(&it->cfg);
    memset(it, 0, sizeof(*it));
}

static const json_t *src_of(const step_ctx *ctx)
{
    return ctx->item->source_spec;
}

static const char *rr_ns(const step_ctx *ctx)
{
    return api_get_str(json_object_get(ctx->rr, "metadata"), "namespace");
}

/* Fills the names; no I/O. */
static int item_names(redis_item *it, step_result *out, const step_ctx *ctx)
{
    const json_t *src = src_of(ctx);
    const json_t *target = json_object_get(src, "target");
    const char *pod = api_get_str(target, "pod");

    memset(it, 0, sizeof(*it));
    it->bucket = api_get_str(json_object_get(src, "source"), "bucket");
    it->sts = api_get_str(target, "statefulSet");
    it->uid = api_get_str(json_object_get(ctx->rr, "metadata"), "uid");
    if (it->bucket == NULL || it->sts == NULL || it->uid == NULL) {
        step_failed(out, "InvalidSpec",
                    "redisRDB: source.bucket and target.statefulSet are required");
        return 1;
    }
    snprintf(it->pod_name, sizeof(it->pod_name), "%s", pod ? pod : "");
    if (pod == NULL)
        snprintf(it->pod_name, sizeof(it->pod_name), "%s-0", it->sts);
    if (api_get_str(target, "container") != NULL)
        it->container = lb_strdup(api_get_str(target, "container"));
    snprintf(it->tmp, sizeof(it->tmp), ".lifeboat-%s.rdb", it->uid);
    it->pod.namespace = rr_ns(ctx);
    it->pod.pod = it->pod_name;
    return 0;
}

/* GETs the pod, picks the container and port. 1 when the step failed (out set). */
static int item_pod(redis_item *it, step_result *out, const step_ctx *ctx, json_t **pod_out)
{
    kube_ref ref = {"", "v1", "pods", rr_ns(ctx), it->pod_name, NULL};
    json_t *pod = NULL;
    int rc = kube_get(&pod, ctx->kube, &ref);

    if (pod_out != NULL)
        *pod_out = NULL;
    if (rc == LB_ENOTFOUND) {
        step_failed(out, "InvalidTarget", "redisRDB: pod %s/%s not found", rr_ns(ctx),
                    it->pod_name);
        return 1;
    }
    if (rc != 0)
        return rc;
    if (it->container == NULL) {
        const json_t *cs = json_object_get(json_object_get(pod, "spec"), "containers"), *c;
        size_t i;
        json_array_foreach(cs, i, c)
        {
            const char *n = api_get_str(c, "name");
            if (n != NULL && (it->container == NULL || strcmp(n, "redis") == 0)) {
                free(it->container);
                it->container = lb_strdup(n);
            }
        }
    }
    it->pod.container = it->container;
    it->pod.port = redis_pod_port_of(pod, it->container);
    if (pod_out != NULL)
        *pod_out = pod;
    else
        json_decref(pod);
    return 0;
}

/* CONFIG GET and the install method. 1 when the step failed (out set). */
static int item_config(redis_item *it, step_result *out, const step_ctx *ctx)
{
    const char *data_dir = api_get_str(json_object_get(src_of(ctx), "target"), "dataDir");
    int rc = redis_pod_config(&it->cfg, ctx->kube, &it->pod);

    if (rc != 0)
        return rc;
    it->have_cfg = 1;
    if (data_dir != NULL && strcmp(data_dir, it->cfg.dir) != 0) {
        step_failed(out, "ConfigMismatch",
                    "redisRDB: target.dataDir is %s but Redis in pod %s says CONFIG GET dir %s",
                    data_dir, it->pod_name, it->cfg.dir);
        return 1;
    }
    if (strcmp(it->cfg.appendonly, "no") == 0) {
        it->method = "rdb";
    } else if (it->cfg.appenddirname != NULL && it->cfg.appenddirname[0] != '\0') {
        it->method = "aof-base";
    } else {
        step_failed(out, "NotSupported",
                    "redisRDB: Redis %s in pod %s runs appendonly yes with a single AOF file "
                    "(before Redis 7); installing an RDB under it has not been verified, so "
                    "Lifeboat refuses rather than silently keeping the current data",
                    it->cfg.version ? it->cfg.version : "?", it->pod_name);
        return 1;
    }
    return 0;
}

static const char *method_words(const redis_item *it, char *buf, size_t size)
{
    if (strcmp(it->method, "rdb") == 0)
        snprintf(buf, size, "replacing %s (appendonly no)", it->cfg.dbfilename);
    else
        snprintf(buf, size,
                 "installing it as the AOF base %s/%s.1.base.rdb with a new manifest "
                 "(appendonly yes, multi-part AOF)",
                 it->cfg.appenddirname, it->cfg.appendfilename);
    return buf;
}

/* The object key: spec.source.key, or what validate resolved (outputs[].location). */
static int item_key(redis_item *it, step_result *out, const step_ctx *ctx)
{
    const json_t *s = json_object_get(src_of(ctx), "source");
    const json_t *o = step_item_output(ctx);
    const char *loc = o ? api_get_str(o, "location") : NULL;
    char prefix[128];

    if (api_get_str(s, "key") != NULL) {
        it->key = lb_strdup(api_get_str(s, "key"));
        return 0;
    }
    snprintf(prefix, sizeof(prefix), "s3://%s/", it->bucket);
    if (loc == NULL || strncmp(loc, prefix, strlen(prefix)) != 0) {
        step_failed(out, "MissingState",
                    "redisRDB: the object validate chose under latestUnder is not recorded in "
                    "status.outputs");
        return 1;
    }
    it->key = lb_strdup(loc + strlen(prefix));
    return 0;
}

/* ---- the manifest ------------------------------------------------------------------------ */

typedef struct manifest {
    int present;
    char sha256[65];
    long long size;
    long long keys; /* -1 when not given */
} manifest;

static int collect(const char *data, size_t len, void *payload)
{
    return buf_append(payload, data, len) == 0 ? 0 : 1;
}

static int is_hex64(const char *s)
{
    if (s == NULL || strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Reads <key>.manifest.json. 1 when the step failed (out set). */
static int read_manifest(manifest *m, step_result *out, const step_ctx *ctx, const redis_item *it)
{
    char *mkey = lb_sprintf("%s.manifest.json", it->key);
    lb_buf b;
    json_t *j = NULL;
    json_error_t jerr;
    int rc, result = 0;
    const char *sha;

    memset(m, 0, sizeof(*m));
    m->keys = -1;
    buf_init(&b, REDIS_MANIFEST_MAX_BYTES);
    rc = s3_get_object(NULL, ctx->aws, it->bucket, mkey, NULL, NULL, collect, &b);
    if (rc == LB_ENOTFOUND)
        goto done;
    if (rc != 0) {
        result = buf_len(&b) >= REDIS_MANIFEST_MAX_BYTES
                     ? (step_failed(out, "InvalidManifest",
                                    "s3://%s/%s is larger than REDIS_MANIFEST_MAX_BYTES",
                                    it->bucket, mkey),
                        1)
                     : rc;
        goto done;
    }
    j = json_loadb(buf_cstr(&b), buf_len(&b), 0, &jerr);
    sha = j ? api_get_str(j, "sha256") : NULL;
    if (!json_is_object(j) || !is_hex64(sha) || !json_is_integer(json_object_get(j, "sizeBytes"))) {
        step_failed(out, "InvalidManifest",
                    "s3://%s/%s: expected a JSON object with sha256 (64 lower-case hex digits) "
                    "and sizeBytes (integer)",
                    it->bucket, mkey);
        result = 1;
        goto done;
    }
    m->present = 1;
    snprintf(m->sha256, sizeof(m->sha256), "%s", sha);
    m->size = json_integer_value(json_object_get(j, "sizeBytes"));
    if (json_is_integer(json_object_get(j, "keys")))
        m->keys = json_integer_value(json_object_get(j, "keys"));
done:
    json_decref(j);
    buf_dispose(&b);
    free(mkey);
    return result;
}

/* HEAD + manifest, with the size rules. 1 when the step failed (out set). */
static int source_info(long long *size, manifest *m, step_result *out, const step_ctx *ctx,
                       const redis_item *it)
{
    s3_object_info info;
    int rc = s3_head_object(&info, ctx->aws, it->bucket, it->key, NULL);

    if (rc == LB_ENOTFOUND) {
        step_failed(out, "SourceNotFound", "redisRDB: s3://%s/%s does not exist", it->bucket,
                    it->key);
        return 1;
    }
    if (rc != 0)
        return rc;
    *size = info.size;
    s3_object_info_dispose(&info);
    if (*size <= 0) {
        step_failed(out, "EmptyBackup", "redisRDB: s3://%s/%s is empty", it->bucket, it->key);
        return 1;
    }
    if (*size > REDIS_RDB_MAX_STREAM_BYTES) {
        step_failed(out, "NotSupported",
                    "redisRDB: s3://%s/%s has %lld bytes, above REDIS_RDB_MAX_STREAM_BYTES (%lld) "
                    "that the operator streams itself; streaming through a Job is not built",
                    it->bucket, it->key, *size, (long long)REDIS_RDB_MAX_STREAM_BYTES);
        return 1;
    }
    rc = read_manifest(m, out, ctx, it);
    if (rc != 0)
        return rc;
    if (m->present && m->size != *size) {
        step_failed(out, "ManifestMismatch",
                    "redisRDB: s3://%s/%s has %lld bytes but its manifest says sizeBytes %lld",
                    it->bucket, it->key, *size, m->size);
        return 1;
    }
    return 0;
}

/* ---- scripts run in the pod -------------------------------------------------------------- */

/* Runs a script; out->exit_code etc. in *r. */
static int pod_sh(kube_exec_result *r, const step_ctx *ctx, const redis_item *it,
                  const char *script, const char *const *args, size_t n)
{
    return redis_pod_sh(r, ctx->kube, &it->pod, script, args, n, REDIS_SCRIPT_TIMEOUT_MS);
}

static const char *trim(char *s)
{
    size_t n;
    if (s == NULL)
        return "";
    n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
    return s;
}

/* Prints the free KiB of the data dir and which tools exist. */
static const char TOOLS_SCRIPT[] =
    "cd \"$1\" || exit 3\n"
    "for t in sha256sum head mv cp wc; do command -v $t >/dev/null || { echo \"missing $t\" >&2; "
    "exit 3; }; done\n"
    "echo \"free=$(df -Pk . | tail -n 1 | awk '{print $4}')\"\n"
    "command -v redis-check-rdb >/dev/null && echo check=yes || echo check=no\n";

/* 0 and the size of the temp file, or "none". */
static const char STAT_SCRIPT[] =
    "cd \"$1\" || exit 3\n"
    "if [ -f \"$2\" ]; then wc -c < \"$2\" | tr -d ' '; else echo none; fi\n";

static const char RECEIVE_SCRIPT[] =
    "set -e\n"
    "cd \"$1\"\n"
    "rm -f \"$2.part\"\n"
    "head -c \"$3\" > \"$2.part\"\n"
    "n=$(wc -c < \"$2.part\" | tr -d ' ')\n"
    "if [ \"$n\" != \"$3\" ]; then rm -f \"$2.part\"; echo \"short write: $n of $3 bytes\" >&2; "
    "exit 3; fi\n"
    "mv \"$2.part\" \"$2\"\n";

static const char REMOVE_TMP_SCRIPT[] = "cd \"$1\" && rm -f \"$2\" \"$2.part\"\n";

static const char CHECK_SCRIPT[] =
    "cd \"$1\" || exit 3\n"
    "[ -f \"$2\" ] || exit 4\n"
    "echo \"sha=$(sha256sum \"$2\" | cut -d' ' -f1)\"\n"
    "if command -v redis-check-rdb >/dev/null; then\n"
    "  out=$(redis-check-rdb \"$2\" 2>&1); rc=$?\n"
    "  echo \"check=$rc\"\n"
    "  echo \"keys=$(echo \"$out\" | sed -n 's/^\\[info\\] \\([0-9]*\\) keys read.*/\\1/p')\"\n"
    "  [ $rc = 0 ] || echo \"$out\" | grep -v '^\\[info\\]' | tail -n 3 >&2\n"
    "else echo check=absent; fi\n";

/* args: dir uid method dbfilename appenddirname appendfilename port keys-before */
static const char INSTALL_SCRIPT[] =
    "set -e\n"
    "cd \"$1\"; u=$2; m=$3; F=$4; A=$5; AF=$6; p=$7; kb=$8\n"
    "T=.lifeboat-$u.rdb; P=.lifeboat-prev-$u; N=.lifeboat-new-$u\n"
    "c() { redis-cli -p \"$p\" --no-auth-warning \"$@\"; }\n"
    "if [ -e \"$P/done\" ]; then echo \"installed $(cat \"$P/keys-before\")\"; exit 0; fi\n"
    "for o in .lifeboat-prev-*; do\n"
    "  if [ -e \"$o\" ] && [ \"$o\" != \"$P\" ]; then rm -rf \"$o\"; fi\n"
    "done\n"
    "sv=$(c CONFIG GET save | sed -n 2p); ar=$(c CONFIG GET auto-aof-rewrite-percentage | "
    "sed -n 2p)\n"
    "live=0\n"
    "trap '[ $live = 1 ] || { c CONFIG SET save \"$sv\"; c CONFIG SET "
    "auto-aof-rewrite-percentage \"$ar\"; } >/dev/null' EXIT\n"
    "c CONFIG SET save '' >/dev/null\n"
    "if [ \"$m\" = aof-base ]; then c CONFIG SET auto-aof-rewrite-percentage 0 >/dev/null; fi\n"
    "i=$(c INFO persistence | tr -d '\\r')\n"
    "case \"$i\" in *rdb_bgsave_in_progress:1*|*aof_rewrite_in_progress:1*)\n"
    "  echo 'a background save or AOF rewrite is running' >&2; exit 75;; esac\n"
    "if [ ! -d \"$P\" ]; then\n"
    "  [ -f \"$T\" ] || { echo \"the checked file $T is missing\" >&2; exit 4; }\n"
    "  rm -rf \"$P.part\" \"$N\" \"$N.part\"; mkdir \"$P.part\"\n"
    "  echo \"$kb\" > \"$P.part/keys-before\"; echo \"$m\" > \"$P.part/method\"\n"
    "  if [ \"$m\" = rdb ]; then\n"
    "    if [ -f \"$F\" ]; then cp -p \"$F\" \"$P.part/$F\"; else touch \"$P.part/absent\"; fi\n"
    "  fi\n"
    "  sync; mv \"$P.part\" \"$P\"\n"
    "fi\n"
    "live=1\n"
    "if [ \"$m\" = rdb ]; then\n"
    "  if [ -f \"$T\" ]; then mv -f \"$T\" \"$F\"; fi\n"
    "else\n"
    "  if [ ! -e \"$P/$A\" ] && [ ! -e \"$P/aof-absent\" ] && [ ! -d \"$N\" ]; then\n"
    "    [ -f \"$T\" ] || { echo \"the checked file $T is missing\" >&2; exit 4; }\n"
    "    mkdir \"$N.part\"; cp \"$T\" \"$N.part/$AF.1.base.rdb\"\n"
    "    printf 'file %s seq 1 type b\\n' \"$AF.1.base.rdb\" > \"$N.part/$AF.manifest\"\n"
    "    sync; mv \"$N.part\" \"$N\"\n"
    "  fi\n"
    "  if [ ! -e \"$P/$A\" ] && [ ! -e \"$P/aof-absent\" ]; then\n"
    "    if [ -d \"$A\" ]; then mv \"$A\" \"$P/$A\"; else touch \"$P/aof-absent\"; fi\n"
    "  fi\n"
    "  if [ -d \"$N\" ]; then mv \"$N\" \"$A\"; fi\n"
    "  rm -f \"$T\"\n"
    "fi\n"
    "sync; touch \"$P/done\"\n"
    "echo \"installed $(cat \"$P/keys-before\")\"\n";

/* args: dir uid method dbfilename appenddirname port */
static const char UNDO_SCRIPT[] =
    "set -e\n"
    "cd \"$1\"; u=$2; m=$3; F=$4; A=$5; p=$6\n"
    "T=.lifeboat-$u.rdb; P=.lifeboat-prev-$u; N=.lifeboat-new-$u\n"
    "c() { redis-cli -p \"$p\" --no-auth-warning \"$@\"; }\n"
    "rm -rf \"$N\" \"$N.part\" \"$T\" \"$T.part\" \"$P.part\"\n"
    "if [ ! -d \"$P\" ]; then echo nothing; exit 0; fi\n"
    "c CONFIG SET save '' >/dev/null\n"
    "if [ \"$m\" = aof-base ]; then c CONFIG SET auto-aof-rewrite-percentage 0 >/dev/null; fi\n"
    "i=$(c INFO persistence | tr -d '\\r')\n"
    "case \"$i\" in *rdb_bgsave_in_progress:1*|*aof_rewrite_in_progress:1*)\n"
    "  echo 'a background save or AOF rewrite is running' >&2; exit 75;; esac\n"
    "if [ \"$m\" = rdb ]; then\n"
    "  if [ -e \"$P/absent\" ]; then rm -f \"$F\";\n"
    "  elif [ -f \"$P/$F\" ]; then cp -p \"$P/$F\" \"$F.lifeboat-undo\"; mv -f "
    "\"$F.lifeboat-undo\" "
    "\"$F\"; fi\n"
    "else\n"
    "  if [ -d \"$P/$A\" ]; then\n"
    "    if [ -d \"$A\" ]; then rm -rf \"$A.lifeboat-undo\"; mv \"$A\" \"$A.lifeboat-undo\"; fi\n"
    "    mv \"$P/$A\" \"$A\"\n"
    "  elif [ -e \"$P/aof-absent\" ] && [ -d \"$A\" ]; then\n"
    "    rm -rf \"$A.lifeboat-undo\"; mv \"$A\" \"$A.lifeboat-undo\"\n"
    "  fi\n"
    "  rm -rf \"$A.lifeboat-undo\"\n"
    "fi\n"
    "sync; rm -rf \"$P\"\n"
    "echo undone\n";

static const char PREV_SCRIPT[] =
    "cd \"$1\" || exit 3\n"
    "P=.lifeboat-prev-$2\n"
    "if [ -f \"$P/keys-before\" ]; then echo \"before=$(cat \"$P/keys-before\")\"; fi\n";

/* Removes the temp files after a prepare failure; best effort. */
static void remove_tmp(const step_ctx *ctx, const redis_item *it)
{
    kube_exec_result r;
    const char *args[2] = {it->cfg.dir, it->tmp};
    if (pod_sh(&r, ctx, it, REMOVE_TMP_SCRIPT, args, 2) == 0)
        kube_exec_result_dispose(&r);
}

/* Loads the names, the pod and the config: what every step needs. 1: failed (out set). */
static int item_load(redis_item *it, step_result *out, const step_ctx *ctx, int need_key)
{
    int rc;
    memset(it, 0, sizeof(*it));
    if (ctx->item == NULL)
        return step_failed(out, "InvalidStep", "redisRDB step without an item"), 1;
    rc = item_names(it, out, ctx);
    if (rc == 0)
        rc = item_pod(it, out, ctx, NULL);
    if (rc == 0)
        rc = item_config(it, out, ctx);
    if (rc == 0 && need_key) {
        if (ctx->aws == NULL)
            return step_failed(out, "NoAWS", "redisRDB needs AWS access to read the backup"), 1;
        rc = item_key(it, out, ctx);
    }
    return rc;
}

/* ---- validate ------------------------------------------------------------------------------ */

static int owned_by_sts(const json_t *pod, const char *sts)
{
    const json_t *refs = json_object_get(json_object_get(pod, "metadata"), "ownerReferences"), *r;
    size_t i;
    json_array_foreach(refs, i, r)
    {
        const char *k = api_get_str(r, "kind"), *n = api_get_str(r, "name");
        if (k && n && strcmp(k, "StatefulSet") == 0 && strcmp(n, sts) == 0)
            return 1;
    }
    return 0;
}

int redis_step_validate(step_result *out, const step_ctx *ctx)
{
    redis_item it;
    manifest m;
    kube_exec_result r;
    json_t *pod = NULL, *sts = NULL;
    kube_ref sref;
    long long size = 0, free_kib = -1;
    char words[256];
    const char *latest;
    int rc, check = 0;

    memset(&r, 0, sizeof(r));
    if (ctx->item == NULL)
        return step_failed(out, "InvalidStep", "redisRDB step without an item");
    if (ctx->aws == NULL)
        return step_failed(out, "NoAWS", "redisRDB needs AWS access to read the backup");
    rc = item_names(&it, out, ctx);
    if (rc != 0)
        goto done;
    sref = (kube_ref){"apps", "v1", "statefulsets", rr_ns(ctx), it.sts, NULL};
    rc = kube_get(&sts, ctx->kube, &sref);
    if (rc == LB_ENOTFOUND) {
        rc = step_failed(out, "InvalidTarget", "redisRDB: StatefulSet %s/%s not found", rr_ns(ctx),
                         it.sts);
        goto done;
    }
    if (rc != 0)
        goto done;
    rc = item_pod(&it, out, ctx, &pod);
    if (rc != 0)
        goto done;
    if (!owned_by_sts(pod, it.sts)) {
        rc = step_failed(out, "InvalidTarget", "redisRDB: pod %s is not a pod of StatefulSet %s",
                         it.pod_name, it.sts);
        goto done;
    }
    rc = item_config(&it, out, ctx);
    if (rc != 0)
        goto done;
    {
        const char *args[1] = {it.cfg.dir};
        rc = pod_sh(&r, ctx, &it, TOOLS_SCRIPT, args, 1);
        if (rc != 0)
            goto done;
        if (r.exit_code != 0) {
            rc = step_failed(out, "InvalidTarget", "redisRDB: pod %s cannot run the restore: %s",
                             it.pod_name, trim(r.err));
            goto done;
        }
        if (r.out && strstr(r.out, "free="))
            free_kib = strtoll(strstr(r.out, "free=") + 5, NULL, 10);
        check = r.out && strstr(r.out, "check=yes") != NULL;
    }

    latest = api_get_str(json_object_get(src_of(ctx), "source"), "latestUnder");
    if (latest != NULL) {
        rc = latest_backup_under(&it.key, ctx->aws, it.bucket, latest, false);
        if (rc == LB_ENOTFOUND) {
            rc = step_failed(out, "SourceNotFound", "redisRDB: %s", lb_error_last());
            goto done;
        }
        if (rc != 0)
            goto done;
    } else {
        it.key = lb_strdup(api_get_str(json_object_get(src_of(ctx), "source"), "key"));
    }
    rc = source_info(&size, &m, out, ctx, &it);
    if (rc != 0)
        goto done;
    if (free_kib >= 0 && size * 2 / 1024 + 1024 > free_kib) {
        rc = step_failed(out, "InsufficientSpace",
                         "redisRDB: %s in pod %s has %lld KiB free; the %lld-byte RDB needs twice "
                         "its size (the temp file and the installed copy)",
                         it.cfg.dir, it.pod_name, free_kib, size);
        goto done;
    }
    {
        char *loc = lb_sprintf("s3://%s/%s", it.bucket, it.key);
        step_output_str(out, "location", loc);
        free(loc);
    }
    step_done(out,
              "s3://%s/%s: %lld bytes, %s; pod %s container %s, Redis %s (port %d, dir %s, "
              "appendonly %s); will restore by %s; %s",
              it.bucket, it.key, size,
              m.present ? "sha256 from its manifest" : "no manifest (transfer checked only)",
              it.pod_name, it.container ? it.container : "?", it.cfg.version ? it.cfg.version : "?",
              it.pod.port, it.cfg.dir, it.cfg.appendonly, method_words(&it, words, sizeof(words)),
              check ? "redis-check-rdb will read the file before anything is replaced"
                    : "redis-check-rdb is not in the image, so the file is not test-read");
    rc = 0;
done:
    kube_exec_result_dispose(&r);
    json_decref(pod);
    json_decref(sts);
    item_dispose(&it);
    return rc < 0 ? rc : 0;
}

/* ---- download: S3 -> pod through exec ----------------------------------------------------- */

typedef struct s3_stream {
    const step_ctx *ctx;
    const redis_item *it;
    long long size, offset;
    lb_buf chunk;
    size_t pos;
    EVP_MD_CTX *md;
    int error;
} s3_stream;

static int s3_stream_fill(size_t *n, unsigned char *buf, size_t cap, void *payload)
{
    s3_stream *s = payload;
    size_t have;

    *n = 0;
    if (s->pos == buf_len(&s->chunk)) {
        long long want = s->size - s->offset;
        char range[64];
        int rc;
        if (want <= 0)
            return 0; /* end of stdin */
        if (want > REDIS_RDB_CHUNK_BYTES)
            want = REDIS_RDB_CHUNK_BYTES;
        snprintf(range, sizeof(range), "bytes=%lld-%lld", s->offset, s->offset + want - 1);
        buf_reset(&s->chunk);
        s->pos = 0;
        rc = s3_get_object(NULL, s->ctx->aws, s->it->bucket, s->it->key, NULL, range, collect,
                           &s->chunk);
        if (rc != 0) {
            s->error = rc;
            return rc;
        }
        if ((long long)buf_len(&s->chunk) != want) {
            s->error = lb_error_set("s3://%s/%s: range %s returned %zu bytes", s->it->bucket,
                                    s->it->key, range, buf_len(&s->chunk));
            return s->error;
        }
        EVP_DigestUpdate(s->md, s->chunk.data, buf_len(&s->chunk));
        s->offset += want;
    }
    have = buf_len(&s->chunk) - s->pos;
    *n = have < cap ? have : cap;
    memcpy(buf, s->chunk.data + s->pos, *n);
    s->pos += *n;
    return 0;
}

static void hex_of(char *hex, const unsigned char *d, unsigned int n)
{
    for (unsigned int i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

int redis_step_download(step_result *out, const step_ctx *ctx)
{
    redis_item it;
    manifest m;
    kube_exec_result r;
    long long size = 0;
    char sizes[32], hex[65] = "";
    s3_stream s;
    int rc;

    memset(&r, 0, sizeof(r));
    memset(&s, 0, sizeof(s));
    rc = item_load(&it, out, ctx, 1);
    if (rc == 0)
        rc = source_info(&size, &m, out, ctx, &it);
    if (rc != 0)
        goto done;
    {
        const char *args[2] = {it.cfg.dir, it.tmp};
        rc = pod_sh(&r, ctx, &it, STAT_SCRIPT, args, 2);
        if (rc != 0)
            goto done;
        if (r.exit_code == 0 && r.out && strtoll(r.out, NULL, 10) == size) {
            rc = step_done(out,
                           "%s/%s already holds the %lld bytes of s3://%s/%s (the checksum step "
                           "checks them)",
                           it.cfg.dir, it.tmp, size, it.bucket, it.key);
            goto done;
        }
        kube_exec_result_dispose(&r);
    }
    snprintf(sizes, sizeof(sizes), "%lld", size);
    s.ctx = ctx;
    s.it = &it;
    s.size = size;
    buf_init(&s.chunk, REDIS_RDB_CHUNK_BYTES);
    s.md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(s.md, EVP_sha256(), NULL);
    {
        const char *argv[] = {"sh", "-c", RECEIVE_SCRIPT, "lifeboat", it.cfg.dir, it.tmp, sizes};
        kube_exec_options o;
        memset(&o, 0, sizeof(o));
        o.namespace = it.pod.namespace;
        o.pod = it.pod.pod;
        o.container = it.pod.container;
        o.argv = argv;
        o.argc = 7;
        o.stdin_fn = s3_stream_fill;
        o.stdin_payload = &s;
        o.stdin_max_bytes = (uint64_t)size;
        o.stdout_max_bytes = REDIS_POD_MAX_OUTPUT;
        o.stderr_max_bytes = REDIS_POD_MAX_OUTPUT;
        /* 2 minutes plus 1 s per 4 MiB */
        o.timeout_ms = 120000 + (long)(size / (4 << 20)) * 1000;
        rc = kube_exec(&r, ctx->kube, &o);
    }
    if (rc != 0) {
        if (s.error != 0)
            rc = s.error;
        goto done;
    }
    if (r.exit_code != 0) {
        rc = step_failed(out, "DownloadFailed", "writing %s/%s in pod %s failed (exit %d): %s",
                         it.cfg.dir, it.tmp, it.pod_name, r.exit_code, trim(r.err));
        goto done;
    }
    {
        unsigned char d[32];
        unsigned int dl = 0;
        EVP_DigestFinal_ex(s.md, d, &dl);
        hex_of(hex, d, dl);
    }
    if (m.present && strcmp(hex, m.sha256) != 0) {
        remove_tmp(ctx, &it);
        rc = step_failed(out, "ChecksumMismatch",
                         "s3://%s/%s has sha256 %s but its manifest says %s; the downloaded copy "
                         "was removed and nothing else was touched",
                         it.bucket, it.key, hex, m.sha256);
        goto done;
    }
    rc = step_done(out, "streamed %lld bytes of s3://%s/%s into %s/%s in pod %s (sha256 %s)", size,
                   it.bucket, it.key, it.cfg.dir, it.tmp, it.pod_name, hex);
done:
    if (s.md != NULL)
        EVP_MD_CTX_free(s.md);
    buf_dispose(&s.chunk);
    kube_exec_result_dispose(&r);
    item_dispose(&it);
    return rc < 0 ? rc : 0;
}

/* ---- checksum: sha256sum and redis-check-rdb in the pod ---------------------------------- */

static int hash_cb(const char *data, size_t len, void *payload)
{
    return EVP_DigestUpdate(payload, data, len) == 1 ? 0 : 1;
}

static int s3_sha256(char *hex, const step_ctx *ctx, const redis_item *it)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char d[32];
    unsigned int dl = 0;
    int rc;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    rc = s3_get_object(NULL, ctx->aws, it->bucket, it->key, NULL, NULL, hash_cb, md);
    if (rc == 0) {
        EVP_DigestFinal_ex(md, d, &dl);
        hex_of(hex, d, dl);
    }
    EVP_MD_CTX_free(md);
    return rc;
}

int redis_step_checksum(step_result *out, const step_ctx *ctx)
{
    redis_item it;
    manifest m;
    kube_exec_result r;
    long long size = 0, keys = -1;
    char want[65] = "", got[65] = "";
    char *p;
    int rc;

    memset(&r, 0, sizeof(r));
    rc = item_load(&it, out, ctx, 1);
    if (rc == 0)
        rc = source_info(&size, &m, out, ctx, &it);
    if (rc != 0)
        goto done;
    if (m.present) {
        snprintf(want, sizeof(want), "%s", m.sha256);
    } else {
        rc = s3_sha256(want, ctx, &it);
        if (rc != 0)
            goto done;
    }
    {
        const char *args[2] = {it.cfg.dir, it.tmp};
        rc = pod_sh(&r, ctx, &it, CHECK_SCRIPT, args, 2);
    }
    if (rc != 0)
        goto done;
    if (r.exit_code == 4) {
        rc = step_failed(out, "DownloadMissing",
                         "%s/%s is no longer in pod %s (was the pod's data directory replaced?)",
                         it.cfg.dir, it.tmp, it.pod_name);
        goto done;
    }
    p = r.out ? strstr(r.out, "sha=") : NULL;
    if (r.exit_code != 0 || p == NULL || sscanf(p, "sha=%64s", got) != 1) {
        rc = lb_error_set("sha256sum in pod %s failed (exit %d): %s", it.pod_name, r.exit_code,
                          trim(r.err));
        goto done;
    }
    if (strcmp(got, want) != 0) {
        remove_tmp(ctx, &it);
        rc = step_failed(out, "ChecksumMismatch",
                         "the copy in pod %s has sha256 %s but %s says %s; it was removed and "
                         "nothing else was touched",
                         it.pod_name, got, m.present ? "the manifest" : "the S3 object", want);
        goto done;
    }
    if (strstr(r.out, "check=") != NULL && strstr(r.out, "check=absent") == NULL &&
        strstr(r.out, "check=0") == NULL) {
        char why[512];
        snprintf(why, sizeof(why), "%s", trim(r.err));
        remove_tmp(ctx, &it);
        rc = step_failed(out, "RdbRefused",
                         "redis-check-rdb in pod %s refuses s3://%s/%s (%s); Redis would not load "
                         "it, so nothing was replaced",
                         it.pod_name, it.bucket, it.key, why);
        goto done;
    }
    if ((p = strstr(r.out, "keys=")) != NULL && p[5] >= '0' && p[5] <= '9')
        keys = strtoll(p + 5, NULL, 10);
    if (keys >= 0)
        rc = step_done(out, "sha256 %s matches %s; redis-check-rdb read %lld keys", got,
                       m.present ? "the manifest" : "the S3 object", keys);
    else
        rc = step_done(out, "sha256 %s matches %s", got,
                       m.present ? "the manifest" : "the S3 object");
done:
    kube_exec_result_dispose(&r);
    item_dispose(&it);
    return rc < 0 ? rc : 0;
}

/* ---- install ----------------------------------------------------------------------------- */

int redis_step_install(step_result *out, const step_ctx *ctx)
{
    redis_item it;
    kube_exec_result r;
    int64_t before = 0;
    int trunc = 0, rc;
    char port[16], kb[32], words[256];

    memset(&r, 0, sizeof(r));
    rc = item_load(&it, out, ctx, 0);
    if (rc != 0)
        goto done;
    rc = redis_pod_scan_count(&before, &trunc, ctx->kube, &it.pod, NULL, 0, REDIS_SCAN_TIMEOUT_MS);
    if (rc != 0)
        goto done;
    snprintf(port, sizeof(port), "%d", it.pod.port);
    snprintf(kb, sizeof(kb), "%lld%s", (long long)before, trunc ? "+" : "");
    {
        const char *args[8] = {it.cfg.dir,
                               it.uid,
                               it.method,
                               it.cfg.dbfilename,
                               it.cfg.appenddirname ? it.cfg.appenddirname : "",
                               it.cfg.appendfilename,
                               port,
                               kb};
        rc = pod_sh(&r, ctx, &it, INSTALL_SCRIPT, args, 8);
    }
    if (rc != 0)
        goto done;
    if (r.exit_code == 75) {
        rc = step_wait(out, REDIS_STEP_POLL_MS, "waiting: %s", trim(r.err));
        goto done;
    }
    if (r.exit_code == 4) {
        rc = step_failed(out, "DownloadMissing", "%s", trim(r.err));
        goto done;
    }
    if (r.exit_code != 0) {
        rc = lb_error_set("install in pod %s failed (exit %d): %s", it.pod_name, r.exit_code,
                          trim(r.err));
        goto done;
    }
    rc = step_done(out,
                   "installed the checked RDB in pod %s by %s; the previous files are kept in "
                   "%s/.lifeboat-prev-%s for undo; %s keys before the restart",
                   it.pod_name, method_words(&it, words, sizeof(words)), it.cfg.dir, it.uid,
                   r.out && strncmp(r.out, "installed ", 10) == 0 ? trim(r.out + 10) : kb);
done:
    kube_exec_result_dispose(&r);
    item_dispose(&it);
    return rc < 0 ? rc : 0;
}

/* ---- restart (and the restart of an undo) ------------------------------------------------- */

/* 1 when the pod of the new revision has a container that restarted or crash-loops; msg set. */
static int pod_crashed(const json_t *pod, const char *container, char *msg, size_t size)
{
    const json_t *cs = json_object_get(json_object_get(pod, "status"), "containerStatuses"), *c;
    size_t i;
    json_array_foreach(cs, i, c)
    {
        const char *n = api_get_str(c, "name");
        const json_t *waiting = json_object_get(json_object_get(c, "state"), "waiting");
        const json_t *last = json_object_get(json_object_get(c, "lastState"), "terminated");
        const char *wr = api_get_str(waiting, "reason");
        if (container != NULL && (n == NULL || strcmp(n, container) != 0))
            continue;
        if (api_get_int(c, "restartCount", 0) > 0 || (wr && strcmp(wr, "CrashLoopBackOff") == 0)) {
            snprintf(msg, size,
                     "container %s of pod %s exited after the restart (exit code %lld, %s): "
                     "Redis did not start on the installed data",
                     n ? n : "?", api_get_str(json_object_get(pod, "metadata"), "name"),
                     (long long)api_get_int(last, "exitCode", -1),
                     api_get_str(last, "reason") ? api_get_str(last, "reason") : "no reason");
            return 1;
        }
    }
    return 0;
}

static int restart_sts(step_result *out, const step_ctx *ctx, const redis_item *it,
                       const char *stamp_step)
{
    kube_ref ref = {"apps", "v1", "statefulsets", rr_ns(ctx), it->sts, NULL};
    kube_ref pref = {"", "v1", "pods", rr_ns(ctx), it->pod_name, NULL};
    char stamp[LB_TIME_RFC3339_MAX], msg[512];
    json_t *obj = NULL, *pod = NULL;
    const char *have;
    lb_time t;
    int64_t started_ns = 0, now_ns = 0;
    int rc;

    if (step_started_at(&t, ctx, stamp_step) != 0)
        return step_failed(out, "MissingStartTime", "step %s has no persisted startedAt",
                           stamp_step);
    lb_time_format(stamp, sizeof(stamp), t, 0);
    lb_time_to_ns(&started_ns, t);
    lb_time_to_ns(&now_ns, ctx->now);
    rc = kube_get(&obj, ctx->kube, &ref);
    if (rc == LB_ENOTFOUND)
        return step_failed(out, "InvalidTarget", "StatefulSet %s/%s not found", rr_ns(ctx),
                           it->sts);
    if (rc != 0)
        return rc;
    have = api_get_str(
        json_object_get(
            json_object_get(json_object_get(json_object_get(obj, "spec"), "template"), "metadata"),
            "annotations"),
        ANN_RESTARTED_AT);
    if (have == NULL || strcmp(have, stamp) != 0) {
        json_t *patch = json_pack("{s:{s:{s:{s:{s:s}}}}}", "spec", "template", "metadata",
                                  "annotations", ANN_RESTARTED_AT, stamp);
        char *body = json_dumps(patch, JSON_COMPACT);
        json_t *res = NULL;
        json_decref(patch);
        rc = kube_patch(&res, ctx->kube, &ref, KUBE_PATCH_MERGE, body, strlen(body), NULL);
        free(body);
        json_decref(obj);
        if (rc != 0)
            return lb_error_wrap(rc, "restart StatefulSet %s", it->sts);
        obj = res;
    }
    rc = steps_kube__rollout_check(obj, "StatefulSet", msg, sizeof(msg));
    if (rc < 0) {
        json_decref(obj);
        return step_failed(out, "RestartFailed", "%s", msg);
    }
    if (kube_get(&pod, ctx->kube, &pref) == 0) {
        const char *rev = api_get_str(json_object_get(obj, "status"), "updateRevision");
        const char *prev = api_get_str(json_object_get(json_object_get(pod, "metadata"), "labels"),
                                       "controller-revision-hash");
        char why[512];
        if (rev != NULL && prev != NULL && strcmp(rev, prev) == 0 &&
            pod_crashed(pod, it->container, why, sizeof(why))) {
            json_decref(pod);
            json_decref(obj);
            return step_failed(out, "RestartFailed", "%s", why);
        }
        json_decref(pod);
    }
    json_decref(obj);
    if (rc == 0) {
        if (now_ns - started_ns > (int64_t)REDIS_RESTART_DEADLINE_S * 1000000000LL)
            return step_failed(out, "RestartTimeout",
                               "StatefulSet %s was not ready %d s after the restart at %s: %s",
                               it->sts, REDIS_RESTART_DEADLINE_S, stamp, msg);
        return step_wait(out, REDIS_STEP_POLL_MS, "restarted at %s; %s", stamp, msg);
    }
    return step_done(out, "%s (restartedAt %s)", msg, stamp);
}

/* 1 when the StatefulSet's restartedAt already is the startedAt of step stamp_step. */
static int sts_restarted_for(const step_ctx *ctx, const redis_item *it, const char *stamp_step)
{
    kube_ref ref = {"apps", "v1", "statefulsets", rr_ns(ctx), it->sts, NULL};
    char stamp[LB_TIME_RFC3339_MAX];
    json_t *obj = NULL;
    const char *have;
    lb_time t;
    int yes;

    if (step_started_at(&t, ctx, stamp_step) != 0 || kube_get(&obj, ctx->kube, &ref) != 0)
        return 0;
    lb_time_format(stamp, sizeof(stamp), t, 0);
    have = api_get_str(
        json_object_get(
            json_object_get(json_object_get(json_object_get(obj, "spec"), "template"), "metadata"),
            "annotations"),
        ANN_RESTARTED_AT);
    yes = have != NULL && strcmp(have, stamp) == 0;
    json_decref(obj);
    return yes;
}

int redis_step_restart(step_result *out, const step_ctx *ctx)
{
    redis_item it;
    int rc = item_names(&it, out, ctx);
    if (rc == 0)
        rc = restart_sts(out, ctx, &it, ctx->step->name);
    item_dispose(&it);
    return rc < 0 ? rc : 0;
}

/* The restart's own undo: nothing to do by itself; rollback/<item>/install puts the
 * previous files back and restarts on them (it runs after this, in reverse order). */
int redis_step_restart_undo(step_result *out, const step_ctx *ctx)
{
    (void)ctx;
    return step_done(out, "the restart on the previous data is done by the undo of install");
}

/* ---- check-keys ------------------------------------------------------------------------- */

int redis_step_check_keys(step_result *out, const step_ctx *ctx)
{
    redis_item it;
    kube_exec_result r;
    int64_t after = 0, min_keys;
    int trunc = 0, rc;
    lb_time t;
    int64_t started_ns = 0, now_ns = 0;
    char before[48] = "?", words[256];

    memset(&r, 0, sizeof(r));
    rc = item_names(&it, out, ctx);
    if (rc == 0)
        rc = item_pod(&it, out, ctx, NULL);
    if (rc == 0)
        rc = item_config(&it, out, ctx);
    if (rc == LB_ETHROTTLED || rc == LB_ERROR) {
        /* Redis is still loading or starting */
        if (step_started_at(&t, ctx, ctx->step->name) == 0) {
            lb_time_to_ns(&started_ns, t);
            lb_time_to_ns(&now_ns, ctx->now);
            if (now_ns - started_ns > (int64_t)REDIS_CHECK_DEADLINE_S * 1000000000LL) {
                rc = step_failed(out, "NotServing", "Redis in pod %s is not serving after %d s: %s",
                                 it.pod_name, REDIS_CHECK_DEADLINE_S, lb_error_last());
                goto done;
            }
        }
        rc = step_wait(out, REDIS_STEP_POLL_MS, "waiting for Redis: %s", lb_error_last());
        goto done;
    }
    if (rc != 0)
        goto done;
    rc = redis_pod_scan_count(&after, &trunc, ctx->kube, &it.pod, NULL, 0, REDIS_SCAN_TIMEOUT_MS);
    if (rc == LB_ETHROTTLED) {
        rc = step_wait(out, REDIS_STEP_POLL_MS, "waiting for Redis: %s", lb_error_last());
        goto done;
    }
    if (rc != 0)
        goto done;
    {
        const char *args[2] = {it.cfg.dir, it.uid};
        if (pod_sh(&r, ctx, &it, PREV_SCRIPT, args, 2) == 0 && r.out && strstr(r.out, "before="))
            snprintf(before, sizeof(before), "%s", trim(strstr(r.out, "before=") + 7));
    }
    min_keys = api_get_int(json_object_get(src_of(ctx), "expect"), "minKeys", 0);
    if (after < min_keys) {
        rc = step_failed(out, "CheckFailed",
                         "restored by %s: keys before %s, after %lld (counted with SCAN); "
                         "expect.minKeys is %lld",
                         method_words(&it, words, sizeof(words)), before, (long long)after,
                         (long long)min_keys);
        goto done;
    }
    rc = step_done(out,
                   "restored by %s: keys before %s, after %lld%s (counted with SCAN); "
                   "expect.minKeys %lld met",
                   method_words(&it, words, sizeof(words)), before, (long long)after,
                   trunc ? "+" : "", (long long)min_keys);
done:
    kube_exec_result_dispose(&r);
    item_dispose(&it);
    return rc < 0 ? rc : 0;
}

/* ---- undo of install: previous files back, then restart on them -------------------------- */

int redis_step_install_undo(step_result *out, const step_ctx *ctx)
{
    redis_item it;
    kube_exec_result r;
    char port[16], stamp_step[600];
    int rc;

    memset(&r, 0, sizeof(r));
    snprintf(stamp_step, sizeof(stamp_step), "%s%s", ENGINE_ROLLBACK_PREFIX, ctx->step->name);
    rc = item_names(&it, out, ctx);
    if (rc != 0)
        goto done;
    if (sts_restarted_for(ctx, &it, stamp_step)) {
        /* the files were put back before this restart was asked for */
        rc = restart_sts(out, ctx, &it, stamp_step);
        goto done;
    }
    item_dispose(&it);
    rc = item_load(&it, out, ctx, 0);
    if (rc != 0)
        goto done;
    snprintf(port, sizeof(port), "%d", it.pod.port);
    {
        const char *args[6] = {it.cfg.dir,
                               it.uid,
                               it.method,
                               it.cfg.dbfilename,
                               it.cfg.appenddirname ? it.cfg.appenddirname : "",
                               port};
        rc = pod_sh(&r, ctx, &it, UNDO_SCRIPT, args, 6);
    }
    if (rc != 0)
        goto done;
    if (r.exit_code == 75) {
        rc = step_wait(out, REDIS_STEP_POLL_MS, "waiting: %s", trim(r.err));
        goto done;
    }
    if (r.exit_code != 0) {
        rc = lb_error_set("undo in pod %s failed (exit %d): %s", it.pod_name, r.exit_code,
                          trim(r.err));
        goto done;
    }
    rc = restart_sts(out, ctx, &it, stamp_step);
    if (rc == 0 && out->verdict == STEP_DONE) {
        char msg[STEP_MAX_MESSAGE];
        snprintf(msg, sizeof(msg), "%s", out->message);
        step_done(out, "previous files back in %s of pod %s; %s", it.cfg.dir, it.pod_name, msg);
    }
done:
    kube_exec_result_dispose(&r);
    item_dispose(&it);
    return rc < 0 ? rc : 0;
}
