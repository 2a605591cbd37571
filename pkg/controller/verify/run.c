/* verify/run.c - the VerificationRun state machine (see run.h). */
#include "controller/verify/run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/common.h"
#include "api/restore.h"
#include "api/verify.h"
#include "aws/rds.h"
#include "aws/s3.h"
#include "controller/restore/step.h"
#include "controller/verify/reconcile.h"
#include "kube/statuswriter.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"

static bool streq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static bool is_terminal(const char *phase)
{
    return streq(phase, "Passed") || streq(phase, "Failed");
}

/* ---- metrics ------------------------------------------------------------------ */

int verify_metrics_init(verify_metrics *out, metrics_registry *reg)
{
    static const char *const nn[] = {"namespace", "name"};
    static const char *const nnc[] = {"namespace", "name", "check"};
    static const char *const ph[] = {"phase"};
    int rc;

    memset(out, 0, sizeof(*out));
    rc = metrics_gauge_new(&out->rto, reg, "lifeboat_verification_rto_seconds",
                           "Measured recovery time of the last finished VerificationRun: its "
                           "start to its checks passing",
                           nn, 2);
    if (rc == 0)
        rc = metrics_gauge_new(&out->rpo, reg, "lifeboat_verification_rpo_seconds",
                               "Measured recovery point of the last finished VerificationRun: "
                               "the newest row's age at the restore point",
                               nn, 2);
    if (rc == 0)
        rc = metrics_gauge_new(&out->last_success, reg,
                               "lifeboat_verification_last_success_timestamp_seconds",
                               "Unix time of the last VerificationRun that Passed", nn, 2);
    if (rc == 0)
        rc = metrics_gauge_new(&out->check, reg, "lifeboat_verification_check_passed",
                               "1 when the check passed in the last finished run, else 0", nnc, 3);
    if (rc == 0)
        rc = metrics_counter_new(&out->runs, reg, "lifeboat_verification_runs_total",
                                 "Finished VerificationRuns by phase", ph, 1);
    if (rc == 0)
        rc = metrics_gauge_new(&out->slo_met, reg, "lifeboat_verification_slo_met",
                               "1 when the last finished VerificationRun met its spec.slo "
                               "(the SLOMet condition), else 0; absent without an slo",
                               nn, 2);
    if (rc == 0)
        rc = metrics_gauge_new(&out->rto_slo, reg, "lifeboat_verification_rto_objective_seconds",
                               "spec.slo.rto of the last finished VerificationRun", nn, 2);
    if (rc == 0)
        rc = metrics_gauge_new(&out->rpo_slo, reg, "lifeboat_verification_rpo_objective_seconds",
                               "spec.slo.rpo of the last finished VerificationRun", nn, 2);
    return rc;
}

/* ---- one reconcile's working state -------------------------------------------- */

typedef struct vr {
    const ctrl_env *env;
    json_t *obj; /* fresh from the server (owned) */
    json_t *st;  /* the status being built (owned) */
    api_verify_spec *spec;
    kube_ref ref;
    lb_time now;
    char key[320];
    char ev_type[8], ev_reason[64], ev_msg[CTRL_MAX_EVENT_MESSAGE];
    int64_t requeue_ms;
    int finished; /* reached a terminal phase in this call */
} vr;

static void event(vr *v, const char *type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void event(vr *v, const char *type, const char *reason, const char *fmt, ...)
{
    va_list ap;
    snprintf(v->ev_type, sizeof(v->ev_type), "%s", type);
    snprintf(v->ev_reason, sizeof(v->ev_reason), "%s", reason);
    va_start(ap, fmt);
    vsnprintf(v->ev_msg, sizeof(v->ev_msg), fmt, ap);
    va_end(ap);
}

static json_t *st_obj(vr *v, const char *key)
{
    json_t *o = json_object_get(v->st, key);
    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(v->st, key, o);
    }
    return o;
}

static void set_time(json_t *o, const char *key, lb_time t)
{
    char buf[LB_TIME_RFC3339_MAX];
    lb_time_format(buf, sizeof(buf), t, 0);
    json_object_set_new(o, key, json_string(buf));
}

static int64_t since(const json_t *o, const char *key, lb_time now)
{
    lb_time t;
    const char *s = api_get_str(o, key);
    if (s == NULL || lb_time_parse_rfc3339(&t, s) != 0) {
        lb_error_clear();
        return -1;
    }
    return now.sec - t.sec;
}

static void message(vr *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void message(vr *v, const char *fmt, ...)
{
    char buf[STEP_MAX_MESSAGE * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_object_set_new(v->st, "message", json_string(buf));
}

/* ---- finalizer ---------------------------------------------------------------- */

static int has_finalizer(const json_t *obj)
{
    const json_t *f;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "finalizers"), i, f)
    {
        if (streq(json_string_value(f), VERIFY_FINALIZER))
            return 1;
    }
    return 0;
}

static int patch_finalizer(vr *v, int add)
{
    const json_t *md = json_object_get(v->obj, "metadata"), *f;
    const char *rv = api_get_str(md, "resourceVersion");
    json_t *list = json_array(), *patch, *answer = NULL;
    char *body;
    size_t i;
    int rc;

    json_array_foreach(json_object_get(md, "finalizers"), i, f)
    {
        if (!streq(json_string_value(f), VERIFY_FINALIZER))
            json_array_append(list, (json_t *)f);
    }
    if (add)
        json_array_append_new(list, json_string(VERIFY_FINALIZER));
    patch = json_pack("{s:{s:o}}", "metadata", "finalizers", list);
    if (rv != NULL)
        json_object_set_new(json_object_get(patch, "metadata"), "resourceVersion", json_string(rv));
    body = json_dumps(patch, JSON_COMPACT);
    rc = kube_patch(&answer, v->env->client, &v->ref, KUBE_PATCH_MERGE, body, strlen(body), NULL);
    if (rc == 0) {
        json_decref(v->obj);
        v->obj = answer;
        answer = NULL;
    } else if (rc == LB_ENOTFOUND && !add) {
        rc = 0;
    }
    json_decref(patch);
    json_decref(answer);
    free(body);
    return rc;
}

/* ---- the drill's restore spec: the restore engine's steps run on it ------------ */

typedef struct drill {
    json_t *rspec_json;
    api_restore_spec *rspec;
    api_restore_spec empty; /* no drill: sql checks use spec.target */
    json_t *rstatus;
    json_t *rr;
    step_ctx ctx;
} drill;

/* "<source>-vr-<uid[0:8]>", a valid RDS identifier. */
static void scratch_id(char *buf, size_t size, const char *source, const char *uid)
{
    char u[9];
    size_t n = 0, len;

    for (const char *p = uid; p != NULL && *p != '\0' && n < 8; p++)
        if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
            u[n++] = *p;
    u[n] = '\0';
    snprintf(buf, size, "%.50s", source != NULL ? source : "drill");
    len = strlen(buf);
    while (len > 0 && buf[len - 1] == '-')
        buf[--len] = '\0';
    snprintf(buf + len, size - len, "-vr-%s", u);
}

static const char *drill_source_id(const json_t *sr)
{
    const json_t *snap = json_object_get(sr, "rdsSnapshot");
    const json_t *pit = json_object_get(sr, "rdsPointInTime");
    if (pit != NULL)
        return api_get_str(pit, "sourceDBInstanceIdentifier");
    if (json_object_get(snap, "latestFrom") != NULL)
        return api_get_str(json_object_get(snap, "latestFrom"), "dbInstanceIdentifier");
    return api_get_str(snap, "dbSnapshotIdentifier");
}

static void drill_dispose(drill *d)
{
    api_restore_free(d->rspec);
    json_decref(d->rspec_json);
    json_decref(d->rstatus);
    json_decref(d->rr);
    memset(d, 0, sizeof(*d));
}

/* Builds the step context: with a scratchRestore, a one-item restore spec
 * ("scratch") whose outputs come from status.scratch. */
static int drill_open(drill *d, vr *v)
{
    const json_t *sr = json_object_get(v->spec->json, "scratchRestore");
    const json_t *scratch = json_object_get(v->st, "scratch");
    json_t *out = json_object(), *item, *src;
    api_errors errs = {0};
    int rc = 0;

    memset(d, 0, sizeof(*d));
    if (v->spec == NULL)
        return lb_error_setc(LB_EINVALID, "no valid spec");
    d->rr = json_deep_copy(v->obj);
    json_object_set_new(d->rr, "kind", json_string("VerificationRun"));
    json_object_set_new(out, "item", json_string(VERIFY_SCRATCH_ITEM));
    {
        static const char *const keys[] = {"instanceIdentifier", "snapshotIdentifier", "endpoint",
                                           "port"};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (json_object_get(scratch, keys[i]) != NULL)
                json_object_set(out, keys[i], json_object_get(scratch, keys[i]));
    }
    d->rstatus = json_pack("{s:[o], s:[]}", "outputs", out, "steps");
    d->ctx.kube = v->env->client;
    d->ctx.aws = v->env->aws;
    d->ctx.rr = d->rr;
    d->ctx.status = d->rstatus;
    d->ctx.now = v->now;
    d->ctx.spec = &d->empty;
    if (sr == NULL)
        return 0;
    if (json_object_get(sr, "rdsPointInTime") != NULL) {
        src = json_deep_copy(json_object_get(sr, "rdsPointInTime"));
        item = json_pack("{s:s, s:o}", "name", VERIFY_SCRATCH_ITEM, "rdsPointInTime", src);
    } else {
        const json_t *snap = json_object_get(sr, "rdsSnapshot");
        const char *chosen = api_get_str(scratch, "snapshotIdentifier");
        src = json_object();
        if (chosen != NULL)
            json_object_set_new(src, "dbSnapshotIdentifier", json_string(chosen));
        else if (json_object_get(snap, "dbSnapshotIdentifier") != NULL)
            json_object_set(src, "dbSnapshotIdentifier",
                            json_object_get(snap, "dbSnapshotIdentifier"));
        else
            json_object_set(src, "latestFrom", json_object_get(snap, "latestFrom"));
        item = json_pack("{s:s, s:o}", "name", VERIFY_SCRATCH_ITEM, "rdsSnapshot", src);
    }
    json_object_set_new(src, "targetDBInstanceIdentifier",
                        json_string(api_get_str(scratch, "instanceIdentifier")));
    json_object_set_new(src, "publiclyAccessible", json_false());
    {
        static const char *const keys[] = {"dbInstanceClass", "dbSubnetGroupName",
                                           "vpcSecurityGroupIds"};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (json_object_get(sr, keys[i]) != NULL)
                json_object_set(src, keys[i], json_object_get(sr, keys[i]));
    }
    json_object_set(item, "credentialsSecretRef", json_object_get(sr, "credentialsSecretRef"));
    json_object_set(item, "database", json_object_get(sr, "database"));
    d->rspec_json = json_pack("{s:[o], s:{s:b}}", "items", item, "approval", "required", 0);
    rc = api_restore_parse(&d->rspec, &errs, d->rspec_json, v->now);
    api_errors_dispose(&errs);
    if (rc != 0)
        return lb_error_wrap(rc, "scratchRestore");
    d->ctx.spec = d->rspec;
    d->ctx.item = &d->rspec->items[0];
    return 0;
}

/* ---- snapshot selection ---------------------------------------------------------- */

/* selection.randomWithin: an available snapshot of the instance (of
 * latestFrom.snapshotType) not older than the window, picked by the run's uid (stable across
 * reconciles and crashes; differs between runs). *out NULL when none. */
static int pick_random(char **out, vr *v, const char *instance, const char *type,
                       int64_t window_sec)
{
    rds_snapshot_query q = {.instance_id = instance};
    rds_snapshot_list l;
    const char *uid = api_get_str(json_object_get(v->obj, "metadata"), "uid");
    size_t n = 0, pick;
    unsigned long h = 5381;
    int rc;

    *out = NULL;
    rc = rds_describe_db_snapshots(&l, NULL, v->env->aws, &q);
    if (rc != 0)
        return rc;
    for (const char *p = uid; p != NULL && *p; p++)
        h = h * 33 + (unsigned char)*p;
    for (int pass = 0; pass < 2 && *out == NULL; pass++) {
        size_t k = 0;
        pick = n > 0 ? h % n : 0;
        for (size_t i = 0; i < l.n; i++) {
            lb_time t;
            const rds_snapshot *s = &l.items[i];
            if (!streq(s->status, "available") || s->create_time == NULL ||
                (type != NULL && !streq(type, "any") && !streq(s->type, type)) ||
                lb_time_parse_rfc3339(&t, s->create_time) != 0 || v->now.sec - t.sec > window_sec)
                continue;
            if (pass == 1 && k == pick) {
                *out = lb_strdup(s->id);
                break;
            }
            k++;
        }
        if (pass == 0)
            n = k;
        if (n == 0)
            break;
    }
    lb_error_clear();
    rds_snapshot_list_dispose(&l);
    return 0;
}

/* The restore point of a snapshot: its creation time. */
static void record_snapshot_time(vr *v, json_t *scratch, const char *snapshot)
{
    rds_snapshot_query q = {.snapshot_id = snapshot};
    rds_snapshot_list l;

    if (rds_describe_db_snapshots(&l, NULL, v->env->aws, &q) != 0) {
        lb_error_clear();
        return;
    }
    if (l.n > 0 && l.items[0].create_time != NULL)
        json_object_set_new(scratch, "restorePoint", json_string(l.items[0].create_time));
    rds_snapshot_list_dispose(&l);
}

/* ---- phases -------------------------------------------------------------------- */

static int64_t requeue_transient(vr *v, const char *doing)
{
    message(v, "%s: %s (retrying)", doing, lb_error_last());
    return VERIFY_RETRY_MS;
}

static void set_verdict(vr *v, const char *verdict, const char *why)
{
    json_object_set_new(v->st, "verdict", json_string(verdict));
    if (why != NULL)
        message(v, "%s", why);
}

/* Pending: choose the snapshot, record the scratch instance, then Restoring. */
static int do_pending(vr *v)
{
    const json_t *sr = json_object_get(v->spec->json, "scratchRestore");
    const json_t *snap = json_object_get(sr, "rdsSnapshot");
    json_t *scratch;
    drill d;
    step_result res;
    char id[80];
    int rc;

    if (sr == NULL) {
        json_object_set_new(v->st, "phase", json_string("Running"));
        event(v, "Normal", "Running", "running %zu checks", v->spec->n_checks);
        v->requeue_ms = 0;
        return 0;
    }
    if (v->env->aws == NULL) {
        set_verdict(v, "Failed",
                    "scratchRestore needs AWS access: the operator has no AWS "
                    "configuration");
        v->requeue_ms = 0;
        return 0;
    }
    scratch = st_obj(v, "scratch");
    if (api_get_str(scratch, "instanceIdentifier") == NULL) {
        scratch_id(id, sizeof(id), drill_source_id(sr),
                   api_get_str(json_object_get(v->obj, "metadata"), "uid"));
        json_object_set_new(scratch, "instanceIdentifier", json_string(id));
    }
    if (api_get_str(scratch, "snapshotIdentifier") == NULL &&
        api_get_str(json_object_get(snap, "selection"), "randomWithin") != NULL) {
        int64_t window = 0;
        char *chosen = NULL;
        const char *inst = api_get_str(json_object_get(snap, "latestFrom"), "dbInstanceIdentifier");
        (void)api_duration_parse(&window,
                                 api_get_str(json_object_get(snap, "selection"), "randomWithin"));
        rc = pick_random(&chosen, v, inst,
                         api_get_str(json_object_get(snap, "latestFrom"), "snapshotType"), window);
        if (rc != 0) {
            v->requeue_ms = requeue_transient(v, "listing snapshots");
            return 0;
        }
        if (chosen == NULL) {
            set_verdict(v, "Failed",
                        "no available snapshot of the instance within "
                        "selection.randomWithin");
            v->requeue_ms = 0;
            return 0;
        }
        json_object_set_new(scratch, "snapshotIdentifier", json_string(chosen));
        free(chosen);
    }
    rc = drill_open(&d, v);
    if (rc != 0) {
        set_verdict(v, "Failed", lb_error_last());
        v->requeue_ms = 0;
        drill_dispose(&d);
        return 0;
    }
    memset(&res, 0, sizeof(res));
    rc = rds_step_validate(&res, &d.ctx);
    if (rc != 0) {
        v->requeue_ms = requeue_transient(v, "validating the drill's source");
    } else if (res.verdict == STEP_FAILED) {
        char why[STEP_MAX_MESSAGE + STEP_MAX_REASON + 64];
        snprintf(why, sizeof(why), "scratchRestore: %s: %s", res.reason, res.message);
        set_verdict(v, "Failed", why);
        v->requeue_ms = 0;
    } else if (res.verdict == STEP_WAIT) {
        message(v, "%s", res.message);
        v->requeue_ms = res.requeue_ms > 0 ? res.requeue_ms : VERIFY_POLL_MS;
    } else {
        const char *chosen = api_get_str(res.output, "snapshotIdentifier");
        if (chosen != NULL) {
            json_object_set_new(scratch, "snapshotIdentifier", json_string(chosen));
            record_snapshot_time(v, scratch, chosen);
        } else if (d.ctx.item->has_restore_time) {
            set_time(scratch, "restorePoint", d.ctx.item->restore_time);
        }
        json_object_set_new(scratch, "state", json_string("restore"));
        json_object_set_new(v->st, "phase", json_string("Restoring"));
        message(v, "restoring into the scratch instance %s",
                api_get_str(scratch, "instanceIdentifier"));
        event(v, "Normal", "Restoring", "restoring %s into the scratch instance %s",
              chosen != NULL ? chosen : d.ctx.item->source_id,
              api_get_str(scratch, "instanceIdentifier"));
        v->requeue_ms = 0;
    }
    json_decref(res.output);
    drill_dispose(&d);
    return 0;
}

/* Restoring: the restore call, then polls until available. */
static int do_restoring(vr *v)
{
    json_t *scratch = st_obj(v, "scratch");
    const char *state = api_get_str(scratch, "state");
    step_result res;
    drill d;
    int rc, waiting = streq(state, "wait");

    rc = drill_open(&d, v);
    if (rc != 0) {
        set_verdict(v, "Failed", lb_error_last());
        v->requeue_ms = 0;
        drill_dispose(&d);
        return 0;
    }
    memset(&res, 0, sizeof(res));
    rc = waiting ? rds_step_wait_available(&res, &d.ctx) : rds_step_restore(&res, &d.ctx);
    if (rc != 0) {
        v->requeue_ms = requeue_transient(v, waiting ? "waiting for the scratch instance"
                                                     : "restoring the scratch instance");
    } else if (res.verdict == STEP_FAILED) {
        char why[STEP_MAX_MESSAGE + STEP_MAX_REASON + 64];
        snprintf(why, sizeof(why), "scratch restore failed: %s: %s", res.reason, res.message);
        set_verdict(v, "Failed", why);
        v->requeue_ms = 0;
    } else if (res.verdict == STEP_WAIT) {
        message(v, "%s", res.message);
        v->requeue_ms = res.requeue_ms > 0 ? res.requeue_ms : VERIFY_POLL_MS;
    } else if (!waiting) {
        json_object_set_new(scratch, "state", json_string("wait"));
        set_time(scratch, "restoreStartedAt", v->now);
        if (api_get_str(scratch, "restorePoint") == NULL)
            set_time(scratch, "restorePoint", v->now); /* latest restorable time */
        message(v, "%s", res.message);
        v->requeue_ms = VERIFY_POLL_MS;
    } else {
        int64_t secs = since(scratch, "restoreStartedAt", v->now);
        json_object_set(scratch, "endpoint", json_object_get(res.output, "endpoint"));
        json_object_set(scratch, "port", json_object_get(res.output, "port"));
        json_object_set_new(scratch, "state", json_string("available"));
        json_object_set_new(scratch, "restoreSeconds", json_integer(secs > 0 ? secs : 0));
        json_object_set_new(v->st, "phase", json_string("Running"));
        message(v, "%s; running %zu checks", res.message, v->spec->n_checks);
        event(v, "Normal", "Running", "scratch instance %s available after %llds; running checks",
              api_get_str(scratch, "instanceIdentifier"), (long long)(secs > 0 ? secs : 0));
        v->requeue_ms = 0;
    }
    json_decref(res.output);
    drill_dispose(&d);
    return 0;
}

static json_t *results(vr *v)
{
    json_t *r = json_object_get(v->st, "results");
    if (!json_is_array(r)) {
        r = json_array();
        json_object_set_new(v->st, "results", r);
    }
    return r;
}

static int has_result(json_t *r, const char *name)
{
    const json_t *e;
    size_t i;
    json_array_foreach(r, i, e)
    {
        if (streq(api_get_str(e, "name"), name))
            return 1;
    }
    return 0;
}

/* The checks' results, summary and verdict once everything ran. */
static void conclude(vr *v)
{
    json_t *r = results(v);
    const json_t *e;
    size_t i, passed = 0;
    char summary[32];
    int64_t rto = since(v->st, "startedAt", v->now);

    json_array_foreach(r, i, e)
    {
        if (json_is_true(json_object_get(e, "passed")))
            passed++;
    }
    snprintf(summary, sizeof(summary), "%zu/%zu", passed, json_array_size(r));
    json_object_set_new(v->st, "summary", json_string(summary));
    if (passed == json_array_size(r) && passed > 0) {
        json_object_set_new(st_obj(v, "measured"), "rtoSeconds", json_integer(rto > 0 ? rto : 0));
        set_verdict(v, "Passed", NULL);
        message(v, "%s checks passed", summary);
    } else {
        char why[STEP_MAX_MESSAGE];
        size_t len = 0;
        int n = snprintf(why, sizeof(why), "%s checks passed; failed:", summary);
        len = n > 0 ? (size_t)n : 0;
        json_array_foreach(r, i, e)
        {
            if (!json_is_true(json_object_get(e, "passed")) && len < sizeof(why)) {
                n = snprintf(why + len, sizeof(why) - len, " %s", api_get_str(e, "name"));
                len += n > 0 ? (size_t)n : 0;
            }
        }
        set_verdict(v, "Failed", why);
    }
}

/* Running: one check per call, then rpo, then the verdict. */
static int do_running(vr *v)
{
    json_t *r = results(v), *res = NULL;
    size_t n = json_array_size(r);
    drill d;
    int rc;

    rc = drill_open(&d, v);
    if (rc != 0) {
        set_verdict(v, "Failed", lb_error_last());
        v->requeue_ms = 0;
        drill_dispose(&d);
        return 0;
    }
    if (n < v->spec->n_checks) {
        rc = verify_check_result(&res, &d.ctx, v->spec->json, n);
        if (rc == 0) {
            json_array_append_new(r, res);
            message(v, "ran check %zu of %zu (%s)", n + 1, v->spec->n_checks,
                    api_get_str(res, "name"));
        }
    } else if (v->spec->has_rpo && !has_result(r, "rpo")) {
        const json_t *scratch = json_object_get(v->st, "scratch");
        lb_time at = v->now;
        int64_t age = 0;
        int measured = 0;
        if (api_get_str(scratch, "restorePoint") != NULL &&
            lb_time_parse_rfc3339(&at, api_get_str(scratch, "restorePoint")) != 0) {
            lb_error_clear();
            at = v->now;
        }
        rc = verify_rpo_result(&res, &age, &measured, &d.ctx, v->spec->json, at);
        if (rc == 0) {
            json_array_append_new(r, res);
            if (measured)
                json_object_set_new(st_obj(v, "measured"), "rpoSeconds",
                                    json_integer(age > 0 ? age : 0));
        }
    } else {
        conclude(v);
    }
    drill_dispose(&d);
    v->requeue_ms = 0;
    return rc;
}

/* Marks the checks that did not run as failed (timeout, deletion). */
static void fail_remaining(vr *v, const char *why)
{
    json_t *r = results(v);
    const json_t *c;
    size_t i;

    json_array_foreach(v->spec != NULL ? json_object_get(v->spec->json, "checks") : NULL, i, c)
    {
        const char *name = api_get_str(c, "name");
        if (name != NULL && !has_result(r, name))
            json_array_append_new(r, json_pack("{s:s, s:b, s:s, s:i}", "name", name, "passed", 0,
                                               "message", why, "durationMs", 0));
    }
}

/* ---- cleanup and the end --------------------------------------------------------- */

/* Deletes the scratch instance (the restore engine's discard step). Returns
 * 1 when it is gone, 0 when still deleting (requeue set). */
static int cleanup_scratch(vr *v)
{
    json_t *scratch = json_object_get(v->st, "scratch");
    step_result res;
    drill d;
    int rc, gone = 0;

    if (api_get_str(scratch, "instanceIdentifier") == NULL ||
        json_is_true(json_object_get(scratch, "deleted")))
        return 1;
    if (v->env->aws == NULL) {
        message(v, "cannot delete the scratch instance %s: no AWS configuration",
                api_get_str(scratch, "instanceIdentifier"));
        v->requeue_ms = VERIFY_RETRY_MS * 6;
        return 0;
    }
    rc = drill_open(&d, v);
    if (rc != 0) {
        /* the spec cannot be turned into an item: delete by recorded id alone */
        drill_dispose(&d);
        json_t *fallback =
            json_pack("{s:[{s:s, s:{s:s, s:s}, s:{s:s}, s:s}]}", "items", "name",
                      VERIFY_SCRATCH_ITEM, "rdsSnapshot", "dbSnapshotIdentifier", "unused",
                      "targetDBInstanceIdentifier", api_get_str(scratch, "instanceIdentifier"),
                      "credentialsSecretRef", "name", "unused", "database", "unused");
        api_errors errs = {0};
        memset(&d, 0, sizeof(d));
        d.rr = json_deep_copy(v->obj);
        json_object_set_new(d.rr, "kind", json_string("VerificationRun"));
        d.rstatus = json_pack("{s:[{s:s, s:O}]}", "outputs", "item", VERIFY_SCRATCH_ITEM,
                              "instanceIdentifier", json_object_get(scratch, "instanceIdentifier"));
        d.rspec_json = fallback;
        if (api_restore_parse(&d.rspec, &errs, fallback, v->now) != 0) {
            api_errors_dispose(&errs);
            message(v, "cannot delete the scratch instance: %s", lb_error_last());
            v->requeue_ms = VERIFY_RETRY_MS;
            drill_dispose(&d);
            return 0;
        }
        api_errors_dispose(&errs);
        d.ctx.kube = v->env->client;
        d.ctx.aws = v->env->aws;
        d.ctx.rr = d.rr;
        d.ctx.status = d.rstatus;
        d.ctx.now = v->now;
        d.ctx.spec = d.rspec;
        d.ctx.item = &d.rspec->items[0];
    }
    memset(&res, 0, sizeof(res));
    rc = rds_step_discard_copy(&res, &d.ctx);
    if (rc != 0) {
        v->requeue_ms = requeue_transient(v, "deleting the scratch instance");
    } else if (res.verdict == STEP_DONE) {
        json_object_set_new(scratch, "deleted", json_true());
        json_object_set_new(scratch, "state", json_string("deleted"));
        event(v, "Normal", "ScratchDeleted", "%s", res.message);
        gone = 1;
    } else {
        json_object_set_new(scratch, "state", json_string("deleting"));
        if (res.verdict == STEP_FAILED)
            message(v, "deleting the scratch instance: %s (retrying)", res.message);
        v->requeue_ms = res.requeue_ms > 0 ? res.requeue_ms : VERIFY_POLL_MS;
    }
    json_decref(res.output);
    drill_dispose(&d);
    return gone;
}

static void slo_condition(vr *v, int64_t gen)
{
    const json_t *slo = v->spec != NULL ? json_object_get(v->spec->json, "slo") : NULL;
    const json_t *m = json_object_get(v->st, "measured");
    const char *verdict = api_get_str(v->st, "verdict");
    int64_t rto_max = -1, rpo_max = -1;
    char msg[400];
    const char *status = "True", *reason = "WithinSLO";

    if (!json_is_object(slo))
        return;
    if (api_get_str(slo, "rto") != NULL)
        (void)api_duration_parse(&rto_max, api_get_str(slo, "rto"));
    if (api_get_str(slo, "rpo") != NULL)
        (void)api_duration_parse(&rpo_max, api_get_str(slo, "rpo"));
    snprintf(msg, sizeof(msg), "measured rto %llds (slo %s), rpo %llds (slo %s)",
             (long long)api_get_int(m, "rtoSeconds", -1),
             api_get_str(slo, "rto") ? api_get_str(slo, "rto") : "none",
             (long long)api_get_int(m, "rpoSeconds", -1),
             api_get_str(slo, "rpo") ? api_get_str(slo, "rpo") : "none");
    if (!streq(verdict, "Passed")) {
        status = "False";
        reason = "ChecksFailed";
    } else if ((rto_max >= 0 && json_object_get(m, "rtoSeconds") == NULL) ||
               (rpo_max >= 0 && json_object_get(m, "rpoSeconds") == NULL)) {
        status = "False";
        reason = "NotMeasured";
    } else if (rto_max >= 0 && api_get_int(m, "rtoSeconds", 0) > rto_max) {
        status = "False";
        reason = "RTOExceeded";
    } else if (rpo_max >= 0 && api_get_int(m, "rpoSeconds", 0) > rpo_max) {
        status = "False";
        reason = "RPOExceeded";
    }
    api_condition_set(v->st, "SLOMet", status, reason, msg, gen, v->now);
}

/* Puts the JSON report (the final status) to S3; sets reportLocation first. */
static void write_report(vr *v)
{
    const json_t *rep = v->spec != NULL ? json_object_get(v->spec->json, "report") : NULL;
    const json_t *md = json_object_get(v->obj, "metadata");
    const char *bucket = api_get_str(rep, "bucket");
    const char *prefix = api_get_str(rep, "prefix");
    char stamp[20], *key, *loc, *body = NULL;
    lb_time fin = v->now;
    json_t *doc;
    int rc;

    if (bucket == NULL)
        return;
    if (v->env->aws == NULL) {
        api_condition_set(v->st, "ReportWritten", "False", "NoAWSConfiguration",
                          "the operator has no AWS configuration", ctrl_generation(v->obj), v->now);
        return;
    }
    step_format_compact(stamp, sizeof(stamp), fin);
    key = lb_sprintf("%s%s/%s-%s.json", prefix ? prefix : "", api_get_str(md, "namespace"),
                     api_get_str(md, "name"), stamp);
    loc = lb_sprintf("s3://%s/%s", bucket, key);
    json_object_set_new(v->st, "reportLocation", json_string(loc));
    api_condition_set(v->st, "ReportWritten", "True", "Written", loc, ctrl_generation(v->obj),
                      v->now);
    doc = json_pack("{s:s, s:s, s:{s:O, s:O, s:O}, s:O, s:O}", "apiVersion",
                    API_GROUP "/" API_VERSION, "kind", "VerificationRun", "metadata", "name",
                    json_object_get(md, "name"), "namespace", json_object_get(md, "namespace"),
                    "uid", json_object_get(md, "uid"), "spec", json_object_get(v->obj, "spec"),
                    "status", v->st);
    body = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (body == NULL || strlen(body) > VERIFY_MAX_REPORT_BYTES) {
        json_object_del(v->st, "reportLocation");
        api_condition_set(v->st, "ReportWritten", "False", "ReportTooLarge",
                          "the report exceeds VERIFY_MAX_REPORT_BYTES", ctrl_generation(v->obj),
                          v->now);
    } else {
        rc = s3_put_object(NULL, v->env->aws, bucket, key, "application/json", body, strlen(body));
        if (rc != 0) {
            char m[LB_ERROR_MAX + 64];
            snprintf(m, sizeof(m), "writing %s: %s", loc, lb_error_last());
            json_object_del(v->st, "reportLocation");
            api_condition_set(v->st, "ReportWritten", "False", "PutObjectFailed", m,
                              ctrl_generation(v->obj), v->now);
        }
    }
    json_decref(doc);
    free(body);
    free(key);
    free(loc);
}

static void record_metrics(vr *v)
{
    verify_metrics *m = v->env->verify_metrics;
    const json_t *md = json_object_get(v->obj, "metadata");
    const char *ns = api_get_str(md, "namespace"), *name = api_get_str(md, "name");
    const char *phase = api_get_str(v->st, "phase");
    const json_t *meas = json_object_get(v->st, "measured"), *e;
    size_t i;

    if (m == NULL || ns == NULL || name == NULL)
        return;
    metrics_counter_inc(m->runs, (const char *const[]){phase});
    if (json_object_get(meas, "rtoSeconds") != NULL)
        metrics_gauge_set(m->rto, (const char *const[]){ns, name},
                          (double)api_get_int(meas, "rtoSeconds", 0));
    if (json_object_get(meas, "rpoSeconds") != NULL)
        metrics_gauge_set(m->rpo, (const char *const[]){ns, name},
                          (double)api_get_int(meas, "rpoSeconds", 0));
    if (streq(phase, "Passed"))
        metrics_gauge_set(m->last_success, (const char *const[]){ns, name}, (double)v->now.sec);
    const json_t *slo_met = api_condition_find(v->st, "SLOMet");
    if (slo_met != NULL)
        metrics_gauge_set(m->slo_met, (const char *const[]){ns, name},
                          streq(api_get_str(slo_met, "status"), "True") ? 1.0 : 0.0);
    const json_t *slo = v->spec != NULL ? json_object_get(v->spec->json, "slo") : NULL;
    int64_t objective;
    if (api_get_str(slo, "rto") != NULL && api_duration_parse(&objective, api_get_str(slo, "rto")) == 0)
        metrics_gauge_set(m->rto_slo, (const char *const[]){ns, name}, (double)objective);
    if (api_get_str(slo, "rpo") != NULL && api_duration_parse(&objective, api_get_str(slo, "rpo")) == 0)
        metrics_gauge_set(m->rpo_slo, (const char *const[]){ns, name}, (double)objective);
    json_array_foreach(json_object_get(v->st, "results"), i, e)
    {
        const char *check = api_get_str(e, "name");
        if (check != NULL)
            metrics_gauge_set(m->check, (const char *const[]){ns, name, check},
                              json_is_true(json_object_get(e, "passed")) ? 1.0 : 0.0);
    }
}

/* cleanup: the scratch instance goes, then the terminal phase. */
static int do_finish(vr *v)
{
    const char *verdict = api_get_str(v->st, "verdict");
    int64_t gen = ctrl_generation(v->obj);

    if (!cleanup_scratch(v))
        return 0;
    if (json_object_get(v->st, "summary") == NULL || !streq(verdict, "Passed")) {
        /* a run cut short: count what ran */
        const json_t *e;
        size_t i, passed = 0;
        char summary[32];
        json_array_foreach(results(v), i, e)
        {
            if (json_is_true(json_object_get(e, "passed")))
                passed++;
        }
        snprintf(summary, sizeof(summary), "%zu/%zu", passed, json_array_size(results(v)));
        json_object_set_new(v->st, "summary", json_string(summary));
    }
    {
        json_t *scratch = json_object_get(v->st, "scratch");
        if (scratch != NULL) {
            json_object_del(scratch, "endpoint");
            json_object_del(scratch, "port");
        }
    }
    json_object_set_new(v->st, "phase", json_string(verdict));
    set_time(v->st, "finishedAt", v->now);
    slo_condition(v, gen);
    api_condition_set(v->st, "Ready", streq(verdict, "Passed") ? "True" : "False", verdict,
                      api_get_str(v->st, "message"), gen, v->now);
    if (!has_finalizer(v->obj) ||
        api_get_str(json_object_get(v->obj, "metadata"), "deletionTimestamp") == NULL)
        write_report(v);
    event(v, streq(verdict, "Passed") ? "Normal" : "Warning", verdict, "%s: %s",
          api_get_str(v->st, "summary"), api_get_str(v->st, "message"));
    v->finished = 1;
    v->requeue_ms = 0;
    return 0;
}

/* ---- the reconcile ---------------------------------------------------------------- */

static int put_status(json_t *status, const json_t *obj, void *payload)
{
    json_object_clear(status);
    if (json_object_update(status, (json_t *)payload) != 0)
        return LB_EINVALID;
    return ctrl_health_set(status, obj);
}

/* Deletes a finished run ttlSecondsAfterFinished after finishedAt. */
static int ttl(vr *v, ctrl_result *out)
{
    const json_t *ttl_j =
        json_object_get(json_object_get(v->obj, "spec"), "ttlSecondsAfterFinished");
    int64_t age = since(json_object_get(v->obj, "status"), "finishedAt", v->now);
    json_t *gone = NULL;
    int rc;

    if (!json_is_integer(ttl_j) || age < 0)
        return 0;
    if (age < json_integer_value(ttl_j)) {
        out->requeue_ms = (json_integer_value(ttl_j) - age) * 1000;
        return 0;
    }
    rc = kube_delete(&gone, v->env->client, &v->ref, "Background");
    json_decref(gone);
    if (rc == LB_ENOTFOUND)
        rc = 0;
    if (rc == 0)
        LB_LOG_INFO("deleted after ttlSecondsAfterFinished", "controller", "verify", "object",
                    v->key);
    return rc;
}

int verify_run(ctrl_result *out, const ctrl_env *env, const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    const json_t *cst = json_object_get(obj, "status");
    vr v;
    json_t *written = NULL;
    api_errors errs = {0};
    int wrote = 0, rc = 0;
    int64_t gen = ctrl_generation(obj);
    const char *phase;

    out->outcome = CTRL_SKIPPED;
    out->requeue_ms = -1;
    memset(&v, 0, sizeof(v));
    v.env = env;
    v.now = lb_time_now();
    v.requeue_ms = -1;
    v.ref = (kube_ref){.group = API_GROUP,
                       .version = API_VERSION,
                       .resource = "verificationruns",
                       .namespace = api_get_str(md, "namespace"),
                       .name = api_get_str(md, "name")};
    snprintf(v.key, sizeof(v.key), "%s/%s", v.ref.namespace ? v.ref.namespace : "",
             v.ref.name ? v.ref.name : "");
    phase = api_get_str(cst, "phase");
    if (is_terminal(phase) && !has_finalizer(obj)) {
        v.obj = json_incref((json_t *)obj);
        rc = ttl(&v, out);
        json_decref(v.obj);
        return rc;
    }
    /* the cache may be behind our own last write: act on the server's state */
    rc = kube_get(&v.obj, env->client, &v.ref);
    if (rc == LB_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    md = json_object_get(v.obj, "metadata");
    v.ref.namespace = api_get_str(md, "namespace");
    v.ref.name = api_get_str(md, "name");
    cst = json_object_get(v.obj, "status");
    v.st = json_is_object(cst) ? json_deep_copy(cst) : json_object();
    phase = api_get_str(v.st, "phase");
    gen = ctrl_generation(v.obj);
    if (is_terminal(phase)) {
        rc = has_finalizer(v.obj) ? patch_finalizer(&v, 0) : 0;
        goto done;
    }
    if (phase == NULL) {
        /* not started: validate; the desired-status function does it */
        if (api_get_str(md, "deletionTimestamp") != NULL) {
            rc = has_finalizer(v.obj) ? patch_finalizer(&v, 0) : 0;
            goto done;
        }
        verify_desired_status(v.st, v.obj, v.now);
        if (!streq(api_get_str(v.st, "phase"), "Failed")) {
            json_object_set_new(v.st, "phase", json_string("Pending"));
            set_time(v.st, "startedAt", v.now);
            message(&v, "started");
            event(&v, "Normal", "Pending", "verification run started");
            if (json_object_get(json_object_get(v.obj, "spec"), "scratchRestore") != NULL &&
                !has_finalizer(v.obj)) {
                rc = patch_finalizer(&v, 1);
                if (rc != 0)
                    goto done;
            }
            v.requeue_ms = 0;
        } else {
            set_time(v.st, "finishedAt", v.now);
            event(&v, "Warning", "InvalidSpec", "%s", api_get_str(v.st, "message"));
        }
        goto write;
    }
    /* started */
    if (api_verify_parse(&v.spec, &errs, json_object_get(v.obj, "spec"), v.now) != 0 &&
        api_get_str(v.st, "verdict") == NULL) {
        set_verdict(&v, "Failed", lb_error_last());
        v.requeue_ms = 0;
    } else if (api_get_str(v.st, "verdict") != NULL) {
        rc = do_finish(&v); /* the verdict was persisted by an earlier call */
    } else {
        int64_t elapsed = since(v.st, "startedAt", v.now);
        if (api_get_str(md, "deletionTimestamp") != NULL) {
            fail_remaining(&v, "not run: the VerificationRun was deleted");
            set_verdict(&v, "Failed", "deleted during the run");
            event(&v, "Warning", "Deleted", "deleted during the run; cleaning up");
        } else if (elapsed >= 0 && elapsed > v.spec->timeout_sec) {
            fail_remaining(&v, "not run: timeoutSeconds exceeded");
            set_verdict(&v, "Failed", NULL);
            message(&v, "timeoutSeconds (%llds) exceeded in phase %s",
                    (long long)v.spec->timeout_sec, phase);
            event(&v, "Warning", "Timeout", "timeoutSeconds exceeded in phase %s", phase);
        } else if (streq(phase, "Pending")) {
            rc = do_pending(&v);
        } else if (streq(phase, "Restoring")) {
            rc = do_restoring(&v);
        } else {
            rc = do_running(&v);
        }
        if (api_get_str(v.st, "verdict") != NULL)
            v.requeue_ms = 0; /* persisted first; the next call cleans up */
    }
    if (rc != 0)
        goto done;
    if (v.requeue_ms < 0 && !v.finished)
        v.requeue_ms = 0;
write:
    json_object_set_new(v.st, "observedGeneration",
                        json_integer(api_get_int(v.st, "observedGeneration", gen)));
    rc = kube_status_update(&written, &wrote, env->client, &v.ref, v.obj, put_status, v.st, 0);
    if (rc != 0)
        goto done;
    if (v.ev_reason[0] != '\0') {
        if (streq(v.ev_type, "Warning"))
            LB_LOG_WARN(v.ev_msg, "controller", "verify", "object", v.key, "reason", v.ev_reason);
        else
            LB_LOG_INFO(v.ev_msg, "controller", "verify", "object", v.key, "reason", v.ev_reason);
        if (env->recorder != NULL &&
            kube_recorder_event(env->recorder, written, v.ev_type, v.ev_reason, v.ev_msg) != 0)
            LB_LOG_WARN("event not recorded", "controller", "verify", "object", v.key, "error",
                        lb_error_last());
    }
    if (v.finished) {
        record_metrics(&v);
        json_decref(v.obj);
        v.obj = json_incref(written);
        if (has_finalizer(v.obj))
            rc = patch_finalizer(&v, 0);
    }
done:
    out->outcome = wrote ? CTRL_WRITTEN : CTRL_UNCHANGED;
    if (wrote && written != NULL)
        snprintf(out->resource_version, sizeof(out->resource_version), "%s",
                 api_get_str(json_object_get(written, "metadata"), "resourceVersion")
                     ? api_get_str(json_object_get(written, "metadata"), "resourceVersion")
                     : "");
    out->requeue_ms = v.requeue_ms;
    api_errors_dispose(&errs);
    api_verify_free(v.spec);
    json_decref(written);
    json_decref(v.st);
    json_decref(v.obj);
    return rc;
}
