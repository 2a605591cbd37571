/* redis_pod - drives pkg/redis/pod.h against a live cluster for e2e/redis/tests.
 *
 *   redis_pod [--container C] [--port N] COMMAND NS POD ARGS...
 *     config NS POD                          CONFIG GET dir dbfilename appendonly ...
 *     scan   NS POD PATTERN MAXKEYS          SCAN count (bounded)
 *     check  NS POD SPEC_JSON               the `redis` check (redis/check.h); POD unused
 *     backup NS POD BUCKET PREFIX [--allow-empty]
 *                                            the redisRDB backup (BGSAVE, LASTSAVE, stream to
 *                                            S3, manifest)
 *
 * KUBECONFIG and the AWS environment (AWS_ENDPOINT_URL, ...) come from the environment.
 * Prints one JSON object. On failure: "error: LB_NAME: message" on stderr and exit
 * status 10 - code (LB_ERROR 11, LB_ETHROTTLED 15, LB_ETIMEOUT 18).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws/request.h"
#include "kube/client.h"
#include "kube/config.h"
#include "redis/check.h"
#include "redis/pod.h"
#include "util/error.h"

static int fail(int code)
{
    fprintf(stderr, "error: %s: %s\n", lb_error_name(code), lb_error_last());
    return 10 - code;
}

static void print(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    puts(s);
    free(s);
    json_decref(j);
}

int main(int argc, char **argv)
{
    const char *pos[8];
    int n = 0, allow_empty = 0, rc;
    redis_pod p;
    kube_config *cfg = NULL;
    kube_client *kube = NULL;
    aws_client *aws = NULL;

    memset(&p, 0, sizeof(p));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--allow-empty") == 0)
            allow_empty = 1;
        else if (i + 1 < argc && strcmp(argv[i], "--container") == 0)
            p.container = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--port") == 0)
            p.port = atoi(argv[++i]);
        else if (n < 8)
            pos[n++] = argv[i];
    }
    if (n < 3 || getenv("KUBECONFIG") == NULL) {
        fprintf(stderr,
                "usage: redis_pod [--container C] [--port N] config|scan|backup NS POD ...\n");
        return 2;
    }
    rc = kube_config_load_path_list(&cfg, getenv("KUBECONFIG"), NULL);
    if (rc == 0)
        rc = kube_client_new(&kube, cfg, NULL);
    if (rc != 0)
        return fail(rc);
    p.namespace = pos[1];
    p.pod = pos[2];
    if (strcmp(pos[0], "config") == 0) {
        redis_config c;
        rc = redis_pod_config(&c, kube, &p);
        if (rc == 0) {
            print(json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?}", "dir", c.dir, "dbfilename",
                            c.dbfilename, "appendonly", c.appendonly, "appendfilename",
                            c.appendfilename, "appenddirname", c.appenddirname, "version",
                            c.version));
            redis_config_dispose(&c);
        }
    } else if (strcmp(pos[0], "scan") == 0 && n == 5) {
        int64_t count = 0;
        int truncated = 0;
        rc = redis_pod_scan_count(&count, &truncated, kube, &p, pos[3], atoll(pos[4]), 0);
        if (rc == 0)
            print(json_pack("{s:I, s:b}", "count", (json_int_t)count, "truncated", truncated));
    } else if (strcmp(pos[0], "check") == 0 && n == 4) {
        json_error_t jerr;
        json_t *spec = json_loads(pos[3], 0, &jerr);
        char msg[512];
        int passed = 0;
        rc = spec ? redis_check_run(&passed, msg, sizeof(msg), kube, p.namespace, spec)
                  : lb_error_setc(LB_EINVALID, "SPEC_JSON: %s", jerr.text);
        if (rc == 0)
            print(json_pack("{s:b, s:s}", "passed", passed, "message", msg));
        json_decref(spec);
    } else if (strcmp(pos[0], "backup") == 0 && n == 5) {
        redis_backup_result b;
        rc = aws_client_new_from_env(&aws);
        if (rc == 0)
            rc = redis_pod_backup(&b, kube, aws, &p, pos[3], pos[4], allow_empty);
        if (rc == 0) {
            print(json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "key", b.key, "manifestKey",
                            b.manifest_key, "sha256", b.sha256, "sizeBytes",
                            (json_int_t)b.size_bytes, "keys", (json_int_t)b.keys, "lastsave",
                            (json_int_t)b.lastsave));
            redis_backup_result_dispose(&b);
        }
    } else {
        fprintf(stderr, "redis_pod: unknown command or wrong arguments\n");
        rc = 2;
    }
    aws_client_free(aws);
    kube_client_free(kube);
    kube_config_free(cfg);
    if (rc == 2)
        return 2;
    return rc == 0 ? 0 : fail(rc);
}
