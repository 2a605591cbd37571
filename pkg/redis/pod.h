/* redis/pod.h - Redis inside a pod, reached through pods/exec (kube/exec.h).
 *
 * Everything runs `sh -c SCRIPT` with values as positional arguments (never
 * spliced into the script), and talks to Redis with the pod's own redis-cli:
 * it is in every Redis image, reads the password from REDISCLI_AUTH in the
 * container's environment (so no secret crosses the operator), and speaks TLS
 * when the image's redis-cli is configured for it. Speaking RESP over exec
 * would still need a TCP client inside the pod (exec gives a process, not a
 * socket), and one that every image has; redis-cli is that client.
 *
 * Used by the redisRDB restore steps, the redisRDB backup and the `redis`
 * check. Each call is bounded by a deadline and by the output caps of exec.
 */
#ifndef LB_REDIS_POD_H
#define LB_REDIS_POD_H

#include <stddef.h>
#include <stdint.h>

#include "aws/request.h"
#include "kube/client.h"
#include "kube/exec.h"

#define REDIS_POD_CLI_TIMEOUT_MS  30000       /* one redis-cli call */
#define REDIS_POD_MAX_OUTPUT      (64u << 10) /* captured output of a helper script */
#define REDIS_POD_DEFAULT_PORT    6379
#define REDIS_SCAN_DEFAULT_MAX    10000000    /* keys a count may scan before it stops */
#define REDIS_BACKUP_MAX_BYTES    (5ll << 30) /* an RDB streamed out of a pod: one S3 PUT */
#define REDIS_BACKUP_CHUNK_BYTES  (8u << 20)  /* bytes read out of the pod per exec */
#define REDIS_BACKUP_SAVE_WAIT_MS 120000      /* BGSAVE must finish within this */
#define REDIS_MANIFEST_MAX_BYTES  (64u << 10) /* a backup manifest read back */

/* Where Redis runs. Strings borrowed. */
typedef struct redis_pod {
    const char *namespace;
    const char *pod;
    const char *container; /* NULL: the pod's only container */
    int port;              /* Redis port inside the pod (0: 6379) */
} redis_pod;

/* Runs `sh -c script lifeboat args...` in the pod with stdout/stderr captured
 * (REDIS_POD_MAX_OUTPUT each) and the given deadline (0: REDIS_POD_CLI_TIMEOUT_MS).
 * Same returns as kube_exec(); *out is released with kube_exec_result_dispose(). */
int redis_pod_sh(kube_exec_result *out, kube_client *kube, const redis_pod *p, const char *script,
                 const char *const *args, size_t n_args, long timeout_ms);

/* The port of the pod's Redis container: its containerPort named "redis",
 * else its first containerPort, else 6379. `pod` is the Pod object. */
int redis_pod_port_of(const void *pod_json, const char *container);

/* CONFIG GET of the settings a restore needs. Strings are copies. */
typedef struct redis_config {
    char *dir;
    char *dbfilename;
    char *appendonly; /* "yes" | "no" */
    char *appendfilename;
    char *appenddirname; /* NULL before Redis 7 (one AOF file, no manifest) */
    char *version;       /* redis_version of INFO server */
} redis_config;

/* Reads `CONFIG GET dir dbfilename appendonly appendfilename appenddirname`
 * and the server version through redis-cli in the pod. LB_ERROR with the
 * redis-cli output when Redis does not answer. */
int redis_pod_config(redis_config *out, kube_client *kube, const redis_pod *p);

void redis_config_dispose(redis_config *c);

/* Counts keys matching `pattern` (NULL: all) with SCAN (redis-cli --scan,
 * never KEYS), stopping after max_keys (0: REDIS_SCAN_DEFAULT_MAX): then
 * *out_truncated is set and *out_count is max_keys. A Redis that is not
 * serving (connection refused, LOADING) is LB_ETHROTTLED with its answer in
 * the message, so callers can wait. */
int redis_pod_scan_count(int64_t *out_count, int *out_truncated, kube_client *kube,
                         const redis_pod *p, const char *pattern, int64_t max_keys,
                         long timeout_ms);

/* What redis_pod_backup() made. Strings are copies. */
typedef struct redis_backup_result {
    char *key;          /* the RDB's object key */
    char *manifest_key; /* <key>.manifest.json */
    char sha256[65];
    int64_t size_bytes;
    int64_t keys;     /* from INFO keyspace at the save */
    int64_t lastsave; /* LASTSAVE of the save that produced it */
} redis_backup_result;

void redis_backup_result_dispose(redis_backup_result *r);

/* The redisRDB backup: BGSAVE, wait until LASTSAVE moves past its value
 * before the BGSAVE (and rdb_last_bgsave_status is ok), copy the saved file
 * to a temp name in the data dir (so later saves cannot change it under the
 * stream), stream it out of the pod through exec in REDIS_BACKUP_CHUNK_BYTES
 * pieces into S3 at <prefix><pod>_<YYYYMMDDTHHMMSSZ>.rdb with a SHA-256
 * computed on the way, check it against sha256sum in the pod, then write the
 * manifest <key>.manifest.json {sha256, sizeBytes, keys, createdAt, format:
 * "rdb", source}. Refuses (LB_ERROR, nothing uploaded) a failed save and an
 * empty dataset (0 keys) unless allow_empty. The temp file is removed in every
 * case. */
int redis_pod_backup(redis_backup_result *out, kube_client *kube, aws_client *aws,
                     const redis_pod *p, const char *bucket, const char *prefix, int allow_empty);

#endif
