/* redis/check.h - the `redis` check of VerificationRun and restore verification.
 *
 * spec: {pod, container?, scanCount: "<pattern>" | ping: true, expect: {equals | min |
 * max | notEmpty}}. scanCount counts matching keys with SCAN through exec in the
 * pod (redis/pod.h), never KEYS, bounded in keys scanned (expect.max + 1 when
 * max is given, else REDIS_CHECK_MAX_KEYS: past it the count is reported as
 * "at least") and in time (REDIS_CHECK_TIMEOUT_MS). ping passes on PONG.
 */
#ifndef LB_REDIS_CHECK_H
#define LB_REDIS_CHECK_H

#include <stddef.h>

#include <jansson.h>

#include "kube/client.h"

#define REDIS_CHECK_MAX_KEYS   1000000 /* keys one scanCount may scan */
#define REDIS_CHECK_TIMEOUT_MS 60000   /* one check */

/* Runs the check in namespace ns. Returns 0 with *out_passed and msg (what was
 * observed and expected, e.g. "scanCount session:* = 1000, expected min 1"),
 * or a negative LB_* code when the check could not run (pod missing, Redis not
 * serving); the message then says why. */
int redis_check_run(int *out_passed, char *msg, size_t size, kube_client *kube, const char *ns,
                    const json_t *spec);

#endif
