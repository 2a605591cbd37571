/* redis/check.c - the `redis` check (see check.h). */
#include "redis/check.h"

#include <stdio.h>
#include <string.h>

#include "redis/pod.h"
#include "util/error.h"

static int expect_met(char *words, size_t size, const json_t *expect, long long v, int at_least)
{
    const json_t *eq = json_object_get(expect, "equals"), *mn = json_object_get(expect, "min");
    const json_t *mx = json_object_get(expect, "max"), *ne = json_object_get(expect, "notEmpty");

    if (json_is_integer(eq)) {
        snprintf(words, size, "expected equals %lld", (long long)json_integer_value(eq));
        return !at_least && v == json_integer_value(eq);
    }
    if (json_is_integer(mn) && json_is_integer(mx)) {
        snprintf(words, size, "expected %lld..%lld", (long long)json_integer_value(mn),
                 (long long)json_integer_value(mx));
        return v >= json_integer_value(mn) && !at_least && v <= json_integer_value(mx);
    }
    if (json_is_integer(mn)) {
        snprintf(words, size, "expected min %lld", (long long)json_integer_value(mn));
        return v >= json_integer_value(mn);
    }
    if (json_is_integer(mx)) {
        snprintf(words, size, "expected max %lld", (long long)json_integer_value(mx));
        return !at_least && v <= json_integer_value(mx);
    }
    if (json_is_true(ne)) {
        snprintf(words, size, "expected notEmpty");
        return v > 0;
    }
    snprintf(words, size, "no expectation given");
    return 0;
}

int redis_check_run(int *out_passed, char *msg, size_t size, kube_client *kube, const char *ns,
                    const json_t *spec)
{
    const char *pod_name = json_string_value(json_object_get(spec, "pod"));
    const char *container = json_string_value(json_object_get(spec, "container"));
    const char *pattern = json_string_value(json_object_get(spec, "scanCount"));
    const json_t *expect = json_object_get(spec, "expect");
    const json_t *mx = json_object_get(expect, "max");
    kube_ref ref = {"", "v1", "pods", ns, pod_name, NULL};
    json_t *pod = NULL;
    redis_pod p;
    int64_t count = 0, max_keys = REDIS_CHECK_MAX_KEYS;
    int truncated = 0, rc;
    char words[96];

    *out_passed = 0;
    if (pod_name == NULL)
        return lb_error_setc(LB_EINVALID, "redis check: pod is required");
    if (pattern == NULL && !json_is_true(json_object_get(spec, "ping")))
        return lb_error_setc(LB_EINVALID, "redis check: one of scanCount, ping: true is required");
    rc = kube_get(&pod, kube, &ref);
    if (rc != 0)
        return lb_error_wrap(rc, "redis check: pod %s/%s", ns, pod_name);
    memset(&p, 0, sizeof(p));
    p.namespace = ns;
    p.pod = pod_name;
    p.container = container;
    p.port = redis_pod_port_of(pod, container);
    json_decref(pod);
    if (pattern == NULL) {
        rc = redis_pod_scan_count(&count, &truncated, kube, &p, "*", 1, REDIS_CHECK_TIMEOUT_MS);
        if (rc != 0)
            return rc;
        *out_passed = 1;
        snprintf(msg, size, "ping: PONG from %s", pod_name);
        return 0;
    }
    if (json_is_integer(mx) && json_integer_value(mx) >= 0 &&
        json_integer_value(mx) < REDIS_CHECK_MAX_KEYS)
        max_keys = json_integer_value(mx) + 1;
    rc = redis_pod_scan_count(&count, &truncated, kube, &p, pattern, max_keys,
                              REDIS_CHECK_TIMEOUT_MS);
    if (rc != 0)
        return rc;
    *out_passed = expect_met(words, sizeof(words), expect, (long long)count, truncated);
    snprintf(msg, size, "scanCount %s = %s%lld (SCAN in %s), %s", pattern, truncated ? ">= " : "",
             (long long)count, pod_name, words);
    return 0;
}
