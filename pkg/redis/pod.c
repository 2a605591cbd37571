/* redis/pod.c - Redis inside a pod through exec (see pod.h). */
#include "redis/pod.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "aws/s3.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/timeutil.h"

#define SH_MAX_ARGS 16

/* Serves the script text as stdin. */
typedef struct script_in {
    const char *s;
    size_t len, pos;
} script_in;

static int script_fill(size_t *n, unsigned char *buf, size_t cap, void *payload)
{
    script_in *in = payload;
    size_t left = in->len - in->pos;
    *n = left < cap ? left : cap;
    memcpy(buf, in->s + in->pos, *n);
    in->pos += *n;
    return 0;
}

/* The script goes through stdin and is read with `head -c <its length>`, which ends
 * without needing the end of stdin (v4.channel.k8s.io cannot send it), so a long
 * script does not lengthen the exec URL (KUBE_EXEC_MAX_URL_BYTES). */
int redis_pod_sh(kube_exec_result *out, kube_client *kube, const redis_pod *p, const char *script,
                 const char *const *args, size_t n_args, long timeout_ms)
{
    const char *argv[SH_MAX_ARGS + 4];
    char len[32];
    kube_exec_options o;
    script_in in = {script, strlen(script), 0};

    if (n_args > SH_MAX_ARGS)
        return lb_error_setc(LB_EINVALID, "redis: more than %d script arguments", SH_MAX_ARGS);
    snprintf(len, sizeof(len), "%zu", in.len);
    argv[0] = "sh";
    argv[1] = "-c";
    argv[2] = "s=$(head -c \"$0\") && eval \"$s\"";
    argv[3] = len;
    for (size_t i = 0; i < n_args; i++)
        argv[4 + i] = args[i];
    memset(&o, 0, sizeof(o));
    o.namespace = p->namespace;
    o.pod = p->pod;
    o.container = p->container;
    o.argv = argv;
    o.argc = 4 + n_args;
    o.stdin_fn = script_fill;
    o.stdin_payload = &in;
    o.stdin_max_bytes = in.len;
    o.stdout_max_bytes = REDIS_POD_MAX_OUTPUT;
    o.stderr_max_bytes = REDIS_POD_MAX_OUTPUT;
    o.timeout_ms = timeout_ms > 0 ? timeout_ms : REDIS_POD_CLI_TIMEOUT_MS;
    return kube_exec(out, kube, &o);
}

int redis_pod_port_of(const void *pod_json, const char *container)
{
    const json_t *cs = json_object_get(json_object_get(pod_json, "spec"), "containers");
    const json_t *c;
    size_t i;
    json_array_foreach(cs, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const json_t *ports = json_object_get(c, "ports"), *pt;
        size_t j;
        json_int_t first = 0;
        if (container != NULL && (name == NULL || strcmp(name, container) != 0))
            continue;
        json_array_foreach(ports, j, pt)
        {
            json_int_t v = json_integer_value(json_object_get(pt, "containerPort"));
            const char *pn = json_string_value(json_object_get(pt, "name"));
            if (v <= 0 || v > 65535)
                continue;
            if (pn != NULL && strcmp(pn, "redis") == 0)
                return (int)v;
            if (first == 0)
                first = v;
        }
        if (first > 0)
            return (int)first;
        if (container == NULL)
            break;
    }
    return REDIS_POD_DEFAULT_PORT;
}

static void port_str(char *buf, size_t size, const redis_pod *p)
{
    snprintf(buf, size, "%d", p->port > 0 ? p->port : REDIS_POD_DEFAULT_PORT);
}

/* Trims trailing newlines and spaces of an exec output for a message. */
static const char *trimmed(char *s)
{
    size_t n;
    if (s == NULL)
        return "";
    n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
    return s;
}

/* ---- CONFIG GET ------------------------------------------------------------------------ */

static const char CONFIG_SCRIPT[] =
    "p=$1\n"
    "redis-cli -p \"$p\" --no-auth-warning CONFIG GET dir dbfilename appendonly appendfilename "
    "appenddirname || exit 3\n"
    "echo @@info\n"
    "redis-cli -p \"$p\" --no-auth-warning INFO server | grep '^redis_version:'\n"
    "exit 0\n";

void redis_config_dispose(redis_config *c)
{
    if (c == NULL)
        return;
    free(c->dir);
    free(c->dbfilename);
    free(c->appendonly);
    free(c->appendfilename);
    free(c->appenddirname);
    free(c->version);
    memset(c, 0, sizeof(*c));
}

int redis_pod_config(redis_config *out, kube_client *kube, const redis_pod *p)
{
    kube_exec_result r;
    char port[16];
    const char *args[1];
    char *line, *save = NULL, *key = NULL;
    int result, info = 0;

    memset(out, 0, sizeof(*out));
    port_str(port, sizeof(port), p);
    args[0] = port;
    result = redis_pod_sh(&r, kube, p, CONFIG_SCRIPT, args, 1, 0);
    if (result != 0)
        return result;
    if (r.exit_code != 0) {
        result =
            lb_error_setc(LB_ETHROTTLED, "redis-cli CONFIG GET in pod %s/%s failed (exit %d): %s",
                          p->namespace, p->pod, r.exit_code, trimmed(r.err));
        goto done;
    }
    for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\r')
            line[n - 1] = '\0';
        if (strcmp(line, "@@info") == 0) {
            info = 1;
            continue;
        }
        if (info) {
            if (strncmp(line, "redis_version:", 14) == 0 && out->version == NULL)
                out->version = lb_strdup(line + 14);
            continue;
        }
        if (key == NULL) {
            key = line;
            continue;
        }
        if (strcmp(key, "dir") == 0 && out->dir == NULL)
            out->dir = lb_strdup(line);
        else if (strcmp(key, "dbfilename") == 0 && out->dbfilename == NULL)
            out->dbfilename = lb_strdup(line);
        else if (strcmp(key, "appendonly") == 0 && out->appendonly == NULL)
            out->appendonly = lb_strdup(line);
        else if (strcmp(key, "appendfilename") == 0 && out->appendfilename == NULL)
            out->appendfilename = lb_strdup(line);
        else if (strcmp(key, "appenddirname") == 0 && out->appenddirname == NULL)
            out->appenddirname = lb_strdup(line);
        key = NULL;
    }
    if (out->dir == NULL || out->dbfilename == NULL || out->appendonly == NULL ||
        out->appendfilename == NULL) {
        result = lb_error_setc(LB_ETHROTTLED,
                               "redis-cli CONFIG GET in pod %s/%s: incomplete answer (is Redis "
                               "serving?): %.200s",
                               p->namespace, p->pod, r.out ? r.out : "");
        goto done;
    }
done:
    kube_exec_result_dispose(&r);
    if (result != 0)
        redis_config_dispose(out);
    return result;
}

/* ---- SCAN count ------------------------------------------------------------------------ */

/* SCAN with COUNT 1000 in a loop (redis-cli --scan has no COUNT before Redis 7.2);
 * stops once max keys were seen. */
static const char SCAN_SCRIPT[] =
    "p=$1; pat=$2; max=$3\n"
    "c() { redis-cli -p \"$p\" --no-auth-warning \"$@\"; }\n"
    "r=$(c ping 2>&1)\n"
    "[ \"$r\" = PONG ] || { echo \"$r\" >&2; exit 75; }\n"
    "cur=0; n=0\n"
    "while :; do\n"
    "  out=$(c SCAN \"$cur\" MATCH \"$pat\" COUNT 1000) || exit 3\n"
    "  cur=$(printf '%s\\n' \"$out\" | head -n 1)\n"
    "  case \"$cur\" in ''|*[!0-9]*) echo \"SCAN: $out\" >&2; exit 3;; esac\n"
    "  k=$(printf '%s\\n' \"$out\" | tail -n +2 | grep -c .)\n"
    "  n=$((n + k))\n"
    "  [ \"$n\" -ge \"$max\" ] && break\n"
    "  [ \"$cur\" = 0 ] && break\n"
    "done\n"
    "echo \"$n\"\n";

int redis_pod_scan_count(int64_t *out_count, int *out_truncated, kube_client *kube,
                         const redis_pod *p, const char *pattern, int64_t max_keys, long timeout_ms)
{
    kube_exec_result r;
    char port[16], maxs[32];
    const char *args[3];
    char *end = NULL;
    long long v;
    int result;

    *out_count = 0;
    *out_truncated = 0;
    if (max_keys <= 0)
        max_keys = REDIS_SCAN_DEFAULT_MAX;
    port_str(port, sizeof(port), p);
    snprintf(maxs, sizeof(maxs), "%lld", (long long)max_keys + 1);
    args[0] = port;
    args[1] = pattern != NULL && pattern[0] != '\0' ? pattern : "*";
    args[2] = maxs;
    result = redis_pod_sh(&r, kube, p, SCAN_SCRIPT, args, 3, timeout_ms);
    if (result != 0)
        return result;
    if (r.exit_code == 75) {
        result = lb_error_setc(LB_ETHROTTLED, "Redis in pod %s/%s is not serving: %s", p->namespace,
                               p->pod, trimmed(r.err));
        goto done;
    }
    v = strtoll(r.out ? r.out : "", &end, 10);
    if (r.exit_code != 0 || end == r.out || v < 0) {
        result = lb_error_set("SCAN count in pod %s/%s failed (exit %d): %s", p->namespace, p->pod,
                              r.exit_code, trimmed(r.err));
        goto done;
    }
    if (v > max_keys) {
        *out_truncated = 1;
        v = max_keys;
    }
    *out_count = v;
done:
    kube_exec_result_dispose(&r);
    return result;
}

/* ---- backup ----------------------------------------------------------------------------- */

void redis_backup_result_dispose(redis_backup_result *r)
{
    if (r == NULL)
        return;
    free(r->key);
    free(r->manifest_key);
    memset(r, 0, sizeof(*r));
}

/* Starts a BGSAVE; prints "before=<LASTSAVE>" and the keyspace lines. */
static const char BGSAVE_SCRIPT[] =
    "p=$1\n"
    "c() { redis-cli -p \"$p\" --no-auth-warning \"$@\"; }\n"
    "while c INFO persistence | grep -q '^rdb_bgsave_in_progress:1'; do sleep 0.2; done\n"
    "before=$(c LASTSAVE) || exit 3\n"
    "[ \"$before\" -ge \"$(date +%s)\" ] && sleep 1\n"
    "r=$(c BGSAVE SCHEDULE 2>&1)\n"
    "case \"$r\" in *started*|*scheduled*) ;; *) echo \"BGSAVE: $r\" >&2; exit 3;; esac\n"
    "echo \"before=$before\"\n"
    "c INFO keyspace | grep '^db[0-9]*:'\n"
    "exit 0\n";

/* Prints "lastsave=<n> status=<ok|err> inprogress=<0|1>". */
static const char SAVE_STATE_SCRIPT[] =
    "p=$1\n"
    "c() { redis-cli -p \"$p\" --no-auth-warning \"$@\"; }\n"
    "l=$(c LASTSAVE) || exit 3\n"
    "i=$(c INFO persistence | tr -d '\\r')\n"
    "s=$(echo \"$i\" | sed -n 's/^rdb_last_bgsave_status://p')\n"
    "g=$(echo \"$i\" | sed -n 's/^rdb_bgsave_in_progress://p')\n"
    "echo \"lastsave=$l status=$s inprogress=$g\"\n";

/* Copies the saved file to the temp name; prints "<sha256> <size>". */
static const char SNAPSHOT_SCRIPT[] = "set -e\n"
                                      "cd \"$1\"\n"
                                      "cp \"$2\" \"$3.part\"\n"
                                      "mv \"$3.part\" \"$3\"\n"
                                      "s=$(sha256sum \"$3\" | cut -d' ' -f1)\n"
                                      "n=$(wc -c < \"$3\" | tr -d ' ')\n"
                                      "echo \"$s $n\"\n";

static const char CHUNK_SCRIPT[] = "tail -c +\"$2\" \"$1\" | head -c \"$3\"\n";
static const char REMOVE_SCRIPT[] = "cd \"$1\" && rm -f \"$2\" \"$2.part\"\n";

typedef struct backup_reader {
    kube_client *kube;
    const redis_pod *p;
    const char *path;
    int64_t size, offset;
    char *chunk;
    size_t chunk_len, chunk_pos;
    EVP_MD_CTX *md;
    int error;
} backup_reader;

static long backup_read(char *buf, size_t len, void *payload)
{
    backup_reader *br = payload;
    size_t n;

    if (br->chunk_pos == br->chunk_len) {
        kube_exec_result r;
        char from[32], count[32];
        const char *args[3];
        int64_t want = br->size - br->offset;
        int rc;
        if (want <= 0)
            return 0;
        if (want > (int64_t)REDIS_BACKUP_CHUNK_BYTES)
            want = REDIS_BACKUP_CHUNK_BYTES;
        snprintf(from, sizeof(from), "%lld", (long long)br->offset + 1);
        snprintf(count, sizeof(count), "%lld", (long long)want);
        args[0] = br->path;
        args[1] = from;
        args[2] = count;
        {
            const char *argv[] = {"sh", "-c", CHUNK_SCRIPT, "lifeboat", args[0], args[1], args[2]};
            kube_exec_options o;
            memset(&o, 0, sizeof(o));
            o.namespace = br->p->namespace;
            o.pod = br->p->pod;
            o.container = br->p->container;
            o.argv = argv;
            o.argc = 7;
            o.stdout_max_bytes = REDIS_BACKUP_CHUNK_BYTES;
            o.stderr_max_bytes = REDIS_POD_MAX_OUTPUT;
            o.timeout_ms = 120000;
            rc = kube_exec(&r, br->kube, &o);
        }
        if (rc != 0) {
            br->error = rc;
            return -1;
        }
        if (r.exit_code != 0 || (int64_t)r.out_len != want) {
            br->error = lb_error_set("reading %s out of pod %s/%s at %lld: got %zu of %lld bytes "
                                     "(exit %d)",
                                     br->path, br->p->namespace, br->p->pod, (long long)br->offset,
                                     r.out_len, (long long)want, r.exit_code);
            kube_exec_result_dispose(&r);
            return -1;
        }
        free(br->chunk);
        br->chunk = r.out;
        br->chunk_len = r.out_len;
        br->chunk_pos = 0;
        r.out = NULL;
        kube_exec_result_dispose(&r);
        EVP_DigestUpdate(br->md, br->chunk, br->chunk_len);
        br->offset += (int64_t)br->chunk_len;
    }
    n = br->chunk_len - br->chunk_pos;
    if (n > len)
        n = len;
    memcpy(buf, br->chunk + br->chunk_pos, n);
    br->chunk_pos += n;
    return (long)n;
}

static int64_t keyspace_keys(const char *out)
{
    int64_t total = 0;
    const char *s = out;
    while (s != NULL && (s = strstr(s, "keys=")) != NULL) {
        total += strtoll(s + 5, NULL, 10);
        s += 5;
    }
    return total;
}

int redis_pod_backup(redis_backup_result *out, kube_client *kube, aws_client *aws,
                     const redis_pod *p, const char *bucket, const char *prefix, int allow_empty)
{
    kube_exec_result r;
    redis_config cfg;
    char port[16], tmpname[96], stamp[32], pod_sha[65] = "";
    char *path = NULL, *before_s, *manifest = NULL;
    long long before = 0, lastsave = 0, pod_size = -1;
    int64_t keys;
    const char *args[3];
    backup_reader br;
    unsigned char digest[32];
    unsigned int dl = 0;
    int result, have_temp = 0;
    double waited = 0;

    memset(out, 0, sizeof(*out));
    memset(&br, 0, sizeof(br));
    memset(&r, 0, sizeof(r));
    result = redis_pod_config(&cfg, kube, p);
    if (result != 0)
        return result;
    port_str(port, sizeof(port), p);
    args[0] = port;

    result = redis_pod_sh(&r, kube, p, BGSAVE_SCRIPT, args, 1, REDIS_BACKUP_SAVE_WAIT_MS);
    if (result != 0)
        goto done;
    before_s = r.out ? strstr(r.out, "before=") : NULL;
    if (r.exit_code != 0 || before_s == NULL) {
        result = lb_error_set("redis backup of pod %s/%s: BGSAVE refused (exit %d): %s",
                              p->namespace, p->pod, r.exit_code, trimmed(r.err));
        goto done;
    }
    before = strtoll(before_s + 7, NULL, 10);
    keys = keyspace_keys(r.out);
    kube_exec_result_dispose(&r);
    if (keys == 0 && !allow_empty) {
        result = lb_error_set("redis backup of pod %s/%s: the dataset is empty (INFO keyspace has "
                              "no keys); refusing to store an empty backup",
                              p->namespace, p->pod);
        goto done;
    }
    out->keys = keys;

    for (;;) {
        char *l, *st, *ip;
        result = redis_pod_sh(&r, kube, p, SAVE_STATE_SCRIPT, args, 1, 0);
        if (result != 0)
            goto done;
        l = r.out ? strstr(r.out, "lastsave=") : NULL;
        st = r.out ? strstr(r.out, "status=") : NULL;
        ip = r.out ? strstr(r.out, "inprogress=") : NULL;
        if (r.exit_code != 0 || l == NULL || st == NULL || ip == NULL) {
            result = lb_error_set("redis backup of pod %s/%s: LASTSAVE failed: %s", p->namespace,
                                  p->pod, trimmed(r.err));
            goto done;
        }
        lastsave = strtoll(l + 9, NULL, 10);
        if (lastsave > before && ip[11] == '0') {
            if (strncmp(st + 7, "ok", 2) != 0) {
                result = lb_error_set("redis backup of pod %s/%s: the background save failed "
                                      "(rdb_last_bgsave_status not ok)",
                                      p->namespace, p->pod);
                goto done;
            }
            break;
        }
        if (lastsave <= before && ip[11] == '0' && strncmp(st + 7, "err", 3) == 0 && waited > 2) {
            result = lb_error_set("redis backup of pod %s/%s: the background save failed "
                                  "(rdb_last_bgsave_status:err, LASTSAVE did not move)",
                                  p->namespace, p->pod);
            goto done;
        }
        kube_exec_result_dispose(&r);
        if (waited * 1000 > REDIS_BACKUP_SAVE_WAIT_MS) {
            result = lb_error_setc(LB_ETIMEOUT,
                                   "redis backup of pod %s/%s: LASTSAVE did not move within %d ms",
                                   p->namespace, p->pod, REDIS_BACKUP_SAVE_WAIT_MS);
            goto done;
        }
        usleep(200000);
        waited += 0.2;
    }
    kube_exec_result_dispose(&r);
    out->lastsave = lastsave;

    {
        time_t t = (time_t)lastsave;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    }
    snprintf(tmpname, sizeof(tmpname), ".lifeboat-backup-%lld.rdb", lastsave);
    {
        const char *sargs[3] = {cfg.dir, cfg.dbfilename, tmpname};
        result = redis_pod_sh(&r, kube, p, SNAPSHOT_SCRIPT, sargs, 3, 600000);
    }
    have_temp = 1;
    if (result != 0)
        goto done;
    if (r.exit_code != 0 || r.out == NULL || sscanf(r.out, "%64s %lld", pod_sha, &pod_size) != 2) {
        result = lb_error_set("redis backup of pod %s/%s: copying %s/%s failed (exit %d): %s",
                              p->namespace, p->pod, cfg.dir, cfg.dbfilename, r.exit_code,
                              trimmed(r.err));
        goto done;
    }
    kube_exec_result_dispose(&r);
    if (pod_size <= 0 || pod_size > REDIS_BACKUP_MAX_BYTES) {
        result = lb_error_setc(LB_ETOOBIG,
                               "redis backup of pod %s/%s: the RDB has %lld bytes (cap "
                               "REDIS_BACKUP_MAX_BYTES %lld)",
                               p->namespace, p->pod, pod_size, (long long)REDIS_BACKUP_MAX_BYTES);
        goto done;
    }

    out->key = lb_sprintf("%s%s_%s.rdb", prefix ? prefix : "", p->pod, stamp);
    out->manifest_key = lb_sprintf("%s.manifest.json", out->key);
    path = lb_sprintf("%s/%s", cfg.dir, tmpname);
    br.kube = kube;
    br.p = p;
    br.path = path;
    br.size = pod_size;
    br.md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(br.md, EVP_sha256(), NULL);
    result = s3_put_object_stream(NULL, aws, bucket, out->key, "application/octet-stream", pod_size,
                                  backup_read, NULL, &br);
    if (result != 0) {
        if (br.error != 0)
            result = br.error;
        goto done;
    }
    EVP_DigestFinal_ex(br.md, digest, &dl);
    for (unsigned int i = 0; i < dl; i++)
        snprintf(out->sha256 + 2 * i, 3, "%02x", digest[i]);
    out->size_bytes = pod_size;
    if (strcmp(out->sha256, pod_sha) != 0) {
        s3_delete_object(NULL, aws, bucket, out->key, NULL);
        result = lb_error_set("redis backup of pod %s/%s: sha256 of the streamed file %s differs "
                              "from sha256sum in the pod %s; the upload was deleted",
                              p->namespace, p->pod, out->sha256, pod_sha);
        goto done;
    }
    {
        char created[LB_TIME_RFC3339_MAX];
        json_t *m;
        lb_time_format(created, sizeof(created), lb_time_from_ns((int64_t)lastsave * 1000000000LL),
                       0);
        m = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "sha256",
                      out->sha256, "sizeBytes", (json_int_t)pod_size, "keys", (json_int_t)keys,
                      "createdAt", created, "format", "rdb", "encryption", "none", "source",
                      "namespace", p->namespace, "pod", p->pod, "redisVersion",
                      cfg.version ? cfg.version : "", "appendonly", cfg.appendonly);
        manifest = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(m);
    }
    result = s3_put_object(NULL, aws, bucket, out->manifest_key, "application/json", manifest,
                           strlen(manifest));
done:
    kube_exec_result_dispose(&r);
    if (have_temp) {
        kube_exec_result rr;
        const char *rargs[2] = {cfg.dir, tmpname};
        if (redis_pod_sh(&rr, kube, p, REMOVE_SCRIPT, rargs, 2, 0) == 0)
            kube_exec_result_dispose(&rr);
    }
    if (br.md != NULL)
        EVP_MD_CTX_free(br.md);
    free(br.chunk);
    free(path);
    free(manifest);
    redis_config_dispose(&cfg);
    if (result != 0)
        redis_backup_result_dispose(out);
    return result;
}
