/* restore/engine.c - the RestoreRequest step engine (see engine.h). */
#include "controller/restore/engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/common.h"
#include "api/scope.h"
#include "controller/plan.h"
#include "controller/restore/scope.h"
#include "controller/restore/stepmetrics.h"
#include "kube/statuswriter.h"
#include "util/alloc.h"
#include "util/backoff.h"
#include "util/error.h"
#include "util/log.h"

/* ---- the dispatch table ------------------------------------------------------------ */

/* The steps every RDS source shares; the last field marks the calls that need AWS. */
#define RDS_COMMON_STEPS(src)                                                                      \
    {src, "validate", rds_step_validate, NULL, 1},                                                 \
        {src, "wait-available", rds_step_wait_available, NULL, 1},                                 \
        {src, "verify", verify_step_item, NULL, 0},                                                \
        {src, "migrations", kube_step_migrations, NULL, 0},                                        \
        {src, "scale-down", kube_step_scale_down, kube_step_scale_up, 0},                          \
        {src, "promote", rds_step_promote, rds_step_promote_undo, 1},                              \
        {src, "patch-secrets", kube_step_patch_secrets, kube_step_patch_secrets_undo, 0},          \
        {src, "scale-up", kube_step_scale_up, NULL, 0},                                            \
    {                                                                                              \
        src, "cleanup", rds_step_cleanup, NULL, 1                                                  \
    }

static const engine_entry default_entries[] = {
    RDS_COMMON_STEPS(API_SOURCE_RDS_POINT_IN_TIME),
    {API_SOURCE_RDS_POINT_IN_TIME, "restore", rds_step_restore, rds_step_discard_copy, 1},
    RDS_COMMON_STEPS(API_SOURCE_RDS_SNAPSHOT),
    {API_SOURCE_RDS_SNAPSHOT, "restore", rds_step_restore, rds_step_discard_copy, 1},
    RDS_COMMON_STEPS(API_SOURCE_RDS_CLUSTER_POINT_IN_TIME),
    {API_SOURCE_RDS_CLUSTER_POINT_IN_TIME, "restore-cluster", rds_step_restore_cluster, NULL, 1},
    {API_SOURCE_RDS_CLUSTER_POINT_IN_TIME, "create-writer", rds_step_create_writer, NULL, 1},
    RDS_COMMON_STEPS(API_SOURCE_RDS_IN_PLACE),
    {API_SOURCE_RDS_IN_PLACE, "pre-restore-snapshot", rds_step_pre_restore_snapshot, NULL, 1},
    {API_SOURCE_RDS_IN_PLACE, "wait-snapshot", rds_step_wait_snapshot, NULL, 1},
    {API_SOURCE_RDS_IN_PLACE, "delete", rds_step_delete, NULL, 1},
    {API_SOURCE_RDS_IN_PLACE, "wait-deleted", rds_step_wait_deleted, NULL, 1},
    {API_SOURCE_RDS_IN_PLACE, "restore", rds_step_restore_in_place, NULL, 1},
    {API_SOURCE_PG_DUMP, "validate", pgdump_step_validate, NULL, 1},
    {API_SOURCE_PG_DUMP, "download", pgdump_step_download, NULL, 0},
    {API_SOURCE_PG_DUMP, "checksum", pgdump_step_checksum, NULL, 0},
    {API_SOURCE_PG_DUMP, "scale-down", kube_step_scale_down, kube_step_scale_up, 0},
    {API_SOURCE_PG_DUMP, "load", pgdump_step_load, NULL, 0},
    {API_SOURCE_PG_DUMP, "verify", verify_step_item, NULL, 0},
    {API_SOURCE_PG_DUMP, "migrations", kube_step_migrations, NULL, 0},
    {API_SOURCE_PG_DUMP, "scale-up", kube_step_scale_up, NULL, 0},
    {API_SOURCE_PG_DUMP, "patch-secrets", kube_step_patch_secrets, kube_step_patch_secrets_undo, 0},
    {API_SOURCE_REDIS_RDB, "validate", redis_step_validate, NULL, 1},
    {API_SOURCE_REDIS_RDB, "download", redis_step_download, NULL, 1},
    {API_SOURCE_REDIS_RDB, "checksum", redis_step_checksum, NULL, 1},
    {API_SOURCE_REDIS_RDB, "install", redis_step_install, redis_step_install_undo, 0},
    {API_SOURCE_REDIS_RDB, "restart", redis_step_restart, redis_step_restart_undo, 0},
    {API_SOURCE_REDIS_RDB, "check-keys", redis_step_check_keys, NULL, 0},
    {API_SOURCE_SECRET_VERSION, "validate", secret_step_validate, NULL, 1},
    {API_SOURCE_SECRET_VERSION, "make-current", secret_step_make_current,
     secret_step_make_current_undo, 1},
    {API_SOURCE_SECRET_VERSION, "patch-secrets", kube_step_patch_secrets,
     kube_step_patch_secrets_undo, 0},
    {API_SOURCE_S3_OBJECTS, "validate", s3obj_step_validate, NULL, 1},
    {API_SOURCE_S3_OBJECTS, "diff", s3obj_step_diff, NULL, 1},
    {API_SOURCE_S3_OBJECTS, "apply", s3obj_step_apply, NULL, 1},
    {API_SOURCE_FILE_ARCHIVE, "validate", filearchive_step_validate, NULL, 1},
    {API_SOURCE_FILE_ARCHIVE, "download", filearchive_step_download, NULL, 0},
    {API_SOURCE_FILE_ARCHIVE, "scale-down", kube_step_scale_down, kube_step_scale_up, 0},
    {API_SOURCE_FILE_ARCHIVE, "extract", filearchive_step_extract, NULL, 0},
    {API_SOURCE_FILE_ARCHIVE, "scale-up", kube_step_scale_up, NULL, 0},
    {API_SOURCE_JOB, "validate", job_step_validate, NULL, 0},
    {API_SOURCE_JOB, "run", job_step_run, NULL, 0},
    {API_SOURCE_S3_SYNC, "validate", s3sync_step_validate, NULL, 1},
    {API_SOURCE_S3_SYNC, "compare", s3sync_step_compare, NULL, 1},
    {API_SOURCE_S3_SYNC, "sync", s3sync_step_sync, NULL, 1},
    {API_SOURCE_S3_SYNC, "verify", s3sync_step_verify, NULL, 1},
    {API_SOURCE_NONE, "rollout", kube_step_rollout, kube_step_rollout, 0},
    {API_SOURCE_NONE, ENGINE_STOP_WRITERS, NULL, kube_step_stop_writers, 0},
    {API_SOURCE_NONE, "verification", verify_step_verification, NULL, 0},
};

const engine_table engine_default_table = {default_entries,
                                           sizeof(default_entries) / sizeof(default_entries[0])};

const engine_entry *engine_table_find(const engine_table *t, api_source source, const char *action)
{
    for (size_t i = 0; i < t->n_entries; i++)
        if (t->entries[i].source == source && strcmp(t->entries[i].action, action) == 0)
            return &t->entries[i];
    return NULL;
}

/* Default deadlines (seconds from a step's startedAt), by action; see engine.h. */
static const struct {
    const char *action, *key;
    int64_t sec;
} default_deadlines[] = {
    {"validate", "validate", 10 * 60},
    {"restore", "restore", 30 * 60},
    {"restore-cluster", "restoreCluster", 30 * 60},
    {"create-writer", "createWriter", 30 * 60},
    {"wait-available", "waitAvailable", 6 * 3600},
    {"verify", "verify", 30 * 60},
    {"migrations", "migrations", 2 * 3600},
    {"scale-down", "scaleDown", 10 * 60},
    {"promote", "promote", 30 * 60},
    {"patch-secrets", "patchSecrets", 5 * 60},
    {"make-current", "makeCurrent", 5 * 60},
    {"scale-up", "scaleUp", 15 * 60},
    {"pre-restore-snapshot", "preRestoreSnapshot", 30 * 60},
    {"wait-snapshot", "waitSnapshot", 6 * 3600},
    {"delete", "delete", 30 * 60},
    {"wait-deleted", "waitDeleted", 2 * 3600},
    {"rollout", "rollout", 15 * 60},
    {ENGINE_STOP_WRITERS, "scaleDown", 10 * 60},
    {"verification", "verification", 30 * 60},
    {"cleanup", "cleanup", 2 * 3600},
};

int engine_step_deadline(int64_t *out_sec, const char **out_field, const api_restore_spec *spec,
                         const api_restore_item *item, const char *action)
{
    const char *key = "default";
    int64_t sec = ENGINE_DEFAULT_DEADLINE_S, given = 0;
    const char *v;

    *out_sec = 0;
    if (out_field != NULL)
        *out_field = NULL;
    if (strcmp(action, "approval") == 0)
        return LB_ENOTFOUND; /* a person decides; no deadline */
    for (size_t i = 0; i < sizeof(default_deadlines) / sizeof(default_deadlines[0]); i++)
        if (strcmp(default_deadlines[i].action, action) == 0) {
            key = default_deadlines[i].key;
            sec = default_deadlines[i].sec;
        }
    v = spec != NULL ? api_get_str(spec->timeouts, key) : NULL;
    if (v != NULL && api_duration_parse(&given, v) == 0 && given > 0) {
        sec = given;
        if (out_field != NULL)
            *out_field = key;
    }
    if (strcmp(action, "cleanup") == 0 && item != NULL && item->cleanup_after_sec > 0)
        sec += item->cleanup_after_sec; /* cleanup first waits cleanup.after on purpose */
    *out_sec = sec;
    return 0;
}

const char *const engine_phases[ENGINE_N_PHASES] = {"Pending", "Planned",   "AwaitingApproval",
                                                    "Running", "Verifying", "Succeeded",
                                                    "Failed",  "RolledBack"};

int engine_metrics_init(engine_metrics *out, metrics_registry *reg)
{
    static const char *const phase[] = {"phase"};
    static const char *const reason[] = {"reason"};
    static const double buckets[] = {5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400};
    int rc = 0;

    memset(out, 0, sizeof(*out));
    rc = rc
             ?: metrics_histogram_new(&out->duration, reg, "lifeboat_restore_duration_seconds",
                                      "Wall time of finished restores, by final phase.", phase, 1,
                                      buckets, sizeof(buckets) / sizeof(buckets[0]));
    rc = rc
             ?: metrics_gauge_new(&out->phase, reg, "lifeboat_restore_phase",
                                  "RestoreRequests in each phase.", phase, 1);
    rc = rc
             ?: metrics_counter_new(&out->failures, reg, "lifeboat_restore_step_failures_total",
                                    "Restore steps that failed, by reason.", reason, 1);
    rc = rc ?: step_metrics_init(&out->step_duration, reg);
    return rc;
}

/* ---- small helpers ------------------------------------------------------------------ */

typedef struct run {
    json_t *status;
    engine_out *out;
    const engine_env *env;
    const engine_table *table;
    const json_t *obj;
    lb_time now;
    engine_memo *memo;
    api_restore_spec *spec;
    plan *plan;
    int64_t gen, run_gen;
} run;

static int is_terminal(const char *phase)
{
    return phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0 ||
                             strcmp(phase, "RolledBack") == 0);
}

static int streq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static void fmt_time(char *buf, size_t size, lb_time t)
{
    if (lb_time_format(buf, size, t, 0) != 0)
        snprintf(buf, size, "1970-01-01T00:00:00Z");
}

static void set_time(json_t *o, const char *key, lb_time t)
{
    char buf[LB_TIME_RFC3339_MAX];
    fmt_time(buf, sizeof(buf), t);
    json_object_set_new(o, key, json_string(buf));
}

__attribute__((format(printf, 4, 5))) static void
add_event(engine_out *out, const char *type, const char *reason, const char *fmt, ...)
{
    engine_event *e;
    va_list ap;
    if (out->n_events >= ENGINE_MAX_EVENTS)
        return;
    e = &out->events[out->n_events++];
    snprintf(e->type, sizeof(e->type), "%s", type);
    snprintf(e->reason, sizeof(e->reason), "%s", reason);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

static const char *annotation(const json_t *obj, const char *key)
{
    return api_get_str(json_object_get(json_object_get(obj, "metadata"), "annotations"), key);
}

static int run_started(const json_t *status)
{
    return json_is_array(json_object_get(status, "steps")) &&
           api_get_str(status, "startedAt") != NULL;
}

/* Sets status.phase; a change records an Event. */
static void set_phase(run *r, const char *phase, const char *message)
{
    const char *before = api_get_str(r->status, "phase");
    int bad = strcmp(phase, "Failed") == 0 || strcmp(phase, "RolledBack") == 0;
    if (streq(before, phase))
        return;
    ctrl_set_str(r->status, "phase", phase);
    add_event(r->out, bad ? "Warning" : "Normal", phase, "%s", message ? message : phase);
}

static void set_cond(run *r, const char *type, const char *st, const char *reason, const char *msg)
{
    api_condition_set(r->status, type, st, reason, msg, r->gen, r->now);
}

static json_t *steps_of(const run *r)
{
    return json_object_get(r->status, "steps");
}

static int64_t elapsed_seconds(const run *r)
{
    lb_time start;
    const char *s = api_get_str(r->status, "startedAt");
    if (s == NULL || lb_time_parse_rfc3339(&start, s) != 0 || r->now.sec < start.sec)
        return 0;
    return r->now.sec - start.sec;
}

/* Seconds from the RFC 3339 time `s` to now; -1 when s is missing or bad. */
static int64_t seconds_since(const run *r, const char *s)
{
    lb_time t;
    if (s == NULL || lb_time_parse_rfc3339(&t, s) != 0) {
        lb_error_clear();
        return -1;
    }
    return r->now.sec >= t.sec ? r->now.sec - t.sec : 0;
}

/* status.measured of a Succeeded restore (issue 15): rtoSeconds from the
 * request's creation (apply) to Succeeded, rtoAfterApprovalSeconds from the
 * approval, rpoSeconds the age at apply time of the oldest restore point
 * named in the spec (restoreTime / restoreToTime / pointInTime); restores to
 * the latest restorable time or from snapshots give no rpo here. */
static void set_measured(run *r)
{
    const json_t *md = json_object_get(r->obj, "metadata");
    const char *created = api_get_str(md, "creationTimestamp");
    json_t *m = json_object();
    int64_t rto = seconds_since(r, created), rto_appr;
    lb_time c;

    rto_appr = seconds_since(r, api_get_str(json_object_get(r->status, "approval"), "approvedAt"));
    if (rto >= 0)
        json_object_set_new(m, "rtoSeconds", json_integer(rto));
    if (rto_appr >= 0)
        json_object_set_new(m, "rtoAfterApprovalSeconds", json_integer(rto_appr));
    if (r->spec != NULL && created != NULL && lb_time_parse_rfc3339(&c, created) == 0) {
        int64_t rpo = -1;
        for (size_t i = 0; i < r->spec->n_items; i++) {
            const api_restore_item *it = &r->spec->items[i];
            if (it->has_restore_time && c.sec - it->restore_time.sec > rpo)
                rpo = c.sec - it->restore_time.sec;
        }
        if (rpo >= 0)
            json_object_set_new(m, "rpoSeconds", json_integer(rpo));
    }
    lb_error_clear();
    json_object_set_new(r->status, "measured", m);
}

/* Ends the run in a terminal phase. */
static void finish(run *r, const char *phase, const char *message)
{
    int64_t secs = elapsed_seconds(r);
    if (streq(phase, "Succeeded"))
        set_measured(r);
    ctrl_set_str(r->status, "message", message);
    ctrl_set_str(r->status, "currentStep", "");
    set_time(r->status, "completedAt", r->now);
    json_object_set_new(r->status, "durationSeconds", json_integer(secs));
    set_phase(r, phase, message);
    r->out->finished = 1;
    r->out->duration_s = (double)secs;
    r->out->requeue_ms = -1;
}

/* The outputs[] entry of item (created). */
static json_t *output_entry(json_t *status, const char *item)
{
    json_t *outputs = json_object_get(status, "outputs");
    json_t *o;
    size_t i;
    if (!json_is_array(outputs)) {
        outputs = json_array();
        json_object_set_new(status, "outputs", outputs);
    }
    json_array_foreach(outputs, i, o)
    {
        if (streq(api_get_str(o, "item"), item))
            return o;
    }
    if (json_array_size(outputs) >= ENGINE_MAX_OUTPUTS)
        return NULL;
    o = json_pack("{s:s}", "item", item);
    json_array_append_new(outputs, o);
    return o;
}

/* The restored copies named in outputs, for messages ("orders-db: shop-orders-restored"). */
static char *outputs_summary(const json_t *status)
{
    json_t *o;
    size_t i;
    lb_buf b;
    char *s;
    buf_init(&b, STEP_MAX_MESSAGE);
    json_array_foreach(json_object_get(status, "outputs"), i, o)
    {
        const char *id = api_get_str(o, "instanceIdentifier");
        if (id == NULL)
            id = api_get_str(o, "clusterIdentifier");
        if (id == NULL)
            id = api_get_str(o, "snapshotIdentifier");
        if (id == NULL)
            continue;
        buf_printf(&b, "%s%s: %s", b.len > 0 ? ", " : "", api_get_str(o, "item"), id);
    }
    s = lb_strndup(b.data != NULL ? b.data : "", b.len);
    buf_dispose(&b);
    return s;
}

/* ---- not started: validate, plan, start ------------------------------------------- */

static void set_invalid(run *r, const char *why)
{
    const char *before = api_get_str(r->status, "phase");
    const char *msg = ctrl_set_invalid(r->status, why, r->gen, r->now);
    if (!streq(before, "Failed"))
        add_event(r->out, "Warning", "InvalidSpec", "%s", msg);
    ctrl_set_str(r->status, "phase", "Failed");
    ctrl_set_str(r->status, "message", msg);
    ctrl_set_str(r->status, "currentStep", NULL);
    json_object_del(r->status, "plan");
}

/* Items (and request-level steps) whose steps this build cannot execute, as
 * "orders-cache (redisRDB), ..."; NULL when everything is executable. */
static char *unsupported(const run *r)
{
    lb_buf b;
    char *s = NULL;
    buf_init(&b, 4096);
    for (size_t i = 0; i < r->spec->n_items; i++) {
        const api_restore_item *it = &r->spec->items[i];
        for (size_t j = 0; j < r->plan->n_steps; j++) {
            const plan_step *ps = &r->plan->steps[j];
            if (!streq(ps->item, it->name))
                continue;
            if (engine_table_find(r->table, it->source, ps->action) == NULL) {
                buf_printf(&b, "%s%s (%s)", b.len > 0 ? ", " : "", it->name,
                           api_source_field(it->source));
                break;
            }
        }
    }
    for (size_t j = 0; j < r->plan->n_steps; j++) {
        const plan_step *ps = &r->plan->steps[j];
        if (ps->item[0] == '\0' && !streq(ps->action, "approval") &&
            engine_table_find(r->table, API_SOURCE_NONE, ps->action) == NULL)
            buf_printf(&b, "%sstep %s", b.len > 0 ? ", " : "", ps->name);
    }
    if (b.len > 0)
        s = lb_strndup(b.data, b.len);
    buf_dispose(&b);
    return s;
}

/* The namespace's RecoveryScope must admit every name the spec touches
 * (restore/scope.h), before anything runs. Records status.scope (read by
 * deploy/'s ValidatingAdmissionPolicy for four eyes). Returns 0, or -1 after
 * set_invalid. */
static int check_scope(run *r, api_errors *errs)
{
    const json_t *sc = r->env->scope, *ap;
    char *joined = NULL;
    json_t *rec;
    int rc = 0;

    if (sc == NULL) {
        set_invalid(r, r->env->scope_error != NULL ? r->env->scope_error
                                                   : "no RecoveryScope selects this namespace");
        json_object_del(r->status, "scope");
        return -1;
    }
    if (rscope_check_spec(errs, sc, r->spec) != 0) {
        joined = api_errors_join(errs);
        set_invalid(r, joined);
        json_object_del(r->status, "scope");
        rc = -1;
        goto done;
    }
    if (r->env->access_error != NULL) {
        set_invalid(r, r->env->access_error);
        json_object_del(r->status, "scope");
        return -1;
    }
    ap = json_object_get(json_object_get(sc, "spec"), "approval");
    rec = json_pack("{s:s, s:b}", "name", api_scope_name(sc), "requireDistinctApprover",
                    api_scope_four_eyes(sc));
    if (api_scope_role_arn(sc) != NULL)
        json_object_set_new(rec, "roleArn", json_string(api_scope_role_arn(sc)));
    if (json_array_size(json_object_get(ap, "users")) > 0)
        json_object_set(rec, "approverUsers", json_object_get(ap, "users"));
    if (json_array_size(json_object_get(ap, "groups")) > 0)
        json_object_set(rec, "approverGroups", json_object_get(ap, "groups"));
    json_object_set_new(r->status, "scope", rec);
done:
    free(joined);
    return rc;
}

/* status.planHash: sha256 of the published plan and the spec it came from. */
static void set_plan_hash(run *r, const json_t *spec)
{
    char h[65];
    json_t *both = json_pack("{s:O, s:O}", "plan", json_object_get(r->status, "plan"), "spec",
                             spec != NULL ? spec : json_null());
    rscope_json_hash(h, both);
    ctrl_set_str(r->status, "planHash", h);
    json_decref(both);
}

static int plan_or_start(run *r)
{
    const json_t *spec = json_object_get(r->obj, "spec");
    json_t *empty = json_object();
    api_errors errs = {0};
    char *joined = NULL, *msg = NULL, *missing = NULL;
    size_t destructive = 0;
    json_t *steps;

    if (api_restore_parse(&r->spec, &errs, spec != NULL ? spec : empty, r->now) != 0 ||
        api_restore_check_name(&errs, api_get_str(json_object_get(r->obj, "metadata"), "name")) !=
            0) {
        joined = api_errors_join(&errs);
        set_invalid(r, joined[0] != '\0' ? joined : lb_error_last());
        goto done;
    }
    if (plan_build(&r->plan, r->spec) != 0) {
        msg = lb_sprintf("spec.items: %s", lb_error_last());
        set_invalid(r, msg);
        goto done;
    }
    if (r->env->enforce_scopes && check_scope(r, &errs) != 0)
        goto done;
    for (size_t i = 0; i < r->plan->n_steps; i++)
        destructive += r->plan->steps[i].destructive ? 1 : 0;
    ctrl_set_valid(r->status, r->gen, r->now);
    json_object_set_new(r->status, "plan", plan_to_json(r->plan));
    set_plan_hash(r, spec);
    ctrl_set_str(r->status, "currentStep", "");
    if (r->spec->dry_run) {
        msg = lb_sprintf("dry run: the plan has %zu steps (%zu destructive); nothing will be "
                         "executed",
                         r->plan->n_steps, destructive);
        set_phase(r, "Planned", msg);
        set_cond(r, "Progressing", "False", "DryRun", msg);
        goto done;
    }
    missing = unsupported(r);
    if (missing != NULL) {
        msg = lb_sprintf("not executed: this build cannot restore %s; the plan is published and "
                         "nothing has been changed",
                         missing);
        set_phase(r, "Pending", msg);
        set_cond(r, "Progressing", "False", "SourceNotSupported", msg);
        goto done;
    }

    /* start the run: every plan step Pending, in plan order */
    steps = json_array();
    for (size_t i = 0; i < r->plan->n_steps; i++)
        json_array_append_new(steps, json_pack("{s:s, s:s, s:i}", "name", r->plan->steps[i].name,
                                               "phase", "Pending", "attempts", 0));
    json_object_set_new(r->status, "steps", steps);
    set_time(r->status, "startedAt", r->now);
    {
        char h[65];
        rscope_json_hash(h, spec);
        ctrl_set_str(r->status, "runSpecHash", h);
    }
    json_object_del(r->status, "completedAt");
    json_object_del(r->status, "durationSeconds");
    msg = lb_sprintf("restore started: %zu steps (%zu destructive)", r->plan->n_steps, destructive);
    set_cond(r, "Progressing", "True", "Started", msg);
    if (plan_find(r->plan, "approval") >= 0)
        set_cond(r, "Approved", "False", "AwaitingApproval",
                 "destructive steps wait for the annotation lifeboat.dev/approve=<who>");
    else if (r->spec->approval_required)
        set_cond(r, "Approved", "True", "NothingToApprove",
                 "no step changes anything live (every item restores into a copy)");
    else
        set_cond(r, "Approved", "True", "ApprovalNotRequired", "spec.approval.required is false");
    set_phase(r, "Running", msg);
    r->out->requeue_ms = 0;

done:
    if (msg != NULL)
        ctrl_set_str(r->status, "message", msg);
    json_object_set_new(r->status, "observedGeneration", json_integer(r->gen));
    api_errors_dispose(&errs);
    json_decref(empty);
    free(joined);
    free(msg);
    free(missing);
    return 0;
}

/* ---- a started run ---------------------------------------------------------------- */

/* Holds the run: no step runs until a person fixes what msg says. */
static int hold(run *r, const char *reason, const char *msg)
{
    set_cond(r, "Progressing", "False", reason, msg);
    ctrl_set_str(r->status, "message", msg);
    r->out->requeue_ms = -1;
    return 0;
}

/* The spec the run executes: the object's while its generation is the run's,
 * else the copy kept in the annotation. Sets SpecChanged when they differ.
 * Returns 0 with r->spec and r->plan, or 1 when the run must hold. */
static int load_run_spec(run *r)
{
    const json_t *spec = json_object_get(r->obj, "spec");
    json_t *kept = NULL;
    char *msg = NULL;
    int result = 0;

    if (r->gen != r->run_gen) {
        const char *ann = annotation(r->obj, ENGINE_SPEC_ANNOTATION);
        json_error_t err;
        kept = ann != NULL ? json_loads(ann, 0, &err) : NULL;
        if (kept == NULL || api_get_int(kept, "generation", -1) != r->run_gen ||
            !json_is_object(json_object_get(kept, "spec"))) {
            msg = lb_sprintf("the spec changed to generation %lld after the restore started with "
                             "generation %lld, and the started spec was not kept (annotation %s); "
                             "the restore holds: revert the spec, or delete this RestoreRequest "
                             "and create a new one",
                             (long long)r->gen, (long long)r->run_gen, ENGINE_SPEC_ANNOTATION);
            set_cond(r, "SpecChanged", "True", "OriginalSpecUnavailable", msg);
            hold(r, "OriginalSpecUnavailable", msg);
            result = 1;
            goto done;
        }
        spec = json_object_get(kept, "spec");
        if (api_get_str(r->status, "runSpecHash") != NULL) {
            char h[65];
            rscope_json_hash(h, spec);
            if (!streq(h, api_get_str(r->status, "runSpecHash"))) {
                msg = lb_sprintf("the spec kept in annotation %s does not hash to "
                                 "status.runSpecHash (it was changed after the run started); "
                                 "the restore holds and executes nothing from it",
                                 ENGINE_SPEC_ANNOTATION);
                set_cond(r, "SpecChanged", "True", "KeptSpecMismatch", msg);
                hold(r, "KeptSpecMismatch", msg);
                result = 1;
                goto done;
            }
        }
        msg = lb_sprintf("the spec changed to generation %lld after the restore started with "
                         "generation %lld; the change is ignored and the restore runs the spec it "
                         "started with; create a new RestoreRequest for the new spec",
                         (long long)r->gen, (long long)r->run_gen);
        set_cond(r, "SpecChanged", "True", "SpecChangedDuringRun", msg);
        free(msg);
        msg = NULL;
    }
    if (is_terminal(api_get_str(r->status, "phase")))
        goto done; /* nothing more runs: only the SpecChanged note above */
    if (api_restore_parse(&r->spec, NULL, spec, r->now) != 0 ||
        plan_build(&r->plan, r->spec) != 0) {
        msg = lb_sprintf("the started spec no longer parses: %s", lb_error_last());
        hold(r, "SpecUnusable", msg);
        result = 1;
        goto done;
    }
done:
    json_decref(kept);
    free(msg);
    return result;
}

/* status.steps must be the plan's steps in order, then rollback/ entries. */
static int steps_match_plan(const run *r)
{
    json_t *steps = steps_of(r);
    size_t n = json_array_size(steps);
    if (n < r->plan->n_steps)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = api_get_str(json_array_get(steps, i), "name");
        if (i == r->plan->n_steps && streq(name, ENGINE_ABORT_STEP))
            continue;
        if (i < r->plan->n_steps ? !streq(name, r->plan->steps[i].name)
                                 : name == NULL || strncmp(name, ENGINE_ROLLBACK_PREFIX,
                                                           strlen(ENGINE_ROLLBACK_PREFIX)) != 0)
            return 0;
    }
    return 1;
}

static const api_restore_item *item_of(const run *r, const plan_step *ps)
{
    return ps->item[0] != '\0' ? api_restore_item_find(r->spec, ps->item) : NULL;
}

static const engine_entry *entry_of(const run *r, const plan_step *ps)
{
    const api_restore_item *it = item_of(r, ps);
    return engine_table_find(r->table, it != NULL ? it->source : API_SOURCE_NONE, ps->action);
}

static int is_rollback_name(const char *name)
{
    return name != NULL &&
           strncmp(name, ENGINE_ROLLBACK_PREFIX, strlen(ENGINE_ROLLBACK_PREFIX)) == 0;
}

static int started_phase(const char *phase)
{
    return streq(phase, "Running") || streq(phase, "Succeeded") || streq(phase, "Failed");
}

/* The "abort" entry of status.steps, or NULL. */
static const json_t *abort_entry(const run *r)
{
    const json_t *s = json_array_get(steps_of(r), r->plan->n_steps);
    return streq(api_get_str(s, "name"), ENGINE_ABORT_STEP) ? s : NULL;
}

/* Non-zero when a cutover step has started (something live may have changed). */
static int cutover_started(const run *r)
{
    for (size_t i = 0; i < r->plan->n_steps; i++)
        if (r->plan->steps[i].stage == PLAN_STAGE_CUTOVER &&
            started_phase(api_get_str(json_array_get(steps_of(r), i), "phase")))
            return 1;
    return 0;
}

/* Why the run must stop, into buf: the abort annotation's reason or the
 * deletion. Returns 0 when nothing asks it to. */
static int stop_requested(const run *r, char *buf, size_t size)
{
    const char *why = annotation(r->obj, ENGINE_ABORT_ANNOTATION);
    const char *del = api_get_str(json_object_get(r->obj, "metadata"), "deletionTimestamp");
    if (why != NULL && why[0] != '\0') {
        snprintf(buf, size, "%s=%.*s", ENGINE_ABORT_ANNOTATION, 256, why);
        return 1;
    }
    if (del != NULL && del[0] != '\0') {
        snprintf(buf, size, "the RestoreRequest is being deleted (deletionTimestamp %.64s)", del);
        return 1;
    }
    return 0;
}

static int being_deleted(const run *r)
{
    const char *del = api_get_str(json_object_get(r->obj, "metadata"), "deletionTimestamp");
    return del != NULL && del[0] != '\0';
}

/* Appends "rollback/<item>/restore"-style entries: the undo of every started
 * prepare step that has one (deleting the restored copies), newest first. */
static size_t append_discard(run *r)
{
    json_t *steps = steps_of(r);
    size_t n = 0;
    for (size_t i = r->plan->n_steps; i-- > 0;) {
        const plan_step *ps = &r->plan->steps[i];
        const engine_entry *e;
        char *name;
        if (ps->stage != PLAN_STAGE_PREPARE ||
            !started_phase(api_get_str(json_array_get(steps, i), "phase")))
            continue;
        e = entry_of(r, ps);
        if (e == NULL || e->undo == NULL || json_array_size(steps) >= PLAN_MAX_STEPS)
            continue;
        name = lb_sprintf(ENGINE_ROLLBACK_PREFIX "%s", ps->name);
        json_array_append_new(
            steps, json_pack("{s:s, s:s, s:i}", "name", name, "phase", "Pending", "attempts", 0));
        free(name);
        n++;
    }
    return n;
}

/* Appends the rollback entries for a failure of plan step `failed`; returns how many. */
static size_t append_rollback(run *r, size_t failed)
{
    json_t *steps = steps_of(r);
    size_t n = 0, i;
    int rollout_started = 0;
    size_t first = json_array_size(steps);

    for (i = failed + 1; i-- > 0;) {
        const plan_step *ps = &r->plan->steps[i];
        const engine_entry *e;
        char *name;
        if (ps->stage != PLAN_STAGE_CUTOVER ||
            !started_phase(api_get_str(json_array_get(steps, i), "phase")))
            continue;
        if (streq(ps->action, "rollout")) {
            rollout_started = 1;
            continue;
        }
        e = entry_of(r, ps);
        if (e == NULL || e->undo == NULL || json_array_size(steps) >= PLAN_MAX_STEPS)
            continue;
        name = lb_sprintf(ENGINE_ROLLBACK_PREFIX "%s", ps->name);
        json_array_append_new(
            steps, json_pack("{s:s, s:s, s:i}", "name", name, "phase", "Pending", "attempts", 0));
        free(name);
        n++;
    }
    if (n == 0 && !rollout_started)
        return 0;
    if (r->spec->n_rollout > 0 && json_array_size(steps) < PLAN_MAX_STEPS) {
        /* first of all, stop the writers: nothing may write to the promoted copy
         * while the Secrets and names move back (engine.h) */
        json_array_insert_new(steps, first,
                              json_pack("{s:s, s:s, s:i}", "name",
                                        ENGINE_ROLLBACK_PREFIX ENGINE_STOP_WRITERS, "phase",
                                        "Pending", "attempts", 0));
        n++;
    }
    for (i = 0; i < r->plan->n_steps; i++) {
        const plan_step *ps = &r->plan->steps[i];
        const engine_entry *e = streq(ps->action, "rollout") ? entry_of(r, ps) : NULL;
        char *name;
        if (e == NULL || e->undo == NULL || json_array_size(steps) >= PLAN_MAX_STEPS)
            continue;
        name = lb_sprintf(ENGINE_ROLLBACK_PREFIX "%s", ps->name);
        json_array_append_new(
            steps, json_pack("{s:s, s:s, s:i}", "name", name, "phase", "Pending", "attempts", 0));
        free(name);
        n++;
    }
    return n;
}

/* Cutover steps that started, changed something live and have no undo. */
static char *irreversible(const run *r)
{
    json_t *steps = steps_of(r);
    lb_buf b;
    char *s = NULL;
    buf_init(&b, STEP_MAX_MESSAGE);
    for (size_t i = 0; i < r->plan->n_steps; i++) {
        const plan_step *ps = &r->plan->steps[i];
        const engine_entry *e = entry_of(r, ps);
        if (ps->stage != PLAN_STAGE_CUTOVER || !ps->destructive ||
            !started_phase(api_get_str(json_array_get(steps, i), "phase")) ||
            streq(ps->action, "rollout") || (e != NULL && e->undo != NULL))
            continue;
        buf_printf(&b, "%s%s", b.len > 0 ? ", " : "", ps->name);
    }
    if (b.len > 0)
        s = lb_strndup(b.data, b.len);
    buf_dispose(&b);
    return s;
}

/* The first failed plan step's name and message: the cause of a rollback. */
static char *failure_cause(const run *r)
{
    json_t *steps = steps_of(r);
    const json_t *ab = abort_entry(r);
    if (ab != NULL)
        return lb_sprintf("aborted: %s",
                          api_get_str(ab, "message") ? api_get_str(ab, "message") : "");
    for (size_t i = 0; i < r->plan->n_steps; i++) {
        json_t *s = json_array_get(steps, i);
        if (streq(api_get_str(s, "phase"), "Failed"))
            return lb_sprintf("step %s failed: %s", api_get_str(s, "name"),
                              api_get_str(s, "message") ? api_get_str(s, "message") : "");
    }
    return lb_strdup("a step failed");
}

static void finish_failed(run *r, const char *reason, const char *msg)
{
    set_cond(r, "Progressing", "False", reason, msg);
    set_cond(r, "Ready", "False", reason, msg);
    finish(r, "Failed", msg);
}

/* The failure rule for plan step i (already marked Failed). */
static void on_step_failed(run *r, size_t i, const char *cause)
{
    const plan_step *ps = &r->plan->steps[i];
    char *msg = NULL, *copies = NULL;

    if (ps->stage == PLAN_STAGE_PREPARE || ps->stage == PLAN_STAGE_APPROVAL) {
        copies = outputs_summary(r->status);
        msg = lb_sprintf("%s; nothing live was changed%s%s%s", cause,
                         copies[0] != '\0' ? "; the restored copies are kept (" : "", copies,
                         copies[0] != '\0' ? ")" : "");
        finish_failed(r, "StepFailed", msg);
    } else if (ps->stage == PLAN_STAGE_CLEANUP) {
        msg = lb_sprintf("%s; the restore itself is in place and was not rolled back", cause);
        finish_failed(r, "CleanupFailed", msg);
    } else if (!r->spec->rollback_on_failure) {
        msg = lb_sprintf("%s; spec.rollbackOnFailure is false, so nothing was undone", cause);
        finish_failed(r, "StepFailed", msg);
    } else if (append_rollback(r, i) == 0) {
        msg = lb_sprintf("%s; nothing live had been changed that needed undoing", cause);
        set_cond(r, "Progressing", "False", "RolledBack", msg);
        set_cond(r, "Ready", "False", "RolledBack", msg);
        finish(r, "RolledBack", msg);
    } else {
        msg = lb_sprintf("rolling back: %s", cause);
        ctrl_set_str(r->status, "message", msg);
        set_cond(r, "Progressing", "True", "RollingBack", msg);
        add_event(r->out, "Warning", "RollingBack", "%s", msg);
        set_phase(r, "Running", msg);
        r->out->requeue_ms = 0;
    }
    free(msg);
    free(copies);
}

/* Non-zero when writers may have reached the restored copy: promote or
 * patch-secrets had started. */
static int writers_reached_copy(const run *r)
{
    for (size_t i = 0; i < r->plan->n_steps; i++) {
        const plan_step *ps = &r->plan->steps[i];
        if ((streq(ps->action, "promote") || streq(ps->action, "patch-secrets")) &&
            started_phase(api_get_str(json_array_get(steps_of(r), i), "phase")))
            return 1;
    }
    return 0;
}

/* The end of a rollback: every rollback/ entry finished. */
static void finish_rollback(run *r)
{
    json_t *steps = steps_of(r);
    char *cause = failure_cause(r), *lost = irreversible(r), *msg = NULL, *copies = NULL;
    lb_buf failed;
    size_t i;
    json_t *s;

    buf_init(&failed, STEP_MAX_MESSAGE);
    json_array_foreach(steps, i, s)
    {
        if (i >= r->plan->n_steps && streq(api_get_str(s, "phase"), "Failed"))
            buf_printf(&failed, "%s%s", failed.len > 0 ? ", " : "", api_get_str(s, "name"));
    }
    if (abort_entry(r) != NULL && !cutover_started(r)) {
        /* an abort before the cutover: the only entries deleted restored copies */
        copies = outputs_summary(r->status);
        if (failed.len > 0)
            msg = lb_sprintf("%s; nothing live was changed; deleting the restored copies failed "
                             "(%.*s), they are kept (%s)",
                             cause, (int)failed.len, failed.data, copies);
        else
            msg = lb_sprintf("%s; nothing live was changed; the restored copies were deleted (%s)",
                             cause, copies);
        finish_failed(r, "Aborted", msg);
    } else if (failed.len > 0) {
        msg = lb_sprintf("rollback incomplete: %.*s failed; cause: %s", (int)failed.len,
                         failed.data, cause);
        finish_failed(r, "RollbackFailed", msg);
    } else if (lost != NULL) {
        msg = lb_sprintf("rolled back what can be undone, but %s cannot be undone; cause: %s", lost,
                         cause);
        finish_failed(r, "RollbackPartial", msg);
    } else {
        copies = outputs_summary(r->status);
        int kept = copies[0] != '\0' && writers_reached_copy(r);
        msg = lb_sprintf("rolled back: %s%s%s", cause,
                         kept ? "; writes made during the failed cutover are on the restored copy, "
                                "which is kept (not deleted): "
                              : "",
                         kept ? copies : "");
        set_cond(r, "Progressing", "False", "RolledBack", msg);
        set_cond(r, "Ready", "False", "RolledBack", msg);
        finish(r, "RolledBack", msg);
    }
    buf_dispose(&failed);
    free(cause);
    free(lost);
    free(msg);
    free(copies);
}

/* Stops the run for `why` (stop_requested) before its next step call. */
static void abort_run(run *r, const char *why)
{
    json_t *steps = steps_of(r), *s = NULL;
    size_t i, n;
    char *msg = NULL, *copies = NULL;
    int cutover = cutover_started(r), discard;

    for (i = 0; i < r->plan->n_steps; i++) {
        s = json_array_get(steps, i);
        if (!streq(api_get_str(s, "phase"), "Succeeded"))
            break;
    }
    if (i == r->plan->n_steps)
        return; /* every step is done: too late to abort, the run finishes */
    if (streq(api_get_str(s, "phase"), "Running")) {
        char *m = lb_sprintf("Aborted: stopped before its next call (%s)", why);
        json_object_set_new(s, "phase", json_string("Failed"));
        set_time(s, "finishedAt", r->now);
        json_object_set_new(s, "message", json_string(m));
        free(m);
    }
    {
        json_t *ab = json_pack("{s:s, s:s, s:i, s:s}", "name", ENGINE_ABORT_STEP, "phase",
                               "Succeeded", "attempts", 1, "message", why);
        set_time(ab, "startedAt", r->now);
        set_time(ab, "finishedAt", r->now);
        json_array_insert_new(steps, r->plan->n_steps, ab);
    }
    ctrl_set_str(r->status, "currentStep", ENGINE_ABORT_STEP);
    add_event(r->out, "Warning", "Aborted", "restore aborted before step %s: %s",
              r->plan->steps[i].name, why);
    snprintf(r->out->failure_reason, sizeof(r->out->failure_reason), "Aborted");

    if (r->plan->steps[i].stage == PLAN_STAGE_CLEANUP) {
        msg = lb_sprintf("aborted during cleanup (%s); the restore itself is in place and was not "
                         "rolled back",
                         why);
        finish_failed(r, "Aborted", msg);
    } else if (cutover) {
        if (append_rollback(r, i) == 0) {
            msg =
                lb_sprintf("aborted (%s); nothing live had been changed that needed undoing", why);
            set_cond(r, "Progressing", "False", "RolledBack", msg);
            set_cond(r, "Ready", "False", "RolledBack", msg);
            finish(r, "RolledBack", msg);
        } else {
            msg = lb_sprintf("rolling back: aborted (%s)", why);
            ctrl_set_str(r->status, "message", msg);
            set_cond(r, "Progressing", "True", "RollingBack", msg);
            set_phase(r, "Running", msg);
            r->out->requeue_ms = 0;
        }
    } else {
        discard = being_deleted(r) ? !r->spec->delete_keep_copies : r->spec->abort_delete_copies;
        n = discard ? append_discard(r) : 0;
        if (n == 0) {
            copies = outputs_summary(r->status);
            msg = lb_sprintf("aborted (%s) before the cutover; nothing live was changed%s%s%s", why,
                             copies[0] != '\0' ? "; the restored copies are kept (" : "", copies,
                             copies[0] != '\0' ? ")" : "");
            finish_failed(r, "Aborted", msg);
        } else {
            msg = lb_sprintf("aborted (%s) before the cutover: deleting the restored copies", why);
            ctrl_set_str(r->status, "message", msg);
            set_cond(r, "Progressing", "True", "Aborting", msg);
            r->out->requeue_ms = 0;
        }
    }
    free(msg);
    free(copies);
}

static void finish_succeeded(run *r)
{
    json_t *steps = steps_of(r);
    lb_buf verified;
    char *msg;

    buf_init(&verified, STEP_MAX_MESSAGE);
    for (size_t i = 0; i < r->plan->n_steps; i++) {
        const plan_step *ps = &r->plan->steps[i];
        if ((streq(ps->action, "verify") || streq(ps->action, "verification")) &&
            streq(api_get_str(json_array_get(steps, i), "phase"), "Succeeded"))
            buf_printf(&verified, "%s%s", verified.len > 0 ? ", " : "", ps->name);
    }
    msg = lb_sprintf("restore completed in %llds: %zu steps succeeded",
                     (long long)elapsed_seconds(r), r->plan->n_steps);
    if (verified.len > 0) {
        char *v = lb_sprintf("verified by %.*s", (int)verified.len, verified.data);
        set_cond(r, "Verified", "True", "ChecksPassed", v);
        free(v);
    }
    set_cond(r, "Progressing", "False", "Succeeded", msg);
    set_cond(r, "Ready", "True", "RestoreSucceeded", msg);
    finish(r, "Succeeded", msg);
    buf_dispose(&verified);
    free(msg);
}

/* An approval that does not count: the request stays AwaitingApproval, the
 * Approved condition says why, and a Warning Event is recorded (only when
 * the condition changes: a status identical to the last one is not written). */
static void refuse_approval(run *r, const char *reason, const char *msg)
{
    const json_t *c = api_condition_find(r->status, "Approved");
    if (!streq(api_get_str(c, "reason"), reason) || !streq(api_get_str(c, "message"), msg))
        add_event(r->out, "Warning", reason, "%s", msg);
    set_cond(r, "Approved", "False", reason, msg);
    set_cond(r, "Progressing", "False", reason, msg);
    ctrl_set_str(r->status, "message", msg);
    set_phase(r, "AwaitingApproval", msg);
    r->out->requeue_ms = -1; /* a new annotation's watch event brings the object back */
}

/* Non-zero (after refuse_approval) when the approval by `who` cannot count:
 * another plan hash, self-approval under four eyes, an approver outside the
 * scope's users. */
static int approval_refused(run *r, const char *who)
{
    const char *given = annotation(r->obj, ENGINE_APPROVE_PLAN_ANNOTATION);
    const char *hash = api_get_str(r->status, "planHash");
    const char *requester = annotation(r->obj, ENGINE_REQUESTER_ANNOTATION);
    const json_t *sc = json_object_get(r->status, "scope"), *u;
    const json_t *users = json_object_get(sc, "approverUsers");
    char *msg = NULL;
    size_t i;
    int listed = 0;

    if (hash != NULL && !streq(given, hash)) {
        msg = lb_sprintf("approval by %.253s ignored: %s is %s%.64s%s but the current plan is "
                         "status.planHash=%s; approve the current plan",
                         who, ENGINE_APPROVE_PLAN_ANNOTATION, given ? "\"" : "",
                         given ? given : "absent", given ? "\"" : "", hash);
        refuse_approval(r, "StalePlanHash", msg);
        goto done;
    }
    if (api_get_bool(sc, "requireDistinctApprover", false) &&
        (requester == NULL || streq(requester, who))) {
        msg = lb_sprintf("approval by %.253s refused: RecoveryScope %s requires an approver "
                         "other than the requester (%s=%.253s)",
                         who, api_get_str(sc, "name") ? api_get_str(sc, "name") : "",
                         ENGINE_REQUESTER_ANNOTATION, requester ? requester : "<not recorded>");
        refuse_approval(r, "SelfApprovalRefused", msg);
        goto done;
    }
    json_array_foreach(users, i, u) listed |= streq(json_string_value(u), who);
    if (json_array_size(users) > 0 && !listed &&
        json_array_size(json_object_get(sc, "approverGroups")) == 0) {
        msg = lb_sprintf("approval by %.253s refused: not among RecoveryScope %s's "
                         "spec.approval.users",
                         who, api_get_str(sc, "name") ? api_get_str(sc, "name") : "");
        refuse_approval(r, "ApproverNotAllowed", msg);
        goto done;
    }
done:
    if (msg == NULL)
        return 0;
    free(msg);
    return 1;
}

/* The approval gate (step record s of plan step ps). */
static void run_approval(run *r, json_t *s, const plan_step *ps)
{
    const json_t *md = json_object_get(r->obj, "metadata");
    const char *who = annotation(r->obj, ENGINE_APPROVE_ANNOTATION);
    char *msg;

    if (!streq(api_get_str(s, "phase"), "Running")) {
        json_object_set_new(s, "phase", json_string("Running"));
        json_object_set_new(s, "attempts", json_integer(1));
        set_time(s, "startedAt", r->now);
        add_event(r->out, "Normal", "StepStarted", "step %s started: %s", ps->name,
                  ps->description);
    }
    ctrl_set_str(r->status, "currentStep", ps->name);
    if (who != NULL && who[0] != '\0' && approval_refused(r, who))
        return;
    if (who != NULL && who[0] != '\0') {
        char by[ENGINE_MAX_APPROVER + 1];
        size_t n = strlen(who);
        if (n > ENGINE_MAX_APPROVER) {
            n = ENGINE_MAX_APPROVER;
            while (n > 0 && ((unsigned char)who[n] & 0xC0) == 0x80)
                n--; /* cut on a UTF-8 character boundary */
        }
        memcpy(by, who, n);
        by[n] = '\0';
        msg = lb_sprintf("approved by %s", by);
        json_object_set_new(s, "phase", json_string("Succeeded"));
        set_time(s, "finishedAt", r->now);
        json_object_set_new(s, "message", json_string(msg));
        json_object_set_new(r->status, "approval",
                            json_pack("{s:s, s:s}", "approvedBy", by, "planHash",
                                      api_get_str(r->status, "planHash") != NULL
                                          ? api_get_str(r->status, "planHash")
                                          : ""));
        set_time(json_object_get(r->status, "approval"), "approvedAt", r->now);
        set_cond(r, "Approved", "True", "Approved", msg);
        set_cond(r, "Progressing", "True", "Approved", msg);
        ctrl_set_str(r->status, "message", msg);
        add_event(r->out, "Normal", "StepSucceeded", "step %s succeeded: %s", ps->name, msg);
        set_phase(r, "Running", msg);
        r->out->requeue_ms = 0;
    } else {
        msg = lb_sprintf("waiting for approval: the prepare steps are done; approve with kubectl "
                         "annotate rr/%s -n %s %s=<your username> %s=%s",
                         api_get_str(md, "name"), api_get_str(md, "namespace"),
                         ENGINE_APPROVE_ANNOTATION, ENGINE_APPROVE_PLAN_ANNOTATION,
                         api_get_str(r->status, "planHash") != NULL
                             ? api_get_str(r->status, "planHash")
                             : "<status.planHash>");
        json_object_set_new(s, "message", json_string(msg));
        set_cond(r, "Approved", "False", "AwaitingApproval", msg);
        set_cond(r, "Progressing", "False", "AwaitingApproval", msg);
        ctrl_set_str(r->status, "message", msg);
        set_phase(r, "AwaitingApproval", msg);
        r->out->requeue_ms = -1; /* the annotation's watch event brings the object back */
    }
    free(msg);
}

static void fail_step(run *r, size_t idx, json_t *s, const plan_step *ps, const char *reason,
                      const char *message, int rollback);

/* The memo applies only to the very step record it was computed on: another
 * writer's progress (a new message, attempt or phase) makes it stale. */
static int memo_matches(const engine_memo *m, const json_t *s)
{
    return streq(m->step, api_get_str(s, "name")) &&
           streq(m->started_at, api_get_str(s, "startedAt")) &&
           m->attempts == api_get_int(s, "attempts", 0) && m->record != NULL &&
           json_equal(m->record, s);
}

/* Milliseconds until step record s (plan step ps) reaches its deadline: 0 when
 * passed, -1 when it has none (approval) or no start time. */
static int64_t deadline_left_ms(const run *r, const json_t *s, const plan_step *ps)
{
    int64_t sec;
    lb_time start;
    const char *at = api_get_str(s, "startedAt");
    int64_t end_ms, now_ms;

    if (engine_step_deadline(&sec, NULL, r->spec, item_of(r, ps), ps->action) != 0 || at == NULL ||
        lb_time_parse_rfc3339(&start, at) != 0)
        return -1;
    end_ms = (start.sec + sec) * 1000;
    now_ms = r->now.sec * 1000 + r->now.nsec / 1000000;
    return now_ms >= end_ms ? 0 : end_ms - now_ms;
}

/* Fails step record s when its deadline has passed; returns 1 then. */
static int deadline_check(run *r, size_t idx, json_t *s, const plan_step *ps, int rollback)
{
    int64_t sec;
    const char *field = NULL, *last = api_get_str(s, "message");
    char *m;

    if (deadline_left_ms(r, s, ps) != 0 ||
        engine_step_deadline(&sec, &field, r->spec, item_of(r, ps), ps->action) != 0)
        return 0;
    m = lb_sprintf("not finished within %llds of its start (%s%s)%s%s", (long long)sec,
                   field != NULL ? "spec.timeouts." : "default deadline",
                   field != NULL ? field : "", last != NULL && last[0] != '\0' ? "; last: " : "",
                   last != NULL ? last : "");
    fail_step(r, idx, s, ps, "DeadlineExceeded", m, rollback);
    free(m);
    return 1;
}

/* Marks step record s (plan step ps) Failed and applies the failure rule. */
static void fail_step(run *r, size_t idx, json_t *s, const plan_step *ps, const char *reason,
                      const char *message, int rollback)
{
    char *cause = lb_sprintf("%s: %s", reason, message);
    char *full = lb_sprintf("step %s failed: %s", api_get_str(s, "name"), cause);
    json_object_set_new(s, "phase", json_string("Failed"));
    set_time(s, "finishedAt", r->now);
    json_object_set_new(s, "message", json_string(cause));
    add_event(r->out, "Warning", "StepFailed", "%s", full);
    snprintf(r->out->failure_reason, sizeof(r->out->failure_reason), "%s", reason);
    if (rollback)
        r->out->requeue_ms = 0; /* the next rollback entry runs anyway */
    else
        on_step_failed(r, idx, full);
    (void)ps;
    free(cause);
    free(full);
}

/* Runs step record idx (plan step ps; rollback: its undo). */
static int run_step(run *r, size_t idx, const plan_step *ps, int rollback)
{
    json_t *s = json_array_get(steps_of(r), idx);
    const char *name = api_get_str(s, "name");
    const engine_entry *e = entry_of(r, ps);
    step_fn fn = e == NULL ? NULL : rollback ? e->undo : e->fn;
    step_result res;
    int rc;

    if (!rollback && ps->destructive && r->spec->approval_required &&
        !json_is_object(json_object_get(r->status, "approval")))
        return hold(r, "ApprovalMissing",
                    "a destructive step is next but no approval is recorded; it will not run");
    if (!streq(api_get_str(s, "phase"), "Running")) {
        json_object_set_new(s, "phase", json_string("Running"));
        json_object_set_new(s, "attempts", json_integer(1));
        set_time(s, "startedAt", r->now);
        json_object_del(s, "finishedAt");
        json_object_set_new(s, "message", json_string(""));
        ctrl_set_str(r->status, "currentStep", name);
        if (!rollback) {
            char *m = lb_sprintf("running step %s", name);
            set_cond(r, "Progressing", "True", "StepRunning", m);
            free(m);
        }
        add_event(r->out, "Normal", "StepStarted", "step %s started: %s", name,
                  rollback ? "undo" : ps->description);
        set_phase(r, !rollback && streq(ps->action, "verification") ? "Verifying" : "Running",
                  NULL);
        r->out->requeue_ms = 0; /* persisted first; the function runs on the next call */
        return 0;
    }
    ctrl_set_str(r->status, "currentStep", name);
    if (fn == NULL) {
        fail_step(r, idx, s, ps, "NotImplemented",
                  "no step function for this source and action in this build", rollback);
        return 0;
    }
    if (e->needs_aws && r->env->aws == NULL && r->memo != NULL) {
        fail_step(r, idx, s, ps, "NoAWSConfiguration",
                  "the operator has no AWS configuration (set AWS_REGION and credentials)",
                  rollback);
        return 0;
    }
    if (deadline_check(r, idx, s, ps, rollback))
        return 0;
    if (r->memo == NULL) {
        r->out->requeue_ms = 0; /* pure: the step runs in a real reconcile */
        return 0;
    }
    if (r->memo->used) {
        if (!memo_matches(r->memo, s)) {
            r->out->requeue_ms = 0;
            return 0;
        }
        rc = r->memo->rc;
        res = r->memo->result;
        lb_error_set("%s", r->memo->error);
    } else {
        step_ctx ctx = {.kube = r->env->kube,
                        .aws = r->env->aws,
                        .rr = r->obj,
                        .status = r->status,
                        .spec = r->spec,
                        .item = item_of(r, ps),
                        .step = ps,
                        .now = r->now,
                        .rollback = rollback,
                        .role_arn = r->env->role_arn,
                        .aws_base = r->env->aws_base};
        memset(&res, 0, sizeof(res));
        lb_error_clear();
        rc = ps->item[0] != '\0' && ctx.item == NULL
                 ? lb_error_setc(LB_EINVALID, "item %s not in the spec", ps->item)
                 : fn(&res, &ctx);
        r->memo->used = 1;
        r->out->called = 1;
        json_decref(r->memo->record);
        r->memo->record = json_deep_copy(s);
        snprintf(r->memo->step, sizeof(r->memo->step), "%s", name);
        snprintf(r->memo->started_at, sizeof(r->memo->started_at), "%s",
                 api_get_str(s, "startedAt") ? api_get_str(s, "startedAt") : "");
        r->memo->attempts = api_get_int(s, "attempts", 0);
        r->memo->rc = rc;
        snprintf(r->memo->error, sizeof(r->memo->error), "%s", rc < 0 ? lb_error_last() : "");
        r->memo->result = res; /* the memo owns res.output */
    }

    if (rc < 0) {
        json_int_t attempts = api_get_int(s, "attempts", 1);
        if (attempts >= STEP_MAX_ATTEMPTS) {
            char *m = lb_sprintf("%lld attempts failed; the last: %s", (long long)attempts,
                                 r->memo->error);
            fail_step(r, idx, s, ps, "RetriesExhausted", m, rollback);
            free(m);
        } else {
            int64_t delay = lb_backoff_delay(ENGINE_RETRY_BASE_MS, ENGINE_RETRY_CAP_MS,
                                             (unsigned)(attempts - 1));
            char *m = lb_sprintf("attempt %lld failed, retrying: %s", (long long)attempts,
                                 r->memo->error);
            json_object_set_new(s, "attempts", json_integer(attempts + 1));
            json_object_set_new(s, "message", json_string(m));
            r->out->requeue_ms = delay < 100 ? 100 : delay;
            free(m);
        }
        return 0;
    }
    /* the verification step names its owned VerificationRun (steps_verifyrun.c) */
    if (res.output != NULL && ps->item[0] == '\0' && strcmp(ps->action, "verification") == 0)
        json_object_set_new(r->status, "verificationRun", json_deep_copy(res.output));
    switch (res.verdict) {
    case STEP_DONE:
        json_object_set_new(s, "phase", json_string("Succeeded"));
        set_time(s, "finishedAt", r->now);
        json_object_set_new(s, "message", json_string(res.message));
        if (res.output != NULL && ps->item[0] != '\0') {
            json_t *o = output_entry(r->status, ps->item);
            if (o != NULL) {
                json_object_update(o, res.output);
                json_object_set_new(o, "item", json_string(ps->item));
            }
        }
        add_event(r->out, "Normal", "StepSucceeded", "step %s succeeded: %s", name, res.message);
        r->out->requeue_ms = 0;
        break;
    case STEP_WAIT: {
        int64_t left = deadline_left_ms(r, s, ps);
        /* attempts counts transient failures of this step in all: a WAIT keeps it */
        json_object_set_new(s, "message", json_string(res.message));
        r->out->requeue_ms = res.requeue_ms < 0 ? 0 : res.requeue_ms;
        if (left >= 0 && r->out->requeue_ms > left)
            r->out->requeue_ms = left; /* come back when the deadline passes */
        break;
    }
    case STEP_FAILED:
    default:
        fail_step(r, idx, s, ps, res.reason[0] != '\0' ? res.reason : "StepFailed", res.message,
                  rollback);
        break;
    }
    return 0;
}

static int advance(run *r)
{
    json_t *steps = steps_of(r), *s;
    size_t n = json_array_size(steps), i;
    int rollback_mode = 0;

    r->run_gen = api_get_int(r->status, "observedGeneration", r->gen);
    if (load_run_spec(r) != 0 || is_terminal(api_get_str(r->status, "phase")))
        return 0;
    if (!steps_match_plan(r))
        return hold(r, "StatusInconsistent",
                    "status.steps do not match the plan of the started spec; the restore holds "
                    "rather than guess which steps ran");

    for (i = 0; i < r->plan->n_steps; i++)
        if (streq(api_get_str(json_array_get(steps, i), "phase"), "Failed"))
            rollback_mode = 1;
    if (abort_entry(r) != NULL)
        rollback_mode = 1;
    if (!rollback_mode) {
        char why[512];
        if (stop_requested(r, why, sizeof(why))) {
            char *lost = irreversible(r);
            if (lost != NULL) {
                /* e.g. the in-place delete ran: stopping now would leave no database;
                 * the restore finishes first, then the request lets go */
                char *m = lb_sprintf("%s: not aborted, because %s cannot be undone; the restore "
                                     "runs to its end first",
                                     why, lost);
                set_cond(r, "Progressing", "True", "FinishingIrreversible", m);
                free(m);
                free(lost);
            } else {
                abort_run(r, why);
                if (r->out->n_events > 0)
                    return 0; /* else every step was done: finish below */
            }
        }
    }
    if (rollback_mode) {
        for (i = r->plan->n_steps; i < n; i++) {
            const char *phase;
            int pi;
            s = json_array_get(steps, i);
            phase = api_get_str(s, "phase");
            if (streq(phase, "Succeeded") || streq(phase, "Failed") ||
                streq(api_get_str(s, "name"), ENGINE_ABORT_STEP))
                continue;
            if (streq(api_get_str(s, "name"), ENGINE_ROLLBACK_PREFIX ENGINE_STOP_WRITERS)) {
                static const plan_step stop = {
                    .name = ENGINE_STOP_WRITERS,
                    .item = "",
                    .action = ENGINE_STOP_WRITERS,
                    .destructive = true,
                    .stage = PLAN_STAGE_CUTOVER,
                    .description = "scale the spec.rollout workloads to 0 before the undo"};
                return run_step(r, i, &stop, 1);
            }
            pi = plan_find(r->plan, api_get_str(s, "name") + strlen(ENGINE_ROLLBACK_PREFIX));
            if (pi < 0)
                return hold(r, "StatusInconsistent", "a rollback entry names no plan step");
            return run_step(r, i, &r->plan->steps[pi], 1);
        }
        if (n == r->plan->n_steps && abort_entry(r) == NULL) {
            /* failed, and no rollback was written: finish it */
            for (i = 0; i < r->plan->n_steps; i++)
                if (streq(api_get_str(json_array_get(steps, i), "phase"), "Failed")) {
                    char *cause = failure_cause(r);
                    on_step_failed(r, i, cause);
                    free(cause);
                    return 0;
                }
        }
        finish_rollback(r);
        return 0;
    }
    for (i = 0; i < r->plan->n_steps; i++) {
        const plan_step *ps = &r->plan->steps[i];
        s = json_array_get(steps, i);
        if (streq(api_get_str(s, "phase"), "Succeeded"))
            continue;
        if (is_rollback_name(api_get_str(s, "name")))
            break;
        if (streq(ps->action, "approval")) {
            run_approval(r, s, ps);
            return 0;
        }
        return run_step(r, i, ps, 0);
    }
    finish_succeeded(r);
    return 0;
}

/* ---- entry points ----------------------------------------------------------------- */

static const engine_env no_env = {0};

int engine_step(json_t *status, engine_out *out, const engine_env *env, const json_t *obj,
                lb_time now, engine_memo *memo)
{
    run r = {0};
    int rc;

    memset(out, 0, sizeof(*out));
    out->requeue_ms = -1;
    r.status = status;
    r.out = out;
    r.env = env != NULL ? env : &no_env;
    r.table = r.env->table != NULL ? r.env->table : &engine_default_table;
    r.obj = obj;
    r.now = now;
    r.memo = memo;
    r.gen = ctrl_generation(obj);
    if (!json_is_object(status))
        return lb_error_setc(LB_EINVALID, "engine: status must be an object");
    if (!run_started(status))
        rc = plan_or_start(&r);
    else
        rc = advance(&r);
    api_restore_free(r.spec);
    plan_free(r.plan);
    return rc;
}

void engine_memo_dispose(engine_memo *memo)
{
    if (memo == NULL)
        return;
    json_decref(memo->record);
    memo->record = NULL;
    json_decref(memo->result.output);
    memo->result.output = NULL;
}

/* Non-zero when obj's metadata.finalizers holds ours. */
static int has_finalizer(const json_t *obj)
{
    const json_t *f;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "finalizers"), i, f)
    {
        if (streq(json_string_value(f), ENGINE_FINALIZER))
            return 1;
    }
    return 0;
}

int engine_settled(const json_t *obj)
{
    const json_t *status = json_object_get(obj, "status");
    const char *phase = api_get_str(status, "phase");
    int64_t gen = ctrl_generation(obj);
    const json_t *changed;
    const char *abort_why = annotation(obj, ENGINE_ABORT_ANNOTATION);
    const char *del = api_get_str(json_object_get(obj, "metadata"), "deletionTimestamp");

    if (has_finalizer(obj) && (is_terminal(phase) || !run_started(status)))
        return 0; /* the finalizer must go */
    if (run_started(status) && !is_terminal(phase) &&
        ((abort_why != NULL && abort_why[0] != '\0') || (del != NULL && del[0] != '\0')))
        return 0; /* an abort or a deletion to act on */
    if (!json_is_object(status))
        return 0;
    if (!run_started(status))
        return ctrl_status_current(obj) &&
               (streq(phase, "Planned") || streq(phase, "Failed") || streq(phase, "Pending"));
    changed = api_condition_find(status, "SpecChanged");
    if (api_get_int(status, "observedGeneration", -1) != gen &&
        api_get_int(changed, "observedGeneration", -1) != gen)
        return 0;
    if (streq(phase, "AwaitingApproval")) {
        const char *who = annotation(obj, ENGINE_APPROVE_ANNOTATION);
        return who == NULL || who[0] == '\0';
    }
    return is_terminal(phase);
}

typedef struct write_call {
    const engine_env *env;
    engine_out *out;
    engine_memo *memo;
    lb_time now;
} write_call;

static int apply_engine(json_t *status, const json_t *obj, void *payload)
{
    write_call *w = payload;
    int rc = engine_step(status, w->out, w->env, obj, w->now, w->memo);
    return rc != 0 ? rc : ctrl_health_set(status, obj);
}

/* Keeps the spec of the running generation in the annotation, before any
 * step function runs. *cur is replaced by the patched object. */
static int keep_spec(json_t **cur, const engine_env *env, const kube_ref *ref)
{
    json_t *st = json_object_get(*cur, "status");
    int64_t gen = ctrl_generation(*cur);
    const char *ann = annotation(*cur, ENGINE_SPEC_ANNOTATION);
    json_t *kept = NULL, *kept_new = NULL, *patch = NULL, *answer = NULL;
    char *value = NULL, *body = NULL;
    json_error_t err;
    int rc = 0;

    if (!run_started(st) || is_terminal(api_get_str(st, "phase")) ||
        api_get_int(st, "observedGeneration", -1) != gen)
        return 0;
    kept = ann != NULL ? json_loads(ann, 0, &err) : NULL;
    if (kept != NULL && api_get_int(kept, "generation", -1) == gen)
        goto done;
    kept_new = json_pack("{s:I, s:O}", "generation", (json_int_t)gen, "spec",
                         json_object_get(*cur, "spec"));
    value = kept_new != NULL ? json_dumps(kept_new, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (value == NULL)
        goto done; /* no spec: nothing to keep (the run cannot have started from it) */
    if (strlen(value) > ENGINE_MAX_SPEC_BYTES) {
        LB_LOG_WARN("spec too large to keep; a spec change during the run will hold it",
                    "controller", "restore", "object", ref->name, "limit_bytes",
                    LB_LOG_INT(ENGINE_MAX_SPEC_BYTES));
        goto done;
    }
    patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", ENGINE_SPEC_ANNOTATION, value);
    body = json_dumps(patch, JSON_COMPACT);
    rc = kube_patch(&answer, env->kube, ref, KUBE_PATCH_MERGE, body, strlen(body), NULL);
    if (rc != 0)
        goto done;
    json_decref(*cur);
    *cur = answer;
    answer = NULL;
done:
    json_decref(kept);
    json_decref(kept_new);
    json_decref(patch);
    json_decref(answer);
    free(value);
    free(body);
    return rc;
}

/* Adds (add) or removes our finalizer with a merge patch carrying the
 * resourceVersion read (a concurrent change answers 409 and the reconcile is
 * retried). *cur is replaced by the patched object. */
static int patch_finalizer(json_t **cur, const engine_env *env, const kube_ref *ref, int add)
{
    const json_t *md = json_object_get(*cur, "metadata"), *f;
    const char *rv = api_get_str(md, "resourceVersion");
    json_t *list = json_array(), *patch = NULL, *answer = NULL;
    char *body = NULL;
    size_t i;
    int rc;

    json_array_foreach(json_object_get(md, "finalizers"), i, f)
    {
        if (!streq(json_string_value(f), ENGINE_FINALIZER))
            json_array_append(list, (json_t *)f);
    }
    if (add)
        json_array_append_new(list, json_string(ENGINE_FINALIZER));
    patch = json_pack("{s:{s:o}}", "metadata", "finalizers", list);
    if (rv != NULL)
        json_object_set_new(json_object_get(patch, "metadata"), "resourceVersion", json_string(rv));
    body = json_dumps(patch, JSON_COMPACT);
    rc = kube_patch(&answer, env->kube, ref, KUBE_PATCH_MERGE, body, strlen(body), NULL);
    if (rc == 0) {
        json_decref(*cur);
        *cur = answer;
        answer = NULL;
    } else if (rc == LB_ENOTFOUND && !add) {
        rc = 0; /* gone already */
    }
    json_decref(patch);
    json_decref(answer);
    free(body);
    return rc;
}

int engine_reconcile(engine_out *out, int *out_written, const engine_env *env, const json_t *obj,
                     lb_time now)
{
    const json_t *md = json_object_get(obj, "metadata");
    kube_ref ref = {.group = API_GROUP,
                    .version = API_VERSION,
                    .resource = "restorerequests",
                    .namespace = api_get_str(md, "namespace"),
                    .name = api_get_str(md, "name")};
    json_t *cur = json_incref((json_t *)obj), *written = NULL, *before = NULL;
    const json_t *st = json_object_get(obj, "status");
    engine_memo memo;
    write_call call = {.env = env, .out = out, .memo = &memo, .now = now};
    char key[320];
    int rc = 0;

    memset(&memo, 0, sizeof(memo));
    memset(out, 0, sizeof(*out));
    out->requeue_ms = -1;
    *out_written = 0;
    snprintf(key, sizeof(key), "%s/%s", ref.namespace ? ref.namespace : "",
             ref.name ? ref.name : "");
    if (run_started(st) && !is_terminal(api_get_str(st, "phase"))) {
        /* the cache may be behind our own last write: act on the server's state */
        json_decref(cur);
        cur = NULL;
        rc = kube_get(&cur, env->kube, &ref);
        if (rc == LB_ENOTFOUND) {
            rc = 0;
            goto done;
        }
        if (rc != 0)
            goto done;
        rc = keep_spec(&cur, env, &ref);
        if (rc != 0)
            goto done;
        /* before the first step function: deleting the request now waits for
         * the run to roll back or finish (engine.h, "Abort and deletion") */
        if (!has_finalizer(cur) &&
            api_get_str(json_object_get(cur, "metadata"), "deletionTimestamp") == NULL) {
            rc = patch_finalizer(&cur, env, &ref, 1);
            if (rc != 0)
                goto done;
        }
    }
    /* a copy: the steps as they were before this write, for the per-step metric */
    before = json_pack("{s:o}", "status",
                       json_deep_copy(json_object_get(cur, "status")) ?: json_object());
    rc = kube_status_update(&written, out_written, env->kube, &ref, cur, apply_engine, &call, 0);
    if (rc != 0)
        goto done;
    {
        json_t **fin = &written;
        const json_t *wst = json_object_get(*fin, "status");
        if (*fin != NULL && has_finalizer(*fin) &&
            (is_terminal(api_get_str(wst, "phase")) || !run_started(wst))) {
            rc = patch_finalizer(fin, env, &ref, 0);
            if (rc != 0)
                goto done;
        }
    }
    if (*out_written) {
        const char *rv = api_get_str(json_object_get(written, "metadata"), "resourceVersion");
        snprintf(out->resource_version, sizeof(out->resource_version), "%s", rv ? rv : "");
        for (size_t i = 0; i < out->n_events; i++) {
            const engine_event *e = &out->events[i];
            if (streq(e->type, "Warning"))
                LB_LOG_WARN(e->message, "controller", "restore", "object", key, "reason",
                            e->reason);
            else
                LB_LOG_INFO(e->message, "controller", "restore", "object", key, "reason",
                            e->reason);
            if (env->recorder != NULL &&
                kube_recorder_event(env->recorder, written, e->type, e->reason, e->message) != 0)
                LB_LOG_WARN("event not recorded", "controller", "restore", "object", key, "reason",
                            e->reason, "error", lb_error_last());
        }
        if (env->metrics != NULL)
            step_metrics_observe(env->metrics->step_duration, before, written);
        if (env->metrics != NULL && out->failure_reason[0] != '\0')
            metrics_counter_inc(env->metrics->failures, (const char *const[]){out->failure_reason});
        if (env->metrics != NULL && out->finished) {
            const char *phase = api_get_str(json_object_get(written, "status"), "phase");
            metrics_histogram_observe(env->metrics->duration,
                                      (const char *const[]){phase ? phase : "unknown"},
                                      out->duration_s);
        }
    }
done:
    engine_memo_dispose(&memo);
    json_decref(before);
    json_decref(written);
    json_decref(cur);
    return rc;
}
