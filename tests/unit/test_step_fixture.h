/* test_step_fixture.h - one restore step run against the scripted kube server
 * (test_kube_fake_server.h), shared by the step tests that talk only to
 * Kubernetes: the request rr1 in namespace shop (uid uid-111), its status, one
 * item and one plan step, the step_ctx that ties them, the step's result, and
 * the requests the server received. Static: each test file gets its own copy.
 * Include after cmocka.h and test_kube_fake_server.h. */
#ifndef TEST_STEP_FIXTURE_H
#define TEST_STEP_FIXTURE_H

#include <jansson.h>

#include "controller/restore/step.h"

#define RR_JSON                                                                                    \
    "{\"apiVersion\":\"lifeboat.dev/v1alpha1\",\"kind\":\"RestoreRequest\",\"metadata\":{"         \
    "\"name\":\"rr1\",\"namespace\":\"shop\",\"uid\":\"uid-111\"}}"
#define OWNED                                                                                      \
    "\"ownerReferences\":[{\"kind\":\"RestoreRequest\",\"name\":\"rr1\",\"uid\":\"uid-111\"}]"
#define NOT_FOUND "{\"kind\":\"Status\",\"code\":404,\"reason\":\"NotFound\",\"message\":\"nope\"}"

typedef struct fixture {
    env e;
    char *raws[MAX_SCRIPT];
    size_t n;
    json_t *rr, *status, *item_spec;
    api_restore_item item;
    api_restore_spec spec;
    api_workload rollout[1];
    api_workload scale[1];
    plan_step step;
    step_ctx ctx;
    step_result out;
} fixture;

/* Starts the server answering the n (status line, body) pairs in order, and
 * sets up item `item_name` of the given source (its spec under `field` of the
 * JSON item_spec) at step `step_name`, with the JSON status. */
static void fx_init(fixture *f, const char *const *pairs, size_t n, const char *status,
                    const char *item_spec, const char *item_name, api_source source,
                    const char *field, char *step_name)
{
    scripted sc[MAX_SCRIPT];

    memset(f, 0, sizeof(*f));
    memset(sc, 0, sizeof(sc));
    assert_true(n <= MAX_SCRIPT);
    for (size_t i = 0; i < n; i++) {
        f->raws[i] = resp(pairs[2 * i], "", pairs[2 * i + 1]);
        sc[i].raw = f->raws[i];
    }
    f->n = n;
    env_start(&f->e, sc, n);
    f->rr = json_loads(RR_JSON, 0, NULL);
    f->status = json_loads(status, 0, NULL);
    f->item_spec = json_loads(item_spec, 0, NULL);
    assert_non_null(f->rr);
    assert_non_null(f->status);
    assert_non_null(f->item_spec);
    f->item.name = item_name;
    f->item.source = source;
    f->item.spec = f->item_spec;
    f->item.source_spec = json_object_get(f->item_spec, field);
    f->step.name = step_name;
    f->ctx.kube = f->e.c;
    f->ctx.rr = f->rr;
    f->ctx.status = f->status;
    f->ctx.spec = &f->spec;
    f->ctx.item = &f->item;
    f->ctx.step = &f->step;
}

/* Stops the server and frees what fx_init and the step made. */
static void fx_stop(fixture *f)
{
    env_stop(&f->e);
    for (size_t i = 0; i < f->n; i++)
        free(f->raws[i]);
    json_decref(f->rr);
    json_decref(f->status);
    json_decref(f->item_spec);
    json_decref(f->out.output);
}

/* The i-th request the server received (the test fails if there were fewer). */
static const char *req(fixture *f, size_t i)
{
    assert_true(atomic_load(&f->e.srv.n_requests) > i);
    return f->e.srv.requests[i];
}

#endif
