/* libFuzzer target: arbitrary bytes as a RestoreRequest spec through
 * api_restore_parse() and, when valid, plan_build() and plan_to_json(),
 * checking what must hold for every input: a refusal names its errors; an
 * accepted spec gives a plan whose items follow dependsOn, whose names are
 * unique, with no destructive step before the approval gate, and whose JSON
 * fits the CRD's status.plan schema. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/restore.h"
#include "api/schema.h"
#include "controller/plan.h"
#include "util/error.h"

#define FUZZ_MAX_INPUT (256 * 1024)

static void check_plan(const api_restore_spec *s, const plan *p)
{
    size_t *pos = calloc(s->n_items + 1, sizeof(*pos));
    int gate = plan_find(p, "approval");

    if ((gate >= 0) != s->approval_required)
        abort();
    for (size_t i = 0; i < p->n_steps; i++) {
        if (gate >= 0 && (int)i < gate && p->steps[i].destructive)
            abort();
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->steps[i].name, p->steps[j].name) == 0)
                abort();
    }
    for (size_t k = 0; k < s->n_items; k++)
        pos[s->order[k]] = k;
    for (size_t i = 0; i < s->n_items; i++)
        for (size_t d = 0; d < s->items[i].n_depends_on; d++) {
            const api_restore_item *dep = api_restore_item_find(s, s->items[i].depends_on[d]);
            if (dep == NULL || pos[dep->index] >= pos[i])
                abort();
        }
    free(pos);

    json_t *status = json_object();
    api_errors e = {0};
    json_object_set_new(status, "plan", plan_to_json(p));
    if (api_schema_validate(status, API_KIND_RESTORE_REQUEST, "status", "status", &e) != 0)
        abort();
    api_errors_dispose(&e);
    json_decref(status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const lb_time now = {.sec = 1795219200, .nsec = 0};
    json_t *spec;
    api_restore_spec *s = NULL;
    api_errors e = {0};
    plan *p = NULL;
    int rc;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    spec = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (spec == NULL)
        return 0;
    rc = api_restore_parse(&s, &e, spec, now);
    if (rc != 0) {
        if (rc != LB_EINVALID || s != NULL || e.len == 0 ||
            strncmp(lb_error_last(), "invalid RestoreRequest spec: ", 29) != 0)
            abort();
    } else {
        if (e.len != 0)
            abort();
        rc = plan_build(&p, s);
        if (rc == 0)
            check_plan(s, p);
        else if (rc != LB_ETOOBIG)
            abort();
    }
    plan_free(p);
    api_restore_free(s);
    api_errors_dispose(&e);
    json_decref(spec);
    return 0;
}
