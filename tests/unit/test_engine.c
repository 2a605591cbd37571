/* test_engine.c - the restore step engine with an injected dispatch table of
 * fake steps: order, persist-before-act, WAIT, transient retries, the
 * approval gate, the failure rules, rollback, unsupported sources, spec
 * changes, and a crash at every point of a run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/common.h"
#include "controller/restore/engine.h"
#include "util/error.h"

/* A point-in-time item with verify, promote, a secret patch and scale-down; one
 * rollout workload; a verification checklist. */
#define SPEC_FMT                                                                                   \
    "{\"approval\":{\"required\":%s},\"rollbackOnFailure\":%s,"                                    \
    "\"items\":[{\"name\":\"orders-db\",\"rdsPointInTime\":{"                                      \
    "\"sourceDBInstanceIdentifier\":\"orders-prod\",\"restoreTime\":\"2026-02-18T14:30:00Z\","     \
    "\"targetDBInstanceIdentifier\":\"%s\"},"                                                      \
    "\"credentialsSecretRef\":{\"name\":\"orders-admin\"},\"database\":\"orders\","                \
    "\"verify\":{\"checks\":[{\"name\":\"c\",\"sql\":{\"query\":\"SELECT 1\",\"expect\":{"         \
    "\"min\":1}}}]},\"promote\":\"rename\",\"secretPatches\":[{\"secretName\":\"s\",\"key\":"      \
    "\"URL\",\"replaceHost\":true}]}],"                                                            \
    "\"rollout\":[{\"kind\":\"Deployment\",\"name\":\"api\"}],"                                    \
    "\"verification\":{\"checks\":[{\"name\":\"h\",\"http\":{\"url\":\"http://api.ns.svc/h\"}}]}}"

#define MAX_SCRIPT 32
#define MAX_LOG    512

/* What a fake step does, per step name, call by call. */
typedef struct script {
    const char *name;
    int transient;      /* this many calls return -1 first */
    int waits;          /* then this many calls return WAIT */
    int fail;           /* then every call fails */
    const char *reason; /* of the failure */
    int late_transient; /* after the waits, this many calls return -1 */
} script;

static script scripts[MAX_SCRIPT];
static size_t n_scripts;
static char *call_log[MAX_LOG]; /* "name" or "undo:name", one per call */
static size_t n_calls;
/* the outside world: effects actually made (a fake adopts an effect already in place) */
static char *effect_names[MAX_LOG];
static int effect_counts[MAX_LOG];
static size_t n_effects;
static char seen_target[128]; /* ctx->item->target_id at the last call */

static void reset(void)
{
    for (size_t i = 0; i < n_calls; i++)
        free(call_log[i]);
    for (size_t i = 0; i < n_effects; i++)
        free(effect_names[i]);
    n_calls = n_effects = n_scripts = 0;
    memset(scripts, 0, sizeof(scripts));
    seen_target[0] = '\0';
}

static script *script_of(const char *name)
{
    for (size_t i = 0; i < n_scripts; i++)
        if (strcmp(scripts[i].name, name) == 0)
            return &scripts[i];
    return NULL;
}

static void add_script(const char *name, int transient, int waits, int fail, const char *reason)
{
    script *s = &scripts[n_scripts++];
    s->name = name;
    s->transient = transient;
    s->waits = waits;
    s->fail = fail;
    s->reason = reason;
}

static int *effect(const char *name)
{
    for (size_t i = 0; i < n_effects; i++)
        if (strcmp(effect_names[i], name) == 0)
            return &effect_counts[i];
    effect_names[n_effects] = strdup(name);
    effect_counts[n_effects] = 0;
    return &effect_counts[n_effects++];
}

static size_t calls_of(const char *entry)
{
    size_t n = 0;
    for (size_t i = 0; i < n_calls; i++)
        n += strcmp(call_log[i], entry) == 0;
    return n;
}

static int fake(step_result *out, const step_ctx *ctx, int undo)
{
    char key[600];
    script *s;
    int *e;

    snprintf(key, sizeof(key), "%s%s", undo ? "undo:" : "", ctx->step->name);
    assert_true(n_calls < MAX_LOG);
    call_log[n_calls++] = strdup(key);
    if (ctx->item != NULL)
        snprintf(seen_target, sizeof(seen_target), "%s", ctx->item->target_id);
    s = undo ? NULL : script_of(ctx->step->name);
    if (s != NULL && s->transient > 0) {
        s->transient--;
        return lb_error_set("connection reset talking to %s", ctx->step->name);
    }
    if (s != NULL && s->waits > 0) {
        s->waits--;
        return step_wait(out, 5000, "waiting for %s", ctx->step->name);
    }
    if (s != NULL && s->late_transient > 0) {
        s->late_transient--;
        return lb_error_set("throttled talking to %s", ctx->step->name);
    }
    if (s != NULL && s->fail)
        return step_failed(out, s->reason, "%s cannot succeed", ctx->step->name);
    /* idempotent: the effect is made once; a repeat finds it in place */
    e = effect(key);
    if (*e == 0)
        (*e)++;
    if (!undo && strcmp(ctx->step->action, "restore") == 0) {
        step_output_str(out, "instanceIdentifier", ctx->item->target_id);
        step_output_str(out, "endpoint", "127.0.0.1");
        step_output_int(out, "port", 5432);
    }
    return step_done(out, "%s done", key);
}

static int fake_step(step_result *out, const step_ctx *ctx)
{
    return fake(out, ctx, ctx->rollback);
}

static int fake_undo(step_result *out, const step_ctx *ctx)
{
    assert_true(ctx->rollback);
    return fake(out, ctx, 1);
}

#define SRC API_SOURCE_RDS_POINT_IN_TIME
static const engine_entry fake_entries[] = {
    {SRC, "validate", fake_step, NULL, 0},
    {SRC, "restore", fake_step, fake_undo, 0},
    {SRC, "wait-available", fake_step, NULL, 0},
    {SRC, "verify", fake_step, NULL, 0},
    {SRC, "migrations", fake_step, NULL, 0},
    {SRC, "scale-down", fake_step, fake_undo, 0},
    {SRC, "promote", fake_step, fake_undo, 0},
    {SRC, "patch-secrets", fake_step, fake_undo, 0},
    {SRC, "scale-up", fake_step, NULL, 0},
    {SRC, "cleanup", fake_step, NULL, 0},
    {API_SOURCE_NONE, "rollout", fake_step, fake_step, 0},
    {API_SOURCE_NONE, ENGINE_STOP_WRITERS, NULL, fake_undo, 0},
    {API_SOURCE_NONE, "verification", fake_step, NULL, 0},
};
#define INP API_SOURCE_RDS_IN_PLACE
static const engine_entry fake_inplace_entries[] = {
    {INP, "validate", fake_step, NULL, 0},       {INP, "pre-restore-snapshot", fake_step, NULL, 0},
    {INP, "wait-snapshot", fake_step, NULL, 0},  {INP, "delete", fake_step, NULL, 0},
    {INP, "wait-deleted", fake_step, NULL, 0},   {INP, "restore", fake_step, NULL, 0},
    {INP, "wait-available", fake_step, NULL, 0}, {INP, "patch-secrets", fake_step, fake_undo, 0},
};
static const engine_table fake_inplace_table = {
    fake_inplace_entries, sizeof(fake_inplace_entries) / sizeof(fake_inplace_entries[0])};
static const engine_env fake_inplace_env = {.table = &fake_inplace_table};

static const engine_table fake_table = {fake_entries,
                                        sizeof(fake_entries) / sizeof(fake_entries[0])};
static const engine_env fake_env = {.table = &fake_table};

static lb_time t0(void)
{
    lb_time t;
    assert_int_equal(lb_time_parse_rfc3339(&t, "2026-03-01T00:00:00Z"), 0);
    return t;
}

static json_t *rr(const char *approval, const char *rollback, const char *target, int gen)
{
    char buf[4096];
    json_error_t err;
    json_t *spec, *o;
    snprintf(buf, sizeof(buf), SPEC_FMT, approval, rollback, target);
    spec = json_loads(buf, 0, &err);
    assert_non_null(spec);
    o = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i, s:{}}, s:o}", "apiVersion",
                  "lifeboat.dev/v1alpha1", "kind", "RestoreRequest", "metadata", "name", "r",
                  "namespace", "ns", "uid", "uid-1", "generation", gen, "annotations", "spec",
                  spec);
    return o;
}

static void annotate(json_t *obj, const char *key, const char *value)
{
    json_object_set_new(json_object_get(json_object_get(obj, "metadata"), "annotations"), key,
                        json_string(value));
}

/* The env of once(): fake_env unless a tenancy test sets one. */
static const engine_env *test_env;

/* What a verified approver writes: lifeboat.dev/approve=<who> and
 * lifeboat.dev/approve-plan=<status.planHash>. */
static void approve(json_t *obj, const char *who)
{
    const char *hash = api_get_str(json_object_get(obj, "status"), "planHash");
    annotate(obj, ENGINE_APPROVE_ANNOTATION, who);
    annotate(obj, ENGINE_APPROVE_PLAN_ANNOTATION, hash != NULL ? hash : "");
}

/* One reconcile: the engine on a copy of obj's status; persist = the write succeeded. */
static engine_out once(json_t *obj, lb_time *now, int persist)
{
    json_t *st = json_object_get(obj, "status");
    json_t *status = json_is_object(st) ? json_deep_copy(st) : json_object();
    engine_memo memo;
    engine_out out;
    memset(&memo, 0, sizeof(memo));
    assert_int_equal(engine_step(status, &out, test_env != NULL ? test_env : &fake_env, obj, *now,
                                 &memo),
                     0);
    engine_memo_dispose(&memo);
    if (persist)
        json_object_set_new(obj, "status", status);
    else
        json_decref(status);
    now->sec += 1;
    return out;
}

static int streq_safe(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static const char *phase(const json_t *obj)
{
    return api_get_str(json_object_get(obj, "status"), "phase");
}

static int terminal(const json_t *obj)
{
    const char *p = phase(obj);
    return p != NULL && (strcmp(p, "Succeeded") == 0 || strcmp(p, "Failed") == 0 ||
                         strcmp(p, "RolledBack") == 0);
}

/* Reconciles until the engine asks for nothing more (or a terminal phase). */
static void drive(json_t *obj, lb_time *now)
{
    for (int i = 0; i < 400; i++) {
        engine_out out = once(obj, now, 1);
        if (out.requeue_ms < 0 || terminal(obj))
            return;
    }
    fail_msg("the engine did not settle in 400 reconciles");
}

static const json_t *step_rec(const json_t *obj, const char *name)
{
    const json_t *s;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(obj, "status"), "steps"), i, s)
    {
        if (strcmp(api_get_str(s, "name"), name) == 0)
            return s;
    }
    return NULL;
}

static const char *cond(const json_t *obj, const char *type, const char *field)
{
    return api_get_str(api_condition_find(json_object_get(obj, "status"), type), field);
}

static const char *const ORDER[] = {
    "orders-db/validate", "orders-db/restore",       "orders-db/wait-available", "orders-db/verify",
    "orders-db/promote",  "orders-db/patch-secrets", "rollout/Deployment/api",   "verification",
};
#define N_ORDER (sizeof(ORDER) / sizeof(ORDER[0]))

static void test_engine_runs_steps_in_plan_order(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    const json_t *plan_json;
    (void)state;
    reset();

    drive(obj, &now);
    assert_string_equal(phase(obj), "Succeeded");
    assert_int_equal(n_calls, N_ORDER);
    for (size_t i = 0; i < N_ORDER; i++)
        assert_string_equal(call_log[i], ORDER[i]);
    /* status.steps mirrors the plan, each with its times and one attempt */
    plan_json = json_object_get(json_object_get(obj, "status"), "plan");
    assert_int_equal(json_array_size(json_object_get(json_object_get(obj, "status"), "steps")),
                     json_array_size(plan_json));
    for (size_t i = 0; i < N_ORDER; i++) {
        const json_t *s = step_rec(obj, ORDER[i]);
        assert_non_null(s);
        assert_string_equal(api_get_str(s, "phase"), "Succeeded");
        assert_int_equal(api_get_int(s, "attempts", 0), 1);
        assert_true(strcmp(api_get_str(s, "startedAt"), api_get_str(s, "finishedAt")) < 0);
    }
    assert_string_equal(cond(obj, "Ready", "status"), "True");
    assert_string_equal(cond(obj, "Verified", "status"), "True");
    assert_string_equal(cond(obj, "Progressing", "status"), "False");
    assert_string_equal(cond(obj, "Approved", "reason"), "ApprovalNotRequired");
    assert_true(api_get_int(json_object_get(obj, "status"), "durationSeconds", -1) > 0);
    assert_non_null(api_get_str(json_object_get(obj, "status"), "completedAt"));
    /* the restore step's output landed in this item's outputs entry */
    {
        const json_t *o =
            json_array_get(json_object_get(json_object_get(obj, "status"), "outputs"), 0);
        assert_string_equal(api_get_str(o, "item"), "orders-db");
        assert_string_equal(api_get_str(o, "instanceIdentifier"), "orders-restored");
        assert_int_equal(api_get_int(o, "port", 0), 5432);
    }
    json_decref(obj);
    reset();
}

static void test_engine_pending_step_is_persisted_before_it_runs(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    engine_out out;
    (void)state;
    reset();

    out = once(obj, &now, 1); /* start: all Pending */
    assert_string_equal(phase(obj), "Running");
    assert_int_equal(out.requeue_ms, 0);
    assert_string_equal(api_get_str(step_rec(obj, "orders-db/validate"), "phase"), "Pending");
    out = once(obj, &now, 1); /* Pending -> Running, nothing called */
    assert_int_equal(n_calls, 0);
    assert_false(out.called);
    assert_int_equal(out.requeue_ms, 0);
    assert_string_equal(api_get_str(step_rec(obj, "orders-db/validate"), "phase"), "Running");
    assert_string_equal(api_get_str(json_object_get(obj, "status"), "currentStep"),
                        "orders-db/validate");
    assert_int_equal(api_get_int(step_rec(obj, "orders-db/validate"), "attempts", 0), 1);
    /* the status of that write is lost (crash): the step is Pending again and still not called */
    {
        json_t *before = json_deep_copy(json_object_get(obj, "status"));
        json_t *pending = json_object_get(obj, "status");
        json_object_set_new((json_t *)step_rec(obj, "orders-db/validate"), "phase",
                            json_string("Pending"));
        (void)pending;
        once(obj, &now, 0);
        assert_int_equal(n_calls, 0);
        json_object_set_new(obj, "status", before);
    }
    out = once(obj, &now, 1); /* now it runs */
    assert_true(out.called);
    assert_int_equal(n_calls, 1);
    assert_string_equal(call_log[0], "orders-db/validate");
    assert_string_equal(api_get_str(step_rec(obj, "orders-db/validate"), "phase"), "Succeeded");
    json_decref(obj);
    reset();
}

static void test_engine_wait_requeues_after_the_steps_delay(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    engine_out out;
    int waited = 0;
    (void)state;
    reset();
    add_script("orders-db/wait-available", 0, 2, 0, NULL);

    for (int i = 0; i < 50 && !terminal(obj); i++) {
        out = once(obj, &now, 1);
        if (out.requeue_ms == 5000) {
            const json_t *s = step_rec(obj, "orders-db/wait-available");
            waited++;
            assert_string_equal(api_get_str(s, "phase"), "Running");
            assert_string_equal(api_get_str(s, "message"), "waiting for orders-db/wait-available");
        }
    }
    assert_int_equal(waited, 2);
    assert_int_equal(calls_of("orders-db/wait-available"), 3);
    assert_string_equal(phase(obj), "Succeeded");
    json_decref(obj);
    reset();
}

static void test_engine_transient_failures_retry_then_fail(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    engine_out out;
    int retries = 0;
    (void)state;
    reset();
    add_script("orders-db/restore", 1000, 0, 0, NULL);

    for (int i = 0; i < 100 && !terminal(obj); i++) {
        out = once(obj, &now, 1);
        if (!terminal(obj) && calls_of("orders-db/restore") > 0) {
            const json_t *s = step_rec(obj, "orders-db/restore");
            retries++;
            assert_true(out.requeue_ms >= 100 && out.requeue_ms <= ENGINE_RETRY_CAP_MS);
            assert_int_equal(api_get_int(s, "attempts", 0),
                             (json_int_t)calls_of("orders-db/restore") + 1);
            assert_non_null(strstr(api_get_str(s, "message"), "connection reset"));
        }
    }
    assert_int_equal(calls_of("orders-db/restore"), STEP_MAX_ATTEMPTS);
    assert_int_equal(retries, STEP_MAX_ATTEMPTS - 1);
    assert_string_equal(phase(obj), "Failed");
    assert_string_equal(api_get_str(step_rec(obj, "orders-db/restore"), "phase"), "Failed");
    assert_non_null(
        strstr(api_get_str(step_rec(obj, "orders-db/restore"), "message"), "RetriesExhausted"));
    assert_int_equal(calls_of("orders-db/wait-available"), 0);
    json_decref(obj);
    reset();
}

static void test_engine_wait_does_not_reset_the_transient_count(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    (void)state;
    reset();
    /* 5 transient failures, 3 WAITs, 5 more transient failures: the 10th fails the
     * step, whatever the WAITs in between (a poll that alternates would never end) */
    add_script("orders-db/wait-available", 5, 3, 0, NULL);
    script_of("orders-db/wait-available")->late_transient = 100;
    for (int i = 0; i < 200 && !terminal(obj); i++) {
        once(obj, &now, 1);
        if (calls_of("orders-db/wait-available") == 6) /* after the first WAIT */
            assert_int_equal(api_get_int(step_rec(obj, "orders-db/wait-available"), "attempts", 0),
                             6);
    }
    assert_int_equal(calls_of("orders-db/wait-available"), STEP_MAX_ATTEMPTS + 3);
    assert_string_equal(api_get_str(step_rec(obj, "orders-db/wait-available"), "phase"), "Failed");
    assert_non_null(strstr(api_get_str(step_rec(obj, "orders-db/wait-available"), "message"),
                           "RetriesExhausted"));
    assert_string_equal(phase(obj), "Failed");
    json_decref(obj);
    reset();
}

static void set_timeouts(json_t *obj, json_t *timeouts)
{
    json_object_set_new(json_object_get(obj, "spec"), "timeouts", timeouts);
}

static void test_engine_step_deadline_defaults_and_overrides(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    api_restore_spec *spec = NULL;
    const char *field = NULL;
    int64_t sec = 0;
    (void)state;

    set_timeouts(obj, json_pack("{s:s, s:s}", "rollout", "90s", "default", "2h"));
    assert_int_equal(api_restore_parse(&spec, NULL, json_object_get(obj, "spec"), t0()), 0);
    assert_int_equal(engine_step_deadline(&sec, &field, spec, NULL, "rollout"), 0);
    assert_int_equal(sec, 90);
    assert_string_equal(field, "rollout");
    assert_int_equal(engine_step_deadline(&sec, &field, spec, NULL, "wait-available"), 0);
    assert_int_equal(sec, 6 * 3600);
    assert_null(field);
    assert_int_equal(engine_step_deadline(&sec, &field, spec, NULL, "download"), 0);
    assert_int_equal(sec, 2 * 3600); /* an action without its own key: spec.timeouts.default */
    assert_string_equal(field, "default");
    assert_int_equal(engine_step_deadline(&sec, NULL, spec, &spec->items[0], "cleanup"), 0);
    assert_int_equal(sec, 2 * 3600); /* no cleanup.after */
    api_restore_free(spec);
    json_object_set_new(json_array_get(json_object_get(json_object_get(obj, "spec"), "items"), 0),
                        "cleanup", json_pack("{s:b, s:s}", "deleteOld", 1, "after", "1h"));
    assert_int_equal(api_restore_parse(&spec, NULL, json_object_get(obj, "spec"), t0()), 0);
    assert_int_equal(engine_step_deadline(&sec, NULL, spec, &spec->items[0], "cleanup"), 0);
    assert_int_equal(sec, 2 * 3600 + 3600); /* counted after cleanup.after */
    assert_int_equal(engine_step_deadline(&sec, NULL, spec, NULL, "approval"), LB_ENOTFOUND);
    assert_int_equal(engine_step_deadline(&sec, NULL, NULL, NULL, "patch-secrets"), 0);
    assert_int_equal(sec, 5 * 60);
    api_restore_free(spec);

    /* a zero or malformed deadline is refused, naming the field */
    set_timeouts(obj, json_pack("{s:s}", "promote", "0s"));
    assert_int_equal(api_restore_parse(&spec, NULL, json_object_get(obj, "spec"), t0()),
                     LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "spec.timeouts.promote"));
    set_timeouts(obj, json_pack("{s:s}", "promote", "soon"));
    assert_int_equal(api_restore_parse(&spec, NULL, json_object_get(obj, "spec"), t0()),
                     LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "spec.timeouts.promote"));
    set_timeouts(obj, json_pack("{s:s}", "sometimes", "5m"));
    assert_int_equal(api_restore_parse(&spec, NULL, json_object_get(obj, "spec"), t0()),
                     LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "spec.timeouts"));
    json_decref(obj);
}

static void test_engine_rollout_past_its_deadline_rolls_back(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    const json_t *s;
    int clamped = 0;
    (void)state;
    reset();
    set_timeouts(obj, json_pack("{s:s}", "rollout", "30s"));
    add_script("rollout/Deployment/api", 0, 100000, 0, NULL); /* never becomes ready */

    for (int i = 0; i < 400 && !terminal(obj); i++) {
        engine_out out = once(obj, &now, 1);
        s = step_rec(obj, "rollout/Deployment/api");
        if (streq_safe(api_get_str(s, "phase"), "Running") && out.requeue_ms > 0 &&
            out.requeue_ms < 5000)
            clamped++; /* the last poll is brought forward to the deadline */
    }
    assert_string_equal(phase(obj), "RolledBack");
    s = step_rec(obj, "rollout/Deployment/api");
    assert_string_equal(api_get_str(s, "phase"), "Failed");
    assert_non_null(strstr(api_get_str(s, "message"), "DeadlineExceeded"));
    assert_non_null(strstr(api_get_str(s, "message"), "spec.timeouts.rollout"));
    assert_non_null(strstr(api_get_str(s, "message"), "waiting for rollout/Deployment/api"));
    /* called about once a second for 30 s, not forever */
    assert_true(calls_of("rollout/Deployment/api") >= 25 &&
                calls_of("rollout/Deployment/api") <= 31);
    assert_true(clamped >= 1);
    /* the cutover was undone: secrets, rename, then the workloads restarted again */
    assert_int_equal(calls_of("undo:orders-db/patch-secrets"), 1);
    assert_int_equal(calls_of("undo:orders-db/promote"), 1);
    assert_non_null(step_rec(obj, "rollback/rollout/Deployment/api"));
    assert_null(step_rec(obj, "rollback/verification"));
    assert_int_equal(calls_of("verification"), 0);
    json_decref(obj);
    reset();
}

static void test_engine_wait_requeue_is_cut_to_the_deadline(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    engine_out out;
    (void)state;
    reset();
    set_timeouts(obj, json_pack("{s:s}", "validate", "3s"));
    add_script("orders-db/validate", 0, 100, 0, NULL);
    once(obj, &now, 1);       /* start */
    once(obj, &now, 1);       /* validate Running at t0+1 */
    out = once(obj, &now, 1); /* t0+2: WAIT 5000 ms, deadline at t0+4 */
    assert_int_equal(out.requeue_ms, 2000);
    out = once(obj, &now, 1); /* t0+3: 1 s left */
    assert_int_equal(out.requeue_ms, 1000);
    once(obj, &now, 1); /* t0+4: past it, failed uncalled */
    assert_int_equal(calls_of("orders-db/validate"), 2);
    assert_string_equal(phase(obj), "Failed");
    assert_non_null(
        strstr(api_get_str(step_rec(obj, "orders-db/validate"), "message"), "DeadlineExceeded"));
    json_decref(obj);
    reset();
}

static int destructive_called(void)
{
    return calls_of("orders-db/promote") + calls_of("orders-db/patch-secrets") +
               calls_of("rollout/Deployment/api") + calls_of("verification") >
           0;
}

static void test_engine_approval_gate_blocks_destructive_steps(void **state)
{
    json_t *obj = rr("true", "true", "orders-restored", 1);
    lb_time now = t0();
    (void)state;
    reset();

    drive(obj, &now);
    assert_string_equal(phase(obj), "AwaitingApproval");
    assert_string_equal(cond(obj, "Approved", "status"), "False");
    assert_string_equal(api_get_str(json_object_get(obj, "status"), "currentStep"), "approval");
    assert_false(destructive_called());
    assert_int_equal(calls_of("orders-db/verify"), 1); /* the copy is ready and verified */
    assert_true(engine_settled(obj));
    for (int i = 0; i < 5; i++) /* resyncs change nothing */
        once(obj, &now, 1);
    assert_false(destructive_called());
    assert_null(json_object_get(json_object_get(obj, "status"), "approval"));

    approve(obj, "alice");
    assert_false(engine_settled(obj));
    drive(obj, &now);
    assert_string_equal(phase(obj), "Succeeded");
    assert_string_equal(
        api_get_str(json_object_get(json_object_get(obj, "status"), "approval"), "approvedBy"),
        "alice");
    assert_non_null(
        api_get_str(json_object_get(json_object_get(obj, "status"), "approval"), "approvedAt"));
    assert_string_equal(cond(obj, "Approved", "status"), "True");
    assert_int_equal(calls_of("orders-db/promote"), 1);
    assert_string_equal(api_get_str(step_rec(obj, "approval"), "phase"), "Succeeded");
    json_decref(obj);
    reset();
}

/* status.measured of a Succeeded restore (issue 15): apply -> Succeeded,
 * approval -> Succeeded, and the restore point's age at apply time. */
static void test_engine_measures_rto_and_rpo(void **state)
{
    json_t *obj = rr("true", "true", "orders-restored", 1);
    lb_time now = t0(), approved, done;
    const json_t *m;
    (void)state;
    reset();

    json_object_set_new(json_object_get(obj, "metadata"), "creationTimestamp",
                        json_string("2026-03-01T00:00:00Z"));
    drive(obj, &now);
    assert_string_equal(phase(obj), "AwaitingApproval");
    assert_null(json_object_get(json_object_get(obj, "status"), "measured"));
    now.sec += 100; /* the approver takes 100 s */
    approve(obj, "alice");
    drive(obj, &now);
    assert_string_equal(phase(obj), "Succeeded");
    assert_int_equal(
        lb_time_parse_rfc3339(
            &approved,
            api_get_str(json_object_get(json_object_get(obj, "status"), "approval"), "approvedAt")),
        0);
    assert_int_equal(
        lb_time_parse_rfc3339(&done, api_get_str(json_object_get(obj, "status"), "completedAt")),
        0);
    m = json_object_get(json_object_get(obj, "status"), "measured");
    assert_non_null(m);
    assert_int_equal(api_get_int(m, "rtoSeconds", -1), done.sec - t0().sec);
    assert_true(api_get_int(m, "rtoSeconds", -1) > 100);
    assert_int_equal(api_get_int(m, "rtoAfterApprovalSeconds", -1), done.sec - approved.sec);
    /* restoreTime 2026-02-18T14:30:00Z, applied 2026-03-01T00:00:00Z */
    assert_int_equal(api_get_int(m, "rpoSeconds", -1), 10 * 86400 + 9 * 3600 + 1800);
    json_decref(obj);
    reset();
}

static void test_engine_destructive_step_never_runs_without_recorded_approval(void **state)
{
    json_t *obj = rr("true", "true", "orders-restored", 1);
    lb_time now = t0();
    (void)state;
    reset();

    drive(obj, &now);
    /* a status claiming the gate passed, but with no approval recorded */
    json_object_set_new((json_t *)step_rec(obj, "approval"), "phase", json_string("Succeeded"));
    for (int i = 0; i < 5; i++)
        once(obj, &now, 1);
    assert_false(destructive_called());
    assert_string_equal(cond(obj, "Progressing", "reason"), "ApprovalMissing");
    json_decref(obj);
    reset();
}

static void test_engine_prepare_failure_fails_and_keeps_the_copy(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    const char *msg;
    (void)state;
    reset();
    add_script("orders-db/verify", 0, 0, 1, "CheckFailed");

    drive(obj, &now);
    assert_string_equal(phase(obj), "Failed");
    msg = api_get_str(json_object_get(obj, "status"), "message");
    assert_non_null(strstr(msg, "orders-db/verify"));
    assert_non_null(strstr(msg, "CheckFailed"));
    assert_non_null(strstr(msg, "nothing live was changed"));
    assert_non_null(strstr(msg, "orders-restored"));
    assert_false(destructive_called());
    assert_int_equal(n_effects, 3); /* validate, restore, wait-available */
    assert_string_equal(cond(obj, "Ready", "status"), "False");
    assert_null(step_rec(obj, "rollback/orders-db/verify"));
    json_decref(obj);
    reset();
}

static void test_engine_cutover_failure_rolls_back_in_reverse(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    static const char *const want[] = {
        "orders-db/validate",       "orders-db/restore",
        "orders-db/wait-available", "orders-db/verify",
        "orders-db/promote",        "orders-db/patch-secrets",
        "rollout/Deployment/api",   "verification",
        "undo:stop-writers",        "undo:orders-db/patch-secrets",
        "undo:orders-db/promote",   "undo:rollout/Deployment/api",
    };
    const char *msg;
    (void)state;
    reset();
    add_script("verification", 0, 0, 1, "CheckFailed");

    drive(obj, &now);
    assert_string_equal(phase(obj), "RolledBack");
    assert_int_equal(n_calls, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n_calls; i++)
        assert_string_equal(call_log[i], want[i]);
    msg = api_get_str(json_object_get(obj, "status"), "message");
    assert_non_null(strstr(msg, "verification"));
    assert_non_null(strstr(msg, "CheckFailed"));
    assert_string_equal(cond(obj, "Ready", "reason"), "RolledBack");
    assert_string_equal(api_get_str(step_rec(obj, "rollback/orders-db/promote"), "phase"),
                        "Succeeded");
    assert_string_equal(api_get_str(step_rec(obj, "verification"), "phase"), "Failed");
    /* the writers were stopped before anything moved back, and the message names
     * the copy that holds what they wrote meanwhile */
    assert_string_equal(api_get_str(step_rec(obj, "rollback/stop-writers"), "phase"), "Succeeded");
    assert_non_null(strstr(msg, "writes made during the failed cutover are on the restored copy"));
    assert_non_null(strstr(msg, "orders-db: orders-restored"));
    json_decref(obj);
    reset();
}

static void test_engine_rollback_only_undoes_started_steps(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    (void)state;
    reset();
    add_script("orders-db/patch-secrets", 0, 0, 1, "SecretNotFound");

    drive(obj, &now);
    assert_string_equal(phase(obj), "RolledBack");
    assert_int_equal(calls_of("undo:orders-db/patch-secrets"), 1); /* it started: undo it too */
    assert_int_equal(calls_of("undo:orders-db/promote"), 1);
    assert_int_equal(calls_of("rollout/Deployment/api"), 0);
    assert_int_equal(calls_of("undo:rollout/Deployment/api"), 1);
    assert_true(strcmp(call_log[n_calls - 3], "undo:orders-db/patch-secrets") == 0);
    json_decref(obj);
    reset();
}

static void test_engine_cutover_failure_without_rollback_fails(void **state)
{
    json_t *obj = rr("false", "false", "orders-restored", 1);
    lb_time now = t0();
    (void)state;
    reset();
    add_script("rollout/Deployment/api", 0, 0, 1, "RolloutTimeout");

    drive(obj, &now);
    assert_string_equal(phase(obj), "Failed");
    assert_int_equal(calls_of("undo:orders-db/promote"), 0);
    assert_null(step_rec(obj, "rollback/orders-db/promote"));
    assert_non_null(strstr(api_get_str(json_object_get(obj, "status"), "message"),
                           "rollbackOnFailure is false"));
    json_decref(obj);
    reset();
}

static void test_engine_unsupported_source_is_pending_and_runs_nothing(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    json_t *items = json_object_get(json_object_get(obj, "spec"), "items");
    json_error_t err;
    lb_time now = t0();
    const char *msg;
    (void)state;
    reset();
    json_array_append_new(
        items,
        json_loads("{\"name\":\"sessions\",\"redisRDB\":{\"source\":{\"bucket\":\"shop-backups\","
                   "\"key\":\"redis/dump.rdb\"},\"target\":{\"statefulSet\":\"redis\","
                   "\"pod\":\"redis-0\",\"dataDir\":\"/data\"}}}",
                   0, &err));

    drive(obj, &now);
    if (strcmp(phase(obj), "Pending") != 0)
        print_message("%s\n", cond(obj, "Valid", "message"));
    assert_string_equal(phase(obj), "Pending");
    assert_string_equal(cond(obj, "Progressing", "status"), "False");
    assert_string_equal(cond(obj, "Progressing", "reason"), "SourceNotSupported");
    msg = cond(obj, "Progressing", "message");
    assert_non_null(strstr(msg, "sessions (redisRDB)"));
    assert_null(strstr(msg, "orders-db"));
    assert_null(json_object_get(json_object_get(obj, "status"), "steps"));
    assert_true(json_array_size(json_object_get(json_object_get(obj, "status"), "plan")) > 0);
    assert_int_equal(n_calls, 0);
    assert_true(engine_settled(obj));
    json_decref(obj);
    reset();
}

static void test_engine_spec_change_during_run_is_ignored(void **state)
{
    json_t *obj = rr("true", "true", "orders-restored", 1);
    json_t *changed = rr("true", "true", "orders-other", 2);
    json_t *kept;
    char *value;
    lb_time now = t0();
    (void)state;
    reset();

    drive(obj, &now); /* prepare done, waiting for approval */
    assert_string_equal(phase(obj), "AwaitingApproval");
    kept = json_pack("{s:i, s:O}", "generation", 1, "spec", json_object_get(obj, "spec"));
    value = json_dumps(kept, JSON_COMPACT);
    /* the spec moves to generation 2 (another target); the started spec is kept */
    json_object_set(changed, "status", json_object_get(obj, "status"));
    annotate(changed, ENGINE_SPEC_ANNOTATION, value);
    approve(changed, "bob");
    drive(changed, &now);
    assert_string_equal(phase(changed), "Succeeded");
    assert_string_equal(seen_target, "orders-restored");
    assert_string_equal(cond(changed, "SpecChanged", "status"), "True");
    assert_string_equal(cond(changed, "SpecChanged", "reason"), "SpecChangedDuringRun");
    assert_int_equal(api_get_int(json_object_get(changed, "status"), "observedGeneration", 0), 1);
    assert_true(engine_settled(changed));
    free(value);
    json_decref(kept);
    json_decref(obj);
    json_decref(changed);
    reset();
}

static void test_engine_spec_change_without_kept_spec_holds(void **state)
{
    json_t *obj = rr("true", "true", "orders-restored", 1);
    json_t *changed = rr("true", "true", "orders-other", 2);
    lb_time now = t0();
    size_t before;
    (void)state;
    reset();

    drive(obj, &now);
    json_object_set(changed, "status", json_object_get(obj, "status"));
    approve(changed, "bob");
    before = n_calls;
    drive(changed, &now);
    assert_int_equal(n_calls, before);
    assert_string_equal(cond(changed, "SpecChanged", "reason"), "OriginalSpecUnavailable");
    assert_string_equal(cond(changed, "Progressing", "status"), "False");
    json_decref(obj);
    json_decref(changed);
    reset();
}

static void test_engine_memo_reapplies_after_a_conflict(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    json_t *a, *b;
    engine_memo memo;
    engine_out out;
    (void)state;
    reset();

    once(obj, &now, 1);
    once(obj, &now, 1); /* validate Running */
    memset(&memo, 0, sizeof(memo));
    a = json_deep_copy(json_object_get(obj, "status"));
    b = json_deep_copy(json_object_get(obj, "status"));
    assert_int_equal(engine_step(a, &out, &fake_env, obj, now, &memo), 0);
    assert_true(out.called);
    /* the write met a 409: re-applied on the re-read status, nothing is called again */
    assert_int_equal(engine_step(b, &out, &fake_env, obj, now, &memo), 0);
    assert_false(out.called);
    assert_int_equal(n_calls, 1);
    assert_true(json_equal(a, b));
    engine_memo_dispose(&memo);
    json_decref(a);
    json_decref(b);
    json_decref(obj);
    reset();
}

static void test_engine_memo_is_not_reapplied_over_another_writers_progress(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    json_t *a, *b;
    engine_memo memo;
    engine_out out;
    (void)state;
    reset();
    add_script("orders-db/validate", 0, 3, 0, NULL);

    once(obj, &now, 1);
    once(obj, &now, 1); /* validate Running */
    memset(&memo, 0, sizeof(memo));
    a = json_deep_copy(json_object_get(obj, "status"));
    assert_int_equal(engine_step(a, &out, &fake_env, obj, now, &memo), 0);
    assert_true(out.called); /* WAIT */
    /* meanwhile another replica polled and wrote (same step, same attempts, a new
     * message): our 409 re-read must not lay our stale result over it */
    once(obj, &now, 1);
    b = json_deep_copy(json_object_get(obj, "status"));
    json_object_set_new((json_t *)step_rec(obj, "orders-db/validate"), "message",
                        json_string("written by the new leader"));
    json_decref(b);
    b = json_deep_copy(json_object_get(obj, "status"));
    assert_int_equal(engine_step(b, &out, &fake_env, obj, now, &memo), 0);
    assert_false(out.called);
    assert_true(json_equal(b, json_object_get(obj, "status")));
    assert_int_equal(out.requeue_ms, 0);
    engine_memo_dispose(&memo);
    json_decref(a);
    json_decref(b);
    json_decref(obj);
    reset();
}

/* Reconciles until step `name` has been called `calls` times. */
static void run_until_called(json_t *obj, lb_time *now, const char *name, size_t calls)
{
    for (int i = 0; i < 200 && calls_of(name) < calls; i++) {
        once(obj, now, 1);
        if (phase(obj) != NULL && strcmp(phase(obj), "AwaitingApproval") == 0)
            approve(obj, "carol");
    }
    assert_int_equal(calls_of(name), calls);
}

static size_t undo_calls(void)
{
    size_t n = 0;
    for (size_t i = 0; i < n_calls; i++)
        n += strncmp(call_log[i], "undo:", 5) == 0;
    return n;
}

static void test_engine_abort_in_prepare_fails_and_keeps_copies(void **state)
{
    json_t *obj = rr("true", "true", "orders-restored", 1);
    lb_time now = t0();
    const json_t *ab;
    (void)state;
    reset();
    add_script("orders-db/wait-available", 0, 1000, 0, NULL);
    run_until_called(obj, &now, "orders-db/wait-available", 2);
    annotate(obj, ENGINE_ABORT_ANNOTATION, "wrong restore time");
    assert_false(engine_settled(obj));
    drive(obj, &now);

    assert_string_equal(phase(obj), "Failed");
    assert_int_equal(calls_of("orders-db/wait-available"), 2); /* not called again */
    assert_int_equal(undo_calls(), 0);                         /* default: copies kept */
    assert_string_equal(api_get_str(step_rec(obj, "orders-db/wait-available"), "phase"), "Failed");
    assert_non_null(
        strstr(api_get_str(step_rec(obj, "orders-db/wait-available"), "message"), "Aborted"));
    ab = step_rec(obj, ENGINE_ABORT_STEP);
    assert_non_null(ab);
    assert_string_equal(api_get_str(ab, "phase"), "Succeeded");
    assert_non_null(strstr(api_get_str(ab, "message"), "wrong restore time"));
    assert_non_null(api_get_str(ab, "startedAt"));
    {
        const char *m = api_get_str(json_object_get(obj, "status"), "message");
        assert_non_null(strstr(m, "nothing live was changed"));
        assert_non_null(strstr(m, "kept (orders-db: orders-restored)"));
    }
    assert_string_equal(cond(obj, "Ready", "reason"), "Aborted");
    assert_int_equal(calls_of("orders-db/promote") + calls_of("orders-db/patch-secrets"), 0);
    json_decref(obj);
    reset();
}

static void test_engine_abort_in_prepare_deletes_copies_when_asked(void **state)
{
    json_t *obj = rr("true", "true", "orders-restored", 1);
    lb_time now = t0();
    (void)state;
    reset();
    json_object_set_new(json_object_get(obj, "spec"), "onAbort",
                        json_pack("{s:b}", "deleteCopies", 1));
    add_script("orders-db/wait-available", 0, 1000, 0, NULL);
    run_until_called(obj, &now, "orders-db/wait-available", 1);
    annotate(obj, ENGINE_ABORT_ANNOTATION, "not needed");
    drive(obj, &now);
    assert_string_equal(phase(obj), "Failed");
    assert_int_equal(calls_of("undo:orders-db/restore"), 1);
    assert_int_equal(undo_calls(), 1);
    assert_string_equal(api_get_str(step_rec(obj, "rollback/orders-db/restore"), "phase"),
                        "Succeeded");
    assert_non_null(strstr(api_get_str(json_object_get(obj, "status"), "message"),
                           "restored copies were deleted"));
    json_decref(obj);
    reset();
}

static void test_engine_deleted_in_prepare_deletes_copies_unless_kept(void **state)
{
    (void)state;
    for (int keep = 0; keep <= 1; keep++) {
        json_t *obj = rr("true", "true", "orders-restored", 1);
        lb_time now = t0();
        reset();
        if (keep)
            json_object_set_new(json_object_get(obj, "spec"), "onDelete",
                                json_pack("{s:b}", "keepCopies", 1));
        run_until_called(obj, &now, "orders-db/verify", 1);
        json_object_set_new(json_object_get(obj, "metadata"), "deletionTimestamp",
                            json_string("2026-03-01T00:01:00Z"));
        assert_false(engine_settled(obj));
        drive(obj, &now);
        assert_string_equal(phase(obj), "Failed");
        assert_int_equal(calls_of("undo:orders-db/restore"), keep ? 0 : 1);
        assert_non_null(
            strstr(api_get_str(step_rec(obj, ENGINE_ABORT_STEP), "message"), "being deleted"));
        json_decref(obj);
    }
    reset();
}

static void test_engine_abort_in_cutover_rolls_back(void **state)
{
    json_t *obj = rr("true", "false", "orders-restored", 1); /* even without rollbackOnFailure */
    lb_time now = t0();
    (void)state;
    reset();
    add_script("rollout/Deployment/api", 0, 1000, 0, NULL);
    run_until_called(obj, &now, "rollout/Deployment/api", 1);
    annotate(obj, ENGINE_ABORT_ANNOTATION, "errors in the gateway");
    drive(obj, &now);
    assert_string_equal(phase(obj), "RolledBack");
    assert_int_equal(calls_of("rollout/Deployment/api"), 1);
    assert_int_equal(calls_of("undo:orders-db/patch-secrets"), 1);
    assert_int_equal(calls_of("undo:orders-db/promote"), 1);
    assert_int_equal(calls_of("undo:orders-db/restore"), 0); /* the copy holds the writes */
    assert_string_equal(api_get_str(step_rec(obj, "rollback/rollout/Deployment/api"), "phase"),
                        "Succeeded");
    assert_non_null(
        strstr(api_get_str(json_object_get(obj, "status"), "message"), "errors in the gateway"));
    assert_int_equal(calls_of("verification"), 0);
    json_decref(obj);
    reset();
}

static void test_engine_abort_while_awaiting_approval_and_during_rollback(void **state)
{
    json_t *obj = rr("true", "true", "orders-restored", 1);
    lb_time now = t0();
    json_t *before;
    (void)state;
    reset();
    drive(obj, &now);
    assert_string_equal(phase(obj), "AwaitingApproval");
    assert_true(engine_settled(obj));
    annotate(obj, ENGINE_ABORT_ANNOTATION, "changed my mind");
    assert_false(engine_settled(obj));
    drive(obj, &now);
    assert_string_equal(phase(obj), "Failed");
    assert_string_equal(api_get_str(step_rec(obj, "approval"), "phase"), "Failed");
    assert_int_equal(calls_of("orders-db/promote"), 0);
    /* terminal, and the annotation (or approval) afterwards changes nothing */
    before = json_deep_copy(json_object_get(obj, "status"));
    approve(obj, "carol");
    once(obj, &now, 1);
    assert_true(json_equal(before, json_object_get(obj, "status")));
    json_decref(before);
    json_decref(obj);

    /* an abort during a rollback: the rollback finishes as it would have */
    obj = rr("false", "true", "orders-restored", 1);
    reset();
    add_script("verification", 0, 0, 1, "CheckFailed");
    run_until_called(obj, &now, "verification", 1);
    annotate(obj, ENGINE_ABORT_ANNOTATION, "late");
    drive(obj, &now);
    assert_string_equal(phase(obj), "RolledBack");
    assert_null(step_rec(obj, ENGINE_ABORT_STEP));
    assert_int_equal(calls_of("undo:orders-db/promote"), 1);
    json_decref(obj);
    reset();
}

static void test_engine_deleted_after_an_irreversible_step_finishes_the_restore(void **state)
{
    json_t *obj =
        json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i, s:{}}, s:{s:{s:b}, s:[{s:s, s:{s:s, s:b}, "
                  "s:[{s:s, s:s, s:s}]}]}}",
                  "apiVersion", "lifeboat.dev/v1alpha1", "kind", "RestoreRequest", "metadata",
                  "name", "r", "namespace", "ns", "uid", "uid-1", "generation", 1, "annotations",
                  "spec", "approval", "required", 0, "items", "name", "orders-db", "rdsInPlace",
                  "dbInstanceIdentifier", "orders-prod", "latest", 1, "secretPatches", "secretName",
                  "s", "key", "URL", "template", "postgres://$(ENDPOINT):$(PORT)/x");
    lb_time now = t0();
    (void)state;
    reset();
    assert_non_null(obj);
    add_script("orders-db/wait-deleted", 0, 2, 0, NULL);
    /* reconcile until the delete has run and its wait is in progress */
    for (int i = 0; i < 100 && calls_of("orders-db/wait-deleted") < 1; i++) {
        json_t *st = json_object_get(obj, "status");
        json_t *status = json_is_object(st) ? json_deep_copy(st) : json_object();
        engine_memo memo;
        engine_out out;
        memset(&memo, 0, sizeof(memo));
        assert_int_equal(engine_step(status, &out, &fake_inplace_env, obj, now, &memo), 0);
        engine_memo_dispose(&memo);
        json_object_set_new(obj, "status", status);
        now.sec++;
    }
    assert_int_equal(calls_of("orders-db/delete"), 1);
    json_object_set_new(json_object_get(obj, "metadata"), "deletionTimestamp",
                        json_string("2026-03-01T00:05:00Z"));
    annotate(obj, ENGINE_ABORT_ANNOTATION, "too late");
    for (int i = 0; i < 100 && !terminal(obj); i++) {
        json_t *status = json_deep_copy(json_object_get(obj, "status"));
        engine_memo memo;
        engine_out out;
        memset(&memo, 0, sizeof(memo));
        assert_int_equal(engine_step(status, &out, &fake_inplace_env, obj, now, &memo), 0);
        engine_memo_dispose(&memo);
        json_object_set_new(obj, "status", status);
        now.sec++;
        if (i == 0) { /* the request says why it does not stop yet */
            assert_string_equal(cond(obj, "Progressing", "reason"), "FinishingIrreversible");
            assert_non_null(strstr(cond(obj, "Progressing", "message"), "orders-db/delete"));
        }
    }
    /* the database is not left deleted: the restore ran to its end */
    assert_string_equal(phase(obj), "Succeeded");
    assert_int_equal(calls_of("orders-db/restore"), 1);
    assert_int_equal(calls_of("orders-db/patch-secrets"), 1);
    assert_null(step_rec(obj, ENGINE_ABORT_STEP));
    json_decref(obj);
    reset();
}

static void test_engine_settled_keeps_a_finalizer_in_view(void **state)
{
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    (void)state;
    reset();
    drive(obj, &now);
    assert_string_equal(phase(obj), "Succeeded");
    assert_true(engine_settled(obj));
    json_object_set_new(json_object_get(obj, "metadata"), "finalizers",
                        json_pack("[s]", ENGINE_FINALIZER));
    assert_false(engine_settled(obj)); /* the reconcile must remove it */
    json_decref(obj);
    reset();
}

/* Runs a whole restore, losing the status write of reconcile number `crash`
 * (the process died after the step acted, before its status was persisted). */
static void run_with_crash_at(json_t *obj, int crash, lb_time *now)
{
    int k = 0;
    for (int i = 0; i < 400 && !terminal(obj); i++) {
        engine_out out = once(obj, now, k++ != crash);
        if (out.requeue_ms < 0 && !terminal(obj))
            approve(obj, "carol");
    }
    assert_true(terminal(obj));
}

static void test_engine_crash_at_every_point_makes_each_effect_once(void **state)
{
    lb_time now = t0();
    (void)state;

    for (int crash = 0; crash < 40; crash++) {
        json_t *obj = rr("true", "true", "orders-restored", 1);
        reset();
        run_with_crash_at(obj, crash, &now);
        assert_string_equal(phase(obj), "Succeeded");
        assert_int_equal(n_effects, N_ORDER);
        for (size_t i = 0; i < n_effects; i++)
            assert_int_equal(effect_counts[i], 1);
        for (size_t i = 0; i < N_ORDER; i++)
            assert_int_equal(*effect(ORDER[i]), 1);
        json_decref(obj);
    }
    for (int crash = 0; crash < 40; crash++) { /* and through a rollback */
        json_t *obj = rr("true", "true", "orders-restored", 1);
        reset();
        add_script("verification", 0, 0, 1, "CheckFailed");
        run_with_crash_at(obj, crash, &now);
        assert_string_equal(phase(obj), "RolledBack");
        assert_int_equal(*effect("undo:orders-db/promote"), 1);
        assert_int_equal(*effect("undo:orders-db/patch-secrets"), 1);
        assert_int_equal(*effect("undo:rollout/Deployment/api"), 1);
        assert_int_equal(*effect("orders-db/promote"), 1);
        json_decref(obj);
    }
    reset();
}

static void test_engine_dry_run_and_invalid_keep_todays_behaviour(void **state)
{
    json_t *obj = rr("true", "true", "orders-restored", 1);
    lb_time now = t0();
    engine_out out;
    (void)state;
    reset();

    json_object_set_new(json_object_get(obj, "spec"), "dryRun", json_true());
    out = once(obj, &now, 1);
    assert_int_equal(out.n_events, 1); /* one Event for the phase change */
    assert_string_equal(out.events[0].reason, "Planned");
    assert_string_equal(out.events[0].type, "Normal");
    out = once(obj, &now, 1);
    assert_int_equal(out.n_events, 0);
    assert_string_equal(phase(obj), "Planned");
    assert_null(json_object_get(json_object_get(obj, "status"), "steps"));
    assert_int_equal(n_calls, 0);
    json_object_set_new(json_object_get(obj, "spec"), "dryRun", json_string("yes"));
    json_object_set_new(json_object_get(obj, "metadata"), "generation", json_integer(2));
    out = once(obj, &now, 1);
    assert_int_equal(out.n_events, 1);
    assert_string_equal(out.events[0].reason, "InvalidSpec");
    assert_string_equal(out.events[0].type, "Warning");
    assert_string_equal(phase(obj), "Failed");
    assert_string_equal(cond(obj, "Valid", "reason"), "InvalidSpec");
    assert_non_null(strstr(cond(obj, "Valid", "message"), "spec.dryRun"));
    assert_int_equal(n_calls, 0);
    json_decref(obj);
    reset();
}

static void test_engine_aws_step_without_aws_fails_uncalled(void **state)
{
    engine_entry entries[sizeof(fake_entries) / sizeof(fake_entries[0])];
    engine_table table = {entries, sizeof(entries) / sizeof(entries[0])};
    engine_env env = {.table = &table}; /* no AWS client */
    json_t *obj = rr("false", "true", "orders-restored", 1);
    lb_time now = t0();
    (void)state;
    reset();
    memcpy(entries, fake_entries, sizeof(entries));
    entries[0].needs_aws = 1; /* validate */

    for (int i = 0; i < 10 && !terminal(obj); i++) {
        json_t *st = json_object_get(obj, "status");
        json_t *status = json_is_object(st) ? json_deep_copy(st) : json_object();
        engine_memo memo;
        engine_out out;
        memset(&memo, 0, sizeof(memo));
        assert_int_equal(engine_step(status, &out, &env, obj, now, &memo), 0);
        engine_memo_dispose(&memo);
        json_object_set_new(obj, "status", status);
    }
    assert_string_equal(phase(obj), "Failed");
    assert_int_equal(n_calls, 0);
    assert_non_null(
        strstr(api_get_str(step_rec(obj, "orders-db/validate"), "message"), "NoAWSConfiguration"));
    json_decref(obj);
    reset();
}

static void test_engine_default_table_covers_every_rds_source(void **state)
{
    static const char *const common[] = {"validate",      "wait-available", "verify",
                                         "migrations",    "scale-down",     "promote",
                                         "patch-secrets", "scale-up"};
    static const api_source rds[] = {API_SOURCE_RDS_POINT_IN_TIME, API_SOURCE_RDS_SNAPSHOT,
                                     API_SOURCE_RDS_IN_PLACE, API_SOURCE_RDS_CLUSTER_POINT_IN_TIME};
    (void)state;
    for (size_t s = 0; s < 4; s++)
        for (size_t a = 0; a < sizeof(common) / sizeof(common[0]); a++)
            assert_non_null(engine_table_find(&engine_default_table, rds[s], common[a]));
    assert_ptr_equal(
        engine_table_find(&engine_default_table, API_SOURCE_RDS_SNAPSHOT, "promote")->undo,
        rds_step_promote_undo);
    assert_ptr_equal(
        engine_table_find(&engine_default_table, API_SOURCE_RDS_IN_PLACE, "restore")->fn,
        rds_step_restore_in_place);
    assert_true(
        engine_table_find(&engine_default_table, API_SOURCE_RDS_SNAPSHOT, "restore")->needs_aws);
    assert_false(engine_table_find(&engine_default_table, API_SOURCE_RDS_SNAPSHOT, "patch-secrets")
                     ->needs_aws);
    assert_ptr_equal(engine_table_find(&engine_default_table, API_SOURCE_PG_DUMP, "load")->fn,
                     pgdump_step_load);
    assert_true(
        engine_table_find(&engine_default_table, API_SOURCE_PG_DUMP, "validate")->needs_aws);
    assert_ptr_equal(
        engine_table_find(&engine_default_table, API_SOURCE_SECRET_VERSION, "make-current")->undo,
        secret_step_make_current_undo);
    assert_true(
        engine_table_find(&engine_default_table, API_SOURCE_SECRET_VERSION, "validate")->needs_aws);
    assert_ptr_equal(engine_table_find(&engine_default_table, API_SOURCE_S3_OBJECTS, "apply")->fn,
                     s3obj_step_apply);
    assert_ptr_equal(engine_table_find(&engine_default_table, API_SOURCE_S3_SYNC, "sync")->fn,
                     s3sync_step_sync);
    assert_ptr_equal(engine_table_find(&engine_default_table, API_SOURCE_S3_SYNC, "verify")->fn,
                     s3sync_step_verify);
    assert_true(engine_table_find(&engine_default_table, API_SOURCE_S3_SYNC, "compare")->needs_aws);
}


/* ---- tenancy (DESIGN.md 3.4) ------------------------------------------------------ */

static json_t *scope_obj(const char *instances, int four_eyes)
{
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"name\":\"team-a\"},\"spec\":{\"namespaces\":[\"ns\"],"
             "\"aws\":{\"rdsInstances\":%s},\"kubernetes\":{\"httpHosts\":[\"*.ns.svc\"]},"
             "\"approval\":{\"requireDistinctApprover\":%s}}}",
             instances, four_eyes ? "true" : "false");
    return json_loads(buf, 0, NULL);
}

static void test_engine_scope_refuses_a_name_outside_it_before_anything_runs(void **state)
{
    json_t *obj = rr("true", "true", "orders-restored", 1);
    json_t *sc = scope_obj("[\"orders-prod\"]", 0); /* the target is not allowed */
    engine_env env = {.table = &fake_table, .enforce_scopes = 1, .scope = sc};
    lb_time now = t0();
    const char *msg;
    (void)state;
    reset();
    test_env = &env;
    drive(obj, &now);
    test_env = NULL;
    assert_string_equal(phase(obj), "Failed");
    assert_string_equal(cond(obj, "Valid", "status"), "False");
    msg = cond(obj, "Valid", "message");
    assert_non_null(strstr(msg, "spec.items[0].rdsPointInTime.targetDBInstanceIdentifier"));
    assert_non_null(strstr(msg, "orders-restored"));
    assert_non_null(strstr(msg, "RecoveryScope team-a"));
    assert_int_equal(n_calls, 0); /* no step, so no AWS call */
    json_decref(obj);
    json_decref(sc);
}

static void test_engine_without_a_scope_nothing_runs(void **state)
{
    json_t *obj = rr("true", "true", "orders-restored", 1);
    engine_env env = {.table = &fake_table, .enforce_scopes = 1,
                      .scope_error = "no RecoveryScope selects namespace ns"};
    lb_time now = t0();
    (void)state;
    reset();
    test_env = &env;
    drive(obj, &now);
    test_env = NULL;
    assert_string_equal(phase(obj), "Failed");
    assert_non_null(strstr(cond(obj, "Valid", "message"), "no RecoveryScope selects namespace ns"));
    assert_int_equal(n_calls, 0);
    json_decref(obj);
}

static void test_engine_approval_needs_the_current_plan_hash_and_four_eyes(void **state)
{
    json_t *obj = rr("true", "true", "orders-restored", 1);
    json_t *sc = scope_obj("[\"orders-*\"]", 1);
    engine_env env = {.table = &fake_table, .enforce_scopes = 1, .scope = sc};
    lb_time now = t0();
    engine_out out;
    const json_t *st;
    (void)state;
    reset();
    test_env = &env;
    annotate(obj, ENGINE_REQUESTER_ANNOTATION, "alice");
    drive(obj, &now);
    assert_string_equal(phase(obj), "AwaitingApproval");
    st = json_object_get(obj, "status");
    assert_int_equal(strlen(api_get_str(st, "planHash")), 64);
    assert_true(api_get_bool(json_object_get(st, "scope"), "requireDistinctApprover", false));

    /* an old plan's hash: nothing happens but a Warning */
    annotate(obj, ENGINE_APPROVE_ANNOTATION, "bob");
    annotate(obj, ENGINE_APPROVE_PLAN_ANNOTATION, "0123456789abcdef");
    out = once(obj, &now, 1);
    assert_string_equal(phase(obj), "AwaitingApproval");
    assert_string_equal(cond(obj, "Approved", "reason"), "StalePlanHash");
    assert_true(out.n_events >= 1);
    assert_string_equal(out.events[0].reason, "StalePlanHash");
    assert_null(json_object_get(json_object_get(obj, "status"), "approval"));
    assert_false(destructive_called());

    /* the requester approving their own request under four eyes */
    approve(obj, "alice");
    drive(obj, &now);
    assert_string_equal(phase(obj), "AwaitingApproval");
    assert_string_equal(cond(obj, "Approved", "reason"), "SelfApprovalRefused");
    assert_false(destructive_called());

    approve(obj, "bob");
    drive(obj, &now);
    test_env = NULL;
    assert_string_equal(phase(obj), "Succeeded");
    st = json_object_get(json_object_get(obj, "status"), "approval");
    assert_string_equal(api_get_str(st, "approvedBy"), "bob");
    assert_string_equal(api_get_str(st, "planHash"),
                        api_get_str(json_object_get(obj, "status"), "planHash"));
    json_decref(obj);
    json_decref(sc);
}

static void test_engine_forged_kept_spec_is_never_executed(void **state)
{
    json_t *obj = rr("true", "true", "orders-restored", 1);
    json_t *changed = rr("true", "true", "orders-forged", 2);
    json_t *forged;
    char *value;
    lb_time now = t0();
    size_t before;
    (void)state;
    reset();

    drive(obj, &now);
    assert_string_equal(phase(obj), "AwaitingApproval");
    /* the requester writes a new spec and a "kept" copy of it claiming generation 1 */
    forged = json_pack("{s:i, s:O}", "generation", 1, "spec", json_object_get(changed, "spec"));
    value = json_dumps(forged, JSON_COMPACT);
    json_object_set(changed, "status", json_object_get(obj, "status"));
    annotate(changed, ENGINE_SPEC_ANNOTATION, value);
    approve(changed, "bob");
    before = n_calls;
    drive(changed, &now);
    assert_int_equal(n_calls, before);
    assert_string_not_equal(seen_target, "orders-forged");
    assert_string_equal(cond(changed, "SpecChanged", "reason"), "KeptSpecMismatch");
    assert_false(destructive_called());
    free(value);
    json_decref(forged);
    json_decref(obj);
    json_decref(changed);
    reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_runs_steps_in_plan_order),
        cmocka_unit_test(test_engine_pending_step_is_persisted_before_it_runs),
        cmocka_unit_test(test_engine_wait_requeues_after_the_steps_delay),
        cmocka_unit_test(test_engine_transient_failures_retry_then_fail),
        cmocka_unit_test(test_engine_wait_does_not_reset_the_transient_count),
        cmocka_unit_test(test_engine_step_deadline_defaults_and_overrides),
        cmocka_unit_test(test_engine_rollout_past_its_deadline_rolls_back),
        cmocka_unit_test(test_engine_wait_requeue_is_cut_to_the_deadline),
        cmocka_unit_test(test_engine_memo_is_not_reapplied_over_another_writers_progress),
        cmocka_unit_test(test_engine_approval_gate_blocks_destructive_steps),
        cmocka_unit_test(test_engine_measures_rto_and_rpo),
        cmocka_unit_test(test_engine_destructive_step_never_runs_without_recorded_approval),
        cmocka_unit_test(test_engine_prepare_failure_fails_and_keeps_the_copy),
        cmocka_unit_test(test_engine_cutover_failure_rolls_back_in_reverse),
        cmocka_unit_test(test_engine_rollback_only_undoes_started_steps),
        cmocka_unit_test(test_engine_cutover_failure_without_rollback_fails),
        cmocka_unit_test(test_engine_unsupported_source_is_pending_and_runs_nothing),
        cmocka_unit_test(test_engine_spec_change_during_run_is_ignored),
        cmocka_unit_test(test_engine_spec_change_without_kept_spec_holds),
        cmocka_unit_test(test_engine_memo_reapplies_after_a_conflict),
        cmocka_unit_test(test_engine_crash_at_every_point_makes_each_effect_once),
        cmocka_unit_test(test_engine_abort_in_prepare_fails_and_keeps_copies),
        cmocka_unit_test(test_engine_abort_in_prepare_deletes_copies_when_asked),
        cmocka_unit_test(test_engine_deleted_in_prepare_deletes_copies_unless_kept),
        cmocka_unit_test(test_engine_abort_in_cutover_rolls_back),
        cmocka_unit_test(test_engine_abort_while_awaiting_approval_and_during_rollback),
        cmocka_unit_test(test_engine_deleted_after_an_irreversible_step_finishes_the_restore),
        cmocka_unit_test(test_engine_settled_keeps_a_finalizer_in_view),
        cmocka_unit_test(test_engine_dry_run_and_invalid_keep_todays_behaviour),
        cmocka_unit_test(test_engine_aws_step_without_aws_fails_uncalled),
        cmocka_unit_test(test_engine_default_table_covers_every_rds_source),
        cmocka_unit_test(test_engine_scope_refuses_a_name_outside_it_before_anything_runs),
        cmocka_unit_test(test_engine_without_a_scope_nothing_runs),
        cmocka_unit_test(test_engine_approval_needs_the_current_plan_hash_and_four_eyes),
        cmocka_unit_test(test_engine_forged_kept_spec_is_never_executed),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
