/* health_of - prints the operator's health verdict (pkg/api/health.h) for one
 * Lifeboat object read as JSON on stdin (at most 1 MiB), for
 * e2e/deploy/tests/test_health.py, which runs deploy/argocd/health.lua on the
 * same objects. Output: {"health": "...", "reason": "...", "reconciling":
 * "True|False", "stalled": "True|False"}, the last two being the conditions
 * api_health_conditions_set writes. Exit 1 on unreadable input. */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "api/common.h"
#include "api/health.h"

#define MAX_INPUT (1 << 20)

static const char *cond_status(const json_t *status, const char *type)
{
    return api_get_str(api_condition_find(status, type), "status");
}

int main(void)
{
    static char buf[MAX_INPUT + 1];
    size_t n = fread(buf, 1, sizeof(buf), stdin);
    json_error_t err;
    json_t *obj, *status, *out;
    const char *reason = NULL;
    api_health h;
    char *text;

    if (n > MAX_INPUT) {
        fprintf(stderr, "health_of: input larger than %d bytes\n", MAX_INPUT);
        return 1;
    }
    obj = json_loadb(buf, n, 0, &err);
    if (!json_is_object(obj)) {
        fprintf(stderr, "health_of: stdin: %s\n", err.text);
        return 1;
    }
    status = json_deep_copy(json_object_get(obj, "status"));
    if (status == NULL)
        status = json_object();
    h = api_health_of(obj, status, &reason);
    out = json_pack("{s:s, s:s}", "health", api_health_name(h), "reason", reason);
    if (api_health_conditions_set(status, obj, 1, lb_time_now()) < 0) {
        fprintf(stderr, "health_of: conditions not set\n");
        return 1;
    }
    json_object_set_new(out, "reconciling", json_string(cond_status(status, "Reconciling")));
    json_object_set_new(out, "stalled", json_string(cond_status(status, "Stalled")));
    text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    puts(text);
    free(text);
    json_decref(out);
    json_decref(status);
    json_decref(obj);
    return 0;
}
