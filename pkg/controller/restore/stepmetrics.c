/* restore/stepmetrics.c - per-step durations (see stepmetrics.h). */
#include "controller/restore/stepmetrics.h"

#include <stdio.h>
#include <string.h>

#include "api/common.h"
#include "api/restore.h"
#include "util/timeutil.h"

int step_metrics_init(metrics_metric **out, metrics_registry *reg)
{
    static const char *const labels[] = {"kind", "action", "phase"};
    static const double buckets[] = {0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200};

    return metrics_histogram_new(out, reg, STEP_METRIC_NAME,
                                 "Wall time of finished restore steps, by item kind, action and "
                                 "final phase.",
                                 labels, 3, buckets, sizeof(buckets) / sizeof(buckets[0]));
}

/* The source field of item `item` of obj's spec; "" when not an item. */
static const char *item_kind(const json_t *obj, const char *item, size_t len)
{
    const json_t *items = json_object_get(json_object_get(obj, "spec"), "items");
    const json_t *it;
    size_t i;

    json_array_foreach(items, i, it)
    {
        const char *n = json_string_value(json_object_get(it, "name"));
        if (n == NULL || strlen(n) != len || strncmp(n, item, len) != 0)
            continue;
        for (int s = 1; s <= API_SOURCE_COUNT; s++) {
            const char *f = api_source_field((api_source)s);
            if (f[0] != '\0' && json_object_get(it, f) != NULL)
                return f;
        }
    }
    return "";
}

void step_metrics_labels(char *kind, size_t kind_size, char *action, size_t action_size,
                         const json_t *obj, const char *name)
{
    const char *rest = name, *slash, *k;
    bool rollback = false;

    if (strncmp(rest, "rollback/", 9) == 0) {
        rollback = true;
        rest += 9;
    }
    slash = strchr(rest, '/');
    k = slash != NULL ? item_kind(obj, rest, (size_t)(slash - rest)) : "";
    if (k[0] != '\0') {
        snprintf(kind, kind_size, "%s", k);
        snprintf(action, action_size, "%s%s", rollback ? "rollback-" : "", slash + 1);
    } else {
        /* a step of the request: approval, verification, rollout/<Kind>/<name> */
        int n = slash != NULL ? (int)(slash - rest) : (int)strlen(rest);
        snprintf(kind, kind_size, "request");
        snprintf(action, action_size, "%s%.*s", rollback ? "rollback-" : "", n, rest);
    }
}

/* Whether step `name` is finished in steps. */
static bool finished_in(const json_t *steps, const char *name)
{
    const json_t *s;
    size_t i;

    json_array_foreach(steps, i, s)
    {
        const char *n = json_string_value(json_object_get(s, "name"));
        const char *f = json_string_value(json_object_get(s, "finishedAt"));
        if (n != NULL && strcmp(n, name) == 0)
            return f != NULL && f[0] != '\0';
    }
    return false;
}

int step_metrics_observe(metrics_metric *m, const json_t *before, const json_t *after)
{
    const json_t *old = json_object_get(json_object_get(before, "status"), "steps");
    const json_t *s;
    size_t i;
    int n = 0;

    if (m == NULL)
        return 0;
    json_array_foreach(json_object_get(json_object_get(after, "status"), "steps"), i, s)
    {
        const char *name = json_string_value(json_object_get(s, "name"));
        const char *st = json_string_value(json_object_get(s, "startedAt"));
        const char *fin = json_string_value(json_object_get(s, "finishedAt"));
        const char *phase = json_string_value(json_object_get(s, "phase"));
        char kind[64], action[128];
        lb_time a, b;
        double secs;

        if (name == NULL || st == NULL || fin == NULL || fin[0] == '\0' || finished_in(old, name))
            continue;
        if (lb_time_parse_rfc3339(&a, st) != 0 || lb_time_parse_rfc3339(&b, fin) != 0)
            continue;
        secs = (double)(b.sec - a.sec) + (double)(b.nsec - a.nsec) / 1e9;
        if (secs < 0)
            secs = 0;
        step_metrics_labels(kind, sizeof(kind), action, sizeof(action), after, name);
        if (metrics_histogram_observe(m, (const char *const[]){kind, action, phase ? phase : ""},
                                      secs) == 0)
            n++;
    }
    return n;
}
